"""Slow points: local minima of q(x) = ½‖F(x) − x‖², against scipy and closed forms.

Oracles: ``scipy.optimize.minimize`` (BFGS, one start at a time, q and its gradient written out
here from the weights) from the same starts; the Hessian of q by central differences of that
gradient; for an RNN the closed form ``∇²q = AᵀA + diag((Wᵀg) ⊙ tanh''(x))``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from dynsys.analysis.equilibria import find_slow_points
from dynsys.analysis.equilibria.points import dedup
from dynsys.analysis.equilibria.slow_points import minimize_q, polish_minima, q_hessian
from dynsys.maps import GRUMap, RNNMap


def _rnn(gain, seed, n=6):
    g = np.random.default_rng(seed)
    return RNNMap(gain * g.standard_normal((n, n)) / np.sqrt(n), b=0.3 * g.standard_normal(n))


def _q_and_grad(m):
    """q and ∇q = (J − I)ᵀ(F(x) − x) of an autonomous tanh RNN, from its weights."""
    W, b = np.asarray(m.W_rec), np.asarray(m.b)
    n = W.shape[0]

    def q(x):
        r = W @ np.tanh(x) + b - x
        return 0.5 * r @ r

    def grad(x):
        r = W @ np.tanh(x) + b - x
        return (W * (1.0 - np.tanh(x) ** 2)[None, :] - np.eye(n)).T @ r

    return q, grad


def _fd_hessian(grad, x, h=1e-5):
    n = x.size
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    return 0.5 * (H + H.T)


@pytest.mark.parametrize(("gain", "seed", "q_max"), [(2.5, 2, 0.1), (2.5, 3, 0.1), (3.0, 3, 0.5)])
def test_slow_points_match_scipy_from_the_same_starts(gain, seed, q_max):
    m = _rnn(gain, seed)
    q, grad = _q_and_grad(m)
    lo, hi = m.state_box()
    starts = lo + (hi - lo) * np.random.default_rng(10 + seed).random((150, m.dim))
    sp = find_slow_points(m, starts=starts, q_max=q_max)
    runs = [minimize(q, s, jac=grad, method="BFGS", options=dict(gtol=1e-12, maxiter=3000)) for s in starts]
    X, Q = np.array([r.x for r in runs]), np.array([r.fun for r in runs])
    X, Q = X[Q <= q_max], Q[Q <= q_max]
    keep = dedup(X, Q, 1e-3)
    X, Q = X[keep], Q[keep]
    assert len(sp) == len(X) and int((~sp.converged).sum()) >= 1
    d = np.linalg.norm(X[:, None] - sp.states[None], axis=-1)
    assert np.all(d.min(axis=0) < 1e-6) and np.all(d.min(axis=1) < 1e-6), d.min(axis=0)
    for x, qx, conv in zip(sp.states, sp.q, sp.converged):
        if conv:
            assert qx < 1e-20
            continue
        # a local minimum of q: ∇q = 0 to 1e-11 relative, the Hessian positive definite, and a
        # descent from a nearby point returns to it with no lower q
        assert np.linalg.norm(grad(x)) <= 1e-11 * np.sqrt(2 * qx)
        assert np.min(np.linalg.eigvalsh(_fd_hessian(grad, x))) > 0
        back = minimize(q, x + 1e-3, jac=grad, method="BFGS", options=dict(gtol=1e-12))
        assert np.linalg.norm(back.x - x) < 1e-6 and back.fun >= qx * (1 - 1e-9)
        np.testing.assert_allclose(qx, q(x), rtol=1e-12)


def test_q_hessian_closed_form_and_differences(rng):
    m = _rnn(2.0, 0, n=7)
    x = rng.uniform(-2, 2, (5, 7))
    W = np.asarray(m.W_rec)
    t = np.tanh(x)
    g = t @ W.T + m.b - x
    A = W[None] * (1 - t**2)[:, None, :] - np.eye(7)
    exact = A.transpose(0, 2, 1) @ A + np.einsum("si,ij->sij", (g @ W) * (-2 * t * (1 - t**2)), np.eye(7))
    np.testing.assert_allclose(q_hessian(m, x, None), exact, rtol=1e-6, atol=1e-7)
    # a GRU: against central differences of the gradient through the map's Jacobian
    gen = np.random.default_rng(1)
    gru = GRUMap(None, 1.5 * gen.standard_normal((12, 4)), 0.3 * gen.standard_normal(12))

    def grad(z):
        r = gru.step(z) - z
        return (gru.jacobian(z) - np.eye(4)).T @ r

    z = gen.uniform(-0.9, 0.9, (3, 4))
    H = q_hessian(gru, z, None)
    for s in range(3):
        np.testing.assert_allclose(H[s], _fd_hessian(grad, z[s]), rtol=1e-5, atol=1e-7)


def test_gru_slow_points_match_scipy():
    gen = np.random.default_rng(3)
    gru = GRUMap(None, 2.5 * gen.standard_normal((12, 4)), 0.5 * gen.standard_normal(12))

    def q(z):
        r = gru.step(z) - z
        return 0.5 * r @ r

    def grad(z):
        r = gru.step(z) - z
        return (gru.jacobian(z) - np.eye(4)).T @ r

    starts = np.random.default_rng(5).uniform(-1, 1, (100, 4))
    sp = find_slow_points(gru, starts=starts, q_max=0.05)
    runs = [minimize(q, s, jac=grad, method="BFGS", options=dict(gtol=1e-12, maxiter=3000)) for s in starts]
    X, Q = np.array([r.x for r in runs]), np.array([r.fun for r in runs])
    # inside the periodic box (|h| < ν < 1): outside, z saturates and q has no minima, only
    # wherever each descent stopped
    lo, hi = gru.periodic_box()
    ok = (Q <= 0.05) & np.all((X >= lo) & (X <= hi), axis=1)
    X, Q = X[ok], Q[ok]
    X = X[dedup(X, Q, 1e-3)]
    # every minimum scipy reaches is found (here one fixed point more, which no BFGS run reached),
    # and each point found is a minimum: a root, or ∇q = 0 with a positive definite Hessian
    assert int((~sp.converged).sum()) == 2 and len(sp) >= len(X) == 4
    d = np.linalg.norm(X[:, None] - sp.states[None], axis=-1)
    assert np.all(d.min(axis=1) < 1e-6)
    for x, qx, conv in zip(sp.states, sp.q, sp.converged):
        if conv:
            assert np.linalg.norm(gru.step(x) - x) < 1e-10
        else:
            assert np.linalg.norm(grad(x)) <= 1e-11 * np.sqrt(2 * qx)
            assert np.min(np.linalg.eigvalsh(_fd_hessian(grad, x))) > 0


def test_minimize_q_exits_per_start():
    """Roots leave after a few quadratic steps; the others at a stationary point or when stalled."""
    m = _rnn(2.5, 3)
    lo, hi = m.state_box()
    starts = lo + (hi - lo) * np.random.default_rng(0).random((64, m.dim))
    r = minimize_q(m, starts, iterations=range(300))
    assert set(r.status) <= {"root", "stationary", "stalled"}
    roots = r.status == "root"
    assert roots.any() and np.all(r.q[roots] < 0.5e-24) and np.max(r.iterations[roots]) < 40
    stat = r.status == "stationary"
    assert stat.any() and np.all(r.grad[stat] <= 1e-8 * np.sqrt(2 * r.q[stat]))
    assert np.max(r.iterations) < 300  # nobody needed all iterations
    # the polish: Newton on ∇q takes the stationary points to 1e-12 relative, q unchanged
    x, qp, gp = polish_minima(m, r.x[stat])
    assert np.all(gp <= 1e-12 * np.sqrt(2 * qp))
    np.testing.assert_allclose(qp, r.q[stat], rtol=1e-9)
    r0 = minimize_q(m, starts, iterations=range(0))  # no iterations: the starts, all "running"
    np.testing.assert_array_equal(r0.x, starts)
    assert set(r0.status) <= {"running", "root"}
