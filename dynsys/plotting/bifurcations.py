"""Plots of bifurcation diagrams, orbit diagrams and fold curves (paper Fig. 3).

Every function takes an ``ax`` and plain arrays (so it draws saved results without recomputing),
returns the artists it made, and never saves. Conventions of the paper's Fig. 3: stable branches
solid, unstable branches dashed, bifurcation points as filled circles, arrows for the flow
``sign(F(x) − x)``.
"""

from __future__ import annotations

import numpy as np

from . import COLORS

__all__ = [
    "plot_branches",
    "plot_bifurcation_points",
    "plot_flow_arrows",
    "plot_orbit_diagram",
    "plot_fold_curve",
    "plot_multiplier_moduli",
]

MARKERS = {"fold": "o", "branch-point": "s", "flip": "D", "neimark-sacker": "^"}


def plot_branches(
    ax, params, states, stable, branch_id=None, *, color_stable=None, color_unstable=None, lw=1.8, label=True
):
    """Branches as lines: solid where stable, dashed where unstable.

    Parameters
    ----------
    params : ndarray, shape (N,)
    states : ndarray, shape (N,)
        The plotted coordinate of each branch point.
    stable : ndarray of bool, shape (N,)
    branch_id : ndarray of int, shape (N,), optional
        Points of different branches are never joined.
    """
    params, states = np.asarray(params), np.asarray(states)
    stable = np.asarray(stable).astype(bool)
    bid = np.zeros(params.shape, int) if branch_id is None else np.asarray(branch_id)
    cs = color_stable or COLORS["stable"]
    cu = color_unstable or COLORS["unstable"]
    artists, seen = [], set()
    for b in np.unique(bid):
        idx = np.flatnonzero(bid == b)
        start = 0
        for i in range(1, idx.size + 1):
            if i == idx.size or stable[idx[i]] != stable[idx[start]]:
                seg = idx[start : min(i + 1, idx.size)]
                st = bool(stable[idx[start]])
                lab = ("stable" if st else "unstable") if label and st not in seen else None
                seen.add(st)
                (ln,) = ax.plot(
                    params[seg], states[seg], "-" if st else "--", color=cs if st else cu, lw=lw, label=lab
                )
                artists.append(ln)
                start = i
    return artists


def plot_bifurcation_points(
    ax, params, states, types, *, labels=None, color="k", annotate=True, offsets=None
):
    """Filled markers at bifurcation points; ``types`` are strings (fold, flip, ...).

    Labels sit on a white box (readable over branches and flow arrows), ``offsets[i]`` points
    from their point (default ``(5, 5)``); a label with a negative x offset ends at its point.
    """
    artists = []
    for i, (p, x, t) in enumerate(zip(params, states, types)):
        (m,) = ax.plot([p], [x], MARKERS.get(t, "o"), color=color, ms=6, zorder=5)
        artists.append(m)
        if annotate:
            text = labels[i] if labels is not None else t
            dx, dy = (5, 5) if offsets is None else offsets[i]
            artists.append(
                ax.annotate(
                    text,
                    (p, x),
                    textcoords="offset points",
                    xytext=(dx, dy),
                    ha="right" if dx < 0 else "left",
                    va="top" if dy < 0 else "bottom",
                    fontsize=8,
                    zorder=6,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                )
            )
    return artists


def plot_flow_arrows(ax, params, xs, direction, *, color="0.55", size=0.6):
    """Arrows ``↑``/``↓`` on a grid showing the sign of ``F(x) − x`` (the 1-D flow).

    Parameters
    ----------
    params : ndarray, shape (P,)
    xs : ndarray, shape (X,)
    direction : ndarray, shape (P, X)
        ``sign(F(x) − x)`` at each grid point.
    """
    P, X = np.meshgrid(params, xs, indexing="ij")
    dy = np.asarray(direction, float)
    q = ax.quiver(
        P,
        X,
        np.zeros_like(dy),
        dy,
        color=color,
        angles="xy",
        pivot="middle",
        scale=1.0 / size,
        scale_units="inches",
        width=0.004,
        headwidth=4,
        headlength=4,
        alpha=0.8,
    )
    return [q]


def plot_orbit_diagram(ax, params, states, *, color="k", s=0.4, alpha=0.5):
    """Scatter the kept iterates: ``states`` shape (P, K) (NaN entries skipped)."""
    states = np.asarray(states)
    P = np.broadcast_to(np.asarray(params)[:, None], states.shape)
    ok = np.isfinite(states)
    return [ax.scatter(P[ok], states[ok], s=s, color=color, alpha=alpha, linewidths=0, rasterized=True)]


def plot_fold_curve(ax, params, cusps=None, *, color=None, label="fold curve"):
    """A fold curve in a parameter plane (``params`` shape (N, 2)) and its cusps (shape (C, 2))."""
    params = np.asarray(params)
    (ln,) = ax.plot(params[:, 0], params[:, 1], "-", color=color or COLORS["saddle"], lw=1.8, label=label)
    out = [ln]
    if cusps is not None and len(cusps):
        cusps = np.asarray(cusps)
        (c,) = ax.plot(cusps[:, 0], cusps[:, 1], "o", color="k", ms=6, zorder=5, label="cusp")
        out.append(c)
    return out


def plot_multiplier_moduli(ax, params, moduli, *, color=None):
    """``|μ_i|`` along a branch (``moduli`` shape (N, n)) with the unit level."""
    out = list(ax.plot(params, moduli, "-", color=color or COLORS["stable"], lw=1.2))
    out.append(ax.axhline(1.0, color="0.3", lw=0.8, ls=":"))
    return out
