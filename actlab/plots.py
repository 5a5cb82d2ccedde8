"""Plots: arrays with named axes in, `matplotlib.figure.Figure` out.

Every function takes host arrays whose axes are named in its docstring (for example
`values: [acts, seeds, evals]`) plus the activation `names`, and returns a new Figure.
Figures are built with `matplotlib.figure.Figure` directly, so nothing here touches pyplot
state or needs a display; nothing calls `show()`. Use `save` to write a PNG.

The plots apply no rule for diverged models: the caller does (``Record.curve(metric,
diverged_as=...)``, ``actlab.outcome``) and passes the result. NaN is a missing value (a seed
left out at that point: figures state n where any is missing). Means and their t-intervals are
taken over the finite values; medians take +inf as a value (a failed run's loss: the worst
rank), so they stay meaningful while fewer than half the seeds failed. Callers that know which
seeds diverged pass ``diverged: [acts, seeds]`` and the figure counts them; otherwise a seed
with any non-finite value counts as diverged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from actlab.stats import summarize

__all__ = [
    "activation_gallery",
    "final_distribution",
    "layer_heatmap",
    "learning_curves",
    "ratio_curve",
    "save",
    "time_to_threshold",
    "unit_fractions",
]

_FLOOR = np.finfo(np.float64).tiny  # log10 floor for zeros: far below any real value


# --------------------------------------------------------------------------- helpers


def _check(
    arr: np.ndarray,
    arg: str,
    axes: str,
    names: Sequence[str],
    steps: np.ndarray | None = None,
) -> np.ndarray:
    """Checks `arr` against its named axes; the first is acts, `evals` (if any) is steps."""
    arr = np.asarray(arr, dtype=np.float64)
    axis_names = [a.strip() for a in axes.strip("[]").split(",")]
    expected = [f"len(names)={len(names)}" if a == "acts" else a for a in axis_names]
    if steps is not None:
        expected = [
            f"len(steps)={len(steps)}" if a == "evals" else e for a, e in zip(axis_names, expected)
        ]
    want = f"{axes} = ({', '.join(expected)})"
    if arr.ndim != len(axis_names):
        raise ValueError(f"{arg} has shape {arr.shape}; expected {want}")
    if arr.shape[0] != len(names):
        raise ValueError(f"{arg} has shape {arr.shape}; expected {want}")
    if steps is not None and arr.shape[axis_names.index("evals")] != len(steps):
        raise ValueError(f"{arg} has shape {arr.shape}; expected {want}")
    return arr


def _check_steps(steps) -> np.ndarray:
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1:
        raise ValueError(f"steps has shape {steps.shape}; expected [evals]")
    return steps


def _over_seeds(x: np.ndarray, ci: float, bounds=None) -> pd.DataFrame:
    """``actlab.stats.summarize`` over the seeds of ``x: [acts, seeds, evals]``, one row per
    (act, eval), act-major: the tables' statistics, so a curve's last point is the table's
    number. NaN is missing; ``bounds``: the metric's range, which the intervals keep to."""
    rows = np.moveaxis(x, 1, 2).reshape(-1, x.shape[1])  # [acts * evals, seeds]
    return summarize(rows, [str(i) for i in range(len(rows))], confidence=ci, bounds=bounds)


def _mean_ci(x: np.ndarray, ci: float = 0.95, bounds=None):
    """Mean over the seeds of ``x: [acts, seeds, evals]`` and its t-interval (within
    ``bounds``, as ``stats.summarize`` keeps them), over the finite values (+-inf left out,
    as NaN). Returns (mean, low, high), each [acts, evals]; the interval is NaN where fewer
    than 2 finite values remain."""
    table = _over_seeds(np.where(np.isfinite(x), x, np.nan), ci, bounds)
    shape = (x.shape[0], x.shape[2])
    return tuple(
        table[c].to_numpy(np.float64).reshape(shape) for c in ("mean", "ci_low", "ci_high")
    )


# the first solid, then ten patterns no two alike, so no dashed line lies exactly on another
_DASHES = (
    "-",
    (0, (4, 1.5)),
    (0, (4, 1.5, 1, 1.5)),
    (0, (1, 1.2)),
    (0, (7, 2)),
    (0, (4, 1.5, 1, 1.5, 1, 1.5)),
    (0, (2, 2)),
    (0, (7, 2, 1, 2)),
    (0, (1, 2.5)),
    (0, (3, 1, 3, 3)),
)


def _styles(n: int) -> list[dict]:
    """Colour, line style and width for each of n activations.

    Colours are tab10 (tab20 past 10). Curves of two activations can coincide (every seed at
    chance, none reaching a threshold), so the later one must not hide the earlier: each
    activation also gets its own dash pattern (the earlier line shows through the gaps) and
    a thinner line than the one before (its edges show).
    """
    cmap, k = (colormaps["tab10"], 10) if n <= 10 else (colormaps["tab20"], 20)
    widths = np.linspace(2.4, 1.3, n) if n > 1 else [2.0]
    return [
        {
            "color": cmap(i % k),
            # i + i // k: activations that share a colour (i, i + 20) never share a pattern
            "linestyle": _DASHES[(i + i // k) % len(_DASHES)],
            "linewidth": float(widths[i]),
        }
        for i in range(n)
    ]


def _fmt_step(v: float) -> str:
    """1500 -> '1.5k', 2e6 -> '2M'."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


_STEP_FORMATTER = FuncFormatter(lambda v, _: _fmt_step(v))


def _n_diverged(x: np.ndarray, diverged=None) -> np.ndarray:
    """[acts]: seeds flagged in ``diverged: [acts, seeds]`` if given, else seeds of
    ``x: [acts, seeds, ...]`` with any non-finite value."""
    if diverged is not None:
        d = np.asarray(diverged, dtype=bool)
        if d.shape != x.shape[:2]:
            raise ValueError(
                f"diverged has shape {d.shape}; expected [acts, seeds] = {x.shape[:2]}"
            )
        return d.sum(axis=1)
    bad = ~np.isfinite(x).reshape(x.shape[0], x.shape[1], -1)
    return bad.any(axis=2).sum(axis=1)


def _label(name: str, diverged: int, seeds: int, n: int | None = None) -> str:
    """'relu (5/20 diverged; n=15 at the end)': n only where it is below seeds."""
    notes = [f"{diverged}/{seeds} diverged"] if diverged else []
    if n is not None and n < seeds:
        notes.append(f"n={n} at the end")
    return f"{name} ({'; '.join(notes)})" if notes else name


_LEGEND_ROWS = 30  # entries per legend column before a second column starts


def _legend_figsize(labels: Sequence[str], width: float, height: float) -> tuple[float, float]:
    """Figure size with room on the right for a legend of these labels, so the axes keep
    ``width`` however long the labels are (~0.065 in a character at the legend's size)."""
    ncols = max(1, math.ceil(len(labels) / _LEGEND_ROWS))
    rows = math.ceil(len(labels) / ncols)
    column = 0.7 + 0.065 * max((len(t) for t in labels), default=0)
    return width + max(2.3, column) * ncols, max(height, 0.21 * rows + 0.8)


def _legend(fig: Figure, handles, labels) -> None:
    """One legend outside the axes, right, so it never covers data."""
    ncols = max(1, math.ceil(len(labels) / _LEGEND_ROWS))
    fig.legend(handles, labels, loc="outside right upper", ncols=ncols, fontsize="small")


def _columns(n: int, most: int = 5) -> int:
    """Columns for n panels: one row up to ``most``, else the fewest empty cells, then the
    fewest rows (5 -> 5, 6 -> 3, 7 -> 4, 9 -> 3, 12 -> 4)."""
    if n <= most:
        return max(n, 1)
    return min(range(3, most + 1), key=lambda c: (-n % c, math.ceil(n / c)))


def _grid(fig: Figure, n: int, ncols: int, **kw) -> list[Axes]:
    """n axes in a grid of `ncols` columns; unused cells removed, and the panel above a
    removed cell shows its x tick labels (sharex hides all but the bottom row's)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax in axes[max(0, n - ncols) : n]:
        ax.tick_params(labelbottom=True)
    return list(axes[:n])


def _median_band(x: np.ndarray, ci: float):
    """Median over seeds of ``x: [acts, seeds, evals]`` and a distribution-free band.

    NaN is missing; +-inf are values. The band is the CI of the median that
    ``stats.summarize`` reports (sign test inverted: order statistics); where n is too small
    for any pair of them to reach ``ci`` (n <= 5 at 95 %), the sample's range [min, max],
    whose coverage is 1 - 2 / 2**n. Returns (median, low, high, small) with ``small``
    [acts, evals] True where the range was used.
    """
    acts, seeds, evals = x.shape
    rows = np.moveaxis(x, 1, 2).reshape(-1, seeds)  # [acts * evals, seeds], as _over_seeds
    table = _over_seeds(x, ci)
    n = table["n"].to_numpy()
    med, low, high = (
        table[c].to_numpy(np.float64) for c in ("median", "median_ci_low", "median_ci_high")
    )
    small = (n > 0) & (n <= _too_few(ci))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        low = np.where(small, np.nanmin(rows, axis=1), low)
        high = np.where(small, np.nanmax(rows, axis=1), high)
    shape = (acts, evals)
    return med.reshape(shape), low.reshape(shape), high.reshape(shape), small.reshape(shape)


def _too_few(ci: float) -> int:
    """Largest n at which no pair of order statistics covers the median with ``ci``: the
    widest, [min, max], covers it with 1 - 2 / 2**n (5 at 95 %)."""
    return max((n for n in range(1, 64) if 1 - 2 * 0.5**n < ci), default=0)


def _limits(ax: Axes, line, low, high, *, logy: bool, bounds=None, tight_low: bool) -> None:
    """Sets y limits from the finite values of ``line``, ``low`` and ``high`` (positive ones
    on a log axis). ``tight_low``: a low end (a t-interval's) far below every line value
    runs off the bottom rather than stretch the axis over decades."""
    ends = [np.asarray(a, np.float64).ravel() for a in (line, low, high)]
    if bounds is not None:
        ends = [np.clip(e, *bounds) for e in ends]
    ok = [e[np.isfinite(e) & ((e > 0) if logy else True)] for e in ends]
    allv = np.concatenate(ok)
    if not allv.size:
        return
    lo, hi = allv.min(), allv.max()
    if tight_low and logy and ok[0].size:
        lo = max(lo, ok[0].min() / 10)
    if logy:  # pad by 5 % of the decades shown, as the linear axis pads by 5 % of the span
        lo_l, hi_l = np.log10(lo), np.log10(hi)
        pad = 0.05 * (hi_l - lo_l) if hi_l > lo_l else 0.1
        ax.set_ylim(10 ** (lo_l - pad), 10 ** (hi_l + pad))
    else:
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        ax.set_ylim(lo - pad, hi + pad)


def _to_edges(ax: Axes, low, high, *, logy: bool):
    """Band ends an axis cannot draw (+-inf; <= 0 on a log axis) moved past its edges, so the
    band runs to the edge instead of stopping: the interval is unbounded there."""
    bottom, top = ax.get_ylim()
    below = bottom / 10 if logy else bottom - (top - bottom)
    above = top * 10 if logy else top + (top - bottom)
    low = np.where(np.isneginf(low) | ((low <= 0) if logy else False), below, low)
    high = np.where(np.isposinf(high), above, high)
    return low, high


def _band(ax: Axes, x, mean, low, high, style: dict, label: str) -> None:
    ax.plot(x, mean, label=label, **style)
    ax.fill_between(x, low, high, color=style["color"], alpha=0.2, linewidth=0)


# --------------------------------------------------------------------------- plots


def learning_curves(
    steps,
    values,
    names: Sequence[str],
    *,
    ylabel: str,
    logy: bool = False,
    ci: float = 0.95,
    title: str | None = None,
    bounds: tuple[float, float] | None = None,
    statistic: str = "mean",
    diverged=None,
) -> Figure:
    """Per activation, the mean (or median) over seeds at each step, with a shaded band.

    steps: [evals]; values: [acts, seeds, evals]; diverged: [acts, seeds] bool, the seeds
    the legend counts as diverged (default: those with any non-finite value). NaN is a
    missing value; where any seed is missing at the last step the legend gives n there.

    The title is ``title`` (default: what is drawn over how many seeds) over a line that
    says what the band is.

    ``statistic="mean"``: mean and ``ci`` t-interval of the mean over the finite values
    (+-inf left out, as NaN). ``"median"``: +-inf count as values (the worst rank), the band
    is the distribution-free CI of the median (``_median_band``: order statistics; the range
    where n is too small for them, as the title says); a median of +inf leaves a gap.
    ``bounds``: the metric's range (e.g. (0, 1) for an accuracy, where a t-interval over few
    seeds can run past it). The mean's interval keeps to it as the report's tables do
    (``stats.summarize(bounds=...)``: intersected with it, or, where every seed sits at a
    bound, the exact one-sided bound); lines and the median's band are clipped to it. A
    band end the axis cannot draw (infinite, or <= 0 on a log axis) runs to the axis' edge.
    """
    steps = _check_steps(steps)
    values = _check(values, "values", "[acts, seeds, evals]", names, steps)
    if statistic == "mean":
        line, low, high = _mean_ci(values, ci, bounds)
        band = f"shaded: {ci:.0%} t-interval of the mean"
        small = np.zeros(line.shape, bool)
        n_last = np.isfinite(values[:, :, -1]).sum(axis=1)
    elif statistic == "median":
        line, low, high, small = _median_band(values, ci)
        band = f"shaded: {ci:.0%} CI of the median (order statistics)"
        n_last = (~np.isnan(values[:, :, -1])).sum(axis=1)
    else:
        raise ValueError(f"statistic must be 'mean' or 'median'; got {statistic!r}")
    if bounds is not None:
        line, low, high = (np.clip(a, *bounds) for a in (line, low, high))

    diverged = _n_diverged(values, diverged)
    seeds = values.shape[1]
    labels = [_label(name, diverged[i], seeds, n_last[i]) for i, name in enumerate(names)]
    fig = Figure(figsize=_legend_figsize(labels, 6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if logy:
        ax.set_yscale("log")
    _limits(ax, line, low, high, logy=logy, bounds=bounds, tight_low=statistic == "mean")
    low, high = _to_edges(ax, low, high, logy=logy)
    line = np.where(np.isfinite(line), line, np.nan)  # an infinite median: a gap
    for i, (label, style) in enumerate(zip(labels, _styles(len(names)))):
        _band(ax, steps, line[i], low[i], high[i], style, label)
    ax.xaxis.set_major_formatter(_STEP_FORMATTER)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_xlim(steps.min(initial=0), steps.max(initial=1))
    ax.grid(alpha=0.3)
    if small.any():
        band += f", or min-max where n ≤ {_too_few(ci)}"
    headline = title or f"{ylabel}: {statistic} over {seeds} seeds"
    ax.set_title(f"{headline}\n{band}", fontsize="medium")
    _legend(fig, *ax.get_legend_handles_labels())
    return fig


def layer_heatmap(
    steps,
    values,
    names: Sequence[str],
    *,
    label: str = "gradient L2 norm",
    log: bool = True,
    title: str | None = None,
) -> Figure:
    """One panel per activation: layer (y, layer 1 = input side at the bottom) x step (x).

    steps: [evals]; values: [acts, seeds, evals, layers]. Colour is the median over seeds,
    as log10 when `log` (values <= 0 floored at the smallest positive float64, drawn in the
    'under' colour), on one colour scale shared by all panels. NaN is a missing seed (the
    median is over the others; a panel's title gives n at the last step where any is
    missing); grey: every seed NaN; red: median +inf. Up to 5 panels in a row, more in the
    grid with the fewest empty cells (``_columns``). ``title``: the headline, default
    "{label}: median over {seeds} seeds, per layer and step".
    """
    steps = _check_steps(steps)
    values = _check(values, "values", "[acts, seeds, evals, layers]", names, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
        med = np.nanmedian(values, axis=1)  # [acts, evals, layers]
    if log:
        floored = ~(med > 0)  # zeros and negatives; NaN stays NaN below
        img = np.log10(np.where(floored, _FLOOR, med))
        img[np.isnan(med)] = np.nan
        scale = img[np.isfinite(img) & ~floored]
    else:
        floored = np.zeros(med.shape, bool)
        img = med.copy()
        scale = img[np.isfinite(img)]
    vmin, vmax = (scale.min(), scale.max()) if scale.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 1, vmax + 1
    over = np.isposinf(img)
    img[over] = vmax + (vmax - vmin)  # finite, so resampling stays clean; still 'over'
    under = (img < vmin).any()

    n, seeds = len(names), values.shape[1]
    n_end = (~np.isnan(values[:, :, -1])).any(axis=-1).sum(axis=1)  # [acts]
    ncols = _columns(n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.6 * ncols + 1.2, 2.3 * nrows + 1.3), layout="constrained")
    axes = _grid(fig, n, ncols, sharex=True, sharey=True)
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey", under="black", over="red")
    norm = Normalize(vmin, vmax)
    layers, evals = values.shape[3], values.shape[2]
    for i, ax in enumerate(axes):
        im = ax.imshow(
            img[i].T,  # [layers, evals]: rows are layers
            origin="lower",  # row 0 = layer 1 (input side) at the bottom
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            norm=norm,
            extent=(-0.5, evals - 0.5, 0.5, layers + 0.5),
        )
        missing = f"\nn={n_end[i]} of {seeds} at the end" if n_end[i] < seeds else ""
        ax.set_title(names[i] + missing, fontsize="medium")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _: _fmt_step(steps[int(v)]) if 0 <= v < evals else "")
        )
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("layer (1 = input side)")
        if i + ncols >= n:  # bottom panel of its column (_grid shows its tick labels)
            ax.set_xlabel("step")
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (bool(under), bool(over.any())), "both"
    )
    cbar = fig.colorbar(
        im, ax=axes, extend=extend, shrink=1.0 if nrows <= 2 else 0.6, extendfrac=0.04
    )
    cbar.set_label(f"log10 median {label}" if log else f"median {label}")
    notes = [
        note
        for present, note in (
            (log and (floored & ~np.isnan(med)).any(), "black: median 0"),
            (np.isnan(med).any(), "grey: every seed NaN"),
            (over.any(), "red: median +inf"),
        )
        if present
    ]
    title = title or f"{label}: median over {seeds} seeds, per layer and step"
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""))
    return fig


_BLOCK_ROWS = 12  # activations per block of rows in unit_fractions; more wrap to the right


def unit_fractions(
    steps,
    dead,
    saturated,
    names: Sequence[str],
    *,
    inactive=None,
    ci: float = 0.95,
    title: str | None = None,
) -> Figure:
    """Fraction of dead and of saturated units over training, per activation (the unit
    census, ``actlab.train.Trace``); with ``inactive``, of inactive units too.

    steps: [evals]; dead, saturated, inactive: [acts, seeds, evals, layers], fractions in
    [0, 1]. Each seed is averaged over layers, then the line is the mean over seeds with a
    ``ci`` t-interval band, kept to [0, 1] as ``stats.summarize`` keeps it. NaN is a missing
    seed (the row label gives n at the last step where any is missing).

    Small multiples: one row per activation, one column per kind (inactive if given, dead,
    saturated), all on the same [0, 1] y axis. Census fractions often coincide (0 for every
    activation that cannot die, inactive = dead for ReLU), so lines sharing one axes would
    hide each other; here each panel holds one line, and reading down a column compares
    activations. Past ``_BLOCK_ROWS`` activations the rows wrap into side-by-side blocks.
    An activation with no finite value (no per-unit census, e.g. softmax) gets no row; the
    title names it. ``title``: the headline, default "mean over {seeds} seeds".
    """
    steps = _check_steps(steps)
    axes_names = "[acts, seeds, evals, layers]"
    kinds = {} if inactive is None else {"inactive": inactive}
    kinds.update(dead=dead, saturated=saturated)
    kinds = {what: _check(arr, what, axes_names, names, steps) for what, arr in kinds.items()}
    dead = kinds["dead"]
    for what, arr in kinds.items():
        if arr.shape != dead.shape:
            raise ValueError(
                f"dead has shape {dead.shape} but {what} has shape {arr.shape}; "
                f"all must be {axes_names}"
            )
    curves = {}
    for what, arr in kinds.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
            per_seed = np.nanmean(np.where(np.isfinite(arr), arr, np.nan), axis=3)
        mean, low, high = _mean_ci(per_seed, ci, (0.0, 1.0))  # [acts, evals] each
        curves[what] = (mean, low, high, per_seed)
    has_data = np.any([np.isfinite(c[0]).any(axis=1) for c in curves.values()], axis=0)
    shown = [i for i in range(len(names)) if has_data[i]]
    if not shown:
        raise ValueError("unit_fractions: no activation has a finite census value")
    seeds = dead.shape[1]
    n_end = np.isfinite(curves["dead"][3][:, :, -1]).sum(axis=1)

    k, n = len(kinds), len(shown)
    blocks = math.ceil(n / _BLOCK_ROWS)
    rows = math.ceil(n / blocks)
    fig = Figure(figsize=(blocks * (2.3 * k + 1.4), 0.95 * rows + 1.3), layout="constrained")
    grid = fig.subplots(rows, k * blocks, sharex=True, sharey=True, squeeze=False)
    styles = _styles(len(names))
    for cell in range(blocks * rows):
        b, r = divmod(cell, rows)
        for j, what in enumerate(kinds):
            ax = grid[r, b * k + j]
            if cell >= n:
                fig.delaxes(ax)
                continue
            i = shown[cell]
            mean, low, high, _ = curves[what]
            style = {"color": styles[i]["color"], "linestyle": "-"}  # alone in its panel
            _band(ax, steps, mean[i], low[i], high[i], style, names[i])
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize="small")
            if r == 0:
                ax.set_title(f"{what} units", fontsize="medium")
            if r == rows - 1 or cell + 1 == n:  # bottom of its block: x ticks and label
                ax.tick_params(labelbottom=True)
                ax.set_xlabel("step", fontsize="small")
            if j == 0:
                ax.tick_params(labelleft=True)
                label = names[i] + (f"\nn={n_end[i]} of {seeds}" if n_end[i] < seeds else "")
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    ax0 = grid[0, 0]
    ax0.set_ylim(-0.04, 1.04)
    ax0.set_yticks([0, 0.5, 1])
    ax0.set_xlim(steps.min(initial=0), steps.max(initial=1))
    ax0.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax0.xaxis.set_major_formatter(_STEP_FORMATTER)
    lines = [
        title or f"mean over {seeds} seeds",
        f"fraction of units (mean over layers); shaded: {ci:.0%} t-interval of the mean",
    ]
    hidden = [names[i] for i in range(len(names)) if not has_data[i]]
    if hidden:
        lines.append(f"no census value, not shown: {', '.join(hidden)}")
    fig.suptitle("\n".join(lines))
    return fig


def final_distribution(
    values,
    names: Sequence[str],
    *,
    ylabel: str,
    summary: pd.DataFrame | None = None,
    diverged=None,
    title: str | None = None,
) -> Figure:
    """Strip plot of one number per seed, with the mean and its CI, per activation.

    values: [acts, seeds]. Points are jittered with a fixed seed. ``diverged``: [acts,
    seeds] bool; those seeds are drawn as crosses (their values are whatever the caller's
    rule made them, e.g. chance) and counted under the name. Without it, non-finite seeds
    count as diverged. Non-finite values are not drawn. `summary`, if given, is a DataFrame
    with columns name, mean, ci_low, ci_high (one row per name) whose interval is drawn
    instead of the 95 % t-interval computed here. The figure is wide enough for the names
    side by side; past ~12 in they are turned upright. ``title``: the headline, default
    "{ylabel}, {seeds} seeds each".
    """
    values = _check(values, "values", "[acts, seeds]", names)
    if summary is not None:
        missing = {"name", "mean", "ci_low", "ci_high"} - set(summary.columns)
        if missing:
            raise ValueError(f"summary lacks columns {sorted(missing)}")
        absent = [n for n in names if n not in set(summary["name"])]
        if absent:
            raise ValueError(f"summary has no row for {absent}")
        s = summary.drop_duplicates("name").set_index("name").loc[list(names)]
        mean, low, high = (s[c].to_numpy(np.float64) for c in ("mean", "ci_low", "ci_high"))
    else:
        mean, low, high = (a[:, 0] for a in _mean_ci(values[:, :, None]))
    flagged = ~np.isfinite(values) if diverged is None else np.asarray(diverged, dtype=bool)
    if flagged.shape != values.shape:
        raise ValueError(f"diverged has shape {flagged.shape}; expected {values.shape}")

    n = len(names)
    counts = flagged.sum(axis=1)
    ticks = [f"{name}\n({d} diverged)" if d else name for name, d in zip(names, counts)]
    longest = max(len(line) for t in ticks for line in t.split("\n"))
    slot = max(0.7, 0.09 * longest + 0.25)  # inches per name, ~0.09 in a character
    rotate = slot * n + 1.6 > 12
    width = 0.4 * n + 2 if rotate else slot * n + 1.6
    longest_flat = max(len(t.replace("\n", " ")) for t in ticks)
    height = 4.5 + (0.085 * longest_flat if rotate else 0)  # room for upright names
    fig = Figure(figsize=(max(5.0, width), height), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    styles = _styles(n)
    for i in range(n):
        v = values[i]
        ok = np.isfinite(v)
        jitter = rng.uniform(-0.18, 0.18, size=v.shape)
        for keep, marker, size in ((ok & ~flagged[i], "o", 14), (ok & flagged[i], "x", 22)):
            if not keep.any():
                continue
            ax.scatter(
                i + jitter[keep], v[keep], s=size, alpha=0.6, color=styles[i]["color"],
                marker=marker, zorder=2,
            )  # fmt: skip
        if np.isfinite(mean[i]):
            yerr = None
            if np.isfinite(low[i]) and np.isfinite(high[i]):
                yerr = [[mean[i] - low[i]], [high[i] - mean[i]]]
            ax.errorbar(
                i + 0.3, mean[i], yerr=yerr, fmt="o", color="black", ms=5, capsize=3, zorder=3
            )
    if rotate:  # one line each, upright: rotated two-line labels read badly
        ticks = [t.replace("\n", " ") for t in ticks]
        ax.set_xticks(range(n), ticks, rotation=90)
    else:
        ax.set_xticks(range(n), ticks)
    ax.set_xlim(-0.6, n - 0.3)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ci_what = "CI as in the table" if summary is not None else "95% t-interval"
    x_what = ", x: diverged" if flagged[np.isfinite(values)].any() else ""
    headline = title or f"{ylabel}, {values.shape[1]} seeds each"
    ax.set_title(f"{headline}\nblack: mean, {ci_what}{x_what}", fontsize="medium")
    return fig


def time_to_threshold(
    times,
    names: Sequence[str],
    *,
    max_step: float,
    xlabel: str = "steps",
    diverged=None,
    title: str | None = None,
) -> Figure:
    """Fraction of seeds that reached the threshold by step t, per activation.

    times: [acts, seeds], the first step at which each seed reached the threshold; +inf
    (or NaN, e.g. diverged) where it never did. Times above `max_step` count as not
    reached. Every seed is in the denominator. A step curve from (0, 0) to `max_step`; the
    legend gives reached/seeds, and with ``diverged`` ([acts, seeds] bool) how many
    diverged. ``title``: default "time to threshold ({seeds} seeds; legend: reached /
    seeds)".
    """
    times = _check(times, "times", "[acts, seeds]", names)
    if not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step}")
    seeds = times.shape[1]
    d = np.zeros(len(names), int) if diverged is None else _n_diverged(times, diverged)
    hits = [np.sort(t[np.isfinite(t) & (t <= max_step)]) for t in times]
    labels = [
        f"{name} ({hit.size}/{seeds}" + (f", {k} diverged)" if k else ")")
        for name, hit, k in zip(names, hits, d)
    ]
    fig = Figure(figsize=_legend_figsize(labels, 6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for hit, label, style in zip(hits, labels, _styles(len(names))):
        x = np.concatenate([[0.0], hit, [max_step]])
        y = np.concatenate([[0.0], np.arange(1, hit.size + 1) / seeds, [hit.size / seeds]])
        ax.step(x, y, where="post", label=label, **style)
    ax.set_xlim(0, max_step)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(_STEP_FORMATTER)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of seeds that reached threshold")
    ax.grid(alpha=0.3)
    ax.set_title(
        title or f"time to threshold ({seeds} seeds; legend: reached / seeds)", fontsize="medium"
    )
    _legend(fig, *ax.get_legend_handles_labels())
    return fig


def ratio_curve(
    x,
    ratio,
    low,
    high,
    *,
    xlabel: str,
    ylabel: str,
    reference: float | None = None,
) -> Figure:
    """A ratio with its CI band against a threshold (log y), harder thresholds to the right.

    x, ratio, low, high: [thresholds]. A non-finite ratio (the threshold not reached by half
    the seeds) leaves a gap; an infinite bound is drawn to the axis' edge. ``reference``: a
    claimed ratio, dashed, and 1 (no difference) dotted.
    """
    x, r, lo, hi = (np.asarray(v, dtype=float) for v in (x, ratio, low, high))
    if not x.shape == r.shape == lo.shape == hi.shape or x.ndim != 1:
        raise ValueError(f"x, ratio, low, high must be [thresholds] alike; got {x.shape} etc.")
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ok = np.isfinite(r) & (r > 0)
    finite = np.concatenate([r[ok], lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi)]])
    top = 2 * max([*finite, reference or 1.0, 1.0])
    bottom = 0.5 * min([*finite, 1.0])
    style = _styles(1)[0]
    band_lo = np.where(np.isfinite(lo) & (lo > 0), lo, bottom)
    band_hi = np.where(np.isfinite(hi), hi, top)
    ax.fill_between(x, band_lo, band_hi, where=ok, color=style["color"], alpha=0.2, lw=0)
    ax.plot(x, np.where(ok, r, np.nan), marker="o", ms=3, label="ratio (95 % CI)", **style)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    if reference is not None:
        ax.axhline(reference, color="black", lw=1.0, ls="--", label=f"claimed x{reference:g}")
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def activation_gallery(
    names: Sequence[str],
    fns: Sequence[Callable],
    *,
    x=None,
) -> Figure:
    """A grid of panels (5 columns): each activation (solid) and its derivative (dashed).

    fns: elementwise callables jnp -> jnp, one per name. x: [points], default
    linspace(-5, 5, 401); the derivative is `jax.vmap(jax.grad(f))(x)`.
    """
    import jax  # only this plot needs jax; keep the rest importable without it
    import jax.numpy as jnp

    if len(fns) != len(names):
        raise ValueError(f"got {len(fns)} fns for {len(names)} names; expected one per name")
    x = jnp.linspace(-5.0, 5.0, 401) if x is None else jnp.asarray(x, dtype=jnp.float32)
    if x.ndim != 1:
        raise ValueError(f"x has shape {x.shape}; expected [points]")
    n = len(names)
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.5 * ncols, 2.0 * nrows + 0.5), layout="constrained")
    axes = _grid(fig, n, ncols, sharex=True)
    xs = np.asarray(x)
    for ax, name, f in zip(axes, names, fns):
        y = np.asarray(f(x))
        dy = np.asarray(jax.vmap(jax.grad(f))(x))
        ax.axhline(0, color="grey", lw=0.6, zorder=0)
        ax.axvline(0, color="grey", lw=0.6, zorder=0)
        ax.plot(xs, y, color="C0", lw=1.6)
        ax.plot(xs, dy, color="C1", lw=1.3, linestyle="--")
        ax.set_title(name, fontsize="medium")
        ax.tick_params(labelsize="small")
        ax.grid(alpha=0.25)
    for ax in axes[max(0, n - ncols) :]:  # bottom panel of each column shows x ticks
        ax.tick_params(labelbottom=True)
    handles = [Line2D([], [], color="C0", lw=1.6), Line2D([], [], color="C1", lw=1.3, ls="--")]
    fig.legend(handles, ["f(x)", "f'(x)"], loc="outside upper center", ncols=2)
    return fig


def save(fig: Figure, path) -> Path:
    """Writes `fig` to `path` at 120 dpi (PNG unless the suffix names another format),
    creating parent directories. Closes nothing. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format=path.suffix[1:] or "png")
    return path
