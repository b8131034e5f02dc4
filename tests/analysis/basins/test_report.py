"""Tests of dynsys.analysis.basins.report and the map grids of grids.py: against hand counts,
closed forms and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.analysis.basins import (
    BASIN_METHODS,
    DIVERGED,
    UNDECIDED,
    Attractor,
    BasinOptions,
    Basins,
    BasinsReport,
    CellMapping,
    basins_report,
    box_grid,
    cell_mapping,
    compute_basins,
    default_state_box,
    map_grid,
)
from dynsys.errors import DynsysError
from dynsys.maps import RNNMap, UnitMap

# a hand-made 4 x 4 labelling: attractors 0 and 1, diverged (-1) and undecided (-2) cells
LABELS = np.array(
    [
        [0, 0, 1, 1],
        [0, 0, 1, 1],
        [DIVERGED, DIVERGED, 1, 1],
        [DIVERGED, DIVERGED, UNDECIDED, 1],
    ],
    dtype=np.int32,
)
# neighbouring cell pairs with different labels, counted by hand (rows, then columns)
TOUCHING = {(0, 1): 2, (-1, 1): 1, (-2, -1): 1, (-2, 1): 2, (-1, 0): 2}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _hand_made():
    grid = box_grid([(0.0, 3.0), (0.0, 3.0)], 4)
    pts = [np.array([[0.5, 0.5]]), np.array([[2.5, 2.5]])]
    attractors = tuple(Attractor(k, "fixed_point", 1, p, -1.0) for k, p in enumerate(pts))
    res = Basins(LABELS, attractors, grid, np.zeros(LABELS.shape, np.int16), BasinOptions())
    return res, grid


def test_touching_pairs_and_fractions_of_a_hand_made_grid():
    res, grid = _hand_made()
    r = basins_report(res)
    assert isinstance(r, BasinsReport) and r.method == "direct" and r.grid is grid
    assert r.touching == TOUCHING
    s = r.summary()
    assert sorted(map(tuple, s["touching_basins"])) == sorted((a, b, n) for (a, b), n in TOUCHING.items())
    assert [a["fraction"] for a in s["attractors"]] == [4 / 16, 7 / 16]
    assert (s["diverged"], s["undecided"]) == (4 / 16, 1 / 16)
    assert sum(a["fraction"] for a in s["attractors"]) + s["diverged"] + s["undecided"] == 1.0
    assert "boundary" not in s and r.boundary is None  # 4 points per axis: too coarse to classify
    assert s["grid"] == {"origin": [0.0, 0.0], "directions": [[1.0, 0.0], [0.0, 1.0]], "extent": [[0, 3]] * 2}
    a = r.arrays()
    np.testing.assert_array_equal(a["labels"], LABELS)
    assert set(a) == {
        "labels",
        "origin",
        "directions",
        "axis_0",
        "axis_1",
        "attractor_0",
        "attractor_1",
        "steps",
    }


def test_unit_map_attractors_boundary_and_fractions_match_closed_form():
    m = UnitMap(w=5.0, b=-2.45)
    grid = map_grid(m, 301)
    r = basins_report(compute_basins(m, grid))
    f = lambda x: 5.0 * _sigmoid(x) - 2.45 - x  # noqa: E731
    low, mid, high = (brentq(f, a, c) for a, c in [(-4, -1), (-1, 0.5), (0.5, 4)])
    s = r.summary()
    assert sorted(a["points"][0][0] for a in s["attractors"]) == pytest.approx([low, high], abs=1e-6)
    assert r.touching == {(0, 1): 1}  # one boundary on a line of states ...
    x = grid.axes[0]
    cut = int(np.flatnonzero(np.diff(r.result.labels))[0])
    assert x[cut] <= mid <= x[cut + 1]  # ... at the unstable fixed point
    # fractions: the share of the grid on each side of the unstable point
    left = r.result.labels[0]
    want = {left: np.mean(x < mid), 1 - left: np.mean(x > mid)}
    assert {k: r.fractions[k] for k in (0, 1)} == pytest.approx(want, abs=1e-12)
    assert sum(r.fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert r.boundary.kind == "smooth" and s["boundary"]["kind"] == "smooth"


def test_cell_mapping_report():
    m = RNNMap(np.array([[1.5, 1.0], [1.0, 1.5]]), b=np.array([0.2, -0.1]))
    grid = map_grid(m, 40)
    res = compute_basins(m, grid, "cells")
    assert isinstance(res, CellMapping)
    assert res.steps_per_cell == 4  # cell_mapping's default
    r = basins_report(res)
    s = r.summary()
    assert r.method == "cells" and s["method"] == "cells" and s["steps_per_cell"] == 4
    assert [a["cells"] for a in s["attractors"]] == [int(c.size) for c in res.attractor_cells]
    assert all(a["type"] == "cells" for a in s["attractors"]) and len(s["attractors"]) == 2
    total = sum(a["fraction"] for a in s["attractors"]) + s["diverged"] + s["undecided"]
    assert total == pytest.approx(1.0, abs=1e-12)
    assert "steps" not in r.arrays() and "attractor_0" not in r.arrays()
    # the same as calling cell_mapping directly
    np.testing.assert_array_equal(res.labels, cell_mapping(m, grid).labels)


def test_compute_basins_methods_and_errors():
    assert BASIN_METHODS == ("direct", "cells")
    m = UnitMap(w=5.0, b=-2.45)
    grid = map_grid(m, 21)
    assert compute_basins(m, grid, max_steps=7).options.max_steps == 7
    with pytest.raises(DynsysError, match="unknown method 'nope'"):
        compute_basins(m, grid, "nope")
    res = compute_basins(m, grid)
    with pytest.raises(DynsysError, match="shape"):
        basins_report(res, map_grid(m, 22))


def test_default_state_box():
    # sigmoid unit: every image lies in [b, w + b]; a margin of 10 % of the width on each side
    lo, hi = default_state_box(UnitMap(w=5.0, b=-2.45))
    np.testing.assert_allclose([lo[0], hi[0]], [-2.45 - 0.5, 2.55 + 0.5], rtol=0, atol=1e-15)
    # tanh network: |x_i| <= sum_j |W_ij| + |b_i|
    W, b = np.array([[1.5, 1.0], [1.0, 1.5]]), np.array([0.2, -0.1])
    lo, hi = default_state_box(RNNMap(W, b=b), margin=0.0)
    np.testing.assert_allclose(lo, b - 2.5)
    np.testing.assert_allclose(hi, b + 2.5)
    # an unbounded activation: no state box, the fallback cube with its margin
    lo, hi = default_state_box(RNNMap(np.eye(2), activation="relu"))
    np.testing.assert_allclose(lo, [-3.6, -3.6])
    np.testing.assert_allclose(hi, [3.6, 3.6])
    with pytest.raises(DynsysError, match="margin"):
        default_state_box(UnitMap(), margin=-1.0)


def test_map_grid_box_plane_and_errors():
    m1 = UnitMap(w=5.0, b=-2.45)
    g = map_grid(m1, 11, extent=(-1.0, 2.0))
    assert g.shape == (11,) and (g.axes[0][0], g.axes[0][-1]) == (-1.0, 2.0)
    m2 = RNNMap(np.eye(2))
    g = map_grid(m2, 5, extent=[(-1.0, 1.0)])  # one range for both coordinates
    assert g.shape == (5, 5) and all((a[0], a[-1]) == (-1.0, 1.0) for a in g.axes)
    # a plane through a 3-D state space: by default it reaches across the state box
    m3 = RNNMap(2.0 * np.eye(3))  # tanh: |x_i| <= 2, with the margin 2.4
    g = map_grid(m3, 9, plane=(np.zeros(3), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])))
    ends = [(a[0], a[-1]) for a in g.axes]
    assert ends[0] == pytest.approx((-2.4, 2.4)) and ends[1] == pytest.approx(
        (-2.4 / np.sqrt(2), 2.4 / np.sqrt(2))
    )
    with pytest.raises(DynsysError, match="plane"):
        map_grid(m3, 9)
    with pytest.raises(DynsysError, match="entries"):
        map_grid(m3, 9, plane=(np.zeros(2), np.eye(2)))
    with pytest.raises(DynsysError, match="non-zero"):
        map_grid(m3, 9, plane=(np.zeros(3), np.zeros((1, 3))))
    with pytest.raises(DynsysError, match="extent"):
        map_grid(m1, 9, extent=[(-1.0, 1.0), (-2.0, 2.0)])
    with pytest.raises(DynsysError, match="extent"):
        map_grid(m1, 9, extent=[-1.0, 1.0, 2.0])
