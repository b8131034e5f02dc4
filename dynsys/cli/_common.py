"""Helpers shared by the CLI subcommands."""

from __future__ import annotations

import sys

from ..errors import DynsysError


def library_default(obj, name: str):
    """The default of field ``name`` of a library dataclass, or of parameter ``name`` of a library
    function: the CLI reads its defaults from the library and never types them twice.

    Raises
    ------
    LookupError
        When ``obj`` has no such field or parameter, or it has no default (a bug of the CLI).
    """
    import dataclasses
    import inspect

    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name == name and f.default is not dataclasses.MISSING:
                return f.default
            if f.name == name and f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    else:
        p = inspect.signature(obj).parameters.get(name)
        if p is not None and p.default is not inspect.Parameter.empty:
            return p.default
    raise LookupError(f"{getattr(obj, '__qualname__', obj)} has no default for {name!r}")


def literal_choices(func, name: str) -> tuple:
    """The values of the ``Literal[...]`` annotation of parameter ``name`` of a library function
    (house style rule 8: options are typed), for an argparse ``choices=``."""
    import typing

    hint = typing.get_type_hints(func).get(name)
    if typing.get_origin(hint) is not typing.Literal:
        raise LookupError(f"{func.__qualname__}: parameter {name!r} is not typed as a Literal")
    return typing.get_args(hint)


def activation_help(what: str) -> str:
    """Help text of an ``--activation`` option, listing the library's activation names."""
    from ..activations import activation_names

    return f"{what}: {', '.join(activation_names())}"


def add_weights_argument(parser, required=True):
    parser.add_argument(
        "--weights",
        metavar="W.npz",
        required=required,
        help="weights file: .npz with W_rec, optional W_in, b, W_out, b_out, activation (or as written "
        "by dynsys train for any cell); or a PyTorch nn.RNN / nn.GRU / nn.LSTM state dict (.pt/.pth)",
    )
    parser.add_argument("--activation", default=None, help=activation_help("override the file's activation"))


def load_map(args):
    """The map of ``--weights``: an RNN, residual or LN map (``.npz``), or a GRU, LSTM or stack
    of them (``.npz`` or ``.pt`` with PyTorch's keys). Every command takes any of them."""
    from ..io.weights import load_weights

    return load_weights(args.weights, activation=args.activation, name="--weights")


def describe_map(m) -> str:
    """A few words for a map in a command's text output: ``"50-unit tanh RNNMap"``, ``"GRUMap (dim 24)"``."""
    act = getattr(m, "activation", None)
    name = getattr(act, "name", None)
    return f"{m.dim}-unit {name} {type(m).__name__}" if name else f"{type(m).__name__} (state dim {m.dim})"


def print_json(obj) -> None:
    """``obj`` as JSON on stdout; NaN and ±Inf become ``null`` (strict JSON readers refuse them)."""
    from ..io.files import to_json

    sys.stdout.write(to_json(obj, indent=2, sort_keys=True, nonfinite="null") + "\n")


def output_stem(path, name: str = "--out"):
    """The stem of a result the command writes as ``STEM.npz`` + ``STEM.json`` (a trailing
    ``.npz`` is dropped; any other dot stays: ``o/run.v1`` writes ``o/run.v1.npz``), checked
    writable *before* the computation starts so that no work is lost to a bad path."""
    from pathlib import Path

    from ..io.files import check_writable_output, result_paths

    p = Path(path)
    stem = p.with_name(p.name[: -len(".npz")]) if p.name.endswith(".npz") and p.name != ".npz" else p
    for f in result_paths(stem):
        check_writable_output(f, name)
    return stem


def saved_paths(stem) -> str:
    """``STEM.npz, STEM.json``: what :func:`~dynsys.io.files.save_result` wrote."""
    from ..io.files import result_paths

    return ", ".join(str(f) for f in result_paths(stem))


def parse_vector(text: str, name: str):
    """Parse ``"0.1,0.2,-3"`` into a float array without evaluating anything."""
    import numpy as np

    try:
        vals = [float(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise DynsysError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise DynsysError(f"{name} must not be empty")
    arr = np.array(vals)
    if not np.all(np.isfinite(arr)):
        raise DynsysError(f"{name} must be finite, got {text!r}")
    return arr
