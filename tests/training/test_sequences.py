"""Tests of dynsys.training.sequences: next-step prediction on fixed sequences (the Table 1 protocol)."""

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, bptt, bptt_stacked
from dynsys.io import load_checkpoint
from dynsys.maps import RNNMap
from dynsys.training.sequences import SequenceConfig, check_sequence_data, sequence_nll, train_sequences
from dynsys.training.step import PARAM_NAMES, StepOptions, loss_step


def _data(seed=0, k=10, n=(10, 3, 3)):
    rng = np.random.default_rng(seed)

    def seqs(count):
        return [(rng.uniform(size=(int(T), k)) < 0.25).astype(np.uint8) for T in rng.integers(4, 15, count)]

    return {"train": seqs(n[0]), "valid": seqs(n[1]), "test": seqs(n[2])}


def _stack(nets):
    return {p: np.stack([getattr(r, p) for r in nets]) for p in ("W_rec", "W_in", "b", "W_out", "b_out")}


def test_the_all_half_model_has_nll_88_ln2_per_frame():
    rng = np.random.default_rng(1)
    rolls = [(rng.uniform(size=(int(T), 88)) < 0.05).astype(np.uint8) for T in (5, 9, 17)]
    net = RNNMap(
        rng.normal(size=(6, 6)),
        rng.normal(size=(6, 88)),
        np.zeros(6),
        "sigmoid",
        np.zeros((88, 6)),
        np.zeros(88),
    )
    assert sequence_nll(_stack([net]), "sigmoid", rolls, chunk=2)[0] == pytest.approx(
        88 * np.log(2), rel=1e-14
    )


def test_sequence_nll_is_the_frame_weighted_bptt_loss():
    # the NLL of a set = Σ over sequences of (frames × per-frame cost) / total frames, each cost from bptt
    data = _data(2)["train"][:4]
    rng = np.random.default_rng(3)
    net = RNNMap(rng.normal(0, 0.5, (5, 5)), rng.normal(size=(5, 10)), rng.normal(size=5), "tanh",
                 rng.normal(size=(10, 5)), rng.normal(size=10))  # fmt: skip
    total, frames = 0.0, 0
    for s in data:
        s = s.astype(float)
        T = len(s) - 1
        res = bptt(net, s[:-1, None], ReadoutLoss(s[1:, None], "bernoulli", "all"))
        total += res.loss
        frames += T
    assert sequence_nll(_stack([net]), "tanh", data, chunk=3)[0] == pytest.approx(total / frames, rel=1e-13)


def test_training_lowers_the_nll_and_methods_share_their_start():
    cfg = SequenceConfig(n_hidden=8, epochs=4, lr=0.5, patience=0)
    h = train_sequences(cfg, _data())
    assert h.members == [("msgd", 0), ("msgd-c", 0), ("msgd-cr", 0)]
    assert h.train_nll.shape == (4, 3) and np.all(h.train_nll[-1] < 10 * np.log(2))
    assert np.all(np.isnan(h.omega[:, :2])) and np.all(h.omega[:, 2] > 0)
    np.testing.assert_allclose(h.alpha, 0.5 / np.arange(1, 5))
    assert h.update_norm.shape == (40, 3) and np.isfinite(h.update_norm).all()
    # the first update of MSGD and MSGD-C: same weights, same sequence -> same gradient norm
    # (MSGD-CR's norm includes its Ω term)
    assert h.update_norm[0, 0] == h.update_norm[0, 1] != h.update_norm[0, 2]
    be = h.best_epoch - 1
    np.testing.assert_array_equal(h.best["valid"], h.valid_nll[be, np.arange(3)])
    np.testing.assert_array_equal(h.best["valid"], np.min(h.valid_nll, axis=0))


def test_the_learning_rate_halves_when_the_training_nll_rises():
    # lr 40 on sigmoid units: the training NLL rises, and every rise halves the next epoch's rate
    h = train_sequences(SequenceConfig(n_hidden=6, epochs=5, lr=40.0, patience=0, methods=("msgd",)), _data())
    rose = ~(h.train_nll[1:, 0] <= h.train_nll[:-1, 0])  # epoch e+1 worse than epoch e
    assert rose[:-1].any()
    # (h.lr is the rate each epoch used: a rise at the end of epoch e+1 halves epoch e+2's)
    assert h.lr[0, 0] == h.lr[1, 0] == 40.0
    np.testing.assert_array_equal(h.lr[2:, 0], h.lr[1:-1, 0] * np.where(rose[:-1], 0.5, 1.0))
    h2 = train_sequences(SequenceConfig(n_hidden=6, epochs=5, lr=40.0, patience=0, methods=("msgd",),
                                        halve_on_rise=False), _data())  # fmt: skip
    assert np.all(h2.lr == 40.0)


def test_early_stopping_stops_a_member_and_keeps_its_best_weights():
    h = train_sequences(
        SequenceConfig(n_hidden=6, epochs=12, lr=40.0, patience=2, methods=("msgd",)), _data()
    )
    stop = int(h.stopped_at[0])
    assert stop > 0 and stop - h.best_epoch[0] == 2
    assert np.all(np.isnan(h.valid_nll[stop:, 0]))
    data = _data()
    assert sequence_nll(h.params, "sigmoid", data["valid"])[0] == pytest.approx(h.best["valid"][0], rel=1e-13)


def test_an_interrupted_run_resumes_bit_identically(tmp_path):
    cfg = SequenceConfig(n_hidden=7, epochs=3, lr=0.5, seeds=(0, 1), patience=0)
    whole = train_sequences(cfg, _data())
    for stop in (7, 16):  # inside an epoch, across an epoch boundary
        out = tmp_path / f"run{stop}"
        part = train_sequences(cfg, _data(), out, stop_after=stop)
        assert np.isfinite(part.update_norm[:stop]).all() and np.isnan(part.update_norm[stop:]).all()
        rest = train_sequences(cfg, _data(), out)
        for k in whole.epochs:
            np.testing.assert_array_equal(rest.epochs[k], whole.epochs[k], err_msg=k)
        np.testing.assert_array_equal(rest.update_norm, whole.update_norm)
        for p in whole.params:
            np.testing.assert_array_equal(rest.params[p], whole.params[p])
    # a larger budget extends the finished run
    longer = train_sequences(SequenceConfig(**{**cfg.to_dict(), "epochs": 4, "seeds": (0, 1)}), _data(), out)
    assert longer.train_nll.shape[0] == 4
    np.testing.assert_array_equal(longer.train_nll[:3], whole.train_nll)
    with pytest.raises(DynsysError, match="different config.*lr"):
        train_sequences(SequenceConfig(n_hidden=7, epochs=3, lr=0.25, seeds=(0, 1)), _data(), out)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(units="relu"), "units"),
        (dict(units="tanh", init="sigmoid"), "for sigmoid units"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(clip=float("nan")), "clip"),
        (dict(alpha=-1.0), "alpha must be >= 0"),
        (dict(methods=("sgd",)), "methods"),
        (dict(seeds=(1, 1)), "repeat"),
        (dict(epochs=0), "epochs"),
        (dict(max_sequences=0), "max_sequences"),
        (dict(halve_on_rise="yes"), "halve_on_rise"),
        (dict(dtype="float16"), "unknown dtype 'float16'; known: float64, float32"),
        (dict(dtype=np.int32), "dtype"),
    ],
)
def test_bad_configs_are_one_line_errors(kwargs, match):
    with pytest.raises(DynsysError, match=match) as err:
        SequenceConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_dtype_is_written_only_when_not_the_default():
    # (earlier configs keep their hashes and checkpoints: dtype is omitted at float64)
    assert "dtype" not in SequenceConfig().to_dict() and "dtype" not in SequenceConfig().resume_dict()
    cfg = SequenceConfig(dtype=np.float32)  # numpy's names for the type are accepted too
    assert cfg.dtype == "float32" and cfg.to_dict()["dtype"] == "float32"
    assert SequenceConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("units", ["sigmoid", "tanh"])
@pytest.mark.parametrize("K", [1, 3])
def test_float32_gradients_of_the_bernoulli_loss_match_float64(units, K):
    # one update's gradients (and Ω's) of a piano roll, computed in float32 end to end
    rng = np.random.default_rng(5)
    n, k, T = 40, 88, 30
    roll = (rng.uniform(size=(T + 1, 1, k)) < 0.1).astype(np.float64)
    w = np.full((T, 1), 1.0 / T)
    p64 = {"W_rec": rng.normal(0, 1 / np.sqrt(n), (K, n, n)), "W_in": rng.normal(0, 0.3, (K, n, k)),
           "b": rng.normal(0, 0.1, (K, n)), "W_out": rng.normal(0, 0.3, (K, k, n)),
           "b_out": rng.normal(0, 0.1, (K, k))}  # fmt: skip
    runs = {}
    for dt in (np.float64, np.float32):
        loss = ReadoutLoss(
            roll[1:].astype(dt), "bernoulli", "all", weights=w.astype(dt), gemm=dt == np.float32
        )
        p = [p64[q].astype(dt) for q in PARAM_NAMES]
        runs[dt] = bptt_stacked(*p, units, roll[:-1].astype(dt), loss, omega_bound=1e-20, workspace={})
    (v32, g32, e32), (v64, g64, e64) = runs[np.float32], runs[np.float64]
    assert v32.dtype == np.float32 and {g.dtype for g in g32.values()} == {np.dtype(np.float32)}
    assert e32["hidden"].dtype == e32["deltas"].dtype == e32["omega"][1].dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
    np.testing.assert_allclose(e32["omega"][0], e64["omega"][0], rtol=1e-5)
    for name, a, b in [
        *((q, g32[q], g64[q]) for q in PARAM_NAMES),
        ("omega", e32["omega"][1], e64["omega"][1]),
    ]:
        assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-5, name


@pytest.mark.parametrize("members", [dict(methods=("msgd-c",)), dict(seeds=(0, 1))])
def test_a_float32_run_stays_float32_and_follows_the_float64_run(tmp_path, members):
    cfg = dict(n_hidden=12, epochs=2, lr=0.5, patience=0, **members)
    h64 = train_sequences(SequenceConfig(**cfg), _data())
    h32 = train_sequences(SequenceConfig(**cfg, dtype="float32"), _data(), tmp_path)
    assert {v.dtype for v in h32.params.values()} == {np.dtype(np.float32)}
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["config"]["dtype"] == "float32"
    assert all(arrays[f"{w}_{p}"].dtype == np.float32 for w in ("param", "best") for p in PARAM_NAMES)
    # the same initial weights (rounded) and sequences: the first update agrees, the NLLs stay close
    np.testing.assert_allclose(h32.update_norm[0], h64.update_norm[0], rtol=1e-5)
    np.testing.assert_allclose(h32.train_nll, h64.train_nll, rtol=1e-4)
    np.testing.assert_allclose(h32.valid_nll, h64.valid_nll, rtol=1e-4)


def test_an_interrupted_float32_run_resumes_bit_identically(tmp_path):
    cfg = SequenceConfig(n_hidden=7, epochs=2, lr=0.5, seeds=(0, 1), patience=0, dtype="float32")
    whole = train_sequences(cfg, _data())
    part = train_sequences(cfg, _data(), tmp_path, stop_after=13)  # inside the second epoch
    assert part.train_nll.shape[0] == 1
    rest = train_sequences(cfg, _data(), tmp_path)
    for k in whole.epochs:
        np.testing.assert_array_equal(rest.epochs[k], whole.epochs[k], err_msg=k)
    np.testing.assert_array_equal(rest.update_norm, whole.update_norm)
    for p in whole.params:
        assert rest.params[p].dtype == np.float32
        np.testing.assert_array_equal(rest.params[p], whole.params[p])
    # a float64 run does not resume the float32 one (dtype is omitted from its config: still a difference)
    with pytest.raises(DynsysError, match="different config.*dtype"):
        train_sequences(
            SequenceConfig(n_hidden=7, epochs=2, lr=0.5, seeds=(0, 1), patience=0), _data(), tmp_path
        )


def test_sequence_nll_in_float32_agrees_with_float64():
    h = train_sequences(SequenceConfig(n_hidden=8, epochs=1, lr=0.5, methods=("msgd",)), _data())
    p32 = {k: v.astype(np.float32) for k, v in h.params.items()}
    valid = _data()["valid"]
    np.testing.assert_allclose(sequence_nll(p32, "sigmoid", valid), sequence_nll(h.params, "sigmoid", valid),
                               rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize("nonfinite", ["shrink", "skip"])
def test_the_in_place_update_has_the_bits_of_the_pure_one(nonfinite):
    # the sequence trainer's update writes into its weights (inplace=True): the same numbers as
    # the pure update, for an unclipped, a clipped, a regularized and a non-finite member
    rng = np.random.default_rng(2)
    K, n, k, T = 4, 6, 5, 9
    params = {"W_rec": rng.normal(0, 0.5, (K, n, n)), "W_in": rng.normal(size=(K, n, k)),
              "b": rng.normal(size=(K, n)), "W_out": rng.normal(size=(K, k, n)), "b_out": rng.normal(size=(K, k))}  # fmt: skip
    params["W_out"][3, 0, 0] = np.nan
    u = (rng.uniform(size=(T, 1, k)) < 0.3) * 1.0
    loss = ReadoutLoss(
        (rng.uniform(size=(T, 1, k)) < 0.3) * 1.0, "bernoulli", "all", weights=np.full((T, 1), 1 / T)
    )
    opts = StepOptions(
        lr=[0.1, 0.2, 0.3, 0.4], clip=[np.inf, 0.05, 0.5, 1.0], alpha=[0, 0, 0.5, 0], nonfinite=nonfinite
    )
    pure, _, info = loss_step({p: v.copy() for p, v in params.items()}, u, loss, "tanh", opts)
    own = {p: v.copy() for p, v in params.items()}
    new, _, info2 = loss_step(own, u, loss, "tanh", opts, inplace=True)
    assert info.clipped.tolist() == [False, True, True, False] and info.nonfinite.tolist() == [False] * 3 + [
        True
    ]
    for p in params:
        assert new[p] is own[p]
        np.testing.assert_array_equal(new[p], pure[p])
    for f in ("loss", "norm", "clipped", "nonfinite", "omega"):
        np.testing.assert_array_equal(getattr(info2, f), getattr(info, f))


def test_unknown_config_keys_are_named():
    with pytest.raises(DynsysError, match="unknown config key.*n_units"):
        SequenceConfig.from_dict({"n_units": 3})


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("valid"), r"data.valid must be a non-empty list"),
        (lambda d: d.update(test=[]), r"data.test must be a non-empty list"),
        (lambda d: d["train"].__setitem__(2, np.zeros((1, 10))), r"data.train\[2\].*T >= 2"),
        (lambda d: d["train"].__setitem__(3, np.zeros((5, 9))), r"data.train\[3\] has 9 keys"),
        (
            lambda d: d["valid"].__setitem__(0, np.full((5, 10), 0.5)),
            r"data.valid\[0\] must hold only 0 and 1",
        ),
    ],
)
def test_bad_data_is_a_one_line_error(mutate, match):
    data = _data()
    mutate(data)
    with pytest.raises(DynsysError, match=match):
        check_sequence_data(data)


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip")
    with pytest.raises(DynsysError, match="checkpoint"):
        train_sequences(SequenceConfig(n_hidden=4, epochs=1), _data(), tmp_path)
