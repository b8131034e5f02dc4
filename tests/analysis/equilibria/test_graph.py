"""The dynamics graph: saddles connect to the attractors on either side of them."""

from __future__ import annotations

import numpy as np

from dynsys.analysis.equilibria import OTHER, dynamics_graph, find_fixed_points
from dynsys.maps import HenonMap, RNNMap, UnitMap


def test_one_unit_bistable():
    m = UnitMap(w=5.0, b=-2.5)
    fp = find_fixed_points(m)
    g = dynamics_graph(m, fp)
    assert g.number_of_nodes() == 3
    assert [g.nodes[i]["stability"] for i in range(3)] == ["stable", "unstable", "stable"]
    assert sorted(g.successors(1)) == [0, 2]
    assert g.out_degree(0) == 0 and g.out_degree(2) == 0


def test_two_decoupled_bistable_units(rng):
    # x ↦ 2 tanh(x) per coordinate: fixed points {−a, 0, a}², a = 2 tanh(a)
    m = RNNMap(2.0 * np.eye(2))
    fp = find_fixed_points(m, rng=rng, n_starts=256)
    assert len(fp) == 9
    a = np.max(fp.states)
    g = dynamics_graph(m, fp)
    stab = [g.nodes[i]["stability"] for i in range(9)]
    assert stab.count("stable") == 4 and stab.count("saddle") == 4 and stab.count("unstable") == 1
    for i in range(9):
        x = fp.states[i]
        if stab[i] == "saddle":
            # the saddle (±a, 0) leads to (±a, ±a): the attractors sharing its non-zero coordinate
            targets = sorted(g.successors(i))
            assert len(targets) == 2
            for j in targets:
                assert g.nodes[j]["stability"] == "stable"
                np.testing.assert_allclose(np.abs(fp.states[j]), a, atol=1e-9)
                k = int(np.argmax(np.abs(x)))
                assert np.sign(fp.states[j][k]) == np.sign(x[k])
        if stab[i] == "unstable":
            # the source at 0 pushes along the axes, which are invariant: to the four saddles
            targets = sorted(g.successors(i))
            assert len(targets) == 4
            assert all(g.nodes[j]["stability"] == "saddle" for j in targets)


def test_unresolved_pushes_go_to_other(rng):
    # Hénon at the classical parameters: the unstable manifold of the inner saddle runs along
    # the strange attractor (not a fixed point); the outer one's escapes to infinity
    m = HenonMap(1.4, 0.3)
    fp = find_fixed_points(m, rng=rng)
    g = dynamics_graph(m, fp, steps=200)
    assert OTHER in g
    assert all(OTHER in set(g.successors(i)) for i in range(len(fp)))
