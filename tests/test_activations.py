import numpy as np
import pytest

from dynsys.activations import ACTIVATIONS, activation_names, get_activation
from dynsys.errors import DynsysError
from dynsys.symbolic import activation_expr

NAMES = activation_names()


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_finite_differences(name):
    act = get_activation(name)
    x = np.linspace(-4, 4, 801)
    x = x[np.abs(x) > 1e-3]  # relu/softsign kinks at 0
    h = 1e-6
    fd1 = (act.fn(x + h) - act.fn(x - h)) / (2 * h)
    fd2 = (act.deriv(x + h) - act.deriv(x - h)) / (2 * h)
    np.testing.assert_allclose(act.deriv(x), fd1, atol=1e-8)
    np.testing.assert_allclose(act.second(x), fd2, atol=1e-6)
    np.testing.assert_allclose(act.d_from_output(act.fn(x)), act.deriv(x), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_gamma_is_sup_of_derivative(name):
    act = get_activation(name)
    x = np.linspace(-30, 30, 600001)
    sup = np.max(np.abs(act.deriv(x)))
    assert sup <= float(act.gamma) + 1e-12
    assert sup >= float(act.gamma) - 1e-6
    assert abs(act.deriv(np.array(act.argmax))) == pytest.approx(float(act.gamma))


def test_known_gammas():
    assert get_activation("tanh").gamma == 1
    assert get_activation("sigmoid").gamma * 4 == 1
    assert get_activation("logistic") is ACTIVATIONS["sigmoid"]


def test_sigmoid_stable_in_tails():
    s = get_activation("sigmoid")
    with np.errstate(all="raise"):
        v = s.fn(np.array([-800.0, 800.0]))
    np.testing.assert_allclose(v, [0.0, 1.0])


def test_unknown_activation_lists_known():
    with pytest.raises(DynsysError, match="unknown activation 'swish'; known: tanh, sigmoid"):
        get_activation("swish")


def test_sympy_expression_matches_numeric():
    import sympy as sp

    x = sp.Symbol("x", real=True)
    for name in NAMES:
        act = get_activation(name)
        f = sp.lambdify(x, activation_expr(act, x), "numpy")
        pts = np.array([-2.0, -0.3, 0.7, 3.0])
        np.testing.assert_allclose([float(f(p)) for p in pts], act.fn(pts), rtol=1e-12, atol=1e-15)
