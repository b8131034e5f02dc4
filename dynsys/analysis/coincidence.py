"""Do gradient spikes coincide with events? A circular-shift permutation test (issue 15).

The paper's dynamical-systems argument (§2.2, Figs. 4–6) says that gradient explosions happen when
training moves the parameters across a bifurcation or the states across a basin boundary. Along a
training run of ``n`` updates this becomes a statement about two point processes on the update
indices ``{0, …, n−1}``: the **spikes** ``S`` (updates with an exploding gradient, see
:func:`spike_times_from_norms`) and the **events** ``E`` (bifurcations, basin crossings).

Statistics
----------
Times live on the circle ``Z_n`` (update ``n−1`` is followed by update ``0``), the geometry of the
null below. With the circular distance ``d(s, e) = min(|s − e|, n − |s − e|)`` and a window
``Δ ≥ 0`` (updates):

* ``spike_rate = |{s ∈ S : ∃ e ∈ E, d(s, e) ≤ Δ}| / |S|`` — the fraction of spikes within ±Δ
  updates of some event;
* ``event_rate = |{e ∈ E : ∃ s ∈ S, (s − e) mod n ≤ Δ}| / |E|`` — the fraction of events followed
  (at the same update or up to Δ updates later) by a spike.

``S`` and ``E`` are sets: a time given twice counts once. Away from the ends of the run the
circular and the linear distance agree; the wrap-around only pairs the last Δ updates with the
first Δ.

Null
----
Rotate the events by a uniform random offset ``k ∈ {0, …, n−1}``, ``E + k mod n``, keep the
spikes, and recompute both rates; ``n_shifts`` independent offsets give the null distributions. A
rotation keeps the event train's own structure (its count, clustering and gaps) and destroys only
its alignment with the spikes. The one-sided p-value is

``p = (1 + #{null rate ≥ observed rate}) / (1 + n_shifts)``

(the +1 counts the observed value as one draw of the null, so ``p ∈ (0, 1]`` and never 0). If
the placement of the event train is independent of the spikes and rotation invariant in
distribution, the observed statistic and the null draws are exchangeable, and ``P(p ≤ α) ≤ α``
for every ``α`` (exactly valid; conservative because the statistic is discrete). Both statistics
are invariant under rotating spikes and events together.

Computation: sorted spikes and events, one :func:`numpy.searchsorted` over all shifts at once (in
chunks that bound the memory), comparing integer counts so ties are exact.

Examples
--------
>>> import numpy as np
>>> spikes = np.array([500, 1700, 4200, 6100, 8800])
>>> res = coincidence_test(spikes, spikes - 2, window=3, n_updates=10_000, rng=0)
>>> res.spike_rate, res.event_rate
(1.0, 1.0)
>>> bool(res.spike_p < 0.01)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_scalar, check_positive_int, check_rng
from ..errors import DynsysError

__all__ = ["CoincidenceResult", "coincidence_test", "spike_times_from_norms", "MIN_SHIFTS"]

#: the fewest circular shifts :func:`coincidence_test` accepts
MIN_SHIFTS = 100

#: elements of one (shifts × times) block of the vectorized null
_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True, eq=False)
class CoincidenceResult:
    """Result of :func:`coincidence_test` (definitions in the module docstring).

    Attributes
    ----------
    spike_rate : float
        Observed fraction of spikes within ±``window`` updates of an event (NaN without spikes or
        events).
    event_rate : float
        Observed fraction of events followed by a spike within ``window`` updates (NaN likewise).
    spike_p, event_p : float
        One-sided permutation p-values ``(1 + #{null ≥ observed}) / (1 + n_shifts)`` in (0, 1];
        1.0 when there are no spikes or no events.
    null_spike_mean, null_event_mean : float
        Means of the null distributions (NaN without spikes or events).
    null_spike_rates, null_event_rates : ndarray, shape (n_shifts,)
        The null distributions, one value per shift (empty without spikes or events).
    shifts : ndarray of int, shape (n_shifts,)
        The offsets ``k`` by which the events were rotated (empty without spikes or events).
    window, n_updates, n_shifts : int
        The arguments.
    n_spikes, n_events : int
        Numbers of distinct spike and event times.
    message : str
        ``"ok"``, ``"no spikes"``, ``"no events"`` or ``"no spikes and no events"``.
    """

    spike_rate: float
    event_rate: float
    spike_p: float
    event_p: float
    null_spike_mean: float
    null_event_mean: float
    null_spike_rates: np.ndarray
    null_event_rates: np.ndarray
    shifts: np.ndarray
    window: int
    n_updates: int
    n_shifts: int
    n_spikes: int
    n_events: int
    message: str

    @property
    def ok(self) -> bool:
        """True when both trains were non-empty, so the rates and p-values mean something."""
        return self.message == "ok"

    def summary(self) -> dict:
        """The scalars as a JSON-ready dict (NaN becomes None).

        Examples
        --------
        >>> res = coincidence_test([], [3], window=1, n_updates=10)
        >>> res.summary()["message"], res.summary()["spike_rate"], res.summary()["spike_p"]
        ('no spikes', None, 1.0)
        """
        out = {}
        for key in (
            "spike_rate",
            "event_rate",
            "spike_p",
            "event_p",
            "null_spike_mean",
            "null_event_mean",
        ):
            value = float(getattr(self, key))
            out[key] = None if math.isnan(value) else value
        for key in ("window", "n_updates", "n_shifts", "n_spikes", "n_events"):
            out[key] = int(getattr(self, key))
        out["message"] = self.message
        return out


def _as_times(value, name: str, n_updates: int) -> np.ndarray:
    """Validate update indices: 1-D, integer-valued, in [0, n_updates); return sorted unique int64."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged input
        raise DynsysError(f"{name} must be a 1-D array of update indices ({exc})") from None
    if arr.ndim != 1:
        raise DynsysError(f"{name} must be a 1-D array of update indices, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise DynsysError(f"{name} must hold integer update indices, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise DynsysError(f"{name} must be finite integer update indices, found NaN/Inf")
        if np.any(arr != np.round(arr)):
            bad = arr[arr != np.round(arr)][0]
            raise DynsysError(f"{name} must hold integer update indices, got {bad!r}")
    if np.any(arr < 0):
        raise DynsysError(f"{name} must be >= 0, got {arr.min()!r}")
    if np.any(arr >= n_updates):
        raise DynsysError(f"{name} must be < n_updates = {n_updates}, got {arr.max()!r}")
    return np.unique(arr.astype(np.int64))


def _near_counts(
    spikes: np.ndarray, events: np.ndarray, shifts: np.ndarray, window: int, n: int
) -> np.ndarray:
    """Per shift k, the number of spikes within circular distance ``window`` of ``events + k``."""
    ext = np.concatenate([events - n, events, events + n])  # sorted; brackets every t in [0, n)
    out = np.empty(shifts.size, dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // spikes.size)
    for lo in range(0, shifts.size, step):
        k = shifts[lo : lo + step, None]
        t = (spikes[None, :] - k) % n  # spike relative to the rotated events
        idx = np.searchsorted(ext, t)  # ext[idx - 1] < t <= ext[idx], both exist
        dist = np.minimum(ext[idx] - t, t - ext[idx - 1])
        out[lo : lo + step] = np.count_nonzero(dist <= window, axis=1)
    return out


def _follow_counts(
    spikes: np.ndarray, events: np.ndarray, shifts: np.ndarray, window: int, n: int
) -> np.ndarray:
    """Per shift k, the number of events ``e + k`` with a spike at ``(e + k + j) mod n``, 0 ≤ j ≤ window."""
    ext = np.concatenate([spikes, spikes + n])  # the next spike at or after any u in [0, n) exists
    out = np.empty(shifts.size, dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // events.size)
    for lo in range(0, shifts.size, step):
        u = (events[None, :] + shifts[lo : lo + step, None]) % n
        nxt = ext[np.searchsorted(ext, u, side="left")]
        out[lo : lo + step] = np.count_nonzero(nxt - u <= window, axis=1)
    return out


def coincidence_test(
    spikes,
    events,
    *,
    window: int,
    n_updates: int,
    n_shifts: int = 1000,
    rng=None,
) -> CoincidenceResult:
    """Test whether spikes coincide with events more often than chance (circular-shift null).

    The statistics, the null and the p-value are defined in the module docstring
    (:mod:`dynsys.analysis.coincidence`).

    Parameters
    ----------
    spikes : array_like of int, shape (S,)
        Update indices of the gradient spikes, in ``[0, n_updates)`` (e.g. from
        :func:`spike_times_from_norms`). Duplicates count once; may be empty.
    events : array_like of int, shape (E,)
        Update indices of the events (bifurcations, basin crossings). Duplicates count once; may
        be empty.
    window : int
        Δ ≥ 0, in updates.
    n_updates : int
        Length of the run (≥ 1); the circle on which the events are rotated.
    n_shifts : int
        Number of random rotations of the events (≥ 100; default 1000).
    rng : None, int, SeedSequence or Generator
        Source of the offsets; the same seed gives the same result.

    Returns
    -------
    CoincidenceResult
        With ``message`` ``"no spikes"`` / ``"no events"`` (NaN rates, p-values 1.0) when a train
        is empty.

    Raises
    ------
    DynsysError
        Negative, non-integer or too large (``≥ n_updates``) times, ``window < 0``,
        ``n_updates < 1``, ``n_shifts < 100``, a bad ``rng``.

    Examples
    --------
    Spikes at 10 and 50 of 100 updates, events at 9 and 80, Δ = 1: the spike at 10 has the event
    at 9 one update before it, and that event is followed by it; the others are alone.

    >>> res = coincidence_test([10, 50], [9, 80], window=1, n_updates=100, rng=1)
    >>> res.spike_rate, res.event_rate, res.n_shifts
    (0.5, 0.5, 1000)
    >>> 0.0 < res.spike_p <= 1.0
    True
    >>> coincidence_test([], [9], window=1, n_updates=100).message
    'no spikes'
    """
    n = check_positive_int(n_updates, "n_updates", minimum=1)
    window = check_positive_int(window, "window", minimum=0)
    n_shifts = check_positive_int(n_shifts, "n_shifts", minimum=MIN_SHIFTS)
    gen = check_rng(rng)
    s = _as_times(spikes, "spikes", n)
    e = _as_times(events, "events", n)

    if s.size == 0 or e.size == 0:
        missing = [w for w, arr in (("spikes", s), ("events", e)) if arr.size == 0]
        nan = float("nan")
        empty = np.zeros(0)
        return CoincidenceResult(
            spike_rate=nan,
            event_rate=nan,
            spike_p=1.0,
            event_p=1.0,
            null_spike_mean=nan,
            null_event_mean=nan,
            null_spike_rates=empty,
            null_event_rates=empty.copy(),
            shifts=np.zeros(0, dtype=np.int64),
            window=window,
            n_updates=n,
            n_shifts=n_shifts,
            n_spikes=int(s.size),
            n_events=int(e.size),
            message="no " + " and no ".join(missing),
        )

    shifts = gen.integers(0, n, size=n_shifts, dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    obs_near = int(_near_counts(s, e, zero, window, n)[0])
    obs_follow = int(_follow_counts(s, e, zero, window, n)[0])
    null_near = _near_counts(s, e, shifts, window, n)
    null_follow = _follow_counts(s, e, shifts, window, n)
    return CoincidenceResult(
        spike_rate=obs_near / s.size,
        event_rate=obs_follow / e.size,
        spike_p=(1 + int(np.count_nonzero(null_near >= obs_near))) / (1 + n_shifts),
        event_p=(1 + int(np.count_nonzero(null_follow >= obs_follow))) / (1 + n_shifts),
        null_spike_mean=float(null_near.mean()) / s.size,
        null_event_mean=float(null_follow.mean()) / e.size,
        null_spike_rates=null_near / s.size,
        null_event_rates=null_follow / e.size,
        shifts=shifts,
        window=window,
        n_updates=n,
        n_shifts=n_shifts,
        n_spikes=int(s.size),
        n_events=int(e.size),
        message="ok",
    )


def spike_times_from_norms(norms, *, top: float = 0.01, clipped=None) -> np.ndarray:
    """Gradient spikes of a run: the top ``top`` fraction of pre-clip norms, plus every clip.

    With ``m`` the number of non-NaN norms, the spikes are the updates whose norm is at least the
    ``ceil(top · m)``-th largest (ties at that value are all included; ``+inf`` counts as largest,
    NaN updates are never norm spikes), together with every update where ``clipped`` is True.

    Parameters
    ----------
    norms : array_like of float, shape (n_updates,)
        Pre-clip gradient norms ‖∂E/∂θ‖ per update; NaN for updates without a value.
    top : float
        Fraction in [0, 1] (default 0.01, the issue's top 1 %); 0 keeps only the clipping events.
    clipped : array_like of bool, shape (n_updates,), optional
        True where the update was clipped (MSGD-C, MSGD-CR).

    Returns
    -------
    ndarray of int64, shape (S,)
        Sorted unique update indices.

    Examples
    --------
    >>> import numpy as np
    >>> norms = np.array([1.0, 9.0, np.nan, 2.0, 8.0, 1.5, 0.5, 3.0, 1.0, 2.5])
    >>> spike_times_from_norms(norms, top=0.2)
    array([1, 4])
    >>> spike_times_from_norms(norms, top=0.1, clipped=norms > 2.9)
    array([1, 4, 7])
    """
    try:
        arr = np.asarray(norms, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DynsysError(f"norms must be a 1-D numeric array ({exc})") from None
    if arr.ndim != 1 or arr.size == 0:
        raise DynsysError(f"norms must be a non-empty 1-D array, got shape {tuple(arr.shape)}")
    if np.any(arr < 0) or np.any(arr == -np.inf):
        raise DynsysError(f"norms must be >= 0 (NaN allowed), got {np.nanmin(arr)!r}")
    top = check_finite_scalar(top, "top")
    if not 0.0 <= top <= 1.0:
        raise DynsysError(f"top must be a fraction in [0, 1], got {top}")
    valid = ~np.isnan(arr)
    m = int(np.count_nonzero(valid))
    k = math.ceil(round(top * m, 9))  # round: 0.01 * 300 must give 3, not 4
    mask = np.zeros(arr.size, dtype=bool)
    if k > 0:
        threshold = np.sort(arr[valid])[m - k]
        mask = valid & (arr >= threshold)
    if clipped is not None:
        clip = np.asarray(clipped)
        if clip.shape != arr.shape:
            raise DynsysError(f"clipped must have the shape of norms {arr.shape}, got {clip.shape}")
        if clip.dtype.kind != "b":
            if clip.dtype.kind not in "iuf" or not np.all((clip == 0) | (clip == 1)):
                raise DynsysError(f"clipped must be a boolean array, got dtype {clip.dtype}")
            clip = clip.astype(bool)
        mask |= clip
    return np.flatnonzero(mask).astype(np.int64)
