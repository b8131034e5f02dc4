"""The recurrent cells the trainer trains, each a map of :mod:`dynsys.maps` (issue 14).

A run trains one **cell** (``TrainConfig.cell``); every member of the ensemble is that cell with
its own initialization, method and seed. The eq. 2 RNN keeps the stacked fast path
(:func:`dynsys.gradients.bptt_stacked`: K networks in one pass); every other cell is trained
member by member through the generic :func:`dynsys.gradients.bptt` of its map (Map rules 16–17),
so anything that is a map with ``vjp`` and ``param_vjp`` can be trained.

=========  =====================================  ==============================  =============
cell       map                                    initializations                 Ω (MSGD-CR)
=========  =====================================  ==============================  =============
rnn        :class:`~dynsys.maps.RNNMap` (eq. 2)   sigmoid, basic_tanh,            yes (eq. 9)
                                                  smart_tanh, orthogonal,
                                                  identity, irnn
residual   ``ResidualRNNMap``                     the tanh ones of ``rnn``        no
ln         ``LayerNormRNNMap``                    the tanh ones of ``rnn``        no
gru        :class:`~dynsys.maps.GRUMap`           pytorch, orthogonal             no
lstm       :class:`~dynsys.maps.LSTMMap`          pytorch, forget_bias,           no
                                                  orthogonal
=========  =====================================  ==============================  =============

Initializations of the gated cells (``n`` hidden units, ``k = 1/√n``):

- ``pytorch``: PyTorch's ``reset_parameters`` — every weight and bias ~ U(−k, k), the readout as
  ``nn.Linear`` (U(−k, k)).
- ``forget_bias`` (LSTM): ``pytorch``, then the forget gate's biases set to a total of 1
  (``bias_ih`` = 1, ``bias_hh`` = 0 on the f block; Jozefowicz, Zaremba & Sutskever 2015).
- ``orthogonal``: each gate block of ``weight_hh`` Haar-orthogonal, ``weight_ih`` and the readout
  as ``pytorch``, biases zero (LSTM: forget-gate bias 1) — Keras's recurrent defaults.

``irnn`` (Le, Jaitly & Hinton 2015) is the eq. 2 RNN with ReLU units, ``W_rec = I``, zero biases and
``W_in``, ``W_out`` ~ N(0, 0.001²). The residual and layer-normalized cells take the eq. 2 weights
of the named ``rnn`` initialization (``gain`` = 1 for the LN cell).

Why Ω is the RNN's only: eq. 9's regularizer is written through ``∂x_{k+1}/∂x_k = W_rec diag σ′(x_k)``
and its gradient (the authors' code treats ``∂E/∂x_{k+1}`` as a constant) needs the derivative of
that Jacobian with respect to the weights — for the eq. 2 RNN a closed form in ``W_rec`` and σ″.
A gated cell's Jacobian is a sum of products of gate values and their derivatives (Map docstring of
:mod:`dynsys.maps.gated`): its weight derivative is a second derivative of ``F`` that the Map
contract does not provide, and a GRU/LSTM already keeps ``‖∂h_t/∂h_k‖`` from vanishing through the
additive z / forget path the regularizer was invented to imitate. MSGD-CR is therefore refused for
every cell but ``rnn``; MSGD and MSGD-C train every cell.

Examples
--------
>>> w = init_weights("gru", "pytorch", 4, 2, 1, np.random.default_rng(0))
>>> sorted(w), w["weight_hh"].shape
(['W_out', 'b_out', 'bias_hh', 'bias_ih', 'weight_hh', 'weight_ih'], (12, 4))
>>> build_map("gru", w, "tanh").dim
4
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validate import check_memory, check_positive_int, check_rng
from ..errors import DynsysError
from ..maps import GRUMap, LSTMMap, RNNMap
from .initializers import initialize, initializer_names

__all__ = [
    "CELLS",
    "build_map",
    "cell_activation",
    "cell_inits",
    "cell_weight_names",
    "default_init",
    "init_weights",
    "parameter_count",
    "recurrent_name",
]

#: the cells the trainer trains (``TrainConfig.cell``)
CELLS: tuple[str, ...] = ("rnn", "residual", "ln", "gru", "lstm")

_RNN_INITS = (*initializer_names(), "irnn")
_TANH_INITS = tuple(i for i in initializer_names() if i != "sigmoid")
_INITS = {
    "rnn": _RNN_INITS,
    "residual": _TANH_INITS,
    "ln": _TANH_INITS,
    "gru": ("pytorch", "orthogonal"),
    "lstm": ("pytorch", "forget_bias", "orthogonal"),
}
_GATES = {"gru": 3, "lstm": 4}
_EQ2 = ("W_rec", "W_in", "b", "W_out", "b_out")
_GATED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_out", "b_out")
_NAMES = {"rnn": _EQ2, "residual": _EQ2, "ln": ("W_rec", "W_in", "gain", "b", "W_out", "b_out")}


def _check_cell(cell) -> str:
    if not isinstance(cell, str) or cell not in CELLS:
        raise DynsysError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return cell


def cell_inits(cell: str) -> tuple[str, ...]:
    """The initialization names ``cell`` accepts (module docstring's table)."""
    return _INITS[_check_cell(cell)]


def default_init(cell: str) -> str:
    """The initialization a run of ``cell`` uses when none is named."""
    return {"gru": "pytorch", "lstm": "forget_bias"}.get(_check_cell(cell), "smart_tanh")


def cell_weight_names(cell: str) -> tuple[str, ...]:
    """The trained arrays of ``cell``, in stacking order (its map's ``weight_names``)."""
    return _NAMES.get(_check_cell(cell), _GATED)


def recurrent_name(cell: str) -> str:
    """The recurrent weight matrix of ``cell`` (what the non-finite ``shrink`` policy shrinks)."""
    return "weight_hh" if _check_cell(cell) in _GATES else "W_rec"


def cell_activation(cell: str, init: str) -> str:
    """The hidden units' activation of ``cell`` under ``init`` (gated cells: their own gates, "tanh")."""
    if cell in _GATES:
        return "tanh"
    return {"sigmoid": "sigmoid", "irnn": "relu"}.get(init, "tanh")


def parameter_count(cell: str, n: int, m: int, k: int) -> int:
    """Number of trained floats of one member (the memory estimate of the config)."""
    if cell in _GATES:
        G = _GATES[cell]
        return G * n * (n + m) + 2 * G * n + k * n + k
    return n * n + n * m + n + k * n + k + (n if cell == "ln" else 0)


def init_weights(cell: str, init: str, n_hidden: int, n_in: int, n_out: int, rng=None) -> dict:
    """The initial weights of one member: a dict over :func:`cell_weight_names`.

    Parameters
    ----------
    cell : str
        One of :data:`CELLS`.
    init : str
        One of :func:`cell_inits` of ``cell``.
    n_hidden, n_in, n_out : int
    rng : None, int, SeedSequence or Generator

    Examples
    --------
    >>> w = init_weights("lstm", "forget_bias", 3, 1, 1, 0)
    >>> (w["bias_ih"][3:6] + w["bias_hh"][3:6]).tolist()
    [1.0, 1.0, 1.0]
    >>> init_weights("rnn", "irnn", 2, 1, 1, 0)["W_rec"].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    cell = _check_cell(cell)
    if init not in _INITS[cell]:
        raise DynsysError(f"inits must be one of {', '.join(_INITS[cell])} for cell {cell!r}, got {init!r}")
    n = check_positive_int(n_hidden, "n_hidden")
    m = check_positive_int(n_in, "n_in", minimum=0)
    k = check_positive_int(n_out, "n_out")
    rng = check_rng(rng)
    if cell not in _GATES:
        if init == "irnn":
            W_in, W_out = rng.normal(0.0, 0.001, size=(n, m)), rng.normal(0.0, 0.001, size=(k, n))
            w = dict(W_rec=np.eye(n), W_in=W_in, b=np.zeros(n), W_out=W_out, b_out=np.zeros(k))
        else:
            net = initialize(init, n, m, k, rng=rng)
            w = {name: np.array(getattr(net, name)) for name in _EQ2}
        if cell == "ln":
            w["gain"] = np.ones(n)
        return {name: w[name] for name in cell_weight_names(cell)}
    G = _GATES[cell]
    check_memory(8.0 * (G + 2) * n * (n + m), "n_hidden", "the initial weights", value=n)
    s = 1.0 / np.sqrt(n)
    w = {
        "weight_ih": rng.uniform(-s, s, size=(G * n, m)),
        "weight_hh": rng.uniform(-s, s, size=(G * n, n)),
        "bias_ih": rng.uniform(-s, s, size=G * n),
        "bias_hh": rng.uniform(-s, s, size=G * n),
        "W_out": rng.uniform(-s, s, size=(k, n)),
        "b_out": rng.uniform(-s, s, size=k),
    }
    if init == "orthogonal":
        blocks = []
        for _ in range(G):
            q, r = np.linalg.qr(rng.normal(size=(n, n)))
            blocks.append(q * np.sign(np.diag(r)))  # Haar measure (Mezzadri 2007)
        w["weight_hh"] = np.concatenate(blocks)
        w["bias_ih"], w["bias_hh"] = np.zeros(G * n), np.zeros(G * n)
    if cell == "lstm" and init in ("forget_bias", "orthogonal"):
        w["bias_ih"][n : 2 * n], w["bias_hh"][n : 2 * n] = 1.0, 0.0
    return w


def build_map(cell: str, weights: Mapping[str, np.ndarray], activation: str = "tanh"):
    """The map of one member: ``cell`` with ``weights`` (a dict over :func:`cell_weight_names`)."""
    cell = _check_cell(cell)
    w = {name: weights[name] for name in cell_weight_names(cell)}
    if cell == "rnn":
        return RNNMap(w["W_rec"], w["W_in"], w["b"], activation, w["W_out"], w["b_out"])
    if cell == "gru":
        return GRUMap(**w)
    if cell == "lstm":
        return LSTMMap(**w)
    from ..maps.modern import LayerNormRNNMap, ResidualRNNMap

    if cell == "residual":
        return ResidualRNNMap(w["W_rec"], w["W_in"], w["b"], w["W_out"], w["b_out"], activation=activation)
    return LayerNormRNNMap(
        w["W_rec"], w["W_in"], w["b"], w["gain"], w["W_out"], w["b_out"], activation=activation
    )
