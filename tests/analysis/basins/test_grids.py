"""Grids of states, labellings and hashed cells (:mod:`dynsys.analysis.basins.grids`) against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynsys
from dynsys.analysis import basins
from dynsys.analysis.basins import CellTable, box_grid, grids, label_agreement, plane_grid
from dynsys.analysis.basins.grids import cell_coords, cell_keys
from dynsys.errors import DynsysError


def test_the_basins_face_exports_the_grid_api():
    for name in ("StateGrid", "box_grid", "plane_grid", "label_agreement", "DIVERGED", "UNDECIDED"):
        assert getattr(basins, name) is getattr(grids, name)
    assert dynsys.box_grid is grids.box_grid and dynsys.StateGrid is grids.StateGrid


def test_grid_locate_inverts_states(rng):
    grid = plane_grid(rng.normal(size=4), rng.normal(size=(2, 4)), [(-1, 2), (0, 3)], (7, 9))
    S = grid.states().reshape(-1, 4)
    assert np.array_equal(grid.locate(S), np.arange(S.shape[0]))
    assert np.all(grid.locate(S + 10.0) == -1)
    assert np.allclose(grid.states(5, 20), S[5:20])


def test_box_grid_locate_is_the_nearest_centre(rng):
    grid = box_grid([(-1.0, 1.0), (0.0, 3.0)], (11, 31))
    assert grid.shape == (11, 31) and grid.size == 341
    assert grid.cell_size == pytest.approx(0.1)
    X = rng.uniform([-1.04, -0.04], [1.04, 3.04], size=(2000, 2))
    C = grid.states().reshape(-1, 2)
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)  # brute force: nearest centre
    expect = d.argmin(axis=1)
    got = grid.locate(X)
    assert np.array_equal(got, expect)
    assert np.all(grid.locate(np.array([[1.2, 1.0], [0.0, -0.2], [np.nan, 1.0]])) == -1)


def test_plane_grid_off_plane_points_are_outside():
    grid = plane_grid([0.0, 0.0, 0.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [(-1, 1)], 21)
    on = np.array([[0.3, -0.2, 0.0]])
    assert grid.locate(on)[0] >= 0
    assert grid.locate(on + [0.0, 0.0, 0.6 * grid.cell_size])[0] == -1
    assert grid.locate(on + [0.0, 0.0, 0.4 * grid.cell_size])[0] == grid.locate(on)[0]


def test_label_agreement_permutation():
    a = np.array([0, 0, 1, 1, 2, -1, -2])
    b = np.array([2, 2, 0, 0, 1, -1, -2])
    agree, mapping = label_agreement(a, b)
    assert agree == 1.0 and mapping[0] == 2
    b2 = b.copy()
    b2[-1] = -1
    assert label_agreement(a, b2)[0] == pytest.approx(6 / 7)
    with pytest.raises(DynsysError, match="same size"):
        label_agreement(a, b[:3])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3), spread=st.sampled_from([1.0, 1e7]))
def test_cell_table_lookup_matches_brute_force(seed, n, spread):
    # spread 1e7 forces the hashed (sparse) look-up, 1.0 the dense table
    rng = np.random.default_rng(seed)
    h = 0.1
    table = CellTable(h, n)
    truth = {}
    for cid in range(3):
        P = rng.normal(scale=spread, size=(20, n))
        c = cell_coords(P, 1.0 / h)
        table.add(c, cid)
        for row in map(tuple, c):
            truth.setdefault(row, cid)  # the first id given to a cell stays
    assert (table.dense is None) == (spread > 1)
    Q = np.concatenate([rng.normal(scale=spread, size=(200, n)), (np.array(list(truth)) + 0.5) * h])
    expect = np.array([truth.get(tuple(row), -1) for row in cell_coords(Q, 1.0 / h)])
    assert np.array_equal(table.lookup(Q), expect)
    assert len(table) == len(truth)


def test_cell_keys_exact_in_one_dimension():
    X = np.array([[-0.25], [-0.05], [0.05], [0.15]])
    assert np.array_equal(cell_coords(X, 10.0).ravel(), [-3, -1, 0, 1])
    assert np.unique(cell_keys(X, 10.0)).size == 4


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: box_grid([(-1, 1)], 0), "resolution"),
        (lambda: box_grid([(-1, 1)], 1), "resolution"),
        (lambda: box_grid([(1, -1)], 10), "LO < HI"),
        (lambda: box_grid([(0, 1)] * 3, 10), "plane_grid"),
        (lambda: plane_grid([0, 0, 0], [[1, 0, 0], [2, 0, 0]], [(-1, 1)], 10), "parallel"),
        (lambda: plane_grid([0, 0, 0], [[0, 0, 0], [0, 1, 0]], [(-1, 1)], 10), "non-zero"),
        (lambda: plane_grid([0, np.nan, 0], [[1, 0, 0], [0, 1, 0]], [(-1, 1)], 10), "finite"),
        (lambda: plane_grid([0, 0], [[1, 0, 0]], [(-1, 1)], 10), "directions"),
    ],
)
def test_grid_bad_input_one_line_errors(call, match):
    with pytest.raises(DynsysError, match=match) as exc:
        call()
    assert "\n" not in str(exc.value)
