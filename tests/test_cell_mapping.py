"""Cell mapping (Hsu) against direct iteration and against closed forms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.basin_graph import basin_graph, boundary_pairs
from dynsys.basins import DIVERGED, basins_of_attraction, box_grid, label_agreement
from dynsys.boundaries import boundary_mask
from dynsys.cell_mapping import cell_mapping
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, NewtonMap, RNNMap, UnitMap

CASES = {
    "unit": (UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], 401)),
    "logistic": (LogisticMap(3.2), box_grid([(-0.5, 1.5)], 401)),
    "henon": (HenonMap(1.4, 0.3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 160)),
    "rnn2": (RNNMap([[1.5, 1.0], [1.0, 1.5]], b=[0.2, -0.1]), box_grid([(-4.0, 4.0), (-4.0, 4.0)], 160)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cell_mapping_agrees_with_direct_iteration(name):
    m, grid = CASES[name]
    di = basins_of_attraction(m, grid)
    cm = cell_mapping(m, grid)
    assert cm.n_attractors == len(di.attractors)
    agree, _ = label_agreement(di.labels, cm.labels)
    assert agree >= 0.99
    assert sum(cm.fractions.values()) == pytest.approx(1.0, abs=1e-12)


def test_cell_mapping_newton_agrees_off_the_fractal_boundary():
    m, grid = NewtonMap(3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 160)
    di = basins_of_attraction(m, grid)
    cm = cell_mapping(m, grid)
    assert cm.n_attractors == 3
    agree, mapping = label_agreement(cm.labels, di.labels)
    # on a fractal boundary the cell snapping of SCM is wrong near every boundary cell
    assert agree >= 0.96
    mapped = np.vectorize(mapping.get)(cm.labels)
    inner = ~boundary_mask(di.labels)
    assert np.mean(mapped[inner] == di.labels[inner]) >= 0.995
    # the attractor cells contain the roots
    for k in range(3):
        S = cm.attractor_states(k)
        z = S[:, 0] + 1j * S[:, 1]
        root = np.exp(2j * np.pi * np.arange(3) / 3)
        assert np.min(np.abs(z[:, None] - root[None]), axis=0).min() < 2 * grid.cell_size


def test_cell_mapping_unit_attractor_cells_hold_the_fixed_points():
    m, grid = CASES["unit"]
    cm = cell_mapping(m, grid)
    f = lambda x: 5.0 / (1 + np.exp(-x)) - 2.45 - x  # noqa: E731
    roots = [brentq(f, -4, -1), brentq(f, 0.5, 4)]
    x = grid.axes[0]
    h = x[1] - x[0]
    for k, r in enumerate(roots):
        cells = x[cm.attractor_cells[k]]
        assert cells.min() - h / 2 <= r <= cells.max() + h / 2


def test_scm_successor_and_sink():
    m, grid = CASES["logistic"]
    cm = cell_mapping(m, grid)
    N = grid.size
    assert cm.successor.shape == (N + 1,) and cm.successor[N] == N
    x = grid.axes[0]
    # successor of each in-box centre is the cell of its image
    img = 3.2 * x * (1 - x)
    inside = (img >= x[0]) & (img <= x[-1])
    expect = np.rint((img[inside] - x[0]) / (x[1] - x[0])).astype(int)
    assert np.array_equal(cm.successor[:N][inside], expect)
    assert np.all(cm.labels[x < 0] == DIVERGED)


def test_basin_graph_of_bistable_and_newton():
    m, grid = CASES["rnn2"]
    g = basin_graph(basins_of_attraction(m, grid))
    assert set(g.nodes) == {0, 1} and list(g.edges) == [(0, 1)]
    assert sum(d["fraction"] for _, d in g.nodes(data=True)) == pytest.approx(1.0)
    assert all(d["kind"] == "fixed_point" for _, d in g.nodes(data=True))
    gn = basin_graph(basins_of_attraction(NewtonMap(3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 80)))
    assert nx.is_isomorphic(gn, nx.complete_graph(3))  # every Newton basin touches every other one


def test_boundary_pairs_counts():
    lab = np.array([[0, 0, 1], [0, 0, 1]])
    assert boundary_pairs(lab) == {(0, 1): 2}
    assert boundary_pairs(np.zeros((3, 3), int)) == {}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"samples": 2}, "odd"), ({"samples": 0}, "samples"), ({"reentry_steps": -1}, "reentry_steps")],
)
def test_cell_mapping_bad_input(kwargs, match):
    m, grid = CASES["unit"]
    with pytest.raises(DynsysError, match=match):
        cell_mapping(m, grid, **kwargs)


def test_cell_mapping_needs_full_grid():
    from dynsys.basins import plane_grid

    g = plane_grid([0, 0, 0], [[1, 0, 0], [0, 1, 0]], [(-1, 1)], 10)
    with pytest.raises(DynsysError, match="spanning"):
        cell_mapping(RNNMap(np.eye(3)), g)
