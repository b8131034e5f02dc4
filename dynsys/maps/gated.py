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

BPTT over a sequence (Map rule 18, :meth:`~GRUMap.tape`) keeps the gates of every step from the
forward pass instead of recomputing them, with the input pre-activations of all steps in one GEMM
first and the weight gradients in one GEMM over all steps · batch rows after the backward pass.

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
from .base import Map, Tape, _check_readout, _readonly

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

    def tape(self, inputs, steps, batch, *, workspace=None):
        """BPTT's two passes over ``inputs`` (steps, batch, m) or None, keeping the gates (rule 18).

        The input pre-activations of all steps in one GEMM, one GEMM per step forward
        (``h W_hhᵀ``) and backward (``(C ⊙ g) W_hh``), the weight gradients in one GEMM each over
        all steps · batch rows; equal to the generic :class:`~dynsys.maps.base.Tape` up to rounding.
        The (G, T, B, n) arrays live in ``workspace`` when one is given.
        """
        return _TAPES[self._cell](self, inputs, steps, batch, workspace)

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

    def periodic_box(self, u=None):
        r"""A box ``|h_i| ≤ ν_i`` with ``ν_i < 1`` that holds every periodic point (Map rule 19).

        ``ν_i = tanh(|W_in u + b_in|_i + |b_hn|_i + Σ_j |W_hn|_ij)`` bounds the candidate
        ``|ñ_i(h)|`` on the closed cube ``|h| ≤ 1`` (the reset gate lies in (0, 1)); ``u`` is the
        constant input (None: zero, as in :meth:`step`). The box lies inside the open cube
        ``(−1, 1)ⁿ``, although images of states outside the cube leave it (rule 12: no box).

        Proof. Take a periodic orbit (a fixed point is one of period 1) and a unit ``i``; let
        ``M`` be the largest ``|h_i|`` on the orbit, at a point whose predecessor ``h`` is on the
        orbit too, so ``|h_i| ≤ M``. With the gates ``z, ñ`` at ``h``,
        ``M = |(1 − z_i) ñ_i + z_i h_i| ≤ (1 − z_i)|ñ_i| + z_i M``, i.e. ``(1 − z_i)(M − |ñ_i|) ≤ 0``,
        and since ``z_i < 1``, ``M ≤ |ñ_i| < 1``. So the whole orbit lies in the open cube; there
        ``|ñ_i| ≤ ν_i``, hence ``M ≤ ν_i``. Outside the cube ``|h_i|`` decreases at every step,
        but as slowly as ``1 − z_i``: where z saturates to 1.0 in floating point, ``F(h) = h`` to
        rounding, and Newton's method converges to such "fixed points" far out, which the
        finders reject with this box.

        Examples
        --------
        >>> import numpy as np
        >>> gru = GRUMap(weight_hh=np.zeros((3, 1)), bias_ih=[0.0, 0.0, 0.5])  # ñ = tanh(½)
        >>> lo, hi = gru.periodic_box()
        >>> bool(np.isclose(hi[0], np.tanh(0.5))), bool(np.isclose(gru.step(hi)[0], hi[0]))
        (True, True)
        """
        n = self.hidden_size
        a_in = np.abs(self._input_pre(None if u is None else np.asarray(u, dtype=float))[2 * n :])
        W_hn = self.weight_hh[2 * n :]
        nu = np.tanh(a_in + np.abs(self.bias_hh[2 * n :]) + np.abs(W_hn).sum(axis=1))
        return -nu, nu


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

    def periodic_box(self, u=None):
        r"""A box that holds every periodic point ``[h, c]`` (Map rule 19), or None.

        With ``a⁰ = W_ih u + b_ih + b_hh`` (``u`` the constant input; None: zero, as in
        :meth:`step`) and ``ρ = Σ_j |W_hh|_·j`` per row, every pre-activation at a state with
        ``|h| ≤ 1`` lies in ``[a⁰ − ρ, a⁰ + ρ]``, so there the gates obey ``i ≤ ī = σ(a⁰_i + ρ_i)``,
        ``f ≤ f̄ = σ(a⁰_f + ρ_f) < 1``, ``|g| ≤ ḡ = tanh(|a⁰_g| + ρ_g)`` and
        ``o ≤ ō = σ(a⁰_o + ρ_o)``, unit by unit. The box is
        ``|c_j| ≤ C_j = ī_j ḡ_j / (1 − f̄_j)`` and ``|h_j| ≤ ō_j tanh(C_j)`` (< 1).

        Proof. Every point of a periodic orbit is the image of its predecessor on the orbit, so
        ``h = o ⊙ tanh(c) ∈ (−1, 1)ⁿ`` at each of them, and the gates along the orbit (computed
        from the predecessors' h) obey the bounds. For a unit j let ``C`` be the largest ``|c_j|``
        on the orbit, at a point whose predecessor has ``|c_j| ≤ C``:
        ``C = |f_j c_j + i_j g_j| ≤ f̄_j C + ī_j ḡ_j``, so ``C ≤ ī_j ḡ_j / (1 − f̄_j)``; and at
        each orbit point ``|h_j| = o_j tanh|c_j| ≤ ō_j tanh(C_j)``. None when ``1 − f̄`` underflows
        (a forget gate saturated at 1 holds any c: no bound).

        Examples
        --------
        >>> import numpy as np
        >>> lstm = LSTMMap(weight_hh=np.zeros((4, 1)), bias_hh=[0.0, 1.0, 2.0, 0.0])  # constant gates
        >>> lo, hi = lstm.periodic_box()
        >>> x = np.zeros(2)
        >>> for _ in range(200):  # the fixed point c* = i g / (1 − f) is the corner of the box
        ...     x = lstm.step(x)
        >>> bool(np.allclose(x, hi))
        True
        """
        n = self.hidden_size
        a0 = self._input_pre(None if u is None else np.asarray(u, dtype=float)) + self.bias_hh
        a = (a0 + np.abs(self.weight_hh).sum(axis=1)).reshape(4, n)
        i_max, o_max = _sigmoid(a[0]), _sigmoid(a[3])
        g_max = np.tanh(np.abs(a0[2 * n : 3 * n]) + (a[2] - a0[2 * n : 3 * n]))
        one_minus_f = np.exp(-np.logaddexp(0.0, a[1]))  # 1 − σ(a_f) without cancellation
        ig = i_max * g_max
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            C = np.where(ig > 0.0, ig / one_minus_f, 0.0)
        if not np.all(np.isfinite(C)):
            return None
        h = o_max * np.tanh(C)
        return -np.concatenate([h, C]), np.concatenate([h, C])


def _affine(x, WT, b=None):
    """``x @ WT (+ b)`` with the leading axes of ``x`` flattened into one GEMM."""
    x = np.asarray(x)
    out = x.reshape(-1, x.shape[-1]) @ WT if x.ndim > 2 else x @ WT
    out = out.reshape(x.shape[:-1] + WT.shape[-1:])
    return out if b is None else out + b


# ---------------------------------------------------------------------------------------
# Map rule 18: the tapes of BPTT, the gates kept from the forward pass
# ---------------------------------------------------------------------------------------


def _arena(workspace, shapes):
    """Views of the given shapes into one float64 buffer: fresh, or the caller's ``workspace``
    buffer reused (rule 18). One buffer rather than many: fewer fresh pages for the kernel to map
    (numpy asks for huge pages from 4 MiB on), and one entry to keep in the workspace."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    total = sum(sizes)
    buf = None if workspace is None else workspace.get("gated.arena")
    if not isinstance(buf, np.ndarray) or buf.dtype != np.float64 or buf.size < total:
        buf = np.empty(total)
        if workspace is not None:
            workspace["gated.arena"] = buf
    offsets = np.cumsum([0, *sizes])
    return [buf[a:b].reshape(shape) for a, b, shape in zip(offsets[:-1], offsets[1:], shapes)]


class _GatedTape(Tape):
    """Rule 18 for a gated cell: every step's gates kept in gate-major (G, T, B, n) arrays.

    Built once per sequence: the input pre-activations ``W_ih u_t + b_ih`` of all T steps in one
    (batched) GEMM. The gates are kept in the order ``_order`` (indices into PyTorch's), the
    sigmoid gates first; their rows of the weights and biases are halved, which is exact, so that
    ``σ(a) = ½(1 + tanh(a/2))`` (the sigmoid of :mod:`dynsys.activations`) and ``tanh(a)`` come
    from one ``tanh`` over all gates; gate-major arrays keep every gate's (B, n) block contiguous.
    A forward step is one GEMM ``h W_hhᵀ`` (one BLAS call per gate) and a few in-place ufuncs;
    the first ``vjp`` turns the kept gates of steps ``≤ t_max`` into the per-unit coefficients
    ``C`` at once, in place (``_coefficients``); a backward step is one GEMM ``(C ⊙ g) W_hh`` with
    the cotangents of the pre-activations kept (in ``_A``, the input pre-activations' storage),
    and ``param_vjp`` one GEMM per weight over all ``t_max · B`` rows. A step
    does the floating-point operations of ``step`` (equal up to the GEMMs' order of summation);
    the backward pass agrees with ``vjp``/``param_vjp`` to rounding.
    """

    _order: ClassVar[tuple[int, ...]] = ()
    _n_sig: ClassVar[int] = 0  # the number of sigmoid gates (first in _order)
    _extra: ClassVar[tuple] = ()  # the shapes of the cell's own arrays, in units (T, B, n) -> (*s, T, B, n)

    def __init__(self, map, inputs, steps, batch, workspace=None):
        super().__init__(map, inputs, steps, batch)
        n, m, G = map.hidden_size, map.input_dim, map._gates
        T, B, order = self.steps, self.batch, list(self._order)
        half = np.ones((G, 1, 1))
        half[: self._n_sig] = 0.5
        W = map.weight_hh.reshape(G, n, n)[order]  # (G, n, n), gate-major in _order
        self.n = n
        self._W = np.ascontiguousarray(W)  # the backward GEMM
        self._WT = np.ascontiguousarray((W * half).transpose(0, 2, 1))  # halved, transposed
        self._bh = map.bias_hh.reshape(G, 1, n)[order] * half
        unit = (T, B, n)
        self._A, self._S, self._X, *self._more = _arena(
            workspace, [(G, *unit), (G, *unit), (T, B, map.dim), *(s + unit for s in self._extra)]
        )  # the halved input pre-activations, the gates, x_{t-1}, and ``_extra`` (units of T, B, n)
        b_i = map.bias_ih.reshape(G, 1, n)[order] * half
        self._U = None
        if inputs is None or not m:
            self._A[...] = b_i[:, None]
        else:
            self._U = np.ascontiguousarray(inputs, dtype=float).reshape(T * B, m)
            W_i = (map.weight_ih.reshape(G, n, m)[order] * half).transpose(0, 2, 1)
            np.matmul(self._U, W_i, out=self._A.reshape(G, T * B, n))
            self._A += b_i[:, None]
        self._tmp = np.empty((G, B, n))

    def vjp(self, t, g):
        if not self._top:  # the first backward step: the coefficients of steps 1..t at once
            self._top = t
            self._coefficients(t)
        elif t > self._top:
            raise DynsysError(f"tape.vjp: the steps must descend from t_max = {self._top}, got t = {t}")
        return self._back(t - 1, np.asarray(g, dtype=float))

    def _pytorch(self, a):
        """Gate-major arrays (G, ...) of ``_order`` back in PyTorch's order, rows stacked."""
        out = np.empty_like(a)
        out[list(self._order)] = a
        return out.reshape((-1,) + a.shape[2:])

    def _weights(self, DH, DI):
        """The weight gradients from the cotangents of the recurrent and input pre-activations,
        gate-major (G, t_max · B, n) each (DI a sequence of per-gate blocks)."""
        rows = self._top * self.batch
        H = self._X[: self._top, :, : self.n].reshape(rows, self.n)
        out = {
            "weight_hh": self._pytorch(np.matmul(DH.transpose(0, 2, 1), H)),
            "bias_hh": self._pytorch(DH.sum(axis=1)),
            "bias_ih": self._pytorch(np.stack([d.sum(axis=0) for d in DI])),
        }
        if self._U is None:
            out["weight_ih"] = np.zeros(self.map.weight_ih.shape)
        else:
            U = self._U[:rows]
            out["weight_ih"] = self._pytorch(np.stack([d.T @ U for d in DI]))
        return out

    def param_vjp(self):
        if not self._top:
            return {
                k: np.zeros(getattr(self.map, k).shape)
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
        return self._param_grads()


class _GRUTape(_GatedTape):
    """Gates ``S = [r, z, ñ]``; ``_GH`` = the (halved on r, z) recurrent pre-activations."""

    _order = (0, 1, 2)
    _n_sig = 2
    _extra = ((3,), ())  # _GH (3, T, B, n) and _cn (T, B, n)

    def __init__(self, map, inputs, steps, batch, workspace=None):
        super().__init__(map, inputs, steps, batch, workspace)
        self._GH, self._cn = self._more

    def step(self, t, x):
        k = t - 1
        h, gh, S, A = self._X[k], self._GH[:, k], self._S, self._A
        h[...] = x
        np.matmul(h, self._WT, out=gh)
        gh += self._bh  # ½ a_hh on the r, z rows; W_hn h + b_hn
        rz, c = S[:2, k], S[2, k]
        np.add(A[:2, k], gh[:2], out=rz)
        np.tanh(rz, out=rz)
        rz += 1.0
        rz *= 0.5  # r, z = σ(a_ih + a_hh)
        np.multiply(rz[0], gh[2], out=c)
        c += A[2, k]
        np.tanh(c, out=c)  # ñ = tanh(a_in + r ⊙ (W_hn h + b_hn))
        out = np.subtract(h, c)
        out *= rz[1]
        out += c  # h' = ñ + z ⊙ (h − ñ)
        return out

    def _coefficients(self, top):
        """``∂h'/∂a_hh`` per gate into ``_GH``: ``[c_n r (1 − r) (W_hn h + b_hn), (h − ñ) z (1 − z),
        c_n r]`` with ``c_n = (1 − z)(1 − ñ²)`` (``_cn``, = ``∂h'/∂a_in``); r and ñ are overwritten."""
        r, z, c = self._S[:, :top]
        C = self._GH[:, :top]
        cn = self._cn[:top]
        np.subtract(1.0, z, out=cn)
        np.subtract(self._X[:top], c, out=C[1])
        C[1] *= z
        C[1] *= cn  # (h − ñ) z (1 − z)
        np.multiply(c, c, out=c)
        np.subtract(1.0, c, out=c)
        cn *= c  # c_n = (1 − z)(1 − ñ²)
        np.multiply(C[2], r, out=C[0])  # r (W_hn h + b_hn)
        np.multiply(cn, r, out=C[2])  # c_n r
        np.subtract(1.0, r, out=c)
        C[0] *= c
        C[0] *= cn

    def _back(self, k, g):
        d, tmp = self._A[:, k], self._tmp
        np.multiply(self._GH[:, k], g, out=d)  # the cotangents of a_hh
        np.multiply(g, self._cn[k], out=self._S[2, k])  # the cotangent of a_in
        np.matmul(d, self._W, out=tmp)
        gx = tmp.sum(axis=0)
        np.multiply(g, self._S[1, k], out=tmp[0])
        gx += tmp[0]  # + z ⊙ g
        return gx

    def _param_grads(self):
        top, B = self._top, self.batch
        D = self._A[:, :top].reshape(3, top * B, self.n)
        DN = self._S[2, :top].reshape(top * B, self.n)
        return self._weights(D, (D[0], D[1], DN))


class _LSTMTape(_GatedTape):
    """Gates ``S = [o, i, f, g]`` (PyTorch's 3, 0, 1, 2: the sigmoid ones first, then the three of
    c' together); ``_CN`` = c', ``_TC`` = tanh c'."""

    _order = (3, 0, 1, 2)
    _n_sig = 3
    _extra = ((), ())  # _CN and _TC (T, B, n)

    def __init__(self, map, inputs, steps, batch, workspace=None):
        super().__init__(map, inputs, steps, batch, workspace)
        self._CN, self._TC = self._more

    def step(self, t, x):
        n, k = self.n, t - 1
        xp, s, cn, tc, tmp = self._X[k], self._S[:, k], self._CN[k], self._TC[k], self._tmp[0]
        xp[...] = x
        np.matmul(xp[:, :n], self._WT, out=s)
        s += self._bh
        s += self._A[:, k]  # ½ a on the o, i, f rows, a on the g rows
        np.tanh(s, out=s)
        sig = s[:3]
        sig += 1.0
        sig *= 0.5  # o, i, f = σ(a)
        o, i, f, gg = s
        np.multiply(f, xp[:, n:], out=cn)
        np.multiply(i, gg, out=tmp)
        cn += tmp  # c' = f ⊙ c + i ⊙ g
        np.tanh(cn, out=tc)
        out = np.empty(xp.shape)
        np.multiply(o, tc, out=out[:, :n])
        out[:, n:] = cn
        return out

    def _coefficients(self, top):
        """In place: ``_CN`` ← ``o (1 − tanh² c')`` (= ``∂h'/∂c'``), ``_TC`` ← ``tanh c' · o (1 − o)``
        (``∂h'/∂a_o``), ``S[0]`` ← f, ``S[1:]`` ← ``[g i (1 − i), c f (1 − f), i (1 − g²)]``
        (``∂c'/∂a`` of the gates i, f, g)."""
        S, k, co = self._S[:, :top], self._CN[:top], self._TC[:top]
        o, i, f, gg = S
        t1, t2 = self._A[0, :top], self._A[1, :top]  # free until the first backward step
        np.multiply(co, co, out=k)
        np.subtract(1.0, k, out=k)
        k *= o  # o (1 − tanh² c')
        np.subtract(1.0, o, out=t1)
        co *= o
        co *= t1  # tanh c' · o (1 − o)
        S[0] = f
        np.multiply(gg, gg, out=t1)
        np.subtract(1.0, t1, out=t1)
        t1 *= i  # i (1 − g²)
        np.subtract(1.0, i, out=t2)
        i *= t2
        i *= gg  # g i (1 − i)
        gg[...] = t1
        np.subtract(1.0, f, out=t1)
        f *= t1
        f *= self._X[:top, :, self.n :]  # c f (1 − f)

    def _back(self, k, g):
        n, d, tmp = self.n, self._A[:, k], self._tmp
        gh, gc = g[:, :n], tmp[0]
        np.multiply(gh, self._CN[k], out=gc)
        gc += g[:, n:]  # the total cotangent of c'
        np.multiply(self._S[1:, k], gc, out=d[1:])
        np.multiply(gh, self._TC[k], out=d[0])
        out = np.empty(g.shape)
        np.multiply(gc, self._S[0, k], out=out[:, n:])  # f ⊙ g_c
        np.matmul(d, self._W, out=tmp)
        tmp.sum(axis=0, out=out[:, :n])
        return out

    def _param_grads(self):
        D = self._A[:, : self._top].reshape(4, self._top * self.batch, self.n)
        return self._weights(D, D)


_TAPES = {"GRU": _GRUTape, "LSTM": _LSTMTape}
