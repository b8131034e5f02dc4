"""Lyapunov spectra of any :class:`~dynsys.maps.Map` by the QR (Benettin) method.

For a trajectory ``x_t = F(x_{t-1}, u_t)`` the Lyapunov exponents are the asymptotic growth
rates of the singular values of the Jacobian products ``J_t ⋯ J_1`` (``J_t = ∂x_t/∂x_{t-1}``,
paper eq. 5 in the column convention). The QR method propagates an orthonormal frame
``Q`` (shape ``(n, k)``) with ``J_t Q_{t-1} = Q_t R_t`` and averages ``log |diag R_t|``:

``λ_i ≈ (1/T) Σ_t log |R_t[i, i]|``.

The largest exponent is the per-step exponential rate of ``‖∂x_t/∂x_k‖`` and is bounded by
``log(λ₁γ)`` for the RNN map (eq. 6–7): ``λ_max ≤ log η``.

Features: autonomous or input-driven maps (``inputs`` of shape ``(T, ..., m)``), the full
spectrum or the top ``k`` exponents, a transient that is iterated (and the frame aligned) but not
averaged, a convergence check on the running estimates (optionally stopping early), and a batch
of initial states handled at once (one stacked ``np.linalg.qr`` per step). Each step is the map's
``step_tangent`` (Map rule 10: one GEMM for an RNN).

:func:`orbit_lyapunov` is the largest exponent along an orbit that is already known (stored
states): the growth of one tangent vector through the Jacobians at those states. Basins use it
to tell chaotic from quasi-periodic attractors, and the sweep's reference runner uses it for the
logistic map's exponent.

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import HenonMap
>>> res = lyapunov_spectrum(HenonMap(), np.array([0.1, 0.1]), steps=20000, transient=100)
>>> [round(float(v), 2) for v in res.exponents]
[0.42, -1.62]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_scalar, check_positive_int, check_rng
from ..errors import DynsysError
from ..maps.base import Map

__all__ = ["LyapunovSpectrum", "lyapunov_spectrum", "orbit_lyapunov", "sampled_lyapunov", "LARGE_N"]

_TINY = 1e-300


@dataclass(frozen=True, eq=False)
class LyapunovSpectrum:
    """Result of :func:`lyapunov_spectrum`.

    Attributes
    ----------
    exponents : ndarray, shape (..., k)
        The estimated exponents per initial state (batch shape ``...`` of ``x0``), natural log
        per step, in the order of the QR frame's columns — decreasing once converged (not
        re-sorted, so that column i always tracks the i-th direction).
    history : ndarray, shape (C, ..., k)
        Running estimates at the checkpoints ``checkpoints``.
    checkpoints : ndarray of int, shape (C,)
        Number of averaged steps at each checkpoint.
    steps : int
        Steps averaged (after the transient).
    transient : int
        Steps iterated before averaging.
    change : float
        Largest absolute change of the running estimate between the last two checkpoints.
    converged : bool
        ``change <= tol``.
    tol : float
        The convergence tolerance.
    final_state : ndarray, shape (..., n)
        The state after the last step (to continue a run).
    message : str
        Human-readable summary of the convergence status.
    """

    exponents: np.ndarray
    history: np.ndarray
    checkpoints: np.ndarray
    steps: int
    transient: int
    change: float
    converged: bool
    tol: float
    final_state: np.ndarray
    message: str

    @property
    def mean(self) -> np.ndarray:
        """The exponents averaged over the batch of initial states, shape ``(k,)``."""
        return self.exponents.reshape(-1, self.exponents.shape[-1]).mean(axis=0)

    @property
    def max(self):
        """The largest exponent per initial state, shape ``(...)``."""
        return self.exponents[..., 0]

    @property
    def sum(self):
        """The sum of the computed exponents per initial state (``log|det J|`` average for k = n)."""
        return self.exponents.sum(axis=-1)


def orbit_lyapunov(map: Map, states, inputs=None, *, per_step: bool = False):
    """The largest Lyapunov exponent along a known orbit: tangent growth through ``J(states[t])``.

    ``v ← J(x_t, u_{t+1}) v / ‖·‖`` for ``t = 0 … T−1`` from ``v = (1, …, 1)/√n``; the exponent is
    the mean of ``log ‖J v‖`` (floored at ``log 1e-300``).

    Parameters
    ----------
    map : Map
    states : ndarray, shape (T, n)
        The orbit (e.g. the tail of a trajectory), trusted.
    inputs : ndarray, shape (T, m), optional
        ``inputs[t]`` is the input of the step from ``states[t]``.
    per_step : bool
        Return the ``T`` per-step logs instead of their mean.

    Returns
    -------
    float, or ndarray of shape (T,) with ``per_step``
        ``inf`` if the tangent vector overflows.

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import LogisticMap
    >>> x = np.empty((20000, 1)); x[0] = 0.3
    >>> for t in range(1, len(x)): x[t] = 4 * x[t - 1] * (1 - x[t - 1])
    >>> round(orbit_lyapunov(LogisticMap(4.0), x), 2)   # ln 2
    0.69
    """
    J = map.jacobian(states) if inputs is None else map.jacobian(states, inputs)
    n = states.shape[-1]
    v = np.ones(n) / np.sqrt(n)
    logs = np.empty(states.shape[0])
    for t in range(states.shape[0]):
        v = J[t] @ v
        nv = np.linalg.norm(v)
        if not np.isfinite(nv):
            return np.inf if not per_step else np.concatenate([logs[:t], np.full(len(logs) - t, np.inf)])
        logs[t] = np.log(max(nv, _TINY))
        if nv > 0:
            v /= nv
    if per_step:
        return logs
    # a sequential sum (np.cumsum adds in order; np.sum would sum pairwise, in another order)
    return float(np.cumsum(logs)[-1] / states.shape[0])


def _check_finite(x):
    if not np.all(np.isfinite(x)):
        raise DynsysError("the trajectory diverged (non-finite state); the spectrum is undefined")


def _qr_step(Z):
    """Batched QR of ``Z`` (..., n, k): returns ``Q`` and ``log|diag R|`` (..., k)."""
    if Z.shape[-1] == 1:
        r = np.linalg.norm(Z, axis=-2)  # (..., 1)
        r_safe = np.maximum(r, _TINY)
        return Z / r_safe[..., None, :], np.log(r_safe)
    Q, R = np.linalg.qr(Z)
    diag = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    return Q, np.log(np.maximum(diag, _TINY))


def lyapunov_spectrum(
    map: Map,
    x0,
    inputs=None,
    steps: int | None = None,
    *,
    k: int | None = None,
    transient: int = 0,
    tol: float = 1e-3,
    check_every: int | None = None,
    stop_early: bool = False,
    rng=None,
) -> LyapunovSpectrum:
    """The Lyapunov spectrum (full or top ``k``) of ``map`` along trajectories from ``x0``.

    Parameters
    ----------
    map : Map
        Any map with an analytic ``jacobian`` (rule 4 of the Map contract).
    x0 : array_like, shape (..., n)
        Initial state(s); all batch entries are processed together.
    inputs : array_like, shape (transient + steps, ..., m), optional
        Input sequence for a driven map; ``inputs[t-1] = u_t``. The first ``transient`` inputs
        drive the transient. Its batch shape broadcasts with ``x0``'s.
    steps : int, optional
        Steps to average (required without ``inputs``; default ``len(inputs) - transient``).
    k : int, optional
        Number of exponents (default: all ``n``).
    transient : int
        Steps iterated first (the frame is aligned during them) and not averaged.
    tol : float
        Convergence tolerance on the running estimates (absolute, per step).
    check_every : int, optional
        Checkpoint spacing (default ``max(1, steps // 50)``).
    stop_early : bool
        Stop at the first checkpoint (after ``4 * check_every`` steps) whose change is ``<= tol``.
    rng : int or Generator, optional
        Seeds the random initial frame.

    Returns
    -------
    LyapunovSpectrum
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    n = map.dim
    x = map.validate_state(x0, "x0")
    transient = check_positive_int(transient, "transient", minimum=0)
    if inputs is not None:
        inputs = map.validate_input(inputs, "inputs")
        if inputs.ndim < 2:
            raise DynsysError(f"inputs must have shape (T, ..., {map.input_dim}), got {inputs.shape}")
        avail = inputs.shape[0] - transient
        if avail < 1:
            raise DynsysError(f"inputs has {inputs.shape[0]} steps, need more than transient={transient}")
        steps = avail if steps is None else check_positive_int(steps, "steps")
        if steps > avail:
            raise DynsysError(f"steps={steps} exceeds len(inputs) - transient = {avail}")
        batch = np.broadcast_shapes(x.shape[:-1], inputs.shape[1:-1])
    else:
        if steps is None:
            raise DynsysError("steps is required when inputs is None")
        steps = check_positive_int(steps, "steps")
        batch = x.shape[:-1]
    k = n if k is None else check_positive_int(k, "k")
    if k > n:
        raise DynsysError(f"k must be <= the state dimension {n}, got {k}")
    tol = check_finite_scalar(tol, "tol")
    if tol < 0:
        raise DynsysError(f"tol must be >= 0, got {tol}")
    check_every = (
        max(1, steps // 50) if check_every is None else check_positive_int(check_every, "check_every")
    )

    x = np.broadcast_to(x, batch + (n,)).copy()
    gen = check_rng(rng)
    Q0 = np.linalg.qr(gen.standard_normal((n, k)))[0] if k < n else np.eye(n)
    Q = np.broadcast_to(Q0, batch + (n, k)).copy()

    def u_at(t):
        return None if inputs is None else inputs[t]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(transient):
            u = u_at(t)
            x, Z = map.step_tangent(x, u, Q)
            Q, _ = _qr_step(Z)
        _check_finite(x)

        total = np.zeros(batch + (k,))
        hist, marks = [], []
        done = 0
        change = np.inf
        converged = False
        for t in range(transient, transient + steps):
            u = u_at(t)
            x, Z = map.step_tangent(x, u, Q)
            Q, logs = _qr_step(Z)
            total += logs
            done += 1
            if done % check_every == 0 or done == steps:
                _check_finite(x)
                est = total / done
                if hist:
                    change = float(np.max(np.abs(est - hist[-1]))) if est.size else 0.0
                hist.append(est)
                marks.append(done)
                if stop_early and done >= 4 * check_every and change <= tol:
                    converged = True
                    break
    exps = total / done
    converged = converged or change <= tol
    msg = (
        f"converged: running estimate changed by {change:.2e} <= tol={tol:g} over the last "
        f"{check_every} steps"
        if converged
        else f"not converged: running estimate changed by {change:.2e} > tol={tol:g} over the last "
        f"{check_every} steps (increase steps)"
    )
    return LyapunovSpectrum(
        exponents=exps,
        history=np.asarray(hist),
        checkpoints=np.asarray(marks, dtype=np.int64),
        steps=done,
        transient=transient,
        change=change,
        converged=bool(converged),
        tol=tol,
        final_state=x,
        message=msg,
    )


#: from this dimension on :func:`sampled_lyapunov` estimates the top exponent only, over fewer steps
LARGE_N = 300


def sampled_lyapunov(map: Map, *, steps: int | None = None, sequences: int = 4, rng=None) -> LyapunovSpectrum:
    """The top Lyapunov exponents along trajectories driven by sampled ``N(0, 1)`` inputs.

    The companion of the eq. 6–7 evidence (:func:`~dynsys.analysis.conditions.check_conditions`):
    ``x_0 ~ N(0, I)`` and, for a driven map, ``u_t ~ N(0, I)``. Sizes scale with the map so that
    the answer takes seconds: up to 5 exponents, 1000 steps after a transient of 100, and at most
    4 trajectories; from ``n > LARGE_N`` (300) the top exponent only, 100 steps after 20, and at
    most 2 trajectories.

    Parameters
    ----------
    map : Map
    steps : int, optional
        Averaged steps (default 1000, or 100 for large n).
    sequences : int
        Trajectories at most (capped at 4, or 2 for large n).
    rng : int or Generator, optional
        Draws ``x_0``, the inputs and the initial frame, in that order.

    Returns
    -------
    LyapunovSpectrum
    """
    if not isinstance(map, Map):
        raise DynsysError(f"map must be a dynsys Map, got {type(map).__name__}")
    big = map.dim > LARGE_N
    steps = check_positive_int(steps if steps is not None else (100 if big else 1000), "steps")
    sequences = check_positive_int(sequences, "sequences")
    rng = check_rng(rng)
    transient = min(20 if big else 100, steps)
    B = min(sequences, 2 if big else 4)
    x0 = rng.standard_normal((B, map.dim))
    u = None
    if map.input_dim:
        u = rng.standard_normal((transient + steps, B, map.input_dim))
    k = 1 if big else min(map.dim, 5)
    return lyapunov_spectrum(map, x0, u, steps=steps, k=k, transient=transient, rng=rng)
