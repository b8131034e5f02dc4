"""The steep wall of the one-unit model: where it is and why (paper §2.3, Fig. 3 and Fig. 6).

For ``F(x) = w σ(x) + b`` the fixed points satisfy ``x* = w σ(x*) + b``. Two families of curves
on the (w, b) plane explain where the loss ``E = (σ(x_T) − y)²`` of a start x₀ can jump:

(a) **basin boundary through x₀** — x₀ is itself the *unstable* fixed point, the boundary
    between the two basins of attraction::

        b = x₀ − w σ(x₀),   with  w σ′(x₀) > 1   (x₀ repelling).

    Crossing this curve moves x₀ from one basin to the other: x_T jumps between attractors.
(b) **fold (saddle-node) bifurcation curves** — a fixed point with multiplier ``w σ′(x*) = 1``,
    parametric in x*::

        w = 1 / σ′(x*),   b = x* − w σ(x*),

    one branch for x* on each side of the inflection point of σ (for the sigmoid
    ``x* < 0`` and ``x* > 0``, both needing ``w ≥ 1/γ = 4``). Between them two attractors coexist.

The paper's claim (§2.3) is that the walls are basin-boundary crossings, not bifurcations.
:func:`locate_unit_wall` finds the wall as a curve (1-D refinement by bisection along grid lines,
however thin it is) and :func:`wall_distances` measures how far it lies from each curve.

Examples
--------
>>> import numpy as np
>>> w = np.array([5.0])
>>> bool(np.isclose(basin_boundary_curve(w, x0=0.5)[0], 0.5 - 5.0 / (1 + np.exp(-0.5))))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import (
    as_float_array,
    check_finite_scalar,
    check_memory,
    check_positive_int,
    progress_wrapper,
)
from ...activations import get_activation
from ...errors import DynsysError
from .surface import _BLOCK_ARRAYS, _CHUNK, UnitModel, _blocks, _check_window, _evaluate, _ticker

__all__ = [
    "Wall",
    "locate_unit_wall",
    "basin_boundary_curve",
    "fold_curves",
    "distance_to_polyline",
    "WallDistances",
    "wall_distances",
]


def basin_boundary_curve(w, *, x0=0.5, activation="sigmoid") -> np.ndarray:
    """``b(w)`` for which x₀ is exactly the unstable fixed point of ``x ↦ w σ(x) + b`` (curve (a)).

    Parameters
    ----------
    w : array_like, shape (...)
    x0 : float
    activation : str or Activation

    Returns
    -------
    b : ndarray, shape (...)
        ``x₀ − w σ(x₀)``; NaN where ``w σ′(x₀) ≤ 1`` (x₀ is then a stable fixed point, not a
        basin boundary).
    """
    act = get_activation(activation)
    x0 = check_finite_scalar(x0, "x0")
    w = as_float_array(w, "w", allow_empty=True)
    b = x0 - w * act.fn(np.float64(x0))
    return np.where(w * act.deriv(np.float64(x0)) > 1.0, b, np.nan)


def fold_curves(*, activation="sigmoid", n: int = 400, w_max: float = 50.0):
    """The two fold (saddle-node) curves ``w = 1/σ′(x*)``, ``b = x* − w σ(x*)`` (curve (b)).

    Parameters
    ----------
    activation : str or Activation
        Must have a single maximum of σ′ at ``activation.argmax`` (sigmoid, tanh, softsign).
    n : int
        Points per branch.
    w_max : float
        The branches are sampled for ``1/γ ≤ w ≤ w_max``.

    Returns
    -------
    left, right : ndarray, shape (n, 2)
        (w, b) along the branch with x* below / above the inflection point, ordered by
        increasing w (starting at the cusp ``w = 1/γ``).
    """
    act = get_activation(activation)
    n = check_positive_int(n, "n", minimum=2)
    w_max = check_finite_scalar(w_max, "w_max")
    gamma = float(act.gamma)
    if act.name in ("relu", "linear") or gamma <= 0:
        raise DynsysError(f"activation {act.name!r} has no fold curves (σ′ has no isolated maximum)")
    if w_max <= 1.0 / gamma:
        raise DynsysError(f"w_max must exceed 1/γ = {1.0 / gamma}, got {w_max}")
    c = float(act.argmax)
    # x* from the cusp outward until σ′(x*) = 1/w_max (bracketed by doubling, then bisection)
    target = 1.0 / w_max
    span = 1.0
    while act.deriv(np.float64(c + span)) > target and span < 1e6:
        span *= 2.0
    lo, hi = 0.0, span
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if act.deriv(np.float64(c + mid)) > target else (lo, mid)
    dx = np.linspace(0.0, lo, n)
    out = []
    for sgn in (-1.0, 1.0):
        xs = c + sgn * dx
        w = 1.0 / act.deriv(xs)
        out.append(np.stack([w, xs - w * act.fn(xs)], axis=-1))
    return out[0], out[1]


def distance_to_polyline(points, curve) -> np.ndarray:
    """Euclidean distance from each point to a polyline (NaN vertices split it into pieces).

    Parameters
    ----------
    points : array_like, shape (P, 2)
    curve : array_like, shape (C, 2)

    Returns
    -------
    ndarray, shape (P,)
    """
    p = as_float_array(points, "points", ndim=2, allow_empty=True)
    c = np.asarray(curve, dtype=float)
    a, d = c[:-1], np.diff(c, axis=0)  # segments a + t d, t ∈ [0, 1]
    ok = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(d), axis=1)
    a, d = a[ok], d[ok]
    if a.shape[0] == 0 or p.shape[0] == 0:
        return np.full(p.shape[0], np.nan)
    rel = p[:, None, :] - a[None, :, :]  # (P, S, 2)
    dd = np.sum(d * d, axis=1)
    t = np.clip(np.sum(rel * d[None], axis=2) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    diff = rel - t[..., None] * d[None]
    return np.sqrt(np.min(np.sum(diff * diff, axis=2), axis=1))


@dataclass(frozen=True)
class WallDistances:
    """Distances from located wall points to the candidate causes (per point, shape (P,)).

    Attributes
    ----------
    basin_boundary : ndarray — distance to curve (a), ``b = x₀ − w σ(x₀)``
    fold_left, fold_right : ndarray — distances to the two fold curves (b)
    basin_boundary_db : ndarray — vertical offset ``b_wall − (x₀ − w_wall σ(x₀))`` (signed)
    """

    basin_boundary: np.ndarray
    fold_left: np.ndarray
    fold_right: np.ndarray
    basin_boundary_db: np.ndarray

    def summary(self) -> dict:
        """Median and max of each distance (JSON-ready floats)."""
        out = {}
        for key in ("basin_boundary", "fold_left", "fold_right"):
            v = getattr(self, key)
            out[f"{key}_median"] = float(np.nanmedian(v)) if v.size else float("nan")
            out[f"{key}_max"] = float(np.nanmax(v)) if v.size else float("nan")
        return out


def wall_distances(points, *, x0=0.5, activation="sigmoid", w_max: float = 50.0) -> WallDistances:
    """Distances of wall points (w, b) from the basin-boundary curve and from both fold curves.

    Parameters
    ----------
    points : array_like, shape (P, 2)
        E.g. ``locate_unit_wall(...).points``.
    """
    act = get_activation(activation)
    x0 = check_finite_scalar(x0, "x0")
    p = as_float_array(points, "points", ndim=2, allow_empty=True)
    if p.shape[1:] != (2,):
        raise DynsysError(f"points must have shape (P, 2), got {p.shape}")
    # curve (a) is the straight line b = x0 − w σ(x0) restricted to w σ′(x0) > 1
    s0, d0 = float(act.fn(np.float64(x0))), float(act.deriv(np.float64(x0)))
    w_min = 1.0 / d0 if d0 > 0 else np.inf
    w_hi = max(w_max, float(np.nanmax(p[:, 0])) + 1.0) if p.size else w_max
    ws = np.array([w_min, w_hi])
    line = np.stack([ws, x0 - ws * s0], axis=-1)
    left, right = fold_curves(activation=act, n=2000, w_max=w_hi)
    return WallDistances(
        distance_to_polyline(p, line),
        distance_to_polyline(p, left),
        distance_to_polyline(p, right),
        p[:, 1] - (x0 - p[:, 0] * s0),
    )


# ---------------------------------------------------------------------------------------------
# the wall as a curve (1-D refinement along grid lines)


@dataclass(frozen=True)
class Wall:
    """The steep wall located by :func:`locate_unit_wall`: one point per crossing grid line.

    Attributes
    ----------
    points : ndarray, shape (P, 2)
        (w, b) of the maximal ‖∇E‖ on each line that crosses the wall, sorted by w.
    grad_norm : ndarray, shape (P,)
        ‖∇E‖ there.
    curvature : ndarray, shape (P,)
        Largest |eigenvalue| of the Hessian there.
    width : ndarray, shape (P,)
        Width along the line of the region where ‖∇E‖ exceeds half its maximum (the wall's
        thickness as seen by that line).
    """

    points: np.ndarray
    grad_norm: np.ndarray
    curvature: np.ndarray
    width: np.ndarray
    model: UnitModel

    @property
    def max_grad(self) -> float:
        return float(np.max(self.grad_norm)) if self.grad_norm.size else float("nan")


def locate_unit_wall(
    w_range,
    b_range,
    *,
    lines: int = 100,
    samples: int = 200,
    state_tol: float = 0.05,
    bisections: int = 60,
    zoom: int = 26,
    x0=0.5,
    target=0.7,
    T=50,
    activation="sigmoid",
    progress=None,
) -> Wall:
    """Locate the wall as a curve: 1-D refinement along ``lines`` lines of constant w and
    ``lines`` lines of constant b.

    On every line, ``samples`` points are evaluated; where σ(x_T) of two neighbours differs by
    more than ``state_tol`` the line crosses the wall (or a steep transition). Each such bracket
    is bisected ``bisections`` times (the midpoint joins the end whose x_T it is closer to), so
    the transition is pinned down to ~``2^-bisections`` of the spacing however thin the wall is;
    then ``zoom`` rounds of a 33-point scan, starting one spacing wide around it and shrinking
    4× a round, find the maximum of ‖∇E‖ along the line.
    All brackets are processed together (vectorized).

    A scan that would not fit in memory is refused up front. ``progress`` (the package's
    progress protocol) shows two bars of block time steps: the scan of the lines (total
    ``2 ⌈lines · samples / 16384⌉ · T``) and the bisection and zoom of the crossings.
    """
    model = UnitModel(x0, target, T, activation)
    (w_lo, w_hi), (b_lo, b_hi) = _check_window(w_range, b_range)
    lines, samples = _check_wall_sizes(lines, samples)
    bisections = check_positive_int(bisections, "bisections", minimum=0)
    zoom = check_positive_int(zoom, "zoom", minimum=0)
    progress_wrapper(progress)
    with _ticker(progress, 2 * _blocks(lines * samples) * model.T, "surface wall scan") as tick:
        lo, hi = _scan_lines(model, (w_lo, w_hi), (b_lo, b_hi), lines, samples, state_tol, tick)
    if lo.shape[0] == 0:
        e = np.empty((0,))
        return Wall(np.empty((0, 2)), e, e.copy(), e.copy(), model)
    K = lo.shape[0]
    total = ((3 + bisections) * _blocks(K) + zoom * _blocks(33 * K)) * model.T
    with _ticker(progress, total, "surface wall") as tick:
        return _pin_down(model, lo, hi, bisections, zoom, tick)


#: float64 arrays of ``lines × samples`` that the scan of one family of lines holds at once
#: (meshgrid 2, points 2, their flat copies 2, loss and x_T 2, σ(x_T), its difference, |·|)
_SCAN_ARRAYS = 11


def _check_wall_sizes(lines, samples) -> tuple[int, int]:
    lines = check_positive_int(lines, "lines", minimum=1)
    samples = check_positive_int(samples, "samples", minimum=2)
    n = lines * samples
    # the scan, or the zoom's 33-point scans of (typically) one crossing per line (2 lines families)
    nbytes = 8.0 * (max(_SCAN_ARRAYS * n, 12 * 33 * 2 * lines) + _BLOCK_ARRAYS * min(n, _CHUNK))
    name, value = ("lines", lines) if lines >= samples else ("samples", samples)
    check_memory(
        nbytes,
        name,
        "the wall's line scan",
        value=value,
        detail=f"{lines} lines × {samples} samples × {_SCAN_ARRAYS} arrays of float64",
    )
    return lines, samples


def _scan_lines(model, w_range, b_range, lines, samples, state_tol, tick):
    """Brackets ``(lo, hi)`` (each (K, 2)) of neighbouring samples on the lines where σ(x_T) jumps."""
    (w_lo, w_hi), (b_lo, b_hi) = w_range, b_range
    sig = model.activation.fn
    lo_list, hi_list = [], []
    for fixed, moving, along in (
        (np.linspace(w_lo, w_hi, lines), np.linspace(b_lo, b_hi, samples), 1),
        (np.linspace(b_lo, b_hi, lines), np.linspace(w_lo, w_hi, samples), 0),
    ):
        F, M = np.meshgrid(fixed, moving, indexing="ij")
        P = np.empty(F.shape + (2,))
        P[..., along], P[..., 1 - along] = M, F
        xs = _evaluate(P[..., 0].ravel(), P[..., 1].ravel(), model, 0, tick=tick).state.reshape(F.shape)
        with np.errstate(invalid="ignore"):
            jump = np.abs(np.diff(sig(xs), axis=1))
        i, j = np.nonzero(np.nan_to_num(jump, nan=1.0) > state_tol)
        lo_list.append(P[i, j])
        hi_list.append(P[i, j + 1])
    return np.concatenate(lo_list), np.concatenate(hi_list)


def _pin_down(model, lo, hi, bisections, zoom, tick) -> Wall:
    """Bisect every bracket onto the transition, then zoom onto the maximum of ‖∇E‖ there."""
    lo0, hi0 = lo.copy(), hi.copy()
    x_lo = _evaluate(lo[:, 0].copy(), lo[:, 1].copy(), model, 0, tick=tick).state
    x_hi = _evaluate(hi[:, 0].copy(), hi[:, 1].copy(), model, 0, tick=tick).state
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        xm = _evaluate(mid[:, 0].copy(), mid[:, 1].copy(), model, 0, tick=tick).state
        to_lo = np.abs(xm - x_lo) <= np.abs(xm - x_hi)
        lo = np.where(to_lo[:, None], mid, lo)
        hi = np.where(to_lo[:, None], hi, mid)
    # zoom on the maximum of ‖∇E‖ along each line: 33-point scans, window shrinking 4x a round
    centre = 0.5 * (lo + hi)
    direction = hi0 - lo0
    spacing = np.linalg.norm(direction, axis=1)
    direction = direction / spacing[:, None]
    half = spacing.copy()
    ts = np.linspace(-1.0, 1.0, 33)
    width = np.full(len(centre), np.nan)
    floor = 4e-16 * (1.0 + np.abs(centre).max(1))
    for _ in range(zoom):
        pts = centre[:, None, :] + (half[:, None] * ts)[:, :, None] * direction[:, None, :]
        g = _evaluate(pts[..., 0].ravel(), pts[..., 1].ravel(), model, 1, tick=tick).grad_norm
        g = g.reshape(pts.shape[:2])
        g = np.nan_to_num(g, nan=-1.0)
        k = np.argmax(g, axis=1)
        centre = pts[np.arange(len(k)), k]
        # the finest scan that still holds the whole peak (≥ max/2) measures the wall's width
        above = np.sum(g >= 0.5 * g.max(axis=1, keepdims=True), axis=1)
        width = np.where(above < len(ts), above * half * (ts[1] - ts[0]), width)
        half = np.maximum(half / 4.0, floor)
    final = _evaluate(centre[:, 0].copy(), centre[:, 1].copy(), model, 2, tick=tick)
    order_ = np.argsort(centre[:, 0], kind="stable")
    return Wall(centre[order_], final.grad_norm[order_], final.curvature[order_], width[order_], model)
