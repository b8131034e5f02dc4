"""Symbolic γ, the certificate of eq. 6–7 and the symbolic Jacobian vs their numeric counterparts."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

from dynsys.activations import activation_names, get_activation  # noqa: E402
from dynsys.errors import DynsysError  # noqa: E402
from dynsys.maps import RNNMap  # noqa: E402
from dynsys.symbolic import (  # noqa: E402
    activation_expr,
    certificate,
    derive_gamma,
    lambda1_expr,
    linear_condition,
    symbolic_gated,
    symbolic_matrix,
    symbolic_rnn,
    vanishing_condition,
)

# the paper's values (§2.1) and the obvious ones
KNOWN_GAMMA = {
    "tanh": Fraction(1),
    "sigmoid": Fraction(1, 4),
    "relu": Fraction(1),
    "linear": Fraction(1),
    "softsign": Fraction(1),
}


@pytest.mark.parametrize("name", activation_names())
def test_gamma_derived_exactly(name):
    d = derive_gamma(name)
    assert d.matches  # equals the stored Activation.gamma
    assert d.as_fraction() == KNOWN_GAMMA[name]
    assert d.gamma.is_Rational


@pytest.mark.parametrize("name", activation_names())
def test_gamma_equals_numeric_sup_on_fine_grid(name):
    d = derive_gamma(name)
    x = np.linspace(-30.0, 30.0, 600_001)  # step 1e-4, contains 0
    sup = np.max(np.abs(get_activation(name).deriv(x)))
    assert float(d.gamma) == pytest.approx(sup, rel=1e-7, abs=1e-12)
    assert float(d.gamma) >= sup - 1e-15  # sup over a grid never exceeds the true sup


def test_derivative_expression_matches_numeric():
    for name in ("tanh", "sigmoid", "softsign"):
        d = derive_gamma(name)
        xs = sp.Symbol("x", real=True)
        f = sp.lambdify(xs, d.derivative, "numpy")
        pts = np.array([-3.1, -0.7, 0.4, 2.2])
        np.testing.assert_allclose(f(pts), get_activation(name).deriv(pts), rtol=1e-12)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_one_unit_certificate_simplifies(act):
    w = sp.Symbol("w", real=True)
    gamma = derive_gamma(act).gamma
    cert = certificate(sp.Matrix([[w]]), act)
    assert cert.symbolic and cert.n == 1
    assert cert.vanishing_condition == (sp.Abs(w) * gamma < 1)
    assert cert.lambda1 == sp.Abs(w)
    # same set as Sylvester's form 1/γ² − w² > 0 (the general-n route)
    s1 = sp.solve_univariate_inequality(cert.vanishing_condition, w, relational=False)
    s2 = sp.solve_univariate_inequality(1 / gamma**2 - w**2 > 0, w, relational=False)
    assert s1 == s2 == sp.Interval.open(-1 / gamma, 1 / gamma)
    assert cert.holds({w: 0.99 / float(gamma)}) and not cert.holds({"w": 1.01 / float(gamma)})


@pytest.mark.parametrize("n", [2, 3])
def test_symbolic_vanishing_condition_matches_numeric(rng, n):
    W = symbolic_matrix(n)
    cond = vanishing_condition(W, sp.Rational(1, 4))
    syms = list(W)
    f = sp.lambdify(syms, cond, "numpy")
    for _ in range(200):
        A = rng.standard_normal((n, n))
        A *= rng.uniform(2.0, 6.0) / np.linalg.norm(A, 2)  # straddle λ₁ = 4
        lam = np.linalg.norm(A, 2)
        if abs(lam - 4.0) < 1e-6:
            continue
        assert bool(f(*A.ravel())) == (lam * 0.25 < 1)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_linear_condition_is_jury_criterion(rng, n):
    W = symbolic_matrix(n)
    f = sp.lambdify(list(W), linear_condition(W), "numpy")
    hits = 0
    for _ in range(300):
        A = rng.standard_normal((n, n)) * rng.uniform(0.2, 1.5)
        rho = np.max(np.abs(np.linalg.eigvals(A)))
        if abs(rho - 1.0) < 1e-6:
            continue
        hits += rho < 1
        assert bool(f(*A.ravel())) == (rho < 1)
    assert 0 < hits < 300  # both outcomes exercised


def test_lambda1_closed_form_2x2(rng):
    W = symbolic_matrix(2)
    f = sp.lambdify(list(W), lambda1_expr(W), "numpy")
    for _ in range(20):
        A = rng.standard_normal((2, 2))
        assert f(*A.ravel()) == pytest.approx(np.linalg.norm(A, 2), rel=1e-10)


def test_certificate_rendering_symbolic():
    cert = certificate(symbolic_matrix(2), "sigmoid")
    txt = str(cert)
    assert "γ = sup|σ′| = 1/4" in txt and "λ₁ < 1/γ" in txt and "(λ₁γ)^(t−k)" in txt
    tex = cert._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$")
    assert "\\frac{1}{4}" in tex and "w_{11}" in tex
    assert cert.verdict == "conditional"


def test_certificate_numeric(rng):
    W = rng.standard_normal((5, 5))
    cert = certificate(W, "sigmoid")
    lam = np.linalg.norm(W, 2)
    assert cert.lambda1 == pytest.approx(lam, rel=1e-12)
    assert cert.eta == pytest.approx(lam / 4, rel=1e-12)
    assert cert.verdict == ("vanishing" if lam < 4 else "may-explode")
    assert bool(cert.vanishing_condition) == (lam < 4)
    assert "VANISHING" in cert.text() or "MAY EXPLODE" in cert.text()
    assert "\\eta = \\lambda_1\\gamma" in cert.latex()
    # a sympy matrix without symbols takes the numeric route
    cert2 = certificate(sp.Matrix([[sp.Rational(1, 2), 0], [0, sp.Rational(1, 3)]]), "tanh")
    assert not cert2.symbolic and cert2.lambda1 == pytest.approx(0.5)
    assert cert2.verdict == "vanishing" and cert2.spectral_radius == pytest.approx(0.5)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "softsign", "linear"])
def test_symbolic_jacobian_equals_analytic(rng, act):
    n, m = 3, 2
    srnn = symbolic_rnn(n, m, act)
    step_fn, jac_fn = srnn.lambdify()
    for _ in range(4):
        W, W_in, b = rng.standard_normal((n, n)), rng.standard_normal((n, m)), rng.standard_normal(n)
        x, u = rng.standard_normal(n), rng.standard_normal(m)
        rnn = RNNMap(W, W_in, b, act)
        np.testing.assert_allclose(jac_fn(W, x), rnn.jacobian(x, u), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(step_fn(W, W_in, b, x, u), rnn.step(x, u), rtol=1e-12, atol=1e-14)
    # the symbolic Jacobian is W diag(σ′(x)) (eq. 5)
    dsig = [sp.diff(activation_expr(act, xi), xi) for xi in srnn.x]
    assert sp.simplify(srnn.jacobian - srnn.W_rec * sp.diag(*dsig)) == sp.zeros(n, n)


def test_bad_input():
    with pytest.raises(DynsysError, match="square"):
        certificate(sp.Matrix([[sp.Symbol("a"), 1, 2]]))
    with pytest.raises(DynsysError, match="n <= 3"):
        certificate(symbolic_matrix(4))
    with pytest.raises(DynsysError, match="unknown activation"):
        certificate(np.eye(2), "swish")
    with pytest.raises(DynsysError, match="finite"):
        certificate(np.array([[np.nan]]))
    with pytest.raises(DynsysError, match="empty"):
        certificate(np.zeros((0, 0)))
    with pytest.raises(DynsysError, match="n must be"):
        symbolic_rnn(0)
    with pytest.raises(DynsysError, match="unknown activation"):
        derive_gamma("swish")
    w = sp.Symbol("w", real=True)
    cert = certificate(sp.Matrix([[w, 0], [0, w]]))
    with pytest.raises(DynsysError, match="do not fix"):
        cert.holds({})


def test_import_dynsys_does_not_import_sympy():
    code = (
        "import sys, dynsys; dynsys.check_conditions; dynsys.lyapunov_spectrum; "
        "import dynsys.analysis.conditions, dynsys.analysis.lyapunov; "
        "assert 'sympy' not in sys.modules, 'sympy imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_gated_jacobian_decomposition_is_exact(rng, cell):
    """The Jacobian the bounds γ_GRU, γ_LSTM are derived from equals sympy's derivative of the cell
    (all weights symbolic, n = 2, m = 1), and sympy's Jacobian equals GRUMap/LSTMMap's numerically."""
    import dataclasses

    from dynsys.maps.gated import GRUMap, LSTMMap

    g = symbolic_gated(cell, n=2, m=1)
    assert g.jacobian.shape == (g.x.shape[0],) * 2 == ((2, 2) if cell == "GRU" else (4, 4))
    assert g.matches
    # the check can fail: drop the reset gate from the W_hn term (GRU) / the f-path (LSTM)
    wrong = g.decomposition.copy()
    wrong[0, 0] += g.weight_hh[4, 0] if cell == "GRU" else g.weight_hh[2, 0]
    assert not dataclasses.replace(g, decomposition=wrong).matches
    step_fn, jac_fn = g.lambdify()
    G, cls = (3, GRUMap) if cell == "GRU" else (4, LSTMMap)
    for _ in range(3):
        w = [
            rng.standard_normal((2 * G, 1)),
            rng.standard_normal((2 * G, 2)),
            rng.standard_normal(2 * G),
            rng.standard_normal(2 * G),
        ]
        m = cls(*w)
        x, u = rng.standard_normal(m.dim), rng.standard_normal(1)
        np.testing.assert_allclose(step_fn(*w, x, u), m.step(x, u), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(jac_fn(*w, x, u), m.jacobian(x, u), rtol=1e-12, atol=1e-14)


def test_symbolic_gated_bad_input():
    for args, match in (
        (("RNN",), "cell must be"),
        (("GRU", 0), "n must be"),
        (("GRU", 5), "n must be"),
        (("LSTM", 2, -1), "m must be"),
    ):
        with pytest.raises(DynsysError, match=match):
            symbolic_gated(*args)
