"""Basins by direct iteration: each result against a closed form, a symmetry or an invariant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from dynsys.analysis.basins import (
    DIVERGED,
    UNDECIDED,
    BasinOptions,
    Basins,
    basins_of_attraction,
    box_grid,
    label_agreement,
    plane_grid,
)
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, NewtonMap, RNNMap, UnitMap


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- invariants ---------------------------------------------------------------------------


@settings(max_examples=15)
@given(w=st.floats(-8, 8), b=st.floats(-4, 4), n=st.integers(2, 60))
def test_fractions_sum_to_one_unit(w, b, n):
    res = basins_of_attraction(UnitMap(w=w, b=b), box_grid([(-5.0, 5.0)], n), max_steps=300)
    assert sum(res.fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert res.labels.shape == (n,)
    assert set(np.unique(res.labels)) <= {a.id for a in res.attractors} | {DIVERGED, UNDECIDED}


def test_fractions_sum_to_one_with_divergence_and_undecided():
    # logistic r = 3.2 on [-0.5, 1.5]: diverged (outside [0, 1]), undecided (x = 0 exactly, the
    # unstable fixed point, and x = 1 which maps onto it) and the period-2 basin all occur
    res = basins_of_attraction(LogisticMap(3.2), box_grid([(-0.5, 1.5)], 401))
    fr = res.fractions
    assert fr["diverged"] > 0.4 and fr["undecided"] > 0
    assert sum(fr.values()) == pytest.approx(1.0, abs=1e-12)
    x = res.grid.axes[0]
    assert set(x[res.labels == UNDECIDED]) == {0.0, 1.0}
    assert np.all(res.labels[(x < 0) | (x > 1)] == DIVERGED)


# --- closed forms -------------------------------------------------------------------------


def test_one_unit_bistable_boundary_is_the_unstable_fixed_point():
    w, b = 5.0, -2.45
    f = lambda x: w * _sigmoid(x) + b - x  # noqa: E731
    # fixed points of x = w σ(x) + b, independently by bracketing: stable, unstable, stable
    lo = brentq(f, -4.0, -1.0)
    mid = brentq(f, -1.0, 0.5)
    hi = brentq(f, 0.5, 4.0)
    slope = w * _sigmoid(mid) * (1 - _sigmoid(mid))
    assert slope > 1  # the middle one is unstable
    grid = box_grid([(-3.0, 3.0)], 601)
    res = basins_of_attraction(UnitMap(w=w, b=b), grid)
    assert len(res.attractors) == 2
    pts = sorted(a.points[0, 0] for a in res.attractors)
    assert pts == pytest.approx([lo, hi], abs=1e-6)
    assert all(a.kind == "fixed_point" and a.period == 1 for a in res.attractors)
    x, lab = grid.axes[0], res.labels
    change = np.flatnonzero(lab[1:] != lab[:-1])
    assert change.size == 1  # one boundary point
    h = x[1] - x[0]
    boundary = 0.5 * (x[change[0]] + x[change[0] + 1])
    assert abs(boundary - mid) <= h / 2 + 1e-12
    # the lower stable point's basin is left of the boundary
    low_id = min(res.attractors, key=lambda a: a.points[0, 0]).id
    assert np.all(lab[x < mid] == low_id)


def test_logistic_period_two():
    r = 3.2
    res = basins_of_attraction(LogisticMap(r), box_grid([(0.0, 1.0)], 301))
    assert len(res.attractors) == 1
    a = res.attractors[0]
    assert a.kind == "periodic" and a.period == 2
    s = np.sqrt((r - 3) * (r + 1))
    expected = sorted([(r + 1 - s) / (2 * r), (r + 1 + s) / (2 * r)])
    assert sorted(a.points[:, 0]) == pytest.approx(expected, abs=1e-7)
    # multiplier of the 2-cycle is 4 + 2r - r^2: exponent log|.|/2
    assert a.lyapunov == pytest.approx(np.log(abs(4 + 2 * r - r * r)) / 2, abs=1e-6)
    assert res.fractions[0] == pytest.approx(1 - 2 / 301, abs=1e-12)  # all but x = 0 and x = 1


def test_henon_one_chaotic_attractor_and_divergence():
    res = basins_of_attraction(HenonMap(1.4, 0.3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 150))
    assert len(res.attractors) == 1
    a = res.attractors[0]
    assert a.kind == "chaotic" and a.period == 0
    assert a.lyapunov == pytest.approx(0.419, abs=0.08)  # known largest exponent 0.4192
    fr = res.fractions
    assert fr["diverged"] > 0.3 and fr[0] > 0.3
    assert fr["undecided"] < 1e-3
    # the sample lies on the attractor: bounded like the known Hénon attractor |x| < 1.3, |y| < 0.4
    assert np.abs(a.points[:, 0]).max() < 1.3 and np.abs(a.points[:, 1]).max() < 0.4


def _newton_roots():
    return np.exp(2j * np.pi * np.arange(3) / 3)


def test_newton_three_roots_equal_fractions_on_symmetric_polar_grid():
    # a polar grid invariant under rotation by 2π/3 (exactly 3K angles)
    K = 40
    r = np.linspace(0.05, 2.0, 40)
    th = 2 * np.pi * np.arange(3 * K) / (3 * K) + 0.01
    R, TH = np.meshgrid(r, th, indexing="ij")
    states = np.stack([R * np.cos(TH), R * np.sin(TH)], axis=-1)
    res = basins_of_attraction(NewtonMap(3), states)
    assert len(res.attractors) == 3
    z = np.array([complex(*a.points[0]) for a in res.attractors])
    assert np.sort_complex(z) == pytest.approx(np.sort_complex(_newton_roots()), abs=1e-9)
    fr = res.fractions
    assert fr["diverged"] == 0 and fr["undecided"] == 0
    for k in range(3):
        assert fr[k] == pytest.approx(1 / 3, abs=0.005)
    # rotating the grid by 2π/3 permutes the labels exactly like the roots
    lab = res.labels
    rot = np.roll(lab, -K, axis=1)
    agree, _ = label_agreement(lab, rot)
    assert agree > 0.995


def test_newton_equal_fractions_in_disc_of_square_grid():
    grid = box_grid([(-2.0, 2.0), (-2.0, 2.0)], 300)
    res = basins_of_attraction(NewtonMap(3), grid)
    S = grid.states()
    disc = np.hypot(S[..., 0], S[..., 1]) < 2.0
    f = [np.mean(res.labels[disc] == k) for k in range(3)]
    assert f == pytest.approx([1 / 3] * 3, abs=0.003)
    # conjugation symmetry of the grid: the two complex roots have the same fraction
    ids = {round(a.points[0, 1]): a.id for a in res.attractors}
    assert res.fractions[ids[1]] == pytest.approx(res.fractions[ids[-1]], abs=2 / 300**2)


# --- the algorithm's own checks ----------------------------------------------------------


def test_shortcut_agrees_with_exact_iteration_and_chunks_do_not_matter():
    m, grid = NewtonMap(3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 120)
    exact = basins_of_attraction(m, grid, basin_hits=0, chunk_size=1 << 16)
    exact_small = basins_of_attraction(m, grid, basin_hits=0, chunk_size=1000)
    agree, mapping = label_agreement(exact.labels, exact_small.labels)
    assert agree == 1.0
    fast = basins_of_attraction(m, grid)
    assert label_agreement(exact.labels, fast.labels)[0] >= 0.995
    assert np.all(fast.steps <= exact.steps + fast.options.basin_hits)


def test_known_attractors_keep_their_ids():
    m = UnitMap(w=5.0, b=-2.45)
    first = basins_of_attraction(m, box_grid([(-3.0, 3.0)], 101))
    pts = np.array([[2.5], [-2.5], [1.0], [-1.5]])
    again = basins_of_attraction(m, pts, attractors=first.attractors)
    assert len(again.attractors) == 2
    hi = max(first.attractors, key=lambda a: a.points[0, 0]).id
    lo = 1 - hi
    assert again.labels.tolist() == [hi, lo, hi, lo]


def test_rnn_plane_grid_in_three_dimensions():
    # three decoupled bistable tanh units: 8 stable fixed points (±x*, ±x*, ±x*)
    W = 2.0 * np.eye(3)
    m = RNNMap(W)
    xs = brentq(lambda x: 2 * np.tanh(x) - x, 0.5, 3.0)
    grid = plane_grid(np.zeros(3), [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [(-3, 3), (-3, 3)], 41)
    res = basins_of_attraction(m, grid)
    # on this plane x2 = x3, so only the 4 fixed points with equal signs of x2, x3 are reached
    assert len(res.attractors) == 4
    for a in res.attractors:
        assert np.abs(a.points[0]) == pytest.approx([xs] * 3, abs=1e-7)
        assert a.points[0, 1] == a.points[0, 2]
    S = grid.states()
    expect_sign = np.sign(S[..., :2])
    got = np.array(
        [np.sign(res.attractors[k].points[0, :2]) if k >= 0 else [0, 0] for k in res.labels.ravel()]
    ).reshape(S.shape[:-1] + (2,))
    off_axis = np.all(np.abs(S[..., :2]) > 1e-9, axis=-1)
    assert np.all(got[off_axis] == expect_sign[off_axis])


def test_summary_is_jsonable():
    from dynsys.io import to_json

    res = basins_of_attraction(LogisticMap(3.2), box_grid([(0.0, 1.0)], 51))
    s = res.summary()
    assert s["attractors"][0]["type"] == "periodic" and s["attractors"][0]["period"] == 2
    assert to_json(s)
    assert isinstance(res, Basins)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: basins_of_attraction(HenonMap(), box_grid([(-1, 1)], 10)), "dimension"),
        (lambda: BasinOptions(max_steps=0), "max_steps"),
        (lambda: BasinOptions(tail=10), "tail"),
        (lambda: basins_of_attraction(UnitMap(), np.array([[np.nan]])), "finite"),
    ],
)
def test_bad_input_one_line_errors(call, match):
    with pytest.raises(DynsysError, match=match) as exc:
        call()
    assert "\n" not in str(exc.value)


def test_fixed_point_on_a_cell_edge_is_found_once():
    # x ↦ 0.9 x + 0.05 has its fixed point 0.5 exactly on an edge of the attractor cells (h = 0.25):
    # in floating point the left and right approaches settle on different neighbours of 0.5, in
    # different cells; they must be recognised as one attractor.
    m = RNNMap([[0.9]], b=[0.05], activation="linear")
    res = basins_of_attraction(m, box_grid([(-1.0, 2.0)], 41), basin_hits=0, cell_size=0.25)
    assert len(res.attractors) == 1
    assert res.attractors[0].points[0, 0] == pytest.approx(0.5, abs=1e-12)
    assert np.all(res.labels == 0)


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.5, 3.0))
def test_random_rnn_attractors_are_invariant_and_self_labelled(seed, scale):
    rng = np.random.default_rng(seed)
    m = RNNMap(scale * rng.normal(size=(2, 2)), b=0.3 * rng.normal(size=2))
    res = basins_of_attraction(m, box_grid([(-3.0, 3.0), (-3.0, 3.0)], 24), max_steps=400)
    assert sum(res.fractions.values()) == pytest.approx(1.0, abs=1e-12)
    for a in res.attractors:
        if a.period:  # an orbit: F^p(x) = x, and F maps the orbit onto itself
            y = a.points
            for _ in range(a.period):
                y = m.step(y)
            assert np.abs(y - a.points).max() < 1e-6
            assert a.lyapunov < 0
        # the attractor's own points are labelled with its id
        own = basins_of_attraction(m, a.points[:50], attractors=res.attractors, max_steps=400)
        assert np.all(own.labels == a.id)


def test_henon_divergence_matches_brute_force():
    # oracle: iterate every grid point for the full budget without retiring, then look at the end
    grid = box_grid([(-2.0, 2.0), (-2.0, 2.0)], 120)
    m = HenonMap(1.4, 0.3)
    res = basins_of_attraction(m, grid, max_steps=1000)
    X = grid.states().reshape(-1, 2)
    with np.errstate(all="ignore"):
        for _ in range(1000):
            X = m.step(X)
    bounded = np.all(np.abs(X) < 1e10, axis=1).reshape(grid.shape)
    assert np.mean((res.labels == 0) == bounded) >= 0.999
    assert np.mean((res.labels == DIVERGED) == ~bounded) >= 0.999


@pytest.mark.parametrize(
    "w, b, act, n",
    [
        (5.0, -2.6, "sigmoid", 20001),
        (5.0, -2.4, "sigmoid", 4001),
        (2.0, 0.1, "tanh", 8001),
        (-3.0, 0.2, "tanh", 3001),
    ],
)
def test_unit_boundary_tracks_unstable_fixed_point_at_many_biases(w, b, act, n):
    sig = _sigmoid if act == "sigmoid" else np.tanh
    f = lambda x: w * sig(x) + b - x  # noqa: E731
    xs = np.linspace(-6, 6, 100001)
    roots = [brentq(f, xs[i], xs[i + 1]) for i in np.flatnonzero(np.sign(f(xs[:-1])) != np.sign(f(xs[1:])))]
    grid = box_grid([(-6.0, 6.0)], n)
    res = basins_of_attraction(UnitMap(w=w, b=b, activation=act), grid)
    x = grid.axes[0]
    change = np.flatnonzero(res.labels[1:] != res.labels[:-1])
    bnd = 0.5 * (x[change] + x[change + 1])
    if w > 0:  # bistable: stable, unstable, stable; the boundary is the middle root
        assert len(roots) == 3 and len(res.attractors) == 2
        assert bnd.size == 1 and abs(bnd[0] - roots[1]) <= (x[1] - x[0]) / 2 + 1e-12
    else:  # w < 0: one fixed point, flip-unstable, and a stable 2-cycle: a single basin
        assert len(roots) == 1 and len(res.attractors) == 1
        assert res.attractors[0].period == 2 and bnd.size == 0
