"""The result store alone: reading never writes (create=False is read-only), bad files are one line."""

import hashlib
import sqlite3
import subprocess
import sys
from contextlib import closing

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.runs.store import ResultStore


def _snapshot(folder):
    """Every file under ``folder`` with the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _make_store(path, n=3):
    with ResultStore(path) as st:
        for i in range(n):
            st.mark_running(f"k{i}", "r", {"i": i})
            st.record(
                f"k{i}", "r", {"i": i}, status="done", metrics={"v": i / 2}, arrays={"x": np.full(2, i)}
            )
    return path


def _foreign_sqlite(path):
    with closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE songs (title TEXT)")
        c.commit()


def _runs_without_columns(path):
    with closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE runs (key TEXT, status TEXT)")
        c.commit()


def _empty_sqlite(path):
    with closing(sqlite3.connect(path)) as c:
        c.execute("PRAGMA user_version = 7")  # a valid database file with no table
        c.commit()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(b""), "is an empty file, not a dynsys result store"),
        (
            lambda p: p.write_text("key,status\nabc,done\n" * 50),
            r"is not a dynsys result store \(file is not a",
        ),
        (lambda p: p.write_bytes(bytes(range(256)) * 8), "is not a dynsys result store"),
        (_foreign_sqlite, "is an SQLite file but not a dynsys result store"),
        (_runs_without_columns, r"its runs table lacks runner, config, metrics"),
        (_empty_sqlite, "is an empty SQLite database, not a dynsys result store"),
    ],
)
def test_reading_a_bad_file_is_one_line_and_changes_nothing(tmp_path, make, match):
    path = tmp_path / "s.sqlite"
    make(path)
    before = _snapshot(tmp_path)
    with pytest.raises(DynsysError, match=match) as exc:
        ResultStore(path, create=False)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)
    assert _snapshot(tmp_path) == before  # byte-identical, no -wal/-shm/.arrays beside it


def test_directories_are_refused_without_a_traceback(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    for path in (".", tmp_path, "..", ""):
        for create in (False, True):
            with pytest.raises(DynsysError, match=r"is a directory, not a result store file$"):
                ResultStore(path, create=create)
    with pytest.raises(DynsysError, match=r"^store \.: is a directory, not a result store file$"):
        ResultStore(".", create=False)
    code, out, err = run_cli("results", ".")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "is a directory" in err
    assert _snapshot(tmp_path) == before
    with pytest.raises(DynsysError, match="does not exist"):
        ResultStore(tmp_path / "missing.sqlite", create=False)
    assert _snapshot(tmp_path) == before


def test_cli_results_on_an_empty_file_leaves_it_empty(tmp_path, run_cli):
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    code, _, err = run_cli("results", path)
    assert code == 2 and err.count("\n") == 1 and "empty file" in err
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]


@pytest.mark.parametrize("name", ["s.sqlite", "my runs #1 ?50%.sqlite"])
def test_reading_a_closed_store_writes_nothing(tmp_path, name):
    path = _make_store(tmp_path / name)
    assert not (tmp_path / (name + "-wal")).exists()  # the writer's last close checkpointed
    before = _snapshot(tmp_path)
    with ResultStore(path, create=False) as st:
        assert st.read_only
        assert st.statuses() == {"k0": "done", "k1": "done", "k2": "done"}
        rows = st.rows("done")
        assert [r["metrics"]["v"] for r in rows] == [0.0, 0.5, 1.0] and rows[1]["config"] == {"i": 1}
        np.testing.assert_array_equal(st.load_arrays("k2")["x"], [2, 2])
        assert st.integrity_check() == "ok"
        for write in (
            lambda: st.mark_running("k9", "r", {}),
            lambda: st.record("k9", "r", {}, status="done", arrays={"x": np.ones(1)}),
        ):
            with pytest.raises(DynsysError, match=r"^store .* was opened read-only$"):
                write()
        assert _snapshot(tmp_path) == before  # no -wal/-shm while open either
    assert _snapshot(tmp_path) == before


def test_reading_while_a_writer_holds_the_store_open(tmp_path):
    path = _make_store(tmp_path / "s.sqlite", n=1)
    with ResultStore(path) as writer:
        writer.record("k1", "r", {"i": 1}, status="done", metrics={"v": 7.0})
        assert (tmp_path / "s.sqlite-wal").exists()  # the new row is in the WAL only
        files = sorted(p.name for p in tmp_path.iterdir())
        with ResultStore(path, create=False) as reader:
            assert reader.statuses() == {"k0": "done", "k1": "done"}
            writer.mark_running("k2", "r", {"i": 2})  # a commit while the reader is open
            assert reader.statuses()["k2"] == "running"
            with pytest.raises(DynsysError, match="read-only"):
                reader.mark_running("k3", "r", {})
        assert sorted(p.name for p in tmp_path.iterdir()) == files
        assert writer.statuses() == {"k0": "done", "k1": "done", "k2": "running"}


def test_reading_after_a_writer_died_sees_its_committed_rows(tmp_path):
    path = _make_store(tmp_path / "s.sqlite", n=1)
    code = (
        "import os, sys\n"
        "from dynsys.runs.store import ResultStore\n"
        "st = ResultStore(sys.argv[1])\n"
        "st.record('k1', 'r', {'i': 1}, status='done', metrics={'v': 3.0})\n"
        "os._exit(0)\n"  # killed: no checkpoint, the -wal and -shm stay
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert (tmp_path / "s.sqlite-wal").exists()
    before = _snapshot(tmp_path)
    with ResultStore(path, create=False) as st:
        # an immutable open would miss k1 (it lives in the -wal): mode=ro reads it
        assert st.statuses() == {"k0": "done", "k1": "done"}
    after = _snapshot(tmp_path)
    assert set(after) == set(before)
    assert all(after[k] == before[k] for k in after if not k.endswith("-shm"))  # -shm: readers' locks
    with ResultStore(path) as st:  # a writer then finishes the recovery
        assert st.integrity_check() == "ok" and len(st.statuses()) == 2


def test_opening_for_writing_still_refuses_foreign_files(tmp_path):
    path = tmp_path / "f.sqlite"
    _foreign_sqlite(path)
    before = _snapshot(tmp_path)
    with pytest.raises(DynsysError, match="SQLite file but not a dynsys result store"):
        ResultStore(path)
    assert _snapshot(tmp_path) == before
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DynsysError, match="cannot create its folder"):
        ResultStore(tmp_path / "afile" / "s.sqlite")
    empty = tmp_path / "new.sqlite"
    empty.write_bytes(b"")  # writing into an empty file makes it a store (as sqlite does)
    with ResultStore(empty) as st:
        assert st.statuses() == {}
