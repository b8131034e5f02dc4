"""Input-driven basin crossings (paper Figs. 4-5): F_t = U_t ∘ F̃, crossings and ‖∂x_T/∂x_0‖."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.analysis.basins import jacobian_norms, locate_basin_change, sensitivity_scan, track_crossings
from dynsys.errors import DynsysError
from dynsys.maps import LogisticMap, RNNMap, UnitMap, iterate

W, B = 5.0, -2.45


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _unstable_fixed_point():
    return brentq(lambda x: W * _sig(x) + B - x, -1.0, 0.5)


def _critical_x0(kick):
    """x0 whose image F̃(x0) + kick is exactly the unstable fixed point (independent closed form)."""
    s = (_unstable_fixed_point() - kick - B) / W
    return np.log(s / (1 - s))


def test_split_driven_composes(rng):
    rnn = RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=3))
    auto, W_in = rnn.split_driven()
    x, u = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    assert np.allclose(rnn.step(x, u), auto.step(x) + u @ W_in.T)
    unit = UnitMap(w=W, b=B, w_in=0.7)
    auto1, W1 = unit.split_driven()
    xs, us = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    assert np.allclose(unit.step(xs, us), auto1.step(xs) + us @ W1.T)


def test_two_nearby_states_one_crosses():
    kick, T = 1.5, 100
    x0s = _critical_x0(kick)
    u = np.zeros((T, 1))
    u[0] = kick
    cr = track_crossings(UnitMap(w=W, b=B), np.array([[x0s - 0.01], [x0s + 0.01]]), u)
    lo = min(cr.attractors, key=lambda a: a.points[0, 0]).id
    hi = 1 - lo
    assert np.all(cr.labels[0] == lo)  # both start in the lower basin of F̃ (x0 < x_u)
    assert cr.events.tolist() == [[1, 1, lo, hi]]  # only the second one is kicked across, at t = 1
    assert np.all(cr.labels[1:, 0] == lo) and np.all(cr.labels[1:, 1] == hi)
    # between the kicks F̃ keeps each basin: the final states sit at the two attractors
    pts = {a.id: a.points[0, 0] for a in cr.attractors}
    assert cr.states[-1, 0, 0] == pytest.approx(pts[lo], abs=1e-3)
    assert cr.states[-1, 1, 0] == pytest.approx(pts[hi], abs=1e-3)


def test_jacobian_norms_match_finite_differences(rng):
    unit = UnitMap(w=W, b=B)
    T = 15
    u = rng.normal(size=(T, 1))
    x0 = np.array([[-1.7], [0.3]])
    traj = iterate(unit, x0, np.broadcast_to(u[:, None], (T, 2, 1)))
    g = jacobian_norms(unit, traj.states, np.broadcast_to(u[:, None], (T, 2, 1)))
    eps = 1e-6
    fd = (
        iterate(unit, x0 + eps, np.broadcast_to(u[:, None], (T, 2, 1))).states
        - iterate(unit, x0 - eps, np.broadcast_to(u[:, None], (T, 2, 1))).states
    )[..., 0] / (2 * eps)
    assert g == pytest.approx(np.abs(fd), rel=1e-5, abs=1e-9)
    # n-unit: spectral norm of the finite-difference Jacobian
    rnn = RNNMap(rng.normal(size=(3, 3)) * 1.5, rng.normal(size=(3, 1)), rng.normal(size=3) * 0.1)
    U = rng.normal(size=(T, 1, 1))
    x = rng.normal(size=(1, 3))
    states = iterate(rnn, x, U).states
    cols = [
        (iterate(rnn, x + eps * e, U).final - iterate(rnn, x - eps * e, U).final)[0] / (2 * eps)
        for e in np.eye(3)
    ]
    J = np.stack(cols, axis=1)
    assert jacobian_norms(rnn, states, U)[-1, 0] == pytest.approx(np.linalg.norm(J, 2), rel=1e-5)


def test_jacobian_norms_match_gradients_module(rng):
    grads = pytest.importorskip("dynsys.gradients")
    rnn = RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=3))
    U = rng.normal(size=(10, 4, 2))
    states = iterate(rnn, rng.normal(size=(4, 3)), U).states
    ref = grads.jacobian_product_norms(rnn, states, U)[:, 0]
    assert jacobian_norms(rnn, states, U) == pytest.approx(ref, rel=1e-10)


def test_gradient_jumps_iff_nearby_states_end_in_different_basins():
    kick, T = 1.5, 80
    u = np.zeros((T, 1))
    u[0] = kick
    unit = UnitMap(w=W, b=B)
    x0 = np.linspace(-3.0, 0.0, 1501)[:, None]
    h = x0[1, 0] - x0[0, 0]
    s = sensitivity_scan(unit, x0, u)
    change = s.label_changes()
    x_star = _critical_x0(kick)
    assert change.size == 1
    i = change[0]
    assert x0[i, 0] <= x_star <= x0[i + 1, 0]  # the final basin changes exactly across x0*
    # |Δx_T| between neighbours is large iff they end in different basins
    secant = np.abs(np.diff(s.final_states[:, 0])) / h
    differ = s.final_labels[1:] != s.final_labels[:-1]
    assert np.all(secant[differ] > 1000) and np.all(secant[~differ] < 1)
    # away from x0* every trajectory settles and the gradient vanishes ...
    far = np.abs(x0[:, 0] - x_star) > 0.05
    assert np.all(s.grad_norm[far] < 1e-3)
    # ... while between the two straddling states it is at least the secant (mean value theorem)
    probes = x_star + np.array([-1.0, 1.0])[:, None] * np.geomspace(1e-15, h, 60)[None]
    g = sensitivity_scan(unit, probes.reshape(-1, 1), u, attractors=s.attractors).grad_norm
    assert g.max() >= secant[i]


def test_n_unit_rnn_crossing_and_gradient():
    rnn = RNNMap([[1.5, 1.0], [1.0, 1.5]], W_in=[[1.0], [1.0]], b=[0.2, -0.1])
    T = 60
    u = np.zeros((T, 1))
    u[2] = 1.0
    # a line of initial states along the unstable direction of the saddle
    c = np.linspace(-3.0, 1.0, 801)
    x0 = np.stack([c, c], axis=1)
    s = sensitivity_scan(rnn, x0, u)
    change = s.label_changes()
    assert change.size == 1
    i = change[0]
    secant = np.linalg.norm(np.diff(s.final_states, axis=0), axis=1) / (c[1] - c[0])
    differ = s.final_labels[1:] != s.final_labels[:-1]
    assert np.all(secant[differ] > 100) and np.all(secant[~differ] < 1)
    far = np.abs(c - 0.5 * (c[i] + c[i + 1])) > 0.2
    assert np.all(s.grad_norm[far] < 1e-3)
    # the crossing is reported at the kick for the first state beyond the change
    cr = track_crossings(rnn, x0[i : i + 2], u)
    assert cr.events.shape == (1, 4) and cr.events[0, 0] == 3 and cr.events[0, 1] == 1


def test_bad_input():
    with pytest.raises(DynsysError, match="takes no input"):  # an autonomous map has no driven split
        LogisticMap(3.2).split_driven()
    with pytest.raises(DynsysError, match="inputs"):
        track_crossings(UnitMap(w=W, b=B), np.array([[0.0]]), None)
    with pytest.raises(DynsysError, match="finite"):
        track_crossings(UnitMap(w=W, b=B), np.array([[np.nan]]), np.zeros((3, 1)))
    with pytest.raises(DynsysError, match="iters"):
        locate_basin_change(UnitMap(w=W, b=B), np.linspace(-3, 3, 5)[:, None], np.zeros((3, 1)), iters="many")


def test_locate_basin_change_finds_the_closed_form_state_with_or_without_known_attractors():
    """Independent truth: the x0 whose kicked image is exactly the unstable fixed point."""
    kick, T = 1.5, 60
    u = np.zeros((T, 1))
    u[0] = kick
    line = np.linspace(-3.0, 3.0, 301)[:, None]
    unit = UnitMap(w=W, b=B)
    known = sensitivity_scan(unit, line, u).attractors
    for attractors in ((), known):
        x, scan = locate_basin_change(unit, line, u, attractors=attractors)
        assert scan.label_changes().size == 1
        assert x[0] == pytest.approx(_critical_x0(kick), abs=1e-9)
