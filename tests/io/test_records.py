"""The JSON-lines record (dynsys.io.records): round trip, crash safety, resume truncation, modes."""

import json
import os
import stat

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.io import files
from dynsys.io.records import RecordFile, append_record, read_records, truncate_records


def _lines(path):
    """The file parsed by plain json, without dynsys: the independent reader."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _no_temporaries(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_of_nan_inf_and_numpy_types(tmp_path):
    p = tmp_path / "m.jsonl"
    rows = [
        {"update": np.int64(25), "loss": np.float32(0.25), "rho": float("nan"), "gmax": np.float64("inf")},
        {"update": 50, "mults": np.array([[0.5, -np.inf], [np.nan, 2.0]]), "ok": np.bool_(True), "s": "Ω→x"},
        {"update": 75, "nested": {"a": [1, (2, 3.5)], 7: None}},
    ]
    for row in rows:
        append_record(p, row)
    expected = [
        {"update": 25, "loss": 0.25, "rho": None, "gmax": None},
        {"update": 50, "mults": [[0.5, None], [None, 2.0]], "ok": True, "s": "Ω→x"},
        {"update": 75, "nested": {"a": [1, [2, 3.5]], "7": None}},
    ]
    rec = read_records(p)
    assert isinstance(rec, RecordFile) and rec.dropped_tail == 0 and len(rec) == 3
    assert rec.rows == expected
    assert _lines(p) == expected  # readable without dynsys
    text = p.read_bytes().decode("utf-8")  # UTF-8, one object per line, no bare NaN/Infinity tokens
    assert text.count("\n") == 3 and text.endswith("\n") and "Ω→x" in text
    assert "NaN" not in text and "Infinity" not in text
    for line in text.splitlines():  # strict JSON: refuse the non-standard constants
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_empty_file_gives_no_rows(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"")
    rec = read_records(p)
    assert rec.rows == [] and rec.dropped_tail == 0


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(DynsysError, match=r"^monitor: no record at .*nope\.jsonl$"):
        read_records(tmp_path / "nope.jsonl", name="monitor")
    with pytest.raises(DynsysError, match="is a folder"):
        read_records(tmp_path)
    with pytest.raises(DynsysError, match="is a folder"):
        append_record(tmp_path, {"a": 1})


def test_append_creates_the_file_but_no_folder(tmp_path):
    with pytest.raises(DynsysError, match="does not exist"):
        append_record(tmp_path / "sub" / "m.jsonl", {"a": 1})
    assert not (tmp_path / "sub").exists()


@pytest.mark.parametrize("torn", [b'{"update": 50, "lo', b'{"s": "\xce', b"\x00\x00\x00\x00", b"{"])
def test_torn_tail_is_dropped_and_the_next_append_repairs_it(tmp_path, torn):
    p = tmp_path / "m.jsonl"
    append_record(p, {"update": 25})
    with open(p, "ab") as fh:  # a crash in the middle of writing the next row
        fh.write(torn)
    rec = read_records(p)
    assert rec.rows == [{"update": 25}] and rec.dropped_tail == 1
    append_record(p, {"update": 50})
    assert p.read_bytes() == b'{"update": 25}\n{"update": 50}\n'
    rec = read_records(p)
    assert rec.rows == [{"update": 25}, {"update": 50}] and rec.dropped_tail == 0


def test_torn_first_row_is_cut_to_an_empty_file(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"upd')
    assert read_records(p).dropped_tail == 1
    append_record(p, {"update": 1})
    assert _lines(p) == [{"update": 1}]


def test_complete_last_row_without_newline_is_kept(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"update": 1}\n{"update": 2}')
    rec = read_records(p)
    assert rec.rows == [{"update": 1}, {"update": 2}] and rec.dropped_tail == 0
    append_record(p, {"update": 3})
    assert _lines(p) == [{"update": 1}, {"update": 2}, {"update": 3}]


def test_a_long_torn_tail_beyond_one_chunk(tmp_path):
    p = tmp_path / "m.jsonl"
    append_record(p, {"update": 1})
    big = {"update": 2, "x": list(range(40000))}  # ~ 280 kB, several 64 kB chunks
    torn = files.to_json(big).encode()[:-7]
    with open(p, "ab") as fh:
        fh.write(torn)
    assert read_records(p).dropped_tail == 1
    append_record(p, big)
    assert [r["update"] for r in read_records(p).rows] == [1, 2]


def test_corrupt_middle_line_raises_one_line_naming_it(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"update": 1}\n{"update": 2\n{"update": 3}\n')
    with pytest.raises(DynsysError) as err:
        read_records(p, name="monitor")
    msg = str(err.value)
    assert msg.startswith(f"monitor: {p} line 2: not JSON (") and "\n" not in msg
    p.write_bytes(b'{"update": 1}\n[1, 2]\n')
    with pytest.raises(DynsysError, match=r"line 2: not a JSON object \(a list\)"):
        read_records(p)
    p.write_bytes(b'{"a": 1}\n\xff\xfe\n{"a": 2}\n')
    with pytest.raises(DynsysError, match=r"line 2: not JSON \(invalid UTF-8"):
        read_records(p)


def test_corrupt_last_line_with_newline_or_foreign_tail_is_not_a_torn_row(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": 2\n')  # newline-terminated: the write completed, so it is corrupt
    with pytest.raises(DynsysError, match="line 2: not JSON"):
        read_records(p)
    q = tmp_path / "notes.txt"
    q.write_bytes(b"some notes without a newline")
    with pytest.raises(DynsysError, match="line 1: not JSON"):
        read_records(q)
    with pytest.raises(DynsysError, match="does not end with a complete row"):
        append_record(q, {"a": 1})
    assert q.read_bytes() == b"some notes without a newline"  # never cut


def test_blank_lines_are_skipped(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"a": 1}\n\n  \n{"a": 2}\n')
    assert read_records(p).rows == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    "row",
    [{"m": 1 + 2j}, {"b": b"bytes"}, {"s": {1, 2}}, {"obj": object()}, [1, 2], {"bad": "\ud800"}],
)
def test_unserialisable_row_leaves_the_file_untouched(tmp_path, row):
    p = tmp_path / "m.jsonl"
    append_record(p, {"update": 1})
    before = p.read_bytes()
    with pytest.raises(DynsysError, match="record: "):
        append_record(p, row)
    assert p.read_bytes() == before
    with pytest.raises(DynsysError):
        append_record(tmp_path / "new.jsonl", row)
    assert not (tmp_path / "new.jsonl").exists()  # nothing created either


def test_circular_row_is_refused(tmp_path):
    row = {"a": 1}
    row["self"] = row
    with pytest.raises(DynsysError, match="cannot be written as JSON"):
        append_record(tmp_path / "m.jsonl", row)
    assert not (tmp_path / "m.jsonl").exists()


def test_append_fsyncs_the_row(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_size), real(fd))[1])
    p = tmp_path / "m.jsonl"
    append_record(p, {"a": 1})
    assert p.stat().st_size in synced  # the file was synced once the row was in it


def _write_rows(p, updates):
    for u in updates:
        append_record(p, {"update": u, "loss": 1.0 / (u + 1)})


def test_truncate_keeps_exactly_the_predicates_rows(tmp_path):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [0, 25, 50, 75, 100])
    with open(p, "ab") as fh:
        fh.write(b'{"update": 125, "lo')  # the crash the run resumes from
    raw = p.read_bytes().split(b"\n")
    rec = truncate_records(p, upto=50)
    assert [r["update"] for r in rec.rows] == [0, 25, 50] and rec.dropped_tail == 1
    assert p.read_bytes() == b"\n".join(raw[:3]) + b"\n"  # kept lines byte for byte
    rec = truncate_records(p, lambda row: row["update"] % 50 == 0)
    assert [r["update"] for r in read_records(p).rows] == [0, 50] == [r["update"] for r in rec.rows]
    append_record(p, {"update": 75})  # the resumed run goes on
    assert [r["update"] for r in _lines(p)] == [0, 50, 75]
    assert _no_temporaries(tmp_path)


def test_truncate_keeping_everything_writes_nothing(tmp_path, monkeypatch):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [1, 2])
    monkeypatch.setattr(files.os, "replace", lambda *a: pytest.fail("rewrote an unchanged file"))
    assert len(truncate_records(p, upto=10)) == 2


def test_truncate_to_nothing(tmp_path):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [25, 50])
    assert truncate_records(p, upto=0).rows == []
    assert p.read_bytes() == b"" and read_records(p).rows == []


def test_truncate_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [25, 50, 75])
    before = p.read_bytes()

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        truncate_records(p, upto=25)
    assert p.read_bytes() == before and _no_temporaries(tmp_path)


def test_truncate_refuses_bad_input_and_leaves_the_file(tmp_path):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [25, 50])
    append_record(p, {"event": "fold"})  # no update key
    before = p.read_bytes()
    with pytest.raises(DynsysError, match=r"line 3: row has no number under 'update'"):
        truncate_records(p, upto=30)
    with pytest.raises(DynsysError, match="exactly one of keep and upto"):
        truncate_records(p)
    with pytest.raises(DynsysError, match="exactly one of keep and upto"):
        truncate_records(p, lambda r: True, upto=3)
    with pytest.raises(DynsysError, match="upto must be a number"):
        truncate_records(p, upto="50")
    with pytest.raises(DynsysError, match="keep must be callable"):
        truncate_records(p, keep=3)
    with pytest.raises(DynsysError, match="no record at"):
        truncate_records(tmp_path / "none.jsonl", upto=1)
    p2 = tmp_path / "bad.jsonl"
    p2.write_bytes(b'{"update": 1}\nxx\n{"update": 2}\n')
    with pytest.raises(DynsysError, match="line 2: not JSON"):
        truncate_records(p2, upto=1)
    assert p.read_bytes() == before
    assert p2.read_bytes() == b'{"update": 1}\nxx\n{"update": 2}\n'
    assert [r["update"] for r in truncate_records(p, lambda r: "update" in r).rows] == [25, 50]


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_file_mode_respects_the_umask(tmp_path, umask):
    p = tmp_path / "m.jsonl"
    _write_rows(p, [25, 50])
    assert _mode(p) == 0o666 & ~umask
    truncate_records(p, upto=25)  # the rewrite too
    assert _mode(p) == 0o666 & ~umask
    assert _no_temporaries(tmp_path)
