"""Two modern recurrent variants as maps: a residual RNN and a layer-normalized RNN.

The remedies the paper's successors use instead of a regularizer (issue 14, the talk's §4):

- :class:`ResidualRNNMap`, ``x_t = x_{t-1} + W_rec σ(x_{t-1}) + W_in u_t + b``: eq. 2 with a
  skip connection. Its Jacobian is ``I + W_rec diag σ′(x)``; where the units saturate the
  product of Jacobians tends to the identity, not to zero.
- :class:`LayerNormRNNMap`, ``h_t = σ(gain ⊙ LN(W_rec h_{t-1} + W_in u_t) + b)`` (Ba, Kiros &
  Hinton 2016): layer normalization inside the recurrence, on the state ``h``.

Both implement the tangent rules (9–10) and the gradient rules (16–17) analytically, each one
GEMM over ``W_rec`` without forming ``J``, and ``param_derivative`` (rule 7) exactly, so the
generic defaults they override are exact too. Neither is of the form of eq. 2 (``as_rnn()`` is
None): BPTT takes its generic path, and the eq. 6–7 conditions do not apply as written.

The third variant of the issue needs no class: an IRNN (Le, Jaitly & Hinton 2015) is
:class:`~dynsys.maps.RNNMap` with ``activation="relu"`` and ``W_rec = I`` at initialization,
``RNNMap(np.eye(n), W_in, activation="relu")``.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps.rnn import RNNMap
>>> irnn = RNNMap(np.eye(2), activation="relu")  # an IRNN: relu with identity recurrence
>>> irnn.step(np.array([0.5, -1.0])).tolist()
[0.5, 0.0]
>>> ResidualRNNMap(np.zeros((2, 2)), b=[0.1, -0.2]).step(np.ones(2)).tolist()
[1.1, 0.8]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import as_float_array, check_finite_scalar
from ..activations import ACTIVATIONS
from ..errors import DynsysError
from .base import Map, _readonly
from .rnn import RNNMap, _one_gemm

__all__ = ["ResidualRNNMap", "LayerNormRNNMap"]

_READOUT = ("W_out", "b_out")


def _gemm(x, W):
    """``x @ W`` with the leading axes of ``x`` flattened into one GEMM."""
    x = np.asarray(x)
    if x.ndim <= 2:
        return x @ W
    return (x.reshape(-1, x.shape[-1]) @ W).reshape(x.shape[:-1] + W.shape[-1:])


def _batch(x, u) -> tuple[int, ...]:
    """The batch shape of ``F(x, u)`` (rule 3): the leading axes of ``x`` and ``u`` broadcast."""
    return np.shape(x)[:-1] if u is None else np.broadcast_shapes(np.shape(x)[:-1], np.shape(u)[:-1])


def _direction(value: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    """The direction of ``∂/∂p`` in a parameter array: one entry, or all entries at once (rule 7)."""
    if not idx:
        return np.ones(value.shape)
    E = np.zeros(value.shape)
    E[idx] = 1.0
    return E


def _eq2_parts(map: Map):
    """``W_rec, W_in, b, activation, W_out, b_out`` validated as :class:`RNNMap` validates them."""
    rnn = RNNMap(map.W_rec, map.W_in, map.b, map.activation, map.W_out, map.b_out)
    return rnn, {
        "W_rec": rnn.W_rec,
        "W_in": rnn.W_in,
        "b": rnn.b,
        "activation": rnn.activation,
        "W_out": rnn.W_out,
        "b_out": rnn.b_out,
        "dim": rnn.dim,
        "input_dim": rnn.input_dim,
    }


class _Readout:
    """``readout`` and ``weights`` shared by the two maps (as :class:`RNNMap` has them)."""

    def readout(self, x):
        """``y = W_out hidden(x) + b_out`` (requires ``W_out``)."""
        if self.W_out is None:
            raise DynsysError(f"this {type(self).__name__} has no readout (W_out is None)")
        return self.hidden(x) @ self.W_out.T + self.b_out

    def weights(self) -> dict[str, np.ndarray]:
        """Writable copies of the weight arrays by name (``weight_names``; the readout ones are None
        without a readout)."""
        return {
            k: None if getattr(self, k) is None else np.array(getattr(self, k)) for k in self.weight_names
        }


# ---------------------------------------------------------------------------------------
# The residual RNN
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ResidualRNNMap(_Readout, Map):
    r"""Eq. 2 with a skip connection: ``x_t = x_{t-1} + W_rec σ(x_{t-1}) + W_in u_t + b``.

    ``x`` is the pre-activation state, as in :class:`~dynsys.maps.RNNMap`: a readout reads
    ``h = σ(x)`` (rule 16), and ``F(x, u) − x`` is the RNN of eq. 2 with the same weights.

    The one-step Jacobian is ``I + W_rec diag σ′(x)``, not ``W_rec diag σ′(x)``: the eq. 6–7
    conditions (``λ₁ < 1/γ`` suffices for vanishing, ``λ₁ > 1/γ`` is necessary for exploding) do
    not apply as written, and ``as_rnn()`` is None. The contribution of the skip path keeps
    ``‖∂x_t/∂x_k‖`` from vanishing: where the units saturate (``σ′ → 0``) each factor tends to
    ``I``, so the product tends to the identity rather than to zero (it can still shrink or grow
    where ``W_rec diag σ′`` has eigenvalues near −1, or large ones). The images are unbounded
    (``F(x) − x`` is bounded, ``F`` is not): :meth:`state_box` is None.

    Parameters
    ----------
    W_rec : array_like, shape (n, n)
        Recurrent weights of the residual branch.
    W_in : array_like, shape (n, m), optional
        Input weights; ``None`` for an autonomous network (m = 0).
    b : array_like, shape (n,), optional
        Bias (zero if omitted).
    W_out : array_like, shape (k, n), optional
        Linear readout of ``σ(x_t)`` (not part of the dynamics; used by losses).
    b_out : array_like, shape (k,), optional
        Readout bias.
    activation : str or Activation
        ``"tanh"`` (default), ``"sigmoid"``, ``"relu"``, ``"linear"``, ``"softsign"``.

    Examples
    --------
    >>> import numpy as np
    >>> res = ResidualRNNMap(0.5 * np.eye(2), b=[0.1, -0.2])
    >>> res.step(np.zeros(2)).tolist()  # x + W tanh(x) + b at x = 0
    [0.1, -0.2]
    >>> res.jacobian(np.zeros(2)).tolist()  # I + W diag(tanh'(0))
    [[1.5, 0.0], [0.0, 1.5]]
    >>> res.as_rnn() is None
    True
    """

    W_rec: Any
    W_in: Any = None
    b: Any = None
    W_out: Any = None
    b_out: Any = None
    activation: Any = "tanh"
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("W_rec", "W_in", "b", "W_out", "b_out", "activation")
    #: the weight arrays, in the order a trainer stacks them (rule 17; ``param_vjp`` covers the
    #: first three, the readout ``W_out``, ``b_out`` is not part of F)
    weight_names = ("W_rec", "W_in", "b", "W_out", "b_out")

    def __post_init__(self):
        rnn, parts = _eq2_parts(self)
        for key, value in parts.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_branch", rnn)  # F(x, u) − x: eq. 2 with the same weights

    # the contract -------------------------------------------------------------------------
    def step(self, x, u=None):
        return x + self._branch.step(x, u)

    def jacobian(self, x, u=None):
        """``I + W_rec diag σ′(x)`` (rule 4)."""
        return self._branch.jacobian(x, u) + np.eye(self.dim)

    def param_derivative(self, x, name, u=None):
        """∂F/∂p, exact (rule 7): as eq. 2's for ``W_rec[i,j]`` (``σ(x_j)`` in row i), ``W_in[i,j]``
        (``u_j``) and ``b[i]`` (1); a whole array is the derivative along all its entries at once;
        zero for the readout."""
        base, idx = self._param_ref(name)
        value = getattr(self, base)
        if base == "activation" or value is None:
            return super().param_derivative(x, name, u)  # raises: not a number
        x = np.asarray(x, dtype=float)
        out_shape = _batch(x, u) + (self.dim,)
        if base in _READOUT:
            return np.zeros(out_shape)
        E = _direction(value, idx)
        if base == "b":
            out = E
        elif base == "W_rec":
            out = _gemm(self.activation.fn(x), E.T)
        elif u is None or not self.input_dim:
            out = np.zeros(self.dim)
        else:
            out = _gemm(u, E.T)
        return np.array(np.broadcast_to(out, out_shape), dtype=float)

    def hidden(self, x):
        """``h = σ(x)``, what the readout reads (rule 16)."""
        return self.activation.fn(x)

    def hidden_vjp(self, x, g):
        """``σ′(x) ⊙ g`` (rule 16)."""
        return self.activation.deriv(x) * g

    def autonomous(self, u=None) -> ResidualRNNMap:
        """The network with its input removed, or held at the constant ``u`` (bias ``b + W_in u``)."""
        b = self.b
        if u is not None:
            b = b + self.W_in @ self.validate_constant_input(u, "u")
        return ResidualRNNMap(self.W_rec, None, b, self.W_out, self.b_out, self.activation)

    # fast paths (rules 9–17) --------------------------------------------------------------
    def tangent(self, x, u, V):
        """``V + W_rec (σ′(x) ∘ V)``: one GEMM, J never formed (rule 9)."""
        return V + self._branch.tangent(x, u, V)

    def step_tangent(self, x, u, V):
        """``F(x, u)`` and ``J V`` in one GEMM over ``W_rec`` (rule 10)."""
        y, Z = self._branch.step_tangent(x, u, V)
        return x + y, V + Z

    def state_box(self, u=None):
        """None: the skip path makes the images unbounded (rule 12)."""
        return None

    def split_driven(self):
        """``F(x, u) = F̃(x) + W_in u`` with ``F̃`` = :meth:`autonomous` (rule 13)."""
        if self.input_dim == 0:
            return super().split_driven()  # raises: no input to split off
        return self.autonomous(), np.array(self.W_in)

    def vjp(self, x, u, g):
        """``gᵀ J = g + (g W_rec) ⊙ σ′(x)``: one GEMM (rule 17)."""
        return g + self._branch.vjp(x, u, g)

    def param_vjp(self, x, u, g):
        """``W_rec: Σ g σ(x)ᵀ``, ``W_in: Σ g uᵀ``, ``b: Σ g`` over the batch, one GEMM each (rule 17):
        the skip path has no weights, so these are eq. 2's."""
        return self._branch.param_vjp(x, u, g)

    def __repr__(self):
        return (
            f"ResidualRNNMap(n={self.dim}, m={self.input_dim}, activation={self.activation.name!r}, "
            f"readout={'none' if self.W_out is None else self.W_out.shape[0]})"
        )


# ---------------------------------------------------------------------------------------
# The layer-normalized RNN
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerNormRNNMap(_Readout, Map):
    r"""A layer-normalized RNN (Ba, Kiros & Hinton 2016) on the hidden state ``h`` (dim n).

    ``a = W_rec h + W_in u``, ``â = (a − mean(a)) / sqrt(var(a) + eps)`` (mean and biased
    variance over the n units, as ``torch.nn.LayerNorm``), ``h_t = σ(gain ⊙ â + b)``.
    The state is ``h`` itself, so a readout reads the state (``hidden(x) = x``, rule 16).

    With ``c = a − mean(a)``, ``s = sqrt(var(a) + eps)`` and ``d = σ′(gain ⊙ â + b) ⊙ gain``,
    ``∂â/∂a = (I − 𝟙𝟙ᵀ/n − â âᵀ/n) / s`` (symmetric), so the one-step Jacobian is
    ``diag(d) (I − 𝟙𝟙ᵀ/n − â âᵀ/n) W_rec / s``: no longer ``W diag σ′``, so the eq. 6–7
    conditions do not apply as written (``as_rnn()`` is None). The normalization makes the map,
    hence ``J``, invariant to a common scale of ``W_rec`` and ``W_in`` up to the ``eps`` floor
    (``(c W_rec, c W_in, c² eps)`` is the same map): the spectral radius of ``W_rec`` alone no longer
    decides whether gradients vanish or explode.

    Since ``Σ c = 0``, ``c_i² ≤ (n − 1) var(a)`` (Cauchy–Schwarz), so ``|â_i| < sqrt(n − 1)``
    for every input: each image lies in ``σ([b − |gain| sqrt(n−1), b + |gain| sqrt(n−1)])``, a
    box for every monotone σ (every built-in activation, relu and linear included;
    :meth:`state_box`).

    Parameters
    ----------
    W_rec : array_like, shape (n, n)
        Recurrent weights.
    W_in : array_like, shape (n, m), optional
        Input weights; ``None`` for an autonomous network (m = 0).
    b : array_like, shape (n,), optional
        The normalization's bias (zero if omitted), inside σ.
    gain : array_like, shape (n,), optional
        The normalization's gain (ones if omitted): ``torch.nn.LayerNorm``'s ``weight``.
    W_out : array_like, shape (k, n), optional
        Linear readout of ``h_t`` (not part of the dynamics; used by losses).
    b_out : array_like, shape (k,), optional
        Readout bias.
    activation : str or Activation
        ``"tanh"`` (default), ``"sigmoid"``, ``"relu"``, ``"linear"``, ``"softsign"``.
    eps : float
        The variance floor (> 0; torch's default 1e-5). A fixed constant of the normalization,
        not a parameter (not in ``param_names``; change it with :func:`dataclasses.replace`).

    Examples
    --------
    >>> import numpy as np
    >>> ln = LayerNormRNNMap(np.eye(2))
    >>> ln.step(np.array([1.0, -1.0])).round(4).tolist()  # â = ±1/sqrt(1 + eps)
    [0.7616, -0.7616]
    >>> ln.step(np.array([100.0, -100.0])).round(4).tolist()  # the same: LN removes the scale
    [0.7616, -0.7616]
    >>> [v.round(4).tolist() for v in ln.state_box()]  # tanh(±sqrt(n − 1))
    [[-0.7616, -0.7616], [0.7616, 0.7616]]
    """

    W_rec: Any
    W_in: Any = None
    b: Any = None
    gain: Any = None
    W_out: Any = None
    b_out: Any = None
    activation: Any = "tanh"
    eps: Any = 1e-5
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("W_rec", "W_in", "gain", "b", "W_out", "b_out", "activation")
    #: the weight arrays, in the order a trainer stacks them (rule 17; ``param_vjp`` covers the
    #: first four, the readout ``W_out``, ``b_out`` is not part of F)
    weight_names = ("W_rec", "W_in", "gain", "b", "W_out", "b_out")

    def __post_init__(self):
        _, parts = _eq2_parts(self)
        n = parts["dim"]
        gain = np.ones(n) if self.gain is None else as_float_array(self.gain, "gain", ndim=(0, 1))
        if gain.ndim == 0:
            gain = np.full(n, float(gain))
        if gain.shape != (n,):
            raise DynsysError(f"gain must have shape ({n},) to match W_rec, got {gain.shape}")
        eps = check_finite_scalar(self.eps, "eps")
        if eps <= 0.0:
            raise DynsysError(f"eps must be > 0 (the variance floor of the layer normalization), got {eps}")
        for key, value in parts.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "gain", _readonly(gain))
        object.__setattr__(self, "eps", eps)

    def _normalized(self, x, u):
        """``(â, s, z)``: the normalized pre-activation, ``sqrt(var + eps)`` (…, 1) and ``z = gain â + b``."""
        a = _gemm(x, self.W_rec.T)
        if u is not None and self.input_dim:
            a = a + _gemm(u, self.W_in.T)
        return self._normalize(a)

    def _normalize(self, a):
        c = a - a.mean(axis=-1, keepdims=True)
        s = np.sqrt(np.mean(c * c, axis=-1, keepdims=True) + self.eps)
        ah = c / s
        return ah, s, self.gain * ah + self.b

    @staticmethod
    def _project(ah, q):
        """``(I − 𝟙𝟙ᵀ/n − â âᵀ/n) q`` over the last axis (``q``'s trailing axes (…, n))."""
        n = ah.shape[-1]
        return q - q.mean(axis=-1, keepdims=True) - ah * (np.sum(ah * q, axis=-1, keepdims=True) / n)

    # the contract -------------------------------------------------------------------------
    def step(self, x, u=None):
        return self.activation.fn(self._normalized(x, u)[2])

    def jacobian(self, x, u=None):
        """``diag(d) (I − 𝟙𝟙ᵀ/n − â âᵀ/n) W_rec / s`` (rule 4)."""
        ah, s, z = self._normalized(x, u)
        W, n = self.W_rec, self.dim
        d = self.activation.deriv(z) * self.gain / s
        aW = _gemm(ah, W)  # âᵀ W, (…, n)
        inner = W - W.mean(axis=0) - ah[..., :, None] * aW[..., None, :] / n
        return d[..., :, None] * inner

    def _apply(self, ah, s, z, P):
        """``J V`` from ``P = W_rec V`` (…, n, k)."""
        n = self.dim
        d = self.activation.deriv(z) * self.gain / s
        proj = (
            P
            - P.mean(axis=-2, keepdims=True)
            - ah[..., :, None] * (np.sum(ah[..., :, None] * P, axis=-2, keepdims=True) / n)
        )
        return d[..., :, None] * proj

    def param_derivative(self, x, name, u=None):
        """∂F/∂p, exact (rule 7): ``b[i]``, ``gain[i]`` (``σ′(z_i)`` and ``σ′(z_i) â_i`` in row i),
        ``W_rec[i,j]``, ``W_in[i,j]`` (through ``∂â/∂a``); a whole array is the derivative along all
        its entries at once; zero for the readout."""
        base, idx = self._param_ref(name)
        value = getattr(self, base)
        if base == "activation" or value is None:
            return super().param_derivative(x, name, u)  # raises: not a number
        x = np.asarray(x, dtype=float)
        out_shape = _batch(x, u) + (self.dim,)
        if base in _READOUT:
            return np.zeros(out_shape)
        E = _direction(value, idx)
        ah, s, z = self._normalized(x, u)
        sp = self.activation.deriv(z)
        if base == "b":
            out = sp * E
        elif base == "gain":
            out = sp * ah * E
        else:
            if base == "W_rec":
                da = _gemm(x, E.T)
            elif u is None or not self.input_dim:
                da = np.zeros(self.dim)
            else:
                da = _gemm(u, E.T)
            out = sp * self.gain / s * self._project(ah, da)
        return np.array(np.broadcast_to(out, out_shape), dtype=float)

    # fast paths (rules 9–17) --------------------------------------------------------------
    def tangent(self, x, u, V):
        """``J V`` without forming ``J``: one GEMM ``W_rec V`` (rule 9)."""
        ah, s, z = self._normalized(x, u)
        P = self.W_rec @ V if V.shape[-1] >= V.shape[-2] else _one_gemm(self.W_rec, V)
        return self._apply(ah, s, z, P)

    def step_tangent(self, x, u, V):
        """``F(x, u)`` and ``J V``: ``W_rec [h, V]`` in one GEMM (rule 10)."""
        if np.broadcast_shapes(np.shape(x)[:-1], V.shape[:-2]) != np.shape(x)[:-1]:
            return super().step_tangent(x, u, V)  # frames with more batch axes than x: no stacking
        x = np.asarray(x)
        V = np.broadcast_to(V, x.shape[:-1] + V.shape[-2:])
        out = _one_gemm(self.W_rec, np.concatenate([x[..., None], V], axis=-1))  # (…, n, 1 + k)
        a = out[..., 0]
        if u is not None and self.input_dim:
            a = a + _gemm(u, self.W_in.T)
        ah, s, z = self._normalize(a)
        return self.activation.fn(z), self._apply(ah, s, z, out[..., 1:])

    def state_box(self, u=None):
        """``σ(b ∓ |gain| sqrt(n − 1))`` for a built-in (monotone) σ, since ``|â_i| < sqrt(n − 1)``;
        for a user's activation its ``bounds``, or None (rule 12)."""
        act = self.activation
        if ACTIVATIONS.get(act.name) is act:  # every built-in is non-decreasing
            r = np.abs(self.gain) * np.sqrt(self.dim - 1.0)
            return act.fn(self.b - r), act.fn(self.b + r)
        if act.bounds is None:
            return None
        return np.full(self.dim, float(act.bounds[0])), np.full(self.dim, float(act.bounds[1]))

    def _adjoint(self, x, u, g):
        """``(gᵀ ∂F/∂z, gᵀ ∂F/∂a, â)``: the cotangents of ``z = gain â + b`` and of ``a = W h + W_in u``."""
        ah, s, z = self._normalized(x, u)
        gz = np.asarray(g, dtype=float) * self.activation.deriv(z)
        return gz, self._project(ah, gz * self.gain / s), ah

    def vjp(self, x, u, g):
        """``gᵀ J = ((I − 𝟙𝟙ᵀ/n − â âᵀ/n)(d ⊙ g) / s)ᵀ W_rec``: one GEMM (rule 17)."""
        return _gemm(self._adjoint(x, u, g)[1], self.W_rec)

    def param_vjp(self, x, u, g):
        """``W_rec: Σ g_a hᵀ``, ``W_in: Σ g_a uᵀ``, ``gain: Σ g_z ⊙ â``, ``b: Σ g_z`` over the batch,
        one GEMM each (rule 17); ``g_z = g ⊙ σ′(z)``, ``g_a`` the cotangent of ``a``."""
        n, m = self.dim, self.input_dim
        gz, ga, ah = self._adjoint(x, u, g)
        with_u = u is not None and m
        batch = np.broadcast_shapes(ga.shape[:-1], np.shape(x)[:-1], np.shape(u)[:-1] if with_u else ())
        GA = np.broadcast_to(ga, batch + (n,)).reshape(-1, n)
        GZ = np.broadcast_to(gz, batch + (n,)).reshape(-1, n)
        AH = np.broadcast_to(ah, batch + (n,)).reshape(-1, n)
        out = {"W_rec": GA.T @ np.broadcast_to(x, batch + (n,)).reshape(-1, n)}
        out["W_in"] = GA.T @ np.broadcast_to(u, batch + (m,)).reshape(-1, m) if with_u else np.zeros((n, m))
        out["gain"] = np.sum(GZ * AH, axis=0)
        out["b"] = GZ.sum(axis=0)
        return out

    def __repr__(self):
        return (
            f"LayerNormRNNMap(n={self.dim}, m={self.input_dim}, activation={self.activation.name!r}, "
            f"eps={self.eps:g}, readout={'none' if self.W_out is None else self.W_out.shape[0]})"
        )
