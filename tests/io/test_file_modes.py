"""Every file dynsys writes gets the mode a plain ``open(path, "w")`` gives: 0o666 & ~umask."""

import os
import stat

import numpy as np
import pytest
from matplotlib.figure import Figure  # no pyplot: no backend or global figure state

from dynsys.io.files import (
    save_arrays,
    save_checkpoint,
    save_figure,
    save_result,
    write_text_atomic,
)
from dynsys.io.weights import save_weights
from dynsys.maps import RNNMap
from dynsys.runs.store import ResultStore


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _writes(tmp_path):
    """Each writer of dynsys.io, writing into a fresh subfolder; yields the paths written."""
    yield save_arrays(tmp_path / "a.npz", {"x": np.arange(3)})
    stem = save_result(tmp_path / "sub" / "r.v1", {"x": np.zeros(2)}, {"m": 1.0})
    yield stem.with_name("r.v1.npz")
    yield stem.with_name("r.v1.json")
    yield write_text_atomic(tmp_path / "t.txt", "hello\n")
    yield save_checkpoint(tmp_path / "c.npz", {"w": np.ones(2)}, {"step": 3})
    yield save_weights(tmp_path / "w.npz", RNNMap(np.eye(2)))
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    yield from save_figure(fig, tmp_path / "figs" / "f")


def test_written_files_get_the_umask_mode(tmp_path, umask):
    paths = list(_writes(tmp_path))
    assert len(paths) == 8
    for p in paths:
        assert _mode(p) == 0o666 & ~umask, (p.name, oct(_mode(p)))
    assert _mode(tmp_path / "sub") == 0o777 & ~umask  # folders made on the way
    assert not [p for p in tmp_path.rglob(".*") if p.name.endswith(".tmp")]  # no temporary left


def test_overwrite_takes_the_current_umask(tmp_path):
    old = os.umask(0o077)
    try:
        p = write_text_atomic(tmp_path / "t.txt", "a")
        assert _mode(p) == 0o600
        os.umask(0o022)
        write_text_atomic(p, "b")
        assert _mode(p) == 0o644 and p.read_text() == "b"
    finally:
        os.umask(old)


def test_store_array_files_get_the_umask_mode(tmp_path, umask):
    with ResultStore(tmp_path / "s.sqlite") as st:
        st.record("k1", "r", {"a": 1}, status="done", metrics={"v": 1.0}, arrays={"x": np.ones(3)})
    arr = tmp_path / "s.sqlite.arrays" / "k1.npz"
    assert _mode(arr) == 0o666 & ~umask
    with ResultStore(tmp_path / "s.sqlite", create=False) as st:
        np.testing.assert_array_equal(st.load_arrays("k1")["x"], np.ones(3))


class _Boom(RuntimeError):
    pass


class _FailingFigure:
    def savefig(self, fh, **kw):
        fh.write(b"partial")
        raise _Boom


def test_failed_writes_leave_the_old_file_and_no_temporary(tmp_path):
    p = write_text_atomic(tmp_path / "t.txt", "old")
    with pytest.raises(_Boom):
        save_figure(_FailingFigure(), tmp_path / "t", formats=("txt",))
    assert p.read_text() == "old"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["t.txt"]

    class Bad:  # an array that fails while np.savez writes into the temporary file
        def __array__(self, *a, **k):
            raise _Boom

    with pytest.raises(_Boom):
        save_arrays(tmp_path / "t.txt", {"x": Bad()})
    assert p.read_text() == "old"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["t.txt"]
