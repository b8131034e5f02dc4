"""Grids of states: the regular grids of initial states that basins are computed on, and hashed
cells of an unbounded grid over the whole state space.

* :class:`StateGrid` (:func:`box_grid`, :func:`plane_grid`): a 1-D or 2-D grid of initial states on
  a box of a 1-D/2-D state space or on a line/plane ``origin + c₁ d₁ + c₂ d₂`` through an
  n-dimensional one (paper §2.2, Fig. 4: basins drawn on a plane of the hidden state space).
  Grid points are cell centres; :meth:`StateGrid.locate` snaps states back to cells.
  :func:`map_grid` builds either for a given map, by default over :func:`default_state_box` (the
  box every state is mapped into, plus a margin), so that the grid holds every attractor.
* Labellings of a grid: attractor ids ``0, 1, …``, :data:`DIVERGED` ``= -1``, :data:`UNDECIDED`
  ``= -2``; :func:`label_agreement` compares two of them up to renaming the attractors.
* :class:`CellTable`: a set of cells ``floor(x / h)`` of side ``h`` over ℝⁿ, each with an integer
  id (used for attractor cells by :func:`dynsys.analysis.basins.basins_of_attraction`); :func:`cell_keys`
  hashes cells to one ``uint64`` each.

Examples
--------
>>> g = box_grid([(-1.0, 1.0), (0.0, 2.0)], 5)
>>> g.shape, g.cell_size
((5, 5), 0.5)
>>> int(g.locate(np.array([[0.1, 1.9]]))[0])  # row 2 (x = 0), column 4 (y = 2): 2 * 5 + 4
14
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import as_float_array, check_finite_scalar, check_memory, check_positive_int
from ...errors import DynsysError

__all__ = [
    "DIVERGED",
    "UNDECIDED",
    "StateGrid",
    "box_grid",
    "plane_grid",
    "default_state_box",
    "map_grid",
    "label_agreement",
    "CellTable",
    "cell_coords",
    "cell_keys",
]

DIVERGED = -1  # label of states that go to infinity
UNDECIDED = -2  # label of states not assigned within the budget
#: bytes per grid point that every basins result holds: an int32 label and an int16 step count
_RESULT_BYTES = 6


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


def default_state_box(map, *, margin: float = 0.1, fallback: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """A box of states that holds every attractor of an autonomous map, with room around it.

    The map's ``state_box()`` (Map contract rule 12: it contains ``F(x)`` for every ``x``, hence
    every fixed point, orbit and attractor) — or the cube ``[-fallback, fallback]ⁿ`` when the map
    knows none — widened on each side by ``margin`` times its width (at least ``margin · 1e-3``).

    Parameters
    ----------
    map : Map
        An autonomous map (no input).
    margin : float
        Relative margin added on each side.
    fallback : float
        Half-width of the cube used when ``map.state_box()`` is None.

    Returns
    -------
    lo, hi : ndarray, shape (n,)

    Examples
    --------
    >>> from dynsys.maps import UnitMap
    >>> lo, hi = default_state_box(UnitMap(w=5.0, b=-2.45))  # images in [b, w + b] = [-2.45, 2.55]
    >>> [round(float(v), 6) for v in (lo[0], hi[0])]
    [-2.95, 3.05]
    """
    margin = check_finite_scalar(margin, "margin")
    fallback = check_finite_scalar(fallback, "fallback")
    if margin < 0 or fallback <= 0:
        raise DynsysError(f"margin must be >= 0 and fallback > 0, got {margin} and {fallback}")
    box = map.state_box()
    if box is None:
        box = (np.full(map.dim, -fallback), np.full(map.dim, fallback))
    lo, hi = box
    pad = margin * np.maximum(hi - lo, 1e-3)
    return lo - pad, hi + pad


def map_grid(map, resolution, *, extent=None, plane=None) -> StateGrid:
    """The grid of initial states on which the basins of an autonomous map are computed.

    Parameters
    ----------
    map : Map
        An autonomous map of dimension n.
    resolution : int or sequence of int
        Grid points per axis (≥ 2).
    extent : array_like of (lo, hi) pairs, optional
        Without ``plane``: the state box, one pair shared by all coordinates or one pair per
        coordinate (default :func:`default_state_box`). With ``plane``: the coefficient ranges of
        :func:`plane_grid`; by default ``±L / ‖d_i‖`` with ``L = max_j (max(|lo_j|, |hi_j|) +
        |origin_j|)`` over the default state box, so that the plane reaches across the box.
    plane : (origin, directions), optional
        A line or plane through an n-dimensional state space (``origin`` shape (n,),
        ``directions`` shape (k, n), k = 1 or 2); without it the grid is a box of the whole state
        space, which needs n ≤ 2.

    Returns
    -------
    StateGrid
        A grid on which no basins could be stored (their labels and step counts alone would not
        fit in memory, :func:`dynsys._validate.check_memory`) is refused, naming ``resolution``.

    Examples
    --------
    >>> from dynsys.maps import UnitMap
    >>> g = map_grid(UnitMap(w=5.0, b=-2.45), 11)
    >>> g.shape, round(float(g.axes[0][0]), 6)
    ((11,), -2.95)
    """
    lo, hi = default_state_box(map)
    n = map.dim
    ext = None
    if extent is not None:
        ext = as_float_array(extent, "extent")
        if ext.size % 2:
            raise DynsysError(f"extent must be (lo, hi) pairs, got {ext.size} numbers")
        ext = ext.reshape(-1, 2)
    if plane is not None:
        try:
            origin, directions = plane
        except (TypeError, ValueError):
            raise DynsysError("plane must be a pair (origin, directions)") from None
        origin = as_float_array(origin, "plane origin", ndim=1)
        D = np.atleast_2d(as_float_array(directions, "plane directions", ndim=(1, 2)))
        if origin.shape[0] != n or D.shape[1] != n:
            raise DynsysError(
                f"plane origin and directions must have {n} entries each (the map's dimension), "
                f"got {origin.shape[0]} and {D.shape[1]}"
            )
        if ext is None:
            norms = [np.linalg.norm(d) for d in D]
            if not all(v > 0 for v in norms):
                raise DynsysError("plane directions must be non-zero")
            L = float(np.max(np.maximum(np.abs(lo), np.abs(hi)) + np.abs(origin)))
            ext = np.array([[-L / d, L / d] for d in norms])
        _check_basins_fit(resolution, D.shape[0])
        return plane_grid(origin, D, ext, resolution)
    if n > 2:
        raise DynsysError(f"a box grid needs n <= 2 state coordinates, the map has n = {n}: give a plane")
    if ext is None:
        ext = np.stack([lo, hi], axis=1)
    if ext.shape[0] not in (1, n):
        allowed = "1 (lo, hi) pair" if n == 1 else f"1 or {n} (lo, hi) pairs"
        raise DynsysError(f"extent must give {allowed} for a map of dimension {n}, got {ext.shape[0]}")
    _check_basins_fit(resolution, n)
    return box_grid(ext if ext.shape[0] == n else np.repeat(ext, n, axis=0), resolution)


def _check_basins_fit(resolution, k: int) -> None:
    """Refuse a ``k``-axis grid whose basins could not even be stored (labels and step counts)."""
    res = _check_resolution(resolution, k)
    size = float(np.prod([float(r) for r in res]))
    check_memory(
        _RESULT_BYTES * size,
        "resolution",
        "the basins on this grid",
        value=res[0] if len(set(res)) == 1 else list(res),
        detail=f"{size:.1e} grid points × {_RESULT_BYTES} bytes of labels and step counts, at least",
    )


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


# ---------------------------------------------------------------------------------------
# Hashed cells over the whole state space
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


def cell_coords(X: np.ndarray, inv_h: float) -> np.ndarray:
    """Integer cell ``floor(x / h)`` of each state, shape (A, n)."""
    return np.floor(np.clip(X * inv_h, -1e18, 1e18)).astype(np.int64)


def cell_keys(X: np.ndarray, inv_h: float) -> np.ndarray:
    """Hash of the cell ``floor(x / h)`` of each state (exact for n = 1, linear hash otherwise)."""
    return hash_coords(cell_coords(X, inv_h))


def hash_coords(c: np.ndarray) -> np.ndarray:
    """One ``uint64`` per integer cell of ``c`` (A, n) (a linear hash with odd multipliers)."""
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


class CellTable:
    """Cells ``floor(x / h)`` of side ``h`` over ℝⁿ, each carrying an integer id.

    Look-up is a dense table over the bounding box of all cells when it has at most
    ``_DENSE_MAX`` cells (the common case), else a sorted array of cell hashes (``searchsorted``).

    Parameters
    ----------
    h : float
        Cell side in state units.
    dim : int
        State dimension n.
    """

    def __init__(self, h: float, dim: int):
        self.h, self.inv_h = float(h), 1.0 / float(h)
        self.keys = np.empty(0, np.uint64)
        self.ids = np.empty(0, np.int32)
        self.coords = np.empty((0, dim), np.int64)
        self.dense = None

    def __len__(self) -> int:
        return int(self.keys.size)

    def cells_of(self, X: np.ndarray) -> np.ndarray:
        """Integer cell of each state, shape (A, n)."""
        return cell_coords(X, self.inv_h)

    def lookup(self, X: np.ndarray) -> np.ndarray:
        """Id of the cell holding each state of ``X`` (A, n), ``-1`` where there is none."""
        if not self.keys.size:
            return np.full(X.shape[0], -1, np.int32)
        if self.dense is not None:
            lo, shape, table = self.dense
            c = cell_coords(X, self.inv_h) - lo
            inside = np.ones(X.shape[0], bool)
            flat = np.zeros(X.shape[0], np.int64)
            for i, s in enumerate(shape):
                ci = c[:, i]
                inside &= (ci >= 0) & (ci < s)
                flat = flat * s + ci
            return np.where(inside, table[np.where(inside, flat, 0)], -1)
        k = cell_keys(X, self.inv_h)
        i = np.minimum(np.searchsorted(self.keys, k), self.keys.size - 1)
        return np.where(self.keys[i] == k, self.ids[i], -1).astype(np.int32)

    def add(self, coords: np.ndarray, cid: int) -> None:
        """Give id ``cid`` to the integer cells ``coords`` (m, n) not in the table yet."""
        keys, first = np.unique(hash_coords(coords), return_index=True)
        coords = coords[first]
        new = ~np.isin(keys, self.keys)
        coords, keys = coords[new], keys[new]
        allk = np.concatenate([self.keys, keys])
        allid = np.concatenate([self.ids, np.full(keys.size, cid, np.int32)])
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
