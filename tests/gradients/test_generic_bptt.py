"""BPTT for any map (Map rules 16–17): the generic path of :func:`dynsys.gradients.bptt`.

``LeakyTanhMap`` below is a user's map that is not of the form of eq. 2 and implements only the
required rules (``step``, ``jacobian``; the base class gives ``param_derivative`` by central
differences and every gradient rule by its generic default). Its gradients are checked against
central differences of the loss, the eq. 3–4 invariant (temporal contributions sum to the
gradient), explicit Jacobian products (eq. 5) and PyTorch autograd; an RNNMap forced onto the
generic path gives what its fast path gives. The generic path runs through the map's tape (Map
rule 18), whose default is exactly the loop of rules 3 and 17.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, bptt, jacobian_product_norms, temporal_contributions
from dynsys.maps import FixedInput, Map, RNNMap, UnitMap
from dynsys.maps.base import Tape


# --- the user's map: rules 1–4 only -----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LeakyTanhMap(Map):
    """``x' = tanh(A x + B u) ⊙ s + (1 − s) ⊙ x``, optional readout ``y = W_out x + b_out``."""

    A: Any
    B: Any
    s: Any
    W_out: Any = None
    b_out: Any = None
    dim: int = field(init=False)
    input_dim: int = field(init=False)
    param_names = ("A", "B", "s", "W_out", "b_out")

    def __post_init__(self):
        for key in self.param_names:
            if getattr(self, key) is not None:
                object.__setattr__(self, key, np.array(getattr(self, key), dtype=float))
        object.__setattr__(self, "dim", self.A.shape[0])
        object.__setattr__(self, "input_dim", self.B.shape[1])

    def _z(self, x, u):
        z = x @ self.A.T
        return z if u is None else z + u @ self.B.T

    def step(self, x, u=None):
        return np.tanh(self._z(x, u)) * self.s + (1.0 - self.s) * x

    def jacobian(self, x, u=None):
        d = self.s * (1.0 - np.tanh(self._z(x, u)) ** 2)
        return d[..., :, None] * self.A + np.diag(1.0 - self.s)


# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactLeakyTanhMap(LeakyTanhMap):
    """The same map with an analytic ``param_derivative`` (rule 7): the generic gradients are exact."""

    def param_derivative(self, x, name, u=None):
        base, idx = self._param_ref(name)
        if base not in ("A", "B", "s") or not idx:
            return super().param_derivative(x, name, u)
        th = np.tanh(self._z(x, u))
        d = self.s * (1.0 - th**2)
        out = np.zeros(th.shape)
        i = idx[0]
        if base == "A":
            out[..., i] = d[..., i] * np.broadcast_to(x, th.shape)[..., idx[1]]
        elif base == "B" and u is not None:
            out[..., i] = d[..., i] * np.broadcast_to(u, th.shape[:-1] + u.shape[-1:])[..., idx[1]]
        elif base == "s":
            out[..., i] = th[..., i] - np.broadcast_to(x, th.shape)[..., i]
        return out


@dataclass(frozen=True, eq=False)
class SquashedReadMap(ExactLeakyTanhMap):
    """A readout of part of the state through a nonlinearity: ``hidden(x) = tanh(x[:2])`` (rule 16)."""

    def hidden(self, x):
        return np.tanh(np.asarray(x)[..., :2])

    def hidden_vjp(self, x, g):
        out = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(g)[:-1] + (self.dim,)))
        out[..., :2] = (1.0 - np.tanh(np.asarray(x)[..., :2]) ** 2) * g
        return out


@dataclass(frozen=True, eq=False)
class GenericRNN(RNNMap):
    """An RNNMap without its eq. 2 form: forced onto the generic path."""

    def as_rnn(self):
        return None


@dataclass(frozen=True, eq=False)
class GenericUnit(UnitMap):
    def as_rnn(self):
        return None


def make_map(seed, n=4, m=2, k=3, cls=LeakyTanhMap, k_h=None):
    g = np.random.default_rng(seed)
    k_h = n if k_h is None else k_h
    return cls(
        g.normal(0, 1.2 / np.sqrt(n), (n, n)),
        g.normal(0, 0.8, (n, m)),
        g.uniform(0.2, 0.9, n),
        g.normal(0, 0.7, (k, k_h)),
        g.normal(0, 0.1, k),
    )


def make_loss(g, kind, steps, T, B, k, k_h):
    S = {"last": 1, "all": T}[steps] if isinstance(steps, str) else len(steps)
    if kind == "softmax":
        return ReadoutLoss(g.integers(0, k, (S, B)), "softmax", steps)
    if kind == "mse":
        return ReadoutLoss(g.normal(size=(S, B, k)), "mse", steps)
    return StateLoss(g.uniform(-0.5, 0.5, (S, B, k_h)), steps)


def fd_grads(mp, u, loss, kw, names, h=1e-5):
    out = {}
    for name in names:
        P = np.asarray(mp.get_param(name), dtype=float)
        grad = np.zeros(P.shape)
        for idx in np.ndindex(P.shape):
            entry = f"{name}[{','.join(map(str, idx))}]"
            p = float(P[idx])
            plus = bptt(mp.with_params(**{entry: p + h}), u, loss, **kw).loss
            minus = bptt(mp.with_params(**{entry: p - h}), u, loss, **kw).loss
            grad[idx] = (plus - minus) / (2 * h)
        out[name] = grad
    return out


def assert_close_to_fd(got, fd, tol=1e-7):
    for name in fd:
        scale = max(1.0, float(np.max(np.abs(fd[name]), initial=0.0)))
        assert np.max(np.abs(got[name] - fd[name]), initial=0.0) <= tol * scale, name


def test_the_user_map_implements_only_the_required_rules():
    for name in ("param_derivative", "hidden", "hidden_vjp", "vjp", "param_vjp", "tangent", "as_rnn", "tape"):
        assert getattr(LeakyTanhMap, name) is getattr(Map, name), name
    mp = make_map(0)
    assert mp.weight_names == ("A", "B", "s", "W_out", "b_out")  # rule 17's default: real arrays
    assert mp.as_rnn() is None


@pytest.mark.parametrize("kind", ["softmax", "mse", "state"])
@pytest.mark.parametrize("steps", ["last", "all", [2, 4]])
@pytest.mark.parametrize("driven", [True, False])
def test_gradients_match_central_differences(kind, steps, driven):
    g = np.random.default_rng(7)
    T, B, n, k = 5, 3, 4, 3
    mp = make_map(1, n=n, m=2 if driven else 0, k=k)
    u = g.normal(size=(T, B, 2)) if driven else None
    loss = make_loss(g, kind, steps, T, B, k, n)
    kw = {"x0": g.normal(size=(B, n))} | ({} if driven else {"steps": T})
    res = bptt(mp, u, loss, **kw)
    names = ["A", "B", "s"] + (["W_out", "b_out"] if kind != "state" else [])
    assert sorted(res.grads) == sorted(names)
    assert res.grads["B"].shape == (n, 2 if driven else 0)
    assert_close_to_fd(res.grads, fd_grads(mp, u, loss, kw, [p for p in names if np.size(mp.get_param(p))]))
    # ∂E/∂x_0 against differences in x_0; the states are those of iterate's loop
    h = 1e-5
    for idx in [(0, 0), (B - 1, n - 1)]:
        xp, xm = kw["x0"].copy(), kw["x0"].copy()
        xp[idx] += h
        xm[idx] -= h
        fdx = (bptt(mp, u, loss, **{**kw, "x0": xp}).loss - bptt(mp, u, loss, **{**kw, "x0": xm}).loss) / (
            2 * h
        )
        assert abs(res.deltas[0][idx] - fdx) <= 1e-7 * max(1.0, abs(fdx))
    x = kw["x0"]
    for t in range(1, T + 1):
        x = mp.step(x, None if u is None else u[t - 1])
        np.testing.assert_array_equal(res.states[t], x)
    np.testing.assert_array_equal(res.hidden, res.states)  # hidden(x) = x by default


@pytest.mark.parametrize("kind", ["softmax", "mse", "state"])
def test_a_readout_of_part_of_the_state(kind):
    """``hidden`` of another size than the state (an LSTM reads h of [h, c]): losses read it."""
    g = np.random.default_rng(3)
    T, B, n, k = 4, 2, 4, 3
    mp = make_map(2, n=n, k=k, cls=SquashedReadMap, k_h=2)
    u = g.normal(size=(T, B, 2))
    loss = make_loss(g, kind, "all", T, B, k, 2)
    kw = {"x0": g.normal(size=(B, n))}
    res = bptt(mp, u, loss, **kw)
    assert res.hidden.shape == (T + 1, B, 2)
    np.testing.assert_allclose(res.hidden, np.tanh(res.states[..., :2]), rtol=1e-15)
    names = ["A", "B", "s"] + (["W_out", "b_out"] if kind != "state" else [])
    assert_close_to_fd(res.grads, fd_grads(mp, u, loss, kw, names))


@pytest.mark.parametrize("steps", ["all", "last", [1, 3]])
def test_temporal_contributions_sum_to_the_total_gradient(steps):
    g = np.random.default_rng(11)
    T, B, n, k = 6, 3, 4, 3
    mp = make_map(4, n=n, k=k)
    u = g.normal(size=(T, B, 2))
    loss = make_loss(g, "mse", steps, T, B, k, n)
    kw = {"x0": g.normal(size=(B, n))}
    res = bptt(mp, u, loss, **kw, contributions=True)
    tc = temporal_contributions(mp, u, loss, **kw)
    assert sorted(tc) == ["A", "B", "s"]
    tri = np.tril(np.ones((T, T), dtype=bool))
    for name in tc:
        assert tc[name].shape == (T, T) + np.shape(mp.get_param(name))
        np.testing.assert_allclose(tc[name].sum(axis=(0, 1)), res.grads[name], rtol=1e-12, atol=1e-14)
        assert np.all(tc[name][~tri] == 0)
        no_loss = np.setdiff1d(np.arange(1, T + 1), res.loss_steps) - 1
        assert np.all(tc[name][no_loss] == 0)
    norms = np.sqrt(sum((tc[p] ** 2).reshape(T, T, -1).sum(-1) for p in tc))
    np.testing.assert_allclose(res.contribution_norms[tri], norms[tri], rtol=1e-12, atol=1e-15)
    assert np.all(np.isnan(res.contribution_norms[~tri]))


def test_a_contribution_is_the_explicit_eq4_product():
    """(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂s) built by hand from ``jacobian`` and ``param_derivative``."""
    g = np.random.default_rng(5)
    T, B, n, k = 6, 1, 4, 3
    mp = make_map(5, n=n, k=k, cls=ExactLeakyTanhMap)
    u = g.normal(size=(T, B, 2))
    loss = make_loss(g, "mse", "all", T, B, k, n)
    res = bptt(mp, u, loss, x0=g.normal(size=(B, n)))
    tc = temporal_contributions(mp, u, loss, x0=res.states[0])
    t, kk = 5, 2
    y = res.states[t] @ mp.W_out.T + mp.b_out
    dE_dx = 2 * (y - loss.targets[t - 1]) @ mp.W_out / B  # (1, n)
    P = np.eye(n)
    for i in range(kk + 1, t + 1):
        P = mp.jacobian(res.states[i - 1][0], u[i - 1][0]) @ P
    dplus = np.stack([mp.param_derivative(res.states[kk - 1], f"s[{j}]", u[kk - 1])[0] for j in range(n)], -1)
    np.testing.assert_allclose(tc["s"][t - 1, kk - 1], dE_dx[0] @ P @ dplus, rtol=1e-12, atol=1e-15)


def test_jacobian_norms_are_norms_of_explicit_products():
    g = np.random.default_rng(9)
    T, B, n = 7, 3, 4
    mp = make_map(6, n=n)
    u = g.normal(size=(T, B, 2))
    res = bptt(mp, u, StateLoss(0.1), x0=g.normal(size=(B, n)), jacobian_norms=True)
    jn = res.jacobian_norms
    assert jn.shape == (T + 1, T + 1, B)
    for t, k in [(7, 0), (5, 2), (3, 3), (6, 5), (7, 1)]:
        P = np.broadcast_to(np.eye(n), (B, n, n))
        for i in range(k + 1, t + 1):
            P = mp.jacobian(res.states[i - 1], u[i - 1]) @ P
        np.testing.assert_allclose(jn[t, k], np.linalg.norm(P, 2, axis=(-2, -1)), rtol=1e-12)
    assert np.all(np.isnan(jn[np.triu_indices(T + 1, 1)]))
    np.testing.assert_allclose(jn, jacobian_product_norms(mp, res.states, u), rtol=1e-12, equal_nan=True)


CASES = [
    ("tanh", "softmax", "all", True),
    ("sigmoid", "mse", "last", True),
    ("softsign", "state", [2, 5], True),
    ("relu", "softmax", "last", True),
    ("tanh", "state", "all", False),
    ("linear", "mse", "all", False),
]


@pytest.mark.parametrize(("activation", "kind", "steps", "driven"), CASES)
def test_an_rnn_on_the_generic_path_equals_its_fast_path(activation, kind, steps, driven):
    g = np.random.default_rng(13)
    T, B, n, m, k = 7, 4, 5, 2 if driven else 0, 3
    w = (
        g.normal(0, 1.2 / np.sqrt(n), (n, n)),
        g.normal(0, 0.7, (n, m)) if m else None,
        g.normal(0, 0.3, n),
        activation,
        g.normal(0, 0.5, (k, n)),
        g.normal(0, 0.1, k),
    )
    fast, generic = RNNMap(*w), GenericRNN(*w)
    u = g.normal(size=(T, B, m)) if m else None
    loss = make_loss(g, kind, steps, T, B, k, n)
    kw = {"x0": g.normal(size=(B, n))} | ({} if m else {"steps": T})
    a = bptt(fast, u, loss, **kw, contributions=True, jacobian_norms=True)
    b = bptt(generic, u, loss, **kw, contributions=True, jacobian_norms=True)
    assert b.loss == pytest.approx(a.loss, rel=1e-12, abs=1e-14)
    assert sorted(a.grads) == sorted(b.grads)
    for name in a.grads:
        assert b.grads[name].shape == a.grads[name].shape, name
        np.testing.assert_allclose(b.grads[name], a.grads[name], rtol=1e-12, atol=1e-14, err_msg=name)
    for field_ in ("states", "hidden", "deltas"):
        np.testing.assert_allclose(getattr(b, field_), getattr(a, field_), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(a.loss_steps, b.loss_steps)
    np.testing.assert_allclose(
        b.contribution_norms, a.contribution_norms, rtol=1e-12, atol=1e-15, equal_nan=True
    )
    np.testing.assert_allclose(b.jacobian_norms, a.jacobian_norms, rtol=1e-12, equal_nan=True)
    ta, tb = temporal_contributions(fast, u, loss, **kw), temporal_contributions(generic, u, loss, **kw)
    for name in ta:
        np.testing.assert_allclose(tb[name], ta[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_unit_on_the_generic_path_equals_its_fast_path():
    g = np.random.default_rng(17)
    T, B = 8, 3
    u = g.normal(size=(T, B, 1))
    loss = StateLoss(g.uniform(0.2, 0.8, (T, B, 1)), "all")
    x0 = g.normal(size=(B, 1))
    a = bptt(UnitMap(w=5.0, b=-2.5, w_in=0.7), u, loss, x0=x0)
    b = bptt(GenericUnit(w=5.0, b=-2.5, w_in=0.7), u, loss, x0=x0)
    assert b.loss == pytest.approx(a.loss, rel=1e-12)
    assert sorted(b.grads) == ["b", "w", "w_in"] and b.grads["w"].shape == ()
    for mine, eq2 in (("w", "W_rec"), ("w_in", "W_in"), ("b", "b")):
        assert float(b.grads[mine]) == pytest.approx(float(a.grads[eq2].ravel()[0]), rel=1e-12)


@pytest.mark.parametrize("cls", [ExactLeakyTanhMap, LeakyTanhMap])
def test_gradients_match_torch_autograd(cls):
    """1e-10 elementwise with an analytic param_derivative (rule 7). With rules 1–4 only, the
    weights' gradients inherit the error of rule 7's default central difference (h = 1e-6,
    rounding ≈ eps/h ≈ 2e-10 per entry): 1e-9 relative to the largest entry; the readout's are exact."""
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(21)
    T, B, n, m, k = 12, 5, 4, 2, 3
    mp = make_map(8, n=n, m=m, k=k, cls=cls)
    u, x0 = g.normal(size=(T, B, m)), g.normal(size=(B, n))
    labels = g.integers(0, k, (T, B))
    res = bptt(mp, u, ReadoutLoss(labels, "softmax", "all"), x0=x0)
    names = ("A", "B", "s", "W_out", "b_out")
    tp = {p: torch.tensor(mp.get_param(p), requires_grad=True) for p in names}
    x, total = torch.tensor(x0), 0
    for t in range(T):
        x = torch.tanh(x @ tp["A"].T + torch.tensor(u[t]) @ tp["B"].T) * tp["s"] + (1 - tp["s"]) * x
        y = x @ tp["W_out"].T + tp["b_out"]
        total = total + torch.nn.functional.cross_entropy(y, torch.tensor(labels[t]), reduction="sum") / B
    grads = torch.autograd.grad(total, [tp[p] for p in names])
    assert res.loss == pytest.approx(float(total.detach()), rel=1e-13)
    for p, gt in zip(names, grads):
        gt = gt.numpy()
        if cls is ExactLeakyTanhMap or p in ("W_out", "b_out"):
            np.testing.assert_allclose(res.grads[p], gt, rtol=1e-10, atol=1e-13, err_msg=p)
        else:
            assert np.max(np.abs(res.grads[p] - gt)) <= 1e-9 * np.max(np.abs(gt)), p


def test_float32_and_a_fixed_input():
    g = np.random.default_rng(2)
    T, B = 6, 3
    mp = make_map(3)
    u = g.normal(size=(T, B, 2))
    loss = ReadoutLoss(g.integers(0, 3, (1, B)))
    x0 = g.normal(size=(B, 4))
    r64, r32 = bptt(mp, u, loss, x0=x0), bptt(mp, u, loss, x0=x0, dtype=np.float32)
    assert r32.states.dtype == np.float32 and all(v.dtype == np.float32 for v in r32.grads.values())
    for name in r64.grads:
        np.testing.assert_allclose(r32.grads[name], r64.grads[name], rtol=1e-4, atol=1e-5)
    # a FixedInput of the user's map: an autonomous map without weights of its own
    c = np.array([0.3, -0.2])
    fixed = bptt(FixedInput(mp, c), None, StateLoss(0.1, "all"), x0=x0, steps=T)
    driven = bptt(mp, np.broadcast_to(c, (T, B, 2)), StateLoss(0.1, "all"), x0=x0)
    assert fixed.grads == {} and fixed.loss == pytest.approx(driven.loss, rel=1e-14)
    np.testing.assert_allclose(fixed.deltas, driven.deltas, rtol=1e-13, atol=1e-15)


@dataclass(frozen=True, eq=False)
class _WrongKeys(ExactLeakyTanhMap):
    def param_vjp(self, x, u, g):
        return {"A": super().param_vjp(x, u, g)["A"]}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda mp, u: bptt(mp, u, StateLoss(0.0), h0=np.zeros(4)), "give the initial state as x0"),
        (
            lambda mp, u: bptt(mp.with_params(W_out=None, b_out=None), u, ReadoutLoss(np.zeros((1, 2), int))),
            "needs a map with a readout W_out; LeakyTanhMap has none",
        ),
        (
            lambda mp, u: bptt(mp, u, StateLoss(np.zeros((1, 2, 3)))),
            r"loss.targets must broadcast to \(1, 2, 4\)",
        ),
        (lambda mp, u: bptt(mp, u[..., :1], StateLoss(0.0)), r"inputs must have shape \(T, B, 2\)"),
        (
            lambda mp, u: bptt(mp.with_params(W_out=np.zeros((3, 2))), u, StateLoss(0.0)),
            r"W_out must have shape \(k, 4\)",
        ),
        (lambda mp, u: bptt(_WrongKeys(mp.A, mp.B, mp.s), u, StateLoss(0.0)), "param_vjp gave"),
        (lambda mp, u: bptt("not a map", u, StateLoss(0.0)), "rnn must be a dynsys Map"),
        (lambda mp, u: bptt(mp, None, StateLoss(0.0)), "steps is required"),
        (lambda mp, u: temporal_contributions(mp, u, None), "loss is required"),
    ],
)
def test_bad_input(call, match):
    mp = make_map(0)
    u = np.random.default_rng(0).normal(size=(3, 2, 2))
    with pytest.raises(DynsysError, match=match):
        call(mp, u)


# --- rule 18: the generic path runs through the map's tape ------------------------------------


def test_the_default_tape_is_exactly_the_loop_of_step_vjp_and_param_vjp():
    """Tape (rule 18's default) against rules 3 and 17 called by hand: bit for bit, the backward
    pass from an earlier step than the last (t_max < T); the tape keeps copies of what it is given."""
    g = np.random.default_rng(31)
    T, B, n, top = 5, 3, 4, 3
    mp = make_map(9, n=n, cls=ExactLeakyTanhMap)
    u = g.normal(size=(T, B, 2))
    xs = g.normal(size=(T + 1, B, n))
    G = g.normal(size=(T, B, n))
    tape = mp.tape(u, T, B)
    assert type(tape) is Tape
    x_in, g_in = xs.copy(), G.copy()
    for t in range(1, T + 1):
        np.testing.assert_array_equal(tape.step(t, x_in[t - 1]), mp.step(xs[t - 1], u[t - 1]))
    x_in[:] = np.nan  # the tape copied the states it was given
    for t in range(top, 0, -1):
        np.testing.assert_array_equal(tape.vjp(t, g_in[t - 1]), mp.vjp(xs[t - 1], u[t - 1], G[t - 1]))
        g_in[t - 1] = np.nan
    got, want = tape.param_vjp(), mp.param_vjp(xs[:top], u[:top], G[:top])
    assert sorted(got) == sorted(want) == ["A", "B", "s"]
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    # no input: u_t = None
    auto = make_map(9, n=n, m=0, cls=ExactLeakyTanhMap)
    tape = auto.tape(None, 2, B)
    np.testing.assert_array_equal(tape.step(1, xs[0]), auto.step(xs[0]))
    np.testing.assert_array_equal(tape.vjp(1, G[0]), auto.vjp(xs[0], None, G[0]))
    assert tape.param_vjp()["B"].shape == (n, 0)


@dataclass(frozen=True, eq=False)
class _SpyTapeMap(ExactLeakyTanhMap):
    """Records the calls bptt makes on its tape (rule 18) and passes them to the default."""

    def tape(self, inputs, steps, batch, *, workspace=None):
        spy = _SpyTape(self, inputs, steps, batch)
        CALLS.append(spy.calls)
        return spy


class _SpyTape(Tape):
    def __init__(self, map, inputs, steps, batch):
        super().__init__(map, inputs, steps, batch)
        self.calls = []

    def step(self, t, x):
        self.calls.append(("step", t))
        return super().step(t, x)

    def vjp(self, t, g):
        self.calls.append(("vjp", t))
        return super().vjp(t, g)

    def param_vjp(self):
        self.calls.append(("param_vjp",))
        return {name: 2.0 * value for name, value in super().param_vjp().items()}  # visibly its own


CALLS: list = []


@pytest.mark.parametrize("steps", ["all", [2, 4]])
def test_bptt_on_the_generic_path_runs_through_the_tape(steps):
    g = np.random.default_rng(33)
    T, B, n, k = 6, 2, 4, 3
    plain = make_map(10, n=n, k=k, cls=ExactLeakyTanhMap)
    spy = _SpyTapeMap(plain.A, plain.B, plain.s, plain.W_out, plain.b_out)
    u, x0 = g.normal(size=(T, B, 2)), g.normal(size=(B, n))
    loss = make_loss(g, "mse", steps, T, B, k, n)
    CALLS.clear()
    a, b = bptt(spy, u, loss, x0=x0, workspace={}), bptt(plain, u, loss, x0=x0)
    last = T if steps == "all" else 4
    assert CALLS == [
        [("step", t) for t in range(1, T + 1)] + [("vjp", t) for t in range(last, 0, -1)] + [("param_vjp",)]
    ]
    for name in ("A", "B", "s"):  # the weights' gradients are the tape's
        np.testing.assert_array_equal(a.grads[name], 2.0 * b.grads[name])
    for name in ("W_out", "b_out"):
        np.testing.assert_array_equal(a.grads[name], b.grads[name])
    np.testing.assert_array_equal(a.deltas, b.deltas)
    np.testing.assert_array_equal(a.states, b.states)
    assert np.all(b.deltas[last + 1 :] == 0.0)


def test_final_jacobian_norms_equal_the_last_row_of_all_products():
    """‖∂x_T/∂x_k‖ from the rescaled left products equals jacobian_product_norms' row T (GRU)."""
    from dynsys.gradients import final_jacobian_norms, jacobian_product_norms
    from dynsys.maps import GRUMap, iterate

    g = np.random.default_rng(3)
    gru = GRUMap(g.normal(size=(12, 2)), g.normal(size=(12, 4)), g.normal(size=12), g.normal(size=12))
    u = g.normal(size=(9, 3, 2))
    states = iterate(gru, np.zeros((3, 4)), u).states
    full = jacobian_product_norms(gru, states, u)
    got = final_jacobian_norms(gru, u)
    np.testing.assert_allclose(got, full[9, 9 - np.arange(9)], rtol=1e-10)
    with pytest.raises(DynsysError, match=r"^inputs must have shape \(T, B, 2\)"):
        final_jacobian_norms(gru, np.zeros((9, 3)))
