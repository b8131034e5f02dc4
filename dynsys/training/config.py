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

import numpy as np

from .._validate import check_finite_scalar, check_memory, check_positive_int
from ..errors import DynsysError
from .cells import CELLS, cell_activation, cell_inits, default_init, parameter_count
from .tasks import Task, get_task, task_names

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
        The ensemble is their product (order: init, method, seed). ``inits`` defaults to the
        cell's default (:func:`dynsys.training.cells.default_init`: ``smart_tanh`` for the RNN),
        ``methods`` to ``msgd-cr`` for the RNN and ``msgd-c`` for the other cells.
    cell : str
        The recurrent cell (:data:`dynsys.training.cells.CELLS`): ``rnn`` (eq. 2, default),
        ``residual``, ``ln``, ``gru``, ``lstm``. MSGD-CR (Ω) needs ``rnn``.
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
        Every evaluation logs a row of telemetry and both verdicts (:mod:`~dynsys.training.evaluation`).
    check_every, check_sequences : int
        Success checks between the evaluations (0: none, the default): every ``check_every``
        updates the active members are screened on ``check_sequences`` fresh sequences, and a
        screen that could give a first success of either rule is confirmed on
        ``confirm_sequences``. ``check_every=20`` is the authors' code's cadence (which evaluates
        10,000 sequences every 20 updates); a check logs no row, only the first success.
    success : {"1pct", "zero"}
        The rule that *stops* a member (with ``stop_on_success``). Both rules are always recorded:
        :attr:`TrainingHistory.reached_at`. ``"zero"`` observes both within one run (a member
        reaches < 1 % no later than 0 errors), ``"1pct"`` stops before the zero rule may be reached.
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
    inits: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
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
    check_every: int = 0
    check_sequences: int = 100
    success: SuccessRule = "1pct"
    stop_on_success: bool = True
    checkpoint_every: int = 100
    record_updates: bool = False
    cell: str = "rnn"

    def __post_init__(self):
        # every field is checked here, before a run prints or writes anything; each message starts
        # with the field's name ("FIELD must ..., got VALUE": the CLI maps it to its flag)
        set_ = object.__setattr__
        task = _check_task(self.task)
        _check_one_of(self.cell, "cell", CELLS)
        cell = self.cell
        if self.inits is None:
            set_(self, "inits", (default_init(cell),))
        if self.methods is None:
            set_(self, "methods", ("msgd-cr",) if cell == "rnn" else ("msgd-c",))
        set_(self, "length", _check_length(self.length, task))
        ints = {}
        for name in ("n_hidden", "batch", "updates", "eval_every", "eval_sequences", "eval_chunk"):
            ints[name] = check_positive_int(getattr(self, name), name)
        ints["check_sequences"] = check_positive_int(self.check_sequences, "check_sequences")
        for name in ("confirm_sequences", "checkpoint_every", "check_every"):
            ints[name] = check_positive_int(getattr(self, name), name, minimum=0)
        for name in ("inits", "methods", "seeds"):
            set_(self, name, _as_tuple(getattr(self, name), name))
        for i in self.inits:
            if not isinstance(i, str):
                raise DynsysError(f"inits must be initialization names, got {i!r}")
        set_(self, "inits", tuple(i.replace("-", "_") for i in self.inits))
        for i in self.inits:
            if i not in cell_inits(cell):
                extra = "" if cell == "rnn" else f" for cell {cell!r}"
                raise DynsysError(f"inits must be one of {', '.join(cell_inits(cell))}{extra}, got {i!r}")
        if cell != "rnn" and "msgd-cr" in self.methods:
            raise DynsysError(
                f"methods: msgd-cr (the Ω regularizer of eq. 9) is defined for cell 'rnn' only, got cell {cell!r}"
            )
        for m in self.methods:
            _check_one_of(m, "methods", METHODS)
        for seed in self.seeds:
            check_positive_int(seed, "seeds", minimum=0)
        acts = {cell_activation(cell, i) for i in self.inits}
        if len(acts) > 1:
            raise DynsysError(f"inits must share one activation in an ensemble, got {sorted(self.inits)}")
        for name, low, strict in _NUMBER_RULES:
            v = check_finite_scalar(getattr(self, name), name)
            if v < low or (strict and v == low):
                raise DynsysError(f"{name} must be {'>' if strict else '>='} {low:g}, got {v!r}")
        for name in ("momentum", "adam_beta1", "adam_beta2"):
            v = check_finite_scalar(getattr(self, name), name)
            if not 0.0 <= v < 1.0:
                raise DynsysError(f"{name} must be in [0, 1), got {v!r}")
        _check_one_of(self.omega_form, "omega_form", OMEGA_FORMS)
        _check_one_of(self.optimizer, "optimizer", OPTIMIZERS)
        _check_one_of(self.nonfinite, "nonfinite", NONFINITE_POLICIES)
        _check_one_of(self.success, "success", SUCCESS_RULES)
        for name in ("stop_on_success", "record_updates"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise DynsysError(f"{name} must be True or False, got {getattr(self, name)!r}")
        nbytes, name, value, detail = _memory_estimate(self, task, ints)
        check_memory(nbytes, name, "training", value=value, detail=detail)

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DynsysError(
                f"unknown config key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        return cls(**dict(d))

    @staticmethod
    def defaults() -> dict:
        """The default of every field that has a plain one (as :meth:`to_dict` writes values)."""
        out = {}
        for f in dataclasses.fields(TrainConfig):
            if f.default is not dataclasses.MISSING and f.default is not None:
                out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
        return out

    def resume_dict(self) -> dict:
        """:meth:`to_dict` without the fields a resumed run may change (:data:`RESUMABLE_KEYS`: the
        budget and the checkpoint cadence): equal for a run and its extension, so a hash of it names
        a run's folder across budgets."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_KEYS}

    def to_dict(self) -> dict:
        """The config as JSON-able values. A field added after results were stored (``cell``) is
        written only when it differs from its default, so every earlier config keeps its hash
        (sweep store keys, work folders) and every earlier checkpoint resumes."""
        out = dataclasses.asdict(self)
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        return {k: v for k, v in out.items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}

    @property
    def members(self) -> list[tuple[str, str, int]]:
        """``(init, method, seed)`` for each ensemble member, in stacking order."""
        return list(itertools.product(self.inits, self.methods, self.seeds))


#: config fields that may change between a run and its resumption (they do not change the result)
RESUMABLE_KEYS = ("updates", "checkpoint_every")
#: fields added after stores and checkpoints were committed, with the default they are omitted at
_LATER_FIELDS = {"cell": "rnn", "check_every": 0, "check_sequences": 100}


def _activation_of(init: str, cell: str = "rnn") -> str:
    return cell_activation(cell, init)


#: (field, lower bound, strict) of the real-valued fields: lr > 0, clip > 0, alpha >= 0, ...
_NUMBER_RULES = (
    ("lr", 0.0, True),
    ("clip", 0.0, True),
    ("alpha", 0.0, False),
    ("omega_bound", 0.0, False),
    ("adam_eps", 0.0, True),
)


def _check_one_of(value, name: str, choices) -> None:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise DynsysError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_task(name) -> Task:
    if not isinstance(name, str):
        raise DynsysError(f"task must be a task name, got {name!r}")
    try:
        return get_task(name)
    except DynsysError:
        raise DynsysError(f"task must be one of {', '.join(task_names())}, got {name!r}") from None


def _as_tuple(value, name: str) -> tuple:
    """A field that takes one value or several (``inits``, ``methods``, ``seeds``) as a tuple."""
    if isinstance(value, (str, int, np.integer)):
        out = (value,)
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise DynsysError(f"{name} must be a value or a sequence of values, got {value!r}") from None
    if not out:
        raise DynsysError(f"{name} must name at least one value, got {value!r}")
    return out


def _check_length(length, task: Task):
    """``length`` as an int or an ``(lo, hi)`` tuple of ints, each at least the task's minimum."""
    minimum = task.min_length
    if isinstance(length, (list, tuple, np.ndarray)):
        if len(length) != 2:
            raise DynsysError(f"length must be an int or a (lo, hi) pair, got {length!r}")
        lo, hi = (_length_value(v, minimum, task, length) for v in length)
        if lo > hi:
            raise DynsysError(f"length must satisfy lo <= hi, got ({lo}, {hi})")
        return (lo, hi)
    return _length_value(length, minimum, task, length)


def _length_value(v, minimum: int, task: Task, given) -> int:
    if isinstance(v, (bool, np.bool_, str, bytes)):
        raise DynsysError(f"length must be an int or a (lo, hi) pair, got {given!r}")
    try:
        ok = float(v) == int(v)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise DynsysError(f"length must be an int or a (lo, hi) pair, got {given!r}")
    if int(v) < minimum:
        raise DynsysError(f"length must be >= {minimum} for task {task.name}, got {given!r}")
    return int(v)


def _max_steps(task: Task, length) -> int:
    """An upper bound of the sequence length ``T`` the task's generator returns for ``length``
    (addition and multiplication add up to 10 %, memorization ``2P ≤ 20``)."""
    hi = length[1] if isinstance(length, tuple) else length
    if task.name in ("addition", "multiplication"):
        return hi + hi // 10
    return hi + 20 if task.name.startswith("memorization") else hi


def _memory_estimate(cfg: TrainConfig, task: Task, ints: dict) -> tuple[float, str, object, str]:
    """``(bytes, field, value, detail)``: the peak memory of :func:`~dynsys.training.train` and the
    field that drives it.

    Counted in float64: the ``K`` members' stacked weights ``P = n² + n m + n + k n + k`` each,
    the optimizer state (momentum 1, Adam 2 × P), the per-update traces; then the largest of
    one update (BPTT keeps states, activations, σ′, deltas, the GEMM drive and their work
    arrays, about 9 × (T+1) K B n as measured, and the minibatch's inputs; the gradients, their
    clipped copy and the new weights, 4 × K P), one
    evaluation chunk (hidden states 3 K C n, read-out outputs 4 S K C k) and the
    initialization (every member's weights before stacking, K P, plus 5 n² of work).
    """
    K = len(cfg.inits) * len(cfg.methods) * len(cfg.seeds)
    n, B = ints["n_hidden"], ints["batch"]
    # sequences evaluated at once: a chunk, or fewer when the sets are smaller
    C = min(
        ints["eval_chunk"], max(ints["eval_sequences"], ints["confirm_sequences"], ints["check_sequences"])
    )
    m, k = task.n_in, task.n_out
    T = _max_steps(task, cfg.length)
    S = T if task.read == "all" else 1
    P = parameter_count(cfg.cell, n, m, k)
    G = {"gru": 3, "lstm": 4}.get(cfg.cell, 1)  # gate blocks a step keeps per unit
    opt = {"sgd": 0, "momentum": 1, "adam": 2}.get(cfg.optimizer, 2)
    weights = K * P * (1 + opt)
    traces = 3 * ints["updates"] * K if cfg.record_updates else 0
    bptt = 9 * G * (T + 1) * K * B * n + 2 * T * B * m * K
    step = bptt + (4 + opt) * K * P
    evaluation = 3 * K * C * n + 4 * S * K * C * k + 2 * T * C * m
    init = K * P + 5 * n * n
    floats = weights + traces + max(step, evaluation, init)
    # the field named is the one that drives the largest term (T drives both BPTT and evaluation
    # when it exceeds the batch / the evaluation chunk)
    terms = {"n_hidden": weights + (4 + opt) * K * P + 5 * n * n, "updates": traces}
    terms["length" if T >= B else "batch"] = bptt
    key = "length" if T >= C else "eval_chunk"
    terms[key] = max(terms.get(key, 0), evaluation)
    name = max(terms, key=terms.get)
    value = cfg.length if name == "length" else ints[name]
    if name == "eval_chunk" and C < ints["eval_chunk"]:
        name = (
            "eval_sequences" if ints["eval_sequences"] >= ints["confirm_sequences"] else "confirm_sequences"
        )
        value = ints[name]
    units = f"{K} member(s) × {n} units"
    if name == "n_hidden":
        detail = f"{K} member(s) × about {round(floats / (K * n * n))} arrays of {n}×{n} float64"
    elif name == "updates":
        detail = f"per-update traces of {ints['updates']} updates × {K} member(s), record_updates"
    elif name == "eval_chunk" or (name == "length" and evaluation > bptt):
        detail = f"evaluation of {C} sequences of {T} steps × {units}"
    else:
        detail = f"BPTT keeps about 9 arrays of {T + 1} steps × batch {B} × {units}"
    return 8.0 * floats, name, value, detail
