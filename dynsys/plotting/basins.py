"""Plots of basins of attraction, attractors and fixed points, and input-driven crossings.

Every function takes an ``ax`` and arrays (or a :class:`~dynsys.analysis.basins.Basins`), draws and returns
the artists; nothing here saves files (paper §2.2–2.3, Figs. 4–5).
"""

from __future__ import annotations

import numpy as np

from ..analysis.equilibria.stability import STABILITY_CLASSES as STABILITY_CODES
from . import COLORS

__all__ = [
    "basin_colors",
    "plot_basins",
    "plot_fixed_points",
    "plot_attractor_points",
    "plot_trajectories",
    "plot_gradient_norms",
]

_PALETTE = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#c7e9c0", "#fdd0a2", "#d9d9d9"]
DIVERGED_COLOR = "#ffffff"
UNDECIDED_COLOR = "#252525"


def basin_colors(n_attractors: int) -> list[str]:
    """Colours for labels ``-2 (undecided), -1 (diverged), 0, …, n−1``."""
    return [UNDECIDED_COLOR, DIVERGED_COLOR] + [_PALETTE[i % len(_PALETTE)] for i in range(n_attractors)]


def plot_basins(ax, labels, axes=None, *, n_attractors=None, alpha=1.0, legend=True):
    """Basins as a colour map: 2-D labels with ``imshow``, 1-D labels as a coloured strip.

    Parameters
    ----------
    labels : ndarray of int, shape (N1, N2) or (N,), or Basins
    axes : tuple of 1-D arrays, optional
        Grid coordinates (taken from ``Basins.grid`` when a Basins is given).
    n_attractors : int, optional
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    if hasattr(labels, "labels"):
        axes = axes if axes is not None else (labels.grid.axes if labels.grid is not None else None)
        n_attractors = n_attractors if n_attractors is not None else len(labels.attractors)
        labels = labels.labels
    labels = np.asarray(labels)
    if n_attractors is None:
        n_attractors = int(labels.max(initial=-1)) + 1
    if axes is None:
        axes = tuple(np.arange(s, dtype=float) for s in labels.shape)
    colors = basin_colors(n_attractors)
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(-2.5, n_attractors, 1.0), cmap.N)
    if labels.ndim == 1:
        x = axes[0]
        img = labels[None, :]
        ext = (x[0], x[-1], 0.0, 1.0)
    else:
        x, y = axes
        img = labels.T
        ext = (x[0], x[-1], y[0], y[-1])
    art = ax.imshow(
        img,
        origin="lower",
        extent=ext,
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        aspect="auto",
        alpha=alpha,
    )
    arts = [art]
    if legend:
        present = set(np.unique(labels).tolist())
        handles = [
            Patch(facecolor=colors[k + 2], edgecolor="0.5", label=f"basin {k}") for k in range(n_attractors)
        ]
        if -1 in present:
            handles.append(Patch(facecolor=DIVERGED_COLOR, edgecolor="0.5", label="diverged"))
        if -2 in present:
            handles.append(Patch(facecolor=UNDECIDED_COLOR, edgecolor="0.5", label="undecided"))
        arts.append(ax.legend(handles=handles, loc="upper left", framealpha=0.85))
    return arts


def plot_fixed_points(ax, states, stability, *, labels=True):
    """Fixed points: stable filled circles, saddles crosses, unstable open circles.

    ``stability`` holds strings (``"stable"``, ``"saddle"``, ...) or codes into
    :data:`STABILITY_CODES`.
    """
    states = np.atleast_2d(states)
    stab = [STABILITY_CODES[int(s)] if not isinstance(s, str) else s for s in np.atleast_1d(stability)]
    style = {
        "stable": dict(marker="o", color=COLORS["stable"], mfc=COLORS["stable"]),
        "saddle": dict(marker="X", color=COLORS["saddle"], mfc=COLORS["saddle"]),
        "unstable": dict(marker="o", color=COLORS["unstable"], mfc="white"),
        "neutral": dict(marker="s", color="0.4", mfc="white"),
    }
    arts, seen = [], set()
    for x, s in zip(states, stab):
        kw = style.get(s, style["neutral"])
        lab = s if labels and s not in seen else None
        seen.add(s)
        arts += ax.plot(
            x[0],
            x[1],
            ls="none",
            ms=9,
            mec="k",
            mew=0.8,
            label=lab,
            zorder=5,
            **{k: v for k, v in kw.items() if k != "color"},
            color=kw["color"],
        )
    return arts


def plot_attractor_points(ax, points, *, color="k", size=1.0, label=None):
    """Scatter the sample of an attractor (or its orbit points) in the first two coordinates."""
    points = np.atleast_2d(points)
    if points.shape[0] <= 64:
        return [ax.scatter(points[:, 0], points[:, 1], s=40, c=color, marker="*", zorder=6, label=label)]
    return [ax.scatter(points[:, 0], points[:, 1], s=size, c=color, lw=0, zorder=6, label=label)]


def plot_trajectories(ax, t, states, *, labels=None, colors=None, kicks=(), boundary=None, attractors=()):
    """1-D trajectories ``states[:, i]`` against ``t`` with the boundary (dashed), the attractors
    (solid) and the kick times (arrows)."""
    states = np.asarray(states)
    colors = colors or [COLORS["tanh"], COLORS["sigmoid"], "#2ca02c", "#9467bd"]
    arts = []
    for a in attractors:
        arts.append(ax.axhline(a, color=COLORS["stable"], lw=1.0, alpha=0.7))
    if boundary is not None:
        arts.append(
            ax.axhline(
                boundary, color=COLORS["unstable"], ls="--", lw=1.0, label="basin boundary (unstable f.p.)"
            )
        )
    for i in range(states.shape[1]):
        lab = None if labels is None else labels[i]
        arts += ax.plot(t, states[:, i], "-o", ms=2.5, color=colors[i % len(colors)], label=lab)
    for k in kicks:
        arts.append(
            ax.annotate(
                "kick",
                xy=(k, ax.get_ylim()[0]),
                xytext=(k, ax.get_ylim()[0]),
                ha="center",
                va="bottom",
                fontsize=8,
                color="0.3",
            )
        )
        arts.append(ax.axvline(k, color="0.5", lw=0.8, ls=":"))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$x_t$")
    return arts


def plot_gradient_norms(ax, t, norms, *, labels=None, colors=None):
    """``‖∂x_t/∂x_0‖`` against ``t`` on a log axis, one line per trajectory."""
    norms = np.asarray(norms)
    colors = colors or [COLORS["tanh"], COLORS["sigmoid"], "#2ca02c", "#9467bd"]
    arts = []
    for i in range(norms.shape[1]):
        lab = None if labels is None else labels[i]
        arts += ax.semilogy(t, np.maximum(norms[:, i], 1e-300), color=colors[i % len(colors)], label=lab)
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\|\partial x_t / \partial x_0\|$")
    return arts
