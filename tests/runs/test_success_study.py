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


def test_claim_lines_count_what_they_say():
    from dynsys.runs.success_study import claim_lines

    at = np.full((1, 4, 2, 5), -1)
    at[0, 2, 0] = 100  # MSGD-CR 5/5 at L=20, MSGD 0/5: decided (p = 0.008)
    at[0, 1, 0, :2] = 100  # MSGD-C 2/5 at L=20
    at[0, 3, 1, :1] = 100  # MSGD-CR α=2 1/5 at L=50, all others 0: MSGD-CR not best there
    arrays = {
        "lengths": np.array([20, 50]),
        "alphas": np.array([4.0, 2.0]),
        "reached_1pct_at": at,
        "reached_zero_at": at,
    }
    metrics = {
        "inits": ["smart_tanh"],
        "variants": ["msgd", "msgd-c", "msgd-cr", "msgd-cr-a2"],
        "budget": 1000,
    }
    lines = claim_lines(arrays, metrics)
    assert "at 2 of 2 (initialization, length) points" in lines[0]
    assert "at least as many seeds as MSGD and MSGD-C at 2 of them" in lines[0]  # ties at L=50 count
    assert "strictly more than both at 1 (smart_tanh L=20)" in lines[0]
    assert "decided (Fisher p < 0.05) at 1 (smart_tanh L=20)" in lines[0]
    assert "L=20: 2 vs 0 (+2); L=50: 0 vs 0 (+0)" in lines[1]
    assert "1 vs 5 seeds solved" in lines[2]
    assert claim_lines(arrays, metrics, budget=50)[0].startswith(
        "- < 1 % wrong (paper's text), within 50 updates: some method solved a seed at 0 of 2"
    )
