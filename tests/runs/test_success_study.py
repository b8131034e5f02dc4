"""The success study behind Fig. 7: its grid, its α axis and its tables equal direct training."""

from __future__ import annotations

import numpy as np

from dynsys.runs import RunContext
from dynsys.runs.success_study import decided_differences, run_study, study_tables, train_configs, variants
from dynsys.training import TrainConfig, train

CONFIG = dict(
    task="temporal_order",
    inits=["smart_tanh"],
    lengths=[10],
    n_hidden=12,
    batch=10,
    lr=0.05,
    clip=1.0,
    alphas=[4.0, 2.0],
    seeds=[0, 1],
    success="zero",
    updates=300,
    eval_every=100,
    eval_sequences=100,
    confirm_sequences=400,
    checkpoint_every=100,
    check_every=20,
    check_sequences=50,
)


def test_variants_and_grid():
    assert [v[0] for v in variants([4, 2])] == ["msgd", "msgd-c", "msgd-cr", "msgd-cr-a2"]
    cfgs = train_configs(CONFIG)
    assert list(cfgs) == [("smart_tanh", 10, 4.0), ("smart_tanh", 10, 2.0)]
    assert cfgs[("smart_tanh", 10, 2.0)]["methods"] == ["msgd-cr"]
    assert cfgs[("smart_tanh", 10, 2.0)]["alpha"] == 2.0


def test_study_equals_direct_training(tmp_path):
    arrays, metrics = run_study(CONFIG, RunContext(workdir=tmp_path / "work"))
    assert metrics["variants"] == ["msgd", "msgd-c", "msgd-cr", "msgd-cr-a2"]
    assert arrays["reached_zero_at"].shape == (1, 4, 1, 2)
    for (_, _, a), d in train_configs(CONFIG).items():
        h = train(TrainConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}))
        for k, (_, meth, seed) in enumerate(h.members):
            v = metrics["variants"].index(meth if a == 4.0 else "msgd-cr-a2")
            s = CONFIG["seeds"].index(seed)
            for r in ("1pct", "zero"):
                assert arrays[f"reached_{r}_at"][0, v, 0, s] == h.reached_at[r][k]
            assert arrays["updates_done"][0, v, 0, s] == h.updates_done[k]
    np.testing.assert_array_equal(arrays["success_zero"], (arrays["reached_zero_at"] >= 0).mean(axis=-1))
    text = "\n".join(study_tables(arrays, metrics))
    assert "MSGD-CR (α=2)" in text and "0 wrong (authors' code)" in text
    # a budget below every success: nothing solved, nothing decided
    early = "\n".join(study_tables(arrays, metrics, budget=0))
    assert "| 2/2" not in early and "| 1/2" not in early
    assert decided_differences(arrays, metrics, budget=0) == []
