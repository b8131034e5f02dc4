"""Training on a fixed set of sequences (natural data): next-step prediction with per-step outputs.

The paper's Table 1 trains RNNs on polyphonic music: at every step ``t`` the network reads frame
``t`` of a binary piano roll and predicts frame ``t + 1`` with independent sigmoid outputs (one
per key); the cost is the Bernoulli negative log-likelihood summed over keys and **averaged over
the steps of the sequence** (the cost the appendix clips at 8). :func:`train_sequences` trains K
networks on such data at once, in epochs over the training set, with the appendix's protocol:

* one update per minibatch of ``batch`` sequences (default 1: one sequence per update), shorter
  sequences padded with zero inputs and zero loss weights (:class:`~dynsys.gradients.ReadoutLoss`
  ``weights``: ``1/length`` on a sequence's steps, 0 on its padding — nothing flows back from
  the padding); the members of one seed visit the training sequences in the same order, drawn
  afresh every epoch from ``(seed, epoch)``;
* MSGD (no clipping), MSGD-C (norm clipping at ``clip``, Algorithm 1) and MSGD-CR (clipping and
  Ω, eq. 9–10, with weight ``α_t = alpha / t`` in epoch ``t = 1, 2, …``: the appendix's
  ``1/(2t)`` for ``alpha = 0.5``), all through :func:`dynsys.training.step.loss_step`;
* after every epoch each member is evaluated (NLL per frame, :func:`sequence_nll`) on the train,
  valid and test sets; a member's learning rate is **halved when its training NLL rose** over
  the previous epoch's; the weights with the lowest valid NLL so far are kept (**early
  stopping**), and a member stops when its valid NLL has not improved for ``patience`` epochs.

NLL per frame is ``−Σ_t Σ_j log p(v_{t+1,j} | v_{≤t})`` over every predicted frame of a set,
divided by the number of predicted frames (the first frame of a sequence is read, not predicted:
a sequence of ``T`` frames contributes ``T − 1``), in nats.

``SequenceConfig(dtype="float32")`` runs the whole update (and the evaluation) in float32, about
twice as fast; float64 is the default and the reference.

Checkpoints (one atomic ``.npz``, :func:`dynsys.io.save_checkpoint`) are written after every epoch
and when the run is interrupted (Ctrl-C / SIGTERM finish the current update first), with the
position inside the epoch, so a stopped run resumes to bit-identical results.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> rolls = [(rng.uniform(size=(int(T), 12)) < 0.2).astype(np.uint8) for T in rng.integers(8, 20, 12)]
>>> data = {"train": rolls[:8], "valid": rolls[8:10], "test": rolls[10:]}
>>> cfg = SequenceConfig(n_hidden=10, epochs=3, seeds=(0,), lr=0.5)
>>> h = train_sequences(cfg, data)
>>> h.train_nll.shape, h.members[2]            # (epochs, members)
((3, 3), ('msgd-cr', 0))
>>> bool(h.train_nll[-1, 1] < 12 * np.log(2))  # better than p = 1/2 for every key
True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from .._validate import check_choice, check_finite_scalar, check_positive_int, progress_loop, progress_postfix
from ..activations import get_activation
from ..analysis.conditions import spectral_radius
from ..errors import DynsysError
from ..gradients.losses import ReadoutLoss
from .config import METHODS, NONFINITE_POLICIES, OMEGA_FORMS
from .initializers import initialize
from .runtime import blas_threads, deferred_interrupts
from .step import PARAM_NAMES, StepOptions, loss_step

__all__ = ["SequenceConfig", "SequenceHistory", "check_sequence_data", "sequence_nll", "train_sequences"]

#: the ``kind`` recorded in the ``__meta__`` of a sequence-training checkpoint
CHECKPOINT_KIND = "dynsys-sequence-checkpoint"
#: the hidden units of the appendix (sigmoid) and the second setting (tanh)
Units = Literal["sigmoid", "tanh"]
UNITS: tuple[str, ...] = get_args(Units)
#: the initialization each kind of unit starts from when none is named
DEFAULT_INIT = {"sigmoid": "sigmoid", "tanh": "smart_tanh"}
#: initializations of the RNN and the units they go with
_INIT_UNITS = {"sigmoid": "sigmoid", "basic_tanh": "tanh", "smart_tanh": "tanh", "orthogonal": "tanh",
               "identity": "tanh"}  # fmt: skip
#: per-epoch fields of the history, each (epochs, K)
EPOCH_FIELDS = ("train_nll", "valid_nll", "test_nll", "cost", "grad_norm", "grad_norm_max", "clip_fraction",
                "nonfinite", "omega", "lr", "rho", "updates")  # fmt: skip
#: telemetry summed over the updates of the current epoch (``count``: updates summed)
_ACC_FIELDS = ("cost", "norm", "norm_max", "clipped", "nonfinite", "omega", "count")
#: the floating-point types a run may compute in (``SequenceConfig.dtype``)
Dtype = Literal["float64", "float32"]
DTYPES: tuple[str, ...] = get_args(Dtype)
#: fields added after configs and checkpoints were written, with the default they are omitted at
#: (:meth:`SequenceConfig.to_dict`), so earlier configs keep their hashes and checkpoints resume
_LATER_FIELDS = {"dtype": "float64"}


@dataclass(frozen=True)
class SequenceConfig:
    """Everything that defines a sequence-training run (JSON-able; stored with every checkpoint).

    Attributes
    ----------
    n_hidden : int
        Hidden units (the appendix: 300).
    units : {"sigmoid", "tanh"}
        The hidden units' activation (the appendix: sigmoid).
    init : str or None
        The initialization (:func:`dynsys.training.initialize`); None: ``sigmoid`` for sigmoid
        units, ``smart_tanh`` for tanh units. It must suit the units.
    methods, seeds : tuple
        The members are their product (order: method, seed); members with the same seed start
        from the same weights and see the same sequence order (a paired comparison).
    lr : float
        Initial learning rate (the appendix: 1.0), halved for a member whenever its training NLL
        rose over an epoch (``halve_on_rise``).
    clip : float
        Norm-clipping threshold of MSGD-C / MSGD-CR on the cost averaged over the sequence (8).
    alpha : float
        Ω weight of MSGD-CR in epoch ``t``: ``alpha / t`` (the appendix's ``1/(2t)``: 0.5).
    batch : int
        Sequences per update (1).
    epochs : int
        Epoch budget.
    patience : int
        A member stops after this many epochs without a new lowest valid NLL (0: never stops early).
    halve_on_rise : bool
    max_sequences : int or None
        Train on the first this-many training sequences only (a reduced profile); None: all.
    omega_form, omega_bound, nonfinite
        As in :class:`~dynsys.training.TrainConfig`.
    eval_chunk : int
        Sequences per forward pass of an evaluation.
    dtype : {"float64", "float32"}
        The floating-point type of the run: weights, inputs, targets, loss weights, BPTT
        histories, gradients, clipping and the optimizer step all compute in it (the checkpoint
        stores the weights in it; telemetry such as ``update_norm`` is unchanged). ``"float64"``
        (default) is the reference. ``"float32"`` is for speed (about twice as fast on a CPU: half
        the memory traffic of the recurrent matrix-vector products, and the readout of all steps
        as single matrix products): on the same weights its gradients agree with float64's to
        about 1e-6 relative (a few 1e-6 on the longest chorales) and its NLL to 1e-6 or better,
        but a float32 run is not bit-identical to a float64 one and the two drift apart over many
        updates like any two precisions; use float64 for reference numbers. A run resumes only in
        the dtype it was started in.
    """

    n_hidden: int = 300
    units: Units = "sigmoid"
    init: str | None = None
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0,)
    lr: float = 1.0
    clip: float = 8.0
    alpha: float = 0.5
    batch: int = 1
    epochs: int = 50
    patience: int = 10
    halve_on_rise: bool = True
    max_sequences: int | None = None
    omega_form: Literal["code", "eq9"] = "code"
    omega_bound: float = 1e-20
    nonfinite: Literal["shrink", "skip"] = "shrink"
    eval_chunk: int = 32
    dtype: Dtype = "float64"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("n_hidden", check_positive_int(self.n_hidden, "n_hidden"))
        check_choice(self.units, "units", UNITS)
        init = DEFAULT_INIT[self.units] if self.init is None else self.init
        check_choice(init, "init", _INIT_UNITS)
        if _INIT_UNITS[init] != self.units:
            raise DynsysError(f"init {init!r} is for {_INIT_UNITS[init]} units, but units is {self.units!r}")
        set_("init", init)
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        if not methods:
            raise DynsysError(f"methods must name at least one of {', '.join(METHODS)}")
        for v in methods:
            check_choice(v, "methods", METHODS)
        if len(set(methods)) != len(methods):
            raise DynsysError(f"methods must not repeat an entry, got {list(methods)}")
        set_("methods", methods)
        seeds = (self.seeds,) if isinstance(self.seeds, int | np.integer) else tuple(self.seeds)
        if not seeds:
            raise DynsysError("seeds must hold at least one seed")
        seeds = tuple(check_positive_int(s, "seeds", minimum=0) for s in seeds)
        if len(set(seeds)) != len(seeds):
            raise DynsysError(f"seeds must not repeat a seed, got {list(seeds)}")
        set_("seeds", seeds)
        for name in ("lr", "clip"):
            v = check_finite_scalar(getattr(self, name), name)
            if v <= 0:
                raise DynsysError(f"{name} must be > 0, got {v}")
            set_(name, v)
        v = check_finite_scalar(self.alpha, "alpha")
        if v < 0:
            raise DynsysError(f"alpha must be >= 0, got {v}")
        set_("alpha", v)
        set_("batch", check_positive_int(self.batch, "batch"))
        set_("epochs", check_positive_int(self.epochs, "epochs"))
        set_("patience", check_positive_int(self.patience, "patience", minimum=0))
        set_("eval_chunk", check_positive_int(self.eval_chunk, "eval_chunk"))
        if not isinstance(self.halve_on_rise, bool | np.bool_):
            raise DynsysError(f"halve_on_rise must be true or false, got {self.halve_on_rise!r}")
        set_("halve_on_rise", bool(self.halve_on_rise))
        if self.max_sequences is not None:
            set_("max_sequences", check_positive_int(self.max_sequences, "max_sequences"))
        check_choice(self.omega_form, "omega_form", OMEGA_FORMS)
        check_choice(self.nonfinite, "nonfinite", NONFINITE_POLICIES)
        bound = check_finite_scalar(self.omega_bound, "omega_bound")
        if bound < 0:
            raise DynsysError(f"omega_bound must be >= 0, got {bound}")
        set_("omega_bound", bound)
        dtype = self.dtype
        if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.floating)):
            dtype = np.dtype(dtype).name  # np.float32 or np.dtype("float32") name a choice too
        set_("dtype", check_choice(dtype, "dtype", DTYPES))

    @property
    def members(self) -> list[tuple[str, int]]:
        """The ``(method, seed)`` of every member, in stacking order."""
        return [(m, s) for m in self.methods for s in self.seeds]

    def to_dict(self) -> dict:
        """The config as JSON-able values. A field added after runs were stored (``dtype``) is
        written only when it differs from its default, so every earlier config keeps its hash
        (sweep store keys, work folders) and every earlier checkpoint resumes."""
        d = dataclasses.asdict(self)
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        return {k: v for k, v in d.items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}

    @classmethod
    def from_dict(cls, d: Mapping) -> SequenceConfig:
        """A config from a dict (lists become tuples); unknown keys are refused by name."""
        if not isinstance(d, Mapping):
            raise DynsysError(f"config must be a table of keys, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise DynsysError(
                f"unknown config key(s) {', '.join(map(str, unknown))}; known: {', '.join(names)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def resume_dict(self) -> dict:
        """The fields a resumed run must share with its checkpoint (all but the epoch budget)."""
        d = self.to_dict()
        d.pop("epochs")
        return d


# -- the data --------------------------------------------------------------------------------
def check_sequence_data(data, n_keys: int | None = None, dtype=np.float64) -> dict[str, list[np.ndarray]]:
    """The ``train``/``valid``/``test`` lists of ``data`` (an object with those attributes, or a
    dict), checked: each a non-empty list of 2-D arrays of 0/1 of one width, at least 2 frames,
    returned as arrays of ``dtype`` (float64 by default)."""
    out = {}
    for split in ("train", "valid", "test"):
        seqs = data.get(split) if isinstance(data, Mapping) else getattr(data, split, None)
        if not isinstance(seqs, list | tuple) or len(seqs) == 0:
            raise DynsysError(f"data.{split} must be a non-empty list of (T, keys) arrays")
        arrs = []
        for i, s in enumerate(seqs):
            a = np.asarray(s)
            if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
                raise DynsysError(f"data.{split}[{i}] must have shape (T, keys) with T >= 2, got {a.shape}")
            if n_keys is None:
                n_keys = a.shape[1]
            if a.shape[1] != n_keys:
                raise DynsysError(f"data.{split}[{i}] has {a.shape[1]} keys, the others {n_keys}")
            if a.dtype.kind not in "biuf" or not np.all((a == 0) | (a == 1)):
                raise DynsysError(f"data.{split}[{i}] must hold only 0 and 1 (a binary piano roll)")
            arrs.append(a.astype(dtype))
        out[split] = arrs
    return out


def _pad(seqs: Sequence[np.ndarray], dtype=np.float64):
    """``(inputs (T, B, k), targets (T, B, k), mask (T, B), lengths (B,))`` of next-step prediction:
    input frames 0..T_b−2, target frames 1..T_b−1, padded to the longest (arrays of ``dtype``)."""
    lengths = np.array([len(s) - 1 for s in seqs])
    T, B, k = int(lengths.max()), len(seqs), seqs[0].shape[1]
    inputs = np.zeros((T, B, k), dtype=dtype)
    targets = np.zeros((T, B, k), dtype=dtype)
    for b, s in enumerate(seqs):
        inputs[: lengths[b], b] = s[:-1]
        targets[: lengths[b], b] = s[1:]
    mask = (np.arange(T)[:, None] < lengths[None]).astype(dtype)
    return inputs, targets, mask, lengths


def sequence_nll(params: Mapping[str, np.ndarray], activation, sequences, chunk: int = 32) -> np.ndarray:
    """NLL per predicted frame (nats) of K stacked networks on a set of binary sequences.

    Parameters
    ----------
    params : dict of ndarray
        ``W_rec`` (K, n, n), ``W_in`` (K, n, k), ``b`` (K, n), ``W_out`` (K, k, n), ``b_out`` (K, k).
    activation : str
    sequences : list of ndarray, each (T_i, k) of 0/1
        Frame ``t`` is read and frame ``t + 1`` predicted; the ``T_i − 1`` predictions of every
        sequence count, from the zero state.
    chunk : int
        Sequences per forward pass (sorted by length, so little is padded).

    Returns
    -------
    ndarray, shape (K,)
        ``Σ`` over the predicted frames of ``Σ_j −log p(v_j)``, divided by the number of frames.
        The network runs in the floating-point type of the weights (float32 weights: float32
        arithmetic at every step); the sum over steps and sequences is kept in float64.
    """
    act = get_activation(activation)
    W, Wi, b, Wo, bo = (params[k] for k in PARAM_NAMES)
    dtype = np.result_type(W, Wi, b, Wo, bo, np.float32)  # float32 weights: float32 arithmetic
    WT, WiT = (np.swapaxes(a, -1, -2) for a in (W, Wi))
    K = W.shape[0]
    order = np.argsort([len(s) for s in sequences], kind="stable")
    total = np.zeros(K)
    frames = 0
    with np.errstate(all="ignore"):
        for start in range(0, len(order), chunk):
            inputs, targets, mask, lengths = _pad([sequences[i] for i in order[start : start + chunk]], dtype)
            h = np.zeros((K, inputs.shape[1], W.shape[-1]), dtype=dtype)
            for t in range(inputs.shape[0]):
                h = act.fn(np.matmul(h, WT) + np.matmul(inputs[t], WiT) + b[:, None, :])
                ell = ReadoutLoss(targets[t][None], "bernoulli").step_losses(h[None], (Wo, bo))
                total += (ell[0] * mask[t]).sum(axis=-1)
            frames += int(lengths.sum())
    return total / frames


# -- the history -----------------------------------------------------------------------------
@dataclass
class SequenceHistory:
    """What :func:`train_sequences` returns.

    Attributes
    ----------
    config : SequenceConfig
    members : list of (method, seed)
    train_nll, valid_nll, test_nll : ndarray, shape (epochs, K)
        NLL per frame after each epoch (NaN after a member stopped).
    cost, grad_norm, grad_norm_max, clip_fraction, nonfinite, omega, lr, rho, updates : ndarray (epochs, K)
        Per epoch: mean training cost of its updates (the clipped quantity), mean and max gradient
        norm before clipping, fraction of clipped updates, non-finite updates, mean Ω (MSGD-CR),
        the learning rate used, ``ρ(W_rec)`` at the end, updates done.
    alpha : ndarray, shape (epochs,)
        The Ω weight of MSGD-CR in each epoch.
    update_norm : ndarray, shape (updates, K)
        Every update's gradient norm before clipping (float32; NaN for stopped members).
    best_epoch : ndarray, shape (K,)
        Epoch (1-based) of the lowest valid NLL; ``best`` holds the three NLLs there.
    stopped_at : ndarray, shape (K,)
        Epoch after which a member stopped early (-1: it ran the whole budget).
    params : dict of ndarray
        The early-stopping weights (lowest valid NLL), leading axis K.
    seconds : float
        Training time (this call and earlier ones of a resumed run).
    """

    config: SequenceConfig
    members: list
    epochs: dict
    alpha: np.ndarray
    update_norm: np.ndarray
    best_epoch: np.ndarray
    best: dict
    stopped_at: np.ndarray
    params: dict
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name):
        if name in EPOCH_FIELDS:
            return self.epochs[name]
        raise AttributeError(name)


# -- the run ---------------------------------------------------------------------------------
class _State:
    """The mutable part of a run (exactly what a checkpoint holds)."""

    def __init__(self, cfg: SequenceConfig, per_epoch: int):
        K = len(cfg.members)
        self.epoch = 0  # epochs finished
        self.pos = 0  # updates done in the current epoch
        self.params: dict[str, np.ndarray] = {}
        self.opt_state: dict[str, np.ndarray] = {}
        self.lr = np.full(K, cfg.lr)
        self.active = np.ones(K, dtype=bool)
        self.best_valid = np.full(K, np.inf)
        self.best_epoch = np.zeros(K, dtype=np.int64)
        self.stopped_at = np.full(K, -1, dtype=np.int64)
        self.best_params: dict[str, np.ndarray] = {}
        self.acc = {k: np.zeros(K) for k in _ACC_FIELDS}
        self.log = {k: np.zeros((0, K)) for k in EPOCH_FIELDS}
        self.alpha_log = np.zeros(0)
        self.update_norm = np.full((cfg.epochs * per_epoch, K), np.nan, dtype=np.float32)
        self.seconds = 0.0

    def checkpoint(self, cfg: SequenceConfig) -> tuple[dict, dict]:
        arrays = {f"param_{k}": v for k, v in self.params.items()}
        arrays.update({f"best_{k}": v for k, v in self.best_params.items()})
        arrays.update({f"opt_{k}": v for k, v in self.opt_state.items()})
        arrays.update({f"acc_{k}": v for k, v in self.acc.items()})
        arrays.update({f"log_{k}": v for k, v in self.log.items()})
        for name in ("lr", "active", "best_valid", "best_epoch", "stopped_at", "alpha_log", "update_norm"):
            arrays[name] = getattr(self, name)
        meta = {"kind": CHECKPOINT_KIND, "config": cfg.to_dict(), "epoch": self.epoch, "pos": self.pos,
                "seconds": self.seconds}  # fmt: skip
        return arrays, meta

    def restore(self, arrays: Mapping, meta: Mapping) -> None:
        self.epoch, self.pos, self.seconds = int(meta["epoch"]), int(meta["pos"]), float(meta["seconds"])
        for prefix, target in (
            ("param_", self.params),
            ("best_", self.best_params),
            ("opt_", self.opt_state),
        ):
            target.clear()
            target.update({k[len(prefix) :]: np.array(v) for k, v in arrays.items() if k.startswith(prefix)})
        self.acc = {k: np.array(arrays[f"acc_{k}"]) for k in _ACC_FIELDS}
        self.log = {k: np.array(arrays[f"log_{k}"]) for k in EPOCH_FIELDS}
        for name in ("lr", "active", "best_valid", "best_epoch", "stopped_at", "alpha_log", "update_norm"):
            setattr(self, name, np.array(arrays[name]))


def _initial_params(cfg: SequenceConfig, n_keys: int) -> dict[str, np.ndarray]:
    """The stacked initial weights: one draw per seed, shared by that seed's members."""
    draws = {s: initialize(cfg.init, cfg.n_hidden, n_keys, n_keys, rng=np.random.SeedSequence([s, 0x5E0]))
             for s in cfg.seeds}  # fmt: skip
    # drawn in float64 (the same draw for every dtype), then stored in the run's dtype
    stacked = {k: np.stack([np.array(getattr(draws[s], k), dtype=np.float64) for _, s in cfg.members])
               for k in PARAM_NAMES}  # fmt: skip
    return {k: v.astype(cfg.dtype, copy=False) for k, v in stacked.items()}


@functools.lru_cache(maxsize=64)
def _order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which the members of ``seed`` visit the ``n`` training sequences in ``epoch``
    (read-only: cached, as every update of the epoch reads it)."""
    order = np.random.default_rng([seed, epoch, 0x0D3]).permutation(n)
    order.setflags(write=False)
    return order


def _resume(path: Path, out, cfg: SequenceConfig, state: _State) -> None:
    from .. import io

    arrays, meta = io.load_checkpoint(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DynsysError(f"out: {path} is not a dynsys sequence-training checkpoint")
    saved = SequenceConfig.from_dict(meta["config"]).resume_dict()
    mine = cfg.resume_dict()
    # (over both key sets: a field at its default is omitted from one of them, e.g. dtype)
    diff = sorted(k for k in set(mine) | set(saved) if json.dumps(saved.get(k)) != json.dumps(mine.get(k)))
    if diff:
        raise DynsysError(
            f"out: {out} holds a run with a different config ({', '.join(diff)} differ); use another "
            "out folder (or resume=False to start over)"
        )
    state.restore(arrays, meta)


def train_sequences(
    config: SequenceConfig | Mapping,
    data,
    out=None,
    *,
    resume: bool = True,
    progress: bool | Callable | None = None,
    stop_after: int | None = None,
) -> SequenceHistory:
    """Train the members of ``config`` on ``data`` (next-step prediction of binary sequences).

    Parameters
    ----------
    config : SequenceConfig or dict
    data : object with ``train``, ``valid``, ``test`` (e.g. :class:`~dynsys.training.music.Chorales`) or dict
        Lists of ``(T_i, k)`` arrays of 0/1 (:func:`check_sequence_data`).
    out : path, optional
        Run folder for ``checkpoint.npz`` (resumed when it holds a run of the same config; a
        larger ``epochs`` extends a finished run).
    progress : bool or callable, optional
        The package's progress protocol (a tqdm bar over the updates with True).
    stop_after : int, optional
        Stop (with a checkpoint) after this many updates in this call.

    Returns
    -------
    SequenceHistory
        Ctrl-C / SIGTERM: the current update is finished, a checkpoint saved and
        ``KeyboardInterrupt`` raised.
    """
    from .. import io

    cfg = config if isinstance(config, SequenceConfig) else SequenceConfig.from_dict(config)
    sets = check_sequence_data(data, dtype=cfg.dtype)
    train_set = sets["train"][: cfg.max_sequences] if cfg.max_sequences else sets["train"]
    n_keys, N = train_set[0].shape[1], len(train_set)
    per_epoch = math.ceil(N / cfg.batch)
    state = _State(cfg, per_epoch)
    ckpt = Path(out) / "checkpoint.npz" if out is not None else None
    if ckpt is not None:
        io.check_writable_output(ckpt, "out")
    if ckpt is not None and resume and ckpt.exists():
        _resume(ckpt, out, cfg, state)
        grow = cfg.epochs * per_epoch - len(state.update_norm)  # a larger budget extends the run
        if grow > 0:
            state.update_norm = np.concatenate([state.update_norm, np.full((grow, len(cfg.members)), np.nan,
                                                                           dtype=np.float32)])  # fmt: skip
    else:
        state.params = _initial_params(cfg, n_keys)
        state.best_params = {k: v.copy() for k, v in state.params.items()}
    methods = np.array([m for m, _ in cfg.members])
    seeds = np.array([s for _, s in cfg.members])
    base = StepOptions(
        lr=state.lr, clip=np.where(methods == "msgd", np.inf, cfg.clip), alpha=np.zeros(len(methods)),
        nonfinite=cfg.nonfinite, omega_form=cfg.omega_form, omega_bound=cfg.omega_bound,
    )  # fmt: skip

    def save():
        if ckpt is not None:
            io.save_checkpoint(ckpt, *state.checkpoint(cfg))

    start_update = min(state.epoch, cfg.epochs) * per_epoch + (state.pos if state.epoch < cfg.epochs else 0)
    total = cfg.epochs * per_epoch
    workspaces: dict = {}
    t0 = time.perf_counter()
    seconds0 = state.seconds
    done_here = 0
    with (
        blas_threads(1),
        deferred_interrupts() as guard,
        progress_loop(
            progress, range(start_update, total), total=total, initial=start_update, desc="train sequences"
        ) as bar,  # fmt: skip
    ):
        for _ in bar:
            if not state.active.any() or (stop_after is not None and done_here >= stop_after):
                break
            epoch = state.epoch + 1  # 1-based, the t of α_t
            alpha = np.where(methods == "msgd-cr", cfg.alpha / epoch, 0.0)
            _update(state, cfg, train_set, base, alpha, seeds, epoch, workspaces)
            done_here += 1
            state.pos += 1
            if state.pos == per_epoch:
                _end_epoch(state, cfg, sets, alpha)
                state.seconds = seconds0 + time.perf_counter() - t0
                progress_postfix(bar, valid=f"{np.nanmin(state.log['valid_nll'][-1]):.3f}")
                save()
            if guard.signum is not None:
                state.seconds = seconds0 + time.perf_counter() - t0
                save()
                guard.check()
        if guard.signum is not None:
            save()
            guard.check()
    state.seconds = seconds0 + time.perf_counter() - t0
    save()
    return _history(cfg, state)


def _update(state, cfg, train_set, base, alpha, seeds, epoch, workspaces) -> None:
    """One update of every active member on its seed's next minibatch (in place)."""
    idx = np.flatnonzero(state.active)
    used = sorted(set(seeds[idx].tolist()))
    N = len(train_set)
    lo = state.pos * cfg.batch
    batches = {s: [train_set[i] for i in _order(s, epoch, N)[lo : lo + cfg.batch]] for s in used}
    T = max(len(q) - 1 for b in batches.values() for q in b)
    B = max(len(b) for b in batches.values())  # (a last partial minibatch is the same for every seed)
    dtype = np.dtype(cfg.dtype)
    padded = {s: _pad(b, dtype) for s, b in batches.items()}
    if len(used) == 1:
        inputs, targets, mask, lengths = padded[used[0]]
        weights = mask / lengths[None].astype(dtype)  # (the lengths in the run's dtype: no upcast)
    else:
        k = train_set[0].shape[1]
        inputs = np.zeros((T, len(idx), B, k), dtype=dtype)
        targets = np.zeros((T, len(idx), B, k), dtype=dtype)
        weights = np.zeros((T, len(idx), B), dtype=dtype)
        for j, s in enumerate(seeds[idx]):
            u, tg, mask, lengths = padded[s]
            inputs[: len(u), j], targets[: len(u), j] = u, tg
            weights[: len(u), j] = mask / lengths[None].astype(dtype)
    # float32 has no earlier results to reproduce bit for bit: its readout takes one GEMM over all steps
    loss = ReadoutLoss(targets, "bernoulli", "all", weights=weights, gemm=dtype != np.float64)
    opts = dataclasses.replace(base, lr=state.lr[idx], clip=base.clip[idx], alpha=alpha[idx])
    full = len(idx) == len(seeds)  # every member active: the arrays themselves, no copies
    new, opt, info = loss_step(
        state.params if full else {k: v[idx] for k, v in state.params.items()},
        inputs,
        loss,
        cfg.units,
        opts,
        {k: v[idx] for k, v in state.opt_state.items()},
        workspaces.setdefault(len(idx), {}),
        inplace=True,  # the weights updated in their arrays (the run's own, or the copies above)
    )
    for k, v in new.items():
        if full:
            state.params[k] = v
        else:
            state.params[k][idx] = v
    for k, v in opt.items():
        if k not in state.opt_state:
            state.opt_state[k] = np.zeros((len(seeds),) + v.shape[1:], dtype=v.dtype)
        state.opt_state[k][idx] = v
    a = state.acc
    finite = np.isfinite(info.norm)
    a["cost"][idx] += info.loss
    a["norm"][idx] += np.where(finite, info.norm, 0.0)
    a["norm_max"][idx] = np.maximum(a["norm_max"][idx], np.where(finite, info.norm, np.inf))
    a["clipped"][idx] += info.clipped
    a["nonfinite"][idx] += info.nonfinite
    a["omega"][idx] += np.nan_to_num(info.omega)
    a["count"][idx] += 1
    state.update_norm[state.epoch * math.ceil(N / cfg.batch) + state.pos, idx] = info.norm


def _end_epoch(state: _State, cfg: SequenceConfig, sets: dict, alpha: np.ndarray) -> None:
    """Evaluate, halve learning rates, keep the best weights and stop members (end of an epoch)."""
    K = len(cfg.members)
    act = state.active.copy()
    row = {k: np.full(K, np.nan) for k in EPOCH_FIELDS}
    sub = {k: v[act] for k, v in state.params.items()}
    for split in ("train", "valid", "test"):
        row[f"{split}_nll"][act] = sequence_nll(sub, cfg.units, sets[split], cfg.eval_chunk)
    a, n = state.acc, np.maximum(state.acc["count"], 1)
    row["cost"][act] = (a["cost"] / n)[act]
    row["grad_norm"][act] = (a["norm"] / n)[act]
    row["grad_norm_max"][act] = a["norm_max"][act]
    row["clip_fraction"][act] = (a["clipped"] / n)[act]
    row["nonfinite"][act] = a["nonfinite"][act]
    row["omega"][act] = np.where(alpha > 0, a["omega"] / n, np.nan)[act]
    row["lr"][act] = state.lr[act]
    row["updates"][act] = a["count"][act]
    with np.errstate(all="ignore"):
        row["rho"][act] = spectral_radius(state.params["W_rec"][act])
    # the appendix's schedule: halve the learning rate when the training error rose
    if cfg.halve_on_rise and len(state.log["train_nll"]):
        prev = state.log["train_nll"][-1]
        rose = act & ~(row["train_nll"] <= prev)  # a NaN (diverged) training NLL counts as risen
        state.lr[rose] *= 0.5
    # early stopping on valid
    epoch = state.epoch + 1
    better = act & (row["valid_nll"] < state.best_valid)
    state.best_valid[better] = row["valid_nll"][better]
    state.best_epoch[better] = epoch
    for k, v in state.params.items():
        state.best_params[k][better] = v[better]
    if cfg.patience:
        stop = act & (epoch - state.best_epoch >= cfg.patience)
        state.active[stop] = False
        state.stopped_at[stop] = epoch
    for k in EPOCH_FIELDS:
        state.log[k] = np.concatenate([state.log[k], row[k][None]])
    state.alpha_log = np.append(state.alpha_log, float(cfg.alpha / epoch))
    state.acc = {k: np.zeros(K) for k in _ACC_FIELDS}
    state.epoch, state.pos = epoch, 0


def _history(cfg: SequenceConfig, state: _State) -> SequenceHistory:
    K = len(cfg.members)
    best = {}
    for split in ("train", "valid", "test"):
        vals = np.full(K, np.nan)
        have = state.best_epoch > 0
        vals[have] = state.log[f"{split}_nll"][state.best_epoch[have] - 1, np.flatnonzero(have)]
        best[split] = vals
    return SequenceHistory(
        config=cfg,
        members=cfg.members,
        epochs={k: v.copy() for k, v in state.log.items()},
        alpha=state.alpha_log.copy(),
        update_norm=state.update_norm.copy(),
        best_epoch=state.best_epoch.copy(),
        best=best,
        stopped_at=state.stopped_at.copy(),
        params={k: v.copy() for k, v in state.best_params.items()},
        seconds=state.seconds,
    )
