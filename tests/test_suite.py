"""Suites (``actlab.suite``): tasks run end to end into their folders, a killed suite resumes
without retraining, failed runs count under the outcome rule, the variance decomposition
recovers known components, and ``actlab suite mnist_like --quick`` writes its report.

Tiny tasks: teacher-student data of 256 examples, an MLP of 8 units, 20 steps, 3 seeds.
"""

import contextlib
import io
import json
import math

import numpy as np
import optax
import pandas as pd
import pytest
import scipy.stats

from actlab import aggregate, cli, data, plugins, runner, suite, suite_report, variance
from actlab.models import MLP
from actlab.study import Study
from actlab.suite import Suite, Task

ACTS = ("tanh", "relu")
SEEDS = 3
CLASSES = 3


def tiny_study(data_seed: int, acts=ACTS) -> Study:
    d = data.teacher_student(
        n_train=256, n_test=128, dim=6, classes=CLASSES, hidden=8, seed=data_seed
    )
    return Study(
        model=MLP(hidden=(8,)),
        activations=acts,
        data=d,
        optimizer=optax.adam(1e-2),
        seeds=SEEDS,
        batch_size=32,
        steps=20,
        evals=1,
        train_eval_examples=128,
    )


def tiny_suite(**kw) -> Suite:
    """Two tasks: the same protocol on two teacher-student draws."""
    tasks = [Task("a", lambda: tiny_study(0)), Task("b", lambda: tiny_study(1))]
    return Suite(tasks=tasks, order=ACTS, reps=500, **kw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    return out, tiny_suite().run(out, progress=False, task_reports=False)


def by_hand(out) -> np.ndarray:
    """[tasks, acts, seeds] final test accuracy read from each task's results.json."""
    docs = [json.loads((out / t / "results.json").read_text()) for t in ("a", "b")]
    return np.array([[d["metrics"]["final_test_accuracy"][a] for a in ACTS] for d in docs])


def test_suite_runs_every_task_into_its_folder_and_reports(uninterrupted):
    out, an = uninterrupted
    for task in ("a", "b"):
        assert json.loads((out / task / "results.json").read_text())["complete"]
    for name in (
        "suite.md",
        "tidy.parquet",
        "performance_profile.png",
        "cd_diagram.png",
        "effects_heatmap.png",
        "scores_a.png",
        "scores_b.png",
    ):
        assert (out / name).stat().st_size > 0, name
    tidy = pd.read_parquet(out / "tidy.parquet")
    assert len(tidy) == 2 * len(ACTS) * SEEDS
    assert set(tidy.columns) == set(suite_report.TIDY_COLUMNS)
    text = (out / "suite.md").read_text()
    assert "## Verdicts" in text and "tanh < relu" in text


def test_suite_aggregates_equal_aggregate_applied_by_hand(uninterrupted):
    out, an = uninterrupted
    x = by_hand(out)  # nothing diverges at lr 1e-2: the rule changes nothing here
    assert not an.scores.diverged.any()
    np.testing.assert_array_equal(an.outcome, x)
    tasks = ("a", "b")
    norm = aggregate.normalise(x, tasks, ACTS, floor=1 / CLASSES)
    np.testing.assert_array_equal(an.normalised, norm)
    pd.testing.assert_frame_equal(an.aggregates, aggregate.aggregates(norm, tasks, ACTS, reps=500))
    pd.testing.assert_frame_equal(
        an.improvement, aggregate.probability_of_improvement(x, tasks, ACTS, reps=500)
    )
    np.testing.assert_array_equal(an.ranks.ranks, aggregate.rank_test(x, tasks, ACTS).ranks)
    tidy = pd.read_parquet(out / "tidy.parquet")
    np.testing.assert_array_equal(tidy["normalised"].to_numpy(), norm.reshape(-1))
    back = suite_report.scores_from_tidy(tidy)  # the report can be rebuilt from the table
    assert (back.tasks, back.acts, back.classes) == (an.scores.tasks, ACTS, (CLASSES,) * 2)
    np.testing.assert_array_equal(back.values, an.scores.values)


def test_a_killed_suite_resumes_without_retraining_finished_tasks(
    uninterrupted, tmp_path, monkeypatch
):
    real, calls = runner.execute, []

    def dies_on_b(name, *args, **kw):
        calls.append(name)
        if name == "b":
            raise runner.Interrupted(0, 20, saved=False)
        return real(name, *args, **kw)

    monkeypatch.setattr(runner, "execute", dies_on_b)
    with pytest.raises(runner.Interrupted):
        tiny_suite().run(tmp_path, progress=False, report=False, task_reports=False)
    assert calls == ["a", "b"] and not (tmp_path / "b" / "results.json").exists()

    def counts(name, *args, **kw):
        calls.append(name)
        return real(name, *args, **kw)

    calls.clear()
    monkeypatch.setattr(runner, "execute", counts)
    an = tiny_suite().run(tmp_path, progress=False, report=False, task_reports=False)
    assert calls == ["b"]  # a finished with the same fingerprint: skipped
    _, whole = uninterrupted
    np.testing.assert_array_equal(an.scores.values, whole.scores.values)
    pd.testing.assert_frame_equal(an.aggregates, whole.aggregates)
    pd.testing.assert_frame_equal(an.improvement, whole.improvement)


def test_a_finished_task_of_other_settings_is_not_skipped(uninterrupted):
    out, _ = uninterrupted
    assert suite.finished(out / "a", tiny_study(0), "a")
    assert not suite.finished(out / "a", tiny_study(0).replace(steps=21), "a")
    assert not suite.finished(out / "a", tiny_study(1), "a")  # other data


def test_tasks_that_disagree_in_activations_are_refused():
    s = Suite(tasks=[Task("a", tiny_study(0)), Task("odd", tiny_study(1, ("tanh", "gelu")))])
    with pytest.raises(ValueError, match=r"task 'odd' trains activations \['tanh', 'gelu'\]"):
        s.studies()
    with pytest.raises(ValueError, match=r"suite compares \['sigmoid', 'relu'\]"):
        Suite(tasks=[Task("a", tiny_study(0))], activations=("sigmoid", "relu")).studies()
    same = Suite(tasks=[Task("a", tiny_study(0))], activations=("relu", "tanh")).studies()
    assert same["a"].activations == ("relu", "tanh")  # the suite's order


def test_bad_suites_are_refused_before_anything_runs():
    t = Task("a", tiny_study(0))
    with pytest.raises(ValueError, match="unique"):
        Suite(tasks=[t, ("a", tiny_study(1))])  # a pair is a Task too
    with pytest.raises(ValueError, match=r"Task\(name, study\) or a \(name, study\) pair"):
        Suite(tasks=[tiny_study(0)])
    with pytest.raises(ValueError, match="metric 'grad_norm'"):
        Suite(tasks=[t], metric="grad_norm")
    with pytest.raises(ValueError, match="variance names tasks"):
        Suite(tasks=[t], variance=("b",))
    with pytest.raises(ValueError, match="folder names"):
        Suite(tasks=[Task("a/b", tiny_study(0))])
    swept = Task("s", tiny_study(0).replace(optimizer=optax.adam, lrs=(1e-3, 1e-2)))
    with pytest.raises(ValueError, match="sweeps learning rates"):
        Suite(tasks=[swept]).studies()


@pytest.mark.parametrize("rule", ["failure", "exclude"])
def test_diverged_runs_count_under_the_outcome_rule(uninterrupted, rule):
    _, an = uninterrupted
    sc = an.scores
    values, diverged = sc.values.copy(), sc.diverged.copy()
    values[0, 1, 0], diverged[0, 1, 0] = 0.99, True  # frozen at a good value: must not count
    failed = sc._replace(values=values, diverged=diverged)
    got = suite_report.analyse(tiny_suite(diverged_as=rule), failed)
    expect = values.copy()
    expect[0, 1, 0] = 1 / CLASSES if rule == "failure" else np.nan
    np.testing.assert_array_equal(got.outcome, expect)
    norm = aggregate.normalise(expect, sc.tasks, sc.acts, floor=1 / CLASSES)
    np.testing.assert_array_equal(got.normalised, norm)
    relu = got.aggregates.query("act == 'relu' and statistic == 'mean'").iloc[0]
    assert relu["n_runs"] == 2 * SEEDS - (rule == "exclude")
    hand = np.mean([np.nanmean(norm[0, 1]), np.nanmean(norm[1, 1])])
    assert relu["estimate"] == pytest.approx(hand, rel=1e-12)
    if rule == "failure":
        assert norm[0, 1, 0] == 0.0  # scored at chance: the floor
    tidy = suite_report.tidy(got)
    row = tidy.query("task == 'a' and act == 'relu' and seed == 0").iloc[0]
    assert row["diverged"] and row["value"] == 0.99


def synthetic_designs(n: int, sd=(2.0, 1.0, 0.5), groups: int = 2, seed: int = 0):
    """y = a(init) + b(data) + e; the held designs reuse seed 0's a (or b) for every seed."""
    rng = np.random.default_rng(seed)

    def design(hold_init: bool, hold_data: bool) -> np.ndarray:
        a, b, e = (rng.normal(0.0, s, (groups, n)) for s in sd)
        a = np.repeat(a[:, :1], n, axis=1) if hold_init else a
        b = np.repeat(b[:, :1], n, axis=1) if hold_data else b
        return 10.0 + a + b + e

    return variance.Designs(design(False, False), design(True, False), design(False, True))


def test_variance_components_recover_known_components():
    d = synthetic_designs(2000)
    c = variance.variance_components(d, reps=300).set_index("component")
    truth = {"init": 4.0, "data order": 1.0, "interaction": 0.25, "total": 5.25}
    for comp, v in truth.items():
        r = c.loc[comp]
        assert r["lo"] <= v <= r["hi"], (comp, r)
        assert r["variance"] == pytest.approx(v, abs=0.4)
    assert c.loc["init", "share"] == pytest.approx(4.0 / 5.25, abs=0.05)
    # the designs swapped: the init's component is read as the data order's
    swapped = variance.variance_components(variance.Designs(d.full, d.data_held, d.init_held))
    assert not swapped.set_index("component").loc["init", "variance"] == pytest.approx(4.0, abs=0.4)


def test_design_table_has_chi_square_intervals_and_power_follows_the_sd():
    x = np.array([[1.0, 2.0, 4.0, 7.0]])
    t = variance.design_table(variance.Designs(x, x / 2, x / 4)).set_index("design")
    v = np.var(x, ddof=1)
    lo, hi = 3 * v / scipy.stats.chi2.ppf(0.975, 3), 3 * v / scipy.stats.chi2.ppf(0.025, 3)
    assert t.loc["full", ["variance", "lo", "hi"]].tolist() == pytest.approx([v, lo, hi])
    assert t.loc["init_held", "share"] == pytest.approx(0.25)
    p = variance.power_table(variance.Designs(x, x / 2, x / 4), delta=1.0).set_index("design")
    assert p.loc["full", "seeds_needed"] > p.loc["init_held", "seeds_needed"]
    assert p.loc["full", "seeds_needed"] == math.ceil(p.loc["full", "seeds_needed"])


def test_a_suite_file_loads_like_a_study_file(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        "import optax\n"
        "from actlab import data\n"
        "from actlab.models import MLP\n"
        "from actlab.study import Study\n"
        "from actlab.suite import Suite, Task\n"
        "def study():\n"
        "    d = data.teacher_student(n_train=64, n_test=32, dim=3, classes=2, hidden=4)\n"
        "    return Study(MLP(hidden=(4,)), ('tanh', 'relu'), d, optax.adam(1e-2), steps=5)\n"
        "def suite(quick=False):\n"
        "    return Suite(tasks=[Task('a', study)], seeds=2 if quick else 3)\n"
        "def other():\n"
        "    return study()\n"
    )
    name, s = plugins.load_suite(str(f), quick=True)
    assert name == "mine" and s.seeds == 2
    with pytest.raises(plugins.PluginError, match="not an actlab.Suite"):
        plugins.load_suite(f"{f}:other")


def test_cli_lists_the_library_suites():
    assert cli.SUITES == {name: summary for name, (summary, _) in suite.SUITES.items()}


@pytest.mark.needs_data("fashion_mnist")
def test_cli_runs_mnist_like_quick(tmp_path):
    out = tmp_path / "mnist_like"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(["suite", "mnist_like", "--quick", "--out", str(out)])
    assert code == 0, err.getvalue()
    for name in ("suite.md", "tidy.parquet", "performance_profile.png", "cd_diagram.png"):
        assert (out / name).stat().st_size > 0, name
    tidy = pd.read_parquet(out / "tidy.parquet")
    tasks = ("fashion_mnist", "mnist1d", "digits", "teacher_student")
    assert tuple(pd.unique(tidy["task"])) == tasks
    assert len(tidy) == len(tasks) * len(suite.MNIST_LIKE_ACTS) * 3
    for task in tasks:
        assert (out / f"scores_{task}.png").exists()
