"""The conditions of eq. 6–7: λ₁, ρ, verdicts, the bound ‖∂x_t/∂x_k‖ ≤ (λ₁γ)^{t−k} and its evidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsys.analysis import (
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


# ---------------------------------------------------------------------------------------
# Gated cells: the bound that holds (γ_GRU, γ_LSTM) and the empirical verdict of any map
# ---------------------------------------------------------------------------------------


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _random_cell(cls, G, rng, n, m, scale, bias_scale):
    """A gated cell with N(0, scale²/n) recurrent weights (as GRUMap/LSTMMap take them)."""
    return cls(
        weight_ih=scale * rng.standard_normal((G * n, m)) if m else None,
        weight_hh=scale * rng.standard_normal((G * n, n)) / np.sqrt(n),
        bias_ih=bias_scale * rng.standard_normal(G * n),
        bias_hh=bias_scale * rng.standard_normal(G * n),
    )


def _cube_states(rng, n, k):
    """States in the cube |h|∞ ≤ 1: uniform ones and corners (where |h − ñ| and |W h| are largest)."""
    return np.concatenate([rng.uniform(-1, 1, (k, n)), rng.choice([-1.0, 1.0], (k, n))])


def _box_inputs(rng, u0, R, k, m):
    if not m:
        return None
    u0 = np.zeros(m) if u0 is None else u0
    return u0 + R * np.concatenate([rng.uniform(-1, 1, (k, m)), rng.choice([-1.0, 1.0], (k, m))])


def _gru_gates(gru, h, u):
    """r, z, ñ of torch.nn.GRUCell, written out here (independent of GRUMap)."""
    n = gru.hidden_size
    gi = gru.bias_ih + (0 if u is None else u @ gru.weight_ih.T)
    gh = h @ gru.weight_hh.T + gru.bias_hh
    r = _sigmoid(gi[..., :n] + gh[..., :n])
    z = _sigmoid(gi[..., n : 2 * n] + gh[..., n : 2 * n])
    return r, z, np.tanh(gi[..., 2 * n :] + r * gh[..., 2 * n :])


@settings(max_examples=40)
@given(
    n=st.integers(1, 5),
    m=st.integers(0, 2),
    scale=st.floats(0.05, 4.0),
    bias_scale=st.floats(0.0, 3.0),
    R=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_gru_bound_is_never_exceeded(n, m, scale, bias_scale, R, seed):
    """‖J(h, u)‖₂ ≤ γ_GRU at every sampled state of the cube and input of the box; the gates lie in
    their intervals; the cube is forward invariant."""
    from dynsys.analysis import gated_bound
    from dynsys.maps.gated import GRUMap

    rng = np.random.default_rng(seed)
    gru = _random_cell(GRUMap, 3, rng, n, m, scale, bias_scale)
    u0 = rng.standard_normal(m) if m else None
    b = gated_bound(gru, u0, input_radius=R)
    h, u = _cube_states(rng, n, 300), _box_inputs(rng, u0, R, 300, m)
    J = gru.jacobian(h, u)
    assert np.all(np.linalg.norm(J, 2, axis=(-2, -1)) <= b.gamma * (1 + 1e-12) + 1e-15)
    assert np.all(np.abs(J).sum(axis=-1).max(axis=-1) <= b.gamma_inf * (1 + 1e-12) + 1e-15)  # ‖J‖∞
    assert b.gamma == pytest.approx(b.gate_path + sum(b.weight_terms.values()), rel=1e-14)
    assert b.prefactor == 1.0 and b.step_bound == b.gamma and b.mu == pytest.approx(b.unit_mu.max())
    r, z, cand = _gru_gates(gru, h, u)
    for name, value in zip("rzn", (r, z, cand)):
        lo, hi = b.gates[name]
        assert np.all(value >= lo - 1e-12) and np.all(value <= hi + 1e-12), name
    # J = diag(z) + diag(1 − z) M: the rows of M (from the Jacobian) have 1-norms ≤ μ_i
    keep = 1.0 - z > 1e-6  # rows whose z is not 1 in floating point
    M = (J - z[..., None] * np.eye(n)) / np.where(keep, 1.0 - z, 1.0)[..., None]
    mu = np.broadcast_to(b.unit_mu, keep.shape)
    assert np.all(np.abs(M).sum(axis=-1)[keep] <= mu[keep] * (1 + 1e-9) + 1e-12)
    assert np.all(np.abs(gru.step(h, u)) <= 1.0 + 1e-15)  # the cube maps into itself


@settings(max_examples=40)
@given(
    n=st.integers(1, 4),
    m=st.integers(0, 2),
    scale=st.floats(0.05, 3.0),
    bias_scale=st.floats(0.0, 2.0),
    R=st.floats(0.0, 1.5),
    seed=st.integers(0, 2**31 - 1),
)
def test_lstm_bound_is_never_exceeded(n, m, scale, bias_scale, R, seed):
    """In the box |h|∞ ≤ 1, |c_i| ≤ C_i: ‖J‖₂ ≤ step_bound and ‖S J S⁻¹‖₂ ≤ γ_LSTM (S = diag(sI, I));
    the box is forward invariant."""
    from dynsys.analysis import gated_bound
    from dynsys.maps.gated import LSTMMap

    rng = np.random.default_rng(seed)
    lstm = _random_cell(LSTMMap, 4, rng, n, m, scale, bias_scale)
    b = gated_bound(lstm, input_radius=R)
    C = b.cell_radius
    assert np.all(np.isfinite(C)) and b.scale is not None
    x = np.concatenate([_cube_states(rng, n, 300), C * _cube_states(rng, n, 300)], axis=-1)
    u = _box_inputs(rng, None, R, 300, m)
    J = lstm.jacobian(x, u)
    assert np.all(np.linalg.norm(J, 2, axis=(-2, -1)) <= b.step_bound * (1 + 1e-12) + 1e-15)
    S = np.r_[np.full(n, b.scale), np.ones(n)]
    weighted = S[:, None] * J / S[None, :]
    assert np.all(np.linalg.norm(weighted, 2, axis=(-2, -1)) <= b.gamma * (1 + 1e-12) + 1e-15)
    assert b.prefactor == pytest.approx(max(b.scale, 1 / b.scale), rel=1e-15)
    assert b.gamma <= b.step_bound * (1 + 1e-15)  # s = 1 is one of the scales tried
    y = lstm.step(x, u)
    assert np.all(np.abs(y[:, :n]) <= 1.0) and np.all(np.abs(y[:, n:]) <= C * (1 + 1e-12) + 1e-15)


def test_gru_bound_is_exact_without_recurrent_weights(rng):
    """W_hh = 0: J = diag(z) with z constant, so ‖J‖₂ = max z = z_max = γ_GRU exactly."""
    from dynsys.analysis import gated_bound
    from dynsys.maps.gated import GRUMap

    n, m = 5, 2
    gru = GRUMap(
        weight_ih=rng.standard_normal((3 * n, m)),
        weight_hh=np.zeros((3 * n, n)),
        bias_ih=rng.standard_normal(3 * n),
        bias_hh=rng.standard_normal(3 * n),
    )
    u = rng.standard_normal(m)
    b = gated_bound(gru, u)
    z = _sigmoid(gru.bias_ih[n : 2 * n] + gru.bias_hh[n : 2 * n] + gru.weight_ih[n : 2 * n] @ u)
    assert b.gamma == pytest.approx(z.max(), rel=1e-14)
    assert b.gamma_inf == pytest.approx(z.max(), rel=1e-14) and b.mu == 0.0
    assert all(v == 0.0 for v in b.weight_terms.values())
    h = rng.uniform(-1, 1, (10, n))
    np.testing.assert_allclose(np.linalg.norm(gru.jacobian(h, u), 2, axis=(-2, -1)), b.gamma, rtol=1e-14)


def test_lstm_bound_without_recurrent_weights(rng):
    """W_hh = 0, identical units: J = [[0, diag(kf)], [0, diag(f)]], k = o(1 − tanh²c′). The one-step
    bound f√(1 + o²) is attained where c′ = 0, and the rate bound is f_max up to s ≥ 10⁻²."""
    from dynsys.analysis import SCALE_DECADES, gated_bound
    from dynsys.maps.gated import LSTMMap

    n = 3
    bias = np.repeat([0.3, 1.5, -0.4, 0.8], n)  # per gate i, f, g, o; f = σ(1.5) > ½
    lstm = LSTMMap(weight_hh=np.zeros((4 * n, n)), bias_hh=bias)
    b = gated_bound(lstm)
    i, f, o = _sigmoid(0.3), _sigmoid(1.5), _sigmoid(0.8)
    g = np.tanh(-0.4)
    assert b.gate_path == pytest.approx(f, rel=1e-14)
    np.testing.assert_allclose(b.cell_radius, i * abs(g) / (1 - f), rtol=1e-13)
    assert b.step_bound == pytest.approx(f * np.sqrt(1 + o**2), rel=1e-13)
    x = np.concatenate([rng.uniform(-1, 1, n), np.full(n, -i * g / f)])  # c′ = f c + i g = 0
    assert np.linalg.norm(lstm.jacobian(x), 2) == pytest.approx(b.step_bound, rel=1e-13)
    smin = 10.0**-SCALE_DECADES
    assert f <= b.gamma <= np.hypot(smin * o * f, f) * (1 + 1e-12)
    assert b.prefactor == pytest.approx(1 / smin)


def test_products_obey_the_gated_bound(rng):
    """Along trajectories in the invariant sets, explicit Jacobian products obey ‖∂x_t/∂x_k‖ ≤ κγ^{t−k}
    (iterate's Jacobians and SVDs: independent of the evidence code)."""
    from dynsys.analysis import conditions_report, gated_bound
    from dynsys.maps.gated import GRUMap, LSTMMap

    T, B = 15, 3
    for cls, G, scale in ((GRUMap, 3, 0.1), (LSTMMap, 4, 0.1)):
        cell = _random_cell(cls, G, rng, 4, 1, scale, 0.3)
        b = gated_bound(cell, input_radius=1.0)
        assert b.verdict == "vanishing", b  # small weights: γ < 1, the sufficient condition holds
        x0 = np.zeros((B, cell.dim))
        u = rng.uniform(-1, 1, (T, B, 1))
        truth = _explicit_log_norms(cell, x0, u, T)
        t, k = np.meshgrid(np.arange(T + 1), np.arange(T + 1), indexing="ij")
        lag = np.broadcast_to((t - k)[..., None], truth.shape)
        ok = lag > 0
        assert np.all(truth[ok] <= b.prefactor * b.gamma ** lag[ok] * (1 + 1e-10))
        if b.mu is not None:  # GRU: ‖∂h_t/∂h_k‖∞ ≤ γ_∞^{t−k}, from the explicit products
            tr = iterate(cell, x0, u, jacobians=True)
            P = np.broadcast_to(np.eye(cell.dim), tr.jacobians.shape[1:])
            for t in range(T):
                P = tr.jacobians[t] @ P
                assert np.all(np.abs(P).sum(axis=-1).max(axis=-1) <= b.gamma_inf ** (t + 1) * (1 + 1e-10))
        rep = conditions_report(cell, input_radius=1.0, steps=T, sequences=B, starts="all", rng=1)
        assert rep.bound_held is True and rep.max_log_excess < 0
        assert rep.empirical_verdict == "vanishing"


def test_identity_like_update_gate():
    """The z-path: with z = σ(6) ≈ 0.998 the products barely shrink (neutral) although μ < 1 certifies
    vanishing: the rate z + (1 − z)μ → 1 as z → 1, with no large weight. Explosion still needs μ > 1."""
    from dynsys.analysis import conditions_report
    from dynsys.maps.gated import GRUMap

    n = 6
    bias = np.r_[np.zeros(n), np.full(n, 6.0), np.zeros(n)]
    rep = conditions_report(GRUMap(weight_hh=np.zeros((3 * n, n)), bias_hh=bias), steps=40, rng=0)
    assert rep.bound.gamma == pytest.approx(_sigmoid(6.0), rel=1e-14)
    assert rep.bound.verdict == "vanishing" and rep.empirical_verdict == "neutral"
    assert rep.evidence.rate == pytest.approx(np.log(_sigmoid(6.0)), rel=1e-9)  # J = σ(6) I exactly
    W = 0.02 * np.random.default_rng(3).standard_normal((3 * n, n))
    rep = conditions_report(GRUMap(weight_hh=W, bias_hh=bias), steps=40, rng=0)
    b = rep.bound
    assert b.mu < 1 and b.verdict == "vanishing" and 0.99 < b.gamma_inf < 1
    assert rep.empirical_verdict == "neutral" and rep.bound_held
    # large candidate weights: μ > 1, the necessary condition for exploding holds
    W = np.zeros((3 * n, n))
    W[2 * n :] = 3.0 * np.eye(n)
    b = conditions_report(GRUMap(weight_hh=W, bias_hh=bias), evidence=False).bound
    assert b.mu > 1 and b.gamma > 1 and b.verdict == "may-explode"


def test_lstm_explodes_with_tiny_weights():
    """No eq. 7-form necessary condition for the LSTM: W_hg = δI with δ = 0.002, f = σ(8). At the fixed
    point 0 the Jacobian [[o i δ I, o f I], [i δ I, f I]] has spectral radius f + o i δ > 1 (closed
    form), and the products grow at that rate."""
    from dynsys.analysis import conditions_report
    from dynsys.maps.gated import LSTMMap

    n, delta = 3, 0.002
    W = np.zeros((4 * n, n))
    W[2 * n : 3 * n] = delta * np.eye(n)
    bias = np.zeros(4 * n)
    bias[n : 2 * n] = 8.0
    lstm = LSTMMap(weight_hh=W, bias_hh=bias)
    rho = _sigmoid(8.0) + 0.25 * delta
    assert rho > 1 and np.linalg.norm(W, 2) == pytest.approx(delta)
    assert np.max(np.abs(np.linalg.eigvals(lstm.jacobian(np.zeros(2 * n))))) == pytest.approx(rho, rel=1e-12)
    rep = conditions_report(lstm, x0=np.zeros((1, 2 * n)), steps=400, starts=1)
    assert rep.evidence.rate > 0 and rep.evidence.log_norms[0, -1, 0] > 0  # the products grow
    assert rep.evidence.rate == pytest.approx(np.log(rho), rel=0.05)
    assert rep.bound.verdict == "inconclusive" and "no necessary condition" in rep.bound.conclusion()
    assert rep.bound_held  # κ γ^{t−k} still bounds them (x0 = 0 is in the region)


def test_report_forms_and_explanations(rng):
    """Which statement each map gets: eq. 6–7 (RNN), the bound (GRU, LSTM), the empirical verdict only."""
    from dynsys.analysis import WHY_NOT_EQ67, conditions_report
    from dynsys.maps.gated import GRUMap, LSTMMap

    rep = conditions_report(RNNMap(0.5 * np.eye(3), np.ones((3, 1))), steps=10, rng=0)
    assert rep.form == "rnn" and rep.explanation is None and rep.bound is None
    assert rep.conditions.verdict == "vanishing" and rep.empirical_verdict == "vanishing"
    gru = _random_cell(GRUMap, 3, rng, 3, 2, 0.5, 0.5)
    lstm = _random_cell(LSTMMap, 4, rng, 3, 2, 0.5, 0.5)
    for cell, form in ((gru, "gru"), (lstm, "lstm")):
        rep = conditions_report(cell, steps=10, rng=0)
        assert rep.form == form and rep.conditions is None and rep.bound.cell == form.upper()
        assert rep.explanation == WHY_NOT_EQ67[form] and "eq. 2" in rep.explanation
        assert rep.bound_held is True
        d = rep.as_dict()
        assert d["eq67_stated"] is False and d["bound"]["gamma"] == rep.bound.gamma
        assert d["evidence"]["bound_held"] is True
        assert d["evidence"]["bound_rate"] == pytest.approx(np.log(rep.bound.gamma))
        text = str(rep)
        assert "not stated" in text and f"γ_{form.upper()}" in text and "empirical verdict" in text
    from dynsys.maps.modern import LayerNormRNNMap, ResidualRNNMap

    for m, form in (
        (ResidualRNNMap(0.3 * rng.standard_normal((4, 4)), rng.standard_normal((4, 1))), "residual"),
        (LayerNormRNNMap(rng.standard_normal((4, 4)), rng.standard_normal((4, 1))), "layernorm"),
    ):
        rep = conditions_report(m, steps=10, rng=0)
        assert rep.form == form and rep.explanation == WHY_NOT_EQ67[form] and rep.bound is None
        assert rep.empirical_verdict is not None and rep.bound_held is None
    rep = conditions_report(HenonMap(), x0=np.zeros((2, 2)), steps=20)
    assert rep.form == "other" and rep.bound is None and rep.bound_held is None
    assert "HenonMap is not the map of eq. 2" in rep.explanation
    assert rep.empirical_verdict == "exploding"  # the Hénon attractor is chaotic: λ₁ ≈ 0.42 > 0
    rep = conditions_report(gru, evidence=False)
    assert rep.evidence is None and rep.empirical_verdict is None and rep.bound is not None


def test_a_map_is_recognized_by_what_it_computes(rng):
    """A GRUMap subclass that computes something else has GRU weights but gets no GRU bound."""
    from dataclasses import dataclass

    from dynsys.analysis import conditions_report, gated_bound
    from dynsys.maps.gated import GRUMap

    @dataclass(frozen=True, eq=False, repr=False)
    class ResidualGRU(GRUMap):
        def step(self, x, u=None):
            return x + super().step(x, u)

        def jacobian(self, x, u=None):
            return np.eye(self.dim) + super().jacobian(x, u)

    cell = _random_cell(ResidualGRU, 3, rng, 3, 0, 0.5, 0.5)
    assert conditions_report(cell, evidence=False).form == "other"
    with pytest.raises(DynsysError, match="GRU or LSTM"):
        gated_bound(cell)


def test_empirical_verdict_thresholds():
    from dynsys.analysis import empirical_verdict

    assert empirical_verdict(-0.011) == "vanishing" and empirical_verdict(0.011) == "exploding"
    assert empirical_verdict(-0.009) == empirical_verdict(0.009) == "neutral"
    assert empirical_verdict(0.05, rate_tol=0.1) == "neutral"


def test_gated_bad_input(rng):
    from dynsys.analysis import conditions_report, gated_bound
    from dynsys.maps.gated import GRUMap

    gru = _random_cell(GRUMap, 3, rng, 3, 2, 0.5, 0.5)
    auto = _random_cell(GRUMap, 3, rng, 3, 0, 0.5, 0.5)
    cases = [
        (lambda: gated_bound(HenonMap()), "GRU or LSTM"),
        (lambda: gated_bound(np.eye(2)), "map must be a dynsys Map"),
        (lambda: gated_bound(gru, input_radius=-1.0), "input_radius must be >= 0"),
        (lambda: gated_bound(gru, input_radius=float("nan")), "input_radius must be finite"),
        (lambda: gated_bound(gru, np.zeros(3)), "u must have shape"),
        (lambda: gated_bound(auto, np.zeros(1)), "takes no input"),
        (lambda: gated_bound(gru, tol=-1.0), "tol must be >= 0"),
        (lambda: conditions_report(gru, rate_tol=-1.0), "rate_tol must be >= 0"),
        (lambda: conditions_report(gru, steps=0), "steps must be >= 1"),
        (lambda: conditions_report(gru, x0=np.zeros((2, 4))), "x0 must have shape"),
        (lambda: conditions_report(RNNMap(np.eye(2)), x0=np.zeros((1, 2))), "x0 is not used"),
        (lambda: conditions_report(HenonMap(), rng=0), "diverged.*give x0"),
    ]
    for fn, match in cases:
        with pytest.raises(DynsysError, match=match) as info:
            fn()
        assert "\n" not in str(info.value)
