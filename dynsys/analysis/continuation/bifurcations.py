"""Bifurcations of fixed points of maps: detection, location, branch switching, fold curves.

Along a branch from :mod:`dynsys.analysis.continuation.branches` a fixed point changes stability when a multiplier
``μ`` of ``J = ∂F^k/∂x`` crosses the unit circle (paper §2.2: attractors appear, disappear or
change shape):

* **fold** (saddle-node, ``μ = +1``): test function ``τ_fold = det(J − I) = Π(μ_i − 1)``; the
  branch turns back in the parameter. A ``+1`` crossing where the branch does *not* turn (a
  transcritical or pitchfork point, e.g. the logistic map at ``r = 1``) is reported as
  ``"branch-point"``.
* **flip** (period doubling, ``μ = −1``): ``τ_flip = det(J + I) = Π(μ_i + 1)``.
* **Neimark–Sacker** (a complex pair with ``|μ| = 1``): ``τ_ns = det(J ⊙ J − I) = Π_{i<j}(μ_i μ_j − 1)``
  (the bialternate product); a sign change with a complex pair on the circle is an NS point
  (a real pair with ``μ_i μ_j = 1`` — a neutral saddle — is discarded).

Detection uses the *sign* of each test function (computed from the multipliers, so no overflow),
which is blind to real multipliers colliding into complex pairs. Location solves ``τ(s) = 0`` in
the arclength ``s`` with Brent's method (bisection safeguarded by secant/inverse-quadratic steps),
where every evaluation first corrects onto the branch with the bordered Newton system
``H(y) = 0, tᵀ(y − y_i) = s`` (the augmented system). ``τ`` is evaluated as
``sign(τ) · min_k |factor_k|`` — continuous, zero exactly where a factor vanishes, and free of
over/underflow for large ``n``. Parameters are located to about ``1e-13``.

Also here: switching onto the period-doubled branch at a flip (:func:`switch_at_flip`) and
:func:`bifurcation_diagram`, which does it all for a parameter range. Two-parameter continuation
of fold curves with cusp detection lives in :mod:`dynsys.analysis.continuation.fold_curves`.

Examples
--------
>>> from dynsys.maps import LogisticMap
>>> d = bifurcation_diagram(LogisticMap(3.0), "r", (2.5, 3.6), flip_switch=True)
>>> [(b.type, b.period, round(b.param, 10)) for b in d.bifurcations]
[('flip', 1, 3.0), ('flip', 2, 3.4494897428), ('flip', 4, 3.5440903596)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import brentq

from ..._validate import check_interval, check_positive_int, check_rng
from ...errors import DynsysError
from ...maps.base import Map
from ..equilibria.stability import multipliers
from .arclength import ContinuationOptions, correct
from .branches import Branch, _branch_system, _fix_param, continue_branch, continue_fixed_points

__all__ = [
    "Bifurcation",
    "BifurcationDiagram",
    "BIFURCATION_TYPES",
    "tau_values",
    "locate_bifurcations",
    "switch_at_flip",
    "bifurcation_diagram",
]

BifurcationType = Literal["fold", "branch-point", "flip", "neimark-sacker"]
BIFURCATION_TYPES = ("fold", "branch-point", "flip", "neimark-sacker")


@dataclass(frozen=True, eq=False)
class Bifurcation:
    """A located bifurcation point.

    Attributes
    ----------
    type : str
        ``"fold"``, ``"branch-point"``, ``"flip"`` or ``"neimark-sacker"``.
    param_name : str
    param : float
        Parameter value.
    state : ndarray, shape (n,)
        The fixed point at the bifurcation.
    multipliers : ndarray of complex, shape (n,)
    period : int
        Period of the branch (a flip on a period-k branch creates period 2k).
    test_value : float
        The test function at the located point (≈ 0).
    branch : int
        Index of the branch in its diagram.
    angle : float
        NS only: the argument ``θ`` of the critical pair ``e^{±iθ}``.
    """

    type: str
    param_name: str
    param: float
    state: np.ndarray
    multipliers: np.ndarray
    period: int = 1
    test_value: float = 0.0
    branch: int = 0
    angle: float = float("nan")

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "param_name": self.param_name,
            "param": float(self.param),
            "state": self.state.tolist(),
            "period": self.period,
            "branch": self.branch,
            "test_value": float(self.test_value),
            "multipliers": [[float(m.real), float(m.imag)] for m in self.multipliers],
            **({"angle": float(self.angle)} if self.type == "neimark-sacker" else {}),
        }


def _factors(mu, kind):
    """Real factors whose product has the sign of the test function ``kind``."""
    mu = np.asarray(mu)
    real = np.abs(mu.imag) <= 1e-12 * np.maximum(1.0, np.abs(mu))
    r = mu.real[real]
    if kind == "fold":
        return r - 1.0
    if kind == "flip":
        return r + 1.0
    # neimark-sacker: real pairs μ_i μ_j − 1, complex pairs |μ|² − 1 (one per conjugate pair)
    i, j = np.triu_indices(r.size, 1)
    cplx = mu[~real]
    cplx = cplx[cplx.imag > 0]
    return np.concatenate([r[i] * r[j] - 1.0, np.abs(cplx) ** 2 - 1.0])


def tau_values(mu) -> dict[str, float]:
    """``sign(τ) · min|factor|`` for fold, flip and NS from multipliers ``mu`` (shape (n,))."""
    out = {}
    for kind in ("fold", "flip", "neimark-sacker"):
        f = _factors(mu, kind)
        out[kind] = float(np.prod(np.sign(f)) * np.min(np.abs(f))) if f.size else 1.0
    return out


def locate_bifurcations(branch: Branch, *, index: int = 0) -> list[Bifurcation]:
    """Detect and locate every fold, branch point, flip and NS point along ``branch``."""
    path, period = branch.path, branch.period
    G = _branch_system(path, period)
    Y = np.column_stack([branch.states, branch.params])
    taus = np.array([list(tau_values(m).values()) for m in branch.multipliers])
    kinds = ("fold", "flip", "neimark-sacker")
    found = []
    for i in range(len(branch) - 1):
        for k, kind in enumerate(kinds):
            if np.sign(taus[i, k]) * np.sign(taus[i + 1, k]) > 0:
                continue
            if taus[i, k] == 0.0 and i > 0:
                continue  # counted with the previous interval
            bif = _locate(path, period, G, Y[i], Y[i + 1], branch.tangents[i], kind)
            if bif is not None:
                found.append(_finish(bif, branch, index))
    return found


def _locate(path, period, G, y_a, y_b, t, kind):
    s_b = float(t @ (y_b - y_a))
    cache = {}

    def point(s):
        if s == 0.0:
            return y_a
        if s == s_b:
            return y_b
        if s not in cache:
            y, ok, _ = correct(G, y_a + s * t, t, 1e-13, 20)
            if not ok:  # singular bordered system (a branch point): correct at fixed p instead
                yp = y_a + s * t
                x, ok = _fix_param(path, period, yp[:-1], yp[-1])
                y = np.concatenate([x, yp[-1:]])
            cache[s] = y if ok else None
        return cache[s]

    def tau(s):
        y = point(s)
        if y is None:
            raise _Fail
        _, J, _ = path.orbit(y[:-1], y[-1], period)
        return tau_values(multipliers(J))[kind]

    try:
        fa, fb = tau(0.0), tau(s_b)
        if fa == 0.0:
            s = 0.0
        elif fb == 0.0:
            s = s_b
        else:
            s = brentq(tau, 0.0, s_b, xtol=1e-15, rtol=1e-15, maxiter=200)
    except (_Fail, ValueError):
        return None
    y = point(s)
    x, p = y[:-1], float(y[-1])
    _, J, _ = path.orbit(x, p, period)
    mu = multipliers(J)
    angle = float("nan")
    if kind == "neimark-sacker":
        cplx = mu[(np.abs(mu.imag) > 1e-9) & (mu.imag > 0)]
        if cplx.size == 0 or np.min(np.abs(np.abs(cplx) - 1.0)) > 1e-6:
            return None  # a neutral saddle, not a Neimark–Sacker point
        angle = float(np.angle(cplx[np.argmin(np.abs(np.abs(cplx) - 1.0))]))
    tv = tau_values(mu)[kind]
    if abs(tv) > 1e-7:
        return None  # τ jumped without vanishing: the corrector switched curves (branch crossing)
    return kind, p, x, mu, tv, angle


class _Fail(Exception):
    pass


def _finish(bif, branch, index):
    kind, p, x, mu, tv, angle = bif
    if kind == "fold":
        # a fold turns the branch around: p is extremal there
        i = int(np.argmin(np.abs(branch.params - p) + np.linalg.norm(branch.states - x, axis=-1)))
        lo, hi = max(0, i - 2), min(len(branch) - 1, i + 2)
        dp = np.diff(branch.params[lo : hi + 1])
        turning = bool(np.any(dp > 0) and np.any(dp < 0))
        if not turning:
            kind = "branch-point"
    return Bifurcation(kind, branch.param_name, p, x, mu, branch.period, tv, index, angle)


# ---------------------------------------------------------------------------------------
# Branch switching at a flip
# ---------------------------------------------------------------------------------------


def switch_at_flip(branch: Branch, bif: Bifurcation, p_range, *, options: ContinuationOptions | None = None):
    """Continue the period-``2k`` branch born at the flip point ``bif`` of ``branch``.

    The new orbit lies along the eigenvector ``v`` of the multiplier ``−1``, at distance
    ``∝ √|p − p*|`` on one side of the flip. Starts ``x* ± a v`` at ``p* ± δ`` are corrected by
    Newton on ``F^{2k}``; the first solution that is not a period-``k`` point is continued away
    from the flip. Returns the :class:`Branch` or None.
    """
    path, k = branch.path, branch.period
    lo, hi = check_interval(p_range, "p_range")
    _, J, _ = path.orbit(bif.state, bif.param, k)
    w, V = np.linalg.eig(J)
    v = np.real(V[:, np.argmin(np.abs(w + 1.0))])
    v /= np.linalg.norm(v)
    scale = 1.0 + np.linalg.norm(bif.state)
    for delta in (1e-3, 1e-2, 3e-2):
        dp = delta * (hi - lo)
        for side in (+1, -1):
            p = bif.param + side * dp
            if not lo <= p <= hi:
                continue
            for a in (np.sqrt(dp), 3 * np.sqrt(dp), 0.3 * np.sqrt(dp)):
                x, ok = _fix_param(path, 2 * k, bif.state + a * scale * v, p)
                if not ok:
                    continue
                fk, _, _ = path.orbit(x, p, k)
                if np.linalg.norm(fk - x) < 1e-7 * scale:
                    continue  # fell back onto the period-k branch
                return continue_branch(path, x, p, (lo, hi), period=2 * k, direction=side, options=options)
    return None


# ---------------------------------------------------------------------------------------
# Everything for a parameter range
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BifurcationDiagram:
    """Branches and located bifurcations over a parameter range.

    Attributes
    ----------
    param_name : str
    p_range : (float, float)
    branches : list of Branch
    bifurcations : list of Bifurcation
        Sorted by ``(period, param)``; ``branch`` indexes ``branches``.
    """

    param_name: str
    p_range: tuple[float, float]
    branches: list = field(default_factory=list)
    bifurcations: list = field(default_factory=list)

    def of_type(self, kind: str) -> list[Bifurcation]:
        return [b for b in self.bifurcations if b.type == kind]

    def to_dict(self) -> dict:
        return {
            "param": self.param_name,
            "range": list(self.p_range),
            "branches": [b.to_dict() for b in self.branches],
            "bifurcations": [b.to_dict() for b in self.bifurcations],
        }


def bifurcation_diagram(
    map: Map,
    param: str,
    p_range,
    *,
    u=None,
    direction=None,
    flip_switch: bool = False,
    max_period: int = 4,
    seeds: int = 3,
    options: ContinuationOptions | None = None,
    rng=None,
) -> BifurcationDiagram:
    """Continue all fixed-point branches over ``p_range`` and locate their bifurcations.

    Parameters
    ----------
    map : Map
    param : str
        See :func:`~dynsys.maps.parameter_path`.
    p_range : (float, float)
        ``LO < HI``.
    flip_switch : bool
        At each flip, switch onto the period-doubled branch and continue it (recursively up to
        ``max_period``), locating its bifurcations too.
    max_period : int
        Longest period switched onto (≥ 1).
    seeds : int
        Parameter values where branches are seeded (≥ 2).
    rng : None, int, SeedSequence or Generator
        Seed of the fixed-point searches at the seed values.

    Returns
    -------
    BifurcationDiagram
    """
    lo, hi = check_interval(p_range, "p_range")
    if not isinstance(param, str):
        raise DynsysError(f"param must be a parameter name (str), got {param!r}")
    max_period = check_positive_int(max_period, "max_period")
    seeds = check_positive_int(seeds, "seeds", minimum=2)
    check_rng(rng)  # validated here; passed on as given (each seed value re-seeds from it)
    branches = continue_fixed_points(
        map, param, (lo, hi), u=u, direction=direction, seeds=seeds, options=options, rng=rng
    )
    bifs: list[Bifurcation] = []
    i = 0
    while i < len(branches):
        br = branches[i]
        found = locate_bifurcations(br, index=i)
        bifs.extend(found)
        if flip_switch:
            for b in found:
                if b.type == "flip" and 2 * br.period <= max_period:
                    nb = switch_at_flip(br, b, (lo, hi), options=options)
                    if nb is not None:
                        branches.append(nb)
        i += 1
    bifs.sort(key=lambda b: (b.period, b.param))
    return BifurcationDiagram(param, (lo, hi), branches, bifs)
