"""One training epoch on the Bach chorales (issue 16): dynsys against PyTorch ``nn.RNN``, side by side.

The issue's number: one epoch of the 300-unit model >= 1.5x faster than PyTorch ``nn.RNN`` on CPU.
The epoch: the 213 training chorales (:func:`dynsys.training.music.load_chorales`), one sequence
per update, in one fixed order; frame t read, frame t+1 predicted by 88 sigmoid outputs; the cost
the Bernoulli NLL summed over keys, averaged over the sequence's frames; norm clipping at 8; plain
SGD at lr 0.1. ``nn.RNN`` has no sigmoid units, so both sides use tanh.

* dynsys: :func:`dynsys.training.sequences.train_sequences` with one member (MSGD-C), in float64
  (the default) and float32 (``SequenceConfig(dtype="float32")``), the evaluation after the epoch
  excluded (``stop_after`` one epoch's updates is not used: the training updates alone are timed
  through :func:`_dynsys_epoch`, which runs the same update loop).
* PyTorch: ``nn.RNN(88, 300)`` + ``nn.Linear(300, 88)``, ``BCEWithLogitsLoss(reduction="sum") / T``,
  ``clip_grad_norm_(8)``, ``torch.optim.SGD``; float32 (its default) and float64;
  one thread each (``torch.set_num_threads(1)``, one BLAS thread for numpy).

Each precision is compared with the same precision: dynsys float32 with torch float32, dynsys
float64 with torch float64. The runs alternate (dynsys64, dynsys32, torch32, torch64, ...) so that a
busy machine slows all alike; times are medians, ratios (torch's time over dynsys's) the medians of
the per-repeat ratios. Run: ``python benchmarks/bench_chorales.py`` (``--repeat 3``). Needs music21
and torch.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dynsys.training.music import load_chorales  # noqa: E402
from dynsys.training.sequences import SequenceConfig, train_sequences  # noqa: E402


def _dynsys_epoch(train, dtype="float64") -> float:
    """Seconds of one epoch of updates in ``dtype`` (the per-epoch evaluation subtracted: timed separately)."""
    from dynsys.training.sequences import sequence_nll

    cfg = SequenceConfig(units="tanh", lr=0.1, epochs=1, patience=0, methods=("msgd-c",), dtype=dtype)
    data = {"train": train, "valid": train[:1], "test": train[:1]}
    t = time.perf_counter()
    h = train_sequences(cfg, data)
    total = time.perf_counter() - t
    t = time.perf_counter()
    for split in ("train", "valid", "test"):  # the evaluation the epoch ended with (in dtype), timed again
        sequence_nll(h.params, "tanh", [s.astype(dtype) for s in data[split]])
    return total - (time.perf_counter() - t)


def _torch_epoch(train, dtype) -> float:
    import torch

    torch.manual_seed(0)
    rnn = torch.nn.RNN(88, 300, nonlinearity="tanh").to(dtype)
    out = torch.nn.Linear(300, 88).to(dtype)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    bce = torch.nn.BCEWithLogitsLoss(reduction="sum")
    seqs = [torch.tensor(s, dtype=dtype) for s in train]
    t = time.perf_counter()
    for s in seqs:
        x, y = s[:-1, None], s[1:, None]  # (T, 1, 88)
        opt.zero_grad()
        h, _ = rnn(x)
        loss = bce(out(h), y) / x.shape[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 8.0)
        opt.step()
    return time.perf_counter() - t


def main(argv=None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    train = [s.astype(np.float64) for s in load_chorales(progress=False).train]
    print(
        f"one epoch: {len(train)} chorales, {sum(len(s) - 1 for s in train)} predicted frames, 300 tanh units"
    )
    runs = {  # in the order they alternate
        "dynsys float64": lambda: _dynsys_epoch(train, "float64"),
        "dynsys float32": lambda: _dynsys_epoch(train, "float32"),
        "torch float32": lambda: _torch_epoch(train, torch.float32),
        "torch float64": lambda: _torch_epoch(train, torch.float64),
    }
    for dtype in ("float64", "float32"):  # warm-up (imports, allocations)
        _dynsys_epoch(train[:5], dtype), _torch_epoch(train[:5], getattr(torch, dtype))
    times = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            times[name].append(run())
    for name, ts in times.items():
        print(f"{name:>14}: {statistics.median(ts):.2f} s per epoch ({', '.join(f'{t:.2f}' for t in ts)})")
    for dtype in ("float32", "float64"):
        mine, theirs = times[f"dynsys {dtype}"], times[f"torch {dtype}"]
        ratio = statistics.median(t / d for t, d in zip(theirs, mine))
        print(
            f"{dtype}: dynsys is {ratio:.2f}x faster than torch (torch / dynsys time, median of "
            "per-repeat ratios; target >= 1.5x)"
        )


if __name__ == "__main__":
    main()
