"""Tests for actlab.aggregate: each statistic against a hand computation on small made-up
scores, scipy as a cross-check, and the stratified bootstrap's simulated coverage."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats
from matplotlib.figure import Figure

from actlab import aggregate as ag

TASKS3 = ("mnist1d", "xor", "fashion")
ACTS3 = ("relu", "gelu", "tanh")


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    # aggregate promises never to leak a warning (missing tasks, all-NaN slices, inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- point aggregates

# one act, 3 tasks x 4 seeds; the task means are 0.45, 0.8, 0.2
HAND = np.array(
    [
        [0.1, 0.3, 0.5, 0.9],
        [0.2, 0.6, 0.7, 1.7],
        [0.0, 0.1, 0.4, 0.3],
    ]
)


def test_point_aggregates_by_hand():
    np.testing.assert_allclose(ag.aggregate_mean(HAND), (0.45 + 0.8 + 0.2) / 3, rtol=1e-12)
    np.testing.assert_allclose(ag.aggregate_median(HAND), 0.45, rtol=1e-12)
    # 12 runs sorted: 0 .1 .1 .2 | .2 .3 .3 .4 .5 .6 | ... cut 3 each side -> positions 3..8
    np.testing.assert_allclose(ag.aggregate_iqm(HAND), (0.2 + 0.3 + 0.3 + 0.4 + 0.5 + 0.6) / 6)
    # max(1 - x, 0) per task: (.9+.7+.5+.1)/4, (.8+.4+.3+0)/4, (1+.9+.6+.7)/4
    np.testing.assert_allclose(ag.aggregate_optimality_gap(HAND), (0.55 + 0.375 + 0.8) / 3)
    np.testing.assert_allclose(
        ag.aggregate_optimality_gap(HAND, gamma=0.5), (0.15 + 0.075 + 0.3) / 3
    )


def test_missing_runs_keep_each_task_weight():
    x = HAND.copy()
    x[1, 3] = np.nan  # task 2's mean becomes (.2 + .6 + .7) / 3 = 0.5, not pooled
    np.testing.assert_allclose(ag.aggregate_mean(x), (0.45 + 0.5 + 0.2) / 3, rtol=1e-12)
    np.testing.assert_allclose(ag.aggregate_median(x), 0.45, rtol=1e-12)
    # 11 runs: 0 .1 .1 .2 .3 .3 .4 .5 .6 .7 .9, int(11 / 4) = 2 cut each side
    np.testing.assert_allclose(ag.aggregate_iqm(x), (0.1 + 0.2 + 0.3 + 0.3 + 0.4 + 0.5 + 0.6) / 7)
    table = ag.aggregates(x[:, None, :], TASKS3, ["relu"], reps=200)
    assert set(table[["n_tasks", "n_seeds", "n_runs"]].itertuples(index=False)) == {(3, 3, 11)}


@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (4, 10), (2, 7), (5, 1)])
def test_iqm_equals_scipy_trim_mean(shape):
    x = np.random.default_rng(sum(shape)).normal(size=(6, *shape))
    want = [scipy.stats.trim_mean(row.ravel(), 0.25) for row in x]
    np.testing.assert_allclose(ag.aggregate_iqm(x), want, rtol=1e-12)


def test_aggregates_table_estimates_match_the_functions():
    x = np.stack([HAND, 1 - HAND], axis=1)  # [3 tasks, 2 acts, 4 seeds]
    table = ag.aggregates(x, TASKS3, ["relu", "gelu"], gamma=0.9, reps=300)
    assert list(table.columns) == list(ag.INTERVAL_COLUMNS)
    assert list(table.act) == ["relu"] * 4 + ["gelu"] * 4
    got = table.set_index(["act", "statistic"]).estimate
    assert got["relu", "iqm"] == pytest.approx(2.3 / 6, rel=1e-12)
    assert got["gelu", "optimality_gap"] == pytest.approx(
        float(ag.aggregate_optimality_gap(1 - HAND, 0.9)), rel=1e-12
    )
    assert (table.lo <= table.estimate).all() and (table.estimate <= table.hi).all()
    assert (table.method == "percentile").all()


# --------------------------------------------------------------------------- normalisation


def test_minmax_by_hand_with_a_failed_run():
    # accuracy, chance 0.1: best run 0.9 -> 1; a failed run (-inf) and chance itself -> 0
    acc = np.array([[[0.9, 0.5], [0.1, -np.inf]]])
    got = ag.normalise(acc, ["t"], ["relu", "gelu"], floor=0.1)
    np.testing.assert_allclose(got, [[[1.0, 0.5], [0.0, 0.0]]], atol=1e-12)
    # loss, floor 2.0: best 0.5 -> 1, 1.0 -> (1 - 2) / (0.5 - 2) = 2/3, worse than the floor
    # and +inf (diverged) -> 0
    loss = np.array([[[0.5, 1.0], [np.inf, 3.0]]])
    got = ag.normalise(loss, ["t"], ["relu", "gelu"], larger_is_better=False, floor=2.0)
    np.testing.assert_allclose(got, [[[1.0, 2 / 3], [0.0, 0.0]]], atol=1e-12)


def test_minmax_per_task_floor_and_fixed_ceiling():
    acc = np.array([[[0.6, 0.4]], [[0.75, np.nan]]])  # [2 tasks, 1 act, 2 seeds]
    got = ag.normalise(acc, ["a", "b"], ["relu"], floor=[0.2, 0.5], ceiling=1.0)
    np.testing.assert_allclose(got[:, 0], [[0.5, 0.25], [0.5, np.nan]], atol=1e-12)
    # no run beats the floor: the task scores 0 throughout
    got = ag.normalise(acc[:1], ["a"], ["relu"], floor=0.7)
    np.testing.assert_array_equal(got, [[[0.0, 0.0]]])


def test_rank_normalisation_by_hand():
    # loss: runs 0.5, 1.0, inf, inf -> ranks 4, 3, 1.5, 1.5 of 4 -> (r - 1) / 3
    loss = np.array([[[0.5, 1.0], [np.inf, np.inf]], [[2.0, np.nan], [2.0, 1.0]]])
    got = ag.normalise(loss, ["a", "b"], ["relu", "gelu"], "rank", larger_is_better=False)
    np.testing.assert_allclose(got[0], [[1.0, 2 / 3], [1 / 6, 1 / 6]], atol=1e-12)
    # task b: 2.0, NaN, 2.0, 1.0 -> three runs, ranks 1.5, 1.5, 3 -> 0.25, 0.25, 1
    np.testing.assert_allclose(got[1], [[0.25, np.nan], [0.25, 1.0]], atol=1e-12)


# --------------------------------------------------------------------------- bootstrap


def test_resampling_stays_within_each_task():
    x = 10.0 * np.arange(3)[:, None] + np.arange(5)  # task t holds 10 t .. 10 t + 4
    x[2, 1:] = np.nan  # task 2 has one run left, at the front after compaction
    boot = ag.stratified_resample(x, reps=400, seed=1)
    assert boot.shape == (400, 3, 5)
    for t in range(2):
        assert set(np.unique(boot[:, t])) <= set(x[t])
        assert len(np.unique(boot[:, t])) == 5  # 2000 draws of 5 values: each appears
    np.testing.assert_array_equal(boot[:, 2, 0], 20.0)
    assert np.isnan(boot[:, 2, 1:]).all()


def test_constant_tasks_give_point_intervals():
    # constant within each task, different across: only a bootstrap that mixed tasks could
    # vary; resampling within tasks reproduces every task exactly
    x = np.repeat(np.array([0.2, 0.5, 0.9])[:, None, None], 6, axis=2)
    table = ag.aggregates(x, TASKS3, ["relu"], reps=500)
    np.testing.assert_allclose(table.lo, table.estimate, atol=1e-12)
    np.testing.assert_allclose(table.hi, table.estimate, atol=1e-12)


def test_a_constant_task_adds_no_width():
    # the mean over [variable task, constant c] is (m + c) / 2 in every replicate, and the
    # variable task's draws do not depend on the other task: the interval is exactly halved
    v = np.random.default_rng(3).uniform(size=8)
    alone = ag.aggregates(v[None, None], ["a"], ["relu"], statistics=["mean"], seed=5)
    both = np.stack([v, np.full(8, 0.4)])[:, None, :]
    pair = ag.aggregates(both, ["a", "b"], ["relu"], statistics=["mean"], seed=5)
    np.testing.assert_allclose(pair.lo, (alone.lo + 0.4) / 2, rtol=1e-12)
    np.testing.assert_allclose(pair.hi, (alone.hi + 0.4) / 2, rtol=1e-12)
    assert alone.hi[0] - alone.lo[0] > 0.1


def test_bootstrap_is_reproducible_and_rows_are_independent():
    x = np.random.default_rng(0).uniform(size=(4, 3, 6))
    first = ag.aggregates(x, list("abcd"), ACTS3, seed=7)
    pd.testing.assert_frame_equal(first, ag.aggregates(x, list("abcd"), ACTS3, seed=7))
    assert not np.allclose(first.lo, ag.aggregates(x, list("abcd"), ACTS3, seed=8).lo)
    # a row does not depend on which other acts are in the table
    alone = ag.aggregates(x[:, 2:], list("abcd"), ACTS3[2:], seed=7)
    pd.testing.assert_frame_equal(alone, first[first.act == "tanh"].reset_index(drop=True))


def test_a_task_with_one_run_gives_no_interval():
    x = np.random.default_rng(1).uniform(size=(2, 1, 4))
    x[1, 0, 1:] = np.nan
    table = ag.aggregates(x, ["a", "b"], ["relu"], reps=100)
    assert table.lo.isna().all() and table.hi.isna().all() and table.estimate.notna().all()
    assert (table.n_seeds == 1).all()


# heterogeneous normal tasks: the IQM of their equal-weight mixture is known exactly
MU, SD = np.array([0.2, 0.45, 0.6, 0.9]), np.array([0.05, 0.1, 0.15, 0.2])


def _mixture_iqm() -> float:
    """2 * integral of x f(x) between the mixture's quartiles (normal partial means)."""
    quartile = lambda p: scipy.optimize.brentq(
        lambda q: scipy.stats.norm.cdf((q - MU) / SD).mean() - p, -1, 2, xtol=1e-14
    )
    q1, q3 = quartile(0.25), quartile(0.75)
    a, b = (q1 - MU) / SD, (q3 - MU) / SD
    norm = scipy.stats.norm
    return 2 * float(np.mean(MU * (norm.cdf(b) - norm.cdf(a)) + SD * (norm.pdf(a) - norm.pdf(b))))


def test_mixture_iqm_matches_a_large_sample():
    x = np.random.default_rng(0).normal(MU[:, None], SD[:, None], (4, 250_000))
    assert _mixture_iqm() == pytest.approx(float(ag.aggregate_iqm(x)), abs=1e-3)  # se ~3e-4


def test_stratified_iqm_interval_coverage():
    """4 tasks x 10 seeds, 200 simulated suites, nominal 95 %. Measured: 0.917 over 4000
    suites (Monte-Carlo se 0.004): the percentile bootstrap under-covers a little at 10
    seeds a task. Band: 0.85 is 3.4 binomial sd (0.0195 at 200 suites) below 0.917; the
    upper bound 0.99 catches an interval made too wide (e.g. resampling across tasks)."""
    truth, rng, hits, suites = _mixture_iqm(), np.random.default_rng(2024), 0, 200
    for i in range(suites):
        x = rng.normal(MU[:, None, None], SD[:, None, None], (4, 1, 10))
        row = ag.aggregates(x, list("abcd"), ["relu"], statistics=["iqm"], seed=i).iloc[0]
        hits += row.lo <= truth <= row.hi
    assert 0.85 <= hits / suites <= 0.99, hits / suites


# --------------------------------------------------------------------------- profiles


def test_performance_profile_by_hand():
    x = np.array([[[0.1, 0.5, 0.9, 0.9]], [[0.3, 0.3, np.nan, 1.0]]])  # [2 tasks, 1, 4]
    prof = ag.performance_profile(x, ["a", "b"], ["relu"], [0.0, 0.3, 0.5, 0.95], reps=300)
    # task a: 4/4, 3/4, 2/4, 0; task b (3 runs): 3/3, 1/3, 1/3, 1/3
    want = [1.0, (0.75 + 1 / 3) / 2, (0.5 + 1 / 3) / 2, (0 + 1 / 3) / 2]
    np.testing.assert_allclose(prof.fraction, want, rtol=1e-12)
    assert list(prof.columns) == list(ag.PROFILE_COLUMNS)
    assert (prof.lo <= prof.fraction).all() and (prof.fraction <= prof.hi).all()
    assert prof.lo[0] == prof.hi[0] == 1.0  # every run > 0 in every replicate
    assert (np.diff(prof.fraction) <= 0).all() and (np.diff(prof.lo) <= 1e-12).all()


# --------------------------------------------------------------------------- P(A > B)


def test_probability_of_improvement_by_hand():
    # task 1: A = 3, 2, 1 vs B = 2, 2, 0: 3 beats 3; 2 beats 1 and ties 2 (1/2 each); 1 beats
    # 1 -> (3 + 2 + 1) / 9. Task 2: A loses all 9. P(A > B) = (2/3 + 0) / 2.
    x = np.array([[[3.0, 2.0, 1.0], [2.0, 2.0, 0.0]], [[0.1, 0.2, 0.3], [0.5, 0.6, 0.7]]])
    table = ag.probability_of_improvement(x, ["t1", "t2"], ["A", "B"], reps=500)
    assert list(table.columns) == list(ag.IMPROVEMENT_COLUMNS)
    row = table.iloc[0]
    assert (row.a, row.b, row.n_tasks) == ("A", "B", 2)
    assert row.p_improvement == pytest.approx(1 / 3, rel=1e-12)
    assert 0.0 <= row.lo <= 1 / 3 <= row.hi <= 0.5  # task 2 contributes 0 in every replicate
    u = scipy.stats.mannwhitneyu(x[0, 0], x[0, 1], alternative="greater").statistic
    assert u / 9 == pytest.approx(2 / 3)


def test_probability_of_improvement_with_failed_losses():
    # losses: A = inf, 1, 2 vs B = inf, 3, 3. A's inf ties B's inf (1/2) and loses to 3, 3;
    # A's 1 and 2 beat all three -> (0.5 + 3 + 3) / 9. A vs C = 1, 1, 1: only A's 1 ties
    # them (3 halves) -> 1.5 / 9. B vs C: B never wins
    x = np.array([[[np.inf, 1.0, 2.0], [np.inf, 3.0, 3.0], [1.0, 1.0, 1.0]]])
    table = ag.probability_of_improvement(x, ["t"], ("A", "B", "C"), larger_is_better=False)
    assert list(zip(table.a, table.b, strict=True)) == [("A", "B"), ("A", "C"), ("B", "C")]
    np.testing.assert_allclose(table.p_improvement, [6.5 / 9, 1.5 / 9, 0.0], rtol=1e-12)
    assert table.lo[2] == table.hi[2] == 0.0  # C beats every run of B in every replicate


def test_probability_of_improvement_drops_a_missing_task():
    x = np.array([[[1.0, 2.0], [0.0, 0.0]], [[np.nan, np.nan], [5.0, 5.0]]])
    row = ag.probability_of_improvement(x, ["t1", "t2"], ["A", "B"], reps=100).iloc[0]
    assert (row.p_improvement, row.n_tasks) == (1.0, 1)


# --------------------------------------------------------------------------- rank tests

# medians over 3 seeds (larger is better), in whole numbers so differences tie exactly:
#   t1: relu 9 gelu 8 tanh 7 -> ranks 1 2 3    t2: 9 7 8 -> 1 3 2
#   t3: 8 9 7 -> 2 1 3                          t4: 9 8 7 -> 1 2 3
# average ranks 1.25, 2.0, 2.75. On t1 relu's seeds are 9, 9, 0 (mean 6): ranked on the mean,
# t1 becomes 3 1 2.
MEDIANS = np.array([[9, 8, 7], [9, 7, 8], [8, 9, 7], [9, 8, 7]], dtype=float)
RANK_SCORES = np.repeat(MEDIANS[:, :, None], 3, axis=2)
RANK_SCORES[0, 0] = [9.0, 9.0, 0.0]
TASKS4 = ("t1", "t2", "t3", "t4")


def test_average_ranks_and_friedman_by_hand():
    rt = ag.rank_test(RANK_SCORES, TASKS4, ACTS3)
    np.testing.assert_allclose(rt.ranks, [1.25, 2.0, 2.75])
    assert list(rt.ranks.index) == list(ACTS3)
    # chi2 = 12 N / (k (k + 1)) (sum R_j^2 - k (k + 1)^2 / 4) = 4 (13.125 - 12)
    fr = rt.friedman
    assert (fr.n_tasks, fr.n_acts) == (4, 3)
    assert fr.chi2 == pytest.approx(4.5, rel=1e-12)
    assert fr.p == pytest.approx(math.exp(-2.25), rel=1e-9)  # chi2 with 2 df: exp(-x / 2)
    ref = scipy.stats.friedmanchisquare(*MEDIANS.T)
    assert (fr.chi2, fr.p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    # Iman–Davenport: (N - 1) chi2 / (N (k - 1) - chi2) = 13.5 / 3.5 on (2, 6) df
    assert fr.f == pytest.approx(27 / 7, rel=1e-12)
    assert fr.p_f == pytest.approx(scipy.stats.f.sf(27 / 7, 2, 6), rel=1e-12)


def test_ranks_on_the_mean_when_asked():
    np.testing.assert_allclose(
        ag.task_ranks(RANK_SCORES, TASKS4, ACTS3, center="mean")[0], [3.0, 1.0, 2.0]
    )
    rt = ag.rank_test(RANK_SCORES, TASKS4, ACTS3, center="mean")
    np.testing.assert_allclose(rt.ranks, [1.75, 1.75, 2.5])
    assert rt.center == "mean"


def test_posthoc_by_hand():
    rt = ag.rank_test(RANK_SCORES, TASKS4, ACTS3)
    ph = rt.posthoc.set_index(["a", "b"])
    assert list(rt.posthoc.columns) == list(ag.POSTHOC_COLUMNS)
    # CD(k=3, N=4) = 2.3437 sqrt(12 / 24); relu - tanh = -1.5 falls just short of it
    assert rt.cd == pytest.approx(2.343701 * math.sqrt(0.5), rel=1e-6)
    assert ph.loc[("relu", "tanh"), "rank_diff"] == pytest.approx(-1.5)
    assert not ph.nemenyi_different.any()
    assert ((ph.nemenyi_p <= rt.alpha) == ph.nemenyi_different).all()
    # relu - tanh medians: 2, 1, 1, 2: all positive -> exact p = 2 / 2^4. relu - gelu: 1, 2,
    # -1, 1 (ranks 2, 4, 2, 2): T+ >= 8 in 4 of 16 sign patterns -> p = 8 / 16; gelu - tanh
    # likewise. Holm: 3 x 0.125, then max(0.375, 2 x 0.5) capped at 1.
    np.testing.assert_allclose(ph.wilcoxon_p, [0.5, 0.125, 0.5], rtol=1e-9)
    np.testing.assert_allclose(ph.wilcoxon_p_holm, [1.0, 0.375, 1.0], rtol=1e-9)
    assert (ph.n_tasks == 4).all()


def test_nemenyi_critical_difference():
    # Demšar 2006: k = 4 at alpha .05 has q = 2.569; with N = 14, CD = 2.569 sqrt(20 / 84)
    assert ag.nemenyi_q(4) == pytest.approx(2.569, abs=5e-4)
    assert ag.nemenyi_cd(4, 14) == pytest.approx(2.569 * math.sqrt(20 / 84), abs=1e-3)
    assert ag.nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.01)
    assert ag.nemenyi_q(2) == pytest.approx(scipy.stats.norm.ppf(0.975), rel=1e-6)
    assert ag.nemenyi_q(4, alpha=0.10) == pytest.approx(2.291, abs=5e-4)  # Demšar's table


def test_friedman_with_ties_matches_scipy():
    ranks = np.array([[1.0, 2.5, 2.5], [1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [1.5, 1.5, 3.0]])
    fr = ag.friedman(ranks)
    ref = scipy.stats.friedmanchisquare(*ranks.T)
    assert (fr.chi2, fr.p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    # every task tied throughout: nothing to find
    assert ag.friedman(np.full((3, 4), 2.5))[:2] == (0.0, 1.0)
    # perfect agreement: Iman–Davenport's denominator is 0
    fr = ag.friedman(np.tile([1.0, 2.0, 3.0], (5, 1)))
    assert fr.chi2 == pytest.approx(10.0) and fr.f == math.inf and fr.p_f == 0.0


# --------------------------------------------------------------------------- failed and missing


def test_a_failed_run_is_the_worst_outcome_everywhere():
    # losses; gelu diverged (+inf) on two of three seeds of task 1: its median is +inf
    loss = np.array(
        [
            [[0.3, 0.4, 0.5], [np.inf, np.inf, 0.1], [0.6, 0.7, 0.8]],
            [[0.3, 0.4, 0.5], [0.2, 0.2, 0.2], [0.6, 0.7, 0.8]],
            [[0.3, 0.4, 0.5], [0.2, 0.2, 0.2], [0.6, 0.7, 0.8]],
        ]
    )
    kw = dict(larger_is_better=False)
    mm = ag.normalise(loss, TASKS3, ACTS3, floor=1.0, **kw)
    np.testing.assert_array_equal(mm[0, 1, :2], 0.0)
    assert mm[0, 1, 2] == 1.0  # the best run of task 1 is gelu's finite one
    rk = ag.normalise(loss, TASKS3, ACTS3, "rank", **kw)
    np.testing.assert_allclose(rk[0, 1, :2], 0.5 / 8)  # ranks 1.5 of 9: below all finite runs
    table = ag.aggregates(rk, TASKS3, ACTS3, statistics=["mean"], reps=100)
    assert table.estimate.notna().all()
    p = ag.probability_of_improvement(loss, TASKS3, ACTS3, reps=100, **kw)
    # task 1: relu beats gelu's infs (6 of 9), loses to 0.1 (3 of 9); tasks 2, 3: loses all
    assert p.p_improvement[0] == pytest.approx((6 / 9) / 3, rel=1e-12)
    np.testing.assert_allclose(ag.task_ranks(loss, TASKS3, ACTS3, **kw)[0], [1.0, 3.0, 2.0])


def test_missing_runs_are_dropped_and_counted():
    x = np.random.default_rng(0).uniform(size=(3, 3, 4))
    x[0, 0, :2] = np.nan  # two runs of relu on task 1
    x[1, 2, :] = np.nan  # tanh never ran task 2
    table = ag.aggregates(x, TASKS3, ACTS3, statistics=["mean"], reps=100).set_index("act")
    assert tuple(table.loc["relu", ["n_tasks", "n_seeds", "n_runs"]]) == (3, 2, 10)
    assert tuple(table.loc["tanh", ["n_tasks", "n_seeds", "n_runs"]]) == (2, 4, 8)
    assert table.loc["tanh", "estimate"] == pytest.approx(x[[0, 2], 2].mean(), rel=1e-12)
    rt = ag.rank_test(x, TASKS3, ACTS3)
    assert rt.friedman.n_tasks == 2  # complete blocks only
    assert np.isnan(ag.task_ranks(x, TASKS3, ACTS3)[1]).all()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ag.normalise(np.ones((2, 3)), TASKS3, ACTS3, floor=0), "3-D"),
        (lambda: ag.normalise(np.ones((2, 3, 4)), TASKS3, ACTS3, floor=0), r"\[3, 3, seeds\]"),
        (lambda: ag.aggregates(np.ones((3, 2, 4)), TASKS3, ACTS3), r"\[3, 3, seeds\]"),
        (lambda: ag.normalise(np.ones((3, 3, 0)), TASKS3, ACTS3, floor=0), "no seeds"),
        (lambda: ag.rank_test(np.ones((3, 3, 2)), TASKS3, ("a", "b", "a")), "unique"),
        (lambda: ag.normalise(np.ones((3, 3, 2)), TASKS3, ACTS3), "needs floor"),
        (lambda: ag.normalise(np.ones((3, 3, 2)), TASKS3, ACTS3, "z"), "minmax"),
        (lambda: ag.normalise(np.ones((3, 3, 2)), TASKS3, ACTS3, floor=[0, 1]), r"\(3,\)"),
        (lambda: ag.aggregates(np.full((3, 3, 2), -np.inf), TASKS3, ACTS3), "normalise"),
        (lambda: ag.aggregates(np.ones((3, 3, 2)), TASKS3, ACTS3, statistics="iqm"), "iqm"),
        (lambda: ag.aggregates(np.ones((3, 3, 2)), TASKS3, ACTS3, confidence=95), "open"),
        (lambda: ag.aggregates(np.ones((3, 3, 2)), TASKS3, ACTS3, reps=0), "reps"),
        (lambda: ag.task_ranks(np.ones((3, 3, 2)), TASKS3, ACTS3, center="mode"), "center"),
        (lambda: ag.friedman(np.ones((1, 3))), "2 complete tasks"),
        (lambda: ag.nemenyi_cd(1, 10), "k"),
        (lambda: ag.performance_profile(np.ones((3, 3, 2)), TASKS3, ACTS3, [[0.5]]), "taus"),
        (lambda: ag.cd_diagram({"relu": 1.0}, cd=-1.0), "cd"),
        (lambda: ag.bayesian_signed_rank(np.ones((3, 3, 2)), TASKS3, ACTS3, rope=-1), "rope"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_an_infinity_on_the_better_side_is_rejected():
    loss = np.ones((3, 3, 2))
    loss[0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match=r"failure value must be the worst outcome: \+inf"):
        ag.probability_of_improvement(loss, TASKS3, ACTS3, larger_is_better=False)
    with pytest.raises(ValueError, match="-inf"):
        ag.normalise(-loss, TASKS3, ACTS3, floor=0.0)  # +inf accuracy


def test_names_must_be_a_sequence_not_a_string():
    with pytest.raises(TypeError, match="sequence of strings"):
        ag.aggregates(np.ones((3, 3, 2)), "abc", ACTS3)


# --------------------------------------------------------------------------- diagram


def test_cd_diagram_joins_the_groups_within_cd():
    ranks = pd.Series({"relu": 1.6, "silu": 1.9, "gelu": 2.1, "elu": 2.8, "tanh": 3.4, "sig": 3.9})
    fig = ag.cd_diagram(ranks, cd=1.69)
    assert isinstance(fig, Figure)
    fig.canvas.draw()  # Agg: lays out every artist
    ax = fig.axes[0]
    bars = sorted(
        (round(line.get_xdata()[0] + 0.05, 6), round(line.get_xdata()[1] - 0.05, 6))
        for line in ax.lines
        if line.get_linewidth() == 3
    )
    # relu..elu (1.2 < cd), silu..tanh (1.5), elu..sig (1.1); gelu..tanh lies inside silu's
    assert bars == [(1.6, 2.8), (1.9, 3.4), (2.8, 3.9)]
    names = {t.get_text() for t in ax.texts}
    assert {"relu (1.60)", "sig (3.90)", "CD = 1.69"} <= names
    # drawn on a given axes, it returns that axes' figure
    other = Figure()
    assert ag.cd_diagram(ranks, cd=0.5, ax=other.add_subplot()) is other


# --------------------------------------------------------------------------- Bayesian


@pytest.mark.parametrize("n", [1, 3])
def test_bayesian_signed_rank_when_a_wins_everywhere(n):
    # every d beyond 2 rope: the mass "a better" is 1 - w0^2 (only the prior's d = 0 paired
    # with itself lies in the rope), w0 ~ Beta(prior, n), so a wins iff w0 < 1 / sqrt(2)
    loss = np.tile([[[0.1, 0.2, 0.1], [np.inf, 1.0, np.inf]]], (n, 1, 1))  # b fails mostly
    tasks = [f"t{i}" for i in range(n)]
    row = ag.bayesian_signed_rank(loss, tasks, ["a", "b"], rope=0.05, larger_is_better=False)
    want = scipy.stats.beta.cdf(1 / math.sqrt(2), 0.5, n)  # n = 1: 2 ** -0.25 = 0.841
    assert row.p_left[0] == pytest.approx(want, abs=0.007)  # 4 Monte-Carlo se at 50 000
    assert row.p_right[0] == 0.0 and row.p_left[0] + row.p_rope[0] == pytest.approx(1.0)
    assert list(row.columns) == list(ag.BAYES_COLUMNS) and row.n_tasks[0] == n


def test_bayesian_signed_rank_identical_acts():
    x = np.random.default_rng(0).uniform(size=(5, 1, 3)).repeat(2, axis=1)
    at0 = ag.bayesian_signed_rank(x, list("abcde"), ["a", "b"], samples=1000).iloc[0]
    assert (at0.p_left, at0.p_rope, at0.p_right) == pytest.approx((0.5, 0.0, 0.5))
    wide = ag.bayesian_signed_rank(x, list("abcde"), ["a", "b"], rope=0.1, samples=1000)
    assert wide.p_rope[0] == 1.0
