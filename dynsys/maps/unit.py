"""One recurrent unit as a map: ``x ↦ w σ(x) + b + w_in u`` (paper eq. 8, Fig. 3).

The paper's one-unit model: fixed points, the two folds of Fig. 3, the basin boundary through the
unstable fixed point and the steep wall of Fig. 6 all live here. Its parameters broadcast, so a
whole ``(w, b)`` grid is one map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import get_activation
from ..errors import DynsysError
from .base import FixedInput, Map, _set_float_params, _sum_to_shape
from .rnn import RNNMap

__all__ = ["UnitMap"]


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
    weight_names = ("w", "b", "w_in")

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

    # fast paths (rules 12, 13, 15–17) -----------------------------------------------------
    def _scalar(self, what: str) -> None:
        if np.ndim(self.w) or np.ndim(self.b) or np.ndim(self.w_in):
            raise DynsysError(f"{what} needs a UnitMap with scalar w, b and w_in")

    def state_box(self, u=None):
        """``[c + min(w s₀, w s₁), c + max(w s₀, w s₁)]`` for σ bounded in ``[s₀, s₁]`` (rule 12)."""
        bounds = self.activation.bounds
        if bounds is None or np.ndim(self.w) or np.ndim(self.b) or (u is not None and np.ndim(self.w_in)):
            return None  # array parameters: a box per grid point, not one of shape (1,)
        s0, s1 = bounds
        c = self.b + (0.0 if u is None else self.w_in * float(u[0]))
        return np.array([c + min(self.w * s0, self.w * s1)]), np.array([c + max(self.w * s0, self.w * s1)])

    def split_driven(self):
        """``F̃(x) = w σ(x) + b`` (the unit with its input held at 0, an autonomous map) and the
        kick ``x + w_in u`` (rule 13)."""
        self._scalar("split_driven")
        return FixedInput(self, np.zeros(1)), np.array([[self.w_in]])

    def as_rnn(self):
        """The 1-unit :class:`~dynsys.maps.RNNMap` ``x ↦ [[w]] σ(x) + [[w_in]] u + [b]`` (rule 15)."""
        self._scalar("as_rnn")
        return RNNMap([[self.w]], [[self.w_in]], [self.b], self.activation)

    def hidden(self, x):
        """``σ(x)``: what the readout of the eq. 2 form reads (rule 16; :meth:`as_rnn`)."""
        return self.activation.fn(x)

    def hidden_vjp(self, x, g):
        """``σ′(x) ⊙ g`` (rule 16)."""
        return self.activation.deriv(x) * g

    def vjp(self, x, u, g):
        """``g w σ′(x)`` (rule 17)."""
        return g * (self.w * self.activation.deriv(x[..., 0]))[..., None]

    def param_vjp(self, x, u, g):
        """``w: Σ g σ(x)``, ``b: Σ g``, ``w_in: Σ g u``, summed to the shapes of the (broadcasting)
        parameters (rule 17)."""
        g = np.asarray(g)[..., 0]
        du = 0.0 if u is None else u[..., 0]
        return {
            "w": _sum_to_shape(g * self.activation.fn(x[..., 0]), np.shape(self.w)),
            "b": _sum_to_shape(g, np.shape(self.b)),
            "w_in": _sum_to_shape(g * du, np.shape(self.w_in)),
        }
