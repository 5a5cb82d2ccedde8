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

    def with_rule(self, diverged_as: str) -> Record:
        """This record with another rule for diverged runs (``actlab.outcome``); the tables
        and the report follow it (the files on disk keep theirs)."""
        rule = outcome.check_rule(diverged_as)
        classes = self.classes if rule == "failure" else 0
        finals = {m: self.final(m, diverged_as="frozen") for m in results.SUMMARISED}
        doc = {
            **self.doc,
            "outcome": {
                "diverged_as": rule,
                "description": outcome.describe(rule, classes or None),
            },
            "summary": outcome.document(finals, self.diverged, self.labels, classes, rule),
        }
        return dataclasses.replace(self, doc=doc)

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
        if metric not in self.trace.names():
            accepted = ", ".join((*self.trace.names(), "train_error", "test_error"))
            raise ValueError(f"unknown metric {metric!r}; accepted: {accepted}")
        v = self.flat(getattr(self.trace, metric)).astype(float)
        if raw or metric in ("step", "diverged"):
            return v
        gone = self.flat(self.trace.diverged).astype(bool)
        return np.where(gone.reshape(gone.shape + (1,) * (v.ndim - gone.ndim)), np.nan, v)

    @property
    def classes(self) -> int:
        """Classes of the run's task (chance accuracy is ``1 / classes``)."""
        c = self.doc["config"].get("classes")
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
        return outcome.apply(raw, self.diverged, metric, classes, rule)

    def lr_groups(self) -> list[tuple[float | None, list[int]]]:
        """Groups that are compared with each other: all of them, or one set per lr."""
        if self.lrs is None:
            return [(None, list(range(len(self.labels))))]
        n = len(self.lrs)
        return [
            (lr, [a * n + j for a in range(len(self.activations))]) for j, lr in enumerate(self.lrs)
        ]
