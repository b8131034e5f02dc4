"""Import a PyTorch ``nn.RNN`` (and an optional ``nn.Linear`` readout) into the paper's form (eq. 2).

PyTorch's Elman RNN computes ``h_t = σ(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)`` with σ = tanh or relu.
With the pre-activation ``x_t = W_hh h_{t-1} + W_ih u_t + b_ih + b_hh`` one has ``h_t = σ(x_t)`` and
``x_t = W_hh σ(x_{t-1}) + W_ih u_t + (b_ih + b_hh)``: paper eq. 2 with ``W_rec = W_hh``,
``W_in = W_ih`` and ``b = b_ih + b_hh``. Every dynsys tool then applies to the trained network.

torch is imported only when a module (not a state dict of arrays) is passed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import DynsysError
from .maps import RNNMap

__all__ = ["from_torch_rnn"]


def _to_numpy(t, name):
    try:
        arr = t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(t, dtype=float)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DynsysError(f"{name}: cannot convert to a float array ({exc})") from None
    return np.array(arr, dtype=float)


def from_torch_rnn(rnn, readout=None, *, layer: int = 0, nonlinearity: str | None = None) -> RNNMap:
    """An :class:`~dynsys.maps.RNNMap` from a PyTorch ``nn.RNN`` or its ``state_dict``.

    Parameters
    ----------
    rnn : torch.nn.RNN or mapping
        The module, or a state dict with ``weight_ih_l{layer}``, ``weight_hh_l{layer}`` and optional
        ``bias_ih_l{layer}``, ``bias_hh_l{layer}`` (tensors or arrays).
    readout : torch.nn.Linear or mapping, optional
        A linear readout of ``h_t`` (``weight``, ``bias``), kept as ``W_out``, ``b_out``.
    layer : int
        Which layer of a stacked RNN (its input is the previous layer's hidden state).
    nonlinearity : {'tanh', 'relu'}, optional
        Needed for a state dict (a module knows its own; default 'tanh').

    Returns
    -------
    RNNMap
        ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + b_ih + b_hh`` — eq. 2 on the pre-activations.
    """
    if isinstance(rnn, Mapping):
        state = dict(rnn)
        act = nonlinearity or "tanh"
    else:
        if not hasattr(rnn, "state_dict") or not hasattr(rnn, "weight_hh_l0"):
            raise DynsysError(f"rnn must be a torch.nn.RNN or its state_dict, got {type(rnn).__name__}")
        if getattr(rnn, "bidirectional", False):
            raise DynsysError(
                "rnn: bidirectional RNNs are not a single map; export each direction separately"
            )
        if getattr(rnn, "mode", "RNN_TANH") not in ("RNN_TANH", "RNN_RELU"):
            raise DynsysError(f"rnn: only Elman RNNs (nn.RNN) map to eq. 2, got mode {rnn.mode}")
        if getattr(rnn, "proj_size", 0):
            raise DynsysError("rnn: projections are not supported")
        state = rnn.state_dict()
        act = nonlinearity or rnn.nonlinearity
    if act not in ("tanh", "relu"):
        raise DynsysError(f"unknown nonlinearity {act!r}; known: tanh, relu")
    key = f"weight_hh_l{layer}"
    if key not in state:
        layers = sorted({k.rsplit("_l", 1)[-1] for k in state if k.startswith("weight_hh_l")})
        raise DynsysError(f"layer={layer} not found; the state dict has layers {', '.join(layers) or 'none'}")
    W_hh = _to_numpy(state[key], key)
    W_ih = _to_numpy(state[f"weight_ih_l{layer}"], f"weight_ih_l{layer}")
    b = np.zeros(W_hh.shape[0])
    for bk in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
        if bk in state:
            b = b + _to_numpy(state[bk], bk)
    W_out = b_out = None
    if readout is not None:
        ro = dict(readout) if isinstance(readout, Mapping) else readout.state_dict()
        if "weight" not in ro:
            raise DynsysError("readout must be a torch.nn.Linear or a mapping with 'weight' (and 'bias')")
        W_out = _to_numpy(ro["weight"], "readout.weight")
        b_out = _to_numpy(ro["bias"], "readout.bias") if "bias" in ro else np.zeros(W_out.shape[0])
    return RNNMap(W_rec=W_hh, W_in=W_ih, b=b, activation=act, W_out=W_out, b_out=b_out)
