"""The ``Map`` interface and its implementations (paper eq. 1–2).

Everything downstream — BPTT, conditions, Lyapunov spectra, fixed points, continuation,
bifurcations, basins, loss surfaces, training — depends only on the rules below.
Implement them and every tool works on your map.

The ``Map`` contract
--------------------
1. ``dim`` : int — the state dimension ``n ≥ 1``. A state is an array of shape ``(..., n)``;
   the leading axes are batch axes, and every method is vectorized over them.
2. ``input_dim`` : int — the input dimension ``m ≥ 0``; ``0`` means autonomous, and ``u`` must
   then be ``None``.
3. ``step(x, u=None)`` returns ``F(x, u)`` with shape ``(..., n)``. The batch shapes of ``x``
   (``(..., n)``) and ``u`` (``(..., m)``) broadcast against each other and against any
   array-valued parameters of the map. ``step`` never modifies its arguments.
4. ``jacobian(x, u=None)`` returns ``∂F/∂x`` with shape ``(..., n, n)`` in the column
   convention ``J[..., i, j] = ∂F_i/∂x_j`` (so a Jacobian product reads ``J_t ⋯ J_{k+1}``,
   paper eq. 5 transposed). It is analytic, not a finite difference.
5. ``param_names`` : tuple of str — the parameters that ``with_params`` accepts.
6. ``with_params(**changes)`` returns a *new* map with those parameters replaced (validated like
   the constructor); an unknown name raises :class:`~dynsys.errors.DynsysError`. Maps are
   immutable (frozen dataclasses; array fields are read-only).
7. ``param_derivative(x, name, u=None)`` returns ``∂F/∂p`` (shape ``(..., n)``) for a scalar
   parameter ``p``; the base class supplies a central finite difference through
   ``with_params``, and the built-in maps override it analytically where it is cheap.
8. ``validate_state(x, name)`` / ``validate_input(u, name)`` check shapes at the boundary of the
   public tools (``iterate``, fixed points, ...); ``step`` and ``jacobian`` trust their inputs.

Implementations: :class:`RNNMap` (eq. 2, any n and m), :class:`UnitMap` (one unit,
``x ↦ w σ(x) + b`` with broadcasting array parameters), and reference maps from the literature
used as ground truth: :class:`LogisticMap`, :class:`HenonMap`, :class:`DelayedLogisticMap`,
:class:`NewtonMap` (Newton's method for z³ − 1 as a real 2-D map).

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap, iterate
>>> m = UnitMap(w=5.0, b=-2.5, activation="sigmoid")
>>> traj = iterate(m, np.array([0.5]), steps=3)
>>> traj.states.shape
(4, 1)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activations import get_activation
from .errors import DynsysError, as_float_array, check_positive_int

__all__ = [
    "Map",
    "RNNMap",
    "UnitMap",
    "LogisticMap",
    "HenonMap",
    "DelayedLogisticMap",
    "NewtonMap",
    "Trajectory",
    "iterate",
]


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _set_float_params(obj, *names: str) -> None:
    """Validate the named parameters of a frozen map: 0-d → ``float``, arrays → read-only copies."""
    for key in names:
        arr = as_float_array(getattr(obj, key), key)
        object.__setattr__(obj, key, float(arr) if arr.ndim == 0 else _readonly(arr))


class Map:
    """Base class of all maps; see the module docstring for the numbered contract."""

    dim: int
    input_dim: int = 0
    param_names: tuple[str, ...] = ()

    # -- rules 3 and 4 -------------------------------------------------------------------
    def step(self, x, u=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def jacobian(self, x, u=None):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- rule 6 --------------------------------------------------------------------------
    def with_params(self, **changes) -> Map:
        """A new map with the named parameters replaced (rule 6)."""
        for key in changes:
            if key not in self.param_names:
                raise DynsysError(
                    f"unknown parameter {key!r} for {type(self).__name__}; "
                    f"known: {', '.join(self.param_names)}"
                )
        return dataclasses.replace(self, **changes)

    def get_param(self, name: str):
        """The current value of parameter ``name``."""
        if name not in self.param_names:
            raise DynsysError(
                f"unknown parameter {name!r} for {type(self).__name__}; known: {', '.join(self.param_names)}"
            )
        return getattr(self, name)

    # -- rule 7 --------------------------------------------------------------------------
    def param_derivative(self, x, name: str, u=None):
        """∂F/∂p for a scalar parameter ``p`` by a central difference (rule 7)."""
        p = np.asarray(self.get_param(name), dtype=float)
        h = 1e-6 * max(1.0, float(np.max(np.abs(p))) if p.size else 1.0)
        plus = self.with_params(**{name: p + h}).step(x, u)
        minus = self.with_params(**{name: p - h}).step(x, u)
        return (plus - minus) / (2.0 * h)

    # -- rule 8 --------------------------------------------------------------------------
    def validate_state(self, x, name: str = "x") -> np.ndarray:
        """Check that ``x`` has shape ``(..., dim)`` and finite entries."""
        arr = as_float_array(x, name)
        if arr.ndim == 0 or arr.shape[-1] != self.dim:
            raise DynsysError(
                f"{name} must have shape (..., {self.dim}) for this {self.dim}-dimensional map, "
                f"got shape {tuple(arr.shape)}"
            )
        return arr

    def validate_input(self, u, name: str = "u") -> np.ndarray | None:
        """Check that ``u`` is ``None`` (autonomous) or has shape ``(..., input_dim)``."""
        if u is None:
            return None
        if self.input_dim == 0:
            raise DynsysError(f"{name} was given but {type(self).__name__} takes no input")
        arr = as_float_array(u, name)
        if arr.ndim == 0 or arr.shape[-1] != self.input_dim:
            raise DynsysError(f"{name} must have shape (..., {self.input_dim}), got shape {tuple(arr.shape)}")
        return arr


# ---------------------------------------------------------------------------------------
# The RNN map of eq. 2
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RNNMap(Map):
    r"""The recurrent network of paper eq. 2: ``x_t = W_rec σ(x_{t-1}) + W_in u_t + b``.

    ``x`` is the pre-activation state. The usual hidden form ``h_t = σ(W h_{t-1} + U u_t + b)``
    is the same system seen through ``h_t = σ(x_t)`` (see :meth:`from_hidden`), so a loss read
    from ``σ(x_t)`` equals a loss read from ``h_t``.

    Parameters
    ----------
    W_rec : array_like, shape (n, n)
        Recurrent weights.
    W_in : array_like, shape (n, m), optional
        Input weights; ``None`` for an autonomous network (m = 0).
    b : array_like, shape (n,), optional
        Bias (zero if omitted).
    activation : str or Activation
        ``"tanh"`` (default), ``"sigmoid"``, ``"relu"``, ``"linear"``, ``"softsign"``.
    W_out : array_like, shape (k, n), optional
        Linear readout of ``σ(x_t)`` (not part of the dynamics; used by losses).
    b_out : array_like, shape (k,), optional
        Readout bias.
    """

    W_rec: Any
    W_in: Any = None
    b: Any = None
    activation: Any = "tanh"
    W_out: Any = None
    b_out: Any = None
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("W_rec", "W_in", "b", "activation", "W_out", "b_out")

    def __post_init__(self):
        W = as_float_array(self.W_rec, "W_rec", ndim=2)
        if W.shape[0] != W.shape[1]:
            raise DynsysError(f"W_rec must be square, got shape {W.shape}")
        n = W.shape[0]
        if self.W_in is None:
            W_in = np.zeros((n, 0))
        else:
            W_in = as_float_array(self.W_in, "W_in", ndim=(1, 2), allow_empty=True)
            if W_in.ndim == 1:
                W_in = W_in[:, None]
            if W_in.shape[0] != n:
                raise DynsysError(f"W_in must have shape ({n}, m) to match W_rec, got {W_in.shape}")
        b = np.zeros(n) if self.b is None else as_float_array(self.b, "b", ndim=(0, 1))
        if b.ndim == 0:
            b = np.full(n, float(b))
        if b.shape != (n,):
            raise DynsysError(f"b must have shape ({n},) to match W_rec, got {b.shape}")
        W_out = b_out = None
        if self.W_out is not None:
            W_out = as_float_array(self.W_out, "W_out", ndim=2)
            if W_out.shape[1] != n:
                raise DynsysError(f"W_out must have shape (k, {n}), got {W_out.shape}")
            k = W_out.shape[0]
            b_out = np.zeros(k) if self.b_out is None else as_float_array(self.b_out, "b_out", ndim=1)
            if b_out.shape != (k,):
                raise DynsysError(f"b_out must have shape ({k},) to match W_out, got {b_out.shape}")
        elif self.b_out is not None:
            raise DynsysError("b_out was given without W_out")
        act = get_activation(self.activation)
        set_ = object.__setattr__
        set_(self, "W_rec", _readonly(W))
        set_(self, "W_in", _readonly(W_in))
        set_(self, "b", _readonly(b))
        set_(self, "W_out", _readonly(W_out))
        set_(self, "b_out", _readonly(b_out))
        set_(self, "activation", act)
        set_(self, "dim", n)
        set_(self, "input_dim", W_in.shape[1])

    # constructors -------------------------------------------------------------------------
    @classmethod
    def from_hidden(cls, W, U=None, b=None, activation="tanh", W_out=None, b_out=None) -> RNNMap:
        """From the hidden form ``h_t = σ(W h_{t-1} + U u_t + b)``.

        With ``x_t = W h_{t-1} + U u_t + b`` one has ``h_t = σ(x_t)`` and
        ``x_t = W σ(x_{t-1}) + U u_t + b`` exactly, i.e. eq. 2 with the same weights.
        ``W`` acts on column vectors (``W @ h``); for the row convention ``h W`` pass ``W.T``.
        """
        return cls(W_rec=W, W_in=U, b=b, activation=activation, W_out=W_out, b_out=b_out)

    @classmethod
    def from_npz(cls, path, activation=None) -> RNNMap:
        """Load from an ``.npz`` file (see :func:`dynsys.io.load_weights`)."""
        from .io import load_weights

        return load_weights(path, activation=activation)

    # the contract -------------------------------------------------------------------------
    def step(self, x, u=None):
        out = self.activation.fn(x) @ self.W_rec.T + self.b
        if u is not None and self.input_dim:
            out = out + u @ self.W_in.T
        return out

    def jacobian(self, x, u=None):
        d = self.activation.deriv(x)
        return self.W_rec * d[..., None, :]

    def param_derivative(self, x, name, u=None):
        if name == "b":
            raise DynsysError("b is a vector; continue a scalar path such as b = b0 + p·d instead")
        return super().param_derivative(x, name, u)

    def hidden(self, x):
        """``h = σ(x)``: the hidden state of the usual form."""
        return self.activation.fn(x)

    def readout(self, x):
        """``y = W_out σ(x) + b_out`` (requires ``W_out``)."""
        if self.W_out is None:
            raise DynsysError("this RNNMap has no readout (W_out is None)")
        return self.activation.fn(x) @ self.W_out.T + self.b_out

    def autonomous(self) -> RNNMap:
        """``F̃(x) = W_rec σ(x) + b``: the same network without its input (paper §2.3)."""
        return RNNMap(self.W_rec, None, self.b, self.activation, self.W_out, self.b_out)

    def __repr__(self):
        return (
            f"RNNMap(n={self.dim}, m={self.input_dim}, activation={self.activation.name!r}, "
            f"readout={'none' if self.W_out is None else self.W_out.shape[0]})"
        )


# ---------------------------------------------------------------------------------------
# One unit: x ↦ w σ(x) + b (+ w_in u), with broadcasting parameters
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UnitMap(Map):
    """One recurrent unit, ``x_t = w σ(x_{t-1}) + b + w_in u_t`` (paper eq. 8, Fig. 3).

    ``w``, ``b`` and ``w_in`` may be arrays: they broadcast against the batch shape of the state,
    so a whole ``(w, b)`` grid is iterated in one call. States have shape ``(..., 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> w, b = np.meshgrid(np.linspace(4, 6, 3), np.linspace(-3, -2, 2), indexing="ij")
    >>> UnitMap(w=w, b=b).step(np.full(w.shape + (1,), 0.5)).shape
    (3, 2, 1)
    """

    w: Any = 5.0
    b: Any = 0.0
    activation: Any = "sigmoid"
    w_in: Any = 1.0
    dim: int = field(default=1, init=False)
    input_dim: int = field(default=1, init=False)
    param_names = ("w", "b", "activation", "w_in")

    def __post_init__(self):
        _set_float_params(self, "w", "b", "w_in")
        try:
            np.broadcast_shapes(np.shape(self.w), np.shape(self.b), np.shape(self.w_in))
        except ValueError:
            raise DynsysError(
                f"w, b and w_in must broadcast, got shapes {np.shape(self.w)}, "
                f"{np.shape(self.b)}, {np.shape(self.w_in)}"
            ) from None
        object.__setattr__(self, "activation", get_activation(self.activation))

    def step(self, x, u=None):
        out = self.w * self.activation.fn(x[..., 0]) + self.b
        if u is not None:
            out = out + self.w_in * u[..., 0]
        return out[..., None]

    def jacobian(self, x, u=None):
        j = self.w * self.activation.deriv(x[..., 0])
        return j[..., None, None]

    def param_derivative(self, x, name, u=None):
        s = x[..., 0]
        if name == "w":
            d = self.activation.fn(s) + 0.0 * self.b
        elif name == "b":
            d = np.ones_like(s) + 0.0 * self.w
        elif name == "w_in":
            d = (np.zeros_like(s) if u is None else u[..., 0]) + 0.0 * self.w
        else:
            return super().param_derivative(x, name, u)
        return np.asarray(d, dtype=float)[..., None]


# ---------------------------------------------------------------------------------------
# Iteration
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The result of :func:`iterate`.

    Attributes
    ----------
    states : ndarray, shape (T + 1, ..., n)
        ``states[0] = x_0`` and ``states[t] = F(states[t-1], u_t)``.
    inputs : ndarray, shape (T, ..., m) or None
        ``inputs[t-1] = u_t``.
    jacobians : ndarray, shape (T, ..., n, n) or None
        ``jacobians[t-1] = ∂x_t/∂x_{t-1} = J(x_{t-1}, u_t)`` when requested.
    """

    states: np.ndarray
    inputs: np.ndarray | None = None
    jacobians: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return self.states.shape[0] - 1

    @property
    def final(self) -> np.ndarray:
        return self.states[-1]


def iterate(map: Map, x0, inputs=None, steps: int | None = None, *, jacobians: bool = False) -> Trajectory:
    """Iterate ``x_t = F(x_{t-1}, u_t)`` from ``x0``.

    Parameters
    ----------
    map : Map
        Any map following the contract.
    x0 : array_like, shape (..., n)
        Initial state(s); leading axes are a batch.
    inputs : array_like, shape (T, ..., m), optional
        ``inputs[t-1] = u_t``; its batch shape broadcasts with ``x0``'s.
    steps : int, optional
        Number of steps T (required when ``inputs`` is None; must equal ``len(inputs)`` otherwise).
    jacobians : bool
        Also return the one-step Jacobians ``∂x_t/∂x_{t-1}``.

    Returns
    -------
    Trajectory
    """
    x0 = map.validate_state(x0, "x0")
    if inputs is not None:
        inputs = map.validate_input(inputs, "inputs")
        if inputs.ndim < 2:
            raise DynsysError(f"inputs must have shape (T, ..., {map.input_dim}), got {inputs.shape}")
        if steps is not None and steps != inputs.shape[0]:
            raise DynsysError(f"steps={steps} does not match len(inputs)={inputs.shape[0]}")
        steps = inputs.shape[0]
        batch = np.broadcast_shapes(x0.shape[:-1], inputs.shape[1:-1])
    else:
        if steps is None:
            raise DynsysError("steps is required when inputs is None")
        steps = check_positive_int(steps, "steps", minimum=0)
        batch = x0.shape[:-1]
    probe = map.step(x0, None if inputs is None else inputs[0]) if steps else x0
    batch = np.broadcast_shapes(batch, probe.shape[:-1])
    states = np.empty((steps + 1,) + batch + (map.dim,), dtype=np.result_type(x0, probe))
    states[0] = x0
    jac = np.empty((steps,) + batch + (map.dim, map.dim)) if jacobians else None
    x = states[0]
    for t in range(1, steps + 1):
        u = None if inputs is None else inputs[t - 1]
        if jacobians:
            jac[t - 1] = map.jacobian(x, u)
        x = map.step(x, u)
        states[t] = x
    return Trajectory(states=states, inputs=inputs, jacobians=jac)


# The reference maps live in their own module; importing them here keeps ``dynsys.maps`` the one
# place to find every map (imported last: reference_maps imports Map from this module).
from .reference_maps import DelayedLogisticMap, HenonMap, LogisticMap, NewtonMap  # noqa: E402
