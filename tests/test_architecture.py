"""The architecture as a test: one folder per part, imports running one way (DESIGN.md).

Every import of every module of the package is parsed — including imports inside functions — and
the tests fail on any import cycle between modules, on any arrow that runs the wrong way between
parts, on a re-export outside a package face, on an ``isinstance`` switch against a concrete map
outside ``maps/``, and on heavy third-party imports or file writes outside the one part allowed to
make them. The ``check_*`` functions take the parsed graph, so each rule is also shown to fail on
a deliberately bad graph (the ``*_can_fail`` tests).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parents[1] / "dynsys"

#: the only modules allowed at the package root (besides the subpackages)
ROOT_MODULES = {"__init__", "__main__", "errors", "_validate", "activations", "symbolic"}
PARTS = {"maps", "gradients", "analysis", "io", "training", "runs", "cli", "plotting"}

#: part -> parts it must never import (DESIGN.md, "one folder per part, imports run one way";
#: the "may import" column of README.md's Layout table)
FORBIDDEN = {
    "maps": PARTS - {"maps"} | {"symbolic"},
    "gradients": {"analysis", "training", "runs", "io", "cli", "plotting", "symbolic"},
    "analysis": {"training", "runs", "io", "plotting", "cli"},
    "io": {"gradients", "analysis", "training", "runs", "cli", "plotting"},
    "training": {"runs", "cli", "plotting"},
    "runs": {"cli"},
    "plotting": {"gradients", "io", "training", "runs", "cli"},
}
#: only these parts may import plotting
PLOTTING_USERS = {"cli", "runs", "plotting"}
#: third-party packages only one part may import
THIRD_PARTY = {"matplotlib": {"plotting"}, "sympy": {"symbolic"}}
#: concrete maps: only maps/ may switch on them
CONCRETE_MAPS = {
    "RNNMap",
    "GRUMap",
    "LSTMMap",
    "StackedMap",
    "ResidualRNNMap",
    "LayerNormRNNMap",
    "UnitMap",
    "LogisticMap",
    "HenonMap",
    "DelayedLogisticMap",
    "NewtonMap",
    "FixedInput",
}
#: calls that write files (only io/ writes; the SQLite store creates its folder)
WRITE_CALLS = {"write_text", "write_bytes", "savez", "savez_compressed", "save", "savefig", "mkdir", "unlink"}
WRITE_ALLOWED = {("dynsys.runs.store", "mkdir")}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    imports: list[tuple[str, int]] = field(default_factory=list)  # (dynsys module, line)
    external: list[tuple[str, int]] = field(default_factory=list)  # (top-level package, line)


def module_name(path: Path, root: Path = PKG) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _resolve(mod: Module, node: ast.ImportFrom, known: set[str]) -> list[str]:
    if node.level:
        base = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        src = ".".join(base + ([node.module] if node.module else []))
    else:
        src = node.module or ""
    if not (src == "dynsys" or src.startswith("dynsys.")):
        return []
    out = []
    for alias in node.names:  # `from . import io`: the submodule itself
        sub = f"{src}.{alias.name}"
        out.append(sub if sub in known else src)
    return out


def parse_package(root: Path = PKG) -> dict[str, Module]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        mods[name] = Module(
            name, path, ast.parse(path.read_text(encoding="utf-8")), path.name == "__init__.py"
        )
    known = set(mods)
    for mod in mods.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom):
                for target in _resolve(mod, node, known):
                    mod.imports.append((target, node.lineno))
                if not node.level and node.module and not node.module.startswith("dynsys"):
                    mod.external.append((node.module.split(".")[0], node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "dynsys" or alias.name.startswith("dynsys."):
                        mod.imports.append((alias.name, node.lineno))
                    else:
                        mod.external.append((alias.name.split(".")[0], node.lineno))
    return mods


def import_graph(mods: dict[str, Module]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for mod in mods.values():
        for target, _ in mod.imports:
            if target != mod.name:
                g.add_edge(mod.name, target)
    return g


# ---------------------------------------------------------------------------------------
# The rules (each returns a list of violations)
# ---------------------------------------------------------------------------------------


def check_cycles(mods) -> list[str]:
    return [" -> ".join(c + [c[0]]) for c in nx.simple_cycles(import_graph(mods))]


def check_arrows(mods) -> list[str]:
    bad = []
    for mod in mods.values():
        src = part_of(mod.name)
        for target, line in mod.imports:
            dst = part_of(target)
            if dst == src:
                continue
            if dst in FORBIDDEN.get(src, set()):
                bad.append(f"{mod.name}:{line} imports {target} ({src} must not import {dst})")
            if dst == "plotting" and src not in PLOTTING_USERS:
                bad.append(f"{mod.name}:{line} imports {target} (only cli and runs import plotting)")
    return bad


def check_third_party(mods) -> list[str]:
    bad = []
    for mod in mods.values():
        for pkg, line in mod.external:
            allowed = THIRD_PARTY.get(pkg)
            if allowed is not None and part_of(mod.name) not in allowed:
                bad.append(f"{mod.name}:{line} imports {pkg} (only {', '.join(sorted(allowed))} may)")
    return bad


def _defined(tree: ast.Module) -> set[str]:
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


def _all_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def check_reexports(mods) -> list[str]:
    """Only package faces (``__init__.py``) list names in ``__all__`` that they do not define."""
    bad = []
    for mod in mods.values():
        if mod.is_package:
            continue
        defined = _defined(mod.tree)
        for name in _all_names(mod.tree):
            if name not in defined:
                bad.append(
                    f"{mod.name} re-exports {name!r} (defined elsewhere; only __init__.py faces re-export)"
                )
    return bad


def check_isinstance(mods) -> list[str]:
    """No module outside maps/ switches on a concrete map class."""
    bad = []
    for mod in mods.values():
        if part_of(mod.name) == "maps":
            continue
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "isinstance"
                and len(node.args) == 2
            ):
                kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                for k in kinds:
                    name = k.id if isinstance(k, ast.Name) else getattr(k, "attr", None)
                    if name in CONCRETE_MAPS:
                        bad.append(f"{mod.name}:{node.lineno} isinstance(..., {name}) (use the Map contract)")
    return bad


def check_writes(mods) -> list[str]:
    """Only io/ writes files (house style rule 5)."""
    bad = []
    for mod in mods.values():
        if part_of(mod.name) == "io":
            continue
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            is_method = isinstance(node.func, ast.Attribute)  # path.write_text(), np.savez(), fig.savefig()
            if is_method and name in WRITE_CALLS and (mod.name, name) not in WRITE_ALLOWED:
                bad.append(f"{mod.name}:{node.lineno} calls {name}() (only dynsys.io writes files)")
            if name == "open" and isinstance(node.func, ast.Name):
                modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
                for m in modes:
                    if isinstance(m, ast.Constant) and any(c in str(m.value) for c in "wax+"):
                        bad.append(
                            f"{mod.name}:{node.lineno} opens a file for writing (only dynsys.io writes)"
                        )
    return bad


def check_layout(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.glob("*.py")):
        if path.stem not in ROOT_MODULES:
            bad.append(f"dynsys/{path.name} at the package root (allowed: {', '.join(sorted(ROOT_MODULES))})")
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("__")):
        if path.name not in PARTS:
            bad.append(f"dynsys/{path.name}/ is not a part ({', '.join(sorted(PARTS))})")
    return bad


RULES = {
    "cycles": check_cycles,
    "arrows": check_arrows,
    "third_party": check_third_party,
    "reexports": check_reexports,
    "isinstance": check_isinstance,
    "writes": check_writes,
}


@pytest.fixture(scope="module")
def package():
    return parse_package()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_package_follows_the_rule(package, rule):
    violations = RULES[rule](package)
    assert not violations, "\n".join(violations)


def test_layout():
    assert not check_layout()


def test_every_part_has_a_face():
    for part in PARTS:
        assert (PKG / part / "__init__.py").exists(), part


def test_the_graph_sees_imports_inside_functions(package):
    # cli/check.py imports the library inside run(): those arrows must be in the graph
    assert any(t.startswith("dynsys.analysis") for t, _ in package["dynsys.cli.check"].imports)


# ---------------------------------------------------------------------------------------
# Every rule can fail: a deliberately bad package
# ---------------------------------------------------------------------------------------


def _bad_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "dynsys"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_rules_can_fail(tmp_path, monkeypatch):
    root = _bad_package(
        tmp_path,
        {
            "__init__.py": "",
            "helpers.py": "",  # not allowed at the root
            "maps/__init__.py": "from .rnn import RNNMap\n__all__ = ['RNNMap']\n",
            "maps/rnn.py": "from ..analysis import fixed_points\nclass RNNMap: ...\n",  # maps -> analysis
            "analysis/__init__.py": "",
            "analysis/fixed_points.py": (
                "def f(m):\n"
                "    from ..maps.rnn import RNNMap\n"  # a cycle through an import inside a function
                "    from ..training import trainer\n"  # analysis -> training
                "    import matplotlib.pyplot\n"  # matplotlib outside plotting
                "    open('x', 'w')\n"  # a write outside io
                "    return isinstance(m, RNNMap)\n"  # a switch on a concrete map
            ),
            "training/__init__.py": "",
            "training/trainer.py": "from ..maps.rnn import RNNMap\n__all__ = ['RNNMap']\n",  # a shim
        },
    )
    mods = parse_package(root)
    assert any("dynsys.maps.rnn" in c and "dynsys.analysis.fixed_points" in c for c in check_cycles(mods))
    arrows = "\n".join(check_arrows(mods))
    assert "maps must not import analysis" in arrows and "analysis must not import training" in arrows
    assert check_third_party(mods) and check_writes(mods) and check_isinstance(mods)
    assert check_reexports(mods) == [
        "dynsys.training.trainer re-exports 'RNNMap' (defined elsewhere; only __init__.py faces re-export)"
    ]
    assert check_layout(root) == [
        "dynsys/helpers.py at the package root (allowed: __init__, __main__, _validate, activations, errors, symbolic)"
    ]


def test_faces_export_what_they_list():
    """Every name a face lists resolves; the lazy analysis face lists exactly its parts' names."""
    import importlib

    for mod in parse_package().values():
        if mod.is_package:
            face = importlib.import_module(mod.name)
            for name in getattr(face, "__all__", ()):
                assert hasattr(face, name), f"{mod.name} lists {name!r} but does not export it"
    analysis = importlib.import_module("dynsys.analysis")
    for part in analysis._PARTS:
        listed = {n for n, p in analysis._EXPORTS.items() if p == part}
        assert listed == set(importlib.import_module(f"dynsys.analysis.{part}").__all__), part


def test_no_face_name_shadows_a_submodule(package):
    """A face that exported a function named like one of its modules would make
    ``import dynsys.part.name`` give the function (Python resolves the last step by attribute)."""
    import importlib

    for mod in package.values():
        if not mod.is_package:
            continue
        subs = {m.rsplit(".", 1)[1] for m in package if m.rsplit(".", 1)[0] == mod.name and m != mod.name}
        clash = subs & set(getattr(importlib.import_module(mod.name), "__all__", ()))
        assert not clash, f"{mod.name} exports {sorted(clash)}, which are also its submodules"


def test_faces_are_complete():
    """A face lists every public name of its modules (plotting is used module by module)."""
    import importlib

    for name, mod in parse_package().items():
        if not mod.is_package or name in ("dynsys", "dynsys.analysis", "dynsys.plotting"):
            continue
        face = set(importlib.import_module(name).__all__)
        for sub, submod in parse_package().items():
            if (
                sub.rsplit(".", 1)[0] == name
                and not submod.is_package
                and not sub.rsplit(".", 1)[1].startswith("_")
            ):
                missing = set(_all_names(submod.tree)) - face
                assert not missing, f"{name} does not export {sorted(missing)} of {sub}"
