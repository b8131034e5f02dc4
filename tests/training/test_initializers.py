"""Initializations of paper §5: scales, sparsity, spectral radius."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.analysis.conditions import spectral_radius
from dynsys.errors import DynsysError
from dynsys.maps import RNNMap
from dynsys.training import initialize


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_smart_tanh_radius_and_sparsity(seed):
    p = initialize("smart_tanh", 50, 6, 4, rng=seed)
    assert p.activation.name == "tanh"
    rho = np.max(np.abs(np.linalg.eigvals(p.W_rec)))
    assert abs(rho - 0.95) < 1e-12
    assert np.all(np.count_nonzero(p.W_rec, axis=0) == 15)  # 15 non-zeros per unit (column)
    assert np.all(p.b == 0) and np.all(p.b_out == 0)
    assert abs(p.W_in.std() - 0.01) < 0.002 and abs(p.W_out.std() - 0.01) < 0.003


@pytest.mark.parametrize(("name", "std", "act"), [("sigmoid", 0.01, "sigmoid"), ("basic_tanh", 0.1, "tanh")])
def test_gaussian_scales(name, std, act):
    p = initialize(name, 200, 100, 50, rng=1)
    assert p.activation.name == act
    for w in (p.W_rec, p.W_in, p.W_out):
        assert abs(w.mean()) < 5 * std / np.sqrt(w.size)
        assert abs(w.std() / std - 1) < 0.03
    assert p.W_rec.shape == (200, 200) and p.W_in.shape == (200, 100) and p.W_out.shape == (50, 200)


def test_orthogonal_identity_and_map():
    q = initialize("orthogonal", 30, 2, 3, rng=4, gain=1.1)
    np.testing.assert_allclose(q.W_rec.T @ q.W_rec, 1.21 * np.eye(30), atol=1e-12)
    i = initialize("identity", 5, 2, 3, rng=4, gain=0.5)
    np.testing.assert_array_equal(i.W_rec, 0.5 * np.eye(5))
    assert isinstance(q, RNNMap)  # initializers hand out maps (one weight representation)
    assert q.dim == 30 and q.input_dim == 2 and q.W_out.shape == (3, 30)


def test_small_network_keeps_all_and_determinism():
    p = initialize("smart_tanh", 10, 1, 1, rng=0)
    assert np.all(np.count_nonzero(p.W_rec, axis=0) <= 10)
    assert abs(spectral_radius(p.W_rec) - 0.95) < 1e-12
    a, b = initialize("basic_tanh", 8, 2, 2, rng=7), initialize("basic_tanh", 8, 2, 2, rng=7)
    np.testing.assert_array_equal(a.W_rec, b.W_rec)
    with pytest.raises(DynsysError, match="known: sigmoid"):
        initialize("xavier", 8, 2, 2)
    with pytest.raises(DynsysError, match="n_hidden"):
        initialize("sigmoid", 0, 2, 2)
