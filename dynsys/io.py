"""All file access of dynsys: weights, results, figures and text (the only module that writes).

Formats
-------
* Weights: ``.npz`` with keys ``W_rec`` (required), optional ``W_in``, ``b``, ``W_out``, ``b_out``
  and an optional 0-d string array ``activation``. Read with ``allow_pickle=False`` always.
* Results: ``NAME.npz`` (arrays) + ``NAME.json`` (metadata: config, metrics, seed, version, commit).
  Both are written atomically (temporary file + ``os.replace``), so an interrupted write never
  leaves a half-written result and never destroys the previous one.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import DynsysError

__all__ = [
    "load_weights",
    "load_torch_weights",
    "save_weights",
    "save_result",
    "load_result",
    "result_exists",
    "save_figure",
    "save_checkpoint",
    "load_checkpoint",
    "write_text_atomic",
    "git_commit",
    "provenance",
    "ResultStore",
]

_WEIGHT_KEYS = ("W_rec", "W_in", "b", "W_out", "b_out", "activation")


def _open_npz(path, name: str):
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    if path.is_dir():
        raise DynsysError(f"{name}: {path} is a directory, expected an .npz file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: cannot read {path} as .npz ({msg})") from None


def _read_array(npz, key: str, name: str) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DynsysError(
                f"{name}: array {key!r} is a pickled object; pickles are refused (allow_pickle=False)"
            ) from None
        raise DynsysError(f"{name}: cannot read array {key!r} ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DynsysError(f"{name}: corrupt array {key!r} ({type(exc).__name__})") from None


def load_weights(path, activation=None, name: str = "weights"):
    """Load an :class:`~dynsys.maps.RNNMap` from an ``.npz`` weights file.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (keys ``W_rec``, optional ``W_in``, ``b``, ``W_out``, ``b_out``,
        ``activation``).
    activation : str, optional
        Overrides the file's ``activation`` (default ``"tanh"`` if neither is given).
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).
    """
    from .maps import RNNMap

    if Path(path).suffix in (".pt", ".pth"):
        return load_torch_weights(path, activation=activation, name=name)
    with _open_npz(path, name) as npz:
        keys = set(npz.files)
        if "W_rec" not in keys:
            raise DynsysError(
                f"{name}: {path} has no 'W_rec' array (found: {', '.join(sorted(keys)) or 'none'})"
            )
        unknown = keys - set(_WEIGHT_KEYS)
        if unknown:
            raise DynsysError(
                f"{name}: unknown key(s) {', '.join(sorted(unknown))} in {path}; "
                f"allowed: {', '.join(_WEIGHT_KEYS)}"
            )
        arrays = {k: _read_array(npz, k, name) for k in keys}
    file_act = arrays.pop("activation", None)
    if file_act is not None:
        if file_act.ndim != 0 or file_act.dtype.kind not in "US":
            raise DynsysError(
                f"{name}: 'activation' must be a 0-d string array, got {file_act.dtype} {file_act.shape}"
            )
        file_act = str(file_act)
    act = activation or file_act or "tanh"
    return RNNMap(activation=act, **arrays)


def load_torch_weights(path, activation=None, name: str = "weights"):
    """Load an ``nn.RNN`` state dict saved with ``torch.save`` (``.pt``/``.pth``) as an RNNMap.

    Read with ``torch.load(..., weights_only=True)`` (tensors only, no arbitrary unpickling). The
    RNN's keys may carry a prefix (``rnn.weight_hh_l0``); a single other 2-D ``*.weight`` whose
    width is the hidden size is taken as the linear readout.
    """
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    try:
        import torch
    except ImportError:
        raise DynsysError(f"{name}: reading {path.suffix} files needs torch (pip install torch)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: cannot read {path} as a tensor-only state dict ({msg})") from None
    if not isinstance(state, Mapping):
        raise DynsysError(f"{name}: {path} holds a {type(state).__name__}, expected a state dict")
    hh = [k for k in state if str(k).endswith("weight_hh_l0")]
    if len(hh) != 1:
        raise DynsysError(f"{name}: {path} must hold exactly one nn.RNN (found {len(hh)} weight_hh_l0 keys)")
    prefix = hh[0][: -len("weight_hh_l0")]
    rnn_state = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "_l" in k[len(prefix) :]
    }
    n = state[hh[0]].shape[0]
    heads = [
        k
        for k, v in state.items()
        if not k.startswith(prefix)
        and k.endswith("weight")
        and getattr(v, "ndim", 0) == 2
        and v.shape[1] == n
    ]
    readout = None
    if len(heads) == 1:
        hp = heads[0][: -len("weight")]
        readout = {
            "weight": state[heads[0]],
            **({"bias": state[hp + "bias"]} if hp + "bias" in state else {}),
        }
    from .torch_import import from_torch_rnn

    return from_torch_rnn(rnn_state, readout, nonlinearity=activation or "tanh")


def save_weights(path, rnn) -> Path:
    """Save an :class:`~dynsys.maps.RNNMap` to ``.npz`` (loadable by :func:`load_weights`)."""
    arrays = {"W_rec": rnn.W_rec, "b": rnn.b, "activation": np.array(rnn.activation.name)}
    if rnn.input_dim:
        arrays["W_in"] = rnn.W_in
    if rnn.W_out is not None:
        arrays["W_out"] = rnn.W_out
        arrays["b_out"] = rnn.b_out
    return _atomic_npz(Path(path), arrays)


@contextmanager
def _atomic_open(path: Path, mode: str = "wb", **kwargs):
    """Open a temporary file beside ``path``; on success it replaces ``path`` (fsync + os.replace).

    An interruption at any point leaves the previous file intact and no partial file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    with _atomic_open(path, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def save_checkpoint(path, arrays: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Save a training checkpoint as ONE ``.npz`` (arrays + ``__meta__`` JSON string), atomically.

    A single file means an interruption (even SIGKILL) leaves either the previous complete
    checkpoint or the new complete one, never a mix.
    """
    payload = dict(arrays)
    payload["__meta__"] = np.array(to_json(meta, sort_keys=True))
    return _atomic_npz(Path(path), payload)


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Load a checkpoint written by :func:`save_checkpoint` (``allow_pickle=False``)."""
    with _open_npz(path, "checkpoint") as npz:
        arrays = {k: _read_array(npz, k, "checkpoint") for k in npz.files}
    meta = arrays.pop("__meta__", None)
    if meta is None:
        raise DynsysError(f"checkpoint {path}: no __meta__ record (not a dynsys checkpoint)")
    try:
        return arrays, json.loads(str(meta))
    except json.JSONDecodeError as exc:
        raise DynsysError(f"checkpoint {path}: corrupt metadata ({exc.msg})") from None


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (the old file survives an interruption)."""
    path = Path(path)
    with _atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(obj, **kwargs) -> str:
    """``json.dumps`` that understands numpy scalars/arrays (non-finite floats become strings)."""
    return json.dumps(_jsonable(obj), **kwargs)


def _with_ext(stem: Path, ext: str) -> Path:
    """``stem`` + ``ext`` (stems may contain dots, e.g. ``NAME.profile``: never replace a suffix)."""
    return stem.with_name(stem.name + ext)


def save_result(stem, arrays: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Save a result as ``stem.npz`` (arrays) and ``stem.json`` (metadata), atomically.

    The JSON is written last, so its presence marks a complete result.
    """
    stem = Path(stem)
    _atomic_npz(_with_ext(stem, ".npz"), arrays)
    write_text_atomic(_with_ext(stem, ".json"), to_json(meta, indent=2, sort_keys=True) + "\n")
    return stem


def result_exists(stem) -> bool:
    stem = Path(stem)
    return _with_ext(stem, ".json").exists() and _with_ext(stem, ".npz").exists()


def load_result(stem) -> tuple[dict[str, np.ndarray], dict]:
    """Load a result saved by :func:`save_result` (``allow_pickle=False``)."""
    stem = Path(stem)
    try:
        meta = json.loads(_with_ext(stem, ".json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DynsysError(f"result {stem}: metadata file {_with_ext(stem, '.json')} not found") from None
    except json.JSONDecodeError as exc:
        raise DynsysError(f"result {stem}: corrupt metadata ({exc.msg} at line {exc.lineno})") from None
    with _open_npz(_with_ext(stem, ".npz"), f"result {stem}") as npz:
        arrays = {k: _read_array(npz, k, f"result {stem}") for k in npz.files}
    return arrays, meta


def save_figure(fig, stem, formats=("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``stem.png`` and ``stem.pdf`` (atomically each)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        path = _with_ext(stem, f".{fmt}")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{fmt}")
        os.close(fd)
        try:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_fig_metadata(fmt))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append(path)
    return out


def _fig_metadata(fmt):
    # reproducible files: no timestamps
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    if fmt == "png":
        return {"Software": None}
    return None


def git_commit(root=None) -> str | None:
    """The current git commit of the checkout at ``root`` (None outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(root=None) -> dict:
    """Package version and git commit, recorded with every result."""
    from . import __version__

    return {"dynsys_version": __version__, "git_commit": git_commit(root)}


# ---------------------------------------------------------------------------------------
# The sweep result store: SQLite (WAL), one row per run, arrays in .npz beside it
# ---------------------------------------------------------------------------------------

STORE_SCHEMA_VERSION = 1

_STORE_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    runner TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    metrics TEXT,
    error TEXT,
    arrays TEXT,
    started REAL,
    finished REAL,
    seconds REAL,
    dynsys_version TEXT,
    git_commit TEXT
);
"""


class ResultStore:
    """A sweep's result store: an SQLite database in WAL mode, one row per run.

    Each row is keyed by a hash of the run's canonical config and records its status
    (``running`` / ``done`` / ``failed``), metrics (JSON), error, timings, package version and git
    commit; arrays go to ``<store>.arrays/<key>.npz`` (written atomically *before* the row is
    committed); runners that checkpoint get ``<store>.work/<key>/``. Every change is one transaction, so a SIGKILL at any moment leaves a valid store:
    at worst a run stays ``running`` and is redone by the next sweep.

    Opening never modifies a store it refuses (not SQLite, or a newer schema).
    """

    def __init__(self, path, *, create: bool = True):
        import sqlite3

        self.path = Path(path)
        self.array_dir = self.path.with_name(self.path.name + ".arrays")
        self.work_dir = self.path.with_name(self.path.name + ".work")  # runners' checkpoints
        self._prov = provenance()  # one git call per store, not one per recorded run
        exists = self.path.exists()
        if not exists and not create:
            raise DynsysError(f"store {self.path} does not exist")
        if exists:
            self._check_existing(sqlite3)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_STORE_DDL)
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(STORE_SCHEMA_VERSION),),
        )

    def _check_existing(self, sqlite3):
        try:
            ro = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
            try:
                tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                version = None
                if "meta" in tables:
                    row = ro.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                    version = int(row[0]) if row else None
            finally:
                ro.close()
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise DynsysError(f"store {self.path} is not a dynsys result store ({exc})") from None
        if tables and "runs" not in tables:
            raise DynsysError(f"store {self.path} is an SQLite file but not a dynsys result store")
        if version is not None and version > STORE_SCHEMA_VERSION:
            raise DynsysError(
                f"store {self.path} has schema version {version}, newer than this dynsys understands "
                f"({STORE_SCHEMA_VERSION}); upgrade dynsys"
            )

    # -- writing ------------------------------------------------------------------------
    def mark_running(self, key: str, runner: str, config: Mapping) -> None:
        import time

        prov = self._prov
        self.conn.execute(
            "INSERT INTO runs (key, runner, config, status, started, dynsys_version, git_commit) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?) ON CONFLICT(key) DO UPDATE SET status='running', "
            "started=excluded.started, error=NULL",
            (
                key,
                runner,
                to_json(config, sort_keys=True),
                time.time(),
                prov["dynsys_version"],
                prov["git_commit"],
            ),
        )

    def record(
        self,
        key: str,
        runner: str,
        config: Mapping,
        *,
        status: str,
        metrics=None,
        arrays=None,
        error: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Record a finished run (``status`` is ``'done'`` or ``'failed'``) in one transaction."""
        import time

        arrays_path = None
        if arrays:
            arrays_path = _atomic_npz(self.array_dir / f"{key}.npz", arrays).name
        prov = self._prov
        self.conn.execute(
            "INSERT INTO runs (key, runner, config, status, metrics, error, arrays, finished, seconds, "
            "dynsys_version, git_commit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "status=excluded.status, metrics=excluded.metrics, error=excluded.error, arrays=excluded.arrays, "
            "finished=excluded.finished, seconds=excluded.seconds, dynsys_version=excluded.dynsys_version, "
            "git_commit=excluded.git_commit",
            (
                key,
                runner,
                to_json(config, sort_keys=True),
                status,
                None if metrics is None else to_json(metrics, sort_keys=True),
                error,
                arrays_path,
                time.time(),
                seconds,
                prov["dynsys_version"],
                prov["git_commit"],
            ),
        )

    # -- reading ------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, status FROM runs"))

    def rows(self, status: str | None = None) -> list[dict]:
        cur = self.conn.execute(
            "SELECT key, runner, config, status, metrics, error, arrays, started, finished, seconds, "
            "dynsys_version, git_commit FROM runs"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY started",
            (status,) if status else (),
        )
        cols = [d[0] for d in cur.description]
        out = []
        for r in cur.fetchall():
            row = dict(zip(cols, r))
            row["config"] = json.loads(row["config"])
            row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
            out.append(row)
        return out

    def load_arrays(self, key: str) -> dict[str, np.ndarray]:
        path = self.array_dir / f"{key}.npz"
        with _open_npz(path, f"store arrays {key}") as npz:
            return {k: _read_array(npz, k, f"store arrays {key}") for k in npz.files}

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
