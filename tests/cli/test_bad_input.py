"""The CLI's error discipline as a tested property (README: "bad input produces one line on stderr
and exit status 2").

Every invocation of the table runs in a folder holding good and bad input files; each must exit
with status 2, print exactly one line on stderr and no traceback, and leave every file that was
there byte-identical, with no new file. A hypothesis test throws random argument lists at the
parser of every command.
"""

from __future__ import annotations

import contextlib
import importlib
import io as _io
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.cli.app import COMMANDS, build_parser, main

try:
    import torch
except ImportError:  # the .pt cases are skipped
    torch = None

TORCH = "torch"  # marks a case that needs PyTorch to build its input file

#: (argv, a fragment the one error line must contain[, TORCH])
CASES = [
    # -- usage ----------------------------------------------------------------------------
    (["frobnicate"], "invalid choice"),
    (["check"], "--weights"),
    (["check", "--weights", "w.npz", "--json", "--latex"], "not allowed with"),
    (["reproduce", "--profile", "huge"], "invalid choice"),
    (["train", "--task", "addition"], "--length"),
    (["train", "--task", "addition", "--length", "20", "--method", "adam"], "invalid choice"),
    (["fixed-points", "--weights", "w.npz", "--linear", "qr"], "invalid choice"),
    (["bifurcation", "--unit", "--param", "b", "--range", "-1e-3"], "--range"),
    (["results", "store.sqlite", "--status", "lost"], "invalid choice"),
    (["sweep"], "CONFIG.toml"),
    (["check", "--weights", "w.npz", "--steps", "ten"], "--steps"),
    # -- weights files --------------------------------------------------------------------
    (["check", "--weights", "missing.npz"], "missing.npz"),
    (["check", "--weights", "x.npy"], "single .npy array"),
    (["check", "--weights", "text.npz"], "not an .npz"),
    (["check", "--weights", "empty.npz"], "empty"),
    (["check", "--weights", "adir"], "adir"),
    (["check", "--weights", "pickled.npz"], "pickle"),
    (["check", "--weights", "cw.npz"], "must be real"),
    (["check", "--weights", "nan.npz"], "W_rec"),
    (["check", "--weights", "rect.npz"], "square"),
    (["check", "--weights", "nokey.npz"], "W_rec"),
    (["check", "--weights", "w.npz", "--activation", "swish"], "swish"),
    (["check", "--weights", "only_hh.pt", "--activation", "tanh"], "weight_ih_l0", TORCH),
    (["check", "--weights", "proj.pt"], "projections", TORCH),
    (["check", "--weights", "bi.pt", "--activation", "tanh"], "bidirectional", TORCH),
    (["check", "--weights", "relu.pt"], "nonlinearity", TORCH),
    (["check", "--weights", "lstm.pt", "--activation", "tanh"], "LSTM", TORCH),
    (["check", "--weights", "text.pt", "--activation", "tanh"], "text.pt", TORCH),
    # -- check options --------------------------------------------------------------------
    (["check", "--weights", "w.npz", "--steps", "0"], "--steps"),
    (["check", "--weights", "w.npz", "--sequences", "-1"], "--sequences"),
    (["check", "--weights", "w.npz", "--lyapunov-steps", "0"], "--lyapunov-steps"),
    (["check", "--weights", "w.npz", "--tol", "nan"], "--tol"),
    # -- fixed-points ---------------------------------------------------------------------
    (["fixed-points", "--weights", "w.npz", "--input", "1"], "--input"),
    (["fixed-points", "--weights", "w.npz", "--input", "-1,abc"], "--input"),
    (["fixed-points", "--weights", "w.npz", "--input", "nan,0"], "--input"),
    (["fixed-points", "--weights", "w.npz", "--period", "0"], "--period"),
    (["fixed-points", "--weights", "w.npz", "--starts", "0"], "--starts"),
    (["fixed-points", "--weights", "w.npz", "--slow", "nan"], "--slow"),
    (["fixed-points", "--weights", "w.npz", "--seed", "-1"], "--seed"),
    # -- bifurcation ----------------------------------------------------------------------
    (["bifurcation", "--weights", "w.npz", "--param", "nope", "--range", "0", "1"], "nope"),
    (["bifurcation", "--weights", "w.npz", "--param", "b", "--range", "1", "1"], "--range"),
    (["bifurcation", "--weights", "w.npz", "--param", "b", "--range", "x", "1"], "--range"),
    (["bifurcation", "--weights", "w.npz", "--param", "b", "--range", "-inf", "1"], "--range"),
    (["bifurcation", "--weights", "w.npz", "--param", "b[9]", "--range", "-1", "1"], "b[9]"),
    (
        ["bifurcation", "--weights", "w.npz", "--param", "b", "--direction", "1,2", "--range", "0", "1"],
        "direction",
    ),
    (["bifurcation", "--weights", "noinput.npz", "--param", "u", "--range", "-1", "1"], "input"),
    (["bifurcation", "--unit", "--weights", "w.npz", "--param", "b", "--range", "0", "1"], "exclusive"),
    (["bifurcation", "--param", "b", "--range", "0", "1"], "--weights"),
    (["bifurcation", "--unit", "--w", "nan", "--param", "b", "--range", "0", "1"], "--w"),
    (["bifurcation", "--unit", "--param", "w", "--range", "0", "1", "--seed", "-3"], "--seed"),
    # -- basins ---------------------------------------------------------------------------
    (["basins", "--unit", "--resolution", "1"], "--resolution"),
    (["basins", "--weights", "w2.npz", "--resolution", "100000"], "--resolution"),
    (["basins", "--weights", "w.npz", "--resolution", "5"], "--plane"),
    (["basins", "--weights", "w.npz", "--plane", "0,0,0,0", "--resolution", "5"], "--plane"),
    (["basins", "--weights", "w.npz", "--plane", "0,0", "-1,0", "0,1", "--resolution", "5"], "--plane"),
    (["basins", "--unit", "--extent", "1", "2", "3"], "--extent"),
    (["basins", "--weights", "w.npz", "--plane", "0,0,0,0", "1,0,0,0", "--method", "cells"], "--method"),
    (["basins", "--unit", "--max-steps", "0"], "--max-steps"),
    (["basins", "--unit", "--resolution", "5", "--out", "afile/b.npz"], "afile"),
    (["basins", "--unit", "--weights", "w.npz"], "--unit"),
    (["basins", "--unit", "--activation", "swish"], "swish"),
    # -- surface --------------------------------------------------------------------------
    (["surface", "--resolution", "5"], "--unit"),
    (["surface", "--unit", "--resolution", "1"], "--resolution"),
    (["surface", "--unit", "--resolution", "30000"], "--resolution"),
    (["surface", "--unit", "--T", "100000000"], "--T"),
    (["surface", "--unit", "--w-range", "2", "1"], "--w-range"),
    (["surface", "--unit", "--T", "0"], "--T"),
    (["surface", "--unit", "--x0", "nan"], "--x0"),
    (["surface", "--unit", "--activation", "swish"], "swish"),
    (["surface", "--unit", "--resolution", "5", "--out", "afile/s.npz"], "afile"),
    (["surface", "--unit", "--lines", "0"], "--lines"),
    # -- train ----------------------------------------------------------------------------
    (["train", "--task", "nope", "--length", "20"], "nope"),
    (["train", "--task", "addition", "--length", "a:b"], "--length"),
    (["train", "--task", "addition", "--length", "-3"], "--length"),
    (["train", "--task", "addition", "--length", "30:20"], "--length"),
    (["train", "--task", "addition", "--length", "20", "--hidden", "0"], "--hidden"),
    (["train", "--task", "addition", "--length", "20", "--hidden", "100000"], "--hidden"),
    (["train", "--task", "addition", "--length", "20", "--lr", "-1"], "--lr"),
    (["train", "--task", "addition", "--length", "20", "--clip", "0"], "--clip"),
    (["train", "--task", "addition", "--length", "20", "--alpha", "-1"], "--alpha"),
    (["train", "--task", "addition", "--length", "20", "--init", "zeros"], "--init"),
    (["train", "--task", "addition", "--length", "20", "--updates", "0"], "--updates"),
    (["train", "--task", "addition", "--length", "20", "--batch", "0"], "--batch"),
    (["train", "--task", "addition", "--length", "20", "--eval-every", "0"], "--eval-every"),
    (["train", "--task", "addition", "--length", "20", "--out", "afile/r"], "afile"),
    # -- sweep ----------------------------------------------------------------------------
    (["sweep", "nosuch.toml"], "nosuch.toml"),
    (["sweep", "broken.toml"], "broken.toml"),
    (["sweep", "unknown_runner.toml"], "runner"),
    (["sweep", "logistic_bad_r.toml"], "abc"),
    (["sweep", "logistic_bad_steps.toml"], "steps"),
    (["sweep", "logistic.toml", "--scheduler", "notaurl"], "scheduler"),
    (["sweep", "logistic.toml", "--store", "afile/x.sqlite"], "afile"),
    (["sweep", "logistic.toml", "--workers", "0"], "--workers"),
    # -- results --------------------------------------------------------------------------
    (["results", "."], "directory"),
    (["results", "empty.sqlite"], "empty.sqlite"),
    (["results", "text.sqlite"], "text.sqlite"),
    (["results", "missing.sqlite"], "missing.sqlite"),
    (["results", "other.sqlite"], "not a dynsys result store"),
    # -- monitor --------------------------------------------------------------------------
    (["monitor", "nosuchdir"], "RUN_DIR"),
    (["monitor", "afile"], "not a folder"),
    (["monitor", "adir"], "no monitor record"),
    (["monitor", "run_empty"], "no rows"),
    (["monitor", "run_torn"], "no rows"),
    (["monitor", "run_corrupt"], "line 1"),
    (["monitor", "run_notmonitor"], "not a monitor row"),
    (["monitor", "run_ok", "--window", "-1"], "--window"),
    (["monitor", "run_ok", "--top", "2"], "--top"),
    (["monitor", "run_ok", "--shifts", "5"], "n_shifts"),
    (["monitor", "run_ok", "--events", "spikes"], "invalid choice"),
    # -- reproduce ------------------------------------------------------------------------
    (["reproduce", "--root", "/nonexistent", "--list"], "--root"),
    (["reproduce", "--root", "adir", "--list"], "--root"),
    (["reproduce", "--only", "no-such-figure", "--no-progress"], "no-such-figure"),
    (["reproduce", "--jobs", "0"], "--jobs"),
]


def _write_inputs(root: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        root / "w.npz", W_rec=rng.normal(0, 0.3, (4, 4)), W_in=rng.normal(0, 1, (4, 2)), activation="tanh"
    )
    np.savez(root / "w2.npz", W_rec=np.array([[1.5, 0.2], [-0.3, 1.2]]), activation="tanh")
    np.savez(root / "noinput.npz", W_rec=np.eye(3) * 0.5)
    np.savez(root / "cw.npz", W_rec=np.eye(3) * (1 + 1j))
    np.savez(root / "nan.npz", W_rec=np.array([[np.nan, 0.0], [0.0, 1.0]]))
    np.savez(root / "rect.npz", W_rec=np.ones((3, 4)))
    np.savez(root / "nokey.npz", weights=np.eye(2))
    np.savez(root / "pickled.npz", W_rec=np.array([{"a": 1}], dtype=object))
    np.save(root / "x.npy", np.eye(3))
    (root / "text.npz").write_text("hello world\n")
    (root / "empty.npz").write_bytes(b"")
    (root / "adir").mkdir()
    (root / "afile").write_text("x")
    (root / "empty.sqlite").write_bytes(b"")
    (root / "text.sqlite").write_text("not a database\n")
    import sqlite3

    con = sqlite3.connect(root / "other.sqlite")
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    (root / "broken.toml").write_text("[sweep\nrunner = \n")
    (root / "unknown_runner.toml").write_text('[sweep]\nrunner = "no_such_runner"\nstore = "s.sqlite"\n')
    good = '[sweep]\nrunner = "logistic_lyapunov"\nstore = "s.sqlite"\n[base]\nsteps = 100\n[grid]\nr = [3.5, 3.9]\n'
    (root / "logistic.toml").write_text(good)
    (root / "logistic_bad_r.toml").write_text(good.replace("r = [3.5, 3.9]", 'r = [3.5, "abc"]'))
    (root / "logistic_bad_steps.toml").write_text(good.replace("steps = 100", "steps = -1"))
    if torch is not None:
        torch.manual_seed(0)
        torch.save({"weight_hh_l0": torch.randn(4, 4)}, root / "only_hh.pt")
        torch.save(torch.nn.LSTM(2, 4, proj_size=2).state_dict(), root / "proj.pt")
        torch.save(torch.nn.RNN(2, 4, bidirectional=True).state_dict(), root / "bi.pt")
        torch.save(torch.nn.RNN(2, 4, nonlinearity="relu").state_dict(), root / "relu.pt")
        torch.save(torch.nn.LSTM(2, 4).state_dict(), root / "lstm.pt")
        (root / "text.pt").write_text("not a torch file\n")
    # monitor records: empty, torn (one row cut mid-write), corrupt, not a monitor's, and a good one
    for name in ("run_empty", "run_torn", "run_corrupt", "run_notmonitor", "run_ok"):
        (root / name).mkdir()
    row = (
        '{"update": 0, "member": 0, "method": "msgd", "norms": [], "clipped": [], "events": [], '
        '"probes": {"crossing_updates": []}}\n'
    )
    (root / "run_empty" / "monitor.jsonl").write_text("")
    (root / "run_torn" / "monitor.jsonl").write_text(row[:40])
    (root / "run_corrupt" / "monitor.jsonl").write_text("this is not json\n" + row)
    (root / "run_notmonitor" / "monitor.jsonl").write_text('{"update": 3}\n')
    (root / "run_ok" / "monitor.jsonl").write_text(row)
    # a valid store, for "results --status": written by a real (tiny) sweep would be slow; a
    # ResultStore with no runs is enough for the usage error
    from dynsys.runs.store import ResultStore

    ResultStore(root / "store.sqlite").close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    _write_inputs(root)
    return root


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _ids():
    return [" ".join(c[0])[:70] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_bad_invocation_is_one_line_exit_2_and_loses_nothing(case, inputs, tmp_path, monkeypatch, run_cli):
    argv, fragment = case[0], case[1]
    if TORCH in case[2:] and torch is None:
        pytest.skip("needs PyTorch to write the input file")
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    monkeypatch.chdir(work)
    before = _snapshot(work)
    code, out, err = run_cli(*argv)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert fragment in err, err
    assert _snapshot(work) == before  # every file byte-identical, nothing new (no -wal/-shm either)


def test_the_table_is_big_and_covers_every_command():
    assert len(CASES) >= 60
    covered = {c[0][0] for c in CASES}
    names = {importlib.import_module(f"dynsys.cli.{m}").NAME for m in COMMANDS}
    assert names <= covered


def test_closed_stdout_ends_quietly(run_cli, monkeypatch):
    mod = importlib.import_module("dynsys.cli.check")

    def run(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(mod, "run", run)
    code, _, err = run_cli("check", "--weights", "w.npz")
    assert code == 141 and err == ""


def test_broken_pipe_in_a_real_pipeline(inputs, tmp_path):
    """``dynsys fixed-points ... | head -1``: no traceback when the reader leaves early."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "dynsys",
        "fixed-points",
        "--weights",
        str(inputs / "w2.npz"),
        "--period",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err
    assert proc.returncode in (0, 141)


# -- negative numbers are values, never options --------------------------------------------
@pytest.mark.parametrize(
    "argv, dest, value",
    [
        (["bifurcation", "--unit", "--param", "b", "--range", "-1e-3", "1e-3"], "range", ["-1e-3", "1e-3"]),
        (["basins", "--plane", "0,0,0", "-1,0,0", "0,1,0"], "plane", ["0,0,0", "-1,0,0", "0,1,0"]),
        (["surface", "--unit", "--x0", "-1e-1"], "x0", -0.1),
        (["fixed-points", "--weights", "w.npz", "--input", "-1,0"], "input", "-1,0"),
        (["fixed-points", "--weights", "w.npz", "--input", "-.5,-2E+3"], "input", "-.5,-2E+3"),
        (["surface", "--unit", "--w-range", "-3", "-1.5"], "w_range", [-3.0, -1.5]),
        (["basins", "--unit", "--extent", "-2.5", "-1"], "extent", [-2.5, -1.0]),
    ],
)
def test_negative_numbers_are_values(argv, dest, value):
    args = build_parser([argv[0]]).parse_args(argv)
    assert getattr(args, dest) == value


# -- random argument lists never give a traceback -------------------------------------------
def _vocabulary():
    parser = build_parser()
    words = list(COMMANDS) + ["fixed-points"]
    for action in parser._actions:
        for sub in getattr(action, "choices", None) or {}:
            sp = action.choices[sub]
            for a in sp._actions:
                words += [o for o in a.option_strings if o.startswith("--")]
    values = [
        "0",
        "1",
        "-1",
        "-1e-3",
        "1e9",
        "nan",
        "inf",
        "-inf",
        "abc",
        "",
        "-",
        "--",
        "1,2",
        "-1,0",
        "w.npz",
        "afile/x",
        "a:b",
        "3:2",
        "tanh",
        "default",
        "msgd",
        "x" * 300,
        "é",
    ]
    return sorted(set(words)), values


_WORDS, _VALUES = _vocabulary()


@given(st.lists(st.sampled_from(_WORDS) | st.sampled_from(_VALUES) | st.text(max_size=8), max_size=10))
def test_random_argument_lists_never_give_a_traceback(argv):
    out, err = _io.StringIO(), _io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name in COMMANDS:  # parse only: the commands' work is replaced by a no-op
            mp.setattr(importlib.import_module(f"dynsys.cli.{name}"), "run", lambda args: 0)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    assert code in (0, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().count("\n") == 1, (argv, err.getvalue())
