"""The record of a run: ``results.json``'s document plus its traced arrays, whether it comes
from a ``Result`` in memory or from a run folder on disk, so that everything rendered from it
is the same either way. Also ``Threshold``, the level a curve must reach.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from actlab import outcome, results
from actlab.train import Trace

SCALAR_METRICS = ("batch_loss", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
THRESHOLD_METRICS = ("train_error", "test_error", *SCALAR_METRICS)


class Threshold(NamedTuple):
    """A level a curve must reach: errors and losses from above (``<=``), accuracies from
    below (``>=``), a study's own metric as its goal says (``goal``: "max" reached from
    below, "min" from above). ``metric`` is a scalar traced quantity or ``train_error`` /
    ``test_error`` (1 - accuracy)."""

    metric: str
    value: float
    goal: str | None = None  # None: from the metric's name (outcome.goal)

    @property
    def below(self) -> bool:
        goal = self.goal or outcome.goal(self.metric)
        if goal is None:
            raise ValueError(
                f"a threshold on {self.metric!r} needs its goal: Study(goals={{name: 'max' or "
                "'min'}}) says whether it is reached from below or from above"
            )
        return goal == "min"

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
    own = metric.startswith(("train_", "test_")) and metric.partition("_")[2].isidentifier()
    if metric not in THRESHOLD_METRICS and not own:
        raise ValueError(
            f"unknown threshold metric {metric!r}; accepted: {', '.join(THRESHOLD_METRICS)}, "
            "or train_NAME / test_NAME of a study's own metric"
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

    def with_rule(self, diverged_as: str) -> Record:
        """This record with another rule for diverged runs (``actlab.outcome``); the tables
        and the report follow it (the files on disk keep theirs)."""
        rule = outcome.check_rule(diverged_as)
        classes = self.classes if rule == "failure" else 0
        finals = {m: self.final(m, diverged_as="frozen") for m in results.summarised(self.trace)}
        summary = outcome.document(
            finals, self.diverged, self.labels, classes, rule, goals=self.goals
        )
        doc = {
            **self.doc,
            "outcome": {
                "diverged_as": rule,
                "description": outcome.describe(rule, classes or None),
            },
            "summary": summary,
        }
        return dataclasses.replace(self, doc=doc)

    @property
    def experiment(self) -> str:
        return self.doc["experiment"]

    @property
    def primary(self) -> str:
        """The metric the report leads with: the final test accuracy, or where the task has
        none (a regression, a loss of the study's own) the final test loss."""
        return "test_accuracy" if "test_accuracy" in self.trace.names() else "test_loss"

    @property
    def goals(self) -> dict[str, str]:
        """The study's own metrics' goals (``Study(goals=...)``): "max" or "min"."""
        return dict(self.doc["config"].get("goals") or {})

    @property
    def own_metrics(self) -> list[str]:
        """The study's own metrics on the test sample (``test_NAME``), in trace order."""
        builtin = ("test_loss", "test_accuracy")
        return [n for n in self.trace.names() if n.startswith("test_") and n not in builtin]

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
        if t is None:
            return None
        return Threshold(t["metric"], float(t["value"]), outcome.goal(t["metric"], self.goals))

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

    def curve(
        self, metric: str, *, raw: bool = False, diverged_as: str | None = None
    ) -> np.ndarray:
        """[groups, seeds, evals, (layers)] of a Trace field, or train_error / test_error.

        A diverged model is frozen at its last finite parameters, so its metrics stay
        finite. From the first evaluation after it diverged, ``diverged_as`` (a rule of
        ``actlab.outcome``) sets them: ``"failure"`` to the failed run's declared outcome
        (``outcome.failure_value``: chance accuracy, +inf loss; ValueError for trace
        quantities such as ``grad_norm``, which have none), ``"exclude"`` to NaN,
        ``"frozen"`` leaves them. Evaluations before it diverged keep their values.

        Default (None): NaN, as ``"exclude"``, unless ``raw`` (as ``"frozen"``). Unlike
        ``final``, the default is not the run's rule: most traced fields have no failure
        outcome; pass ``diverged_as=self.rule`` for a curve under the report's rule.
        """
        if raw and diverged_as not in (None, "frozen"):
            raise ValueError(f"raw=True is diverged_as='frozen'; got diverged_as={diverged_as!r}")
        rule = "frozen" if raw else outcome.check_rule(diverged_as or "exclude")
        if metric in ("train_error", "test_error"):
            return 1.0 - self.curve(metric.replace("error", "accuracy"), diverged_as=rule)
        if metric not in self.trace.names():
            accepted = ", ".join((*self.trace.names(), "train_error", "test_error"))
            raise ValueError(f"unknown metric {metric!r}; accepted: {accepted}")
        v = self.flat(getattr(self.trace, metric)).astype(float)
        if rule == "frozen" or metric in ("step", "diverged"):
            return v
        # trace.diverged is per evaluation: True from the first one after the failing step
        gone = self.flat(self.trace.diverged).astype(bool)
        classes = self.classes if rule == "failure" else 0
        return outcome.apply(v, gone, metric, classes, rule, goals=self.goals)

    @property
    def classes(self) -> int | None:
        """Classes of the run's task (chance accuracy is ``1 / classes``); None for a
        regression."""
        config = self.doc["config"]
        c = config.get("classes")
        if c is None and "classes" in config and config.get("metrics") is not None:
            return None  # recorded as none: a regression
        if c is None:  # results.json from before the outcome model: binary losses know theirs
            if self.doc["config"].get("loss", "softmax_ce") != "softmax_ce":
                return 2
            raise ValueError(
                "this results.json does not record the number of classes, so a failed run's "
                "chance accuracy is unknown; pass diverged_as='exclude' or 'frozen', or rerun"
            )
        return int(c)

    @property
    def rule(self) -> str:
        """The run's rule for diverged models (``actlab.outcome``), as saved."""
        return outcome.check_rule(self.doc.get("outcome", {}).get("diverged_as"))

    def final(self, metric: str, *, diverged_as: str | None = None) -> np.ndarray:
        """[groups, seeds] the metric at the last evaluation, each diverged run's value set
        by ``diverged_as`` (default: the run's rule, ``self.rule``), as ``Result.final``."""
        rule = self.rule if diverged_as is None else outcome.check_rule(diverged_as)
        raw = self.curve(metric, raw=True)[:, :, -1]
        classes = self.classes if rule == "failure" else 0
        return outcome.apply(raw, self.diverged, metric, classes, rule, goals=self.goals)

    def lr_groups(self) -> list[tuple[float | None, list[int]]]:
        """Groups that are compared with each other: all of them, or one set per lr."""
        if self.lrs is None:
            return [(None, list(range(len(self.labels))))]
        n = len(self.lrs)
        return [
            (lr, [a * n + j for a in range(len(self.activations))]) for j, lr in enumerate(self.lrs)
        ]
