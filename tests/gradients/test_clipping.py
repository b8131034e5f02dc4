"""Tests of dynsys.gradients.clipping: Algorithm 1, element-wise clipping, non-finite policies, torch oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dynsys.errors import DynsysError
from dynsys.gradients import (
    NONFINITE_LIMIT,
    ClipInfo,
    clip_grad_norm,
    clip_grad_norm_stacked,
    clip_grad_value,
    global_norm,
)


def _grads(rng, scale=1.0):
    return {
        "W_rec": scale * rng.standard_normal((4, 4)),
        "W_in": scale * rng.standard_normal((4, 3)),
        "b": scale * rng.standard_normal(4),
    }


def _flat(g):
    vals = g.values() if isinstance(g, dict) else g
    return np.concatenate([np.ravel(v) for v in vals])


def test_algorithm1_by_hand():
    g = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    out, info = clip_grad_norm(g, 1.0)
    assert isinstance(info, ClipInfo)
    assert info.norm == pytest.approx(5.0, abs=1e-15)
    assert info.scale == pytest.approx(0.2, abs=1e-15)
    assert info.clipped and not info.nonfinite
    np.testing.assert_allclose(out["a"], [0.6], atol=1e-15)
    np.testing.assert_allclose(out["b"], [[0.8]], atol=1e-15)
    # the input is not modified
    assert g["a"][0] == 3.0


def test_one_norm_over_all_parameters(rng):
    g = _grads(rng)
    total = np.linalg.norm(_flat(g))
    assert global_norm(g) == pytest.approx(total, rel=1e-14)
    # threshold between the per-parameter norms and the total: clips although each part is small
    biggest_part = max(np.linalg.norm(v) for v in g.values())
    thr = 0.5 * (biggest_part + total)
    _, info = clip_grad_norm(g, thr)
    assert info.clipped


def test_strict_test_norm_equal_threshold_not_clipped():
    g = [np.array([3.0, 4.0])]
    out, info = clip_grad_norm(g, 5.0)
    assert not info.clipped and info.scale == 1.0
    np.testing.assert_array_equal(out[0], g[0])


@pytest.mark.parametrize("kind", [dict, list, tuple, np.ndarray])
def test_container_type_preserved(kind, rng):
    base = [rng.standard_normal(3) * 10, rng.standard_normal((2, 2)) * 10]
    if kind is dict:
        g = {"x": base[0], "y": base[1]}
    elif kind is np.ndarray:
        g = base[0]
    else:
        g = kind(base)
    out, _ = clip_grad_norm(g, 1.0)
    assert type(out) is kind
    assert global_norm(out) == pytest.approx(1.0, rel=1e-13)


finite_vec = arrays(
    np.float64, st.integers(1, 12), elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
)


@given(a=finite_vec, b=finite_vec, thr=st.floats(1e-3, 1e3))
def test_direction_kept_norm_never_increased(a, b, thr):
    g = {"W_rec": a, "b": b}
    out, info = clip_grad_norm(g, thr)
    before, after = _flat(g), _flat(out)
    n0, n1 = np.linalg.norm(before), np.linalg.norm(after)
    assert n1 <= n0 * (1 + 1e-12) + 1e-300
    assert n1 <= max(thr, n0) * (1 + 1e-12)
    if info.clipped:
        assert n1 == pytest.approx(thr, rel=1e-12)
    # direction: after is a non-negative multiple of before
    np.testing.assert_allclose(after, info.scale * before, rtol=1e-14, atol=0)
    assert 0 < info.scale <= 1


@given(a=finite_vec, thr=st.floats(1e-3, 1e3))
def test_value_clipping_elementwise(a, thr):
    out, info = clip_grad_value([a], thr)
    assert np.all(np.abs(out[0]) <= thr)
    np.testing.assert_array_equal(out[0], np.minimum(np.maximum(a, -thr), thr))
    assert info.clipped == bool(np.any(np.abs(a) > thr))
    assert np.linalg.norm(out[0]) <= np.linalg.norm(a) * (1 + 1e-12)


def test_nonfinite_raise(rng):
    g = _grads(rng)
    g["b"][0] = np.nan
    with pytest.raises(DynsysError, match="not finite"):
        clip_grad_norm(g, 1.0)
    g = _grads(rng)
    g["W_in"][0, 0] = 2 * NONFINITE_LIMIT  # finite but beyond the paper code's limit
    with pytest.raises(DynsysError):
        clip_grad_norm(g, 1.0, nonfinite="raise")


def test_nonfinite_skip(rng):
    g = _grads(rng)
    g["W_rec"][1, 2] = np.inf
    out, info = clip_grad_norm(g, 1.0, nonfinite="skip")
    assert info.nonfinite and not info.clipped and info.scale == 0.0
    assert np.isinf(info.norm)
    for v in out.values():
        assert np.all(v == 0.0)


def test_nonfinite_shrink_paper_code(rng):
    g = _grads(rng)
    g["W_in"][0, 0] = np.nan
    params = {"W_rec": rng.standard_normal((4, 4)), "W_in": rng.standard_normal((4, 3))}
    out, info = clip_grad_norm(g, 1.0, nonfinite="shrink", params=params)
    assert info.nonfinite
    np.testing.assert_array_equal(out["W_rec"], 0.02 * params["W_rec"])
    assert np.all(out["W_in"] == 0) and np.all(out["b"] == 0)
    with pytest.raises(DynsysError, match="W_rec"):
        clip_grad_norm(g, 1.0, nonfinite="shrink")


def test_bad_arguments(rng):
    g = _grads(rng)
    for thr in (0.0, -1.0, np.nan):
        with pytest.raises(DynsysError, match="threshold"):
            clip_grad_norm(g, thr)
    with pytest.raises(DynsysError, match="nonfinite"):
        clip_grad_norm(g, 1.0, nonfinite="ignore")
    with pytest.raises(DynsysError, match="grads"):
        clip_grad_norm(3.0, 1.0)
    with pytest.raises(DynsysError, match="grads"):
        clip_grad_norm([], 1.0)


def test_stacked_matches_per_member(rng):
    K = 5
    members = [_grads(rng, scale=s) for s in (0.01, 0.1, 1.0, 3.0, 10.0)]
    stacked = {k: np.stack([m[k] for m in members]) for k in members[0]}
    out, info = clip_grad_norm_stacked(stacked, 1.0)
    assert info.norm.shape == (K,) and info.scale.shape == (K,)
    for i, m in enumerate(members):
        o1, i1 = clip_grad_norm(m, 1.0)
        assert info.norm[i] == pytest.approx(i1.norm, rel=1e-14)
        assert info.scale[i] == pytest.approx(i1.scale, rel=1e-14)
        assert bool(info.clipped[i]) == i1.clipped
        for k in m:
            np.testing.assert_allclose(out[k][i], o1[k], rtol=1e-14, atol=0)


def test_stacked_nonfinite_policies(rng):
    members = [_grads(rng) for _ in range(3)]
    members[1]["b"][2] = np.nan
    stacked = {k: np.stack([m[k] for m in members]) for k in members[0]}
    with pytest.raises(DynsysError, match=r"member\(s\) \[1\]"):
        clip_grad_norm_stacked(stacked, 1.0)
    out, info = clip_grad_norm_stacked(stacked, 1.0, nonfinite="skip")
    np.testing.assert_array_equal(info.nonfinite, [False, True, False])
    assert np.all(out["b"][1] == 0) and np.all(np.isfinite(out["b"]))
    o0, _ = clip_grad_norm(members[0], 1.0)
    np.testing.assert_allclose(out["W_rec"][0], o0["W_rec"], rtol=1e-14)
    W = rng.standard_normal((3, 4, 4))
    out, info = clip_grad_norm_stacked(stacked, 1.0, nonfinite="shrink", params={"W_rec": W})
    np.testing.assert_array_equal(out["W_rec"][1], 0.02 * W[1])
    np.testing.assert_allclose(out["W_rec"][2], clip_grad_norm(members[2], 1.0)[0]["W_rec"], rtol=1e-14)
    assert np.all(out["W_in"][1] == 0)


def test_stacked_per_member_thresholds(rng):
    members = [_grads(rng, scale=s) for s in (3.0, 3.0, 0.01, 3.0)]
    members[3]["W_in"][0, 0] = np.inf
    stacked = {k: np.stack([m[k] for m in members]) for k in members[0]}
    thr = np.array([1.0, np.inf, 0.5, np.inf])  # inf: never clipped, but still checked for non-finite
    out, info = clip_grad_norm_stacked(stacked, thr, nonfinite="skip")
    np.testing.assert_array_equal(info.clipped, [True, False, False, False])
    np.testing.assert_array_equal(info.nonfinite, [False, False, False, True])
    for i in range(3):
        o1, i1 = clip_grad_norm(members[i], thr[i] if np.isfinite(thr[i]) else 1e300)
        assert info.scale[i] == pytest.approx(i1.scale, rel=1e-14)
        for k in members[i]:
            np.testing.assert_allclose(out[k][i], o1[k], rtol=1e-14, atol=0)
    assert all(np.all(out[k][3] == 0) for k in out)
    # a scalar threshold must still be finite; arrays must have shape (K,) and entries > 0
    for bad in (np.inf, np.array([1.0, 1.0]), np.array([1.0, 0.0, 1.0, 1.0]), np.array([1.0, np.nan, 1, 1])):
        with pytest.raises(DynsysError, match="threshold"):
            clip_grad_norm_stacked(stacked, bad, nonfinite="skip")


def test_limit_sets_what_counts_as_nonfinite():
    g = {"W_rec": np.array([[3e10]]), "b": np.array([4e10])}  # norm 5e10: finite, above 1e10
    _, info = clip_grad_norm(g, 1.0, nonfinite="skip")
    assert info.nonfinite and info.scale == 0.0
    out, info = clip_grad_norm(g, 1.0, nonfinite="skip", limit=np.inf)
    assert not info.nonfinite and info.clipped
    np.testing.assert_allclose(out["b"], [0.8], rtol=1e-15)
    st = {k: np.stack([v, v / 1e12]) for k, v in g.items()}
    _, info = clip_grad_norm_stacked(st, 1.0, nonfinite="skip", limit=1e-3)  # 0.05 > 1e-3 too
    np.testing.assert_array_equal(info.nonfinite, [True, True])
    _, info = clip_grad_norm_stacked(st, 1.0, nonfinite="skip", limit=np.inf)
    np.testing.assert_array_equal(info.nonfinite, [False, False])
    np.testing.assert_array_equal(info.clipped, [True, False])
    for bad in (0.0, -1.0, np.nan, "x"):
        with pytest.raises(DynsysError, match="limit"):
            clip_grad_norm(g, 1.0, limit=bad)


def test_matches_torch_clip_grad_norm(rng):
    torch = pytest.importorskip("torch")
    for scale, thr in [(0.01, 1.0), (1.0, 0.5), (50.0, 1.0), (1e3, 6.0)]:
        g = _grads(rng, scale)
        params = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
        for p, v in zip(params, g.values()):
            p.grad = torch.tensor(v, dtype=torch.float64)
        total = float(torch.nn.utils.clip_grad_norm_(params, thr))
        out, info = clip_grad_norm(g, thr, eps=1e-6)  # torch divides by (norm + 1e-6)
        assert info.norm == pytest.approx(total, rel=1e-12)
        for p, v in zip(params, out.values()):
            np.testing.assert_allclose(v, p.grad.numpy(), rtol=1e-12, atol=1e-300)
        # Algorithm 1 exactly (eps=0) differs from torch only by that 1e-6 in the denominator
        exact, info0 = clip_grad_norm(g, thr)
        if info0.clipped:
            ratio = (info0.norm + 1e-6) / info0.norm
            for p, v in zip(params, exact.values()):
                np.testing.assert_allclose(v, p.grad.numpy() * ratio, rtol=1e-12, atol=1e-300)


def test_matches_torch_clip_grad_value(rng):
    torch = pytest.importorskip("torch")
    g = _grads(rng, 3.0)
    params = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for p, v in zip(params, g.values()):
        p.grad = torch.tensor(v, dtype=torch.float64)
    torch.nn.utils.clip_grad_value_(params, 1.5)
    out, info = clip_grad_value(g, 1.5)
    assert info.clipped
    for p, v in zip(params, out.values()):
        np.testing.assert_array_equal(v, p.grad.numpy())


@pytest.mark.parametrize("nonfinite", ["skip", "shrink"])
def test_stacked_keeps_float32_and_clips_in_place_on_request(rng, nonfinite):
    members = [_grads(rng, scale=s) for s in (3.0, 0.01, 1.0)]
    members[2]["b"][0] = np.nan
    stacked = {k: np.stack([m[k] for m in members]).astype(np.float32) for k in members[0]}
    W = rng.standard_normal((3, 4, 4)).astype(np.float32)
    kw = dict(nonfinite=nonfinite, params={"W_rec": W})
    out, info = clip_grad_norm_stacked(stacked, 1.0, **kw)
    assert all(v.dtype == np.float32 for v in out.values())  # float32 gradients are clipped in float32
    np.testing.assert_array_equal(info.clipped, [True, False, False])
    own = {k: v.copy() for k, v in stacked.items()}
    out2, info2 = clip_grad_norm_stacked(own, 1.0, copy=False, **kw)
    np.testing.assert_array_equal(info2.norm, info.norm)
    for k in out:
        np.testing.assert_array_equal(out2[k], out[k])
    np.testing.assert_array_equal(own["W_in"][0], out["W_in"][0])  # member 0 was scaled in place
    # nothing to clip: the arrays themselves
    small = {k: 1e-3 * v[:2] for k, v in stacked.items()}
    out3, _ = clip_grad_norm_stacked(small, 1.0, copy=False)
    assert all(out3[k] is small[k] for k in small)
