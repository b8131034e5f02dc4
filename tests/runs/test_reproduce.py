"""The reproduce registry: config -> compute -> save -> draw, reuse on rerun, REPORT.md."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.runs import Experiment, config_hash, discover, find_root, run

ROOT = Path(__file__).resolve().parents[2]

TOY = """
import numpy as np
from dynsys.runs import Experiment
from dynsys.io import save_figure, write_text_atomic

CALLS = []

def compute(cfg, ctx):
    CALLS.append(cfg)
    (ctx.workdir).mkdir(parents=True, exist_ok=True)
    with (ctx.workdir / "calls.txt").open("a") as fh:
        fh.write("x")
    return {"y": np.arange(cfg["n"]) ** 2}, {"total": int((np.arange(cfg["n"]) ** 2).sum())}

def draw(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    fig, ax = new_figure()
    ax.plot(arrays["y"])
    save_figure(fig, figdir / "toy")
    return ["toy"]

def report(arrays, meta):
    return f"total = {meta['metrics']['total']}"

EXPERIMENT = Experiment(name="toy", title="Toy", checks="nothing", profiles={"default": {"n": 5}, "paper": {"n": 7}},
                        compute=compute, draw=draw, report=report)
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "experiments" / "toy.py").write_text(TOY)
    (tmp_path / "experiments" / "_helper.py").write_text("raise RuntimeError('never imported')")
    return tmp_path


def test_run_computes_saves_draws_and_reuses(project):
    report = run(project, progress=False, log=lambda s: None)
    assert report.name == "REPORT.md"
    text = report.read_text()
    assert "## Toy" in text and "total = 30" in text and "![toy](toy.png)" in text
    assert (project / "figures" / "toy.png").exists() and (project / "figures" / "toy.pdf").exists()
    calls = project / "figures" / "data" / "toy.default.work" / "calls.txt"
    assert calls.read_text() == "x"
    run(project, progress=False, log=lambda s: None)  # reuse: compute not called again
    assert calls.read_text() == "x"
    run(project, progress=False, force=True, log=lambda s: None)
    assert calls.read_text() == "xx"
    run(project, profile="paper", progress=False, log=lambda s: None)  # other config: computed
    assert "total = 91" in (project / "figures" / "paper" / "REPORT.md").read_text()
    assert (project / "figures" / "paper" / "toy.png").exists()
    assert "total = 30" in (project / "figures" / "REPORT.md").read_text()


def test_only_keeps_the_other_sections(project):
    (project / "experiments" / "toy2.py").write_text(
        TOY.replace('name="toy"', 'name="toy2"').replace('"toy"', '"toy2"')
    )
    run(project, only=["toy2"], progress=False, log=lambda s: None)
    text = (project / "figures" / "REPORT.md").read_text()
    assert "Not computed yet for this profile: toy" in text
    run(project, progress=False, log=lambda s: None)
    run(project, only=["toy"], progress=False, log=lambda s: None)
    text = (project / "figures" / "REPORT.md").read_text()
    assert "Not computed yet" not in text and text.count("## Toy") == 2


def test_long_profile_falls_back_to_default(project):
    exp = discover(project)[0]
    assert exp.config("long") == {"n": 5} and exp.config("paper") == {"n": 7}
    with pytest.raises(DynsysError, match="unknown profile"):
        exp.config("huge")


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_find_root(project, tmp_path_factory):
    assert find_root(project / "experiments") == project
    assert find_root(ROOT) == ROOT
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert find_root(elsewhere) == ROOT  # falls back to the checkout holding the package


def test_duplicate_names_rejected(project):
    shutil.copy(project / "experiments" / "toy.py", project / "experiments" / "toy2.py")
    with pytest.raises(DynsysError, match="duplicate experiment names: toy"):
        discover(project)


def test_every_registered_experiment_is_well_formed():
    exps = discover(ROOT)
    assert exps, "no experiments registered"
    for e in exps:
        assert isinstance(e, Experiment)
        assert "default" in e.profiles
        config_hash(e.config("default"))


@pytest.mark.slow
def test_gradient_flow_experiment_end_to_end(tmp_path):
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    (tmp_path / "pyproject.toml").write_text("")
    run(tmp_path, only=["gradient_flow"], progress=False, log=lambda s: None)
    from dynsys.io import load_result

    arrays, meta = load_result(tmp_path / "figures" / "data" / "gradient_flow.default")
    assert meta["metrics"]["bound_holds_everywhere"] is True
    rates = {(c["activation"], c["eta"]): c["fitted_rate_per_step"] for c in meta["metrics"]["cases"]}
    # the measured decay never beats the bound's rate from above and vanishes below η = 1
    for (_, eta), rate in rates.items():
        assert rate <= eta + 1e-9
    assert rates[("tanh", 0.5)] < 0.6 and rates[("tanh", 1.5)] > 1.0
    assert np.all(np.diff(arrays["tanh_0.5_mean"]) < 0)
