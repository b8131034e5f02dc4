"""The ``Map`` contract (paper eq. 1–2): the one interface everything in dynsys is built on.

Everything downstream — BPTT, conditions, Lyapunov spectra, fixed points, continuation,
bifurcations, basins, loss surfaces, training — depends only on the rules below. Implement the
required rules and every tool works on your map; implement an optional rule and the tools that
use it get faster (the generic defaults here are exact, only slower).

The ``Map`` contract
--------------------
Required:

1. ``dim`` : int — the state dimension ``n ≥ 1``. A state is an array of shape ``(..., n)``;
   the leading axes are batch axes, and every method is vectorized over them.
2. ``input_dim`` : int — the input dimension ``m ≥ 0``; ``0`` means autonomous, and ``u`` must
   then be ``None``.
3. ``step(x, u=None)`` returns ``F(x, u)`` with shape ``(..., n)``. The batch shapes of ``x``
   (``(..., n)``) and ``u`` (``(..., m)``) broadcast against each other and against any
   array-valued parameters of the map. ``step`` never modifies its arguments.
4. ``jacobian(x, u=None)`` returns ``∂F/∂x`` with shape ``(..., n, n)`` in the column
   convention ``J[..., i, j] = ∂F_i/∂x_j`` (so a Jacobian product reads ``J_t ⋯ J_{k+1}``,
   paper eq. 5 transposed). It is analytic, not a finite difference.

Parameters (the base class implements 6–7 for maps that are frozen dataclasses):

5. ``param_names`` : tuple of str — the map's parameters. **One vocabulary** names what can be
   read, replaced, differentiated and continued: a parameter ``"NAME"`` (a scalar, or a whole
   array), or one entry of an array parameter, ``"NAME[i]"`` / ``"NAME[i,j]"`` (e.g.
   ``"W_rec[0,2]"``). :meth:`get_param`, :meth:`with_params`, :meth:`param_derivative` and
   :meth:`parameter_path` all take these names.
6. ``with_params(**changes)`` returns a *new* map with those parameters (or entries) replaced,
   validated like the constructor; an unknown name raises :class:`~dynsys.errors.DynsysError`.
   Maps are immutable (frozen dataclasses; array fields are read-only).
7. ``param_derivative(x, name, u=None)`` returns ``∂F/∂p`` (shape ``(..., n)``) for a scalar
   parameter or entry ``p``; the base class supplies a central finite difference through
   ``with_params``, and the built-in maps override it analytically.
8. ``validate_state(x, name)`` / ``validate_input(u, name)`` / ``validate_constant_input(u, name)``
   check shapes at the boundary of the public tools (``iterate``, fixed points, parameter paths,
   ...); ``step`` and ``jacobian`` trust their inputs.

Optional fast paths (generic defaults here; :class:`~dynsys.maps.RNNMap` overrides them with its
one-GEMM versions, and a conformance test checks every override against the default):

9. ``tangent(x, u, V)`` — ``J(x, u) V`` for frames ``V`` of shape ``(..., n, k)`` (Lyapunov
   spectra, Jacobian-product evidence). Default: ``jacobian(x, u) @ V``.
10. ``step_tangent(x, u, V)`` — ``(F(x, u), J(x, u) V)`` in one pass. Default: both separately.
11. ``linearize(x, u=None, *, workspace=None)`` — a :class:`Linearization` of ``F`` at a stack
    of states ``x`` (S, n): ``matvec`` (``J_s v_s`` for many vectors), ``dense`` (the Jacobians)
    and ``precondition`` (an approximate inverse of ``J_s − I``, identity by default), what the
    batched Newton and Newton–Krylov solvers need. ``workspace`` is a dict the caller keeps for
    one solve (a map may cache there). ``matrix_free`` (class attribute, default False) says
    that ``matvec`` does not form ``J`` (Newton–Krylov is then chosen from 64 dimensions on).
12. ``state_box(u=None)`` — a box ``(lo, hi)`` (shape ``(n,)`` each) that contains ``F(x, u)``
    for every ``x`` (hence every fixed point and attractor), or None (the default) when the map
    knows none.
13. ``split_driven()`` — ``(F̃, K)``: the autonomous part ``F̃ = F(·, 0)`` and, when the input
    enters additively, ``F(x, u) = F̃(x) + K u``, the input matrix ``K`` (shape ``(n, m)``), else
    None. Default: ``(FixedInput(self, 0), None)``.
14. ``parameter_path(name, *, u=None, direction=None)`` — a faster
    :class:`~dynsys.maps.paths.ParameterPath` for the names the map knows better (an
    :class:`~dynsys.maps.RNNMap` is affine in its weights), or None (the default) for the
    generic path through ``with_params`` (:func:`dynsys.maps.paths.parameter_path`).
15. ``as_rnn()`` — the same map as an :class:`~dynsys.maps.RNNMap` of eq. 2, or None (the
    default) when it is not one; the eq. 6–7 conditions need that form, and BPTT takes its fast
    path through it.

Gradients (rules 16–17; generic defaults here, exact whenever ``jacobian`` and
``param_derivative`` are; :func:`dynsys.gradients.bptt` runs on any map through them):

16. ``hidden(x)`` — what a linear readout reads, ``y = W_out · hidden(x) + b_out`` (shape
    ``(..., k_h)``), and what a :class:`~dynsys.gradients.ReadoutLoss` or
    :class:`~dynsys.gradients.StateLoss` sees; ``hidden_vjp(x, g)`` = ``gᵀ ∂hidden/∂x`` for
    ``g`` of shape ``(..., k_h)``, shape ``(..., n)``. Default: ``x`` and ``g`` (the state itself
    is read); :class:`~dynsys.maps.RNNMap` and :class:`~dynsys.maps.UnitMap` read ``σ(x)`` (eq. 2's
    readout) and give ``σ′(x) ⊙ g``. A map that overrides ``hidden`` overrides ``hidden_vjp`` too;
    with ``as_rnn()``, ``hidden`` is that form's ``σ(x)``. The readout itself (``W_out``,
    ``b_out``, when the map has them) is read with :meth:`Map.get_param`.
17. ``vjp(x, u, g)`` = ``gᵀ ∂F/∂x`` for each state, shape ``(..., n)``; ``g`` has the shape of
    ``F(x, u)`` or more leading axes (many cotangents per state). ``param_vjp(x, u, g)`` =
    ``{name: gᵀ ∂F/∂θ_name}``, summed over all leading batch axes (of ``g``, ``x`` and ``u``
    broadcast together) to the shape of ``θ_name``, for every name of ``weight_names`` except the
    readout names ``W_out``, ``b_out`` (not part of ``F``: the loss differentiates them).
    ``weight_names`` (class attribute) lists the trainable real arrays in the order a trainer
    stacks them, the readout included when the map has one (RNNMap: ``W_rec, W_in, b, W_out,
    b_out``); default: the real-valued (float scalar or float array) parameters of
    ``param_names``. Defaults: ``vjp`` is ``gᵀ J`` through ``jacobian``; ``param_vjp`` asks
    ``param_derivative`` for every entry (``"W[i,j]"``, ``"p"`` for a scalar) and contracts it
    with ``g``: exact when ``param_derivative`` is analytic (rule 7's central difference
    otherwise, ~1e-10 relative), and slow — P calls of ``param_derivative`` for P weight entries
    (each 2 batched ``step`` calls and 2 ``with_params`` copies for the finite-difference
    default). BPTT calls ``vjp`` once per step and ``param_vjp`` once per run, over all (T, B)
    states at once. RNNMap overrides both with one GEMM each, UnitMap analytically.

BPTT over a sequence (rule 18; generic default here, exact: it is rules 3 and 17):

18. ``tape(inputs, steps, batch, *, workspace=None)`` — a :class:`Tape`, BPTT's two passes over
    one input sequence (``inputs`` of shape ``(steps, batch, m)``, or None for no input), one step
    at a time: ``tape.step(t, x)`` = ``F(x, u_t)`` for ``x`` of shape ``(batch, n)`` and
    ``t = 1..steps`` in order, keeping what the backward pass needs; then ``tape.vjp(t, g)`` =
    ``gᵀ ∂F/∂x`` at step ``t``'s state and input (rule 17's ``vjp``), for ``t`` from some ``t_max``
    down to 1, each once; then ``tape.param_vjp()`` = ``{name: Σ_t g_tᵀ ∂F/∂θ_name(x_{t-1}, u_t)}``
    over those steps (rule 17's ``param_vjp`` of all of them together: its names, summed over the
    batch). Default (:class:`Tape`): ``step`` forward, ``vjp`` at the states it was given and one
    ``param_vjp`` over all ``(t, batch)`` rows at once. ``workspace`` is a dict the caller keeps
    across runs (a training loop: one for all its updates) and never shares between two live
    tapes; a map may keep its buffers there (the gated cells keep their (G, T, B, n) arrays: no
    fresh pages to map per run); what a tape returns never lives there.
    :func:`~dynsys.gradients.bptt` runs every map without ``as_rnn()`` through it. GRUMap and
    LSTMMap keep their gates from the forward pass (the input pre-activations of all steps in one
    GEMM first, then one GEMM per step each way, the weight gradients in one GEMM over all
    ``steps · batch`` rows).

Periodic points (rule 19; generic default here):

19. ``periodic_box(u=None)`` — a box ``(lo, hi)`` (shape ``(n,)`` each) that contains every
    periodic point of ``F(·, u)`` — every fixed point and every point of every periodic orbit —
    or None when the map knows none. Default: the rule-12 :meth:`state_box` (a periodic point is
    the image of the point before it on its orbit, so a box of all images holds it). Maps whose
    images are unbounded but whose periodic points are not override it: a GRU's periodic points
    lie in the open cube ``(−1, 1)ⁿ``, an LSTM's have ``|h| < 1`` and a bounded cell state (the
    proofs are in their docstrings). The fixed- and period-k-point finders draw their starts in
    it and reject converged points outside it (:func:`dynsys.analysis.equilibria.find_fixed_points`).
    As everywhere, ``u = None`` is the input ``step(x, None)`` uses (zero for the built-in maps).

Examples
--------
>>> import numpy as np
>>> from dynsys.maps import UnitMap, iterate
>>> m = UnitMap(w=5.0, b=-2.5, activation="sigmoid")
>>> traj = iterate(m, np.array([0.5]), steps=3)
>>> traj.states.shape
(4, 1)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import as_float_array, check_finite_scalar
from ..errors import DynsysError

__all__ = ["Map", "Linearization", "Tape", "FixedInput", "split_param_name"]

#: the readout arrays (rules 16–17): read by a loss through ``hidden(x)``, not part of ``F``
_READOUT_NAMES = ("W_out", "b_out")


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _set_float_params(obj, *names: str) -> None:
    """Validate the named parameters of a frozen map: 0-d → ``float``, arrays → read-only copies."""
    for key in names:
        arr = as_float_array(getattr(obj, key), key)
        object.__setattr__(obj, key, float(arr) if arr.ndim == 0 else _readonly(arr))


def _is_real(value) -> bool:
    """A float scalar or a float array (a trainable weight of rule 17's default)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _param_vjp_names(map: Map) -> tuple[str, ...]:
    """The names ``param_vjp`` covers (rule 17): ``weight_names`` without the readout names."""
    return tuple(name for name in map.weight_names if name not in _READOUT_NAMES)


def _sum_to_shape(a, shape) -> np.ndarray:
    """Sum ``a`` over the axes that broadcasting added to ``shape`` (rule 17's batch sum)."""
    a = np.asarray(a, dtype=float)
    a = np.broadcast_to(a, np.broadcast_shapes(a.shape, tuple(shape)))
    a = a.sum(axis=tuple(range(a.ndim - len(shape))))
    kept = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
    return np.asarray(a.sum(axis=kept, keepdims=True) if kept else a, dtype=float)


_ENTRY = re.compile(r"^\s*([A-Za-z_]\w*)\s*\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\]\s*$")


def _check_readout(W_out, b_out, n: int, reads: str = ""):
    """The optional linear readout ``y = W_out·hidden(x) + b_out`` of a map with ``n`` hidden
    units, validated: ``(W_out, b_out)`` as float arrays (``b_out`` defaults to zeros), or
    ``(None, None)``. ``reads`` ends the shape message (e.g. ``" to read the hidden state"``)."""
    if W_out is None:
        if b_out is not None:
            raise DynsysError("b_out was given without W_out")
        return None, None
    W_out = as_float_array(W_out, "W_out", ndim=2)
    if W_out.shape[1] != n:
        raise DynsysError(f"W_out must have shape (k, {n}){reads}, got {W_out.shape}")
    k = W_out.shape[0]
    b_out = np.zeros(k) if b_out is None else as_float_array(b_out, "b_out", ndim=1)
    if b_out.shape != (k,):
        raise DynsysError(f"b_out must have shape ({k},) to match W_out, got {b_out.shape}")
    return W_out, b_out


def split_param_name(name: str) -> tuple[str, tuple[int, ...]]:
    """``"W_rec[0,2]"`` → ``("W_rec", (0, 2))``; ``"b"`` → ``("b", ())`` (rule 5's vocabulary).

    Examples
    --------
    >>> split_param_name("W_rec[0, 2]"), split_param_name("b[1]"), split_param_name("gain")
    (('W_rec', (0, 2)), ('b', (1,)), ('gain', ()))
    """
    if not isinstance(name, str) or not name.strip():
        raise DynsysError(f"param must be a parameter name, got {name!r}")
    m = _ENTRY.match(name)
    if m is None:
        return name.strip(), ()
    idx = (int(m.group(2)),) if m.group(3) is None else (int(m.group(2)), int(m.group(3)))
    return m.group(1), idx


class Map:
    """Base class of all maps; see the module docstring for the numbered contract."""

    dim: int
    input_dim: int = 0
    param_names: tuple[str, ...] = ()
    #: rule 11: ``linearize(...).matvec`` applies J without forming it
    matrix_free: bool = False

    # -- rules 3 and 4 -------------------------------------------------------------------
    def step(self, x, u=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def jacobian(self, x, u=None):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- rules 5 and 6 -------------------------------------------------------------------
    def _known(self) -> str:
        return ", ".join(self.param_names) or "none"

    def _param_ref(self, name: str) -> tuple[str, tuple[int, ...]]:
        """Parse and check a name of the vocabulary (rule 5): ``(base, index)``."""
        base, idx = split_param_name(name)
        if base not in self.param_names:
            raise DynsysError(f"unknown parameter {name!r} for {type(self).__name__}; known: {self._known()}")
        if idx:
            value = getattr(self, base)
            shape = np.shape(value) if isinstance(value, (np.ndarray, float, int)) else None
            if shape is None or len(shape) != len(idx):
                raise DynsysError(
                    f"parameter {name!r}: {base} of {type(self).__name__} has no entries of that form "
                    f"(shape {shape})"
                )
            if any(i >= s for i, s in zip(idx, shape)):
                raise DynsysError(f"param {name!r} is out of range: {base} has shape {shape}")
        return base, idx

    def get_param(self, name: str):
        """The current value of parameter ``name`` (or of one entry, ``"NAME[i,j]"``)."""
        base, idx = self._param_ref(name)
        value = getattr(self, base)
        return float(value[idx]) if idx else value

    def with_params(self, **changes) -> Map:
        """A new map with the named parameters (or entries) replaced (rule 6)."""
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            base, idx = self._param_ref(key)
            if idx:
                arr = np.array(updates.get(base, getattr(self, base)), dtype=float)
                arr[idx] = check_finite_scalar(value, key)
                updates[base] = arr
            else:
                updates[base] = value
        return dataclasses.replace(self, **updates)

    # -- rule 7 --------------------------------------------------------------------------
    def param_derivative(self, x, name: str, u=None):
        """∂F/∂p for a scalar parameter or entry ``p`` by a central difference (rule 7)."""
        value = self.get_param(name)
        if isinstance(value, (bool, np.bool_)) or not (
            isinstance(value, (int, float, np.number))
            or (isinstance(value, np.ndarray) and value.dtype.kind in "iuf")
        ):
            raise DynsysError(
                f"parameter {name!r} of {type(self).__name__} is not a number ({type(value).__name__}): "
                "it has no derivative"
            )
        p = np.asarray(value, dtype=float)
        h = 1e-6 * max(1.0, float(np.max(np.abs(p))) if p.size else 1.0)
        plus = self.with_params(**{name: p + h}).step(x, u)
        minus = self.with_params(**{name: p - h}).step(x, u)
        return (plus - minus) / (2.0 * h)

    # -- rule 8 --------------------------------------------------------------------------
    def validate_state(self, x, name: str = "x") -> np.ndarray:
        """Check that ``x`` has shape ``(..., dim)`` and finite entries."""
        arr = as_float_array(x, name)
        if arr.ndim == 0 or arr.shape[-1] != self.dim:
            raise DynsysError(
                f"{name} must have shape (..., {self.dim}) for this {self.dim}-dimensional map, "
                f"got shape {tuple(arr.shape)}"
            )
        return arr

    def validate_input(self, u, name: str = "u") -> np.ndarray | None:
        """Check that ``u`` is ``None`` (autonomous) or has shape ``(..., input_dim)``."""
        if u is None:
            return None
        if self.input_dim == 0:
            raise DynsysError(f"{name} was given but {type(self).__name__} takes no input")
        arr = as_float_array(u, name)
        if arr.ndim == 0 or arr.shape[-1] != self.input_dim:
            raise DynsysError(f"{name} must have shape (..., {self.input_dim}), got shape {tuple(arr.shape)}")
        return arr

    def validate_constant_input(self, u, name: str = "u") -> np.ndarray | None:
        """Check a constant input: ``None``, or shape ``(input_dim,)`` (a number when it is 1)."""
        if u is None:
            return None
        if self.input_dim == 0:
            raise DynsysError(f"{name} was given but {type(self).__name__} takes no input")
        arr = np.atleast_1d(as_float_array(u, name, ndim=(0, 1)))
        if arr.shape != (self.input_dim,):
            raise DynsysError(f"{name} must have shape ({self.input_dim},), got {arr.shape}")
        return arr

    # -- optional fast paths (rules 9–15) --------------------------------------------------
    def tangent(self, x, u, V):
        """``J(x, u) @ V`` for frames ``V`` of shape ``(..., n, k)`` (rule 9)."""
        return self.jacobian(x, u) @ V

    def step_tangent(self, x, u, V):
        """``(F(x, u), J(x, u) @ V)`` (rule 10)."""
        return self.step(x, u), self.tangent(x, u, V)

    def linearize(self, x, u=None, *, workspace=None) -> Linearization:
        """The :class:`Linearization` of ``F`` at the states ``x`` (S, n) (rule 11)."""
        return Linearization(self, x, u)

    def state_box(self, u=None):
        """A box ``(lo, hi)`` that contains ``F(x, u)`` for every ``x``, or None (rule 12)."""
        return None

    def periodic_box(self, u=None):
        """A box ``(lo, hi)`` that contains every periodic point of ``F(·, u)``, or None (rule 19).

        Default: :meth:`state_box` — every periodic point is an image, so it lies in any box of
        all images.
        """
        return self.state_box(u)

    def split_driven(self):
        """``(F̃, K)``: the autonomous part and the input matrix of an additive input (rule 13)."""
        if self.input_dim == 0:
            raise DynsysError(f"split_driven: {type(self).__name__} takes no input (input_dim = 0)")
        return FixedInput(self, np.zeros(self.input_dim)), None

    def parameter_path(self, name: str, *, u=None, direction=None):
        """A faster :class:`~dynsys.maps.paths.ParameterPath` for ``name``, or None (rule 14)."""
        return None

    def as_rnn(self):
        """This map as an :class:`~dynsys.maps.RNNMap` of eq. 2, or None (rule 15)."""
        return None

    # -- gradients (rules 16–17) ---------------------------------------------------------
    def hidden(self, x):
        """What a linear readout reads (rule 16): the state ``x`` itself by default."""
        return np.asarray(x)

    def hidden_vjp(self, x, g):
        """``gᵀ ∂hidden/∂x`` (rule 16): ``g`` itself for the default ``hidden(x) = x``."""
        return np.asarray(g)

    @property
    def weight_names(self) -> tuple[str, ...]:
        """The trainable arrays (rule 17); default: the real-valued parameters of ``param_names``."""
        return tuple(name for name in self.param_names if _is_real(getattr(self, name, None)))

    def vjp(self, x, u, g):
        """``gᵀ ∂F/∂x``, shape ``(..., n)`` (rule 17); default ``gᵀ J`` through :meth:`jacobian`."""
        g = np.asarray(g)
        return np.matmul(g[..., None, :], self.jacobian(x, u))[..., 0, :]

    def param_vjp(self, x, u, g) -> dict[str, np.ndarray]:
        """``{name: gᵀ ∂F/∂θ_name}`` summed over the batch, with θ's shape (rule 17).

        Default: one :meth:`param_derivative` per entry (``"W[i,j]"``, or ``"p"`` for a scalar),
        contracted with ``g`` — exact when ``param_derivative`` is analytic; P calls for P entries.
        """
        g = np.asarray(g, dtype=float)
        out = {}
        for name in _param_vjp_names(self):
            value = np.asarray(self.get_param(name), dtype=float)
            if value.ndim > 2:
                raise DynsysError(
                    f"param_vjp: {name} of {type(self).__name__} has {value.ndim} axes, but rule 5 names "
                    "entries of 1- and 2-axis arrays only: override param_vjp"
                )
            grad = np.zeros(value.shape)
            for idx in np.ndindex(value.shape):
                entry = f"{name}[{','.join(map(str, idx))}]" if idx else name
                grad[idx] = np.sum(g * self.param_derivative(x, entry, u))
            out[name] = grad
        return out

    # -- BPTT over a sequence (rule 18) --------------------------------------------------
    def tape(self, inputs, steps: int, batch: int, *, workspace=None) -> Tape:
        """A :class:`Tape` for BPTT over ``inputs`` (steps, batch, m) or None (rule 18)."""
        return Tape(self, inputs, steps, batch)


class Linearization:
    """``J_s = ∂F/∂x(x_s, u)`` for a stack of states ``x`` (S, n) (Map rule 11).

    The generic version forms the Jacobians once (``map.jacobian``); maps with structure
    override :meth:`Map.linearize` with a matrix-free version.

    Methods
    -------
    matvec(V, rows=None)
        ``J_s v_s`` for the vectors ``V`` (R, n) of the states ``rows`` (all when None).
    dense()
        The Jacobians, shape (S, n, n), as a new writable array (a map may write it into a buffer
        of the solve's ``workspace``).
    precondition(V, rows=None)
        ``M_s v_s`` with ``M_s ≈ (J_s − I)⁻¹`` (right preconditioner of Newton–Krylov); the
        identity here.
    """

    def __init__(self, map: Map, x, u=None):
        self.map, self.x, self.u = map, x, u
        self._J = None

    @property
    def jacobians(self) -> np.ndarray:
        if self._J is None:
            self._J = self.map.jacobian(self.x, self.u)
        return self._J

    def matvec(self, V, rows=None):
        J = self.jacobians if rows is None else self.jacobians[rows]
        return np.einsum("sij,sj->si", J, V)

    def dense(self):
        return np.array(self.jacobians, dtype=float, copy=True)

    def precondition(self, V, rows=None):
        return V


class Tape:
    """BPTT's forward and backward passes over one input sequence, step by step (Map rule 18).

    The generic version, exact whenever the map's rules 3 and 17 are: ``step(t, x)`` is
    ``map.step(x, u_t)`` and keeps a copy of ``x``; ``vjp(t, g)`` is ``map.vjp(x_{t-1}, u_t, g)``
    at that copy and keeps ``g``; ``param_vjp()`` is one ``map.param_vjp`` over all the kept
    steps at once (states, inputs and cotangents stacked along a leading step axis). A map with
    structure overrides :meth:`Map.tape` and keeps its intermediate values instead.

    Parameters
    ----------
    map : Map
    inputs : ndarray, shape (steps, batch, m), or None
        ``inputs[t-1] = u_t``; None: no input (``u_t = None``).
    steps, batch : int
        The sequence length T and the batch size B.

    Methods
    -------
    step(t, x)
        ``F(x, u_t)`` (batch, n) for the state ``x`` (batch, n) = ``x_{t-1}``; ``t = 1..steps``
        in order.
    vjp(t, g)
        ``gᵀ ∂F/∂x`` (batch, n) at step ``t``'s state and input, for the cotangent ``g``
        (batch, n) of ``x_t``; after the forward pass, ``t`` from some ``t_max`` down to 1, each
        once.
    param_vjp()
        ``{name: Σ_t g_tᵀ ∂F/∂θ_name(x_{t-1}, u_t)}`` over the steps given to ``vjp``, summed
        over the batch (Map rule 17's names and shapes).

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import UnitMap
    >>> unit = UnitMap(w=2.0, b=0.5, activation="tanh")  # x' = 2 tanh(x) + 0.5 + u
    >>> tape = unit.tape(np.ones((2, 1, 1)), 2, 1)
    >>> x2 = tape.step(2, tape.step(1, np.zeros((1, 1))))
    >>> g1 = tape.vjp(2, np.ones((1, 1)))  # ∂x_2/∂x_1 = 2 (1 − tanh² x_1)
    >>> bool(np.isclose(g1[0, 0], 2 / np.cosh(1.5) ** 2))
    True
    >>> g0 = tape.vjp(1, g1)
    >>> bool(np.isclose(tape.param_vjp()["b"], 1 + g1[0, 0]))  # Σ_t ∂x_2/∂x_t
    True
    """

    def __init__(self, map: Map, inputs, steps: int, batch: int):
        self.map, self.inputs, self.steps, self.batch = map, inputs, int(steps), int(batch)
        self._x: list = [None] * self.steps
        self._g: list = [None] * self.steps
        self._top = 0  # t_max, the first step given to vjp

    def _u(self, t: int):
        return None if self.inputs is None else self.inputs[t - 1]

    def step(self, t: int, x):
        self._x[t - 1] = np.array(x, copy=True)
        return self.map.step(self._x[t - 1], self._u(t))

    def vjp(self, t: int, g):
        g = np.array(g, copy=True)
        self._top = max(self._top, t)
        self._g[t - 1] = g
        return self.map.vjp(self._x[t - 1], self._u(t), g)

    def param_vjp(self) -> dict[str, np.ndarray]:
        top = self._top
        if not top:  # no cotangent given: zero gradients
            return {name: np.zeros(np.shape(self.map.get_param(name))) for name in _param_vjp_names(self.map)}
        g_any = next(g for g in self._g[:top] if g is not None)
        G = np.stack([np.zeros_like(g_any) if g is None else g for g in self._g[:top]])
        U = None if self.inputs is None else self.inputs[:top]
        return self.map.param_vjp(np.stack(self._x[:top]), U, G)


@dataclass(frozen=True, eq=False)
class FixedInput(Map):
    """``F̃(x) = F(x, u)``: a map with its input held at the constant ``u`` (an autonomous map).

    The generic autonomous part of a driven map (Map rule 13) and the maps of an input path
    (:func:`dynsys.maps.paths.parameter_path` with ``"u"``). The fast paths of rules 9–12, 15, 16,
    ``vjp`` (17) and 19 are passed on to the inner map with ``u`` filled in; it has no parameters of
    its own (rules 5–7, 14; ``param_vjp`` is ``{}``) and no input to split off (rule 13).

    Examples
    --------
    >>> import numpy as np
    >>> from dynsys.maps import UnitMap
    >>> FixedInput(UnitMap(w=5.0, b=-2.5), [1.0]).step(np.zeros(1)).round(6).tolist()
    [1.0]
    """

    map: Map
    u: Any
    dim: int = field(init=False)
    input_dim: int = field(default=0, init=False)
    param_names = ()
    weight_names = ()

    def __post_init__(self):
        if not isinstance(self.map, Map):
            raise DynsysError(f"map must be a dynsys Map, got {type(self.map).__name__}")
        if self.map.input_dim == 0:
            raise DynsysError(f"FixedInput needs a map with inputs; {type(self.map).__name__} takes none")
        if self.u is None:
            raise DynsysError("u must be the constant input, got None")
        object.__setattr__(self, "u", _readonly(self.map.validate_constant_input(self.u, "u")))
        object.__setattr__(self, "dim", self.map.dim)
        object.__setattr__(self, "matrix_free", self.map.matrix_free)

    def step(self, x, u=None):
        return self.map.step(x, self.u)

    def jacobian(self, x, u=None):
        return self.map.jacobian(x, self.u)

    def tangent(self, x, u, V):
        return self.map.tangent(x, self.u, V)

    def step_tangent(self, x, u, V):
        return self.map.step_tangent(x, self.u, V)

    def linearize(self, x, u=None, *, workspace=None):
        return self.map.linearize(x, self.u, workspace=workspace)

    def state_box(self, u=None):
        return self.map.state_box(self.u)

    def periodic_box(self, u=None):
        return self.map.periodic_box(self.u)

    def as_rnn(self):
        rnn = self.map.as_rnn()
        return None if rnn is None else rnn.autonomous(self.u)

    def hidden(self, x):
        return self.map.hidden(x)

    def hidden_vjp(self, x, g):
        return self.map.hidden_vjp(x, g)

    def vjp(self, x, u, g):
        return self.map.vjp(x, self.u, g)

    def param_vjp(self, x, u, g):
        return {}
