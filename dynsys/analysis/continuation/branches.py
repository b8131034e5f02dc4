"""Pseudo-arclength continuation of fixed-point branches in one parameter (paper §2.2, Fig. 3).

As a parameter ``p`` of the map moves, a fixed point ``x*(p)`` of ``F(·, p)`` moves along a curve
of solutions of ``H(x, p) = F^k(x, p) − x = 0`` in ``(x, p)`` space. At a *fold* the curve turns
back in ``p``; natural-parameter continuation fails there, pseudo-arclength continuation does not:
each step predicts along the unit tangent ``t`` of the curve (the null vector of
``[∂H/∂x, ∂H/∂p]``) and corrects with Newton's method on the bordered system

    H(y) = 0,   tᵀ (y − y_pred) = 0,      y = (x, p).

Step lengths adapt: they grow after easy corrections and shrink (and retry) after hard ones. The
generic engine (:func:`~dynsys.analysis.continuation.arclength.pseudo_arclength`,
:class:`~dynsys.analysis.continuation.arclength.ContinuationOptions`) lives in
:mod:`dynsys.analysis.continuation.arclength`; this module builds the branch system ``H`` and the
:class:`Branch` result, and seeds branches from
:func:`~dynsys.analysis.equilibria.find_fixed_points`.

Parameters are named in the one vocabulary of the Map contract and described by a
:class:`~dynsys.maps.ParameterPath` (:func:`dynsys.maps.parameter_path`): any scalar parameter or
entry of a map (``b`` or ``w`` of :class:`~dynsys.maps.UnitMap`, ``r`` of the logistic map), a
constant input (``"u"``, ``"u[i]"``), or, for an :class:`~dynsys.maps.RNNMap`, an affine path in
its weights (``"gain"``, ``"b"``, ``"b[i]"``, ``"W_rec[i,j]"``).

Examples
--------
>>> from dynsys.maps import UnitMap
>>> branches = continue_fixed_points(UnitMap(w=5.0, b=-2.5), "b", (-3.2, -1.8))
>>> len(branches), bool(branches[0].stable[0])
(1, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..._validate import check_finite_scalar, check_range
from ...errors import DynsysError
from ...maps.base import Map
from ...maps.paths import ParameterPath, parameter_path
from ..equilibria.stability import multipliers
from .arclength import ContinuationOptions, pseudo_arclength

__all__ = [
    "Branch",
    "continue_branch",
    "continue_fixed_points",
]


@dataclass(frozen=True, eq=False)
class Branch:
    """A continued branch of fixed points (or period-k points).

    Attributes
    ----------
    param_name : str
    params : ndarray, shape (N,)
        Parameter value at each point.
    states : ndarray, shape (N, n)
    multipliers : ndarray of complex, shape (N, n)
        Multipliers of ``F^period`` (by decreasing modulus).
    unstable_dim : ndarray of int, shape (N,)
    stable : ndarray of bool, shape (N,)
    tangents : ndarray, shape (N, n + 1)
        Unit tangents in ``(x, p)``.
    arclength : ndarray, shape (N,)
    period : int
    message : str
        Why continuation stopped (per direction).
    path : ParameterPath
        The parameter family (used to locate bifurcations).
    """

    param_name: str
    params: np.ndarray
    states: np.ndarray
    multipliers: np.ndarray
    unstable_dim: np.ndarray
    stable: np.ndarray
    tangents: np.ndarray
    arclength: np.ndarray
    period: int = 1
    message: str = ""
    path: ParameterPath | None = field(default=None, repr=False)

    def __len__(self):
        return self.params.shape[0]

    def stability_segments(self) -> list[tuple[int, int, bool]]:
        """``(start, stop, stable)`` runs of constant stability (``stop`` inclusive for plotting)."""
        out, s = [], 0
        for i in range(1, len(self) + 1):
            if i == len(self) or self.stable[i] != self.stable[s]:
                out.append((s, min(i, len(self) - 1), bool(self.stable[s])))
                s = i
        return out

    def to_dict(self) -> dict:
        return {
            "param": self.param_name,
            "period": self.period,
            "params": self.params.tolist(),
            "states": self.states.tolist(),
            "stable": self.stable.tolist(),
            "unstable_dim": self.unstable_dim.tolist(),
            "max_abs_multiplier": np.abs(self.multipliers[:, 0]).tolist(),
            "message": self.message,
        }


def _branch_system(path: ParameterPath, period: int):
    n = path.dim
    eye = np.eye(n)

    def G(y):
        x, p = y[:-1], y[-1]
        fx, J, v = path.orbit(x, p, period)
        return fx - x, np.hstack([J - eye, v[:, None]])

    return G


def _fix_param(path, period, x, p, tol=1e-13, max_iter=30):
    """Newton in x at fixed p. Returns (x, ok)."""
    n = path.dim
    for _ in range(max_iter):
        fx, J, _ = path.orbit(x, p, period)
        r = fx - x
        if np.linalg.norm(r) < tol:
            return x, True
        try:
            x = x - np.linalg.solve(J - np.eye(n), r)
        except np.linalg.LinAlgError:
            return x, False
        if not np.all(np.isfinite(x)):
            return x, False
    fx, _, _ = path.orbit(x, p, period)
    return x, bool(np.linalg.norm(fx - x) < 1e-10)


def continue_branch(
    path: ParameterPath,
    x0,
    p0: float,
    p_range,
    *,
    period: int = 1,
    direction: int = 0,
    options: ContinuationOptions | None = None,
) -> Branch:
    """Continue the branch through the fixed point ``x0`` of ``F^period(·, p0)`` within ``p_range``.

    Parameters
    ----------
    path : ParameterPath
    x0 : array_like, shape (n,)
        A fixed point (refined by Newton at ``p0`` first).
    p0 : float
    p_range : (float, float)
    period : int
    direction : int
        ``+1`` (increasing p first), ``-1``, or ``0`` for both directions (joined into one branch).
    options : ContinuationOptions

    Returns
    -------
    Branch
    """
    lo, hi = check_range(p_range[0], p_range[1], "p_range")
    opts = options or ContinuationOptions()
    width = hi - lo
    ds = opts.ds or width / 100.0
    ds_max = opts.ds_max or width / 25.0
    x0 = np.asarray(x0, dtype=float).reshape(path.dim)
    x_in = x0
    x0, ok = _fix_param(path, period, x0, float(p0))
    if not ok or np.linalg.norm(x0 - x_in) > 1e-3 * (1.0 + np.linalg.norm(x_in)):
        raise DynsysError(
            f"x0 is not (close to) a fixed point of the period-{period} map at {path.name}={p0:g}"
        )
    G = _branch_system(path, period)
    inside = lambda y: lo <= y[-1] <= hi  # noqa: E731

    def boundary(y_in, y_out):
        pb = hi if y_out[-1] > hi else lo
        s = (pb - y_in[-1]) / (y_out[-1] - y_in[-1])
        xb, ok = _fix_param(path, period, y_in[:-1] + s * (y_out[:-1] - y_in[:-1]), pb)
        return np.concatenate([xb, [pb]]) if ok else None

    y0 = np.concatenate([x0, [float(p0)]])
    dirs = (+1, -1) if direction == 0 else (int(np.sign(direction)),)
    parts, msgs = [], []
    for d in dirs:
        t0 = np.zeros(path.dim + 1)
        t0[-1] = d
        ys, ts, msg = pseudo_arclength(G, y0, t0, inside, opts, ds, ds_max, boundary)
        parts.append((ys, ts))
        msgs.append(f"{'+' if d > 0 else '-'}: {msg}")
    if len(parts) == 2:
        (ya, ta), (yb, tb) = parts
        ys = np.vstack([yb[::-1], ya[1:]])
        ts = np.vstack([-tb[::-1], ta[1:]])
    else:
        ys, ts = parts[0]
    return _make_branch(path, ys, ts, period, "; ".join(msgs))


def _make_branch(path, ys, ts, period, message):
    states, params = ys[:, :-1], ys[:, -1]
    J = np.stack([path.orbit(x, p, period)[1] for x, p in zip(states, params)])
    mu = multipliers(J)
    udim = np.sum(np.abs(mu) > 1.0, axis=-1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ys, axis=0), axis=-1))])
    return Branch(path.name, params, states, mu, udim, udim == 0, ts, arc, period, message, path)


def _on_branch(branch: Branch, x, p, tol):
    """Whether ``(x, p)`` lies on ``branch``: Newton at fixed ``p`` from each crossing of ``p``."""
    P = branch.params
    hit = np.abs(P - p) <= 1e-14 * (1 + abs(p))
    if np.any(hit) and np.min(np.linalg.norm(branch.states[hit] - x, axis=-1)) < tol:
        return True
    idx = np.flatnonzero((P[:-1] - p) * (P[1:] - p) < 0)
    for i in idx:
        s = (p - P[i]) / (P[i + 1] - P[i])
        xi = branch.states[i] + s * (branch.states[i + 1] - branch.states[i])
        xi, ok = _fix_param(branch.path, branch.period, xi, p)
        if ok and np.linalg.norm(xi - x) < tol:
            return True
    return False


def continue_fixed_points(
    map: Map,
    param: str,
    p_range,
    *,
    u=None,
    direction=None,
    period: int = 1,
    seeds: int = 3,
    options: ContinuationOptions | None = None,
    rng=None,
    n_starts: int = 128,
) -> list[Branch]:
    """All branches of fixed points found at ``seeds`` parameter values, continued over ``p_range``.

    Fixed points are found (:func:`~dynsys.analysis.equilibria.find_fixed_points`) at ``seeds`` values
    spread over the range (both ends included); each one not already on a computed branch is
    continued in both directions.

    Parameters
    ----------
    map : Map
    param : str
        See :func:`parameter_path`.
    p_range : (float, float)
        ``LO < HI``.
    u, direction : see :func:`parameter_path`.
    period : int
        Continue period-k points.
    seeds : int
        Number of parameter values where branches are seeded (≥ 2).

    Returns
    -------
    list of Branch
    """
    from ..equilibria.fixed_points import find_fixed_points

    lo, hi = check_range(p_range[0], p_range[1], "p_range")
    path = parameter_path(map, param, u=u, direction=direction)
    check_finite_scalar(path.p0, param)
    branches: list[Branch] = []
    scale = 1.0
    for ps in np.linspace(lo, hi, max(2, int(seeds))):
        fp = find_fixed_points(path.map_at(ps), path.u, period=period, rng=rng, n_starts=n_starts)
        for x in fp.states:
            scale = max(scale, float(np.abs(x).max()))
            if any(_on_branch(b, x, ps, 1e-7 * scale) for b in branches):
                continue
            branches.append(continue_branch(path, x, ps, (lo, hi), period=period, options=options))
    return branches
