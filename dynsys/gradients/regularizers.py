"""The vanishing-gradient regularizer Ω (paper eq. 9) and its W_rec gradient (eq. 10).

Ω asks the back-propagated error to keep its norm when it is carried one step back in time,
along the direction it actually has (a soft constraint):

    Ω = Σ_k Ω_k,   Ω_k = ( ‖(∂E/∂x_{k+1}) ∂x_{k+1}/∂x_k‖ / ‖∂E/∂x_{k+1}‖ − 1 )²        (eq. 9)

and its gradient is taken with respect to ``W_rec`` only, treating ``x_k`` and the error
``∂E/∂x_{k+1}`` as constants (eq. 10).

Two forms are provided (``form=``):

``"code"`` (default; what the authors' code trains with)
    ``δ_k = ∂C/∂h_k`` is the total BPTT gradient on the hidden state ``h_k = σ(x_k)``
    (``k = 1 … T``); one step back through the recurrence is
    ``v_k = W_recᵀ (σ′(x_k) ⊙ δ_k)`` (= ``∂⁺C/∂h_{k−1}`` along this path); the ratio of
    **squared** norms ``r_k = ‖v_k‖² / ‖δ_k‖²`` enters, steps with ``‖δ_k‖² < bound`` (1e-20)
    are skipped, and Ω is the **mean** of ``(r_k − 1)²`` over the valid (step, sequence) pairs.
    ``∂Ω/∂W_rec = mean_valid 4 (r_k − 1) g_k v_kᵀ / ‖δ_k‖²`` with ``g_k = σ′(x_k) ⊙ δ_k``.

``"eq9"`` (the paper's formula as printed)
    ``d = ∂E/∂x_{k+1}`` on the pre-activation state, ``u_k = σ′(x_k) ⊙ (W_recᵀ d)``
    (column convention of eq. 5), ``s_k = ‖u_k‖ / ‖d‖``; Ω is the **sum** over steps of
    ``(s_k − 1)²`` averaged over the batch, with steps ``‖d‖² < bound`` skipped.

Both are vectorized over an ensemble axis: ``W_rec`` may be ``(K, n, n)`` with errors
``(T, K, B, n)``.

Examples
--------
>>> import numpy as np
>>> from dynsys.gradients.regularizers import omega
>>> W = np.eye(3); d = np.ones((4, 2, 3)); s = np.ones((4, 2, 3))
>>> float(omega(W, d, s).value)   # an orthogonal W_rec with σ′ = 1 keeps every norm: Ω = 0
0.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DynsysError

__all__ = ["OmegaResult", "omega", "OmegaAccumulator"]


@dataclass(frozen=True)
class OmegaResult:
    """Ω and its W_rec gradient.

    Attributes
    ----------
    value : ndarray, shape (...)  (``()`` for one network, ``(K,)`` for an ensemble)
    grad_W_rec : ndarray, shape (..., n, n)
        ``∂Ω/∂W_rec`` with ``x_k`` and the errors held fixed (eq. 10).
    n_valid : ndarray, shape (...)
        Number of (step, sequence) pairs that entered (the others had ``‖δ‖² < bound``).
    ratios : ndarray, shape (T, ..., B)
        ``r_k`` (code form) or ``s_k`` (eq9 form); NaN where skipped.
    """

    value: np.ndarray
    grad_W_rec: np.ndarray
    n_valid: np.ndarray
    ratios: np.ndarray


def _outer_sum(a, c):
    """``Σ_{t,b} a[t,k,b,:] ⊗ c[t,k,b,:]`` -> (K, n, n) as one batched matmul."""
    T, K, B, n = a.shape
    a2 = a.transpose(1, 3, 0, 2).reshape(K, n, T * B)
    c2 = c.transpose(1, 0, 2, 3).reshape(K, T * B, n)
    return np.matmul(a2, c2)


def omega(
    W_rec, deltas, deriv, *, form: Literal["code", "eq9"] = "code", bound: float = 1e-20
) -> OmegaResult:
    """Ω of eq. 9 and ``∂Ω/∂W_rec`` of eq. 10.

    Parameters
    ----------
    W_rec : ndarray, shape (n, n) or (K, n, n)
    deltas : ndarray, shape (T, B, n) or (T, K, B, n)
        ``form="code"``: ``δ_k = ∂C/∂h_k`` for ``k = 1 … T``.
        ``form="eq9"``: ``∂E/∂x_{k+1}`` for the ``T`` steps ``k`` that enter the sum.
    deriv : ndarray, same shape as ``deltas``
        ``σ′(x_k)`` for the same ``k`` (both forms).
    form : {"code", "eq9"}
    bound : float
        Steps with ``‖δ‖² < bound`` are skipped (code: 1e-20).

    Returns
    -------
    OmegaResult
    """
    # float arrays keep their type (float32 histories give a float32 Ω and gradient), others float64
    W, d, s = (np.asarray(a) for a in (W_rec, deltas, deriv))
    W, d, s = (a if a.dtype.kind == "f" else a.astype(float) for a in (W, d, s))
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:
        raise DynsysError(f"W_rec must have shape (n, n) or (K, n, n), got {W.shape}")
    if d.shape != s.shape or d.ndim != W.ndim + 1 or d.shape[-1] != W.shape[-1]:
        raise DynsysError(
            f"deltas and deriv must both have shape (T, {'K, ' if W.ndim == 3 else ''}B, {W.shape[-1]}), "
            f"got {d.shape} and {s.shape}"
        )
    if form not in ("code", "eq9"):
        raise DynsysError(f"unknown form {form!r}; known: code, eq9")
    stacked = W.ndim == 3
    if not stacked:
        W, d, s = W[None], d[:, None], s[:, None]
    den = np.einsum("...i,...i->...", d, d)  # (T, K, B)
    valid = den >= bound
    safe = np.where(valid, den, 1.0)
    if form == "code":
        g = s * d
        v = np.matmul(g, W[None])  # row form of W_recᵀ g
        r = np.einsum("...i,...i->...", v, v) / safe
        count = valid.sum(axis=(0, 2))  # (K,)
        c = np.where(valid, r - 1.0, 0.0)
        cnt = np.maximum(count, 1).astype(c.dtype)  # (the counts in the histories' type: no upcast)
        value = np.sum(c * c, axis=(0, 2)) / cnt
        coef = 4.0 * c / safe / cnt[None, :, None]
        grad = _outer_sum(coef[..., None] * g, v)
    else:
        w = np.matmul(d, W[None])  # W_recᵀ d (row form)
        u = s * w
        nu = np.sqrt(np.sum(u * u, axis=-1))
        r = nu / np.sqrt(safe)
        count = valid.sum(axis=(0, 2))
        B = d.shape[2]
        c = np.where(valid, r - 1.0, 0.0)
        value = np.sum(c * c, axis=(0, 2)) / B
        # ∂‖u‖/∂W_ij = d_i (σ′² ⊙ W_recᵀ d)_j / ‖u‖
        coef = np.where(valid & (nu > 0), 2.0 * c / np.sqrt(safe) / np.where(nu > 0, nu, 1.0), 0.0) / B
        grad = _outer_sum(coef[..., None] * d, s * u)
    r = np.where(valid, r, np.nan)
    if not stacked:
        return OmegaResult(value[0], grad[0], count[0], r[:, 0])
    return OmegaResult(value, grad, count, r)


class OmegaAccumulator:
    """Ω in the code form (see :func:`omega`), accumulated step by step inside a BPTT backward pass.

    The backward pass of eq. 3–5 already computes, at every step ``k``, the three vectors the
    code-form Ω needs: ``δ_k = ∂C/∂h_k``, ``g_k = σ′(x_k) ⊙ δ_k`` (= ``∂C/∂x_k``) and
    ``v_k = W_recᵀ g_k`` (the next backward product). Feeding them to :meth:`step` gives the same Ω
    and ``∂Ω/∂W_rec`` as :func:`omega` on the stored histories, without a second pass over them.

    Parameters
    ----------
    K, n : int
        Stacked networks and units.
    bound : float
        Steps with ``‖δ_k‖² < bound`` are skipped (code: 1e-20).
    defer : bool
        Keep every step's factors and form ``∂Ω/∂W_rec`` in one product in :meth:`result`
        (cheaper for small batches) instead of one product per step.
    dtype : float64 (default) or float32
        The floating-point type of the sums (that of the backward pass).
    """

    def __init__(self, K: int, n: int, bound: float = 1e-20, *, defer: bool = False, dtype=np.float64):
        self.bound = bound
        self.sum_c2 = np.zeros(K, dtype=dtype)
        self.count = np.zeros(K, dtype=int)
        self.grad = np.zeros((K, n, n), dtype=dtype)
        # defer: keep the steps' factors and form ∂Ω/∂W_rec in one product at the end (small batches)
        self._factors: list | None = [] if defer else None

    def step(self, delta_h, g, v) -> None:
        """Add step ``k``: arrays of shape (K, B, n) — ``δ_k``, ``g_k`` and ``v_k`` (row form)."""
        den = np.einsum("kbi,kbi->kb", delta_h, delta_h)
        valid = den >= self.bound
        safe = np.where(valid, den, 1.0)
        c = np.where(valid, np.einsum("kbi,kbi->kb", v, v) / safe - 1.0, 0.0)
        self.sum_c2 += np.einsum("kb,kb->k", c, c)
        self.count += valid.sum(axis=1)
        if self._factors is not None:
            self._factors.append(((c / safe)[..., None] * g, v.copy()))
        else:
            self.grad += np.matmul(np.swapaxes((c / safe)[..., None] * g, -1, -2), v)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(Ω (K,), ∂Ω/∂W_rec (K, n, n), valid pairs (K,))``: the mean over valid (step, sequence) pairs."""
        if self._factors:
            a = np.concatenate([f for f, _ in self._factors], axis=1)  # (K, steps·B, n)
            v = np.concatenate([w for _, w in self._factors], axis=1)
            self.grad += np.matmul(np.ascontiguousarray(np.swapaxes(a, -1, -2)), v)
            self._factors = []
        cnt = np.maximum(self.count, 1).astype(self.grad.dtype)
        return self.sum_c2 / cnt, 4.0 * self.grad / cnt[:, None, None], self.count
