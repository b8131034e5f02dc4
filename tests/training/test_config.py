"""TrainConfig validation: one line per mistake, the field name first, before any output."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.training.config import TrainConfig
from dynsys.training.initializers import initialize
from dynsys.training.trainer import train

SMALL = dict(length=20, n_hidden=6, batch=4, updates=6, eval_every=3, eval_sequences=20, confirm_sequences=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": -1.0}, "lr must be > 0, got -1.0"),
        ({"lr": 0}, "lr must be > 0, got 0.0"),
        ({"clip": 0.0}, "clip must be > 0, got 0.0"),
        ({"alpha": -2}, "alpha must be >= 0, got -2.0"),
        ({"adam_eps": 0}, "adam_eps must be > 0, got 0.0"),
        ({"omega_bound": -1}, "omega_bound must be >= 0, got -1.0"),
        ({"momentum": 1.5}, "momentum must be in [0, 1), got 1.5"),
        ({"adam_beta2": -0.1}, "adam_beta2 must be in [0, 1), got -0.1"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"length": -3}, "length must be >= 10 for task temporal_order, got -3"),
        ({"length": 5}, "length must be >= 10 for task temporal_order, got 5"),
        ({"length": (5, 30)}, "length must be >= 10 for task temporal_order, got (5, 30)"),
        ({"length": (40, 20)}, "length must satisfy lo <= hi, got (40, 20)"),
        ({"length": (10, 20, 30)}, "length must be an int or a (lo, hi) pair, got (10, 20, 30)"),
        ({"length": "abc"}, "length must be an int or a (lo, hi) pair, got 'abc'"),
        ({"length": 12.5}, "length must be an int or a (lo, hi) pair, got 12.5"),
        (
            {"task": "nope"},
            "task must be one of temporal_order, temporal_order_3bit, addition, multiplication, "
            "random_permutation, memorization_5bit, memorization_20bit, flipflop_3bit, got 'nope'",
        ),
        ({"task": ["a"]}, "task must be a task name, got ['a']"),
        ({"n_hidden": 0}, "n_hidden must be >= 1, got 0"),
        ({"n_hidden": "abc"}, "n_hidden must be an integer, got 'abc'"),
        ({"batch": 0}, "batch must be >= 1, got 0"),
        ({"updates": -5}, "updates must be >= 1, got -5"),
        ({"eval_every": 0}, "eval_every must be >= 1, got 0"),
        ({"eval_sequences": 0}, "eval_sequences must be >= 1, got 0"),
        ({"eval_chunk": 0}, "eval_chunk must be >= 1, got 0"),
        ({"confirm_sequences": -1}, "confirm_sequences must be >= 0, got -1"),
        ({"checkpoint_every": -1}, "checkpoint_every must be >= 0, got -1"),
        ({"seeds": (0, -1)}, "seeds must be >= 0, got -1"),
        ({"seeds": ()}, "seeds must name at least one value, got ()"),
        ({"seeds": None}, "seeds must be a value or a sequence of values, got None"),
        (
            {"inits": ("nope",)},
            "inits must be one of sigmoid, basic_tanh, smart_tanh, orthogonal, identity, irnn, got 'nope'",
        ),
        ({"inits": 5}, "inits must be initialization names, got 5"),
        ({"methods": ("sgd",)}, "methods must be one of msgd, msgd-c, msgd-cr, got 'sgd'"),
        ({"methods": []}, "methods must name at least one value, got []"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, momentum, adam, got 'rmsprop'"),
        ({"omega_form": "x"}, "omega_form must be one of code, eq9, got 'x'"),
        ({"nonfinite": "x"}, "nonfinite must be one of shrink, skip, got 'x'"),
        ({"success": "x"}, "success must be one of 1pct, zero, got 'x'"),
        ({"record_updates": "yes"}, "record_updates must be True or False, got 'yes'"),
    ],
)
def test_every_message_starts_with_the_field_and_says_the_value(change, message):
    with pytest.raises(DynsysError) as e:
        TrainConfig(**change)
    assert str(e.value) == message
    field = next(iter(change))
    assert str(e.value).split()[0] == field


def test_lengths_at_the_task_minimum_are_accepted():
    assert TrainConfig(length=10).length == 10
    assert TrainConfig(length=[10, 10]).length == (10, 10)
    assert TrainConfig(task="memorization_5bit", length=1).length == 1
    assert (
        TrainConfig(length=np.int64(30)).length == 30 and type(TrainConfig(length=np.int64(30)).length) is int
    )


def test_a_bad_length_fails_before_the_progress_bar_starts(monkeypatch):
    calls = []
    with pytest.raises(DynsysError, match="^length must be >= 10"):
        train({**SMALL, "length": -3}, progress=lambda it, **kw: calls.append(kw) or it)
    assert not calls


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", str(256 * 2**20))  # 256 MiB


def test_memory_names_the_field_that_drives_it(small_limit, refused_cheaply):
    msg = refused_cheaply(
        lambda: TrainConfig(n_hidden=100_000), r"^n_hidden=100000: training would need about 521\.6 GiB"
    )
    assert "1 member(s) × about 7 arrays of 100000×100000 float64" in msg and "256.0 MiB" in msg
    refused_cheaply(lambda: TrainConfig(n_hidden=3000, seeds=tuple(range(10))), r"^n_hidden=3000: training")
    refused_cheaply(
        lambda: TrainConfig(length=10**6),
        r"^length=1000000: training would need about .*BPTT keeps",
    )
    refused_cheaply(
        lambda: TrainConfig(length=(50, 10**6), eval_chunk=1),
        r"^length=\(50, 1000000\): training .*BPTT keeps",
    )
    refused_cheaply(
        lambda: TrainConfig(length=10**6, batch=1), r"^length=1000000: .*evaluation of 500 sequences"
    )
    refused_cheaply(lambda: TrainConfig(batch=10**6), r"^batch=1000000: training would need .*batch 1000000")
    refused_cheaply(
        lambda: TrainConfig(eval_chunk=10**6, eval_sequences=10**6),
        r"^eval_chunk=1000000: training would need",
    )
    refused_cheaply(
        lambda: TrainConfig(confirm_sequences=10**6, eval_chunk=10**7),
        r"^confirm_sequences=1000000: training",
    )
    assert (
        TrainConfig(eval_chunk=10**6).eval_chunk == 10**6
    )  # only 10,000 sequences are ever evaluated at once
    refused_cheaply(
        lambda: TrainConfig(updates=10**8, record_updates=True),
        r"^updates=100000000: training .*record_updates",
    )
    assert TrainConfig(updates=10**8).updates == 10**8  # no traces: the budget costs time only


def test_the_estimate_is_within_a_factor_two_of_the_peak(monkeypatch):
    import dynsys.training.config as config

    seen = []
    monkeypatch.setattr(config, "check_memory", lambda nbytes, *a, **k: seen.append(nbytes))
    train(TrainConfig(**SMALL))  # warm-up
    for kw in (
        {"n_hidden": 300, "length": 20},
        {"n_hidden": 20, "length": 1000},
        {"n_hidden": 60, "batch": 200},
    ):
        cfg = TrainConfig(**{**SMALL, "updates": 2, "eval_every": 2, **kw})
        tracemalloc.start()
        train(cfg)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 0.5 < seen[-1] / peak < 2.0, (kw, seen[-1] / peak)


def test_initialize_checks_memory_and_the_seed(small_limit, refused_cheaply):
    refused_cheaply(
        lambda: initialize("smart_tanh", 100_000, 6, 4),
        r"^n_hidden=100000: the initial weights would need about",
    )
    with pytest.raises(
        DynsysError, match=r"^rng must be None, a non-negative int, a SeedSequence or a Generator, got 'abc'$"
    ):
        initialize("smart_tanh", 5, 2, 2, rng="abc")
    a = initialize("orthogonal", 6, 2, 2, rng=3)
    b = initialize("orthogonal", 6, 2, 2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.W_rec, b.W_rec)


def test_resume_conflict_names_the_fields_and_both_ways_out(tmp_path):
    train(TrainConfig(**SMALL), tmp_path / "run")
    with pytest.raises(DynsysError) as e:
        train(TrainConfig(**{**SMALL, "lr": 0.5, "n_hidden": 7}), tmp_path / "run")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"out: {tmp_path / 'run'} holds a run with a different config (lr: 0.01 → 0.5; n_hidden: 6 → 7)"
    )
    assert msg.endswith("(pass resume=False, or --fresh on the command line, to start over)")
    train(TrainConfig(**{**SMALL, "lr": 0.5}), tmp_path / "run", resume=False)  # the way out works


def test_the_bar_shows_the_latest_loss_and_error():
    bars = []

    class Bar:
        def __init__(self, iterable, kw):
            self.iterable, self.kw, self.postfix = iterable, kw, []

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, **values):
            self.postfix.append(values)

    def progress(iterable, **kw):
        bars.append(Bar(iterable, kw))
        return bars[-1]

    cfg = TrainConfig(**{**SMALL, "seeds": (0, 1)})
    hist = train(cfg, progress=progress)
    (bar,) = bars
    assert len(bar.postfix) == len(hist.eval_updates) == 2
    for values, loss, err in zip(bar.postfix, hist.loss, hist.error):
        assert values == {"loss": f"{np.nanmean(loss):.4g}", "error": f"{np.nanmean(err):.4g}"}
    # a callable returning a plain iterable keeps working, with the same result
    plain = train(cfg, progress=lambda it, **kw: iter(it))
    np.testing.assert_array_equal(plain.params["W_rec"], hist.params["W_rec"])
