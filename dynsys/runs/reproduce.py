"""The figure registry behind ``dynsys reproduce``.

Each figure or table is an *experiment*: a file ``experiments/NAME.py`` that defines
``EXPERIMENT = Experiment(...)``. An experiment is config → compute → save → draw
(DESIGN rule 12): ``compute`` takes the profile's config and returns arrays and metrics (it never
draws); the result is saved with the config, its hash, the seed, the package version and the git
commit; ``draw`` only loads a result and makes figures; ``report`` turns the result into the
numbers printed in ``figures/REPORT.md``.

Reruns reuse a saved result whose config hash matches (``force=True`` recomputes).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validate import progress_wrapper
from ..errors import DynsysError
from .store import config_hash

__all__ = [
    "Experiment",
    "RunContext",
    "find_root",
    "discover",
    "run",
    "report_dir",
    "PROFILES",
]


PROFILES = ("default", "long", "paper")


@dataclass
class RunContext:
    """What an experiment's ``compute`` gets besides its config.

    Attributes
    ----------
    workdir : Path
        A private folder for checkpoints (``figures/data/NAME.work``); resumable experiments keep
        partial results there.
    profile : str
        The profile name.
    jobs : int
        Worker processes the experiment may use.
    scheduler : str or None
        A Dask scheduler address, when the user gave one.
    progress : callable
        ``progress(iterable, *, total=None, desc=None, initial=0)`` wraps an iterable in a
        progress bar (the package's protocol, :func:`dynsys._validate.progress_wrapper`).
    """

    workdir: Path
    profile: str = "default"
    jobs: int = 1
    scheduler: str | None = None
    progress: Callable[..., Iterable] = field(default=lambda it, **kw: it)


@dataclass(frozen=True)
class Experiment:
    """A registered figure/table of ``dynsys reproduce``.

    Attributes
    ----------
    name : str
        Identifier (``--only NAME``), also the stem of its result file.
    title : str
        One line for REPORT.md.
    checks : str
        What the figure shows and what it checks (markdown).
    profiles : mapping
        Profile name -> JSON-able config dict. ``"default"`` is required; ``"long"`` and
        ``"paper"`` fall back to the next smaller profile when absent.
    compute : callable
        ``compute(config, ctx) -> (arrays: dict[str, ndarray], metrics: dict)``.
    draw : callable
        ``draw(arrays, meta, figdir) -> list[str]``: figure stems written under ``figdir``
        (via :func:`dynsys.io.save_figure`).
    report : callable
        ``report(arrays, meta) -> str``: markdown with the numbers found.
    order : int
        Position in the report.
    """

    name: str
    title: str
    checks: str
    profiles: Mapping[str, Mapping[str, Any]]
    compute: Callable
    draw: Callable
    report: Callable
    order: int = 100

    def config(self, profile: str) -> dict:
        if profile not in PROFILES:
            raise DynsysError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        chain = PROFILES[: PROFILES.index(profile) + 1][::-1]
        for p in chain:
            if p in self.profiles:
                return dict(self.profiles[p])
        raise DynsysError(f"experiment {self.name} has no 'default' profile")


def find_root(start=None) -> Path:
    """The project root: the nearest folder above ``start`` (default: cwd) with ``experiments/``.

    Falls back to the source checkout that holds this package (an editable install).
    """
    here = Path(start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "experiments").is_dir() and (cand / "pyproject.toml").exists():
            return cand
    pkg_root = Path(__file__).resolve().parents[2]  # dynsys/runs/reproduce.py -> the checkout
    if (pkg_root / "experiments").is_dir():
        return pkg_root
    raise DynsysError("cannot find the experiments/ folder; run from the dynsys checkout or pass --root DIR")


def discover(root) -> list[Experiment]:
    """Load every ``experiments/*.py`` (not starting with ``_``) and collect its ``EXPERIMENT``."""
    root = Path(root)
    exp_dir = root / "experiments"
    if not exp_dir.is_dir():
        raise DynsysError(f"--root: {root} has no experiments/ folder")
    found = []
    for path in sorted(exp_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"dynsys_experiment_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        exps = getattr(module, "EXPERIMENTS", None) or [getattr(module, "EXPERIMENT", None)]
        found.extend(e for e in exps if isinstance(e, Experiment))
    names = [e.name for e in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise DynsysError(f"duplicate experiment names: {', '.join(sorted(dupes))}")
    return sorted(found, key=lambda e: (e.order, e.name))


def run(
    root=None,
    profile: str = "default",
    only: Iterable[str] | None = None,
    force: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Compute (or reuse), draw and report every experiment. Returns the path of REPORT.md."""
    from .. import io

    root = find_root(root)
    if profile not in PROFILES:
        raise DynsysError(f"unknown --profile {profile!r}; known: {', '.join(PROFILES)}")
    all_exps = discover(root)
    exps = all_exps
    if only:
        only = list(only)
        known = {e.name for e in all_exps}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise DynsysError(
                f"unknown experiment(s) for --only: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        exps = [e for e in all_exps if e.name in only]
    datadir = root / "figures" / "data"
    figdir = report_dir(root, profile)
    prog = progress_wrapper(bool(progress))
    inner = functools.partial(prog, leave=False) if progress else prog  # inner bars vanish when done
    sections = {}
    t_all = time.perf_counter()
    for exp in prog(exps, desc="reproduce", leave=True):
        cfg = exp.config(profile)
        h = config_hash(cfg)
        stem = datadir / f"{exp.name}.{profile}"
        saved = None if force else _load_matching(stem, h)
        reuse = saved is not None
        if reuse:
            arrays, meta = saved
        else:
            ctx = RunContext(
                workdir=datadir / f"{exp.name}.{profile}.work",
                profile=profile,
                jobs=jobs,
                scheduler=scheduler,
                progress=inner,
            )
            t0 = time.perf_counter()
            arrays, metrics = exp.compute(cfg, ctx)
            meta = {
                "experiment": exp.name,
                "profile": profile,
                "config": cfg,
                "config_hash": h,
                "metrics": metrics,
                "seconds": time.perf_counter() - t0,
                **io.provenance(root),
            }
            io.save_result(stem, arrays, meta)
            arrays, meta = io.load_result(stem)  # draw only from what was saved
        stems = exp.draw(arrays, meta, figdir)
        io.write_text_atomic(stem.with_name(stem.name + ".figures.json"), json.dumps(list(stems)) + "\n")
        sections[exp.name] = _section(exp, meta, stems, exp.report(arrays, meta), reused=reuse)
        rel = figdir.relative_to(root)
        log(
            f"{exp.name}: {'reused' if reuse else 'computed'} in {meta['seconds']:.1f} s -> "
            + ", ".join(f"{rel}/{s}.png" for s in stems)
        )
    total = time.perf_counter() - t_all
    # the report covers every experiment: those not run now contribute their saved result, if any
    missing = []
    for exp in all_exps:
        if exp.name in sections:
            continue
        stem = datadir / f"{exp.name}.{profile}"
        saved = _load_matching(stem, config_hash(exp.config(profile)))
        figs = stem.with_name(stem.name + ".figures.json")
        if saved is None or not figs.exists():
            missing.append(exp.name)
            continue
        arrays, meta = saved
        stems = json.loads(figs.read_text(encoding="utf-8"))
        sections[exp.name] = _section(exp, meta, stems, exp.report(arrays, meta), reused=True)
    ordered = [sections[e.name] for e in all_exps if e.name in sections]
    report = _report(profile, ordered, total, root, only, missing)
    path = figdir / "REPORT.md"
    io.write_text_atomic(path, report)
    return path


def report_dir(root, profile: str) -> Path:
    """Where a profile's figures and REPORT.md go: ``figures/`` (default) or ``figures/<profile>/``."""
    root = Path(root)
    return root / "figures" if profile == "default" else root / "figures" / profile


def _load_matching(stem: Path, h: str):
    """The saved result at ``stem`` if its config hash is ``h``, else None."""
    from .. import io

    if not io.result_exists(stem):
        return None
    try:
        arrays, meta = io.load_result(stem)
    except DynsysError:
        return None
    return (arrays, meta) if meta.get("config_hash") == h else None


def _section(exp: Experiment, meta: dict, stems: list[str], numbers: str, reused: bool) -> str:
    lines = [f"## {exp.title}", "", f"*Experiment* `{exp.name}` — {exp.checks}", ""]
    for s in stems:
        lines += [f"![{s}]({s}.png)", ""]
    lines += ["**Numbers found**", "", numbers.strip(), ""]
    lines += [
        f"<details><summary>config ({meta['profile']} profile, hash {meta['config_hash']}, "
        f"{meta['seconds']:.1f} s{', reused' if reused else ''}, commit {str(meta.get('git_commit'))[:10]})"
        "</summary>",
        "",
        "```json",
        json.dumps(meta["config"], indent=2, sort_keys=True),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def _report(profile, sections, total, root, only, missing=()) -> str:
    from .. import io

    prov = io.provenance(root)
    head = [
        "# dynsys — reproduction report",
        "",
        "Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks* "
        "(ICML 2013), regenerated by `dynsys reproduce`"
        + (f" --profile {profile}" if profile != "default" else "")
        + (f" --only {' '.join(only)}" if only else "")
        + ".",
        "",
        f"Profile `{profile}`, dynsys {prov['dynsys_version']}, commit {prov['git_commit']}; "
        f"this run took {total:.1f} s (reused results count their original compute time below).",
        "",
    ]
    if missing:
        head += [
            f"Not computed yet for this profile: {', '.join(missing)} "
            f"(`dynsys reproduce{'' if profile == 'default' else ' --profile ' + profile}`).",
            "",
        ]
    return "\n".join(head + sections)
