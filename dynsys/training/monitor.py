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

__all__ = ["MonitorConfig", "TrainingMonitor", "task_conditions", "RECORD_NAME"]

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
        from ..analysis.tracking import landscape_orbits
        from ..io import append_record

        u = state.update
        for k in members:
            t0 = time.perf_counter()
            params = self._params_of(state, k)
            m = self.member_map(params, k)
            between = [(t, self._lazy_map(p, k)) for t, p in self.buf_params[k]]
            # crossings are located to their update only around a gradient spike (a clipped update,
            # or a norm above spike_factor times the interval's median): elsewhere to the interval
            run = self.probes[k].run(m, lyapunov=True)  # its visited states seed the fresh starts
            lstep = self.landscapes[k].observe(u, m, between=between, fresh=run[1])
            pstep = self.probes[k].observe(
                u,
                m,
                between=between if self._spiky(k) else (),
                orbits=landscape_orbits(lstep, m),  # the zero input's points: solved, radii known
                run=run,
            )
            info = self.buf_info[k]
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
            self._reset_buffers([k])

    def _spiky(self, k: int) -> bool:
        info = self.buf_info[k]
        if not info:
            return False
        norms = np.array([i[1] for i in info])
        clipped = any(i[2] for i in info)
        finite = norms[np.isfinite(norms)]
        big = finite.size and finite.max() > self.config.spike_factor * np.median(finite)
        return bool(clipped or big or finite.size < norms.size)

    # -- checkpoints --------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        """Arrays (prefixed ``monitor_``) and metadata for the training checkpoint."""
        arrays, meta = {}, {"config": self.config.to_dict(), "last": self.last.tolist(), "members": []}
        for k in range(self.ens.K):
            la, lm = self.landscapes[k].get_state()
            pa, pm = self.probes[k].get_state()
            for key, v in la.items():
                arrays[f"{_PREFIX}{k}_land_{key}"] = v
            for key, v in pa.items():
                arrays[f"{_PREFIX}{k}_probe_{key}"] = v
            mem = {
                "land": lm,
                "probe": pm,
                "buffer": [t for t, _ in self.buf_params[k]],
                "info": self.buf_info[k],
            }
            meta["members"].append(mem)
            if self._last_params[k] is not None:
                for name, v in self._last_params[k].items():
                    arrays[f"{_PREFIX}{k}_last_{name}"] = v
            for i, (_, p) in enumerate(self.buf_params[k]):
                for name, v in p.items():
                    arrays[f"{_PREFIX}{k}_buf{i}_{name}"] = v
        return arrays, meta

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
