"""Training telemetry: gradient-norm spikes, clip events, ρ(W_rec) and λ₁(W_rec) during training.

One smart-tanh network (n = 50) on the temporal-order task, trained three ways from the same
initial weights and the same minibatches (MSGD, MSGD-C, MSGD-CR; lr 0.01, threshold 1, α = 4).
Every update records the gradient norm before clipping and whether it was clipped; every
evaluation records ρ(W_rec) (spectral radius), λ₁(W_rec) (largest singular value; eq. 6–7 need
λ₁ > 1/γ = 1 for explosions), Ω and the error rate. The authors report for their reference run
ρ wandering between ~1.0 and 2.3 and gradient-norm spikes up to ~776; this figure shows what our
runs do under the profile's budget (resumable through the work folder).
"""

from __future__ import annotations

import numpy as np

from dynsys.io import save_figure
from dynsys.runs import Experiment
from dynsys.training import TrainConfig, train

METHODS = ("msgd", "msgd-c", "msgd-cr")
BASE = dict(task="temporal_order", length=50, init="smart_tanh", seed=0, lr=0.01, clip=1.0, alpha=4.0)
PROFILES = {
    "default": dict(BASE, updates=1500, eval_every=100, eval_sequences=500),
    "long": dict(BASE, updates=50_000, eval_every=1000, eval_sequences=1000),
    "paper": dict(BASE, updates=500_000, eval_every=5000, eval_sequences=10_000),
}


def compute(config, ctx):
    cfg = TrainConfig(
        task=config["task"],
        length=config["length"],
        inits=(config["init"],),
        methods=METHODS,
        seeds=(config["seed"],),
        lr=config["lr"],
        clip=config["clip"],
        alpha=config["alpha"],
        updates=config["updates"],
        eval_every=config["eval_every"],
        eval_sequences=config["eval_sequences"],
        confirm_sequences=0,
        stop_on_success=False,
        record_updates=True,
        checkpoint_every=config["eval_every"],
    )
    h = train(cfg, ctx.workdir / "run")
    arrays = {
        "eval_updates": h.eval_updates,
        "error": h.error,
        "rho": h.rho,
        "lambda1": h.lambda1,
        "omega": h.omega,
        "grad_norm": h.grad_norm,
        "clip_fraction": h.clip_fraction,
        "update_norm": h.update_norm,
        "update_clipped": np.nan_to_num(h.update_clipped).astype(np.int8),
        "update_loss": h.update_loss,
    }
    metrics = {"methods": list(METHODS), "nonfinite": h.nonfinite_count.tolist()}
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting import COLORS, new_figure
    from dynsys.plotting.training import METHOD_LABELS, plot_gradient_norms, plot_spectra

    methods = meta["metrics"]["methods"]
    c = meta["config"]
    fig, axes = new_figure(3, len(methods), figsize=(4.0 * len(methods), 8.0), sharex=True, squeeze=False)
    for j, m in enumerate(methods):
        clip = c["clip"] if m != "msgd" else None
        plot_gradient_norms(
            axes[0, j], arrays["update_norm"][:, j], arrays["update_clipped"][:, j], clip, color=COLORS.get(m)
        )
        axes[0, j].set_title(METHOD_LABELS[m])
        if axes[0, j].get_legend_handles_labels()[0]:
            axes[0, j].legend(loc="upper left", fontsize=7)
        plot_spectra(
            axes[1, j],
            arrays["eval_updates"],
            arrays["rho"][:, j],
            arrays["lambda1"][:, j],
            color=COLORS.get(m),
        )
        axes[1, j].axhline(1.0, color="k", lw=0.7, ls=":")
        axes[1, j].legend(loc="upper left", fontsize=7)
        ax = axes[2, j]
        lines = ax.plot(
            arrays["eval_updates"], 100 * arrays["error"][:, j], color=COLORS.get(m), label="test error (%)"
        )
        ax.set_ylabel("test error (%)")
        ax.set_xlabel("update")
        if m == "msgd-cr":
            ax2 = ax.twinx()
            lines += ax2.plot(
                arrays["eval_updates"],
                arrays["omega"][:, j],
                color="k",
                lw=0.8,
                ls="--",
                label="Ω (right axis)",
            )
            ax2.set_ylabel("Ω (mean since last eval)")
            ax2.spines["right"].set_visible(True)
            ax2.grid(False)
            ax.legend(handles=lines, loc="upper right", fontsize=7)
        for a in axes[:2, j]:
            a.set_xlabel("")
    fig.suptitle(
        f"Training telemetry: smart tanh, temporal order L={c['length']}, "
        f"{c['updates']:,} updates ({meta['profile']} profile)",
        fontsize=10,
    )
    stem = "training_telemetry"  # a profile's figures go to its own folder (figures/<profile>/)
    save_figure(fig, figdir / stem)
    return [stem]


def report(arrays, meta):
    lines = [
        "| method | max ‖g‖ | updates with ‖g‖ > 1 | clipped | ρ range | λ₁ range | final error |",
        "|---|---|---|---|---|---|---|",
    ]
    for j, m in enumerate(meta["metrics"]["methods"]):
        g = arrays["update_norm"][:, j]
        lines.append(
            f"| {m} | {np.nanmax(g):.3g} | {int(np.sum(g > 1))} | {int(arrays['update_clipped'][:, j].sum())} | "
            f"{np.nanmin(arrays['rho'][:, j]):.3f}–{np.nanmax(arrays['rho'][:, j]):.3f} | "
            f"{np.nanmin(arrays['lambda1'][:, j]):.3f}–{np.nanmax(arrays['lambda1'][:, j]):.3f} | "
            f"{100 * arrays['error'][-1, j]:.1f} % |"
        )
    lines.append(f"\nNon-finite updates: {meta['metrics']['nonfinite']}.")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="training_telemetry",
    title="Training telemetry — gradient-norm spikes, clipping, ρ(W_rec) and λ₁(W_rec) over training",
    checks="per-update gradient norms before clipping and clip events, spectral radius and largest singular "
    "value of W_rec over training for MSGD / MSGD-C / MSGD-CR from identical starts.",
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=71,
)
