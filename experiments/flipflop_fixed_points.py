"""The 3-bit flip-flop (Sussillo & Barak 2013): how three trained networks hold 3 bits.

Each network is trained (with :func:`dynsys.training.train`, Adam, norm clipping) to hold the sign
of the last ±1 pulse on each of 3 input channels. With zero input — holding — the memory of a
network is whatever its autonomous map keeps: stable fixed points, stable periodic orbits, or slow
points that only delay forgetting. For each network we find, from the states visited on task
sequences:

- the **fixed points** of the autonomous map (:func:`~dynsys.analysis.equilibria.find_fixed_points`,
  which draws midpoint starts to find the saddles between memories), each stable one labelled by
  the bit pattern the readout gives it;
- the **attractors actually reached**: every task sequence's final state is run freely for
  10,000 steps; the smallest period p ≤ 12 that these end states repeat with, and the stable
  period-p points found by Newton on ``F^p`` from them;
- the **slow points** (:func:`~dynsys.analysis.equilibria.find_slow_points`: local minima of
  ``q = ½‖F(x) − x‖²`` that are not roots);
- the **retention**: how many of the 8 bit patterns the free-running states still read out after
  10, 100, 1,000 and 10,000 steps — 8 throughout when the memories are attractors, fewer when they
  are slow points that a long hold forgets.

The three networks: the small tanh RNN of Sussillo & Barak (24 units), a GRU of the same size (a
gated cell, :mod:`dynsys.maps.gated`), and a larger tanh RNN (100 units). The data decide what each
uses; nothing in the analysis assumes 8 stable fixed points.
"""

from __future__ import annotations

import numpy as np

from dynsys.io import save_figure
from dynsys.runs import Experiment
from dynsys.training import TrainConfig, get_task, train

BASE = dict(
    n_hidden=24,
    big_hidden=100,
    length=100,
    batch=32,
    lr=0.01,
    optimizer="adam",
    clip=1.0,
    seed=0,
    n_starts=512,
)
PROFILES = {
    "default": dict(BASE, updates=4000, big_updates=3000, eval_every=500),
    "long": dict(BASE, updates=20_000, big_updates=20_000, eval_every=1000),
}
#: the networks: (key, title, cell, init, hidden-size key, updates key)
NETS = (
    ("rnn", "tanh RNN", "rnn", "basic_tanh", "n_hidden", "updates"),
    ("gru", "GRU", "gru", "pytorch", "n_hidden", "updates"),
    ("big", "larger tanh RNN", "rnn", "basic_tanh", "big_hidden", "big_updates"),
)
RETENTION_STEPS = (0, 10, 100, 1000, 10_000)
MAX_PERIOD = 12


def _train(config, ctx, key, cell, init, n_key, u_key):
    cfg = TrainConfig(
        task="flipflop_3bit",
        length=config["length"],
        n_hidden=config[n_key],
        batch=config["batch"],
        updates=config[u_key],
        lr=config["lr"],
        optimizer=config["optimizer"],
        clip=config["clip"],
        cell=cell,
        inits=(init,),
        methods=("msgd-c",),
        seeds=(config["seed"],),
        eval_every=config["eval_every"],
        eval_sequences=500,
        confirm_sequences=0,
        stop_on_success=False,
        checkpoint_every=config["eval_every"],
    )
    return train(cfg, ctx.workdir / key, progress=ctx.progress)


def _patterns(net, states) -> int:
    """Distinct bit patterns (readout signs) the states read out."""
    return len({tuple(p) for p in np.sign(net.readout(states)).astype(int)})


def _period_of(net, x, u, tol=1e-8) -> int:
    """The smallest p ≤ MAX_PERIOD with ``F^p(x) = x`` for every row of ``x`` (0: none)."""
    y = x
    for p in range(1, MAX_PERIOD + 1):
        y = net.step(y, u)
        if np.max(np.abs(y - x)) < tol:
            return p
    return 0


def analyse(net, seed: int, n_starts: int):
    """Fixed points, reached attractors, slow points and retention of one trained network."""
    from dynsys.analysis.equilibria import STABILITY_CLASSES, find_fixed_points, find_slow_points
    from dynsys.maps import iterate

    task = get_task("flipflop_3bit")
    batch = task.generate(np.random.default_rng([seed, 7]), 200, 256)
    traj = iterate(net, np.zeros((256, net.dim)), inputs=batch.inputs)
    visited = traj.states[1:].reshape(-1, net.dim)
    rng = np.random.default_rng(seed)
    starts = visited[rng.choice(len(visited), size=min(n_starts, len(visited)), replace=False)]
    u0 = np.zeros(3)
    fp = find_fixed_points(net, u=u0, starts=starts, rng=rng)
    codes = np.array([STABILITY_CLASSES.index(s) for s in fp.stability], dtype=int)
    # retention: free-run the end states of the task sequences
    x = traj.states[-1]
    retention, done = [], 0
    for k in RETENTION_STEPS:
        for _ in range(k - done):
            x = net.step(x, u0)
        done = k
        retention.append(_patterns(net, x))
    period = _period_of(net, x, u0)
    if period > 1:
        orbit = find_fixed_points(net, u=u0, period=period, starts=np.concatenate([x, starts]), rng=rng)
        stable = np.array([s == "stable" for s in orbit.stability], dtype=bool)
        per_states, per_mult = orbit.states[stable], np.abs(orbit.multipliers[stable, 0])
    else:
        per_states, per_mult = np.zeros((0, net.dim)), np.zeros(0)
    sp = find_slow_points(net, u=u0, starts=starts[: max(64, n_starts // 4)], rng=rng, q_max=1e-3)
    slow = sp.states[~sp.converged]
    stable_fp = fp.states[codes == 0]
    # 2-D projection: PCA of the visited hidden states
    hv = net.hidden(visited)
    mu = hv.mean(axis=0)
    _, _, vt = np.linalg.svd(hv - mu, full_matrices=False)

    def proj(s):
        return (net.hidden(s) - mu) @ vt[:2].T if len(s) else np.zeros((0, 2))

    arrays = {
        "fp_proj": proj(fp.states),
        "fp_codes": codes,
        "fp_residual": fp.residual,
        "fp_mult": np.abs(fp.multipliers[:, 0]) if len(fp) else np.zeros(0),
        "slow_proj": proj(slow),
        "slow_q": sp.q[~sp.converged],
        "periodic_proj": proj(per_states),
        "periodic_mult": per_mult,
        "traj_proj": proj(traj.states[:, :8].reshape(-1, net.dim)),
        "retention": np.array(retention),
    }
    metrics = {
        "n_fixed": len(fp),
        "n_stable": int((codes == 0).sum()),
        "n_saddle": int((codes == 1).sum()),
        "stable_patterns": _patterns(net, stable_fp) if len(stable_fp) else 0,
        "max_residual": float(np.max(fp.residual, initial=0.0)),
        "attractor_period": period,
        "n_stable_periodic": len(per_states),
        "periodic_patterns": _patterns(net, per_states) if len(per_states) else 0,
        "n_slow": len(slow),
        "retention": retention,
    }
    return arrays, metrics


def compute(config, ctx):
    arrays, metrics = {"retention_steps": np.array(RETENTION_STEPS)}, {}
    for key, _title, cell, init, n_key, u_key in NETS:
        h = _train(config, ctx, key, cell, init, n_key, u_key)
        a, m = analyse(h.member_map(0), config["seed"], config["n_starts"])
        arrays.update({f"{key}_{k}": v for k, v in a.items()})
        arrays[f"{key}_error"], arrays[f"{key}_eval_updates"] = h.error[:, 0], h.eval_updates
        m["final_error"], m["final_loss"] = float(h.error[-1, 0]), float(h.loss[-1, 0])
        m["n_hidden"] = config[n_key]
        metrics[key] = m
    return arrays, metrics


def _summary(title, m) -> str:
    what = f"{m['n_stable']} stable fixed points ({m['stable_patterns']} patterns)"
    if m["attractor_period"] > 1:
        what += f", stable period-{m['attractor_period']} orbits ({m['periodic_patterns']} patterns)"
    elif m["retention"][-1] < 8 and m["n_slow"]:
        what += f", {m['n_slow']} slow points"
    return f"{title} (n={m['n_hidden']}): {what}"


def draw(arrays, meta, figdir):
    from dynsys.plotting import COLORS, new_figure

    m = meta["metrics"]
    fig, axes = new_figure(2, 3, figsize=(13, 7.6))
    for j, (key, title, *_rest) in enumerate(NETS):
        ax = axes[0, j]
        tp = arrays[f"{key}_traj_proj"]
        ax.scatter(tp[:, 0], tp[:, 1], s=1, color="0.6", alpha=0.4, linewidths=0, label="visited states")
        p, c = arrays[f"{key}_fp_proj"], arrays[f"{key}_fp_codes"]
        for code, name, mk in ((0, "stable", "o"), (1, "saddle", "x"), (2, "unstable", "s")):
            sel = c == code
            if sel.any():
                ax.scatter(*p[sel].T, marker=mk, s=36, color=COLORS.get(name, "k"),
                           label=f"{name} fixed ({int(sel.sum())})", zorder=3)  # fmt: skip
        per = arrays[f"{key}_periodic_proj"]
        if len(per):
            ax.scatter(*per.T, marker="D", s=22, facecolors="none", edgecolors="C4", zorder=4,
                       label=f"stable period-{m[key]['attractor_period']} ({len(per)})")  # fmt: skip
        slow = arrays[f"{key}_slow_proj"]
        if len(slow):
            ax.scatter(*slow.T, marker="^", s=22, color="C1", zorder=4, label=f"slow points ({len(slow)})")
        ax.set_xlabel("PC 1 of hidden state")
        ax.set_ylabel("PC 2")
        ax.set_title(f"{title}, n={m[key]['n_hidden']} (u = 0)")
        leg = ax.legend(loc="best", fontsize=7)
        leg.legend_handles[0].set_sizes([12])
    ax = axes[1, 0]
    steps = np.maximum(arrays["retention_steps"], 1)
    for i, (key, title, *_rest) in enumerate(NETS):  # distinct markers and dashes: equal curves stay visible
        ax.plot(steps, arrays[f"{key}_retention"], marker="osD"[i], ms=9 - 2.5 * i, ls=("-", "--", ":")[i],
                label=title)  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(0, 8.5)
    ax.set_xlabel("free-running steps after the task (u = 0; step 0 plotted at 1)")
    ax.set_ylabel("bit patterns still read out (of 8)")
    ax.set_title("memory retention")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for key, title, *_rest in NETS:
        ax.plot(arrays[f"{key}_eval_updates"], 100 * arrays[f"{key}_error"], marker="o", ms=3, label=title)
    ax.set_xlabel("update")
    ax.set_ylabel("sequences with any wrong step (%)")
    ax.set_title("error during training (Adam + clipping)")
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    for i, (key, title, *_rest) in enumerate(NETS):
        groups = (
            ("stable fixed", arrays[f"{key}_fp_mult"][arrays[f"{key}_fp_codes"] == 0]),
            ("stable periodic", arrays[f"{key}_periodic_mult"]),
        )
        for g, (name, vals) in enumerate(groups):
            if len(vals):
                xs = np.full(len(vals), i + 0.15 * (2 * g - 1))
                ax.scatter(xs, vals, s=12, marker="oD"[g], color=f"C{i}", label=f"{title}: {name}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(NETS)), [t for _, t, *_ in NETS])
    ax.set_ylabel("leading |multiplier| of F^p")
    ax.set_title("how stable the memories are")
    ax.legend(fontsize=7)
    fig.suptitle(
        "3-bit flip-flop memories — " + "; ".join(_summary(t, m[k]) for k, t, *_ in NETS), fontsize=9
    )
    save_figure(fig, figdir / "flipflop_fixed_points")
    return ["flipflop_fixed_points"]


def report(arrays, meta):
    m, c = meta["metrics"], meta["config"]
    lines = [
        f"Trained {c['updates']:,} updates (larger RNN: {c['big_updates']:,}), Adam lr {c['lr']}, clip "
        f"{c['clip']}, L = {c['length']}, batch {c['batch']}, seed {c['seed']}.",
        "",
        "| network | final error | stable fixed points (patterns) | saddles | reached attractors "
        "| slow points | patterns kept after 10 / 100 / 1,000 / 10,000 free steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, title, *_rest in NETS:
        r = m[key]
        p = r["attractor_period"]
        att = (
            f"period {p}: {r['n_stable_periodic']} stable points ({r['periodic_patterns']} patterns)"
            if p > 1
            else ("fixed points" if p == 1 else f"no period ≤ {MAX_PERIOD}")
        )
        kept = " / ".join(str(v) for v in r["retention"][1:])
        lines.append(
            f"| {title} (n={r['n_hidden']}) | {100 * r['final_error']:.1f} % | {r['n_stable']} "
            f"({r['stable_patterns']}) | {r['n_saddle']} | {att} | {r['n_slow']} | {kept} |"
        )
    worst = max(m[k]["max_residual"] for k, *_ in NETS)
    lines += ["", f"Max fixed-point residual {worst:.2e}."]
    for key, title, *_rest in NETS:
        r = m[key]
        if r["retention"][-1] < r["retention"][1]:
            lines.append(
                f"The {title} holds {r['retention'][1]} patterns for the task's holds but only "
                f"{r['retention'][-1]} after 10,000 free steps: {r['retention'][1] - r['retention'][-1]} of its "
                "memories are no attractor of the autonomous map; the state drifts slowly enough to outlast the "
                f"training sequences (slow points with q ≤ 1e-3 found: {r['n_slow']})."
            )
        if r["attractor_period"] > 1 and r["n_stable"] == 0:
            lines.append(
                f"The {title} has no stable fixed point: its {r['periodic_patterns']} memories are stable "
                f"period-{r['attractor_period']} orbits."
            )
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="flipflop_fixed_points",
    title="3-bit flip-flop — fixed points, periodic memories and slow points of a tanh RNN, a GRU and a larger RNN",
    checks="trains a 24-unit tanh RNN, a 24-unit GRU and a 100-unit tanh RNN on the 3-bit flip-flop (Sussillo & "
    "Barak 2013) and finds how each holds 3 bits: stable fixed points (8 expected for the small RNN), stable "
    "periodic orbits, or slow points that forget on long holds.",
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=72,
)
