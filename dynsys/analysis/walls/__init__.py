"""Walls: the one-unit loss surface of paper eq. 8 / Fig. 6 (exact loss, gradient, Hessian), its
steep wall and why it is there, the whole analysis in one call (:func:`analyze_unit_surface`),
gradient descent on it (plain and clipped), and loss slices of n-unit networks."""

from .descent import DescentPath, descend
from .report import SurfaceReport, analyze_unit_surface
from .slices import LineSlice, ParamLayout, PlaneSlice, choose_direction, loss_line, loss_plane, losses_at
from .surface import (
    RefinedSurface,
    UnitLoss,
    UnitModel,
    UnitSurface,
    refine_unit_surface,
    unit_loss,
    unit_surface,
)
from .wall import (
    Wall,
    WallDistances,
    basin_boundary_curve,
    distance_to_polyline,
    fold_curves,
    locate_unit_wall,
    wall_distances,
)

__all__ = [
    "UnitModel",
    "UnitLoss",
    "UnitSurface",
    "RefinedSurface",
    "unit_loss",
    "unit_surface",
    "refine_unit_surface",
    "Wall",
    "WallDistances",
    "locate_unit_wall",
    "basin_boundary_curve",
    "fold_curves",
    "distance_to_polyline",
    "wall_distances",
    "SurfaceReport",
    "analyze_unit_surface",
    "DescentPath",
    "descend",
    "ParamLayout",
    "LineSlice",
    "PlaneSlice",
    "choose_direction",
    "loss_line",
    "loss_plane",
    "losses_at",
]
