"""Tests of dynsys.analysis.probes against known truth: the bistable one-unit map (closed-form fixed
points by root finding, the saddle at 0 by symmetry), a 2-unit tanh net with a saddle whose stable
manifold is the line x₁ = 0, the stable 2-cycle of x ↦ −2 tanh x, and the chaotic logistic map."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.analysis.landscape import track_landscape
from dynsys.analysis.probes import (
    ProbeAttractor,
    basin_crossings,
    probe_attractors,
)
from dynsys.errors import DynsysError
from dynsys.maps import LogisticMap, RNNMap, UnitMap

UNIT = UnitMap(w=5.0, b=-2.5, activation="sigmoid")


def _unit_stable():
    """The stable fixed points of x ↦ 5σ(x) − 2.5 (the unstable one is 0 by symmetry)."""
    f = lambda x: 5.0 / (1.0 + np.exp(-x)) - 2.5 - x  # noqa: E731
    hi = brentq(f, 0.5, 5.0, xtol=1e-15)
    return -hi, hi


def _tanh_root(w):
    """The positive root of x = w tanh x (w > 1)."""
    return brentq(lambda x: w * np.tanh(x) - x, 0.1, 2 * w, xtol=1e-15)


def test_unit_map_probes_are_labelled_by_their_side_of_the_saddle():
    lo, hi = _unit_stable()
    assert abs(UNIT.step(np.array([0.0]))[0]) < 1e-15  # 0 is the saddle …
    assert 5.0 * 0.25 > 1.0  # … with multiplier 1.25
    x = np.array([-4.0, -1.0, -0.01, -1e-4, 1e-4, 0.01, 1.0, 4.0])[:, None]
    r = probe_attractors(UNIT, x)
    assert np.all(r.status == "attractor") and r.n_undecided == 0
    assert r.periods.tolist() == [1, 1]
    left = r.labels[0]
    assert np.all(r.labels[:4] == left) and np.all(r.labels[4:] == 1 - left)
    np.testing.assert_allclose(r.attractors[left].points[0, 0], lo, rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.attractors[1 - left].points[0, 0], hi, rtol=0, atol=1e-8)
    assert r.counts.tolist() == [4, 4]
    sig = 1.0 / (1.0 + np.exp(-hi))
    assert r.attractors[1 - left].radius == pytest.approx(5.0 * sig * (1 - sig), abs=1e-8)


def test_moving_one_final_state_across_the_saddle_is_exactly_one_crossing():
    x_a = np.array([-2.0, -0.3, -1e-3, 0.2, 3.0])[:, None]
    x_b = x_a.copy()
    x_b[2, 0] = 1e-3  # across the stable manifold of the saddle (in 1-D: the point 0)
    a = probe_attractors(UNIT, x_a)
    b = probe_attractors(UNIT, x_b, attractors=a.attractors)
    assert b.labels.tolist() == [0, 0, 1, 1, 1] and a.labels.tolist() == [0, 0, 0, 1, 1]
    c = basin_crossings(a, b)
    assert c.crossed.tolist() == [False, False, True, False, False]
    assert c.n_crossed == 1 and c.fraction == pytest.approx(1 / 5) and c.n_undecided == 0
    assert not np.any(c.unmatched) and c.pairs.tolist() == [[0, 0], [1, 1]]
    # labels found afresh (ids in another order) are paired by the nearest representative
    fresh = probe_attractors(UNIT, x_b[::-1])
    assert fresh.labels[0] != b.labels[-1] or fresh.labels.tolist() != b.labels[::-1].tolist()
    c2 = basin_crossings(
        a.labels, fresh.labels[::-1], attractors_a=a.attractors, attractors_b=fresh.attractors
    )
    assert np.flatnonzero(c2.crossed).tolist() == [2]
    # the same crossing through the fixed points a LandscapeStep continues between the checkpoints
    step = track_landscape(UNIT, UNIT, rng=0)
    assert len(step.matches) == 3
    c3 = basin_crossings(a, b, match=step)
    assert np.flatnonzero(c3.crossed).tolist() == [2] and c3.pairs.tolist() == [[0, 0], [1, 1]]
    # the same final states: no crossing
    assert basin_crossings(a, probe_attractors(UNIT, x_a)).n_crossed == 0


def test_a_lost_attractor_makes_its_probes_cross_unmatched():
    """b = −2.0 lies past the fold b₂ ≈ −2.344 of Fig. 3: the lower fixed point is gone."""
    m_b = UNIT.with_params(b=-2.0)
    x = np.array([-3.0, -0.5, 0.5, 3.0])[:, None]
    a = probe_attractors(UNIT, x)
    b = probe_attractors(m_b, x, attractors=a.attractors, match_radius=1.0)  # it moves by 0.6
    assert b.labels.tolist() == [1, 1, 1, 1] and b.counts.tolist() == [0, 4]
    fresh = probe_attractors(m_b, x)  # ids afresh: paired by distance or by the continuation
    for bb, kw in (
        (b, {}),
        (fresh, {"match_radius": 1.0}),
        (fresh, {"match": track_landscape(UNIT, m_b, rng=0)}),
    ):
        c = basin_crossings(a, bb, **kw)
        assert c.crossed.tolist() == [True, True, False, False]
        assert c.unmatched.tolist() == [True, True, False, False]
        assert c.pairs.tolist() == [[1, bb.labels[0]]]
    # by distance within the default radius the moved point is not the same attractor: all unmatched
    assert basin_crossings(a, fresh).unmatched.tolist() == [True, True, True, True]


def test_reused_attractors_keep_their_ids_while_they_drift():
    a = probe_attractors(UNIT, np.array([[-2.0], [2.0]]))
    m = UNIT.with_params(b=-2.45)
    b = probe_attractors(m, np.array([[2.0], [-2.0], [2.5]]), attractors=a)
    assert b.labels.tolist() == [1, 0, 1]
    drift = abs(b.attractors[1].points[0, 0] - a.attractors[1].points[0, 0])
    assert 0.05 < drift < 0.2  # the attractor moved, and kept its id
    np.testing.assert_allclose(m.step(b.attractors[1].points), b.attractors[1].points, atol=1e-8)
    # a match radius smaller than the drift: new ids instead
    c = probe_attractors(m, np.array([[2.0], [-2.0]]), attractors=a, match_radius=1e-6)
    assert sorted(c.labels.tolist()) == [2, 3] and c.counts.tolist() == [0, 0, 1, 1]


def test_two_unit_tanh_net_sides_of_the_saddle_manifold():
    m = RNNMap(np.diag([2.0, 0.5]))
    xs = _tanh_root(2.0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(40, 2))
    x[:, 0] = np.where(np.abs(x[:, 0]) < 1e-3, 0.5, x[:, 0])
    r = probe_attractors(m, x)
    assert np.all(r.labels >= 0) and len(r.attractors) == 2
    pos = r.labels[np.argmax(x[:, 0])]
    assert np.all((r.labels == pos) == (x[:, 0] > 0))
    np.testing.assert_allclose(r.attractors[pos].points, [[xs, 0.0]], atol=1e-8)
    np.testing.assert_allclose(r.attractors[1 - pos].points, [[-xs, 0.0]], atol=1e-8)
    # a probe on the stable manifold x₁ = 0 goes to the saddle: unstable, not an attractor
    s = probe_attractors(m, np.array([[0.0, 0.7], [-1e-3, 0.4]]))
    assert s.status.tolist() == ["unstable", "attractor"] and s.labels[0] == -1
    # moving one final state across x₁ = 0
    x_b = x.copy()
    k = int(np.argmin(np.abs(x[:, 0])))
    x_b[k, 0] = -x[k, 0]
    c = basin_crossings(r, probe_attractors(m, x_b, attractors=r))
    assert np.flatnonzero(c.crossed).tolist() == [k]


def test_period_two_orbit_is_one_attractor():
    m = RNNMap(np.array([[-2.0]]))  # x ↦ −2 tanh x: 0 unstable (−2), a stable 2-cycle ±a
    a = _tanh_root(2.0)
    x = np.array([[0.3], [-1.0], [2.0], [-5.0], [0.0]])
    r = probe_attractors(m, x)
    assert r.labels.tolist() == [0, 0, 0, 0, -1] and r.status[-1] == "unstable"
    (att,) = r.attractors
    assert att.period == 2 and r.counts.tolist() == [4]
    np.testing.assert_allclose(att.points[:, 0], [-a, a], atol=1e-8)  # both points, one attractor
    assert att.radius == pytest.approx(4.0 / np.cosh(a) ** 4, abs=1e-8)
    # with max_period = 1 no attractor is found: undecided
    r1 = probe_attractors(m, x[:4], max_period=1, steps=200)
    assert np.all(r1.labels == -1) and np.all(r1.status == "undecided") and r1.attractors == ()


@pytest.mark.parametrize("p", [3, 4, 6])
def test_a_spiral_into_a_fixed_point_is_the_fixed_point_not_a_cycle(p):
    # x ↦ W tanh x with W = 0.95 R(2π/p): 0 is a stable spiral with multipliers 0.95 e^{±2πi/p};
    # near it x_t − x_{t−p} = (μ^p − 1) e is much smaller than x_t − x_{t−1} = (μ − 1) e, so the
    # period test passes for p first; the attractor is still the fixed point, radius 0.95
    th = 2 * np.pi / p
    W = 0.95 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    m = RNNMap(W)
    x = np.random.default_rng(p).uniform(-0.5, 0.5, size=(24, 2))
    for tol in (1e-4, 1e-8):
        r = probe_attractors(m, x, steps=3000, tol=tol)
        assert r.periods.tolist() == [1] and r.counts.tolist() == [24], (tol, r.periods)
        (att,) = r.attractors
        np.testing.assert_allclose(att.points, 0.0, atol=1e-8)
        assert att.radius == pytest.approx(0.95, rel=1e-6)


def test_solved_orbits_give_their_points_and_radii_and_change_no_label():
    m = RNNMap(np.array([[-2.0]]))  # the stable 2-cycle ±a of x ↦ −2 tanh x
    a = _tanh_root(2.0)
    x = np.array([[0.3], [-1.0], [2.0], [-5.0]])
    plain = probe_attractors(m, x)
    given = probe_attractors(m, x, orbits=[(np.array([[a], [-a]]), 0.123), (np.zeros((1, 1)), 2.0)])
    assert given.labels.tolist() == plain.labels.tolist() == [0, 0, 0, 0]
    (att,) = given.attractors
    assert att.radius == 0.123  # taken as given: no eigenvalue problem
    np.testing.assert_array_equal(att.points[:, 0], [-a, a])
    # a fixed point given with its radius also stands for its spirals' period-p "orbits"
    th = np.pi / 3
    W = 0.95 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    r = probe_attractors(RNNMap(W), np.full((3, 2), 0.3), orbits=[(np.zeros((1, 2)), 0.95)])
    assert r.periods.tolist() == [1] and r.attractors[0].radius == 0.95


def test_chaotic_logistic_map_is_undecided():
    x = np.random.default_rng(1).uniform(0.05, 0.95, size=(16, 1))
    r = probe_attractors(LogisticMap(r=4.0), x, steps=500)
    assert np.all(r.labels == -1) and np.all(r.status == "undecided") and len(r.attractors) == 0
    assert r.n_undecided == 16 and np.all(r.steps_taken == 500)
    # undecided probes are counted apart, never as crossings
    stable = probe_attractors(LogisticMap(r=2.5), x)
    assert np.all(stable.labels == 0)
    c = basin_crossings(stable, r)
    assert c.n_crossed == 0 and c.n_undecided == 16 and c.fraction == 0.0


def test_diverging_probes_and_json_record():
    m = RNNMap(np.array([[2.0]]), b=np.array([1.0]), activation="relu")  # x ↦ 2 relu(x) + 1 grows
    r = probe_attractors(m, np.array([[0.5], [-3.0]]), steps=200)
    assert r.status.tolist() == ["diverged", "diverged"] and np.all(r.labels == -1)
    ok = probe_attractors(UNIT, np.array([[-1.0], [1.0]]))
    rec = json.loads(json.dumps(ok.to_dict()))
    assert rec["labels"] == [0, 1] and rec["status"]["attractor"] == 2
    assert json.loads(json.dumps(basin_crossings(ok, ok).to_dict()))["n_crossed"] == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"final_states": [0.5, 0.2]}, "final_states"),
        ({"final_states": np.zeros((3, 2))}, "final_states"),
        ({"final_states": np.zeros((0, 1))}, "final_states"),
        ({"final_states": [[np.nan]]}, "final_states"),
        ({"steps": 0}, "steps"),
        ({"tol": 0.0}, "tol"),
        ({"tol": np.nan}, "tol"),
        ({"max_period": 0}, "max_period"),
        ({"match_radius": -1.0}, "match_radius"),
        ({"u": [1.0, 2.0]}, "u"),
        ({"attractors": [1, 2]}, "attractors"),
        ({"attractors": [ProbeAttractor(1, 1, np.zeros((1, 1)), 0.5)]}, "attractors"),
        ({"attractors": [ProbeAttractor(0, 1, np.zeros((1, 2)), 0.5)]}, "attractors"),
        ({"orbits": 3}, "orbits"),
        ({"orbits": [np.zeros((1, 1))]}, "orbits"),
        ({"orbits": [(np.zeros((1, 2)), 0.5)]}, "orbits"),
        ({"orbits": [(np.zeros((9, 1)), 0.5)]}, "orbits"),
        ({"orbits": [(np.zeros((1, 1)), np.nan)]}, "orbits"),
        ({"orbits": [(np.zeros((1, 1)), -1.0)]}, "orbits"),
    ],
)
def test_probe_attractors_bad_input(kwargs, match):
    args = {"final_states": [[0.5]], **kwargs}
    with pytest.raises(DynsysError, match=match):
        probe_attractors(UNIT, args.pop("final_states"), **args)


def test_bad_map_and_input_to_autonomous_map():
    with pytest.raises(DynsysError, match="map"):
        probe_attractors("not a map", [[0.5]])
    with pytest.raises(DynsysError, match="u"):
        probe_attractors(LogisticMap(), [[0.5]], u=[0.1])


def test_basin_crossings_bad_input():
    a = probe_attractors(UNIT, np.array([[-1.0], [1.0]]))
    with pytest.raises(DynsysError, match="labels_b"):
        basin_crossings(a, a.labels[:1], attractors_b=a.attractors)
    with pytest.raises(DynsysError, match="labels_a"):
        basin_crossings([0, 5], a.labels, attractors_a=a.attractors, attractors_b=a.attractors)
    with pytest.raises(DynsysError, match="labels_a"):
        basin_crossings([0.0, 1.0], a.labels, attractors_a=a.attractors, attractors_b=a.attractors)
    with pytest.raises(DynsysError, match="attractors_a"):
        basin_crossings(a.labels, a)
    with pytest.raises(DynsysError, match="match"):
        basin_crossings(a, a, match=np.zeros((1, 2), int))
    with pytest.raises(DynsysError, match="match_radius"):
        basin_crossings(a, a, match_radius=0.0)
