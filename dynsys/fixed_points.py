"""Fixed points, period-k points and slow points of maps (paper §2.2).

For a map ``F`` (paper eq. 1–2, any :class:`~dynsys.maps.Map`) and a constant input ``u``, a
*fixed point* solves ``F(x*, u) = x*``, a *period-k point* solves ``F^k(x*) = x*`` (and no smaller
power), and a *slow point* (Sussillo & Barak 2013) is a local minimum of
``q(x) = ½‖F(x) − x‖²`` with a small but non-zero value.

* One-dimensional maps: :func:`find_fixed_points` finds **all** fixed points in an interval. It
  samples ``g(x) = F^k(x) − x`` on a grid, adds the extrema of ``g`` (zeros of ``g′``, found by
  bisection), and refines every sign change with a batched safeguarded Newton–bisection. A
  tangential root (``g`` touches zero at an extremum, as at a fold) is accepted when ``|g|`` at the
  extremum is below ``tol``; two roots inside one grid cell are separated by the extremum between
  them, so close pairs near a fold are not missed.
* n-dimensional maps: Newton's method with an Armijo line search on ``q``, **batched over all
  starts** (one ``np.linalg.solve`` on the stack of ``J − I`` per iteration, analytic Jacobians).
  Starts leave the batch early: (a) when simplified Newton steps with the factorized ``J − I`` of
  the nearest root found already converge from their current iterate (cheap: one matrix product
  per step for all of them) — converged, nearly always duplicates; (b) when they stagnate (line search fails, tiny steps, or < 5 % decrease of the residual in 3
  iterations) — not converged, usually near a slow point. Starts are states sampled from
  trajectories plus uniform points in a box that contains every fixed point (for bounded
  activations: ``|x − b| ≤ Σ_j |W_ij| sup|σ|``). Converged points are deduplicated (KD-tree +
  connected components).

The result is a :class:`FixedPoints` container with residuals, Jacobians, multipliers and the
stability class of :mod:`dynsys.stability`.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> fp = find_fixed_points(UnitMap(w=5.0, b=-2.5, activation="sigmoid"))
>>> len(fp), fp.stability
(3, ('stable', 'unstable', 'stable'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DynsysError, as_float_array, check_positive_int
from .maps import Map, RNNMap, UnitMap
from .stability import classify, multipliers

__all__ = [
    "FixedPoints",
    "find_fixed_points",
    "find_slow_points",
    "newton_solve",
    "iterate_k",
    "state_box",
]

_BOUNDED = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "softsign": (-1.0, 1.0)}


# ---------------------------------------------------------------------------------------
# The result container
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FixedPoints:
    """Fixed points (or period-k points, or slow points) of a map.

    Attributes
    ----------
    states : ndarray, shape (k, n)
        The points, sorted by their first coordinate.
    residual : ndarray, shape (k,)
        ``‖F^period(x) − x‖₂``.
    jacobian : ndarray, shape (k, n, n)
        ``∂F^period/∂x`` at each point (product of one-step Jacobians along the orbit).
    multipliers : ndarray of complex, shape (k, n)
        Eigenvalues of ``jacobian``, by decreasing modulus.
    stability : tuple of str
        ``"stable"``, ``"saddle"``, ``"unstable"`` or ``"neutral"`` (see :mod:`dynsys.stability`).
    kind : tuple of str
        ``"node"``, ``"focus"`` or ``"flip-node"``.
    unstable_dim : ndarray of int, shape (k,)
        Number of multipliers outside the unit circle.
    converged : ndarray of bool, shape (k,)
        ``residual < tol`` (slow points have ``False``).
    period : int
        1 for fixed points, k for period-k points.
    u : ndarray or None
        The constant input used.
    message : str
        How the points were found.
    """

    states: np.ndarray
    residual: np.ndarray
    jacobian: np.ndarray
    multipliers: np.ndarray
    stability: tuple[str, ...]
    kind: tuple[str, ...]
    unstable_dim: np.ndarray
    converged: np.ndarray
    period: int = 1
    u: np.ndarray | None = None
    message: str = ""
    n_starts: int = field(default=0)

    def __len__(self) -> int:
        return self.states.shape[0]

    @property
    def stable(self) -> np.ndarray:
        """Boolean mask of the asymptotically stable points."""
        return np.array([s == "stable" for s in self.stability], dtype=bool)

    @property
    def q(self) -> np.ndarray:
        """``q = ½‖F(x) − x‖²`` (the slow-point objective)."""
        return 0.5 * self.residual**2

    def select(self, mask) -> FixedPoints:
        """The sub-collection given by a boolean mask or index array."""
        idx = np.arange(len(self))[np.asarray(mask)]
        pick = lambda t: tuple(t[i] for i in idx)  # noqa: E731
        return FixedPoints(
            self.states[idx],
            self.residual[idx],
            self.jacobian[idx],
            self.multipliers[idx],
            pick(self.stability),
            pick(self.kind),
            self.unstable_dim[idx],
            self.converged[idx],
            self.period,
            self.u,
            self.message,
            self.n_starts,
        )

    def to_dicts(self) -> list[dict]:
        """One JSON-able dict per point (used by the CLI)."""
        out = []
        for i in range(len(self)):
            mu = self.multipliers[i]
            out.append(
                {
                    "state": self.states[i].tolist(),
                    "residual": float(self.residual[i]),
                    "stability": self.stability[i],
                    "kind": self.kind[i],
                    "unstable_dim": int(self.unstable_dim[i]),
                    "period": self.period,
                    "multipliers_abs": np.abs(mu).tolist(),
                    "multipliers": [[float(m.real), float(m.imag)] for m in mu],
                }
            )
        return out

    def __repr__(self) -> str:
        return f"FixedPoints(k={len(self)}, period={self.period}, stability={self.stability})"


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


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


def state_box(map: Map, u=None) -> tuple[np.ndarray, np.ndarray] | None:
    """A box ``[lo, hi]`` (shape ``(n,)`` each) that contains every fixed point, or None.

    For :class:`RNNMap` and :class:`UnitMap` with a bounded activation the image of the map is
    bounded: ``x = W σ(x) + b + W_in u`` with ``σ ∈ [s₀, s₁]``.
    """
    if isinstance(map, RNNMap):
        act = map.activation.name
        if act not in _BOUNDED:
            return None
        s0, s1 = _BOUNDED[act]
        W = map.W_rec
        c = map.b + (0.0 if u is None or not map.input_dim else map.W_in @ u)
        lo = c + np.sum(np.minimum(W * s0, W * s1), axis=1)
        hi = c + np.sum(np.maximum(W * s0, W * s1), axis=1)
        return lo, hi
    if isinstance(map, UnitMap) and np.ndim(map.w) == 0 and np.ndim(map.b) == 0:
        act = map.activation.name
        if act not in _BOUNDED:
            return None
        s0, s1 = _BOUNDED[act]
        c = map.b + (0.0 if u is None else map.w_in * float(u[0]))
        return np.array([c + min(map.w * s0, map.w * s1)]), np.array([c + max(map.w * s0, map.w * s1)])
    return None


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

    Parameters
    ----------
    starts : ndarray, shape (S, n)

    Returns
    -------
    x : ndarray, shape (S, n)
    residual : ndarray, shape (S,)
        ``‖F^k(x) − x‖₂`` at the end.
    converged : ndarray of bool, shape (S,)
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _newton_solve(map, starts, u, period, tol, max_iter, max_backtrack, max_stalls, max_step)


_FIRST_ALPHAS = 5  # step lengths tried at once by the line search of newton_solve
_STAGNATION = (3, 0.95)  # give up a start whose residual fell by < 5 % in 3 iterations


def _jac_minus_identity(map, x, u, period, out=None):
    """``∂F^k/∂x − I`` for a stack of states; RNN maps write into the buffer ``out``."""
    if period == 1 and isinstance(map, RNNMap) and out is not None:
        S, n = x.shape
        A = np.multiply(map.W_rec, map.activation.deriv(x)[:, None, :], out=out[:S])
        A.reshape(S, n * n)[:, :: n + 1] -= 1.0  # a view: out[:S] is contiguous
        return A
    A = map.jacobian(x, u) if period == 1 else iterate_k(map, x, u, period)[1]
    A = np.array(A, dtype=float, copy=True) if not A.flags.writeable else A
    idx = np.arange(A.shape[-1])
    A[..., idx, idx] -= 1.0
    return A


def _newton_solve(map, starts, u, period, tol, max_iter, max_backtrack, max_stalls, max_step):
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
    buf = np.empty((act.size, n, n)) if isinstance(map, RNNMap) and period == 1 else None
    for it in range(max_iter):
        if act.size == 0:
            break
        A = _jac_minus_identity(map, xa, u, period, out=buf)
        try:
            d = np.linalg.solve(A, -ga[..., None])[..., 0]
        except np.linalg.LinAlgError:
            d = -np.einsum("sij,sj->si", np.linalg.pinv(A), ga)
        del A
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
        keep = moved & (stalls < max_stalls) & ~stagnant & np.isfinite(ra) & (ra >= tol)
        roots.add(xa[np.isfinite(ra) & (ra < tol)])
        hit, z, rz = roots.chord(xa, ga, ra, keep)
        if hit.size:  # converged by simplified Newton steps: done
            xa[hit], ra[hit] = z, rz
            x[act[hit]], res[act[hit]] = z, rz
            keep[hit] = False
        if not keep.all():
            act, xa, ga, ra, stalls, hist = (
                act[keep],
                xa[keep],
                ga[keep],
                ra[keep],
                stalls[keep],
                hist[:, keep],
            )
    if act.size:
        x[act], res[act] = xa, ra
    return x, res, np.isfinite(res) & (res < max(tol, 1e-10))


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


def _dedup(states, score, tol):
    """Indices of representatives: points closer than ``tol`` are merged (lowest score kept)."""
    if states.shape[0] <= 1:
        return np.arange(states.shape[0])
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(states).query_pairs(tol, output_type="ndarray")
    N = states.shape[0]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(N, N))
    _, labels = connected_components(graph, directed=False)
    order = np.lexsort((score, labels))
    first = np.ones(N, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    return order[first]


def _assemble(map, states, u, period, tol, message, n_starts, converged=None) -> FixedPoints:
    n = map.dim
    states = np.asarray(states, dtype=float).reshape(-1, n)
    order = np.lexsort(states.T[::-1])
    states = states[order]
    y, J = iterate_k(map, states, u, period)
    if J is None or states.shape[0] == 0:
        J = np.zeros((states.shape[0], n, n))
    res = np.linalg.norm(y - states, axis=-1)
    mu = multipliers(J) if len(states) else np.zeros((0, n), complex)
    stab, kind, udim = classify(mu) if len(states) else ((), (), np.zeros(0, int))
    conv = res < tol if converged is None else np.asarray(converged)[order]
    return FixedPoints(
        states,
        res,
        J,
        mu,
        stab,
        kind,
        udim,
        conv,
        period,
        None if u is None else np.asarray(u),
        message,
        n_starts,
    )


def _minimal_period_mask(map, states, u, period, tol):
    keep = np.ones(states.shape[0], dtype=bool)
    for d in range(1, period):
        if period % d == 0 and states.shape[0]:
            y, _ = iterate_k(map, states, u, d, jacobian=False)
            keep &= np.linalg.norm(y - states, axis=-1) > tol
    return keep


def _validate(map, u, period):
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    period = check_positive_int(period, "period")
    if u is not None:
        if map.input_dim == 0:
            raise DynsysError(f"u was given but {type(map).__name__} takes no input")
        u = as_float_array(u, "u", ndim=(0, 1))
        u = np.atleast_1d(u)
        if u.shape != (map.input_dim,):
            raise DynsysError(f"u must have shape ({map.input_dim},), got {u.shape}")
    _check_params_finite(map)
    return u, period


def _check_params_finite(map):
    for name in getattr(map, "param_names", ()):
        v = getattr(map, name, None)
        if isinstance(v, (np.ndarray, float, int)) and not np.all(np.isfinite(v)):
            raise DynsysError(f"map parameter {name} must be finite")


# ---------------------------------------------------------------------------------------
# One dimension: all roots in an interval
# ---------------------------------------------------------------------------------------


def _bracket_solve(f, a, b, fa, iters=200, xtol=0.0):
    """Vectorized safeguarded Newton–bisection on brackets ``[a, b]`` with ``sign f(a) ≠ sign f(b)``.

    ``f(x)`` returns ``(value, derivative)``. Returns the roots, shape ``(k,)``.
    """
    a, b, fa = a.copy(), b.copy(), fa.copy()
    x = 0.5 * (a + b)
    for _ in range(iters):
        fx, dfx = f(x)
        left = np.sign(fx) == np.sign(fa)
        a = np.where(left, x, a)
        fa = np.where(left, fx, fa)
        b = np.where(left, b, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - fx / dfx
        bad = ~np.isfinite(xn) | (xn <= np.minimum(a, b)) | (xn >= np.maximum(a, b))
        xn = np.where(bad, 0.5 * (a + b), xn)
        done = (fx == 0) | (np.abs(b - a) <= xtol + 4e-16 * np.abs(x)) | (np.abs(xn - x) <= 1e-16 * np.abs(x))
        x = np.where(done, x, xn)
        if done.all():
            break
    return x


def _roots_1d(map, u, period, interval, grid, tol):
    lo, hi = interval

    def g(x):  # g(x) = F^k(x) − x and g'(x), x shape (k,)
        y, J = iterate_k(map, x[:, None], u, period)
        return y[:, 0] - x, J[:, 0, 0] - 1.0

    def gp(x):  # g'(x) and a numerical g''(x) (for the Newton step of the extremum search)
        h = 1e-7 * np.maximum(1.0, np.abs(x))
        d0 = g(x)[1]
        return d0, (g(x + h)[1] - g(x - h)[1]) / (2 * h)

    xs = np.linspace(lo, hi, grid)
    gx, dgx = g(xs)
    # extrema of g between grid points (zeros of g′)
    ie = np.flatnonzero(np.sign(dgx[:-1]) * np.sign(dgx[1:]) < 0)
    xe = _bracket_solve(gp, xs[ie], xs[ie + 1], dgx[ie]) if ie.size else np.zeros(0)
    ge = g(xe)[0] if xe.size else np.zeros(0)
    tangential = xe[np.abs(ge) < tol]
    # augmented grid: sign changes of g on it bracket every transversal root
    X = np.concatenate([xs, xe])
    G = np.concatenate([gx, ge])
    order = np.argsort(X)
    X, G = X[order], G[order]
    exact = X[G == 0.0]
    s = np.sign(G)
    ic = np.flatnonzero(s[:-1] * s[1:] < 0)
    roots = _bracket_solve(g, X[ic], X[ic + 1], G[ic]) if ic.size else np.zeros(0)
    allr = np.concatenate([roots, exact, tangential])
    return allr[np.isfinite(allr)]


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------


def _default_starts(map, u, n_starts, rng, trajectory_steps, period):
    n = map.dim
    box = state_box(map, u)
    if box is None:
        x0 = rng.normal(size=(max(n_starts, 8), n))
        with np.errstate(over="ignore", invalid="ignore"):
            y, _ = iterate_k(map, x0, u, trajectory_steps, jacobian=False)
        cloud = np.concatenate([x0, y[np.all(np.isfinite(y), axis=-1) & (np.abs(y).max(-1) < 1e6)]])
        lo, hi = cloud.min(0) - 0.5, cloud.max(0) + 0.5
    else:
        lo, hi = box
        pad = 0.05 * (hi - lo) + 1e-9
        lo, hi = lo - pad, hi + pad
    n_traj = n_starts // 2
    uni = lo + (hi - lo) * rng.random((n_starts - n_traj, n))
    # states visited by trajectories (Sussillo & Barak): run and sample a random time of each
    x = lo + (hi - lo) * rng.random((n_traj, n))
    T = max(1, trajectory_steps)
    pick = rng.integers(0, T, size=n_traj)
    traj = np.empty((n_traj, n))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            traj[pick == t] = x[pick == t]
            x = map.step(x, u)
    traj += 1e-3 * (hi - lo) * rng.standard_normal(traj.shape)
    starts = np.concatenate([uni, traj])
    return starts[np.all(np.isfinite(starts), axis=-1)]


def find_fixed_points(
    map: Map,
    u=None,
    *,
    period: int = 1,
    interval=None,
    starts=None,
    n_starts: int = 256,
    rng=None,
    tol: float = 1e-10,
    dedup_tol: float = 1e-6,
    max_iter: int = 60,
    grid: int = 4001,
    trajectory_steps: int = 30,
) -> FixedPoints:
    """All fixed points (``period=1``) or period-k points of ``map`` with constant input ``u``.

    Parameters
    ----------
    map : Map
        Any map (paper eq. 1–2).
    u : array_like, shape (m,), optional
        A constant input (``F(x, u)``); None for the autonomous map.
    period : int
        Find points of minimal period ``period`` (fixed points of ``F^period``).
    interval : (float, float), optional
        One-dimensional maps: the search interval. Default: the image of the map for bounded
        activations (it holds every fixed point), else ``(-10, 10)``.
    starts : array_like, shape (S, n), optional
        n-dimensional maps: explicit Newton starts (default: sampled, see module docstring).
    n_starts : int
        Number of sampled starts when ``starts`` is None.
    rng : None, int or Generator
        Seed for the sampled starts.
    tol : float
        A point is reported when ``‖F^k(x) − x‖ < tol``.
    dedup_tol : float
        Points closer than this are merged.
    grid : int
        One-dimensional maps: grid size of the sign-change scan.

    Returns
    -------
    FixedPoints
    """
    u, period = _validate(map, u, period)
    rng = np.random.default_rng(rng)
    if map.dim == 1 and starts is None:
        if interval is None:
            box = state_box(map, u)
            interval = (float(box[0][0]), float(box[1][0])) if box is not None else (-10.0, 10.0)
            if box is not None:
                w = interval[1] - interval[0]
                interval = (interval[0] - 1e-6 * (1 + w), interval[1] + 1e-6 * (1 + w))
        lo = float(interval[0])
        hi = float(interval[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise DynsysError(f"interval must be finite with LO < HI, got {interval!r}")
        grid = check_positive_int(grid, "grid", minimum=3)
        roots = _roots_1d(map, u, period, (lo, hi), grid, tol)
        states = roots[:, None]
        message = f"1-D sign-change scan on [{lo:g}, {hi:g}] with {grid} points"
        n_used = grid
    else:
        if starts is None:
            n_starts = check_positive_int(n_starts, "n_starts")
            starts = _default_starts(map, u, n_starts, rng, trajectory_steps, period)
        else:
            starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
        x, _res, conv = newton_solve(map, starts, u, period=period, tol=min(tol, 1e-12), max_iter=max_iter)
        states = x[conv]
        message = f"batched Newton from {starts.shape[0]} starts: {int(conv.sum())} converged"
        n_used = starts.shape[0]
    if states.shape[0]:
        y, _ = iterate_k(map, states, u, period, jacobian=False)
        keep = _dedup(states, np.linalg.norm(y - states, axis=-1), dedup_tol)
        states = states[keep]
        if period > 1:
            states = states[_minimal_period_mask(map, states, u, period, dedup_tol)]
    fp = _assemble(map, states, u, period, tol, message, n_used)
    return fp.select(fp.converged)


def find_slow_points(
    map: Map,
    u=None,
    *,
    starts=None,
    n_starts: int = 256,
    rng=None,
    q_max: float = 1e-3,
    max_iter: int = 300,
    dedup_tol: float = 1e-3,
    trajectory_steps: int = 30,
) -> FixedPoints:
    """Slow points: local minima of ``q(x) = ½‖F(x) − x‖²`` with ``q ≤ q_max`` (Sussillo & Barak).

    Minimizes ``q`` from many starts at once with a batched Levenberg–Marquardt iteration
    ``(AᵀA + λI) d = −Aᵀ g`` (``A = J − I``, ``g = F(x) − x``, one ``λ`` per start). True fixed
    points (``q = 0``) are included and marked ``converged``.

    Returns
    -------
    FixedPoints
        ``converged`` is True for fixed points (residual < 1e-10), False for slow points.
    """
    u, _ = _validate(map, u, 1)
    rng = np.random.default_rng(rng)
    if starts is None:
        starts = _default_starts(map, u, check_positive_int(n_starts, "n_starts"), rng, trajectory_steps, 1)
    else:
        starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        x, q = _levenberg_marquardt(map, u, starts, max_iter)
    keep = np.isfinite(q) & (q <= q_max)
    states = x[keep]
    if states.shape[0]:
        states = states[_dedup(states, q[keep], dedup_tol)]
    return _assemble(
        map, states, u, 1, 1e-10, f"Levenberg–Marquardt on q from {starts.shape[0]} starts", starts.shape[0]
    )


def _levenberg_marquardt(map, u, starts, max_iter):
    x = starts.copy()
    n = map.dim
    eye = np.eye(n)
    lam = np.full(x.shape[0], 1e-3)
    g = map.step(x, u) - x
    q = 0.5 * np.sum(g * g, -1)
    for _ in range(max_iter):
        A = map.jacobian(x, u) - eye
        At = np.swapaxes(A, -1, -2)
        grad = np.einsum("sij,sj->si", At, g)
        H = At @ A + lam[:, None, None] * eye
        d = -np.linalg.solve(H, grad[..., None])[..., 0]
        xt = x + d
        gt = map.step(xt, u) - xt
        qt = 0.5 * np.sum(gt * gt, -1)
        ok = np.isfinite(qt) & (qt < q)
        x[ok], g[ok], q[ok] = xt[ok], gt[ok], qt[ok]
        lam = np.where(ok, np.maximum(lam / 3.0, 1e-12), np.minimum(lam * 4.0, 1e12))
        if np.all(np.linalg.norm(grad, axis=-1) < 1e-13) or np.all(lam >= 1e12):
            break
    return x, q
