"""``dynsys monitor RUN_DIR``: do gradient spikes coincide with bifurcations and basin crossings?"""

from __future__ import annotations

NAME = "monitor"
HELP = (
    "test a monitored run (dynsys train --monitor): gradient spikes against bifurcations and basin crossings"
)


def add_arguments(p):
    from ..training.report import EVENT_KINDS, monitor_report
    from ._common import library_default

    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by dynsys train --monitor")
    p.add_argument(
        "--window",
        type=int,
        default=library_default(monitor_report, "window"),
        help="Δ: a spike and an event coincide within ±Δ updates (default %(default)s)",
    )
    p.add_argument(
        "--top",
        type=float,
        default=library_default(monitor_report, "top"),
        help="fraction of the largest pre-clip gradient norms that are spikes; clipped updates always are "
        "(default %(default)s)",
    )
    p.add_argument(
        "--shifts",
        type=int,
        default=library_default(monitor_report, "n_shifts"),
        help="circular shifts of the event train for the p-values, at least 100 (default %(default)s)",
    )
    p.add_argument(
        "--events",
        choices=EVENT_KINDS,
        default=library_default(monitor_report, "events"),
        help="which events: bifurcations, basin crossings or both (default %(default)s)",
    )
    p.add_argument(
        "--no-clipped",
        action="store_true",
        help="spikes are the top norms only, not also every clipped update (when clipping is frequent)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the shifts (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _fmt(v, spec=".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def run(args) -> int:
    from pathlib import Path

    from ..errors import DynsysError
    from ..io import read_records
    from ..training.monitor import RECORD_NAME
    from ..training.report import monitor_report
    from ._common import print_json

    folder = Path(args.run_dir)
    if not folder.is_dir():
        raise DynsysError(f"RUN_DIR: {folder} is not a folder")
    path = folder / RECORD_NAME
    if not path.exists():
        raise DynsysError(f"RUN_DIR: {folder} has no monitor record ({RECORD_NAME}); train it with --monitor")
    if args.window < 0:
        raise DynsysError(f"--window must be >= 0, got {args.window}")
    if not 0.0 <= args.top <= 1.0:
        raise DynsysError(f"--top must be in [0, 1], got {args.top}")
    rec = read_records(path, name="monitor record")
    if not rec.rows:
        raise DynsysError(f"RUN_DIR: the monitor record {path} has no rows")
    rep = monitor_report(
        rec.rows,
        window=args.window,
        top=args.top,
        n_shifts=args.shifts,
        events=args.events,
        clipped=not args.no_clipped,
        rng=args.seed,
    )
    if args.json:
        out = rep.to_dict()
        out["record"] = {"path": str(path), "rows": len(rec.rows), "dropped_tail": rec.dropped_tail}
        print_json(out)
        return 0
    if rec.dropped_tail:
        print(
            f"note: the record's last line was torn (an interrupted write) and is ignored; {len(rec.rows)} rows read"
        )
    o = rep.options
    print(
        f"spikes: top {o['top']:.2%} of pre-clip norms{' + clipped updates' if o['clipped'] else ''}; "
        f"events: {o['events']}; "
        f"window ±{o['window']} updates; p-values from {o['n_shifts']} circular shifts"
    )
    head = f"{'':22s} {'updates':>8s} {'spikes':>7s} {'events':>7s} {'spike rate':>10s} {'p':>7s} {'event rate':>10s} {'p':>7s}"
    print(head)

    def line(name, d):
        print(
            f"{name:22s} {d['n_updates']:8d} {d['n_spikes']:7d} {d['n_events']:7d} {_fmt(d['spike_rate']):>10s} "
            f"{_fmt(d['spike_p'], '.4f'):>7s} {_fmt(d['event_rate']):>10s} {_fmt(d['event_p'], '.4f'):>7s}"
            + ("" if d["message"] == "ok" else f"  ({d['message']})")
        )

    for method, d in rep.methods.items():
        line(f"{method} (pooled, {d['n_members']})", d)
    for d in rep.members:
        line(f"  member {d['member']} {d['method']} s{d['seed']}", d)
    return 0
