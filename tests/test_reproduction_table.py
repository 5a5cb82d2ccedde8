"""REPRODUCTION.md's verdict rules, on hand-made numbers (no training): one case of each
verdict per rule, and the section rendered from hand-made ``analysis.json`` files; then the
committed data (``reproduction/``): its per-seed outcomes give its tables, and REPRODUCTION.md
is what they generate."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actlab import outcome as actlab_outcome
from actlab import stats
from experiments import reproduction_table as R

INF = math.inf
# rule, args, keyword arguments, the verdict they must give (hand-made numbers)
KILL = {"agree_above": 0.05, "contradict_below": 0.01}  # "kills units"
# fmt: off
CASES = {
    "directional": (
        (R.directional, (0.1, 0.05, 0.15, 0.001), {}, "agree"),
        (R.directional, (-0.1, -0.15, -0.05, 0.001), {}, "contradicted"),
        (R.directional, (0.1, -0.05, 0.15, 0.2), {}, "inconclusive"),  # CI holds 0
        (R.directional, (0.1, 0.05, 0.15, 0.001), {"untested": "the data"}, "not tested"),
    ),
    "directional_less": (  # "A < B" and a ratio claim against 1, without a p-value
        (R.directional, (-4.2, -4.3, -4.1), {"claim": "<"}, "agree"),
        (R.directional, (0.8, 0.7, 0.9), {"null": 1.0}, "contradicted"),
        (R.directional, (1.1, 0.95, 1.3), {"null": 1.0}, "inconclusive"),
        (R.directional, (1.1, 1.05, 1.3), {"null": 1.0, "untested": "other CPU"}, "not tested"),
    ),
    "proportion": (  # "kills units": above 5 % agrees, below 1 % contradicts
        (R.proportion, (0.06, 0.09), KILL, "agree"),
        (R.proportion, (0.0, 0.004), KILL, "contradicted"),
        (R.proportion, (0.016, 0.024), KILL, "inconclusive"),
        (R.proportion, (0.06, 0.09), {"agree_above": 0.05, "contradict_below": 0.01,
                                      "untested": "other data"}, "not tested"),
    ),
    "reliable": (  # "learns XOR (reliably)"
        (R.reliable, (0.971, 0.959, 0.980), {}, "agree"),
        (R.reliable, (0.319, 0.291, 0.349), {}, "contradicted"),
        (R.reliable, (0.530, 0.499, 0.561), {}, "partly"),  # settled, about half
        (R.reliable, (0.6, 0.3, 0.85), {}, "inconclusive"),  # 5 seeds: too wide to place
        (R.reliable, (0.971, 0.959, 0.980), {"untested": "other init"}, "not tested"),
    ),
    "observed": (  # something the article saw once: "the cost turns NaN"
        (R.observed, (0.2, 0.3), {}, "agree"),
        (R.observed, (0.0, 0.004), {}, "not reproduced"),
        (R.observed, (0.01, 0.08), {}, "inconclusive"),
        (R.observed, (0.2, 0.3), {"untested": "other loss"}, "not tested"),
    ),
    "cause": (  # "X because of C": the rate of X with C against without C
        (R.cause, ((0.3, 0.4), (0.0, 0.01)), {}, "agree"),
        (R.cause, ((0.0, 0.004), (0.366, 0.401)), {}, "contradicted"),
        (R.cause, ((0.0, 0.05), (0.02, 0.1)), {}, "inconclusive"),
        (R.cause, ((0.3, 0.4), (0.0, 0.01)), {"untested": "other net"}, "not tested"),
    ),
    "magnitude": (  # ~1000x, half an order of magnitude either way
        (R.magnitude, (800.0, 2500.0, 1000.0), {}, "agree"),
        (R.magnitude, (4.53e4, 9.79e4, 1000.0), {}, "contradicted"),
        (R.magnitude, (2000.0, 5000.0, 1000.0), {}, "inconclusive"),
        (R.magnitude, (800.0, 2500.0, 1000.0), {"untested": "not CIFAR-10"}, "not tested"),
    ),
    "throughout": (  # shares of steps where the simultaneous band is above / below 0
        (R.throughout, (0.98, 0.0), {}, "agree"),
        (R.throughout, (0.5, 0.3), {}, "contradicted"),
        (R.throughout, (0.6, 0.0), {}, "inconclusive"),
        (R.throughout, (0.98, 0.0), {"untested": "other data"}, "not tested"),
    ),
    "avoids_dead": (
        (R.avoids_dead, ((0.0, 0.002), (0.035, 0.048)), {}, "agree"),
        (R.avoids_dead, ((0.02, 0.04), (0.035, 0.048)), {}, "contradicted"),
        (R.avoids_dead, ((0.0, 0.0), (0.0, 0.001)), {}, "inconclusive"),  # no ReLU dead
        (R.avoids_dead, ((0.0, 0.0), (0.035, 0.048)), {"untested": "not run"}, "not tested"),
    ),
    "by_construction": (
        (R.by_construction, ("maxout's definition",), {}, "by construction"),
    ),
}
# fmt: on


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


def test_every_word_is_reachable_and_every_rule_documented():
    words = {c[3] for cases in CASES.values() for c in cases}
    assert words == set(R.WORDS)
    for name, cases in CASES.items():
        assert cases[0][0].__doc__, name


def test_non_significance_is_inconclusive_never_contradicted():
    # the CI excludes 0 but the Holm-adjusted p does not reach 0.05: no verdict either way
    assert R.directional(-0.1, -0.15, -0.05, 0.2).word == "inconclusive"
    # an interval the data cannot bound (n <= 5 for a signed-rank CI; JSON null)
    assert R.directional(0.1, None, None, 0.01).word == "inconclusive"
    assert R.directional(1.2, 0.0, INF, None, null=1.0).word == "inconclusive"


def test_a_rare_observation_is_not_reproduced_not_contradicted():
    # 0 of 1000 seeds: the article's one run cannot claim a rate, so rarity is no contradiction
    lo, hi = stats.wilson(0, 1000)
    v = R.observed(lo, hi)
    assert v.word == "not reproduced" and "rare here" in v.cell()


def test_partly_says_about_how_often():
    v = R.reliable(0.530, 0.499, 0.561)
    assert v.cell().startswith("**partly** (about 53 %)")
    assert R.reliable(0.319, 0.291, 0.349).cell().startswith("**contradicted** (fails in most")
    v = R.magnitude(4.53e4, 9.79e4, 1000.0)
    assert "1.7-2 orders of magnitude above" in v.cell()


def test_dataset_note_is_added_only_where_the_data_differ():
    v = R.directional(0.1, 0.05, 0.15, 0.001)
    assert R.on_dataset(v, "mnist", "mnist") == v
    cell = R.on_dataset(v, "fashion_mnist", "mnist").cell()
    assert cell.startswith("**agree** (on Fashion-MNIST; MNIST not tested)")
    untested = R.directional(0.1, 0.05, 0.15, 0.001, untested="x")
    assert R.on_dataset(untested, "fashion_mnist", "mnist") == untested
    built = R.by_construction("definition")
    assert R.on_dataset(built, "fashion_mnist", "mnist") == built


def test_a_verdict_keeps_the_p_of_its_test():
    assert R.directional(0.1, 0.05, 0.15, 0.001).p == 0.001
    assert R.reliable(0.5, 0.45, 0.55).p is None


# ----------------------------------------------------------------------------- the section


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
    assert R.problems("| a | b | **mostly** |")
    assert not R.problems("| a | b | **partly** (about 53 %): CI below 90 % |")
    assert not R.problems("| a | b | **not reproduced** (rare here): CI below 5 % |")


# ----------------------------------------------------------------------------- committed data

COMMITTED = sorted(p.parent.name for p in R.DATA.glob("*/seeds.csv"))


def test_every_study_has_committed_data():
    expected = {name for name, _, _ in R.STUDIES} | {f"xor_{f}" for f in R.FIXES} | set(R.EXTRA)
    assert set(COMMITTED) == expected
    # what the verdicts need beyond seeds.csv (issue 29, item 1)
    for name, file in (
        ("two_layer_mnist", "curves.npz"),
        ("activation_catalogue", "census.csv"),
        ("activation_catalogue_lr", "census.csv"),
        ("alexnet_relu_vs_tanh", "curves.npz"),
        ("alexnet_relu_vs_tanh", "selection_time.csv"),
    ):
        assert (R.DATA / name / file).exists(), (name, file)
        assert (R.DATA / name / file).stat().st_size < 3_000_000


SUMMARISED = {"transformer_ffn": "test_loss"}  # the metric of each analysis' summary, if not
# the final test accuracy


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_seeds_give_the_committed_tables(name):
    """Every seed of every activation is in seeds.csv, and the analysis' headline figures
    follow from it: the diverged counts, deep XOR's outcome counts, the intention-to-treat
    summary of the final test accuracy, or loss (``SUMMARISED``), to the CSV's 7 significant
    digits."""
    a = json.loads((R.DATA / name / "analysis.json").read_text())
    # "nan" is an outcome label here, not a missing value
    seeds = pd.read_csv(R.DATA / name / "seeds.csv", keep_default_na=False, na_values=[""])
    acts = a["activations"]
    assert list(seeds.activation.unique()) == acts
    for act in acts:
        assert sorted(set(seeds[seeds.activation == act].seed)) == list(range(a["seeds"]))
    diverged = seeds.diverged_at >= 0
    if "lr" in seeds:  # a learning-rate sweep: one count per rate
        counts = {
            k: [int(diverged[(seeds.activation == k) & (seeds.lr == lr)].sum()) for lr in a["lrs"]]
            for k in acts
        }
        assert counts == a["n_diverged"]
        return
    assert {k: int(diverged[seeds.activation == k].sum()) for k in acts} == a["n_diverged"]
    if "outcomes" in a:  # deep XOR: solved / stuck / nan, every seed in one
        for row in a["outcomes"]:
            mine = seeds[seeds.activation == row["name"]]
            assert int((mine.outcome == row["outcome"]).sum()) == row["k"], row
    table = a.get("summary") or a.get("dead_units")
    if table is not None and "classes" in a:
        metric = SUMMARISED.get(name, "test_accuracy")
        acc = np.stack([seeds[seeds.activation == k][metric].to_numpy() for k in acts])
        div = np.stack([diverged[seeds.activation == k].to_numpy() for k in acts])
        got = actlab_outcome.summary(acc, div, acts, metric, a["classes"])
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


def test_check_fails_when_a_committed_number_changes(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(R.DATA, data)
    md = tmp_path / "R.md"
    md.write_text(f"{R.START}\n{R.END}\n")
    assert R.main(["--data", str(data), "--update", str(md)]) == 0
    assert R.main(["--data", str(data), "--check", str(md)]) == 0
    # one digit of one seed's test accuracy, in a study whose tables do not show it
    csv = data / "xor_he" / "seeds.csv"
    text = csv.read_text()
    i = text.index("\n", 100) - 1
    csv.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :])
    with pytest.raises(SystemExit) as e:
        R.main(["--data", str(data), "--check", str(md)])
    assert e.value.code == 1


def _rows() -> dict[str, str]:
    text = R.section(R.DATA)
    assert R.problems(text) == []
    return {r.split(" | ")[0][2:]: r for r in text.splitlines() if r.startswith("| ")}


def test_committed_verdicts_say_what_was_found():
    rows = _rows()
    xor = {k: v for k, v in rows.items() if "learned and classified" in k}
    assert "**partly** (about 53 %)" in next(v for k, v in xor.items() if "leaky_relu_0.2" in k)
    assert "**not reproduced**" in rows['"after 17 500 steps the cost vanishes into NaN" (sigmoid)']
    assert "**contradicted**" in rows['"the cost became NaN because the gradient vanished"']
    assert (
        "43 of the 44 NaN runs had solved XOR first"
        in rows['"the cost became NaN because the gradient vanished"']
    )
    glance = [r for r in R.section(R.DATA).splitlines() if r.startswith("| Article 001")]
    assert any("**reversed**" in r and "sigmoid ahead of tanh" in r for r in glance)
    assert not any("≈" in k for k in rows)  # not the article's claim: dropped
    maxout = next(v for k, v in rows.items() if k.startswith('"maxout'))
    assert "**by construction**" in maxout
    leaky = next(v for k, v in rows.items() if k.startswith('"Leaky ReLU'))
    assert "**by construction**" in leaky


def test_vanishing_counts_every_seed_and_says_n():
    s = R._load(R.DATA, "deep_xor")
    v = R.vanishing(s)
    # 127 ReLU seeds never diverged yet have no ratio: a zero layer-1 gradient, kept as -inf
    assert v["relu"]["n_zero"] == 127 and v["relu"]["n"] + v["relu"]["n_undefined"] == 1000
    assert v["sigmoid"]["n"] == 1000 and v["sigmoid"]["high"] < 0


# ----------------------------------------------------------------------------- 004's analysis


def test_speedup_is_the_paired_log_ratio_with_its_own_test():
    from experiments import alexnet_relu_vs_tanh as A

    relu = np.array([40.0, 40, 60, 40, 48, 52, 44, 60, 56, 40])
    tanh = relu * np.array([6.0, 5, 7, 6, 6.5, 5.5, 6, 8, 4, 6])  # ~6x, every seed
    r = A.speedup(relu, tanh)
    d = np.log(tanh) - np.log(relu)
    ref = stats.pairwise(np.stack([d, np.zeros(10)]), ["d", "0"]).iloc[0]
    assert r["ratio"] == pytest.approx(math.exp(ref["estimate"]))
    assert r["ci_low"] == pytest.approx(math.exp(ref["estimate_ci_low"]))
    assert r["p"] == pytest.approx(ref["p"]) and r["p"] < 0.01
    assert 4 < r["ci_low"] < 6 < r["ci_high"] < 8
    # a seed that never reaches the threshold is the largest log-ratio, not a dropped seed
    cens = A.speedup(relu, np.where(np.arange(10) == 0, np.inf, tanh))
    assert cens["n"] == 10 and cens["tanh_reached"] == 9


def test_curve_band_covers_only_thresholds_every_run_reached():
    from experiments import alexnet_relu_vs_tanh as A

    steps = np.arange(0, 41, 4)
    rng = np.random.default_rng(0)
    # error falls linearly from 0.9; tanh's half as fast; one tanh seed stalls at 0.22
    rate = np.stack([np.full(6, 0.02), np.full(6, 0.01)])[..., None] * rng.uniform(
        0.9, 1.1, (2, 6, 1)
    )
    err = 0.9 - rate * steps * 2
    err[1, 0] = np.maximum(err[1, 0], 0.22)
    table = A.curve_table(
        err, steps, np.zeros((2, 6), bool), ["relu", "tanh"], thresholds=(0.5, 0.3, 0.2)
    )
    assert list(table.tanh_reached) == [6, 6, 5]
    assert np.isnan(table.band_low.iloc[2]) and (table.band_low.iloc[:2] > 1).all()
    assert (table.band_low.iloc[:2] <= table.ratio.iloc[:2]).all()


def test_rate_is_chosen_by_time_with_censoring_and_ties():
    from experiments import alexnet_relu_vs_tanh as A

    rows = []
    for act, lr, times in (
        ("relu", 0.01, [80, 84, np.inf]),
        ("relu", 0.03, [44, 48, 52]),
        ("relu", 0.1, [np.inf, np.inf, 40]),  # diverged twice: censored, median inf
        ("tanh", 0.01, [60, 60, 60]),
        ("tanh", 0.03, [60, 56, 64]),  # same median, smaller mean log: the tie-break
    ):
        rows += [
            {"activation": act, "lr": lr, "seed": i, "steps_to_25pc_val": t}
            for i, t in enumerate(times)
        ]
    chosen = A.choose_by_time(pd.DataFrame(rows))
    assert chosen == {"relu": 0.03, "tanh": 0.03}


def test_speedup_of_runs_that_never_reach_the_threshold_is_undecided():
    from experiments import alexnet_relu_vs_tanh as A

    never = A.speedup(np.full(3, np.inf), np.full(3, np.inf))  # two censored runs tie
    assert never["ratio"] == 1.0 and never["p"] == 1.0
    assert (never["ci_low"], never["ci_high"]) == (0.0, INF)  # 3 seeds bound nothing
