"""CLI: ``dynsys fixed-points`` and ``dynsys bifurcation`` (JSON contents and one-line errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynsys.io import save_weights
from dynsys.maps import RNNMap


@pytest.fixture
def weights(tmp_path, rng):
    th = 0.8
    W = np.zeros((3, 3))
    W[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    W[2, 2] = -1.25
    path = tmp_path / "w.npz"
    save_weights(path, RNNMap(W, W_in=np.ones((3, 1))))
    return path


def test_unit_shortcut_json_folds_match_closed_form(run_cli):
    code, out, err = run_cli(
        "bifurcation",
        "--unit",
        "--w",
        "5",
        "--activation",
        "sigmoid",
        "--param",
        "b",
        "--range",
        "-3.2",
        "-1.8",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    assert [b["type"] for b in d["bifurcations"]] == ["fold", "fold"]
    # w σ'(x) = 1  ⇒  σ = (1 ± √(1 − 4/w))/2, b = logit(σ) − w σ
    r = np.sqrt(1 - 4 / 5)
    s = np.array([(1 - r) / 2, (1 + r) / 2])
    want = np.sort(np.log(s / (1 - s)) - 5 * s)
    np.testing.assert_allclose(sorted(b["param"] for b in d["bifurcations"]), want, atol=1e-9)
    assert len(d["branches"]) == 1 and d["branches"][0]["param"] == "b"


def test_weights_gain_flip_and_ns(run_cli, weights):
    code, out, err = run_cli(
        "bifurcation", "--weights", weights, "--param", "gain", "--range", "0.5", "1.5", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    by_type = {b["type"]: b["param"] for b in d["bifurcations"]}
    assert abs(by_type["flip"] - 0.8) < 1e-10  # multiplier −1.25·g = −1
    assert abs(by_type["neimark-sacker"] - 1.0) < 1e-10  # |g e^{iθ}| = 1


def test_text_output(run_cli, weights):
    code, out, _ = run_cli("bifurcation", "--weights", weights, "--param", "gain", "--range", "0.5", "1.5")
    assert code == 0
    assert "neimark-sacker" in out and "flip" in out


def test_fixed_points_json(run_cli, weights):
    code, out, err = run_cli("fixed-points", "--weights", weights, "--json", "--starts", "64")
    assert code == 0, err
    d = json.loads(out)
    assert len(d["fixed_points"]) >= 1
    W = np.load(weights)["W_rec"]
    for p in d["fixed_points"]:
        x = np.array(p["state"])
        assert np.linalg.norm(np.tanh(x) @ W.T - x) < 1e-10
        assert p["stability"] in {"stable", "saddle", "unstable", "neutral"}


def test_fixed_points_with_input_and_text(run_cli, weights):
    code, out, err = run_cli("fixed-points", "--weights", weights, "--input", "0.3", "--starts", "32")
    assert code == 0, err
    assert "point(s) of period 1" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--unit", "--param", "b", "--range", "-1.8", "-3.2"], "LO < HI"),
        (["--unit", "--param", "b", "--range", "1", "1"], "LO < HI"),
        (["--unit", "--param", "zeta", "--range", "0", "1"], "unknown parameter"),
        (["--unit", "--param", "b", "--range", "x", "1"], "--range"),
    ],
)
def test_bifurcation_errors(run_cli, args, needle):
    code, out, err = run_cli("bifurcation", *args)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_map_without_that_parameter(run_cli, weights):
    code, _, err = run_cli("bifurcation", "--weights", weights, "--param", "w", "--range", "0", "1")
    assert code == 2 and "unknown parameter" in err and len(err.strip().splitlines()) == 1


def test_nan_weights(run_cli, tmp_path):
    p = tmp_path / "nan.npz"
    np.savez(p, W_rec=np.array([[np.nan, 0.0], [0.0, 1.0]]))
    for cmd in (
        ["fixed-points", "--weights", p],
        ["bifurcation", "--weights", p, "--param", "gain", "--range", "0", "1"],
    ):
        code, _, err = run_cli(*cmd)
        assert code == 2
        assert "finite" in err and len(err.strip().splitlines()) == 1


def test_bad_input_vector(run_cli, weights):
    code, _, err = run_cli("fixed-points", "--weights", weights, "--input", "1,2")
    assert code == 2 and "--input" in err


def test_slow_threshold_must_be_finite(run_cli, weights):
    code, _, err = run_cli("fixed-points", "--weights", weights, "--slow", "nan")
    assert code == 2 and "--slow must be finite" in err and err.count("\n") == 1


@pytest.mark.parametrize("linear", ["lu", "krylov"])
def test_fixed_points_linear_solver_option(run_cli, weights, linear):
    code, out, err = run_cli(
        "fixed-points", "--weights", weights, "--json", "--starts", "64", "--linear", linear
    )
    assert code == 0, err
    d = json.loads(out)
    assert ("Krylov" in d["message"]) == (linear == "krylov")
    W = np.load(weights)["W_rec"]
    for p in d["fixed_points"]:
        x = np.array(p["state"])
        assert np.linalg.norm(np.tanh(x) @ W.T - x) < 1e-10


def test_fixed_points_bad_linear_solver(run_cli, weights):
    code, _, err = run_cli("fixed-points", "--weights", weights, "--linear", "qr")
    assert code == 2 and "--linear" in err and len(err.strip().splitlines()) == 1
