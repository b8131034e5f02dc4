"""The trainer: MSGD, MSGD-C and MSGD-CR (paper §3–4), for one network or an ensemble at once.

``train(config)`` trains ``K = len(inits) · len(methods) · len(seeds)`` networks of the same size
in one vectorized pass (stacked weights, batched matmuls through
:func:`dynsys.gradients.bptt_stacked`). Per update and member:

1. a fresh minibatch of the task (one data stream per seed: members with the same seed see the
   same data and start from the same weights when their initialization is the same — a paired
   comparison of the methods);
2. BPTT gradients (eq. 3–5) of the task loss;
3. **MSGD-CR**: ``α · ∂Ω/∂W_rec`` (eq. 9–10, :func:`dynsys.regularizers.omega`) added to the
   ``W_rec`` gradient;
4. **MSGD-C / -CR**: norm clipping (Algorithm 1: one L2 norm over all parameters, ``norm > c``);
   every method: a NaN/Inf gradient or a norm above 1e10 is *non-finite* and replaced by the
   policy's update (``"shrink"``: the paper code's ``0.02 · W_rec`` for ``W_rec`` and zero for
   the rest; ``"skip"``: no update), counted, never crashing the run;
5. the optimizer step: plain SGD (MSGD, constant learning rate, the paper), or momentum / Adam.

Every ``eval_every`` updates the members are evaluated on fresh sequences; a member is *solved*
when its error is below 1 % (``success="1pct"``, paper) or zero (``success="zero"``, the authors'
code), confirmed on ``confirm_sequences`` fresh sequences. The log has, per evaluation and member:
mean training loss, error rate, mean and max gradient norm before clipping, fraction of clipped
updates, ``ρ(W_rec)``, ``λ₁(W_rec)`` (largest singular value) and Ω.

Checkpoints (one atomic ``.npz`` through :func:`dynsys.io.save_checkpoint`) hold the weights,
optimizer state, the data generators' states (``bit_generator.state`` as JSON) and the log, so a
run that is stopped — Ctrl-C or SIGKILL — resumes to bit-identical results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..analysis.conditions import spectral_radius
from ..errors import DynsysError
from ..maps import RNNMap
from .config import TrainConfig, _activation_of
from .history import _TRACE_FIELDS, EVAL_FIELDS, TrainingHistory
from .initializers import initialize
from .runtime import blas_threads, deferred_interrupts
from .step import evaluate, training_step
from .tasks import get_task

__all__ = ["train"]

PARAM_NAMES = RNNMap.weight_names


class _Run:
    """Mutable state of a run; everything in it is saved by checkpoints."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.members = cfg.members
        K = len(self.members)
        self.K = K
        self.activation = _activation_of(cfg.inits[0])
        self.useeds = sorted({s for _, _, s in self.members})
        self.seed_index = np.array([self.useeds.index(s) for _, _, s in self.members])
        p = [
            initialize(
                init, cfg.n_hidden, self.task.n_in, self.task.n_out, rng=np.random.default_rng([seed, 0])
            )
            for init, _, seed in self.members
        ]
        self.params = {k: np.stack([getattr(q, k) for q in p]) for k in PARAM_NAMES}
        self.opt = {}
        self.rngs = [np.random.default_rng([s, 1]) for s in self.useeds]
        self.workspaces: dict[int, dict] = {}  # BPTT buffers reused between updates, per stack size
        self.lr = np.full(K, float(cfg.lr))
        self.clip = np.array([cfg.clip if m != "msgd" else np.inf for _, m, _ in self.members])
        self.alpha = np.array([cfg.alpha if m == "msgd-cr" else 0.0 for _, m, _ in self.members])
        self.update = 0
        self.active = np.ones(K, dtype=bool)
        self.solved_at = np.full(K, -1, dtype=np.int64)
        self.zero_at = np.full(K, -1, dtype=np.int64)
        self.nonfinite = np.zeros(K, dtype=np.int64)
        self.done = np.zeros(K, dtype=np.int64)
        self.acc = {k: np.zeros(K) for k in ("loss", "norm", "norm_max", "clipped", "omega", "count")}
        self.evals = {k: np.zeros((0, K)) for k in EVAL_FIELDS}
        self.eval_updates = np.zeros(0, dtype=np.int64)
        self.traces = (
            {k: np.full((cfg.updates, K), np.nan) for k in _TRACE_FIELDS} if cfg.record_updates else None
        )

    # -- checkpoints -----------------------------------------------------------------------
    def state_arrays(self) -> dict:
        a = {f"param_{k}": v for k, v in self.params.items()}
        a.update({f"opt_{k}": v for k, v in self.opt.items()})
        a.update({f"acc_{k}": v for k, v in self.acc.items()})
        a.update({f"eval_{k}": v for k, v in self.evals.items()})
        if self.traces is not None:  # the rows done so far (restore pads the rest with NaN)
            a.update({f"trace_{k}": v[: self.update] for k, v in self.traces.items()})
        a.update(
            eval_updates=self.eval_updates,
            active=self.active,
            solved_at=self.solved_at,
            zero_at=self.zero_at,
            nonfinite=self.nonfinite,
            done=self.done,
        )
        return a

    def meta(self) -> dict:
        return {
            "kind": "dynsys-train-checkpoint",
            "config": self.cfg.to_dict(),
            "update": self.update,
            "rng_states": [r.bit_generator.state for r in self.rngs],
        }

    def restore(self, arrays: dict, meta: dict) -> None:
        self.update = int(meta["update"])
        for r, st in zip(self.rngs, meta["rng_states"]):
            r.bit_generator.state = st
        for key, v in arrays.items():
            head, _, name = key.partition("_")
            if head == "param":
                self.params[name] = v
            elif head == "opt":
                self.opt[name] = v
            elif head == "acc":
                self.acc[name] = v
            elif head == "eval" and name in EVAL_FIELDS:
                self.evals[name] = v
            elif head == "trace":
                if self.traces is not None:
                    U = self.cfg.updates
                    t = np.full((U, self.K), np.nan)
                    t[: min(U, v.shape[0])] = v[:U]
                    self.traces[name] = t
        self.eval_updates = arrays["eval_updates"]
        for name in ("active", "solved_at", "zero_at", "nonfinite", "done"):
            setattr(self, name, arrays[name])

    # -- one update ------------------------------------------------------------------------
    def step(self) -> None:
        cfg, task = self.cfg, self.task
        act_idx = np.flatnonzero(self.active)
        batches = {}
        for j in range(len(self.useeds)):
            if np.any(self.seed_index[act_idx] == j):
                batches[j] = task.generate(self.rngs[j], cfg.length, cfg.batch)
        # members whose sequences have equal length are stacked in one BPTT pass
        by_T: dict[int, list[int]] = {}
        for i in act_idx:
            by_T.setdefault(batches[self.seed_index[i]].steps, []).append(i)
        info_all = {k: np.full(self.K, np.nan) for k in ("loss", "norm", "clipped", "nonfinite", "omega")}
        for idx in by_T.values():
            idx = np.array(idx)
            js = self.seed_index[idx]
            if np.all(js == js[0]):
                inputs, targets = batches[js[0]].inputs, batches[js[0]].targets
            else:
                inputs = np.stack([batches[j].inputs for j in js], axis=1)
                targets = np.stack([batches[j].targets for j in js], axis=1)
            sub = {k: v[idx] for k, v in self.params.items()}
            opt = {k: v[idx] for k, v in self.opt.items()}
            new, opt, info = training_step(
                sub,
                inputs,
                targets,
                task,
                self.activation,
                lr=self.lr[idx],
                clip=self.clip[idx],
                alpha=self.alpha[idx],
                opt_state=opt,
                optimizer=cfg.optimizer,
                nonfinite=cfg.nonfinite,
                omega_form=cfg.omega_form,
                omega_bound=cfg.omega_bound,
                momentum=cfg.momentum,
                adam=(cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps),
                workspace=self.workspaces.setdefault(len(idx), {}),
            )
            for k, v in new.items():
                self.params[k][idx] = v
            for k, v in opt.items():
                if k not in self.opt:
                    self.opt[k] = np.zeros((self.K,) + v.shape[1:])
                self.opt[k][idx] = v
            for k in info_all:
                info_all[k][idx] = getattr(info, k)
        self.update += 1
        a = self.acc
        act = self.active
        a["loss"][act] += info_all["loss"][act]
        finite_norm = np.where(np.isfinite(info_all["norm"]), info_all["norm"], 0.0)
        a["norm"][act] += finite_norm[act]
        a["norm_max"][act] = np.maximum(
            a["norm_max"][act], np.where(np.isfinite(info_all["norm"]), info_all["norm"], np.inf)[act]
        )
        a["clipped"][act] += info_all["clipped"][act]
        a["omega"][act] += np.nan_to_num(info_all["omega"][act])
        a["count"][act] += 1
        self.nonfinite[act] += info_all["nonfinite"][act].astype(np.int64)
        self.done[act] += 1
        if self.traces is not None and self.update <= cfg.updates:
            self.traces["update_loss"][self.update - 1] = info_all["loss"]
            self.traces["update_norm"][self.update - 1] = info_all["norm"]
            self.traces["update_clipped"][self.update - 1] = info_all["clipped"]

    # -- evaluation --------------------------------------------------------------------------
    def _error_rates(self, members: np.ndarray, n_seq: int, stream: int) -> np.ndarray:
        """Error rate of ``members`` on ``n_seq`` fresh sequences (stateless eval streams)."""
        cfg, task = self.cfg, self.task
        wrong = np.zeros(len(members))
        for j in np.unique(self.seed_index[members]):
            sel = members[self.seed_index[members] == j]
            rng = np.random.default_rng([self.useeds[j], stream, self.update])
            left = n_seq
            while left > 0:
                c = min(cfg.eval_chunk, left)
                batch = task.generate(rng, cfg.length, c)
                w, _ = evaluate(
                    {k: v[sel] for k, v in self.params.items()},
                    task,
                    self.activation,
                    batch.inputs,
                    batch.targets,
                )
                wrong[np.searchsorted(members, sel)] += w.sum(axis=1)
                left -= c
        return wrong / n_seq

    def evaluate_now(self) -> None:
        cfg = self.cfg
        K = self.K
        act = np.flatnonzero(self.active)
        row = {k: np.full(K, np.nan) for k in EVAL_FIELDS}
        cnt = np.maximum(self.acc["count"], 1)
        if act.size:
            err = self._error_rates(act, cfg.eval_sequences, 2)
            row["error"][act] = err
            W = self.params["W_rec"][act]
            row["rho"][act] = spectral_radius(W)
            row["lambda1"][act] = np.linalg.norm(W, ord=2, axis=(-2, -1))
            for k, src in (
                ("loss", "loss"),
                ("grad_norm", "norm"),
                ("clip_fraction", "clipped"),
                ("omega", "omega"),
            ):
                row[k][act] = (self.acc[src] / cnt)[act]
            row["grad_norm_max"][act] = self.acc["norm_max"][act]
            row["omega"][self.alpha == 0] = np.nan
            zero = act[err == 0]
            self.zero_at[zero[self.zero_at[zero] < 0]] = self.update
            cand = act[err < 0.01] if cfg.success == "1pct" else act[err == 0]
            if cand.size:
                if cfg.confirm_sequences > 0:
                    cerr = self._error_rates(cand, cfg.confirm_sequences, 3)
                    row["confirm_error"][cand] = cerr
                    ok = cand[cerr < 0.01] if cfg.success == "1pct" else cand[cerr == 0]
                else:
                    ok = cand
                new = ok[self.solved_at[ok] < 0]
                self.solved_at[new] = self.update
                if cfg.stop_on_success:
                    self.active[ok] = False
        for k in EVAL_FIELDS:
            self.evals[k] = np.concatenate([self.evals[k], row[k][None]])
        self.eval_updates = np.append(self.eval_updates, self.update)
        for k in self.acc:
            self.acc[k][:] = 0.0

    def history(self) -> TrainingHistory:
        tr = self.traces or {}
        return TrainingHistory(
            config=self.cfg,
            members=self.members,
            eval_updates=self.eval_updates.copy(),
            **{k: v.copy() for k, v in self.evals.items()},
            solved_at=self.solved_at.copy(),
            zero_error_at=self.zero_at.copy(),
            nonfinite_count=self.nonfinite.copy(),
            updates_done=self.done.copy(),
            params={k: v.copy() for k, v in self.params.items()},
            **{k: (tr[k][: self.update].copy() if k in tr else None) for k in _TRACE_FIELDS},
        )


#: config fields that may change between a run and its resumption (they do not change the result)
_FREE_KEYS = ("updates", "checkpoint_every")


def train(
    config: TrainConfig | Mapping,
    out=None,
    *,
    resume: bool = True,
    progress: Callable | None = None,
    stop_after: int | None = None,
) -> TrainingHistory:
    """Train the ensemble described by ``config``.

    Parameters
    ----------
    config : TrainConfig or dict
    out : str or Path, optional
        Run folder for ``checkpoint.npz``; with ``resume=True`` an existing checkpoint of the same
        config is continued (a larger ``updates`` extends a finished run).
    progress : callable, optional
        ``progress(total=..., initial=...)`` returning an object with ``update(n)`` and
        ``close()`` (e.g. ``tqdm``).
    stop_after : int, optional
        Stop (with a checkpoint) after this many updates in this call (tests, time slicing).

    Returns
    -------
    TrainingHistory
        Ctrl-C or SIGTERM: the current update is finished, a checkpoint saved, and
        ``KeyboardInterrupt`` raised (a second signal raises at once, keeping the last checkpoint).

    Examples
    --------
    >>> cfg = TrainConfig(task="temporal_order", length=20, n_hidden=8, batch=5, updates=20,
    ...                   methods=("msgd", "msgd-c", "msgd-cr"), seeds=(0, 1), eval_every=10,
    ...                   eval_sequences=50, confirm_sequences=0)
    >>> h = train(cfg)
    >>> h.error.shape, h.members[5]       # (evaluations, members)
    ((2, 6), ('smart_tanh', 'msgd-cr', 1))
    """
    from .. import io

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    run = _Run(cfg)
    ckpt = Path(out) / "checkpoint.npz" if out is not None else None
    if ckpt is not None and resume and ckpt.exists():
        arrays, meta = io.load_checkpoint(ckpt)
        if meta.get("kind") != "dynsys-train-checkpoint":
            raise DynsysError(f"out: {ckpt} is not a dynsys training checkpoint")
        saved = dict(meta["config"])
        mine = cfg.to_dict()
        diff = sorted(
            k for k in mine if k not in _FREE_KEYS and json.dumps(saved.get(k)) != json.dumps(mine[k])
        )
        if diff:
            raise DynsysError(
                f"out: {out} holds a run with a different config ({', '.join(diff)}); "
                "use another --out or resume=False"
            )
        run.restore(arrays, meta)

    def save():
        if ckpt is not None:
            io.save_checkpoint(ckpt, run.state_arrays(), run.meta())

    bar = progress(total=cfg.updates, initial=min(run.update, cfg.updates)) if progress else None
    n_this = 0
    # Ctrl-C / SIGTERM are deferred to the end of the current update, so the checkpoint written
    # before stopping always holds a whole number of updates (a second signal stops at once and
    # keeps the last checkpoint)
    with blas_threads(1), deferred_interrupts() as guard:
        try:
            while run.update < cfg.updates and run.active.any():
                if stop_after is not None and n_this >= stop_after:
                    break
                run.step()
                n_this += 1
                if bar is not None:
                    bar.update(1)
                at_eval = run.update % cfg.eval_every == 0 or run.update == cfg.updates
                if at_eval:
                    run.evaluate_now()
                if guard.signum is not None:
                    save()
                    guard.check()
                if at_eval or (cfg.checkpoint_every and run.update % cfg.checkpoint_every == 0):
                    save()
            if guard.signum is not None:  # a signal after the last check
                save()
                guard.check()
        finally:
            if bar is not None:
                bar.close()
    save()
    return run.history()
