"""Basins on a grid in one call and their report: attractors and fractions, which basins touch,
and the boundary's geometry (smooth or fractal); what ``dynsys basins`` prints.

:func:`compute_basins` runs one of the two methods of :data:`BASIN_METHODS` on a grid —
``"direct"`` iteration (:func:`~dynsys.analysis.basins.direct.basins_of_attraction`, any grid) or
``"cells"``, cell mapping (:func:`~dynsys.analysis.basins.cells.cell_mapping`, a grid
spanning a 1-D or 2-D state space) — and :func:`basins_report` summarizes either result: the
attractors with their basin fractions (which sum to 1 with the diverged and undecided ones), the
pairs of basins that share a boundary on the grid (:func:`~dynsys.analysis.basins.adjacency.
boundary_pairs`) and, on grids fine enough for the fits, the boundary classification
(:func:`~dynsys.analysis.basins.boundaries.classify_boundary`).

Examples
--------
>>> from dynsys.analysis.basins import map_grid
>>> from dynsys.maps import UnitMap
>>> m = UnitMap(w=5.0, b=-2.45)
>>> grid = map_grid(m, 101)
>>> r = basins_report(compute_basins(m, grid))
>>> len(r.summary()["attractors"]), r.touching, r.boundary.kind
(2, {(0, 1): 1}, 'smooth')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from ..._validate import check_memory, check_positive_int
from ...errors import DynsysError
from ...maps.base import Map
from .adjacency import boundary_pairs
from .boundaries import BoundaryGeometry, classify_boundary
from .cells import CellMapping, cell_mapping
from .direct import BasinOptions, Basins, _direct_bytes, basins_of_attraction
from .grids import _RESULT_BYTES, StateGrid

__all__ = ["BASIN_METHODS", "BasinsReport", "compute_basins", "basins_report"]

BasinMethod = Literal["direct", "cells"]
#: the methods of :func:`compute_basins`: direct iteration (any grid) or cell mapping (n ≤ 2)
BASIN_METHODS: tuple[str, ...] = get_args(BasinMethod)

#: bytes per grid point of :func:`cell_mapping` at its peak, by grid dimension (its cell graphs;
#: measured 244 on a line, 338 on a plane)
_CELLS_BYTES = {1: 260, 2: 360}
#: bytes per grid point of :func:`basins_report` (boundary pairs and the boundary fits;
#: measured ~25 on smooth boundaries, more on fractal ones, where most neighbours differ)
_REPORT_BYTES = 40


def _check_basins_memory(map, grid: StateGrid, method: str, max_steps=None) -> None:
    """Refuse a grid on which computing the basins by ``method`` and then their report
    (:func:`basins_report`) would not fit in memory."""
    size = grid.size
    if method == "cells":
        compute, chunk = float(_CELLS_BYTES.get(grid.ndim, 360)) * size, 0.0
    else:
        opts = BasinOptions() if max_steps is None else BasinOptions(max_steps=max_steps)
        compute, chunk = _direct_bytes(size, map.dim, grid.ndim, opts)
    nbytes = max(compute + chunk, (_RESULT_BYTES + _REPORT_BYTES) * size)  # the chunks' work is freed first
    per_point = nbytes / max(size, 1)
    check_memory(
        nbytes,
        "grid",
        "the basins and their report",
        value=tuple(grid.shape),
        detail=f"{float(size):.1e} grid points × {per_point:.0f} bytes, method {method!r}",
    )


def compute_basins(
    map, grid: StateGrid, method: BasinMethod = "direct", *, max_steps=None, steps_per_cell=None
) -> Basins | CellMapping:
    """Basins of attraction of an autonomous map on a grid, by one of :data:`BASIN_METHODS`.

    Parameters
    ----------
    map : Map
        An autonomous map.
    grid : StateGrid
        The initial states (e.g. from :func:`~dynsys.analysis.basins.grids.map_grid`); ``"cells"``
        needs a grid spanning the state space (``grid.ndim == map.dim``).
    method : {"direct", "cells"}
    max_steps : int, optional
        ``"direct"``: the iteration budget per point (default
        :attr:`~dynsys.analysis.basins.direct.BasinOptions.max_steps`).
    steps_per_cell : int, optional
        ``"cells"``: the ``k`` of the cell mapping of ``F^k`` (default: that of
        :func:`~dynsys.analysis.basins.cells.cell_mapping`).

    Returns
    -------
    Basins or CellMapping
        A grid on which computing the basins and then their report (:func:`basins_report`) would
        not fit in memory is refused first (:func:`dynsys._validate.check_memory`; the message
        starts with ``grid=(shape)``).
    """
    if method not in BASIN_METHODS:
        raise DynsysError(f"unknown method {method!r}; known: {', '.join(BASIN_METHODS)}")
    if isinstance(grid, StateGrid) and isinstance(map, Map):
        _check_basins_memory(map, grid, method, max_steps)
    if method == "cells":
        kw = {} if steps_per_cell is None else {"steps_per_cell": steps_per_cell}
        return cell_mapping(map, grid, **kw)
    kw = {} if max_steps is None else {"max_steps": max_steps}
    return basins_of_attraction(map, grid, **kw)


@dataclass(frozen=True, eq=False)
class BasinsReport:
    """Result of :func:`basins_report`.

    Attributes
    ----------
    result : Basins or CellMapping
        The basins it summarizes.
    grid : StateGrid
        Their grid.
    method : {"direct", "cells"}
        Which method computed them.
    touching : dict
        ``{(a, b): count}`` for every pair of labels ``a < b`` (attractor ids, ``DIVERGED`` −1,
        ``UNDECIDED`` −2) whose cells are neighbours on the grid, with the number of such
        neighbouring cell pairs.
    boundary : BoundaryGeometry or None
        The boundary classification; None on grids coarser than the ``boundary_min_size`` of
        :func:`basins_report`.
    """

    result: Basins | CellMapping
    grid: StateGrid
    method: BasinMethod
    touching: dict[tuple[int, int], int]
    boundary: BoundaryGeometry | None

    @property
    def fractions(self) -> dict:
        """``{id: fraction, ..., "diverged": f, "undecided": f}``; the values sum to 1."""
        return self.result.fractions

    def summary(self) -> dict:
        """JSON-ready summary: attractors with their fractions, diverged and undecided fractions,
        the grid, the method, the touching basins ``[a, b, count]`` and the boundary."""
        res, grid = self.result, self.grid
        if self.method == "cells":
            fr = res.fractions
            out = {
                "attractors": [
                    {"id": k, "type": "cells", "cells": int(c.size), "fraction": fr[k]}
                    for k, c in enumerate(res.attractor_cells)
                ],
                "diverged": fr["diverged"],
                "undecided": fr["undecided"],
                "grid_shape": list(grid.shape),
                "method": self.method,
                "steps_per_cell": res.steps_per_cell,
            }
        else:
            out = dict(res.summary(), method=self.method)
        out["grid"] = {
            "origin": grid.origin.tolist(),
            "directions": grid.directions.tolist(),
            "extent": [[float(a[0]), float(a[-1])] for a in grid.axes],
        }
        out["touching_basins"] = [[a, b, n] for (a, b), n in self.touching.items()]
        if self.boundary is not None:
            g = self.boundary
            out["boundary"] = {
                "kind": g.kind,
                "basin_entropy": g.S_b,
                "boundary_basin_entropy": g.S_bb,
                "uncertainty_exponent": g.alpha,
                "box_dimension": g.dimension,
                "reason": g.reason,
            }
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """``labels``, the grid (``origin``, ``directions``, ``axis_0``, …), the points of each
        attractor found by direct iteration (``attractor_0``, …) and its ``steps``, e.g. for
        :func:`dynsys.io.save_result`."""
        res, grid = self.result, self.grid
        out = {
            "labels": res.labels,
            "origin": grid.origin,
            "directions": grid.directions,
            **{f"axis_{i}": a for i, a in enumerate(grid.axes)},
        }
        if self.method == "direct":
            out.update({f"attractor_{a.id}": a.points for a in res.attractors})
            out["steps"] = res.steps
        return out


def basins_report(
    result: Basins | CellMapping, grid: StateGrid | None = None, *, boundary_min_size: int = 40
) -> BasinsReport:
    """Summarize basins computed on a grid (by :func:`compute_basins` or either method directly).

    Parameters
    ----------
    result : Basins or CellMapping
    grid : StateGrid, optional
        The grid of ``result`` (default ``result.grid``; needed when the basins were computed on
        an explicit array of states).
    boundary_min_size : int
        The boundary is classified only when every grid axis has at least this many points (the
        entropy, uncertainty-exponent and box-counting fits need them).

    Returns
    -------
    BasinsReport
    """
    boundary_min_size = check_positive_int(boundary_min_size, "boundary_min_size")
    grid = result.grid if grid is None else grid
    if grid is None:
        raise DynsysError(
            "basins_report needs the grid of the basins (they were computed on explicit states)"
        )
    if tuple(result.labels.shape) != tuple(grid.shape):
        raise DynsysError(f"grid has shape {grid.shape} but the labels have shape {result.labels.shape}")
    check_memory(
        _REPORT_BYTES * float(grid.size),
        "grid",
        "the basins report",
        value=tuple(grid.shape),
        detail=f"{float(grid.size):.1e} grid points × {_REPORT_BYTES} bytes",
    )
    method = "cells" if isinstance(result, CellMapping) else "direct"
    boundary = classify_boundary(result.labels) if min(grid.shape) >= boundary_min_size else None
    return BasinsReport(result, grid, method, boundary_pairs(result.labels), boundary)
