"""Files: every write of dynsys goes through here (house style rule 5).

Results are ``NAME.npz`` (arrays) + ``NAME.json`` (metadata: config, metrics, seed, version,
commit); checkpoints are one ``.npz`` with a JSON ``__meta__`` record; figures are PNG + PDF.
Every write is atomic (temporary file + fsync + ``os.replace``), so an interrupted write never
leaves a half-written file and never destroys the previous one; the final files get the mode a
plain ``open(path, "w")`` gives (``0o666 & ~umask``: 0644 under umask 022), so results can be
shared. Every ``.npz`` is read with ``allow_pickle=False``. :func:`check_writable_output` and
:func:`check_writable_dir` check an output path *before* a long computation, creating nothing.
"""

from __future__ import annotations

import codecs
import json
import os
import secrets
import stat
import subprocess
import zipfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DynsysError

__all__ = [
    "save_arrays",
    "load_arrays",
    "to_json",
    "save_result",
    "load_result",
    "result_exists",
    "result_paths",
    "save_figure",
    "save_checkpoint",
    "load_checkpoint",
    "write_text_atomic",
    "check_writable_output",
    "check_writable_dir",
    "git_commit",
    "provenance",
]


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


def _describe_non_zip(head: bytes) -> str:
    """What a file that is not a zip archive looks like, from its first bytes."""
    if not head:
        return "an empty file"
    if head.startswith(_ZIP_MAGIC):
        return "a truncated or corrupt zip file"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "a Python pickle"
    try:  # not final: the 512 bytes read may end inside a multi-byte character
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        return "a text file"
    return "binary data"


def _open_npz(path, name: str):
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    if path.is_dir():
        raise DynsysError(f"{name}: {path} is a directory, expected an .npz file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise DynsysError(f"{name}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    if head.startswith(_NPY_MAGIC):  # np.load would return its one array
        raise DynsysError(f"{name}: cannot read {path} as .npz (it is a single .npy array, not an archive)")
    if not head.startswith(_ZIP_MAGIC) or not zipfile.is_zipfile(path):
        raise DynsysError(
            f"{name}: cannot read {path}: not an .npz archive (a zip file); got {_describe_non_zip(head)}"
        )
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: cannot read {path} as .npz ({msg})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # defensive: np.load returned an array
        raise DynsysError(f"{name}: cannot read {path} as .npz (it is a single .npy array, not an archive)")
    return npz


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


def _create_temp(path: Path) -> tuple[int, Path]:
    """Create a new, empty temporary file beside ``path``: ``(fd, tmp)``.

    Unlike :func:`tempfile.mkstemp` (mode 0600) the file is created with mode 0o666, which the
    kernel narrows by the process umask: the mode a plain ``open(path, "w")`` gives. No change of
    the process umask (which would race with other threads) is needed. ``O_EXCL`` and a random name
    keep the creation safe.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")  # pragma: no cover


@contextmanager
def _atomic_open(path: Path, mode: str = "wb", **kwargs):
    """Open a temporary file beside ``path``; on success it replaces ``path`` (fsync + os.replace).

    An interruption at any point leaves the previous file intact and no partial file behind. The
    final file's mode is ``0o666 & ~umask`` (see :func:`_create_temp`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_npz(path: Path, arrays: Mapping[str, np.ndarray], compress: bool = False) -> Path:
    save = np.savez_compressed if compress else np.savez
    with _atomic_open(path, "wb") as fh:
        save(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def save_arrays(path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save ``arrays`` to the ``.npz`` file ``path`` atomically."""
    return _atomic_npz(Path(path), arrays)


def load_arrays(path, name: str, *, check=None) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (``allow_pickle=False``; errors name ``name``).

    ``check(keys, path, name)`` may refuse the file from its keys before any array is read.
    """
    with _open_npz(path, name) as npz:
        if check is not None:
            check(set(npz.files), path, name)
        return {k: _read_array(npz, k, name) for k in npz.files}


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
    arrays = load_arrays(path, "checkpoint")
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


_NONFINITE = ("string", "null")


def _jsonable(obj, nonfinite: Literal["string", "null"] = "string"):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, nonfinite) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), nonfinite)
    if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
        return _jsonable(obj.item(), nonfinite)
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj) if nonfinite == "string" else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(obj, *, nonfinite: Literal["string", "null"] = "string", **kwargs) -> str:
    """``json.dumps`` that understands numpy scalars/arrays, paths and non-finite floats.

    Parameters
    ----------
    obj : object
        Mappings, lists, tuples, numpy arrays and scalars, paths and JSON values, nested.
    nonfinite : {"string", "null"}
        What NaN and ±Inf become (python floats, numpy scalars, inside arrays and lists):
        ``"string"`` gives ``"nan"``, ``"inf"``, ``"-inf"`` (a reader can tell them apart);
        ``"null"`` gives JSON ``null``, which strict JSON readers accept.
    **kwargs
        Passed to :func:`json.dumps` (``indent``, ``sort_keys``, ...).

    Examples
    --------
    >>> to_json({"a": np.array([1.0, np.nan]), "b": float("-inf")})
    '{"a": [1.0, "nan"], "b": "-inf"}'
    >>> to_json([np.float32("inf"), 2], nonfinite="null")
    '[null, 2]'
    """
    if nonfinite not in _NONFINITE:
        raise DynsysError(f"unknown nonfinite {nonfinite!r}; known: {', '.join(_NONFINITE)}")
    return json.dumps(_jsonable(obj, nonfinite), **kwargs)


def _with_ext(stem: Path, ext: str) -> Path:
    """``stem`` + ``ext`` (stems may contain dots, e.g. ``NAME.profile``: never replace a suffix)."""
    return stem.with_name(stem.name + ext)


def result_paths(stem) -> tuple[Path, Path]:
    """The two files :func:`save_result` writes for ``stem``: ``(stem.npz, stem.json)``.

    The extensions are appended, never substituted: ``o/run.v1`` gives ``o/run.v1.npz`` and
    ``o/run.v1.json``.

    Examples
    --------
    >>> [p.name for p in result_paths("o/run.v1")]
    ['run.v1.npz', 'run.v1.json']
    """
    stem = Path(stem)
    return _with_ext(stem, ".npz"), _with_ext(stem, ".json")


def save_result(stem, arrays: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Save a result as the two files ``stem.npz`` (arrays) and ``stem.json`` (metadata), atomically.

    The extensions are appended to ``stem``, which may contain dots (``o/run.v1`` writes
    ``o/run.v1.npz`` and ``o/run.v1.json``; :func:`result_paths` names them). Missing parent folders
    are created. The JSON is written last, so its presence marks a complete result. The arrays are
    stored deflate-compressed (results are kept, some committed; checkpoints are not compressed).

    Returns
    -------
    Path
        ``stem`` itself (pass it to :func:`load_result`).
    """
    stem = Path(stem)
    npz, meta_path = result_paths(stem)
    _atomic_npz(npz, arrays, compress=True)
    write_text_atomic(meta_path, to_json(meta, indent=2, sort_keys=True) + "\n")
    return stem


def result_exists(stem) -> bool:
    """Whether both files of the result ``stem`` exist (see :func:`result_paths`)."""
    return all(p.exists() for p in result_paths(stem))


def load_result(stem) -> tuple[dict[str, np.ndarray], dict]:
    """Load a result saved by :func:`save_result` (``allow_pickle=False``)."""
    stem = Path(stem)
    try:
        meta = json.loads(_with_ext(stem, ".json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DynsysError(f"result {stem}: metadata file {_with_ext(stem, '.json')} not found") from None
    except json.JSONDecodeError as exc:
        raise DynsysError(f"result {stem}: corrupt metadata ({exc.msg} at line {exc.lineno})") from None
    return load_arrays(_with_ext(stem, ".npz"), f"result {stem}"), meta


def save_figure(fig, stem, formats=("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``stem.png`` and ``stem.pdf`` (atomically each).

    Each file gets the mode ``0o666 & ~umask``, like every file dynsys writes.
    """
    stem = Path(stem)
    out = []
    for fmt in formats:
        path = _with_ext(stem, f".{fmt}")
        with _atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_fig_metadata(fmt))
        out.append(path)
    return out


def _fig_metadata(fmt):
    # reproducible files: no timestamps
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    if fmt == "png":
        return {"Software": None}
    return None


def _kind(path: Path) -> str | None:
    """``'dir'``, ``'file'``, ``'broken link'``, ``'denied'`` (an ancestor is not searchable) or None."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "broken link" if os.path.lexists(path) else None
    except PermissionError:
        return "denied"
    except OSError:  # a symbolic link loop, a name too long, ...
        return "broken link"
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _refuse_denied(path: Path, name: str):
    """``path`` cannot be looked at: name the folder that is not searchable (the deepest one that is)."""
    for parent in path.parents:
        if _kind(parent) != "denied":
            raise DynsysError(f"{name}: no permission to write in {parent}")
    raise DynsysError(f"{name}: no permission to write in {path.parent}")  # pragma: no cover


def _nearest_folder(path: Path, name: str) -> Path:
    """The nearest existing ancestor folder of ``path``; an ancestor that exists as a file is refused."""
    for parent in path.parents:
        kind = _kind(parent)
        if kind == "dir":
            return parent
        if kind == "denied":
            _refuse_denied(parent, name)
        if kind is not None:
            raise DynsysError(
                f"{name}: {parent} is {'a file' if kind == 'file' else 'a broken link'}, not a folder"
            )
    return Path(".")  # pragma: no cover  (a relative path's last parent is '.')


def _check_folder_writable(folder: Path, name: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DynsysError(f"{name}: no permission to write in {folder}")


def _inspect(path, name: str) -> tuple[Path, str | None]:
    """``(Path(path), its kind)`` for the writability checks; an empty path or one that cannot be
    looked at (``"denied"``) is refused here."""
    if str(path) == "":
        raise DynsysError(f"{name}: the path is empty")
    p = Path(path)
    kind = _kind(p)
    if kind == "denied":
        _refuse_denied(p, name)
    return p, kind


def check_writable_output(path, name: str) -> Path:
    """Check, before a long computation, that the file ``path`` can be written; create nothing.

    Refused (one-line :class:`~dynsys.errors.DynsysError` naming ``name``): an empty path, a path that
    is an existing folder, a parent component that exists as a file, an existing file without write
    permission, and a nearest existing parent folder without write permission (missing folders are
    created later, when the file is written).

    Returns
    -------
    Path
        ``path``.
    """
    p, kind = _inspect(path, name)
    if kind == "dir":
        raise DynsysError(f"{name}: {p} is a folder, not a file")
    folder = _nearest_folder(p, name)
    if kind == "file" and not os.access(p, os.W_OK):
        raise DynsysError(f"{name}: no permission to write {p}")
    _check_folder_writable(folder, name)
    return p


def check_writable_dir(path, name: str) -> Path:
    """Check, before a long computation, that the folder ``path`` can be used to write into.

    ``path`` may be an existing folder (it must be writable) or not exist yet (its nearest existing
    parent must be a writable folder); an existing file, or a parent component that is a file, is
    refused. Nothing is created.

    Returns
    -------
    Path
        ``path``.
    """
    p, kind = _inspect(path, name)
    if kind == "dir":
        _check_folder_writable(p, name)
        return p
    if kind is not None:
        raise DynsysError(f"{name}: {p} is {'a file' if kind == 'file' else 'a broken link'}, not a folder")
    _check_folder_writable(_nearest_folder(p, name), name)
    return p


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
    from .. import __version__

    return {"dynsys_version": __version__, "git_commit": git_commit(root)}
