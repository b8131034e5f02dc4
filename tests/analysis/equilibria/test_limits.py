"""find_fixed_points / find_slow_points: sizes refused up front, seeds checked, progress shown."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dynsys.analysis.equilibria.fixed_points import find_fixed_points, find_slow_points
from dynsys.analysis.equilibria.newton import newton_solve
from dynsys.errors import DynsysError
from dynsys.maps import LogisticMap, RNNMap, UnitMap


def _rnn(n, seed=0, gain=2.0):
    rng = np.random.default_rng(seed)
    return RNNMap(rng.normal(0, gain / np.sqrt(n), (n, n)), None, rng.normal(0, 0.1, n), "tanh")


def test_newton_memory_is_refused_naming_the_starts(monkeypatch, refused_cheaply):
    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", str(64 * 2**20))
    m = _rnn(40)
    msg = refused_cheaply(
        lambda: find_fixed_points(m, n_starts=100_000, linear="lu"),
        r"^n_starts=100000: the Newton solve would need",
    )
    assert "100008 starts × 40×40 Jacobians of float64, Newton with LU" in msg
    big = _rnn(1000)
    msg = refused_cheaply(
        lambda: find_fixed_points(big, n_starts=100_000),
        r"^n_starts=100000: the Newton solve would need about 3[0-9.]+ GiB",
    )
    assert "Newton–Krylov" in msg
    starts = np.zeros((20_000, 40))
    refused_cheaply(
        lambda: find_fixed_points(m, starts=starts, linear="lu"), r"^starts: the Newton solve would need"
    )
    refused_cheaply(
        lambda: find_slow_points(m, n_starts=20_000), r"^n_starts=20000: the slow-point search would need"
    )
    refused_cheaply(
        lambda: find_fixed_points(UnitMap(w=5.0, b=-2.5), grid=10**8),
        r"^grid=100000000: the sign-change scan would need",
    )
    assert len(find_fixed_points(UnitMap(w=5.0, b=-2.5))) == 3  # the defaults fit


def test_newton_estimates_are_within_a_factor_two_of_the_peak(monkeypatch):
    import dynsys.analysis.equilibria.fixed_points as fpm

    seen = []
    monkeypatch.setattr(fpm, "check_memory", lambda nbytes, *a, **k: seen.append(nbytes))
    find_fixed_points(_rnn(70), n_starts=64, rng=0)  # warm-up: the first call imports scipy
    find_slow_points(_rnn(20), n_starts=16, rng=0, max_iter=5)
    for n, S, linear in ((30, 512, "lu"), (80, 512, "krylov")):
        m = _rnn(n, 1, gain=1.5)
        tracemalloc.start()
        find_fixed_points(m, n_starts=S, rng=0, linear=linear)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 0.5 < seen[-1] / peak < 2.0, (n, S, linear, seen[-1] / peak)
    tracemalloc.start()
    find_slow_points(_rnn(30, 1), n_starts=256, rng=0, max_iter=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.5 < seen[-1] / peak < 2.0, seen[-1] / peak


@pytest.mark.parametrize("bad", ["abc", -3, 2.5, [1, "x"]])
def test_rng_is_checked_at_the_boundary(bad):
    for fn in (find_fixed_points, find_slow_points):
        with pytest.raises(
            DynsysError, match=r"^rng must be None, a non-negative int, a SeedSequence or a Generator, got "
        ):
            fn(_rnn(3), rng=bad)
    a = find_fixed_points(_rnn(5), rng=np.random.SeedSequence(3))
    b = find_fixed_points(_rnn(5), rng=np.random.default_rng(np.random.SeedSequence(3)))
    np.testing.assert_array_equal(a.states, b.states)


class _Bar:
    """What a progress callable of the protocol may return: an iterable with ``set_postfix``."""

    def __init__(self, iterable, total, desc):
        self.iterable, self.total, self.desc, self.n, self.postfix, self.closed = (
            iterable,
            total,
            desc,
            0,
            [],
            False,
        )

    def __iter__(self):
        for item in self.iterable:
            self.n += 1
            yield item

    def set_postfix(self, **kw):
        self.postfix.append(kw)

    def close(self):
        self.closed = True


def _recorder(bars):
    def progress(iterable, *, total=None, desc=None, initial=0):
        bars.append(_Bar(iterable, total, desc))
        return bars[-1]

    return progress


@pytest.mark.parametrize("linear", ["lu", "krylov"])
def test_progress_reports_newton_iterations_without_changing_the_result(linear):
    m = _rnn(64, 2)
    plain = find_fixed_points(m, n_starts=200, rng=1, linear=linear)
    bars = []
    shown = find_fixed_points(m, n_starts=200, rng=1, linear=linear, progress=_recorder(bars))
    np.testing.assert_array_equal(plain.states, shown.states)
    np.testing.assert_array_equal(plain.residual, shown.residual)
    # one bar per Newton solve: the sampled starts, then each batch of midpoints (at most two
    # rounds of two batches)
    assert 1 <= len(bars) <= 5 and ("midpoints" in shown.message) == (len(bars) > 1)
    for bar in bars:
        assert bar.desc == "fixed points: Newton" and bar.total == 60 and bar.closed
        assert 1 <= bar.n <= 60 and len(bar.postfix) == bar.n
        active = [p["active"] for p in bar.postfix]
        assert active[0] > 0 and active == sorted(active, reverse=True)  # starts leave, never join
    assert bars[0].postfix[0]["active"] > 200 // 2  # the first bar is the solve from the sampled starts
    bars = []
    find_fixed_points(m, n_starts=200, rng=1, linear=linear, midpoints=False, progress=_recorder(bars))
    assert len(bars) == 1


def test_progress_of_newton_solve_and_slow_points():
    bars = []
    x, res, ok = newton_solve(LogisticMap(2.5), np.array([[0.4], [0.9]]), progress=_recorder(bars))
    assert ok.all() and bars[0].total == 60 and bars[0].closed
    m = _rnn(6, 3)
    plain = find_slow_points(m, n_starts=32, rng=0, max_iter=40)
    shown = find_slow_points(m, n_starts=32, rng=0, max_iter=40, progress=_recorder(bars))
    np.testing.assert_array_equal(plain.states, shown.states)
    assert bars[-1].desc == "slow points" and bars[-1].total == 40 and bars[-1].n >= 1
    assert all(set(p) == {"improved"} for p in bars[-1].postfix)
    find_fixed_points(m, rng=0, progress=lambda it, **kw: it)  # a plain iterable (no set_postfix) works too
    with pytest.raises(DynsysError, match="^progress must be True, False or a callable"):
        find_fixed_points(m, progress="bar")
    with pytest.raises(DynsysError, match="^max_iter must be >= 0, got -1"):
        find_fixed_points(m, max_iter=-1)
