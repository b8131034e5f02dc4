r"""Symbolic derivations with sympy (the only sympy user; imported lazily by ``dynsys``).

* :func:`derive_gamma` — ``γ = sup_x |σ′(x)|`` derived from the activation's sympy expression
  (critical points of σ′ on each smooth piece, one-sided limits at the pieces' ends and at ±∞),
  exact, and compared with the stored :attr:`~dynsys.activations.Activation.gamma`.
* :func:`certificate` — the theorem of paper eq. 6–7 as a :class:`Certificate`: the sufficient
  condition for vanishing ``λ₁ < 1/γ``, the necessary condition for exploding ``λ₁ > 1/γ``, the
  bound ``‖∂x_t/∂x_k‖ ≤ (λ₁γ)^{t−k}``, and the linear-case variant with the spectral radius.
  For a symbolic ``W_rec`` with ``n ≤ 3`` the conditions are symbolic inequalities in its entries
  (Sylvester's criterion on ``γ^{-2} I − W_recᵀW_rec`` for ``λ₁ < 1/γ``; the Jury criterion on the
  characteristic polynomial for ``ρ < 1``); for one unit the condition is ``|w| γ < 1``.
* :func:`symbolic_rnn` — the RNN map of eq. 2 and its Jacobian ``W_rec diag(σ′(x))`` (eq. 5) as
  sympy matrices, with a ``lambdify`` bridge to numpy.
* :func:`symbolic_gated` — a GRU or LSTM cell with symbolic PyTorch weights, its Jacobian and
  the decomposition the bounds ``γ_GRU``, ``γ_LSTM`` of
  :func:`dynsys.analysis.conditions.gated_bound` are derived from, checked to expand to the same
  matrix (:attr:`SymbolicGated.matches`).
* :func:`activation_expr` — the sympy expression of an activation σ.

Examples
--------
>>> derive_gamma("sigmoid").gamma
1/4
>>> import sympy as sp
>>> w = sp.Symbol("w", real=True)
>>> certificate(sp.Matrix([[w]]), "sigmoid").vanishing_condition
Abs(w)/4 < 1
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .activations import get_activation
from .errors import DynsysError

__all__ = [
    "activation_expr",
    "Certificate",
    "GammaDerivation",
    "SymbolicGated",
    "SymbolicRNN",
    "certificate",
    "derive_gamma",
    "lambda1_expr",
    "linear_condition",
    "symbolic_matrix",
    "symbolic_gated",
    "symbolic_rnn",
    "vanishing_condition",
]


def _sympy():
    import sympy

    return sympy


# ---------------------------------------------------------------------------------------
# γ = sup |σ′|
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GammaDerivation:
    """Result of :func:`derive_gamma`.

    Attributes
    ----------
    activation : str
    expr : sympy expression
        σ(x).
    derivative : sympy expression
        σ′(x) (a ``Piecewise`` for piecewise activations).
    gamma : sympy number
        The exact ``sup |σ′|``.
    candidates : tuple of (str, sympy number)
        Where ``|σ′|`` was evaluated (critical points, constant pieces, one-sided limits) and
        the value found there.
    stored : Fraction
        The activation's stored γ.
    """

    activation: str
    expr: Any
    derivative: Any
    gamma: Any
    candidates: tuple
    stored: Fraction

    @property
    def matches(self) -> bool:
        """Whether the derived γ equals the stored one exactly."""
        sp = _sympy()
        return bool(
            sp.simplify(self.gamma - sp.Rational(self.stored.numerator, self.stored.denominator)) == 0
        )

    def as_fraction(self) -> Fraction:
        sp = _sympy()
        g = sp.nsimplify(self.gamma)
        if not g.is_Rational:
            raise DynsysError(f"γ of {self.activation} is not rational: {g}")
        return Fraction(int(g.p), int(g.q))


def _pieces(sp, expr, x):
    """Split ``expr`` into (expression, set) pieces covering the real line."""
    folded = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    if not isinstance(folded, sp.Piecewise):
        return [(folded, sp.S.Reals)]
    out, rest = [], sp.S.Reals
    for ex, cond in folded.args:
        s = sp.S.Reals if cond in (True, sp.true) else cond.as_set()
        s = sp.Intersection(s, rest)
        rest = sp.Complement(rest, s)
        if s is not sp.S.EmptySet:
            out.append((ex, s))
    return out


def _intervals(sp, s):
    if isinstance(s, sp.Interval):
        return [s]
    if isinstance(s, sp.Union):
        return [a for a in s.args if isinstance(a, sp.Interval)]
    if s == sp.S.Reals:
        return [sp.Interval(-sp.oo, sp.oo)]
    raise DynsysError(f"cannot handle the piece domain {s} symbolically")


def activation_expr(activation, x=None):
    """The sympy expression of σ in the symbol ``x`` (a real symbol ``x`` if not given).

    Examples
    --------
    >>> activation_expr("tanh")
    tanh(x)
    """
    sp = _sympy()
    if x is None:
        x = sp.Symbol("x", real=True)
    return get_activation(activation).sympy_builder(sp, x)


def derive_gamma(activation) -> GammaDerivation:
    """Derive ``γ = sup_x |σ′(x)|`` exactly from the activation's sympy expression.

    On every smooth piece of σ (``Piecewise`` pieces after rewriting ``Max``/``Abs``) the
    supremum of ``|σ′|`` is among: the values at the critical points of σ′ inside the piece
    (``σ″ = 0``), the constant value when σ′ is constant, and the one-sided limits at the piece's
    ends (including ±∞). The largest candidate is γ.

    Parameters
    ----------
    activation : str or Activation

    Returns
    -------
    GammaDerivation

    Raises
    ------
    DynsysError
        When sympy cannot solve ``σ″ = 0`` on a piece.
    """
    sp = _sympy()
    act = get_activation(activation)
    x = sp.Symbol("x", real=True)
    expr = activation_expr(act, x)
    cands = []
    derivs = []
    for piece, dom in _pieces(sp, expr, x):
        d = sp.simplify(sp.diff(piece, x))
        derivs.append((d, dom))
        if not d.has(x):
            cands.append((f"σ′ ≡ {d} on {dom}", sp.Abs(d)))
            continue
        crit = sp.solveset(sp.diff(d, x), x, dom)
        if isinstance(crit, sp.ConditionSet) or not isinstance(crit, (sp.FiniteSet, type(sp.S.EmptySet))):
            raise DynsysError(f"cannot solve σ″ = 0 for activation {act.name!r} symbolically")
        for c in crit:
            cands.append((f"critical point x = {c}", sp.Abs(sp.simplify(d.subs(x, c)))))
        for iv in _intervals(sp, dom):
            if iv.inf is not None:
                cands.append((f"limit x → {iv.inf}⁺", sp.Abs(sp.limit(d, x, iv.inf, dir="+"))))
            if iv.sup is not None:
                cands.append((f"limit x → {iv.sup}⁻", sp.Abs(sp.limit(d, x, iv.sup, dir="-"))))
    gamma = sp.simplify(sp.Max(*[v for _, v in cands]))
    derivative = (
        derivs[0][0] if len(derivs) == 1 else sp.Piecewise(*[(d, dom.as_relational(x)) for d, dom in derivs])
    )
    return GammaDerivation(act.name, expr, derivative, gamma, tuple(cands), act.gamma)


# ---------------------------------------------------------------------------------------
# Symbolic conditions on W_rec
# ---------------------------------------------------------------------------------------


def symbolic_matrix(n: int, name: str = "w"):
    """An ``n × n`` sympy matrix of real symbols ``w_ij`` (1-based; ``w`` itself for n = 1)."""
    sp = _sympy()
    if not isinstance(n, int) or n < 1:
        raise DynsysError(f"n must be a positive integer, got {n!r}")
    if n == 1:
        return sp.Matrix([[sp.Symbol(name, real=True)]])
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True))


def _as_sympy_gamma(sp, act):
    return sp.Rational(act.gamma.numerator, act.gamma.denominator)


def lambda1_expr(W):
    """λ₁ = ‖W‖₂ as a closed form for ``n ≤ 2`` (``|w|`` for one unit)."""
    sp = _sympy()
    W = sp.Matrix(W)
    n = W.shape[0]
    if n == 1:
        return sp.Abs(W[0, 0])
    if n == 2:
        A = W.T * W
        tr, det = A.trace(), A.det()
        return sp.sqrt(tr / 2 + sp.sqrt(tr**2 / 4 - det))
    raise DynsysError(f"a closed form of λ₁ is only given for n <= 2, got n = {n}")


def vanishing_condition(W, gamma):
    """The sufficient condition for vanishing, ``λ₁(W) γ < 1``, as a sympy inequality.

    ``n = 1``: ``|w| γ < 1``. ``n ≤ 3``: by Sylvester's criterion, ``λ_max(WᵀW) < γ^{-2}`` iff
    every leading principal minor of ``γ^{-2} I − WᵀW`` is positive.
    """
    sp = _sympy()
    W = sp.Matrix(W)
    n = W.shape[0]
    gamma = sp.nsimplify(gamma)
    if n == 1:
        return sp.Abs(W[0, 0]) * gamma < 1
    if n > 3:
        raise DynsysError(f"symbolic conditions are only given for n <= 3, got n = {n}")
    M = sp.eye(n) / gamma**2 - W.T * W
    return sp.And(*[sp.expand(M[:j, :j].det()) > 0 for j in range(1, n + 1)])


def linear_condition(W):
    """The linear-case condition ``ρ(W) < 1`` as a sympy inequality (Jury criterion, n ≤ 3)."""
    sp = _sympy()
    W = sp.Matrix(W)
    n = W.shape[0]
    if n == 1:
        return sp.Abs(W[0, 0]) < 1
    if n > 3:
        raise DynsysError(f"symbolic conditions are only given for n <= 3, got n = {n}")
    z = sp.Symbol("z")
    coeffs = sp.Poly(W.charpoly(z).as_expr(), z).all_coeffs()  # monic, highest first
    p = sp.Poly(coeffs, z)
    if n == 2:
        _, a1, a0 = coeffs
        return sp.And(sp.Abs(a0) < 1, sp.expand(1 + a1 + a0) > 0, sp.expand(1 - a1 + a0) > 0)
    _, a2, a1, a0 = coeffs
    return sp.And(
        sp.expand(p.eval(1)) > 0,
        sp.expand(-p.eval(-1)) > 0,
        sp.Abs(a0) < 1,
        sp.Abs(sp.expand(a0**2 - 1)) > sp.Abs(sp.expand(a0 * a2 - a1)),
    )


# ---------------------------------------------------------------------------------------
# The certificate
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Certificate:
    """The theorem of paper eq. 6–7 applied to one ``W_rec`` and activation.

    Attributes
    ----------
    activation : str
    gamma : sympy Rational
        ``sup|σ′|``.
    n : int
    symbolic : bool
        Whether ``W_rec`` has free symbols (then the conditions are inequalities in them).
    W_rec : sympy Matrix or ndarray
    lambda1 : sympy expression, float or None
        Largest singular value (closed form for symbolic ``n ≤ 2``; None for symbolic n = 3).
    spectral_radius : float or None
        Numeric only.
    eta : sympy expression, float or None
        ``λ₁γ``.
    verdict : str
        ``"vanishing"``, ``"may-explode"``, ``"boundary"`` (numeric) or ``"conditional"``
        (symbolic: see ``vanishing_condition``).
    vanishing_condition : sympy Boolean
        ``λ₁γ < 1`` (sufficient for vanishing gradients).
    linear_condition : sympy Boolean or None
        ``ρ(W_rec) < 1`` (the linear-case condition; None when not derivable).
    """

    activation: str
    gamma: Any
    n: int
    symbolic: bool
    W_rec: Any
    lambda1: Any
    spectral_radius: Any
    eta: Any
    verdict: str
    vanishing_condition: Any
    linear_condition: Any

    def holds(self, values: dict) -> bool:
        """Evaluate the vanishing condition at numeric values of the symbols."""
        sp = _sympy()
        if not self.symbolic:
            return bool(self.vanishing_condition)
        subs = {sp.Symbol(str(k), real=True) if isinstance(k, str) else k: v for k, v in values.items()}
        out = self.vanishing_condition.subs(subs)
        if out not in (sp.true, sp.false):
            raise DynsysError(f"values do not fix every symbol: {sorted(map(str, out.free_symbols))}")
        return bool(out)

    # -- rendering -----------------------------------------------------------------------
    def text(self) -> str:
        """Plain-text rendering."""
        g = self.gamma
        lines = [
            "Gradient certificate (Pascanu, Mikolov & Bengio 2013, eq. 5–7)",
            f"  activation: {self.activation}, γ = sup|σ′| = {g}, 1/γ = {1 / g}; n = {self.n}",
        ]
        if self.symbolic:
            lines.append(f"  W_rec = {self.W_rec.tolist()}")
            if self.lambda1 is not None:
                lines.append(f"  λ₁ = ‖W_rec‖₂ = {self.lambda1}")
            lines += [
                f"  vanishing (sufficient, eq. 7) iff λ₁ < 1/γ:  {self.vanishing_condition}",
                "  exploding needs λ₁ > 1/γ (necessary), i.e. the negation of the above",
                "  bound: ‖∂x_t/∂x_k‖ ≤ (λ₁γ)^(t−k)",
            ]
            if self.linear_condition is not None:
                lines.append(f"  linear case (σ = id): ρ(W_rec) < 1 iff  {self.linear_condition}")
            return "\n".join(lines)
        lam, eta = float(self.lambda1), float(self.eta)
        lines.append(f"  λ₁ = ‖W_rec‖₂ = {lam:.6g}, ρ(W_rec) = {float(self.spectral_radius):.6g}")
        lines.append(f"  η = λ₁γ = {eta:.6g}")
        if self.verdict == "vanishing":
            lines += [
                f"  VANISHING: λ₁ = {lam:.6g} < 1/γ = {float(1 / g):.6g} (sufficient condition, eq. 6–7)",
                f"  bound: ‖∂x_t/∂x_k‖ ≤ η^(t−k) = {eta:.6g}^(t−k); exploding is impossible",
            ]
        elif self.verdict == "may-explode":
            lines += [
                f"  MAY EXPLODE: λ₁ = {lam:.6g} > 1/γ = {float(1 / g):.6g} (the necessary condition for "
                "exploding holds; not sufficient)",
                f"  bound: ‖∂x_t/∂x_k‖ ≤ η^(t−k) = {eta:.6g}^(t−k) (no vanishing guarantee)",
            ]
        else:
            lines.append(f"  BOUNDARY: λ₁γ = {eta:.6g} ≈ 1; no conclusion from eq. 7")
        rho = float(self.spectral_radius)
        lin = "vanishing" if rho < 1 else ("may explode" if rho > 1 else "boundary")
        lines.append(
            f"  linear case (σ = id): ρ = {rho:.6g} -> {lin} "
            "(ρ < 1 suffices for vanishing; ρ > 1 is necessary for exploding)"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def latex(self) -> str:
        """LaTeX rendering (an ``aligned`` block without math delimiters)."""
        sp = _sympy()
        g = sp.latex(self.gamma)
        rows = [
            rf"&\text{{activation: {self.activation}}},\quad \gamma = \sup_x|\sigma'(x)| = {g},\quad n = {self.n}\\",
        ]
        if self.symbolic:
            rows.append(rf"&W_{{rec}} = {sp.latex(self.W_rec)}\\")
            if self.lambda1 is not None:
                rows.append(rf"&\lambda_1 = \|W_{{rec}}\|_2 = {sp.latex(self.lambda1)}\\")
            rows += [
                rf"&\text{{vanishing (sufficient): }} \lambda_1 < 1/\gamma \iff {sp.latex(self.vanishing_condition)}\\",
                r"&\text{exploding requires (necessary): } \lambda_1 > 1/\gamma\\",
                r"&\left\|\frac{\partial x_t}{\partial x_k}\right\| \le (\lambda_1\gamma)^{t-k}\\",
            ]
            if self.linear_condition is not None:
                rows.append(
                    rf"&\text{{linear case: }} \rho(W_{{rec}}) < 1 \iff {sp.latex(self.linear_condition)}"
                )
        else:
            lam, eta, rho = float(self.lambda1), float(self.eta), float(self.spectral_radius)
            rel = (
                "<" if self.verdict == "vanishing" else (">" if self.verdict == "may-explode" else r"\approx")
            )
            rows += [
                rf"&\lambda_1 = \|W_{{rec}}\|_2 = {lam:.6g},\quad \rho(W_{{rec}}) = {rho:.6g}\\",
                rf"&\eta = \lambda_1\gamma = {eta:.6g} {rel} 1 \;\Rightarrow\; \text{{{self.verdict}}}\\",
                rf"&\left\|\frac{{\partial x_t}}{{\partial x_k}}\right\| \le \eta^{{t-k}} = {eta:.6g}^{{t-k}}\\",
                r"&\text{linear case: } \rho < 1 \text{ suffices for vanishing; } \rho > 1 \text{ is necessary for exploding}",
            ]
        return "\\begin{aligned}\n" + "\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"


def _to_sympy_matrix(sp, W):
    if isinstance(W, sp.MatrixBase):
        return sp.Matrix(W)
    if isinstance(W, sp.Basic):
        return sp.Matrix([[W]])
    if isinstance(W, (list, tuple)) and any(
        isinstance(v, sp.Basic) for row in W for v in (row if isinstance(row, (list, tuple)) else [row])
    ):
        return sp.Matrix(W)
    return None


def certificate(
    W_rec, activation="tanh", *, tol: float = 1e-6, lambda1=None, spectral_radius=None
) -> Certificate:
    """The certificate of eq. 6–7 for a numeric or symbolic ``W_rec``.

    Parameters
    ----------
    W_rec : array_like (n, n), or sympy Matrix / symbol
        Numeric weights of any size (λ₁ by an iterative solver for large n), or a symbolic
        matrix with ``n ≤ 3`` (see :func:`symbolic_matrix`).
    activation : str or Activation
    tol : float
        Width of the ``"boundary"`` band around ``λ₁γ = 1`` (numeric case).
    lambda1, spectral_radius : float, optional
        Already computed values for a numeric ``W_rec`` (e.g. from
        :func:`dynsys.analysis.conditions.check_conditions`), to skip recomputing them.

    Returns
    -------
    Certificate
    """
    sp = _sympy()
    from .analysis import conditions

    act = get_activation(activation)
    gamma = _as_sympy_gamma(sp, act)
    M = _to_sympy_matrix(sp, W_rec)
    if M is not None and M.free_symbols:
        n = M.shape[0]
        if M.shape[0] != M.shape[1]:
            raise DynsysError(f"W_rec must be square, got shape {M.shape}")
        if n > 3:
            raise DynsysError(f"symbolic W_rec is supported for n <= 3, got n = {n}")
        lam = lambda1_expr(M) if n <= 2 else None
        return Certificate(
            activation=act.name,
            gamma=gamma,
            n=n,
            symbolic=True,
            W_rec=M,
            lambda1=lam,
            spectral_radius=None,
            eta=None if lam is None else lam * gamma,
            verdict="conditional",
            vanishing_condition=vanishing_condition(M, gamma),
            linear_condition=linear_condition(M),
        )
    W = conditions._check_square(np.asarray(M.evalf(), dtype=float) if M is not None else W_rec, "W_rec")
    lam = conditions.spectral_norm(W) if lambda1 is None else float(lambda1)
    rho = conditions.spectral_radius(W) if spectral_radius is None else float(spectral_radius)
    eta = lam * float(gamma)
    return Certificate(
        activation=act.name,
        gamma=gamma,
        n=W.shape[0],
        symbolic=False,
        W_rec=W,
        lambda1=lam,
        spectral_radius=rho,
        eta=eta,
        verdict=conditions.verdict_for(eta, tol),
        vanishing_condition=sp.sympify(bool(eta < 1.0)),
        linear_condition=sp.sympify(bool(rho < 1.0)),
    )


# ---------------------------------------------------------------------------------------
# The RNN map and its Jacobian, symbolically
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SymbolicRNN:
    """The map of eq. 2 with symbolic weights: ``F(x, u) = W_rec σ(x) + W_in u + b``.

    Attributes
    ----------
    n, m : int
    activation : str
    W_rec : sympy Matrix (n, n)
    W_in : sympy Matrix (n, m)
    b, x : sympy Matrix (n, 1)
    u : sympy Matrix (m, 1)
    step : sympy Matrix (n, 1)
        ``F(x, u)``.
    jacobian : sympy Matrix (n, n)
        ``∂F/∂x = W_rec diag(σ′(x))`` (eq. 5, column convention), computed by sympy.
    """

    n: int
    m: int
    activation: str
    W_rec: Any
    W_in: Any
    b: Any
    x: Any
    u: Any
    step: Any
    jacobian: Any

    def lambdify(self):
        """numpy callables ``step_fn(W_rec, W_in, b, x, u)`` and ``jac_fn(W_rec, x)``.

        Arguments are arrays of shapes ``(n, n)``, ``(n, m)``, ``(n,)``, ``(n,)``, ``(m,)``;
        the results have shapes ``(n,)`` and ``(n, n)`` (one point per call).
        """
        sp = _sympy()
        Wl = self.W_rec.tolist()
        Wil = self.W_in.tolist()
        bl, xl, ul = list(self.b), list(self.x), list(self.u)
        f_step = sp.lambdify([Wl, Wil, bl, xl, ul], self.step, modules="numpy")
        f_jac = sp.lambdify([Wl, xl], self.jacobian, modules="numpy")
        n, m = self.n, self.m

        def step_fn(W_rec, W_in, b, x, u=None):
            u = np.zeros(m) if u is None else np.asarray(u, float)
            W_in = np.zeros((n, 0)) if W_in is None else np.asarray(W_in, float).reshape(n, m)
            return np.asarray(
                f_step(np.asarray(W_rec, float), W_in, np.asarray(b, float), np.asarray(x, float), u),
                dtype=float,
            ).reshape(n)

        def jac_fn(W_rec, x):
            out = f_jac(np.asarray(W_rec, float), np.asarray(x, float))
            return np.asarray(out, dtype=float).reshape(n, n)

        return step_fn, jac_fn


def symbolic_rnn(n: int, m: int = 0, activation="tanh") -> SymbolicRNN:
    """Build the RNN map of eq. 2 symbolically for small ``n`` and its Jacobian.

    Parameters
    ----------
    n : int
        State dimension (keep it small: the Jacobian has n² entries).
    m : int
        Input dimension.
    activation : str or Activation
    """
    sp = _sympy()
    if not isinstance(n, int) or not 1 <= n <= 8:
        raise DynsysError(f"n must be an integer in [1, 8] for the symbolic map, got {n!r}")
    if not isinstance(m, int) or m < 0:
        raise DynsysError(f"m must be a non-negative integer, got {m!r}")
    act = get_activation(activation)
    W = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"w_{i + 1}{j + 1}", real=True))
    W_in = sp.Matrix(n, m, lambda i, j: sp.Symbol(f"v_{i + 1}{j + 1}", real=True))
    b = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"b_{i + 1}", real=True))
    x = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"x_{i + 1}", real=True))
    u = sp.Matrix(m, 1, lambda i, _: sp.Symbol(f"u_{i + 1}", real=True))
    h = x.applyfunc(lambda xi: activation_expr(act, xi))
    F = W * h + W_in * u + b
    J = F.jacobian(x)
    return SymbolicRNN(n, m, act.name, W, W_in, b, x, u, F, J)


# ---------------------------------------------------------------------------------------
# Gated cells: the Jacobian decomposition behind the bounds γ_GRU, γ_LSTM
# ---------------------------------------------------------------------------------------


@functools.cache
def _sigmoid_function():
    """A sympy function ``sigmoid`` with ``σ′ = σ(1 − σ)`` (so derivatives stay polynomial in σ)."""
    sp = _sympy()

    class sigmoid(sp.Function):
        """σ(a) = 1 / (1 + e^{−a})."""

        def fdiff(self, argindex=1):
            s = self.func(*self.args)
            return s * (1 - s)

        def _eval_rewrite_as_exp(self, a, **kwargs):
            return 1 / (1 + sp.exp(-a))

    return sigmoid


@dataclass(frozen=True, eq=False)
class SymbolicGated:
    """A GRU or LSTM cell with symbolic PyTorch weights, its Jacobian and the decomposition the
    bounds ``γ_GRU``, ``γ_LSTM`` are derived from (paper_notes.md, "Conditions for gated cells").

    Attributes
    ----------
    cell : {"GRU", "LSTM"}
    n, m : int
    weight_ih, weight_hh : sympy Matrix, shapes (G n, m), (G n, n)
    bias_ih, bias_hh : sympy Matrix (G n, 1)
    x : sympy Matrix (dim, 1)
        The state: ``h`` (GRU) or ``[h, c]`` (LSTM).
    u : sympy Matrix (m, 1)
    step : sympy Matrix (dim, 1)
        ``F(x, u)`` as ``torch.nn.GRUCell`` / ``LSTMCell`` computes it.
    jacobian : sympy Matrix (dim, dim)
        ``∂F/∂x`` computed by sympy.
    decomposition : sympy Matrix (dim, dim)
        The Jacobian as the derivation writes it: GRU
        ``diag(z) + diag((h − ñ) z(1−z)) W_hz + diag((1−z)(1−ñ²)) [diag(r) W_hn +
        diag((W_hn h + b_hn) r(1−r)) W_hr]``; LSTM the blocks ``∂c′/∂h = diag(c f(1−f)) W_hf +
        diag(g i(1−i)) W_hi + diag(i(1−g²)) W_hg``, ``∂h′/∂h = diag(k) ∂c′/∂h +
        diag(tanh(c′) o(1−o)) W_ho``, ``∂h′/∂c = diag(k f)``, ``∂c′/∂c = diag(f)`` with
        ``k = o(1 − tanh²c′)``.
    """

    cell: str
    n: int
    m: int
    weight_ih: Any
    weight_hh: Any
    bias_ih: Any
    bias_hh: Any
    x: Any
    u: Any
    step: Any
    jacobian: Any
    decomposition: Any

    @property
    def matches(self) -> bool:
        """``jacobian − decomposition`` expands to zero: the decomposition is exact."""
        sp = _sympy()
        return all(sp.expand(e) == 0 for e in self.jacobian - self.decomposition)

    def lambdify(self):
        """numpy callables ``step_fn(weight_ih, weight_hh, bias_ih, bias_hh, x, u)`` and
        ``jac_fn(...)`` (same arguments; one point per call, ``u`` of shape (m,))."""
        sp = _sympy()
        args = [
            self.weight_ih.tolist(),
            self.weight_hh.tolist(),
            list(self.bias_ih),
            list(self.bias_hh),
            list(self.x),
            list(self.u),
        ]
        mods = [{"sigmoid": lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))}, "numpy"]
        f_step = sp.lambdify(args, self.step, modules=mods)
        f_jac = sp.lambdify(args, self.jacobian, modules=mods)
        G, n, m, d = self.weight_hh.shape[0] // self.n, self.n, self.m, self.x.shape[0]

        def _args(weight_ih, weight_hh, bias_ih, bias_hh, x, u=None):
            W_ih = np.zeros((G * n, m)) if weight_ih is None else np.asarray(weight_ih, float)
            return (
                W_ih.reshape(G * n, m),
                np.asarray(weight_hh, float),
                np.asarray(bias_ih, float),
                np.asarray(bias_hh, float),
                np.asarray(x, float),
                np.zeros(m) if u is None else np.asarray(u, float),
            )

        def step_fn(*a, **kw):
            return np.asarray(f_step(*_args(*a, **kw)), dtype=float).reshape(d)

        def jac_fn(*a, **kw):
            return np.asarray(f_jac(*_args(*a, **kw)), dtype=float).reshape(d, d)

        return step_fn, jac_fn


def symbolic_gated(cell: str = "GRU", n: int = 2, m: int = 0) -> SymbolicGated:
    """Build a GRU or LSTM cell symbolically, its Jacobian and the decomposition of the bounds.

    Parameters
    ----------
    cell : {"GRU", "LSTM"}
    n : int
        Hidden units (keep it small: 1 to 4).
    m : int
        Input dimension.

    Examples
    --------
    >>> g = symbolic_gated("GRU", n=1)
    >>> g.jacobian.shape, g.matches
    ((1, 1), True)
    """
    sp = _sympy()
    cell = str(cell).upper()
    if cell not in ("GRU", "LSTM"):
        raise DynsysError(f"cell must be 'GRU' or 'LSTM', got {cell!r}")
    if not isinstance(n, int) or not 1 <= n <= 4:
        raise DynsysError(f"n must be an integer in [1, 4] for the symbolic cell, got {n!r}")
    if not isinstance(m, int) or m < 0:
        raise DynsysError(f"m must be a non-negative integer, got {m!r}")
    S = _sigmoid_function()
    G = 3 if cell == "GRU" else 4
    W_ih = sp.Matrix(G * n, m, lambda i, j: sp.Symbol(f"v_{i + 1}_{j + 1}", real=True))
    W_hh = sp.Matrix(G * n, n, lambda i, j: sp.Symbol(f"w_{i + 1}_{j + 1}", real=True))
    b_ih = sp.Matrix(G * n, 1, lambda i, _: sp.Symbol(f"a_{i + 1}", real=True))
    b_hh = sp.Matrix(G * n, 1, lambda i, _: sp.Symbol(f"b_{i + 1}", real=True))
    u = sp.Matrix(m, 1, lambda i, _: sp.Symbol(f"u_{i + 1}", real=True))
    h = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"h_{i + 1}", real=True))
    gi, gh = W_ih * u + b_ih, W_hh * h + b_hh
    blk = lambda M, k: M[k * n : (k + 1) * n, :]  # noqa: E731 - the k-th gate block
    dg = lambda v: sp.diag(*list(v))  # noqa: E731
    one = sp.ones(n, 1)
    if cell == "GRU":
        x = h
        r = (blk(gi, 0) + blk(gh, 0)).applyfunc(S)
        z = (blk(gi, 1) + blk(gh, 1)).applyfunc(S)
        ghn = blk(gh, 2)
        cand = (blk(gi, 2) + r.multiply_elementwise(ghn)).applyfunc(sp.tanh)
        F = (one - z).multiply_elementwise(cand) + z.multiply_elementwise(h)
        sz = z.multiply_elementwise(one - z)
        sr = r.multiply_elementwise(one - r)
        tn = (one - z).multiply_elementwise(one - cand.applyfunc(lambda e: e**2))
        decomp = (
            dg(z)
            + dg((h - cand).multiply_elementwise(sz)) * blk(W_hh, 1)
            + dg(tn) * (dg(r) * blk(W_hh, 2) + dg(ghn.multiply_elementwise(sr)) * blk(W_hh, 0))
        )
    else:
        c = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"c_{i + 1}", real=True))
        x = h.col_join(c)
        a = gi + gh
        i_, f_, o_ = (blk(a, k).applyfunc(S) for k in (0, 1, 3))
        g_ = blk(a, 2).applyfunc(sp.tanh)
        c_new = f_.multiply_elementwise(c) + i_.multiply_elementwise(g_)
        tc = c_new.applyfunc(sp.tanh)
        F = o_.multiply_elementwise(tc).col_join(c_new)
        s = lambda v: v.multiply_elementwise(one - v)  # noqa: E731 - σ′ through σ
        k = o_.multiply_elementwise(one - tc.applyfunc(lambda e: e**2))
        dc_dh = (
            dg(c.multiply_elementwise(s(f_))) * blk(W_hh, 1)
            + dg(g_.multiply_elementwise(s(i_))) * blk(W_hh, 0)
            + dg(i_.multiply_elementwise(one - g_.applyfunc(lambda e: e**2))) * blk(W_hh, 2)
        )
        dh_dh = dg(k) * dc_dh + dg(tc.multiply_elementwise(s(o_))) * blk(W_hh, 3)
        decomp = sp.Matrix(sp.BlockMatrix([[dh_dh, dg(k.multiply_elementwise(f_))], [dc_dh, dg(f_)]]))
    return SymbolicGated(cell, n, m, W_ih, W_hh, b_ih, b_hh, x, u, F, F.jacobian(x), decomp)
