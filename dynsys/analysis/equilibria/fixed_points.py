"""Fixed points, period-k points and slow points of maps (paper §2.2).

For a map ``F`` (paper eq. 1–2, any :class:`~dynsys.maps.Map`) and a constant input ``u``, a
*fixed point* solves ``F(x*, u) = x*``, a *period-k point* solves ``F^k(x*) = x*`` (and no smaller
power), and a *slow point* (Sussillo & Barak 2013) is a local minimum of
``q(x) = ½‖F(x) − x‖²`` with a small but non-zero value.

* One-dimensional maps: :func:`find_fixed_points` finds **all** fixed points in an interval by a
  sign-change scan of ``F^k(x) − x`` that also catches tangential roots and close pairs near a
  fold (:mod:`dynsys.analysis.equilibria.roots_1d`).
* n-dimensional maps: Newton's method with an Armijo line search on ``q``, **batched over all
  starts**, with chord finishing and stagnation rules (:mod:`dynsys.analysis.equilibria.newton`).
  Starts are states sampled from trajectories plus uniform points in a box that contains every
  fixed point (the map's ``state_box``, Map rule 12; for an RNN with a bounded activation
  ``|x − b| ≤ Σ_j |W_ij| sup|σ|``). Converged points are
  deduplicated (KD-tree + connected components).
* Slow points: :func:`find_slow_points` minimizes ``q`` by a batched Levenberg–Marquardt iteration.

The result is a :class:`FixedPoints` container with residuals, Jacobians, multipliers and the
stability class of :mod:`dynsys.analysis.equilibria.stability`.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> fp = find_fixed_points(UnitMap(w=5.0, b=-2.5, activation="sigmoid"))
>>> len(fp), fp.stability
(3, ('stable', 'unstable', 'stable'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..._validate import (
    check_choice,
    check_memory,
    check_positive_int,
    check_rng,
    progress_loop,
    progress_postfix,
    progress_wrapper,
)
from ...errors import DynsysError
from ...maps.base import Map
from .newton import iterate_k, linear_solver, newton_solve
from .roots_1d import interval_roots
from .stability import STABILITY_CLASSES, classify, multipliers

__all__ = [
    "FixedPoints",
    "find_fixed_points",
    "find_slow_points",
]

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
        ``"stable"``, ``"saddle"``, ``"unstable"`` or ``"neutral"`` (see :mod:`dynsys.analysis.equilibria.stability`).
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
    def stability_codes(self) -> np.ndarray:
        """The stability classes as integer codes: indices into
        :data:`~dynsys.analysis.equilibria.stability.STABILITY_CLASSES` (for arrays on disk)."""
        return np.array([STABILITY_CLASSES.index(s) for s in self.stability], dtype=int)

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
    u = map.validate_constant_input(u, "u")
    _check_params_finite(map)
    return u, period


def _check_params_finite(map):
    for name in getattr(map, "param_names", ()):
        v = getattr(map, name, None)
        if isinstance(v, (np.ndarray, float, int)) and not np.all(np.isfinite(v)):
            raise DynsysError(f"map parameter {name} must be finite")


#: float64 per start and coordinate at the peak of the Newton solve besides the Jacobians
#: (starts, trajectories, the line search's 5 trial points and their images, ...; measured)
_NEWTON_VECTORS = 16
#: the same for Newton–Krylov: the GMRES basis (17 vectors) and its work arrays (measured ~40)
_KRYLOV_VECTORS = 44
#: n × n float64 per start of the dense Jacobian stack: ``J − I`` and the solver's copies
#: (measured 1.0–1.4 at period 1; period k also holds the running product of the Jacobians)
_LU_MATRICES = 1.5
_LU_MATRICES_PERIOD = 3.0
#: n × n float64 per start of Levenberg–Marquardt: ``A = J − I``, ``AᵀA + λI``, the solve's copy
_LM_MATRICES = 4.5
#: float64 per grid point of the 1-D sign-change scan (values, derivatives, sorted copies, ...)
_SCAN_FLOATS = 16


def _size_argument(starts, n_starts) -> tuple[str, int | None]:
    """The argument that sets the number of starts, as the user gave it."""
    return ("starts", None) if starts is not None else ("n_starts", n_starts)


def _check_newton_memory(map, S: int, period: int, linear: str, name: str, value) -> None:
    """Refuse a batched Newton solve of ``S`` starts whose arrays would not fit in memory."""
    n = map.dim
    if linear_solver(map, period, linear) == "krylov":
        # GMRES vectors, plus the exact LU solve of the last few starts (< 32 active: LU)
        floats = _KRYLOV_VECTORS * S * n + _LU_MATRICES * min(S, 32) * n * n
        detail = f"{S} starts × {n} coordinates × {_KRYLOV_VECTORS} float64, Newton–Krylov"
    else:
        mats = _LU_MATRICES if period == 1 else _LU_MATRICES_PERIOD
        floats = mats * S * n * n + _NEWTON_VECTORS * S * n
        detail = f"{S} starts × {n}×{n} Jacobians of float64, Newton with LU"
    check_memory(8.0 * floats, name, "the Newton solve", value=value, detail=detail)


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------


def _default_starts(map, u, n_starts, rng, trajectory_steps, period):
    n = map.dim
    box = map.state_box(u)
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
    # the image of the origin and a few points around it: the fixed point that the low-gain network
    # x = W σ(x) + b has near F(0) (e.g. the origin itself of a tanh network without bias), which
    # random starts of a strongly recurrent network can all miss
    with np.errstate(over="ignore", invalid="ignore"):
        centre = map.step(np.zeros((1, n)), u)
    near = centre + 0.01 * (hi - lo) * rng.standard_normal((7, n))
    starts = np.concatenate([uni, traj, centre, near])
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
    linear: Literal["auto", "lu", "krylov"] = "auto",
    progress=None,
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
    rng : None, int, SeedSequence or Generator
        Seed for the sampled starts.
    tol : float
        A point is reported when ``‖F^k(x) − x‖ < tol``.
    dedup_tol : float
        Points closer than this are merged.
    grid : int
        One-dimensional maps: grid size of the sign-change scan.
    linear : {"auto", "lu", "krylov"}
        The linear solver of the Newton steps (:func:`~dynsys.analysis.equilibria.newton_solve`): exact LU
        per start, or Newton–Krylov (batched GMRES; matrix-free maps, Map rule 11: for an RNN one
        GEMM per step for all starts). ``"auto"`` takes Newton–Krylov for matrix-free maps from
        64 dimensions on.
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`): one step
        per Newton iteration of the whole batch of starts (at most ``max_iter``; the bar shows
        the starts still iterating). The arithmetic is the same with and without it.

    Returns
    -------
    FixedPoints
        A batch of starts (``n_starts`` or ``starts``) or a 1-D ``grid`` whose arrays would not
        fit in memory is refused before any work (:func:`dynsys._validate.check_memory`).
    """
    linear = check_choice(linear, "linear", ("auto", "lu", "krylov"))
    u, period = _validate(map, u, period)
    rng = check_rng(rng)
    progress_wrapper(progress)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    if map.dim == 1 and starts is None:
        if interval is None:
            box = map.state_box(u)
            interval = (float(box[0][0]), float(box[1][0])) if box is not None else (-10.0, 10.0)
            if box is not None:
                w = interval[1] - interval[0]
                interval = (interval[0] - 1e-6 * (1 + w), interval[1] + 1e-6 * (1 + w))
        lo = float(interval[0])
        hi = float(interval[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise DynsysError(f"interval must be finite with LO < HI, got {interval!r}")
        grid = check_positive_int(grid, "grid", minimum=3)
        check_memory(
            8.0 * _SCAN_FLOATS * grid,
            "grid",
            "the sign-change scan",
            value=grid,
            detail=f"{grid} points × {_SCAN_FLOATS} float64",
        )
        roots = interval_roots(map, u, period, (lo, hi), grid, tol)
        states = roots[:, None]
        message = f"1-D sign-change scan on [{lo:g}, {hi:g}] with {grid} points"
        n_used = grid
    else:
        name, value = _size_argument(starts, n_starts)
        if starts is None:
            n_starts = check_positive_int(n_starts, "n_starts")
            _check_newton_memory(map, n_starts + 8, period, linear, name, n_starts)
            starts = _default_starts(map, u, n_starts, rng, trajectory_steps, period)
        else:
            starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
            _check_newton_memory(map, starts.shape[0], period, linear, name, value)
        x, _res, conv = newton_solve(
            map,
            starts,
            u,
            period=period,
            tol=min(tol, 1e-12),
            max_iter=max_iter,
            linear=linear,
            progress=progress,
        )
        states = x[conv]
        solver = "Newton–Krylov" if linear_solver(map, period, linear) == "krylov" else "Newton (LU)"
        message = f"batched {solver} from {starts.shape[0]} starts: {int(conv.sum())} converged"
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
    progress=None,
) -> FixedPoints:
    """Slow points: local minima of ``q(x) = ½‖F(x) − x‖²`` with ``q ≤ q_max`` (Sussillo & Barak).

    Minimizes ``q`` from many starts at once with a batched Levenberg–Marquardt iteration
    ``(AᵀA + λI) d = −Aᵀ g`` (``A = J − I``, ``g = F(x) − x``, one ``λ`` per start). True fixed
    points (``q = 0``) are included and marked ``converged``. ``rng`` seeds the sampled starts
    (None, an int, a SeedSequence or a Generator); ``progress`` (the package's progress protocol,
    :func:`dynsys._validate.progress_wrapper`) shows one step per iteration (at most
    ``max_iter``). A batch of starts whose ``n × n`` matrices would not fit in memory is refused
    first (:func:`dynsys._validate.check_memory`).

    Returns
    -------
    FixedPoints
        ``converged`` is True for fixed points (residual < 1e-10), False for slow points.
    """
    u, _ = _validate(map, u, 1)
    rng = check_rng(rng)
    progress_wrapper(progress)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    name, value = _size_argument(starts, n_starts)
    if starts is None:
        n_starts = check_positive_int(n_starts, "n_starts")
        _check_lm_memory(map, n_starts + 8, name, n_starts)
        starts = _default_starts(map, u, n_starts, rng, trajectory_steps, 1)
    else:
        starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
        _check_lm_memory(map, starts.shape[0], name, value)
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
        progress_loop(progress, range(max_iter), total=max_iter, desc="slow points") as iterations,
    ):
        x, q = _levenberg_marquardt(map, u, starts, iterations)
    keep = np.isfinite(q) & (q <= q_max)
    states = x[keep]
    if states.shape[0]:
        states = states[_dedup(states, q[keep], dedup_tol)]
    return _assemble(
        map, states, u, 1, 1e-10, f"Levenberg–Marquardt on q from {starts.shape[0]} starts", starts.shape[0]
    )


def _check_lm_memory(map, S: int, name: str, value) -> None:
    n = map.dim
    floats = _LM_MATRICES * S * n * n + _NEWTON_VECTORS * S * n
    detail = f"{S} starts × {n}×{n} matrices of float64, Levenberg–Marquardt"
    check_memory(8.0 * floats, name, "the slow-point search", value=value, detail=detail)


def _levenberg_marquardt(map, u, starts, iterations):
    """Batched Levenberg–Marquardt on ``q``, one step per item of ``iterations``."""
    x = starts.copy()
    n = map.dim
    eye = np.eye(n)
    lam = np.full(x.shape[0], 1e-3)
    g = map.step(x, u) - x
    q = 0.5 * np.sum(g * g, -1)
    for _ in iterations:
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
        progress_postfix(iterations, improved=int(ok.sum()))
        if np.all(np.linalg.norm(grad, axis=-1) < 1e-13) or np.all(lam >= 1e12):
            break
    return x, q
