"""Paper Fig. 3: bifurcation diagram of one sigmoid unit, plus fold curves and a small RNN.

Three figures from one computation:

* ``fig3_bifurcation`` — ``x_t = w σ(x_{t−1}) + b``, ``w = 5``, ``b ∈ [−3.2, −1.8]``: the whole
  S-shaped fixed-point branch by pseudo-arclength continuation, stable parts solid, the unstable
  middle part (the basin boundary) dashed, the folds ``b₁ < b₂`` marked, arrows showing the flow
  ``sign(F(x) − x)``; underneath, a brute-force orbit diagram from several initial states as an
  independent check (only the stable branches appear, both of them inside ``[b₁, b₂]``).
* ``fig3_fold_curves`` — the two fold curves in the ``(w, b)`` plane, continued in two parameters
  from the folds at ``w = 5``; they meet at the cusp ``(w, b) = (4, −2)`` (closed form:
  ``σ″(x) = 0`` at ``x = 0``, ``w σ′(0) = 1``, ``b = −w σ(0)``); bistability inside the wedge.
* ``fig3_rnn`` — a 3-unit tanh RNN ``x ↦ g W tanh(x)`` with ``W = Q diag(R(θ), −c) Qᵀ``, ``Q`` a
  random rotation (all units coupled), continued in the gain ``g``: the origin loses stability by a
  **flip** at ``g = 1/c`` (multiplier ``−c g``) and a **Neimark–Sacker** bifurcation at ``g = 1``
  (pair ``g e^{±iθ}``); the period-2 branch born at the flip is followed too. Orbit diagram
  underneath: a 2-cycle after the flip, an invariant circle after NS.
"""

from __future__ import annotations

import numpy as np

from dynsys.analysis.continuation import bifurcation_diagram, continue_fold_curve, orbit_diagram
from dynsys.io import save_figure
from dynsys.maps import RNNMap, UnitMap
from dynsys.runs import Experiment

TYPES = ("fold", "branch-point", "flip", "neimark-sacker")

PROFILES = {
    "default": {
        "w": 5.0,
        "b_range": [-3.2, -1.8],
        "activation": "sigmoid",
        "orbit_points": 281,
        "orbit_initial": 6,
        "orbit_transient": 400,
        "orbit_keep": 8,
        "fold_box": [[3.6, 9.0], [-7.0, 0.5]],
        "rnn_theta": 0.9,
        "rnn_flip": 1.25,
        "rnn_gain_range": [0.5, 1.4],
        "rnn_seed": 3,
        "rnn_orbit_points": 181,
        "rnn_orbit_transient": 1500,
        "rnn_orbit_keep": 60,
    },
    "paper": {
        "w": 5.0,
        "b_range": [-3.2, -1.8],
        "activation": "sigmoid",
        "orbit_points": 1401,
        "orbit_initial": 12,
        "orbit_transient": 2000,
        "orbit_keep": 20,
        "fold_box": [[3.6, 12.0], [-11.0, 0.5]],
        "rnn_theta": 0.9,
        "rnn_flip": 1.25,
        "rnn_gain_range": [0.5, 1.4],
        "rnn_seed": 3,
        "rnn_orbit_points": 721,
        "rnn_orbit_transient": 5000,
        "rnn_orbit_keep": 200,
    },
}


def _closed_form_folds(w):
    """w σ′(x) = 1 with σ′ = s(1 − s): s = (1 ± √(1 − 4/w))/2, x = logit(s), b = x − w s."""
    r = np.sqrt(1.0 - 4.0 / w)
    s = np.array([(1 - r) / 2, (1 + r) / 2])
    x = np.log(s / (1 - s))
    return x, x - w * s


def _rnn_weights(theta, c, seed):
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((3, 3)))
    Q = Q * np.sign(np.diag(R))
    B = np.zeros((3, 3))
    B[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    B[2, 2] = -c
    return Q @ B @ Q.T, Q


def _pack_branches(d, coord):
    """Concatenate branches into flat numeric arrays (branch id, period, param, state, stable, |μ|)."""
    cols = {k: [] for k in ("id", "period", "param", "state", "stable", "mu")}
    nid = 0
    for br in d.branches:
        states = br.states
        for _ in range(br.period):  # every point of a k-cycle, as its own curve
            cols["id"].append(np.full(len(br), nid))
            cols["period"].append(np.full(len(br), br.period))
            cols["param"].append(br.params)
            cols["state"].append(coord(states))
            cols["stable"].append(br.stable.astype(np.int8))
            cols["mu"].append(np.abs(br.multipliers))
            states = np.stack([br.path.map_at(p).step(x) for x, p in zip(states, br.params)])
            nid += 1
    return {k: np.concatenate(v) for k, v in cols.items()}


def _pack_bifs(d, coord):
    b = d.bifurcations
    return {
        "type": np.array([TYPES.index(x.type) for x in b], dtype=int),
        "param": np.array([x.param for x in b], dtype=float),
        "state": np.array([coord(x.state[None])[0] for x in b], dtype=float),
        "period": np.array([x.period for x in b], dtype=int),
    }


def compute(config, ctx):
    arrays, metrics = {}, {}
    w, (blo, bhi) = float(config["w"]), config["b_range"]
    unit = UnitMap(w=w, b=0.5 * (blo + bhi), activation=config["activation"])
    # 1. Fig. 3: continuation + bifurcations
    d = bifurcation_diagram(unit, "b", (blo, bhi), rng=0)
    first = lambda s: s[:, 0]  # noqa: E731
    for k, v in _pack_branches(d, first).items():
        arrays[f"unit_branch_{k}"] = v
    for k, v in _pack_bifs(d, first).items():
        arrays[f"unit_bif_{k}"] = v
    x_f, b_f = _closed_form_folds(w)
    arrays["unit_folds_closed_form"] = np.column_stack([b_f, x_f])
    # flow arrows: sign(F(x) − x) on a grid
    fb = np.linspace(blo, bhi, 15)
    fx = np.linspace(-4.0, 4.0, 15)
    F = w / (1 + np.exp(-fx[None, :])) + fb[:, None]
    arrays["flow_b"], arrays["flow_x"], arrays["flow_sign"] = fb, fx, np.sign(F - fx[None, :])
    # orbit diagram (independent check)
    bs = np.linspace(blo, bhi, int(config["orbit_points"]))
    x0 = np.linspace(-5.0, 5.0, int(config["orbit_initial"]))[:, None]
    od = orbit_diagram(
        unit, "b", bs, x0=x0, transient=int(config["orbit_transient"]), keep=int(config["orbit_keep"])
    )
    arrays["orbit_b"] = bs
    arrays["orbit_x"] = od.states[..., 0].reshape(bs.size, -1)
    # check: every orbit-diagram end state lies on a stable branch point at that b
    br = d.branches[0]
    errs = []
    for i, b in enumerate(bs):
        fp_x = _stable_on_branch(br, b, w, config["activation"])
        fin = od.states[i, :, -1, 0]
        if fp_x.size:
            errs.append(np.max(np.min(np.abs(fin[:, None] - fp_x[None, :]), axis=1)))
    metrics["orbit_vs_branch_max_error"] = float(np.max(errs))
    bist = [(b > min(b_f)) and (b < max(b_f)) for b in bs]
    n_att = [_n_clusters(od.states[i, :, -1, 0], 1e-3) for i in range(bs.size)]
    metrics["orbit_two_attractors_inside_window"] = bool(all(n == 2 for n, s in zip(n_att, bist) if s))
    metrics["orbit_one_attractor_outside_window"] = bool(all(n == 1 for n, s in zip(n_att, bist) if not s))
    # 2. two-parameter fold curves and the cusp
    fold = d.of_type("fold")[0]
    fc = continue_fold_curve(unit, ("w", "b"), fold, config["fold_box"])
    arrays["fold_curve_wb"] = fc.params
    arrays["fold_curve_x"] = fc.states[:, 0]
    arrays["cusp"] = fc.cusps
    metrics["fold_curve_message"] = fc.message
    # 3. a 3-unit RNN with a flip and a Neimark–Sacker bifurcation in the gain
    W, Q = _rnn_weights(config["rnn_theta"], config["rnn_flip"], config["rnn_seed"])
    rnn = RNNMap(W)
    glo, ghi = config["rnn_gain_range"]
    dr = bifurcation_diagram(rnn, "gain", (glo, ghi), flip_switch=True, max_period=2, rng=0)
    proj = lambda s: s @ Q[:, 2]  # noqa: E731  (coordinate along the flip eigenvector)
    for k, v in _pack_branches(dr, proj).items():
        arrays[f"rnn_branch_{k}"] = v
    for k, v in _pack_bifs(dr, proj).items():
        arrays[f"rnn_bif_{k}"] = v
    arrays["rnn_W"], arrays["rnn_Q"] = W, Q
    gs = np.linspace(glo, ghi, int(config["rnn_orbit_points"]))
    x0 = 0.1 * np.random.default_rng(0).standard_normal((2, 3))
    odr = orbit_diagram(
        rnn,
        "gain",
        gs,
        x0=x0,
        transient=int(config["rnn_orbit_transient"]),
        keep=int(config["rnn_orbit_keep"]),
    )
    arrays["rnn_orbit_g"] = gs
    arrays["rnn_orbit_flip"] = (odr.states @ Q[:, 2]).reshape(gs.size, -1)
    per = odr.periods(tol=1e-6, max_period=8)
    arrays["rnn_orbit_period"] = per.max(axis=1)
    metrics["rnn_orbit_period_changes"] = [
        [float(gs[i + 1]), int(per[i].max()), int(per[i + 1].max())]
        for i in np.flatnonzero(per.max(axis=1)[1:] != per.max(axis=1)[:-1])
    ]
    arrays["rnn_orbit_radius"] = np.linalg.norm(odr.states @ Q[:, :2], axis=-1).reshape(gs.size, -1)
    metrics["bifurcations"] = {
        "unit": [b.to_dict() for b in d.bifurcations],
        "rnn": [b.to_dict() for b in dr.bifurcations],
    }
    return arrays, metrics


def _n_clusters(values, tol):
    v = np.sort(values[np.isfinite(values)])
    return int(v.size > 0) + int(np.sum(np.diff(v) > tol))


def _stable_on_branch(br, b, w, activation):
    idx = np.flatnonzero((br.params[:-1] - b) * (br.params[1:] - b) <= 0)
    m = UnitMap(w=w, b=b, activation=activation)
    out = []
    for j in idx:
        if not (br.stable[j] and br.stable[j + 1]):
            continue
        s = (b - br.params[j]) / (br.params[j + 1] - br.params[j]) if br.params[j + 1] != br.params[j] else 0
        x = br.states[j, 0] + s * (br.states[j + 1, 0] - br.states[j, 0])
        for _ in range(40):
            x = x - (m.step(np.array([x]))[0] - x) / (m.jacobian(np.array([x]))[0, 0] - 1)
        out.append(x)
    return np.array(out)


def draw(arrays, meta, figdir):
    from dynsys.plotting import new_figure
    from dynsys.plotting.bifurcations import (
        plot_bifurcation_points,
        plot_branches,
        plot_flow_arrows,
        plot_fold_curve,
        plot_multiplier_moduli,
        plot_orbit_diagram,
    )

    cfg = meta["config"]
    stems = []
    # Fig. 3
    fig, (ax, ax2) = new_figure(2, 1, figsize=(6.0, 6.4), sharex=True)
    plot_flow_arrows(ax, arrays["flow_b"], arrays["flow_x"], arrays["flow_sign"], size=0.12)
    plot_branches(
        ax,
        arrays["unit_branch_param"],
        arrays["unit_branch_state"],
        arrays["unit_branch_stable"],
        arrays["unit_branch_id"],
    )
    order = np.argsort(arrays["unit_bif_param"])
    plot_bifurcation_points(
        ax,
        arrays["unit_bif_param"][order],
        arrays["unit_bif_state"][order],
        [TYPES[t] for t in arrays["unit_bif_type"][order]],
        labels=[f"$b_{i + 1}$ = {p:.6f}" for i, p in enumerate(arrays["unit_bif_param"][order])],
        # outside the S: the left fold's label to its left, the right fold's to its right
        offsets=[(-7, 4) if i == 0 else (7, -4) for i in range(len(order))],
    )
    ax.set_ylabel("fixed point $x^*$")
    ax.set_title(f"one {cfg['activation']} unit, $x_t = w\\,\\sigma(x_{{t-1}}) + b$, $w = {cfg['w']:g}$")
    ax.legend(loc="upper left")
    ax.set_ylim(-4.2, 4.2)
    plot_orbit_diagram(ax2, arrays["orbit_b"], arrays["orbit_x"], s=1.5)
    for p in arrays["unit_bif_param"]:
        ax2.axvline(p, color="0.5", lw=0.8, ls=":")
    ax2.set_xlabel("bias $b$")
    ax2.set_ylabel("$x_t$, t > transient")
    ax2.set_title("orbit diagram (brute-force iteration from several $x_0$)")
    save_figure(fig, figdir / "fig3_bifurcation")
    stems.append("fig3_bifurcation")
    # fold curves
    fig, ax = new_figure(1, 1, figsize=(5.6, 4.2))
    wb = arrays["fold_curve_wb"]
    plot_fold_curve(ax, wb, arrays["cusp"])
    ax.axvline(cfg["w"], color="0.5", lw=0.8, ls=":")
    ax.plot(
        np.full(2, cfg["w"]),
        arrays["unit_bif_param"],
        "o",
        mfc="white",
        color="k",
        label="$b_1, b_2$ at $w=5$",
    )
    ax.set_xlabel("$w$")
    ax.set_ylabel("$b$")
    ax.set_title("fold curves of $x \\mapsto w\\sigma(x) + b$: bistable inside the wedge")
    ax.legend(loc="lower left")
    save_figure(fig, figdir / "fig3_fold_curves")
    stems.append("fig3_fold_curves")
    # RNN
    fig, axes = new_figure(3, 1, figsize=(6.0, 7.6), sharex=True)
    pid = arrays["rnn_branch_period"]
    origin = (pid == 1) & (np.abs(arrays["rnn_branch_state"]) < 1e-9)
    plot_branches(
        axes[0],
        arrays["rnn_branch_param"],
        arrays["rnn_branch_state"],
        arrays["rnn_branch_stable"],
        arrays["rnn_branch_id"],
    )
    tnames = [TYPES[t] for t in arrays["rnn_bif_type"]]
    abbr = {"fold": "fold", "branch-point": "BP", "flip": "flip", "neimark-sacker": "NS"}
    plot_bifurcation_points(
        axes[0],
        arrays["rnn_bif_param"],
        arrays["rnn_bif_state"],
        tnames,
        labels=[
            f"{abbr[t]}{' of 2-cycle' if k == 2 else ''}\ng={p:.4f}"
            for t, k, p in zip(tnames, arrays["rnn_bif_period"], arrays["rnn_bif_param"])
        ],
        # off the branches: the flip's label left of the pitchfork, the 2-cycle's below its branch
        offsets=[
            (-7, 5) if t == "flip" else (-7, -5) if k == 2 else (5, 5)
            for t, k in zip(tnames, arrays["rnn_bif_period"])
        ],
    )
    axes[0].set_ylabel("$q_3^T x$ (flip direction)")
    axes[0].set_title(
        f"3-unit tanh RNN, $x \\mapsto g W \\tanh(x)$, $W = Q\\,$diag$(R({cfg['rnn_theta']}), "
        f"-{cfg['rnn_flip']})Q^T$"
    )
    axes[0].legend(loc="lower left")
    axes[0].set_ylim(-2.9, 2.4)  # room below for the 2-cycle's label
    order = np.argsort(arrays["rnn_branch_param"][origin])
    plot_multiplier_moduli(
        axes[1], arrays["rnn_branch_param"][origin][order], arrays["rnn_branch_mu"][origin][order]
    )
    axes[1].set_ylabel("$|\\mu_i|$ at the origin")
    plot_orbit_diagram(axes[2], arrays["rnn_orbit_g"], arrays["rnn_orbit_flip"], s=1.0, color="k")
    plot_orbit_diagram(axes[2], arrays["rnn_orbit_g"], arrays["rnn_orbit_radius"], s=1.0, color="#2ca02c")
    axes[2].set_ylabel("orbit: $q_3^T x$ (black), radius in plane (green)")
    axes[2].set_xlabel("gain $g$")
    for p in arrays["rnn_bif_param"]:
        for a in axes[1:]:
            a.axvline(p, color="0.5", lw=0.8, ls=":")
    save_figure(fig, figdir / "fig3_rnn")
    stems.append("fig3_rnn")
    return stems


def report(arrays, meta):
    cfg = meta["config"]
    m = meta["metrics"]
    lines = [
        "| system | type | period | parameter | located value | closed form | error |",
        "|---|---|---|---|---|---|---|",
    ]
    cf = arrays["unit_folds_closed_form"]
    for t, p, k in zip(arrays["unit_bif_type"], arrays["unit_bif_param"], arrays["unit_bif_period"]):
        exact = cf[np.argmin(np.abs(cf[:, 0] - p)), 0]
        lines.append(
            f"| unit, w={cfg['w']:g} | {TYPES[t]} | {k} | b | {p:.15f} | {exact:.15f} "
            f"(w σ′(x*) = 1) | {abs(p - exact):.1e} |"
        )
    for c in arrays["cusp"]:
        lines.append(
            f"| unit, fold curves | cusp | 1 | (w, b) | ({c[0]:.12f}, {c[1]:.12f}) | (4, −2) "
            f"(σ″(x*) = 0) | {np.hypot(c[0] - 4, c[1] + 2):.1e} |"
        )
    c = cfg["rnn_flip"]
    for t, p, k in zip(arrays["rnn_bif_type"], arrays["rnn_bif_param"], arrays["rnn_bif_period"]):
        name = TYPES[t]
        exact = {("flip", 1): 1.0 / c, ("neimark-sacker", 1): 1.0}.get((name, int(k)))
        cell = f"{exact:.15f}" if exact is not None else "—"
        err = f"{abs(p - exact):.1e}" if exact is not None else "—"
        lines.append(f"| 3-unit RNN | {name} | {k} | gain g | {p:.15f} | {cell} | {err} |")
    lines += [
        "",
        f"Orbit diagram vs stable branches: max distance {m['orbit_vs_branch_max_error']:.1e}; two attractors "
        f"at every b inside [b₁, b₂]: {m['orbit_two_attractors_inside_window']}; one outside: "
        f"{m['orbit_one_attractor_outside_window']}.",
        f"Fold-curve continuation: {m['fold_curve_message']}.",
        "RNN orbit diagram (independent check), observed period changes [g, before, after] (0 = not "
        f"periodic up to 8): {m['rnn_orbit_period_changes']} — expected 1 → 2 at the flip (g = 0.8) and "
        "2 → quasi-periodic at the period-2 Neimark–Sacker point; the origin's own NS at g = 1 happens on an "
        "already unstable fixed point and is invisible to brute-force iteration. Near each bifurcation a multiplier is "
        "close to the unit circle, convergence is slow (critical slowing down), so the brute-force transitions are "
        "blurred by a few grid steps.",
    ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="fig3_bifurcation",
    title="Fig. 3 — bifurcation diagram of one sigmoid unit (and fold curves, and a 3-unit RNN)",
    checks=(
        "Continuation of the fixed points of x ↦ 5σ(x) + b over b ∈ [−3.2, −1.8] (stable solid, unstable "
        "dashed), folds b₁, b₂ vs the closed form wσ′(x*) = 1, orbit diagram as an independent check; "
        "the (w, b) fold curves meeting at the cusp (4, −2); a flip and a Neimark–Sacker bifurcation of a "
        "3-unit tanh RNN at closed-form gains."
    ),
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=30,
)
