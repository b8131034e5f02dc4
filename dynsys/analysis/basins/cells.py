"""Basins by cell mapping (Hsu 1980, 1987): the map as a graph on grid cells.

The second, independent method for basins (the first is direct iteration,
:mod:`dynsys.analysis.basins.direct`). The state space box covered by a :class:`~dynsys.analysis.basins.StateGrid` is cut
into cells; every cell is sent to the cell containing the image of a point in it.

* **Simple cell mapping (SCM):** the image of the cell *centre*; every cell has exactly one
  successor, so the graph is a functional graph whose cycles are the *periodic groups*.
* **Cell mapping of the k-th iterate** (``steps_per_cell = k``, default 4; Hsu 1987): the same,
  for ``F^k`` — each sample is sent ``k`` steps by the *true* map and only then snapped to a
  cell. Every snap moves a trajectory by up to half a cell; on a fractal boundary that error
  sends SCM trajectories into the wrong basin, and ``k`` steps per snap make ``k`` times fewer
  snaps. Agreement with direct iteration, Newton ``z³ − 1`` on [−2, 2]²: 97.2 % (k = 1) vs
  99.4 % (k = 4) at 160², 98.4 % vs 99.7 % at 400². ``k = 1`` is Hsu's original method.
* **Generalized cell mapping (GCM):** the images of ``samples^k`` points spread over each cell
  (the centre among them); its *closed* strongly connected components (no edge leaves them) are
  the attractor candidates. A chaotic attractor, which SCM breaks into many small periodic groups,
  is one closed class of the GCM graph.

Attractors are the closed GCM classes (cells that leave the box and never come back, within
``reentry_steps``, go to a *sink* cell: divergence). Every SCM periodic group lies inside one GCM
class (the centre is one of the samples, so SCM ⊂ GCM), which names its attractor; groups inside
non-closed classes are spurious (an unstable orbit caught by the discretisation) and their basins
are labelled :data:`~dynsys.analysis.basins.UNDECIDED`. Basins are found by **reverse reachability** in the
SCM graph from each attractor's periodic groups (breadth-first search on the transposed graph with
:mod:`scipy.sparse.csgraph`).

Examples
--------
>>> from dynsys.maps import UnitMap
>>> from dynsys.analysis.basins import box_grid
>>> cm = cell_mapping(UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], 201))
>>> cm.n_attractors
2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import check_finite_scalar, check_positive_int
from ...errors import DynsysError
from ...maps.base import Map
from .direct import _finite_within
from .grids import DIVERGED, UNDECIDED, StateGrid, label_agreement

__all__ = ["CellMapping", "cell_mapping", "cell_mapping_agreement"]


@dataclass(frozen=True, eq=False)
class CellMapping:
    """Result of :func:`cell_mapping`.

    Attributes
    ----------
    labels : ndarray of int32, shape grid.shape
        Attractor id (ordered by the smallest cell index of each attractor), ``DIVERGED`` (the sink)
        or ``UNDECIDED`` (cells draining into a spurious periodic group).
    successor : ndarray of int64, shape (N + 1,)
        The SCM image (cell of ``F^k`` of the centre) of each flat cell index; ``N`` is the sink
        (and maps to itself).
    attractor_cells : tuple of ndarray
        Flat cell indices of each attractor's closed GCM class.
    periodic_group : ndarray of int64, shape (N,)
        SCM strongly connected component of each cell where it lies on a periodic group, else −1.
    n_groups : int
        Number of SCM periodic groups (sink excluded).
    grid : StateGrid
    steps_per_cell : int
        ``k`` of the cell mapping of ``F^k``.
    """

    labels: np.ndarray
    successor: np.ndarray
    attractor_cells: tuple[np.ndarray, ...]
    periodic_group: np.ndarray
    n_groups: int
    grid: StateGrid
    steps_per_cell: int = 1

    @property
    def n_attractors(self) -> int:
        return len(self.attractor_cells)

    @property
    def fractions(self) -> dict:
        """``{id: fraction, ..., "diverged": f, "undecided": f}``; sums to 1."""
        counts = np.bincount(self.labels.ravel() + 2, minlength=self.n_attractors + 2) / self.labels.size
        out = {k: float(counts[k + 2]) for k in range(self.n_attractors)}
        out["diverged"] = float(counts[DIVERGED + 2])
        out["undecided"] = float(counts[UNDECIDED + 2])
        return out

    def attractor_states(self, k: int) -> np.ndarray:
        """Centres of the cells of attractor ``k``, shape (m, n)."""
        return self.grid.states().reshape(-1, self.grid.dim)[self.attractor_cells[k]]


def _image_cells(
    map: Map, grid: StateGrid, X: np.ndarray, reentry_steps: int, R: float, steps: int = 1
) -> np.ndarray:
    """Cell of ``F^steps(x)`` for each row of ``X`` (the true map is iterated ``steps`` times before
    the image is snapped to a cell); states that leave the box are followed for up to
    ``reentry_steps`` more steps until they come back, else they go to the sink (index N)."""
    N = grid.size
    Y, ok = X, np.ones(X.shape[0], bool)
    for _ in range(steps):
        with np.errstate(all="ignore"):
            Y = map.step(Y)
        ok &= _finite_within(Y, R)
    out = np.where(ok, grid.locate(np.where(ok[:, None], Y, np.inf)), N)
    pending = np.flatnonzero(out < 0)
    Y = Y[pending]
    for _ in range(reentry_steps):
        if not pending.size:
            break
        with np.errstate(all="ignore"):
            Y = map.step(Y)
        ok = _finite_within(Y, R)
        loc = np.where(ok, grid.locate(np.where(ok[:, None], Y, np.inf)), N)
        fin = loc >= 0
        out[pending[fin]] = loc[fin]
        pending, Y = pending[~fin], Y[~fin]
    out[pending] = N
    return out


def _merge_touching(owner: np.ndarray, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Union of candidates whose cells are neighbours (Chebyshev distance 1); returns new ids."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    own = owner.reshape(shape)
    offsets = [(1,)] if len(shape) == 1 else [(1, 0), (0, 1), (1, 1), (1, -1)]
    pairs = [np.stack([np.arange(n), np.arange(n)])]
    for off in offsets:
        sa = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape))
        sb = tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(off, shape))
        a, b = own[sa].ravel(), own[sb].ravel()
        m = (a >= 0) & (b >= 0) & (a != b)
        pairs.append(np.stack([a[m], b[m]]))
    p = np.concatenate(pairs, axis=1)
    _, comp = connected_components(
        coo_matrix((np.ones(p.shape[1]), (p[0], p[1])), shape=(n, n)), directed=False
    )
    return comp


def _self_share(map, grid, centres, cells, delta, steps, R, cap=4096) -> float:
    """Fraction of sample points of ``cells`` that, after ``steps`` steps of the true map, lie
    within one cell of ``cells`` (a stable set keeps them, a spurious group loses them)."""
    if cells.size > cap:
        cells = cells[np.linspace(0, cells.size - 1, cap).astype(int)]
    X = (centres[cells][:, None, :] + delta[None]).reshape(-1, grid.dim)
    for _ in range(steps):
        with np.errstate(all="ignore"):
            X = map.step(X)
    ok = _finite_within(X, R)
    loc = grid.locate(np.where(ok[:, None], X, np.inf))
    mask = np.zeros(grid.shape, bool)
    mask.ravel()[cells] = True
    dil = mask.copy()
    for axis in range(mask.ndim):  # dilate by one cell (Chebyshev)
        dil = _dilate_axis(dil, axis)
    return float(np.mean((loc >= 0) & dil.ravel()[np.maximum(loc, 0)]))


def _join_pieces(map, grid, centres, attractor_cells, cand_to_attr, R):
    """Join attractors of ``F^k`` that one step of ``F`` maps onto each other (the pieces of one
    attractor of ``F``): attractor ``a`` is joined to the attractor most of its one-step images
    land on (within one cell)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_att = len(attractor_cells)
    owner = np.full(grid.shape, -1, np.int64)
    for a, cells in enumerate(attractor_cells):
        owner.ravel()[cells] = a
    near = owner.copy()  # owner dilated by one cell (Chebyshev), existing owners kept
    for axis in range(owner.ndim):
        for shift in (1, -1):
            moved = np.roll(near, shift, axis=axis)
            edge = [slice(None)] * owner.ndim
            edge[axis] = 0 if shift == 1 else -1
            moved[tuple(edge)] = -1
            near = np.where(near >= 0, near, moved)
    pairs = [(a, a) for a in range(n_att)]
    for a, cells in enumerate(attractor_cells):
        img = _image_cells(map, grid, centres[cells], 0, R)
        hit = near.ravel()[img[img < grid.size]]
        hit = hit[hit >= 0]
        if hit.size:
            pairs.append((a, int(np.bincount(hit, minlength=n_att).argmax())))
    p = np.array(pairs).T
    _, comp = connected_components(
        coo_matrix((np.ones(p.shape[1]), (p[0], p[1])), shape=(n_att, n_att)), directed=False
    )
    joined = [
        np.unique(np.concatenate([attractor_cells[a] for a in np.flatnonzero(comp == c)]))
        for c in range(comp.max() + 1)
    ]
    return joined, {c: int(comp[a]) for c, a in cand_to_attr.items()}


def _dilate_axis(m: np.ndarray, axis: int) -> np.ndarray:
    out = m.copy()
    sl = [slice(None)] * m.ndim
    lo, hi = list(sl), list(sl)
    lo[axis], hi[axis] = slice(1, None), slice(None, -1)
    out[tuple(lo)] |= m[tuple(hi)]
    out[tuple(hi)] |= m[tuple(lo)]
    return out


def cell_mapping(
    map: Map,
    grid: StateGrid,
    *,
    samples: int = 3,
    reentry_steps: int = 100,
    diverge_radius: float = 1e10,
    persistence_steps: int = 200,
    refine_rounds: int = 10,
    steps_per_cell: int = 4,
) -> CellMapping:
    """Basins of an autonomous map by simple + generalized cell mapping (see the module docstring).

    Parameters
    ----------
    map : Map
        Autonomous map of dimension 1 or 2.
    grid : StateGrid
        A grid spanning the state space (``grid.ndim == map.dim``), e.g. from
        :func:`~dynsys.analysis.basins.box_grid`; its points are the cell centres.
    samples : int
        Odd number of sample points per cell axis for the GCM (the centre is one of them).
    reentry_steps : int
        Steps a point that left the box is followed to see whether it comes back.
    diverge_radius : float
        ``‖x‖_∞`` beyond which a point is sent to the sink at once.
    persistence_steps : int
        Steps of the persistence test of attractor candidates.
    refine_rounds : int
        Rounds of relabelling cells that drain into spurious groups by the majority label of
        their sampled images (0 leaves them :data:`~dynsys.analysis.basins.UNDECIDED`).
    steps_per_cell : int
        ``k``: cell mapping of the k-th iterate ``F^k`` — each sample is sent ``k`` steps by the
        true map before its image is snapped to a cell (Hsu 1987). ``k = 1`` is the simple cell
        mapping; larger ``k`` divides the snapping events along a trajectory by ``k``, which
        matters on fractal boundaries (see the module docstring). A period-``p`` orbit of ``F``
        splits into ``gcd(p, k)`` orbits of ``F^k``; those pieces are joined again by one step of
        ``F``. :attr:`CellMapping.successor` is then the cell of ``F^k`` of each centre.

    Returns
    -------
    CellMapping
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    if not isinstance(grid, StateGrid):
        raise DynsysError("grid must be a StateGrid (see box_grid)")
    if grid.ndim != map.dim:
        raise DynsysError(
            f"cell mapping needs a grid spanning the state space (grid has {grid.ndim} axes, map dimension {map.dim})"
        )
    samples = check_positive_int(samples, "samples")
    if samples % 2 == 0:
        raise DynsysError(f"samples must be odd (the cell centre is one of the samples), got {samples}")
    reentry_steps = check_positive_int(reentry_steps, "reentry_steps", minimum=0)
    persistence_steps = check_positive_int(persistence_steps, "persistence_steps")
    refine_rounds = check_positive_int(refine_rounds, "refine_rounds", minimum=0)
    k_steps = check_positive_int(steps_per_cell, "steps_per_cell")
    persist = k_steps * -(-persistence_steps // k_steps)  # a multiple of k: F^k pieces stay put
    R = check_finite_scalar(diverge_radius, "diverge_radius")
    N, k = grid.size, grid.ndim
    centres = grid.states().reshape(N, grid.dim)

    # simple cell mapping: one successor per cell
    succ = np.append(_image_cells(map, grid, centres, reentry_steps, R, k_steps), N)
    nodes = np.arange(N + 1)
    G = coo_matrix((np.ones(N + 1, np.int8), (nodes, succ)), shape=(N + 1, N + 1)).tocsr()
    _, comp = connected_components(G, directed=True, connection="strong")
    size = np.bincount(comp)
    on_cycle = (size[comp] > 1) | (succ == nodes)

    # generalized cell mapping: samples^k images per cell
    offs = (np.arange(samples) - samples // 2) / samples
    grids = np.meshgrid(*([offs] * k), indexing="ij")
    delta = np.stack([g.ravel() for g in grids], axis=-1) * grid.spacing  # (s^k, k) coefficient offsets
    delta = delta @ grid.directions
    src = [nodes]
    dst = [succ]
    for d in delta[np.any(delta != 0, axis=1)]:  # the centre is the SCM edge
        src.append(np.arange(N))
        dst.append(_image_cells(map, grid, centres + d, reentry_steps, R, k_steps))
    src, dst = np.concatenate(src), np.concatenate(dst)
    H = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(N + 1, N + 1)).tocsr()
    _, gcomp = connected_components(H, directed=True, connection="strong")
    gcomp = gcomp[:N]

    # attractor candidates: GCM classes holding an SCM periodic group, merged when they touch
    cyc_cells = np.flatnonzero(on_cycle[:N])
    cand_cls = np.unique(gcomp[cyc_cells])
    owner = np.full(N, -1, np.int64)
    in_cand = np.isin(gcomp, cand_cls)
    owner[in_cand] = np.searchsorted(cand_cls, gcomp[in_cand])
    merged = _merge_touching(owner, grid.shape, cand_cls.size)
    owner[in_cand] = merged[owner[in_cand]]
    # persistence under the true map: samples of a candidate's cells must stay near it
    attractor_cells, cand_to_attr = [], {}
    for c in np.unique(merged):
        cells = np.flatnonzero(owner == c)
        if _self_share(map, grid, centres, cells, delta, persist, R) >= 0.5:
            cand_to_attr[int(c)] = len(attractor_cells)
            attractor_cells.append(cells)
    if k_steps > 1 and len(attractor_cells) > 1:
        attractor_cells, cand_to_attr = _join_pieces(map, grid, centres, attractor_cells, cand_to_attr, R)
    order = np.argsort([cells[0] for cells in attractor_cells], kind="stable")
    relabel = {old: int(np.flatnonzero(order == old)[0]) for old in range(len(order))}
    cand_to_attr = {c: relabel[a] for c, a in cand_to_attr.items()}
    attractor_cells = tuple(attractor_cells[i] for i in order)

    # basins: reverse reachability in the SCM graph from each attractor's periodic groups
    labels = np.full(N + 1, UNDECIDED, np.int32)
    grp_attr = np.array([cand_to_attr.get(int(owner[c]), UNDECIDED) for c in cyc_cells], dtype=np.int64)
    seeds = {a: cyc_cells[grp_attr == a] for a in range(len(attractor_cells))}
    seeds[DIVERGED] = np.array([N])
    for a, cells in seeds.items():
        if not cells.size:
            continue
        # a super-source S = N + 1 pointing at the group's cells in the transposed graph
        S = N + 1
        rows = np.concatenate([succ, np.full(cells.size, S)])
        cols = np.concatenate([nodes, cells])
        Gk = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(N + 2, N + 2)).tocsr()
        reach = breadth_first_order(Gk, S, directed=True, return_predecessors=False)
        reach = reach[reach < N + 1]
        labels[reach] = a
    # cells draining into spurious groups: majority label of their sampled images (a few rounds)
    for _ in range(refine_rounds):
        und = labels[src] == UNDECIDED
        sl, dl = src[und], labels[dst[und]]
        good = dl != UNDECIDED
        if not good.any():
            break
        sl, dl = sl[good], dl[good] + 2
        votes = coo_matrix((np.ones(sl.size), (sl, dl)), shape=(N + 1, len(attractor_cells) + 2)).tocsr()
        rows = np.unique(sl)
        labels[rows] = np.asarray(votes[rows].argmax(axis=1)).ravel() - 2
    group = np.where(on_cycle[:N], comp[:N], -1)
    n_groups = int(np.unique(comp[on_cycle & (nodes != N)]).size)
    return CellMapping(labels[:N].reshape(grid.shape), succ, attractor_cells, group, n_groups, grid, k_steps)


def cell_mapping_agreement(map: Map, grid: StateGrid, labels, steps=(1, 4)) -> dict[int, float]:
    """Fraction of the cells of ``grid`` on which cell mapping agrees with ``labels`` (up to renaming).

    The second method as a check of the first: ``labels`` come from direct iteration on the same
    grid (:func:`~dynsys.analysis.basins.basins_of_attraction`); cell mapping of ``F^k`` is run
    for every ``k`` in ``steps`` (1 = simple cell mapping).

    Returns
    -------
    dict
        ``{k: fraction of agreeing cells}``.
    """
    return {
        int(k): label_agreement(labels, cell_mapping(map, grid, steps_per_cell=int(k)).labels)[0]
        for k in steps
    }
