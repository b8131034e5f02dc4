"""Files: every write of dynsys goes through here (house style rule 5).

Results are ``NAME.npz`` (arrays) + ``NAME.json`` (metadata: config, metrics, seed, version,
commit); checkpoints are one ``.npz`` with a JSON ``__meta__`` record; figures are PNG + PDF.
Every write is atomic (temporary file + ``os.replace``), so an interrupted write never leaves a
half-written file and never destroys the previous one. Every ``.npz`` is read with
``allow_pickle=False``.
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

from ..errors import DynsysError

__all__ = [
    "save_arrays",
    "load_arrays",
    "to_json",
    "save_result",
    "load_result",
    "result_exists",
    "save_figure",
    "save_checkpoint",
    "load_checkpoint",
    "write_text_atomic",
    "git_commit",
    "provenance",
]


def _open_npz(path, name: str):
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    if path.is_dir():
        raise DynsysError(f"{name}: {path} is a directory, expected an .npz file")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: cannot read {path} as .npz ({msg})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # a .npy file: np.load returns its one array
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
    return load_arrays(_with_ext(stem, ".npz"), f"result {stem}"), meta


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
    from .. import __version__

    return {"dynsys_version": __version__, "git_commit": git_commit(root)}
