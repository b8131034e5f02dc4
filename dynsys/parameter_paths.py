"""One-parameter families of maps ``p ↦ F(·, p)`` for continuation (paper §2.2, Fig. 3).

A :class:`ParameterPath` gives what continuation and bifurcation analysis need of a family: the
map at ``p`` (``map_at``), ``∂F/∂p`` (``dfdp``), one step for many parameter values at once
(``step_batch``), and ``F^k`` with both derivatives along the orbit (``orbit``). Two kinds:

* :class:`MapParameterPath` — any scalar parameter of a map, through ``with_params`` (e.g. ``b`` or
  ``w`` of :class:`~dynsys.maps.UnitMap`, ``r`` of the logistic map);
* :class:`AffineRNNPath` — for an :class:`~dynsys.maps.RNNMap` (paper eq. 2), an affine path in its
  weights: ``"gain"`` (``p · W_rec``), ``"b"`` (``b₀ + p·d`` along a direction, default all
  ones), ``"b[i]"``, ``"W_rec[i,j]"``, ``"u"`` (a constant input ``u₀ + p·d``) or ``"u[i]"``.

:func:`parameter_path` builds the right one from a name and validates it.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> path = parameter_path(UnitMap(w=5.0, b=-2.5), "b")
>>> path.p0, path.map_at(-2.0).b
(-2.5, -2.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import DynsysError, as_float_array
from .maps import Map, RNNMap

__all__ = ["ParameterPath", "MapParameterPath", "AffineRNNPath", "parameter_path"]


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
        # an array parameter of shape (P, 1) broadcasts against the batch axes (P, S) of x (Map
        # rule 3); maps whose parameter cannot be an array are stepped one value at a time
        try:
            out = self.map.with_params(**{self.name: p.reshape(p.size, 1)}).step(x, self.u)
        except ValueError:
            out = None
        if out is not None and out.shape == x.shape:
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
