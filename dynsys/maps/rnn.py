"""The recurrent network of paper eq. 2 as a map, with every fast path of the Map contract.

``x_t = W_rec σ(x_{t-1}) + W_in u_t + b`` on the pre-activations. Its one-step Jacobian is
``W_rec diag(σ′(x))`` (eq. 5), so every Jacobian product, tangent step, Newton–Krylov
matrix–vector product and vector–Jacobian product is one GEMM with ``W_rec`` — the overrides of
rules 9–17 here — and its weights enter affinely, so parameter paths in them have exact
derivatives (:class:`AffineRNNPath`).

Examples
--------
>>> import numpy as np
>>> rnn = RNNMap(0.5 * np.eye(2), b=[0.1, -0.2])
>>> rnn.step(np.zeros(2)).tolist()
[0.1, -0.2]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import as_float_array
from ..activations import get_activation
from ..errors import DynsysError
from .base import Linearization, Map, _check_readout, _readonly, split_param_name
from .paths import ParameterPath, path_direction

__all__ = ["RNNMap", "AffineRNNPath"]


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
    #: the weight arrays, in the order the trainer stacks them (rule 17; ``param_vjp`` covers the
    #: first three, the readout ``W_out``, ``b_out`` is not part of F)
    weight_names = ("W_rec", "W_in", "b", "W_out", "b_out")
    matrix_free = True

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
        W_out, b_out = _check_readout(self.W_out, self.b_out, n)
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
        """∂F/∂p, exact for ``b[i]``, ``W_rec[i,j]`` and ``W_in[i,j]`` (rule 7)."""
        base, idx = self._param_ref(name)
        if base in ("b", "W_rec", "W_in") and not idx:
            raise DynsysError(
                f"{base} is an array; differentiate one entry ({base}[i{',j' if base != 'b' else ''}]) "
                "or continue a path such as b = b0 + p·d"
            )
        if base in ("b", "W_rec", "W_in"):
            x = np.asarray(x, dtype=float)
            batch = x.shape[:-1] if u is None else np.broadcast_shapes(x.shape[:-1], np.shape(u)[:-1])
            out = np.zeros(batch + x.shape[-1:])  # the shape of step(x, u) (rule 3)
            i = idx[0]
            if base == "b":
                out[..., i] = 1.0
            elif base == "W_rec":
                out[..., i] = self.activation.fn(x[..., idx[1]])
            elif u is not None:
                out[..., i] = np.asarray(u)[..., idx[1]]
            return out
        return super().param_derivative(x, name, u)

    def hidden(self, x):
        """``h = σ(x)``: the hidden state of the usual form, what the readout reads (rule 16)."""
        return self.activation.fn(x)

    def hidden_vjp(self, x, g):
        """``σ′(x) ⊙ g`` (rule 16)."""
        return self.activation.deriv(x) * g

    def readout(self, x):
        """``y = W_out σ(x) + b_out`` (requires ``W_out``)."""
        if self.W_out is None:
            raise DynsysError("this RNNMap has no readout (W_out is None)")
        return self.activation.fn(x) @ self.W_out.T + self.b_out

    def autonomous(self, u=None) -> RNNMap:
        """``F̃(x) = W_rec σ(x) + b (+ W_in u)``: the network with its input removed (paper §2.3),
        or held at the constant ``u``."""
        if u is None:
            return RNNMap(self.W_rec, None, self.b, self.activation, self.W_out, self.b_out)
        u = self.validate_constant_input(u, "u")
        return RNNMap(self.W_rec, None, self.b + self.W_in @ u, self.activation, self.W_out, self.b_out)

    def weights(self) -> dict[str, np.ndarray]:
        """Writable copies of the weight arrays by name (``weight_names``; the readout ones are None
        without a readout)."""
        return {
            k: None if getattr(self, k) is None else np.array(getattr(self, k)) for k in self.weight_names
        }

    # fast paths (rules 9–15) --------------------------------------------------------------
    def tangent(self, x, u, V):
        """``W_rec (σ′(x) ∘ V)``: J V without forming J (rule 9).

        Square frames (``k = n``) are stacked small products; thin frames (``k < n``) one GEMM
        ``W_rec @ [n, (batch)·k]``, a single pass over ``W_rec``; single vectors (``k = 1``) the
        batch as the rows of one GEMM ``[(batch), n] @ W_recᵀ``.
        """
        d = self.activation.deriv(x)
        Z = d[..., :, None] * V
        if Z.shape[-1] >= Z.shape[-2]:
            return self.W_rec @ Z
        if Z.shape[-1] == 1:  # single vectors: the batch as rows of one GEMM, no transposes
            return (Z[..., 0] @ self.W_rec.T)[..., None]
        return _one_gemm(self.W_rec, Z)

    def step_tangent(self, x, u, V):
        """``F(x, u)`` and ``J V`` in one GEMM over ``W_rec`` (rule 10)."""
        if np.broadcast_shapes(np.shape(x)[:-1], V.shape[:-2]) != np.shape(x)[:-1]:
            return super().step_tangent(x, u, V)  # frames with more batch axes than x: no stacking
        act = self.activation
        stacked = np.concatenate([act.fn(x)[..., None], act.deriv(x)[..., :, None] * V], axis=-1)
        out = _one_gemm(self.W_rec, stacked)  # (..., n, k + 1): σ(x) and the frame
        x_new = out[..., 0] + self.b
        if u is not None and self.input_dim:
            x_new = x_new + u @ self.W_in.T
        return x_new, out[..., 1:]

    def linearize(self, x, u=None, *, workspace=None):
        """Matrix-free: ``J_s v = W_rec (σ′(x_s) ∘ v)``, one GEMM for all states (rule 11)."""
        return _RNNLinearization(self, x, u, workspace)

    def state_box(self, u=None):
        """``x = W σ(x) + b + W_in u`` with ``σ`` in its bounded range (rule 12)."""
        bounds = self.activation.bounds
        if bounds is None:
            return None
        s0, s1 = bounds
        W = self.W_rec
        c = self.b + (0.0 if u is None or not self.input_dim else self.W_in @ u)
        lo = c + np.sum(np.minimum(W * s0, W * s1), axis=1)
        hi = c + np.sum(np.maximum(W * s0, W * s1), axis=1)
        return lo, hi

    def split_driven(self):
        """``F_t = U_t ∘ F̃`` with ``F̃`` = :meth:`autonomous` and the kick ``U_t(x) = x + W_in u_t``."""
        if self.input_dim == 0:
            return super().split_driven()  # raises: an autonomous network has no input to split off
        return self.autonomous(), np.asarray(self.W_in)

    def parameter_path(self, name, *, u=None, direction=None):
        """Affine paths in the weights (rule 14): ``"gain"`` (``p · W_rec``), ``"b"`` (``b₀ + p·d``,
        default all ones), ``"b[i]"``, ``"W_rec[i,j]"``, ``"u"`` (a constant input ``u₀ + p·d``),
        ``"u[i]"``; other names take the generic path."""
        return _rnn_path(self, name, u, direction)

    def as_rnn(self) -> RNNMap:
        return self

    def vjp(self, x, u, g):
        """``gᵀ J = (g W_rec) ⊙ σ′(x)``: one GEMM, J never formed (rule 17)."""
        return (g @ self.W_rec) * self.activation.deriv(x)

    def param_vjp(self, x, u, g):
        """``W_rec: Σ g σ(x)ᵀ``, ``W_in: Σ g uᵀ``, ``b: Σ g`` over the batch, one GEMM each (rule 17)."""
        n, m = self.dim, self.input_dim
        s = self.activation.fn(x)
        with_u = u is not None and m
        batch = np.broadcast_shapes(np.shape(g)[:-1], s.shape[:-1], np.shape(u)[:-1] if with_u else ())
        G = np.broadcast_to(g, batch + (n,)).reshape(-1, n)
        out = {"W_rec": G.T @ np.broadcast_to(s, batch + (n,)).reshape(-1, n)}
        out["W_in"] = G.T @ np.broadcast_to(u, batch + (m,)).reshape(-1, m) if with_u else np.zeros((n, m))
        out["b"] = G.sum(axis=0)
        return out

    def __repr__(self):
        return (
            f"RNNMap(n={self.dim}, m={self.input_dim}, activation={self.activation.name!r}, "
            f"readout={'none' if self.W_out is None else self.W_out.shape[0]})"
        )


def _one_gemm(W, Z):
    """``W @ Z`` for a stack of frames ``Z`` (..., n, k) as ONE GEMM ``W @ [n, (batch)·k]``."""
    n, k = Z.shape[-2], Z.shape[-1]
    lead = Z.shape[:-2]
    flat = np.moveaxis(Z, -2, 0).reshape(n, -1)
    return np.moveaxis((W @ flat).reshape((n,) + lead + (k,)), 0, -2)


# ---------------------------------------------------------------------------------------
# Newton–Krylov: the matrix-free linearization and its shared preconditioner
# ---------------------------------------------------------------------------------------


class _RNNLinearization(Linearization):
    """``J_s = W diag(σ′(x_s))``: ``J_s v`` is one GEMM for all states; the right preconditioner
    is ``(c_s W − I)⁻¹`` (:class:`_ShiftedInverses`, cached in the solve's workspace)."""

    def __init__(self, rnn: RNNMap, x, u, workspace):
        super().__init__(rnn, x, u)
        self.workspace = {} if workspace is None else workspace
        self.D = rnn.activation.deriv(x)
        self._bins = None

    def _WT(self):
        WT = self.workspace.get("W_rec.T")
        if WT is None:
            WT = self.workspace["W_rec.T"] = np.ascontiguousarray(self.map.W_rec.T)
        return WT

    def matvec(self, V, rows=None):
        out = np.multiply(V, self.D if rows is None else self.D[rows])
        out = out @ self._WT()
        return out

    def dense(self):
        S, n = self.x.shape
        buf = self.workspace.get("jacobians")
        if buf is None or buf.shape[0] < S:
            buf = self.workspace["jacobians"] = np.empty((S, n, n))
        return np.multiply(self.map.W_rec, self.D[:, None, :], out=buf[:S])

    def precondition(self, V, rows=None):
        pre = self.workspace.get("preconditioner")
        if pre is None:
            pre = self.workspace["preconditioner"] = _ShiftedInverses(
                self.map.W_rec, float(self.map.activation.gamma)
            )
        if self._bins is None:
            self._bins = pre.bins(self.D)
        return pre.apply(V, self._bins if rows is None else self._bins[rows])


class _ShiftedInverses:
    """Right preconditioner ``M_s = (c W − I)⁻¹`` with ``c`` the mean of ``σ′(x_s)``, rounded.

    ``J_s − I = W D_s − I`` with ``D_s = diag σ′(x_s)``; replacing ``D_s`` by its mean ``c I``
    gives a matrix shared by every start with the same ``c``. The means are rounded to the grid
    ``c_k = (k − ½) γ / levels`` (``k = 1 … levels``, ``γ = sup σ′``) and the inverses cached (at
    most ``levels`` n×n inverses per solve), so applying ``M`` to all starts is one GEMM per grid
    value in use. A singular ``c_k W − I`` is replaced by the identity (no preconditioning).
    """

    def __init__(self, W, gamma, levels=16):
        self.W, self.step, self.levels = W, gamma / levels, levels
        self.cache = {}

    def bins(self, D):
        k = np.floor(D.mean(axis=-1) / self.step) + 1
        return np.clip(np.nan_to_num(k, nan=1.0), 1, self.levels).astype(int)

    def inverse_T(self, k):
        if k not in self.cache:
            n = self.W.shape[0]
            try:
                inv = np.linalg.inv((k - 0.5) * self.step * self.W - np.eye(n))
            except np.linalg.LinAlgError:
                inv = np.eye(n)
            self.cache[k] = np.ascontiguousarray(inv.T) if np.all(np.isfinite(inv)) else np.eye(n)
        return self.cache[k]

    def apply(self, V, bins):
        out = np.empty_like(V)
        for k in np.unique(bins):
            sel = bins == k
            out[sel] = V[sel] @ self.inverse_T(int(k))
        return out


# ---------------------------------------------------------------------------------------
# Parameter paths affine in the weights
# ---------------------------------------------------------------------------------------


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

    @property
    def formula(self) -> str:
        return {"gain": "W_rec = p·W_rec₀", "b": "b = b₀ + p·d", "u": "u = u₀ + p·d"}.get(
            self.name, f"{self.name} = p"
        )

    def map_at(self, p):
        return RNNMap(self.W0 + p * self.W1, None, self.c0 + p * self.c1, self.rnn.activation)

    def dfdp(self, x, p):
        return self.rnn.activation.fn(x) @ self.W1.T + self.c1

    def step_batch(self, x, p):
        p = np.asarray(p, dtype=float)
        W = self.W0 + p[:, None, None] * self.W1
        c = self.c0 + p[:, None] * self.c1
        return np.einsum("psj,pij->psi", self.rnn.activation.fn(x), W) + c[:, None, :]


def _rnn_path(rnn: RNNMap, param, u, direction):
    n, m = rnn.dim, rnn.input_dim
    W, b = np.array(rnn.W_rec), np.array(rnn.b)
    c = b + (rnn.W_in @ u if u is not None else 0.0)
    zW, zc = np.zeros_like(W), np.zeros(n)
    base, idx = split_param_name(param)
    if param == "gain":
        return AffineRNNPath(rnn, param, zW, W, c, zc, 1.0)
    if param == "b":
        return AffineRNNPath(rnn, param, W, zW, c, path_direction(direction, (n,), param), 0.0)
    if param == "u":
        if m == 0:
            raise DynsysError("param 'u' needs a network with inputs (W_in), this one has none")
        return AffineRNNPath(rnn, param, W, zW, c, rnn.W_in @ path_direction(direction, (m,), param), 0.0)
    if base == "W_rec" and len(idx) == 2:
        i, j = idx
        if i >= n or j >= n:
            raise DynsysError(f"param {param!r} is out of range for a {n}-unit network")
        W0 = W.copy()
        W0[i, j] = 0.0
        W1 = zW.copy()
        W1[i, j] = 1.0
        return AffineRNNPath(rnn, param, W0, W1, c, zc, float(W[i, j]))
    if base == "b" and len(idx) == 1:
        i = idx[0]
        if i >= n:
            raise DynsysError(f"param {param!r} is out of range for a {n}-unit network")
        c0 = c.copy()
        c0[i] -= b[i]
        c1 = zc.copy()
        c1[i] = 1.0
        return AffineRNNPath(rnn, param, W, zW, c0, c1, float(b[i]))
    if base == "u" and len(idx) == 1:
        i = idx[0]
        if i >= m:
            raise DynsysError(f"param {param!r} is out of range: the network has {m} inputs")
        u0 = np.zeros(m) if u is None else u
        c0 = c - rnn.W_in[:, i] * u0[i]
        return AffineRNNPath(rnn, param, W, zW, c0, rnn.W_in[:, i].copy(), float(u0[i]))
    if base in rnn.param_names:
        return None  # another weight or entry (W_in[i,j], W_out, ...): the generic path
    raise DynsysError(
        f"unknown parameter {param!r} for RNNMap; known: gain, b, b[i], W_rec[i,j], u, u[i], "
        "and the entries of W_in, W_out, b_out"
    )
