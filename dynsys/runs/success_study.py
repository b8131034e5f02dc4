"""The success-rate study behind paper Fig. 7: ensembles per (initialization, length, α), both
success rules, their intervals and the updates to success.

One study is a grid of ensembles trained through the sweep runner (``train``): per
initialization and length, one ensemble of the three methods (MSGD, MSGD-C, MSGD-CR with the
first α of ``alphas``) × seeds, and one MSGD-CR ensemble per further α (the same seeds, so the
same initial weights and data streams: a paired comparison). Every member records the first
update at which each success rule passed (:mod:`dynsys.training.evaluation`: < 1 % wrong, the
paper's text; 0 wrong, the authors' code; each confirmed on ``confirm_sequences`` fresh
sequences), so one run of budget ``B`` answers every budget up to ``B``.

:func:`run_study` returns arrays over (init, variant, length, seed); :func:`study_tables` the
markdown tables (counts with Clopper–Pearson intervals, median updates to success) and
:func:`decided_differences` the pairs of variants whose success counts differ at p < 0.05 (Fisher
exact): what 5 seeds can decide.
"""

from __future__ import annotations

import numpy as np

from ..analysis.outcomes import RULE_LABELS, RULES, difference_p, success_interval, variant_label
from ..errors import DynsysError
from .store import config_hash
from .sweep import SweepSpec, run_sweep, sweep_results

__all__ = [
    "METHODS",
    "claim_lines",
    "decided_differences",
    "run_study",
    "study_tables",
    "train_configs",
    "variants",
]

METHODS = ("msgd", "msgd-c", "msgd-cr")
#: per-member integer results
_INT_KEYS = (
    "reached_1pct_at",
    "reached_zero_at",
    "solved_at",
    "updates_done",
    "nonfinite",
    "screens",
    "confirms",
)
#: per-member real results (NaN where undefined)
_REAL_KEYS = (
    "best_error",
    "final_error",
    "clip_fraction",
    "max_grad_norm",
    "screen_miss_1pct",
    "screen_miss_zero",
    "pass_error_1pct",
    "pass_error_zero",
)
#: the TrainConfig fields a study config passes through
_TRAIN_KEYS = (
    "task",
    "n_hidden",
    "batch",
    "lr",
    "clip",
    "updates",
    "eval_every",
    "eval_sequences",
    "confirm_sequences",
    "checkpoint_every",
    "check_every",
    "check_sequences",
    "success",
)


def variants(alphas) -> list[tuple[str, str, float]]:
    """``(key, method, α)`` of every trained variant: the three methods with ``alphas[0]``, then
    MSGD-CR with each further α (key ``msgd-cr-a<α>``)."""
    alphas = [float(a) for a in alphas]
    if not alphas:
        raise DynsysError("alphas must name at least one α")
    out = [(m, m, alphas[0]) for m in METHODS]
    out += [(f"msgd-cr-a{a:g}", "msgd-cr", a) for a in alphas[1:]]
    return out


def train_configs(config) -> dict:
    """The sweep's configs: ``{(init, length, α): config dict}`` (TrainConfig fields plus the
    runner's ``screen_risk``), α-ensembles after the first holding MSGD-CR only."""
    from ..training import TrainConfig

    alphas = [float(a) for a in config["alphas"]]
    out = {}
    for init in config["inits"]:
        for L in config["lengths"]:
            for j, a in enumerate(alphas):
                cfg = TrainConfig(
                    **{k: config[k] for k in _TRAIN_KEYS if k in config},
                    alpha=a,
                    length=int(L),
                    inits=(init,),
                    methods=METHODS if j == 0 else ("msgd-cr",),
                    seeds=tuple(config["seeds"]),
                )
                d = cfg.to_dict()
                if config.get("screen_risk"):
                    d["screen_risk"] = dict(config["screen_risk"])
                out[(init, int(L), a)] = d
    return out


def _folder(job, d) -> str:
    """A run's folder: the job and a hash of its config without the budget (so that a larger
    ``updates`` resumes and extends it)."""
    from ..training import TrainConfig

    init, L, a = job
    train = TrainConfig.from_dict(
        {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "screen_risk"}
    )
    key = config_hash(train.resume_dict())
    return f"{init}_L{L}_a{a:g}_{key}"


def run_study(config, ctx) -> tuple[dict, dict]:
    """Train (or reuse from the store) every ensemble of ``config`` and gather the results.

    Returns
    -------
    arrays : dict
        ``reached_1pct_at``, ``reached_zero_at``, ``solved_at``, ``updates_done``, ... of shape
        (I, V, L, S); ``success_<rule>`` (I, V, L) at the budget; ``lengths``; ``alphas``.
    metrics : dict
        ``inits``, ``variants``, ``seeds``, ``success_<rule>`` as lists, ``budget``.
    """
    cfgs = train_configs(config)
    jobs = list(cfgs)
    spec = SweepSpec(
        "train",
        tuple(cfgs[j] for j in jobs),
        ctx.workdir / "runs.sqlite",
        workdirs=tuple(ctx.workdir / _folder(j, cfgs[j]) for j in jobs),
    )
    summary = run_sweep(spec, workers=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
    if summary.failed:
        raise DynsysError(f"{summary.failed} training run(s) failed: {next(iter(summary.errors.values()))}")
    results = dict(zip(jobs, sweep_results(spec)))
    inits, lengths, seeds = list(config["inits"]), [int(L) for L in config["lengths"]], list(config["seeds"])
    var = variants(config["alphas"])
    shape = (len(inits), len(var), len(lengths), len(seeds))
    arr = {k: np.full(shape, -1, dtype=np.int64) for k in _INT_KEYS}
    arr.update({k: np.full(shape, np.nan) for k in _REAL_KEYS})
    keys = [v[0] for v in var]
    for (init, L, a), m in results.items():
        for k, (_, meth, s) in enumerate(m["members"]):
            key = meth if a == var[0][2] and meth in METHODS else f"msgd-cr-a{a:g}"
            idx = (inits.index(init), keys.index(key), lengths.index(L), seeds.index(s))
            for name in _INT_KEYS + _REAL_KEYS:
                v = m.get(name, [None] * len(m["members"]))[k]
                arr[name][idx] = np.nan if v is None and name in _REAL_KEYS else (-1 if v is None else v)
    budget = int(config["updates"])
    for r in RULES:
        arr[f"success_{r}"] = (arr[f"reached_{r}_at"] >= 0).mean(axis=-1)
    arr["lengths"] = np.array(lengths)
    arr["alphas"] = np.array([float(a) for a in config["alphas"]])
    metrics = {
        "inits": inits,
        "variants": keys,
        "seeds": seeds,
        "budget": budget,
        **{f"success_{r}": arr[f"success_{r}"].tolist() for r in RULES},
        "profile": ctx.profile,
    }
    return arr, metrics


def _success_cell(at, budget: int) -> str:
    """``k/n [lo–hi] (median updates)`` of one point's seeds."""
    ok = (at >= 0) & (at <= budget)
    k, n = int(ok.sum()), ok.size
    lo, hi = success_interval(k, n)
    med = f", median {int(np.median(at[ok])):,}" if k else ""
    return f"{k}/{n} [{float(lo):.2f}–{float(hi):.2f}]{med}"


def study_tables(arrays, metrics, budget: int | None = None) -> list[str]:
    """One markdown table per rule: rows (init, variant), columns lengths; each cell the seeds
    solved within ``budget`` (default: the study's), the 95 % Clopper–Pearson interval of the
    rate and the median update of success."""
    budget = metrics["budget"] if budget is None else budget
    lengths = arrays["lengths"].tolist()
    lines = []
    for r in RULES:
        lines += [
            f"**{RULE_LABELS[r]}**, within {budget:,} updates — seeds solved [95 % interval of the rate], median update of success:",
            "",
            "| init | method | " + " | ".join(f"L={L}" for L in lengths) + " |",
            "|---|---|" + "---|" * len(lengths),
        ]
        for i, init in enumerate(metrics["inits"]):
            for j, key in enumerate(metrics["variants"]):
                cells = [
                    _success_cell(arrays[f"reached_{r}_at"][i, j, l], budget) for l in range(len(lengths))
                ]
                lines.append(f"| {init} | {variant_label(key)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def decided_differences(arrays, metrics, budget: int | None = None, level: float = 0.05) -> list[str]:
    """The pairs of variants whose success counts differ at Fisher p < ``level``, per rule,
    initialization and length (one line each), or a line saying none does."""
    budget = metrics["budget"] if budget is None else budget
    out = []
    for r in RULES:
        at = arrays[f"reached_{r}_at"]
        ok = (at >= 0) & (at <= budget)
        for i, init in enumerate(metrics["inits"]):
            for l, L in enumerate(arrays["lengths"].tolist()):
                keys = metrics["variants"]
                for a in range(len(keys)):
                    for b in range(a + 1, len(keys)):
                        ka, kb = int(ok[i, a, l].sum()), int(ok[i, b, l].sum())
                        n = ok.shape[-1]
                        p = difference_p(ka, n, kb, n)
                        if p < level:
                            out.append(
                                f"{RULE_LABELS[r]}, {init}, L={L}: {variant_label(keys[a])} {ka}/{n} vs "
                                f"{variant_label(keys[b])} {kb}/{n} (Fisher p = {p:.3f})"
                            )
    return out


def claim_lines(arrays, metrics, budget: int | None = None) -> list[str]:
    """The paper's Fig. 7 claims checked on the counts, per rule, within ``budget``.

    - "MSGD-CR is best": at how many (initialization, length) points MSGD-CR (first α) solves at
      least as many seeds as each other method, strictly more than all of them, and where the
      difference from MSGD is decided (Fisher p < 0.05);
    - "clipping helps, more so for long sequences": MSGD-C against MSGD, per length;
    - the other α against the first: seeds solved summed over the points.
    """
    budget = metrics["budget"] if budget is None else budget
    keys = metrics["variants"]
    if not all(m in keys for m in METHODS):
        return []
    iM, iC, iR = (keys.index(m) for m in METHODS)
    lengths = arrays["lengths"].tolist()
    out = []
    for r in RULES:
        at = arrays[f"reached_{r}_at"]
        k = ((at >= 0) & (at <= budget)).sum(axis=-1)  # (I, V, L)
        n = at.shape[-1]
        pts = [(i, l) for i in range(k.shape[0]) for l in range(k.shape[2])]
        live = [(i, l) for i, l in pts if k[i, :, l].max() > 0]  # points where anything solved
        ge = [(i, l) for i, l in live if k[i, iR, l] >= k[i, iM, l] and k[i, iR, l] >= k[i, iC, l]]
        gt = [(i, l) for i, l in live if k[i, iR, l] > k[i, iM, l] and k[i, iR, l] > k[i, iC, l]]
        dec = [
            (i, l)
            for i, l in live
            if difference_p(int(k[i, iR, l]), n, int(k[i, iM, l]), n) < 0.05 and k[i, iR, l] > k[i, iM, l]
        ]

        def names(sel):
            return ", ".join(f"{metrics['inits'][i]} L={lengths[l]}" for i, l in sel) or "none"

        out.append(
            f"- {RULE_LABELS[r]}, within {budget:,} updates: some method solved a seed at {len(live)} of {len(pts)} "
            f"(initialization, length) points. MSGD-CR solved at least as many seeds as MSGD and MSGD-C at "
            f"{len(ge)} of them, strictly more than both at {len(gt)} ({names(gt)}); MSGD-CR over MSGD is "
            f"decided (Fisher p < 0.05) at {len(dec)} ({names(dec)})."
        )
        per_L = []
        for l, L in enumerate(lengths):
            d = int(k[:, iC, l].sum() - k[:, iM, l].sum())
            per_L.append(f"L={L}: {int(k[:, iC, l].sum())} vs {int(k[:, iM, l].sum())} ({d:+d})")
        out.append(f"  Clipping, MSGD-C vs MSGD (seeds solved over the initializations): {'; '.join(per_L)}.")
        for v, key in enumerate(keys):
            if key.startswith("msgd-cr-a"):
                out.append(
                    f"  {variant_label(key)} vs MSGD-CR (α={float(arrays['alphas'][0]):g}): "
                    f"{int(k[:, v].sum())} vs {int(k[:, iR].sum())} seeds solved over all points."
                )
    return out
