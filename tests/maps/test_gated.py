"""GRUMap and LSTMMap (dynsys/maps/gated.py) against PyTorch, finite differences and closed forms.

Oracles: ``torch.nn.GRUCell`` / ``LSTMCell`` in float64 (steps to 1e-12; Jacobians, state and
parameter VJPs through autograd to 1e-10), central differences without torch (Jacobians and
parameter derivatives), and fixed points derived by hand. The cells' tapes (Map rule 18: BPTT over
a sequence) against the generic Tape and, through ``bptt``, against autograd over the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import dynsys
from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, StateLoss, bptt, temporal_contributions
from dynsys.maps import GRUMap, LSTMMap, Map
from dynsys.maps.base import Tape

N, M, B = 5, 3, 7
CELLS = {"gru": (GRUMap, 3), "lstm": (LSTMMap, 4)}
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _params(gates, n, m, g, scale=1.0):
    return {
        "weight_ih": scale * g.standard_normal((gates * n, m)),
        "weight_hh": scale * g.standard_normal((gates * n, n)) / np.sqrt(n),
        "bias_ih": 0.5 * g.standard_normal(gates * n),
        "bias_hh": 0.5 * g.standard_normal(gates * n),
    }


def _make(kind, g, n=N, m=M, **extra):
    cls, gates = CELLS[kind]
    p = _params(gates, n, m, g)
    return cls(**p, **extra), p


def _torch_cell(kind, p, n, m):
    torch = pytest.importorskip("torch")
    cls = torch.nn.GRUCell if kind == "gru" else torch.nn.LSTMCell
    cell = cls(m, n, dtype=torch.float64)
    with torch.no_grad():
        for k, v in p.items():
            getattr(cell, k).copy_(torch.from_numpy(v))
    return cell


def _torch_step(kind, cell, x, u, n):
    """F(x, u) through the torch cell, on the state layout of the map (LSTM: [h, c])."""
    if kind == "gru":
        return cell(u, x)
    import torch

    h, c = cell(u, (x[..., :n], x[..., n:]))
    return torch.cat([h, c], dim=-1)


def _states(m, g, shape=(B,)):
    return g.uniform(-1.5, 1.5, shape + (m.dim,))


def _fd_jacobian(m, x, u, h=1e-6):
    cols = []
    for j in range(m.dim):
        e = np.zeros(m.dim)
        e[j] = h
        cols.append((m.step(x + e, u) - m.step(x - e, u)) / (2 * h))
    return np.stack(cols, axis=-1)


# ---------------------------------------------------------------------------------------
# PyTorch oracles
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("m_in", [M, 0])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_step_equals_the_torch_cell(kind, m_in, rng):
    torch = pytest.importorskip("torch")
    gmap, p = _make(kind, rng, m=m_in)
    cell = _torch_cell(kind, p, N, m_in)
    x, u = _states(gmap, rng), rng.standard_normal((B, m_in))
    want = _torch_step(kind, cell, torch.from_numpy(x), torch.from_numpy(u), N).detach().numpy()
    got = gmap.step(x, u if m_in else None)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert gmap.dim == (N if kind == "gru" else 2 * N) and gmap.input_dim == m_in
    # two batch axes, the input broadcast against the states (rule 3)
    X = _states(gmap, rng, (2, B))
    np.testing.assert_allclose(
        gmap.step(X, u if m_in else None),
        np.stack([gmap.step(X[i], u if m_in else None) for i in range(2)]),
        rtol=1e-13,
        atol=1e-15,
    )


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_jacobian_equals_torch_autograd(kind, rng):
    torch = pytest.importorskip("torch")
    gmap, p = _make(kind, rng)
    cell = _torch_cell(kind, p, N, M)
    x, u = _states(gmap, rng, (3,)), rng.standard_normal((3, M))
    J = gmap.jacobian(x, u)
    for s in range(3):
        us = torch.from_numpy(u[s : s + 1])
        want = torch.autograd.functional.jacobian(
            lambda xs, us=us: _torch_step(kind, cell, xs[None], us, N)[0], torch.from_numpy(x[s])
        ).numpy()
        np.testing.assert_allclose(J[s], want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("m_in", [M, 0])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_vjp_and_param_vjp_equal_torch_autograd(kind, m_in, rng):
    """The gradient of ⟨g, F(x, u)⟩ summed over a batch, with respect to the state and each weight."""
    torch = pytest.importorskip("torch")
    gmap, p = _make(kind, rng, m=m_in, W_out=rng.standard_normal((2, N)))
    cell = _torch_cell(kind, p, N, m_in)
    x, u, g = _states(gmap, rng), rng.standard_normal((B, m_in)), rng.standard_normal((B, gmap.dim))
    xt = torch.from_numpy(x).requires_grad_(True)
    out = _torch_step(kind, cell, xt, torch.from_numpy(u), N)
    (out * torch.from_numpy(g)).sum().backward()
    uu = u if m_in else None
    np.testing.assert_allclose(gmap.vjp(x, uu, g), xt.grad.numpy(), rtol=0, atol=1e-10)
    grads = gmap.param_vjp(x, uu, g)
    assert set(grads) == set(WEIGHTS)  # the readout is not part of F
    for k in WEIGHTS:
        want = getattr(cell, k).grad.numpy()
        assert grads[k].shape == want.shape == getattr(gmap, k).shape, k
        np.testing.assert_allclose(grads[k], want, rtol=0, atol=1e-10, err_msg=k)


# ---------------------------------------------------------------------------------------
# Without torch: finite differences, broadcasting, the hidden state
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_jacobian_and_vjp_equal_central_differences(kind, rng):
    gmap, _ = _make(kind, rng)
    x, u = _states(gmap, rng), rng.standard_normal((B, M))
    J = gmap.jacobian(x, u)
    np.testing.assert_allclose(J, _fd_jacobian(gmap, x, u), rtol=0, atol=1e-6)
    g = rng.standard_normal((B, gmap.dim))
    np.testing.assert_allclose(gmap.vjp(x, u, g), np.einsum("bi,bij->bj", g, J), rtol=1e-12, atol=1e-13)
    V = rng.standard_normal((B, gmap.dim, 3))
    np.testing.assert_allclose(gmap.tangent(x, u, V), J @ V, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_param_derivative_and_param_vjp_equal_finite_differences(kind, rng):
    gmap, _ = _make(kind, rng, W_out=rng.standard_normal((2, N)))
    x, u = _states(gmap, rng), rng.standard_normal((B, M))
    g = rng.standard_normal((B, gmap.dim))
    grads = gmap.param_vjp(x, u, g)
    h = 1e-6
    for name in (
        "weight_hh[3,2]",
        "weight_hh[12,0]",
        "weight_ih[7,1]",
        "bias_ih[0]",
        "bias_hh[11]",
        "weight_hh",
    ):
        base = name.split("[")[0]
        p = gmap.get_param(name)
        fd = (gmap.with_params(**{name: p + h}).step(x, u) - gmap.with_params(**{name: p - h}).step(x, u)) / (
            2 * h
        )
        got = gmap.param_derivative(x, name, u)
        assert got.shape == (B, gmap.dim)
        np.testing.assert_allclose(got, fd, rtol=0, atol=1e-8, err_msg=name)
        # param_vjp is the same derivative contracted with g and summed over the batch
        if "[" in name:
            idx = tuple(int(i) for i in name[name.index("[") + 1 : -1].split(","))
            assert grads[base][idx] == pytest.approx(float(np.sum(g * got)), abs=1e-10), name
        else:
            assert grads[base].sum() == pytest.approx(float(np.sum(g * got)), abs=1e-10), name
    # the readout does not enter F
    for name in ("W_out[1,3]", "b_out[0]"):
        np.testing.assert_array_equal(gmap.param_derivative(x, name, u), np.zeros((B, gmap.dim)))


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_param_vjp_broadcasts_one_state_against_many_inputs(kind, rng):
    gmap, _ = _make(kind, rng)
    x, u = _states(gmap, rng, ()), rng.standard_normal((2, B, M))
    g = rng.standard_normal((2, B, gmap.dim))
    got = gmap.param_vjp(x, u, g)
    want = gmap.param_vjp(np.broadcast_to(x, (2, B, gmap.dim)), u, g)
    for k in WEIGHTS:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-13)
    assert gmap.vjp(x, u, g).shape == (2, B, gmap.dim)
    assert gmap.param_vjp(x, None, g)["weight_ih"].shape == (CELLS[kind][1] * N, M)
    np.testing.assert_array_equal(gmap.param_vjp(x, None, g)["weight_ih"], 0.0)  # u = None is zero input


def test_hidden_and_its_vjp(rng):
    gru, _ = _make("gru", rng, W_out=rng.standard_normal((2, N)), b_out=[0.1, -0.2])
    lstm, _ = _make("lstm", rng, W_out=rng.standard_normal((2, N)))
    x = _states(lstm, rng)
    np.testing.assert_array_equal(lstm.hidden(x), x[:, :N])
    np.testing.assert_array_equal(gru.hidden(x[:, :N]), x[:, :N])
    g = rng.standard_normal((B, N))
    np.testing.assert_array_equal(gru.hidden_vjp(x[:, :N], g), g)
    np.testing.assert_array_equal(lstm.hidden_vjp(x, g), np.concatenate([g, np.zeros((B, N))], axis=1))
    np.testing.assert_allclose(gru.readout(x[:, :N]), x[:, :N] @ gru.W_out.T + [0.1, -0.2], rtol=1e-14)
    np.testing.assert_allclose(lstm.readout(x), x[:, :N] @ lstm.W_out.T, rtol=1e-14)
    with pytest.raises(DynsysError, match="no readout"):
        _make("gru", rng)[0].readout(x[:, :N])


# ---------------------------------------------------------------------------------------
# Construction, validation, immutability
# ---------------------------------------------------------------------------------------


def test_parameters_are_pytorchs_and_read_only(rng):
    gru, p = _make("gru", rng)
    assert GRUMap.weight_names == ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_out", "b_out")
    assert set(GRUMap.weight_names) <= set(GRUMap.param_names) and LSTMMap.weight_names == GRUMap.weight_names
    for k in WEIGHTS:
        np.testing.assert_array_equal(getattr(gru, k), p[k])
        assert not getattr(gru, k).flags.writeable
    with pytest.raises(ValueError):
        gru.weight_hh[0, 0] = 1.0
    gru2 = gru.with_params(**{"bias_hh[4]": 3.0})
    assert gru2.bias_hh[4] == 3.0 and gru.bias_hh[4] == p["bias_hh"][4] and isinstance(gru2, GRUMap)
    auto = LSTMMap(weight_hh=p["weight_hh"][: 4 * 2, :2])
    assert (auto.dim, auto.input_dim, auto.hidden_size) == (4, 0, 2)
    np.testing.assert_array_equal(auto.bias_ih, np.zeros(8))
    assert auto.weight_ih.shape == (8, 0) and auto.state_box() is None and auto.as_rnn() is None
    assert gru.state_box(np.zeros(M)) is None
    assert "GRUMap(n=5, m=3" in repr(gru)
    w = gru.weights()
    w["weight_hh"][0, 0] = 9.0  # writable copies
    assert gru.weight_hh[0, 0] != 9.0 and w["W_out"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_hh": None}, "weight_hh is required"),
        ({"weight_hh": np.zeros((6, 3))}, r"weight_hh must have shape \(3n, n\) for a GRU, got \(6, 3\)"),
        ({"weight_hh": np.zeros(6)}, "weight_hh must have 2 dimension"),
        ({"weight_ih": np.zeros((5, 2))}, r"weight_ih must have shape \(6, m\)"),
        ({"bias_ih": np.zeros(5)}, r"bias_ih must have shape \(6,\)"),
        ({"bias_hh": [0, 0, 0, np.nan, 0, 0]}, "bias_hh must be finite"),
        ({"weight_hh": np.full((6, 2), 1j)}, "weight_hh must be real"),
        ({"weight_ih": [["a"] * 2] * 6}, "weight_ih must be a numeric array"),
        ({"W_out": np.zeros((2, 3))}, r"W_out must have shape \(k, 2\)"),
        ({"b_out": np.zeros(2)}, "b_out was given without W_out"),
        ({"W_out": np.zeros((2, 2)), "b_out": np.zeros(3)}, r"b_out must have shape \(2,\)"),
    ],
)
def test_bad_parameters_raise_one_line_errors(kwargs, match):
    args = {"weight_ih": np.zeros((6, 1)), "weight_hh": np.zeros((6, 2)), **kwargs}
    with pytest.raises(DynsysError, match=match) as e:
        GRUMap(**args)
    assert "\n" not in str(e.value)


def test_lstm_shapes_are_checked_for_four_gates():
    with pytest.raises(DynsysError, match=r"weight_hh must have shape \(4n, n\) for an LSTM"):
        LSTMMap(weight_hh=np.zeros((6, 2)))


def test_param_names_outside_the_vocabulary_are_refused(rng):
    gru, _ = _make("gru", rng)
    x = _states(gru, rng)
    with pytest.raises(DynsysError, match="unknown parameter"):
        gru.param_derivative(x, "W_rec[0,0]")
    with pytest.raises(DynsysError, match="out of range"):
        gru.param_derivative(x, "weight_hh[15,0]")
    with pytest.raises(DynsysError, match="not a number"):
        gru.param_derivative(x, "W_out")  # no readout


# ---------------------------------------------------------------------------------------
# Fixed points: closed forms
# ---------------------------------------------------------------------------------------


def test_zero_gru_has_the_origin_with_multiplier_one_half():
    """All weights zero: r = z = ½, ñ = 0, so F(h) = h/2: h* = 0 with J = I/2."""
    fp = dynsys.find_fixed_points(GRUMap(weight_hh=np.zeros((9, 3))), rng=0)
    assert len(fp) == 1 and fp.stability == ("stable",)
    np.testing.assert_allclose(fp.states[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(fp.multipliers[0], 0.5, atol=1e-12)


def test_gru_without_recurrence_has_the_closed_form_fixed_point(rng):
    """weight_hh = 0: the gates are constant, (1 − z)(h − ñ) = 0, so h* = ñ = tanh(b_in + r ⊙ b_hn)
    with r = σ(b_ir + b_hr), and J = diag(z) with z = σ(b_iz + b_hz)."""
    n = 4
    b_ih, b_hh = rng.standard_normal(3 * n), rng.standard_normal(3 * n)
    gru = GRUMap(weight_hh=np.zeros((3 * n, n)), bias_ih=b_ih, bias_hh=b_hh)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    r, z = sig(b_ih[:n] + b_hh[:n]), sig(b_ih[n : 2 * n] + b_hh[n : 2 * n])
    h_star = np.tanh(b_ih[2 * n :] + r * b_hh[2 * n :])
    fp = dynsys.find_fixed_points(gru, rng=1)
    assert len(fp) == 1 and fp.stability == ("stable",)
    np.testing.assert_allclose(fp.states[0], h_star, atol=1e-12)
    np.testing.assert_allclose(np.sort(fp.multipliers[0].real), np.sort(z), atol=1e-12)


def test_lstm_without_recurrence_has_the_closed_form_fixed_point(rng):
    """weight_hh = 0: c* = i g / (1 − f), h* = o tanh(c*); multipliers f (and 0)."""
    n = 3
    b = rng.standard_normal(4 * n)
    lstm = LSTMMap(weight_hh=np.zeros((4 * n, n)), bias_ih=b)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    i, f, g, o = sig(b[:n]), sig(b[n : 2 * n]), np.tanh(b[2 * n : 3 * n]), sig(b[3 * n :])
    c_star = i * g / (1.0 - f)
    fp = dynsys.find_fixed_points(lstm, rng=2)
    assert len(fp) == 1 and fp.stability == ("stable",)
    np.testing.assert_allclose(fp.states[0], np.concatenate([o * np.tanh(c_star), c_star]), atol=1e-12)
    np.testing.assert_allclose(np.sort(np.abs(fp.multipliers[0])), np.sort(np.r_[np.zeros(n), f]), atol=1e-12)


def test_gru_flip_flop_has_eight_stable_points_and_saddles_between():
    """W_hn = 4 I, everything else zero: r = z = ½, so each unit obeys h = tanh(2 h) at a fixed point
    (h ∈ {0, ±h₊}); J = diag(½ + (1 − h²)): 3³ = 27 fixed points, the 2³ = 8 without a 0 stable."""
    n = 3
    W = np.zeros((3 * n, n))
    W[2 * n :] = 4.0 * np.eye(n)
    gru = GRUMap(weight_hh=W)
    h_plus = 1.0
    for _ in range(200):  # the positive root of h = tanh(2h), by fixed-point iteration
        h_plus = np.tanh(2.0 * h_plus)
    # the default starts find every stable point; starts in (−1, 1)ⁿ find all 27: every fixed point
    # of a GRU has h* = ñ(h*) there, since (1 − z)(h − ñ) = 0 and z < 1
    assert int(dynsys.find_fixed_points(gru, rng=3).stable.sum()) == 8
    fp = dynsys.find_fixed_points(gru, starts=np.random.default_rng(3).uniform(-1.0, 1.0, (512, n)))
    assert len(fp) == 27
    levels = np.array([-h_plus, 0.0, h_plus])
    assert np.all(np.min(np.abs(fp.states[..., None] - levels), axis=-1) < 1e-10)
    zeros = np.sum(np.abs(fp.states) < 1e-8, axis=1)
    assert np.array_equal(fp.stable, zeros == 0) and int(fp.stable.sum()) == 8
    assert np.all(fp.unstable_dim == zeros)  # one unstable direction per unit at 0 (multiplier 3/2)
    np.testing.assert_allclose(
        np.max(np.abs(fp.multipliers), axis=1)[fp.stable], 0.5 + 1 - h_plus**2, atol=1e-10
    )


def _random_autonomous(kind, seed, n=4):
    cls, gates = CELLS[kind]
    g = np.random.default_rng(seed)
    return cls(None, 2.5 * g.standard_normal((gates * n, n)), 0.3 * g.standard_normal(gates * n))


@pytest.mark.parametrize(("kind", "seed"), [("gru", 2), ("lstm", 0)])
def test_fixed_points_of_random_autonomous_cells(kind, seed):
    """Residual < 1e-10 and the stability class from the eigenvalues of the map's own Jacobian."""
    cell = _random_autonomous(kind, seed)
    fp = dynsys.find_fixed_points(cell, starts=np.random.default_rng(0).uniform(-1.0, 1.0, (256, cell.dim)))
    x = fp.states
    assert np.all(np.linalg.norm(cell.step(x) - x, axis=1) < 1e-10)
    rho = np.max(np.abs(np.linalg.eigvals(cell.jacobian(x))), axis=1)
    for s, r in zip(fp.stability, rho):
        assert (s == "stable") == (r < 1.0), (s, r)
    np.testing.assert_allclose(np.max(np.abs(fp.multipliers), axis=1), rho, rtol=1e-10)
    # the true fixed points (|h| < 1: h* = o tanh(c*) or h* = ñ(h*)) include attractors and saddles
    true = [s for s, h in zip(fp.stability, np.abs(x[:, :4]).max(axis=1)) if h < 1.0]
    assert {"stable", "saddle"} <= set(true)


def test_gru_fixed_points_lie_in_the_open_cube():
    """Every periodic point of a GRU has |h_i| < 1 (|h_i| > 1 strictly decreases: |h'_i| ≤ (1 − z)|ñ_i|
    + z|h_i|). Far out the z gate saturates to 1.0 in floating point, F(h) = h exactly there, and
    Newton, with nothing to keep it in the cube, reports such states as (neutral) fixed points."""
    cell = _random_autonomous("gru", 0)
    fp = dynsys.find_fixed_points(cell, starts=np.random.default_rng(0).uniform(-1.0, 1.0, (256, cell.dim)))
    assert np.all(np.abs(fp.states) < 1.0)


def test_gated_maps_are_maps():
    assert issubclass(GRUMap, Map) and issubclass(LSTMMap, Map)


# ---------------------------------------------------------------------------------------
# Map rule 18: the cells' tapes (BPTT over a sequence) against the generic Tape and torch
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class _GenericTapeGRU(GRUMap):
    """The GRU on the generic tape of rule 18 (step, vjp, one param_vjp)."""

    def tape(self, inputs, steps, batch, *, workspace=None):
        return Tape(self, inputs, steps, batch)


@dataclass(frozen=True, eq=False, repr=False)
class _GenericTapeLSTM(LSTMMap):
    def tape(self, inputs, steps, batch, *, workspace=None):
        return Tape(self, inputs, steps, batch)


GENERIC = {"gru": _GenericTapeGRU, "lstm": _GenericTapeLSTM}


def _through(tape, xs, G, top):
    """Feed the states ``xs`` (T+1, B, dim) and cotangents ``G`` to a tape: (F, vjps, param_vjp)."""
    T = len(xs) - 1
    F = np.stack([tape.step(t, xs[t - 1]) for t in range(1, T + 1)])
    V = np.stack([tape.vjp(t, G[t - 1]) for t in range(top, 0, -1)])
    return F, V, tape.param_vjp()


@pytest.mark.parametrize("top", [6, 4])
@pytest.mark.parametrize("m_in", [M, 0])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_tape_equals_the_generic_tape(kind, m_in, top, rng):
    """Rule 18's fast version against its default (step, vjp and param_vjp of rule 17), with the
    backward pass from every step or from an earlier one (t_max < T)."""
    T = 6
    gmap, _ = _make(kind, rng, m=m_in, W_out=rng.standard_normal((2, N)))
    u = rng.standard_normal((T, B, m_in)) if m_in else None
    xs = _states(gmap, rng, (T + 1, B))
    G = rng.standard_normal((T, B, gmap.dim))
    F, V, P = _through(gmap.tape(u, T, B), xs, G, top)
    F0, V0, P0 = _through(Tape(gmap, u, T, B), xs, G, top)
    np.testing.assert_allclose(F, F0, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(F0, gmap.step(xs[:-1], u), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(V, V0, rtol=1e-12, atol=1e-13)
    assert sorted(P) == sorted(P0) == sorted(WEIGHTS)
    for k in WEIGHTS:
        assert P[k].shape == P0[k].shape == getattr(gmap, k).shape, k
        np.testing.assert_allclose(P[k], P0[k], rtol=1e-12, atol=1e-12, err_msg=k)
    # the default is rule 17 over the stacked steps 1..top
    want = gmap.param_vjp(xs[:top], None if u is None else u[:top], G[:top])
    for k in WEIGHTS:
        np.testing.assert_allclose(P0[k], want[k], rtol=1e-13, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_tape_workspace_is_reused_and_nothing_returned_lives_there(kind, rng):
    gmap, _ = _make(kind, rng)
    ws = {}
    runs = []
    for T in (6, 9, 4):  # grow, then fit into the grown buffer
        u, xs = rng.standard_normal((T, B, M)), _states(gmap, rng, (T + 1, B))
        G = rng.standard_normal((T, B, gmap.dim))
        got = _through(gmap.tape(u, T, B, workspace=ws), xs, G, T)
        want = _through(gmap.tape(u, T, B), xs, G, T)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        for k in WEIGHTS:
            np.testing.assert_array_equal(got[2][k], want[2][k])
        runs.append((got, want))
        if T == 9:
            buffers = {id(v) for v in ws.values()}
    assert {id(v) for v in ws.values()} == buffers  # the smaller run reused the buffer
    for got, want in runs:  # later runs did not overwrite what earlier ones returned
        np.testing.assert_array_equal(got[0], want[0])
        for k in WEIGHTS:
            np.testing.assert_array_equal(got[2][k], want[2][k])


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_tape_before_and_against_the_order_of_the_backward_pass(kind, rng):
    gmap, _ = _make(kind, rng)
    for tape in (gmap.tape(None, 3, B), Tape(gmap, None, 3, B)):
        P = tape.param_vjp()  # no cotangents given: zeros
        assert sorted(P) == sorted(WEIGHTS)
        for k in WEIGHTS:
            np.testing.assert_array_equal(P[k], np.zeros(getattr(gmap, k).shape))
    tape, x = gmap.tape(None, 3, B), _states(gmap, rng)
    for t in (1, 2, 3):
        x = tape.step(t, x)
    tape.vjp(2, np.ones((B, gmap.dim)))
    with pytest.raises(DynsysError, match="must descend"):
        tape.vjp(3, np.ones((B, gmap.dim)))


def _torch_bptt(kind, p, W_out, b_out, x0, u, labels, steps, n, m):
    """Loss, weight gradients and ∂E/∂x_0 by autograd through the torch cell over the sequence."""
    import torch

    cell = _torch_cell(kind, p, n, m)
    Wo, bo = (torch.tensor(a, requires_grad=True) for a in (W_out, b_out))
    x = xt0 = torch.tensor(x0, requires_grad=True)
    T = u.shape[0]
    read = (
        {T: 0}
        if steps == "last"
        else {t: i for i, t in enumerate(range(1, T + 1) if steps == "all" else steps)}
    )
    total = 0.0
    for t in range(1, T + 1):
        x = _torch_step(kind, cell, x, torch.from_numpy(u[t - 1]), n)
        if t in read:
            y = x[:, :n] @ Wo.T + bo
            total = (
                total
                + torch.nn.functional.cross_entropy(y, torch.from_numpy(labels[read[t]]), reduction="sum")
                / x0.shape[0]
            )
    params = [getattr(cell, k) for k in WEIGHTS] + [Wo, bo, xt0]
    grads = torch.autograd.grad(total, params)
    return float(total.detach()), dict(zip((*WEIGHTS, "W_out", "b_out", "x0"), (g.numpy() for g in grads)))


@pytest.mark.parametrize("steps", ["last", "all", [2, 5]])
@pytest.mark.parametrize("m_in", [M, 0])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_bptt_equals_torch_autograd(kind, m_in, steps, rng):
    """bptt through the cell's tape: the loss, every weight's gradient and ∂E/∂x_0 (1e-10)."""
    pytest.importorskip("torch")
    T, k = 7, 3
    gmap, p = _make(kind, rng, m=m_in, W_out=rng.standard_normal((k, N)), b_out=rng.standard_normal(k))
    x0, u = _states(gmap, rng), rng.standard_normal((T, B, m_in))
    S = {"last": 1, "all": T}[steps] if isinstance(steps, str) else len(steps)
    labels = rng.integers(0, k, (S, B))
    kw = {} if m_in else {"steps": T}
    res = bptt(gmap, u if m_in else None, ReadoutLoss(labels, "softmax", steps), x0=x0, **kw)
    loss, want = _torch_bptt(kind, p, gmap.W_out, gmap.b_out, x0, u, labels, steps, N, m_in)
    assert res.loss == pytest.approx(loss, rel=1e-13)
    assert sorted(res.grads) == sorted((*WEIGHTS, "W_out", "b_out"))
    for name, g in res.grads.items():
        assert g.shape == want[name].shape, name
        np.testing.assert_allclose(g, want[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(res.deltas[0], want["x0"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_bptt_results_are_those_of_the_generic_tape(kind, rng):
    """Every field of the result (and the eq. 4 contributions) through the cell's tape and the default."""
    T, k = 6, 3
    gmap, p = _make(kind, rng, W_out=rng.standard_normal((k, N)), b_out=rng.standard_normal(k))
    slow = GENERIC[kind](**p, W_out=gmap.W_out, b_out=gmap.b_out)
    u, x0 = rng.standard_normal((T, B, M)), _states(gmap, rng)
    for loss in (ReadoutLoss(rng.normal(size=(2, B, k)), "mse", [2, 4]), StateLoss(0.2, "all")):
        a = bptt(gmap, u, loss, x0=x0, contributions=True, jacobian_norms=True)
        b = bptt(slow, u, loss, x0=x0, contributions=True, jacobian_norms=True)
        assert a.loss == pytest.approx(b.loss, rel=1e-14)
        assert sorted(a.grads) == sorted(b.grads)
        for name in b.grads:
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-12, atol=1e-13, err_msg=name)
        for f in ("states", "hidden", "deltas"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-13, atol=1e-14, err_msg=f)
        np.testing.assert_array_equal(a.loss_steps, b.loss_steps)
        for f in ("contribution_norms", "jacobian_norms"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-12, equal_nan=True, err_msg=f)
        # the deltas are zero after the last loss step
        assert np.all(a.deltas[a.loss_steps.max() + 1 :] == 0.0)
    ta = temporal_contributions(gmap, u, loss, x0=x0)
    tb = temporal_contributions(slow, u, loss, x0=x0)
    for name in WEIGHTS:
        np.testing.assert_allclose(ta[name], tb[name], rtol=1e-12, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(ta[name].sum(axis=(0, 1)), a.grads[name], rtol=1e-12, atol=1e-13)


def test_bptt_of_a_gru_in_float32(rng):
    gmap, _ = _make("gru", rng, W_out=rng.standard_normal((3, N)))
    u, x0 = rng.standard_normal((5, B, M)), _states(gmap, rng)
    loss = ReadoutLoss(rng.integers(0, 3, (1, B)))
    r64, r32 = bptt(gmap, u, loss, x0=x0), bptt(gmap, u, loss, x0=x0, dtype=np.float32)
    assert r32.states.dtype == np.float32 and all(g.dtype == np.float32 for g in r32.grads.values())
    for name in r64.grads:
        np.testing.assert_allclose(r32.grads[name], r64.grads[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_hand_built_gru_flip_flop_has_its_27_fixed_points():
    """Three bistable units (z = r = ½, ñ = tanh(3 h)) beside three decaying ones: the fixed points
    are h = (s₁a, s₂a, s₃a, 0, 0, 0) with s ∈ {−1, 0, 1} and a = tanh(3a) — 8 stable (the
    memories), 12 + 6 saddles, 1 source — each unit's multiplier ½ + ½·3(1 − a²) or 2 at 0."""
    from scipy.optimize import brentq

    from dynsys.analysis.equilibria import find_fixed_points

    n = 6
    W_hh = np.zeros((3 * n, n))
    W_hh[2 * n : 2 * n + 3, :3] = 6.0 * np.eye(3)  # W_hn of the three memory units
    gru = GRUMap(weight_ih=np.zeros((3 * n, 3)), weight_hh=W_hh)
    fp = find_fixed_points(gru, u=np.zeros(3), n_starts=256, rng=0)
    a = brentq(lambda h: np.tanh(3 * h) - h, 0.5, 1.0)
    assert len(fp) == 27 and fp.n_rejected == 0
    assert np.max(fp.residual) < 1e-10
    stable = fp.states[np.array(fp.stability) == "stable"]
    assert len(stable) == 8
    np.testing.assert_allclose(np.abs(stable[:, :3]), a, atol=1e-12)
    np.testing.assert_allclose(stable[:, 3:], 0.0, atol=1e-12)
    assert sorted(fp.unstable_dim.tolist()) == [0] * 8 + [1] * 12 + [2] * 6 + [3]
    mult = np.sort(np.abs(fp.multipliers[np.array(fp.stability) == "stable"]), axis=1)[:, ::-1]
    np.testing.assert_allclose(mult[:, :3], 0.5 + 1.5 * (1 - a**2), atol=1e-10)
