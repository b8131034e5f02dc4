"""Error type and boundary validation shared by the whole package.

Every public function validates its arguments once, at the boundary, and raises
:class:`DynsysError` with a one-line message that names the offending argument,
e.g. ``W_rec must be square, got shape (3, 4)``. Inner loops trust their inputs.
The CLI turns a :class:`DynsysError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "DynsysError",
    "as_float_array",
    "check_choice",
    "check_finite_scalar",
    "check_positive_int",
    "check_range",
]


class DynsysError(ValueError):
    """A user-facing error: bad input, unknown name, corrupt file.

    Subclasses :class:`ValueError` so that generic callers can catch it; the
    message is always a single line naming the argument at fault.
    """


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
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise DynsysError(f"{name} must be a numeric array ({exc})") from None
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
