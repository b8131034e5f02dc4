"""The attractor landscape between two checkpoints of a network, and its bifurcation events.

Two maps of the same type and shapes (two training checkpoints ``θ_a``, ``θ_b``) are joined by the
straight line of their weights, ``θ(s) = (1 − s) θ_a + s θ_b`` for ``s ∈ [0, 1]``
(:func:`interpolate_maps`, every array of ``map.weight_names``; Map rule 17). Along it
(:func:`track_landscape`):

* the fixed points of ``map_a`` (found, or given as ``before``) and of ``map_b`` (fresh starts plus
  Newton warm-started from ``map_a``'s points) are each continued in ``s`` by pseudo-arclength
  continuation (:func:`~dynsys.analysis.continuation.continue_branch`, through the
  :class:`InterpolationPath` family), so a fixed point that disappears at a fold is followed
  around the turn instead of being lost by Newton;
* every multiplier crossing of the unit circle on those branches is detected and located by the
  continuation module's own code (:func:`~dynsys.analysis.continuation.locate_bifurcations`:
  sign changes of the test functions ``det(J − I)``, ``det(J + I)`` and the bialternate product,
  solved by Brent's method on the branch, to about 1e-13 in ``s``). An :class:`Event` is
  ``"fold"`` (a pair of fixed points born or lost, ``μ = +1``, the branch turns back in ``s``),
  ``"branch-point"`` (``μ = +1`` without a turn: a pitchfork or transcritical point, new fixed
  points born beside a persisting one), ``"flip"`` (``μ = −1``) or ``"neimark-sacker"`` (a
  complex pair on the circle) — the vocabulary of
  :data:`~dynsys.analysis.continuation.BIFURCATION_TYPES`;
* a point of ``map_a`` whose branch reaches ``s = 1`` without turning is matched to the point of
  ``map_b`` at its end (Hungarian assignment on distances, within ``match_tol``); the others are
  ``lost``, and the points of ``map_b`` matched by none are ``born``.

With ``period=2`` the same is done for the 2-cycles (fixed points of ``F∘F`` of minimal period 2,
continued as the continuation module's period-2 branches), one point per cycle in
``before``/``after``/``Event.state`` (the other is ``F`` of it); the flips of the fixed points
are reported as the 2-cycles' ``"branch-point"`` events (a 2-cycle is born or lost there).

Limits (those of the test functions): a crossing by an even number of multipliers at once (a
double multiplier ``+1`` of ``c·I``) does not change the sign of the test function and is not
seen; a point of ``map_b`` born and lost again between the checkpoints, or a branch no search
finds at either end (an isola), is not seen either.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import RNNMap
>>> a = RNNMap(np.diag([-0.8, 0.3]))  # the origin has the multiplier −0.8 …
>>> b = RNNMap(np.diag([-1.2, 0.3]))  # … and −1.2: a flip at s = 0.5
>>> step = track_landscape(a, b, rng=0)
>>> [(e.kind, round(e.s, 10)) for e in step.events]
[('flip', 0.5)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import check_positive_int, check_rng
from ..errors import DynsysError
from ..maps.base import Map
from ..maps.paths import ParameterPath
from .continuation.arclength import ContinuationOptions
from .continuation.bifurcations import locate_bifurcations
from .continuation.branches import Branch, _on_branch, continue_branch
from .equilibria.fixed_points import find_fixed_points
from .equilibria.newton import iterate_k
from .equilibria.points import FixedPoints, assemble, dedup
from .equilibria.stability import multipliers

__all__ = ["Event", "LandscapeStep", "InterpolationPath", "interpolate_maps", "track_landscape"]


def _weights(map: Map, name: str):
    v = getattr(map, name, None)
    return None if v is None else np.asarray(v, dtype=float)


def _check_pair(map_a, map_b) -> tuple[str, ...]:
    """The weight names to interpolate, after checking that the two maps fit together."""
    for arg, m in (("map_a", map_a), ("map_b", map_b)):
        if not isinstance(m, Map):
            raise DynsysError(f"{arg} must be a dynsys Map, got {type(m).__name__}")
    if type(map_a) is not type(map_b):
        raise DynsysError(
            f"map_b must be of the type of map_a ({type(map_a).__name__}), got {type(map_b).__name__}"
        )
    if (map_a.dim, map_a.input_dim) != (map_b.dim, map_b.input_dim):
        raise DynsysError(
            f"map_b must have the dimensions of map_a (dim {map_a.dim}, input_dim {map_a.input_dim}), "
            f"got (dim {map_b.dim}, input_dim {map_b.input_dim})"
        )
    names = tuple(map_a.weight_names)
    if tuple(map_b.weight_names) != names:
        raise DynsysError(f"map_b must have the weights of map_a {names}, got {tuple(map_b.weight_names)}")
    for name in names:
        wa, wb = _weights(map_a, name), _weights(map_b, name)
        if (wa is None) != (wb is None) or (wa is not None and wa.shape != wb.shape):
            sa = None if wa is None else wa.shape
            sb = None if wb is None else wb.shape
            raise DynsysError(f"map_b.{name} must have the shape of map_a.{name} ({sa}), got {sb}")
    for name in map_a.param_names:
        if name in names:
            continue
        va, vb = getattr(map_a, name, None), getattr(map_b, name, None)
        same = np.array_equal(va, vb) if isinstance(va, np.ndarray) else va == vb
        if not bool(same):
            raise DynsysError(
                f"map_b.{name} must equal map_a.{name} (only weights are interpolated), got {vb!r}"
            )
    return tuple(n for n in names if _weights(map_a, n) is not None)


def interpolate_maps(map_a: Map, map_b: Map):
    """The straight line between two maps: ``s ↦`` the map with weights ``(1 − s) θ_a + s θ_b``.

    Every array of ``map.weight_names`` (Map rule 17, the readout included) is interpolated; the
    other parameters (the activation, ...) must be equal. ``s = 0`` gives ``map_a``'s weights and
    ``s = 1`` ``map_b``'s, bit for bit.

    Parameters
    ----------
    map_a, map_b : Map
        Of the same type, dimensions and weight shapes.

    Returns
    -------
    callable
        ``s ↦ Map`` (a new map through ``with_params``, validated like the constructor).

    Raises
    ------
    DynsysError
        Maps of different types, dimensions, weight shapes or other parameters.

    Examples
    --------
    >>> from dynsys.maps import UnitMap
    >>> at = interpolate_maps(UnitMap(w=5.0, b=-3.0), UnitMap(w=5.0, b=-2.0))
    >>> at(0.25).b, at(1.0).b
    (-2.75, -2.0)
    """
    names = _check_pair(map_a, map_b)
    theta_a = {n: _weights(map_a, n) for n in names}
    theta_b = {n: _weights(map_b, n) for n in names}

    def at(s) -> Map:
        s = float(s)
        if not np.isfinite(s):
            raise DynsysError(f"s must be finite, got {s!r}")
        changes = {}
        for n in names:
            v = (1.0 - s) * theta_a[n] + s * theta_b[n]
            changes[n] = float(v) if v.ndim == 0 else v
        return map_a.with_params(**changes)

    return at


@dataclass(frozen=True, eq=False)
class InterpolationPath(ParameterPath):
    """The family ``s ↦ F(·, θ(s))``, ``θ(s) = (1 − s) θ_a + s θ_b`` (a :class:`~dynsys.maps.ParameterPath`
    for continuation in ``s``; ``p0 = 0`` is ``map_a``). ``∂F/∂s`` is a central difference."""

    map_a: Map
    map_b: Map
    u: np.ndarray | None = None
    name: str = field(default="s", init=False)
    p0: float = field(default=0.0, init=False)
    dim: int = field(init=False)
    _at: object = field(init=False, repr=False)
    _last: list = field(default_factory=lambda: [None, None], init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_at", interpolate_maps(self.map_a, self.map_b))  # validates the pair
        object.__setattr__(self, "dim", self.map_a.dim)

    @property
    def formula(self) -> str:
        return "θ = (1 − s)·θ_a + s·θ_b"

    def map_at(self, p):
        p = float(p)
        if self._last[0] != p:  # one-entry cache: continuation asks for the same s repeatedly
            self._last[:] = [p, self._at(p)]
        return self._last[1]

    def dfdp(self, x, p):
        h = 1e-6
        p = float(p)
        return (self._at(p + h).step(x, self.u) - self._at(p - h).step(x, self.u)) / (2.0 * h)

    def step_batch(self, x, p):
        return np.stack([self.map_at(pi).step(x[i], self.u) for i, pi in enumerate(np.asarray(p, float))])


@dataclass(frozen=True, eq=False)
class Event:
    """A bifurcation between the two checkpoints.

    Attributes
    ----------
    kind : str
        ``"fold"``, ``"branch-point"``, ``"flip"`` or ``"neimark-sacker"``
        (:data:`~dynsys.analysis.continuation.BIFURCATION_TYPES`).
    s : float
        Where on the line ``θ(s) = (1 − s) θ_a + s θ_b``, in ``(0, 1)`` (or at an end).
    state : ndarray, shape (n,)
        The fixed point at the event.
    multiplier : complex
        The critical multiplier (``+1``, ``−1`` or ``e^{iφ}`` with ``φ > 0``).
    multipliers : ndarray of complex, shape (n,)
        All multipliers there, by decreasing modulus.
    period : int
        1: an event of fixed points (multipliers of ``F``); 2: of a 2-cycle (multipliers of
        ``F∘F``; ``state`` is one point of the cycle, the other is ``F(state)``).
    """

    kind: str
    s: float
    state: np.ndarray
    multiplier: complex
    multipliers: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, complex))
    period: int = 1

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "period": int(self.period),
            "s": float(self.s),
            "state": self.state.tolist(),
            "multiplier": [float(self.multiplier.real), float(self.multiplier.imag)],
        }


@dataclass(frozen=True, eq=False)
class LandscapeStep:
    """The fixed points (or 2-cycles) of two checkpoints, how they match, and the events between them.

    Attributes
    ----------
    before, after : FixedPoints
        The fixed points of ``map_a`` and of ``map_b`` (``period`` 2: their 2-cycles, one point
        per cycle).
    matches : ndarray of int, shape (k, 2)
        ``(i, j)``: ``before.states[i]`` continues to ``after.states[j]`` without a fold.
    lost : ndarray of int
        Indices into ``before`` matched by no point of ``after``.
    born : ndarray of int
        Indices into ``after`` matched by no point of ``before``.
    events : tuple of Event
        Sorted by ``s``.
    branches : list of Branch
        The continued branches in ``s`` (for plots and checks).
    message : str
    period : int
        1 (fixed points) or 2 (points of minimal period 2).
    fixed : LandscapeStep or None
        ``period`` 2 only: the fixed-point step computed on the way (its flips are the branch
        points of the 2-cycles).
    """

    before: FixedPoints
    after: FixedPoints
    matches: np.ndarray
    lost: np.ndarray
    born: np.ndarray
    events: tuple[Event, ...]
    branches: list = field(default_factory=list, repr=False)
    message: str = ""
    period: int = 1
    fixed: LandscapeStep | None = field(default=None, repr=False)

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def to_dict(self) -> dict:
        return {
            "period": int(self.period),
            "n_before": len(self.before),
            "n_after": len(self.after),
            "matches": self.matches.tolist(),
            "lost": self.lost.tolist(),
            "born": self.born.tolist(),
            "events": [e.to_dict() for e in self.events],
            "message": self.message,
        }


def _critical(kind: str, mu: np.ndarray) -> complex:
    if kind == "flip":
        return complex(mu[np.argmin(np.abs(mu + 1.0))])
    if kind == "neimark-sacker":
        up = mu[mu.imag > 1e-9]
        return complex(up[np.argmin(np.abs(np.abs(up) - 1.0))]) if up.size else complex(mu[0])
    return complex(mu[np.argmin(np.abs(mu - 1.0))])


def _find(map, u, starts, n_starts, rng, tol, period) -> tuple[np.ndarray, int]:
    """Fixed points (or period-2 points) from sampled starts plus the explicit ``starts``."""
    fps = [find_fixed_points(map, u, period=period, n_starts=n_starts, rng=rng, tol=tol)]
    if starts is not None and len(starts):
        fps.append(find_fixed_points(map, u, period=period, starts=starts, tol=tol))
    states = np.concatenate([f.states for f in fps]) if fps else np.zeros((0, map.dim))
    return states, sum(f.n_starts for f in fps)


def _lexmin(x, y) -> np.ndarray:
    """The lexicographically smaller of two points (the representative of a 2-cycle)."""
    for a, b in zip(x, y):
        if a != b:
            return x if a < b else y
    return x


def _cycle_representatives(map, u, states) -> np.ndarray:
    """One point per 2-cycle: of ``x`` and ``F(x)`` the lexicographically smaller."""
    if states.shape[0] == 0:
        return states
    partners = map.step(states, u)
    return np.stack([_lexmin(x, y) for x, y in zip(states, partners)])


def _assemble(map, u, states, tol, message, n_used, period) -> FixedPoints:
    states = np.asarray(states, dtype=float).reshape(-1, map.dim)
    if states.shape[0] and period == 2:  # minimal period 2 only, one point per cycle
        scale = 1.0 + np.abs(states).max(axis=-1)
        states = states[np.linalg.norm(map.step(states, u) - states, axis=-1) > 1e-6 * scale]
        states = _cycle_representatives(map, u, states)
    if states.shape[0]:
        y = iterate_k(map, states, u, period, jacobian=False)[0]
        res = np.linalg.norm(y - states, axis=-1)
        states = states[dedup(states, res, 1e-6)]
        states = states[np.argsort(states[:, 0], kind="stable")]
    fp = assemble(map, states, u, period, tol, message, n_used)
    return fp.select(fp.converged)


def _orbit_distance(x, others, partners) -> np.ndarray:
    """Distance from ``x`` to each cycle ``{others[i], partners[i]}`` (partners None: period 1)."""
    d = np.linalg.norm(others - x, axis=-1)
    return d if partners is None else np.minimum(d, np.linalg.norm(partners - x, axis=-1))


def _monotone_end(branch: Branch) -> np.ndarray | None:
    """The state where a branch continued forward from ``s = 0`` reaches ``s = 1`` without turning."""
    p = branch.params
    if p.size < 2 or abs(p[-1] - 1.0) > 1e-12 or np.any(np.diff(p) <= 0.0):
        return None
    return branch.states[-1]


def _match(ends: list, after: np.ndarray, tol: float, partners=None) -> np.ndarray:
    """Hungarian assignment of branch ends (None: no end) to the points ``after`` (or to their
    cycles ``{after[j], partners[j]}``), within ``tol``."""
    from scipy.optimize import linear_sum_assignment

    rows = [i for i, e in enumerate(ends) if e is not None]
    if not rows or after.shape[0] == 0:
        return np.zeros((0, 2), dtype=int)
    E = np.stack([ends[i] for i in rows])
    D = np.stack([_orbit_distance(e, after, partners) for e in E])
    big = 1e300
    r, c = linear_sum_assignment(np.where(D <= tol, D, big))
    ok = D[r, c] <= tol
    return np.array([[rows[i], j] for i, j in zip(r[ok], c[ok])], dtype=int).reshape(-1, 2)


def _events(branches: list, s_tol: float, x_tol: float, path, period: int, extra=()) -> tuple[Event, ...]:
    found = list(extra)
    for k, br in enumerate(branches):
        for b in locate_bifurcations(br, index=k):
            x = b.state
            if period == 2:
                m = path.map_at(b.param)
                fx = m.step(x, path.u)
                if np.linalg.norm(fx - x) <= x_tol:
                    continue  # the branch reached a fixed point: its flips come from `extra`
                x = _lexmin(x, fx)
            found.append(
                Event(b.type, float(b.param), x, _critical(b.type, b.multipliers), b.multipliers, period)
            )
    found.sort(key=lambda e: e.s)
    out: list[Event] = []
    for e in found:  # the same point (or cycle) seen from two branches (or twice on one) counts once
        fx = path.map_at(e.s).step(e.state, path.u)[None] if period == 2 else None
        dup = [
            o
            for o in out
            if abs(o.s - e.s) <= s_tol
            and float(_orbit_distance(o.state, e.state[None], fx)[0]) <= x_tol
            and (o.kind == e.kind or {o.kind, e.kind} == {"fold", "branch-point"})
        ]
        if not dup:
            out.append(e)
    return tuple(out)


def _cycle_births(fixed: LandscapeStep, path) -> list[Event]:
    """The flips of the fixed points, as branch points of the period-2 branches (a 2-cycle is born
    or lost there); multipliers of ``F∘F`` (the critical one ``(−1)² = +1``)."""
    out = []
    for e in fixed.of_kind("flip"):
        mu = multipliers(path.orbit(e.state, e.s, 2)[1])
        out.append(Event("branch-point", e.s, e.state, complex(e.multiplier**2), mu, 2))
    return out


def _check_period(period) -> int:
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or int(period) not in (1, 2):
        raise DynsysError(f"period must be 1 or 2, got {period!r}")
    return int(period)


def track_landscape(
    map_a: Map,
    map_b: Map,
    *,
    u=None,
    period: int = 1,
    before: FixedPoints | None = None,
    starts=None,
    n_starts: int = 64,
    rng=None,
    tol: float = 1e-10,
    match_tol: float = 1e-6,
    options: ContinuationOptions | None = None,
) -> LandscapeStep:
    """The fixed points (or 2-cycles) of two checkpoints, matched, and the bifurcations between them.

    See the module docstring for the method: the fixed points of both ends are continued along
    ``θ(s) = (1 − s) θ_a + s θ_b`` by pseudo-arclength continuation, and the folds, branch points,
    flips and Neimark–Sacker points on the branches are located to about 1e-13 in ``s``.

    With ``period=2`` the same is done for the points of minimal period 2, as fixed points of
    ``F∘F`` (the continuation module's period-k branches), one point per 2-cycle: a ``"fold"``
    is a pair of 2-cycles born or lost, a ``"flip"`` a 2-cycle's multiplier ``−1`` (a 4-cycle
    is born), ``"neimark-sacker"`` a complex pair of ``F∘F`` on the circle, and ``"branch-point"``
    a 2-cycle born beside a persisting one or from a fixed point: every flip of a fixed point is
    reported so (found by the fixed-point step, which is run too and kept as
    :attr:`LandscapeStep.fixed`; a period-2 branch through a flipping fixed point turns back
    there to the cycle's other point, which its own test functions do not see).

    Parameters
    ----------
    map_a, map_b : Map
        The two checkpoints: same type, dimensions and weight shapes (:func:`interpolate_maps`).
    u : array_like, shape (m,), optional
        A constant input (None: the map's ``step(x, None)``).
    period : {1, 2}
        Track fixed points (1) or 2-cycles (2).
    before : FixedPoints, optional
        The fixed points (``period`` 2: period-2 points) of ``map_a`` already known (the
        ``after`` of the previous step of a training run); default: found here.
    starts : array_like, shape (S, n), optional
        Extra Newton starts, used for both maps (``map_b`` is always also warm-started from the
        points of ``map_a``).
    n_starts : int
        Sampled starts per map (:func:`~dynsys.analysis.equilibria.find_fixed_points`; a 1-D map
        is scanned on its whole periodic box instead).
    rng : None, int, SeedSequence or Generator
        Seed of the sampled starts.
    tol : float
        Residual below which a point is a fixed point (of ``F^period``).
    match_tol : float
        Largest distance (relative to ``1 + ‖x‖∞`` of the points) between a continued branch's
        end and the point (or 2-cycle) of ``map_b`` it is matched to.
    options : ContinuationOptions, optional
        Step control of the continuation in ``s``.

    Returns
    -------
    LandscapeStep

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import RNNMap
    >>> a, b = RNNMap(np.array([[-0.8]])), RNNMap(np.array([[-1.2]]))  # x ↦ −c tanh(x)
    >>> step = track_landscape(a, b, period=2)  # the flip at c = 1 gives birth to a 2-cycle
    >>> [(e.kind, e.period, round(e.s, 10)) for e in step.events], len(step.after)
    ([('branch-point', 2, 0.5)], 1)
    """
    _check_pair(map_a, map_b)
    period = _check_period(period)
    u = map_a.validate_constant_input(u, "u")
    path = InterpolationPath(map_a, map_b, u)
    rng = check_rng(rng)
    n_starts = check_positive_int(n_starts, "n_starts")
    tol = float(tol)
    if not (np.isfinite(tol) and tol > 0):
        raise DynsysError(f"tol must be a positive number, got {tol!r}")
    match_tol = float(match_tol)
    if not (np.isfinite(match_tol) and match_tol > 0):
        raise DynsysError(f"match_tol must be a positive number, got {match_tol!r}")
    if starts is not None:
        starts = map_a.validate_state(starts, "starts").reshape(-1, map_a.dim)
    what = "fixed points" if period == 1 else "2-cycles"
    if before is None:
        xa, used_a = _find(map_a, u, starts, n_starts, rng, tol, period)
        before = _assemble(map_a, u, xa, tol, f"{what} of map_a from {used_a} starts", used_a, period)
    elif (
        not isinstance(before, FixedPoints)
        or (len(before) and before.states.shape[1] != map_a.dim)
        or before.period != period
    ):
        raise DynsysError(
            f"before must be the period-{period} FixedPoints of map_a ({map_a.dim}-dimensional)"
        )
    elif period == 2 and len(before):
        reps = _cycle_representatives(map_a, u, before.states)
        if not np.array_equal(reps, before.states) or len(dedup(reps, np.zeros(len(reps)), 1e-6)) < len(reps):
            before = _assemble(map_a, u, reps, tol, before.message, before.n_starts, 2)
    fixed = None
    if period == 2:
        fixed = track_landscape(
            map_a,
            map_b,
            u=u,
            starts=starts,
            n_starts=n_starts,
            rng=rng,
            tol=tol,
            match_tol=match_tol,
            options=options,
        )

    # forward from every point of map_a
    branches, ends = [], []
    for x in before.states:
        br = continue_branch(path, x, 0.0, (0.0, 1.0), period=period, direction=+1, options=options)
        branches.append(br)
        ends.append(_monotone_end(br))
    warm = [before.states, *(e[None] for e in ends if e is not None)]
    if starts is not None:
        warm.append(starts)
    xb, used_b = _find(map_b, u, np.concatenate(warm), n_starts, rng, tol, period)
    xb = np.concatenate([xb, *(e[None] for e in ends if e is not None)])
    msg_b = f"{what} of map_b from {used_b} starts (warm + fresh)"
    after = _assemble(map_b, u, xb, tol, msg_b, used_b, period)
    scale = 1.0 + max([float(np.abs(f.states).max()) for f in (before, after) if len(f)] or [0.0])
    partners = map_b.step(after.states, u) if period == 2 and len(after) else None
    matches = _match(ends, after.states, match_tol * scale, partners)

    # backward from every point of map_b (and, period 2, its partner) on no branch yet
    for j, x in enumerate(after.states):
        cycle = [x] if partners is None else [x, partners[j]]
        if any(_on_branch(b, y, 1.0, 1e-7 * scale) for b in branches for y in cycle):
            continue
        branches.append(
            continue_branch(path, x, 1.0, (0.0, 1.0), period=period, direction=-1, options=options)
        )
    extra = _cycle_births(fixed, path) if fixed is not None else ()
    events = _events(branches, 1e-8, 1e-6 * scale, path, period, extra)
    lost = np.setdiff1d(np.arange(len(before)), matches[:, 0])
    born = np.setdiff1d(np.arange(len(after)), matches[:, 1])
    msg = (
        f"{len(before)} → {len(after)} {what}: {len(matches)} matched, {lost.size} lost, "
        f"{born.size} born; {len(events)} event(s) on {len(branches)} branch(es)"
    )
    return LandscapeStep(before, after, matches, lost, born, events, branches, msg, period, fixed)
