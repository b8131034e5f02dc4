"""The ``dynsys`` command line: a thin layer over the library.

Subcommands live in :mod:`dynsys.cli`, one module each, listed in ``COMMANDS``. Each module
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``, and imports the
library only inside those two: ``add_arguments`` reads its defaults and choices from the library
(never typed twice), and :func:`main` adds the arguments of the command being run only, so that
``dynsys --help`` and every other command do not import what one command needs.

Errors: a :class:`~dynsys.errors.DynsysError` (bad input, unknown names, corrupt files), a usage
error or a file that cannot be read or written (missing, a directory, a path through a file,
no permission) becomes one line on stderr and exit status 2, with no traceback. A library
message names the argument by its library name (``n_hidden must be >= 1``); :func:`main` names it
by the option the user typed (``--hidden must be >= 1``): the options of the command's parser by
their destination, plus the command module's ``OPTION_NAMES`` for library names that differ.
Numbers may be negative wherever an option takes a value (``--range -1e-3 1e-3``,
``--input -1,0``). A closed stdout (``dynsys fixed-points ... | head -1``) ends the command
quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading

from .. import __version__
from ..errors import DynsysError

__all__ = ["main", "build_parser", "entry_point", "COMMANDS"]


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
#: a negative number or a comma-separated list starting with one: a value, never an option
_NEGATIVE_VALUE = re.compile(rf"^-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:\s*,\s*(?:{_NUMBER}))*\s*,?$")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse reads "-1e-3" and "-1,0" as options (its pattern knows only -1 and -.5)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message):  # one line, exit 2 (argparse's default prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


#: the subcommand modules of :mod:`dynsys.cli`, in the order ``dynsys --help`` lists them
COMMANDS = (
    "basins",
    "bifurcation",
    "check",
    "fixed_points",
    "monitor",
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
        # library name -> option, for error messages: each option by its destination, plus the
        # command's OPTION_NAMES for library names that differ (n_hidden -> --hidden)
        options = {
            a.dest: longs[0]
            for a in p._actions
            if (longs := [o for o in a.option_strings if o.startswith("--")])
        }
        p.set_defaults(_run=mod.run, _option_names={**options, **getattr(mod, "OPTION_NAMES", {})})
    return parser


def _command_of(argv) -> tuple[str, ...]:
    """The subcommand named in ``argv``: its first word not starting with ``-`` (the top-level
    options ``--help`` and ``--version`` take no value), or none."""
    return tuple(a for a in argv if not a.startswith("-"))[:1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0
    except BrokenPipeError:
        return _stdout_closed()
    old_term = _sigterm_as_interrupt()
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        return _stdout_closed()
    except DynsysError as exc:
        print(f"dynsys {args.command}: error: {_user_names(str(exc), args)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:  # not about a path the user named (a socket, ...)
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


def _stdout_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, like a Unix tool killed by
    SIGPIPE (status 128 + 13); later writes and the interpreter's final flush go to devnull."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no file descriptor (captured in tests)
        pass
    return 141


_LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _user_names(message: str, args) -> str:
    """``message`` with a leading library parameter name replaced by the command's option."""
    m = _LEADING_NAME.match(message)
    option = None if m is None else args._option_names.get(m.group(0))
    return message if option is None else option + message[m.end() :]


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
