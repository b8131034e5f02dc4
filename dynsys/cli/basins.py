"""``dynsys basins``: basins of attraction of an RNN (or one unit) on a grid of initial states."""

from __future__ import annotations

from ._common import add_weights_argument, load_map, parse_vector, print_json

NAME = "basins"
HELP = "basins of attraction of the autonomous network on a line/plane of states (attractors found automatically)"
DESCRIPTION = (
    "Iterate the autonomous map F(x) = W_rec σ(x) + b from every state of a grid, find its attractors "
    "(fixed points, periodic orbits, chaotic sets) and their basins; report fractions and the boundary "
    "geometry (smooth/fractal). States: n ≤ 2 uses a box, n > 2 needs --plane ORIGIN DIR1 [DIR2]."
)


def add_arguments(p):
    add_weights_argument(p, required=False)
    p.add_argument("--unit", action="store_true", help="one unit x ↦ w σ(x) + b instead of --weights")
    p.add_argument("--w", type=float, default=5.0, help="--unit weight (default 5.0)")
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
        choices=("direct", "cells"),
        default="direct",
        help="direct iteration (default) or cell mapping (n ≤ 2 without --plane)",
    )
    p.add_argument(
        "--steps-per-cell",
        type=int,
        default=4,
        metavar="K",
        help="--method cells: map each sample K steps before snapping to a cell (1 = simple cell mapping; default 4)",
    )
    p.add_argument("--max-steps", type=int, default=1000, help="iteration budget per point (default 1000)")
    p.add_argument(
        "--json", action="store_true", help="print attractors (type, period), fractions, boundary as JSON"
    )
    p.add_argument(
        "--out", metavar="BASINS.npz", help="save labels and grid (+ BASINS.json with the summary)"
    )


def _build(args):
    import numpy as np

    from ..analysis.basins.grids import box_grid, plane_grid
    from ..errors import DynsysError
    from ..maps.unit import UnitMap

    if args.unit == bool(args.weights):
        raise DynsysError("give either --weights W.npz or --unit (with --w, --b)")
    if args.unit:
        m = UnitMap(w=args.w, b=args.b, activation=args.activation or "sigmoid")
    else:
        m = load_map(args)
        if m.input_dim:
            m = m.autonomous()
    box = m.state_box()  # contains F(x) for every x (the autonomous map: no input)
    if box is None:
        box = (np.full(m.dim, -3.0), np.full(m.dim, 3.0))
    lo, hi = box
    margin = 0.1 * np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin, hi + margin
    ext = None
    if args.extent is not None:
        if len(args.extent) not in (2, 4):
            raise DynsysError(f"--extent takes 2 or 4 numbers, got {len(args.extent)}")
        ext = np.array(args.extent).reshape(-1, 2)
    if args.plane:
        if len(args.plane) not in (2, 3):
            raise DynsysError("--plane takes ORIGIN DIR1 [DIR2] (comma-separated vectors)")
        origin = parse_vector(args.plane[0], "--plane ORIGIN")
        dirs = [parse_vector(v, f"--plane DIR{i}") for i, v in enumerate(args.plane[1:], 1)]
        if any(v.shape != origin.shape for v in [origin, *dirs]) or origin.shape[0] != m.dim:
            raise DynsysError(f"--plane vectors must have {m.dim} entries each")
        if ext is None:
            L = float(np.max(np.maximum(np.abs(lo), np.abs(hi)) + np.abs(origin)))
            ext = np.array([[-L / np.linalg.norm(d), L / np.linalg.norm(d)] for d in dirs])
        grid = plane_grid(origin, np.array(dirs), ext, args.resolution)
    else:
        if m.dim > 2:
            raise DynsysError(f"the network has n = {m.dim} > 2 units: give --plane ORIGIN DIR1 DIR2")
        if ext is None:
            ext = np.stack([lo, hi], axis=1)
        grid = box_grid(ext if ext.shape[0] == m.dim else np.repeat(ext, m.dim, axis=0), args.resolution)
    return m, grid


def run(args) -> int:
    from pathlib import Path

    import numpy as np

    from .._validate import check_positive_int
    from ..analysis.basins.basin_graph import boundary_pairs
    from ..analysis.basins.boundaries import classify_boundary
    from ..analysis.basins.direct import basins_of_attraction
    from ..errors import DynsysError
    from ..io.files import save_result

    check_positive_int(args.resolution, "--resolution", minimum=2)
    check_positive_int(args.max_steps, "--max-steps")
    m, grid = _build(args)
    if args.method == "cells":
        from ..analysis.basins.cell_mapping import cell_mapping

        if grid.ndim != m.dim:
            raise DynsysError("--method cells needs a grid spanning the state space (no --plane, n ≤ 2)")
        k = check_positive_int(args.steps_per_cell, "--steps-per-cell")
        res = cell_mapping(m, grid, steps_per_cell=k)
        fr = res.fractions
        summary = {
            "attractors": [
                {"id": k, "type": "cells", "cells": int(c.size), "fraction": fr[k]}
                for k, c in enumerate(res.attractor_cells)
            ],
            "diverged": fr["diverged"],
            "undecided": fr["undecided"],
            "grid_shape": list(grid.shape),
        }
        points = {}
    else:
        res = basins_of_attraction(m, grid, max_steps=args.max_steps)
        summary = res.summary()
        points = {f"attractor_{a.id}": a.points for a in res.attractors}
    summary["method"] = args.method
    if args.method == "cells":
        summary["steps_per_cell"] = k
    summary["grid"] = {
        "origin": grid.origin,
        "directions": grid.directions,
        "extent": [[float(a[0]), float(a[-1])] for a in grid.axes],
    }
    summary["touching_basins"] = [[a, b, n] for (a, b), n in boundary_pairs(res.labels).items()]
    if min(grid.shape) >= 40:
        g = classify_boundary(res.labels)
        summary["boundary"] = {
            "kind": g.kind,
            "basin_entropy": g.S_b,
            "boundary_basin_entropy": g.S_bb,
            "uncertainty_exponent": g.alpha,
            "box_dimension": g.dimension,
            "reason": g.reason,
        }
    if args.out:
        arrays = {
            "labels": res.labels,
            "origin": grid.origin,
            "directions": grid.directions,
            **{f"axis_{i}": a for i, a in enumerate(grid.axes)},
            **points,
        }
        if hasattr(res, "steps"):
            arrays["steps"] = res.steps
        out = Path(args.out)
        stem = out.with_suffix("") if out.suffix == ".npz" else out
        save_result(stem, arrays, summary)
        summary["saved"] = str(stem.with_suffix(".npz"))
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
