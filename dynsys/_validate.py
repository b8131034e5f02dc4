"""Validation at the boundary: each helper checks one argument and names it in the error.

``as_float_array``, ``check_finite_scalar``, ``check_positive_int``, ``check_range``,
``check_interval``, ``check_choice`` and ``check_rng`` raise :class:`~dynsys.errors.DynsysError`
with a one-line message naming the argument (house style rule 7). :func:`check_memory` refuses a
computation whose estimated peak memory exceeds what the machine can spare
(:func:`memory_limit`), before anything is allocated. :func:`progress_wrapper` is the one
progress protocol of the package: every long computation takes ``progress=`` as True (a tqdm
bar), False/None (silent) or a callable ``progress(iterable, *, total=None, desc=None,
initial=0) -> iterable``; :func:`progress_postfix` shows the computation's state next to a bar
whose iterable has ``set_postfix`` (tqdm's).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .errors import DynsysError

__all__ = [
    "as_float_array",
    "check_choice",
    "check_finite_scalar",
    "check_positive_int",
    "check_range",
    "check_interval",
    "check_rng",
    "memory_limit",
    "check_memory",
    "format_bytes",
    "progress_wrapper",
    "progress_loop",
    "progress_postfix",
]


def as_float_array(
    value,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype=np.float64,
    finite: bool = True,
    allow_empty: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a float array and validate it.

    Parameters
    ----------
    value : array_like
        The user's value.
    name : str
        The argument's name, used in the error message.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    dtype : numpy dtype
        ``float64`` (default) or ``float32``.
    finite : bool
        Reject NaN and Inf entries.
    allow_empty : bool
        Accept arrays with zero elements.
    """
    try:
        arr = np.asarray(value)
        if arr.dtype.kind != "c":
            arr = np.asarray(arr, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise DynsysError(f"{name} must be a numeric array ({exc})") from None
    if arr.dtype.kind == "c":  # a plain cast would drop the imaginary part with only a warning
        if np.any(arr.imag != 0):
            raise DynsysError(f"{name} must be real, got complex entries")
        arr = arr.real.astype(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise DynsysError(f"{name} must have {want} dimension(s), got shape {tuple(arr.shape)}")
    if not allow_empty and arr.size == 0:
        raise DynsysError(f"{name} must not be empty, got shape {tuple(arr.shape)}")
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise DynsysError(f"{name} must be finite, found {bad} NaN/Inf entr{'y' if bad == 1 else 'ies'}")
    return arr


def check_finite_scalar(value, name: str) -> float:
    """Return ``value`` as a finite Python float or raise naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DynsysError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise DynsysError(f"{name} must be finite, got {out}")
    return out


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            if float(value) != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise DynsysError(f"{name} must be an integer, got {value!r}") from None
    value = int(value)
    if value < minimum:
        raise DynsysError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_range(lo, hi, name: str) -> tuple[float, float]:
    """Validate an interval ``lo < hi`` of finite numbers."""
    lo = check_finite_scalar(lo, f"{name} (low end)")
    hi = check_finite_scalar(hi, f"{name} (high end)")
    if not lo < hi:
        raise DynsysError(f"{name} must satisfy LO < HI, got [{lo}, {hi}]")
    return lo, hi


def check_interval(value, name: str) -> tuple[float, float]:
    """Validate a pair ``(lo, hi)`` of finite numbers with ``lo < hi`` given as one argument.

    Examples
    --------
    >>> check_interval((0, 1.5), "p_range")
    (0.0, 1.5)
    >>> check_interval(3, "p_range")
    Traceback (most recent call last):
    ...
    dynsys.errors.DynsysError: p_range must be a pair (LO, HI), got 3
    """
    if isinstance(value, (str, bytes)):
        raise DynsysError(f"{name} must be a pair (LO, HI), got {value!r}")
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise DynsysError(f"{name} must be a pair (LO, HI), got {value!r}") from None
    return check_range(lo, hi, name)


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """``np.random.default_rng(rng)`` for a valid seed, else a one-line error naming ``name``.

    Accepts None, a non-negative int (or a sequence of them), a ``SeedSequence``, a
    ``BitGenerator`` or a ``Generator`` (returned as it is, so its stream goes on).

    Examples
    --------
    >>> float(check_rng(0).random()) == float(np.random.default_rng(0).random())
    True
    >>> check_rng("abc")
    Traceback (most recent call last):
    ...
    dynsys.errors.DynsysError: rng must be None, a non-negative int, a SeedSequence or a Generator, got 'abc'
    """
    ok = rng is None or isinstance(rng, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator))
    if not ok and not isinstance(rng, (bool, np.bool_, str, bytes)):
        seeds = rng if isinstance(rng, (list, tuple, np.ndarray)) else [rng]
        arr = np.asarray(seeds, dtype=object)
        ok = (
            arr.ndim == 1
            and arr.size > 0
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in arr)
            and all(v >= 0 for v in arr)
        )
    if not ok:
        raise DynsysError(
            f"{name} must be None, a non-negative int, a SeedSequence or a Generator, got {_short(rng)}"
        )
    return np.random.default_rng(rng)


def _short(value) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


#: environment variable that overrides :func:`memory_limit` (a number of bytes)
MEMORY_LIMIT_ENV = "DYNSYS_MEMORY_LIMIT"
#: the share of the available memory one computation may take
MEMORY_FRACTION = 0.5


def _available_memory() -> int | None:
    """Bytes of memory available now: ``MemAvailable`` of /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def memory_limit() -> int | None:
    """The most memory (bytes) one computation may allocate, or None when it is unknown.

    ``$DYNSYS_MEMORY_LIMIT`` (bytes) when set, else half of the memory available now
    (``MemAvailable`` of /proc/meminfo on Linux, else the physical memory).
    """
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env is not None and env.strip():
        try:
            value = float(env)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value > 0):
            raise DynsysError(f"{MEMORY_LIMIT_ENV} must be a positive number of bytes, got {env!r}")
        return int(value)
    avail = _available_memory()
    return None if avail is None else int(MEMORY_FRACTION * avail)


def format_bytes(nbytes: float) -> str:
    """``1.5 GiB``, ``12.0 MiB``, ... (binary units, one decimal).

    Examples
    --------
    >>> format_bytes(3 * 2**30 / 2)
    '1.5 GiB'
    """
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} EiB"  # pragma: no cover


def check_memory(nbytes, name: str, what: str, *, value=None, detail: str | None = None) -> None:
    """Refuse a computation whose estimated peak memory exceeds :func:`memory_limit`.

    Call it before allocating: the error is one line that starts with the argument's name, e.g.
    ``resolution=30000: the loss surface would need about 40.2 GiB (9.0e+08 grid points × 6 arrays
    of float64), more than the 11.2 GiB this machine can spare``. No check when the limit is unknown.

    Parameters
    ----------
    nbytes : float
        The estimated peak (count the arrays the code really holds at once).
    name : str
        The argument that sets the size, as the user gave it.
    what : str
        What needs the memory ("the loss surface").
    value : optional
        The argument's value, shown as ``name=value``.
    detail : str, optional
        How the estimate is made up, shown in parentheses.

    Examples
    --------
    >>> check_memory(1024, "n", "a tiny array")  # fits: returns None
    """
    limit = memory_limit()
    if limit is None or not nbytes > limit:
        return
    head = name if value is None else f"{name}={value}"
    why = f" ({detail})" if detail else ""
    raise DynsysError(
        f"{head}: {what} would need about {format_bytes(nbytes)}{why}, "
        f"more than the {format_bytes(limit)} this machine can spare"
    )


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    """Validate that ``value`` is one of ``choices`` (listing them on error)."""
    choices = tuple(choices)
    if value not in choices:
        raise DynsysError(f"unknown {name} {value!r}; known: {', '.join(choices)}")
    return value


def _silent(iterable=None, **_):
    return iterable


def _tqdm(iterable=None, *, total=None, desc=None, initial=0, **kw):
    from tqdm.auto import tqdm

    kw.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, initial=initial, **kw)


def progress_wrapper(progress, name: str = "progress") -> Callable[..., Iterable]:
    """The progress protocol: ``progress(iterable, *, total=None, desc=None, initial=0)``.

    ``True`` gives a tqdm bar, ``False``/``None`` no output, and a callable is used as given (it
    must accept those keywords and return an iterable over ``iterable``; when the loop stops
    early, the caller closes it if it has ``close()``).

    Examples
    --------
    >>> list(progress_wrapper(False)(range(3), total=3, desc="x"))
    [0, 1, 2]
    """
    if progress is True:
        return _tqdm
    if progress is None or progress is False:
        return _silent
    if callable(progress):
        return progress
    raise DynsysError(f"{name} must be True, False or a callable, got {type(progress).__name__}")


@contextlib.contextmanager
def progress_loop(progress, iterable, name: str = "progress", **kw) -> Iterator[Iterable]:
    """The progress protocol around one loop: yields ``progress(iterable, **kw)`` and closes it (if
    it has ``close()``) when the block ends, whether the loop ran out, broke off or raised.

    ``progress`` is anything :func:`progress_wrapper` takes; ``kw`` are the protocol's keywords
    (``total``, ``desc``, ``initial``).

    Examples
    --------
    >>> with progress_loop(False, range(3), total=3) as it:
    ...     list(it)
    [0, 1, 2]
    """
    it = progress_wrapper(progress, name)(iterable, **kw)
    try:
        yield it
    finally:
        close = getattr(it, "close", None)
        if callable(close):
            close()


def progress_postfix(it, **values) -> None:
    """Show ``values`` (e.g. the latest loss) next to a progress bar, when it can show them.

    Calls ``it.set_postfix(**values)`` when the iterable returned by the progress protocol has a
    ``set_postfix`` method (tqdm's bars do); any other iterable — a user's callable may return a
    plain one — is left alone.

    Examples
    --------
    >>> progress_postfix(iter(range(3)), loss=0.5)  # a plain iterator: nothing happens
    """
    setter = getattr(it, "set_postfix", None)
    if callable(setter):
        setter(**values)
