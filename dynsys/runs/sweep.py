"""Sweeps: many runs of one registered runner over a grid of configs, resumable, on a local process
pool (default) or a Dask cluster.

A sweep is a *runner* (a registered function ``config -> (metrics, arrays)``,
:mod:`dynsys.runs.runners`) and a list of configs. Results go to a
:class:`~dynsys.runs.store.ResultStore` (SQLite, WAL), one row per run keyed by a hash of
``(runner, config)`` (:func:`run_key`). Rerunning a sweep skips the runs already ``done``; a run
that raised is recorded as ``failed`` with its error and does not stop the sweep (it is retried by
the next sweep unless ``retry_failed=False``). Only the parent process writes the store.

Sweep files (TOML)
------------------
::

    [sweep]
    runner = "logistic_lyapunov"   # a name from RUNNERS (never an import path: no code from files)
    store = "lyap.sqlite"          # relative to the TOML file

    [base]                         # fixed config keys
    steps = 20000

    [grid]                         # cartesian product of these lists
    r = [3.5, 3.7, 4.0]
    seed = [0, 1]

Executors: ``executor="local"`` (a process pool, one worker per core by default) or ``"dask"`` (a
``distributed.Client`` on ``scheduler="tcp://HOST:PORT"``, or a new ``LocalCluster`` when no
scheduler is given). The Dask executor needs the optional ``dask[distributed]`` extra.
"""

from __future__ import annotations

import datetime
import itertools
import os
import re
import signal
import threading
import time
import tomllib
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import check_choice, check_positive_int, progress_loop, progress_wrapper
from ..errors import DynsysError
from .runners import Runner, _resolve, get_runner

__all__ = [
    "EXECUTORS",
    "SweepSpec",
    "SweepSummary",
    "load_sweep",
    "expand_grid",
    "run_sweep",
    "sweep_results",
    "run_key",
]

#: where a sweep runs: a local process pool or a Dask cluster
EXECUTORS = ("local", "dask")


def run_key(runner: str, config: Mapping) -> str:
    """The store key of a run: a hash of the runner name and the canonical config."""
    from .store import config_hash

    return config_hash({"runner": runner, "config": dict(config)})


def expand_grid(base: Mapping, grid: Mapping[str, Sequence]) -> list[dict]:
    """The cartesian product of ``grid``'s lists, each merged into ``base``."""
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise DynsysError(f"grid.{key} must be a non-empty list, got {values!r}")
        if key in base:
            raise DynsysError(f"key {key!r} is in both [base] and [grid]")
    keys = list(grid)
    return [{**base, **dict(zip(keys, combo))} for combo in itertools.product(*(grid[k] for k in keys))]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: runner name, configs and store path.

    ``workdirs`` optionally names each run's private folder (same order as ``configs``); by default
    a run checkpoints in ``<store>.work/<key>``. An experiment that keeps its own folders (so that a
    larger budget resumes an earlier run) passes them here. ``source`` names where the configs come
    from (the sweep file, set by :func:`load_sweep`) in error messages.

    Every config is checked when the spec is made (its keys and the runner's validator), and again
    by :func:`run_sweep` before any run starts; an error names the grid point:
    ``sweep fig7.toml: run 3 of 12 (r='abc'): r must be a number, got 'abc'``.
    """

    runner: str
    configs: tuple[dict, ...]
    store: Path
    workdirs: tuple | None = None
    source: str | None = None

    def __post_init__(self):
        where = f"sweep {self.source}" if self.source else "sweep"
        try:
            runner = get_runner(self.runner)
        except DynsysError as exc:
            raise DynsysError(f"{where}: {exc}") from None
        if not isinstance(self.configs, (tuple, list)) or not self.configs:
            raise DynsysError(f"{where}: the sweep has no configs")
        _check_configs(runner, self.configs, where)
        if self.workdirs is not None and len(self.workdirs) != len(self.configs):
            raise DynsysError(
                f"{where}: workdirs has {len(self.workdirs)} entries for {len(self.configs)} configs"
            )


def _grid_point(configs: Sequence[Mapping], i: int) -> str:
    """``run 3 of 12 (r='abc', seed=1)``: the position of config ``i`` and the keys that vary."""
    label = f"run {i + 1} of {len(configs)}"
    if len(configs) < 2 or not isinstance(configs[i], Mapping):
        return label
    cfg = configs[i]

    def varies(k) -> bool:
        try:
            return any(not isinstance(c, Mapping) or k not in c or bool(c[k] != cfg[k]) for c in configs)
        except (TypeError, ValueError):  # values that do not compare (arrays): show them
            return True

    keys = [k for k in cfg if varies(k)]
    if not keys:
        return label
    point = ", ".join(f"{k}={cfg[k]!r}" for k in keys)
    point = " ".join(point.split())
    return f"{label} ({point if len(point) <= 120 else point[:117] + '...'})"


def _check_configs(runner: Runner, configs: Sequence, where: str) -> None:
    """Check every config (keys, then the runner's validator); the first bad one raises, naming it."""
    for i, cfg in enumerate(configs):
        try:
            _check_keys(runner, cfg)
        except DynsysError as exc:
            raise DynsysError(f"{where}: {_grid_point(configs, i)}: {exc}") from None


def _check_keys(runner: Runner, cfg: Mapping) -> None:
    if not isinstance(cfg, Mapping):
        raise DynsysError(f"a config must be a table of keys, got {type(cfg).__name__}")
    if runner.keys is not None:
        unknown = sorted(map(str, set(cfg) - runner.keys))
        if unknown:
            raise DynsysError(
                f"unknown config key(s) {', '.join(unknown)} for runner {runner.name!r}; "
                f"known: {', '.join(sorted(runner.keys))}"
            )
    missing = sorted(runner.required - set(cfg))
    if missing:
        raise DynsysError(f"missing config key(s) {', '.join(missing)} for runner {runner.name!r}")
    if runner.validator:
        try:
            _resolve(runner.validator)(cfg)
        except DynsysError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            msg = " ".join(str(exc).split()) or type(exc).__name__
            raise DynsysError(f"bad config for runner {runner.name!r}: {msg}") from None


def _check_store_path(store: Path, where: str) -> None:
    """Refuse a store path that is a folder or goes through a file (before anything is created)."""
    if store.is_dir():
        raise DynsysError(f"{where}: store {store} is a folder, expected a file path")
    for parent in store.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DynsysError(f"{where}: store {store} goes through {parent}, which is a file")
            break


#: Dask scheduler addresses: ``tcp://HOST:PORT`` (also tls, ucx) or ``inproc://...``
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_SCHEDULER_RE = re.compile(
    rf"^(?:(?:tcp|tls|ucx)://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?|inproc://[^\s/]+(?:/\S*)?)$"
)


def _check_scheduler(scheduler, name: str = "scheduler") -> str | None:
    """``scheduler`` if it is a Dask address (``tcp://HOST:PORT``, tls://, ucx://, inproc://), or None.

    Checked before dask is imported, so that a typo is one line, not a traceback from dask.
    """
    if scheduler is None:
        return None
    m = _SCHEDULER_RE.match(scheduler) if isinstance(scheduler, str) else None
    if m is None or (m["port"] is not None and not 0 < int(m["port"]) < 65536):
        raise DynsysError(f"{name} must be an address like tcp://HOST:PORT, got {scheduler!r}")
    return scheduler


def _toml_values(obj, where: str) -> None:
    """Refuse TOML dates and times: configs are JSON (numbers, strings, booleans, lists, tables)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _toml_values(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for v in obj:
            _toml_values(v, where)
    elif isinstance(obj, (datetime.date, datetime.time)):
        raise DynsysError(f"{where} must be a number, string, boolean or list, got the date/time {obj}")


def load_sweep(path, store=None) -> SweepSpec:
    """Read and validate a sweep TOML file (see the module docstring). Nothing is written.

    Every error is one line that names the file: malformed TOML, a missing or unknown table, an
    unknown runner, a bad config (with its grid point), a store path that goes through a file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DynsysError(f"sweep file not found: {path}") from None
    except IsADirectoryError:
        raise DynsysError(f"sweep file {path} is a folder, expected a TOML file") from None
    except UnicodeDecodeError:
        raise DynsysError(f"sweep file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise DynsysError(f"cannot read sweep file {path} ({exc.strerror or type(exc).__name__})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DynsysError(f"malformed TOML in {path}: {' '.join(str(exc).split())}") from None
    unknown = sorted(set(doc) - {"sweep", "base", "grid"})
    if unknown:
        raise DynsysError(
            f"unknown table(s) [{'], ['.join(unknown)}] in {path}; allowed: [sweep], [base], [grid]"
        )
    sweep = doc.get("sweep")
    if not isinstance(sweep, dict) or "runner" not in sweep:
        raise DynsysError(f"{path} needs a [sweep] table with a runner name")
    bad = sorted(set(sweep) - {"runner", "store"})
    if bad:
        raise DynsysError(f"unknown key(s) {', '.join(bad)} in [sweep] of {path}; allowed: runner, store")
    if not isinstance(sweep["runner"], str):
        raise DynsysError(
            f"[sweep].runner in {path} must be a runner name (a string), got {sweep['runner']!r}"
        )
    if "store" in sweep and (not isinstance(sweep["store"], str) or not sweep["store"].strip()):
        raise DynsysError(f"[sweep].store in {path} must be a file path (a string), got {sweep['store']!r}")
    base = doc.get("base", {})
    grid = doc.get("grid", {})
    if not isinstance(base, dict) or not isinstance(grid, dict):
        raise DynsysError(f"[base] and [grid] in {path} must be tables")
    where = f"sweep {path}"
    try:
        _toml_values(base, "base")
        _toml_values(grid, "grid")
        configs = expand_grid(base, grid) if grid else [dict(base)]
    except DynsysError as exc:
        raise DynsysError(f"{where}: {exc}") from None
    store_path = Path(store) if store else path.parent / sweep.get("store", path.with_suffix(".sqlite").name)
    _check_store_path(store_path, where)
    return SweepSpec(runner=sweep["runner"], configs=tuple(configs), store=store_path, source=str(path))


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did.

    Attributes
    ----------
    store : Path
    total : int
        Distinct runs of the sweep (identical configs count once).
    done : int
        Runs completed by this call.
    failed : int
        Runs that failed in this call (their errors are in ``errors``).
    skipped : int
        Runs not started: done earlier, or failed earlier and not retried (``retry_failed=False``).
    seconds : float
    errors : dict
        Store key -> one-line error of each run that failed in this call.
    failed_before : int
        Of the skipped runs, those that had failed earlier (not retried: ``retry_failed=False``).
        ``failed + failed_before`` runs of the sweep have no result.
    """

    store: Path
    total: int
    done: int
    failed: int
    skipped: int
    seconds: float
    errors: dict = field(default_factory=dict)
    failed_before: int = 0


def _execute(target: str, config: dict, workdir: str | None = None):
    """Run one config in a worker. Never raises: failures come back as data.

    Runners that take a ``workdir`` keyword get the run's private folder (for checkpoints).
    """
    import inspect

    t0 = time.perf_counter()
    try:
        fn = _resolve(target)
        if workdir is not None and "workdir" in inspect.signature(fn).parameters:
            out = fn(config, workdir=Path(workdir))
        else:
            out = fn(config)
        metrics, arrays = out if isinstance(out, tuple) else (out, {})
        arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
        return "done", metrics, arrays, None, time.perf_counter() - t0
    except Exception as exc:  # recorded in the store, never lost
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return "failed", None, None, last, time.perf_counter() - t0


@contextmanager
def _interrupts_deferred():
    """Hold SIGINT and SIGTERM until the block ends (main thread, POSIX; elsewhere a no-op).

    Marking a run 'running' and handing it to a worker must not be split by Ctrl-C: an interrupt
    inside ``submit`` can leave a worker that was started but not yet registered with the pool,
    which the cancel path cannot stop, so the interrupted sweep waited for that run to finish.
    A signal that arrives meanwhile is delivered (as KeyboardInterrupt) when the block ends.
    """
    sigs = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _LocalExecutor:
    def __init__(self, workers: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver"))
        # the fork server starts now, with signals unblocked, so that its workers (forked from it,
        # inheriting its signal mask) still see Ctrl-C while _interrupts_deferred blocks them here
        from multiprocessing import forkserver

        forkserver.ensure_running()

    def submit(self, target, cfg, workdir):
        return self.pool.submit(_execute, target, cfg, workdir)

    def as_completed(self, futures):
        from concurrent.futures import as_completed

        return as_completed(futures)

    def close(self, cancel=False, grace: float = 2.0):
        """Shut the pool down; with ``cancel`` (an interrupt) stop the running workers too.

        Without this, interpreter exit would wait for every task already handed to a worker (a
        worker whose run was interrupted goes on to the next queued task). Workers that got the
        signal themselves (Ctrl-C reaches the whole process group) save within an update; after
        ``grace`` seconds every worker is killed (SIGKILL: a trainer would defer SIGTERM). Their
        runs stay 'running' in the store and resume from their last checkpoint (written
        atomically; only this process writes the store).
        """
        if not cancel:
            self.pool.shutdown(wait=True)
            return
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for proc in procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            # by pid, whatever is_alive says: a worker's exit status comes through the fork server,
            # and a signal to the whole process group kills the fork server too — is_alive() then
            # reports the worker dead while it runs on, takes the next queued run (the trainer
            # turns its SIGTERM into a KeyboardInterrupt the pool worker survives) and outlives the sweep
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, TypeError):
                pass
            proc.join(timeout=5)


class _DaskExecutor:
    def __init__(self, workers: int, scheduler: str | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise DynsysError(
                "the dask executor needs dask[distributed]: pip install 'dynsys[dask]'"
            ) from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise DynsysError(
                    f"scheduler: cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__})"
                ) from None
            except ValueError as exc:  # an address dask refuses although it looked like one
                msg = " ".join(str(exc).split())[:200]
                raise DynsysError(f"scheduler: dask refused the address {scheduler!r} ({msg})") from None
        else:
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = Client(self.cluster)

    def submit(self, target, cfg, workdir):
        return self.client.submit(_execute, target, cfg, workdir, pure=False)

    def as_completed(self, futures):
        from distributed import as_completed

        yield from as_completed(futures)

    def close(self, cancel=False):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def run_sweep(
    spec: SweepSpec,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = True,
    progress: bool | Callable = True,
) -> SweepSummary:
    """Run every config of ``spec`` not yet done, recording each result as it completes.

    Parameters
    ----------
    spec : SweepSpec
    executor : {'local', 'dask'}
        ``'dask'`` is implied when ``scheduler`` is given.
    workers : int, optional
        Worker processes (default: one per core).
    scheduler : str, optional
        A Dask scheduler address ``tcp://HOST:PORT`` (also ``tls://``, ``ucx://``,
        ``inproc://``), checked before dask is imported.
    retry_failed : bool
        Rerun configs whose previous attempt failed (else they are skipped and counted in
        ``failed_before``).

    Every config is validated (its keys and the runner's validator) before the store is opened
    or any run starts.
    progress : bool or callable
        The progress protocol (:func:`dynsys._validate.progress_wrapper`): a tqdm bar (True,
        default), none (False), or ``progress(iterable, *, total, desc, initial)``.
    """
    from .store import ResultStore

    if not isinstance(spec, SweepSpec):
        raise DynsysError(f"spec must be a SweepSpec (see load_sweep), got {type(spec).__name__}")
    bar = progress_wrapper(progress)
    check_choice(executor, "executor", EXECUTORS)
    scheduler = _check_scheduler(scheduler)
    if scheduler:
        executor = "dask"  # documented: a scheduler implies the dask executor
    workers = check_positive_int(workers if workers is not None else (os.cpu_count() or 1), "workers")
    if not isinstance(retry_failed, bool):
        raise DynsysError(f"retry_failed must be True or False, got {retry_failed!r}")
    where = f"sweep {spec.source}" if spec.source else "sweep"
    runner = get_runner(spec.runner)
    _check_configs(runner, spec.configs, where)  # again: the configs are dicts, changeable since
    _check_store_path(Path(spec.store), where)
    t0 = time.perf_counter()
    with ResultStore(spec.store) as store:
        statuses = store.statuses()
        todo, skipped, failed_before = [], 0, 0
        seen = set()
        for i, cfg in enumerate(spec.configs):
            key = run_key(runner.name, cfg)
            if key in seen:
                continue
            seen.add(key)
            st = statuses.get(key)
            if st == "done" or (st == "failed" and not retry_failed):
                skipped += 1
                failed_before += st == "failed"
            else:
                wd = spec.workdirs[i] if spec.workdirs is not None else store.work_dir / key
                todo.append((key, cfg, str(wd)))
        done = failed = 0
        errors = {}
        if todo:
            ex = (
                _DaskExecutor(workers, scheduler)
                if executor == "dask"
                else _LocalExecutor(min(workers, len(todo)))
            )
            cancel = True
            try:
                futures = {}
                for key, cfg, workdir in todo:
                    with _interrupts_deferred():  # a run marked running is a run handed out
                        store.mark_running(key, runner.name, cfg)
                        futures[ex.submit(runner.target, cfg, workdir)] = (key, cfg)
                finished = ex.as_completed(list(futures))
                with progress_loop(bar, finished, total=len(futures), desc=f"sweep {runner.name}") as it:
                    for fut in it:
                        key, cfg = futures[fut]
                        status, metrics, arrays, error, seconds = fut.result()
                        store.record(
                            key,
                            runner.name,
                            cfg,
                            status=status,
                            metrics=metrics,
                            arrays=arrays,
                            error=error,
                            seconds=seconds,
                        )
                        if status == "done":
                            done += 1
                        else:
                            failed += 1
                            errors[key] = error
                cancel = False
            finally:
                ex.close(cancel=cancel)
    return SweepSummary(
        spec.store, len(seen), done, failed, skipped, time.perf_counter() - t0, errors, failed_before
    )


def sweep_results(spec: SweepSpec, *, arrays: bool = False) -> list:
    """The stored result of each of ``spec``'s configs, in config order (every run must be done).

    Each entry is the run's ``metrics`` dict, or its ``(metrics, arrays)`` pair when ``arrays``.
    A run that is not done raises a one-line :class:`~dynsys.errors.DynsysError` naming it.
    """
    from .store import ResultStore

    runner = get_runner(spec.runner).name
    keys = [run_key(runner, cfg) for cfg in spec.configs]
    if not Path(spec.store).is_file():
        raise DynsysError(f"store {spec.store} does not exist; run the sweep first")
    with ResultStore(spec.store, create=False) as store:
        metrics = {r["key"]: r["metrics"] for r in store.rows("done")}
        for i, k in enumerate(keys):
            if k not in metrics:
                where = f"sweep {spec.source}" if spec.source else "sweep"
                status = store.statuses().get(k, "not started")
                raise DynsysError(
                    f"{where}: {_grid_point(spec.configs, i)} is not done ({status}) in {spec.store}"
                )
        if arrays:
            return [(metrics[k], store.load_arrays(k)) for k in keys]
    return [metrics[k] for k in keys]
