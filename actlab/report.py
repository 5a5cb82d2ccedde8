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
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from actlab import plots, results
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


def _final_distribution(rec: Record, summary: pd.DataFrame):
    return plots.final_distribution(
        rec.final("test_accuracy"), rec.labels, ylabel="final test accuracy", summary=summary
    )


def _time_to_threshold(rec: Record, th: Threshold):
    fig = plots.time_to_threshold(times(rec, th), rec.labels, max_step=max(float(rec.steps[-1]), 1))
    fig.axes[0].set_title(f"time to {th} ({rec.seeds} seeds; legend: reached / seeds)")
    return fig


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


def write_plots(rec: Record, out: Path, th: Threshold | None, tabs) -> list[tuple[str, str]]:
    """The report's PNGs in ``out``; returns (description, file name) of each."""
    steps, labels = rec.steps, rec.labels
    figures = [
        (
            "test accuracy over training" + sample_caption(rec, "test"),
            "test_accuracy.png",
            lambda: plots.learning_curves(
                steps, rec.curve("test_accuracy"), labels, ylabel="test accuracy", bounds=(0, 1)
            ),
        ),
        (
            "train loss over training" + sample_caption(rec, "train"),
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
                "inactive, dead and saturated units" + sample_caption(rec, "census"),
                "unit_fractions.png",
                lambda: plots.unit_fractions(
                    steps,
                    rec.curve("dead"),
                    rec.curve("saturated"),
                    labels,
                    inactive=rec.curve("inactive"),
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
    th = threshold_of(rec, threshold)
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
