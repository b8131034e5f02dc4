"""The registered runners of sweeps: ``config -> (metrics, arrays)`` functions, by name.

A sweep file names its runner (never an import path: no code is loaded from files). Three runners:
``train`` (one ensemble run of :func:`dynsys.training.train`, checkpointing in the run's private
folder), ``sequences`` (one run of :func:`dynsys.training.sequences.train_sequences` on natural
data) and ``logistic_lyapunov`` (a cheap reference: the Lyapunov exponent of the logistic map,
ln 2 at r = 4).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .._validate import check_choice, check_positive_int
from ..errors import DynsysError

__all__ = [
    "Runner",
    "RUNNERS",
    "get_runner",
    "logistic_lyapunov",
    "train_runner",
    "sequence_runner",
    "validate_sequence_config",
    "validate_train_config",
    "validate_logistic_config",
]


@dataclass(frozen=True)
class Runner:
    """A function a sweep may run: ``target`` is ``"module:function"`` inside dynsys.

    ``keys`` lists the config keys it accepts (``None``: the runner validates its config itself).
    """

    name: str
    target: str
    description: str
    keys: frozenset[str] | None = None
    required: frozenset[str] = frozenset()
    validator: str | None = None  # "module:function" that raises DynsysError for a bad config

    def resolve(self) -> Callable:
        return _resolve(self.target)


def _resolve(target: str) -> Callable:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def validate_train_config(config: Mapping) -> None:
    """Reject a bad trainer config before anything runs (unknown keys, bad values).

    Builds the :class:`~dynsys.training.TrainConfig` (its ``__post_init__`` checks every value);
    a value of the wrong type that slips through as a Python error becomes a one-line
    :class:`~dynsys.errors.DynsysError`.
    """
    _reject_bad(_parse_train_config, config, "train")


def _reject_bad(parse: Callable, config: Mapping, kind: str) -> None:
    """Run ``parse(config)``; a Python error from a value of the wrong type becomes one line."""
    try:
        parse(config)
    except DynsysError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise DynsysError(f"bad {kind} config: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


TRAIN_EXTRA_KEYS = ("generalize_lengths", "monitor", "screen_risk")


def _parse_train_config(config: Mapping):
    """``(TrainConfig, generalize_lengths, MonitorConfig or None, screen_risk or None)`` of a
    ``train`` sweep config (lists become tuples)."""
    from ..training.config import TrainConfig
    from ..training.monitor import MonitorConfig

    value = config.get("generalize_lengths", [])
    if not isinstance(value, (list, tuple)):
        raise DynsysError(f"generalize_lengths must be a list of lengths, got {value!r}")
    gen_lengths = [check_positive_int(v, "generalize_lengths") for v in value]
    monitor = config.get("monitor")
    if monitor is not None:
        if monitor is True:
            monitor = {}
        monitor = MonitorConfig.from_dict(monitor)
    risk = config.get("screen_risk")
    if risk is not None:
        if not isinstance(risk, Mapping) or set(risk) != {"sequences", "repeats"}:
            raise DynsysError(f"screen_risk must be a table with keys sequences and repeats, got {risk!r}")
        risk = {k: check_positive_int(risk[k], f"screen_risk.{k}") for k in ("sequences", "repeats")}
    cfg = TrainConfig.from_dict(
        {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k not in TRAIN_EXTRA_KEYS}
    )
    return cfg, gen_lengths, monitor, risk


#: the config keys of ``logistic_lyapunov`` and their defaults (``r`` has none: it is required)
_LOGISTIC_DEFAULTS = {"steps": 20000, "transient": 1000, "seed": 0}
#: ``r`` must lie in [0, 4]: there the map keeps [0, 1] invariant (beyond 4 the orbit escapes)
_LOGISTIC_R_RANGE = (0.0, 4.0)


def _number(value, name: str) -> float:
    """``value`` as a finite float; strings and booleans are refused (TOML has real numbers)."""
    from .._validate import check_finite_scalar

    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise DynsysError(f"{name} must be a number, got {value!r}")
    return check_finite_scalar(value, name)


def _integer(value, name: str, minimum: int) -> int:
    """``value`` as an int ``>= minimum``; strings, booleans and fractional numbers are refused."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise DynsysError(f"{name} must be an integer, got {value!r}")
    return check_positive_int(value, name, minimum=minimum)


def _parse_logistic_config(config: Mapping) -> tuple[float, int, int, int]:
    """``(r, steps, transient, seed)`` of a ``logistic_lyapunov`` config, validated."""
    if not isinstance(config, Mapping):
        raise DynsysError(f"config must be a table of keys, got {type(config).__name__}")
    unknown = sorted(set(config) - {"r", *_LOGISTIC_DEFAULTS})
    if unknown:
        raise DynsysError(
            f"unknown config key(s) {', '.join(map(str, unknown))}; known: r, {', '.join(_LOGISTIC_DEFAULTS)}"
        )
    if "r" not in config:
        raise DynsysError("missing config key(s) r")
    r = _number(config["r"], "r")
    lo, hi = _LOGISTIC_R_RANGE
    if not lo <= r <= hi:
        raise DynsysError(f"r must be in [{lo:g}, {hi:g}] (the logistic map keeps [0, 1] there), got {r}")
    get = {**_LOGISTIC_DEFAULTS, **config}.get
    steps = _integer(get("steps"), "steps", minimum=1)
    transient = _integer(get("transient"), "transient", minimum=0)
    seed = _integer(get("seed"), "seed", minimum=0)
    return r, steps, transient, seed


def validate_logistic_config(config: Mapping) -> None:
    """Reject a bad ``logistic_lyapunov`` config before anything runs.

    ``r`` (required) a finite number in [0, 4]; ``steps`` an integer >= 1; ``transient`` and
    ``seed`` integers >= 0; no other key.

    Examples
    --------
    >>> validate_logistic_config({"r": 3.9, "steps": 500})
    >>> validate_logistic_config({"r": "abc"})
    Traceback (most recent call last):
    ...
    dynsys.errors.DynsysError: r must be a number, got 'abc'
    """
    _parse_logistic_config(config)


def logistic_lyapunov(config: Mapping) -> tuple[dict, dict]:
    """A cheap reference runner: the Lyapunov exponent of the logistic map at ``r``.

    Config: ``r`` (required, in [0, 4]), ``steps`` (20000), ``transient`` (1000), ``seed`` (0,
    picks x₀); checked by :func:`validate_logistic_config`. Exact value at r = 4: ln 2.
    """
    from ..analysis.lyapunov import orbit_lyapunov
    from ..maps import LogisticMap

    r, steps, transient, seed = _parse_logistic_config(config)
    rng = np.random.default_rng(seed)
    m = LogisticMap(r)
    x = rng.uniform(0.05, 0.95, size=(1,))
    for _ in range(transient):
        x = m.step(x)
    xs = np.empty(steps)
    xf = float(x[0])
    for i in range(steps):  # scalar loop: the orbit is inherently sequential
        xs[i] = xf
        xf = r * xf * (1.0 - xf)
    logs = orbit_lyapunov(m, xs[:, None], per_step=True)
    keep = np.unique(np.linspace(0, steps - 1, min(steps, 1000)).astype(int))  # at most 1000 samples
    running = (np.cumsum(logs) / np.arange(1, steps + 1))[keep]
    return {"lyapunov": float(logs.mean()), "r": r}, {"running_mean": running, "step": keep + 1}


def train_runner(config: Mapping, workdir=None) -> tuple[dict, dict]:
    """One (ensemble) training run of :func:`dynsys.training.train` as a sweep runner.

    ``config`` holds :class:`~dynsys.training.TrainConfig` fields (validated there; lists become
    tuples). ``workdir`` is the run's private folder: checkpoints go there, so a sweep killed mid-run
    resumes the run where its last checkpoint left off. Metrics are per member (init, method, seed).

    The optional non-TrainConfig key ``generalize_lengths`` (list of int) evaluates the final
    weights of every member on ``eval_sequences`` fresh sequences of each of those nominal lengths
    (one stream per length, seeded from the config's seeds, shared by all members); the error rates
    go to ``metrics["generalize_error"]`` (per length, per member) and ``arrays["generalize_error"]``
    (shape (G, K)).

    The optional key ``screen_risk`` (``{"sequences": n, "repeats": R}``) measures the per-check
    false-negative risk at the weights of each member's first pass of each rule
    (:func:`~dynsys.training.evaluation.screen_misses`: ``R`` screens of ``n`` fresh sequences):
    ``metrics["screen_miss_<rule>"]`` (fraction of screens that fail) and
    ``metrics["pass_error_<rule>"]`` (their pooled error rate), None where a rule was not reached.

    The optional key ``monitor`` (a dict of :class:`~dynsys.training.MonitorConfig` fields, or
    true for the defaults) watches the run (:mod:`dynsys.training.monitor`): the record is
    ``workdir/monitor.jsonl`` and ``metrics["monitor"]`` holds its
    :func:`~dynsys.training.report.monitor_report` (per member and per method). A sweep runs its
    runs side by side already, so the monitor computes its rows in the run's own process.
    """
    from ..training.config import _activation_of
    from ..training.step import evaluate
    from ..training.tasks import get_task
    from ..training.trainer import train

    cfg, gen_lengths, monitor, risk = _parse_train_config(config)
    h = train(cfg, workdir, monitor=monitor, monitor_background=False)

    def last(a):
        ok = a[~np.isnan(a)]
        return float(ok[-1]) if ok.size else float("nan")

    members = [list(m) for m in h.members]
    metrics = {
        "members": members,
        "solved_at": h.solved_at.tolist(),
        "zero_error_at": h.zero_error_at.tolist(),
        "reached_1pct_at": h.reached_at["1pct"].tolist(),
        "reached_zero_at": h.reached_at["zero"].tolist(),
        "screens": h.screens.tolist(),
        "confirms": h.confirms.tolist(),
        "nonfinite": h.nonfinite_count.tolist(),
        "updates_done": h.updates_done.tolist(),
        "best_error": [float(np.nanmin(h.error[:, k])) for k in range(len(members))],
        "final_error": [last(h.error[:, k]) for k in range(len(members))],
        "final_rho": [last(h.rho[:, k]) for k in range(len(members))],
        "clip_fraction": [float(np.nanmean(h.clip_fraction[:, k])) for k in range(len(members))],
        "max_grad_norm": [float(np.nanmax(h.grad_norm_max[:, k])) for k in range(len(members))],
    }
    arrays = {
        "eval_updates": h.eval_updates,
        "error": h.error,
        "loss": h.loss,
        "grad_norm": h.grad_norm,
        "clip_fraction": h.clip_fraction,
        "rho": h.rho,
        "lambda1": h.lambda1,
        "omega": h.omega,
        "confirm_error": h.confirm_error,
        "verdict_1pct": h.verdict_1pct,
        "verdict_zero": h.verdict_zero,
    }
    if gen_lengths:
        task = get_task(cfg.task)
        act = _activation_of(cfg.inits[0], cfg.cell)
        gen = np.zeros((len(gen_lengths), len(members)))
        for g, length in enumerate(gen_lengths):
            rng = np.random.default_rng([*cfg.seeds, 0x6E6, length])
            left = cfg.eval_sequences
            while left > 0:
                c = min(cfg.eval_chunk, left)
                batch = task.generate(rng, length, c)
                wrong, _ = evaluate(h.params, task, act, batch.inputs, batch.targets, cfg.cell)
                gen[g] += wrong.sum(axis=1)
                left -= c
        gen /= cfg.eval_sequences
        metrics["generalize_lengths"] = gen_lengths
        metrics["generalize_error"] = gen.tolist()
        arrays["generalize_error"] = gen
    if risk is not None:
        from ..training.evaluation import screen_misses

        for rule in ("1pct", "zero"):
            miss, p_hat = screen_misses(h, rule, risk["sequences"], risk["repeats"])
            metrics[f"screen_miss_{rule}"] = [None if np.isnan(v) else float(v) for v in miss]
            metrics[f"pass_error_{rule}"] = [None if np.isnan(v) else float(v) for v in p_hat]
    if monitor is not None:
        from ..training.report import monitor_report

        metrics["monitor"] = monitor_report(h.monitor).to_dict()
        # the record itself stays in the run's folder (workdir/monitor.jsonl)
    return metrics, arrays


#: the datasets a ``sequences`` run may train on (name -> loader ``"module:function"`` inside dynsys)
SEQUENCE_DATASETS = {"chorales": "dynsys.training.music:load_chorales"}


def _parse_sequence_config(config: Mapping):
    """``(dataset name, corpus limit or None, SequenceConfig)`` of a ``sequences`` sweep config."""
    from ..training.sequences import SequenceConfig

    if not isinstance(config, Mapping):
        raise DynsysError(f"config must be a table of keys, got {type(config).__name__}")
    rest = dict(config)
    dataset = rest.pop("dataset", "chorales")
    check_choice(dataset, "dataset", SEQUENCE_DATASETS)
    limit = rest.pop("corpus_limit", None)
    if limit is not None:
        limit = _integer(limit, "corpus_limit", minimum=1)
    return dataset, limit, SequenceConfig.from_dict(rest)


def validate_sequence_config(config: Mapping) -> None:
    """Reject a bad ``sequences`` config before anything runs (unknown keys, bad values)."""
    _reject_bad(_parse_sequence_config, config, "sequences")


def sequence_runner(config: Mapping, workdir=None) -> tuple[dict, dict]:
    """One run of :func:`dynsys.training.sequences.train_sequences` (natural data) as a sweep runner.

    ``config`` holds :class:`~dynsys.training.sequences.SequenceConfig` fields, ``dataset``
    (:data:`SEQUENCE_DATASETS`; default ``"chorales"``, loaded from its cache) and optionally
    ``corpus_limit`` (parse only the corpus's first files, without the cache: tests). Checkpoints go to
    ``workdir``, so a killed sweep resumes the run. Metrics are per member (method, seed) at the
    early-stopping epoch.
    """
    from ..training.sequences import train_sequences

    dataset, limit, cfg = _parse_sequence_config(config)
    load = _resolve(SEQUENCE_DATASETS[dataset])
    # corpus_limit: the first files only, parsed afresh (tests; the cache holds the whole corpus)
    data = load(cache=None, _limit=limit) if limit else load(progress=False)
    h = train_sequences(cfg, data, workdir)

    def per_member(a, fn):
        return [float(fn(a[:, k])) if np.isfinite(a[:, k]).any() else float("nan") for k in range(a.shape[1])]

    metrics = {
        "members": [list(m) for m in h.members],
        "best_epoch": h.best_epoch.tolist(),
        "stopped_at": h.stopped_at.tolist(),
        "epochs_done": int(h.train_nll.shape[0]),
        **{f"{split}_nll": h.best[split].tolist() for split in ("train", "valid", "test")},
        "nonfinite": [int(v) for v in np.nansum(h.nonfinite, axis=0)],
        "clip_fraction": per_member(h.clip_fraction, np.nanmean),
        "max_grad_norm": per_member(h.grad_norm_max, np.nanmax),
        "final_lr": per_member(h.lr, lambda a: a[np.isfinite(a)][-1]),
        "seconds": h.seconds,
    }
    arrays = {k: h.epochs[k] for k in h.epochs}
    arrays["alpha"] = h.alpha
    arrays["update_norm"] = h.update_norm
    return metrics, arrays


RUNNERS: dict[str, Runner] = {
    "logistic_lyapunov": Runner(
        "logistic_lyapunov",
        "dynsys.runs.runners:logistic_lyapunov",
        "Lyapunov exponent of the logistic map (a cheap reference runner)",
        keys=frozenset({"r", *_LOGISTIC_DEFAULTS}),
        required=frozenset({"r"}),
        validator="dynsys.runs.runners:validate_logistic_config",
    ),
    "train": Runner(
        "train",
        "dynsys.runs.runners:train_runner",
        "one (ensemble) training run of dynsys.training.train; config keys are TrainConfig's",
        validator="dynsys.runs.runners:validate_train_config",
    ),
    "sequences": Runner(
        "sequences",
        "dynsys.runs.runners:sequence_runner",
        "one run of dynsys.training.sequences.train_sequences on natural data (the Bach chorales)",
        validator="dynsys.runs.runners:validate_sequence_config",
    ),
}


def get_runner(name) -> Runner:
    if isinstance(name, Runner):
        return name
    check_choice(name, "runner", RUNNERS)
    return RUNNERS[name]
