"""Rendering a report's tables as text: ``report.md`` (``markdown``), the terminal summary
(``console``) and the two-run comparison (``compare_markdown``), with the number formats
they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from actlab import outcome
from actlab.record import Record, Threshold
from actlab.tables import CONFIDENCE, config_differences, summary_table, tables, threshold_of

TEST_NAMES = {"wilcoxon": "Wilcoxon signed-rank", "ttest": "paired t", "permutation": "permutation"}


def md_table(df: pd.DataFrame, align: str | None = None) -> str:
    """A GitHub markdown table of ``df`` (cells with ``str``; ``align``: one ``l``/``r`` per
    column, default first column left, the others right)."""
    cols = [str(c) for c in df.columns]
    align = align or "l" + "r" * (len(cols) - 1)
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    lines = [
        "| " + " | ".join(cell(c) for c in cols) + " |",
        "| " + " | ".join("---:" if a == "r" else ":---" for a in align) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def fmt(x, spec: str = ".4f") -> str:
    """A number for a table: "–" for NaN, "∞" for inf."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return format(x, spec)


def fmt_ci(low, high, spec: str = ".4f") -> str:
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{fmt(low, spec)}, {fmt(high, spec)}]"


def _summary_md(t: pd.DataFrame, spec: str) -> str:
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "n": t["n"],
            "diverged": [f"{k}/{n}" for k, n in zip(t["n_diverged"], t["seeds"])],
            "mean": [fmt(v, spec) for v in t["mean"]],
            "95% CI": [fmt_ci(lo, hi, spec) for lo, hi in zip(t["ci_low"], t["ci_high"])],
            "median": [fmt(v, spec) for v in t["median"]],
            "IQM": [fmt(v, spec) for v in t["iqm"]],
            "std": [fmt(v, spec) for v in t["std"]],
        }
    )
    return md_table(df)


CI_NAMES = {
    "t": "Student t",
    "t-bounded": "Student t, kept to the metric's range",
    "edge-exact": "exact bound where every seed sits at the range's edge",
    "BCa": "bootstrap BCa",
    "percentile": "bootstrap percentile",
    "basic": "basic bootstrap",
}


def _ci_name(t: pd.DataFrame) -> str:
    """The interval methods a summary table used, in ``CI_NAMES`` order ("Student t, kept
    to the metric's range; exact bound where ..."); Student t when none is named."""
    used = set(t["ci_method"])
    names = [name for m, name in CI_NAMES.items() if m in used]
    return "; ".join(names) if names else CI_NAMES["t"]


def _pairwise_md(t: pd.DataFrame) -> str:
    hl = "estimate" in t and (t["estimator"] == "hodges_lehmann").any()
    df = pd.DataFrame(
        {
            **({"lr": [fmt(v, "g") for v in t["lr"]]} if "lr" in t else {}),
            "A": t["a"],
            "B": t["b"],
            "n": t["n"],
            "mean A − B": [fmt(v, "+.4f") for v in t["mean_diff"]],
            "95% CI": [fmt_ci(lo, hi) for lo, hi in zip(t["diff_ci_low"], t["diff_ci_high"])],
            **(
                {
                    "HL shift": [fmt(v, "+.4f") for v in t["estimate"]],
                    "HL 95% CI": [
                        fmt_ci(lo, hi)
                        for lo, hi in zip(t["estimate_ci_low"], t["estimate_ci_high"])
                    ],
                }
                if hl
                else {}
            ),
            "p": [fmt(v, ".3g") for v in t["p"]],
            "p (Holm)": [fmt(v, ".3g") for v in t["p_holm"]],
            "P(A > B)": [fmt(v, ".2f") for v in t["p_improvement"]],
            "Cohen's d_z": [fmt(v, ".2f") for v in t["cohens_d"]],
        }
    )
    return md_table(df, ("l" if "lr" in t else "") + "ll" + "r" * (len(df.columns) - 2))


def _rate(k, n, rate, lo, hi) -> str:
    return f"{k}/{n} ({fmt(rate, '.0%')}, CI {fmt(lo, '.0%')}–{fmt(hi, '.0%')})"


OUTCOME_TITLES = (
    ("reached", "reached {th}"),
    ("not_reached", "did not reach it"),
    ("diverged", "diverged"),
)


def _failures_md(t: pd.DataFrame, th: Threshold | None) -> str:
    """Each seed in one outcome (with a threshold), or the divergence count alone."""
    cols = {"activation": t["name"]}
    titles = OUTCOME_TITLES if th is not None else (("diverged", "diverged"),)
    for what, title in titles:
        cols[title.format(th=th)] = [
            _rate(*r)
            for r in zip(
                t[f"{what}_k"],
                t["n"],
                t[f"{what}_rate"],
                t[f"{what}_ci_low"],
                t[f"{what}_ci_high"],
            )
        ]
    return md_table(pd.DataFrame(cols))


def _steps(x: float) -> str:
    return "never" if math.isinf(x) else fmt(x, ".0f")


def _threshold_md(t: pd.DataFrame, lrs: bool) -> str:
    is_ref = t["name"] == t["reference"]
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "ever reached": [f"{k}/{n}" for k, n in zip(t["reached"], t["n"])],
            "median steps": [_steps(v) for v in t["median"]],
            "mean steps (reached)": [fmt(v, ".0f") for v in t["mean_reached"]],
            **({"reference": t["reference"]} if lrs else {}),
            "steps / reference's": [
                "reference" if r else fmt(v, ".2f") for r, v in zip(is_ref, t["ratio"])
            ],
            "95% CI": [
                "" if r else fmt_ci(lo, hi, ".2f")
                for r, lo, hi in zip(is_ref, t["ratio_ci_low"], t["ratio_ci_high"])
            ],
        }
    )
    return md_table(df)


def _value(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, dict):  # act_lrs: each activation's own learning rate
        return ", ".join(f"{k} {x:g}" if isinstance(x, float) else f"{k} {x}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if v else "none"
    return str(v)


def _config_md(rec: Record) -> str:
    doc = rec.doc
    rows = [("experiment", doc["experiment"])]
    if doc.get("command"):
        rows.append(("command", f"`{doc['command']}`"))
    rows += [("activations", ", ".join(rec.activations)), ("seeds", rec.seeds)]
    rows += [
        (k, _value(v))
        for k, v in doc["config"].items()
        if not (k in ("lrs", "act_lrs") and v is None)
    ]
    if rec.threshold is not None:
        rows.append(("threshold", str(rec.threshold)))
    return md_table(pd.DataFrame(rows, columns=["setting", "value"]), "ll")


def _timing_md(rec: Record) -> str:
    t, m = rec.doc["timing"], rec.doc.get("machine", {})
    df = pd.DataFrame(
        [
            {
                "compile s": fmt(t["compile_s"], ".1f"),
                "train s": fmt(t["train_s"], ".1f"),
                "models": t["models"],
                "steps": t["steps"],
                "model-steps / s": fmt(t["model_steps_per_s"], ",.0f"),
                "model chunks": t.get("model_chunks", 1),
                "memory per device": _memory_md(t.get("memory")),
                "backend": m.get("backend", "?"),
                "devices": ", ".join(m.get("devices", [])),
                "jax": m.get("jax", "?"),
            }
        ]
    )
    return md_table(df, "r" * 6 + "llll")


def _memory_md(memory: dict | None) -> str:
    """``timing.memory`` in words: each seed's bytes against the budget and where both came
    from (runs written before it was recorded: "?")."""
    if not memory:
        return "?"
    mib = lambda b: f"{b / 2**20:,.1f} MiB"
    seed = f"{mib(memory['bytes_per_seed'])}/seed ({memory['estimate']})"
    if memory["budget"] is None:
        return f"{seed}, no budget (the device does not say)"
    return f"{seed} of {mib(memory['budget'])} ({memory['source']})"


METRIC_NAMES = {
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
    "train_loss": "train loss",
}


def metric_name(metric: str) -> str:
    """A metric as prose: "test accuracy", "test mae"."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def headline(rec: Record, tabs: dict[str, pd.DataFrame], th: Threshold | None) -> list[str]:
    """report.md's opening, one sentence per comparison that matters: which activation did
    best on the run's primary metric (``rec.primary``) and by how much against each other
    one at the same lr (the paired difference, its CI and Holm's p from the tables), how
    many seeds failed, how many reached the threshold, and a layout that was forced."""
    p, rule = rec.primary, rec.rule
    t = tabs[p].reset_index(drop=True)
    larger = outcome.goal(p, rec.goals) == "max"
    # the mean where every activation's is finite; else (a diverged run's +inf loss) the median
    use_mean = bool(np.isfinite(t["mean"].to_numpy(float)).all())
    stat, lo, hi = (
        ("mean", "ci_low", "ci_high") if use_mean else ("median", "median_ci_low", "median_ci_high")
    )
    values = t[stat].to_numpy(float)
    if not np.isfinite(values).any():
        why = outcome.describe(rule, _classes(rec))
        return [f"No activation has a finite {stat} final {metric_name(p)} ({why})."]
    best = int(
        np.nanargmax(values)
        if larger
        else np.nanargmin(np.where(np.isfinite(values), values, np.inf))
    )
    name = t["name"][best]
    who = f"all {rec.seeds} seeds" if rule != "exclude" else f"the {int(t['n'][best])} survivors"
    out = [
        f"**{name}** has the {'highest' if larger else 'lowest'} final {metric_name(p)}: "
        f"{stat} {fmt(values[best])} {fmt_ci(t[lo][best], t[hi][best])} over {who} "
        f"({_ci_name(t) if use_mean else 'sign-test CI'})."
    ]
    pair = tabs["pairwise"]
    for row in pair.itertuples(index=False):
        if name not in (row.a, row.b):
            continue
        other, sign = (row.b, 1.0) if row.a == name else (row.a, -1.0)
        # the interval that inverts the test whose p is quoted (the rank test's shift), so
        # that "0 outside the interval" and "p below 0.05" say the same
        if "estimate" in pair:
            d, dlo, dhi = row.estimate, row.estimate_ci_low, row.estimate_ci_high
            what = "median shift (Hodges–Lehmann)"
        else:
            d, dlo, dhi, what = row.mean_diff, row.diff_ci_low, row.diff_ci_high, "mean difference"
        d, (dlo, dhi) = sign * d, sorted((sign * dlo, sign * dhi))
        resolved = row.p_holm < 1 - CONFIDENCE and not dlo <= 0 <= dhi
        verdict = (
            f"ahead of {other}"
            if resolved and (d > 0) == larger
            else f"behind {other}"
            if resolved
            else f"not told apart from {other} at {row.n} seeds"
        )
        out.append(
            f"{name} is {verdict}: {what} {fmt(d, '+.4f')} {fmt_ci(dlo, dhi, '+.4f')}, "
            f"paired over {row.n} seeds, Holm p {fmt(row.p_holm, '.2g')}."
        )
    failed = tabs["failures"]
    hit = [f"{n} {k}/{rec.seeds}" for n, k in zip(failed["name"], failed["diverged_k"]) if k]
    counted = outcome.describe(rule, _classes(rec))
    out.append(
        f"Diverged: {', '.join(hit)}; counted as failed runs ({counted})."
        if hit and rule != "exclude"
        else f"Diverged: {', '.join(hit)}; left out (survivors only)."
        if hit
        else "No run diverged."
    )
    if th is not None:
        reached = [f"{n} {k}/{rec.seeds}" for n, k in zip(failed["name"], failed["reached_k"])]
        out.append(f"Reached {th} without diverging: {', '.join(reached)}.")
    forced = (rec.doc["config"].get("layout") or {}).get("forced") or []
    if forced:
        out.append(
            "The layout was forced (" + "; ".join(forced) + "): these models round otherwise "
            "than a default run's, so the same seeds of a default run are not these, bit for bit."
        )
    return out


def markdown(
    rec: Record,
    th: Threshold | str | Sequence | None = None,
    tabs: dict[str, pd.DataFrame] | None = None,
    files: Sequence[tuple[str, str]] = (),
) -> str:
    """The text of ``report.md``. ``th`` defaults to the run's threshold; ``files``:
    (description, file name) of what was written beside it (plots are shown inline)."""
    th = threshold_of(rec, th)
    tabs = tables(rec, th) if tabs is None else tabs
    doc, seeds = rec.doc, rec.seeds
    size = f"{len(rec.activations)} activations × {seeds} seeds"
    if rec.lrs is not None:
        size += f" × {len(rec.lrs)} learning rates"
    command = doc.get("command") or "actlab run ..."
    resume = command if "--resume" in command.split() else f"{command} --resume"
    status = (
        f"Complete: {doc['steps_done']} steps."
        if doc["complete"]
        else f"**Partial run**: {doc['steps_done']} of {doc['timing']['steps']} steps "
        f"(continue it with `{resume}`)."
    )
    ci = f"{CONFIDENCE:.0%}"
    rule = rec.rule
    primary = rec.primary
    acc = tabs[primary]
    spec = ".4f" if primary.endswith("accuracy") else ".4g"
    any_diverged = bool(acc["n_diverged"].sum())
    boot = (
        f"Mean over seeds with its {ci} CI ({_ci_name(acc)}), median, IQM (interquartile "
        f"mean) and sample std. **Rule for diverged runs: "
        f"{outcome.describe(rule, _classes(rec))}.**"
        + (
            ""
            if rule != "failure"
            else " `actlab report DIR --diverged-as exclude` re-renders this report over the "
            "survivors only."
        )
    )
    pair = tabs["pairwise"]
    test = TEST_NAMES.get(test := pair["test"].iloc[0] if len(pair) else "wilcoxon", test)
    seeds_in = (
        "Seeds where either model diverged are left out."
        if rule == "exclude"
        else "Every seed is in, under the rule above: two failed runs of one seed tie, and the "
        "rank test handles the ties."
    )
    heading = "## Outcomes" if th is not None else "## Divergence"
    out = [
        f"# {rec.experiment}: {size}",
        "",
        *(f"- {line}" for line in headline(rec, tabs, th)),
        "",
        status,
        "",
        "## Configuration",
        "",
        _config_md(rec),
        "",
        heading,
        "",
        f"Every one of the {seeds} seeds per activation, rate with its {ci} Wilson interval."
        + (
            f" Each run is in one category: it diverged (at any step), or else it reached "
            f"{th} at an evaluation point, or it did not."
            if th is not None
            else ""
        ),
        "",
        _failures_md(tabs["failures"], th),
        "",
        f"## Final {metric_name(primary)}",
        "",
        boot,
        "",
        _summary_md(acc, spec),
        "",
    ]
    surv = tabs.get("survivors")
    if surv is not None and any_diverged and rule != "exclude":
        out += [
            "### Survivors only",
            "",
            "The same statistics over the runs that did not diverge (n counts them). Which "
            "runs survive depends on the outcome, so these figures are biased towards "
            "activations that diverge; read them beside the table above, never alone.",
            "",
            _summary_md(surv, spec),
            "",
        ]
    out += [
        "## Final train loss",
        "",
        "Same statistics, of the loss on the training set at the last evaluation"
        + (
            "; a diverged run counts as an infinite loss, so the mean is ∞ where one diverged "
            "and the median is the figure to read."
            if rule == "failure"
            else "."
        ),
        "",
        _summary_md(tabs["train_loss"], ".4g"),
        "",
        *_own_metrics_md(rec, tabs),
        f"## Pairwise comparisons of final {metric_name(primary)}",
        "",
        f"Paired by seed (seed *i* gives every activation the same data order and "
        f"initialisation); mean of per-seed differences A − B with its {ci} CI"
        + (
            ", and the Hodges–Lehmann shift (median of the Walsh averages) with the CI that "
            "inverts the signed-rank test"
            if "estimate" in pair
            else ""
        )
        + f"; two-sided {test} test; p adjusted with Holm over the {len(pair)} comparisons; "
        "P(A > B) = fraction of seeds where A beats B (ties count half); Cohen's d_z = mean "
        f"difference / sd of differences. {seeds_in}",
        "",
        _pairwise_md(pair) if len(pair) else "(one activation: nothing to compare)",
        "",
    ]
    if th is not None:
        out += [
            f"## Time to threshold: {th}",
            "",
            "Steps until the first evaluation point where the model reached it (evaluations "
            f"every {doc['config']['eval_every']} steps). *Ever reached* counts a diverged "
            "run that got there before it diverged, so it can exceed the outcomes table's "
            f"*reached {th}*, which files such a run under *diverged*"
            + _ever_reached_note(tabs)
            + ". The reference is the activation with the smallest median"
            + (" at each learning rate" if rec.lrs is not None else "")
            + "; the ratio is this activation's median steps / the reference's (2 = needs twice "
            f'as many steps), with a paired percentile-bootstrap {ci} CI. A median is "never" '
            "(∞) when half the seeds or more never got there.",
            "",
            _threshold_md(tabs["threshold"], rec.lrs is not None),
            "",
        ]
    out += ["## Timing", "", _timing_md(rec), ""]
    images = [(d, f) for d, f in files if f.endswith(".png")]
    if images:
        out += ["## Plots", ""]
        for desc, f in images:
            out += [f"**{desc}** (`{f}`)", "", f"![{desc}]({f})", ""]
    other = [(d, f) for d, f in files if not f.endswith(".png")]
    if other:
        out += ["## Files", ""] + [f"- `{f}`: {d}" for d, f in other] + [""]
    return "\n".join(out)


def _own_metrics_md(rec: Record, tabs: dict[str, pd.DataFrame]) -> list[str]:
    """A section per metric of the study's own (``Study(metrics=...)``), on the test sample."""
    out = []
    for m in rec.own_metrics:
        t = tabs.get(m)
        if t is None:
            continue
        goal = outcome.goal(m, rec.goals)
        rule = t["rule"].iloc[0] if len(t) else rec.rule
        how = (
            "higher is better; a diverged run counts at the worst rank (-∞)"
            if goal == "max" and rule == "failure"
            else "lower is better; a diverged run counts at the worst rank (+∞)"
            if goal == "min" and rule == "failure"
            else "no goal declared (Study(goals=...)), so a diverged run is left out: "
            "survivors only, n counts them"
            if rule == "exclude" and goal is None
            else f"rule for diverged runs: {rule}"
        )
        out += [f"## Final {metric_name(m)} (the study's own metric)", "", how + ".", ""]
        out += [_summary_md(t, ".4g"), ""]
    return out


def _ever_reached_note(tabs: dict[str, pd.DataFrame]) -> str:
    """How many runs reached the threshold and then diverged (the two tables' difference)."""
    th, f = tabs.get("threshold"), tabs["failures"]
    if th is None or "reached_k" not in f:
        return ""
    extra = int(th["reached"].sum() - f["reached_k"].sum())
    return f" ({extra} run{'s' if extra != 1 else ''} here)" if extra else " (none here)"


def _classes(rec: Record) -> int | None:
    try:
        return rec.classes
    except ValueError:
        return None


def console(rec: Record, tabs: dict[str, pd.DataFrame] | None = None) -> str:
    """A short plain-text summary for the terminal: final test accuracy per activation, over
    every seed under the run's rule, and the survivors' mean beside it."""
    primary = rec.primary
    t = (tabs or {}).get(primary)
    t = summary_table(rec, primary) if t is None else t
    surv = (tabs or {}).get("survivors")
    if surv is None:
        surv = summary_table(rec, primary, diverged_as="exclude")
    df = pd.DataFrame(
        {
            "activation": t["name"],
            "n": t["n"],
            "mean": [fmt(v) for v in t["mean"]],
            "95% CI": [fmt_ci(lo, hi) for lo, hi in zip(t["ci_low"], t["ci_high"])],
            "median": [fmt(v) for v in t["median"]],
            "diverged": [f"{k}/{n}" for k, n in zip(t["n_diverged"], t["seeds"])],
        }
    )
    if rec.rule != "exclude" and t["n_diverged"].sum():
        df["survivors only: mean (n)"] = [
            f"{fmt(m)} ({n})" for m, n in zip(surv["mean"], surv["n"])
        ]
    failed = "at chance accuracy" if primary.endswith("accuracy") else "at an infinite loss"
    rules = {
        "failure": f"every seed; a diverged run counts as failed, {failed}",
        "exclude": "SURVIVORS ONLY: diverged runs left out",
        "frozen": "every seed; diverged runs at their frozen values",
    }
    head = f"{rec.experiment}: final {metric_name(primary)} ({rules[rec.rule]})"
    timing = rec.doc["timing"]
    return (
        f"{head}\n{df.to_string(index=False)}\n"
        f"timing: compile {timing['compile_s']:.1f} s, train {timing['train_s']:.1f} s"
    )


def compare_markdown(
    a: Record, b: Record, table: pd.DataFrame, names: tuple[str, str] = ("A", "B")
) -> str:
    """Markdown for ``compare``'s table, with what differs between the runs."""
    na, nb = names
    df = pd.DataFrame(
        {
            "activation": table["name"],
            "n A": table["n_a"],
            "n B": table["n_b"],
            "mean A": [fmt(v) for v in table["mean_a"]],
            "mean B": [fmt(v) for v in table["mean_b"]],
            "B − A": [fmt(v, "+.4f") for v in table["mean_diff"]],
            "95% CI": [
                fmt_ci(lo, hi) for lo, hi in zip(table["diff_ci_low"], table["diff_ci_high"])
            ],
            "p": [fmt(v, ".3g") for v in table["p"]],
            "p (Holm)": [fmt(v, ".3g") for v in table["p_holm"]],
            "P(B > A)": [fmt(v, ".2f") for v in table["p_improvement"]],
            "Cohen's d": [fmt(v, ".2f") for v in table["cohens_d"]],
        }
    )
    diff = config_differences(a, b)
    only = [x for x in a.labels if x not in b.labels] + [x for x in b.labels if x not in a.labels]
    lines = [
        "# Final test accuracy: B − A",
        "",
        f"- A: `{na}` ({a.experiment}, {a.seeds} seeds, {a.doc['steps_done']} steps"
        f"{'' if a.doc['complete'] else ', partial'})",
        f"- B: `{nb}` ({b.experiment}, {b.seeds} seeds, {b.doc['steps_done']} steps"
        f"{'' if b.doc['complete'] else ', partial'})",
        "- settings that differ: " + ("; ".join(diff) if diff else "none"),
    ]
    if only:
        lines.append(f"- in one run only (not compared): {', '.join(only)}")
    lines += [
        "",
        f"Independent runs, so unpaired: Welch's t-test, {CONFIDENCE:.0%} Welch CI of the "
        "difference of means, p adjusted with Holm over the "
        "activations, P(B > A) from the Mann-Whitney U, Cohen's d with the pooled sd. Each "
        "run's diverged models count under its rule (default: as failed runs, at chance).",
        "",
        md_table(df),
        "",
    ]
    return "\n".join(lines)
