"""Parameter paths: ∂F/∂p and the batched step against finite differences; name validation."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.maps import HenonMap, LogisticMap, RNNMap, UnitMap, parameter_path


@pytest.mark.parametrize("param", ["gain", "b", "b[1]", "W_rec[0,2]", "u", "u[1]"])
def test_rnn_paths_derivative_and_batch(param, rng):
    n, m = 3, 2
    rnn = RNNMap(rng.standard_normal((n, n)), rng.standard_normal((n, m)), rng.standard_normal(n))
    u0 = np.array([0.2, -0.4])
    path = parameter_path(rnn, param, u=u0)
    # at p0 the path reproduces the given map with input u0
    x = rng.standard_normal((5, n))
    np.testing.assert_allclose(path.map_at(path.p0).step(x), rnn.step(x, u0), atol=1e-13)
    # ∂F/∂p analytic vs central difference of map_at
    p, h = path.p0 + 0.3, 1e-6
    fd = (path.map_at(p + h).step(x) - path.map_at(p - h).step(x)) / (2 * h)
    np.testing.assert_allclose(path.dfdp(x, p), fd, atol=1e-8)
    # the batched step equals the per-parameter step
    ps = np.array([0.5, 1.0, 1.7])
    X = rng.standard_normal((3, 4, n))
    out = path.step_batch(X, ps)
    for i, pi in enumerate(ps):
        np.testing.assert_allclose(out[i], path.map_at(pi).step(X[i]), atol=1e-13)


def test_map_param_path_derivative_and_period_chain_rule(rng):
    path = parameter_path(HenonMap(1.2, 0.3), "a")
    x = rng.standard_normal((4, 2)) * 0.3
    p, h = 1.1, 1e-6
    for k in (1, 3):
        _, J, v = path.orbit(x, p, k)
        fd = (path.orbit(x, p + h, k)[0] - path.orbit(x, p - h, k)[0]) / (2 * h)
        np.testing.assert_allclose(v, fd, atol=1e-7)
        e = np.array([1.0, 0.0])
        fdx = (path.orbit(x + h * e, p, k)[0] - path.orbit(x - h * e, p, k)[0]) / (2 * h)
        np.testing.assert_allclose(J[..., :, 0], fdx, atol=1e-7)


@pytest.mark.parametrize(
    "mapobj,param,match",
    [
        (UnitMap(w=5.0, b=-2.5), "gain", "unknown parameter"),
        (UnitMap(w=5.0, b=-2.5), "activation", "not a scalar"),
        (LogisticMap(3.0), "a", "unknown parameter"),
        (RNNMap(np.eye(2)), "W_rec[2,0]", "out of range"),
        (RNNMap(np.eye(2)), "u", "inputs"),
        (RNNMap(np.eye(2)), "w", "unknown parameter"),
    ],
)
def test_bad_parameters(mapobj, param, match):
    with pytest.raises(DynsysError, match=match):
        parameter_path(mapobj, param)
