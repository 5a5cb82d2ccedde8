"""Where seed-to-seed spread comes from: the initialisation, the data order, or neither alone.

A seed drives two random streams (``actlab.train.Keys``): ``init`` (the initial weights) and
``data`` (the order of the minibatches). ``Study(hold=("init",))`` gives every seed seed 0's
init stream, so only the data order varies; ``hold=("data",)`` holds the data order, so only
the init varies. Three designs of the same study, each over its own seeds, give

    full       (nothing held):  V_full = s2_init + s2_data + s2_inter
    init_held  (data varies):   V_init_held = s2_data + s2_inter
    data_held  (init varies):   V_data_held = s2_init + s2_inter

for the final metric y = mu + a(init) + b(data) + e(init x data), with independent
components of variances s2_init, s2_data and s2_inter (the interaction: what neither stream
explains alone, since the training is deterministic given both). The method-of-moments
estimates are

    s2_init = V_full - V_init_held,  s2_data = V_full - V_data_held,
    s2_inter = V_init_held + V_data_held - V_full,

which can fall below 0 by chance (reported as they are, never clipped: a clipped estimate
is biased). The held designs condition on one init (or one data order), seed 0's; their
spread is about that one, so a design with a held stream answers a narrower question: fewer
seeds for a difference measured at *that* init or data order, not across them.

Intervals: each design's variance gets the chi-square interval (exact for normal data,
``(n - 1) s^2 / chi2``), the components a percentile bootstrap that resamples the seeds of
each design and group independently. Variances are pooled over ``groups`` (e.g. the
activations of a task): ``sum((n_g - 1) s_g^2) / sum(n_g - 1)``, the chi-square interval on
``sum(n_g - 1)`` degrees of freedom.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.stats

from actlab import stats

DESIGNS = ("full", "init_held", "data_held")
HOLDS = {"full": (), "init_held": ("init",), "data_held": ("data",)}  # Study(hold=...)
VARIES = {"full": "init and data order", "init_held": "data order", "data_held": "init"}
COMPONENTS = ("init", "data order", "interaction", "total")
DESIGN_COLUMNS = ("design", "varies", "n", "df", "sd", "variance", "lo", "hi", "share")
COMPONENT_COLUMNS = ("component", "variance", "lo", "hi", "share")
POWER_COLUMNS = ("design", "varies", "sd", "delta", "seeds_needed", "alpha", "power")


class Designs(NamedTuple):
    """The final metric under each design, ``[groups, seeds]`` each (NaN = missing; the
    designs may have different seed counts)."""

    full: np.ndarray
    init_held: np.ndarray
    data_held: np.ndarray


def _check(designs: Designs) -> Designs:
    out = []
    for name, x in zip(DESIGNS, designs, strict=True):
        x = np.asarray(x, dtype=float)
        x = x[None] if x.ndim == 1 else x
        if x.ndim != 2:
            raise ValueError(f"{name} must be [groups, seeds] or [seeds]; got shape {x.shape}")
        if np.isinf(x).any():
            raise ValueError(
                f"{name} holds ±inf: variance components need finite values (NaN = missing); "
                "leave failed runs out (outcome rule 'exclude') and report their count"
            )
        out.append(x)
    if len({x.shape[0] for x in out}) != 1:
        shapes = ", ".join(f"{n} {x.shape}" for n, x in zip(DESIGNS, out))
        raise ValueError(f"the designs must have the same groups (first axis); got {shapes}")
    return Designs(*out)


def pooled(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled within-group variance and its degrees of freedom.

    x: [..., groups, seeds] (NaN = missing) -> (variance [...], df [...]); groups with
    fewer than 2 runs add nothing; NaN where no group has 2.
    """
    x = np.asarray(x, dtype=float)
    n = (~np.isnan(x)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=-1, keepdims=True) / n[..., None]
        ss = np.nansum((x - mean) ** 2, axis=-1)
    df = np.where(n >= 2, n - 1, 0).sum(axis=-1)
    ss = np.where(n >= 2, ss, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(df > 0, ss / np.where(df > 0, df, 1), np.nan), df


def chi2_interval(variance: float, df: int, confidence: float = 0.95) -> tuple[float, float]:
    """The chi-square interval of a variance with ``df`` degrees of freedom (normal data)."""
    if not df > 0 or not math.isfinite(variance):
        return math.nan, math.nan
    a = (1 - confidence) / 2
    return (
        df * variance / scipy.stats.chi2.ppf(1 - a, df),
        df * variance / scipy.stats.chi2.ppf(a, df),
    )


def _components(v_full, v_init_held, v_data_held) -> np.ndarray:
    """[..., 4]: init, data order, interaction, total (method of moments, unclipped)."""
    return np.stack(
        [
            v_full - v_init_held,
            v_full - v_data_held,
            v_init_held + v_data_held - v_full,
            v_full,
        ],
        axis=-1,
    )


def _resample(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """[groups, seeds] -> [reps, groups, seeds]: each group's runs drawn with replacement
    from its own runs (NaN padded where a group has fewer)."""
    out = np.full((reps, *x.shape), np.nan)
    for g, row in enumerate(x):
        runs = row[~np.isnan(row)]
        if runs.size:
            out[:, g, : runs.size] = runs[rng.integers(0, runs.size, (reps, runs.size))]
    return out


def design_table(designs: Designs, confidence: float = 0.95) -> pd.DataFrame:
    """One row per design (DESIGN_COLUMNS): what varies, runs n, pooled df, sd, variance
    with its chi-square interval [lo, hi], and its share of the full design's variance."""
    d = _check(designs)
    rows = []
    v_full = float(pooled(d.full)[0])
    for name, x in zip(DESIGNS, d):
        v, df = (float(a) for a in pooled(x))
        lo, hi = chi2_interval(v, int(df), confidence)
        rows.append(
            {
                "design": name,
                "varies": VARIES[name],
                "n": int((~np.isnan(x)).sum()),
                "df": int(df),
                "sd": math.sqrt(v) if v >= 0 else math.nan,
                "variance": v,
                "lo": lo,
                "hi": hi,
                "share": v / v_full if v_full > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(DESIGN_COLUMNS))


def variance_components(
    designs: Designs, *, confidence: float = 0.95, reps: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Variance components of the final metric from the three designs (module docstring).

    designs: ``Designs(full, init_held, data_held)``, each ``[groups, seeds]`` (or
    ``[seeds]``), variances pooled over groups.
    Returns one row per component (COMPONENT_COLUMNS): init, data order, interaction, total
    (= the full design's variance); variance (method of moments, may be < 0 by chance),
    lo, hi (percentile bootstrap over ``reps`` resamples of every design's seeds within
    groups, ``seed`` fixed), share = variance / total.
    """
    d = _check(designs)
    point = _components(*(pooled(x)[0] for x in d))
    rng = np.random.default_rng(seed)
    boot = _components(*(pooled(_resample(x, reps, rng))[0] for x in d))  # [reps, 4]
    a = 100 * (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(boot, [a, 100 - a], axis=0)
    total = point[-1]
    return pd.DataFrame(
        {
            "component": COMPONENTS,
            "variance": point,
            "lo": lo,
            "hi": hi,
            "share": point / total if total > 0 else np.full(4, np.nan),
        },
        columns=list(COMPONENT_COLUMNS),
    )


def power_table(
    designs: Designs, delta: float, *, alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """Seeds per activation needed to detect a difference ``delta`` in the metric between two
    activations under each design (POWER_COLUMNS): a two-sided two-sample t-test at
    ``alpha`` with the design's pooled sd (``actlab.stats.seeds_needed``, unpaired; pairing
    seeds across activations can only need fewer where their runs correlate)."""
    rows = []
    for name, x in zip(DESIGNS, _check(designs)):
        v = float(pooled(x)[0])
        sd = math.sqrt(v) if v > 0 else math.nan
        n = math.nan
        if math.isfinite(sd):
            try:
                n = stats.seeds_needed(sd, delta, alpha=alpha, power=power, paired=False)
            except ValueError:  # more seeds than max_n
                n = math.inf
        rows.append(
            {
                "design": name,
                "varies": VARIES[name],
                "sd": sd,
                "delta": float(delta),
                "seeds_needed": n,
                "alpha": alpha,
                "power": power,
            }
        )
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))
