"""``dynsys basins``: basins of attraction of an RNN (or one unit) on a grid of initial states."""

from __future__ import annotations

from ._common import (
    add_weights_argument,
    library_default,
    load_map,
    output_stem,
    parse_vector,
    print_json,
    saved_paths,
)

NAME = "basins"
HELP = "basins of attraction of the autonomous network on a line/plane of states (attractors found automatically)"
DESCRIPTION = (
    "Iterate the autonomous map F(x) = W_rec σ(x) + b from every state of a grid, find its attractors "
    "(fixed points, periodic orbits, chaotic sets) and their basins; report fractions and the boundary "
    "geometry (smooth/fractal). States: n ≤ 2 uses a box, n > 2 needs --plane ORIGIN DIR1 [DIR2]."
)


def add_arguments(p):
    from ..analysis.basins.cells import cell_mapping
    from ..analysis.basins.direct import BasinOptions
    from ..analysis.basins.report import BASIN_METHODS, compute_basins
    from ..maps.unit import UnitMap

    add_weights_argument(p, required=False)
    p.add_argument("--unit", action="store_true", help="one unit x ↦ w σ(x) + b instead of --weights")
    p.add_argument(
        "--w", type=float, default=library_default(UnitMap, "w"), help="--unit weight (default %(default)s)"
    )
    p.add_argument("--b", type=float, default=-2.45, help="--unit bias (default -2.45, bistable for w = 5)")
    p.add_argument(
        "--plane",
        nargs="+",
        metavar="VEC",
        help="ORIGIN DIR1 [DIR2] as comma-separated vectors: a line or plane of initial states",
    )
    p.add_argument("--resolution", type=int, default=200, help="grid points per axis (default 200)")
    p.add_argument(
        "--extent",
        nargs="+",
        type=float,
        metavar="X",
        help="LO HI (all axes) or LO1 HI1 LO2 HI2: state box, or coefficient ranges with --plane "
        "(default: the box the map sends every state into, plus a margin)",
    )
    p.add_argument(
        "--method",
        choices=BASIN_METHODS,
        default=library_default(compute_basins, "method"),
        help="direct iteration (default) or cell mapping (n ≤ 2 without --plane)",
    )
    p.add_argument(
        "--steps-per-cell",
        type=int,
        default=library_default(cell_mapping, "steps_per_cell"),
        metavar="K",
        help="--method cells: map each sample K steps before snapping to a cell "
        "(1 = simple cell mapping; default %(default)s)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=library_default(BasinOptions, "max_steps"),
        help="iteration budget per point (default %(default)s)",
    )
    p.add_argument(
        "--json", action="store_true", help="print attractors (type, period), fractions, boundary as JSON"
    )
    p.add_argument(
        "--out", metavar="BASINS.npz", help="save labels and grid (+ BASINS.json with the summary)"
    )


def _build(args):
    """The autonomous map and the grid of initial states named by the arguments."""
    import numpy as np

    from ..analysis.basins.grids import map_grid
    from ..errors import DynsysError
    from ..maps.unit import UnitMap

    if args.unit == bool(args.weights):
        raise DynsysError("give either --weights W.npz or --unit (with --w, --b)")
    if args.unit:
        m = UnitMap(w=args.w, b=args.b, activation=args.activation or library_default(UnitMap, "activation"))
    else:
        m = load_map(args)
        if m.input_dim:
            m = m.split_driven()[0]  # the autonomous map F(·, 0)
    ext = None
    if args.extent is not None:
        if len(args.extent) not in (2, 4):
            raise DynsysError(f"--extent takes 2 or 4 numbers, got {len(args.extent)}")
        ext = np.array(args.extent).reshape(-1, 2)
    plane = None
    if args.plane:
        if len(args.plane) not in (2, 3):
            raise DynsysError("--plane takes ORIGIN DIR1 [DIR2] (comma-separated vectors)")
        origin = parse_vector(args.plane[0], "--plane ORIGIN")
        dirs = [parse_vector(v, f"--plane DIR{i}") for i, v in enumerate(args.plane[1:], 1)]
        if any(v.shape != origin.shape for v in [origin, *dirs]) or origin.shape[0] != m.dim:
            raise DynsysError(f"--plane vectors must have {m.dim} entries each")
        plane = (origin, np.array(dirs))
    elif m.dim > 2:
        raise DynsysError(f"the network has n = {m.dim} > 2 units: give --plane ORIGIN DIR1 DIR2")
    return m, map_grid(m, args.resolution, extent=ext, plane=plane)


def run(args) -> int:
    import numpy as np

    from .._validate import check_positive_int
    from ..analysis.basins.report import basins_report, compute_basins
    from ..errors import DynsysError
    from ..io.files import save_result

    check_positive_int(args.resolution, "--resolution", minimum=2)
    max_steps = check_positive_int(args.max_steps, "--max-steps")
    stem = None if args.out is None else output_stem(args.out)
    m, grid = _build(args)
    k = None
    if args.method == "cells":
        if grid.ndim != m.dim:
            raise DynsysError("--method cells needs a grid spanning the state space (no --plane, n ≤ 2)")
        k = check_positive_int(args.steps_per_cell, "--steps-per-cell")
    res = compute_basins(m, grid, args.method, max_steps=max_steps, steps_per_cell=k)
    report = basins_report(res, grid)
    summary = report.summary()
    if stem is not None:
        save_result(stem, report.arrays(), summary)
        summary["saved"] = saved_paths(stem)
    if args.json:
        print_json(summary)
        return 0
    print(f"grid {' x '.join(map(str, grid.shape))}, method {args.method}")
    for a in summary["attractors"]:
        where = ""
        if "points" in a:
            where = " at " + ", ".join(np.array2string(np.asarray(p), precision=4) for p in a["points"][:4])
        per = f" (period {a['period']})" if a.get("period") else ""
        print(f"attractor {a['id']}: {a['type']}{per}{where}  fraction {a['fraction']:.4f}")
    print(f"diverged {summary['diverged']:.4f}  undecided {summary['undecided']:.4f}")
    if "boundary" in summary:
        b = summary["boundary"]
        print(f"boundary: {b['kind']} ({b['reason']})")
    if args.out:
        print(f"saved {summary['saved']}")
    return 0
