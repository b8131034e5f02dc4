"""Fixed points, period-k points and slow points against closed forms and direct iteration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsys.analysis.equilibria import classify, find_fixed_points, find_slow_points, multipliers
from dynsys.errors import DynsysError
from dynsys.maps import DelayedLogisticMap, HenonMap, LogisticMap, RNNMap, UnitMap


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _sigmoid_folds(w):
    """Fold points of x ↦ w σ(x) + b: g(x) = wσ(x) + b − x has g = g' = 0, i.e. wσ'(x) = 1.

    σ' = s(1 − s) = 1/w  ⇒  s = (1 ± √(1 − 4/w))/2, x = log(s/(1 − s)), b = x − w s.
    """
    r = np.sqrt(1.0 - 4.0 / w)
    s = np.array([(1 - r) / 2, (1 + r) / 2])
    x = np.log(s / (1 - s))
    return x, x - w * s


def _dense_roots(f, lo, hi, n=200_001):
    """Independent oracle: sign changes on a very fine grid, refined by scipy's brentq."""
    from scipy.optimize import brentq

    xs = np.linspace(lo, hi, n)
    fx = f(xs)
    idx = np.flatnonzero(np.sign(fx[:-1]) * np.sign(fx[1:]) < 0)
    return np.array([brentq(f, xs[i], xs[i + 1], xtol=1e-15) for i in idx])


def _check_stability_by_iteration(m, fp, rng, u=None):
    """Stable points attract nearby states; unstable ones repel along their leading direction.

    The number of steps follows from the leading |μ| so that the predicted change is large.
    """
    for i in range(len(fp)):
        x = fp.states[i]
        lead = float(np.abs(fp.multipliers[i, 0]))
        if abs(lead - 1.0) < 1e-3:
            continue  # too close to neutral to decide in reasonable time
        if fp.stability[i] == "stable":
            steps = int(np.ceil(np.log(1e-4) / np.log(max(lead, 1e-3)))) + 50
            x0 = x + 1e-6 * rng.standard_normal((8, m.dim))
            xT = _iter_u(m, x0, u, steps * fp.period)
            assert np.max(np.abs(xT - x)) < 1e-9
        elif fp.unstable_dim[i] > 0:
            steps = int(np.ceil(np.log(1e5) / np.log(lead))) + 10
            w, V = np.linalg.eig(fp.jacobian[i])
            v = np.real(V[:, np.argmax(np.abs(w))])
            v /= np.linalg.norm(v)
            xt, far = x + 1e-8 * v, 0.0
            with np.errstate(over="ignore", invalid="ignore"):
                for _ in range(steps * fp.period):
                    xt = m.step(xt, u)
                    dist = np.linalg.norm(xt - x)
                    far = max(far, dist) if np.isfinite(dist) else np.inf
            assert far > 1e-4


def _iter_u(m, x, u, steps):
    for _ in range(int(steps)):
        x = m.step(x, u)
    return x


@pytest.mark.parametrize("b", [-3.0, -2.5, -2.2, -2.0])
def test_unit_map_all_roots_match_dense_oracle(b, rng):
    m = UnitMap(w=5.0, b=b, activation="sigmoid")
    fp = find_fixed_points(m)
    oracle = _dense_roots(lambda x: 5.0 * _sigmoid(x) + b - x, -10.0123, 10.0)
    assert len(fp) == len(oracle)
    np.testing.assert_allclose(fp.states[:, 0], np.sort(oracle), atol=1e-12)
    assert np.all(fp.residual < 1e-10)
    _check_stability_by_iteration(m, fp, rng)


def test_unit_map_stability_pattern_in_bistable_window():
    x_f, b_f = _sigmoid_folds(5.0)
    b = 0.5 * (b_f[0] + b_f[1])
    fp = find_fixed_points(UnitMap(w=5.0, b=b))
    assert fp.stability == ("stable", "unstable", "stable")
    # multiplier is w σ'(x*) in closed form
    s = _sigmoid(fp.states[:, 0])
    np.testing.assert_allclose(fp.multipliers[:, 0].real, 5.0 * s * (1 - s), rtol=1e-12)


@pytest.mark.parametrize("k", [0, 1])
def test_tangential_root_at_fold_is_found(k):
    x_f, b_f = _sigmoid_folds(5.0)
    fp = find_fixed_points(UnitMap(w=5.0, b=b_f[k]))
    assert len(fp) == 2  # the double root and the simple one
    assert np.min(np.abs(fp.states[:, 0] - x_f[k])) < 1e-6


@pytest.mark.parametrize("eps", [1e-6, 1e-9])
def test_two_roots_in_one_grid_cell_near_fold(eps):
    x_f, b_f = _sigmoid_folds(5.0)
    # b just inside the bistable window near a fold: two roots ~ sqrt(eps) apart
    for k in (0, 1):
        b = b_f[k] + eps * np.sign(b_f.mean() - b_f[k])
        fp = find_fixed_points(UnitMap(w=5.0, b=b), grid=101)
        assert len(fp) == 3
        assert np.min(np.abs(fp.states[:, 0] - x_f[k])) < 10 * np.sqrt(eps)
    assert np.all(fp.residual < 1e-10)


def test_tanh_unit_roots_closed_form():
    # x = w tanh(x) with b = 0: roots 0 and ±x* with x* = w tanh(x*) (odd symmetry)
    fp = find_fixed_points(UnitMap(w=2.0, b=0.0, activation="tanh"))
    assert len(fp) == 3
    np.testing.assert_allclose(fp.states[:, 0], [-fp.states[2, 0], 0.0, fp.states[2, 0]], atol=1e-14)
    np.testing.assert_allclose(2.0 * np.tanh(fp.states[2, 0]), fp.states[2, 0], rtol=1e-14)


@pytest.mark.parametrize("r", [0.5, 2.0, 2.9, 3.3, 3.9])
def test_logistic_fixed_points_and_period2(r, rng):
    m = LogisticMap(r)
    fp = find_fixed_points(m, interval=(-5, 5))
    np.testing.assert_allclose(np.sort(fp.states[:, 0]), np.sort([0.0, 1 - 1 / r]), atol=1e-13)
    np.testing.assert_allclose(fp.multipliers[:, 0].real, r * (1 - 2 * fp.states[:, 0]), atol=1e-12)
    p2 = find_fixed_points(m, period=2, interval=(-0.5, 1.5))
    if r <= 3:
        assert len(p2) == 0
    else:  # closed form: roots of r²x² − r(r+1)x + (r+1) = 0
        disc = np.sqrt((r - 3) * (r + 1))
        exact = np.sort([(r + 1 - disc) / (2 * r), (r + 1 + disc) / (2 * r)])
        np.testing.assert_allclose(p2.states[:, 0], exact, atol=1e-12)
        # multiplier of the 2-cycle: r²(1 − 2x₁)(1 − 2x₂) = −r² + 2r + 4
        np.testing.assert_allclose(p2.multipliers[:, 0].real, -(r**2) + 2 * r + 4, atol=1e-10)
        _check_stability_by_iteration(m, p2, rng)


@pytest.mark.parametrize("a,b", [(1.4, 0.3), (0.5, -0.4), (1.0, 0.9)])
def test_henon_fixed_points_closed_form(a, b, rng):
    m = HenonMap(a, b)
    fp = find_fixed_points(m, rng=rng)
    # x = 1 − a x² + b x  ⇒  a x² + (1 − b) x − 1 = 0, y = b x
    disc = np.sqrt((1 - b) ** 2 + 4 * a)
    xs = np.sort([(-(1 - b) - disc) / (2 * a), (-(1 - b) + disc) / (2 * a)])
    assert len(fp) == 2
    np.testing.assert_allclose(fp.states[:, 0], xs, atol=1e-12)
    np.testing.assert_allclose(fp.states[:, 1], b * xs, atol=1e-12)
    assert np.all(fp.residual < 1e-10)
    # det J = −b for every point
    np.testing.assert_allclose(np.prod(fp.multipliers, axis=1).real, -b, atol=1e-12)
    _check_stability_by_iteration(m, fp, rng)


@pytest.mark.parametrize("r", [1.5, 1.9, 2.1])
def test_delayed_logistic_fixed_points(r, rng):
    m = DelayedLogisticMap(r)
    fp = find_fixed_points(m, rng=rng)
    np.testing.assert_allclose(fp.states, [[0.0, 0.0], [1 - 1 / r, 1 - 1 / r]], atol=1e-12)
    # the non-trivial point is a focus with |μ|² = det J = r − 1
    np.testing.assert_allclose(np.abs(fp.multipliers[1, 0]) ** 2, r - 1, atol=1e-12)
    assert fp.kind[1] == "focus"
    assert fp.stability[1] == ("stable" if r < 2 else "unstable")
    _check_stability_by_iteration(m, fp, rng)


def test_rnn_with_constant_input(rng):
    n, m_in = 3, 2
    W = 1.5 * rng.standard_normal((n, n)) / np.sqrt(n)
    rnn = RNNMap(W, rng.standard_normal((n, m_in)), 0.1 * rng.standard_normal(n))
    u = np.array([0.3, -0.7])
    fp = find_fixed_points(rnn, u, rng=rng)
    assert len(fp) >= 1
    x = fp.states
    np.testing.assert_allclose(np.tanh(x) @ W.T + rnn.b + rnn.W_in @ u, x, atol=1e-10)
    _check_stability_by_iteration(rnn, fp, rng, u=u)


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 4), gain=st.floats(0.5, 2.5))
def test_random_rnn_invariants(seed, n, gain):
    rng = np.random.default_rng(seed)
    W = gain * rng.standard_normal((n, n)) / np.sqrt(n)
    m = RNNMap(W, b=0.3 * rng.standard_normal(n))
    fp = find_fixed_points(m, n_starts=64, rng=rng)
    assert len(fp) >= 1  # a bounded continuous map of a box into itself has a fixed point
    assert np.all(fp.residual < 1e-10)
    np.testing.assert_allclose(m.step(fp.states), fp.states, atol=1e-10)
    # distinct after deduplication
    if len(fp) > 1:
        d = np.linalg.norm(fp.states[:, None] - fp.states[None], axis=-1)
        assert np.min(d[np.triu_indices(len(fp), 1)]) > 1e-6
    # stability class from the multipliers of the analytic Jacobian
    mu = multipliers(m.jacobian(fp.states))
    np.testing.assert_allclose(np.abs(mu), np.abs(fp.multipliers), atol=1e-10)
    assert classify(mu)[0] == fp.stability
    _check_stability_by_iteration(m, fp, rng)


def test_period3_points_of_logistic_after_tangent_bifurcation():
    # the period-3 window opens at r = 1 + √8 by a fold of F³: beyond it, 2 three-cycles (6 points)
    fp = find_fixed_points(LogisticMap(1 + np.sqrt(8) + 1e-3), period=3, interval=(0, 1))
    assert len(fp) == 6
    m = LogisticMap(1 + np.sqrt(8) + 1e-3)
    y = fp.states
    for _ in range(3):
        y = m.step(y)
    np.testing.assert_allclose(y, fp.states, atol=1e-10)
    assert fp.stability.count("stable") == 3
    fp_before = find_fixed_points(LogisticMap(1 + np.sqrt(8) - 1e-3), period=3, interval=(0, 1))
    assert len(fp_before) == 0


def test_slow_point_at_ghost_of_fold():
    # Past the fold the two lower roots are gone; q = ½ g² has a minimum with g ≠ 0 where
    # g′ = 0, i.e. w σ′(x) = 1: exactly the fold abscissa x_f (closed form).
    x_f, b_f = _sigmoid_folds(5.0)
    b = b_f[0] + 0.01 * np.sign(b_f[0] - b_f.mean())  # beyond the fold at x_f[0]: one root left
    m = UnitMap(w=5.0, b=b)
    sp = find_slow_points(m, starts=np.linspace(-4, 4, 41)[:, None], q_max=1e-2)
    slow = sp.select(~sp.converged)
    assert len(slow) == 1
    np.testing.assert_allclose(slow.states[0, 0], x_f[0], atol=1e-6)
    np.testing.assert_allclose(slow.q[0], 0.5 * (5 * _sigmoid(x_f[0]) + b - x_f[0]) ** 2, rtol=1e-8)
    assert sp.converged.sum() == 1  # the surviving fixed point


def test_bad_input():
    m = UnitMap(w=5.0, b=-2.5)
    with pytest.raises(DynsysError, match="u"):
        find_fixed_points(m, u=[np.nan])
    with pytest.raises(DynsysError, match="u was given"):
        find_fixed_points(LogisticMap(3.0), u=[1.0])
    with pytest.raises(DynsysError, match="period"):
        find_fixed_points(m, period=0)
    with pytest.raises(DynsysError, match="interval"):
        find_fixed_points(m, interval=(1.0, -1.0))
    with pytest.raises(DynsysError, match="starts"):
        find_fixed_points(HenonMap(), starts=np.zeros((3, 3)))


def test_henon_two_cycle_closed_form(rng):
    # 2-cycle of x_{n+1} = 1 − a x_n² + b x_{n−1}: x₁ + x₂ = (1 − b)/a, x₁x₂ = ((1 − b)² − a)/a²
    a, b = 0.6, 0.3
    fp = find_fixed_points(HenonMap(a, b), period=2, rng=rng, n_starts=256)
    assert len(fp) == 2
    x1, x2 = fp.states[:, 0]
    np.testing.assert_allclose(x1 + x2, (1 - b) / a, atol=1e-12)
    np.testing.assert_allclose(x1 * x2, ((1 - b) ** 2 - a) / a**2, atol=1e-12)
    np.testing.assert_allclose(fp.states[:, 1], b * fp.states[::-1, 0], atol=1e-12)  # y = b·(previous x)
    assert fp.stability == ("stable", "stable")  # a₁ = 0.3675 < a < a₂ = 0.9125


def test_strongly_recurrent_network_still_finds_the_origin():
    """x = 0 is a fixed point of any bias-free tanh network; random starts alone can all miss it when the
    recurrence is strong (ρ ≈ 1.8 here), the start at F(0) does not."""
    rng = np.random.default_rng(0)
    rnn = RNNMap(rng.normal(0, 0.25, (50, 50)), None, None, "tanh")
    fp = find_fixed_points(rnn, rng=0)
    assert np.any(np.linalg.norm(fp.states, axis=-1) < 1e-10)
    assert np.all(fp.residual < 1e-10)


def test_linear_solvers_agree_on_a_64_unit_network():
    # Both linear solvers report only roots (to 1e-10, checked against the map itself, not the
    # solver's residual) and find the fixed points that a dense search (1000 uniform starts in the
    # box plus midpoint rounds) finds: exact LU all 13 of them, Newton–Krylov (auto from 64
    # units) all but a slowly attracting node (|μ| = 0.95) that its inexact steps from distant
    # starts tend to pass by
    rng = np.random.default_rng(3)
    n = 64
    m = RNNMap(1.5 * rng.standard_normal((n, n)) / np.sqrt(n), b=0.05 * rng.standard_normal(n))
    lo, hi = m.state_box()
    truth = find_fixed_points(
        m, starts=lo + (hi - lo) * np.random.default_rng(5).random((1000, n)), midpoints=True
    )
    assert len(truth) == 13
    fps = {lin: find_fixed_points(m, n_starts=256, rng=0, linear=lin) for lin in ("lu", "krylov")}
    assert "Krylov" in find_fixed_points(m, n_starts=8, rng=0).message  # auto at n = 64
    assert "LU" in fps["lu"].message
    for lin, fp in fps.items():
        np.testing.assert_allclose(m.step(fp.states), fp.states, atol=1e-10)
        d = np.linalg.norm(fp.states[:, None] - truth.states[None], axis=-1)
        assert np.all(d.min(axis=1) < 1e-6), f"{lin} found a root the dense search did not"
        assert len(fp) >= (13 if lin == "lu" else 12), lin
    with pytest.raises(DynsysError, match="linear"):
        find_fixed_points(m, linear="qr")


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    N=st.integers(2, 64),
    n=st.integers(1, 5),
    tol=st.sampled_from([1e-6, 1e-2, 0.3, 1.0]),
)
def test_dense_dedup_equals_the_k_d_tree_one(seed, N, n, tol):
    # the small-N path of dedup (all pairs) gives the k-d tree path's representatives, in order
    from dynsys.analysis.equilibria import points

    rng = np.random.default_rng(seed)
    base = rng.standard_normal((int(rng.integers(1, N + 1)), n))
    jitter = rng.choice([0.0, 1e-9, 1e-3, 0.5], size=(N, 1)) * rng.standard_normal((N, n))
    states = base[rng.integers(len(base), size=N)] + jitter
    score = rng.choice([0.0, 1.0, 2.0], size=N)
    dense = points._dedup_dense(states, score, tol)
    saved = points._DENSE_DEDUP
    points._DENSE_DEDUP = 0
    try:
        tree = points.dedup(states, score, tol)
    finally:
        points._DENSE_DEDUP = saved
    np.testing.assert_array_equal(dense, tree)
