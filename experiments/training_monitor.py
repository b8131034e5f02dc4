"""The paper's hypothesis on real training runs (issue 15): do gradient spikes coincide with
bifurcations and basin crossings?

§2.2 of the paper (Figs. 4–6) argues that a gradient explodes when an update moves the parameters
across a bifurcation of the network's map, or moves the states across a basin boundary. Here the
argument is tested where it matters: along training runs, with the training monitor
(:mod:`dynsys.training.monitor`, every 25 updates):

- **3-bit flip-flop** (24 tanh units, L = 50): its memories are the attractors of the zero-input map,
  so learning the task *is* creating attractors — bifurcations must happen. Plain SGD learns nothing
  in a short budget here, so the three methods run on Adam (lr 0.01): Adam, Adam with norm clipping
  (Algorithm 1, threshold 1) and Adam with clipping and Ω (eq. 9–10, α = 4).
- **temporal order** (50 tanh units, smart init, L = 50): the paper's protocol, MSGD, MSGD-C and
  MSGD-CR with plain SGD at lr 0.01.

For every run: the pre-clip gradient norm of every update and the clipping events; the fixed points
and 2-cycles of the map under the zero input and under each input symbol, with every fold, flip,
branch point and Neimark–Sacker point located to its update; a fixed batch of 32 probe sequences
whose final states are labelled by the attractor they end on, and the probes that change basin; the
top Lyapunov exponent of the input-driven trajectories. The test (:func:`~dynsys.training.monitor_report`):
spikes (top 1 % of pre-clip norms, plus every clipped update) against events (bifurcations and basin
crossings), the fraction of spikes within ±5 updates of an event and the fraction of events followed
by a spike within 5 updates, each with a p-value from 1000 circular shifts of the event train, per
member and pooled per method.

Profiles: ``default`` (flip-flop 1 seed × 600 updates, temporal order 2 seeds × 1,500 updates: about
two minutes; neither task is learned that fast) and ``long`` (5 seeds; flip-flop 2,400 updates,
temporal order 10,000), whose result is committed (its monitor records, tens of MB, are not). The
flip-flop's budget is what one session could monitor: with Adam-CR its landscape flickers at every
update (Ω holds the multipliers at the unit circle), 100–200 located events per 25 updates, several
seconds of continuation per row. The flip-flop's landscape is restless while
it learns (pairs of fixed points born and lost every few updates, each located by continuation),
which makes its monitor far costlier than its training.
"""

from __future__ import annotations

import numpy as np

from dynsys.io import read_records, save_figure
from dynsys.runs import Experiment
from dynsys.training import RECORD_NAME, MonitorConfig, TrainConfig, monitor_report, train

METHODS = ("msgd", "msgd-c", "msgd-cr")
TASKS = (
    # key, title, TrainConfig fields, names of the three methods in the figure
    (
        "flipflop",
        "3-bit flip-flop (24 units, Adam)",
        dict(task="flipflop_3bit", length=50, n_hidden=24, lr=0.01, optimizer="adam"),
        ("Adam", "Adam-C", "Adam-CR"),
    ),
    (
        "torder",
        "temporal order L = 50 (50 units, SGD)",
        dict(task="temporal_order", length=50, n_hidden=50, lr=0.01),
        ("MSGD", "MSGD-C", "MSGD-CR"),
    ),
)
BASE = dict(batch=20, clip=1.0, alpha=4.0, window=5, top=0.01, n_shifts=1000, every=25)
PROFILES = {
    "default": dict(
        BASE, seeds={"flipflop": [0], "torder": [0, 1]}, updates={"flipflop": 600, "torder": 1500}
    ),
    "long": dict(
        BASE,
        seeds={"flipflop": [0, 1, 2, 3, 4], "torder": [0, 1, 2, 3, 4]},
        updates={"flipflop": 2400, "torder": 10_000},
    ),
}


def _config(config, fields, key) -> TrainConfig:
    return TrainConfig(
        **fields,
        batch=config["batch"],
        updates=config["updates"][key],
        inits=("smart_tanh",),
        methods=METHODS,
        seeds=tuple(config["seeds"][key]),
        clip=config["clip"],
        alpha=config["alpha"],
        eval_every=500,
        eval_sequences=500,
        confirm_sequences=0,
        stop_on_success=False,
    )


def compute(config, ctx):
    arrays, metrics = {}, {}
    for key, _title, fields, _names in TASKS:
        cfg = _config(config, fields, key)
        out = ctx.workdir / key
        h = train(cfg, out, progress=ctx.progress, monitor=MonitorConfig(every=config["every"]))
        rows = read_records(out / RECORD_NAME).rows
        kw = dict(window=config["window"], top=config["top"], n_shifts=config["n_shifts"])
        rep = monitor_report(rows, **kw)
        bif = monitor_report(rows, events="bifurcations", **kw)
        cross = monitor_report(rows, events="crossings", **kw)
        top_only = monitor_report(rows, clipped=False, **kw)
        U = cfg.updates
        K = len(h.members)
        norms = np.full((K, U), np.nan)
        clipped = np.zeros((K, U), dtype=bool)
        for tr in rep.trains:
            norms[tr.member, : tr.n_updates] = tr.norms
            clipped[tr.member, : tr.n_updates] = tr.clipped
        # per row: stable fixed points under zero input, the leading |μ|, crossings, Lyapunov exponent
        R = U // config["every"] + 1
        row_update = np.full((K, R), -1)
        n_stable = np.full((K, R), -1)
        n_fixed = np.full((K, R), -1)
        leading = np.full((K, R), np.nan)
        crossed = np.full((K, R), np.nan)
        lyap = np.full((K, R), np.nan)
        ev_member, ev_update, ev_kind = [], [], []
        cr_member, cr_update = [], []
        kinds = ("fold", "branch-point", "flip", "neimark-sacker")
        for tr in rep.trains:
            for i, r in enumerate(tr.rows[:R]):
                zero = r["landscape"]["conditions"][0]
                row_update[tr.member, i] = r["update"]
                n_stable[tr.member, i] = zero["n_stable_fixed"]
                n_fixed[tr.member, i] = zero["n_fixed"]
                lr = r["landscape"]["leading_radius"]
                leading[tr.member, i] = np.nan if lr is None else lr
                crossed[tr.member, i] = r["probes"]["fraction_crossed"]
                lm = r["probes"]["lyapunov_max"]
                lyap[tr.member, i] = np.nan if lm is None else lm
                for e in r["events"]:
                    ev_member.append(tr.member)
                    ev_update.append(e["update"])
                    ev_kind.append(kinds.index(e["kind"]))
                for t in r["probes"]["crossing_updates"]:
                    cr_member.append(tr.member)
                    cr_update.append(t)
        arrays.update(
            {
                f"{key}_norms": norms,
                f"{key}_clipped": clipped,
                f"{key}_row_update": row_update,
                f"{key}_n_stable": n_stable,
                f"{key}_n_fixed": n_fixed,
                f"{key}_leading": leading,
                f"{key}_crossed": crossed,
                f"{key}_lyapunov": lyap,
                f"{key}_event_member": np.array(ev_member, dtype=np.int64),
                f"{key}_event_update": np.array(ev_update, dtype=np.int64),
                f"{key}_event_kind": np.array(ev_kind, dtype=np.int64),
                f"{key}_crossing_member": np.array(cr_member, dtype=np.int64),
                f"{key}_crossing_update": np.array(cr_update, dtype=np.int64),
                f"{key}_eval_updates": h.eval_updates,
                f"{key}_error": h.error,
            }
        )
        seconds = [r["seconds"] for r in rows]
        metrics[key] = {
            "members": [list(m) for m in h.members],
            "updates": U,
            "final_error": [float(x) for x in h.error[-1]],
            "methods": rep.methods,
            "bifurcations": bif.methods,
            "crossings": cross.methods,
            "top_only": top_only.methods,
            "clip_fraction": {
                meth: float(np.mean([tr.clipped.mean() for tr in rep.trains if tr.method == meth]))
                for meth in METHODS
            },
            "event_kinds": {k: int(sum(1 for e in ev_kind if e == i)) for i, k in enumerate(kinds)},
            "monitor_seconds": float(np.sum(seconds)),
            "rows": len(rows),
        }
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting import COLORS, new_figure, style

    m, c = meta["metrics"], meta["config"]
    with style():
        fig, axes = new_figure(4, 2, figsize=(13.5, 12.5), squeeze=False)
        fig.get_layout_engine().set(wspace=0.08)
        letter = iter("abcdefgh")
        letters = {(r, k): next(letter) for r in range(4) for k in range(2)}
        for col, (key, title, _fields, names) in enumerate(TASKS):
            members = m[key]["members"]
            seed0 = [i for i, mem in enumerate(members) if mem[2] == c["seeds"][key][0]]
            ev_m, ev_u = arrays[f"{key}_event_member"], arrays[f"{key}_event_update"]
            cr_m, cr_u = arrays[f"{key}_crossing_member"], arrays[f"{key}_crossing_update"]
            # row 0: gradient norms of the first seed's members, events and clips marked
            ax = axes[0, col]
            for j, i in enumerate(seed0):
                method = members[i][1]
                norms = arrays[f"{key}_norms"][i]
                u = np.arange(1, norms.size + 1)
                off = 10.0 ** (2 * j)  # members stacked by decades so their traces do not overlap
                ax.plot(
                    u,
                    norms * off,
                    lw=0.5,
                    color=COLORS[method],
                    label=f"{names[METHODS.index(method)]} (×{off:g})",
                )
                cl = arrays[f"{key}_clipped"][i]
                if cl.any():
                    ax.scatter(u[cl], norms[cl] * off, s=5, color=COLORS["unstable"], zorder=3)
                bu = ev_u[ev_m == i]
                if bu.size:
                    ax.scatter(bu, np.interp(bu, u, np.nan_to_num(norms, nan=1.0)) * off * 3, marker="v", s=16,
                               color="k", zorder=4)  # fmt: skip
                cu = np.unique(cr_u[cr_m == i])
                if cu.size:
                    ax.scatter(cu, np.interp(cu, u, np.nan_to_num(norms, nan=1.0)) * off / 3, marker="^", s=10,
                               color=COLORS["saddle"], zorder=4)  # fmt: skip
            ax.set_yscale("log")
            ax.set_xlabel("update")
            ax.set_ylabel("‖∂E/∂θ‖ before clipping (offset)")
            ax.set_title(
                f"({letters[0, col]}) {title}, seed {c['seeds'][key][0]}: ▼ bifurcation, ▲ basin crossing, • clipped",
                fontsize=8,
            )
            ax.legend(fontsize=7, loc="upper left")
            # row 1: stable fixed points of the zero-input map
            ax = axes[1, col]
            for i, mem in enumerate(members):
                ru = arrays[f"{key}_row_update"][i]
                ok = ru >= 0
                ax.plot(ru[ok], arrays[f"{key}_n_stable"][i][ok] + 0.04 * (i - len(members) / 2), lw=0.9,
                        color=COLORS[mem[1]], alpha=0.8)  # fmt: skip
            ax.set_xlabel("update")
            ax.set_ylabel("stable fixed points (u = 0)")
            ax.set_title(f"({letters[1, col]}) attractor count (members jittered)", fontsize=9)
            # row 2: leading |multiplier| and the probes that changed basin
            ax = axes[2, col]
            for i, mem in enumerate(members):
                ru = arrays[f"{key}_row_update"][i]
                ok = ru >= 0
                ax.plot(ru[ok], arrays[f"{key}_leading"][i][ok], lw=0.9, color=COLORS[mem[1]], alpha=0.8)
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_xlabel("update")
            ax.set_ylabel("largest |μ| of the fixed points (u = 0)")
            ax2 = ax.twinx()
            for i, mem in enumerate(members):
                ru = arrays[f"{key}_row_update"][i]
                ok = ru >= 0
                ax2.plot(ru[ok], 100 * arrays[f"{key}_crossed"][i][ok], lw=0.6, ls=":", color=COLORS[mem[1]])
            ax2.set_ylabel("probes changing basin (%, dotted)")
            ax2.grid(False)
            ax.set_title(
                f"({letters[2, col]}) leading multiplier (solid), probes that changed basin since the last row (dotted)",
                fontsize=8,
            )
            # row 3: the table
            ax = axes[3, col]
            ax.axis("off")
            lines = [
                f"{'':9s} {'spikes':>6s} {'events':>6s} {'spike rate':>10s} {'p':>6s} {'event rate':>10s} {'p':>6s}"
            ]
            for what, rep in (
                ("all", m[key]["methods"]),
                ("bif.", m[key]["bifurcations"]),
                ("cross.", m[key]["crossings"]),
            ):
                for method in METHODS:
                    d = rep[method]
                    sr = "n/a" if d["spike_rate"] is None else f"{d['spike_rate']:.3f}"
                    er = "n/a" if d["event_rate"] is None else f"{d['event_rate']:.3f}"
                    lines.append(
                        f"{names[METHODS.index(method)]:7s} {what:6s}{d['n_spikes']:4d} {d['n_events']:6d} {sr:>10s} "
                        f"{d['spike_p']:6.3f} {er:>10s} {d['event_p']:6.3f}"
                    )
            ax.text(
                0.0, 1.0, "\n".join(lines), family="monospace", fontsize=7, va="top", transform=ax.transAxes
            )
            ax.set_title(
                f"({letters[3, col]}) spikes (top {100 * c['top']:g} % + clipped) vs events within ±{c['window']} updates; "
                f"p from {c['n_shifts']} circular shifts, pooled over {len(c['seeds'][key])} seed(s)",
                fontsize=8,
            )
        fig.suptitle(
            "Training monitor: gradient spikes against bifurcations and basin crossings "
            f"(budget: flip-flop {c['updates']['flipflop']:,}, temporal order {c['updates']['torder']:,} updates; "
            f"a row every {c['every']} updates)",
            fontsize=10,
        )
    save_figure(fig, figdir / "training_monitor")
    return ["training_monitor"]


def _fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def report(arrays, meta):
    m, c = meta["metrics"], meta["config"]
    lines = [
        f"Monitor every {c['every']} updates; spikes = top {100 * c['top']:g} % of pre-clip norms + every clipped "
        f"update; window ±{c['window']} updates; p-values from {c['n_shifts']} circular shifts; seeds "
        f"(flip-flop {c['seeds']['flipflop']}, temporal order {c['seeds']['torder']}) pooled per method.",
        "",
        "| task | method | updates | spikes | bifurcations | crossings | spike rate (p) | event rate (p) "
        "| bifurcations only: spike rate (p) | crossings only: spike rate (p) | clipped updates "
        "| top 1 % only: spike rate (p) | final error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, title, _fields, names in TASKS:
        mk = m[key]
        for j, method in enumerate(METHODS):
            d, b, x = mk["methods"][method], mk["bifurcations"][method], mk["crossings"][method]
            t = mk["top_only"][method]
            err = [e for (_, me, _), e in zip(mk["members"], mk["final_error"]) if me == method]
            lines.append(
                f"| {title} | {names[j]} | {d['n_updates']:,} | {d['n_spikes']} | {d['n_bifurcations']} | "
                f"{d['n_crossings']} | {_fmt(d['spike_rate'])} ({d['spike_p']:.3g}) | "
                f"{_fmt(d['event_rate'])} ({d['event_p']:.3g}) | {_fmt(b['spike_rate'])} ({b['spike_p']:.3g}) | "
                f"{_fmt(x['spike_rate'])} ({x['spike_p']:.3g}) | {100 * mk['clip_fraction'][method]:.1f} % | "
                f"{_fmt(t['spike_rate'])} ({t['spike_p']:.3g}) | {100 * np.mean(err):.1f} % |"
            )
    lines.append("")
    for key, title, *_ in TASKS:
        k = m[key]["event_kinds"]
        lines.append(
            f"{title}: events by kind {', '.join(f'{n} {kind}' for kind, n in k.items())}; monitor time "
            f"{m[key]['monitor_seconds']:.1f} s over {m[key]['rows']} rows."
        )
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="training_monitor",
    title="Training monitor — gradient spikes against bifurcations and basin crossings along real training runs",
    checks="trains a 24-unit tanh RNN on the 3-bit flip-flop (Adam, with and without clipping and Ω) and the paper's "
    "50-unit RNN on temporal order (MSGD, MSGD-C, MSGD-CR) with the training monitor, and tests whether gradient "
    "spikes coincide with bifurcations of the fixed points and 2-cycles (under every input symbol) or with probe "
    "sequences changing basin: coincidence rates against a circular-shift null.",
    profiles=PROFILES,
    compute=compute,
    draw=draw,
    report=report,
    order=74,
)
