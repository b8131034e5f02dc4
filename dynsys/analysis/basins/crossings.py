"""Input-driven basin-boundary crossings (paper §2.3, Figs. 4–5).

A driven RNN ``x_t = W_rec σ(x_{t-1}) + W_in u_t + b`` (eq. 2) splits as ``F_t = U_t ∘ F̃`` with
the autonomous part ``F̃(x) = W_rec σ(x) + b`` and the input kick ``U_t(x) = x + W_in u_t``.
``F̃`` maps each basin of its own attractors into itself, so the state can only change basin
through a kick (the split is Map rule 13, ``map.split_driven()``; any driven map has its
autonomous part ``F(·, 0)``): :func:`track_crossings` iterates the driven map, labels every state with the basin
of ``F̃`` it lies in (direct iteration, :func:`dynsys.analysis.basins.basins_of_attraction`) and reports
each step ``t`` at which the label changes.

The paper's claim is that such a crossing is what makes ``x_T`` — and hence the gradient — sensitive
to ``x_0``: two nearby initial states whose trajectories are kicked to opposite sides of a boundary
end at different attractors, so ``‖∂x_T/∂x_0‖`` is large between them. :func:`sensitivity_scan`
computes, for a family of initial states, the final basin of ``F̃`` and ``‖∂x_T/∂x_0‖`` (the product
of one-step Jacobians, eq. 5).

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap
>>> unit = UnitMap(w=5.0, b=-2.45, w_in=1.0)
>>> u = np.zeros((20, 1)); u[2] = 1.5
>>> cr = track_crossings(unit, np.array([[-1.6]]), u)
>>> cr.events.tolist()      # t, trajectory, from basin, to basin
[[3, 0, 0, 1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import check_positive_int
from ...errors import DynsysError
from ...maps.base import Map
from ...maps.trajectory import iterate
from .direct import Attractor, BasinOptions, basins_of_attraction

__all__ = [
    "jacobian_norms",
    "Crossings",
    "track_crossings",
    "Sensitivity",
    "sensitivity_scan",
    "locate_basin_change",
]


def _prepare(map: Map, x0, inputs):
    x0 = map.validate_state(x0, "x0")
    if x0.ndim == 1:
        x0 = x0[None]
    if x0.ndim != 2:
        raise DynsysError(f"x0 must have shape (B, {map.dim}) or ({map.dim},), got {x0.shape}")
    inputs = map.validate_input(inputs, "inputs")
    if inputs is None or inputs.ndim not in (2, 3):
        raise DynsysError(f"inputs must have shape (T, {map.input_dim}) or (T, B, {map.input_dim})")
    if inputs.ndim == 2:
        inputs = np.broadcast_to(inputs[:, None, :], (inputs.shape[0], x0.shape[0], inputs.shape[1]))
    if inputs.shape[1] != x0.shape[0]:
        raise DynsysError(f"inputs batch ({inputs.shape[1]}) does not match x0 batch ({x0.shape[0]})")
    return x0, inputs


def jacobian_norms(map: Map, states: np.ndarray, inputs=None) -> np.ndarray:
    """``‖∂x_t/∂x_0‖₂`` (spectral norm) for ``t = 0 … T`` along trajectories (eq. 5).

    Parameters
    ----------
    states : ndarray, shape (T+1, B, n)
    inputs : ndarray, shape (T, B, m), optional

    Returns
    -------
    ndarray, shape (T+1, B)
    """
    T, B, n = states.shape[0] - 1, states.shape[1], states.shape[2]
    out = np.ones((T + 1, B))
    P = np.broadcast_to(np.eye(n), (B, n, n)).copy()
    for t in range(1, T + 1):
        P = map.jacobian(states[t - 1], None if inputs is None else inputs[t - 1]) @ P
        out[t] = _spectral_norms(P)
    return out


def _spectral_norms(P: np.ndarray) -> np.ndarray:
    """``‖P_b‖₂`` for a stack of ``n × n`` matrices (``|P_b|`` when ``n = 1``)."""
    return np.linalg.norm(P, ord=2, axis=(-2, -1)) if P.shape[-1] > 1 else np.abs(P[:, 0, 0])


def _final_jacobian_norms(map: Map, states: np.ndarray, inputs=None) -> np.ndarray:
    """``‖∂x_T/∂x_0‖₂`` only: the last row of :func:`jacobian_norms` without a norm per step."""
    n = states.shape[2]
    P = np.broadcast_to(np.eye(n), (states.shape[1], n, n)).copy()
    for t in range(1, states.shape[0]):
        P = map.jacobian(states[t - 1], None if inputs is None else inputs[t - 1]) @ P
    return _spectral_norms(P) if states.shape[0] > 1 else np.ones(states.shape[1])


@dataclass(frozen=True, eq=False)
class Crossings:
    """Result of :func:`track_crossings`.

    Attributes
    ----------
    states : ndarray, shape (T+1, B, n)
        Trajectories of the driven map.
    labels : ndarray of int32, shape (T+1, B)
        Basin of ``F̃`` holding each state (attractor id, −1 diverged, −2 undecided).
    events : ndarray of int64, shape (K, 4)
        One row per crossing: ``t, b, from, to`` (the kick ``u_t`` moved trajectory ``b`` from basin
        ``from`` to basin ``to``).
    grad_norms : ndarray, shape (T+1, B)
        ``‖∂x_t/∂x_0‖₂``.
    attractors : tuple of Attractor
        The attractors of ``F̃`` (ids as in ``labels``).
    """

    states: np.ndarray
    labels: np.ndarray
    events: np.ndarray
    grad_norms: np.ndarray
    attractors: tuple[Attractor, ...]

    def summary(self) -> list[dict]:
        return [
            {"t": int(t), "trajectory": int(b), "from": int(f), "to": int(g)} for t, b, f, g in self.events
        ]


def track_crossings(map: Map, x0, inputs, *, attractors=(), options: BasinOptions | None = None) -> Crossings:
    """Follow driven trajectories and report every crossing of a basin boundary of ``F̃``.

    Parameters
    ----------
    map : Map
        The driven map ``F_t`` (any map with inputs).
    x0 : array_like, shape (B, n) or (n,)
    inputs : array_like, shape (T, m) (shared) or (T, B, m)
    attractors : sequence of Attractor
        Attractors of ``F̃`` known in advance (keeps the ids of an earlier :class:`Basins`).
    options : BasinOptions, optional
        For labelling the states (direct iteration of ``F̃``).

    Returns
    -------
    Crossings
    """
    auto, _ = map.split_driven()
    x0, inputs = _prepare(map, x0, inputs)
    traj = iterate(map, x0, inputs)
    basins = basins_of_attraction(auto, traj.states, attractors=attractors, options=options)
    labels = basins.labels
    t, b = np.nonzero(labels[1:] != labels[:-1])
    events = np.stack([t + 1, b, labels[t, b], labels[t + 1, b]], axis=1).astype(np.int64)
    events = events[np.lexsort((events[:, 0], events[:, 1]))]
    return Crossings(
        traj.states,
        labels,
        events.reshape(-1, 4),
        jacobian_norms(map, traj.states, inputs),
        basins.attractors,
    )


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """Result of :func:`sensitivity_scan` for a family of initial states.

    Attributes
    ----------
    final_labels : ndarray of int32, shape (B,)
        Basin of ``F̃`` holding ``x_T``.
    final_states : ndarray, shape (B, n)
    grad_norm : ndarray, shape (B,)
        ``‖∂x_T/∂x_0‖₂``.
    attractors : tuple of Attractor
    """

    final_labels: np.ndarray
    final_states: np.ndarray
    grad_norm: np.ndarray
    attractors: tuple[Attractor, ...]

    def label_changes(self) -> np.ndarray:
        """Indices ``i`` with ``final_labels[i] != final_labels[i + 1]`` (neighbouring states that
        end in different basins)."""
        return np.flatnonzero(self.final_labels[1:] != self.final_labels[:-1])


def sensitivity_scan(
    map: Map, x0, inputs, *, attractors=(), options: BasinOptions | None = None
) -> Sensitivity:
    """Final basin and ``‖∂x_T/∂x_0‖`` for each initial state of a family (e.g. a fine line).

    Parameters
    ----------
    map : Map
        A driven map.
    x0 : array_like, shape (B, n)
    inputs : array_like, shape (T, m) (the same input sequence for all) or (T, B, m)

    Returns
    -------
    Sensitivity
    """
    auto, _ = map.split_driven()
    x0, inputs = _prepare(map, x0, inputs)
    traj = iterate(map, x0, inputs)
    final = traj.states[-1]
    basins = basins_of_attraction(auto, final, attractors=attractors, options=options)
    return Sensitivity(
        basins.labels, final, _final_jacobian_norms(map, traj.states, inputs), basins.attractors
    )


def locate_basin_change(
    map: Map, x0, inputs, *, attractors=(), options: BasinOptions | None = None, iters=60
):
    """The initial state on a line where the final basin changes, by bisection.

    The driven trajectories from the states ``x0`` (a fine line, ordered) are scanned
    (:func:`sensitivity_scan`); between the first two neighbours that end in different basins of
    ``F̃``, the segment is bisected ``iters`` times. That state is the one a kick sends exactly onto
    the basin boundary (paper §2.3): ``‖∂x_T/∂x_0‖`` peaks there.

    Parameters
    ----------
    map : Map
        A driven map.
    x0 : array_like, shape (B, n)
        The line of initial states, in order.
    inputs : array_like, shape (T, m)
        The input sequence every state is driven by.
    attractors : sequence of Attractor
        Attractors of ``F̃`` known in advance (their ids are kept).
    iters : int
        Bisection steps.

    Returns
    -------
    x : ndarray, shape (n,) or None
        The state (None when every state of the line ends in the same basin).
    scan : Sensitivity
        The scan of the line.
    """
    iters = check_positive_int(iters, "iters", minimum=0)
    s = sensitivity_scan(map, x0, inputs, attractors=attractors, options=options)
    line = map.validate_state(x0, "x0").reshape(-1, map.dim)
    ch = s.label_changes()
    if ch.size == 0:
        return None, s
    auto, _ = map.split_driven()
    lo, hi = line[ch[0]], line[ch[0] + 1]
    lab_lo = s.final_labels[ch[0]]
    for _ in range(iters):  # only the final basin is needed: no Jacobian products
        mid = 0.5 * (lo + hi)
        start, u = _prepare(map, mid[None], inputs)
        final = iterate(map, start, u).final
        # the scan's attractors keep the ids of every basin the line reaches
        lab = basins_of_attraction(auto, final, attractors=s.attractors, options=options).labels[0]
        lo, hi = (mid, hi) if lab == lab_lo else (lo, mid)
    return 0.5 * (lo + hi), s
