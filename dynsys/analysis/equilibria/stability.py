"""Linear stability of fixed points of maps: multipliers and their classification.

A fixed point ``x* = F(x*)`` of a map is asymptotically stable when every *multiplier* (eigenvalue
of the Jacobian ``J = ∂F/∂x`` at ``x*``, paper eq. 5 for one step) lies strictly inside the unit
circle, and unstable when one lies outside. The number of multipliers outside the circle is the
*unstable dimension*; a fixed point with ``0 < unstable_dim < n`` is a *saddle* — in the paper's
language (§2.2) saddles and repellers lie on basin boundaries.

Classes used throughout dynsys:

* ``"stable"`` — all ``|μ| < 1``;
* ``"saddle"`` — some ``|μ| > 1`` and some ``|μ| < 1`` (unstable dimension in ``unstable_dim``);
* ``"unstable"`` — all ``|μ| > 1`` (a repeller);
* ``"neutral"`` — no ``|μ| > 1`` but some ``|μ| = 1`` within ``tol`` (a bifurcation point).

The *kind* is ``"focus"`` when the leading multiplier (largest ``|μ|``) is complex — nearby orbits
spiral — and ``"node"`` otherwise; ``"flip-node"`` marks a real negative leading multiplier (nearby
orbits alternate sides).

Examples
--------
>>> import numpy as np
>>> from dynsys.analysis.equilibria import multipliers, classify
>>> J = np.array([[[0.5, 0.0], [0.0, 2.0]]])
>>> classify(multipliers(J))
(('saddle',), ('node',), array([1]))
"""

from __future__ import annotations

import numpy as np

__all__ = ["multipliers", "classify", "unstable_dimension", "STABILITY_CLASSES"]

STABILITY_CLASSES = ("stable", "saddle", "unstable", "neutral")


def multipliers(jacobian) -> np.ndarray:
    """Eigenvalues of ``J`` sorted by decreasing modulus (ties: by decreasing real part).

    Parameters
    ----------
    jacobian : ndarray, shape (..., n, n)

    Returns
    -------
    ndarray of complex, shape (..., n)
    """
    J = np.asarray(jacobian, dtype=float)
    mu = np.linalg.eigvals(J).astype(complex)
    # clean up rounding: eigenvalues of a real matrix with negligible imaginary part are real
    small = np.abs(mu.imag) <= 1e-14 * np.maximum(1.0, np.abs(mu))
    mu = np.where(small, mu.real + 0j, mu)
    order = np.lexsort((-mu.real, -np.round(np.abs(mu), 13)), axis=-1)
    return np.take_along_axis(mu, order, axis=-1)


def unstable_dimension(mults, tol: float = 1e-9) -> np.ndarray:
    """Number of multipliers with ``|μ| > 1 + tol``; shape ``(...)``."""
    return np.sum(np.abs(mults) > 1.0 + tol, axis=-1)


def classify(mults, tol: float = 1e-9) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Stability class, kind and unstable dimension from multipliers.

    Parameters
    ----------
    mults : ndarray, shape (k, n)
        Multipliers as returned by :func:`multipliers` (sorted by decreasing modulus).
    tol : float
        ``|μ|`` within ``tol`` of 1 counts as on the unit circle.

    Returns
    -------
    stability : tuple of str, length k
        ``"stable"``, ``"saddle"``, ``"unstable"`` or ``"neutral"``.
    kind : tuple of str, length k
        ``"node"``, ``"focus"`` or ``"flip-node"`` (from the leading multiplier).
    unstable_dim : ndarray of int, shape (k,)
    """
    mults = np.atleast_2d(np.asarray(mults))
    mod = np.abs(mults)
    n = mults.shape[-1]
    n_out = unstable_dimension(mults, tol)
    n_on = np.sum(np.abs(mod - 1.0) <= tol, axis=-1)
    stability = []
    for k_out, k_on in zip(n_out.tolist(), n_on.tolist()):
        if k_out == 0:
            stability.append("neutral" if k_on else "stable")
        elif k_out == n:
            stability.append("unstable")
        else:
            stability.append("saddle")
    lead = mults[:, 0]
    kind = tuple(
        "focus" if abs(m.imag) > 1e-12 * max(1.0, abs(m)) else ("flip-node" if m.real < 0 else "node")
        for m in lead.tolist()
    )
    return tuple(stability), kind, n_out.astype(int)
