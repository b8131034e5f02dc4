"""Gated recurrent cells as maps: the GRU and the LSTM, with PyTorch's parameters (issue 14).

:class:`GRUMap` is ``torch.nn.GRUCell`` on the state ``h`` (dim n), gates ``(r, z, ñ)``::

    r = σ(W_ir u + b_ir + W_hr h + b_hr)
    z = σ(W_iz u + b_iz + W_hz h + b_hz)
    ñ = tanh(W_in u + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ ñ + z ⊙ h

:class:`LSTMMap` is ``torch.nn.LSTMCell`` on the state ``x = [h, c]`` (h first, dim 2n), gates
``(i, f, g, o)`` = ``(σ, σ, tanh, σ)`` of ``W_i· u + b_i· + W_h· h + b_h·``::

    c' = f ⊙ c + i ⊙ g,    h' = o ⊙ tanh(c')

The weights are PyTorch's: ``weight_ih`` (G n, m), ``weight_hh`` (G n, n), ``bias_ih`` and
``bias_hh`` (G n,) with the G = 3 (GRU) or 4 (LSTM) gate blocks stacked in PyTorch's order.

Every derivative goes through the pre-activations ``a_ih = W_ih u + b_ih`` and
``a_hh = W_hh h + b_hh`` (..., G n): unit ``i`` of output block ``b`` (GRU: h; LSTM: h and c)
depends on entry ``(gate, i)`` of them through per-unit coefficients ``C_ih``, ``C_hh``
(..., B, G, n), and on the state directly through a diagonal ``D`` (GRU: ``z`` on h; LSTM:
``o(1 − tanh² c') f`` and ``f`` on c). Hence, with one GEMM over ``W_hh`` each,

* ``J V = Σ_gates C_hh ⊙ (W_hh V_h)_gate + D ⊙ V_direct`` (rules 4, 9, 10),
* ``gᵀ J = (C_hh ⊙ g) W_hh + D ⊙ g`` (:meth:`vjp`), and
* ``gᵀ ∂F/∂W_hh = Σ_batch (C_hh ⊙ g)ᵀ h`` (:meth:`param_vjp`), likewise for the other weights.

The readout ``y = W_out h + b_out`` (optional) reads the hidden state :meth:`~GRUMap.hidden`;
it is not part of ``F``. A GRU maps any state to a convex combination of ``ñ ∈ (−1, 1)`` and
``h``, and an LSTM's cell state is unbounded, so neither has a box holding every image (rule 12:
None), although every fixed point of a GRU has ``h = ñ`` in ``(−1, 1)ⁿ``.

Examples
--------
>>> import numpy as np
>>> gru = GRUMap(weight_hh=np.zeros((6, 2)))  # r = z = ½, ñ = 0: h' = h / 2
>>> gru.step(np.ones(2)).tolist()
[0.5, 0.5]
>>> LSTMMap(weight_hh=np.zeros((8, 2))).dim
4
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import as_float_array
from ..activations import get_activation
from ..errors import DynsysError
from .base import Map, _check_readout, _readonly

__all__ = ["GRUMap", "LSTMMap"]

_sigmoid = get_activation("sigmoid").fn


@dataclass(frozen=True, eq=False)
class _GatedMap(Map):
    """The parameters, validation and every derivative shared by :class:`GRUMap` and :class:`LSTMMap`.

    A subclass sets ``_gates`` (G), ``_blocks`` (B: state = B blocks of n), ``_direct`` (the
    block the state enters directly through ``D``) and implements ``step``, ``_pass`` (the
    coefficients of the tangent map) and ``_adjoint`` (the cotangents of the pre-activations).
    """

    weight_ih: Any = None
    weight_hh: Any = None
    bias_ih: Any = None
    bias_hh: Any = None
    W_out: Any = None
    b_out: Any = None
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_out", "b_out")
    #: the weight arrays, in the order a trainer stacks them (PyTorch's names, then the readout)
    weight_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_out", "b_out")
    _gates: ClassVar[int] = 3
    _blocks: ClassVar[int] = 1
    _direct: ClassVar[int] = 0
    _cell: ClassVar[str] = "GRU"

    def __post_init__(self):
        G, cell = self._gates, ("an " if self._cell == "LSTM" else "a ") + self._cell
        if self.weight_hh is None:
            raise DynsysError(f"weight_hh is required: the recurrent weights of {cell}, shape ({G}n, n)")
        W_hh = as_float_array(self.weight_hh, "weight_hh", ndim=2)
        n = W_hh.shape[1]
        if W_hh.shape[0] != G * n:
            raise DynsysError(f"weight_hh must have shape ({G}n, n) for {cell}, got {W_hh.shape}")
        if self.weight_ih is None:
            W_ih = np.zeros((G * n, 0))
        else:
            W_ih = as_float_array(self.weight_ih, "weight_ih", ndim=2, allow_empty=True)
            if W_ih.shape[0] != G * n:
                raise DynsysError(
                    f"weight_ih must have shape ({G * n}, m) to match weight_hh, got {W_ih.shape}"
                )
        biases = []
        for key in ("bias_ih", "bias_hh"):
            value = getattr(self, key)
            b = np.zeros(G * n) if value is None else as_float_array(value, key, ndim=1)
            if b.shape != (G * n,):
                raise DynsysError(f"{key} must have shape ({G * n},) to match weight_hh, got {b.shape}")
            biases.append(b)
        W_out, b_out = _check_readout(self.W_out, self.b_out, n, " to read the hidden state")
        set_ = object.__setattr__
        for key, value in zip(self.weight_names, (W_ih, W_hh, *biases, W_out, b_out)):
            set_(self, key, _readonly(value))
        set_(self, "dim", self._blocks * n)
        set_(self, "input_dim", W_ih.shape[1])

    @property
    def hidden_size(self) -> int:
        """``n``, the number of units (PyTorch's ``hidden_size``)."""
        return self.weight_hh.shape[1]

    def _input_pre(self, u):
        """``a_ih = W_ih u + b_ih`` (…, G n); ``u = None`` is the zero input."""
        if u is None or not self.input_dim:
            return self.bias_ih
        return _affine(u, self.weight_ih.T, self.bias_ih)

    def _pass(self, x, u):  # pragma: no cover - abstract
        """``(F(x, u), C_ih, C_hh, D)`` with ``C`` (…, B, G, n) and ``D`` (…, B, n)."""
        raise NotImplementedError

    # the hidden state and the readout ----------------------------------------------------
    def hidden(self, x):
        """``h``, what a readout reads: the state of a GRU, the first half of an LSTM's."""
        return np.asarray(x)[..., : self.hidden_size]

    def hidden_vjp(self, x, g):
        """``gᵀ ∂hidden/∂x`` (…, dim) for ``g`` (…, n): ``g`` in the h block, zeros elsewhere."""
        g = np.asarray(g, dtype=float)
        if self._blocks == 1:
            return g
        return np.concatenate([g, np.zeros(g.shape[:-1] + (self.dim - g.shape[-1],))], axis=-1)

    def readout(self, x):
        """``y = W_out h + b_out`` (requires ``W_out``)."""
        if self.W_out is None:
            raise DynsysError(f"this {type(self).__name__} has no readout (W_out is None)")
        return self.hidden(x) @ self.W_out.T + self.b_out

    def weights(self) -> dict[str, np.ndarray]:
        """Writable copies of the weight arrays by name (``weight_names``; the readout ones are None
        without a readout)."""
        return {
            k: None if getattr(self, k) is None else np.array(getattr(self, k)) for k in self.weight_names
        }

    # derivatives ---------------------------------------------------------------------------
    def jacobian(self, x, u=None):
        """``∂F/∂x`` (…, dim, dim): ``C_hh`` times the gate blocks of ``W_hh``, plus ``D`` (rule 4)."""
        _, _, C, D = self._pass(x, u)
        n, G, B = self.hidden_size, self._gates, self._blocks
        W3 = self.weight_hh.reshape(G, n, n)
        J = np.zeros(C.shape[:-3] + (self.dim, self.dim))
        J[..., :n] = np.einsum("...bgi,gij->...bij", C, W3).reshape(C.shape[:-3] + (B * n, n))
        i = np.arange(n)
        s = self._direct * n
        for b in range(B):
            J[..., b * n + i, s + i] += D[..., b, :]
        return J

    def _apply(self, C, D, V):
        """``J V`` for frames ``V`` (…, dim, k) from the coefficients: one GEMM over ``W_hh``."""
        n, G, B = self.hidden_size, self._gates, self._blocks
        P = self.weight_hh @ V[..., :n, :]
        P = P.reshape(P.shape[:-2] + (G, n, P.shape[-1]))
        out = (C[..., :, :, :, None] * P[..., None, :, :, :]).sum(axis=-3)
        s = self._direct * n
        out = out + D[..., :, :, None] * V[..., None, s : s + n, :]
        return out.reshape(out.shape[:-3] + (B * n, out.shape[-1]))

    def tangent(self, x, u, V):
        """``J V`` without forming ``J``, one GEMM ``W_hh V_h`` (rule 9)."""
        _, _, C, D = self._pass(x, u)
        return self._apply(C, D, V)

    def step_tangent(self, x, u, V):
        """``F(x, u)`` and ``J V`` from one evaluation of the gates (rule 10)."""
        y, _, C, D = self._pass(x, u)
        return y, self._apply(C, D, V)

    def _adjoint(self, x, u, g):  # pragma: no cover - abstract
        """``(gᵀ ∂F/∂a_ih, gᵀ ∂F/∂a_hh, gᵀ D)``: (…, G n) twice and (…, n) for the ``_direct`` block."""
        raise NotImplementedError

    def vjp(self, x, u, g):
        """``gᵀ ∂F/∂x`` (…, dim) for cotangents ``g`` (…, dim): ``(C_hh ⊙ g) W_hh + D ⊙ g``."""
        _, dh, direct = self._adjoint(x, u, np.asarray(g, dtype=float))
        back = _affine(dh, self.weight_hh)
        if self._blocks == 1:
            return back + direct
        return np.concatenate(np.broadcast_arrays(back, direct), axis=-1)

    def param_vjp(self, x, u, g) -> dict[str, np.ndarray]:
        """``gᵀ ∂F/∂θ`` summed over the batch axes, shaped like ``θ``, for the four weights of ``F``.

        Keys ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (the readout ``W_out``,
        ``b_out`` is not part of ``F``). ``g`` (…, dim) are the cotangents of ``F(x, u)``.
        """
        di, dh, _ = self._adjoint(x, u, np.asarray(g, dtype=float))
        n, Gn, m = self.hidden_size, self._gates * self.hidden_size, self.input_dim
        batch = np.broadcast_shapes(di.shape[:-1], dh.shape[:-1])
        DI = np.broadcast_to(di, batch + (Gn,)).reshape(-1, Gn)
        DH = np.broadcast_to(dh, batch + (Gn,)).reshape(-1, Gn)
        H = np.broadcast_to(self.hidden(x), batch + (n,)).reshape(-1, n)
        if u is None or not m:
            W_ih = np.zeros((Gn, m))
        else:
            W_ih = DI.T @ np.broadcast_to(u, batch + (m,)).reshape(-1, m)
        return {
            "weight_ih": W_ih,
            "weight_hh": DH.T @ H,
            "bias_ih": DI.sum(axis=0),
            "bias_hh": DH.sum(axis=0),
        }

    def param_derivative(self, x, name, u=None):
        """∂F/∂p, exact for every name of the vocabulary (rule 7).

        An entry (``"weight_hh[i,j]"``, ``"bias_ih[i]"``, ...) is one parameter; a whole array
        (``"weight_hh"``) is the derivative along all its entries at once (the direction of the
        base class's generic difference). The readout (``W_out``, ``b_out``) does not enter ``F``.
        """
        base, idx = self._param_ref(name)
        value = getattr(self, base)
        if value is None:
            return super().param_derivative(x, name, u)  # raises: no number
        x = np.asarray(x, dtype=float)
        if base in ("W_out", "b_out"):
            batch = x.shape[:-1] if u is None else np.broadcast_shapes(x.shape[:-1], np.shape(u)[:-1])
            return np.zeros(batch + (self.dim,))
        E = np.ones(value.shape)
        if idx:
            E = np.zeros(value.shape)
            E[idx] = 1.0
        _, Ci, Ch, _ = self._pass(x, u)
        n, G = self.hidden_size, self._gates
        if base == "bias_ih":
            da, C = E, Ci
        elif base == "bias_hh":
            da, C = E, Ch
        elif base == "weight_hh":
            da, C = self.hidden(x) @ E.T, Ch
        elif u is None or not self.input_dim:
            da, C = np.zeros(G * n), Ci
        else:
            da, C = np.asarray(u, dtype=float) @ E.T, Ci
        out = (C * da.reshape(da.shape[:-1] + (1, G, n))).sum(axis=-2)
        return out.reshape(out.shape[:-2] + (self.dim,))

    def __repr__(self):
        return (
            f"{type(self).__name__}(n={self.hidden_size}, m={self.input_dim}, "
            f"readout={'none' if self.W_out is None else self.W_out.shape[0]})"
        )


@dataclass(frozen=True, eq=False, repr=False)
class GRUMap(_GatedMap):
    r"""A gated recurrent unit, ``torch.nn.GRUCell``: ``h' = (1 − z) ⊙ ñ + z ⊙ h`` (dim n).

    Parameters
    ----------
    weight_ih : array_like, shape (3n, m), optional
        Input weights ``[W_ir; W_iz; W_in]``; None (or shape (3n, 0)) for an autonomous cell.
    weight_hh : array_like, shape (3n, n)
        Recurrent weights ``[W_hr; W_hz; W_hn]`` (required).
    bias_ih, bias_hh : array_like, shape (3n,), optional
        Biases (zero if omitted); ``b_hn`` sits inside the reset gate, as in PyTorch.
    W_out : array_like, shape (k, n), optional
        Linear readout of ``h`` (not part of the dynamics; used by losses).
    b_out : array_like, shape (k,), optional
        Readout bias.

    Examples
    --------
    >>> import numpy as np
    >>> gru = GRUMap(weight_hh=np.zeros((3, 1)), bias_ih=[0.0, -50.0, 0.5])  # z ≈ 0: h' = tanh(½)
    >>> bool(np.isclose(gru.step(np.zeros(1))[0], np.tanh(0.5)))
    True
    """

    def _forward(self, x, u):
        n = self.hidden_size
        gi = self._input_pre(u)
        gh = _affine(x, self.weight_hh.T, self.bias_hh)
        rz = _sigmoid(gi[..., : 2 * n] + gh[..., : 2 * n])
        r, z = rz[..., :n], rz[..., n:]
        ghn = gh[..., 2 * n :]
        cand = np.tanh(gi[..., 2 * n :] + r * ghn)
        return r, z, ghn, cand, cand + z * (x - cand)  # h' = (1 − z) ñ + z h

    def step(self, x, u=None):
        return self._forward(x, u)[-1]

    def _pass(self, x, u):
        r, z, ghn, cand, y = self._forward(x, u)
        cn = (1.0 - z) * (1.0 - cand * cand)  # ∂h'/∂a_n
        cr = cn * ghn * r * (1.0 - r)  # ∂h'/∂a_r
        cz = (x - cand) * z * (1.0 - z)  # ∂h'/∂a_z
        Ci = np.stack([cr, cz, cn], axis=-2)[..., None, :, :]
        Ch = np.stack([cr, cz, cn * r], axis=-2)[..., None, :, :]
        return y, Ci, Ch, z[..., None, :]

    def _adjoint(self, x, u, g):
        r, z, ghn, cand, _ = self._forward(x, u)
        gn = g * (1.0 - z) * (1.0 - cand * cand)
        gr = gn * ghn * r * (1.0 - r)
        gz = g * (x - cand) * z * (1.0 - z)
        gr, gz, gn = np.broadcast_arrays(gr, gz, gn)
        return np.concatenate([gr, gz, gn], axis=-1), np.concatenate([gr, gz, gn * r], axis=-1), g * z


@dataclass(frozen=True, eq=False, repr=False)
class LSTMMap(_GatedMap):
    r"""A long short-term memory cell, ``torch.nn.LSTMCell``, on the state ``x = [h, c]`` (dim 2n).

    ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')`` with the gates ``(i, f, g, o)`` of PyTorch.

    Parameters
    ----------
    weight_ih : array_like, shape (4n, m), optional
        Input weights ``[W_ii; W_if; W_ig; W_io]``; None (or shape (4n, 0)) for an autonomous cell.
    weight_hh : array_like, shape (4n, n)
        Recurrent weights ``[W_hi; W_hf; W_hg; W_ho]`` (required).
    bias_ih, bias_hh : array_like, shape (4n,), optional
        Biases (zero if omitted; only their sum enters).
    W_out : array_like, shape (k, n), optional
        Linear readout of ``h`` (the first half of the state).
    b_out : array_like, shape (k,), optional
        Readout bias.

    Examples
    --------
    >>> import numpy as np
    >>> lstm = LSTMMap(weight_hh=np.zeros((4, 1)))  # i = f = o = ½, g = 0: c' = c / 2
    >>> lstm.step(np.array([0.0, 1.0])).round(6).tolist()
    [0.231059, 0.5]
    """

    _gates = 4
    _blocks = 2
    _direct = 1
    _cell = "LSTM"

    def _gates_of(self, x, u):
        n = self.hidden_size
        a = self._input_pre(u) + _affine(x[..., :n], self.weight_hh.T, self.bias_hh)
        s = _sigmoid(a)
        i, f, o = s[..., :n], s[..., n : 2 * n], s[..., 3 * n :]
        g = np.tanh(a[..., 2 * n : 3 * n])
        c_new = f * x[..., n:] + i * g
        return i, f, g, o, c_new, np.tanh(c_new)

    def step(self, x, u=None):
        *_, o, c_new, tc = self._gates_of(x, u)
        return np.concatenate([o * tc, c_new], axis=-1)

    def _pass(self, x, u):
        i, f, g, o, c_new, tc = self._gates_of(x, u)
        c = x[..., self.hidden_size :]
        y = np.concatenate([o * tc, c_new], axis=-1)
        k = o * (1.0 - tc * tc)  # ∂h'/∂c'
        zero = np.zeros_like(c_new)
        dc = np.stack([g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g), zero], axis=-2)
        dc, k = np.broadcast_arrays(dc, k[..., None, :])
        dh = k * dc
        dh[..., 3, :] = tc * o * (1.0 - o)
        C = np.stack([dh, dc], axis=-3)
        return y, C, C, np.stack(np.broadcast_arrays(k[..., 0, :] * f, f), axis=-2)

    def _adjoint(self, x, u, g):
        i, f, gg, o, _, tc = self._gates_of(x, u)
        n = self.hidden_size
        g_h = g[..., :n]
        g_c = g[..., n:] + g_h * o * (1.0 - tc * tc)  # the total cotangent of c'
        parts = [g_c * gg * i * (1.0 - i), g_c * x[..., n:] * f * (1.0 - f), g_c * i * (1.0 - gg * gg)]
        da = np.concatenate(np.broadcast_arrays(*parts, g_h * tc * o * (1.0 - o)), axis=-1)
        return da, da, g_c * f


def _affine(x, WT, b=None):
    """``x @ WT (+ b)`` with the leading axes of ``x`` flattened into one GEMM."""
    x = np.asarray(x)
    out = x.reshape(-1, x.shape[-1]) @ WT if x.ndim > 2 else x @ WT
    out = out.reshape(x.shape[:-1] + WT.shape[-1:])
    return out if b is None else out + b
