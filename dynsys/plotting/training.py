"""Plots of training runs: success rate vs sequence length (paper Fig. 7) and training telemetry.

Plot functions take an ``ax`` and arrays and return artists; the figure builders return a
``Figure`` (no saving here).
"""

from __future__ import annotations

import numpy as np

from . import COLORS

METHOD_LABELS = {"msgd": "MSGD", "msgd-c": "MSGD-C", "msgd-cr": "MSGD-CR"}
MARKERS = {"msgd": "o", "msgd-c": "s", "msgd-cr": "^"}


def method_positions(lengths, i: int, n_methods: int) -> np.ndarray:
    """x positions of method ``i`` of ``n_methods`` at ``lengths``: shifted sideways so that
    markers of methods with equal values stay apart (2.5 % of the length span per method).

    Examples
    --------
    >>> [method_positions([20, 50], i, 3).round(3).tolist() for i in range(3)]
    [[19.225, 49.225], [20.0, 50.0], [20.775, 50.775]]
    """
    lengths = np.asarray(lengths, dtype=float)
    span = float(np.max(lengths) - np.min(lengths)) + 1.0 if lengths.size else 1.0
    return lengths + (i - (n_methods - 1) / 2) * 0.025 * span


def plot_success_rate(ax, lengths, rates, methods, *, n_seeds=None):
    """Success rate against sequence length, one curve per method.

    Parameters
    ----------
    lengths : ndarray, shape (L,)
    rates : ndarray, shape (M, L)
        Fraction of seeds solved.
    methods : sequence of str, length M
    """
    artists = []
    for i, m in enumerate(methods):
        # rates are fractions in [0, 1]: overlapping curves are told apart by a horizontal offset
        # (the same as in plot_best_error, so each marker sits above its error bar), never by
        # moving the value itself
        artists += ax.plot(
            method_positions(lengths, i, len(methods)),
            np.asarray(rates[i], dtype=float),
            marker=MARKERS.get(m, "o"),
            ms=4,
            color=COLORS.get(m),
            label=METHOD_LABELS.get(m, m),
        )
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("sequence length")
    ax.set_ylabel("success rate" + (f" ({n_seeds} seeds)" if n_seeds else ""))
    return artists


def plot_best_error(ax, lengths, errors, methods):
    """Median (markers) and range (bars) over seeds of the lowest error rate reached.

    errors : ndarray, shape (M, L, S)
    """
    artists = []
    for i, m in enumerate(methods):
        e = np.asarray(errors[i], dtype=float)
        med = np.nanmedian(e, axis=-1)
        lo, hi = np.nanmin(e, axis=-1), np.nanmax(e, axis=-1)
        x = method_positions(lengths, i, len(methods))
        artists.append(
            ax.errorbar(
                x,
                100 * med,
                yerr=[100 * (med - lo), 100 * (hi - med)],
                marker=MARKERS.get(m, "o"),
                ms=4,
                capsize=2,
                color=COLORS.get(m),
                label=METHOD_LABELS.get(m, m),
            )
        )
    artists.append(ax.axhline(1.0, color="k", lw=0.8, ls=":"))
    ax.set_xlabel("sequence length")
    ax.set_ylabel("best test error (%)")
    return artists


def success_figure(lengths, rates, best_errors, inits, methods, note: str, n_seeds: int):
    """Paper Fig. 7: one column per initialization; success rate (top) and best error (bottom).

    rates : (I, M, L); best_errors : (I, M, L, S).
    """
    from . import new_figure

    titles = {"sigmoid": "sigmoid", "basic_tanh": "basic tanh", "smart_tanh": "smart tanh"}
    fig, axes = new_figure(2, len(inits), figsize=(3.6 * len(inits), 5.6), sharex=True, squeeze=False)
    for j, init in enumerate(inits):
        plot_success_rate(axes[0, j], lengths, rates[j], methods, n_seeds=n_seeds if j == 0 else None)
        axes[0, j].set_title(titles.get(init, init))
        plot_best_error(axes[1, j], lengths, best_errors[j], methods)
        axes[0, j].set_xlabel("")
        if j:
            axes[0, j].set_ylabel("")
            axes[1, j].set_ylabel("")
    axes[0, 0].legend(loc="best")
    fig.suptitle("Temporal order: success rate vs length (paper Fig. 7)", fontsize=10)
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig


def plot_gradient_norms(ax, norms, clipped, threshold=None, *, color=None, label=None):
    """Gradient norm before clipping at every update (log scale), clip events marked.

    norms, clipped : ndarray, shape (U,)
    """
    u = np.arange(1, len(norms) + 1)
    artists = ax.plot(u, norms, lw=0.5, color=color, label=label)
    c = np.asarray(clipped, dtype=bool)
    if c.any():
        artists.append(
            ax.scatter(
                u[c], norms[c], s=4, color=COLORS["unstable"], zorder=3, label=f"clipped ({c.mean():.1%})"
            )
        )
    if threshold is not None and np.isfinite(threshold):
        artists.append(ax.axhline(threshold, color="k", lw=0.8, ls="--", label="threshold"))
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("‖∂E/∂θ‖ before clipping")
    return artists


def plot_spectra(ax, updates, rho, lambda1, *, color=None, label=""):
    """``ρ(W_rec)`` (solid) and ``λ₁(W_rec)`` (dashed) over training."""
    w = r"(W_{\mathrm{rec}})$"
    a = ax.plot(updates, rho, color=color, label=f"$\\rho{w} {label}".strip())
    b = ax.plot(updates, lambda1, color=color, ls="--", label=f"$\\lambda_1{w} {label}".strip())
    ax.set_xlabel("update")
    ax.set_ylabel(r"$\rho$, $\lambda_1$ of $W_{\mathrm{rec}}$")
    return a + b
