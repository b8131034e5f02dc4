"""Iterating a map: ``x_t = F(x_{t-1}, u_t)`` from ``x_0`` (paper eq. 1), the one loop of the package
that the other tools build their trajectories with.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap
>>> traj = iterate(UnitMap(w=5.0, b=-2.5, activation="sigmoid"), np.array([0.5]), steps=3)
>>> traj.states.shape
(4, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_positive_int
from ..errors import DynsysError
from .base import Map

__all__ = ["Trajectory", "iterate"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The result of :func:`iterate`.

    Attributes
    ----------
    states : ndarray, shape (T + 1, ..., n)
        ``states[0] = x_0`` and ``states[t] = F(states[t-1], u_t)``.
    inputs : ndarray, shape (T, ..., m) or None
        ``inputs[t-1] = u_t``.
    jacobians : ndarray, shape (T, ..., n, n) or None
        ``jacobians[t-1] = ∂x_t/∂x_{t-1} = J(x_{t-1}, u_t)`` when requested.
    """

    states: np.ndarray
    inputs: np.ndarray | None = None
    jacobians: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return self.states.shape[0] - 1

    @property
    def final(self) -> np.ndarray:
        return self.states[-1]


def iterate(map: Map, x0, inputs=None, steps: int | None = None, *, jacobians: bool = False) -> Trajectory:
    """Iterate ``x_t = F(x_{t-1}, u_t)`` from ``x0``.

    Parameters
    ----------
    map : Map
        Any map following the contract.
    x0 : array_like, shape (..., n)
        Initial state(s); leading axes are a batch.
    inputs : array_like, shape (T, ..., m), optional
        ``inputs[t-1] = u_t``; its batch shape broadcasts with ``x0``'s.
    steps : int, optional
        Number of steps T (required when ``inputs`` is None; must equal ``len(inputs)`` otherwise).
    jacobians : bool
        Also return the one-step Jacobians ``∂x_t/∂x_{t-1}``.

    Returns
    -------
    Trajectory
    """
    x0 = map.validate_state(x0, "x0")
    if inputs is not None:
        inputs = map.validate_input(inputs, "inputs")
        if inputs.ndim < 2:
            raise DynsysError(f"inputs must have shape (T, ..., {map.input_dim}), got {inputs.shape}")
        if steps is not None and steps != inputs.shape[0]:
            raise DynsysError(f"steps={steps} does not match len(inputs)={inputs.shape[0]}")
        steps = inputs.shape[0]
        batch = np.broadcast_shapes(x0.shape[:-1], inputs.shape[1:-1])
    else:
        if steps is None:
            raise DynsysError("steps is required when inputs is None")
        steps = check_positive_int(steps, "steps", minimum=0)
        batch = x0.shape[:-1]
    probe = map.step(x0, None if inputs is None else inputs[0]) if steps else x0
    batch = np.broadcast_shapes(batch, probe.shape[:-1])
    states = np.empty((steps + 1,) + batch + (map.dim,), dtype=np.result_type(x0, probe))
    states[0] = x0
    jac = np.empty((steps,) + batch + (map.dim, map.dim)) if jacobians else None
    x = states[0]
    for t in range(1, steps + 1):
        u = None if inputs is None else inputs[t - 1]
        if jacobians:
            jac[t - 1] = map.jacobian(x, u)
        x = map.step(x, u)
        states[t] = x
    return Trajectory(states=states, inputs=inputs, jacobians=jac)
