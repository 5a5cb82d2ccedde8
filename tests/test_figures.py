"""The report's figures, looked at: every seed counted under the rule the report states, no
text over text or off the figure, no panel without data, no line hidden under another, and
every band drawn around its whole curve (on a log axis too).

One tiny study (5 activations x 6 seeds, 20 steps) is trained once for the module; two of
relu's seeds and four of leaky_relu_0.2's (more than half: its median loss is +inf) are then
marked diverged, as ``tests/test_report.py`` does, so that the rule changes what is drawn.
Each check is a function of a drawn Figure and has a control that shows it can fail.
"""

import dataclasses

import numpy as np
import pytest
from helpers import small
from matplotlib import cbook
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle
from matplotlib.text import Text

from actlab import report
from actlab.report import Record, Threshold

# its run is a module fixture: one worker builds it (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("figures")

ACTS = ("sigmoid", "tanh", "relu", "leaky_relu_0.2", "leaky_relu")
SEEDS = 6
TH = Threshold("train_error", 0.6)
DIVERGED = {2: ((0, 1), 7), 3: ((0, 1, 2, 3), 3)}  # group: (seeds, step it diverged at)


@pytest.fixture(scope="module")
def result():
    return small(ACTS, seeds=SEEDS).run()


@pytest.fixture(scope="module")
def rec(result):
    rec = Record.of(result, "figures", threshold=TH)
    at, gone = rec.diverged_at.copy(), rec.trace.diverged.copy()
    for g, (seeds, step) in DIVERGED.items():
        for s in seeds:
            at[g, s] = step
            gone[g, s] = rec.trace.step[g, s] > step  # from the evaluation after it
    return dataclasses.replace(rec, trace=rec.trace._replace(diverged=gone), diverged_at=at)


def drawn(rec: Record) -> dict[str, Figure]:
    """Every figure of the report, by file name, drawn on an Agg canvas."""
    figs = {}
    for _, name, make in report.figures(rec, TH, report.tables(rec, TH)):
        fig = make()
        FigureCanvasAgg(fig).draw()
        figs[name] = fig
    return figs


@pytest.fixture(scope="module")
def by_rule(rec):
    """rule -> the figures of ``rec`` under it, each drawn once for the module."""
    cache = {}

    def get(rule: str) -> dict[str, Figure]:
        if rule not in cache:
            cache[rule] = drawn(rec.with_rule(rule))
        return cache[rule]

    return get


@pytest.fixture(params=["failure", "exclude"])
def figures(by_rule, request):
    return request.param, by_rule(request.param)


# --------------------------------------------------------------------------- the checks


def texts(fig: Figure) -> list[tuple[str, object]]:
    """(text, window extent) of every non-empty text the drawn figure shows: tick labels
    inside their axis' view (a locator also places ticks just outside it, never drawn),
    axis labels, titles, legend entries, colourbar labels, suptitles."""
    renderer = fig.canvas.get_renderer()
    ticks, shown = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(abs(lo), abs(hi), 1)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
                if lo - tol <= tick.get_loc() <= hi + tol:
                    shown += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    shown += [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_visible()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in shown if t.get_text().strip()]


def overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than a pixel each way."""
    found = texts(fig)
    pairs = []
    for i, (a, box_a) in enumerate(found):
        for b, box_b in found[i + 1 :]:
            w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if w > 1 and h > 1:
                pairs.append((a, b))
    return pairs


def cut_off(fig: Figure) -> list[str]:
    """Texts that run past the figure's edge (by more than a pixel)."""
    box = fig.bbox
    return [
        t
        for t, b in texts(fig)
        if b.x0 < box.x0 - 1 or b.y0 < box.y0 - 1 or b.x1 > box.x1 + 1 or b.y1 > box.y1 + 1
    ]


def _finite_data(ax) -> bool:
    lines = any(np.isfinite(np.asarray(ln.get_ydata(), float)).any() for ln in ax.lines)
    polys = any(
        np.isfinite(p.vertices).all(axis=1).any() for c in ax.collections for p in c.get_paths()
    )
    points = any(
        np.isfinite(c.get_offsets()).all(axis=1).any()
        for c in ax.collections
        if isinstance(c, PathCollection)
    )
    images = any(np.isfinite(np.ma.filled(im.get_array(), np.nan)).any() for im in ax.images)
    return lines or polys or points or images


def empty_panels(fig: Figure) -> list[str]:
    """Axes (colourbars aside) that draw no finite data."""
    return [
        ax.get_title() or ax.get_ylabel() or repr(ax)
        for ax in fig.axes
        if ax.get_label() != "<colorbar>" and not _finite_data(ax)
    ]


def _band_of(line, ax):
    """The band (fill_between) drawn with the line: the plots draw each line, then its band,
    so the i-th band goes with the i-th line where every line has one; None if the line has
    none, or the band is not in the line's colour."""
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    if len(bands) != len(ax.lines):
        return None
    band = bands[ax.lines.index(line)]
    same = np.allclose(band.get_facecolor()[0][:3], to_rgb(line.get_color()))
    return band if same else None


def band_gaps(fig: Figure) -> list[str]:
    """Points of a curve with a band where the band is missing or does not enclose it (on a
    log axis, points > 0: the others run off its bottom); on a log axis also band vertices
    that are not finite and positive (such a band is cut)."""
    gaps = []
    for ax in fig.axes:
        log = ax.get_yscale() == "log"
        for line in ax.lines:
            band = _band_of(line, ax)
            if band is None:
                continue
            verts = np.concatenate([p.vertices for p in band.get_paths()] or [np.zeros((0, 2))])
            if log and not (np.isfinite(verts).all() and (verts[:, 1] > 0).all()):
                gaps.append(f"{line.get_label()}: band vertex not drawable on a log axis")
            x, y = (np.asarray(v, float) for v in line.get_data())
            ok = np.isfinite(y) & (y > 0 if log else True)  # a log axis sends 0 off its bottom
            for xi, yi in zip(x[ok], y[ok]):
                at = verts[np.isclose(verts[:, 0], xi), 1]
                if not (at.size and at.min() <= yi * (1 + 1e-9) and yi <= at.max() * (1 + 1e-9)):
                    gaps.append(f"{line.get_label()}: no band around step {xi:g}")
    return gaps


def _footprint(line) -> set[tuple[int, int]]:
    """Display pixels the line's drawn path passes through (steps included), sampled every
    half pixel along each finite segment."""
    x, y = (np.asarray(v, float) for v in line.get_data())
    step = cbook.STEP_LOOKUP_MAP[line.get_drawstyle()]
    x, y = step(x, y)
    pts = line.axes.transData.transform(np.column_stack([x, y]))
    px = set()
    for a, b in zip(pts[:-1], pts[1:]):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        n = int(np.ceil(2 * np.hypot(*(b - a)))) + 1
        seg = np.linspace(a, b, n)
        px.update(map(tuple, np.round(seg).astype(int)))
    return px


def hidden_lines(fig: Figure, seen_at: float = 0.05) -> list[str]:
    """Lines that share a run of pixels with a line drawn after them and show in less than
    ``seen_at`` of that run: hiding them changes (almost) nothing of the image there.
    Crossings (fewer than 20 shared pixels) are not runs."""
    canvas = fig.canvas
    canvas.draw()
    full = np.asarray(canvas.buffer_rgba()).astype(int)
    height = full.shape[0]
    hidden = []
    for ax in fig.axes:
        lines = [ln for ln in ax.lines if ln.get_visible()]
        prints = [_footprint(ln) for ln in lines]
        inside = ax.bbox
        for i, line in enumerate(lines):
            later = set().union(*prints[i + 1 :]) if i + 1 < len(lines) else set()
            shared = [
                (x, y)
                for x, y in prints[i] & later
                if inside.x0 + 2 < x < inside.x1 - 2 and inside.y0 + 2 < y < inside.y1 - 2
            ]
            if len(shared) < 20:
                continue
            line.set_visible(False)
            canvas.draw()
            without = np.asarray(canvas.buffer_rgba()).astype(int)
            line.set_visible(True)
            changed = np.abs(full - without)[..., :3].max(axis=2) > 48
            seen = [
                changed[height - y - 2 : height - y + 1, x - 1 : x + 2].any() for x, y in shared
            ]
            if np.mean(seen) < seen_at:
                hidden.append(line.get_label())
    canvas.draw()
    return hidden


# --------------------------------------------------------------------------- controls


def _drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig).draw()
    return fig


def test_overlap_check_finds_overlapping_tick_labels():
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([0.5, 0.52], ["a long tick label", "another long one"])
    assert overlaps(_drawn(fig)) == [("a long tick label", "another long one")]
    ax.set_xticks([0.0, 1.0], ["a", "b"])
    assert overlaps(_drawn(fig)) == []


def test_cut_off_check_finds_a_title_wider_than_the_figure():
    fig = Figure(figsize=(3, 2), layout="constrained")
    fig.add_subplot().plot([0, 1])
    assert cut_off(_drawn(fig)) == []
    fig.suptitle("a headline far too long for a figure three inches wide")
    assert cut_off(_drawn(fig)) == ["a headline far too long for a figure three inches wide"]


def test_empty_panel_check_finds_an_axes_without_finite_data():
    fig = Figure()
    a, b, c = fig.subplots(1, 3)
    a.plot([0, 1], [0, 1])
    b.plot([0, 1], [np.nan, np.nan])  # all-NaN: an empty panel however many lines
    assert empty_panels(_drawn(fig)) == [repr(b), repr(c)]


def test_band_check_finds_a_log_band_that_stops_where_a_t_interval_dips_below_zero():
    x = np.arange(5.0)
    mean, low = np.array([1.0, 0.5, 0.2, 0.1, 0.05]), np.array([0.5, 0.1, -0.1, -0.2, 0.01])
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ax.plot(x, mean, color="C0", label="old")
    ax.fill_between(x, np.where(low > 0, low, np.nan), mean * 2, color="C0", alpha=0.2)
    gaps = band_gaps(_drawn(fig))
    assert gaps == ["old: no band around step 2", "old: no band around step 3"]


def test_hidden_line_check_finds_a_line_drawn_under_its_twin():
    x, y = np.linspace(0, 1, 20), np.full(20, 0.3)
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot(x, y, color="C0", lw=2, label="under")
    ax.plot(x, y, color="C1", lw=2, label="over")
    ax.plot(x, x, color="C2", lw=2, label="crossing")
    assert hidden_lines(_drawn(fig)) == ["under"]
    ax.lines[1].set_linestyle("--")  # the gaps show the line under it
    assert hidden_lines(fig) == []


# --------------------------------------------------------------------------- the figures


def test_every_figure_is_drawn(figures):
    rule, figs = figures
    assert set(figs) == {
        "test_accuracy.png",
        "train_loss.png",
        "grad_norm_heatmap.png",
        "unit_fractions.png",
        "final_test_accuracy.png",
        "time_to_threshold.png",
    }


@pytest.mark.parametrize("check", [overlaps, cut_off, empty_panels, band_gaps, hidden_lines])
def test_figures_pass_check(figures, check):
    rule, figs = figures
    for name, fig in figs.items():
        assert check(fig) == [], f"{name} under {rule!r}"


def test_log_axis_band_runs_to_the_top_where_the_median_loss_is_infinite(rec, by_rule):
    fig = by_rule("failure")["train_loss.png"]  # the run's rule: failure
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    line = ax.lines[3]  # leaky_relu_0.2: 4 of 6 seeds +inf from step 7 on
    y = np.asarray(line.get_ydata(), float)
    after = rec.steps > 3
    assert np.isnan(y[after]).all() and np.isfinite(y[~after]).all()  # median +inf: a gap
    verts = np.concatenate([p.vertices for p in _band_of(line, ax).get_paths()])
    for x in rec.steps[after]:
        assert verts[np.isclose(verts[:, 0], x), 1].max() > ax.get_ylim()[1]  # past the top


# --------------------------------------------------------------------------- what is counted


def test_curve_applies_the_rule_from_the_evaluation_after_divergence(rec):
    g, s = 2, 0  # relu seed 0, diverged at step 7: evaluations at 0, 7 before; 14, 20 after
    after = rec.steps > 7
    raw = rec.curve("test_accuracy", raw=True)[g, s]
    acc = rec.curve("test_accuracy", diverged_as="failure")[g, s]
    np.testing.assert_array_equal(acc[~after], raw[~after])
    np.testing.assert_array_equal(acc[after], 1 / 3)  # chance, 3 classes
    assert np.isposinf(rec.curve("train_loss", diverged_as="failure")[g, s, after]).all()
    err = rec.curve("train_error", diverged_as="failure")[g, s, after]
    np.testing.assert_allclose(err, 1 - 1 / 3)
    assert np.isnan(rec.curve("test_accuracy", diverged_as="exclude")[g, s, after]).all()
    np.testing.assert_array_equal(rec.curve("test_accuracy", diverged_as="frozen")[g, s], raw)
    # the default is unchanged for its callers: NaN after divergence, as "exclude"
    np.testing.assert_array_equal(
        rec.curve("grad_norm"), rec.curve("grad_norm", diverged_as="exclude")
    )
    np.testing.assert_array_equal(rec.curve("grad_norm", raw=True)[g, s], rec.trace.grad_norm[g, s])
    with pytest.raises(ValueError, match="no declared failure outcome"):
        rec.curve("grad_norm", diverged_as="failure")
    with pytest.raises(ValueError, match="raw=True"):
        rec.curve("test_accuracy", raw=True, diverged_as="failure")


def test_test_accuracy_curve_ends_at_the_tables_every_seed_mean(rec, by_rule):
    tabs = report.tables(rec, TH)["test_accuracy"]  # every seed, t CI
    fig = by_rule("failure")["test_accuracy.png"]
    (ax,) = fig.axes
    assert "mean over all 6 seeds" in ax.get_title()
    assert "chance (0.333) after it diverged" in ax.get_title()
    for i, line in enumerate(ax.lines):
        np.testing.assert_allclose(line.get_ydata()[-1], tabs["mean"][i], rtol=1e-12)
        verts = np.concatenate([p.vertices for p in _band_of(line, ax).get_paths()])
        ends = verts[np.isclose(verts[:, 0], rec.steps[-1]), 1]
        want = [tabs["ci_low"][i], tabs["ci_high"][i]]  # inside [0, 1], as the table's
        np.testing.assert_allclose([ends.min(), ends.max()], want, rtol=1e-12)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[2:4] == ["relu (2/6 diverged)", "leaky_relu_0.2 (4/6 diverged)"]


def test_train_loss_curve_is_the_tables_median_with_its_order_statistic_interval(rec, by_rule):
    tabs = report.tables(rec, TH)["train_loss"]
    (ax,) = by_rule("failure")["train_loss.png"].axes
    assert "median over all 6 seeds" in ax.get_title()
    assert "CI of the median (order statistics)" in ax.get_title()
    top = ax.get_ylim()[1]
    for i, line in enumerate(ax.lines):
        med = tabs["median"][i]
        y = line.get_ydata()[-1]
        assert np.isnan(y) if np.isinf(med) else np.isclose(y, med, rtol=1e-12)
        verts = np.concatenate([p.vertices for p in _band_of(line, ax).get_paths()])
        ends = verts[np.isclose(verts[:, 0], rec.steps[-1]), 1]
        np.testing.assert_allclose(ends.min(), tabs["median_ci_low"][i], rtol=1e-12)
        hi = tabs["median_ci_high"][i]
        assert ends.max() > top if np.isinf(hi) else np.isclose(ends.max(), hi, rtol=1e-12)


def test_survivors_only_curves_say_so_and_give_n(rec, by_rule):
    figs = by_rule("exclude")
    (ax,) = figs["test_accuracy.png"].axes
    assert "survivors only" in ax.get_title()
    legend = [t.get_text() for t in figs["test_accuracy.png"].legends[0].get_texts()]
    assert legend[2:4] == [
        "relu (2/6 diverged; n=4 at the end)",
        "leaky_relu_0.2 (4/6 diverged; n=2 at the end)",
    ]
    surv = report.tables(rec, TH)["survivors"]
    for i, line in enumerate(ax.lines):  # the survivors table's mean, at the last step
        np.testing.assert_allclose(line.get_ydata()[-1], surv["mean"][i], rtol=1e-12)


def test_trace_figures_leave_diverged_runs_out_and_give_n(by_rule):
    figs = by_rule("failure")
    heat = [ax for ax in figs["grad_norm_heatmap.png"].axes if ax.images]
    assert [ax.get_title() for ax in heat[2:4]] == [
        "relu\nn=4 of 6 at the end",
        "leaky_relu_0.2\nn=2 of 6 at the end",
    ]
    assert heat[0].get_subplotspec().get_geometry()[:2] == (1, 5)  # 5 panels, no empty cell
    assert "survivors only" in figs["grad_norm_heatmap.png"].get_suptitle()
    units = figs["unit_fractions.png"]
    rows = [ax.get_ylabel() for ax in units.axes if ax.get_ylabel()]
    assert rows == ["sigmoid", "tanh", "relu\nn=4 of 6", "leaky_relu_0.2\nn=2 of 6", "leaky_relu"]
    assert len(units.axes) == len(ACTS) * 3  # one panel per activation and kind
    assert all(len(ax.lines) == 1 for ax in units.axes)


def _marker(c: PathCollection) -> str | None:
    """The scatter marker ("o", "x") a PathCollection draws, if one of those."""
    for m in ("o", "x"):
        style = MarkerStyle(m)
        want = style.get_path().transformed(style.get_transform()).vertices
        got = c.get_paths()[0].vertices
        if got.shape == want.shape and np.allclose(got, want):
            return m
    return None


def test_final_accuracy_draws_diverged_runs_at_chance_as_crosses(by_rule):
    (ax,) = by_rule("failure")["final_test_accuracy.png"].axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    crosses = [c for c in points if _marker(c) == "x"]
    assert [len(c.get_offsets()) for c in crosses] == [2, 4]  # relu, leaky_relu_0.2
    for c in crosses:
        np.testing.assert_allclose(c.get_offsets()[:, 1], 1 / 3)  # chance: 3 classes
    assert sum(len(c.get_offsets()) for c in points) == len(ACTS) * SEEDS  # every seed
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[2:4] == ["relu\n(2 diverged)", "leaky_relu_0.2\n(4 diverged)"]


def test_time_to_threshold_counts_every_seed(rec, by_rule):
    (ax,) = by_rule("failure")["time_to_threshold.png"].axes
    legend = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    t = report.times(rec, TH)
    for i, text in enumerate(legend):
        reached = int(np.isfinite(t[i]).sum())
        d = int(rec.diverged[i].sum())
        assert text == f"{ACTS[i]} ({reached}/{SEEDS}" + (f", {d} diverged)" if d else ")")


def test_report_writes_every_figure(rec, tmp_path):
    text = report.write(rec, tmp_path).read_text()
    for name in ("test_accuracy", "train_loss", "grad_norm_heatmap", "unit_fractions"):
        assert f"({name}.png)" in text
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
