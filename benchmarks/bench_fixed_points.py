"""Fixed points of a 64-unit tanh RNN: batched Newton (dynsys) vs a loop of scipy.optimize.root.

Also times the continuation of the paper's Fig. 3 branch (one sigmoid unit, w = 5,
b ∈ [−3.2, −1.8]) including the location of both folds.

Run: ``python benchmarks/bench_fixed_points.py`` (single-threaded BLAS).

Where the time goes (n = 64, 1024 starts): ~10.7k batched 64×64 LU solves (~40 µs each, ~70 %
of the run) — every start needs ~7 damped Newton iterations of global phase before the first root
is even known (the Jacobians along the way have σ_min ≈ 0.01–0.07), so ~7.2k solves are a floor
for any Newton-type method on these starts; the per-start scipy loop costs ~3–4 ms per start.
Matrix-free GMRES/BiCGSTAB (all products as one GEMM) need 20–60 Krylov steps here and were
slower than the LU solves; so the 20× target is not reached (≈ 4.5–5× measured).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import root  # noqa: E402

from dynsys.bifurcations import locate_bifurcations  # noqa: E402
from dynsys.continuation import continue_branch, parameter_path  # noqa: E402
from dynsys.fixed_points import _dedup, _default_starts, find_fixed_points, newton_solve  # noqa: E402
from dynsys.maps import RNNMap, UnitMap  # noqa: E402

N, GAIN, STARTS, SEED = 64, 1.5, 1024, 0
REPEATS = 3


def distinct(x, tol=1e-6):
    return 0 if len(x) == 0 else len(_dedup(np.asarray(x), np.zeros(len(x)), tol))


def scipy_loop(m, starts, jac=True):
    eye = np.eye(m.dim)
    f = lambda x: m.step(x) - x  # noqa: E731
    J = (lambda x: m.jacobian(x) - eye) if jac else None
    sols = []
    for s in starts:
        r = root(f, s, jac=J, method="hybr")
        if r.success and np.linalg.norm(f(r.x)) < 1e-10:
            sols.append(r.x)
    return np.array(sols).reshape(-1, m.dim)


def best_of(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    rng = np.random.default_rng(SEED)
    W = GAIN * rng.standard_normal((N, N)) / np.sqrt(N)
    m = RNNMap(W)
    starts = _default_starts(m, None, STARTS, np.random.default_rng(SEED), 30, 1)
    print(f"{N}-unit tanh RNN, W_rec = {GAIN}·N(0, 1/n), {len(starts)} starts (half from trajectories)")
    print(
        f"  (medians of {REPEATS} interleaved runs; the machine may be shared, so both sides share its noise)"
    )

    # interleave the two sides so that background load hits both alike
    t_newton, t_scipy = [], []
    for _ in range(REPEATS):
        t, (x, res, conv) = timed(lambda: newton_solve(m, starts))
        t_newton.append(t)
        t, sols = timed(lambda: scipy_loop(m, starts, jac=True))
        t_scipy.append(t)
    t_newton, t_scipy = float(np.median(t_newton)), float(np.median(t_scipy))
    n_newton = distinct(x[conv])
    n_scipy = distinct(sols)
    worst = float(np.max(np.linalg.norm(m.step(x[conv]) - x[conv], axis=-1))) if conv.any() else float("nan")
    t_full, fp = best_of(lambda: find_fixed_points(m, starts=starts), 1)
    sub = starts[:128]
    t_nojac, sols_nj = best_of(lambda: scipy_loop(m, sub, jac=False), 1)
    t_nojac_full = t_nojac * len(starts) / len(sub)

    print(
        f"  dynsys batched Newton        : {t_newton:7.3f} s  converged {int(conv.sum()):4d}/{len(starts)}, "
        f"distinct fixed points {n_newton}, max residual {worst:.1e}"
    )
    print(
        f"  dynsys find_fixed_points     : {t_full:7.3f} s  (Newton + dedup + Jacobians/stability), {len(fp)} points "
        f"{fp.stability}, max residual {float(np.max(fp.residual)):.1e}"
    )
    print(
        f"  scipy.optimize.root loop, jac: {t_scipy:7.3f} s  converged {len(sols):4d}/{len(starts)}, "
        f"distinct fixed points {n_scipy}"
    )
    print(
        f"  scipy.optimize.root loop, FD : {t_nojac_full:7.3f} s  (extrapolated from {len(sub)} starts: "
        f"{t_nojac:.3f} s, {len(sols_nj)} converged)"
    )
    print(
        f"  speed-up vs scipy with analytic Jacobian: {t_scipy / t_newton:5.1f}x "
        f"(target >= 20x); vs scipy with FD Jacobian: {t_nojac_full / t_newton:5.1f}x"
    )
    print(
        f"  distinct fixed points: dynsys {n_newton} vs scipy {n_scipy} "
        f"({'OK' if n_newton >= n_scipy else 'FEWER'})"
    )

    # where the batched solver stands against the per-start loop as n changes (same recipe,
    # 256 starts): the loop is dominated by Python/MINPACK overhead (flat in n), the batched
    # Newton by the O(n³) LU solves of its ~12 iterations per start
    print("  scaling (256 starts, medians of 3): n, dynsys s, scipy s, ratio, distinct dynsys/scipy")
    for n in (16, 32, 64):
        Wn = GAIN * np.random.default_rng(SEED).standard_normal((n, n)) / np.sqrt(n)
        mn = RNNMap(Wn)
        sn = _default_starts(mn, None, 256, np.random.default_rng(SEED), 30, 1)
        tn, ts = [], []
        for _ in range(REPEATS):
            t, (xn, _r, cn) = timed(lambda: newton_solve(mn, sn))  # noqa: B023
            tn.append(t)
            t, soln = timed(lambda: scipy_loop(mn, sn, jac=True))  # noqa: B023
            ts.append(t)
        tn, ts = float(np.median(tn)), float(np.median(ts))
        print(f"    {n:3d}  {tn:7.3f}  {ts:7.3f}  {ts / tn:5.1f}x  {distinct(xn[cn])}/{distinct(soln)}")

    # Fig. 3 continuation including both folds
    unit = UnitMap(w=5.0, b=-3.2)
    path = parameter_path(unit, "b")
    x0 = find_fixed_points(unit).states[0]

    def fig3():
        br = continue_branch(path, x0, -3.2, (-3.2, -1.8), direction=+1)
        return br, locate_bifurcations(br)

    t_cont, (br, bifs) = best_of(fig3, 5)
    print(
        f"Fig. 3 continuation (w = 5, b in [-3.2, -1.8]): {t_cont * 1e3:.1f} ms for {len(br)} points and "
        f"{len(bifs)} folds at b = {', '.join(f'{b.param:.12f}' for b in bifs)} (target < 200 ms)"
    )


if __name__ == "__main__":
    main()
