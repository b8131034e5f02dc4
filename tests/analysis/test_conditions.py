"""The conditions of eq. 6–7: λ₁, ρ, verdicts, the bound ‖∂x_t/∂x_k‖ ≤ (λ₁γ)^{t−k} and its evidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsys.analysis.conditions import (
    check_conditions,
    product_evidence,
    spectral_norm,
    spectral_radius,
    verdict_for,
)
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, RNNMap, UnitMap, iterate


def _explicit_log_norms(rnn, x0, inputs, T):
    """Independent truth: explicit products of iterate(..., jacobians=True), spectral norms by SVD.

    Returns ``norms[t, k] = ‖∂x_t/∂x_k‖`` (NaN for k > t)."""
    tr = iterate(rnn, x0, inputs, steps=None if inputs is not None else T, jacobians=True)
    J = tr.jacobians  # (T, B, n, n)
    out = np.full((T + 1, T + 1, x0.shape[0]), np.nan)
    for k in range(T + 1):
        P = np.broadcast_to(np.eye(rnn.dim), J.shape[1:]).copy()
        out[k, k] = 1.0
        for t in range(k + 1, T + 1):
            P = J[t - 1] @ P
            out[t, k] = np.linalg.norm(P, 2, axis=(-2, -1))
    return out


@settings(max_examples=25)
@given(
    n=st.integers(1, 5),
    m=st.integers(0, 2),
    scale=st.floats(0.1, 4.0),
    act=st.sampled_from(["tanh", "sigmoid", "softsign", "linear", "relu"]),
    seed=st.integers(0, 2**31 - 1),
    input_scale=st.floats(0.0, 3.0),
)
def test_bound_holds_for_every_t_k(n, m, scale, act, seed, input_scale):
    """Eq. 7: ‖∂x_t/∂x_k‖ ≤ (λ₁γ)^{t−k} for every pair, on random weights, inputs and activations."""
    rng = np.random.default_rng(seed)
    W = scale * rng.standard_normal((n, n)) / np.sqrt(n)
    if act in ("linear", "relu"):  # keep the trajectory finite
        W *= 0.9 / max(np.linalg.norm(W, 2), 1e-12) * min(scale, 1.0)
    rnn = RNNMap(W, rng.standard_normal((n, m)) if m else None, rng.standard_normal(n), act)
    T, B = 12, 3
    eta = np.linalg.norm(W, 2) * float(rnn.activation.gamma)
    x0 = rng.standard_normal((B, n))
    u = input_scale * rng.standard_normal((T, B, m)) if m else None
    ev = product_evidence(rnn, eta, steps=T, sequences=B, starts="all", x0=x0, inputs=u, rng=rng)
    truth = _explicit_log_norms(rnn, x0, u, T)
    # the evidence's renormalized products agree with explicit products (where not underflowed)
    for s, k in enumerate(ev.starts):
        big = truth[k:, k] > 1e-200
        np.testing.assert_allclose(np.exp(ev.log_norms[s, k:][big]), truth[k:, k][big], rtol=1e-7)
    # the bound itself, checked on the explicit products
    t, k = np.meshgrid(np.arange(T + 1), np.arange(T + 1), indexing="ij")
    lag = (t - k)[..., None]
    ok = np.broadcast_to(lag >= 0, truth.shape)
    bound = np.broadcast_to(eta ** np.maximum(lag, 0), truth.shape)
    assert np.all(truth[ok] <= bound[ok] * (1 + 1e-9 * (1 + np.broadcast_to(lag, truth.shape)[ok])))
    assert ev.bound_held
    assert ev.rate <= ev.bound_rate + 1e-9


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("c", [0.5, 0.97, 1.3])
def test_bound_is_attained(rng, act, c):
    """W = (c/γ)·orthogonal, states held at x = 0 (where |σ′| = γ): ‖∂x_t/∂x_k‖ = η^{t−k} exactly."""
    n = 6
    gamma = 1.0 if act == "tanh" else 0.25
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    W = (c / gamma) * Q
    b = -W @ np.full(n, 0.5) if act == "sigmoid" else np.zeros(n)  # x = 0 is a fixed point
    rnn = RNNMap(W, b=b, activation=act)
    res = check_conditions(rnn, evidence=False)
    np.testing.assert_allclose(res.eta, c, rtol=1e-12)
    ev = product_evidence(rnn, res.eta, steps=20, sequences=1, starts="all", x0=np.zeros((1, n)))
    assert ev.bound_held
    assert ev.max_log_ratio > -1e-9  # attained up to round-off
    np.testing.assert_allclose(ev.rate, np.log(c), atol=1e-9)


def test_check_conditions_numbers(rng):
    W = rng.standard_normal((8, 8))
    W_in = rng.standard_normal((8, 2))
    res = check_conditions(RNNMap(W, W_in, activation="sigmoid"), rng=1, steps=20)
    assert res.lambda1 == pytest.approx(np.linalg.svd(W, compute_uv=False)[0], rel=1e-12)
    assert res.spectral_radius == pytest.approx(np.max(np.abs(np.linalg.eigvals(W))), rel=1e-12)
    assert res.gamma == 0.25 and res.gamma_exact == "1/4"
    assert res.eta == pytest.approx(res.lambda1 / 4)
    assert res.verdict == ("vanishing" if res.lambda1 < 4 else "may-explode")
    assert res.linear_verdict is None
    d = res.as_dict()
    for key in ("lambda1", "spectral_radius", "gamma", "eta", "verdict", "evidence"):
        assert key in d
    assert d["evidence"]["bound_held"] is True
    assert "verdict" in str(res)


def test_activation_override_and_unit_map():
    res = check_conditions(UnitMap(w=3.0, b=-1.0, activation="sigmoid"), evidence=False)
    assert (res.lambda1, res.eta, res.verdict) == (3.0, 0.75, "vanishing")
    res = check_conditions(UnitMap(w=3.0, b=-1.0, activation="sigmoid"), "tanh", evidence=False)
    assert (res.eta, res.verdict) == (3.0, "may-explode")
    W = np.array([[0.0, 2.0], [-2.0, 0.0]]) * 0.4  # rotation-scaling: ρ = λ₁ = 0.8
    res = check_conditions(W, "linear", evidence=False)
    assert res.linear_verdict == "vanishing" and res.verdict == "vanishing"
    res = check_conditions(np.array([[0.5, 10.0], [0.0, 0.5]]), "linear", evidence=False)
    # λ₁ > 1 but ρ = 0.5: the theorem is inconclusive, the linear-case variant says vanishing
    assert res.verdict == "may-explode" and res.linear_verdict == "vanishing"


def test_verdict_tolerance():
    assert verdict_for(1.0 - 1e-3) == "vanishing"
    assert verdict_for(1.0 + 1e-3) == "may-explode"
    assert verdict_for(1.0 + 1e-8) == "boundary"
    assert verdict_for(1.0 + 1e-3, tol=1e-2) == "boundary"
    W = np.eye(3)  # λ₁γ = 1 exactly for tanh
    assert check_conditions(W, evidence=False).verdict == "boundary"


def test_iterative_solvers_match_dense(rng):
    n = 150  # the iterative (ARPACK) path, forced
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    W[0, 0] += 3.0  # a separated top eigenvalue / singular value
    assert spectral_norm(W, method="iterative") == pytest.approx(spectral_norm(W, method="dense"), rel=1e-8)
    assert spectral_radius(W, method="iterative") == pytest.approx(
        spectral_radius(W, method="dense"), rel=1e-6
    )


def test_sketch_evidence_is_a_lower_bound(rng):
    n = 80
    W = 1.5 * rng.standard_normal((n, n)) / np.sqrt(n)
    rnn = RNNMap(W, rng.standard_normal((n, 1)))
    eta = np.linalg.norm(W, 2)
    x0 = rng.standard_normal((2, n))
    u = rng.standard_normal((15, 2, 1))
    exact = product_evidence(rnn, eta, steps=15, sequences=2, x0=x0, inputs=u, sketch=n + 1)
    sk = product_evidence(rnn, eta, steps=15, sequences=2, x0=x0, inputs=u, sketch=4, rng=3)
    assert exact.method == "exact" and sk.method == "sketch"
    assert np.all(sk.log_norms[0, 1:] <= exact.log_norms[0, 1:] + 1e-9)
    assert sk.bound_held


@pytest.mark.parametrize(
    "W, match",
    [
        (np.ones((3, 4)), "must be square"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "must be finite"),
        (np.zeros((0, 0)), "must not be empty"),
        (np.zeros((0, 3)), "must not be empty"),
        (np.ones(3), "dimension"),
        ([["a", "b"], ["c", "d"]], "numeric"),
    ],
)
def test_bad_weights(W, match):
    with pytest.raises(DynsysError, match=match) as info:
        check_conditions(W)
    assert "\n" not in str(info.value)
    assert "W_rec" in str(info.value)


def test_bad_other_arguments():
    with pytest.raises(DynsysError, match="unknown activation"):
        check_conditions(np.eye(2), "swish")
    with pytest.raises(DynsysError, match="needs W_rec"):
        check_conditions(HenonMap())
    with pytest.raises(DynsysError, match="tol"):
        check_conditions(np.eye(2), tol=-1.0)
    with pytest.raises(DynsysError, match="steps"):
        check_conditions(np.eye(2), steps=0)
    with pytest.raises(DynsysError, match="input_scale"):
        check_conditions(np.eye(2), input_scale=float("inf"))


def test_evidence_divergence_and_batch_mismatch():
    exploding = RNNMap(50.0 * np.eye(3), np.ones((3, 1)), activation="linear")
    with pytest.raises(DynsysError, match="diverged"):
        check_conditions(exploding, steps=300)
    assert check_conditions(exploding, evidence=False).verdict == "may-explode"
    m = RNNMap(0.5 * np.eye(3), np.ones((3, 1)))
    assert product_evidence(m, 0.5, x0=np.zeros((2, 3)), steps=5).sequences == 2
    with pytest.raises(DynsysError, match="batch size"):
        product_evidence(m, 0.5, x0=np.zeros((2, 3)), inputs=np.zeros((5, 3, 1)), steps=5)
    for eta, match in (
        ("a", "eta must be a number"),
        (float("nan"), "eta must be finite"),
        (-1.0, "eta must be >= 0"),
    ):
        with pytest.raises(DynsysError, match=match):
            product_evidence(m, eta, steps=5)


def test_plotting_smoke(rng):
    pytest.importorskip("matplotlib")
    from dynsys.plotting import new_figure
    from dynsys.plotting.conditions import plot_bound_line, plot_product_norms, plot_transition

    eta = np.geomspace(0.25, 4, 5)
    fig, (ax1, ax2) = new_figure(1, 2)
    arts = plot_bound_line(ax1, eta)
    arts += plot_transition(ax1, eta, np.log(eta) - 0.1, np.log(eta) - 0.2, label="tanh")
    assert len(arts) >= 5 and ax1.get_xscale() == "log"
    line = arts[0]
    np.testing.assert_allclose(line.get_ydata(), np.log(line.get_xdata()))  # the bound is log η
    ev = product_evidence(RNNMap(0.5 * np.eye(3)), 0.5, steps=10, sequences=2, rng=rng)
    lag = np.arange(11)
    arts = plot_product_norms(ax2, lag, ev.log_norms[0].mean(axis=-1), 0.5, label="tanh")
    assert len(arts) == 2
