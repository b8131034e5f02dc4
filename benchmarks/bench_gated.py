"""BPTT of the gated cells (n=50, batch 20, T=50, float64): dynsys bptt vs PyTorch ``nn.GRU``/``nn.LSTM``.

The same weights in both: dynsys ``bptt`` on a :class:`~dynsys.maps.gated.GRUMap` (or
``LSTMMap``) with its readout ``W_out, b_out``, against PyTorch autograd through ``nn.GRU``
(``nn.LSTM``) and an ``nn.Linear`` readout, forward + backward, the gradients of every weight. The
loss is softmax cross-entropy of the readout, mean over the batch, at the last step (``last``) or
summed over every step (``all``). Both single-threaded (BLAS and torch), as in bench_bptt.py.
Before timing, both gradients are checked to agree (1e-10). The timings alternate between the
contenders (one block of calls each per repeat) so that a busy machine slows both alike; the
printed ratio is the median of the per-repeat ratios. The ``default tape`` line is the same
dynsys bptt through the generic :class:`~dynsys.maps.base.Tape` (Map rule 18's default: ``step``,
``vjp`` and one ``param_vjp``), i.e. what dynsys did before the cells' own tapes.

Run: ``python benchmarks/bench_gated.py`` (``--steps last``, ``--cells gru``, ``--repeat 9``;
about 15 s).

Measured (3 runs on a 2-core machine shared with other jobs, load 2-3, so the absolute times
varied twofold between runs; ratio = torch time / dynsys time, the issue's target >= 1.5x is
for the GRU):

* GRU, loss at the last step: 2.13x, 2.00x, 2.16x; at every step: 1.98x, 1.83x, 1.96x.
* LSTM, loss at the last step: 1.61x, 1.58x, 1.63x; at every step: 1.51x, 1.44x, 1.68x.
* The cells' own tapes against the generic one (what dynsys did before, 0.65-0.75x torch):
  1.7-3.1x faster.

Where the time goes (GRU, last step, ~3.3 ms on a quiet core): the forward steps ~35 % (one
(20×50)·(50×150) GEMM ≈ 10 µs and a dozen in-place ufuncs per step), the backward steps ~20 %
(one GEMM and five ufuncs), the weight gradients ~15 % (one (150×1000)·(1000×50) GEMM), the rest
bptt's own bookkeeping (states, hidden, deltas, loss). One arena for the tape's arrays rather than
a dozen: separately allocated, the kernel mapped ~1300 fresh pages per call (about half the time).
"""

import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.gradients import ReadoutLoss, bptt  # noqa: E402
from dynsys.maps.base import Tape  # noqa: E402
from dynsys.maps.gated import GRUMap, LSTMMap  # noqa: E402

N, B, T, M, K = 50, 20, 50, 6, 4
CELLS = {"gru": (GRUMap, 3), "lstm": (LSTMMap, 4)}
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass(frozen=True, eq=False, repr=False)
class DefaultTapeGRU(GRUMap):
    """A GRU on the generic tape of Map rule 18 (the cell's own tape switched off)."""

    def tape(self, inputs, steps, batch, *, workspace=None):
        return Tape(self, inputs, steps, batch)


@dataclass(frozen=True, eq=False, repr=False)
class DefaultTapeLSTM(LSTMMap):
    def tape(self, inputs, steps, batch, *, workspace=None):
        return Tape(self, inputs, steps, batch)


DEFAULT = {"gru": DefaultTapeGRU, "lstm": DefaultTapeLSTM}


def block(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def side_by_side(fns, repeat, number):
    """Median time of each function, the blocks interleaved; and the per-repeat times."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(block(fn, number))
    return times


def problem(kind, steps, rng):
    cls, G = CELLS[kind]
    k = 1.0 / np.sqrt(N)  # PyTorch's default initialization U(−1/√n, 1/√n)
    w = {
        "weight_ih": rng.uniform(-k, k, (G * N, M)),
        "weight_hh": rng.uniform(-k, k, (G * N, N)),
        "bias_ih": rng.uniform(-k, k, G * N),
        "bias_hh": rng.uniform(-k, k, G * N),
        "W_out": rng.uniform(-k, k, (K, N)),
        "b_out": rng.uniform(-k, k, K),
    }
    S = 1 if steps == "last" else T
    return w, rng.normal(size=(T, B, M)), rng.integers(0, K, size=(S, B))


def torch_step_fn(kind, w, u, labels, steps):
    import torch

    torch.set_num_threads(1)
    net = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(M, N, dtype=torch.float64)
    lin = torch.nn.Linear(N, K, dtype=torch.float64)
    with torch.no_grad():
        for name in WEIGHTS:
            getattr(net, f"{name}_l0").copy_(torch.from_numpy(w[name]))
        lin.weight.copy_(torch.from_numpy(w["W_out"]))
        lin.bias.copy_(torch.from_numpy(w["b_out"]))
    params = [getattr(net, f"{name}_l0") for name in WEIGHTS] + [lin.weight, lin.bias]
    tu, ty = torch.from_numpy(u), torch.from_numpy(labels)
    F = torch.nn.functional

    def step():
        out, _ = net(tu)  # (T, B, N), zero initial state
        if steps == "last":
            L = F.cross_entropy(lin(out[-1]), ty[0])
        else:
            L = F.cross_entropy(lin(out).reshape(T * B, K), ty.reshape(T * B), reduction="sum") / B
        return L, torch.autograd.grad(L, params)

    return step


def run(kind, steps, repeat, number, default):
    rng = np.random.default_rng(0)
    w, u, labels = problem(kind, steps, rng)
    cell = CELLS[kind][0](**w)
    loss = ReadoutLoss(labels, "softmax", steps)
    fns = {"dynsys": lambda: bptt(cell, u, loss)}
    if default:
        slow = DEFAULT[kind](**w)
        fns["default tape"] = lambda: bptt(slow, u, loss)
    names = (*WEIGHTS, "W_out", "b_out")
    res = bptt(cell, u, loss)
    try:
        import torch  # noqa: F401
    except ImportError:
        times = side_by_side(fns, repeat, number)
        print(f"{kind.upper()} ({steps}): dynsys {statistics.median(times['dynsys']) * 1e3:.3f} ms; no torch")
        return None
    torch_step = torch_step_fn(kind, w, u, labels, steps)
    L, grads = torch_step()
    err = max(float(np.max(np.abs(res.grads[k] - g.numpy()))) for k, g in zip(names, grads))
    assert abs(res.loss - float(L.detach())) <= 1e-12 * max(1.0, abs(res.loss)), res.loss
    for k, g in zip(names, grads):
        np.testing.assert_allclose(res.grads[k], g.numpy(), rtol=1e-10, atol=1e-10, err_msg=k)
    if default:
        ref = bptt(slow, u, loss)
        for k in names:
            np.testing.assert_allclose(ref.grads[k], res.grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
    fns["torch"] = lambda: torch_step()
    times = side_by_side(fns, repeat, number)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    ratio = statistics.median(t / d for t, d in zip(times["torch"], times["dynsys"]))
    print(f"{kind.upper()} BPTT, loss at {'the last step' if steps == 'last' else 'every step'}:")
    print(f"  dynsys bptt          : {med['dynsys'] * 1e3:8.3f} ms")
    if default:
        print(
            f"  dynsys, default tape : {med['default tape'] * 1e3:8.3f} ms   "
            f"(the cell's tape is {med['default tape'] / med['dynsys']:.2f}x faster)"
        )
    print(f"  torch autograd       : {med['torch'] * 1e3:8.3f} ms   (max |grad diff| = {err:.2e})")
    target = "  (target >= 1.5x)" if kind == "gru" else ""
    print(f"  ratio torch / dynsys : {ratio:8.2f}x{target}")
    return ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", choices=sorted(CELLS), default=["gru", "lstm"])
    parser.add_argument("--steps", nargs="+", choices=["last", "all"], default=["last", "all"])
    parser.add_argument("--repeat", type=int, default=9, help="interleaved blocks per contender")
    parser.add_argument("--number", type=int, default=10, help="calls per block")
    parser.add_argument("--no-default", action="store_true", help="skip the generic-tape line")
    args = parser.parse_args(argv)
    print(f"n={N}, batch {B}, T={T}, m={M}, {K} classes, float64, 1 thread")
    for kind in args.cells:
        for steps in args.steps:
            run(kind, steps, args.repeat, args.number, not args.no_default)


if __name__ == "__main__":
    main()
