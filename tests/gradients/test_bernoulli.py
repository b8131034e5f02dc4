"""The Bernoulli (sigmoid, binary cross-entropy) readout loss and per-step weights (variable-length
sequences): closed forms, finite differences, PyTorch's BCEWithLogits, the generic path."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, bptt, bptt_stacked
from dynsys.maps import RNNMap
from dynsys.training.cells import build_map, default_init, init_weights

PARAMS = ("W_rec", "W_in", "b", "W_out", "b_out")


def _problem(seed, n=5, m=4, T=7, B=3, activation="sigmoid", lengths=None):
    rng = np.random.default_rng(seed)
    rnn = RNNMap(
        rng.normal(0, 1.0 / np.sqrt(n), (n, n)),
        rng.normal(0, 0.7, (n, m)),
        rng.normal(0, 0.3, n),
        activation,
        rng.normal(0, 0.8, (m, n)),
        rng.normal(0, 0.2, m),
    )
    roll = (rng.uniform(size=(T + 1, B, m)) < 0.3).astype(float)  # frames 0..T
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    mask = (np.arange(T)[:, None] < lengths[None]).astype(float)  # (T, B)
    u = roll[:-1] * mask[..., None]  # padding: zero inputs
    w = mask / lengths[None]  # the cost averaged over each sequence
    loss = ReadoutLoss(roll[1:] * mask[..., None], "bernoulli", "all", weights=w)
    return rnn, u, loss, roll, lengths


def test_the_all_half_model_costs_88_ln2_per_step():
    # p = 1/2 for every key: −log(1/2) = ln 2 per key, whatever the target
    rng = np.random.default_rng(0)
    n, T, B = 6, 9, 4
    rnn = RNNMap(rng.normal(size=(n, n)), rng.normal(size=(n, 88)), np.zeros(n), "sigmoid",
                 np.zeros((88, n)), np.zeros(88))  # fmt: skip
    roll = (rng.uniform(size=(T + 1, B, 88)) < 0.1).astype(float)
    res = bptt(rnn, roll[:-1], ReadoutLoss(roll[1:], "bernoulli", "all", weights=np.full((T, B), 1.0 / T)))
    assert res.loss == pytest.approx(88 * np.log(2), rel=1e-14)
    # the output-bias gradient of that model: (1/2 − mean target) per key
    np.testing.assert_allclose(res.grads["b_out"], (0.5 - roll[1:]).mean(axis=0).sum(axis=0) / B, atol=1e-15)


def test_bernoulli_value_is_the_negative_log_likelihood_and_is_stable():
    # −log p(target) with p = sigmoid(y), written out by hand for each logit (huge ones included)
    y = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    by_hand = [
        0.0,  # log(1 + e^-800) underflows to 0
        30.0 + math.log1p(math.exp(-30.0)),  # −log sigmoid(−30)
        math.log1p(math.e),  # −log sigmoid(−1) = log(1 + e)
        math.log(2.0),
        math.log1p(math.exp(-2.0)),  # −log sigmoid(2)
        40.0 + math.log1p(math.exp(-40.0)),  # −log(1 − sigmoid(40))
        0.0,
    ]
    W_out = np.eye(7)[None]  # hidden = logits
    loss = ReadoutLoss(t[None, None], "bernoulli", "all")
    value, gh, _ = loss.value_and_grad(y[None, None, None], (W_out, np.zeros((1, 7))))
    assert np.isfinite(value).all() and value[0] == pytest.approx(math.fsum(by_hand), rel=1e-15)
    sig = [0.0, 1 / (1 + math.exp(30)), 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-2)), 1.0, 1.0]
    np.testing.assert_allclose(gh[0, 0, 0], np.array(sig) - t, rtol=1e-14, atol=1e-300)


def _fd(rnn, u, loss, name, h=1e-6):
    P = np.array(getattr(rnn, name), dtype=float)
    g = np.zeros_like(P)
    for idx in np.ndindex(P.shape):
        Pp, Pm = P.copy(), P.copy()
        Pp[idx] += h
        Pm[idx] -= h
        g[idx] = (bptt(rnn.with_params(**{name: Pp}), u, loss).loss
                  - bptt(rnn.with_params(**{name: Pm}), u, loss).loss) / (2 * h)  # fmt: skip
    return g


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), activation=st.sampled_from(["sigmoid", "tanh"]),
       lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3))  # fmt: skip
def test_per_step_gradients_match_central_differences(seed, activation, lengths):
    rnn, u, loss, _, _ = _problem(seed, n=4, m=3, T=max(lengths), B=len(lengths), activation=activation,
                                  lengths=lengths)  # fmt: skip
    res = bptt(rnn, u, loss)
    for name in PARAMS:
        f = _fd(rnn, u, loss, name)
        assert np.max(np.abs(res.grads[name] - f)) <= 1e-7 * max(np.max(np.abs(f)), 1e-3)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_per_step_gradients_match_torch_bce_with_logits(activation):
    torch = pytest.importorskip("torch")
    lengths = [7, 3, 5]
    rnn, u, loss, roll, L = _problem(4, n=6, m=5, T=7, B=3, activation=activation, lengths=lengths)
    res = bptt(rnn, u, loss)
    tp = {p: torch.tensor(np.array(getattr(rnn, p)), requires_grad=True) for p in PARAMS}
    act = torch.tanh if activation == "tanh" else torch.sigmoid
    total = 0
    for b, T_b in enumerate(lengths):  # each sequence on its own, unpadded
        h = torch.zeros(1, 6, dtype=torch.float64)
        seq = 0
        for t in range(T_b):
            h = act(h @ tp["W_rec"].T + torch.tensor(roll[t, b : b + 1]) @ tp["W_in"].T + tp["b"])
            y = h @ tp["W_out"].T + tp["b_out"]
            target = torch.tensor(roll[t + 1, b : b + 1])
            seq = seq + torch.nn.functional.binary_cross_entropy_with_logits(y, target, reduction="sum")
        total = total + seq / T_b / len(lengths)
    grads = torch.autograd.grad(total, [tp[p] for p in PARAMS])
    assert abs(float(total.detach()) - res.loss) <= 1e-12 * abs(res.loss)
    for p, g in zip(PARAMS, grads):
        np.testing.assert_allclose(res.grads[p], g.numpy(), rtol=1e-10, atol=1e-13)


def test_padding_changes_nothing():
    # a sequence padded with zero-weight steps has the loss and gradients of the unpadded one
    rnn, u, loss, roll, _ = _problem(7, T=9, B=1, lengths=[5])
    short = ReadoutLoss(roll[1:6], "bernoulli", "all", weights=np.full((5, 1), 0.2))
    a, b = bptt(rnn, u, loss), bptt(rnn, u[:5], short)
    assert a.loss == pytest.approx(b.loss, rel=1e-15)
    for p in PARAMS:
        np.testing.assert_allclose(a.grads[p], b.grads[p], rtol=1e-13, atol=1e-16)
    assert np.all(a.deltas[6:] == 0.0)  # nothing flows back from the padding


def test_stacked_members_match_single_runs():
    nets = [_problem(s, lengths=[7, 4, 6])[0] for s in (1, 2)]
    _, u, loss, _, _ = _problem(1, lengths=[7, 4, 6])
    st_ = {p: np.stack([getattr(r, p) for r in nets]) for p in PARAMS}
    value, grads, _ = bptt_stacked(
        *(st_[p] for p in PARAMS[:3]), st_["W_out"], st_["b_out"], "sigmoid", u, loss
    )
    for i, r in enumerate(nets):
        res = bptt(r, u, loss)
        assert value[i] == pytest.approx(res.loss, rel=1e-13)
        for p in PARAMS:
            np.testing.assert_allclose(grads[p][i], res.grads[p], rtol=1e-11, atol=1e-15)


def test_generic_path_gated_cell_matches_finite_differences():
    rng = np.random.default_rng(3)
    n, m, T, B = 3, 4, 5, 2
    params = init_weights("gru", default_init("gru"), n, m, m, rng=rng)
    net = build_map("gru", params, "tanh")
    roll = (rng.uniform(size=(T + 1, B, m)) < 0.4).astype(float)
    w = np.array([[1, 1], [1, 1], [1, 1], [1, 0], [1, 0]], dtype=float) / np.array([5.0, 3.0])
    loss = ReadoutLoss(roll[1:], "bernoulli", "all", weights=w)
    res = bptt(net, roll[:-1], loss, x0=np.zeros((B, net.dim)))
    name = "W_out"
    P = np.array(net.get_param(name))
    i, j, h = 1, 2, 1e-6
    Pp, Pm = P.copy(), P.copy()
    Pp[i, j] += h
    Pm[i, j] -= h
    fd = (bptt(net.with_params(**{name: Pp}), roll[:-1], loss, x0=np.zeros((B, net.dim))).loss
          - bptt(net.with_params(**{name: Pm}), roll[:-1], loss, x0=np.zeros((B, net.dim))).loss) / (2 * h)  # fmt: skip
    assert res.grads[name][i, j] == pytest.approx(fd, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=np.ones((3, 2))), r"loss.weights must have shape \(7, 3\)"),
        (dict(weights=-np.ones((7, 3))), "non-negative"),
        (dict(weights=np.full((7, 3), np.nan)), "loss.weights"),
        (dict(targets=np.full((7, 3, 4), 2.0)), r"\[0, 1\]"),
        (dict(kind="poisson"), "loss.kind must be"),
    ],
)
def test_bad_bernoulli_arguments_are_one_line_errors(kwargs, match):
    rnn, u, loss, _, _ = _problem(0)
    args = dict(targets=loss.targets, kind="bernoulli", steps="all", weights=None, **{})
    args.update(kwargs)
    with pytest.raises(DynsysError, match=match):
        bptt(rnn, u, ReadoutLoss(**args))


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("B", [1, 3])
def test_small_batch_stacks_take_the_same_gradients_after_the_loop(monkeypatch, shared, B):
    # a stack with a small batch forms its weight gradients (and Ω's) in one product after the
    # backward loop; the per-step products give the same numbers
    import dynsys.gradients.backprop as bp

    rng = np.random.default_rng(B)
    K, n, m, T = 3, 9, 4, 8
    W, Wi, b = rng.normal(0, 0.4, (K, n, n)), rng.normal(size=(K, n, m)), rng.normal(size=(K, n))
    Wo, bo = rng.normal(size=(K, m, n)), rng.normal(size=(K, m))
    lead = (T, B) if shared else (T, K, B)
    u = rng.normal(size=(*lead, m))
    loss = ReadoutLoss(
        (rng.uniform(size=(*lead, m)) < 0.3) * 1.0, "bernoulli", "all", weights=rng.uniform(size=lead)
    )
    runs = []
    for limit in (0, 4):
        monkeypatch.setattr(bp, "_DEFER_BATCH", limit)
        runs.append(bptt_stacked(W, Wi, b, Wo, bo, "tanh", u, loss, omega_bound=1e-20))
    (v0, g0, e0), (v1, g1, e1) = runs
    np.testing.assert_array_equal(v0, v1)
    for p in g0:
        np.testing.assert_allclose(g1[p], g0[p], rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(e0["omega"][0], e1["omega"][0])
    np.testing.assert_allclose(e1["omega"][1], e0["omega"][1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("K, B", [(1, 1), (1, 4), (3, 1), (3, 4)])
@pytest.mark.parametrize("kind", ["bernoulli", "softmax", "mse"])
def test_the_single_gemm_readout_gives_the_same_loss_and_gradients(K, B, kind):
    # ReadoutLoss(gemm=True): one matrix product per network over all steps (another summation order)
    import dataclasses

    rng = np.random.default_rng(K * 10 + B)
    S, n, k = 6, 5, 4
    h = rng.normal(size=(S, K, B, n))
    Wo, bo = rng.normal(size=(K, k, n)), rng.normal(size=(K, k))
    targets = {"bernoulli": (rng.uniform(size=(S, K, B, k)) < 0.3) * 1.0, "softmax": rng.integers(0, k, (S, B)),
               "mse": rng.normal(size=(S, B, k))}[kind]  # fmt: skip
    for weights in (None, rng.uniform(size=(S, B))):
        loss = ReadoutLoss(targets, kind, "all", weights=weights)
        (v0, gh0, g0), (v1, gh1, g1) = (
            lo.value_and_grad(h, (Wo, bo)) for lo in (loss, dataclasses.replace(loss, gemm=True))
        )
        np.testing.assert_allclose(v1, v0, rtol=1e-13)
        np.testing.assert_allclose(gh1, gh0, rtol=1e-12, atol=1e-15)
        for p in g0:
            np.testing.assert_allclose(g1[p], g0[p], rtol=1e-12, atol=1e-15)
