"""The vanishing/exploding-gradient conditions of paper §2.1 (eq. 5–7), numerically.

For the RNN map ``x_t = W_rec σ(x_{t-1}) + W_in u_t + b`` (eq. 2) each one-step Jacobian is
``∂x_t/∂x_{t-1} = W_rec diag(σ′(x_{t-1}))`` (eq. 5, column convention), so with
``λ₁ = ‖W_rec‖₂`` (largest singular value) and ``γ = sup|σ′|``:

* (6) ``‖∂x_t/∂x_{t-1}‖ ≤ λ₁γ =: η``;
* (7) ``‖∂x_t/∂x_k‖ ≤ η^{t−k}``: if ``λ₁ < 1/γ`` long-term contributions vanish exponentially
  (sufficient condition), so ``λ₁ > 1/γ`` is necessary for exploding gradients;
* linear case (σ = id): spectral radius ``ρ(W_rec) < 1`` suffices for vanishing, ``ρ > 1`` is
  necessary for exploding.

:func:`check_conditions` gives the verdict and *empirical evidence*: the norms
``‖∂x_t/∂x_k‖`` along trajectories driven by sampled inputs, their fitted per-step exponential
rate (which must not exceed ``log η``) and whether the bound held at every measured pair.

Maps without the eq. 2 form (Map rule 15): :mod:`dynsys.analysis.cell_conditions`.

Examples
--------
>>> import numpy as np
>>> res = check_conditions(0.5 * np.eye(3), "sigmoid", evidence=False)
>>> res.verdict, res.eta
('vanishing', 0.125)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .._validate import as_float_array, check_finite_scalar, check_positive_int, check_rng
from ..activations import get_activation
from ..errors import DynsysError
from ..maps.base import Map
from ..maps.rnn import RNNMap

__all__ = [
    "ConditionResult",
    "ProductEvidence",
    "check_conditions",
    "product_evidence",
    "spectral_norm",
    "spectral_radius",
    "verdict_for",
    "ITERATIVE_THRESHOLD",
    "SCALE_DECADES",
]

Verdict = Literal["vanishing", "may-explode", "boundary"]

#: matrices with more rows than this use iterative eigen/singular solvers (scipy ARPACK)
ITERATIVE_THRESHOLD = 400
#: above this dimension the evidence uses a block sketch of the Jacobian products
SKETCH_THRESHOLD = 64
#: the LSTM bound weights h by s ∈ [10^-d, 10^d] (d = SCALE_DECADES): prefactor κ = max(s, 1/s) ≤ 10^d
SCALE_DECADES = 2.0


def _check_square(W, name="W_rec") -> np.ndarray:
    W = as_float_array(W, name, ndim=2)
    if W.shape[0] != W.shape[1]:
        raise DynsysError(f"{name} must be square, got shape {W.shape}")
    return W


def spectral_norm(W, *, method: Literal["auto", "dense", "iterative"] = "auto") -> float:
    """λ₁ = the largest singular value of ``W`` (paper §2.1; [v2] wrongly said eigenvalue).

    Parameters
    ----------
    W : array_like, shape (n, n)
    method : {"auto", "dense", "iterative"}
        ``"iterative"`` uses ``scipy.sparse.linalg.svds`` (k = 1); ``"auto"`` picks it for
        ``n > ITERATIVE_THRESHOLD``.
    """
    W = _check_square(W, "W")
    n = W.shape[0]
    if method == "iterative" or (method == "auto" and n > ITERATIVE_THRESHOLD):
        if n >= 3:
            from scipy.sparse.linalg import svds

            v0 = np.ones(n) / np.sqrt(n)
            s = svds(W, k=1, which="LM", return_singular_vectors=False, v0=v0, tol=1e-10)
            return float(s[0])
    return float(np.linalg.norm(W, 2))


def spectral_radius(W, *, method: Literal["auto", "dense", "iterative"] = "auto"):
    """ρ = the largest eigenvalue modulus of ``W`` (the linear-case quantity).

    Parameters
    ----------
    W : array_like, shape (n, n) or (..., n, n)
        One matrix (returns a float) or a stack (returns an array of shape ``(...)``; dense
        eigenvalues, e.g. every member of a training ensemble at once).
    method : {"auto", "dense", "iterative"}
        For one matrix with ``n > ITERATIVE_THRESHOLD`` (``"auto"``) ARPACK
        (``scipy.sparse.linalg.eigs``) is used; if it does not converge, the dense solver is the
        fallback.
    """
    arr = np.asarray(W)
    if arr.ndim > 2:
        if arr.shape[-1] != arr.shape[-2]:
            raise DynsysError(f"W must be a stack of square matrices, got shape {arr.shape}")
        return np.max(np.abs(np.linalg.eigvals(arr)), axis=-1)
    W = _check_square(W, "W")
    n = W.shape[0]
    if method == "iterative" or (method == "auto" and n > ITERATIVE_THRESHOLD):
        if n >= 4:
            from scipy.sparse.linalg import ArpackNoConvergence, eigs

            try:
                vals = eigs(
                    W,
                    k=4,
                    which="LM",
                    return_eigenvectors=False,
                    tol=1e-7,
                    v0=np.ones(n) / np.sqrt(n),
                    ncv=min(n, 60),
                    maxiter=20 * n,
                )
                return float(np.max(np.abs(vals)))
            except ArpackNoConvergence:
                pass
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def verdict_for(eta: float, tol: float = 1e-6) -> Verdict:
    """``"vanishing"`` if ``η < 1 − tol``, ``"may-explode"`` if ``η > 1 + tol``, else ``"boundary"``."""
    if eta < 1.0 - tol:
        return "vanishing"
    if eta > 1.0 + tol:
        return "may-explode"
    return "boundary"


@dataclass(frozen=True, eq=False)
class ProductEvidence:
    """Jacobian-product norms along sampled trajectories (paper eq. 5 and 7).

    Attributes
    ----------
    steps : int
        Trajectory length T.
    sequences : int
        Number of sampled trajectories B.
    starts : ndarray of int, shape (S,)
        The start times k of the measured products.
    log_norms : ndarray, shape (S, T + 1, B)
        ``log ‖∂x_t/∂x_k‖₂`` for ``k = starts[s]``; NaN for ``t < k`` (0 at ``t = k``).
    rate : float
        Fitted per-step exponential rate: least-squares slope of ``log‖∂x_t/∂x_k‖`` against
        ``t − k`` over all measured pairs and trajectories.
    bound_rate : float
        ``log η`` — the rate that eq. 7 guarantees is not exceeded.
    max_log_ratio : float
        ``max (log‖∂x_t/∂x_k‖ − (t − k) log η)`` over measured pairs (≤ 0 when the bound held).
    bound_held : bool or None
        ``max_log_ratio <= 1e-9 * (1 + T)`` (round-off allowance); None without a bound.
    method : str
        ``"exact"`` (spectral norms of the full products) or ``"sketch"`` (norm of the product
        applied to a random orthonormal block; a lower bound, used for large n).
    """

    steps: int
    sequences: int
    starts: np.ndarray
    log_norms: np.ndarray
    rate: float
    bound_rate: float
    max_log_ratio: float
    bound_held: bool | None
    method: str

    def as_dict(self) -> dict:
        return {
            "steps": self.steps,
            "sequences": self.sequences,
            "rate": self.rate,
            "bound_rate": self.bound_rate,
            "max_log_ratio": self.max_log_ratio,
            "bound_held": self.bound_held,
            "method": self.method,
        }


@dataclass(frozen=True, eq=False)
class ConditionResult:
    """Result of :func:`check_conditions`.

    Attributes
    ----------
    lambda1 : float
        Largest singular value of ``W_rec``.
    spectral_radius : float
        Largest eigenvalue modulus of ``W_rec``.
    gamma : float
        ``sup|σ′|`` (exact value in ``gamma_exact``, e.g. ``"1/4"``).
    gamma_exact : str
    eta : float
        ``λ₁γ``: the bound on every one-step Jacobian norm (eq. 6).
    verdict : {"vanishing", "may-explode", "boundary"}
        From ``η`` vs 1 within ``tol``.
    activation : str
    n : int
    tol : float
    linear_verdict : str or None
        For σ = identity only: the spectral-radius variant, ``"vanishing"`` (ρ < 1),
        ``"may-explode"`` (ρ > 1) or ``"boundary"``.
    evidence : ProductEvidence or None
    """

    lambda1: float
    spectral_radius: float
    gamma: float
    gamma_exact: str
    eta: float
    verdict: Verdict
    activation: str
    n: int
    tol: float
    linear_verdict: str | None
    evidence: ProductEvidence | None

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "evidence"}
        out["evidence"] = None if self.evidence is None else self.evidence.as_dict()
        return out

    def __str__(self) -> str:
        lines = [
            f"activation {self.activation} (γ = {self.gamma_exact}), n = {self.n}",
            f"λ₁ = {self.lambda1:.6g}, 1/γ = {1 / self.gamma:.6g}, η = λ₁γ = {self.eta:.6g}, "
            f"ρ = {self.spectral_radius:.6g}",
            f"verdict: {self.verdict}",
        ]
        if self.linear_verdict is not None:
            lines.append(f"linear-case verdict (ρ vs 1): {self.linear_verdict}")
        if self.evidence is not None:
            e = self.evidence
            lines.append(
                f"evidence ({e.sequences} sampled trajectories, T = {e.steps}, {e.method}): "
                f"fitted rate {e.rate:.4g}/step vs bound log η = {e.bound_rate:.4g}; "
                f"bound {'held' if e.bound_held else 'VIOLATED'}"
            )
        return "\n".join(lines)


def _as_rnn(W_or_map, activation) -> RNNMap:
    """The eq. 2 form of ``W_or_map`` (a weight matrix or any map with ``as_rnn()``, Map rule 15)."""
    if isinstance(W_or_map, Map):
        rnn = W_or_map.as_rnn()
        if rnn is None:
            raise DynsysError(
                f"check_conditions needs W_rec or a map of the form of eq. 2 (as_rnn() is None for "
                f"{type(W_or_map).__name__}); conditions_report gives the empirical verdict (and the bound "
                "that holds for a GRU or LSTM) for any map"
            )
        return rnn if activation is None else rnn.with_params(activation=get_activation(activation))
    W = _check_square(W_or_map, "W_rec")
    return RNNMap(W, activation="tanh" if activation is None else activation)


def _sample(map: Map, steps, sequences, input_scale, state_scale, rng):
    x0 = state_scale * rng.standard_normal((sequences, map.dim))
    u = None
    if map.input_dim:
        u = input_scale * rng.standard_normal((steps, sequences, map.input_dim))
    return x0, u


def product_evidence(
    map: Map,
    eta: float | None = None,
    *,
    steps: int = 50,
    sequences: int = 8,
    starts: int | Literal["all"] = 6,
    input_scale: float = 1.0,
    state_scale: float = 1.0,
    x0=None,
    inputs=None,
    sketch: int | None = None,
    rng=None,
) -> ProductEvidence:
    """Measure ``‖∂x_t/∂x_k‖`` along trajectories and compare with ``η^{t−k}`` (eq. 7).

    Works for any map: the products are propagated by its tangent steps (Map rule 9, one GEMM per
    step for an RNN), so no BPTT is involved.

    Parameters
    ----------
    map : Map
    eta : float, optional
        ``λ₁γ``, the bound of eq. 6; by default from ``map.as_rnn()`` when the map has the form
        of eq. 2, else no bound (``bound_rate``, ``max_log_ratio`` NaN, ``bound_held`` None).
    steps, sequences : int
        Trajectory length T and number of trajectories B.
    starts : int or "all"
        Number of start times ``k`` (evenly spaced in ``[0, T)``), or every ``k``.
    input_scale, state_scale : float
        Standard deviations of the sampled inputs ``u_t`` and initial states ``x_0``.
    x0 : array_like, shape (B, n), optional
        Given initial states (override the sampled ones).
    inputs : array_like, shape (T, B, m), optional
        Given inputs (override the sampled ones).
    sketch : int, optional
        Block width for the sketched norm (default: exact for ``n <= SKETCH_THRESHOLD`` (64),
        else 4).
    rng : int or Generator, optional
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    if eta is None:
        rnn = map.as_rnn()
        if rnn is not None:
            eta = spectral_norm(rnn.W_rec) * float(rnn.activation.gamma)
    else:
        eta = check_finite_scalar(eta, "eta")
        if eta < 0:
            raise DynsysError(f"eta must be >= 0 (a bound on a norm), got {eta}")
    gen = check_rng(rng)
    steps = check_positive_int(steps, "steps")
    sequences = check_positive_int(sequences, "sequences")
    n = map.dim
    if x0 is not None:
        x0 = map.validate_state(x0, "x0").reshape(-1, n)
    if inputs is not None:
        inputs = map.validate_input(inputs, "inputs")
        if inputs.ndim != 3 or inputs.shape[0] != steps:
            raise DynsysError(f"inputs must have shape ({steps}, B, {map.input_dim}), got {inputs.shape}")
    # the batch size: from the given states or inputs, else `sequences`
    B = x0.shape[0] if x0 is not None else (inputs.shape[1] if inputs is not None else sequences)
    sx0, su = _sample(map, steps, B, input_scale, state_scale, gen)
    x0 = sx0 if x0 is None else x0
    inputs = su if inputs is None else inputs
    try:
        B = x0.shape[0] if inputs is None else np.broadcast_shapes((x0.shape[0],), inputs.shape[1:2])[0]
    except ValueError:
        raise DynsysError(
            f"x0 has {x0.shape[0]} states but inputs has batch size {inputs.shape[1]}"
        ) from None
    x0 = np.broadcast_to(x0, (B, n))
    if starts == "all":
        ks = np.arange(steps)
    else:
        ks = np.unique(
            np.linspace(0, steps - 1, min(check_positive_int(starts, "starts"), steps)).astype(int)
        )
    width = sketch if sketch is not None else (None if n <= SKETCH_THRESHOLD else 4)
    method = "exact" if width is None or width >= n else "sketch"
    if method == "sketch":
        ks = ks[:1]  # large n: products from k = 0 only, applied to a random orthonormal block
    S = len(ks)
    w = n if method == "exact" else width
    if method == "exact":
        P = np.broadcast_to(np.eye(n), (S, B, n, n)).copy()
    else:
        Q0 = np.linalg.qr(gen.standard_normal((n, width)))[0]
        P = np.broadcast_to(Q0, (S, B, n, width)).copy()
    acc = np.zeros((S, B))
    log_norms = np.full((S, steps + 1, B), np.nan)
    log_norms[np.arange(S), ks, :] = 0.0
    x = x0.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        for t in range(1, steps + 1):
            u = None if inputs is None else inputs[t - 1]
            a = int(np.count_nonzero(ks < t))  # products ∂x_t/∂x_k with k < t (ks is sorted)
            Z = np.ascontiguousarray(map.tangent(x, u, P[:a]))  # J(x_{t-1}) P, (a, B, n, w)
            G = Z.swapaxes(-1, -2) @ Z if w < n else Z @ Z.swapaxes(-1, -2)
            s = np.sqrt(np.maximum(np.linalg.eigvalsh(G)[..., -1], 1e-300))
            P[:a] = Z / s[..., None, None]
            acc[:a] += np.log(s)
            log_norms[:a, t, :] = acc[:a]
            x = map.step(x, u)
    if not np.all(np.isfinite(x)):
        raise DynsysError(
            "the sampled trajectory diverged (non-finite state); the map explodes: "
            "use evidence=False or smaller input_scale/state_scale"
        )
    lag = np.arange(steps + 1)[None, :] - ks[:, None]  # (S, T+1)
    lag_b = np.broadcast_to(lag[:, :, None], log_norms.shape)
    ok = np.isfinite(log_norms) & (lag_b > 0)
    xs, ys = lag_b[ok].astype(float), log_norms[ok]
    if xs.size >= 2 and np.ptp(xs) > 0:
        rate = float(np.polyfit(xs, ys, 1)[0])
    else:
        rate = float(ys.mean() / xs.mean()) if xs.size else float("nan")
    if eta is None:
        return ProductEvidence(steps, int(B), ks, log_norms, rate, float("nan"), float("nan"), None, method)
    log_eta = float(np.log(eta)) if eta > 0 else -np.inf
    excess = ys - xs * log_eta if xs.size else np.array([-np.inf])
    max_ratio = float(np.max(excess)) if np.isfinite(log_eta) else (0.0 if np.all(ys < -600) else np.inf)
    return ProductEvidence(
        steps=steps,
        sequences=int(B),
        starts=ks,
        log_norms=log_norms,
        rate=rate,
        bound_rate=log_eta,
        max_log_ratio=max_ratio,
        bound_held=bool(max_ratio <= 1e-9 * (1 + steps)),
        method=method,
    )


def check_conditions(
    W_rec,
    activation=None,
    *,
    tol: float = 1e-6,
    evidence: bool = True,
    steps: int = 50,
    sequences: int = 8,
    starts: int | Literal["all"] = 6,
    input_scale: float = 1.0,
    state_scale: float = 1.0,
    rng=None,
) -> ConditionResult:
    """Check the conditions of eq. 6–7 for ``W_rec`` (or an RNN map) and an activation.

    Parameters
    ----------
    W_rec : array_like, shape (n, n), or Map
        The recurrent weights (with ``tanh`` if no activation is given), or a map of the form of
        eq. 2 (an RNNMap, a UnitMap, any map whose ``as_rnn()`` gives one, Map rule 15).
    activation : str or Activation, optional
        Overrides the map's activation.
    tol : float
        Width of the ``"boundary"`` band around ``η = 1``.
    evidence : bool
        Also measure Jacobian-product norms along sampled trajectories
        (see :func:`product_evidence` for ``steps``, ``sequences``, ``starts``, ``input_scale``,
        ``state_scale``).
    rng : int or Generator, optional

    Returns
    -------
    ConditionResult
    """
    rnn = _as_rnn(W_rec, activation)
    tol = check_finite_scalar(tol, "tol")
    if tol < 0:
        raise DynsysError(f"tol must be >= 0, got {tol}")
    for val, nm in ((input_scale, "input_scale"), (state_scale, "state_scale")):
        if check_finite_scalar(val, nm) < 0:
            raise DynsysError(f"{nm} must be >= 0, got {val}")
    act = rnn.activation
    lam1 = spectral_norm(rnn.W_rec)
    rho = spectral_radius(rnn.W_rec)
    gamma = float(act.gamma)
    eta = lam1 * gamma
    ev = None
    if evidence:
        ev = product_evidence(
            rnn,
            eta,
            steps=steps,
            sequences=sequences,
            starts=starts,
            input_scale=input_scale,
            state_scale=state_scale,
            rng=rng,
        )
    return ConditionResult(
        lambda1=lam1,
        spectral_radius=rho,
        gamma=gamma,
        gamma_exact=str(act.gamma),
        eta=eta,
        verdict=verdict_for(eta, tol),
        activation=act.name,
        n=rnn.dim,
        tol=tol,
        linear_verdict=verdict_for(rho, tol) if act.name == "linear" else None,
        evidence=ev,
    )
