"""Task generators: statistical tests on large samples against the spec (paper_spec.md §5)."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.training import draw_length, get_task, sequence_errors, task_names

B = 20_000


def _symbols(x):
    assert np.all(x.sum(axis=-1) == 1.0)  # exactly one-hot
    return x.argmax(axis=-1)


def _uniform_counts_ok(counts, tol_sigma=5.0):
    counts = np.asarray(counts, dtype=float)
    n, p = counts.sum(), 1.0 / counts.size
    sd = np.sqrt(n * p * (1 - p))
    return np.all(np.abs(counts - n * p) < tol_sigma * sd)


@pytest.mark.parametrize("l", [20, 50, 57])
def test_temporal_order_positions_classes_and_label(rng, l):
    batch = get_task("temporal_order").generate(rng, l, B)
    assert batch.inputs.shape == (l, B, 6) and batch.targets.shape == (1, B)
    s = _symbols(batch.inputs)
    rel = s < 2
    assert np.all(rel.sum(axis=0) == 2)  # exactly two relevant symbols
    _, b = np.nonzero(rel.T)  # sorted by sequence, then time
    p = b.reshape(B, 2)
    tenth = l // 10
    assert np.all((p[:, 0] >= tenth) & (p[:, 0] < 2 * tenth))
    assert np.all((p[:, 1] >= int(0.5 * l)) & (p[:, 1] < int(0.5 * l) + tenth))
    # positions uniform over their windows
    assert _uniform_counts_ok(np.bincount(p[:, 0] - tenth, minlength=tenth))
    assert _uniform_counts_ok(np.bincount(p[:, 1] - int(0.5 * l), minlength=tenth))
    v0 = s[p[:, 0], np.arange(B)]
    v1 = s[p[:, 1], np.arange(B)]
    assert np.array_equal(batch.targets[0], v0 + 2 * v1)
    assert _uniform_counts_ok(np.bincount(batch.targets[0], minlength=4))
    # distractors uniform on 2..5
    assert _uniform_counts_ok(np.bincount(s[~rel] - 2, minlength=4))


def test_temporal_order_3bit(rng):
    l = 60
    batch = get_task("temporal_order_3bit").generate(rng, l, B)
    s = _symbols(batch.inputs)
    rel = s < 2
    assert np.all(rel.sum(axis=0) == 3)
    p = np.nonzero(rel.T)[1].reshape(B, 3)
    for i, start in enumerate((0.1, 0.3, 0.6)):
        lo = int(l * start)
        assert np.all((p[:, i] >= lo) & (p[:, i] < lo + l // 10))
    v = s[p.T, np.arange(B)]
    assert np.array_equal(batch.targets[0], v[0] + 2 * v[1] + 4 * v[2])
    assert _uniform_counts_ok(np.bincount(batch.targets[0], minlength=8))


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_addition_multiplication(rng, name):
    L = 50
    task = get_task(name)
    lengths = []
    for _ in range(40):
        batch = task.generate(rng, L, 500)
        T = batch.steps
        lengths.append(T)
        assert L <= T < L + L // 10
        x = batch.inputs
        assert np.all(x[:, :, 1] >= 0) and np.all(x[:, :, 1] < 1)
        assert np.all(x[:, :, 0].sum(axis=0) == 2)
        p = np.nonzero(x[:, :, 0].T)[1].reshape(-1, 2)
        assert np.all(p[:, 0] < T // 10)
        assert np.all((p[:, 1] >= T // 10) & (p[:, 1] < T // 10 + int(0.4 * T)))
        a = x[p[:, 0], np.arange(500), 1]
        b = x[p[:, 1], np.arange(500), 1]
        want = (a + b) / 2 if name == "addition" else a * b
        np.testing.assert_allclose(batch.targets[0, :, 0], want, rtol=0, atol=0)
    assert set(lengths) == set(range(L, L + L // 10))  # the length draw covers its range
    big = task.generate(rng, L, B)
    y = big.targets[0, :, 0]
    mean, var = (0.5, 1 / 24) if name == "addition" else (0.25, 7 / 144)
    assert abs(y.mean() - mean) < 5 * np.sqrt(var / B)
    assert abs(y.var() - var) < 0.05 * var


def test_random_permutation(rng):
    l = 30
    batch = get_task("random_permutation").generate(rng, l, B)
    s = _symbols(batch.inputs)
    assert np.array_equal(batch.targets[0], s[0])
    assert set(np.unique(s[0])) == {0, 1}
    assert _uniform_counts_ok(np.bincount(s[0], minlength=2))
    rest = s[1:]
    assert rest.min() == 2 and rest.max() == 99
    assert _uniform_counts_ok(np.bincount(rest.ravel() - 2, minlength=98))


@pytest.mark.parametrize(("name", "V", "P"), [("memorization_5bit", 2, 5), ("memorization_20bit", 5, 10)])
def test_memorization(rng, name, V, P):
    l = 25
    task = get_task(name)
    batch = task.generate(rng, l, 5000)
    T = l + 2 * P
    x, y = batch.inputs, batch.targets
    assert x.shape == (T, 5000, V + 2) and y.shape == (T, 5000)
    assert np.all(x.sum(axis=-1) == 1.0)
    pattern = x[:P].argmax(-1)
    assert pattern.max() < V
    assert _uniform_counts_ok(np.bincount(pattern.ravel(), minlength=V))
    assert np.all(x[P:, :, V] + x[P:, :, V + 1] == 1)
    go = np.nonzero(x[:, 0, V + 1])[0]
    assert go.tolist() == [l + P] and np.all(x[l + P, :, V + 1] == 1)
    assert np.all(y[: T - P] == V)  # blank class
    assert np.array_equal(y[T - P :], pattern)
    assert task.read == "all" and task.loss_scale(T) == pytest.approx(1 / T)


def test_flipflop_targets_hold_last_pulse(rng):
    batch = get_task("flipflop_3bit").generate(rng, 200, 300)
    x, y = batch.inputs, batch.targets
    assert set(np.unique(x)) <= {-1.0, 0.0, 1.0}
    for b in range(0, 300, 37):
        for c in range(3):
            last = 0.0
            for t in range(200):
                if x[t, b, c] != 0:
                    last = x[t, b, c]
                assert y[t, b, c] == last


def test_registry_and_lengths(rng):
    assert len(task_names()) == 8
    assert get_task("torder") is get_task("temporal_order")
    with pytest.raises(DynsysError, match="known: temporal_order"):
        get_task("nope")
    draws = {draw_length(rng, (50, 60)) for _ in range(500)}
    assert draws == set(range(50, 60))
    assert draw_length(rng, (50, 50)) == 50
    with pytest.raises(DynsysError, match="length"):
        get_task("temporal_order").generate(rng, 5, 3)
    with pytest.raises(DynsysError, match="batch"):
        get_task("temporal_order").generate(rng, 20, 0)
    b1 = get_task("addition").generate(np.random.default_rng(3), 40, 4)
    b2 = get_task("addition").generate(np.random.default_rng(3), 40, 4)
    assert np.array_equal(b1.inputs, b2.inputs)


def test_sequence_errors_rules():
    t = get_task("temporal_order")
    y = np.zeros((1, 3, 4))
    y[0, [0, 1, 2], [1, 2, 3]] = 1.0
    assert sequence_errors(t, y, np.array([[1, 0, 3]])).tolist() == [False, True, False]
    a = get_task("addition")
    out = np.array([[[0.5], [0.8], [0.3]]])
    assert sequence_errors(a, out, np.array([[[0.5], [0.5], [0.3 + 0.19]]])).tolist() == [False, True, False]
    m = get_task("memorization_5bit")
    y = np.zeros((2, 2, 3))
    y[:, :, 0] = 1
    y[1, 1, 2] = 2
    assert sequence_errors(m, y, np.zeros((2, 2), dtype=int)).tolist() == [False, True]
