"""Two-parameter continuation of fold curves, with cusp detection (paper §2.2, Fig. 3).

A fold (saddle-node) point of a map ``F(x; a, b)`` — where a fixed point has a multiplier
``μ = +1`` and two branches of fixed points meet — moves with a second parameter: the folds form
a curve in the ``(a, b)`` plane, the solution set of

    F(x; a, b) − x = 0,   det(J(x; a, b) − I) = 0          (n + 1 equations, n + 2 unknowns),

followed here by pseudo-arclength continuation (:mod:`dynsys.analysis.continuation.arclength`). For the one-unit map of
the paper's Fig. 3 the curve bounds the bistable window (two stable fixed points) in ``(w, b)``.
Where the fold's quadratic coefficient ``⟨w, D²F(x)[v, v]⟩`` changes sign (``v``, ``w`` the right
and left null vectors of ``J − I``) two fold branches meet in a *cusp*; cusps are located by
Brent's method along the curve. Fold points to start from come from
:func:`~dynsys.analysis.continuation.bifurcation_diagram`.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> m = UnitMap(w=5.0, b=-2.5, activation="tanh")
>>> x = 0.5 * float(np.arccosh(np.sqrt(5.0)))  # tanh'(x) = 1/w: a fold at w = 5
>>> b = x - 5.0 * float(np.tanh(x))
>>> fc = continue_fold_curve(m, ("w", "b"), (x, 5.0, b), ((0.5, 6.0), (-6.0, 6.0)))
>>> fc.cusps.round(8).tolist()
[[1.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..._validate import check_range
from ...errors import DynsysError
from ...maps.base import Map
from ...maps.paths import parameter_path
from .arclength import ContinuationOptions, correct, pseudo_arclength

__all__ = ["FoldCurve", "continue_fold_curve"]


@dataclass(frozen=True, eq=False)
class FoldCurve:
    """A curve of fold points in two parameters ``(a, b)``.

    Attributes
    ----------
    param_names : (str, str)
    params : ndarray, shape (N, 2)
    states : ndarray, shape (N, n)
    cusps : ndarray, shape (C, 2)
        Located cusp points (where the fold's quadratic coefficient vanishes).
    cusp_states : ndarray, shape (C, n)
    message : str
    """

    param_names: tuple[str, str]
    params: np.ndarray
    states: np.ndarray
    cusps: np.ndarray
    cusp_states: np.ndarray
    message: str = ""


def _fold_system(map: Map, names, u):
    n = map.dim
    eye = np.eye(n)

    def residual(z):
        x, a, b = z[:n], z[n], z[n + 1]
        m = map.with_params(**{names[0]: float(a), names[1]: float(b)})
        r = m.step(x, u) - x
        return np.concatenate([r, [np.linalg.det(m.jacobian(x, u) - eye)]]), m

    def G(z):
        r0, _ = residual(z)
        M = np.empty((n + 1, n + 2))
        for j in range(n + 2):
            h = 1e-7 * max(1.0, abs(z[j]))
            zp, zm = z.copy(), z.copy()
            zp[j] += h
            zm[j] -= h
            M[:, j] = (residual(zp)[0] - residual(zm)[0]) / (2 * h)
        return r0, M

    def cusp_coefficient(z):
        """⟨w, D²F(x)[v, v]⟩ with v, w the right/left null vectors of J − I (Richardson FD)."""
        x = z[:n]
        _, m = residual(z)
        A = m.jacobian(x, u) - eye
        U, _, Vt = np.linalg.svd(A)
        v, w = Vt[-1], U[:, -1]
        if v[np.argmax(np.abs(v))] < 0:
            v = -v
        if w @ v < 0:
            w = -w

        def d2(h):
            return (m.step(x + h * v, u) - 2 * m.step(x, u) + m.step(x - h * v, u)) / h**2

        h = 1e-3 * max(1.0, np.linalg.norm(x))
        return float(w @ ((16 * d2(h / 2) - d2(h)) / 15))

    return G, cusp_coefficient


def continue_fold_curve(
    map: Map, params: tuple[str, str], start, bounds, *, u=None, options: ContinuationOptions | None = None
) -> FoldCurve:
    """Continue a fold curve in the parameter plane ``params`` and locate its cusps.

    Solves ``F(x; a, b) = x, det(J − I) = 0`` (n + 1 equations in n + 2 unknowns) by
    pseudo-arclength continuation in both directions from ``start``.

    Parameters
    ----------
    map : Map
        Its two scalar parameters ``params`` are varied via ``with_params``.
    params : (str, str)
    start : Bifurcation or tuple (x, a, b)
        A fold point (e.g. from :func:`bifurcation_diagram` in ``b`` at fixed ``a``).
    bounds : ((a_lo, a_hi), (b_lo, b_hi))
        The curve is followed inside this box.

    Returns
    -------
    FoldCurve
    """
    from .bifurcations import Bifurcation

    names = tuple(params)
    for nm in names:
        parameter_path(map, nm, u=u)  # validates the name
    (alo, ahi), (blo, bhi) = check_range(*bounds[0], "bounds[0]"), check_range(*bounds[1], "bounds[1]")
    if isinstance(start, Bifurcation):
        base = {start.param_name: start.param}
        other = names[1] if start.param_name == names[0] else names[0]
        base[other] = float(map.get_param(other))
        z0 = np.concatenate([start.state, [base[names[0]], base[names[1]]]])
    else:
        x, a, b = start
        z0 = np.concatenate([np.atleast_1d(np.asarray(x, float)), [float(a), float(b)]])
    n = map.dim
    G, cusp_coef = _fold_system(map, names, u)
    opts = options or ContinuationOptions(max_steps=1000)
    ds_max = opts.ds_max or 0.02 * max(ahi - alo, bhi - blo)
    ds = opts.ds or ds_max / 2
    # correct the start onto the curve (p's fixed by a unit row in the bordered system)
    t_fix = np.zeros(n + 2)
    t_fix[n] = 1.0
    z0, ok, _ = correct(G, z0, t_fix, 1e-12, 30)
    if not ok:
        raise DynsysError("start is not (close to) a fold point")
    inside = lambda z: alo <= z[n] <= ahi and blo <= z[n + 1] <= bhi  # noqa: E731
    parts = []
    for d in (+1, -1):
        t0 = np.zeros(n + 2)
        t0[n + 1] = d
        zs, ts, msg = pseudo_arclength(G, z0, t0, inside, opts, ds, ds_max)
        parts.append((zs, ts, msg))
    zs = np.vstack([parts[1][0][::-1], parts[0][0][1:]])
    ts = np.vstack([-parts[1][1][::-1], parts[0][1][1:]])
    coef = np.array([cusp_coef(z) for z in zs])
    cusps, cstates = [], []
    for i in np.flatnonzero(np.sign(coef[:-1]) * np.sign(coef[1:]) < 0):
        t = ts[i]
        s_b = float(t @ (zs[i + 1] - zs[i]))

        def c_of_s(s, i=i, t=t):
            z, _ok, _ = correct(G, zs[i] + s * t, t, 1e-13, 20)
            return cusp_coef(z)

        s = brentq(c_of_s, 0.0, s_b, xtol=1e-14)
        z, _, _ = correct(G, zs[i] + s * t, t, 1e-13, 20)
        cusps.append(z[n:])
        cstates.append(z[:n])
    return FoldCurve(
        names,
        zs[:, n:],
        zs[:, :n],
        np.array(cusps).reshape(-1, 2),
        np.array(cstates).reshape(-1, n),
        f"+: {parts[0][2]}; -: {parts[1][2]}",
    )
