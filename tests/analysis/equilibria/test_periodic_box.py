"""Map rule 19, ``periodic_box``: every periodic point lies in it, and the finders keep to it.

Oracles: the fixed points of a GRU are exactly the roots of ``h = ñ(h)`` (``(1 − z)(ñ − h) = 0``
with ``z < 1``), solved here by scipy from PyTorch's formulas written out anew; attractors and
periodic orbits reached by long forward iteration (not by any finder); closed-form orbits of
one-unit cells; fixed points found by Newton without the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.optimize import root

from dynsys.analysis.equilibria import find_fixed_points, find_slow_points, newton_solve
from dynsys.analysis.equilibria.starts import inside_box, periodic_box
from dynsys.errors import DynsysError
from dynsys.maps import FixedInput, GRUMap, HenonMap, LSTMMap, Map, RNNMap, UnitMap


def _sig(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _gru(seed, n=4, m=0, scale=2.5):
    g = np.random.default_rng(seed)
    return GRUMap(
        g.standard_normal((3 * n, m)) if m else None,
        scale * g.standard_normal((3 * n, n)),
        0.3 * g.standard_normal(3 * n),
        0.3 * g.standard_normal(3 * n),
    )


def _lstm(seed, n=3, m=0, scale=1.0):
    g = np.random.default_rng(seed)
    return LSTMMap(
        g.standard_normal((4 * n, m)) if m else None,
        scale * g.standard_normal((4 * n, n)) / np.sqrt(n),
        0.5 * g.standard_normal(4 * n),
        0.5 * g.standard_normal(4 * n),
    )


def _candidate_roots(gru, u=None, n_starts=300, seed=0):
    """The roots of ``h = ñ(h)`` — every fixed point of the GRU — from starts in the cube (scipy)."""
    n = gru.hidden_size
    W, b_hh = gru.weight_hh, gru.bias_hh
    a_ih = gru.bias_ih + (0.0 if u is None else gru.weight_ih @ u)

    def f(h):
        gh = W @ h + b_hh
        r = _sig(a_ih[:n] + gh[:n])
        return h - np.tanh(a_ih[2 * n :] + r * gh[2 * n :])

    found = []
    for h0 in np.random.default_rng(seed).uniform(-1.0, 1.0, (n_starts, n)):
        sol = root(f, h0, method="hybr")
        if sol.success and np.linalg.norm(f(sol.x)) < 1e-12:
            if not any(np.linalg.norm(sol.x - p) < 1e-8 for p in found):
                found.append(sol.x)
    return np.array(found).reshape(-1, n)


def _same_sets(a, b, tol=1e-8):
    if len(a) != len(b):
        return False
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    return bool(np.all(d.min(axis=1) < tol) and np.all(d.min(axis=0) < tol))


def test_default_is_the_state_box():
    g = np.random.default_rng(0)
    rnn = RNNMap(g.standard_normal((3, 3)), g.standard_normal((3, 2)), g.standard_normal(3))
    u = np.array([0.4, -1.0])
    for m, uu in ((rnn, u), (rnn, None), (UnitMap(w=5.0, b=-2.5), None), (FixedInput(rnn, u), None)):
        for got, want in zip(m.periodic_box(uu), m.state_box(uu)):
            np.testing.assert_array_equal(got, want)
    assert HenonMap().periodic_box() is None and HenonMap().state_box() is None
    gru = _gru(1, m=2)
    for got, want in zip(FixedInput(gru, u).periodic_box(), gru.periodic_box(u)):  # passed on with u
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("seed", "m"), [(0, 0), (2, 0), (5, 2)])
def test_gru_fixed_points_are_the_candidate_roots_inside_the_box(seed, m):
    gru = _gru(seed, m=m)
    u = None if m == 0 else np.array([0.7, -0.3])
    lo, hi = gru.periodic_box(u)
    assert np.all(hi < 1.0) and np.all(lo == -hi)  # inside the open cube
    truth = _candidate_roots(gru, u)
    assert len(truth) >= 1 and np.all((truth >= lo) & (truth <= hi))  # the proof of rule 19
    fp = find_fixed_points(gru, u, rng=seed)
    assert _same_sets(fp.states, truth), (fp.states, truth)
    assert np.all(inside_box(fp.states, (lo, hi), 0.0))


def test_gru_spurious_far_points_are_rejected():
    """Where the update gate rounds to 1.0, F(h) = h exactly: Newton without the box reports such
    states as fixed points; find_fixed_points rejects and counts them. Here z_i = σ(80 h_i − 40)
    saturates for h_i > 0.975 and ñ = tanh(½): the one fixed point is h = tanh(½)(1, 1)."""
    n = 2
    W = np.zeros((3 * n, n))
    W[n : 2 * n] = 80.0 * np.eye(n)
    gru = GRUMap(weight_hh=W, bias_ih=np.r_[np.zeros(n), np.full(n, -40.0), np.full(n, 0.5)])
    starts = np.random.default_rng(0).uniform(-1.5, 1.5, (64, n))
    x, res, ok = newton_solve(gru, starts)
    assert np.sum(np.max(x[ok], axis=1) > 0.975) > 10  # the artefact
    fp = find_fixed_points(gru, starts=starts)
    np.testing.assert_allclose(fp.states, [[np.tanh(0.5)] * 2], atol=1e-12)
    assert (
        fp.n_rejected > 10
        and f"{fp.n_rejected} point(s) outside the map's periodic box rejected" in fp.message
    )
    one = GRUMap(weight_hh=np.array([[0.0], [80.0], [0.0]]), bias_ih=[0.0, -40.0, 0.5])
    fp = find_fixed_points(one, interval=(-5.0, 5.0))  # the 1-D scan sees F(h) − h = 0 beyond 0.975
    np.testing.assert_allclose(fp.states, [[np.tanh(0.5)]], atol=1e-10)
    assert fp.n_rejected > 100
    assert find_fixed_points(one).n_rejected == 0  # the default interval is the box
    # a random GRU: the points found from starts in the cube are exactly the candidate roots
    gru = _gru(0)
    starts = np.random.default_rng(0).uniform(-1.0, 1.0, (256, gru.dim))
    fp = find_fixed_points(gru, starts=starts)
    assert np.all(np.abs(fp.states) < 1.0) and _same_sets(fp.states, _candidate_roots(gru))


def test_gru_two_cycle_touches_the_box():
    """One unit, r ≈ 1, z ≈ 0 and ñ = tanh(−3 h): the stable 2-cycle ±h₂ with h₂ = tanh(3 h₂) lies
    in |h| ≤ ν = tanh(3), and the bound is nearly tight; the 1-D scan on the box finds the cycle."""
    gru = GRUMap(weight_hh=np.array([[0.0], [0.0], [-3.0]]), bias_ih=[40.0, -40.0, 0.0])
    lo, hi = gru.periodic_box()
    np.testing.assert_allclose(hi, np.tanh(3.0), rtol=1e-15)
    h = np.array([0.3])
    for _ in range(400):  # forward iteration to the attracting 2-cycle
        h = gru.step(h)
    h2 = abs(float(h[0]))
    np.testing.assert_allclose(abs(float(gru.step(h)[0])), h2, rtol=1e-12)
    assert h2 <= hi[0] and hi[0] - h2 < 1e-3
    p2 = find_fixed_points(gru, period=2)
    np.testing.assert_allclose(p2.states[:, 0], [-h2, h2], atol=1e-10)


@pytest.mark.parametrize(("seed", "m"), [(0, 0), (1, 0), (3, 2)])
def test_lstm_box_holds_attractors_and_newton_roots(seed, m):
    lstm = _lstm(seed, m=m)
    u = None if m == 0 else np.array([0.5, -1.0])
    lo, hi = lstm.periodic_box(u)
    n = lstm.hidden_size
    assert np.all(hi[:n] < 1.0) and np.all(np.isfinite(hi)) and np.all(lo == -hi)
    g = np.random.default_rng(seed)
    x = np.concatenate([g.uniform(-1, 1, (500, n)), g.uniform(-30, 30, (500, n))], axis=1)
    for _ in range(3000):  # ω-limit sets of far starts: every periodic orbit and attractor
        x = lstm.step(x, u)
    assert np.all(inside_box(x, (lo, hi), 1e-9))
    # fixed points found without the box, from starts far outside it
    y, res, ok = newton_solve(lstm, g.uniform(-30, 30, (400, 2 * n)), u)
    assert ok.sum() > 0 and np.all(inside_box(y[ok], (lo, hi), 1e-10))


def test_lstm_box_with_input_is_the_box_of_the_shifted_bias():
    lstm = _lstm(4, m=2)
    u = np.array([0.3, -0.8])
    shifted = LSTMMap(None, lstm.weight_hh, lstm.bias_ih + lstm.weight_ih @ u, lstm.bias_hh)
    for a, b in zip(lstm.periodic_box(u), shifted.periodic_box()):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    for a, b in zip(lstm.periodic_box(), lstm.periodic_box(np.zeros(2))):  # None: zero input
        np.testing.assert_array_equal(a, b)
    gru = _gru(6, m=2)
    shifted = GRUMap(None, gru.weight_hh, gru.bias_ih + gru.weight_ih @ u, gru.bias_hh)
    np.testing.assert_allclose(gru.periodic_box(u)[1], shifted.periodic_box()[1], rtol=1e-14)


def test_lstm_with_a_saturated_forget_gate_has_no_box():
    b = np.array([0.0, 800.0, 1.0, 0.0])  # f = 1 to the last bit: c' = c + i g, no bound
    lstm = LSTMMap(weight_hh=np.zeros((4, 1)), bias_hh=b)
    assert lstm.periodic_box() is None
    fp = find_fixed_points(lstm, n_starts=32, rng=0)  # no box: starts from a cloud of iterates
    assert np.all(np.linalg.norm(lstm.step(fp.states) - fp.states, axis=1) < 1e-10)


def test_slow_points_keep_to_the_box():
    """Far out, where z saturates, q falls towards 0 without a minimum: the descent from wide starts
    stops at rounding artefacts there, which find_slow_points rejects; inside, the fixed points
    are the candidate roots."""
    gru = _gru(0)
    starts = np.random.default_rng(1).uniform(-3.0, 3.0, (128, gru.dim))
    sp = find_slow_points(gru, starts=starts, q_max=1e-3)
    assert sp.n_rejected > 0 and "periodic box rejected" in sp.message
    assert np.all(inside_box(sp.states, gru.periodic_box(), 1e-10))
    assert _same_sets(sp.states[sp.converged], _candidate_roots(gru), 1e-6)


def test_inside_box_tolerance():
    box = (np.array([-1.0, 0.0]), np.array([1.0, 2.0]))
    x = np.array([[1.0 + 5e-11, 1.0], [1.0 + 1e-8, 1.0], [0.0, -5e-11], [0.0, 2.5]])
    assert inside_box(x, box, 1e-10).tolist() == [True, False, True, False]
    assert inside_box(x, None, 0.0).all()


@dataclass(frozen=True, eq=False)
class _BadBox(Map):
    dim: int = 2
    bad: str = "shape"

    def step(self, x, u=None):
        return 0.5 * np.asarray(x)

    def jacobian(self, x, u=None):
        return np.broadcast_to(0.5 * np.eye(2), np.shape(x)[:-1] + (2, 2))

    def periodic_box(self, u=None):
        if self.bad == "shape":
            return np.zeros(3), np.ones(3)
        return np.ones(2), np.zeros(2)


@pytest.mark.parametrize(("bad", "match"), [("shape", r"shape \(2,\)"), ("order", "lo <= hi")])
def test_a_broken_periodic_box_is_refused(bad, match):
    with pytest.raises(DynsysError, match=f"_BadBox.periodic_box must return .*{match}"):
        periodic_box(_BadBox(bad=bad), None)
    with pytest.raises(DynsysError, match="_BadBox.periodic_box"):
        find_fixed_points(_BadBox(bad=bad), n_starts=8)
