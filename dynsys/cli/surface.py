"""``dynsys surface``: the one-unit loss surface of paper eq. 8 / Fig. 6, its steep wall and its cause."""

from __future__ import annotations

NAME = "surface"
HELP = "loss surface of the one-unit model (eq. 8) over (w, b): max gradient, the steep wall, its cause"

DEFAULT_W = (4.2, 5.4)
DEFAULT_B = (-2.8, -2.0)


def add_arguments(p):
    p.add_argument("--unit", action="store_true", help="the one-unit model x_t = w σ(x_{t-1}) + b (eq. 8)")
    p.add_argument("--x0", type=float, default=0.5, help="start state x0 (default 0.5)")
    p.add_argument("--target", type=float, default=0.7, help="target of (σ(x_T) − target)² (default 0.7)")
    p.add_argument("--T", type=int, default=50, dest="T", help="steps before the loss is read (default 50)")
    p.add_argument("--activation", default="sigmoid", help="activation σ (default sigmoid)")
    p.add_argument(
        "--w-range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        default=DEFAULT_W,
        help="w window (default 4.2 5.4)",
    )
    p.add_argument(
        "--b-range",
        nargs=2,
        type=float,
        metavar=("C", "D"),
        default=DEFAULT_B,
        help="b window (default -2.8 -2.0)",
    )
    p.add_argument(
        "--resolution", type=int, default=200, help="uniform grid points per axis (>= 2; default 200)"
    )
    p.add_argument(
        "--lines", type=int, default=100, help="grid lines per axis searched for the wall (default 100)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (with the wall points)")
    p.add_argument(
        "--out", default=None, metavar="surface.npz", help="save the grid and the wall (.npz + .json)"
    )


def run(args) -> int:
    import numpy as np

    from .._validate import check_finite_scalar, check_positive_int, check_range
    from ..analysis.walls.surface import UnitModel, refine_unit_surface, unit_surface
    from ..analysis.walls.wall import locate_unit_wall, wall_distances
    from ..errors import DynsysError
    from ._common import print_json

    if not args.unit:
        raise DynsysError("surface: give --unit (the one-unit model of eq. 8; the only model the CLI offers)")
    x0 = check_finite_scalar(args.x0, "--x0")
    target = check_finite_scalar(args.target, "--target")
    T = check_positive_int(args.T, "--T")
    w_range = check_range(*args.w_range, "--w-range")
    b_range = check_range(*args.b_range, "--b-range")
    res = check_positive_int(args.resolution, "--resolution", minimum=2)
    lines = check_positive_int(args.lines, "--lines", minimum=1)
    try:
        model = UnitModel(x0, target, T, args.activation)
    except DynsysError as exc:
        raise DynsysError(f"--activation: {exc}") from None
    kw = dict(x0=x0, target=target, T=T, activation=model.activation)

    grid = unit_surface(w_range, b_range, res, **kw)
    refined = refine_unit_surface(w_range, b_range, **kw)
    wall = locate_unit_wall(w_range, b_range, lines=lines, **kw)
    gmax_grid = float(np.nanmax(grid.grad_norm))
    gmax_ref, at_ref = refined.max_grad
    # the overall maximum and its location, both from the same search (refined grid or wall lines)
    if wall.points.size and wall.max_grad > gmax_ref:
        gmax, at, source = wall.max_grad, wall.points[int(np.argmax(wall.grad_norm))], "wall"
    else:
        gmax, at, source = gmax_ref, at_ref, "refined"
    summary = {
        "model": {"x0": x0, "target": target, "T": T, "activation": model.activation.name},
        "window": {"w": list(w_range), "b": list(b_range)},
        "resolution": res,
        "loss_min": float(np.nanmin(grid.loss)),
        "loss_max": float(np.nanmax(grid.loss)),
        "max_grad_norm_uniform": gmax_grid,
        "max_grad_norm_refined": gmax_ref,
        "max_grad_norm_refined_at": [float(v) for v in at_ref],
        "max_grad_norm_wall": wall.max_grad,
        "max_grad_norm": gmax,
        "max_grad_norm_at": [float(v) for v in at],
        "max_grad_norm_source": source,
        "wall_points": wall.points.tolist(),
        "wall_grad_norm": wall.grad_norm.tolist(),
        "wall_width": wall.width.tolist(),
    }
    if wall.points.size and model.activation.name in ("sigmoid", "tanh", "softsign"):
        summary["wall_distances"] = wall_distances(wall.points, x0=x0, activation=model.activation).summary()
    if args.out:
        from pathlib import Path

        from ..io.files import save_result

        stem = Path(args.out)
        stem = stem.with_suffix("") if stem.suffix == ".npz" else stem
        save_result(
            stem,
            {
                "w": grid.w,
                "b": grid.b,
                "loss": grid.loss,
                "grad": grid.grad,
                "state": grid.state,
                "wall_points": wall.points,
                "wall_grad_norm": wall.grad_norm,
            },
            {k: v for k, v in summary.items() if not k.startswith("wall_") or k == "wall_distances"},
        )
        summary["out"] = str(stem.with_suffix(".npz"))
    if args.json:
        print_json(summary)
        return 0
    print(f"one unit, x0={x0:g}, target={target:g}, T={T}, {model.activation.name}")
    print(
        f"window w in [{w_range[0]:g}, {w_range[1]:g}], b in [{b_range[0]:g}, {b_range[1]:g}], grid {res}x{res}"
    )
    print(f"loss range on the grid: [{summary['loss_min']:.4g}, {summary['loss_max']:.4g}]")
    print(f"max |grad E| uniform grid: {gmax_grid:.4g}")
    print(f"max |grad E| refined:      {gmax:.4g} (at w={at[0]:.6g}, b={at[1]:.6g}; {source} search)")
    print(f"wall: {len(wall.points)} points located")
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
