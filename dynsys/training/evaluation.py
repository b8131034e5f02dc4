"""The periodic evaluation of a run: screening, confirmation and the success rule (paper §4).

:func:`evaluate_ensemble` is called by :func:`dynsys.training.train` every ``eval_every`` updates
(and after the last one). For every active member it

1. measures the error rate on ``eval_sequences`` fresh sequences (the *screening* set);
2. records the telemetry accumulated since the previous evaluation (mean loss, mean and max
   gradient norm before clipping, fraction of clipped updates, mean Ω) and the spectrum of
   ``W_rec`` (``ρ``, ``λ₁``);
3. applies the success rule — error below 1 % (``success="1pct"``, the paper) or zero
   (``success="zero"``, the authors' code) — to the screening errors, and confirms the
   candidates on ``confirm_sequences`` further fresh sequences (skipped when 0). A confirmed
   member is *solved*; with ``stop_on_success`` it stops training.

The evaluation sequences come from stateless streams seeded ``[seed, stream, update]`` (stream 2:
screening, 3: confirmation), so an evaluation never moves the training data streams and a
resumed run evaluates on the same sequences as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

from ..analysis.conditions import spectral_radius
from .history import EVAL_FIELDS
from .state import TrainState
from .step import evaluate

__all__ = ["error_rates", "evaluate_ensemble"]

#: seed streams of the evaluation sequences (training data uses stream 1)
_SCREEN_STREAM, _CONFIRM_STREAM = 2, 3
#: eval field <- accumulator averaged over the updates since the previous evaluation
_MEANS = (("loss", "loss"), ("grad_norm", "norm"), ("clip_fraction", "clipped"), ("omega", "omega"))


def error_rates(state: TrainState, members: np.ndarray, n_seq: int, stream: int) -> np.ndarray:
    """Error rate of ``members`` on ``n_seq`` fresh sequences of the task.

    Parameters
    ----------
    state : TrainState
        Supplies the weights, the update index and the members' seeds.
    members : ndarray of int, sorted
        Member indices.
    n_seq : int
    stream : int
        Second entry of the seed ``[seed, stream, update]`` of each member's sequences (members
        with the same seed share them), generated in chunks of ``eval_chunk``.

    Returns
    -------
    ndarray, shape (len(members),)
    """
    ens = state.ensemble
    cfg, task = ens.config, ens.task
    wrong = np.zeros(len(members))
    for j in np.unique(ens.seed_index[members]):
        sel = members[ens.seed_index[members] == j]
        rng = np.random.default_rng([ens.seeds[j], stream, state.update])
        left = n_seq
        while left > 0:
            c = min(cfg.eval_chunk, left)
            batch = task.generate(rng, cfg.length, c)
            w, _ = evaluate(
                {k: v[sel] for k, v in state.params.items()},
                task,
                ens.activation,
                batch.inputs,
                batch.targets,
                ens.cell,
            )
            wrong[np.searchsorted(members, sel)] += w.sum(axis=1)
            left -= c
    return wrong / n_seq


def _passes(err: np.ndarray, rule: str) -> np.ndarray:
    """The success rule on error rates: below 1 % (``"1pct"``) or zero (``"zero"``)."""
    return err < 0.01 if rule == "1pct" else err == 0


def evaluate_ensemble(state: TrainState) -> None:
    """Evaluate the active members now (steps 1–3 above), in place.

    Appends one row to ``state.evals`` (NaN for inactive members) and ``state.update`` to
    ``state.eval_updates``, sets ``zero_at`` / ``solved_at`` of members reaching them for the
    first time, deactivates solved members (``stop_on_success``) and resets the accumulators.
    """
    ens = state.ensemble
    cfg = ens.config
    act = np.flatnonzero(state.active)
    row = {k: np.full(ens.K, np.nan) for k in EVAL_FIELDS}
    if act.size:
        err = error_rates(state, act, cfg.eval_sequences, _SCREEN_STREAM)
        row["error"][act] = err
        if "W_rec" in state.params:  # ρ and λ₁ of W_rec (cells without one, GRU/LSTM: NaN)
            W = state.params["W_rec"][act]
            row["rho"][act] = spectral_radius(W)
            row["lambda1"][act] = np.linalg.norm(W, ord=2, axis=(-2, -1))
        cnt = np.maximum(state.acc["count"], 1)
        for k, src in _MEANS:
            row[k][act] = (state.acc[src] / cnt)[act]
        row["grad_norm_max"][act] = state.acc["norm_max"][act]
        row["omega"][ens.options.alpha == 0] = np.nan
        zero = act[err == 0]
        state.zero_at[zero[state.zero_at[zero] < 0]] = state.update
        cand = act[_passes(err, cfg.success)]
        if cand.size:
            if cfg.confirm_sequences > 0:
                cerr = error_rates(state, cand, cfg.confirm_sequences, _CONFIRM_STREAM)
                row["confirm_error"][cand] = cerr
                ok = cand[_passes(cerr, cfg.success)]
            else:
                ok = cand
            state.solved_at[ok[state.solved_at[ok] < 0]] = state.update
            if cfg.stop_on_success:
                state.active[ok] = False
    for k in EVAL_FIELDS:
        state.evals[k] = np.concatenate([state.evals[k], row[k][None]])
    state.eval_updates = np.append(state.eval_updates, state.update)
    for v in state.acc.values():
        v[:] = 0.0
