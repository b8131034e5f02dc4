"""PyTorch's recurrent modules and state dicts → maps (and back): :func:`from_torch`,
:func:`load_torch_weights`, :func:`to_torch_state_dict`.

The formats and how the states correspond are described in :mod:`dynsys.io.weights`. torch is
imported only when a ``.pt`` file (not a module or a state dict of arrays) is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DynsysError
from ..maps import GRUMap, LSTMMap, Map, RNNMap
from ..maps.stacked import StackedMap

__all__ = ["from_torch", "from_torch_rnn", "load_torch_weights", "state_dict_map", "to_torch_state_dict"]


def load_torch_weights(path, activation=None, name: str = "weights") -> Map:
    """Load the state dict of an ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` (any number of layers) or a cell.

    Read with ``torch.load(..., weights_only=True)`` (tensors only, no arbitrary unpickling). The
    network's keys may carry a prefix (``rnn.weight_hh_l0`` in a model's state dict); one other
    2-D ``*weight`` whose width is the (last layer's) hidden size is taken as the linear readout
    (``fc.weight``, with ``fc.bias`` if present). The cell type comes from the gate blocks of
    ``weight_hh``; the layers from the suffixes ``_l0``, ``_l1``, ... (none for a cell).

    Parameters
    ----------
    path : str or Path
        The ``.pt`` / ``.pth`` file.
    activation : {'tanh', 'relu'}, optional
        An Elman RNN's nonlinearity, required for one (a state dict does not record it); refused
        for a GRU or an LSTM.
    name : str
        Argument name used in error messages (the CLI passes ``--weights``).

    Returns
    -------
    Map
        As :func:`from_torch`.

    Raises
    ------
    DynsysError
        For a file that is not a tensor-only state dict; a state dict without exactly one
        recurrent network; with missing keys, shapes that do not fit, a bidirectional network
        (``*_reverse``), projections (``weight_hr_*``), several candidate readouts, or keys that
        are neither the network's nor its readout's (listed); an Elman RNN without
        ``activation`` or a gated one with it. Never a part of a network is analysed as if it were
        the whole.
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
    return state_dict_map(state, activation, name, f"{name}: {path}")


def state_dict_map(state: Mapping, activation=None, name: str = "weights", where: str | None = None) -> Map:
    """The map of a state dict (tensors or arrays) of one recurrent network and an optional readout.

    The rules of :func:`load_torch_weights` (which reads the dict from a ``.pt`` file); ``.npz``
    files with the same keys are read through this too (:func:`dynsys.io.load_weights`).

    Examples
    --------
    >>> import numpy as np
    >>> sd = {"weight_ih": np.zeros((6, 1)), "weight_hh": np.zeros((6, 2)), "fc.weight": np.ones((1, 2))}
    >>> state_dict_map(sd)
    GRUMap(n=2, m=1, readout=1)
    """
    where = name if where is None else where
    net, head = _split_state({str(k): v for k, v in state.items()}, where, find_readout=True)
    act = _check_activation(
        net.gates, activation, name, "activation", "'tanh' or 'relu'; --activation on the command line"
    )
    return _build(net, act, *_readout_arrays(head, where), where)


# ---------------------------------------------------------------------------------------
# State dicts of PyTorch's recurrent modules
# ---------------------------------------------------------------------------------------

_TORCH_NONLINEARITIES = ("tanh", "relu")
#: the parameters of one layer (``nn.RNN``/``GRU``/``LSTM``: suffix ``_l{k}``; the cells: none)
_RNN_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_RNN_KEY = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?:weight|bias)_(?P<kind>ih|hh|hr)(?:_l(?P<layer>\d+)(?P<rev>_reverse)?)?$"
)
#: gate blocks of weight_hh -> (the module, the article + cell name for messages)
_GATES = {1: ("nn.RNN", "an Elman RNN"), 3: ("nn.GRU", "a GRU"), 4: ("nn.LSTM", "an LSTM")}


class _Net:
    """The parsed arrays of one recurrent network: ``gates`` (1, 3, 4), ``cell`` (no suffix), and
    per layer a dict of ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (None if absent)."""

    def __init__(self, gates, cell, layers):
        self.gates, self.cell, self.layers = gates, cell, layers


def _short_list(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return (shown + f", ... ({len(keys)} keys)" if len(keys) > limit else shown) or "none"


def _find_rnn_prefix(state: Mapping, where: str) -> str:
    """The key prefix (``''``, ``'rnn.'``, ...) of the one recurrent network in a state dict."""
    prefixes = sorted({m["prefix"] for m in map(_RNN_KEY.match, state) if m})
    if len(prefixes) != 1:
        found = (
            f"{len(prefixes)}: {', '.join(p.rstrip('.') or '(top level)' for p in prefixes)}"
            if prefixes
            else "none"
        )
        raise DynsysError(
            f"{where} must hold exactly one recurrent network (nn.RNN, nn.GRU or nn.LSTM; "
            f"found {found}; keys: {_short_list(state)})"
        )
    return prefixes[0]


def _parse_net(own: Mapping, where: str) -> _Net:
    """The arrays of ONE recurrent network from its state dict ``own`` (keys unprefixed), checked.

    Bidirectional networks, projections, missing, unknown or misshapen keys are refused: never is
    a part of a network analysed as if it were the whole.
    """
    matches = {k: _RNN_KEY.match(k) for k in own}
    if any(m and m["rev"] for m in matches.values()):
        raise DynsysError(
            f"{where} holds a bidirectional recurrent network (*_reverse keys), which is not a causal map "
            "x_t = F(x_{t-1}, u_t); refused"
        )
    proj = sorted(k for k, m in matches.items() if m and m["kind"] == "hr")
    if proj:
        raise DynsysError(
            f"{where} holds an LSTM with projections (proj_size > 0: {_short_list(proj)}), whose h is not "
            "the state of an LSTM cell; refused"
        )
    layered = {int(m["layer"]) for m in matches.values() if m and m["layer"] is not None}
    if layered and any(m and m["layer"] is None for m in matches.values()):
        raise DynsysError(
            f"{where} mixes the keys of a cell (weight_hh) and of a layered module (weight_hh_l0): "
            f"{_short_list(own)}"
        )
    suffixes = [f"_l{l}" for l in range(max(layered) + 1)] if layered else [""]
    missing = [f"{p}{s}" for s in suffixes for p in ("weight_ih", "weight_hh") if f"{p}{s}" not in own]
    if missing:
        raise DynsysError(
            f"{where} lacks {_short_list(missing)} (each layer of an nn.RNN, GRU or LSTM has weight_ih and "
            f"weight_hh; found: {_short_list(own)})"
        )
    unknown = set(own) - {p + s for s in suffixes for p in _RNN_PARAMS}
    if unknown:
        raise DynsysError(
            f"{where}: unknown key(s) {_short_list(unknown)} beside the recurrent network's weights"
        )
    gates, layers, n_prev = None, [], None
    for l, s in enumerate(suffixes):
        hh, ih = f"weight_hh{s}", f"weight_ih{s}"
        W_hh = _to_numpy(own[hh], f"{where}: {hh}")
        if (
            W_hh.ndim != 2
            or W_hh.shape[1] == 0
            or W_hh.shape[0] % W_hh.shape[1]
            or W_hh.shape[0] // W_hh.shape[1] not in _GATES
        ):
            raise DynsysError(
                f"{where}: {hh} must have shape (G·n, n) with G = 1 (nn.RNN), 3 (GRU) or 4 (LSTM) gate "
                f"blocks, got shape {W_hh.shape}"
            )
        n = W_hh.shape[1]
        G = W_hh.shape[0] // n
        if gates is not None and G != gates:
            raise DynsysError(
                f"{where}: {hh} has {G} gate block(s) but layer 0 has {gates}: one module has one cell type"
            )
        gates = G
        W_ih = _to_numpy(own[ih], f"{where}: {ih}")
        want = "m" if n_prev is None else str(n_prev)
        if W_ih.ndim != 2 or W_ih.shape[0] != G * n or (n_prev is not None and W_ih.shape[1] != n_prev):
            reads = "" if n_prev is None else f" (layer {l} reads the {n_prev} hidden units of layer {l - 1})"
            raise DynsysError(f"{where}: {ih} must have shape ({G * n}, {want}){reads}, got {W_ih.shape}")
        arrays = {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": None, "bias_hh": None}
        for p in ("bias_ih", "bias_hh"):  # optional: bias=False has none
            if p + s in own:
                bias = _to_numpy(own[p + s], f"{where}: {p}{s}")
                if bias.shape != (G * n,):
                    raise DynsysError(f"{where}: {p}{s} must have shape ({G * n},), got {bias.shape}")
                arrays[p] = bias
        layers.append(arrays)
        n_prev = n
    return _Net(gates, not layered, layers)


def _split_state(state: dict, where: str, find_readout: bool):
    """``(net, head)``: the one recurrent network of a (model's) state dict and, if asked, its
    readout ``(weight key, bias key or None)`` or None. Every other key is refused, listed."""
    prefix = _find_rnn_prefix(state, where)
    own = {
        k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "." not in k[len(prefix) :]
    }
    net = _parse_net(own, where)
    used = {prefix + k for k in own}
    head = None
    if find_readout:
        n = net.layers[-1]["weight_hh"].shape[1]
        heads = sorted(
            k
            for k, v in state.items()
            if k not in used
            and (k == "weight" or k.endswith(".weight"))
            and getattr(v, "ndim", 0) == 2
            and v.shape[1] == n
        )
        if len(heads) > 1:
            raise DynsysError(
                f"{where} holds {len(heads)} candidate readouts of the {n} hidden units "
                f"({', '.join(heads)}); keep one in the state dict"
            )
        if heads:
            bias = heads[0][: -len("weight")] + "bias"
            head = (heads[0], bias if bias in state else None)
            used |= {k for k in head if k is not None}
    rest = set(state) - used
    if rest:
        what = "recurrent network" + (
            f" and its readout {head[0][: -len('.weight')] or 'weight'}" if head else ""
        )
        raise DynsysError(
            f"{where}: unknown key(s) {_short_list(rest)} beside the {what}; refusing to analyse a part of "
            "the network (a readout is one 2-D *.weight of width hidden_size, with its *.bias)"
        )
    if head is not None:
        head = {"weight": state[head[0]], **({} if head[1] is None else {"bias": state[head[1]]})}
    return net, head


def _readout_arrays(head, where):
    """``(W_out, b_out)`` from a readout's ``{"weight", "bias"}`` (tensors or arrays), or Nones."""
    if head is None:
        return None, None
    W_out = _to_numpy(head["weight"], f"{where}: readout weight")
    b_out = _to_numpy(head["bias"], f"{where}: readout bias") if "bias" in head else None
    return W_out, b_out


def _check_activation(gates, activation, name, kw, hint):
    """An Elman network needs its nonlinearity; a gated one takes none."""
    if gates != 1:
        if activation is not None:
            raise DynsysError(
                f"{name}: {kw}={activation!r} applies to an Elman nn.RNN, but this is {_GATES[gates][1]}, "
                "whose nonlinearities are fixed (sigmoid gates, tanh)"
            )
        return None
    if activation is None:
        raise DynsysError(
            f"{name}: a PyTorch state dict does not record the nonlinearity: give {kw} ({hint})"
        )
    if activation not in _TORCH_NONLINEARITIES:
        raise DynsysError(f"{name}: an nn.RNN's nonlinearity is 'tanh' or 'relu', got {kw} {activation!r}")
    return activation


def _build(net: _Net, activation, W_out, b_out, where) -> Map:
    """The map of a parsed network: one layer's map, or a StackedMap of the layers."""
    readout = {"W_out": W_out, "b_out": b_out}
    single = len(net.layers) == 1
    maps = []
    try:
        for arrays in net.layers:
            extra = readout if single else {}
            if net.gates == 1:
                b = np.zeros(arrays["weight_hh"].shape[0])
                for bias in (arrays["bias_ih"], arrays["bias_hh"]):
                    b = b if bias is None else b + bias
                W = {"W_rec": arrays["weight_hh"], "W_in": arrays["weight_ih"], "b": b}
                maps.append(RNNMap(**W, activation=activation, **extra))
            else:
                maps.append((GRUMap if net.gates == 3 else LSTMMap)(**arrays, **extra))
        return maps[0] if single else StackedMap(tuple(maps), **readout)
    except DynsysError as exc:
        raise DynsysError(f"{where}: {exc}") from None


def _to_numpy(t, name):
    try:
        arr = t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(t, dtype=float)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DynsysError(f"{name}: cannot convert to a float array ({exc})") from None
    return np.array(arr, dtype=float)


# ---------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------


def _module_kind(module, arg):
    """``(state dict, nonlinearity or None, where)`` of a recurrent torch module, checked."""
    kind = type(module).__name__
    recurrent = hasattr(module, "state_dict") and (
        hasattr(module, "weight_hh_l0") or hasattr(module, "weight_hh")
    )
    if not recurrent:
        raise DynsysError(
            f"{arg} must be a torch.nn.RNN, nn.GRU, nn.LSTM, one of their cells or a state dict, got {kind} "
            "(for a model that holds one, pass model.state_dict(): its readout is found beside it)"
        )
    if hasattr(module, "mode"):  # nn.RNNBase: nn.RNN, nn.GRU, nn.LSTM
        if getattr(module, "bidirectional", False):
            raise DynsysError(
                f"{arg}: the {kind} is bidirectional, which is not a causal map x_t = F(x_{{t-1}}, u_t); refused"
            )
        if getattr(module, "proj_size", 0):
            raise DynsysError(
                f"{arg}: the {kind} has proj_size={module.proj_size}: its h is a projection, not the state of "
                "an LSTM cell; refused"
            )
        own = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(module.mode)
    else:  # nn.RNNCell has a nonlinearity, nn.GRUCell / nn.LSTMCell have none
        own = getattr(module, "nonlinearity", None)
    return module.state_dict(), own, f"{arg}: the {kind}"


def _readout_state(readout):
    if readout is None:
        return None
    ro = dict(readout) if isinstance(readout, Mapping) else getattr(readout, "state_dict", lambda: None)()
    if not isinstance(ro, Mapping) or "weight" not in ro:
        raise DynsysError("readout must be a torch.nn.Linear or a mapping with 'weight' (and 'bias')")
    unknown = set(map(str, ro)) - {"weight", "bias"}
    if unknown:
        raise DynsysError(
            f"readout: unknown key(s) {_short_list(unknown)}; a linear readout has weight and bias"
        )
    return ro


def _import(module, readout, nonlinearity, arg):
    """``(net, activation, head, where)`` of a module or a state dict (the shared front of
    :func:`from_torch` and :func:`from_torch_rnn`)."""
    head = _readout_state(readout)
    if isinstance(module, Mapping):
        where = f"{arg}: the state dict"
        net, found = _split_state({str(k): v for k, v in module.items()}, where, find_readout=head is None)
        head = head if found is None else found
        act = _check_activation(net.gates, nonlinearity, arg, "nonlinearity", "'tanh' or 'relu'")
        return net, act, head, where
    state, own, where = _module_kind(module, arg)
    if own is not None and nonlinearity is not None and nonlinearity != own:
        raise DynsysError(
            f"{arg}: nonlinearity={nonlinearity!r} contradicts the {type(module).__name__}'s own {own!r}"
        )
    net = _parse_net({str(k): v for k, v in state.items()}, where)
    if own is None and nonlinearity is not None:
        _check_activation(net.gates, nonlinearity, arg, "nonlinearity", "")  # raises for a gated cell
    act = own if net.gates == 1 else None
    if act is not None and act not in _TORCH_NONLINEARITIES:
        raise DynsysError(f"{arg}: unknown nonlinearity {act!r}; known: {', '.join(_TORCH_NONLINEARITIES)}")
    return net, act, head, where


def from_torch(module, readout=None, *, nonlinearity: str | None = None) -> Map:
    """The dynsys map of a PyTorch recurrent module (or of its state dict).

    Parameters
    ----------
    module : torch.nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.GRUCell, nn.LSTMCell or mapping
        The module (any ``num_layers``; ``batch_first`` does not matter; ``bias=False`` gives zero
        biases), or a state dict of one (tensors or arrays; the keys may share a prefix such as
        ``rnn.``, and one ``*.weight`` of width ``hidden_size`` beside them is the readout).
        Bidirectional modules (not a causal map) and LSTMs with ``proj_size > 0`` are refused.
    readout : torch.nn.Linear or mapping, optional
        A linear readout of (the last layer's) ``h_t`` (``weight``, ``bias``): ``W_out``, ``b_out``.
    nonlinearity : {'tanh', 'relu'}, optional
        Required for the state dict of an Elman RNN (which does not record it); a module knows its
        own, and a ``nonlinearity`` that contradicts it is refused, as is one for a gated cell.

    Returns
    -------
    Map
        One layer: an :class:`~dynsys.maps.RNNMap` on the pre-activations
        ``x_t = W_hh σ(x_{t-1}) + W_ih u_t + b_ih + b_hh`` (torch's ``h_t = σ(x_t)``), a
        :class:`~dynsys.maps.GRUMap` on ``h``, an :class:`~dynsys.maps.LSTMMap` on ``[h, c]``.
        Several layers: a :class:`~dynsys.maps.stacked.StackedMap` of those (see the module
        docstring for the states).

    Examples
    --------
    >>> import numpy as np
    >>> w = {"weight_ih_l0": np.ones((6, 1)), "weight_hh_l0": np.zeros((6, 2)),
    ...      "weight_ih_l1": np.ones((6, 2)), "weight_hh_l1": np.zeros((6, 2))}
    >>> stack = from_torch(w)  # the state dict of nn.GRU(1, 2, num_layers=2, bias=False)
    >>> stack.dim, [type(layer).__name__ for layer in stack.layers]
    (4, ['GRUMap', 'GRUMap'])
    """
    net, act, head, where = _import(module, readout, nonlinearity, "module")
    W_out, b_out = _readout_arrays(head, "readout" if readout is not None else where)
    return _build(net, act, W_out, b_out, where)


def from_torch_rnn(rnn, readout=None, *, nonlinearity: str | None = None) -> RNNMap:
    """An :class:`~dynsys.maps.RNNMap` from a one-layer PyTorch ``nn.RNN`` / ``nn.RNNCell`` or its state dict.

    :func:`from_torch` for the one case that is paper eq. 2 exactly, and refuses the others (use
    :func:`from_torch` for stacked and gated networks).

    Parameters
    ----------
    rnn : torch.nn.RNN, torch.nn.RNNCell or mapping
        The module, or its state dict: ``weight_ih_l0``, ``weight_hh_l0`` and optional
        ``bias_ih_l0``, ``bias_hh_l0`` (an ``nn.RNNCell``'s have no ``_l0`` suffix; tensors or
        arrays; the keys may share a prefix such as ``rnn.``).
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
        if nonlinearity is None:
            raise DynsysError(
                "rnn: a PyTorch state dict does not record the nonlinearity: give nonlinearity ('tanh' or 'relu')"
            )
        if nonlinearity not in _TORCH_NONLINEARITIES:
            raise DynsysError(
                f"unknown nonlinearity {nonlinearity!r}; known: {', '.join(_TORCH_NONLINEARITIES)}"
            )
        where = "rnn: the state dict"
        state = {str(k): v for k, v in rnn.items()}
        net, _ = _split_state(state, where, find_readout=False)
    else:
        kind = type(rnn).__name__
        if not (hasattr(rnn, "state_dict") and (hasattr(rnn, "weight_hh_l0") or hasattr(rnn, "weight_hh"))):
            raise DynsysError(f"rnn must be a torch.nn.RNN, a torch.nn.RNNCell or a state dict, got {kind}")
        if hasattr(rnn, "mode"):
            if rnn.mode not in ("RNN_TANH", "RNN_RELU"):
                raise DynsysError(
                    f"rnn: only Elman RNNs (nn.RNN) map to eq. 2, got mode {rnn.mode}; from_torch imports it"
                )
        elif not hasattr(rnn, "nonlinearity"):
            raise DynsysError(
                f"rnn: only Elman cells (nn.RNNCell) map to eq. 2, got {kind}; from_torch imports it"
            )
        net, nonlinearity, _, where = _import(rnn, None, nonlinearity, "rnn")
    hh = "weight_hh" + ("" if net.cell else "_l0")
    if net.gates != 1:
        shape = net.layers[0]["weight_hh"].shape
        raise DynsysError(
            f"{where} looks like {_GATES[net.gates][1]} ({hh} has shape {shape}); from_torch_rnn returns an "
            "RNNMap: from_torch imports gated cells"
        )
    if len(net.layers) != 1:
        raise DynsysError(
            f"{where} holds a {len(net.layers)}-layer nn.RNN; from_torch_rnn returns one layer (an RNNMap): "
            "from_torch imports the whole stack as a StackedMap"
        )
    W_out, b_out = _readout_arrays(_readout_state(readout), "readout")
    return _build(net, nonlinearity, W_out, b_out, where)


# ---------------------------------------------------------------------------------------
# Maps -> PyTorch state dicts
# ---------------------------------------------------------------------------------------


def _torch_layers(m) -> list[tuple[int, dict]]:
    """``[(gates, {weight_ih, weight_hh, bias_ih, bias_hh})]`` for each layer of ``m``, bottom first."""
    layers = getattr(m, "layers", None)
    if isinstance(layers, tuple) and layers and all(isinstance(layer, Map) for layer in layers):
        return [entry for layer in layers for entry in _torch_layers(layer)]
    rnn = m.as_rnn() if isinstance(m, Map) else None
    if rnn is not None:
        if rnn.activation.name not in _TORCH_NONLINEARITIES:
            raise DynsysError(
                f"map: an nn.RNN's nonlinearity is 'tanh' or 'relu', this RNNMap's is {rnn.activation.name!r}"
            )
        arrays = {
            "weight_ih": rnn.W_in,
            "weight_hh": rnn.W_rec,
            "bias_ih": rnn.b,
            "bias_hh": np.zeros(rnn.dim),
        }
        return [(1, arrays)]
    if isinstance(m, Map) and set(_RNN_PARAMS) <= set(m.param_names):
        W_hh = np.asarray(m.get_param("weight_hh"))
        return [(W_hh.shape[0] // W_hh.shape[1], {p: np.asarray(m.get_param(p)) for p in _RNN_PARAMS})]
    raise DynsysError(
        f"map must be an RNNMap (tanh or relu), a GRUMap, an LSTMMap or a StackedMap of one kind of them, "
        f"got {type(m).__name__}"
    )


def to_torch_state_dict(map, *, cell: bool = False) -> dict[str, np.ndarray]:
    """The state dict (float64 arrays) of the PyTorch module that computes ``map``: the inverse of :func:`from_torch`.

    Parameters
    ----------
    map : RNNMap, GRUMap, LSTMMap or StackedMap
        An RNNMap needs ``tanh`` or ``relu``; its bias ``b`` goes to ``bias_ih`` (``bias_hh`` is
        zero: only the sum enters). A StackedMap's layers must be of one kind and size (as in
        one torch module).
    cell : bool
        The keys of a cell (``weight_hh``; one layer only) instead of a module (``weight_hh_l0``).

    Returns
    -------
    dict
        ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` for each layer,
        for ``module.load_state_dict({k: torch.tensor(v) for k, v in d.items()})``. The readout
        (``W_out``, ``b_out``) is an ``nn.Linear``'s ``weight`` and ``bias``, not included.

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import RNNMap
    >>> sd = to_torch_state_dict(RNNMap(np.eye(2), W_in=np.ones((2, 1)), b=[0.5, 0.0]))
    >>> sorted(sd), sd["bias_ih_l0"].tolist(), sd["bias_hh_l0"].tolist()
    (['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0'], [0.5, 0.0], [0.0, 0.0])
    """
    layers = _torch_layers(map)
    gates, n = layers[0][0], layers[0][1]["weight_hh"].shape[1]
    for l, (G, arrays) in enumerate(layers):
        if G != gates or arrays["weight_hh"].shape[1] != n:
            raise DynsysError(
                f"map: layer {l} is {_GATES.get(G, ('', 'another cell'))[1]} of {arrays['weight_hh'].shape[1]} "
                f"units, layer 0 {_GATES[gates][1]} of {n}: one torch module has one cell type and size"
            )
    if cell and len(layers) != 1:
        raise DynsysError(f"cell=True needs a one-layer map, this one has {len(layers)} layers")
    out = {}
    for l, (_, arrays) in enumerate(layers):
        suffix = "" if cell else f"_l{l}"
        for p in _RNN_PARAMS:
            out[p + suffix] = np.array(arrays[p], dtype=float)
    return out
