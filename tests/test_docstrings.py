"""Every ``Examples`` section of the package runs (house style rule 9): the docstrings are doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dynsys


def _modules():
    names = ["dynsys"]
    for info in pkgutil.walk_packages(dynsys.__path__, "dynsys."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_every_part_is_collected():
    for part in (
        "maps.base",
        "analysis.equilibria.fixed_points",
        "gradients.backprop",
        "training.trainer",
        "runs.store",
    ):
        assert f"dynsys.{part}" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, name):  # each example sees its module's globals
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
