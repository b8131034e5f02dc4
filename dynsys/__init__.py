"""dynsys — recurrent neural networks as dynamical systems.

Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks* (ICML 2013),
as a library: the RNN as a map ``x_t = F(x_{t-1}, u_t, θ)`` (eq. 1–2), BPTT with temporal
contributions (eq. 3–5), the vanishing/exploding conditions, fixed points, bifurcations, basins,
loss surfaces, clipping and the Ω regularizer.

``import dynsys`` is light: submodules are loaded on first attribute access, and sympy and
matplotlib are only imported by :mod:`dynsys.symbolic` and :mod:`dynsys.plotting`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it (loaded lazily, PEP 562)
_EXPORTS = {
    "DynsysError": "errors",
    "Activation": "activations",
    "get_activation": "activations",
    "activation_names": "activations",
    "Map": "maps",
    "RNNMap": "maps",
    "UnitMap": "maps",
    "LogisticMap": "reference_maps",
    "HenonMap": "reference_maps",
    "DelayedLogisticMap": "reference_maps",
    "NewtonMap": "reference_maps",
    "Trajectory": "maps",
    "iterate": "maps",
    "FixedPoints": "fixed_points",
    "find_fixed_points": "fixed_points",
    "find_slow_points": "fixed_points",
    "batched_gmres": "krylov",
    "Branch": "continuation",
    "parameter_path": "continuation",
    "continue_fixed_points": "continuation",
    "continue_branch": "continuation",
    "Bifurcation": "bifurcations",
    "BifurcationDiagram": "bifurcations",
    "bifurcation_diagram": "bifurcations",
    "continue_fold_curve": "bifurcations",
    "OrbitDiagram": "orbit_diagram",
    "dynamics_graph": "graph",
    "Basins": "basins",
    "BasinOptions": "basins",
    "Attractor": "basins",
    "StateGrid": "grids",
    "basins_of_attraction": "basins",
    "box_grid": "grids",
    "plane_grid": "grids",
    "label_agreement": "grids",
    "CellMapping": "cell_mapping",
    "basin_entropy": "boundaries",
    "boundary_mask": "boundaries",
    "uncertainty_exponent": "boundaries",
    "classify_boundary": "boundaries",
    "BoundaryGeometry": "boundaries",
    "split_driven": "crossings",
    "track_crossings": "crossings",
    "sensitivity_scan": "crossings",
    "Crossings": "crossings",
    "load_weights": "io",
    "save_weights": "io",
    "from_torch_rnn": "torch_import",
    "ClipInfo": "clipping",
    "clip_grad_norm": "clipping",
    "clip_grad_norm_stacked": "clipping",
    "clip_grad_value": "clipping",
    "unit_loss": "surface",
    "unit_surface": "surface",
    "refine_unit_surface": "surface",
    "locate_unit_wall": "wall",
    "basin_boundary_curve": "wall",
    "wall_distances": "wall",
    "descend": "descent",
    "loss_line": "slices",
    "loss_plane": "slices",
    "choose_direction": "slices",
    "Task": "tasks",
    "get_task": "tasks",
    "task_names": "tasks",
    "RNNParams": "initializers",
    "initialize": "initializers",
    "omega": "regularizers",
    "OmegaResult": "regularizers",
    "TrainConfig": "training",
    "TrainingHistory": "training",
    "train": "training",
    "check_conditions": "conditions",
    "ConditionResult": "conditions",
    "spectral_norm": "conditions",
    "spectral_radius": "conditions",
    "lyapunov_spectrum": "lyapunov",
    "LyapunovSpectrum": "lyapunov",
    "certificate": "symbolic",
    "Certificate": "symbolic",
    "derive_gamma": "symbolic",
    "symbolic_rnn": "symbolic",
}
_SUBMODULES = {
    "activations",
    "errors",
    "maps",
    "reference_maps",
    "gradients",
    "losses",
    "jacobians",
    "io",
    "clipping",
    "descent",
    "wall",
    "slices",
    "symbolic",
    "conditions",
    "lyapunov",
    "fixed_points",
    "newton",
    "krylov",
    "roots_1d",
    "stability",
    "continuation",
    "parameter_paths",
    "arclength",
    "bifurcations",
    "fold_curves",
    "orbit_diagram",
    "basins",
    "grids",
    "cell_mapping",
    "boundaries",
    "crossings",
    "basin_graph",
    "graph",
    "surface",
    "regularizers",
    "initializers",
    "tasks",
    "training",
    "training_config",
    "training_update",
    "training_history",
    "optimizers",
    "runtime",
    "sweep",
    "plotting",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dynsys' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
