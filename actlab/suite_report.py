"""A suite's statistics and its report: ``suite.md``, plots and ``tidy.parquet`` in ``OUT/``.

``analyse(suite, scores, held)`` applies the outcome rule, normalises per task and computes
every table with ``actlab.aggregate`` (and ``actlab.variance`` for the held designs);
``write(analysis, out)`` renders them. Both are pure functions of the per-seed finals, so a
report can be rebuilt from ``tidy.parquet`` (``from_tidy``) without the run folders.

Verdicts are three-valued, as in REPRODUCTION.md: "A ahead of B across tasks" when the 95 %
stratified-bootstrap CI of P(A > B) lies above 1/2, "B ahead" when it lies below, else
"inconclusive". P(A > B) is the chance that a run of A beats a run of B on a task drawn
from the suite (every seed counts), so a verdict speaks of these tasks, not of every task.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from actlab import aggregate, outcome, plots, results, stats, variance
from actlab.markdown import fmt, fmt_ci, md_table

if TYPE_CHECKING:  # suite.py runs the tasks and imports this module
    from actlab.suite import Suite

AHEAD, BEHIND, UNSURE = "ahead", "behind", "inconclusive"
TIDY_COLUMNS = (
    "task",
    "dataset",
    "classes",
    "design",
    "act",
    "seed",
    "metric",
    "value",
    "diverged",
    "score",
    "normalised",
)
EFFECT_COLUMNS = (
    "task",
    "act",
    "reference",
    "estimate",
    "lo",
    "hi",
    "p",
    "p_holm",
    "n",
)


def floor(metric: str, classes: int | None) -> float:
    """The score of a useless model on ``metric``: chance accuracy ``1 / classes``, its
    error ``1 - 1 / classes``, ``ln(classes)`` for a loss (a uniform guess's
    cross-entropy). ValueError for other metrics: use ``normalisation="rank"``."""
    if classes:
        if metric in outcome.ACCURACY:
            return 1.0 / classes
        if metric in outcome.ERROR:
            return 1.0 - 1.0 / classes
        if metric in outcome.LOSS:
            return math.log(classes)
    raise ValueError(
        f"no chance level is declared for {metric!r} with classes={classes!r} (only "
        f"accuracies, errors and losses of a classifier); use normalisation='rank'"
    )


class Scores(NamedTuple):
    """Per-seed final values of a suite's runs: ``values``, ``diverged``: [tasks, acts, seeds]
    (values as traced, NaN where a task has fewer seeds); ``classes``: [tasks]."""

    tasks: tuple[str, ...]
    acts: tuple[str, ...]
    datasets: tuple[str, ...]
    metric: str
    values: np.ndarray
    diverged: np.ndarray
    classes: tuple[int | None, ...]

    def under(self, rule: str | None, goals: dict | None = None) -> np.ndarray:
        """[tasks, acts, seeds] with each diverged run's value set by ``rule``."""
        out = np.array(self.values, dtype=float)
        for t, classes in enumerate(self.classes):
            out[t] = outcome.apply(
                self.values[t], self.diverged[t], self.metric, classes, rule, goals=goals
            )
        return out


class Analysis(NamedTuple):
    """Everything ``suite.md`` states. Arrays [tasks, acts, seeds]; tables as named."""

    suite: Suite
    scores: Scores
    outcome: np.ndarray  # the metric under the rule
    floors: np.ndarray  # [tasks] the normalisation's floor (NaN for "rank")
    normalised: np.ndarray
    aggregates: pd.DataFrame  # aggregate.INTERVAL_COLUMNS
    profile: pd.DataFrame  # aggregate.PROFILE_COLUMNS
    improvement: pd.DataFrame  # aggregate.IMPROVEMENT_COLUMNS
    ranks: aggregate.RankTest
    bayes: pd.DataFrame  # aggregate.BAYES_COLUMNS
    effects: pd.DataFrame  # EFFECT_COLUMNS: each act - reference, per task
    reference: str
    held: dict  # design -> Scores of the tasks in suite.variance
    variance: pd.DataFrame | None  # per task: the components (variance.COMPONENT_COLUMNS)
    designs: pd.DataFrame | None  # per task: variance.DESIGN_COLUMNS
    power: pd.DataFrame | None  # per task: variance.POWER_COLUMNS


def larger_is_better(metric: str, goals: dict | None = None) -> bool:
    g = outcome.goal(metric, goals)
    if g is None:
        raise ValueError(f"{metric!r} has no declared goal (max or min); declare it in goals")
    return g == "max"


def analyse(suite: Suite, scores: Scores, held: dict | None = None) -> Analysis:
    """The statistics of ``scores`` (the tasks' own runs) and, where given, ``held``
    (``{"init_held": Scores, "data_held": Scores}`` of the tasks in ``suite.variance``)."""
    tasks, acts, metric = scores.tasks, scores.acts, scores.metric
    lib = larger_is_better(metric)
    x = scores.under(suite.diverged_as)
    kw = {"confidence": suite.confidence, "reps": suite.reps, "seed": suite.seed}
    if suite.normalisation == "minmax":
        floors = np.array([floor(metric, c) for c in scores.classes])
        norm = aggregate.normalise(x, tasks, acts, "minmax", larger_is_better=lib, floor=floors)
    else:
        floors = np.full(len(tasks), np.nan)
        norm = aggregate.normalise(x, tasks, acts, "rank", larger_is_better=lib)
    reference = suite.reference or acts[-1]
    two = len(tasks) >= 2
    return Analysis(
        suite=suite,
        scores=scores,
        outcome=x,
        floors=floors,
        normalised=norm,
        aggregates=aggregate.aggregates(norm, tasks, acts, **kw),
        profile=aggregate.performance_profile(norm, tasks, acts, **kw),
        improvement=aggregate.probability_of_improvement(
            x, tasks, acts, larger_is_better=lib, **kw
        ),
        ranks=aggregate.rank_test(x, tasks, acts, larger_is_better=lib) if two else None,
        bayes=aggregate.bayesian_signed_rank(
            x, tasks, acts, rope=suite.rope, larger_is_better=lib, seed=suite.seed
        ),
        effects=effects(x, tasks, acts, reference, confidence=suite.confidence),
        reference=reference,
        held=held or {},
        **_variance(suite, scores, held),
    )


def effects(x: np.ndarray, tasks, acts, reference: str, *, confidence: float = 0.95):
    """Each activation against ``reference`` on each task (EFFECT_COLUMNS): the
    Hodges–Lehmann shift of act - reference over paired seeds (seed i of both has the same
    random streams), the CI that inverts the paired Wilcoxon test, its p, and p_holm
    corrected over every (task, act) row."""
    r = list(acts).index(reference)
    rows = []
    for t, task in enumerate(tasks):
        for a, act in enumerate(acts):
            if a == r:
                continue
            row = stats.pairwise(x[t, [a, r]], [act, reference], confidence=confidence)
            row = row.iloc[0]
            rows.append(
                {
                    "task": task,
                    "act": act,
                    "reference": reference,
                    "estimate": row["estimate"],
                    "lo": row["estimate_ci_low"],
                    "hi": row["estimate_ci_high"],
                    "p": row["p"],
                    "p_holm": math.nan,
                    "n": int(row["n"]),
                }
            )
    table = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
    if len(table):
        table["p_holm"] = stats.holm(table["p"].to_numpy(dtype=float))
    return table


def _variance(suite: Suite, scores: Scores, held: dict | None) -> dict:
    none = {"variance": None, "designs": None, "power": None}
    if not held:
        return none
    comps, designs, power = [], [], []
    for name in suite.variance:
        t = scores.tasks.index(name)
        per = [scores.under("exclude")[t]]
        for design in variance.DESIGNS[1:]:
            h = held[design]
            per.append(h.under("exclude")[h.tasks.index(name)])
        d = variance.Designs(*per)
        kw = {"confidence": suite.confidence, "reps": suite.reps, "seed": suite.seed}
        comps.append(variance.variance_components(d, **kw).assign(task=name))
        designs.append(variance.design_table(d, suite.confidence).assign(task=name))
        power.append(variance.power_table(d, suite.delta).assign(task=name))
    first = lambda df: df[["task", *df.columns[:-1]]]  # noqa: E731
    return {
        "variance": first(pd.concat(comps, ignore_index=True)),
        "designs": first(pd.concat(designs, ignore_index=True)),
        "power": first(pd.concat(power, ignore_index=True)),
    }


# ----------------------------------------------------------------------------- verdicts


def direction(lo: float, hi: float) -> str:
    """ "ahead" when a CI of P(A > B) lies above 1/2, "behind" below, else "inconclusive"."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return UNSURE
    return AHEAD if lo > 0.5 else BEHIND if hi < 0.5 else UNSURE


def p_of(improvement: pd.DataFrame, a: str, b: str) -> tuple[float, float, float]:
    """(P(A > B), lo, hi) from ``probability_of_improvement``'s table, either order."""
    row = improvement[(improvement["a"] == a) & (improvement["b"] == b)]
    if len(row):
        r = row.iloc[0]
        return float(r["p_improvement"]), float(r["lo"]), float(r["hi"])
    r = improvement[(improvement["a"] == b) & (improvement["b"] == a)].iloc[0]
    return 1 - float(r["p_improvement"]), 1 - float(r["hi"]), 1 - float(r["lo"])


class Claim(NamedTuple):
    claim: str
    evidence: str
    verdict: str  # agree, contradicted, inconclusive
    rule: str


def claims(an: Analysis) -> list[Claim]:
    """Each adjacent pair of ``suite.order`` ("A < B"), and "the last beats every other":
    agree when every CI of P(better > worse) lies above 1/2, contradicted when one lies
    below, inconclusive otherwise."""
    order = list(an.suite.order or ())
    out = []
    for lo_act, hi_act in zip(order, order[1:]):
        p, lo, hi = p_of(an.improvement, hi_act, lo_act)
        d = direction(lo, hi)
        word = {AHEAD: "agree", BEHIND: "contradicted", UNSURE: "inconclusive"}[d]
        out.append(
            Claim(
                f"{lo_act} < {hi_act}",
                f"P({hi_act} > {lo_act}) = {p:.3f} {fmt_ci(lo, hi, '.3f')}",
                word,
                _rule(d),
            )
        )
    if order:
        best = order[-1]
        rest = [a for a in an.scores.acts if a != best]
        ps = [(a, *p_of(an.improvement, best, a)) for a in rest]
        dirs = [direction(lo, hi) for _, _, lo, hi in ps]
        word = (
            "contradicted"
            if BEHIND in dirs
            else "agree"
            if all(d == AHEAD for d in dirs)
            else "inconclusive"
        )
        ev = "; ".join(f"P({best} > {a}) = {p:.3f} {fmt_ci(lo, hi, '.3f')}" for a, p, lo, hi in ps)
        rule = (
            "every CI above 1/2"
            if word == "agree"
            else "a CI below 1/2"
            if word == "contradicted"
            else "some CI holds 1/2"
        )
        out.append(Claim(f"{best} beats every other activation", ev, word, rule))
    return out


def _rule(d: str) -> str:
    return {AHEAD: "CI above 1/2", BEHIND: "CI below 1/2", UNSURE: "CI holds 1/2"}[d]


# ----------------------------------------------------------------------------- markdown


def _pct(metric: str) -> bool:
    return metric in outcome.ACCURACY or metric in outcome.ERROR


def _value(metric: str, v: float) -> str:
    return f"{100 * v:.2f} %" if _pct(metric) else fmt(v, ".4g")


def _normalisation_text(an: Analysis) -> str:
    if an.suite.normalisation == "rank":
        return (
            "per task, each run's rank among all the task's runs (every activation and seed), "
            "scaled to [0, 1]: 0 the worst run, 1 the best"
        )
    return (
        f"per task, min–max between the score of a useless model (chance: "
        f"{'1 / classes' if an.scores.metric in outcome.ACCURACY else 'see actlab.suite.floor'}) "
        "at 0 and the task's best run at 1 (runs at or below chance score 0); so the scale "
        "depends on which activations are compared"
    )


def tasks_md(an: Analysis) -> str:
    """The tasks: dataset, classes, floor, best run, seeds, diverged runs."""
    s = an.scores
    rows = []
    for t, task in enumerate(s.tasks):
        x = an.outcome[t]
        seeds = int((~np.isnan(x)).sum(axis=1).min())
        rows.append(
            {
                "task": task,
                "dataset": s.datasets[t],
                "classes": s.classes[t],
                "floor": fmt(an.floors[t], ".3f"),
                "best run": _value(s.metric, float(np.nanmax(x))),
                "seeds": seeds,
                "diverged": int(s.diverged[t].sum()),
            }
        )
    return md_table(pd.DataFrame(rows))


def aggregates_md(an: Analysis) -> str:
    """Mean, median, IQM and optimality gap of the normalised score, with CIs, per act."""
    t = an.aggregates
    rows = []
    for act in an.scores.acts:
        r = t[t["act"] == act].set_index("statistic")
        cell = lambda s, r=r: (
            f"{r.loc[s, 'estimate']:.3f} {fmt_ci(r.loc[s, 'lo'], r.loc[s, 'hi'], '.3f')}"
        )  # noqa: E731
        rows.append(
            {
                "activation": act,
                "mean": cell("mean"),
                "median": cell("median"),
                "IQM": cell("iqm"),
                "optimality gap": cell("optimality_gap"),
                "runs": int(r["n_runs"].iloc[0]),
            }
        )
    return md_table(pd.DataFrame(rows))


def improvement_md(an: Analysis) -> str:
    """P(row > column) with CIs; ▲ / ▼ where the CI excludes 1/2."""
    acts = an.scores.acts
    rows = []
    for a in acts:
        row = {"P(row > column)": a}
        for b in acts:
            if a == b:
                row[b] = "–"
                continue
            p, lo, hi = p_of(an.improvement, a, b)
            mark = {AHEAD: " ▲", BEHIND: " ▼", UNSURE: ""}[direction(lo, hi)]
            row[b] = f"{p:.2f} {fmt_ci(lo, hi, '.2f')}{mark}"
        rows.append(row)
    return md_table(pd.DataFrame(rows))


def ranks_md(an: Analysis) -> list[str]:
    """Average ranks, Friedman / Iman–Davenport, Nemenyi CD and the post-hoc table."""
    rt = an.ranks
    if rt is None:
        return ["A rank test needs two tasks or more; this suite has one."]
    fr = rt.friedman
    ranks = ", ".join(f"{a} {r:.2f}" for a, r in rt.ranks.sort_values().items())
    diff = rt.posthoc[rt.posthoc["nemenyi_different"]]
    pairs = ", ".join(f"{r.a} vs {r.b}" for r in diff.itertuples()) or "none"
    verdict = (
        "the activations' ranks differ (Friedman p < 0.05)"
        if fr.p < rt.alpha
        else "no difference in ranks is shown (Friedman p ≥ 0.05)"
    )
    return [
        f"Average rank over {fr.n_tasks} tasks (1 = best; each task ranked on its median over "
        f"seeds): {ranks}.",
        "",
        f"Friedman chi² = {fr.chi2:.2f}, p = {fr.p:.3g} (Iman–Davenport F = {fmt(fr.f, '.2f')}, "
        f"p = {fr.p_f:.3g}): {verdict}. Nemenyi critical difference at α = {rt.alpha}: "
        f"{rt.cd:.2f} ranks; pairs farther apart than that: {pairs}. With "
        f"{fr.n_tasks} tasks a rank test has little power: two activations must swap places "
        "on almost every task to differ.",
        "",
        md_table(
            pd.DataFrame(
                {
                    "a": rt.posthoc["a"],
                    "b": rt.posthoc["b"],
                    "rank a − rank b": rt.posthoc["rank_diff"].map(lambda v: f"{v:+.2f}"),
                    "Nemenyi p": rt.posthoc["nemenyi_p"].map(lambda v: f"{v:.3g}"),
                    "Wilcoxon p (Holm)": rt.posthoc["wilcoxon_p_holm"].map(lambda v: f"{v:.3g}"),
                }
            )
        ),
    ]


def bayes_md(an: Analysis) -> str:
    """The Bayesian signed-rank test's (p_left, p_rope, p_right) per pair."""
    b = an.bayes
    return md_table(
        pd.DataFrame(
            {
                "a": b["a"],
                "b": b["b"],
                "P(a better)": b["p_left"].map(lambda v: f"{v:.3f}"),
                "P(equivalent)": b["p_rope"].map(lambda v: f"{v:.3f}"),
                "P(b better)": b["p_right"].map(lambda v: f"{v:.3f}"),
            }
        )
    )


def effects_md(an: Analysis) -> str:
    """Each act - reference per task: HL shift [CI] in points, * Holm p < 0.05."""
    e = an.effects
    scale = 100.0 if _pct(an.scores.metric) else 1.0
    unit = " points" if scale == 100.0 else ""
    table = e.pivot(index="act", columns="task", values="estimate").reindex(
        index=[a for a in an.scores.acts if a != an.reference], columns=list(an.scores.tasks)
    )
    rows = []
    for act in table.index:
        row = {f"act − {an.reference}{unit}": act}
        for task in table.columns:
            r = e[(e["act"] == act) & (e["task"] == task)].iloc[0]
            star = " *" if r["p_holm"] < 0.05 else ""
            row[task] = (
                f"{scale * r['estimate']:+.2f} {fmt_ci(scale * r['lo'], scale * r['hi'], '.2f')}"
                f"{star}"
            )
        rows.append(row)
    return md_table(pd.DataFrame(rows))


def variance_md(an: Analysis) -> list[str]:
    """The variance section: designs (sd, chi-square CI, seeds for delta), components."""
    if an.variance is None:
        return []
    s = an.suite
    scale = 100.0 if _pct(s.metric) else 1.0
    unit = "points" if scale == 100.0 else "units"
    sq = scale**2
    designs, comps = [], []
    for task in s.variance:
        d = an.designs[an.designs["task"] == task].set_index("design")
        p = an.power[an.power["task"] == task].set_index("design")
        for design in variance.DESIGNS:
            r = d.loc[design]
            n = p.loc[design, "seeds_needed"]
            designs.append(
                {
                    "task": task,
                    "design": design,
                    "varies": r["varies"],
                    "runs": int(r["n"]),
                    f"sd ({unit})": f"{scale * r['sd']:.3f} "
                    + fmt_ci(scale * math.sqrt(r["lo"]), scale * math.sqrt(r["hi"]), ".3f"),
                    "variance / full": fmt(r["share"], ".2f"),
                    f"seeds for Δ = {scale * s.delta:g}": fmt(float(n), ".0f"),
                }
            )
        c = an.variance[an.variance["task"] == task].set_index("component")
        for comp in variance.COMPONENTS:
            r = c.loc[comp]
            comps.append(
                {
                    "task": task,
                    "component": comp,
                    f"variance ({unit}²)": f"{sq * r['variance']:.4f} "
                    + fmt_ci(sq * r["lo"], sq * r["hi"], ".4f"),
                    "share of total": fmt(r["share"], ".2f"),
                }
            )
    return [
        "## Variance components",
        "",
        f"Tasks {', '.join(s.variance)} were also trained with the init stream held (every "
        "seed starts from seed 0's weights: only the data order varies) and with the data "
        "stream held (only the init varies), with the same seeds. Variances are pooled over "
        "the activations; diverged runs are left out. Intervals: chi-square for a design's "
        "sd (normal data), percentile bootstrap over seeds for the components "
        "(`actlab.variance`). Seeds for Δ: seeds per activation for 80 % power to detect a "
        f"difference of {scale * s.delta:g} {unit} (two-sided two-sample t-test at 0.05) "
        "with the design's sd.",
        "",
        md_table(pd.DataFrame(designs), "lllrrrr"),
        "",
        "Components (full = init + data order + interaction; init = full − init held, data "
        "order = full − data held; an estimate below 0 is chance around a small component, "
        "left unclipped):",
        "",
        md_table(pd.DataFrame(comps), "llrr"),
        "",
        "A held design needs fewer seeds only by answering a narrower question: a comparison "
        "at seed 0's init (or data order), not across inits.",
        "",
    ]


def markdown(an: Analysis, command: str | None = None, plots_: list[tuple[str, str]] = ()) -> str:
    """``suite.md``."""
    s, sc = an.suite, an.scores
    rule = outcome.describe(s.diverged_as, None)
    out = [
        f"# Suite {s.name}",
        "",
        s.question
        or f"Does one activation's standing among {', '.join(sc.acts)} hold across tasks?",
        "",
        f"Activations: {', '.join(sc.acts)}. Metric: final {sc.metric.replace('_', ' ')}. "
        f"Outcome rule: {rule}.",
        "",
        f"Normalisation: {_normalisation_text(an)}.",
        "",
    ]
    if command:
        out += [f"Command: `{command}`", ""]
    out += ["## Tasks", "", tasks_md(an), ""]
    verdicts = claims(an)
    if verdicts:
        out += [
            "## Verdicts",
            "",
            "Three-valued, from the 95 % stratified-bootstrap CI of P(A > B) across these "
            "tasks (every seed counts): **agree** when it lies on the claimed side of 1/2, "
            "**contradicted** on the other, **inconclusive** when it holds 1/2. The interval "
            "resamples seeds within each task, so it says how sure the suite is about these "
            "tasks under this protocol; whether another task would agree is what the rank "
            "test below asks, treating the tasks as a sample (with few tasks it has little "
            "power).",
            "",
            md_table(
                pd.DataFrame(
                    {
                        "claim": [c.claim for c in verdicts],
                        "evidence": [c.evidence for c in verdicts],
                        "verdict": [f"**{c.verdict}**: {c.rule}" for c in verdicts],
                    }
                ),
                "lll",
            ),
            "",
        ]
    out += [
        "## Aggregates across tasks",
        "",
        f"Normalised scores (0 = chance, 1 = the task's best run), point estimate and "
        f"{s.confidence:.0%} stratified-bootstrap percentile CI ({s.reps} replicates, seeds "
        "resampled within each task). Mean and median: over tasks of each task's mean; IQM: "
        "the 25 %-trimmed mean of all runs; optimality gap: mean shortfall below 1 (smaller "
        "is better).",
        "",
        aggregates_md(an),
        "",
        "## Probability of improvement",
        "",
        "P(row > column): the chance that a run of the row's activation beats one of the "
        "column's on a task of the suite (ties count 1/2), averaged over tasks, with its "
        "stratified-bootstrap CI; ▲ CI above 1/2, ▼ below.",
        "",
        improvement_md(an),
        "",
        "## Ranks",
        "",
        *ranks_md(an),
        "",
        f"Bayesian signed-rank test over tasks (region of practical equivalence ±{s.rope:g} in "
        "the metric; tasks are few, so the posterior stays wide):",
        "",
        bayes_md(an),
        "",
        "## Per-task effects",
        "",
        f"Each activation minus {an.reference} on each task: Hodges–Lehmann shift over paired "
        "seeds, with the CI that inverts the paired Wilcoxon test; * Holm p < 0.05 over the "
        "table's cells.",
        "",
        effects_md(an),
        "",
        *variance_md(an),
    ]
    if plots_:
        out += ["## Plots", ""]
        for name, caption in plots_:
            out += [f"![{name}]({name})", "", caption, ""]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- plots


def profile_figure(an: Analysis) -> Figure:
    """Performance profiles: the share of runs scoring above tau, per activation, with the
    stratified-bootstrap band."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    styles = plots._styles(len(an.scores.acts))
    for act, style in zip(an.scores.acts, styles):
        p = an.profile[an.profile["act"] == act]
        ax.plot(p["tau"], p["fraction"], label=act, **style)
        ax.fill_between(p["tau"], p["lo"], p["hi"], color=style["color"], alpha=0.2, lw=0)
    ax.set_xlabel("normalised score τ (0 = chance, 1 = the task's best run)")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(
        f"Performance profiles over {len(an.scores.tasks)} tasks (95 % bands)", fontsize="medium"
    )
    return fig


def heatmap_figure(an: Analysis) -> Figure:
    """Per-task effects against the reference: act - reference (HL shift), * Holm p < 0.05."""
    e = an.effects
    acts = [a for a in an.scores.acts if a != an.reference]
    tasks = list(an.scores.tasks)
    scale = 100.0 if _pct(an.scores.metric) else 1.0
    m = np.array(
        [[e[(e["act"] == a) & (e["task"] == t)]["estimate"].iloc[0] for t in tasks] for a in acts]
    )
    sig = np.array(
        [
            [e[(e["act"] == a) & (e["task"] == t)]["p_holm"].iloc[0] < 0.05 for t in tasks]
            for a in acts
        ]
    )
    m = scale * m
    fig = Figure(figsize=(1.6 + 1.5 * len(tasks), 1.4 + 0.6 * len(acts)), layout="constrained")
    ax = fig.add_subplot()
    lim = float(np.nanmax(np.abs(m[np.isfinite(m)]))) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(acts)):
        for j in range(len(tasks)):
            v = m[i, j]
            color = "white" if abs(v) > 0.6 * lim else "black"
            ax.text(
                j,
                i,
                f"{v:+.2f}{'*' if sig[i, j] else ''}",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    ax.set_xticks(range(len(tasks)), tasks, rotation=20, ha="right")
    ax.set_yticks(range(len(acts)), acts)
    unit = " (points)" if scale == 100.0 else ""
    fig.colorbar(im, ax=ax, label=f"act − {an.reference}{unit}")
    ax.set_title(
        f"{an.scores.metric.replace('_', ' ')}: each activation − {an.reference}\n"
        "Hodges–Lehmann shift over paired seeds; * Holm p < 0.05",
        fontsize="medium",
    )
    return fig


def strip_figure(an: Analysis, t: int) -> Figure:
    """Task ``t``'s per-seed scores (the metric under the rule), mean and t CI."""
    sc = an.scores
    scale = 100.0 if _pct(sc.metric) else 1.0
    v = scale * an.outcome[t]
    keep = ~np.isnan(v).all(axis=0)
    unit = " (%)" if scale == 100.0 else ""
    return plots.final_distribution(
        v[:, keep],
        list(sc.acts),
        ylabel=f"final {sc.metric.replace('_', ' ')}{unit}",
        diverged=sc.diverged[t][:, keep],
        title=f"{_task_label(sc, t)}, {int(keep.sum())} seeds",
    )


def _task_label(sc: Scores, t: int) -> str:
    """The task's name, with its dataset where that differs."""
    name, dataset = sc.tasks[t], sc.datasets[t]
    return name if name == dataset else f"{name} ({dataset})"


def figures(an: Analysis) -> list[tuple[str, str, callable]]:
    """(file, caption, make) of every plot."""
    out = [
        (
            "performance_profile.png",
            "Performance profiles: share of runs above each normalised score, with 95 % "
            "stratified-bootstrap bands.",
            lambda: profile_figure(an),
        ),
    ]
    if an.ranks is not None:
        out.append(
            (
                "cd_diagram.png",
                "Critical-difference diagram: average ranks over tasks; a bar joins "
                "activations closer than the Nemenyi critical difference.",
                lambda: aggregate.cd_diagram(an.ranks.ranks, an.ranks.cd),
            )
        )
    out.append(
        (
            "effects_heatmap.png",
            f"Per-task effects against {an.reference} (Hodges–Lehmann shift over paired seeds).",
            lambda: heatmap_figure(an),
        )
    )
    for t, task in enumerate(an.scores.tasks):
        out.append(
            (
                f"scores_{task}.png",
                f"{task}: every seed's final score (x: diverged, counted under the rule).",
                lambda t=t: strip_figure(an, t),
            )
        )
    return out


# ----------------------------------------------------------------------------- files


def tidy(an: Analysis) -> pd.DataFrame:
    """One row per task x design x act x seed (TIDY_COLUMNS): the raw final value, the
    diverged flag, the score under the rule and (own design only) the normalised score."""
    frames = [_tidy(an.scores, "full", an.suite.diverged_as, an.normalised)]
    for design, sc in an.held.items():
        frames.append(_tidy(sc, design, an.suite.diverged_as, None))
    return pd.concat(frames, ignore_index=True)[list(TIDY_COLUMNS)]


def _tidy(sc: Scores, design: str, rule: str, norm) -> pd.DataFrame:
    t, a, s = np.meshgrid(
        np.arange(len(sc.tasks)),
        np.arange(len(sc.acts)),
        np.arange(sc.values.shape[2]),
        indexing="ij",
    )
    present = ~np.isnan(sc.values)
    frame = pd.DataFrame(
        {
            "task": np.array(sc.tasks)[t[present]],
            "dataset": np.array(sc.datasets)[t[present]],
            "classes": np.array(sc.classes, dtype=float)[t[present]],
            "design": design,
            "act": np.array(sc.acts)[a[present]],
            "seed": s[present],
            "metric": sc.metric,
            "value": sc.values[present],
            "diverged": sc.diverged[present],
            "score": sc.under(rule)[present],
            "normalised": np.nan if norm is None else norm[present],
        }
    )
    return frame


def scores_from_tidy(table: pd.DataFrame, design: str = "full") -> Scores:
    """The ``Scores`` of ``design`` from a tidy table (``tidy``), in its order of appearance."""
    d = table[table["design"] == design]
    tasks = tuple(pd.unique(d["task"]))
    acts = tuple(pd.unique(d["act"]))
    seeds = int(d["seed"].max()) + 1
    values = np.full((len(tasks), len(acts), seeds), np.nan)
    diverged = np.zeros(values.shape, bool)
    ti = d["task"].map({k: i for i, k in enumerate(tasks)}).to_numpy()
    ai = d["act"].map({k: i for i, k in enumerate(acts)}).to_numpy()
    si = d["seed"].to_numpy(int)
    values[ti, ai, si] = d["value"].to_numpy(float)
    diverged[ti, ai, si] = d["diverged"].to_numpy(bool)
    first = d.groupby("task", sort=False).first().loc[list(tasks)]
    classes = tuple(None if np.isnan(c) else int(c) for c in first["classes"])
    metric = str(d["metric"].iloc[0])
    return Scores(tasks, acts, tuple(first["dataset"]), metric, values, diverged, classes)


def write(an: Analysis, out, *, command: str | None = None) -> Path:
    """``suite.md``, the plots, ``tidy.parquet`` and ``tidy.csv`` into ``out``; returns
    suite.md's path."""
    out = Path(out)
    made = []
    for name, caption, make in figures(an):
        plots.save(make(), out / name)
        made.append((name, caption))
    table = tidy(an)
    results.atomic_write(out / "tidy.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    results.atomic_write(
        out / "tidy.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.7g")
    )
    text = markdown(an, command, made)
    return results.atomic_write(out / "suite.md", lambda tmp: tmp.write_text(text))
