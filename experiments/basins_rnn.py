"""Basins of a bistable 2-unit tanh RNN, its fixed points, and an input-driven crossing (paper §2.2–2.3).

The basins of the autonomous part ``F̃`` are found by direct iteration (attractors found, not
given) and checked against cell mapping; the stable and saddle fixed points of
:func:`dynsys.analysis.equilibria.find_fixed_points` are overlaid. Two nearby initial states, one
input kick along ``W_in``: one of them is pushed across the boundary (the stable manifold of the
saddle).
"""

from __future__ import annotations

import time

import numpy as np

from dynsys.analysis.basins import (
    basins_of_attraction,
    box_grid,
    cell_mapping_agreement,
    classify_boundary,
    locate_basin_change,
    track_crossings,
)
from dynsys.analysis.equilibria import STABILITY_CLASSES, find_fixed_points
from dynsys.io import save_figure
from dynsys.maps import RNNMap
from dynsys.runs import Experiment

RNN = {"W_rec": [[1.5, 1.0], [1.0, 1.5]], "W_in": [[1.0], [1.0]], "b": [0.2, -0.1], "activation": "tanh"}
RNN_RUN = dict(RNN, box=4.0, resolution=300, cells_resolution=150, T=40, kick_t=3, kick=1.0, delta=0.01)


def _agreement(agree: dict) -> str:
    return f"{100 * agree['1']:.2f}% simple cell mapping (k = 1), {100 * agree['4']:.2f}% cell mapping of F⁴ (k = 4)"


def compute(cfg, ctx):
    rnn = RNNMap(cfg["W_rec"], cfg["W_in"], cfg["b"], cfg["activation"])
    auto, _ = rnn.split_driven()
    L = cfg["box"]
    stages = iter(ctx.progress(range(4), desc="basins_rnn", total=4))
    next(stages)
    t0 = time.perf_counter()
    grid = box_grid([(-L, L), (-L, L)], cfg["resolution"])
    bas = basins_of_attraction(auto, grid)
    t_di = time.perf_counter() - t0
    next(stages)
    cgrid = box_grid([(-L, L), (-L, L)], cfg["cells_resolution"])
    agree = {
        str(k): v
        for k, v in cell_mapping_agreement(auto, cgrid, basins_of_attraction(auto, cgrid).labels).items()
    }
    next(stages)
    fp = find_fixed_points(auto, rng=0)
    fp_states, fp_codes = np.asarray(fp.states), fp.stability_codes
    # two nearby initial states on the diagonal, straddling the state that the kick sends onto the boundary
    T, kick_t = cfg["T"], cfg["kick_t"]
    u = np.zeros((T, 1))
    u[kick_t - 1] = cfg["kick"]
    c = np.linspace(-L, L, 801)
    crit, _ = locate_basin_change(rnn, np.stack([c, c], axis=1), u, attractors=bas.attractors)
    d = cfg["delta"] * np.array([1.0, 1.0])
    cr = track_crossings(rnn, np.stack([crit - d, crit + d]), u, attractors=bas.attractors)
    next(stages)
    geo = classify_boundary(bas.labels)
    arrays = {
        "labels": bas.labels,
        "axis0": grid.axes[0],
        "axis1": grid.axes[1],
        "attractors": np.stack([a.points[0] for a in bas.attractors]),
        "fp_states": fp_states,
        "fp_stability": fp_codes,
        "traj": cr.states,
        "traj_labels": cr.labels,
        "grad_norms": cr.grad_norms,
        "events": cr.events,
    }
    metrics = {
        "fractions": {str(k): v for k, v in bas.fractions.items()},
        "attractors": [a.summary() for a in bas.attractors],
        "cell_mapping_agreement": agree,
        "seconds_direct": t_di,
        "fixed_points": [
            {"state": s.tolist(), "stability": STABILITY_CLASSES[c]} for s, c in zip(fp_states, fp_codes)
        ],
        "crossings": cr.summary(),
        "critical_x0": crit.tolist(),
        "boundary": {"kind": geo.kind, "S_bb": geo.S_bb, "alpha": geo.alpha},
    }
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.basins import plot_basins, plot_fixed_points, plot_gradient_norms

    fig, (ax, ax2) = new_figure(1, 2, figsize=(10.5, 4.4), width_ratios=[1.25, 1])
    basin_legend = plot_basins(
        ax, arrays["labels"], (arrays["axis0"], arrays["axis1"]), n_attractors=len(arrays["attractors"])
    )[-1]
    # the legend below replaces the basins' one: keep its entries
    basin_entries = (list(basin_legend.legend_handles), [t.get_text() for t in basin_legend.get_texts()])
    if arrays["fp_states"].size:
        plot_fixed_points(ax, arrays["fp_states"], arrays["fp_stability"])
    tr = arrays["traj"]
    kick_t = meta["config"]["kick_t"]
    for i, col in enumerate(["#1f4e99", "#c0392b"]):
        ax.plot(
            tr[:, i, 0],
            tr[:, i, 1],
            "-",
            color=col,
            lw=1.0,
            marker=".",
            ms=3,
            label=f"$x_0 {'-' if i == 0 else '+'} \\delta$",
        )
        ax.annotate(
            "",
            xy=tr[kick_t, i],
            xytext=tr[kick_t - 1, i],
            arrowprops=dict(arrowstyle="->", color=col, lw=1.5),
        )
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    ax.set_title("bistable 2-unit tanh RNN: basins of $\\tilde F$, fixed points, one kick")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(basin_entries[0] + handles, basin_entries[1] + labels, loc="lower right", framealpha=0.85)
    t = np.arange(tr.shape[0])
    plot_gradient_norms(
        ax2, t, arrays["grad_norms"], labels=[r"$x_0 - \delta$ (stays)", r"$x_0 + \delta$ (crosses)"]
    )
    ax2.axvline(kick_t, color="0.5", ls=":", lw=0.8)
    ax2.set_title(r"$\|\partial x_t/\partial x_0\|$: both linger near the saddle, then split")
    ax2.legend()
    save_figure(fig, figdir / "basins_rnn")
    return ["basins_rnn"]


def report(arrays, meta):
    m = meta["metrics"]
    lines = [
        f"- attractors: {len(m['attractors'])} "
        f"({', '.join(a['type'] for a in m['attractors'])}), fractions "
        + ", ".join(f"{k}: {v:.4f}" for k, v in m["fractions"].items())
        + f" (sum {sum(m['fractions'].values()):.12f})",
        f"- direct iteration vs cell mapping ({meta['config']['cells_resolution']}² cells), cells that agree: "
        + _agreement(m["cell_mapping_agreement"]),
        "- fixed points (find_fixed_points): "
        + "; ".join(
            f"{p['stability']} at ({p['state'][0]:.4f}, {p['state'][1]:.4f})" for p in m["fixed_points"]
        ),
        f"- crossings of the two nearby states (t, trajectory, from, to): {m['crossings']}",
        f"- boundary: {m['boundary']['kind']} (S_bb = {m['boundary']['S_bb']:.3f}, "
        f"α = {m['boundary']['alpha']:.3f})",
    ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="basins_rnn",
    title="Basins of a bistable 2-unit RNN, its fixed points, and an input-driven crossing",
    checks="basins of F̃ by direct iteration (attractors found, not given) vs cell mapping; stable/saddle "
    "fixed points overlaid; one kick moves one of two nearby states across the boundary (paper §2.3).",
    profiles={
        "default": RNN_RUN,
        "paper": {**RNN_RUN, "resolution": 1000, "cells_resolution": 400},
    },
    compute=compute,
    draw=draw,
    report=report,
    order=50,
)
