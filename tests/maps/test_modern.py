"""ResidualRNNMap and LayerNormRNNMap (dynsys/maps/modern.py) against independent truths.

Oracles: the maps' equations written out in numpy here, PyTorch in float64 (the residual step as
a torch expression, the layer norm as ``torch.nn.LayerNorm`` with its affine part and the tanh:
steps to 1e-12, state and parameter VJPs and whole BPTT gradients through autograd to 1e-10),
central differences, closed-form invariants (the normalization's scale invariance, its mean and
variance, the ``sqrt(n − 1)`` bound of the state box), and every rule of the Map contract through
the conformance checks of ``tests/maps/test_contract.py``, which compare each fast path with the
generic default of the base class.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, bptt
from dynsys.maps.base import Map
from dynsys.maps.modern import LayerNormRNNMap, ResidualRNNMap
from dynsys.maps.rnn import RNNMap


def _load_contract():
    """The conformance checks of test_contract.py (tests are not a package: load the file itself)."""
    spec = importlib.util.spec_from_file_location(
        "_dynsys_contract_checks", Path(__file__).with_name("test_contract.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contract = _load_contract()

N, M, B = 5, 3, 6


def _residual(seed=0, n=N, m=M, activation="tanh", readout=True):
    g = np.random.default_rng(seed)
    return ResidualRNNMap(
        g.standard_normal((n, n)) / np.sqrt(n),
        g.standard_normal((n, m)) if m else None,
        0.3 * g.standard_normal(n),
        g.standard_normal((3, n)) if readout else None,
        0.1 * g.standard_normal(3) if readout else None,
        activation,
    )


def _layer_norm(seed=0, n=N, m=M, activation="tanh", readout=True, eps=1e-5):
    g = np.random.default_rng(seed)
    return LayerNormRNNMap(
        1.5 * g.standard_normal((n, n)) / np.sqrt(n),
        g.standard_normal((n, m)) if m else None,
        0.3 * g.standard_normal(n),
        1.0 + 0.4 * g.standard_normal(n),
        g.standard_normal((3, n)) if readout else None,
        0.1 * g.standard_normal(3) if readout else None,
        activation,
        eps,
    )


MAPS = {
    "residual-tanh": _residual(0),
    "residual-sigmoid": _residual(1, activation="sigmoid"),
    "residual-relu-autonomous": _residual(2, m=0, activation="relu", readout=False),
    "residual-40": _residual(3, n=40, m=2),
    "ln-tanh": _layer_norm(4),
    "ln-sigmoid": _layer_norm(5, activation="sigmoid"),
    "ln-relu": _layer_norm(6, activation="relu"),
    "ln-linear-autonomous": _layer_norm(7, m=0, activation="linear", readout=False),
    "ln-softsign-eps": _layer_norm(8, activation="softsign", eps=0.3),
    "ln-40": _layer_norm(9, n=40, m=2),
}
IDS = sorted(MAPS)


@pytest.mark.parametrize("rule", sorted(contract.RULES))
@pytest.mark.parametrize("name", IDS)
def test_every_rule_of_the_contract(name, rule):
    contract.RULES[rule](MAPS[name], np.random.default_rng(20130617))


@pytest.mark.parametrize("rule", sorted(contract.GRADIENT_RULES))
@pytest.mark.parametrize("name", IDS)
def test_every_gradient_rule_of_the_contract(name, rule):
    contract.GRADIENT_RULES[rule](MAPS[name], np.random.default_rng(20130617))


# ---------------------------------------------------------------------------------------
# The equations written out
# ---------------------------------------------------------------------------------------

ACT = {
    "tanh": np.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "relu": lambda a: np.maximum(a, 0.0),
    "linear": lambda a: a,
    "softsign": lambda a: a / (1.0 + np.abs(a)),
}


def _residual_formula(mp, x, u, act):
    """x + W σ(x) + W_in u + b, one state at a time."""
    out = np.empty(np.broadcast_shapes(x.shape, u.shape[:-1] + (mp.dim,)))
    for idx in np.ndindex(out.shape[:-1]):
        xi, ui = np.broadcast_to(x, out.shape)[idx], np.broadcast_to(u, out.shape[:-1] + u.shape[-1:])[idx]
        out[idx] = xi + mp.W_rec @ act(xi) + mp.W_in @ ui + mp.b
    return out


def _layer_norm_formula(mp, x, u, act):
    """σ(gain (a − mean a) / sqrt(var a + eps) + b) with a = W x + W_in u, one state at a time."""
    out = np.empty(x.shape)
    for idx in np.ndindex(x.shape[:-1]):
        a = mp.W_rec @ x[idx] + mp.W_in @ u[idx]
        mu = a.sum() / a.size
        var = ((a - mu) ** 2).sum() / a.size
        out[idx] = act(mp.gain * (a - mu) / np.sqrt(var + mp.eps) + mp.b)
    return out


@pytest.mark.parametrize("activation", sorted(ACT))
def test_steps_equal_the_formulas(activation, rng):
    res, ln = _residual(11, activation=activation), _layer_norm(12, activation=activation)
    x, u = rng.uniform(-2, 2, (2, B, N)), rng.standard_normal((2, B, M))
    np.testing.assert_allclose(
        res.step(x, u), _residual_formula(res, x, u, ACT[activation]), rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(
        ln.step(x, u), _layer_norm_formula(ln, x, u, ACT[activation]), rtol=1e-13, atol=1e-13
    )
    # one state against many inputs (rule 3's broadcasting)
    np.testing.assert_allclose(
        res.step(x[0, 0], u), _residual_formula(res, x[0, 0], u, ACT[activation]), atol=1e-13
    )
    # autonomous: u = None is the map without input
    auto = LayerNormRNNMap(ln.W_rec, None, ln.b, ln.gain, activation=activation)
    assert auto.input_dim == 0 and auto.W_in.shape == (N, 0)
    np.testing.assert_allclose(
        auto.step(x), _layer_norm_formula(auto, x, np.zeros((2, B, 0)), ACT[activation]), atol=1e-13
    )


def _fd_jacobian(mp, x, u, h=1e-6):
    cols = []
    for j in range(mp.dim):
        e = np.zeros(mp.dim)
        e[j] = h
        cols.append((mp.step(x + e, u) - mp.step(x - e, u)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("make", [_residual, _layer_norm])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softsign", "linear"])
def test_jacobians_equal_central_differences(make, activation, rng):
    mp = make(13, activation=activation)
    x, u = rng.uniform(-2, 2, (B, N)), rng.standard_normal((B, M))
    J = mp.jacobian(x, u)
    assert J.shape == (B, N, N)
    np.testing.assert_allclose(J, _fd_jacobian(mp, x, u), rtol=0, atol=1e-7)
    # two batch axes and one input for all
    X = rng.uniform(-2, 2, (2, 3, N))
    np.testing.assert_allclose(mp.jacobian(X, u[0]), _fd_jacobian(mp, X, u[0]), rtol=0, atol=1e-7)


def test_residual_jacobian_is_identity_plus_the_rnn_jacobian(rng):
    """``I + W diag σ′(x)``; saturated units leave the identity (the skip path), not zero."""
    res = _residual(14)
    rnn = RNNMap(res.W_rec, res.W_in, res.b, res.activation)
    x, u = rng.uniform(-2, 2, (B, N)), rng.standard_normal((B, M))
    np.testing.assert_allclose(res.jacobian(x, u), np.eye(N) + rnn.jacobian(x, u), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(res.step(x, u) - x, rnn.step(x, u), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(res.jacobian(np.full(N, 40.0)), np.eye(N), rtol=0, atol=1e-30)
    np.testing.assert_array_equal(res.hidden(x), np.tanh(x))
    assert res.as_rnn() is None and res.state_box(np.zeros(M)) is None and rnn.as_rnn() is rnn


def test_layer_norm_invariants(rng):
    """Scale invariance: (c W, c W_in, c² eps) is the same map; with σ linear, gain 1 and b 0 the
    image has mean 0 and mean square var/(var + eps) < 1."""
    ln = _layer_norm(15)
    c = 7.5
    scaled = LayerNormRNNMap(c * ln.W_rec, c * ln.W_in, ln.b, ln.gain, eps=c * c * ln.eps)
    x, u = rng.uniform(-2, 2, (B, N)), rng.standard_normal((B, M))
    np.testing.assert_allclose(scaled.step(x, u), ln.step(x, u), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(scaled.jacobian(x, u), ln.jacobian(x, u), rtol=1e-12, atol=1e-13)
    plain = LayerNormRNNMap(ln.W_rec, ln.W_in, activation="linear", eps=0.05)
    y = plain.step(x, u)
    a = x @ ln.W_rec.T + u @ ln.W_in.T
    var = a.var(axis=-1)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-15)
    np.testing.assert_allclose((y * y).mean(axis=-1), var / (var + 0.05), rtol=1e-13)
    # ∂â/∂a annihilates the constant direction: adding a constant to a changes nothing
    J = plain.jacobian(x, u)
    np.testing.assert_allclose(J @ np.linalg.lstsq(ln.W_rec, np.ones(N), rcond=None)[0], 0.0, atol=1e-12)


@pytest.mark.parametrize("activation", sorted(ACT))
def test_layer_norm_state_box_is_tight(activation, rng):
    """|â_i| < sqrt(n − 1), approached as a = t e_i with t → ∞: the box is σ(b ± |gain| sqrt(n − 1))."""
    ln = LayerNormRNNMap(
        np.eye(N), b=rng.normal(0, 0.3, N), gain=rng.normal(0, 1.0, N), activation=activation
    )
    lo, hi = ln.state_box()
    r = np.abs(ln.gain) * np.sqrt(N - 1)
    np.testing.assert_allclose(lo, ACT[activation](ln.b - r), rtol=1e-14)
    np.testing.assert_allclose(hi, ACT[activation](ln.b + r), rtol=1e-14)
    ys = ln.step(np.concatenate([1e4 * np.eye(N), -1e4 * np.eye(N), rng.uniform(-1e3, 1e3, (500, N))]))
    assert np.all(ys >= lo - 1e-12) and np.all(ys <= hi + 1e-12)
    for i in range(N):  # the extreme state of unit i reaches its bound to within the eps floor
        bound = hi[i] if ln.gain[i] > 0 else lo[i]
        assert ys[i, i] == pytest.approx(bound, abs=1e-6)
    one = LayerNormRNNMap([[2.0]], b=[0.4], activation=activation)  # n = 1: â = 0, F = σ(b)
    np.testing.assert_allclose(one.step(np.array([[3.0], [-5.0]])), ACT[activation](np.array([[0.4], [0.4]])))
    np.testing.assert_allclose(one.state_box(), [ACT[activation](np.array([0.4]))] * 2)


def test_a_user_activation_gets_its_bounds_or_no_box():
    from dynsys.activations import get_activation

    tanh = get_activation("tanh")
    bounded = dataclasses.replace(tanh, name="my-tanh")
    unbounded = dataclasses.replace(tanh, name="my-tanh", bounds=None)
    lo, hi = LayerNormRNNMap(np.eye(3), activation=bounded).state_box()
    np.testing.assert_array_equal(lo, -np.ones(3))
    np.testing.assert_array_equal(hi, np.ones(3))
    assert LayerNormRNNMap(np.eye(3), activation=unbounded).state_box() is None


# ---------------------------------------------------------------------------------------
# PyTorch oracles (float64)
# ---------------------------------------------------------------------------------------


def _torch_params(mp, grad=True):
    """The map's weights as torch leaves; for the layer norm, gain and b are the ``weight`` and
    ``bias`` of a ``torch.nn.LayerNorm`` (kept under ``"_ln"``)."""
    torch = pytest.importorskip("torch")
    names = [k for k in mp.weight_names if getattr(mp, k) is not None]
    p = {k: torch.tensor(np.array(getattr(mp, k)), requires_grad=grad) for k in names}
    if isinstance(mp, LayerNormRNNMap):
        ln = torch.nn.LayerNorm(mp.dim, eps=mp.eps, elementwise_affine=True, dtype=torch.float64)
        with torch.no_grad():
            ln.weight.copy_(p["gain"])
            ln.bias.copy_(p["b"])
        ln.requires_grad_(grad)
        p.update(_ln=ln, gain=ln.weight, b=ln.bias)
    return p


def _torch_step(mp, p, x, u):
    """F(x, u) in torch: the residual as an expression, the layer norm as torch.nn.LayerNorm."""
    import torch

    a = x @ p["W_rec"].T if isinstance(mp, LayerNormRNNMap) else torch.tanh(x) @ p["W_rec"].T
    if u is not None:
        a = a + u @ p["W_in"].T
    if isinstance(mp, ResidualRNNMap):
        return x + a + p["b"]
    return torch.tanh(p["_ln"](a))


@pytest.mark.parametrize("make", [_residual, _layer_norm])
@pytest.mark.parametrize("m", [M, 0])
def test_step_vjp_and_param_vjp_equal_torch(make, m, rng):
    torch = pytest.importorskip("torch")
    mp = make(16, m=m)
    x, u = rng.uniform(-2, 2, (2, B, N)), rng.standard_normal((2, B, m))
    g = rng.standard_normal((2, B, N))
    p = _torch_params(mp)
    xt = torch.tensor(x, requires_grad=True)
    out = _torch_step(mp, p, xt, torch.tensor(u) if m else None)
    uu = u if m else None
    np.testing.assert_allclose(mp.step(x, uu), out.detach().numpy(), rtol=0, atol=1e-12)
    (out * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(mp.vjp(x, uu, g), xt.grad.numpy(), rtol=0, atol=1e-10)
    grads = mp.param_vjp(x, uu, g)
    assert sorted(grads) == sorted(k for k in mp.weight_names if k not in ("W_out", "b_out"))
    for k, v in grads.items():
        assert v.shape == getattr(mp, k).shape, k
        want = np.zeros(v.shape) if p[k].grad is None else p[k].grad.numpy()  # W_in (n, 0)
        np.testing.assert_allclose(v, want, rtol=0, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("make", [_residual, _layer_norm])
def test_jacobian_equals_torch_autograd(make, rng):
    torch = pytest.importorskip("torch")
    mp = make(17)
    p = _torch_params(mp, grad=False)
    x, u = rng.uniform(-2, 2, (3, N)), rng.standard_normal((3, M))
    J = mp.jacobian(x, u)
    for s in range(3):
        us = torch.tensor(u[s])
        want = torch.autograd.functional.jacobian(
            lambda xs, us=us: _torch_step(mp, p, xs, us), torch.tensor(x[s])
        )
        np.testing.assert_allclose(J[s], want.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("driven", [True, False])
@pytest.mark.parametrize("make", [_residual, _layer_norm])
def test_bptt_gradients_equal_torch_autograd(make, driven):
    """The generic BPTT path (rules 16–17) on a short sequence: loss, every weight's gradient and
    ∂E/∂x_0 against autograd through the unrolled torch expression."""
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(18)
    T, Bs, m = 8, 4, M if driven else 0
    mp = make(19, m=m)
    u = g.normal(size=(T, Bs, m)) if driven else None
    x0 = g.uniform(-1, 1, (Bs, N))
    labels = g.integers(0, 3, (T, Bs))
    kw = {} if driven else {"steps": T}
    res = bptt(mp, u, ReadoutLoss(labels, "softmax", "all"), x0=x0, **kw)
    p = _torch_params(mp)
    x = x0t = torch.tensor(x0, requires_grad=True)
    total = 0
    for t in range(T):
        x = _torch_step(mp, p, x, torch.tensor(u[t]) if driven else None)
        h = torch.tanh(x) if isinstance(mp, ResidualRNNMap) else x
        y = h @ p["W_out"].T + p["b_out"]
        total = total + torch.nn.functional.cross_entropy(y, torch.tensor(labels[t]), reduction="sum") / Bs
    total.backward()
    assert res.loss == pytest.approx(float(total.detach()), rel=1e-13)
    assert sorted(res.grads) == sorted(mp.weight_names)
    for k, v in res.grads.items():
        want = np.zeros(v.shape) if p[k].grad is None else p[k].grad.numpy()
        np.testing.assert_allclose(v, want, rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_allclose(res.deltas[0], x0t.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("make", [_residual, _layer_norm])
def test_bptt_state_loss_and_jacobian_norms(make, rng):
    """A StateLoss reads hidden(x) (σ(x) for the residual map, h for LN); the eq. 5 norms are
    those of explicit products of ``jacobian``."""
    mp = make(20)
    T = 5
    u, x0 = rng.standard_normal((T, 3, M)), rng.uniform(-1, 1, (3, N))
    res = bptt(mp, u, StateLoss(0.2, "all"), x0=x0, jacobian_norms=True)
    np.testing.assert_allclose(res.hidden, mp.hidden(res.states), rtol=1e-15)
    want = sum(np.sum((mp.hidden(res.states[t]) - 0.2) ** 2) for t in range(1, T + 1)) / 3
    assert res.loss == pytest.approx(want, rel=1e-12)
    P = np.broadcast_to(np.eye(N), (3, N, N))
    for t in range(1, T + 1):
        P = mp.jacobian(res.states[t - 1], u[t - 1]) @ P
    np.testing.assert_allclose(res.jacobian_norms[T, 0], np.linalg.norm(P, 2, axis=(-2, -1)), rtol=1e-11)


# ---------------------------------------------------------------------------------------
# Parameters, derivatives, validation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_residual, _layer_norm])
def test_param_derivative_of_entries_and_whole_arrays(make, rng):
    mp = make(21)
    x, u = rng.uniform(-2, 2, (B, N)), rng.standard_normal((B, M))
    names = ["W_rec[3,1]", "W_in[0,2]", "b[4]", "W_rec", "W_in", "b"]
    if isinstance(mp, LayerNormRNNMap):
        names += ["gain[2]", "gain"]
    h = 1e-6
    for name in names:
        p = np.asarray(mp.get_param(name))
        fd = (mp.with_params(**{name: p + h}).step(x, u) - mp.with_params(**{name: p - h}).step(x, u)) / (
            2 * h
        )
        got = mp.param_derivative(x, name, u)
        assert got.shape == (B, N)
        np.testing.assert_allclose(got, fd, rtol=0, atol=1e-8, err_msg=name)
    np.testing.assert_array_equal(mp.param_derivative(x, "W_in[1,1]"), 0.0)  # u = None: zero input
    np.testing.assert_array_equal(mp.param_derivative(x, "W_out[2,0]", u), np.zeros((B, N)))
    with pytest.raises(DynsysError, match="not a number"):
        mp.param_derivative(x, "activation")
    with pytest.raises(DynsysError, match="out of range"):
        mp.param_derivative(x, "W_rec[5,0]")
    with pytest.raises(DynsysError, match="unknown parameter 'weight_hh"):
        mp.param_derivative(x, "weight_hh[0,0]")


def test_parameters_are_read_only_and_with_params_validates(rng):
    ln = _layer_norm(22)
    assert LayerNormRNNMap.weight_names == ("W_rec", "W_in", "gain", "b", "W_out", "b_out")
    assert ResidualRNNMap.weight_names == ("W_rec", "W_in", "b", "W_out", "b_out")
    assert "eps" not in ln.param_names and ln.eps == 1e-5
    for k in ln.weight_names:
        assert not getattr(ln, k).flags.writeable, k
    ln2 = ln.with_params(**{"gain[1]": 3.0}, activation="sigmoid")
    assert ln2.gain[1] == 3.0 and ln.gain[1] != 3.0 and ln2.activation.name == "sigmoid" and ln2.eps == ln.eps
    np.testing.assert_array_equal(LayerNormRNNMap(np.eye(2)).gain, [1.0, 1.0])
    np.testing.assert_array_equal(LayerNormRNNMap(np.eye(2), gain=2.0, b=0.5).gain, [2.0, 2.0])
    with pytest.raises(DynsysError, match=r"gain must have shape \(5,\)"):
        ln.with_params(gain=np.ones(4))
    w = ln.weights()
    w["W_rec"][0, 0] = 99.0
    assert ln.W_rec[0, 0] != 99.0
    x = rng.uniform(-1, 1, (B, N))
    np.testing.assert_allclose(ln.readout(x), x @ ln.W_out.T + ln.b_out, rtol=1e-14)
    res = _residual(23)
    np.testing.assert_allclose(res.readout(x), np.tanh(x) @ res.W_out.T + res.b_out, rtol=1e-14)
    with pytest.raises(DynsysError, match="this LayerNormRNNMap has no readout"):
        _layer_norm(24, readout=False).readout(x)
    assert "LayerNormRNNMap(n=5, m=3, activation='tanh', eps=1e-05, readout=3)" == repr(ln)
    assert "ResidualRNNMap(n=5, m=3, activation='tanh', readout=3)" == repr(res)
    # the autonomous part of the residual map holds a constant input in its bias
    c = rng.standard_normal(M)
    np.testing.assert_allclose(res.autonomous(c).step(x), res.step(x, c), rtol=1e-14, atol=1e-15)


BAD = [
    ({"W_rec": np.zeros((3, 4))}, r"W_rec must be square, got shape \(3, 4\)"),
    ({"W_rec": np.zeros(3)}, "W_rec must have 2 dimension"),
    ({"W_rec": [[np.nan, 0], [0, 0]]}, "W_rec must be finite"),
    ({"W_in": np.zeros((3, 1))}, r"W_in must have shape \(2, m\)"),
    ({"W_in": [[np.inf], [0]]}, "W_in must be finite"),
    ({"b": np.zeros(3)}, r"b must have shape \(2,\)"),
    ({"activation": "swish"}, "unknown activation 'swish'; known: tanh"),
    ({"activation": 3}, "activation must be a name"),
    ({"W_out": np.zeros((1, 3))}, r"W_out must have shape \(k, 2\)"),
    ({"b_out": np.zeros(1)}, "b_out was given without W_out"),
]
LN_BAD = [
    ({"gain": np.zeros(3)}, r"gain must have shape \(2,\) to match W_rec, got \(3,\)"),
    ({"gain": [1.0, np.nan]}, "gain must be finite"),
    ({"eps": 0.0}, "eps must be > 0"),
    ({"eps": "small"}, "eps must be a number"),
    ({"eps": np.inf}, "eps must be finite"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [(c, k, m) for c in (ResidualRNNMap, LayerNormRNNMap) for k, m in BAD]
    + [(LayerNormRNNMap, k, m) for k, m in LN_BAD],
)
def test_bad_parameters_raise_one_line_errors(cls, kwargs, match):
    args = {"W_rec": np.eye(2), "W_in": np.zeros((2, 1)), **kwargs}
    with pytest.raises(DynsysError, match=match) as e:
        cls(**args)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("make", [_residual, _layer_norm])
def test_bad_states_and_inputs_are_refused_at_the_boundary(make):
    from dynsys.maps import iterate

    mp = make(25)
    with pytest.raises(DynsysError, match=r"x0 must have shape \(\.\.\., 5\)"):
        iterate(mp, np.zeros(4), inputs=np.zeros((3, M)))
    with pytest.raises(DynsysError, match="x0 must be finite"):
        iterate(mp, np.full(N, np.nan), inputs=np.zeros((3, M)))
    with pytest.raises(DynsysError, match="takes no input"):
        make(26, m=0).validate_input(np.zeros(1))


# ---------------------------------------------------------------------------------------
# Shapes for any sizes and batch shapes (hypothesis)
# ---------------------------------------------------------------------------------------


@given(
    kind=st.sampled_from(["residual", "ln"]),
    n=st.integers(1, 5),
    m=st.integers(0, 3),
    batch=st.lists(st.integers(1, 3), max_size=2),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_shapes_and_products_for_any_sizes(kind, n, m, batch, k, seed):
    g = np.random.default_rng(seed)
    mp = (_residual if kind == "residual" else _layer_norm)(seed, n=n, m=m)
    batch = tuple(batch)
    x = g.uniform(-2, 2, batch + (n,))
    u = g.standard_normal(batch + (m,)) if m else None
    y = mp.step(x, u)
    J = mp.jacobian(x, u)
    assert y.shape == batch + (n,) and J.shape == batch + (n, n)
    V = g.standard_normal(batch + (n, k))
    np.testing.assert_allclose(mp.tangent(x, u, V), J @ V, rtol=1e-11, atol=1e-12)
    y2, Z = mp.step_tangent(x, u, V)
    np.testing.assert_allclose(y2, y, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(Z, J @ V, rtol=1e-11, atol=1e-12)
    G = g.standard_normal((2,) + batch + (n,))  # many cotangents per state
    np.testing.assert_allclose(mp.vjp(x, u, G), np.einsum("...i,...ij->...j", G, J), rtol=1e-11, atol=1e-12)
    pv = mp.param_vjp(x, u, G)
    ref = Map.param_vjp(mp, x, u, G)  # the generic default through the analytic param_derivative
    for name in pv:
        assert pv[name].shape == np.shape(mp.get_param(name)), name
        np.testing.assert_allclose(pv[name], ref[name], rtol=1e-10, atol=1e-11, err_msg=name)
    box = mp.state_box(None if not m else np.zeros(m))
    if box is not None:
        assert np.all(y >= box[0] - 1e-12) and np.all(y <= box[1] + 1e-12)
