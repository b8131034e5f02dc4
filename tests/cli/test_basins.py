"""``dynsys basins``: JSON output, saving, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from dynsys.io import load_result


@pytest.fixture
def w2(tmp_path):
    path = tmp_path / "w2.npz"
    np.savez(path, W_rec=np.array([[1.5, 1.0], [1.0, 1.5]]), b=np.array([0.2, -0.1]), W_in=np.ones((2, 1)))
    return path


def test_unit_json_matches_closed_form(run_cli):
    code, out, err = run_cli("basins", "--unit", "--w", "5", "--b", "-2.45", "--resolution", "301", "--json")
    assert code == 0, err
    data = json.loads(out)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    roots = [brentq(lambda x: 5 * sig(x) - 2.45 - x, a, c) for a, c in [(-4, -1), (0.5, 4)]]
    pts = sorted(a["points"][0][0] for a in data["attractors"])
    assert pts == pytest.approx(roots, abs=1e-6)
    assert all(a["type"] == "fixed_point" and a["period"] == 1 for a in data["attractors"])
    total = sum(a["fraction"] for a in data["attractors"]) + data["diverged"] + data["undecided"]
    assert total == pytest.approx(1.0, abs=1e-12)
    assert data["boundary"]["kind"] == "smooth"


def test_weights_file_and_out(run_cli, w2, tmp_path):
    out = tmp_path / "res" / "basins.npz"
    code, stdout, err = run_cli("basins", "--weights", w2, "--resolution", "60", "--out", out)
    assert code == 0, err
    assert "attractor 0: fixed_point" in stdout and "attractor 1: fixed_point" in stdout
    arrays, meta = load_result(out.with_suffix(""))
    assert arrays["labels"].shape == (60, 60)
    assert set(np.unique(arrays["labels"])) == {0, 1}
    assert len(meta["attractors"]) == 2
    # the saved attractor is a fixed point of the autonomous map
    W, b = np.array([[1.5, 1.0], [1.0, 1.5]]), np.array([0.2, -0.1])
    x = arrays["attractor_0"][0]
    assert W @ np.tanh(x) + b == pytest.approx(x, abs=1e-8)


def test_plane_and_cells(run_cli, tmp_path, w2):
    p = tmp_path / "w3.npz"
    np.savez(p, W_rec=2.0 * np.eye(3))
    code, out, err = run_cli(
        "basins", "--weights", p, "--plane", "0,0,0", "1,0,0", "0,1,1", "--resolution", "40", "--json"
    )
    assert code == 0, err
    assert len(json.loads(out)["attractors"]) == 4
    for k in ("1", "4"):
        code, out, err = run_cli(
            "basins",
            "--weights",
            w2,
            "--method",
            "cells",
            "--steps-per-cell",
            k,
            "--resolution",
            "60",
            "--json",
        )
        assert code == 0, err
        res = json.loads(out)
        assert len(res["attractors"]) == 2 and res["steps_per_cell"] == int(k)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--unit", "--resolution", "0"], "--resolution"),
        (["--unit", "--w", "nan"], "finite"),
        (["WEIGHTS3", "--plane", "0,0,0", "1,0,0", "2,0,0"], "parallel"),
        (["WEIGHTS3", "--plane", "0,0,0", "1,0,0", "0,1"], "entries"),
        (["WEIGHTS3"], "--plane"),
        (["NANWEIGHTS"], "finite"),
        ([], "either --weights"),
        (["--unit", "--extent", "1", "2", "3"], "--extent"),
        (["--unit", "--extent", "2", "1"], "LO < HI"),
        (["--unit", "--method", "cells", "--steps-per-cell", "0"], "--steps-per-cell"),
    ],
)
def test_bad_input_is_one_line(run_cli, tmp_path, args, match):
    w3, wn = tmp_path / "w3.npz", tmp_path / "nan.npz"
    np.savez(w3, W_rec=2.0 * np.eye(3))
    np.savez(wn, W_rec=np.array([[np.nan, 1.0], [1.0, 1.5]]))
    args = [
        a
        for x in args
        for a in (["--weights", w3] if x == "WEIGHTS3" else ["--weights", wn] if x == "NANWEIGHTS" else [x])
    ]
    code, out, err = run_cli("basins", *args)
    assert code == 2
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err
