"""Benchmark: loss + exact gradient of the one-unit model (eq. 8) on a 1000×1000 (w, b) grid, T = 50,
against the floor of evaluating σ 50 times on the same grid (same run). Target: ≤ 3× the floor.

Also times the Hessian pass and a per-point Python loop (extrapolated from a sample), the
alternative a user without a vectorized implementation would write.

Run: ``python benchmarks/bench_surface.py``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.activations import get_activation  # noqa: E402
from dynsys.analysis.walls import unit_loss  # noqa: E402

N, T = 1000, 50


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    w, b = np.meshgrid(np.linspace(4.2, 5.4, N), np.linspace(-2.8, -2.0, N), indexing="ij")
    sig = get_activation("sigmoid")

    def floor():
        x = np.full(w.shape, 0.5)
        for _ in range(T):
            x = sig.fn(x)
        return x

    t_floor = best_of(floor)
    t_grad = best_of(lambda: unit_loss(w, b, T=T, order=1))
    t_loss = best_of(lambda: unit_loss(w, b, T=T, order=0))
    t_hess = best_of(lambda: unit_loss(w, b, T=T, order=2), repeat=1)

    def python_loop(m=2000):
        ws, bs = w.ravel()[:m], b.ravel()[:m]
        for wi, bi in zip(ws, bs):
            x, p, q = 0.5, 0.0, 0.0
            for _ in range(T):
                s = 1.0 / (1.0 + np.exp(-x))
                a = wi * s * (1 - s)
                p, q, x = s + a * p, 1.0 + a * q, wi * s + bi
        return m

    t_loop = best_of(python_loop, repeat=1) * (N * N / 2000)
    print(f"grid {N}x{N}, T={T}, single thread")
    print(f"floor: σ evaluated {T}x on the grid      {t_floor * 1e3:9.1f} ms")
    print(f"loss only (order=0)                      {t_loss * 1e3:9.1f} ms   {t_loss / t_floor:5.2f}x floor")
    print(
        f"loss + exact gradient (order=1)          {t_grad * 1e3:9.1f} ms   {t_grad / t_floor:5.2f}x floor  (target <= 3x)"
    )
    print(f"loss + gradient + Hessian (order=2)      {t_hess * 1e3:9.1f} ms   {t_hess / t_floor:5.2f}x floor")
    print(
        f"per-point Python loop, gradient (extrap.) {t_loop:9.1f} s    {t_loop / t_grad:7.0f}x slower than order=1"
    )


if __name__ == "__main__":
    main()
