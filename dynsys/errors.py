"""The one error type of dynsys: :class:`DynsysError`.

Every public function validates its arguments once, at the boundary (:mod:`dynsys._validate`),
and raises :class:`DynsysError` with a one-line message that names the offending argument,
e.g. ``W_rec must be square, got shape (3, 4)``. Inner loops trust their inputs.
The CLI turns a :class:`DynsysError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

__all__ = ["DynsysError"]


class DynsysError(ValueError):
    """A user-facing error: bad input, unknown name, corrupt file.

    Subclasses :class:`ValueError` so that generic callers can catch it; the
    message is always a single line naming the argument at fault.
    """
