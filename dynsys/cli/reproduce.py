"""``dynsys reproduce``: every figure of the paper and ours, with REPORT.md."""

from __future__ import annotations

NAME = "reproduce"
HELP = "regenerate every figure into figures/ and write figures/REPORT.md"


def add_arguments(p):
    from ..runs.reproduce import PROFILES
    from ..runs.reproduce import run as run_all
    from ._common import library_default

    p.add_argument(
        "--profile",
        default=library_default(run_all, "profile"),
        choices=PROFILES,
        help="problem sizes: default fits minutes on a laptop; paper is the full protocol",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--force", action="store_true", help="recompute even if a result with the same config exists"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=library_default(run_all, "jobs"),
        help="worker processes (default %(default)s)",
    )
    p.add_argument(
        "--scheduler", default=None, metavar="tcp://HOST:PORT", help="a Dask scheduler to run sweeps on"
    )
    p.add_argument(
        "--root", default=None, help="the dynsys checkout (default: found from the current folder)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from .._validate import check_positive_int
    from ..runs.reproduce import discover, find_root
    from ..runs.reproduce import run as run_all

    check_positive_int(args.jobs, "--jobs")
    if args.list:
        for e in discover(find_root(args.root)):
            print(f"{e.name:24s} {e.title}")
        return 0
    path = run_all(
        args.root,
        profile=args.profile,
        only=args.only,
        force=args.force,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(f"report: {path}")
    return 0
