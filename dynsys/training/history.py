"""The log and outcome of a training run: :class:`TrainingHistory` (returned by
:func:`dynsys.training.train`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DynsysError
from ..maps import Map
from .cells import build_map, cell_activation
from .config import TrainConfig

__all__ = ["TrainingHistory", "EVAL_FIELDS"]


EVAL_FIELDS = (
    "loss",
    "error",
    "grad_norm",
    "grad_norm_max",
    "clip_fraction",
    "rho",
    "lambda1",
    "omega",
    "confirm_error",
    "verdict_1pct",
    "verdict_zero",
)
_TRACE_FIELDS = ("update_loss", "update_norm", "update_clipped")


@dataclass
class TrainingHistory:
    """The log and outcome of a (possibly ensemble) training run.

    Attributes
    ----------
    config : TrainConfig
    members : list of (init, method, seed)
    eval_updates : ndarray, shape (E,)
        Update index of each evaluation.
    loss, error, grad_norm, grad_norm_max, clip_fraction, rho, lambda1, omega, confirm_error : ndarray, shape (E, K)
        Per evaluation and member: mean training loss since the previous evaluation, error rate on
        fresh sequences, mean / max gradient norm before clipping, fraction of clipped updates,
        ``ρ(W_rec)``, ``λ₁(W_rec)`` (NaN for a cell without ``W_rec``: GRU, LSTM), mean Ω, error on
        the confirmation set (NaN when not run).
        NaN after a member stopped.
    verdict_1pct, verdict_zero : ndarray, shape (E, K)
        Both success rules at each evaluation, on the same sequences: 1.0 when the screen and its
        confirmation pass, 0.0 when not, NaN when the member had stopped (or, in a run recorded
        before both were kept, when the verdict cannot be known).
    solved_at : ndarray of int, shape (K,)
        First update at which the config's success rule held (−1: never).
    zero_error_at : ndarray of int, shape (K,)
        First update with zero errors on the screening set of an evaluation (unconfirmed; −1: never).
    reached_at : dict of ndarray of int, shape (K,)
        Per rule (``"1pct"``, ``"zero"``): first update of a confirmed pass at an evaluation or a
        check (−1: never); ``reached_at[config.success]`` is ``solved_at``.
    pass_params : dict of dict of ndarray
        Per rule, the weights of every member at its first pass (zeros where never reached).
    screens, confirms : ndarray of int, shape (K,)
        Check screens (``check_every``) and confirmations (checks and evaluations) run per member.
    nonfinite_count : ndarray of int, shape (K,)
    updates_done : ndarray of int, shape (K,)
    params : dict of ndarray, leading axis K
        Final weights.
    update_loss, update_norm, update_clipped : ndarray, shape (U, K) or None
        Per-update traces (``record_updates=True``).
    monitor : list of dict or None
        The training monitor's rows (``train(..., monitor=...)``, :mod:`dynsys.training.monitor`).
    """

    config: TrainConfig
    members: list
    eval_updates: np.ndarray
    loss: np.ndarray
    error: np.ndarray
    grad_norm: np.ndarray
    grad_norm_max: np.ndarray
    clip_fraction: np.ndarray
    rho: np.ndarray
    lambda1: np.ndarray
    omega: np.ndarray
    confirm_error: np.ndarray
    verdict_1pct: np.ndarray
    verdict_zero: np.ndarray
    solved_at: np.ndarray
    zero_error_at: np.ndarray
    nonfinite_count: np.ndarray
    updates_done: np.ndarray
    params: dict
    reached_at: dict | None = None
    pass_params: dict | None = None
    screens: np.ndarray | None = None
    confirms: np.ndarray | None = None
    update_loss: np.ndarray | None = None
    update_norm: np.ndarray | None = None
    update_clipped: np.ndarray | None = None
    monitor: list | None = None

    @property
    def solved(self) -> np.ndarray:
        return self.solved_at >= 0

    def member_map(self, i: int) -> Map:
        """The trained network of member ``i`` (its final weights, with the readout): an
        :class:`~dynsys.maps.RNNMap` for the eq. 2 cell, the cell's map otherwise."""
        cell = self.config.cell
        act = cell_activation(cell, self.members[i][0])
        return build_map(cell, {k: v[i] for k, v in self.params.items()}, act)

    def maps(self) -> list[Map]:
        """The trained network of every member, in member order."""
        return [self.member_map(i) for i in range(len(self.members))]

    def reached(self, rule: str | None = None, budget: int | None = None) -> np.ndarray:
        """Which members passed ``rule`` (default: the config's) within ``budget`` updates
        (default: the whole run) — a run of a larger budget answers every smaller one."""
        rule = self.config.success if rule is None else rule
        if self.reached_at is None or rule not in self.reached_at:
            raise DynsysError(f"rule must be one of {', '.join(self.reached_at or ())}, got {rule!r}")
        at = self.reached_at[rule]
        return (at >= 0) & (at <= (np.inf if budget is None else budget))

    def success_rate(self, init: str | None = None, method: str | None = None) -> float:
        """Fraction of the members (optionally of one init / method) that were solved."""
        sel = [
            i
            for i, (a, m, _) in enumerate(self.members)
            if (init is None or a == init) and (method is None or m == method)
        ]
        if not sel:
            raise DynsysError(f"no member with init={init!r}, method={method!r}")
        return float(np.mean(self.solved[sel]))
