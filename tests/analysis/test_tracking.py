"""Tests of dynsys.analysis.tracking against closed forms along chains of hand-made maps.

* the two folds of the one-unit map ``x ↦ 5σ(x) + b`` (paper Fig. 3): at a fold ``x = wσ(x) + b``
  and ``wσ′(x) = 1``, so ``σ(x) = (1 ± √(1 − 4/w))/2`` and ``b = x − wσ(x)``;
* a flip (origin multiplier ``c`` through ``−1``) and a pitchfork (``c`` through ``+1``) of the
  2-unit net ``x ↦ diag(c, ·) tanh(x)``, with the 2-cycle born at the flip;
* a basin crossing of the bistable unit map: with one step of input ``u`` from ``x₀ = 0`` a probe
  ends at ``2.5 + b + u``; it sits on the saddle ``x*`` exactly when ``b = x* − 5σ(x*)`` and
  ``u = 5σ(x*) − 2.5`` (so the crossing is placed in closed form), and its Lyapunov exponent is
  ``log |5σ′(0)| = log 1.25``;
* restoring both trackers from their state, and bad input.

A chain is a list of ``(update, map)``; the parameter at event time ``t − 1 + s`` is the one on the
straight segment of update ``t``: ``p_{t−1} + s (p_t − p_{t−1})``.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.analysis.tracking import Condition, LandscapeTracker, ProbeTracker, TrackedEvent
from dynsys.errors import DynsysError
from dynsys.maps import RNNMap, UnitMap

W = 5.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _unit_folds(w=W):
    """The closed-form fold parameters b₁ < b₂ of x ↦ w σ(x) + b."""
    out = []
    for sig in ((1 + np.sqrt(1 - 4 / w)) / 2, (1 - np.sqrt(1 - 4 / w)) / 2):
        x = np.log(sig / (1 - sig))
        out.append(x - w * sig)
    return sorted(out)


def _param_at(event: TrackedEvent, p) -> float:
    """The parameter on the segment of the event's update: p(t−1) + s (p(t) − p(t−1))."""
    t = event.update
    s = event.time - (t - 1)
    return p(t - 1) + s * (p(t) - p(t - 1))


def _observe_chain(tracker, maps: dict, checkpoints, localize=True):
    """Observe ``maps`` at ``checkpoints`` (the first without ``between``); the steps after the first."""
    tracker.observe(checkpoints[0], maps[checkpoints[0]])
    steps = []
    for a, c in itertools.pairwise(checkpoints):
        between = [(t, maps[t]) for t in range(a + 1, c)] if localize else ()
        steps.append(tracker.observe(c, maps[c], between=between))
    return steps


# -- folds of the one-unit map ----------------------------------------------------------------
B0, DB, N_UNIT = -3.0, 0.01, 100


def _b(t):
    return B0 + DB * t


UNIT_CHAIN = {t: UnitMap(w=W, b=_b(t)) for t in range(N_UNIT + 1)}


def _check_folds(events, expected):
    assert [e.kind for e in events] == ["fold"] * len(expected)
    located = [_param_at(e, _b) for e in events]
    np.testing.assert_allclose(located, expected, rtol=0, atol=1e-6)
    for e in events:
        assert e.period == 1 and e.condition == "zero"
        assert abs(e.multiplier - 1.0) < 1e-6  # w σ′(x*) = 1
        # the update containing the fold: b_{t−1} < b_fold ≤ b_t, and the time lies on it
        b_fold = _param_at(e, _b)
        assert _b(e.update - 1) < b_fold <= _b(e.update)
        assert e.update - 1 < e.time <= e.update
        # the reported state is the fold point: x = wσ(x) + b with wσ′(x) = 1
        x = float(e.state[0])
        assert abs(W * _sigmoid(x) + b_fold - x) < 1e-6
        assert abs(W * _sigmoid(x) * (1 - _sigmoid(x)) - 1.0) < 1e-5


def test_folds_of_the_unit_map_at_cadence_25():
    b1, b2 = _unit_folds()
    assert B0 < b1 < b2 < _b(N_UNIT)
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=0)
    steps = _observe_chain(tr, UNIT_CHAIN, [0, 25, 50, 75, 100])
    # b₁ ≈ −2.6556 at t ≈ 34.4 (interval 25..50), b₂ ≈ −2.3444 at t ≈ 65.6 (interval 50..75)
    assert [len(s.events) for s in steps] == [0, 1, 1, 0]
    _check_folds(steps[1].events, [b1])
    _check_folds(steps[2].events, [b2])
    assert steps[1].events[0].update == int(np.ceil((b1 - B0) / DB))
    assert steps[2].events[0].update == int(np.ceil((b2 - B0) / DB))
    # the landscape in between: 3 points (2 stable) inside the window, 1 outside
    n_fixed = [s.to_dict()["conditions"][0]["n_fixed"] for s in steps]
    n_stable = [s.to_dict()["conditions"][0]["n_stable_fixed"] for s in steps]
    assert n_fixed == [1, 3, 1, 1] and n_stable == [1, 2, 1, 1]


def test_both_folds_between_two_checkpoints_with_equal_signatures():
    """The path enters and leaves the bistable window between two checkpoints: one stable point at
    each end (equal signatures), so only the jump test (the low point's warm start lands on the high
    point) can flag the interval; bisection and continuation must still find both folds."""
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=0)
    first = tr.observe(0, UNIT_CHAIN[0])
    step = tr.observe(N_UNIT, UNIT_CHAIN[N_UNIT], between=[(t, UNIT_CHAIN[t]) for t in range(1, N_UNIT)])
    for s in (first, step):
        c = s.to_dict()["conditions"][0]
        assert c["n_fixed"] == 1 and c["n_stable_fixed"] == 1
    assert first.conditions[0].fixed.states[0, 0] < 0 < step.conditions[0].fixed.states[0, 0]
    _check_folds(step.events, _unit_folds())
    assert step.bisections > 0
    assert [e.update for e in step.events] == [int(np.ceil((b - B0) / DB)) for b in _unit_folds()]


def test_fold_without_between_is_located_on_the_line_between_checkpoints():
    """Without the per-update maps the segment is the whole interval (time = a + s (c − a))."""
    b1, _ = _unit_folds()
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=0)
    steps = _observe_chain(tr, UNIT_CHAIN, [0, 25, 50], localize=False)
    assert steps[0].events == ()
    (e,) = steps[1].events
    assert e.kind == "fold"
    # the chain is linear in b, so the line between the checkpoints is the chain itself
    assert abs(_b(e.time) - b1) < 1e-6 and 25 < e.time < 50


# -- flip and pitchfork of a 2-unit net -------------------------------------------------------
K2 = 15  # 15 updates: the crossing c = ±1 falls mid-update (t = 7.5)


def _c_flip(t):
    return -0.8 - 0.4 * t / K2


def _c_pitch(t):
    return 0.8 + 0.4 * t / K2


FLIP_CHAIN = {t: RNNMap(np.diag([_c_flip(t), 0.3])) for t in range(K2 + 1)}
PITCH_CHAIN = {t: RNNMap(np.diag([_c_pitch(t), 0.5])) for t in range(K2 + 1)}


@pytest.mark.parametrize("period2", [False, True])
def test_flip_of_a_two_unit_net(period2):
    tr = LandscapeTracker([Condition("zero")], period2=period2, rng=1)
    (step,) = _observe_chain(tr, FLIP_CHAIN, [0, K2])
    flips = [e for e in step.events if e.period == 1]
    assert [e.kind for e in flips] == ["flip"]
    e = flips[0]
    assert abs(_param_at(e, _c_flip) + 1.0) < 1e-6
    assert abs(e.multiplier + 1.0) < 1e-6 and e.update == 8
    np.testing.assert_allclose(e.state, 0.0, atol=1e-9)


def test_the_flip_gives_a_period2_branch_point_at_c_minus_one():
    # at c = −1 the 2-cycle ±x of x = −c tanh(−c tanh x)… i.e. of F∘F is born: multiplier (−1)² = +1
    tr = LandscapeTracker([Condition("zero")], period2=True, rng=1)
    (step,) = _observe_chain(tr, FLIP_CHAIN, [0, K2])
    cyc = [e for e in step.events if e.period == 2]
    assert [e.kind for e in cyc] == ["branch-point"]
    e = cyc[0]
    assert abs(_param_at(e, _c_flip) + 1.0) < 1e-6
    assert abs(e.multiplier - 1.0) < 1e-6 and e.update == 8 and 7 < e.time <= 8
    # after it the 2-cycle exists: x₁ ↦ c tanh x₁ with c = −1.2 has the cycle ±r, r = 1.2 tanh r
    r = brentq(lambda x: 1.2 * np.tanh(x) - x, 0.1, 3.0, xtol=1e-14)
    cyc_after = step.conditions[0].cycles
    assert len(cyc_after) == 1
    np.testing.assert_allclose(np.abs(cyc_after.states[0]), [r, 0.0], atol=1e-8)


def test_pitchfork_of_a_two_unit_net():
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=1)
    (step,) = _observe_chain(tr, PITCH_CHAIN, [0, K2])
    assert [e.kind for e in step.events] == ["branch-point"]
    e = step.events[0]
    assert abs(_param_at(e, _c_pitch) - 1.0) < 1e-6
    assert abs(e.multiplier - 1.0) < 1e-6 and e.update == 8 and e.period == 1
    np.testing.assert_allclose(e.state, 0.0, atol=1e-9)
    # after it: the origin and ±r, r = 1.2 tanh r
    r = brentq(lambda x: 1.2 * np.tanh(x) - x, 0.1, 3.0, xtol=1e-14)
    pts = step.conditions[0].fixed.states
    np.testing.assert_allclose(pts, [[-r, 0.0], [0.0, 0.0], [r, 0.0]], atol=1e-8)


def test_neimark_sacker_of_a_rotation():
    th = 1.0
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    chain = {t: RNNMap((0.9 + 0.2 * t / K2) * rot) for t in range(K2 + 1)}
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=1)
    (step,) = _observe_chain(tr, chain, [0, K2])
    assert [e.kind for e in step.events] == ["neimark-sacker"]
    assert abs(_param_at(step.events[0], lambda t: 0.9 + 0.2 * t / K2) - 1.0) < 1e-6


# -- basin crossings --------------------------------------------------------------------------
XC = 0.15  # where the saddle sits when it passes the crossing probe
U_C = W * _sigmoid(XC) - 2.5  # the probe's input: it ends at 2.5 + b + U_C …
B_C = XC - W * _sigmoid(XC)  # … which is the saddle at b = B_C
P_B0, P_DB, P_N = -2.45, -0.003, 50


def _pb(t):
    return P_B0 + P_DB * t


PROBE_CHAIN = {t: UnitMap(w=W, b=_pb(t)) for t in range(P_N + 1)}
PROBE_U = np.array([-1.5, -0.6, U_C, 1.0, 1.8])[None, :, None]  # T = 1, P = 5, m = 1


def _saddle(b):
    """The unstable fixed point of x ↦ 5σ(x) + b inside the bistable window (between the folds)."""
    a = 1 / np.sqrt(5)  # σ at the fold points: (1 ± a)/2; the saddle lies between their x
    x_hi = np.log((1 + a) / (1 - a))
    return brentq(lambda x: W * _sigmoid(x) + b - x, -x_hi, x_hi, xtol=1e-15)


def test_probe_setup_is_what_the_closed_form_says():
    b1, b2 = _unit_folds()
    assert b1 < _pb(P_N) < _pb(0) < b2  # the whole chain is bistable
    assert abs(_saddle(B_C) - XC) < 1e-12
    xT, _, _ = ProbeTracker(PROBE_U).run(UnitMap(w=W, b=B_C))
    np.testing.assert_allclose(xT[:, 0], 2.5 + B_C + PROBE_U[0, :, 0], atol=1e-14)
    assert abs(xT[2, 0] - XC) < 1e-12


def test_exactly_the_probe_the_saddle_passes_crosses_at_its_update():
    t_c = (B_C - P_B0) / P_DB  # ≈ 29.05: between updates 29 and 30
    expected = int(np.ceil(t_c))
    assert 0.01 < expected - t_c < 0.99
    # direct check against the saddle: probe 2 above it at t = 29, below at t = 30
    for t, side in ((expected - 1, 1), (expected, -1)):
        assert np.sign(2.5 + _pb(t) + U_C - _saddle(_pb(t))) == side
    # the other probes stay on their side along the whole chain
    for t in range(P_N + 1):
        s = _saddle(_pb(t))
        ends = 2.5 + _pb(t) + PROBE_U[0, :, 0]
        assert np.all(ends[:2] < s - 0.2) and np.all(ends[3:] > s + 0.2)
    pt = ProbeTracker(PROBE_U)
    first = pt.observe(0, PROBE_CHAIN[0])
    assert first.crossed.size == 0 and first.labels.n_undecided == 0
    low = first.labels.labels[0]
    assert first.labels.labels.tolist() == [low, low, 1 - low, 1 - low, 1 - low]
    mid = pt.observe(25, PROBE_CHAIN[25], between=[(t, PROBE_CHAIN[t]) for t in range(1, 25)])
    assert mid.crossed.size == 0
    end = pt.observe(50, PROBE_CHAIN[50], between=[(t, PROBE_CHAIN[t]) for t in range(26, 50)])
    assert end.crossed.tolist() == [2]
    assert end.crossing_updates.tolist() == [expected]
    assert end.labels.labels.tolist() == [low, low, low, 1 - low, 1 - low]
    d = end.to_dict()
    assert d["crossed"] == [2] and d["crossing_updates"] == [expected]
    assert d["fraction_crossed"] == pytest.approx(1 / 5) and d["counts"] == [3, 2]
    # one step from x₀ = 0: the exponent is log |5 σ′(0)| = log 1.25 for every probe
    np.testing.assert_allclose(end.lyapunov, np.log(1.25), rtol=0, atol=1e-12)


def test_crossing_without_between_is_dated_to_the_checkpoint():
    pt = ProbeTracker(PROBE_U)
    pt.observe(0, PROBE_CHAIN[0])
    pt.observe(25, PROBE_CHAIN[25])
    end = pt.observe(50, PROBE_CHAIN[50])
    assert end.crossed.tolist() == [2] and end.crossing_updates.tolist() == [50]


def test_crossing_given_as_lazy_maps():
    """A callable standing for a map gives the same crossing update (and is built only when looked at)."""
    built = []

    def lazy(t):
        def make():
            built.append(t)
            return PROBE_CHAIN[t]

        return make

    pt = ProbeTracker(PROBE_U)
    pt.observe(25, PROBE_CHAIN[25])
    end = pt.observe(50, PROBE_CHAIN[50], between=[(t, lazy(t)) for t in range(26, 50)])
    assert end.crossing_updates.tolist() == [int(np.ceil((B_C - P_B0) / P_DB))]
    assert 0 < len(built) < 24  # bisection: a few of the 24 maps


# -- restoring --------------------------------------------------------------------------------
def _events(steps):
    return [[(e.kind, e.time, e.update, e.condition, e.period) for e in s.events] for s in steps]


def test_landscape_tracker_restored_continues_like_an_uninterrupted_one():
    conds = [Condition("zero"), Condition("up", np.array([0.3]))]
    checkpoints = [0, 25, 50, 75, 100]

    def make():
        return LandscapeTracker(conds, period2=True, n_fresh=4, rng=7)

    full = make()
    full_steps = _observe_chain(full, UNIT_CHAIN, checkpoints)
    part = make()
    _observe_chain(part, UNIT_CHAIN, checkpoints[:2])
    arrays, meta = part.get_state()
    meta = json.loads(json.dumps(meta))  # JSON-able, as it goes into the checkpoint
    arrays = {k: np.array(v) for k, v in arrays.items()}
    resumed = make()
    resumed.set_state(arrays, meta, UNIT_CHAIN[25])
    rest = []
    for a, c in itertools.pairwise(checkpoints[1:]):
        rest.append(resumed.observe(c, UNIT_CHAIN[c], between=[(t, UNIT_CHAIN[t]) for t in range(a + 1, c)]))
    assert _events(rest) == _events(full_steps[1:])
    assert sum(len(s.events) for s in rest) >= 2  # the folds (both conditions) are in there
    for r, f in zip(rest, full_steps[1:]):
        assert json.dumps(r.to_dict()) == json.dumps(f.to_dict())
        for cr, cf in zip(r.conditions, f.conditions):
            np.testing.assert_array_equal(cr.fixed.states, cf.fixed.states)


def test_probe_tracker_restored_continues_like_an_uninterrupted_one():
    full = ProbeTracker(PROBE_U)
    full.observe(0, PROBE_CHAIN[0])
    full.observe(25, PROBE_CHAIN[25], between=[(t, PROBE_CHAIN[t]) for t in range(1, 25)])
    arrays, meta = full.get_state()
    meta = json.loads(json.dumps(meta))
    resumed = ProbeTracker(PROBE_U)
    resumed.set_state({k: np.array(v) for k, v in arrays.items()}, meta)
    between = [(t, PROBE_CHAIN[t]) for t in range(26, 50)]
    a = full.observe(50, PROBE_CHAIN[50], between=between)
    b = resumed.observe(50, PROBE_CHAIN[50], between=between)
    assert a.crossed.tolist() == b.crossed.tolist() == [2]
    assert a.crossing_updates.tolist() == b.crossing_updates.tolist()
    assert a.labels.labels.tolist() == b.labels.labels.tolist()
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    # a tracker restored before its first observation is a fresh one
    empty = ProbeTracker(PROBE_U)
    empty.set_state(*ProbeTracker(PROBE_U).get_state())
    assert empty.labels is None and empty.observe(0, PROBE_CHAIN[0]).crossed.size == 0


# -- bad input --------------------------------------------------------------------------------
def test_landscape_tracker_bad_input():
    with pytest.raises(DynsysError, match="conditions"):
        LandscapeTracker([])
    with pytest.raises(DynsysError, match="conditions"):
        LandscapeTracker(["zero"])
    with pytest.raises(DynsysError, match="distinct names"):
        LandscapeTracker([Condition("a"), Condition("a", np.ones(1))])
    with pytest.raises(DynsysError, match="n_fresh"):
        LandscapeTracker([Condition("zero")], n_fresh=0)
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=0)
    with pytest.raises(DynsysError, match="map must be a dynsys Map"):
        tr.observe(0, "not a map")
    tr.observe(5, UNIT_CHAIN[5])
    for t in (5, 3):
        with pytest.raises(DynsysError, match="time must be larger"):
            tr.observe(t, UNIT_CHAIN[6])
    for between in (
        [UNIT_CHAIN[6]],  # not a pair
        [(6, "x")],  # not a Map
        [(6, UNIT_CHAIN[6], 1)],  # not a pair
    ):
        with pytest.raises(DynsysError, match="between must be a sequence of \\(time, Map\\) pairs"):
            tr.observe(10, UNIT_CHAIN[10], between=between)
    with pytest.raises(DynsysError, match="between must have increasing times"):
        tr.observe(10, UNIT_CHAIN[10], between=[(7, UNIT_CHAIN[7]), (6, UNIT_CHAIN[6])])
    with pytest.raises(DynsysError, match="strictly between"):
        tr.observe(10, UNIT_CHAIN[10], between=[(4, UNIT_CHAIN[4])])
    # a callable standing for a map is called when the map is looked at (here: bisecting a fold)
    tr = LandscapeTracker([Condition("zero")], period2=False, rng=0)
    tr.observe(25, UNIT_CHAIN[25])
    with pytest.raises(DynsysError, match="between\\[\\d+\\] must give a dynsys Map, got str"):
        tr.observe(50, UNIT_CHAIN[50], between=[(t, lambda: "x") for t in range(26, 50)])


def test_probe_tracker_bad_input():
    with pytest.raises(DynsysError, match="inputs"):
        ProbeTracker(np.zeros((3, 2)))
    with pytest.raises(DynsysError, match="inputs"):
        ProbeTracker(np.full((1, 2, 1), np.nan))
    with pytest.raises(DynsysError, match="steps"):
        ProbeTracker(PROBE_U, steps=0)
    pt = ProbeTracker(PROBE_U)
    pt.observe(5, PROBE_CHAIN[5])
    for t in (5, 3):
        with pytest.raises(DynsysError, match="time must be larger"):
            pt.observe(t, PROBE_CHAIN[6])
    for between in ([PROBE_CHAIN[6]], [(6, "x")], [(6, PROBE_CHAIN[6], 1)]):
        with pytest.raises(DynsysError, match="between must be a sequence of \\(time, Map\\) pairs"):
            pt.observe(10, PROBE_CHAIN[10], between=between)


def test_probe_tracker_rejects_a_non_map():
    with pytest.raises(DynsysError, match="map"):
        ProbeTracker(PROBE_U).observe(0, "not a map")
