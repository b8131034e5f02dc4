"""One BPTT gradient (n=50, batch 20, T=50, tanh, float64): dynsys vs PyTorch autograd.

Both single-threaded, same weights, same run; prints the median times and the ratio.
Run: ``python benchmarks/bench_bptt.py``.
"""

import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.gradients import ReadoutLoss, bptt  # noqa: E402
from dynsys.maps import RNNMap  # noqa: E402

N, B, T, M, K = 50, 20, 50, 6, 4


def timeit(fn, repeat=7, number=20):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.1, (N, N))
    U = rng.normal(0, 0.1, (N, M))
    b = np.zeros(N)
    Wo = rng.normal(0, 0.1, (K, N))
    bo = np.zeros(K)
    u = rng.normal(size=(T, B, M))
    y = rng.integers(0, K, size=(1, B))
    rnn = RNNMap(W, U, b, "tanh", Wo, bo)
    loss = ReadoutLoss(y, "softmax", "last")
    t_np = timeit(lambda: bptt(rnn, u, loss))
    print(f"dynsys bptt          : {t_np * 1e3:8.3f} ms")
    try:
        import torch
    except ImportError:
        print("torch not installed: no comparison")
        return
    torch.set_num_threads(1)
    tW, tU, tb, tWo, tbo = (torch.tensor(a, requires_grad=True) for a in (W, U, b, Wo, bo))
    tu = torch.tensor(u)
    ty = torch.tensor(y[0])

    def torch_step():
        h = torch.zeros(B, N, dtype=torch.float64)
        for t in range(T):
            h = torch.tanh(h @ tW.T + tu[t] @ tU.T + tb)
        logits = h @ tWo.T + tbo
        L = torch.nn.functional.cross_entropy(logits, ty)
        return torch.autograd.grad(L, (tW, tU, tb, tWo, tbo))

    g_t = torch_step()
    g_n = bptt(rnn, u, loss).grads
    err = max(
        float(np.max(np.abs(g_n[k] - g.numpy())))
        for k, g in zip(("W_rec", "W_in", "b", "W_out", "b_out"), g_t)
    )
    t_torch = timeit(torch_step)
    print(f"torch autograd       : {t_torch * 1e3:8.3f} ms   (max |grad diff| = {err:.2e})")
    print(f"ratio torch / dynsys : {t_torch / t_np:8.2f}x  (target >= 1.5x)")


if __name__ == "__main__":
    main()
