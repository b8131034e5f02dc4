"""Lyapunov spectra by QR vs known values: logistic r = 4, Hénon, linear maps, BPTT growth rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from dynsys.analysis.lyapunov import lyapunov_spectrum, sampled_lyapunov
from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, Map, RNNMap, iterate


@dataclass(frozen=True, eq=False)
class LinearMap(Map):
    """x ↦ A x, implemented here (generic Map path, not RNNMap)."""

    A: np.ndarray = field(default_factory=lambda: np.eye(2))
    input_dim: int = 0

    @property
    def dim(self):
        return self.A.shape[0]

    def step(self, x, u=None):
        return x @ self.A.T

    def jacobian(self, x, u=None):
        return np.broadcast_to(self.A, x.shape[:-1] + self.A.shape)


def test_logistic_r4_is_ln2(rng):
    x0 = rng.uniform(0.05, 0.95, size=(8, 1))
    res = lyapunov_spectrum(LogisticMap(4.0), x0, steps=20000, transient=100)
    # exact value ln 2 (Ulam–von Neumann conjugacy to the tent map)
    assert res.exponents.shape == (8, 1)
    assert abs(res.mean[0] - np.log(2.0)) < 3e-3
    assert np.all(np.abs(res.exponents[:, 0] - np.log(2.0)) < 2e-2)


def test_henon_published_values_and_exact_sum(rng):
    x0 = rng.uniform(-0.1, 0.1, size=(4, 2))
    res = lyapunov_spectrum(HenonMap(1.4, 0.3), x0, steps=20000, transient=200)
    # published (Sprott, Chaos and Time-Series Analysis, 2003): 0.41922, -1.62319
    assert abs(res.mean[0] - 0.41922) < 6e-3
    assert abs(res.mean[1] - (-1.62319)) < 6e-3
    # det J = -b is constant, so λ1 + λ2 = ln|b| exactly (up to round-off)
    np.testing.assert_allclose(res.sum, np.log(0.3), atol=1e-6)


@pytest.mark.parametrize("generic", [True, False])
def test_linear_map_spectrum_is_log_moduli(rng, generic):
    n = 5
    A = rng.standard_normal((n, n))
    A *= 0.9 / np.max(np.abs(np.linalg.eigvals(A)))
    want = np.sort(np.log(np.abs(np.linalg.eigvals(A))))[::-1]
    m = LinearMap(A) if generic else RNNMap(A, activation="linear")
    res = lyapunov_spectrum(m, rng.standard_normal((2, n)), steps=4000, transient=200, rng=rng)
    np.testing.assert_allclose(res.exponents, np.broadcast_to(want, (2, n)), atol=5e-3)
    # det is constant: the sum is exact
    np.testing.assert_allclose(res.sum, np.log(abs(np.linalg.det(A))), atol=1e-9)


def test_top_k_matches_full_spectrum(rng):
    A = np.diag([0.9, 0.5, -0.3, 0.1])
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    A = Q @ A @ Q.T
    res = lyapunov_spectrum(LinearMap(A), rng.standard_normal(4), steps=2000, k=2, rng=1)
    np.testing.assert_allclose(res.exponents, np.log([0.9, 0.5]), atol=2e-3)


def test_batch_equals_individual_runs(rng):
    W = 1.5 * rng.standard_normal((6, 6)) / np.sqrt(6)
    m = RNNMap(W, rng.standard_normal((6, 2)), activation="tanh")
    x0 = rng.standard_normal((3, 6))
    u = rng.standard_normal((300, 3, 2))
    batch = lyapunov_spectrum(m, x0, u, transient=50, rng=7)
    for i in range(3):
        one = lyapunov_spectrum(m, x0[i], u[:, i], transient=50, rng=7)
        np.testing.assert_allclose(batch.exponents[i], one.exponents, rtol=1e-10, atol=1e-12)


def test_rnn_fast_path_equals_generic_jacobian(rng):
    W = rng.standard_normal((7, 7))
    m = RNNMap(W, activation="sigmoid")
    x = rng.standard_normal((2, 3, 7))
    Q = rng.standard_normal((2, 3, 7, 4))
    np.testing.assert_allclose(m.tangent(x, None, Q), m.jacobian(x) @ Q, rtol=1e-12, atol=1e-14)


def test_top_exponent_matches_bptt_product_growth(rng):
    """50-unit tanh RNN: λ_max equals the growth rate of ‖∂x_t/∂x_k‖ measured by BPTT (eq. 5)."""
    gradients = pytest.importorskip("dynsys.gradients")
    n, B, T = 50, 2, 80
    m = RNNMap(2.0 * rng.standard_normal((n, n)) / np.sqrt(n), 0.5 * rng.standard_normal((n, 2)))
    x0 = rng.standard_normal((B, n))
    u = rng.standard_normal((3000, B, 2))
    lyap = lyapunov_spectrum(m, x0, u, transient=100, k=1, rng=0)
    tr = iterate(m, x0, u[:T])
    norms = gradients.jacobian_product_norms(m, tr.states, u[:T])  # (T+1, T+1, B)
    t, k = np.meshgrid(np.arange(T + 1), np.arange(T + 1), indexing="ij")
    sel = (t - k) >= 20
    rate = np.polyfit((t - k)[sel], np.log(norms[sel]).mean(axis=-1), 1)[0]
    assert lyap.mean[0] > 0  # a chaotic regime: gradients of this net can explode
    assert abs(rate - lyap.mean[0]) < 0.04


def test_top_exponent_below_log_eta(rng):
    """Eq. 6–7: every one-step Jacobian has norm ≤ λ₁γ, so λ_max ≤ log(λ₁γ)."""
    for act in ("tanh", "sigmoid"):
        W = 3.0 * rng.standard_normal((10, 10)) / np.sqrt(10)
        m = RNNMap(W, rng.standard_normal((10, 1)), activation=act)
        eta = np.linalg.norm(W, 2) * float(m.activation.gamma)
        res = lyapunov_spectrum(m, rng.standard_normal((3, 10)), rng.standard_normal((400, 3, 1)), k=3)
        assert np.all(res.exponents[:, 0] <= np.log(eta) + 1e-12)


def test_convergence_control(rng):
    x0 = rng.uniform(-0.1, 0.1, 2)
    res = lyapunov_spectrum(
        HenonMap(), x0, steps=200000, transient=100, tol=1e-4, check_every=1000, stop_early=True
    )
    assert res.converged and res.steps < 200000
    assert res.change <= 1e-4
    assert res.history.shape == (len(res.checkpoints), 2)
    assert res.checkpoints[-1] == res.steps
    short = lyapunov_spectrum(HenonMap(), x0, steps=20, tol=1e-9, check_every=5)
    assert not short.converged and "not converged" in short.message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=10, k=3), "k must be"),
        (dict(), "steps is required"),
        (dict(steps=0), "steps must be"),
        (dict(steps=10, transient=-1), "transient"),
        (dict(steps=10, tol=float("nan")), "tol"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(DynsysError, match=match) as info:
        lyapunov_spectrum(HenonMap(), np.zeros(2), **kwargs)
    assert "\n" not in str(info.value)


def test_bad_states_and_inputs(rng):
    m = RNNMap(np.eye(3), np.ones((3, 1)))
    with pytest.raises(DynsysError, match="x0"):
        lyapunov_spectrum(m, np.zeros(4), steps=5)
    with pytest.raises(DynsysError, match="x0"):
        lyapunov_spectrum(m, np.array([0.0, np.nan, 0.0]), steps=5)
    with pytest.raises(DynsysError, match="transient"):
        lyapunov_spectrum(m, np.zeros(3), np.zeros((5, 1)), transient=5)
    with pytest.raises(DynsysError, match="map must be"):
        lyapunov_spectrum("henon", np.zeros(2), steps=5)
    with pytest.raises(DynsysError, match="map must be"):
        sampled_lyapunov(np.eye(3))
    with pytest.raises(DynsysError, match="diverged"):
        lyapunov_spectrum(LogisticMap(4.0), np.array([3.0]), steps=2000)
