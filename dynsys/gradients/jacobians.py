"""Jacobian products of eq. 5 along a trajectory of any map.

``∂x_t/∂x_k = J_t J_{t-1} ⋯ J_{k+1}`` with ``J_i = ∂F/∂x(x_{i-1}, u_i)`` (column convention; for the
RNN map ``J_i = W_rec diag(σ′(x_{i-1}))``), and their norms for every ``0 ≤ k ≤ t ≤ T``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._validate import as_float_array, check_positive_int
from ..errors import DynsysError
from ..maps.base import Map
from ..maps.trajectory import iterate

__all__ = ["final_jacobian_norms", "jacobian_product", "jacobian_product_norms", "product_norms"]


def _one_step_jacobians(map: Map, states, inputs):
    T = states.shape[0] - 1
    if T == 0:  # a trajectory of one state: no steps, only the identity ∂x_0/∂x_0
        return np.empty((0,) + states.shape[1:] + (states.shape[-1],))
    return np.stack(
        [map.jacobian(states[t - 1], None if inputs is None else inputs[t - 1]) for t in range(1, T + 1)]
    )


def jacobian_product(map: Map, states, inputs=None, *, t: int, k: int):
    """``∂x_t/∂x_k = J_t J_{t-1} ⋯ J_{k+1}`` (eq. 5, column convention), ``J_i = ∂F/∂x(x_{i-1}, u_i)``.

    Parameters
    ----------
    map : Map
    states : array_like, shape (T+1, ..., n)
        A trajectory (e.g. ``iterate(...).states``).
    inputs : array_like, shape (T, ..., m), optional
    t, k : int
        ``0 ≤ k ≤ t ≤ T``.

    Returns
    -------
    ndarray, shape (..., n, n)
    """
    states = as_float_array(states, "states")
    T = states.shape[0] - 1
    t, k = check_positive_int(t, "t", minimum=0), check_positive_int(k, "k", minimum=0)
    if not (0 <= k <= t <= T):
        raise DynsysError(f"need 0 <= k <= t <= {T}, got t={t}, k={k}")
    n = states.shape[-1]
    P = np.broadcast_to(np.eye(n), states.shape[1:-1] + (n, n)).copy()
    for i in range(k + 1, t + 1):
        P = map.jacobian(states[i - 1], None if inputs is None else inputs[i - 1]) @ P
    return P


def product_norms(J, ord=2):
    """``[t, k] = ‖J_t ⋯ J_{k+1}‖`` for one-step Jacobians ``J`` of shape (T, ..., n, n)."""
    T = J.shape[0]
    batch = J.shape[1:-2]
    n = J.shape[-1]
    out = np.full((T + 1, T + 1) + batch, np.nan)
    eye_norm = np.linalg.norm(np.broadcast_to(np.eye(n), batch + (n, n)), ord=ord, axis=(-2, -1))
    # x_0 unknown (only h_0 was given): J_1 is undefined, and so is every ∂x_t/∂x_0
    first = 1 if T and np.isnan(J[0]).any() else 0
    for k in range(first, T + 1):
        out[k, k] = eye_norm
        P = None
        for t in range(k + 1, T + 1):
            P = J[t - 1] if P is None else np.matmul(J[t - 1], P)
            out[t, k] = np.linalg.norm(P, ord=ord, axis=(-2, -1))
    return out


def jacobian_product_norms(map: Map, states, inputs=None, ord: Literal[2, "fro"] | float = 2):
    """``‖∂x_t/∂x_k‖`` for every ``0 ≤ k ≤ t ≤ T`` along a trajectory (eq. 5).

    Parameters
    ----------
    map : Map
    states : array_like, shape (T+1, ..., n)
    inputs : array_like, shape (T, ..., m), optional
    ord : 2 (spectral, default), 'fro', or any matrix norm order of :func:`numpy.linalg.norm`

    Returns
    -------
    ndarray, shape (T+1, T+1, ...)
        ``[t, k]``; NaN for ``k > t``.
    """
    states = map.validate_state(states, "states")
    if states.ndim < 2:
        raise DynsysError(f"states must have shape (T+1, ..., {map.dim}), got {states.shape}")
    return product_norms(_one_step_jacobians(map, states, inputs), ord=ord)


def final_jacobian_norms(map: Map, inputs, x0=None) -> np.ndarray:
    """``‖∂x_T/∂x_k‖₂`` for ``k = T, T−1, …, 1`` along the trajectory of ``map`` driven by ``inputs``.

    The product ``∂x_T/∂x_k = J_T ⋯ J_{k+1}`` (eq. 5) is grown from the left, one Jacobian per lag,
    and rescaled to unit norm after each step (its norm is carried as a logarithm, so products
    of 10⁻³⁰⁰ or 10³⁰⁰ neither underflow nor overflow inside the product): ``T`` spectral norms
    per sequence instead of the ``T²/2`` that all ``‖∂x_t/∂x_k‖`` cost.

    Parameters
    ----------
    map : Map
    inputs : ndarray, shape (T, B, m)
    x0 : ndarray, shape (B, n), optional
        Zeros when omitted.

    Returns
    -------
    ndarray, shape (T, B)
        ``[T − k]``: row 0 is the identity's norm 1; a product that becomes exactly zero stays 0.

    Examples
    --------
    >>> from dynsys.maps import RNNMap  # ∂x_T/∂x_k = 0.5^(T−k) I
    >>> rnn = RNNMap(0.5 * np.eye(2), np.zeros((2, 1)), np.zeros(2), "linear")
    >>> final_jacobian_norms(rnn, np.zeros((4, 1, 1)))[:, 0].round(4).tolist()
    [1.0, 0.5, 0.25, 0.125]
    """
    inputs = as_float_array(inputs, "inputs")
    if inputs.ndim != 3 or inputs.shape[-1] != map.input_dim:
        raise DynsysError(f"inputs must have shape (T, B, {map.input_dim}), got {inputs.shape}")
    T, B = inputs.shape[:2]
    x0 = np.zeros((B, map.dim)) if x0 is None else map.validate_state(x0, "x0")
    jac = iterate(map, x0, inputs, jacobians=True).jacobians  # jac[i] = J_{i+1} = ∂x_{i+1}/∂x_i
    out = np.ones((T, B))
    G = np.broadcast_to(np.eye(map.dim), (B, map.dim, map.dim))
    log_norm = np.zeros(B)
    with np.errstate(divide="ignore"):
        for lag in range(1, T):
            G = G @ jac[T - lag]  # ∂x_T/∂x_{k} = ∂x_T/∂x_{k+1} · J_{k+1}, k = T − lag
            s = np.linalg.norm(G, 2, axis=(-2, -1))
            log_norm = log_norm + np.log(s)
            G = G / np.where(s > 0, s, 1.0)[:, None, None]
            out[lag] = np.exp(log_norm)
    return out
