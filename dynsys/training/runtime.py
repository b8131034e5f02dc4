"""Process controls for long training runs: OpenBLAS thread limit and interrupt handling."""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["blas_threads", "deferred_interrupts", "InterruptGuard"]


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Limit OpenBLAS to ``n`` threads inside the block (no-op when OpenBLAS is not found).

    The trainer's matrices are small (n ≈ 50): BLAS threads only contend, and on a busy machine
    two spinning OpenBLAS threads made an update ~10× slower in CPU time. One thread also keeps
    the floating-point summation order fixed, so a resumed run matches an uninterrupted one.
    """
    fns = _openblas_thread_fns()
    if fns is None:
        yield
        return
    get, set_ = fns
    old = get()
    set_(int(n))
    try:
        yield
    finally:
        set_(old)


def _openblas_thread_fns():
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    return get, set_
    return None


class InterruptGuard:
    """What :func:`deferred_interrupts` caught: ``signum`` is None until SIGINT or SIGTERM arrives."""

    def __init__(self):
        self.signum: int | None = None

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a signal was deferred (call at a consistent point)."""
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {self.signum}")


@contextlib.contextmanager
def deferred_interrupts():
    """Defer Ctrl-C (SIGINT) and SIGTERM to points where the caller's state is consistent.

    Inside the block (main thread only) the first signal is recorded in the yielded
    :class:`InterruptGuard` instead of interrupting; the caller finishes its current unit of work
    (one training update), saves, and calls ``guard.check()``. A second signal raises
    ``KeyboardInterrupt`` at once (a stuck step can still be stopped; the last saved state is
    kept). An interrupt in the middle of an update would otherwise save half-updated weights
    with the old update count, and the resumed run would differ from an uninterrupted one.
    Outside the main thread (e.g. a Dask worker thread) signals cannot be handled: the guard
    simply never fires.
    """
    guard = InterruptGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def handler(signum, frame):
        if guard.signum is not None:
            raise KeyboardInterrupt(f"signal {signum}")
        guard.signum = signum

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield guard
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
