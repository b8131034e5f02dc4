"""Pseudo-arclength continuation of the zero curve of ``G: R^{N+1} → R^N`` (paper §2.2, Fig. 3).

The generic engine behind :mod:`dynsys.analysis.continuation.branches` (fixed-point branches in one parameter) and
:mod:`dynsys.analysis.continuation.fold_curves` (fold curves in two parameters). A curve of solutions ``G(y) = 0`` is
followed by predicting along the unit tangent ``t`` (the null vector of ``∂G/∂y``, oriented along
the previous one) and correcting with Newton's method on the bordered system

    G(y) = 0,   tᵀ (y − y_pred) = 0,

so turning points (folds, where natural-parameter continuation fails) pass without trouble. Step
lengths adapt: they grow after easy corrections and shrink (and retry) after hard ones, or when
the tangent turns too much. Options are a frozen :class:`ContinuationOptions`.

Examples
--------
>>> import numpy as np
>>> G = lambda y: (np.array([y @ y - 1.0]), 2.0 * y[None, :])  # the unit circle
>>> ys, ts, msg = pseudo_arclength(G, np.array([1.0, 0.0]), np.array([0.0, 1.0]),
...                                lambda y: True, ContinuationOptions(), 0.1, 0.2)
>>> msg, bool(np.allclose(np.linalg.norm(ys, axis=1), 1.0, atol=1e-12))
('closed loop', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ContinuationOptions", "pseudo_arclength", "correct"]


@dataclass(frozen=True)
class ContinuationOptions:
    """Step control of pseudo-arclength continuation.

    Attributes
    ----------
    ds : float
        Initial arclength step (in ``(x, p)`` space); None: 1/100 of the parameter range.
    ds_min, ds_max : float
        Bounds of the adaptive step (``ds_max`` None: 1/25 of the parameter range).
    max_steps : int
        Maximum number of accepted steps per direction.
    newton_tol : float
        Corrector tolerance on ``‖H‖``.
    max_newton : int
        Corrector iterations before a step is rejected and halved.
    x_max : float
        Stop when ``‖x‖`` exceeds this (the branch runs off to infinity).
    """

    ds: float | None = None
    ds_min: float = 1e-9
    ds_max: float | None = None
    max_steps: int = 2000
    newton_tol: float = 1e-12
    max_newton: int = 8
    x_max: float = 1e6


def _tangent(M, t_prev):
    """Unit null vector of ``M`` (shape (N, N+1)) oriented along ``t_prev``."""
    A = np.vstack([M, t_prev[None, :]])
    rhs = np.zeros(M.shape[1])
    rhs[-1] = 1.0
    try:
        t = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        t = np.linalg.svd(M)[2][-1]
    t /= np.linalg.norm(t)
    return t if t @ t_prev >= 0 else -t


def correct(G, y_pred, t, tol, max_iter, y_ref=None):
    """Newton's method on the bordered system ``G(y) = 0, tᵀ(y − y_pred) = 0``.

    Parameters
    ----------
    G : callable
        ``G(y) -> (r, M)``: residual, shape (N,), and its Jacobian, shape (N, N + 1).
    y_pred : ndarray, shape (N + 1,)
        The predicted point (start of the iteration).
    t : ndarray, shape (N + 1,)
        The border row (the unit tangent; a unit coordinate vector fixes that coordinate).
    tol : float
        Tolerance on ``‖r‖``.
    max_iter : int

    Returns
    -------
    y : ndarray, shape (N + 1,)
    ok : bool
    iterations : int
    """
    y = y_pred.copy()
    for it in range(1, max_iter + 1):
        r, M = G(y)
        if not np.all(np.isfinite(r)):
            return y, False, it
        A = np.vstack([M, t[None, :]])
        rhs = -np.concatenate([r, [t @ (y - y_pred)]])
        try:
            dy = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            return y, False, it
        y = y + dy
        if np.linalg.norm(dy) <= 1e-13 * (1 + np.linalg.norm(y)):
            r, _ = G(y)
            return y, bool(np.linalg.norm(r) <= tol * 100), it
        if np.linalg.norm(r) <= tol and np.linalg.norm(dy) <= 1e-10 * (1 + np.linalg.norm(y)):
            return y, True, it
    r, _ = G(y)
    return y, bool(np.linalg.norm(r) <= tol), max_iter


def pseudo_arclength(G, y0, t0, inside, opts: ContinuationOptions, ds: float, ds_max: float, boundary=None):
    """Follow the zero curve of ``G: R^{N+1} → R^N`` from ``y0`` along ``t0``.

    Parameters
    ----------
    G : callable
        ``G(y) -> (r, M)``: residual (N,) and its Jacobian (N, N+1).
    y0 : ndarray, shape (N + 1,)
        A point on the curve.
    t0 : ndarray, shape (N + 1,)
        Initial direction (the tangent is oriented along it).
    inside : callable
        ``inside(y) -> bool``; the curve is followed while it holds.
    boundary : callable, optional
        ``boundary(y_in, y_out) -> y`` puts the last point exactly on the boundary.

    Returns
    -------
    ys : ndarray, shape (K, N + 1)
    ts : ndarray, shape (K, N + 1)
    message : str
    """
    _, M = G(y0)
    t = _tangent(M, t0)
    ys, ts = [y0], [t]
    y = y0
    message = "max_steps reached"
    for _ in range(opts.max_steps):
        while True:
            y_new, ok, its = correct(G, y + ds * t, t, opts.newton_tol, opts.max_newton)
            if ok:
                _, M = G(y_new)
                t_new = _tangent(M, t)
                # reject steps that turn the tangent too much or jump (keeps folds resolved)
                if t_new @ t > 0.95 and np.linalg.norm(y_new - y) < 2.0 * ds:
                    break
            ds *= 0.5
            if ds < opts.ds_min:
                return np.array(ys), np.array(ts), f"step size fell below ds_min={opts.ds_min:g}"
        if not inside(y_new):
            if boundary is not None:
                yb = boundary(y, y_new)
                if yb is not None and np.linalg.norm(yb - y) > 1e-12 * (1.0 + np.linalg.norm(y)):
                    _, M = G(yb)
                    ys.append(yb)
                    ts.append(_tangent(M, t_new))
            message = "left the parameter range"
            break
        if np.linalg.norm(y_new[:-1]) > opts.x_max:
            message = "state exceeded x_max"
            break
        ys.append(y_new)
        ts.append(t_new)
        if len(ys) > 10 and np.linalg.norm(y_new - ys[0]) < 0.5 * ds:
            message = "closed loop"
            break
        y, t = y_new, t_new
        if its <= 3:
            ds = min(ds * 1.4, ds_max)
    return np.array(ys), np.array(ts), message
