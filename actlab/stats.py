"""Statistics over the seed axis, run on the host (numpy, scipy, pandas).

Models for different activations share seed ``i`` (same data order and init), so
comparisons are paired by default. Arrays are named by axis: ``values: [acts, seeds]``.
NaN marks a missing run (e.g. a diverged model) and is dropped per activation (or per
pair of activations in paired comparisons); the number actually used is reported as ``n``.

Every bootstrap takes an explicit ``seed`` (as rliable's ``random_state``), so results are
reproducible. Each row of a table uses the same seed, so a row does not depend on which
other activations are in the table.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.stats

MIN_BOOTSTRAP_N = 3  # fewer seeds than this: a bootstrap CI says nothing, report NaN
BOOTSTRAP_METHODS = ("BCa", "percentile", "basic")
PAIRED_TESTS = ("wilcoxon", "permutation", "ttest")
UNPAIRED_TESTS = ("welch", "mannwhitney", "permutation")
RATIO_STATISTICS = ("median", "mean")

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

    samples: tuple of 1-D arrays without NaN (one for a mean, two for a difference).
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


def _sample_std(x: np.ndarray) -> float:
    """Sample sd (ddof=1) of 1-D x; NaN for fewer than 2 values, without a warning."""
    return float(np.std(x, ddof=1)) if x.size >= 2 else math.nan


# --------------------------------------------------------------------------- summaries


def summarize(
    values,
    names: Sequence[str],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "BCa",
) -> pd.DataFrame:
    """Per-activation summary over seeds.

    values: [acts, seeds] float; NaN = missing run, dropped per activation.
    names: [acts] str.
    Returns one row per activation with columns
    name, n, mean, std (ddof=1), median, iqm (trim_mean 0.25 each side, as rliable),
    ci_low, ci_high (bootstrap CI of the mean via scipy.stats.bootstrap), ci_method.

    CI rules: method "BCa" (default) falls back to "percentile" where BCa fails;
    n < MIN_BOOTSTRAP_N -> NaN CI (ci_method "none"); all values equal -> CI = the value
    (ci_method "degenerate"); n = 0 -> every statistic NaN. Never warns.
    """
    v = _check_table(values, names)
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}; got {method!r}")
    rows = []
    for name, row in zip(names, v):
        x = row[~np.isnan(row)]
        if x.size == 0:
            nan = math.nan
            rows.append((name, 0, nan, nan, nan, nan, nan, nan, "none"))
            continue
        low, high, used = _bootstrap_ci(
            (x,),
            _mean,
            paired=False,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
            method=method,
        )
        rows.append(
            (
                name,
                int(x.size),
                float(np.mean(x)),
                _sample_std(x),
                float(np.median(x)),
                float(scipy.stats.trim_mean(x, 0.25)),
                low,
                high,
                used,
            )
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


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


def _paired_p(d: np.ndarray, a: np.ndarray, b: np.ndarray, test: str, n_resamples, seed) -> float:
    if test == "wilcoxon":
        return float(_quiet(scipy.stats.wilcoxon, d).pvalue)
    if test == "ttest":
        return float(_quiet(scipy.stats.ttest_rel, a, b).pvalue)
    return _permutation_p(a, b, "samples", n_resamples, seed)


def _unpaired_p(a: np.ndarray, b: np.ndarray, test: str, n_resamples, seed) -> float:
    if test == "welch":
        return float(_quiet(scipy.stats.ttest_ind, a, b, equal_var=False).pvalue)
    if test == "mannwhitney":
        return float(_quiet(scipy.stats.mannwhitneyu, a, b).pvalue)
    return _permutation_p(a, b, "independent", n_resamples, seed)


def _compare_paired(x, y, test, boot) -> dict:
    keep = ~(np.isnan(x) | np.isnan(y))
    a, b = x[keep], y[keep]
    d = a - b
    n = int(d.size)
    out = {"n": n, "n_a": n, "n_b": n, "test": test}
    if n == 0:
        return out | {"mean_diff": math.nan, "p": math.nan, "cohens_d": math.nan}
    if (d == 0).all():
        p = 1.0  # no difference at all: tests divide 0 by 0, the answer is "no evidence"
    else:
        p = _paired_p(d, a, b, test, boot["n_resamples"], boot["seed"])
    sd = _sample_std(d)
    low, high, _ = _bootstrap_ci((d,), _mean, paired=False, **boot)
    return out | {
        "mean_diff": float(d.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p": p,
        "cohens_d": float(d.mean() / sd) if sd > 0 else math.nan,  # d_z
        "p_improvement": float(np.mean((d > 0) + 0.5 * (d == 0))),
    }


def _compare_unpaired(x, y, test, boot) -> dict:
    a, b = x[~np.isnan(x)], y[~np.isnan(y)]
    na, nb = int(a.size), int(b.size)
    out = {"n": na + nb, "n_a": na, "n_b": nb, "test": test}
    if na == 0 or nb == 0:
        return out | {"mean_diff": math.nan, "p": math.nan, "cohens_d": math.nan}
    both = np.concatenate([a, b])
    p = 1.0 if np.ptp(both) == 0 else _unpaired_p(a, b, test, boot["n_resamples"], boot["seed"])
    diff = float(a.mean() - b.mean())
    pooled = _pooled_sd(a, b)
    low, high, _ = _bootstrap_ci((a, b), _mean_diff, paired=False, **boot)
    u = _quiet(scipy.stats.mannwhitneyu, a, b).statistic  # U of a: #(a > b) + ties / 2
    return out | {
        "mean_diff": diff,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p": p,
        "cohens_d": diff / pooled if pooled > 0 else math.nan,
        "p_improvement": float(u) / (na * nb),
    }


def _pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    """sqrt(((n_a-1) s_a^2 + (n_b-1) s_b^2) / (n_a + n_b - 2)); NaN if n_a + n_b < 3."""
    na, nb = a.size, b.size
    if na + nb < 3:
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

    values: [acts, seeds] float (NaN = missing). names: [acts] str.
    One row per pair (a, b), a before b in ``names`` order, with columns
      a, b, n (complete pairs if paired, else n_a + n_b), n_a, n_b,
      mean_diff = mean(a) - mean(b) (paired: mean of per-seed differences),
      diff_ci_low, diff_ci_high (bootstrap CI, BCa with percentile fallback; paired:
        over per-seed differences; unpaired: each group resampled on its own),
      p (two-sided), p_holm (Holm over every pair in the table),
      cohens_d (paired: d_z = mean(d) / sd(d); unpaired: diff / pooled sd; NaN if sd is 0),
      p_improvement = P(A > B) (paired: fraction of seeds with a > b, ties count 1/2;
        unpaired: Mann–Whitney U / (n_a n_b)),
      test (name of the test used).

    Tests. paired=True: "wilcoxon" (default; scipy.stats.wilcoxon on differences),
    "permutation" (scipy.stats.permutation_test, permutation_type="samples", mean diff),
    "ttest" (scipy.stats.ttest_rel). Seeds where either is NaN are dropped.
    paired=False: "welch" (default; ttest_ind(equal_var=False)), "mannwhitney",
    "permutation" (permutation_type="independent"). NaNs dropped per activation.
    No differences at all (all-zero paired differences, or one constant shared by both
    groups) -> p = 1.0. Too few seeds -> NaN entries, never an exception.
    """
    v = _check_table(values, names)
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    allowed = PAIRED_TESTS if paired else UNPAIRED_TESTS
    test = allowed[0] if test is None else test
    if test not in allowed:
        raise ValueError(f"test must be one of {allowed} when paired={paired}; got {test!r}")
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed, "method": "BCa"}
    compare = _compare_paired if paired else _compare_unpaired
    rows = []
    for i, j in itertools.combinations(range(len(names)), 2):
        row = dict.fromkeys(PAIRWISE_COLUMNS, math.nan)
        row.update(a=names[i], b=names[j])
        row.update(compare(v[i], v[j], test, boot))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
    table["p_holm"] = holm(table["p"].to_numpy(dtype=float))
    return table


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
    if paired:
        if ta.shape != tb.shape:
            raise ValueError(
                f"paired=True needs times_a and times_b of equal length [seeds]; "
                f"got {ta.size} and {tb.size} (use paired=False for independent runs)"
            )
        keep = ~(np.isnan(ta) | np.isnan(tb))
        ta, tb = ta[keep], tb[keep]
    else:
        ta, tb = ta[~np.isnan(ta)], tb[~np.isnan(tb)]
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
