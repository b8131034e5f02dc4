"""One-parameter families of maps ``p ↦ F(·, p)`` for continuation (paper §2.2, Fig. 3).

A :class:`ParameterPath` gives what continuation and bifurcation analysis need of a family: the
map at ``p`` (``map_at``), ``∂F/∂p`` (``dfdp``), one step for many parameter values at once
(``step_batch``), and ``F^k`` with both derivatives along the orbit (``orbit``).

:func:`parameter_path` builds the path named ``param`` in the one parameter vocabulary of the Map
contract (rule 5): a map's own fast path when it has one (rule 14: an
:class:`~dynsys.maps.RNNMap` is affine in its weights, :class:`~dynsys.maps.rnn.AffineRNNPath`),
else a generic one:

* :class:`MapParameterPath` — a scalar parameter or one entry of an array parameter, through
  ``with_params`` (``b`` or ``w`` of :class:`~dynsys.maps.UnitMap`, ``r`` of the logistic map,
  ``W_in[0,1]`` of an RNN);
* :class:`DirectionPath` — a whole array parameter moved along a direction, ``θ₀ + p·d``;
* :class:`InputPath` — a constant input ``u₀ + p·d`` (``"u"``) or one input ``"u[i]"``, for any
  map with inputs.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> path = parameter_path(UnitMap(w=5.0, b=-2.5), "b")
>>> path.p0, path.map_at(-2.0).b
(-2.5, -2.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import as_float_array
from ..errors import DynsysError
from .base import FixedInput, Map, split_param_name

__all__ = [
    "ParameterPath",
    "MapParameterPath",
    "DirectionPath",
    "InputPath",
    "parameter_path",
    "path_direction",
]


class ParameterPath:
    """A one-parameter family of maps ``p ↦ F(·, p)``.

    Subclasses provide ``map_at(p)`` (a :class:`~dynsys.maps.Map`), ``dfdp(x, p)`` (``∂F/∂p``,
    shape ``(..., n)``), ``step_batch(x, p)`` (``x`` shape ``(P, S, n)``, ``p`` shape ``(P,)``),
    ``name``, ``p0`` (the coordinate of the given map on the path) and ``u`` (the constant input
    passed to ``step``).

    :attr:`formula` says what ``p`` is, in one line: the value of a scalar or an entry
    (``"b[0] = p"``: ``p0`` is its value in the given map), or the coordinate along a direction
    (``"b = b₀ + p·d"``: ``p = 0`` is the given map). One rule for every map: a whole array
    moves along a direction from its value, a scalar or an entry is set to ``p``.
    """

    name: str
    p0: float
    u: np.ndarray | None
    dim: int

    @property
    def formula(self) -> str:
        """What the path's coordinate ``p`` is (default: the value of parameter ``name``)."""
        return f"{self.name} = p"

    @property
    def is_value(self) -> bool:
        """Whether ``p`` is the value of the named parameter (else a coordinate along a direction
        or a scale, :attr:`formula`)."""
        return self.formula == f"{self.name} = p"

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
    """A scalar parameter or entry ``name`` of any map (Map rule 5), varied through ``with_params``."""

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
        # rule 3); entries and maps whose parameter cannot be an array go one value at a time
        out = None
        if not split_param_name(self.name)[1]:
            try:
                out = self.map.with_params(**{self.name: p.reshape(p.size, 1)}).step(x, self.u)
            except ValueError:
                out = None
        if out is not None and out.shape == x.shape:
            return out
        return np.stack([self.map_at(pi).step(x[i], self.u) for i, pi in enumerate(p)])


@dataclass(frozen=True, eq=False)
class DirectionPath(ParameterPath):
    """A whole array parameter ``name`` moved along ``direction``: ``θ(p) = θ₀ + p·d`` (``p₀ = 0``)."""

    map: Map
    name: str
    direction: np.ndarray
    u: np.ndarray | None = None
    p0: float = field(default=0.0, init=False)
    dim: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "dim", self.map.dim)

    @property
    def formula(self) -> str:
        return f"{self.name} = {self.name}₀ + p·d"

    def map_at(self, p):
        theta = np.asarray(self.map.get_param(self.name), dtype=float)
        return self.map.with_params(**{self.name: theta + float(p) * self.direction})

    def dfdp(self, x, p):
        """``∂F/∂p`` by a central difference along the direction."""
        h = 1e-6 * max(1.0, abs(float(p)))
        plus = self.map_at(float(p) + h).step(x, self.u)
        minus = self.map_at(float(p) - h).step(x, self.u)
        return (plus - minus) / (2.0 * h)

    def step_batch(self, x, p):
        return np.stack([self.map_at(pi).step(x[i], self.u) for i, pi in enumerate(np.asarray(p, float))])


@dataclass(frozen=True, eq=False)
class InputPath(ParameterPath):
    """A constant input ``u(p) = u₀ + p·d`` of a driven map: the family ``F(·, u(p))``.

    ``"u"`` moves the whole input along ``d`` (default all ones, ``p₀ = 0``); ``"u[i]"`` moves
    input ``i`` alone (``p₀ = u₀[i]``). The maps of the family are autonomous
    (:class:`~dynsys.maps.FixedInput`), so ``u`` of the path is None.
    """

    map: Map
    name: str
    u0: np.ndarray
    direction: np.ndarray
    p0: float
    u: None = None
    dim: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "dim", self.map.dim)

    @property
    def formula(self) -> str:
        return "u = u₀ + p·d" if self.name == "u" else f"{self.name} = p"

    def input_at(self, p) -> np.ndarray:
        return self.u0 + (float(p) - self.p0) * self.direction

    def map_at(self, p):
        return FixedInput(self.map, self.input_at(p))

    def dfdp(self, x, p):
        """``∂F/∂u · d`` by a central difference in ``u``."""
        h = 1e-6 * max(1.0, float(np.max(np.abs(self.input_at(p)))))
        plus = self.map.step(x, self.input_at(p) + h * self.direction)
        minus = self.map.step(x, self.input_at(p) - h * self.direction)
        return (plus - minus) / (2.0 * h)

    def step_batch(self, x, p):
        U = np.stack([self.input_at(pi) for pi in np.asarray(p, float)])  # (P, m)
        return self.map.step(x, U[:, None, :])  # the input broadcasts over the S axis (rule 3)


def path_direction(direction, shape: tuple[int, ...], param: str) -> np.ndarray:
    """The direction ``d`` of a path ``θ₀ + p·d`` in a parameter or input of shape ``shape``
    (default all ones), checked."""
    d = np.ones(shape) if direction is None else as_float_array(direction, "direction", ndim=len(shape))
    if d.shape != tuple(shape):
        raise DynsysError(f"direction must have shape {tuple(shape)} for param {param!r}, got {d.shape}")
    return d


def parameter_path(map: Map, param: str, *, u=None, direction=None) -> ParameterPath:
    """The :class:`ParameterPath` named ``param`` for ``map``.

    Parameters
    ----------
    map : Map
    param : str
        A name of the map's parameter vocabulary (Map rule 5: ``"NAME"``, ``"NAME[i]"``,
        ``"NAME[i,j]"``), ``"u"`` / ``"u[i]"`` (a constant input), or a name the map's own
        ``parameter_path`` knows (an RNNMap: ``"gain"``, the gain of ``W_rec``).
    u : array_like, shape (m,), optional
        Constant input.
    direction : array_like, optional
        For a whole array parameter (its shape, default all ones) and ``"u"`` (shape (m,)).

    Raises
    ------
    DynsysError
        For an unknown parameter or one the map does not have.
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    if not isinstance(param, str) or not param.strip():
        raise DynsysError(f"param must be a parameter name, got {param!r}")
    u = map.validate_constant_input(u, "u")
    fast = map.parameter_path(param, u=u, direction=direction)
    if fast is not None:
        return fast
    return _generic_path(map, param, u, direction)


def _generic_path(map: Map, param: str, u, direction) -> ParameterPath:
    base, idx = split_param_name(param)
    if base == "u" and "u" not in map.param_names and len(idx) <= 1:
        m = map.input_dim
        if m == 0:
            raise DynsysError(f"param {param!r} needs a map with inputs; {type(map).__name__} has none")
        u0 = np.zeros(m) if u is None else u
        if idx:
            if idx[0] >= m:
                raise DynsysError(f"param {param!r} is out of range: the map has {m} inputs")
            d = np.zeros(m)
            d[idx[0]] = 1.0
            return InputPath(map, param, u0, d, float(u0[idx[0]]))
        return InputPath(map, param, u0, path_direction(direction, (m,), param), 0.0)
    value = map.get_param(param)  # validates the name (unknown parameter, out of range)
    if isinstance(value, np.ndarray) and value.ndim and value.dtype.kind == "f":
        return DirectionPath(map, param, path_direction(direction, value.shape, param), u)
    if isinstance(value, str) or np.ndim(value) != 0 or not isinstance(value, (int, float, np.number)):
        raise DynsysError(f"parameter {param!r} of {type(map).__name__} is not a scalar number")
    return MapParameterPath(map, param, u)
