"""Continuation of fixed-point branches: branch accuracy, folds turned, stability."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.continuation import ContinuationOptions, continue_branch, continue_fixed_points
from dynsys.analysis.equilibria import find_fixed_points
from dynsys.errors import DynsysError
from dynsys.maps import LogisticMap, RNNMap, UnitMap, parameter_path


def _residuals(branch):
    path = branch.path
    return np.array(
        [np.linalg.norm(path.orbit(x, p, branch.period)[0] - x) for x, p in zip(branch.states, branch.params)]
    )


def test_fig3_branch_is_the_whole_s_curve():
    br = continue_fixed_points(UnitMap(w=5.0, b=-2.5), "b", (-3.2, -1.8))
    assert len(br) == 1
    b = br[0]
    # one continuous curve from one end of the range to the other, turning twice
    assert {b.params[0], b.params[-1]} == {-3.2, -1.8}
    dp = np.diff(b.params)
    turns = np.sum(np.sign(dp[1:]) != np.sign(dp[:-1]))
    assert turns == 2
    assert np.all(_residuals(b) < 1e-10)
    # closed form along the curve: b = x − w σ(x) for every point
    x = b.states[:, 0]
    np.testing.assert_allclose(b.params, x - 5.0 / (1 + np.exp(-x)), atol=1e-11)
    # stability from the closed-form multiplier w σ'(x) < 1
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_array_equal(b.stable, 5.0 * s * (1 - s) < 1)
    segs = b.stability_segments()
    assert [s[2] for s in segs] == [True, False, True]


def test_branch_matches_fixed_points_found_independently(rng):
    br = continue_fixed_points(UnitMap(w=5.0, b=-2.5), "b", (-3.2, -1.8))[0]
    for bval in (-3.0, -2.5, -2.4, -2.0):
        fp = find_fixed_points(UnitMap(w=5.0, b=bval))
        # every fixed point at this b lies on the branch: Newton from the interpolated crossings
        idx = np.flatnonzero((br.params[:-1] - bval) * (br.params[1:] - bval) <= 0)
        assert len(idx) == len(fp)


def test_logistic_branches_closed_form():
    brs = continue_fixed_points(LogisticMap(3.0), "r", (2.5, 4.0))
    assert len(brs) == 2
    for b in brs:
        x, r = b.states[:, 0], b.params
        ok = np.isclose(x, 0.0, atol=1e-12) | np.isclose(x, 1 - 1 / r, atol=1e-12)
        assert ok.all()
        assert np.all(_residuals(b) < 1e-10)


def test_gain_continuation_against_fixed_points(rng):
    n = 3
    rnn = RNNMap(rng.standard_normal((n, n)) / np.sqrt(n), b=0.5 * rng.standard_normal(n))
    brs = continue_fixed_points(rnn, "gain", (0.2, 2.5), rng=rng)
    path = parameter_path(rnn, "gain")
    for g in (0.5, 2.0):
        fp = find_fixed_points(path.map_at(g), rng=rng, n_starts=256)
        for x in fp.states:
            hit = False
            for b in brs:
                d = np.linalg.norm(b.states - x, axis=-1) + np.abs(b.params - g)
                hit |= bool(d.min() < 0.5)
            assert hit
    for b in brs:
        assert np.all(_residuals(b) < 1e-10)


def test_adaptive_step_resolves_sharp_fold():
    # a tight fold (w close to the cusp value 4) is still turned around
    br = continue_fixed_points(
        UnitMap(w=4.2, b=-2.1), "b", (-2.3, -1.7), options=ContinuationOptions(ds_max=0.05)
    )[0]
    dp = np.diff(br.params)
    assert np.sum(np.sign(dp[1:]) != np.sign(dp[:-1])) == 2


def test_continue_branch_rejects_non_fixed_point():
    path = parameter_path(UnitMap(w=5.0, b=-2.5), "b")
    with pytest.raises(DynsysError, match="not .close to. a fixed point"):
        continue_branch(path, [3.0], -2.5, (-3, -2))


def test_bad_range():
    with pytest.raises(DynsysError, match="LO < HI"):
        continue_fixed_points(UnitMap(), "b", (1.0, 1.0))
    with pytest.raises(DynsysError, match="finite"):
        continue_fixed_points(UnitMap(), "b", (np.nan, 1.0))
