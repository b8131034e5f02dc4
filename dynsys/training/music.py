"""Bach chorales as binary piano rolls: the natural data of the paper's Table 1 (polyphonic music).

The corpus is the set of Bach chorales that ships inside the ``music21`` package (no download):
``music21.corpus.chorales.Iterator()`` walks the 371 Riemenschneider numbers; several numbers name
the same chorale, so the numbers give 350 distinct corpus names, and those resolve to **349**
distinct source files (``bach/bwv69.6`` and ``bach/bwv69.6-a`` both resolve to
``bach/bwv69.6-a.mxl``, which is what ``music21.corpus.parse`` reads). Each distinct file is kept
once, in the order of its first Riemenschneider number (counts measured with music21 10.5.1).

The roll (:func:`score_to_roll`)
    All parts merged, sampled on quarter-note steps: ``T = ceil(score.highestTime)`` steps and 88
    columns, column ``j`` = MIDI pitch ``21 + j`` (A0 .. C8). Pitch ``p`` sounds at step ``k`` when
    ``onset <= k < onset + duration`` for some note of pitch ``p`` (onset and duration in quarter
    lengths, from ``score.flatten().notes``; a chord gives each of its pitches). Notes that cover
    no integer step (an eighth note on an off-beat) leave no trace: this is the quarter-note
    sampling of Boulanger-Lewandowski et al. (2012), whose JSB chorales the paper uses.

    * Ties need no special handling: the pieces of a tied note are back-to-back intervals
      ``[a, b)`` and ``[b, c)``, whose sampled union is the sampled ``[a, c)`` that
      ``stripTies()`` would give, so a tied note sounds continuously across a barline.
    * Grace notes (duration 0) cover no step and are dropped (the corpus has 3).
    * A pitch outside MIDI 21..108 raises :class:`~dynsys.errors.DynsysError` (the corpus has none:
      its range is MIDI 36..88).
    * Rolls are ``uint8`` arrays of 0 and 1 (exact and 8x smaller than float64); use
      ``roll.astype(float)`` as network inputs and targets.

The split (:func:`chorale_split`)
    Deterministic, by the first 8 bytes of the SHA-256 of the file's base name (e.g.
    ``bwv269.mxl``) read as a big-endian integer, mod 100: ``< 60`` train, ``< 80`` valid, else
    test. On the 349 files: **213 train, 71 valid, 65 test** (61 / 20 / 19 %). The corpus has
    18988 steps in all (mean T 54.4, min 24, max 193).

The cache
    Parsing the corpus takes about 30-60 s, so :func:`load_chorales` keeps the rolls in ONE
    ``.npz`` file (default :data:`DEFAULT_CACHE`, ``figures/data/chorales.npz`` of the checkout):
    the rolls concatenated and bit-packed (``packed``, shape ``(sum T, 11)``), ``offsets`` into
    them, the ``names`` (fixed-width unicode, no object arrays) and the provenance as JSON text
    (``meta``), read with ``allow_pickle=False``. The cache is keyed by the music21 version and
    :data:`FORMAT_VERSION`; a missing, stale or unreadable cache is rebuilt, never a crash.

Examples
--------
>>> from dynsys.training.music import chorale_split
>>> chorale_split("bach/bwv269.mxl"), chorale_split("bwv269.mxl")
('train', 'train')
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import posixpath
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from .._validate import progress_loop
from ..errors import DynsysError

__all__ = ["Chorales", "load_chorales", "score_to_roll", "chorale_split"]

#: MIDI pitch of column 0 of a roll (A0)
LOWEST_PITCH = 21
#: columns of a roll: the 88 keys of a piano, MIDI 21..108
N_PITCHES = 88
#: version of the cache layout and of the roll rules; bump it when either changes
FORMAT_VERSION = 1
#: the default cache file: ``figures/data/chorales.npz`` of the repository
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "figures" / "data" / "chorales.npz"

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")
SPLIT_RULE = "int.from_bytes(sha256(basename).digest()[:8], 'big') % 100: < 60 train, < 80 valid, else test"
SAMPLING_RULE = (
    "all parts merged; T = ceil(highestTime) quarter-note steps; pitch p sounds at step k when "
    "onset <= k < onset + duration (quarter lengths) for a note or chord pitch p; grace notes dropped; "
    "tied pieces are back-to-back, so a tied note sounds continuously; column j = MIDI 21 + j"
)
_KEYS = {"packed", "offsets", "names", "meta"}


@dataclass(frozen=True)
class Chorales:
    """The Bach chorales as binary piano rolls, split into train / valid / test.

    Attributes
    ----------
    train, valid, test : list of ndarray, each shape (T_i, 88), dtype uint8
        One roll per chorale: ``roll[k, j] == 1`` when MIDI pitch ``21 + j`` sounds at quarter-note
        step ``k`` (see :func:`score_to_roll`).
    names : dict of str to list of str
        ``names[split]``: the corpus file of each roll of that split, same order (e.g.
        ``"bach/bwv269.mxl"``).
    provenance : dict
        ``music21_version``, ``format_version``, ``riemenschneider_numbers`` (numbers iterated),
        ``corpus_names`` (distinct names they give), ``distinct_files`` (files kept),
        ``split_rule``, ``sampling_rule``, ``split_sizes``, ``total_steps``, ``built`` (UTC, ISO
        8601) and ``parse_seconds``.
    """

    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    names: dict[str, list[str]]
    provenance: dict


def chorale_split(name: str) -> Split:
    """The split of the corpus file ``name``, decided by a hash of its base name.

    ``int.from_bytes(sha256(basename).digest()[:8], "big") % 100``: below 60 train, below 80 valid,
    else test. Deterministic across runs, machines and Python versions (no ``hash()``).

    Parameters
    ----------
    name : str
        A corpus path such as ``"bach/bwv269.mxl"``; only the base name counts.

    Returns
    -------
    {"train", "valid", "test"}

    Examples
    --------
    >>> [chorale_split(n) for n in ("bwv269.mxl", "bwv267.mxl", "bwv281.krn")]
    ['train', 'test', 'valid']
    """
    if not isinstance(name, str) or not name:
        raise DynsysError(f"name must be a non-empty string, got {name!r}")
    base = posixpath.basename(name.replace("\\", "/"))
    h = int.from_bytes(hashlib.sha256(base.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if h < 60 else "valid" if h < 80 else "test"


def score_to_roll(score) -> np.ndarray:
    """The binary piano roll of a music21 stream, all parts merged, on quarter-note steps.

    Parameters
    ----------
    score : music21.stream.Stream
        A score, part or plain stream; every note and chord in it (at any depth) counts.

    Returns
    -------
    ndarray, shape (T, 88), dtype uint8
        ``T = ceil(score.highestTime)``; ``roll[k, j] = 1`` when MIDI pitch ``21 + j`` sounds at
        step ``k``, i.e. ``onset <= k < onset + duration`` (quarter lengths) for some note of that
        pitch. Grace notes (duration 0) are dropped; tied pieces join up (a tied note sounds
        continuously); a note shorter than a quarter that starts off the beat covers no step.

    Raises
    ------
    DynsysError
        When ``score`` is not a music21 stream, or a pitch lies outside MIDI 21..108.
    """
    if not (hasattr(score, "flatten") and hasattr(score, "highestTime")):
        raise DynsysError(f"score must be a music21 stream, got {type(score).__name__}")
    T = math.ceil(score.highestTime)
    roll = np.zeros((T, N_PITCHES), dtype=np.uint8)
    for el in score.flatten().notes:
        length = el.duration.quarterLength
        if length <= 0:  # grace note
            continue
        start = el.offset
        first, stop = math.ceil(start), min(math.ceil(start + length), T)
        if first >= stop:
            continue
        for p in el.pitches:
            midi = p.midi
            if not LOWEST_PITCH <= midi < LOWEST_PITCH + N_PITCHES:
                raise DynsysError(
                    f"score: pitch {p.nameWithOctave} (MIDI {midi}) at offset {float(start):g} is "
                    f"outside the piano range MIDI {LOWEST_PITCH}..{LOWEST_PITCH + N_PITCHES - 1}"
                )
            roll[first:stop, midi - LOWEST_PITCH] = 1
    return roll


# ---------------------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------------------


def _music21():
    try:
        import music21
        from music21 import common, corpus  # noqa: F401  (the submodules must import too)
        from music21.corpus import chorales  # noqa: F401
    except ImportError:
        raise DynsysError(
            "load_chorales: needs music21; install it with pip install 'dynsys[music]'"
        ) from None
    return music21


def _corpus_files(m21) -> tuple[list[tuple[str, str]], int, int]:
    """``([(corpus name, corpus file), ...], numbers iterated, distinct names)``: one entry per
    distinct source file, in the order of its first Riemenschneider number.

    The file is the one ``music21.corpus.parse(name)`` reads: the first of ``corpus.getWork(name)``.
    """
    from music21 import common, corpus
    from music21.corpus import chorales

    names = list(chorales.Iterator(returnType="filename"))
    root = str(common.getCorpusFilePath())
    files: dict[str, str] = {}
    for name in names:
        path = corpus.getWork(name)
        path = path[0] if isinstance(path, list) else path
        rel = os.path.relpath(str(path), root).replace(os.sep, "/")
        files.setdefault(rel, name)
    return [(name, rel) for rel, name in files.items()], len(names), len(set(names))


def _parse(name: str):
    """Parse the corpus work ``name`` from its source file (music21's pickle cache is not used)."""
    from music21 import corpus

    return corpus.parse(name, forceSource=True)


def _build(m21, progress, limit) -> tuple[list[np.ndarray], list[str], dict]:
    files, n_numbers, n_names = _corpus_files(m21)
    if limit is not None:
        files = files[:limit]
    rolls, names = [], []
    t0 = time.perf_counter()
    with progress_loop(progress, files, total=len(files), desc="parse chorales") as it:
        for name, rel in it:
            score = _parse(name)
            parsed = getattr(score.metadata, "corpusFilePath", None)
            if parsed is not None and str(parsed) != rel:
                raise DynsysError(f"load_chorales: {name} parsed {parsed}, expected {rel}")
            rolls.append(score_to_roll(score))
            names.append(rel)
    seconds = time.perf_counter() - t0
    sizes = {s: 0 for s in SPLITS}
    for rel in names:
        sizes[chorale_split(rel)] += 1
    prov = {
        "music21_version": m21.__version__,
        "format_version": FORMAT_VERSION,
        "riemenschneider_numbers": n_numbers,
        "corpus_names": n_names,
        "distinct_files": len(names),
        "limit": limit,
        "split_rule": SPLIT_RULE,
        "sampling_rule": SAMPLING_RULE,
        "split_sizes": sizes,
        "total_steps": int(sum(len(r) for r in rolls)),
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "parse_seconds": round(seconds, 2),
    }
    return rolls, names, prov


# ---------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------


def _key(m21_version: str, limit) -> dict:
    return {"music21_version": m21_version, "format_version": FORMAT_VERSION, "limit": limit}


def _save_cache(path: Path, rolls, names, prov) -> None:
    from ..io import save_arrays

    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    stacked = np.concatenate(rolls, axis=0) if rolls else np.zeros((0, N_PITCHES), np.uint8)
    save_arrays(
        path,
        {
            "packed": np.packbits(stacked, axis=1),
            "offsets": offsets,
            "names": np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1"),
            "meta": np.array(json.dumps(prov, sort_keys=True)),
        },
    )


def _load_cache(path: Path, key: dict):
    """``(rolls, names, provenance)`` from the cache, or None when it is missing, stale or unreadable."""
    from ..io import load_arrays

    if not path.is_file():
        return None
    try:
        arrays = load_arrays(path, "chorales cache")
        if set(arrays) != _KEYS:
            return None
        prov = json.loads(str(arrays["meta"]))
        if not isinstance(prov, dict) or any(prov.get(k) != v for k, v in key.items()):
            return None
        packed, offsets, names = arrays["packed"], arrays["offsets"], arrays["names"]
        ok = (
            packed.dtype == np.uint8
            and packed.ndim == 2
            and packed.shape[1] * 8 >= N_PITCHES
            and offsets.ndim == 1
            and np.issubdtype(offsets.dtype, np.integer)
            and names.ndim == 1
            and names.dtype.kind == "U"
            and len(offsets) == len(names) + 1
            and offsets[0] == 0
            and offsets[-1] == len(packed)
            and bool(np.all(np.diff(offsets) >= 0))
        )
        if not ok:
            return None
        stacked = np.unpackbits(packed, axis=1, count=N_PITCHES)
    except (DynsysError, ValueError, TypeError, KeyError, OSError):
        return None
    rolls = [stacked[a:b].copy() for a, b in itertools.pairwise(offsets)]
    return rolls, [str(n) for n in names], prov


def load_chorales(
    *,
    cache: str | os.PathLike | None = DEFAULT_CACHE,
    rebuild: bool = False,
    progress=None,
    _limit: int | None = None,
) -> Chorales:
    """The Bach chorales of music21 as binary piano rolls, split 60 / 20 / 20 (213 / 71 / 65).

    Parameters
    ----------
    cache : path or None
        The ``.npz`` cache file (default :data:`DEFAULT_CACHE`, ``figures/data/chorales.npz`` of the
        repository); None parses the corpus every call and writes nothing. A cache that is
        missing, written by another music21 version or format version, or unreadable (corrupt)
        is rebuilt and rewritten atomically.
    rebuild : bool
        Parse the corpus even when the cache is valid (and rewrite the cache).
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`) for the parse:
        True (a tqdm bar), False/None (silent) or ``progress(iterable, *, total=None, desc=None,
        initial=0)``.

    Returns
    -------
    Chorales
        349 rolls, each ``uint8`` of shape ``(T_i, 88)``, with their corpus file names and the
        provenance (see :class:`Chorales`).

    Raises
    ------
    DynsysError
        When music21 is not installed (``pip install 'dynsys[music]'``), or ``cache`` cannot be
        written.
    """
    if _limit is not None and (isinstance(_limit, bool) or not isinstance(_limit, int) or _limit < 1):
        raise DynsysError(f"_limit must be a positive integer or None, got {_limit!r}")
    if not isinstance(rebuild, bool):
        raise DynsysError(f"rebuild must be True or False, got {rebuild!r}")
    m21 = _music21()
    path = None
    if cache is not None:
        from ..io import check_writable_output

        if isinstance(cache, str | os.PathLike):
            path = Path(cache)
        else:
            raise DynsysError(f"cache must be a path or None, got {type(cache).__name__}")
    loaded = None
    if path is not None and not rebuild:
        loaded = _load_cache(path, _key(m21.__version__, _limit))
    if loaded is None:
        if path is not None:
            check_writable_output(path, "cache")  # before the long parse
        rolls, names, prov = _build(m21, progress, _limit)
        if path is not None:
            _save_cache(path, rolls, names, prov)
    else:
        rolls, names, prov = loaded
    parts: dict[str, tuple[list, list]] = {s: ([], []) for s in SPLITS}
    for roll, name in zip(rolls, names):
        r, n = parts[chorale_split(name)]
        r.append(roll)
        n.append(name)
    return Chorales(
        train=parts["train"][0],
        valid=parts["valid"][0],
        test=parts["test"][0],
        names={s: parts[s][1] for s in SPLITS},
        provenance=prov,
    )
