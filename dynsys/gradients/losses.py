"""Losses read from the hidden states of a map (used by :mod:`dynsys.gradients` and the trainer).

Both losses are the mean over the batch of the sum over the chosen steps of per-step losses, and
work on stacks of K networks at once (``value_and_grad`` takes hidden states ``(S, K, B, k_h)``).
The hidden state is what the map's ``hidden(x)`` gives (Map rule 16): ``h_t = σ(x_t)`` for the RNN
of eq. 2 and the one-unit map, the state itself by default, ``h`` for a gated cell.

* :class:`StateLoss` — ``Σ_i (h_{t,i} − y_{t,i})²`` on the hidden state (e.g. the one-unit
  ``E = (σ(x_50) − 0.7)²`` of paper Fig. 6).
* :class:`ReadoutLoss` — through ``y_t = W_out h_t + b_out`` (the map's readout): softmax
  cross-entropy against integer labels, squared error ``Σ_j (y_tj − target_j)²``, or the Bernoulli
  negative log-likelihood of independent sigmoid outputs ``Σ_j [log(1 + e^{y_tj}) − target_tj y_tj]``
  (binary cross-entropy with logits: polyphonic music, one sigmoid per key). Optional per-step,
  per-sequence ``weights`` mask out the padding of variable-length sequences and set the
  averaging (e.g. ``mask / length``: the cost averaged over each sequence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DynsysError

__all__ = ["StateLoss", "ReadoutLoss", "resolve_steps"]


def resolve_steps(steps, T: int, name: str = "steps") -> np.ndarray:
    if isinstance(steps, str):
        if steps == "last":
            return np.array([T])
        if steps == "all":
            return np.arange(1, T + 1)
        raise DynsysError(f"{name} must be 'last', 'all' or a list of steps in 1..T, got {steps!r}")
    arr = np.atleast_1d(np.asarray(steps))
    if arr.dtype.kind not in "iu" or arr.ndim != 1 or arr.size == 0:
        raise DynsysError(f"{name} must be a non-empty list of integer steps in 1..{T}, got {steps!r}")
    if arr.min() < 1 or arr.max() > T:
        raise DynsysError(f"{name} must lie in 1..{T} (T = number of steps), got {arr.min()}..{arr.max()}")
    if np.unique(arr).size != arr.size:
        raise DynsysError(f"{name} must not repeat a step, got {arr.tolist()}")
    return arr.astype(int)


@dataclass(frozen=True, eq=False)
class StateLoss:
    """Squared error on the hidden state ``h_t = hidden(x_t)``: ``E_t = Σ_i (h_{t,i} − y_{t,i})²``.

    ``h_t = σ(x_t)`` for the RNN of eq. 2; the state ``x_t`` itself for a map that does not say
    otherwise (Map rule 16).

    Parameters
    ----------
    targets : array_like, shape (S, B, k_h) or broadcastable (e.g. a scalar)
        One target per chosen step.
    steps : 'last', 'all' or sequence of int in 1..T
        The steps t at which ``E_t`` is read.
    """

    targets: object
    steps: object = "last"

    def value_and_grad(self, hidden, readout):
        # hidden: (S, K, B, n) -> per-member loss (K,), dE/dh (S, K, B, n), no readout grads
        y = np.asarray(self.targets, dtype=hidden.dtype)
        if y.ndim == 3 and hidden.ndim == 4:  # (S, B, n) -> broadcast over K
            y = y[:, None]
        diff = hidden - y
        B = hidden.shape[2]
        loss = np.einsum("skbn,skbn->k", diff, diff) / B
        return loss, (2.0 / B) * diff, {}


def _softplus(y):
    """``log(1 + e^y)`` without overflow (``max(y, 0) + log1p(e^{−|y|})``)."""
    return np.maximum(y, 0.0) + np.log1p(np.exp(-np.abs(y)))


def _sigmoid(y):
    """``1 / (1 + e^{−y})`` without overflow."""
    e = np.exp(-np.abs(y))
    return np.where(y >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True, eq=False)
class ReadoutLoss:
    """A loss through the linear readout ``y_t = W_out h_t + b_out`` (``h_t = hidden(x_t)``, ``σ(x_t)``
    for the RNN; the map's ``W_out``, ``b_out``).

    The value is ``(1/B) Σ_{s,b} w_{sb} ℓ(y_{sb}, target_{sb})`` over the read steps ``s`` and the
    ``B`` sequences, with ``w = 1`` by default (the mean over the batch of the sum over the steps).

    Parameters
    ----------
    targets : array_like
        ``kind="softmax"``: integer labels, shape (S, B) (or (S, K, B) for an ensemble);
        ``kind="mse"`` and ``kind="bernoulli"``: float targets, shape (S, B, k) (or (S, K, B, k));
        Bernoulli targets lie in [0, 1] (binary piano rolls; soft targets allowed).
    kind : {'softmax', 'mse', 'bernoulli'}
        Softmax cross-entropy ``log Σ_j e^{y_j} − y_label``; squared error ``Σ_j (y_j − t_j)²``;
        Bernoulli NLL of independent sigmoid outputs ``Σ_j [log(1 + e^{y_j}) − t_j y_j]``
        (= ``−Σ_j [t_j log p_j + (1 − t_j) log(1 − p_j)]`` with ``p = sigmoid(y)``, in nats).
    steps : 'last', 'all' or sequence of int in 1..T
    weights : array_like, shape (S, B) or (S, K, B), optional
        Non-negative weight of each (step, sequence) loss: 0 on the padding of a shorter sequence,
        ``1/length`` for the cost averaged over each sequence (None: all 1). They are cast to the
        floating-point type of the hidden states (float32 states: float32 weights).
    gemm : bool
        In :meth:`value_and_grad`, form the readout ``y``, ``∂E/∂h`` and the ``W_out`` gradient of
        all read steps and sequences as one matrix product (GEMM) per network, instead of one
        small product per step: several times faster for a small batch read at every step (one
        piano roll per update), but summed in another order, so the results differ from the
        default's in the last bits. The default (False) keeps the arithmetic of earlier versions
        bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.zeros((2, 1, 1, 3)); W_out = np.zeros((1, 88, 3)); b_out = np.zeros((1, 88))
    >>> loss = ReadoutLoss(np.ones((2, 1, 88)), kind="bernoulli", weights=[[0.5], [0.5]])
    >>> value, _, _ = loss.value_and_grad(h, (W_out, b_out))
    >>> bool(np.isclose(value[0], 88 * np.log(2)))   # p = 1/2 everywhere: ln 2 per key and step
    True
    """

    targets: object
    kind: Literal["softmax", "mse", "bernoulli"] = "softmax"
    steps: object = "last"
    weights: object = None
    gemm: bool = False

    def _logits(self, hidden, readout):
        W_out, b_out = readout  # (K, k, n), (K, k)
        return np.matmul(hidden, np.swapaxes(W_out, -1, -2)[None]) + b_out[None, :, None, :]

    def _weights(self, shape, dtype=np.float64):
        """The weights as an (S, K, B) array of ``dtype`` (the losses'; or None), from (S, B) or (S, K, B)."""
        if self.weights is None:
            return None
        w = np.asarray(self.weights, dtype=dtype)
        if w.ndim == 2:
            w = w[:, None]
        return np.broadcast_to(w, shape)

    def step_losses(self, hidden, readout) -> np.ndarray:
        """The unweighted loss ``ℓ`` of every read step and sequence, shape (S, K, B).

        ``hidden`` is (S, K, B, n), ``readout`` = ``(W_out (K, k, n), b_out (K, k))``. The value of
        :meth:`value_and_grad` is ``(w · ℓ).sum(axis=(0, 2)) / B``.
        """
        return self._step_losses(self._logits(hidden, readout))[0]

    def _step_losses(self, y):
        """``(ℓ (S, K, B), ∂ℓ/∂y (S, K, B, k))`` at the logits ``y``."""
        if self.kind == "softmax":
            labels = np.asarray(self.targets)
            if labels.ndim == 2:
                labels = np.broadcast_to(labels[:, None], y.shape[:3])
            z = y - y.max(axis=-1, keepdims=True)
            logsum = np.log(np.exp(z).sum(axis=-1))
            picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
            gy = np.exp(z - logsum[..., None])
            np.put_along_axis(gy, labels[..., None], np.take_along_axis(gy, labels[..., None], -1) - 1.0, -1)
            return logsum - picked, gy
        t = np.asarray(self.targets, dtype=y.dtype)
        if t.ndim == 3:
            t = t[:, None]
        if self.kind == "bernoulli":
            # log(1 + e^y) − t y, stably; its derivative sigmoid(y) − t
            return (_softplus(y) - t * y).sum(axis=-1), _sigmoid(y) - t
        diff = y - t
        return np.einsum("skbj,skbj->skb", diff, diff), 2.0 * diff

    def value_and_grad(self, hidden, readout):
        if self.gemm:
            return self._value_and_grad_gemm(hidden, readout)
        W_out = readout[0]
        y = self._logits(hidden, readout)
        B = hidden.shape[2]
        if self.weights is None and self.kind == "mse":  # (the arithmetic of earlier versions, bit for bit)
            t = np.asarray(self.targets, dtype=hidden.dtype)
            diff = y - (t[:, None] if t.ndim == 3 else t)
            loss = np.einsum("skbj,skbj->k", diff, diff) / B
            gy = (2.0 / B) * diff
        else:
            ell, gy = self._step_losses(y)
            w = self._weights(ell.shape, ell.dtype)
            if w is None:
                loss = ell.sum(axis=(0, 2)) / B
                gy /= B
            else:
                loss = (w * ell).sum(axis=(0, 2)) / B
                gy *= (w / B)[..., None]
        gh = np.matmul(gy, W_out[None])
        grads = {
            "W_out": np.einsum("skbj,skbn->kjn", gy, hidden),
            "b_out": gy.sum(axis=(0, 2)),
        }
        return loss, gh, grads

    def _value_and_grad_gemm(self, hidden, readout):
        """:meth:`value_and_grad` with one GEMM per network over all (step, sequence) rows."""
        W_out, b_out = readout  # (K, k, n), (K, k)
        S, K, B, n = hidden.shape
        k = W_out.shape[1]
        rows = [hidden[:, i].reshape(S * B, n) for i in range(K)]  # (S·B, n): views when K = 1
        y = _stack_members([H @ W_out[i].T + b_out[i] for i, H in enumerate(rows)], (S, B, k))
        ell, gy = self._step_losses(y)
        w = self._weights(ell.shape, ell.dtype)
        if w is None:
            loss = ell.sum(axis=(0, 2)) / B
            gy /= B
        else:
            loss = (w * ell).sum(axis=(0, 2)) / B
            gy *= (w / B)[..., None]
        gys = [gy[:, i].reshape(S * B, k) for i in range(K)]
        gh = _stack_members([G @ W_out[i] for i, G in enumerate(gys)], (S, B, n))
        grads = {
            "W_out": np.stack([G.T @ H for G, H in zip(gys, rows)]),
            "b_out": gy.sum(axis=(0, 2)),
        }
        return loss, gh, grads


def _stack_members(parts, shape):
    """The K per-network ``(S·B, c)`` arrays ``parts`` as one ``(S, K, B, c)`` array (a view for K = 1)."""
    S, B, c = shape
    if len(parts) == 1:
        return parts[0].reshape(S, 1, B, c)
    out = np.empty((S, len(parts), B, c), dtype=parts[0].dtype)
    for i, p in enumerate(parts):
        out[:, i] = p.reshape(S, B, c)
    return out
