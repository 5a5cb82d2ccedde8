"""REPRODUCTION.md's verdict rules, on hand-made numbers (no training): one case of each
verdict per rule, and the section rendered from hand-made ``analysis.json`` files; then the
committed data (``reproduction/``): its per-seed outcomes give its tables, and REPRODUCTION.md
is what they generate."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actlab import outcome as actlab_outcome
from experiments import reproduction_table as R

INF = math.inf
TOST_OK = {"ci_low": -0.001, "ci_high": 0.002, "p": 0.001, "margin": 0.005, "equivalent": True}
TOST_FAR = {"ci_low": 0.008, "ci_high": 0.012, "p": 1.0, "margin": 0.005, "equivalent": False}
TOST_WIDE = {"ci_low": -0.002, "ci_high": 0.007, "p": 0.3, "margin": 0.005, "equivalent": False}

# rule, args, keyword arguments, the verdict they must give
CASES = {
    "directional": (
        (R.directional, (0.1, 0.05, 0.15, 0.001), {}, "agree"),
        (R.directional, (-0.1, -0.15, -0.05, 0.001), {}, "contradicted"),
        (R.directional, (0.1, -0.05, 0.15, 0.2), {}, "inconclusive"),  # CI holds 0
        (
            R.directional,
            (0.1, 0.05, 0.15, 0.001),
            {"untested": "the dataset decides"},
            "not tested",
        ),
    ),
    "directional_less": (  # "A < B" and a ratio claim against 1, without a p-value
        (R.directional, (-4.2, -4.3, -4.1), {"claim": "<"}, "agree"),
        (R.directional, (0.8, 0.7, 0.9), {"null": 1.0}, "contradicted"),
        (R.directional, (1.1, 0.95, 1.3), {"null": 1.0}, "inconclusive"),
        (
            R.directional,
            (1.1, 1.05, 1.3),
            {"null": 1.0, "untested": "other hardware"},
            "not tested",
        ),
    ),
    "equivalent": (
        (R.equivalent, (TOST_OK,), {}, "agree"),
        (R.equivalent, (TOST_FAR,), {}, "contradicted"),
        (R.equivalent, (TOST_WIDE,), {}, "inconclusive"),
        (R.equivalent, (TOST_OK,), {"untested": "MNIST gap"}, "not tested"),
    ),
    "proportion": (  # "learns XOR reliably": above 90 % agrees, below 50 % contradicts
        (R.proportion, (0.957, 0.995), {"agree_above": 0.9, "contradict_below": 0.5}, "agree"),
        (
            R.proportion,
            (0.245, 0.372),
            {"agree_above": 0.9, "contradict_below": 0.5},
            "contradicted",
        ),
        (
            R.proportion,
            (0.461, 0.598),
            {"agree_above": 0.9, "contradict_below": 0.5},
            "inconclusive",
        ),
        (
            R.proportion,
            (0.957, 0.995),
            {"agree_above": 0.9, "contradict_below": 0.5, "untested": "other data"},
            "not tested",
        ),
    ),
    "magnitude": (  # ~1000x, half an order of magnitude either way
        (R.magnitude, (800.0, 2500.0, 1000.0), {}, "agree"),
        (R.magnitude, (4.53e4, 9.79e4, 1000.0), {}, "contradicted"),
        (R.magnitude, (2000.0, 5000.0, 1000.0), {}, "inconclusive"),
        (R.magnitude, (800.0, 2500.0, 1000.0), {"untested": "not CIFAR-10"}, "not tested"),
    ),
    "throughout": (
        (R.throughout, (0.98, 0.0), {}, "agree"),
        (R.throughout, (0.5, 0.3), {}, "contradicted"),
        (R.throughout, (0.6, 0.0), {}, "inconclusive"),
        (R.throughout, (0.98, 0.0), {"untested": "other data"}, "not tested"),
    ),
    "avoids_dead": (
        (
            R.avoids_dead,
            ({"leaky_relu": (0.0, 0.0), "elu": (0.0, 0.002)}, (0.035, 0.048)),
            {},
            "agree",
        ),
        (R.avoids_dead, ({"leaky_relu": (0.02, 0.04)}, (0.035, 0.048)), {}, "contradicted"),
        (
            R.avoids_dead,
            ({"leaky_relu": (0.0, 0.0)}, (0.0, 0.001)),
            {},
            "inconclusive",
        ),  # no ReLU dead
        (
            R.avoids_dead,
            ({"leaky_relu": (0.0, 0.0)}, (0.035, 0.048)),
            {"untested": "high-lr route not run"},
            "not tested",
        ),
    ),
    "is_zero": (
        (R.is_zero, (0.0,), {}, "agree"),
        (R.is_zero, (1e-3,), {}, "contradicted"),
        (R.is_zero, (None,), {}, "inconclusive"),
        (R.is_zero, (0.0,), {"untested": "not traced"}, "not tested"),
    ),
}


@pytest.mark.parametrize(
    "rule, args, kwargs, word",
    [case for cases in CASES.values() for case in cases],
    ids=[f"{name}-{case[3]}" for name, cases in CASES.items() for case in cases],
)
def test_rule_gives_each_verdict(rule, args, kwargs, word):
    v = rule(*args, **kwargs)
    assert v.word == word
    assert v.rule  # every verdict says which rule decided it
    cell = v.cell()
    assert cell.startswith(f"**{word}**") and v.rule in cell
    if word == "not tested":
        assert kwargs["untested"] in cell and "measured here:" in cell


def test_every_rule_has_every_verdict_and_a_docstring():
    for name, cases in CASES.items():
        assert sorted(c[3] for c in cases) == sorted(R.WORDS), name
        assert cases[0][0].__doc__ and "agree" in cases[0][0].__doc__.lower(), name


def test_non_significance_is_inconclusive_never_contradicted():
    # the CI excludes 0 but the Holm-adjusted p does not reach 0.05: no verdict either way
    assert R.directional(-0.1, -0.15, -0.05, 0.2).word == "inconclusive"
    # an interval the data cannot bound (n <= 5 for a signed-rank CI; JSON null)
    assert R.directional(0.1, None, None, 0.01).word == "inconclusive"
    assert R.directional(1.2, 0.0, INF, None, null=1.0).word == "inconclusive"


def test_unreliable_rate_and_orders_apart_are_said():
    v = R.proportion(
        0.245, 0.372, agree_above=0.9, contradict_below=0.5, contradicted_note="not reliable"
    )
    assert v.cell().startswith("**contradicted** (not reliable)")
    v = R.magnitude(4.53e4, 9.79e4, 1000.0)
    assert "1.7-2 orders of magnitude above" in v.cell()


def test_dataset_note_is_added_only_where_the_data_differ():
    v = R.directional(0.1, 0.05, 0.15, 0.001)
    assert R.on_dataset(v, "mnist", "mnist") == v
    cell = R.on_dataset(v, "fashion_mnist", "mnist").cell()
    assert cell.startswith("**agree** (on Fashion-MNIST; MNIST not tested)")
    untested = R.directional(0.1, 0.05, 0.15, 0.001, untested="x")
    assert R.on_dataset(untested, "fashion_mnist", "mnist") == untested


# ----------------------------------------------------------------------------- the section


def _common(acts, seeds, dataset="fashion_mnist", steps=600) -> dict:
    return {
        "command": "python experiments/x.py",
        "dataset": dataset,
        "data_source": "hand-made",
        "seeds": seeds,
        "activations": list(acts),
        "steps": steps,
        "timing": {"compile_s": 1.0, "train_s": 2.0},
        "machine": "test",
        "diverged_as": "failure",
        "diverged_rule": "every seed counts",
        "n_diverged": {a: 0 for a in acts},
    }


def _summary(means: dict, n: int) -> list[dict]:
    return [
        {"name": k, "n": n, "n_diverged": 0, "mean": m, "ci_low": m - 0.002, "ci_high": m + 0.002,
         "std": 0.004, "median": m, "rule": "failure"}
        for k, m in means.items()
    ]  # fmt: skip


def _pair(a, b, d, lo, hi, p) -> dict:
    """A pairwise row: a - b = d [lo, hi]."""
    return {"a": a, "b": b, "n": 20, "mean_diff": d, "diff_ci_low": lo, "diff_ci_high": hi,
            "estimate": d, "estimate_ci_low": lo, "estimate_ci_high": hi,
            "estimator": "hodges_lehmann", "p": p, "p_holm": p, "cohens_d": 1.0}  # fmt: skip


def two_layer() -> dict:
    acts = ("sigmoid", "relu")
    grad = {
        "max_rel_error": 2.7e-5,
        "median_rel_error": 1.9e-9,
        "share_rel_error_above_1e-4": 0.015,
        "checked_coords": 1000,
        "numerical_s_extrapolated": 21.5,
        "backprop_s": 2.2e-4,
        "ratio": 9.79e4,
        "coords": 200,
        "params": 39760,
    }
    return _common(acts, 8) | {
        "summary": _summary({"sigmoid": 0.6845, "relu": 0.7938}, 8),
        "pairwise": [_pair("sigmoid", "relu", -0.109, -0.115, -0.103, 0.0078)],
        "relu_ahead": {"a": "relu", "b": "sigmoid", "evals": 600, "seeds": 8,
                       "share_mean_ahead": 1.0, "share_ci_above_0": 0.99,
                       "share_ci_below_0": 0.0, "confidence": 0.95},
        "relu_ahead_share_of_steps": 1.0,
        "wall_time": {"seconds": {"sigmoid": [0.3] * 15, "relu": [0.25] * 15},
                      "median_s": {"sigmoid": 0.3, "relu": 0.25}, "repetitions": 15, "warmup": 1,
                      "steps": 600, "seeds": 1,
                      "ratio_sigmoid_over_relu": {"ratio": 1.1, "ci_low": 0.95, "ci_high": 1.3}},
        "gradient_check": {"sigmoid": grad, "relu": grad | {"ratio": 4.53e4}},
    }  # fmt: skip


def mlp_four() -> dict:
    acts = ("none", "sigmoid", "tanh", "relu")
    pairs = [
        _pair("none", "sigmoid", -0.039, -0.045, -0.035, 1e-5),
        _pair("none", "tanh", -0.032, -0.036, -0.028, 1e-5),
        _pair("none", "relu", -0.042, -0.046, -0.038, 1e-5),
        _pair("sigmoid", "tanh", 0.0072, 0.0054, 0.009, 3e-5),
        _pair("sigmoid", "relu", -0.003, -0.005, -0.001, 0.01),
        _pair("tanh", "relu", -0.010, -0.011, -0.0088, 7e-4),
    ]
    tost = {"n": 20, "estimate": 0.01, "ci_low": 0.009, "ci_high": 0.011, "p": 1.0,
            "margin": 0.005, "equivalent": False, "test": "t"}  # fmt: skip
    means = {"none": 0.8268, "sigmoid": 0.8661, "tanh": 0.859, "relu": 0.869}
    summary = _summary(means, 20)
    for r in summary:
        r["article_mnist_1seed"] = {
            "none": 0.9094,
            "sigmoid": 0.9714,
            "tanh": 0.9735,
            "relu": 0.9739,
        }[r["name"]]
    return _common(acts, 20, steps=11250) | {
        "summary": summary,
        "pairwise": pairs,
        "equivalence": {"tanh_relu": tost},
        "equivalence_margin": 0.005,
        "article_dataset": "mnist",
        "seeds_for_article_relu_tanh_gap": 326,
        "relu_minus_tanh_sd": 0.0026,
    }


def _rates(name, solved, stuck, nan, n) -> list[dict]:
    import scipy.stats

    rows = []
    for outcome, k in (("solved", solved), ("stuck", stuck), ("nan", nan)):
        ci = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
        rows.append({"name": name, "outcome": outcome, "k": k, "n": n, "rate": k / n,
                     "ci_low": ci.low, "ci_high": ci.high})  # fmt: skip
    return rows


def deep_xor(seeds=200) -> dict:
    counts = {"sigmoid": (0, seeds, 0), "tanh": (197 * seeds // 200, 3 * seeds // 200, 0),
              "relu": (61 * seeds // 200, 75 * seeds // 200, 64 * seeds // 200)}  # fmt: skip
    counts["relu"] = (
        counts["relu"][0],
        seeds - counts["relu"][0] - counts["relu"][2],
        counts["relu"][2],
    )
    counts["tanh"] = (counts["tanh"][0], seeds - counts["tanh"][0], 0)
    outcomes = [r for a, c in counts.items() for r in _rates(a, *c, seeds)]
    nan_steps = []
    for a, c in counts.items():
        first = 0.0 if c[2] else None
        nan_steps.append(
            {
                "name": a,
                "n_nan": c[2],
                "nan_after_solving": 0,
                "first_nan_step_median": first,
                "first_nan_step_q25": first,
                "first_nan_step_q75": first,
                "first_nan_step_min": first,
            }
        )
    vanishing = [
        {"name": a, "n": seeds, "log10_ratio_mean": m, "ci_low": m - 0.08, "ci_high": m + 0.08,
         "log10_ratio_median": m, "ratio_median": 10**m, "n_not_finite": 0}
        for a, m in (("sigmoid", -4.25), ("tanh", -0.66), ("relu", -0.55))
    ]  # fmt: skip
    return _common(counts, seeds, dataset="xor", steps=20001) | {
        "outcomes": outcomes,
        "nan_steps": nan_steps,
        "vanishing": vanishing,
        "solved_rate": {a: c[0] / seeds for a, c in counts.items()},
        "nan_rate": {a: c[2] / seeds for a, c in counts.items()},
    }


def catalogue() -> dict:
    def row(name, start, end, lo, hi, acc=0.85):
        return {"name": name, "inactive_at_start": start, "inactive_at_end": end,
                "inactive_start_ci_low": start, "inactive_start_ci_high": start,
                "inactive_end_ci_low": lo, "inactive_end_ci_high": hi,
                "dead_at_start": start, "dead_at_end": end, "dead_end_ci_low": lo,
                "dead_end_ci_high": hi, "test_accuracy": acc, "acc_ci_low": acc - 0.003,
                "acc_ci_high": acc + 0.003}  # fmt: skip

    acts = ("relu", "leaky_relu", "maxout", "step")
    return _common(acts, 10, steps=1874) | {
        "dead_units": [
            row("relu", 0.463, 0.040, 0.035, 0.048),
            row("leaky_relu", 0.0, 0.0, 0.0, 0.0),
            row("maxout", 0.0, 0.0, 0.0, 0.0),
            row("step", 1.0, 1.0, 1.0, 1.0, 0.42),
        ],
        "parameters": [
            {"name": "relu", "params": 118282, "vs_relu": 1.0},
            {"name": "leaky_relu", "params": 118282, "vs_relu": 1.0},
            {"name": "maxout", "params": 235274, "vs_relu": 1.989},
            {"name": "step", "params": 118282, "vs_relu": 1.0},
        ],
        "step": {"max_hidden_grad_norm": 0.0, "max_hidden_weight_change": 0.0},
        "bias_mean": -0.5,
        "census_examples": 1000,
    }


def alexnet() -> dict:
    th = [
        {"threshold": t, "relu_median_steps": r, "tanh_median_steps": h, "relu_reached": "5/5",
         "tanh_reached": k, "ratio_steps": x, "ratio_ci_low": lo, "ratio_ci_high": hi,
         "ratio_seconds": x, "ratio_s_ci_low": lo, "ratio_s_ci_high": hi}
        for t, r, h, k, x, lo, hi in ((0.25, 65, 75, "5/5", 1.15, 0.93, 1.33),
                                      (0.2, 105, 140, "4/5", 1.33, 1.27, None))
    ]  # fmt: skip
    return _common(("relu", "tanh"), 5, steps=150) | {
        "thresholds": th,
        "seconds_per_step": {"relu": 0.22, "tanh": 0.23},
        "wall_time": {"repetitions": 5},
        "steps_per_epoch": 468,
        "epochs": 0.32,
        "lr_tuned_per_activation": False,
        "ratio_steps": 1.15,
        "ratio_ci": [0.93, 1.33],
        "ratio_seconds": 1.18,
        "ratio_seconds_ci": [0.95, 1.36],
        "final_train_error": {"relu": 0.15, "tanh": 0.18},
    }


def test_alexnet_reading_sorts_the_threshold_curve_by_side_of_one():
    a = alexnet()
    point = lambda t, lo, hi: {"threshold": t, "ratio_ci_low": lo, "ratio_ci_high": hi}  # noqa: E731
    a["threshold_curve"] = [
        point(0.3, 1.1, 2.0),  # ReLU sooner
        point(0.25, 0.93, 1.33),  # holds 1
        point(0.2, 1.0, 1.2),  # touches 1: holds it
        point(0.15, 0.5, 0.9),  # tanh sooner
        point(0.1, None, None),  # undefined (not reached): neither side
    ]
    a["lrs"] = {"relu": 0.03, "tanh": 0.01}
    text = R._alexnet_reading(a, R.Verdict("not tested", "ran elsewhere"))
    assert "each activation at its own selected learning rate (relu 0.03, tanh 0.01)" in text
    assert "median of 65 steps and tanh after 75, tanh / ReLU x1.15 [0.93, 1.33]" in text
    assert "5 thresholds from 30 % down to 10 %" in text
    assert "above 1 (ReLU sooner) at 1 (30 %), below 1 (tanh sooner) at 1 (15 %)" in text
    assert "holds 1 at the other 3" in text and "0.22 s (ReLU) and 0.23 s (tanh)" in text
    assert text.endswith("Verdict: **not tested**.")
    shared = R._alexnet_reading(alexnet(), R.Verdict("not tested", "ran elsewhere"))
    assert "one shared learning rate" in shared and "thresholds from" not in shared


def _write(runs: Path, name: str, doc: dict) -> None:
    (runs / name).mkdir(parents=True)
    (runs / name / "analysis.json").write_text(json.dumps(doc))


def test_section_renders_every_verdict_from_hand_made_runs(tmp_path):
    for name, doc in (
        ("two_layer_mnist", two_layer()),
        ("mlp_four_activations", mlp_four()),
        ("deep_xor", deep_xor()),
        ("xor_he", deep_xor(50)),
        ("activation_catalogue", catalogue()),
        ("alexnet_relu_vs_tanh", alexnet()),
    ):
        _write(tmp_path, name, doc)
    text = R.section(tmp_path)
    assert text.startswith(R.START) and text.endswith(R.END)
    assert "No run found" not in text
    for word in R.WORDS:
        assert f"**{word}**" in text, word
    assert "disagree" not in text.lower()
    assert R.problems(text) == []
    rows = {r.split(" | ")[0][2:]: r for r in text.splitlines() if r.startswith("| ")}
    # the decisions these numbers call for, each with the rule that made it
    assert "**contradicted** (not reliable)" in rows["relu learns XOR (reliably)"]
    assert (
        "orders of magnitude above"
        in rows["numerical gradient ~1000x slower than backprop (~5 h vs ~16 s per epoch)"]
    )
    assert (
        "**inconclusive**"
        in rows["ReLU trains faster in wall time (backprop: ReLU 16.5 s per epoch)"]
    )
    assert "(on Fashion-MNIST; MNIST not tested)" in rows["none < sigmoid"]
    assert rows["sigmoid < tanh"].rsplit(" | ", 1)[1].startswith("**not tested**")
    alex = rows["ReLU reaches 25 % training error ~6x sooner than tanh"]
    assert "**not tested**" in alex and "not CIFAR-10" in alex and "x1.15" in alex
    assert "**agree**" in rows["Leaky ReLU / PReLU / ELU (and maxout) avoid dead units"]


def test_section_without_runs_and_the_check_flag(tmp_path):
    text = R.section(tmp_path)
    assert text.count("No run found") == len(R.STUDIES) and R.problems(text) == []
    md = tmp_path / "R.md"
    md.write_text(f"head\n{R.START}\nold\n{R.END}\ntail\n")
    runs = ["--data", str(tmp_path)]
    with pytest.raises(SystemExit) as e:
        R.main([*runs, "--check", str(md)])
    assert e.value.code == 1  # stale
    assert R.main([*runs, "--update", str(md)]) == 0
    assert R.main([*runs, "--check", str(md)]) == 0
    new = md.read_text()
    assert new.startswith("head\n") and new.endswith("tail\n") and "\nold\n" not in new


def test_problems_finds_the_retired_word():
    assert R.problems("| a | b | **disagree** |")
    assert R.problems("| a | b | **partly** |")
    assert not R.problems("| a | b | **inconclusive**: CI holds 0 |")


# ----------------------------------------------------------------------------- committed data

COMMITTED = sorted(p.parent.name for p in R.DATA.glob("*/seeds.csv"))


def test_every_study_has_committed_data():
    expected = {name for name, _, _ in R.STUDIES} | {f"xor_{f}" for f in R.FIXES}
    assert set(COMMITTED) == expected


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_seeds_give_the_committed_tables(name):
    """Every seed of every activation is in seeds.csv, and the analysis' headline figures
    follow from it: the diverged counts, deep XOR's outcome counts, the intention-to-treat
    summary of the final test accuracy (to the CSV's 7 significant digits)."""
    a = json.loads((R.DATA / name / "analysis.json").read_text())
    # "nan" is an outcome label here, not a missing value
    seeds = pd.read_csv(R.DATA / name / "seeds.csv", keep_default_na=False, na_values=[""])
    acts = a["activations"]
    assert list(seeds.activation.unique()) == acts
    for act in acts:
        assert sorted(seeds[seeds.activation == act].seed) == list(range(a["seeds"]))
    diverged = seeds.diverged_at >= 0
    assert {k: int(diverged[seeds.activation == k].sum()) for k in acts} == a["n_diverged"]
    if "outcomes" in a:  # deep XOR: solved / stuck / nan, every seed in one
        for row in a["outcomes"]:
            mine = seeds[seeds.activation == row["name"]]
            assert int((mine.outcome == row["outcome"]).sum()) == row["k"], row
    table = a.get("summary") or a.get("dead_units")
    if table is not None and "classes" in a:
        acc = np.stack([seeds[seeds.activation == k].test_accuracy.to_numpy() for k in acts])
        div = np.stack([diverged[seeds.activation == k].to_numpy() for k in acts])
        got = actlab_outcome.summary(acc, div, acts, "test_accuracy", a["classes"])
        mean = "mean" if "summary" in a else "test_accuracy"
        want = pd.DataFrame(table).set_index("name").loc[acts]
        np.testing.assert_allclose(got["mean"], want[mean], rtol=1e-6)


def test_reproduction_md_is_what_the_committed_data_generate():
    script = Path(R.__file__)
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert R.main(["--check"]) == 0
