"""``dynsys surface``: the one-unit loss surface of paper eq. 8 / Fig. 6, its steep wall and its cause."""

from __future__ import annotations

NAME = "surface"
HELP = "loss surface of the one-unit model (eq. 8) over (w, b): max gradient, the steep wall, its cause"


def add_arguments(p):
    from ..analysis.walls.report import analyze_unit_surface
    from ..analysis.walls.surface import UnitModel
    from ._common import activation_help, library_default

    model = {k: library_default(UnitModel, k) for k in ("x0", "target", "T", "activation")}
    window = {k: library_default(analyze_unit_surface, k) for k in ("w_range", "b_range")}
    p.add_argument("--unit", action="store_true", help="the one-unit model x_t = w σ(x_{t-1}) + b (eq. 8)")
    p.add_argument("--x0", type=float, default=model["x0"], help="start state x0 (default %(default)s)")
    p.add_argument(
        "--target",
        type=float,
        default=model["target"],
        help="target of (σ(x_T) − target)² (default %(default)s)",
    )
    p.add_argument(
        "--T",
        type=int,
        default=model["T"],
        dest="T",
        help="steps before the loss is read (default %(default)s)",
    )
    p.add_argument(
        "--activation",
        default=model["activation"],
        help=activation_help(f"activation σ (default {model['activation']})"),
    )
    p.add_argument(
        "--w-range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        default=window["w_range"],
        help="w window (default {} {})".format(*window["w_range"]),
    )
    p.add_argument(
        "--b-range",
        nargs=2,
        type=float,
        metavar=("C", "D"),
        default=window["b_range"],
        help="b window (default {} {})".format(*window["b_range"]),
    )
    p.add_argument(
        "--resolution",
        type=int,
        default=library_default(analyze_unit_surface, "resolution"),
        help="uniform grid points per axis (>= 2; default %(default)s)",
    )
    p.add_argument(
        "--lines",
        type=int,
        default=library_default(analyze_unit_surface, "lines"),
        help="grid lines per axis searched for the wall (default %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (with the wall points)")
    p.add_argument(
        "--out", default=None, metavar="surface.npz", help="save the grid and the wall (.npz + .json)"
    )


#: seconds per grid point and time step of the whole analysis (grid, refinement, wall), measured
#: on the project's 2-core machine: 1.0 s at 200² points and T = 50, 5.0 s at T = 500
SECONDS_PER_POINT_STEP = 2.2e-7
#: the CLI refuses a surface it estimates to take longer than this (the Python API has no limit)
MAX_SECONDS = 2 * 3600


def _check_time(resolution: int, T: int) -> None:
    from ..errors import DynsysError

    est = SECONDS_PER_POINT_STEP * resolution**2 * T
    if est > MAX_SECONDS:
        days, hours = est / 86400, est / 3600
        when = f"{days:.3g} days" if days >= 2 else f"{hours:.3g} hours"
        raise DynsysError(
            f"--T {T} with --resolution {resolution}: the surface would take about {when} "
            f"({resolution}² points × {T} steps); the command line stops at {MAX_SECONDS // 3600} hours, "
            "lower --T or --resolution (or call dynsys.analysis.walls from Python)"
        )


def run(args) -> int:
    import sys

    from .._validate import check_finite_scalar, check_positive_int, check_range
    from ..analysis.walls.report import analyze_unit_surface
    from ..analysis.walls.surface import UnitModel
    from ..errors import DynsysError
    from ._common import output_stem, print_json, saved_paths

    if not args.unit:
        raise DynsysError("give --unit (the one-unit model of eq. 8; the only model the CLI offers)")
    x0 = check_finite_scalar(args.x0, "--x0")
    target = check_finite_scalar(args.target, "--target")
    T = check_positive_int(args.T, "--T")
    w_range = check_range(*args.w_range, "--w-range")
    b_range = check_range(*args.b_range, "--b-range")
    res = check_positive_int(args.resolution, "--resolution", minimum=2)
    lines = check_positive_int(args.lines, "--lines", minimum=1)
    _check_time(res, T)
    stem = None if args.out is None else output_stem(args.out)
    try:
        model = UnitModel(x0, target, T, args.activation)
    except DynsysError as exc:
        raise DynsysError(f"--activation: {exc}") from None
    report = analyze_unit_surface(
        w_range,
        b_range,
        res,
        lines=lines,
        x0=x0,
        target=target,
        T=T,
        activation=model.activation,
        progress=sys.stderr.isatty(),
    )
    summary = report.summary()
    if stem is not None:
        from ..io.files import save_result

        meta = {k: v for k, v in summary.items() if not k.startswith("wall_") or k == "wall_distances"}
        save_result(stem, report.arrays(), meta)
        summary["out"] = saved_paths(stem)
    if args.json:
        print_json(summary)
        return 0
    at, source = summary["max_grad_norm_at"], summary["max_grad_norm_source"]
    print(f"one unit, x0={x0:g}, target={target:g}, T={T}, {model.activation.name}")
    print(
        f"window w in [{w_range[0]:g}, {w_range[1]:g}], b in [{b_range[0]:g}, {b_range[1]:g}], grid {res}x{res}"
    )
    print(f"loss range on the grid: [{summary['loss_min']:.4g}, {summary['loss_max']:.4g}]")
    print(f"max |grad E| uniform grid: {summary['max_grad_norm_uniform']:.4g}")
    print(
        f"max |grad E| refined:      {summary['max_grad_norm']:.4g} "
        f"(at w={at[0]:.6g}, b={at[1]:.6g}; {source} search)"
    )
    print(f"wall: {len(report.wall.points)} points located")
    if "wall_distances" in summary:
        d = summary["wall_distances"]
        print(
            "median distance of the wall to the basin-boundary curve: "
            f"{d['basin_boundary_median']:.3g}; to the fold curves: {d['fold_left_median']:.3g}, "
            f"{d['fold_right_median']:.3g}"
        )
    if args.out:
        print(f"saved {summary['out']}")
    return 0
