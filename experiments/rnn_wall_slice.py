"""A wall in the error surface of a 50-unit RNN on the temporal-order task (paper §3.2, Fig. 6 in n-D).

A 50-unit tanh RNN (smart-tanh initialization) is trained with norm-clipped SGD (Algorithm 1,
lr 0.01, threshold 1) on the 4-class temporal-order problem for a short budget. At the update with
the largest gradient norm (after a warm-up) we keep the weights θ and the minibatch, and slice the
loss along three unit directions through θ: the gradient direction, the top Hessian eigenvector
(power iteration on finite-difference Hessian-vector products) and a random direction. Along the
gradient direction we mark where the plain step (``α = −lr‖∇E‖``) and the clipped step
(``α = −lr·threshold``) land: the plain one jumps across the wall, the clipped one stays beside it.
"""

from __future__ import annotations

import numpy as np

from dynsys.analysis.walls import choose_direction, loss_line
from dynsys.gradients import ReadoutLoss, bptt, clip_grad_norm
from dynsys.io import save_figure
from dynsys.maps import RNNMap
from dynsys.runs import Experiment
from dynsys.training import get_task, initialize

BASE = {
    "task": "temporal_order",
    "length": 20,
    "n_hidden": 50,
    "batch": 20,
    "init": "smart_tanh",
    "lr": 0.01,
    "threshold": 1.0,
    "updates": 2000,
    "warmup": 100,
    "seed": 0,
    "points": 401,
    "zoom_points": 201,
    "hessian_iters": 30,
}


def compute(cfg, ctx):
    rng = np.random.default_rng(cfg["seed"])
    task = get_task(cfg["task"])
    p = initialize(cfg["init"], cfg["n_hidden"], task.n_in, task.n_out, rng=rng)
    P, act = p.weights(), p.activation
    norms, losses = np.empty(cfg["updates"]), np.empty(cfg["updates"])
    best = (-1.0, -1, None, None)
    for k in ctx.progress(range(cfg["updates"]), desc="train (clipped SGD)", total=cfg["updates"]):
        batch = task.generate(rng, cfg["length"], cfg["batch"])
        rnn = RNNMap(P["W_rec"], P["W_in"], P["b"], act, P["W_out"], P["b_out"])
        res = bptt(rnn, batch.inputs, ReadoutLoss(batch.targets, kind="softmax", steps="last"))
        g, info = clip_grad_norm(res.grads, cfg["threshold"], nonfinite="skip")
        norms[k], losses[k] = info.norm, res.loss
        if k >= cfg["warmup"] and info.norm > best[0]:
            best = (info.norm, k, {kk: v.copy() for kk, v in P.items()}, batch)
        for key in P:
            P[key] = P[key] - cfg["lr"] * g[key]
    gmax, kmax, Pw, batch = best
    rnn = RNNMap(Pw["W_rec"], Pw["W_in"], Pw["b"], act, Pw["W_out"], Pw["b_out"])
    loss = ReadoutLoss(batch.targets, kind="softmax", steps="last")
    u = batch.inputs
    d_grad, ginfo = choose_direction("gradient", rnn, u, loss, return_info=True)
    d_hess, hinfo = choose_direction(
        "hessian", rnn, u, loss, rng=cfg["seed"] + 1, iters=cfg["hessian_iters"], return_info=True
    )
    d_rand = choose_direction("random", rnn, u, loss, rng=cfg["seed"] + 2)
    plain = -cfg["lr"] * ginfo["grad_norm"]
    clipped = -cfg["lr"] * min(ginfo["grad_norm"], cfg["threshold"])
    span = 1.5 * abs(plain)
    alphas = np.linspace(-span, 0.5 * span, cfg["points"])
    zoom = np.linspace(-4 * abs(clipped), 4 * abs(clipped), cfg["zoom_points"])
    line_g = loss_line(rnn, u, loss, d_grad, alphas)
    zoom_g = loss_line(rnn, u, loss, d_grad, zoom)
    line_h = loss_line(rnn, u, loss, d_hess, alphas)
    line_r = loss_line(rnn, u, loss, d_rand, alphas)
    marks = loss_line(rnn, u, loss, d_grad, np.array([0.0, plain, clipped]))
    i_wall = int(np.argmax(np.abs(zoom_g.slope)))
    arrays = {
        "update_norm": norms,
        "update_loss": losses,
        "alphas": alphas,
        "zoom": zoom,
        "loss_grad": line_g.loss,
        "slope_grad": line_g.slope,
        "loss_zoom": zoom_g.loss,
        "slope_zoom": zoom_g.slope,
        "loss_hess": line_h.loss,
        "loss_rand": line_r.loss,
        "marks_alpha": np.array([0.0, plain, clipped]),
        "marks_loss": marks.loss,
    }
    metrics = {
        "spike_update": int(kmax),
        "spike_grad_norm": float(gmax),
        "median_grad_norm": float(np.median(norms[cfg["warmup"] :])),
        "loss_at_theta": float(marks.loss[0]),
        "loss_after_plain_step": float(marks.loss[1]),
        "loss_after_clipped_step": float(marks.loss[2]),
        "plain_step_alpha": float(plain),
        "clipped_step_alpha": float(clipped),
        "hessian_top_eigenvalue": float(hinfo["eigenvalue"]),
        "hessian_residual": float(hinfo["residual"]),
        "max_abs_slope_zoom": float(np.abs(zoom_g.slope[i_wall])),
        "wall_alpha_zoom": float(zoom[i_wall]),
        "final_train_loss_last100": float(np.mean(losses[-100:])),
    }
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.surface import plot_slice

    m = meta["metrics"]
    fig, axes = new_figure(1, 3, figsize=(13.0, 3.8))
    a = arrays["marks_alpha"]
    lv = arrays["marks_loss"]
    plot_slice(
        axes[0],
        arrays["alphas"],
        arrays["loss_grad"],
        label="gradient direction",
        steps={
            f"plain step (α={a[1]:.3g})": ((0.0, a[1]), (lv[0], lv[1]), "#d62728"),
            f"clipped step (α={a[2]:.3g})": ((0.0, a[2]), (lv[0], lv[2]), "#17becf"),
        },
    )
    axes[0].plot(arrays["alphas"], arrays["loss_hess"], color="#9467bd", lw=1.0, label="top Hessian eigvec")
    axes[0].plot(arrays["alphas"], arrays["loss_rand"], color="#7f7f7f", lw=1.0, label="random direction")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"loss slices through θ (update {m['spike_update']})")
    slope_color = "#ff7f0e"
    lines = axes[1].plot(arrays["zoom"], arrays["loss_zoom"], color="k", lw=1.2, label="loss (left axis)")
    lines.append(axes[1].axvline(a[2], color="#17becf", ls="--", lw=1.0, label="clipped step"))
    ax2 = axes[1].twinx()
    lines += ax2.plot(
        arrays["zoom"], np.abs(arrays["slope_zoom"]), color=slope_color, lw=1.0, label="|∇E·d| (right axis)"
    )
    ax2.set_yscale("log")
    # the twin axis is coloured like its curve (the wider wspace below keeps it off the next panel)
    ax2.set_ylabel("|∇E·d|, directional derivative", color=slope_color, labelpad=2)
    ax2.tick_params(axis="y", which="both", colors=slope_color)
    ax2.spines["right"].set_visible(True)
    ax2.spines["right"].set_color(slope_color)
    ax2.grid(False)
    axes[1].legend(handles=lines, loc="upper left", fontsize=7)
    axes[1].set_xlabel("α (gradient direction, zoom)")
    axes[1].set_ylabel("loss")
    axes[1].set_title("zoom: the wall and the clipped step")
    axes[2].semilogy(arrays["update_norm"], color="#1f77b4", lw=0.6)
    axes[2].axvline(m["spike_update"], color="#d62728", ls=":", lw=1.0)
    axes[2].set_xlabel("update")
    axes[2].set_ylabel("‖∇E‖ before clipping")
    axes[2].set_title("gradient norm during clipped training")
    fig.get_layout_engine().set(wspace=0.08)  # room between the twin axis and the next panel
    save_figure(fig, figdir / "rnn_wall_slice")
    return ["rnn_wall_slice"]


def report(arrays, meta):
    m = meta["metrics"]
    return "\n".join(
        [
            f"- Largest gradient norm during clipped training: {m['spike_grad_norm']:.3g} at update "
            f"{m['spike_update']} (median {m['median_grad_norm']:.3g}); final mean training loss "
            f"{m['final_train_loss_last100']:.3g}.",
            f"- Along the gradient direction from there: loss {m['loss_at_theta']:.4g}; the plain step "
            f"(α = {m['plain_step_alpha']:.3g}) lands at loss {m['loss_after_plain_step']:.4g}; the clipped step "
            f"(α = {m['clipped_step_alpha']:.3g}) at {m['loss_after_clipped_step']:.4g}.",
            f"- Steepest point of the zoomed slice: |∇E·d| = {m['max_abs_slope_zoom']:.3g} at α = "
            f"{m['wall_alpha_zoom']:.3g}. Top Hessian eigenvalue (power iteration, finite-difference HVPs): "
            f"{m['hessian_top_eigenvalue']:.4g} (residual {m['hessian_residual']:.2g}).",
        ]
    )


EXPERIMENT = Experiment(
    name="rnn_wall_slice",
    title="A wall in a 50-unit RNN's error surface (temporal order): slices along gradient / Hessian / random",
    checks=(
        "Loss of a real network along the gradient direction at a gradient-norm spike during clipped "
        "training; where the plain and the clipped step land; Hessian-eigenvector and random slices."
    ),
    profiles={"default": dict(BASE), "paper": dict(BASE, length=50, updates=20000)},
    compute=compute,
    draw=draw,
    report=report,
    order=61,
)
