"""Configuration of a training run (:func:`dynsys.training.train`): :class:`TrainConfig`.

A ``TrainConfig`` is validated once, here, and is JSON-able: it is stored with every checkpoint
and a resumed run must match it (paper §3–4 defaults: n = 50, batch 20, lr 0.01, clip 1, α = 4).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from .._validate import check_choice, check_finite_scalar, check_positive_int
from ..errors import DynsysError
from .initializers import initializer_names
from .tasks import get_task

__all__ = ["METHODS", "OMEGA_FORMS", "OPTIMIZERS", "NONFINITE_POLICIES", "SUCCESS_RULES", "TrainConfig"]

Method = Literal["msgd", "msgd-c", "msgd-cr"]
OmegaForm = Literal["code", "eq9"]
Optimizer = Literal["sgd", "momentum", "adam"]
NonfinitePolicy = Literal["shrink", "skip"]
SuccessRule = Literal["1pct", "zero"]

#: training methods: plain MSGD, with norm clipping (-c), with clipping and the Ω regularizer (-cr)
METHODS: tuple[str, ...] = get_args(Method)
#: forms of the Ω regularizer (:mod:`dynsys.gradients.regularizers`): the authors' code or eq. 9
OMEGA_FORMS: tuple[str, ...] = get_args(OmegaForm)
#: optimizers of one update (:mod:`dynsys.training.optimizers`); the paper uses plain SGD
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
#: the update after a non-finite gradient: the authors' shrink step (0.02 · W_rec) or none (skip)
NONFINITE_POLICIES: tuple[str, ...] = get_args(NonfinitePolicy)
#: success rules: < 1 % wrong sequences (the paper) or no wrong sequence (the authors' code)
SUCCESS_RULES: tuple[str, ...] = get_args(SuccessRule)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-able; stored with every checkpoint).

    Attributes
    ----------
    task : str
        A :func:`dynsys.training.tasks.get_task` name.
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
        See :mod:`dynsys.gradients.regularizers`.
    optimizer : {"sgd", "momentum", "adam"}
    nonfinite : {"shrink", "skip"}
    eval_every, eval_sequences, confirm_sequences, eval_chunk : int
        Evaluation period (updates), screening set, confirmation set (paper 10,000), chunk size.
    success : {"1pct", "zero"}
    stop_on_success : bool
        Solved members stop training (the authors' code stops at success).
    checkpoint_every : int
        Updates between checkpoints (default 100, so that a killed run loses at most 100
        updates; 0: at evaluations only).
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
    omega_form: OmegaForm = "code"
    omega_bound: float = 1e-20
    optimizer: Optimizer = "sgd"
    momentum: float = 0.9
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    nonfinite: NonfinitePolicy = "shrink"
    eval_every: int = 500
    eval_sequences: int = 1000
    confirm_sequences: int = 10_000
    eval_chunk: int = 500
    success: SuccessRule = "1pct"
    stop_on_success: bool = True
    checkpoint_every: int = 100
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
        check_choice(self.omega_form, "omega_form", OMEGA_FORMS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.nonfinite, "nonfinite", NONFINITE_POLICIES)
        check_choice(self.success, "success", SUCCESS_RULES)

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
