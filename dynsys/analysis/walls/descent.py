"""Gradient descent on the one-unit (w, b) loss surface, plain and with norm clipping (paper Fig. 6).

Plain gradient descent ``θ ← θ − lr ∇E`` is thrown far away when a step lands on the steep
wall; with Algorithm 1 (:func:`dynsys.gradients.clipping.clip_grad_norm`: ``∇E ← threshold ∇E/‖∇E‖`` when
``‖∇E‖ > threshold``) the step keeps its direction but has length at most ``lr · threshold``,
so it stays beside the wall and settles in the valley. :func:`descend` runs several starts at
once (vectorized) and records every trajectory.

Examples
--------
>>> import numpy as np
>>> from dynsys.analysis.walls import descend
>>> path = descend(np.array([[5.0, -2.75]]), lr=0.1, steps=5, threshold=1.0)
>>> path.points.shape
(6, 1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import as_float_array, check_finite_scalar, check_positive_int
from ...errors import DynsysError
from ...gradients.clipping import clip_grad_norm_stacked
from .surface import UnitModel, _check_window, _evaluate

__all__ = ["DescentPath", "descend"]


@dataclass(frozen=True)
class DescentPath:
    """Trajectories of gradient descent on the (w, b) plane, for S starts.

    Attributes
    ----------
    points : ndarray, shape (steps + 1, S, 2)
        ``points[k]`` = (w, b) after k steps (``points[0]`` = the starts). Once a trajectory's
        gradient becomes NaN/Inf it stops (later rows repeat the last point). A finite gradient
        is never dropped, however large (unlike the trainer's ``1e10`` safeguard).
    loss : ndarray, shape (steps + 1, S)
    grad_norm : ndarray, shape (steps + 1, S)
        ‖∇E‖ before clipping at each point.
    clipped : ndarray of bool, shape (steps, S)
        Whether step k was rescaled (always False without a threshold).
    left_window : ndarray of int, shape (S,)
        The first step index k at which ``points[k]`` lies outside the window (−1 if never or
        no window given).
    lr : float
    threshold : float or None
    """

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    left_window: np.ndarray
    lr: float
    threshold: float | None

    @property
    def step_lengths(self) -> np.ndarray:
        """Length of every step, shape (steps, S)."""
        return np.linalg.norm(np.diff(self.points, axis=0), axis=-1)


def descend(
    starts,
    *,
    lr: float = 0.1,
    steps: int = 100,
    threshold: float | None = None,
    window=None,
    x0=0.5,
    target=0.7,
    T=50,
    activation="sigmoid",
) -> DescentPath:
    """Gradient descent on the one-unit loss (eq. 8), plain or norm-clipped (Algorithm 1).

    Parameters
    ----------
    starts : array_like, shape (S, 2) or (2,)
        Start points (w, b).
    lr : float
        Learning rate (the same for plain and clipped descent).
    steps : int
        Number of updates.
    threshold : float, optional
        Clip the gradient to this norm when ``‖∇E‖ > threshold`` (paper Algorithm 1, per start);
        None for plain gradient descent.
    window : ((w_lo, w_hi), (b_lo, b_hi)), optional
        Only used to record when a trajectory first leaves it.
    x0, target, T, activation
        The model (see :class:`dynsys.analysis.walls.UnitModel`).

    Returns
    -------
    DescentPath
    """
    model = UnitModel(x0, target, T, activation)
    starts = as_float_array(starts, "starts", ndim=(1, 2))
    if starts.shape[-1] != 2:
        raise DynsysError(f"starts must have shape (S, 2), got {starts.shape}")
    starts = np.atleast_2d(starts)
    lr = check_finite_scalar(lr, "lr")
    if lr <= 0:
        raise DynsysError(f"lr must be > 0, got {lr}")
    steps = check_positive_int(steps, "steps")
    if threshold is not None:
        threshold = check_finite_scalar(threshold, "threshold")
        if threshold <= 0:
            raise DynsysError(f"threshold must be > 0, got {threshold}")
    if window is not None:
        (w_lo, w_hi), (b_lo, b_hi) = _check_window(*window)
    S = starts.shape[0]
    pts = np.empty((steps + 1, S, 2))
    loss = np.empty((steps + 1, S))
    gnorm = np.empty((steps + 1, S))
    clipped = np.zeros((steps, S), dtype=bool)
    pts[0] = starts
    alive = np.ones(S, dtype=bool)
    thresholds = np.full(S, np.inf if threshold is None else threshold)
    for k in range(steps + 1):
        r = _evaluate(pts[k, :, 0].copy(), pts[k, :, 1].copy(), model, 1)
        loss[k] = r.loss
        g = r.grad
        # Algorithm 1 for each start separately: one norm over (∂E/∂w, ∂E/∂b); NaN/Inf only is
        # non-finite (limit=inf): a huge finite gradient is clipped, or taken whole without a threshold
        _, info = clip_grad_norm_stacked(g, thresholds, nonfinite="skip", limit=np.inf)
        gnorm[k] = info.norm
        if k == steps:
            break
        alive &= ~info.nonfinite
        clipped[k] = alive & info.clipped
        step = np.where(alive[:, None], lr * info.scale[:, None] * np.nan_to_num(g), 0.0)
        pts[k + 1] = pts[k] - step
    left = np.full(S, -1)
    if window is not None:
        out = (
            (pts[..., 0] < w_lo) | (pts[..., 0] > w_hi) | (pts[..., 1] < b_lo) | (pts[..., 1] > b_hi)
        )  # (steps + 1, S)
        anyout = out.any(axis=0)
        left = np.where(anyout, np.argmax(out, axis=0), -1)
    return DescentPath(pts, loss, gnorm, clipped, left, lr, threshold)
