import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.io import load_arrays, load_result, load_weights, save_result, save_weights, to_json
from dynsys.io.files import result_paths
from dynsys.maps import RNNMap


def test_weights_roundtrip(tmp_path, rng):
    rnn = RNNMap(
        rng.normal(size=(4, 4)),
        rng.normal(size=(4, 2)),
        rng.normal(size=4),
        "sigmoid",
        rng.normal(size=(3, 4)),
        rng.normal(size=3),
    )
    path = save_weights(tmp_path / "w.npz", rnn)
    back = load_weights(path)
    for key in ("W_rec", "W_in", "b", "W_out", "b_out"):
        np.testing.assert_array_equal(getattr(back, key), getattr(rnn, key))
    assert back.activation.name == "sigmoid"
    assert load_weights(path, activation="tanh").activation.name == "tanh"
    assert load_weights(path).dim == 4


def test_minimal_weights_file(tmp_path):
    np.savez(tmp_path / "w.npz", W_rec=np.eye(3))
    rnn = load_weights(tmp_path / "w.npz")
    assert rnn.dim == 3 and rnn.input_dim == 0 and rnn.activation.name == "tanh"


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"W_in": np.ones((3, 1))}, "has no 'W_rec' array"),
        ({"W_rec": np.ones((3, 4))}, r"W_rec must be square"),
        ({"W_rec": np.eye(3), "b": np.ones(4)}, r"b must have shape \(3,\)"),
        ({"W_rec": np.eye(3) * np.nan}, "W_rec must be finite"),
        ({"W_rec": np.eye(3), "activation": np.array("gelu")}, "unknown activation 'gelu'"),
        ({"W_rec": np.eye(3), "activation": np.array(["tanh", "relu"])}, "0-d string array"),
        ({"W_rec": np.eye(3), "extra": np.ones(2)}, r"unknown key\(s\) extra"),
    ],
)
def test_bad_weight_files(tmp_path, arrays, match):
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(DynsysError, match=match):
        load_weights(tmp_path / "w.npz")


def test_pickled_npz_is_refused(tmp_path):
    np.savez(tmp_path / "w.npz", W_rec=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(DynsysError, match="pickled object; pickles are refused"):
        load_weights(tmp_path / "w.npz")


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DynsysError, match=r"cannot read .*bad\.npz: not an \.npz archive"):
        load_weights(tmp_path / "bad.npz")
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"W_rec": 1}))
    with pytest.raises(DynsysError, match="not an .npz archive .*; got a Python pickle"):
        load_weights(tmp_path / "p.npz")
    with pytest.raises(DynsysError, match="file not found"):
        load_weights(tmp_path / "nope.npz")
    with pytest.raises(DynsysError, match="is a directory"):
        load_weights(tmp_path)
    np.save(tmp_path / "w.npy", np.eye(2))  # np.load returns the array, not an archive
    with pytest.raises(DynsysError, match=r"cannot read .* as \.npz \(it is a single \.npy array"):
        load_weights(tmp_path / "w.npy")


def test_bytes_activation_is_decoded(tmp_path):
    np.savez(tmp_path / "w.npz", W_rec=np.eye(2), activation=np.array(b"sigmoid"))
    assert load_weights(tmp_path / "w.npz").activation.name == "sigmoid"


def test_result_roundtrip_and_atomicity(tmp_path, rng):
    arrays = {"a": rng.normal(size=(3, 2)), "i": np.arange(4)}
    meta = {"config": {"x": 1.5}, "metrics": {"nan": float("nan"), "v": np.float64(2.0)}}
    stem = save_result(tmp_path / "r", arrays, meta)
    a2, m2 = load_result(stem)
    np.testing.assert_array_equal(a2["a"], arrays["a"])
    assert m2["metrics"]["v"] == 2.0 and m2["metrics"]["nan"] == "nan"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left
    (tmp_path / "r.json").write_text("{broken")
    with pytest.raises(DynsysError, match="corrupt metadata"):
        load_result(stem)


def test_results_are_stored_compressed_and_load_bit_for_bit(tmp_path):
    import zipfile

    counts = np.repeat(np.arange(50), 1000)  # int64 event indices: 400 kB raw, very compressible
    stem = save_result(tmp_path / "r", {"counts": counts}, {"m": 1})
    with zipfile.ZipFile(tmp_path / "r.npz") as z:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    assert (tmp_path / "r.npz").stat().st_size < counts.nbytes / 20
    a, _ = load_result(stem)
    assert a["counts"].dtype == counts.dtype
    np.testing.assert_array_equal(a["counts"], counts)


def test_result_stems_with_dots_keep_their_profiles_apart(tmp_path):
    save_result(tmp_path / "exp.default", {"a": np.zeros(1)}, {"p": "default"})
    save_result(tmp_path / "exp.paper", {"a": np.ones(1)}, {"p": "paper"})
    assert load_result(tmp_path / "exp.default")[1]["p"] == "default"
    assert load_result(tmp_path / "exp.paper")[1]["p"] == "paper"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "exp.default.json",
        "exp.default.npz",
        "exp.paper.json",
        "exp.paper.npz",
    ]


def test_result_paths_name_what_save_result_writes(tmp_path):
    stem = tmp_path / "o" / "run.v1"
    npz, meta = result_paths(stem)
    assert (npz.name, meta.name) == ("run.v1.npz", "run.v1.json")
    assert save_result(stem, {"a": np.zeros(1)}, {}) == stem
    assert sorted((tmp_path / "o").iterdir()) == sorted([npz, meta])


def _npz_bytes():
    buf = io.BytesIO()
    np.savez(buf, W_rec=np.eye(3))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "got"),
    [
        (b"W_rec = [[1, 0], [0, 1]]\n# a text file renamed .npz\n", "a text file"),
        ("é" * 300, "a text file"),  # 600 bytes of UTF-8: the head read ends inside a character
        (b"", "an empty file"),
        (bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8)), "binary data"),
        (_npz_bytes()[:200], "a truncated or corrupt zip file"),
        (pickle.dumps({"W_rec": np.eye(2)}), "a Python pickle"),
    ],
)
def test_a_file_that_is_not_a_zip_is_named_in_one_line(tmp_path, content, got):
    path = tmp_path / "text.npz"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(DynsysError) as exc:
        load_weights(path, name="--weights")
    msg = str(exc.value)
    assert msg == f"--weights: cannot read {path}: not an .npz archive (a zip file); got {got}"
    assert "\n" not in msg and "pickled" not in msg


def test_truncated_tail_and_empty_archive(tmp_path):
    data = _npz_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:-30])  # the central directory is cut off
    with pytest.raises(DynsysError, match="got a truncated or corrupt zip file"):
        load_arrays(tmp_path / "cut.npz", "--weights")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    assert load_arrays(tmp_path / "empty.npz", "x") == {}
    np.save(tmp_path / "one.npz", np.eye(2))  # np.save appends .npy: a .npy with the name .npz.npy
    with pytest.raises(DynsysError, match="single .npy array, not an archive"):
        load_arrays(tmp_path / "one.npz.npy", "--weights")


@pytest.mark.parametrize("nonfinite", ["string", "null"])
def test_to_json_nonfinite(nonfinite):
    obj = {
        "py": [float("nan"), float("inf"), -float("inf"), 1.5],
        "np": [np.float64("nan"), np.float32("-inf"), np.float16(2.0)],
        "arr": np.array([[np.nan, 1.0], [np.inf, -np.inf]]),
        "nested": ({"x": np.float64("inf")},),
        "int": np.int64(3),
    }
    text = to_json(obj, nonfinite=nonfinite, sort_keys=True)
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in strict JSON"))
    nan, inf, ninf = ("nan", "inf", "-inf") if nonfinite == "string" else (None, None, None)
    assert back == {
        "py": [nan, inf, ninf, 1.5],
        "np": [nan, ninf, 2.0],
        "arr": [[nan, 1.0], [inf, ninf]],
        "nested": [{"x": inf}],
        "int": 3,
    }


def test_to_json_default_and_bad_policy():
    assert to_json(np.float64("nan")) == '"nan"'  # a numpy scalar NaN was a bare NaN before
    assert to_json([np.nan], nonfinite="null", indent=None) == "[null]"
    with pytest.raises(DynsysError, match="unknown nonfinite 'zero'; known: string, null"):
        to_json(1.0, nonfinite="zero")


def test_save_weights_round_trips_every_trainable_map(tmp_path):
    """RNN, residual, LN (eq. 2 format with ``map``), GRU, LSTM and a stack (PyTorch keys)."""
    from dynsys.io import load_weights, save_weights
    from dynsys.maps import GRUMap, LayerNormRNNMap, LSTMMap, ResidualRNNMap, RNNMap, StackedMap

    rng = np.random.default_rng(0)
    n, m, k = 4, 2, 3
    r = lambda *s: rng.normal(size=s)  # noqa: E731
    maps = [
        RNNMap(r(n, n), r(n, m), r(n), "relu", r(k, n), r(k)),
        ResidualRNNMap(r(n, n), r(n, m), r(n), r(k, n), r(k), activation="sigmoid"),
        LayerNormRNNMap(r(n, n), r(n, m), r(n), r(n), r(k, n), r(k)),
        GRUMap(r(3 * n, m), r(3 * n, n), r(3 * n), r(3 * n), r(k, n), r(k)),
        LSTMMap(r(4 * n, m), r(4 * n, n), r(4 * n), r(4 * n)),
        StackedMap((GRUMap(r(3 * n, m), r(3 * n, n)), GRUMap(r(3 * n, n), r(3 * n, n))), W_out=r(k, n)),
    ]
    x, u = r(5, maps[0].dim), r(5, m)
    for i, net in enumerate(maps):
        back = load_weights(save_weights(tmp_path / f"w{i}.npz", net))
        assert type(back) is type(net)
        x = r(5, net.dim)
        np.testing.assert_array_equal(back.step(x, u), net.step(x, u))
        np.testing.assert_array_equal(back.hidden(x), net.hidden(x))
        if "W_out" in net.param_names and net.get_param("W_out") is not None:
            np.testing.assert_array_equal(back.get_param("W_out"), net.get_param("W_out"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, W_rec=np.eye(2), map=np.array("GRUMap"))
    with pytest.raises(DynsysError, match=r"^weights: 'map' must be one of RNNMap, ResidualRNNMap"):
        load_weights(bad)
