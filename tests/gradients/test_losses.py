import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, resolve_steps


def test_resolve_steps():
    assert resolve_steps("last", 5).tolist() == [5]
    assert resolve_steps("all", 3).tolist() == [1, 2, 3]
    assert resolve_steps([2, 4], 5).tolist() == [2, 4]
    for bad, match in [
        ([0], "lie in 1..5"),
        ([2, 2], "repeat"),
        ("first", "'last', 'all'"),
        ([], "non-empty"),
    ]:
        with pytest.raises(DynsysError, match=match):
            resolve_steps(bad, 5)


def test_softmax_value_and_gradient_closed_form(rng):
    S, K, B, n, k = 2, 1, 3, 4, 5
    h = rng.normal(size=(S, K, B, n))
    W, c = rng.normal(size=(K, k, n)), rng.normal(size=(K, k))
    labels = rng.integers(0, k, (S, B))
    loss, gh, grads = ReadoutLoss(labels, "softmax").value_and_grad(h, (W, c))
    y = h @ W[0].T + c[0]
    p = np.exp(y - y.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ce = -np.log(np.take_along_axis(p, labels[:, None, :, None], -1)).sum() / B
    assert loss[0] == pytest.approx(ce, rel=1e-13)
    onehot = np.eye(k)[labels][:, None]
    np.testing.assert_allclose(gh, (p - onehot) @ W[0] / B, rtol=1e-12)
    np.testing.assert_allclose(grads["b_out"][0], (p - onehot).sum(axis=(0, 1, 2)) / B, rtol=1e-12)


def test_state_loss_gradient(rng):
    h = rng.uniform(size=(1, 2, 3, 4))
    y = rng.uniform(size=(1, 3, 4))
    loss, gh, grads = StateLoss(y).value_and_grad(h, None)
    np.testing.assert_allclose(loss, ((h - y[:, None]) ** 2).sum(axis=(0, 2, 3)) / 3)
    np.testing.assert_allclose(gh, 2 * (h - y[:, None]) / 3)
    assert grads == {}
