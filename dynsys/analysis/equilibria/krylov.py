"""Batched GMRES: many independent linear systems ``A_s x_s = b_s`` solved at once, matrix-free.

Every system has its own operator ``A_s`` but all are applied together by one call
``matvec(V, rows)`` that returns ``A_s v_s`` for the stacked vectors ``V`` (shape ``(m, n)``) of the
systems ``rows``. For the Newton step of an RNN map (paper eq. 2, Jacobian eq. 5) that product is
one shared GEMM for all starts, ``(J_s − I) v_s = W (σ′(x_s) ∘ v_s) − v_s``, so a Krylov step costs
O(S n²) where a per-start LU costs O(S n³).

The Arnoldi process (classical Gram–Schmidt, repeated where needed) and the Givens rotations of the
small least-squares problems are vectorized over the systems: each system has its own residual
estimate ``‖b_s − A_s x_s‖`` and stops when it falls to ``rtol_s ‖b_s‖`` (the per-system forcing
terms of an inexact Newton method), when its Krylov space is exhausted, or at ``maxiter``.
Finished systems are dropped from the batch. No restarts: the caller bounds ``maxiter``.

Examples
--------
>>> import numpy as np
>>> A = np.array([[[2.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [1.0, 1.0]]])
>>> mv = lambda V, rows: np.einsum("sij,sj->si", A[rows], V)
>>> r = batched_gmres(mv, np.array([[3.0, 3.0], [1.0, 2.0]]), 1e-12)
>>> r.x.round(12).tolist(), r.iterations.tolist()  # b₀ is an eigenvector of A₀: one step
([[1.0, 1.0], [1.0, 1.0]], [1, 2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GmresResult", "batched_gmres"]


@dataclass(frozen=True, eq=False)
class GmresResult:
    """Solutions of a batch of linear systems.

    Attributes
    ----------
    x : ndarray, shape (S, n)
    residual : ndarray, shape (S,)
        The GMRES estimate of ``‖b_s − A_s x_s‖₂`` (exact in exact arithmetic).
    iterations : ndarray of int, shape (S,)
        Krylov steps (operator products) each system used.
    converged : ndarray of bool, shape (S,)
        ``residual ≤ rtol_s ‖b_s‖`` (or ``≤ atol``).
    """

    x: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def batched_gmres(matvec, b, rtol, *, atol: float = 0.0, maxiter: int | None = None) -> GmresResult:
    """Solve ``A_s x_s = b_s`` for all ``s`` by GMRES from ``x_s = 0``, one forcing term per system.

    Parameters
    ----------
    matvec : callable ``(V, rows) -> ndarray``
        ``V`` has shape ``(m, n)`` (one vector per system ``rows[i]``); returns ``A_{rows[i]} V[i]``
        stacked, shape ``(m, n)``. ``rows`` is an int array into the batch.
    b : ndarray, shape (S, n)
    rtol : float or ndarray, shape (S,)
        A system stops when its residual is ``≤ rtol_s ‖b_s‖`` (or ``≤ atol``).
    maxiter : int, optional
        Most Krylov steps per system (default ``n``: exact in exact arithmetic).

    Returns
    -------
    GmresResult
    """
    b = np.asarray(b, dtype=float)
    S, n = b.shape
    k = n if maxiter is None else max(1, min(int(maxiter), n))
    beta = np.linalg.norm(b, axis=-1)
    goal = np.maximum(np.broadcast_to(np.asarray(rtol, dtype=float), (S,)) * beta, atol)
    x = np.zeros((S, n))
    res = beta.copy()
    its = np.zeros(S, dtype=int)
    rows = np.flatnonzero(res > goal)  # the rest are solved by x = 0
    if rows.size:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            _arnoldi_givens(matvec, b, beta, goal, k, rows, x, res, its)
    return GmresResult(x, res, its, res <= goal)


def _arnoldi_givens(matvec, b, beta, goal, k, rows, x, res, its):
    """The GMRES loop over the active ``rows``; fills ``x``, ``res``, ``its`` in place."""
    m = rows.size
    n = b.shape[1]
    # Arnoldi basis, basis index first (V[j] is contiguous); grown on demand, as most systems
    # of an inexact Newton step stop after a few steps
    V = np.empty((min(k, 4) + 1, m, n))
    np.divide(b[rows], beta[rows, None], out=V[0])
    cols = []  # cols[j]: column j of the rotated Hessenberg matrix, shape (m, j + 1)
    cs, sn = [], []  # the Givens rotations, shape (m,) each
    g = np.zeros((m, k + 1))  # rotated right-hand side β e₁
    g[:, 0] = beta[rows]
    live = np.ones(m, dtype=bool)  # rows of this array whose solution is not yet written out
    for j in range(k):
        w = matvec(V[j], rows)
        # classical Gram–Schmidt, repeated once where it lost more than 30 % of the norm
        # (Daniel–Gragg–Kaufman–Stewart): orthogonal to working precision in batched passes
        Vj = V[: j + 1]
        w0 = np.linalg.norm(w, axis=-1)
        h = np.einsum("jmn,mn->mj", Vj, w)
        w -= np.einsum("mj,jmn->mn", h, Vj)
        hn = np.linalg.norm(w, axis=-1)
        if np.any(hn < 0.7 * w0):
            h2 = np.einsum("jmn,mn->mj", Vj, w)
            w -= np.einsum("mj,jmn->mn", h2, Vj)
            h += h2
            hn = np.linalg.norm(w, axis=-1)
        if j + 1 == V.shape[0]:
            V = np.concatenate([V, np.empty((min(V.shape[0], k + 1 - V.shape[0]), V.shape[1], n))])
        np.divide(w, hn[:, None], out=V[j + 1])
        # apply the previous rotations to the new column, then make the one that zeroes hn
        for i in range(j):
            t = cs[i] * h[:, i] + sn[i] * h[:, i + 1]
            h[:, i + 1] = cs[i] * h[:, i + 1] - sn[i] * h[:, i]
            h[:, i] = t
        r = np.hypot(h[:, j], hn)
        safe = np.where(r > 0, r, 1.0)
        cs.append(np.where(r > 0, h[:, j] / safe, 1.0))
        sn.append(np.where(r > 0, hn / safe, 0.0))
        h[:, j] = r
        cols.append(h)
        g[:, j + 1] = -sn[j] * g[:, j]
        g[:, j] *= cs[j]
        rj = np.abs(g[:, j + 1])
        # a system is done when it meets its goal, its Krylov space is exhausted (hn = 0), or at k
        done = live & ((rj <= goal[rows]) | ~(hn > 1e-14 * r) | (j + 1 == k) | ~np.isfinite(rj))
        if done.any():
            sel = np.flatnonzero(done)
            Rs = np.zeros((sel.size, j + 1, j + 1))
            for i in range(j + 1):
                Rs[:, : i + 1, i] = cols[i][sel]
            ii = np.arange(j + 1)
            bad = ~(np.abs(Rs[:, ii, ii]) > 0)  # a zero pivot: A_s singular on the Krylov space
            if bad.any():  # drop that direction
                Rs[:, ii, ii] = np.where(bad, 1.0, Rs[:, ii, ii])
            gs = np.where(bad, 0.0, g[sel, : j + 1])
            y = _upper_solve(Rs, gs)
            out = rows[sel]
            x[out] = np.einsum("mj,jmn->mn", y, V[: j + 1, sel])
            res[out] = rj[sel]
            its[out] = j + 1
            live[sel] = False
            if not live.any():
                return
            if live.sum() <= 0.75 * live.size:  # drop the finished systems from the batch
                keep = np.flatnonzero(live)
                V2 = np.empty((V.shape[0], keep.size, n))
                V2[: j + 2] = V[: j + 2, keep]
                V, g, rows, live = V2, g[keep], rows[keep], live[keep]
                cols = [c[keep] for c in cols]
                cs = [c[keep] for c in cs]
                sn = [c[keep] for c in sn]


def _upper_solve(R, g):
    """Back substitution for a stack of upper triangular systems ``R y = g`` (small, vectorized)."""
    m = R.shape[-1]
    y = np.zeros(g.shape)
    for i in range(m - 1, -1, -1):
        y[:, i] = (g[:, i] - np.einsum("mj,mj->m", R[:, i, i + 1 :], y[:, i + 1 :])) / R[:, i, i]
    return y
