"""Weights on disk and from PyTorch → maps: ``.npz`` weight files, PyTorch modules and state dicts.

Formats
-------
* ``.npz`` with keys ``W_rec`` (required), optional ``W_in``, ``b``, ``W_out``, ``b_out`` and an
  optional 0-d string array ``activation``: an :class:`~dynsys.maps.RNNMap`; with a 0-d string
  ``map`` = ``"ResidualRNNMap"`` or ``"LayerNormRNNMap"`` (and ``gain`` for the latter) that map.
* ``.npz`` with the keys of a PyTorch state dict (``weight_hh_l0``, ... and ``readout.weight``,
  ``readout.bias``): the GRU / LSTM / stacked map it describes, read by the rules of a ``.pt``
  state dict below (:func:`dynsys.io.pytorch.state_dict_map`). :func:`save_weights` writes these
  formats; every ``.npz`` is read with ``allow_pickle=False``.
* PyTorch (:func:`from_torch`): ``nn.RNN`` (tanh or relu), ``nn.GRU``, ``nn.LSTM``, any number of
  layers, and the cells ``nn.RNNCell``, ``nn.GRUCell``, ``nn.LSTMCell`` (with an optional
  ``nn.Linear`` readout), or their state dicts (``.pt`` / ``.pth``, read with
  ``torch.load(..., weights_only=True)``). The cell type is read from the gate blocks of
  ``weight_hh``: (n, n) Elman, (3n, n) GRU, (4n, n) LSTM. A state dict does not record an Elman
  RNN's nonlinearity: it must be given (``activation``). Bidirectional networks (not a causal map)
  and LSTMs with projections (``proj_size > 0``) are refused, and so is any key that is not part of
  the network or its readout: a part of a network is never analysed as if it were the whole.

How the states correspond
-------------------------
* ``nn.RNN`` / ``nn.RNNCell``: PyTorch computes ``h_t = σ(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)``
  (σ = tanh or relu). With the pre-activation ``x_t = W_hh h_{t-1} + W_ih u_t + b_ih + b_hh`` one
  has ``h_t = σ(x_t)`` and ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + (b_ih + b_hh)``: paper eq. 2 with
  ``W_rec = W_hh``, ``W_in = W_ih`` and ``b = b_ih + b_hh`` (an :class:`~dynsys.maps.RNNMap`, whose
  ``hidden(x) = σ(x)`` is torch's ``h``). The state is the pre-activation ``x``; torch's
  ``h_0 = 0`` is ``x_0 = 0`` (tanh and relu have σ(0) = 0), a general ``h_0`` any ``x_0`` with
  ``σ(x_0) = h_0`` (``arctanh(h_0)`` for tanh, ``h_0`` itself for relu).
* ``nn.GRU`` / ``nn.GRUCell``: a :class:`~dynsys.maps.GRUMap` on torch's ``h`` itself, the same
  weights under the same names.
* ``nn.LSTM`` / ``nn.LSTMCell``: an :class:`~dynsys.maps.LSTMMap` on ``x = [h, c]`` (h first).
* ``num_layers = L > 1``: a :class:`~dynsys.maps.stacked.StackedMap` of the L layers (layer l
  reads the new ``h`` of layer l − 1), with the state ``[x_0, …, x_{L-1}]`` concatenated: torch's
  ``h_n[l]`` (and ``c_n[l]``) are layer l's block (``[h_n[l], c_n[l]]`` for an LSTM, the
  pre-activations for an Elman RNN). Its parameters keep the state dict's names
  (``weight_hh_l1``; an Elman layer's ``W_rec_l1``, ``W_in_l1``, ``b_l1``). Dropout between layers
  acts in training only: the map is the module in ``eval()`` mode.

The PyTorch side lives in :mod:`dynsys.io.pytorch`; torch is imported only when a ``.pt`` file (not
a module or a state dict of arrays) is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DynsysError
from ..maps import LayerNormRNNMap, Map, ResidualRNNMap, RNNMap
from .files import load_arrays, save_arrays
from .pytorch import _RNN_KEY, load_torch_weights, state_dict_map, to_torch_state_dict

__all__ = ["load_weights", "save_weights"]


_WEIGHT_KEYS = ("W_rec", "W_in", "b", "W_out", "b_out", "activation", "map", "gain")
#: the maps of the eq. 2 weight format (``map`` key; default RNNMap)
_EQ2_MAPS = {"RNNMap": RNNMap, "ResidualRNNMap": ResidualRNNMap, "LayerNormRNNMap": LayerNormRNNMap}


def load_weights(path, activation=None, name: str = "weights") -> Map:
    """Load a map from an ``.npz`` weights file (an RNNMap) or a PyTorch state dict (any map it holds).

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (keys ``W_rec``, optional ``W_in``, ``b``, ``W_out``, ``b_out``,
        ``activation``), or a ``.pt`` / ``.pth`` state dict of an ``nn.RNN``, ``nn.GRU``,
        ``nn.LSTM`` or one of their cells (:func:`load_torch_weights`).
    activation : str, optional
        Overrides the ``.npz`` file's ``activation`` (default ``"tanh"`` if neither is given).
        Required for the state dict of an Elman RNN, which does not record its nonlinearity
        (``'tanh'`` or ``'relu'``); refused for a gated one (its nonlinearities are fixed).
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).

    Returns
    -------
    Map
        An :class:`~dynsys.maps.RNNMap`, :class:`~dynsys.maps.GRUMap`,
        :class:`~dynsys.maps.LSTMMap` or a :class:`~dynsys.maps.stacked.StackedMap` of them.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from dynsys.io import save_weights
    >>> from dynsys.maps import RNNMap
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.npz"
    >>> _ = save_weights(path, RNNMap(0.5 * np.eye(2), activation="relu"))
    >>> load_weights(path)
    RNNMap(n=2, m=0, activation='relu', readout=none)
    """
    if Path(path).suffix.lower() in (".pt", ".pth"):
        return load_torch_weights(path, activation=activation, name=name)
    arrays = load_arrays(path, name, check=_check_weight_keys)
    if "W_rec" not in arrays:  # the keys of a PyTorch state dict (checked by _check_weight_keys)
        return state_dict_map(arrays, activation, name, f"{name}: {path}")
    file_act = _string(arrays.pop("activation", None), "activation", name)
    kind = _string(arrays.pop("map", None), "map", name) or "RNNMap"
    if kind not in _EQ2_MAPS:
        raise DynsysError(f"{name}: 'map' must be one of {', '.join(_EQ2_MAPS)} in {path}, got {kind!r}")
    if "gain" in arrays and kind != "LayerNormRNNMap":
        raise DynsysError(f"{name}: 'gain' belongs to a LayerNormRNNMap, but {path} holds a {kind}")
    act = activation or file_act or "tanh"
    return _EQ2_MAPS[kind](activation=act, **arrays)


def _string(arr, key: str, name: str) -> str | None:
    """A 0-d string array of a weights file as ``str`` (None when absent)."""
    if arr is None:
        return None
    if arr.ndim != 0 or arr.dtype.kind not in "US":
        raise DynsysError(f"{name}: '{key}' must be a 0-d string array, got {arr.dtype} {arr.shape}")
    value = arr.item()
    if isinstance(value, bytes):  # a bytes array (dtype S), e.g. written by another tool
        value = value.decode("utf-8", errors="replace")
    return value


def save_weights(path, map: Map) -> Path:
    """Save a map to ``.npz``, loadable by :func:`load_weights` (module docstring's formats).

    An :class:`~dynsys.maps.RNNMap`, ``ResidualRNNMap`` or ``LayerNormRNNMap`` is written in the
    eq. 2 format; a GRU, an LSTM or a stack of one kind of them under PyTorch's state-dict keys
    (its readout as ``readout.weight``, ``readout.bias``). Anything else is refused.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from dynsys.maps import GRUMap
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "gru.npz"
    >>> _ = save_weights(path, GRUMap(weight_hh=np.zeros((6, 2)), W_out=np.ones((1, 2))))
    >>> load_weights(path)
    GRUMap(n=2, m=0, readout=1)
    """
    kind = type(map).__name__
    if _EQ2_MAPS.get(kind) is type(map):
        arrays = {"W_rec": map.W_rec, "b": map.b, "activation": np.array(map.activation.name)}
        if kind != "RNNMap":
            arrays["map"] = np.array(kind)
        if kind == "LayerNormRNNMap":
            arrays["gain"] = map.gain
        if map.input_dim:
            arrays["W_in"] = map.W_in
    else:
        try:
            arrays = to_torch_state_dict(map)
        except DynsysError as exc:
            raise DynsysError(
                f"map: save_weights writes RNN, residual, LN, GRU and LSTM maps ({exc})"
            ) from None
    W_out = map.get_param("W_out") if "W_out" in map.param_names else None
    if W_out is not None:
        b_out = map.get_param("b_out")
        keys = ("W_out", "b_out") if "W_rec" in arrays else ("readout.weight", "readout.bias")
        arrays[keys[0]], arrays[keys[1]] = W_out, b_out
    return save_arrays(Path(path), arrays)


def _check_weight_keys(keys, path, name):
    if "W_rec" not in keys and any(_RNN_KEY.match(k) for k in keys):
        return  # a PyTorch state dict: state_dict_map checks every key
    if "W_rec" not in keys:
        raise DynsysError(f"{name}: {path} has no 'W_rec' array (found: {', '.join(sorted(keys)) or 'none'})")
    unknown = set(keys) - set(_WEIGHT_KEYS)
    if unknown:
        raise DynsysError(
            f"{name}: unknown key(s) {', '.join(sorted(unknown))} in {path}; allowed: {', '.join(_WEIGHT_KEYS)}"
        )
