"""The Bach chorales of music21 as piano rolls (dynsys.training.music): the roll rule on a hand-built
stream, one real chorale checked by hand, the hash split, the cache (round trip, corrupt, stale) and
the one-line error without music21."""

from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np
import pytest

music21 = pytest.importorskip("music21")

from music21 import chord, note, stream  # noqa: E402

from dynsys.errors import DynsysError  # noqa: E402
from dynsys.io import load_arrays, save_arrays  # noqa: E402
from dynsys.training import music  # noqa: E402
from dynsys.training.music import chorale_split, load_chorales, score_to_roll  # noqa: E402

# measured once on music21 10.5.1 (see the module docstring)
N_NUMBERS, N_NAMES, N_FILES = 371, 350, 349
SPLIT_SIZES = {"train": 213, "valid": 71, "test": 65}
TOTAL_STEPS = 18988


def _expected(T, steps):
    """A (T, 88) roll from ``{step: {MIDI pitches}}``, written out by hand."""
    roll = np.zeros((T, 88), dtype=np.uint8)
    for k, pitches in steps.items():
        for p in pitches:
            roll[k, p - 21] = 1
    return roll


# ---------------------------------------------------------------------------------------
# score_to_roll
# ---------------------------------------------------------------------------------------


def _hand_built():
    upper = stream.Part()
    upper.insert(0.0, note.Note("C4", quarterLength=1))  # 60, step 0
    upper.insert(1.0, chord.Chord(["E4", "G4"], quarterLength=2))  # 64 + 67, steps 1-2
    upper.insert(3.0, note.Rest(quarterLength=1))  # step 3: nothing from this part
    tied_a = note.Note("D4", quarterLength=1.5)  # 62 over [4, 5.5) ...
    tied_a.tie = music21.tie.Tie("start")
    tied_b = note.Note("D4", quarterLength=1.5)  # ... tied to [5.5, 7): sounds at steps 4, 5, 6
    tied_b.tie = music21.tie.Tie("stop")
    upper.insert(4.0, tied_a)
    upper.insert(5.5, tied_b)
    upper.insert(7.0, note.Note("F4").getGrace())  # grace note (duration 0): dropped
    upper.insert(7.0, note.Note("B3", quarterLength=0.5))  # 59 over [7, 7.5): step 7
    upper.insert(7.5, note.Note("A4", quarterLength=0.5))  # off-beat eighth: covers no step
    lower = stream.Part()
    lower.insert(0.0, note.Note("C3", quarterLength=4))  # 48, steps 0-3
    lower.insert(4.0, note.Note("G2", quarterLength=2.5))  # 43 over [4, 6.5): steps 4-6
    lower.insert(7.0, note.Note("A2", quarterLength=1.5))  # 45 over [7, 8.5): steps 7-8; T = 9
    score = stream.Score()
    score.insert(0, upper)
    score.insert(0, lower)
    return score


def test_score_to_roll_hand_built():
    score = _hand_built()
    assert score.highestTime == 8.5
    roll = score_to_roll(score)
    expected = _expected(
        9,
        {
            0: {60, 48},
            1: {64, 67, 48},
            2: {64, 67, 48},
            3: {48},
            4: {62, 43},
            5: {62, 43},
            6: {62, 43},
            7: {59, 45},
            8: {45},
        },
    )
    assert roll.dtype == np.uint8
    np.testing.assert_array_equal(roll, expected)


def test_score_to_roll_tie_equals_stripped_ties():
    # music21's stripTies() merges the tied D4 into one note of 3 quarters: the same roll
    score = _hand_built()
    np.testing.assert_array_equal(score_to_roll(score), score_to_roll(score.stripTies()))
    merged = [n for n in score.stripTies().flatten().notes if getattr(n, "name", "") == "D"]
    assert [(n.offset, n.quarterLength) for n in merged] == [(4.0, 3.0)]


def test_score_to_roll_refuses():
    low = stream.Stream([note.Note(midi=20, quarterLength=1)])  # below A0
    with pytest.raises(DynsysError, match=r"MIDI 20\) .* outside the piano range MIDI 21\.\.108"):
        score_to_roll(low)
    high = stream.Stream([note.Note(midi=109, quarterLength=1)])
    with pytest.raises(DynsysError, match="MIDI 109"):
        score_to_roll(high)
    edge = stream.Stream([chord.Chord([21, 108], quarterLength=1)])
    np.testing.assert_array_equal(score_to_roll(edge), _expected(1, {0: {21, 108}}))
    with pytest.raises(DynsysError, match="score must be a music21 stream"):
        score_to_roll(np.zeros((3, 88)))
    assert score_to_roll(stream.Stream()).shape == (0, 88)


# BWV 269 (Riemenschneider 1, "Aus meines Herzens Grunde"), checked by hand ONCE: its four parts
# were listed note by note (offset, pitch, quarter length, tie) with
# ``corpus.parse("bach/bwv269").parts[i].flatten().notes`` and each voice's pitch at every quarter
# step read off that listing (a dotted quarter at 4.0 sounds at steps 4 and 5; an eighth at 5.5
# covers no step; the tie G4 24.0-25.5 in the alto and E3 30-32, G3 54-56, E3 57-58.5 in the bass
# keep sounding). It has 229 notes (S 46, A 61, T 59, B 63), no grace notes and no chords;
# highestTime 63.0, so T = 63. Step 0 is a G major chord G2 B3 D4 G4 = MIDI 43, 59, 62, 67.
# Voices never cross; the only unison is tenor = bass = G3 (55) at step 4, so the roll has
# 4 * 63 - 1 = 251 sounding cells; 150 cells start a run (the pitch was not sounding one step before).
BWV269 = {
    "S": [67, 67, 67, 74, 71, 71, 67, 67, 67, 71, 69, 69, 71, 74, 74, 72, 71, 69, 69, 67, 67,
          71, 71, 72, 74, 74, 74, 71, 69, 69, 67, 71, 71, 72, 74, 74, 72, 71, 71, 71, 67, 67,
          71, 74, 74, 72, 71, 71, 69, 67, 67, 71, 69, 69, 71, 74, 74, 72, 71, 69, 69, 67, 67],
    "A": [62, 62, 64, 62, 62, 62, 59, 64, 64, 67, 66, 66, 67, 62, 64, 66, 67, 67, 66, 62, 62,
          67, 67, 64, 67, 67, 67, 67, 66, 66, 64, 64, 66, 69, 69, 67, 67, 67, 67, 65, 64, 64,
          67, 69, 69, 66, 67, 67, 66, 66, 64, 67, 66, 66, 67, 69, 69, 67, 67, 67, 66, 62, 62],
    "T": [59, 59, 60, 57, 55, 54, 55, 60, 60, 62, 62, 62, 62, 57, 59, 60, 62, 64, 62, 59, 59,
          62, 62, 60, 59, 59, 62, 62, 62, 62, 59, 55, 59, 64, 62, 62, 62, 62, 62, 62, 60, 60,
          62, 62, 59, 60, 62, 62, 62, 59, 60, 62, 62, 62, 62, 62, 62, 64, 64, 64, 62, 59, 59],
    "B": [43, 55, 52, 54, 55, 50, 52, 48, 47, 43, 50, 50, 43, 42, 43, 45, 47, 48, 50, 43, 43,
          43, 43, 45, 47, 47, 47, 43, 50, 50, 52, 52, 50, 48, 47, 47, 50, 43, 47, 43, 48, 48,
          43, 42, 43, 45, 47, 43, 50, 52, 48, 45, 50, 50, 55, 55, 54, 52, 52, 48, 50, 43, 43],
}  # fmt: skip


def test_real_chorale_bwv269_by_hand():
    from music21 import corpus

    score = corpus.parse("bach/bwv269", forceSource=True)
    roll = score_to_roll(score)
    assert roll.shape == (63, 88)
    assert set(np.flatnonzero(roll[0]) + 21) == {43, 59, 62, 67}
    assert int(roll.sum()) == 251
    starts = roll.astype(bool) & ~np.vstack([np.zeros((1, 88), bool), roll[:-1].astype(bool)])
    assert int(starts.sum()) == 150
    expected = _expected(63, {k: {BWV269[v][k] for v in "SATB"} for k in range(63)})
    np.testing.assert_array_equal(roll, expected)
    top = roll.shape[1] - 1 - np.argmax(roll[:, ::-1], axis=1) + 21
    bottom = np.argmax(roll, axis=1) + 21
    assert top.tolist() == BWV269["S"] and bottom.tolist() == BWV269["B"]


# ---------------------------------------------------------------------------------------
# the split and the corpus (no parsing)
# ---------------------------------------------------------------------------------------


def test_split_rule_by_hand():
    # the rule written a second way: the first 16 hex digits of the sha256, mod 100
    for name in ("bwv269.mxl", "bwv267.mxl", "bwv281.krn", "bwv153.1.mxl"):
        h = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % 100
        want = "train" if h < 60 else "valid" if h < 80 else "test"
        assert chorale_split(name) == chorale_split(f"bach/{name}") == want
    assert [chorale_split(n) for n in ("bwv269.mxl", "bwv267.mxl", "bwv281.krn")] == [
        "train",
        "test",
        "valid",
    ]
    with pytest.raises(DynsysError, match="name must be a non-empty string"):
        chorale_split("")


def test_corpus_files_and_split_sizes(corpus_files):
    files, n_numbers, n_names = corpus_files
    assert (n_numbers, n_names, len(files)) == (N_NUMBERS, N_NAMES, N_FILES)
    rels = [rel for _, rel in files]
    assert len(set(rels)) == N_FILES
    assert rels[0] == "bach/bwv269.mxl"
    # bach/bwv69.6 resolves to the same file as bach/bwv69.6-a (corpus.parse reads the first match)
    assert ("bach/bwv69.6-a", "bach/bwv69.6-a.mxl") in files
    assert not any(name == "bach/bwv69.6" for name, _ in files)
    splits = [chorale_split(r) for r in rels]
    assert splits == [chorale_split(r) for r in rels]  # deterministic
    sizes = {s: splits.count(s) for s in ("train", "valid", "test")}
    assert sizes == SPLIT_SIZES
    assert abs(sizes["train"] / N_FILES - 0.6) < 0.05 and abs(sizes["test"] / N_FILES - 0.2) < 0.05


# ---------------------------------------------------------------------------------------
# load_chorales on a subset, and the cache
# ---------------------------------------------------------------------------------------


def _all_rolls(c):
    return c.train + c.valid + c.test, c.names["train"] + c.names["valid"] + c.names["test"]


@pytest.fixture(scope="module")
def corpus_files():
    return music._corpus_files(music21)


_PARSED: dict = {}  # the fast tests parse each of the first few chorales once


@pytest.fixture
def count_parses(monkeypatch, corpus_files):
    """Count the parses of load_chorales; each score is parsed once per module (score_to_roll only
    reads it) and the corpus listing is computed once, so the subset tests stay fast."""
    calls = []
    real = music._parse

    def counting(name):
        calls.append(name)
        if name not in _PARSED:
            _PARSED[name] = real(name)
        return _PARSED[name]

    monkeypatch.setattr(music, "_parse", counting)
    monkeypatch.setattr(music, "_corpus_files", lambda m21: corpus_files)
    return calls


def _refuse_parse(monkeypatch):
    def boom(name):
        raise AssertionError(f"parsed {name} although the cache is valid")

    monkeypatch.setattr(music, "_parse", boom)


def test_load_subset_and_cache_round_trip(tmp_path, monkeypatch, count_parses):
    path = tmp_path / "c.npz"
    first = load_chorales(cache=path, _limit=5)
    assert len(count_parses) == 5 and path.is_file()
    rolls, names = _all_rolls(first)
    assert set(names) == {
        "bach/bwv269.mxl", "bach/bwv347.mxl", "bach/bwv153.1.mxl", "bach/bwv86.6.mxl", "bach/bwv267.mxl"
    }  # fmt: skip
    assert first.names["test"] == ["bach/bwv267.mxl"] and first.names["valid"] == []
    assert first.provenance["distinct_files"] == 5 and first.provenance["limit"] == 5
    assert first.provenance["music21_version"] == music21.__version__
    for r in rolls:
        assert r.dtype == np.uint8 and r.ndim == 2 and r.shape[1] == 88
        assert set(np.unique(r)) <= {0, 1}
    np.testing.assert_array_equal(
        first.train[0], _expected(63, {k: {BWV269[v][k] for v in "SATB"} for k in range(63)})
    )

    _refuse_parse(monkeypatch)
    second = load_chorales(cache=path, _limit=5)
    again, names2 = _all_rolls(second)
    assert names2 == names and second.provenance == first.provenance
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(rolls, again))
    # the file holds no object arrays and reads with allow_pickle=False
    arrays = load_arrays(path, "test")
    assert set(arrays) == {"packed", "offsets", "names", "meta"}
    assert all(a.dtype != object for a in arrays.values())
    assert arrays["offsets"][-1] == sum(len(r) for r in rolls)


def test_cache_with_another_limit_is_not_reused(tmp_path, count_parses):
    path = tmp_path / "c.npz"
    load_chorales(cache=path, _limit=2)
    c = load_chorales(cache=path, _limit=3)
    assert len(count_parses) == 5 and c.provenance["distinct_files"] == 3


@pytest.mark.parametrize(
    "garbage", [b"", b"not a zip file at all", b"PK\x03\x04 truncated zip", b"\x80\x04pickle"]
)
def test_corrupt_cache_is_rebuilt(tmp_path, count_parses, garbage):
    path = tmp_path / "c.npz"
    path.write_bytes(garbage)
    c = load_chorales(cache=path, _limit=2)
    assert len(count_parses) == 2 and len(c.train) == 2
    load_chorales(cache=path, _limit=2)  # now valid: no new parse
    assert len(count_parses) == 2


def _rewrite(path, **changes):
    arrays = load_arrays(path, "test")
    for key, value in changes.items():
        arrays[key] = value
    save_arrays(path, arrays)


def test_stale_or_damaged_cache_is_rebuilt(tmp_path, count_parses):
    path = tmp_path / "c.npz"
    good = load_chorales(cache=path, _limit=2)
    meta = json.loads(str(load_arrays(path, "test")["meta"]))
    cases = [
        {"meta": np.array(json.dumps({**meta, "music21_version": "9.1.0"}))},  # stale music21
        {"meta": np.array(json.dumps({**meta, "format_version": 0}))},  # stale format
        {"meta": np.array("{not json")},
        {"offsets": np.array([0, 5, 3])},  # offsets that do not cover the rolls
        {"packed": np.zeros((3, 11), np.float64)},
    ]
    for n, change in enumerate(cases, start=1):
        _rewrite(path, **change)
        c = load_chorales(cache=path, _limit=2)
        assert len(count_parses) == 2 * (n + 1), change
        assert c.names == good.names
        assert json.loads(str(load_arrays(path, "test")["meta"]))["music21_version"] == music21.__version__


def test_rebuild_and_no_cache(tmp_path, count_parses, monkeypatch):
    path = tmp_path / "c.npz"
    load_chorales(cache=path, _limit=1)
    load_chorales(cache=path, _limit=1, rebuild=True)
    assert len(count_parses) == 2
    monkeypatch.chdir(tmp_path)
    c = load_chorales(cache=None, _limit=1)
    assert len(count_parses) == 3 and c.names["train"] == ["bach/bwv269.mxl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # cache=None wrote nothing


def test_progress_protocol(count_parses):
    seen = {}

    def progress(iterable, *, total=None, desc=None, initial=0):
        seen.update(total=total, desc=desc)
        return iterable

    load_chorales(cache=None, _limit=1, progress=progress)
    assert seen == {"total": 1, "desc": "parse chorales"}


def test_refused_arguments(tmp_path, count_parses):
    with pytest.raises(DynsysError, match="cache: .* is a folder"):
        load_chorales(cache=tmp_path, _limit=1)
    with pytest.raises(DynsysError, match="cache must be a path or None"):
        load_chorales(cache=3, _limit=1)
    with pytest.raises(DynsysError, match="_limit must be a positive integer"):
        load_chorales(cache=None, _limit=0)
    with pytest.raises(DynsysError, match="rebuild must be True or False"):
        load_chorales(cache=None, rebuild="yes", _limit=1)
    with pytest.raises(DynsysError, match="progress must be True, False or a callable"):
        load_chorales(cache=None, progress="bar", _limit=1)
    assert count_parses == []


def test_default_cache_path():
    from pathlib import Path

    root = Path(music.__file__).resolve().parents[2]
    assert music.DEFAULT_CACHE == root / "figures" / "data" / "chorales.npz"
    assert (root / "dynsys" / "training" / "music.py").is_file()


def test_without_music21(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(DynsysError) as e:
        load_chorales(cache=None)
    msg = str(e.value)
    assert msg == "load_chorales: needs music21; install it with pip install 'dynsys[music]'"
    assert "\n" not in msg


# ---------------------------------------------------------------------------------------
# the whole corpus (one parse, ~60 s here: slow)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("chorales") / "c.npz"
    t0 = time.perf_counter()
    c = load_chorales(cache=path)
    return path, c, time.perf_counter() - t0


@pytest.mark.slow
def test_whole_corpus(corpus_cache):
    _, c, _ = corpus_cache
    rolls, names = _all_rolls(c)
    assert len(rolls) == len(names) == len(set(names)) == N_FILES
    assert {s: len(getattr(c, s)) for s in ("train", "valid", "test")} == SPLIT_SIZES
    assert {s: len(c.names[s]) for s in ("train", "valid", "test")} == SPLIT_SIZES
    for split in ("train", "valid", "test"):
        assert all(chorale_split(n) == split for n in c.names[split])
    assert not (set(c.names["train"]) & set(c.names["valid"]) or set(c.names["train"]) & set(c.names["test"]))
    assert not set(c.names["valid"]) & set(c.names["test"])
    for r in rolls:
        assert r.dtype == np.uint8 and r.shape[1] == 88 and r.shape[0] >= 24
        assert set(np.unique(r)) <= {0, 1}
    assert sum(len(r) for r in rolls) == TOTAL_STEPS
    p = c.provenance
    assert (p["riemenschneider_numbers"], p["corpus_names"], p["distinct_files"]) == (
        N_NUMBERS,
        N_NAMES,
        N_FILES,
    )
    assert p["split_sizes"] == SPLIT_SIZES and p["limit"] is None


@pytest.mark.slow
def test_whole_corpus_cache_round_trip(corpus_cache, monkeypatch):
    path, c, _ = corpus_cache
    _refuse_parse(monkeypatch)
    again = load_chorales(cache=path)
    assert again.names == c.names and again.provenance == c.provenance
    for split in ("train", "valid", "test"):
        assert all(np.array_equal(a, b) for a, b in zip(getattr(c, split), getattr(again, split)))
