"""Tests for actlab.plots: what each Figure holds, not how it looks.

Synthetic arrays: 3 activations x 5 seeds x 7 evals x 4 layers, with one diverged (NaN)
seed, exact zeros and an infinity.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from scipy import stats

from actlab import plots
from actlab.stats import summarize


def stats_summarize(x: np.ndarray) -> dict:
    """actlab.stats.summarize of one row, as a dict (the report's median and its CI)."""
    return summarize(x[None, :], ["x"]).iloc[0].to_dict()


NAMES = ["relu", "sigmoid", "tanh"]
A, S, E, L = 3, 5, 7, 4
STEPS = np.arange(E) * 100.0


def _grad_norms() -> np.ndarray:
    """[acts, seeds, evals, layers]"""
    rng = np.random.default_rng(0)
    v = rng.lognormal(0.0, 1.0, (A, S, E, L))
    v[1, 2] = np.nan  # a diverged sigmoid seed
    v[0, :, :, 0] = 0.0  # dead input layer for relu: log10 must be floored, not -inf
    v[2, 0, 3, 1] = np.inf  # one exploding value; the median over seeds stays finite
    return v


def _curves() -> np.ndarray:
    """[acts, seeds, evals]"""
    rng = np.random.default_rng(1)
    v = rng.uniform(0.1, 2.0, (A, S, E))
    v[1, 2] = np.nan
    v[2, 4, 5:] = np.inf
    return v


def _t_interval(x: np.ndarray, axis: int):
    """Reference 95 % t-interval over finite values (computed the long way)."""
    x = np.where(np.isfinite(x), x, np.nan)
    n = np.sum(np.isfinite(x), axis=axis)
    m = np.nanmean(x, axis=axis)
    half = stats.t.ppf(0.975, n - 1) * np.nanstd(x, axis=axis, ddof=1) / np.sqrt(n)
    return m, m - half, m + half


def _y(line) -> np.ndarray:
    """errorbar stores scalar y as an object array; make it float."""
    return np.asarray(line.get_ydata(), dtype=np.float64)


def _legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


# --------------------------------------------------------------------------- learning_curves


def test_learning_curves_lines_are_nan_aware_means():
    values = _curves()
    fig = plots.learning_curves(STEPS, values, NAMES, ylabel="loss")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.lines) == A
    assert len(ax.collections) == A  # one CI band each
    mean, _, _ = _t_interval(values, axis=1)
    for line, m in zip(ax.lines, mean):
        np.testing.assert_allclose(line.get_xdata(), STEPS)
        np.testing.assert_allclose(line.get_ydata(), m, rtol=1e-12)
        assert np.isfinite(line.get_ydata()).all()  # NaN and inf seeds left out
    assert _legend_texts(fig) == [  # n: the seeds the last point's mean is over
        "relu",
        "sigmoid (1/5 diverged; n=4 at the end)",
        "tanh (1/5 diverged; n=4 at the end)",
    ]
    assert ax.get_ylabel() == "loss"


def test_learning_curves_band_is_t_interval():
    values = _curves()
    fig = plots.learning_curves(STEPS, values, NAMES, ylabel="loss")
    _, low, high = _t_interval(values, axis=1)
    for band, lo, hi in zip(fig.axes[0].collections, low, high):
        y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        np.testing.assert_allclose([y.min(), y.max()], [lo.min(), hi.max()], rtol=1e-10)


def test_learning_curves_logy_and_title():
    fig = plots.learning_curves(STEPS, _curves(), NAMES, ylabel="loss", logy=True, title="T")
    assert fig.axes[0].get_yscale() == "log"
    # the headline given, over a line that says what the band is
    assert fig.axes[0].get_title() == "T\nshaded: 95% t-interval of the mean"


def test_learning_curves_mean_band_keeps_to_bounds_as_the_tables_do():
    values = np.ones((2, 4, 2))  # every seed at 1
    values[1, :, 1] = [0.5, 1.0, 1.0, 1.0]  # a t-interval past 1
    fig = plots.learning_curves(STEPS[:2], values, NAMES[:2], ylabel="acc", bounds=(0, 1))
    (ax,) = fig.axes
    want = summarize(values[:, :, 1], NAMES[:2], bounds=(0.0, 1.0))
    assert want["ci_method"].tolist() == ["edge-exact", "t-bounded"]
    for i in range(2):
        low, high = _band_at(ax, i, STEPS[1])
        np.testing.assert_allclose([low, high], want.loc[i, ["ci_low", "ci_high"]], rtol=1e-12)
    # all 4 seeds at 1: the exact one-sided bound 1 - 0.025 ** (1 / 4), not a zero-width band
    assert _band_at(ax, 0, STEPS[1])[0] == pytest.approx(0.025**0.25)


def test_learning_curves_log_band_runs_to_the_bottom_where_the_t_interval_dips_below_0():
    values = np.array([[[1.0, 0.1], [1.0, 1e-4], [1.0, 1e-4]]])  # [1, 3, 2]: wide at step 1
    fig = plots.learning_curves(STEPS[:2], values, ["a"], ylabel="loss", logy=True)
    (ax,) = fig.axes
    _, low, _ = _t_interval(values, axis=1)
    assert low[0, 1] < 0  # a t-interval of a loss: a log axis cannot draw its low end
    (band,) = ax.collections
    y = np.concatenate([p.vertices for p in band.get_paths()])
    assert np.isfinite(y).all() and (y[:, 1] > 0).all()  # drawn, not cut off
    at_1 = y[np.isclose(y[:, 0], STEPS[1]), 1]
    assert at_1.min() < ax.get_ylim()[0]  # and runs past the bottom edge


def test_learning_curves_count_the_given_diverged_seeds():
    values = np.random.default_rng(6).uniform(0.4, 0.6, (A, S, E))  # finite: failures scored
    diverged = np.zeros((A, S), bool)
    diverged[2, :2] = True
    fig = plots.learning_curves(STEPS, values, NAMES, ylabel="accuracy", diverged=diverged)
    assert _legend_texts(fig) == ["relu", "sigmoid", "tanh (2/5 diverged)"]
    with pytest.raises(ValueError, match="diverged has shape"):
        plots.learning_curves(STEPS, values, NAMES, ylabel="a", diverged=diverged[:, :2])


def _band_at(ax, i: int, x: float) -> tuple[float, float]:
    """(bottom, top) of the i-th band at x."""
    band = [c for c in ax.collections][i]
    y = np.concatenate([p.vertices for p in band.get_paths()])
    at = y[np.isclose(y[:, 0], x), 1]
    return at.min(), at.max()


def test_learning_curves_median_band_is_the_sign_test_interval():
    rng = np.random.default_rng(7)
    values = rng.lognormal(0.0, 1.0, (2, 9, 3))
    values[1, :3, 1:] = np.inf  # 3 of 9 failed: +inf is their value, the worst rank
    values[0, 0, 2] = np.nan  # a missing seed: n = 8 there
    fig = plots.learning_curves(STEPS[:3], values, NAMES[:2], ylabel="loss", statistic="median")
    (ax,) = fig.axes
    for i in range(2):
        for e in range(3):
            x = values[i, :, e]
            want = stats_summarize(x[~np.isnan(x)])
            assert ax.lines[i].get_ydata()[e] == pytest.approx(want["median"], rel=1e-12)
            low, high = _band_at(ax, i, STEPS[e])
            assert low == pytest.approx(want["median_ci_low"], rel=1e-12)
            if np.isinf(want["median_ci_high"]):  # drawn past the top: unbounded
                assert high > ax.get_ylim()[1]
            else:
                assert high == pytest.approx(want["median_ci_high"], rel=1e-12)
    # by hand, n = 9: P(B(9, 1/2) <= 1) = 10/512 <= 0.025 < P(B <= 2): x_(2) and x_(8)
    x = np.sort(values[0, :, 0])
    assert _band_at(ax, 0, STEPS[0]) == pytest.approx((x[1], x[7]), rel=1e-12)
    assert "CI of the median (order statistics)" in ax.get_title()
    assert "min-max" not in ax.get_title()


def test_learning_curves_median_of_infinities_leaves_a_gap_and_its_band_reaches_the_top():
    values = np.random.default_rng(8).lognormal(0.0, 1.0, (1, 9, 3))
    values[0, :5, 2] = np.inf  # 5 of 9 failed at the last step: the median is +inf
    fig = plots.learning_curves(
        STEPS[:3], values, ["a"], ylabel="loss", statistic="median", logy=True
    )
    (ax,) = fig.axes
    y = ax.lines[0].get_ydata()
    assert np.isfinite(y[:2]).all() and np.isnan(y[2])
    low, high = _band_at(ax, 0, STEPS[2])
    assert low == pytest.approx(np.sort(values[0, :, 2])[1]) and high > ax.get_ylim()[1]


def test_learning_curves_median_band_is_the_range_below_six_seeds():
    values = _curves()  # 5 seeds: no pair of order statistics covers the median with 95 %
    fig = plots.learning_curves(STEPS, values, NAMES, ylabel="loss", statistic="median")
    (ax,) = fig.axes
    x = values[0, :, 3]
    assert _band_at(ax, 0, STEPS[3]) == pytest.approx((x.min(), x.max()), rel=1e-12)
    assert ax.get_title().endswith("or min-max where n ≤ 5")
    with pytest.raises(ValueError, match="statistic"):
        plots.learning_curves(STEPS, values, NAMES, ylabel="loss", statistic="mode")


# --------------------------------------------------------------------------- layer_heatmap


def test_layer_heatmap_images_are_log10_median_over_seeds():
    values = _grad_norms()
    fig = plots.layer_heatmap(STEPS, values, NAMES)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == A and len(fig.axes) == A + 1  # + one shared colourbar
    med = np.nanmedian(values, axis=1)  # [acts, evals, layers]
    expected = np.log10(np.maximum(med, np.finfo(np.float64).tiny))
    assert np.isfinite(expected).all()  # the floor kept log10(0) finite
    for i, ax in enumerate(panels):
        (im,) = ax.images
        # the sigmoid seed that is NaN throughout is missing: its panel says n
        assert ax.get_title() == ("sigmoid\nn=4 of 5 at the end" if i == 1 else NAMES[i])
        assert im.origin == "lower"  # row 0 = layer 1 = input side, drawn at the bottom
        got = np.ma.filled(im.get_array(), np.nan)
        assert got.shape == (L, E)  # rows are layers, columns are evals
        np.testing.assert_allclose(got, expected[i].T, rtol=1e-12)
    assert "input side" in panels[0].get_ylabel()
    # One colour scale for all panels, set by the positive medians, not by the floor.
    norms = {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in panels}
    assert len(norms) == 1
    positive = med[med > 0]
    np.testing.assert_allclose(norms.pop(), np.log10([positive.min(), positive.max()]))


def test_layer_heatmap_linear_and_all_nan_column():
    values = _grad_norms()
    values[1, :, 0] = np.nan  # every seed diverged at eval 0
    fig = plots.layer_heatmap(STEPS, values, NAMES, log=False, label="x")
    with pytest.warns(RuntimeWarning):
        med = np.nanmedian(values, axis=1)
    got = np.ma.filled(fig.axes[1].images[0].get_array(), np.nan)
    np.testing.assert_allclose(got, med[1].T)
    assert np.isnan(got[:, 0]).all()


# --------------------------------------------------------------------------- unit_fractions


def test_unit_fractions_one_panel_per_activation_and_kind():
    rng = np.random.default_rng(2)
    dead = rng.uniform(0, 0.5, (A, S, E, L))
    sat = rng.uniform(0.5, 1.0, (A, S, E, L))
    dead[1, 2] = sat[1, 2] = np.nan
    fig = plots.unit_fractions(STEPS, dead, sat, NAMES)
    grid = np.array(fig.axes).reshape(A, 2)  # rows: activations; columns: dead, saturated
    assert [ax.get_title() for ax in grid[0]] == ["dead units", "saturated units"]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["relu", "sigmoid\nn=4 of 5", "tanh"]
    for j, arr in enumerate((dead, sat)):
        expected = np.nanmean(arr.mean(axis=3), axis=1)  # the NaN seed is NaN in every layer
        for i in range(A):
            (line,) = grid[i, j].lines  # one line a panel: none can hide another
            np.testing.assert_allclose(line.get_ydata(), expected[i], rtol=1e-12)
    lo, hi = grid[0, 0].get_ylim()
    assert -0.05 <= lo <= 0 and 1 <= hi <= 1.05
    assert fig.legends == []  # the rows are named


def test_unit_fractions_leave_out_an_activation_without_census_and_say_so():
    dead = np.random.default_rng(3).uniform(0, 0.5, (A, S, E, L))
    dead[2] = np.nan  # e.g. softmax: no per-unit census
    fig = plots.unit_fractions(STEPS, dead, dead, NAMES, inactive=dead)
    assert len(fig.axes) == 2 * 3
    assert "no census value, not shown: tanh" in fig.get_suptitle()


def test_unit_fractions_wrap_into_blocks_past_twelve_activations():
    n = 13
    dead = np.random.default_rng(4).uniform(0, 0.5, (n, 2, E, L))
    fig = plots.unit_fractions(STEPS, dead, dead, [f"a{i}" for i in range(n)])
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (7, 4)  # 2 blocks of 7 rows
    assert len(fig.axes) == 2 * n  # the empty last row of the second block is removed


def test_unit_fractions_shapes_must_agree():
    dead = np.zeros((A, S, E, L))
    with pytest.raises(ValueError, match="saturated"):
        plots.unit_fractions(STEPS, dead, np.zeros((A, S + 1, E, L)), NAMES)


# --------------------------------------------------------------------------- final_distribution


def test_final_distribution_points_and_t_interval():
    rng = np.random.default_rng(3)
    values = rng.normal(0.9, 0.02, (A, S))
    values[1, 2] = np.nan
    values[2, 0] = -np.inf
    fig = plots.final_distribution(values, NAMES, ylabel="accuracy")
    (ax,) = fig.axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]  # scatter only
    assert [len(c.get_offsets()) for c in points] == [5, 4, 4]  # non-finite not drawn
    for c, v in zip(points, values):
        np.testing.assert_allclose(np.sort(c.get_offsets()[:, 1]), np.sort(v[np.isfinite(v)]))
    mean, low, high = _t_interval(values, axis=1)
    assert len(ax.containers) == A
    for cont, m, lo, hi in zip(ax.containers, mean, low, high):
        data_line, caps, _ = cont.lines
        np.testing.assert_allclose(_y(data_line), [m])
        np.testing.assert_allclose(np.sort(np.concatenate([_y(c) for c in caps])), [lo, hi])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["relu", "sigmoid\n(1 diverged)", "tanh\n(1 diverged)"]


def test_final_distribution_draws_given_diverged_seeds_as_crosses():
    values = np.full((A, S), 0.9)
    diverged = np.zeros((A, S), bool)
    diverged[0, :2] = True
    values[diverged] = 0.1  # scored at chance by the caller's rule
    ax = plots.final_distribution(values, NAMES, ylabel="y", diverged=diverged).axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in points] == [3, 2, 5, 5]  # relu: dots, crosses
    np.testing.assert_allclose(points[1].get_offsets()[:, 1], 0.1)
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "relu\n(2 diverged)"
    assert ax.get_title().endswith("x: diverged")


def test_final_distribution_turns_names_upright_when_they_do_not_fit():
    names = [f"activation_number_{i}" for i in range(12)]
    ax = plots.final_distribution(np.zeros((12, 3)), names, ylabel="y").axes[0]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {90.0}
    ax = plots.final_distribution(np.zeros((A, 3)), NAMES, ylabel="y").axes[0]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0.0}


def test_final_distribution_jitter_is_fixed():
    values = np.random.default_rng(4).normal(size=(A, S))
    a = plots.final_distribution(values, NAMES, ylabel="y").axes[0].collections[0]
    b = plots.final_distribution(values, NAMES, ylabel="y").axes[0].collections[0]
    np.testing.assert_array_equal(a.get_offsets(), b.get_offsets())


def test_final_distribution_uses_summary_cis():
    values = np.random.default_rng(5).normal(size=(A, S))
    summary = pd.DataFrame(
        {
            "name": NAMES[::-1],  # row order need not match names
            "mean": [3.0, 2.0, 1.0],
            "ci_low": [2.5, 1.5, 0.5],
            "ci_high": [3.5, 2.5, 1.5],
        }
    )
    ax = plots.final_distribution(values, NAMES, ylabel="y", summary=summary).axes[0]
    for cont, m in zip(ax.containers, [1.0, 2.0, 3.0]):
        data_line, caps, _ = cont.lines
        np.testing.assert_allclose(_y(data_line), [m])
        caps_y = np.sort(np.concatenate([_y(c) for c in caps]))
        np.testing.assert_allclose(caps_y, [m - 0.5, m + 0.5])
    with pytest.raises(ValueError, match="no row for"):
        plots.final_distribution(values, NAMES, ylabel="y", summary=summary.iloc[:2])


# --------------------------------------------------------------------------- time_to_threshold


def test_time_to_threshold_cumulative_fraction():
    times = np.array(
        [
            [100.0, 300.0, 200.0, 50.0, 400.0],  # all reached
            [np.inf, 600.0, np.inf, 2000.0, np.nan],  # 1 within max_step (2000 > 1000)
            [np.inf] * 5,  # never
        ]
    )
    fig = plots.time_to_threshold(times, NAMES, max_step=1000)
    (ax,) = fig.axes
    assert len(ax.lines) == A
    relu, sig, tanh = ax.lines
    np.testing.assert_allclose(relu.get_xdata(), [0, 50, 100, 200, 300, 400, 1000])
    np.testing.assert_allclose(relu.get_ydata(), [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    np.testing.assert_allclose(sig.get_xdata(), [0, 600, 1000])
    np.testing.assert_allclose(sig.get_ydata(), [0, 0.2, 0.2])
    np.testing.assert_allclose(tanh.get_ydata(), [0, 0])
    assert relu.get_drawstyle() == "steps-post"
    assert ax.get_xlim() == (0, 1000)
    assert _legend_texts(fig) == ["relu (5/5)", "sigmoid (1/5)", "tanh (0/5)"]


def test_time_to_threshold_legend_counts_diverged_seeds():
    times = np.array([[100.0] * 5, [np.inf] * 5, [200.0, np.inf, np.inf, 50.0, 50.0]])
    diverged = np.array([[False] * 5, [True] * 5, [False, True, True, False, False]])
    fig = plots.time_to_threshold(times, NAMES, max_step=1000, diverged=diverged)
    assert _legend_texts(fig) == [
        "relu (5/5)",
        "sigmoid (0/5, 5 diverged)",
        "tanh (3/5, 2 diverged)",
    ]


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("n", [1, 3, 5, 10, 11, 23, 40])
def test_styles_tell_every_activation_apart(n):
    styles = plots._styles(n)
    keys = {(s["color"], str(s["linestyle"])) for s in styles}
    assert len(keys) == n  # no two activations share colour and line style
    widths = [s["linewidth"] for s in styles]
    assert widths == sorted(widths, reverse=True)  # a later line never covers an earlier one
    if n > 1:
        assert all(s["linestyle"] != "-" for s in styles[1:10])  # only the first is solid


@pytest.mark.parametrize(
    "n, ncols", [(1, 1), (4, 4), (5, 5), (6, 3), (7, 4), (8, 4), (9, 3), (10, 5), (12, 4)]
)
def test_columns_leave_the_fewest_empty_cells(n, ncols):
    assert plots._columns(n) == ncols


def test_layer_heatmap_five_panels_in_one_row_and_ticks_above_an_empty_cell():
    values = np.random.default_rng(9).lognormal(size=(5, 2, E, L))
    fig = plots.layer_heatmap(STEPS, values, [f"a{i}" for i in range(5)])
    panels = [ax for ax in fig.axes if ax.images]
    assert panels[0].get_subplotspec().get_geometry()[:2] == (1, 5)
    values = np.random.default_rng(9).lognormal(size=(7, 2, E, L))
    fig = plots.layer_heatmap(STEPS, values, [f"a{i}" for i in range(7)])
    panels = [ax for ax in fig.axes if ax.images]
    assert panels[0].get_subplotspec().get_geometry()[:2] == (2, 4)
    FigureCanvasAgg(fig).draw()
    shows = [any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()) for ax in panels]
    assert shows == [False, False, False, True, True, True, True]  # a3 has no panel below


# --------------------------------------------------------------------------- activation_gallery


def test_activation_gallery_function_and_derivative():
    fns = [jax.nn.relu, jax.nn.sigmoid, jnp.tanh]
    fig = plots.activation_gallery(NAMES, fns)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == NAMES
    for ax in panels:
        data = [ln for ln in ax.lines if len(ln.get_xdata()) == 401]
        assert len(data) == 2  # f solid, f' dashed (plus the two zero axes)
        assert len(ax.lines) == 4
        f, df = data
        assert f.get_linestyle() == "-" and df.get_linestyle() == "--"
        x = np.asarray(f.get_xdata(), np.float64)
        np.testing.assert_allclose(x, np.linspace(-5, 5, 401), atol=1e-6)
        s = 1 / (1 + np.exp(-x))
        y, dy = {
            "relu": (np.maximum(x, 0), (x > 0).astype(float)),  # jax: relu'(0) = 0
            "sigmoid": (s, s * (1 - s)),
            "tanh": (np.tanh(x), 1 - np.tanh(x) ** 2),
        }[ax.get_title()]
        np.testing.assert_allclose(f.get_ydata(), y, atol=1e-6)  # float32
        np.testing.assert_allclose(df.get_ydata(), dy, atol=1e-6)


def test_activation_gallery_grid_has_five_columns():
    fns = [lambda z, k=k: jnp.tanh(k * z) for k in range(12)]
    fig = plots.activation_gallery([f"f{k}" for k in range(12)], fns, x=np.linspace(-1, 1, 5))
    assert len(fig.axes) == 12  # the 3 unused cells of the 3 x 5 grid are removed
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (3, 5)


def test_activation_gallery_needs_one_fn_per_name():
    with pytest.raises(ValueError, match="one per name"):
        plots.activation_gallery(NAMES, [jnp.tanh])


# --------------------------------------------------------------------------- save


def test_save_writes_png(tmp_path):
    fig = plots.layer_heatmap(STEPS, _grad_norms(), NAMES)
    path = plots.save(fig, tmp_path / "sub" / "dir" / "heat.png")
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- shape checks


_BAD = [
    # (call, message fragment)
    (lambda: plots.learning_curves(STEPS, np.zeros((2, S, E)), NAMES, ylabel="y"), "len(names)=3"),
    (lambda: plots.learning_curves(STEPS[:-1], np.zeros((A, S, E)), NAMES, ylabel="y"), "=6"),
    (lambda: plots.learning_curves(STEPS, np.zeros((A, E)), NAMES, ylabel="y"), "seeds, evals"),
    (lambda: plots.layer_heatmap(STEPS, np.zeros((A, S, E + 1, L)), NAMES), "len(steps)=7"),
    (lambda: plots.layer_heatmap(STEPS, np.zeros((A, S, E)), NAMES), "evals, layers"),
    (
        lambda: plots.unit_fractions(STEPS, np.zeros((4, S, E, L)), np.zeros((4, S, E, L)), NAMES),
        "len(names)=3",
    ),
    (lambda: plots.final_distribution(np.zeros((A + 1, S)), NAMES, ylabel="y"), "[acts, seeds]"),
    (lambda: plots.time_to_threshold(np.zeros(A), NAMES, max_step=10), "[acts, seeds]"),
    (lambda: plots.learning_curves(np.zeros((E, 1)), np.zeros((A, S, E)), NAMES, ylabel="y"), ""),
]


@pytest.mark.parametrize("call, fragment", _BAD, ids=range(len(_BAD)))
def test_mismatched_shapes_raise(call, fragment):
    with pytest.raises(ValueError, match="expected") as err:
        call()
    assert fragment in str(err.value)
