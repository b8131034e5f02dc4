"""StackedMap: L layers as one map, through every rule of the Map contract and against independent truths.

The conformance checks of ``tests/maps/test_contract.py`` (its ``RULES`` and ``GRADIENT_RULES``)
run on stacks of every kind of layer; beyond them: the Jacobian's block structure and central
differences, the input derivative of each layer (exact, or differenced for a user's map),
nesting (a stack inside a stack is the flat stack), the PyTorch-style vocabulary, BPTT against
central differences of the loss, and the bad-input messages.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, bptt
from dynsys.maps import FixedInput, GRUMap, LSTMMap, Map, RNNMap, iterate
from dynsys.maps.stacked import StackedMap


def _contract():
    spec = importlib.util.spec_from_file_location(
        "stacked_contract", Path(__file__).with_name("test_contract.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CONTRACT = _contract()


@dataclass(frozen=True, eq=False)
class SquashedInputMap(Map):
    """A user's layer, rules 1–4 only: ``x' = tanh(A x + B u) + c`` (the input enters non-additively)."""

    A: Any
    B: Any
    c: Any
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("A", "B", "c")

    def __post_init__(self):
        for key in self.param_names:
            object.__setattr__(self, key, np.array(getattr(self, key), dtype=float))
        object.__setattr__(self, "dim", self.A.shape[0])
        object.__setattr__(self, "input_dim", self.B.shape[1])

    def _z(self, x, u):
        z = x @ self.A.T
        return z if u is None else z + u @ self.B.T

    def step(self, x, u=None):
        return np.tanh(self._z(x, u)) + self.c

    def jacobian(self, x, u=None):
        return (1.0 - np.tanh(self._z(x, u)) ** 2)[..., :, None] * self.A


def gated(cls, g, n, m):
    G = 3 if cls is GRUMap else 4
    return cls(
        g.standard_normal((G * n, m)) if m else None,
        1.5 * g.standard_normal((G * n, n)) / np.sqrt(n),
        0.5 * g.standard_normal(G * n),
        0.5 * g.standard_normal(G * n),
    )


def rnn(g, n, m, activation="tanh"):
    return RNNMap(
        1.3 * g.standard_normal((n, n)) / np.sqrt(n),
        g.standard_normal((n, m)) if m else None,
        0.3 * g.standard_normal(n),
        activation,
    )


def user(g, n, m):
    return SquashedInputMap(
        g.normal(0, 1 / np.sqrt(n), (n, n)), g.normal(0, 0.7, (n, m)), g.normal(0, 0.2, n)
    )


def _stacks():
    g = np.random.default_rng(14)
    out = {
        "rnn-rnn": StackedMap([rnn(g, 3, 2), rnn(g, 4, 3)], W_out=g.standard_normal((2, 4))),
        "gru-lstm-rnn": StackedMap(
            [gated(GRUMap, g, 3, 2), gated(LSTMMap, g, 2, 3), rnn(g, 3, 2, "sigmoid")],
            W_out=g.standard_normal((2, 3)),
            b_out=g.standard_normal(2),
        ),
        "lstm-lstm-autonomous": StackedMap([gated(LSTMMap, g, 2, 0), gated(LSTMMap, g, 3, 2)]),
        "nested": StackedMap(
            [gated(GRUMap, g, 2, 2), StackedMap([rnn(g, 3, 2), gated(GRUMap, g, 2, 3)])],
            W_out=g.standard_normal((1, 2)),
        ),
        "user-layer": StackedMap([gated(GRUMap, g, 3, 2), user(g, 2, 3), rnn(g, 2, 2)]),
    }
    out["fixed-input-stack"] = FixedInput(out["gru-lstm-rnn"], [0.3, -0.1])
    return out


STACKS = _stacks()
IDS = sorted(STACKS)


@pytest.mark.parametrize("rule", sorted(CONTRACT.RULES) + sorted(CONTRACT.GRADIENT_RULES))
@pytest.mark.parametrize("name", IDS)
def test_every_stack_follows_every_rule(name, rule):
    check = CONTRACT.RULES.get(rule) or CONTRACT.GRADIENT_RULES[rule]
    check(STACKS[name], np.random.default_rng(20130617))


def _inner(m):
    return m.map if isinstance(m, FixedInput) else m


def test_the_input_derivative_of_each_layer_is_exact_where_it_can_be():
    kinds = {name: [None if d is None else d.kind for d in _inner(m)._inputs] for name, m in STACKS.items()}
    assert kinds["rnn-rnn"] == ["additive", "additive"]  # W_in (rule 13)
    assert kinds["gru-lstm-rnn"] == ["gated", "gated", "additive"]
    assert kinds["lstm-lstm-autonomous"] == [None, "gated"]
    assert kinds["nested"] == ["gated", "own"]  # a StackedMap gives its own input derivative
    assert kinds["user-layer"] == ["gated", "differenced", "additive"]  # the last resort


@pytest.mark.parametrize("name", [n for n in IDS if _inner(STACKS[n]).input_dim])
def test_input_jacobian_and_vjp_equal_central_differences(name, rng):
    m = _inner(STACKS[name])
    x, u = rng.uniform(-1.5, 1.5, (5, m.dim)), rng.standard_normal((5, m.input_dim))
    K = m.input_jacobian(x, u)
    assert K.shape == (5, m.dim, m.input_dim)
    h = 1e-6
    for j in range(m.input_dim):
        e = np.zeros(m.input_dim)
        e[j] = h
        fd = (m.step(x, u + e) - m.step(x, u - e)) / (2 * h)
        np.testing.assert_allclose(K[..., j], fd, rtol=1e-6, atol=1e-8)
    G = rng.standard_normal((3, 5, m.dim))  # extra leading axes of the cotangents
    np.testing.assert_allclose(m.input_vjp(x, u, G), np.einsum("asi,sij->asj", G, K), rtol=1e-10, atol=1e-12)
    # u = None is the zero input
    np.testing.assert_allclose(m.input_jacobian(x), m.input_jacobian(x, np.zeros(m.input_dim)), rtol=1e-14)


@pytest.mark.parametrize("name", ["rnn-rnn", "gru-lstm-rnn", "nested"])
def test_jacobian_is_block_lower_triangular_and_equals_central_differences(name, rng):
    m = STACKS[name]
    x, u = rng.uniform(-1.5, 1.5, (4, m.dim)), rng.standard_normal((4, m.input_dim))
    J = m.jacobian(x, u)
    h = 1e-5
    fd = np.stack([(m.step(x + h * e, u) - m.step(x - h * e, u)) / (2 * h) for e in np.eye(m.dim)], axis=-1)
    np.testing.assert_allclose(J, fd, rtol=1e-8, atol=1e-9)  # exact layers: only the O(h²) error
    for l, layer in enumerate(m.layers):  # a layer never reads the old state of a layer above it
        o = m.offsets[l]
        assert np.all(J[:, o : o + layer.dim, o + layer.dim :] == 0)
        np.testing.assert_allclose(
            J[:, o : o + layer.dim, o : o + layer.dim],
            layer.jacobian(x[:, o : o + layer.dim], m._forward(x, u)[1][l]),
            rtol=1e-14,
        )


def test_a_nested_stack_is_the_flat_stack(rng):
    nested = STACKS["nested"]
    inner = nested.layers[1]
    flat = StackedMap([nested.layers[0], *inner.layers], W_out=nested.W_out)
    assert flat.dim == nested.dim and flat.offsets == (0, 2, 5)
    x, u = rng.uniform(-1, 1, (6, flat.dim)), rng.standard_normal((6, 2))
    G = rng.standard_normal((6, flat.dim))
    np.testing.assert_allclose(nested.step(x, u), flat.step(x, u), rtol=1e-14)
    np.testing.assert_allclose(nested.jacobian(x, u), flat.jacobian(x, u), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(nested.vjp(x, u, G), flat.vjp(x, u, G), rtol=1e-13, atol=1e-15)
    pn, pf = nested.param_vjp(x, u, G), flat.param_vjp(x, u, G)
    renamed = {"weight_ih_l0": "weight_ih_l0", "W_rec_l0_l1": "W_rec_l1", "weight_hh_l1_l1": "weight_hh_l2"}
    for a, b in renamed.items():
        np.testing.assert_allclose(pn[a], pf[b], rtol=1e-13, atol=1e-15)


def test_one_layer_is_the_layer(rng):
    layer = gated(LSTMMap, rng, 3, 2)
    W_out = rng.standard_normal((2, 3))
    one = StackedMap([layer], W_out=W_out)
    same = layer.with_params(W_out=W_out)
    x, u, G = rng.uniform(-1, 1, (5, 6)), rng.standard_normal((5, 2)), rng.standard_normal((5, 6))
    np.testing.assert_array_equal(one.step(x, u), layer.step(x, u))
    np.testing.assert_array_equal(one.jacobian(x, u), layer.jacobian(x, u))
    np.testing.assert_array_equal(one.vjp(x, u, G), layer.vjp(x, u, G))
    np.testing.assert_array_equal(one.readout(x), same.readout(x))
    assert {k[: -len("_l0")]: v.shape for k, v in one.param_vjp(x, u, G).items()} == {
        k: v.shape for k, v in layer.param_vjp(x, u, G).items()
    }


def test_layer_l_reads_the_new_hidden_state_of_layer_l_minus_1(rng):
    """The defining recursion, written out with the layers' own steps."""
    m = STACKS["gru-lstm-rnn"]
    x, u = rng.uniform(-1, 1, (3, m.dim)), rng.standard_normal((3, 2))
    a, b, c = m.layers
    y0 = a.step(x[:, :3], u)
    y1 = b.step(x[:, 3:7], y0)  # the GRU's hidden is its state
    y2 = c.step(x[:, 7:], y1[:, :2])  # the LSTM's hidden is h, the first half of [h, c]
    np.testing.assert_array_equal(m.step(x, u), np.concatenate([y0, y1, y2], axis=-1))
    np.testing.assert_array_equal(m.hidden(x), c.hidden(x[:, 7:]))  # σ of the last RNN layer
    traj = iterate(m, x[0], rng.standard_normal((4, 2)))
    assert traj.states.shape == (5, m.dim)


def test_the_vocabulary_is_pytorchs(rng):
    m = STACKS["gru-lstm-rnn"]
    assert m.param_names == (
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "W_rec_l2", "W_in_l2", "b_l2", "activation_l2", "W_out", "b_out",
    )  # fmt: skip
    assert m.weight_names == tuple(p for p in m.param_names if p != "activation_l2")
    np.testing.assert_array_equal(m.weight_hh_l1, m.layers[1].weight_hh)
    assert m.get_param("weight_hh_l1[2,1]") == m.layers[1].weight_hh[2, 1]
    assert m.get_param("activation_l2").name == "sigmoid"
    m2 = m.with_params(**{"weight_hh_l1[2,1]": 7.0, "b_l2[0]": -1.0, "W_out[1,0]": 3.0})
    assert m2.layers[1].weight_hh[2, 1] == 7.0 and m2.layers[2].b[0] == -1.0 and m2.W_out[1, 0] == 3.0
    assert m2.layers[0] is m.layers[0] and m.layers[1].weight_hh[2, 1] != 7.0  # m is untouched
    assert m.with_params(activation_l2="tanh").layers[2].activation.name == "tanh"
    with pytest.raises(DynsysError, match="unknown parameter 'weight_hh'"):
        m.get_param("weight_hh")
    with pytest.raises(DynsysError, match=r"param 'bias_hh_l0\[9\]' is out of range"):
        m.with_params(**{"bias_hh_l0[9]": 0.0})
    with pytest.raises(DynsysError, match=r"^layer 1 \(LSTMMap\): weight_hh must have shape \(4n, n\)"):
        m.with_params(weight_hh_l1=np.zeros((3, 2)))
    with pytest.raises(AttributeError):
        m.no_such_attribute  # noqa: B018
    # the whole-array derivative a gated layer knows (its direction of all entries)
    x, u = rng.uniform(-1, 1, (2, m.dim)), rng.standard_normal((2, 2))
    h = 1e-6
    W = m.layers[0].weight_hh
    fd = (m.with_params(weight_hh_l0=W + h).step(x, u) - m.with_params(weight_hh_l0=W - h).step(x, u)) / (
        2 * h
    )
    np.testing.assert_allclose(m.param_derivative(x, "weight_hh_l0", u), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(m.param_derivative(x, "W_out[0,0]", u), np.zeros((2, m.dim)))


@pytest.mark.parametrize("kind", ["softmax", "mse", "state"])
def test_bptt_through_a_stack_equals_central_differences(kind):
    g = np.random.default_rng(5)
    T, B = 5, 3
    m = STACKS["gru-lstm-rnn"]
    u, x0 = g.standard_normal((T, B, 2)), g.uniform(-1, 1, (B, m.dim))
    loss = {
        "softmax": ReadoutLoss(g.integers(0, 2, (T, B)), "softmax", "all"),
        "mse": ReadoutLoss(g.standard_normal((1, B, 2)), "mse", "last"),
        "state": StateLoss(g.uniform(-0.5, 0.5, (2, B, 3)), [2, 5]),
    }[kind]
    res = bptt(m, u, loss, x0=x0)
    readout = ["W_out", "b_out"] if kind != "state" else []
    assert sorted(res.grads) == sorted(
        p for p in m.weight_names if p in readout or p not in ("W_out", "b_out")
    )
    h = 1e-5
    for name, idx in [
        ("weight_hh_l0", (4, 1)),
        ("bias_ih_l1", (7,)),
        ("W_rec_l2", (2, 0)),
        ("W_in_l2", (1, 1)),
    ]:
        entry = f"{name}[{','.join(map(str, idx))}]"
        p = m.get_param(entry)
        plus = bptt(m.with_params(**{entry: p + h}), u, loss, x0=x0).loss
        minus = bptt(m.with_params(**{entry: p - h}), u, loss, x0=x0).loss
        assert res.grads[name][idx] == pytest.approx((plus - minus) / (2 * h), rel=1e-6, abs=1e-9), entry
    for idx in [(0, 0), (B - 1, m.dim - 1), (1, 5)]:
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = (bptt(m, u, loss, x0=xp).loss - bptt(m, u, loss, x0=xm).loss) / (2 * h)
        assert res.deltas[0][idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda g: StackedMap(rnn(g, 2, 1)), r"^layers must be a sequence of maps, got RNNMap$"),
        (lambda g: StackedMap([]), r"^layers must hold at least one map, got none$"),
        (lambda g: StackedMap([rnn(g, 2, 1), "gru"]), r"^layers\[1\] must be a dynsys Map, got str$"),
        (
            lambda g: StackedMap([rnn(g, 2, 1), gated(GRUMap, g, 2, 3)]),
            r"^layers\[1\]\.input_dim must equal the hidden size of layers\[0\] \(2: what it reads\), got 3$",
        ),
        (
            lambda g: StackedMap(
                [gated(LSTMMap, g, 2, 1), rnn(g, 3, 4)]
            ),  # an LSTM's hidden is h (2), not [h, c]
            r"hidden size of layers\[0\] \(2: what it reads\), got 4$",
        ),
        (
            lambda g: StackedMap([rnn(g, 2, 1).with_params(W_out=np.ones((1, 2))), rnn(g, 2, 2)]),
            r"^layers\[0\] \(RNNMap\) has a readout W_out; the layers of a StackedMap carry none",
        ),
        (
            lambda g: StackedMap([rnn(g, 2, 1), rnn(g, 3, 2)], W_out=np.ones((1, 2))),
            r"^W_out must have shape \(k, 3\) to read the last layer's hidden state, got \(1, 2\)$",
        ),
        (lambda g: StackedMap([rnn(g, 2, 1)], b_out=np.ones(1)), "b_out was given without W_out"),
    ],
)
def test_bad_layers_are_refused(make, match):
    with pytest.raises(DynsysError, match=match):
        make(np.random.default_rng(0))


def test_an_autonomous_stack_has_no_input_derivative(rng):
    m = STACKS["lstm-lstm-autonomous"]
    with pytest.raises(DynsysError, match="takes no input"):
        m.input_jacobian(np.zeros(m.dim))
    with pytest.raises(DynsysError, match="takes no input"):
        m.input_vjp(np.zeros(m.dim), None, np.zeros(m.dim))
    assert (
        repr(m)
        == "StackedMap([LSTMMap(n=2, m=0, readout=none), LSTMMap(n=3, m=2, readout=none)], readout=none)"
    )
