import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynsys.errors import DynsysError
from dynsys.maps import (
    DelayedLogisticMap,
    FixedInput,
    HenonMap,
    LogisticMap,
    NewtonMap,
    RNNMap,
    UnitMap,
    iterate,
)


def fd_jacobian(m, x, u=None, h=1e-6):
    n = m.dim
    J = np.empty(x.shape[:-1] + (n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        J[..., :, j] = (m.step(x + e, u) - m.step(x - e, u)) / (2 * h)
    return J


def all_maps(rng):
    return [
        RNNMap(rng.normal(size=(4, 4)), rng.normal(size=(4, 2)), rng.normal(size=4), "tanh"),
        RNNMap(rng.normal(size=(3, 3)), None, None, "sigmoid"),
        RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 1)), None, "softsign"),
        UnitMap(w=5.0, b=-2.5),
        UnitMap(w=-3.0, b=0.1, activation="tanh"),
        LogisticMap(3.7),
        HenonMap(),
        DelayedLogisticMap(2.2),
        NewtonMap(),
    ]


def test_jacobians_match_finite_differences(rng):
    for m in all_maps(rng):
        x = rng.uniform(0.1, 0.9, size=(7, m.dim))
        u = rng.normal(size=(7, m.input_dim)) if m.input_dim else None
        np.testing.assert_allclose(
            m.jacobian(x, u), fd_jacobian(m, x, u), rtol=1e-6, atol=1e-7, err_msg=repr(m)
        )


def test_step_is_batched(rng):
    """A (1000, n) batch equals 1000 single calls."""
    for m in all_maps(rng):
        x = rng.uniform(0.1, 0.9, size=(1000, m.dim))
        u = rng.normal(size=(1000, m.input_dim)) if m.input_dim else None
        batch = m.step(x, u)
        single = np.stack([m.step(x[i], None if u is None else u[i]) for i in range(1000)])
        # BLAS may round a matrix-matrix product differently from matrix-vector: 1 ulp-level
        np.testing.assert_allclose(batch, single, rtol=1e-13, atol=1e-15)
        jb = m.jacobian(x, u)
        js = np.stack([m.jacobian(x[i], None if u is None else u[i]) for i in range(1000)])
        np.testing.assert_allclose(jb, js, rtol=1e-13, atol=1e-15)


def test_param_derivatives(rng):
    maps = [
        (UnitMap(w=4.0, b=-1.0), ("w", "b", "w_in")),
        (LogisticMap(3.3), ("r",)),
        (HenonMap(), ("a", "b")),
        (DelayedLogisticMap(1.8), ("r",)),
    ]
    for m, names in maps:
        x = rng.uniform(0.1, 0.9, size=(5, m.dim))
        u = rng.normal(size=(5, 1)) if m.input_dim else None
        for name in names:
            analytic = m.param_derivative(x, name, u)
            fd = super(type(m), m).param_derivative(x, name, u)
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


def test_unit_map_broadcasts_over_parameter_grid():
    w, b = np.meshgrid(np.linspace(4, 6, 11), np.linspace(-3, -2, 7), indexing="ij")
    m = UnitMap(w=w, b=b)
    x0 = np.full(w.shape + (1,), 0.5)
    traj = iterate(m, x0, steps=20)
    for i, j in [(0, 0), (5, 3), (10, 6)]:
        ref = iterate(UnitMap(w=w[i, j], b=b[i, j]), np.array([0.5]), steps=20)
        np.testing.assert_allclose(traj.states[:, i, j], ref.states, rtol=0, atol=0)


def test_rnn_from_hidden_is_conjugate(rng):
    """h_t = σ(W h_{t-1} + U u_t + b) equals σ(x_t) of eq. 2 with the same weights."""
    n, m, T = 5, 3, 12
    W, U, b = rng.normal(size=(n, n)), rng.normal(size=(n, m)), rng.normal(size=n)
    u = rng.normal(size=(T, m))
    h = rng.uniform(-0.5, 0.5, size=n)
    rnn = RNNMap.from_hidden(W, U, b, "tanh")
    x = np.arctanh(h)
    for t in range(T):
        h = np.tanh(W @ h + U @ u[t] + b)
        x = rnn.step(x, u[t])
        np.testing.assert_allclose(rnn.hidden(x), h, atol=1e-12)


def test_iterate_records_jacobians(rng):
    m = HenonMap()
    traj = iterate(m, np.array([0.1, 0.1]), steps=10, jacobians=True)
    assert traj.states.shape == (11, 2) and traj.jacobians.shape == (10, 2, 2)
    np.testing.assert_allclose(traj.jacobians[3], m.jacobian(traj.states[3]))
    np.testing.assert_allclose(traj.final, m.step(traj.states[9]))


def test_maps_are_immutable(rng):
    m = RNNMap(rng.normal(size=(2, 2)))
    with pytest.raises(ValueError):
        m.W_rec[0, 0] = 1.0
    m2 = m.with_params(b=np.ones(2))
    assert np.all(m.b == 0) and np.all(m2.b == 1)


@given(st.integers(1, 6), st.integers(0, 4), st.integers(1, 5))
def test_rnn_shapes_property(n, m, batch):
    rng = np.random.default_rng(n * 100 + m * 10 + batch)
    rnn = RNNMap(rng.normal(size=(n, n)), rng.normal(size=(n, m)) if m else None)
    x = rng.normal(size=(batch, n))
    u = rng.normal(size=(batch, m)) if m else None
    assert rnn.step(x, u).shape == (batch, n)
    assert rnn.jacobian(x, u).shape == (batch, n, n)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"W_rec": np.ones((3, 4))}, r"W_rec must be square, got shape \(3, 4\)"),
        ({"W_rec": np.ones((3, 3)), "W_in": np.ones((2, 1))}, r"W_in must have shape \(3, m\)"),
        ({"W_rec": np.ones((3, 3)), "b": np.ones(2)}, r"b must have shape \(3,\)"),
        ({"W_rec": np.array([[1.0, np.nan], [0, 1]])}, "W_rec must be finite"),
        ({"W_rec": np.array([[1.0, np.inf], [0, 1]])}, "W_rec must be finite"),
        ({"W_rec": np.ones((2, 2)), "activation": "gelu"}, "unknown activation 'gelu'"),
        ({"W_rec": np.ones((2, 2)), "W_out": np.ones((3, 5))}, r"W_out must have shape \(k, 2\)"),
        ({"W_rec": np.zeros((0, 0))}, "W_rec must not be empty"),
        ({"W_rec": "abc"}, "W_rec must be a numeric array"),
    ],
)
def test_rnn_bad_input(kwargs, match):
    with pytest.raises(DynsysError, match=match):
        RNNMap(**kwargs)


def test_bad_states_and_params(rng):
    m = RNNMap(rng.normal(size=(3, 3)))
    with pytest.raises(DynsysError, match=r"x0 must have shape \(\.\.\., 3\)"):
        iterate(m, np.zeros(2), steps=3)
    with pytest.raises(DynsysError, match="takes no input"):
        iterate(m, np.zeros(3), inputs=np.zeros((3, 1)))
    with pytest.raises(DynsysError, match="unknown parameter 'gain'"):
        m.with_params(gain=2.0)
    with pytest.raises(DynsysError, match="w, b and w_in must broadcast"):
        UnitMap(w=np.ones(3), b=np.ones(4))
    with pytest.raises(DynsysError, match="steps is required"):
        iterate(m, np.zeros(3))


def test_rnn_param_derivative_broadcasts_like_step(rng):
    """One state and a batch of inputs (Map rule 3): ∂F/∂p has the shape of step(x, u) and equals
    its central difference."""
    rnn = RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=3))
    x, u = rng.normal(size=3), rng.normal(size=(4, 2))
    for name in ("b[1]", "W_rec[0,2]", "W_in[2,1]"):
        p, h = rnn.get_param(name), 1e-6
        fd = (rnn.with_params(**{name: p + h}).step(x, u) - rnn.with_params(**{name: p - h}).step(x, u)) / (
            2 * h
        )
        got = rnn.param_derivative(x, name, u)
        assert got.shape == (4, 3)
        np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-8, err_msg=name)


def test_param_derivative_of_a_non_number_is_a_dynsys_error():
    for m, name in (
        (RNNMap(np.eye(2)), "activation"),
        (UnitMap(), "activation"),
        (RNNMap(np.eye(2)), "W_out"),
    ):
        with pytest.raises(DynsysError, match="not a number"):
            m.param_derivative(np.zeros(m.dim), name)


def test_unit_state_box_with_array_input_weight():
    """A grid of w_in gives one box per grid point, not one box of shape (1,): no box (rule 12)."""
    m = UnitMap(w=5.0, b=-2.5, w_in=np.array([1.0, 2.0]))
    assert m.state_box(np.array([0.5])) is None
    lo, hi = m.state_box()  # without input w_in does not enter
    assert lo.tolist() == [-2.5] and hi.tolist() == [2.5]


def test_unit_split_driven_is_autonomous(rng):
    unit = UnitMap(w=5.0, b=-2.45, w_in=0.7)
    auto, K = unit.split_driven()
    assert auto.input_dim == 0 and K.tolist() == [[0.7]]
    x = rng.normal(size=(6, 1))
    np.testing.assert_allclose(auto.step(x), 5.0 / (1.0 + np.exp(-x)) - 2.45, rtol=1e-14, atol=1e-15)


def test_fixed_input_validation():
    with pytest.raises(DynsysError, match="takes none"):
        FixedInput(LogisticMap(3.5), [])
    with pytest.raises(DynsysError, match=r"u must have shape \(1,\)"):
        FixedInput(UnitMap(), [1.0, 2.0])
    # a scalar for a map with one input, as everywhere else a constant input is taken
    assert FixedInput(UnitMap(w=5.0, b=-2.5), 0.5).u.tolist() == [0.5]
