"""Gradient clipping: Algorithm 1 of the paper (norm clipping), Mikolov's element-wise variant,
and a policy for non-finite gradients.

Algorithm 1 (paper §3.2)::

    g ← ∂E/∂θ
    if ‖g‖ > threshold:  g ← (threshold / ‖g‖) · g

``‖g‖`` is *one* L2 norm over all parameters together, so the direction of the update is kept
and only its length is bounded. The paper's code tests ``norm > threshold`` (strict), which is
what :func:`clip_grad_norm` does. When the norm is NaN, infinite or above ``1e10`` the paper's
code does not use the gradient at all: it applies ``0.02·W_rec`` to ``W_rec`` (a small shrink of
the recurrent weights) and zero to every other parameter. Here that is the ``"shrink"`` policy;
``"skip"`` returns a zero update and ``"raise"`` raises :class:`~dynsys.errors.DynsysError`.

Every function is pure: it returns new arrays in the same container type it was given (a dict,
a list, a tuple, or a single array) together with a :class:`ClipInfo` telemetry record. The
arrays keep their floating-point type (float32 gradients are clipped in float32; integer arrays
become float64); the norms are float64.

Examples
--------
>>> import numpy as np
>>> g = {"W_rec": np.array([[3.0, 0.0], [0.0, 0.0]]), "b": np.array([4.0, 0.0])}
>>> clipped, info = clip_grad_norm(g, 1.0)
>>> float(info.norm), float(info.scale), info.clipped
(5.0, 0.2, True)
>>> clipped["b"]
array([0.8, 0. ])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._validate import check_choice, check_finite_scalar
from ..errors import DynsysError

__all__ = [
    "NONFINITE_LIMIT",
    "SHRINK_FACTOR",
    "ClipInfo",
    "clip_grad_norm",
    "clip_grad_norm_stacked",
    "clip_grad_value",
    "global_norm",
]

#: Norms above this count as non-finite (the paper's code uses ``1e10``).
NONFINITE_LIMIT = 1e10
#: The paper code's shrink of ``W_rec`` when the gradient is non-finite.
SHRINK_FACTOR = 0.02

NonFinitePolicy = Literal["raise", "skip", "shrink"]
_POLICIES = ("raise", "skip", "shrink")


@dataclass(frozen=True)
class ClipInfo:
    """Telemetry of one clipping call.

    Attributes
    ----------
    norm : float or ndarray, shape (K,)
        The global L2 norm of the gradient *before* clipping (NaN/Inf kept as found).
        Per ensemble member for :func:`clip_grad_norm_stacked`.
    scale : float or ndarray, shape (K,)
        The factor the gradient was multiplied by: ``1`` when not clipped,
        ``threshold / norm`` when clipped, ``0`` for a non-finite gradient (skip/shrink).
        For :func:`clip_grad_value` it is the ratio of norms after/before.
    clipped : bool or ndarray of bool, shape (K,)
        Whether the gradient was rescaled (norm clipping) or any element was cut (value clipping).
    nonfinite : bool or ndarray of bool, shape (K,)
        Whether the norm was NaN, Inf or above :data:`NONFINITE_LIMIT` (then the update is the
        policy's: zero, or ``SHRINK_FACTOR·W_rec`` for ``W_rec`` under ``"shrink"``).
    """

    norm: Any
    scale: Any
    clipped: Any
    nonfinite: Any


# ---------------------------------------------------------------------------------------------
# containers


def _as_float(a) -> np.ndarray:
    """``a`` as a float array: its own floating-point type (float32 stays float32), else float64."""
    a = np.asarray(a)
    return a if a.dtype.kind == "f" else a.astype(float)


def _unpack(grads, name: str = "grads") -> tuple[list[str] | None, list[np.ndarray], str]:
    """Return (keys or None, list of float arrays, kind) for a dict / sequence / array."""
    if isinstance(grads, Mapping):
        keys = list(grads.keys())
        arrays = [_as_float(grads[k]) for k in keys]
        kind = "mapping"
    elif isinstance(grads, np.ndarray):
        keys, arrays, kind = None, [_as_float(grads)], "array"
    elif isinstance(grads, Sequence) and not isinstance(grads, str):
        keys, arrays = None, [_as_float(g) for g in grads]
        kind = "tuple" if isinstance(grads, tuple) else "list"
    else:
        raise DynsysError(
            f"{name} must be a dict, a list/tuple of arrays or an array, got {type(grads).__name__}"
        )
    if not arrays:
        raise DynsysError(f"{name} must contain at least one array")
    return keys, arrays, kind


def _repack(keys, arrays, kind, original):
    if kind == "mapping":
        out = dict(zip(keys, arrays))
        if type(original) is not dict:
            try:
                return type(original)(out)
            except TypeError:
                return out
        return out
    if kind == "array":
        return arrays[0]
    return tuple(arrays) if kind == "tuple" else list(arrays)


def _check_threshold(threshold) -> float:
    t = check_finite_scalar(threshold, "threshold")
    if t <= 0:
        raise DynsysError(f"threshold must be > 0, got {t}")
    return t


def global_norm(grads) -> float:
    """The L2 norm of all gradient arrays together, ``sqrt(Σ_p Σ_i g_{p,i}²)`` (Algorithm 1)."""
    return _norm(_unpack(grads)[1])


def _norm(arrays) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(sum(float(np.sum(a * a)) for a in arrays)))


def _is_nonfinite(norm, limit=NONFINITE_LIMIT):
    with np.errstate(invalid="ignore"):  # (NaN compares False; isfinite flags it)
        return ~np.isfinite(norm) | (np.abs(norm) > limit)


def _check_limit(limit) -> float:
    try:
        lim = float(limit)
    except (TypeError, ValueError):
        raise DynsysError(f"limit must be a number, got {limit!r}") from None
    if not lim > 0:
        raise DynsysError(f"limit must be > 0 (inf: only NaN/Inf norms are non-finite), got {lim}")
    return lim


def _shrink_param(keys, arrays, params, recurrent: str = "W_rec") -> tuple[int, np.ndarray]:
    """Index of ``recurrent`` in ``keys`` and the checked current ``params[recurrent]`` (shrink policy)."""
    if keys is None or recurrent not in keys:
        raise DynsysError(f'nonfinite="shrink" needs a dict of gradients with a "{recurrent}" entry')
    if params is None or not isinstance(params, Mapping) or recurrent not in params:
        raise DynsysError(f'nonfinite="shrink" needs params with the current "{recurrent}" (a dict)')
    w = _as_float(params[recurrent])
    i = keys.index(recurrent)
    if w.shape != arrays[i].shape:
        raise DynsysError(f'params["{recurrent}"] must have shape {arrays[i].shape}, got {w.shape}')
    return i, w


# ---------------------------------------------------------------------------------------------
# norm clipping


def clip_grad_norm(
    grads,
    threshold: float,
    *,
    nonfinite: NonFinitePolicy = "raise",
    params: Mapping[str, np.ndarray] | None = None,
    eps: float = 0.0,
    shrink: float = SHRINK_FACTOR,
    limit: float = NONFINITE_LIMIT,
):
    """Norm clipping, paper Algorithm 1: one L2 norm over all parameters, direction kept.

    Parameters
    ----------
    grads : dict of str -> ndarray, list/tuple of ndarray, or ndarray
        The gradient ``∂E/∂θ``; any shapes.
    threshold : float
        Clip when ``‖g‖ + eps > threshold``, then ``g ← threshold/(‖g‖ + eps) · g``.
    nonfinite : {"raise", "skip", "shrink"}
        What to do when ``‖g‖`` is NaN/Inf or above :data:`NONFINITE_LIMIT`: raise
        :class:`DynsysError`; return a zero update (flagged); or the paper code's shrink —
        ``shrink·W_rec`` for ``"W_rec"`` (taken from ``params``) and zero for every other key.
        The shrink array is returned *as the update* ``g`` (a trainer doing ``θ ← θ − lr·g``
        thus shrinks ``W_rec`` by ``lr·shrink``; the paper code subtracted it without ``lr``).
    params : dict of str -> ndarray, optional
        The current parameters; needed (``"W_rec"``) by the shrink policy only.
    eps : float
        Added to the norm in the test and the scale. ``0`` is Algorithm 1 exactly;
        ``1e-6`` reproduces ``torch.nn.utils.clip_grad_norm_``.
    shrink : float
        The shrink factor (paper code: 0.02).
    limit : float
        Norms above ``limit`` count as non-finite (default :data:`NONFINITE_LIMIT`, the paper
        code's training safeguard); ``inf``: only NaN/Inf norms do, finite norms of any size
        are clipped (Algorithm 1 alone, e.g. :func:`dynsys.analysis.walls.descend`).

    Returns
    -------
    clipped : same container type as ``grads``
        New arrays (the input is never modified).
    info : ClipInfo
        ``norm`` before clipping, the ``scale`` applied, ``clipped``, ``nonfinite``.
    """
    threshold = _check_threshold(threshold)
    check_choice(nonfinite, "nonfinite", _POLICIES)
    limit = _check_limit(limit)
    keys, arrays, kind = _unpack(grads)
    norm = _norm(arrays)
    if bool(_is_nonfinite(norm, limit)):
        if nonfinite == "raise":
            raise DynsysError(f"gradient norm is not finite or above {limit:g}: {norm}")
        out = [np.zeros_like(a) for a in arrays]
        if nonfinite == "shrink":
            i, w = _shrink_param(keys, arrays, params)
            out[i] = shrink * w
        return _repack(keys, out, kind, grads), ClipInfo(norm, 0.0, False, True)
    if norm + eps > threshold:
        scale = threshold / (norm + eps)
        out = [a * scale for a in arrays]
        return _repack(keys, out, kind, grads), ClipInfo(norm, scale, True, False)
    out = [a.copy() for a in arrays]
    return _repack(keys, out, kind, grads), ClipInfo(norm, 1.0, False, False)


def clip_grad_norm_stacked(
    grads,
    threshold,
    *,
    nonfinite: NonFinitePolicy = "raise",
    params: Mapping[str, np.ndarray] | None = None,
    eps: float = 0.0,
    shrink: float = SHRINK_FACTOR,
    limit: float = NONFINITE_LIMIT,
    recurrent: str = "W_rec",
    copy: bool = True,
):
    """Algorithm 1 for an ensemble of K networks at once: one norm per member.

    Parameters
    ----------
    grads : dict / list / tuple of ndarray, each shape (K, ...)
        Gradients of K networks stacked on a leading axis (as ``bptt_stacked`` returns them).
        The norm adds the parameters' squared norms in the container's order.
    threshold : float or ndarray, shape (K,)
        One threshold for every member (finite, > 0), or one per member (> 0; ``inf`` means
        that member is never clipped, e.g. MSGD beside MSGD-C in one ensemble).
    nonfinite, eps, shrink, limit
        As in :func:`clip_grad_norm`, applied member by member (the non-finite test applies to
        every member, clipped or not). With ``"shrink"``, ``params[recurrent]`` has shape (K, ...).
    recurrent : str
        The recurrent matrix the ``"shrink"`` policy shrinks (``"W_rec"``; a gated cell's
        ``"weight_hh"``).
    copy : bool
        True (default): new arrays, ``grads`` untouched. False: the float arrays of ``grads`` are
        scaled in place and returned (as they are when no member is clipped), for a caller that
        owns its gradients (:func:`dynsys.training.step.loss_step` with ``inplace=True``); the
        same arithmetic, so the same values.

    Returns
    -------
    clipped : same container type as ``grads``
    info : ClipInfo
        ``norm``, ``scale`` (float arrays, shape (K,)), ``clipped``, ``nonfinite`` (bool arrays).

    Examples
    --------
    >>> g = {"W_rec": np.array([[[3.0]], [[3.0]]]), "b": np.array([[4.0], [4.0]])}
    >>> out, info = clip_grad_norm_stacked(g, np.array([1.0, np.inf]))
    >>> info.scale.tolist(), out["b"][:, 0].tolist()
    ([0.2, 1.0], [0.8, 4.0])
    """
    if np.ndim(threshold) == 0:
        threshold = _check_threshold(threshold)
    check_choice(nonfinite, "nonfinite", _POLICIES)
    limit = _check_limit(limit)
    keys, arrays, kind = _unpack(grads)
    if any(a.ndim < 1 for a in arrays):
        raise DynsysError("grads must have a leading ensemble axis K on every array")
    K = arrays[0].shape[0]
    if any(a.shape[0] != K for a in arrays):
        raise DynsysError(f"grads must share the leading ensemble axis, got {[a.shape for a in arrays]}")
    if not isinstance(threshold, float):
        threshold = _check_thresholds(threshold, K)
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.zeros(K)
        for a in arrays:
            sq += np.sum(a.reshape(K, -1) ** 2, axis=1)
        norm = np.sqrt(sq)
    bad = _is_nonfinite(norm, limit)
    if bad.any() and nonfinite == "raise":
        raise DynsysError(
            f"gradient norm is not finite or above {limit:g} for member(s) {np.flatnonzero(bad).tolist()}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        clipped = ~bad & (norm + eps > threshold)
        scale = np.where(clipped, threshold / (norm + eps), 1.0)
    scale = np.where(bad, 0.0, scale)
    out = []
    unit = not copy and bool(np.all(scale == 1.0))  # in place and nothing to scale: x · 1 = x
    with np.errstate(over="ignore", invalid="ignore"):
        for a in arrays:
            shape = (K,) + (1,) * (a.ndim - 1)
            s = scale.astype(a.dtype, copy=False).reshape(shape)  # (float32 gradients stay float32)
            g = a * s if copy else a if unit else np.multiply(a, s, out=a)
            out.append(np.where(bad.reshape(shape), 0.0, g) if bad.any() else g)
    if bad.any() and nonfinite == "shrink":
        i, w = _shrink_param(keys, arrays, params, recurrent)
        mask = bad.reshape((K,) + (1,) * (w.ndim - 1))
        out[i] = np.where(mask, float(shrink) * w.astype(out[i].dtype, copy=False), out[i])
    return _repack(keys, out, kind, grads), ClipInfo(norm, scale, clipped, bad)


def _check_thresholds(threshold, K: int) -> np.ndarray:
    """Per-member thresholds: shape (K,), each > 0 (``inf`` allowed: no clipping)."""
    try:
        t = np.asarray(threshold, dtype=float)
    except (TypeError, ValueError):
        raise DynsysError(f"threshold must be a number or an array of numbers, got {threshold!r}") from None
    if t.shape != (K,):
        raise DynsysError(f"threshold must be a scalar or have shape ({K},), got shape {t.shape}")
    if not np.all(t > 0):  # also rejects NaN
        raise DynsysError(f"threshold must be > 0 (inf: no clipping) for every member, got {t.tolist()}")
    return t


# ---------------------------------------------------------------------------------------------
# element-wise clipping


def clip_grad_value(grads, threshold: float):
    """Mikolov's element-wise clipping: every entry cut to ``[-threshold, threshold]``.

    Unlike :func:`clip_grad_norm` this changes the direction of the update. NaN entries stay NaN.

    Returns
    -------
    clipped : same container type as ``grads``
    info : ClipInfo
        ``norm`` before, ``scale`` = norm after / norm before (1 when nothing was cut),
        ``clipped`` whether any entry was cut, ``nonfinite`` whether the norm before was
        non-finite or above :data:`NONFINITE_LIMIT`.
    """
    threshold = _check_threshold(threshold)
    keys, arrays, kind = _unpack(grads)
    norm = _norm(arrays)
    with np.errstate(over="ignore", invalid="ignore"):
        out = [np.clip(a, -threshold, threshold) for a in arrays]
        cut = any(bool(np.any(np.abs(a) > threshold)) for a in arrays)
        after = _norm(out)
        scale = after / norm if (cut and norm > 0 and np.isfinite(norm)) else 1.0
    return _repack(keys, out, kind, grads), ClipInfo(norm, scale, cut, bool(_is_nonfinite(norm)))
