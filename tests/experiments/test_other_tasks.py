"""End-to-end test of the other-tasks experiment at a tiny size (sweep → store → draw → report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dynsys.runs import RunContext, SweepSpec

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("exp_other_tasks", ROOT / "experiments" / "other_tasks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TINY = dict(
    n_hidden=4,
    seeds=[0, 1],
    length_range=[10, 14],
    memorization_lengths=[4],
    generalize_lengths=[12, 30],
    updates=20,
    eval_every=10,
    eval_sequences=20,
    confirm_sequences=20,
    checkpoint_every=10,
)


def test_tiny_end_to_end_and_rerun_reuses_the_store(tmp_path):
    pytest.importorskip("matplotlib")
    from dynsys.training import TrainConfig, train

    mod = _load()
    exp = mod.EXPERIMENT
    cfg = dict(exp.config("default"), **TINY)
    ctx = RunContext(workdir=tmp_path / "work", jobs=1)
    arrays, metrics = exp.compute(cfg, ctx)
    labels, cfgs = mod.sweep_configs(cfg)
    J, S = len(cfgs), 2
    assert metrics["labels"] == labels and J == 6  # 4 variable-length tasks + 2 memorization variants
    assert metrics["sweep"] == {"done": J, "skipped": 0, "seconds": metrics["sweep"]["seconds"]}
    assert arrays["best_error"].shape == (J, S)
    np.testing.assert_array_equal(arrays["success_rate"], (arrays["solved_at"] >= 0).mean(axis=1))
    np.testing.assert_array_equal(arrays["train_length"][0], [10, 14])
    np.testing.assert_array_equal(arrays["train_length"][-1], [4, 4])
    assert arrays["generalize_error"].shape == (2, 2, S)
    assert np.all((arrays["generalize_error"] >= 0) & (arrays["generalize_error"] <= 1))
    # independent truth: the same ensemble trained directly, outside the sweep
    j = labels.index("multiplication")
    c = {k: tuple(v) if isinstance(v, list) else v for k, v in cfgs[j].items() if k != "generalize_lengths"}
    h = train(TrainConfig.from_dict(c))
    assert h.config.length == (10, 14) and h.members == [("smart_tanh", "msgd-cr", s) for s in (0, 1)]
    np.testing.assert_array_equal(arrays["best_error"][j], np.nanmin(h.error, axis=0))
    np.testing.assert_array_equal(arrays["solved_at"][j], h.solved_at)
    # a rerun trains nothing and gives identical arrays
    arrays2, metrics2 = exp.compute(cfg, ctx)
    assert metrics2["sweep"]["done"] == 0 and metrics2["sweep"]["skipped"] == J
    for k in arrays:
        np.testing.assert_array_equal(arrays2[k], arrays[k])
    meta = {"config": cfg, "metrics": metrics, "profile": "default"}
    stems = exp.draw(arrays, meta, tmp_path)
    assert stems == ["other_tasks"] and (tmp_path / "other_tasks.png").stat().st_size > 10_000
    text = exp.report(arrays, meta)
    assert "| memorization_20bit L=4 |" in text and "| addition |" in text and "L=30" in text


@pytest.mark.parametrize("profile", ["default", "long", "paper"])
def test_profiles_follow_the_paper_protocol_and_validate(profile, tmp_path):
    mod = _load()
    cfg = mod.EXPERIMENT.config(profile)
    labels, cfgs = mod.sweep_configs(cfg)
    SweepSpec("train", tuple(cfgs), tmp_path / "s.sqlite")  # every config passes the runner's validation
    assert not (tmp_path / "s.sqlite").exists()
    for c in cfgs:
        assert (c["lr"], c["clip"], c["alpha"], c["methods"], c["inits"]) == (
            0.01,
            1.0,
            4.0,
            ["msgd-cr"],
            ["smart_tanh"],
        )
        assert len(c["seeds"]) == 5
    assert {c["task"] for c in cfgs} == {
        "addition",
        "multiplication",
        "temporal_order_3bit",
        "random_permutation",
        "memorization_5bit",
        "memorization_20bit",
    }
    gen = [c for c in cfgs if "generalize_lengths" in c]
    assert sorted(c["task"] for c in gen) == ["addition", "multiplication"]
    assert max(gen[0]["generalize_lengths"]) > cfg["length_range"][1]
    if profile == "paper":
        assert cfg["length_range"] == [50, 200] and cfg["memorization_lengths"] == [50, 100, 150, 200]
        assert max(gen[0]["generalize_lengths"]) == 500 and cfg["updates"] == 5_000_000
