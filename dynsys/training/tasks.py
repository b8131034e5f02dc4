"""The pathological synthetic problems of the paper (§5) and the 3-bit flip-flop task.

Each task is a :class:`Task`: a generator ``task.generate(rng, length, batch)`` that returns a
:class:`TaskBatch` (inputs ``(T, B, m)`` and targets), plus the task's loss/error rule: the output
kind (``"softmax"`` with integer class targets, or ``"linear"`` with float targets), which steps
the loss reads (``"last"`` or ``"all"``) and the error criterion that decides whether a sequence
is misclassified. The generators follow the authors' code (``trainingRNNs``) exactly as described
in the project spec (``paper_spec.md`` §5, "Task generators"); ``l`` is the sequence length and
``randint(n)`` is uniform on ``{0, …, n−1}``.

=====================  ==========  =====  ============================================  =========
name                   inputs m    out k  target                                        read
=====================  ==========  =====  ============================================  =========
temporal_order         6 one-hot   4      ``v0 + 2 v1`` (symbols at p0, p1)             last
temporal_order_3bit    6 one-hot   8      ``v0 + 2 v1 + 4 v2``                          last
addition               2           1      ``(v[p0] + v[p1]) / 2``                       last
multiplication         2           1      ``v[p0] · v[p1]``                             last
random_permutation     100 one-hot 100    first symbol ``s0 ∈ {0, 1}``                  last
memorization_5bit      V+2 = 4     V+1    blank…, then the P = 5 pattern symbols (V=2)   all
memorization_20bit     V+2 = 7     V+1    same with V = 5, P = 10 (log2 5^10 ≈ 23 bits) all
flipflop_3bit          3           3      sign of the last ±1 pulse per channel         all
=====================  ==========  =====  ============================================  =========

Examples
--------
>>> import numpy as np
>>> from dynsys.training import get_task
>>> task = get_task("temporal_order")
>>> batch = task.generate(np.random.default_rng(0), 50, 20)
>>> batch.inputs.shape, batch.targets.shape
((50, 20, 6), (1, 20))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_positive_int, check_rng
from ..errors import DynsysError

__all__ = ["Task", "TaskBatch", "get_task", "task_names", "sequence_errors", "draw_length"]

Output = Literal["softmax", "linear"]
Read = Literal["last", "all"]
ErrorRule = Literal["argmax", "argmax_any", "sq_error", "abs_any"]


@dataclass(frozen=True)
class TaskBatch:
    """One minibatch of a task.

    Attributes
    ----------
    inputs : ndarray, shape (T, B, m)
        Input sequences (float64).
    targets : ndarray
        ``(S, B)`` integer class labels for a softmax task, ``(S, B, k)`` floats for a linear
        task; ``S = 1`` when only the last step is read, ``S = T`` when every step is read.
    length : int
        The nominal length ``l`` that was used (the actual ``T`` may be larger: addition and
        multiplication add ``randint(⌊0.1 l⌋)``, memorization adds ``2P``).
    """

    inputs: np.ndarray
    targets: np.ndarray
    length: int

    @property
    def steps(self) -> int:
        return self.inputs.shape[0]


@dataclass(frozen=True)
class Task:
    """A synthetic problem: generator plus its loss/error rule.

    Attributes
    ----------
    name : str
    n_in, n_out : int
        Input and output dimensions ``m`` and ``k``.
    output : {"softmax", "linear"}
        Softmax + cross-entropy on integer labels, or linear + squared error.
    read : {"last", "all"}
        Which steps the loss reads.
    error_rule : {"argmax", "argmax_any", "sq_error", "abs_any"}
        ``argmax``: wrong when the argmax at the last step differs from the label;
        ``argmax_any``: wrong when any read step is wrong; ``sq_error``: wrong when
        ``Σ_j (y_j − target_j)² > 0.04`` at the last step; ``abs_any``: wrong when any output at
        any step is off by more than 0.5.
    min_length : int
        Smallest nominal length the generator accepts.
    """

    name: str
    n_in: int
    n_out: int
    output: Output
    read: Read
    error_rule: ErrorRule
    min_length: int
    description: str
    _generate: Callable = None

    def generate(self, rng, length, batch: int) -> TaskBatch:
        """A fresh minibatch.

        Parameters
        ----------
        rng : numpy Generator or seed
        length : int or (int, int)
            Nominal length ``l``, or a range ``(lo, hi)``: then ``l = lo + randint(hi − lo)``
            (the authors' variable-length training).
        batch : int
            Batch size ``B``.
        """
        rng = check_rng(rng)
        batch = check_positive_int(batch, "batch")
        l = draw_length(rng, length, self.min_length)
        inputs, targets = self._generate(rng, l, batch)
        return TaskBatch(inputs, targets, l)

    def loss_scale(self, steps: int) -> float:
        """The authors' loss averages over read steps for ``read="all"`` (1/T), else 1."""
        return 1.0 / steps if self.read == "all" else 1.0


def draw_length(rng, length, minimum: int = 1) -> int:
    """A nominal length from ``length`` (int, or a ``(lo, hi)`` range: ``lo + randint(hi − lo)``)."""
    if isinstance(length, (tuple, list, np.ndarray)):
        if len(length) != 2:
            raise DynsysError(f"length must be an int or a (lo, hi) pair, got {length!r}")
        lo = check_positive_int(length[0], "length (low end)", minimum=minimum)
        hi = check_positive_int(length[1], "length (high end)", minimum=minimum)
        if hi < lo:
            raise DynsysError(f"length range must satisfy lo <= hi, got ({lo}, {hi})")
        return lo if hi == lo else lo + int(rng.integers(hi - lo))
    return check_positive_int(length, "length", minimum=minimum)


def _one_hot(symbols: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((*symbols.shape, k))
    np.put_along_axis(out, symbols[..., None], 1.0, axis=-1)
    return out


# --- generators (rng, l, B) -> (inputs (T, B, m), targets) -------------------------------------------
def _temporal_order(rng, l, B, windows):
    tenth = l // 10
    symbols = rng.integers(4, size=(l, B)) + 2  # distractors 2..5
    label = np.zeros(B, dtype=np.int64)
    cols = np.arange(B)
    for i, start in enumerate(windows):
        p = rng.integers(tenth, size=B) + int(l * start)
        v = rng.integers(2, size=B)
        symbols[p, cols] = v
        label += v << i
    return _one_hot(symbols, 6), label[None, :]


def _gen_torder(rng, l, B):
    # p0 = ⌊0.1 l⌋ + randint(⌊0.1 l⌋), p1 = ⌊0.5 l⌋ + randint(⌊0.1 l⌋); class v0 + 2 v1
    return _temporal_order(rng, l, B, (0.1, 0.5))


def _gen_torder3(rng, l, B):
    # windows [0.1l, 0.2l), [0.3l, 0.4l), [0.6l, 0.7l); class v0 + 2 v1 + 4 v2
    return _temporal_order(rng, l, B, (0.1, 0.3, 0.6))


def _marker_positions(rng, L, B):
    T = L + int(rng.integers(L // 10))
    p0 = rng.integers(T // 10, size=B)
    p1 = rng.integers(int(T * 0.4), size=B) + T // 10
    x = np.empty((T, B, 2))
    x[:, :, 1] = rng.random((T, B))
    x[:, :, 0] = 0.0
    cols = np.arange(B)
    x[p0, cols, 0] = 1.0
    x[p1, cols, 0] = 1.0
    return x, x[p0, cols, 1], x[p1, cols, 1]


def _gen_addition(rng, l, B):
    x, a, b = _marker_positions(rng, l, B)
    return x, ((a + b) / 2.0)[None, :, None]


def _gen_multiplication(rng, l, B):
    x, a, b = _marker_positions(rng, l, B)
    return x, (a * b)[None, :, None]


def _gen_permutation(rng, l, B):
    symbols = rng.integers(98, size=(l, B)) + 2  # 2..99
    s0 = rng.integers(2, size=B)
    symbols[0] = s0
    return _one_hot(symbols, 100), s0[None, :]


def _memorization(V, P):
    def gen(rng, l, B):
        T = l + 2 * P
        x = np.zeros((T, B, V + 2))
        pattern = rng.integers(V, size=(P, B))
        x[:P] = _one_hot(pattern, V + 2)
        x[P:, :, V] = 1.0  # blank channel
        x[l + P, :, V] = 0.0
        x[l + P, :, V + 1] = 1.0  # go
        y = np.full((T, B), V, dtype=np.int64)  # blank class until the recall phase
        y[T - P :] = pattern
        return x, y

    return gen


def _gen_flipflop(rng, l, B, p_pulse=0.05):
    # Sussillo & Barak (2013): each channel gets ±1 pulses at random times; the output holds the
    # sign of the channel's last pulse (0 before the first one).
    pulse = rng.random((l, B, 3)) < p_pulse
    sign = np.where(rng.random((l, B, 3)) < 0.5, -1.0, 1.0)
    x = np.where(pulse, sign, 0.0)
    y = np.zeros_like(x)
    last = np.zeros((B, 3))
    for t in range(l):  # O(T) cheap loop over time (vectorized over batch and channels)
        last = np.where(pulse[t], sign[t], last)
        y[t] = last
    return x, y


_TASKS = {
    t.name: t
    for t in (
        Task(
            "temporal_order",
            6,
            4,
            "softmax",
            "last",
            "argmax",
            10,
            "relevant symbols A/B at p0 ∈ [0.1l, 0.2l), p1 ∈ [0.5l, 0.6l); 4 classes",
            _gen_torder,
        ),
        Task(
            "temporal_order_3bit",
            6,
            8,
            "softmax",
            "last",
            "argmax",
            10,
            "three relevant symbols in [0.1l,0.2l), [0.3l,0.4l), [0.6l,0.7l); 8 classes",
            _gen_torder3,
        ),
        Task(
            "addition",
            2,
            1,
            "linear",
            "last",
            "sq_error",
            10,
            "marker + value channels; target (v[p0] + v[p1]) / 2",
            _gen_addition,
        ),
        Task(
            "multiplication",
            2,
            1,
            "linear",
            "last",
            "sq_error",
            10,
            "marker + value channels; target v[p0] · v[p1]",
            _gen_multiplication,
        ),
        Task(
            "random_permutation",
            100,
            100,
            "softmax",
            "last",
            "argmax",
            2,
            "100 one-hot symbols; predict the first symbol s0 ∈ {0, 1} at the end",
            _gen_permutation,
        ),
        Task(
            "memorization_5bit",
            4,
            3,
            "softmax",
            "all",
            "argmax_any",
            1,
            "noiseless memorization, V=2 values, P=5 positions; length l + 2P",
            _memorization(2, 5),
        ),
        Task(
            "memorization_20bit",
            7,
            6,
            "softmax",
            "all",
            "argmax_any",
            1,
            "noiseless memorization, V=5 values, P=10 positions (≈23 bits); length l + 2P",
            _memorization(5, 10),
        ),
        Task(
            "flipflop_3bit",
            3,
            3,
            "linear",
            "all",
            "abs_any",
            1,
            "3-bit flip-flop (Sussillo & Barak 2013): hold the sign of each channel's last pulse",
            _gen_flipflop,
        ),
    )
}
_ALIASES = {
    "torder": "temporal_order",
    "torder3": "temporal_order_3bit",
    "add": "addition",
    "mul": "multiplication",
    "perm": "random_permutation",
    "mem": "memorization_20bit",
    "flipflop": "flipflop_3bit",
}


def task_names() -> tuple[str, ...]:
    """The registered task names."""
    return tuple(_TASKS)


def get_task(name: str) -> Task:
    """The task called ``name`` (also the authors' short names ``torder``, ``add``, ``mem``, …)."""
    key = _ALIASES.get(name, name)
    if key not in _TASKS:
        raise DynsysError(f"unknown task {name!r}; known: {', '.join(_TASKS)}")
    return _TASKS[key]


def sequence_errors(task: Task, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Which sequences the task's error rule counts as wrong.

    Parameters
    ----------
    task : Task
    outputs : ndarray, shape (S, ..., B, k)
        Readout ``y_t = W_out σ(x_t) + b_out`` at the read steps (logits for softmax tasks).
    targets : ndarray
        ``(S, ..., B)`` labels or ``(S, ..., B, k)`` values (broadcast against ``outputs``).

    Returns
    -------
    wrong : ndarray of bool, shape (..., B)
    """
    if task.error_rule in ("argmax", "argmax_any"):
        bad = np.argmax(outputs, axis=-1) != targets
        return bad[-1] if task.error_rule == "argmax" else np.any(bad, axis=0)
    if task.error_rule == "sq_error":
        return np.sum((outputs[-1] - targets[-1]) ** 2, axis=-1) > 0.04
    return np.any(np.abs(outputs - targets) > 0.5, axis=(0, -1))
