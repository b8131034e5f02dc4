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

    with ResultStore(args.store, create=False) as store:
        rows = store.rows(args.status)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in (r["metrics"] or {}).items()
            if not isinstance(v, (list, dict))
        )
        print(f"{r['key']}  {r['status']:7s} {r['runner']:18s} {r['config']}  {metrics or r['error'] or ''}")
    print(f"{len(rows)} run(s)")
    return 0
