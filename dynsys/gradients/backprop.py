r"""Backpropagation through time for any map, with the paper's diagnostics (eq. 3–5).

The map is ``x_t = F(x_{t-1}, u_t; θ)``, ``t = 1..T``; for the RNN of eq. 2,
``x_t = W_rec σ(x_{t-1}) + W_in u_t + b`` and ``h_t = σ(x_t)``. The cost is ``E = Σ_t E_t`` (eq. 3)
with ``E_t`` read from ``hidden(x_t)`` (``h_t`` for the RNN; Map rule 16) at chosen steps, averaged
over the batch. Besides the loss and the gradients this module gives

* the **temporal contributions** of eq. 4, ``(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂θ)`` for every
  ``k ≤ t``, as arrays (:func:`temporal_contributions`) or as a ``(T, T)`` matrix of norms
  (``bptt(..., contributions=True)``); they sum back to the total gradient of the weights of
  ``F`` (``W_rec``, ``W_in`` and ``b`` for the RNN; the readout has only immediate contributions);
* the **Jacobian products** of eq. 5, ``∂x_t/∂x_k = J_t ⋯ J_{k+1}`` (column convention; for the RNN
  ``Π_{i=k+1..t} W_rec diag(σ′(x_{i-1}))``), for every ``k ≤ t`` (:func:`jacobian_product`,
  :func:`jacobian_product_norms`).

Two paths, one result (:class:`BPTTResult`). **RNNMap's fast path**: a map with ``as_rnn()``
(Map rule 15) runs the eq. 2 core (:func:`bptt_stacked`: K networks of the same size at once,
stacked weights, batched matmuls). **Any other map**: through the map's
:class:`~dynsys.maps.base.Tape` (Map rule 18), ``step`` forward, storing the states (T+1, B, n),
then ``vjp`` backward and the weights' ``param_vjp`` (Map rule 17; the generic tape is exact
whenever the map's ``jacobian`` and ``param_derivative`` are, and the gated cells' tapes keep their
gates from the forward pass), the diagnostics through ``vjp`` and ``tangent``.
:func:`bptt` is the single-map interface with validation and diagnostics.

The losses (:class:`StateLoss`, :class:`ReadoutLoss`) live in :mod:`dynsys.gradients.losses` and the
Jacobian products in :mod:`dynsys.gradients.jacobians` (all exported by :mod:`dynsys.gradients`).

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import RNNMap
>>> rng = np.random.default_rng(0)
>>> rnn = RNNMap(rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), W_out=rng.normal(size=(4, 3)))
>>> u = rng.normal(size=(10, 5, 2))                       # (T, B, m)
>>> res = bptt(rnn, u, ReadoutLoss(rng.integers(0, 4, size=(1, 5))), contributions=True)
>>> res.grads["W_rec"].shape, res.contribution_norms.shape
((3, 3), (10, 10))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import as_float_array, check_positive_int
from ..activations import ACTIVATIONS, _sigmoid, get_activation
from ..errors import DynsysError
from ..maps.base import Map, _param_vjp_names
from ..maps.rnn import RNNMap
from .jacobians import product_norms
from .losses import ReadoutLoss, StateLoss, resolve_steps
from .regularizers import OmegaAccumulator, omega

__all__ = [
    "BPTTResult",
    "bptt",
    "bptt_stacked",
    "temporal_contributions",
]


# ---------------------------------------------------------------------------------------
# The stacked core
# ---------------------------------------------------------------------------------------

#: a stack of K > 1 networks whose batch is at most this takes its weight gradients in one product
#: after the backward loop instead of one per step
_DEFER_BATCH = 4


def _buffer(workspace, name, shape, dtype):
    """``np.empty(shape)``, or a reused array from ``workspace`` (grown along axis 0 as needed).

    Reusing the large history arrays across the updates of a training loop avoids the kernel
    zeroing fresh pages for every call (about a fifth of a stacked update).
    """
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    buf = workspace.get(name)
    if buf is None or buf.dtype != dtype or buf.shape[1:] != shape[1:] or buf.shape[0] < shape[0]:
        buf = workspace[name] = np.empty(shape, dtype=dtype)
    return buf[: shape[0]]


def _activate_into(act, x, out) -> None:
    """``out[...] = act.fn(x)`` without temporaries for tanh and the sigmoid (the same operations
    in the same order as ``act.fn``, so the same bits)."""
    if act.fn is np.tanh:
        np.tanh(x, out=out)
    elif act.fn is _sigmoid:  # 0.5 · (1 + tanh(0.5 · x))
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        np.add(out, 1.0, out=out)
        np.multiply(out, 0.5, out=out)
    else:
        out[...] = act.fn(x)


def _derivative_into(act, h, out) -> None:
    """``out[...] = act.d_from_output(h)`` without temporaries for tanh (``1 − h²``) and the
    sigmoid (``h (1 − h)``): the same operations, the same bits."""
    if act.deriv_from_output is ACTIVATIONS["tanh"].deriv_from_output:
        np.multiply(h, h, out=out)
        np.subtract(1.0, out, out=out)
    elif act.deriv_from_output is ACTIVATIONS["sigmoid"].deriv_from_output:
        np.subtract(1.0, h, out=out)
        np.multiply(h, out, out=out)
    else:
        out[...] = act.d_from_output(h)


def _forward(W_rec, W_in, b, act, inputs, h0, x0, T, workspace=None):
    K, B, n = h0.shape
    dtype = h0.dtype
    xs = _buffer(workspace, "states", (T + 1, K, B, n), dtype)
    hs = _buffer(workspace, "hidden", (T + 1, K, B, n), dtype)
    xs[0] = np.nan if x0 is None else x0
    hs[0] = h0
    WT = np.ascontiguousarray(np.swapaxes(W_rec, -1, -2))  # contiguous: faster stacked matmuls
    if inputs is not None and W_in.shape[-1]:
        m = W_in.shape[-1]
        if inputs.ndim == 3:  # (T, B, m) shared by every member: one product for all of them
            drive = _buffer(workspace, "drive", (T * B, K * n), dtype)
            np.matmul(inputs.reshape(T * B, m), W_in.transpose(2, 0, 1).reshape(m, K * n), out=drive)
            drive += b.reshape(1, K * n)
            drive = drive.reshape(T, B, K, n).swapaxes(1, 2)  # (T, K, B, n) view
        else:  # (T, K, B, m): one (T·B, m) product per member
            drive_k = np.empty((K, T, B, n), dtype=dtype)
            for k in range(K):
                np.matmul(inputs[:, k].reshape(T * B, m), W_in[k].T, out=drive_k[k].reshape(T * B, n))
            drive_k += b[:, None, None, :]
            drive = np.swapaxes(drive_k, 0, 1)
    else:
        drive = np.broadcast_to(b[None, :, None, :], (T, K, B, n))
    if K == 1:  # plain 2-D matmuls: less dispatch overhead in the time loop
        WT, xv, hv, dv = WT[0], xs[:, 0], hs[:, 0], drive[:, 0]
    else:
        xv, hv, dv = xs, hs, drive
    # the per-step views made once (lists): the loop does only the step's operations, in place
    steps = zip(list(xv[1 : T + 1]), list(hv[:T]), list(dv[:T]), list(hv[1 : T + 1]))
    matmul, add = np.matmul, np.add
    if act.fn is np.tanh:
        tanh = np.tanh
        for x, h, d, h_next in steps:
            matmul(h, WT, out=x)
            add(x, d, out=x)
            tanh(x, out=h_next)
    else:
        for x, h, d, h_next in steps:
            matmul(h, WT, out=x)
            add(x, d, out=x)
            _activate_into(act, x, h_next)
    return xs, hs


def _core(W_rec, W_in, b, W_out, b_out, act, inputs, loss, h0, x0, T, workspace=None, omega_bound=None):
    K, B, n = h0.shape
    xs, hs = _forward(W_rec, W_in, b, act, inputs, h0, x0, T, workspace)
    steps = resolve_steps(loss.steps, T, "loss.steps")
    value, gh_loss, grads = loss.value_and_grad(hs[steps], (W_out, b_out))
    # σ′(x_t) through h_t = σ(x_t) (no second σ evaluation): the whole history at once for one
    # network, step by step (in cache) for a stack
    dsig = act.d_from_output(hs) if K == 1 else _buffer(workspace, "dsigma", hs.shape, hs.dtype)
    deltas = _buffer(workspace, "deltas", xs.shape, xs.dtype)
    inject = dict(zip(steps.tolist(), range(len(steps))))
    m = W_in.shape[-1]
    with_inputs = inputs is not None and m
    # a stack with a small batch (one piano roll per update): the per-step gradient products are
    # outer products, which cost more than one large product over the stored history after the loop
    defer = K > 1 and B <= _DEFER_BATCH
    om = (
        None
        if omega_bound is None or K == 1
        else OmegaAccumulator(K, n, omega_bound, defer=defer, dtype=xs.dtype)
    )
    omega_sums = None
    if K == 1:  # one network: single large gradient products after the loop (views, no copies)
        Wv, dv, sv, gl = W_rec[0], deltas[:, 0], dsig[:, 0], gh_loss[:, 0]
        gh = np.zeros((B, n), dtype=xs.dtype)
        bufs = (np.empty((B, n), dtype=xs.dtype), np.empty((B, n), dtype=xs.dtype))  # gh, alternately
        matmul, multiply = np.matmul, np.multiply
        for t in range(T, 0, -1):
            j = inject.get(t)
            if j is not None:
                gh += gl[j]
            d = dv[t]
            multiply(gh, sv[t], out=d)
            gh = matmul(d, Wv, out=bufs[t & 1])
        D = deltas[1:, 0].reshape(T * B, n).T  # views (no copy for K = 1)
        grads["W_rec"] = (D @ hs[:-1, 0].reshape(T * B, n))[None]
        grads["W_in"] = (D @ inputs.reshape(T * B, m))[None] if with_inputs else np.zeros_like(W_in)
        if omega_bound is not None:  # Ω of the code form on the whole (contiguous) history
            # δ_k = ∂C/∂h_k = W_recᵀ ∂C/∂x_{k+1} + the readout term at the read steps (one product)
            dh = np.zeros((T, B, n), dtype=xs.dtype)
            dh[:-1] = (deltas[2:, 0].reshape((T - 1) * B, n) @ Wv).reshape(T - 1, B, n)
            dh[steps - 1] += gl
            r = omega(W_rec, dh[:, None], dsig[1:], form="code", bound=omega_bound)
            omega_sums = (r.value, r.grad_W_rec, r.n_valid)
    else:  # K networks: the gradient products accumulated per step (the (T, K, B, n) histories
        # would need transposed copies for single large products; per-step products stay in cache)
        gh = np.zeros((K, B, n), dtype=xs.dtype)
        gW = np.zeros_like(W_rec)
        gU = np.zeros_like(W_in)
        # gh in two alternating buffers (Ω's step reads the previous one, dh, beside the new one)
        bufs = (np.empty((K, B, n), dtype=xs.dtype), np.empty((K, B, n), dtype=xs.dtype))
        for t in range(T, 0, -1):
            j = inject.get(t)
            if j is not None:
                gh += gh_loss[j]
            s_t = dsig[t]
            _derivative_into(act, hs[t], s_t)
            d = deltas[t]
            np.multiply(gh, s_t, out=d)
            if not defer:
                dT = np.swapaxes(d, -1, -2)
                gW += np.matmul(dT, hs[t - 1])
                if with_inputs:
                    gU += np.matmul(dT, inputs[t - 1])  # (B, m) shared or (K, B, m)
            dh, gh = gh, np.matmul(d, W_rec, out=bufs[t & 1])
            if om is not None:  # Ω of the code form from this step's δ, g and v (eq. 9–10)
                om.step(dh, d, gh)
        dsig[0] = act.d_from_output(hs[0])
        if defer:  # Σ_t δ_tᵀ h_{t-1} (and δ_tᵀ u_t) as one product per member over (t, b)
            D = np.ascontiguousarray(deltas[1:].transpose(1, 3, 0, 2)).reshape(K, n, T * B)
            gW = np.matmul(D, np.ascontiguousarray(hs[:-1].transpose(1, 0, 2, 3)).reshape(K, T * B, n))
            if with_inputs:
                U = (
                    inputs.reshape(T * B, m)
                    if inputs.ndim == 3
                    else inputs.transpose(1, 0, 2, 3).reshape(K, T * B, m)
                )
                gU = np.matmul(D, U)
        grads["W_rec"] = gW
        grads["W_in"] = gU
    if x0 is None:
        dsig[0] = np.nan  # x_0 is unknown when only h_0 is given
        deltas[0] = np.nan
    else:
        np.multiply(gh, dsig[0], out=deltas[0])
    grads["b"] = deltas[1:].sum(axis=(0, 2))
    if om is not None:
        omega_sums = om.result()
    return value, grads, xs, hs, deltas, steps, gh_loss, dsig, omega_sums


def bptt_stacked(
    W_rec,
    W_in,
    b,
    W_out,
    b_out,
    activation,
    inputs,
    loss,
    h0=None,
    x0=None,
    steps=None,
    workspace=None,
    omega_bound=None,
):
    """BPTT for K networks of the same size in one vectorized pass (no validation: trusted inputs).

    The pass computes in the floating-point type of its arrays: float32 weights, inputs and loss
    targets give float32 histories, gradients and Ω (pass them all in one type; the workspace
    buffers follow it).

    Parameters
    ----------
    W_rec : ndarray, shape (K, n, n)
    W_in : ndarray, shape (K, n, m)
    b : ndarray, shape (K, n)
    W_out, b_out : ndarray, shapes (K, k, n) and (K, k), or None for a :class:`StateLoss`
    activation : str or Activation
    inputs : ndarray, shape (T, B, m) (shared) or (T, K, B, m), or None
    loss : StateLoss or ReadoutLoss
    h0 : ndarray, shape (K, B, n), optional
        Initial hidden state ``σ(x_0)``; zeros by default (the paper's code).
    x0 : ndarray, shape (K, B, n), optional
        Initial pre-activation state instead of ``h0``.
    steps : int, optional
        T when ``inputs`` is None.
    workspace : dict, optional
        Buffers kept between calls (a training loop passes the same dict every update): the
        history arrays are reused instead of allocated anew. The arrays in ``extra`` then live in
        ``workspace`` and are overwritten by the next call with it.
    omega_bound : float, optional
        Also compute the regularizer Ω of eq. 9 in the code form and its W_rec gradient (eq. 10)
        during the backward pass (:class:`~dynsys.gradients.regularizers.OmegaAccumulator`; steps with
        ``‖∂C/∂h_k‖² < omega_bound`` skipped): ``extra["omega"] = (Ω (K,), ∂Ω/∂W_rec, count)``.

    Returns
    -------
    loss : ndarray, shape (K,)
    grads : dict of ndarray
        ``W_rec``, ``W_in``, ``b`` (and ``W_out``, ``b_out`` for a readout loss), leading axis K.
    extra : dict
        ``states`` (T+1, K, B, n) pre-activations, ``hidden`` = σ(states) (row 0 = h0),
        ``deltas`` (T+1, K, B, n) = ∂E/∂x_t, ``dsigma`` = σ′(states).
    """
    act = get_activation(activation)
    K, n = W_rec.shape[0], W_rec.shape[-1]
    T = inputs.shape[0] if inputs is not None else int(steps)
    B = inputs.shape[-2] if inputs is not None else (h0 if h0 is not None else x0).shape[-2]
    if W_out is None:
        W_out = np.zeros((K, 0, n), dtype=W_rec.dtype)
        b_out = np.zeros((K, 0), dtype=W_rec.dtype)
    if x0 is not None:
        h0 = act.fn(x0)
    elif h0 is None:
        h0 = np.zeros((K, B, n), dtype=W_rec.dtype)
    value, grads, xs, hs, deltas, *_, dsig, omega_sums = _core(
        W_rec, W_in, b, W_out, b_out, act, inputs, loss, h0, x0, T, workspace, omega_bound
    )
    extra = {"states": xs, "hidden": hs, "deltas": deltas, "dsigma": dsig}
    if omega_sums is not None:
        extra["omega"] = omega_sums
    return value, grads, extra


# ---------------------------------------------------------------------------------------
# Single network with validation and diagnostics
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BPTTResult:
    """The result of :func:`bptt`.

    Attributes
    ----------
    loss : float
        ``E``: mean over the batch of the sum over the chosen steps.
    grads : dict of ndarray
        ``∂E/∂θ`` for ``W_rec``, ``W_in``, ``b`` on the fast path, for the map's ``weight_names``
        but the readout on the generic path (Map rule 17), and ``W_out``, ``b_out`` with a readout
        loss; each with the shape of the parameter.
    states : ndarray, shape (T+1, B, n)
        The states ``x_t``, pre-activations for the RNN (row 0 is ``x_0``, NaN when ``h0`` was given).
    hidden : ndarray, shape (T+1, B, k_h)
        ``hidden(x_t)`` (Map rule 16), ``σ(x_t)`` for the RNN (row 0 is ``h_0``).
    deltas : ndarray, shape (T+1, B, n)
        ``∂E/∂x_t`` (row 0 is ``∂E/∂x_0`` when ``x0`` was given, else NaN).
    loss_steps : ndarray of int
        The steps t at which the loss is read.
    contribution_norms : ndarray, shape (T, T) or None
        ``[t-1, k-1]`` = Frobenius norm of the temporal contribution (t, k) of eq. 4 to the weights
        of ``F`` together (``W_rec, W_in, b`` for the RNN), summed over the batch; zero for steps
        without loss; NaN for k > t.
    jacobian_norms : ndarray, shape (T+1, T+1, B) or None
        ``[t, k]`` = ``‖∂x_t/∂x_k‖₂`` (eq. 5); NaN for k > t (and for k = 0 when only ``h0`` is known).
    """

    loss: float
    grads: dict
    states: np.ndarray
    hidden: np.ndarray
    deltas: np.ndarray
    loss_steps: np.ndarray
    contribution_norms: np.ndarray | None = None
    jacobian_norms: np.ndarray | None = None


def _eq2(rnn) -> RNNMap:
    """The eq. 2 form of a map (Map rule 15), which this BPTT needs."""
    form = rnn.as_rnn() if isinstance(rnn, Map) else None
    if form is None:
        raise DynsysError(
            f"rnn must be a map of the form of eq. 2 (an RNNMap, a UnitMap, or a map whose as_rnn() "
            f"gives one), got {type(rnn).__name__}"
        )
    return form


def _validate(rnn, inputs, loss, x0, h0, steps, dtype, *, readout=None):
    """Check a run's arguments; ``readout`` = (hidden dim ``k_h``, readout rows or None) of a map
    on the generic path (the RNN's own: ``n`` and ``W_out``'s rows)."""
    if not isinstance(loss, (StateLoss, ReadoutLoss)):
        raise DynsysError(f"loss must be a StateLoss or ReadoutLoss, got {type(loss).__name__}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise DynsysError(f"dtype must be float64 or float32, got {dtype}")
    n, m = rnn.dim, rnn.input_dim
    if x0 is not None and h0 is not None:
        raise DynsysError("give x0 or h0, not both")
    init = x0 if x0 is not None else h0
    init_name = "x0" if x0 is not None else "h0"
    if inputs is not None:
        inputs = as_float_array(inputs, "inputs", ndim=3, dtype=dtype)
        if inputs.shape[-1] != m:
            raise DynsysError(f"inputs must have shape (T, B, {m}) for this RNN, got {inputs.shape}")
        T, B = inputs.shape[:2]
        if steps is not None and steps != T:
            raise DynsysError(f"steps={steps} does not match len(inputs)={T}")
    else:
        if steps is None:
            raise DynsysError("steps is required when inputs is None")
        T = check_positive_int(steps, "steps")
        B = None
    if init is not None:
        init = as_float_array(init, init_name, ndim=(1, 2), dtype=dtype)
        if init.ndim == 1:
            init = init[None]
        if init.shape[-1] != n:
            raise DynsysError(f"{init_name} must have shape (B, {n}), got {init.shape}")
        if B is None:
            B = init.shape[0]
        elif init.shape[0] not in (1, B):
            raise DynsysError(f"{init_name} has batch {init.shape[0]} but inputs have batch {B}")
        init = np.broadcast_to(init, (B, n))
    elif B is None:
        B = 1
    if readout is None:
        k_h, k_out = n, None if rnn.W_out is None else rnn.W_out.shape[0]
        need = "an RNNMap with W_out"
    else:
        (k_h, k_out), need = readout, f"a map with a readout W_out; {type(rnn).__name__} has none"
    if isinstance(loss, ReadoutLoss):
        if k_out is None:
            raise DynsysError(f"a ReadoutLoss needs {need}")
        if loss.kind not in ("softmax", "mse", "bernoulli"):
            raise DynsysError(f"loss.kind must be 'softmax', 'mse' or 'bernoulli', got {loss.kind!r}")
    S = len(resolve_steps(loss.steps, T, "loss.steps"))
    if isinstance(loss, ReadoutLoss) and loss.weights is not None:
        w = as_float_array(loss.weights, "loss.weights")
        if w.shape != (S, B):
            raise DynsysError(f"loss.weights must have shape ({S}, {B}) (read steps, batch), got {w.shape}")
        if np.any(w < 0):
            raise DynsysError("loss.weights must be non-negative")
    tg = np.asarray(loss.targets)
    if isinstance(loss, ReadoutLoss) and loss.kind == "softmax":
        k = k_out
        if tg.shape != (S, B) or tg.dtype.kind not in "iu":
            raise DynsysError(
                f"loss.targets must be integer labels of shape ({S}, {B}), got {tg.dtype} {tg.shape}"
            )
        if tg.min() < 0 or tg.max() >= k:
            raise DynsysError(f"loss.targets must be class labels in 0..{k - 1}")
    else:
        k = k_out if isinstance(loss, ReadoutLoss) else k_h
        try:
            np.broadcast_to(tg, (S, B, k))
        except ValueError:
            raise DynsysError(
                f"loss.targets must broadcast to ({S}, {B}, {k}), got shape {tg.shape}"
            ) from None
        tg = as_float_array(tg, "loss.targets")
        if isinstance(loss, ReadoutLoss) and loss.kind == "bernoulli" and (tg.min() < 0 or tg.max() > 1):
            raise DynsysError("loss.targets must lie in [0, 1] for a Bernoulli loss (binary targets)")
    return inputs, init, T, B, dtype


def _single(rnn, inputs, loss, x0, h0, steps, dtype) -> dict:
    """Validate once and run the stacked core for one network (K = 1)."""
    if loss is None:
        raise DynsysError("loss is required (StateLoss or ReadoutLoss)")
    inputs, init, T, B, dtype = _validate(rnn, inputs, loss, x0, h0, steps, dtype)
    n = rnn.dim
    W_rec = rnn.W_rec.astype(dtype)[None]
    W_in = rnn.W_in.astype(dtype)[None]
    b = rnn.b.astype(dtype)[None]
    W_out = (rnn.W_out if rnn.W_out is not None else np.zeros((0, n))).astype(dtype)[None]
    b_out = (rnn.b_out if rnn.b_out is not None else np.zeros(0)).astype(dtype)[None]
    act = rnn.activation
    if x0 is not None:
        x0a = init[None].astype(dtype)
        h0a = act.fn(x0a)
    else:
        x0a = None
        h0a = (np.zeros((B, n)) if init is None else init)[None].astype(dtype)
    value, grads, xs, hs, deltas, lsteps, gh_loss, dsig, _ = _core(
        W_rec, W_in, b, W_out, b_out, act, inputs, loss, h0a, x0a, T
    )
    return {
        "inputs": inputs,
        "T": T,
        "dtype": dtype,
        "core": (value, grads, xs, hs, deltas, lsteps, gh_loss, dsig),
    }


def bptt(
    rnn: Map,
    inputs=None,
    loss: StateLoss | ReadoutLoss | None = None,
    *,
    x0=None,
    h0=None,
    steps: int | None = None,
    contributions: bool = False,
    jacobian_norms: bool = False,
    dtype=np.float64,
    workspace: dict | None = None,
) -> BPTTResult:
    """Loss, gradients and the eq. 4–5 diagnostics of any map over a batch of sequences.

    Any map (Map rules 3, 16–17); RNNMap's fast path. A map with ``as_rnn()`` (Map rule 15: an
    :class:`~dynsys.maps.RNNMap`, a :class:`~dynsys.maps.UnitMap`, a
    :class:`~dynsys.maps.FixedInput` of one, a user's map of that form) runs the eq. 2 core
    (:func:`bptt_stacked`, one GEMM per step) and gets the gradients of ``as_rnn()``'s weights.
    Any other map takes the generic path through its tape (Map rule 18): ``step`` forward
    storing the states, then ``vjp``/``param_vjp`` backward, with the gradients of its
    ``weight_names``; the loss reads ``map.hidden(x_t)`` (the state itself unless the map says
    otherwise), and a :class:`ReadoutLoss` the map's ``W_out``, ``b_out`` (``get_param``), whose
    gradients are added.

    Parameters
    ----------
    rnn : Map
        The network: eq. 2's RNN, or any map.
    inputs : array_like, shape (T, B, m), optional
        ``inputs[t-1] = u_t``. Omit for an autonomous run of ``steps`` steps.
    loss : StateLoss or ReadoutLoss
        Read from ``hidden(x_t)`` (``σ(x_t)`` on the fast path) at the steps ``loss.steps``.
    x0 : array_like, shape (B, n) or (n,), optional
        Initial state (pre-activations on the fast path); zeros on the generic path when omitted.
    h0 : array_like, shape (B, n) or (n,), optional
        Fast path only: the initial hidden state ``σ(x_0)`` instead (zeros when neither is given,
        as in the paper's code; ``x_0`` is then unknown).
    steps : int, optional
        T when ``inputs`` is None.
    contributions : bool
        Compute the ``(T, T)`` matrix of temporal-contribution norms (eq. 4). Cost ``O(T² B (B + n) n)``
        on the fast path; ``O(T S)`` ``param_vjp`` calls (S loss steps) on the generic path.
    jacobian_norms : bool
        Compute ``‖∂x_t/∂x_k‖₂`` for all ``k ≤ t`` (eq. 5). Cost ``O(T² B n³)``; on the generic
        path the products are propagated with ``tangent`` (memory ``O(T B n²)``, as the fast path).
    dtype : float64 (default) or float32
        The generic path computes in the map's own precision and returns arrays of ``dtype``.
    workspace : dict, optional
        Generic path: scratch buffers kept between calls (a training loop passes the same dict
        every update; one call at a time), handed to the map's tape (Map rule 18), which saves
        the kernel mapping fresh pages for the tape's arrays on every call (they reach tens of
        MB for large T · B · n). Nothing in the result lives there. The fast path ignores it.

    Returns
    -------
    BPTTResult

    Examples
    --------
    A map that is not of the form of eq. 2 (``x ↦ tanh(a x)``, its gradient by the generic path):

    >>> import numpy as np
    >>> from dataclasses import dataclass, field
    >>> from dynsys.maps import Map
    >>> @dataclass(frozen=True, eq=False)
    ... class Tanh(Map):
    ...     a: float = 0.5
    ...     dim: int = field(default=1, init=False)
    ...     param_names = ("a",)
    ...     def step(self, x, u=None):
    ...         return np.tanh(self.a * x)
    ...     def jacobian(self, x, u=None):
    ...         return (self.a * (1 - np.tanh(self.a * x) ** 2))[..., None]
    >>> res = bptt(Tanh(), None, StateLoss(0.0), x0=[1.0], steps=1)   # E = tanh(a)²
    >>> bool(abs(res.grads["a"] - 2 * np.tanh(0.5) / np.cosh(0.5) ** 2) < 1e-8)
    True
    """
    form = _fast_form(rnn)
    if form is None:
        return _generic_bptt(
            rnn, inputs, loss, x0, h0, steps, contributions, jacobian_norms, dtype, workspace
        )
    rnn = form
    run = _single(rnn, inputs, loss, x0, h0, steps, dtype)
    inputs, T, n, dtype = run["inputs"], run["T"], rnn.dim, run["dtype"]
    value, grads, xs, hs, deltas, lsteps, gh_loss, dsig = run["core"]
    out = {k: v[0] for k, v in grads.items()}
    if rnn.W_out is None:
        out.pop("W_out", None)
        out.pop("b_out", None)
    if rnn.input_dim == 0:
        out["W_in"] = np.zeros((n, 0), dtype=dtype)
    cn = None
    if contributions:
        cn = _contribution_norms(rnn, xs[:, 0], hs[:, 0], dsig[:, 0], inputs, lsteps, gh_loss[:, 0], T)
    jn = None
    if jacobian_norms:
        jn = product_norms(rnn.W_rec.astype(dtype) * dsig[:-1, 0, :, None, :])
    return BPTTResult(
        loss=float(value[0]),
        grads=out,
        states=xs[:, 0],
        hidden=hs[:, 0],
        deltas=deltas[:, 0],
        loss_steps=lsteps,
        contribution_norms=cn,
        jacobian_norms=jn,
    )


# ---------------------------------------------------------------------------------------
# Temporal contributions (eq. 4)
# ---------------------------------------------------------------------------------------


def _sweep_contributions(W_rec, dsig, lsteps, gh_loss, T):
    """Yield ``(k, Dk)`` for k = T..1, ``Dk[s] = ∂E_{t_s}/∂x_k`` (zero where ``t_s < k``)."""
    S = len(lsteps)
    Dk = np.zeros((S,) + dsig.shape[1:], dtype=dsig.dtype)
    for k in range(T, 0, -1):
        if k < T:
            Dk = np.matmul(Dk, W_rec) * dsig[k]
        hit = np.nonzero(lsteps == k)[0]
        if hit.size:
            Dk[hit] = gh_loss[hit] * dsig[k]
        yield k, Dk


def _contribution_norms(rnn, xs, hs, dsig, inputs, lsteps, gh_loss, T):
    W_rec = rnn.W_rec.astype(xs.dtype)
    out = np.full((T, T), np.nan)
    tri = np.tril(np.ones((T, T), dtype=bool))
    out[tri] = 0.0
    for k, Dk in _sweep_contributions(W_rec, dsig, lsteps, gh_loss, T):
        gram_d = np.matmul(Dk, np.swapaxes(Dk, -1, -2))  # (S, B, B)
        other = hs[k - 1] @ hs[k - 1].T + 1.0  # W_rec part + b part
        if inputs is not None and rnn.input_dim:
            other = other + inputs[k - 1] @ inputs[k - 1].T
        sq = np.einsum("sbc,bc->s", gram_d, other)
        valid = lsteps >= k
        out[lsteps[valid] - 1, k - 1] = np.sqrt(np.maximum(sq[valid], 0.0))
    return out


def temporal_contributions(rnn: Map, inputs=None, loss=None, *, x0=None, h0=None, steps=None):
    """The temporal contributions of eq. 4 as gradient arrays (small problems: memory O(T² P)).

    ``rnn`` (any map; RNNMap's fast path) and the other arguments are those of :func:`bptt`.

    Returns
    -------
    dict
        Fast path: ``"W_rec"``: shape (T, T, n, n), ``"W_in"``: (T, T, n, m), ``"b"``: (T, T, n);
        generic path: ``(T, T) + θ.shape`` for every name of the map's ``weight_names`` but the
        readout. Entry ``[t-1, k-1]`` is ``(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂θ)`` summed over the
        batch, zero for k > t and for steps t without loss. Summed over (t, k) they equal
        ``bptt(...).grads`` (eq. 3–4).
    """
    form = _fast_form(rnn)
    if form is None:
        run = _generic_run(rnn, inputs, loss, x0, h0, steps, np.float64)
        return _generic_contributions(rnn, run, arrays=True)[1]
    rnn = form
    run = _single(rnn, inputs, loss, x0, h0, steps, np.float64)
    inputs, T = run["inputs"], run["T"]
    _, _, _, hs, _, lsteps, gh_loss, dsig = run["core"]
    hs, gh_loss, dsig = hs[:, 0], gh_loss[:, 0], dsig[:, 0]
    n, m = rnn.dim, rnn.input_dim
    out = {"W_rec": np.zeros((T, T, n, n)), "W_in": np.zeros((T, T, n, m)), "b": np.zeros((T, T, n))}
    for k, Dk in _sweep_contributions(rnn.W_rec, dsig, lsteps, gh_loss, T):
        rows = lsteps[lsteps >= k] - 1
        sel = lsteps >= k
        out["W_rec"][rows, k - 1] = np.einsum("sbi,bj->sij", Dk[sel], hs[k - 1])
        out["b"][rows, k - 1] = Dk[sel].sum(axis=1)
        if inputs is not None and m:
            out["W_in"][rows, k - 1] = np.einsum("sbi,bj->sij", Dk[sel], inputs[k - 1])
    return out


# ---------------------------------------------------------------------------------------
# Any map: the generic path (Map rules 3, 16–18)
# ---------------------------------------------------------------------------------------


def _fast_form(rnn) -> RNNMap | None:
    """The eq. 2 form that takes the fast path (Map rule 15), or None: the generic path."""
    if not isinstance(rnn, Map):
        raise DynsysError(f"rnn must be a dynsys Map, got {type(rnn).__name__}")
    return rnn.as_rnn()


def _readout_of(map: Map, k_h: int):
    """The map's readout ``(W_out (k, k_h), b_out (k,))`` read with ``get_param``, or ``(None, None)``."""
    if "W_out" not in map.param_names or map.get_param("W_out") is None:
        return None, None
    W_out = as_float_array(map.get_param("W_out"), "W_out", ndim=2)
    if W_out.shape[1] != k_h:
        raise DynsysError(f"W_out must have shape (k, {k_h}) to read hidden(x), got {W_out.shape}")
    b_out = map.get_param("b_out") if "b_out" in map.param_names else None
    b_out = np.zeros(W_out.shape[0]) if b_out is None else as_float_array(b_out, "b_out", ndim=1)
    if b_out.shape != W_out.shape[:1]:
        raise DynsysError(f"b_out must have shape ({W_out.shape[0]},) to match W_out, got {b_out.shape}")
    return W_out, b_out


def _generic_run(map: Map, inputs, loss, x0, h0, steps, dtype, workspace=None) -> dict:
    """Validate, run the map's tape (rule 18): ``step`` forward, ``vjp``/``param_vjp`` backward."""
    if loss is None:
        raise DynsysError("loss is required (StateLoss or ReadoutLoss)")
    if h0 is not None and x0 is None:
        raise DynsysError(
            f"h0 is σ(x_0) of the eq. 2 form, which {type(map).__name__} has not (as_rnn() is None): "
            "give the initial state as x0"
        )
    n = map.dim
    k_h = int(np.shape(map.hidden(np.zeros(n)))[-1])
    W_out, b_out = _readout_of(map, k_h)
    readout = (k_h, None if W_out is None else W_out.shape[0])
    inputs, init, T, B, dtype = _validate(map, inputs, loss, x0, h0, steps, dtype, readout=readout)
    no_input = inputs is None or map.input_dim == 0
    u_at = [None] * (T + 1) if no_input else [None, *inputs]  # u_at[t] = u_t (rule 2: None if m = 0)
    tape = map.tape(None if no_input else inputs, T, B, workspace=workspace)  # rule 18
    xs = np.empty((T + 1, B, n), dtype=dtype)
    xs[0] = 0.0 if init is None else init
    for t in range(1, T + 1):
        x = tape.step(t, xs[t - 1])
        if t == 1 and np.shape(x) != (B, n):
            raise DynsysError(
                f"rnn.step must keep the batch: shape ({B}, {n}) expected, got {np.shape(x)} "
                "(parameters with batch axes cannot be trained by bptt)"
            )
        xs[t] = x
    lsteps = resolve_steps(loss.steps, T, "loss.steps")
    hs = np.array(map.hidden(xs), dtype=dtype)  # (T+1, B, k_h), never a view of the states
    if W_out is None:
        W_out, b_out = np.zeros((0, k_h)), np.zeros(0)
    # the loss steps as a slice when they are consecutive ("all", "last"): views, not copies
    at = slice(int(lsteps[0]), int(lsteps[-1]) + 1) if np.all(np.diff(lsteps) == 1) else lsteps
    value, gh, loss_grads = loss.value_and_grad(
        hs[at][:, None], (W_out.astype(dtype)[None], b_out.astype(dtype)[None])
    )
    gxl = np.asarray(map.hidden_vjp(xs[at], gh[:, 0]), dtype=dtype)  # ∂E_t/∂x_t at the loss steps
    last = int(lsteps.max())
    deltas = np.empty((T + 1, B, n), dtype=dtype)
    deltas[last + 1 :] = 0.0  # ∂E/∂x_t = 0 after the last loss step
    inject = dict(zip(lsteps.tolist(), range(len(lsteps))))
    gx = np.zeros((B, n), dtype=dtype)
    for t in range(last, 0, -1):  # the deltas: one vjp per step
        if t in inject:
            gx = gx + gxl[inject[t]]
        deltas[t] = gx
        gx = tape.vjp(t, deltas[t])
    # the weights: Σ_t δ_tᵀ ∂F/∂θ (x_{t-1}, u_t) over the steps 1..last (rules 17–18)
    pv = tape.param_vjp()
    names = _param_vjp_names(map)
    if sorted(pv) != sorted(names):
        raise DynsysError(
            f"{type(map).__name__}.param_vjp gave {sorted(pv)}, but its weight_names (without the "
            f"readout) are {sorted(names)} (Map rule 17)"
        )
    deltas[0] = gx
    out = {name: np.asarray(pv[name], dtype=dtype) for name in names}
    if isinstance(loss, ReadoutLoss):
        out["W_out"], out["b_out"] = loss_grads["W_out"][0], loss_grads["b_out"][0]
    return {
        "loss": float(value[0]), "grads": out, "states": xs, "hidden": hs, "deltas": deltas,
        "loss_steps": lsteps, "gx_loss": gxl, "u_at": u_at, "names": names, "T": T,
    }  # fmt: skip


def _generic_sweep(map: Map, run):
    """Yield ``(k, Dk)`` for k = T..1, ``Dk[s] = ∂E_{t_s}/∂x_k`` (zero where ``t_s < k``) via ``vjp``."""
    xs, u_at, lsteps, gxl, T = run["states"], run["u_at"], run["loss_steps"], run["gx_loss"], run["T"]
    last = int(lsteps.max())
    Dk = np.zeros_like(gxl)
    for k in range(T, 0, -1):
        if k < last:  # for k >= last, Dk is zero before its injection
            Dk = np.array(map.vjp(xs[k], u_at[k + 1], Dk), dtype=gxl.dtype)
        hit = np.nonzero(lsteps == k)[0]
        if hit.size:
            Dk[hit] = gxl[hit]
        yield k, Dk


def _generic_contributions(map: Map, run, arrays=False):
    """The eq. 4 contributions through ``param_vjp``: the (T, T) norms and, if asked, the arrays."""
    T, names, lsteps, xs, u_at = run["T"], run["names"], run["loss_steps"], run["states"], run["u_at"]
    norms = np.full((T, T), np.nan)
    norms[np.tril_indices(T)] = 0.0
    out = {name: np.zeros((T, T) + np.shape(map.get_param(name))) for name in names} if arrays else None
    for k, Dk in _generic_sweep(map, run):
        for s in np.nonzero(lsteps >= k)[0]:
            pv = map.param_vjp(xs[k - 1], u_at[k], Dk[s])
            t = int(lsteps[s])
            norms[t - 1, k - 1] = np.sqrt(sum(float(np.sum(np.square(pv[name]))) for name in names))
            if out is not None:
                for name in names:
                    out[name][t - 1, k - 1] = pv[name]
    return norms, out


def _generic_jacobian_norms(map: Map, run):
    """``[t, k] = ‖∂x_t/∂x_k‖₂`` (eq. 5): all products ending at t advanced together by ``tangent``."""
    xs, u_at, T = run["states"], run["u_at"], run["T"]
    B, n = xs.shape[1:]
    out = np.full((T + 1, T + 1, B), np.nan)
    P = np.empty((T + 1, B, n, n))  # P[k] = ∂x_t/∂x_k for k <= t
    for t in range(T + 1):
        if t:
            P[:t] = map.tangent(xs[t - 1], u_at[t], P[:t])
        P[t] = np.eye(n)
        out[t, : t + 1] = np.linalg.norm(P[: t + 1], 2, axis=(-2, -1))
    return out


def _generic_bptt(
    map, inputs, loss, x0, h0, steps, contributions, jacobian_norms, dtype, workspace
) -> BPTTResult:
    run = _generic_run(map, inputs, loss, x0, h0, steps, dtype, workspace)
    return BPTTResult(
        loss=run["loss"],
        grads=run["grads"],
        states=run["states"],
        hidden=run["hidden"],
        deltas=run["deltas"],
        loss_steps=run["loss_steps"],
        contribution_norms=_generic_contributions(map, run)[0] if contributions else None,
        jacobian_norms=_generic_jacobian_norms(map, run) if jacobian_norms else None,
    )
