"""Suites: one activation question over many tasks (dataset x model x protocol).

    suite = actlab.Suite(tasks=[Task("a", study_a), Task("b", study_b)], seeds=20)
    result = suite.run("runs/my_suite")        # OUT/a/, OUT/b/: run folders; OUT/suite.md

A single ``Study`` answers "on this data, with this model"; a ``Suite`` asks whether the
answer holds across tasks. Every task trains the same activations (the suite's, or its
first task's) under its own protocol, through ``runner.execute``, into its own run folder
``OUT/TASK/`` (report and all). Re-running a suite into the same ``OUT`` skips each task
whose run finished with the same fingerprint (``checkpoint.fingerprint``, recorded in
``OUT/TASK/suite_task.json`` when it finished) and continues an unfinished one from its
checkpoint, so a killed suite loses at most a chunk. ``OUT/`` then holds the aggregate
report (``actlab.suite_report``): ``suite.md``, plots and ``tidy.parquet``.

Tasks run one after another, each compiled on its own: tasks whose models had the same
parameter shapes could share one compiled call (their data differ, so it would be a call
over a data axis as well), but this does not do that. The suites here mix input sizes (784,
40, 64, 20 in ``mnist_like``), so no two of their tasks could share one, and a task's own
activations already share one traced step where their shapes agree (``Study``).

Scores. Each run contributes its final value of ``metric`` (default the test accuracy at
the last evaluation, on the whole test split unless the task's study reads fewer), with
diverged runs counted under ``diverged_as`` (``actlab.outcome``; default "failure": a
diverged run scores chance accuracy, +inf loss) before any statistic. The statistics across
tasks are ``actlab.aggregate``'s, on per-task min-max scores between chance (the floor:
``1 / classes`` for an accuracy, ``1 - 1 / classes`` for an error, ``ln(classes)``, the
loss of a uniform guess, for a loss) and the task's best run (score 1), by default.

Variance components (``actlab.variance``): for the tasks named in ``variance``, the study
is also trained with the init stream held (only the data order varies across seeds) and
with the data stream held (only the init varies), into ``OUT/TASK/init_held/`` and
``OUT/TASK/data_held/``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from actlab import aggregate, outcome, results, runner, suite_report, variance
from actlab.study import Study
from actlab.suite_report import Scores

TASK_JSON = "suite_task.json"  # the fingerprint of a task's finished run
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a task's name is its folder's


class Task(NamedTuple):
    """A dataset x model x protocol: ``name`` (its folder) and a ``Study``, or a function
    of no arguments returning one (called when the suite runs: data load only then)."""

    name: str
    study: Study | Callable[[], Study]

    def build(self) -> Study:
        s = (
            self.study()
            if callable(self.study) and not isinstance(self.study, Study)
            else self.study
        )
        if not isinstance(s, Study):
            raise ValueError(
                f"task {self.name!r}: expected an actlab.Study or a function returning one; "
                f"got {type(s).__name__}"
            )
        return s


def _task(t) -> Task:
    """A ``Task``, or a ``(name, study)`` pair made one."""
    if isinstance(t, Task):
        return t
    if isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str):
        return Task(*t)
    raise ValueError(
        f"a task must be Task(name, study) or a (name, study) pair; got {type(t).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class Suite:
    """The same activations over ``tasks`` (``Task``s or ``(name, study)`` pairs), each
    with ``seeds`` seeds.

    activations: default the first task's; every task's study must have exactly these (in
      any order: each is run in this order), else ValueError naming the task.
    seeds: default each task's own. metric: the final metric compared (default
      "test_accuracy"). diverged_as: the outcome rule (``actlab.outcome``).
    normalisation: "minmax" (chance to the task's best run) or "rank" (``aggregate``).
    reference: the activation the per-task effects are measured against (default: the last).
    order: a claimed order, worst to best (e.g. ("none", "sigmoid", "tanh", "relu")): the
      report gives each adjacent pair and "the last beats every other" a verdict.
    variance: names of tasks whose variance components are measured (two more trainings
      each, ``actlab.variance``); delta: the difference in ``metric`` the power table sizes
      seeds for. rope: the Bayesian test's region of practical equivalence, in ``metric``.
    question: one line for the report. confidence, reps, seed: of every interval.
    Learning rates: each task's study keeps its own optimizer; a rate sweep (``lrs``) is
    refused (a suite compares one score per activation and seed).
    """

    tasks: Sequence[Task]
    activations: Sequence[str] | None = None
    seeds: int | None = None
    metric: str = "test_accuracy"
    diverged_as: str = outcome.DEFAULT
    normalisation: str = "minmax"
    reference: str | None = None
    order: Sequence[str] | None = None
    variance: Sequence[str] = ()
    delta: float = 0.005
    rope: float = 0.005
    question: str = ""
    name: str = "suite"
    confidence: float = 0.95
    reps: int = 2000
    seed: int = 0

    def __post_init__(self):
        tasks = tuple(_task(t) for t in self.tasks)
        if not tasks:
            raise ValueError("tasks must be a non-empty sequence of Task(name, study)")
        names = [t.name for t in tasks]
        bad = [n for n in names if not NAME.match(n)]
        if bad:
            raise ValueError(
                f"task names {bad} cannot be folder names; accepted: letters, digits, _ . -"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique; got {names}")
        object.__setattr__(self, "tasks", tasks)
        outcome.check_rule(self.diverged_as)
        known = outcome.ACCURACY + outcome.ERROR + outcome.LOSS
        if self.metric not in known:
            raise ValueError(
                f"metric {self.metric!r}: a suite compares one of {', '.join(known)} (the "
                "metrics whose better side and failure value are declared)"
            )
        if self.normalisation not in aggregate.NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {aggregate.NORMALISATIONS}; "
                f"got {self.normalisation!r}"
            )
        if self.seeds is not None and (int(self.seeds) != self.seeds or self.seeds < 2):
            raise ValueError(f"seeds must be an integer >= 2 (intervals need 2); got {self.seeds}")
        unknown = set(self.variance) - set(names)
        if unknown:
            raise ValueError(
                f"variance names tasks {sorted(unknown)} the suite does not have; "
                f"accepted: {', '.join(names)}"
            )
        object.__setattr__(self, "variance", tuple(self.variance))
        if self.activations is not None:
            from actlab import activations

            object.__setattr__(self, "activations", activations.resolve(self.activations))
            self._check_named(self.activations)

    def _check_named(self, acts: Sequence[str]) -> None:
        """ValueError unless ``reference`` and ``order`` name activations among ``acts``."""
        for field in ("reference", "order"):
            v = getattr(self, field)
            wanted = [v] if isinstance(v, str) else list(v or ())
            if set(wanted) - set(acts):
                raise ValueError(
                    f"{field} {v!r} names activations the suite does not compare; "
                    f"accepted: {', '.join(acts)}"
                )

    # ------------------------------------------------------------------ studies

    def studies(self) -> dict[str, Study]:
        """Each task's study with the suite's seeds and activations, after the checks."""
        out, acts = {}, self.activations
        for task in self.tasks:
            s = task.build()
            if acts is None:
                acts = tuple(s.activations)
            if set(s.activations) != set(acts) or len(s.activations) != len(acts):
                raise ValueError(
                    f"task {task.name!r} trains activations {list(s.activations)}, but the "
                    f"suite compares {list(acts)}: every task must train the same ones"
                )
            if s.lrs is not None:
                raise ValueError(
                    f"task {task.name!r} sweeps learning rates (lrs={list(s.lrs)}); a suite "
                    "compares one score per activation and seed: give it one optimizer, or "
                    "act_lrs chosen beforehand (actlab.selection)"
                )
            changes = {"activations": acts}
            if s.act_lrs is not None:  # keep each activation's own rate with its name
                rate = dict(zip(s.activations, s.act_lrs))
                changes["act_lrs"] = tuple(rate[a] for a in acts)
            if self.seeds is not None:
                changes["seeds"] = int(self.seeds)
            out[task.name] = s.replace(**changes)
        self._check_named(acts)
        return out

    def runs(self, studies: dict[str, Study]) -> list[tuple[str, str, Study]]:
        """(task, design, study) of every training, in order: each task's own ("full"),
        then the held designs of the tasks in ``variance``."""
        out = [(name, "full", s) for name, s in studies.items()]
        for name in self.variance:
            s = studies[name]
            for design in variance.DESIGNS[1:]:
                out.append((name, design, s.replace(hold=variance.HOLDS[design])))
        return out

    # ------------------------------------------------------------------ running

    def run(
        self,
        out,
        *,
        chunks: int = 20,
        progress: bool = True,
        report: bool = True,
        task_reports: bool = True,
        command: str | None = None,
    ):
        """Train every task (skipping finished ones, continuing unfinished ones) into
        ``out/TASK/`` and return the ``suite_report.Analysis``; with ``report``, write
        ``out/suite.md``, the plots and ``out/tidy.parquet``; with ``task_reports`` each
        task's own report too (``runner.write_report``; without, ``actlab report OUT/TASK``
        renders it later). ``command``: the command line, for the report. Raises ValueError
        (bad tasks, a folder that does not fit) before anything is trained, and what
        ``runner.execute`` raises."""
        out = Path(out)
        runner.check_out(out)
        studies = self.studies()
        for task, design, study in self.runs(studies):
            run_task(
                task,
                study,
                folder(out, task, design),
                chunks,
                progress=progress,
                rule=self.diverged_as,
                report=task_reports,
            )
        held = {d: collect(self, out, studies, d) for d in variance.DESIGNS[1:] if self.variance}
        analysis = suite_report.analyse(self, collect(self, out, studies), held)
        if report:
            suite_report.write(analysis, out, command=command)
        return analysis


def folder(out: Path, task: str, design: str = "full") -> Path:
    """A task's run folder: ``out/TASK/`` (its own design), ``out/TASK/DESIGN/`` (a held one)."""
    return Path(out) / task if design == "full" else Path(out) / task / design


def _canonical(fp: dict) -> str:
    return json.dumps(results.jsonable(fp), sort_keys=True)


def finished(path: Path, study: Study, name: str) -> bool:
    """Whether ``path`` holds a complete run of ``study`` (its results.json complete and the
    fingerprint recorded when it finished equal to this study's)."""
    from actlab import checkpoint

    try:
        doc = json.loads((path / "results.json").read_text())
        mark = json.loads((path / TASK_JSON).read_text())
    except (OSError, ValueError):
        return False
    fp = _canonical(checkpoint.fingerprint(study, experiment=name))
    return bool(doc.get("complete")) and mark.get("fingerprint") == fp


def run_task(
    name: str,
    study: Study,
    path: Path,
    chunks: int,
    *,
    progress: bool = True,
    rule=None,
    report: bool = True,
) -> bool:
    """Train ``study`` into ``path`` unless it is ``finished`` there; continue it from a
    checkpoint if one is there. Returns whether anything was trained."""
    from actlab import checkpoint

    if finished(path, study, name):
        if progress:
            print(f"actlab: {name}: finished in {path}, skipped")
        return False
    resume = (path / checkpoint.NPZ).exists()
    runner.execute(
        name, study, path, chunks, progress=progress, resume=resume, diverged_as=rule, report=report
    )
    fp = _canonical(checkpoint.fingerprint(study, experiment=name))
    results.atomic_write(
        path / TASK_JSON, lambda tmp: tmp.write_text(json.dumps({"fingerprint": fp}))
    )
    return True


# ----------------------------------------------------------------------------- scores


def read_scores(
    path: Path, metric: str, acts: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(values [acts, seeds], diverged [acts, seeds], results.json) of a finished run folder,
    activations in ``acts`` order."""
    doc = json.loads((Path(path) / "results.json").read_text())
    key = f"final_{metric}"
    if key not in doc["metrics"]:
        have = [k.removeprefix("final_") for k in doc["metrics"] if k.startswith("final_")]
        raise ValueError(f"{path}: no final {metric!r} in results.json; accepted: {have}")
    v = np.array([[np.nan if x is None else x for x in doc["metrics"][key][a]] for a in acts])
    d = np.array([doc["metrics"]["diverged"][a] for a in acts], dtype=bool)
    return v.astype(float), d, doc


def _stack(rows: list[np.ndarray], fill) -> np.ndarray:
    """[acts, seeds_t] per task -> [tasks, acts, max seeds], padded with ``fill``."""
    width = max(r.shape[1] for r in rows)
    out = np.full((len(rows), rows[0].shape[0], width), fill, dtype=np.asarray(rows[0]).dtype)
    for t, r in enumerate(rows):
        out[t, :, : r.shape[1]] = r
    return out


def collect(suite: Suite, out: Path, studies: dict[str, Study], design: str = "full") -> Scores:
    """The ``Scores`` of ``design``'s runs (tasks in the suite's order; for a held design,
    only the tasks in ``suite.variance``)."""
    names = list(studies) if design == "full" else list(suite.variance)
    acts = tuple(next(iter(studies.values())).activations)
    values, diverged, datasets, classes = [], [], [], []
    for name in names:
        v, d, doc = read_scores(folder(out, name, design), suite.metric, acts)
        values.append(v)
        diverged.append(d)
        datasets.append(doc["config"]["dataset"])
        classes.append(doc["config"]["classes"])
    return Scores(
        tuple(names),
        acts,
        tuple(datasets),
        suite.metric,
        _stack(values, np.nan),
        _stack(diverged, False),
        tuple(classes),
    )


# ----------------------------------------------------------------------------- built in

MNIST_LIKE_ACTS = ("none", "sigmoid", "tanh", "relu")  # article 001's four, worst to best
# epochs of each task at full size, batch 16 (article 001's): Fashion-MNIST 3 as the article
# (11 250 steps); the small sets more passes for about as many steps as they have examples
MNIST_LIKE_EPOCHS = {"fashion_mnist": 3, "mnist1d": 20, "digits": 30, "teacher_student": 10}
MNIST_LIKE_VARIANCE = tuple(MNIST_LIKE_EPOCHS)  # every task: two more trainings each


def _mlp_task(dataset: str, quick: bool) -> Study:
    """Article 001's MLP (hidden 256-128, PyTorch nn.Linear init, the input layer sized by
    the data, inputs flattened), Adam 1e-3, batch 16, on ``dataset``."""
    import optax

    from actlab import data
    from actlab.models import MLP
    from actlab.protocols import _unit_scale

    d = _unit_scale(data.load(dataset))
    return Study(
        name=dataset,
        model=MLP(hidden=(256, 128)),
        activations=MNIST_LIKE_ACTS,
        data=d,
        optimizer=optax.adam(1e-3),
        seeds=3 if quick else 20,
        batch_size=16,
        evals=1 if quick else 4,
        train_eval_examples=500 if quick else 2000,
        eval_examples=500 if quick else None,
        curve_examples=None if quick else 2000,
        **({"steps": 20} if quick else {"epochs": MNIST_LIKE_EPOCHS[dataset]}),
    )


def mnist_like(quick: bool = False) -> Suite:
    """Does article 001's ordering (none < sigmoid < tanh < relu) and article 000's "ReLU
    wins" carry across MNIST-like datasets? Fashion-MNIST (pixels / 255, 784 inputs),
    MNIST-1D (40), scikit-learn's 8x8 digits (/ 16, 64) and teacher-student (Gaussian
    inputs, 20, 4 classes), each with article 001's MLP (256-128, Adam 1e-3, batch 16),
    20 seeds, epochs ``MNIST_LIKE_EPOCHS``, variance components on every task.
    ``quick``: 3 seeds, 20 steps, no variance designs: a smoke test, not the protocol."""
    return Suite(
        tasks=[Task(name, lambda name=name: _mlp_task(name, quick)) for name in MNIST_LIKE_EPOCHS],
        activations=MNIST_LIKE_ACTS,
        order=MNIST_LIKE_ACTS,
        reference="relu",
        variance=() if quick else MNIST_LIKE_VARIANCE,
        question=(
            "Does article 001's ordering (none < sigmoid < tanh < relu) and article 000's "
            '"ReLU wins" carry across MNIST-like datasets?'
        ),
        name="mnist_like",
    )


SUITES: dict[str, tuple[str, Callable[..., Suite]]] = {
    "mnist_like": (
        "none/sigmoid/tanh/relu, article 001's MLP on Fashion-MNIST, MNIST-1D, digits, "
        "teacher-student",
        mnist_like,
    ),
}
