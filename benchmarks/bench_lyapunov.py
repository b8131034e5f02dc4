"""Benchmark: full Lyapunov spectrum of a 100-unit RNN over 10⁴ steps (QR / Benettin method).

Measured side by side in one run, single-threaded:

* ``dynsys.lyapunov_spectrum`` for 1 initial state and for 16 initial states at once (one stacked
  ``np.linalg.qr`` per step);
* the floor: one 100×100 ``np.linalg.qr`` per step (no map, no Jacobian), and 16 of them stacked;
* the loop a user would write first: per step ``J = rnn.jacobian(x)``, ``Q, R = qr(J @ Q)``,
  ``x = rnn.step(x)``, for one state (and 16 states one after the other).

Usage: ``python benchmarks/bench_lyapunov.py [--steps 10000] [--n 100] [--batch 16]``
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.analysis.lyapunov import lyapunov_spectrum  # noqa: E402
from dynsys.maps import RNNMap  # noqa: E402


def naive(rnn, x0, steps):
    n = rnn.dim
    x, Q, total = x0.copy(), np.eye(n), np.zeros(n)
    for _ in range(steps):
        J = rnn.jacobian(x)
        Q, R = np.linalg.qr(J @ Q)
        total += np.log(np.abs(np.diag(R)))
        x = rnn.step(x)
    return total / steps


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    T, n, B = args.steps, args.n, args.batch
    rng = np.random.default_rng(0)
    rnn = RNNMap(1.5 * rng.standard_normal((n, n)) / np.sqrt(n), activation="tanh")
    x1 = rng.standard_normal(n)
    xB = rng.standard_normal((B, n))
    A1 = rng.standard_normal((n, n))
    AB = rng.standard_normal((B, n, n))

    def floor(A):
        for _ in range(T):
            np.linalg.qr(A)

    print(f"full spectrum, n = {n}, {T} steps, single-threaded BLAS")
    t_floor1, _ = timed(floor, A1)
    t_floorB, _ = timed(floor, AB)
    t_dyn1, r1 = timed(lyapunov_spectrum, rnn, x1, steps=T)
    t_dynB, rB = timed(lyapunov_spectrum, rnn, xB, steps=T)
    t_naive1, e_naive = timed(naive, rnn, x1, T)
    # the orbit is chaotic (λ_max > 0): the two loops round differently and follow different
    # orbits after ~1/λ_max·log(1e16) steps, so they agree statistically, not bit for bit
    assert np.allclose(e_naive[:10], r1.exponents[:10], atol=0.05), "naive loop disagrees"
    us = 1e6 / T
    rows = [
        ("floor: one 100x100 np.linalg.qr", t_floor1, 1),
        (f"floor: stacked qr of {B} 100x100", t_floorB, B),
        ("dynsys lyapunov_spectrum, 1 state", t_dyn1, 1),
        (f"dynsys lyapunov_spectrum, {B} states at once", t_dynB, B),
        ("naive loop (jacobian, J@Q, qr), 1 state", t_naive1, 1),
    ]
    print(f"{'method':48s} {'total s':>8s} {'us/step':>9s} {'us/step/state':>14s}")
    for name, t, b in rows:
        print(f"{name:48s} {t:8.2f} {t * us:9.1f} {t * us / b:14.1f}")
    print()
    print(f"dynsys 1 state / QR floor            : {t_dyn1 / t_floor1:5.2f}x")
    print(f"dynsys {B} states / stacked QR floor : {t_dynB / t_floorB:5.2f}x")
    print(f"dynsys {B} states / ({B} x QR floor)  : {t_dynB / (B * t_floor1):5.2f}x")
    print(f"naive loop / dynsys (1 state)        : {t_naive1 / t_dyn1:5.2f}x")
    print(f"{B} states one by one (est.) / at once: {B * t_dyn1 / t_dynB:5.2f}x")
    print(f"top exponents (1 state): {r1.exponents[:3].round(4)}, sum {r1.sum:.4f}")


if __name__ == "__main__":
    main()
