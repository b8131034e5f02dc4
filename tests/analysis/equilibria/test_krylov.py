"""Batched GMRES against dense solves, and its per-system stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.equilibria import batched_gmres


def _batch(rng, S, n, spread=0.3):
    """Well-conditioned nonsymmetric systems ``A_s = I + spread·N(0, 1/n)`` and their matvec."""
    A = np.eye(n) + spread * rng.standard_normal((S, n, n)) / np.sqrt(n)
    return A, (lambda V, rows: np.einsum("sij,sj->si", A[rows], V))


def _true_residual(A, x, b):
    return np.linalg.norm(b - np.einsum("sij,sj->si", A, x), axis=-1)


def test_gmres_matches_dense_solve(rng):
    A, mv = _batch(rng, 50, 20)
    b = rng.standard_normal((50, 20))
    r = batched_gmres(mv, b, 1e-13)
    truth = np.linalg.solve(A, b[..., None])[..., 0]
    np.testing.assert_allclose(r.x, truth, rtol=0, atol=1e-11 * np.abs(truth).max())
    assert r.converged.all()
    # the residual GMRES reports is the true one
    np.testing.assert_allclose(r.residual, _true_residual(A, r.x, b), atol=1e-12)
    assert np.all(r.iterations <= 20)


def test_gmres_exact_in_n_steps_for_a_hard_batch(rng):
    # eigenvalues spread around the origin: plain GMRES needs all n steps, then it is exact
    n = 12
    A = rng.standard_normal((8, n, n))
    b = rng.standard_normal((8, n))
    r = batched_gmres(lambda V, rows: np.einsum("sij,sj->si", A[rows], V), b, 1e-12)
    truth = np.linalg.solve(A, b[..., None])[..., 0]
    np.testing.assert_allclose(r.x, truth, atol=1e-8 * (1 + np.abs(truth).max()))


def test_gmres_per_system_forcing_terms(rng):
    # one operator, one right-hand side, eight tolerances: each copy stops at the FIRST step
    # that meets its own goal (checked by rerunning with one step fewer), and meets it truly
    n, S = 30, 8
    A1 = np.eye(n) + 0.6 * rng.standard_normal((n, n)) / np.sqrt(n)
    A = np.broadcast_to(A1, (S, n, n))
    b = np.broadcast_to(rng.standard_normal(n), (S, n)).copy()
    rtol = np.logspace(-1, -10, S)
    mv = lambda V, rows: V @ A1.T  # noqa: E731
    r = batched_gmres(mv, b, rtol)
    goal = rtol * np.linalg.norm(b, axis=-1)
    assert r.converged.all()
    assert np.all(_true_residual(A, r.x, b) <= goal * (1 + 1e-6))
    assert np.all(np.diff(r.iterations) >= 0) and r.iterations[-1] > r.iterations[0]
    for s in range(S):
        short = batched_gmres(mv, b[s : s + 1], rtol[s], maxiter=int(r.iterations[s]) - 1)
        if r.iterations[s] > 1:
            assert short.residual[0] > goal[s]
            assert not short.converged[0]


def test_gmres_zero_rhs_and_loose_tolerance(rng):
    A, mv = _batch(rng, 4, 6)
    b = rng.standard_normal((4, 6))
    b[1] = 0.0
    r = batched_gmres(mv, b, np.array([1e-10, 1e-10, 2.0, 1e-10]))
    assert r.iterations[1] == 0 and r.iterations[2] == 0  # nothing to do for these two
    np.testing.assert_array_equal(r.x[1], 0.0)
    np.testing.assert_array_equal(r.x[2], 0.0)
    assert np.all(_true_residual(A, r.x, b)[[0, 3]] < 1e-9)


@pytest.mark.parametrize("maxiter", [1, 3])
def test_gmres_maxiter_gives_minimal_residual_iterate(rng, maxiter):
    # after j steps GMRES minimizes ‖b − A x‖ over the Krylov space K_j(A, b): compare with a
    # dense least-squares solution over the explicit basis [b, Ab, …, A^{j-1} b]
    A, mv = _batch(rng, 5, 10, spread=0.8)
    b = rng.standard_normal((5, 10))
    r = batched_gmres(mv, b, 1e-14, maxiter=maxiter)
    for s in range(5):
        K = [b[s]]
        for _ in range(maxiter - 1):
            K.append(A[s] @ K[-1])
        K = np.array(K).T
        y = np.linalg.lstsq(A[s] @ K, b[s], rcond=None)[0]
        np.testing.assert_allclose(r.x[s], K @ y, atol=1e-10)
    assert np.all(r.iterations == maxiter)
