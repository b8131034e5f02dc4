"""Cell mapping (Hsu) against direct iteration and against closed forms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.analysis.basins import (
    DIVERGED,
    basin_graph,
    basins_of_attraction,
    boundary_mask,
    boundary_pairs,
    box_grid,
    cell_mapping,
    label_agreement,
)
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, NewtonMap, RNNMap, UnitMap

CASES = {
    "unit": (UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], 401)),
    "logistic": (LogisticMap(3.2), box_grid([(-0.5, 1.5)], 401)),
    "henon": (HenonMap(1.4, 0.3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 160)),
    "rnn2": (RNNMap([[1.5, 1.0], [1.0, 1.5]], b=[0.2, -0.1]), box_grid([(-4.0, 4.0), (-4.0, 4.0)], 160)),
    "newton": (NewtonMap(3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 160)),
}
_DIRECT = {}


def _direct(name):
    if name not in _DIRECT:
        m, grid = CASES[name]
        _DIRECT[name] = basins_of_attraction(m, grid)
    return _DIRECT[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_cell_mapping_agrees_with_direct_iteration(name):
    # cell mapping of F^4 (the default): >= 99 % of cells on every test map, Newton's fractal
    # boundary included (measured: unit 100 %, logistic 99.5 %, Hénon 99.98 %, RNN 99.99 %,
    # Newton 99.4 %; the logistic misses are the two cells on x = 0 and x = 1, whose orbits end
    # on the repelling fixed point 0)
    m, grid = CASES[name]
    di = _direct(name)
    cm = cell_mapping(m, grid)
    assert cm.steps_per_cell == 4
    assert cm.n_attractors == len(di.attractors)
    agree, _ = label_agreement(di.labels, cm.labels)
    assert agree >= 0.99
    assert sum(cm.fractions.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", ["unit", "logistic", "henon", "rnn2"])
def test_simple_cell_mapping_agrees_off_fractal_boundaries(name):
    # k = 1 (Hsu's simple cell mapping) is enough where boundaries are smooth
    m, grid = CASES[name]
    cm = cell_mapping(m, grid, steps_per_cell=1)
    assert cm.n_attractors == len(_direct(name).attractors)
    assert label_agreement(_direct(name).labels, cm.labels)[0] >= 0.99


def test_cell_mapping_newton_k1_errs_only_near_the_fractal_boundary():
    m, grid = CASES["newton"]
    di = _direct("newton")
    cm = cell_mapping(m, grid, steps_per_cell=1)
    assert cm.n_attractors == 3
    agree, mapping = label_agreement(cm.labels, di.labels)
    # on a fractal boundary the cell snapping of SCM is wrong near many boundary cells (97.2 %)
    assert 0.96 <= agree < 0.99
    mapped = np.vectorize(mapping.get)(cm.labels)
    inner = ~boundary_mask(di.labels)
    assert np.mean(mapped[inner] == di.labels[inner]) >= 0.995
    # more true steps per snap: fewer wrong cells
    agree4 = label_agreement(cell_mapping(m, grid, steps_per_cell=4).labels, di.labels)[0]
    assert agree4 > agree + 0.01
    # the attractor cells contain the roots
    for k in range(3):
        S = cm.attractor_states(k)
        z = S[:, 0] + 1j * S[:, 1]
        root = np.exp(2j * np.pi * np.arange(3) / 3)
        assert np.min(np.abs(z[:, None] - root[None]), axis=0).min() < 2 * grid.cell_size


@pytest.mark.parametrize("r, period", [(3.2, 2), (3.5, 4)])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_pieces_of_a_periodic_orbit_under_f_k_are_joined(r, period, k):
    # a period-p orbit of F is gcd(p, k) orbits of F^k; cell mapping must report one attractor
    m, grid = LogisticMap(r), box_grid([(-0.5, 1.5)], 401)
    di = basins_of_attraction(m, grid)
    assert [a.period for a in di.attractors] == [period]
    cm = cell_mapping(m, grid, steps_per_cell=k)
    assert cm.n_attractors == 1
    assert label_agreement(di.labels, cm.labels)[0] >= 0.99
    # its cells hold every point of the orbit
    x = grid.axes[0]
    h = x[1] - x[0]
    cells = x[cm.attractor_cells[0]]
    for p in di.attractors[0].points[:, 0]:
        assert np.min(np.abs(cells - p)) <= h


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
    N = grid.size
    x = grid.axes[0]
    for k in (1, 3):
        cm = cell_mapping(m, grid, steps_per_cell=k)
        assert cm.successor.shape == (N + 1,) and cm.successor[N] == N
        # successor of each in-box centre is the cell of its k-th image
        img = x
        for _ in range(k):
            img = 3.2 * img * (1 - img)
        inside = (img >= x[0] - 1e-3) & (img <= x[-1] + 1e-3)
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
    [
        ({"samples": 2}, "odd"),
        ({"samples": 0}, "samples"),
        ({"reentry_steps": -1}, "reentry_steps"),
        ({"steps_per_cell": 0}, "steps_per_cell"),
    ],
)
def test_cell_mapping_bad_input(kwargs, match):
    m, grid = CASES["unit"]
    with pytest.raises(DynsysError, match=match):
        cell_mapping(m, grid, **kwargs)


def test_cell_mapping_needs_full_grid():
    from dynsys.analysis.basins import plane_grid

    g = plane_grid([0, 0, 0], [[1, 0, 0], [0, 1, 0]], [(-1, 1)], 10)
    with pytest.raises(DynsysError, match="spanning"):
        cell_mapping(RNNMap(np.eye(3)), g)
