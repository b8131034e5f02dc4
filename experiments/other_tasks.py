"""The other pathological tasks of the paper (§5): MSGD-CR with smart-tanh initialization on
addition, multiplication, 3-bit temporal order, random permutation and noiseless memorization
(5-bit and ≈23-bit variants), 5 seeds each; generalisation of addition and multiplication to
sequences longer than the training ones.

Protocol (paper_spec §5): lr 0.01, clip 1, α = 4, n = 50, minibatch 20. Addition, multiplication,
3-bit temporal order and random permutation train one model on variable lengths drawn uniformly in
a range (the paper: up to 200); memorization trains one model per length. A run is *solved* when
its error on fresh sequences is below 1 % (confirmed on a larger fresh set).

Every ensemble (one task × 5 seeds) is one config of a ``train`` sweep
(:func:`dynsys.runs.sweep.run_sweep`) whose store is ``<workdir>/runs.sqlite``: a rerun skips finished
ensembles and resumes unfinished ones from their checkpoints; ``--scheduler`` sends them to Dask.
For addition and multiplication the sweep's ``generalize_lengths`` key evaluates the final
weights on fresh sequences of longer nominal lengths.

Profiles: ``default`` is a tiny budget (lengths 20–30, 1,000 updates) that checks the pipeline in
about a minute — the networks cannot learn these tasks in that budget, and the figure says so;
``long`` (lengths 50–100, 20,000 updates) runs hours here; ``paper`` is the full protocol
(lengths 50–200, up to 5M updates, generalisation to 500) for a cluster.
"""

from __future__ import annotations

import numpy as np

from dynsys.errors import DynsysError
from dynsys.io import save_figure
from dynsys.runs import Experiment, SweepSpec, run_sweep, sweep_results

VARIABLE_TASKS = ("addition", "multiplication", "temporal_order_3bit", "random_permutation")
MEMORIZATION = ("memorization_5bit", "memorization_20bit")
GENERALIZE = ("addition", "multiplication")

BASE = dict(
    n_hidden=50,
    batch=20,
    lr=0.01,
    clip=1.0,
    alpha=4.0,
    inits=["smart_tanh"],
    methods=["msgd-cr"],
    seeds=[0, 1, 2, 3, 4],
    success="1pct",
)
PROFILES = {
    "default": dict(
        BASE,
        length_range=[20, 30],
        memorization_lengths=[20],
        generalize_lengths=[25, 60, 150],
        updates=1000,
        eval_every=250,
        eval_sequences=500,
        confirm_sequences=1000,
        checkpoint_every=250,
    ),
    "long": dict(
        BASE,
        length_range=[50, 100],
        memorization_lengths=[50],
        generalize_lengths=[75, 200, 500],
        updates=20_000,
        eval_every=500,
        eval_sequences=1000,
        confirm_sequences=10_000,
        checkpoint_every=500,
    ),
    "paper": dict(
        BASE,
        length_range=[50, 200],
        memorization_lengths=[50, 100, 150, 200],
        generalize_lengths=[125, 250, 500],
        updates=5_000_000,
        eval_every=2000,
        eval_sequences=1000,
        confirm_sequences=10_000,
        checkpoint_every=5000,
    ),
}
_TRAIN_KEYS = (
    "n_hidden",
    "batch",
    "lr",
    "clip",
    "alpha",
    "inits",
    "methods",
    "seeds",
    "success",
    "updates",
    "eval_every",
    "eval_sequences",
    "confirm_sequences",
    "checkpoint_every",
)


def sweep_configs(config) -> tuple[list[str], list[dict]]:
    """One ``train`` sweep config per (task[, memorization length]); returns (labels, configs)."""
    base = {k: config[k] for k in _TRAIN_KEYS}
    labels, cfgs = [], []
    for task in VARIABLE_TASKS:
        cfg = dict(base, task=task, length=list(config["length_range"]))
        if task in GENERALIZE and config["generalize_lengths"]:
            cfg["generalize_lengths"] = list(config["generalize_lengths"])
        labels.append(task)
        cfgs.append(cfg)
    for task in MEMORIZATION:
        for L in config["memorization_lengths"]:
            labels.append(f"{task} L={L}")
            cfgs.append(dict(base, task=task, length=int(L)))
    return labels, cfgs


def compute(config, ctx):
    labels, cfgs = sweep_configs(config)
    spec = SweepSpec("train", tuple(cfgs), ctx.workdir / "runs.sqlite")
    summary = run_sweep(
        spec,
        workers=ctx.jobs,
        scheduler=ctx.scheduler,
        progress=lambda it, **kw: ctx.progress(it, **{**kw, "desc": "other-task ensembles"}),
    )
    if summary.failed:
        raise DynsysError(
            f"{summary.failed} other-task run(s) failed (rerun to retry): "
            + "; ".join(summary.errors.values())
        )
    results = sweep_results(spec, arrays=True)
    S = len(config["seeds"])
    J = len(cfgs)
    arr = {k: np.zeros((J, S)) for k in ("best_error", "final_error", "clip_fraction", "final_rho")}
    arr.update({k: np.zeros((J, S), dtype=np.int64) for k in ("solved_at", "updates_done", "nonfinite")})
    gen_lengths = list(config["generalize_lengths"])
    gen = np.full((len(GENERALIZE), len(gen_lengths), S), np.nan)
    for j, (m, a) in enumerate(results):
        for k in arr:
            arr[k][j] = m[k]
        task = cfgs[j]["task"]
        if task in GENERALIZE and gen_lengths:
            gen[GENERALIZE.index(task)] = a["generalize_error"]
    arr["success_rate"] = (arr["solved_at"] >= 0).mean(axis=-1)
    arr["generalize_error"] = gen
    arr["generalize_lengths"] = np.array(gen_lengths, dtype=np.int64)
    arr["train_length"] = np.array(
        [c["length"] if isinstance(c["length"], list) else [c["length"], c["length"]] for c in cfgs],
        dtype=np.int64,
    )
    metrics = {
        "labels": labels,
        "tasks": [c["task"] for c in cfgs],
        "generalize_tasks": list(GENERALIZE),
        "seeds": list(config["seeds"]),
        "success_rate": arr["success_rate"].tolist(),
        "sweep": {"done": summary.done, "skipped": summary.skipped, "seconds": round(summary.seconds, 2)},
        "profile": ctx.profile,
    }
    return arr, metrics


def _note(meta):
    c = meta["config"]
    lo, hi = c["length_range"]
    return (
        f"profile '{meta['profile']}': MSGD-CR (lr {c['lr']}, clip {c['clip']}, α={c['alpha']}), smart tanh, "
        f"n={c['n_hidden']}, batch {c['batch']}, up to {c['updates']:,} updates per run (paper: up to 5,000,000); "
        f"training lengths drawn in [{lo}, {hi}) (paper: up to 200), memorization at "
        f"L={c['memorization_lengths']}; {len(c['seeds'])} seeds; success = <1% error on "
        f"{c['eval_sequences']:,} fresh sequences, confirmed on {c['confirm_sequences']:,}; generalisation "
        f"on {c['eval_sequences']:,} fresh sequences per length."
        + (
            " Default profile = pipeline check: far too few updates to learn these tasks."
            if meta["profile"] == "default"
            else ""
        )
    )


def draw(arrays, meta, figdir):
    from dynsys.plotting.other_tasks import other_tasks_figure

    m = meta["metrics"]
    fig = other_tasks_figure(
        m["labels"],
        arrays["success_rate"],
        arrays["best_error"],
        arrays["generalize_lengths"],
        arrays["generalize_error"],
        m["generalize_tasks"] if arrays["generalize_lengths"].size else [],
        _note(meta),
        train_hi=int(meta["config"]["length_range"][1]),
    )
    stem = "other_tasks"  # a profile's figures go to its own folder (figures/<profile>/)
    save_figure(fig, figdir / stem)
    return [stem]


def report(arrays, meta):
    m = meta["metrics"]
    S = arrays["best_error"].shape[1]
    lines = [
        _note(meta),
        "",
        "| task | solved | best error % (median, min–max) | final error % (median) | mean clip fraction |",
        "|---|---|---|---|---|",
    ]
    for j, label in enumerate(m["labels"]):
        b = 100 * arrays["best_error"][j]
        lines.append(
            f"| {label} | {int((arrays['solved_at'][j] >= 0).sum())}/{S} | {np.median(b):.1f} "
            f"({b.min():.1f}–{b.max():.1f}) | {100 * np.median(arrays['final_error'][j]):.1f} | "
            f"{arrays['clip_fraction'][j].mean():.3f} |"
        )
    gl = arrays["generalize_lengths"].tolist()
    if gl:
        lines += [
            "",
            "Generalisation (final weights, error % median over seeds, min–max):",
            "",
            "| task | " + " | ".join(f"L={L}" for L in gl) + " |",
            "|---|" + "---|" * len(gl),
        ]
        for i, task in enumerate(m["generalize_tasks"]):
            e = 100 * arrays["generalize_error"][i]
            cells = [f"{np.median(e[g]):.1f} ({e[g].min():.1f}–{e[g].max():.1f})" for g in range(len(gl))]
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Non-finite updates: {int(arrays['nonfinite'].sum())}; sweep: {m['sweep']['done']} run(s) trained, "
        f"{m['sweep']['skipped']} reused from the store.",
    ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="other_tasks",
    title="Other pathological tasks — MSGD-CR success per task; addition/multiplication generalisation",
    checks=(
        "success of MSGD-CR (5 seeds) on addition, multiplication, 3-bit temporal order, random "
        "permutation and noiseless memorization (5-bit, ≈23-bit), and whether addition/multiplication "
        "networks keep their error on longer sequences. Runs through the sweep store (resumable)."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=75,
)
