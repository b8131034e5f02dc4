"""The ``dynsys`` command line: a thin layer over the library.

Subcommands live in :mod:`dynsys.cli`, one module each, listed in ``COMMANDS``. Each module
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``, and imports its
heavy dependencies inside ``run``.

Errors: a :class:`~dynsys.errors.DynsysError` (bad input, unknown names, corrupt files), a usage
error or an unreadable file becomes one line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from .. import __version__
from ..errors import DynsysError

__all__ = ["main", "build_parser", "entry_point", "COMMANDS"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


#: the subcommand modules of :mod:`dynsys.cli`, in the order ``dynsys --help`` lists them
COMMANDS = (
    "basins",
    "bifurcation",
    "check",
    "fixed_points",
    "reproduce",
    "results",
    "surface",
    "sweep",
    "train",
)


def _command_modules():
    for name in COMMANDS:
        yield importlib.import_module(f".{name}", __package__)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dynsys",
        description=(
            "Recurrent neural networks as dynamical systems (Pascanu, Mikolov & Bengio, ICML 2013): "
            "gradient conditions, fixed points, bifurcations, basins, loss walls, training."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dynsys {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    old_term = _sigterm_as_interrupt()
    try:
        return int(args._run(args) or 0)
    except DynsysError as exc:
        print(f"dynsys {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"dynsys {args.command}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"dynsys {args.command}: interrupted (finished work is saved; rerun to resume)", file=sys.stderr
        )
        return 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _sigterm_as_interrupt():
    """SIGTERM (``kill``, batch schedulers) ends a command like Ctrl-C: work is saved, exit 130.

    Returns the previous handler, or None outside the main thread (where handlers cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


def entry_point():  # console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
