"""All roots of F^k(x) − x in an interval (1-D maps) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.equilibria import bracket_solve, interval_roots
from dynsys.maps import LogisticMap


def _g(m, x, period):
    y = x[:, None]
    for _ in range(period):
        y = m.step(y)
    return y[:, 0] - x


def test_bracket_solve_square_roots():
    c = np.array([0.5, 2.0, 3.0, 7.5])

    def f(x):
        return x**2 - c, 2 * x

    a, b = np.zeros_like(c), np.full_like(c, 3.0)
    np.testing.assert_allclose(bracket_solve(f, a, b, f(a)[0]), np.sqrt(c), rtol=1e-15)


@pytest.mark.parametrize("r", [3.3, 3.5, 3.9])
def test_logistic_period_two_closed_form(r):
    # F²(x) = x: the fixed points 0, 1 − 1/r and the 2-cycle (r + 1 ± √((r + 1)(r − 3))) / (2r)
    m = LogisticMap(r)
    roots = np.sort(interval_roots(m, None, 2, (-0.1, 1.1), 101, 1e-10))
    s = np.sqrt((r + 1) * (r - 3))
    exact = np.sort([0.0, 1 - 1 / r, (r + 1 - s) / (2 * r), (r + 1 + s) / (2 * r)])
    np.testing.assert_allclose(roots, exact, atol=1e-13)


def test_tangential_root_is_found():
    # r = 1: g(x) = −x² touches zero at 0 without a sign change (0 is not a grid point)
    roots = interval_roots(LogisticMap(1.0), None, 1, (-0.3, 0.5), 101, 1e-10)
    assert roots.size >= 1
    np.testing.assert_allclose(roots, 0.0, atol=1e-8)


@pytest.mark.parametrize("eps", [1e-4, 1e-6])
def test_two_roots_in_one_grid_cell(eps):
    # r = 1 + ε: roots 0 and ε / (1 + ε), both inside one cell of width 0.008
    r = 1.0 + eps
    m = LogisticMap(r)
    roots = interval_roots(m, None, 1, (-0.3, 0.5), 101, 1e-10)
    for x in (0.0, eps / r):
        assert np.min(np.abs(roots - x)) < 1e-12
    assert np.all(np.abs(_g(m, roots, 1)) < 1e-10)  # anything else reported is a root within tol
