"""Tests of dynsys.analysis.walls.surface, dynsys.analysis.walls.wall and dynsys.analysis.walls.descent (paper eq. 8, Fig. 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.analysis.walls import (
    basin_boundary_curve,
    descend,
    distance_to_polyline,
    fold_curves,
    locate_unit_wall,
    refine_unit_surface,
    unit_loss,
    unit_surface,
    wall_distances,
)
from dynsys.errors import DynsysError
from dynsys.maps import UnitMap, iterate

WINDOW = ((4.2, 5.4), (-2.8, -2.0))


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _loss_loop(w, b, x0=0.5, target=0.7, T=50):
    """Independent scalar reference: a plain Python loop."""
    x = x0
    for _ in range(T):
        x = w * _sig(x) + b
    return (_sig(x) - target) ** 2


def _away_from_wall(rng, n, x0=0.5, margin=0.08):
    w = rng.uniform(*WINDOW[0], size=4 * n)
    b = rng.uniform(*WINDOW[1], size=4 * n)
    far = np.abs(b - (x0 - w * _sig(x0))) > margin
    return w[far][:n], b[far][:n]


def test_loss_matches_loop_and_unitmap(rng):
    w, b = _away_from_wall(rng, 20)
    r = unit_loss(w, b, order=0)
    ref = np.array([_loss_loop(wi, bi) for wi, bi in zip(w, b)])
    np.testing.assert_allclose(r.loss, ref, rtol=1e-12, atol=1e-15)
    traj = iterate(UnitMap(w=w, b=b), np.full((w.size, 1), 0.5), steps=50)
    np.testing.assert_allclose(r.state, traj.final[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softsign"])
def test_gradient_and_hessian_match_finite_differences(rng, activation):
    if activation == "sigmoid":
        w, b = _away_from_wall(rng, 30)
    else:  # a window with a single attractor (smooth surface)
        w, b = rng.uniform(0.3, 0.9, 30), rng.uniform(-0.5, 0.5, 30)
    kw = dict(x0=0.3, target=0.2, T=20, activation=activation)
    if activation == "sigmoid":
        kw = dict(x0=0.5, target=0.7, T=50)
    r = unit_loss(w, b, order=2, **kw)
    h = 1e-6
    gw = (unit_loss(w + h, b, order=0, **kw).loss - unit_loss(w - h, b, order=0, **kw).loss) / (2 * h)
    gb = (unit_loss(w, b + h, order=0, **kw).loss - unit_loss(w, b - h, order=0, **kw).loss) / (2 * h)
    scale = 1e-9 + np.abs(r.grad).max()
    np.testing.assert_allclose(r.grad[:, 0], gw, atol=1e-6 * scale, rtol=1e-5)
    np.testing.assert_allclose(r.grad[:, 1], gb, atol=1e-6 * scale, rtol=1e-5)
    h = 1e-5
    Hw = (unit_loss(w + h, b, **kw).grad - unit_loss(w - h, b, **kw).grad) / (2 * h)
    Hb = (unit_loss(w, b + h, **kw).grad - unit_loss(w, b - h, **kw).grad) / (2 * h)
    hs = 1e-9 + np.abs(r.hessian).max()
    np.testing.assert_allclose(r.hessian[:, :, 0], Hw, atol=1e-5 * hs, rtol=1e-4)
    np.testing.assert_allclose(r.hessian[:, :, 1], Hb, atol=1e-5 * hs, rtol=1e-4)
    np.testing.assert_allclose(r.hessian[:, 0, 1], r.hessian[:, 1, 0], rtol=1e-10, atol=1e-12 * hs)


def test_gradient_and_hessian_match_torch(rng):
    torch = pytest.importorskip("torch")
    w, b = _away_from_wall(rng, 5)
    r = unit_loss(w, b, order=2)

    def f(theta):
        x = torch.tensor(0.5, dtype=torch.float64)
        for _ in range(50):
            x = theta[0] * torch.sigmoid(x) + theta[1]
        return (torch.sigmoid(x) - 0.7) ** 2

    for i in range(len(w)):
        theta = torch.tensor([w[i], b[i]], dtype=torch.float64, requires_grad=True)
        g = torch.autograd.grad(f(theta), theta)[0].numpy()
        H = torch.autograd.functional.hessian(f, theta).numpy()
        np.testing.assert_allclose(r.grad[i], g, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(r.hessian[i], H, rtol=1e-8, atol=1e-13)


@given(w=st.floats(-3, 8), b=st.floats(-4, 4), T=st.integers(1, 30))
def test_loss_is_bounded_and_grid_equals_points(w, b, T):
    r = unit_loss(np.array([w]), np.array([b]), T=T, order=1)
    assert 0.0 <= r.loss[0] <= max(0.7, 0.3) ** 2 + 1e-15
    assert r.loss[0] == pytest.approx(_loss_loop(w, b, T=T), rel=1e-12, abs=1e-15)


def test_grid_shape_and_layout():
    s = unit_surface(*WINDOW, (7, 5))
    assert s.loss.shape == (7, 5) and s.grad.shape == (7, 5, 2)
    r = unit_loss(s.w[3], s.b[2])
    assert s.loss[3, 2] == pytest.approx(float(r.loss), rel=1e-14)


def test_refinement_finds_much_steeper_wall_than_uniform_grid():
    uniform = unit_surface(*WINDOW, 200)
    refined = refine_unit_surface(*WINDOW)
    g_uni = np.nanmax(uniform.grad_norm)
    g_ref, at = refined.max_grad
    assert g_ref >= 10 * g_uni
    # the maximum found is genuine: re-evaluate it independently
    check = unit_loss(at[0], at[1]).grad_norm
    assert float(check) == pytest.approx(g_ref, rel=1e-12)


def test_wall_lies_on_basin_boundary():
    x0 = 0.5
    wall = locate_unit_wall(*WINDOW, lines=40)
    assert wall.points.shape[0] >= 40
    steep = wall.grad_norm > 1e3
    assert steep.sum() >= 10
    d = wall_distances(wall.points, x0=x0)
    # closed form of curve (a): b = x0 - w σ(x0)
    db = np.abs(wall.points[:, 1] - (x0 - wall.points[:, 0] * _sig(x0)))
    assert np.all(db[steep] < 1e-3)
    np.testing.assert_allclose(d.basin_boundary_db, wall.points[:, 1] - (x0 - wall.points[:, 0] * _sig(x0)))
    assert np.all(d.basin_boundary[steep] <= db[steep] + 1e-15)
    # the steep part of the wall is much closer to the basin boundary than to either fold
    assert np.median(d.basin_boundary[steep]) < 0.05 * np.median(np.minimum(d.fold_left, d.fold_right)[steep])
    # a genuine crossing: just below / above in b the start goes to different attractors
    p = wall.points[steep]
    eps = 20 * wall.width[steep]
    lo = unit_loss(p[:, 0], p[:, 1] - eps, order=0).state
    hi = unit_loss(p[:, 0], p[:, 1] + eps, order=0).state
    assert np.all(lo < 0) and np.all(hi > 0)


def _count_fixed_points(w, b):
    """Number of solutions of x = w σ(x) + b on a fine grid (sign changes), per (w, b)."""
    xs = np.linspace(-30, 30, 120001)
    f = w[:, None] * _sig(xs[None]) + b[:, None] - xs[None] > 0
    return np.sum(f[:, 1:] != f[:, :-1], axis=1)


def test_fold_curves_bound_the_bistable_region():
    left, right = fold_curves(n=40, w_max=10.0)
    np.testing.assert_allclose(left[:, 0], right[:, 0], rtol=1e-12)  # sigmoid is symmetric
    w = left[:, 0]
    sel = w > 4.1
    w, bl, br = w[sel], left[sel, 1], right[sel, 1]
    # between the branches: three fixed points (two attractors and the basin boundary)
    assert np.all(_count_fixed_points(w, 0.5 * (bl + br)) == 3)
    # beyond either branch: one
    assert np.all(_count_fixed_points(w, np.maximum(bl, br) + 0.05) == 1)
    assert np.all(_count_fixed_points(w, np.minimum(bl, br) - 0.05) == 1)
    # on the branch: x* = w σ(x*) + b is a double root, multiplier w σ'(x*) = 1 at the cusp w = 4
    assert left[0, 0] == pytest.approx(4.0, rel=1e-12)


def test_basin_boundary_curve_and_polyline_distance(rng):
    w = np.array([3.0, 4.0, 5.0])
    b = basin_boundary_curve(w, x0=0.5)
    assert np.isnan(b[0]) and np.isnan(b[1])  # 4 σ′(0.5) < 1: x0 stable there
    assert b[2] == pytest.approx(0.5 - 5.0 * _sig(0.5), abs=1e-15)
    curve = np.c_[np.linspace(0, 1, 7), np.linspace(0, 1, 7) ** 2]
    pts = rng.uniform(-0.5, 1.5, (20, 2))
    fine = np.c_[np.linspace(0, 1, 20001), np.interp(np.linspace(0, 1, 20001), curve[:, 0], curve[:, 1])]
    brute = np.min(np.linalg.norm(pts[:, None] - fine[None], axis=-1), axis=1)
    np.testing.assert_allclose(distance_to_polyline(pts, curve), brute, atol=1e-4)


def test_clipped_descent_settles_unclipped_is_thrown_out():
    starts = np.c_[np.linspace(4.7, 5.2, 11), np.full(11, -2.78)]
    plain = descend(starts, lr=0.1, steps=600, window=WINDOW)
    clip = descend(starts, lr=0.1, steps=600, threshold=1.0, window=WINDOW)
    assert np.all(plain.loss[0] > 0.3)  # the high-loss side of the wall
    # every unclipped run leaves the window; most of them on the very step taken from the wall
    assert np.all(plain.left_window >= 1)
    k = plain.left_window - 1
    cols = np.arange(len(k))
    from_wall = (plain.grad_norm[k, cols] > 10.0) & (plain.step_lengths[k, cols] > 1.0)
    assert from_wall.sum() >= 6
    # same lr with clipping: stays in the window and reaches lower loss than it started with
    assert np.all(clip.left_window == -1)
    assert np.all(clip.loss[-1] < 0.01 * clip.loss[0])
    # ... and has settled: the last 50 steps all stay low (no more bounces over the wall)
    assert np.all(clip.loss[-50:].max(axis=0) < 0.01 * clip.loss[0])
    assert clip.clipped.any(axis=0).all()
    assert np.all(clip.step_lengths <= 0.1 * 1.0 * (1 + 1e-12))


def test_descent_without_threshold_is_plain_gd():
    p = descend(np.array([4.8, -2.7]), lr=0.05, steps=3)
    g = unit_loss(4.8, -2.7).grad
    np.testing.assert_allclose(p.points[1, 0], np.array([4.8, -2.7]) - 0.05 * g, rtol=1e-14)
    assert not p.clipped.any() and p.left_window[0] == -1


def test_descent_nonfinite_rule_is_nan_inf_only():
    """Fig. 6 descent applies Algorithm 1 alone: a finite gradient above the trainer's 1e10
    safeguard is clipped (or, without a threshold, taken whole); only NaN/Inf stops a start."""
    lin = dict(activation="linear", x0=0.5, target=0.7, T=50)
    start = np.array([2.0, 0.0])  # x_T = 2^50 / 2: ‖∇E‖ ≈ 1.6e31, finite
    g0 = unit_loss(*start, **lin).grad
    n0 = np.hypot(*g0)
    assert 1e10 < n0 < np.inf
    clip = descend(start, lr=0.1, steps=3, threshold=1.0, **lin)
    assert clip.clipped[0, 0]
    np.testing.assert_allclose(clip.points[1, 0], start - 0.1 * g0 / n0, rtol=1e-14)
    plain = descend(start, lr=0.1, steps=3, **lin)
    np.testing.assert_allclose(plain.points[1, 0], start - 0.1 * g0, rtol=1e-14)  # thrown to w ≈ -1.6e30
    # there the gradient overflows: the start stops, later points repeat
    assert not np.isfinite(plain.grad_norm[1, 0])
    np.testing.assert_array_equal(plain.points[2:, 0], np.broadcast_to(plain.points[1, 0], (2, 2)))


def test_validation_errors():
    with pytest.raises(DynsysError, match="T"):
        unit_loss(5.0, -2.5, T=0)
    with pytest.raises(DynsysError, match="x0"):
        unit_loss(5.0, -2.5, x0=np.nan)
    with pytest.raises(DynsysError, match="order"):
        unit_loss(5.0, -2.5, order=3)
    with pytest.raises(DynsysError, match="broadcast"):
        unit_loss(np.ones(3), np.ones(4))
    with pytest.raises(DynsysError, match="w_range"):
        unit_surface((5, 4), (-3, -2), 10)
    with pytest.raises(DynsysError, match="resolution"):
        unit_surface((4, 5), (-3, -2), 1)
    with pytest.raises(DynsysError, match="activation"):
        unit_loss(5.0, -2.5, activation="nope")
    with pytest.raises(DynsysError, match="lr"):
        descend([5.0, -2.5], lr=-1)
    with pytest.raises(DynsysError, match="starts"):
        descend([5.0, -2.5, 1.0])
