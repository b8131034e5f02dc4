"""The one-unit surface in one call: uniform grid, adaptive refinement, the wall, and where the
steepest point is (paper eq. 8, Fig. 6; what ``dynsys surface`` prints).

A uniform grid steps over the wall, so the largest ``‖∇E‖`` is searched twice: by the quadtree of
:func:`~dynsys.analysis.walls.surface.refine_unit_surface` and along the grid lines of
:func:`~dynsys.analysis.walls.wall.locate_unit_wall`. :func:`analyze_unit_surface` runs the
three, takes the larger of the two maxima *with the point where that search found it* (so the
reported value is the gradient norm at the reported point), and measures the wall's distance to
the basin-boundary and fold curves (:func:`~dynsys.analysis.walls.wall.wall_distances`) where
those are defined.

Examples
--------
>>> r = analyze_unit_surface(resolution=8, lines=4, T=20)
>>> r.max_grad >= r.max_grad_uniform, r.max_grad_source in ("refined", "wall")
(True, True)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..._validate import progress_wrapper
from .surface import (
    RefinedSurface,
    UnitModel,
    UnitSurface,
    _check_grid_memory,
    _check_refine_sizes,
    _check_window,
    _grid_size,
    refine_unit_surface,
    unit_surface,
)
from .wall import Wall, WallDistances, _check_wall_sizes, locate_unit_wall, wall_distances

__all__ = ["SurfaceReport", "analyze_unit_surface"]

#: activations whose σ′ has one isolated maximum: the fold curves, hence the distances, exist
_FOLD_ACTIVATIONS = ("sigmoid", "tanh", "softsign")


@dataclass(frozen=True, eq=False)
class SurfaceReport:
    """Result of :func:`analyze_unit_surface`.

    Attributes
    ----------
    w_range, b_range : (float, float)
        The window.
    grid : UnitSurface
        The loss and exact gradient on the uniform grid.
    refined : RefinedSurface
        The adaptive refinement near the wall.
    wall : Wall
        The wall located along the grid lines (no points when the window holds no wall).
    max_grad : float
        The overall maximum of ``‖∇E‖``: the larger of ``refined.max_grad[0]`` and
        ``wall.max_grad``.
    max_grad_at : ndarray, shape (2,)
        The point (w, b) where that maximum was found.
    max_grad_source : {"refined", "wall"}
        Which search found it.
    distances : WallDistances or None
        Distances of the wall points to the basin-boundary and fold curves; None without wall
        points or for an activation without fold curves (relu, linear).
    """

    w_range: tuple[float, float]
    b_range: tuple[float, float]
    grid: UnitSurface
    refined: RefinedSurface
    wall: Wall
    max_grad: float
    max_grad_at: np.ndarray
    max_grad_source: Literal["refined", "wall"]
    distances: WallDistances | None

    @property
    def model(self) -> UnitModel:
        return self.grid.model

    @property
    def max_grad_uniform(self) -> float:
        """The largest ``‖∇E‖`` on the uniform grid (NaN points ignored)."""
        return float(np.nanmax(self.grid.grad_norm))

    def summary(self) -> dict:
        """JSON-ready summary: model, window, loss range, the maxima of each search and the overall
        one with its location and source, the wall points, and the wall distances when defined."""
        m = self.model
        gmax_ref, at_ref = self.refined.max_grad
        nw, nb = self.grid.loss.shape
        out = {
            "model": {"x0": m.x0, "target": m.target, "T": m.T, "activation": m.activation.name},
            "window": {"w": list(self.w_range), "b": list(self.b_range)},
            "resolution": nw if nw == nb else [nw, nb],
            "loss_min": float(np.nanmin(self.grid.loss)),
            "loss_max": float(np.nanmax(self.grid.loss)),
            "max_grad_norm_uniform": self.max_grad_uniform,
            "max_grad_norm_refined": gmax_ref,
            "max_grad_norm_refined_at": [float(v) for v in at_ref],
            "max_grad_norm_wall": self.wall.max_grad,
            "max_grad_norm": self.max_grad,
            "max_grad_norm_at": [float(v) for v in self.max_grad_at],
            "max_grad_norm_source": self.max_grad_source,
            "wall_points": self.wall.points.tolist(),
            "wall_grad_norm": self.wall.grad_norm.tolist(),
            "wall_width": self.wall.width.tolist(),
        }
        if self.distances is not None:
            out["wall_distances"] = self.distances.summary()
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The uniform grid (``w``, ``b``, ``loss``, ``grad``, ``state``) and the wall
        (``wall_points``, ``wall_grad_norm``) as arrays, e.g. for :func:`dynsys.io.save_result`."""
        g = self.grid
        return {
            "w": g.w,
            "b": g.b,
            "loss": g.loss,
            "grad": g.grad,
            "state": g.state,
            "wall_points": self.wall.points,
            "wall_grad_norm": self.wall.grad_norm,
        }


def analyze_unit_surface(
    w_range=(4.2, 5.4),
    b_range=(-2.8, -2.0),
    resolution=200,
    *,
    lines: int = 100,
    x0=0.5,
    target=0.7,
    T=50,
    activation="sigmoid",
    progress=None,
) -> SurfaceReport:
    """The one-unit surface of eq. 8 on a window, its steepest point and its wall (Fig. 6).

    Parameters
    ----------
    w_range, b_range : (float, float)
        The window (default: the Fig. 6 window of ``experiments/fig6_steep_wall.py``, which holds
        the wall and the valley ``E = 0``).
    resolution : int or (int, int)
        Points per axis of the uniform grid (:func:`~dynsys.analysis.walls.surface.unit_surface`).
    lines : int
        Grid lines per axis searched for the wall
        (:func:`~dynsys.analysis.walls.wall.locate_unit_wall`).
    x0, target, T, activation
        The model (:class:`~dynsys.analysis.walls.surface.UnitModel`); paper: 0.5, 0.7, 50,
        sigmoid.
    progress : bool or callable, optional
        The package's progress protocol (:func:`dynsys._validate.progress_wrapper`): one bar per
        stage (uniform grid, refinement, wall scan, wall), counting the time steps of the blocks
        of points evaluated together — the cost grows like ``resolution² · T``.

    Sizes whose arrays would not fit in memory (``resolution``, ``lines``) are refused before
    any stage runs (:func:`dynsys._validate.check_memory`).

    Returns
    -------
    SurfaceReport
        ``max_grad`` is the larger of the refined-grid and wall-line maxima, and ``max_grad_at``
        the point where that search found it (the wall wins only when it has points and a
        strictly larger maximum).
    """
    model = UnitModel(x0, target, T, activation)
    w_range, b_range = _check_window(w_range, b_range)
    progress_wrapper(progress)
    # every size is checked before the first stage runs
    _check_grid_memory(*_grid_size(resolution), 1, resolution)
    _check_refine_sizes(*(_default(refine_unit_surface, k) for k in ("resolution", "max_depth", "max_cells")))
    _check_wall_sizes(lines, _default(locate_unit_wall, "samples"))
    kw = dict(x0=model.x0, target=model.target, T=model.T, activation=model.activation, progress=progress)
    grid = unit_surface(w_range, b_range, resolution, **kw)
    refined = refine_unit_surface(w_range, b_range, **kw)
    wall = locate_unit_wall(w_range, b_range, lines=lines, **kw)
    gmax_ref, at_ref = refined.max_grad
    if wall.points.size and wall.max_grad > gmax_ref:
        gmax, at, source = wall.max_grad, wall.points[int(np.argmax(wall.grad_norm))].copy(), "wall"
    else:
        gmax, at, source = gmax_ref, at_ref, "refined"
    dist = None
    if wall.points.size and model.activation.name in _FOLD_ACTIVATIONS:
        dist = wall_distances(wall.points, x0=model.x0, activation=model.activation)
    return SurfaceReport(w_range, b_range, grid, refined, wall, gmax, at, source, dist)


def _default(func, name):
    """The default of ``func``'s keyword ``name`` (the sizes the report runs it with)."""
    return inspect.signature(func).parameters[name].default
