"""The experiments' figures as a reader sees them (issue 13): panel letters (a), (b), (c), … in
reading order, no TeX left unrendered, no label of one panel running into another, titles that
say what the panel plots, and success rates drawn where they are (fractions in [0, 1]).

Each experiment is computed at a small size, its ``draw`` runs on that result, and the figures it
would save are caught and laid out with the Agg renderer (nothing is written).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from dynsys.io import load_result
from dynsys.runs import RunContext

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "figures" / "data"

#: small sizes of each experiment's default profile (a few seconds each)
SMALL = {
    "basin_crossing": {},
    "basins_fractal": {"resolution": 120, "cells_resolution": 60},
    "basins_rnn": {},
    "conditions_transition": {
        "n": 8,
        "m": 2,
        "points": 5,
        "steps": 12,
        "sequences": 2,
        "starts": 2,
        "lyap_steps": 30,
        "lyap_transient": 10,
        "init_seeds": 1,
    },
    "fig3_bifurcation": {},
    "fig6_steep_wall": {"resolution": 40, "lines": 20, "steps": 200, "refine_depth": 16},
    "flipflop_fixed_points": {
        "updates": 200,
        "big_updates": 200,
        "big_hidden": 30,
        "eval_every": 100,
        "n_starts": 128,
    },
    "modern_remedies": {
        "lengths": [12],
        "seeds": [0],
        "updates": 20,
        "eval_every": 10,
        "eval_sequences": 20,
        "confirm_sequences": 0,
        "checkpoint_every": 10,
        "n_hidden": 8,
        "jacobian_batch": 2,
    },
    "gradient_flow": {"n": 12, "T": 20, "batch": 2, "burn_in": 4},
    "fig7_deciding": {
        "lengths": [10],
        "seeds": [0, 1],
        "n_hidden": 8,
        "updates": 60,
        "short_budget": 30,
        "eval_every": 30,
        "eval_sequences": 40,
        "confirm_sequences": 80,
        "check_sequences": 20,
        "screen_risk": {"sequences": 20, "repeats": 3},
        "checkpoint_every": 30,
    },
    "chorales": {"corpus_limit": 12, "n_hidden": 8, "epochs": 2},
    "rnn_wall_slice": {"updates": 300, "warmup": 50, "points": 41, "zoom_points": 21, "hessian_iters": 5},
    "training_telemetry": {"updates": 200, "eval_every": 50, "eval_sequences": 100},
    "training_monitor": {
        "updates": {"flipflop": 50, "torder": 50},
        "seeds": {"flipflop": [0], "torder": [0]},
        "n_shifts": 100,
    },
}
#: drawn from their committed long-profile results instead (training sweeps: minutes to compute)
COMMITTED = ("fig7_success_rate", "other_tasks")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"exp_fig_{name}", ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _draw(name, tmp_path, monkeypatch):
    """The figures ``draw`` of experiment ``name`` makes, laid out, with their stems."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    mod = _load(name)
    exp = mod.EXPERIMENT
    for package in exp.requires:
        pytest.importorskip(package)
    if name in COMMITTED:
        arrays, meta = load_result(DATA / f"{name}.long")
    else:
        cfg = dict(exp.config("default"), **SMALL[name])
        arrays, metrics = exp.compute(cfg, RunContext(workdir=tmp_path / "work"))
        meta = {"config": cfg, "metrics": metrics, "profile": "default"}
    figs = {}

    def catch(fig, stem, *args, **kwargs):
        FigureCanvasAgg(fig).draw()  # runs the constrained layout, as savefig does
        figs[Path(stem).name] = fig
        return []

    monkeypatch.setattr(mod, "save_figure", catch)
    stems = exp.draw(arrays, meta, tmp_path)
    assert sorted(stems) == sorted(figs)
    return figs


def _reading_order(fig):
    """The figure's main axes (no twins, no colorbars) top to bottom, then left to right."""
    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None and not _is_twin(ax)]
    pos = {ax: ax.get_position() for ax in axes}
    return sorted(axes, key=lambda ax: (-round(pos[ax].y1, 2), round(pos[ax].x0, 2)))


def _is_twin(ax):
    """True for an axis made by ``twinx`` (it comes after its host in ``fig.axes``)."""
    order = ax.figure.axes
    return any(order.index(t) < order.index(ax) for t in _siblings(ax))


def _siblings(ax):
    """Axes sharing both the x axis and the place of ``ax`` (a ``twinx`` pair)."""
    shared = ax.get_shared_x_axes().get_siblings(ax)
    return [a for a in shared if a is not ax and a.bbox.bounds == ax.bbox.bounds]


def _twins(ax):
    """The twin axes of the host ``ax``."""
    order = ax.figure.axes
    return [t for t in _siblings(ax) if order.index(t) > order.index(ax)]


def _texts(fig):
    """Every visible, non-empty text of the figure (titles, labels, ticks, legends, annotations)."""
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if t.get_visible() and t.get_text().strip():
            out.append(t)
    return out


def _raw_tex(s):
    """The TeX left outside ``$…$`` in ``s`` (mathtext only renders between dollars), or ''."""
    if s.count("$") % 2:
        return s
    outside = re.sub(r"\$[^$]*\$", "", s)
    m = re.search(r"\\[a-zA-Z]+|[_^]\{|\^\(|[A-Za-z)]_[A-Za-z0-9]", outside)
    return m.group(0) if m else ""


def _gap(a, b):
    """Distance in pixels between two boxes (0 when they touch or overlap)."""
    dx = max(a.x0 - b.x1, b.x0 - a.x1, 0.0)
    dy = max(a.y0 - b.y1, b.y0 - a.y1, 0.0)
    return float(np.hypot(dx, dy))


def _y_axis_box(ax, renderer):
    """The box of what ``ax`` draws for its y axis (the tick labels in view and the label)."""
    return ax.yaxis.get_tightbbox(renderer)


ALL = sorted(SMALL) + list(COMMITTED)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            mp = pytest.MonkeyPatch()
            try:
                cache[name] = _draw(name, tmp_path_factory.mktemp(name), mp)
            finally:
                mp.undo()
        return cache[name]

    return get


@pytest.mark.parametrize("name", ALL)
def test_panel_letters_run_a_b_c_in_reading_order(name, drawn):
    for stem, fig in drawn(name).items():
        letters = []
        for ax in _reading_order(fig):
            m = re.match(r"\s*\(([a-z])\)", ax.get_title())
            if m:
                letters.append(m.group(1))
        assert letters == [chr(ord("a") + i) for i in range(len(letters))], (stem, letters)


@pytest.mark.parametrize("name", ALL)
def test_no_tex_is_left_unrendered(name, drawn):
    for stem, fig in drawn(name).items():
        raw = {t.get_text(): _raw_tex(t.get_text()) for t in _texts(fig)}
        assert not {s: r for s, r in raw.items() if r}, stem


@pytest.mark.parametrize("name", ALL)
def test_y_labels_keep_clear_of_the_neighbouring_panel(name, drawn):
    """The y axis (tick labels and label) of a panel and of its twin stay apart from every other
    panel's: side by side by 1.5 label heights (two labels closer than that read as one two-line
    label, as the twin axis of ``rnn_wall_slice`` and its neighbour's did), stacked by 2 px."""
    for stem, fig in drawn(name).items():
        renderer = fig.canvas.get_renderer()
        panels = []
        for ax in _reading_order(fig):
            boxes = [_y_axis_box(a, renderer) for a in [ax] + _twins(ax)]
            panels.append([b for b in boxes if b is not None and b.width > 0])
        em = fig.axes[0].yaxis.label.get_size() * fig.dpi / 72  # label font size in pixels
        for i, mine in enumerate(panels):
            for theirs in panels[i + 1 :]:
                for a in mine:
                    for b in theirs:
                        side_by_side = min(a.y1, b.y1) > max(a.y0, b.y0)
                        need = 1.5 * em if side_by_side else 2.0
                        assert _gap(a, b) >= need, (stem, a, b)


def test_conditions_panels_are_a_b_c(drawn):
    (fig,) = drawn("conditions_transition").values()
    titles = [ax.get_title() for ax in _reading_order(fig)]
    assert [t[:3] for t in titles] == ["(a)", "(b)", "(c)"]
    assert "tanh" in titles[0] and "sigmoid" in titles[1] and "inits" in titles[2]


def test_fig6_descent_panel_is_titled_by_what_it_plots(drawn):
    (fig,) = drawn("fig6_steep_wall").values()
    # the panel with the per-step loss of each descent (step on x, E on a log y axis)
    (ax,) = [a for a in _reading_order(fig) if a.get_xlabel() == "step"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "E"
    title = ax.get_title()
    assert "loss" in title and "plain" in title and "clipped" in title
    assert "max" not in title  # the refinement numbers belong to the gradient panel
    grad = [a for a in fig.axes if "nabla E" in a.get_title()]
    assert any("refined" in t.get_text() for t in grad[0].texts)


def test_gradient_flow_bound_is_mathtext(drawn):
    (fig,) = drawn("gradient_flow").values()
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
    title = legend.get_title().get_text()
    assert r"$(\lambda_1\gamma)^{t-k}$" in title and "^{t−k}" not in title
    assert fig.axes[0].get_ylabel().startswith("$")


def test_rnn_wall_slice_twin_axis_names_its_curve(drawn):
    (fig,) = drawn("rnn_wall_slice").values()
    host = _reading_order(fig)[1]
    (twin,) = _twins(host)
    (curve,) = twin.get_lines()
    assert twin.yaxis.label.get_color() == curve.get_color()
    labels = [t.get_text() for t in host.get_legend().get_texts()]
    assert any("right axis" in s for s in labels) and any("left axis" in s for s in labels)


def _study_arrays(reached):
    """The arrays of a success study with first-success updates ``reached`` (I, V, L, S)."""
    I, V, L, S = reached.shape
    arrays = {
        "lengths": np.array([20, 50, 100])[:L],
        "reached_1pct_at": reached,
        "reached_zero_at": np.where(reached >= 0, reached + 10, -1),
        "best_error": np.full((I, V, L, S), 0.5),
    }
    metrics = {
        "inits": ["sigmoid", "basic_tanh", "smart_tanh"][:I],
        "variants": ["msgd", "msgd-c", "msgd-cr", "msgd-cr-a2"][:V],
        "budget": 1000,
    }
    return arrays, metrics


def test_success_rates_are_drawn_at_their_value_with_exact_intervals():
    """Fig. 7's markers: exactly the fractions solved within the budget (in [0, 1]), variants told
    apart sideways only, bars the Clopper–Pearson interval, both rules in their own row."""
    from dynsys.analysis.outcomes import success_interval
    from dynsys.plotting.training import success_rules_figure

    reached = np.full((3, 4, 3, 5), -1)
    reached[1] = 100  # every variant solves everything: the case a vertical jitter pushed outside [0, 1]
    reached[2, 2, 0, :] = 100
    reached[2, 2, 1, :2] = 200
    reached[2, 2, 2, :4] = 995  # the zero rule (reached + 10) is past the budget here
    arrays, metrics = _study_arrays(reached)
    fig = success_rules_figure(arrays, metrics, "n")
    lengths = arrays["lengths"]
    for r, rule in enumerate(("1pct", "zero")):
        for j in range(3):
            ax = fig.axes[3 * r + j]
            conts = ax.containers
            assert len(conts) == 4
            xs = []
            for v, cont in enumerate(conts):
                line = cont.lines[0]
                y = np.asarray(line.get_ydata(), float)
                at = arrays[f"reached_{rule}_at"][j, v]
                k = ((at >= 0) & (at <= 1000)).sum(axis=-1)
                np.testing.assert_array_equal(y, k / 5)
                lo, hi = success_interval(k, 5)
                seg = cont.lines[2][0].get_segments()
                np.testing.assert_allclose([s[:, 1].min() for s in seg], lo)
                np.testing.assert_allclose([s[:, 1].max() for s in seg], hi)
                xs.append(np.asarray(line.get_xdata(), float))
            for a in range(4):
                for b in range(a + 1, 4):
                    assert np.all(np.abs(xs[a] - xs[b]) >= 0.02 * (lengths.max() - lengths.min()))
    # smart tanh, MSGD-CR, L=100: 4/5 under < 1 %, 0/5 under 0 wrong (past the budget)
    assert fig.axes[2].containers[2].lines[0].get_ydata()[2] == 0.8
    assert fig.axes[5].containers[2].lines[0].get_ydata()[2] == 0.0


def test_updates_to_success_curves_are_the_fractions_solved():
    from dynsys.plotting.training import updates_to_success_figure

    reached = np.full((1, 3, 2, 4), -1)
    reached[0, 2, 0] = [50, 300, -1, 900]
    arrays, metrics = _study_arrays(reached)
    fig = updates_to_success_figure(arrays, metrics, "n")
    zero = fig.axes[0].get_lines()[4]  # MSGD-CR, 0 wrong (= reached + 10), L=20
    x, y = np.asarray(zero.get_xdata()), np.asarray(zero.get_ydata())
    for u, want in ((59, 0.0), (60, 0.25), (400, 0.5), (1000, 0.75)):
        assert y[np.searchsorted(x, u, side="right") - 1] == want


def test_committed_fig7_markers_stay_in_the_unit_interval(drawn):
    (fig,) = drawn("fig7_success_rate").values()
    for ax in fig.axes:
        if ax.get_ylim() == (-0.06, 1.06):  # the success-rate row
            for ln in ax.get_lines():
                y = np.asarray(ln.get_ydata(), float)
                assert np.all((y >= 0) & (y <= 1)), ax.get_title()


def test_basins_rnn_legend_keeps_the_basins(drawn):
    (fig,) = drawn("basins_rnn").values()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["basin 0", "basin 1"]  # the trajectories' legend used to replace these
    assert r"$x_0 - \delta$" in labels and r"$x_0 + \delta$" in labels


def test_fig3_fold_labels_sit_outside_the_s(drawn):
    fig = drawn("fig3_bifurcation")["fig3_bifurcation"]
    ax = _reading_order(fig)[0]
    renderer = fig.canvas.get_renderer()
    labels = sorted((a for a in ax.texts if a.get_text().startswith("$b_")), key=lambda a: a.xy[0])
    assert [a.get_text()[:5] for a in labels] == ["$b_1$", "$b_2$"]
    left, right = (ax.transData.transform(a.xy)[0] for a in labels)
    box1, box2 = (a.get_window_extent(renderer) for a in labels)
    assert box1.x1 < left and box2.x0 > right  # b1's label left of the left fold, b2's right of the right
    assert all(a.get_bbox_patch() is not None for a in labels)  # on a white box over the flow arrows
