"""A multi-layer recurrent network as one map: the stack of torch's ``nn.RNN/GRU/LSTM(num_layers=L)``.

:class:`StackedMap` composes L layer maps ``F_0, …, F_{L-1}`` (any maps: :class:`~dynsys.maps.RNNMap`,
:class:`~dynsys.maps.GRUMap`, :class:`~dynsys.maps.LSTMMap`, a user's map). Layer 0 reads the
input ``u_t``; layer ``l > 0`` reads ``hidden(·)`` (Map rule 16) of layer ``l − 1``'s *new* state
at the same time step, as PyTorch's stacked modules do::

    x_0' = F_0(x_0, u),    x_l' = F_l(x_l, v_l),    v_l = hidden_{l-1}(x_{l-1}')

The state is the concatenation ``x = [x_0, …, x_{L-1}]`` (dim = Σ layer dims). With
``J_l = ∂F_l/∂x_l``, ``K_l = ∂F_l/∂v_l`` (the layer's *input* Jacobian) and
``H_l = ∂hidden_l/∂x_l`` at ``x_l'``, the Jacobian is block lower-triangular (chain rule)::

    ∂x_l'/∂x_l = J_l,    ∂x_l'/∂x_j = K_l H_{l-1} ∂x_{l-1}'/∂x_j   (j < l)

and the vector–Jacobian products run the layers backward: the cotangent of ``x_l'`` is
``g_l + hidden_vjp_l(K_{l+1}ᵀ ḡ_{l+1})``, which each layer's own ``vjp`` and ``param_vjp`` take.

The input Jacobian is not part of the Map contract; a layer gives it by the first of

1. its own ``input_jacobian(x, u)`` (…, n, m) and ``input_vjp(x, u, g)`` (…, m) methods
   (StackedMap has both, so stacks nest);
2. an additive input (rule 13: ``split_driven()`` gives ``K``, e.g. an RNNMap's ``W_in``): exact;
3. the pre-activation coefficients of the gated cells (``GRUMap``/``LSTMMap``: ``∂F/∂u`` is
   ``C_ih`` times the gate blocks of ``weight_ih``): exact;
4. otherwise central differences in ``u`` (~1e-10 relative, like rule 7's default).

Parameters are named in PyTorch's convention, the layer's own name with the suffix ``_l{k}``
(``weight_hh_l0``, ``bias_ih_l1``; an RNNMap layer's ``W_rec_l0``, ``b_l0``, ``activation_l0``),
so a state dict of stacked gated cells maps 1:1; entries are ``"weight_hh_l1[2,0]"``. The
optional readout ``W_out``, ``b_out`` of the stack reads the last layer's hidden state; the
layers themselves carry none.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import GRUMap, RNNMap
>>> g = np.random.default_rng(0)
>>> rnn = RNNMap(0.5 * np.eye(2), W_in=np.ones((2, 1)))  # 2 units, 1 input
>>> gru = GRUMap(weight_ih=g.normal(size=(9, 2)), weight_hh=g.normal(size=(9, 3)))  # reads σ(x_0)
>>> stack = StackedMap((rnn, gru))
>>> stack.dim, stack.input_dim, stack.param_names[:3], stack.param_names[4:6]
(5, 1, ('W_rec_l0', 'W_in_l0', 'b_l0'), ('weight_ih_l1', 'weight_hh_l1'))
>>> x, u = g.normal(size=(4, 5)), g.normal(size=(4, 1))
>>> y = stack.step(x, u)
>>> bool(np.allclose(y[:, 2:], gru.step(x[:, 2:], np.tanh(rnn.step(x[:, :2], u)))))
True
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_finite_scalar
from ..errors import DynsysError
from .base import _READOUT_NAMES, Map, _check_readout, _readonly

__all__ = ["StackedMap"]

_SUFFIX = re.compile(r"^(?P<inner>.+)_l(?P<layer>\d+)$")


def _batch(x, u) -> tuple[int, ...]:
    xs = np.shape(x)[:-1]
    return xs if u is None else np.broadcast_shapes(xs, np.shape(u)[:-1])


def _hidden_size(layer: Map) -> int:
    return int(np.shape(layer.hidden(np.zeros(layer.dim)))[-1])


def _hidden_jacobian(layer: Map, y, k: int) -> np.ndarray:
    """``H = ∂hidden/∂x`` at ``y`` (…, k, n), row ``i`` = ``hidden_vjp(y, e_i)``: exact (rule 16)."""
    y = np.asarray(y, dtype=float)
    H = layer.hidden_vjp(y[..., None, :], np.eye(k))
    return np.broadcast_to(H, y.shape[:-1] + (k, layer.dim))


# ---------------------------------------------------------------------------------------
# The input derivative of one layer: ∂F/∂u (…, n, m) and gᵀ ∂F/∂u (…, m)
# ---------------------------------------------------------------------------------------


class _OwnInput:
    """The layer's own ``input_jacobian`` / ``input_vjp``."""

    kind = "own"

    def __init__(self, layer):
        self.layer = layer

    def jac(self, x, u):
        return self.layer.input_jacobian(x, u)

    def vjp(self, x, u, g):
        return self.layer.input_vjp(x, u, g)


class _AdditiveInput:
    """``F(x, u) = F̃(x) + K u`` (rule 13): ``∂F/∂u = K``."""

    kind = "additive"

    def __init__(self, K):
        self.K = _readonly(np.asarray(K, dtype=float))

    def jac(self, x, u):
        return np.broadcast_to(self.K, _batch(x, u) + self.K.shape)

    def vjp(self, x, u, g):
        return np.asarray(g) @ self.K


class _GatedInput:
    """A gated cell of :mod:`dynsys.maps.gated`: ``u`` enters through ``a_ih = W_ih u + b_ih``, so
    ``∂F/∂u = Σ_gates C_ih ⊙ W_ih`` and ``gᵀ ∂F/∂u = (gᵀ ∂F/∂a_ih) W_ih`` (its ``_pass`` and
    ``_adjoint`` coefficients)."""

    kind = "gated"

    def __init__(self, layer):
        self.layer = layer

    def jac(self, x, u):
        L = self.layer
        _, Ci, _, _ = L._pass(x, u)  # (…, B, G, n)
        G, n, m = L._gates, L.hidden_size, L.input_dim
        K = np.einsum("...bgi,gim->...bim", Ci, L.weight_ih.reshape(G, n, m))
        return K.reshape(K.shape[:-3] + (L.dim, m))

    def vjp(self, x, u, g):
        di, _, _ = self.layer._adjoint(x, u, np.asarray(g, dtype=float))
        return di @ self.layer.weight_ih


class _DifferencedInput:
    """Central differences in ``u`` (the last resort: a layer that gives no exact input derivative)."""

    kind = "differenced"

    def __init__(self, layer):
        self.layer = layer

    def jac(self, x, u):
        L, m = self.layer, self.layer.input_dim
        u = np.asarray(u, dtype=float)
        h = 1e-6 * max(1.0, float(np.max(np.abs(u), initial=0.0)))
        E = h * np.eye(m)
        xx = np.asarray(x)[..., None, :]
        fd = (L.step(xx, u[..., None, :] + E) - L.step(xx, u[..., None, :] - E)) / (2.0 * h)
        return np.swapaxes(fd, -1, -2)  # (…, n, m)

    def vjp(self, x, u, g):
        return np.matmul(np.asarray(g)[..., None, :], self.jac(x, u))[..., 0, :]


def _input_derivative(layer: Map):
    if callable(getattr(layer, "input_jacobian", None)) and callable(getattr(layer, "input_vjp", None)):
        return _OwnInput(layer)
    _, K = layer.split_driven()
    if K is not None:
        return _AdditiveInput(K)
    if all(callable(getattr(layer, a, None)) for a in ("_pass", "_adjoint")) and hasattr(layer, "weight_ih"):
        return _GatedInput(layer)
    return _DifferencedInput(layer)


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StackedMap(Map):
    r"""L recurrent layers as one map (``nn.RNN/GRU/LSTM`` with ``num_layers = L``).

    Layer 0 reads the input ``u``; layer ``l > 0`` reads ``hidden()`` of layer ``l − 1``'s new
    state at the same step. The state is ``[x_0, …, x_{L-1}]`` concatenated.

    Parameters
    ----------
    layers : sequence of Map
        The layers, bottom first. ``layers[l].input_dim`` must equal the hidden size
        (``hidden(x).shape[-1]``) of ``layers[l-1]``; no layer carries a readout of its own.
    W_out : array_like, shape (k, n_last), optional
        Linear readout of the last layer's hidden state (not part of the dynamics).
    b_out : array_like, shape (k,), optional
        Readout bias (zeros by default).

    Attributes
    ----------
    dim : int
        Σ ``layers[l].dim``.
    input_dim : int
        ``layers[0].input_dim``.
    param_names : tuple of str
        Each layer's parameters with the suffix ``_l{k}`` (``weight_hh_l0``), then ``W_out``,
        ``b_out``.
    offsets : tuple of int
        Where each layer's block starts in the state.

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import RNNMap
    >>> two = StackedMap([RNNMap(np.eye(1), W_in=[[1.0]]), RNNMap(np.eye(1), W_in=[[2.0]])])
    >>> two.step(np.zeros(2), [1.0]).round(6).tolist()  # x0' = 1, x1' = 2 tanh(1)
    [1.0, 1.523188]
    >>> two.jacobian(np.zeros(2), [1.0]).round(4).tolist()  # ∂x1'/∂x0 = 2 tanh'(x0') · ∂x0'/∂x0
    [[1.0, 0.0], [0.8399, 1.0]]
    """

    layers: Any
    W_out: Any = None
    b_out: Any = None
    dim: int = field(init=False)
    input_dim: int = field(init=False)

    def __post_init__(self):
        layers = self.layers
        if isinstance(layers, Map) or not isinstance(layers, (list, tuple)):
            raise DynsysError(f"layers must be a sequence of maps, got {type(layers).__name__}")
        layers = tuple(layers)
        if not layers:
            raise DynsysError("layers must hold at least one map, got none")
        sizes = []
        for l, layer in enumerate(layers):
            if not isinstance(layer, Map):
                raise DynsysError(f"layers[{l}] must be a dynsys Map, got {type(layer).__name__}")
            if "W_out" in layer.param_names and layer.get_param("W_out") is not None:
                raise DynsysError(
                    f"layers[{l}] ({type(layer).__name__}) has a readout W_out; the layers of a StackedMap "
                    "carry none (give W_out to the StackedMap: it reads the last layer)"
                )
            sizes.append(_hidden_size(layer))
            if l and layer.input_dim != sizes[l - 1]:
                raise DynsysError(
                    f"layers[{l}].input_dim must equal the hidden size of layers[{l - 1}] "
                    f"({sizes[l - 1]}: what it reads), got {layer.input_dim}"
                )
        W_out, b_out = _check_readout(
            self.W_out, self.b_out, sizes[-1], " to read the last layer's hidden state"
        )
        names, table, weights = [], {}, []
        for l, layer in enumerate(layers):
            own = [p for p in layer.param_names if p not in _READOUT_NAMES]
            for p in own:
                table[f"{p}_l{l}"] = (l, p)
            names += [f"{p}_l{l}" for p in own]
            weights += [f"{p}_l{l}" for p in layer.weight_names if p not in _READOUT_NAMES]
        offsets = np.concatenate([[0], np.cumsum([layer.dim for layer in layers])]).astype(int)
        set_ = object.__setattr__
        set_(self, "layers", layers)
        set_(self, "W_out", _readonly(W_out))
        set_(self, "b_out", _readonly(b_out))
        set_(self, "dim", int(offsets[-1]))
        set_(self, "input_dim", layers[0].input_dim)
        set_(self, "offsets", tuple(int(o) for o in offsets[:-1]))
        set_(self, "param_names", (*names, "W_out", "b_out"))
        set_(self, "_names", table)
        set_(self, "_weights", (*weights, "W_out", "b_out"))
        set_(self, "_sizes", tuple(sizes))
        set_(
            self, "_inputs", tuple(_input_derivative(layer) if layer.input_dim else None for layer in layers)
        )

    # the vocabulary (rules 5-6) through the layers ------------------------------------------
    def __getattr__(self, name):
        table = self.__dict__.get("_names")
        if name.startswith("_") or table is None or name not in table:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        l, inner = table[name]
        return getattr(self.__dict__["layers"][l], inner)

    @property
    def weight_names(self) -> tuple[str, ...]:
        """Each layer's ``weight_names`` (suffixed ``_l{k}``, readouts excluded), then ``W_out``, ``b_out``."""
        return self._weights

    def with_params(self, **changes) -> StackedMap:
        """A new stack with the named parameters (or entries) replaced, layer by layer (rule 6)."""
        per_layer: list[dict] = [{} for _ in self.layers]
        top: dict[str, Any] = {}
        for key, value in changes.items():
            base, idx = self._param_ref(key)
            if base in _READOUT_NAMES:
                if idx:
                    arr = np.array(top.get(base, getattr(self, base)), dtype=float)
                    arr[idx] = check_finite_scalar(value, key)
                    value = arr
                top[base] = value
            else:
                l, inner = self._names[base]
                per_layer[l][inner + (f"[{','.join(map(str, idx))}]" if idx else "")] = value
        layers = []
        for l, (layer, ch) in enumerate(zip(self.layers, per_layer)):
            try:
                layers.append(layer.with_params(**ch) if ch else layer)
            except DynsysError as exc:
                raise DynsysError(f"layer {l} ({type(layer).__name__}): {exc}") from None
        return dataclasses.replace(self, layers=tuple(layers), **top)

    # the forward pass ----------------------------------------------------------------------
    def _block(self, x, l):
        o = self.offsets[l]
        return x[..., o : o + self.layers[l].dim]

    def _forward(self, x, u):
        """``(xs, vs, ys)``: each layer's old state, input and new state."""
        x = np.asarray(x)
        xs, vs, ys = [], [], []
        v = u
        for l, layer in enumerate(self.layers):
            if l:
                v = self.layers[l - 1].hidden(ys[-1])
            xl = self._block(x, l)
            xs.append(xl)
            vs.append(v)
            ys.append(layer.step(xl, v))
        return xs, vs, ys

    @staticmethod
    def _concat(blocks):
        lead = np.broadcast_shapes(*(np.shape(b)[:-1] for b in blocks))
        return np.concatenate([np.broadcast_to(b, lead + np.shape(b)[-1:]) for b in blocks], axis=-1)

    def step(self, x, u=None):
        return self._concat(self._forward(x, u)[2])

    def _coupling(self, l, xs, vs, ys):
        """``M_l = K_l H_{l-1} = ∂x_l'/∂x_{l-1}'`` (…, n_l, n_{l-1}) for ``l ≥ 1``."""
        K = self._inputs[l].jac(xs[l], vs[l])
        return K @ _hidden_jacobian(self.layers[l - 1], ys[l - 1], self._sizes[l - 1])

    # derivatives ---------------------------------------------------------------------------
    def jacobian(self, x, u=None):
        """``∂F/∂x`` (…, dim, dim): block lower-triangular, ``J_l`` on the diagonal (rule 4)."""
        xs, vs, ys = self._forward(x, u)
        lead = np.broadcast_shapes(*(np.shape(y)[:-1] for y in ys))
        J = np.zeros(lead + (self.dim, self.dim))
        rows = None
        for l, layer in enumerate(self.layers):
            o, n = self.offsets[l], layer.dim
            block = np.zeros(lead + (n, self.dim))
            if l:
                block[..., :o] = self._coupling(l, xs, vs, ys) @ rows[..., :o]
            block[..., o : o + n] = layer.jacobian(xs[l], vs[l])
            J[..., o : o + n, :] = block
            rows = block
        return J

    def _tangent(self, xs, vs, ys, V):
        Z = []
        for l, layer in enumerate(self.layers):
            o = self.offsets[l]
            Zl = layer.tangent(xs[l], vs[l], V[..., o : o + layer.dim, :])
            if l:
                Zl = Zl + self._coupling(l, xs, vs, ys) @ Z[-1]
            Z.append(Zl)
        lead = np.broadcast_shapes(*(np.shape(z)[:-2] for z in Z))
        return np.concatenate([np.broadcast_to(z, lead + z.shape[-2:]) for z in Z], axis=-2)

    def tangent(self, x, u, V):
        """``J V`` layer by layer: each layer's ``tangent`` plus the coupling ``M_l Z_{l-1}`` (rule 9)."""
        return self._tangent(*self._forward(x, u), np.asarray(V))

    def step_tangent(self, x, u, V):
        """``F(x, u)`` and ``J V`` from one forward pass (rule 10)."""
        xs, vs, ys = self._forward(x, u)
        return self._concat(ys), self._tangent(xs, vs, ys, np.asarray(V))

    def _backward(self, xs, vs, ys, g, params=False, to_input=False):
        """The cotangents ``ḡ_l`` of each layer's new state, top down; per layer ``vjp`` (and
        ``param_vjp``), and ``gᵀ ∂F/∂u`` if asked."""
        g = np.asarray(g, dtype=float)
        gx, pv, carry, gu = [None] * len(self.layers), {}, 0.0, None
        for l in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[l]
            gl = self._block(g, l) + carry
            gx[l] = layer.vjp(xs[l], vs[l], gl)
            if params:
                for name, value in layer.param_vjp(xs[l], vs[l], gl).items():
                    pv[f"{name}_l{l}"] = value
            if l:
                gv = self._inputs[l].vjp(xs[l], vs[l], gl)
                carry = self.layers[l - 1].hidden_vjp(ys[l - 1], gv)
            elif to_input:
                gu = self._inputs[0].vjp(xs[0], vs[0], gl)
        return gx, pv, gu

    def vjp(self, x, u, g):
        """``gᵀ ∂F/∂x`` (…, dim): the layers backward, one ``vjp`` each (rule 17)."""
        xs, vs, ys = self._forward(x, u)
        return self._concat(self._backward(xs, vs, ys, g)[0])

    def param_vjp(self, x, u, g) -> dict[str, np.ndarray]:
        """``{name: gᵀ ∂F/∂θ_name}`` summed over the batch: each layer's ``param_vjp`` with the
        cotangent of its new state (rule 17), keys suffixed ``_l{k}``."""
        xs, vs, ys = self._forward(x, u)
        return self._backward(xs, vs, ys, g, params=True)[1]

    def input_jacobian(self, x, u=None):
        """``∂F/∂u`` (…, dim, m): layer 0's input Jacobian carried up the stack."""
        if not self.input_dim:
            raise DynsysError("input_jacobian: this StackedMap takes no input (input_dim = 0)")
        xs, vs, ys = self._forward(x, u)
        if u is None:
            vs[0] = np.zeros(self.input_dim)
        rows = [np.asarray(self._inputs[0].jac(xs[0], vs[0]))]
        for l in range(1, len(self.layers)):
            rows.append(self._coupling(l, xs, vs, ys) @ rows[-1])
        lead = np.broadcast_shapes(*(r.shape[:-2] for r in rows))
        return np.concatenate([np.broadcast_to(r, lead + r.shape[-2:]) for r in rows], axis=-2)

    def input_vjp(self, x, u, g):
        """``gᵀ ∂F/∂u`` (…, m): the backward pass continued through layer 0's input."""
        if not self.input_dim:
            raise DynsysError("input_vjp: this StackedMap takes no input (input_dim = 0)")
        xs, vs, ys = self._forward(x, u)
        if u is None:
            vs[0] = np.zeros(self.input_dim)
        return self._backward(xs, vs, ys, g, to_input=True)[2]

    def param_derivative(self, x, name, u=None):
        """∂F/∂p: the layer's own derivative, carried up the stack by the couplings ``M_l`` (rule 7)."""
        base, idx = self._param_ref(name)
        x = np.asarray(x, dtype=float)
        if base in _READOUT_NAMES:
            if getattr(self, base) is None:
                return super().param_derivative(x, name, u)  # raises: no number
            return np.zeros(_batch(x, u) + (self.dim,))
        k, inner = self._names[base]
        xs, vs, ys = self._forward(x, u)
        entry = inner + (f"[{','.join(map(str, idx))}]" if idx else "")
        d = np.asarray(self.layers[k].param_derivative(xs[k], entry, vs[k]))
        blocks = [np.zeros(layer.dim) for layer in self.layers[:k]] + [d]
        for l in range(k + 1, len(self.layers)):
            blocks.append(np.matmul(self._coupling(l, xs, vs, ys), blocks[-1][..., None])[..., 0])
        return self._concat(blocks)

    # the readout ----------------------------------------------------------------------------
    def hidden(self, x):
        """The last layer's ``hidden`` of its block: what the readout reads (rule 16)."""
        return self.layers[-1].hidden(self._block(np.asarray(x), len(self.layers) - 1))

    def hidden_vjp(self, x, g):
        """``gᵀ ∂hidden/∂x`` (…, dim): the last layer's, zeros in the other blocks."""
        x, last = np.asarray(x), len(self.layers) - 1
        top = np.asarray(self.layers[-1].hidden_vjp(self._block(x, last), g))
        out = np.zeros(np.broadcast_shapes(top.shape[:-1], x.shape[:-1]) + (self.dim,))
        out[..., self.offsets[last] :] = top
        return out

    def readout(self, x):
        """``y = W_out · hidden(x) + b_out`` (requires ``W_out``)."""
        if self.W_out is None:
            raise DynsysError("this StackedMap has no readout (W_out is None)")
        return self.hidden(x) @ self.W_out.T + self.b_out

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"StackedMap([{inner}], readout={'none' if self.W_out is None else self.W_out.shape[0]})"
