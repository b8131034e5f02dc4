"""The training monitor: the attractor landscape of every member along a training run (issue 15).

``train(config, out, monitor=MonitorConfig())`` (and ``dynsys train --monitor``, and the sweep
runner's ``monitor`` key) looks at the networks every ``every`` updates (default 25) and writes one
row per member and checkpoint to ``out/monitor.jsonl`` (JSON lines, :mod:`dynsys.io.records`:
crash-safe, readable without dynsys). A row holds:

* ``update``, ``member`` and the member's ``init``/``method``/``seed``;
* ``norms``, ``clipped``, ``losses``: the pre-clip gradient norm, the clipping flag and the loss of
  every update since the previous row (update ``update − len(norms) + 1`` … ``update``);
* ``landscape``: per constant input (:func:`task_conditions`: the zero input and each input symbol
  of the task) the number of fixed points and 2-cycles, how many are stable, and their leading
  ``|μ|`` (:class:`~dynsys.analysis.tracking.LandscapeTracker`), and ``leading_radius`` (the
  largest ``|μ|`` over the zero-input fixed points);
* ``events``: the bifurcations since the previous row — ``kind``, ``condition``, ``period``,
  ``time`` (``t − 1 + s`` on the update ``t`` it happened in, located by bisection over the stored
  per-update weights and continuation on that update) and the critical multiplier;
* ``probes``: for a fixed batch of ``n_probes`` task sequences, the attractors their final states
  end on under zero input, the probes that changed attractor since the previous row and the update
  at which each did (bisection over the stored weights), and the top Lyapunov exponent of the
  input-driven trajectories (mean and max over probes);
* ``seconds``: the time the monitor spent on the row.

The monitor only reads the weights: a monitored run trains bit for bit like an unmonitored one.
Where a second CPU is there, the rows are computed by a worker process beside the training
(:class:`BackgroundMonitor`, ``train(..., monitor_background=None)``, the default; ``False`` or
``dynsys train --monitor-inline``: in the training process): the same rows, bit for bit, and
training waits for them only at a checkpoint and at the end.
Its state (the tracked points, the probe labels, the stored weights since the last row) is saved in
the training checkpoint, so a resumed run continues the record exactly (rows after the checkpoint
are cut first, :func:`dynsys.io.truncate_records`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validate import check_positive_int
from ..errors import DynsysError
from .cells import build_map
from .tasks import Task

__all__ = [
    "MonitorConfig",
    "TrainingMonitor",
    "BackgroundMonitor",
    "background_available",
    "task_conditions",
    "RECORD_NAME",
]

#: the record's file name in a run folder
RECORD_NAME = "monitor.jsonl"
_PREFIX = "monitor_"
#: tasks with more input symbols than this are watched under the zero input only
_MAX_SYMBOLS = 8


@dataclass(frozen=True)
class MonitorConfig:
    """Options of the training monitor (JSON-able).

    Attributes
    ----------
    every : int
        Updates between rows (default 25).
    n_probes : int
        Probe sequences (one task batch, drawn once from ``seed``).
    probe_steps : int
        Free-run budget for labelling a probe's attractor.
    n_fresh : int
        Fresh Newton starts per input condition and period at every row.
    period2 : bool
        Follow the 2-cycles too.
    inputs : {"symbols", "zero"}
        Constant inputs watched: the zero input and each input symbol (:func:`task_conditions`), or
        the zero input only.
    localize : bool
        Keep the weights of every update between rows, to locate bifurcations to their update
        (else they are located on the straight line between two rows), and basin crossings in an
        interval with a gradient spike (see ``spike_factor``; elsewhere a crossing is dated to
        the row that sees it).
    spike_factor : float
        An interval between rows has a gradient spike when an update in it was clipped, had a
        non-finite gradient, or had a norm above ``spike_factor`` times the interval's median.
    seed : int
        Seed of the probes and of the fresh starts.
    """

    every: int = 25
    n_probes: int = 32
    probe_steps: int = 400
    n_fresh: int = 8
    period2: bool = True
    inputs: str = "symbols"
    localize: bool = True
    spike_factor: float = 5.0
    seed: int = 0

    def __post_init__(self):
        for name in ("every", "n_probes", "probe_steps", "n_fresh"):
            check_positive_int(getattr(self, name), f"monitor.{name}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise DynsysError(f"monitor.seed must be a non-negative integer, got {self.seed!r}")
        if (
            isinstance(self.spike_factor, bool)
            or not isinstance(self.spike_factor, (int, float))
            or not (np.isfinite(self.spike_factor) and self.spike_factor >= 1.0)
        ):
            raise DynsysError(f"monitor.spike_factor must be a number >= 1, got {self.spike_factor!r}")
        if self.inputs not in ("symbols", "zero"):
            raise DynsysError(f"monitor.inputs must be 'symbols' or 'zero', got {self.inputs!r}")
        for name in ("period2", "localize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise DynsysError(f"monitor.{name} must be true or false, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping | None) -> MonitorConfig:
        if d is None:
            return cls()
        if isinstance(d, MonitorConfig):
            return d
        if not isinstance(d, Mapping):
            raise DynsysError(f"monitor must be a mapping of MonitorConfig fields, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise DynsysError(
                f"monitor: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})"
            )
        return cls(**dict(d))


def task_conditions(task: Task, inputs: str = "symbols") -> list:
    """The constant inputs the monitor watches for ``task``.

    ``"zero"`` (the zero input: the autonomous map, the memory condition of the flip-flop) first;
    with ``inputs="symbols"`` then each input symbol: ``±e_i`` for the flip-flop's pulses, ``e_i``
    for the other tasks with at most 8 inputs (the one-hot symbols of temporal order, the value and
    marker channels of addition).

    Examples
    --------
    >>> from dynsys.training import get_task
    >>> [c.name for c in task_conditions(get_task("temporal_order"))]
    ['zero', 'symbol 0', 'symbol 1', 'symbol 2', 'symbol 3', 'symbol 4', 'symbol 5']
    """
    from ..analysis.tracking import Condition  # lazy: the analysis stack loads when a run is monitored

    conds = [Condition("zero", None)]
    if inputs == "zero" or task.n_in > _MAX_SYMBOLS:
        return conds
    eye = np.eye(task.n_in)
    if task.name.startswith("flipflop"):
        for i in range(task.n_in):
            conds += [Condition(f"+{i}", eye[i]), Condition(f"-{i}", -eye[i])]
    else:
        conds += [Condition(f"symbol {i}", eye[i]) for i in range(task.n_in)]
    return conds


class TrainingMonitor:
    """The monitor of one training run (created by :func:`dynsys.training.train`; see the module docstring).

    Parameters
    ----------
    ensemble : Ensemble
    config : MonitorConfig
    record : Path, optional
        The JSON-lines record (None: rows are kept in :attr:`rows` only).
    """

    def __init__(self, ensemble, config: MonitorConfig, record: Path | None = None):
        from ..analysis.tracking import LandscapeTracker, ProbeTracker

        self.ens = ensemble
        self.config = MonitorConfig.from_dict(config)
        self.record = None if record is None else Path(record)
        self.rows: list[dict] = []
        cfg = ensemble.config
        rng = np.random.default_rng([self.config.seed, 15])
        batch = ensemble.task.generate(rng, cfg.length, self.config.n_probes)
        self.conditions = task_conditions(ensemble.task, self.config.inputs)
        self.landscapes = [
            LandscapeTracker(
                self.conditions,
                period2=self.config.period2,
                n_fresh=self.config.n_fresh,
                rng=np.random.default_rng([self.config.seed, 16, k]),
            )
            for k in range(ensemble.K)
        ]
        self.probes = [ProbeTracker(batch.inputs, steps=self.config.probe_steps) for _ in range(ensemble.K)]
        self._reset_buffers()
        self.last: np.ndarray = np.full(ensemble.K, -1, dtype=np.int64)  # update of each member's last row
        self._last_params: list = [None] * ensemble.K  # the weights of each member's last row

    def _reset_buffers(self, members=None):
        K = self.ens.K
        if members is None:
            self.buf_params = [[] for _ in range(K)]
            self.buf_info = [[] for _ in range(K)]
            return
        for k in members:
            self.buf_params[k] = []
            self.buf_info[k] = []

    # -- the map of a member ----------------------------------------------------------------
    def member_map(self, params: Mapping, k: int):
        init = self.ens.members[k][0]
        from .cells import cell_activation

        return build_map(self.ens.cell, params, cell_activation(self.ens.cell, init))

    def _lazy_map(self, params: Mapping, k: int):
        return lambda: self.member_map(params, k)

    @staticmethod
    def _params_of(state, k: int) -> dict:
        return {name: np.array(v[k]) for name, v in state.params.items()}

    # -- hooks of the training loop ---------------------------------------------------------
    def start(self, state) -> None:
        """Before the first update of this call: the first row (a fresh run) or the record cut to the state."""
        if self.record is not None and self.record.exists():
            from ..io import truncate_records

            # rows after the checkpoint are recomputed; the earlier ones are the run's so far
            self.rows = list(truncate_records(self.record, upto=state.update, name="monitor record").rows)
        if not (self.last >= 0).any():
            self.observe(state, np.flatnonzero(state.active))

    def after_update(self, state, info: Mapping, was_active: np.ndarray) -> None:
        """After one update: buffer the weights and telemetry; a row at every ``every``-th update."""
        u = state.update
        for k in np.flatnonzero(was_active):
            self.buf_info[k].append(
                (u, float(info["norm"][k]), bool(info["clipped"][k]), float(info["loss"][k]))
            )
        due = u % self.config.every == 0 or u >= self.ens.config.updates
        stopped = was_active & ~state.active
        rows = np.flatnonzero(was_active) if due else np.flatnonzero(stopped)
        if rows.size:
            self.observe(state, rows)
        if self.config.localize:
            for k in np.flatnonzero(was_active & state.active):
                if k not in rows:
                    self.buf_params[k].append((u, self._params_of(state, k)))

    def observe(self, state, members) -> None:
        """One row for each of ``members`` at the current update."""
        u = int(state.update)
        jobs = []
        for k in members:
            k = int(k)
            jobs.append((k, self._params_of(state, k), self.buf_params[k], self.buf_info[k]))
            self.last[k] = u
            self._reset_buffers([k])
        self._submit(u, jobs)

    def _submit(self, u: int, jobs: list) -> None:
        """Compute the rows of ``jobs`` (:class:`BackgroundMonitor` hands them to its worker)."""
        self._observe_jobs(u, jobs)

    def _observe_jobs(self, u: int, jobs: list) -> None:
        """The rows at update ``u`` of ``jobs``: ``(member, weights, buffered weights, telemetry)``."""
        from ..analysis.tracking import landscape_orbits
        from ..io import append_record

        for k, params, buf, info in jobs:
            t0 = time.perf_counter()
            m = self.member_map(params, k)
            between = [(t, self._lazy_map(p, k)) for t, p in buf]
            run = self.probes[k].run(m, lyapunov=True)  # its visited states seed the fresh starts
            lstep = self.landscapes[k].observe(u, m, between=between, fresh=run[1])
            pstep = self.probes[k].observe(
                u,
                m,
                # crossings are located to their update only around a gradient spike (a clipped
                # update, or a norm above spike_factor times the interval's median)
                between=between if self._spiky(info) else (),
                orbits=landscape_orbits(lstep, m),  # the zero input's points: solved, radii known
                run=run,
            )
            init, method, seed = self.ens.members[k]
            ev = [e.to_dict() for e in lstep.events]
            row = {
                "update": int(u),
                "member": int(k),
                "init": init,
                "method": method,
                "seed": int(seed),
                "norms": [i[1] for i in info],
                "clipped": [int(i[2]) for i in info],
                "losses": [i[3] for i in info],
                "landscape": lstep.to_dict(),
                "events": ev,
                "probes": pstep.to_dict(),
                "seconds": time.perf_counter() - t0,
            }
            self.rows.append(row)
            if self.record is not None:
                append_record(self.record, row, name="monitor record", parents=True)
            self.last[k] = u
            self._last_params[k] = params

    def _spiky(self, info: list) -> bool:
        if not info:
            return False
        norms = np.array([i[1] for i in info])
        clipped = any(i[2] for i in info)
        finite = norms[np.isfinite(norms)]
        big = finite.size and finite.max() > self.config.spike_factor * np.median(finite)
        return bool(clipped or big or finite.size < norms.size)

    def close(self) -> None:
        """Every row computed (nothing to wait for here; see :class:`BackgroundMonitor`)."""

    # -- checkpoints --------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        """Arrays (prefixed ``monitor_``) and metadata for the training checkpoint."""
        arrays, meta = self._tracker_state()
        self._add_buffers(arrays, meta)
        return arrays, meta

    def _tracker_state(self) -> tuple[dict, dict]:
        """The trackers' part of :meth:`state` (what the rows so far leave behind)."""
        arrays, meta = {}, {"config": self.config.to_dict(), "last": self.last.tolist(), "members": []}
        for k in range(self.ens.K):
            la, lm = self.landscapes[k].get_state()
            pa, pm = self.probes[k].get_state()
            for key, v in la.items():
                arrays[f"{_PREFIX}{k}_land_{key}"] = v
            for key, v in pa.items():
                arrays[f"{_PREFIX}{k}_probe_{key}"] = v
            meta["members"].append({"land": lm, "probe": pm})
            if self._last_params[k] is not None:
                for name, v in self._last_params[k].items():
                    arrays[f"{_PREFIX}{k}_last_{name}"] = v
        return arrays, meta

    def _add_buffers(self, arrays: dict, meta: dict) -> None:
        """The buffers' part of :meth:`state`: the weights and telemetry since each member's last row."""
        meta["last"] = self.last.tolist()
        for k, mem in enumerate(meta["members"]):
            mem["buffer"] = [t for t, _ in self.buf_params[k]]
            mem["info"] = self.buf_info[k]
            for i, (_, p) in enumerate(self.buf_params[k]):
                for name, v in p.items():
                    arrays[f"{_PREFIX}{k}_buf{i}_{name}"] = v

    def restore(self, arrays: Mapping, meta: Mapping) -> None:
        """Continue from :meth:`state` (saved in a checkpoint); refuses another monitor config."""
        saved = MonitorConfig.from_dict(meta["config"])
        if saved != self.config:
            raise DynsysError(
                f"monitor: the run was monitored with {json.dumps(saved.to_dict())}; resume it with the same "
                "monitor options (or start over with --fresh)"
            )
        self.last = np.asarray(meta["last"], dtype=np.int64)
        for k, mem in enumerate(meta["members"]):

            def pick(tag, k=k):
                pre = f"{_PREFIX}{k}_{tag}_"
                return {key[len(pre) :]: v for key, v in arrays.items() if key.startswith(pre)}

            last = pick("last")
            lmap = self.member_map(last, k) if last else None
            self._last_params[k] = last or None
            self.landscapes[k].set_state(pick("land"), mem["land"], lmap)
            self.probes[k].set_state(pick("probe"), mem["probe"])
            self.buf_params[k] = [(t, pick(f"buf{i}")) for i, t in enumerate(mem["buffer"])]
            self.buf_info[k] = [tuple(x) for x in mem["info"]]


def background_available() -> bool:
    """Whether :class:`BackgroundMonitor` can run here: ``fork`` processes, two or more CPUs, and
    a process that may have children (not a daemonic pool worker)."""
    import multiprocessing as mp
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return "fork" in mp.get_all_start_methods() and cpus >= 2 and not mp.current_process().daemon


def _worker_main(monitor: TrainingMonitor, jobs, results, parent: int) -> None:
    """The worker of :class:`BackgroundMonitor`: rows and tracker states on request, in order."""
    import os
    import queue
    import signal

    from .runtime import blas_threads

    # the parent decides when to stop (Ctrl-C and SIGTERM reach the whole process group: the
    # parent defers them to the end of an update and then asks for the state it checkpoints)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    monitor._proc = None  # the worker computes its rows itself
    monitor.rows = []
    with blas_threads(1):
        while True:
            try:
                msg = jobs.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # the trainer is gone without saying so
                    return
                continue
            if msg is None:
                return
            try:
                if msg[0] == "rows":
                    monitor._observe_jobs(msg[1], msg[2])
                    results.put(("rows", monitor.rows))
                    monitor.rows = []
                else:  # "state"
                    results.put(("state", monitor._tracker_state()))
            except BaseException as e:  # reported to the trainer, which raises it
                results.put(("error", f"{type(e).__name__}: {e}"))
                return


class BackgroundMonitor(TrainingMonitor):
    """A :class:`TrainingMonitor` whose rows are computed by a worker process while training goes on.

    The monitor's analysis only reads the weights, so it can run beside the training: at a row
    the trainer hands the member's weights, the weights buffered since its last row and the
    telemetry to a forked worker that holds the trackers, and goes on with the next update. The
    worker writes the record; its rows are the ones :class:`TrainingMonitor` computes (the same
    code, the same inputs, in the same order: bit for bit). A checkpoint waits for the rows before
    it and takes the trackers' state from the worker. Chosen by :func:`~dynsys.training.train`
    where :func:`background_available` (``monitor_background``).
    """

    def __init__(self, ensemble, config: MonitorConfig, record: Path | None = None):
        super().__init__(ensemble, config, record)
        self._proc = None
        self._jobs = self._results = None
        self._pending = 0  # row messages sent and not yet answered

    @property
    def rows(self) -> list[dict]:
        """Every row so far (waits for the worker's)."""
        self._sync()
        return self._rows

    @rows.setter
    def rows(self, value: list) -> None:
        self._rows = value

    def start(self, state) -> None:
        super().start(state)  # the record cut to the state and a fresh run's first row, here
        import multiprocessing as mp
        import os

        ctx = mp.get_context("fork")
        self._jobs, self._results = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(
            target=_worker_main,
            args=(self, self._jobs, self._results, os.getpid()),
            name="dynsys-monitor",
            daemon=True,
        )
        self._proc.start()

    def _submit(self, u: int, jobs: list) -> None:
        if self._proc is None:  # before start (a fresh run's first row): here
            super()._submit(u, jobs)
            return
        self._jobs.put(("rows", u, jobs))
        self._pending += 1
        self._drain(block=False)

    def _reply(self, block: bool):
        import queue

        while True:
            try:
                return self._results.get(timeout=1.0 if block else 0.0)
            except queue.Empty:
                if not block:
                    return None
                if not self._proc.is_alive():
                    raise DynsysError(
                        f"monitor: the worker process ended (exit code {self._proc.exitcode}) before answering"
                    ) from None

    def _take(self, msg) -> None:
        kind, payload = msg
        if kind == "error":
            self._stop()
            raise DynsysError(f"monitor worker: {payload}")
        if kind != "rows":
            raise DynsysError(f"monitor: unexpected {kind!r} from the worker")
        self._rows.extend(payload)
        self._pending -= 1

    def _drain(self, block: bool) -> None:
        while self._pending and (msg := self._reply(block)) is not None:
            self._take(msg)

    def _sync(self) -> None:
        if self._proc is not None:
            self._drain(block=True)

    def state(self) -> tuple[dict, dict]:
        if self._proc is None:
            return super().state()
        self._jobs.put(("state",))
        while True:
            msg = self._reply(block=True)
            if msg[0] == "state":
                arrays, meta = msg[1]
                break
            self._take(msg)
        self._add_buffers(arrays, meta)
        return arrays, meta

    def close(self) -> None:
        """Wait for the rows and stop the worker."""
        if self._proc is None:
            return
        try:
            self._sync()
        finally:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._jobs.put(None)
        except (OSError, ValueError):
            pass
        proc.join(timeout=10.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
        for q in (self._jobs, self._results):
            q.cancel_join_thread()  # the worker is gone: nothing left to deliver
            q.close()
