"""``dynsys sweep CONFIG.toml``: run a grid of configs, resumably, locally or on Dask."""

from __future__ import annotations

NAME = "sweep"
HELP = "run a sweep (TOML) on a local process pool or a Dask cluster; reruns skip finished runs"


def add_arguments(p):
    from ..runs.sweep import EXECUTORS, run_sweep
    from ._common import library_default

    p.add_argument("config", metavar="CONFIG.toml", help="sweep file: [sweep] runner/store, [base], [grid]")
    p.add_argument("--store", default=None, help="result store (default: [sweep].store, beside the TOML)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=library_default(run_sweep, "executor"),
        help="local process pool (default) or dask (a LocalCluster unless --scheduler)",
    )
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="an existing Dask scheduler")
    p.add_argument("--no-retry-failed", action="store_true", help="do not rerun runs that failed before")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    import sys

    from .._validate import check_positive_int
    from ..io.files import check_writable_output
    from ..runs.sweep import load_sweep, run_sweep
    from ._common import print_json

    if args.workers is not None:
        check_positive_int(args.workers, "--workers")
    spec = load_sweep(args.config, store=args.store)
    check_writable_output(spec.store, "--store" if args.store else f"{args.config}: [sweep] store")
    s = run_sweep(
        spec,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        retry_failed=not args.no_retry_failed,
        progress=not args.no_progress,
    )
    summary = {
        "store": str(s.store),
        "total": s.total,
        "done": s.done,
        "failed": s.failed,
        "skipped": s.skipped,
        "seconds": round(s.seconds, 3),
        "errors": s.errors,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{s.total} runs: {s.done} done now, {s.skipped} already done, {s.failed} failed "
            f"({s.seconds:.1f} s) -> {s.store}"
        )
        for key, err in s.errors.items():
            print(f"  failed {key}: {err}")
    if s.failed:  # a sweep with failed runs is not a success: say so on stderr, exit 1
        print(
            f"dynsys sweep: {s.failed} of {s.total} runs failed "
            f"(details: dynsys results {s.store} --status failed)",
            file=sys.stderr,
        )
        return 1
    return 0
