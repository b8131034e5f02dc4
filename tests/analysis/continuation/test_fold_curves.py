"""Fold curves in two parameters and their cusps against the one-unit closed form."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.activations import get_activation
from dynsys.analysis.continuation import bifurcation_diagram, continue_fold_curve
from dynsys.errors import DynsysError
from dynsys.maps import UnitMap


def _fold_start(w, activation):
    """A fold of x ↦ w σ(x) + b: w σ'(x) = 1 (the upper solution) and b = x − w σ(x).

    sigmoid: σ' = s(1 − s) = 1/w ⇒ s = (1 + √(1 − 4/w))/2; tanh: σ' = 1 − t² ⇒ t = √(1 − 1/w).
    """
    s = 0.5 * (1 + np.sqrt(1 - 4 / w)) if activation == "sigmoid" else np.sqrt(1 - 1 / w)
    x = float(get_activation(activation).inverse(s))
    return x, w, x - w * s


def _check_curve(fc, activation, cusp):
    # the cusp: σ''(x) = 0 on the fold curve (the fold's quadratic coefficient is w σ''(x))
    assert fc.cusps.shape == (1, 2)
    np.testing.assert_allclose(fc.cusps[0], cusp, atol=1e-7)
    # every curve point satisfies the closed form w σ'(x) = 1, b = x − w σ(x)
    act = get_activation(activation)
    x, w, b = fc.states[:, 0], fc.params[:, 0], fc.params[:, 1]
    np.testing.assert_allclose(w * act.deriv(x), 1.0, atol=1e-9)
    np.testing.assert_allclose(b, x - w * act.fn(x), atol=1e-9)
    # both branches of the curve: x on both sides of the inflection point
    assert x.min() < -0.1 and x.max() > 0.1


@pytest.mark.parametrize("activation,cusp", [("sigmoid", (4.0, -2.0)), ("tanh", (1.0, 0.0))])
def test_fold_curve_from_closed_form_start(activation, cusp):
    start = _fold_start(5.0 if activation == "sigmoid" else 2.0, activation)
    m = UnitMap(w=start[1], b=start[2], activation=activation)
    box = ((cusp[0] - 0.5, cusp[0] + 4.0), (cusp[1] - 4.0, cusp[1] + 4.0))
    _check_curve(continue_fold_curve(m, ("w", "b"), start, box), activation, cusp)


def test_fold_curve_from_located_fold_via_bifurcations():
    # start from a Bifurcation found by bifurcation_diagram
    x, w, b = _fold_start(5.0, "sigmoid")
    m = UnitMap(w=w, b=b - 0.3, activation="sigmoid")
    fold = bifurcation_diagram(m, "b", (b - 1.0, b + 1.0)).of_type("fold")[0]
    np.testing.assert_allclose([fold.state[0], fold.param], [x, b], atol=1e-9)
    fc = continue_fold_curve(m, ("w", "b"), fold, ((3.5, 8.0), (-6.0, 2.0)))
    _check_curve(fc, "sigmoid", (4.0, -2.0))


def test_start_without_a_fold_at_its_w_is_rejected():
    # sigmoid: w σ'(x) ≤ w/4 < 1 for w = 3, so no fold exists at that w (the start fixes w)
    m = UnitMap(w=3.0, b=-1.5)
    with pytest.raises(DynsysError, match="fold point"):
        continue_fold_curve(m, ("w", "b"), (0.0, 3.0, -1.5), ((0.5, 8.0), (-6.0, 2.0)))
