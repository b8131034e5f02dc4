"""``dynsys results STORE``: list the runs of a sweep store."""

from __future__ import annotations

NAME = "results"
HELP = "show the runs in a sweep result store"


def add_arguments(p):
    from ..runs.store import STATUSES

    p.add_argument("store", metavar="STORE", help="the .sqlite result store of a sweep")
    p.add_argument("--status", choices=STATUSES, default=None, help="only the runs with this status")
    p.add_argument("--json", action="store_true", help="print all rows as JSON")


def run(args) -> int:
    from ..runs.store import ResultStore
    from ._common import print_json

    with ResultStore(args.store, create=False) as store:  # read-only: reading never writes
        rows = store.rows(args.status)
    if args.json:
        print_json(rows)
        return 0
    varying = _varying_keys([r["config"] for r in rows])
    for r in rows:
        config = " ".join(f"{k}={_short(r['config'].get(k))}" for k in varying)
        print(f"{r['key'][:12]}  {r['status']:7s} {r['runner']:17s} {config}  {_metrics(r)}".rstrip())
    counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(
        f"{len(rows)} run(s){': ' + tally if tally else ''}"
        + (f"; same for all: {_same(rows, varying)}" if rows else "")
    )
    return 0


#: metrics shown first when a runner reports them (the rest follow in their own order)
_FIRST = ("solved", "solved_at", "zero_error_at", "error", "best_error", "loss", "updates_done", "lyapunov")


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_short(x) for x in v) if len(v) <= 4 else f"[{len(v)} values]"
    if isinstance(v, dict):
        return "{…}"
    return str(v)


def _varying_keys(configs) -> list[str]:
    """The config keys whose values differ between runs (what tells the rows apart)."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    if len(configs) <= 1:
        return [k for k in keys if k in ("task", "length", "inits", "methods", "seeds", "r")][:6]
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def _same(rows, varying) -> str:
    first = rows[0]["config"]
    fixed = [k for k in first if k not in varying]
    shown = ", ".join(f"{k}={_short(first[k])}" for k in fixed[:6])
    return shown + (f" (+{len(fixed) - 6} more; --json shows all)" if len(fixed) > 6 else "")


def _metrics(row) -> str:
    if row["status"] == "failed":
        return f"error: {(row['error'] or '').splitlines()[-1][:120] if row['error'] else '?'}"
    m = {k: v for k, v in (row["metrics"] or {}).items() if not isinstance(v, (list, dict))}
    order = [k for k in _FIRST if k in m] + [k for k in m if k not in _FIRST]
    parts = [f"{k}={_short(m[k])}" for k in order[:6]]
    if row.get("seconds") is not None:
        parts.append(f"{row['seconds']:.1f}s")
    return " ".join(parts)
