"""Records: an append-only log of rows written as a run goes (the training monitor's record).

Format (readable without dynsys): **JSON lines**. The file is UTF-8 text holding one JSON object per
line, each line ended by ``"\\n"``; the keys are free (the writer chooses them, nested values are
allowed). NaN and ±Inf are written as JSON ``null`` (strict JSON readers accept every line), numpy
scalars and arrays as numbers and lists. Read it with ``[json.loads(line) for line in open(path)]`` or
``pandas.read_json(path, lines=True)``.

Crash safety: :func:`append_record` writes a row as one ``write`` of the whole line (newline last),
then flushes and ``fsync``\\ s, so an interrupted run leaves every earlier row intact and at worst a
*torn tail*: bytes after the last newline that are not a complete JSON object (a prefix of a row,
starting with ``{``, or NUL bytes a power loss can leave). :func:`read_records` drops a torn tail
and reports it (:attr:`RecordFile.dropped_tail`); :func:`append_record` cuts it off before writing,
so the next row starts on a fresh line. A complete object missing only its newline is a row, not a
torn tail. Anything else that is not a JSON object, in the middle or at the end, is corruption and
raises a one-line :class:`~dynsys.errors.DynsysError` naming the line. Whitespace-only lines are
skipped. :func:`truncate_records` rewrites the file atomically for a resumed run, keeping only the
rows it has not superseded. One writer at a time is assumed (a run owns its record).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DynsysError
from .files import _atomic_open, check_writable_output, to_json

__all__ = ["RecordFile", "append_record", "read_records", "truncate_records"]

_CHUNK = 1 << 16


@dataclass(frozen=True)
class RecordFile:
    """The rows of a record file, as read by :func:`read_records`.

    Attributes
    ----------
    path : Path
        The file read.
    rows : list of dict
        Every complete row, in file order.
    dropped_tail : int
        1 if a torn last line (a crash mid-write) was dropped, else 0.
    """

    path: Path
    rows: list[dict] = field(default_factory=list)
    dropped_tail: int = 0

    def __len__(self) -> int:
        return len(self.rows)


def _serialise(row, name: str) -> bytes:
    """``row`` as one UTF-8 JSON line (newline included); refused before anything is written."""
    if not isinstance(row, Mapping):
        raise DynsysError(f"{name}: a row must be a mapping (a dict), got {type(row).__name__}")
    try:
        text = to_json(row, nonfinite="null", ensure_ascii=False, allow_nan=False)
        return (text + "\n").encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # unserialisable, circular; UnicodeError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: the row cannot be written as JSON ({msg})") from None


def _decode(raw: bytes):
    """``(value, None)`` for a line that is JSON, else ``(None, reason)``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start + 1}"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "nested too deeply"


def _is_torn(raw: bytes) -> bool:
    """Whether an unparseable last line (no newline) looks like an interrupted write of a row."""
    body = raw.strip(b" \t\r")
    return body.startswith(b"{") or (body != b"" and body.strip(b"\x00") == b"")


def _kind_name(value) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _parse(data: bytes, path: Path, name: str):
    """``(rows, raws, dropped_tail, clean)``; ``raws[i]`` is ``(line number, line without newline)``
    of ``rows[i]``.

    ``clean`` is False when a rewrite would change the file (blank lines, a torn tail, or a last row
    missing its newline).
    """
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    rows, raws, dropped, clean = [], [], 0, True
    for k, raw in enumerate([*lines, tail], start=1):
        is_tail = k == len(lines) + 1
        if raw.strip(b" \t\r") == b"":
            clean = clean and (is_tail and raw == b"")
            continue
        value, reason = _decode(raw)
        if reason is not None:
            if is_tail and _is_torn(raw):
                dropped, clean = 1, False
                continue
            raise DynsysError(f"{name}: {path} line {k}: not JSON ({reason})")
        if not isinstance(value, dict):
            raise DynsysError(f"{name}: {path} line {k}: not a JSON object ({_kind_name(value)})")
        rows.append(value)
        raws.append((k, raw))
        clean = clean and not is_tail
    return rows, raws, dropped, clean


def _read_bytes(path, name: str) -> tuple[Path, bytes]:
    path = Path(path)
    if path.is_dir():
        raise DynsysError(f"{name}: {path} is a folder, not a record file")
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise DynsysError(f"{name}: no record at {path}") from None
    except OSError as exc:
        raise DynsysError(f"{name}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None


def read_records(path, name: str = "record") -> RecordFile:
    """Every row of the record file ``path`` (see the module docstring for the format).

    Parameters
    ----------
    path : str or Path
        A JSON-lines file written by :func:`append_record`.
    name : str
        What the errors call the file.

    Returns
    -------
    RecordFile
        ``rows`` (a list of dicts, file order) and ``dropped_tail`` (1 if a torn last line from an
        interrupted write was dropped). An empty file gives no rows.

    Raises
    ------
    DynsysError
        No file at ``path`` ("no record at ..."), or a line other than a torn last one that is not a
        JSON object ("``path`` line k: not JSON (...)").

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "monitor.jsonl"
    >>> append_record(p, {"update": 25, "loss": 0.5})
    >>> with open(p, "a") as fh:  # a crash in the middle of the next row
    ...     _ = fh.write('{"update": 50, "lo')
    >>> rec = read_records(p)
    >>> rec.rows, rec.dropped_tail
    ([{'update': 25, 'loss': 0.5}], 1)
    """
    path, data = _read_bytes(path, name)
    rows, _, dropped, _ = _parse(data, path, name)
    return RecordFile(path=path, rows=rows, dropped_tail=dropped)


def _tail_start(fd: int, size: int) -> int:
    """The offset just after the last newline of the open file ``fd`` (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = b""
        while len(chunk) < end - start:
            more = os.read(fd, end - start - len(chunk))
            if not more:  # pragma: no cover  (the file shrank under us)
                break
            chunk += more
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def _read_from(fd: int, offset: int, size: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    out = b""
    while len(out) < size - offset:
        more = os.read(fd, size - offset - len(out))
        if not more:  # pragma: no cover
            break
        out += more
    return out


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover  (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def append_record(path, row: Mapping, *, name: str = "record", parents: bool = False) -> None:
    """Append ``row`` to the record file ``path`` as one JSON line, durably (flush + ``fsync``).

    The row is serialised first (NaN/±Inf as ``null``, numpy scalars and arrays as numbers and
    lists, non-string keys as strings): a row that cannot be written leaves the file untouched. A
    missing file is created, with the mode ``0o666 & ~umask`` like every file dynsys writes; its
    folder must exist (no folder is created). A torn tail left by an interrupted earlier write is cut
    off first, and a complete last row missing its newline gets one, so the new row is readable.

    Parameters
    ----------
    path : str or Path
        The record file (``.jsonl`` by convention).
    row : Mapping
        One row; keys are free. Complex numbers are refused (write ``abs``/``angle`` or re/im).
    name : str
        What the errors call the file.
    parents : bool
        Create the file's missing folders (a run folder the record is the first file of).

    Raises
    ------
    DynsysError
        ``row`` is not a mapping or not serialisable; ``path`` is a folder, is not writable, its
        folder does not exist (and ``parents`` is False), or it ends with a last line that is neither a row nor a torn row.

    Examples
    --------
    >>> import json, tempfile
    >>> import numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "monitor.jsonl"
    >>> append_record(p, {"update": 25, "loss": np.float32(0.5), "rho": float("nan")})
    >>> append_record(p, {"update": 50, "multipliers": np.array([0.9, -1.5])})
    >>> [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
    [{'update': 25, 'loss': 0.5, 'rho': None}, {'update': 50, 'multipliers': [0.9, -1.5]}]
    """
    line = _serialise(row, name)
    path = check_writable_output(path, name)
    if not path.parent.is_dir():
        if not parents:
            raise DynsysError(f"{name}: folder {path.parent} does not exist (a record creates no folders)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DynsysError(
                f"{name}: cannot create folder {path.parent} ({exc.strerror or type(exc).__name__})"
            ) from None
    existed = os.path.lexists(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise DynsysError(f"{name}: cannot open {path} ({exc.strerror or type(exc).__name__})") from None
    try:
        size = os.fstat(fd).st_size
        if size > 0:
            start = _tail_start(fd, size)
            tail = _read_from(fd, start, size)
            if tail:
                value, reason = _decode(tail)
                if reason is None and isinstance(value, dict):
                    line = b"\n" + line  # a complete row that only lacks its newline
                elif tail.strip(b" \t\r") == b"" or (reason is not None and _is_torn(tail)):
                    os.ftruncate(fd, start)  # a torn row: read_records drops it too
                else:
                    what = reason if reason is not None else f"a JSON {_kind_name(value)}, not an object"
                    raise DynsysError(
                        f"{name}: {path} does not end with a complete row (last line: {what}); not appending"
                    )
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if not existed:
        _fsync_folder(path.parent)


def _upto_predicate(key: str, last) -> Callable[[dict], bool]:
    def keep(row: dict) -> bool:
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DynsysError(f"row has no number under {key!r} (got {value!r})")
        return value <= last

    return keep


def truncate_records(
    path,
    keep: Callable[[dict], bool] | None = None,
    *,
    upto=None,
    key: str = "update",
    name: str = "record",
) -> RecordFile:
    """Rewrite the record file ``path`` atomically, keeping only the rows a resumed run keeps.

    A run resumed from a checkpoint at update ``U`` recomputes every row after ``U``; call
    ``truncate_records(path, upto=U)`` before it appends again, so no row appears twice. The kept
    lines are copied byte for byte; a torn tail is dropped. The new file replaces the old one in
    one ``os.replace`` (temporary file in the same folder, ``fsync`` first): an interruption leaves
    the old file whole. Nothing is written when every row is kept and the file is clean.

    Parameters
    ----------
    path : str or Path
        A record file written by :func:`append_record`.
    keep : callable, optional
        ``keep(row) -> bool``: whether to keep a row. Exactly one of ``keep`` and ``upto``.
    upto : int or float, optional
        Keep the rows with ``row[key] <= upto``; a row without a number under ``key`` is refused.
    key : str
        The key ``upto`` compares (default ``"update"``).
    name : str
        What the errors call the file.

    Returns
    -------
    RecordFile
        The rows now in the file and ``dropped_tail`` (1 if a torn tail was dropped).

    Raises
    ------
    DynsysError
        As :func:`read_records` (the file is left unchanged), a bad ``keep``/``upto``, or a
        :class:`DynsysError` raised by ``keep`` (prefixed with the line).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "monitor.jsonl"
    >>> for u in (25, 50, 75):
    ...     append_record(p, {"update": u})
    >>> [r["update"] for r in truncate_records(p, upto=50).rows]
    [25, 50]
    >>> [r["update"] for r in read_records(p).rows]
    [25, 50]
    """
    if (keep is None) == (upto is None):
        raise DynsysError("truncate_records: give exactly one of keep and upto")
    if upto is not None:
        if isinstance(upto, bool) or not isinstance(upto, (int, float)):
            raise DynsysError(f"truncate_records: upto must be a number, got {upto!r}")
        keep = _upto_predicate(key, upto)
    elif not callable(keep):
        raise DynsysError(f"truncate_records: keep must be callable, got {type(keep).__name__}")
    path, data = _read_bytes(path, name)
    rows, raws, dropped, clean = _parse(data, path, name)
    kept_rows, kept_raws = [], []
    for row, (k, raw) in zip(rows, raws):
        try:
            ok = keep(row)
        except DynsysError as exc:
            raise DynsysError(f"{name}: {path} line {k}: {exc}") from None
        if ok:
            kept_rows.append(row)
            kept_raws.append(raw)
    if clean and len(kept_rows) == len(rows):
        return RecordFile(path=path, rows=kept_rows, dropped_tail=0)
    check_writable_output(path, name)
    with _atomic_open(path, "wb") as fh:
        fh.write(b"".join(raw + b"\n" for raw in kept_raws))
    return RecordFile(path=path, rows=kept_rows, dropped_tail=dropped)
