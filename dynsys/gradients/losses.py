"""Losses read from the hidden states of a map (used by :mod:`dynsys.gradients` and the trainer).

Both losses are the mean over the batch of the sum over the chosen steps of per-step losses, and
work on stacks of K networks at once (``value_and_grad`` takes hidden states ``(S, K, B, k_h)``).
The hidden state is what the map's ``hidden(x)`` gives (Map rule 16): ``h_t = σ(x_t)`` for the RNN
of eq. 2 and the one-unit map, the state itself by default, ``h`` for a gated cell.

* :class:`StateLoss` — ``Σ_i (h_{t,i} − y_{t,i})²`` on the hidden state (e.g. the one-unit
  ``E = (σ(x_50) − 0.7)²`` of paper Fig. 6).
* :class:`ReadoutLoss` — through ``y_t = W_out h_t + b_out`` (the map's readout): softmax
  cross-entropy against integer labels, or squared error ``Σ_j (y_tj − target_j)²``.
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


@dataclass(frozen=True, eq=False)
class ReadoutLoss:
    """A loss through the linear readout ``y_t = W_out h_t + b_out`` (``h_t = hidden(x_t)``, ``σ(x_t)``
    for the RNN; the map's ``W_out``, ``b_out``).

    Parameters
    ----------
    targets : array_like
        ``kind="softmax"``: integer labels, shape (S, B) (or (S, K, B) for an ensemble);
        ``kind="mse"``: float targets, shape (S, B, k) (or (S, K, B, k)).
    kind : {'softmax', 'mse'}
        Softmax cross-entropy or squared error ``Σ_j (y_tj − target_j)²``.
    steps : 'last', 'all' or sequence of int in 1..T
    """

    targets: object
    kind: Literal["softmax", "mse"] = "softmax"
    steps: object = "last"

    def value_and_grad(self, hidden, readout):
        W_out, b_out = readout  # (K, k, n), (K, k)
        y = np.matmul(hidden, np.swapaxes(W_out, -1, -2)[None]) + b_out[None, :, None, :]
        B = hidden.shape[2]
        if self.kind == "softmax":
            labels = np.asarray(self.targets)
            if labels.ndim == 2:
                labels = np.broadcast_to(labels[:, None], y.shape[:3])
            z = y - y.max(axis=-1, keepdims=True)
            logsum = np.log(np.exp(z).sum(axis=-1))
            picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
            loss = (logsum - picked).sum(axis=(0, 2)) / B
            gy = np.exp(z - logsum[..., None])
            np.put_along_axis(gy, labels[..., None], np.take_along_axis(gy, labels[..., None], -1) - 1.0, -1)
            gy /= B
        else:
            t = np.asarray(self.targets, dtype=hidden.dtype)
            if t.ndim == 3:
                t = t[:, None]
            diff = y - t
            loss = np.einsum("skbj,skbj->k", diff, diff) / B
            gy = (2.0 / B) * diff
        gh = np.matmul(gy, W_out[None])
        grads = {
            "W_out": np.einsum("skbj,skbn->kjn", gy, hidden),
            "b_out": gy.sum(axis=(0, 2)),
        }
        return loss, gh, grads
