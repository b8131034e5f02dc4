"""check_writable_output / check_writable_dir: refuse a path that cannot be written, create nothing."""

import os

import pytest

from dynsys.errors import DynsysError
from dynsys.io.files import check_writable_dir, check_writable_output

needs_non_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root bypasses file permissions"
)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_writable_paths_pass_and_nothing_is_created(tmp_path):
    (tmp_path / "old.npz").write_bytes(b"x")
    before = _tree(tmp_path)
    assert check_writable_output(tmp_path / "a" / "b" / "r.npz", "--out") == tmp_path / "a" / "b" / "r.npz"
    assert check_writable_output(tmp_path / "old.npz", "--out") == tmp_path / "old.npz"  # overwritten
    assert check_writable_dir(tmp_path / "run" / "one", "--out") == tmp_path / "run" / "one"
    assert check_writable_dir(tmp_path, "--out") == tmp_path
    assert _tree(tmp_path) == before


def test_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(check_writable_output("r.npz", "--out")) == "r.npz"
    assert str(check_writable_dir("runs/x", "--out")) == "runs/x"
    assert _tree(tmp_path) == []


def test_a_file_as_parent_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    for target in (tmp_path / "afile" / "r.npz", tmp_path / "afile" / "deeper" / "r.npz"):
        with pytest.raises(DynsysError) as exc:
            check_writable_output(target, "--out")
        assert str(exc.value) == f"--out: {tmp_path / 'afile'} is a file, not a folder"
    with pytest.raises(DynsysError, match=r"^--store: .*afile is a file, not a folder$"):
        check_writable_dir(tmp_path / "afile" / "run", "--store")
    assert _tree(tmp_path) == ["afile"]


def test_a_folder_as_file_target_and_a_file_as_folder_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(DynsysError, match=r"^--out: .*d is a folder, not a file$"):
        check_writable_output(tmp_path / "d", "--out")
    with pytest.raises(DynsysError, match=r"^--out: .*f is a file, not a folder$"):
        check_writable_dir(tmp_path / "f", "--out")
    with pytest.raises(DynsysError, match="^--out: the path is empty$"):
        check_writable_output("", "--out")
    with pytest.raises(DynsysError, match="^--out: the path is empty$"):
        check_writable_dir("", "--out")


def test_a_broken_link_as_parent_is_refused(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    with pytest.raises(DynsysError, match="link is a broken link, not a folder"):
        check_writable_output(tmp_path / "link" / "r.npz", "--out")


@needs_non_root
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.npz").write_bytes(b"x")
    ro.chmod(0o555)
    try:
        for check, target in (
            (check_writable_output, ro / "r.npz"),
            (check_writable_output, ro / "new" / "deep" / "r.npz"),
            (check_writable_dir, ro),
            (check_writable_dir, ro / "run"),
        ):
            with pytest.raises(DynsysError) as exc:
                check(target, "--out")
            assert str(exc.value) == f"--out: no permission to write in {ro}"
    finally:
        ro.chmod(0o755)


@needs_non_root
def test_a_read_only_file_is_refused(tmp_path):
    f = tmp_path / "s.sqlite"
    f.write_bytes(b"")
    f.chmod(0o444)
    try:
        with pytest.raises(DynsysError, match=r"^--store: no permission to write .*s\.sqlite$"):
            check_writable_output(f, "--store")
    finally:
        f.chmod(0o644)
