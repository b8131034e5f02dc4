"""Analysis of maps: equilibria, continuation and bifurcations, basins, loss walls, Lyapunov
spectra and the vanishing/exploding-gradient conditions.

Knows maps and gradients; never training, runs, io or plotting. The face loads its parts on first
use (PEP 562), so importing one part (e.g. :mod:`dynsys.analysis.conditions`) does not import the
others.
"""

from __future__ import annotations

import importlib

_PARTS = {
    "equilibria": (
        "FixedPoints find_fixed_points find_slow_points newton_solve iterate_k linear_solver batched_gmres "
        "GmresResult interval_roots bracket_solve multipliers classify unstable_dimension STABILITY_CLASSES "
        "dynamics_graph OTHER"
    ),
    "continuation": (
        "ContinuationOptions pseudo_arclength correct Branch continue_branch continue_fixed_points "
        "Bifurcation BifurcationDiagram BIFURCATION_TYPES bifurcation_diagram locate_bifurcations "
        "switch_at_flip tau_values FoldCurve continue_fold_curve OrbitDiagram orbit_diagram"
    ),
    "basins": (
        "DIVERGED UNDECIDED StateGrid CellTable cell_coords cell_keys box_grid plane_grid label_agreement BasinOptions Attractor "
        "Basins basins_of_attraction CellMapping cell_mapping boundary_mask basin_entropy "
        "uncertainty_exponent boundary_dimension BoundaryGeometry classify_boundary Crossings Sensitivity "
        "jacobian_norms track_crossings sensitivity_scan locate_basin_change cell_mapping_agreement "
        "basin_graph boundary_pairs default_state_box map_grid BASIN_METHODS compute_basins BasinsReport "
        "basins_report"
    ),
    "walls": (
        "UnitModel UnitLoss UnitSurface RefinedSurface unit_loss unit_surface refine_unit_surface Wall "
        "WallDistances locate_unit_wall basin_boundary_curve fold_curves distance_to_polyline wall_distances "
        "DescentPath descend ParamLayout LineSlice PlaneSlice choose_direction loss_line loss_plane losses_at "
        "SurfaceReport analyze_unit_surface"
    ),
    "conditions": (
        "ConditionResult ProductEvidence check_conditions product_evidence spectral_norm spectral_radius "
        "SCALE_DECADES "
        "verdict_for ITERATIVE_THRESHOLD"
    ),
    "cell_conditions": "ConditionsReport GatedBound WHY_NOT_EQ67 conditions_report empirical_verdict gated_bound",
    "coincidence": "CoincidenceResult coincidence_test spike_times_from_norms MIN_SHIFTS",
    "probes": "BasinCrossings ProbeAttractor ProbeLabels basin_crossings probe_attractors",
    "landscape": "Event LandscapeStep InterpolationPath interpolate_maps track_landscape",
    "tracking": (
        "Condition TrackedPoints TrackedEvent ConditionStep TrackStep LandscapeTracker ProbeStep ProbeTracker "
        "landscape_orbits"
    ),
    "lyapunov": "LyapunovSpectrum lyapunov_spectrum orbit_lyapunov sampled_lyapunov LARGE_N",
}
_EXPORTS = {name: part for part, names in _PARTS.items() for name in names.split()}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _PARTS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dynsys.analysis' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_PARTS))
