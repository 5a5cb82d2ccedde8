"""Statistics across tasks: a suite of datasets x models, each run for every activation
with several seeds, as rliable (Agarwal et al. 2021) and Demšar (2006) compare them.

Arrays are named by axis: ``scores: [tasks, acts, seeds]`` (the final metric of each run),
with ``tasks: [tasks]`` and ``acts: [acts]`` names and a flag ``larger_is_better``.

Missing and failed runs, as in ``actlab.stats``. NaN marks a missing run: it is dropped
(within its task and activation) and counted (``n_runs``, ``n_tasks``, ``n_seeds``). An
activation with no run at all on a task leaves that task out of its aggregates (compare
``n_tasks`` across rows) and, since rank tests need complete blocks, out of the rank tests
for every activation. ``±inf`` is a declared failure value, which must be the worst
outcome: ``+inf`` where smaller is better (a diverged run's loss), ``-inf`` where larger is
better; an infinity on the better side is rejected. Every function here applies this rule
itself, before a score is scaled or averaged; infinities are only compared and ranked:

- ``normalise("minmax")`` clips at the floor, so a failed run scores 0, the same as a run no
  better than the floor (the outcome rule of ``actlab.outcome`` gives a diverged classifier
  chance accuracy, the usual floor, so both readings agree);
- ``normalise("rank")`` ranks a failed run below every finite run of its task (failed runs
  tie with each other);
- ``probability_of_improvement``, ``task_ranks`` and ``bayesian_signed_rank`` compare
  values: a failed run loses to every finite run and ties with another failed run (a task's
  centre is a failure when its median, or with ``center="mean"`` any seed, failed).

The aggregates (``aggregates``, ``performance_profile``) take normalised scores (larger is
better, finite) and reject infinities, so raw scores cannot slip past the rule.

Aggregates (rliable's definitions, over normalised scores ``x: [..., tasks, seeds]``):
mean = mean over tasks of each task's mean; median = median over tasks of each task's mean
(rliable's ``aggregate_median``: not the median of all runs); IQM = the 25 %-trimmed mean of
all runs pooled over tasks and seeds (``scipy.stats.trim_mean``: int(0.25 n) runs cut at
each end); optimality gap = mean over tasks of each task's mean of max(gamma - x, 0). With
no run missing, the mean and the gap equal their means over all runs, as in rliable; with
runs missing, each task keeps the weight 1 / tasks.

Intervals: stratified bootstrap, percentile method (rliable's default): each replicate
resamples the seeds of each task with replacement, within that task (strata = tasks, never
across them), keeping each task's number of runs. Reps default to 2000 and every bootstrap
takes an explicit ``seed``. Each activation's (or pair's) resampling starts from the same
seed, so its row does not depend on which other activations are in the table. An interval
is NaN where some task has a single run: that task would enter every replicate unchanged
and make the interval too narrow. At 4 tasks x 10 seeds (normal tasks of different means
and spreads) the 95 % IQM interval covered 0.917 of 4000 simulated suites (Monte-Carlo se
0.004; tests/test_aggregate.py runs 200): the percentile bootstrap under-covers a little
at this size.

Rank tests (Demšar 2006): the activations are ranked within each task (1 = best, ties
share the average rank) on each task's median over seeds of the raw metric by default; the
median, because a failure value is a rank and not a magnitude (the mean of a loss is +inf
once a seed diverged, tying every activation that diverged once); ``center="mean"`` is
there too. Friedman's chi-square carries scipy's tie correction (equal to Demšar's formula
without ties), with the Iman–Davenport F; post-hoc, the Nemenyi critical difference and
Holm-corrected Wilcoxon signed-rank tests over tasks (``actlab.stats.pairwise``, which
treats infinite values as extreme ranks). ``bayesian_signed_rank`` gives baycomp's
Bayesian signed-rank test over tasks with a ROPE (p_left, p_rope, p_right).

Libraries. rliable was the model for the definitions, but it pins ``arch`` (which pulls
statsmodels), absl-py and seaborn for a bootstrap that numpy does in a few lines;
scikit-posthocs (statsmodels, seaborn) and autorank (statsmodels, baycomp, jinja2) bring
as much for a Friedman test, a studentized-range quantile and a Holm step that scipy and
``actlab.stats`` already have. None of them applies the failure rule above either. baycomp
itself is light (numpy, scipy, matplotlib) but is an sdist last released in 2023 whose
sampler takes a legacy ``RandomState``, for a test of twenty lines; its posterior
probabilities agree with ``bayesian_signed_rank``'s to Monte-Carlo error (checked by hand
with baycomp 1.0.3, 400 000 draws). So this module uses numpy and scipy only, and its
tests check it against hand computations and scipy.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.stats
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from actlab import stats

NORMALISATIONS = ("minmax", "rank")
AGGREGATES = ("mean", "median", "iqm", "optimality_gap")
CENTERS = ("median", "mean")
INTERVAL_COLUMNS = (
    "act",
    "statistic",
    "estimate",
    "lo",
    "hi",
    "n_tasks",
    "n_seeds",
    "n_runs",
    "method",
)
PROFILE_COLUMNS = ("act", "tau", "fraction", "lo", "hi", "n_tasks", "n_seeds", "n_runs")
IMPROVEMENT_COLUMNS = ("a", "b", "p_improvement", "lo", "hi", "n_tasks", "method")
POSTHOC_COLUMNS = (
    "a",
    "b",
    "rank_a",
    "rank_b",
    "rank_diff",
    "nemenyi_p",
    "nemenyi_different",
    "wilcoxon_p",
    "wilcoxon_p_holm",
    "n_tasks",
)
BAYES_COLUMNS = ("a", "b", "p_left", "p_rope", "p_right", "rope", "n_tasks")
MIN_STRATUM = 2  # runs a task needs for a bootstrap interval (see the module docstring)


# --------------------------------------------------------------------------- validation


def _check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError(f"{what} must be a sequence of strings; got the str {names!r}")
    names = tuple(names)
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must be unique; got {names!r}")
    return names


def _check_suite(scores, tasks: Sequence[str], acts: Sequence[str], what: str = "scores"):
    """scores -> float array [tasks, acts, seeds], after checking it against the names."""
    tasks, acts = _check_names(tasks, "tasks"), _check_names(acts, "acts")
    x = np.asarray(scores, dtype=float)
    if x.ndim != 3:
        raise ValueError(
            f"{what} must be 3-D [tasks, acts, seeds]; got shape {x.shape} ({x.ndim}-D). "
            f"For a single task pass {what}[None]."
        )
    if x.shape[:2] != (len(tasks), len(acts)):
        raise ValueError(
            f"{what} has shape {x.shape} but there are {len(tasks)} tasks and {len(acts)} "
            f"acts; {what} must be [tasks, acts, seeds] = [{len(tasks)}, {len(acts)}, seeds]."
        )
    if x.shape[2] == 0:
        raise ValueError(f"{what} has no seeds (shape {x.shape}); it needs at least one.")
    return x


def _oriented(scores, tasks, acts, larger_is_better: bool) -> np.ndarray:
    """[tasks, acts, seeds] with larger = better, so every failure value is -inf."""
    x = _check_suite(scores, tasks, acts)
    x = x if larger_is_better else -x
    if (x == np.inf).any():
        wrong = "+inf" if larger_is_better else "-inf"
        raise ValueError(
            f"scores holds {wrong}, an infinity on the better side "
            f"(larger_is_better={larger_is_better}); the failure value must be the worst "
            f"outcome: {'+inf' if not larger_is_better else '-inf'}. NaN marks a missing run."
        )
    return x


def _check_normalised(normalised, tasks, acts) -> np.ndarray:
    x = _check_suite(normalised, tasks, acts, "normalised")
    if np.isinf(x).any():
        raise ValueError(
            "normalised holds ±inf; pass the output of normalise(), which maps failure "
            "values to the worst score (aggregates need finite scores; NaN = missing)."
        )
    return x


def _check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in the open interval (0, 1); got {confidence!r}")
    return c


def _check_reps(reps: int) -> int:
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer; got {reps!r}")
    return int(reps)


def _per_task(value, n_tasks: int, what: str) -> np.ndarray:
    """A scalar or [tasks] -> finite float [tasks]."""
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        v = np.full(n_tasks, float(v))
    if v.shape != (n_tasks,):
        raise ValueError(
            f"{what} must be a scalar or one value per task, shape ({n_tasks},); "
            f"got shape {v.shape}"
        )
    if not np.isfinite(v).all():
        raise ValueError(f"{what} must be finite; got {value!r}")
    return v


# --------------------------------------------------------------------------- normalisation


def normalise(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    method: str = "minmax",
    *,
    larger_is_better: bool = True,
    floor=None,
    ceiling=None,
) -> np.ndarray:
    """Per-task normalised scores, larger = better: [tasks, acts, seeds] -> same shape.

    scores: [tasks, acts, seeds] raw metric (NaN = missing, kept NaN; failure value ±inf
      on the worse side, see the module docstring).
    method="minmax": (x - floor) / (ceiling - floor), clipped below at 0, per task.
      floor: scalar or [tasks], required: the score of a useless model (chance accuracy,
        the loss of predicting the class prior). Runs at or below it, failed runs among
        them, score 0.
      ceiling: scalar or [tasks]; default the best finite run of the task over every act
        and seed, which then scores 1 (so the scale depends on which acts are compared;
        pass a fixed reference to avoid that: runs above it score above 1). A task whose
        ceiling is not better than its floor scores 0 throughout: no run beat the floor.
    method="rank": the fraction of the task's other runs (all acts and seeds) that the run
      beats, ties counting 1/2, i.e. (rank - 1) / (n - 1) with average ranks, in [0, 1]:
      the worst run 0, the best 1, failed runs below every finite run. A task with a
      single run scores 0.5.
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"method must be one of {NORMALISATIONS}; got {method!r}")
    x = _oriented(scores, tasks, acts, larger_is_better)
    n_tasks = x.shape[0]
    if method == "rank":
        return _rank_normalise(x)
    if floor is None:
        raise ValueError(
            "method='minmax' needs floor: a scalar or [tasks], the score of a useless model "
            "(chance accuracy; for a loss, the loss of predicting the class prior)."
        )
    sign = 1.0 if larger_is_better else -1.0
    lo = sign * _per_task(floor, n_tasks, "floor")
    if ceiling is None:
        finite = np.where(np.isfinite(x), x, -np.inf).reshape(n_tasks, -1)
        hi = finite.max(axis=1)  # -inf where a task has no finite run: scores 0 below
    else:
        hi = sign * _per_task(ceiling, n_tasks, "ceiling")
    span = (hi - lo)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(span > 0, (x - lo[:, None, None]) / span, 0.0)
    return np.where(np.isnan(x), np.nan, np.maximum(z, 0.0))


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    out = np.full(flat.shape, np.nan)
    for t, row in enumerate(flat):
        ok = ~np.isnan(row)
        n = int(ok.sum())
        if n == 1:
            out[t, ok] = 0.5
        elif n > 1:
            # rankdata compares, so tied -inf failure values share the lowest ranks
            out[t, ok] = (scipy.stats.rankdata(row[ok]) - 1.0) / (n - 1)
    return out.reshape(x.shape)


# --------------------------------------------------------------------------- point aggregates


def _nanmean(x: np.ndarray) -> np.ndarray:
    """[..., n] -> [...] mean of the non-NaN values, NaN where there are none (no warning)."""
    n = (~np.isnan(x)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(x, axis=-1) / np.where(n > 0, n, np.nan)


def aggregate_mean(x) -> np.ndarray:
    """Mean over tasks of each task's mean. x: [..., tasks, seeds] (NaN = missing) -> [...]."""
    return _nanmean(_nanmean(np.asarray(x, dtype=float)))


def aggregate_median(x) -> np.ndarray:
    """Median over tasks of each task's mean (rliable). x: [..., tasks, seeds] -> [...]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice: NaN is the answer
        return np.nanmedian(_nanmean(np.asarray(x, dtype=float)), axis=-1)


def aggregate_iqm(x) -> np.ndarray:
    """Interquartile mean of all runs pooled over tasks and seeds: scipy.stats.trim_mean
    with proportiontocut 0.25, i.e. int(n / 4) runs cut at each end of the n present.
    x: [..., tasks, seeds] (NaN = missing) -> [...]."""
    x = np.asarray(x, dtype=float)
    flat = np.sort(x.reshape(*x.shape[:-2], -1), axis=-1)  # NaN sorts last
    n = (~np.isnan(flat)).sum(axis=-1, keepdims=True)
    pos = np.arange(flat.shape[-1])
    middle = np.where((pos >= n // 4) & (pos < n - n // 4), flat, np.nan)
    return _nanmean(middle)


def aggregate_optimality_gap(x, gamma: float = 1.0) -> np.ndarray:
    """Mean over tasks of each task's mean of max(gamma - x, 0): how far runs fall short of
    gamma, with no credit for exceeding it. x: [..., tasks, seeds] -> [...]."""
    x = np.asarray(x, dtype=float)
    return aggregate_mean(np.maximum(gamma - x, 0.0))  # np.maximum keeps NaN


def _statistic(name: str, gamma: float):
    return {
        "mean": aggregate_mean,
        "median": aggregate_median,
        "iqm": aggregate_iqm,
        "optimality_gap": lambda x: aggregate_optimality_gap(x, gamma),
    }[name]


# --------------------------------------------------------------------------- bootstrap


def _compact(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: [tasks, seeds] -> (runs moved to the front of each task, NaN after; n: [tasks])."""
    order = np.argsort(np.isnan(x), axis=1, kind="stable")
    return np.take_along_axis(x, order, axis=1), (~np.isnan(x)).sum(axis=1)


def stratified_resample(x, reps: int, seed: int) -> np.ndarray:
    """Stratified bootstrap replicates of one activation's runs.

    x: [tasks, seeds] (NaN = missing) -> [reps, tasks, seeds]: replicate r draws each
    task's n_t present runs with replacement from that task's runs only, and pads with NaN
    where the task had missing runs. The draws for task t are the same whatever the other
    tasks hold (the uniforms are laid out [tasks, reps, seeds]).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D [tasks, seeds]; got shape {x.shape}")
    vals, n = _compact(x)
    u = np.random.default_rng(seed).random((x.shape[0], _check_reps(reps), x.shape[1]))
    idx = (u * n[:, None, None]).astype(np.intp)  # u < 1, so idx < n_t
    out = vals[np.arange(x.shape[0])[:, None, None], idx]  # [tasks, reps, seeds]
    out[np.broadcast_to(np.arange(x.shape[1]) >= n[:, None, None], out.shape)] = np.nan
    return out.transpose(1, 0, 2)


def _percentile(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of boot: [reps, ...] -> (lo, hi) each [...]."""
    a = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(boot, [a, 100 - a], axis=0)
    return lo, hi


def _counts(x: np.ndarray) -> dict:
    """n_tasks (tasks with a run), n_seeds (fewest runs of such a task), n_runs."""
    n = (~np.isnan(x)).sum(axis=-1)
    used = n[n > 0]
    return {
        "n_tasks": int(used.size),
        "n_seeds": int(used.min()) if used.size else 0,
        "n_runs": int(used.sum()),
    }


def aggregates(
    normalised,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    statistics: Sequence[str] = AGGREGATES,
    gamma: float = 1.0,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Point aggregates with stratified-bootstrap percentile intervals, per activation.

    normalised: [tasks, acts, seeds] from ``normalise`` (finite; NaN = missing).
    statistics: any of AGGREGATES ("mean", "median", "iqm", "optimality_gap"); gamma is the
      optimality gap's target.
    Returns one row per (act, statistic), acts in order, with columns (INTERVAL_COLUMNS)
      act, statistic, estimate, lo, hi (the percentile interval over ``reps`` stratified
      replicates; NaN where a task has fewer than 2 runs), n_tasks (tasks with a run of
      this act), n_seeds (the fewest runs of those tasks), n_runs, method ("percentile").
    """
    x = _check_normalised(normalised, tasks, acts)
    confidence, reps = _check_confidence(confidence), _check_reps(reps)
    if isinstance(statistics, str) or not statistics or set(statistics) - set(AGGREGATES):
        raise ValueError(
            f"statistics must be a non-empty sequence of {AGGREGATES}; got {statistics!r}"
        )
    rows = []
    for a, act in enumerate(acts):
        xa = x[:, a, :]
        counts = _counts(xa)
        boot = stratified_resample(xa, reps, seed) if counts["n_seeds"] >= MIN_STRATUM else None
        for name in statistics:
            fn = _statistic(name, gamma)
            lo = hi = math.nan
            if boot is not None:
                lo, hi = (float(v) for v in _percentile(fn(boot), confidence))
            rows.append(
                {
                    "act": act,
                    "statistic": name,
                    "estimate": float(fn(xa)),
                    "lo": lo,
                    "hi": hi,
                    **counts,
                    "method": "percentile",
                }
            )
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def _profile(x: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """x: [..., tasks, seeds] -> [..., taus]: mean over tasks of the share of runs > tau."""
    n = (~np.isnan(x)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = [(x > tau).sum(axis=-1) / np.where(n > 0, n, np.nan) for tau in taus]
    return _nanmean(np.stack(shares, axis=-1).swapaxes(-1, -2))


def performance_profile(
    normalised,
    tasks: Sequence[str],
    acts: Sequence[str],
    taus=None,
    *,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Score distribution (rliable's performance profile) with stratified-bootstrap bands.

    normalised: [tasks, acts, seeds] from ``normalise``. taus: [taus] thresholds (default
    101 points on [0, 1]). fraction(tau) = the share of runs scoring > tau, averaged over
    tasks (each task weight 1 / tasks; with no run missing, the share of all runs).
    Returns one row per (act, tau) with columns (PROFILE_COLUMNS) act, tau, fraction,
    lo, hi (pointwise percentile band), n_tasks, n_seeds, n_runs.
    """
    x = _check_normalised(normalised, tasks, acts)
    confidence, reps = _check_confidence(confidence), _check_reps(reps)
    taus = np.linspace(0.0, 1.0, 101) if taus is None else np.asarray(taus, dtype=float)
    if taus.ndim != 1 or taus.size == 0 or not np.isfinite(taus).all():
        raise ValueError(f"taus must be a non-empty 1-D array of finite thresholds; got {taus!r}")
    frames = []
    for a, act in enumerate(acts):
        xa = x[:, a, :]
        counts = _counts(xa)
        lo = hi = np.full(taus.size, np.nan)
        if counts["n_seeds"] >= MIN_STRATUM:
            lo, hi = _percentile(_profile(stratified_resample(xa, reps, seed), taus), confidence)
        frame = pd.DataFrame(
            {"act": act, "tau": taus, "fraction": _profile(xa, taus), "lo": lo, "hi": hi}
        )
        frames.append(frame.assign(**counts))
    return pd.concat(frames, ignore_index=True)[list(PROFILE_COLUMNS)]


# --------------------------------------------------------------------------- P(A > B)


def _beats(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n_a, n_b] 1 where a_i > b_j, 1/2 where equal (two failure values too), else 0."""
    a, b = a[:, None], b[None, :]
    return (a > b) + 0.5 * (a == b)


def _resample_counts(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """[reps, n] how often each of n runs is drawn in each of reps resamples of size n."""
    idx = rng.integers(0, n, (reps, n)) + n * np.arange(reps)[:, None]
    return np.bincount(idx.ravel(), minlength=reps * n).reshape(reps, n)


def probability_of_improvement(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    larger_is_better: bool = True,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """P(A > B) for each pair of activations, rliable's definition, with stratified
    bootstrap percentile intervals.

    scores: [tasks, acts, seeds], raw or normalised (per task the statistic depends only on
    the order of the runs). On each task P_t = P(X > Y) + P(X = Y) / 2 over every pair of a
    run X of A and a run Y of B (the Mann–Whitney U / (n_a n_b)); P(A > B) = mean over tasks
    of P_t. Failed runs lose to every finite run and tie with each other. A task where
    either activation has no run is left out (n_tasks). Replicates resample A's and B's
    runs independently within each task (rliable's StratifiedIndependentBootstrap).
    Returns one row per pair, a before b in ``acts`` order (P(B > A) = 1 - P(A > B)), with
    columns (IMPROVEMENT_COLUMNS) a, b, p_improvement, lo, hi, n_tasks, method.
    """
    x = _oriented(scores, tasks, acts, larger_is_better)
    confidence, reps = _check_confidence(confidence), _check_reps(reps)
    rows = []
    for i, j in itertools.combinations(range(len(acts)), 2):
        rng = np.random.default_rng(seed)
        point, boot, enough = [], [], True
        for t in range(x.shape[0]):
            a, b = x[t, i][~np.isnan(x[t, i])], x[t, j][~np.isnan(x[t, j])]
            if a.size == 0 or b.size == 0:
                continue
            c = _beats(a, b)
            point.append(c.mean())
            enough &= min(a.size, b.size) >= MIN_STRATUM
            wa, wb = _resample_counts(rng, a.size, reps), _resample_counts(rng, b.size, reps)
            boot.append(np.einsum("ri,ij,rj->r", wa, c, wb) / (a.size * b.size))
        lo = hi = math.nan
        if point and enough:
            lo, hi = (float(v) for v in _percentile(np.mean(boot, axis=0), confidence))
        rows.append(
            {
                "a": acts[i],
                "b": acts[j],
                "p_improvement": float(np.mean(point)) if point else math.nan,
                "lo": lo,
                "hi": hi,
                "n_tasks": len(point),
                "method": "percentile",
            }
        )
    return pd.DataFrame(rows, columns=list(IMPROVEMENT_COLUMNS))


# --------------------------------------------------------------------------- rank tests


def task_centers(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    larger_is_better: bool = True,
    center: str = "median",
) -> np.ndarray:
    """Each activation's centre on each task, larger = better: [tasks, acts].

    The median (or mean) over the seeds present of the raw metric, negated where smaller is
    better, so failure values are -inf; NaN where the activation has no run on the task.
    """
    if center not in CENTERS:
        raise ValueError(f"center must be one of {CENTERS}; got {center!r}")
    x = _oriented(scores, tasks, acts, larger_is_better)
    if center == "mean":
        return _nanmean(x)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice: NaN is the answer
        return np.nanmedian(x, axis=-1)


def task_ranks(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    larger_is_better: bool = True,
    center: str = "median",
) -> np.ndarray:
    """Ranks of the activations within each task, 1 = best: [tasks, acts].

    Ranked on ``task_centers`` (ties share the average rank; a failed centre is worst). A
    task where some activation has no run is NaN throughout (rank tests need complete
    blocks).
    """
    c = task_centers(scores, tasks, acts, larger_is_better=larger_is_better, center=center)
    out = np.full(c.shape, np.nan)
    complete = ~np.isnan(c).any(axis=1)
    out[complete] = scipy.stats.rankdata(-c[complete], axis=1)
    return out


class Friedman(NamedTuple):
    chi2: float  # Friedman's statistic, tie-corrected as scipy.stats.friedmanchisquare
    p: float  # chi-square with k - 1 df
    f: float  # Iman–Davenport: (N - 1) chi2 / (N (k - 1) - chi2)
    p_f: float  # F with (k - 1, (k - 1)(N - 1)) df
    n_tasks: int  # N, complete tasks used
    n_acts: int  # k


def friedman(ranks) -> Friedman:
    """Friedman test on within-task ranks: ranks: [tasks, acts] (rows of NaN are dropped).

    chi2 = (12 / (N k (k + 1)) sum_j R_j^2 - 3 N (k + 1)) / C, R_j the rank sums and
    C = 1 - sum(t^3 - t) / (N k (k^2 - 1)) over groups of t tied ranks (C = 1 without ties:
    Demšar's formula). Every task tied throughout: chi2 = 0, p = 1.
    """
    r = np.asarray(ranks, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"ranks must be 2-D [tasks, acts]; got shape {r.shape}")
    r = r[~np.isnan(r).any(axis=1)]
    n, k = r.shape
    if n < 2 or k < 2:
        raise ValueError(
            f"the Friedman test needs at least 2 complete tasks and 2 acts; got {n} complete "
            f"tasks and {k} acts"
        )
    ties = sum(
        float((t**3 - t).sum()) for t in (np.unique(row, return_counts=True)[1] for row in r)
    )
    c = 1.0 - ties / (n * k * (k * k - 1))
    if c <= 0:
        return Friedman(0.0, 1.0, 0.0, 1.0, n, k)
    chi2 = (12.0 / (n * k * (k + 1)) * float((r.sum(axis=0) ** 2).sum()) - 3 * n * (k + 1)) / c
    chi2 = max(chi2, 0.0)  # rounding below an exact 0
    denom = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_f = float(scipy.stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if denom > 0 else 0.0
    return Friedman(chi2, float(scipy.stats.chi2.sf(chi2, k - 1)), f, p_f, n, k)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """q_alpha of the Nemenyi test: studentized range (k, inf df) quantile / sqrt(2)."""
    if int(k) != k or k < 2:
        raise ValueError(f"k (the number of acts) must be an integer >= 2; got {k!r}")
    _check_confidence(1 - alpha)
    return float(scipy.stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_cd(k: int, n_tasks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: q_alpha sqrt(k (k + 1) / (6 N))."""
    if int(n_tasks) != n_tasks or n_tasks < 1:
        raise ValueError(f"n_tasks must be a positive integer; got {n_tasks!r}")
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n_tasks))


class RankTest(NamedTuple):
    ranks: pd.Series  # [acts] average rank over complete tasks, 1 = best, index acts
    friedman: Friedman
    cd: float  # Nemenyi critical difference at alpha
    alpha: float
    center: str  # what was ranked within each task: "median" or "mean" over seeds
    posthoc: pd.DataFrame  # POSTHOC_COLUMNS, one row per pair


def rank_test(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    larger_is_better: bool = True,
    center: str = "median",
    alpha: float = 0.05,
) -> RankTest:
    """Average ranks, Friedman / Iman–Davenport, and two post-hoc tests (Demšar 2006).

    scores: [tasks, acts, seeds] raw metric. Tasks where some act has no run are dropped
    (``friedman.n_tasks`` counts those kept).
    posthoc has one row per pair (a before b in ``acts`` order): rank_a, rank_b, rank_diff
    = rank_a - rank_b (negative: a ranks better), nemenyi_p (studentized range of
    sqrt(2) |rank_diff| / sqrt(k (k + 1) / (6 N))), nemenyi_different (|rank_diff| >= cd,
    the same as nemenyi_p <= alpha), and wilcoxon_p, wilcoxon_p_holm: the signed-rank test
    over tasks of the paired task centres (``actlab.stats.pairwise``, zsplit, exact where
    it can be), Holm-corrected over all pairs; n_tasks.
    """
    r = task_ranks(scores, tasks, acts, larger_is_better=larger_is_better, center=center)
    fr = friedman(r)
    k, n = fr.n_acts, fr.n_tasks
    mean_rank = np.nanmean(r, axis=0)
    cd = nemenyi_cd(k, n, alpha)
    se = math.sqrt(k * (k + 1) / (6 * n))
    c = task_centers(scores, tasks, acts, larger_is_better=larger_is_better, center=center)
    c = c[~np.isnan(c).any(axis=1)]
    wil = stats.pairwise(c.T, list(acts), paired=True, test="wilcoxon")
    rows = []
    for row, (i, j) in zip(wil.itertuples(), itertools.combinations(range(k), 2), strict=True):
        diff = float(mean_rank[i] - mean_rank[j])
        q = math.sqrt(2) * abs(diff) / se
        rows.append(
            {
                "a": acts[i],
                "b": acts[j],
                "rank_a": float(mean_rank[i]),
                "rank_b": float(mean_rank[j]),
                "rank_diff": diff,
                "nemenyi_p": float(scipy.stats.studentized_range.sf(q, k, np.inf)) if q else 1.0,
                "nemenyi_different": bool(abs(diff) >= cd),
                "wilcoxon_p": float(row.p),
                "wilcoxon_p_holm": float(row.p_holm),
                "n_tasks": n,
            }
        )
    return RankTest(
        ranks=pd.Series(mean_rank, index=list(acts), name="rank"),
        friedman=fr,
        cd=cd,
        alpha=float(alpha),
        center=center,
        posthoc=pd.DataFrame(rows, columns=list(POSTHOC_COLUMNS)),
    )


def _heaviside(x: np.ndarray, at: float) -> np.ndarray:
    return (x > at) + 0.5 * (x == at)


def bayesian_signed_rank(
    scores,
    tasks: Sequence[str],
    acts: Sequence[str],
    *,
    rope: float = 0.0,
    larger_is_better: bool = True,
    center: str = "median",
    prior: float = 0.5,
    samples: int = 50_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Bayesian signed-rank test over tasks (Benavoli et al. 2014, as baycomp's
    ``SignedRankTest``) for each pair of activations, with a region of practical
    equivalence.

    scores: [tasks, acts, seeds] raw metric; each task contributes the difference of the
    pair's ``task_centers`` d = a - b, oriented so that d > 0 means a is better (for a loss,
    d = loss_b - loss_a; two failed centres tie, d = 0). A Dirichlet process with a
    pseudo-observation d = 0 of weight ``prior``: each of ``samples`` posterior draws
    w ~ Dirichlet(prior, 1, ..., 1) gives the mass sum_ij w_i w_j of Walsh averages
    (d_i + d_j) / 2 above rope, below -rope (ties at ±rope count 1/2) and inside it (for
    +inf + -inf: 0, a tie). p_left, p_rope, p_right = the share of draws in which "a better
    by more than rope", "equivalent", "b better" holds the most mass (baycomp's
    ``probs``: x = a is "left", for larger-is-better scores), except that a draw whose
    largest masses tie counts equally to each (baycomp gives it to "left": two identical
    activations at rope = 0 would read p_left = 1). With rope = 0, p_rope = 0.
    Tasks where either act has no run are dropped (n_tasks).
    Returns one row per pair (a before b in ``acts`` order): BAYES_COLUMNS.
    """
    rope, prior = float(rope), float(prior)
    if not (math.isfinite(rope) and rope >= 0):
        raise ValueError(f"rope must be a finite number >= 0 (a half-width); got {rope!r}")
    if not (math.isfinite(prior) and prior > 0):
        raise ValueError(f"prior must be a positive pseudo-count; got {prior!r}")
    samples = _check_reps(samples)
    c = task_centers(scores, tasks, acts, larger_is_better=larger_is_better, center=center)
    rows = []
    for i, j in itertools.combinations(range(len(acts)), 2):
        both = ~(np.isnan(c[:, i]) | np.isnan(c[:, j]))
        d = np.concatenate(([0.0], stats._paired_diff(c[both, i], c[both, j])))
        with np.errstate(invalid="ignore"):
            sums = d[:, None] + d[None, :]
        sums = np.where(np.isnan(sums), 0.0, sums)  # +inf + -inf: the extremes tie
        weights = np.r_[prior, np.ones(both.sum())]
        w = np.random.default_rng(seed).dirichlet(weights, samples)  # [samples, tasks + 1]
        left = np.einsum("si,ij,sj->s", w, _heaviside(sums, 2 * rope), w)
        right = np.einsum("si,ij,sj->s", w, _heaviside(-sums, 2 * rope), w)
        m = np.stack([left, 1.0 - left - right, right], axis=1)
        top = np.isclose(m, m.max(axis=1, keepdims=True), rtol=0.0, atol=1e-12)
        # a draw whose masses tie (identical acts at rope 0) counts equally to each
        p_left, p_rope, p_right = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
        rows.append(
            {
                "a": acts[i],
                "b": acts[j],
                "p_left": p_left,
                "p_rope": p_rope,
                "p_right": p_right,
                "rope": rope,
                "n_tasks": int(both.sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(BAYES_COLUMNS))


def _cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs [i, j] of sorted ranks with ranks[j] - ranks[i] < cd, of 2+ members."""
    out = []
    for i in range(len(ranks)):
        j = int(np.searchsorted(ranks, ranks[i] + cd, side="left")) - 1
        if j > i and (not out or j > out[-1][1]):
            out.append((i, j))
    return out


def cd_diagram(ranks: pd.Series | Mapping[str, float], cd: float, ax: Axes | None = None) -> Figure:
    """Critical-difference diagram: acts placed on an average-rank axis (1 = best, left),
    a bar of length cd for scale, and thick bars joining the acts whose ranks differ by
    less than cd (not significantly different under Nemenyi).

    ranks: [acts] average ranks, e.g. ``rank_test(...).ranks``. Returns the Figure drawn
    on (a new one when ax is None).
    """
    r = pd.Series(ranks, dtype=float).sort_values(kind="stable")
    if r.empty or not np.isfinite(r.to_numpy()).all():
        raise ValueError(f"ranks must be a non-empty set of finite average ranks; got {ranks!r}")
    if not (math.isfinite(cd) and cd > 0):
        raise ValueError(f"cd must be a positive finite number; got {cd!r}")
    k, lo = len(r), 1
    hi = max(k, math.ceil(r.max()))
    chars = max(len(f"{name} (0.00)") for name in r.index)
    if ax is None:
        fig = Figure(figsize=(3.0 + 0.15 * chars, 1.0 + 0.25 * k), layout="constrained")
        ax = fig.add_subplot()
    # room for the names on both sides of the rank axis, in rank units (~0.075 in a char)
    width = ax.figure.get_figwidth() * ax.get_position().width
    frac = min(0.45, 0.075 * chars / width + 0.02)
    pad = frac * (hi - lo) / (1 - 2 * frac)
    ax.set_xlim(lo - pad, hi + pad)
    half = math.ceil(k / 2)
    bottom = -0.5 * (half + 1)  # a row below the lowest name: the CD scale bar
    ax.set_ylim(bottom - 0.3, 1.0)
    ax.spines["top"].set_bounds(lo, hi)
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.set_xticks(range(lo, hi + 1))
    ax.set_yticks([])
    ax.set_xlabel("average rank (1 = best)")
    ax.plot([lo, lo + cd], [bottom, bottom], color="black", lw=1.5)
    ax.text(lo + cd / 2, bottom + 0.05, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    for n, (name, rank) in enumerate(r.items()):
        left = n < half  # the better half is labelled on the left, the rest on the right
        depth = -0.5 * ((n if left else k - 1 - n) + 1)
        end = lo - 0.1 * pad if left else hi + 0.1 * pad
        ax.plot([rank, rank, end], [1.0, depth, depth], color="black", lw=0.8)
        label = f"{name} ({rank:.2f})"
        ax.text(end, depth, label, ha="right" if left else "left", va="center", fontsize=9)
    for m, (i, j) in enumerate(_cliques(r.to_numpy(), cd)):
        y = 0.8 - 0.15 * m
        ax.plot([r.iloc[i] - 0.05, r.iloc[j] + 0.05], [y, y], color="black", lw=3)
    return ax.figure
