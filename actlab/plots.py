"""Plots: arrays with named axes in, `matplotlib.figure.Figure` out.

Every function takes host arrays whose axes are named in its docstring (for example
`values: [acts, seeds, evals]`) plus the activation `names`, and returns a new Figure.
Figures are built with `matplotlib.figure.Figure` directly, so nothing here touches pyplot
state or needs a display; nothing calls `show()`. Use `save` to write a PNG.

Diverged models show up as NaN or +-inf. Means and CIs are taken over the finite seeds only
(the legend says how many seeds diverged); medians ignore NaN.
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
from scipy import stats

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


def _mean_ci(x: np.ndarray, axis: int, ci: float = 0.95):
    """Mean and t-interval of the mean over `axis`, ignoring non-finite entries.

    Returns (mean, low, high); the interval is NaN where fewer than 2 finite values remain.
    """
    x = np.where(np.isfinite(x), x, np.nan)
    n = np.sum(~np.isnan(x), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN, on purpose
        mean = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1)
    half = stats.t.ppf(0.5 + ci / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half


def _styles(n: int) -> list[dict]:
    """Distinct colour (and, past 20, line style) for each of n activations."""
    if n <= 10:
        return [{"color": colormaps["tab10"](i), "linestyle": "-"} for i in range(n)]
    dashes = ["-", "--", ":", "-."]
    return [
        {"color": colormaps["tab20"](i % 20), "linestyle": dashes[(i // 20) % 4]} for i in range(n)
    ]


def _fmt_step(v: float) -> str:
    """1500 -> '1.5k', 2e6 -> '2M'."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


_STEP_FORMATTER = FuncFormatter(lambda v, _: _fmt_step(v))


def _n_diverged(x: np.ndarray) -> np.ndarray:
    """[acts, seeds, ...] -> [acts]: seeds with any non-finite value."""
    bad = ~np.isfinite(x).reshape(x.shape[0], x.shape[1], -1)
    return bad.any(axis=2).sum(axis=1)


def _label(name: str, diverged: int, seeds: int) -> str:
    return f"{name} ({diverged}/{seeds} diverged)" if diverged else name


_LEGEND_ROWS = 30  # entries per legend column before a second column starts


def _legend_figsize(n: int, width: float, height: float) -> tuple[float, float]:
    """Figure size with room on the right for a legend of n entries."""
    ncols = math.ceil(n / _LEGEND_ROWS)
    rows = math.ceil(n / ncols)
    return width + 2.3 * ncols, max(height, 0.21 * rows + 0.8)


def _legend(fig: Figure, handles, labels) -> None:
    """One legend outside the axes, right, so it never covers data."""
    ncols = max(1, math.ceil(len(labels) / _LEGEND_ROWS))
    fig.legend(handles, labels, loc="outside right upper", ncols=ncols, fontsize="small")


def _grid(fig: Figure, n: int, ncols: int, **kw) -> list[Axes]:
    """n axes in a grid of `ncols` columns; unused cells removed."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return list(axes[:n])


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
) -> Figure:
    """Mean over seeds per activation, shaded `ci` t-interval of the mean.

    steps: [evals]; values: [acts, seeds, evals]. Non-finite values are left out of the
    mean and interval at that step; the legend counts seeds that diverged at any step.
    ``bounds`` clips the bands to the metric's range (e.g. (0, 1) for an accuracy: a
    t-interval over few seeds can run past it).
    """
    steps = _check_steps(steps)
    values = _check(values, "values", "[acts, seeds, evals]", names, steps)
    mean, low, high = _mean_ci(values, axis=1, ci=ci)
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    if logy:  # a t-interval can dip below 0; a log axis cannot show that
        low = np.where(low > 0, low, np.nan)

    fig = Figure(figsize=_legend_figsize(len(names), 6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    diverged = _n_diverged(values)
    for i, (name, style) in enumerate(zip(names, _styles(len(names)))):
        label = _label(name, diverged[i], values.shape[1])
        _band(ax, steps, mean[i], low[i], high[i], style, label)
    if logy:
        ax.set_yscale("log")
        # A band whose low end nears 0 would stretch a log axis over decades; keep the
        # means in view and let such bands run off the bottom.
        positive = mean[np.isfinite(mean) & (mean > 0)]
        if positive.size:
            ax.set_ylim(bottom=max(ax.get_ylim()[0], positive.min() / 3))
    ax.xaxis.set_major_formatter(_STEP_FORMATTER)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_xlim(steps.min(initial=0), steps.max(initial=1))
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{ylabel}: mean over {values.shape[1]} seeds, {ci:.0%} CI")
    _legend(fig, *ax.get_legend_handles_labels())
    return fig


def layer_heatmap(
    steps,
    values,
    names: Sequence[str],
    *,
    label: str = "gradient L2 norm",
    log: bool = True,
) -> Figure:
    """One panel per activation: layer (y, layer 1 = input side at the bottom) x step (x).

    steps: [evals]; values: [acts, seeds, evals, layers]. Colour is the median over seeds,
    as log10 when `log` (values <= 0 floored at the smallest positive float64, drawn in the
    'under' colour), on one colour scale shared by all panels. Grey: every seed NaN; red:
    median +inf.
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

    n = len(names)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.9 * ncols + 1.2, 2.3 * nrows + 0.6), layout="constrained")
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
        ax.set_title(names[i], fontsize="medium")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _: _fmt_step(steps[int(v)]) if 0 <= v < evals else "")
        )
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("layer (1 = input side)")
        if i + ncols >= n:  # bottom panel of its column
            ax.set_xlabel("step")
            ax.tick_params(labelbottom=True)
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
    title = f"{label}: median over {values.shape[1]} seeds, per layer and step"
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""))
    return fig


def unit_fractions(steps, dead, saturated, names: Sequence[str], *, inactive=None) -> Figure:
    """Fraction of dead and of saturated units over training, per activation (the unit
    census, ``actlab.train.Trace``); with ``inactive``, of inactive units too.

    steps: [evals]; dead, saturated, inactive: [acts, seeds, evals, layers], fractions in
    [0, 1]. Each seed is averaged over layers, then the line is the mean over seeds with a
    95 % t-interval band (clipped to [0, 1]). Panels, left to right: inactive (if given),
    dead, saturated.
    """
    steps = _check_steps(steps)
    axes_names = "[acts, seeds, evals, layers]"
    panels = {} if inactive is None else {"inactive": inactive}
    panels.update(dead=dead, saturated=saturated)
    panels = {what: _check(arr, what, axes_names, names, steps) for what, arr in panels.items()}
    dead = panels["dead"]
    for what, arr in panels.items():
        if arr.shape != dead.shape:
            raise ValueError(
                f"dead has shape {dead.shape} but {what} has shape {arr.shape}; "
                f"all must be {axes_names}"
            )

    n = len(panels)
    fig = Figure(figsize=_legend_figsize(len(names), 4.25 * n, 4.2), layout="constrained")
    axes = _grid(fig, n, n, sharex=True, sharey=True)
    styles = _styles(len(names))
    for ax, (what, arr) in zip(axes, panels.items()):
        arr = np.where(np.isfinite(arr), arr, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_seed = np.nanmean(arr, axis=3)  # [acts, seeds, evals]
        mean, low, high = _mean_ci(per_seed, axis=1)
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
        for i, name in enumerate(names):
            _band(ax, steps, mean[i], low[i], high[i], styles[i], name)
        ax.set_title(f"{what} units")
        ax.set_xlabel("step")
        ax.xaxis.set_major_formatter(_STEP_FORMATTER)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of units (mean over layers)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_xlim(steps.min(initial=0), steps.max(initial=1))
    fig.suptitle(f"mean over {dead.shape[1]} seeds, 95% CI")
    _legend(fig, *axes[0].get_legend_handles_labels())
    return fig


def final_distribution(
    values,
    names: Sequence[str],
    *,
    ylabel: str,
    summary: pd.DataFrame | None = None,
) -> Figure:
    """Strip plot of one number per seed, with the mean and its CI, per activation.

    values: [acts, seeds]. Points are jittered with a fixed seed. Non-finite seeds are not
    drawn; their count appears under the name. `summary`, if given, is a DataFrame with
    columns name, mean, ci_low, ci_high (one row per name) whose interval is drawn instead
    of the 95 % t-interval computed here.
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
        mean, low, high = _mean_ci(values, axis=1)

    n = len(names)
    fig = Figure(figsize=(max(5.0, 0.55 * n + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    styles = _styles(n)
    ticks = []
    for i, name in enumerate(names):
        v = values[i]
        ok = np.isfinite(v)
        jitter = rng.uniform(-0.18, 0.18, size=v.shape)
        ax.scatter(i + jitter[ok], v[ok], s=14, alpha=0.6, color=styles[i]["color"], zorder=2)
        if np.isfinite(mean[i]):
            yerr = None
            if np.isfinite(low[i]) and np.isfinite(high[i]):
                yerr = [[mean[i] - low[i]], [high[i] - mean[i]]]
            ax.errorbar(
                i + 0.3, mean[i], yerr=yerr, fmt="o", color="black", ms=5, capsize=3, zorder=3
            )
        bad = int((~ok).sum())
        sep = " " if n > 6 else "\n"  # rotated labels read better on one line
        ticks.append(f"{name}{sep}({bad} diverged)" if bad else name)
    if n > 6:
        ax.set_xticks(range(n), ticks, rotation=45, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(range(n), ticks)
    ax.set_xlim(-0.6, n - 0.3)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ci_what = "given CI" if summary is not None else "95% CI"
    ax.set_title(f"{ylabel}, {values.shape[1]} seeds each\nblack: mean, {ci_what}")
    return fig


def time_to_threshold(
    times,
    names: Sequence[str],
    *,
    max_step: float,
    xlabel: str = "steps",
) -> Figure:
    """Fraction of seeds that reached the threshold by step t, per activation.

    times: [acts, seeds], the first step at which each seed reached the threshold; +inf
    (or NaN, e.g. diverged) where it never did. Times above `max_step` count as not
    reached. A step curve from (0, 0) to `max_step`; the legend gives reached/seeds.
    """
    times = _check(times, "times", "[acts, seeds]", names)
    if not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step}")
    seeds = times.shape[1]
    fig = Figure(figsize=_legend_figsize(len(names), 6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, style) in enumerate(zip(names, _styles(len(names)))):
        t = times[i]
        hit = np.sort(t[np.isfinite(t) & (t <= max_step)])
        x = np.concatenate([[0.0], hit, [max_step]])
        y = np.concatenate([[0.0], np.arange(1, hit.size + 1) / seeds, [hit.size / seeds]])
        ax.step(x, y, where="post", label=f"{name} ({hit.size}/{seeds})", lw=1.8, **style)
    ax.set_xlim(0, max_step)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(_STEP_FORMATTER)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of seeds that reached threshold")
    ax.grid(alpha=0.3)
    ax.set_title(f"time to threshold ({seeds} seeds; legend: reached / seeds)")
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
