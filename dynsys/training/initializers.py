"""Weight initializations of the paper's experiments (§5) and two modern ones for comparison.

Column convention of eq. 2: ``x_t = W_rec σ(x_{t-1}) + W_in u_t + b``, readout
``y_t = W_out σ(x_t) + b_out``. All biases start at zero.

==============  ==========  ====================================================================
name            activation  weights
==============  ==========  ====================================================================
sigmoid         sigmoid     W_in, W_rec, W_out ~ N(0, 0.01²)
basic_tanh      tanh        W_in, W_rec, W_out ~ N(0, 0.1²)
smart_tanh      tanh        W_in, W_out ~ N(0, 0.01²); W_rec ~ N(0, 0.01²), then only 15 random
                            non-zeros kept per unit, then rescaled to spectral radius 0.95
orthogonal      tanh        W_rec = gain · Q (Q Haar-orthogonal); W_in, W_out ~ N(0, 0.01²)
identity        tanh        W_rec = scale · I; W_in, W_out ~ N(0, 0.01²)
==============  ==========  ====================================================================

"Per unit" follows the authors' code, which zeroes entries of each row of their row-convention
matrix ``W_hh`` (``h_t = σ(h_{t-1} W_hh + …)``); here ``W_rec = W_hhᵀ``, so every **column** of
``W_rec`` (the connections leaving a unit) has ``min(15, n)`` non-zeros.

Examples
--------
>>> import numpy as np
>>> from dynsys.training import initialize
>>> p = initialize("smart_tanh", 50, 6, 4, rng=0)
>>> round(float(np.max(np.abs(np.linalg.eigvals(p.W_rec)))), 6)
0.95
"""

from __future__ import annotations

import numpy as np

from .._validate import check_finite_scalar, check_memory, check_positive_int, check_rng
from ..analysis.conditions import spectral_radius
from ..errors import DynsysError
from ..maps import RNNMap

__all__ = ["initialize", "initializer_names"]


_NAMES = ("sigmoid", "basic_tanh", "smart_tanh", "orthogonal", "identity")
#: n × n float64 arrays held at once while drawing ``W_rec`` (measured: 2.1 for the Gaussian
#: and identity ones; 4.2 for smart_tanh — draws, random keys, their argsort, the mask — and
#: for orthogonal — the draw, Q, R and the product), with room for LAPACK's work arrays
_INIT_MATRICES = {"smart_tanh": 5, "orthogonal": 5}


def initializer_names() -> tuple[str, ...]:
    return _NAMES


def initialize(
    name: str,
    n_hidden: int,
    n_in: int,
    n_out: int,
    rng=None,
    *,
    gain: float = 1.0,
    nonzeros: int = 15,
    radius: float = 0.95,
) -> RNNMap:
    """Draw the initial weights of one network.

    Parameters
    ----------
    name : {"sigmoid", "basic_tanh", "smart_tanh", "orthogonal", "identity"}
    n_hidden, n_in, n_out : int
        ``n``, ``m``, ``k``.
    rng : None, int, SeedSequence or Generator
    gain : float
        Scale of ``W_rec`` for ``orthogonal`` and ``identity``.
    nonzeros, radius : int, float
        Sparsity and spectral radius of ``smart_tanh`` (paper: 15 and 0.95).

    Returns
    -------
    RNNMap
        With its readout (``W_out``, ``b_out``); all biases zero. An ``n_hidden`` whose
        matrices would not fit in memory is refused before any is drawn
        (:func:`dynsys._validate.check_memory`).
    """
    if name in ("basic-tanh", "smart-tanh"):
        name = name.replace("-", "_")
    if name not in _NAMES:
        raise DynsysError(f"unknown initialization {name!r}; known: {', '.join(_NAMES)}")
    n = check_positive_int(n_hidden, "n_hidden")
    m = check_positive_int(n_in, "n_in", minimum=0)
    k = check_positive_int(n_out, "n_out")
    gain = check_finite_scalar(gain, "gain")
    rng = check_rng(rng)
    mats = _INIT_MATRICES.get(name, 3)
    check_memory(
        8.0 * (mats * n * n + 2 * n * (m + k)),
        "n_hidden",
        "the initial weights",
        value=n,
        detail=f"{mats} arrays of {n}×{n} float64",
    )
    scale = {"sigmoid": 0.01, "basic_tanh": 0.1}.get(name, 0.01)
    W_in = rng.normal(0.0, scale, size=(n, m))
    if name == "smart_tanh":
        nz = check_positive_int(nonzeros, "nonzeros")
        radius = check_finite_scalar(radius, "radius")
        W = rng.normal(0.0, 0.01, size=(n, n))
        # keep min(nz, n) random entries in every column (one permutation per unit, as the code)
        keep = np.argsort(rng.random((n, n)), axis=0)[: min(nz, n)]
        mask = np.zeros((n, n), dtype=bool)
        np.put_along_axis(mask, keep, True, axis=0)
        W = np.where(mask, W, 0.0)
        W_rec = radius * W / spectral_radius(W, method="dense")
    elif name == "orthogonal":
        q, r = np.linalg.qr(rng.normal(size=(n, n)))
        W_rec = gain * q * np.sign(np.diag(r))  # Haar measure (Mezzadri 2007)
    elif name == "identity":
        W_rec = gain * np.eye(n)
    else:
        W_rec = rng.normal(0.0, scale, size=(n, n))
    W_out = rng.normal(0.0, scale, size=(k, n))
    act = "sigmoid" if name == "sigmoid" else "tanh"
    return RNNMap(W_rec, W_in, np.zeros(n), act, W_out, np.zeros(k))
