"""Plots for the gradient conditions of eq. 6–7: growth rates against λ₁γ, product norms vs lag.

Plot functions take an ``ax`` and result arrays and return the artists; they never save.
"""

from __future__ import annotations

import numpy as np

from . import COLORS

__all__ = ["plot_transition", "plot_bound_line", "plot_product_norms"]


def plot_bound_line(ax, eta, *, label=r"bound $\log(\lambda_1\gamma)$ (eq. 7)"):
    """The line ``log η`` (the largest per-step rate eq. 7 allows) and the marks at η = 1, rate 0.

    Parameters
    ----------
    ax : matplotlib Axes
    eta : ndarray, shape (G,)
        The λ₁γ values (x axis).
    """
    eta = np.asarray(eta, dtype=float)
    grid = np.geomspace(eta.min(), eta.max(), 200)
    artists = ax.plot(grid, np.log(grid), color="k", ls="--", lw=1.2, label=label)
    artists.append(ax.axvline(1.0, color="0.5", lw=0.8, ls=":"))
    artists.append(ax.axhline(0.0, color="0.5", lw=0.8))
    artists.append(ax.axvspan(eta.min(), 1.0, color="#2ca02c", alpha=0.06, lw=0))
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ticks = [v for v in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16) if eta.min() <= v <= eta.max()]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\eta = \lambda_1\gamma$")
    ax.set_ylabel("per-step rate (log)")
    return artists


def plot_transition(ax, eta, rate, lyap, *, label: str, color=None, marker="o"):
    """Empirical growth rate of ``‖∂x_t/∂x_k‖`` (markers) and the largest Lyapunov exponent (line).

    Parameters
    ----------
    ax : matplotlib Axes
    eta : ndarray, shape (G,)
    rate : ndarray, shape (G,)
        Fitted per-step rate of the Jacobian-product norms.
    lyap : ndarray, shape (G,)
        Largest Lyapunov exponent along input-driven trajectories.
    label : str
        Legend text for this family.
    """
    color = color or COLORS.get(label.split()[0], None)
    a = ax.plot(
        eta,
        rate,
        marker=marker,
        ls="none",
        ms=4,
        color=color,
        label=f"{label}: rate of $\\|\\partial x_t/\\partial x_k\\|$",
    )
    b = ax.plot(eta, lyap, ls="-", color=color, alpha=0.8, label=f"{label}: largest Lyapunov exp.")
    return a + b


def plot_product_norms(ax, lag, log_norms, eta, *, label: str, color=None):
    """``log‖∂x_t/∂x_k‖`` against ``t − k`` (mean over trajectories) with the bound ``(t−k) log η``.

    Parameters
    ----------
    lag : ndarray, shape (L,)
    log_norms : ndarray, shape (L,)
    eta : float
    """
    color = color or COLORS.get(label.split()[0], None)
    a = ax.plot(lag, log_norms, color=color, label=f"{label} (η = {eta:.3g})")
    b = ax.plot(lag, lag * np.log(eta), color=color, ls="--", lw=0.9, alpha=0.7)
    ax.set_xlabel("t − k")
    ax.set_ylabel(r"$\log\|\partial x_t/\partial x_k\|$")
    return a + b
