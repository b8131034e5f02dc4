"""Weights on disk and from PyTorch → maps: ``.npz`` weight files and ``nn.RNN`` state dicts.

Formats
-------
* ``.npz`` with keys ``W_rec`` (required), optional ``W_in``, ``b``, ``W_out``, ``b_out`` and an
  optional 0-d string array ``activation``. Read with ``allow_pickle=False`` always.
* PyTorch: an ``nn.RNN`` (and an optional ``nn.Linear`` readout) or its state dict (``.pt`` /
  ``.pth``, read with ``torch.load(..., weights_only=True)``).

PyTorch's Elman RNN computes ``h_t = σ(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)`` with σ = tanh or
relu. With the pre-activation ``x_t = W_hh h_{t-1} + W_ih u_t + b_ih + b_hh`` one has
``h_t = σ(x_t)`` and ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + (b_ih + b_hh)``: paper eq. 2 with
``W_rec = W_hh``, ``W_in = W_ih`` and ``b = b_ih + b_hh``. Every dynsys tool then applies to the
trained network. torch is imported only when a ``.pt`` file (not a module or a state dict of
arrays) is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DynsysError
from ..maps import RNNMap
from .files import load_arrays, save_arrays

__all__ = ["load_weights", "load_torch_weights", "save_weights", "from_torch_rnn"]


_WEIGHT_KEYS = ("W_rec", "W_in", "b", "W_out", "b_out", "activation")


def load_weights(path, activation=None, name: str = "weights"):
    """Load an :class:`~dynsys.maps.RNNMap` from an ``.npz`` weights file.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (keys ``W_rec``, optional ``W_in``, ``b``, ``W_out``, ``b_out``,
        ``activation``).
    activation : str, optional
        Overrides the file's ``activation`` (default ``"tanh"`` if neither is given).
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).
    """
    if Path(path).suffix in (".pt", ".pth"):
        return load_torch_weights(path, activation=activation, name=name)
    arrays = load_arrays(path, name, check=_check_weight_keys)
    file_act = arrays.pop("activation", None)
    if file_act is not None:
        if file_act.ndim != 0 or file_act.dtype.kind not in "US":
            raise DynsysError(
                f"{name}: 'activation' must be a 0-d string array, got {file_act.dtype} {file_act.shape}"
            )
        file_act = file_act.item()
        if isinstance(file_act, bytes):  # a bytes array (dtype S), e.g. written by another tool
            file_act = file_act.decode("utf-8", errors="replace")
    act = activation or file_act or "tanh"
    return RNNMap(activation=act, **arrays)


def load_torch_weights(path, activation=None, name: str = "weights"):
    """Load an ``nn.RNN`` state dict saved with ``torch.save`` (``.pt``/``.pth``) as an RNNMap.

    Read with ``torch.load(..., weights_only=True)`` (tensors only, no arbitrary unpickling). The
    RNN's keys may carry a prefix (``rnn.weight_hh_l0``); a single other 2-D ``*.weight`` whose
    width is the hidden size is taken as the linear readout.
    """
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    try:
        import torch
    except ImportError:
        raise DynsysError(f"{name}: reading {path.suffix} files needs torch (pip install torch)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DynsysError(f"{name}: cannot read {path} as a tensor-only state dict ({msg})") from None
    if not isinstance(state, Mapping):
        raise DynsysError(f"{name}: {path} holds a {type(state).__name__}, expected a state dict")
    hh = [k for k in state if str(k).endswith("weight_hh_l0")]
    if len(hh) != 1:
        raise DynsysError(f"{name}: {path} must hold exactly one nn.RNN (found {len(hh)} weight_hh_l0 keys)")
    prefix = hh[0][: -len("weight_hh_l0")]
    rnn_state = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "_l" in k[len(prefix) :]
    }
    n = state[hh[0]].shape[0]
    heads = [
        k
        for k, v in state.items()
        if not k.startswith(prefix)
        and k.endswith("weight")
        and getattr(v, "ndim", 0) == 2
        and v.shape[1] == n
    ]
    readout = None
    if len(heads) == 1:
        hp = heads[0][: -len("weight")]
        readout = {
            "weight": state[heads[0]],
            **({"bias": state[hp + "bias"]} if hp + "bias" in state else {}),
        }
    return from_torch_rnn(rnn_state, readout, nonlinearity=activation or "tanh")


def save_weights(path, rnn) -> Path:
    """Save an :class:`~dynsys.maps.RNNMap` to ``.npz`` (loadable by :func:`load_weights`)."""
    arrays = {"W_rec": rnn.W_rec, "b": rnn.b, "activation": np.array(rnn.activation.name)}
    if rnn.input_dim:
        arrays["W_in"] = rnn.W_in
    if rnn.W_out is not None:
        arrays["W_out"] = rnn.W_out
        arrays["b_out"] = rnn.b_out
    return save_arrays(Path(path), arrays)


def _check_weight_keys(keys, path, name):
    if "W_rec" not in keys:
        raise DynsysError(f"{name}: {path} has no 'W_rec' array (found: {', '.join(sorted(keys)) or 'none'})")
    unknown = set(keys) - set(_WEIGHT_KEYS)
    if unknown:
        raise DynsysError(
            f"{name}: unknown key(s) {', '.join(sorted(unknown))} in {path}; allowed: {', '.join(_WEIGHT_KEYS)}"
        )


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
