"""Validation at the boundary: each helper checks one argument and names it in the error.

``as_float_array``, ``check_finite_scalar``, ``check_positive_int``, ``check_range`` and
``check_choice`` raise :class:`~dynsys.errors.DynsysError` with a one-line message naming the
argument (house style rule 7). :func:`progress_wrapper` is the one progress protocol of the
package: every long computation takes ``progress=`` as True (a tqdm bar), False/None (silent) or
a callable ``progress(iterable, *, total=None, desc=None, initial=0) -> iterable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .errors import DynsysError

__all__ = [
    "as_float_array",
    "check_choice",
    "check_finite_scalar",
    "check_positive_int",
    "check_range",
    "progress_wrapper",
    "progress_loop",
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
