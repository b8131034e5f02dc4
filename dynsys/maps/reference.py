"""Reference maps from the literature: ground truth for the tools.

* :class:`LogisticMap` — ``x ↦ r x (1 − x)``: flip at r = 3, next doubling at 1 + √6, λ = ln 2 at r = 4.
* :class:`HenonMap` — ``(x, y) ↦ (1 − a x² + y, b x)``: Lyapunov exponents sum to ln|b|.
* :class:`DelayedLogisticMap` — Neimark–Sacker at r = 2.
* :class:`NewtonMap` — Newton's method for z^k − 1: k attractors, fractal basin boundaries.

Each implements the :class:`~dynsys.maps.Map` contract with an analytic Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_positive_int
from .base import Map, _set_float_params

__all__ = ["LogisticMap", "HenonMap", "DelayedLogisticMap", "NewtonMap"]


@dataclass(frozen=True, eq=False)
class LogisticMap(Map):
    """The logistic map ``x ↦ r x (1 − x)`` (May 1976).

    Known facts used as ground truth: fixed points 0 and ``1 − 1/r``; flip at ``r = 3`` and
    the next period doubling at ``r = 1 + √6``; Lyapunov exponent ``ln 2`` at ``r = 4``.
    """

    r: Any = 4.0
    dim: int = field(default=1, init=False)
    input_dim: int = field(default=0, init=False)
    param_names = ("r",)

    def __post_init__(self):
        _set_float_params(self, "r")

    def step(self, x, u=None):
        X = x[..., 0]  # r broadcasts against the batch axes (Map rule 3), not the state axis
        return (self.r * X * (1.0 - X))[..., None]

    def jacobian(self, x, u=None):
        X = x[..., 0]
        return (self.r * (1.0 - 2.0 * X))[..., None, None]

    def param_derivative(self, x, name, u=None):
        if name != "r":
            return super().param_derivative(x, name, u)
        return x * (1.0 - x) + 0.0 * np.asarray(self.r)[..., None]


@dataclass(frozen=True, eq=False)
class HenonMap(Map):
    """The Hénon map ``(x, y) ↦ (1 − a x² + y, b x)`` (Hénon 1976).

    Its Jacobian determinant is the constant ``−b``, so the Lyapunov exponents sum to ``ln|b|``.
    """

    a: Any = 1.4
    b: Any = 0.3
    dim: int = field(default=2, init=False)
    input_dim: int = field(default=0, init=False)
    param_names = ("a", "b")

    def __post_init__(self):
        _set_float_params(self, "a", "b")

    def step(self, x, u=None):
        X, Y = x[..., 0], x[..., 1]
        return np.stack(np.broadcast_arrays(1.0 - self.a * X * X + Y, self.b * X), axis=-1)

    def jacobian(self, x, u=None):
        X = x[..., 0]
        a, b = np.broadcast_arrays(np.asarray(self.a, float) + 0 * X, np.asarray(self.b, float) + 0 * X)
        J = np.empty(a.shape + (2, 2))
        J[..., 0, 0] = -2.0 * a * X
        J[..., 0, 1] = 1.0
        J[..., 1, 0] = b
        J[..., 1, 1] = 0.0
        return J

    def param_derivative(self, x, name, u=None):
        X = x[..., 0]
        z = np.zeros_like(X)
        if name == "a":
            return np.stack([-X * X, z], axis=-1)
        if name == "b":
            return np.stack([z, X], axis=-1)
        return super().param_derivative(x, name, u)


@dataclass(frozen=True, eq=False)
class DelayedLogisticMap(Map):
    """The delayed logistic map ``x_{t+1} = r x_t (1 − x_{t−1})`` as ``(x, y) ↦ (r x (1 − y), x)``.

    Its non-trivial fixed point ``(1 − 1/r, 1 − 1/r)`` loses stability in a Neimark–Sacker
    bifurcation at ``r = 2`` (Jacobian determinant ``r − 1``).
    """

    r: Any = 2.0
    dim: int = field(default=2, init=False)
    input_dim: int = field(default=0, init=False)
    param_names = ("r",)

    def __post_init__(self):
        _set_float_params(self, "r")

    def step(self, x, u=None):
        X, Y = x[..., 0], x[..., 1]
        return np.stack(np.broadcast_arrays(self.r * X * (1.0 - Y), X), axis=-1)

    def jacobian(self, x, u=None):
        X, Y = x[..., 0], x[..., 1]
        r = np.asarray(self.r, float) + 0 * X
        J = np.empty(r.shape + (2, 2))
        J[..., 0, 0] = r * (1.0 - Y)
        J[..., 0, 1] = -r * X
        J[..., 1, 0] = 1.0
        J[..., 1, 1] = 0.0
        return J

    def param_derivative(self, x, name, u=None):
        if name != "r":
            return super().param_derivative(x, name, u)
        X, Y = x[..., 0], x[..., 1]
        return np.stack([X * (1.0 - Y), np.zeros_like(X)], axis=-1)


@dataclass(frozen=True, eq=False)
class NewtonMap(Map):
    """Newton's method for ``z^k − 1`` as a real 2-D map (default ``k = 3``).

    ``z ↦ z − (z^k − 1)/(k z^{k−1}) = ((k−1) z + z^{1−k})/k`` with ``z = x + i y``. Its attractors
    are the k roots of unity and its basin boundaries are fractal (Julia set).
    """

    k: int = 3
    dim: int = field(default=2, init=False)
    input_dim: int = field(default=0, init=False)
    param_names = ("k",)

    def __post_init__(self):
        object.__setattr__(self, "k", check_positive_int(self.k, "k", minimum=2))

    def step(self, x, u=None):
        z = x[..., 0] + 1j * x[..., 1]
        k = self.k
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            w = ((k - 1) * z + z ** (1 - k)) / k
        return np.stack([w.real, w.imag], axis=-1)

    def jacobian(self, x, u=None):
        z = x[..., 0] + 1j * x[..., 1]
        k = self.k
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = ((k - 1) - (k - 1) * z ** (-k)) / k
        J = np.empty(z.shape + (2, 2))
        J[..., 0, 0] = d.real
        J[..., 0, 1] = -d.imag
        J[..., 1, 0] = d.imag
        J[..., 1, 1] = d.real
        return J
