"""Each activation at its own learning rate, chosen on data the comparison never sees.

A reviewer's first question of "A beats B at lr X" is whether each got its own tuned rate
(AlexNet section 3.1 tuned each net's). The recipe, in two compiled calls:

1. ``tuning_study(study, metric)``: every activation x every lr of ``study.lrs`` x its own
   selection seeds in one call, on a validation split carved from the training data
   (``holdout``; ``train_*`` metrics select on the training split itself, for tasks whose
   training set is the whole population, as deep XOR's four points). The test split is
   not in that study at all.
2. ``choose(result, metric)``: each activation's rate by a declared rule (the best mean
   final metric over the selection seeds, every seed counted: a diverged run scores as a
   failed one, ``actlab.outcome``), kept as a ``Selection`` with every score.
3. ``at_selected(study, selection)``: the study with ``act_lrs``, each activation at its
   selected rate, trained on the whole training split and measured on the test split,
   with the study's own seeds, which the selection never used (``SELECTION_SEED`` offsets
   the selection's): the comparison is not scored on the runs that picked its rates.

``runner.execute_selected`` runs the recipe into a run folder (``actlab run ... --lrs
1e-3,1e-2 --select val_accuracy``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from actlab.dataset import Dataset

# metric -> (the traced field it reads in the selection run, larger is better)
METRICS = {
    "val_accuracy": ("test_accuracy", True),
    "val_loss": ("test_loss", False),
    "train_accuracy": ("train_accuracy", True),
    "train_loss": ("train_loss", False),
}
VALIDATION = 0.1  # default share of the training split held out for a val_* metric
SELECTION_SEED = 104_729  # the selection seeds' base is the study's seed plus this


def rule_of(metric: str, goals: dict[str, str] | None = None) -> tuple[str, bool]:
    """(the traced field ``metric`` reads, larger is better): a built-in one (``METRICS``),
    or ``val_NAME`` / ``train_NAME`` for a metric of the study's own with a goal
    (``Study(goals={NAME: "max" | "min"})``: a metric without one has no better side)."""
    if metric in METRICS:
        return METRICS[metric]
    split, _, name = metric.partition("_")
    if split in ("val", "train") and name in (goals or {}):
        return f"{'test' if split == 'val' else 'train'}_{name}", goals[name] == "max"
    own = [f"{s}_{n}" for n in (goals or {}) for s in ("val", "train")]
    raise ValueError(
        f"unknown selection metric {metric!r}; accepted: {', '.join([*METRICS, *own])}"
        + ("" if own else " (or val_NAME / train_NAME of a metric of yours with a goal)")
    )


def check_metric(metric: str, goals: dict[str, str] | None = None) -> None:
    rule_of(metric, goals)


def holdout(d: Dataset, n: int | float = VALIDATION, seed: int = 0) -> Dataset:
    """``d`` with ``n`` training examples (a share when ``n < 1``) held out as its test split.

    The examples are a fixed random subset (``numpy`` permutation of ``seed``), both parts
    kept in their original order. An ``ordered`` dataset (windows cut in order from one text,
    ``actlab.sequences``) holds out its *last* ``n`` training examples instead, a contiguous
    block (``seed`` unused): a random subset would put neighbouring windows of the same
    passage on both sides. Its windows do not overlap, so the two parts share no input; only
    the last kept window's final target is the block's first character. The real test split
    is not in the result, so a study on it cannot select on it. The normalisation
    (``shift``, ``scale``) stays the loaded one, a scalar mean and std over the whole
    training split.
    """
    total = int(d.x_train.shape[0])
    k = int(round(n * total)) if isinstance(n, float) and n < 1 else n
    if not isinstance(k, (int, np.integer)) or not 0 < k < total:
        raise ValueError(
            f"validation must hold out between 1 and {total - 1} of the {total} training "
            f"examples (a count, or a share below 1), got {n!r}"
        )
    if d.ordered:
        keep, val = np.arange(total - k), np.arange(total - k, total)
        how = "the last, a contiguous block: the dataset is ordered"
    else:
        order = np.random.default_rng(seed).permutation(total)
        val, keep = np.sort(order[:k]), np.sort(order[k:])
        how = f"permutation seed {seed}"
    return d._replace(
        x_train=d.x_train[keep],
        y_train=d.y_train[keep],
        x_test=d.x_train[val],
        y_test=d.y_train[val],
        source=f"{d.source}; validation split: {k} of its {total} training examples "
        f"({how}), its test split unused",
    )


def tuning_study(study, metric: str = "val_accuracy", *, validation=VALIDATION, seeds=None):
    """The selection run of ``study`` (which sweeps ``lrs``): the same protocol and number of
    steps, ``seeds`` selection seeds (default: the study's count) from a base of their own,
    on ``holdout(study.data, validation)`` for a ``val_*`` metric, on the training split
    for a ``train_*`` one (the test split then stays in the study, unread by the rule)."""
    check_metric(metric, study.goals)
    if study.lrs is None:
        raise ValueError("selecting a learning rate needs a sweep: give lrs=(...) (--lrs)")
    if len(study.lrs) < 2:
        raise ValueError(f"selecting among {len(study.lrs)} learning rate needs at least 2")
    data = holdout(study.data, validation) if metric.startswith("val_") else study.data
    return study.replace(
        data=data,
        seeds=study.seeds if seeds is None else seeds,
        seed=study.seed + SELECTION_SEED,
        steps=study.num_steps,  # the same length in steps, whatever the smaller split
        epochs=None,
        act_lrs=None,
        name=f"{study.name}_selection",
    )


class Selection(NamedTuple):
    """Each activation's learning rate and the scores that chose it.

    ``score``, ``sd``, ``n_diverged``: ``[acts, lrs]`` over the selection seeds (every seed:
    a diverged run scores its failure value, chance accuracy or an infinite loss);
    ``chosen``: one rate per activation; ``index``: its position in ``lrs``.
    """

    metric: str
    activations: tuple[str, ...]
    lrs: tuple[float, ...]
    score: np.ndarray
    sd: np.ndarray
    n_diverged: np.ndarray
    seeds: int
    seed: int
    validation: int  # examples held out (0: a train_* metric, selected on the training split)
    index: tuple[int, ...]
    larger: bool = True  # larger is better (rule_of)

    @property
    def chosen(self) -> tuple[float, ...]:
        return tuple(self.lrs[i] for i in self.index)

    @property
    def rule(self) -> str:
        larger = self.larger
        where = (
            f"a validation split of {self.validation} training examples"
            if self.validation
            else "the training split"
        )
        best = "highest" if larger else "lowest"
        return (
            f"per activation, the lr with the {best} mean final {self.metric} over "
            f"{self.seeds} selection seeds (their own, not the comparison's) on {where}; "
            "a diverged run counts as failed; ties go to the first lr listed"
        )

    def at_edge(self) -> tuple[str, ...]:
        """Activations whose rate is the grid's smallest or largest: the best may lie
        outside it (``lrs`` in the order given; the edges are its min and max)."""
        lo, hi = min(self.lrs), max(self.lrs)
        return tuple(a for a, lr in zip(self.activations, self.chosen) if lr in (lo, hi))

    def table(self) -> pd.DataFrame:
        """One row per activation x lr: ``score``, ``sd``, ``n_diverged``, ``chosen``."""
        rows = [
            {
                "activation": a,
                "lr": lr,
                self.metric: float(self.score[i, j]),
                "sd": float(self.sd[i, j]),
                "seeds": self.seeds,
                "n_diverged": int(self.n_diverged[i, j]),
                "chosen": j == self.index[i],
            }
            for i, a in enumerate(self.activations)
            for j, lr in enumerate(self.lrs)
        ]
        return pd.DataFrame(rows)

    def to_json(self) -> dict:
        def finite(a):
            return [[float(v) if math.isfinite(v) else None for v in row] for row in a]

        return {
            "metric": self.metric,
            "rule": self.rule,
            "activations": list(self.activations),
            "lrs": list(self.lrs),
            "chosen": dict(zip(self.activations, self.chosen)),
            "at_edge": list(self.at_edge()),
            "score": finite(self.score),
            "sd": finite(self.sd),
            "n_diverged": np.asarray(self.n_diverged).tolist(),
            "seeds": self.seeds,
            "seed": self.seed,
            "validation": self.validation,
            "index": list(self.index),
            "larger": self.larger,
        }

    @classmethod
    def from_json(cls, doc: dict) -> Selection:
        def arr(rows, fill):
            return np.array([[fill if v is None else v for v in r] for r in rows], float)

        larger = doc["larger"] if "larger" in doc else METRICS[doc["metric"]][1]
        return cls(
            doc["metric"],
            tuple(doc["activations"]),
            tuple(float(x) for x in doc["lrs"]),
            arr(doc["score"], -math.inf if larger else math.inf),
            arr(doc["sd"], math.nan),
            np.asarray(doc["n_diverged"], int),
            int(doc["seeds"]),
            int(doc["seed"]),
            int(doc["validation"]),
            tuple(int(i) for i in doc["index"]),
            bool(larger),
        )


def choose(result, metric: str = "val_accuracy") -> Selection:
    """Each activation's rate from the selection run ``result`` (``[acts, lrs, seeds]``):
    the best mean final ``metric`` over its seeds, every seed counted."""
    study = result.study
    field, larger = rule_of(metric, study.goals)
    if study.lrs is None:
        raise ValueError("choose needs the result of a study that sweeps lrs (tuning_study)")
    final = np.asarray(result.final(field), dtype=float)  # a diverged run: its failure value
    with np.errstate(invalid="ignore", over="ignore"):  # the sd of an lr with infinite losses
        score, sd = final.mean(axis=-1), final.std(axis=-1, ddof=1 if final.shape[-1] > 1 else 0)
    index = np.argmax(score, axis=1) if larger else np.argmin(score, axis=1)
    held = 0 if not metric.startswith("val_") else int(study.data.x_test.shape[0])
    return Selection(
        metric,
        tuple(result.activations),
        tuple(float(x) for x in study.lrs),
        score,
        sd,
        result.diverged.sum(axis=-1),
        int(study.seeds),
        int(study.seed),
        held,
        tuple(int(i) for i in index),
        bool(larger),
    )


def at_selected(study, selection: Selection):
    """``study`` with each activation at its selected rate (``act_lrs``), no sweep; its data,
    seeds and length its own."""
    if tuple(study.activations) != selection.activations:
        raise ValueError(
            f"the selection is for {selection.activations}, the study has {study.activations}"
        )
    return study.replace(lrs=None, act_lrs=selection.chosen)
