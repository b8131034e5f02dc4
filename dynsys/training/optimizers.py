"""Optimizer steps of the trainer: plain SGD (the paper's MSGD), momentum and Adam.

Vectorized over K stacked networks, each with its own learning rate; the state (momentum
buffers, Adam moments and step counter) is a flat dict of arrays so checkpoints can store it.
"""

from __future__ import annotations

import numpy as np

from ..maps import RNNMap

__all__ = ["optimizer_step"]

PARAM_NAMES = RNNMap.weight_names


def optimizer_step(params, upd, lr, state, optimizer, momentum, adam, *, inplace=False):
    """Apply the (clipped) updates ``upd`` to ``params`` with one optimizer step.

    Parameters
    ----------
    params, upd : dict of ndarray
        Weights and updates, each with a leading K axis (``W_rec`` (K, n, n), ..., ``b_out`` (K, k)).
    lr : ndarray, shape (K,)
        Per-member learning rate.
    state : dict or None
        Momentum buffers ``v_<p>`` or Adam moments ``m_<p>``, ``s_<p>`` and counter ``t`` (K,).
    optimizer : {"sgd", "momentum", "adam"}
    momentum : float
    adam : (beta1, beta2, eps)
    inplace : bool
        Write the new weights into the arrays of ``params`` (returned in the new dict) instead of
        new arrays; plain SGD also overwrites ``upd`` (its scratch). The same arithmetic, so the
        same values: for a caller that owns both (the sequence trainer).

    Returns
    -------
    new_params, new_state : dict
        In the floating-point type of each parameter (``lr`` and the Adam bias corrections are
        cast to it: float32 weights stay float32).

    Examples
    --------
    >>> p = {k: np.ones((1, 1)) for k in PARAM_NAMES}
    >>> new, _ = optimizer_step(p, p, np.array([0.5]), None, "sgd", 0.9, (0.9, 0.999, 1e-8))
    >>> float(new["W_rec"][0, 0])
    0.5
    """
    K = lr.shape[0]
    state = dict(state or {})
    if optimizer == "adam":
        b1, b2, eps = adam
        state["t"] = state.get("t", np.zeros(K)) + 1  # one Adam step per update, shared by all parameters
        bc1, bc2 = 1 - b1 ** state["t"], 1 - b2 ** state["t"]  # bias corrections, shape (K,)
    new = {}
    for k in params:
        shape = (K,) + (1,) * (upd[k].ndim - 1)
        dt = params[k].dtype if params[k].dtype.kind == "f" else np.float64
        lrk = lr.astype(dt, copy=False).reshape(shape)
        if optimizer == "sgd" and inplace:  # θ − lr · g, without temporaries
            new[k] = np.subtract(params[k], np.multiply(lrk, upd[k], out=upd[k]), out=params[k])
            continue
        if optimizer == "sgd":
            new[k] = params[k] - lrk * upd[k]
        elif optimizer == "momentum":
            v = momentum * state.get(f"v_{k}", np.zeros_like(upd[k])) - lrk * upd[k]
            state[f"v_{k}"] = v
            new[k] = params[k] + v
        else:
            m = b1 * state.get(f"m_{k}", np.zeros_like(upd[k])) + (1 - b1) * upd[k]
            s = b2 * state.get(f"s_{k}", np.zeros_like(upd[k])) + (1 - b2) * upd[k] ** 2
            state[f"m_{k}"], state[f"s_{k}"] = m, s
            c1, c2 = (c.astype(dt, copy=False).reshape(shape) for c in (bc1, bc2))
            new[k] = params[k] - lrk * (m / c1) / (np.sqrt(s / c2) + eps)
        if inplace:
            params[k][...] = new[k]
            new[k] = params[k]
    return new, state
