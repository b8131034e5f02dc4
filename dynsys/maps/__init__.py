"""Maps: the ``Map`` contract (:mod:`dynsys.maps.base`) and every map, paper eq. 1–2.

The core of dynsys: everything else depends only on the contract. :class:`RNNMap` is the paper's
network (eq. 2), :class:`UnitMap` its one-unit model (eq. 8), :class:`GRUMap` and :class:`LSTMMap`
the gated cells of PyTorch, :class:`ResidualRNNMap` and :class:`LayerNormRNNMap` the residual and
layer-normalized RNNs (:mod:`dynsys.maps.modern`), :class:`StackedMap` a multi-layer network as
one map (:mod:`dynsys.maps.stacked`), and the reference maps of the
literature (:mod:`dynsys.maps.reference`) are ground truth for the tools.
"""

from .base import FixedInput, Linearization, Map, Tape, split_param_name
from .gated import GRUMap, LSTMMap
from .modern import LayerNormRNNMap, ResidualRNNMap
from .paths import DirectionPath, InputPath, MapParameterPath, ParameterPath, parameter_path, path_direction
from .reference import DelayedLogisticMap, HenonMap, LogisticMap, NewtonMap
from .rnn import AffineRNNPath, RNNMap
from .stacked import StackedMap
from .trajectory import Trajectory, iterate
from .unit import UnitMap

__all__ = [
    "Map",
    "Linearization",
    "Tape",
    "FixedInput",
    "split_param_name",
    "RNNMap",
    "GRUMap",
    "LSTMMap",
    "ResidualRNNMap",
    "LayerNormRNNMap",
    "StackedMap",
    "UnitMap",
    "LogisticMap",
    "HenonMap",
    "DelayedLogisticMap",
    "NewtonMap",
    "Trajectory",
    "iterate",
    "ParameterPath",
    "MapParameterPath",
    "DirectionPath",
    "InputPath",
    "AffineRNNPath",
    "parameter_path",
    "path_direction",
]
