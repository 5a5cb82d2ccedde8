"""Tests for actlab.stats: known cases, hand-computed values, scipy as the reference."""

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from actlab import stats

NAMES3 = ("relu", "tanh", "gelu")


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    # stats promises never to leak a warning (small n, constant data, censored times)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- summarize


def test_summarize_matches_numpy_and_scipy():
    v = np.random.default_rng(0).normal(size=(3, 15))
    table = stats.summarize(v, NAMES3, n_resamples=500, seed=3)
    assert list(table["name"]) == list(NAMES3)
    for row, x in zip(table.itertuples(), v):
        assert row.n == 15
        np.testing.assert_allclose(row.mean, x.mean(), rtol=1e-12)
        np.testing.assert_allclose(row.std, x.std(ddof=1), rtol=1e-12)
        np.testing.assert_allclose(row.median, np.median(x), rtol=1e-12)
        np.testing.assert_allclose(row.iqm, scipy.stats.trim_mean(x, 0.25), rtol=1e-12)
        ref = scipy.stats.bootstrap(
            (x,), np.mean, n_resamples=500, method="BCa", rng=np.random.default_rng(3)
        ).confidence_interval
        # same seed, same resamples: identical up to float summation order
        np.testing.assert_allclose([row.ci_low, row.ci_high], [ref.low, ref.high], rtol=1e-10)
        assert row.ci_method == "BCa"


def test_summarize_iqm_hand_case():
    # 8 values: trim 2 each side -> mean of 3, 4, 5, 100 = 28
    table = stats.summarize([[1.0, 2, 3, 4, 5, 100, 200, 300]], ["x"], n_resamples=200)
    assert table["iqm"][0] == pytest.approx(28.0, abs=1e-12)


def test_summarize_drops_nan_per_activation():
    v = np.array([[1.0, 2.0, np.nan, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    table = stats.summarize(v, ["a", "b"], n_resamples=200)
    assert list(table["n"]) == [4, 5]
    assert table["mean"][0] == pytest.approx(3.0, abs=1e-12)


def test_summarize_constant_values_ci_is_the_value():
    table = stats.summarize(np.full((1, 6), 0.25), ["x"], n_resamples=200)
    assert (table["ci_low"][0], table["ci_high"][0]) == (0.25, 0.25)
    assert table["ci_method"][0] == "degenerate"


@pytest.mark.parametrize("n", [0, 1, 2])
def test_summarize_too_few_seeds_gives_nan_ci(n):
    v = np.full((1, 4), np.nan)
    v[0, :n] = np.arange(n)
    row = stats.summarize(v, ["x"], n_resamples=200).iloc[0]
    assert row["n"] == n
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def test_summarize_is_reproducible_given_seed():
    v = np.random.default_rng(1).normal(size=(2, 10))
    a = stats.summarize(v, ["a", "b"], n_resamples=300, seed=7)
    b = stats.summarize(v, ["a", "b"], n_resamples=300, seed=7)
    c = stats.summarize(v, ["a", "b"], n_resamples=300, seed=8)
    assert a.equals(b)
    assert not np.array_equal(a["ci_low"], c["ci_low"])


def test_bootstrap_ci_of_mean_covers_truth():
    # 200 simulated experiments of 20 seeds each, true mean 1.0. Percentile intervals are a
    # little narrow at n = 20 (~0.93 expected); binomial sd of the rate at 200 trials ~0.018.
    v = np.random.default_rng(2024).normal(1.0, 2.0, size=(200, 20))
    names = [f"exp{i}" for i in range(200)]
    table = stats.summarize(v, names, method="percentile", n_resamples=500, seed=0)
    coverage = np.mean((table["ci_low"] <= 1.0) & (1.0 <= table["ci_high"]))
    assert 0.88 <= coverage <= 0.99


# --------------------------------------------------------------------------- wilson, rates


def test_wilson_zero_successes_hand_value():
    # k = 0: low = 0, high = z^2 / (n + z^2) with z = 1.959964
    z2 = scipy.stats.norm.ppf(0.975) ** 2
    low, high = stats.wilson(0, 10)
    assert low == 0.0
    assert high == pytest.approx(z2 / (10 + z2), rel=1e-12)
    assert high == pytest.approx(0.27753, abs=1e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 10), (7, 7), (50, 120), (1, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_binomtest(k, n, confidence):
    ref = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    np.testing.assert_allclose(stats.wilson(k, n, confidence), [ref.low, ref.high], atol=1e-12)


def test_wilson_is_vectorised_and_n_zero_is_nan():
    low, high = stats.wilson(np.array([[0, 3], [2, 0]]), np.array([[10, 10], [4, 0]]))
    assert low.shape == high.shape == (2, 2)
    assert np.isnan(low[1, 1]) and np.isnan(high[1, 1])
    np.testing.assert_allclose(low[0, 1], stats.wilson(3, 10)[0], rtol=1e-12)


def test_wilson_rejects_more_successes_than_trials():
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        stats.wilson(4, 3)


def test_rates_counts_and_wilson_intervals():
    flags = np.array([[True, False, True, True], [False, False, False, False]])
    table = stats.rates(flags, ["relu", "tanh"])
    assert list(table["k"]) == [3, 0]
    assert list(table["n"]) == [4, 4]
    np.testing.assert_allclose(table["rate"], [0.75, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        table[["ci_low", "ci_high"]].to_numpy()[0], stats.wilson(3, 4), atol=1e-12
    )


# --------------------------------------------------------------------------- holm


def test_holm_hand_case():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], atol=1e-15)


def test_holm_caps_at_one():
    np.testing.assert_array_equal(stats.holm([0.5, 0.6]), [1.0, 1.0])


def test_holm_preserves_nan_and_does_not_count_it():
    adjusted = stats.holm([0.01, np.nan, 0.04])  # m = 2
    np.testing.assert_allclose(adjusted, [0.02, np.nan, 0.04], atol=1e-15)


@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20))
def test_holm_is_monotone_and_at_least_raw(p):
    p = np.array(p)
    adjusted = stats.holm(p)
    order = np.argsort(p, kind="stable")
    assert (adjusted >= p).all() and (adjusted <= 1.0).all()
    assert (np.diff(adjusted[order]) >= 0).all()


# --------------------------------------------------------------------------- pairwise


def _shared_seed_effect(rng, shift, n=12):
    """[2, n]: a large per-seed effect shared by both rows, plus a small shift of row 0."""
    seed_effect = rng.normal(0.0, 5.0, size=n)
    return np.stack([seed_effect + shift + rng.normal(0, 0.2, n), seed_effect])


def test_pairwise_paired_detects_shift_that_unpaired_misses():
    v = _shared_seed_effect(np.random.default_rng(0), shift=0.5)
    paired = stats.pairwise(v, ["a", "b"], n_resamples=500).iloc[0]
    unpaired = stats.pairwise(v, ["a", "b"], paired=False, n_resamples=500).iloc[0]
    assert paired["test"] == "wilcoxon" and unpaired["test"] == "welch"
    assert paired["p"] < 0.01  # exact Wilcoxon, 12 seeds all a > b: p = 2 / 4096
    assert paired["diff_ci_low"] > 0
    assert unpaired["p"] > 0.05  # seed-to-seed sd 5 swamps a 0.5 shift
    assert paired["p_improvement"] == 1.0


def test_pairwise_rows_follow_names_order_and_holm_is_not_below_p():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(4, 10)) + np.array([[0.0], [1.0], [2.0], [3.0]])
    names = ["a", "b", "c", "d"]
    table = stats.pairwise(v, names, n_resamples=300)
    assert list(zip(table["a"], table["b"])) == list(itertools.combinations(names, 2))
    assert (table["p_holm"] >= table["p"]).all()
    np.testing.assert_allclose(table["p_holm"], stats.holm(table["p"]), atol=0)


def test_pairwise_paired_matches_scipy_and_hand_values():
    a = np.array([3.0, 5.0, 4.0, 6.0, 8.0, 2.0])
    b = np.array([2.0, 5.0, 5.0, 3.0, 4.0, 1.0])
    d = a - b  # [1, 0, -1, 3, 4, 1]
    row = stats.pairwise(np.stack([a, b]), ["a", "b"], n_resamples=300).iloc[0]
    assert row["n"] == 6
    assert row["mean_diff"] == pytest.approx(8 / 6, abs=1e-12)
    assert row["p"] == pytest.approx(scipy.stats.wilcoxon(d).pvalue, abs=1e-12)
    assert row["cohens_d"] == pytest.approx(d.mean() / d.std(ddof=1), abs=1e-12)
    assert row["p_improvement"] == pytest.approx((4 + 0.5) / 6, abs=1e-12)  # tie counts 1/2


def test_pairwise_permutation_matches_scipy_permutation_test():
    v = np.random.default_rng(3).normal(size=(2, 16)) + np.array([[0.4], [0.0]])
    row = stats.pairwise(v, ["a", "b"], test="permutation", n_resamples=999, seed=5).iloc[0]
    ref = scipy.stats.permutation_test(
        (v[0], v[1]),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=999,
        rng=np.random.default_rng(5),
    )
    assert row["test"] == "permutation"
    assert row["p"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_pairwise_paired_drops_seeds_where_either_is_nan():
    v = np.random.default_rng(4).normal(size=(2, 10))
    v[0, 2], v[1, 7] = np.nan, np.nan
    keep = np.ones(10, bool)
    keep[[2, 7]] = False
    row = stats.pairwise(v, ["a", "b"], n_resamples=300).iloc[0]
    ref = stats.pairwise(v[:, keep], ["a", "b"], n_resamples=300).iloc[0]
    assert row["n"] == 8
    pd_cols = ["mean_diff", "diff_ci_low", "diff_ci_high", "p", "cohens_d", "p_improvement"]
    np.testing.assert_allclose(row[pd_cols].astype(float), ref[pd_cols].astype(float), atol=0)


def test_pairwise_all_zero_differences_gives_p_one():
    v = np.tile(np.arange(6.0), (2, 1))
    row = stats.pairwise(v, ["a", "b"], n_resamples=300).iloc[0]
    assert row["p"] == 1.0 and row["p_holm"] == 1.0
    assert row["mean_diff"] == 0.0 and row["p_improvement"] == 0.5
    assert math.isnan(row["cohens_d"])  # 0 / 0


def test_pairwise_no_complete_pairs_gives_nan_row():
    v = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, np.nan]])
    row = stats.pairwise(v, ["a", "b"], n_resamples=300).iloc[0]
    assert row["n"] == 0 and math.isnan(row["p"]) and math.isnan(row["diff_ci_low"])


@pytest.mark.parametrize(
    ("test", "reference"),
    [
        ("welch", lambda a, b: scipy.stats.ttest_ind(a, b, equal_var=False).pvalue),
        ("mannwhitney", lambda a, b: scipy.stats.mannwhitneyu(a, b).pvalue),
    ],
)
def test_pairwise_unpaired_matches_scipy(test, reference):
    v = np.random.default_rng(5).normal(size=(2, 9)) + np.array([[1.0], [0.0]])
    v[1, 0] = np.nan
    a, b = v[0], v[1, 1:]
    row = stats.pairwise(v, ["a", "b"], paired=False, test=test, n_resamples=300).iloc[0]
    assert (row["n_a"], row["n_b"], row["n"]) == (9, 8, 17)
    assert row["test"] == test
    assert row["p"] == pytest.approx(reference(a, b), abs=1e-12)
    pooled = np.sqrt((8 * a.var(ddof=1) + 7 * b.var(ddof=1)) / 15)
    assert row["cohens_d"] == pytest.approx((a.mean() - b.mean()) / pooled, abs=1e-12)


def test_pairwise_unpaired_p_improvement_hand_case():
    # a vs b pairs: 1<2, 1<2, 2=2, 2=2, 3>2, 3>2 -> (0 + 0 + .5 + .5 + 1 + 1) / 6 = 0.5
    v = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, np.nan]])
    row = stats.pairwise(v, ["a", "b"], paired=False, n_resamples=300).iloc[0]
    assert row["p_improvement"] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(("paired", "test"), [(True, "welch"), (False, "wilcoxon")])
def test_pairwise_rejects_test_not_valid_for_design(paired, test):
    with pytest.raises(ValueError, match=f"test must be one of .* when paired={paired}"):
        stats.pairwise(np.zeros((2, 5)), ["a", "b"], paired=paired, test=test)


# --------------------------------------------------------------------------- time to threshold


def test_time_to_threshold_with_censoring_and_nan():
    curve = np.array(
        [
            [[0.9, 0.5, 0.2, 0.1], [0.9, 0.8, 0.7, 0.6]],  # reached at step 30; never
            [[0.1, 0.5, 0.2, 0.1], [np.nan, np.nan, 0.2, 0.1]],  # step 10; NaN skipped -> 30
        ]
    )  # [acts, seeds, evals]
    times, reached = stats.time_to_threshold(curve, [10, 20, 30, 40], 0.25)
    assert times.shape == reached.shape == (2, 2)
    np.testing.assert_array_equal(times, [[30.0, np.inf], [10.0, 30.0]])
    np.testing.assert_array_equal(reached, [[True, False], [True, True]])


def test_time_to_threshold_above():
    times, reached = stats.time_to_threshold(
        [[0.1, 0.6, 0.9], [0.1, 0.2, np.nan]], [1, 2, 3], 0.5, below=False
    )
    np.testing.assert_array_equal(times, [2.0, np.inf])
    np.testing.assert_array_equal(reached, [True, False])


def test_time_to_threshold_rejects_steps_of_wrong_length():
    with pytest.raises(ValueError, match=r"steps must be 1-D \[evals\] with evals = .* = 3"):
        stats.time_to_threshold(np.zeros((2, 3)), [1, 2], 0.5)


# --------------------------------------------------------------------------- threshold_ratio


def test_threshold_ratio_true_ratio_six_is_in_ci():
    # log-normal times; tanh = 6 x relu x symmetric log noise, so median ratio is exactly 6
    rng = np.random.default_rng(6)
    relu = np.exp(rng.normal(np.log(1000.0), 0.3, size=30))
    tanh = 6.0 * relu * np.exp(rng.normal(0.0, 0.2, size=30))
    out = stats.threshold_ratio(relu, tanh, n_resamples=1000, seed=0)
    assert out["ci_low"] <= 6.0 <= out["ci_high"]
    assert out["ratio"] == pytest.approx(6.0, rel=0.15)
    assert (out["n"], out["censored_a"], out["censored_b"]) == (30, 0, 0)


def test_threshold_ratio_median_is_finite_while_fewer_than_half_censored():
    relu = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    tanh = np.array([6.0, 12.0, 18.0, np.inf, np.inf])  # 2 of 5 censored
    out = stats.threshold_ratio(relu, tanh, n_resamples=300)
    assert out["ratio"] == pytest.approx(6.0, abs=1e-12)  # 18 / 3
    assert out["censored_b"] == 2
    assert out["ci_high"] == np.inf  # resamples with >= 3 censored tanh seeds


@pytest.mark.parametrize(
    ("relu", "tanh", "expected"),
    [
        ([1.0, 2.0, np.inf, np.inf], [6.0, 12.0, 18.0, 24.0], 0.0),  # half of A censored
        ([1.0, 2.0, 3.0, 4.0], [6.0, np.inf, np.inf, 1.0], np.inf),  # half of B censored
        ([np.inf, np.inf, 1.0], [np.inf, np.inf, 1.0], np.nan),  # both: inf / inf
    ],
)
def test_threshold_ratio_with_half_or_more_censored(relu, tanh, expected):
    out = stats.threshold_ratio(relu, tanh, n_resamples=300)
    np.testing.assert_array_equal(out["ratio"], expected)


def test_threshold_ratio_mean_is_inf_with_any_censored():
    out = stats.threshold_ratio(
        [1.0, 2.0, 3.0], [6.0, 12.0, np.inf], statistic="mean", n_resamples=300
    )
    assert out["ratio"] == np.inf


def test_threshold_ratio_paired_drops_nan_seeds_and_needs_equal_length():
    out = stats.threshold_ratio([1.0, np.nan, 3.0, 2.0], [6.0, 5.0, np.nan, 12.0], n_resamples=300)
    assert out["n"] == 2 and out["ratio"] == pytest.approx(6.0, abs=1e-12)
    with pytest.raises(ValueError, match="equal length"):
        stats.threshold_ratio([1.0, 2.0], [1.0, 2.0, 3.0])


def test_threshold_ratio_unpaired_allows_different_lengths():
    out = stats.threshold_ratio(
        [1.0, 2.0, 3.0], [6.0, 12.0, 18.0, 24.0, 30.0], paired=False, n_resamples=300
    )
    assert (out["n_a"], out["n_b"]) == (3, 5)
    assert out["ratio"] == pytest.approx(18.0 / 2.0, abs=1e-12)


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    ("paired", "effect", "expected"),
    [  # G*Power / Cohen (1988) tables, alpha 0.05 two-sided, power 0.8
        (True, 0.2, 199),
        (True, 0.5, 34),
        (True, 0.8, 15),
        (False, 0.2, 394),
        (False, 0.5, 64),
        (False, 0.8, 26),
    ],
)
def test_seeds_needed_textbook_values(paired, effect, expected):
    # only delta / sd matters: scale both
    assert stats.seeds_needed(2.0, 2.0 * effect, paired=paired) == expected
    assert stats.seeds_needed(2.0, -2.0 * effect, paired=paired) == expected


@pytest.mark.parametrize("paired", [True, False])
def test_seeds_needed_is_smallest_n_reaching_power(paired):
    n = stats.seeds_needed(1.0, 0.6, power=0.9, alpha=0.01, paired=paired)
    assert stats.power(n, 1.0, 0.6, alpha=0.01, paired=paired) >= 0.9
    assert stats.power(n - 1, 1.0, 0.6, alpha=0.01, paired=paired) < 0.9


def test_power_at_zero_delta_is_alpha():
    np.testing.assert_allclose(stats.power([5, 50], 1.0, 0.0, alpha=0.05), 0.05, atol=1e-12)


def test_seeds_needed_rejects_zero_delta():
    with pytest.raises(ValueError, match="delta must be non-zero"):
        stats.seeds_needed(1.0, 0.0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [stats.summarize, stats.pairwise, stats.rates])
def test_rejects_names_values_length_mismatch(fn):
    with pytest.raises(ValueError, match=r"names has 2 entries but .* has 3 rows.*\[acts, seeds\]"):
        fn(np.zeros((3, 5), bool), ["a", "b"])


@pytest.mark.parametrize("fn", [stats.summarize, stats.pairwise, stats.rates])
def test_rejects_1d_values(fn):
    with pytest.raises(ValueError, match=r"must be 2-D \[acts, seeds\]; got shape \(5,\)"):
        fn(np.zeros(5, bool), ["a"])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1, 95])
@pytest.mark.parametrize(
    "call",
    [
        lambda c: stats.summarize(np.zeros((1, 5)), ["a"], confidence=c),
        lambda c: stats.pairwise(np.zeros((2, 5)), ["a", "b"], confidence=c),
        lambda c: stats.rates(np.zeros((1, 5), bool), ["a"], confidence=c),
        lambda c: stats.wilson(1, 2, confidence=c),
        lambda c: stats.threshold_ratio([1.0, 2.0], [1.0, 2.0], confidence=c),
    ],
    ids=["summarize", "pairwise", "rates", "wilson", "threshold_ratio"],
)
def test_rejects_confidence_outside_open_unit_interval(call, confidence):
    with pytest.raises(ValueError, match=r"confidence must be in the open interval \(0, 1\)"):
        call(confidence)


def test_summarize_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        stats.summarize(np.zeros((1, 5)), ["a"], method="bca")


def test_rates_rejects_non_binary_flags():
    with pytest.raises(ValueError, match="flags must be bool"):
        stats.rates(np.array([[0.0, 0.5]]), ["a"])


def test_summarize_falls_back_to_percentile_when_bca_fails(monkeypatch):
    real = scipy.stats.bootstrap

    def bca_breaks(*args, method, **kwargs):
        if method == "BCa":  # what scipy does when the jackknife has no spread
            warnings.warn("BCa degenerate", scipy.stats.DegenerateDataWarning, stacklevel=2)
        return real(*args, method=method, **kwargs)

    monkeypatch.setattr(scipy.stats, "bootstrap", bca_breaks)
    x = np.random.default_rng(9).normal(size=12)
    row = stats.summarize(x[None], ["x"], n_resamples=300, seed=1).iloc[0]
    ref = real((x,), np.mean, n_resamples=300, method="percentile", rng=np.random.default_rng(1))
    assert row["ci_method"] == "percentile"
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], ref.confidence_interval, rtol=1e-10)


def test_rejects_names_given_as_one_string():
    with pytest.raises(TypeError, match="names must be a sequence of strings"):
        stats.summarize(np.zeros((2, 5)), "ab")
