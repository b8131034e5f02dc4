"""Hénon basins (a = 1.4, b = 0.3) on 300² and 2000² grids: retire-when-assigned vs the full budget.

Alternatives measured in the same run, single-threaded:

* ``dynsys`` — :func:`dynsys.analysis.basins.basins_of_attraction` (whole chunk of the grid at once, points
  retired as soon as they are assigned, attractors found on the fly).
* ``full budget`` — what one writes first: iterate every grid point for the whole iteration budget
  (``max_steps`` = 1000 here, dynsys' default) with one vectorized ``map.step`` per step, then
  classify the final states (diverged / on the attractor). On 2000² this would take minutes, so it
  is timed on a band of rows and scaled linearly to the whole grid (its cost is exactly linear in
  the number of points: no point ever leaves).

Then cell mapping (:func:`dynsys.analysis.basins.cell_mapping`) on Newton z³ − 1, 400², simple (k = 1)
vs of the k-th iterate (k = 4, 8): time and agreement with direct iteration.

Then the peak memory of a 4000² grid (tracemalloc, which sees numpy's allocations, plus the
process's max RSS). For scale only: the Julia DynamicalSystems ecosystem reported 0.77 s (300²) and
17 s (2000²) on its own machine.

Run: ``python benchmarks/bench_basins.py [--skip-4000]``
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.analysis.basins import DIVERGED, basins_of_attraction, box_grid, cell_mapping, label_agreement  # noqa: E402
from dynsys.maps import HenonMap, NewtonMap  # noqa: E402

BUDGET = 1000
BOX = [(-2.0, 2.0), (-2.0, 2.0)]


def full_budget(map, states, budget=BUDGET, radius=1e10):
    """Iterate all states for the whole budget (no retiring), then label diverged / bounded."""
    X = states.copy()
    for _ in range(budget):
        with np.errstate(all="ignore"):
            X = map.step(X)
    ok = np.all(np.abs(X) < radius, axis=-1)
    return np.where(ok, 0, DIVERGED)


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-4000", action="store_true")
    ap.add_argument("--band", type=int, default=100, help="rows of the 2000² grid timed for the full budget")
    args = ap.parse_args()
    henon = HenonMap(1.4, 0.3)
    print(f"Hénon (1.4, 0.3) on [-2, 2]², budget {BUDGET} steps, single thread")
    print(
        f"{'grid':>7} {'dynsys (s)':>11} {'full budget (s)':>16} {'ratio':>7}  attractors / diverged / undecided / agree"
    )
    for N in (300, 2000):
        grid = box_grid(BOX, N)
        t_ours, res = timed(basins_of_attraction, henon, grid, max_steps=BUDGET)
        S = grid.states()
        if N <= 300:
            t_full, lab = timed(full_budget, henon, S.reshape(-1, 2))
            lab = lab.reshape(N, N)
            scaled = ""
        else:
            band = S[: args.band].reshape(-1, 2)
            t_band, lab = timed(full_budget, henon, band)
            t_full = t_band * N / args.band
            lab = np.vstack([lab.reshape(args.band, N), np.full((N - args.band, N), -9)])
            scaled = f" (timed on {args.band} rows, x{N / args.band:g})"
        mask = lab != -9
        agree = np.mean((res.labels[mask] >= 0) == (lab[mask] >= 0))
        fr = res.fractions
        print(
            f"{N:>5}² {t_ours:>11.2f} {t_full:>16.2f} {t_full / t_ours:>7.1f}  "
            f"{len(res.attractors)} {res.attractors[0].kind} / {fr['diverged']:.4f} / {fr['undecided']:.2e} / "
            f"{100 * agree:.3f}%{scaled}"
        )
        print(f"        mean steps per point until assigned: {res.steps.mean():.1f} (budget {BUDGET})")
    grid, newton = box_grid(BOX, 400), NewtonMap(3)
    t_di, di = timed(basins_of_attraction, newton, grid)
    print(f"Newton z³−1 on [-2, 2]², 400²: direct iteration {t_di:.2f} s; cell mapping of F^k:")
    for k in (1, 4, 8):
        t_cm, cm = timed(cell_mapping, newton, grid, steps_per_cell=k)
        agree = label_agreement(di.labels, cm.labels)[0]
        print(f"    k = {k}: {t_cm:.2f} s, {100 * agree:.2f}% of cells agree with direct iteration")
    if not args.skip_4000:
        N = 4000
        grid = box_grid(BOX, N)
        tracemalloc.start()
        t0 = time.perf_counter()
        res = basins_of_attraction(henon, grid, max_steps=BUDGET)
        dt = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out_mb = (res.labels.nbytes + res.steps.nbytes) / 2**20
        full_states_mb = N * N * 2 * 8 / 2**20
        print(
            f"4000²: {dt:.1f} s (under tracemalloc), peak traced memory {peak / 2**20:.0f} MiB "
            f"(of which result arrays {out_mb:.0f} MiB; the grid's states alone would be {full_states_mb:.0f} MiB), "
            f"process max RSS {rss:.0f} MiB"
        )


if __name__ == "__main__":
    main()
