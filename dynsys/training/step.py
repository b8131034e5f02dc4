"""One update and one evaluation of K stacked RNNs (steps 2–5 of :mod:`dynsys.training.trainer`).

:func:`training_step`: BPTT gradients (eq. 3–5) of the task loss, the ``α · ∂Ω/∂W_rec`` term of
MSGD-CR (eq. 9–10), norm clipping (Algorithm 1) with the non-finite policy
(:func:`dynsys.gradients.clip_grad_norm_stacked`, per-member thresholds), and the optimizer step
(:func:`dynsys.training.optimizer_step`), all set by one :class:`StepOptions`.
:func:`evaluate`: error indicators and loss of the K networks on shared sequences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_choice
from ..activations import get_activation
from ..errors import DynsysError
from ..gradients.backprop import bptt, bptt_stacked
from ..gradients.clipping import clip_grad_norm_stacked
from ..gradients.losses import ReadoutLoss
from ..gradients.regularizers import omega
from ..maps import RNNMap
from .cells import build_map, recurrent_name
from .config import NONFINITE_POLICIES, OMEGA_FORMS, OPTIMIZERS, TrainConfig
from .optimizers import optimizer_step
from .tasks import Task, sequence_errors

__all__ = ["StepInfo", "StepOptions", "evaluate", "loss_step", "training_step"]

PARAM_NAMES = RNNMap.weight_names


@dataclass(frozen=True, eq=False)
class StepOptions:
    """How K stacked networks take one update: per-member arrays and the settings they share.

    Attributes
    ----------
    lr, clip, alpha : ndarray, shape (K,)
        Per-member learning rate, clipping threshold (``inf``: no clipping, MSGD) and Ω weight
        (0: no Ω; ``α > 0``: MSGD-CR). Stored as read-only float64 copies.
    optimizer : {"sgd", "momentum", "adam"}
        Plain SGD (the paper's MSGD), momentum or Adam (:func:`dynsys.training.optimizer_step`).
    nonfinite : {"shrink", "skip"}
        Update of a member whose gradient is NaN/Inf or above 1e10: ``0.02 · W_rec`` on ``W_rec``
        (the paper code) or none.
    omega_form : {"code", "eq9"}
        Ω as in the authors' code (accumulated in the backward pass) or as printed (eq. 9).
    omega_bound : float
        Steps whose ``‖∂E/∂x‖²`` is below this bound are left out of Ω.
    momentum : float
        Momentum coefficient (``optimizer="momentum"``).
    adam : (float, float, float)
        Adam's ``(beta1, beta2, eps)``.

    Examples
    --------
    >>> cfg = TrainConfig(methods=("msgd", "msgd-cr"), clip=0.5, alpha=2.0)
    >>> opts = StepOptions.for_members(cfg)
    >>> opts.clip.tolist(), opts.alpha.tolist()
    ([inf, 0.5], [0.0, 2.0])
    >>> opts.select([1]).alpha.tolist()
    [2.0]
    """

    lr: np.ndarray
    clip: np.ndarray
    alpha: np.ndarray
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    nonfinite: Literal["shrink", "skip"] = "shrink"
    omega_form: Literal["code", "eq9"] = "code"
    omega_bound: float = 1e-20
    momentum: float = 0.9
    adam: tuple[float, float, float] = (0.9, 0.999, 1e-8)

    def __post_init__(self):
        shape = None
        for name in ("lr", "clip", "alpha"):
            try:
                a = np.array(getattr(self, name), dtype=np.float64)
            except (TypeError, ValueError):
                raise DynsysError(f"{name} must be an array of numbers, shape (K,)") from None
            if a.ndim != 1 or (shape is not None and a.shape != shape):
                want = "(K,)" if shape is None else f"{shape} like lr"
                raise DynsysError(f"{name} must have shape {want}, got shape {a.shape}")
            shape = a.shape
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.nonfinite, "nonfinite", NONFINITE_POLICIES)
        check_choice(self.omega_form, "omega_form", OMEGA_FORMS)
        if len(self.adam) != 3:
            raise DynsysError(f"adam must be (beta1, beta2, eps), got {self.adam!r}")
        object.__setattr__(self, "adam", tuple(self.adam))

    @classmethod
    def for_members(
        cls, cfg: TrainConfig, members: Sequence[tuple[str, str, int]] | None = None
    ) -> StepOptions:
        """The options of ``members`` (``(init, method, seed)``, default ``cfg.members``) under ``cfg``.

        Every member gets ``cfg.lr``; ``msgd-c`` and ``msgd-cr`` clip at ``cfg.clip`` (``msgd``:
        ``inf``); only ``msgd-cr`` has Ω, with weight ``cfg.alpha``.
        """
        members = cfg.members if members is None else list(members)
        return cls(
            lr=np.full(len(members), float(cfg.lr)),
            clip=np.array([cfg.clip if m != "msgd" else np.inf for _, m, _ in members]),
            alpha=np.array([cfg.alpha if m == "msgd-cr" else 0.0 for _, m, _ in members]),
            optimizer=cfg.optimizer,
            nonfinite=cfg.nonfinite,
            omega_form=cfg.omega_form,
            omega_bound=cfg.omega_bound,
            momentum=cfg.momentum,
            adam=(cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps),
        )

    @property
    def K(self) -> int:
        """Number of members."""
        return self.lr.shape[0]

    def select(self, idx) -> StepOptions:
        """The options of the members ``idx`` (indices into the K members), in that order."""
        idx = np.asarray(idx, dtype=np.intp)
        return dataclasses.replace(self, lr=self.lr[idx], clip=self.clip[idx], alpha=self.alpha[idx])


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
    options: StepOptions,
    *,
    opt_state=None,
    workspace=None,
    cell: str = "rnn",
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
    options : StepOptions
        Per-member learning rate, clipping threshold and Ω weight (each shape (K,)), the
        optimizer, the non-finite policy and the form of Ω.
    opt_state : dict or None
        Momentum buffers ``v_<p>`` or Adam moments ``m_<p>``, ``s_<p>`` and counter ``t`` (K,).
    workspace : dict or None
        BPTT buffers reused between updates (see :func:`~dynsys.gradients.bptt_stacked`).
    cell : str
        The recurrent cell (:mod:`dynsys.training.cells`). ``"rnn"`` takes the stacked eq. 2 path
        (all K members in one :func:`~dynsys.gradients.bptt_stacked` pass); any other cell runs
        :func:`~dynsys.gradients.bptt` on each member's map, and its ``params`` are the cell's
        weight names (no Ω: ``alpha`` must be 0).

    Returns
    -------
    new_params : dict
    new_opt_state : dict
    info : StepInfo

    Examples
    --------
    >>> from dynsys.training import get_task, initialize
    >>> task = get_task("temporal_order")
    >>> p = initialize("smart_tanh", 8, task.n_in, task.n_out, rng=0)
    >>> params = {k: getattr(p, k)[None] for k in PARAM_NAMES}
    >>> batch = task.generate(np.random.default_rng(1), 20, 5)
    >>> opts = StepOptions(lr=[0.01], clip=[1.0], alpha=[2.0])
    >>> new, _, info = training_step(params, batch.inputs, batch.targets, task, "tanh", opts)
    >>> new["W_rec"].shape, bool(info.omega[0] > 0)
    ((1, 8, 8), True)
    """
    if cell != "rnn":
        return _generic_step(params, inputs, targets, task, activation, options, opt_state, cell, workspace)
    scale = task.loss_scale(inputs.shape[0])
    return loss_step(
        params, inputs, _readout_loss(task, targets), activation, options, opt_state, workspace, scale
    )


def loss_step(
    params,
    inputs,
    loss,
    activation,
    options: StepOptions,
    opt_state=None,
    workspace=None,
    scale=1.0,
    *,
    inplace: bool = False,
):
    """:func:`training_step` of the eq. 2 RNN on any readout loss (no validation: trusted inputs).

    ``loss`` is a :class:`~dynsys.gradients.ReadoutLoss` for the K stacked members (e.g. the
    Bernoulli NLL of a piano roll with per-step ``weights``, :mod:`dynsys.training.sequences`);
    ``scale`` multiplies the loss and its gradients before Ω and clipping. Returns
    ``(new_params, new_opt_state, StepInfo)`` like :func:`training_step`.

    Everything computes in the floating-point type of ``params`` (float32 weights and inputs:
    float32 gradients, clipping and update; the per-member ``options`` are cast to it).
    ``inplace=True`` writes the new weights into the arrays of ``params`` (``new_params`` holds
    them) and clips the gradients in place: no copies of the weights per update, the same values.
    """
    lr, clip, alpha = options.lr, options.clip, options.alpha
    K = params["W_rec"].shape[0]
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
            omega_bound=options.omega_bound if options.omega_form == "code" and np.any(alpha > 0) else None,
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
                om[reg], g_om = _omega_term(params, extra, reg, options.omega_bound)
            grads["W_rec"] = grads["W_rec"].copy()
            # (α in the gradients' type: float32 gradients stay float32 arithmetic)
            grads["W_rec"][reg] += alpha[reg, None, None].astype(grads["W_rec"].dtype, copy=False) * g_om
        own = {"copy": False} if inplace else {}  # (the default call unchanged: tests substitute it)
        upd, clip_info = clip_grad_norm_stacked(
            {k: grads[k] for k in PARAM_NAMES}, clip, nonfinite=options.nonfinite, params=params, **own
        )
    new_params, new_state = optimizer_step(
        params,
        upd,
        lr,
        opt_state,
        options.optimizer,
        options.momentum,
        options.adam,
        **({"inplace": True} if inplace else {}),
    )
    return new_params, new_state, StepInfo(value, clip_info.norm, clip_info.clipped, clip_info.nonfinite, om)


def _member_batch(inputs, targets, i: int):
    """Member ``i``'s inputs and targets: shared (one stream) or stacked on axis 1."""
    if inputs.ndim == 4:
        return inputs[:, i], targets[:, i]
    return inputs, targets


def _generic_step(params, inputs, targets, task, activation, options, opt_state, cell, workspace):
    """:func:`training_step` of a cell without the stacked path: one generic BPTT per member."""
    if np.any(options.alpha > 0):
        raise DynsysError(f"alpha must be 0 for cell {cell!r}: Ω (eq. 9) is defined for the eq. 2 RNN only")
    names = tuple(params)
    K = params[names[0]].shape[0]
    T = inputs.shape[0]
    scale = task.loss_scale(T)
    value = np.empty(K)
    grads = {name: np.empty_like(params[name]) for name in names}
    with np.errstate(all="ignore"):
        for i in range(K):
            net = build_map(cell, {name: params[name][i] for name in names}, activation)
            u, tg = _member_batch(inputs, targets, i)
            # the members run one after another: their tapes may share the buffers of one workspace
            res = bptt(
                net, u, _readout_loss(task, tg), x0=np.zeros((u.shape[1], net.dim)), workspace=workspace
            )
            value[i] = res.loss * scale
            for name in names:
                grads[name][i] = res.grads[name] * scale
        upd, clip_info = clip_grad_norm_stacked(
            grads, options.clip, nonfinite=options.nonfinite, params=params, recurrent=recurrent_name(cell)
        )
    new_params, new_state = optimizer_step(
        params, upd, options.lr, opt_state, options.optimizer, options.momentum, options.adam
    )
    om = np.full(K, np.nan)
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
    params: Mapping[str, np.ndarray], task: Task, activation, inputs, targets, cell: str = "rnn"
) -> tuple[np.ndarray, np.ndarray]:
    """Error indicators and loss of K stacked networks on shared sequences.

    Parameters
    ----------
    params : dict of ndarray with leading K axis
    inputs : ndarray, shape (T, C, m)
    targets : task targets for the C sequences
    cell : str
        The recurrent cell (:mod:`dynsys.training.cells`); any but ``"rnn"`` runs each member's
        map in turn, from the zero state.

    Returns
    -------
    wrong : ndarray of bool, shape (K, C)
    loss : ndarray, shape (K,)
    """
    T, C, _ = inputs.shape
    with np.errstate(all="ignore"):
        y = _outputs(params, task, activation, inputs, cell)  # (S, K, C, k)
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


def _outputs(params, task: Task, activation, inputs, cell: str) -> np.ndarray:
    """The readout ``y`` (S, K, C, k) of K networks at the task's read steps, from the zero state."""
    T = inputs.shape[0]
    read = [t for t in range(T) if task.read == "all" or t == T - 1]
    outs = []
    if cell == "rnn":
        act = get_activation(activation)
        W, Wi, b, Wo, bo = (params[k] for k in PARAM_NAMES)
        WT, WiT, WoT = (np.swapaxes(a, -1, -2) for a in (W, Wi, Wo))
        h = np.zeros((W.shape[0], inputs.shape[1], W.shape[-1]))
        for t in range(T):
            h = act.fn(np.matmul(h, WT) + np.matmul(inputs[t], WiT) + b[:, None, :])
            if t in read:
                outs.append(np.matmul(h, WoT) + bo[:, None, :])
        return np.stack(outs)
    names = tuple(params)
    K = params[names[0]].shape[0]
    for i in range(K):
        net = build_map(cell, {name: params[name][i] for name in names}, activation)
        WoT, bo = params["W_out"][i].T, params["b_out"][i]
        x = np.zeros((inputs.shape[1], net.dim))
        ys = []
        for t in range(T):
            x = net.step(x, inputs[t])
            if t in read:
                ys.append(net.hidden(x) @ WoT + bo)
        outs.append(np.stack(ys))
    return np.stack(outs, axis=1)
