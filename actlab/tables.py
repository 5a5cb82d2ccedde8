"""The numbers of a report as tables (``pandas.DataFrame``), computed from a ``Record``: the
summary over seeds, paired comparisons, failure rates, time to threshold, the tidy long
table, and the comparison of two independent runs. Nothing here formats or writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from actlab import outcome, stats
from actlab.record import Record, Threshold, parse_threshold

CONFIDENCE = 0.95
TIDY_COLUMNS = ("act", "lr", "seed", "step", "metric", "layer", "value")


def summary_table(
    rec: Record, metric: str, *, diverged_as: str | None = None, seed: int = 0
) -> pd.DataFrame:
    """``stats.summarize`` of the final ``metric`` over seeds under the rule for diverged runs
    (``diverged_as``, default the run's: every seed counts), plus ``n_diverged`` (also as
    ``diverged``), ``seeds`` and ``rule``."""
    rule = rec.rule if diverged_as is None else diverged_as
    classes = rec.classes if rule == "failure" else 0
    raw = rec.final(metric, diverged_as="frozen")
    table = outcome.summary(
        raw, rec.diverged, rec.labels, metric, classes, rule, confidence=CONFIDENCE, seed=seed,
        goals=rec.goals,
    )  # fmt: skip
    table["diverged"] = table["n_diverged"]
    return table


def pairwise_table(rec: Record, metric: str = "test_accuracy", *, seed: int = 0) -> pd.DataFrame:
    """``stats.pairwise`` (paired by seed) of the final ``metric`` between activations at the
    same lr, every seed under the run's rule for diverged runs (a failed run ties with
    another failed run); ``p_holm`` is adjusted over every row of the table."""
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
    """Per group, counts over every seed with Wilson CIs (``k``, ``rate``, ``ci_low``,
    ``ci_high`` per outcome): ``diverged_*``; with ``th``, each run in one category
    (``outcome.categories``): ``reached_*`` (reached ``th`` at an evaluation and never
    diverged), ``not_reached_*``, and ``failed_*`` (did not reach it, diverged included)."""
    outcomes = {"diverged": rec.diverged}
    if th is not None:
        cats = outcome.categories(rec.diverged, np.isfinite(times(rec, th)))
        outcomes["reached"] = cats["reached"]
        outcomes["not_reached"] = cats["not reached"]
        outcomes["failed"] = ~np.isfinite(times(rec, th))
    table = pd.DataFrame({"name": rec.labels, "n": rec.seeds})
    for what, flags in outcomes.items():
        r = stats.rates(flags, rec.labels, confidence=CONFIDENCE)
        for c in ("k", "rate", "ci_low", "ci_high"):
            table[f"{what}_{c}"] = r[c].to_numpy()
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


def threshold_of(rec: Record, th) -> Threshold | None:
    """``th`` parsed (a study's own metric with its goal), or the threshold saved with the
    run when ``th`` is None."""
    if th is None:
        return rec.threshold
    t = th if isinstance(th, Threshold) else parse_threshold(th)
    return t._replace(goal=t.goal or outcome.goal(t.metric, rec.goals))


def tables(rec: Record, th: Threshold | str | Sequence | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report, as numbers (``th`` defaults to the run's threshold):
    the final ``rec.primary`` metric (test accuracy, or test loss where the task has no
    accuracy) and its survivors-only view and paired comparisons, the final train loss,
    each of the study's own metrics, the outcomes and time to threshold. Keyed by metric
    name, and ``survivors``, ``pairwise``, ``failures``, ``threshold``."""
    th = threshold_of(rec, th)
    p = rec.primary
    out = {
        p: summary_table(rec, p),
        "train_loss": summary_table(rec, "train_loss"),
        "survivors": summary_table(rec, p, diverged_as="exclude"),
        "pairwise": pairwise_table(rec, p),
        "failures": failure_table(rec, th),
    }
    for m in rec.own_metrics:
        out[m] = summary_table(rec, m)
    if th is not None:
        out["threshold"] = threshold_table(rec, th)
    return out


TIDY_LEVELS = ("final", "curves", "all")  # tidy()'s levels, smallest first


def tidy(rec: Record, level: str = "all") -> pd.DataFrame:
    """Long format: one row per activation x (lr) x seed x evaluation x metric (x layer).

    ``level`` chooses the rows (``TIDY_LEVELS``): ``"all"`` every traced value; ``"curves"``
    the scalar metrics at every evaluation (no per-layer ones); ``"final"`` every metric,
    per-layer ones included, at the last evaluation only. Columns ``act`` (categorical),
    ``lr`` (only with an lr sweep), ``seed``, ``step``, ``metric`` (categorical: every Trace
    field but ``step``; ``diverged`` is 0/1), ``layer`` (0 = input side, as ``layer_0``; -1
    for scalar metrics) and ``value`` (float64), whatever the level.
    """
    if level not in TIDY_LEVELS:
        raise ValueError(f"tidy level must be one of {', '.join(TIDY_LEVELS)}; got {level!r}")
    lead = 2 + (rec.lrs is not None)  # axes before evals
    evals = slice(-1, None) if level == "final" else slice(None)
    steps = rec.steps.astype(np.int64)[evals]
    metrics = [f for f in rec.trace.names() if f != "step"]
    frames = []
    for m in metrics:
        a = np.asarray(getattr(rec.trace, m))[(slice(None),) * lead + (evals,)]
        layered = a.ndim == lead + 2
        if a.size == 0 or (layered and level == "curves"):
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


def compare(a: Record, b: Record, metric: str = "test_accuracy", *, seed: int = 0) -> pd.DataFrame:
    """Per activation (and lr) present in both runs: final ``metric`` of ``b`` minus ``a``.

    The runs are independent, so the comparison is unpaired: Welch's test, the Welch t CI of
    the difference of means, Cohen's d with the pooled sd,
    P(B > A) = Mann-Whitney U / (n_a n_b). ``p_holm`` is adjusted over the activations.
    Each run's diverged models count under its rule (``Record.rule``; default: as failed
    runs). Raises ValueError if the runs share no activation.
    """
    common = [name for name in a.labels if name in b.labels]
    if not common:
        raise ValueError(
            f"the runs share no activation: {', '.join(a.labels)} vs {', '.join(b.labels)}"
        )
    fa, fb = a.final(metric), b.final(metric)
    n = max(a.seeds, b.seeds)
    pad = lambda v: np.concatenate([v, np.full(n - v.size, np.nan)])
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
    """Settings (config, seeds, experiment, rule for diverged runs) that differ between two
    runs."""
    da = {"experiment": a.experiment, "seeds": a.seeds, "diverged_as": a.rule, **a.doc["config"]}
    db = {"experiment": b.experiment, "seeds": b.seeds, "diverged_as": b.rule, **b.doc["config"]}
    return [
        f"{k}: {da.get(k)} vs {db.get(k)}"
        for k in dict.fromkeys([*da, *db])
        if da.get(k) != db.get(k)
    ]
