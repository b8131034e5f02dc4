"""The generic pseudo-arclength engine on curves known in closed form."""

from __future__ import annotations

import numpy as np

from dynsys.analysis.continuation import ContinuationOptions, correct, pseudo_arclength


def _circle(y):
    return np.array([y @ y - 1.0]), 2.0 * y[None, :]


def test_circle_is_followed_round_to_a_closed_loop():
    y0, t0 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    ys, ts, msg = pseudo_arclength(_circle, y0, t0, lambda y: True, ContinuationOptions(), 0.05, 0.2)
    assert msg == "closed loop"
    np.testing.assert_allclose(np.linalg.norm(ys, axis=1), 1.0, atol=1e-12)
    # unit tangents, orthogonal to the radius, turning counter-clockwise (the start direction)
    np.testing.assert_allclose(np.linalg.norm(ts, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.sum(ts * ys, axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(ts[:, 1] * ys[:, 0] - ts[:, 0] * ys[:, 1], 1.0, atol=1e-9)
    angle = np.unwrap(np.arctan2(ys[:, 1], ys[:, 0]))
    assert np.all(np.diff(angle) > 0) and angle[-1] > 2 * np.pi - 0.5


def test_parabola_turns_at_its_fold_and_stops_at_the_boundary():
    # G(x, p) = x² − p: p as the parameter folds at x = 0; boundary put exactly on p = 1
    def G(y):
        return np.array([y[0] ** 2 - y[1]]), np.array([[2 * y[0], -1.0]])

    def boundary(y_in, y_out):
        x = np.sign(y_out[0]) * 1.0
        return np.array([x, 1.0])

    y0 = np.array([-1.0, 1.0])
    ys, _, msg = pseudo_arclength(
        G, y0, np.array([1.0, -1.0]), lambda y: y[1] <= 1.0, ContinuationOptions(), 0.05, 0.1, boundary
    )
    assert msg == "left the parameter range"
    np.testing.assert_allclose(ys[:, 0] ** 2, ys[:, 1], atol=1e-12)
    np.testing.assert_allclose(ys[-1], [1.0, 1.0], atol=1e-12)
    assert np.all(np.diff(ys[:, 0]) > 0)  # through the fold p = 0, where p turns back
    assert ys[:, 1].min() < 0.01


def test_correct_lands_on_the_curve_in_the_border_hyperplane():
    y_pred, t = np.array([0.8, 0.8]), np.array([1.0, 0.0])  # keeps y[0] = 0.8
    y, ok, its = correct(_circle, y_pred, t, 1e-13, 20)
    assert ok and its <= 8
    np.testing.assert_allclose(y, [0.8, 0.6], atol=1e-13)
