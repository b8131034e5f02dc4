"""What a training run is made of: the fixed :class:`Ensemble` and the mutable :class:`TrainState`.

An :class:`Ensemble` is everything :func:`dynsys.training.train` derives once from its
:class:`~dynsys.training.TrainConfig`: the task, the ``K`` members ``(init, method, seed)``, their
shared activation, one data stream per distinct seed, and the :class:`~dynsys.training.StepOptions`
of every member. It never changes during a run.

A :class:`TrainState` is everything that does change, and exactly what a checkpoint holds: the
stacked weights (leading member axis ``K``), the optimizer state, the data generators, the
telemetry accumulated since the last evaluation, the evaluation log, the per-update traces and the
per-member flags (active, solved, counters). Its checkpoint round trip is
:meth:`TrainState.checkpoint` / :meth:`TrainState.from_checkpoint`; the file format (one ``.npz``
through :func:`dynsys.io.save_checkpoint`) is:

- arrays ``param_<p>``, ``opt_<key>``, ``acc_<key>``, ``eval_<field>``, ``trace_<field>`` (the
  rows done so far), ``eval_updates``, ``active``, ``solved_at``, ``zero_at``, ``nonfinite``,
  ``done``, ``reached_1pct``, ``reached_zero``, ``screens``, ``confirms`` and the weights at each
  rule's first pass, ``pass1pct_<p>`` / ``passzero_<p>``;
- the ``__meta__`` JSON: ``kind`` (``"dynsys-train-checkpoint"``), ``config``
  (:meth:`TrainConfig.to_dict`), ``update`` and ``rng_states`` (``bit_generator.state`` of each
  data stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.outcomes import RULES as _RULES
from .cells import cell_activation, cell_weight_names, init_weights
from .config import TrainConfig
from .history import _TRACE_FIELDS, EVAL_FIELDS, TrainingHistory
from .step import StepOptions
from .tasks import Task, get_task

__all__ = ["CHECKPOINT_KIND", "Ensemble", "TrainState"]

#: the ``kind`` recorded in the ``__meta__`` of every training checkpoint
CHECKPOINT_KIND = "dynsys-train-checkpoint"

#: telemetry summed over the updates between two evaluations (``count``: updates summed)
_ACC_FIELDS = ("loss", "norm", "norm_max", "clipped", "omega", "count")
#: per-member flags and counters of a run
_FLAG_FIELDS = ("active", "solved_at", "zero_at", "nonfinite", "done")
#: flags and counters added later (a checkpoint written before them is completed from its log)
_LATER_FLAGS = ("reached_1pct", "reached_zero", "screens", "confirms")


@dataclass(frozen=True, eq=False)
class Ensemble:
    """The fixed part of a run: the ``K`` members trained together and how each one steps.

    Attributes
    ----------
    config : TrainConfig
    task : Task
    members : list of (init, method, seed)
        In stacking order (:attr:`TrainConfig.members`).
    activation : str
        The activation every member shares.
    seeds : tuple of int
        The distinct seeds, sorted: one data stream each (members with the same seed see the same
        minibatches, a paired comparison of the methods).
    seed_index : ndarray of int, shape (K,)
        The data stream of each member (an index into ``seeds``).
    options : StepOptions
        Learning rate, clipping threshold and Ω weight of every member, and the shared settings.
    """

    config: TrainConfig
    task: Task
    members: list
    activation: str
    seeds: tuple
    seed_index: np.ndarray
    options: StepOptions

    @classmethod
    def of(cls, cfg: TrainConfig) -> Ensemble:
        """The ensemble that ``cfg`` describes."""
        members = cfg.members
        seeds = tuple(sorted({s for _, _, s in members}))
        return cls(
            config=cfg,
            task=get_task(cfg.task),
            members=members,
            activation=cell_activation(cfg.cell, cfg.inits[0]),
            seeds=seeds,
            seed_index=np.array([seeds.index(s) for _, _, s in members]),
            options=StepOptions.for_members(cfg, members),
        )

    @property
    def K(self) -> int:
        """Number of members."""
        return len(self.members)

    @property
    def cell(self) -> str:
        """The recurrent cell of every member (:data:`dynsys.training.cells.CELLS`)."""
        return self.config.cell


@dataclass(eq=False)
class TrainState:
    """The mutable state of a run; everything in it is saved by checkpoints.

    The trainer's functions update it in place, one whole update or one evaluation at a time, so
    that a checkpoint written between two of them always holds a whole number of updates.

    Attributes
    ----------
    ensemble : Ensemble
        The fixed part of the run (not saved: rebuilt from the config).
    update : int
        Updates done so far.
    params : dict of ndarray
        Stacked weights over the cell's :func:`~dynsys.training.cells.cell_weight_names` (RNN:
        ``W_rec`` (K, n, n), ``W_in`` (K, n, m), ``b`` (K, n), ``W_out`` (K, k, n), ``b_out`` (K, k)).
    opt_state : dict of ndarray
        Optimizer state with a leading K axis (empty for SGD; see
        :func:`dynsys.training.optimizer_step`).
    rngs : list of numpy.random.Generator
        The data stream of each seed of ``ensemble.seeds``.
    acc : dict of ndarray, shape (K,)
        ``loss``, ``norm``, ``norm_max``, ``clipped``, ``omega`` summed (``norm_max``: maximized)
        over the ``count`` updates since the last evaluation.
    evals : dict of ndarray, shape (E, K)
        The evaluation log, one row per evaluation (:data:`~dynsys.training.EVAL_FIELDS`).
    eval_updates : ndarray of int, shape (E,)
    active : ndarray of bool, shape (K,)
        Members still training (solved members stop with ``stop_on_success``).
    solved_at, zero_at : ndarray of int, shape (K,)
        First update at which the success rule held / with zero screening errors (−1: never).
    reached : dict of ndarray of int, shape (K,)
        Per rule (``"1pct"``, ``"zero"``): first update of a confirmed pass (−1: never).
    pass_params : dict of dict of ndarray
        Per rule, the stacked weights at each member's first pass (zeros before it).
    screens, confirms : ndarray of int, shape (K,)
        Check screens and confirmations run per member (the cost of the cadence).
    nonfinite, done : ndarray of int, shape (K,)
        Non-finite updates and updates done, per member.
    traces : dict of ndarray, shape (U, K), or None
        Per-update loss, gradient norm and clip flag (``record_updates``), NaN where not done.
    """

    ensemble: Ensemble
    update: int
    params: dict
    opt_state: dict
    rngs: list
    acc: dict
    evals: dict
    eval_updates: np.ndarray
    active: np.ndarray
    solved_at: np.ndarray
    zero_at: np.ndarray
    nonfinite: np.ndarray
    done: np.ndarray
    reached: dict = field(default_factory=dict)
    pass_params: dict = field(default_factory=dict)
    screens: np.ndarray | None = None
    confirms: np.ndarray | None = None
    traces: dict | None = field(default=None)

    @classmethod
    def initial(cls, ensemble: Ensemble) -> TrainState:
        """The state before the first update: initialized weights (seeded ``[seed, 0]`` per
        member), fresh data streams (``[seed, 1]`` per seed), empty logs."""
        cfg, task, K = ensemble.config, ensemble.task, ensemble.K
        nets = [
            init_weights(
                cfg.cell, init, cfg.n_hidden, task.n_in, task.n_out, rng=np.random.default_rng([seed, 0])
            )
            for init, _, seed in ensemble.members
        ]
        params = {k: np.stack([q[k] for q in nets]) for k in cell_weight_names(cfg.cell)}
        return cls(
            ensemble=ensemble,
            update=0,
            params=params,
            opt_state={},
            rngs=[np.random.default_rng([s, 1]) for s in ensemble.seeds],
            acc={k: np.zeros(K) for k in _ACC_FIELDS},
            evals={k: np.zeros((0, K)) for k in EVAL_FIELDS},
            eval_updates=np.zeros(0, dtype=np.int64),
            active=np.ones(K, dtype=bool),
            solved_at=np.full(K, -1, dtype=np.int64),
            zero_at=np.full(K, -1, dtype=np.int64),
            nonfinite=np.zeros(K, dtype=np.int64),
            done=np.zeros(K, dtype=np.int64),
            reached={r: np.full(K, -1, dtype=np.int64) for r in _RULES},
            pass_params={r: {k: np.zeros_like(v) for k, v in params.items()} for r in _RULES},
            screens=np.zeros(K, dtype=np.int64),
            confirms=np.zeros(K, dtype=np.int64),
            traces=(
                {k: np.full((cfg.updates, K), np.nan) for k in _TRACE_FIELDS} if cfg.record_updates else None
            ),
        )

    # -- the checkpoint round trip -----------------------------------------------------------
    def checkpoint(self) -> tuple[dict, dict]:
        """The arrays and the ``__meta__`` record of a checkpoint of this state (module docstring)."""
        a = {f"param_{k}": v for k, v in self.params.items()}
        a.update({f"opt_{k}": v for k, v in self.opt_state.items()})
        a.update({f"acc_{k}": v for k, v in self.acc.items()})
        a.update({f"eval_{k}": v for k, v in self.evals.items()})
        if self.traces is not None:  # the rows done so far (from_checkpoint pads the rest with NaN)
            a.update({f"trace_{k}": v[: self.update] for k, v in self.traces.items()})
        a["eval_updates"] = self.eval_updates
        a.update({name: getattr(self, name) for name in _FLAG_FIELDS})
        a.update({f"reached_{r}": v for r, v in self.reached.items()})
        for r, ps in self.pass_params.items():
            a.update({f"pass{r}_{k}": v for k, v in ps.items()})
        a["screens"], a["confirms"] = self.screens, self.confirms
        meta = {
            "kind": CHECKPOINT_KIND,
            "config": self.ensemble.config.to_dict(),
            "update": self.update,
            "rng_states": [r.bit_generator.state for r in self.rngs],
        }
        return a, meta

    @classmethod
    def from_checkpoint(cls, ensemble: Ensemble, arrays: dict, meta: dict) -> TrainState:
        """The state saved by :meth:`checkpoint` (the caller checks ``meta``'s kind and config).

        Starts from :meth:`initial` and replaces what the checkpoint holds; traces are padded
        with NaN up to the config's ``updates`` (which may have grown since the checkpoint).
        """
        state = cls.initial(ensemble)
        state.update = int(meta["update"])
        for r, st in zip(state.rngs, meta["rng_states"]):
            r.bit_generator.state = st
        for key, v in arrays.items():
            head, _, name = key.partition("_")
            if head == "param":
                state.params[name] = v
            elif head == "opt":
                state.opt_state[name] = v
            elif head == "acc":
                state.acc[name] = v
            elif head == "eval" and name in EVAL_FIELDS:
                state.evals[name] = v
            elif head.startswith("pass") and head[4:] in state.pass_params:
                state.pass_params[head[4:]][name] = v
            elif head == "trace" and state.traces is not None:
                U = ensemble.config.updates
                t = np.full((U, ensemble.K), np.nan)
                t[: min(U, v.shape[0])] = v[:U]
                state.traces[name] = t
        state.eval_updates = arrays["eval_updates"]
        for name in _FLAG_FIELDS:
            setattr(state, name, arrays[name])
        if "reached_1pct" in arrays:
            state.reached = {r: arrays[f"reached_{r}"] for r in _RULES}
            state.screens, state.confirms = arrays["screens"], arrays["confirms"]
        else:
            _complete_legacy(state)
        return state

    # -- the result ------------------------------------------------------------------------
    def history(self) -> TrainingHistory:
        """The run's log and outcome so far (copies: later updates do not change it)."""
        tr = self.traces or {}
        return TrainingHistory(
            config=self.ensemble.config,
            members=self.ensemble.members,
            eval_updates=self.eval_updates.copy(),
            **{k: v.copy() for k, v in self.evals.items()},
            solved_at=self.solved_at.copy(),
            zero_error_at=self.zero_at.copy(),
            reached_at={r: v.copy() for r, v in self.reached.items()},
            pass_params={r: {k: v.copy() for k, v in ps.items()} for r, ps in self.pass_params.items()},
            screens=self.screens.copy(),
            confirms=self.confirms.copy(),
            nonfinite_count=self.nonfinite.copy(),
            updates_done=self.done.copy(),
            params={k: v.copy() for k, v in self.params.items()},
            **{k: (tr[k][: self.update].copy() if k in tr else None) for k in _TRACE_FIELDS},
        )


def _complete_legacy(state: TrainState) -> None:
    """Both verdicts of a checkpoint written before they were recorded, derived from its log.

    Such runs confirmed exactly the screens that passed their rule (``"1pct"``: every screen under
    1 %, so both verdicts of every row follow from the screen and confirmation errors; ``"zero"``:
    zero screens only, so a 1 % verdict of a screen under 1 % but not zero is unknown, NaN). The
    first passes are the first rows that passed; the weights at a pass are not known (zeros) —
    except at a pass that stopped the member, whose final weights they are.
    """
    ens = state.ensemble
    cfg = ens.config
    n_eval, n_conf = cfg.eval_sequences, cfg.confirm_sequences
    err, conf = state.evals["error"], state.evals["confirm_error"]
    with np.errstate(invalid="ignore"):
        screen_w = np.rint(err * n_eval)
        conf_w = np.rint(conf * n_conf)
        screen = {"1pct": 100 * screen_w < n_eval, "zero": screen_w == 0}
        confirmed = {"1pct": 100 * conf_w < n_conf, "zero": conf_w == 0}
    ran = np.isfinite(conf) if n_conf > 0 else np.isfinite(err)
    for r in _RULES:
        v = np.where(np.isfinite(err), 0.0, np.nan)
        ok = screen[r] & (confirmed[r] if n_conf > 0 else True) & ran
        v[ok] = 1.0
        v[screen[r] & ~ran & np.isfinite(err)] = np.nan  # passed the screen, never confirmed
        state.evals[f"verdict_{r}"] = v
        first = np.full(ens.K, -1, dtype=np.int64)
        for k in range(ens.K):
            hit = np.flatnonzero(v[:, k] == 1.0)
            if hit.size:
                first[k] = state.eval_updates[hit[0]]
        state.reached[r] = first
    for r in _RULES:  # a pass that stopped the member: its weights are the final ones
        stopped = (state.reached[r] >= 0) & (state.reached[r] == state.solved_at) & ~state.active
        for k, v in state.params.items():
            state.pass_params[r][k][stopped] = v[stopped]
