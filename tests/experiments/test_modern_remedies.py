"""The modern-remedies experiment at a tiny size: sweep → store → checkpoints → Jacobian panel →
draw → report, the store skipping finished runs, a larger budget extending the same run folders,
and the Jacobian-product norms against BPTT's (an independent computation of the same products)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dynsys.runs import RunContext, SweepSpec

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "exp_modern_remedies", ROOT / "experiments" / "modern_remedies.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TINY = dict(
    lengths=[12],
    seeds=[0],
    n_hidden=8,
    updates=20,
    eval_every=10,
    eval_sequences=20,
    confirm_sequences=20,
    checkpoint_every=10,
    jacobian_batch=4,
)


@pytest.fixture(scope="module")
def mod():
    return _load()


def test_tiny_end_to_end_store_skips_and_budget_extends(mod, tmp_path):
    pytest.importorskip("matplotlib")
    from dynsys.training import train
    from dynsys.training.cells import build_map

    exp = mod.EXPERIMENT
    cfg = dict(exp.config("default"), **TINY)
    ctx = RunContext(workdir=tmp_path / "work", jobs=1)
    arrays, metrics = exp.compute(cfg, ctx)
    R, V, C, J = len(mod.ROWS), len(mod.VARIANTS), len(mod.CURVES), 2
    assert (R, V, C) == (11, 7, 8)
    assert metrics["sweep"]["done"] == V * J and metrics["sweep"]["skipped"] == 0
    assert arrays["success_rate"].shape == (R, J, 1)
    for k in ("solved_at", "updates_done", "best_error", "clip_fraction", "max_grad_norm"):
        assert arrays[k].shape == (R, J, 1, 1), k
    np.testing.assert_array_equal(arrays["updates_done"], 20)  # nothing solves in 20 updates
    np.testing.assert_array_equal(arrays["success_rate"], (arrays["solved_at"] >= 0).mean(axis=-1))
    unclipped = [r for r, (_, m) in enumerate(mod.ROWS) if m == "msgd"]
    np.testing.assert_array_equal(arrays["clip_fraction"][unclipped], 0.0)  # MSGD never clips
    steps = arrays["jac_steps"]
    Tmax = int(steps.max())
    assert arrays["jac_init"].shape == (V, J, Tmax) and arrays["jac_trained"].shape == (C, J, Tmax)
    # invariant: at lag 0 the product is the identity, norm 1, for every cell, before and after training
    np.testing.assert_array_equal(arrays["jac_init"][..., 0], 1.0)
    np.testing.assert_array_equal(arrays["jac_trained"][..., 0], 1.0)
    for j, T in enumerate(steps):
        assert np.all(np.isfinite(arrays["jac_init"][:, j, :T])) and np.all(
            np.isnan(arrays["jac_init"][:, j, T:])
        )

    # independent truth for the trained panel: the GRU's MSGD-C ensemble trained directly, outside
    # the sweep; its final weights (not the checkpoint the experiment read) give the same curve
    gru = next(v for v in mod.VARIANTS if v.cell == "gru")
    tc = mod._train_config(cfg, gru, "temporal_order", 12)
    h = train(tc)
    k = h.members.index((gru.init, "msgd-c", 0))
    net = build_map("gru", {name: v[k] for name, v in h.params.items()})
    batch = mod.mechanism_batches(cfg)[0]
    c = next(i for i, (v, m) in enumerate(mod.CURVES) if v is gru and m == "msgd-c")
    expect = np.median(mod.final_jacobian_norms(net, batch.inputs), axis=-1)
    np.testing.assert_allclose(arrays["jac_trained"][c, 0, : batch.steps], expect, rtol=1e-12)
    assert not np.allclose(arrays["jac_trained"][c, 0], arrays["jac_init"][mod.VARIANTS.index(gru), 0])

    # a rerun trains nothing: every run is 'done' in the store, and the arrays are the same
    again, m2 = exp.compute(cfg, ctx)
    assert m2["sweep"]["done"] == 0 and m2["sweep"]["skipped"] == V * J
    for key in arrays:
        np.testing.assert_array_equal(again[key], arrays[key])

    meta = {"config": cfg, "metrics": metrics, "profile": "default"}
    assert exp.draw(arrays, meta, tmp_path) == ["modern_remedies"]
    assert (tmp_path / "modern_remedies.png").stat().st_size > 10_000
    text = exp.report(arrays, meta)
    for v in mod.VARIANTS:
        assert f"| {v.label} | " in text, v.label
    table = [
        ln for ln in text.splitlines() if ln.startswith("| ") and "L=12" not in ln and "init →" not in ln
    ]
    assert len(table) == R + C
    assert "| GRU | MSGD | 0/1 (best err" in text and "| LSTM | MSGD-C |" in text
    assert "20 updates" in text and "no cell solved" in text

    # a larger budget extends the same run folders (named without the budget) from their checkpoints
    folders = sorted(p.name for p in (tmp_path / "work").iterdir() if p.is_dir())
    more, m3 = exp.compute(dict(cfg, updates=30), ctx)
    assert m3["sweep"]["done"] == V * J
    assert sorted(p.name for p in (tmp_path / "work").iterdir() if p.is_dir()) == folders
    np.testing.assert_array_equal(more["updates_done"], 30)


@pytest.mark.parametrize(
    "cell,init", [("rnn", "smart_tanh"), ("rnn", "irnn"), ("gru", "pytorch"), ("lstm", "forget_bias")]
)
def test_final_jacobian_norms_equal_bptts_products(mod, cell, init):
    """The panel's one-row product (grown from the left, rescaled) against ``bptt``'s table of every
    ``‖∂x_t/∂x_k‖₂`` (propagated forward by ``tangent``, or the eq. 2 fast path), row ``t = T``."""
    from dynsys.gradients import ReadoutLoss, bptt
    from dynsys.training.cells import build_map, cell_activation, init_weights

    rng = np.random.default_rng(3)
    T, B = 15, 3
    w = init_weights(cell, init, 4, 2, 1, rng=rng)
    if init == "irnn":
        w["W_in"] = rng.normal(size=w["W_in"].shape)  # a ReLU network whose units switch on and off
    net = build_map(cell, w, cell_activation(cell, init))
    inputs = rng.normal(size=(T, B, 2))
    x0 = np.zeros((B, net.dim))
    ref = bptt(
        net, inputs, ReadoutLoss(np.zeros((1, B, 1)), kind="mse"), x0=x0, jacobian_norms=True
    ).jacobian_norms
    got = mod.final_jacobian_norms(net, inputs)
    assert got.shape == (T, B)
    np.testing.assert_allclose(got, ref[T, T - np.arange(T)], rtol=1e-10, atol=1e-300)


def test_final_jacobian_norms_of_a_linear_map_are_powers(mod):
    """``x ↦ A x``: ``‖∂x_T/∂x_k‖ = ‖A‖^(T−k)`` for a normal ``A``, down to the smallest float64
    (the product's norm is carried as a logarithm: only the returned value underflows, to 0)."""
    from dynsys.maps import RNNMap

    for a in (0.5, 3.0):
        rnn = RNNMap(a * np.eye(3), np.zeros((3, 1)), np.zeros(3), "linear")
        got = mod.final_jacobian_norms(rnn, np.zeros((60, 2, 1)))
        np.testing.assert_allclose(got, np.broadcast_to(a ** np.arange(60.0)[:, None], (60, 2)), rtol=1e-12)
    rnn = RNNMap(np.diag([1e-4, 2e-4]), np.zeros((2, 1)), np.zeros(2), "linear")
    got = mod.final_jacobian_norms(rnn, np.zeros((100, 1, 1)))
    assert got[80, 0] == pytest.approx(2e-4**80, rel=1e-12) and got[99, 0] == 0.0  # 10^-366: below float64


@pytest.mark.parametrize("profile", ["default", "long"])
def test_profiles_share_one_protocol_and_validate(mod, profile, tmp_path):
    cfg = mod.EXPERIMENT.config(profile)
    jobs = mod.jobs_of(cfg)
    cfgs = tuple(mod._train_config(cfg, *job).to_dict() for job in jobs)
    SweepSpec("train", cfgs, tmp_path / "s.sqlite")  # every config passes the runner's validation
    assert len(cfgs) == len(mod.VARIANTS) * 2 * len(cfg["lengths"])
    for c in cfgs:
        assert (c["n_hidden"], c["batch"], c["lr"], c["clip"], c["alpha"], c["success"]) == (
            50,
            20,
            0.01,
            1.0,
            4.0,
            "1pct",
        )
        assert c["seeds"] == cfg["seeds"] and c["updates"] == cfg["updates"]
    assert {c["task"] for c in cfgs} == {"temporal_order", "addition"}
    assert {c.get("cell", "rnn") for c in cfgs} == {"rnn", "residual", "ln", "gru", "lstm"}
    # the gated cells with and without clipping, the other modern variants with the paper's clipping
    methods = {(c.get("cell", "rnn"), c["inits"][0]): c["methods"] for c in cfgs}
    assert methods[("gru", "pytorch")] == methods[("lstm", "forget_bias")] == ["msgd", "msgd-c"]
    assert methods[("rnn", "smart_tanh")] == ["msgd", "msgd-c", "msgd-cr"]
    assert methods[("rnn", "irnn")] == methods[("residual", "smart_tanh")] == ["msgd-c"]
    if profile == "long":
        assert cfg["lengths"] == [50, 100, 200] and len(cfg["seeds"]) == 5 and cfg["updates"] == 20_000
        assert (cfg["eval_every"], cfg["eval_sequences"], cfg["confirm_sequences"]) == (500, 1000, 10_000)
    # run folders are keyed without the budget
    a = mod._run_key(mod._train_config(cfg, *jobs[0]))
    assert a == mod._run_key(mod._train_config(dict(cfg, updates=cfg["updates"] * 2), *jobs[0]))


def test_figure_draws_the_rates_and_the_curves_it_is_given():
    pytest.importorskip("matplotlib")
    from dynsys.plotting.remedies import remedies_figure

    lengths = np.array([50, 100, 200])
    rows_v, rows_m = ["tanh RNN", "tanh RNN", "GRU"], ["msgd", "msgd-c", "msgd"]
    rates = np.zeros((3, 2, 3))
    rates[2, 1] = [1.0, 0.6, 0.2]
    init = np.full((2, 2, 6), np.nan)
    init[:, :, :5] = 0.5 ** np.arange(5.0)
    trained = np.ones((2, 2, 6))
    trained[1, 0, 3:] = 0.0  # a product that is exactly zero: dropped from the log axis
    fig = remedies_figure(
        lengths, rates, ["temporal_order", "addition"], rows_v, rows_m, init, trained, [5, 6],
        ["tanh RNN", "GRU"], ["tanh RNN", "GRU"], ["msgd-c", "msgd-c"], "note", n_seeds=5, length=50,
    )  # fmt: skip
    top = fig.axes[1].get_lines()  # addition
    assert len(top) == 3
    np.testing.assert_array_equal(top[2].get_ydata(), [1.0, 0.6, 0.2])
    assert top[0].get_markerfacecolor() == "none" and top[1].get_markerfacecolor() != "none"  # MSGD hollow
    assert top[0].get_color() == top[1].get_color() != top[2].get_color()  # one colour per variant
    bottom = fig.axes[2]  # temporal order's products: 2 initial (dashed), 2 trained (solid)
    assert bottom.get_yscale() == "log" and [ln.get_linestyle() for ln in bottom.get_lines()] == [
        "--",
        "--",
        "-",
        "-",
    ]
    np.testing.assert_array_equal(bottom.get_lines()[0].get_ydata(), 0.5 ** np.arange(5.0))
    y = np.asarray(bottom.get_lines()[3].get_ydata(), float)
    assert np.all(y[:3] == 1.0) and np.all(np.isnan(y[3:]))
    assert fig.axes[0].get_title().startswith("(a) temporal order") and "L=50" in fig.axes[3].get_title()
