"""Ω (eq. 9) and its W_rec gradient (eq. 10) against finite differences and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.errors import DynsysError
from dynsys.gradients import omega


def _fd(W, d, s, form, h=1e-6):
    g = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            Wp, Wm = W.copy(), W.copy()
            Wp[i, j] += h
            Wm[i, j] -= h
            g[i, j] = (omega(Wp, d, s, form=form).value - omega(Wm, d, s, form=form).value) / (2 * h)
    return g


@pytest.mark.parametrize("form", ["code", "eq9"])
def test_gradient_matches_finite_differences(rng, form):
    n, T, B = 5, 7, 4
    W = rng.normal(0, 0.6, size=(n, n))
    d = rng.normal(size=(T, B, n))  # errors held fixed
    s = rng.uniform(0.1, 1.0, size=(T, B, n))  # σ′(x_k) held fixed
    res = omega(W, d, s, form=form)
    np.testing.assert_allclose(res.grad_W_rec, _fd(W, d, s, form), rtol=1e-6, atol=1e-8)
    assert res.value > 0 and res.n_valid == T * B


def test_code_form_closed_form_and_mean_over_valid(rng):
    n, T, B = 4, 3, 2
    W = rng.normal(size=(n, n))
    d = rng.normal(size=(T, B, n))
    s = rng.uniform(0.2, 1, size=(T, B, n))
    d[1, 0] = 1e-12  # ‖δ‖² = 4e-24 < 1e-20: skipped
    res = omega(W, d, s)
    terms = []
    for t in range(T):
        for b in range(B):
            if t == 1 and b == 0:
                continue
            v = W.T @ (s[t, b] * d[t, b])
            terms.append((v @ v / (d[t, b] @ d[t, b]) - 1) ** 2)
    assert res.value == pytest.approx(np.mean(terms), rel=1e-12)
    assert res.n_valid == T * B - 1 and np.isnan(res.ratios[1, 0])


def test_norm_preserving_network_has_zero_omega(rng):
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    d = rng.normal(size=(5, 3, 6))
    for form in ("code", "eq9"):
        res = omega(q, d, np.ones_like(d), form=form)
        assert abs(res.value) < 1e-24
        np.testing.assert_allclose(res.grad_W_rec, 0, atol=1e-12)
    # scaling W by c gives ratio c² (code, squared norms) or c (eq9)
    res = omega(2 * q, d, np.ones_like(d))
    np.testing.assert_allclose(res.ratios, 4.0, rtol=1e-12)
    res = omega(2 * q, d, np.ones_like(d), form="eq9")
    assert res.value == pytest.approx(5 * 1.0, rel=1e-12)  # Σ_k (2 − 1)² over 5 steps, batch mean


@given(K=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_stacked_equals_per_member(K, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(K, 3, 3))
    d = rng.normal(size=(4, K, 2, 3))
    s = rng.uniform(size=(4, K, 2, 3))
    for form in ("code", "eq9"):
        res = omega(W, d, s, form=form)
        for k in range(K):
            one = omega(W[k], d[:, k], s[:, k], form=form)
            np.testing.assert_allclose(res.value[k], one.value, rtol=1e-13)
            np.testing.assert_allclose(res.grad_W_rec[k], one.grad_W_rec, rtol=1e-12, atol=1e-14)


def test_all_skipped_and_validation():
    W = np.eye(2)
    res = omega(W, np.zeros((3, 1, 2)), np.ones((3, 1, 2)))
    assert res.value == 0 and res.n_valid == 0 and np.all(res.grad_W_rec == 0)
    with pytest.raises(DynsysError, match="deltas and deriv"):
        omega(W, np.zeros((3, 1, 3)), np.ones((3, 1, 3)))
    with pytest.raises(DynsysError, match="form"):
        omega(W, np.zeros((3, 1, 2)), np.ones((3, 1, 2)), form="bogus")


@pytest.mark.parametrize("read", ["last", "all"])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("K", [1, 3])
def test_fused_omega_of_bptt_equals_omega_on_histories(rng, read, skip, K):
    # Ω accumulated inside the backward pass (bptt_stacked(omega_bound=...)) against omega() on
    # δ_k = ∂C/∂h_k rebuilt from the stored ∂C/∂x: δ_k = W_recᵀ ∂C/∂x_{k+1} + the readout term
    from dynsys.gradients import ReadoutLoss, bptt_stacked

    n, m, k, T, B = 6, 2, 3, 9, 5
    W = rng.normal(0, 0.8, (K, n, n))
    Wi, b = rng.normal(size=(K, n, m)), rng.normal(0, 0.1, (K, n))
    Wo, bo = rng.normal(size=(K, k, n)), np.zeros((K, k))
    u = rng.normal(size=(T, B, m))
    S = 1 if read == "last" else T
    loss = ReadoutLoss(rng.integers(0, k, (S, B)), steps=read)
    _, _, extra = bptt_stacked(W, Wi, b, Wo, bo, "tanh", u, loss)
    dx, dsig, hid = extra["deltas"], extra["dsigma"][1:], extra["hidden"]
    dh = np.zeros((T, K, B, n))
    dh[:-1] = np.einsum("tkbi,kij->tkbj", dx[2:], W)
    steps = np.array([T]) if read == "last" else np.arange(1, T + 1)
    _, gh, _ = loss.value_and_grad(hid[steps], (Wo, bo))
    dh[steps - 1] += gh
    # with skip: a bound at the median of ‖δ_k‖², so that about half the pairs are skipped
    bound = float(np.median(np.sum(dh**2, axis=-1))) if skip else 1e-20
    value, grad, count = bptt_stacked(W, Wi, b, Wo, bo, "tanh", u, loss, omega_bound=bound)[2]["omega"]
    ref = omega(W, dh, dsig, form="code", bound=bound)
    np.testing.assert_allclose(value, ref.value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref.grad_W_rec, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(count, ref.n_valid)
    assert np.all(count < T * B) if skip else np.all(count == T * B)
