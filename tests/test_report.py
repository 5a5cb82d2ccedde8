"""report.md, the tidy table and compare: the numbers in the text are the statistics'.

One small real study (3 activations x 5 seeds, 20 steps) trained once for the module, a copy
of it with one model marked diverged, and synthetic records (an lr sweep) that need no
training.
"""

import dataclasses
import re

import numpy as np
import optax
import pandas as pd
import pytest
from helpers import synthetic_trace

import actlab
from actlab import report, results, stats
from actlab.report import Record, Threshold

# its runs are module fixtures: one worker builds them (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("report")

ACTS = ("tanh", "relu", "sigmoid")
SEEDS, EVALS = 5, 5  # 20 steps, evaluated every 5, plus step 0
TH = Threshold("train_error", 0.5)


@pytest.fixture(scope="module")
def result():
    study = actlab.Study(
        model=actlab.MLP(hidden=(8,)),
        activations=ACTS,
        data=actlab.data.teacher_student(n_train=256, n_test=128, dim=6, classes=3),
        optimizer=optax.adam(1e-2),
        seeds=SEEDS,
        batch_size=32,
        steps=20,
        evals=4,
    )
    return study.run()


def diverge(rec: Record, group: int, seed: int, step: int) -> Record:
    """``rec`` with one model marked diverged at ``step`` (flat group index, no lr sweep)."""
    at = rec.diverged_at.copy()
    at[group, seed] = step
    gone = rec.trace.diverged.copy()
    gone[group, seed] = rec.trace.step[group, seed] > step
    return dataclasses.replace(rec, trace=rec.trace._replace(diverged=gone), diverged_at=at)


@pytest.fixture(scope="module")
def rec(result):
    return diverge(Record.of(result, "ts", threshold=TH), group=1, seed=0, step=7)


@pytest.fixture(scope="module")
def written(rec, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path = report.write(rec, out)
    return out, path.read_text()


def section(text: str, title: str) -> str:
    """The first markdown table after the heading ``## title``."""
    return _first_table(text.split(f"## {title}\n", 1)[1])


def _first_table(body: str) -> str:
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def rows(table: str) -> list[list[str]]:
    """Cells of a markdown table, header and alignment rows dropped."""
    lines = table.splitlines()[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def ci(low, high, spec=".4f") -> str:
    return f"[{low:{spec}}, {high:{spec}}]"


# ----------------------------------------------------------------------------- report.md


def test_report_has_every_section_and_plot(written):
    out, text = written
    for title in (
        "Configuration",
        "Final test accuracy",
        "Final train loss",
        "Pairwise comparisons of final test accuracy",
        "Outcomes",
        f"Time to threshold: {TH}",
        "Timing",
        "Plots",
    ):
        assert f"## {title}\n" in text
    pngs = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert set(pngs) == {
        "test_accuracy.png",
        "train_loss.png",
        "grad_norm_heatmap.png",
        "unit_fractions.png",
        "final_test_accuracy.png",
        "time_to_threshold.png",
    }
    for name in [*pngs, "tidy.csv", "tidy.parquet"]:
        assert (out / name).stat().st_size > 0


def test_curve_captions_say_how_many_examples_each_point_read(written, rec):
    _, text = written
    assert "**test accuracy over training (128 test examples per point)**" in text
    assert "**train loss over training (256 training examples per point)**" in text
    assert "**inactive, dead and saturated units (256 census examples per point)**" in text
    config = {**rec.doc["config"], "eval_examples": {"test": [32, 128]}}
    thin = dataclasses.replace(rec, doc={**rec.doc, "config": config})
    assert report.sample_caption(thin, "test") == " (32 test examples per point, 128 at the last)"
    assert report.sample_caption(thin, "train") == ""  # an older run did not say


def cells(table: str) -> list[dict[str, str]]:
    """Rows of a markdown table as {header: cell}."""
    head = [c.strip() for c in re.split(r"(?<!\\)\|", table.splitlines()[0])[1:-1]]
    return [dict(zip(head, r)) for r in rows(table)]


def subsection(text: str, title: str) -> str:
    """The first markdown table after the heading ``### title``."""
    return _first_table(text.split(f"### {title}\n", 1)[1])


CHANCE = 1 / 3  # teacher_student with 3 classes


@pytest.mark.parametrize(
    "title, metric, spec, failed",
    [
        ("Final test accuracy", "test_accuracy", ".4f", CHANCE),
        ("Final train loss", "train_loss", ".4g", np.inf),
    ],
)
def test_summary_tables_count_every_seed_the_diverged_one_as_a_failure(
    written, result, title, metric, spec, failed
):
    final = result.final(metric, diverged_as="frozen").astype(float)
    final[1, 0] = failed  # the model marked diverged: chance accuracy, the worst loss
    want = stats.summarize(final, ACTS)
    got = cells(section(written[1], title))
    assert [r["activation"] for r in got] == list(ACTS)
    for r, (_, w) in zip(got, want.iterrows()):
        assert r["n"] == "5"  # every seed, the diverged one included
        assert r["mean"] == report.fmt(w["mean"], spec)
        assert r["95% CI"] == report.fmt_ci(w["ci_low"], w["ci_high"], spec)
        assert r["median"] == format(w["median"], spec)
        assert r["diverged"] == ("1/5" if w["name"] == "relu" else "0/5")
    if metric == "train_loss":
        assert got[1]["mean"] == "∞"  # one run diverged: the mean loss is infinite, and says so


def test_survivors_only_table_is_labelled_and_shows_its_n(written, result):
    final = result.final("test_accuracy", diverged_as="frozen").astype(float)
    got = cells(subsection(written[1], "Survivors only"))
    assert [r["n"] for r in got] == ["5", "4", "5"]  # relu lost its diverged seed
    assert got[1]["mean"] == format(np.mean(final[1, 1:]), ".4f")
    assert "biased" in written[1].split("### Survivors only", 1)[1].split("\n|", 1)[0]


def test_pairwise_table_is_stats_pairwise_over_every_seed(written, result):
    final = result.final("test_accuracy", diverged_as="frozen").astype(float)
    final[1, 0] = CHANCE
    want = stats.pairwise(final, ACTS)
    got = cells(section(written[1], "Pairwise comparisons of final test accuracy"))
    assert len(got) == 3
    for r, (_, w) in zip(got, want.iterrows()):
        assert [r["A"], r["B"], r["n"]] == [w["a"], w["b"], "5"]
        assert r["mean A − B"] == f"{w['mean_diff']:+.4f}"
        assert r["95% CI"] == report.fmt_ci(w["diff_ci_low"], w["diff_ci_high"])
        assert r["p"] == report.fmt(w["p"], ".3g")
        assert r["p (Holm)"] == report.fmt(w["p_holm"], ".3g")
        assert r["P(A > B)"] == report.fmt(w["p_improvement"], ".2f")
        assert r["Cohen's d_z"] == report.fmt(w["cohens_d"], ".2f")


def test_outcome_table_puts_each_seed_in_one_category_with_wilson_intervals(written, rec):
    t, _ = stats.time_to_threshold(rec.curve("train_error"), rec.steps, TH.value)
    got = rows(section(written[1], "Outcomes"))
    for g, r in enumerate(got):
        diverged = np.arange(SEEDS) == 0 if g == 1 else np.zeros(SEEDS, bool)
        reached = np.isfinite(t[g]) & ~diverged
        counts = [int(reached.sum()), int((~reached & ~diverged).sum()), int(diverged.sum())]
        assert sum(counts) == SEEDS
        for k, cell in zip(counts, r[1:]):
            lo, hi = stats.wilson(k, SEEDS)
            assert cell == f"{k}/5 ({k / 5:.0%}, CI {lo:.0%}–{hi:.0%})"


def test_time_to_threshold_table(written, rec):
    curve = 1 - rec.flat(rec.trace.train_accuracy)
    curve = np.where(rec.flat(rec.trace.diverged), np.nan, curve)
    t, reached = stats.time_to_threshold(curve, rec.steps, TH.value)
    got = rows(section(written[1], f"Time to threshold: {TH}"))
    medians = np.median(t, axis=1)
    for g, r in enumerate(got):
        assert r[1] == f"{reached[g].sum()}/5"
        assert r[2] == ("never" if np.isinf(medians[g]) else f"{medians[g]:.0f}")
    fastest = int(np.argmin(medians))
    assert got[fastest][4] == "reference"


def test_timing_and_config(written, rec):
    text = written[1]
    assert "| experiment | ts |" in text and "| threshold | train_error <= 0.5 |" in text
    timing = rows(section(text, "Timing"))[0]
    assert timing[0] == f"{rec.doc['timing']['compile_s']:.1f}"
    assert timing[2] == str(3 * SEEDS) and timing[3] == "20"
    memory = rec.doc["timing"]["memory"]
    assert memory["source"] == "device" and memory["estimate"] == "shapes"
    assert timing[5] == "1"  # model chunks
    assert timing[6].startswith(f"{memory['bytes_per_seed'] / 2**20:,.1f} MiB/seed (shapes)")
    assert timing[6].endswith(f"{memory['budget'] / 2**20:,.1f} MiB (device)")


def test_the_timing_table_says_how_the_memory_was_planned():
    from actlab.markdown import _memory_md

    plan = {"budget": 3 * 2**20, "source": "max_memory", "bytes_per_seed": 2**19}
    got = _memory_md({**plan, "estimate": "compiled"})
    assert got == "0.5 MiB/seed (compiled) of 3.0 MiB (max_memory)"
    none = _memory_md({**plan, "budget": None, "estimate": "shapes"})
    assert none == "0.5 MiB/seed (shapes), no budget (the device does not say)"
    assert _memory_md(None) == "?"


def test_report_from_saved_folder_equals_report_from_result(result, tmp_path):
    results.save(result, tmp_path, "ts", threshold=TH)
    live = Record.of(result, "ts", threshold=TH)
    saved = Record.load(tmp_path)
    assert report.markdown(saved) == report.markdown(live)
    assert "## Time to threshold: train_error <= 0.5" in report.markdown(saved)


def test_threshold_argument_overrides_none(result):
    rec = Record.of(result, "ts")
    assert rec.threshold is None
    assert "Time to threshold" not in report.markdown(rec)
    assert "## Time to threshold: test_accuracy >= 0.6" in report.markdown(
        rec, Threshold("test_accuracy", 0.6)
    )


# ----------------------------------------------------------------------------- tidy table


def test_tidy_has_one_row_per_model_eval_metric_layer(rec):
    df = report.tidy(rec)
    layers, hidden = rec.trace.grad_norm.shape[-1], rec.trace.dead.shape[-1]
    per_model_eval = 6 + 3 * layers + 3 * hidden  # 5 losses/accuracies + diverged, 6 per-layer
    assert len(df) == len(ACTS) * SEEDS * EVALS * per_model_eval
    assert list(df.columns) == ["act", "seed", "step", "metric", "layer", "value"]
    assert not df.duplicated(["act", "seed", "step", "metric", "layer"]).any()
    scalar = df[df.metric == "test_accuracy"]
    assert (scalar.layer == -1).all()
    relu = scalar[scalar.act == "relu"].sort_values(["seed", "step"])
    np.testing.assert_array_equal(relu.value.to_numpy(), rec.trace.test_accuracy[1].ravel())
    g = df[(df.metric == "grad_norm") & (df.act == "sigmoid") & (df.seed == 3) & (df.layer == 1)]
    np.testing.assert_array_equal(g.sort_values("step").value, rec.trace.grad_norm[2, 3, :, 1])
    np.testing.assert_array_equal(np.sort(g.step.unique()), rec.steps)
    div = df[(df.metric == "diverged") & (df.act == "relu") & (df.seed == 0)]
    np.testing.assert_array_equal(div.sort_values("step").value, rec.trace.diverged[1, 0])


def test_tidy_files_read_back(rec, written):
    out = written[0]
    want = report.tidy(rec)
    csv = pd.read_csv(out / "tidy.csv")
    assert list(csv.columns) == list(want.columns) and len(csv) == len(want)
    np.testing.assert_allclose(csv.value, want.value, rtol=1e-6)  # 7 significant digits
    np.testing.assert_array_equal(csv.seed, want.seed)
    parquet = pd.read_parquet(out / "tidy.parquet")
    np.testing.assert_array_equal(parquet.value, want.value)
    assert (parquet.act.astype(str) == want.act.astype(str)).all()


def synthetic_sweep(acts=("relu", "tanh"), lrs=(1e-3, 1e-2), seeds=4, evals=3, layers=3):
    """A Record with an lr sweep, [acts, lrs, seeds, evals, (layers)], no training."""
    lead = (len(acts), len(lrs), seeds)
    trace = synthetic_trace(lead, evals, layers, every=10, low=0.1, high=0.9)
    doc = {
        "experiment": "sweep",
        "complete": False,
        "steps_done": 10 * (evals - 1),
        "activations": list(acts),
        "seeds": seeds,
        "config": {"lrs": list(lrs), "eval_every": 10, "classes": 10},
        "timing": {
            "compile_s": 1.0,
            "train_s": 2.0,
            "models": int(np.prod(lead)),
            "steps": 100,
            "model_steps_per_s": 1.0,
        },
    }
    return Record(doc, trace, np.full(lead, -1))


def test_lr_sweep_report_and_tidy(tmp_path):
    rec = synthetic_sweep()
    assert rec.labels == ["relu lr=0.001", "relu lr=0.01", "tanh lr=0.001", "tanh lr=0.01"]
    df = report.tidy(rec)
    assert list(df.columns) == list(report.TIDY_COLUMNS)
    assert len(df) == 2 * 2 * 4 * 3 * (6 + 3 * 3 + 3 * 2)
    sel = df[(df.act == "tanh") & (df.lr == 1e-2) & (df.seed == 1) & (df.metric == "train_loss")]
    np.testing.assert_array_equal(sel.sort_values("step").value, rec.trace.train_loss[1, 1, 1])
    text = report.write(rec, tmp_path, "test_error=0.5").read_text()
    assert "**Partial run**: 20 of 100 steps" in text
    pairs = rows(section(text, "Pairwise comparisons of final test accuracy"))
    # activations are compared at the same learning rate only
    assert [r[:3] for r in pairs] == [
        ["0.001", "relu lr=0.001", "tanh lr=0.001"],
        ["0.01", "relu lr=0.01", "tanh lr=0.01"],
    ]
    final = rec.final("test_accuracy")
    want = stats.holm([stats.pairwise(final[[j, 2 + j]], ["a", "b"]).p[0] for j in (0, 1)])
    got = cells(section(text, "Pairwise comparisons of final test accuracy"))
    assert [r["p (Holm)"] for r in got] == [report.fmt(p, ".3g") for p in want]
    assert (tmp_path / "time_to_threshold.png").exists()


# ----------------------------------------------------------------------------- compare


def test_compare_is_unpaired_b_minus_a(rec):
    better = rec.trace.test_accuracy.copy()
    better[:, :, -1] += 0.1
    metrics = {**rec.trace.metrics, "test_accuracy": better}
    b = dataclasses.replace(rec, trace=rec.trace._replace(metrics=metrics))
    table = report.compare(rec, b)
    assert list(table.name) == list(ACTS)
    # relu's diverged run is a failure (chance) in both runs: 4 of 5 seeds gain 0.1
    np.testing.assert_allclose(table.mean_diff, [0.1, 0.08, 0.1], atol=1e-6)
    fa, fb = rec.final("test_accuracy"), b.final("test_accuracy")
    want = stats.pairwise(np.stack([fb[1], fa[1]]), ["B", "A"], paired=False)
    got = table.iloc[1]
    assert (got.n_a, got.n_b) == (5, 5)  # every seed counts
    for col in ("mean_diff", "diff_ci_low", "diff_ci_high", "p", "cohens_d", "p_improvement"):
        np.testing.assert_allclose(got[col], want[col][0])
    np.testing.assert_allclose(table.p_holm, stats.holm(table.p))
    text = report.compare_markdown(rec, b, table, ("runs/a", "runs/b"))
    assert "- settings that differ: none" in text
    assert "| relu | 5 | 5 |" in text and "+0.0800" in text


def test_compare_refuses_runs_without_common_activations(rec):
    doc = dict(rec.doc, activations=["elu", "gelu", "silu"])
    other = dataclasses.replace(rec, doc=doc)
    with pytest.raises(ValueError, match="share no activation: tanh, relu, sigmoid vs elu"):
        report.compare(rec, other)


# ----------------------------------------------------------------------------- helpers


def test_md_table_aligns_and_escapes():
    df = pd.DataFrame({"name": ["a|b"], "x": ["1.0"]})
    assert report.md_table(df) == "| name | x |\n| :--- | ---: |\n| a\\|b | 1.0 |"


@pytest.mark.parametrize(
    "spec, match",
    [
        ("train_error", "expected METRIC=VALUE"),
        ("speed=1", "unknown threshold metric 'speed'; accepted: train_error, test_error"),
        ("train_error=low", "must be a number"),
        ("train_error=nan", "must be finite"),
    ],
)
def test_parse_threshold_errors_name_the_accepted_values(spec, match):
    with pytest.raises(ValueError, match=match):
        report.parse_threshold(spec)


def test_parse_threshold_direction():
    assert report.parse_threshold("train_error=0.25") == Threshold("train_error", 0.25)
    assert report.parse_threshold(("test_accuracy", "0.9")).below is False
    assert report.parse_threshold(None) is None


@pytest.mark.parametrize(
    "tx, text",
    [
        (optax.sgd(0.01), "scale(step_size=-0.01)"),
        (optax.adam(1e-3), "scale_by_adam(b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0) + "
                           "scale(step_size=-0.001)"),
        (optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.5)),
         "clip_by_global_norm(max_norm=1.0) + scale(step_size=-0.5)"),
        (optax.adam, "adam"),  # a function of the swept learning rate
    ],
)  # fmt: skip
def test_the_configuration_names_what_the_optimizer_does(tx, text):
    assert results.describe_optimizer(tx) == text
