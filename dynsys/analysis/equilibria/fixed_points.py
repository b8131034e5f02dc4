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
  periodic point (the map's ``periodic_box``, Map rule 19: by default the ``state_box`` of rule
  12, for an RNN with a bounded activation ``|x − b| ≤ Σ_j |W_ij| sup|σ|``; for a GRU inside the
  open cube ``(−1, 1)ⁿ``), then midpoints of pairs of the points found, where the saddles between
  attractors sit (:mod:`dynsys.analysis.equilibria.starts`). Converged points outside the box are
  rejected (and counted): they are not periodic points but artefacts of rounding, such as the far
  states of a GRU whose update gate saturates to 1.0, where ``F(h) = h`` to the last bit.
  Converged points are deduplicated (KD-tree + connected components).
* Slow points: :func:`find_slow_points` minimizes ``q`` by a batched Levenberg–Marquardt iteration
  with per-start exits and polishes the minima by Newton's method on ``∇q`` with the full
  Hessian (:mod:`dynsys.analysis.equilibria.slow_points`).

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

from typing import Literal

import numpy as np

from ..._validate import (
    check_choice,
    check_memory,
    check_positive_int,
    check_rng,
    progress_loop,
    progress_wrapper,
)
from ...errors import DynsysError
from ...maps.base import Map
from .newton import iterate_k, linear_solver, newton_solve
from .points import FixedPoints, assemble, dedup
from .roots_1d import interval_roots
from .slow_points import ROOT_TOL, minimize_q, polish_minima
from .starts import inside_box, pair_midpoints, periodic_box, sampled_starts

__all__ = ["find_fixed_points", "find_slow_points"]


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
#: n × n float64 per start of Levenberg–Marquardt: ``A = J − I``, ``AᵀA``, its damped copy and
#: the solve's copy
_LM_MATRICES = 4.5
#: float64 per grid point of the 1-D sign-change scan (values, derivatives, sorted copies, ...)
_SCAN_FLOATS = 16
#: rounds of midpoint starts after the first Newton solve (each only while it finds new points),
#: and their number of pairs per start of the first solve (2: every pair of the 27 fixed points of
#: a 3-bit flip-flop from 256 starts; 1 missed saddles between distant points, measured)
_MIDPOINT_ROUNDS = 2
_MIDPOINT_PAIRS = 2


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


def _distinct(states, res, tol):
    """The distinct ``states`` (lowest residual ``res`` kept) and their residuals."""
    keep = dedup(states, res, tol)
    return states[keep], res[keep]


def _newton_search(map, starts, u, period, tol, dedup_tol, box, midpoints, solve):
    """Newton from ``starts``, then (``midpoints``) from midpoints of pairs of the points found.

    Round ``r ≥ 1`` starts from the midpoints of up to ``2 len(starts)`` pairs (nearest first)
    with at least one point new in round ``r − 1``, solved in batches of at most ``len(starts)``
    (the size the memory check allowed), and stops as soon as a round finds nothing new.
    Returns the distinct points inside ``box``, the distinct points rejected outside it, the
    number of converged starts, of starts used and of midpoint starts.
    """
    from scipy.spatial import cKDTree

    found, res = solve(starts)
    n_conv, n_mid = found.shape[0], 0
    inside = inside_box(found, box, tol)
    rejected, rej_res = [found[~inside]], [res[~inside]]
    points, _ = _distinct(found[inside], res[inside], dedup_tol)
    new = np.ones(points.shape[0], dtype=bool)
    for _round in range(_MIDPOINT_ROUNDS if midpoints and map.dim >= 2 else 0):
        S = starts.shape[0]
        mids = pair_midpoints(points, _MIDPOINT_PAIRS * S, new)
        if mids.shape[0] == 0:
            break
        parts = [solve(mids[c : c + S]) for c in range(0, mids.shape[0], S)]
        more, res = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        n_mid += mids.shape[0]
        n_conv += more.shape[0]
        inside = inside_box(more, box, tol)
        rejected.append(more[~inside])
        rej_res.append(res[~inside])
        more, _ = _distinct(more[inside], res[inside], dedup_tol)
        if more.shape[0] and points.shape[0]:
            more = more[cKDTree(points).query(more)[0] > dedup_tol]
        if more.shape[0] == 0:
            break
        points = np.concatenate([points, more])
        new = np.r_[np.zeros(points.shape[0] - more.shape[0], dtype=bool), np.ones(more.shape[0], dtype=bool)]
    rejected, _ = _distinct(np.concatenate(rejected), np.concatenate(rej_res), dedup_tol)
    return points, rejected, n_conv, starts.shape[0] + n_mid, n_mid


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------


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
    midpoints: bool | None = None,
    linear: Literal["auto", "lu", "krylov"] = "auto",
    progress=None,
) -> FixedPoints:
    """All fixed points (``period=1``) or period-k points of ``map`` with constant input ``u``.

    Parameters
    ----------
    map : Map
        Any map (paper eq. 1–2).
    u : array_like, shape (m,), optional
        A constant input (``F(x, u)``); None is what the map's ``step(x, None)`` computes: the
        autonomous map, or the zero input for the built-in maps with inputs.
    period : int
        Find points of minimal period ``period`` (fixed points of ``F^period``).
    interval : (float, float), optional
        One-dimensional maps: the search interval. Default: the map's periodic box (Map rule 19;
        for bounded activations the image of the map), else ``(-10, 10)``.
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
    midpoints : bool, optional
        n-dimensional maps: after the first Newton solve, up to two rounds from the midpoints of
        pairs of the points found (twice as many as the first solve had starts, nearest pairs
        first, in batches of that size; each round only while it finds new points): the saddles
        between the attractors of a memory network. Default: True for sampled starts, False for
        explicit ``starts``.
    linear : {"auto", "lu", "krylov"}
        The linear solver of the Newton steps (:func:`~dynsys.analysis.equilibria.newton_solve`): exact LU
        per start, or Newton–Krylov (batched GMRES; matrix-free maps, Map rule 11: for an RNN one
        GEMM per step for all starts). ``"auto"`` takes Newton–Krylov for matrix-free maps from
        64 dimensions on.
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`): one bar per
        Newton solve (the first, then each batch of midpoints), one step per Newton iteration of the
        whole batch of starts (at most ``max_iter``; the bar shows the starts still iterating).
        The arithmetic is the same with and without it.

    Returns
    -------
    FixedPoints
        Only points inside the map's periodic box (Map rule 19, within ``tol``); the distinct
        converged points outside it are counted in ``n_rejected`` and the message. A batch of
        starts (``n_starts`` or ``starts``) or a 1-D ``grid`` whose arrays would not fit in
        memory is refused before any work (:func:`dynsys._validate.check_memory`).
    """
    linear = check_choice(linear, "linear", ("auto", "lu", "krylov"))
    u, period = _validate(map, u, period)
    rng = check_rng(rng)
    progress_wrapper(progress)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    if midpoints is not None and not isinstance(midpoints, (bool, np.bool_)):
        raise DynsysError(f"midpoints must be True, False or None, got {midpoints!r}")
    n_rejected = 0
    if map.dim == 1 and starts is None:
        box = periodic_box(map, u)
        if interval is None:
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
        roots = interval_roots(map, u, period, (lo, hi), grid, tol)[:, None]
        inside = inside_box(roots, box, tol)
        states, n_rejected = roots[inside], int(np.sum(~inside))
        message = f"1-D sign-change scan on [{lo:g}, {hi:g}] with {grid} points"
        n_used = grid
    else:
        name, value = _size_argument(starts, n_starts)
        sampled = starts is None
        if sampled:
            n_starts = check_positive_int(n_starts, "n_starts")
            _check_newton_memory(map, n_starts + 8, period, linear, name, n_starts)
        else:
            starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
            _check_newton_memory(map, starts.shape[0], period, linear, name, value)
        box = periodic_box(map, u)  # after the memory check: W-sized temporaries of a large map
        if sampled:
            starts = sampled_starts(map, u, n_starts, rng, trajectory_steps, box)

        def solve(x0):
            x, res, conv = newton_solve(
                map,
                x0,
                u,
                period=period,
                tol=min(tol, 1e-12),
                max_iter=max_iter,
                linear=linear,
                box=box,
                progress=progress,
            )
            return x[conv], res[conv]

        use_mid = sampled if midpoints is None else bool(midpoints)
        states, rejected, n_conv, n_used, n_mid = _newton_search(
            map, starts, u, period, tol, dedup_tol, box, use_mid, solve
        )
        n_rejected = rejected.shape[0]
        solver = "Newton–Krylov" if linear_solver(map, period, linear) == "krylov" else "Newton (LU)"
        how = f"{starts.shape[0]} starts" + (f" + {n_mid} midpoints of pairs" if n_mid else "")
        message = f"batched {solver} from {how}: {n_conv} converged"
    if n_rejected:
        message += f"; {n_rejected} point(s) outside the map's periodic box rejected"
    if states.shape[0]:
        y, _ = iterate_k(map, states, u, period, jacobian=False)
        keep = dedup(states, np.linalg.norm(y - states, axis=-1), dedup_tol)
        states = states[keep]
        if period > 1:
            states = states[_minimal_period_mask(map, states, u, period, dedup_tol)]
    fp = assemble(map, states, u, period, tol, message, n_used, n_rejected=n_rejected)
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

    Minimizes ``q`` from many starts at once (:mod:`dynsys.analysis.equilibria.slow_points`):
    batched Levenberg–Marquardt ``(AᵀA + λI) d = −Aᵀ g`` (``A = J − I``, ``g = F(x) − x``, one
    ``λ`` per start, each start leaving the batch once it is a root, stationary or stalled),
    then the distinct minima with ``0 < q ≤ q_max`` are polished by Newton's method on
    ``∇q = Aᵀg = 0`` with the full Hessian, to ``‖∇q‖ ≈ 10⁻¹² ‖g‖``. True fixed points (``q = 0``)
    are included and marked ``converged``. Sampled starts (``starts`` None) are those of
    :func:`find_fixed_points`, in the map's periodic box (Map rule 19). ``rng`` seeds them (None,
    an int, a SeedSequence or a Generator); ``progress`` (the package's progress protocol,
    :func:`dynsys._validate.progress_wrapper`) shows one step per Levenberg–Marquardt iteration
    (at most ``max_iter``). A batch of starts whose ``n × n`` matrices would not fit in memory is
    refused first (:func:`dynsys._validate.check_memory`).

    Returns
    -------
    FixedPoints
        ``converged`` is True for fixed points (residual < 1e-10), False for slow points. Only
        points inside the map's periodic box (Map rule 19) are kept, the others counted in
        ``n_rejected``. For the built-in maps every trajectory lies in that box from its first
        step on (rule 12's box of all images) or stays in it once there (the GRU's and the
        LSTM's boxes are invariant), so a slow point outside it is never visited; and far out,
        where a GRU's update gate saturates, ``q`` falls towards 0 without a minimum: the
        "minima" there are rounding artefacts.
    """
    u, _ = _validate(map, u, 1)
    rng = check_rng(rng)
    progress_wrapper(progress)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    name, value = _size_argument(starts, n_starts)
    if starts is None:
        n_starts = check_positive_int(n_starts, "n_starts")
        _check_lm_memory(map, n_starts + 8, name, n_starts)
        box = periodic_box(map, u)
        starts = sampled_starts(map, u, n_starts, rng, trajectory_steps, box)
    else:
        starts = map.validate_state(starts, "starts").reshape(-1, map.dim)
        _check_lm_memory(map, starts.shape[0], name, value)
        box = periodic_box(map, u)
    with progress_loop(progress, range(max_iter), total=max_iter, desc="slow points") as iterations:
        r = minimize_q(map, starts, u, iterations=iterations)
    keep = np.isfinite(r.q) & (r.q <= q_max)
    states, q = r.x[keep], r.q[keep]
    inside = inside_box(states, box, 1e-10)
    rejected = states[~inside]
    states, q = _distinct(states[inside], q[inside], dedup_tol)
    slow = q >= 0.5 * ROOT_TOL**2
    if slow.any():
        states[slow], q[slow], _ = polish_minima(map, states[slow], u)
        ok = np.isfinite(q) & (q <= q_max)
        inside = inside_box(states, box, 1e-10)
        rejected = np.concatenate([rejected, states[ok & ~inside]])
        states, q = _distinct(states[ok & inside], q[ok & inside], dedup_tol)
    n_rejected = dedup(rejected, np.zeros(len(rejected)), dedup_tol).size
    counts = ", ".join(
        f"{int(np.sum(r.status == s))} {s}" for s in ("root", "stationary", "stalled", "running")
    )
    message = (
        f"Levenberg–Marquardt on q from {starts.shape[0]} starts ({counts}); "
        f"{int(np.sum(q >= 0.5 * ROOT_TOL**2))} slow point(s) polished by Newton on ∇q"
    )
    if n_rejected:
        message += f"; {n_rejected} point(s) outside the map's periodic box rejected"
    return assemble(map, states, u, 1, 1e-10, message, starts.shape[0], n_rejected=n_rejected)


def _check_lm_memory(map, S: int, name: str, value) -> None:
    n = map.dim
    floats = _LM_MATRICES * S * n * n + _NEWTON_VECTORS * S * n
    detail = f"{S} starts × {n}×{n} matrices of float64, Levenberg–Marquardt"
    check_memory(8.0 * floats, name, "the slow-point search", value=value, detail=detail)
