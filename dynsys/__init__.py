"""dynsys — recurrent neural networks as dynamical systems.

Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks* (ICML 2013),
as a library: the RNN as a map ``x_t = F(x_{t-1}, u_t, θ)`` (eq. 1–2), BPTT with temporal
contributions (eq. 3–5), the vanishing/exploding conditions, fixed points, bifurcations, basins,
loss surfaces, clipping and the Ω regularizer.

One subpackage per part, imports running one way: :mod:`dynsys.maps` (the Map contract and every
map), :mod:`dynsys.gradients`, :mod:`dynsys.analysis`, :mod:`dynsys.io`, :mod:`dynsys.training`,
:mod:`dynsys.runs`, :mod:`dynsys.cli` and :mod:`dynsys.plotting`. ``import dynsys`` is light: the
parts are loaded on first attribute access, and sympy and matplotlib are only imported by
:mod:`dynsys.symbolic` and :mod:`dynsys.plotting`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the subpackage or module whose face exports it (loaded lazily, PEP 562)
_EXPORTS = {
    "DynsysError": "errors",
    "Activation": "activations",
    "get_activation": "activations",
    "activation_names": "activations",
    "Map": "maps",
    "RNNMap": "maps",
    "GRUMap": "maps",
    "LSTMMap": "maps",
    "ResidualRNNMap": "maps",
    "LayerNormRNNMap": "maps",
    "StackedMap": "maps",
    "from_torch": "io",
    "to_torch_state_dict": "io",
    "UnitMap": "maps",
    "FixedInput": "maps",
    "LogisticMap": "maps",
    "HenonMap": "maps",
    "DelayedLogisticMap": "maps",
    "NewtonMap": "maps",
    "Trajectory": "maps",
    "iterate": "maps",
    "parameter_path": "maps",
    "FixedPoints": "analysis",
    "find_fixed_points": "analysis",
    "find_slow_points": "analysis",
    "batched_gmres": "analysis",
    "dynamics_graph": "analysis",
    "Branch": "analysis",
    "continue_fixed_points": "analysis",
    "continue_branch": "analysis",
    "Bifurcation": "analysis",
    "BifurcationDiagram": "analysis",
    "bifurcation_diagram": "analysis",
    "continue_fold_curve": "analysis",
    "OrbitDiagram": "analysis",
    "orbit_diagram": "analysis",
    "Basins": "analysis",
    "BasinOptions": "analysis",
    "Attractor": "analysis",
    "StateGrid": "analysis",
    "basins_of_attraction": "analysis",
    "box_grid": "analysis",
    "plane_grid": "analysis",
    "label_agreement": "analysis",
    "CellMapping": "analysis",
    "cell_mapping": "analysis",
    "basin_entropy": "analysis",
    "boundary_mask": "analysis",
    "uncertainty_exponent": "analysis",
    "classify_boundary": "analysis",
    "BoundaryGeometry": "analysis",
    "track_crossings": "analysis",
    "sensitivity_scan": "analysis",
    "Crossings": "analysis",
    "unit_loss": "analysis",
    "unit_surface": "analysis",
    "refine_unit_surface": "analysis",
    "locate_unit_wall": "analysis",
    "basin_boundary_curve": "analysis",
    "wall_distances": "analysis",
    "descend": "analysis",
    "loss_line": "analysis",
    "loss_plane": "analysis",
    "choose_direction": "analysis",
    "check_conditions": "analysis",
    "conditions_report": "analysis",
    "gated_bound": "analysis",
    "GatedBound": "analysis",
    "ConditionsReport": "analysis",
    "ConditionResult": "analysis",
    "product_evidence": "analysis",
    "spectral_norm": "analysis",
    "spectral_radius": "analysis",
    "lyapunov_spectrum": "analysis",
    "LyapunovSpectrum": "analysis",
    "orbit_lyapunov": "analysis",
    "bptt": "gradients",
    "BPTTResult": "gradients",
    "StateLoss": "gradients",
    "ReadoutLoss": "gradients",
    "ClipInfo": "gradients",
    "clip_grad_norm": "gradients",
    "clip_grad_norm_stacked": "gradients",
    "clip_grad_value": "gradients",
    "omega": "gradients",
    "OmegaResult": "gradients",
    "load_weights": "io",
    "save_weights": "io",
    "from_torch_rnn": "io",
    "Task": "training",
    "get_task": "training",
    "task_names": "training",
    "initialize": "training",
    "TrainConfig": "training",
    "TrainingHistory": "training",
    "train": "training",
    "certificate": "symbolic",
    "Certificate": "symbolic",
    "derive_gamma": "symbolic",
    "symbolic_rnn": "symbolic",
    "symbolic_gated": "symbolic",
    "SymbolicGated": "symbolic",
}
_SUBMODULES = {
    "activations",
    "errors",
    "symbolic",
    "maps",
    "gradients",
    "analysis",
    "io",
    "training",
    "runs",
    "cli",
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
