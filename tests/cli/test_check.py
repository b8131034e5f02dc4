"""``dynsys check``: the certificate and numbers from a weights file; one-line errors with exit 2."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest


@pytest.fixture
def weights(tmp_path, rng):
    path = tmp_path / "w.npz"
    np.savez(
        path,
        W_rec=0.2 * rng.standard_normal((20, 20)),
        W_in=rng.standard_normal((20, 2)),
        b=np.zeros(20),
        activation=np.array("sigmoid"),
    )
    return path


def test_json_numbers(run_cli, weights):
    code, out, err = run_cli("check", "--weights", weights, "--json", "--steps", "20")
    assert code == 0, err
    d = json.loads(out)
    W = np.load(weights)["W_rec"]
    lam = np.linalg.svd(W, compute_uv=False)[0]
    rho = np.max(np.abs(np.linalg.eigvals(W)))
    assert d["lambda1"] == pytest.approx(lam, rel=1e-10)
    assert d["spectral_radius"] == pytest.approx(rho, rel=1e-10)
    assert d["gamma"] == 0.25 and d["eta"] == pytest.approx(lam / 4, rel=1e-10)
    assert d["gamma_symbolic"] == "1/4" and d["gamma_symbolic_matches"] is True
    assert d["verdict"] == ("vanishing" if lam < 4 else "may-explode")
    assert isinstance(d["max_lyapunov"], float)
    assert d["max_lyapunov"] <= np.log(d["eta"]) + 1e-9  # λ_max ≤ log(λ₁γ), eq. 6
    assert d["evidence"]["bound_held"] is True


def test_text_and_latex(run_cli, weights):
    code, out, _ = run_cli("check", "--weights", weights, "--steps", "10", "--lyapunov-steps", "50")
    assert code == 0
    assert "Gradient certificate" in out and "λ₁" in out and "largest Lyapunov exponent" in out
    code, out, _ = run_cli("check", "--weights", weights, "--latex", "--no-evidence")
    assert code == 0
    assert out.startswith("\\begin{aligned}") and "\\gamma" in out


def test_activation_override(run_cli, weights):
    code, out, _ = run_cli("check", "--weights", weights, "--activation", "tanh", "--json", "--no-evidence")
    d = json.loads(out)
    assert code == 0 and d["gamma"] == 1.0 and d["activation"] == "tanh" and d["max_lyapunov"] is None


@pytest.mark.parametrize(
    "arrays, extra, match",
    [
        (dict(W_rec=np.ones((3, 4))), (), "must be square"),
        (dict(W_rec=np.array([[np.nan]])), (), "finite"),
        (dict(W_rec=np.zeros((0, 0))), (), "empty"),
        (dict(W_rec=np.eye(2)), ("--activation", "swish"), "unknown activation"),
        (dict(W_rec=np.eye(2)), ("--steps", "0"), "--steps"),
    ],
)
def test_bad_input_one_line_exit_2(run_cli, tmp_path, arrays, extra, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    code, out, err = run_cli("check", "--weights", path, *extra)
    assert code == 2
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def test_missing_file(run_cli, tmp_path):
    code, _, err = run_cli("check", "--weights", tmp_path / "nope.npz")
    assert code == 2 and err.count("\n") == 1


def test_npy_file_and_complex_weights_are_one_line(run_cli, tmp_path):
    np.save(tmp_path / "w.npy", np.eye(2))
    code, _, err = run_cli("check", "--weights", tmp_path / "w.npy")
    assert code == 2 and err.count("\n") == 1 and "single .npy array" in err
    np.savez(tmp_path / "c.npz", W_rec=np.eye(2) * (1 + 1j))
    code, _, err = run_cli("check", "--weights", tmp_path / "c.npz")
    assert code == 2 and err.count("\n") == 1 and "W_rec must be real" in err


@pytest.mark.slow
def test_large_matrix_answers_in_seconds(run_cli, tmp_path):
    rng = np.random.default_rng(1)
    n = 2000
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    path = tmp_path / "big.npz"
    np.savez(path, W_rec=W)
    t0 = time.perf_counter()
    code, out, err = run_cli("check", "--weights", path, "--json")
    elapsed = time.perf_counter() - t0
    assert code == 0, err
    d = json.loads(out)
    assert d["lambda1"] == pytest.approx(2.0, rel=0.02)  # Marchenko–Pastur edge: 2/√n·√n
    assert d["spectral_radius"] == pytest.approx(1.0, rel=0.05)  # circular law
    assert d["verdict"] == "may-explode" and d["evidence"]["method"] == "sketch"
    assert elapsed < 60  # generous: a busy shared machine; typically ~5-15 s
