"""Brute-force orbit diagrams: iterate, discard a transient, keep the attractor's points.

An orbit diagram is the independent check of a continued bifurcation diagram
(:mod:`dynsys.analysis.continuation.bifurcations`): for each parameter value, several initial states are iterated for
``transient`` steps and the next ``keep`` states are recorded. Stable fixed points show up as
single points, period-k orbits as k points, invariant circles (after a Neimark–Sacker
bifurcation) and chaos as clouds. Unstable branches never show up. Where two attractors coexist
(the bistable window of the paper's Fig. 3) different initial states land on different ones.

All parameter values and initial states are iterated together: one vectorized step per time step
for the whole ``(P, S, n)`` stack.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import LogisticMap
>>> od = orbit_diagram(LogisticMap(3.0), "r", np.array([2.8, 3.2]), transient=400, keep=4, rng=0)
>>> od.periods(tol=1e-6).max(axis=1).tolist()
[1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import as_float_array, check_positive_int, check_rng
from ...maps.base import Map
from ...maps.paths import parameter_path

__all__ = ["OrbitDiagram", "orbit_diagram"]


@dataclass(frozen=True, eq=False)
class OrbitDiagram:
    """Asymptotic states over a parameter range.

    Attributes
    ----------
    param_name : str
    params : ndarray, shape (P,)
    states : ndarray, shape (P, S, K, n)
        The ``K`` states kept after the transient, for ``S`` initial states per parameter value
        (NaN where the orbit diverged).
    transient : int
    """

    param_name: str
    params: np.ndarray
    states: np.ndarray
    transient: int

    def periods(self, tol: float = 1e-8, max_period: int | None = None) -> np.ndarray:
        """The smallest ``k`` with ``‖x_{t+k} − x_t‖ < tol`` over the kept window, shape (P, S).

        ``0`` means no period up to ``max_period`` (default ``K // 2``) was found (quasi-periodic,
        chaotic, not yet converged or diverged).
        """
        K = self.states.shape[2]
        kmax = max_period or K // 2
        out = np.zeros(self.states.shape[:2], dtype=int)
        for k in range(kmax, 0, -1):
            d = np.linalg.norm(self.states[:, :, k:] - self.states[:, :, :-k], axis=-1)
            with np.errstate(invalid="ignore"):
                ok = np.all(d < tol, axis=-1)
            out[ok] = k
        return out


def orbit_diagram(
    map: Map,
    param: str,
    values,
    *,
    u=None,
    direction=None,
    x0=None,
    n_initial: int = 8,
    transient: int = 500,
    keep: int = 100,
    rng=None,
) -> OrbitDiagram:
    """Iterate ``map`` at every parameter value in ``values`` and keep the last ``keep`` states.

    Parameters
    ----------
    map : Map
    param : str
        See :func:`~dynsys.maps.parameter_path`.
    values : array_like, shape (P,)
    x0 : array_like, shape (S, n), optional
        Initial states (shared by all parameter values). Default: ``n_initial`` states drawn
        uniformly from the box holding every fixed point (bounded activations) or from [0, 1]ⁿ.
    transient, keep : int

    Returns
    -------
    OrbitDiagram
    """
    path = parameter_path(map, param, u=u, direction=direction)
    values = as_float_array(values, "values", ndim=1)
    transient = check_positive_int(transient, "transient", minimum=0)
    keep = check_positive_int(keep, "keep")
    n = map.dim
    if x0 is None:
        rng = check_rng(rng)
        boxes = [path.map_at(v).state_box(path.u) for v in (values.min(), values.max())]
        if all(b is not None for b in boxes):
            lo = np.minimum(boxes[0][0], boxes[1][0])
            hi = np.maximum(boxes[0][1], boxes[1][1])
        else:
            lo, hi = np.zeros(n), np.ones(n)
        x0 = lo + (hi - lo) * rng.random((check_positive_int(n_initial, "n_initial"), n))
    else:
        x0 = map.validate_state(x0, "x0").reshape(-1, n)
    P, S = values.size, x0.shape[0]
    x = np.broadcast_to(x0, (P, S, n)).copy()
    out = np.empty((P, S, keep, n))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(transient + keep):
            x = path.step_batch(x, values)
            x[~np.all(np.isfinite(x), axis=-1) | (np.abs(x).max(-1) > 1e150)] = np.nan
            if t >= transient:
                out[:, :, t - transient] = x
    return OrbitDiagram(path.name, values, out, transient)
