"""Following the attractor landscape along a chain of checkpoints (the training monitor's analysis).

A training run is a chain of maps ``F_0, F_1, …`` (one per update; paper eq. 1–2). The monitor
looks at every ``c``-th of them (the *checkpoints*) and keeps the updates in between for
localization. Two trackers do the work, each cheap enough to run every 25 updates of a 50-unit
network:

:class:`LandscapeTracker`
    The fixed points and 2-cycles of each checkpoint under a set of constant inputs
    (:class:`Condition`: the zero input, each input symbol of a task), found by one batched damped
    Newton solve for all conditions at once: warm starts from the previous checkpoint's points plus
    a few fresh starts (states the network visits). Each set has a *signature*: the multiset of
    ``(unstable dimension, sign det(J − I), sign det(J + I))`` of its points. A fold or a
    branch point changes the number of points, a multiplier crossing ``+1`` the sign of
    ``det(J − I)``, one crossing ``−1`` that of ``det(J + I)``, a complex pair crossing the circle
    (Neimark–Sacker) the unstable dimension. When the signature changes between two checkpoints,
    the update where it changes is found by **bisection over the stored per-update maps**, and the
    event is then located on that one update (the straight segment ``θ_{t−1} → θ_t`` that SGD
    moves along) by :func:`~dynsys.analysis.landscape.track_landscape` (pseudo-arclength
    continuation and the continuation module's test functions, ~1e-13 in ``s``). An event is
    reported only when continuation confirms it; its time is ``t − 1 + s``. A point found fresh at
    a checkpoint that also exists at the previous one (Newton from it converges there) was missed
    before, not born: it is added to the previous set first.

:class:`ProbeTracker`
    A fixed batch of task sequences (the probes): the network's state at their last step, the
    attractor it ends on under zero input (:func:`~dynsys.analysis.probes.probe_attractors`, ids
    kept across checkpoints), the probes that change attractor between checkpoints
    (:func:`~dynsys.analysis.probes.basin_crossings`) — each located to its update by group
    bisection over the stored maps — and the top Lyapunov exponent of the input-driven
    trajectories (``(1/T) Σ log ‖J_t v_t‖`` with renormalized tangent vectors ``v_t``).

Limits: the signature test misses two events that cancel between two looked-at maps (a pair born
and lost within one bisection interval); the Newton solve misses points no start leads to (then
they are reported when first found, if continuation confirms a birth, else silently added).
Everything is deterministic given ``rng``.

Examples
--------
>>> from dynsys.maps import UnitMap
>>> tr = LandscapeTracker([Condition("zero", None)], period2=False, rng=0)
>>> _ = tr.observe(0, UnitMap(w=5.0, b=-3.5))          # one stable fixed point
>>> chain = [(t, UnitMap(w=5.0, b=-3.5 + 0.1 * t)) for t in range(1, 11)]
>>> step = tr.observe(10, chain[-1][1], between=chain[:-1])
>>> [(e.kind, round(e.time, 3)) for e in step.events]  # the fold at b ≈ −2.6556, t ≈ 8.444
[('fold', 8.444)]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_positive_int, check_rng
from ..errors import DynsysError
from ..maps.base import Map
from .continuation.arclength import ContinuationOptions
from .equilibria.points import dedup
from .equilibria.stability import multipliers
from .landscape import track_landscape
from .probes import ProbeLabels, basin_crossings, probe_attractors

__all__ = [
    "Condition",
    "TrackedPoints",
    "TrackedEvent",
    "ConditionStep",
    "TrackStep",
    "LandscapeTracker",
    "ProbeStep",
    "ProbeTracker",
    "landscape_orbits",
]

#: Newton iterations of the batched solve
_NEWTON_ITER = 40
#: relative distance below which two points are one
_SAME = 1e-6
#: step control of the continuation over one segment (an update moves the weights little: long
#: steps, shortened by the corrector where the branch turns)
_SEGMENT = ContinuationOptions(ds=0.05, ds_max=0.25)
#: a warm start that moves farther than this (relative to 1 + ‖x‖∞) left its branch ...
_JUMP_FAR = 1.0
#: ... and one that moves farther than this is checked by a Newton round trip
_JUMP_CHECK = 0.25


@dataclass(frozen=True)
class Condition:
    """A constant input under which the landscape is followed: ``name`` and ``u`` (None: ``step(x, None)``)."""

    name: str
    u: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class TrackedEvent:
    """A bifurcation located along the chain.

    Attributes
    ----------
    kind : str
        ``"fold"``, ``"branch-point"``, ``"flip"`` or ``"neimark-sacker"``.
    time : float
        ``t − 1 + s``: on the update ``t`` (the segment ``θ_{t−1} → θ_t``) at its fraction ``s``.
    update : int
        ``t``, the update during which it happened.
    condition : str
        The :class:`Condition` it belongs to.
    period : int
        1 (fixed points) or 2 (2-cycles).
    multiplier : complex
        The critical multiplier.
    state : ndarray, shape (n,)
    """

    kind: str
    time: float
    update: int
    condition: str
    period: int
    multiplier: complex
    state: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "time": float(self.time),
            "update": int(self.update),
            "condition": self.condition,
            "period": int(self.period),
            "multiplier": [float(self.multiplier.real), float(self.multiplier.imag)],
        }


@dataclass(frozen=True, eq=False)
class ConditionStep:
    """The fixed points and 2-cycles of one checkpoint under one condition."""

    condition: Condition
    fixed: TrackedPoints
    cycles: TrackedPoints | None

    def to_dict(self) -> dict:
        out = {"name": self.condition.name, **_summary(self.fixed, "fixed")}
        if self.cycles is not None:
            out.update(_summary(self.cycles, "cycles"))
        return out


def _summary(fp: TrackedPoints, key: str) -> dict:
    return {
        f"n_{key}": len(fp),
        f"n_stable_{key}": int(np.count_nonzero(fp.unstable_dim == 0)),
        f"radius_{key}": np.sort(fp.radius)[::-1].tolist(),
    }


@dataclass(frozen=True, eq=False)
class TrackStep:
    """One checkpoint of :class:`LandscapeTracker`: per condition its points, and the events since the last."""

    time: int
    conditions: tuple[ConditionStep, ...]
    events: tuple[TrackedEvent, ...]
    bisections: int = 0

    @property
    def leading_radius(self) -> float:
        """Largest ``|μ|`` over the fixed points of the first condition (NaN without points)."""
        fp = self.conditions[0].fixed
        return float(fp.radius.max()) if len(fp) else float("nan")

    def to_dict(self) -> dict:
        return {
            "conditions": [c.to_dict() for c in self.conditions],
            "events": [e.to_dict() for e in self.events],
            "leading_radius": self.leading_radius,
            "bisections": self.bisections,
        }


# -- the batched solve -----------------------------------------------------------------------
def _rows_u(conds: Sequence[Condition], idx: np.ndarray, m: int) -> np.ndarray:
    U = np.zeros((idx.size, m))
    for j, c in enumerate(conds):
        if c.u is not None:
            U[idx == j] = c.u
    return U


def _F(map: Map, x, U, period: int):
    """``F^period`` and its Jacobian at rows ``x`` with per-row inputs ``U`` (None: no input)."""
    J = None
    for _ in range(period):
        Jk = map.jacobian(x, U)
        J = Jk if J is None else Jk @ J
        x = map.step(x, U)
    return x, J


def _Fx(map: Map, x, U, period: int):
    """``F^period`` at rows ``x`` (no Jacobian)."""
    for _ in range(period):
        x = map.step(x, U)
    return x


def _newton(map: Map, x, U, period: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Damped batched Newton on ``F^p(x) = x``, each row with its own input. Returns (x, converged).

    A row stops when its residual is below ``tol``, when it is not finite, when the line search
    (8 halvings) finds no decrease, or when the residual has not fallen by 5 % in 3 iterations.
    """
    x = np.array(x, dtype=float)
    n = x.shape[1]
    eye = np.eye(n)
    active = np.ones(x.shape[0], dtype=bool)
    hist = np.full((x.shape[0], 3), np.inf)  # the residuals of the last 3 iterations
    with np.errstate(all="ignore"):
        for it in range(_NEWTON_ITER):
            a = np.flatnonzero(active)
            if a.size == 0:
                break
            Ua = None if U is None else U[a]
            y, J = _F(map, x[a], Ua, period)
            g = y - x[a]
            r = np.linalg.norm(g, axis=1)
            stalled = r > 0.95 * hist[a, it % 3]
            done = (r < tol) | ~np.isfinite(r) | stalled
            hist[a, it % 3] = r
            active[a[done]] = False
            keep = ~done
            if not keep.any():
                break
            a, g, J, r = a[keep], g[keep], J[keep], r[keep]
            try:
                d = np.linalg.solve(J - eye, -g[..., None])[..., 0]
            except np.linalg.LinAlgError:
                d = np.stack([np.linalg.lstsq(Ji - eye, -gi, rcond=None)[0] for Ji, gi in zip(J, g)])
            Ua = None if U is None else U[a]
            alpha = np.ones(a.size)
            xa = x[a]
            new = xa + d
            bad = np.zeros(a.size, dtype=bool)
            for _ in range(8):  # backtrack rows whose residual did not fall
                rn = np.linalg.norm(_Fx(map, new, Ua, period) - new, axis=1)
                bad = ~(rn < r)
                if not bad.any():
                    break
                alpha[bad] *= 0.5
                new[bad] = xa[bad] + alpha[bad, None] * d[bad]
            x[a[~bad]] = new[~bad]
            active[a[bad]] = False  # no decrease along the Newton direction: give up
        res = np.linalg.norm(_Fx(map, x, U, period) - x, axis=1)
    return x, np.isfinite(res) & (res < tol)


def _distinct(map, cond, states, period, box) -> np.ndarray:
    """The distinct points (minimal period ``period``, one per 2-cycle) among converged ``states``
    (``box``: ``map.periodic_box(cond.u)``, or None)."""
    n = map.dim
    states = np.asarray(states, dtype=float).reshape(-1, n)
    if states.shape[0]:
        if box is not None:
            lo, hi = (np.asarray(b, float) for b in box)
            w = 1e-9 * (1.0 + hi - lo)
            states = states[np.all((states >= lo - w) & (states <= hi + w), axis=1)]
    if states.shape[0] and period == 2:
        fx = map.step(states, cond.u)
        scale = 1.0 + np.abs(states).max(axis=1)
        keep = np.linalg.norm(fx - states, axis=1) > 1e-6 * scale
        states = np.concatenate([states[keep], fx[keep]])  # both points of each cycle
    if states.shape[0] > 1:
        scale = 1.0 + float(np.abs(states).max())
        states = states[dedup(states, np.zeros(states.shape[0]), _SAME * scale)]
    if states.shape[0] and period == 2:
        fx = map.step(states, cond.u)
        reps: list = []
        for x, y in zip(states, fx):
            r = x if tuple(x) <= tuple(y) else y
            if not any(np.abs(r - q).max() <= _SAME * (1 + np.abs(r).max()) for q in reps):
                reps.append(r)
        states = np.array(reps).reshape(-1, n)
    if states.shape[0] > 1:
        states = states[np.lexsort(states.T[::-1])]
    return states


@dataclass(frozen=True, eq=False)
class TrackedPoints:
    """Fixed points (or one point per 2-cycle) of one checkpoint under one condition.

    Attributes
    ----------
    states : ndarray, shape (k, n)
        Sorted lexicographically.
    multipliers : ndarray of complex, shape (k, n)
        Eigenvalues of ``∂F^period/∂x`` at each point, by decreasing modulus.
    period : int
    """

    states: np.ndarray
    multipliers: np.ndarray
    period: int = 1

    def __len__(self) -> int:
        return self.states.shape[0]

    @property
    def unstable_dim(self) -> np.ndarray:
        """Multipliers outside the unit circle, per point."""
        return np.count_nonzero(np.abs(self.multipliers) > 1.0 + 1e-9, axis=1)

    @property
    def radius(self) -> np.ndarray:
        """Leading ``|μ|`` per point."""
        return np.abs(self.multipliers[:, 0]) if len(self) else np.zeros(0)


def _with_multipliers(map, conds, states: dict, period: int) -> dict:
    """:class:`TrackedPoints` per condition index, every Jacobian and eigenvalue in one batched call."""
    keys = list(states)
    X = np.concatenate([states[j] for j in keys]) if keys else np.zeros((0, map.dim))
    if X.shape[0] == 0:
        empty = np.zeros((0, map.dim), complex)
        return {j: TrackedPoints(states[j], empty, period) for j in keys}
    idx = np.concatenate([np.full(states[j].shape[0], j) for j in keys])
    has_u = any(conds[j].u is not None for j in keys)
    U = _rows_u(conds, idx, map.input_dim) if has_u else None
    with np.errstate(all="ignore"):
        _, J = _F(map, X, U, period)
    mu = multipliers(np.nan_to_num(J))
    return {j: TrackedPoints(states[j], mu[idx == j], period) for j in keys}


def _signature(fp: TrackedPoints) -> tuple:
    """The multiset of (unstable dimension, sign det(J − I), sign det(J + I)) of the points."""
    return tuple(sorted(_point_signatures(fp)))


def _check_conditions(conditions) -> tuple[Condition, ...]:
    conds = tuple(conditions)
    if not conds or not all(isinstance(c, Condition) for c in conds):
        raise DynsysError("conditions must be a non-empty sequence of Condition")
    names = [c.name for c in conds]
    if len(set(names)) != len(names):
        raise DynsysError(f"conditions must have distinct names, got {names}")
    return conds


def _check_between(between, name="between") -> list:
    out = []
    for item in between:
        if not (
            isinstance(item, tuple) and len(item) == 2 and (isinstance(item[1], Map) or callable(item[1]))
        ):
            raise DynsysError(
                f"{name} must be a sequence of (time, Map) pairs (or (time, callable returning a Map))"
            )
        out.append([int(item[0]), item[1]])
    times = [t for t, _ in out]
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise DynsysError(f"{name} must have increasing times, got {times}")
    return out


def _map_at(chain: list, i: int) -> Map:
    """The map of ``chain[i]``, built on first use when it is given as a callable."""
    m = chain[i][1]
    if not isinstance(m, Map):
        m = m()
        if not isinstance(m, Map):
            raise DynsysError(f"between[{i - 1}] must give a dynsys Map, got {type(m).__name__}")
        chain[i][1] = m
    return m


class LandscapeTracker:
    """Fixed points and 2-cycles along a chain of maps, with their bifurcations (module docstring).

    Parameters
    ----------
    conditions : sequence of Condition
        The constant inputs (the first is the one :attr:`TrackStep.leading_radius` reads).
    period2 : bool
        Follow the 2-cycles too.
    n_fresh : int
        Fresh Newton starts per condition and period at each checkpoint (drawn from the
        ``fresh`` states given to :meth:`observe`, else uniform in the map's periodic box or
        ``[−1, 1]^n``).
    tol : float
        Residual below which a point is a fixed point.
    rng : None, int, SeedSequence or Generator
    """

    def __init__(self, conditions, *, period2: bool = True, n_fresh: int = 8, tol: float = 1e-10, rng=None):
        self.conditions = _check_conditions(conditions)
        self.period2 = bool(period2)
        self.n_fresh = check_positive_int(n_fresh, "n_fresh")
        self.tol = float(tol)
        self.rng = check_rng(rng)
        self.time: int | None = None
        self.map: Map | None = None
        self.points: dict[tuple[int, int], np.ndarray] = {}
        self._tracked: dict[tuple[int, int], TrackedPoints] = {}
        self._turn = 0
        #: single-update segments where continuation failed to start (no event reported there)
        self.unconfirmed = 0
        self._boxes: tuple = (None, {})

    @property
    def periods(self) -> tuple[int, ...]:
        return (1, 2) if self.period2 else (1,)

    # -- state for checkpoints ----------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict]:
        """Arrays and JSON metadata that restore the tracker (:meth:`set_state`), with the map."""
        arrays = {f"points_{j}_{p}": v for (j, p), v in self.points.items()}
        return arrays, {"time": self.time, "rng": self.rng.bit_generator.state, "turn": self._turn}

    def set_state(self, arrays: dict, meta: dict, map: Map | None) -> None:
        self.points = {}
        for key, v in arrays.items():
            if key.startswith("points_"):
                _, j, p = key.split("_")
                self.points[(int(j), int(p))] = np.asarray(v, dtype=float).reshape(-1, map.dim)
        self.time = meta["time"]
        self.rng.bit_generator.state = meta["rng"]
        self._turn = int(meta.get("turn", 0))
        self.map = map
        self._tracked = {}
        if map is not None:
            for p in self.periods:
                states = {
                    j: self.points.get((j, p), np.zeros((0, map.dim))) for j in range(len(self.conditions))
                }
                self._tracked.update(
                    {(j, p): v for j, v in _with_multipliers(map, self.conditions, states, p).items()}
                )

    # -- solving ------------------------------------------------------------------------------
    def _box(self, map: Map, j: int):
        """``map.periodic_box`` of condition ``j``, computed once per map (maps are immutable)."""
        if self._boxes[0] is not map:
            self._boxes = (map, {})
        boxes = self._boxes[1]
        if j not in boxes:
            boxes[j] = map.periodic_box(self.conditions[j].u)
        return boxes[j]

    def _fresh(self, map: Map, fresh, cond: Condition, count: int) -> np.ndarray:
        if fresh is not None and len(fresh):
            pick = self.rng.integers(len(fresh), size=count)
            x = np.asarray(fresh, float)[pick]
            return x + 1e-3 * self.rng.standard_normal(x.shape)
        box = map.periodic_box(cond.u)
        lo, hi = (np.full(map.dim, -1.0), np.full(map.dim, 1.0)) if box is None else box
        return self.rng.uniform(lo, hi, size=(count, map.dim))

    def _solve(
        self, map: Map, warm: dict, fresh, period: int, n_fresh: int, conds=None, fresh_conds=None
    ) -> dict:
        """The points of every condition at ``map`` (one batched Newton solve for all of them).

        ``warm`` maps a condition index to its warm starts. Returns, per condition index,
        ``(TrackedPoints, X, ok)``: the distinct points, and where each warm start converged.
        """
        conds = range(len(self.conditions)) if conds is None else conds
        blocks, idx, n_warm = [], [], {}
        for j in conds:
            w = np.asarray(warm.get(j, np.zeros((0, map.dim))), dtype=float).reshape(-1, map.dim)
            n_warm[j] = w.shape[0]
            parts = [w]
            if n_fresh and (fresh_conds is None or j in fresh_conds):
                parts.append(self._fresh(map, fresh, self.conditions[j], n_fresh))
            x = np.concatenate(parts)
            blocks.append(x)
            idx.append(np.full(x.shape[0], j))
        X, idx = np.concatenate(blocks), np.concatenate(idx)
        ok = np.zeros(X.shape[0], dtype=bool)
        if X.shape[0]:
            has_u = any(self.conditions[j].u is not None for j in conds)
            U = _rows_u(self.conditions, idx, map.input_dim) if has_u else None
            X, ok = _newton(map, X, U, period, self.tol)
        found = {
            j: _distinct(map, self.conditions[j], X[(idx == j) & ok], period, self._box(map, j))
            for j in conds
        }
        pts = _with_multipliers(map, self.conditions, found, period)
        out = {}
        for j in conds:
            w = np.flatnonzero(idx == j)[: n_warm[j]]
            out[j] = (pts[j], X[w], ok[w])
        return out

    # -- one checkpoint -------------------------------------------------------------------------
    def observe(self, time: int, map: Map, *, between=(), fresh=None) -> TrackStep:
        """The landscape of ``map`` at ``time``, and the events since the previous checkpoint.

        Parameters
        ----------
        time : int
            The update of this checkpoint (larger than the previous one's).
        map : Map
        between : sequence of (int, Map)
            The maps of the updates strictly between the previous checkpoint and this one, in order
            (for localization; without them an event is located on the straight line between the
            two checkpoints). A zero-argument callable returning the map may stand for a map: it
            is called only if that map is looked at.
        fresh : array_like, shape (S, n), optional
            States to draw the fresh starts from (states the network visits).

        Returns
        -------
        TrackStep
        """
        if not isinstance(map, Map):
            raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
        time = int(time)
        if self.time is not None and time <= self.time:
            raise DynsysError(f"time must be larger than the previous checkpoint's ({self.time}), got {time}")
        between = _check_between(between)
        if any(not (self.time is None or self.time < t < time) for t, _ in between):
            raise DynsysError(f"between must hold times strictly between {self.time} and {time}")
        events, bisections = [], 0
        now: dict = {}
        per_period = {}
        chain = [[self.time, self.map], *between, [time, map]]
        J = range(len(self.conditions))
        # fresh starts: every condition at the first checkpoint, then one condition per checkpoint in turn
        turn = None if self.map is None else {self._turn % len(self.conditions)}
        self._turn += 1
        for p in self.periods:
            prev_pts = {j: self.points.get((j, p), np.zeros((0, map.dim))) for j in J}
            sol = self._solve(map, prev_pts, fresh, p, self.n_fresh, fresh_conds=turn)
            fps = {j: sol[j][0] for j in J}
            if self.map is not None:
                # a point found now that no warm start leads to: solve the previous checkpoint again,
                # warm from its points and the points found now (missed before, or born since)
                new = [j for j in J if _has_new(fps[j].states, sol[j][1][sol[j][2]])]
                back = (
                    self._solve(
                        self.map,
                        {j: np.concatenate([prev_pts[j], fps[j].states]) for j in new},
                        None,
                        p,
                        0,
                        conds=new,
                    )
                    if new
                    else {}
                )
                for j in J:
                    k = prev_pts[j].shape[0]
                    first = back[j][0] if j in back else self._tracked[(j, p)]
                    broken = (
                        _signature(first) != _signature(fps[j])
                        or self._jumped(self.map, j, p, prev_pts[j], sol[j][1], sol[j][2])
                        or (
                            j in back
                            and self._jumped(map, j, p, fps[j].states, back[j][1][k:], back[j][2][k:])
                        )
                    )
                    cache = {0: first, len(chain) - 1: fps[j]}
                    ev, nb = self._scan(chain, j, p, cache, 0, len(chain) - 1, broken)
                    events.extend(ev)
                    bisections += nb
            per_period[p] = fps
            now.update({(j, p): fps[j].states for j in J})
            self._tracked.update({(j, p): fps[j] for j in J})
        steps = tuple(
            ConditionStep(c, per_period[1][j], per_period[2][j] if self.period2 else None)
            for j, c in enumerate(self.conditions)
        )
        self.time, self.map, self.points = time, map, now
        events.sort(key=lambda e: e.time)
        return TrackStep(time, steps, tuple(events), bisections)

    def _at(self, chain, j: int, p: int, cache: dict, i: int, warm: np.ndarray) -> TrackedPoints:
        if i not in cache:
            cache[i] = self._solve(_map_at(chain, i), {j: warm}, None, p, 0, conds=(j,))[j][0]
        return cache[i]

    def _flagged(self, chain, j, p, cache, a, b) -> bool:
        """Whether something may happen between chain maps ``a`` and ``b`` (signature or a jump)."""
        fa, fb = cache[a], cache[b]
        if _signature(fa) != _signature(fb):
            return True
        fwd = self._solve(_map_at(chain, b), {j: fa.states}, None, p, 0, conds=(j,))[j]
        bwd = self._solve(_map_at(chain, a), {j: fb.states}, None, p, 0, conds=(j,))[j]
        return self._jumped(_map_at(chain, a), j, p, fa.states, fwd[1], fwd[2]) or self._jumped(
            _map_at(chain, b), j, p, fb.states, bwd[1], bwd[2]
        )

    def _jumped(self, home: Map, j: int, p: int, start, end, ok) -> bool:
        """Whether a warm start from ``start`` (points of ``home``) left its branch on the way to
        ``end``: it failed, moved farther than ``1 · (1 + ‖x‖∞)``, or moved farther than ``0.25 ·
        (1 + ‖x‖∞)`` and Newton on ``home`` from ``end`` does not come back to ``start`` (the
        round trip of a continued point is the identity; a point whose branch folded lands on
        another branch, which Newton follows home to another point)."""
        if start.shape[0] == 0:
            return False
        if not np.all(ok):
            return True
        scale = 1.0 + np.abs(start).max(axis=1)
        d = np.abs(end - start).max(axis=1)
        if np.any(d > _JUMP_FAR * scale):
            return True
        sus = d > _JUMP_CHECK * scale
        if not sus.any():
            return False
        back = self._solve(home, {j: end[sus]}, None, p, 0, conds=(j,))[j]
        home_d = np.abs(back[1] - start[sus]).max(axis=1)
        return bool(np.any(~back[2] | (home_d > 1e-6 * scale[sus])))

    def _scan(self, chain, j, p, cache, a, b, flagged) -> tuple[list, int]:
        """Recursive subdivision of ``chain[a..b]`` down to the single updates that hold an event."""
        if not flagged:
            return [], 0
        if b - a == 1:
            before, after = self._active(chain, j, p, cache, a, b)
            if not (len(before) or len(after)):
                return [], 0
            return self._confirm(
                (chain[a][0], _map_at(chain, a)),
                (chain[b][0], _map_at(chain, b)),
                self.conditions[j],
                p,
                before,
                after,
            ), 0
        mid = (a + b) // 2
        warm = np.concatenate([cache[a].states, cache[b].states])
        self._at(chain, j, p, cache, mid, warm)
        out, n = [], 1
        for lo, hi in ((a, mid), (mid, b)):
            ev, k = self._scan(chain, j, p, cache, lo, hi, self._flagged(chain, j, p, cache, lo, hi))
            out.extend(ev)
            n += k
        return out, n

    def _active(self, chain, j, p, cache, a, b) -> tuple[TrackedPoints, np.ndarray]:
        """The points of ``chain[a]`` and of ``chain[b]`` that do not simply continue: a point of
        ``a`` whose Newton continuation at ``b`` (and back) lands on a point of ``b`` with the same
        (unstable dimension, sign det(J − I), sign det(J + I)) is quiet; the others (lost, born,
        changed) are where the events are. Returns ``a``'s active points and ``b``'s states."""
        fa, fb = cache[a], cache[b]
        ma, mb = _map_at(chain, a), _map_at(chain, b)

        def quiet(src: TrackedPoints, dst: TrackedPoints, target: Map, home: Map) -> np.ndarray:
            ok = np.zeros(len(src), dtype=bool)
            if not (len(src) and len(dst)):
                return ok
            _, X, conv = self._solve(target, {j: src.states}, None, p, 0, conds=(j,))[j]
            sig_src, sig_dst = _point_signatures(src), _point_signatures(dst)
            for i in range(len(src)):
                if not conv[i] or self._jumped(
                    home, j, p, src.states[i : i + 1], X[i : i + 1], conv[i : i + 1]
                ):
                    continue
                d = np.abs(dst.states - X[i]).max(axis=1)
                k = int(np.argmin(d))
                ok[i] = d[k] <= 1e-6 * (1.0 + np.abs(X[i]).max()) and sig_src[i] == sig_dst[k]
            return ok

        qa = quiet(fa, fb, mb, ma)
        qb = quiet(fb, fa, ma, mb)
        active_a = TrackedPoints(fa.states[~qa], fa.multipliers[~qa], fa.period)
        return active_a, fb.states[~qb]

    def _confirm(self, ta, tb, cond: Condition, p: int, before, after: np.ndarray) -> list[TrackedEvent]:
        """Continuation on the segment ``θ_a → θ_b`` (one update, or the whole interval without
        stored maps) from the points of ``a`` and ``b`` that do not simply continue
        (:meth:`_active`): the events it confirms, with their times."""
        (t_a, map_a), (t_b, map_b) = ta, tb
        from .equilibria.points import assemble

        fp_a = assemble(map_a, before.states, cond.u, p, np.inf, "active points", len(before))
        try:
            step = track_landscape(
                map_a,
                map_b,
                u=cond.u,
                period=p,
                before=fp_a,
                starts=after if len(after) else None,
                n_starts=1,
                rng=self.rng,
                tol=self.tol,
                options=_SEGMENT,
            )
        except DynsysError:  # continuation could not start from a point: nothing is confirmed here
            self.unconfirmed += 1
            return []
        out = []
        for e in step.events:
            time = t_a + e.s * (t_b - t_a)
            update = min(t_b, max(t_a + 1, int(np.ceil(time - 1e-12))))
            out.append(
                TrackedEvent(e.kind, float(time), int(update), cond.name, e.period, e.multiplier, e.state)
            )
        return out


def _point_signatures(fp: TrackedPoints) -> list[tuple]:
    """Per point: (unstable dimension, sign det(J − I), sign det(J + I))."""
    if not len(fp):
        return []
    dm = np.prod(fp.multipliers - 1.0, axis=1).real
    dp = np.prod(fp.multipliers + 1.0, axis=1).real
    return [(int(k), int(np.sign(x)), int(np.sign(y))) for k, x, y in zip(fp.unstable_dim, dm, dp)]


def landscape_orbits(step: TrackStep, map: Map, condition: int = 0) -> list[tuple[np.ndarray, float]]:
    """The fixed points and 2-cycles of ``step`` under one condition as ``(points, radius)``
    orbits (``orbits=`` of :func:`~dynsys.analysis.probes.probe_attractors`): each fixed point
    ``(x[None], ρ)``, each 2-cycle ``([x, F(x)], ρ)`` with ``ρ`` the leading ``|μ|`` of ``F^p``."""
    c = step.conditions[condition]
    out = [(x[None, :], float(r)) for x, r in zip(c.fixed.states, c.fixed.radius)]
    if c.cycles is not None and len(c.cycles):
        fx = map.step(c.cycles.states, c.condition.u)
        out += [(np.stack([x, y]), float(r)) for x, y, r in zip(c.cycles.states, fx, c.cycles.radius)]
    return [(pts, r) for pts, r in out if np.all(np.isfinite(pts)) and np.isfinite(r)]


def _has_new(states: np.ndarray, ends: np.ndarray) -> bool:
    """Whether some of ``states`` is none of the warm starts' ends."""
    if states.shape[0] == 0:
        return False
    if ends.shape[0] == 0:
        return True
    d = np.abs(states[:, None, :] - ends[None, :, :]).max(axis=-1).min(axis=1)
    return bool(np.any(d > 1e-6 * (1.0 + np.abs(states).max(axis=1))))


# -- probes ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ProbeStep:
    """One checkpoint of :class:`ProbeTracker`.

    Attributes
    ----------
    labels : ProbeLabels
    crossed : ndarray of int
        The probes that changed attractor since the previous checkpoint.
    crossing_updates : ndarray of int
        The update at which each of them crossed (bisection over the stored maps; the
        checkpoint's own update without them).
    n_undecided : int
    lyapunov : ndarray, shape (q,)
        Top Lyapunov exponent of the input-driven trajectory of each of the first ``n_lyapunov``
        probes.
    """

    time: int
    labels: ProbeLabels
    crossed: np.ndarray
    crossing_updates: np.ndarray
    n_undecided: int
    lyapunov: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        lam = self.lyapunov[np.isfinite(self.lyapunov)]
        return {
            "n_attractors": int(np.count_nonzero(self.labels.counts)),
            "periods": [int(a.period) for a, c in zip(self.labels.attractors, self.labels.counts) if c],
            "counts": [int(c) for c in self.labels.counts if c],
            "n_undecided": int(self.n_undecided),
            "crossed": self.crossed.tolist(),
            "crossing_updates": self.crossing_updates.tolist(),
            "fraction_crossed": float(self.crossed.size / max(1, self.labels.labels.size)),
            "lyapunov_mean": float(lam.mean()) if lam.size else None,
            "lyapunov_max": float(lam.max()) if lam.size else None,
        }


class ProbeTracker:
    """Final states of a fixed probe batch, the attractors they end on, their crossings, Lyapunov exponents.

    Parameters
    ----------
    inputs : array_like, shape (T, P, m)
        The probe sequences (one task batch).
    x0 : array_like, shape (n,), optional
        The initial state (default zero).
    steps : int
        Free-run budget of :func:`~dynsys.analysis.probes.probe_attractors`.
    tol : float
        Its period-test tolerance.
    n_lyapunov : int
        Probes whose input-driven top Lyapunov exponent is computed (the first ones).
    match_radius : float
        Largest orbit distance (relative to ``1 + ‖x‖∞``) at which an attractor is the
        continuation of the previous checkpoint's (:func:`~dynsys.analysis.probes.probe_attractors`):
        widen it when the checkpoints are far apart and the attractors move more.
    """

    def __init__(
        self,
        inputs,
        *,
        x0=None,
        steps: int = 400,
        tol: float = 1e-4,
        n_lyapunov: int = 8,
        match_radius: float = 0.1,
    ):
        inputs = np.asarray(inputs, dtype=float)
        if inputs.ndim != 3 or not np.all(np.isfinite(inputs)):
            raise DynsysError(f"inputs must be a finite (T, P, m) array, got shape {inputs.shape}")
        self.inputs = inputs
        self.x0 = None if x0 is None else np.asarray(x0, dtype=float)
        self.steps = check_positive_int(steps, "steps")
        self.tol = float(tol)
        self.n_lyapunov = check_positive_int(n_lyapunov, "n_lyapunov")
        self.match_radius = float(match_radius)
        if not (np.isfinite(self.match_radius) and self.match_radius > 0):
            raise DynsysError(f"match_radius must be a positive number, got {match_radius!r}")
        self.time: int | None = None
        self.labels: ProbeLabels | None = None
        self.visited: np.ndarray | None = None

    def run(self, map: Map, rows=None, *, lyapunov: bool = False):
        """Final states of probes ``rows`` (all by default), the visited states and the exponents."""
        U = self.inputs if rows is None else self.inputs[:, rows]
        P = U.shape[1]
        x = np.zeros((P, map.dim)) if self.x0 is None else np.broadcast_to(self.x0, (P, map.dim)).copy()
        q = min(P, self.n_lyapunov) if lyapunov else 0
        logs = np.zeros(q)
        v = np.full((q, map.dim, 1), 1.0 / np.sqrt(map.dim))
        visited = []
        with np.errstate(all="ignore"):
            for t in range(U.shape[0]):
                if q:  # the tangent vectors of the first q probes, before their step
                    v = map.tangent(x[:q], U[t, :q], v)
                    nv = np.linalg.norm(v[..., 0], axis=1)
                    logs += np.log(np.maximum(nv, 1e-300))
                    v = v / np.where(nv > 0, nv, 1.0)[:, None, None]
                x = map.step(x, U[t])
                if t % 8 == 7:
                    visited.append(x)
        return x, (np.concatenate(visited) if visited else x), logs / max(1, U.shape[0])

    def observe(self, time: int, map: Map, *, between=(), orbits=None, run=None) -> ProbeStep:
        """Label the probes at ``map`` and find (and locate) the ones that crossed since the last call.

        ``orbits``: the autonomous map's periodic orbits already solved, with their radii
        (``orbits=`` of :func:`~dynsys.analysis.probes.probe_attractors`; :func:`landscape_orbits`
        of a :class:`LandscapeTracker` step at the same map). ``run``: :meth:`run` of this map with
        ``lyapunov=True``, when the caller needed its visited states first.
        """
        if not isinstance(map, Map):
            raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
        time = int(time)
        if self.time is not None and time <= self.time:
            raise DynsysError(f"time must be larger than the previous checkpoint's ({self.time}), got {time}")
        between = _check_between(between)
        xT, visited, lam = self.run(map, lyapunov=True) if run is None else run
        labels = probe_attractors(
            map,
            xT,
            attractors=self.labels,
            steps=self.steps,
            tol=self.tol,
            match_radius=self.match_radius,
            orbits=orbits,
        )
        crossed = np.zeros(0, dtype=int)
        at = np.zeros(0, dtype=int)
        if self.labels is not None:
            bc = basin_crossings(self.labels, labels, match_radius=self.match_radius)
            crossed = np.flatnonzero(bc.crossed)
            at = np.full(crossed.size, time)
            if crossed.size and between:
                at = self._locate(crossed, self.labels, [[self.time, None], *between, [time, map]])
        self.time, self.labels, self.visited = time, labels, visited
        return ProbeStep(time, labels, crossed, at, labels.n_undecided, lam)

    def _locate(self, crossed, first: ProbeLabels, chain) -> np.ndarray:
        """The first map of ``chain`` at which each crossed probe is off its first attractor's partner."""
        out = np.full(crossed.size, chain[-1][0])
        lo = np.zeros(crossed.size, dtype=int)
        hi = np.full(crossed.size, len(chain) - 1)
        first_sub = first.labels[crossed]
        while True:
            todo = np.flatnonzero(hi - lo > 1)
            if todo.size == 0:
                break
            mid = (lo + hi) // 2
            for m_i in np.unique(mid[todo]):
                rows = todo[mid[todo] == m_i]
                map_m = _map_at(chain, m_i)
                xT, _, _ = self.run(map_m, crossed[rows])
                lab = probe_attractors(
                    map_m,
                    xT,
                    attractors=first,
                    steps=self.steps,
                    tol=self.tol,
                    match_radius=self.match_radius,
                )
                bc = basin_crossings(
                    first_sub[rows], lab, attractors_a=first.attractors, match_radius=self.match_radius
                )
                moved = bc.crossed | bc.undecided
                hi[rows[moved]] = m_i
                lo[rows[~moved]] = m_i
        out[:] = [chain[h][0] for h in hi]
        return out

    def get_state(self) -> tuple[dict, dict]:
        if self.labels is None:
            return {}, {"time": self.time}
        lab = self.labels
        arrays = {
            "labels": lab.labels,
            "status": lab.status.astype(str),
            "counts": lab.counts,
            "steps_taken": lab.steps_taken,
            "att_ids": np.array([a.id for a in lab.attractors], dtype=np.int64),
            "att_periods": np.array([a.period for a in lab.attractors], dtype=np.int64),
            "att_radius": np.array([a.radius for a in lab.attractors], dtype=float),
            "att_points": (
                np.concatenate([a.points for a in lab.attractors])
                if lab.attractors
                else np.zeros((0, self.visited.shape[-1]))
            ),
        }
        if self.visited is not None:
            arrays["visited"] = self.visited
        return arrays, {"time": self.time, "steps": lab.steps}

    def set_state(self, arrays: dict, meta: dict) -> None:
        from .probes import ProbeAttractor

        self.time = meta["time"]
        if "labels" not in arrays:
            self.labels = None
            return
        atts, k = [], 0
        pts = np.asarray(arrays["att_points"], float)
        for i, p, r in zip(arrays["att_ids"], arrays["att_periods"], arrays["att_radius"]):
            atts.append(ProbeAttractor(int(i), int(p), pts[k : k + int(p)], float(r)))
            k += int(p)
        self.labels = ProbeLabels(
            np.asarray(arrays["labels"], np.int64),
            np.asarray(arrays["status"]),
            tuple(atts),
            np.asarray(arrays["counts"], np.int64),
            np.asarray(arrays["steps_taken"], np.int64),
            int(meta["steps"]),
        )
        self.visited = arrays.get("visited")
