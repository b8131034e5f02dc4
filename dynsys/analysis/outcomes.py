"""Success rates with their uncertainty: what a handful of seeds can and cannot decide.

A success rate of ``k`` runs out of ``n`` (paper Fig. 7: 5 seeds per point) is a binomial
estimate; with ``n = 5`` its exact 95 % interval is wide (0/5: [0, 0.52]; 5/5: [0.48, 1]).

- :func:`success_interval` — the Clopper–Pearson (exact) interval of ``k / n``: the ``α/2`` and
  ``1 − α/2`` quantiles of Beta(k, n − k + 1) and Beta(k + 1, n − k); never narrower than the
  nominal level, the usual choice for small ``n``.
- :func:`difference_p` — two-sided Fisher exact test of two success counts (scipy): whether two
  methods' rates differ. With 5 runs each, only 5/5 vs 0/5 (p = 0.008), 5/5 vs 1/5 and 4/5 vs
  0/5 (p = 0.048) reach p < 0.05.
- :func:`solved_curve` — the fraction of runs solved by each update (the empirical distribution
  of the updates to success; runs not solved within the budget are censored there).
"""

from __future__ import annotations

import numpy as np

from ..errors import DynsysError

__all__ = ["RULES", "RULE_LABELS", "difference_p", "solved_curve", "success_interval", "variant_label"]

#: the success rules of paper Fig. 7, strictest last (:mod:`dynsys.training.evaluation`)
RULES = ("1pct", "zero")
#: how reports and figures name them
RULE_LABELS = {"1pct": "< 1 % wrong (paper's text)", "zero": "0 wrong (authors' code)"}


def variant_label(key: str) -> str:
    """The display name of a training variant: ``MSGD``, ``MSGD-C``, ``MSGD-CR``, or for
    ``msgd-cr-a<α>`` (MSGD-CR with another Ω weight) ``MSGD-CR (α=<α>)``.

    Examples
    --------
    >>> variant_label("msgd-c"), variant_label("msgd-cr-a2")
    ('MSGD-C', 'MSGD-CR (α=2)')
    """
    base = {"msgd": "MSGD", "msgd-c": "MSGD-C", "msgd-cr": "MSGD-CR"}
    if key in base:
        return base[key]
    if key.startswith("msgd-cr-a"):
        return f"MSGD-CR (α={key.removeprefix('msgd-cr-a')})"
    return key


def success_interval(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson interval of the success rate ``k / n``.

    Parameters
    ----------
    k, n : int or array_like of int
        Successes and runs (``0 <= k <= n``, ``n >= 1``).
    level : float
        Coverage, in (0, 1).

    Returns
    -------
    (lo, hi) : ndarrays of the broadcast shape of ``k`` and ``n``

    Examples
    --------
    >>> lo, hi = success_interval([0, 5], 5)
    >>> lo.round(4).tolist(), hi.round(4).tolist()
    ([0.0, 0.4782], [0.5218, 1.0])
    """
    from scipy.stats import beta

    k, n = np.broadcast_arrays(np.asarray(k), np.asarray(n))
    if not 0.0 < level < 1.0:
        raise DynsysError(f"level must be in (0, 1), got {level!r}")
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise DynsysError(f"k and n must satisfy 0 <= k <= n, n >= 1, got k={k.tolist()}, n={n.tolist()}")
    a = (1.0 - level) / 2.0
    kf, nf = k.astype(float), n.astype(float)
    with np.errstate(invalid="ignore"):
        lo = np.where(k == 0, 0.0, beta.ppf(a, kf, nf - kf + 1.0))
        hi = np.where(k == n, 1.0, beta.ppf(1.0 - a, kf + 1.0, nf - kf))
    return lo, hi


def difference_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value that the success rates ``k1/n1`` and ``k2/n2`` are equal."""
    from scipy.stats import fisher_exact

    for k, n, name in ((k1, n1, "k1"), (k2, n2, "k2")):
        if not 0 <= k <= n or n < 1:
            raise DynsysError(f"{name} must satisfy 0 <= {name} <= n, n >= 1, got {k} of {n}")
    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def solved_curve(reached_at, budget: int, updates) -> np.ndarray:
    """Fraction of runs solved by each update of ``updates``.

    Parameters
    ----------
    reached_at : array_like of int, shape (n,)
        First update of success per run (−1: not within the budget).
    budget : int
        The runs' budget: the curve is undefined beyond it (NaN there), since a run not solved
        by then is censored, not failed.
    updates : array_like of int

    Returns
    -------
    ndarray, shape (len(updates),)
    """
    at = np.asarray(reached_at)
    u = np.asarray(updates, dtype=float)
    if at.size == 0:
        raise DynsysError("reached_at must hold at least one run")
    if np.any(at > budget):
        raise DynsysError(f"reached_at must not exceed budget {budget}, got {int(at.max())}")
    solved = at[at >= 0]
    frac = (solved[None, :] <= u[:, None]).sum(axis=1) / at.size
    return np.where(u <= budget, frac, np.nan)
