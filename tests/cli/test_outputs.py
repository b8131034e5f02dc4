"""What the commands print and write: sweep exit status, readable results and train summaries,
the bifurcation parameter's meaning, output paths with dots, strict JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynsys.runs import sweep as sweep_mod
from dynsys.runs.runners import Runner
from dynsys.runs.sweep import SweepSpec

TOML = """[sweep]
runner = "logistic_lyapunov"
store = "s.sqlite"

[base]
steps = 2000
transient = 100

[grid]
r = [3.2, 4.0]
seed = [0, 1]
"""


def test_sweep_with_failed_runs_exits_1_and_says_how_many(run_cli, tmp_path, monkeypatch):
    (tmp_path / "s.toml").write_text(TOML)
    real = sweep_mod.load_sweep
    unchecked = Runner("lyap_unchecked", "dynsys.runs.runners:logistic_lyapunov", "no validation")

    def load_with_failures(path, store=None):  # two runs that fail inside the worker
        spec = real(path, store=store)
        bad = tuple({**c, "r": "bad"} for c in spec.configs[:2])
        return SweepSpec(unchecked, spec.configs + bad, spec.store)

    monkeypatch.setattr(sweep_mod, "load_sweep", load_with_failures)
    code, out, err = run_cli("sweep", tmp_path / "s.toml", "--workers", "1", "--no-progress")
    assert code == 1
    assert err.count("\n") == 1 and "2 of 6 runs failed" in err and "--status failed" in err
    assert "4 done now" in out and "2 failed" in out


def test_sweep_all_done_exits_0_and_results_are_readable(run_cli, tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    code, out, err = run_cli("sweep", tmp_path / "s.toml", "--workers", "1", "--no-progress")
    assert code == 0 and err == "" and "4 done now" in out
    store = tmp_path / "s.sqlite"
    before = sorted(p.name for p in tmp_path.iterdir())
    digest = store.read_bytes()
    code, out, err = run_cli("results", store)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 5 and lines[-1].startswith("4 run(s): 4 done")
    assert "same for all: steps=2000, transient=100" in lines[-1]
    for line in lines[:-1]:  # the keys that differ and the metrics, not the whole config
        assert len(line) < 120 and "r=" in line and "seed=" in line and "lyapunov=" in line
        assert "steps=" not in line
    r4 = [ln for ln in lines if "r=4 " in ln]
    assert len(r4) == 2 and all(
        abs(float(ln.split("lyapunov=")[1].split()[0]) - np.log(2)) < 0.05 for ln in r4
    )
    # reading never writes: same bytes, no -wal/-shm files
    assert store.read_bytes() == digest and sorted(p.name for p in tmp_path.iterdir()) == before
    code, out, _ = run_cli("results", store, "--json")
    assert code == 0 and len(json.loads(out)) == 4


def test_train_prints_a_readable_summary(run_cli, tmp_path):
    args = ["train", "--task", "temporal_order", "--length", "20", "--hidden", "6", "--batch", "4"]
    args += ["--updates", "10", "--eval-every", "5", "--eval-sequences", "20", "--confirm-sequences", "0"]
    code, out, err = run_cli(*args, "--no-progress", "--out", tmp_path / "r")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("temporal_order, L = 20, 6 units, init ") and "updates" in lines[0]
    assert "last evaluation: error " in lines[1] and " %" in lines[1]
    assert lines[-1] == f"  saved {tmp_path / 'r'}/weights.npz, history.npz, history.json, checkpoint.npz"
    assert (tmp_path / "r" / "weights.npz").exists() and (tmp_path / "r" / "history.json").exists()


def test_bad_train_config_fails_before_any_output(run_cli, tmp_path):
    code, out, err = run_cli("train", "--task", "addition", "--length", "5", "--out", tmp_path / "r")
    assert (
        code == 2 and out == "" and err.count("\n") == 1 and err.startswith("dynsys train: error: --length")
    )
    assert not (tmp_path / "r").exists()


def test_bifurcation_states_what_the_parameter_is(run_cli, tmp_path):
    np.savez(tmp_path / "one.npz", W_rec=[[5.0]], b=[-2.5], activation="sigmoid")
    w = tmp_path / "one.npz"
    code, out, _ = run_cli("bifurcation", "--weights", w, "--param", "b[0]", "--range", "-3.2", "-1.8")
    assert code == 0
    assert out.splitlines()[0].endswith("b[0] = p (the given network is at b[0] = -2.5)")
    entry = [float(ln.split("b[0]=")[1].split()[0]) for ln in out.splitlines() if "fold" in ln]
    code, out, _ = run_cli("bifurcation", "--weights", w, "--param", "b", "--range", "-0.7", "0.7")
    assert code == 0
    assert "b = b₀ + p·d, d = all ones (the given network is at p = 0)" in out.splitlines()[0]
    offset = [float(ln.split("p=")[1].split()[0]) for ln in out.splitlines() if "fold" in ln]
    # the same two folds (closed form: b = -w σ(x) + x with σ'(x) w = 1), in the two coordinates
    s = np.array([0.5 - np.sqrt(0.25 - 1 / 5.0), 0.5 + np.sqrt(0.25 - 1 / 5.0)])  # σ(1-σ) = 1/w
    folds = np.sort(np.log(s / (1 - s)) - 5.0 * s)
    np.testing.assert_allclose(sorted(entry), folds, atol=1e-9)
    np.testing.assert_allclose(sorted(offset), folds + 2.5, atol=1e-9)
    code, out, _ = run_cli("bifurcation", "--weights", w, "--param", "b", "--range", "-0.7", "0.7", "--json")
    assert json.loads(out)["path"] == {"formula": "b = b₀ + p·d, d = all ones", "p_of_given_network": 0.0}


@pytest.mark.parametrize(
    "out_name, written", [("run.v1", "run.v1"), ("run.v1.npz", "run.v1"), ("b.npz", "b")]
)
def test_out_with_dots_prints_what_it_writes(run_cli, tmp_path, out_name, written):
    code, out, err = run_cli("basins", "--unit", "--resolution", "5", "--out", tmp_path / "o" / out_name)
    assert code == 0, err
    npz, js = tmp_path / "o" / f"{written}.npz", tmp_path / "o" / f"{written}.json"
    assert npz.exists() and js.exists()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted([npz.name, js.name])
    assert out.strip().splitlines()[-1] == f"saved {npz}, {js}"


def test_json_output_is_strict(run_cli, tmp_path, capsys):
    from dynsys.cli._common import print_json

    print_json(
        {"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64(-np.inf), "d": np.array([np.nan, 2.0])}
    )
    got = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert got == {"a": None, "b": [1.0, None], "c": None, "d": [None, 2.0]}
