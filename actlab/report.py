"""Reports: ``report.md``, a tidy long table and plots, from a result or a saved run folder.

    rec = report.Record.of(result, "xor")       # or report.Record.load("runs/xor")
    report.write(rec, "runs/xor", threshold="train_error=0.25")

writes into the folder ``report.md`` (configuration; final test accuracy and final train loss
per activation with bootstrap CIs, diverged models excluded and counted; paired comparisons
with Holm-adjusted p-values, P(improvement) and Cohen's d; divergence and failure rates with
Wilson CIs; time to threshold when one is given; timing), ``tidy.csv`` (``tidy.parquet`` too
when pyarrow is importable) and PNG plots.

Both sources go through the same path: a ``Record`` is ``results.json``'s document plus the
traced arrays, so a report re-rendered from disk equals the one written after training.
With a learning-rate sweep every (activation, lr) pair is a row named ``"relu lr=0.001"``;
comparisons are made between activations at the same learning rate.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from actlab import plots, results, stats
from actlab.train import Trace

SCALAR_METRICS = ("batch_loss", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
THRESHOLD_METRICS = ("train_error", "test_error", *SCALAR_METRICS)
TIDY_COLUMNS = ("act", "lr", "seed", "step", "metric", "layer", "value")
CSV_MAX_ROWS = 500_000  # above this, with pyarrow present, only tidy.parquet is written
CSV_FLOAT = "%.7g"  # float32 to 7 significant digits; tidy.parquet keeps every bit
CONFIDENCE = 0.95
TEST_NAMES = {"wilcoxon": "Wilcoxon signed-rank", "ttest": "paired t", "permutation": "permutation"}


class Threshold(NamedTuple):
    """A level a curve must reach: errors and losses from above (``<=``), accuracies from
    below (``>=``). ``metric`` is a scalar ``Trace`` field or ``train_error`` / ``test_error``
    (1 - accuracy)."""

    metric: str
    value: float

    @property
    def below(self) -> bool:
        return not self.metric.endswith("accuracy")

    def __str__(self) -> str:
        return f"{self.metric} {'<=' if self.below else '>='} {self.value:g}"


def parse_threshold(spec: str | Sequence | None) -> Threshold | None:
    """``Threshold`` from ``"train_error=0.25"``, ``("train_error", 0.25)`` or None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        metric, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(
                f"threshold {spec!r}: expected METRIC=VALUE with METRIC one of "
                f"{', '.join(THRESHOLD_METRICS)}"
            )
        spec = (metric.strip(), value.strip())
    metric, value = spec
    if metric not in THRESHOLD_METRICS:
        raise ValueError(
            f"unknown threshold metric {metric!r}; accepted: {', '.join(THRESHOLD_METRICS)}"
        )
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold value must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"threshold value must be finite, got {value!r}")
    return Threshold(metric, v)


# ----------------------------------------------------------------------------- a run's data


@dataclasses.dataclass(frozen=True)
class Record:
    """A run as saved: ``results.json``'s document, the trace, ``diverged_at``.

    Trace arrays have axes ``[acts, seeds, evals, (layers)]`` (``[acts, lrs, seeds, ...]``
    with an lr sweep). Methods return them *flat*: ``[groups, seeds, ...]`` with one group
    per (activation, lr), named by ``labels``.
    """

    doc: dict
    trace: Trace
    diverged_at: np.ndarray

    @classmethod
    def of(cls, result, experiment: str = "study", **kw) -> Record:
        """From a ``Result``; ``kw`` as ``results.summary`` (complete, threshold, command)."""
        doc = results.summary(result, experiment, **kw)
        return cls(doc, result.trace, np.asarray(result.diverged_at))

    @classmethod
    def load(cls, out: str | os.PathLike) -> Record:
        """From a folder written by ``results.save``: FileNotFoundError if it is not one,
        ``results.CorruptFile`` (a ValueError naming the file) if a file cannot be read."""
        return cls(*results.load(out))

    @property
    def experiment(self) -> str:
        return self.doc["experiment"]

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(self.doc["activations"])

    @property
    def lrs(self) -> tuple[float, ...] | None:
        lrs = self.doc["config"].get("lrs")
        return None if lrs is None else tuple(lrs)

    @property
    def seeds(self) -> int:
        return int(self.doc["seeds"])

    @property
    def steps(self) -> np.ndarray:
        """[evals] steps done at each evaluation point."""
        return self.trace.step.reshape(-1, self.trace.step.shape[-1])[0]

    @property
    def threshold(self) -> Threshold | None:
        t = self.doc.get("threshold")
        return None if t is None else Threshold(t["metric"], float(t["value"]))

    @property
    def labels(self) -> list[str]:
        """[groups] ``act`` or, with an lr sweep, ``"act lr=..."`` (act-major)."""
        if self.lrs is None:
            return list(self.activations)
        return [f"{a} lr={lr:g}" for a in self.activations for lr in self.lrs]

    def flat(self, a) -> np.ndarray:
        """[acts, (lrs), seeds, ...] -> [groups, seeds, ...]."""
        a = np.asarray(a)
        lead = 2 + (self.lrs is not None)
        return a.reshape(len(self.labels), self.seeds, *a.shape[lead:])

    @property
    def diverged(self) -> np.ndarray:
        """[groups, seeds] bool."""
        return self.flat(self.diverged_at) >= 0

    def curve(self, metric: str, *, raw: bool = False) -> np.ndarray:
        """[groups, seeds, evals, (layers)] of a Trace field, or train_error / test_error.

        A diverged model is frozen at its last finite parameters, so its metrics stay
        finite; here they are NaN from the first evaluation after it diverged (as the
        tables leave it out), unless ``raw``.
        """
        if metric in ("train_error", "test_error"):
            return 1.0 - self.curve(metric.replace("error", "accuracy"), raw=raw)
        if metric not in Trace._fields:
            accepted = ", ".join((*Trace._fields, "train_error", "test_error"))
            raise ValueError(f"unknown metric {metric!r}; accepted: {accepted}")
        v = self.flat(getattr(self.trace, metric)).astype(float)
        if raw or metric in ("step", "diverged"):
            return v
        gone = self.flat(self.trace.diverged).astype(bool)
        return np.where(gone.reshape(gone.shape + (1,) * (v.ndim - gone.ndim)), np.nan, v)

    def final(self, metric: str, *, diverged: bool = False) -> np.ndarray:
        """[groups, seeds] the metric at the last evaluation; NaN for diverged models unless
        ``diverged=True``."""
        v = self.curve(metric)[:, :, -1]
        return v if diverged else np.where(self.diverged, np.nan, v)

    def lr_groups(self) -> list[tuple[float | None, list[int]]]:
        """Groups that are compared with each other: all of them, or one set per lr."""
        if self.lrs is None:
            return [(None, list(range(len(self.labels))))]
        n = len(self.lrs)
        return [
            (lr, [a * n + j for a in range(len(self.activations))]) for j, lr in enumerate(self.lrs)
        ]


# ----------------------------------------------------------------------------- tables


def summary_table(rec: Record, metric: str, *, seed: int = 0) -> pd.DataFrame:
    """``stats.summarize`` of the final ``metric`` over seeds (diverged excluded), plus
    ``diverged`` (count) and ``seeds``."""
    table = stats.summarize(rec.final(metric), rec.labels, confidence=CONFIDENCE, seed=seed)
    table["diverged"] = rec.diverged.sum(axis=1)
    table["seeds"] = rec.seeds
    return table


def pairwise_table(rec: Record, metric: str = "test_accuracy", *, seed: int = 0) -> pd.DataFrame:
    """``stats.pairwise`` (paired by seed) of the final ``metric`` between activations at the
    same lr; ``p_holm`` is adjusted over every row of the table."""
    final = rec.final(metric)
    labels = np.asarray(rec.labels)
    parts = []
    for lr, idx in rec.lr_groups():
        if len(idx) < 2:
            continue
        t = stats.pairwise(final[idx], list(labels[idx]), confidence=CONFIDENCE, seed=seed)
        if lr is not None:
            t.insert(0, "lr", lr)
        parts.append(t)
    if not parts:
        return pd.DataFrame(columns=list(stats.PAIRWISE_COLUMNS))
    table = pd.concat(parts, ignore_index=True)
    table["p_holm"] = stats.holm(table["p"].to_numpy(float))
    return table


def times(rec: Record, th: Threshold) -> np.ndarray:
    """[groups, seeds] first step at which each model reached ``th``; inf if never."""
    t, _ = stats.time_to_threshold(rec.curve(th.metric), rec.steps, th.value, below=th.below)
    return t


def failure_table(rec: Record, th: Threshold | None = None) -> pd.DataFrame:
    """Per group: diverged count and rate with Wilson CI; with ``th``, the same for models
    that never reached it (``failed_*``)."""
    div = stats.rates(rec.diverged, rec.labels, confidence=CONFIDENCE)
    table = div.rename(columns={c: f"diverged_{c}" for c in ("k", "rate", "ci_low", "ci_high")})
    if th is not None:
        failed = stats.rates(~np.isfinite(times(rec, th)), rec.labels, confidence=CONFIDENCE)
        for c in ("k", "rate", "ci_low", "ci_high"):
            table[f"failed_{c}"] = failed[c].to_numpy()
    return table


def threshold_table(rec: Record, th: Threshold, *, seed: int = 0) -> pd.DataFrame:
    """Per group: seeds that reached ``th``, median and mean (over those that reached it)
    steps, and ``ratio`` = this median time / the reference's, with a paired bootstrap CI
    (``stats.threshold_ratio``). The reference is the fastest activation at the same lr
    (smallest median; the first listed when none reaches it), so ratios are >= 1 and read
    "needs ratio times as many steps"."""
    t = times(rec, th)
    labels = rec.labels
    rows = []
    for _, idx in rec.lr_groups():
        medians = np.array([np.median(t[g]) for g in idx])
        ref = idx[int(np.argmin(medians))]
        for g in idx:
            reached = np.isfinite(t[g])
            r = stats.threshold_ratio(t[ref], t[g], confidence=CONFIDENCE, seed=seed)
            rows.append(
                {
                    "name": labels[g],
                    "reached": int(reached.sum()),
                    "n": int(t[g].size),
                    "median": float(np.median(t[g])),
                    "mean_reached": float(t[g][reached].mean()) if reached.any() else math.nan,
                    "reference": labels[ref],
                    "ratio": r["ratio"],
                    "ratio_ci_low": r["ci_low"],
                    "ratio_ci_high": r["ci_high"],
                }
            )
    return pd.DataFrame(rows)


def _threshold_of(rec: Record, th) -> Threshold | None:
    return rec.threshold if th is None else parse_threshold(th)


def tables(rec: Record, th: Threshold | str | Sequence | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report, as numbers (``th`` defaults to the run's threshold)."""
    th = _threshold_of(rec, th)
    out = {
        "test_accuracy": summary_table(rec, "test_accuracy"),
        "train_loss": summary_table(rec, "train_loss"),
        "pairwise": pairwise_table(rec, "test_accuracy"),
        "failures": failure_table(rec, th),
    }
    if th is not None:
        out["threshold"] = threshold_table(rec, th)
    return out


def tidy(rec: Record) -> pd.DataFrame:
    """Long format: one row per activation x (lr) x seed x evaluation x metric (x layer).

    Columns ``act`` (categorical), ``lr`` (only with an lr sweep), ``seed``, ``step``,
    ``metric`` (categorical: every Trace field but ``step``; ``diverged`` is 0/1), ``layer``
    (0 = input side, as ``layer_0``; -1 for scalar metrics) and ``value`` (float64).
    """
    lead = 2 + (rec.lrs is not None)  # axes before evals
    steps = rec.steps.astype(np.int64)
    metrics = [f for f in Trace._fields if f != "step"]
    frames = []
    for m in metrics:
        a = np.asarray(getattr(rec.trace, m))
        layered = a.ndim == lead + 2
        if a.size == 0:
            continue
        idx = np.indices(a.shape, dtype=np.int32).reshape(a.ndim, -1)
        cols = {"act": pd.Categorical.from_codes(idx[0], categories=list(rec.activations))}
        if rec.lrs is not None:
            cols["lr"] = np.asarray(rec.lrs, float)[idx[1]]
        cols["seed"] = idx[lead - 1]
        cols["step"] = steps[idx[lead]]
        cols["metric"] = pd.Categorical.from_codes(
            np.full(idx.shape[1], metrics.index(m), np.int8), categories=metrics
        )
        cols["layer"] = idx[lead + 1] if layered else np.full(idx.shape[1], -1, np.int32)
        cols["value"] = a.astype(np.float64).ravel()
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- markdown


def md_table(df: pd.DataFrame, align: str | None = None) -> str:
    """A GitHub markdown table of ``df`` (cells with ``str``; ``align``: one ``l``/``r`` per
    column, default first column left, the others right)."""
    cols = [str(c) for c in df.columns]
    align = align or "l" + "r" * (len(cols) - 1)
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        "| " + " | ".join(cell(c) for c in cols) + " |",
        "| " + " | ".join("---:" if a == "r" else ":---" for a in align) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def fmt(x, spec: str = ".4f") -> str:
    """A number for a table: "–" for NaN, "∞" for inf."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return format(x, spec)


def fmt_ci(low, high, spec: str = ".4f") -> str:
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{fmt(low, spec)}, {fmt(high, spec)}]"


def _summary_md(t: pd.DataFrame, spec: str) -> str:
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "n": t["n"],
            "mean": [fmt(v, spec) for v in t["mean"]],
            "95% CI": [fmt_ci(lo, hi, spec) for lo, hi in zip(t["ci_low"], t["ci_high"])],
            "median": [fmt(v, spec) for v in t["median"]],
            "IQM": [fmt(v, spec) for v in t["iqm"]],
            "std": [fmt(v, spec) for v in t["std"]],
            "diverged": [f"{k}/{n}" for k, n in zip(t["diverged"], t["seeds"])],
        }
    )
    return md_table(df)


def _pairwise_md(t: pd.DataFrame) -> str:
    df = pd.DataFrame(
        {
            **({"lr": [fmt(v, "g") for v in t["lr"]]} if "lr" in t else {}),
            "A": t["a"],
            "B": t["b"],
            "n": t["n"],
            "mean A − B": [fmt(v, "+.4f") for v in t["mean_diff"]],
            "95% CI": [fmt_ci(lo, hi) for lo, hi in zip(t["diff_ci_low"], t["diff_ci_high"])],
            "p": [fmt(v, ".3g") for v in t["p"]],
            "p (Holm)": [fmt(v, ".3g") for v in t["p_holm"]],
            "P(A > B)": [fmt(v, ".2f") for v in t["p_improvement"]],
            "Cohen's d_z": [fmt(v, ".2f") for v in t["cohens_d"]],
        }
    )
    return md_table(df, ("l" if "lr" in t else "") + "ll" + "r" * 7)


def _rate(k, n, rate, lo, hi) -> str:
    return f"{k}/{n} ({fmt(rate, '.0%')}, CI {fmt(lo, '.0%')}–{fmt(hi, '.0%')})"


def _failures_md(t: pd.DataFrame, th: Threshold | None) -> str:
    cols = {"activation": t["name"]}
    for what, title in (("diverged", "diverged"), ("failed", f"did not reach {th}")):
        if f"{what}_k" in t:
            cols[title] = [
                _rate(*r)
                for r in zip(
                    t[f"{what}_k"],
                    t["n"],
                    t[f"{what}_rate"],
                    t[f"{what}_ci_low"],
                    t[f"{what}_ci_high"],
                )
            ]
    return md_table(pd.DataFrame(cols))


def _steps(x: float) -> str:
    return "never" if math.isinf(x) else fmt(x, ".0f")


def _threshold_md(t: pd.DataFrame, lrs: bool) -> str:
    is_ref = t["name"] == t["reference"]
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "reached": [f"{k}/{n}" for k, n in zip(t["reached"], t["n"])],
            "median steps": [_steps(v) for v in t["median"]],
            "mean steps (reached)": [fmt(v, ".0f") for v in t["mean_reached"]],
            **({"reference": t["reference"]} if lrs else {}),
            "steps / reference's": [
                "reference" if r else fmt(v, ".2f") for r, v in zip(is_ref, t["ratio"])
            ],
            "95% CI": [
                "" if r else fmt_ci(lo, hi, ".2f")
                for r, lo, hi in zip(is_ref, t["ratio_ci_low"], t["ratio_ci_high"])
            ],
        }
    )
    return md_table(df)


def _value(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if v else "none"
    return str(v)


def _config_md(rec: Record) -> str:
    doc = rec.doc
    rows = [("experiment", doc["experiment"])]
    if doc.get("command"):
        rows.append(("command", f"`{doc['command']}`"))
    rows += [("activations", ", ".join(rec.activations)), ("seeds", rec.seeds)]
    rows += [(k, _value(v)) for k, v in doc["config"].items() if not (k == "lrs" and v is None)]
    if rec.threshold is not None:
        rows.append(("threshold", str(rec.threshold)))
    return md_table(pd.DataFrame(rows, columns=["setting", "value"]), "ll")


def _timing_md(rec: Record) -> str:
    t, m = rec.doc["timing"], rec.doc.get("machine", {})
    df = pd.DataFrame(
        [
            {
                "compile s": fmt(t["compile_s"], ".1f"),
                "train s": fmt(t["train_s"], ".1f"),
                "models": t["models"],
                "steps": t["steps"],
                "model-steps / s": fmt(t["model_steps_per_s"], ",.0f"),
                "backend": m.get("backend", "?"),
                "devices": ", ".join(m.get("devices", [])),
                "jax": m.get("jax", "?"),
            }
        ]
    )
    return md_table(df, "r" * 5 + "lll")


def markdown(
    rec: Record,
    th: Threshold | str | Sequence | None = None,
    tabs: dict[str, pd.DataFrame] | None = None,
    files: Sequence[tuple[str, str]] = (),
) -> str:
    """The text of ``report.md``. ``th`` defaults to the run's threshold; ``files``:
    (description, file name) of what was written beside it (plots are shown inline)."""
    th = _threshold_of(rec, th)
    tabs = tables(rec, th) if tabs is None else tabs
    doc, seeds = rec.doc, rec.seeds
    size = f"{len(rec.activations)} activations × {seeds} seeds"
    if rec.lrs is not None:
        size += f" × {len(rec.lrs)} learning rates"
    command = doc.get("command") or "actlab run ..."
    resume = command if "--resume" in command.split() else f"{command} --resume"
    status = (
        f"Complete: {doc['steps_done']} steps."
        if doc["complete"]
        else f"**Partial run**: {doc['steps_done']} of {doc['timing']['steps']} steps "
        f"(continue it with `{resume}`)."
    )
    ci = f"{CONFIDENCE:.0%}"
    boot = (
        f"Mean over seeds with its {ci} bootstrap CI (BCa, 2000 resamples; percentile where BCa "
        "fails), median, IQM (interquartile mean) and sample std. Diverged models are excluded "
        "from every statistic and counted in the last column."
    )
    pair = tabs["pairwise"]
    test = TEST_NAMES.get(test := pair["test"].iloc[0] if len(pair) else "wilcoxon", test)
    out = [
        f"# {rec.experiment}: {size}",
        "",
        status,
        "",
        "## Configuration",
        "",
        _config_md(rec),
        "",
        "## Final test accuracy",
        "",
        boot,
        "",
        _summary_md(tabs["test_accuracy"], ".4f"),
        "",
        "## Final train loss",
        "",
        "Same statistics, of the loss on the training set at the last evaluation.",
        "",
        _summary_md(tabs["train_loss"], ".4g"),
        "",
        "## Pairwise comparisons of final test accuracy",
        "",
        f"Paired by seed (seed *i* gives every activation the same data order and "
        f"initialisation); mean of per-seed differences A − B with its {ci} bootstrap CI; "
        f"two-sided {test} test; p adjusted with Holm over the {len(pair)} comparisons; "
        "P(A > B) = fraction of seeds where A beats B (ties count half); Cohen's d_z = mean "
        "difference / sd of differences. Seeds where either model diverged are left out.",
        "",
        _pairwise_md(pair) if len(pair) else "(one activation: nothing to compare)",
        "",
        "## Divergence and failures",
        "",
        f"Counts over {seeds} seeds, rate with its {ci} Wilson interval."
        + (
            f" Failure: never reached {th} at an evaluation point (diverged models included)."
            if th is not None
            else ""
        ),
        "",
        _failures_md(tabs["failures"], th),
        "",
    ]
    if th is not None:
        out += [
            f"## Time to threshold: {th}",
            "",
            "Steps until the first evaluation point where the model reached it (evaluations "
            f"every {doc['config']['eval_every']} steps; a diverged model counts only if it got "
            "there before diverging). The reference is the activation with the smallest median"
            + (" at each learning rate" if rec.lrs is not None else "")
            + "; the ratio is this activation's median steps / the reference's (2 = needs twice "
            f'as many steps), with a paired percentile-bootstrap {ci} CI. A median is "never" '
            "(∞) when half the seeds or more never got there.",
            "",
            _threshold_md(tabs["threshold"], rec.lrs is not None),
            "",
        ]
    out += ["## Timing", "", _timing_md(rec), ""]
    images = [(d, f) for d, f in files if f.endswith(".png")]
    if images:
        out += ["## Plots", ""]
        for desc, f in images:
            out += [f"**{desc}** (`{f}`)", "", f"![{desc}]({f})", ""]
    other = [(d, f) for d, f in files if not f.endswith(".png")]
    if other:
        out += ["## Files", ""] + [f"- `{f}`: {d}" for d, f in other] + [""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- writing


def _final_distribution(rec: Record, summary: pd.DataFrame):
    return plots.final_distribution(
        rec.final("test_accuracy"), rec.labels, ylabel="final test accuracy", summary=summary
    )


def _time_to_threshold(rec: Record, th: Threshold):
    fig = plots.time_to_threshold(times(rec, th), rec.labels, max_step=max(float(rec.steps[-1]), 1))
    fig.axes[0].set_title(f"time to {th} ({rec.seeds} seeds; legend: reached / seeds)")
    return fig


def write_plots(rec: Record, out: Path, th: Threshold | None, tabs) -> list[tuple[str, str]]:
    """The report's PNGs in ``out``; returns (description, file name) of each."""
    steps, labels = rec.steps, rec.labels
    figures = [
        (
            "test accuracy over training",
            "test_accuracy.png",
            lambda: plots.learning_curves(
                steps, rec.curve("test_accuracy"), labels, ylabel="test accuracy", bounds=(0, 1)
            ),
        ),
        (
            "train loss over training",
            "train_loss.png",
            lambda: plots.learning_curves(
                steps, rec.curve("train_loss"), labels, ylabel="train loss", logy=True
            ),
        ),
        (
            "gradient norm per layer",
            "grad_norm_heatmap.png",
            lambda: plots.layer_heatmap(steps, rec.curve("grad_norm"), labels),
        ),
    ]
    if rec.trace.dead.shape[-1] > 0:
        figures.append(
            (
                "dead and saturated units",
                "unit_fractions.png",
                lambda: plots.unit_fractions(
                    steps, rec.curve("dead"), rec.curve("saturated"), labels
                ),
            )
        )
    figures.append(
        (
            "final test accuracy per seed",
            "final_test_accuracy.png",
            lambda: _final_distribution(rec, tabs["test_accuracy"]),
        )
    )
    if th is not None:
        figures.append(
            (
                f"time to {th}",
                "time_to_threshold.png",
                lambda: _time_to_threshold(rec, th),
            )
        )
    written = []
    for desc, name, make in figures:
        fig = make()
        results.atomic_write(out / name, lambda tmp, fig=fig: plots.save(fig, tmp))
        written.append((desc, name))
    return written


def write(
    rec: Record,
    out: str | os.PathLike,
    threshold: Threshold | str | Sequence | None = None,
    *,
    figures: bool = True,
    tidy_files: bool = True,
) -> Path:
    """Write ``report.md``, the tidy table and the plots into ``out``; returns report.md's path.

    ``threshold`` defaults to the one saved with the run (``rec.threshold``).
    """
    out = Path(out)
    th = _threshold_of(rec, threshold)
    tabs = tables(rec, th)
    files = write_plots(rec, out, th, tabs) if figures else []
    if tidy_files:
        df = tidy(rec)
        what = f"tidy table, {len(df):,} rows ({', '.join(df.columns)})"
        parquet = importlib.util.find_spec("pyarrow") is not None
        if parquet:
            results.atomic_write(out / "tidy.parquet", lambda tmp: df.to_parquet(tmp, index=False))
            files.append((what, "tidy.parquet"))
        # a CSV of millions of rows (deep XOR, 100 seeds: 4.4 M rows, 156 MB) helps nobody
        # next to the parquet file, which holds the same table in ~7 % of the space
        if not parquet or len(df) <= CSV_MAX_ROWS:
            results.atomic_write(
                out / "tidy.csv", lambda tmp: df.to_csv(tmp, index=False, float_format=CSV_FLOAT)
            )
            files.append((what if not parquet else "the same table as CSV", "tidy.csv"))
    files += [("summary other tools read", "results.json"), ("every traced array", "trace.npz")]
    text = markdown(rec, th, tabs, files)
    return results.atomic_write(out / "report.md", lambda tmp: tmp.write_text(text))


def console(rec: Record, tabs: dict[str, pd.DataFrame] | None = None) -> str:
    """A short plain-text summary for the terminal: final test accuracy per activation."""
    t = (tabs or {}).get("test_accuracy")
    t = summary_table(rec, "test_accuracy") if t is None else t
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "n": t["n"],
            "mean": [fmt(v) for v in t["mean"]],
            "95% CI": [fmt_ci(lo, hi) for lo, hi in zip(t["ci_low"], t["ci_high"])],
            "median": [fmt(v) for v in t["median"]],
            "diverged": [f"{k}/{n}" for k, n in zip(t["diverged"], t["seeds"])],
        }
    )
    head = f"{rec.experiment}: final test accuracy over seeds (diverged models excluded)"
    timing = rec.doc["timing"]
    return (
        f"{head}\n{df.to_string(index=False)}\n"
        f"timing: compile {timing['compile_s']:.1f} s, train {timing['train_s']:.1f} s"
    )


# ----------------------------------------------------------------------------- compare


def compare(a: Record, b: Record, metric: str = "test_accuracy", *, seed: int = 0) -> pd.DataFrame:
    """Per activation (and lr) present in both runs: final ``metric`` of ``b`` minus ``a``.

    The runs are independent, so the comparison is unpaired: Welch's test, a bootstrap CI of
    the difference of means resampling each run on its own, Cohen's d with the pooled sd,
    P(B > A) = Mann-Whitney U / (n_a n_b). ``p_holm`` is adjusted over the activations.
    Diverged models are left out. Raises ValueError if the runs share no activation.
    """
    common = [name for name in a.labels if name in b.labels]
    if not common:
        raise ValueError(
            f"the runs share no activation: {', '.join(a.labels)} vs {', '.join(b.labels)}"
        )
    fa, fb = a.final(metric), b.final(metric)
    n = max(a.seeds, b.seeds)
    pad = lambda v: np.concatenate([v, np.full(n - v.size, np.nan)])  # noqa: E731
    rows = []
    for name in common:
        x, y = fa[a.labels.index(name)], fb[b.labels.index(name)]
        t = stats.pairwise(
            np.stack([pad(y), pad(x)]), ["B", "A"], paired=False, confidence=CONFIDENCE, seed=seed
        ).iloc[0]
        rows.append(
            {
                "name": name,
                "n_a": int(t["n_b"]),
                "n_b": int(t["n_a"]),
                "mean_a": float(np.nanmean(x)) if t["n_b"] else math.nan,
                "mean_b": float(np.nanmean(y)) if t["n_a"] else math.nan,
                "mean_diff": t["mean_diff"],
                "diff_ci_low": t["diff_ci_low"],
                "diff_ci_high": t["diff_ci_high"],
                "p": t["p"],
                "cohens_d": t["cohens_d"],
                "p_improvement": t["p_improvement"],
            }
        )
    table = pd.DataFrame(rows)
    table.insert(9, "p_holm", stats.holm(table["p"].to_numpy(float)))
    return table


def config_differences(a: Record, b: Record) -> list[str]:
    """Settings (config, seeds, experiment) that differ between two runs."""
    da = {"experiment": a.experiment, "seeds": a.seeds, **a.doc["config"]}
    db = {"experiment": b.experiment, "seeds": b.seeds, **b.doc["config"]}
    return [
        f"{k}: {da.get(k)} vs {db.get(k)}"
        for k in dict.fromkeys([*da, *db])
        if da.get(k) != db.get(k)
    ]


def compare_markdown(
    a: Record, b: Record, table: pd.DataFrame, names: tuple[str, str] = ("A", "B")
) -> str:
    """Markdown for ``compare``'s table, with what differs between the runs."""
    na, nb = names
    df = pd.DataFrame(
        {
            "activation": table["name"],
            "n A": table["n_a"],
            "n B": table["n_b"],
            "mean A": [fmt(v) for v in table["mean_a"]],
            "mean B": [fmt(v) for v in table["mean_b"]],
            "B − A": [fmt(v, "+.4f") for v in table["mean_diff"]],
            "95% CI": [
                fmt_ci(lo, hi) for lo, hi in zip(table["diff_ci_low"], table["diff_ci_high"])
            ],
            "p": [fmt(v, ".3g") for v in table["p"]],
            "p (Holm)": [fmt(v, ".3g") for v in table["p_holm"]],
            "P(B > A)": [fmt(v, ".2f") for v in table["p_improvement"]],
            "Cohen's d": [fmt(v, ".2f") for v in table["cohens_d"]],
        }
    )
    diff = config_differences(a, b)
    only = [x for x in a.labels if x not in b.labels] + [x for x in b.labels if x not in a.labels]
    lines = [
        "# Final test accuracy: B − A",
        "",
        f"- A: `{na}` ({a.experiment}, {a.seeds} seeds, {a.doc['steps_done']} steps"
        f"{'' if a.doc['complete'] else ', partial'})",
        f"- B: `{nb}` ({b.experiment}, {b.seeds} seeds, {b.doc['steps_done']} steps"
        f"{'' if b.doc['complete'] else ', partial'})",
        "- settings that differ: " + ("; ".join(diff) if diff else "none"),
    ]
    if only:
        lines.append(f"- in one run only (not compared): {', '.join(only)}")
    lines += [
        "",
        f"Independent runs, so unpaired: Welch's t-test, {CONFIDENCE:.0%} bootstrap CI of the "
        "difference of means (each run resampled on its own), p adjusted with Holm over the "
        "activations, P(B > A) from the Mann-Whitney U, Cohen's d with the pooled sd. Diverged "
        "models are left out (n counts the rest).",
        "",
        md_table(df),
        "",
    ]
    return "\n".join(lines)
