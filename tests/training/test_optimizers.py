"""dynsys.training.optimizers: one step of SGD / momentum / Adam on K stacked networks, against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.training import optimizer_step
from dynsys.training.optimizers import PARAM_NAMES

SHAPES = {"W_rec": (3, 3), "W_in": (3, 2), "b": (3,), "W_out": (2, 3), "b_out": (2,)}


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_optimizer_step_matches_torch_per_member(rng, opt):
    torch = pytest.importorskip("torch")
    K = 3
    lr = np.array([0.1, 0.02, 0.5])  # one learning rate per member
    params = {k: rng.standard_normal((K, *SHAPES[k])) for k in PARAM_NAMES}
    tparams = [
        [torch.tensor(params[k][i], dtype=torch.float64, requires_grad=True) for k in PARAM_NAMES]
        for i in range(K)
    ]
    topts = [
        torch.optim.SGD(tp, lr=float(lr[i]))
        if opt == "sgd"
        else torch.optim.SGD(tp, lr=float(lr[i]), momentum=0.9)
        if opt == "momentum"
        else torch.optim.Adam(tp, lr=float(lr[i]), betas=(0.9, 0.999), eps=1e-8)
        for i, tp in enumerate(tparams)
    ]
    state = None
    for _ in range(4):
        upd = {k: rng.standard_normal((K, *SHAPES[k])) for k in PARAM_NAMES}
        params, state = optimizer_step(params, upd, lr, state, opt, 0.9, (0.9, 0.999, 1e-8))
        for i in range(K):
            for t_, k in zip(tparams[i], PARAM_NAMES):
                t_.grad = torch.tensor(upd[k][i])
            topts[i].step()
    for i in range(K):
        for t_, k in zip(tparams[i], PARAM_NAMES):
            np.testing.assert_allclose(params[k][i], t_.detach().numpy(), rtol=1e-12, atol=1e-14)
    if opt == "adam":  # one step count per update, as torch keeps per parameter
        np.testing.assert_array_equal(state["t"], np.full(K, 4.0))
        for i in range(K):
            assert all(float(topts[i].state[t_]["step"]) == 4.0 for t_ in tparams[i])


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_step_keeps_the_dtype_and_in_place_has_the_same_bits(rng, opt, dtype):
    K = 2
    lr = np.array([0.1, 0.3])  # float64 rates: cast to the weights' type
    params = {k: rng.standard_normal((K, *SHAPES[k])).astype(dtype) for k in PARAM_NAMES}
    upd = {k: rng.standard_normal((K, *SHAPES[k])).astype(dtype) for k in PARAM_NAMES}
    pure, state = optimizer_step(params, upd, lr, None, opt, 0.9, (0.9, 0.999, 1e-8))
    assert all(v.dtype == dtype for v in pure.values())
    own = {k: v.copy() for k, v in params.items()}
    new, state2 = optimizer_step(own, {k: v.copy() for k, v in upd.items()}, lr, None, opt, 0.9,
                                 (0.9, 0.999, 1e-8), inplace=True)  # fmt: skip
    for k in PARAM_NAMES:
        assert new[k] is own[k]
        np.testing.assert_array_equal(new[k], pure[k])
    assert sorted(state2) == sorted(state)
