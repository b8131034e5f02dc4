"""Sizes of the one-unit surface and the loss slices refused up front; progress of long surfaces."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dynsys.analysis.walls.report import analyze_unit_surface
from dynsys.analysis.walls.surface import _CHUNK, refine_unit_surface, unit_surface
from dynsys.analysis.walls.wall import locate_unit_wall
from dynsys.errors import DynsysError

WINDOW = ((4.2, 5.4), (-2.8, -2.0))


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", str(512 * 2**20))  # 512 MiB


def test_surface_resolution_is_refused_before_allocating(small_limit, refused_cheaply):
    msg = refused_cheaply(
        lambda: unit_surface(*WINDOW, 30000),
        r"^resolution=30000: the loss surface would need about 40\.2 GiB",
    )
    assert "9.0e+08 grid points × 6 arrays of float64" in msg and "512.0 MiB this machine can spare" in msg
    refused_cheaply(
        lambda: unit_surface(*WINDOW, (100000, 10000)), r"^resolution=\(100000, 10000\): the loss surface"
    )
    refused_cheaply(lambda: analyze_unit_surface(*WINDOW, 30000), r"^resolution=30000: the loss surface")
    unit_surface(*WINDOW, 100, T=5)  # small grids still run


def test_the_estimate_is_within_a_factor_two_of_the_peak(monkeypatch):
    import dynsys.analysis.walls.surface as surface

    seen = []
    monkeypatch.setattr(surface, "check_memory", lambda nbytes, *a, **k: seen.append(nbytes))
    for order in (1, 2):
        tracemalloc.start()
        unit_surface(*WINDOW, 400, T=3, order=order)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 0.5 < seen[-1] / peak < 2.0, (order, seen[-1], peak)


def test_wall_lines_are_refused_before_the_grid_runs(small_limit, monkeypatch, refused_cheaply):
    import dynsys.analysis.walls.report as report

    ran = []
    monkeypatch.setattr(report, "unit_surface", lambda *a, **k: ran.append(1))
    refused_cheaply(
        lambda: analyze_unit_surface(*WINDOW, 100, lines=100_000),
        r"^lines=100000: the wall's line scan would need",
    )
    assert not ran  # refused before the first stage
    refused_cheaply(
        lambda: locate_unit_wall(*WINDOW, lines=10, samples=10**7), r"^samples=10000000: the wall's line scan"
    )
    refused_cheaply(
        lambda: refine_unit_surface(*WINDOW, resolution=5000), r"^resolution=5000: the refined surface"
    )
    refused_cheaply(
        lambda: refine_unit_surface(*WINDOW, max_cells=10**6), r"^max_cells=1000000: the refined surface"
    )


class _Recorder:
    """A progress callable of the protocol that records its bars and counts the items drawn."""

    def __init__(self):
        self.bars = []

    def __call__(self, iterable, *, total=None, desc=None, initial=0):
        bar = {"desc": desc, "total": total, "n": 0}
        self.bars.append(bar)

        def gen():
            for item in iterable:
                bar["n"] += 1
                yield item

        return gen()


def test_surface_progress_counts_block_steps_and_changes_nothing():
    rec = _Recorder()
    n = _CHUNK + 5  # n × 2 points: three blocks
    plain = unit_surface(*WINDOW, (n, 2), T=7)
    shown = unit_surface(*WINDOW, (n, 2), T=7, progress=rec)
    assert rec.bars == [{"desc": "surface grid", "total": 3 * 7, "n": 3 * 7}]
    np.testing.assert_array_equal(plain.loss, shown.loss)
    np.testing.assert_array_equal(plain.grad, shown.grad)


def test_analyze_progress_has_one_bar_per_stage_and_the_same_numbers():
    rec = _Recorder()
    a = analyze_unit_surface(*WINDOW, 20, lines=6, T=12)
    b = analyze_unit_surface(*WINDOW, 20, lines=6, T=12, progress=rec)
    assert [bar["desc"] for bar in rec.bars] == [
        "surface grid",
        "surface refinement",
        "surface wall scan",
        "surface wall",
    ]
    for bar in rec.bars:
        assert bar["n"] > 0 and bar["n"] % 12 == 0  # whole blocks of T steps
        if bar["total"] is not None:
            assert bar["n"] == bar["total"]
    assert a.max_grad == b.max_grad
    np.testing.assert_array_equal(a.wall.points, b.wall.points)
    np.testing.assert_array_equal(a.refined.loss, b.refined.loss)
    with pytest.raises(DynsysError, match="^progress must be True, False or a callable"):
        analyze_unit_surface(*WINDOW, 20, progress="yes")


def test_a_huge_T_runs_with_a_bar_that_says_so():
    """``T`` costs time, not memory: the bar's total is blocks × T from the start."""
    rec = _Recorder()

    class Stop(Exception):
        pass

    def stopping(iterable, **kw):
        gen = rec(iterable, **kw)
        for i, item in enumerate(gen):
            if i == 50:
                raise Stop
            yield item

    with pytest.raises(Stop):
        unit_surface(*WINDOW, 10, T=100_000_000, progress=stopping)
    assert rec.bars[0]["total"] == 100_000_000


def test_slices_refuse_huge_grids(small_limit, refused_cheaply):
    from dynsys.analysis.walls.slices import loss_line, loss_plane
    from dynsys.gradients import ReadoutLoss
    from dynsys.maps import RNNMap

    rng = np.random.default_rng(0)
    rnn = RNNMap(
        rng.normal(0, 0.5, (3, 3)),
        rng.normal(0, 1, (3, 2)),
        np.zeros(3),
        "tanh",
        rng.normal(0, 1, (2, 3)),
        np.zeros(2),
    )
    u = rng.normal(size=(5, 4, 2))
    loss = ReadoutLoss(np.array([[0, 1, 1, 0]]), kind="softmax")
    P = 9 + 6 + 3 + 6 + 2
    d1, d2 = np.eye(P)[0], np.eye(P)[1]
    big = np.linspace(-1, 1, 2000)
    msg = refused_cheaply(
        lambda: loss_plane(rnn, u, loss, d1, d2, big, big[:1500]),
        r"^alphas: the loss slice would need about",
        40,
    )
    assert "3000000 points × 26 parameters" in msg
    many = np.linspace(-1, 1, 10**7)
    refused_cheaply(lambda: loss_line(rnn, u, loss, d1, many), "^alphas: the loss slice", 40)
    refused_cheaply(
        lambda: loss_line(rnn, np.zeros((10**5, 4, 2)), loss, d1, big, chunk=2000),
        "^chunk=2000: the loss slice",
        100,
    )
    assert loss_line(rnn, u, loss, d1, np.linspace(-1, 1, 5)).loss.shape == (5,)
