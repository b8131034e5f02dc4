"""Sweeps: local pool vs Dask, resume, failures as data, SIGKILL safety, bad input."""

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.runs import (
    ResultStore,
    Runner,
    SweepSpec,
    expand_grid,
    load_sweep,
    logistic_lyapunov,
    run_key,
    run_sweep,
    sweep_results,
)

TOML = """
[sweep]
runner = "logistic_lyapunov"
store = "s.sqlite"

[base]
steps = {steps}
transient = 100

[grid]
r = {rs}
seed = [0, 1]
"""


def write(tmp_path, steps=3000, rs="[3.2, 3.9, 4.0]", name="s.toml"):
    path = tmp_path / name
    path.write_text(TOML.format(steps=steps, rs=rs))
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_runner_matches_closed_form():
    metrics, arrays = logistic_lyapunov({"r": 4.0, "steps": 200_000, "seed": 3})
    assert metrics["lyapunov"] == pytest.approx(np.log(2), abs=0.01)
    m32, _ = logistic_lyapunov({"r": 3.2})  # stable period 2: negative exponent
    assert m32["lyapunov"] < 0


def test_expand_grid():
    cfgs = expand_grid({"a": 1}, {"b": [1, 2], "c": ["x", "y", "z"]})
    assert len(cfgs) == 6 and cfgs[0] == {"a": 1, "b": 1, "c": "x"}
    with pytest.raises(DynsysError, match="grid.b must be a non-empty list"):
        expand_grid({}, {"b": []})
    with pytest.raises(DynsysError, match="in both"):
        expand_grid({"b": 1}, {"b": [1]})


def test_sweep_results_in_config_order(tmp_path):
    spec = SweepSpec(
        "logistic_lyapunov", ({"r": 4.0, "steps": 500}, {"r": 3.2, "steps": 500}), tmp_path / "s.sqlite"
    )
    run_sweep(spec, workers=1, progress=False)
    pairs = sweep_results(spec, arrays=True)
    for cfg, metrics, (m, a) in zip(spec.configs, sweep_results(spec), pairs):
        expect_m, expect_a = logistic_lyapunov(cfg)
        assert metrics == m == expect_m
        np.testing.assert_array_equal(a["running_mean"], expect_a["running_mean"])


#: the logistic runner without up-front validation: its bad configs fail inside the worker
UNCHECKED = Runner("lyap_unchecked", "dynsys.runs.runners:logistic_lyapunov", "no validation before running")


def test_local_sweep_resume_and_failures(tmp_path):
    spec = load_sweep(write(tmp_path, rs="[3.2, 4.0]"))
    bad = (
        {"steps": 3000, "transient": 100, "r": "bad", "seed": 0},
        {"steps": 3000, "transient": 100, "r": "bad", "seed": 1},
    )
    spec = SweepSpec(UNCHECKED, spec.configs + bad, spec.store)
    s1 = run_sweep(spec, workers=2, progress=False)
    assert (s1.total, s1.done, s1.failed, s1.skipped, s1.failed_before) == (6, 4, 2, 0, 0)
    assert all("r must be a number" in e for e in s1.errors.values())
    with ResultStore(spec.store) as st:
        done = {r["key"]: r for r in st.rows("done")}
        failed = st.rows("failed")
        assert len(done) == 4 and len(failed) == 2 and failed[0]["error"]
        row = done[run_key(UNCHECKED.name, {"steps": 3000, "transient": 100, "r": 4.0, "seed": 0})]
        assert row["metrics"]["lyapunov"] == pytest.approx(np.log(2), abs=0.05)
        assert row["dynsys_version"] and st.load_arrays(row["key"])["running_mean"].shape == (1000,)
        assert st.integrity_check() == "ok"
    s2 = run_sweep(spec, workers=2, progress=False, retry_failed=False)
    assert (s2.done, s2.failed, s2.skipped, s2.failed_before, s2.errors) == (0, 0, 6, 2, {})
    s3 = run_sweep(spec, workers=2, progress=False)  # failed ones are retried (and fail again)
    assert (s3.done, s3.failed, s3.skipped, s3.failed_before) == (0, 2, 4, 0)
    assert sorted(s3.errors) == sorted(r["key"] for r in failed)
    with ResultStore(spec.store) as st:
        again = {r["key"]: r for r in st.rows("done")}
    assert {k: r["finished"] for k, r in again.items()} == {k: r["finished"] for k, r in done.items()}


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(tmp_path):
    pytest.importorskip("distributed")
    spec = load_sweep(write(tmp_path))
    local = run_sweep(spec, workers=2, progress=False)
    dspec = SweepSpec(spec.runner, spec.configs, tmp_path / "dask.sqlite")
    dask = run_sweep(dspec, executor="dask", workers=2, progress=False)
    assert local.done == dask.done == 6
    with ResultStore(spec.store) as a, ResultStore(dspec.store) as b:
        ra = {r["key"]: r["metrics"] for r in a.rows()}
        rb = {r["key"]: r["metrics"] for r in b.rows()}
    assert ra == rb  # bit-identical metrics, same keys


def test_sigkill_mid_sweep_then_resume(tmp_path):
    # runs of ~0.5 s each, so that the kill lands mid-sweep
    toml = write(tmp_path, steps=3_000_000, rs="[3.1, 3.3, 3.5, 3.7, 3.8, 3.9, 4.0]")
    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "dynsys", "sweep", str(toml), "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    n_done = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as c:
                    n_done = c.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if n_done >= 2:
                break
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-run
    proc.wait()
    assert 2 <= n_done < 14
    with ResultStore(store) as st:
        assert st.integrity_check() == "ok"
        before = {r["key"]: r["finished"] for r in st.rows("done")}
    assert len(before) < 14
    spec = load_sweep(toml)
    s = run_sweep(spec, workers=2, progress=False)
    assert s.skipped == len(before) and s.done == 14 - len(before) and s.failed == 0
    with ResultStore(store) as st:
        after = {r["key"]: r["finished"] for r in st.rows("done")}
        assert st.integrity_check() == "ok"
    assert len(after) == 14
    assert all(after[k] == v for k, v in before.items())  # no finished run repeated


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_sweep_process_stops_its_workers_then_resume(tmp_path, sig, default_signals):
    # only the parent gets the signal (as from `kill`): it must stop its running workers at once
    # instead of waiting for their runs (~10 s each here), exit 130 with one line, and leave a
    # store that a rerun completes
    toml = write(tmp_path, steps=60_000_000, rs="[3.5, 3.9]")
    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "dynsys", "sweep", str(toml), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    deadline = time.time() + 60
    running = 0
    while time.time() < deadline and running < 2:
        time.sleep(0.2)
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as c:
                    running = c.execute("SELECT COUNT(*) FROM runs WHERE status='running'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
    time.sleep(0.5)  # the workers are inside their runs
    t0 = time.time()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reap it and close its pipes (no ResourceWarning in a later test)
    assert time.time() - t0 < 15, "the sweep waited for its workers' runs"
    assert proc.returncode == 130, err
    assert "interrupted" in err and len(err.strip().splitlines()) == 1
    with ResultStore(store) as st:
        assert st.integrity_check() == "ok"
        statuses = st.statuses()
    # the interrupted runs are neither done nor failed: a rerun of the sweep redoes them
    spec = load_sweep(toml)
    keys = [run_key(spec.runner, c) for c in spec.configs]
    assert any(statuses.get(k) == "running" for k in keys)
    assert all(statuses.get(k) in (None, "running", "done") for k in keys)


TRAIN_FOREVER = """
[sweep]
runner = "train"
store = "t.sqlite"

[base]
task = "temporal_order"
length = 20
n_hidden = 8
batch = 5
updates = 100000000
eval_every = 100000000
eval_sequences = 20
confirm_sequences = 0
checkpoint_every = 50
methods = ["msgd"]

[grid]
seeds = [[0], [1], [2]]
"""


def _session(sid: int) -> list[int]:
    """The pids of the live processes of session ``sid`` (Linux /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # session id; zombies do not run
                out.append(int(d))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_leaves_no_worker_behind(tmp_path, sig, default_signals):
    # Ctrl-C (or kill -TERM -PGID) reaches the sweep, the fork server and the workers at once. The
    # fork server dies, so the pool believes its workers dead; a trainer turns the signal into a
    # KeyboardInterrupt its pool worker survives, and the worker went on to the next queued run —
    # training, and writing checkpoints, after the sweep had exited
    (tmp_path / "t.toml").write_text(TRAIN_FOREVER)
    cmd = [
        sys.executable,
        "-m",
        "dynsys",
        "sweep",
        str(tmp_path / "t.toml"),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.rglob("checkpoint.npz")):
            time.sleep(0.1)  # a worker is inside its first run
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        deadline = time.time() + 10
        while _session(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert _session(proc.pid) == [], "a worker outlived the sweep"
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[sweep\nrunner=1", "malformed TOML"),
        ('[sweep]\nrunner = "logistic_lyapunov"\n[base]\nr = 3.0\nfoo = 1\n', r"unknown config key\(s\) foo"),
        ('[sweep]\nrunner = "nope"\n', "unknown runner 'nope'; known: logistic_lyapunov, train"),
        ('[sweep]\nrunner = "logistic_lyapunov"\nevil = "x"\n', r"unknown key\(s\) evil in \[sweep\]"),
        ('[sweep]\nrunner = "logistic_lyapunov"\n[extra]\n', r"unknown table\(s\) \[extra\]"),
        ('[sweep]\nrunner = "logistic_lyapunov"\n[base]\nsteps = 3\n', r"missing config key\(s\) r"),
    ],
)
def test_bad_sweep_files_leave_store_untouched(tmp_path, run_cli, text, match):
    good = load_sweep(write(tmp_path, steps=200))
    run_sweep(good, workers=1, progress=False)
    before = digest(good.store)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(DynsysError, match=match):
        load_sweep(bad)
    code, _, err = run_cli("sweep", bad, "--store", good.store, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert digest(good.store) == before


def test_newer_schema_and_foreign_files_are_refused(tmp_path, run_cli):
    spec = load_sweep(write(tmp_path, steps=200))
    run_sweep(spec, workers=1, progress=False)
    with sqlite3.connect(spec.store) as c:
        c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    c.close()
    before = digest(spec.store)
    with pytest.raises(DynsysError, match="schema version 99, newer than this dynsys"):
        ResultStore(spec.store)
    code, _, err = run_cli("results", spec.store)
    assert code == 2 and "schema version 99" in err
    code, _, err = run_cli("sweep", tmp_path / "s.toml", "--no-progress")
    assert code == 2
    assert digest(spec.store) == before
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    code, _, err = run_cli("results", junk)
    assert code == 2 and "not a dynsys result store" in err
    code, _, err = run_cli("results", tmp_path / "missing.sqlite")
    assert code == 2 and "does not exist" in err


@pytest.mark.slow
def test_unreachable_scheduler(tmp_path, run_cli):
    pytest.importorskip("distributed")
    toml = write(tmp_path, steps=200)
    code, _, err = run_cli("sweep", toml, "--scheduler", "tcp://127.0.0.1:9", "--no-progress")
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_dask_connection_failure_is_one_line(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")

    def refuse(address, **kw):
        raise OSError(f"Timed out trying to connect to {address} after 10 s")

    monkeypatch.setattr(distributed, "Client", refuse)
    spec = load_sweep(write(tmp_path, steps=200))
    with pytest.raises(
        DynsysError, match=r"^scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:8786 \(OSError\)$"
    ):
        run_sweep(spec, scheduler="tcp://127.0.0.1:8786", progress=False)
    with ResultStore(spec.store) as st:
        assert st.statuses() == {}  # nothing was marked running


@pytest.mark.parametrize(
    "address",
    ["notaurl", "tcp://", "tcp://:8786", "http://host:8786", "tcp://host:99999", "tcp://host:port", "", 8786],
)
def test_bad_scheduler_address_is_refused_before_dask(tmp_path, monkeypatch, address):
    from dynsys.runs import sweep

    def never(*a, **kw):
        raise AssertionError("dask was reached")

    monkeypatch.setattr(sweep, "_DaskExecutor", never)
    spec = load_sweep(write(tmp_path, steps=200))
    with pytest.raises(
        DynsysError, match=rf"^scheduler must be an address like tcp://HOST:PORT, got {address!r}$"
    ):
        run_sweep(spec, scheduler=address, progress=False)
    assert not spec.store.exists()


@pytest.mark.parametrize(
    "address",
    [
        "tcp://127.0.0.1:8786",
        "tcp://localhost",
        "tls://sched.example.org:8786",
        "ucx://[::1]:13337",
        "inproc://10.0.0.1/123/1",
    ],
)
def test_good_scheduler_addresses_reach_the_dask_executor(tmp_path, monkeypatch, address):
    from dynsys.runs import sweep

    seen = []

    class Fake:
        def __init__(self, workers, scheduler):
            seen.append(scheduler)
            raise DynsysError("stop here")

    monkeypatch.setattr(sweep, "_DaskExecutor", Fake)
    with pytest.raises(DynsysError, match="stop here"):
        run_sweep(load_sweep(write(tmp_path, steps=200)), scheduler=address, progress=False)
    assert seen == [address]


def test_unknown_executor_is_refused_also_with_a_scheduler(tmp_path):
    spec = load_sweep(write(tmp_path, steps=200))
    for scheduler in (None, "tcp://127.0.0.1:8786"):
        with pytest.raises(DynsysError, match=r"^unknown executor 'process'; known: local, dask$"):
            run_sweep(spec, executor="process", scheduler=scheduler, progress=False)
    with pytest.raises(DynsysError, match="retry_failed must be True or False"):
        run_sweep(spec, retry_failed="no", progress=False)
    assert not spec.store.exists()


def test_cli_sweep_and_results(tmp_path, run_cli):
    toml = write(tmp_path, steps=500)
    code, out, _ = run_cli("sweep", toml, "--workers", "2", "--no-progress", "--json")
    assert code == 0 and '"done": 6' in out
    code, out, _ = run_cli("results", tmp_path / "s.sqlite")
    assert code == 0 and "6 run(s)" in out and "lyapunov=" in out
    code, out, _ = run_cli("results", tmp_path / "s.sqlite", "--json")
    assert code == 0 and out.count('"status": "done"') == 6


TRAIN_TOML = """
[sweep]
runner = "train"
store = "train.sqlite"

[base]
task = "temporal_order"
length = 12
n_hidden = 8
batch = 5
updates = 30
eval_every = 15
eval_sequences = 50
confirm_sequences = 100
checkpoint_every = 10
methods = ["msgd", "msgd-cr"]

[grid]
inits = [["smart_tanh"], ["basic_tanh"]]
seeds = [[0, 1]]
"""


def test_train_runner_sweep_equals_direct_training(tmp_path):
    from dynsys.training import TrainConfig, train

    toml = tmp_path / "train.toml"
    toml.write_text(TRAIN_TOML)
    spec = load_sweep(toml)
    s = run_sweep(spec, workers=2, progress=False)
    assert (s.done, s.failed) == (2, 0)
    with ResultStore(spec.store) as st:
        rows = {tuple(r["config"]["inits"]): r for r in st.rows("done")}
        arrays = st.load_arrays(rows[("basic_tanh",)]["key"])
    assert (spec.store.parent / "train.sqlite.work").is_dir()  # checkpoints of each run
    cfg = dict(spec.configs[1])
    direct = train(TrainConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}))
    np.testing.assert_array_equal(arrays["error"], direct.error)
    assert rows[("basic_tanh",)]["metrics"]["solved_at"] == direct.solved_at.tolist()
    assert rows[("basic_tanh",)]["metrics"]["members"] == [list(m) for m in direct.members]


LOGISTIC_BAD = [
    ({"r": "abc"}, "r='abc'", "r must be a number, got 'abc'"),
    ({"r": True}, "r=True", "r must be a number, got True"),
    ({"r": float("nan")}, "r=nan", "r must be finite"),
    ({"r": 4.5}, "r=4.5", r"r must be in \[0, 4\]"),
    ({"r": -0.1}, "r=-0.1", r"r must be in \[0, 4\]"),
    ({"r": 3.0, "steps": -1}, "steps=-1", "steps must be >= 1, got -1"),
    ({"r": 3.0, "steps": 0}, "steps=0", "steps must be >= 1, got 0"),
    ({"r": 3.0, "steps": 2.5}, "steps=2.5", "steps must be an integer, got 2.5"),
    ({"r": 3.0, "steps": "100"}, "steps='100'", "steps must be an integer, got '100'"),
    ({"r": 3.0, "transient": -1}, "transient=-1", "transient must be >= 0, got -1"),
    ({"r": 3.0, "seed": -2}, "seed=-2", "seed must be >= 0, got -2"),
    ({"r": 3.0, "seed": [1]}, "seed=[1]", "seed must be an integer"),
    ({"r": 3.0, "stepz": 10}, "stepz=10", r"unknown config key\(s\) stepz"),
    ({"steps": 10}, "steps=10", r"missing config key\(s\) r"),
]


@pytest.mark.parametrize(("bad", "point", "match"), LOGISTIC_BAD)
def test_logistic_configs_are_validated_up_front(tmp_path, bad, point, match):
    """Every grid point is checked before the store is opened; the error names the point."""
    good = [{"r": 3.2, "steps": 200}, {"r": 3.5, "steps": 200}]
    configs = (*good, bad, {"r": 3.9, "steps": 200})
    store = tmp_path / "s.sqlite"
    with pytest.raises(
        DynsysError, match=rf"^sweep: run 3 of 4 \((.*, )?{re.escape(point)}(, .*)?\): {match}"
    ) as info:
        SweepSpec("logistic_lyapunov", configs, store)
    assert "\n" not in str(info.value)
    spec = SweepSpec("logistic_lyapunov", tuple(good) + ({"r": 3.9, "steps": 200},), store)
    spec.configs[2].clear()
    spec.configs[2].update(bad)  # a config changed after the spec was made: run_sweep checks again
    with pytest.raises(DynsysError, match=rf"^sweep: run 3 of 3 \(.*\): {match}"):
        run_sweep(spec, workers=1, progress=False)
    assert not store.exists()
    with pytest.raises(DynsysError, match=match):  # the runner itself refuses it too
        logistic_lyapunov(bad)


def test_sweep_file_error_names_the_file_and_the_grid_point(tmp_path):
    path = tmp_path / "fig7.toml"
    values = ", ".join(["3.0"] * 5 + ['"abc"'] + ["3.5"] * 6)
    path.write_text(f'[sweep]\nrunner = "logistic_lyapunov"\n[grid]\nr = [{values}]\n')
    with pytest.raises(DynsysError) as info:
        load_sweep(path)
    assert str(info.value) == f"sweep {path}: run 6 of 12 (r='abc'): r must be a number, got 'abc'"
    assert not (tmp_path / "fig7.sqlite").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[sweep]\nrunner = "nope"\n', "unknown runner 'nope'"),
        ("[sweep]\nrunner = 5\n", r"\[sweep\]\.runner in .* must be a runner name"),
        (
            '[sweep]\nrunner = "logistic_lyapunov"\nstore = 5\n[base]\nr = 3.0\n',
            r"\[sweep\]\.store in .* must be a file path",
        ),
        ('[sweep]\nrunner = "logistic_lyapunov"\n[grid]\nr = []\n', "grid.r must be a non-empty list"),
        ('[sweep]\nrunner = "logistic_lyapunov"\n[base]\nr = 3.0\n[grid]\nr = [3.1]\n', "in both"),
        (
            '[sweep]\nrunner = "logistic_lyapunov"\n[base]\nr = 3.0\nwhen = 1979-05-27\n',
            "base.when must be a number",
        ),
        ("[base]\nr = 3.0\n", r"needs a \[sweep\] table"),
        ("sweep = 3\n", r"needs a \[sweep\] table"),
        ('[sweep]\nrunner = "logistic_lyapunov"\nbase = 3\n', r"unknown key\(s\) base"),
        (
            '[sweep]\nrunner = "logistic_lyapunov"\n[base]\nr = 3.0\n[grid]\nseed = 3\n',
            "grid.seed must be a non-empty list",
        ),
        ('base = 3\n[sweep]\nrunner = "logistic_lyapunov"\n', r"\[base\] and \[grid\] in .* must be tables"),
        ("[sweep]\nrunner = 'x'\nrunner = 'y'\n", "malformed TOML"),
    ],
)
def test_load_sweep_errors_are_one_line_naming_the_file(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DynsysError, match=match) as info:
        load_sweep(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg


def test_store_path_through_a_file_or_a_folder_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nrunner = "logistic_lyapunov"\nstore = "afile/sub/s.sqlite"\n[base]\nr = 3.0\n')
    with pytest.raises(
        DynsysError, match=rf"^sweep {re.escape(str(path))}: store .* goes through .*afile, which is a file$"
    ):
        load_sweep(path)
    (tmp_path / "adir").mkdir()
    with pytest.raises(DynsysError, match=r"store .*adir is a folder"):
        load_sweep(path, store=tmp_path / "adir")
    spec = SweepSpec("logistic_lyapunov", ({"r": 3.0, "steps": 100},), tmp_path / "afile" / "s.sqlite")
    with pytest.raises(DynsysError, match="which is a file"):
        run_sweep(spec, workers=1, progress=False)
    for bad in (tmp_path / "missing.toml", tmp_path / "adir"):
        with pytest.raises(DynsysError, match=re.escape(str(bad))):
            load_sweep(bad)


def test_sweep_results_of_an_unfinished_sweep_name_the_run(tmp_path):
    spec = SweepSpec(
        "logistic_lyapunov", ({"r": 3.2, "steps": 200}, {"r": 3.9, "steps": 200}), tmp_path / "s.sqlite"
    )
    with pytest.raises(DynsysError, match="store .* does not exist; run the sweep first"):
        sweep_results(spec)
    assert not spec.store.exists()
    run_sweep(SweepSpec(spec.runner, spec.configs[:1], spec.store), workers=1, progress=False)
    with pytest.raises(DynsysError, match=r"^sweep: run 2 of 2 \(r=3.9\) is not done \(not started\)"):
        sweep_results(spec)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_hidden": "abc"}, "n_hidden must be an integer"),
        ({"inits": 5}, "bad train config|init"),
        ({"length": ["abc"]}, "bad train config|length"),
        ({"task": ["a"]}, "bad train config|task"),
        ({"methods": ["sgd"]}, "methods must be one of.*'sgd'"),
    ],
)
def test_train_configs_are_validated_up_front(tmp_path, change, match):
    configs = ({"task": "addition", "updates": 5}, {"task": "addition", "updates": 5, **change})
    with pytest.raises(DynsysError, match=rf"^sweep: run 2 of 2 \(.*\): .*({match})") as info:
        SweepSpec("train", configs, tmp_path / "s.sqlite")
    assert "\n" not in str(info.value)


def test_train_sweep_rejects_bad_config_before_running(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text(TRAIN_TOML.replace("n_hidden = 8", "n_hiden = 8"))
    with pytest.raises(DynsysError, match=r"unknown config key\(s\) n_hiden"):
        load_sweep(toml)
    assert not (tmp_path / "train.sqlite").exists()


def test_train_runner_generalize_lengths_matches_hand_forward(tmp_path):
    """``generalize_lengths`` error rates equal a plain per-member loop over the same fresh sequences."""
    from dynsys.runs import train_runner
    from dynsys.training import TrainConfig, get_task, train

    base = dict(task="addition", length=[10, 14], n_hidden=6, batch=5, updates=30, eval_every=15)
    base.update(eval_sequences=40, eval_chunk=16, confirm_sequences=0, seeds=[0, 1])
    metrics, arrays = train_runner({**base, "generalize_lengths": [12, 25]}, workdir=tmp_path / "w")
    plain, _ = train_runner(base)
    assert "generalize_error" not in plain and metrics["best_error"] == plain["best_error"]
    assert metrics["generalize_lengths"] == [12, 25] and arrays["generalize_error"].shape == (2, 2)
    h = train(TrainConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in base.items()}))
    task = get_task("addition")
    for g, length in enumerate([12, 25]):
        rng = np.random.default_rng([0, 1, 0x6E6, length])
        batches = [task.generate(rng, length, c) for c in (16, 16, 8)]
        for k in range(2):
            p = h.member_map(k)
            wrong = 0
            for bt in batches:
                for j in range(bt.inputs.shape[1]):
                    x = np.zeros(6)
                    for u in bt.inputs[:, j]:
                        x = np.tanh(p.W_rec @ x + p.W_in @ u + p.b)
                    y = p.W_out @ x + p.b_out
                    wrong += float(np.sum((y - bt.targets[0, j]) ** 2)) > 0.04
            assert metrics["generalize_error"][g][k] == pytest.approx(wrong / 40, abs=1e-12)


def test_train_sweep_validates_generalize_lengths(tmp_path):
    ok = SweepSpec(
        "train", ({"task": "addition", "updates": 5, "generalize_lengths": [20, 40]},), tmp_path / "a"
    )
    assert ok.configs[0]["generalize_lengths"] == [20, 40]
    with pytest.raises(DynsysError, match="generalize_lengths"):
        SweepSpec("train", ({"task": "addition", "generalize_lengths": [0]},), tmp_path / "b")
    with pytest.raises(DynsysError, match="generalize_lengths"):
        SweepSpec("train", ({"task": "addition", "generalize_lengths": 20},), tmp_path / "c")


class _RecordingBar:
    """A progress wrapper (the package's protocol) that records what it yielded and its close()."""

    def __init__(self, iterable, *, total=None, desc=None, initial=0, stop_after=None):
        self.iterable, self.total, self.stop_after = iterable, total, stop_after
        self.yielded, self.closed = 0, 0

    def __iter__(self):
        for item in self.iterable:
            if self.stop_after is not None and self.yielded >= self.stop_after:
                raise KeyboardInterrupt("stop")
            self.yielded += 1
            yield item

    def close(self):
        self.closed += 1


@pytest.mark.parametrize("stop_after", [None, 1])
def test_sweep_closes_its_progress_bar_also_when_interrupted(tmp_path, stop_after):
    bars = []

    def progress(iterable, **kw):
        bars.append(_RecordingBar(iterable, **kw, stop_after=stop_after))
        return bars[-1]

    configs = tuple({"r": r, "steps": 200} for r in (3.2, 3.5, 4.0))
    spec = SweepSpec("logistic_lyapunov", configs, tmp_path / "s.sqlite")
    if stop_after is None:
        s = run_sweep(spec, workers=1, progress=progress)
        assert s.done == 3
    else:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, workers=1, progress=progress)
        with ResultStore(spec.store) as st:
            assert sorted(st.statuses().values()).count("done") == 1  # the one recorded before the stop
    (bar,) = bars
    assert bar.total == 3 and bar.closed == 1
    assert bar.yielded == (3 if stop_after is None else 1)


def test_train_runner_monitor_key(tmp_path):
    """``monitor`` watches the run: the record is in the run's folder, the report in the metrics, and
    training is unchanged."""
    from dynsys.io import read_records
    from dynsys.runs import train_runner

    base = dict(task="flipflop_3bit", length=20, n_hidden=6, batch=5, updates=40, eval_every=20)
    base.update(eval_sequences=20, confirm_sequences=0, methods=["msgd", "msgd-c"])
    metrics, _ = train_runner({**base, "monitor": {"every": 20, "n_probes": 8}}, workdir=tmp_path / "w")
    plain, _ = train_runner(base)
    assert metrics["best_error"] == plain["best_error"] and "monitor" not in plain
    rows = read_records(tmp_path / "w" / "monitor.jsonl").rows
    assert sorted((r["update"], r["member"]) for r in rows) == [(u, k) for u in (0, 20, 40) for k in (0, 1)]
    rep = metrics["monitor"]
    assert set(rep["methods"]) == {"msgd", "msgd-c"} and rep["methods"]["msgd"]["n_updates"] == 40


def test_train_sweep_validates_monitor(tmp_path):
    with pytest.raises(DynsysError, match="monitor: unknown option"):
        SweepSpec("train", ({"task": "addition", "monitor": {"cadence": 5}},), tmp_path / "a")
    with pytest.raises(DynsysError, match="monitor.every"):
        SweepSpec("train", ({"task": "addition", "monitor": {"every": 0}},), tmp_path / "b")
