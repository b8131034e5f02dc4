"""The ``dynsys`` command line: one module per command, each a thin layer over the library.

Argparse defaults and choices come from the library (``TrainConfig``, ``task_names()``, ...),
never typed twice; bad input is one line on stderr and exit status 2 (:mod:`dynsys.cli.app`).
"""

from .app import COMMANDS, build_parser, entry_point, main

__all__ = ["main", "build_parser", "entry_point", "COMMANDS"]
