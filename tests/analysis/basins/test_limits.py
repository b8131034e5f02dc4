"""Basins whose arrays would not fit in memory are refused up front, naming the argument."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dynsys.analysis.basins.direct import basins_of_attraction
from dynsys.analysis.basins.grids import box_grid, map_grid
from dynsys.analysis.basins.report import basins_report, compute_basins
from dynsys.errors import DynsysError
from dynsys.maps import RNNMap, UnitMap

M2 = RNNMap(np.array([[1.5, -0.8], [0.9, 1.2]]), None, np.array([0.1, -0.2]), "tanh")


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", str(64 * 2**20))  # 64 MiB


def test_map_grid_refuses_a_resolution_whose_labels_cannot_be_stored(small_limit, refused_cheaply):
    msg = refused_cheaply(
        lambda: map_grid(M2, 100_000),
        r"^resolution=100000: the basins on this grid would need about 55\.9 GiB",
    )
    assert "1.0e+10 grid points × 6 bytes of labels and step counts, at least" in msg
    refused_cheaply(
        lambda: map_grid(M2, (100_000, 50_000)), r"^resolution=\[100000, 50000\]: the basins on this grid"
    )
    plane = (np.zeros(2), np.eye(2))
    refused_cheaply(lambda: map_grid(M2, 100_000, plane=plane), r"^resolution=100000: the basins")
    assert map_grid(UnitMap(w=5.0, b=-2.45), 10**6).size == 10**6  # 6 MB of labels: fine


def test_compute_basins_counts_the_method_and_the_report(small_limit, refused_cheaply):
    g = map_grid(M2, 2000)  # 4e6 points: labels fit (24 MB), basins and report do not
    msg = refused_cheaply(
        lambda: compute_basins(M2, g), r"^grid=\(2000, 2000\): the basins and their report would need about"
    )
    assert "method 'direct'" in msg
    refused_cheaply(lambda: compute_basins(M2, g, "cells"), r"^grid=\(2000, 2000\): .* method 'cells'")
    refused_cheaply(
        lambda: basins_of_attraction(M2, g, chunk_size=1 << 22),
        r"^chunk_size=4194304: the basins would need about",
    )


def test_basins_of_attraction_names_the_grid(small_limit, refused_cheaply):
    g = box_grid([(-1.0, 1.0), (-1.0, 1.0)], 4000)  # 1.6e7 points × 6 bytes = 96 MB
    refused_cheaply(lambda: basins_of_attraction(M2, g), r"^grid=\(4000, 4000\): the basins would need about")


def test_basins_report_checks_its_own_memory(monkeypatch):
    g = map_grid(UnitMap(w=5.0, b=-2.45), 3000)
    res = compute_basins(UnitMap(w=5.0, b=-2.45), g)
    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", "1000")
    with pytest.raises(DynsysError, match=r"^grid=\(3000,\): the basins report would need about 117\.2 KiB"):
        basins_report(res, g)


def test_estimates_are_within_a_factor_two_of_the_peak(monkeypatch):
    import dynsys.analysis.basins.report as report

    seen = {}
    monkeypatch.setattr(report, "check_memory", lambda nbytes, name, what, **k: seen.setdefault(what, nbytes))
    for m, res in ((UnitMap(w=5.0, b=-2.45), 100_000), (M2, 250)):
        for method in ("direct", "cells"):
            g = map_grid(m, res)
            seen.clear()
            compute_basins(m, g, method)  # warm-up: first imports allocate too
            seen.clear()
            tracemalloc.start()
            basins_report(compute_basins(m, g, method), g)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            ratio = seen["the basins and their report"] / peak
            assert 0.5 < ratio < 2.0, (m, method, ratio)
