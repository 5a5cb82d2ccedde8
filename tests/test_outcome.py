"""Every seed counts: one outcome model read by Result, results.json, report.md and the
terminal alike, on a real deep-XOR run where models diverge."""

import contextlib
import io
import json
import math

import numpy as np
import pytest

from actlab import cli, outcome, report, stats

pytestmark = pytest.mark.xdist_group("outcome")

# leaky_relu_0.2 and relu diverge on 8 and 5 of these 20 seeds by step 501 (N(0,1) init)
ACTS = ("leaky_relu_0.2", "relu")
SEEDS = 20
ARGS = ["run", "xor", "--quick", "--steps", "501", "--seeds", SEEDS, "--acts", ",".join(ACTS)]


# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "metric, classes, want",
    [
        ("test_accuracy", 10, 0.1),
        ("train_accuracy", 2, 0.5),
        ("train_error", 10, 0.9),
        ("test_loss", 10, math.inf),
        ("batch_loss", 2, math.inf),
    ],
)
def test_failure_values_are_chance_and_the_worst_loss(metric, classes, want):
    assert outcome.failure_value(metric, classes) == want


def test_apply_each_rule():
    v = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]])
    d = np.array([[False, True, False], [True, False, False]])
    failure = outcome.apply(v, d, "test_accuracy", 4)
    np.testing.assert_array_equal(failure, [[0.9, 0.25, 0.7], [0.25, 0.5, 0.4]])
    exclude = outcome.apply(v, d, "test_accuracy", 4, "exclude")
    np.testing.assert_array_equal(np.isnan(exclude), d)
    np.testing.assert_array_equal(outcome.apply(v, d, "test_accuracy", 4, "frozen"), v)
    layered = outcome.apply(np.ones((2, 3, 5)), d, "grad_norm", 4, "exclude")  # broadcast
    np.testing.assert_array_equal(np.isnan(layered).all(axis=-1), d)


def test_rules_without_a_declared_failure_outcome_are_refused():
    d = np.zeros((1, 2), bool)
    with pytest.raises(ValueError, match="grad_norm.*diverged_as='exclude'"):
        outcome.apply(np.ones((1, 2, 3)), d, "grad_norm", 10)
    with pytest.raises(ValueError, match="diverged_as must be one of failure, exclude, frozen"):
        outcome.check_rule("drop")


def test_categories_put_every_run_in_exactly_one():
    diverged = np.array([True, True, False, False])
    reached = np.array([True, False, True, False])
    cats = outcome.categories(diverged, reached)
    np.testing.assert_array_equal(np.sum(list(cats.values()), axis=0), 1)
    np.testing.assert_array_equal(cats["reached"], [False, False, True, False])
    np.testing.assert_array_equal(cats["diverged"], diverged)


# ----------------------------------------------------------------------------- a real run


def _main(argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outcome") / "xor"
    code, stdout = _main([*ARGS, "--out", out])
    assert code == 0, stdout
    return out, stdout


def _table(text: str, after: str) -> dict[str, dict[str, str]]:
    lines = text.split(after, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split("|")])
    return {row[0]: dict(zip(block[0], row)) for row in block[2:]}


def test_the_run_has_diverged_seeds(run):
    rec = report.Record.load(run[0])
    n_diverged = rec.diverged.sum(axis=1)
    assert (n_diverged > 0).all() and (n_diverged < SEEDS).all(), n_diverged


def test_every_view_counts_every_seed_with_the_same_numbers(run):
    out, stdout = run
    rec = report.Record.load(out)
    doc = json.loads((out / "results.json").read_text())
    assert doc["outcome"]["diverged_as"] == "failure"
    raw = np.array([doc["metrics"]["final_test_accuracy"][a] for a in ACTS], float)
    itt = np.where(rec.diverged, 0.5, raw)  # XOR: chance is 1/2
    np.testing.assert_array_equal(rec.final("test_accuracy"), itt)
    want = stats.summarize(itt, list(ACTS))
    md = _table((out / "report.md").read_text(), "## Final test accuracy")
    terminal = {r[0]: r for r in map(str.split, stdout.splitlines()) if r and r[0] in ACTS}
    for i, (act, w) in enumerate(zip(ACTS, want.itertuples())):
        k = int(rec.diverged[i].sum())
        s = doc["summary"]["final_test_accuracy"][act]
        assert (s["n"], s["n_diverged"], s["rule"]) == (SEEDS, k, "failure")
        np.testing.assert_allclose(
            [s["mean"], s["ci_low"], s["ci_high"]], [w.mean, w.ci_low, w.ci_high]
        )
        assert md[act]["n"] == str(SEEDS) and md[act]["diverged"] == f"{k}/{SEEDS}"
        assert md[act]["mean"] == f"{w.mean:.4f}"
        assert terminal[act][1] == str(SEEDS) and terminal[act][2] == f"{w.mean:.4f}"
        assert s["mean"] < 1 and s["ci_high"] <= 1  # no perfect score with failed runs
    loss = doc["summary"]["final_train_loss"]
    assert all(loss[a]["n"] == SEEDS and loss[a]["mean"] is None for a in ACTS)  # infinite
    assert all(loss[a]["median"] is not None for a in ACTS)


def test_survivors_are_a_labelled_second_view(run):
    out, stdout = run
    rec = report.Record.load(out)
    text = (out / "report.md").read_text()
    surv = _table(text, "### Survivors only")
    kept = rec.final("test_accuracy", diverged_as="exclude")
    for i, act in enumerate(ACTS):
        alive = kept[i][~np.isnan(kept[i])]
        assert surv[act]["n"] == str(alive.size) and alive.size < SEEDS
        assert surv[act]["mean"] == f"{alive.mean():.4f}"
    assert "survivors only" in stdout


def test_outcome_categories_are_the_headline(run):
    text = (run[0] / "report.md").read_text()
    assert text.index("## Outcomes") < text.index("## Final test accuracy")
    rows = _table(text, "## Outcomes")
    for act in ACTS:
        counts = [int(v.split("/")[0]) for k, v in rows[act].items() if k != "activation"]
        assert sum(counts) == SEEDS


def test_report_can_be_rendered_under_another_rule(run, tmp_path):
    out = run[0]
    code, stdout = _main(["report", out, "--diverged-as", "exclude"])
    assert code == 0 and "SURVIVORS ONLY" in stdout
    rec = report.Record.load(out)
    md = _table((out / "report.md").read_text(), "## Final test accuracy")
    for i, act in enumerate(ACTS):
        assert md[act]["n"] == str(SEEDS - int(rec.diverged[i].sum()))
    assert "survivors only: diverged runs are left out" in (out / "report.md").read_text()
    assert _main(["report", out])[0] == 0  # back to the run's own rule


def test_summary_keeps_intervals_in_the_metric_range_and_the_report_names_the_method():
    from actlab import markdown

    # an all-ones accuracy column and a near-zero loss column (the report's tanh rows)
    acc = np.array([[1.0] * 10, [0.9925] * 9 + [0.95]])
    loss = np.array([[1e-4] * 9 + [0.05], [0.2] * 5 + [0.3] * 5])
    never = np.zeros((2, 10), bool)
    a = outcome.summary(acc, never, ["tanh", "relu"], "test_accuracy", 10)
    lo = outcome.summary(loss, never, ["tanh", "relu"], "train_loss", 10)
    assert (a["ci_low"] >= 0).all() and (a["ci_high"] <= 1).all()
    assert list(a["ci_method"]) == ["edge-exact", "t-bounded"]
    assert (lo["ci_low"] >= 0).all() and lo["ci_low"].iloc[0] == 0.0
    name = markdown._ci_name(a)
    assert "kept to the metric's range" in name and "edge" in name
    assert markdown._ci_name(lo) == markdown.CI_NAMES["t-bounded"]
