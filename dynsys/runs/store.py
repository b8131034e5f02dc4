"""The sweep result store: SQLite (WAL), one row per run keyed by a hash of its config.

:func:`config_hash` is the one config hash of dynsys: the store keys of sweeps
(:func:`dynsys.runs.sweep.run_key`), the result files of ``dynsys reproduce`` and the run folders
of the experiments all use it. Arrays go to ``.npz`` files beside the store through
:mod:`dynsys.io.files` (atomic writes).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DynsysError
from ..io.files import load_arrays, provenance, save_arrays, to_json

__all__ = ["ResultStore", "STORE_SCHEMA_VERSION", "STATUSES", "config_hash"]


def config_hash(config: Mapping) -> str:
    """A stable hash of a JSON-able config (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


STORE_SCHEMA_VERSION = 1
#: the statuses a run's row can have
STATUSES = ("running", "done", "failed")

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


#: the columns of ``runs`` that :meth:`ResultStore.rows` reads
_RUN_COLUMNS = (
    "key",
    "runner",
    "config",
    "status",
    "metrics",
    "error",
    "arrays",
    "started",
    "finished",
    "seconds",
    "dynsys_version",
    "git_commit",
)


def _sqlite_uri(path: Path, *, immutable: bool) -> str:
    """A read-only SQLite URI for ``path`` (absolute, percent-quoted: spaces, ``?``, ``#``, ``%``)."""
    return path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


class ResultStore:
    """A sweep's result store: an SQLite database in WAL mode, one row per run.

    Each row is keyed by a hash of the run's canonical config and records its status
    (``running`` / ``done`` / ``failed``), metrics (JSON), error, timings, package version and git
    commit; arrays go to ``<store>.arrays/<key>.npz`` (written atomically *before* the row is
    committed); runners that checkpoint get ``<store>.work/<key>/``. Every change is one
    transaction, so a SIGKILL at any moment leaves a valid store: at worst a run stays ``running``
    and is redone by the next sweep.

    Parameters
    ----------
    path : str or Path
        The store file.
    create : bool
        True (default): open for writing, creating the store (and its folder) if missing.
        False: open an existing store **read-only**, modifying nothing — no schema or pragma
        writes, no new files (``-wal``/``-shm``) beside it. A store without a ``-wal`` file (no
        writer active) is opened ``immutable``; with one (a sweep is writing, or was killed) it
        is opened ``mode=ro`` and reads what the writer committed. The writing methods of a
        read-only store raise :class:`~dynsys.errors.DynsysError`.

    Opening never modifies a store it refuses (a directory, not SQLite, an SQLite file of
    another program, an empty file when reading, or a newer schema).
    """

    def __init__(self, path, *, create: bool = True):
        import sqlite3

        self.path = Path(path)
        self.read_only = not create
        self._prov_cache = None
        try:
            is_dir = self.path.name in ("", ".", "..") or self.path.is_dir()
            exists = self.path.exists()
        except OSError as exc:  # e.g. a folder on the way that is not searchable
            raise DynsysError(
                f"store {self.path}: cannot look at it ({exc.strerror or type(exc).__name__})"
            ) from None
        if is_dir:
            raise DynsysError(f"store {self.path}: is a directory, not a result store file")
        self.array_dir = self.path.parent / (self.path.name + ".arrays")
        self.work_dir = self.path.parent / (self.path.name + ".work")  # runners' checkpoints
        if not exists and not create:
            raise DynsysError(f"store {self.path} does not exist")
        if self.read_only:
            self.conn = self._open_read_only(sqlite3)
            return
        if exists:
            self._check_existing(sqlite3)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DynsysError(
                    f"store {self.path}: cannot create its folder ({exc.strerror or type(exc).__name__})"
                ) from None
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_STORE_DDL)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(STORE_SCHEMA_VERSION),),
            )
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise DynsysError(f"store {self.path} cannot be opened for writing ({exc})") from None
        self.conn = conn
        self._prov_cache = provenance()  # a writer's one git call, before any run starts

    @property
    def _prov(self) -> dict:
        if self._prov_cache is None:  # one git call per store, not one per recorded run
            self._prov_cache = provenance()
        return self._prov_cache

    def _open_read_only(self, sqlite3):
        """A connection that cannot write and creates no file; the store is checked first."""
        if not self.path.is_file():
            raise DynsysError(f"store {self.path} is not a regular file")
        if self.path.stat().st_size == 0:
            raise DynsysError(f"store {self.path} is an empty file, not a dynsys result store")
        wal = self.path.with_name(self.path.name + "-wal")
        # without a -wal file no writer is active: immutable reads take no lock and create no
        # -shm; with one, mode=ro reads the writer's committed transactions (its -shm exists)
        uri = _sqlite_uri(self.path, immutable=not wal.exists())
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise DynsysError(f"store {self.path} cannot be opened ({exc})") from None
        try:
            self._check_schema(conn, sqlite3, reading=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_existing(self, sqlite3):
        try:
            ro = sqlite3.connect(_sqlite_uri(self.path, immutable=False), uri=True, timeout=60)
        except sqlite3.Error as exc:
            raise DynsysError(f"store {self.path} cannot be opened ({exc})") from None
        try:
            self._check_schema(ro, sqlite3, reading=False)
        finally:
            ro.close()

    def _check_schema(self, conn, sqlite3, *, reading: bool) -> None:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = None
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else None
            columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")} if "runs" in tables else set()
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise DynsysError(f"store {self.path} is not a dynsys result store ({exc})") from None
        if reading and not tables:
            raise DynsysError(f"store {self.path} is an empty SQLite database, not a dynsys result store")
        if tables and "runs" not in tables:
            raise DynsysError(f"store {self.path} is an SQLite file but not a dynsys result store")
        lacking = [c for c in _RUN_COLUMNS if c not in columns]
        if tables and lacking:
            raise DynsysError(
                f"store {self.path} is an SQLite file but not a dynsys result store "
                f"(its runs table lacks {', '.join(lacking)})"
            )
        if version is not None and version > STORE_SCHEMA_VERSION:
            raise DynsysError(
                f"store {self.path} has schema version {version}, newer than this dynsys understands "
                f"({STORE_SCHEMA_VERSION}); upgrade dynsys"
            )

    def _check_writable(self) -> None:
        if self.read_only:
            raise DynsysError(f"store {self.path} was opened read-only")

    # -- writing ------------------------------------------------------------------------
    def mark_running(self, key: str, runner: str, config: Mapping) -> None:
        """Mark the run ``key`` as running (a new row, or a rerun of a failed/interrupted one)."""
        self._check_writable()
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
        self._check_writable()
        arrays_path = None
        if arrays:
            arrays_path = save_arrays(self.array_dir / f"{key}.npz", arrays).name
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
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"
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
        return load_arrays(self.array_dir / f"{key}.npz", f"store arrays {key}")

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
