"""Batched Newton (line search, chord finishing, stagnation) against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest

import dynsys.analysis.equilibria.newton as nm
from dynsys.analysis.equilibria import find_fixed_points, iterate_k, newton_solve
from dynsys.analysis.equilibria.points import dedup as _dedup
from dynsys.analysis.equilibria.starts import periodic_box, sampled_starts
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, RNNMap


def test_newton_solve_quadratic_and_batched(rng):
    W = 1.5 * rng.standard_normal((16, 16)) / 4
    m = RNNMap(W)
    starts = 0.01 * rng.standard_normal((32, 16))  # near the origin, which is a fixed point
    x, res, conv = newton_solve(m, starts)
    assert conv.all()
    np.testing.assert_allclose(x, 0.0, atol=1e-10)
    assert np.all(res < 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batched_newton_finds_every_root_scipy_finds(seed):
    """Oracle: scipy.optimize.root (MINPACK hybr) from the same starts finds no root we miss."""
    from scipy.optimize import root

    rng = np.random.default_rng(seed)
    n = 16
    m = RNNMap(1.8 * rng.standard_normal((n, n)) / np.sqrt(n), b=0.2 * rng.standard_normal(n))
    starts = sampled_starts(m, None, 512, np.random.default_rng(seed), 30, periodic_box(m))
    fp = find_fixed_points(m, starts=starts)
    eye = np.eye(n)
    for s in starts:
        r = root(lambda x: m.step(x) - x, s, jac=lambda x: m.jacobian(x) - eye)
        if r.success and np.linalg.norm(m.step(r.x) - r.x) < 1e-10:
            assert np.min(np.linalg.norm(fp.states - r.x, axis=1)) < 1e-6


def _plain_newton(W, b, x, iters=60):
    """Independent oracle: undamped Newton for x = W tanh(x) + b, one start at a time."""
    eye = np.eye(W.shape[0])
    for _ in range(iters):
        g = W @ np.tanh(x) + b - x
        J = W * (1.0 - np.tanh(x) ** 2)[None, :] - eye
        x = x - np.linalg.solve(J, g)
    return x


def test_chord_finishes_starts_near_a_known_root(rng):
    # simplified Newton with (J(x*) − I)⁻¹ of a known root: starts near x* converge to x*
    # (the root itself from the independent plain-Newton oracle)
    n = 6
    W = 1.5 * rng.standard_normal((n, n)) / np.sqrt(n)
    b = 0.3 * rng.standard_normal(n)
    m = RNNMap(W, b=b)
    x_star = _plain_newton(W, b, rng.standard_normal(n))
    assert np.linalg.norm(m.step(x_star) - x_star) < 1e-12
    roots = nm._ChordRoots(m, None, 1, 1e-12)
    roots.add(np.array([x_star, x_star + 1e-12]))  # the second is the same root
    assert len(roots.roots) == 1
    xa = x_star + 1e-2 * rng.standard_normal((40, n))
    ga = m.step(xa) - xa
    hit, z, rz = roots.chord(xa, ga, np.linalg.norm(ga, axis=-1), np.ones(40, dtype=bool))
    assert hit.size >= 35
    assert np.all(rz < 1e-12)
    np.testing.assert_allclose(np.linalg.norm(m.step(z) - z, axis=-1), rz, atol=1e-15)
    np.testing.assert_allclose(z, np.broadcast_to(x_star, z.shape), atol=1e-10)
    # far away the chord run is mostly abandoned; anything it claims must still be a root
    far = -x_star[None] + 3.0 * rng.standard_normal((10, n))
    gf = m.step(far) - far
    hit, zf, _ = roots.chord(far, gf, np.linalg.norm(gf, axis=-1), np.ones(10, dtype=bool))
    assert np.all(np.linalg.norm(m.step(zf) - zf, axis=-1) < 1e-12)  # whatever is claimed is a root


def test_chord_finishing_changes_no_root(rng, monkeypatch):
    # finishing starts by chord steps towards known roots must find the same distinct roots as
    # Newton alone, and every start it finishes must really be a root
    n = 10
    W = 1.8 * rng.standard_normal((n, n)) / np.sqrt(n)
    m = RNNMap(W, b=0.1 * rng.standard_normal(n))
    starts = sampled_starts(m, None, 300, rng, 30, periodic_box(m))
    chord, finished = nm._ChordRoots.chord, []

    def counting(self, *args):
        out = chord(self, *args)
        finished.append(out[0].size)
        return out

    monkeypatch.setattr(nm._ChordRoots, "chord", counting)
    x1, res1, conv1 = newton_solve(m, starts)
    assert sum(finished) >= 50  # the shortcut was really taken
    monkeypatch.setattr(nm._ChordRoots, "chord", lambda self, xa, *a: (np.zeros(0, int), xa[:0], np.zeros(0)))
    x0, res0, conv0 = newton_solve(m, starts)
    assert np.all(res1[conv1] < 1e-10)
    assert np.all(np.linalg.norm(m.step(x1[conv1]) - x1[conv1], axis=-1) < 1e-10)
    roots1 = x1[conv1][_dedup(x1[conv1], res1[conv1], 1e-6)]
    roots0 = x0[conv0][_dedup(x0[conv0], res0[conv0], 1e-6)]
    assert len(roots0) >= 2
    assert len(roots1) == len(roots0)
    d = np.linalg.norm(roots1[:, None] - roots0[None], axis=-1)
    assert np.all(d.min(axis=1) < 1e-8)
    assert conv1.sum() >= 0.9 * conv0.sum()


def test_iterate_k_jacobian_matches_finite_differences(rng):
    # F^k by repeated steps, and ∂F^k/∂x (product of one-step Jacobians) vs central differences
    m = HenonMap(1.2, 0.3)
    x = 0.3 * rng.standard_normal((5, 2))
    y, J = iterate_k(m, x, k=3)
    np.testing.assert_allclose(y, m.step(m.step(m.step(x))), atol=1e-15)
    h = 1e-6
    for j in range(2):
        e = np.eye(2)[j]
        fd = (
            iterate_k(m, x + h * e, k=3, jacobian=False)[0] - iterate_k(m, x - h * e, k=3, jacobian=False)[0]
        ) / (2 * h)
        np.testing.assert_allclose(J[..., :, j], fd, atol=1e-7)


def test_newton_solve_period_two_of_logistic_closed_form():
    # the 2-cycle of x ↦ r x (1 − x): x = (r + 1 ± √((r + 1)(r − 3))) / (2r)
    r = 3.3
    x, res, conv = newton_solve(LogisticMap(r), np.array([[0.45], [0.85]]), period=2)
    assert conv.all() and np.all(res < 1e-12)
    cycle = (r + 1 + np.array([-1.0, 1.0]) * np.sqrt((r + 1) * (r - 3))) / (2 * r)
    np.testing.assert_allclose(x[:, 0], cycle, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Newton–Krylov (linear="krylov"): inexact directions by preconditioned batched GMRES
# ---------------------------------------------------------------------------------------


def _scalar_roots(a, b, lo=-10.0, hi=10.0, grid=20000):
    """All roots of x = a tanh(x) + b on [lo, hi]: sign changes on a fine grid, then brentq."""
    from scipy.optimize import brentq

    f = lambda x: a * np.tanh(x) + b - x  # noqa: E731
    xs = np.linspace(lo, hi, grid)
    fs = f(xs)
    exact = list(xs[fs == 0.0])
    idx = np.flatnonzero(fs[:-1] * fs[1:] < 0)
    return np.sort(np.array(exact + [brentq(f, xs[i], xs[i + 1], xtol=1e-15) for i in idx]))


def _match(found, truth, atol):
    d = np.linalg.norm(found[:, None] - truth[None], axis=-1)
    return d.min(axis=1).max() < atol and d.min(axis=0).max() < atol


def _distinct(x, res, conv):
    xc = x[conv]
    return xc[_dedup(xc, res[conv], 1e-6)]


def test_newton_krylov_coupled_two_unit_closed_form(rng):
    # x₁ = a tanh(x₂), x₂ = a tanh(x₁): x ↦ a tanh(x) is increasing (no 2-cycles), so the
    # fixed points are (0, 0) and ±(x*, x*) with x* = a tanh(x*) (scalar root by brentq)
    a = 2.0
    m = RNNMap(np.array([[0.0, a], [a, 0.0]]))
    starts = rng.uniform(-3, 3, size=(200, 2))
    x, res, conv = newton_solve(m, starts, linear="krylov")
    roots = _distinct(x, res, conv)
    xs = _scalar_roots(a, 0.0)
    assert xs.size == 3
    assert _match(roots, np.stack([xs, xs], axis=1), 1e-10)
    assert np.all(np.linalg.norm(m.step(x[conv]) - x[conv], axis=-1) < 1e-10)
    assert conv.mean() > 0.9


def test_newton_krylov_decoupled_three_units_all_nine_roots(rng):
    # W diagonal: each unit is its own scalar map, so the fixed points are the product of the
    # scalar roots (3 × 3 × 1 = 9); a dense start grid must find every one
    a = np.array([2.0, 3.0, 0.5])
    b = np.array([0.1, -0.2, 0.3])
    m = RNNMap(np.diag(a), b=b)
    per_unit = [_scalar_roots(a[i], b[i]) for i in range(3)]
    assert [r.size for r in per_unit] == [3, 3, 1]
    truth = np.array(np.meshgrid(*per_unit, indexing="ij")).reshape(3, -1).T
    starts = rng.uniform(-4, 4, size=(600, 3))
    x, res, conv = newton_solve(m, starts, linear="krylov")
    assert _match(_distinct(x, res, conv), truth, 1e-10)
    assert np.all(np.linalg.norm(m.step(x[conv]) - x[conv], axis=-1) < 1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_newton_krylov_finds_the_roots_of_the_lu_path(seed):
    # 64-unit tanh RNN: every distinct root the exact-LU Newton finds, Newton–Krylov finds too
    # (from the same starts), and each of its converged points is a root to 1e-10
    rng = np.random.default_rng(seed)
    n = 64
    m = RNNMap(1.5 * rng.standard_normal((n, n)) / np.sqrt(n), b=0.1 * rng.standard_normal(n))
    starts = sampled_starts(m, None, 256, np.random.default_rng(seed), 30, periodic_box(m))
    lu = _distinct(*newton_solve(m, starts, linear="lu"))
    xk, rk, ck = newton_solve(m, starts, linear="krylov")
    kr = _distinct(xk, rk, ck)
    assert len(lu) >= 1 and len(kr) >= len(lu)
    d = np.linalg.norm(lu[:, None] - kr[None], axis=-1)
    assert d.min(axis=1).max() < 1e-8
    assert np.all(np.linalg.norm(m.step(xk[ck]) - xk[ck], axis=-1) < 1e-10)
    assert np.all(rk[ck] < 1e-10)


def test_newton_krylov_lu_fallback_keeps_roots_exact(rng, monkeypatch):
    # one GMRES step only: most directions miss their forcing term and fall back to LU; the
    # converged points are still roots and the origin (the only fixed point here) is found
    n = 40
    m = RNNMap(0.8 * rng.standard_normal((n, n)) / np.sqrt(n))
    monkeypatch.setattr(nm, "_KRYLOV_MAXITER", 1)
    starts = rng.uniform(-2, 2, size=(64, n))
    x, res, conv = newton_solve(m, starts, linear="krylov")
    assert conv.all()
    np.testing.assert_allclose(x, 0.0, atol=1e-10)


def test_eisenstat_walker_forcing_terms():
    # choice 2 with γ = 0.9, α = 2: η = γ (r/r_old)², safeguarded by γ η_old² when that is > 0.1,
    # never below tol/(2r), at least η₀ in the global phase (r > 1e-2), never above η_max = 0.9
    eta = np.array([0.5, 0.9, 0.1, 0.5, 0.5])
    r = np.array([1e-3, 1e-4, 1e-9, 1e-13, 0.5])
    r_old = np.array([1e-2, 1e-3, 1e-6, 1e-11, 0.6])
    out = nm._forcing(eta, r, r_old, 1e-12)
    expect = [
        max(0.9 * 0.1**2, 0.9 * 0.5**2),  # safeguard: γ η_old² = 0.225 > 0.1
        max(0.9 * 0.1**2, 0.9 * 0.9**2),  # safeguard: 0.729
        max(0.9 * 1e-3**2, 0.5e-12 / 1e-9),  # γ η_old² = 0.009 < 0.1; the tol/(2r) floor wins
        min(0.5e-12 / 1e-13, 0.9),  # the floor (5) capped at η_max
        max(0.9 * (0.5 / 0.6) ** 2, 0.9 * 0.5**2, nm._EW_ETA0),  # global phase: at least η₀
    ]
    np.testing.assert_allclose(out, expect, rtol=1e-12)


def test_linear_solver_choice(monkeypatch, rng):
    calls = []
    real = nm._krylov_direction
    monkeypatch.setattr(nm, "_krylov_direction", lambda *a: calls.append(1) or real(*a))
    big = RNNMap(1.2 * rng.standard_normal((64, 64)) / 8)
    small = RNNMap(1.2 * rng.standard_normal((16, 16)) / 4)
    starts = lambda n: rng.uniform(-1, 1, size=(64, n))  # noqa: E731
    newton_solve(big, starts(64))  # auto: Newton–Krylov from n = 64 on
    assert calls
    calls.clear()
    newton_solve(big, starts(64), linear="lu")
    newton_solve(small, starts(16))  # auto, small n: LU
    newton_solve(big, starts(64), period=2, linear="krylov")  # period 2: LU
    newton_solve(HenonMap(1.2, 0.3), rng.uniform(-1, 1, (40, 2)), linear="krylov")  # not an RNN
    assert not calls
    newton_solve(small, starts(16), linear="krylov")
    assert calls
    with pytest.raises(DynsysError, match="linear"):
        newton_solve(big, starts(64), linear="cg")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newton_krylov_finds_every_root_scipy_finds(seed):
    """Oracle: scipy.optimize.root (MINPACK hybr) from the same starts finds no root Newton–Krylov misses."""
    from scipy.optimize import root

    rng = np.random.default_rng(seed)
    n = 64
    m = RNNMap(1.5 * rng.standard_normal((n, n)) / np.sqrt(n), b=0.1 * rng.standard_normal(n))
    starts = sampled_starts(m, None, 256, np.random.default_rng(seed), 30, periodic_box(m))
    x, res, conv = newton_solve(m, starts, linear="krylov")
    found = _distinct(x, res, conv)
    eye = np.eye(n)
    for s in starts:
        r = root(lambda z: m.step(z) - z, s, jac=lambda z: m.jacobian(z) - eye)
        if r.success and np.linalg.norm(m.step(r.x) - r.x) < 1e-10:
            assert np.min(np.linalg.norm(found - r.x, axis=1)) < 1e-6
