"""The trainer: MSGD, MSGD-C and MSGD-CR (paper §3–4), for one network or an ensemble at once.

``train(config)`` trains ``K = len(inits) · len(methods) · len(seeds)`` networks of the same size
in one vectorized pass (stacked weights, batched matmuls through
:func:`dynsys.gradients.bptt_stacked`). Per update and member:

1. a fresh minibatch of the task (one data stream per seed: members with the same seed see the
   same data and start from the same weights when their initialization is the same — a paired
   comparison of the methods);
2. BPTT gradients (eq. 3–5) of the task loss;
3. **MSGD-CR**: ``α · ∂Ω/∂W_rec`` (eq. 9–10, :func:`dynsys.gradients.omega`) added to the
   ``W_rec`` gradient;
4. **MSGD-C / -CR**: norm clipping (Algorithm 1: one L2 norm over all parameters, ``norm > c``);
   every method: a NaN/Inf gradient or a norm above 1e10 is *non-finite* and replaced by the
   policy's update (``"shrink"``: the paper code's ``0.02 · W_rec`` for ``W_rec`` and zero for
   the rest; ``"skip"``: no update), counted, never crashing the run;
5. the optimizer step: plain SGD (MSGD, constant learning rate, the paper), or momentum / Adam.

Every ``eval_every`` updates the members are evaluated on fresh sequences and both success rules
are judged on the same sequences — error below 1 % (the paper) and zero errors (the authors'
code), each confirmed on ``confirm_sequences`` fresh sequences; a member is *solved* (and stops)
when the config's rule (``success``) passes. Between evaluations, ``check_every`` adds cheap
success checks (screen on ``check_sequences``, confirm when the screen passes: the authors' cadence
of 20 updates). The log has, per evaluation and member: mean training loss, error rate, mean and
max gradient norm before clipping, fraction of clipped updates, ``ρ(W_rec)``, ``λ₁(W_rec)``
(largest singular value), Ω and both verdicts; per member, the first update each rule passed.

Checkpoints (one atomic ``.npz`` through :func:`dynsys.io.save_checkpoint`) hold the weights,
optimizer state, the data generators' states (``bit_generator.state`` as JSON) and the log, so a
run that is stopped — Ctrl-C or SIGKILL — resumes to bit-identical results.

The pieces: :class:`~dynsys.training.state.Ensemble` (the fixed part of a run) and
:class:`~dynsys.training.state.TrainState` (the mutable part, with its checkpoint round trip);
:func:`update_ensemble` (steps 1–5 above); :func:`~dynsys.training.evaluation.evaluate_ensemble`
(the periodic evaluation); :func:`train`, the loop that ties them together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .._validate import progress_loop, progress_postfix
from ..errors import DynsysError
from .config import TrainConfig
from .evaluation import check_ensemble, evaluate_ensemble
from .history import TrainingHistory
from .runtime import blas_threads, deferred_interrupts
from .state import CHECKPOINT_KIND, Ensemble, TrainState
from .step import training_step
from .tasks import TaskBatch

__all__ = ["train", "update_ensemble"]

#: per-member telemetry of one update (fields of :class:`~dynsys.training.StepInfo`)
_INFO_FIELDS = ("loss", "norm", "clipped", "nonfinite", "omega")


# -- one update of the ensemble ------------------------------------------------------------
def update_ensemble(state: TrainState, workspaces: dict | None = None) -> dict:
    """One update of every active member (steps 1–5 of :mod:`dynsys.training.trainer`), in place.

    Draws one minibatch per data stream that an active member uses, stacks the members whose
    sequences have the same length into one :func:`~dynsys.training.training_step`, writes the
    new weights and optimizer state back, and adds the update's telemetry to the accumulators and
    traces of ``state``.

    Parameters
    ----------
    state : TrainState
    workspaces : dict, optional
        BPTT buffers reused between updates, one per stack size (scratch, not saved).

    Returns
    -------
    dict
        The update's telemetry per member (``loss``, pre-clip ``norm``, ``clipped``,
        ``nonfinite``, ``omega``; NaN for inactive members).
    """
    ens = state.ensemble
    workspaces = {} if workspaces is None else workspaces
    active = np.flatnonzero(state.active)
    batches = _draw_minibatches(state, active)
    info = {k: np.full(ens.K, np.nan) for k in _INFO_FIELDS}
    for idx in _same_length_groups(ens, batches, active):
        inputs, targets = _stack_minibatches(ens, batches, idx)
        new, opt, step_info = training_step(
            {k: v[idx] for k, v in state.params.items()},
            inputs,
            targets,
            ens.task,
            ens.activation,
            ens.options.select(idx),
            opt_state={k: v[idx] for k, v in state.opt_state.items()},
            workspace=workspaces.setdefault(len(idx), {}),
            cell=ens.cell,
        )
        for k, v in new.items():
            state.params[k][idx] = v
        for k, v in opt.items():
            if k not in state.opt_state:
                state.opt_state[k] = np.zeros((ens.K,) + v.shape[1:])
            state.opt_state[k][idx] = v
        for k in info:
            info[k][idx] = getattr(step_info, k)
    state.update += 1
    _log_update(state, info)
    return info


def _draw_minibatches(state: TrainState, active: np.ndarray) -> dict[int, TaskBatch]:
    """One fresh minibatch from each data stream that an active member uses (stream order)."""
    ens, cfg = state.ensemble, state.ensemble.config
    return {
        j: ens.task.generate(state.rngs[j], cfg.length, cfg.batch)
        for j in range(len(ens.seeds))
        if np.any(ens.seed_index[active] == j)
    }


def _same_length_groups(ens: Ensemble, batches: dict[int, TaskBatch], active: np.ndarray) -> list:
    """The active members grouped by the length of their minibatch (one BPTT pass per group)."""
    by_T: dict[int, list[int]] = {}
    for i in active:
        by_T.setdefault(batches[ens.seed_index[i]].steps, []).append(i)
    return [np.array(idx) for idx in by_T.values()]


def _stack_minibatches(ens: Ensemble, batches: dict[int, TaskBatch], idx: np.ndarray):
    """Inputs and targets of members ``idx``: shared when they use one stream, else stacked on axis 1."""
    js = ens.seed_index[idx]
    if np.all(js == js[0]):
        return batches[js[0]].inputs, batches[js[0]].targets
    inputs = np.stack([batches[j].inputs for j in js], axis=1)
    targets = np.stack([batches[j].targets for j in js], axis=1)
    return inputs, targets


def _log_update(state: TrainState, info: dict) -> None:
    """Add one update's telemetry of the active members to the accumulators, counters and traces."""
    a, act = state.acc, state.active
    finite = np.isfinite(info["norm"])
    a["loss"][act] += info["loss"][act]
    a["norm"][act] += np.where(finite, info["norm"], 0.0)[act]
    a["norm_max"][act] = np.maximum(a["norm_max"][act], np.where(finite, info["norm"], np.inf)[act])
    a["clipped"][act] += info["clipped"][act]
    a["omega"][act] += np.nan_to_num(info["omega"][act])
    a["count"][act] += 1
    state.nonfinite[act] += info["nonfinite"][act].astype(np.int64)
    state.done[act] += 1
    if state.traces is not None and state.update <= state.ensemble.config.updates:
        row = state.update - 1
        state.traces["update_loss"][row] = info["loss"]
        state.traces["update_norm"][row] = info["norm"]
        state.traces["update_clipped"][row] = info["clipped"]


# -- resuming --------------------------------------------------------------------------------
def _resume(ckpt: Path, out, ens: Ensemble) -> TrainState:
    """The state saved in ``ckpt``, after checking that it is a checkpoint of the same config."""
    from .. import io

    arrays, meta = io.load_checkpoint(ckpt)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DynsysError(f"out: {ckpt} is not a dynsys training checkpoint")
    # a field added to TrainConfig after the checkpoint was written has its default there
    saved = {**TrainConfig.defaults(), **meta["config"]}
    mine = ens.config.resume_dict()
    diff = sorted(k for k in mine if json.dumps(saved.get(k)) != json.dumps(mine[k]))
    if diff:
        changes = "; ".join(f"{k}: {_short_json(saved.get(k))} → {_short_json(mine[k])}" for k in diff)
        raise DynsysError(
            f"out: {out} holds a run with a different config ({changes}); use another out folder "
            "(pass resume=False, or --fresh on the command line, to start over)"
        )
    return TrainState.from_checkpoint(ens, arrays, meta)


def _short_json(value) -> str:
    """A config value as one short line of JSON (for the resume-conflict message)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _latest_eval(state: TrainState) -> dict:
    """The latest evaluation's loss and error (means over the members evaluated), for the bar."""
    out = {}
    for key in ("loss", "error"):
        row = state.evals[key][-1] if len(state.evals[key]) else np.full(1, np.nan)
        vals = row[np.isfinite(row)]
        out[key] = f"{float(vals.mean()):.4g}" if vals.size else "n/a"
    return out


# -- the loop ----------------------------------------------------------------------------------
def train(
    config: TrainConfig | Mapping,
    out=None,
    *,
    resume: bool = True,
    progress: bool | Callable | None = None,
    stop_after: int | None = None,
    monitor=None,
    monitor_background: bool | None = None,
) -> TrainingHistory:
    """Train the ensemble described by ``config``.

    Parameters
    ----------
    config : TrainConfig or dict
    out : str or Path, optional
        Run folder for ``checkpoint.npz``; with ``resume=True`` an existing checkpoint of the same
        config is continued (a larger ``updates`` extends a finished run).
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`): True (a tqdm
        bar), False/None (silent) or ``progress(iterable, *, total=None, desc=None, initial=0)``
        returning an iterable over the update indices (closed, if it has ``close()``, when the
        loop stops). After each evaluation the bar shows the latest mean training loss and
        screening error (over the members evaluated) when the iterable has ``set_postfix``
        (tqdm's bars do; :func:`dynsys._validate.progress_postfix`).
    stop_after : int, optional
        Stop (with a checkpoint) after this many updates in this call (tests, time slicing).
    monitor : MonitorConfig, dict or True, optional
        Watch the attractor landscape of every member as the run goes
        (:mod:`dynsys.training.monitor`; True: the default options). The rows go to
        ``out/monitor.jsonl`` and to ``history.monitor``; the monitor's state is saved with the
        checkpoints and resumes with the run. Training itself is unchanged.
    monitor_background : bool, optional
        Compute the monitor's rows in a worker process while training goes on
        (:class:`~dynsys.training.monitor.BackgroundMonitor`: the same rows, bit for bit, at
        little cost in time when a second CPU is free). Default (None): where it can
        (:func:`~dynsys.training.monitor.background_available`); False: in the training process.

    Returns
    -------
    TrainingHistory
        Ctrl-C or SIGTERM: the current update is finished, a checkpoint saved, and
        ``KeyboardInterrupt`` raised (a second signal raises at once, keeping the last checkpoint).

    Examples
    --------
    >>> cfg = TrainConfig(task="temporal_order", length=20, n_hidden=8, batch=5, updates=20,
    ...                   methods=("msgd", "msgd-c", "msgd-cr"), seeds=(0, 1), eval_every=10,
    ...                   eval_sequences=50, confirm_sequences=0)
    >>> h = train(cfg)
    >>> h.error.shape, h.members[5]       # (evaluations, members)
    ((2, 6), ('smart_tanh', 'msgd-cr', 1))
    """
    from .. import io

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    ens = Ensemble.of(cfg)
    ckpt = Path(out) / "checkpoint.npz" if out is not None else None
    mon = None
    if monitor is not None and monitor is not False:
        from .monitor import (
            RECORD_NAME,
            BackgroundMonitor,
            MonitorConfig,
            TrainingMonitor,
            background_available,
        )

        mcfg = MonitorConfig() if monitor is True else MonitorConfig.from_dict(monitor)
        if monitor_background is None:
            monitor_background = background_available()
        elif not isinstance(monitor_background, (bool, np.bool_)):
            raise DynsysError(f"monitor_background must be true, false or None, got {monitor_background!r}")
        elif monitor_background and not background_available():
            raise DynsysError(
                "monitor_background: needs 'fork' processes, two or more CPUs and a non-daemonic process"
            )
        kind = BackgroundMonitor if monitor_background else TrainingMonitor
        mon = kind(ens, mcfg, Path(out) / RECORD_NAME if out is not None else None)
    if ckpt is not None and resume and ckpt.exists():
        state = _resume(ckpt, out, ens)
        if mon is not None:
            arrays, meta = io.load_checkpoint(ckpt)
            if "monitor" in meta:
                mon.restore(arrays, meta["monitor"])
    else:
        state = TrainState.initial(ens)
        if mon is not None and mon.record is not None and mon.record.exists():
            io.truncate_records(mon.record, upto=-1, name="monitor record")  # a fresh run: no old rows
    try:
        if mon is not None:
            mon.start(state)
        history = _train_loop(cfg, state, ckpt, mon, progress, stop_after)
    except BaseException:
        if mon is not None:
            try:
                mon.close()  # a background monitor's rows are waited for (an interrupt loses none)
            except DynsysError:
                pass  # the first error is the one to report
        raise
    if mon is not None:
        mon.close()
    return history


def _train_loop(cfg, state, ckpt, mon, progress, stop_after):
    """The updates of :func:`train` from ``state`` on, checkpoints and monitor included."""
    from .. import io

    def save():
        if ckpt is not None:
            arrays, meta = state.checkpoint()
            if mon is not None:
                m_arrays, m_meta = mon.state()
                arrays.update(m_arrays)
                meta["monitor"] = m_meta
            io.save_checkpoint(ckpt, arrays, meta)

    start = min(state.update, cfg.updates)
    todo = range(start, cfg.updates)
    workspaces: dict = {}  # BPTT buffers reused between updates, per stack size
    # Ctrl-C / SIGTERM are deferred to the end of the current update, so the checkpoint written
    # before stopping always holds a whole number of updates (a second signal stops at once and
    # keeps the last checkpoint)
    with (
        blas_threads(1),
        deferred_interrupts() as guard,
        progress_loop(progress, todo, total=cfg.updates, initial=start, desc=f"train {cfg.task}") as updates,
    ):
        for n_this, _ in enumerate(updates):
            if not state.active.any() or (stop_after is not None and n_this >= stop_after):
                break
            was_active = state.active.copy()
            info = update_ensemble(state, workspaces)
            at_eval = state.update % cfg.eval_every == 0 or state.update == cfg.updates
            if at_eval:
                evaluate_ensemble(state)
                progress_postfix(updates, **_latest_eval(state))
            elif cfg.check_every and state.update % cfg.check_every == 0:
                check_ensemble(state)
            if mon is not None:
                mon.after_update(state, info, was_active)
            if guard.signum is not None:
                save()
                guard.check()
            if at_eval or (cfg.checkpoint_every and state.update % cfg.checkpoint_every == 0):
                save()
        if guard.signum is not None:  # a signal after the last check
            save()
            guard.check()
    save()
    history = state.history()
    if mon is not None:
        history.monitor = mon.rows
    return history
