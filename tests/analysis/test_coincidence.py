"""Coincidence of spikes and events against known truth: hand-computed rates, a brute-force oracle of
the null, a planted coincidence, uniform p-values on independent trains, rotation invariance."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from dynsys.analysis.coincidence import CoincidenceResult, coincidence_test, spike_times_from_norms
from dynsys.errors import DynsysError


def _brute_rates(spikes, events, window, n):
    """Double loop over the sets, straight from the definitions (circular distance)."""
    s_set, e_set = sorted(set(int(v) for v in spikes)), sorted(set(int(v) for v in events))
    near = sum(any(min(abs(s - e), n - abs(s - e)) <= window for e in e_set) for s in s_set)
    follow = sum(any((s - e) % n <= window for s in s_set) for e in e_set)
    return near / len(s_set), follow / len(e_set)


def test_hand_computed_rates():
    # n = 20, Δ = 1. Spikes 2, 10, 15; events 0, 9, 19.
    # spike 2: nearest events 0 (d = 2), 19 (d = 3) -> no; spike 10: event 9 (d = 1) -> yes; 15 -> no.
    # event 0: spike in {0, 1}? no; event 9: spike in {9, 10} -> yes; event 19: spike in {19, 0}? no.
    res = coincidence_test([2, 10, 15], [0, 9, 19], window=1, n_updates=20, rng=0)
    assert isinstance(res, CoincidenceResult)
    assert res.spike_rate == pytest.approx(1 / 3) and res.event_rate == pytest.approx(1 / 3)
    assert (res.n_spikes, res.n_events, res.message, res.ok) == (3, 3, "ok", True)


def test_direction_and_wraparound():
    # a spike one update BEFORE an event is near it, but the event is not followed by it
    res = coincidence_test([5], [6], window=1, n_updates=50, rng=0)
    assert (res.spike_rate, res.event_rate) == (1.0, 0.0)
    # spike at 0 follows the event at 49 on the circle (49 -> 0 is one update)
    res = coincidence_test([0], [49], window=1, n_updates=50, rng=0)
    assert (res.spike_rate, res.event_rate) == (1.0, 1.0)
    # Δ = 0: only the same update counts; duplicates count once
    res = coincidence_test([3, 3, 7], [3, 8, 8], window=0, n_updates=10, rng=0)
    assert (res.n_spikes, res.n_events) == (2, 2)
    assert (res.spike_rate, res.event_rate) == (0.5, 0.5)


def test_null_matches_brute_force(rng):
    n = 300
    for _ in range(5):
        spikes = rng.choice(n, size=rng.integers(1, 30), replace=False)
        events = rng.integers(0, n, size=rng.integers(1, 15))
        window = int(rng.integers(0, 12))
        res = coincidence_test(spikes, events, window=window, n_updates=n, n_shifts=100, rng=rng)
        assert (res.spike_rate, res.event_rate) == pytest.approx(_brute_rates(spikes, events, window, n))
        for k, ns, ne in zip(res.shifts[:30], res.null_spike_rates, res.null_event_rates, strict=False):
            assert (ns, ne) == pytest.approx(_brute_rates(spikes, (events + k) % n, window, n))
        # p-values and null means from the stored null distributions
        assert res.spike_p == (1 + np.sum(res.null_spike_rates >= res.spike_rate - 1e-12)) / 101
        assert res.event_p == (1 + np.sum(res.null_event_rates >= res.event_rate - 1e-12)) / 101
        assert res.null_spike_mean == pytest.approx(res.null_spike_rates.mean())
        assert res.null_event_mean == pytest.approx(res.null_event_rates.mean())
        assert res.shifts.min() >= 0 and res.shifts.max() < n


def test_null_mean_matches_the_independence_expectation(rng):
    # under a uniform rotation each spike is near some event with probability |∪ windows| / n
    n, window = 5000, 4
    spikes = rng.choice(n, size=200, replace=False)
    events = rng.choice(n, size=40, replace=False)
    res = coincidence_test(spikes, events, window=window, n_updates=n, n_shifts=4000, rng=rng)
    covered = np.zeros(n, bool)
    for e in events:
        covered[(e + np.arange(-window, window + 1)) % n] = True
    assert res.null_spike_mean == pytest.approx(covered.mean(), abs=0.004)


def test_planted_coincidence_gives_small_p(rng):
    n, window = 20_000, 5
    spikes = rng.choice(n, size=150, replace=False)
    hit = spikes[rng.random(spikes.size) < 0.6]  # 60 % of the spikes are preceded by an event
    events = np.concatenate([(hit - rng.integers(0, window + 1, size=hit.size)) % n, rng.integers(0, n, 30)])
    res = coincidence_test(spikes, events, window=window, n_updates=n, rng=rng)
    assert res.spike_p < 0.01 and res.event_p < 0.01
    assert res.spike_p == pytest.approx(1 / 1001)  # nothing in the null comes near
    assert res.spike_rate >= 0.6 and res.event_rate >= hit.size / (hit.size + 30) - 1e-12
    assert res.null_spike_mean < 0.1


def test_independent_trains_give_uniform_p_values():
    """200 seeds of independent uniform trains. The statistic is a count, so the p-values are discrete and
    conservative (P(p ≤ α) ≤ α, with ties); the randomized p-value, which splits the ties at the observed
    count by a uniform draw, is exactly uniform under exchangeability — that one gets the KS test."""
    n, window, n_shifts, seeds = 4000, 3, 200, 200
    gen = np.random.default_rng(12345)
    p = {"spike": [], "event": []}
    p_rand = {"spike": [], "event": []}
    for seed in range(seeds):
        spikes = gen.choice(n, size=300, replace=False)
        events = gen.choice(n, size=60, replace=False)
        res = coincidence_test(spikes, events, window=window, n_updates=n, n_shifts=n_shifts, rng=seed)
        for kind, obs, null, pv in (
            ("spike", res.spike_rate, res.null_spike_rates, res.spike_p),
            ("event", res.event_rate, res.null_event_rates, res.event_p),
        ):
            greater = np.sum(null > obs + 1e-12)
            ties = np.sum(np.abs(null - obs) <= 1e-12)
            p[kind].append(pv)
            p_rand[kind].append((greater + gen.random() * (ties + 1)) / (n_shifts + 1))
    for kind in ("spike", "event"):
        pv, pr = np.array(p[kind]), np.array(p_rand[kind])
        assert np.all((pv > 0) & (pv <= 1))
        assert np.all(pr <= pv + 1e-12)  # the randomized value never exceeds the reported one
        assert stats.kstest(pr, "uniform").pvalue > 0.001, kind
        assert abs(pr.mean() - 0.5) < 0.07, kind
        assert 0.45 < pv.mean() < 0.62, kind  # conservative: a little above 1/2
        assert np.mean(pv <= 0.05) <= 0.05 + 0.045, kind  # valid: no excess of small p


def test_p_values_in_unit_interval_and_never_zero(rng):
    # all coincide and the null can't reach it: p = 1/(1 + n_shifts), the smallest possible
    spikes = np.arange(0, 100_000, 997)
    res = coincidence_test(spikes, spikes, window=0, n_updates=100_000, n_shifts=150, rng=rng)
    assert res.spike_p == res.event_p == 1 / 151
    # never coincide: every null draw is ≥ 0 = observed -> p = 1
    res = coincidence_test([10], [500], window=2, n_updates=1000, rng=rng)
    assert res.spike_rate == 0.0 and res.spike_p == 1.0 and res.event_p == 1.0


def test_rotating_both_trains_leaves_observed_rates_unchanged(rng):
    n = 1000
    spikes = rng.choice(n, size=80, replace=False)
    events = rng.choice(n, size=25, replace=False)
    events[:5] = (spikes[:5] + 2) % n
    base = coincidence_test(spikes, events, window=4, n_updates=n, n_shifts=100, rng=0)
    for offset in (1, 17, 499, 996):
        moved = coincidence_test(
            (spikes + offset) % n, (events + offset) % n, window=4, n_updates=n, n_shifts=100, rng=0
        )
        assert (moved.spike_rate, moved.event_rate) == (base.spike_rate, base.event_rate)
        # the null is over rotations of the events relative to the spikes: same draws, same distribution
        np.testing.assert_array_equal(moved.null_spike_rates, base.null_spike_rates)
        np.testing.assert_array_equal(moved.null_event_rates, base.null_event_rates)


def test_deterministic_given_rng():
    args = ([3, 40, 77, 120], [5, 41, 90], 3, 200)
    a = coincidence_test(args[0], args[1], window=args[2], n_updates=args[3], rng=7)
    b = coincidence_test(args[0], args[1], window=args[2], n_updates=args[3], rng=np.random.default_rng(7))
    c = coincidence_test(args[0], args[1], window=args[2], n_updates=args[3], rng=8)
    np.testing.assert_array_equal(a.shifts, b.shifts)
    assert a.summary() == b.summary()
    assert not np.array_equal(a.shifts, c.shifts)
    assert a.shifts.size == 1000


def test_empty_trains_give_a_clear_result():
    res = coincidence_test([], [4, 9], window=2, n_updates=10, rng=0)
    assert res.message == "no spikes" and not res.ok
    assert np.isnan(res.spike_rate) and np.isnan(res.event_rate)
    assert res.spike_p == 1.0 and res.event_p == 1.0 and res.null_spike_rates.size == 0
    assert coincidence_test([1], np.array([], dtype=int), window=2, n_updates=10).message == "no events"
    assert coincidence_test([], [], window=2, n_updates=10).message == "no spikes and no events"
    summary = res.summary()
    assert summary["spike_rate"] is None and summary["n_events"] == 2


def test_fast():
    gen = np.random.default_rng(0)
    spikes = gen.choice(200_000, size=1000, replace=False)
    events = gen.choice(200_000, size=200, replace=False)
    coincidence_test(spikes, events, window=10, n_updates=200_000, n_shifts=100, rng=0)  # warm up
    t0 = time.perf_counter()
    res = coincidence_test(spikes, events, window=10, n_updates=200_000, n_shifts=1000, rng=0)
    elapsed = time.perf_counter() - t0
    assert res.null_spike_rates.shape == (1000,)
    assert elapsed < 0.5, f"{elapsed:.3f} s"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spikes": [-1, 3]}, "spikes must be >= 0"),
        ({"events": [1.5]}, "events must hold integer"),
        ({"spikes": [10]}, "spikes must be < n_updates"),
        ({"events": [2, 11]}, "events must be < n_updates"),
        ({"spikes": [[1, 2]]}, "spikes must be a 1-D"),
        ({"events": [True, False]}, "events must hold integer"),
        ({"spikes": ["a"]}, "spikes must hold integer"),
        ({"events": [np.nan]}, "events must be finite"),
        ({"window": -1}, "window must be >= 0"),
        ({"window": 1.5}, "window must be an integer"),
        ({"n_updates": 0}, "n_updates must be >= 1"),
        ({"n_shifts": 99}, "n_shifts must be >= 100"),
        ({"rng": "seed"}, "rng must be"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"spikes": [1, 2], "events": [3], "window": 1, "n_updates": 10, "rng": 0} | kwargs
    with pytest.raises(DynsysError, match=match) as info:
        coincidence_test(args.pop("spikes"), args.pop("events"), **args)
    assert "\n" not in str(info.value)


def test_integral_floats_are_accepted():
    a = coincidence_test(np.array([1.0, 5.0]), [4.0], window=1, n_updates=10, rng=0)
    b = coincidence_test([1, 5], [4], window=1, n_updates=10, rng=0)
    assert a.summary() == b.summary()


# spike_times_from_norms -----------------------------------------------------------------------


def test_spikes_are_the_top_fraction(rng):
    norms = rng.permutation(np.arange(1.0, 301.0))  # 300 distinct norms
    out = spike_times_from_norms(norms, top=0.01)
    np.testing.assert_array_equal(out, np.sort(np.flatnonzero(norms > 297)))  # exactly 3 = 1 % of 300
    assert out.dtype == np.int64
    out = spike_times_from_norms(norms, top=0.1)
    assert out.size == 30 and np.all(norms[out] > 270)


def test_nan_is_ignored_and_inf_is_largest():
    norms = np.array([1.0, np.nan, np.inf, 5.0, np.nan, 2.0, 3.0, 4.0, 0.5, 0.1, 0.2, 7.0])
    # 10 valid norms: top 0.2 -> the 2 largest, inf and 7
    np.testing.assert_array_equal(spike_times_from_norms(norms, top=0.2), [2, 11])
    assert spike_times_from_norms(np.full(5, np.nan), top=0.5).size == 0


def test_clipping_events_are_added():
    norms = np.array([1.0, 9.0, 2.0, 3.0, 1.0, 8.0])
    clipped = np.array([False, True, False, True, False, False])
    np.testing.assert_array_equal(spike_times_from_norms(norms, top=0.2, clipped=clipped), [1, 3, 5])
    np.testing.assert_array_equal(spike_times_from_norms(norms, top=0.0, clipped=clipped), [1, 3])
    np.testing.assert_array_equal(spike_times_from_norms(norms, top=0.0, clipped=[0, 0, 1, 0, 0, 0]), [2])
    # with ties at the threshold all tied updates count
    np.testing.assert_array_equal(spike_times_from_norms(np.array([1.0, 5.0, 5.0, 2.0]), top=0.25), [1, 2])


def test_spike_times_feed_the_test():
    gen = np.random.default_rng(3)
    norms = gen.lognormal(size=5000)
    events = gen.choice(5000, size=40, replace=False)
    norms[(events + 2) % 5000] *= 100.0  # an explosion two updates after each event
    spikes = spike_times_from_norms(norms, top=0.01)
    res = coincidence_test(spikes, events, window=3, n_updates=norms.size, rng=gen)
    assert res.event_rate == 1.0 and res.event_p < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norms": []}, "norms must be a non-empty 1-D"),
        ({"norms": [[1.0]]}, "norms must be a non-empty 1-D"),
        ({"norms": [1.0, -2.0]}, "norms must be >= 0"),
        ({"norms": ["x"]}, "norms must be a 1-D numeric"),
        ({"top": 1.5}, "top must be a fraction"),
        ({"top": np.nan}, "top must be finite"),
        ({"clipped": [True]}, "clipped must have the shape"),
        ({"clipped": [0.5, 1.0, 0.0]}, "clipped must be a boolean"),
    ],
)
def test_spike_times_bad_input(kwargs, match):
    args = {"norms": [1.0, 2.0, 3.0], "top": 0.1} | kwargs
    with pytest.raises(DynsysError, match=match):
        spike_times_from_norms(args.pop("norms"), **args)
