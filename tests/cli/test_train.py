"""``dynsys train``: outputs, errors, and resume after SIGKILL (subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dynsys import io

ARGS = [
    "--task",
    "temporal_order",
    "--length",
    "20",
    "--init",
    "smart_tanh",
    "--method",
    "msgd-cr",
    "--hidden",
    "12",
    "--batch",
    "10",
    "--eval-every",
    "100",
    "--eval-sequences",
    "50",
    "--confirm-sequences",
    "100",
    "--no-progress",
]


def test_train_cli_writes_run_folder(run_cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli("train", "--json", *ARGS, "--updates", "40", "--seed", "2", "--out", out)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["updates_done"] == 40 and summary["out"] == str(out)
    rnn = io.load_weights(out / "weights.npz")
    ck, _meta = io.load_checkpoint(out / "checkpoint.npz")
    np.testing.assert_array_equal(rnn.W_rec, ck["param_W_rec"][0])
    arrays, hmeta = io.load_result(out / "history")
    assert arrays["error"].shape == (1,) and hmeta["config"]["seeds"] == [2]
    # a rerun with a larger budget resumes from update 40
    code, stdout, _ = run_cli("train", "--json", *ARGS, "--updates", "60", "--seed", "2", "--out", out)
    assert code == 0 and json.loads(stdout)["updates_done"] == 60


def test_train_cli_errors(run_cli, tmp_path):
    code, _, err = run_cli("train", "--task", "nope", "--length", "20", "--out", tmp_path / "x")
    assert (
        code == 2
        and "--task must be one of" in err
        and "'nope'" in err
        and len(err.strip().splitlines()) == 1
    )
    code, _, err = run_cli("train", "--task", "addition", "--length", "a:b", "--out", tmp_path / "x")
    assert code == 2 and "--length" in err
    code, _, err = run_cli(
        "train", "--task", "addition", "--length", "20", "--method", "sgd", "--out", tmp_path / "x"
    )
    assert code == 2 and "method" in err


def test_train_cli_checks_and_both_rules(run_cli, tmp_path):
    """``--check-every`` screens between evaluations; both rules' first successes are reported."""
    out = tmp_path / "run"
    args = ["--task", "temporal_order", "--length", "10", "--hidden", "20", "--batch", "20", "--lr", "0.05"]
    args += ["--method", "msgd-c", "--eval-every", "100", "--eval-sequences", "200", "--no-progress"]
    args += [
        "--confirm-sequences",
        "1000",
        "--check-every",
        "20",
        "--check-sequences",
        "50",
        "--success",
        "zero",
    ]
    code, stdout, err = run_cli("train", "--json", *args, "--updates", "400", "--out", out)
    assert code == 0, err
    s = json.loads(stdout)
    assert set(s["reached_at"]) == {"1pct", "zero"} and s["reached_at"]["zero"] == s["solved_at"] > 0
    assert s["reached_at"]["zero"] % 20 == 0 and 0 < s["reached_at"]["1pct"] <= s["reached_at"]["zero"]
    code, _, err = run_cli("train", *args, "--check-every", "-5", "--out", tmp_path / "bad")
    assert code == 2 and "--check-every" in err and len(err.strip().splitlines()) == 1
    code, stdout, err = run_cli("train", *args, "--updates", "400", "--out", out)
    assert code == 0 and "first success: under 1 % wrong update" in stdout


def test_sigkill_halfway_then_resume_equals_uninterrupted(tmp_path):
    base = [
        sys.executable,
        "-m",
        "dynsys",
        "train",
        "--json",
        *ARGS,
        "--updates",
        "1000",
        "--seed",
        "1",
        "--checkpoint-every",
        "10",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    ref = subprocess.run(
        [*base, "--out", str(tmp_path / "ref")], env=env, capture_output=True, text=True, timeout=300
    )
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [*base, "--out", str(run_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ck = run_dir / "checkpoint.npz"
    deadline = time.time() + 240
    update = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if ck.exists():
                try:
                    update = io.load_checkpoint(ck)[1]["update"]
                except Exception:  # the file is replaced atomically; a read can still race the rename
                    update = 0
                if update >= 500:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    _arrays, meta = io.load_checkpoint(ck)
    assert 500 <= meta["update"] < 1000
    resumed = subprocess.run(
        [*base, "--out", str(run_dir)], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    a, _ = io.load_checkpoint(run_dir / "checkpoint.npz")
    b, _ = io.load_checkpoint(tmp_path / "ref" / "checkpoint.npz")
    for k in (
        "param_W_rec",
        "param_W_in",
        "param_b",
        "param_W_out",
        "param_b_out",
        "eval_error",
        "eval_grad_norm",
        "eval_omega",
    ):
        np.testing.assert_array_equal(a[k], b[k])
    w1 = io.load_weights(run_dir / "weights.npz")
    w2 = io.load_weights(tmp_path / "ref" / "weights.npz")
    np.testing.assert_array_equal(w1.W_rec, w2.W_rec)


@pytest.mark.parametrize("task", ["addition", "memorization_5bit", "flipflop_3bit"])
def test_train_cli_other_tasks(run_cli, tmp_path, task):
    code, stdout, err = run_cli(
        "train",
        "--json",
        "--task",
        task,
        "--length",
        "20:25",
        "--init",
        "basic_tanh",
        "--method",
        "msgd-c",
        "--hidden",
        "6",
        "--batch",
        "4",
        "--updates",
        "10",
        "--eval-every",
        "5",
        "--eval-sequences",
        "20",
        "--confirm-sequences",
        "0",
        "--no-progress",
        "--out",
        tmp_path / task,
    )
    assert code == 0, err
    assert json.loads(stdout)["updates_done"] == 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_rerun_resumes(tmp_path, sig):
    run_dir = tmp_path / "run"
    base = [
        sys.executable,
        "-m",
        "dynsys",
        "train",
        "--json",
        *ARGS,
        "--updates",
        "100000",
        "--seed",
        "3",
        "--checkpoint-every",
        "50",
        "--eval-every",
        "100000",
        "--out",
        str(run_dir),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "checkpoint.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)  # training has started once the first periodic checkpoint exists
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    _, meta = io.load_checkpoint(run_dir / "checkpoint.npz")
    done = meta["update"]
    assert 50 <= done < 100000
    # rerun with a budget just above the saved point: resumes there instead of starting over
    i = base.index("--updates")
    res = subprocess.run(
        [*base[: i + 1], str(done + 5), *base[i + 2 :]], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["updates_done"] == done + 5
    # the interrupted-and-resumed weights equal an uninterrupted run's (no half-saved update)
    fresh = tmp_path / "fresh"
    j = base.index("--out")
    res2 = subprocess.run(
        [*base[: i + 1], str(done + 5), *base[i + 2 : j + 1], str(fresh)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res2.returncode == 0, res2.stderr
    a, _ = io.load_checkpoint(run_dir / "checkpoint.npz")
    b, _ = io.load_checkpoint(fresh / "checkpoint.npz")
    for k in a:
        if k.startswith("param_"):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_ctrl_c_to_the_process_group_of_a_monitored_run_loses_no_row(tmp_path, default_signals):
    # Ctrl-C reaches the whole process group, the monitor's worker process too: the worker leaves
    # the stopping to the trainer, which saves a checkpoint with every row before it; the resumed
    # record equals an uninterrupted inline-monitored run's
    from dynsys.io import read_records

    run_dir = tmp_path / "run"
    base = [sys.executable, "-m", "dynsys", "train", "--json", *ARGS, "--seed", "4", "--monitor-every", "10"]
    base += ["--checkpoint-every", "50", "--eval-every", "100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*base, "--updates", "100000", "--out", str(run_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    try:
        deadline = time.time() + 120
        while not (run_dir / "checkpoint.npz").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    _, meta = io.load_checkpoint(run_dir / "checkpoint.npz")
    done = meta["update"]
    rows = read_records(run_dir / "monitor.jsonl").rows
    assert rows[-1]["update"] >= done - 10  # the rows up to the checkpoint were all written
    budget = ["--updates", str(done + 15)]
    res = subprocess.run(
        [*base, *budget, "--out", str(run_dir)], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    fresh = tmp_path / "fresh"
    res = subprocess.run(
        [*base, *budget, "--monitor-inline", "--out", str(fresh)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr

    def text(folder):
        rows = read_records(folder / "monitor.jsonl").rows
        return [json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True) for r in rows]

    assert text(run_dir) == text(fresh)
    assert json.loads(text(fresh)[-1])["update"] == done + 15
