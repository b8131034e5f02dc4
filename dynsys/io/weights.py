"""Weights on disk and from PyTorch → maps: ``.npz`` weight files and ``nn.RNN`` state dicts.

Formats
-------
* ``.npz`` with keys ``W_rec`` (required), optional ``W_in``, ``b``, ``W_out``, ``b_out`` and an
  optional 0-d string array ``activation``. Read with ``allow_pickle=False`` always.
* PyTorch: a one-layer, one-direction ``nn.RNN`` or an ``nn.RNNCell`` (and an optional
  ``nn.Linear`` readout), or its state dict (``.pt`` / ``.pth``, read with
  ``torch.load(..., weights_only=True)``). A state dict does not record the nonlinearity: it must
  be given (``activation``). Stacked, bidirectional and gated (GRU/LSTM) networks are refused,
  never analysed in part.

PyTorch's Elman RNN computes ``h_t = σ(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)`` with σ = tanh or
relu. With the pre-activation ``x_t = W_hh h_{t-1} + W_ih u_t + b_ih + b_hh`` one has
``h_t = σ(x_t)`` and ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + (b_ih + b_hh)``: paper eq. 2 with
``W_rec = W_hh``, ``W_in = W_ih`` and ``b = b_ih + b_hh``. Every dynsys tool then applies to the
trained network. torch is imported only when a ``.pt`` file (not a module or a state dict of
arrays) is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DynsysError
from ..maps import RNNMap
from .files import load_arrays, save_arrays

__all__ = ["load_weights", "load_torch_weights", "save_weights", "from_torch_rnn"]


_WEIGHT_KEYS = ("W_rec", "W_in", "b", "W_out", "b_out", "activation")


def load_weights(path, activation=None, name: str = "weights"):
    """Load an :class:`~dynsys.maps.RNNMap` from an ``.npz`` weights file or a PyTorch state dict.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (keys ``W_rec``, optional ``W_in``, ``b``, ``W_out``, ``b_out``,
        ``activation``), or a ``.pt`` / ``.pth`` state dict (:func:`load_torch_weights`).
    activation : str, optional
        Overrides the file's ``activation`` (default ``"tanh"`` if neither is given). Required
        for a state dict, which does not record its nonlinearity (``'tanh'`` or ``'relu'``).
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).
    """
    if Path(path).suffix.lower() in (".pt", ".pth"):
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
    """Load a one-layer ``nn.RNN`` (or ``nn.RNNCell``) state dict saved with ``torch.save`` as an RNNMap.

    Read with ``torch.load(..., weights_only=True)`` (tensors only, no arbitrary unpickling). The
    RNN's keys may carry a prefix (``rnn.weight_hh_l0``); a single other 2-D ``*weight`` whose
    width is the hidden size is taken as the linear readout.

    Parameters
    ----------
    path : str or Path
        The ``.pt`` / ``.pth`` file.
    activation : {'tanh', 'relu'}
        The RNN's nonlinearity. Required: a state dict does not record it.
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).

    Raises
    ------
    DynsysError
        For a file that is not a tensor-only state dict, a state dict without exactly one RNN, with
        missing keys, of a stacked (``*_l1``) or bidirectional (``*_reverse``) RNN, of a gated cell
        (GRU/LSTM: ``weight_hh_l0`` of shape (3n, n) or (4n, n)), or without ``activation``. Never
        a part of a network is analysed as if it were the whole.
    """
    path = Path(path)
    if not path.exists():
        raise DynsysError(f"{name}: file not found: {path}")
    if path.is_dir():
        raise DynsysError(f"{name}: {path} is a directory, expected a .pt file")
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
    where = f"{name}: {path}"
    state = {str(k): v for k, v in state.items()}
    prefix = _find_rnn_prefix(state, where)
    own = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "." not in k[len(prefix) :]
    }
    W_hh, W_ih, b = _parse_rnn_state(own, where)
    if activation is None:
        raise DynsysError(
            f"{name}: a PyTorch state dict does not record the nonlinearity: give activation "
            "('tanh' or 'relu'; --activation on the command line)"
        )
    if activation not in _TORCH_NONLINEARITIES:
        raise DynsysError(
            f"{name}: an nn.RNN's nonlinearity is 'tanh' or 'relu', got activation {activation!r}"
        )
    n = W_hh.shape[0]
    own_keys = {prefix + k for k in own}
    heads = [
        k
        for k, v in state.items()
        if k not in own_keys
        and (k == "weight" or k.endswith(".weight"))
        and getattr(v, "ndim", 0) == 2
        and v.shape[1] == n
    ]
    W_out = b_out = None
    if len(heads) == 1:
        hp = heads[0][: -len("weight")]
        W_out = _to_numpy(state[heads[0]], heads[0])
        b_out = (
            _to_numpy(state[hp + "bias"], hp + "bias") if hp + "bias" in state else np.zeros(W_out.shape[0])
        )
    return RNNMap(W_rec=W_hh, W_in=W_ih, b=b, activation=activation, W_out=W_out, b_out=b_out)


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


_TORCH_NONLINEARITIES = ("tanh", "relu")
#: the parameters of one Elman layer (``nn.RNN``: suffix ``_l0``; ``nn.RNNCell``: none)
_RNN_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_RNN_KEY = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?:weight|bias)_(?:ih|hh|hr)(?:_l(?P<layer>\d+)(?P<rev>_reverse)?)?$"
)


def _short_list(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return (shown + f", ... ({len(keys)} keys)" if len(keys) > limit else shown) or "none"


def _find_rnn_prefix(state: Mapping, where: str) -> str:
    """The key prefix (``''``, ``'rnn.'``, ...) of the one recurrent layer in a state dict."""
    prefixes = sorted({m["prefix"] for m in map(_RNN_KEY.match, state) if m})
    if len(prefixes) != 1:
        found = (
            f"{len(prefixes)}: {', '.join(p.rstrip('.') or '(top level)' for p in prefixes)}"
            if prefixes
            else "none"
        )
        raise DynsysError(f"{where} must hold exactly one nn.RNN (found {found}; keys: {_short_list(state)})")
    return prefixes[0]


def _parse_rnn_state(own: Mapping, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W_hh, W_ih, b_ih + b_hh)`` of the state dict ``own`` of ONE Elman layer (keys unprefixed).

    A stacked or bidirectional RNN, a gated cell, missing or unknown keys are refused: never is a
    part of a network analysed as if it were the whole.
    """
    matches = {k: _RNN_KEY.match(k) for k in own}
    if any(m and m["rev"] for m in matches.values()):
        raise DynsysError(
            f"{where} holds a bidirectional nn.RNN, which is not a causal map x_t = F(x_{{t-1}}, u_t); refused"
        )
    layers = {int(m["layer"]) for m in matches.values() if m and m["layer"] is not None}
    if layers and max(layers) > 0:
        raise DynsysError(
            f"{where} holds a {max(layers) + 1}-layer nn.RNN; dynsys analyses one layer "
            "(multi-layer import is planned), refusing to analyse layer 0 alone"
        )
    suffix = "_l0" if layers else ""  # nn.RNN, or nn.RNNCell (no suffix)
    known = {p + suffix for p in _RNN_PARAMS}
    missing = [k for k in (f"weight_hh{suffix}", f"weight_ih{suffix}") if k not in own]
    if missing:
        raise DynsysError(f"{where} lacks {', '.join(missing)} of an nn.RNN (found: {_short_list(own)})")
    unknown = set(own) - known
    if unknown:
        raise DynsysError(
            f"{where}: unknown key(s) {_short_list(unknown)} beside the nn.RNN's weights "
            "(projections and gated cells are not supported)"
        )
    hh, ih = f"weight_hh{suffix}", f"weight_ih{suffix}"
    W_hh = _to_numpy(own[hh], f"{where}: {hh}")
    if W_hh.ndim != 2:
        raise DynsysError(f"{where}: {hh} must be a matrix, got shape {W_hh.shape}")
    rows, n = W_hh.shape
    if rows != n:
        kind = {3 * n: "a GRU", 4 * n: "an LSTM"}.get(rows)
        if kind:
            raise DynsysError(
                f"{where} looks like {kind} ({hh} has shape {W_hh.shape}); "
                "gated cells (GRU/LSTM) are not supported yet"
            )
        raise DynsysError(f"{where}: {hh} must be square (n, n), got shape {W_hh.shape}")
    W_ih = _to_numpy(own[ih], f"{where}: {ih}")
    if W_ih.ndim != 2 or W_ih.shape[0] != n:
        raise DynsysError(f"{where}: {ih} must have shape ({n}, m), got {W_ih.shape}")
    b = np.zeros(n)
    for p in ("bias_ih", "bias_hh"):  # optional: nn.RNN(bias=False) has none
        if p + suffix in own:
            bias = _to_numpy(own[p + suffix], f"{where}: {p}{suffix}")
            if bias.shape != (n,):
                raise DynsysError(f"{where}: {p}{suffix} must have shape ({n},), got {bias.shape}")
            b = b + bias
    return W_hh, W_ih, b


def _to_numpy(t, name):
    try:
        arr = t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(t, dtype=float)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DynsysError(f"{name}: cannot convert to a float array ({exc})") from None
    return np.array(arr, dtype=float)


def _module_state(rnn, nonlinearity):
    """The state dict and nonlinearity of a one-layer ``nn.RNN`` / ``nn.RNNCell`` module (checked)."""
    kind = type(rnn).__name__
    if hasattr(rnn, "mode"):  # nn.RNNBase: nn.RNN, nn.GRU, nn.LSTM
        if rnn.mode not in ("RNN_TANH", "RNN_RELU"):
            raise DynsysError(f"rnn: only Elman RNNs (nn.RNN) map to eq. 2, got mode {rnn.mode}")
        if getattr(rnn, "bidirectional", False):
            raise DynsysError(
                f"rnn: the {kind} is bidirectional, which is not a causal map x_t = F(x_{{t-1}}, u_t); refused"
            )
        if getattr(rnn, "num_layers", 1) != 1:
            raise DynsysError(
                f"rnn: the {kind} has num_layers={rnn.num_layers}; dynsys analyses one layer "
                "(multi-layer import is planned), refusing to analyse layer 0 alone"
            )
        if getattr(rnn, "proj_size", 0):
            raise DynsysError("rnn: projections are not supported")
    elif not hasattr(rnn, "nonlinearity"):  # nn.GRUCell, nn.LSTMCell
        raise DynsysError(f"rnn: only Elman cells (nn.RNNCell) map to eq. 2, got {kind}")
    own = rnn.nonlinearity
    if nonlinearity is not None and nonlinearity != own:
        raise DynsysError(f"rnn: nonlinearity={nonlinearity!r} contradicts the {kind}'s own {own!r}")
    return rnn.state_dict(), own


def from_torch_rnn(rnn, readout=None, *, nonlinearity: str | None = None) -> RNNMap:
    """An :class:`~dynsys.maps.RNNMap` from a one-layer PyTorch ``nn.RNN`` / ``nn.RNNCell`` or its state dict.

    Parameters
    ----------
    rnn : torch.nn.RNN, torch.nn.RNNCell or mapping
        The module, or its state dict: ``weight_ih_l0``, ``weight_hh_l0`` and optional
        ``bias_ih_l0``, ``bias_hh_l0`` (an ``nn.RNNCell``'s have no ``_l0`` suffix; tensors or
        arrays; the keys may share a prefix such as ``rnn.``). A stacked (``num_layers > 1``) or
        bidirectional RNN and gated cells (GRU, LSTM) are refused: a part of a network is never
        analysed as if it were the whole.
    readout : torch.nn.Linear or mapping, optional
        A linear readout of ``h_t`` (``weight``, ``bias``), kept as ``W_out``, ``b_out``.
    nonlinearity : {'tanh', 'relu'}, optional
        Required for a state dict (which does not record it); a module knows its own, and a
        ``nonlinearity`` that contradicts it is refused.

    Returns
    -------
    RNNMap
        ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + b_ih + b_hh`` — eq. 2 on the pre-activations.
    """
    if isinstance(rnn, Mapping):
        state = {str(k): v for k, v in rnn.items()}
        where = "rnn: the state dict"
        if nonlinearity is None:
            raise DynsysError(
                "rnn: a PyTorch state dict does not record the nonlinearity: give nonlinearity ('tanh' or 'relu')"
            )
        act = nonlinearity
    else:
        is_module = hasattr(rnn, "state_dict") and (hasattr(rnn, "weight_hh_l0") or hasattr(rnn, "weight_hh"))
        if not is_module:
            raise DynsysError(
                f"rnn must be a torch.nn.RNN, a torch.nn.RNNCell or a state dict, got {type(rnn).__name__}"
            )
        state, act = _module_state(rnn, nonlinearity)
        where = f"rnn: the {type(rnn).__name__}"
    if act not in _TORCH_NONLINEARITIES:
        raise DynsysError(f"unknown nonlinearity {act!r}; known: {', '.join(_TORCH_NONLINEARITIES)}")
    prefix = _find_rnn_prefix(state, where)
    own = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "." not in k[len(prefix) :]
    }
    W_hh, W_ih, b = _parse_rnn_state(own, where)
    W_out = b_out = None
    if readout is not None:
        ro = dict(readout) if isinstance(readout, Mapping) else readout.state_dict()
        if "weight" not in ro:
            raise DynsysError("readout must be a torch.nn.Linear or a mapping with 'weight' (and 'bias')")
        W_out = _to_numpy(ro["weight"], "readout.weight")
        b_out = _to_numpy(ro["bias"], "readout.bias") if "bias" in ro else np.zeros(W_out.shape[0])
    return RNNMap(W_rec=W_hh, W_in=W_ih, b=b, activation=act, W_out=W_out, b_out=b_out)
