"""The test of the hypothesis on a monitor record (dynsys.training.report) and ``dynsys monitor``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.training import member_trains, monitor_report


def _rows(norms, clipped=None, events=(), crossings=(), every=25, member=0, method="msgd"):
    """Monitor rows of one member: the norms of updates 1..U, events and crossings at given updates."""
    U = len(norms)
    clipped = np.zeros(U, bool) if clipped is None else np.asarray(clipped, bool)
    rows = [
        {
            "update": 0,
            "member": member,
            "method": method,
            "seed": 0,
            "norms": [],
            "clipped": [],
            "events": [],
            "probes": {"crossing_updates": []},
        }
    ]
    for end in range(every, U + every, every):
        end = min(end, U)
        lo = rows[-1]["update"]
        rows.append(
            {
                "update": end,
                "member": member,
                "method": method,
                "seed": 0,
                "norms": [float(v) for v in norms[lo:end]],
                "clipped": [int(v) for v in clipped[lo:end]],
                "events": [{"update": int(t), "kind": "fold"} for t in events if lo < t <= end],
                "probes": {"crossing_updates": [int(t) for t in crossings if lo < t <= end]},
            }
        )
        if end == U:
            break
    return rows


def test_trains_index_updates_from_one():
    norms = np.arange(1.0, 101.0)
    tr = member_trains(_rows(norms, events=[10, 60], crossings=[99]))[0]
    np.testing.assert_array_equal(tr.norms, norms)  # norms[i] is update i + 1
    assert tr.bifurcations.tolist() == [9, 59] and tr.crossings.tolist() == [98]
    assert tr.n_updates == 100


def test_planted_coincidence_is_significant_and_independent_trains_are_not():
    rng = np.random.default_rng(3)
    U = 4000
    norms = rng.lognormal(0.0, 0.3, U)
    spikes = rng.choice(U, 40, replace=False) + 1  # updates 1..U
    norms[spikes - 1] = 100.0  # the top 1 % exactly
    planted = monitor_report(_rows(norms, events=spikes - 2), window=3, rng=0)
    d = planted.members[0]
    assert d["n_spikes"] == 40 and d["spike_rate"] == 1.0 and d["spike_p"] < 0.01 and d["event_p"] < 0.01
    # events independent of the spikes: p-values spread over (0, 1], not piled near 0
    ps = []
    for k in range(30):
        ev = np.random.default_rng(100 + k).choice(U, 40, replace=False) + 1
        ps.append(
            monitor_report(_rows(norms, events=ev), window=3, n_shifts=200, rng=k).members[0]["spike_p"]
        )
    ps = np.array(ps)
    assert np.mean(ps <= 0.05) <= 0.2 and np.median(ps) > 0.2


def test_no_spikes_is_a_clear_result():
    norms = np.full(100, np.nan)  # a run whose record has no norms (e.g. every update non-finite)
    rep = monitor_report(_rows(norms, events=[5]), top=0.0)
    assert rep.members[0]["message"] == "no spikes" and rep.members[0]["spike_p"] == 1.0


def test_clipped_updates_are_spikes_unless_told_otherwise():
    norms = np.ones(200)
    clipped = np.zeros(200, bool)
    clipped[[49, 149]] = True  # updates 50 and 150
    with_clips = monitor_report(_rows(norms, clipped, events=[50]), top=0.0, window=0, n_shifts=100)
    assert with_clips.members[0]["n_spikes"] == 2 and with_clips.members[0]["spike_rate"] == 0.5
    without = monitor_report(
        _rows(norms, clipped, events=[50]), top=0.0, window=0, n_shifts=100, clipped=False
    )
    assert without.members[0]["message"] == "no spikes"


def test_methods_pool_members_end_to_end():
    norms = np.ones(100)
    norms[[9, 59]] = 50.0
    rows = _rows(norms, events=[10]) + _rows(norms, events=[60], member=1)
    rep = monitor_report(rows, top=0.02, window=0, n_shifts=100)
    m = rep.methods["msgd"]
    assert m["n_members"] == 2 and m["n_updates"] == 200
    assert m["n_spikes"] == 4 and m["n_events"] == 2 and m["spike_rate"] == 0.5 and m["event_rate"] == 1.0


def test_bad_rows_are_refused():
    rows = _rows(np.ones(50))
    with pytest.raises(DynsysError, match="two rows"):
        member_trains(rows + rows[1:2])
    with pytest.raises(DynsysError, match="not a monitor row"):
        member_trains([{"update": 1}])
    with pytest.raises(DynsysError, match="no rows"):
        monitor_report([])
    with pytest.raises(DynsysError, match="events"):
        monitor_report(rows, events="spikes")
    with pytest.raises(DynsysError, match="norms"):
        member_trains([{**rows[1], "norms": [1.0]}])


def test_cli_on_a_monitored_run(tmp_path, run_cli):
    from dynsys.training import TrainConfig, train

    cfg = TrainConfig(task="flipflop_3bit", length=20, n_hidden=6, batch=5, updates=50, methods=("msgd-c",),
                      eval_every=25, eval_sequences=20, confirm_sequences=0)  # fmt: skip
    train(cfg, tmp_path / "run", monitor={"every": 25, "n_probes": 8})
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    code, out, err = run_cli("monitor", tmp_path / "run")
    assert code == 0 and err == "" and "msgd-c (pooled, 1)" in out
    code, out, err = run_cli("monitor", tmp_path / "run", "--json", "--events", "crossings", "--no-clipped")
    rep = json.loads(out)
    assert code == 0 and rep["options"]["events"] == "crossings" and rep["options"]["clipped"] is False
    assert rep["record"]["rows"] == 3 and rep["members"][0]["n_updates"] == 50
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before  # reading writes nothing
