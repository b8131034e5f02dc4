"""Error-surface slices of an n-unit RNN: the loss on a line or a plane through parameter space.

For a network θ (``W_rec, W_in, b`` and, with a readout loss, ``W_out, b_out``; paper eq. 2) and a
fixed task batch, :func:`loss_line` evaluates ``E(θ + α d)`` for many α and :func:`loss_plane`
``E(θ + α d₁ + β d₂)`` on a grid — each in one vectorized pass of
:func:`dynsys.gradients.bptt_stacked` over the K = number of points (chunked), which also gives
the exact gradient at every point, hence the directional derivative ``∇E·d`` along the line.

Directions (:func:`choose_direction`) are unit vectors in the flattened parameter space:
``"random"`` (Gaussian, normalized), ``"gradient"`` (``∇E/‖∇E‖`` at θ, so the plain gradient step
is at ``α = −lr‖∇E‖``) and ``"hessian"`` (the top eigenvector of the Hessian, by power iteration on
Hessian-vector products ``Hv ≈ (∇E(θ + εv) − ∇E(θ − εv)) / 2ε`` from two BPTT gradients).
A wall shows up as a jump of the loss and a spike of ``|∇E·d|`` along the line (paper §3.2).

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import RNNMap
>>> from dynsys.gradients import ReadoutLoss
>>> rng = np.random.default_rng(0)
>>> rnn = RNNMap(rng.normal(0, .5, (3, 3)), rng.normal(0, 1, (3, 2)), np.zeros(3), "tanh",
...              rng.normal(0, 1, (2, 3)), np.zeros(2))
>>> u = rng.normal(size=(5, 4, 2)); loss = ReadoutLoss(np.array([[0, 1, 1, 0]]), kind="softmax")
>>> d = choose_direction("random", rnn, u, loss, rng=1)
>>> line = loss_line(rnn, u, loss, d, np.linspace(-1, 1, 11))
>>> line.loss.shape
(11,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..._validate import (
    as_float_array,
    check_choice,
    check_finite_scalar,
    check_memory,
    check_positive_int,
    check_rng,
)
from ...errors import DynsysError
from ...gradients.backprop import _eq2, _validate, bptt, bptt_stacked
from ...gradients.losses import ReadoutLoss
from ...maps.rnn import RNNMap

__all__ = [
    "ParamLayout",
    "LineSlice",
    "PlaneSlice",
    "choose_direction",
    "loss_line",
    "loss_plane",
    "losses_at",
]


@dataclass(frozen=True)
class ParamLayout:
    """How the flat parameter vector θ is cut into the named weight arrays."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.shapes))

    @classmethod
    def of(cls, rnn: RNNMap, loss) -> ParamLayout:
        names = ["W_rec", "W_in", "b"]
        if isinstance(loss, ReadoutLoss):
            if rnn.W_out is None:
                raise DynsysError("rnn needs a readout (W_out, b_out) for a ReadoutLoss")
            names += ["W_out", "b_out"]
        return cls(tuple(names), tuple(tuple(np.shape(_get(rnn, k))) for k in names))

    def flatten(self, arrays) -> np.ndarray:
        """dict name -> (..., shape) arrays to (..., P)."""
        first = np.asarray(arrays[self.names[0]])
        lead = first.shape[: first.ndim - len(self.shapes[0])]
        return np.concatenate([np.asarray(arrays[k]).reshape(lead + (-1,)) for k in self.names], axis=-1)

    def unflatten(self, theta) -> dict[str, np.ndarray]:
        """(..., P) to dict name -> (..., shape)."""
        theta = np.asarray(theta)
        lead = theta.shape[:-1]
        out, i = {}, 0
        for k, s in zip(self.names, self.shapes):
            size = int(np.prod(s))
            out[k] = theta[..., i : i + size].reshape(lead + s)
            i += size
        return out


def _get(rnn, name):
    v = getattr(rnn, name)
    if v is None and name == "W_in":
        return np.zeros((rnn.dim, 0))
    return np.asarray(v, dtype=float)


def _theta(rnn: RNNMap, layout: ParamLayout) -> np.ndarray:
    return layout.flatten({k: _get(rnn, k) for k in layout.names})


def losses_at(rnn: RNNMap, thetas, inputs, loss, *, h0=None, steps=None, chunk: int = 64):
    """Loss and exact gradient at K parameter vectors, vectorized (chunks of ``chunk`` networks).

    Parameters
    ----------
    rnn : RNNMap
        Supplies the activation and the parameter layout (or any map of the form of eq. 2,
        through its ``as_rnn()``, Map rule 15).
    thetas : ndarray, shape (K, P)
        Flat parameter vectors (layout :meth:`ParamLayout.of`).
    inputs : ndarray, shape (T, B, m)
    loss : StateLoss or ReadoutLoss
    h0 : ndarray, shape (B, n), optional
        Initial hidden state (zeros by default, as in the paper's code).
    steps : int, optional
        T when ``inputs`` is None (autonomous network).

    Returns
    -------
    loss : ndarray, shape (K,)
    grads : ndarray, shape (K, P)
    """
    rnn = _eq2(rnn)
    layout = ParamLayout.of(rnn, loss)
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    K = thetas.shape[0]
    values, grads = np.empty(K), np.empty((K, layout.size))
    inputs = None if inputs is None else np.asarray(inputs, dtype=float)
    for i in range(0, K, chunk):
        sl = slice(i, min(i + chunk, K))
        p = layout.unflatten(thetas[sl])
        k = thetas[sl].shape[0]
        if h0 is not None:
            h = np.broadcast_to(np.asarray(h0, dtype=float), (k,) + np.shape(h0)).copy()
        else:  # zeros; without inputs the batch is one sequence, as in bptt
            h = None if inputs is not None else np.zeros((k, 1, rnn.dim))
        with np.errstate(over="ignore", invalid="ignore"):
            v, g, _ = bptt_stacked(
                p["W_rec"], p["W_in"], p["b"], p.get("W_out"), p.get("b_out"),
                rnn.activation, inputs, loss, h0=h, steps=steps,
            )  # fmt: skip
        values[sl] = v
        grads[sl] = layout.flatten(g)
    return values, grads


def _check_batch(rnn, inputs, loss, h0, steps) -> RNNMap:
    """Validate network, batch and loss as :func:`dynsys.gradients.bptt` does, without its BPTT
    pass; the network's eq. 2 form."""
    rnn = _eq2(rnn)
    if loss is None:
        raise DynsysError("loss is required (StateLoss or ReadoutLoss)")
    _validate(rnn, inputs, loss, None, h0, steps, np.float64)
    return rnn


def _check_slice_memory(points: int, P: int, inputs, steps, n: int, chunk, name: str) -> int:
    """Refuse a slice whose parameter vectors and gradients would not fit in memory.

    Held at once: the points' parameter vectors while they are built (3 arrays of
    ``points × P`` float64), then those and their gradients, and one chunk's BPTT arrays
    (about 9 × (T+1) × chunk × B × n float64, as in :func:`dynsys.gradients.bptt_stacked`).
    Returns the validated ``chunk``.
    """
    chunk = check_positive_int(chunk, "chunk")
    shape = np.shape(inputs) if inputs is not None else (steps or 1, 1)
    T, B = int(shape[0]), int(shape[1]) if len(shape) > 1 else 1
    work = 9.0 * (T + 1) * min(chunk, points) * B * n
    nbytes = 8.0 * (3.0 * points * P + work)
    if work > 3.0 * points * P:
        name = "chunk"
    check_memory(
        nbytes,
        name,
        "the loss slice",
        value=chunk if name == "chunk" else None,
        detail=f"{points} points × {P} parameters of float64, plus BPTT on {min(chunk, points)} at once",
    )
    return chunk


def _check_direction(d, P, name):
    d = as_float_array(d, name, ndim=1)
    if d.shape != (P,):
        raise DynsysError(f"{name} must have shape ({P},) (the flat parameter vector), got {d.shape}")
    nrm = np.linalg.norm(d)
    if nrm == 0:
        raise DynsysError(f"{name} must not be zero")
    return d / nrm


def choose_direction(
    kind: Literal["random", "gradient", "hessian"],
    rnn: RNNMap,
    inputs,
    loss,
    *,
    rng=None,
    h0=None,
    steps=None,
    iters: int = 30,
    eps: float = 1e-5,
    return_info: bool = False,
):
    """A unit direction in the flat parameter space (layout :meth:`ParamLayout.of`).

    Parameters
    ----------
    kind : {"random", "gradient", "hessian"}
        Gaussian and normalized; ``∇E/‖∇E‖`` at θ; or the Hessian's top eigenvector (largest
        |eigenvalue|) by ``iters`` power iterations on finite-difference Hessian-vector products
        with step ``eps`` (two BPTT gradients per product, both members of one stacked pass).
    rng : None, int, SeedSequence or Generator
        For ``"random"`` and the power iteration's start vector.
    h0, steps
        Initial hidden state and, without inputs, the number of steps (as in :func:`losses_at`).
    return_info : bool
        Also return a dict (``grad_norm``; ``eigenvalue`` and ``residual`` for ``"hessian"``).

    Returns
    -------
    d : ndarray, shape (P,)
    info : dict (only if ``return_info``)
    """
    check_choice(kind, "direction", ("random", "gradient", "hessian"))
    rnn = _eq2(rnn)
    iters = check_positive_int(iters, "iters")
    eps = check_finite_scalar(eps, "eps")
    rng = check_rng(rng)
    layout = ParamLayout.of(rnn, loss)
    res = bptt(rnn, inputs, loss, h0=h0, steps=steps)  # validates inputs / loss once
    theta = _theta(rnn, layout)
    g = layout.flatten(res.grads)
    gnorm = float(np.linalg.norm(g))
    info = {"grad_norm": gnorm, "loss": float(res.loss)}
    if kind == "random":
        d = rng.standard_normal(layout.size)
        d /= np.linalg.norm(d)
    elif kind == "gradient":
        if gnorm == 0 or not np.isfinite(gnorm):
            raise DynsysError(f"the gradient norm is {gnorm}; no gradient direction")
        d = g / gnorm
    else:
        v = rng.standard_normal(layout.size)
        v /= np.linalg.norm(v)
        for _ in range(iters):
            hv = _hvp(rnn, theta, v, inputs, loss, h0, steps, eps)
            nrm = np.linalg.norm(hv)
            if nrm == 0 or not np.isfinite(nrm):
                break
            v = hv / nrm
        hv = _hvp(rnn, theta, v, inputs, loss, h0, steps, eps)
        lam = float(v @ hv)
        info.update(eigenvalue=lam, residual=float(np.linalg.norm(hv - lam * v)))
        d = v
    return (d, info) if return_info else d


def _hvp(rnn, theta, v, inputs, loss, h0, steps, eps):
    _, g = losses_at(rnn, np.stack([theta + eps * v, theta - eps * v]), inputs, loss, h0=h0, steps=steps)
    return (g[0] - g[1]) / (2.0 * eps)


@dataclass(frozen=True)
class LineSlice:
    """``E(θ + α d)`` along a line.

    Attributes
    ----------
    alphas : ndarray, shape (A,)
    loss : ndarray, shape (A,)
    slope : ndarray, shape (A,) — the directional derivative ``∇E(θ + α d)·d``
    grad_norm : ndarray, shape (A,) — ``‖∇E(θ + α d)‖``
    direction : ndarray, shape (P,) — the unit direction d
    """

    alphas: np.ndarray
    loss: np.ndarray
    slope: np.ndarray
    grad_norm: np.ndarray
    direction: np.ndarray


@dataclass(frozen=True)
class PlaneSlice:
    """``E(θ + α d₁ + β d₂)`` on a grid; ``loss[i, j]`` at ``(alphas[i], betas[j])``."""

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    d1: np.ndarray
    d2: np.ndarray


def loss_line(
    rnn: RNNMap, inputs, loss, direction, alphas, *, h0=None, steps=None, chunk: int = 64
) -> LineSlice:
    """The loss (and gradient) of ``rnn`` on a task batch along ``θ + α d`` for every α.

    ``direction`` (shape (P,), normalized here) is in the layout of :meth:`ParamLayout.of`, e.g.
    from :func:`choose_direction`. One stacked BPTT pass per ``chunk`` values of α. A line whose
    arrays would not fit in memory is refused first (:func:`dynsys._validate.check_memory`).
    """
    rnn = _check_batch(rnn, inputs, loss, h0, steps)
    layout = ParamLayout.of(rnn, loss)
    d = _check_direction(direction, layout.size, "direction")
    alphas = as_float_array(alphas, "alphas", ndim=1)
    chunk = _check_slice_memory(alphas.size, layout.size, inputs, steps, rnn.dim, chunk, "alphas")
    theta = _theta(rnn, layout)
    v, g = losses_at(
        rnn, theta[None] + alphas[:, None] * d[None], inputs, loss, h0=h0, steps=steps, chunk=chunk
    )
    return LineSlice(alphas, v, g @ d, np.linalg.norm(g, axis=1), d)


def loss_plane(
    rnn: RNNMap, inputs, loss, d1, d2, alphas, betas, *, h0=None, steps=None, chunk: int = 64
) -> PlaneSlice:
    """The loss on the plane ``θ + α d₁ + β d₂`` (grid of ``alphas`` × ``betas``).

    ``d2`` is orthogonalized against ``d1`` (Gram–Schmidt) so the plane's axes are orthonormal.
    A grid whose arrays would not fit in memory is refused first
    (:func:`dynsys._validate.check_memory`).
    """
    rnn = _check_batch(rnn, inputs, loss, h0, steps)
    layout = ParamLayout.of(rnn, loss)
    d1 = _check_direction(d1, layout.size, "d1")
    d2 = _check_direction(d2, layout.size, "d2")
    d2 = d2 - (d2 @ d1) * d1
    if np.linalg.norm(d2) < 1e-12:
        raise DynsysError("d2 must not be parallel to d1")
    d2 /= np.linalg.norm(d2)
    alphas = as_float_array(alphas, "alphas", ndim=1)
    betas = as_float_array(betas, "betas", ndim=1)
    name = "alphas" if alphas.size >= betas.size else "betas"
    chunk = _check_slice_memory(alphas.size * betas.size, layout.size, inputs, steps, rnn.dim, chunk, name)
    theta = _theta(rnn, layout)
    A, Bb = np.meshgrid(alphas, betas, indexing="ij")
    thetas = theta[None] + A.reshape(-1, 1) * d1[None] + Bb.reshape(-1, 1) * d2[None]
    v, g = losses_at(rnn, thetas, inputs, loss, h0=h0, steps=steps, chunk=chunk)
    shape = A.shape
    return PlaneSlice(alphas, betas, v.reshape(shape), np.linalg.norm(g, axis=1).reshape(shape), d1, d2)
