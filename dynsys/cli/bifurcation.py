"""``dynsys bifurcation``: continue fixed points in one parameter and locate bifurcations."""

from __future__ import annotations

NAME = "bifurcation"
HELP = "bifurcation diagram in one parameter: branches, folds, flips, Neimark–Sacker points"

#: library parameter names -> this command's options (for error messages)
OPTION_NAMES = {"rng": "--seed"}
DESCRIPTION = (
    "Pseudo-arclength continuation of every fixed-point branch of an RNN (or of the one-unit map "
    "x ↦ w σ(x) + b with --unit) over a parameter range, with folds, flips and Neimark–Sacker "
    "points located to ~1e-12. One rule for what the parameter p is: a scalar or one entry is set to p "
    "(one unit: w, b, w_in; an RNN: b[i], W_rec[i,j], u[i]), a whole array moves along a direction "
    "from its value (an RNN: b = b₀ + p·d and u = u₀ + p·d, d all ones or --direction, p = 0 is the "
    "file's network; gain: W_rec = p·W_rec₀). The output states the rule it used. Bifurcation "
    "types: fold, flip, neimark-sacker, and branch-point (a multiplier +1 where the branch does not turn: "
    "transcritical or pitchfork)."
)


def add_arguments(p):
    from ..maps.unit import UnitMap
    from ._common import add_weights_argument, library_default

    add_weights_argument(p, required=False)
    p.add_argument("--unit", action="store_true", help="the one-unit map x ↦ w σ(x) + b (paper Fig. 3)")
    p.add_argument(
        "--w",
        type=float,
        default=library_default(UnitMap, "w"),
        help="--unit: recurrent weight w (default %(default)s)",
    )
    p.add_argument("--b", type=float, default=-2.5, help="--unit: bias b (default -2.5)")
    p.add_argument(
        "--param",
        required=True,
        help="parameter to vary: b[0] is the value of b[0]; b is an offset b₀ + p·d (see description)",
    )
    p.add_argument("--range", nargs=2, required=True, metavar=("LO", "HI"), help="parameter range")
    p.add_argument("--input", default=None, metavar="U", help="constant input u (comma-separated)")
    p.add_argument(
        "--direction",
        default=None,
        metavar="D",
        help="direction for param b (n numbers) or u (m numbers); default all ones",
    )
    p.add_argument("--flip-switch", action="store_true", help="follow period-doubled branches at flips")
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed-point starts")
    p.add_argument("--json", action="store_true", help="print branches and bifurcations as JSON")


def run(args) -> int:
    from .._validate import check_finite_scalar, check_range
    from ..analysis.continuation.bifurcations import bifurcation_diagram
    from ..errors import DynsysError
    from ..maps.paths import parameter_path
    from ..maps.unit import UnitMap
    from ._common import library_default, load_map, parse_vector, print_json

    lo, hi = check_range(_num(args.range[0]), _num(args.range[1]), "--range")
    if args.unit:
        if args.weights is not None:
            raise DynsysError("--unit and --weights are exclusive")
        act = args.activation or library_default(UnitMap, "activation")
        m = UnitMap(
            w=check_finite_scalar(args.w, "--w"), b=check_finite_scalar(args.b, "--b"), activation=act
        )
    else:
        if args.weights is None:
            raise DynsysError("give --weights W.npz or --unit")
        m = load_map(args)
    u = None if args.input is None else parse_vector(args.input, "--input")
    direction = None if args.direction is None else parse_vector(args.direction, "--direction")
    path = parameter_path(m, args.param, u=u, direction=direction)  # validates param and direction
    d = bifurcation_diagram(
        m, args.param, (lo, hi), u=u, direction=direction, flip_switch=args.flip_switch, rng=args.seed
    )
    label = args.param if path.is_value else "p"
    formula = path.formula + (", d = all ones" if "·d" in path.formula and direction is None else "")
    given = f"the given network is at {label} = {path.p0:g}"
    if args.json:
        out = d.to_dict()
        out["path"] = {"formula": formula, "p_of_given_network": path.p0}
        print_json(out)
        return 0
    print(f"{len(d.branches)} branch(es) over {label} ∈ [{lo:g}, {hi:g}]: {formula} ({given})")
    for i, br in enumerate(d.branches):
        print(
            f"  branch {i}: period {br.period}, {len(br)} points, "
            f"{int(br.stable.sum())} stable ({br.message})"
        )
    print(f"{len(d.bifurcations)} bifurcation(s)")
    for b in d.bifurcations:
        extra = f" angle={b.angle:.6g}" if b.type == "neimark-sacker" else ""
        state = ", ".join(f"{v:.6g}" for v in b.state[:4]) + (", …" if b.state.size > 4 else "")
        print(f"  {b.type:15s} {label}={b.param:.12g} period={b.period} x=({state}){extra}")
    return 0


def _num(text):
    from ..errors import DynsysError

    try:
        return float(text)
    except ValueError:
        raise DynsysError(f"--range values must be numbers, got {text!r}") from None
