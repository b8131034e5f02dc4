"""The committed long-profile runs stay reusable: their store keys, run folders and checkpoints.

``figures/data/*.long.work/`` holds hours of training. A change of :func:`dynsys.runs.config_hash`,
:func:`dynsys.runs.run_key`, an experiment's sweep configs or the checkpoint format would silently
retrain them; these tests fail instead.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dynsys.runs import config_hash, run_key

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "figures" / "data"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"exp_{name}", ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_config_hash_and_run_key_are_frozen():
    # the values of the hash that keyed every store and result file so far (never change them)
    assert config_hash({"a": 1, "b": [1, 2]}) == "8baa73198470c7bb"
    assert run_key("logistic_lyapunov", {"r": 4.0, "steps": 500}) == "8bf56cd1a429d9c2"


def test_other_tasks_long_store_keys_are_the_committed_ones():
    store = DATA / "other_tasks.long.work" / "runs.sqlite"
    if not store.exists():
        pytest.skip("no committed other_tasks long store")
    mod = _load("other_tasks")
    _, cfgs = mod.sweep_configs(mod.EXPERIMENT.config("long"))
    # immutable: a read that leaves no -wal/-shm files beside the committed store
    with closing(sqlite3.connect(f"file:{store}?mode=ro&immutable=1", uri=True)) as con:
        statuses = dict(con.execute("SELECT key, status FROM runs"))
    keys = [run_key("train", c) for c in cfgs]
    assert {statuses.get(k) for k in keys} == {"done"}, "a rerun would retrain the committed ensembles"


@pytest.mark.parametrize("name", ["fig7_success_rate", "other_tasks"])
def test_committed_long_results_match_their_profile(name):
    """``dynsys reproduce --profile long`` reuses the committed result (same config hash)."""
    from dynsys.io import load_result, result_exists

    stem = DATA / f"{name}.long"
    if not result_exists(stem):
        pytest.skip(f"no committed {name} long result")
    _, meta = load_result(stem)
    assert meta["config_hash"] == config_hash(_load(name).EXPERIMENT.config("long"))
