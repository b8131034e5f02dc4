"""Shared fixtures: seeded generators (never global seeding) and CLI helpers."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dynsys", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dynsys")


@pytest.fixture
def rng():
    """A seeded generator, fresh for each test."""
    return np.random.default_rng(20130617)


@pytest.fixture
def run_cli(capsys):
    """Run ``dynsys ARGS...`` in-process; returns (exit_code, stdout, stderr)."""
    from dynsys.cli.app import main

    def _run(*argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def refused_cheaply():
    """``refused_cheaply(fn, match, limit_mb=1.0)``: ``fn()`` raises a one-line DynsysError matching
    ``match`` *before* allocating (traced peak under ``limit_mb`` MiB); returns the message."""
    import tracemalloc

    from dynsys.errors import DynsysError

    def check(fn, match, limit_mb=1.0):
        tracemalloc.start()
        try:
            with pytest.raises(DynsysError, match=match) as e:
                fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "\n" not in str(e.value)
        assert peak < limit_mb * 2**20, peak
        return str(e.value)

    return check


def _default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.fixture
def default_signals():
    """A ``preexec_fn`` for a child process that must see Ctrl-C: SIGINT and SIGQUIT back to their
    defaults. A test runner started as a background job of a non-interactive shell has them
    ignored, the child would inherit that, and Python then installs no KeyboardInterrupt handler."""
    return _default_signals
