"""Helpers shared by the CLI subcommands."""

from __future__ import annotations

import sys

from ..errors import DynsysError


def add_weights_argument(parser, required=True):
    parser.add_argument(
        "--weights",
        metavar="W.npz",
        required=required,
        help="weights file (.npz with W_rec, optional W_in, b, W_out, b_out, activation)",
    )
    parser.add_argument("--activation", default=None, help="override the file's activation")


def load_map(args):
    from ..io.weights import load_weights

    return load_weights(args.weights, activation=args.activation, name="--weights")


def print_json(obj) -> None:
    from ..io.files import to_json

    sys.stdout.write(to_json(obj, indent=2, sort_keys=True) + "\n")


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
