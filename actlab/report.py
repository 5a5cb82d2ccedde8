"""Reports: ``report.md``, a tidy long table and plots, from a result or a saved run folder.

    rec = report.Record.of(result, "xor")       # or report.Record.load("runs/xor")
    report.write(rec, "runs/xor", threshold="train_error=0.25")

writes into the folder ``report.md`` (configuration; each seed's outcome category, or the
divergence rate, with Wilson CIs; final test accuracy and final train loss per activation
over every seed (``actlab.outcome``: a diverged run is a failed one) with t CIs, and a
labelled survivors-only table; paired rank tests with Hodges–Lehmann shifts, Holm-adjusted
p-values, P(improvement) and Cohen's d; time to threshold when one is given; timing), ``tidy.csv``
(``tidy.parquet`` too when pyarrow is importable) and PNG plots.

Both sources go through the same path: a ``Record`` is ``results.json``'s document plus the
traced arrays, so a report re-rendered from disk equals the one written after training.
With a learning-rate sweep every (activation, lr) pair is a row named ``"relu lr=0.001"``;
comparisons are made between activations at the same learning rate.

The pieces live in one module each: ``actlab.record`` (the run), ``actlab.tables`` (the
numbers), ``actlab.markdown`` (the text); this module writes the files and re-exports the
names its users call as ``report.NAME``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from actlab import outcome, plots, results
from actlab.markdown import TEST_NAMES as TEST_NAMES
from actlab.markdown import compare_markdown as compare_markdown
from actlab.markdown import console as console
from actlab.markdown import fmt as fmt
from actlab.markdown import fmt_ci as fmt_ci
from actlab.markdown import markdown as markdown
from actlab.markdown import md_table as md_table
from actlab.record import SCALAR_METRICS as SCALAR_METRICS
from actlab.record import THRESHOLD_METRICS as THRESHOLD_METRICS
from actlab.record import Record as Record
from actlab.record import Threshold as Threshold
from actlab.record import parse_threshold as parse_threshold
from actlab.tables import CONFIDENCE as CONFIDENCE
from actlab.tables import TIDY_COLUMNS as TIDY_COLUMNS
from actlab.tables import compare as compare
from actlab.tables import config_differences as config_differences
from actlab.tables import failure_table as failure_table
from actlab.tables import pairwise_table as pairwise_table
from actlab.tables import summary_table as summary_table
from actlab.tables import tables as tables
from actlab.tables import threshold_of as threshold_of
from actlab.tables import threshold_table as threshold_table
from actlab.tables import tidy as tidy
from actlab.tables import times as times

CSV_MAX_ROWS = 500_000  # above this, with pyarrow present, only tidy.parquet is written
CSV_FLOAT = "%.7g"  # float32 to 7 significant digits; tidy.parquet keeps every bit
# write(tidy="auto"): every traced value up to this many rows, else the scalar curves only
# (deep XOR, 5 acts x 100 seeds: 6.4 M rows, 14.6 MB of parquet; its curves: 0.6 M)
TIDY_MAX_ROWS = 1_000_000


def _rule_note(rec: Record, metric: str) -> str:
    """How the figures of ``metric`` count a diverged run under the run's rule
    (``actlab.outcome``), in one short line for a title or a caption. Trace quantities
    (gradient norms, the unit census) have no failure outcome: under ``"failure"`` they
    leave the run out, as ``_trace_rule`` says."""
    if not rec.diverged.any():
        return "no run diverged"
    rule = rec.rule if metric in outcome.ACCURACY + outcome.LOSS else _trace_rule(rec)
    if rule == "frozen":
        return "a diverged run at its frozen last parameters (raw values)"
    if rule == "exclude":
        return "survivors only: a diverged run is left out after it diverged"
    what = "+inf loss" if metric in outcome.LOSS else f"chance ({1 / rec.classes:.3g})"
    return f"a diverged run counts as failed: {what} after it diverged"


def _trace_rule(rec: Record) -> str:
    """The rule for curves with no failure outcome: raw under "frozen", else survivors."""
    return "frozen" if rec.rule == "frozen" else "exclude"


def _who(rec: Record, metric: str) -> str:
    """The seeds the figures of ``metric`` are over: "all 20 seeds", or the survivors."""
    rule = rec.rule if metric in outcome.ACCURACY + outcome.LOSS else _trace_rule(rec)
    if rule == "exclude" and rec.diverged.any():
        return "the seeds that had not diverged"
    return f"all {rec.seeds} seeds"


def _test_accuracy(rec: Record):
    head = f"test accuracy, mean over {_who(rec, 'test_accuracy')}"
    return plots.learning_curves(
        rec.steps,
        rec.curve("test_accuracy", diverged_as=rec.rule),
        rec.labels,
        ylabel="test accuracy",
        bounds=(0, 1),
        diverged=rec.diverged,
        title=f"{head}\n{_rule_note(rec, 'test_accuracy')}",
    )


def _loss(rec: Record, metric: str = "train_loss"):
    # the median: with +inf for a failed run the mean is infinite, and a t-interval of a
    # loss dips below 0, which a log axis cannot draw
    what = metric.replace("_", " ")
    head = f"{what}, median over {_who(rec, metric)}"
    return plots.learning_curves(
        rec.steps,
        rec.curve(metric, diverged_as=rec.rule),
        rec.labels,
        ylabel=what,
        logy=True,
        statistic="median",
        diverged=rec.diverged,
        title=f"{head}\n{_rule_note(rec, metric)}",
    )


def _grad_norm_heatmap(rec: Record):
    head = f"gradient L2 norm: median over {_who(rec, 'grad_norm')}, per layer and step"
    return plots.layer_heatmap(
        rec.steps,
        rec.curve("grad_norm", diverged_as=_trace_rule(rec)),
        rec.labels,
        title=f"{head}\n{_rule_note(rec, 'grad_norm')}",
    )


def _unit_fractions(rec: Record):
    rule = _trace_rule(rec)
    return plots.unit_fractions(
        rec.steps,
        rec.curve("dead", diverged_as=rule),
        rec.curve("saturated", diverged_as=rule),
        rec.labels,
        inactive=rec.curve("inactive", diverged_as=rule),
        title=f"mean over {_who(rec, 'dead')}\n{_rule_note(rec, 'dead')}",
    )


def _final_distribution(rec: Record, summary: pd.DataFrame):
    return plots.final_distribution(
        rec.final("test_accuracy"),
        rec.labels,
        ylabel="final test accuracy",
        summary=summary,
        diverged=rec.diverged,
        title=f"final test accuracy, {_who(rec, 'test_accuracy')}\n"
        + _rule_note(rec, "test_accuracy"),
    )


def _time_to_threshold(rec: Record, th: Threshold):
    return plots.time_to_threshold(
        times(rec, th),
        rec.labels,
        max_step=max(float(rec.steps[-1]), 1),
        diverged=rec.diverged,
        title=f"time to {th}: fraction of all {rec.seeds} seeds\n"
        "a diverged run counts if it reached it before it diverged\n"
        "legend: reached / seeds",
    )


def sample_caption(rec: Record, split: str) -> str:
    """How many examples of ``split`` ("test", "train", "census") each point of a curve read:
    " (1000 test examples per point, 10000 at the last)"; "" for a run that did not say."""
    sizes = rec.doc["config"].get("eval_examples", {}).get(split)
    if not sizes:
        return ""
    curve, final = sizes
    what = "training examples" if split == "train" else f"{split} examples"
    if curve == final:
        return f" ({final} {what} per point)"
    return f" ({curve} {what} per point, {final} at the last)"


def figures(rec: Record, th: Threshold | None, tabs) -> list[tuple[str, str, Callable]]:
    """The report's figures as (description, file name, make) with ``make() -> Figure``.

    Every figure counts every seed under the run's rule for diverged runs (``rec.rule``),
    and its title says how and over how many seeds; curves with no failure outcome
    (gradient norms, the unit census) show the seeds that had not diverged, with their n.
    ``tabs``: ``tables(rec, th)``, whose intervals the final accuracy plot draws.
    """
    # the descriptions (report.md's captions) name what is drawn; each figure's title
    # carries the rule and n, so the PNG says it wherever it is shown
    classification = rec.primary == "test_accuracy"
    figs = [
        (
            "test accuracy over training" + sample_caption(rec, "test"),
            "test_accuracy.png",
            lambda: _test_accuracy(rec),
        )
        if classification
        else (
            "test loss over training" + sample_caption(rec, "test"),
            "test_loss.png",
            lambda: _loss(rec, "test_loss"),
        ),
        (
            "train loss over training" + sample_caption(rec, "train"),
            "train_loss.png",
            lambda: _loss(rec),
        ),
        ("gradient norm per layer", "grad_norm_heatmap.png", lambda: _grad_norm_heatmap(rec)),
    ]
    if rec.trace.dead.shape[-1] > 0:
        figs.append(
            (
                "inactive, dead and saturated units" + sample_caption(rec, "census"),
                "unit_fractions.png",
                lambda: _unit_fractions(rec),
            )
        )
    if classification:  # a loss per seed is in its table; a strip of +inf draws nothing
        figs.append(
            (
                "final test accuracy per seed",
                "final_test_accuracy.png",
                lambda: _final_distribution(rec, tabs["test_accuracy"]),
            )
        )
    if th is not None:
        figs.append((f"time to {th}", "time_to_threshold.png", lambda: _time_to_threshold(rec, th)))
    return figs


def write_plots(rec: Record, out: Path, th: Threshold | None, tabs) -> list[tuple[str, str]]:
    """The report's PNGs (``figures``) in ``out``; returns (description, file name) of each."""
    written = []
    for desc, name, make in figures(rec, th, tabs):
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
    tidy: str = "auto",
) -> Path:
    """Write ``report.md``, the tidy table and the plots into ``out``; returns report.md's path.

    ``threshold`` defaults to the one saved with the run (``rec.threshold``). ``tidy`` is the
    tidy table's level (``tables.tidy``: ``"final"``, ``"curves"``, ``"all"``); ``"auto"``, the
    default, is ``"all"`` up to ``TIDY_MAX_ROWS`` rows and ``"curves"`` above, and report.md
    says which was written.
    """
    from actlab.tables import tidy as tidy_table  # here ``tidy`` names the level

    out = Path(out)
    th = threshold_of(rec, threshold)
    tabs = tables(rec, th)
    files = write_plots(rec, out, th, tabs) if figures else []
    if tidy_files:
        level, note = tidy, ""
        if tidy == "auto":
            rows = sum(getattr(rec.trace, f).size for f in rec.trace.names() if f != "step")
            level = "all" if rows <= TIDY_MAX_ROWS else "curves"
            if level != "all":
                note = f"; every traced value is {rows:,} rows: `actlab report {out} --tidy all`"
        df = tidy_table(rec, level)
        kept = {
            "all": "every traced value",
            "curves": "the scalar metrics at every evaluation, no per-layer ones",
            "final": "every metric at the last evaluation",
        }[level]
        what = f"tidy table ({level}: {kept}{note}), {len(df):,} rows ({', '.join(df.columns)})"
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
