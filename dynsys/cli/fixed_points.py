"""``dynsys fixed-points``: fixed points (or period-k / slow points) of an RNN in a weights file."""

from __future__ import annotations

NAME = "fixed-points"
HELP = "fixed points of x = W_rec σ(x) + W_in u + b with their stability (paper §2.2)"

#: library parameter names -> this command's options (for error messages)
OPTION_NAMES = {"rng": "--seed"}
DESCRIPTION = (
    "Fixed points of the RNN map x_t = W_rec σ(x_{t-1}) + W_in u + b (paper eq. 2) for a constant "
    "input u: batched Newton from many starts (1-D networks: an exact scan of the image interval), "
    "deduplicated, with residual, multipliers and stability class (stable / saddle / unstable)."
)


def add_arguments(p):
    from ..analysis.equilibria.fixed_points import find_fixed_points
    from ..analysis.equilibria.newton import newton_solve
    from ._common import add_weights_argument, library_default, literal_choices

    add_weights_argument(p)
    p.add_argument("--input", default=None, metavar="U", help="constant input u as comma-separated numbers")
    p.add_argument(
        "--period",
        type=int,
        default=library_default(find_fixed_points, "period"),
        help="find points of this minimal period (default %(default)s)",
    )
    p.add_argument("--starts", type=int, default=512, help="number of Newton starts (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled starts")
    p.add_argument(
        "--linear",
        choices=literal_choices(newton_solve, "linear"),
        default=library_default(find_fixed_points, "linear"),
        help="linear solver of the Newton steps: lu (exact, per start), krylov (batched GMRES, "
        "one GEMM per step for all starts) or auto (krylov from 64 units on; default %(default)s)",
    )
    p.add_argument(
        "--slow",
        type=float,
        default=None,
        metavar="QMAX",
        help="also report slow points with q = ½‖F(x) − x‖² ≤ QMAX",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import sys

    from .._validate import check_finite_scalar, check_positive_int
    from ..analysis.equilibria.fixed_points import find_fixed_points, find_slow_points
    from ._common import describe_map, load_map, parse_vector, print_json

    rnn = load_map(args)
    u = None if args.input is None else parse_vector(args.input, "--input")
    period = check_positive_int(args.period, "--period")
    n_starts = check_positive_int(args.starts, "--starts")
    q_max = None if args.slow is None else check_finite_scalar(args.slow, "--slow")
    if u is not None and u.shape != (rnn.input_dim,):
        from ..errors import DynsysError

        raise DynsysError(f"--input must have {rnn.input_dim} numbers for this network, got {u.size}")
    bar = sys.stderr.isatty()  # long solves (1000 units, 100k starts) show their Newton iterations
    fp = find_fixed_points(
        rnn, u, period=period, n_starts=n_starts, rng=args.seed, linear=args.linear, progress=bar
    )
    slow = None
    if q_max is not None:
        sp = find_slow_points(rnn, u, n_starts=n_starts, rng=args.seed, q_max=q_max, progress=bar)
        slow = sp.select(~sp.converged)
    if args.json:
        out = {"n": rnn.dim, "period": period, "message": fp.message, "fixed_points": fp.to_dicts()}
        if slow is not None:
            out["slow_points"] = slow.to_dicts()
        print_json(out)
        return 0
    print(f"{len(fp)} point(s) of period {period} for the {describe_map(rnn)} ({fp.message})")
    for i, d in enumerate(fp.to_dicts()):
        state = ", ".join(f"{v:.6g}" for v in d["state"][:6]) + (", …" if rnn.dim > 6 else "")
        print(
            f"  [{i}] {d['stability']:8s} {d['kind']:9s} unstable_dim={d['unstable_dim']} "
            f"|μ|max={d['multipliers_abs'][0]:.4g} residual={d['residual']:.1e}  x=({state})"
        )
    if slow is not None:
        print(f"{len(slow)} slow point(s) with q ≤ {args.slow:g}")
        for i in range(len(slow)):
            print(f"  [s{i}] q={slow.q[i]:.3e} {slow.stability[i]}")
    return 0
