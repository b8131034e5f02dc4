"""The ``dynsys`` command line: a thin layer over the library.

Subcommands live in :mod:`dynsys.cli`, one module each, listed in ``COMMANDS``. Each module
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``, and imports the
library only inside those two: ``add_arguments`` reads its defaults and choices from the library
(never typed twice), and :func:`main` adds the arguments of the command being run only, so that
``dynsys --help`` and every other command do not import what one command needs.

Errors: a :class:`~dynsys.errors.DynsysError` (bad input, unknown names, corrupt files), a usage
error or a file that cannot be read or written (missing, a directory, a path through a file,
no permission) becomes one line on stderr and exit status 2, with no traceback.
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


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The ``dynsys`` parser with one subparser per command.

    Parameters
    ----------
    commands : iterable of str, optional
        Names of the subcommands whose arguments are added (default: all). A command's argument
        defaults and choices come from the library, so :func:`main` adds only those of the
        command being run and ``dynsys --help`` imports none of the library.
    """
    wanted = None if commands is None else set(commands)
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
        if wanted is None or mod.NAME in wanted:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _command_of(argv) -> tuple[str, ...]:
    """The subcommand named in ``argv``: its first word not starting with ``-`` (the top-level
    options ``--help`` and ``--version`` take no value), or none."""
    return tuple(a for a in argv if not a.startswith("-"))[:1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
    except OSError as exc:
        if exc.filename is None:  # not about a path the user named (a socket, a broken pipe, ...)
            raise
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
