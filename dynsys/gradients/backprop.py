r"""Backpropagation through time for the RNN map, with the paper's diagnostics (eq. 3–5).

The network is ``x_t = W_rec σ(x_{t-1}) + W_in u_t + b`` (eq. 2), ``h_t = σ(x_t)``, ``t = 1..T``.
The cost is ``E = Σ_t E_t`` (eq. 3) with ``E_t`` read from ``h_t`` at chosen steps, averaged over the
batch. Besides the loss and the gradients this module gives

* the **temporal contributions** of eq. 4, ``(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂θ)`` for every
  ``k ≤ t``, as arrays (:func:`temporal_contributions`) or as a ``(T, T)`` matrix of norms
  (``bptt(..., contributions=True)``); they sum back to the total gradient of ``W_rec``, ``W_in``
  and ``b`` (the readout has only immediate contributions);
* the **Jacobian products** of eq. 5, ``∂x_t/∂x_k = Π_{i=k+1..t} W_rec diag(σ′(x_{i-1}))`` (column
  convention), for every ``k ≤ t`` (:func:`jacobian_product`, :func:`jacobian_product_norms`).

The core (:func:`bptt_stacked`) runs K networks of the same size at once (stacked weights, batched
matmuls); :func:`bptt` is the single-network interface with validation and diagnostics.

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
from ..activations import get_activation
from ..errors import DynsysError
from ..maps.base import Map
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
    h = hv[0]
    for t in range(1, T + 1):
        x = xv[t]
        np.matmul(h, WT, out=x)
        x += dv[t - 1]
        h = hv[t]
        if act.name == "tanh":
            np.tanh(x, out=h)  # in place: no temporary per step
        else:
            h[...] = act.fn(x)
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
    om = None if omega_bound is None or K == 1 else OmegaAccumulator(K, n, omega_bound)
    omega_sums = None
    if K == 1:  # one network: single large gradient products after the loop (views, no copies)
        Wv, dv, sv, gl = W_rec[0], deltas[:, 0], dsig[:, 0], gh_loss[:, 0]
        gh = np.zeros((B, n), dtype=xs.dtype)
        for t in range(T, 0, -1):
            if t in inject:
                gh += gl[inject[t]]
            d = dv[t]
            np.multiply(gh, sv[t], out=d)
            gh = np.matmul(d, Wv)
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
        for t in range(T, 0, -1):
            if t in inject:
                gh += gh_loss[inject[t]]
            s_t = dsig[t]
            s_t[...] = act.d_from_output(hs[t])
            d = deltas[t]
            np.multiply(gh, s_t, out=d)
            dT = np.swapaxes(d, -1, -2)
            gW += np.matmul(dT, hs[t - 1])
            if with_inputs:
                gU += np.matmul(dT, inputs[t - 1])  # (B, m) shared or (K, B, m)
            dh, gh = gh, np.matmul(d, W_rec)
            if om is not None:  # Ω of the code form from this step's δ, g and v (eq. 9–10)
                om.step(dh, d, gh)
        dsig[0] = act.d_from_output(hs[0])
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
        ``∂E/∂θ`` for ``W_rec``, ``W_in``, ``b`` (and ``W_out``, ``b_out`` with a readout loss),
        each with the shape of the parameter.
    states : ndarray, shape (T+1, B, n)
        Pre-activations ``x_t`` (row 0 is ``x_0``, NaN when ``h0`` was given).
    hidden : ndarray, shape (T+1, B, n)
        ``σ(x_t)`` (row 0 is ``h_0``).
    deltas : ndarray, shape (T+1, B, n)
        ``∂E/∂x_t`` (row 0 is ``∂E/∂x_0`` when ``x0`` was given, else NaN).
    loss_steps : ndarray of int
        The steps t at which the loss is read.
    contribution_norms : ndarray, shape (T, T) or None
        ``[t-1, k-1]`` = Frobenius norm of the temporal contribution (t, k) of eq. 4 to
        ``(W_rec, W_in, b)`` together, summed over the batch; zero for steps without loss; NaN for k > t.
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


def _validate(rnn, inputs, loss, x0, h0, steps, dtype):
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
    if isinstance(loss, ReadoutLoss):
        if rnn.W_out is None:
            raise DynsysError("a ReadoutLoss needs an RNNMap with W_out")
        if loss.kind not in ("softmax", "mse"):
            raise DynsysError(f"loss.kind must be 'softmax' or 'mse', got {loss.kind!r}")
    S = len(resolve_steps(loss.steps, T, "loss.steps"))
    tg = np.asarray(loss.targets)
    if isinstance(loss, ReadoutLoss) and loss.kind == "softmax":
        k = rnn.W_out.shape[0]
        if tg.shape != (S, B) or tg.dtype.kind not in "iu":
            raise DynsysError(
                f"loss.targets must be integer labels of shape ({S}, {B}), got {tg.dtype} {tg.shape}"
            )
        if tg.min() < 0 or tg.max() >= k:
            raise DynsysError(f"loss.targets must be class labels in 0..{k - 1}")
    else:
        k = rnn.W_out.shape[0] if isinstance(loss, ReadoutLoss) else n
        try:
            np.broadcast_to(tg, (S, B, k))
        except ValueError:
            raise DynsysError(
                f"loss.targets must broadcast to ({S}, {B}, {k}), got shape {tg.shape}"
            ) from None
        as_float_array(tg, "loss.targets")
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
    rnn: RNNMap,
    inputs=None,
    loss: StateLoss | ReadoutLoss | None = None,
    *,
    x0=None,
    h0=None,
    steps: int | None = None,
    contributions: bool = False,
    jacobian_norms: bool = False,
    dtype=np.float64,
) -> BPTTResult:
    """Loss, gradients and the eq. 4–5 diagnostics of one RNN over a batch of sequences.

    Parameters
    ----------
    rnn : RNNMap
        The network (eq. 2), or any map of that form (a :class:`~dynsys.maps.UnitMap`, a
        :class:`~dynsys.maps.FixedInput` of an RNN, a user's map with ``as_rnn()``, Map rule 15),
        whose gradients are then those of ``as_rnn()``'s weights; a :class:`ReadoutLoss` uses its
        ``W_out``, ``b_out``.
    inputs : array_like, shape (T, B, m), optional
        ``inputs[t-1] = u_t``. Omit for an autonomous run of ``steps`` steps.
    loss : StateLoss or ReadoutLoss
    x0 : array_like, shape (B, n) or (n,), optional
        Initial pre-activation state.
    h0 : array_like, shape (B, n) or (n,), optional
        Initial hidden state ``σ(x_0)`` instead (zeros when neither is given, as in the paper's code).
    steps : int, optional
        T when ``inputs`` is None.
    contributions : bool
        Compute the ``(T, T)`` matrix of temporal-contribution norms (eq. 4). Cost ``O(T² B (B + n) n)``.
    jacobian_norms : bool
        Compute ``‖∂x_t/∂x_k‖₂`` for all ``k ≤ t`` (eq. 5). Cost ``O(T² B n³)``.
    dtype : float64 (default) or float32

    Returns
    -------
    BPTTResult
    """
    rnn = _eq2(rnn)
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


def temporal_contributions(rnn: RNNMap, inputs=None, loss=None, *, x0=None, h0=None, steps=None):
    """The temporal contributions of eq. 4 as gradient arrays (small problems: memory O(T² n²)).

    ``rnn`` and the other arguments are those of :func:`bptt`.

    Returns
    -------
    dict
        ``"W_rec"``: shape (T, T, n, n), ``"W_in"``: (T, T, n, m), ``"b"``: (T, T, n); entry
        ``[t-1, k-1]`` is ``(∂E_t/∂x_t)(∂x_t/∂x_k)(∂⁺x_k/∂θ)`` summed over the batch, zero for k > t and
        for steps t without loss. Summed over (t, k) they equal ``bptt(...).grads`` (eq. 3–4).
    """
    rnn = _eq2(rnn)
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
