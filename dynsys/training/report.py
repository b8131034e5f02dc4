"""The test of the paper's hypothesis on a monitored run: do gradient spikes coincide with events?

:func:`monitor_report` reads the rows of a training monitor record (:mod:`dynsys.training.monitor`)
and, per member and pooled per training method, puts two point processes on the update axis:

* **spikes**: the updates whose pre-clip gradient norm is in the top ``top`` fraction of the run
  (default 1 %), and every clipped update (:func:`~dynsys.analysis.spike_times_from_norms`);
* **events**: the updates in which the monitor saw a bifurcation (any input condition, fixed points
  or 2-cycles) or a probe change basin (``events="all"``; ``"bifurcations"`` or ``"crossings"``
  for one kind).

and runs the circular-shift permutation test (:func:`~dynsys.analysis.coincidence_test`): the
fraction of spikes within ±``window`` updates of an event, the fraction of events followed by a
spike within ``window`` updates, each with its p-value from ``n_shifts`` rotations of the event
train. Pooled per method, the members' runs are laid end to end on one circle (each member's own
updates keep their order; a rotation can carry an event from one member's run into another's,
which only makes the null more diffuse).

Update indices: a row at update ``U`` with ``k`` norms covers the updates ``U − k + 1 … U``; an
event ``"update": t`` happened during update ``t`` (between the weights after ``t − 1`` and after
``t``), and a spike at update ``t`` is the gradient of that update, computed at the weights after
``t − 1``. Both are compared as the same index ``t − 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DynsysError

__all__ = ["MemberTrains", "MonitorReport", "monitor_report", "member_trains", "EVENT_KINDS"]

#: which events take part in the test
EVENT_KINDS = ("all", "bifurcations", "crossings")
_REQUIRED = ("update", "member", "method", "norms", "clipped", "events", "probes")


@dataclass(frozen=True, eq=False)
class MemberTrains:
    """The spike and event trains of one member (indices ``update − 1``).

    Attributes
    ----------
    member : int
    init, method : str
    seed : int
    norms : ndarray, shape (U,)
        Pre-clip gradient norm of updates ``1 … U`` (NaN where the record has none).
    clipped : ndarray of bool, shape (U,)
    bifurcations : ndarray of int
        ``update − 1`` of every located bifurcation (with repeats: one per event).
    crossings : ndarray of int
        ``update − 1`` of every basin crossing (one per probe and crossing).
    rows : list of dict
        The member's rows, in update order.
    """

    member: int
    init: str
    method: str
    seed: int
    norms: np.ndarray
    clipped: np.ndarray
    bifurcations: np.ndarray
    crossings: np.ndarray
    rows: list = field(repr=False, default_factory=list)

    @property
    def n_updates(self) -> int:
        return int(self.norms.size)

    def events(self, kind: str = "all") -> np.ndarray:
        if kind == "bifurcations":
            return self.bifurcations
        if kind == "crossings":
            return self.crossings
        return np.concatenate([self.bifurcations, self.crossings])


def _check_rows(rows) -> list[dict]:
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise DynsysError(f"rows must be a list of monitor record rows, got {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise DynsysError(f"record row {i + 1}: not a JSON object")
        missing = [k for k in _REQUIRED if k not in r]
        if missing:
            raise DynsysError(f"record row {i + 1}: not a monitor row (no {', '.join(missing)})")
        if not isinstance(r["update"], int) or r["update"] < 0 or not isinstance(r["member"], int):
            raise DynsysError(f"record row {i + 1}: update and member must be non-negative integers")
        if (
            not isinstance(r["norms"], list)
            or not isinstance(r["clipped"], list)
            or len(r["norms"]) != len(r["clipped"])
        ):
            raise DynsysError(f"record row {i + 1}: norms and clipped must be lists of one length")
        if len(r["norms"]) > r["update"]:
            raise DynsysError(f"record row {i + 1}: {len(r['norms'])} norms before update {r['update']}")
    return list(rows)


def member_trains(rows) -> list[MemberTrains]:
    """The spike and event trains of every member in the record ``rows`` (member order).

    Raises
    ------
    DynsysError
        Rows that are not monitor rows, or two rows of one member at one update.
    """
    rows = _check_rows(rows)
    by: dict[int, list[dict]] = {}
    for r in rows:
        by.setdefault(r["member"], []).append(r)
    out = []
    for k in sorted(by):
        rs = sorted(by[k], key=lambda r: r["update"])
        ups = [r["update"] for r in rs]
        if len(set(ups)) != len(ups):
            raise DynsysError(f"record: member {k} has two rows at one update (a record written twice?)")
        U = ups[-1]
        norms = np.full(U, np.nan)
        clipped = np.zeros(U, dtype=bool)
        bif, cross = [], []
        for r in rs:
            n = len(r["norms"])
            if n:
                lo = r["update"] - n
                norms[lo : r["update"]] = [np.nan if v is None else float(v) for v in r["norms"]]
                clipped[lo : r["update"]] = [bool(v) for v in r["clipped"]]
            bif += [int(e["update"]) - 1 for e in r["events"]]
            cross += [int(t) - 1 for t in r["probes"].get("crossing_updates", [])]
        first = rs[0]
        out.append(
            MemberTrains(
                k,
                str(first.get("init", "")),
                str(first["method"]),
                int(first.get("seed", 0)),
                norms,
                clipped,
                np.clip(np.array(bif, dtype=np.int64), 0, max(0, U - 1)),
                np.clip(np.array(cross, dtype=np.int64), 0, max(0, U - 1)),
                rs,
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class MonitorReport:
    """Result of :func:`monitor_report`.

    Attributes
    ----------
    members : list of dict
        Per member: ``member``, ``init``, ``method``, ``seed``, ``n_updates``, ``n_bifurcations``,
        ``n_crossings``, ``n_clipped`` and the test's summary
        (:meth:`~dynsys.analysis.CoincidenceResult.summary`: rates, p-values, counts, message).
    methods : dict
        Per method: the members' runs pooled on one circle, same keys.
    options : dict
        ``window``, ``top``, ``n_shifts``, ``events``.
    """

    members: list
    methods: dict
    options: dict
    trains: list = field(repr=False, default_factory=list)

    def to_dict(self) -> dict:
        return {"options": self.options, "members": self.members, "methods": self.methods}


def monitor_report(
    rows,
    *,
    window: int = 5,
    top: float = 0.01,
    n_shifts: int = 1000,
    events: str = "all",
    clipped: bool = True,
    rng=0,
) -> MonitorReport:
    """Gradient spikes against bifurcations and basin crossings, per member and per method.

    Parameters
    ----------
    rows : list of dict
        The rows of a monitor record (``dynsys.io.read_records(path).rows``, or
        ``history.monitor``).
    window : int
        Δ, in updates.
    top : float
        Fraction of the largest pre-clip norms that are spikes (clipped updates always are).
    n_shifts : int
        Rotations of the event train (≥ 100).
    events : {"all", "bifurcations", "crossings"}
    clipped : bool
        Count every clipped update as a spike (the issue's definition). Where clipping is frequent
        (a threshold below the typical norm clips nearly every update) the spikes are then nearly
        every update and the test has no power; ``clipped=False`` keeps the top-``top`` norms only.
    rng : None, int, SeedSequence or Generator
        Seed of the rotations (one stream for the whole report).

    Returns
    -------
    MonitorReport
        A member or method without spikes (or without events) has ``message`` ``"no spikes"``
        (``"no events"``), NaN rates and p-values 1.

    Examples
    --------
    >>> rows = [{"update": 0, "member": 0, "method": "msgd", "norms": [], "clipped": [], "events": [],
    ...          "probes": {"crossing_updates": []}},
    ...         {"update": 4, "member": 0, "method": "msgd", "norms": [1.0, 9.0, 1.0, 1.0],
    ...          "clipped": [0, 0, 0, 0], "events": [{"update": 2}], "probes": {"crossing_updates": []}}]
    >>> rep = monitor_report(rows, window=0, top=0.25, n_shifts=100)
    >>> rep.members[0]["n_spikes"], rep.members[0]["spike_rate"]
    (1, 1.0)
    """
    from .._validate import check_rng
    from ..analysis.coincidence import coincidence_test, spike_times_from_norms

    if not isinstance(clipped, (bool, np.bool_)):
        raise DynsysError(f"clipped must be true or false, got {clipped!r}")
    if events not in EVENT_KINDS:
        raise DynsysError(f"events must be one of {', '.join(EVENT_KINDS)}, got {events!r}")
    trains = member_trains(rows)
    if not trains:
        raise DynsysError("record: no rows (the run stopped before its first monitor row)")
    rng = check_rng(rng)
    members, pooled = [], {}
    for tr in trains:
        clip = tr.clipped if clipped else None
        spikes = spike_times_from_norms(tr.norms, top=top, clipped=clip) if tr.n_updates else np.zeros(0, int)
        ev = tr.events(events)
        res = coincidence_test(
            spikes, ev, window=window, n_updates=max(1, tr.n_updates), n_shifts=n_shifts, rng=rng
        )
        members.append(
            {
                "member": tr.member,
                "init": tr.init,
                "method": tr.method,
                "seed": tr.seed,
                "n_updates": tr.n_updates,
                "n_bifurcations": int(tr.bifurcations.size),
                "n_crossings": int(tr.crossings.size),
                "n_clipped": int(np.count_nonzero(tr.clipped)),
                **res.summary(),
            }
        )
        pooled.setdefault(tr.method, []).append((tr, spikes, ev))
    methods = {}
    for method, items in pooled.items():
        offset, S, E = 0, [], []
        for tr, spikes, ev in items:
            S.append(spikes + offset)
            E.append(ev + offset)
            offset += tr.n_updates
        res = coincidence_test(
            np.concatenate(S),
            np.concatenate(E),
            window=window,
            n_updates=max(1, offset),
            n_shifts=n_shifts,
            rng=rng,
        )
        methods[method] = {
            "n_members": len(items),
            "n_updates": offset,
            "n_bifurcations": int(sum(tr.bifurcations.size for tr, _, _ in items)),
            "n_crossings": int(sum(tr.crossings.size for tr, _, _ in items)),
            "n_clipped": int(sum(np.count_nonzero(tr.clipped) for tr, _, _ in items)),
            **res.summary(),
        }
    options = {
        "window": int(window),
        "top": float(top),
        "n_shifts": int(n_shifts),
        "events": events,
        "clipped": bool(clipped),
    }
    return MonitorReport(members, methods, options, trains)
