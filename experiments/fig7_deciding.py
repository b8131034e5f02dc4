"""Fig. 7 at a deciding budget: do the methods separate when they are given 10× the updates?

The long profile of ``fig7_success_rate`` stops at 20,000 updates, where most runs at L = 100
have not solved the task under any method, so its counts cannot tell the methods apart. Here the
two tanh initializations (basic, smart) at L = 50 and 100 get up to 200,000 updates per run
(the authors' code allows 5,000,000; its shipped log solved at 336k), 5 seeds, MSGD, MSGD-C and
MSGD-CR with α = 4 (ICML text) and α = 2 (authors' code), both success rules (< 1 % wrong and
0 wrong, on the same fresh sequences, confirmed on 10,000), checks every 20 updates as in the
code. Runs stop at 0 wrong.

What it reports: the success counts at 20,000 and at 200,000 updates with 95 % Clopper–Pearson
intervals, the distribution of the updates to success (fraction of seeds solved by each update),
the differences the seeds decide (Fisher exact), and the per-check miss risk of the cadence.
Through the sweep store and one checkpoint folder per ensemble: the long profile takes several
hours on 2 cores and can be run in slices (stop it any time; rerun resumes).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from dynsys.analysis.outcomes import RULE_LABELS, RULES, variant_label
from dynsys.io import save_figure
from dynsys.runs import Experiment
from dynsys.runs.success_study import claim_lines, decided_differences, run_study, study_tables


def _fig7():
    """The Fig. 7 experiment module (its note on the check cadence is shared)."""
    spec = importlib.util.spec_from_file_location(
        "_fig7_for_deciding", Path(__file__).with_name("fig7_success_rate.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_FIG7 = _fig7()
#: the long profile of Fig. 7 (its protocol, evaluation and check cadence), on the deciding grid
BASE = dict(_FIG7.PROFILES["long"], inits=["basic_tanh", "smart_tanh"], alphas=[4.0, 2.0])
PROFILES = {
    "default": dict(
        BASE,
        lengths=[20],
        updates=600,
        short_budget=300,
        eval_every=150,
        eval_sequences=500,
        confirm_sequences=2000,
        checkpoint_every=150,
    ),
    "long": dict(BASE, lengths=[50, 100], updates=200_000, short_budget=20_000),
}


def compute(config, ctx):
    study = {k: v for k, v in config.items() if k != "short_budget"}
    return run_study(study, ctx)


def _note(meta) -> str:
    c = meta["config"]
    return (
        f"profile '{meta['profile']}': up to {c['updates']:,} updates per run (open markers: within "
        f"{c['short_budget']:,}), lengths {c['lengths']}, {len(c['seeds'])} seeds, n={c['n_hidden']}, batch "
        f"{c['batch']}, lr {c['lr']}, clip {c['clip']}, MSGD-CR α = {' and '.join(f'{a:g}' for a in c['alphas'])}; "
        f"both rules on the same fresh sequences, confirmed on {c['confirm_sequences']:,}, checked every "
        f"{c['check_every']} updates; runs stop at 0 wrong."
    )


def draw(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.training import plot_success_with_intervals, updates_to_success_figure

    m, c = meta["metrics"], meta["config"]
    inits, keys, lengths = m["inits"], m["variants"], arrays["lengths"]
    fig, axes = new_figure(2, len(inits), figsize=(3.8 * len(inits), 5.6), sharex=True, squeeze=False)
    for j, init in enumerate(inits):
        for r, rule in enumerate(RULES):
            ax = axes[r, j]
            at = arrays[f"reached_{rule}_at"][j]
            plot_success_with_intervals(ax, lengths, at, keys, m["budget"])
            plot_success_with_intervals(ax, lengths, at, keys, c["short_budget"], hollow=True)
            ax.set_ylabel(f"success, {RULE_LABELS[rule]}" if j == 0 else "")
            ax.set_xticks(lengths)
            if r == 0:
                ax.set_title(init.replace("_", " "))
                ax.set_xlabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles[: len(keys)], labels[: len(keys)], loc="best", fontsize=7)
    fig.suptitle(
        f"Temporal order at a deciding budget: success within {m['budget']:,} (filled) and "
        f"{c['short_budget']:,} updates (open), 95 % intervals",
        fontsize=10,
    )
    fig.text(0.5, -0.01, _note(meta), ha="center", va="top", fontsize=7, wrap=True)
    save_figure(fig, figdir / "fig7_deciding")
    fig2 = updates_to_success_figure(arrays, m, _note(meta))
    save_figure(fig2, figdir / "fig7_updates_to_success")
    return ["fig7_deciding", "fig7_updates_to_success"]


def _quantiles(arrays, metrics) -> list[str]:
    """Updates to success per point: the solved seeds' updates, sorted (the distribution itself)."""
    lines = [
        "| init | L | method | 0 wrong: updates to success of the solved seeds | < 1 % wrong: same |",
        "|---|---|---|---|---|",
    ]
    for i, init in enumerate(metrics["inits"]):
        for l, L in enumerate(arrays["lengths"].tolist()):
            for v, key in enumerate(metrics["variants"]):
                cells = []
                for r in ("zero", "1pct"):
                    at = np.sort(arrays[f"reached_{r}_at"][i, v, l])
                    at = at[at >= 0]
                    cells.append(", ".join(f"{int(a):,}" for a in at) if at.size else "—")
                lines.append(f"| {init} | {L} | {variant_label(key)} | " + " | ".join(cells) + " |")
    return lines


def report(arrays, meta):
    m, c = meta["metrics"], meta["config"]
    lines = [_note(meta), ""]
    for budget in (c["short_budget"], m["budget"]):
        lines += study_tables(arrays, m, budget)
        decided = decided_differences(arrays, m, budget)
        lines += [
            f"Differences the seeds decide within {budget:,} updates (Fisher exact, p < 0.05): "
            + ("; ".join(decided) if decided else "none."),
            "",
        ]
    for budget in (c["short_budget"], m["budget"]):
        lines += claim_lines(arrays, m, budget)
    lines += ["", "Updates to success (each solved seed):", "", *_quantiles(arrays, m), ""]
    lines += ["Check cadence (screen, then confirm):", *_FIG7.screen_risk_lines(arrays, c)]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="fig7_deciding",
    title="Fig. 7 at a deciding budget — tanh initializations, L = 50 and 100, up to 200,000 updates, both rules",
    checks=(
        "whether MSGD, MSGD-C and MSGD-CR (α = 4 and 2) separate given 10× the long profile's budget: success "
        "counts with 95 % intervals under both rules, the distribution of updates to success, the differences 5 "
        "seeds decide. Resumable through its work folder."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=71,
)
