"""The small graph of attractors and of which basins touch which (networkx).

Nodes are the attractors of a :class:`~dynsys.analysis.basins.Basins` (or a
:class:`~dynsys.analysis.basins.CellMapping`) plus ``"diverged"`` and ``"undecided"`` when present;
an edge joins two basins that share a boundary on the grid, weighted by the number of neighbouring
cell pairs across it. In the paper's picture (§2.3) an edge is a boundary the state can be kicked
across; a node with many neighbours sits where crossings are likely.

Examples
--------
>>> import numpy as np
>>> labels = np.array([[0, 0, 1], [0, 2, 1], [2, 2, 1]])
>>> g = basin_graph(labels)
>>> sorted(g.edges())
[(0, 1), (0, 2), (1, 2)]
"""

from __future__ import annotations

import numpy as np

from ...errors import DynsysError
from .grids import DIVERGED, UNDECIDED

__all__ = ["basin_graph", "boundary_pairs"]

_SPECIAL = {DIVERGED: "diverged", UNDECIDED: "undecided"}


def boundary_pairs(labels) -> dict[tuple[int, int], int]:
    """Counts of neighbouring cell pairs (4-neighbourhood) with labels ``a < b``."""
    lab = np.asarray(labels)
    if lab.ndim not in (1, 2) or lab.dtype.kind not in "iu":
        raise DynsysError(f"labels must be a 1-D or 2-D integer grid, got {lab.dtype} {lab.shape}")
    a_all, b_all = [], []
    for axis in range(lab.ndim):
        lo = [slice(None)] * lab.ndim
        hi = [slice(None)] * lab.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = lab[tuple(lo)].ravel(), lab[tuple(hi)].ravel()
        m = a != b
        a_all.append(np.minimum(a[m], b[m]))
        b_all.append(np.maximum(a[m], b[m]))
    a, b = np.concatenate(a_all), np.concatenate(b_all)
    if not a.size:
        return {}
    pairs, counts = np.unique(np.stack([a, b], axis=1), axis=0, return_counts=True)
    return {(int(p[0]), int(p[1])): int(c) for p, c in zip(pairs, counts)}


def basin_graph(basins):
    """A :class:`networkx.Graph` of basins and their shared boundaries.

    Parameters
    ----------
    basins : Basins, CellMapping or ndarray of int
        Anything with ``labels`` (and optionally ``attractors`` / ``fractions``), or a label grid.

    Returns
    -------
    networkx.Graph
        Nodes: attractor ids (``kind``, ``period``, ``fraction`` attributes when known) and
        ``"diverged"`` / ``"undecided"``; edges: ``weight`` = neighbouring cell pairs across the
        boundary.
    """
    import networkx as nx

    labels = np.asarray(getattr(basins, "labels", basins))
    fractions = getattr(basins, "fractions", None)
    attractors = {a.id: a for a in getattr(basins, "attractors", ())}
    g = nx.Graph()
    present, counts = np.unique(labels, return_counts=True)
    for lab, cnt in zip(present.tolist(), counts.tolist()):
        node = _SPECIAL.get(lab, lab)
        attrs = {"fraction": cnt / labels.size}
        if lab in attractors:
            attrs.update(kind=attractors[lab].kind, period=attractors[lab].period)
        elif fractions is not None and lab >= 0:
            attrs["fraction"] = fractions.get(lab, attrs["fraction"])
        g.add_node(node, **attrs)
    for (a, b), w in boundary_pairs(labels).items():
        g.add_edge(_SPECIAL.get(a, a), _SPECIAL.get(b, b), weight=w)
    return g
