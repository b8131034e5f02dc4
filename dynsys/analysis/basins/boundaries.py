"""Basin boundaries and their geometry: boundary cells, basin entropy, uncertainty exponent.

The paper's mechanism for exploding gradients is the crossing of a basin boundary (§2.3). How
such a boundary looks decides how often it is crossed: a smooth boundary (the unstable fixed point
of one bistable unit) is a thin set, a fractal one (Newton's method for ``z³ − 1``) is everywhere
near the attractors' basins.

* :func:`boundary_mask` — grid cells with a neighbour of another label.
* :func:`basin_entropy` — Daza, Wagemakers, Georgeot, Guéry-Odelin & Sanjuán (2016), "Basin
  entropy: a new tool to analyze uncertainty in dynamical systems", Sci. Rep. 6: 31416. The grid
  is cut into boxes of ``box × box`` cells; box ``i`` has Gibbs entropy
  ``S_i = −Σ_j p_ij ln p_ij`` over the labels in it. ``S_b`` is the mean over all boxes, ``S_bb``
  the mean over the boxes that hold more than one label. ``S_bb > ln 2`` is a *sufficient*
  condition for a fractal boundary (the "ln 2 criterion").
* :func:`uncertainty_exponent` — the fraction ``f(ε)`` of grid points whose label differs from
  that of a point ``ε`` away scales as ``ε^α`` with ``α = d − D`` (``D`` the box-counting
  dimension of the boundary, ``d`` the grid dimension). ``α = 1`` for a smooth boundary,
  ``α < 1`` for a fractal one (Grebogi, McDonald, Ott & Yorke 1983).
* :func:`boundary_dimension` — box-counting dimension of the boundary cells.
* :func:`classify_boundary` — "fractal" when ``S_bb > ln 2`` or ``α < alpha_threshold``,
  otherwise "smooth" (or "none" without a boundary).

Examples
--------
>>> import numpy as np
>>> labels = np.zeros((64, 64), int); labels[:, 32:] = 1
>>> classify_boundary(labels).kind
'smooth'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..._validate import check_positive_int
from ...errors import DynsysError

__all__ = [
    "boundary_mask",
    "basin_entropy",
    "uncertainty_exponent",
    "boundary_dimension",
    "BoundaryGeometry",
    "classify_boundary",
]

LN2 = float(np.log(2.0))


def _labels(labels) -> np.ndarray:
    lab = np.asarray(getattr(labels, "labels", labels))
    if lab.ndim not in (1, 2) or lab.size == 0 or lab.dtype.kind not in "iu":
        raise DynsysError(f"labels must be a non-empty 1-D or 2-D integer grid, got {lab.dtype} {lab.shape}")
    return lab


def boundary_mask(labels) -> np.ndarray:
    """Cells that have a neighbour (4-neighbourhood in 2-D) with a different label.

    Parameters
    ----------
    labels : ndarray of int, shape (N,) or (N1, N2), or Basins

    Returns
    -------
    ndarray of bool, same shape
    """
    lab = _labels(labels)
    mask = np.zeros(lab.shape, bool)
    for axis in range(lab.ndim):
        d = np.diff(lab, axis=axis) != 0
        lo = [slice(None)] * lab.ndim
        hi = [slice(None)] * lab.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        mask[tuple(lo)] |= d
        mask[tuple(hi)] |= d
    return mask


def _boxes(lab: np.ndarray, box: int) -> np.ndarray:
    """Reshape into non-overlapping boxes: (n_boxes, box**ndim) (edges that do not fill a box dropped)."""
    if any(s < box for s in lab.shape):
        raise DynsysError(f"box ({box}) must not exceed the grid shape {lab.shape}")
    if lab.ndim == 1:
        m = lab.shape[0] // box
        return lab[: m * box].reshape(m, box)
    m1, m2 = lab.shape[0] // box, lab.shape[1] // box
    b = lab[: m1 * box, : m2 * box].reshape(m1, box, m2, box)
    return b.transpose(0, 2, 1, 3).reshape(m1 * m2, box * box)


def basin_entropy(labels, box: int = 5) -> tuple[float, float]:
    """Basin entropy ``S_b`` and boundary basin entropy ``S_bb`` (Daza et al. 2016), in nats.

    Parameters
    ----------
    labels : ndarray of int or Basins
        Diverged/undecided labels count as labels of their own.
    box : int
        Box side in cells (Daza et al. use 5).

    Returns
    -------
    S_b, S_bb : float
        ``S_bb = 0`` when no box holds two labels.
    """
    lab = _labels(labels)
    box = check_positive_int(box, "box", minimum=2)
    B = _boxes(lab, box)
    lab0 = B - B.min()
    K = int(lab0.max()) + 1
    rows = np.repeat(np.arange(B.shape[0]), B.shape[1])
    counts = np.bincount(rows * K + lab0.ravel(), minlength=B.shape[0] * K).reshape(B.shape[0], K)
    p = counts / B.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        S = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    n_labels = (counts > 0).sum(axis=1)
    S_b = float(S.mean())
    mixed = n_labels > 1
    S_bb = float(S[mixed].mean()) if mixed.any() else 0.0
    return S_b, S_bb


def uncertainty_exponent(labels, max_shift: int | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Uncertainty exponent α from the labels of a regular grid.

    ``f(s)`` is the fraction of grid points whose label differs from the label ``s`` cells away
    (along any axis, either sign); ``α`` is the slope of ``log f`` against ``log s`` by least
    squares over ``s = 1 … max_shift``.

    Returns
    -------
    alpha : float
        NaN when there is no boundary.
    shifts : ndarray of int
    f : ndarray of float
    """
    lab = _labels(labels)
    if max_shift is None:
        max_shift = max(2, min(lab.shape) // 16)
    max_shift = check_positive_int(max_shift, "max_shift", minimum=2)
    if max_shift >= min(lab.shape) // 2:
        raise DynsysError(f"max_shift ({max_shift}) must be < half the grid side ({min(lab.shape)})")
    shifts = np.unique(np.round(np.geomspace(1, max_shift, 12)).astype(int))
    m = max_shift
    core = tuple(slice(m, s - m) for s in lab.shape)
    ref = lab[core]
    f = np.empty(shifts.size)
    for i, s in enumerate(shifts):
        diff = np.zeros(ref.shape, bool)
        for axis in range(lab.ndim):
            for sign in (-1, 1):
                sl = list(core)
                sl[axis] = slice(m + sign * s, lab.shape[axis] - m + sign * s)
                diff |= lab[tuple(sl)] != ref
        f[i] = diff.mean()
    good = f > 0
    if good.sum() < 2:
        return float("nan"), shifts, f
    alpha = float(np.polyfit(np.log(shifts[good]), np.log(f[good]), 1)[0])
    return alpha, shifts, f


def boundary_dimension(labels) -> tuple[float, np.ndarray, np.ndarray]:
    """Box-counting dimension of the boundary cells (:func:`boundary_mask`).

    Counts ``N(s)``, the boxes of side ``s`` cells (powers of two up to a quarter of the grid)
    holding a boundary cell; ``D = −slope`` of ``log N`` against ``log s``.

    Returns
    -------
    D : float
        NaN without a boundary.
    sizes, counts : ndarray
    """
    return _box_dimension(boundary_mask(labels))


def _box_dimension(mask: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`boundary_dimension` of a boundary mask already computed."""
    if not mask.any():
        return float("nan"), np.array([], int), np.array([], int)
    sizes = 2 ** np.arange(0, int(np.log2(max(2, min(mask.shape) // 4))) + 1)
    counts = np.array([_boxes(mask, s).any(axis=1).sum() if s > 1 else mask.sum() for s in sizes])
    D = float(-np.polyfit(np.log(sizes), np.log(counts), 1)[0]) if sizes.size >= 2 else float("nan")
    return D, sizes, counts


@dataclass(frozen=True)
class BoundaryGeometry:
    """Result of :func:`classify_boundary`.

    Attributes
    ----------
    kind : {"smooth", "fractal", "none"}
    S_b, S_bb : float
        Basin entropy and boundary basin entropy (nats).
    alpha : float
        Uncertainty exponent (NaN without boundary).
    dimension : float
        Box-counting dimension of the boundary cells.
    boundary_fraction : float
        Fraction of boundary cells.
    reason : str
        Which test decided.
    """

    kind: Literal["smooth", "fractal", "none"]
    S_b: float
    S_bb: float
    alpha: float
    dimension: float
    boundary_fraction: float
    reason: str


def classify_boundary(labels, box: int = 5, alpha_threshold: float = 0.8) -> BoundaryGeometry:
    """Tell a smooth basin boundary from a fractal one (see the module docstring).

    Parameters
    ----------
    labels : ndarray of int or Basins
    box : int
        Box side for the basin entropy.
    alpha_threshold : float
        ``α`` below this counts as fractal (smooth boundaries give ``α ≈ 1``).
    """
    lab = _labels(labels)
    S_b, S_bb = basin_entropy(lab, box)
    mask = boundary_mask(lab)
    frac = float(mask.mean())
    if not mask.any():
        return BoundaryGeometry("none", S_b, S_bb, float("nan"), float("nan"), 0.0, "a single label")
    alpha, _, _ = uncertainty_exponent(lab)
    D, _, _ = _box_dimension(mask)
    if S_bb > LN2:
        kind, reason = "fractal", f"S_bb = {S_bb:.3f} > ln 2"
    elif np.isfinite(alpha) and alpha < alpha_threshold:
        kind, reason = "fractal", f"uncertainty exponent {alpha:.3f} < {alpha_threshold}"
    else:
        kind, reason = "smooth", f"S_bb = {S_bb:.3f} <= ln 2 and alpha = {alpha:.3f} >= {alpha_threshold}"
    return BoundaryGeometry(kind, S_b, S_bb, alpha, D, frac, reason)
