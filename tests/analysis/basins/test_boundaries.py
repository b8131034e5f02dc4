"""Boundary geometry: entropies by hand, uncertainty exponent of known sets, smooth vs fractal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.analysis.basins import (
    basin_entropy,
    basins_of_attraction,
    boundary_dimension,
    boundary_mask,
    box_grid,
    classify_boundary,
    uncertainty_exponent,
)
from dynsys.analysis.basins.boundaries import LN2
from dynsys.errors import DynsysError
from dynsys.maps import NewtonMap, RNNMap, UnitMap


def test_boundary_mask_1d_and_2d():
    assert boundary_mask(np.array([0, 0, 1, 1])).tolist() == [False, True, True, False]
    lab = np.zeros((4, 4), int)
    lab[2:, :] = 1
    m = boundary_mask(lab)
    assert m[1].all() and m[2].all() and not m[0].any() and not m[3].any()


def test_basin_entropy_by_hand():
    # 2x2 boxes: one box {0,0,1,1} (S = ln 2), one box {0,1,2,2}, two pure boxes
    lab = np.array([[0, 0, 0, 1], [1, 1, 2, 2], [0, 0, 1, 1], [0, 0, 1, 1]])
    S_b, S_bb = basin_entropy(lab, box=2)
    s1 = LN2
    s2 = -(0.25 * np.log(0.25) * 2 + 0.5 * np.log(0.5))
    assert S_b == pytest.approx((s1 + s2) / 4)
    assert S_bb == pytest.approx((s1 + s2) / 2)


@given(st.integers(0, 5), st.integers(5, 40))
def test_entropy_of_single_label_is_zero(v, n):
    S_b, S_bb = basin_entropy(np.full((n, n), v), box=5)
    assert S_b == 0 and S_bb == 0


def test_uncertainty_exponent_half_plane_is_one():
    lab = np.zeros((200, 200), int)
    lab[:, 97:] = 1
    alpha, s, f = uncertainty_exponent(lab, max_shift=12)
    assert alpha == pytest.approx(1.0, abs=0.02)


def test_uncertainty_exponent_random_cantor_like_below_one(rng):
    # labels from a random checkerboard at every scale: boundary everywhere, alpha ~ 0
    lab = rng.integers(0, 2, size=(256, 256))
    alpha, _, _ = uncertainty_exponent(lab, max_shift=16)
    assert alpha < 0.1


def test_boundary_dimension_of_line_and_filled():
    lab = np.zeros((256, 256), int)
    lab[:, 128:] = 1
    D, _, _ = boundary_dimension(lab)
    assert D == pytest.approx(1.0, abs=0.05)


def test_smooth_boundaries_classified_smooth():
    unit = basins_of_attraction(UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], 500))
    g = classify_boundary(unit)
    assert g.kind == "smooth" and g.S_bb <= LN2 and g.alpha == pytest.approx(1.0, abs=0.05)
    rnn = basins_of_attraction(
        RNNMap([[1.5, 1.0], [1.0, 1.5]], b=[0.2, -0.1]), box_grid([(-4, 4), (-4, 4)], 200)
    )
    g2 = classify_boundary(rnn)
    assert g2.kind == "smooth" and g2.dimension == pytest.approx(1.0, abs=0.15)


def test_newton_boundary_classified_fractal():
    newton = basins_of_attraction(NewtonMap(3), box_grid([(-2.0, 2.0), (-2.0, 2.0)], 300))
    g = classify_boundary(newton)
    assert g.kind == "fractal"
    assert g.S_bb > LN2  # the ln 2 criterion of Daza et al. (2016) holds
    # box-counting dimension of the Newton z^3-1 Julia set is about 1.42: alpha = 2 - D about 0.58
    assert 0.35 < g.alpha < 0.8
    assert 1.2 < g.dimension < 1.7


def test_no_boundary():
    assert classify_boundary(np.zeros((20, 20), int)).kind == "none"


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), int), np.zeros(5), np.array([], int)])
def test_bad_labels(bad):
    with pytest.raises(DynsysError, match="labels"):
        basin_entropy(bad)


def test_box_too_large():
    with pytest.raises(DynsysError, match="box"):
        basin_entropy(np.zeros((4, 4), int), box=5)
