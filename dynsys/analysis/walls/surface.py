"""Loss surfaces of the one-unit model (paper eq. 8, Fig. 6): exact loss, gradient and Hessian on
whole (w, b) grids, adaptive refinement near the steep wall, and the wall as a curve.

The model (paper §3.2, Fig. 6) is one recurrent unit without input,

    x_t = w σ(x_{t-1}) + b,        E(w, b) = (σ(x_T) − y)²,

with a fixed start ``x₀`` (paper: ``x₀ = 0.5``, ``y = 0.7``, ``T = 50``, σ the logistic sigmoid).
:func:`unit_loss` propagates the *forward sensitivities* ``p_t = ∂x_t/∂w``, ``q_t = ∂x_t/∂b``
(first order) and ``∂²x_t/∂(w, b)²`` (second order) along with the state,

    p_t = σ(x_{t-1}) + w σ′ p_{t-1},                  q_t = 1 + w σ′ q_{t-1},
    P^{ww}_t = 2σ′ p + w σ″ p² + w σ′ P^{ww},         P^{bb}_t = w σ″ q² + w σ′ P^{bb},
    P^{wb}_t = σ′ q + w σ″ p q + w σ′ P^{wb}           (σ′, σ″ at x_{t-1}; p, q at t − 1),

so the exact gradient ``∇E = E′(x_T) (p_T, q_T)`` and Hessian
``H = E″(x_T) (p, q)(p, q)ᵀ + E′(x_T) P_T`` of a whole grid come out of one vectorized pass of
T steps. Near the *wall* — where x₀ sits on the basin boundary of the map, so a tiny change of
(w, b) sends x_T to the other attractor — ``‖∇E‖`` grows like the T-th power of the unstable
multiplier, and the wall can be thinner than any sensible uniform grid spacing.
:func:`refine_unit_surface` subdivides cells whose corners disagree (different attractors, or a
large first-order change), and :func:`~dynsys.analysis.walls.locate_unit_wall` bisects every grid line crossing
the wall, returning the ridge of maximal ‖∇E‖ as a curve.

The loss of an n-unit RNN along lines and planes through its parameter space is in
:mod:`dynsys.analysis.walls.slices`; the wall's location and cause (basin boundary, fold curves) in
:mod:`dynsys.analysis.walls.wall`; gradient descent on the (w, b) plane in :mod:`dynsys.analysis.walls.descent`.

Examples
--------
>>> import numpy as np
>>> r = unit_loss(np.array([5.0]), np.array([-2.5]), order=2)
>>> r.loss.shape, r.grad.shape, r.hessian.shape
((1,), (1, 2), (1, 2, 2))
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import numpy as np

from ..._validate import (
    as_float_array,
    check_finite_scalar,
    check_memory,
    check_positive_int,
    check_range,
    progress_loop,
    progress_wrapper,
)
from ...activations import Activation, get_activation
from ...errors import DynsysError

__all__ = [
    "UnitModel",
    "UnitLoss",
    "UnitSurface",
    "RefinedSurface",
    "unit_loss",
    "unit_surface",
    "refine_unit_surface",
]

_CHUNK = 16384  # points per block: keeps the ~12 work arrays in cache


@dataclass(frozen=True)
class UnitModel:
    """The one-unit model of paper eq. 8 with its loss: ``x_t = w σ(x_{t-1}) + b``,
    ``E = (σ(x_T) − target)²``. Validated on construction."""

    x0: float = 0.5
    target: float = 0.7
    T: int = 50
    activation: str | Activation = "sigmoid"

    def __post_init__(self):
        object.__setattr__(self, "x0", check_finite_scalar(self.x0, "x0"))
        object.__setattr__(self, "target", check_finite_scalar(self.target, "target"))
        object.__setattr__(self, "T", check_positive_int(self.T, "T"))
        object.__setattr__(self, "activation", get_activation(self.activation))


@dataclass(frozen=True)
class UnitLoss:
    """Loss, exact gradient and Hessian of the one-unit model at given (w, b).

    Attributes
    ----------
    loss : ndarray, shape (...)
        ``E = (σ(x_T) − target)²``.
    grad : ndarray, shape (..., 2) or None
        ``(∂E/∂w, ∂E/∂b)`` (``order >= 1``).
    hessian : ndarray, shape (..., 2, 2) or None
        ``∂²E/∂(w, b)²`` (``order == 2``).
    state : ndarray, shape (...)
        The final state ``x_T`` (which attractor the start went to).
    """

    loss: np.ndarray
    grad: np.ndarray | None
    hessian: np.ndarray | None
    state: np.ndarray

    @property
    def grad_norm(self) -> np.ndarray:
        """``‖∇E‖₂``, shape (...)."""
        return np.hypot(self.grad[..., 0], self.grad[..., 1])

    @property
    def curvature(self) -> np.ndarray:
        """Spectral norm of the Hessian (largest |eigenvalue|), shape (...)."""
        return np.max(np.abs(np.linalg.eigvalsh(self.hessian)), axis=-1)


def _act_triplet(act: Activation, x, order, s, ds, d2s, tmp):
    """σ, σ′ (and σ″) at x into the buffers, with fast paths for sigmoid and tanh."""
    if act.name == "sigmoid":
        np.multiply(x, 0.5, out=tmp)
        np.tanh(tmp, out=tmp)  # th = tanh(x/2); σ = (1 + th)/2; σ′ = (1 − th²)/4; σ″ = −th σ′
        np.multiply(tmp, 0.5, out=s)
        np.add(s, 0.5, out=s)
        if order >= 1:
            np.multiply(tmp, tmp, out=ds)
            np.subtract(0.25, ds * 0.25, out=ds)
            if order >= 2:
                np.multiply(tmp, ds, out=d2s)
                np.negative(d2s, out=d2s)
    elif act.name == "tanh":
        np.tanh(x, out=s)
        if order >= 1:
            np.multiply(s, s, out=ds)
            np.subtract(1.0, ds, out=ds)
            if order >= 2:
                np.multiply(s, ds, out=d2s)
                np.multiply(d2s, -2.0, out=d2s)
    else:
        s[...] = act.fn(x)
        if order >= 1:
            ds[...] = act.deriv(x)
            if order >= 2:
                d2s[...] = act.second(x)


def _unit_block(w, b, model: UnitModel, order: int, tick=None):
    """One block of points (1-D w, b of equal length): returns (loss, grad, hessian, x_T).

    ``tick`` (an iterator or None) is advanced once per time step (progress)."""
    act = model.activation
    n = w.shape[0]
    x = np.full(n, model.x0)
    s, ds, d2s, tmp, a = (np.empty(n) for _ in range(5))
    p = np.zeros(n) if order >= 1 else None
    q = np.zeros(n) if order >= 1 else None
    if order >= 2:
        pww, pwb, pbb, u = np.zeros(n), np.zeros(n), np.zeros(n), np.empty(n)
    for _ in range(model.T):
        _act_triplet(act, x, order, s, ds, d2s, tmp)
        if order >= 1:
            np.multiply(w, ds, out=a)  # a = w σ′(x_{t-1})
            if order >= 2:
                np.multiply(w, d2s, out=u)  # u = w σ″
                # P^{ww} ← 2σ′p + u p² + a P^{ww}
                np.multiply(a, pww, out=pww)
                pww += 2.0 * ds * p + u * p * p
                np.multiply(a, pwb, out=pwb)
                pwb += ds * q + u * p * q
                np.multiply(a, pbb, out=pbb)
                pbb += u * q * q
            np.multiply(a, p, out=p)
            np.add(p, s, out=p)
            np.multiply(a, q, out=q)
            np.add(q, 1.0, out=q)
        np.multiply(w, s, out=x)
        np.add(x, b, out=x)
        if tick is not None:
            next(tick, None)
    _act_triplet(act, x, order, s, ds, d2s, tmp)
    r = s - model.target
    loss = r * r
    grad = hess = None
    if order >= 1:
        e1 = 2.0 * r * ds  # dE/dx_T
        grad = np.stack([e1 * p, e1 * q], axis=-1)
        if order >= 2:
            e2 = 2.0 * (ds * ds + r * d2s)  # d²E/dx_T²
            hww = e2 * p * p + e1 * pww
            hwb = e2 * p * q + e1 * pwb
            hbb = e2 * q * q + e1 * pbb
            hess = np.stack([np.stack([hww, hwb], -1), np.stack([hwb, hbb], -1)], -2)
    return loss, grad, hess, x


def unit_loss(w, b, *, x0=0.5, target=0.7, T=50, activation="sigmoid", order: int = 1) -> UnitLoss:
    """Loss of the one-unit model (eq. 8) with its exact gradient and Hessian, vectorized.

    Parameters
    ----------
    w, b : array_like, broadcasting to shape (...)
        Recurrent weight and bias; a whole grid (e.g. from ``np.meshgrid``) in one call.
    x0, target : float
        Start state and target of ``E = (σ(x_T) − target)²``.
    T : int
        Number of steps (the loss is read at t = T only, as in Fig. 6).
    activation : str or Activation
    order : {0, 1, 2}
        0: loss only; 1: with gradient; 2: with gradient and Hessian.

    Returns
    -------
    UnitLoss
        ``loss`` (...), ``grad`` (..., 2), ``hessian`` (..., 2, 2), ``state`` x_T (...).
    """
    model = UnitModel(x0, target, T, activation)
    if order not in (0, 1, 2):
        raise DynsysError(f"order must be 0, 1 or 2, got {order!r}")
    w = as_float_array(w, "w", allow_empty=True)
    b = as_float_array(b, "b", allow_empty=True)
    try:
        shape = np.broadcast_shapes(w.shape, b.shape)
    except ValueError:
        raise DynsysError(f"w and b must broadcast, got shapes {w.shape} and {b.shape}") from None
    return _evaluate(
        np.broadcast_to(w, shape).ravel(), np.broadcast_to(b, shape).ravel(), model, order, shape
    )


def _evaluate(w, b, model: UnitModel, order: int, shape=None, tick=None) -> UnitLoss:
    """Trusted inner evaluation on flat arrays, in cache-sized blocks (``tick``: advanced once per
    time step of every block, :func:`_blocks` ``· T`` times in all)."""
    n = w.shape[0]
    shape = (n,) if shape is None else shape
    loss, state = np.empty(n), np.empty(n)
    grad = np.empty((n, 2)) if order >= 1 else None
    hess = np.empty((n, 2, 2)) if order >= 2 else None
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, n, _CHUNK):
            sl = slice(i, min(i + _CHUNK, n))
            lo, g, h, x = _unit_block(
                np.ascontiguousarray(w[sl]), np.ascontiguousarray(b[sl]), model, order, tick
            )
            loss[sl], state[sl] = lo, x
            if order >= 1:
                grad[sl] = g
            if order >= 2:
                hess[sl] = h
    return UnitLoss(
        loss.reshape(shape),
        None if grad is None else grad.reshape(shape + (2,)),
        None if hess is None else hess.reshape(shape + (2, 2)),
        state.reshape(shape),
    )


def _blocks(n: int) -> int:
    """Blocks :func:`_evaluate` cuts ``n`` points into."""
    return -(-int(n) // _CHUNK)


@contextlib.contextmanager
def _ticker(progress, total, desc):
    """An iterator to advance once per block step, shown by the progress protocol (None: silent).

    ``total`` is the number of block steps when known in advance (else None)."""
    if progress is None or progress is False:
        yield None
        return
    it = range(total) if total is not None else itertools.count()
    with progress_loop(progress, it, total=total, desc=desc) as bar:
        yield iter(bar)


#: float64 work arrays of one block of :func:`_unit_block` (order 2; a bound for order 0, 1)
_BLOCK_ARRAYS = 20


def _check_grid_memory(nw: int, nb: int, order: int, resolution) -> None:
    """Refuse a uniform grid whose arrays do not fit: the meshgrid (2), loss and x_T (2), the
    gradient (2) and, for ``order=2``, the Hessian (4) — float64 per point — plus a block's work."""
    n = nw * nb
    arrays = 6 + (4 if order >= 2 else 0)
    nbytes = 8.0 * (arrays * n + _BLOCK_ARRAYS * min(n, _CHUNK))
    check_memory(
        nbytes,
        "resolution",
        "the loss surface",
        value=resolution,
        detail=f"{n:.1e} grid points × {arrays} arrays of float64",
    )


# ---------------------------------------------------------------------------------------------
# uniform grid


@dataclass(frozen=True)
class UnitSurface:
    """The one-unit loss on a uniform (w, b) grid; arrays indexed ``[i_w, i_b]``.

    Attributes
    ----------
    w : ndarray, shape (Nw,)
    b : ndarray, shape (Nb,)
    loss : ndarray, shape (Nw, Nb)
    grad : ndarray, shape (Nw, Nb, 2)
    hessian : ndarray, shape (Nw, Nb, 2, 2) or None
    state : ndarray, shape (Nw, Nb) — x_T
    model : UnitModel
    """

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    hessian: np.ndarray | None
    state: np.ndarray
    model: UnitModel

    @property
    def grad_norm(self) -> np.ndarray:
        return np.hypot(self.grad[..., 0], self.grad[..., 1])


def _check_window(w_range, b_range):
    w_lo, w_hi = check_range(*_pair(w_range, "w_range"), "w_range")
    b_lo, b_hi = check_range(*_pair(b_range, "b_range"), "b_range")
    return (w_lo, w_hi), (b_lo, b_hi)


def _pair(r, name):
    try:
        lo, hi = r
    except (TypeError, ValueError):
        raise DynsysError(f"{name} must be a pair (low, high), got {r!r}") from None
    return lo, hi


def _grid_size(resolution) -> tuple[int, int]:
    nw, nb = (resolution, resolution) if np.ndim(resolution) == 0 else _pair(resolution, "resolution")
    return check_positive_int(nw, "resolution", minimum=2), check_positive_int(nb, "resolution", minimum=2)


def unit_surface(
    w_range,
    b_range,
    resolution=200,
    *,
    x0=0.5,
    target=0.7,
    T=50,
    activation="sigmoid",
    order=1,
    progress=None,
) -> UnitSurface:
    """The one-unit loss on a uniform ``resolution`` × ``resolution`` grid over the window
    (an int, or a pair ``(Nw, Nb)``), in one vectorized pass (see :func:`unit_loss`).

    A grid whose arrays would not fit in memory is refused before anything is allocated
    (:func:`dynsys._validate.check_memory`). ``progress`` (the package's progress protocol,
    :func:`dynsys._validate.progress_wrapper`) counts the time steps of every block of at most
    16384 points: ``⌈Nw·Nb / 16384⌉ · T`` in all.
    """
    model = UnitModel(x0, target, T, activation)
    (w_lo, w_hi), (b_lo, b_hi) = _check_window(w_range, b_range)
    nw, nb = _grid_size(resolution)
    if order not in (1, 2):
        raise DynsysError(f"order must be 1 or 2, got {order!r}")
    progress_wrapper(progress)
    _check_grid_memory(nw, nb, order, resolution)
    w = np.linspace(w_lo, w_hi, nw)
    b = np.linspace(b_lo, b_hi, nb)
    W, B = np.meshgrid(w, b, indexing="ij")
    with _ticker(progress, _blocks(nw * nb) * model.T, "surface grid") as tick:
        r = _evaluate(W.ravel(), B.ravel(), model, order, (nw, nb), tick)
    return UnitSurface(w, b, r.loss, r.grad, r.hessian, r.state, model)


# ---------------------------------------------------------------------------------------------
# adaptive refinement (quadtree)


@dataclass(frozen=True)
class RefinedSurface:
    """Points where the loss was evaluated by :func:`refine_unit_surface` (scattered).

    Attributes
    ----------
    points : ndarray, shape (P, 2) — (w, b)
    loss : ndarray, shape (P,)
    grad : ndarray, shape (P, 2)
    state : ndarray, shape (P,) — x_T
    cell_size : ndarray, shape (P,) — width (in w) of the cell the point belongs to
    depth : ndarray of int, shape (P,) — refinement level of that cell (0 = initial grid)
    """

    points: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    state: np.ndarray
    cell_size: np.ndarray
    depth: np.ndarray
    model: UnitModel

    @property
    def grad_norm(self) -> np.ndarray:
        return np.hypot(self.grad[:, 0], self.grad[:, 1])

    @property
    def max_grad(self) -> tuple[float, np.ndarray]:
        """``(max ‖∇E‖, (w, b) where it was found)``."""
        i = int(np.nanargmax(self.grad_norm))
        return float(self.grad_norm[i]), self.points[i].copy()


_OFFSETS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])


def refine_unit_surface(
    w_range,
    b_range,
    *,
    resolution: int = 32,
    max_depth: int = 30,
    state_tol: float = 0.05,
    loss_tol: float = 0.01,
    max_cells: int = 2048,
    x0=0.5,
    target=0.7,
    T=50,
    activation="sigmoid",
    progress=None,
) -> RefinedSurface:
    """Adaptive quadtree refinement of the one-unit surface where it is steep.

    Start from ``resolution`` × ``resolution`` cells. A cell is split in four when its corners and
    centre disagree: their σ(x_T) span more than ``state_tol`` (the start went to different
    attractors somewhere inside: a wall crossing, however thin), or the first-order change
    ``max ‖∇E‖ · diag`` exceeds ``loss_tol``. At most ``max_cells`` cells are split per level —
    the most extreme ones (largest ``‖∇E‖ · diag`` among those whose σ(x_T) span is largest) —
    so the cost stays linear in ``max_depth`` while the search zooms onto the steepest part of
    the wall (cell width ``Δw / (resolution · 2^depth)``).

    The points of all levels are kept, so the memory grows with ``resolution² + max_depth ·
    max_cells``; a refinement that would not fit is refused up front. ``progress`` (the
    package's progress protocol) counts the time steps of every block evaluated (the total is not
    known in advance).

    Returns
    -------
    RefinedSurface
        Every evaluated point (corners and centres of every visited cell).
    """
    model = UnitModel(x0, target, T, activation)
    (w_lo, w_hi), (b_lo, b_hi) = _check_window(w_range, b_range)
    resolution, max_depth, max_cells = _check_refine_sizes(resolution, max_depth, max_cells)
    progress_wrapper(progress)
    with _ticker(progress, None, "surface refinement") as tick:
        return _refine(
            model, (w_lo, w_hi), (b_lo, b_hi), resolution, max_depth, max_cells, state_tol, loss_tol, tick
        )


#: float64 numbers kept per evaluated point of the refinement: (w, b), loss, gradient (2), x_T,
#: cell size, depth — twice (the per-level pieces and their concatenation at the end)
_REFINE_FLOATS = 2 * 8


def _check_refine_sizes(resolution, max_depth, max_cells) -> tuple[int, int, int]:
    resolution = check_positive_int(resolution, "resolution", minimum=2)
    max_depth = check_positive_int(max_depth, "max_depth", minimum=0)
    max_cells = check_positive_int(max_cells, "max_cells")
    points = 5 * (resolution**2 + max_depth * 4 * max_cells)  # corners and centre of every cell
    nbytes = 8.0 * (_REFINE_FLOATS * points + _BLOCK_ARRAYS * min(points, _CHUNK))
    big = "resolution" if resolution**2 >= max_depth * 4 * max_cells else "max_cells"
    check_memory(
        nbytes,
        big,
        "the refined surface",
        value=resolution if big == "resolution" else max_cells,
        detail=f"up to {points:.1e} points × {_REFINE_FLOATS} float64",
    )
    return resolution, max_depth, max_cells


def _refine(model, w_range, b_range, resolution, max_depth, max_cells, state_tol, loss_tol, tick):
    (w_lo, w_hi), (b_lo, b_hi) = w_range, b_range
    hw0, hb0 = (w_hi - w_lo) / resolution, (b_hi - b_lo) / resolution
    iw, ib = np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="ij")
    origin = np.stack([w_lo + iw.ravel() * hw0, b_lo + ib.ravel() * hb0], axis=-1)
    h = np.array([hw0, hb0])
    out_pts, out_loss, out_grad, out_state, out_size, out_depth = [], [], [], [], [], []
    for depth in range(max_depth + 1):
        pts = (origin[:, None, :] + _OFFSETS[None, :, :] * h).reshape(-1, 2)
        r = _evaluate(pts[:, 0].copy(), pts[:, 1].copy(), model, 1, tick=tick)
        out_pts.append(pts)
        out_loss.append(r.loss)
        out_grad.append(r.grad)
        out_state.append(r.state)
        out_size.append(np.full(len(pts), h[0]))
        out_depth.append(np.full(len(pts), depth))
        if depth == max_depth:
            break
        sig = model.activation.fn(r.state).reshape(-1, 5)
        gn = r.grad_norm.reshape(-1, 5)
        with np.errstate(invalid="ignore"):
            span = np.nan_to_num(sig.max(1) - sig.min(1), nan=1.0)
            first = np.nan_to_num(gn.max(1), nan=np.inf, posinf=np.inf) * np.hypot(*h)
        flag = (span > state_tol) | (first > loss_tol)
        idx = np.flatnonzero(flag)
        if idx.size == 0:
            break
        if idx.size > max_cells:
            order_ = np.lexsort((-first[idx], -np.round(span[idx] / state_tol)))
            idx = idx[order_[:max_cells]]
        h = h / 2
        kids = origin[idx][:, None, :] + np.array([[0, 0], [1, 0], [0, 1], [1, 1]])[None] * h
        origin = kids.reshape(-1, 2)
    return RefinedSurface(
        np.concatenate(out_pts),
        np.concatenate(out_loss),
        np.concatenate(out_grad),
        np.concatenate(out_state),
        np.concatenate(out_size),
        np.concatenate(out_depth),
        model,
    )
