"""Paper Fig. 7: success rate on the temporal-order task against sequence length.

Three panels (sigmoid / basic tanh / smart tanh initialization), three curves (MSGD, MSGD-C,
MSGD-CR), 5 seeds per point. One ensemble per (initialization, length): the 3 methods × 5 seeds
are trained together in one vectorized pass; members with the same seed share their initial
weights and their data stream (a paired comparison of the methods).

A run is *solved* when its error on fresh sequences is below 1 % (confirmed on a second, larger
set of fresh sequences); solved members stop. Every (initialization, length) ensemble checkpoints
into the experiment's work folder, so an interrupted ``dynsys reproduce`` resumes and finished
ensembles are skipped (``--profile long`` can be run in slices: stop it any time, rerun).

Profiles: ``default`` is a reduced budget that fits minutes (stated on the figure; the networks
do not have time to learn the task, so it checks the pipeline and shows early error rates);
``long`` is a few hours on 2 cores; ``paper`` is the full protocol (5M updates, lengths 20–200).
"""

from __future__ import annotations

import numpy as np

from dynsys.errors import DynsysError
from dynsys.io import save_figure
from dynsys.runs import Experiment, SweepSpec, config_hash, run_sweep, sweep_results
from dynsys.training import TrainConfig

INITS = ("sigmoid", "basic_tanh", "smart_tanh")
METHODS = ("msgd", "msgd-c", "msgd-cr")

BASE = dict(
    task="temporal_order",
    n_hidden=50,
    batch=20,
    lr=0.01,
    clip=1.0,
    alpha=4.0,
    seeds=[0, 1, 2, 3, 4],
    success="1pct",
)
PROFILES = {
    "default": dict(
        BASE,
        lengths=[20, 30, 50],
        updates=800,
        eval_every=200,
        eval_sequences=500,
        confirm_sequences=2000,
        checkpoint_every=200,
    ),
    "long": dict(
        BASE,
        lengths=[20, 50, 100],
        updates=20_000,
        eval_every=500,
        eval_sequences=1000,
        confirm_sequences=10_000,
        checkpoint_every=500,
    ),
    "paper": dict(
        BASE,
        lengths=[20, 50, 100, 150, 200],
        updates=5_000_000,
        eval_every=2000,
        eval_sequences=1000,  # screening set; a success is confirmed on 10,000 (the paper's criterion)
        confirm_sequences=10_000,
        checkpoint_every=5000,
    ),
}


def _train_config(config, init, length):
    keys = (
        "task",
        "n_hidden",
        "batch",
        "lr",
        "clip",
        "alpha",
        "updates",
        "eval_every",
        "eval_sequences",
        "confirm_sequences",
        "checkpoint_every",
        "success",
    )
    return TrainConfig(
        **{k: config[k] for k in keys},
        length=int(length),
        inits=(init,),
        methods=METHODS,
        seeds=tuple(config["seeds"]),
    )


def _run_key(cfg: TrainConfig) -> str:
    """Folder key: the training config without the budget, so a larger ``updates`` resumes and extends."""
    return config_hash(cfg.resume_dict())


def compute(config, ctx):
    lengths = list(config["lengths"])
    jobs = [(init, L) for init in INITS for L in lengths]
    cfgs = {job: _train_config(config, *job) for job in jobs}
    outs = {job: ctx.workdir / f"{job[0]}_L{job[1]}_{_run_key(cfgs[job])}" for job in jobs}
    # every ensemble is one run of the sweep machinery: a local process pool (--jobs) or a Dask
    # cluster (--scheduler), recorded in an SQLite store; finished runs are skipped on a rerun and an
    # interrupted one resumes from its checkpoint folder (named without the budget, so a larger
    # budget extends it)
    spec = SweepSpec(
        "train",
        tuple(cfgs[job].to_dict() for job in jobs),
        ctx.workdir / "runs.sqlite",
        workdirs=tuple(outs[job] for job in jobs),
    )
    summary = run_sweep(spec, workers=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
    if summary.failed:
        raise DynsysError(
            f"fig7: {summary.failed} training run(s) failed: {next(iter(summary.errors.values()))}"
        )
    results = dict(zip(jobs, sweep_results(spec)))
    I, M, L, S = len(INITS), len(METHODS), len(lengths), len(config["seeds"])
    shape = (I, M, L, S)
    arr = {
        k: np.zeros(shape)
        for k in ("best_error", "final_error", "clip_fraction", "final_rho", "max_grad_norm")
    }
    arr.update(
        {
            k: np.zeros(shape, dtype=np.int64)
            for k in ("solved_at", "zero_error_at", "nonfinite", "updates_done")
        }
    )
    seeds = list(config["seeds"])
    for i, init in enumerate(INITS):
        for l, length in enumerate(lengths):
            m = results[(init, length)]
            for k, (_, meth, s) in enumerate(m["members"]):
                idx = (i, METHODS.index(meth), l, seeds.index(s))
                for key in arr:
                    arr[key][idx] = m[key][k]
    arr["success_rate"] = (arr["solved_at"] >= 0).mean(axis=-1)
    arr["lengths"] = np.array(lengths)
    metrics = {
        "inits": list(INITS),
        "methods": list(METHODS),
        "seeds": list(config["seeds"]),
        "success_rate": arr["success_rate"].tolist(),
        "profile": ctx.profile,
    }
    return arr, metrics


def _note(meta):
    c = meta["config"]
    return (
        f"profile '{meta['profile']}': up to {c['updates']:,} updates per run (paper: 5,000,000), lengths "
        f"{c['lengths']}, {len(c['seeds'])} seeds, n={c['n_hidden']}, batch {c['batch']}, lr {c['lr']}, "
        f"clip {c['clip']}, α={c['alpha']}; success = <1% error on {c['eval_sequences']:,} fresh sequences, "
        f"confirmed on {c['confirm_sequences']:,}. Bottom: lowest error reached (median, min–max over seeds)."
    )


def draw(arrays, meta, figdir):
    from dynsys.plotting.training import success_figure

    m = meta["metrics"]
    fig = success_figure(
        arrays["lengths"],
        arrays["success_rate"],
        arrays["best_error"],
        m["inits"],
        m["methods"],
        _note(meta),
        n_seeds=len(m["seeds"]),
    )
    stem = "fig7_success_rate"  # a profile's figures go to its own folder (figures/<profile>/)
    save_figure(fig, figdir / stem)
    return [stem]


def report(arrays, meta):
    m = meta["metrics"]
    lengths = arrays["lengths"].tolist()
    lines = [
        _note(meta),
        "",
        "| init | method | " + " | ".join(f"L={L}: solved (best err %)" for L in lengths) + " |",
        "|---|---|" + "---|" * len(lengths),
    ]
    for i, init in enumerate(m["inits"]):
        for j, meth in enumerate(m["methods"]):
            cells = []
            for l in range(len(lengths)):
                solved = int((arrays["solved_at"][i, j, l] >= 0).sum())
                best = 100 * np.median(arrays["best_error"][i, j, l])
                cells.append(f"{solved}/{arrays['solved_at'].shape[-1]} ({best:.1f})")
            lines.append(f"| {init} | {meth} | " + " | ".join(cells) + " |")
    nf = int(arrays["nonfinite"].sum())
    lines += [
        "",
        f"Non-finite updates (handled by the shrink policy): {nf} in total; "
        f"max gradient norm seen {float(arrays['max_grad_norm'].max()):.3g}; mean fraction of clipped "
        f"updates (MSGD-C / MSGD-CR): {float(arrays['clip_fraction'][:, 1].mean()):.3f} / "
        f"{float(arrays['clip_fraction'][:, 2].mean()):.3f}.",
    ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="fig7_success_rate",
    title="Fig. 7 — temporal order: success rate vs sequence length (MSGD / MSGD-C / MSGD-CR)",
    checks=(
        "success rate of 5 seeds per (initialization, method, length) on the temporal-order task; "
        "whether clipping (and Ω) matter more as sequences grow. Resumable through its work folder."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=70,
)
