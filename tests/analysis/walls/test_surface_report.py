"""Tests of dynsys.analysis.walls.report: the one-call analysis of the one-unit surface (Fig. 6)."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from dynsys.analysis.walls import (
    SurfaceReport,
    UnitModel,
    analyze_unit_surface,
    locate_unit_wall,
    refine_unit_surface,
    unit_surface,
    wall_distances,
)
from dynsys.errors import DynsysError

SMALL = dict(resolution=20, lines=10)


def _grad_norm_loop(w, b, x0=0.5, target=0.7, T=50):
    """Independent scalar reference: ‖∇E‖ by forward sensitivities in a plain Python loop."""
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    x, p, q = x0, 0.0, 0.0
    for _ in range(T):
        s = sig(x)
        a = w * s * (1.0 - s)
        p, q = s + a * p, 1.0 + a * q
        x = w * s + b
    s = sig(x)
    e1 = 2.0 * (s - target) * s * (1.0 - s)
    return math.hypot(e1 * p, e1 * q)


@pytest.fixture(scope="module")
def fig6():
    return analyze_unit_surface(**SMALL)


def test_overall_max_is_the_max_of_both_searches(fig6):
    refined = refine_unit_surface(*((4.2, 5.4), (-2.8, -2.0)))
    wall = locate_unit_wall((4.2, 5.4), (-2.8, -2.0), lines=10)
    both = np.concatenate([refined.grad_norm[np.isfinite(refined.grad_norm)], wall.grad_norm])
    assert fig6.max_grad == np.max(both)
    assert fig6.max_grad_source == ("wall" if wall.max_grad > np.nanmax(refined.grad_norm) else "refined")
    # the reported maximum is the gradient norm at the reported point (independent scalar loop)
    w, b = fig6.max_grad_at
    assert _grad_norm_loop(w, b) == pytest.approx(fig6.max_grad, rel=1e-8)
    # the wall is steep: far above what the uniform grid sees
    assert fig6.max_grad >= 10 * fig6.max_grad_uniform


def test_window_without_wall_uses_the_refined_search():
    r = analyze_unit_surface((3.0, 4.0), (-2.0, -1.0), **SMALL)
    assert r.wall.points.shape == (0, 2) and r.distances is None
    assert r.max_grad_source == "refined"
    gmax, at = refine_unit_surface((3.0, 4.0), (-2.0, -1.0)).max_grad
    assert r.max_grad == gmax
    np.testing.assert_array_equal(r.max_grad_at, at)
    assert "wall_distances" not in r.summary()
    assert math.isnan(r.summary()["max_grad_norm_wall"])


def test_summary_numbers_match_the_parts(fig6):
    grid = unit_surface((4.2, 5.4), (-2.8, -2.0), 20)
    s = fig6.summary()
    assert s["model"] == {"x0": 0.5, "target": 0.7, "T": 50, "activation": "sigmoid"}
    assert s["window"] == {"w": [4.2, 5.4], "b": [-2.8, -2.0]} and s["resolution"] == 20
    assert s["loss_min"] == float(np.nanmin(grid.loss)) and s["loss_max"] == float(np.nanmax(grid.loss))
    assert s["max_grad_norm_uniform"] == float(np.nanmax(grid.grad_norm))
    assert s["max_grad_norm"] == max(s["max_grad_norm_refined"], s["max_grad_norm_wall"])
    assert s["max_grad_norm_at"] == list(fig6.max_grad_at)
    assert len(s["wall_points"]) == len(s["wall_grad_norm"]) == len(s["wall_width"]) == len(fig6.wall.points)
    # the wall distances where they are defined (sigmoid): those of the located wall points
    want = wall_distances(fig6.wall.points, x0=0.5).summary()
    assert s["wall_distances"] == want
    assert want["basin_boundary_median"] < 0.02  # the wall is the basin boundary (paper §2.3)
    arrays = fig6.arrays()
    assert arrays["loss"].shape == (20, 20) and arrays["wall_points"].shape == fig6.wall.points.shape


def test_no_distances_without_fold_curves():
    r = analyze_unit_surface(activation="relu", T=20, **SMALL)
    assert r.model.activation.name == "relu" and r.distances is None
    assert "wall_distances" not in r.summary()


def test_defaults_are_those_of_the_parts():
    sig = inspect.signature(analyze_unit_surface).parameters
    model = UnitModel()
    for name in ("x0", "target", "T"):
        assert sig[name].default == getattr(model, name)
    assert sig["activation"].default == model.activation.name
    assert sig["resolution"].default == inspect.signature(unit_surface).parameters["resolution"].default
    assert sig["lines"].default == inspect.signature(locate_unit_wall).parameters["lines"].default


def test_is_a_frozen_result(fig6):
    assert isinstance(fig6, SurfaceReport)
    with pytest.raises(AttributeError):
        fig6.max_grad = 0.0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(w_range=(5.0, 4.0)), "w_range"),
        (dict(b_range=(1.0,)), "b_range"),
        (dict(T=0), "T"),
        (dict(activation="nope"), "activation"),
        (dict(lines=0), "lines"),
    ],
)
def test_bad_input_names_the_argument(kwargs, needle):
    with pytest.raises(DynsysError, match=needle):
        analyze_unit_surface(**{**SMALL, **kwargs})
