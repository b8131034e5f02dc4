"""Basins of attraction: grids of initial states, direct iteration, cell mapping, boundaries
(smooth or fractal), a report of all of them in one call, and input-driven boundary crossings
(paper §2.3, Figs. 4–5)."""

from .adjacency import basin_graph, boundary_pairs
from .boundaries import (
    BoundaryGeometry,
    basin_entropy,
    boundary_dimension,
    boundary_mask,
    classify_boundary,
    uncertainty_exponent,
)
from .cells import CellMapping, cell_mapping, cell_mapping_agreement
from .crossings import (
    Crossings,
    Sensitivity,
    jacobian_norms,
    locate_basin_change,
    sensitivity_scan,
    track_crossings,
)
from .direct import Attractor, BasinOptions, Basins, basins_of_attraction
from .grids import (
    DIVERGED,
    UNDECIDED,
    CellTable,
    StateGrid,
    box_grid,
    cell_coords,
    cell_keys,
    default_state_box,
    label_agreement,
    map_grid,
    plane_grid,
)
from .report import BASIN_METHODS, BasinsReport, basins_report, compute_basins

__all__ = [
    "DIVERGED",
    "UNDECIDED",
    "StateGrid",
    "CellTable",
    "cell_coords",
    "cell_keys",
    "box_grid",
    "plane_grid",
    "default_state_box",
    "map_grid",
    "label_agreement",
    "BasinOptions",
    "Attractor",
    "Basins",
    "basins_of_attraction",
    "CellMapping",
    "cell_mapping",
    "cell_mapping_agreement",
    "boundary_mask",
    "basin_entropy",
    "uncertainty_exponent",
    "boundary_dimension",
    "BoundaryGeometry",
    "classify_boundary",
    "Crossings",
    "Sensitivity",
    "jacobian_norms",
    "track_crossings",
    "sensitivity_scan",
    "locate_basin_change",
    "basin_graph",
    "boundary_pairs",
    "BASIN_METHODS",
    "compute_basins",
    "BasinsReport",
    "basins_report",
]
