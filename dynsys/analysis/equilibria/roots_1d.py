"""All roots of ``F^k(x) − x`` in an interval, for one-dimensional maps (paper §2.2, Fig. 3).

A one-dimensional map (e.g. the one-unit RNN ``x ↦ w σ(x) + b`` of the paper's Fig. 3, or the
logistic map) can have several fixed points close together near a fold. :func:`interval_roots`
finds them all: it samples ``g(x) = F^k(x) − x`` on a grid, adds the extrema of ``g`` (zeros of
``g′``, found by bisection), and refines every sign change with a batched safeguarded
Newton–bisection (:func:`bracket_solve`). A tangential root (``g`` touches zero at an extremum, as
at a fold) is accepted when ``|g|`` at the extremum is below ``tol``; two roots inside one grid
cell are separated by the extremum between them, so close pairs near a fold are not missed.
Inner functions: inputs are trusted (:func:`~dynsys.analysis.equilibria.find_fixed_points` validates).

Examples
--------
>>> from dynsys.maps import LogisticMap
>>> sorted(interval_roots(LogisticMap(2.5), None, 1, (-0.5, 1.0), 301, 1e-12).round(12).tolist())
[0.0, 0.6]
"""

from __future__ import annotations

import numpy as np

from .newton import iterate_k

__all__ = ["interval_roots", "bracket_solve"]


def bracket_solve(f, a, b, fa, iters=200, xtol=0.0):
    """Vectorized safeguarded Newton–bisection on brackets ``[a, b]`` with ``sign f(a) ≠ sign f(b)``.

    ``f(x)`` returns ``(value, derivative)``. Returns the roots, shape ``(k,)``.
    """
    a, b, fa = a.copy(), b.copy(), fa.copy()
    x = 0.5 * (a + b)
    for _ in range(iters):
        fx, dfx = f(x)
        left = np.sign(fx) == np.sign(fa)
        a = np.where(left, x, a)
        fa = np.where(left, fx, fa)
        b = np.where(left, b, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - fx / dfx
        bad = ~np.isfinite(xn) | (xn <= np.minimum(a, b)) | (xn >= np.maximum(a, b))
        xn = np.where(bad, 0.5 * (a + b), xn)
        done = (fx == 0) | (np.abs(b - a) <= xtol + 4e-16 * np.abs(x)) | (np.abs(xn - x) <= 1e-16 * np.abs(x))
        x = np.where(done, x, xn)
        if done.all():
            break
    return x


def interval_roots(map, u, period: int, interval, grid: int, tol: float) -> np.ndarray:
    """The roots of ``g(x) = F^period(x, u) − x`` in ``interval`` (one-dimensional ``map``).

    Parameters
    ----------
    map : Map
        A map with ``dim == 1``.
    u : ndarray, shape (m,), or None
        Constant input.
    period : int
    interval : (float, float)
        ``(lo, hi)`` with ``lo < hi``.
    grid : int
        Number of grid points of the sign-change scan.
    tol : float
        Tangential roots (extrema of ``g``) are accepted when ``|g| < tol``.

    Returns
    -------
    ndarray, shape (k,)
        The roots, unsorted, possibly with near-duplicates (the caller deduplicates).
    """
    lo, hi = interval

    def g(x):  # g(x) = F^k(x) − x and g'(x), x shape (k,)
        y, J = iterate_k(map, x[:, None], u, period)
        return y[:, 0] - x, J[:, 0, 0] - 1.0

    def gp(x):  # g'(x) and a numerical g''(x) (for the Newton step of the extremum search)
        h = 1e-7 * np.maximum(1.0, np.abs(x))
        d0 = g(x)[1]
        return d0, (g(x + h)[1] - g(x - h)[1]) / (2 * h)

    xs = np.linspace(lo, hi, grid)
    gx, dgx = g(xs)
    # extrema of g between grid points (zeros of g′)
    ie = np.flatnonzero(np.sign(dgx[:-1]) * np.sign(dgx[1:]) < 0)
    xe = bracket_solve(gp, xs[ie], xs[ie + 1], dgx[ie]) if ie.size else np.zeros(0)
    ge = g(xe)[0] if xe.size else np.zeros(0)
    tangential = xe[np.abs(ge) < tol]
    # augmented grid: sign changes of g on it bracket every transversal root
    X = np.concatenate([xs, xe])
    G = np.concatenate([gx, ge])
    order = np.argsort(X)
    X, G = X[order], G[order]
    exact = X[G == 0.0]
    s = np.sign(G)
    ic = np.flatnonzero(s[:-1] * s[1:] < 0)
    roots = bracket_solve(g, X[ic], X[ic + 1], G[ic]) if ic.size else np.zeros(0)
    allr = np.concatenate([roots, exact, tangential])
    return allr[np.isfinite(allr)]
