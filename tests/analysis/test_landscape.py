"""Tests of dynsys.analysis.landscape against closed forms: the folds of the one-unit map (paper
Fig. 3), a flip, a pitchfork and a Neimark–Sacker point of hand-built 2-unit nets."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.landscape import Event, interpolate_maps, track_landscape
from dynsys.errors import DynsysError
from dynsys.maps import RNNMap, UnitMap


def _rotation(t):
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _unit_folds(w):
    """Closed-form folds of x ↦ w σ(x) + b: w σ'(x) = 1, b = x − w σ(x)."""
    out = []
    for sig in ((1 + np.sqrt(1 - 4 / w)) / 2, (1 - np.sqrt(1 - 4 / w)) / 2):
        x = np.log(sig / (1 - sig))
        out.append(x - w * sig)
    return sorted(out)


def _is_fixed_point(at, e, tol=1e-9):
    m = at(e.s)
    return float(np.linalg.norm(m.step(e.state) - e.state)) < tol


def test_interpolate_maps_ends_and_midpoint():
    a = RNNMap(np.array([[0.5, -1.0], [2.0, 0.1]]), b=np.array([0.1, -0.2]))
    b = RNNMap(np.array([[1.5, 1.0], [0.0, -0.3]]), b=np.array([-0.3, 0.4]))
    at = interpolate_maps(a, b)
    assert np.array_equal(at(0.0).W_rec, a.W_rec) and np.array_equal(at(1.0).b, b.b)
    np.testing.assert_allclose(at(0.25).W_rec, 0.75 * a.W_rec + 0.25 * b.W_rec, rtol=0, atol=1e-15)
    assert type(at(0.5)) is RNNMap and at(0.5).activation == a.activation


def test_one_unit_folds_of_fig3():
    w, ba, bb = 5.0, -3.0, -2.0
    a = UnitMap(w=w, b=ba, activation="sigmoid")
    b = UnitMap(w=w, b=bb, activation="sigmoid")
    step = track_landscape(a, b, rng=0)
    folds = step.of_kind("fold")
    assert len(step.events) == 2 and len(folds) == 2
    located = sorted((1 - e.s) * ba + e.s * bb for e in folds)
    np.testing.assert_allclose(located, _unit_folds(w), rtol=0, atol=1e-6)
    at = interpolate_maps(a, b)
    for e in folds:
        assert _is_fixed_point(at, e)
        assert abs(e.multiplier - 1.0) < 1e-6  # w σ'(x*) = 1
    # one stable point each side, not the same one: the low point is lost, the high one born
    assert len(step.before) == 1 and len(step.after) == 1
    assert step.matches.shape == (0, 2) and step.lost.tolist() == [0] and step.born.tolist() == [0]
    assert step.before.states[0, 0] < 0 < step.after.states[0, 0]


def test_flip_of_a_two_unit_net():
    # origin multipliers −c and 0.3, c = 0.8 + 0.4 s: a flip at c = 1 (s = 0.5)
    a, b = RNNMap(np.diag([-0.8, 0.3])), RNNMap(np.diag([-1.2, 0.3]))
    step = track_landscape(a, b, rng=1)
    assert [e.kind for e in step.events] == ["flip"]
    e = step.events[0]
    assert abs(e.s - 0.5) < 1e-6 and abs(e.multiplier + 1.0) < 1e-6
    np.testing.assert_allclose(e.state, 0.0, atol=1e-9)
    assert step.matches.tolist() == [[0, 0]] and step.lost.size == 0 and step.born.size == 0
    assert step.after.stability == ("saddle",)


def test_pitchfork_of_a_two_unit_net():
    # origin multipliers c and 0.5: at c = 1 two points ±x (x = c tanh x) are born beside it
    a, b = RNNMap(np.diag([0.8, 0.5])), RNNMap(np.diag([1.2, 0.5]))
    step = track_landscape(a, b, rng=2)
    assert [e.kind for e in step.events] == ["branch-point"]
    e = step.events[0]
    assert abs(e.s - 0.5) < 1e-6 and abs(e.multiplier - 1.0) < 1e-6
    np.testing.assert_allclose(e.state, 0.0, atol=1e-9)
    assert len(step.before) == 1 and len(step.after) == 3 and step.lost.size == 0
    origin = int(np.argmin(np.linalg.norm(step.after.states, axis=1)))
    assert step.matches.tolist() == [[0, origin]]
    born = step.after.states[step.born]
    assert born.shape == (2, 2)
    np.testing.assert_allclose(born[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(born[:, 0], 1.2 * np.tanh(born[:, 0]), atol=1e-9)
    np.testing.assert_allclose(sorted(born[:, 0]), [-born[:, 0].max(), born[:, 0].max()], atol=1e-9)


def test_neimark_sacker_of_a_rotation():
    # W_rec = r R(θ), r = 0.9 + 0.2 s: the pair r e^{±iθ} crosses the circle at r = 1 (s = 0.5)
    theta = 1.0
    a, b = RNNMap(0.9 * _rotation(theta)), RNNMap(1.1 * _rotation(theta))
    step = track_landscape(a, b, rng=3)
    assert [e.kind for e in step.events] == ["neimark-sacker"]
    e = step.events[0]
    assert abs(e.s - 0.5) < 1e-6
    assert abs(e.multiplier - np.exp(1j * theta)) < 1e-6


def test_identical_maps_have_no_event():
    W = np.array([[2.0, -0.5], [0.4, 1.5]])
    m = RNNMap(W, b=np.array([0.1, -0.2]))
    step = track_landscape(m, m, rng=4)
    assert step.events == ()
    assert len(step.before) == len(step.after) >= 1
    assert step.matches.shape == (len(step.before), 2) and step.lost.size == 0 and step.born.size == 0
    d = np.linalg.norm(step.before.states[step.matches[:, 0]] - step.after.states[step.matches[:, 1]], axis=1)
    assert float(d.max()) < 1e-9


def test_chained_before_is_used_and_events_are_fixed_points():
    a = UnitMap(w=5.0, b=-2.8, activation="sigmoid")
    b = UnitMap(w=5.0, b=-2.5, activation="sigmoid")
    first = track_landscape(a, a, rng=0)
    step = track_landscape(a, b, before=first.after)
    assert step.before is first.after
    (e,) = step.events  # the fold at b₁ only
    assert isinstance(e, Event) and e.kind == "fold"
    assert abs((1 - e.s) * -2.8 + e.s * -2.5 - _unit_folds(5.0)[0]) < 1e-6
    assert _is_fixed_point(interpolate_maps(a, b), e)
    assert step.born.size == 2 and step.matches.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    "a, b, match",
    [
        (UnitMap(w=5.0, b=-3.0), RNNMap(np.eye(1)), "type"),
        (RNNMap(np.eye(2)), RNNMap(np.eye(3)), "dimensions"),
        (RNNMap(np.eye(2), activation="tanh"), RNNMap(np.eye(2), activation="relu"), "activation"),
        (RNNMap(np.eye(2)), RNNMap(np.eye(2), W_out=np.ones((1, 2))), "W_out"),
        ("not a map", RNNMap(np.eye(2)), "map_a"),
    ],
)
def test_bad_input(a, b, match):
    with pytest.raises(DynsysError, match=match):
        interpolate_maps(a, b)
    with pytest.raises(DynsysError, match=match):
        track_landscape(a, b)


def test_bad_options():
    m = RNNMap(np.eye(2) * 0.5)
    with pytest.raises(DynsysError, match="s must be finite"):
        interpolate_maps(m, m)(float("nan"))
    with pytest.raises(DynsysError, match="match_tol"):
        track_landscape(m, m, match_tol=-1.0)
    with pytest.raises(DynsysError, match="before"):
        track_landscape(m, m, before="x")
