"""Natural data (paper Table 1): next-step prediction of the Bach chorales, MSGD / MSGD-C / MSGD-CR.

The data are the Bach chorales that ship inside ``music21`` (:func:`dynsys.training.music.load_chorales`:
349 distinct files as binary quarter-note piano rolls of 88 keys, split 213 / 71 / 65 by a hash of
the file name). A 300-unit RNN reads frame ``t`` and predicts frame ``t + 1`` with 88 independent
sigmoid outputs; the cost is the Bernoulli NLL summed over keys and averaged over the sequence's
frames (:mod:`dynsys.training.sequences`), the score the NLL per predicted frame in nats.

The paper's appendix protocol for the music data: sigmoid hidden units, norm clipping at 8 on the
cost averaged over the sequence, initial learning rate 1.0 halved whenever the epoch's training
error rises, the Ω weight of MSGD-CR ``α_t = 1/(2t)``, early stopping on valid. Choices the
appendix leaves open (stated in paper_notes.md §5.3): one sequence per update; ``t`` of ``α_t`` is
the epoch (1-based); the training error that decides the halving is the NLL of the whole training
set after the epoch; the initialization is the paper's ``sigmoid`` one (N(0, 0.01²)). The second
setting, tanh units (smart-tanh initialization), diverges at learning rate 1.0 for every method
(valid NLL 50–250 after three epochs, measured), so it starts at 0.1.

Each (units, seed) is one run of the ``sequences`` sweep runner with the three methods stacked
(same initial weights and sequence order: a paired comparison); the store and the run folders
live in the experiment's work folder, so an interrupted ``dynsys reproduce`` resumes.

Profiles: ``default`` (1 seed, 5 epochs: a couple of minutes; the networks are still learning)
and ``long`` (5 seeds, up to 100 epochs with early stopping, patience 10: the protocol).
"""

from __future__ import annotations

import numpy as np

from dynsys.errors import DynsysError
from dynsys.io import save_figure
from dynsys.runs import Experiment, SweepSpec, config_hash, run_sweep, sweep_results

METHODS = ("msgd", "msgd-c", "msgd-cr")
#: the literature value for context: an RNN on JSB Chorales, Boulanger-Lewandowski et al. (2012)
LITERATURE_NLL = 8.7

BASE = dict(
    n_hidden=300,
    clip=8.0,
    alpha=0.5,
    batch=1,
    halve_on_rise=True,
    settings=[{"units": "sigmoid", "lr": 1.0}, {"units": "tanh", "lr": 0.1}],
    corpus_limit=None,
    max_sequences=None,
)
PROFILES = {
    "default": dict(BASE, seeds=[0], epochs=5, patience=0),
    "long": dict(BASE, seeds=[0, 1, 2, 3, 4], epochs=100, patience=10),
}
#: the per-epoch fields of a run kept in the result, each (R, M, S, E)
CURVES = ("train_nll", "valid_nll", "test_nll", "grad_norm", "clip_fraction", "lr", "rho", "cost")


def _run_config(config, setting, seed) -> dict:
    cfg = {
        "dataset": "chorales",
        "n_hidden": config["n_hidden"],
        "units": setting["units"],
        "lr": setting["lr"],
        "clip": config["clip"],
        "alpha": config["alpha"],
        "batch": config["batch"],
        "halve_on_rise": config["halve_on_rise"],
        "epochs": config["epochs"],
        "patience": config["patience"],
        "methods": list(METHODS),
        "seeds": [int(seed)],
    }
    if config.get("max_sequences"):
        cfg["max_sequences"] = config["max_sequences"]
    if config.get("corpus_limit"):
        cfg["corpus_limit"] = config["corpus_limit"]
    return cfg


def _folder_key(cfg: dict) -> str:
    """A run folder's key: the config without the epoch budget (a larger budget extends the run)."""
    return config_hash({k: v for k, v in cfg.items() if k != "epochs"})


def compute(config, ctx):
    from dynsys.training.music import load_chorales

    units = [s["units"] for s in config["settings"]]
    seeds = list(config["seeds"])
    jobs = [(r, s) for r in range(len(units)) for s in seeds]
    cfgs = {job: _run_config(config, config["settings"][job[0]], job[1]) for job in jobs}
    # the rolls are parsed (or read from their cache) once here, before any worker needs them
    limit = config.get("corpus_limit")
    data = load_chorales(cache=None, _limit=limit) if limit else load_chorales(progress=ctx.progress)
    n_train = min(len(data.train), config.get("max_sequences") or len(data.train))
    spec = SweepSpec(
        "sequences",
        tuple(cfgs[job] for job in jobs),
        ctx.workdir / "runs.sqlite",
        workdirs=tuple(ctx.workdir / f"{units[r]}_s{s}_{_folder_key(cfgs[(r, s)])}" for r, s in jobs),
    )
    summary = run_sweep(spec, workers=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
    if summary.failed:
        raise DynsysError(f"chorales: {summary.failed} run(s) failed: {next(iter(summary.errors.values()))}")
    results = dict(zip(jobs, sweep_results(spec, arrays=True)))
    R, M, S, E = len(units), len(METHODS), len(seeds), int(config["epochs"])
    U = E * int(np.ceil(n_train / config["batch"]))
    arr = {k: np.full((R, M, S, E), np.nan) for k in CURVES}
    arr["update_norm"] = np.full((R, M, S, U), np.nan, dtype=np.float32)
    for k in ("train", "valid", "test"):
        arr[f"best_{k}_nll"] = np.full((R, M, S), np.nan)
    for k in ("best_epoch", "stopped_at", "nonfinite"):
        arr[k] = np.zeros((R, M, S), dtype=np.int64)
    arr["seconds"] = np.zeros((R, S))
    for (r, s), (res, curves) in results.items():
        j = seeds.index(s)
        for k, (meth, _) in enumerate(res["members"]):
            m = METHODS.index(meth)
            for key in CURVES:
                col = curves[key][:, k]
                arr[key][r, m, j, : len(col)] = col
            col = curves["update_norm"][:, k]
            arr["update_norm"][r, m, j, : len(col)] = col[:U]
            for split in ("train", "valid", "test"):
                arr[f"best_{split}_nll"][r, m, j] = res[f"{split}_nll"][k]
            arr["best_epoch"][r, m, j] = res["best_epoch"][k]
            arr["stopped_at"][r, m, j] = res["stopped_at"][k]
            arr["nonfinite"][r, m, j] = res["nonfinite"][k]
        arr["seconds"][r, j] = res["seconds"]
    metrics = {
        "units": units,
        "lrs": [s["lr"] for s in config["settings"]],
        "methods": list(METHODS),
        "seeds": seeds,
        "n_train": n_train,
        "n_valid": len(data.valid),
        "n_test": len(data.test),
        "provenance": {
            k: data.provenance.get(k) for k in ("music21", "files", "frames") if k in data.provenance
        },
        "test_nll": arr["best_test_nll"].tolist(),
    }
    return arr, metrics


def _note(meta) -> str:
    c, m = meta["config"], meta["metrics"]
    settings = ", ".join(f"{u} units lr {lr:g}" for u, lr in zip(m["units"], m["lrs"]))
    stop = f"early stopping, patience {c['patience']}" if c["patience"] else "no early stopping"
    return (
        f"profile '{meta['profile']}': {c['n_hidden']} units ({settings}), {len(m['seeds'])} seed(s), up to "
        f"{c['epochs']} epochs ({stop}) over {m['n_train']} training chorales, one per update; clip "
        f"{c['clip']:g}, α_t = {c['alpha']:g}/t, learning rate halved when the epoch's training NLL rises. "
        "Lines: median over seeds, bands min–max; NLL per predicted frame on valid (solid) and train (dotted)."
    )


def draw(arrays, meta, figdir):
    from dynsys.plotting.music import chorales_figure

    m = meta["metrics"]
    fig = chorales_figure(
        m["units"],
        m["methods"],
        arrays["valid_nll"],
        arrays["train_nll"],
        arrays["update_norm"].astype(np.float64),
        arrays["clip_fraction"],
        [meta["config"]["clip"]] * len(m["units"]),
        _note(meta),
    )
    stem = "chorales"
    save_figure(fig, figdir / stem)
    return [stem]


def _cell(values, digits: int = 3) -> str:
    """One value, or mean ± standard deviation over seeds (``digits`` decimals; one more for a mean of
    integers such as epochs)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return "n/a"
    if v.size == 1:
        return f"{v[0]:.{digits}f}"
    d = max(digits, 1)
    return f"{v.mean():.{d}f} ± {v.std(ddof=1):.{d}f}"


def report(arrays, meta):
    m = meta["metrics"]
    S = len(m["seeds"])
    spread = "mean ± standard deviation over seeds" if S > 1 else "one seed"
    lines = [
        _note(meta),
        "",
        f"NLL per predicted frame (nats) at the early-stopping epoch (lowest valid NLL), {spread}:",
        "",
        "| units | method | train NLL | valid NLL | test NLL | best epoch | clipped updates | non-finite |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, unit in enumerate(m["units"]):
        for j, meth in enumerate(m["methods"]):
            clip = 100 * np.nanmean(arrays["clip_fraction"][r, j])
            lines.append(
                f"| {unit} | {meth.upper()} | {_cell(arrays['best_train_nll'][r, j])} | "
                f"{_cell(arrays['best_valid_nll'][r, j])} | {_cell(arrays['best_test_nll'][r, j])} | "
                f"{_cell(arrays['best_epoch'][r, j], digits=0)} "
                f"| {clip:.1f} % | {int(arrays['nonfinite'][r, j].sum())} |"
            )
    lines += ["", "The paper's claim (Table 1): clipping lowers both train and test error. Paired differences "
              "(same seed, same initial weights and sequence order), negative = lower NLL than MSGD:", ""]  # fmt: skip
    for r, unit in enumerate(m["units"]):
        for j, meth in enumerate(m["methods"][1:], start=1):
            d_train = arrays["best_train_nll"][r, j] - arrays["best_train_nll"][r, 0]
            d_test = arrays["best_test_nll"][r, j] - arrays["best_test_nll"][r, 0]
            both = int(np.sum((d_train < 0) & (d_test < 0)))
            lines.append(
                f"- {unit}, {meth.upper()} − MSGD: train {_cell(d_train)}, test {_cell(d_test)}; "
                f"lower on both in {both} of {S} seed(s)"
            )
    best = np.nanmin(arrays["best_test_nll"])
    lines += [
        "",
        f"Context: the lowest test NLL here is {best:.3f}; an RNN on JSB Chorales in Boulanger-Lewandowski "
        f"et al. (2012) reaches about {LITERATURE_NLL} (their split and preprocessing, so only a scale). "
        f"Training time per run: {_cell(arrays['seconds'].ravel())} s.",
    ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="chorales",
    title="Table 1 on natural data — Bach chorales: NLL per frame of MSGD / MSGD-C / MSGD-CR",
    checks=(
        "the paper's natural-data protocol (300 units, clip 8, lr 1.0 halved on a rise, α_t = 1/(2t), early "
        "stopping) on the music21 Bach chorales: train / valid / test NLL per frame, learning curves, gradient "
        "norms and clip rates. Needs music21 (`pip install 'dynsys[music]'`); resumable through its work folder."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=75,
    requires=("music21",),
    extra="music",
)
