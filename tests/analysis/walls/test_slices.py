"""Tests of dynsys.analysis.walls.slices: loss lines/planes through an RNN's parameter space, chosen directions."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.walls import ParamLayout, choose_direction, loss_line, loss_plane, losses_at
from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, bptt
from dynsys.maps import FixedInput, HenonMap, RNNMap, UnitMap


@pytest.fixture
def problem(rng):
    n, m, k, T, B = 4, 3, 2, 6, 5
    rnn = RNNMap(
        rng.normal(0, 0.6, (n, n)), rng.normal(0, 1, (n, m)), rng.normal(0, 0.1, n), "tanh",
        rng.normal(0, 1, (k, n)), rng.normal(0, 0.1, k),
    )  # fmt: skip
    u = rng.normal(size=(T, B, m))
    loss = ReadoutLoss(rng.integers(0, k, (1, B)), kind="softmax", steps="last")
    return rnn, u, loss


def _rnn_at(rnn, layout, theta):
    p = layout.unflatten(theta)
    return RNNMap(p["W_rec"], p["W_in"], p["b"], rnn.activation, p.get("W_out"), p.get("b_out"))


def test_losses_at_matches_bptt(problem, rng):
    rnn, u, loss = problem
    layout = ParamLayout.of(rnn, loss)
    theta0 = layout.flatten({k: np.asarray(getattr(rnn, k)) for k in layout.names})
    thetas = theta0[None] + 0.3 * rng.normal(size=(3, layout.size))
    v, g = losses_at(rnn, thetas, u, loss, chunk=2)
    for i in range(3):
        ref = bptt(_rnn_at(rnn, layout, thetas[i]), u, loss)
        assert v[i] == pytest.approx(ref.loss, rel=1e-12)
        np.testing.assert_allclose(g[i], layout.flatten(ref.grads), rtol=1e-10, atol=1e-13)


def test_line_slope_matches_finite_differences(problem):
    rnn, u, loss = problem
    d = choose_direction("random", rnn, u, loss, rng=3)
    assert np.linalg.norm(d) == pytest.approx(1.0, abs=1e-14)
    h = 1e-6
    alphas = np.array([-0.5, 0.0, 0.4])
    line = loss_line(rnn, u, loss, d, alphas)
    plus = loss_line(rnn, u, loss, d, alphas + h).loss
    minus = loss_line(rnn, u, loss, d, alphas - h).loss
    np.testing.assert_allclose(line.slope, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-9)
    assert line.loss[1] == pytest.approx(bptt(rnn, u, loss).loss, rel=1e-13)


def test_gradient_direction_and_descent_along_it(problem):
    rnn, u, loss = problem
    d, info = choose_direction("gradient", rnn, u, loss, return_info=True)
    g = ParamLayout.of(rnn, loss).flatten(bptt(rnn, u, loss).grads)
    np.testing.assert_allclose(d, g / np.linalg.norm(g), rtol=1e-12)
    line = loss_line(rnn, u, loss, d, np.array([0.0, -1e-4]))
    assert line.slope[0] == pytest.approx(info["grad_norm"], rel=1e-10)
    assert line.loss[1] < line.loss[0]  # a small step against the gradient lowers the loss


def test_hessian_direction_is_top_eigenvector(problem):
    rnn, u, loss = problem
    layout = ParamLayout.of(rnn, loss)
    theta = layout.flatten({k: np.asarray(getattr(rnn, k)) for k in layout.names})
    P, h = layout.size, 1e-5
    eye = np.eye(P)
    _, gp = losses_at(rnn, theta[None] + h * eye, u, loss)
    _, gm = losses_at(rnn, theta[None] - h * eye, u, loss)
    H = (gp - gm) / (2 * h)
    H = 0.5 * (H + H.T)
    lam, vec = np.linalg.eigh(H)
    top = np.argmax(np.abs(lam))
    d, info = choose_direction("hessian", rnn, u, loss, rng=0, iters=300, return_info=True)
    assert abs(d @ vec[:, top]) > 0.99
    assert info["eigenvalue"] == pytest.approx(lam[top], rel=1e-3)


def test_plane_consistent_with_line_and_orthonormal(problem):
    rnn, u, loss = problem
    d1 = choose_direction("random", rnn, u, loss, rng=1)
    d2 = d1 + choose_direction("random", rnn, u, loss, rng=2)
    al, be = np.linspace(-0.3, 0.3, 4), np.linspace(-0.2, 0.2, 3)
    plane = loss_plane(rnn, u, loss, d1, d2, al, be)
    assert plane.loss.shape == (4, 3)
    assert abs(plane.d1 @ plane.d2) < 1e-12 and np.linalg.norm(plane.d2) == pytest.approx(1.0)
    line = loss_line(rnn, u, loss, d1, al)
    np.testing.assert_allclose(plane.loss[:, 1], line.loss, rtol=1e-12)  # be[1] == 0


def test_state_loss_without_readout(rng):
    rnn = RNNMap(rng.normal(0, 0.5, (3, 3)), None, np.zeros(3), "tanh")
    loss = StateLoss(np.full((1, 4, 3), 0.2), steps="last")
    x0 = rng.normal(size=(4, 3))
    h0 = np.tanh(x0)
    d = choose_direction("random", rnn, None, loss, rng=0, h0=h0, steps=5)
    assert d.shape == (12,)  # W_rec and b only (no inputs)
    line = loss_line(rnn, None, loss, d, np.array([0.0, 0.1]), h0=h0, steps=5)
    assert line.loss[0] == pytest.approx(bptt(rnn, None, loss, h0=h0, steps=5).loss, rel=1e-12)
    # independent forward pass at α = 0.1 (W_rec and b moved)
    W = rnn.W_rec + 0.1 * d[:9].reshape(3, 3)
    b = rnn.b + 0.1 * d[9:]
    h = h0
    for _ in range(5):
        h = np.tanh(h @ W.T + b)
    assert line.loss[1] == pytest.approx(np.sum((h - 0.2) ** 2) / 4, rel=1e-12)


def test_validation(problem):
    rnn, u, loss = problem
    P = ParamLayout.of(rnn, loss).size
    with pytest.raises(DynsysError, match="direction"):
        loss_line(rnn, u, loss, np.ones(P + 1), [0.0])
    with pytest.raises(DynsysError, match="zero"):
        loss_line(rnn, u, loss, np.zeros(P), [0.0])
    with pytest.raises(DynsysError, match="parallel"):
        loss_plane(rnn, u, loss, np.ones(P), 2 * np.ones(P), [0.0], [0.0])
    with pytest.raises(DynsysError, match="direction"):
        choose_direction("sideways", rnn, u, loss)
    with pytest.raises(DynsysError, match="readout"):
        ParamLayout.of(RNNMap(np.eye(2), None, np.zeros(2), "tanh"), loss)


def test_line_and_plane_validate_the_batch(problem, monkeypatch):
    rnn, u, loss = problem
    P = ParamLayout.of(rnn, loss).size
    d, d2 = np.eye(P)[0], np.eye(P)[1]
    bad = [
        ((u[..., :2], loss), "inputs"),
        ((u, ReadoutLoss(np.array([[0, 1]]), kind="softmax", steps="last")), "loss.targets"),
        ((u, ReadoutLoss(np.array([[0, 1, 5, 0, 1]]), kind="softmax", steps="last")), "class labels"),
        ((u, None), "loss"),
        ((None, loss), "steps"),
    ]
    for (uu, ll), msg in bad:
        with pytest.raises(DynsysError, match=msg):
            loss_line(rnn, uu, ll, d, [0.0])
        with pytest.raises(DynsysError, match=msg):
            loss_plane(rnn, uu, ll, d, d2, [0.0], [0.0])
    # valid input: the line is computed without any single-network BPTT pass
    import dynsys.analysis.walls.slices as slices

    monkeypatch.setattr(slices, "bptt", None)
    line = loss_line(rnn, u, loss, d, [0.0, 0.5])
    plane = loss_plane(rnn, u, loss, d, d2, [0.0], [0.0, 0.5])
    assert np.all(np.isfinite(line.loss)) and plane.loss.shape == (1, 2)
    assert line.loss[0] == plane.loss[0, 0] == pytest.approx(bptt(rnn, u, loss).loss, rel=1e-12)


def test_maps_of_the_eq2_form_and_others(rng):
    """Any map with ``as_rnn()`` (Map rule 15) is sliced as its eq. 2 form; another map is a
    one-line DynsysError, not an AttributeError."""
    unit = UnitMap(w=2.0, b=0.1, activation="tanh", w_in=0.7)
    u = rng.normal(size=(6, 3, 1))
    loss = StateLoss(np.full((1, 3, 1), 0.2), steps="last")
    d = np.array([1.0, -0.5, 0.3])  # (W_rec, W_in, b) of the 1-unit network
    alphas = np.array([-0.2, 0.0, 0.4])
    line = loss_line(unit, u, loss, d, alphas)
    # independent truth: the closed-form loop of the unit with θ + α d
    dn = d / np.linalg.norm(d)
    for a, got in zip(alphas, line.loss):
        w, w_in, b = np.array([2.0, 0.7, 0.1]) + a * dn
        h = np.zeros(3)
        for t in range(6):
            h = np.tanh(w * h + w_in * u[t, :, 0] + b)
        assert got == pytest.approx(np.sum((h - 0.2) ** 2) / 3, rel=1e-12)
    assert choose_direction("random", unit, u, loss, rng=0).shape == (3,)
    assert losses_at(unit, np.zeros((2, 3)), u, loss)[0].shape == (2,)
    rnn = RNNMap(rng.normal(0, 0.5, (3, 3)), rng.normal(0, 1, (3, 2)), np.zeros(3), "tanh")
    fixed = FixedInput(rnn, [0.3, -0.1])
    sl = StateLoss(np.zeros((1, 1, 3)), steps="last")
    P = ParamLayout.of(rnn.autonomous([0.3, -0.1]), sl).size
    line_f = loss_line(fixed, None, sl, np.eye(P)[0], [0.0, 0.5], steps=4)
    line_r = loss_line(rnn.autonomous([0.3, -0.1]), None, sl, np.eye(P)[0], [0.0, 0.5], steps=4)
    np.testing.assert_array_equal(line_f.loss, line_r.loss)
    # without inputs and h0: h0 = 0 and one sequence, as in bptt
    assert line_r.loss[0] == pytest.approx(
        bptt(rnn.autonomous([0.3, -0.1]), None, sl, steps=4).loss, rel=1e-12
    )
    for call in (
        lambda: loss_line(HenonMap(), None, sl, np.ones(3), [0.0], steps=4),
        lambda: loss_plane(HenonMap(), None, sl, np.ones(3), np.eye(3)[0], [0.0], [0.0], steps=4),
        lambda: choose_direction("random", HenonMap(), None, sl, steps=4),
        lambda: losses_at(HenonMap(), np.zeros((1, 3)), None, sl, steps=4),
    ):
        with pytest.raises(DynsysError, match="form of eq. 2"):
            call()
