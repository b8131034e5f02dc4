"""Plots of the other pathological tasks (paper §5, "other pathological tasks"): per-task success
rate and lowest error of MSGD-CR, and the generalisation error of addition / multiplication on
sequences longer than the training ones.

Plot functions take ``ax`` and result arrays and return the artists; nothing is saved here.
"""

from __future__ import annotations

import numpy as np

from . import COLORS

__all__ = ["plot_task_success", "plot_generalization", "other_tasks_figure"]

_GEN_COLORS = {"addition": "#1f77b4", "multiplication": "#d62728"}


def plot_task_success(ax, labels, success_rate, best_error, *, n_seeds=None):
    """Success rate per task (bars) and each seed's lowest error on fresh sequences (dots).

    Parameters
    ----------
    labels : list of str, length J
    success_rate : ndarray, shape (J,)
        Fraction of seeds solved (< 1 % error, confirmed).
    best_error : ndarray, shape (J, S)
        Lowest evaluation error of each seed (fraction).
    """
    J = len(labels)
    x = np.arange(J)
    best = np.asarray(best_error, dtype=float)
    arts = [ax.bar(x, success_rate, width=0.6, color=COLORS["msgd-cr"], alpha=0.45, label="success rate")]
    jitter = np.linspace(-0.18, 0.18, best.shape[1]) if best.shape[1] > 1 else np.zeros(1)
    arts.append(
        ax.scatter(
            (x[:, None] + jitter[None]).ravel(),
            best.ravel(),
            s=12,
            color="k",
            zorder=3,
            label="lowest error per seed",
        )
    )
    arts.append(ax.axhline(0.01, color=COLORS["unstable"], lw=0.8, ls="--", label="1 % error"))
    for xi, r in zip(x, np.asarray(success_rate, dtype=float)):
        solved = round(r * best.shape[1])
        arts.append(
            ax.text(xi, 1.07, f"{solved}/{best.shape[1]} solved", ha="center", va="bottom", fontsize=7)
        )
    ax.set_xticks(x, [lab.replace("_", " ") for lab in labels], rotation=30, ha="right", fontsize=7)
    ax.tick_params(axis="x", which="major", pad=1)
    for t in ax.get_xticklabels():
        t.set_rotation_mode("anchor")  # each rotated label ends at its own tick
    ax.set_ylim(-0.03, 1.15)  # dots at 0 (solved seeds) are drawn whole
    ax.set_ylabel("success rate  /  error" + (f"  ({n_seeds} seeds)" if n_seeds else ""))
    return arts


def plot_generalization(ax, lengths, errors, names, *, train_hi=None):
    """Error rate of the final networks against test length (median and min–max over seeds).

    Parameters
    ----------
    lengths : ndarray, shape (G,)
    errors : ndarray, shape (N, G, S)
        Per task, per test length, per seed.
    names : list of str, length N
    train_hi : int, optional
        Longest training length (a vertical line).
    """
    lengths = np.asarray(lengths, dtype=float)
    errors = np.asarray(errors, dtype=float)
    arts = []
    for i, name in enumerate(names):
        e = errors[i]
        c = _GEN_COLORS.get(name)
        arts += ax.plot(lengths, np.median(e, axis=-1), "o-", color=c, label=f"{name} (median)")
        arts.append(ax.fill_between(lengths, e.min(axis=-1), e.max(axis=-1), color=c, alpha=0.2, lw=0))
    if train_hi is not None:
        arts.append(ax.axvline(train_hi, color="k", lw=0.8, ls=":", label="longest training length"))
    arts.append(ax.axhline(0.01, color=COLORS["unstable"], lw=0.8, ls="--"))
    ax.set_xscale("log")
    ax.set_xticks(lengths, [f"{v:g}" for v in lengths])
    ax.minorticks_off()
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("test sequence length")
    ax.set_ylabel("error rate (final weights)")
    return arts


def other_tasks_figure(
    labels, success_rate, best_error, gen_lengths, gen_error, gen_names, note, *, train_hi
):
    """Two panels: per-task success / lowest error, and generalisation to longer sequences."""
    from . import new_figure

    has_gen = len(gen_names) > 0 and len(gen_lengths) > 0
    fig, axes = new_figure(1, 2 if has_gen else 1, figsize=(10.0 if has_gen else 5.5, 4.0), squeeze=False)
    plot_task_success(axes[0, 0], labels, success_rate, best_error, n_seeds=np.shape(best_error)[1])
    axes[0, 0].set_title("MSGD-CR, smart tanh: success rate (bars), lowest error (dots)", fontsize=9)
    axes[0, 0].legend(loc="center left", fontsize=7)
    if has_gen:
        plot_generalization(axes[0, 1], gen_lengths, gen_error, gen_names, train_hi=train_hi)
        axes[0, 1].set_title("generalisation to longer sequences", fontsize=9)
        axes[0, 1].legend(loc="best", fontsize=7)
    fig.suptitle("Other pathological tasks (paper §5)", fontsize=10)
    fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig
