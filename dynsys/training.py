"""The trainer: MSGD, MSGD-C and MSGD-CR (paper §3–4), for one network or an ensemble at once.

``train(config)`` trains ``K = len(inits) · len(methods) · len(seeds)`` networks of the same size
in one vectorized pass (stacked weights, batched matmuls through
:func:`dynsys.gradients.bptt_stacked`). Per update and member:

1. a fresh minibatch of the task (one data stream per seed: members with the same seed see the
   same data and start from the same weights when their initialization is the same — a paired
   comparison of the methods);
2. BPTT gradients (eq. 3–5) of the task loss;
3. **MSGD-CR**: ``α · ∂Ω/∂W_rec`` (eq. 9–10, :func:`dynsys.regularizers.omega`) added to the
   ``W_rec`` gradient;
4. **MSGD-C / -CR**: norm clipping (Algorithm 1: one L2 norm over all parameters, ``norm > c``);
   every method: a NaN/Inf gradient or a norm above 1e10 is *non-finite* and replaced by the
   policy's update (``"shrink"``: the paper code's ``0.02 · W_rec`` for ``W_rec`` and zero for
   the rest; ``"skip"``: no update), counted, never crashing the run;
5. the optimizer step: plain SGD (MSGD, constant learning rate, the paper), or momentum / Adam.

Every ``eval_every`` updates the members are evaluated on fresh sequences; a member is *solved*
when its error is below 1 % (``success="1pct"``, paper) or zero (``success="zero"``, the authors'
code), confirmed on ``confirm_sequences`` fresh sequences. The log has, per evaluation and member:
mean training loss, error rate, mean and max gradient norm before clipping, fraction of clipped
updates, ``ρ(W_rec)``, ``λ₁(W_rec)`` (largest singular value) and Ω.

Checkpoints (one atomic ``.npz`` through :func:`dynsys.io.save_checkpoint`) hold the weights,
optimizer state, the data generators' states (``bit_generator.state`` as JSON) and the log, so a
run that is stopped — Ctrl-C or SIGKILL — resumes to bit-identical results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .activations import get_activation
from .errors import DynsysError, check_choice, check_finite_scalar, check_positive_int
from .gradients import ReadoutLoss, bptt_stacked
from .initializers import RNNParams, initialize, initializer_names
from .regularizers import omega
from .tasks import Task, get_task, sequence_errors

__all__ = [
    "METHODS",
    "TrainConfig",
    "TrainingHistory",
    "StepInfo",
    "train",
    "training_step",
    "evaluate",
    "blas_threads",
]

METHODS = ("msgd", "msgd-c", "msgd-cr")
PARAM_NAMES = RNNParams.NAMES
NONFINITE_LIMIT = 1e10
SHRINK = 0.02


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-able; stored with every checkpoint).

    Attributes
    ----------
    task : str
        A :func:`dynsys.tasks.get_task` name.
    length : int or (int, int)
        Nominal sequence length, or a range for variable-length training.
    n_hidden, batch, updates : int
        ``n`` (paper 50), minibatch size (20), update budget (paper up to 5M).
    lr : float
        Learning rate (paper 0.01).
    inits, methods, seeds : tuple
        The ensemble is their product (order: init, method, seed).
    clip : float
        Norm-clipping threshold (paper 1.0) for ``msgd-c`` and ``msgd-cr``.
    alpha : float
        Ω weight for ``msgd-cr`` (paper 4; code default 2).
    omega_form : {"code", "eq9"}
        See :mod:`dynsys.regularizers`.
    optimizer : {"sgd", "momentum", "adam"}
    nonfinite : {"shrink", "skip"}
    eval_every, eval_sequences, confirm_sequences, eval_chunk : int
        Evaluation period (updates), screening set, confirmation set (paper 10,000), chunk size.
    success : {"1pct", "zero"}
    stop_on_success : bool
        Solved members stop training (the authors' code stops at success).
    checkpoint_every : int
        Updates between checkpoints (0: at evaluations only).
    record_updates : bool
        Keep per-update loss / gradient norm / clip flags (telemetry).
    """

    task: str = "temporal_order"
    length: int | tuple[int, int] = 50
    n_hidden: int = 50
    batch: int = 20
    updates: int = 10_000
    lr: float = 0.01
    inits: tuple[str, ...] = ("smart_tanh",)
    methods: tuple[str, ...] = ("msgd-cr",)
    seeds: tuple[int, ...] = (0,)
    clip: float = 1.0
    alpha: float = 4.0
    omega_form: Literal["code", "eq9"] = "code"
    omega_bound: float = 1e-20
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    momentum: float = 0.9
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    nonfinite: Literal["shrink", "skip"] = "shrink"
    eval_every: int = 500
    eval_sequences: int = 1000
    confirm_sequences: int = 10_000
    eval_chunk: int = 500
    success: Literal["1pct", "zero"] = "1pct"
    stop_on_success: bool = True
    checkpoint_every: int = 0
    record_updates: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("inits", "methods", "seeds"):
            v = getattr(self, name)
            set_(self, name, (v,) if isinstance(v, (str, int)) else tuple(v))
        set_(self, "inits", tuple(i.replace("-", "_") for i in self.inits))
        if isinstance(self.length, (list, tuple)):
            set_(self, "length", tuple(int(v) for v in self.length))
        get_task(self.task)
        for name in ("n_hidden", "batch", "updates", "eval_every", "eval_sequences", "eval_chunk"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.confirm_sequences, "confirm_sequences", minimum=0)
        check_positive_int(self.checkpoint_every, "checkpoint_every", minimum=0)
        for i in self.inits:
            check_choice(i, "init", initializer_names())
        for m in self.methods:
            check_choice(m, "method", METHODS)
        for s in self.seeds:
            check_positive_int(s, "seed", minimum=0)
        if not (self.inits and self.methods and self.seeds):
            raise DynsysError("inits, methods and seeds must each name at least one value")
        acts = {_activation_of(i) for i in self.inits}
        if len(acts) > 1:
            raise DynsysError(f"inits must share one activation in an ensemble, got {sorted(self.inits)}")
        for name in ("lr", "clip", "alpha", "momentum", "adam_eps"):
            check_finite_scalar(getattr(self, name), name)
        if self.lr <= 0 or self.clip <= 0 or self.alpha < 0:
            raise DynsysError("lr and clip must be > 0 and alpha >= 0")
        check_choice(self.omega_form, "omega_form", ("code", "eq9"))
        check_choice(self.optimizer, "optimizer", ("sgd", "momentum", "adam"))
        check_choice(self.nonfinite, "nonfinite", ("shrink", "skip"))
        check_choice(self.success, "success", ("1pct", "zero"))

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DynsysError(
                f"unknown config key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        return cls(**dict(d))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @property
    def members(self) -> list[tuple[str, str, int]]:
        """``(init, method, seed)`` for each ensemble member, in stacking order."""
        return list(itertools.product(self.inits, self.methods, self.seeds))


def _activation_of(init: str) -> str:
    return "sigmoid" if init == "sigmoid" else "tanh"


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


# ----------------------------------------------------------------------------------------------
# one update (vectorized over the members given)
# ----------------------------------------------------------------------------------------------


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
        )
        if scale != 1.0:
            value = value * scale
            grads = {k: g * scale for k, g in grads.items()}
        om = np.full(K, np.nan)
        reg = np.flatnonzero(alpha > 0)
        if reg.size:
            om[reg], g_om = _omega_term(params, extra, loss, reg, omega_form, omega_bound)
            grads["W_rec"] = grads["W_rec"].copy()
            grads["W_rec"][reg] += alpha[reg, None, None] * g_om
        sq = np.zeros(K)
        for k in PARAM_NAMES:
            sq += np.sum(grads[k].reshape(K, -1) ** 2, axis=1)
        norm = np.sqrt(sq)
        bad = ~np.isfinite(norm) | (norm > NONFINITE_LIMIT)
        clipped = ~bad & (norm > clip)
        factor = np.where(clipped, clip / np.where(clipped, norm, 1.0), 1.0)
        upd = {}
        for k in PARAM_NAMES:
            shape = (K,) + (1,) * (grads[k].ndim - 1)
            g = grads[k] * factor.reshape(shape)
            if bad.any():
                fill = SHRINK * params[k] if (k == "W_rec" and nonfinite == "shrink") else 0.0
                g = np.where(bad.reshape(shape), fill, g)
            upd[k] = g
    new_params, new_state = _optimizer_step(params, upd, lr, opt_state, optimizer, momentum, adam)
    return new_params, new_state, StepInfo(value, norm, clipped, bad, om)


def _omega_term(params, extra, loss, reg, form, bound):
    """Ω and ∂Ω/∂W_rec for members ``reg`` from a BPTT pass (code form: δ_k = ∂C/∂h_k)."""
    sel = slice(None) if reg.size == params["W_rec"].shape[0] else reg  # views when every member has Ω
    W = params["W_rec"][sel]
    dx = extra["deltas"][:, sel]  # ∂C/∂x_t, rows 0..T
    dsig = extra["dsigma"][1:, sel]  # σ′(x_k), k = 1..T
    T = dx.shape[0] - 1
    if form == "code":
        # ∂C/∂h_k = W_recᵀ ∂C/∂x_{k+1} + (direct readout term at the read steps)
        dh = np.empty_like(dsig)
        np.matmul(dx[2:], W[None], out=dh[:-1])
        dh[-1] = 0.0
        steps = np.array([T]) if loss.steps == "last" else np.arange(1, T + 1)
        tg = np.asarray(loss.targets)
        if tg.ndim == (4 if loss.kind == "mse" else 3):
            tg = tg[:, sel]
        sub = ReadoutLoss(tg, kind=loss.kind, steps=loss.steps)
        _, gh, _ = sub.value_and_grad(
            extra["hidden"][steps][:, sel], (params["W_out"][sel], params["b_out"][sel])
        )
        dh[steps - 1] += gh
        res = omega(W, dh, dsig, form="code", bound=bound)
    else:
        # eq. 9: ∂E/∂x_{k+1} paired with σ′(x_k), k = 1..T-1
        res = omega(W, dx[2:], dsig[:-1], form="eq9", bound=bound)
    return res.value, res.grad_W_rec


def _optimizer_step(params, upd, lr, state, optimizer, momentum, adam):
    K = lr.shape[0]
    state = dict(state or {})
    new = {}
    for k in PARAM_NAMES:
        shape = (K,) + (1,) * (upd[k].ndim - 1)
        lrk = lr.reshape(shape)
        if optimizer == "sgd":
            new[k] = params[k] - lrk * upd[k]
        elif optimizer == "momentum":
            v = momentum * state.get(f"v_{k}", np.zeros_like(upd[k])) - lrk * upd[k]
            state[f"v_{k}"] = v
            new[k] = params[k] + v
        else:
            b1, b2, eps = adam
            t = state.get("t", np.zeros(K)) + (1 if k == PARAM_NAMES[0] else 0)
            if k == PARAM_NAMES[0]:
                state["t"] = t
            t = state["t"].reshape(shape)
            m = b1 * state.get(f"m_{k}", np.zeros_like(upd[k])) + (1 - b1) * upd[k]
            s = b2 * state.get(f"s_{k}", np.zeros_like(upd[k])) + (1 - b2) * upd[k] ** 2
            state[f"m_{k}"], state[f"s_{k}"] = m, s
            new[k] = params[k] - lrk * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
    return new, state


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# history
# ----------------------------------------------------------------------------------------------

_EVAL_FIELDS = (
    "loss",
    "error",
    "grad_norm",
    "grad_norm_max",
    "clip_fraction",
    "rho",
    "lambda1",
    "omega",
    "confirm_error",
)
_TRACE_FIELDS = ("update_loss", "update_norm", "update_clipped")


@dataclass
class TrainingHistory:
    """The log and outcome of a (possibly ensemble) training run.

    Attributes
    ----------
    config : TrainConfig
    members : list of (init, method, seed)
    eval_updates : ndarray, shape (E,)
        Update index of each evaluation.
    loss, error, grad_norm, grad_norm_max, clip_fraction, rho, lambda1, omega, confirm_error : ndarray, shape (E, K)
        Per evaluation and member: mean training loss since the previous evaluation, error rate on
        fresh sequences, mean / max gradient norm before clipping, fraction of clipped updates,
        ``ρ(W_rec)``, ``λ₁(W_rec)``, mean Ω, error on the confirmation set (NaN when not run).
        NaN after a member stopped.
    solved_at : ndarray of int, shape (K,)
        First update at which the success rule held (−1: never).
    zero_error_at : ndarray of int, shape (K,)
        First update with zero errors on the evaluation set (−1: never).
    nonfinite_count : ndarray of int, shape (K,)
    updates_done : ndarray of int, shape (K,)
    params : dict of ndarray, leading axis K
        Final weights.
    update_loss, update_norm, update_clipped : ndarray, shape (U, K) or None
        Per-update traces (``record_updates=True``).
    """

    config: TrainConfig
    members: list
    eval_updates: np.ndarray
    loss: np.ndarray
    error: np.ndarray
    grad_norm: np.ndarray
    grad_norm_max: np.ndarray
    clip_fraction: np.ndarray
    rho: np.ndarray
    lambda1: np.ndarray
    omega: np.ndarray
    confirm_error: np.ndarray
    solved_at: np.ndarray
    zero_error_at: np.ndarray
    nonfinite_count: np.ndarray
    updates_done: np.ndarray
    params: dict
    update_loss: np.ndarray | None = None
    update_norm: np.ndarray | None = None
    update_clipped: np.ndarray | None = None

    @property
    def solved(self) -> np.ndarray:
        return self.solved_at >= 0

    def member_params(self, i: int) -> RNNParams:
        """The final weights of member ``i``."""
        init = self.members[i][0]
        return RNNParams(*(np.array(self.params[k][i]) for k in PARAM_NAMES), _activation_of(init))

    def success_rate(self, init: str | None = None, method: str | None = None) -> float:
        """Fraction of the members (optionally of one init / method) that were solved."""
        sel = [
            i
            for i, (a, m, _) in enumerate(self.members)
            if (init is None or a == init) and (method is None or m == method)
        ]
        if not sel:
            raise DynsysError(f"no member with init={init!r}, method={method!r}")
        return float(np.mean(self.solved[sel]))


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------


class _Run:
    """Mutable state of a run; everything in it is saved by checkpoints."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.members = cfg.members
        K = len(self.members)
        self.K = K
        self.activation = _activation_of(cfg.inits[0])
        self.useeds = sorted({s for _, _, s in self.members})
        self.seed_index = np.array([self.useeds.index(s) for _, _, s in self.members])
        p = [
            initialize(
                init, cfg.n_hidden, self.task.n_in, self.task.n_out, rng=np.random.default_rng([seed, 0])
            )
            for init, _, seed in self.members
        ]
        self.params = {k: np.stack([getattr(q, k) for q in p]) for k in PARAM_NAMES}
        self.opt = {}
        self.rngs = [np.random.default_rng([s, 1]) for s in self.useeds]
        self.lr = np.full(K, float(cfg.lr))
        self.clip = np.array([cfg.clip if m != "msgd" else np.inf for _, m, _ in self.members])
        self.alpha = np.array([cfg.alpha if m == "msgd-cr" else 0.0 for _, m, _ in self.members])
        self.update = 0
        self.active = np.ones(K, dtype=bool)
        self.solved_at = np.full(K, -1, dtype=np.int64)
        self.zero_at = np.full(K, -1, dtype=np.int64)
        self.nonfinite = np.zeros(K, dtype=np.int64)
        self.done = np.zeros(K, dtype=np.int64)
        self.acc = {k: np.zeros(K) for k in ("loss", "norm", "norm_max", "clipped", "omega", "count")}
        self.evals = {k: np.zeros((0, K)) for k in _EVAL_FIELDS}
        self.eval_updates = np.zeros(0, dtype=np.int64)
        self.traces = (
            {k: np.full((cfg.updates, K), np.nan) for k in _TRACE_FIELDS} if cfg.record_updates else None
        )

    # -- checkpoints -----------------------------------------------------------------------
    def state_arrays(self) -> dict:
        a = {f"param_{k}": v for k, v in self.params.items()}
        a.update({f"opt_{k}": v for k, v in self.opt.items()})
        a.update({f"acc_{k}": v for k, v in self.acc.items()})
        a.update({f"eval_{k}": v for k, v in self.evals.items()})
        if self.traces is not None:
            a.update({f"trace_{k}": v for k, v in self.traces.items()})
        a.update(
            eval_updates=self.eval_updates,
            active=self.active,
            solved_at=self.solved_at,
            zero_at=self.zero_at,
            nonfinite=self.nonfinite,
            done=self.done,
        )
        return a

    def meta(self) -> dict:
        return {
            "kind": "dynsys-train-checkpoint",
            "config": self.cfg.to_dict(),
            "update": self.update,
            "rng_states": [r.bit_generator.state for r in self.rngs],
        }

    def restore(self, arrays: dict, meta: dict) -> None:
        self.update = int(meta["update"])
        for r, st in zip(self.rngs, meta["rng_states"]):
            r.bit_generator.state = st
        for key, v in arrays.items():
            head, _, name = key.partition("_")
            if head == "param":
                self.params[name] = v
            elif head == "opt":
                self.opt[name] = v
            elif head == "acc":
                self.acc[name] = v
            elif head == "eval" and name in _EVAL_FIELDS:
                self.evals[name] = v
            elif head == "trace":
                if self.traces is not None:
                    U = self.cfg.updates
                    t = np.full((U, self.K), np.nan)
                    t[: min(U, v.shape[0])] = v[:U]
                    self.traces[name] = t
        self.eval_updates = arrays["eval_updates"]
        for name in ("active", "solved_at", "zero_at", "nonfinite", "done"):
            setattr(self, name, arrays[name])

    # -- one update ------------------------------------------------------------------------
    def step(self) -> None:
        cfg, task = self.cfg, self.task
        act_idx = np.flatnonzero(self.active)
        batches = {}
        for j in range(len(self.useeds)):
            if np.any(self.seed_index[act_idx] == j):
                batches[j] = task.generate(self.rngs[j], cfg.length, cfg.batch)
        # members whose sequences have equal length are stacked in one BPTT pass
        by_T: dict[int, list[int]] = {}
        for i in act_idx:
            by_T.setdefault(batches[self.seed_index[i]].steps, []).append(i)
        info_all = {k: np.full(self.K, np.nan) for k in ("loss", "norm", "clipped", "nonfinite", "omega")}
        for idx in by_T.values():
            idx = np.array(idx)
            js = self.seed_index[idx]
            if np.all(js == js[0]):
                inputs, targets = batches[js[0]].inputs, batches[js[0]].targets
            else:
                inputs = np.stack([batches[j].inputs for j in js], axis=1)
                targets = np.stack([batches[j].targets for j in js], axis=1)
            sub = {k: v[idx] for k, v in self.params.items()}
            opt = {k: v[idx] for k, v in self.opt.items()}
            new, opt, info = training_step(
                sub,
                inputs,
                targets,
                task,
                self.activation,
                lr=self.lr[idx],
                clip=self.clip[idx],
                alpha=self.alpha[idx],
                opt_state=opt,
                optimizer=cfg.optimizer,
                nonfinite=cfg.nonfinite,
                omega_form=cfg.omega_form,
                omega_bound=cfg.omega_bound,
                momentum=cfg.momentum,
                adam=(cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps),
            )
            for k, v in new.items():
                self.params[k][idx] = v
            for k, v in opt.items():
                if k not in self.opt:
                    self.opt[k] = np.zeros((self.K,) + v.shape[1:])
                self.opt[k][idx] = v
            for k in info_all:
                info_all[k][idx] = getattr(info, k)
        self.update += 1
        a = self.acc
        act = self.active
        a["loss"][act] += info_all["loss"][act]
        finite_norm = np.where(np.isfinite(info_all["norm"]), info_all["norm"], 0.0)
        a["norm"][act] += finite_norm[act]
        a["norm_max"][act] = np.maximum(
            a["norm_max"][act], np.where(np.isfinite(info_all["norm"]), info_all["norm"], np.inf)[act]
        )
        a["clipped"][act] += info_all["clipped"][act]
        a["omega"][act] += np.nan_to_num(info_all["omega"][act])
        a["count"][act] += 1
        self.nonfinite[act] += info_all["nonfinite"][act].astype(np.int64)
        self.done[act] += 1
        if self.traces is not None and self.update <= cfg.updates:
            self.traces["update_loss"][self.update - 1] = info_all["loss"]
            self.traces["update_norm"][self.update - 1] = info_all["norm"]
            self.traces["update_clipped"][self.update - 1] = info_all["clipped"]

    # -- evaluation --------------------------------------------------------------------------
    def _error_rates(self, members: np.ndarray, n_seq: int, stream: int) -> np.ndarray:
        """Error rate of ``members`` on ``n_seq`` fresh sequences (stateless eval streams)."""
        cfg, task = self.cfg, self.task
        wrong = np.zeros(len(members))
        for j in np.unique(self.seed_index[members]):
            sel = members[self.seed_index[members] == j]
            rng = np.random.default_rng([self.useeds[j], stream, self.update])
            left = n_seq
            while left > 0:
                c = min(cfg.eval_chunk, left)
                batch = task.generate(rng, cfg.length, c)
                w, _ = evaluate(
                    {k: v[sel] for k, v in self.params.items()},
                    task,
                    self.activation,
                    batch.inputs,
                    batch.targets,
                )
                wrong[np.searchsorted(members, sel)] += w.sum(axis=1)
                left -= c
        return wrong / n_seq

    def evaluate_now(self) -> None:
        cfg = self.cfg
        K = self.K
        act = np.flatnonzero(self.active)
        row = {k: np.full(K, np.nan) for k in _EVAL_FIELDS}
        cnt = np.maximum(self.acc["count"], 1)
        if act.size:
            err = self._error_rates(act, cfg.eval_sequences, 2)
            row["error"][act] = err
            W = self.params["W_rec"][act]
            row["rho"][act] = np.max(np.abs(np.linalg.eigvals(W)), axis=-1)
            row["lambda1"][act] = np.linalg.norm(W, ord=2, axis=(-2, -1))
            for k, src in (
                ("loss", "loss"),
                ("grad_norm", "norm"),
                ("clip_fraction", "clipped"),
                ("omega", "omega"),
            ):
                row[k][act] = (self.acc[src] / cnt)[act]
            row["grad_norm_max"][act] = self.acc["norm_max"][act]
            row["omega"][self.alpha == 0] = np.nan
            zero = act[err == 0]
            self.zero_at[zero[self.zero_at[zero] < 0]] = self.update
            cand = act[err < 0.01] if cfg.success == "1pct" else act[err == 0]
            if cand.size:
                if cfg.confirm_sequences > 0:
                    cerr = self._error_rates(cand, cfg.confirm_sequences, 3)
                    row["confirm_error"][cand] = cerr
                    ok = cand[cerr < 0.01] if cfg.success == "1pct" else cand[cerr == 0]
                else:
                    ok = cand
                new = ok[self.solved_at[ok] < 0]
                self.solved_at[new] = self.update
                if cfg.stop_on_success:
                    self.active[ok] = False
        for k in _EVAL_FIELDS:
            self.evals[k] = np.concatenate([self.evals[k], row[k][None]])
        self.eval_updates = np.append(self.eval_updates, self.update)
        for k in self.acc:
            self.acc[k][:] = 0.0

    def history(self) -> TrainingHistory:
        tr = self.traces or {}
        return TrainingHistory(
            config=self.cfg,
            members=self.members,
            eval_updates=self.eval_updates.copy(),
            **{k: v.copy() for k, v in self.evals.items()},
            solved_at=self.solved_at.copy(),
            zero_error_at=self.zero_at.copy(),
            nonfinite_count=self.nonfinite.copy(),
            updates_done=self.done.copy(),
            params={k: v.copy() for k, v in self.params.items()},
            **{k: (tr[k][: self.update].copy() if k in tr else None) for k in _TRACE_FIELDS},
        )


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Limit OpenBLAS to ``n`` threads inside the block (no-op when OpenBLAS is not found).

    The trainer's matrices are small (n ≈ 50): BLAS threads only contend, and on a busy machine
    two spinning OpenBLAS threads made an update ~10× slower in CPU time. One thread also keeps
    the floating-point summation order fixed, so a resumed run matches an uninterrupted one.
    """
    fns = _openblas_thread_fns()
    if fns is None:
        yield
        return
    get, set_ = fns
    old = get()
    set_(int(n))
    try:
        yield
    finally:
        set_(old)


def _openblas_thread_fns():
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    return get, set_
    return None


def _raise_on_sigterm():
    """In the main thread, make SIGTERM (batch schedulers, ``kill``) raise KeyboardInterrupt so the
    run saves a checkpoint before it ends. Returns the previous handler (None when not installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


#: config fields that may change between a run and its resumption (they do not change the result)
_FREE_KEYS = ("updates", "checkpoint_every")


def train(
    config: TrainConfig | Mapping,
    out=None,
    *,
    resume: bool = True,
    progress: Callable | None = None,
    stop_after: int | None = None,
) -> TrainingHistory:
    """Train the ensemble described by ``config``.

    Parameters
    ----------
    config : TrainConfig or dict
    out : str or Path, optional
        Run folder for ``checkpoint.npz``; with ``resume=True`` an existing checkpoint of the same
        config is continued (a larger ``updates`` extends a finished run).
    progress : callable, optional
        ``progress(total=..., initial=...)`` returning an object with ``update(n)`` and
        ``close()`` (e.g. ``tqdm``).
    stop_after : int, optional
        Stop (with a checkpoint) after this many updates in this call (tests, time slicing).

    Returns
    -------
    TrainingHistory
        Ctrl-C (KeyboardInterrupt) or SIGTERM saves a checkpoint first, then propagates.

    Examples
    --------
    >>> cfg = TrainConfig(task="temporal_order", length=20, n_hidden=8, batch=5, updates=20,
    ...                   methods=("msgd", "msgd-c", "msgd-cr"), seeds=(0, 1), eval_every=10,
    ...                   eval_sequences=50, confirm_sequences=0)
    >>> h = train(cfg)
    >>> h.error.shape, h.members[5]       # (evaluations, members)
    ((2, 6), ('smart_tanh', 'msgd-cr', 1))
    """
    from . import io

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    run = _Run(cfg)
    ckpt = Path(out) / "checkpoint.npz" if out is not None else None
    if ckpt is not None and resume and ckpt.exists():
        arrays, meta = io.load_checkpoint(ckpt)
        if meta.get("kind") != "dynsys-train-checkpoint":
            raise DynsysError(f"out: {ckpt} is not a dynsys training checkpoint")
        saved = dict(meta["config"])
        mine = cfg.to_dict()
        diff = sorted(
            k for k in mine if k not in _FREE_KEYS and json.dumps(saved.get(k)) != json.dumps(mine[k])
        )
        if diff:
            raise DynsysError(
                f"out: {out} holds a run with a different config ({', '.join(diff)}); "
                "use another --out or resume=False"
            )
        run.restore(arrays, meta)

    def save():
        if ckpt is not None:
            io.save_checkpoint(ckpt, run.state_arrays(), run.meta())

    bar = progress(total=cfg.updates, initial=min(run.update, cfg.updates)) if progress else None
    n_this = 0
    limit = blas_threads(1)
    limit.__enter__()
    old_term = _raise_on_sigterm()
    try:
        while run.update < cfg.updates and run.active.any():
            if stop_after is not None and n_this >= stop_after:
                break
            run.step()
            n_this += 1
            if bar is not None:
                bar.update(1)
            at_eval = run.update % cfg.eval_every == 0 or run.update == cfg.updates
            if at_eval:
                run.evaluate_now()
            if at_eval or (cfg.checkpoint_every and run.update % cfg.checkpoint_every == 0):
                save()
    except KeyboardInterrupt:
        save()
        raise
    finally:
        limit.__exit__(None, None, None)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if bar is not None:
            bar.close()
    save()
    return run.history()
