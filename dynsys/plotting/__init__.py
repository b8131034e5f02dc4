"""Plotting (the only matplotlib user). One module per area; plot functions take an ``ax`` and a
result and return artists; they never save (saving is :func:`dynsys.io.save_figure`).

Figures are built with :func:`new_figure` (a bare :class:`matplotlib.figure.Figure`, no pyplot
global state), so drawing works the same in scripts, tests and Jupyter.
"""

from __future__ import annotations

from contextlib import contextmanager

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "image.cmap": "viridis",
    "svg.hashsalt": "dynsys",
    "pdf.fonttype": 42,
}

COLORS = {
    "tanh": "#1f77b4",
    "sigmoid": "#d62728",
    "msgd": "#7f7f7f",
    "msgd-c": "#1f77b4",
    "msgd-cr": "#2ca02c",
    "stable": "#1f4e99",
    "unstable": "#c0392b",
    "saddle": "#e67e22",
}


@contextmanager
def style():
    """Apply the dynsys matplotlib style inside a ``with`` block."""
    import matplotlib as mpl

    with mpl.rc_context(STYLE):
        yield


def new_figure(nrows=1, ncols=1, *, figsize=(6.4, 4.0), subplot_kw=None, **kwargs):
    """A :class:`~matplotlib.figure.Figure` with a grid of axes, styled, without pyplot.

    Returns ``(fig, axes)`` like ``plt.subplots``.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(STYLE):
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, subplot_kw=subplot_kw, **kwargs)
    return fig, axes
