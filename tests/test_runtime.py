"""dynsys.runtime: the OpenBLAS thread limit is restored on exit; SIGTERM becomes KeyboardInterrupt."""

from __future__ import annotations

import os
import signal

import pytest

from dynsys.runtime import _openblas_thread_fns, blas_threads, raise_on_sigterm


def test_blas_threads_sets_and_restores():
    fns = _openblas_thread_fns()
    if fns is None:
        pytest.skip("OpenBLAS not loaded")
    get, _ = fns
    before = get()
    with blas_threads(2):
        assert get() == 2
        with blas_threads(1):
            assert get() == 1
        assert get() == 2
    assert get() == before


def test_sigterm_raises_keyboard_interrupt_and_handler_is_returned():
    old = raise_on_sigterm()
    try:
        assert old is not None
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert signal.getsignal(signal.SIGTERM) is old
