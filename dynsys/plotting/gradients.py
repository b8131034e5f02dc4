"""Plots of gradient flow: Jacobian-product norms against the time lag (paper eq. 5–7)."""

from __future__ import annotations

import numpy as np

from . import COLORS


def plot_gradient_flow(ax, lags, log_mean, log_lo, log_hi, eta, *, color=None, label=None, bound=True):
    """Mean and 10–90 % band of ``log10 ‖∂x_t/∂x_k‖`` against ``t − k``, with the ``η^{t−k}`` bound.

    Parameters
    ----------
    ax : matplotlib Axes
    lags : ndarray, shape (L,)
    log_mean, log_lo, log_hi : ndarray, shape (L,)
        log10 of the norms: mean and the 10th/90th percentiles over (k, batch).
    eta : float
        ``λ₁ γ``; the bound ``η^{t−k}`` (eq. 7) is drawn dotted.
    """
    artists = [ax.plot(lags, log_mean, color=color, label=label)[0]]
    artists.append(ax.fill_between(lags, log_lo, log_hi, color=color, alpha=0.18, linewidth=0))
    if bound:
        artists.append(ax.plot(lags, lags * np.log10(eta), color=color, ls=":", lw=1.0)[0])
    return artists


def gradient_flow_figure(results, etas, activations, lag_max):
    """The two-panel figure (one panel per activation). ``results[act][i]`` holds
    ``(lags, mean, lo, hi)`` for ``etas[i]``."""
    import matplotlib as mpl

    from . import new_figure

    fig, axes = new_figure(1, len(activations), figsize=(4.2 * len(activations), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    cmap = mpl.colormaps["coolwarm"]
    for ax, act in zip(axes, activations):
        for i, eta in enumerate(etas):
            lags, mean, lo, hi = results[act][i]
            color = cmap(i / max(1, len(etas) - 1))
            plot_gradient_flow(ax, lags, mean, lo, hi, eta, color=color, label=f"λ₁γ = {eta:g}")
        ax.set_title(f"{act} RNN (γ = {'1' if act == 'tanh' else '1/4'})", color=COLORS.get(act))
        ax.set_xlabel("t − k")
        ax.set_xlim(0, lag_max)
    axes[0].set_ylabel(r"$\log_{10}\,\|\partial x_t/\partial x_k\|_2$")
    axes[0].set_ylim(-12, 6)
    axes[-1].legend(
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        title="solid: measured\n" + r"dotted: bound $(\lambda_1\gamma)^{t-k}$",
    )
    return fig
