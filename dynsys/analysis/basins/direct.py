"""Basins of attraction by direct iteration of a whole grid of initial states (paper §2.2).

For fixed parameters the autonomous map ``x ↦ F̃(x)`` sends every initial state to one of its
attractors (or to infinity); the state space is partitioned into *basins*. The paper's point
(§2.3, Figs. 4–5) is that crossing a basin *boundary* makes ``x_t`` jump, which is what makes the
gradient explode.

Algorithm
---------
All initial states of a chunk of the grid are iterated *together* (one ``map.step`` call per time
step) and each point is retired as soon as it is assigned. Attractors are **found, not given**
(after Datseris & Wagemakers 2022, "Effortless estimation of basins of attraction", Chaos 32):

1. Every attractor known so far owns a set of *attractor cells* (a hashed grid of cell size
   ``cell_size`` over the full state space). A point that is in cells of the same attractor for
   ``attractor_hits`` consecutive steps is assigned to it.
2. A point that lands in grid cells whose initial state was already assigned to attractor ``k``
   for ``basin_hits`` consecutive steps is assigned to ``k`` too (the "basin cell" shortcut).
3. Divergence (``‖x‖_∞ ≥ diverge_radius`` or a non-finite state) is labelled :data:`DIVERGED`.
4. When points are still unassigned after ``discover_after`` steps, a few of them are followed
   for ``discovery_steps`` more steps and the tail of their trajectory is analysed: a periodic
   orbit (period ``p ≤ max_period``, fixed point when ``p = 1``) whose multiplier shows it is
   stable, or — the fallback for chaotic and slowly converging sets — a bounded set the tail keeps
   returning to (recurrence in cells). Its largest Lyapunov exponent tells chaotic from
   quasi-periodic. A candidate that shares cells with a known attractor is merged into it.
5. Points left after ``max_steps`` are labelled :data:`UNDECIDED`.

Labels: ``0, 1, …`` attractor ids, :data:`DIVERGED` ``= -1``, :data:`UNDECIDED` ``= -2``. Basin
fractions count all three kinds, so they always sum to 1.
The grids (:class:`StateGrid`, :func:`box_grid`, :func:`plane_grid`), the label constants and
:func:`label_agreement` live in :mod:`dynsys.analysis.basins.grids`.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> from dynsys.analysis.basins import basins_of_attraction, box_grid
>>> b = basins_of_attraction(UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], 201))
>>> len(b.attractors), round(sum(b.fractions.values()), 12)
(2, 1.0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..._validate import check_finite_scalar, check_memory, check_positive_int, progress_wrapper
from ...errors import DynsysError
from ...maps.base import Map
from ..lyapunov import orbit_lyapunov
from .grids import _RESULT_BYTES, DIVERGED, UNDECIDED, CellTable, StateGrid, cell_keys

__all__ = [
    "BasinOptions",
    "Attractor",
    "Basins",
    "basins_of_attraction",
]

_UNASSIGNED = -3
AttractorKind = Literal["fixed_point", "periodic", "chaotic", "quasiperiodic"]


# ---------------------------------------------------------------------------------------
# Options and results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasinOptions:
    """Options of :func:`basins_of_attraction` (see the module docstring for the algorithm).

    Attributes
    ----------
    max_steps : int
        Iteration budget per point; points left after it are :data:`UNDECIDED`.
    diverge_radius : float
        ``‖x‖_∞ ≥ diverge_radius`` counts as divergence to infinity.
    cell_size : float or None
        Side of the attractor cells in state units (default: the grid's cell size, or 1e-2).
    attractor_hits : int
        Consecutive steps in one attractor's cells that assign a point.
    basin_hits : int
        Consecutive steps in grid cells already assigned to one attractor that assign a point
        (0 switches the shortcut off).
    discover_after, discover_every : int
        Attractor discovery starts for points unassigned after ``discover_after`` steps and is
        repeated at most every ``discover_every`` steps.
    discover_batch : int
        Points followed per discovery round.
    discovery_steps, tail : int
        Steps a discovery trajectory is followed; the last ``tail`` of them are analysed.
    max_period : int
        Longest period searched for.
    period_tol : float
        Relative tolerance ``‖x_{t+p} − x_t‖_∞ ≤ period_tol (1 + ‖x‖_∞)`` for a period.
    chunk_size : int
        Points iterated together (bounds the memory for very large grids).
    """

    max_steps: int = 1000
    diverge_radius: float = 1e10
    cell_size: float | None = None
    attractor_hits: int = 3
    basin_hits: int = 10
    discover_after: int = 60
    discover_every: int = 20
    discover_batch: int = 8
    discovery_steps: int = 3000
    tail: int = 2000
    max_period: int = 64
    period_tol: float = 1e-7
    chunk_size: int = 1 << 16

    def __post_init__(self):
        ints = "max_steps discover_after discover_every discover_batch discovery_steps tail max_period"
        for key in (*ints.split(), "chunk_size", "attractor_hits"):
            check_positive_int(getattr(self, key), key)
        check_positive_int(self.basin_hits, "basin_hits", minimum=0)
        if self.max_steps > 32000:
            raise DynsysError(f"max_steps must be <= 32000, got {self.max_steps}")
        if self.tail > self.discovery_steps:
            raise DynsysError(f"tail ({self.tail}) must not exceed discovery_steps ({self.discovery_steps})")
        if self.tail < 4 * self.max_period:
            raise DynsysError(f"tail ({self.tail}) must be at least 4 * max_period ({4 * self.max_period})")
        for key in ("diverge_radius", "period_tol"):
            if not check_finite_scalar(getattr(self, key), key) > 0:
                raise DynsysError(f"{key} must be > 0, got {getattr(self, key)}")
        if self.cell_size is not None and not check_finite_scalar(self.cell_size, "cell_size") > 0:
            raise DynsysError(f"cell_size must be > 0, got {self.cell_size}")


@dataclass(frozen=True, eq=False)
class Attractor:
    """An attractor found by :func:`basins_of_attraction`.

    Attributes
    ----------
    id : int
        Its label in :attr:`Basins.labels`.
    kind : {"fixed_point", "periodic", "chaotic", "quasiperiodic"}
    period : int
        The period (1 for a fixed point), 0 when not periodic.
    points : ndarray, shape (m, n)
        The orbit (``m = period``) or a long sample of the chaotic/quasi-periodic set.
    lyapunov : float
        Largest Lyapunov exponent: ``log ρ(J_p ⋯ J_1) / p`` for an orbit (−∞ clipped to −700),
        a tangent-vector estimate over the sample otherwise.
    """

    id: int
    kind: AttractorKind
    period: int
    points: np.ndarray
    lyapunov: float

    def summary(self) -> dict:
        """JSON-able description (the orbit points only for periodic attractors)."""
        out = {"id": self.id, "type": self.kind, "period": self.period, "lyapunov": self.lyapunov}
        if self.period:
            out["points"] = self.points.tolist()
        else:
            out["bounding_box"] = [self.points.min(axis=0).tolist(), self.points.max(axis=0).tolist()]
        return out


@dataclass(frozen=True, eq=False)
class Basins:
    """Basins of attraction on a grid (or any array) of initial states.

    Attributes
    ----------
    labels : ndarray of int32, shape (*grid.shape) or the states' batch shape
        Attractor id, :data:`DIVERGED` (−1) or :data:`UNDECIDED` (−2).
    attractors : tuple of Attractor
    grid : StateGrid or None
        ``None`` when an explicit array of states was given.
    steps : ndarray of int16
        Iterations each point needed before it was assigned.
    options : BasinOptions
    """

    labels: np.ndarray
    attractors: tuple[Attractor, ...]
    grid: StateGrid | None
    steps: np.ndarray
    options: BasinOptions

    @property
    def fractions(self) -> dict:
        """``{id: fraction, ..., "diverged": f, "undecided": f}``; the values sum to 1."""
        n = self.labels.size
        counts = np.bincount((self.labels.ravel() + 2), minlength=len(self.attractors) + 2)
        out = {a.id: counts[a.id + 2] / n for a in self.attractors}
        out["diverged"] = counts[DIVERGED + 2] / n
        out["undecided"] = counts[UNDECIDED + 2] / n
        return {k: float(v) for k, v in out.items()}

    def summary(self) -> dict:
        """JSON-able: attractors (type, period, fraction), diverged/undecided fractions."""
        fr = self.fractions
        return {
            "attractors": [dict(a.summary(), fraction=fr[a.id]) for a in self.attractors],
            "diverged": fr["diverged"],
            "undecided": fr["undecided"],
            "grid_shape": list(self.labels.shape),
        }


# ---------------------------------------------------------------------------------------
# Attractor registry: hashed cells in the full state space
# ---------------------------------------------------------------------------------------


class _Registry:
    """Attractors found so far and their cells.

    The cells live in a :class:`~dynsys.analysis.basins.CellTable` (ids = attractor ids).
    """

    def __init__(self, map: Map, h: float, opts: BasinOptions):
        self.map, self.h, self.opts = map, h, opts
        self.attractors: list[Attractor] = []
        self.cells = CellTable(h, map.dim)
        self.lookup = self.cells.lookup

    def add(self, kind, period, points, lyap, cell_points) -> int:
        """Add a candidate, merging it into a known attractor that shares a cell with it."""
        coords = self.cells.cells_of(cell_points)
        hit = self.lookup(cell_points)
        same = self._same_orbit(points, period) if period else None
        if same is not None:
            aid = same
        elif np.any(hit >= 0):
            aid = int(np.bincount(hit[hit >= 0]).argmax())
        else:
            aid = len(self.attractors)
            self.attractors.append(Attractor(aid, kind, int(period), np.array(points), float(lyap)))
        self.cells.add(coords, aid)
        return aid

    def _same_orbit(self, points, period) -> int | None:
        """A known orbit of the same period within one cell of ``points`` (any cyclic shift)."""
        for a in self.attractors:
            if a.period != period:
                continue
            for k in range(period):
                if np.abs(np.roll(a.points, k, axis=0) - points).max() <= self.h:
                    return a.id
        return None

    def seed(self, attractors: Sequence[Attractor]):
        for a in attractors:
            if a.id != len(self.attractors):
                raise DynsysError("attractors must be numbered 0, 1, ... in order (pass Basins.attractors)")
            self.attractors.append(a)
            self.cells.add(self.cells.cells_of(a.points), a.id)

    # -- discovery ---------------------------------------------------------------------
    def discover(self, X: np.ndarray) -> np.ndarray:
        """Follow states ``X`` (B, n) and return their labels (attractor id / DIVERGED / UNDECIDED).

        A followed point that settles in the cells of a known attractor is assigned to it at once
        (cheap when the attractor was already known); the others are analysed from their tail.
        """
        o = self.opts
        B, n = X.shape
        tail = np.empty((o.tail, B, n))
        alive = np.ones(B, bool)
        out = np.full(B, _UNASSIGNED, np.int64)
        prev = np.full(B, -1, np.int32)
        cnt = np.zeros(B, np.int64)
        x = X.copy()
        start = o.discovery_steps - o.tail
        for t in range(o.discovery_steps):
            with np.errstate(all="ignore"):
                x = self.map.step(x)
            alive &= _finite_within(x, o.diverge_radius)
            x = np.where(alive[:, None], x, 0.0)
            if t >= start:
                tail[t - start] = x
            if len(self.cells):
                aid = np.where(alive, self.lookup(x), -1)
                hit = aid >= 0
                cnt = np.where(hit & (aid == prev), cnt + 1, hit)
                prev = aid
                done = (cnt >= o.attractor_hits) & (out == _UNASSIGNED)
                out[done] = aid[done]
            if np.all((out != _UNASSIGNED) | ~alive):
                break
        out[~alive & (out == _UNASSIGNED)] = DIVERGED
        for b in np.flatnonzero(out == _UNASSIGNED):
            out[b] = self._classify_tail(tail[:, b])
        return out

    def _classify_tail(self, Y: np.ndarray) -> int:
        o = self.opts
        L = Y.shape[0]
        if len(self.cells):  # the tail already lies on a known attractor (common after the first)
            aid = self.lookup(Y[-200:])
            top = np.bincount(aid[aid >= 0]).argmax() if np.any(aid >= 0) else -1
            if top >= 0 and np.mean(aid == top) >= 0.9:
                return int(top)
        scale = 1.0 + np.abs(Y).max()
        w = max(2 * o.max_period, 32)
        best_p, best_d = 0, np.inf
        for p in range(1, o.max_period + 1):
            d = np.abs(Y[L - w :] - Y[L - w - p : L - p]).max()
            if d < best_d:
                best_p, best_d = p, d
            if d <= o.period_tol * scale:
                return self._add_orbit(Y[L - p :], p)
        # no exact period: recurrence in coarse cells (the fallback for chaotic/slow sets)
        span = float(np.ptp(Y, axis=0).max())
        coarse = 32.0 / span if span > 0 else 1.0 / self.h  # 32 coarse cells across the set
        first = np.unique(cell_keys(Y[: L // 2], coarse))
        last = cell_keys(Y[3 * L // 4 :], coarse)
        if np.isin(last, first).mean() < 0.5:
            return UNDECIDED
        lyap = orbit_lyapunov(self.map, Y[-1000:])
        if lyap > 1e-2:
            kind, period = "chaotic", 0
        elif lyap >= -1e-2:
            kind, period = "quasiperiodic", 0
        else:  # slowly converging orbit
            return self._add_orbit(Y[L - best_p :], best_p, cell_points=Y[-max(8 * best_p, 64) :])
        # cover the set densely: images of the whole tail are on it too (one vectorized call per step)
        cover, Z = [Y], Y
        for _ in range(24):
            with np.errstate(all="ignore"):
                Z = self.map.step(Z)
            cover.append(Z[_finite_within(Z, o.diverge_radius)])
        return self.add(kind, period, Y, lyap, np.concatenate(cover))

    def _add_orbit(self, orbit, p, cell_points=None) -> int:
        M = np.eye(orbit.shape[1])
        J = self.map.jacobian(orbit)
        for i in range(p):
            M = J[i] @ M
        rho = float(np.max(np.abs(np.linalg.eigvals(M)))) if np.all(np.isfinite(M)) else np.inf
        lyap = max(np.log(max(rho, 1e-300)) / p, -700.0)
        if not lyap < 1e-9:
            return UNDECIDED  # an unstable orbit hit exactly: not an attractor
        kind = "fixed_point" if p == 1 else "periodic"
        return self.add(kind, p, orbit, lyap, orbit if cell_points is None else cell_points)


# ---------------------------------------------------------------------------------------
# The main loop
# ---------------------------------------------------------------------------------------


def basins_of_attraction(
    map: Map,
    grid,
    *,
    attractors: Sequence[Attractor] = (),
    options: BasinOptions | None = None,
    progress=None,
    **overrides,
) -> Basins:
    """Basins of attraction of an autonomous map by direct iteration (see the module docstring).

    Parameters
    ----------
    map : Map
        An autonomous map (``input_dim == 0``, or a map whose ``step(x)`` works without input).
    grid : StateGrid or array_like, shape (..., n)
        A grid from :func:`box_grid` / :func:`plane_grid`, or any array of initial states.
    attractors : sequence of Attractor
        Attractors known in advance (e.g. ``previous.attractors``) so that ids stay the same.
    options : BasinOptions, optional
    progress : bool or callable, optional
        Progress over the chunks, by the package's progress protocol
        (:func:`dynsys._validate.progress_wrapper`: True for a tqdm bar, or
        ``progress(iterable, *, total, desc, initial)``).
    **overrides
        Fields of :class:`BasinOptions`.

    Returns
    -------
    Basins
        A grid (or chunk size) whose arrays would not fit in memory is refused before the
        iteration starts (:func:`dynsys._validate.check_memory`).
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    opts = (
        dataclasses.replace(options or BasinOptions(), **overrides)
        if overrides
        else (options or BasinOptions())
    )
    if isinstance(grid, StateGrid):
        if grid.dim != map.dim:
            raise DynsysError(f"grid lives in dimension {grid.dim} but the map has dimension {map.dim}")
        shape, size, states_of = grid.shape, grid.size, grid.states
        h_default = grid.cell_size
    else:
        arr = map.validate_state(grid, "grid")
        shape, size = arr.shape[:-1], int(np.prod(arr.shape[:-1]))
        flat = arr.reshape(-1, map.dim)
        states_of = lambda a, b: flat[a:b]  # noqa: E731
        h_default, grid = 1e-2 * max(1.0, float(np.abs(flat).max(initial=0.0))), None
    progress_wrapper(progress)
    _check_direct_memory(size, shape, map.dim, grid.ndim if grid is not None else 0, opts)
    reg = _Registry(map, opts.cell_size or h_default, opts)
    reg.seed(attractors)
    labels = np.full(size, _UNASSIGNED, np.int32)
    steps = np.zeros(size, np.int16)
    chunks = range(0, size, opts.chunk_size)
    chunks = progress_wrapper(progress)(chunks, desc="basins", total=len(chunks))
    for start in chunks:
        stop = min(start + opts.chunk_size, size)
        _run_chunk(map, states_of(start, stop), np.arange(start, stop), labels, steps, reg, grid, opts)
    return Basins(labels.reshape(shape), tuple(reg.attractors), grid, steps.reshape(shape), opts)


def _direct_bytes(size: int, n: int, k: int, opts: BasinOptions) -> tuple[float, float]:
    """Peak bytes of :func:`basins_of_attraction`: ``(per grid point, per chunk)``.

    Per point an int32 label and an int16 step count; per chunk (``min(chunk_size, size)``
    states iterated together) the states, their images and the map's temporaries, the grid
    coefficients and look-ups (about ``10 + 6n + 2k`` float64 per state, measured), plus the
    discovery tail (``tail × discover_batch × n`` float64).
    """
    chunk = min(opts.chunk_size, size)
    per_chunk = 8.0 * (chunk * (10 + 6 * n + 2 * k) + opts.tail * opts.discover_batch * n)
    return float(_RESULT_BYTES) * size, per_chunk


def _check_direct_memory(size, shape, n, k, opts: BasinOptions) -> None:
    grid_bytes, chunk_bytes = _direct_bytes(size, n, k, opts)
    if grid_bytes >= chunk_bytes:
        name, value = "grid", tuple(int(v) for v in shape)
        detail = f"{float(size):.1e} grid points × {_RESULT_BYTES} bytes, plus the chunks' work"
    else:
        name, value = "chunk_size", opts.chunk_size
        detail = f"chunks of {min(opts.chunk_size, size)} states × {n} coordinates, iterated together"
    check_memory(grid_bytes + chunk_bytes, name, "the basins", value=value, detail=detail)


def _finite_within(X: np.ndarray, R: float) -> np.ndarray:
    """``‖x‖_∞ < R`` per row (False for NaN), column by column (faster than a reduce over n)."""
    ok = np.abs(X[:, 0]) < R
    for i in range(1, X.shape[1]):
        ok &= np.abs(X[:, i]) < R
    return ok


def _run_chunk(map, X, gidx, labels, steps, reg: _Registry, grid, opts: BasinOptions):
    # per point: last attractor hit and run length, last basin-cell label and run length
    st = np.zeros((4, gidx.size), np.int32)
    st[0] = st[2] = -1
    use_bas = grid is not None and opts.basin_hits > 0
    last_disc = -opts.discover_every
    every = opts.discover_every
    for t in range(1, opts.max_steps + 1):
        with np.errstate(all="ignore"):
            X = map.step(X)
        ok = _finite_within(X, opts.diverge_radius)
        if not ok.all():  # retire the diverged points first, so look-ups see finite states only
            labels[gidx[~ok]] = DIVERGED
            steps[gidx[~ok]] = t
            X, gidx, st = X[ok], gidx[ok], st[:, ok]
            if gidx.size == 0:
                return
        lab = np.full(gidx.size, _UNASSIGNED, np.int32)
        if len(reg.cells):
            aid = reg.lookup(X)
            hit = aid >= 0
            st[1] = np.where(hit & (aid == st[0]), st[1] + 1, hit)
            st[0] = aid
            done = st[1] >= opts.attractor_hits
            lab[done] = aid[done]
        if use_bas:
            loc = grid.locate(X)
            bl = np.where(loc >= 0, labels[np.maximum(loc, 0)], -1)
            hit = bl >= 0
            st[3] = np.where(hit & (bl == st[2]), st[3] + 1, hit)
            st[2] = np.where(hit, bl, -1)
            done = (st[3] >= opts.basin_hits) & (lab == _UNASSIGNED)
            lab[done] = bl[done]
        due = opts.discover_after if reg.attractors else min(opts.discover_every, opts.discover_after)
        if t >= due and t - last_disc >= every:
            pending = np.flatnonzero(lab == _UNASSIGNED)
            if pending.size:
                last_disc = t
                pick = pending[
                    np.linspace(0, pending.size - 1, min(opts.discover_batch, pending.size)).astype(int)
                ]
                lab[pick] = found = reg.discover(X[pick])
                # back off when a round finds no attractor (e.g. points on a saddle's stable set)
                every = opts.discover_every if np.any(found >= 0) else 2 * every
        fin = lab != _UNASSIGNED
        if fin.any():
            labels[gidx[fin]] = lab[fin]
            steps[gidx[fin]] = t
            X, gidx, st = X[~fin], gidx[~fin], st[:, ~fin]
            if gidx.size == 0:
                return
    labels[gidx] = UNDECIDED
    steps[gidx] = opts.max_steps
