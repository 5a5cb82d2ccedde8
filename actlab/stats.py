"""Statistics over the seed axis, run on the host (numpy, scipy, pandas).

Models for different activations share seed ``i`` (same data order and init), so
comparisons are paired by default. Arrays are named by axis: ``values: [acts, seeds]``.

Missing and failed runs. NaN marks a missing run and is dropped per activation (or per pair
of activations in paired comparisons); the number actually used is reported as ``n``.
``±inf`` is a value, not a missing run: an intention-to-treat outcome gives a diverged run a
declared failure value, ``+inf`` for a loss-type metric (the worst rank). A mean is then
``±inf`` (NaN where both signs occur: undefined) and its interval is that point; mean-based
tests (t, Welch, permutation) have no p-value (NaN). Medians, rank tests (Wilcoxon,
Mann–Whitney) and Hodges–Lehmann estimates treat inf as the extreme rank it is. In paired
differences two equal infinities are a tie (difference 0), never ``inf - inf = NaN``.

Intervals. The default CI of a mean is Student's t, mean ± t_{n-1} sd / sqrt(n): bootstrap
intervals under-cover at the 5-20 seeds we run (simulated, 95 % nominal, normal data: BCa
0.83 at n = 5 and 0.88 at n = 10, where t gives 0.95; tests/test_stats.py measures it).
An interval shown beside a test is the inversion of that test, so "0 is outside the CI" and
"p <= 1 - confidence" agree: Wilcoxon signed-rank -> Hodges–Lehmann shift, Mann–Whitney ->
two-sample Hodges–Lehmann shift, paired t / Welch -> their t intervals, and the median's CI
is the sign test's (order statistics). ``equivalence`` is the TOST for "no difference
larger than a margin". The signed-rank test uses its exact distribution, or with ties or
zeros its exact permutation distribution (up to EXACT_TIES_MAX_N seeds), for the p-value
and for the interval alike.

Bounded metrics. ``summarize(bounds=(lo, hi))`` keeps every interval of a mean inside the
metric's range (an accuracy's in [0, 1], a loss's at or above 0): the t interval is
intersected with the range, which keeps its coverage since the mean lies in the range, and
a sample wholly at a bound gets the distribution-free ``edge_bound`` instead of a point.
``clustered_wilson`` gives a share pooled over correlated units (the unit census) its
Wilson interval at Kish's effective sample size; ``max_t_band`` a simultaneous band over a
curve's points.

Every bootstrap and permutation test takes an explicit ``seed`` (as rliable's
``random_state``), so results are reproducible. Each row of a table uses the same seed, so a
row does not depend on which other activations are in the table.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.stats

MIN_BOOTSTRAP_N = 3  # fewer seeds than this: a bootstrap CI says nothing, report NaN
BOOTSTRAP_METHODS = ("BCa", "percentile", "basic")
CI_METHODS = ("t", *BOOTSTRAP_METHODS)  # summarize(method=...); "t" is the default
PAIRED_TESTS = ("wilcoxon", "permutation", "ttest")
UNPAIRED_TESTS = ("welch", "mannwhitney", "permutation")
EQUIVALENCE_TESTS = ("t", "wilcoxon")
RATIO_STATISTICS = ("median", "mean")
# what pairwise's "estimate" column holds for each test
ESTIMATORS = {
    "wilcoxon": "hodges_lehmann",
    "mannwhitney": "hodges_lehmann",
    "ttest": "mean",
    "welch": "mean",
    "permutation": "mean",
}
MAX_GRID = 2048  # shifts tested in one batched call when inverting a rank test; else bisect
# the signed-rank test with ties or zeros uses its exact permutation distribution (built by
# convolution, O(n^3) per shift) up to this n, the normal approximation above it; scipy's
# "auto" stops at 13, where the approximation can be off by orders of magnitude in the tail
# (20 pairs, one tie: 8.8e-5 against the exact 1.9e-6)
EXACT_TIES_MAX_N = 100

SUMMARY_COLUMNS = (
    "name",
    "n",
    "mean",
    "std",
    "median",
    "iqm",
    "ci_low",
    "ci_high",
    "ci_method",
    "median_ci_low",
    "median_ci_high",
)
RATE_COLUMNS = ("name", "k", "n", "rate", "ci_low", "ci_high")
PAIRWISE_COLUMNS = (
    "a",
    "b",
    "n",
    "n_a",
    "n_b",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    "p",
    "p_holm",
    "cohens_d",
    "p_improvement",
    "test",
    "estimate",
    "estimate_ci_low",
    "estimate_ci_high",
    "estimator",
)


# --------------------------------------------------------------------------- validation


def _check_confidence(confidence: float, what: str = "confidence") -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"{what} must be in the open interval (0, 1); got {confidence!r}")
    return c


def _check_n_resamples(n_resamples: int) -> int:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}")
    return int(n_resamples)


def _check_table(values, names: Sequence[str], what: str = "values") -> np.ndarray:
    """values -> float array [acts, seeds], after checking it matches names."""
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of strings, one per row of {what}; got a str")
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(
            f"{what} must be 2-D [acts, seeds]; got shape {v.shape} ({v.ndim}-D). "
            f"For a single activation pass {what}[None, :]."
        )
    if len(names) != v.shape[0]:
        raise ValueError(
            f"names has {len(names)} entries but {what} has {v.shape[0]} rows; "
            f"{what} must be [acts, seeds] with one name per row."
        )
    return v


def _check_flags(flags, names: Sequence[str]) -> np.ndarray:
    f = np.asarray(flags)
    if f.dtype != bool:
        if not np.issubdtype(f.dtype, np.number) or not np.isin(f, (0, 1)).all():
            raise ValueError(
                f"flags must be bool (or 0/1) [acts, seeds]; got dtype {f.dtype} with values "
                "other than 0/1."
            )
        f = f.astype(bool)
    return _check_table(f, names, "flags").astype(bool)


# --------------------------------------------------------------------------- bootstrap core


def _quiet(fn: Callable, *args, **kwargs):
    """fn(*args, **kwargs) with scipy's small-sample warnings silenced (we check results)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _bootstrap_ci(
    samples: tuple[np.ndarray, ...],
    statistic: Callable,
    *,
    paired: bool,
    confidence: float,
    n_resamples: int,
    seed: int,
    method: str,
) -> tuple[float, float, str]:
    """scipy.stats.bootstrap CI, with BCa falling back to percentile.

    samples: tuple of 1-D finite arrays (one for a mean, two for a difference).
    statistic(*samples, axis) -> statistic along axis.
    Returns (low, high, method_used). method_used is "none" (CI is NaN: fewer than
    MIN_BOOTSTRAP_N seeds in some sample), "degenerate" (every sample constant: the
    bootstrap distribution is a point, so low = high = the statistic), or the method run.
    """
    if min(s.size for s in samples) < MIN_BOOTSTRAP_N:
        return math.nan, math.nan, "none"
    if all(np.ptp(s) == 0 for s in samples):
        point = float(statistic(*samples, axis=-1))
        return point, point, "degenerate"

    def run(m: str):
        return scipy.stats.bootstrap(
            samples,
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            paired=paired,
            confidence_level=confidence,
            method=m,
            rng=np.random.default_rng(seed),
        ).confidence_interval

    if method == "BCa":
        # BCa divides by jackknife spread; near-degenerate data gives 0/0 (RuntimeWarning,
        # DegenerateDataWarning) or NaN. Treat either as "BCa failed" and use percentile.
        try:
            with warnings.catch_warnings(), np.errstate(all="warn"):
                warnings.simplefilter("error", RuntimeWarning)
                ci = run("BCa")
            if np.isfinite(ci.low) and np.isfinite(ci.high):
                return float(ci.low), float(ci.high), "BCa"
        except (RuntimeWarning, ValueError, FloatingPointError):
            pass
        method = "percentile"
    ci = _quiet(run, method)
    return float(ci.low), float(ci.high), method


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


# --------------------------------------------------------------------------- point estimates


def _mean_of(x: np.ndarray) -> float:
    """Mean of 1-D x without NaN: ±inf if x holds infinities of one sign, NaN if of both
    (undefined) or if x is empty. Never warns."""
    if x.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(np.mean(x))


def _sample_std(x: np.ndarray) -> float:
    """Sample sd (ddof=1) of 1-D x; NaN for fewer than 2 values or any infinite value
    (undefined: inf - mean), without a warning."""
    if x.size < 2 or np.isinf(x).any():
        return math.nan
    return float(np.std(x, ddof=1))


def _median_of(x: np.ndarray) -> float:
    """np.median of 1-D x without NaN; NaN if empty or the two middle values are -inf, inf."""
    if x.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(np.median(x))


def _paired_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b elementwise, exactly 0 where a == b (inf == inf included: a tie, not NaN)."""
    return np.subtract(a, b, out=np.zeros(a.shape), where=a != b)


def _walsh_averages(d: np.ndarray) -> np.ndarray:
    """[n (n + 1) / 2] Walsh averages (d_i + d_j) / 2, i <= j, of d: [n].

    NaN where d_i = -d_j = ±inf: that pair is a tie for every shift (see _hodges_lehmann).
    Halved before adding, so large finite values do not overflow.
    """
    i, j = np.triu_indices(d.size)
    with np.errstate(invalid="ignore"):
        return d[i] / 2 + d[j] / 2


def _shift_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n_a n_b] differences a_i - b_j; NaN where a_i = b_j = ±inf (a tie for every shift)."""
    with np.errstate(invalid="ignore"):
        return (a[:, None] - b[None, :]).ravel()


def _hodges_lehmann(w: np.ndarray) -> float:
    """Hodges–Lehmann estimate: the median of Walsh averages (one sample) or of pairwise
    differences (two samples) w: [m].

    NaN entries (inf - inf pairs) are ties at every shift, half above and half below, so
    they do not move the median and are left out. NaN if nothing is left, or if the two
    middle values are -inf and inf (every shift is then as central as any other).
    """
    return _median_of(w[~np.isnan(w)])


# --------------------------------------------------------------------------- intervals


@functools.lru_cache(maxsize=512)
def _t_quantile(df: int, level: float) -> float:
    """scipy.stats.t.ppf(level, df), cached (summarize needs one per distinct n)."""
    return float(scipy.stats.t.ppf(level, df))


@functools.lru_cache(maxsize=512)
def _median_ci_rank(n: int, confidence: float) -> int:
    """Largest k with P(Binomial(n, 1/2) <= k - 1) <= (1 - confidence) / 2; 0 if none.

    [x_(k), x_(n+1-k)] (order statistics, 1-based) then covers the median of any
    continuous distribution with probability 1 - 2 P(B <= k - 1) >= confidence.
    """
    cdf = scipy.stats.binom.cdf(np.arange(n + 1), n, 0.5)
    # 1e-12: 1 - confidence is rounded (1 - 0.95 = 0.05000000000000004)
    return int(np.count_nonzero(cdf <= (1.0 - confidence) / 2 * (1 + 1e-12)))


def _sorted_row_stats(x: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    """summarize's statistics of each row of x: [rows, k], sorted ascending, no NaN, k >= 1.

    Returns {column: [rows]} for
      mean, std (ddof=1; NaN if k < 2 or the row holds an inf), median, iqm;
      ci_low, ci_high, ci_method: Student-t CI of the mean, mean ± t_{k-1} sd / sqrt(k),
        "t"; "none" (k < 2: NaN); "degenerate" (constant row: low = high = the value);
        "infinite" (some value is ±inf: the mean is ±inf, or NaN with both signs, and
        low = high = the mean);
      median_ci_low, median_ci_high: the sign test inverted, order statistics x_(j),
        x_(k+1-j) with j = _median_ci_rank(k) (the endpoints of
        scipy.stats.quantile_test(x).confidence_interval); where no pair of order
        statistics reaches the confidence (k <= 5 at 95 %) the sign test rejects no
        median and the interval is (-inf, inf) (scipy says NaN).
    Vectorised over rows: summarize calls it once per distinct n.
    """
    k = x.shape[1]
    has_inf = np.isinf(x).any(axis=1)
    constant = x[:, 0] == x[:, -1]  # sorted: first == last
    with np.errstate(invalid="ignore"):  # inf - inf in rows holding both signs
        mean = x.mean(axis=1)
        median = np.median(x, axis=1)
        iqm = scipy.stats.trim_mean(x, 0.25, axis=1)
        std = x.std(axis=1, ddof=1) if k >= 2 else np.full(len(x), np.nan)
    std = np.where(has_inf, np.nan, std)
    if k >= 2:
        half = _t_quantile(k - 1, 0.5 + confidence / 2) * std / math.sqrt(k)
        low = np.where(constant, x[:, 0], mean - half)
        high = np.where(constant, x[:, 0], mean + half)
        used = np.where(constant, "degenerate", "t")
    else:
        low = high = np.full(len(x), np.nan)
        used = np.full(len(x), "none")
    low, high = np.where(has_inf, mean, low), np.where(has_inf, mean, high)
    j = _median_ci_rank(k, confidence)
    inf = np.full(len(x), np.inf)
    return {
        "mean": mean,
        "std": std,
        "median": median,
        "iqm": iqm,
        "ci_low": low,
        "ci_high": high,
        "ci_method": np.where(has_inf, "infinite", used).astype(object),
        "median_ci_low": x[:, j - 1] if j else -inf,
        "median_ci_high": x[:, k - j] if j else inf,
    }


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float, str]:
    """Student-t CI of the mean of 1-D x without NaN: (low, high, method) with the rules of
    _sorted_row_stats ("t", "none", "degenerate", "infinite"); n = 0 -> NaN, "none"."""
    if x.size == 0:
        return math.nan, math.nan, "none"
    r = _sorted_row_stats(np.sort(x)[None, :], confidence)
    return float(r["ci_low"][0]), float(r["ci_high"][0]), str(r["ci_method"][0])


def _welch_interval(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float, str]:
    """Welch CI of mean(a) - mean(b) for 1-D a, b without NaN (scipy.stats.ttest_ind with
    equal_var=False, Welch–Satterthwaite df). Methods as _t_interval: "infinite" (some
    value is ±inf: low = high = the difference, NaN if undefined), "none" (a group has fewer
    than 2 values), "degenerate" (both groups constant) or "t".
    """
    if a.size and b.size and (np.isinf(a).any() or np.isinf(b).any()):
        diff = _mean_of(a) - _mean_of(b)  # Python floats: inf - inf is NaN, silently
        return diff, diff, "infinite"
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan, "none"
    if (a == a[0]).all() and (b == b[0]).all():
        diff = float(a[0] - b[0])
        return diff, diff, "degenerate"
    ci = _quiet(scipy.stats.ttest_ind, a, b, equal_var=False).confidence_interval(confidence)
    return float(ci.low), float(ci.high), "t"


def _signed_rank_permutation_p(x: np.ndarray, alternative: str) -> np.ndarray:
    """p of the Wilcoxon signed-rank test (zsplit) on each row of x: [m, n], from its exact
    permutation distribution: the signs of the non-zero values flipped in all 2^n ways,
    the ranks of |x| (midranks where tied) held fixed.

    This is what scipy.stats.wilcoxon(method=PermutationMethod()) computes by enumerating
    the 2^n sign patterns (scipy's "auto" does so for n <= 13), which costs it seconds per
    row at n = 13; inverting the test needs it for every candidate shift, so the same
    distribution is built here by convolution over the doubled (integer) ranks. The
    zeros' half ranks are the same in
    every permutation and cancel. tests/test_stats.py checks it equals scipy's p.
    """
    ranks2 = np.rint(2 * scipy.stats.rankdata(np.abs(x), axis=-1)).astype(int)
    out = np.empty(len(x))
    for i, (row, r2) in enumerate(zip(x, ranks2)):
        pmf = np.ones(1)  # of the doubled rank sum of the positive values
        for r in r2[row != 0]:
            pmf = np.concatenate([pmf, np.zeros(r)]) / 2 + np.concatenate([np.zeros(r), pmf]) / 2
        t = int(r2[row > 0].sum())
        less, greater = pmf[: t + 1].sum(), pmf[t:].sum()
        out[i] = {"less": less, "greater": greater}.get(alternative, 2 * min(less, greater))
    return np.minimum(out, 1.0)


def _signed_rank_p(d: np.ndarray, alternative: str = "two-sided") -> Callable:
    """theta: [m] -> [m] p of the Wilcoxon signed-rank test on d - theta, zero_method="zsplit",
    row by row: the exact null distribution for n <= 50 without ties or zeros (scipy's
    "exact"), the exact permutation distribution of the signs for n <= EXACT_TIES_MAX_N
    with them (_signed_rank_permutation_p; scipy's exhaustive PermutationMethod gives the
    same p), the normal approximation (with tie correction) otherwise. The CI that
    inverts this test and the p it reports therefore come from one distribution at every
    shift. d: [n], no NaN, ±inf allowed."""
    n = d.size

    def p(theta: np.ndarray) -> np.ndarray:
        x = d[None, :] - theta[:, None]
        a = np.sort(np.abs(x), axis=1)
        tied = (x == 0).any(axis=1) | (a[:, 1:] == a[:, :-1]).any(axis=1)
        exact = ~tied & (n <= 50)
        perm = tied & (n <= EXACT_TIES_MAX_N)
        out = np.empty(len(x))
        kw = {"zero_method": "zsplit", "alternative": alternative, "axis": -1}
        for rows, method in ((exact, "exact"), (~exact & ~perm, "asymptotic")):
            if rows.any():
                res = _quiet(scipy.stats.wilcoxon, x[rows], method=method, **kw)
                out[rows] = res.pvalue
        if perm.any():
            out[perm] = _signed_rank_permutation_p(x[perm], alternative)
        return out

    return p


def _rank_sum_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> Callable:
    """theta: [m] -> [m] p of scipy.stats.mannwhitneyu(a - theta, b, alternative=...), one
    batched call. scipy picks one method per call from the ties in all rows; the rows
    _invert_shift_test batches share their ties (persistent ones between intervals, one
    more at every break), so each row gets the method a call of its own would."""

    def p(theta: np.ndarray) -> np.ndarray:
        x = a[None, :] - theta[:, None]
        res = _quiet(scipy.stats.mannwhitneyu, x, b[None, :], alternative=alternative, axis=-1)
        return np.atleast_1d(res.pvalue)

    return p


def _invert_shift_test(
    breaks: np.ndarray,
    pvalue: Callable[[np.ndarray], np.ndarray],
    estimate: float,
    confidence: float,
) -> tuple[float, float]:
    """CI for a shift theta by inverting a rank test: the smallest closed interval holding
    every theta with pvalue(theta) > 1 - confidence.

    breaks: [m] the shifts where the rank statistic changes (Walsh averages, or pairwise
    differences a_i - b_j); ±inf and NaN are ignored (theta is finite). pvalue: theta [j]
    -> two-sided p [j]. Between two consecutive breaks no value ties and none is zero, so
    the statistic is constant there: the test is run once per open interval, at its
    midpoint, and the CI is the hull of the accepted intervals' closures; with the test's
    exact null distribution this is the textbook [W_(k), W_(M+1-k)] (Hollander & Wolfe).
    Beyond MAX_GRID intervals each endpoint is bisected instead, out from the interval
    holding the estimate (p falls monotonically away from it). At a break the statistic
    lies between its values on either side, so breaks are tested only when no interval
    is accepted (e.g. all differences equal: only that value is not rejected).
    If no finite theta is accepted the shift is infinite: (estimate, estimate) when the
    estimate is ±inf, else NaN.
    """
    alpha = 1.0 - confidence
    u = np.unique(breaks[np.isfinite(breaks)])
    if u.size == 0:
        theta, left, right = np.zeros(1), np.array([-np.inf]), np.array([np.inf])
    else:
        mids = u[:-1] / 2 + u[1:] / 2
        ok = (u[:-1] < mids) & (mids < u[1:])  # an interval too narrow to hold a float
        theta = np.concatenate([[u[0] - 1 - abs(u[0])], mids[ok], [u[-1] + 1 + abs(u[-1])]])
        left = np.concatenate([[-np.inf], u[:-1][ok], [u[-1]]])
        right = np.concatenate([[u[0]], u[1:][ok], [np.inf]])
    if theta.size <= MAX_GRID:
        accepted = np.flatnonzero(pvalue(theta) > alpha)
        first, last = (accepted[0], accepted[-1]) if accepted.size else (None, None)
    else:
        first, last = _bisect_accepted(theta, right, pvalue, estimate, alpha)
    if first is not None:
        return float(left[first]), float(right[last])
    # no interval accepted: maybe single breaks (all differences equal: only theta = that
    # value fits). A call of their own: scipy picks one method per call, from its ties.
    at = u[pvalue(u) > alpha] if 0 < u.size <= MAX_GRID else u[:0]
    if at.size:
        return float(at.min()), float(at.max())
    return (estimate, estimate) if math.isinf(estimate) else (math.nan, math.nan)


def _bisect_accepted(theta, right, pvalue, estimate, alpha) -> tuple[int | None, int | None]:
    """First and last index i with pvalue(theta[i]) > alpha, bisecting out from the
    interval that holds the estimate (None, None if that one is rejected)."""

    def ok(i: int) -> bool:
        return bool(pvalue(theta[i : i + 1])[0] > alpha)

    c = min(int(np.searchsorted(right, estimate)), theta.size - 1) if estimate == estimate else 0
    if not ok(c):
        return None, None
    lo, hi = 0, c  # first accepted in [lo, hi]; hi is accepted
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    first = lo
    lo, hi = c, theta.size - 1  # last accepted in [lo, hi]; lo is accepted
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return first, lo


# --------------------------------------------------------------------------- summaries


def _check_bounds(bounds) -> tuple[float, float] | None:
    if bounds is None:
        return None
    lo, hi = (float(b) for b in bounds)
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"bounds must be (low, high) with low < high; got {bounds!r}")
    return lo, hi


def edge_bound(n: int, lo: float, hi: float, at: float, confidence: float) -> tuple[float, float]:
    """CI of the mean of a variable in [lo, hi] when all ``n`` values equal the bound ``at``:
    with p = P(X != at), E[X] lies within (hi - lo) p of ``at``, and p's exact one-sided
    (Clopper-Pearson) bound after n values at ``at`` is 1 - ((1 - confidence) / 2)^(1/n).
    Distribution-free; an infinite range gives an infinite far end."""
    p = 1.0 - ((1.0 - confidence) / 2.0) ** (1.0 / n)
    span = (hi - lo) * p if math.isfinite(hi - lo) else math.inf
    return (at, at + span) if at == lo else (at - span, at)


def _apply_bounds(table: dict, counts: np.ndarray, bounds, confidence: float) -> None:
    """``summarize``'s intervals kept inside ``bounds`` (in place). A finite interval is
    intersected with [lo, hi]: the mean lies in it, so the intersection covers it whenever
    the interval does (coverage unchanged, never an impossible value); ci_method "t"
    becomes "t-bounded". A row whose every value sits at a bound ("degenerate" there) gets
    ``edge_bound`` ("edge-exact") instead of a zero-width interval."""
    lo, hi = bounds
    for i in np.flatnonzero(counts > 0):
        used = table["ci_method"][i]
        if used == "degenerate" and table["mean"][i] in (lo, hi):
            l_, h_ = edge_bound(int(counts[i]), lo, hi, float(table["mean"][i]), confidence)
            table["ci_low"][i], table["ci_high"][i], table["ci_method"][i] = l_, h_, "edge-exact"
        elif used not in ("none", "infinite", "degenerate"):
            table["ci_low"][i] = max(table["ci_low"][i], lo)
            table["ci_high"][i] = min(table["ci_high"][i], hi)
            if used == "t":
                table["ci_method"][i] = "t-bounded"


def summarize(
    values,
    names: Sequence[str],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "t",
    bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Per-activation summary over seeds.

    values: [acts, seeds] float; NaN = missing run, dropped per activation; ±inf allowed
    (a declared failure value). names: [acts] str.
    Returns one row per activation with columns (SUMMARY_COLUMNS)
      name, n (non-NaN seeds), mean, std (ddof=1; NaN with an infinite value),
      median, iqm (trim_mean 0.25 each side, as rliable),
      ci_low, ci_high (CI of the mean), ci_method,
      median_ci_low, median_ci_high (distribution-free CI of the median: order statistics
        x_(k), x_(n+1-k) with the binomial k of the sign test, as
        scipy.stats.quantile_test; coverage >= confidence for any continuous
        distribution; (-inf, inf) where n is too small to reach it, n <= 5 at 95 %;
        endpoints may be inf when values are).

    CI of the mean, ``method``: "t" (default): mean ± t_{n-1, (1+c)/2} sd / sqrt(n), which
    keeps its coverage at 5-20 seeds where bootstrap intervals do not; or a bootstrap
    (scipy.stats.bootstrap, ``n_resamples`` resamples, ``seed``): "BCa" (falls back to
    "percentile" where BCa fails), "percentile", "basic". ci_method says what was done:
    the method, "none" (NaN: n < 2 for "t", n < MIN_BOOTSTRAP_N for a bootstrap),
    "degenerate" (all values equal: CI = the value), "infinite" (some value is ±inf: the
    mean is ±inf, or NaN with both signs, and the CI is [mean, mean]). Median and IQM use
    inf as a value, so they stay finite while few values are infinite.
    n = 0 -> every statistic NaN. Never warns.

    ``bounds=(lo, hi)``: the metric's range (accuracy, a share: (0, 1); a loss: (0, inf)).
    Every interval of the mean is then intersected with it (``_apply_bounds``): ci_method
    "t-bounded" for the t interval cut to the range, whose coverage is the t interval's
    (the true mean is in the range, so cutting never loses it), and "edge-exact" for a
    sample wholly at a bound (all accuracies 1), whose t interval would be a point: the
    distribution-free ``edge_bound`` instead.
    """
    bounds = _check_bounds(bounds)
    v = _check_table(values, names)
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}; got {method!r}")
    counts = np.count_nonzero(~np.isnan(v), axis=1)
    sorted_v = np.sort(v, axis=1)  # NaN last
    table = {c: np.full(len(v), np.nan) for c in SUMMARY_COLUMNS[2:]}
    table["ci_method"] = np.full(len(v), "none", dtype=object)
    for k in np.unique(counts[counts > 0]):
        rows = counts == k
        for column, value in _sorted_row_stats(sorted_v[rows, :k], confidence).items():
            table[column][rows] = value
    if method != "t":
        for i in np.flatnonzero((counts > 0) & (table["ci_method"] != "infinite")):
            x = v[i][~np.isnan(v[i])]  # in its own order: a seed reproduces scipy's bootstrap
            table["ci_low"][i], table["ci_high"][i], table["ci_method"][i] = _bootstrap_ci(
                (x,),
                _mean,
                paired=False,
                confidence=confidence,
                n_resamples=n_resamples,
                seed=seed,
                method=method,
            )
    if bounds is not None:
        _apply_bounds(table, counts, bounds, confidence)
    return pd.DataFrame({"name": list(names), "n": counts.astype(int), **table})


def wilson(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a rate k / n (closed form, vectorised).

    successes, n: broadcastable integer arrays (or scalars), 0 <= successes <= n.
    Returns (low, high) with the broadcast shape; float scalars for scalar input.
    n = 0 -> (nan, nan). Matches scipy.stats.binomtest(k, n).proportion_ci("wilson").
    """
    confidence = _check_confidence(confidence)
    k = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    if (k < 0).any() or (m < 0).any() or (k > m).any():
        raise ValueError(
            f"wilson needs 0 <= successes <= n elementwise; got successes={successes!r}, n={n!r}"
        )
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = m + z**2
        center = (k + z**2 / 2) / denom
        half = z / denom * np.sqrt(k * (m - k) / m + z**2 / 4)
        # exact endpoints at k = 0 and k = n (the closed form leaves ~1e-17 rounding there)
        low = np.where(k == 0, 0.0, np.clip(center - half, 0.0, 1.0))
        high = np.where(k == m, 1.0, np.clip(center + half, 0.0, 1.0))
        low, high = np.where(m > 0, low, np.nan), np.where(m > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def rates(flags, names: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per-activation rate of a yes/no outcome (e.g. diverged) over seeds.

    flags: [acts, seeds] bool (or 0/1). names: [acts] str.
    Returns columns name, k (count of True), n (seeds), rate = k / n, ci_low, ci_high (Wilson).
    """
    f = _check_flags(flags, names)
    confidence = _check_confidence(confidence)
    k = f.sum(axis=1)
    n = np.full(k.shape, f.shape[1])
    low, high = wilson(k, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame(
        {
            "name": list(names),
            "k": k.astype(int),
            "n": n.astype(int),
            "rate": rate,
            "ci_low": np.atleast_1d(low),
            "ci_high": np.atleast_1d(high),
        },
        columns=list(RATE_COLUMNS),
    )


def clustered_wilson(successes, sizes, confidence: float = 0.95) -> dict:
    """A share pooled over clusters (units over seeds: ``successes[i]`` of ``sizes[i]`` in
    seed i) with the Wilson interval at Kish's effective sample size: n_eff = N / deff,
    deff = the between-seed variance of the shares over the binomial one (at least 1),
    since units of one network are not independent. No variation between seeds (all
    shares 0, say) -> deff 1, the plain Wilson interval over every unit.
    Returns dict(k, n, rate, ci_low, ci_high, deff, n_eff)."""
    k, m = np.asarray(successes, float), np.asarray(sizes, float)
    if k.shape != m.shape or k.ndim != 1 or (m <= 0).any() or (k < 0).any() or (k > m).any():
        raise ValueError("successes and sizes must be 1-D [clusters], 0 <= successes <= sizes")
    total, n = float(k.sum()), float(m.sum())
    rate = total / n
    deff = 1.0
    if k.size > 1 and 0 < rate < 1:
        # the ratio estimator's variance over clusters against the binomial variance
        mbar = n / k.size
        var = float(np.sum((k - rate * m) ** 2) / (k.size - 1) / (k.size * mbar**2))
        deff = max(1.0, var / (rate * (1 - rate) / n))
    n_eff = n / deff
    low, high = wilson(rate * n_eff, n_eff, confidence)
    return {
        "k": int(total),
        "n": int(n),
        "rate": rate,
        "ci_low": float(low),
        "ci_high": float(high),
        "deff": deff,
        "n_eff": n_eff,
    }


MAX_T_START, MAX_T_MAX = 10_000, 640_000  # max_t_band's resamples: first, most


def max_t_band(
    d,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    digits: int = 2,
    transform: Callable = np.exp,
    n_resamples: int | None = None,
) -> dict:
    """Simultaneous CI band for the means of paired differences at k points (thresholds,
    steps): ``d: [k, n]``, n seeds, finite.

    mean_k ± c se_k with se_k = sd_k / sqrt(n) and c the ``confidence`` quantile of
    max_k |T_k| under the multivariate t distribution of the k t statistics (df n - 1,
    their correlation the sample correlation of the rows: single-step max-T, as
    ``multcomp``'s simultaneous intervals), simulated, so the band covers every mean at
    once with the stated confidence for normal differences, where k pointwise t CIs would
    not. Points with se_k = 0 are a point (their mean) and take no part in the max.
    Monte-Carlo rule: start at MAX_T_START draws and double (up to MAX_T_MAX) until the
    band's endpoints, recomputed at the binomial 95 % limits of c's order statistic, move
    by less than half a unit of the ``digits``-th decimal after ``transform`` (exp: a band
    of log-ratios shown as ratios): the Monte-Carlo error is below the last printed digit;
    ``mc_stable`` says whether that was reached. ``n_resamples`` fixes the number
    of draws instead (simulations of the band itself).
    Returns dict(low [k], high [k], c, n_resamples, mc_stable, n, k, confidence).
    """
    x = np.asarray(d, dtype=float)
    if x.ndim != 2 or not np.isfinite(x).all() or x.shape[1] < 2:
        raise ValueError(f"d must be a finite 2-D array [points, seeds >= 2]; got {x.shape}")
    k, n = x.shape
    confidence = _check_confidence(confidence)
    mean = x.mean(axis=1)
    sd = x.std(axis=1, ddof=1)
    se = sd / math.sqrt(n)
    live = se > 0
    # standardised residuals: u u^T / (n - 1) is the rows' correlation matrix, so u g /
    # sqrt(n - 1) with g ~ N(0, I_n) is normal with that correlation
    u = (x[live] - mean[live, None]) / sd[live, None]
    rng = np.random.default_rng(seed)
    stats_: list[np.ndarray] = []
    b, done = 0, MAX_T_START if n_resamples is None else _check_n_resamples(n_resamples)
    fmt = lambda v: transform(v)  # noqa: E731

    def ends(c):
        return fmt(mean - c * se), fmt(mean + c * se)

    while True:
        while b < done:
            m = min(20_000, done - b)
            if live.any():
                z = rng.standard_normal((m, n)) @ u.T / math.sqrt(n - 1)
                scale = np.sqrt(rng.chisquare(n - 1, size=(m, 1)) / (n - 1))
                stats_.append(np.abs(z / scale).max(axis=1))
            else:
                stats_.append(np.zeros(m))
            b += m
        allt = np.sort(np.concatenate(stats_))
        j = confidence * b
        half = 1.96 * math.sqrt(b * confidence * (1 - confidence))
        c = float(allt[min(b - 1, int(math.ceil(j)) - 1)])
        c_lo = float(allt[max(0, int(math.floor(j - half)) - 1)])
        c_hi = float(allt[min(b - 1, int(math.ceil(j + half)) - 1)])
        moved = [np.abs(a - z) for a, z in zip(ends(c_lo), ends(c_hi))]
        stable = max(float(m.max()) for m in moved) < 0.5 * 10.0**-digits
        if stable or done >= MAX_T_MAX or n_resamples is not None:
            break
        done *= 2
    return {
        "low": mean - c * se,
        "high": mean + c * se,
        "c": c,
        "n_resamples": int(b),
        "mc_stable": bool(stable),
        "n": int(n),
        "k": int(k),
        "confidence": confidence,
    }


# --------------------------------------------------------------------------- comparisons


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values.

    pvalues: any shape, in [0, 1]; NaN entries are left NaN and do not count towards the
    number of tests m. Sorted ascending, p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j)),
    so adjusted values are monotone in the raw ones, >= them, and capped at 1.
    Returns an array of the same shape.
    """
    p = np.asarray(pvalues, dtype=float)
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError(f"pvalues must lie in [0, 1] (NaN allowed); got {pvalues!r}")
    flat = p[ok]
    m = flat.size
    order = np.argsort(flat, kind="stable")
    adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * flat[order]))
    adj = np.empty_like(flat)
    adj[order] = adj_sorted
    out = np.full(p.shape, np.nan)
    out[ok] = adj
    return out


def _permutation_p(a: np.ndarray, b: np.ndarray, kind: str, n_resamples, seed) -> float:
    """Permutation-test p of the mean difference; ``kind``: "samples" (paired) or
    "independent"."""
    return float(
        _quiet(
            scipy.stats.permutation_test,
            (a, b),
            _mean_diff,
            permutation_type=kind,
            vectorized=True,
            n_resamples=n_resamples,
            rng=np.random.default_rng(seed),
        ).pvalue
    )


def _paired_p(d: np.ndarray, test: str, n_resamples, seed) -> float:
    """Two-sided p of ``test`` on paired differences d: [n] (no NaN; inf allowed for
    "wilcoxon", NaN p for the mean-based tests, whose statistic is then undefined)."""
    if test == "wilcoxon":
        return float(_signed_rank_p(d)(np.zeros(1))[0])
    if np.isinf(d).any():
        return math.nan
    if test == "ttest":
        return float(_quiet(scipy.stats.ttest_1samp, d, 0.0).pvalue)
    # swapping a_i and b_i flips the sign of d_i: the same permutations as on (a, b)
    return _permutation_p(d, np.zeros_like(d), "samples", n_resamples, seed)


def _unpaired_p(a: np.ndarray, b: np.ndarray, test: str, n_resamples, seed) -> float:
    if test == "mannwhitney":
        return float(_rank_sum_p(a, b)(np.zeros(1))[0])
    if np.isinf(a).any() or np.isinf(b).any():
        return math.nan
    if test == "welch":
        return float(_quiet(scipy.stats.ttest_ind, a, b, equal_var=False).pvalue)
    return _permutation_p(a, b, "independent", n_resamples, seed)


def _compare_paired(x, y, test, confidence, n_resamples, seed) -> dict:
    keep = ~(np.isnan(x) | np.isnan(y))
    d = _paired_diff(x[keep], y[keep])
    n = int(d.size)
    out = {"n": n, "n_a": n, "n_b": n, "test": test, "estimator": ESTIMATORS[test]}
    if n == 0:
        return out
    if (d == 0).all():
        p = 1.0  # no difference at all: tests divide 0 by 0, the answer is "no evidence"
    else:
        p = _paired_p(d, test, n_resamples, seed)
    low, high, _ = _t_interval(d, confidence)
    sd = _sample_std(d)
    mean = _mean_of(d)
    if test == "wilcoxon":
        w = _walsh_averages(d)
        est = _hodges_lehmann(w)
        est_low, est_high = _invert_shift_test(w, _signed_rank_p(d), est, confidence)
    else:
        est, est_low, est_high = mean, low, high
    return out | {
        "mean_diff": mean,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p": p,
        "cohens_d": mean / sd if sd > 0 else math.nan,  # d_z; NaN sd (inf, n < 2) -> NaN
        "p_improvement": float(np.mean((d > 0) + 0.5 * (d == 0))),
        "estimate": est,
        "estimate_ci_low": est_low,
        "estimate_ci_high": est_high,
    }


def _compare_unpaired(x, y, test, confidence, n_resamples, seed) -> dict:
    a, b = x[~np.isnan(x)], y[~np.isnan(y)]
    na, nb = int(a.size), int(b.size)
    out = {"n": na + nb, "n_a": na, "n_b": nb, "test": test, "estimator": ESTIMATORS[test]}
    if na == 0 or nb == 0:
        return out
    both = np.concatenate([a, b])
    p = 1.0 if (both == both[0]).all() else _unpaired_p(a, b, test, n_resamples, seed)
    diff = _mean_of(a) - _mean_of(b)  # Python floats: inf - inf is NaN (undefined), silently
    low, high, _ = _welch_interval(a, b, confidence)
    pooled = _pooled_sd(a, b)
    u = _quiet(scipy.stats.mannwhitneyu, a, b).statistic  # U of a: #(a > b) + ties / 2
    if test == "mannwhitney":
        diffs = _shift_differences(a, b)
        est = _hodges_lehmann(diffs)
        est_low, est_high = _invert_shift_test(diffs, _rank_sum_p(a, b), est, confidence)
    else:
        est, est_low, est_high = diff, low, high
    return out | {
        "mean_diff": diff,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p": p,
        "cohens_d": diff / pooled if pooled > 0 else math.nan,
        "p_improvement": float(u) / (na * nb),
        "estimate": est,
        "estimate_ci_low": est_low,
        "estimate_ci_high": est_high,
    }


def _pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    """sqrt(((n_a-1) s_a^2 + (n_b-1) s_b^2) / (n_a + n_b - 2)); NaN if n_a + n_b < 3 or a
    value is infinite."""
    na, nb = a.size, b.size
    if na + nb < 3 or np.isinf(a).any() or np.isinf(b).any():
        return math.nan
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    return math.sqrt(ss / (na + nb - 2))


def pairwise(
    values,
    names: Sequence[str],
    *,
    paired: bool = True,
    test: str | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """All pairwise comparisons of activations over seeds.

    values: [acts, seeds] float (NaN = missing; ±inf allowed, see the module docstring).
    names: [acts] str.
    One row per pair (a, b), a before b in ``names`` order, with columns (PAIRWISE_COLUMNS)
      a, b, n (complete pairs if paired, else n_a + n_b), n_a, n_b,
      mean_diff = mean(a) - mean(b) (paired: mean of per-seed differences),
      diff_ci_low, diff_ci_high (t CI of mean_diff: paired, one-sample t on the per-seed
        differences; unpaired, Welch; a point at mean_diff when it is infinite),
      p (two-sided), p_holm (Holm over every pair in the table),
      cohens_d (paired: d_z = mean(d) / sd(d); unpaired: diff / pooled sd; NaN if the sd
        is 0 or undefined),
      p_improvement = P(A > B) (paired: fraction of seeds with a > b, ties count 1/2;
        unpaired: Mann–Whitney U / (n_a n_b)),
      test (name of the test used),
      estimate, estimate_ci_low, estimate_ci_high, estimator: the effect the test is
        about, with the CI that inverts that test, so the CI excludes 0 exactly when
        p <= 1 - confidence (mean_diff's t CI agrees with "ttest" and "welch" likewise):
        "wilcoxon", "mannwhitney" -> "hodges_lehmann": the median of the Walsh averages
          (d_i + d_j) / 2 of the differences (paired) or of all a_i - b_j (unpaired),
          and the smallest closed interval holding every shift theta that the same test
          on d - theta (on a - theta vs b) does not reject: exact critical values where
          the test is exact (the textbook [W_(k), W_(M+1-k)]), its normal approximation
          where it is approximate (n > 50, or ties past n = 13). (-inf, inf) when the
          test can reject nothing (n <= 5 paired at 95 %); NaN when it rejects every
          shift although the estimate is finite (a large atom of equal differences that
          no shift makes symmetric, e.g. 50 of 60 pairs tied).
          One exception to the duality: an endpoint that is itself a Walsh average
          (difference) where the test rejects, typically exactly 0 when many pairs tie
          at 0. The shifts not rejected then form an interval open at that end, shown
          closed: a CI that ends at exactly 0 with p <= 1 - confidence excludes 0.
        "ttest", "welch", "permutation" -> "mean": mean_diff and its t interval (for
          "permutation" the t interval stands in for inverting the permutation test).

    Tests. paired=True: "wilcoxon" (default; the signed-rank test on the differences,
    zero_method="zsplit", p equal to scipy.stats.wilcoxon's), "permutation"
    (scipy.stats.permutation_test, permutation_type "samples", mean diff), "ttest"
    (one-sample t on the differences, = ttest_rel). Seeds where either is NaN are dropped.
    Why "zsplit": a zero difference (both runs of a seed failed identically, expected
    often) stays in the sample with its rank split half to each sign, so the statistic
    at 0 is #(Walsh averages > 0) + #(= 0) / 2 over all n seeds, halfway between its
    values just below and just above 0 with the same n and variance: the statistic the
    Hodges–Lehmann CI inverts. With ties or zeros up to EXACT_TIES_MAX_N seeds, p is the
    exact permutation p: the signs of the non-zero differences flipped, the zeros (whose
    sign flip changes nothing) held as they are, a valid test of symmetry about 0 at any
    n. Beyond that, scipy's normal approximation of zsplit counts the zeros' half ranks as
    variable and is conservative where many seeds tie (50 ties, 10 wins: exact 0.002,
    approximation 0.028; scipy's default "wilcox", which drops the zeros, 0.005).
    paired=False: "welch" (default; ttest_ind(equal_var=False)), "mannwhitney"
    (scipy.stats.mannwhitneyu), "permutation" (permutation_type="independent"). NaNs
    dropped per activation.
    No differences at all (all-zero paired differences, or one constant shared by both
    groups) -> p = 1.0. Too few seeds -> NaN entries, never an exception.

    Infinite values: a paired difference of two equal infinities is 0 (a tie); inf -
    finite is an extreme difference, which rank tests and Hodges–Lehmann use as such. The
    mean difference is then ±inf (NaN if undefined: both signs, or unpaired inf - inf),
    its CI is that point, cohens_d is NaN, and the mean-based tests give p = NaN (use a
    rank test). Never warns.
    """
    v = _check_table(values, names)
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    allowed = PAIRED_TESTS if paired else UNPAIRED_TESTS
    test = allowed[0] if test is None else test
    if test not in allowed:
        raise ValueError(f"test must be one of {allowed} when paired={paired}; got {test!r}")
    compare = _compare_paired if paired else _compare_unpaired
    rows = []
    for i, j in itertools.combinations(range(len(names)), 2):
        row = dict.fromkeys(PAIRWISE_COLUMNS, math.nan)
        row.update(a=names[i], b=names[j])
        row.update(compare(v[i], v[j], test, confidence, n_resamples, seed))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
    table["p_holm"] = holm(table["p"].to_numpy(dtype=float))
    return table


# --------------------------------------------------------------------------- equivalence


def _check_1d(x, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"{what} must be 1-D [seeds]; got shape {v.shape}")
    return v


def _point_p(est: float, margin: float) -> tuple[float, float]:
    """(p_lower, p_upper) when the difference is known for certain to be ``est`` (zero
    spread, or infinite): each one-sided null is then rejected (0) or not (1)."""
    return (0.0 if est > -margin else 1.0), (0.0 if est < margin else 1.0)


def _drop_missing(a: np.ndarray, b: np.ndarray, paired: bool, what: str):
    """1-D ``a``, ``b`` without NaN: paired drops a seed from both (equal lengths needed),
    unpaired from its own sample."""
    if not paired:
        return a[~np.isnan(a)], b[~np.isnan(b)]
    if a.shape != b.shape:
        raise ValueError(
            f"paired=True needs {what}_a and {what}_b of equal length [seeds]; got "
            f"{a.size} and {b.size} (use paired=False for independent runs)"
        )
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def equivalence(
    values_a,
    values_b,
    margin: float,
    *,
    paired: bool = True,
    alpha: float = 0.05,
    test: str = "t",
) -> dict:
    """Equivalence test (TOST, two one-sided tests): is |true difference a - b| < margin?

    values_a, values_b: [seeds] float; NaN = missing (paired: the seed is dropped from both,
    so equal lengths are required; unpaired: dropped per group). ±inf allowed.
    H0: |diff| >= margin vs H1: |diff| < margin. Two one-sided tests at level alpha:
    p_lower for H0 diff <= -margin (alternative "greater"), p_upper for H0 diff >= margin
    (alternative "less"); p = max(p_lower, p_upper), equivalent = p < alpha.

    test="t": paired, one-sample t on the per-seed differences (scipy.stats.ttest_1samp);
    unpaired, Welch (ttest_ind(equal_var=False)). estimate = the mean difference;
    [ci_low, ci_high] = its 1 - 2 alpha t (Welch) interval, which lies inside
    (-margin, margin) exactly when TOST rejects. With zero spread (all differences equal,
    or both groups constant) or an infinite mean the difference is taken as known: each
    one-sided test rejects (p 0) or not (p 1), and the CI is that point.
    test="wilcoxon": paired, two one-sided Wilcoxon signed-rank tests on d + margin and
    d - margin (zero_method="zsplit"); unpaired, two one-sided Wilcoxon rank-sum
    (Mann–Whitney) tests of a ± margin vs b. estimate = Hodges–Lehmann shift, CI = the
    inverted two-sided test at level 2 alpha (as pairwise), with the same duality up to
    ties at ±margin.

    Returns dict(n (pairs if paired, else n_a + n_b), n_a, n_b, estimate, ci_low, ci_high,
    p, p_lower, p_upper, margin, equivalent (bool), test, paired). Too few seeds (t: fewer
    than 2 per group; wilcoxon: none) -> NaN p, equivalent False.
    """
    margin = float(margin)
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number; got {margin!r}")
    alpha = float(alpha)
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in the open interval (0, 0.5); got {alpha!r}")
    if test not in EQUIVALENCE_TESTS:
        raise ValueError(f"test must be one of {EQUIVALENCE_TESTS}; got {test!r}")
    a, b = _check_1d(values_a, "values_a"), _check_1d(values_b, "values_b")
    a, b = _drop_missing(a, b, paired, "values")
    nan = math.nan
    out = {
        "n": int(a.size) if paired else int(a.size + b.size),
        "n_a": int(a.size),
        "n_b": int(b.size),
        "estimate": nan,
        "ci_low": nan,
        "ci_high": nan,
        "p": nan,
        "p_lower": nan,
        "p_upper": nan,
        "margin": margin,
        "equivalent": False,
        "test": test,
        "paired": paired,
    }
    if a.size == 0 or b.size == 0:
        return out
    level = 1.0 - 2.0 * alpha
    if test == "t" and paired:
        d = _paired_diff(a, b)
        est = _mean_of(d)
        low, high, used = _t_interval(d, level)
        if used == "t":
            p_lower = _quiet(scipy.stats.ttest_1samp, d, -margin, alternative="greater").pvalue
            p_upper = _quiet(scipy.stats.ttest_1samp, d, margin, alternative="less").pvalue
        else:
            p_lower, p_upper = _point_p(est, margin) if used != "none" else (nan, nan)
    elif test == "t":
        est = _mean_of(a) - _mean_of(b)
        low, high, used = _welch_interval(a, b, level)
        if used == "t":
            p_lower = _quiet(
                scipy.stats.ttest_ind, a + margin, b, equal_var=False, alternative="greater"
            ).pvalue
            p_upper = _quiet(
                scipy.stats.ttest_ind, a - margin, b, equal_var=False, alternative="less"
            ).pvalue
        else:
            p_lower, p_upper = _point_p(est, margin) if used != "none" else (nan, nan)
    elif paired:
        d = _paired_diff(a, b)
        w = _walsh_averages(d)
        est = _hodges_lehmann(w)
        low, high = _invert_shift_test(w, _signed_rank_p(d), est, level)
        p_lower = _signed_rank_p(d, "greater")(np.array([-margin]))[0]  # on d + margin
        p_upper = _signed_rank_p(d, "less")(np.array([margin]))[0]
    else:
        diffs = _shift_differences(a, b)
        est = _hodges_lehmann(diffs)
        low, high = _invert_shift_test(diffs, _rank_sum_p(a, b), est, level)
        p_lower = _rank_sum_p(a, b, "greater")(np.array([-margin]))[0]  # a + margin vs b
        p_upper = _rank_sum_p(a, b, "less")(np.array([margin]))[0]
    p = max(float(p_lower), float(p_upper))  # NaN if either is NaN
    if math.isnan(float(p_lower)) or math.isnan(float(p_upper)):
        p = nan
    return out | {
        "estimate": float(est),
        "ci_low": float(low),
        "ci_high": float(high),
        "p": p,
        "p_lower": float(p_lower),
        "p_upper": float(p_upper),
        "equivalent": bool(p < alpha),
    }


# --------------------------------------------------------------------------- time to threshold


def time_to_threshold(
    curve, steps, threshold: float, *, below: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """First step at which a curve crosses a threshold.

    curve: [..., evals] (e.g. [acts, seeds, evals] training error). steps: [evals], the
    step of each evaluation. below=True: first step with curve <= threshold; below=False:
    first with curve >= threshold. NaN never counts as reaching it.
    Returns (times [...] float, np.inf where never reached (right-censored);
    reached [...] bool).
    """
    c = np.asarray(curve, dtype=float)
    s = np.asarray(steps, dtype=float)
    if c.ndim < 1:
        raise ValueError(f"curve must be at least 1-D [..., evals]; got shape {c.shape}")
    if s.ndim != 1 or s.size != c.shape[-1]:
        raise ValueError(
            f"steps must be 1-D [evals] with evals = curve.shape[-1] = {c.shape[-1]}; "
            f"got shape {s.shape}"
        )
    hit = c <= threshold if below else c >= threshold  # NaN compares False
    reached = hit.any(axis=-1)
    if s.size == 0:
        return np.full(c.shape[:-1], np.inf), reached
    first = np.argmax(hit, axis=-1)
    times = np.where(reached, s[first], np.inf)
    return times, reached


def threshold_ratio(
    times_a,
    times_b,
    *,
    statistic: str = "median",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    paired: bool = True,
) -> dict:
    """How many times sooner A reaches a threshold than B: stat(times_b) / stat(times_a).

    times_a, times_b: [seeds] from time_to_threshold; np.inf = never reached (censored),
    NaN = missing run (dropped; paired drops the seed from both). Paired needs equal lengths.
    E.g. AlexNet's figure 1: tanh time / relu time ~ 6 with A = relu, B = tanh.

    Censoring. statistic="median" treats inf as the largest value, so stat(times) stays
    finite while fewer than half the seeds are censored, and is inf otherwise;
    "mean" is inf as soon as one seed is censored. The ratio is then finite / inf = 0,
    inf / finite = inf, and inf / inf = NaN (undefined).

    CI: percentile bootstrap over seeds with np.random.default_rng(seed) (paired: seed
    indices resampled jointly for A and B; unpaired: each on its own). We do not use
    scipy.stats.bootstrap because inf times break it: its percentile step interpolates
    (inf - inf = NaN) and BCa's jackknife takes means of inf. Here quantiles are taken
    without interpolation (method="inverted_cdf"), so an inf endpoint stays inf.
    Resamples whose ratio is undefined (NaN) are dropped; their share is "undefined_frac".

    Returns dict(ratio, ci_low, ci_high, n (pairs if paired else n_a + n_b), n_a, n_b,
    censored_a, censored_b (counts of inf after dropping NaN), undefined_frac).
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    if statistic not in RATIO_STATISTICS:
        raise ValueError(f"statistic must be one of {RATIO_STATISTICS}; got {statistic!r}")
    ta, tb = np.asarray(times_a, dtype=float), np.asarray(times_b, dtype=float)
    for name, t in (("times_a", ta), ("times_b", tb)):
        if t.ndim != 1:
            raise ValueError(f"{name} must be 1-D [seeds]; got shape {t.shape}")
        if (t < 0).any():
            raise ValueError(f"{name} must be >= 0 (np.inf = censored, NaN = missing)")
    ta, tb = _drop_missing(ta, tb, paired, "times")
    stat = np.median if statistic == "median" else np.mean
    out = {
        "ratio": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "n": int(ta.size) if paired else int(ta.size + tb.size),
        "n_a": int(ta.size),
        "n_b": int(tb.size),
        "censored_a": int(np.isinf(ta).sum()),
        "censored_b": int(np.isinf(tb).sum()),
        "undefined_frac": math.nan,
    }
    if ta.size == 0 or tb.size == 0:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ratio"] = float(stat(tb) / stat(ta))
        rng = np.random.default_rng(seed)
        ia = rng.integers(0, ta.size, size=(n_resamples, ta.size))
        ib = ia if paired else rng.integers(0, tb.size, size=(n_resamples, tb.size))
        boot = stat(tb[ib], axis=1) / stat(ta[ia], axis=1)
    defined = boot[~np.isnan(boot)]
    out["undefined_frac"] = 1.0 - defined.size / n_resamples
    if defined.size:
        alpha = 1.0 - confidence
        low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
        out["ci_low"], out["ci_high"] = float(low), float(high)
    return out


# --------------------------------------------------------------------------- power


def _check_power_args(sd: float, delta: float, alpha: float) -> float:
    if not (np.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a positive finite number; got {sd!r}")
    if not np.isfinite(delta):
        raise ValueError(f"delta must be finite; got {delta!r}")
    return _check_confidence(alpha, "alpha")


def power(n, sd: float, delta: float, *, alpha: float = 0.05, paired: bool = True):
    """Power of a two-sided t-test at level alpha for a true difference delta.

    paired=True: one-sample t-test on per-seed differences with n seeds; sd is the sd of
    the differences; df = n - 1, noncentrality delta / sd * sqrt(n).
    paired=False: two-sample t-test, n seeds per group, common sd; df = 2n - 2,
    noncentrality delta / sd * sqrt(n / 2).
    n: int or int array (>= 2). Returns power with n's shape (float for scalar n),
    from the noncentral t (scipy.stats.nct).
    """
    alpha = _check_power_args(sd, delta, alpha)
    m = np.asarray(n, dtype=float)
    if (m < 2).any():
        raise ValueError(f"n must be >= 2 seeds (per group); got {n!r}")
    df = m - 1 if paired else 2 * m - 2
    ncp = delta / sd * (np.sqrt(m) if paired else np.sqrt(m / 2))
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    result = scipy.stats.nct.sf(crit, df, ncp) + scipy.stats.nct.cdf(-crit, df, ncp)
    return float(result) if np.ndim(result) == 0 else result


def seeds_needed(
    sd: float,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    max_n: int = 10**7,
) -> int:
    """Smallest n (>= 2) with power(n, sd, delta, alpha=alpha, paired=paired) >= power.

    paired: n seeds, sd = sd of the per-seed differences. Unpaired: n seeds per group.
    E.g. effect size delta / sd = 0.5 at alpha 0.05, power 0.8: 34 paired, 64 per group.
    Raises ValueError if delta == 0 or more than max_n seeds would be needed.
    """
    target = _check_confidence(power, "power")
    _check_power_args(sd, delta, alpha)
    if delta == 0:
        raise ValueError("delta must be non-zero: no n gives power above alpha for delta = 0")

    def pw(m: int) -> float:
        return _power_fn(m, sd, delta, alpha=alpha, paired=paired)

    if pw(2) >= target:
        return 2
    lo, hi = 2, 4  # invariant: pw(lo) < target <= pw(hi); power grows with n
    while pw(hi) < target:
        lo, hi = hi, hi * 2
        if hi > max_n:
            raise ValueError(f"more than max_n={max_n} seeds needed for this delta / sd")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pw(mid) >= target else (mid, hi)
    return hi


_power_fn = power  # seeds_needed's `power` argument shadows the function
