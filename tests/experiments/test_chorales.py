"""The chorales experiment (paper Table 1 on natural data) and its sweep runner."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.runs import RunContext
from dynsys.runs.runners import validate_sequence_config

ROOT = Path(__file__).resolve().parents[2]


def _mod():
    spec = importlib.util.spec_from_file_location("exp_chorales", ROOT / "experiments" / "chorales.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "config, match",
    [
        ({"dataset": "mnist"}, "dataset"),
        ({"n_units": 3}, "unknown config key.*n_units"),
        ({"corpus_limit": 0}, "corpus_limit"),
        ({"lr": "fast"}, "lr"),
    ],
)
def test_bad_sequence_configs_fail_before_anything_runs(config, match):
    with pytest.raises(DynsysError, match=match):
        validate_sequence_config(config)


@pytest.mark.parametrize("profile", ["default", "long"])
def test_profiles_follow_the_appendix_protocol_and_validate(profile):
    mod = _mod()
    cfg = mod.EXPERIMENT.config(profile)
    assert cfg["n_hidden"] == 300 and cfg["clip"] == 8.0 and cfg["alpha"] == 0.5 and cfg["halve_on_rise"]
    assert cfg["settings"][0] == {"units": "sigmoid", "lr": 1.0}
    for setting in cfg["settings"]:
        validate_sequence_config(mod._run_config(cfg, setting, cfg["seeds"][0]))


def test_a_tiny_run_resumes_from_its_store(tmp_path):
    pytest.importorskip("music21")
    mod = _mod()
    cfg = dict(mod.EXPERIMENT.config("default"), corpus_limit=10, n_hidden=6, epochs=2, seeds=[0, 1])
    arrays, metrics = mod.compute(cfg, RunContext(workdir=tmp_path))
    assert arrays["valid_nll"].shape == (2, 3, 2, 2) and np.isfinite(arrays["best_test_nll"]).all()
    # a rerun finds every run done in the store: same numbers, nothing trained
    again, _ = mod.compute(cfg, RunContext(workdir=tmp_path))
    np.testing.assert_array_equal(again["best_test_nll"], arrays["best_test_nll"])
    text = mod.report(arrays, {"config": cfg, "metrics": metrics, "profile": "default"})
    assert "| sigmoid | MSGD-C |" in text and "mean ± standard deviation over seeds" in text


@pytest.mark.slow
def test_the_default_profile_runs_and_learns(tmp_path):
    # what CI runs of this experiment: the whole default profile on the whole corpus
    pytest.importorskip("music21")
    mod = _mod()
    cfg = mod.EXPERIMENT.config("default")
    arrays, metrics = mod.compute(cfg, RunContext(workdir=tmp_path, jobs=2))
    assert (metrics["n_train"], metrics["n_valid"], metrics["n_test"]) == (213, 71, 65)
    test = arrays["best_test_nll"]  # (units, method, seed)
    assert np.isfinite(test).all() and np.all(test < 88 * np.log(2))
    # the sigmoid networks of the appendix beat the best model without memory (each key's
    # training-set frequency as its probability, every frame): learned from the data, not a constant
    from dynsys.training.music import load_chorales

    data = load_chorales(progress=False)
    p = np.concatenate([s[1:] for s in data.train]).mean(axis=0).clip(1e-6, 1 - 1e-6)
    x = np.concatenate([s[1:] for s in data.test]).astype(float)
    marginal = float(-(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1).mean())
    assert 11.0 < marginal < 12.5  # 11.67 on this split
    assert np.all(test[0] < marginal - 0.5), (test, marginal)
