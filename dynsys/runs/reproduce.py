"""The figure registry behind ``dynsys reproduce``.

Each figure or table is an *experiment*: a file ``experiments/NAME.py`` that defines
``EXPERIMENT = Experiment(...)``. An experiment is config → compute → save → draw
(DESIGN rule 12): ``compute`` takes the profile's config and returns arrays and metrics (it never
draws); the result is saved with the config, its hash, the seed, the package version and the git
commit; ``draw`` only loads a result and makes figures; ``report`` turns the result into the
numbers printed in ``figures/REPORT.md``.

Reruns reuse a saved result whose config hash matches (``force=True`` recomputes).

REPORT.md has one section per experiment, each opened by the marker line
``<!-- dynsys:section NAME -->`` (invisible in Markdown). A run rewrites the sections of the
experiments it ran and of those whose saved result is on disk; the section of any other
experiment is kept verbatim from the existing REPORT.md (results are not committed, the report
is: a fresh clone that reruns one figure keeps the others). The header says which sections were
computed, reused or kept, and from which commit.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
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
    requires : tuple of str
        Optional packages (import names) that ``compute`` needs; without them ``dynsys reproduce``
        skips the experiment with one line (a saved result is still drawn and reported).
    extra : str or None
        The dynsys extra that installs them (``pip install 'dynsys[EXTRA]'``).
    """

    name: str
    title: str
    checks: str
    profiles: Mapping[str, Mapping[str, Any]]
    compute: Callable
    draw: Callable
    report: Callable
    order: int = 100
    requires: tuple[str, ...] = ()
    extra: str | None = None

    def missing(self) -> list[str]:
        """The packages of :attr:`requires` that are not installed."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def install_hint(self) -> str:
        """How to install what :meth:`missing` lists."""
        return (
            f"pip install 'dynsys[{self.extra}]'" if self.extra else "pip install " + " ".join(self.missing())
        )

    def skip_line(self) -> str:
        """The one line ``dynsys reproduce`` prints when it skips this experiment."""
        return f"{self.name}: skipped (needs {', '.join(self.missing())}; {self.install_hint()})"

    def config(self, profile: str) -> dict:
        if profile not in PROFILES:
            raise DynsysError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        chain = PROFILES[: PROFILES.index(profile) + 1][::-1]
        for p in chain:
            if p in self.profiles:
                return dict(self.profiles[p])
        raise DynsysError(f"experiment {self.name} has no 'default' profile")


def find_root(start=None) -> Path:
    """The project root: a folder with ``experiments/``.

    With ``start`` given, that folder itself must be a dynsys checkout (it is never searched
    around: a typo must not silently pick another checkout). With ``start=None``, the nearest
    folder at or above the current one with ``experiments/`` and ``pyproject.toml``, else the
    source checkout that holds this package (an editable install).
    """
    if start is not None:
        if not isinstance(start, (str, os.PathLike)):
            raise DynsysError(f"root must be a folder path, got {start!r}")
        path = Path(start).expanduser()
        if not path.exists():
            raise DynsysError(f"root {start} does not exist")
        if not path.is_dir():
            raise DynsysError(f"root {start} is not a folder")
        if not (path / "experiments").is_dir():
            raise DynsysError(f"root {start} is not a dynsys checkout (no experiments/ folder)")
        return path.resolve()
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "experiments").is_dir() and (cand / "pyproject.toml").exists():
            return cand
    pkg_root = Path(__file__).resolve().parents[2]  # dynsys/runs/reproduce.py -> the checkout
    if (pkg_root / "experiments").is_dir():
        return pkg_root
    raise DynsysError(
        f"root not given and no dynsys checkout (experiments/ folder) at or above {here}; "
        "run from the checkout or give the root folder"
    )


def discover(root) -> list[Experiment]:
    """Load every ``experiments/*.py`` (not starting with ``_``) and collect its ``EXPERIMENT``."""
    root = Path(root)
    exp_dir = root / "experiments"
    if not exp_dir.is_dir():
        raise DynsysError(f"root {root} is not a dynsys checkout (no experiments/ folder)")
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
    """Compute (or reuse), draw and report every experiment. Returns the path of REPORT.md.

    Every argument is checked before anything runs or is written. The report keeps, verbatim,
    the sections of the existing REPORT.md for experiments that were not run now and have no
    saved result on disk (see the module docstring).
    """
    from .. import io
    from .._validate import check_choice, check_positive_int
    from .sweep import _check_scheduler

    check_choice(profile, "profile", PROFILES)
    jobs = check_positive_int(jobs, "jobs")
    scheduler = _check_scheduler(scheduler)
    if not callable(log):
        raise DynsysError(f"log must be a function taking a line of text, got {log!r}")
    if only is not None:
        only = [only] if isinstance(only, str) else only
        try:
            only = list(only)
        except TypeError:
            raise DynsysError(f"only must be a list of experiment names, got {only!r}") from None
        bad = [o for o in only if not isinstance(o, str)]
        if bad:
            raise DynsysError(f"only must be a list of experiment names, got {bad[0]!r}")
    root = find_root(root)
    all_exps = discover(root)
    exps = all_exps
    if only:
        known = {e.name for e in all_exps}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise DynsysError(
                f"only names unknown experiment(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        exps = [e for e in all_exps if e.name in only]
    datadir = root / "figures" / "data"
    figdir = report_dir(root, profile)
    prog = progress_wrapper(bool(progress))
    inner = functools.partial(prog, leave=False) if progress else prog  # inner bars vanish when done
    chunks: dict[str, str] = {}
    status = {"computed": [], "reused": [], "kept": {}, "stale": [], "missing": [], "skipped": []}
    t_all = time.perf_counter()
    for exp in prog(exps, desc="reproduce", leave=True):
        cfg = exp.config(profile)
        h = config_hash(cfg)
        stem = datadir / f"{exp.name}.{profile}"
        saved = None if force else _load_matching(stem, h)
        reuse = saved is not None
        if reuse:
            arrays, meta = saved
        elif exp.missing():
            log(exp.skip_line())
            status["skipped"].append(f"{exp.name} ({exp.install_hint()})")
            continue
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
        chunks[exp.name] = _chunk(
            exp.name, _section(exp, meta, stems, exp.report(arrays, meta), reused=reuse)
        )
        status["reused" if reuse else "computed"].append(exp.name)
        rel = figdir.relative_to(root)
        log(
            f"{exp.name}: {'reused' if reuse else 'computed'} in {meta['seconds']:.1f} s -> "
            + ", ".join(f"{rel}/{s}.png" for s in stems)
        )
    total = time.perf_counter() - t_all
    # the report covers every experiment: those not run now contribute their saved result, if any,
    # else their section of the existing report (kept verbatim), else "not computed yet"
    path = figdir / "REPORT.md"
    previous = _read_sections(path)
    for exp in all_exps:
        if exp.name in chunks:
            continue
        stem = datadir / f"{exp.name}.{profile}"
        h = config_hash(exp.config(profile))
        saved = _load_matching(stem, h)
        figs = stem.with_name(stem.name + ".figures.json")
        stems = _read_stems(figs) if saved is not None else None
        if stems is not None:
            arrays, meta = saved
            chunks[exp.name] = _chunk(
                exp.name, _section(exp, meta, stems, exp.report(arrays, meta), reused=True)
            )
            status["reused"].append(exp.name)
        elif exp.name in previous:
            chunks[exp.name] = previous[exp.name]
            commit, old_hash = _section_provenance(previous[exp.name])
            status["kept"].setdefault(commit, []).append(exp.name)
            if old_hash is not None and old_hash != h:
                status["stale"].append(exp.name)
        else:
            status["missing"].append(exp.name)
    order = {e.name: i for i, e in enumerate(all_exps)}
    for key in ("computed", "reused"):
        status[key].sort(key=order.get)
    ordered = [chunks[e.name] for e in all_exps if e.name in chunks]
    report = _report(profile, ordered, total, root, only, status)
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


def _read_stems(path: Path) -> list[str] | None:
    """The figure stems an experiment's draw wrote (its ``.figures.json``), or None if unreadable."""
    try:
        stems = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ok = isinstance(stems, list) and all(isinstance(x, str) for x in stems)
    return stems if ok else None


#: the line that opens an experiment's section of REPORT.md (an HTML comment: invisible)
_MARKER = "<!-- dynsys:section {name} -->"
_MARKER_RE = re.compile(r"^<!-- dynsys:section (\S+) -->[ \t]*$", re.MULTILINE)
#: reports written before the markers: a section is a "## " heading followed by its
#: "*Experiment* `NAME`" line
_LEGACY_NAME_RE = re.compile(r"^\*Experiment\* `([^`\n]+)`", re.MULTILINE)
_SUMMARY_RE = re.compile(
    r"<summary>config \(.*?hash (?P<hash>[0-9a-f]+).*?commit (?P<commit>[^)\s]+)\)</summary>"
)


def _chunk(name: str, body: str) -> str:
    """A section as it is written to REPORT.md: its marker line, the body, one blank line."""
    return _MARKER.format(name=name) + "\n" + body.rstrip("\n") + "\n\n"


def _read_sections(path: Path) -> dict[str, str]:
    """The sections of an existing REPORT.md by experiment name, each as :func:`_chunk` writes it.

    Sections are delimited by their marker lines; a report without markers (an older format) is
    split at the ``## `` heading above each ``*Experiment* `NAME``` line. An unreadable or
    missing report has no sections. A name that occurs twice keeps its first section.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    marks = [(m.start(), m.end(), m[1]) for m in _MARKER_RE.finditer(text)]
    if not marks:  # an older report: find each section's heading
        marks = []
        floor = 0
        for m in _LEGACY_NAME_RE.finditer(text):
            head = text.rfind("\n## ", floor, m.start())
            start = head + 1 if head >= 0 else (0 if text.startswith("## ") and floor == 0 else None)
            if start is None:
                continue
            marks.append((start, start, m[1]))
            floor = m.end()
    out: dict[str, str] = {}
    for i, (_, body_start, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        if name not in out:
            out[name] = _chunk(name, text[body_start:end].lstrip("\n"))
    return out


def _section_provenance(chunk: str) -> tuple[str | None, str | None]:
    """``(commit, config hash)`` from a section's config summary line (None where absent)."""
    m = _SUMMARY_RE.search(chunk)
    if m is None:
        return None, None
    commit = m["commit"]
    return (None if commit == "None" else commit), m["hash"]


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


def _report(profile, chunks, total, root, only, status) -> str:
    """REPORT.md: the header (this run, and where each section comes from), then the sections."""
    from .. import io

    prov = io.provenance(root)
    again = f"`dynsys reproduce{'' if profile == 'default' else ' --profile ' + profile}"
    head = [
        "# dynsys — reproduction report",
        "",
        "Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks* "
        "(ICML 2013), regenerated by `dynsys reproduce"
        + (f" --profile {profile}" if profile != "default" else "")
        + (f" --only {' '.join(only)}" if only else "")
        + "`.",
        "",
        f"Profile `{profile}`, dynsys {prov['dynsys_version']}, commit {prov['git_commit']}; "
        f"this run took {total:.1f} s (reused results count their original compute time below).",
        "",
    ]
    said = []
    if status["computed"]:
        said.append(f"Computed in this run: {', '.join(status['computed'])}.")
    if status["reused"]:
        said.append(f"Reused from saved results: {', '.join(status['reused'])}.")
    for commit, names in status["kept"].items():
        at = f", computed at commit {commit}" if commit else ""
        said.append(f"Kept verbatim from an earlier report (no saved result here{at}): {', '.join(names)}.")
    if status["stale"]:
        names = " ".join(status["stale"])
        said.append(
            f"Their config has changed since, rerun them: {', '.join(status['stale'])} ({again} --only {names}`)."
        )
    if status["skipped"]:
        said.append(f"Skipped in this run (optional packages missing): {', '.join(status['skipped'])}.")
    if status["missing"]:
        said.append(f"Not computed yet for this profile: {', '.join(status['missing'])} ({again}`).")
    for line in said:
        head += [line, ""]
    return ("\n".join(head) + "\n" + "".join(chunks)).rstrip("\n") + "\n"
