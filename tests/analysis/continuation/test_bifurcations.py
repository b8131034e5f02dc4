"""Bifurcation location against closed forms: folds, flips, Neimark–Sacker, period doubling, cusp."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.continuation import (
    bifurcation_diagram,
    continue_fixed_points,
    locate_bifurcations,
    orbit_diagram,
    tau_values,
)
from dynsys.maps import DelayedLogisticMap, LogisticMap, RNNMap, UnitMap


def _unit_folds(w, activation):
    """Closed form of the one-unit folds.

    A fold of x ↦ w σ(x) + b is a double root of g(x) = w σ(x) + b − x: g = 0 and
    g'(x) = w σ'(x) − 1 = 0. Hence w σ'(x*) = 1 and b* = x* − w σ(x*).
    sigmoid: σ' = s(1 − s) ⇒ s = (1 ± √(1 − 4/w))/2, x* = log(s/(1 − s)).
    tanh:    σ' = 1 − t²   ⇒ t = ±√(1 − 1/w),       x* = artanh(t).
    """
    if activation == "sigmoid":
        r = np.sqrt(1 - 4 / w)
        s = np.array([(1 - r) / 2, (1 + r) / 2])
        x = np.log(s / (1 - s))
        return x, x - w * s
    t = np.array([-1.0, 1.0]) * np.sqrt(1 - 1 / w)
    x = np.arctanh(t)
    return x, x - w * t


@pytest.mark.parametrize(
    "activation,w",
    [
        ("sigmoid", 4.5),
        ("sigmoid", 5.0),
        ("sigmoid", 6.0),
        ("sigmoid", 9.0),
        ("tanh", 1.3),
        ("tanh", 2.0),
        ("tanh", 4.0),
    ],
)
def test_unit_folds_match_closed_form(activation, w):
    x_f, b_f = _unit_folds(w, activation)
    lo, hi = b_f.min() - 0.5, b_f.max() + 0.5
    d = bifurcation_diagram(UnitMap(w=w, b=np.mean(b_f), activation=activation), "b", (lo, hi))
    folds = d.of_type("fold")
    assert len(folds) == 2
    assert len(d.bifurcations) == 2
    got = sorted((f.param, f.state[0]) for f in folds)
    want = sorted(zip(b_f, x_f))
    for (pg, xg), (pw, xw) in zip(got, want):
        assert abs(pg - pw) < 1e-9
        assert abs(xg - xw) < 1e-6  # x at a fold is only √-conditioned in p
        assert abs(f_mult := folds[0].multipliers[0].real - 1.0) < 1e-9, f_mult


def test_fig3_window_and_stability_change():
    x_f, b_f = _unit_folds(5.0, "sigmoid")
    d = bifurcation_diagram(UnitMap(w=5.0, b=-2.5), "b", (-3.2, -1.8))
    b1, b2 = sorted(f.param for f in d.of_type("fold"))
    np.testing.assert_allclose([b1, b2], np.sort(b_f), atol=1e-12)
    br = d.branches[0]
    # inside the window three branch points per b, outside one
    for b, count in ((-2.5, 3), (-3.0, 1), (-2.0, 1)):
        assert np.sum((br.params[:-1] - b) * (br.params[1:] - b) < 0) == count


def test_logistic_flip_and_period_doubling():
    d = bifurcation_diagram(LogisticMap(3.0), "r", (2.5, 3.5), flip_switch=True, max_period=2)
    flips = d.of_type("flip")
    assert [f.period for f in flips] == [1, 2]
    assert abs(flips[0].param - 3.0) < 1e-8
    assert abs(flips[1].param - (1 + np.sqrt(6))) < 1e-8
    # the period-2 branch equals the closed-form 2-cycle
    p2 = next(b for b in d.branches if b.period == 2)
    r = p2.params
    disc = np.sqrt((r - 3) * (r + 1))
    x = p2.states[:, 0]
    lo, hi = (r + 1 - disc) / (2 * r), (r + 1 + disc) / (2 * r)
    assert np.all(np.minimum(np.abs(x - lo), np.abs(x - hi)) < 1e-10)
    # its multiplier −r² + 2r + 4 equals −1 at 1 + √6
    np.testing.assert_allclose(p2.multipliers[:, 0].real, -(r**2) + 2 * r + 4, atol=1e-9)


def test_logistic_transcritical_is_a_branch_point_not_a_fold():
    d = bifurcation_diagram(LogisticMap(1.0), "r", (0.5, 1.5))
    kinds = {b.type for b in d.bifurcations}
    assert "fold" not in kinds
    # a transversal crossing of two branches (μ = r at 0 and 2 − r at 1 − 1/r), at r = 1
    assert d.of_type("branch-point")
    assert all(abs(b.param - 1.0) < 1e-8 for b in d.bifurcations)


def test_pitchfork_of_tanh_unit_is_a_branch_point():
    # x ↦ a tanh(x): the origin has multiplier a; ±x* (x* = a tanh x*) are born at a = 1
    d = bifurcation_diagram(RNNMap(np.eye(1)), "gain", (0.5, 1.5))
    bp = d.of_type("branch-point")
    assert len(bp) == 1 and abs(bp[0].param - 1.0) < 1e-10
    assert not d.of_type("fold")


def test_delayed_logistic_neimark_sacker():
    d = bifurcation_diagram(DelayedLogisticMap(2.0), "r", (1.5, 2.5))
    ns = d.of_type("neimark-sacker")
    assert len(ns) == 1
    assert abs(ns[0].param - 2.0) < 1e-10
    # at r = 2: J = [[1, −1], [1, 0]], μ² − μ + 1 = 0, μ = e^{±iπ/3}
    assert abs(ns[0].angle - np.pi / 3) < 1e-8
    np.testing.assert_allclose(ns[0].state, [0.5, 0.5], atol=1e-10)


@pytest.mark.parametrize("theta", [0.3, 1.1, 2.5])
def test_rotation_rnn_neimark_sacker_at_unit_gain(theta):
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    d = bifurcation_diagram(RNNMap(R), "gain", (0.5, 1.5))
    ns = d.of_type("neimark-sacker")
    assert len(ns) == 1
    assert abs(ns[0].param - 1.0) < 1e-10
    assert abs(ns[0].angle - theta) < 1e-8


def test_flip_in_negative_self_coupling():
    # x ↦ −a tanh(x): multiplier −a at the origin, flip at a = 1
    d = bifurcation_diagram(RNNMap(-np.eye(1)), "gain", (0.5, 1.5), flip_switch=True, max_period=2)
    flips = d.of_type("flip")
    assert abs(flips[0].param - 1.0) < 1e-10
    p2 = [b for b in d.branches if b.period == 2]
    assert p2, "period-2 branch not found"
    # the 2-cycle of an odd map is (x, −x) with x = a tanh(x)
    br = p2[0]
    x = np.abs(br.states[:, 0])
    np.testing.assert_allclose(x, br.params * np.tanh(x), atol=1e-10)


def test_block_rnn_has_flip_and_ns_at_closed_form_gains():
    th = 0.9
    W = np.zeros((3, 3))
    W[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    W[2, 2] = -1.25
    d = bifurcation_diagram(RNNMap(W), "gain", (0.5, 1.5))
    assert abs(d.of_type("flip")[0].param - 0.8) < 1e-10
    assert abs(d.of_type("neimark-sacker")[0].param - 1.0) < 1e-10


def test_tau_values_signs():
    t = tau_values(np.array([1.5 + 0j, 0.3 + 0j]))
    assert t["fold"] < 0 and t["flip"] > 0
    t = tau_values(np.array([0.2 + 1.1j, 0.2 - 1.1j]))
    assert t["neimark-sacker"] > 0 and t["fold"] == 1.0


def test_orbit_diagram_agrees_with_stable_branches():
    m = UnitMap(w=5.0, b=-2.5)
    br = continue_fixed_points(m, "b", (-3.2, -1.8))[0]
    bs = np.linspace(-3.15, -1.85, 14)
    od = orbit_diagram(m, "b", bs, x0=np.array([[-6.0], [0.0], [6.0]]), transient=2000, keep=5)
    for i, b in enumerate(bs):
        final = od.states[i, :, -1, 0]
        # the stable branch values at b (interpolated crossing, Newton-refined)
        idx = np.flatnonzero((br.params[:-1] - b) * (br.params[1:] - b) < 0)
        stable_x = []
        for j in idx:
            if br.stable[j] and br.stable[j + 1]:
                s = (b - br.params[j]) / (br.params[j + 1] - br.params[j])
                x = br.states[j, 0] + s * (br.states[j + 1, 0] - br.states[j, 0])
                for _ in range(30):
                    sg = 1 / (1 + np.exp(-x))
                    x -= (5 * sg + b - x) / (5 * sg * (1 - sg) - 1)
                stable_x.append(x)
        for f in final:
            assert np.min(np.abs(np.array(stable_x) - f)) < 1e-8
        assert od.periods(tol=1e-9)[i].tolist() == [1, 1, 1]


def test_orbit_diagram_logistic_period_two():
    od = orbit_diagram(LogisticMap(3.0), "r", np.array([3.2, 3.3]), transient=3000, keep=8, rng=0)
    assert np.all(od.periods(tol=1e-9) == 2)
    r = od.params[:, None, None]
    x = od.states[..., 0]
    disc = np.sqrt((r - 3) * (r + 1))
    assert np.all(
        np.minimum(np.abs(x - (r + 1 - disc) / (2 * r)), np.abs(x - (r + 1 + disc) / (2 * r))) < 1e-8
    )


@pytest.mark.parametrize("S", [5, 6, 7])
def test_orbit_diagram_rows_follow_their_parameter_when_counts_match(S):
    # P = 6 parameter values with S initial states each, S = P included: every row must be the
    # orbit of its own r (a parameter broadcast along the wrong axis passes a shape check at P = S)
    rs = np.array([2.8, 3.2, 3.5, 3.56, 3.83, 3.9])
    x0 = np.linspace(0.2, 0.8, S)[:, None]
    od = orbit_diagram(LogisticMap(3.0), "r", rs, x0=x0, transient=300, keep=6)
    for i, r in enumerate(rs):
        x = x0[:, 0].copy()
        for _ in range(301):  # the first kept state follows transient + 1 steps
            x = r * x * (1 - x)
        np.testing.assert_allclose(od.states[i, :, 0, 0], x, rtol=0, atol=1e-12)


def test_locate_on_given_branch_reuses_path():
    br = continue_fixed_points(DelayedLogisticMap(2.0), "r", (1.2, 2.6))
    found = [b for x in br for b in locate_bifurcations(x)]
    assert [b.type for b in found].count("neimark-sacker") == 1


@pytest.mark.parametrize("b", [0.3, -0.2])
def test_henon_period_doubling_closed_form(b):
    """Hénon map: flips of the fixed point and of the 2-cycle in closed form.

    Fixed point: μ² + 2ax μ − b = 0, so μ = −1 ⇔ x = (1 − b)/(2a); with a x² + (1 − b)x − 1 = 0
    this gives a₁ = 3(1 − b)²/4. 2-cycle: x₁ + x₂ = (1 − b)/a, x₁x₂ = ((1 − b)² − a)/a²,
    tr DF² = 4a²x₁x₂ + 2b, det DF² = b²; μ = −1 ⇔ 1 + tr + det = 0 ⇔ a₂ = (1 − b)² + (1 + b)²/4.
    """
    from dynsys.maps import HenonMap

    a1 = 3 * (1 - b) ** 2 / 4
    a2 = (1 - b) ** 2 + (1 + b) ** 2 / 4
    d = bifurcation_diagram(
        HenonMap(a=0.5 * (a1 + a2), b=b), "a", (a1 - 0.2, a2 + 0.02), flip_switch=True, max_period=2, rng=0
    )
    flips = d.of_type("flip")
    assert [f.period for f in flips] == [1, 2]
    assert abs(flips[0].param - a1) < 1e-10
    assert abs(flips[1].param - a2) < 1e-8


def test_logistic_third_period_doubling_literature_value():
    # r₃ = 3.5440903595519228536… (period 4 → 8; OEIS A086181), a value from the literature
    d = bifurcation_diagram(LogisticMap(3.0), "r", (2.8, 3.56), flip_switch=True, max_period=4)
    flips = d.of_type("flip")
    assert [f.period for f in flips] == [1, 2, 4]
    assert abs(flips[2].param - 3.5440903595519228536) < 1e-8


def test_bifurcation_diagram_refuses_bad_arguments_in_one_line():
    import pytest

    from dynsys.analysis.continuation.bifurcations import bifurcation_diagram
    from dynsys.errors import DynsysError
    from dynsys.maps import LogisticMap

    m = LogisticMap(3.0)
    cases = [
        (("r", 3), {}, r"^p_range must be a pair \(LO, HI\), got 3$"),
        (("r", "ab"), {}, r"^p_range must be a pair \(LO, HI\), got 'ab'$"),
        (("r", (3.6, 2.5)), {}, r"^p_range must satisfy LO < HI"),
        (
            ("r", (2.5, 3.6)),
            {"rng": "abc"},
            r"^rng must be None, a non-negative int, a SeedSequence or a Generator, got 'abc'$",
        ),
        (("r", (2.5, 3.6)), {"seeds": 1}, r"^seeds must be >= 2, got 1$"),
        (("r", (2.5, 3.6)), {"max_period": 0}, r"^max_period must be >= 1, got 0$"),
        ((3, (2.5, 3.6)), {}, r"^param must be a parameter name \(str\), got 3$"),
    ]
    for args, kw, match in cases:
        with pytest.raises(DynsysError, match=match):
            bifurcation_diagram(m, *args, **kw)
