"""The reproduce registry: config -> compute -> save -> draw, reuse on rerun, REPORT.md."""

import re
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


def test_find_root(project, tmp_path_factory, monkeypatch):
    assert find_root(project) == project
    assert find_root(str(project)) == project
    assert find_root(ROOT) == ROOT
    monkeypatch.chdir(project / "experiments")  # only the implicit search walks up from the cwd
    assert find_root() == project
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert find_root() == ROOT  # falls back to the checkout holding the package


def test_explicit_root_is_never_searched_around(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    missing = elsewhere / "nonexistent"
    with pytest.raises(DynsysError, match=f"^root {missing} does not exist$"):
        find_root(missing)
    with pytest.raises(DynsysError, match=r"^root .* is not a dynsys checkout \(no experiments/ folder\)$"):
        find_root(elsewhere)
    with pytest.raises(DynsysError, match="is not a dynsys checkout"):
        find_root(project / "experiments")  # a folder inside the checkout is not the checkout
    with pytest.raises(DynsysError, match="is not a folder"):
        find_root(project / "pyproject.toml")
    with pytest.raises(DynsysError, match="root must be a folder path"):
        find_root(3)
    with pytest.raises(DynsysError, match="does not exist"):
        run(missing, progress=False, log=lambda s: None)
    assert not missing.exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "huge"}, r"^unknown profile 'huge'; known: default, long, paper$"),
        ({"only": ["toy", "nope"]}, r"^only names unknown experiment\(s\) nope; known: toy$"),
        ({"only": [3]}, "only must be a list of experiment names, got 3"),
        ({"only": 3}, "only must be a list of experiment names"),
        ({"jobs": 0}, "jobs must be >= 1, got 0"),
        ({"jobs": "two"}, "jobs must be an integer"),
        ({"scheduler": "notaurl"}, r"^scheduler must be an address like tcp://HOST:PORT, got 'notaurl'$"),
        ({"scheduler": "tcp://host:99999"}, "scheduler must be an address"),
        ({"log": "print"}, "log must be a function"),
    ],
)
def test_bad_arguments_fail_before_anything_runs(project, kwargs, match):
    with pytest.raises(DynsysError, match=match):
        run(project, progress=False, **{"log": lambda s: None, **kwargs})
    assert not (project / "figures").exists()


def test_only_takes_one_name_as_a_string(project):
    run(project, only="toy", progress=False, log=lambda s: None)
    assert "`dynsys reproduce --only toy`" in (project / "figures" / "REPORT.md").read_text()


def _three_toys(project):
    for name in ("toy2", "toy3"):
        (project / "experiments" / f"{name}.py").write_text(
            TOY.replace('name="toy"', f'name="{name}"')
            .replace('"toy"', f'"{name}"')
            .replace('title="Toy"', f'title="Toy {name}"')
        )


def _sections(text):
    """The sections of a report (marker line to the next marker), by name."""
    marks = list(re.finditer(r"^<!-- dynsys:section (\S+) -->$", text, re.MULTILINE))
    return {
        m[1]: text[m.start() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))].rstrip("\n")
        for i, m in enumerate(marks)
    }


def test_fresh_clone_keeps_the_sections_it_did_not_recompute(project):
    """REPORT.md is committed, figures/data is not: rerunning one experiment keeps the others."""
    _three_toys(project)
    report = run(project, progress=False, log=lambda s: None)
    before = report.read_text()
    old = _sections(before)
    assert list(old) == ["toy", "toy2", "toy3"]
    shutil.rmtree(project / "figures" / "data")  # a fresh clone: the results are gitignored
    run(project, only=["toy2"], progress=False, log=lambda s: None)
    after = report.read_text()
    new = _sections(after)
    assert list(new) == ["toy", "toy2", "toy3"]
    assert new["toy"] == old["toy"] and new["toy3"] == old["toy3"]  # byte-identical
    assert old["toy"] in after and old["toy3"] in after
    assert "Not computed yet" not in after
    assert "Computed in this run: toy2." in after
    assert "Kept verbatim from an earlier report (no saved result here): toy, toy3." in after  # no git here
    assert "`dynsys reproduce --only toy2`" in after
    # and again: the kept sections survive any number of partial reruns
    run(project, only=["toy2"], force=True, progress=False, log=lambda s: None)
    again = _sections(report.read_text())
    assert again["toy"] == old["toy"] and again["toy3"] == old["toy3"]
    # the header names the commit each kept section was computed at (from its config line)
    report.write_text(report.read_text().replace("commit None)", "commit 1234abcd00)"))
    run(project, only=["toy2"], progress=False, log=lambda s: None)
    text = report.read_text()
    assert "Reused from saved results: toy2." in text
    assert "(no saved result here, computed at commit 1234abcd00): toy, toy3." in text


def test_fresh_clone_keeps_sections_of_a_report_without_markers(project):
    """A report written before the section markers is split at its headings."""
    _three_toys(project)
    report = run(project, progress=False, log=lambda s: None)
    old = _sections(report.read_text())
    legacy = "\n".join(line for line in report.read_text().splitlines() if "dynsys:section" not in line)
    report.write_text(legacy + "\n")
    shutil.rmtree(project / "figures" / "data")
    run(project, only=["toy3"], progress=False, log=lambda s: None)
    new = _sections(report.read_text())
    assert list(new) == ["toy", "toy2", "toy3"]
    assert new["toy"] == old["toy"] and new["toy2"] == old["toy2"]


def test_kept_section_with_a_changed_config_is_flagged_and_new_ones_are_not_computed(project):
    _three_toys(project)
    report = run(project, only=["toy", "toy2"], progress=False, log=lambda s: None)
    assert "Not computed yet for this profile: toy3" in report.read_text()
    old = _sections(report.read_text())
    shutil.rmtree(project / "figures" / "data")
    src = project / "experiments" / "toy2.py"
    src.write_text(src.read_text().replace('{"default": {"n": 5}', '{"default": {"n": 6}'))
    run(project, only=["toy"], progress=False, log=lambda s: None)
    text = report.read_text()
    assert _sections(text)["toy2"] == old["toy2"]
    assert "Their config has changed since, rerun them: toy2" in text
    assert "Not computed yet for this profile: toy3" in text  # never computed: nothing to keep
    assert "toy3" not in _sections(text)


def test_saved_results_win_over_the_old_report(project):
    _three_toys(project)
    report = run(project, progress=False, log=lambda s: None)
    report.write_text(report.read_text().replace("total = 30", "total = EDITED"))
    run(project, only=["toy2"], progress=False, log=lambda s: None)
    text = report.read_text()
    assert "EDITED" not in text and text.count("total = 30") == 3
    assert "Reused from saved results: toy, toy2, toy3." in text and "Kept verbatim" not in text


def test_committed_report_splits_into_its_sections():
    from dynsys.runs.reproduce import _read_sections

    text = (ROOT / "figures" / "REPORT.md").read_text(encoding="utf-8")
    sections = _read_sections(ROOT / "figures" / "REPORT.md")
    assert sections and list(sections) == re.findall(r"^\*Experiment\* `([^`]+)`", text, re.MULTILINE)
    for name, chunk in sections.items():
        assert chunk.startswith(f"<!-- dynsys:section {name} -->\n## ")
        assert f"*Experiment* `{name}`" in chunk and chunk.endswith("</details>\n\n")


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


def test_an_experiment_without_its_optional_package_is_skipped_with_one_line(project):
    needy = TOY.replace('name="toy", title="Toy"', 'name="needy", title="Needy"').replace(
        "compute=compute,", "compute=compute, requires=('dynsys_no_such_package',), extra='music',"
    )
    (project / "experiments" / "needy.py").write_text(needy)
    lines = []
    report = run(project, progress=False, log=lines.append)
    assert "needy: skipped (needs dynsys_no_such_package; pip install 'dynsys[music]')" in lines
    text = report.read_text()
    assert "Skipped in this run (optional packages missing): needy (pip install 'dynsys[music]')." in text
    assert "total = 30" in text and "## Needy" not in text  # the others ran
    assert not (project / "figures" / "data" / "needy.default.work").exists()


def test_the_chorales_experiment_declares_music21():
    exp = next(e for e in discover(ROOT) if e.name == "chorales")
    assert exp.requires == ("music21",) and exp.extra == "music"
