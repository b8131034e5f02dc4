"""The result of every fixed-point search: :class:`FixedPoints`, and how it is assembled.

A :class:`FixedPoints` holds fixed points (or period-k points, or slow points) of a map with their
residuals, the Jacobians of ``F^k`` along each orbit (column convention, paper eq. 5), the
multipliers and the stability class of :mod:`dynsys.analysis.equilibria.stability`. Failure to
find anything is data (an empty container with a message), not an exception.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap
>>> fp = assemble(UnitMap(w=2.0, activation="tanh"), np.zeros((1, 1)), None, 1, 1e-10, "by hand", 1)
>>> fp.stability, float(fp.multipliers[0, 0].real)  # x = 2 tanh(x): the origin repels (μ = 2)
(('unstable',), 2.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .newton import iterate_k
from .stability import STABILITY_CLASSES, classify, multipliers

__all__ = ["FixedPoints"]

# ---------------------------------------------------------------------------------------
# The result container
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FixedPoints:
    """Fixed points (or period-k points, or slow points) of a map.

    Attributes
    ----------
    states : ndarray, shape (k, n)
        The points, sorted by their first coordinate.
    residual : ndarray, shape (k,)
        ``‖F^period(x) − x‖₂``.
    jacobian : ndarray, shape (k, n, n)
        ``∂F^period/∂x`` at each point (product of one-step Jacobians along the orbit).
    multipliers : ndarray of complex, shape (k, n)
        Eigenvalues of ``jacobian``, by decreasing modulus.
    stability : tuple of str
        ``"stable"``, ``"saddle"``, ``"unstable"`` or ``"neutral"`` (see :mod:`dynsys.analysis.equilibria.stability`).
    kind : tuple of str
        ``"node"``, ``"focus"`` or ``"flip-node"``.
    unstable_dim : ndarray of int, shape (k,)
        Number of multipliers outside the unit circle.
    converged : ndarray of bool, shape (k,)
        ``residual < tol`` (slow points have ``False``).
    period : int
        1 for fixed points, k for period-k points.
    u : ndarray or None
        The constant input used.
    message : str
        How the points were found.
    n_starts : int
        Newton starts used (or grid points of a 1-D scan).
    n_rejected : int
        Distinct converged points (or slow points) outside the map's periodic box (Map rule 19),
        rejected.
    """

    states: np.ndarray
    residual: np.ndarray
    jacobian: np.ndarray
    multipliers: np.ndarray
    stability: tuple[str, ...]
    kind: tuple[str, ...]
    unstable_dim: np.ndarray
    converged: np.ndarray
    period: int = 1
    u: np.ndarray | None = None
    message: str = ""
    n_starts: int = field(default=0)
    n_rejected: int = field(default=0)

    def __len__(self) -> int:
        return self.states.shape[0]

    @property
    def stable(self) -> np.ndarray:
        """Boolean mask of the asymptotically stable points."""
        return np.array([s == "stable" for s in self.stability], dtype=bool)

    @property
    def stability_codes(self) -> np.ndarray:
        """The stability classes as integer codes: indices into
        :data:`~dynsys.analysis.equilibria.stability.STABILITY_CLASSES` (for arrays on disk)."""
        return np.array([STABILITY_CLASSES.index(s) for s in self.stability], dtype=int)

    @property
    def q(self) -> np.ndarray:
        """``q = ½‖F(x) − x‖²`` (the slow-point objective)."""
        return 0.5 * self.residual**2

    def select(self, mask) -> FixedPoints:
        """The sub-collection given by a boolean mask or index array."""
        idx = np.arange(len(self))[np.asarray(mask)]
        pick = lambda t: tuple(t[i] for i in idx)  # noqa: E731
        return FixedPoints(
            self.states[idx],
            self.residual[idx],
            self.jacobian[idx],
            self.multipliers[idx],
            pick(self.stability),
            pick(self.kind),
            self.unstable_dim[idx],
            self.converged[idx],
            self.period,
            self.u,
            self.message,
            self.n_starts,
            self.n_rejected,
        )

    def to_dicts(self) -> list[dict]:
        """One JSON-able dict per point (used by the CLI)."""
        out = []
        for i in range(len(self)):
            mu = self.multipliers[i]
            out.append(
                {
                    "state": self.states[i].tolist(),
                    "residual": float(self.residual[i]),
                    "stability": self.stability[i],
                    "kind": self.kind[i],
                    "unstable_dim": int(self.unstable_dim[i]),
                    "period": self.period,
                    "multipliers_abs": np.abs(mu).tolist(),
                    "multipliers": [[float(m.real), float(m.imag)] for m in mu],
                }
            )
        return out

    def __repr__(self) -> str:
        return f"FixedPoints(k={len(self)}, period={self.period}, stability={self.stability})"


#: up to this many points :func:`dedup` compares all pairs directly (no k-d tree, no sparse graph)
_DENSE_DEDUP = 64


def _dedup_dense(states, score, tol):
    """:func:`dedup` for a few points: the same components (Euclidean distance ≤ ``tol``), the
    same representatives, in the same order (components numbered by their first point)."""
    N = states.shape[0]
    diff = states[:, None, :] - states[None, :, :]
    close = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)) <= tol
    labels = np.full(N, -1)
    k = 0
    for i in range(N):
        if labels[i] >= 0:
            continue
        comp = close[i].copy()
        while True:  # grow the component to its closure
            grown = close[comp].any(axis=0)
            if np.array_equal(grown, comp):
                break
            comp = grown
        labels[comp] = k
        k += 1
    order = np.lexsort((score, labels))
    first = np.ones(N, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    return order[first]


def dedup(states, score, tol):
    """Indices of representatives: points closer than ``tol`` are merged (lowest score kept)."""
    if states.shape[0] <= 1:
        return np.arange(states.shape[0])
    if states.shape[0] <= _DENSE_DEDUP:
        return _dedup_dense(states, score, tol)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(states).query_pairs(tol, output_type="ndarray")
    N = states.shape[0]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(N, N))
    _, labels = connected_components(graph, directed=False)
    order = np.lexsort((score, labels))
    first = np.ones(N, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    return order[first]


def assemble(map, states, u, period, tol, message, n_starts, converged=None, n_rejected=0) -> FixedPoints:
    n = map.dim
    states = np.asarray(states, dtype=float).reshape(-1, n)
    order = np.lexsort(states.T[::-1])
    states = states[order]
    y, J = iterate_k(map, states, u, period)
    if J is None or states.shape[0] == 0:
        J = np.zeros((states.shape[0], n, n))
    res = np.linalg.norm(y - states, axis=-1)
    mu = multipliers(J) if len(states) else np.zeros((0, n), complex)
    stab, kind, udim = classify(mu) if len(states) else ((), (), np.zeros(0, int))
    conv = res < tol if converged is None else np.asarray(converged)[order]
    return FixedPoints(
        states,
        res,
        J,
        mu,
        stab,
        kind,
        udim,
        conv,
        period,
        None if u is None else np.asarray(u),
        message,
        n_starts,
        n_rejected,
    )
