"""Modern remedies (issue 14, the seed talk's §4): the paper's tanh RNN with MSGD / MSGD-C / MSGD-CR
against the cells that replaced it — IRNN, orthogonal-init tanh RNN, residual RNN, LN-RNN, GRU and
LSTM — on temporal order and addition, success rate (and updates to success) against length.

Every cell trains on the same protocol: n = 50 hidden units, minibatch 20, plain SGD at lr 0.01,
norm clipping at 1 (MSGD-C / -CR), α = 4 (MSGD-CR), the same seeds (so the same data stream per
seed), the same update budget and the paper's success rule (< 1 % error on fresh sequences,
confirmed on a larger fresh set). The non-gated modern variants (IRNN, orthogonal, residual, LN)
are given the paper's clipping (MSGD-C) only; GRU and LSTM train with and without clipping
(MSGD and MSGD-C), which is the question §4 asks: does gating remove the need for clipping?
MSGD-CR is the eq. 2 RNN's only (:mod:`dynsys.training.cells` says why).

One sweep run is one ensemble: one cell and initialization (a *variant*), its methods × seeds, one
task, one length. The runs go through :func:`dynsys.runs.run_sweep` with a resumable SQLite store
in the experiment's work folder; each run checkpoints into its own folder, named without the
budget (``_run_key``), so an interrupted ``dynsys reproduce`` resumes and a larger ``updates``
extends the finished runs instead of starting over.

The mechanism panel: for every variant (its MSGD-C member of the first seed; the tanh RNN also
its MSGD-CR member), ``‖∂x_T/∂x_k‖₂`` against ``T − k`` on a batch of task sequences at the
shortest length (median over the batch), with the initial weights (seeded as the trainer seeds
them) and with the trained ones (read from the run's checkpoint). The state is the map's own:
the RNN's pre-activation, the LSTM's ``[h, c]``. Lags run ``0 … T−1`` (``k ≥ 1``: ``x_0 = 0`` is
where ReLU's derivative is taken as 0, which would zero every IRNN product through ``x_0``).

Profiles: ``default`` checks the pipeline in about three minutes (length 50 only, 2 seeds, 500
updates: far too few to learn either task, and the figure says so); ``long`` (lengths 50, 100,
200, 5 seeds, 20,000 updates) runs for hours and is committed with its store and checkpoints.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dynsys.errors import DynsysError
from dynsys.gradients import final_jacobian_norms
from dynsys.io import load_checkpoint, save_figure
from dynsys.runs import Experiment, SweepSpec, config_hash, run_sweep, sweep_results
from dynsys.training import TrainConfig, get_task
from dynsys.training.cells import build_map, cell_activation, cell_weight_names, init_weights


class Variant(NamedTuple):
    """One cell with one initialization, and the methods it trains with."""

    key: str  # folder names
    label: str  # figure and report
    cell: str
    init: str
    methods: tuple[str, ...]


VARIANTS = (
    Variant("tanh_rnn", "tanh RNN", "rnn", "smart_tanh", ("msgd", "msgd-c", "msgd-cr")),
    Variant("irnn", "IRNN", "rnn", "irnn", ("msgd-c",)),
    Variant("orthogonal_rnn", "orthogonal RNN", "rnn", "orthogonal", ("msgd-c",)),
    Variant("residual_rnn", "residual RNN", "residual", "smart_tanh", ("msgd-c",)),
    Variant("ln_rnn", "LN-RNN", "ln", "smart_tanh", ("msgd-c",)),
    Variant("gru", "GRU", "gru", "pytorch", ("msgd", "msgd-c")),
    Variant("lstm", "LSTM", "lstm", "forget_bias", ("msgd", "msgd-c")),
)
#: the rows of the table and the curves of the top row: every (variant, method)
ROWS = tuple((v, m) for v in VARIANTS for m in v.methods)
#: the trained members of the mechanism panel: each variant's MSGD-C member, and the paper's MSGD-CR
CURVES = tuple((v, "msgd-c") for v in VARIANTS) + ((VARIANTS[0], "msgd-cr"),)

BASE = dict(
    tasks=["temporal_order", "addition"],
    n_hidden=50,
    batch=20,
    lr=0.01,
    clip=1.0,
    alpha=4.0,
    success="1pct",
    jacobian_batch=20,
)
PROFILES = {
    "default": dict(
        BASE,
        lengths=[50],
        seeds=[0, 1],
        updates=500,
        eval_every=250,
        eval_sequences=200,
        confirm_sequences=1000,
        checkpoint_every=250,
    ),
    "long": dict(
        BASE,
        lengths=[50, 100, 200],
        seeds=[0, 1, 2, 3, 4],
        updates=20_000,
        eval_every=500,
        eval_sequences=1000,
        confirm_sequences=10_000,
        checkpoint_every=500,
    ),
}

_TRAIN_KEYS = (
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
#: per-member results of the train runner copied into the arrays (float, then int)
_FLOAT_KEYS = ("best_error", "final_error", "clip_fraction", "max_grad_norm")
_INT_KEYS = ("solved_at", "zero_error_at", "updates_done", "nonfinite")


def _train_config(config, variant: Variant, task: str, length: int) -> TrainConfig:
    return TrainConfig(
        **{k: config[k] for k in _TRAIN_KEYS},
        task=task,
        length=int(length),
        cell=variant.cell,
        inits=(variant.init,),
        methods=variant.methods,
        seeds=tuple(config["seeds"]),
    )


def _run_key(cfg: TrainConfig) -> str:
    """Folder key: the training config without the budget, so a larger ``updates`` resumes and extends."""
    return config_hash(cfg.resume_dict())


def jobs_of(config) -> list[tuple[Variant, str, int]]:
    """The sweep's runs, ``(variant, task, length)``, shortest length first: a long profile run in
    pieces has every variant at the first length before any at the next (the store keys runs by
    config, so the order never changes which runs are done)."""
    return [(v, t, int(L)) for L in config["lengths"] for v in VARIANTS for t in config["tasks"]]


def mechanism_batches(config) -> list:
    """The task sequences of the mechanism panel, one :class:`~dynsys.training.TaskBatch` per task:
    ``jacobian_batch`` sequences at the shortest length, the same for every variant."""
    L, seed = int(min(config["lengths"])), int(config["seeds"][0])
    return [
        get_task(name).generate(np.random.default_rng([seed, 0x1AC0B, j]), L, int(config["jacobian_batch"]))
        for j, name in enumerate(config["tasks"])
    ]


def _mechanism(config, ctx, results, folders):
    """Median ``‖∂x_T/∂x_k‖₂`` over a batch of sequences at the shortest length, per task:
    ``(init (V, J, Tmax), trained (C, J, Tmax), steps (J,))``, NaN beyond each task's ``T``."""
    tasks = list(config["tasks"])
    L = int(min(config["lengths"]))
    seed = int(config["seeds"][0])
    batches = mechanism_batches(config)
    Tmax = max(b.steps for b in batches)
    init = np.full((len(VARIANTS), len(tasks), Tmax), np.nan)
    trained = np.full((len(CURVES), len(tasks), Tmax), np.nan)
    items = [(j, name) for j, name in enumerate(tasks)]
    for j, name in ctx.progress(items, desc="Jacobian products", total=len(items)):
        task, batch = get_task(name), batches[j]
        for i, v in enumerate(VARIANTS):
            act = cell_activation(v.cell, v.init)
            w = init_weights(
                v.cell,
                v.init,
                config["n_hidden"],
                task.n_in,
                task.n_out,
                rng=np.random.default_rng([seed, 0]),
            )
            init[i, j, : batch.steps] = np.median(
                final_jacobian_norms(build_map(v.cell, w, act), batch.inputs), axis=-1
            )
        for c, (v, method) in enumerate(CURVES):
            params = _trained_params(config, v, method, name, L, seed, results, folders)
            net = build_map(v.cell, params, cell_activation(v.cell, v.init))
            trained[c, j, : batch.steps] = np.median(final_jacobian_norms(net, batch.inputs), axis=-1)
    return init, trained, np.array([b.steps for b in batches])


def _trained_params(config, v, method, task, L, seed, results, folders):
    """The final weights of member ``(v.init, method, seed)`` of run ``(v, task, L)``, from its checkpoint."""
    job = (v.key, task, L)
    cfg = _train_config(config, v, task, L)
    k = cfg.members.index((v.init, method, seed))
    path = folders[job] / "checkpoint.npz"
    if not path.is_file():
        raise DynsysError(f"modern_remedies: no checkpoint {path} for the finished run {job}")
    arrays, _ = load_checkpoint(path)
    done = int(arrays["done"][k])
    if done != results[job]["updates_done"][k]:
        raise DynsysError(
            f"modern_remedies: checkpoint {path} holds {done} updates of member {k}, the store "
            f"{results[job]['updates_done'][k]}: it was extended by another budget; remove the folder "
            "to retrain it"
        )
    return {name: arrays[f"param_{name}"][k] for name in cell_weight_names(v.cell)}


def compute(config, ctx):
    jobs = jobs_of(config)
    keys = [(v.key, t, L) for v, t, L in jobs]
    cfgs = {key: _train_config(config, *job) for key, job in zip(keys, jobs)}
    folders = {key: ctx.workdir / f"{key[0]}_{key[1]}_L{key[2]}_{_run_key(cfgs[key])}" for key in keys}
    # one run of the sweep machinery per (variant, task, length): a process pool (--jobs) or a
    # Dask cluster (--scheduler), recorded in an SQLite store; finished runs are skipped, an
    # interrupted one resumes from its folder (named without the budget: a larger budget extends it)
    spec = SweepSpec(
        "train",
        tuple(cfgs[key].to_dict() for key in keys),
        ctx.workdir / "runs.sqlite",
        workdirs=tuple(folders[key] for key in keys),
    )
    summary = run_sweep(
        spec,
        workers=ctx.jobs,
        scheduler=ctx.scheduler,
        progress=lambda it, **kw: ctx.progress(it, **{**kw, "desc": "modern-remedies ensembles"}),
    )
    if summary.failed:
        raise DynsysError(
            f"modern_remedies: {summary.failed} training run(s) failed (rerun to retry): "
            + "; ".join(summary.errors.values())
        )
    results = dict(zip(keys, sweep_results(spec)))
    tasks, lengths, seeds = list(config["tasks"]), [int(L) for L in config["lengths"]], list(config["seeds"])
    shape = (len(ROWS), len(tasks), len(lengths), len(seeds))
    arr = {k: np.zeros(shape) for k in _FLOAT_KEYS}
    arr.update({k: np.zeros(shape, dtype=np.int64) for k in _INT_KEYS})
    for key, m in results.items():
        vkey, task, L = key
        for k, (_, meth, s) in enumerate(m["members"]):
            r = next(i for i, (v, mm) in enumerate(ROWS) if v.key == vkey and mm == meth)
            idx = (r, tasks.index(task), lengths.index(L), seeds.index(s))
            for name in arr:
                arr[name][idx] = m[name][k]
    arr["success_rate"] = (arr["solved_at"] >= 0).mean(axis=-1)
    arr["lengths"] = np.array(lengths)
    arr["jac_init"], arr["jac_trained"], arr["jac_steps"] = _mechanism(config, ctx, results, folders)
    metrics = {
        "tasks": tasks,
        "seeds": seeds,
        "variants": [v.label for v in VARIANTS],
        "rows": [[v.label, m] for v, m in ROWS],
        "curves": [[v.label, m] for v, m in CURVES],
        "success_rate": arr["success_rate"].tolist(),
        "sweep": {"done": summary.done, "skipped": summary.skipped, "seconds": summary.seconds},
        "profile": ctx.profile,
    }
    return arr, metrics


_METHOD = {"msgd": "MSGD", "msgd-c": "MSGD-C", "msgd-cr": "MSGD-CR"}


def _note(meta):
    c = meta["config"]
    return (
        f"profile '{meta['profile']}': the same budget for every cell, up to {c['updates']:,} updates per "
        f"run; lengths {c['lengths']}, {len(c['seeds'])} seeds; n={c['n_hidden']} hidden units (LSTM state "
        f"[h, c]: 2n), batch {c['batch']}, SGD lr {c['lr']}, clip {c['clip']} (MSGD-C, -CR), α={c['alpha']} "
        f"(MSGD-CR, tanh RNN only); success = <1% error on {c['eval_sequences']:,} fresh sequences, "
        f"confirmed on {c['confirm_sequences']:,}. IRNN, orthogonal, residual and LN-RNN get the paper's "
        "clipping only; GRU and LSTM train with (MSGD-C) and without (MSGD). Bottom: median over "
        f"{c['jacobian_batch']} sequences of length {min(c['lengths'])}, seed {c['seeds'][0]}."
    )


def draw(arrays, meta, figdir):
    from dynsys.plotting.remedies import remedies_figure

    m = meta["metrics"]
    fig = remedies_figure(
        arrays["lengths"],
        arrays["success_rate"],
        m["tasks"],
        [r[0] for r in m["rows"]],
        [r[1] for r in m["rows"]],
        arrays["jac_init"],
        arrays["jac_trained"],
        arrays["jac_steps"],
        m["variants"],
        [c[0] for c in m["curves"]],
        [c[1] for c in m["curves"]],
        _note(meta),
        n_seeds=len(m["seeds"]),
        length=int(np.min(arrays["lengths"])),
    )
    stem = "modern_remedies"  # a profile's figures go to its own folder (figures/<profile>/)
    save_figure(fig, figdir / stem)
    return [stem]


def _cell(solved_at, best_error) -> str:
    """``solved/seeds (median updates to success)``, or the median lowest error when none solved."""
    ok = solved_at >= 0
    if ok.any():
        return f"{int(ok.sum())}/{ok.size} ({int(np.median(solved_at[ok])):,})"
    return f"0/{ok.size} (best err {100 * float(np.median(best_error)):.0f}%)"


def _lag_value(curve, steps):
    """The curve's value at the longest lag ``T − 1`` (its last finite entry)."""
    return float(curve[int(steps) - 1])


def report(arrays, meta):
    m = meta["metrics"]
    tasks, lengths, rows = m["tasks"], arrays["lengths"].tolist(), m["rows"]
    cols = [(j, l) for j in range(len(tasks)) for l in range(len(lengths))]
    solved, best = arrays["solved_at"], arrays["best_error"]
    lines = [
        _note(meta),
        "",
        "Each cell: seeds solved / seeds (median updates to success over the solved seeds; when none "
        "solved, the median lowest error).",
        "",
        "| variant | method | "
        + " | ".join(f"{tasks[j].replace('_', ' ')} L={lengths[l]}" for j, l in cols)
        + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for r, (label, meth) in enumerate(rows):
        cells = [_cell(solved[r, j, l], best[r, j, l]) for j, l in cols]
        lines.append(f"| {label} | {_METHOD.get(meth, meth)} | " + " | ".join(cells) + " |")
    # the mechanism: the product's norm over the longest lag, at initialization and after training
    variants, curves = m["variants"], m["curves"]
    L0 = int(min(lengths))
    lines += [
        "",
        f"‖∂x_T/∂x_1‖₂ (lag T − 1, median over sequences, length {L0}, seed {m['seeds'][0]}):",
        "",
        "| variant | member | " + " | ".join(f"{t.replace('_', ' ')}: init → trained" for t in tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    steps = arrays["jac_steps"]
    for c, (label, meth) in enumerate(curves):
        i = variants.index(label)
        vals = [
            f"{_lag_value(arrays['jac_init'][i, j], steps[j]):.2g} → "
            f"{_lag_value(arrays['jac_trained'][c, j], steps[j]):.2g}"
            for j in range(len(tasks))
        ]
        lines.append(f"| {label} | {_METHOD.get(meth, meth)} | " + " | ".join(vals) + " |")
    clipped = [r for r, (_, meth) in enumerate(rows) if meth != "msgd"]
    lines += [
        "",
        f"Non-finite updates (shrink policy): {int(arrays['nonfinite'].sum())} in total; max gradient norm "
        f"seen {float(np.nanmax(arrays['max_grad_norm'])):.3g}; mean fraction of clipped updates over the "
        f"clipped members: {float(np.nanmean(arrays['clip_fraction'][clipped])):.3f}.",
        "",
        _reading(arrays, meta),
    ]
    return "\n".join(lines)


def _reading(arrays, meta) -> str:
    """A plain reading of the numbers (computed from the arrays)."""
    m = meta["metrics"]
    rows, tasks, lengths = m["rows"], m["tasks"], arrays["lengths"].tolist()
    c = meta["config"]
    S = arrays["solved_at"].shape[-1]
    n_solved = (arrays["solved_at"] >= 0).sum(axis=-1)  # (R, J, L)
    total = n_solved.sum(axis=(1, 2))  # per row
    runs = n_solved.shape[1] * n_solved.shape[2] * S
    name = [f"{lab} {_METHOD.get(meth, meth)}" for lab, meth in rows]
    parts = []
    if not total.any():
        parts.append(
            f"Within the budget of {c['updates']:,} updates no cell solved either task at any length "
            f"(lowest median error {100 * float(np.median(arrays['best_error'], axis=-1).min()):.0f}%): "
            "this profile checks the pipeline, the long profile answers the question."
        )
    else:
        order = np.argsort(-total, kind="stable")
        top = [f"{name[r]} ({int(total[r])}/{runs})" for r in order[:3] if total[r] > 0]
        parts.append(
            f"Seeds solved over all tasks and lengths (of {runs} per row): most by " + ", ".join(top) + "."
        )
        Lmax = len(lengths) - 1
        for j, t in enumerate(tasks):
            at = n_solved[:, j, Lmax]
            if at.any():
                best = [name[r] for r in np.flatnonzero(at == at.max())]
                parts.append(
                    f"At the longest length ({lengths[Lmax]}) of {t.replace('_', ' ')}: "
                    f"{', '.join(best)} solved {int(at.max())}/{S}."
                )
            else:
                parts.append(f"At length {lengths[Lmax]} no cell solved {t.replace('_', ' ')}.")
    for label in ("GRU", "LSTM", "tanh RNN"):
        r0 = [r for r, (lab, meth) in enumerate(rows) if lab == label and meth == "msgd"]
        r1 = [r for r, (lab, meth) in enumerate(rows) if lab == label and meth == "msgd-c"]
        if r0 and r1:
            a, b = int(total[r0[0]]), int(total[r1[0]])
            verdict = (
                "clipping made no difference to the seeds solved"
                if a == b
                else ("clipping solved more seeds" if b > a else "clipping solved fewer seeds")
            )
            parts.append(f"{label}: {a}/{runs} solved without clipping, {b}/{runs} with ({verdict}).")
    # the mechanism: which products vanish, which are kept, which explode at the longest lag
    steps = arrays["jac_steps"]
    variants = m["variants"]
    kinds = {"vanishing (< 1e-3)": [], "kept (1e-3 … 1e3)": [], "exploding (> 1e3)": []}
    for i, lab in enumerate(variants):
        v = np.median([_lag_value(arrays["jac_init"][i, j], steps[j]) for j in range(len(tasks))])
        key = "vanishing (< 1e-3)" if v < 1e-3 else ("exploding (> 1e3)" if v > 1e3 else "kept (1e-3 … 1e3)")
        kinds[key].append(lab)
    parts.append(
        "At initialization ‖∂x_T/∂x_1‖ is "
        + "; ".join(f"{k} for {', '.join(v)}" for k, v in kinds.items() if v)
        + " — the gradient paths each cell starts training with."
    )
    moved = []
    for c, (lab, meth) in enumerate(m["curves"]):
        i = variants.index(lab)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.median(
                [
                    _lag_value(arrays["jac_trained"][c, j], steps[j])
                    / _lag_value(arrays["jac_init"][i, j], steps[j])
                    for j in range(len(tasks))
                ]
            )
        if np.isfinite(ratio) and ratio > 0 and not 0.1 <= ratio <= 10:
            moved.append(f"{lab} {_METHOD.get(meth, meth)} (×{ratio:.2g})")
    parts.append(
        "Training changed it by more than a factor of 10 (median over the tasks) for "
        + (", ".join(moved) if moved else "no member")
        + "."
    )
    return " ".join(parts)


EXPERIMENT = Experiment(
    name="modern_remedies",
    title="Modern remedies — tanh RNN (MSGD / -C / -CR) vs IRNN, orthogonal, residual, LN-RNN, GRU, LSTM",
    checks=(
        "success rate (and updates to success) on temporal order and addition against length for the "
        "paper's RNN and the cells that replaced it, on one budget and one set of seeds; gated cells "
        "with and without clipping; ‖∂x_T/∂x_k‖ against T − k at initialization and after training "
        "(the mechanism). Resumable through its work folder (sweep store + checkpoints)."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=80,
)
