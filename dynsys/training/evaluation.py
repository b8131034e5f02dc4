"""The periodic evaluation of a run: screening, confirmation and both success rules (paper §4).

:func:`evaluate_ensemble` is called by :func:`dynsys.training.train` every ``eval_every`` updates
(and after the last one). For every active member it

1. counts the wrong sequences among ``eval_sequences`` fresh ones (the *screening* set);
2. records the telemetry accumulated since the previous evaluation (mean loss, mean and max
   gradient norm before clipping, fraction of clipped updates, mean Ω) and the spectrum of
   ``W_rec`` (``ρ``, ``λ₁``);
3. gives **both verdicts** on the same sequences — under 1 % wrong (``"1pct"``, the paper's text)
   and no wrong sequence (``"zero"``, the authors' code: valid error % < 1e-4 on 10,000
   sequences) — confirming every screen under 1 % on ``confirm_sequences`` further fresh
   sequences (skipped when 0): a verdict is a pass when screen *and* confirmation pass. The first
   update each rule passed is kept (``reached``); ``config.success`` names the rule that *solves*
   a member, which stops with ``stop_on_success``.

:func:`check_ensemble` is the cheap cadence between evaluations (``check_every``, the authors'
every-20-updates evaluation): it screens on ``check_sequences`` and confirms only a screen that
could be a *first* pass of a rule (under 1 % before the 1 % rule was reached, zero before the
zero rule was). A success is declared only on a confirmation, so a check never declares one the
full evaluation would reject; what it can do is miss one (a screen that fails although the
confirmation set would pass) — measured by :func:`screen_miss_rate`.

The evaluation sequences come from stateless streams seeded ``[seed, stream, update]`` (stream 2:
screening, 3: confirmation, 4: the checks' screening), so an evaluation never moves the training
data streams and a resumed run evaluates on the same sequences as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

from ..analysis.conditions import spectral_radius
from ..analysis.outcomes import RULES
from ..errors import DynsysError
from .history import EVAL_FIELDS
from .state import TrainState
from .step import evaluate

__all__ = [
    "check_ensemble",
    "error_counts",
    "error_rates",
    "evaluate_ensemble",
    "screen_miss_rate",
    "screen_misses",
    "verdicts",
]

#: seed streams of the evaluation sequences (training data uses stream 1)
_SCREEN_STREAM, _CONFIRM_STREAM, _CHECK_STREAM = 2, 3, 4
#: eval field <- accumulator averaged over the updates since the previous evaluation
_MEANS = (("loss", "loss"), ("grad_norm", "norm"), ("clip_fraction", "clipped"), ("omega", "omega"))


def verdicts(wrong, n_seq: int) -> dict[str, np.ndarray]:
    """Both success rules on counts of wrong sequences among ``n_seq``.

    ``"1pct"``: fewer than 1 % wrong (``100 · wrong < n_seq``, the paper's "below 1 %"; exact in
    integers, so 100 wrong of 10,000 fails). ``"zero"``: no wrong sequence, which is the authors'
    rule ``error % < 1e-4`` for any set of up to 10⁶ sequences (one wrong in 10,000 is 0.01 %).

    Parameters
    ----------
    wrong : array_like of int
    n_seq : int

    Returns
    -------
    dict
        ``{"1pct": bool array, "zero": bool array}`` of the shape of ``wrong``.

    Examples
    --------
    >>> v = verdicts([0, 1, 99, 100], 10_000)
    >>> v["1pct"].tolist(), v["zero"].tolist()
    ([True, True, True, False], [True, False, False, False])
    """
    w = np.asarray(wrong)
    return {"1pct": 100 * w < n_seq, "zero": w == 0}


def error_counts(state: TrainState, members: np.ndarray, n_seq: int, stream: int) -> np.ndarray:
    """Wrong sequences of ``members`` among ``n_seq`` fresh sequences of the task.

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
    ndarray of int64, shape (len(members),)
    """
    ens = state.ensemble
    cfg, task = ens.config, ens.task
    wrong = np.zeros(len(members), dtype=np.int64)
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
    return wrong


def error_rates(state: TrainState, members: np.ndarray, n_seq: int, stream: int) -> np.ndarray:
    """Error rate of ``members`` on ``n_seq`` fresh sequences (:func:`error_counts` / ``n_seq``)."""
    return error_counts(state, members, n_seq, stream) / n_seq


def _confirm(state: TrainState, members, screen_wrong, n_screen: int, need) -> tuple:
    """Confirm the members ``members[need]`` and give both verdicts of every member.

    Returns ``(verdict, confirm_rate)``: per rule a bool array over ``members`` (screen passes
    and, where confirmed, the confirmation passes; a member not confirmed passes no rule unless
    ``confirm_sequences`` is 0), and the confirmation error rate (NaN where not run).
    """
    cfg = state.ensemble.config
    screen = verdicts(screen_wrong, n_screen)
    out = {r: np.zeros(len(members), dtype=bool) for r in RULES}
    rate = np.full(len(members), np.nan)
    if not need.any():
        return out, rate
    if cfg.confirm_sequences > 0:
        cw = error_counts(state, members[need], cfg.confirm_sequences, _CONFIRM_STREAM)
        rate[need] = cw / cfg.confirm_sequences
        conf = verdicts(cw, cfg.confirm_sequences)
        for r in RULES:
            out[r][need] = screen[r][need] & conf[r]
    else:
        for r in RULES:
            out[r][need] = screen[r][need]
    state.confirms[members[need]] += 1
    return out, rate


def _record_passes(state: TrainState, members, passed: dict) -> None:
    """First passes of both rules; ``solved_at`` follows the config's rule; solved members stop."""
    cfg = state.ensemble.config
    for r in RULES:
        ok = members[passed[r]]
        at = state.reached[r]
        new = ok[at[ok] < 0]
        at[new] = state.update
        for k, v in state.params.items():  # the weights that passed, for measurements after the run
            state.pass_params[r][k][new] = v[new]
    ok = members[passed[cfg.success]]
    state.solved_at[ok[state.solved_at[ok] < 0]] = state.update
    if cfg.stop_on_success:
        state.active[ok] = False


def _append_row(state: TrainState, members, screen_rate, confirm_rate, passed: dict) -> None:
    """One row of the evaluation log for ``members`` (NaN for the others): screening and
    confirmation errors, both verdicts, the telemetry since their last row and the spectrum of
    ``W_rec``; their accumulators are reset."""
    ens = state.ensemble
    row = {k: np.full(ens.K, np.nan) for k in EVAL_FIELDS}
    if members.size:
        row["error"][members] = screen_rate
        if "W_rec" in state.params:  # ρ and λ₁ of W_rec (cells without one, GRU/LSTM: NaN)
            W = state.params["W_rec"][members]
            row["rho"][members] = spectral_radius(W)
            row["lambda1"][members] = np.linalg.norm(W, ord=2, axis=(-2, -1))
        cnt = np.maximum(state.acc["count"], 1)
        for k, src in _MEANS:
            row[k][members] = (state.acc[src] / cnt)[members]
        row["grad_norm_max"][members] = state.acc["norm_max"][members]
        row["omega"][ens.options.alpha == 0] = np.nan
        row["confirm_error"][members] = confirm_rate
        for r in RULES:
            row[f"verdict_{r}"][members] = passed[r]
    for k in EVAL_FIELDS:
        state.evals[k] = np.concatenate([state.evals[k], row[k][None]])
    state.eval_updates = np.append(state.eval_updates, state.update)
    for v in state.acc.values():
        v[members] = 0.0


def evaluate_ensemble(state: TrainState) -> None:
    """Evaluate the active members now (steps 1–3 above), in place.

    Appends one row to ``state.evals`` (NaN for inactive members) and ``state.update`` to
    ``state.eval_updates``, sets ``zero_at`` (first zero *screen*), the first passes of both
    rules and ``solved_at`` of members reaching them for the first time, deactivates solved
    members (``stop_on_success``) and resets the accumulators.
    """
    cfg = state.ensemble.config
    act = np.flatnonzero(state.active)
    if not act.size:
        _append_row(state, act, None, None, {})
        return
    wrong = error_counts(state, act, cfg.eval_sequences, _SCREEN_STREAM)
    zero = act[wrong == 0]
    state.zero_at[zero[state.zero_at[zero] < 0]] = state.update
    # every screen under 1 % is confirmed, so that each row holds both verdicts
    passed, rate = _confirm(
        state, act, wrong, cfg.eval_sequences, verdicts(wrong, cfg.eval_sequences)["1pct"]
    )
    _append_row(state, act, wrong / cfg.eval_sequences, rate, passed)
    _record_passes(state, act, passed)


def check_ensemble(state: TrainState) -> None:
    """A success check of the active members now (:func:`check_ensemble` in the module notes).

    Screens on ``check_sequences`` fresh sequences (stream 4) and confirms a member only when its
    screen could be a first pass: under 1 % before the 1 % rule was reached, or zero before the
    zero rule was. Records first passes like :func:`evaluate_ensemble`; a member this solves (and
    stops) gets a row of the evaluation log for itself (NaN for the others), so that its log ends
    with the check that solved it.
    """
    cfg = state.ensemble.config
    act = np.flatnonzero(state.active)
    if not act.size:
        return
    wrong = error_counts(state, act, cfg.check_sequences, _CHECK_STREAM)
    state.screens[act] += 1
    screen = verdicts(wrong, cfg.check_sequences)
    need = np.zeros(act.size, dtype=bool)
    for r in RULES:
        need |= screen[r] & (state.reached[r][act] < 0)
    passed, rate = _confirm(state, act, wrong, cfg.check_sequences, need)
    zero = act[wrong == 0]
    state.zero_at[zero[state.zero_at[zero] < 0]] = state.update
    _record_passes(state, act, passed)
    stopped = ~state.active[act]
    if stopped.any():
        _append_row(
            state,
            act[stopped],
            wrong[stopped] / cfg.check_sequences,
            rate[stopped],
            {r: passed[r][stopped] for r in RULES},
        )


def screen_miss_rate(p_true, n_screen: int, rule: str = "zero") -> np.ndarray:
    """Probability that a screen of ``n_screen`` sequences fails a network whose true error
    rate is ``p_true`` (sequences wrong independently): the per-check false-negative risk.

    ``"zero"``: 1 − (1 − p)ⁿ; ``"1pct"``: P(Binomial(n, p) ≥ ⌈n / 100⌉).
    """
    from scipy.stats import binom

    p = np.asarray(p_true, dtype=float)
    if rule == "zero":
        return -np.expm1(n_screen * np.log1p(-p))
    if rule == "1pct":
        k = -(-n_screen // 100)  # the smallest count that fails: 100 k >= n
        return binom.sf(k - 1, n_screen, p)
    raise DynsysError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")


def screen_misses(history, rule: str, n_screen: int, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured per-check false-negative risk of a finished run, at the weights of each member's
    first pass of ``rule`` (weights the confirmation set passed).

    ``repeats`` independent screens of ``n_screen`` fresh sequences (one stream for the run,
    seeded ``[*seeds, 5]``, apart from every training and evaluation stream) are scored with the
    rule; the fraction that fails is the chance that a check at that moment misses the success
    (it is then found at a later check or evaluation, if the network stays as good).

    Parameters
    ----------
    history : TrainingHistory
    rule : {"1pct", "zero"}
    n_screen, repeats : int

    Returns
    -------
    miss : ndarray, shape (K,)
        Fraction of the screens that fail, NaN for members that never passed ``rule``.
    p_hat : ndarray, shape (K,)
        Error rate over all ``repeats · n_screen`` sequences (NaN likewise): with
        :func:`screen_miss_rate` the binomial prediction of ``miss``.
    """
    if rule not in RULES:
        raise DynsysError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    cfg = history.config
    K = len(history.members)
    miss, p_hat = np.full(K, np.nan), np.full(K, np.nan)
    sel = np.flatnonzero(history.reached_at[rule] >= 0)
    if not sel.size:
        return miss, p_hat
    from .cells import cell_activation
    from .tasks import get_task

    task = get_task(cfg.task)
    act = cell_activation(cfg.cell, cfg.inits[0])
    params = {k: v[sel] for k, v in history.pass_params[rule].items()}
    rng = np.random.default_rng([*cfg.seeds, 5])
    counts = np.zeros((sel.size, repeats), dtype=np.int64)
    per_chunk = max(1, cfg.eval_chunk // n_screen)  # whole screens per generated chunk
    r = 0
    while r < repeats:
        q = min(per_chunk, repeats - r)
        batch = task.generate(rng, cfg.length, q * n_screen)
        w, _ = evaluate(params, task, act, batch.inputs, batch.targets, cfg.cell)  # (S, q·n)
        counts[:, r : r + q] = w.reshape(sel.size, q, n_screen).sum(axis=2)
        r += q
    miss[sel] = (~verdicts(counts, n_screen)[rule]).mean(axis=1)
    p_hat[sel] = counts.sum(axis=1) / (repeats * n_screen)
    return miss, p_hat
