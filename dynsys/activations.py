"""Element-wise activation functions σ with σ′, symbolic form and γ = sup|σ′|.

The constant γ bounds the one-step Jacobian of the RNN map (paper §2.1):
``‖diag(σ′(x))‖ ≤ γ`` for every x, so ``‖∂x_t/∂x_{t-1}‖ ≤ λ₁ γ`` (eq. 6).

Each activation carries a builder of its symbolic form; :func:`dynsys.symbolic.activation_expr`
turns it into a sympy expression, so that ``import dynsys`` never imports sympy (only
:mod:`dynsys.symbolic` does).

Examples
--------
>>> from dynsys.activations import get_activation
>>> sig = get_activation("sigmoid")
>>> float(sig.gamma), float(sig.d(0.0))
(0.25, 0.25)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .errors import DynsysError

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "activation_names"]


@dataclass(frozen=True)
class Activation:
    """An element-wise activation function.

    Attributes
    ----------
    name : str
        Registry name (``"tanh"``, ``"sigmoid"``, ...).
    fn : callable
        σ, vectorized over arrays.
    deriv : callable
        σ′, vectorized over arrays.
    gamma : Fraction
        The exact bound ``γ = sup_x |σ′(x)|`` (a rational number for every built-in).
    argmax : float
        A point where ``|σ′|`` attains γ (or approaches it), for constructing tight cases.
    second : callable
        σ″, vectorized (used for curvature of loss surfaces and Hessians).
    sympy_builder : callable
        ``sympy_builder(sp, x)`` returns σ's sympy expression in the symbol ``x``, given the
        sympy module ``sp`` (so this module never imports sympy); used by
        :func:`dynsys.symbolic.activation_expr`.
    bounds : (float, float) or None
        The closed range ``[s₀, s₁]`` that holds every value of σ, for a bounded σ (tanh
        ``(-1, 1)``, sigmoid ``(0, 1)``, softsign ``(-1, 1)``); None for relu and linear. A map
        built on a bounded σ has bounded images (``Map.state_box``).
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    deriv: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    second: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    gamma: Fraction
    argmax: float
    sympy_builder: Callable = field(repr=False, compare=False)
    inverse: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    deriv_from_output: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    bounds: tuple[float, float] | None = None

    def __call__(self, x):
        return self.fn(x)

    def d(self, x):
        """σ′(x), element-wise."""
        return self.deriv(x)

    def d_from_output(self, h):
        """σ′(x) computed from ``h = σ(x)`` (cheaper in BPTT: no second evaluation of σ)."""
        if self.deriv_from_output is None:  # pragma: no cover - every built-in has one
            raise DynsysError(f"activation {self.name!r} cannot express σ′ through σ")
        return self.deriv_from_output(h)

    def d2(self, x):
        """σ″(x), element-wise."""
        return self.second(x)


def _sigmoid(x):
    x = np.asarray(x)
    # numerically stable in both tails
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sigmoid_d(x):
    s = _sigmoid(x)
    return s * (1.0 - s)


def _sigmoid_d2(x):
    s = _sigmoid(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _tanh_d(x):
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh_d2(x):
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _relu(x):
    return np.maximum(x, 0.0)


def _relu_d(x):
    x = np.asarray(x)
    return (x > 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _zeros_like(x):
    x = np.asarray(x)
    return np.zeros_like(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _identity(x):
    return np.asarray(x) * 1.0


def _ones_like(x):
    x = np.asarray(x)
    return np.ones_like(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _softsign(x):
    x = np.asarray(x)
    return x / (1.0 + np.abs(x))


def _softsign_d(x):
    x = np.asarray(x)
    return 1.0 / (1.0 + np.abs(x)) ** 2


def _softsign_d2(x):
    x = np.asarray(x)
    return -2.0 * np.sign(x) / (1.0 + np.abs(x)) ** 3


def _logit(y):
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(y) - np.log1p(-y)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(
        "tanh",
        np.tanh,
        _tanh_d,
        _tanh_d2,
        Fraction(1),
        0.0,
        lambda sp, x: sp.tanh(x),
        inverse=np.arctanh,
        deriv_from_output=lambda h: 1.0 - h * h,
        bounds=(-1.0, 1.0),
    ),
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid,
        _sigmoid_d,
        _sigmoid_d2,
        Fraction(1, 4),
        0.0,
        lambda sp, x: 1 / (1 + sp.exp(-x)),
        inverse=_logit,
        deriv_from_output=lambda h: h * (1.0 - h),
        bounds=(0.0, 1.0),
    ),
    "relu": Activation(
        "relu",
        _relu,
        _relu_d,
        _zeros_like,
        Fraction(1),
        1.0,
        lambda sp, x: sp.Max(x, 0),
        deriv_from_output=_relu_d,
    ),
    "linear": Activation(
        "linear",
        _identity,
        _ones_like,
        _zeros_like,
        Fraction(1),
        0.0,
        lambda sp, x: x,
        inverse=_identity,
        deriv_from_output=_ones_like,
    ),
    "softsign": Activation(
        "softsign",
        _softsign,
        _softsign_d,
        _softsign_d2,
        Fraction(1),
        0.0,
        lambda sp, x: x / (1 + sp.Abs(x)),
        deriv_from_output=lambda h: (1.0 - np.abs(h)) ** 2,
        bounds=(-1.0, 1.0),
    ),
}
_ALIASES = {"logistic": "sigmoid", "identity": "linear"}


def activation_names() -> tuple[str, ...]:
    """The registered activation names."""
    return tuple(ACTIVATIONS)


def get_activation(activation: str | Activation, name: str = "activation") -> Activation:
    """Look an activation up by name (or pass an :class:`Activation` through).

    Raises
    ------
    DynsysError
        For an unknown name; the message lists the known ones.
    """
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise DynsysError(f"{name} must be a name (str), got {type(activation).__name__}")
    key = _ALIASES.get(activation.lower(), activation.lower())
    if key not in ACTIVATIONS:
        raise DynsysError(f"unknown {name} {activation!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[key]
