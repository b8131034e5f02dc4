"""Boundary validation (dynsys._validate): one-line errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys._validate import as_float_array
from dynsys.errors import DynsysError


def test_complex_values_are_refused_not_truncated():
    with pytest.raises(DynsysError, match="^W must be real, got complex entries$"):
        as_float_array(np.array([1.0, 2.0 + 0.5j]), "W")
    # a complex array with zero imaginary part is real: kept without a ComplexWarning
    out = as_float_array(np.array([1.0 + 0j, 2.0]), "W", dtype=np.float32)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 2.0]


def test_non_numeric_values():
    with pytest.raises(DynsysError, match="x must be a numeric array"):
        as_float_array([[1.0], [1.0, 2.0]], "x")
    with pytest.raises(DynsysError, match="x must be a numeric array"):
        as_float_array(["a"], "x")
    assert as_float_array([1, 2], "x").dtype == np.float64


# -- check_rng, check_interval ------------------------------------------------------------------
def test_check_rng_accepts_seeds_and_generators():
    from dynsys._validate import check_rng

    g = np.random.default_rng(5)
    assert check_rng(g) is g  # a Generator goes on with its own stream
    assert check_rng(3).random() == np.random.default_rng(3).random()
    assert check_rng(np.int64(3)).random() == np.random.default_rng(3).random()
    assert (
        check_rng(np.random.SeedSequence(7)).random()
        == np.random.default_rng(np.random.SeedSequence(7)).random()
    )
    assert check_rng(np.random.PCG64(1)).random() == np.random.default_rng(np.random.PCG64(1)).random()
    assert check_rng([1, 2]).random() == np.random.default_rng([1, 2]).random()
    assert isinstance(check_rng(None), np.random.Generator)


@pytest.mark.parametrize("bad", ["abc", -1, 1.5, True, [1, -2], [], {"a": 1}, object()])
def test_check_rng_refuses_others_in_one_line(bad):
    from dynsys._validate import check_rng

    with pytest.raises(
        DynsysError, match="^seed must be None, a non-negative int, a SeedSequence or a Generator, got "
    ) as e:
        check_rng(bad, "seed")
    assert "\n" not in str(e.value)
    with pytest.raises(DynsysError, match=r"^rng must be .*, got 'abc'$"):
        check_rng("abc")


def test_check_interval():
    from dynsys._validate import check_interval

    assert check_interval([1, 2], "p") == (1.0, 2.0)
    for bad, msg in ((3, "p must be a pair \\(LO, HI\\), got 3"), ("ab", "p must be a pair"), ((1, 2, 3), "p must be a pair"),
                     ((2, 1), "p must satisfy LO < HI"), ((0, np.inf), "p \\(high end\\) must be finite")):  # fmt: skip
        with pytest.raises(DynsysError, match=f"^{msg}"):
            check_interval(bad, "p")


# -- memory_limit and check_memory -----------------------------------------------------------------
def test_memory_limit_from_the_environment(monkeypatch):
    from dynsys._validate import MEMORY_LIMIT_ENV, memory_limit

    monkeypatch.setenv(MEMORY_LIMIT_ENV, "123456")
    assert memory_limit() == 123456
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1e9")
    assert memory_limit() == 10**9
    for bad in ("abc", "-5", "0", "nan"):
        monkeypatch.setenv(MEMORY_LIMIT_ENV, bad)
        with pytest.raises(
            DynsysError, match=f"^DYNSYS_MEMORY_LIMIT must be a positive number of bytes, got '{bad}'$"
        ):
            memory_limit()


def test_memory_limit_is_half_the_available_memory(monkeypatch):
    import dynsys._validate as v

    monkeypatch.delenv(v.MEMORY_LIMIT_ENV, raising=False)
    monkeypatch.setattr(v, "_available_memory", lambda: 8 * 2**30)
    assert v.memory_limit() == 4 * 2**30
    monkeypatch.setattr(v, "_available_memory", lambda: None)
    assert v.memory_limit() is None
    v.check_memory(1e30, "n", "anything")  # unknown limit: no check


def test_available_memory_reads_meminfo_or_sysconf(monkeypatch):
    import builtins

    import dynsys._validate as v

    real = v._available_memory()
    assert real is None or real > 0
    real_open = builtins.open

    def no_meminfo(path, *a, **k):
        if str(path) == "/proc/meminfo":
            raise OSError("no /proc here")
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", no_meminfo)
    monkeypatch.setattr(v.os, "sysconf", lambda key: {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[key])
    assert v._available_memory() == 4096000


def test_check_memory_message(monkeypatch):
    from dynsys._validate import check_memory, format_bytes

    monkeypatch.setenv("DYNSYS_MEMORY_LIMIT", str(2**30))
    check_memory(2**30, "n", "x")  # exactly the limit fits
    with pytest.raises(DynsysError) as e:
        check_memory(
            3.5 * 2**30, "resolution", "the loss surface", value=30000, detail="9.0e8 grid points × 6 arrays"
        )
    assert str(e.value) == (
        "resolution=30000: the loss surface would need about 3.5 GiB (9.0e8 grid points × 6 arrays), "
        "more than the 1.0 GiB this machine can spare"
    )
    with pytest.raises(DynsysError, match="^starts: the solve would need about 2.0 GiB, more than"):
        check_memory(2 * 2**30, "starts", "the solve")
    assert [format_bytes(b) for b in (12, 2048, 5 * 2**20, 2**50)] == [
        "12 B",
        "2.0 KiB",
        "5.0 MiB",
        "1.0 PiB",
    ]


# -- progress_postfix -------------------------------------------------------------------------------
def test_progress_postfix_calls_set_postfix_when_there_is_one():
    from dynsys._validate import progress_postfix

    class Bar(list):
        def __init__(self, it):
            super().__init__(it)
            self.calls = []

        def set_postfix(self, **kw):
            self.calls.append(kw)

    bar = Bar(range(2))
    progress_postfix(bar, loss="0.5", error="0.1")
    assert bar.calls == [{"loss": "0.5", "error": "0.1"}]
    progress_postfix(range(3), loss=1.0)  # no set_postfix: nothing happens
    progress_postfix(type("X", (), {"set_postfix": 3})(), loss=1.0)  # not callable: ignored
