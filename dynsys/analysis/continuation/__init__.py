"""Continuation: pseudo-arclength branches in one parameter, bifurcations (fold, flip,
Neimark–Sacker), two-parameter fold curves with cusps, and orbit diagrams (paper §2.2, Fig. 3)."""

from .arclength import ContinuationOptions, correct, pseudo_arclength
from .bifurcations import (
    BIFURCATION_TYPES,
    Bifurcation,
    BifurcationDiagram,
    bifurcation_diagram,
    locate_bifurcations,
    switch_at_flip,
    tau_values,
)
from .branches import Branch, continue_branch, continue_fixed_points
from .fold_curves import FoldCurve, continue_fold_curve
from .orbits import OrbitDiagram, orbit_diagram

__all__ = [
    "ContinuationOptions",
    "pseudo_arclength",
    "correct",
    "Branch",
    "continue_branch",
    "continue_fixed_points",
    "Bifurcation",
    "BifurcationDiagram",
    "BIFURCATION_TYPES",
    "bifurcation_diagram",
    "locate_bifurcations",
    "switch_at_flip",
    "tau_values",
    "FoldCurve",
    "continue_fold_curve",
    "OrbitDiagram",
    "orbit_diagram",
]
