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


def _variant_style(key: str) -> dict:
    """Colour, marker and label of a study variant (``msgd-cr-a2``: MSGD-CR with another α)."""
    from ..analysis.outcomes import variant_label

    if key in MARKERS:
        return {"color": COLORS.get(key), "marker": MARKERS[key], "label": variant_label(key)}
    return {"color": "#9467bd", "marker": "v", "label": variant_label(key)}


def plot_success_with_intervals(ax, lengths, reached_at, variants, budget: int, *, level=0.95, hollow=False):
    """Success rate within ``budget`` against length, with the Clopper–Pearson interval of each
    rate as a bar, one curve per variant.

    reached_at : ndarray of int, shape (V, L, S) — first update of success, −1 never.
    """
    from ..analysis.outcomes import success_interval

    artists = []
    for i, key in enumerate(variants):
        at = np.asarray(reached_at[i])
        ok = (at >= 0) & (at <= budget)
        k, n = ok.sum(axis=-1), ok.shape[-1]
        rate = k / n
        lo, hi = success_interval(k, n, level)
        st = _variant_style(key)
        artists.append(
            ax.errorbar(
                method_positions(lengths, i, len(variants)),
                rate,
                yerr=[rate - lo, hi - rate],
                marker=st["marker"],
                ms=4,
                capsize=2,
                lw=1.0,
                color=st["color"],
                mfc="none" if hollow else st["color"],
                ls="--" if hollow else "-",
                label=st["label"],
            )
        )
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("sequence length")
    return artists


def success_rules_figure(arrays, metrics, note: str):
    """Paper Fig. 7 under both success rules: one column per initialization; success rate with
    95 % intervals under < 1 % wrong (top) and 0 wrong (middle), lowest error reached (bottom)."""
    from ..analysis.outcomes import RULE_LABELS, RULES
    from . import new_figure

    titles = {"sigmoid": "sigmoid", "basic_tanh": "basic tanh", "smart_tanh": "smart tanh"}
    inits, keys = metrics["inits"], metrics["variants"]
    lengths = arrays["lengths"]
    S = arrays["reached_zero_at"].shape[-1]
    fig, axes = new_figure(3, len(inits), figsize=(3.6 * len(inits), 8.0), sharex=True, squeeze=False)
    for j, init in enumerate(inits):
        for r, rule in enumerate(RULES):
            ax = axes[r, j]
            plot_success_with_intervals(ax, lengths, arrays[f"reached_{rule}_at"][j], keys, metrics["budget"])
            ax.set_xlabel("")
            ax.set_ylabel(f"success, {RULE_LABELS[rule]}" if j == 0 else "")
            if r == 0:
                ax.set_title(titles.get(init, init))
        best = arrays["best_error"][j]
        for i, key in enumerate(keys):
            st = _variant_style(key)
            e = np.asarray(best[i], dtype=float)
            med = np.nanmedian(e, axis=-1)
            axes[2, j].errorbar(
                method_positions(lengths, i, len(keys)),
                100 * med,
                yerr=[100 * (med - np.nanmin(e, axis=-1)), 100 * (np.nanmax(e, axis=-1) - med)],
                marker=st["marker"],
                ms=4,
                capsize=2,
                color=st["color"],
            )
        axes[2, j].axhline(1.0, color="k", lw=0.8, ls=":")
        axes[2, j].set_xlabel("sequence length")
        axes[2, j].set_ylabel("best screening error (%)" if j == 0 else "")
    axes[0, 0].legend(loc="best", fontsize=7)
    fig.suptitle(
        f"Temporal order: success rate vs length (paper Fig. 7), {S} seeds, bars: 95 % Clopper–Pearson",
        fontsize=10,
    )
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig


def updates_to_success_figure(arrays, metrics, note: str):
    """The distribution of the updates to success: per (initialization, length) the fraction of
    seeds solved by each update (log axis), per variant; solid 0 wrong, dashed < 1 % wrong."""
    from ..analysis.outcomes import solved_curve
    from . import new_figure

    inits, keys = metrics["inits"], metrics["variants"]
    lengths = arrays["lengths"].tolist()
    budget = metrics["budget"]
    grid = np.unique(np.geomspace(10, budget, 400).astype(int))
    fig, axes = new_figure(
        len(inits),
        len(lengths),
        figsize=(3.4 * len(lengths), 2.8 * len(inits)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for i, init in enumerate(inits):
        for l, L in enumerate(lengths):
            ax = axes[i, l]
            for v, key in enumerate(keys):
                st = _variant_style(key)
                for rule, ls in (("zero", "-"), ("1pct", "--")):
                    at = arrays[f"reached_{rule}_at"][i, v, l]
                    ax.step(
                        grid,
                        solved_curve(at, budget, grid),
                        where="post",
                        color=st["color"],
                        ls=ls,
                        lw=1.0,
                        label=st["label"] if rule == "zero" else None,
                    )
            ax.set_xscale("log")
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"{init.replace('_', ' ')}, L={L}", fontsize=9)
            if l == 0:
                ax.set_ylabel("fraction of seeds solved")
            if i == len(inits) - 1:
                ax.set_xlabel("update")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle("Updates to success (solid: 0 wrong, the authors' rule; dashed: < 1 % wrong)", fontsize=10)
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig
