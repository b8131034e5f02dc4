"""The graph of the dynamics: fixed points and the saddle connections between them.

Nodes are the fixed points of a map (:class:`~dynsys.analysis.equilibria.FixedPoints`) with their
stability; every saddle or repeller gets edges to the attractors its unstable directions lead to.
Following the unstable manifold numerically: start at ``x* ± ε v`` for each unstable eigenvector
``v`` (real and imaginary parts of a complex one), iterate, and see which stable fixed point the
orbit ends at (an attractor, or another saddle when the push runs along an invariant set:
a heteroclinic connection). Orbits that end elsewhere (a periodic orbit, chaos, infinity) go to a single node
``"other"``. In the paper's language (§2.2–2.3) the saddles sit on the basin boundaries and their
unstable manifolds show which attractors a small push across the boundary can reach.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> from dynsys.analysis.equilibria import find_fixed_points
>>> g = dynamics_graph(UnitMap(w=5.0, b=-2.5), find_fixed_points(UnitMap(w=5.0, b=-2.5)))
>>> sorted(g.successors(1))
[0, 2]
"""

from __future__ import annotations

import numpy as np

from ..._validate import check_finite_scalar, check_positive_int
from ...maps.base import Map
from .newton import iterate_k
from .points import FixedPoints

__all__ = ["dynamics_graph", "OTHER"]

OTHER = "other"


def dynamics_graph(
    map: Map,
    fixed_points: FixedPoints,
    *,
    eps: float = 1e-5,
    steps: int = 2000,
    attract_tol: float = 1e-6,
):
    """A :class:`networkx.DiGraph` of fixed points and saddle → attractor edges.

    Parameters
    ----------
    map : Map
    fixed_points : FixedPoints
        From :func:`~dynsys.analysis.equilibria.find_fixed_points` (its ``u`` and ``period`` are used).
    eps : float
        Size of the initial push along each unstable direction (relative to ``1 + ‖x*‖``).
    steps : int
        Iterations of ``F^period`` to follow each push.
    attract_tol : float
        Distance to a fixed point (relative to ``1 + ‖x‖``) that counts as arrival.

    Returns
    -------
    networkx.DiGraph
        Node ``i`` (index into ``fixed_points``) has attributes ``state``, ``stability``,
        ``kind``, ``unstable_dim``, ``multipliers``; node ``"other"`` appears when some push
        does not reach a stable fixed point. Edge ``(i, j)`` has ``directions``: the list of
        ``(eigen-index, sign)`` pushes from ``i`` that reach ``j``.
    """
    import networkx as nx

    eps = check_finite_scalar(eps, "eps")
    steps = check_positive_int(steps, "steps")
    fp = fixed_points
    G = nx.DiGraph()
    for i in range(len(fp)):
        G.add_node(
            i,
            state=fp.states[i],
            stability=fp.stability[i],
            kind=fp.kind[i],
            unstable_dim=int(fp.unstable_dim[i]),
            multipliers=fp.multipliers[i],
        )
    starts, origin = [], []
    for i in np.flatnonzero(fp.unstable_dim > 0):
        w, V = np.linalg.eig(fp.jacobian[i])
        scale = eps * (1.0 + np.linalg.norm(fp.states[i]))
        for k in np.flatnonzero(np.abs(w) > 1.0):
            dirs = [np.real(V[:, k])]
            if abs(w[k].imag) > 1e-12:
                if w[k].imag < 0:
                    continue  # its conjugate covers the same plane
                dirs.append(np.imag(V[:, k]))
            for v in dirs:
                v = v / np.linalg.norm(v)
                for sign in (+1, -1):
                    starts.append(fp.states[i] + sign * scale * v)
                    origin.append((int(i), int(k), sign))
    if not starts:
        return G
    x = np.array(starts)
    with np.errstate(over="ignore", invalid="ignore"):
        x, _ = iterate_k(map, x, fp.u, steps * fp.period, jacobian=False)
    for (i, k, sign), xe in zip(origin, x):
        target = OTHER
        if np.all(np.isfinite(xe)):
            d = np.linalg.norm(fp.states - xe, axis=-1)
            j = int(np.argmin(d))
            if d[j] < attract_tol * (1.0 + np.linalg.norm(xe)) and j != i:
                target = j
        if target == OTHER and OTHER not in G:
            G.add_node(OTHER, stability="other")
        if G.has_edge(i, target):
            G.edges[i, target]["directions"].append((k, sign))
        else:
            G.add_edge(i, target, directions=[(k, sign)])
    return G
