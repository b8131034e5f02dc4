import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsys.errors import DynsysError
from dynsys.gradients import (
    ReadoutLoss,
    StateLoss,
    bptt,
    bptt_stacked,
    jacobian_product,
    jacobian_product_norms,
    temporal_contributions,
)
from dynsys.maps import FixedInput, RNNMap, UnitMap, iterate

PARAMS = ("W_rec", "W_in", "b", "W_out", "b_out")


def make_problem(seed, n, m, k, T, B, activation, loss_kind, steps, init):
    rng = np.random.default_rng(seed)
    scale = 1.2 / np.sqrt(n)
    rnn = RNNMap(
        rng.normal(0, scale, (n, n)),
        rng.normal(0, 0.7, (n, m)) if m else None,
        rng.normal(0, 0.3, n),
        activation,
        rng.normal(0, 0.5, (k, n)),
        rng.normal(0, 0.1, k),
    )
    u = rng.normal(size=(T, B, m)) if m else None
    S = {"last": 1, "all": T}[steps] if isinstance(steps, str) else len(steps)
    if loss_kind == "softmax":
        loss = ReadoutLoss(rng.integers(0, k, (S, B)), "softmax", steps)
    elif loss_kind == "mse":
        loss = ReadoutLoss(rng.normal(size=(S, B, k)), "mse", steps)
    else:
        loss = StateLoss(rng.uniform(0.1, 0.9, (S, B, n)), steps)
    kw = {"x0": rng.normal(size=(B, n))} if init == "x0" else {"h0": rng.uniform(-0.2, 0.2, (B, n))}
    if u is None:
        kw["steps"] = T
    return rnn, u, loss, kw


def fd_grads(rnn, u, loss, kw, names, h=1e-6):
    out = {}
    for name in names:
        P = np.array(getattr(rnn, name), dtype=float)
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            Pp, Pm = P.copy(), P.copy()
            Pp[idx] += h
            Pm[idx] -= h
            g[idx] = (
                bptt(rnn.with_params(**{name: Pp}), u, loss, **kw).loss
                - bptt(rnn.with_params(**{name: Pm}), u, loss, **kw).loss
            ) / (2 * h)
        out[name] = g
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 4),
    m=st.integers(0, 3),
    k=st.integers(2, 3),
    T=st.integers(1, 6),
    B=st.integers(1, 3),
    activation=st.sampled_from(["tanh", "sigmoid", "softsign", "linear"]),
    loss_kind=st.sampled_from(["softmax", "mse", "state"]),
    steps=st.sampled_from(["last", "all"]),
    init=st.sampled_from(["x0", "h0"]),
)
def test_gradients_match_central_differences(seed, n, m, k, T, B, activation, loss_kind, steps, init):
    rnn, u, loss, kw = make_problem(seed, n, m, k, T, B, activation, loss_kind, steps, init)
    res = bptt(rnn, u, loss, **kw)
    names = [p for p in PARAMS if p in res.grads and np.size(res.grads[p])]
    fd = fd_grads(rnn, u, loss, kw, names)
    for name in names:
        g, f = res.grads[name], fd[name]
        # floor: central-difference rounding error is ≈ eps·|E|/h ≈ 2e-10·|E|
        scale = max(np.max(np.abs(f)), 1e-3 * max(1.0, abs(res.loss)))
        # relative error of central differences: truncation O(h²) + rounding O(eps/h) ≈ 1e-9
        assert np.max(np.abs(g - f)) / scale < 1e-6, name
    if init == "x0":  # ∂E/∂x_0 against finite differences in x_0
        x0 = kw["x0"]
        h = 1e-6
        for idx in [(0, 0), (B - 1, n - 1)]:
            xp, xm = x0.copy(), x0.copy()
            xp[idx] += h
            xm[idx] -= h
            fdx = (
                bptt(rnn, u, loss, **{**kw, "x0": xp}).loss - bptt(rnn, u, loss, **{**kw, "x0": xm}).loss
            ) / (2 * h)
            assert abs(res.deltas[0][idx] - fdx) <= 1e-6 * max(1e-3 * max(1.0, abs(res.loss)), abs(fdx))


def test_relu_gradients_match_finite_differences(rng):
    rnn, u, loss, kw = make_problem(3, 4, 2, 3, 5, 3, "relu", "softmax", "all", "x0")
    res = bptt(rnn, u, loss, **kw)
    fd = fd_grads(rnn, u, loss, kw, ["W_rec", "b"])
    for name in fd:
        np.testing.assert_allclose(res.grads[name], fd[name], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("loss_kind", ["softmax", "mse"])
def test_gradients_match_torch_autograd(activation, loss_kind):
    torch = pytest.importorskip("torch")
    n, m, k, T, B = 6, 3, 4, 15, 5
    rnn, u, loss, _ = make_problem(11, n, m, k, T, B, activation, loss_kind, "all", "h0")
    h0 = np.random.default_rng(1).uniform(-0.3, 0.3, (B, n))
    res = bptt(rnn, u, loss, h0=h0)
    tp = {p: torch.tensor(np.array(getattr(rnn, p)), requires_grad=True) for p in PARAMS}
    tu = torch.tensor(u)
    act = torch.tanh if activation == "tanh" else torch.sigmoid
    h = torch.tensor(h0)
    total = 0
    for t in range(T):
        h = act(h @ tp["W_rec"].T + tu[t] @ tp["W_in"].T + tp["b"])
        y = h @ tp["W_out"].T + tp["b_out"]
        if loss_kind == "softmax":
            total = (
                total
                + torch.nn.functional.cross_entropy(y, torch.tensor(loss.targets[t]), reduction="sum") / B
            )
        else:
            total = total + ((y - torch.tensor(loss.targets[t])) ** 2).sum() / B
    grads = torch.autograd.grad(total, [tp[p] for p in PARAMS])
    assert abs(float(total.detach()) - res.loss) < 1e-12 * max(1.0, abs(res.loss))
    for p, g in zip(PARAMS, grads):
        np.testing.assert_allclose(res.grads[p], g.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    T=st.integers(1, 7),
    loss_kind=st.sampled_from(["softmax", "mse", "state"]),
    steps=st.sampled_from(["last", "all", (1, 3)]),
)
def test_temporal_contributions_sum_to_total_gradient(seed, T, loss_kind, steps):
    if isinstance(steps, tuple):
        steps = [s for s in steps if s <= T] or [T]
    rnn, u, loss, kw = make_problem(seed, 3, 2, 3, T, 4, "tanh", loss_kind, steps, "x0")
    res = bptt(rnn, u, loss, **kw, contributions=True)
    tc = temporal_contributions(rnn, u, loss, **kw)
    for name in ("W_rec", "W_in", "b"):
        np.testing.assert_allclose(tc[name].sum(axis=(0, 1)), res.grads[name], rtol=1e-12, atol=1e-14)
        upper = np.triu(np.ones((T, T), dtype=bool), 1)
        assert np.all(tc[name][upper] == 0)
    norms = np.sqrt(sum((tc[p] ** 2).reshape(T, T, -1).sum(-1) for p in tc))
    tri = np.tril(np.ones((T, T), dtype=bool))
    np.testing.assert_allclose(res.contribution_norms[tri], norms[tri], rtol=1e-10, atol=1e-14)
    assert np.all(np.isnan(res.contribution_norms[~tri]))


def test_contribution_is_the_explicit_eq4_product(rng):
    """(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂W_rec) built by hand from eq. 5 for one (t, k)."""
    rnn, u, loss, kw = make_problem(5, 3, 2, 3, 6, 1, "tanh", "mse", "all", "x0")
    res = bptt(rnn, u, loss, **kw)
    tc = temporal_contributions(rnn, u, loss, **kw)
    t, k = 5, 2
    y = rnn.readout(res.states[t])
    dE_dh = 2 * (y - loss.targets[t - 1]) @ rnn.W_out  # (1, n)
    dE_dx = dE_dh * rnn.activation.d(res.states[t])
    P = jacobian_product(rnn, res.states, u, t=t, k=k)[0]
    expected = np.outer(dE_dx[0] @ P, res.hidden[k - 1][0])
    np.testing.assert_allclose(tc["W_rec"][t - 1, k - 1], expected, rtol=1e-12, atol=1e-15)


def test_jacobian_products_equal_explicit_eq5_product(rng):
    n, T, B = 4, 9, 3
    rnn = RNNMap(rng.normal(0, 0.6, (n, n)), rng.normal(size=(n, 2)), None, "sigmoid")
    u = rng.normal(size=(T, B, 2))
    traj = iterate(rnn, rng.normal(size=(B, n)), u)
    norms = jacobian_product_norms(rnn, traj.states, u)
    for t, k in [(9, 0), (5, 2), (3, 3), (7, 6)]:
        P = np.broadcast_to(np.eye(n), (B, n, n))
        for i in range(k + 1, t + 1):  # Π W_rec diag(σ'(x_{i-1})), later factors on the left
            P = (
                rnn.W_rec @ np.stack([np.diag(rnn.activation.d(traj.states[i - 1][j])) for j in range(B)])
            ) @ P
        np.testing.assert_allclose(jacobian_product(rnn, traj.states, u, t=t, k=k), P, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(norms[t, k], np.linalg.norm(P, 2, axis=(-2, -1)), rtol=1e-12)
    assert np.all(np.isnan(norms[np.triu_indices(T + 1, 1)]))
    res = bptt(rnn, u, StateLoss(0.5, "last"), x0=traj.states[0], jacobian_norms=True)
    np.testing.assert_allclose(res.jacobian_norms, norms, rtol=1e-12, equal_nan=True)


def test_jacobian_products_of_a_one_state_trajectory(rng):
    """T = 0: only ∂x_0/∂x_0 = I (norm 1); bad t, k are one-line errors."""
    rnn = RNNMap(rng.normal(size=(3, 3)))
    np.testing.assert_array_equal(jacobian_product_norms(rnn, np.zeros((1, 3))), [[1.0]])
    np.testing.assert_array_equal(jacobian_product_norms(rnn, np.zeros((1, 2, 3))), [[[1.0, 1.0]]])
    np.testing.assert_array_equal(jacobian_product(rnn, np.zeros((1, 3)), t=0, k=0), np.eye(3))
    with pytest.raises(DynsysError, match="t must be an integer"):
        jacobian_product(rnn, np.zeros((3, 3)), t=1.5, k=0)


def test_jacobian_norms_with_unknown_x0(rng):
    """With only h_0 given (the default), ∂x_t/∂x_0 is undefined: NaN, and the rest is unaffected."""
    rnn, u, loss, _ = make_problem(4, 5, 2, 3, 8, 3, "tanh", "softmax", "last", "h0")
    res = bptt(rnn, u, loss, jacobian_norms=True)
    assert np.all(np.isnan(res.jacobian_norms[:, 0]))
    traj_states = res.states.copy()
    traj_states[0] = 0.0  # any x_0: the products for k >= 1 do not depend on it
    ref = jacobian_product_norms(rnn, traj_states, u)
    np.testing.assert_allclose(res.jacobian_norms[:, 1:], ref[:, 1:], rtol=1e-12, equal_nan=True)


def test_stacked_equals_single_networks(rng):
    K, n, m, k, T, B = 3, 5, 2, 4, 8, 6
    nets = [make_problem(s, n, m, k, T, B, "tanh", "softmax", "last", "h0")[0] for s in range(K)]
    u = rng.normal(size=(T, B, m))
    labels = rng.integers(0, k, (1, B))
    stack = {p: np.stack([np.array(getattr(r, p)) for r in nets]) for p in PARAMS}
    lossK, gK, extra = bptt_stacked(
        stack["W_rec"],
        stack["W_in"],
        stack["b"],
        stack["W_out"],
        stack["b_out"],
        "tanh",
        u,
        ReadoutLoss(labels),
    )
    for i, r in enumerate(nets):
        res = bptt(r, u, ReadoutLoss(labels))
        assert lossK[i] == pytest.approx(res.loss, rel=1e-13)
        for p in PARAMS:
            np.testing.assert_allclose(gK[p][i], res.grads[p], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(extra["hidden"][:, i], res.hidden, rtol=1e-13)
    # per-member inputs and labels
    uK = rng.normal(size=(T, K, B, m))
    labK = rng.integers(0, k, (1, K, B))
    lossK, gK, _ = bptt_stacked(
        stack["W_rec"],
        stack["W_in"],
        stack["b"],
        stack["W_out"],
        stack["b_out"],
        "tanh",
        uK,
        ReadoutLoss(labK),
    )
    for i, r in enumerate(nets):
        res = bptt(r, uK[:, i], ReadoutLoss(labK[:, i]))
        assert lossK[i] == pytest.approx(res.loss, rel=1e-13)
        np.testing.assert_allclose(gK["W_rec"][i], res.grads["W_rec"], rtol=1e-11, atol=1e-14)


def test_float32(rng):
    rnn, u, loss, kw = make_problem(2, 8, 3, 4, 20, 5, "tanh", "softmax", "last", "h0")
    r64 = bptt(rnn, u, loss, **kw)
    r32 = bptt(rnn, u, loss, **kw, dtype=np.float32)
    assert r32.grads["W_rec"].dtype == np.float32 and r32.states.dtype == np.float32
    np.testing.assert_allclose(r32.grads["W_rec"], r64.grads["W_rec"], rtol=1e-3, atol=1e-5)


def test_one_unit_state_loss_matches_closed_form():
    """Paper Fig. 6 model, T = 1: E = (σ(w σ(x0) + b) − y)², dE/dw = 2(σ(x1)−y)σ'(x1)σ(x0)."""
    w, b, x0, y = 5.0, -2.5, 0.5, 0.7
    rnn = RNNMap([[w]], None, [b], "sigmoid")
    res = bptt(rnn, None, StateLoss(y, "last"), x0=[x0], steps=1)
    s = rnn.activation
    x1 = w * s(x0) + b
    assert res.loss == pytest.approx((s(x1) - y) ** 2, rel=1e-14)
    assert res.grads["W_rec"][0, 0] == pytest.approx(2 * (s(x1) - y) * s.d(x1) * s(x0), rel=1e-13)
    assert res.grads["b"][0] == pytest.approx(2 * (s(x1) - y) * s.d(x1), rel=1e-13)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda r, u: bptt(r, u[:, :, :1], ReadoutLoss(np.zeros((1, 2), int))),
            r"inputs must have shape \(T, B, 2\)",
        ),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 3), int))),
            r"loss.targets must be integer labels of shape \(1, 2\)",
        ),
        (lambda r, u: bptt(r, u, ReadoutLoss(np.full((1, 2), 7))), "class labels in 0..2"),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 2), int), steps=[0])),
            "loss.steps must lie in 1..4",
        ),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 2), int), steps="first")),
            "loss.steps must be 'last'",
        ),
        (lambda r, u: bptt(r, u * np.nan, ReadoutLoss(np.zeros((1, 2), int))), "inputs must be finite"),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 2), int)), x0=np.zeros(2)),
            r"x0 must have shape \(B, 3\)",
        ),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 2), int)), x0=np.zeros(3), h0=np.zeros(3)),
            "not both",
        ),
        (lambda r, u: bptt(r, u, None), "loss is required"),
        (lambda r, u: bptt(r.autonomous(), None, ReadoutLoss(np.zeros((1, 1), int))), "steps is required"),
        (
            lambda r, u: bptt(r, u, ReadoutLoss(np.zeros((1, 2), int)), dtype=np.int32),
            "dtype must be float64",
        ),
        (
            lambda r, u: bptt(RNNMap(np.eye(3)), None, ReadoutLoss(np.zeros((1, 1), int)), steps=2),
            "needs an RNNMap with W_out",
        ),
    ],
)
def test_bad_input(rng, call, match):
    rnn = RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), None, "tanh", rng.normal(size=(3, 3)))
    u = rng.normal(size=(4, 2, 2))
    with pytest.raises(DynsysError, match=match):
        call(rnn, u)


@pytest.mark.parametrize("K", [1, 3])
def test_stacked_workspace_reuse_is_exact(rng, K):
    # a workspace reused across calls of changing length (as in variable-length tasks) must give
    # exactly what fresh buffers give, for shared and per-member inputs
    n, m, k, B = 5, 2, 4, 6
    nets = [make_problem(s, n, m, k, 8, B, "tanh", "softmax", "last", "h0")[0] for s in range(K)]
    stack = [np.stack([np.array(getattr(r, p)) for r in nets]) for p in PARAMS]
    ws = {}
    for T in (12, 7, 12, 3):
        for u, lab in (
            (rng.normal(size=(T, B, m)), rng.integers(0, k, (1, B))),
            (rng.normal(size=(T, K, B, m)), rng.integers(0, k, (1, K, B))),
        ):
            fresh = bptt_stacked(*stack, "tanh", u, ReadoutLoss(lab))
            reused = bptt_stacked(*stack, "tanh", u, ReadoutLoss(lab), workspace=ws)
            np.testing.assert_array_equal(fresh[0], reused[0])
            for p in fresh[1]:
                np.testing.assert_array_equal(fresh[1][p], reused[1][p])
            for name in ("states", "hidden", "deltas", "dsigma"):
                assert reused[2][name].shape == (T + 1, K, B, n)
                np.testing.assert_array_equal(fresh[2][name], reused[2][name])
    assert ws and all(a.shape[0] >= 13 for key, a in ws.items() if key != "drive")


def test_maps_of_the_eq2_form_take_the_fast_path_bit_for_bit(rng):
    """bptt on an RNNMap is the stacked core with K = 1, exactly; a UnitMap and a FixedInput of an
    RNN run it as their as_rnn() (keys of eq. 2), not the generic path (tests/gradients/
    test_generic_bptt.py)."""
    rnn, u, loss, kw = make_problem(8, 4, 2, 3, 9, 5, "tanh", "softmax", "all", "h0")
    res = bptt(rnn, u, loss, **kw)
    stack = [np.array(getattr(rnn, p))[None] for p in PARAMS]
    lossK, gK, extra = bptt_stacked(*stack, "tanh", u, loss, h0=kw["h0"][None])
    assert res.loss == float(lossK[0])
    for p in PARAMS:
        np.testing.assert_array_equal(res.grads[p], gK[p][0])
    np.testing.assert_array_equal(res.deltas[1:], extra["deltas"][1:, 0])
    unit = bptt(UnitMap(w=5.0, b=-2.5, w_in=0.7), u[..., :1], StateLoss(0.3, "last"), h0=np.zeros(1))
    assert sorted(unit.grads) == ["W_in", "W_rec", "b"] and unit.grads["W_rec"].shape == (1, 1)
    c = np.array([0.2, -0.4])
    a = bptt(FixedInput(rnn, c), None, StateLoss(0.1, "all"), steps=6, x0=np.ones(4))
    b = bptt(rnn.autonomous(c), None, StateLoss(0.1, "all"), steps=6, x0=np.ones(4))
    assert a.loss == b.loss and sorted(a.grads) == sorted(b.grads) == ["W_in", "W_rec", "b"]
    for p in a.grads:
        np.testing.assert_array_equal(a.grads[p], b.grads[p])
