"""Plots of loss surfaces, the steep wall, its causes and gradient-descent paths (paper Fig. 6).

Every function takes an ``ax`` (2-D, or 3-D for :func:`plot_surface_3d`) and arrays or a result
object, draws, and returns the artists. Nothing here saves files.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "surface_quantity",
    "plot_surface_3d",
    "plot_surface_map",
    "plot_wall",
    "plot_wall_causes",
    "plot_descent",
    "plot_slice",
    "wall_figure",
]

QUANTITIES = {
    "log_loss": r"$\log_{10} E$",
    "log_grad": r"$\log_{10}\|\nabla E\|$",
    "loss": r"$E$",
}


def surface_quantity(loss, grad_norm, quantity: str = "log_loss") -> np.ndarray:
    """The plotted array: ``log10 E`` (floored at 1e-12), ``log10 ‖∇E‖`` or ``E``."""
    if quantity == "log_loss":
        return np.log10(np.maximum(loss, 1e-12))
    if quantity == "log_grad":
        return np.log10(np.maximum(grad_norm, 1e-12))
    if quantity == "loss":
        return np.asarray(loss)
    raise ValueError(f"unknown quantity {quantity!r}; known: {', '.join(QUANTITIES)}")


def plot_surface_3d(ax, w, b, values, *, cmap="viridis", stride=1, zlabel=None, **kwargs):
    """3-D surface of ``values[i_w, i_b]`` over the (w, b) grid on a ``projection="3d"`` axis."""
    W, B = np.meshgrid(w, b, indexing="ij")
    art = ax.plot_surface(
        W[::stride, ::stride],
        B[::stride, ::stride],
        values[::stride, ::stride],
        cmap=cmap,
        linewidth=0,
        antialiased=True,
        rstride=1,
        cstride=1,
        **kwargs,
    )
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    if zlabel:
        ax.set_zlabel(zlabel)
    return art


def plot_surface_map(ax, w, b, values, *, cmap="viridis", label=None, colorbar=True, **kwargs):
    """Top view: ``pcolormesh`` of ``values[i_w, i_b]`` with w on x and b on y."""
    mesh = ax.pcolormesh(w, b, np.asarray(values).T, cmap=cmap, shading="auto", rasterized=True, **kwargs)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    artists = [mesh]
    if colorbar:
        cb = ax.figure.colorbar(mesh, ax=ax, shrink=0.9)
        if label:
            cb.set_label(label)
        artists.append(cb)
    return artists


def plot_wall(ax, points, *, color="white", **kwargs):
    """The located wall (ridge of max ‖∇E‖) as dots."""
    points = np.asarray(points)
    kw = dict(s=4, color=color, edgecolors="none", label="wall (located)", zorder=4)
    kw.update(kwargs)
    return [ax.scatter(points[:, 0], points[:, 1], **kw)]


def plot_wall_causes(ax, basin_w, basin_b, fold_left, fold_right, *, xlim=None, ylim=None):
    """Overlay the basin-boundary curve ``b = x₀ − w σ(x₀)`` and the two fold curves."""
    arts = ax.plot(basin_w, basin_b, color="#ff7f0e", lw=1.6, ls="--", label=r"$x_0$ on basin boundary")
    arts += ax.plot(fold_left[:, 0], fold_left[:, 1], color="#e377c2", lw=1.2, ls=":", label="fold curves")
    arts += ax.plot(fold_right[:, 0], fold_right[:, 1], color="#e377c2", lw=1.2, ls=":")
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return arts


def plot_descent(ax, points, *, clipped: bool, window=None, color=None, label=None, zs=None):
    """A gradient-descent trajectory ``points`` (steps + 1, 2).

    Plain descent: solid line (clipped to the window, with an arrow showing where the last
    in-window step throws it); clipped descent: dashed arrows. ``zs`` lifts the path onto a 3-D
    surface (one z per point).
    """
    points = np.asarray(points)
    color = color or ("#d62728" if not clipped else "#17becf")
    arts = []
    if window is not None:
        (w_lo, w_hi), (b_lo, b_hi) = window
        inside = (
            (points[:, 0] >= w_lo) & (points[:, 0] <= w_hi) & (points[:, 1] >= b_lo) & (points[:, 1] <= b_hi)
        )
        last = len(points) if inside.all() else int(np.argmin(inside))
        shown = points[: max(last, 1)]
    else:
        last, shown = len(points), points
    if zs is not None:
        z = np.asarray(zs)[: len(shown)]
        arts += ax.plot(shown[:, 0], shown[:, 1], z, color=color, ls="-" if not clipped else "--", lw=1.5)
        return arts
    arts += ax.plot(
        shown[:, 0],
        shown[:, 1],
        color=color,
        ls="-" if not clipped else "--",
        lw=1.5 if not clipped else 0.9,
        alpha=1.0 if not clipped else 0.8,
        label=label,
        zorder=5,
    )
    arts += ax.plot(shown[:1, 0], shown[:1, 1], "o", color=color, ms=4, zorder=6)
    if last < len(points):  # thrown out: arrow from the last point inside towards the jump
        p, q = points[last - 1], points[last]
        d = q - p
        (w_lo, w_hi), (b_lo, b_hi) = window
        span = 0.25 * np.hypot(w_hi - w_lo, b_hi - b_lo)
        tip = p + d / max(np.linalg.norm(d), 1e-300) * span
        arts.append(
            ax.annotate(
                "",
                xy=tip,
                xytext=p,
                arrowprops=dict(arrowstyle="->", color=color, lw=1.5),
                annotation_clip=False,
            )
        )
    return arts


def plot_slice(ax, alphas, losses, *, steps=None, label=None, color="k", logy=True):
    """Loss along a line through parameter space, ``θ + α d`` (``losses`` shape (A,)).

    ``steps``: optional dict name -> (alphas of step start and end, loss at start and end) to
    mark e.g. a plain and a clipped update from α = 0.
    """
    arts = ax.plot(alphas, losses, color=color, lw=1.4, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha$ (distance along the direction)")
    ax.set_ylabel("loss")
    for name, (a, lval, col) in (steps or {}).items():
        arts.append(
            ax.annotate(
                "",
                xy=(a[1], lval[1]),
                xytext=(a[0], lval[0]),
                arrowprops=dict(arrowstyle="->", color=col, lw=1.5),
            )
        )
        arts += ax.plot([a[1]], [lval[1]], "o", color=col, ms=5, label=name)
    return arts


def wall_figure(figsize=(11.0, 8.0)):
    """A 2×2 figure for Fig. 6: a 3-D axis (top left) and three 2-D axes.

    Returns ``(fig, (ax3d, ax_loss, ax_grad, ax_curve))``.
    """
    from . import new_figure

    fig, axes = new_figure(2, 2, figsize=figsize)
    axes[0, 0].remove()
    ax3d = fig.add_subplot(2, 2, 1, projection="3d")
    return fig, (ax3d, axes[0, 1], axes[1, 0], axes[1, 1])
