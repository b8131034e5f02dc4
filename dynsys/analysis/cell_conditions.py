"""Conditions for maps that are not eq. 2: the GRU and LSTM bounds and the report for any map.

:func:`gated_bound` states the bounds on ``‖∂h_t/∂h_k‖`` that hold for a GRU (a vanishing condition
and a necessary condition for exploding of the eq. 6–7 form, on the recurrent weights) and for an
LSTM (a vanishing condition only: no threshold on the weights is necessary for exploding); the
derivation is in ``paper_notes.md`` ("Conditions for gated cells"). :func:`conditions_report` gives
any map the empirical Jacobian-product verdict, the bound where one holds, and the reason the eq.
6–7 conditions of :mod:`dynsys.analysis.conditions` are not stated for it.

Maps without the eq. 2 form (Map rule 15) get :func:`conditions_report`: the empirical verdict
(:func:`empirical_verdict` of the measured rate), the one-line reason eq. 6–7 are not stated
(``WHY_NOT_EQ67``) and, for a GRU or an LSTM cell, the bounds that do hold
(:func:`gated_bound`, :class:`GatedBound`; derivation in paper_notes.md, "Conditions for gated
cells"). GRU: ``J = diag(z) + diag(1 − z) M``, so ``μ ≥ ‖M‖∞`` plays the part of ``λ₁γ`` — μ < 1
is sufficient for vanishing, μ > 1 necessary for exploding — and the 2-norm bound ``γ_GRU`` is
sufficient too. LSTM: ``‖∂x_t/∂x_k‖₂ ≤ κ γ_LSTM^{t−k}`` on the invariant box; no necessary
condition of the eq. 7 form exists (the forget-gate path is not balanced by the input gate).
A cell is recognized by what it computes (a GRUMap/LSTMMap built from its PyTorch-named weights
must give the same step and Jacobian), never by its class.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps.gated import GRUMap
>>> b = gated_bound(GRUMap(weight_hh=np.zeros((6, 2)), bias_hh=[0, 0, 3, 3, 0, 0]))  # z = σ(3)
>>> round(b.gamma_inf, 6), b.mu, b.verdict
(0.952574, 0.0, 'vanishing')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_finite_scalar, check_positive_int, check_rng
from ..errors import DynsysError
from ..maps.base import Map
from .conditions import (
    SCALE_DECADES,
    ConditionResult,
    ProductEvidence,
    check_conditions,
    product_evidence,
    spectral_norm,
)

__all__ = [
    "WHY_NOT_EQ67",
    "ConditionsReport",
    "GatedBound",
    "conditions_report",
    "empirical_verdict",
    "gated_bound",
]

# ---------------------------------------------------------------------------------------
# Maps without the eq. 2 form: gated cells (the bound that holds) and the empirical verdict
# ---------------------------------------------------------------------------------------

EmpiricalVerdict = Literal["vanishing", "exploding", "neutral"]
BoundVerdict = Literal["vanishing", "may-explode", "boundary", "inconclusive"]
Form = Literal["rnn", "gru", "lstm", "residual", "layernorm", "other"]

#: the one-line reason eq. 6–7 are not stated, per form of map (``{name}``: the map's class)
WHY_NOT_EQ67 = {
    "gru": (
        "a GRU is not the map of eq. 2: its Jacobian diag(z) + diag(1 − z)·M blends the identity-like "
        "update-gate path with the candidate path M, so λ₁ of no single weight matrix bounds it; the "
        "analogue that holds is μ (a bound on M) vs 1, with the rate z + (1 − z)μ"
    ),
    "lstm": (
        "an LSTM is not the map of eq. 2: its cell path ∂c_t/∂c_{t−1} = diag(f) passes gradients "
        "through no recurrent weight and is not balanced by the input gate, so no threshold on a "
        "weight norm (λ₁ vs 1/γ) decides vanishing or exploding"
    ),
    "residual": (
        "a residual RNN is not the map of eq. 2: its Jacobian I + W_rec diag(σ′(x)) adds the identity, "
        "so λ₁γ bounds only the residual branch (‖J‖₂ ≤ 1 + λ₁γ, never below 1) and no threshold on a "
        "weight norm decides vanishing or exploding"
    ),
    "layernorm": (
        "a layer-normalized RNN is not the map of eq. 2: its Jacobian diag(d)(I − 𝟙𝟙ᵀ/n − ââᵀ/n) W_rec / s "
        "does not change when W_rec and W_in are scaled together, so λ₁ of W_rec alone decides nothing"
    ),
    "other": (
        "{name} is not the map of eq. 2 (as_rnn() is None) and dynsys knows no bound on its "
        "Jacobian: only the measured Jacobian-product rate is given"
    ),
}


def empirical_verdict(rate: float, rate_tol: float = 1e-2) -> EmpiricalVerdict:
    """The verdict of a measured per-step rate of ``log‖∂x_t/∂x_k‖``.

    ``"vanishing"`` if ``rate < −rate_tol``, ``"exploding"`` if ``rate > rate_tol``, else
    ``"neutral"`` (the products neither shrink nor grow by more than ``e^{rate_tol}`` per step).

    Examples
    --------
    >>> empirical_verdict(-0.3), empirical_verdict(0.002), empirical_verdict(0.5)
    ('vanishing', 'neutral', 'exploding')
    """
    if rate < -rate_tol:
        return "vanishing"
    if rate > rate_tol:
        return "exploding"
    return "neutral"


def _sig(a):
    """σ(a), to full relative precision in both tails (the bounds use σ(−a) for 1 − σ(a))."""
    return np.exp(-np.logaddexp(0.0, -a))


def _nearest0(lo, hi):
    """The point of ``[lo, hi]`` closest to 0, where σ′ and 1 − tanh² are largest."""
    return np.clip(0.0, lo, hi)


def _dsig_max(lo, hi):
    """``max σ′`` over ``[lo, hi]``: ``σ(a)σ(−a)`` at the point nearest 0."""
    a = _nearest0(lo, hi)
    return _sig(a) * _sig(-a)


def _dtanh_max(lo, hi):
    """``max (1 − tanh²)`` over ``[lo, hi]``, as ``cosh⁻²`` (no cancellation in the tails)."""
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(_nearest0(lo, hi)) ** 2


def _absmax(lo, hi):
    return np.maximum(np.abs(lo), np.abs(hi))


def _row_scaled_norm(d, W) -> float:
    """``‖diag(d) W‖₂``, which bounds ``‖diag(α) W‖₂`` for every ``|α| ≤ d`` (inf if a row of
    ``W`` that is not zero has a non-finite ``d``)."""
    d = np.where(np.any(W != 0, axis=1), d, 0.0)
    if not np.all(np.isfinite(d)):
        return float("inf")
    return spectral_norm(d[:, None] * W)


@dataclass(frozen=True, eq=False)
class GatedBound:
    """What can be proved about the gradients of a gated cell: the analogue of eq. 6–7.

    Every statement holds along trajectories that stay in ``region`` with inputs in ``inputs``
    (both sets are forward invariant and hold every periodic point). Derivation: paper_notes.md,
    "Conditions for gated cells".

    GRU. The Jacobian is ``J = diag(z) + diag(1 − z) M`` (``M``: the candidate path), a convex
    combination row by row. With ``μ_i ≥ ‖M_i‖₁`` (row 1-norms, over the region):

    * ``‖J‖∞ ≤ γ_∞ = max_i max_{z_i} [z_i + (1 − z_i) μ_i]``; ``μ = max_i μ_i < 1`` is sufficient
      for vanishing (``‖∂h_t/∂h_k‖₂ ≤ √n γ_∞^{t−k}``), and **μ > 1 is necessary for exploding**
      (``μ ≤ 1`` gives ``‖∂h_t/∂h_k‖∞ ≤ 1``) — the eq. 7 form, a threshold on the recurrent
      weights alone (``μ ≤ 2‖W_hz‖∞ + ‖W_hn‖∞ + ¼ max_i(|b_hn,i| + ‖W_hn,i‖₁) ‖W_hr‖∞``), not on
      the gates. The update gate sets the rate: ``z → 1`` brings it to 1 with no large weight.
    * ``‖J‖₂ ≤ γ = z_max + ‖diag(A) W_hz‖₂ + ‖diag(B) W_hn‖₂ + ‖diag(D) W_hr‖₂`` (κ = 1):
      ``γ < 1`` is also sufficient for vanishing (better than μ for large dense weights).

    LSTM. ``γ`` bounds the one-step Jacobian in the norm that weights ``h`` by ``scale``
    (``‖S J S⁻¹‖₂ ≤ γ``, ``S = diag(s I, I)``), so ``‖∂x_t/∂x_k‖₂ ≤ κ γ^{t−k}`` with
    ``κ = max(s, 1/s)``; ``γ < 1`` is sufficient for vanishing. No necessary condition for
    exploding of the eq. 7 form exists: the cell path ``diag(f)`` is not balanced by the input
    gate, and with ``f`` near 1 arbitrarily small recurrent weights make ``ρ(J) > 1``.

    Attributes
    ----------
    cell : {"GRU", "LSTM"}
    verdict : {"vanishing", "may-explode", "boundary", "inconclusive"}
        GRU: ``"vanishing"`` if ``γ < 1 − tol`` or ``μ < 1 − tol``, else ``"may-explode"`` if
        ``μ > 1 + tol`` (the necessary condition holds), else ``"boundary"``. LSTM:
        ``"vanishing"`` if ``γ < 1 − tol``, else ``"inconclusive"``.
    gamma : float
        The 2-norm rate bound γ (GRU: on ``‖J‖₂``; LSTM: on ``‖S J S⁻¹‖₂``).
    prefactor : float
        κ in ``‖∂x_t/∂x_k‖₂ ≤ κ γ^{t−k}`` (1 for the GRU).
    scale : float or None
        LSTM: the weight s of ``h``, chosen in ``[10^-2, 10^2]`` to minimize γ; None for the GRU.
    step_bound : float
        A bound on ``sup ‖∂x_t/∂x_{t−1}‖₂`` over the region and inputs (``gamma`` for the GRU).
    mu : float or None
        GRU: ``μ = max_i μ_i``, the eq. 6–7 analogue (None for the LSTM).
    gamma_inf : float or None
        GRU: ``γ_∞``, the rate bound in the ∞-norm (None for the LSTM).
    gate_path : float
        The rate of the path that needs no recurrent weight: ``z_max = max_i z̄_i`` (GRU, the
        norm of ``diag(z)``) or ``f_max = max_i f̄_i`` (LSTM, the c-path ``diag(f)``). With
        ``W_hh = 0`` the GRU's ``gamma`` and ``gamma_inf`` are exactly ``z_max``, and the
        LSTM's ``gamma`` tends to ``f_max``.
    weight_terms : dict of str to float
        GRU: ``‖diag(A) W_hz‖₂``, ``‖diag(B) W_hn‖₂``, ``‖diag(D) W_hr‖₂`` (keys ``W_hz``,
        ``W_hn``, ``W_hr``; ``gamma = gate_path + their sum``). LSTM: the bounds of the blocks
        ``∂h′/∂h``, ``∂c′/∂h`` (keys ``dh/dh``, ``dc/dh``).
    gates : dict of str to (ndarray, ndarray)
        Per unit, an interval ``(lo, hi)`` (shape (n,) each) that holds the gate's value over
        the region and inputs: GRU ``r``, ``z``, ``n`` (the candidate ñ); LSTM ``i``, ``f``,
        ``g``, ``o``.
    unit_mu : ndarray or None
        GRU: ``μ_i`` per unit.
    cell_radius : ndarray or None
        LSTM: ``C_i = ī_i ḡ_i / (1 − f̄_i)``, the invariant box ``|c_i| ≤ C_i`` of the cell state.
    region, inputs : str
        The sets the bound covers, in words.
    u : ndarray or None
        The centre of the input box (None: zero input, or an autonomous cell).
    input_radius : float
        Half-width R of the input box ``|u_j − u0_j| ≤ R`` (0: the constant input ``u``).
    tol : float
    """

    cell: str
    verdict: BoundVerdict
    gamma: float
    prefactor: float
    scale: float | None
    step_bound: float
    mu: float | None
    gamma_inf: float | None
    gate_path: float
    weight_terms: dict
    gates: dict
    unit_mu: np.ndarray | None
    cell_radius: np.ndarray | None
    region: str
    inputs: str
    u: np.ndarray | None
    input_radius: float
    tol: float

    @property
    def symbol(self) -> str:
        """``"γ_GRU"`` or ``"γ_LSTM"``."""
        return f"γ_{self.cell}"

    def as_dict(self) -> dict:
        return {
            "cell": self.cell,
            "verdict": self.verdict,
            "gamma": self.gamma,
            "prefactor": self.prefactor,
            "scale": self.scale,
            "step_bound": self.step_bound,
            "mu": self.mu,
            "gamma_inf": self.gamma_inf,
            "gate_path": self.gate_path,
            "weight_terms": dict(self.weight_terms),
            "region": self.region,
            "inputs": self.inputs,
            "u": None if self.u is None else self.u.tolist(),
            "input_radius": self.input_radius,
            "cell_radius_max": None if self.cell_radius is None else float(np.max(self.cell_radius)),
            "gate_ranges": {k: [float(np.min(lo)), float(np.max(hi))] for k, (lo, hi) in self.gates.items()},
            "tol": self.tol,
            "statement": self.statement(),
        }

    def inequalities(self) -> list[str]:
        """The bounds, one inequality each."""
        g = self.symbol
        if self.cell == "GRU":
            return [
                f"‖∂h_t/∂h_(t−1)‖∞ ≤ γ_∞ = max_i [z_i + (1 − z_i) μ_i] = {self.gamma_inf:.6g}, "
                f"μ = {self.mu:.6g}",
                f"‖∂h_t/∂h_(t−1)‖₂ ≤ {g} = {self.gamma:.6g}",
            ]
        return [f"‖∂x_t/∂x_k‖₂ ≤ κ {g}^(t−k) with {g} = {self.gamma:.6g}, κ = {self.prefactor:.4g}"]

    def conclusion(self) -> str:
        """What the bounds say, one sentence."""
        g = self.symbol
        if self.cell == "GRU":
            if self.verdict == "vanishing":
                which = (
                    "μ < 1 (‖∂h_t/∂h_k‖₂ ≤ √n γ_∞^(t−k) → 0)"
                    if self.mu < 1.0 - self.tol
                    else f"{g} < 1 (‖∂h_t/∂h_k‖₂ ≤ {g}^(t−k) → 0)"
                )
                return f"vanishing — sufficient: {which}"
            if self.verdict == "boundary":
                return f"boundary — μ = 1 within tol, and {g} ≥ 1"
            return (
                f"may explode — μ > 1 and {g} ≥ 1: the necessary condition for exploding holds (not "
                "sufficient), as λ₁ > 1/γ does for an RNN"
            )
        if self.verdict == "vanishing":
            return f"vanishing — sufficient: {g} < 1 (‖∂x_t/∂x_k‖₂ ≤ κ {g}^(t−k) → 0)"
        return (
            f"inconclusive — {g} ≥ 1 proves nothing, and no necessary condition for exploding of the "
            "eq. 7 form exists: with forget gates near 1 arbitrarily small W_hh make ρ(J) > 1"
        )

    def terms(self) -> str:
        """How the bounds are made up."""
        w = self.weight_terms
        if self.cell == "GRU":
            terms = " + ".join(f"{v:.4g} [{k}]" for k, v in w.items())
            return f"{self.symbol} = z_max {self.gate_path:.4g} + {terms}"
        return (
            f"blocks ‖∂h′/∂h‖₂ ≤ {w['dh/dh']:.4g}, ‖∂c′/∂h‖₂ ≤ {w['dc/dh']:.4g}, c-path "
            f"‖∂c′/∂c‖₂ ≤ f_max = {self.gate_path:.4g}; h weighted by s = {self.scale:.4g}; "
            f"one step ‖J‖₂ ≤ {self.step_bound:.6g}"
        )

    def statement(self) -> str:
        """The bounds, the sets they cover and the verdict, one sentence."""
        return f"{'; '.join(self.inequalities())} for {self.region} and {self.inputs}; {self.conclusion()}"

    def latex(self) -> str:
        """The bounds as a LaTeX ``aligned`` block."""
        g = rf"\gamma_{{\mathrm{{{self.cell}}}}}"
        if self.cell == "GRU":
            rows = [
                rf"\|\partial h_t/\partial h_{{t-1}}\|_\infty &\le \gamma_\infty = \max_i\,[z_i + (1-z_i)\mu_i]"
                rf" = {self.gamma_inf:.6g},\quad \mu = {self.mu:.6g}",
                rf"\|\partial h_t/\partial h_{{t-1}}\|_2 &\le {g} = z_{{\max}} + \|\mathrm{{diag}}(A)W_{{hz}}\|_2"
                rf" + \|\mathrm{{diag}}(B)W_{{hn}}\|_2 + \|\mathrm{{diag}}(D)W_{{hr}}\|_2 = {self.gamma:.6g}",
            ]
            verdict = {
                "vanishing": r"\text{vanishing (sufficient condition)}",
                "may-explode": r"\mu > 1:\ \text{may explode (necessary condition)}",
                "boundary": r"\mu = 1:\ \text{boundary}",
            }[self.verdict]
        else:
            rows = [
                rf"\|\partial x_t/\partial x_k\|_2 &\le \kappa\,{g}^{{t-k}},\quad \kappa = {self.prefactor:.4g},"
                rf"\ {g} = {self.gamma:.6g}"
            ]
            verdict = (
                rf"{g} < 1:\ \text{{vanishing (sufficient)}}"
                if self.verdict == "vanishing"
                else rf"{g} \ge 1:\ \text{{inconclusive}}"
            )
        return "\\begin{aligned}\n" + " \\\\\n".join(rows + [f"&{verdict}"]) + "\n\\end{aligned}"

    def __str__(self) -> str:
        return f"{self.statement()}\n{self.terms()}"


def _pre_intervals(W_ih, W_hh, b_ih, b_hh, G, u, R):
    """Per gate and unit, ``(centre, radius)`` of ``W_i· u + b_i· + b_h·`` over the input box and
    the row 1-norms of the ``W_h·`` blocks (the range of ``W_h· h`` over the cube ``|h|∞ ≤ 1``)."""
    n = W_hh.shape[1]
    p = b_ih + b_hh
    if W_ih.shape[1]:
        if u is not None:
            p = p + W_ih @ u
        q = R * np.abs(W_ih).sum(axis=1)
    else:
        q = np.zeros(G * n)
    rad = np.abs(W_hh).sum(axis=1)
    return p.reshape(G, n), q.reshape(G, n), rad.reshape(G, n), W_hh.reshape(G, n, n)


def _gru_bound(w, u, R) -> dict:
    W_ih, W_hh, b_ih, b_hh = w
    n = W_hh.shape[1]
    p, q, rad, W = _pre_intervals(W_ih, W_hh, b_ih, b_hh, 3, u, R)
    ar = (p[0] - q[0] - rad[0], p[0] + q[0] + rad[0])
    az = (p[1] - q[1] - rad[1], p[1] + q[1] + rad[1])
    bhn = b_hh[2 * n :]
    g = (bhn - rad[2], bhn + rad[2])  # W_hn h + b_hn
    r = (_sig(ar[0]), _sig(ar[1]))
    corners = np.stack([r[0] * g[0], r[0] * g[1], r[1] * g[0], r[1] * g[1]])
    cn = p[2] - bhn  # the candidate's input part W_in u + b_in (b_hn sits inside r ⊙ (…))
    an = (cn - q[2] + corners.min(axis=0), cn + q[2] + corners.max(axis=0))
    z = (_sig(az[0]), _sig(az[1]))
    tn, n_max, g_max, sr = _dtanh_max(*an), np.tanh(_absmax(*an)), _absmax(*g), _dsig_max(*ar)
    # J = diag(z) + diag(1 − z) M,  M = diag(z(h − ñ)) W_hz + diag(1 − ñ²)[diag(r) W_hn + diag(g r(1−r)) W_hr]
    mu = z[1] * (1.0 + n_max) * rad[1] + tn * (r[1] * rad[2] + g_max * sr * rad[0])
    zc = np.where(mu <= 1.0, z[1], z[0])  # z + (1 − z)μ is largest at z̄ (μ ≤ 1) or at z_lo (μ > 1)
    one_minus = np.where(mu <= 1.0, _sig(-az[1]), _sig(-az[0]))
    gamma_inf = float(np.max(zc + one_minus * mu))
    # the 2-norm, term by term: ‖diag(α) W‖₂ ≤ ‖diag(sup|α|) W‖₂
    one_minus_zlo = _sig(-az[0])
    A = (1.0 + n_max) * _dsig_max(*az)  # |h − ñ| z(1−z)
    B = one_minus_zlo * tn * r[1]  # (1 − z)(1 − ñ²) r
    D = one_minus_zlo * tn * g_max * sr  # (1 − z)(1 − ñ²) |W_hn h + b_hn| r(1−r)
    terms = {
        "W_hz": _row_scaled_norm(A, W[1]),
        "W_hn": _row_scaled_norm(B, W[2]),
        "W_hr": _row_scaled_norm(D, W[0]),
    }
    gate_path = float(np.max(z[1]))
    gamma = gate_path + sum(terms.values())
    return {
        "gamma": gamma,
        "prefactor": 1.0,
        "scale": None,
        "step_bound": gamma,
        "mu": float(np.max(mu)),
        "gamma_inf": gamma_inf,
        "gate_path": gate_path,
        "weight_terms": terms,
        "gates": {"r": r, "z": z, "n": (np.tanh(an[0]), np.tanh(an[1]))},
        "unit_mu": mu,
        "cell_radius": None,
        "region": "states |h|∞ ≤ 1",
    }


def _lstm_bound(w, u, R) -> dict:
    W_ih, W_hh, b_ih, b_hh = w
    p, q, rad, W = _pre_intervals(W_ih, W_hh, b_ih, b_hh, 4, u, R)
    lo, hi = p - q - rad, p + q + rad  # (4, n): gates i, f, g, o
    i_hi, f_hi, o_hi = _sig(hi[0]), _sig(hi[1]), _sig(hi[3])
    si, sf, so = _dsig_max(lo[0], hi[0]), _dsig_max(lo[1], hi[1]), _dsig_max(lo[3], hi[3])
    g_max, tg = np.tanh(_absmax(lo[2], hi[2])), _dtanh_max(lo[2], hi[2])
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        C = i_hi * g_max / _sig(-hi[1])  # |c′| ≤ f̄|c| + ī ḡ ≤ C when |c| ≤ C
        dc_dh = (C * sf, g_max * si, i_hi * tg)  # the rows of c′ through W_hf, W_hi, W_hg
        cH = sum(_row_scaled_norm(d, W[k]) for d, k in zip(dc_dh, (1, 0, 2)))
        a = sum(_row_scaled_norm(o_hi * d, W[k]) for d, k in zip(dc_dh, (1, 0, 2)))
        a += _row_scaled_norm(np.tanh(C) * so, W[3])
    b, d = float(np.max(o_hi * f_hi)), float(np.max(f_hi))
    step = _block_norm(a, b, cH, d, 1.0)
    # h weighted by s: ‖S J S⁻¹‖₂ ≤ ‖[[a, s b], [cH/s, d]]‖₂ with S = diag(s I, I); pick the best s
    scales = np.logspace(-SCALE_DECADES, SCALE_DECADES, 801)
    rates = _block_norm(a, b, cH, d, scales)
    k = int(np.argmin(rates)) if np.all(np.isfinite(rates)) else len(scales) // 2
    return {
        "gamma": float(rates[k]),
        "prefactor": max(float(scales[k]), 1.0 / float(scales[k])),
        "scale": float(scales[k]),
        "step_bound": float(step),
        "mu": None,
        "gamma_inf": None,
        "gate_path": d,
        "weight_terms": {"dh/dh": float(a), "dc/dh": float(cH)},
        "gates": {
            "i": (_sig(lo[0]), i_hi),
            "f": (_sig(lo[1]), f_hi),
            "g": (np.tanh(lo[2]), np.tanh(hi[2])),
            "o": (_sig(lo[3]), o_hi),
        },
        "unit_mu": None,
        "cell_radius": C,
        "region": f"states |h|∞ ≤ 1, |c_i| ≤ C_i (max C_i = {np.max(C):.4g})",
    }


def _block_norm(a, b, c, d, s):
    """``‖[[a, s b], [c/s, d]]‖₂`` for non-negative block bounds (vectorized over ``s``)."""
    s = np.asarray(s, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        N = np.stack([np.stack([a + 0 * s, s * b], -1), np.stack([c / s, d + 0 * s], -1)], -2)
        ok = np.all(np.isfinite(N), axis=(-2, -1))
        out = np.full(s.shape, np.inf)
        out[ok] = np.linalg.norm(N[ok], 2, axis=(-2, -1))
    return out if out.ndim else float(out)


def _probe_points(map: Map, k: int = 4):
    """Deterministic states and inputs (no rng) at which two forms of a map are compared."""
    t = np.arange(1, k * map.dim + 1, dtype=float)
    x = 0.9 * np.sin(1.7 * t).reshape(k, map.dim)
    u = None
    if map.input_dim:
        u = np.cos(2.3 * np.arange(1, k * map.input_dim + 1)).reshape(k, map.input_dim)
    return x, u


def _forms():
    """The forms recognized without ``as_rnn()``: (form, map class, the parameters that define
    ``F``); a map has a form when that class built from its parameters computes the same."""
    from ..maps.gated import GRUMap, LSTMMap
    from ..maps.modern import LayerNormRNNMap, ResidualRNNMap

    gated = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return (
        ("gru", GRUMap, gated),
        ("lstm", LSTMMap, gated),
        ("residual", ResidualRNNMap, ("W_rec", "W_in", "b", "activation")),
        ("layernorm", LayerNormRNNMap, ("W_rec", "W_in", "gain", "b", "activation")),
    )


def _map_form(map: Map):
    """``(form, weights)``: which known map ``map`` is, recognized by what it computes.

    Not by its class: for each known form, the map of that class built from ``map``'s parameters
    must have the same dimensions and give the same step and Jacobian at fixed probe states.
    ``weights`` is ``(weight_ih, weight_hh, bias_ih, bias_hh)`` for a GRU or LSTM, else None;
    ``("other", None)`` when no form matches.
    """
    have = set(getattr(map, "param_names", ()))
    for form, cls, names in _forms():
        if not set(names) <= have:
            continue
        try:
            ref = cls(**{k: map.get_param(k) for k in names})
            if (ref.dim, ref.input_dim) != (map.dim, map.input_dim):
                continue
            x, u = _probe_points(map)
            same = np.allclose(map.step(x, u), ref.step(x, u), rtol=1e-10, atol=1e-12) and np.allclose(
                map.jacobian(x, u), ref.jacobian(x, u), rtol=1e-10, atol=1e-12
            )
        except (DynsysError, TypeError, ValueError, AttributeError, IndexError):
            continue
        if same:
            gated = form in ("gru", "lstm")
            return form, (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh) if gated else None
    return "other", None


def _input_set(map: Map, u, input_radius):
    """The validated input box ``(u0, R)`` and its description."""
    u = map.validate_constant_input(u, "u")
    R = check_finite_scalar(input_radius, "input_radius")
    if R < 0:
        raise DynsysError(f"input_radius must be >= 0, got {input_radius}")
    if not map.input_dim:
        return None, 0.0, "no input (autonomous)"
    centre = None if u is None else "[" + ", ".join(f"{v:.3g}" for v in u) + "]"
    if R == 0:
        return u, 0.0, f"the constant input u = {centre or 0}"
    if u is None:
        return u, R, f"inputs |u_j| ≤ {R:g}"
    return u, R, f"inputs |u_j − u0_j| ≤ {R:g} (u0 = {centre})"


def gated_bound(map: Map, u=None, *, input_radius: float = 0.0, tol: float = 1e-6) -> GatedBound:
    """The analogue of eq. 6–7 that holds for a GRU or an LSTM cell (see :class:`GatedBound`).

    GRU, on the cube ``|h|∞ ≤ 1`` (forward invariant; it holds every periodic point): with
    per-unit intervals of the gate pre-activations over the cube and the input box, the
    Jacobian ``J = diag(z) + diag(1 − z) M`` gives ``μ`` (μ < 1 sufficient for vanishing, μ > 1
    necessary for exploding), the ∞-norm rate ``γ_∞`` and the 2-norm bound
    ``γ_GRU = z_max + ‖diag(A) W_hz‖₂ + ‖diag(B) W_hn‖₂ + ‖diag(D) W_hr‖₂``. LSTM: ``|h|∞ < 1``
    after one step and the cell box ``|c_i| ≤ C_i = ī_i ḡ_i/(1 − f̄_i)`` is forward invariant;
    ``γ_LSTM`` is the norm of the 2 × 2 matrix of bounds on the blocks of ``∂[h′, c′]/∂[h, c]``
    with ``h`` weighted by ``s`` (prefactor ``κ = max(s, 1/s)``). Derivation: paper_notes.md,
    "Conditions for gated cells".

    Parameters
    ----------
    map : Map
        A GRU or LSTM cell (``GRUMap``, ``LSTMMap``, or any map that computes one from
        PyTorch-named weights ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``).
    u : array_like, shape (m,), optional
        The (centre of the) input; zero if omitted.
    input_radius : float
        The bounds cover every input with ``|u_j − u0_j| ≤ input_radius`` (0: the constant
        input ``u``). With unbounded inputs ``z`` (or ``f``) can come arbitrarily close to 1.
    tol : float
        Width of the band around 1 for the verdict.

    Returns
    -------
    GatedBound

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps.gated import GRUMap
    >>> b = gated_bound(GRUMap(weight_hh=np.zeros((6, 2))))  # J = diag(z), z = σ(0) = ½
    >>> b.gamma, b.mu, b.verdict
    (0.5, 0.0, 'vanishing')
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    form, w = _map_form(map)
    if w is None:
        raise DynsysError(
            f"map must be a GRU or LSTM cell (PyTorch-named weights), got {type(map).__name__}; "
            "conditions_report gives the empirical verdict for any map"
        )
    tol = check_finite_scalar(tol, "tol")
    if tol < 0:
        raise DynsysError(f"tol must be >= 0, got {tol}")
    u, R, inputs = _input_set(map, u, input_radius)
    with np.errstate(over="ignore", invalid="ignore"):
        parts = (_gru_bound if form == "gru" else _lstm_bound)(w, u, R)
    gamma, mu = float(parts["gamma"]), parts["mu"]
    if gamma < 1.0 - tol or (mu is not None and mu < 1.0 - tol):
        verdict = "vanishing"
    elif mu is None:
        verdict = "inconclusive"
    else:
        verdict = "may-explode" if mu > 1.0 + tol else "boundary"
    parts["weight_terms"] = {k: float(v) for k, v in parts["weight_terms"].items()}
    return GatedBound(
        cell=form.upper(), verdict=verdict, inputs=inputs, u=u, input_radius=R, tol=tol, **parts
    )


@dataclass(frozen=True, eq=False)
class ConditionsReport:
    """Result of :func:`conditions_report`: what can be said about vanishing/exploding gradients.

    Attributes
    ----------
    map : str
        The map's class name.
    form : {"rnn", "gru", "lstm", "residual", "layernorm", "other"}
        ``"rnn"``: the map of eq. 2 (``as_rnn()``), eq. 6–7 are stated (``conditions``);
        ``"gru"``/``"lstm"``: a gated cell, the bound that holds is given (``bound``);
        ``"residual"``/``"layernorm"``: the explanation is specific to the form; with
        ``"other"``, only the empirical verdict.
    dim, input_dim : int
    conditions : ConditionResult or None
        Eq. 6–7 (form ``"rnn"`` only).
    explanation : str or None
        The one-line reason eq. 6–7 are not stated (None when they are).
    bound : GatedBound or None
        The bound that holds (gated cells).
    evidence : ProductEvidence or None
        Jacobian-product norms along sampled trajectories.
    empirical_verdict : {"vanishing", "exploding", "neutral"} or None
        :func:`empirical_verdict` of the evidence's fitted rate.
    bound_held : bool or None
        Gated cells: ``‖∂x_t/∂x_k‖₂ ≤ κ γ^{t−k}`` (and, for the GRU, ``≤ √n γ_∞^{t−k}``) at every
        measured pair (must be True: the sampled states and inputs lie in the bound's sets); the
        RNN's eq. 7 check otherwise; None without a bound or for given states outside its region.
    max_log_excess : float
        ``max (log‖∂x_t/∂x_k‖ − log κ − (t − k) log γ)`` over the measured pairs, the larger of
        the two for the GRU (≤ 0 when the bounds held; NaN without a bound or evidence).
    sampling : str
        How the evidence's initial states and inputs were drawn.
    rate_tol : float
    """

    map: str
    form: Form
    dim: int
    input_dim: int
    conditions: ConditionResult | None
    explanation: str | None
    bound: GatedBound | None
    evidence: ProductEvidence | None
    empirical_verdict: EmpiricalVerdict | None
    bound_held: bool | None
    max_log_excess: float
    sampling: str
    rate_tol: float

    def as_dict(self) -> dict:
        return {
            "map": self.map,
            "form": self.form,
            "dim": self.dim,
            "input_dim": self.input_dim,
            "eq67_stated": self.conditions is not None,
            "conditions": None if self.conditions is None else self.conditions.as_dict(),
            "explanation": self.explanation,
            "bound": None if self.bound is None else self.bound.as_dict(),
            "evidence": self._evidence_dict(),
            "empirical_verdict": self.empirical_verdict,
            "bound_held": self.bound_held,
            "max_log_excess": self.max_log_excess,
            "sampling": self.sampling,
            "rate_tol": self.rate_tol,
        }

    def _evidence_dict(self) -> dict | None:
        """The evidence's fields, with a gated cell's bound check (``κ γ^{t−k}``) in place of eq. 7's."""
        if self.evidence is None:
            return None
        out = self.evidence.as_dict()
        if self.bound is not None:
            g = self.bound.gamma
            out["bound_rate"] = float(np.log(g)) if 0 < g < np.inf else (-np.inf if g == 0 else np.inf)
            out["bound_prefactor"] = self.bound.prefactor
            out["max_log_ratio"] = self.max_log_excess
            out["bound_held"] = self.bound_held
        return out

    def __str__(self) -> str:
        lines = [f"{self.map}: state dim {self.dim}, input dim {self.input_dim}"]
        if self.conditions is not None:
            lines.append(str(self.conditions))
        else:
            lines.append(f"eq. 6–7 (λ₁ < 1/γ) not stated: {self.explanation}")
        if self.bound is not None:
            lines.append(f"bound that holds: {self.bound}")
        if self.evidence is not None:
            e = self.evidence
            held = {True: "; the bound held at every pair", False: "; the bound was VIOLATED", None: ""}
            lines.append(
                f"empirical verdict: {self.empirical_verdict} — fitted rate of log‖∂x_t/∂x_k‖ "
                f"{e.rate:.4g}/step (|rate| ≤ {self.rate_tol:g} is neutral) over {e.sequences} "
                f"trajectories of {e.steps} steps, {self.sampling} ({e.method} norms)"
                f"{held[self.bound_held]}"
            )
        return "\n".join(lines)


def _excess(ev: ProductEvidence, gamma: float, kappa: float) -> float:
    """``max (log‖∂x_t/∂x_k‖ − log κ − (t − k) log γ)`` over the measured pairs."""
    lag = np.arange(ev.steps + 1)[None, :, None] - ev.starts[:, None, None]
    lag = np.broadcast_to(lag, ev.log_norms.shape)
    ok = np.isfinite(ev.log_norms) & (lag > 0)
    if not np.any(ok):
        return float("nan")
    log_g = float(np.log(gamma)) if gamma > 0 else -np.inf
    with np.errstate(invalid="ignore"):
        return float(np.max(ev.log_norms[ok] - np.log(kappa) - lag[ok] * log_g))


def _in_region(map, form, bound, x0) -> bool:
    """Whether the initial states lie in the bound's region (sampled ones always do)."""
    n = map.dim if form == "gru" else map.dim // 2
    ok = np.all(np.abs(x0[:, :n]) <= 1.0)
    if form == "lstm":
        ok = ok and np.all(np.abs(x0[:, n:]) <= bound.cell_radius)
    return bool(ok)


def conditions_report(
    map: Map,
    u=None,
    *,
    input_radius: float = 1.0,
    tol: float = 1e-6,
    evidence: bool = True,
    steps: int = 50,
    sequences: int = 8,
    starts: int | Literal["all"] = 6,
    rate_tol: float = 1e-2,
    x0=None,
    rng=None,
) -> ConditionsReport:
    """The vanishing/exploding-gradient report for any map: eq. 6–7 where they apply, else why not.

    * A map of the form of eq. 2 (``as_rnn()``): :func:`check_conditions` (λ₁ vs 1/γ) and its
      evidence (inputs ``N(0, 1)``).
    * A GRU or LSTM cell: eq. 6–7 are not stated (``explanation``); the bound that does hold,
      :func:`gated_bound` over the input box ``|u_j − u0_j| ≤ input_radius``; and the evidence
      along trajectories that start in the bound's region (uniformly) and are driven by inputs
      drawn uniformly from that box, checked against ``κ γ^{t−k}``.
    * Any other map (a residual or layer-normalized RNN gets its own explanation): the
      explanation and the empirical verdict (states ``x_0 ~ N(0, I)``, inputs uniform in the box).

    The empirical verdict is :func:`empirical_verdict` of the fitted per-step rate of
    ``log‖∂x_t/∂x_k‖`` (:func:`product_evidence`).

    Parameters
    ----------
    map : Map
    u : array_like, shape (m,), optional
        Centre of the input box (zero if omitted).
    input_radius : float
        Half-width of the input box (0: the constant input ``u``). Ignored for an autonomous
        map and for the eq. 2 form.
    tol : float
        Width of the ``"boundary"`` band of eq. 6–7, and of ``γ < 1 − tol`` for the bound.
    evidence : bool
        Measure the Jacobian products (``steps``, ``sequences``, ``starts``: see
        :func:`product_evidence`).
    rate_tol : float
        ``|rate| ≤ rate_tol`` is ``"neutral"``.
    x0 : array_like, shape (B, dim), optional
        Initial states of the evidence (override the sampled ones; not for the eq. 2 form). For a
        gated cell, states outside the bound's region void the bound check (``bound_held`` None).
    rng : int or Generator, optional
        Draws the initial states, then the inputs.

    Returns
    -------
    ConditionsReport

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps.gated import GRUMap
    >>> rep = conditions_report(GRUMap(weight_hh=np.zeros((6, 2))), steps=10, rng=0)
    >>> rep.form, rep.bound.gamma, rep.empirical_verdict, rep.bound_held
    ('gru', 0.5, 'vanishing', True)
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    rate_tol = check_finite_scalar(rate_tol, "rate_tol")
    if rate_tol < 0:
        raise DynsysError(f"rate_tol must be >= 0, got {rate_tol}")
    name = type(map).__name__
    if map.as_rnn() is not None:
        if x0 is not None:
            raise DynsysError(
                "x0 is not used for a map of the form of eq. 2 (check_conditions samples its states)"
            )
        res = check_conditions(
            map, tol=tol, evidence=evidence, steps=steps, sequences=sequences, starts=starts, rng=rng
        )
        ev = res.evidence
        return ConditionsReport(
            map=name,
            form="rnn",
            dim=map.dim,
            input_dim=map.input_dim,
            conditions=res,
            explanation=None,
            bound=None,
            evidence=ev,
            empirical_verdict=None if ev is None else empirical_verdict(ev.rate, rate_tol),
            bound_held=None if ev is None else ev.bound_held,
            max_log_excess=float("nan") if ev is None else ev.max_log_ratio,
            sampling="x₀ ~ N(0, I), inputs N(0, 1)",
            rate_tol=rate_tol,
        )
    form, w = _map_form(map)
    bound = gated_bound(map, u, input_radius=input_radius, tol=tol) if w is not None else None
    u0, R, inputs = _input_set(map, u, input_radius)
    steps = check_positive_int(steps, "steps")
    B = check_positive_int(sequences, "sequences")
    gen = check_rng(rng)
    n = map.dim
    if x0 is not None:
        x0 = map.validate_state(x0, "x0").reshape(-1, n)
        B, where = x0.shape[0], "given x₀"
    elif form == "gru":
        x0, where = gen.uniform(-1.0, 1.0, (B, n)), "h₀ uniform in the cube |h|∞ ≤ 1"
    elif form == "lstm":
        C = np.where(np.isfinite(bound.cell_radius), bound.cell_radius, 1.0)
        h = gen.uniform(-1.0, 1.0, (B, n // 2))
        x0, where = np.concatenate([h, C * gen.uniform(-1.0, 1.0, h.shape)], -1), "h₀, c₀ uniform in the box"
    else:
        x0, where = gen.standard_normal((B, n)), "x₀ ~ N(0, I)"
    sampling = where + ("" if not map.input_dim else f", {inputs}" + (" (uniform)" if R > 0 else ""))
    ev, held, excess = None, None, float("nan")
    if evidence:
        U = None
        if map.input_dim:
            centre = np.zeros(map.input_dim) if u0 is None else u0
            U = centre + R * gen.uniform(-1.0, 1.0, (steps, B, map.input_dim))
        try:
            ev = product_evidence(
                map, None, steps=steps, sequences=B, starts=starts, x0=x0, inputs=U, rng=gen
            )
        except DynsysError as exc:
            if "diverged" not in str(exc):
                raise
            raise DynsysError(
                f"the sampled trajectories of {name} diverged (non-finite state), so the Jacobian products "
                "cannot be measured: give x0 (initial states of bounded trajectories) or evidence=False"
            ) from None
        if bound is not None and np.isfinite(bound.gamma) and _in_region(map, form, bound, x0):
            excess = _excess(ev, bound.gamma, bound.prefactor)
            if bound.gamma_inf is not None:  # the GRU's ∞-norm rate: ‖P‖₂ ≤ √n ‖P‖∞ ≤ √n γ_∞^{t−k}
                excess = max(excess, _excess(ev, bound.gamma_inf, np.sqrt(n)))
            held = bool(excess <= 1e-9 * (1 + steps))
    return ConditionsReport(
        map=name,
        form=form,
        dim=n,
        input_dim=map.input_dim,
        conditions=None,
        explanation=WHY_NOT_EQ67[form].replace("{name}", name),
        bound=bound,
        evidence=ev,
        empirical_verdict=None if ev is None else empirical_verdict(ev.rate, rate_tol),
        bound_held=held,
        max_log_excess=excess,
        sampling=sampling,
        rate_tol=rate_tol,
    )
