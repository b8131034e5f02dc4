"""Batched Newton's method for fixed points and period-k points of maps (paper §2.2).

Solves ``H(x) = F^k(x, u) − x = 0`` for many starts at once (any :class:`~dynsys.maps.Map`, paper
eq. 1–2) with the analytic Jacobians of the map (column convention, eq. 5). The Newton direction
is either exact (one ``np.linalg.solve`` on the stack of ``J − I`` per iteration) or, for RNN
maps, inexact Newton–Krylov: preconditioned batched GMRES with Eisenstat–Walker forcing terms,
where each Krylov step is one GEMM for all starts (see :func:`newton_solve`, ``linear``). The
rules, in :func:`newton_solve`:

* **Line search**: an Armijo search on ``q(x) = ½‖F^k(x) − x‖²`` that tries ``α ∈ {1, ½, …, 1/16}``
  in one batched map evaluation and keeps the best, then backtracks further where none decreases
  ``q``; wild steps (near-singular ``J − I``) are capped.
* **Chord finishing**: once roots are known, a start tries simplified Newton steps with the
  factorized ``J(x*) − I`` of its nearest root ``x*`` (one matrix product per step for all such
  starts); if they reach the tolerance it leaves the batch converged — nearly always a duplicate.
* **Stagnation**: a start whose line search fails, whose accepted steps stay tiny, or whose
  residual falls by less than 5 % in 3 iterations is given up (``converged`` False) — usually it
  is sliding into a slow point; so is one that leaves the map's periodic box (``box``) by more
  than the box's width, where no periodic point lies.

:func:`iterate_k` gives ``F^k`` and its Jacobian; :mod:`dynsys.analysis.equilibria.fixed_points` builds the starts,
deduplicates the roots and classifies them.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import LogisticMap
>>> x, res, ok = newton_solve(LogisticMap(2.5), np.array([[0.4], [0.9]]))
>>> x[:, 0].round(12).tolist(), ok.tolist()
([0.6, 0.6], [True, True])
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..._validate import check_choice, progress_loop, progress_postfix
from ...maps.base import Map
from .krylov import batched_gmres

__all__ = ["newton_solve", "iterate_k", "linear_solver"]


def iterate_k(map: Map, x, u=None, k: int = 1, jacobian: bool = True):
    """``F^k(x)`` and its Jacobian ``J(x_{k-1}) ⋯ J(x_0)`` (column convention, eq. 5).

    Parameters
    ----------
    x : ndarray, shape (..., n)

    Returns
    -------
    y : ndarray, shape (..., n)
    J : ndarray, shape (..., n, n) or None
    """
    J = None
    for _ in range(k):
        if jacobian:
            Jx = map.jacobian(x, u)
            J = Jx if J is None else Jx @ J
        x = map.step(x, u)
    return x, J


def newton_solve(
    map: Map,
    starts,
    u=None,
    *,
    period: int = 1,
    tol: float = 1e-12,
    max_iter: int = 60,
    max_backtrack: int = 12,
    max_stalls: int = 3,
    max_step: float | None = None,
    linear: Literal["auto", "lu", "krylov"] = "auto",
    box=None,
    progress=None,
):
    """Batched Newton's method with Armijo line search for ``F^k(x) = x``.

    Every start is one Newton iteration per loop pass: ``(J − I) d = −(F^k(x) − x)`` is solved
    for the whole stack at once. The step is the best (lowest ``q``) of ``α ∈ {1, ½, …, 1/16}``
    among those with ``q(x + α d) ≤ (1 − 10⁻⁴ α) q(x)`` (one batched map evaluation), else
    ``α`` is backtracked further. Once roots are known, each active start also tries up to 12
    chord steps ``z ← z − (J(x*) − I)⁻¹ (F^k(z) − z)`` with the nearest root ``x*`` (abandoned as
    soon as the residual fails to halve); a start whose chord run reaches the tolerance is
    converged there. Starts whose residual falls by less than 5 % in 3 iterations, or whose line
    search keeps failing, are given up (``converged`` False). Inner function: inputs are trusted.

    The Newton direction comes from one of two linear solvers (``linear``):

    * ``"lu"``: the exact solve, one LU factorization of ``J − I`` per start and iteration
      (O(n³) each; any map and period).
    * ``"krylov"``: inexact Newton–Krylov for matrix-free maps (Map rule 11; period 1): batched
      GMRES (:mod:`dynsys.analysis.equilibria.krylov`) on ``(J − I) d = −g`` until
      ``‖(J − I) d + g‖ ≤ η ‖g‖`` with Eisenstat–Walker forcing terms ``η`` (loose, ``η ≥ 0.7``,
      while ``‖g‖ > 10⁻²``; then choice 2, ``η = 0.9 (‖g_k‖/‖g_{k−1}‖)²``, which gives
      superlinear convergence), right preconditioned by the map's ``precondition`` (an RNN:
      ``(c W − I)⁻¹`` with ``c`` the mean of ``σ′(x)`` per start, a few shared n×n inverses).
      For an RNN every Krylov step is one GEMM for all starts, O(S n²); starts whose GMRES
      misses ``η`` within 16 steps fall back to the exact LU solve. Other maps and periods use
      ``"lu"``.
    * ``"auto"`` (default): ``"krylov"`` for matrix-free maps with ``n ≥ 64`` and period 1, else
      ``"lu"`` (measured in ``benchmarks/bench_fixed_points.py``: at n = 32 the two are on par,
      from n = 64 on Newton–Krylov is faster and converges more starts).

    Both stop at the same tolerance on the true residual ``‖F^k(x) − x‖``, so every converged
    point is a root to ``tol``; which root a start reaches may differ.

    Parameters
    ----------
    starts : ndarray, shape (S, n)
    linear : {"auto", "lu", "krylov"}
        The linear solver of the Newton steps (see above).
    box : (ndarray, ndarray), optional
        The map's periodic box ``(lo, hi)`` (Map rule 19): a start whose iterate leaves the box
        widened by its width on every side (``[lo − w, hi + w]``, ``w = hi − lo``) is given up.
        No periodic point lies out there; a GRU's iterates slide there towards the saturated
        update gate, where ``q`` falls without end, for all ``max_iter`` iterations.
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`): one step per
        iteration (at most ``max_iter``), showing the starts still iterating when the bar can
        (``set_postfix``). Does not change the arithmetic.

    Returns
    -------
    x : ndarray, shape (S, n)
    residual : ndarray, shape (S,)
        ``‖F^k(x) − x‖₂`` at the end.
    converged : ndarray of bool, shape (S,)
    """
    krylov = linear_solver(map, period, linear) == "krylov"
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
        progress_loop(progress, range(max_iter), total=max_iter, desc="fixed points: Newton") as iterations,
    ):
        return _newton_solve(
            map, starts, u, period, tol, iterations, max_backtrack, max_stalls, max_step, krylov, box
        )


_AUTO_KRYLOV_DIM = 64  # "auto": Newton–Krylov for matrix-free maps from this dimension on (measured)


def linear_solver(map: Map, period: int = 1, linear: str = "auto") -> str:
    """The linear solver :func:`newton_solve` uses for ``map``: ``"lu"`` or ``"krylov"``.

    Newton–Krylov applies ``J − I`` through the map's linearization (Map rule 11; period 1) and
    pays off only when that is matrix-free (``map.matrix_free``: an RNN, one GEMM per Krylov step);
    other maps form ``J`` anyway and take the exact LU solve. ``"auto"`` takes Newton–Krylov from
    ``n ≥ 64`` on, where it is measured faster than per-start LU.
    """
    linear = check_choice(linear, "linear", ("auto", "lu", "krylov"))
    if period != 1 or not map.matrix_free:
        return "lu"
    if linear == "krylov" or (linear == "auto" and map.dim >= _AUTO_KRYLOV_DIM):
        return "krylov"
    return "lu"


_FIRST_ALPHAS = 5  # step lengths tried at once by the line search of newton_solve
_STAGNATION = (3, 0.95)  # give up a start whose residual fell by < 5 % in 3 iterations


def _jac_minus_identity(map, x, u, period, workspace=None):
    """``∂F^k/∂x − I`` for a stack of states (period 1: the map's linearization, which may write
    into a buffer of ``workspace``)."""
    if period == 1:
        A = map.linearize(x, u, workspace=workspace).dense()
        S, n = x.shape
        if A.flags.c_contiguous:
            A.reshape(S, n * n)[:, :: n + 1] -= 1.0  # a view: the diagonal of every matrix
            return A
    else:
        A = iterate_k(map, x, u, period)[1]
        A = np.array(A, dtype=float, copy=True) if not A.flags.writeable else A
    idx = np.arange(A.shape[-1])
    A[..., idx, idx] -= 1.0
    return A


def _exact_direction(A, g):
    """The Newton direction ``d = −A⁻¹ g`` for a stack ``A = J − I`` (pseudo-inverse if singular)."""
    try:
        return np.linalg.solve(A, -g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return -np.einsum("sij,sj->si", np.linalg.pinv(A), g)


def _newton_solve(map, starts, u, period, tol, iterations, max_backtrack, max_stalls, max_step, krylov, box):
    # The active set is kept compact (rows of still-iterating starts only): no scatter/gather of
    # the (S, n, n) Jacobian stack, which would cost as much as the linear solves.
    x = np.array(starts, dtype=float, copy=True)
    S, n = x.shape
    y, _ = iterate_k(map, x, u, period, jacobian=False)
    res = np.linalg.norm(y - x, axis=-1)
    act = np.flatnonzero(np.isfinite(res) & (res >= tol))
    xa, ga, ra = x[act], (y - x)[act], res[act]
    stalls = np.zeros(act.size, dtype=int)
    # residuals of the last iterations (stagnation test); the roots found so far
    hist = np.full((_STAGNATION[0], act.size), np.inf)
    roots = _ChordRoots(map, u, period, tol)
    if box is not None:  # give up iterates beyond the periodic box widened by its width
        width = box[1] - box[0]
        width = np.maximum(width, 0.1 * np.mean(width) + 1e-9)
        far_lo, far_hi = box[0] - width, box[1] + width
    # buffers and caches of the map's linearizations for this solve (Map rule 11): an RNN keeps
    # its Jacobian buffer and its shared preconditioner inverses here
    workspace: dict = {}
    eta = np.full(act.size, _EW_ETA0)  # Eisenstat–Walker forcing terms (Newton–Krylov)
    for it in iterations:  # range(max_iter), possibly wrapped by the progress protocol
        progress_postfix(iterations, active=int(act.size))
        if act.size == 0:
            break
        r_old = ra.copy()
        if krylov and act.size >= _KRYLOV_MIN_BATCH:
            d = _krylov_direction(map, xa, u, ga, eta, workspace)
        else:
            d = _exact_direction(_jac_minus_identity(map, xa, u, period, workspace), ga)
        # cap wild steps (near-singular J − I) to keep the line search meaningful
        cap = 10.0 * (1.0 + np.linalg.norm(xa, axis=-1)) if max_step is None else max_step
        nd = np.linalg.norm(d, axis=-1)
        d *= np.minimum(1.0, cap / np.maximum(nd, 1e-300))[:, None]
        q0 = ra**2
        # line search: the best of α = 1, ½, …, 1/16 (one batched map evaluation; cuts the
        # iterations of the global phase by ~20 % against first-acceptable backtracking), then
        # plain Armijo backtracking below 1/16 for the starts where none of these decreases q
        ks = min(_FIRST_ALPHAS, max_backtrack)
        alphas = 0.5 ** np.arange(ks)
        xt = xa[None] + alphas[:, None, None] * d[None]
        yt, _ = iterate_k(map, xt.reshape(-1, xa.shape[-1]), u, period, jacobian=False)
        yt = yt.reshape(xt.shape)
        qt = np.sum((yt - xt) ** 2, axis=-1)
        ok = np.isfinite(qt) & (qt <= (1.0 - 1e-4 * alphas[:, None]) * q0[None])
        qt = np.where(ok, qt, np.inf)
        best = np.argmin(qt, axis=0)
        rows = np.arange(act.size)
        alpha = alphas[best]
        xn, yn = xt[best, rows], yt[best, rows]
        pending = np.flatnonzero(~ok[best, rows])
        alpha[pending] = alphas[-1] * 0.5
        for _bt in range(ks, max_backtrack):
            if pending.size == 0:
                break
            xt = xa[pending] + alpha[pending, None] * d[pending]
            yt, _ = iterate_k(map, xt, u, period, jacobian=False)
            qt = np.sum((yt - xt) ** 2, axis=-1)
            ok = np.isfinite(qt) & (qt <= (1.0 - 1e-4 * alpha[pending]) * q0[pending])
            sel = pending[ok]
            xn[sel], yn[sel] = xt[ok], yt[ok]
            pending = pending[~ok]
            alpha[pending] *= 0.5
        moved = np.ones(act.size, dtype=bool)
        moved[pending] = False  # line search failed: stalled at a minimum of q (slow point?)
        xa[moved] = xn[moved]
        ga[moved] = yn[moved] - xn[moved]
        ra[moved] = np.linalg.norm(ga[moved], axis=-1)
        # tiny accepted steps mean Newton is sliding into a minimum of q that is not a root
        stalls = np.where(moved & (alpha >= 1.0 / 32), 0, stalls + 1)
        # stagnation: less than 5 % decrease of the residual over the last 3 iterations
        stagnant = ra > _STAGNATION[1] * hist[it % _STAGNATION[0]]
        hist[it % _STAGNATION[0]] = ra
        x[act], res[act] = xa, ra
        if krylov:
            eta = _forcing(eta, ra, r_old, tol)
        keep = moved & (stalls < max_stalls) & ~stagnant & np.isfinite(ra) & (ra >= tol)
        if box is not None:
            keep &= ~np.any((xa < far_lo) | (xa > far_hi), axis=-1)
        roots.add(xa[np.isfinite(ra) & (ra < tol)])
        hit, z, rz = roots.chord(xa, ga, ra, keep)
        if hit.size:  # converged by simplified Newton steps: done
            xa[hit], ra[hit] = z, rz
            x[act[hit]], res[act[hit]] = z, rz
            keep[hit] = False
        if not keep.all():
            act, xa, ga, ra, stalls, hist, eta = (
                act[keep],
                xa[keep],
                ga[keep],
                ra[keep],
                stalls[keep],
                hist[:, keep],
                eta[keep],
            )
    if act.size:
        x[act], res[act] = xa, ra
    return x, res, np.isfinite(res) & (res < max(tol, 1e-10))


_EW_ETA0, _EW_ETA_MAX, _EW_GAMMA, _EW_ALPHA = 0.7, 0.9, 0.9, 2.0  # Eisenstat–Walker choice 2
_KRYLOV_MAXITER = 16  # GMRES steps before a start falls back to the exact LU solve
_KRYLOV_MIN_BATCH = 32  # fewer active starts: exact LU (less per-iteration overhead; measured)
_EW_GLOBAL = 1e-2  # residual above which a step counts as global phase (η ≥ η₀)


def _forcing(eta, r, r_old, tol):
    """Eisenstat–Walker (1996) choice 2: ``η = γ (‖g_k‖/‖g_{k−1}‖)^α`` with their safeguard.

    Never asks for a linear residual below ``tol/2`` (no over-solving at the last step).
    """
    new = _EW_GAMMA * (r / np.maximum(r_old, 1e-300)) ** _EW_ALPHA
    prev = _EW_GAMMA * eta**_EW_ALPHA
    new = np.where(prev > 0.1, np.maximum(new, prev), new)
    new = np.maximum(new, 0.5 * tol / np.maximum(r, 1e-300))
    new = np.where(r > _EW_GLOBAL, np.maximum(new, _EW_ETA0), new)
    return np.clip(np.nan_to_num(new, nan=_EW_ETA_MAX), 0.0, _EW_ETA_MAX)


def _krylov_direction(map, xa, u, ga, eta, workspace):
    """Inexact Newton direction: ``‖(J − I) d + g‖ ≤ η ‖g‖`` by batched GMRES.

    ``(J_s − I) v`` for all starts comes from the map's linearization (Map rule 11: for an RNN
    ``W (σ′(x_s) ∘ v) − v``, one GEMM per Krylov step, eq. 2, 5), right preconditioned by its
    ``precondition`` (an RNN: the shared ``(c W − I)⁻¹``). Starts whose GMRES misses its forcing
    term within ``_KRYLOV_MAXITER`` steps (nearly singular ``J − I``) get the exact LU solve.
    """
    lin = map.linearize(xa, u, workspace=workspace)

    def matvec(V, rows):  # (J − I) M V, M the preconditioner
        V = lin.precondition(V, rows)
        out = lin.matvec(V, rows)
        out -= V
        return out

    r = batched_gmres(matvec, -ga, eta, maxiter=_KRYLOV_MAXITER)
    d = lin.precondition(r.x)
    bad = np.flatnonzero(~r.converged)
    if bad.size:  # GMRES stalls on nearly singular J − I: exact LU for those starts
        d[bad] = _exact_direction(_jac_minus_identity(map, xa[bad], u, 1), ga[bad])
    return d


class _ChordRoots:
    """Roots found so far, with ``(J(x*) − I)⁻¹``, to finish starts by simplified Newton steps.

    Once a root ``x*`` is known, an active start ``x`` whose nearest root is ``x*`` tries the
    chord iteration ``z ← z − (J(x*) − I)⁻¹ (F^k(z) − z)`` (one matrix product for all such
    starts). Where it reaches ``‖F^k(z) − z‖ < tol`` within ``steps`` steps the start has converged
    (usually to ``x*``: a duplicate) and leaves the batch several Newton iterations early; a chord
    run whose residual does not at least halve per step is abandoned at once.
    """

    def __init__(self, map, u, period, tol, steps=12, same=1e-8):
        self.map, self.u, self.period, self.tol, self.steps, self.same = map, u, period, tol, steps, same
        self.roots = []
        self.inverses = []

    def add(self, states):
        """Register converged states (those within ``same`` of a known root are skipped)."""
        for x in states:
            if self.roots and np.min(np.linalg.norm(np.array(self.roots) - x, axis=-1)) < self.same * (
                1.0 + np.linalg.norm(x)
            ):
                continue
            A = _jac_minus_identity(self.map, x[None], self.u, self.period)[0]
            try:
                inv = np.linalg.inv(A)
            except np.linalg.LinAlgError:
                continue
            if np.all(np.isfinite(inv)):
                self.roots.append(np.array(x))
                self.inverses.append(inv)

    def chord(self, xa, ga, ra, cand):
        """Indices (into ``xa``) of candidates the chord iteration converged, their ``z`` and residuals."""
        none = np.zeros(0, dtype=int), np.zeros((0, xa.shape[-1])), np.zeros(0)
        cand = np.flatnonzero(cand)
        if not self.roots or cand.size == 0:
            return none
        R = np.array(self.roots)
        xc = xa[cand]
        d2 = np.sum(xc**2, -1)[:, None] + np.sum(R**2, -1)[None] - 2.0 * xc @ R.T
        near = np.argmin(d2, axis=-1)
        hits, zs, rs = [], [], []
        for k in np.unique(near):
            idx = cand[near == k]
            z, r = xa[idx].copy(), np.full(idx.size, np.inf)
            MT = self.inverses[k].T
            for step in range(self.steps + 1):
                if step == 0:  # F(x) − x is known
                    g, rn = ga[idx], ra[idx]
                else:
                    y, _ = iterate_k(self.map, z, self.u, self.period, jacobian=False)
                    g = y - z
                    rn = np.linalg.norm(g, axis=-1)
                done = np.isfinite(rn) & (rn < self.tol)
                if done.any():
                    hits.append(idx[done])
                    zs.append(z[done])
                    rs.append(rn[done])
                go = np.isfinite(rn) & ~done & (rn < 0.5 * r)
                if not go.any():
                    break
                idx, z, r, g = idx[go], z[go], rn[go], g[go]
                z = z - g @ MT
        if not hits:
            return none
        return np.concatenate(hits), np.concatenate(zs), np.concatenate(rs)
