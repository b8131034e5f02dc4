"""Pseudo-arclength continuation of fixed-point branches in one parameter (paper §2.2, Fig. 3).

As a parameter ``p`` of the map moves, a fixed point ``x*(p)`` of ``F(·, p)`` moves along a curve
of solutions of ``H(x, p) = F^k(x, p) − x = 0`` in ``(x, p)`` space. At a *fold* the curve turns
back in ``p``; natural-parameter continuation fails there, pseudo-arclength continuation does not:
each step predicts along the unit tangent ``t`` of the curve (the null vector of
``[∂H/∂x, ∂H/∂p]``) and corrects with Newton's method on the bordered system

    H(y) = 0,   tᵀ (y − y_pred) = 0,      y = (x, p).

Step lengths adapt: they grow after easy corrections and shrink (and retry) after hard ones.

Parameters are described by a :class:`ParameterPath`: any scalar parameter of a map
(``with_params``; e.g. ``b`` or ``w`` of :class:`~dynsys.maps.UnitMap`, ``r`` of the logistic
map), or, for an :class:`~dynsys.maps.RNNMap`, an affine path in its weights: ``"gain"``
(``p · W_rec``), ``"b"`` (``b₀ + p·d`` along a direction, default all ones), ``"b[i]"``,
``"W_rec[i,j]"``, ``"u"`` (a constant input ``u₀ + p·d``) or ``"u[i]"``.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> branches = continue_fixed_points(UnitMap(w=5.0, b=-2.5), "b", (-3.2, -1.8))
>>> len(branches), bool(branches[0].stable[0])
(1, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import DynsysError, as_float_array, check_finite_scalar, check_range
from .maps import Map, RNNMap
from .stability import multipliers

__all__ = [
    "ParameterPath",
    "MapParameterPath",
    "AffineRNNPath",
    "parameter_path",
    "Branch",
    "ContinuationOptions",
    "continue_branch",
    "continue_fixed_points",
    "pseudo_arclength",
]


# ---------------------------------------------------------------------------------------
# Parameter paths
# ---------------------------------------------------------------------------------------


class ParameterPath:
    """A one-parameter family of maps ``p ↦ F(·, p)``.

    Subclasses provide ``map_at(p)`` (a :class:`~dynsys.maps.Map`), ``dfdp(x, p)`` (``∂F/∂p``,
    shape ``(..., n)``), ``step_batch(x, p)`` (``x`` shape ``(P, S, n)``, ``p`` shape ``(P,)``),
    ``name``, ``p0`` (the value of the given map) and ``u`` (the constant input passed to
    ``step``).
    """

    name: str
    p0: float
    u: np.ndarray | None
    dim: int

    def map_at(self, p: float) -> Map:  # pragma: no cover - abstract
        raise NotImplementedError

    def dfdp(self, x, p: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def step_batch(self, x, p):  # pragma: no cover - abstract
        raise NotImplementedError

    def orbit(self, x, p: float, k: int = 1):
        """``F^k(x, p)``, ``∂F^k/∂x`` and ``∂F^k/∂p`` (chain rule along the orbit)."""
        m = self.map_at(p)
        J = m.jacobian(x, self.u)
        v = self.dfdp(x, p)
        x = m.step(x, self.u)
        for _ in range(k - 1):
            Jx = m.jacobian(x, self.u)
            v = np.einsum("...ij,...j->...i", Jx, v) + self.dfdp(x, p)
            J = Jx @ J
            x = m.step(x, self.u)
        return x, J, v


@dataclass(frozen=True, eq=False)
class MapParameterPath(ParameterPath):
    """A scalar parameter ``name`` of any map, varied through ``map.with_params``."""

    map: Map
    name: str
    u: np.ndarray | None = None
    p0: float = field(init=False)
    dim: int = field(init=False)

    _last: list = field(default_factory=lambda: [None, None], init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "p0", float(np.asarray(self.map.get_param(self.name))))
        object.__setattr__(self, "dim", self.map.dim)

    def map_at(self, p):
        p = float(p)
        if self._last[0] != p:  # one-entry cache: continuation asks for the same p repeatedly
            self._last[:] = [p, self.map.with_params(**{self.name: p})]
        return self._last[1]

    def dfdp(self, x, p):
        return self.map_at(p).param_derivative(x, self.name, self.u)

    def step_batch(self, x, p):
        p = np.asarray(p, dtype=float)
        for shape in ((p.size, 1), (p.size, 1, 1)):
            m = self.map.with_params(**{self.name: p.reshape(shape)})
            try:
                out = m.step(x, self.u)
            except ValueError:
                continue
            if out.shape == x.shape:
                return out
        return np.stack([self.map_at(pi).step(x[i], self.u) for i, pi in enumerate(p)])


@dataclass(frozen=True, eq=False)
class AffineRNNPath(ParameterPath):
    """An RNN whose weights are affine in ``p``: ``F(x, p) = (W₀ + p W₁) σ(x) + c₀ + p c₁``.

    ``"gain"``: ``W₀ = 0, W₁ = W_rec``; a bias direction ``d``: ``c₁ = d``; a constant input
    direction ``e``: ``c₁ = W_in e``; one weight ``W_rec[i,j]``: ``W₁ = E_ij``.
    """

    rnn: RNNMap
    name: str
    W0: np.ndarray
    W1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    p0: float
    u: None = None
    dim: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "dim", self.rnn.dim)

    def map_at(self, p):
        return RNNMap(self.W0 + p * self.W1, None, self.c0 + p * self.c1, self.rnn.activation)

    def dfdp(self, x, p):
        return self.rnn.activation.fn(x) @ self.W1.T + self.c1

    def step_batch(self, x, p):
        p = np.asarray(p, dtype=float)
        W = self.W0 + p[:, None, None] * self.W1
        c = self.c0 + p[:, None] * self.c1
        return np.einsum("psj,pij->psi", self.rnn.activation.fn(x), W) + c[:, None, :]


_INDEX = re.compile(r"^\s*([A-Za-z_]+)\s*\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\]\s*$")


def parameter_path(map: Map, param: str, *, u=None, direction=None) -> ParameterPath:
    """Build the :class:`ParameterPath` named ``param`` for ``map``.

    Parameters
    ----------
    map : Map
    param : str
        A scalar parameter of ``map`` (e.g. ``"b"`` of a UnitMap), or for an RNNMap ``"gain"``,
        ``"b"``, ``"b[i]"``, ``"W_rec[i,j]"``, ``"u"``, ``"u[i]"``.
    u : array_like, shape (m,), optional
        Constant input.
    direction : array_like, optional
        For RNN ``"b"`` (shape (n,), default all ones) and ``"u"`` (shape (m,), default ones).

    Raises
    ------
    DynsysError
        For an unknown parameter or one the map does not have.
    """
    if not isinstance(param, str) or not param:
        raise DynsysError(f"param must be a parameter name, got {param!r}")
    if u is not None:
        if map.input_dim == 0:
            raise DynsysError(f"u was given but {type(map).__name__} takes no input")
        u = np.atleast_1d(as_float_array(u, "u", ndim=(0, 1)))
        if u.shape != (map.input_dim,):
            raise DynsysError(f"u must have shape ({map.input_dim},), got {u.shape}")
    if isinstance(map, RNNMap):
        return _rnn_path(map, param, u, direction)
    if param not in map.param_names:
        raise DynsysError(
            f"unknown parameter {param!r} for {type(map).__name__}; known: {', '.join(map.param_names)}"
        )
    value = map.get_param(param)
    if isinstance(value, str) or np.ndim(value) != 0 or not isinstance(value, (int, float, np.number)):
        raise DynsysError(f"parameter {param!r} of {type(map).__name__} is not a scalar number")
    return MapParameterPath(map, param, u)


def _rnn_path(rnn: RNNMap, param, u, direction):
    n, m = rnn.dim, rnn.input_dim
    W, b = np.array(rnn.W_rec), np.array(rnn.b)
    c = b + (rnn.W_in @ u if u is not None else 0.0)
    zW, zc = np.zeros_like(W), np.zeros(n)
    match = _INDEX.match(param)
    if param == "gain":
        return AffineRNNPath(rnn, param, zW, W, c, zc, 1.0)
    if param == "b":
        d = np.ones(n) if direction is None else as_float_array(direction, "direction", ndim=1)
        if d.shape != (n,):
            raise DynsysError(f"direction must have shape ({n},) for param 'b', got {d.shape}")
        return AffineRNNPath(rnn, param, W, zW, c, d, 0.0)
    if param == "u":
        if m == 0:
            raise DynsysError("param 'u' needs a network with inputs (W_in), this one has none")
        d = np.ones(m) if direction is None else as_float_array(direction, "direction", ndim=1)
        if d.shape != (m,):
            raise DynsysError(f"direction must have shape ({m},) for param 'u', got {d.shape}")
        return AffineRNNPath(rnn, param, W, zW, c, rnn.W_in @ d, 0.0)
    if match:
        base, i, j = match.group(1), int(match.group(2)), match.group(3)
        if base == "W_rec" and j is not None:
            j = int(j)
            if i >= n or j >= n:
                raise DynsysError(f"param {param!r} is out of range for a {n}-unit network")
            W0 = W.copy()
            W0[i, j] = 0.0
            W1 = zW.copy()
            W1[i, j] = 1.0
            return AffineRNNPath(rnn, param, W0, W1, c, zc, float(W[i, j]))
        if base == "b" and j is None:
            if i >= n:
                raise DynsysError(f"param {param!r} is out of range for a {n}-unit network")
            c0 = c.copy()
            c0[i] -= b[i]
            c1 = zc.copy()
            c1[i] = 1.0
            return AffineRNNPath(rnn, param, W, zW, c0, c1, float(b[i]))
        if base == "u" and j is None:
            if i >= m:
                raise DynsysError(f"param {param!r} is out of range: the network has {m} inputs")
            u0 = np.zeros(m) if u is None else u
            c0 = c - rnn.W_in[:, i] * u0[i]
            return AffineRNNPath(rnn, param, W, zW, c0, rnn.W_in[:, i].copy(), float(u0[i]))
    raise DynsysError(f"unknown parameter {param!r} for RNNMap; known: gain, b, b[i], W_rec[i,j], u, u[i]")


# ---------------------------------------------------------------------------------------
# The generic pseudo-arclength engine
# ---------------------------------------------------------------------------------------


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


def _correct(G, y_pred, t, tol, max_iter, y_ref=None):
    """Newton on ``G(y) = 0, tᵀ(y − y_pred) = 0``. Returns (y, ok, iterations)."""
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
            y_new, ok, its = _correct(G, y + ds * t, t, opts.newton_tol, opts.max_newton)
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


# ---------------------------------------------------------------------------------------
# Fixed-point branches
# ---------------------------------------------------------------------------------------


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
    if np.any(np.abs(P - p) <= 1e-14 * (1 + abs(p))):
        hit = np.abs(P - p) <= 1e-14 * (1 + abs(p))
        if np.min(np.linalg.norm(branch.states[hit] - x, axis=-1)) < tol:
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

    Fixed points are found (:func:`~dynsys.fixed_points.find_fixed_points`) at ``seeds`` values
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
    from .fixed_points import find_fixed_points

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
