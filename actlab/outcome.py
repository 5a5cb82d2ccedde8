"""What each seed's run counts as: one rule for diverged models, read by ``Result``,
``results.json``, report.md, the terminal table and the notebooks alike.

A model *diverges* when its loss goes non-finite; the trainer freezes it at its last finite
parameters and flags the step (``diverged_at``). Leaving such runs out of a statistic is
survivorship bias: an activation that diverges on half its seeds and solves the task on the
rest would read as perfect. The rule, ``diverged_as``:

- ``"failure"`` (default, intention-to-treat): every seed stays in. A diverged run gets the
  declared outcome of a failure: chance accuracy (``1 / classes``), the complementary error,
  and ``+inf`` for loss-type metrics (the worst rank: medians and rank tests stay
  meaningful, the mean of a loss is infinite once one run diverged, and says so).
- ``"exclude"``: diverged runs are left out (NaN): a survivors-only view over fewer seeds,
  chosen by their outcome, so it is biased towards whatever diverges. Always show its n.
- ``"frozen"``: the values traced for the frozen model, as they are (raw data, not an
  outcome: its last finite parameters may have been anywhere).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from actlab import stats

RULES = ("failure", "exclude", "frozen")
DEFAULT = "failure"
ACCURACY = ("train_accuracy", "test_accuracy")
ERROR = ("train_error", "test_error")
LOSS = ("batch_loss", "train_loss", "test_loss")


def check_rule(rule: str | None) -> str:
    """``rule`` (None: the default) after checking it is one of ``RULES``."""
    rule = DEFAULT if rule is None else rule
    if rule not in RULES:
        raise ValueError(f"diverged_as must be one of {', '.join(RULES)}; got {rule!r}")
    return rule


GOALS = ("max", "min")


def check_goals(goals) -> None:
    """Raise ``ValueError`` unless ``goals`` is None or ``{metric name: "max" | "min"}``."""
    if goals is None:
        return
    if not isinstance(goals, dict) or any(g not in GOALS for g in goals.values()):
        raise ValueError(f'goals must be {{metric name: "max" or "min"}}, got {goals!r}')


def goal(metric: str, goals: dict | None = None) -> str | None:
    """Which way is better for ``metric``: "max" (accuracies), "min" (losses, errors), a
    user metric's declared goal (``Study(goals=...)``, by its name without ``train_`` /
    ``test_``), or None where nothing says."""
    if metric in ACCURACY:
        return "max"
    if metric in ERROR or metric in LOSS:
        return "min"
    name = metric.split("_", 1)[1] if metric.startswith(("train_", "test_")) else metric
    return (goals or {}).get(name)


def failure_value(metric: str, classes: int | None, goals: dict | None = None) -> float:
    """The declared outcome of a failed run for ``metric``: chance accuracy, its error,
    ``+inf`` for a loss, the worst rank (``-inf`` or ``+inf``) for a user metric with a
    declared goal. ValueError for metrics with no declared failure outcome (trace quantities
    such as ``grad_norm``, a user metric without a goal: use ``"exclude"`` or ``"frozen"``)."""
    if metric in ACCURACY + ERROR and classes:
        return 1.0 / classes if metric in ACCURACY else 1.0 - 1.0 / classes
    if metric in LOSS:
        return np.inf
    g = goal(metric, goals)
    if g is not None and metric not in ACCURACY + ERROR:
        return -np.inf if g == "max" else np.inf
    raise ValueError(
        f"{metric!r} has no declared failure outcome (only {', '.join(ACCURACY + ERROR + LOSS)} "
        "and metrics with a goal do: Study(goals={name: 'max' or 'min'})); use "
        "diverged_as='exclude' (survivors only) or 'frozen' (raw values)"
    )


def apply(
    values, diverged, metric: str, classes: int | None, rule: str | None = None, *, goals=None
) -> np.ndarray:
    """``values: [..., seeds, (more)]`` with each diverged run's entry set by ``rule``.

    diverged: bool with the leading shape of ``values`` (broadcast over its extra axes).
    Returns float64.
    """
    rule = check_rule(rule)
    v = np.asarray(values, dtype=float)
    if rule == "frozen":
        return v
    d = np.asarray(diverged, dtype=bool)
    d = d.reshape(d.shape + (1,) * (v.ndim - d.ndim))
    fill = np.nan if rule == "exclude" else failure_value(metric, classes, goals)
    return np.where(d, fill, v)


def describe(rule: str | None, classes: int | None) -> str:
    """The rule in one sentence, for reports and ``results.json``."""
    rule = check_rule(rule)
    if rule == "failure":
        chance = "chance" if classes is None else f"chance, {1 / classes:.3g}"
        return (
            "every seed counts (intention-to-treat): a diverged run is a failed run, scored "
            f"at the accuracy of a guess ({chance}) and the worst rank for losses (+inf)"
        )
    if rule == "exclude":
        return (
            "survivors only: diverged runs are left out, so n is smaller and the figures are "
            "biased towards activations that diverge"
        )
    return "raw: diverged runs keep the values of their frozen last finite parameters"


def categories(diverged, reached) -> dict[str, np.ndarray]:
    """Each run in exactly one category: ``diverged`` (at any step), else ``reached`` (the
    threshold, at some evaluation) or ``not reached``. Arrays ``[..., seeds]`` bool."""
    d = np.asarray(diverged, dtype=bool)
    r = np.asarray(reached, dtype=bool) & ~d
    return {"reached": r, "not reached": ~d & ~r, "diverged": d}


def bounds_of(metric: str) -> tuple[float, float] | None:
    """The range of ``metric``'s values, which its intervals keep to
    (``stats.summarize(bounds=...)``): (0, 1) for an accuracy or an error, (0, inf) for a
    loss (cross-entropy and the other losses here are >= 0); None (no range) otherwise."""
    if metric in ACCURACY or metric in ERROR:
        return (0.0, 1.0)
    if metric in LOSS:
        return (0.0, np.inf)
    return None


SUMMARY_KEYS = ("n", "n_diverged", "mean", "ci_low", "ci_high", "rule")
CONFIDENCE = 0.95


def summary(
    values,
    diverged,
    names,
    metric: str,
    classes: int,
    rule: str | None = None,
    *,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    goals: dict | None = None,
) -> pd.DataFrame:
    """``stats.summarize`` of ``values: [groups, seeds]`` (raw, as traced) under ``rule``,
    plus ``n_diverged``, ``seeds`` and ``rule`` per group. Under ``"failure"`` n is every
    seed; under ``"exclude"`` n counts the survivors. The intervals keep to the metric's
    range (``bounds_of``): an accuracy's inside [0, 1], a loss's at or above 0."""
    rule = check_rule(rule)
    if rule == "failure" and not has_failure_value(metric, classes, goals):
        rule = "exclude"  # nothing says what a failed run scores: the survivors, labelled
    d = np.asarray(diverged, dtype=bool)
    v = apply(values, d, metric, classes, rule, goals=goals)
    table = stats.summarize(
        v, list(names), confidence=confidence, seed=seed, bounds=bounds_of(metric)
    )
    table["n_diverged"] = d.sum(axis=1)
    table["seeds"] = d.shape[1]
    table["rule"] = rule
    return table


def summary_document(table: pd.DataFrame) -> dict[str, dict]:
    """``{name: {n, n_diverged, mean, ci_low, ci_high, rule, median, ...}}`` for
    ``results.json`` from a ``summary`` table (non-finite numbers become null)."""
    keep = (*SUMMARY_KEYS, "median", "median_ci_low", "median_ci_high", "std", "ci_method")
    return {
        row["name"]: {k: _plain(row[k]) for k in keep if k in row}
        for row in table.to_dict(orient="records")
    }


def document(
    finals: dict, diverged, labels, classes: int | None, rule: str | None = None, *, goals=None
) -> dict:
    """``results.json``'s ``summary``: ``{"final_METRIC": summary_document(...)}`` for each
    ``finals[METRIC]: [groups, seeds]`` (raw values, as traced). A metric with no declared
    failure outcome is summarised over the survivors (its ``rule`` says "exclude")."""
    return {
        f"final_{m}": summary_document(summary(v, diverged, labels, m, classes, rule, goals=goals))
        for m, v in finals.items()
    }


def has_failure_value(metric: str, classes: int | None, goals: dict | None = None) -> bool:
    try:
        failure_value(metric, classes, goals)
    except ValueError:
        return False
    return True


def _plain(x):
    if isinstance(x, (str, bool)) or x is None:
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if np.isfinite(x) else None
