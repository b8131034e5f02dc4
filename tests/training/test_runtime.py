"""dynsys.training.runtime: the OpenBLAS thread limit is restored on exit; interrupts are deferred to safe points."""

from __future__ import annotations

import os
import signal

import pytest

from dynsys.training import blas_threads, deferred_interrupts
from dynsys.training.runtime import _openblas_thread_fns


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_is_deferred_second_stops_and_handlers_are_restored(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with deferred_interrupts() as guard:
        guard.check()  # nothing caught yet
        os.kill(os.getpid(), sig)  # deferred: no exception here
        assert guard.signum == sig
        with pytest.raises(KeyboardInterrupt):
            guard.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)  # a second signal stops at once
    assert {s: signal.getsignal(s) for s in before} == before


def test_outside_the_main_thread_the_guard_never_fires():
    import threading

    seen = []

    def work():
        with deferred_interrupts() as guard:
            seen.append(guard.signum)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [None]
