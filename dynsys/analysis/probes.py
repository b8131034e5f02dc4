"""Which attractor each probe ends on, and which probes change attractor between two checkpoints.

A *probe* is one task sequence of a fixed batch; its *final state* is the network's state at step
``T`` of that sequence. The question of the paper's §2.2 (Figs. 4–6) along a training run is
whether a small change of the parameters moves such a state across a basin boundary: then the
state it is attracted to changes, and ``x_t`` jumps.

:func:`probe_attractors` runs every final state freely under a constant input ``u`` (the
autonomous map when ``u`` is None) for at most ``steps`` steps, all probes in one ``map.step``
call per step, and labels the attractor it ends on:

* a probe is *converged* at step ``t`` when, for the smallest ``p ≤ max_period``,
  ``‖x_t − x_{t−p}‖∞ < tol · (1 + ‖x_t‖∞)`` (that is ``‖F^p(y) − y‖ < tol (1 + ‖·‖)`` for
  ``y = x_{t−p}``) **and** the orbit ``y, F(y), …, F^{p−1}(y)`` is stable: the spectral radius of
  the monodromy matrix ``J(y_{p−1}) ⋯ J(y_0)`` is below 1. ``p = 1`` is a stable fixed point.
* converged probes whose orbits are within ``√tol · (1 + ‖x‖∞)`` of each other (the same period,
  any point of one orbit near the first point of the other) are one attractor: the points of one
  periodic orbit are **one** attractor, whichever of them the probe happened to be at. Its
  representative orbit is polished by a few Newton steps on ``F^p(y) = y`` (to rounding error).
  A polished ``p``-orbit that is an orbit of a smaller period ``q | p`` is that orbit: a fixed
  point approached along a spiral whose rotation brings ``x_{t−p}`` near ``x_t`` before
  ``x_{t−1}`` (multipliers ``|μ| e^{±2πi/p}``) passes the period-``p`` test first.
* label ``−1`` otherwise, with the reason in :attr:`ProbeLabels.status`: ``"undecided"`` (no
  period ``≤ max_period`` within ``steps``: a chaotic or quasi-periodic set, a longer period, or a
  slow transient — **which one is not known**), ``"unstable"`` (it sits, to ``tol``, on an orbit
  that is not stable: a saddle hit exactly, or a slow passage), ``"diverged"`` (a non-finite state
  or ``‖x‖∞ ≥ 1e10``). (The grid tools of :mod:`dynsys.analysis.basins` use ``−1`` for diverged
  and ``−2`` for undecided; here every non-attractor is ``−1``.)

Labels are comparable across checkpoints when the previous call's ``attractors`` are passed in:
the orbits found now are assigned to the given ones of the same period one-to-one (Hungarian
assignment on the orbit distance, within ``match_radius · (1 + ‖x‖∞)``), take their ids and
their *current* positions (so a chain of checkpoints follows drifting attractors); the others get
new ids; given attractors no probe reached are kept as they were (``counts`` 0).

:func:`basin_crossings` compares two labellings of the same probes. The attractors reached at
checkpoint ``a`` are paired with those reached at ``b`` — through the ``matches`` of a
:class:`~dynsys.analysis.landscape.LandscapeStep` (fixed points continued from ``a`` to ``b``
without a fold) when one is given, then by the ids when ``b`` was labelled with
``attractors=a`` (:attr:`ProbeAttractor.continues`), and by the nearest representative of the
same period (one-to-one, within ``match_radius``) for the rest — and a probe *crosses* when it is decided at both checkpoints and its attractor at
``b`` is not the partner of its attractor at ``a``. Probes undecided at either checkpoint are
counted apart, never as crossings.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap
>>> m = UnitMap(w=5.0, b=-2.5)  # stable fixed points near ±2.4, a saddle at 0
>>> a = probe_attractors(m, np.array([[-1.0], [-0.1], [0.2], [3.0]]))
>>> a.labels.tolist(), a.periods.tolist()
([0, 0, 1, 1], [1, 1])
>>> b = probe_attractors(m, np.array([[-1.0], [0.1], [0.2], [3.0]]), attractors=a.attractors)
>>> basin_crossings(a, b).crossed.tolist()
[False, True, False, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validate import as_float_array, check_finite_scalar, check_positive_int
from ..errors import DynsysError
from ..maps.base import Map
from .landscape import LandscapeStep

__all__ = ["ProbeAttractor", "ProbeLabels", "BasinCrossings", "probe_attractors", "basin_crossings"]

#: states with ``‖x‖∞`` at least this count as diverged
DIVERGE_RADIUS = 1e10
#: a probe is tested for convergence every this many steps (and at the last step)
_CHECK_EVERY = 8
#: relative distance within which an attractor is identified with a fixed point of a LandscapeStep
_IDENTIFY = 1e-4

STATUSES = ("attractor", "undecided", "unstable", "diverged")


@dataclass(frozen=True, eq=False)
class ProbeAttractor:
    """A stable fixed point or periodic orbit reached by probes.

    Attributes
    ----------
    id : int
        Its label in :attr:`ProbeLabels.labels`.
    period : int
        ``1`` for a fixed point.
    points : ndarray, shape (period, n)
        The orbit in its order (``F(points[i]) ≈ points[i + 1]``), starting at the point with the
        smallest first coordinate.
    radius : float
        Spectral radius of the monodromy matrix (``|μ|`` of the leading multiplier of ``F^p``).
    continues : ProbeAttractor or None
        The given attractor (``attractors=`` of :func:`probe_attractors`, another checkpoint) it
        was matched to, None for a new one: :func:`basin_crossings` pairs the two by it.
    """

    id: int
    period: int
    points: np.ndarray
    radius: float
    continues: ProbeAttractor | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"id": self.id, "period": self.period, "points": self.points.tolist(), "radius": self.radius}


@dataclass(frozen=True, eq=False)
class ProbeLabels:
    """The attractor each probe's final state ends on (:func:`probe_attractors`).

    Attributes
    ----------
    labels : ndarray of int64, shape (P,)
        Attractor id, or ``−1`` (see :attr:`status`).
    status : ndarray of str, shape (P,)
        ``"attractor"``, ``"undecided"`` (no period found within ``steps``: chaotic,
        quasi-periodic, a longer period or a slow transient — not known which), ``"unstable"``
        or ``"diverged"``.
    attractors : tuple of ProbeAttractor
        Numbered ``0, 1, …`` (the given ``attractors`` first, with their ids).
    counts : ndarray of int64, shape (len(attractors),)
        Probes on each attractor (0 for a given attractor no probe reached).
    steps_taken : ndarray of int64, shape (P,)
        The step at which each probe was labelled (``steps`` for ``−1``).
    steps : int
        The budget.
    """

    labels: np.ndarray
    status: np.ndarray
    attractors: tuple[ProbeAttractor, ...]
    counts: np.ndarray
    steps_taken: np.ndarray = field(repr=False)
    steps: int = 0

    @property
    def states(self) -> list[np.ndarray]:
        """The orbit points of each attractor (shape (period, n) each)."""
        return [a.points for a in self.attractors]

    @property
    def periods(self) -> np.ndarray:
        return np.array([a.period for a in self.attractors], dtype=np.int64)

    @property
    def n_undecided(self) -> int:
        """Probes labelled ``−1`` (any status but ``"attractor"``)."""
        return int(np.count_nonzero(self.labels < 0))

    def to_dict(self) -> dict:
        return {
            "labels": self.labels.tolist(),
            "status": {s: int(np.count_nonzero(self.status == s)) for s in STATUSES},
            "attractors": [a.to_dict() for a in self.attractors],
            "counts": self.counts.tolist(),
            "steps": self.steps,
        }


@dataclass(frozen=True, eq=False)
class BasinCrossings:
    """Which probes changed attractor between two checkpoints (:func:`basin_crossings`).

    Attributes
    ----------
    crossed : ndarray of bool, shape (P,)
        Decided at both checkpoints, and the attractor at ``b`` is not the partner of the one at ``a``.
    undecided : ndarray of bool, shape (P,)
        Labelled ``−1`` at either checkpoint (never counted as a crossing).
    unmatched : ndarray of bool, shape (P,)
        Crossed because the probe's attractor at ``a`` has no partner among the attractors
        reached at ``b`` (lost at a bifurcation, or deserted by all its probes).
    pairs : ndarray of int, shape (k, 2)
        ``(id at a, id at b)`` of the paired attractors.
    """

    crossed: np.ndarray
    undecided: np.ndarray
    unmatched: np.ndarray
    pairs: np.ndarray

    @property
    def n_crossed(self) -> int:
        return int(np.count_nonzero(self.crossed))

    @property
    def n_undecided(self) -> int:
        return int(np.count_nonzero(self.undecided))

    @property
    def n_decided(self) -> int:
        return int(self.crossed.size - self.n_undecided)

    @property
    def fraction(self) -> float:
        """Crossings among the probes decided at both checkpoints (0 when there are none)."""
        return self.n_crossed / self.n_decided if self.n_decided else 0.0

    def to_dict(self) -> dict:
        return {
            "n_probes": int(self.crossed.size),
            "n_crossed": self.n_crossed,
            "n_undecided": self.n_undecided,
            "fraction": self.fraction,
            "crossed": np.flatnonzero(self.crossed).tolist(),
            "pairs": self.pairs.tolist(),
        }


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _canonical(orbit: np.ndarray) -> np.ndarray:
    """The orbit rolled to start at its point with the smallest first coordinate."""
    return np.roll(orbit, -int(np.argmin(orbit[:, 0])), axis=0)


def _near_orbit(Y: np.ndarray, pts: np.ndarray) -> float:
    """``min_s max_i ‖Y_i − pts_{(i+s) mod q}‖∞``: how far the p points ``Y`` are from going round
    the q-orbit ``pts`` (q dividing p) p/q times."""
    return _orbit_distance(Y, np.tile(pts, (Y.shape[0] // pts.shape[0], 1)))


def _minimal(orbit: np.ndarray, rho: float, ctol: float) -> tuple[np.ndarray, float]:
    """An orbit of period p that is, to ``ctol`` (relative), an orbit of a smaller period q | p, as
    that orbit, with the radius ``ρ^{q/p}`` of its own monodromy matrix (whose (p/q)-th power the
    p-orbit's is). A fixed point approached along a spiral whose rotation brings ``x_{t−p}`` back
    near ``x_t`` before ``x_{t−1}`` is: the period test sees period p first, the polished orbit is
    the fixed point p times over."""
    p = orbit.shape[0]
    scale = 1.0 + float(np.abs(orbit).max())
    for q in range(1, p):
        if p % q == 0 and float(np.abs(orbit[q:] - orbit[:-q]).max()) <= ctol * scale:
            return orbit[:q].copy(), float(rho) ** (q / p)
    return orbit, rho


def _merge(found: list, ctol: float) -> list:
    """Attractors of ``found`` that are one orbit (same period, within ``ctol``, relative) as one,
    members joined: the first one's orbit and radius are kept."""
    out: list = []
    for orbit, rho, members in found:
        for i, (o, r, m) in enumerate(out):
            scale = 1.0 + max(float(np.abs(o).max()), float(np.abs(orbit).max()))
            if _orbit_distance(o, orbit) <= ctol * scale:
                out[i] = (o, r, np.sort(np.concatenate([m, members])))
                break
        else:
            out.append((orbit, rho, members))
    return out


def _orbit_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``min_k max_i ‖a_i − b_{i+k}‖∞`` for two orbits of one period (inf for different periods)."""
    if a.shape != b.shape:
        return np.inf
    return min(float(np.abs(a - np.roll(b, k, axis=0)).max()) for k in range(a.shape[0]))


def _assign(A: Sequence[np.ndarray], B: Sequence[np.ndarray], radius: float) -> list[tuple[int, int]]:
    """One-to-one nearest pairs ``(i, j)`` of orbits ``A[i]``, ``B[j]`` within ``radius``."""
    if not A or not B:
        return []
    from scipy.optimize import linear_sum_assignment

    D = np.array([[_orbit_distance(a, b) for b in B] for a in A])
    big = 1e300
    r, c = linear_sum_assignment(np.where(D <= radius, D, big))
    return [(int(i), int(j)) for i, j in zip(r, c) if D[i, j] <= radius]


def _scale(orbits) -> float:
    return 1.0 + max([float(np.abs(o).max()) for o in orbits] or [0.0])


def _check_attractors(attractors, n: int, name: str) -> tuple[ProbeAttractor, ...]:
    if isinstance(attractors, ProbeLabels):
        attractors = attractors.attractors
    try:
        out = tuple(attractors)
    except TypeError:
        raise DynsysError(
            f"{name} must be a sequence of ProbeAttractor, got {type(attractors).__name__}"
        ) from None
    for k, a in enumerate(out):
        if not isinstance(a, ProbeAttractor):
            raise DynsysError(f"{name} must hold ProbeAttractor objects, got {type(a).__name__}")
        if a.id != k:
            raise DynsysError(f"{name} must be numbered 0, 1, ... in order (pass ProbeLabels.attractors)")
        if a.points.shape != (a.period, n):
            raise DynsysError(f"{name}[{k}].points must have shape ({a.period}, {n}), got {a.points.shape}")
    return out


# ---------------------------------------------------------------------------------------
# probe_attractors
# ---------------------------------------------------------------------------------------


def _check_orbits(orbits, n: int, max_period: int) -> list[tuple[np.ndarray, float]]:
    """``orbits=`` of :func:`probe_attractors` as ``[(points (p, n), radius)]``."""
    if orbits is None:
        return []
    out = []
    try:
        items = list(orbits)
    except TypeError:
        raise DynsysError(
            f"orbits must be a sequence of (points, radius) pairs, got {type(orbits).__name__}"
        ) from None
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise DynsysError(f"orbits[{i}] must be a (points, radius) pair")
        pts = as_float_array(item[0], f"orbits[{i}] points", ndim=2)
        if pts.shape[1] != n or not 1 <= pts.shape[0] <= max_period:
            raise DynsysError(
                f"orbits[{i}] points must have shape (p, {n}) with 1 <= p <= {max_period}, got {pts.shape}"
            )
        r = check_finite_scalar(item[1], f"orbits[{i}] radius")
        if r < 0:
            raise DynsysError(f"orbits[{i}] radius must be >= 0, got {r!r}")
        out.append((pts, float(r)))
    return out


def _stability(map: Map, u, Y: np.ndarray) -> np.ndarray:
    """Spectral radius of ``J(y_{p−1}) ⋯ J(y_0)`` for orbits ``Y`` of shape (A, p, n)."""
    with np.errstate(all="ignore"):
        J = map.jacobian(Y, u)
        M = J[:, 0]
        for i in range(1, Y.shape[1]):
            M = J[:, i] @ M
    ok = np.all(np.isfinite(M), axis=(-2, -1))
    rho = np.full(Y.shape[0], np.inf)
    if np.any(ok):
        rho[ok] = np.abs(np.linalg.eigvals(M[ok])).max(axis=-1)
    return rho


def _stability_of_orbits(map: Map, u, Y: np.ndarray, tol: float, known: list | None = None) -> np.ndarray:
    """:func:`_stability` of the orbits ``Y`` (A, p, n), one monodromy matrix per group of orbits
    that are one orbit to ``√tol`` (any of its points within ``√tol (1 + ‖x‖∞)`` of the group's
    first orbit's first point): probes on one attractor share its radius. ``known`` holds
    ``(point, radius)`` of the orbits of this period tested before (read and extended)."""
    known = [] if known is None else known
    A = Y.shape[0]
    scale = 1.0 + np.abs(Y).max(axis=(1, 2))
    rho = np.full(A, np.nan)
    ctol = np.sqrt(tol)
    for y0, r in known:
        with np.errstate(invalid="ignore"):
            d = np.abs(Y - y0).max(axis=-1).min(axis=-1)
        rho[np.isnan(rho) & (d <= ctol * np.maximum(scale, 1.0 + np.abs(y0).max()))] = r
    todo = np.flatnonzero(np.isnan(rho))
    while todo.size:
        i = todo[0]
        r = float(_stability(map, u, Y[i : i + 1])[0])
        known.append((Y[i, 0].copy(), r))
        with np.errstate(invalid="ignore"):
            d = np.abs(Y[todo] - Y[i, 0]).max(axis=-1).min(axis=-1)
        same = d <= ctol * np.maximum(scale[todo], scale[i])
        same[0] = True
        rho[todo[same]] = r
        todo = todo[~same]
    return rho


def _orbit_of(map: Map, u, y0: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The points ``y0, F(y0), …, F^{p−1}(y0)`` (p, n) and ``F^p(y0)``."""
    pts = [y0]
    for _ in range(p):
        pts.append(map.step(pts[-1], u))
    return np.stack(pts[:p]), pts[p]


def _polish(map: Map, u, orbit: np.ndarray) -> tuple[np.ndarray, float]:
    """A few Newton steps on ``F^p(y) = y`` from the orbit's first point (kept when they help),
    then the orbit and the spectral radius of its monodromy matrix."""
    p = orbit.shape[0]
    y = orbit[0]
    Y, end = _orbit_of(map, u, y, p)
    res = float(np.abs(end - y).max())
    with np.errstate(all="ignore"):
        for _ in range(4):
            if res == 0.0:
                break
            J = map.jacobian(Y, u)
            M = J[0]
            for i in range(1, p):
                M = J[i] @ M
            try:
                y_new = y - np.linalg.solve(M - np.eye(y.size), end - y)
            except np.linalg.LinAlgError:
                break
            Y_new, end_new = _orbit_of(map, u, y_new, p)
            res_new = float(np.abs(end_new - y_new).max())
            if not res_new < res:
                break
            y, Y, end, res = y_new, Y_new, end_new, res_new
    return Y, float(_stability(map, u, Y[None])[0])


def probe_attractors(
    map: Map,
    final_states,
    *,
    u=None,
    attractors: Sequence[ProbeAttractor] | ProbeLabels | None = None,
    steps: int = 2000,
    tol: float = 1e-8,
    max_period: int = 8,
    match_radius: float = 0.1,
    orbits=None,
) -> ProbeLabels:
    """Label the stable fixed point or periodic orbit each probe's final state ends on.

    See the module docstring for the method (free run under the constant input ``u``, minimal
    period ``p ≤ max_period`` with ``‖F^p(x) − x‖∞ < tol (1 + ‖x‖∞)``, stability of the orbit,
    orbits identified up to ``√tol``).

    Parameters
    ----------
    map : Map
    final_states : array_like, shape (P, n)
        The probes' states at step ``T`` of their task sequences.
    u : array_like, shape (m,), optional
        The constant input of the free run (None: ``map.step(x, None)``, the autonomous map).
    attractors : sequence of ProbeAttractor or ProbeLabels, optional
        The attractors of a previous call (another checkpoint): their ids are kept, orbits found
        now are matched to them (same period, nearest, one-to-one, within ``match_radius``).
    steps : int
        Largest number of free steps.
    tol : float
        Relative tolerance of the period test.
    max_period : int
        Longest period looked for.
    match_radius : float
        Largest orbit distance, relative to ``1 + ‖x‖∞``, at which an orbit found now is the
        continuation of a given attractor.
    orbits : sequence of (array_like (p, n), float), optional
        Periodic orbits of this map under ``u`` already solved to rounding error, with the spectral
        radius of their monodromy matrix (the fixed points and 2-cycles of a
        :class:`~dynsys.analysis.tracking.LandscapeTracker` at the same map): a probe whose orbit
        is within ``√tol`` of one takes its radius (no eigenvalue problem) and an attractor that is
        one takes its points (no polishing). Their stability is taken as given.

    Returns
    -------
    ProbeLabels

    Raises
    ------
    DynsysError
        ``final_states`` not of shape (P, n) with P ≥ 1 or not finite, a bad ``u``, ``steps``,
        ``tol``, ``max_period``, ``match_radius`` or ``attractors``.

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import RNNMap
    >>> r = probe_attractors(RNNMap(np.array([[-2.0]])), np.array([[0.3], [-1.0], [2.0]]))
    >>> r.labels.tolist(), r.periods.tolist(), r.counts.tolist()  # one 2-cycle, ±1.915
    ([0, 0, 0], [2], [3])
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    X = as_float_array(final_states, "final_states", ndim=2)
    if X.shape[0] == 0 or X.shape[1] != map.dim:
        raise DynsysError(
            f"final_states must have shape (P, {map.dim}) with P >= 1 for this {map.dim}-dimensional map, "
            f"got shape {X.shape}"
        )
    u = map.validate_constant_input(u, "u")
    steps = check_positive_int(steps, "steps")
    max_period = check_positive_int(max_period, "max_period")
    tol = check_finite_scalar(tol, "tol")
    if not 0.0 < tol < 1.0:
        raise DynsysError(f"tol must be in (0, 1), got {tol!r}")
    match_radius = check_finite_scalar(match_radius, "match_radius")
    if not match_radius > 0.0:
        raise DynsysError(f"match_radius must be > 0, got {match_radius!r}")
    given = () if attractors is None else _check_attractors(attractors, map.dim, "attractors")
    solved = _check_orbits(orbits, map.dim, max_period)

    P, n = X.shape
    L = max_period + 1
    ring = np.empty((L, P, n))  # ring[t % L] = x_t
    x = X.copy()
    ring[0] = x
    active = np.ones(P, bool)
    status = np.full(P, "undecided", dtype="<U9")
    period = np.zeros(P, np.int64)
    orbits = np.zeros((P, max_period, n))
    radius = np.full(P, np.nan)
    taken = np.full(P, steps, np.int64)
    known: dict[int, list] = {}  # period -> [(first point, radius)] of the orbits tested so far
    for pts, r in solved:  # an orbit of period q is one of period p = q, 2q, ... with radius r^(p/q)
        q = pts.shape[0]
        for p in range(q, max_period + 1, q):
            known.setdefault(p, []).append((pts[0], r ** (p // q)))
    with np.errstate(all="ignore"):  # a diverging free run is detected below, not warned of
        for t in range(1, steps + 1):
            x = map.step(x, u)
            ring[t % L] = x
            if t < max_period or not (t % _CHECK_EVERY == 0 or t == steps):
                continue
            with np.errstate(invalid="ignore"):  # divergence is checked with the periods (a diverged
                bad = ~(np.abs(x).max(axis=-1) < DIVERGE_RADIUS)  # state stays so; NaN compares False)
            if np.any(bad & active):
                gone = bad & active
                status[gone], taken[gone], active[gone] = "diverged", t, False
            if np.any(bad):
                x = np.where(bad[:, None], 0.0, x)
                ring[t % L] = x
            idx = np.flatnonzero(active)
            xa = x[idx]
            thresh = tol * (1.0 + np.abs(xa).max(axis=-1))
            p_of = np.zeros(idx.size, np.int64)
            for p in range(max_period, 0, -1):  # downwards: the smallest passing p wins
                hit = np.abs(xa - ring[(t - p) % L][idx]).max(axis=-1) < thresh
                p_of[hit] = p
            for p in np.unique(p_of[p_of > 0]):
                sel = idx[p_of == p]
                Y = np.stack([ring[(t - p + 1 + i) % L][sel] for i in range(p)], axis=1)  # (A, p, n)
                rho = _stability_of_orbits(map, u, Y, tol, known.setdefault(int(p), []))
                stable = rho < 1.0
                status[sel] = np.where(stable, "attractor", "unstable")
                done = sel[stable]
                period[done], radius[done], taken[done], active[done] = p, rho[stable], t, False
                orbits[done, :p] = Y[stable]
            if not np.any(active):
                break

    # cluster the converged probes into attractors, one period at a time
    labels = np.full(P, -1, np.int64)
    found: list[tuple[np.ndarray, float, np.ndarray]] = []  # (orbit, radius, member indices)
    ctol = np.sqrt(tol)
    for p in np.unique(period[period > 0]):
        members = np.flatnonzero(period == p)
        Y = orbits[members, :p]
        scale = 1.0 + np.abs(Y).max(axis=(1, 2))
        free = np.ones(members.size, bool)
        while np.any(free):
            k = int(np.flatnonzero(free)[0])
            d = np.abs(Y - Y[k, 0]).max(axis=-1).min(axis=-1)  # any point of the orbit near its first
            own = free & (d <= ctol * np.maximum(scale, scale[k]))
            same = [
                (pts, r)
                for pts, r in solved
                if p % pts.shape[0] == 0
                and _near_orbit(Y[k], pts) <= ctol * max(scale[k], 1.0 + np.abs(pts).max())
            ]
            if same:  # an orbit solved before (of period p or a divisor of p): its points and radius
                orbit, rho = same[0]
            else:
                orbit, rho = _polish(map, u, Y[k])
                if not rho < 1.0:  # Newton left the orbit's neighbourhood: keep the iterate
                    orbit, rho = Y[k], float(radius[members[k]])
                orbit, rho = _minimal(orbit, rho, ctol)
            found.append((_canonical(orbit), rho, members[own]))
            free &= ~own
    found = _merge(found, ctol)

    # ids: continue the given attractors, then new ones
    scale = _scale([o for o, _, _ in found] + [a.points for a in given])
    pairs = dict(
        (j, i) for i, j in _assign([a.points for a in given], [o for o, _, _ in found], match_radius * scale)
    )
    out = list(given)
    counts = np.zeros(len(given) + len(found), np.int64)
    for j, (orbit, rho, members) in enumerate(found):
        aid = pairs.get(j, len(out))
        att = ProbeAttractor(aid, orbit.shape[0], orbit, rho, given[aid] if aid < len(given) else None)
        if aid < len(given):
            out[aid] = att
        else:
            out.append(att)
        labels[members] = aid
        counts[aid] = members.size
    return ProbeLabels(labels, status, tuple(out), counts[: len(out)], taken, steps)


# ---------------------------------------------------------------------------------------
# basin_crossings
# ---------------------------------------------------------------------------------------


def _check_labels(labels, K: int, name: str) -> np.ndarray:
    if isinstance(labels, ProbeLabels):
        labels = labels.labels
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise DynsysError(
            f"{name} must be a non-empty 1-D array of int labels, got {arr.dtype} shape {arr.shape}"
        )
    arr = arr.astype(np.int64)
    if np.any(arr < -1) or np.any(arr >= K):
        raise DynsysError(f"{name} must hold -1 or attractor ids 0..{K - 1}, got {arr.min()}..{arr.max()}")
    return arr


def _landscape_ids(attractors, reached, states: np.ndarray) -> dict[int, int]:
    """Attractor id → index of the fixed point of ``states`` it is (fixed points only)."""
    out = {}
    if states.shape[0] == 0:
        return out
    for k in reached:
        a = attractors[k]
        if a.period != 1:
            continue
        d = np.abs(states - a.points[0]).max(axis=-1)
        i = int(np.argmin(d))
        if d[i] <= _IDENTIFY * (1.0 + float(np.abs(a.points).max())):
            out[k] = i
    return out


def basin_crossings(
    labels_a,
    labels_b,
    *,
    attractors_a: Sequence[ProbeAttractor] | None = None,
    attractors_b: Sequence[ProbeAttractor] | None = None,
    match: LandscapeStep | None = None,
    match_radius: float = 0.1,
) -> BasinCrossings:
    """Which probes changed attractor between checkpoints ``a`` and ``b``.

    Parameters
    ----------
    labels_a, labels_b : ProbeLabels or array_like of int, shape (P,)
        The labels of the same probes at the two checkpoints (:func:`probe_attractors`).
    attractors_a, attractors_b : sequence of ProbeAttractor, optional
        Their attractors (default: those of ``labels_a`` / ``labels_b`` when they are
        :class:`ProbeLabels`). Only the attractors some probe reached take part.
    match : LandscapeStep, optional
        :func:`~dynsys.analysis.landscape.track_landscape` between the same two checkpoints and
        under the same input: a fixed-point attractor identified (within 1e-4 relative) with one
        of its points is paired through its ``matches`` only (a ``lost``/``born`` point has no
        partner); the other attractors (periodic orbits, fixed points it did not find) are paired
        as without it: by id when one continues the other (:attr:`ProbeAttractor.continues`),
        else by the nearest representative.
    match_radius : float
        Largest orbit distance, relative to ``1 + ‖x‖∞``, of two attractors paired by distance.

    Returns
    -------
    BasinCrossings

    Raises
    ------
    DynsysError
        Labels of different lengths or out of range, missing attractors, a bad ``match``.

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import UnitMap
    >>> m = UnitMap(w=5.0, b=-2.5)
    >>> a = probe_attractors(m, np.array([[-0.5], [0.5], [0.5]]))
    >>> b = probe_attractors(m, np.array([[-0.5], [-0.5], [0.5]]))  # labels found afresh
    >>> c = basin_crossings(a, b)
    >>> c.crossed.tolist(), round(c.fraction, 3)
    ([False, True, False], 0.333)
    """
    if attractors_a is None:
        if not isinstance(labels_a, ProbeLabels):
            raise DynsysError("attractors_a must be given when labels_a is not a ProbeLabels")
        attractors_a = labels_a.attractors
    if attractors_b is None:
        if not isinstance(labels_b, ProbeLabels):
            raise DynsysError("attractors_b must be given when labels_b is not a ProbeLabels")
        attractors_b = labels_b.attractors
    att_a = _check_attractors(attractors_a, _dim(attractors_a, attractors_b), "attractors_a")
    att_b = _check_attractors(attractors_b, _dim(attractors_a, attractors_b), "attractors_b")
    la = _check_labels(labels_a, len(att_a), "labels_a")
    lb = _check_labels(labels_b, len(att_b), "labels_b")
    if la.shape != lb.shape:
        raise DynsysError(f"labels_b must have the shape of labels_a {la.shape}, got {lb.shape}")
    match_radius = check_finite_scalar(match_radius, "match_radius")
    if not match_radius > 0.0:
        raise DynsysError(f"match_radius must be > 0, got {match_radius!r}")
    if match is not None and not isinstance(match, LandscapeStep):
        raise DynsysError(f"match must be a LandscapeStep from track_landscape, got {type(match).__name__}")
    reached_a = [int(k) for k in np.unique(la[la >= 0])]
    reached_b = [int(k) for k in np.unique(lb[lb >= 0])]

    partner: dict[int, int] = {}
    rest_a, rest_b = list(reached_a), list(reached_b)
    if match is not None:
        n = _dim(att_a, att_b)
        for states in (match.before.states, match.after.states):
            if states.shape[0] and states.shape[1] != n:
                raise DynsysError(
                    f"match must be a LandscapeStep of {n}-dimensional maps, got {states.shape[1]}"
                )
        ia = _landscape_ids(att_a, reached_a, match.before.states)
        ib = _landscape_ids(att_b, reached_b, match.after.states)
        fp_of_b = {i: k for k, i in ib.items()}
        m = dict((int(i), int(j)) for i, j in match.matches)
        for ka, i in ia.items():
            kb = fp_of_b.get(m.get(i, -1))
            if kb is not None:
                partner[ka] = kb
        rest_a = [k for k in reached_a if k not in ia]
        rest_b = [k for k in reached_b if k not in ib]
    for kb in list(rest_b):  # b continues a's attractor with the same id (attractors=a in its call)
        ka = kb
        if ka in rest_a and (att_b[kb] is att_a[ka] or att_b[kb].continues is att_a[ka]):
            partner[ka] = kb
            rest_a.remove(ka)
            rest_b.remove(kb)
    A = [att_a[k].points for k in rest_a]
    B = [att_b[k].points for k in rest_b]
    for i, j in _assign(A, B, match_radius * _scale(A + B)):
        partner[rest_a[i]] = rest_b[j]

    undecided = (la < 0) | (lb < 0)
    mapped = np.array([partner.get(int(k), -2) for k in la], dtype=np.int64)
    crossed = ~undecided & (mapped != lb)
    unmatched = crossed & (mapped == -2)
    pairs = np.array(sorted(partner.items()), dtype=np.int64).reshape(-1, 2)
    return BasinCrossings(crossed, undecided, unmatched, pairs)


def _dim(attractors_a, attractors_b) -> int:
    """The state dimension from the first attractor of either list (1 when both are empty)."""
    for att in (attractors_a, attractors_b):
        att = att.attractors if isinstance(att, ProbeLabels) else att
        for a in att or ():
            pts = getattr(a, "points", None)
            if isinstance(pts, np.ndarray) and pts.ndim == 2:
                return pts.shape[1]
    return 1
