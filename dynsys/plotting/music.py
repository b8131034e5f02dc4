"""The natural-data figure (paper Table 1 on the Bach chorales): learning curves, gradient norms
and clipping per method, one row per kind of hidden unit."""

from __future__ import annotations

import numpy as np

from . import COLORS

_LABEL = {"msgd": "MSGD", "msgd-c": "MSGD-C", "msgd-cr": "MSGD-CR"}


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _band(ax, x, values, *, color, label, ls="-"):
    """Median over seeds (rows of ``values``, NaN ignored) as a line, min–max as a band."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(values).any(axis=0)
        lo = np.nanmin(np.where(ok, values, 0.0), axis=0)
        hi = np.nanmax(np.where(ok, values, 0.0), axis=0)
        mid = np.nanmedian(np.where(ok, values, 0.0), axis=0)
    x, lo, hi, mid = x[ok], lo[ok], hi[ok], mid[ok]
    artists = ax.plot(x, mid, color=color, ls=ls, label=label)
    if values.shape[0] > 1:
        artists.append(ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0))
    return artists


def plot_learning_curves(ax, valid, train, methods):
    """Valid NLL per frame (solid) and train NLL (dotted) against epoch.

    valid, train : (M, S, E) — methods, seeds, epochs.
    """
    E = valid.shape[-1]
    epochs = np.arange(1, E + 1)
    for j, meth in enumerate(methods):
        c = COLORS.get(meth)
        _band(ax, epochs, valid[j], color=c, label=f"{_LABEL.get(meth, meth)} valid")
        _band(ax, epochs, train[j], color=c, label=f"{_LABEL.get(meth, meth)} train", ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL per frame (nats)")
    ax.xaxis.set_major_locator(_integer_ticks())


def plot_update_norms(ax, norms, methods, clip, *, window: int = 25):
    """Gradient norm before clipping over the updates (running median over ``window`` updates,
    median over seeds), with the clipping threshold.

    norms : (M, S, U).
    """
    for j, meth in enumerate(methods):
        with np.errstate(all="ignore"):
            med = np.nanmedian(norms[j], axis=0)  # over seeds
        ok = np.isfinite(med)
        u = np.flatnonzero(ok) + 1
        if not u.size:
            continue
        m = med[ok]
        w = min(window, m.size)
        smooth = np.array([np.median(m[max(0, i - w + 1) : i + 1]) for i in range(m.size)])
        ax.plot(u, smooth, color=COLORS.get(meth), lw=0.9, label=_LABEL.get(meth, meth))
    ax.axhline(clip, color="k", lw=0.8, ls="--", label=f"threshold {clip:g}")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("‖∂E/∂θ‖ before clipping")


def plot_clip_rate(ax, clip_fraction, methods):
    """Fraction of clipped updates per epoch (median over seeds). clip_fraction : (M, S, E)."""
    E = clip_fraction.shape[-1]
    for j, meth in enumerate(methods):
        if meth == "msgd":
            continue
        _band(ax, np.arange(1, E + 1), clip_fraction[j], color=COLORS.get(meth), label=_LABEL.get(meth, meth))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel("fraction of updates clipped")


def chorales_figure(units, methods, valid, train, norms, clip_fraction, clips, note: str):
    """One row per kind of unit: (learning curves, gradient norms, clip rate).

    valid, train, clip_fraction : (R, M, S, E); norms : (R, M, S, U); clips : (R,) thresholds.
    """
    from . import new_figure

    R = len(units)
    fig, axes = new_figure(R, 3, figsize=(12.0, 3.3 * R + 0.6), squeeze=False)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for r, unit in enumerate(units):
        plot_learning_curves(axes[r, 0], valid[r], train[r], methods)
        axes[r, 0].set_title(f"({next(letters)}) {unit} units: NLL per frame")
        plot_update_norms(axes[r, 1], norms[r], methods, clips[r])
        axes[r, 1].set_title(f"({next(letters)}) {unit} units: gradient norm")
        plot_clip_rate(axes[r, 2], clip_fraction[r], methods)
        axes[r, 2].set_title(f"({next(letters)}) {unit} units: clipped updates")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=2)
    axes[0, 1].legend(loc="upper right", fontsize=7)
    fig.suptitle("Bach chorales (JSB-style piano rolls): MSGD, MSGD-C, MSGD-CR (paper Table 1 protocol)",
                 fontsize=10)  # fmt: skip
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig
