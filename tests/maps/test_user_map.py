"""A user's own map is a first-class citizen: a 20-line subclass that implements only the required
rules of the Map contract runs through every tool with the same results as RNNMap (1e-10).

``ElmanMap`` below is eq. 2 written the way a user would write it, overriding nothing optional: no
tangent, no linearization, no state box, no parameter paths, no eq. 2 form. The tools take the
generic defaults; their answers must equal those of the built-in ``RNNMap`` with its fast paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dynsys.analysis import basins, continuation, equilibria
from dynsys.analysis.conditions import check_conditions, product_evidence
from dynsys.analysis.lyapunov import lyapunov_spectrum
from dynsys.errors import DynsysError
from dynsys.gradients import jacobian_product_norms
from dynsys.maps import Map, RNNMap, iterate


# --- the user's map: 20 lines ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ElmanMap(Map):
    """x ↦ W tanh(x) + U u + b."""

    W: Any
    U: Any
    b: Any
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("W", "U", "b")

    def __post_init__(self):
        object.__setattr__(self, "dim", np.shape(self.W)[0])
        object.__setattr__(self, "input_dim", np.shape(self.U)[1])

    def step(self, x, u=None):
        out = np.tanh(x) @ np.asarray(self.W).T + self.b
        return out if u is None else out + u @ np.asarray(self.U).T

    def jacobian(self, x, u=None):
        return np.asarray(self.W) * (1.0 - np.tanh(x) ** 2)[..., None, :]


# -----------------------------------------------------------------------------------------------


def _pair(seed, n=2, gain=1.0, m=1):
    g = np.random.default_rng(seed)
    W = gain * g.standard_normal((n, n)) / np.sqrt(n)
    U = g.standard_normal((n, m))
    b = 0.1 * g.standard_normal(n)
    return ElmanMap(W, U, b), RNNMap(W, U, b, "tanh")


def test_the_user_map_overrides_nothing_optional():
    optional = (
        "tangent",
        "step_tangent",
        "linearize",
        "state_box",
        "split_driven",
        "parameter_path",
        "as_rnn",
    )
    for name in optional:
        assert getattr(ElmanMap, name) is getattr(Map, name)
    assert not ElmanMap.matrix_free


def test_fixed_points_and_stability():
    g = np.random.default_rng(1)
    W, U, b = (
        2.5 * np.eye(3) + 0.2 * g.standard_normal((3, 3)),
        g.standard_normal((3, 1)),
        0.05 * g.standard_normal(3),
    )
    user, rnn = ElmanMap(W, U, b), RNNMap(W, U, b, "tanh")
    starts = np.random.default_rng(5).uniform(-3, 3, (400, 3))
    fu = equilibria.find_fixed_points(user.split_driven()[0], starts=starts)
    fr = equilibria.find_fixed_points(rnn.autonomous(), starts=starts)
    assert len(fu) == len(fr) >= 3 and fu.stability == fr.stability
    np.testing.assert_allclose(fu.states, fr.states, atol=1e-10)
    np.testing.assert_allclose(np.abs(fu.multipliers), np.abs(fr.multipliers), atol=1e-10)
    # sampled starts: the user's map has no state box, so the starts come from trajectories instead;
    # every fixed point found is still one of RNNMap's
    fs = equilibria.find_fixed_points(user.split_driven()[0], rng=0)
    for x in fs.states:
        assert np.min(np.linalg.norm(fr.states - x, axis=1)) < 1e-10


def test_continuation_and_bifurcations():
    """The fold of a bistable 2-unit net in one bias entry: generic path (with_params, finite
    differences) against the RNN's affine path (exact derivatives)."""
    W = np.array([[3.0, 0.4], [0.3, 2.0]])
    U, b = np.zeros((2, 1)), np.zeros(2)
    user, rnn = ElmanMap(W, U, b), RNNMap(W, U, b, "tanh")
    du = continuation.bifurcation_diagram(user, "b[0]", (-3.0, 3.0), rng=0)
    dr = continuation.bifurcation_diagram(rnn, "b[0]", (-3.0, 3.0), rng=0)
    fu, fr = du.of_type("fold"), dr.of_type("fold")
    assert len(fu) == len(fr) >= 2
    np.testing.assert_allclose([f.param for f in fu], [f.param for f in fr], atol=1e-10)
    np.testing.assert_allclose(np.array([f.state for f in fu]), np.array([f.state for f in fr]), atol=1e-9)
    # the same branches, point by point where both computed them
    bu = continuation.continue_fixed_points(user, "u[0]", (-2.0, 2.0), rng=0)
    br = continuation.continue_fixed_points(rnn, "u[0]", (-2.0, 2.0), rng=0)
    assert len(bu) == len(br)


def test_basins():
    W = np.array([[2.5, 0.3], [0.2, 2.2]])
    user, rnn = ElmanMap(W, np.zeros((2, 1)), np.zeros(2)), RNNMap(W, np.zeros((2, 1)), np.zeros(2))
    grid = basins.box_grid([(-3, 3), (-3, 3)], 41)
    ru = basins.basins_of_attraction(user.split_driven()[0], grid)
    rr = basins.basins_of_attraction(rnn.autonomous(), grid)
    assert basins.label_agreement(ru.labels, rr.labels)[0] == 1.0
    assert len(ru.attractors) == len(rr.attractors) == 4
    pu = sorted(tuple(a.points[0].round(10)) for a in ru.attractors)
    pr = sorted(tuple(a.points[0].round(10)) for a in rr.attractors)
    np.testing.assert_allclose(pu, pr, atol=1e-10)


def test_lyapunov_spectrum():
    user, rnn = _pair(3, n=5, gain=1.6, m=2)
    g = np.random.default_rng(0)
    x0, u = g.standard_normal((3, 5)), g.standard_normal((400, 3, 2))
    su = lyapunov_spectrum(user, x0, u, transient=50, rng=1)
    sr = lyapunov_spectrum(rnn, x0, u, transient=50, rng=1)
    np.testing.assert_allclose(su.exponents, sr.exponents, atol=1e-10)


def test_conditions_without_bptt():
    """Jacobian-product evidence (eq. 5, 7) and the product norms need no BPTT and no eq. 2 form."""
    user, rnn = _pair(4, n=6, gain=1.2, m=2)
    eu = product_evidence(user, rng=7)
    er = product_evidence(rnn, rng=7)
    np.testing.assert_allclose(eu.log_norms, er.log_norms, atol=1e-10, equal_nan=True)
    assert eu.rate == pytest.approx(er.rate, abs=1e-10)
    assert eu.bound_held is None and er.bound_held  # no λ₁ for a generic map; the RNN's bound holds
    # with the bound given by the user (λ₁γ of their W), the verdict of eq. 7 is the same
    eta = check_conditions(rnn, evidence=False).eta
    eb = product_evidence(user, eta, rng=7)
    assert eb.bound_held and eb.max_log_ratio == pytest.approx(er.max_log_ratio, abs=1e-10)
    traj_u = iterate(user, np.zeros(6), np.ones((12, 2)))
    traj_r = iterate(rnn, np.zeros(6), np.ones((12, 2)))
    np.testing.assert_allclose(
        jacobian_product_norms(user, traj_u.states, traj_u.inputs),
        jacobian_product_norms(rnn, traj_r.states, traj_r.inputs),
        atol=1e-10,
        equal_nan=True,
    )
    # the certificate λ₁ < 1/γ needs the eq. 2 form (Map rule 15): one clear line
    with pytest.raises(DynsysError, match="as_rnn"):
        check_conditions(user)
