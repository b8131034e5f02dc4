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
