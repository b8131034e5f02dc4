"""Process controls for long training runs: OpenBLAS thread limit and SIGTERM handling."""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["blas_threads", "raise_on_sigterm"]


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


def raise_on_sigterm():
    """In the main thread, make SIGTERM (batch schedulers, ``kill``) raise KeyboardInterrupt so the
    run saves a checkpoint before it ends. Returns the previous handler (None when not installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)
