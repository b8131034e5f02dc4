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

Examples
--------
>>> from dynsys.maps import UnitMap
>>> from dynsys.basins import basins_of_attraction, box_grid
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

from .errors import DynsysError, as_float_array, check_finite_scalar, check_positive_int
from .maps import Map

__all__ = [
    "DIVERGED",
    "UNDECIDED",
    "StateGrid",
    "box_grid",
    "plane_grid",
    "BasinOptions",
    "Attractor",
    "Basins",
    "basins_of_attraction",
    "label_agreement",
]

DIVERGED = -1
UNDECIDED = -2
_UNASSIGNED = -3
AttractorKind = Literal["fixed_point", "periodic", "chaotic", "quasiperiodic"]


# ---------------------------------------------------------------------------------------
# Grids of initial states
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StateGrid:
    """A regular 1-D or 2-D grid of initial states on a line or plane of state space.

    The state at coefficients ``c`` is ``origin + Σ_i c_i directions[i]``; grid point ``j`` of
    axis ``i`` is the centre of a cell of width ``spacing[i]`` along ``directions[i]``.

    Attributes
    ----------
    origin : ndarray, shape (n,)
    directions : ndarray, shape (k, n)
        Linearly independent (k = 1 or 2).
    axes : tuple of ndarray
        ``k`` uniformly spaced coefficient arrays (lengths = :attr:`shape`).
    """

    origin: np.ndarray
    directions: np.ndarray
    axes: tuple[np.ndarray, ...]

    def __post_init__(self):
        D = np.asarray(self.directions, float)
        self._set(
            "identity",
            D.shape[0] == D.shape[1] and np.array_equal(D, np.eye(D.shape[0])) and not np.any(self.origin),
        )
        self._set("pinv", np.linalg.pinv(D))  # (n, k)

    def _set(self, key, value):
        object.__setattr__(self, f"_{key}", value)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def dim(self) -> int:
        """State dimension n."""
        return self.origin.shape[0]

    @property
    def spacing(self) -> np.ndarray:
        """Coefficient step of each axis, shape (k,)."""
        return np.array([a[1] - a[0] for a in self.axes])

    @property
    def cell_size(self) -> float:
        """The smallest cell side in state units."""
        return float(np.min(self.spacing * np.linalg.norm(self.directions, axis=1)))

    def coords(self) -> np.ndarray:
        """Coefficients of every grid point, shape ``(*shape, k)``."""
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1)

    def states(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """States of the grid points; all (shape ``(*shape, n)``) or flat ``[start:stop]``."""
        if start == 0 and stop is None:
            return self.origin + self.coords() @ self.directions
        stop = self.size if stop is None else stop
        idx = np.unravel_index(np.arange(start, stop), self.shape)
        c = np.stack([a[i] for a, i in zip(self.axes, idx)], axis=-1)
        return self.origin + c @ self.directions

    def locate(self, x: np.ndarray) -> np.ndarray:
        """Flat index of the grid cell containing each state, ``-1`` outside.

        States off the plane by more than half a cell are outside. ``x`` has shape (A, n).
        """
        if self._identity:
            c = x
        else:
            rel = x - self.origin
            c = rel @ self._pinv
            if self.ndim < self.dim:
                off = np.abs(rel - c @ self.directions).max(axis=1) > 0.5 * self.cell_size
        flat = np.zeros(x.shape[0], np.int64)
        inside = np.ones(x.shape[0], bool)
        for i, a in enumerate(self.axes):
            with np.errstate(invalid="ignore"):
                f = np.rint((c[:, i] - a[0]) / (a[1] - a[0]))
            ok = (f >= 0) & (f < len(a))
            inside &= ok
            flat = flat * len(a) + np.where(ok, f, 0).astype(np.int64)
        if not self._identity and self.ndim < self.dim:
            inside &= ~off
        return np.where(inside, flat, -1)


def _check_resolution(resolution, k: int) -> tuple[int, ...]:
    res = np.atleast_1d(np.asarray(resolution, dtype=object))
    if res.size == 1:
        res = np.repeat(res, k)
    if res.size != k:
        raise DynsysError(f"resolution must be one integer or {k} integers, got {resolution!r}")
    return tuple(check_positive_int(r, "resolution", minimum=2) for r in res)


def _check_ranges(ranges, k: int, name: str) -> list[tuple[float, float]]:
    arr = as_float_array(ranges, name)
    arr = arr.reshape(-1, 2) if arr.size % 2 == 0 else None
    if arr is None or arr.shape[0] not in (1, k):
        raise DynsysError(f"{name} must be {k} pair(s) (LO, HI), got {ranges!r}")
    if arr.shape[0] == 1:
        arr = np.repeat(arr, k, axis=0)
    for lo, hi in arr:
        if not lo < hi:
            raise DynsysError(f"{name} must satisfy LO < HI, got [{lo}, {hi}]")
    return [(float(lo), float(hi)) for lo, hi in arr]


def box_grid(ranges, resolution) -> StateGrid:
    """A grid over a box of a 1-D or 2-D state space.

    Parameters
    ----------
    ranges : sequence of (lo, hi)
        One interval per state coordinate (n = 1 or 2); a single interval is used for all.
    resolution : int or sequence of int
        Grid points per axis (≥ 2), endpoints included.
    """
    arr = as_float_array(ranges, "ranges")
    n = 1 if (arr.size == 2 and arr.ndim <= 1) or (arr.ndim == 2 and arr.shape[0] == 1) else arr.size // 2
    if n not in (1, 2):
        raise DynsysError(f"box_grid needs 1 or 2 ranges, got {arr.size // 2}; use plane_grid for n > 2")
    rng = _check_ranges(arr, n, "ranges")
    res = _check_resolution(resolution, n)
    axes = tuple(np.linspace(lo, hi, r) for (lo, hi), r in zip(rng, res))
    return StateGrid(origin=np.zeros(n), directions=np.eye(n), axes=axes)


def plane_grid(origin, directions, extent, resolution) -> StateGrid:
    """A grid on the line or plane ``origin + c₁ d₁ (+ c₂ d₂)`` of an n-dimensional state space.

    Parameters
    ----------
    origin : array_like, shape (n,)
    directions : array_like, shape (k, n)
        One or two linearly independent directions.
    extent : (lo, hi) or ((lo1, hi1), (lo2, hi2))
        Coefficient ranges.
    resolution : int or sequence of int
        Grid points per axis (≥ 2).
    """
    origin = as_float_array(origin, "origin", ndim=1)
    D = as_float_array(directions, "directions", ndim=(1, 2))
    D = np.atleast_2d(D)
    if D.shape[0] not in (1, 2) or D.shape[1] != origin.shape[0]:
        raise DynsysError(f"directions must have shape (1 or 2, {origin.shape[0]}), got {D.shape}")
    norms = np.linalg.norm(D, axis=1)
    if np.any(norms == 0):
        raise DynsysError("directions must be non-zero")
    sv = np.linalg.svd(D / norms[:, None], compute_uv=False)
    if sv[-1] < 1e-8:
        raise DynsysError("directions must be linearly independent (the plane's directions are parallel)")
    k = D.shape[0]
    rng = _check_ranges(extent, k, "extent")
    res = _check_resolution(resolution, k)
    axes = tuple(np.linspace(lo, hi, r) for (lo, hi), r in zip(rng, res))
    return StateGrid(origin=origin, directions=D, axes=axes)


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
        for key in (
            "max_steps",
            "discover_after",
            "discover_every",
            "discover_batch",
            "discovery_steps",
            "tail",
            "max_period",
            "chunk_size",
            "attractor_hits",
        ):
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

_MULT = np.array(
    [
        1,
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x27D4EB2F165667C5,
    ],
    dtype=np.uint64,
)


def _cell_coords(X: np.ndarray, inv_h: float) -> np.ndarray:
    """Integer cell ``floor(x / h)`` of each state, shape (A, n)."""
    return np.floor(np.clip(X * inv_h, -1e18, 1e18)).astype(np.int64)


def _cell_keys(X: np.ndarray, inv_h: float) -> np.ndarray:
    """Hash of the cell ``floor(x / h)`` of each state (exact for n = 1, linear hash otherwise)."""
    return _hash_coords(_cell_coords(X, inv_h))


def _hash_coords(c: np.ndarray) -> np.ndarray:
    c = c.view(np.uint64)
    n = c.shape[1]
    mult = (
        _MULT
        if n <= len(_MULT)
        else np.random.default_rng(n).integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    )
    key = c[:, 0].copy()
    for i in range(1, n):
        key += c[:, i] * mult[i]
    return key


_DENSE_MAX = 1 << 24  # cells of a dense look-up table (64 MiB of int32)


class _Registry:
    """Attractors found so far and their cells.

    Look-up is a dense table over the bounding box of all attractor cells when it has at most
    ``_DENSE_MAX`` cells (the common case), else a sorted array of cell hashes (``searchsorted``).
    """

    def __init__(self, map: Map, h: float, opts: BasinOptions):
        self.map, self.h, self.opts = map, h, opts
        self.inv_h = 1.0 / h
        self.attractors: list[Attractor] = []
        self.keys = np.empty(0, np.uint64)
        self.ids = np.empty(0, np.int32)
        self.coords = np.empty((0, map.dim), np.int64)
        self.dense = None

    def lookup(self, X: np.ndarray) -> np.ndarray:
        if not self.keys.size:
            return np.full(X.shape[0], -1, np.int32)
        if self.dense is not None:
            lo, shape, table = self.dense
            c = _cell_coords(X, self.inv_h) - lo
            inside = np.ones(X.shape[0], bool)
            flat = np.zeros(X.shape[0], np.int64)
            for i, s in enumerate(shape):
                ci = c[:, i]
                inside &= (ci >= 0) & (ci < s)
                flat = flat * s + ci
            return np.where(inside, table[np.where(inside, flat, 0)], -1)
        k = _cell_keys(X, self.inv_h)
        i = np.minimum(np.searchsorted(self.keys, k), self.keys.size - 1)
        return np.where(self.keys[i] == k, self.ids[i], -1).astype(np.int32)

    def _add_cells(self, coords: np.ndarray, aid: int):
        keys, first = np.unique(_hash_coords(coords), return_index=True)
        coords = coords[first]
        new = ~np.isin(keys, self.keys)
        coords, keys = coords[new], keys[new]
        allk = np.concatenate([self.keys, keys])
        allid = np.concatenate([self.ids, np.full(keys.size, aid, np.int32)])
        allc = np.concatenate([self.coords, coords])
        order = np.argsort(allk, kind="stable")
        self.keys, self.ids, self.coords = allk[order], allid[order], allc[order]
        lo, hi = self.coords.min(axis=0), self.coords.max(axis=0)
        shape = hi - lo + 1
        if float(np.prod(shape.astype(float))) <= _DENSE_MAX:
            table = np.full(int(np.prod(shape)), -1, np.int32)
            table[np.ravel_multi_index(tuple((self.coords - lo).T), tuple(shape))] = self.ids
            self.dense = (lo, tuple(int(v) for v in shape), table)
        else:
            self.dense = None

    def add(self, kind, period, points, lyap, cell_points) -> int:
        """Add a candidate, merging it into a known attractor that shares a cell with it."""
        coords = _cell_coords(cell_points, self.inv_h)
        hit = self.lookup(cell_points)
        same = self._same_orbit(points, period) if period else None
        if same is not None:
            aid = same
        elif np.any(hit >= 0):
            aid = int(np.bincount(hit[hit >= 0]).argmax())
        else:
            aid = len(self.attractors)
            self.attractors.append(Attractor(aid, kind, int(period), np.array(points), float(lyap)))
        self._add_cells(coords, aid)
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
            self._add_cells(_cell_coords(a.points, self.inv_h), a.id)

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
            if self.keys.size:
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
        if self.keys.size:  # the tail already lies on a known attractor (common after the first)
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
        coarse = 32.0 / span if span > 0 else self.inv_h  # 32 coarse cells across the set
        first = np.unique(_cell_keys(Y[: L // 2], coarse))
        last = _cell_keys(Y[3 * L // 4 :], coarse)
        if np.isin(last, first).mean() < 0.5:
            return UNDECIDED
        lyap = _tangent_lyapunov(self.map, Y[-1000:])
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


def _tangent_lyapunov(map: Map, Y: np.ndarray) -> float:
    """Largest Lyapunov exponent along the orbit sample ``Y`` (L, n) by tangent-vector growth."""
    J = map.jacobian(Y)
    v = np.ones(Y.shape[1]) / np.sqrt(Y.shape[1])
    total = 0.0
    for t in range(Y.shape[0]):
        v = J[t] @ v
        nv = np.linalg.norm(v)
        if not np.isfinite(nv) or nv == 0:
            return -np.inf if nv == 0 else np.inf
        total += np.log(nv)
        v /= nv
    return total / Y.shape[0]


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
    progress : callable, optional
        ``progress(iterable, desc=..., total=...)`` wrapper for the chunks (e.g. tqdm).
    **overrides
        Fields of :class:`BasinOptions`.

    Returns
    -------
    Basins
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
    reg = _Registry(map, opts.cell_size or h_default, opts)
    reg.seed(attractors)
    labels = np.full(size, _UNASSIGNED, np.int32)
    steps = np.zeros(size, np.int16)
    chunks = range(0, size, opts.chunk_size)
    if progress is not None:
        chunks = progress(chunks, desc="basins", total=len(chunks))
    for start in chunks:
        stop = min(start + opts.chunk_size, size)
        _run_chunk(map, states_of(start, stop), np.arange(start, stop), labels, steps, reg, grid, opts)
    return Basins(labels.reshape(shape), tuple(reg.attractors), grid, steps.reshape(shape), opts)


def _finite_within(X: np.ndarray, R: float) -> np.ndarray:
    """``‖x‖_∞ < R`` per row (False for NaN), column by column (faster than a reduce over n)."""
    ok = np.abs(X[:, 0]) < R
    for i in range(1, X.shape[1]):
        ok &= np.abs(X[:, i]) < R
    return ok


def _run_chunk(map, X, gidx, labels, steps, reg: _Registry, grid, opts: BasinOptions):
    A = gidx.size
    att_prev = np.full(A, -1, np.int32)
    att_cnt = np.zeros(A, np.int16)
    use_bas = grid is not None and opts.basin_hits > 0
    bas_prev = np.full(A, -1, np.int32)
    bas_cnt = np.zeros(A, np.int16)
    last_disc = -opts.discover_every
    every = opts.discover_every
    R = opts.diverge_radius
    for t in range(1, opts.max_steps + 1):
        with np.errstate(all="ignore"):
            X = map.step(X)
        ok = _finite_within(X, R)
        if not ok.all():  # retire the diverged points first, so look-ups see finite states only
            bad = ~ok
            labels[gidx[bad]] = DIVERGED
            steps[gidx[bad]] = t
            X, gidx = X[ok], gidx[ok]
            att_prev, att_cnt, bas_prev, bas_cnt = att_prev[ok], att_cnt[ok], bas_prev[ok], bas_cnt[ok]
            A = gidx.size
            if A == 0:
                return
        lab = np.full(A, _UNASSIGNED, np.int32)
        if reg.keys.size:
            aid = reg.lookup(X)
            hit = aid >= 0
            att_cnt = np.where(hit & (aid == att_prev), att_cnt + 1, hit).astype(np.int16)
            att_prev = aid
            done = att_cnt >= opts.attractor_hits
            lab[done] = aid[done]
        if use_bas:
            loc = grid.locate(X)
            bl = np.where(loc >= 0, labels[np.maximum(loc, 0)], -1)
            hit = bl >= 0
            bas_cnt = np.where(hit & (bl == bas_prev), bas_cnt + 1, hit).astype(np.int16)
            bas_prev = np.where(hit, bl, -1)
            done = (bas_cnt >= opts.basin_hits) & (lab == _UNASSIGNED)
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
            keep = ~fin
            X, gidx = X[keep], gidx[keep]
            att_prev, att_cnt, bas_prev, bas_cnt = (
                att_prev[keep],
                att_cnt[keep],
                bas_prev[keep],
                bas_cnt[keep],
            )
            A = gidx.size
            if A == 0:
                return
    labels[gidx] = UNDECIDED
    steps[gidx] = opts.max_steps


# ---------------------------------------------------------------------------------------
# Comparing two labellings
# ---------------------------------------------------------------------------------------


def label_agreement(a, b) -> tuple[float, dict[int, int]]:
    """Fraction of points on which two labellings agree, up to renaming attractors.

    Attractor labels (≥ 0) of ``a`` are matched to those of ``b`` by the assignment that
    maximises agreement (Hungarian method on the confusion matrix); :data:`DIVERGED` and
    :data:`UNDECIDED` only match themselves.

    Returns
    -------
    fraction : float
    mapping : dict
        Label of ``a`` → label of ``b``.
    """
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise DynsysError(f"labellings must have the same size, got {a.size} and {b.size}")
    la, lb = np.unique(a[a >= 0]), np.unique(b[b >= 0])
    mapping = {DIVERGED: DIVERGED, UNDECIDED: UNDECIDED}
    if la.size and lb.size:
        both = (a >= 0) & (b >= 0)
        C = np.zeros((la.size, lb.size))
        np.add.at(C, (np.searchsorted(la, a[both]), np.searchsorted(lb, b[both])), 1)
        r, c = linear_sum_assignment(-C)
        mapping.update({int(la[i]): int(lb[j]) for i, j in zip(r, c)})
    mapped = np.array([mapping.get(int(v), -99) for v in range(-2, int(a.max(initial=0)) + 1)])
    return float(np.mean(mapped[a + 2] == b)), mapping
