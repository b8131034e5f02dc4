"""Equilibria: fixed, periodic and slow points (batched Newton, Newton–Krylov), their stability,
and the graph of saddle connections (paper §2.2)."""

from .fixed_points import find_fixed_points, find_slow_points
from .graph import OTHER, dynamics_graph
from .krylov import GmresResult, batched_gmres
from .newton import iterate_k, linear_solver, newton_solve
from .points import FixedPoints
from .roots_1d import bracket_solve, interval_roots
from .stability import STABILITY_CLASSES, classify, multipliers, unstable_dimension

__all__ = [
    "FixedPoints",
    "find_fixed_points",
    "find_slow_points",
    "newton_solve",
    "iterate_k",
    "linear_solver",
    "batched_gmres",
    "GmresResult",
    "interval_roots",
    "bracket_solve",
    "multipliers",
    "classify",
    "unstable_dimension",
    "STABILITY_CLASSES",
    "dynamics_graph",
    "OTHER",
]
