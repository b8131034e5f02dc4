"""Plots of the modern-remedies experiment (issue 14): success rate against sequence length for the
paper's tanh RNN and the cells that replaced it, and the mechanism behind it, ``‖∂x_T/∂x_k‖₂``
against ``T − k`` at initialization and after training.

Plot functions take ``ax`` and result arrays and return the artists; nothing is saved here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VARIANT_COLORS", "row_positions", "plot_remedy_success", "plot_jacobian_decay", "remedies_figure"]

#: one colour per variant, in the experiment's order (tanh RNN first)
VARIANT_COLORS = ("#1f77b4", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#2ca02c", "#ff7f0e", "#17becf")
#: unclipped methods hollow, clipped ones filled
_MARKERS = {"msgd": "o", "msgd-c": "s", "msgd-cr": "^"}
_METHOD = {"msgd": "MSGD", "msgd-c": "MSGD-C", "msgd-cr": "MSGD-CR"}
#: the trained curves of the mechanism panel: MSGD-C solid, MSGD-CR dotted (initial weights: dashed)
_TRAINED_STYLE = {"msgd": "-.", "msgd-c": "-", "msgd-cr": ":"}


def _color(variants, label):
    return VARIANT_COLORS[list(variants).index(label) % len(VARIANT_COLORS)]


def row_positions(lengths, i: int, n_rows: int) -> np.ndarray:
    """x positions of row ``i`` of ``n_rows`` at ``lengths`` on a log axis: spread sideways by a
    factor of ``1.025`` per row so that equal success rates stay apart.

    Examples
    --------
    >>> row_positions([50, 100], 0, 3).round(2).tolist()
    [48.78, 97.56]
    """
    lengths = np.asarray(lengths, dtype=float)
    return lengths * 1.025 ** (i - (n_rows - 1) / 2)


def plot_remedy_success(ax, lengths, rates, row_variants, row_methods, variants, *, n_seeds=None):
    """Success rate against sequence length, one line per (variant, method).

    Parameters
    ----------
    lengths : ndarray, shape (L,)
    rates : ndarray, shape (R, L)
        Fraction of seeds solved, per row.
    row_variants, row_methods : sequence of str, length R
        The variant label and the method of each row.
    variants : sequence of str
        Every variant label (fixes the colours).

    Returns
    -------
    list of Line2D
    """
    rates = np.asarray(rates, dtype=float)
    arts = []
    R = len(row_variants)
    for r, (lab, meth) in enumerate(zip(row_variants, row_methods)):
        c = _color(variants, lab)
        arts += ax.plot(
            row_positions(lengths, r, R),
            rates[r],
            marker=_MARKERS.get(meth, "o"),
            ms=5,
            color=c,
            mfc="none" if meth == "msgd" else c,
            ls="--" if meth == "msgd" else "-",
            label=f"{lab} {_METHOD.get(meth, meth)}",
        )
    ax.set_xscale("log")
    lengths = np.asarray(lengths, dtype=float)
    ax.set_xticks(lengths, [f"{v:g}" for v in lengths])
    ax.minorticks_off()
    ax.set_xlim(lengths.min() / 1.25, lengths.max() * 1.25)
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("sequence length")
    ax.set_ylabel("success rate" + (f" ({n_seeds} seeds)" if n_seeds else ""))
    return arts


def plot_jacobian_decay(ax, init, trained, steps, variants, curve_variants, curve_methods):
    """``‖∂x_T/∂x_k‖₂`` against the lag ``T − k`` (log y): initial weights dashed, trained solid.

    Parameters
    ----------
    init : ndarray, shape (V, Tmax)
        Per variant, at lags ``0 … T−1`` (NaN beyond).
    trained : ndarray, shape (C, Tmax)
        Per trained member ``(curve_variants[c], curve_methods[c])``.
    steps : int
        ``T``.

    Returns
    -------
    list of Line2D
    """
    lags = np.arange(int(steps))
    arts = []

    def positive(y):
        y = np.asarray(y[: len(lags)], dtype=float)
        return np.where(y > 0, y, np.nan)  # a product that is exactly 0 has no place on a log axis

    for i, lab in enumerate(variants):
        arts += ax.plot(lags, positive(init[i]), ls="--", lw=1.0, color=_color(variants, lab), alpha=0.8)
    for c, (lab, meth) in enumerate(zip(curve_variants, curve_methods)):
        arts += ax.plot(
            lags, positive(trained[c]), ls=_TRAINED_STYLE.get(meth, "-"), lw=1.5, color=_color(variants, lab)
        )
    ax.set_yscale("log")
    ax.set_xlabel("lag $T - k$")
    ax.set_ylabel(r"$\|\partial x_T / \partial x_k\|_2$ (median)")
    return arts


def remedies_figure(
    lengths,
    rates,
    tasks,
    row_variants,
    row_methods,
    jac_init,
    jac_trained,
    jac_steps,
    variants,
    curve_variants,
    curve_methods,
    note: str,
    *,
    n_seeds: int,
    length: int,
):
    """Top row: success rate against length per task; bottom row: the Jacobian-product norms.

    rates : (R, J, L); jac_init : (V, J, Tmax); jac_trained : (C, J, Tmax); jac_steps : (J,).
    """
    from matplotlib.lines import Line2D

    from . import new_figure

    J = len(tasks)
    fig, axes = new_figure(2, J, figsize=(4.2 * J + 2.4, 7.0), squeeze=False)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    rates = np.asarray(rates, dtype=float)
    for j, task in enumerate(tasks):
        name = task.replace("_", " ")
        plot_remedy_success(
            axes[0, j], lengths, rates[:, j], row_variants, row_methods, variants, n_seeds=n_seeds
        )
        axes[0, j].set_title(f"({next(letters)}) {name}: success rate")
    for j, task in enumerate(tasks):
        name = task.replace("_", " ")
        plot_jacobian_decay(
            axes[1, j],
            jac_init[:, j],
            jac_trained[:, j],
            jac_steps[j],
            variants,
            curve_variants,
            curve_methods,
        )
        axes[1, j].set_title(f"({next(letters)}) {name}, L={length}: gradient paths")
    for j in range(1, J):
        axes[0, j].set_ylabel("")
        axes[1, j].set_ylabel("")
    # one legend: the (variant, method) lines of the top row, then the line styles of the bottom row
    handles = list(axes[0, 0].get_lines())
    handles.append(Line2D([], [], color="k", ls="--", lw=1.0, label="bottom row: initial weights"))
    handles += [
        Line2D([], [], color="k", ls=_TRAINED_STYLE[m], lw=1.5, label=f"bottom row: trained, {_METHOD[m]}")
        for m in dict.fromkeys(curve_methods)
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    fig.suptitle("Modern remedies: the paper's tanh RNN against the cells that replaced it", fontsize=10)
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig
