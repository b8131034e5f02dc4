"""Tests of the training monitor (dynsys.training.monitor, issue 15) in a real (small) run.

Known truth: the unmonitored run (the monitor must not change training by one bit), the trainer's
own per-update gradient norms (``record_updates=True``), the uninterrupted run (a stopped and
resumed run must write the same record), and the input symbols of the tasks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.io import read_records
from dynsys.training import (
    RECORD_NAME,
    MonitorConfig,
    TrainConfig,
    background_available,
    get_task,
    task_conditions,
    train,
)

NAMES = ("W_rec", "W_in", "b", "W_out", "b_out")
EVERY = 20
UPDATES = 60


def _cfg(**kw):
    base = dict(
        task="flipflop_3bit",
        length=30,
        n_hidden=8,
        batch=10,
        updates=UPDATES,
        methods=("msgd", "msgd-c"),
        seeds=(0,),
        eval_every=30,
        eval_sequences=30,
        confirm_sequences=0,
        record_updates=True,
    )
    base.update(kw)
    return TrainConfig(**base)


def _rows(path):
    return list(read_records(path, name="monitor record").rows)


def _without_seconds(rows):
    """The rows as JSON text (NaN-safe comparison), without the timing."""
    return [json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True) for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same config trained without and with the monitor (every 20 updates)."""
    root = tmp_path_factory.mktemp("monitor")
    plain = train(_cfg(), root / "plain")
    monitored = train(_cfg(), root / "mon", monitor={"every": EVERY})
    return plain, monitored, root / "mon" / RECORD_NAME


def test_a_monitored_run_trains_bit_for_bit_like_an_unmonitored_one(runs):
    plain, monitored, _ = runs
    for k in NAMES:
        np.testing.assert_array_equal(monitored.params[k], plain.params[k])
    np.testing.assert_array_equal(monitored.update_norm, plain.update_norm)
    np.testing.assert_array_equal(monitored.error, plain.error)


def test_record_has_one_row_per_member_and_checkpoint_with_the_trainers_norms(runs):
    plain, monitored, record = runs
    rows = _rows(record)
    K = len(plain.members)
    assert K == 2
    assert [(r["update"], r["member"]) for r in rows] == [(u, k) for u in (0, 20, 40, 60) for k in range(K)]
    assert _without_seconds(rows) == _without_seconds(monitored.monitor)  # the file = history.monitor
    norms = plain.update_norm  # (U, K): row i is update i + 1
    clipped = plain.update_clipped
    losses = plain.update_loss
    for r in rows:
        u, k = r["update"], r["member"]
        init, method, seed = plain.members[k]
        assert (r["init"], r["method"], r["seed"]) == (init, method, seed)
        n = 0 if u == 0 else EVERY
        assert len(r["norms"]) == len(r["clipped"]) == len(r["losses"]) == n
        # the updates u − n + 1 … u
        assert r["norms"] == norms[u - n : u, k].tolist()
        assert r["clipped"] == clipped[u - n : u, k].astype(int).tolist()
        assert r["losses"] == losses[u - n : u, k].tolist()
        conds = r["landscape"]["conditions"]
        assert [c["name"] for c in conds] == ["zero", "+0", "-0", "+1", "-1", "+2", "-2"]
        for c in conds:
            assert 0 <= c["n_stable_fixed"] <= c["n_fixed"] == len(c["radius_fixed"])
        assert r["probes"]["n_undecided"] >= 0 and sum(r["probes"]["counts"]) <= 32
        assert r["seconds"] >= 0
    # msgd-c clips, msgd never does
    assert all(not any(r["clipped"]) for r in rows if r["method"] == "msgd")


def test_a_stopped_and_resumed_run_writes_the_same_record(runs, tmp_path):
    plain, _, record = runs
    full = _without_seconds(_rows(record))
    part = train(_cfg(), tmp_path / "run", monitor={"every": EVERY}, stop_after=25)  # mid-interval
    assert [(r["update"], r["member"]) for r in part.monitor] == [(0, 0), (0, 1), (20, 0), (20, 1)]
    rest = train(_cfg(), tmp_path / "run", monitor={"every": EVERY})
    assert _without_seconds(_rows(tmp_path / "run" / RECORD_NAME)) == full
    assert _without_seconds(rest.monitor) == full
    for k in NAMES:
        np.testing.assert_array_equal(rest.params[k], plain.params[k])


needs_background = pytest.mark.skipif(
    not background_available(), reason="the background monitor needs fork and two CPUs"
)


@needs_background
@pytest.mark.parametrize("background", [False, True])
def test_the_background_monitor_writes_the_inline_monitors_record(runs, tmp_path, background):
    # the rows computed by a worker process are the inline ones, bit for bit, also across a stop
    _, _, record = runs
    full = _without_seconds(_rows(record))
    kw = dict(monitor={"every": EVERY}, monitor_background=background)
    one = train(_cfg(), tmp_path / "one", **kw)
    assert _without_seconds(one.monitor) == full == _without_seconds(_rows(tmp_path / "one" / RECORD_NAME))
    train(_cfg(), tmp_path / "two", stop_after=45, **kw)  # a checkpoint between rows
    rest = train(_cfg(), tmp_path / "two", monitor={"every": EVERY}, monitor_background=not background)
    assert _without_seconds(_rows(tmp_path / "two" / RECORD_NAME)) == full == _without_seconds(rest.monitor)


def _fail_after_first_row(monkeypatch, action):
    from dynsys.analysis.tracking import LandscapeTracker

    observe = LandscapeTracker.observe

    def failing(self, time, *a, **kw):
        if time > 0:  # rows after the first, computed in the worker
            action()
        return observe(self, time, *a, **kw)

    monkeypatch.setattr(LandscapeTracker, "observe", failing)


@needs_background
def test_an_error_in_the_worker_is_raised_by_train(monkeypatch, tmp_path):
    def boom():
        raise RuntimeError("planted failure")

    _fail_after_first_row(monkeypatch, boom)
    with pytest.raises(DynsysError, match="monitor worker: RuntimeError: planted failure"):
        train(_cfg(), tmp_path / "run", monitor={"every": EVERY}, monitor_background=True)


@needs_background
def test_a_worker_that_dies_is_reported_not_waited_for(monkeypatch, tmp_path):
    import os

    _fail_after_first_row(monkeypatch, lambda: os._exit(3))
    with pytest.raises(DynsysError, match="worker process ended .exit code 3"):
        train(_cfg(), tmp_path / "run", monitor={"every": EVERY}, monitor_background=True)


def test_monitor_background_must_be_a_bool():
    with pytest.raises(DynsysError, match="monitor_background"):
        train(_cfg(), monitor=True, monitor_background="yes")


def test_a_resume_with_other_monitor_options_is_refused(tmp_path):
    train(_cfg(updates=30), tmp_path / "run", monitor={"every": 10}, stop_after=12)
    with pytest.raises(DynsysError, match="monitor: the run was monitored with"):
        train(_cfg(updates=30), tmp_path / "run", monitor={"every": 15})


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"every": 0}, "monitor.every"),
        ({"n_probes": -1}, "monitor.n_probes"),
        ({"inputs": "x"}, "monitor.inputs"),
        ({"spike_factor": 0.5}, "monitor.spike_factor"),
        ({"period2": "yes"}, "monitor.period2"),
        ({"seed": -1}, "monitor.seed"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_monitor_config_validation_names_the_option(options, named):
    with pytest.raises(DynsysError, match=named.replace(".", "\\.")):
        MonitorConfig.from_dict(options)


def test_monitor_config_round_trip_and_bad_type():
    cfg = MonitorConfig(every=7, inputs="zero", period2=False)
    assert MonitorConfig.from_dict(cfg.to_dict()) == cfg
    assert MonitorConfig.from_dict(None) == MonitorConfig()
    with pytest.raises(DynsysError, match="monitor must be a mapping"):
        MonitorConfig.from_dict([("every", 3)])
    with pytest.raises(DynsysError, match="monitor.every"):
        train(_cfg(updates=2), monitor={"every": 0})


def test_task_conditions():
    to = task_conditions(get_task("temporal_order"))
    assert len(to) == 7 and to[0].name == "zero" and to[0].u is None
    np.testing.assert_array_equal(np.stack([c.u for c in to[1:]]), np.eye(6))
    ff = task_conditions(get_task("flipflop_3bit"))
    assert [c.name for c in ff] == ["zero", "+0", "-0", "+1", "-1", "+2", "-2"]
    assert ff[0].u is None
    signs = np.array([1.0, -1.0] * 3)[:, None]  # +e0, -e0, +e1, -e1, +e2, -e2
    np.testing.assert_array_equal(np.stack([c.u for c in ff[1:]]), np.repeat(np.eye(3), 2, axis=0) * signs)
    rp = task_conditions(get_task("random_permutation"))  # 100 input symbols: the zero input only
    assert [(c.name, c.u) for c in rp] == [("zero", None)]
    assert [c.name for c in task_conditions(get_task("temporal_order"), "zero")] == ["zero"]
