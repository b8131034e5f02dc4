"""The 3-bit flip-flop check (Sussillo & Barak 2013): a trained tanh RNN stores 3 bits in 8 attractors.

A small tanh RNN is trained (with :func:`dynsys.training.train`, Adam, norm clipping) to hold the
sign of the last ±1 pulse on each of 3 input channels. With zero input its autonomous map should
then have **8 stable fixed points**, one per memory state, and **saddles** between them (the
basin boundaries the inputs push the state across, paper §2.3). The fixed points are found by
:func:`dynsys.analysis.equilibria.find_fixed_points` from states visited on task sequences; each stable
point is labelled by the sign pattern the readout gives it.
"""

from __future__ import annotations

import numpy as np

from dynsys.io import save_figure
from dynsys.runs import Experiment
from dynsys.training import TrainConfig, get_task, train

BASE = dict(n_hidden=24, length=100, batch=32, lr=0.01, optimizer="adam", clip=1.0, seed=0, n_starts=512)
PROFILES = {
    "default": dict(BASE, updates=4000, eval_every=500),
    "long": dict(BASE, updates=20_000, eval_every=1000),
}


def compute(config, ctx):
    from dynsys.analysis.equilibria import STABILITY_CLASSES, find_fixed_points
    from dynsys.maps import iterate

    cfg = TrainConfig(
        task="flipflop_3bit",
        length=config["length"],
        n_hidden=config["n_hidden"],
        batch=config["batch"],
        updates=config["updates"],
        lr=config["lr"],
        optimizer=config["optimizer"],
        clip=config["clip"],
        inits=("basic_tanh",),
        methods=("msgd-c",),
        seeds=(config["seed"],),
        eval_every=config["eval_every"],
        eval_sequences=500,
        confirm_sequences=0,
        stop_on_success=False,
        checkpoint_every=config["eval_every"],
    )
    h = train(cfg, ctx.workdir / "run")
    rnn = h.member_map(0)
    task = get_task("flipflop_3bit")
    batch = task.generate(np.random.default_rng([config["seed"], 7]), 200, 64)
    traj = iterate(rnn, np.zeros((64, rnn.dim)), inputs=batch.inputs)
    visited = traj.states[1:].reshape(-1, rnn.dim)
    rng = np.random.default_rng(config["seed"])
    starts = visited[rng.choice(len(visited), size=min(config["n_starts"], len(visited)), replace=False)]
    fp = find_fixed_points(rnn, u=np.zeros(3), starts=starts, rng=rng)
    codes = np.array([STABILITY_CLASSES.index(s) for s in fp.stability])
    readout = rnn.readout(fp.states)  # (k, 3) outputs at the fixed points
    # 2-D projection (PCA of the visited hidden states) for the figure
    hv = rnn.hidden(visited)
    mu = hv.mean(axis=0)
    _, _, vt = np.linalg.svd(hv - mu, full_matrices=False)
    pcs = vt[:3]
    stable = codes == 0
    patterns = {tuple(np.sign(r).astype(int)) for r in readout[stable]}
    arrays = {
        "fp_states": fp.states,
        "fp_codes": codes,
        "fp_unstable_dim": fp.unstable_dim,
        "fp_readout": readout,
        "fp_proj": (rnn.hidden(fp.states) - mu) @ pcs.T,
        "traj_proj": (rnn.hidden(traj.states[:, :8]) - mu) @ pcs.T,
        "error": h.error[:, 0],
        "eval_updates": h.eval_updates,
        "residual": fp.residual,
    }
    metrics = {
        "n_stable": int(stable.sum()),
        "n_saddle": int((codes == 1).sum()),
        "n_unstable": int((codes == 2).sum()),
        "distinct_stable_patterns": len(patterns),
        "final_error": float(h.error[-1, 0]),
        "final_loss": float(h.loss[-1, 0]),
    }
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting import COLORS, new_figure

    fig, axes = new_figure(1, 2, figsize=(10, 4.2))
    ax = axes[0]
    tp = arrays["traj_proj"]
    ax.scatter(
        tp[..., 0].ravel(),
        tp[..., 1].ravel(),
        s=1,
        color="0.6",
        alpha=0.4,
        linewidths=0,
        label="visited states",
    )
    p, c = arrays["fp_proj"], arrays["fp_codes"]
    for code, name, mk in ((0, "stable", "o"), (1, "saddle", "x"), (2, "unstable", "s")):
        sel = c == code
        if sel.any():
            ax.scatter(
                p[sel, 0],
                p[sel, 1],
                marker=mk,
                s=36,
                color=COLORS.get(name, "k"),
                label=f"{name} ({int(sel.sum())})",
                zorder=3,
            )
    ax.set_xlabel("PC 1 of σ(x)")
    ax.set_ylabel("PC 2 of σ(x)")
    ax.set_title("fixed points of the trained network (u = 0)")
    leg = ax.legend(loc="best")
    leg.legend_handles[0].set_sizes([12])  # the 1-pt dots of the visited states, visible in the legend
    leg.legend_handles[0].set_alpha(0.8)
    ax = axes[1]
    ax.plot(arrays["eval_updates"], 100 * arrays["error"], marker="o", ms=3)
    ax.set_xlabel("update")
    ax.set_ylabel("sequences with any wrong step (%)")
    ax.set_title("error during training (Adam + clipping)")
    m = meta["metrics"]
    fig.suptitle(
        f"3-bit flip-flop: {m['n_stable']} stable fixed points ({m['distinct_stable_patterns']} "
        f"distinct bit patterns), {m['n_saddle']} saddles",
        fontsize=10,
    )
    save_figure(fig, figdir / "flipflop_fixed_points")
    return ["flipflop_fixed_points"]


def report(arrays, meta):
    m = meta["metrics"]
    return (
        f"Stable fixed points: {m['n_stable']} (expected 8), with {m['distinct_stable_patterns']} distinct "
        f"readout sign patterns; saddles: {m['n_saddle']}; unstable: {m['n_unstable']}. Final error "
        f"(any wrong step): {100 * m['final_error']:.1f} %, final loss {m['final_loss']:.4f}. Max fixed-point "
        f"residual {float(np.max(arrays['residual'], initial=0)):.2e}."
    )


EXPERIMENT = Experiment(
    name="flipflop_fixed_points",
    title="3-bit flip-flop — 8 stable fixed points and saddles of a trained tanh RNN",
    checks="trains a small tanh RNN on the 3-bit flip-flop (Sussillo & Barak 2013) and counts the stable "
    "fixed points and saddles of its autonomous map (expected: 8 stable, one per memory state).",
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=72,
)
