"""Conformance: every map through every rule of the Map contract (dynsys/maps/base.py).

Each ``check_*`` function tests one rule on one map and raises AssertionError when the map breaks
it. Required rules are checked against independent truths (finite differences, shapes,
immutability); every optional fast path is checked against the generic default of the base class
(1e-12), or, where the default is a finite difference, against it to its accuracy. The last tests
show that the checks fail on deliberately broken fast paths.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.maps import (
    DelayedLogisticMap,
    FixedInput,
    GRUMap,
    HenonMap,
    LayerNormRNNMap,
    Linearization,
    LogisticMap,
    LSTMMap,
    Map,
    NewtonMap,
    ResidualRNNMap,
    RNNMap,
    StackedMap,
    Tape,
    UnitMap,
    parameter_path,
)
from dynsys.maps.paths import _generic_path

TOL = 1e-12


def _rnn(seed=0, n=4, m=2, activation="tanh", readout=True):
    g = np.random.default_rng(seed)
    return RNNMap(
        g.standard_normal((n, n)) / np.sqrt(n) * 1.3,
        g.standard_normal((n, m)),
        0.3 * g.standard_normal(n),
        activation,
        g.standard_normal((3, n)) if readout else None,
    )


def _gated(cls, seed=0, n=4, m=2, readout=True):
    g = np.random.default_rng(seed)
    G = 3 if cls is GRUMap else 4
    return cls(
        g.standard_normal((G * n, m)) if m else None,
        1.5 * g.standard_normal((G * n, n)) / np.sqrt(n),
        0.5 * g.standard_normal(G * n),
        0.5 * g.standard_normal(G * n),
        g.standard_normal((3, n)) if readout else None,
    )


def _w(seed, *shapes):
    g = np.random.default_rng(seed)
    return [g.standard_normal(s) / np.sqrt(s[-1]) for s in shapes]


MAPS = {
    "rnn-tanh": _rnn(0),
    "rnn-sigmoid": _rnn(1, activation="sigmoid"),
    "rnn-relu": _rnn(2, activation="relu"),
    "rnn-softsign-autonomous": _rnn(3, m=0, activation="softsign", readout=False),
    "rnn-64": _rnn(4, n=70, m=3),
    "unit": UnitMap(w=5.0, b=-2.5, w_in=0.7),
    "unit-tanh": UnitMap(w=2.0, b=0.1, activation="tanh"),
    "logistic": LogisticMap(3.7),
    "henon": HenonMap(1.4, 0.3),
    "delayed-logistic": DelayedLogisticMap(2.1),
    "newton": NewtonMap(3),
    "fixed-input-rnn": FixedInput(_rnn(5), [0.4, -0.2]),
    "fixed-input-unit": FixedInput(UnitMap(w=5.0, b=-2.45), [0.3]),
    "gru": _gated(GRUMap, 7),
    "gru-autonomous": _gated(GRUMap, 8, n=3, m=0, readout=False),
    "lstm": _gated(LSTMMap, 9),
    "lstm-autonomous": _gated(LSTMMap, 10, n=3, m=0, readout=False),
    "fixed-input-gru": FixedInput(_gated(GRUMap, 11), [0.4, -0.2]),
    "residual": ResidualRNNMap(*(_w(12, (4, 4), (4, 2), (4,), (3, 4), (3,)))),
    "layernorm": LayerNormRNNMap(*(_w(13, (4, 4), (4, 2), (4,), (4,), (3, 4), (3,)))),
    "stacked-gru-lstm": StackedMap(
        (_gated(GRUMap, 14, readout=False), _gated(LSTMMap, 15, m=4, readout=False))
    ),
}
IDS = sorted(MAPS)


def _states(m: Map, g, shape=(5,)):
    x = g.uniform(-1.5, 1.5, size=shape + (m.dim,))
    if isinstance(m, LogisticMap | DelayedLogisticMap):  # the maps' own domain
        x = g.uniform(0.1, 0.9, size=shape + (m.dim,))
    if isinstance(m, NewtonMap):
        x = x + 0.3  # away from z = 0
    return x


def _inputs(m: Map, g, shape=(5,)):
    return None if m.input_dim == 0 else g.standard_normal(shape + (m.input_dim,))


# ---------------------------------------------------------------------------------------
# Required rules 1–8
# ---------------------------------------------------------------------------------------


def check_dims(m):
    assert isinstance(m.dim, int) and m.dim >= 1
    assert isinstance(m.input_dim, int) and m.input_dim >= 0


def check_step(m, g):
    x, u = _states(m, g, (3, 4)), _inputs(m, g, (3, 4))
    x0, u0 = x.copy(), None if u is None else u.copy()
    y = m.step(x, u)
    assert y.shape == (3, 4, m.dim)
    np.testing.assert_array_equal(x, x0)  # step never modifies its arguments
    if u is not None:
        np.testing.assert_array_equal(u, u0)
    # vectorized: the same as one state at a time
    for i in range(3):
        for j in range(4):
            ui = None if u is None else u[i, j]
            np.testing.assert_allclose(m.step(x[i, j], ui), y[i, j], rtol=TOL, atol=TOL)


def check_jacobian(m, g):
    x, u = _states(m, g), _inputs(m, g)
    J = m.jacobian(x, u)
    assert J.shape == (5, m.dim, m.dim)
    h = 1e-6
    for j in range(m.dim):
        e = np.zeros(m.dim)
        e[j] = h
        fd = (m.step(x + e, u) - m.step(x - e, u)) / (2 * h)
        np.testing.assert_allclose(J[..., :, j], fd, rtol=1e-6, atol=1e-7)


def _scalar_names(m):
    """Names of the vocabulary (rule 5) with a numeric scalar value: parameters and entries."""
    out = []
    for name in m.param_names:
        v = getattr(m, name)
        if isinstance(v, float):
            out.append(name)
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size and v.ndim <= 2:
            out.append(f"{name}[{', '.join('0' for _ in range(v.ndim))}]")
            out.append(f"{name}[{', '.join(str(s - 1) for s in v.shape)}]")
    return out


def check_params(m, g):
    for name in m.param_names:
        m.get_param(name)
    with pytest.raises(DynsysError, match="unknown parameter"):
        m.with_params(no_such_parameter=1.0)
    if not dataclasses.is_dataclass(m):
        return
    for name in _scalar_names(m):
        v = m.get_param(name)
        assert isinstance(v, float)
        m2 = m.with_params(**{name: v + 0.25})
        assert m2 is not m and m2.get_param(name) == pytest.approx(v + 0.25) and m.get_param(name) == v
        # every other entry and parameter is untouched
        for other in _scalar_names(m):
            if other != name:
                assert m2.get_param(other) == m.get_param(other)


def check_param_derivative(m, g):
    if not dataclasses.is_dataclass(m):
        return
    x, u = _states(m, g), _inputs(m, g)
    for name in _scalar_names(m):
        if isinstance(m, NewtonMap):
            continue  # k is an integer: no derivative
        p, h = m.get_param(name), 1e-5
        fd = (m.with_params(**{name: p + h}).step(x, u) - m.with_params(**{name: p - h}).step(x, u)) / (2 * h)
        np.testing.assert_allclose(m.param_derivative(x, name, u), fd, rtol=1e-6, atol=1e-7, err_msg=name)


def check_validation(m):
    with pytest.raises(DynsysError, match="shape"):
        m.validate_state(np.zeros(m.dim + 1), "x0")
    with pytest.raises(DynsysError, match="finite"):
        m.validate_state(np.full(m.dim, np.nan), "x0")
    if m.input_dim == 0:
        with pytest.raises(DynsysError, match="takes no input"):
            m.validate_input(np.zeros(1), "u")


# ---------------------------------------------------------------------------------------
# Optional fast paths 9–15 against the generic defaults
# ---------------------------------------------------------------------------------------


def check_tangent(m, g):
    x, u = _states(m, g), _inputs(m, g)
    for k in sorted({1, max(1, m.dim // 2), m.dim}):
        V = g.standard_normal((5, m.dim, k))
        np.testing.assert_allclose(m.tangent(x, u, V), Map.tangent(m, x, u, V), rtol=TOL, atol=TOL)
        # stacked frames over extra leading axes (product evidence propagates (S, B, n, k) stacks)
        W = g.standard_normal((2, 5, m.dim, k))
        np.testing.assert_allclose(m.tangent(x, u, W), m.jacobian(x, u) @ W, rtol=TOL, atol=TOL)


def check_step_tangent(m, g):
    x, u = _states(m, g), _inputs(m, g)
    V = g.standard_normal((5, m.dim, min(3, m.dim)))
    y, Z = m.step_tangent(x, u, V)
    np.testing.assert_allclose(y, m.step(x, u), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(Z, m.jacobian(x, u) @ V, rtol=TOL, atol=TOL)
    # frames with more batch axes than the states (and one state for many frames): as the default
    for xb, ub, W in (
        (x, u, g.standard_normal((2, 5, m.dim, 2))),
        (x[0], None if u is None else u[0], g.standard_normal((3, m.dim, 2))),
    ):
        y, Z = m.step_tangent(xb, ub, W)
        y0, Z0 = Map.step_tangent(m, xb, ub, W)
        assert y.shape == y0.shape and Z.shape == Z0.shape
        np.testing.assert_allclose(y, y0, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(Z, Z0, rtol=TOL, atol=TOL)


def check_linearize(m, g):
    x = _states(m, g, (6,))
    u = None if m.input_dim == 0 else g.standard_normal(m.input_dim)
    ws = {}
    lin = m.linearize(x, u, workspace=ws)
    J = m.jacobian(x, u)
    V = g.standard_normal((6, m.dim))
    np.testing.assert_allclose(lin.matvec(V), np.einsum("sij,sj->si", J, V), rtol=TOL, atol=TOL)
    rows = np.array([4, 1])
    np.testing.assert_allclose(lin.matvec(V[rows], rows), np.einsum("sij,sj->si", J[rows], V[rows]), rtol=TOL)
    np.testing.assert_allclose(lin.dense(), J, rtol=TOL, atol=TOL)
    M = lin.precondition(V)
    assert M.shape == V.shape
    if type(lin).precondition is not Linearization.precondition:
        # a map's preconditioner must be a fixed linear operator per state: M(a v + w) = a M v + M w
        W = g.standard_normal(V.shape)
        np.testing.assert_allclose(lin.precondition(2 * V + W), 2 * M + lin.precondition(W), rtol=1e-10)
    else:
        np.testing.assert_array_equal(M, V)  # the default: no preconditioning
    if m.matrix_free:
        # rows pass through the same operator
        np.testing.assert_allclose(lin.precondition(V[rows], rows), M[rows], rtol=TOL, atol=TOL)


def check_state_box(m, g):
    u = None if m.input_dim == 0 else g.standard_normal(m.input_dim)
    box = m.state_box(u)
    if box is None:
        return
    lo, hi = box
    assert lo.shape == hi.shape == (m.dim,) and np.all(lo <= hi)
    # invariant: every image lies in the box, including saturated states far out
    x = np.concatenate(
        [_states(m, g, (200,)), g.uniform(-1e3, 1e3, (200, m.dim)), g.choice([-1e6, 1e6], (50, m.dim))]
    )
    y = m.step(x, None if u is None else np.broadcast_to(u, x.shape[:-1] + u.shape))
    assert np.all(y >= lo - 1e-9) and np.all(y <= hi + 1e-9)
    # tight: each bound of each coordinate is approached by a saturated state
    rnn = m.as_rnn()
    if rnn is not None and rnn.activation.bounds is not None:
        s0, s1 = rnn.activation.bounds
        for i in range(m.dim):
            for bound, pick in ((lo, np.minimum), (hi, np.maximum)):
                W = rnn.W_rec[i]
                want = pick(W * s0, W * s1)
                xs = np.where(np.isclose(want, W * s1), 1e12, -1e12)  # σ(±1e12) = s1 / s0
                y = m.step(xs, u)
                assert y[i] == pytest.approx(bound[i], abs=1e-9)


def check_split_driven(m, g):
    if m.input_dim == 0:
        with pytest.raises(DynsysError, match="takes no input"):
            m.split_driven()
        return
    auto, K = m.split_driven()
    assert auto.input_dim == 0  # F̃ is autonomous
    x, u = _states(m, g), _inputs(m, g)
    if K is None:  # the generic split: F̃ = F(·, 0)
        np.testing.assert_allclose(auto.step(x), m.step(x, np.zeros_like(u)), rtol=TOL, atol=TOL)
    else:
        assert K.shape == (m.dim, m.input_dim)
        np.testing.assert_allclose(m.step(x, u), auto.step(x) + u @ K.T, rtol=TOL, atol=TOL)
        # the default's autonomous part agrees with the map's
        np.testing.assert_allclose(auto.step(x), Map.split_driven(m)[0].step(x), rtol=TOL, atol=TOL)


def _path_names(m):
    names = _scalar_names(m)
    if m.input_dim:
        names += ["u", "u[0]"]
    if isinstance(m, RNNMap):
        names += ["b", "b[1]", "W_rec[0,2]", "gain"]
    return names


def check_parameter_path(m, g):
    if not dataclasses.is_dataclass(m) or isinstance(m, NewtonMap):
        return
    u0 = None if m.input_dim == 0 else 0.3 * g.standard_normal(m.input_dim)
    for name in _path_names(m):
        fast = parameter_path(m, name, u=u0)
        fast_own = m.parameter_path(name, u=u0)
        ps = fast.p0 + np.array([-0.2, 0.0, 0.35])
        X = _states(m, g, (3, 4))
        if name == "gain":  # no generic counterpart: p ↦ p W_rec built by hand
            ref_maps = [RNNMap(p * m.W_rec, m.W_in, m.b, m.activation) for p in ps]
            for p, ref in zip(ps, ref_maps):
                np.testing.assert_allclose(fast.map_at(p).step(X[0]), ref.step(X[0], u0), rtol=TOL, atol=TOL)
            continue
        generic = _generic_path(m, name, u0, None)
        assert fast.p0 == pytest.approx(generic.p0, abs=TOL), name
        for i, p in enumerate(ps):
            a = fast.map_at(p).step(X[i], fast.u)
            b = generic.map_at(p).step(X[i], generic.u)
            np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=name)
            # ∂F/∂p: exact (fast) against the generic central difference
            np.testing.assert_allclose(fast.dfdp(X[i], p), generic.dfdp(X[i], p), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fast.step_batch(X, ps), generic.step_batch(X, ps), rtol=TOL, atol=TOL)
        if fast_own is None:
            assert type(fast) is type(generic)


def check_as_rnn(m, g):
    rnn = m.as_rnn()
    if rnn is None:
        return
    assert isinstance(rnn, RNNMap) and rnn.dim == m.dim
    x = _states(m, g)
    u = None if rnn.input_dim == 0 else _inputs(m, g)
    np.testing.assert_allclose(rnn.step(x, u), m.step(x, u), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(rnn.jacobian(x, u), m.jacobian(x, u), rtol=TOL, atol=TOL)


RULES = {
    "1-2 dims": lambda m, g: check_dims(m),
    "3 step": check_step,
    "4 jacobian": check_jacobian,
    "5-6 params": check_params,
    "7 param_derivative": check_param_derivative,
    "8 validation": lambda m, g: check_validation(m),
    "9 tangent": check_tangent,
    "10 step_tangent": check_step_tangent,
    "11 linearize": check_linearize,
    "12 state_box": check_state_box,
    "13 split_driven": check_split_driven,
    "14 parameter_path": check_parameter_path,
    "15 as_rnn": check_as_rnn,
    "19 periodic_box": lambda m, g: check_periodic_box(m, g),  # defined below
}


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("name", IDS)
def test_every_map_follows_every_rule(name, rule):
    RULES[rule](MAPS[name], np.random.default_rng(20130617))


def test_rnn_preconditioner_is_the_shifted_inverse(rng):
    """Independent truth: M_s = (c_k W − I)⁻¹ with c_k = (k − ½) γ/16 and k from the mean σ′ of x_s."""
    rnn = _rnn(6, n=12)
    x = rng.uniform(-2, 2, (7, 12))
    lin = rnn.linearize(x, None, workspace={})
    V = rng.standard_normal((7, 12))
    got = lin.precondition(V)
    gamma = float(rnn.activation.gamma)
    for s in range(7):
        k = np.clip(np.floor(rnn.activation.deriv(x[s]).mean() / (gamma / 16)) + 1, 1, 16)
        M = np.linalg.inv((k - 0.5) * gamma / 16 * rnn.W_rec - np.eye(12))
        np.testing.assert_allclose(got[s], M @ V[s], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------
# The checks fail on broken fast paths
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenTangent(RNNMap):
    def tangent(self, x, u, V):
        return super().tangent(x, u, V) * (1 + 1e-9)


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenStepTangent(RNNMap):
    def step_tangent(self, x, u, V):
        y, Z = super().step_tangent(x, u, V)
        return y, Z[..., ::-1]  # frame columns swapped


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenBox(RNNMap):
    def state_box(self, u=None):
        lo, hi = super().state_box(u)
        return lo + 0.01, hi


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenSplit(RNNMap):
    def split_driven(self):
        auto, K = super().split_driven()
        return auto, 0.5 * K


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenPath(RNNMap):
    def parameter_path(self, name, *, u=None, direction=None):
        path = super().parameter_path(name, u=u, direction=direction)
        if name == "b[1]":
            return dataclasses.replace(path, c1=2 * path.c1)
        return path


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenLinearization(RNNMap):
    def linearize(self, x, u=None, *, workspace=None):
        lin = super().linearize(x, u, workspace=workspace)
        lin.D = lin.D[::-1]  # another state's σ′
        return lin


@pytest.mark.parametrize(
    ("cls", "rule"),
    [
        (_BrokenTangent, "9 tangent"),
        (_BrokenStepTangent, "10 step_tangent"),
        (_BrokenLinearization, "11 linearize"),
        (_BrokenBox, "12 state_box"),
        (_BrokenSplit, "13 split_driven"),
        (_BrokenPath, "14 parameter_path"),
    ],
)
def test_a_broken_fast_path_fails_its_check(cls, rule):
    base = _rnn(0)
    broken = cls(base.W_rec, base.W_in, base.b, base.activation, base.W_out, base.b_out)
    RULES[rule](base, np.random.default_rng(1))  # the real map passes
    with pytest.raises(AssertionError):
        RULES[rule](broken, np.random.default_rng(1))


# ---------------------------------------------------------------------------------------
# Gradient rules 16–17 (hidden, vjp, param_vjp) against the generic defaults and finite differences
# ---------------------------------------------------------------------------------------

READOUT = ("W_out", "b_out")


def _vjp_names(m):
    """Rule 17: param_vjp covers weight_names without the readout names."""
    return [name for name in m.weight_names if name not in READOUT]


def _entries(value, g, limit=12):
    """Indices of ``value`` to check by finite differences: all, or a seeded sample of ``limit``."""
    idx = list(np.ndindex(np.shape(value)))
    if len(idx) > limit:
        idx = [idx[i] for i in g.choice(len(idx), limit, replace=False)]
    return idx


def check_hidden(m, g):
    x = _states(m, g)
    h = m.hidden(x)
    assert h.shape[:-1] == x.shape[:-1]
    G = g.standard_normal(h.shape)
    gx = m.hidden_vjp(x, G)
    assert gx.shape == x.shape
    eps = 1e-6
    for j in range(m.dim):
        e = np.zeros(m.dim)
        e[j] = eps
        fd = np.sum(G * (m.hidden(x + e) - m.hidden(x - e)), axis=-1) / (2 * eps)
        np.testing.assert_allclose(gx[..., j], fd, rtol=1e-6, atol=1e-7)
    if type(m).hidden is Map.hidden:  # the default reads the state itself
        np.testing.assert_array_equal(h, x)
        np.testing.assert_array_equal(gx, G)
    rnn = m.as_rnn()
    if rnn is not None:  # the generic BPTT path reads what the fast path reads
        np.testing.assert_allclose(h, rnn.hidden(x), rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gx, rnn.hidden_vjp(x, G), rtol=TOL, atol=TOL)


def check_vjp(m, g):
    x, u = _states(m, g), _inputs(m, g)
    G = g.standard_normal(x.shape)
    v = m.vjp(x, u, G)
    assert v.shape == x.shape
    np.testing.assert_allclose(v, Map.vjp(m, x, u, G), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(v, np.einsum("si,sij->sj", G, m.jacobian(x, u)), rtol=TOL, atol=TOL)
    # many cotangents per state (the temporal-contribution sweep): extra leading axes of g
    G2 = g.standard_normal((3,) + x.shape)
    v2 = m.vjp(x, u, G2)
    assert v2.shape == G2.shape
    for i in range(3):
        np.testing.assert_allclose(v2[i], m.vjp(x, u, G2[i]), rtol=TOL, atol=TOL)


def check_param_vjp(m, g):
    x, u = _states(m, g), _inputs(m, g)
    G = g.standard_normal(x.shape)
    names = _vjp_names(m)
    for name in m.weight_names:  # the trainable arrays are parameters (real, or an absent readout)
        assert name in m.param_names, name
        value = m.get_param(name)
        assert (value is None and name in READOUT) or np.asarray(value).dtype.kind == "f", name
    pv = m.param_vjp(x, u, G)
    assert sorted(pv) == sorted(names)
    for name in names:
        assert pv[name].shape == np.shape(m.get_param(name)), name
    # against the generic default: exact where param_derivative is analytic
    exact = type(m).param_derivative is not Map.param_derivative
    ref = Map.param_vjp(m, x, u, G)
    for name in names:
        tol = dict(rtol=TOL, atol=TOL) if exact else dict(rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(pv[name], ref[name], **tol, err_msg=name)
    # against central differences of <g, F(x, u; θ)> in each (sampled) entry of each weight
    h = 1e-5
    for name in names:
        value = np.asarray(m.get_param(name), dtype=float)
        for idx in _entries(value, g):
            entry = f"{name}[{','.join(map(str, idx))}]" if idx else name
            p = float(value[idx])
            fp = np.sum(G * m.with_params(**{entry: p + h}).step(x, u))
            fm = np.sum(G * m.with_params(**{entry: p - h}).step(x, u))
            assert pv[name][idx] == pytest.approx((fp - fm) / (2 * h), rel=1e-6, abs=1e-7), entry
    # extra leading axes of g are summed like the batch
    G2 = g.standard_normal((2,) + x.shape)
    pv2 = m.param_vjp(x, u, G2)
    parts = [m.param_vjp(x, u, G2[i]) for i in range(2)]
    for name in names:
        np.testing.assert_allclose(pv2[name], parts[0][name] + parts[1][name], rtol=1e-11, atol=TOL)


def check_tape(m, g):
    """Rule 18: a map's tape equals the generic :class:`Tape` (step, vjp, param_vjp) to 1e-12."""
    T, B = 4, 3
    inputs = None if m.input_dim == 0 else g.standard_normal((T, B, m.input_dim))
    x0 = _states(m, g, (B,))
    tapes = (m.tape(inputs, T, B, workspace={}), Tape(m, inputs, T, B))
    xs = [[x0], [x0]]
    for t in range(1, T + 1):
        for xl, tape in zip(xs, tapes):
            xl.append(np.array(tape.step(t, xl[-1])))
    np.testing.assert_allclose(np.array(xs[0]), np.array(xs[1]), rtol=TOL, atol=TOL)
    gs = [g.standard_normal((B, m.dim))] * 2
    for t in range(T, 0, -1):
        gs = [np.array(tape.vjp(t, gt)) for gt, tape in zip(gs, tapes)]
        np.testing.assert_allclose(gs[0], gs[1], rtol=1e-10, atol=1e-10)
    pa, pb = (tape.param_vjp() for tape in tapes)
    assert sorted(pa) == sorted(pb)
    for name in pa:
        np.testing.assert_allclose(pa[name], pb[name], rtol=1e-10, atol=1e-10)


def check_periodic_box(m, g):
    """Rule 19: None or a finite box; the state box when not overridden; it holds the attractors."""
    u = None if m.input_dim == 0 else g.standard_normal(m.input_dim)
    box = m.periodic_box(u)
    if type(m).periodic_box is Map.periodic_box:
        sb = m.state_box(u)
        assert (box is None) == (sb is None)
        if box is not None:
            np.testing.assert_array_equal(box[0], sb[0])
            np.testing.assert_array_equal(box[1], sb[1])
    if box is None:
        return
    lo, hi = (np.asarray(b) for b in box)
    assert lo.shape == hi.shape == (m.dim,) and np.all(np.isfinite(lo) & np.isfinite(hi)) and np.all(lo <= hi)
    # starts at the maps' state scale (far out, a GRU's saturated update gate makes transients
    # arbitrarily slow: they are not attractors, but 2000 steps would not tell)
    x = _states(m, g, (200,))
    uu = None if u is None else np.broadcast_to(u, x.shape[:-1] + u.shape)
    for _ in range(2000):  # long enough to reach the attractors: an invariant set lies in the box
        x = m.step(x, uu)
    assert np.all(x >= lo - 1e-6) and np.all(x <= hi + 1e-6)


GRADIENT_RULES = {
    "16 hidden": check_hidden,
    "17 vjp": check_vjp,
    "17 param_vjp": check_param_vjp,
    "18 tape": check_tape,
}


@pytest.mark.parametrize("rule", sorted(GRADIENT_RULES))
@pytest.mark.parametrize("name", IDS)
def test_every_map_follows_the_gradient_rules(name, rule):
    GRADIENT_RULES[rule](MAPS[name], np.random.default_rng(20130617))


def test_gradient_rules_on_a_parameter_grid(rng):
    """A UnitMap whose w and b are a (3, 2) grid: param_vjp sums to the grid's shape."""
    w, b = np.meshgrid([4.0, 5.0, 6.0], [-2.5, -2.0], indexing="ij")
    m = UnitMap(w=w, b=b, w_in=0.7)
    x, u = rng.uniform(-1, 1, (3, 2, 1)), rng.standard_normal((3, 2, 1))
    G = rng.standard_normal((3, 2, 1))
    pv = m.param_vjp(x, u, G)
    assert pv["w"].shape == (3, 2) and pv["b"].shape == (3, 2) and pv["w_in"].shape == ()
    ref = Map.param_vjp(m, x, u, G)  # the finite-difference default for grid entries
    for name in pv:
        np.testing.assert_allclose(pv[name], ref[name], rtol=1e-6, atol=1e-8, err_msg=name)
    s = m.activation.fn(x[..., 0])
    np.testing.assert_allclose(pv["w"], G[..., 0] * s, rtol=TOL)  # closed form, entry by entry
    assert float(pv["w_in"]) == pytest.approx(float(np.sum(G[..., 0] * u[..., 0])), rel=1e-13)
    np.testing.assert_allclose(m.vjp(x, u, G), Map.vjp(m, x, u, G), rtol=TOL)


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenVJP(RNNMap):
    def vjp(self, x, u, g):
        return super().vjp(x, u, g) * (1 + 1e-9)


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenParamVJP(RNNMap):
    def param_vjp(self, x, u, g):
        out = super().param_vjp(x, u, g)
        return {**out, "W_rec": out["W_rec"].T}  # the outer product the wrong way round


@dataclasses.dataclass(frozen=True, eq=False)
class _BrokenHiddenVJP(RNNMap):
    def hidden_vjp(self, x, g):
        return g  # σ′ forgotten


@pytest.mark.parametrize(
    ("cls", "rule"),
    [(_BrokenVJP, "17 vjp"), (_BrokenParamVJP, "17 param_vjp"), (_BrokenHiddenVJP, "16 hidden")],
)
def test_a_broken_gradient_rule_fails_its_check(cls, rule):
    base = _rnn(0)
    broken = cls(base.W_rec, base.W_in, base.b, base.activation, base.W_out, base.b_out)
    GRADIENT_RULES[rule](base, np.random.default_rng(1))
    with pytest.raises(AssertionError):
        GRADIENT_RULES[rule](broken, np.random.default_rng(1))
