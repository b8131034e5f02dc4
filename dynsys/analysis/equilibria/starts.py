"""Where the fixed-point searches start and which converged points they keep (paper §2.2).

* :func:`periodic_box` — the map's box of periodic points (Map rule 19; by default the rule-12 box
  of all images), checked: the searches draw their starts in it and reject converged points
  outside it (:func:`inside_box`). A GRU's box is the open cube ``(−1, 1)ⁿ`` (tightened), which
  keeps Newton away from the far states where the update gate saturates and ``F(h) = h`` to
  rounding.
* :func:`sampled_starts` — uniform states in the box, states sampled from trajectories (Sussillo &
  Barak 2013; FixedPointFinder samples the trajectories of the trained network the same way) with
  a little noise, and the image of the origin with a few points around it.
* :func:`pair_midpoints` — midpoints of pairs of points found so far, nearest pairs first. The
  saddles of a memory network (a flip-flop's, say) sit on the basin boundaries *between* its
  stable points, where neither uniform starts in a large box nor trajectory states (which run
  into the attractors) often land; the midpoint of two neighbouring attractors is a good Newton
  start for the saddle between them, and midpoints of saddles find the saddles of higher index.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import RNNMap
>>> lo, hi = periodic_box(RNNMap(np.eye(2)), None)  # x = W tanh(x): |x_i| ≤ 1
>>> lo.tolist(), hi.tolist()
([-1.0, -1.0], [1.0, 1.0])
>>> pair_midpoints(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]]), cap=2).tolist()
[[1.0, 0.0], [0.0, 2.0]]
"""

from __future__ import annotations

import numpy as np

from ...errors import DynsysError
from .newton import iterate_k

__all__: list[str] = []  # helpers of find_fixed_points and find_slow_points


def periodic_box(map, u=None):
    """The map's box of periodic points (Map rule 19) as float arrays ``(lo, hi)``, or None.

    A box that is not two finite arrays of shape ``(n,)`` with ``lo ≤ hi`` is a broken rule 19
    and raises :class:`~dynsys.errors.DynsysError`.
    """
    box = map.periodic_box(u)
    if box is None:
        return None
    name = f"{type(map).__name__}.periodic_box"
    try:
        lo, hi = (np.asarray(b, dtype=float) for b in box)
    except (TypeError, ValueError):
        raise DynsysError(f"{name} must return None or a pair (lo, hi) of arrays") from None
    if lo.shape != (map.dim,) or hi.shape != (map.dim,):
        raise DynsysError(f"{name} must return arrays of shape ({map.dim},), got {lo.shape} and {hi.shape}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)):
        raise DynsysError(f"{name} must return finite bounds with lo <= hi")
    return lo, hi


def inside_box(states, box, tol: float) -> np.ndarray:
    """Mask of the ``states`` (S, n) within ``tol`` (plus rounding) of the closed box.

    A periodic point ``x = F^k(x)`` found to a residual ``‖F^k(x) − x‖ < tol`` lies within
    ``tol`` of ``F^k(x)``, a point of the box when the box holds every image (rule 12) — hence
    this tolerance.
    """
    if box is None:
        return np.ones(states.shape[0], dtype=bool)
    lo, hi = box
    slack = tol + 1e-12 * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
    return np.all((states >= lo - slack) & (states <= hi + slack), axis=-1)


def sampled_starts(map, u, n_starts: int, rng, trajectory_steps: int, box) -> np.ndarray:
    """``n_starts + 8`` Newton starts: uniform in ``box``, trajectory states, ``F(0)`` and around.

    Half the starts are uniform in the box (the periodic box; without one, a box around a cloud of
    iterated Gaussian states), half are states of trajectories started uniformly in it, each taken
    at a random time up to ``trajectory_steps`` and moved by noise of 10⁻³ of the box; then the
    image of the origin and 7 points around it (the fixed point a low-gain network has near
    ``F(0)``, e.g. the origin itself of a tanh network without bias, which random starts of a
    strongly recurrent network can all miss). Starts are clipped to the box; non-finite ones
    (diverging trajectories) are dropped.
    """
    n = map.dim
    if box is None:
        x0 = rng.normal(size=(max(n_starts, 8), n))
        with np.errstate(over="ignore", invalid="ignore"):
            y, _ = iterate_k(map, x0, u, trajectory_steps, jacobian=False)
        cloud = np.concatenate([x0, y[np.all(np.isfinite(y), axis=-1) & (np.abs(y).max(-1) < 1e6)]])
        lo, hi = cloud.min(0) - 0.5, cloud.max(0) + 0.5
    else:
        lo, hi = box
    n_traj = n_starts // 2
    uni = lo + (hi - lo) * rng.random((n_starts - n_traj, n))
    x = lo + (hi - lo) * rng.random((n_traj, n))
    T = max(1, trajectory_steps)
    pick = rng.integers(0, T, size=n_traj)
    traj = np.empty((n_traj, n))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            traj[pick == t] = x[pick == t]
            x = map.step(x, u)
    traj += 1e-3 * (hi - lo) * rng.standard_normal(traj.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        centre = map.step(np.zeros((1, n)), u)
    near = centre + 0.01 * (hi - lo) * rng.standard_normal((7, n))
    starts = np.concatenate([uni, traj, centre, near])
    starts = starts[np.all(np.isfinite(starts), axis=-1)]
    return starts if box is None else np.clip(starts, lo, hi)


def pair_midpoints(points, cap: int, new=None) -> np.ndarray:
    """Midpoints ``(p_a + p_b)/2`` of up to ``cap`` pairs of ``points`` (k, n), nearest pairs first.

    ``new`` (mask of shape (k,)): only pairs with at least one new point (a later round of the
    search). Ties in distance keep the order of the pairs (deterministic).
    """
    points = np.asarray(points, dtype=float)
    k = points.shape[0]
    if k < 2 or cap < 1:
        return np.zeros((0, points.shape[-1]))
    a, b = np.triu_indices(k, 1)
    if new is not None:
        keep = np.asarray(new)[a] | np.asarray(new)[b]
        a, b = a[keep], b[keep]
    d = np.linalg.norm(points[a] - points[b], axis=-1)
    order = np.argsort(d, kind="stable")[:cap]
    return 0.5 * (points[a[order]] + points[b[order]])
