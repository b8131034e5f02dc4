"""Tests of dynsys.analysis.landscape against closed forms: the folds of the one-unit map (paper
Fig. 3), a flip, a pitchfork and a Neimark–Sacker point of hand-built 2-unit nets; with
``period=2`` the 2-cycle of x ↦ −c tanh(x) (born at the flip c = 1) and a fold of 2-cycles."""

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
    assert step.period == 1 and e.period == 1 and step.fixed is None
    assert step.to_dict()["period"] == 1 and step.to_dict()["events"][0]["period"] == 1


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


# ---------------------------------------------------------------------------------------
# period=2: the 2-cycles of the map, one point per cycle
# ---------------------------------------------------------------------------------------


def _cycle_amplitude(c):
    """x* > 0 with x* = c tanh(x*): the 2-cycle ±x* of x ↦ −c tanh(x) (c > 1)."""
    from scipy.optimize import brentq

    return brentq(lambda x: x - c * np.tanh(x), 1e-3, c + 1.0, xtol=1e-15)


def _neg(c):
    return RNNMap(np.array([[-c]]))  # x ↦ −c tanh(x): flip of the origin at c = 1


def test_two_cycle_is_matched_without_event():
    step = track_landscape(_neg(1.2), _neg(1.5), period=2, rng=0)
    assert step.period == 2 and step.before.period == 2 and step.after.period == 2
    assert step.events == ()
    # the cycle ±x* is one orbit, reported by one point
    assert len(step.before) == 1 and len(step.after) == 1
    np.testing.assert_allclose(np.abs(step.before.states[0]), _cycle_amplitude(1.2), rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.abs(step.after.states[0]), _cycle_amplitude(1.5), rtol=0, atol=1e-10)
    assert step.matches.tolist() == [[0, 0]] and step.lost.size == 0 and step.born.size == 0
    assert step.after.stability == ("stable",)
    # multiplier of F∘F: (c sech²x*)², the same at both points
    x = _cycle_amplitude(1.5)
    np.testing.assert_allclose(step.after.multipliers[0, 0].real, (1.5 / np.cosh(x) ** 2) ** 2, atol=1e-10)


def test_two_cycle_born_at_the_flip_is_a_branch_point():
    step = track_landscape(_neg(0.8), _neg(1.2), period=2, rng=0)
    (e,) = step.events
    assert (e.kind, e.period) == ("branch-point", 2)
    assert abs(e.s - 0.5) < 1e-9 and abs(e.multiplier - 1.0) < 1e-9
    np.testing.assert_allclose(e.state, 0.0, atol=1e-9)
    assert len(step.before) == 0 and len(step.after) == 1 and step.born.tolist() == [0]
    np.testing.assert_allclose(np.abs(step.after.states[0]), _cycle_amplitude(1.2), rtol=0, atol=1e-10)
    # the fixed-point step computed on the way sees the same point as a flip
    assert step.fixed.period == 1 and [k.kind for k in step.fixed.events] == ["flip"]
    d = step.to_dict()
    assert d["period"] == 2 and d["events"][0]["period"] == 2 and d["events"][0]["kind"] == "branch-point"
    # and backwards: the cycle is lost at the same point
    back = track_landscape(_neg(1.2), _neg(0.8), period=2, rng=0)
    assert [(k.kind, round(k.s, 9)) for k in back.events] == [("branch-point", 0.5)]
    assert back.lost.tolist() == [0] and len(back.after) == 0


def test_fold_of_two_cycles_of_a_swap_net():
    # F(x1, x2) = (w tanh x2 + b, w tanh x1 + b): (p, q) with p, q distinct fixed points of
    # g(y) = w tanh y + b is a 2-cycle of F. For 0 < b < b_f = w tanh(x_f) − x_f, cosh² x_f = w,
    # g has p1 < p2 < p3: 3 cycles {p_i, p_j}. At b = b_f p1 and p2 merge: the cycles {p1, p3}
    # and {p2, p3} collide (a fold of 2-cycles) and {p1, p2} shrinks onto the fixed point (p, p),
    # which flips there (a branch point of the 2-cycles).
    w, ba, bb = 2.0, 0.3, 0.7
    xf = np.arccosh(np.sqrt(w))
    b_fold = w * np.tanh(xf) - xf
    S = np.array([[0.0, w], [w, 0.0]])
    step = track_landscape(RNNMap(S, b=np.full(2, ba)), RNNMap(S, b=np.full(2, bb)), period=2, rng=0)
    assert len(step.before) == 3 and len(step.after) == 0 and step.lost.size == 3
    assert sorted(e.kind for e in step.events) == ["branch-point", "fold"]
    for e in step.events:
        assert e.period == 2
        assert abs((1 - e.s) * ba + e.s * bb - b_fold) < 1e-8
        assert abs(e.multiplier - 1.0) < 1e-6
    (fold,) = step.of_kind("fold")
    np.testing.assert_allclose(sorted(fold.state)[0], -xf, atol=1e-6)  # the merging p1 = p2 = −x_f
    at = interpolate_maps(RNNMap(S, b=np.full(2, ba)), RNNMap(S, b=np.full(2, bb)))
    m = at(fold.s)
    assert np.linalg.norm(m.step(m.step(fold.state)) - fold.state) < 1e-9
    assert np.linalg.norm(m.step(fold.state) - fold.state) > 0.1  # minimal period 2


def test_two_cycle_before_with_both_points_is_one_cycle():
    from dynsys.analysis.equilibria.fixed_points import find_fixed_points

    fp = find_fixed_points(_neg(1.2), period=2)
    assert len(fp) == 2  # ±x*: both points of the one cycle
    step = track_landscape(_neg(1.2), _neg(1.5), period=2, before=fp)
    assert len(step.before) == 1 and step.matches.tolist() == [[0, 0]] and step.events == ()


@pytest.mark.parametrize("period", [0, 3, 1.5, True, "2"])
def test_bad_period(period):
    m = _neg(0.5)
    with pytest.raises(DynsysError, match="period must be 1 or 2"):
        track_landscape(m, m, period=period)


def test_before_of_the_wrong_period():
    m = _neg(1.2)
    first = track_landscape(m, m, rng=0)
    with pytest.raises(DynsysError, match="period-2"):
        track_landscape(m, m, period=2, before=first.after)
