"""Success rates with their uncertainty: closed forms and the exact binomial coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.analysis.outcomes import difference_p, solved_curve, success_interval
from dynsys.errors import DynsysError


@pytest.mark.parametrize("n", [1, 5, 20])
def test_interval_closed_forms_at_the_ends(n):
    # k = 0: the upper end solves (1 - p)^n = α/2; k = n: the lower end solves p^n = α/2
    lo0, hi0 = success_interval(0, n)
    lon, hin = success_interval(n, n)
    assert lo0 == 0.0 and hin == 1.0
    assert hi0 == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-10)
    assert lon == pytest.approx(0.025 ** (1 / n), rel=1e-10)


@given(st.integers(1, 12), st.data())
def test_interval_ends_are_the_binomial_tail_quantiles(n, data):
    """Clopper–Pearson: P(X >= k | lo) = α/2 and P(X <= k | hi) = α/2 (exact sums)."""
    k = data.draw(st.integers(0, n))
    lo, hi = (float(v) for v in success_interval(k, n))

    def cdf(x, p):
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x + 1))

    if k > 0:
        assert 1 - cdf(k - 1, lo) == pytest.approx(0.025, abs=1e-9)
    if k < n:
        assert cdf(k, hi) == pytest.approx(0.025, abs=1e-9)
    assert lo <= k / n <= hi


def test_interval_covers_at_least_its_level():
    """The exact coverage (a finite sum over k) is at least 95 % for every p on a grid."""
    n = 5
    lo, hi = success_interval(np.arange(n + 1), n)
    for p in np.linspace(0.001, 0.999, 199):
        probs = np.array([math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)])
        assert probs[(lo <= p) & (p <= hi)].sum() >= 0.95 - 1e-12


def test_fisher_p_values_of_five_seeds():
    # hypergeometric: 5/5 vs 0/5 -> 2 / C(10, 5); 4/5 vs 0/5 and 5/5 vs 1/5 -> 0.0476
    assert difference_p(5, 5, 0, 5) == pytest.approx(2 / math.comb(10, 5))
    assert difference_p(4, 5, 0, 5) == pytest.approx(0.047619, abs=1e-6)
    assert difference_p(5, 5, 1, 5) == pytest.approx(0.047619, abs=1e-6)
    assert difference_p(3, 5, 0, 5) > 0.05 and difference_p(2, 5, 2, 5) == 1.0


def test_solved_curve_counts_and_censors():
    curve = solved_curve([50, 300, -1, 900], 1000, [0, 49, 50, 299, 300, 1000, 1001])
    np.testing.assert_array_equal(curve[:-1], [0, 0, 0.25, 0.25, 0.5, 0.75])
    assert np.isnan(curve[-1])  # beyond the budget: censored, not failed


def test_bad_arguments_name_themselves():
    with pytest.raises(DynsysError, match="k and n"):
        success_interval(6, 5)
    with pytest.raises(DynsysError, match="level"):
        success_interval(1, 5, level=1.0)
    with pytest.raises(DynsysError, match="k1"):
        difference_p(-1, 5, 0, 5)
    with pytest.raises(DynsysError, match="budget"):
        solved_curve([2000], 1000, [10])
