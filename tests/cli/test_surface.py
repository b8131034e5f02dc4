"""CLI tests of ``dynsys surface``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynsys.analysis.walls import unit_loss
from dynsys.io import load_result


def test_unit_surface_json(run_cli):
    code, out, err = run_cli("surface", "--unit", "--resolution", "40", "--lines", "20", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == {"x0": 0.5, "target": 0.7, "T": 50, "activation": "sigmoid"}
    pts = np.array(data["wall_points"])
    assert pts.ndim == 2 and pts.shape[1] == 2 and len(pts) >= 20
    # the reported max gradient norm is real: re-evaluate at the reported point
    at = data["max_grad_norm_refined_at"]
    assert float(unit_loss(at[0], at[1]).grad_norm) == pytest.approx(data["max_grad_norm_refined"], rel=1e-12)
    assert data["max_grad_norm"] >= 10 * data["max_grad_norm_uniform"]
    assert data["wall_distances"]["basin_boundary_median"] < 0.01


@pytest.mark.parametrize(
    ("window", "source"),
    [(("4.2", "5.4", "-2.8", "-2.0"), "wall"), (("3", "4", "-2", "-1"), "refined")],  # no wall in the 2nd
)
def test_max_grad_norm_and_its_location_agree(run_cli, window, source):
    w0, w1, b0, b1 = window
    common = (
        "surface",
        "--unit",
        "--resolution",
        "20",
        "--lines",
        "10",
        "--w-range",
        w0,
        w1,
        "--b-range",
        b0,
        b1,
    )
    code, out, err = run_cli(*common, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["max_grad_norm_source"] == source
    at = data["max_grad_norm_at"]
    # the printed maximum is the gradient norm at the printed point (whichever search found it)
    assert float(unit_loss(at[0], at[1]).grad_norm) == pytest.approx(data["max_grad_norm"], rel=1e-12)
    found = [data["max_grad_norm_refined"]] + ([data["max_grad_norm_wall"]] if data["wall_points"] else [])
    assert data["max_grad_norm"] == max(found)
    code, text, err = run_cli(*common)
    assert code == 0, err
    line = next(ln for ln in text.splitlines() if ln.startswith("max |grad E| refined"))
    assert f"{data['max_grad_norm']:.4g} (at w={at[0]:.6g}, b={at[1]:.6g}; {source} search)" in line


def test_unit_surface_text_and_out(run_cli, tmp_path):
    target = tmp_path / "surface.npz"
    code, out, err = run_cli(
        "surface",
        "--unit",
        "--x0",
        "0.5",
        "--target",
        "0.7",
        "--T",
        "30",
        "--w-range",
        "4.5",
        "5.5",
        "--b-range",
        "-3",
        "-2",
        "--resolution",
        "12",
        "--out",
        target,
    )
    assert code == 0, err
    assert "max |grad E| refined" in out and "basin-boundary" in out
    arrays, meta = load_result(tmp_path / "surface")
    assert arrays["loss"].shape == (12, 12)
    np.testing.assert_allclose(arrays["w"], np.linspace(4.5, 5.5, 12))
    ref = unit_loss(arrays["w"][:, None], arrays["b"][None, :], T=30, order=0).loss
    np.testing.assert_allclose(arrays["loss"], ref, rtol=1e-13)
    assert meta["model"]["T"] == 30


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--T", "0"], "--T"),
        (["--T", "-3"], "--T"),
        (["--w-range", "5", "5"], "--w-range"),
        (["--b-range", "-2", "-3"], "--b-range"),
        (["--resolution", "1"], "--resolution"),
        (["--x0", "nan"], "--x0"),
        (["--target", "inf"], "--target"),
        (["--activation", "nope"], "activation"),
    ],
)
def test_bad_input_one_line_exit_2(run_cli, args, needle):
    code, _, err = run_cli("surface", "--unit", *args)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in err


def test_requires_unit(run_cli):
    code, _, err = run_cli("surface")
    assert code == 2 and err.startswith("dynsys surface: error: give --unit")  # no "surface:" twice
