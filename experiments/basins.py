"""Basins of attraction, their boundaries, and input-driven boundary crossings (paper §2.2–2.3, Figs. 4–5).

Three experiments:

* ``basins_rnn`` — the basins of a bistable 2-unit tanh RNN (autonomous part ``F̃``), found by
  direct iteration and checked against cell mapping, with the stable and saddle fixed points of
  :func:`dynsys.fixed_points.find_fixed_points` overlaid; two nearby initial states, one input
  kick along ``W_in``, one of them is pushed across the boundary (the stable manifold of the saddle).
* ``basin_crossing`` — our version of the paper's schematic Figs. 4–5 with one sigmoid unit,
  ``w = 5``, bistable bias ``b = −2.45``: two nearby states, a kick ``u_3``, one crosses the unstable
  fixed point; trajectories, ``‖∂x_t/∂x_0‖`` over time, and a scan over ``x_0`` showing that
  ``x_T`` jumps exactly where the final basin changes.
* ``basins_fractal`` — Newton's method for ``z³ − 1`` (three roots, fractal boundary) against the
  smooth boundary of the 2-unit RNN: basin entropy, boundary basin entropy (Daza et al. 2016),
  uncertainty exponent and box-counting dimension.
"""

from __future__ import annotations

import time

import numpy as np

from dynsys.analysis.basins import (
    basins_of_attraction,
    box_grid,
    cell_mapping,
    classify_boundary,
    label_agreement,
    sensitivity_scan,
    track_crossings,
    uncertainty_exponent,
)
from dynsys.analysis.equilibria import STABILITY_CLASSES as STAB_CODES
from dynsys.analysis.equilibria import find_fixed_points
from dynsys.io import save_figure
from dynsys.maps import NewtonMap, RNNMap, UnitMap
from dynsys.runs import Experiment


def _fixed_points(map):
    """Fixed points and stability codes (indices into :data:`dynsys.stability.STABILITY_CLASSES`)."""
    fp = find_fixed_points(map, rng=0)
    codes = np.array([STAB_CODES.index(s) if s in STAB_CODES else 3 for s in fp.stability], dtype=int)
    return np.asarray(fp.states), codes


def _cell_mapping_agreement(map, grid, labels) -> dict:
    """Agreement of cell mapping with direct-iteration ``labels``: simple (k = 1) and of F⁴ (k = 4)."""
    return {
        str(k): label_agreement(labels, cell_mapping(map, grid, steps_per_cell=k).labels)[0] for k in (1, 4)
    }


def _critical_offset(map, line_x0, inputs, attractors, iters=60):
    """Bisection along a line of initial states for the point where the final basin changes."""
    s = sensitivity_scan(map, line_x0, inputs, attractors=attractors)
    ch = s.label_changes()
    if ch.size == 0:
        return None, s
    lo, hi = line_x0[ch[0]], line_x0[ch[0] + 1]
    lab_lo = s.final_labels[ch[0]]
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lab = sensitivity_scan(map, mid[None], inputs, attractors=attractors).final_labels[0]
        lo, hi = (mid, hi) if lab == lab_lo else (lo, mid)
    return 0.5 * (lo + hi), s


# ---------------------------------------------------------------------------------------
# basins_rnn
# ---------------------------------------------------------------------------------------

RNN = {"W_rec": [[1.5, 1.0], [1.0, 1.5]], "W_in": [[1.0], [1.0]], "b": [0.2, -0.1], "activation": "tanh"}


def compute_rnn(cfg, ctx):
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
    agree = _cell_mapping_agreement(auto, cgrid, basins_of_attraction(auto, cgrid).labels)
    next(stages)
    fp_states, fp_codes = _fixed_points(auto)
    # two nearby initial states on the diagonal, straddling the state that the kick sends onto the boundary
    T, kick_t = cfg["T"], cfg["kick_t"]
    u = np.zeros((T, 1))
    u[kick_t - 1] = cfg["kick"]
    c = np.linspace(-L, L, 801)
    crit, _ = _critical_offset(rnn, np.stack([c, c], axis=1), u, bas.attractors)
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
            {"state": s.tolist(), "stability": STAB_CODES[c]} for s, c in zip(fp_states, fp_codes)
        ],
        "crossings": cr.summary(),
        "critical_x0": crit.tolist(),
        "boundary": {"kind": geo.kind, "S_bb": geo.S_bb, "alpha": geo.alpha},
    }
    return arrays, metrics


def draw_rnn(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.basins import plot_basins, plot_fixed_points, plot_gradient_norms

    fig, (ax, ax2) = new_figure(1, 2, figsize=(10.5, 4.4), width_ratios=[1.25, 1])
    plot_basins(
        ax, arrays["labels"], (arrays["axis0"], arrays["axis1"]), n_attractors=len(arrays["attractors"])
    )
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
            label=f"x0 {'−' if i == 0 else '+'} δ",
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
    ax.legend(loc="lower right", framealpha=0.85)
    t = np.arange(tr.shape[0])
    plot_gradient_norms(ax2, t, arrays["grad_norms"], labels=["x0 − δ (stays)", "x0 + δ (crosses)"])
    ax2.axvline(kick_t, color="0.5", ls=":", lw=0.8)
    ax2.set_title(r"$\|\partial x_t/\partial x_0\|$: both linger near the saddle, then split")
    ax2.legend()
    save_figure(fig, figdir / "basins_rnn")
    return ["basins_rnn"]


def _agreement_text(agree: dict) -> str:
    return f"{100 * agree['1']:.2f}% simple cell mapping (k = 1), {100 * agree['4']:.2f}% cell mapping of F⁴ (k = 4)"


def report_rnn(arrays, meta):
    m = meta["metrics"]
    lines = [
        f"- attractors: {len(m['attractors'])} "
        f"({', '.join(a['type'] for a in m['attractors'])}), fractions "
        + ", ".join(f"{k}: {v:.4f}" for k, v in m["fractions"].items())
        + f" (sum {sum(m['fractions'].values()):.12f})",
        f"- direct iteration vs cell mapping ({meta['config']['cells_resolution']}² cells), cells that agree: "
        + _agreement_text(m["cell_mapping_agreement"]),
        "- fixed points (find_fixed_points): "
        + "; ".join(
            f"{p['stability']} at ({p['state'][0]:.4f}, {p['state'][1]:.4f})" for p in m["fixed_points"]
        ),
        f"- crossings of the two nearby states (t, trajectory, from, to): {m['crossings']}",
        f"- boundary: {m['boundary']['kind']} (S_bb = {m['boundary']['S_bb']:.3f}, "
        f"α = {m['boundary']['alpha']:.3f})",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# basin_crossing (Figs. 4–5)
# ---------------------------------------------------------------------------------------


def compute_crossing(cfg, ctx):
    from scipy.optimize import brentq

    w, b = cfg["w"], cfg["b"]
    unit = UnitMap(w=w, b=b, activation="sigmoid", w_in=1.0)
    auto, _ = unit.split_driven()
    stages = iter(ctx.progress(range(3), desc="basin_crossing", total=3))
    next(stages)
    grid = box_grid([tuple(cfg["x_range"])], cfg["resolution"])
    bas = basins_of_attraction(auto, grid)
    x = grid.axes[0]
    ch = np.flatnonzero(bas.labels[1:] != bas.labels[:-1])
    boundary = 0.5 * (x[ch] + x[ch + 1])
    f = lambda s: w / (1 + np.exp(-s)) + b - s  # noqa: E731
    x_u = brentq(f, -1.0, 0.5)  # independent: the unstable fixed point
    fp_states, fp_codes = _fixed_points(auto)
    next(stages)
    T, kick_t = cfg["T"], cfg["kick_t"]
    u = np.zeros((T, 1))
    u[kick_t - 1] = cfg["kick"]
    x0_line = np.linspace(*cfg["x_range"], cfg["scan"])[:, None]
    crit, scan = _critical_offset(unit, x0_line, u, bas.attractors)
    crit = float(crit[0])
    d = cfg["delta"]
    cr = track_crossings(unit, np.array([[crit - d], [crit + d]]), u, attractors=bas.attractors)
    next(stages)
    fin = scan.final_states[:, 0]
    secant = np.abs(np.diff(fin)) / (x0_line[1, 0] - x0_line[0, 0])
    differ = scan.final_labels[1:] != scan.final_labels[:-1]
    arrays = {
        "t": np.arange(T + 1),
        "traj": cr.states[:, :, 0],
        "traj_labels": cr.labels,
        "grad_norms": cr.grad_norms,
        "scan_x0": x0_line[:, 0],
        "scan_final": fin,
        "scan_labels": scan.final_labels,
        "scan_grad": scan.grad_norm,
        "scan_secant": secant,
        "basin_labels": bas.labels,
        "basin_axis": x,
        "fp_states": fp_states[:, 0],
        "fp_stability": fp_codes,
    }
    metrics = {
        "x_unstable_brentq": x_u,
        "boundary_from_basins": boundary.tolist(),
        "boundary_error": float(np.min(np.abs(boundary - x_u))) if boundary.size else None,
        "grid_spacing": float(x[1] - x[0]),
        "attractors": [a.summary() for a in bas.attractors],
        "critical_x0": crit,
        "crossings": cr.summary(),
        "secant_min_differ": float(secant[differ].min()) if differ.any() else None,
        "secant_max_same": float(secant[~differ].max()),
        "max_grad_same_far": float(scan.grad_norm[np.abs(x0_line[:, 0] - crit) > 0.05].max()),
        "peak_grad_pair": [float(cr.grad_norms[:, 0].max()), float(cr.grad_norms[:, 1].max())],
    }
    return arrays, metrics


def draw_crossing(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.basins import plot_gradient_norms, plot_trajectories

    cfg, m = meta["config"], meta["metrics"]
    fig, axs = new_figure(1, 3, figsize=(13.5, 3.9))
    stable = [a["points"][0][0] for a in m["attractors"]]
    plot_trajectories(
        axs[0],
        arrays["t"],
        arrays["traj"],
        labels=["$x_0^* - δ$ (stays)", "$x_0^* + δ$ (crosses)"],
        boundary=m["x_unstable_brentq"],
        attractors=stable,
        kicks=[cfg["kick_t"]],
    )
    axs[0].set_title(
        f"one unit, w = {cfg['w']}, b = {cfg['b']}: kick $u_{{{cfg['kick_t']}}}$ = {cfg['kick']}"
    )
    axs[0].legend(loc="upper left", fontsize=7)
    plot_gradient_norms(axs[1], arrays["t"], arrays["grad_norms"], labels=["stays", "crosses"])
    axs[1].axvline(cfg["kick_t"], color="0.5", ls=":", lw=0.8)
    axs[1].set_title(r"$\|\partial x_t/\partial x_0\|$ along both trajectories")
    axs[1].legend()
    ax = axs[2]
    x0 = arrays["scan_x0"]
    ax.scatter(
        x0,
        arrays["scan_final"],
        c=np.where(arrays["scan_labels"] == arrays["scan_labels"][0], "#1f4e99", "#c0392b"),
        s=3,
    )
    ax.set_xlabel(r"$x_0$")
    ax.set_ylabel(r"$x_T$", color="k")
    ax.axvline(m["critical_x0"], color="0.4", ls="--", lw=0.8)
    tw = ax.twinx()
    mid = 0.5 * (x0[1:] + x0[:-1])
    tw.semilogy(
        mid,
        np.maximum(arrays["scan_secant"], 1e-16),
        color="#2ca02c",
        lw=3.0,
        alpha=0.5,
        label=r"$|x_T(x_0+h) - x_T(x_0)|/h$",
    )
    tw.semilogy(
        x0,
        np.maximum(arrays["scan_grad"], 1e-16),
        color="#6a3d9a",
        lw=1.0,
        ls="--",
        zorder=3,
        label=r"$\|\partial x_T/\partial x_0\|$ on the grid",
    )
    tw.set_ylim(1e-10, None)
    tw.set_ylabel("sensitivity")
    tw.legend(loc="center right", fontsize=7)
    ax.set_title(f"T = {cfg['T']}: $x_T$ jumps where the final basin changes")
    save_figure(fig, figdir / "basin_crossing")
    return ["basin_crossing"]


def report_crossing(arrays, meta):
    m = meta["metrics"]
    return "\n".join(
        [
            f"- unstable fixed point (brentq on wσ(x)+b−x): x_u = {m['x_unstable_brentq']:.6f}; basin boundary from "
            f"the grid: {m['boundary_from_basins']} (error {m['boundary_error']:.2e}, grid spacing {m['grid_spacing']:.2e})",
            "- attractors: " + "; ".join(f"{a['type']} at {a['points'][0][0]:.6f}" for a in m["attractors"]),
            f"- critical x0 (kick lands on the boundary): {m['critical_x0']:.10f}; crossings of x0* ∓ δ: {m['crossings']}",
            f"- neighbouring x0 that end in different basins: secant |Δx_T|/h ≥ {m['secant_min_differ']:.3g}; "
            f"same basin: ≤ {m['secant_max_same']:.3g}",
            f"- ‖∂x_T/∂x_0‖ at |x0 − x0*| > 0.05: ≤ {m['max_grad_same_far']:.3g}; peak ‖∂x_t/∂x_0‖ along the two "
            f"trajectories: {m['peak_grad_pair'][0]:.3g}, {m['peak_grad_pair'][1]:.3g}",
        ]
    )


# ---------------------------------------------------------------------------------------
# basins_fractal
# ---------------------------------------------------------------------------------------


def compute_fractal(cfg, ctx):
    stages = iter(ctx.progress(range(3), desc="basins_fractal", total=3))
    next(stages)
    L = cfg["box"]
    grid = box_grid([(-L, L), (-L, L)], cfg["resolution"])
    t0 = time.perf_counter()
    newton = basins_of_attraction(NewtonMap(3), grid)
    t_n = time.perf_counter() - t0
    S = grid.states()
    disc = np.hypot(S[..., 0], S[..., 1]) < L
    disc_fr = [float(np.mean(newton.labels[disc] == k)) for k in range(len(newton.attractors))]
    cgrid = box_grid([(-L, L), (-L, L)], cfg["cells_resolution"])
    agree = _cell_mapping_agreement(NewtonMap(3), cgrid, basins_of_attraction(NewtonMap(3), cgrid).labels)
    next(stages)
    g_n = classify_boundary(newton.labels)
    a_n, s_n, f_n = uncertainty_exponent(newton.labels)
    rnn = RNNMap(RNN["W_rec"], None, RNN["b"], "tanh")
    smooth = basins_of_attraction(rnn, box_grid([(-4, 4), (-4, 4)], cfg["resolution"]))
    g_s = classify_boundary(smooth.labels)
    a_s, s_s, f_s = uncertainty_exponent(smooth.labels)
    unit = basins_of_attraction(UnitMap(w=5.0, b=-2.45), box_grid([(-3.0, 3.0)], cfg["resolution"]))
    g_u = classify_boundary(unit.labels)
    next(stages)
    arrays = {
        "labels": newton.labels,
        "axis0": grid.axes[0],
        "axis1": grid.axes[1],
        "roots": np.stack([a.points[0] for a in newton.attractors]),
        "shifts_newton": s_n,
        "f_newton": f_n,
        "shifts_smooth": s_s,
        "f_smooth": f_s,
    }

    def geo(g):
        return {
            "kind": g.kind,
            "S_b": g.S_b,
            "S_bb": g.S_bb,
            "alpha": g.alpha,
            "dimension": g.dimension,
            "reason": g.reason,
        }

    metrics = {
        "fractions": {str(k): v for k, v in newton.fractions.items()},
        "disc_fractions": disc_fr,
        "newton": geo(g_n),
        "rnn": geo(g_s),
        "unit": geo(g_u),
        "seconds_newton": t_n,
        "cell_mapping_agreement": agree,
        "attractors": [a.summary() for a in newton.attractors],
    }
    return arrays, metrics


def draw_fractal(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.basins import plot_attractor_points, plot_basins

    m = meta["metrics"]
    fig, (ax, ax2) = new_figure(1, 2, figsize=(10.5, 4.4), width_ratios=[1.1, 1])
    plot_basins(ax, arrays["labels"], (arrays["axis0"], arrays["axis1"]), n_attractors=3, legend=False)
    plot_attractor_points(ax, arrays["roots"], label="roots of $z^3 = 1$")
    ax.set_aspect("equal")
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    n = m["newton"]
    ax.set_title(f"Newton $z^3-1$: $S_b$ = {n['S_b']:.3f}, $S_{{bb}}$ = {n['S_bb']:.3f} > ln 2")
    ax.legend(loc="upper left")
    for key, lab, col in [
        ("newton", "Newton (fractal)", "#c0392b"),
        ("smooth", "2-unit RNN (smooth)", "#1f4e99"),
    ]:
        s, f = arrays[f"shifts_{key}"], arrays[f"f_{key}"]
        a = m["newton" if key == "newton" else "rnn"]["alpha"]
        ax2.loglog(s, f, "o-", color=col, label=f"{lab}: α = {a:.2f}")
    ax2.set_xlabel("ε (grid cells)")
    ax2.set_ylabel("f(ε): fraction of ε-uncertain points")
    ax2.set_title(r"uncertainty exponent: $f \propto \varepsilon^\alpha$ (α = 1 smooth, < 1 fractal)")
    ax2.legend()
    save_figure(fig, figdir / "basins_fractal")
    return ["basins_fractal"]


def report_fractal(arrays, meta):
    m = meta["metrics"]
    rows = ["| system | kind | S_b | S_bb | α | box dim. |", "|---|---|---|---|---|---|"]
    for key, name in [("newton", "Newton z³−1"), ("rnn", "2-unit RNN"), ("unit", "one unit (1-D)")]:
        g = m[key]
        rows.append(
            f"| {name} | {g['kind']} | {g['S_b']:.4f} | {g['S_bb']:.4f} | {g['alpha']:.3f} | "
            f"{g['dimension']:.3f} |"
        )
    return "\n".join(
        [
            "- Newton z³−1: "
            + ", ".join(
                f"{a['type']} at ({a['points'][0][0]:+.6f}, {a['points'][0][1]:+.6f})"
                for a in m["attractors"]
            ),
            f"- fractions on the square grid: {m['fractions']}; inside the disc |z| < {meta['config']['box']} "
            f"(rotation-symmetric): {', '.join(f'{f:.4f}' for f in m['disc_fractions'])} (symmetry: 1/3 each)",
            f"- direct iteration vs cell mapping on Newton ({meta['config']['cells_resolution']}² cells), "
            "cells that agree: " + _agreement_text(m["cell_mapping_agreement"]),
            "- ln 2 = 0.6931; literature: Newton z³−1 boundary dimension ≈ 1.42 (α ≈ 0.58)",
            "",
            *rows,
        ]
    )


# default-profile configurations (the paper profiles change the resolutions only)
RNN_RUN = dict(RNN, box=4.0, resolution=300, cells_resolution=150, T=40, kick_t=3, kick=1.0, delta=0.01)
CROSSING_RUN = dict(w=5.0, b=-2.45, x_range=[-3.0, 3.0], resolution=601, scan=1201, T=60, kick_t=3)
CROSSING_RUN.update(kick=1.5, delta=1e-3)

EXPERIMENTS = [
    Experiment(
        name="basins_rnn",
        title="Basins of a bistable 2-unit RNN, its fixed points, and an input-driven crossing",
        checks="basins of F̃ by direct iteration (attractors found, not given) vs cell mapping; stable/saddle "
        "fixed points overlaid; one kick moves one of two nearby states across the boundary (paper §2.3).",
        profiles={
            "default": RNN_RUN,
            "paper": {**RNN_RUN, "resolution": 1000, "cells_resolution": 400},
        },
        compute=compute_rnn,
        draw=draw_rnn,
        report=report_rnn,
        order=50,
    ),
    Experiment(
        name="basin_crossing",
        title="Figs. 4–5 (our version): an input kick moves one of two nearby states across a basin boundary",
        checks="one sigmoid unit, w = 5, bistable b; the basin boundary equals the unstable fixed point (brentq) "
        "to grid resolution; x_T and the gradient jump iff nearby initial states end in different basins.",
        profiles={"default": CROSSING_RUN, "paper": {**CROSSING_RUN, "resolution": 6001, "scan": 12001}},
        compute=compute_crossing,
        draw=draw_crossing,
        report=report_crossing,
        order=51,
    ),
    Experiment(
        name="basins_fractal",
        title="Smooth vs fractal basin boundaries: Newton z³−1 and the basin entropy",
        checks="three roots with equal fractions by symmetry; S_bb > ln 2 and α < 1 for Newton (fractal), "
        "S_bb ≤ ln 2 and α ≈ 1 for the RNN and the unit (smooth).",
        profiles={
            "default": {"box": 2.0, "resolution": 400, "cells_resolution": 160},
            "paper": {"box": 2.0, "resolution": 1000, "cells_resolution": 400},
        },
        compute=compute_fractal,
        draw=draw_fractal,
        report=report_fractal,
        order=52,
    ),
]
