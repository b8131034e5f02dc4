"""One update and one evaluation of K stacked RNNs (steps 2–5 of :mod:`dynsys.training`).

:func:`training_step`: BPTT gradients (eq. 3–5) of the task loss, the ``α · ∂Ω/∂W_rec`` term of
MSGD-CR (eq. 9–10), norm clipping (Algorithm 1) with the non-finite policy
(:func:`dynsys.clipping.clip_grad_norm_stacked`, per-member thresholds), and the optimizer step
(:func:`dynsys.optimizers.optimizer_step`). :func:`evaluate`: error indicators and loss of the
K networks on shared sequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..activations import get_activation
from ..gradients.bptt import bptt_stacked
from ..gradients.clipping import clip_grad_norm_stacked
from ..gradients.losses import ReadoutLoss
from ..gradients.regularizers import omega
from ..maps import RNNMap
from .optimizers import optimizer_step
from .tasks import Task, sequence_errors

__all__ = ["StepInfo", "evaluate", "training_step"]

PARAM_NAMES = RNNMap.weight_names


@dataclass(frozen=True)
class StepInfo:
    """Telemetry of one update, per member (arrays of shape (K,)).

    ``loss`` task loss, ``norm`` gradient norm before clipping (with the Ω term), ``clipped``,
    ``nonfinite``, ``omega`` (NaN for members without Ω).
    """

    loss: np.ndarray
    norm: np.ndarray
    clipped: np.ndarray
    nonfinite: np.ndarray
    omega: np.ndarray


def _readout_loss(task: Task, targets) -> ReadoutLoss:
    return ReadoutLoss(targets, kind="softmax" if task.output == "softmax" else "mse", steps=task.read)


def training_step(
    params: Mapping[str, np.ndarray],
    inputs,
    targets,
    task: Task,
    activation,
    *,
    lr,
    clip,
    alpha,
    opt_state=None,
    optimizer="sgd",
    nonfinite="shrink",
    omega_form="code",
    omega_bound=1e-20,
    momentum=0.9,
    adam=(0.9, 0.999, 1e-8),
    workspace=None,
):
    """One update of K stacked networks on one minibatch (no validation: trusted inputs).

    Parameters
    ----------
    params : dict of ndarray
        ``W_rec`` (K, n, n), ``W_in`` (K, n, m), ``b`` (K, n), ``W_out`` (K, k, n), ``b_out`` (K, k).
    inputs : ndarray, shape (T, B, m) (shared) or (T, K, B, m)
    targets : ndarray
        ``(S, B)`` / ``(S, K, B)`` labels or ``(S, B, k)`` / ``(S, K, B, k)`` values.
    task : Task
        Supplies the loss kind, the read steps and the loss scale.
    activation : str
    lr, clip, alpha : ndarray, shape (K,)
        Per-member learning rate, clipping threshold (``inf``: no clipping) and Ω weight (0: none).
    opt_state : dict or None
        Momentum buffers ``v_<p>`` or Adam moments ``m_<p>``, ``s_<p>`` and counter ``t`` (K,).
    workspace : dict or None
        BPTT buffers reused between updates (see :func:`~dynsys.gradients.bptt_stacked`).

    Returns
    -------
    new_params : dict
    new_opt_state : dict
    info : StepInfo
    """
    K = params["W_rec"].shape[0]
    T = inputs.shape[0]
    scale = task.loss_scale(T)
    loss = _readout_loss(task, targets)
    with np.errstate(all="ignore"):
        value, grads, extra = bptt_stacked(
            params["W_rec"],
            params["W_in"],
            params["b"],
            params["W_out"],
            params["b_out"],
            activation,
            inputs,
            loss,
            workspace=workspace,
            # the code form of Ω is accumulated inside the backward pass (no second pass)
            omega_bound=omega_bound if omega_form == "code" and np.any(alpha > 0) else None,
        )
        if scale != 1.0:
            value = value * scale
            grads = {k: g * scale for k, g in grads.items()}
        om = np.full(K, np.nan)
        reg = np.flatnonzero(alpha > 0)
        if reg.size:
            if "omega" in extra:
                om[reg], g_om = extra["omega"][0][reg], extra["omega"][1][reg]
            else:
                om[reg], g_om = _omega_term(params, extra, reg, omega_bound)
            grads["W_rec"] = grads["W_rec"].copy()
            grads["W_rec"][reg] += alpha[reg, None, None] * g_om
        upd, clip_info = clip_grad_norm_stacked(
            {k: grads[k] for k in PARAM_NAMES}, clip, nonfinite=nonfinite, params=params
        )
    new_params, new_state = optimizer_step(params, upd, lr, opt_state, optimizer, momentum, adam)
    return new_params, new_state, StepInfo(value, clip_info.norm, clip_info.clipped, clip_info.nonfinite, om)


def _omega_term(params, extra, reg, bound):
    """Ω of eq. 9 as printed and ∂Ω/∂W_rec for members ``reg`` from a BPTT pass.

    (The code form is accumulated inside the backward pass: ``bptt_stacked(omega_bound=...)``.)
    """
    sel = slice(None) if reg.size == params["W_rec"].shape[0] else reg  # views when every member has Ω
    dx = extra["deltas"][:, sel]  # ∂C/∂x_t, rows 0..T
    dsig = extra["dsigma"][1:, sel]  # σ′(x_k), k = 1..T
    # eq. 9: ∂E/∂x_{k+1} paired with σ′(x_k), k = 1..T-1
    res = omega(params["W_rec"][sel], dx[2:], dsig[:-1], form="eq9", bound=bound)
    return res.value, res.grad_W_rec


def evaluate(
    params: Mapping[str, np.ndarray], task: Task, activation, inputs, targets
) -> tuple[np.ndarray, np.ndarray]:
    """Error indicators and loss of K stacked networks on shared sequences.

    Parameters
    ----------
    params : dict of ndarray with leading K axis
    inputs : ndarray, shape (T, C, m)
    targets : task targets for the C sequences

    Returns
    -------
    wrong : ndarray of bool, shape (K, C)
    loss : ndarray, shape (K,)
    """
    act = get_activation(activation)
    W, Wi, b, Wo, bo = (params[k] for k in PARAM_NAMES)
    K, n = W.shape[0], W.shape[-1]
    T, C, _ = inputs.shape
    WT, WiT, WoT = (np.swapaxes(a, -1, -2) for a in (W, Wi, Wo))
    h = np.zeros((K, C, n))
    outs = []
    with np.errstate(all="ignore"):
        for t in range(T):
            h = act.fn(np.matmul(h, WT) + np.matmul(inputs[t], WiT) + b[:, None, :])
            if task.read == "all" or t == T - 1:
                outs.append(np.matmul(h, WoT) + bo[:, None, :])
        y = np.stack(outs)  # (S, K, C, k)
        tg = targets[:, None]  # broadcast over the K members
        wrong = sequence_errors(task, y, tg)
        if task.output == "softmax":
            z = y - y.max(axis=-1, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=-1))
            picked = np.take_along_axis(z, np.broadcast_to(tg, y.shape[:-1])[..., None], -1)[..., 0]
            loss = (lse - picked).sum(axis=(0, 2)) / C
        else:
            loss = ((y - tg) ** 2).sum(axis=(0, 2, 3)) / C
    return wrong, loss * task.loss_scale(T)
