"""Smoke tests of the Fig. 6 and RNN-slice experiments at reduced sizes (compute → draw → report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dynsys.runs import RunContext

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"exp_{name}", ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EXPERIMENT


def test_fig6_small(tmp_path):
    pytest.importorskip("matplotlib")
    exp = _load("fig6_steep_wall")
    cfg = dict(exp.config("default"), resolution=40, lines=20, steps=200, refine_depth=16)
    arrays, metrics = exp.compute(cfg, RunContext(workdir=tmp_path))
    assert metrics["refinement_gain"] >= 10
    assert abs(metrics["wall_b_at_w5"] - metrics["basin_boundary_b_at_w5"]) < 1e-3
    for d in metrics["descent"]:
        assert d["plain_left_window_at_step"] > 0
        assert d["clipped_left_window_at_step"] == -1
        assert d["clipped_loss_end"] < d["clipped_loss_start"]
    meta = {"config": cfg, "metrics": metrics}
    stems = exp.draw(arrays, meta, tmp_path)
    assert (tmp_path / f"{stems[0]}.png").stat().st_size > 10_000
    assert "basin-boundary" in exp.report(arrays, meta)
    assert np.all(np.isfinite(arrays["loss"]))


def test_rnn_wall_slice_small(tmp_path):
    pytest.importorskip("matplotlib")
    exp = _load("rnn_wall_slice")
    cfg = dict(exp.config("default"), updates=300, warmup=50, points=41, zoom_points=21, hessian_iters=5)
    arrays, metrics = exp.compute(cfg, RunContext(workdir=tmp_path))
    assert metrics["spike_grad_norm"] >= metrics["median_grad_norm"]
    assert metrics["clipped_step_alpha"] >= metrics["plain_step_alpha"]
    meta = {"config": cfg, "metrics": metrics}
    stems = exp.draw(arrays, meta, tmp_path)
    assert (tmp_path / f"{stems[0]}.png").exists()
    assert "gradient direction" in exp.report(arrays, meta)
