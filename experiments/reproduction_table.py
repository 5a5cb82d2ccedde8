"""The results section of REPRODUCTION.md, generated from the committed per-study data.

    python experiments/reproduction_table.py --collect runs   # copy the runs' compact data
    python experiments/reproduction_table.py                  # print the markdown
    python experiments/reproduction_table.py --update         # replace REPRODUCTION.md's section
    python experiments/reproduction_table.py --check          # exit 1 if it is stale

``reproduction/NAME/`` holds what each study's run wrote that is small enough to commit:
``analysis.json`` (the analysis: tables, tests, intervals), ``seeds.csv`` (every model's
outcome, one row per activation x seed) and, for a study with a learning-rate selection,
``selection.json``. ``--collect RUNS`` copies them from the run folders ``RUNS/NAME/``
written by ``experiments/NAME.py``; ``--data`` reads another folder. Every figure, every
verdict and every sentence that states a number in the section is computed from those
files, none typed by hand (``tests/test_reproduction_table.py`` checks that the committed
``seeds.csv`` give the committed tables, and that the section is current). The section sits
between ``<!-- results:start -->`` and ``<!-- results:end -->``.

Verdicts. Each claim gets one of ``WORDS``: **agree**, **contradicted**, **inconclusive** or
**not tested**, from a rule below (small pure functions over plain numbers; each docstring
states its rule, and each verdict cell says in a few words which rule decided it).
Non-significance never contradicts a claim: it leaves it inconclusive. "Not tested" is for a
claim our protocol cannot test because it differs from the source's in a way that decides
the claim (dataset, length, tuning); the cell then says what differs and what the rule saw on
our data. A claim made on MNIST and measured on Fashion-MNIST, where the dataset does not
decide it, says so in its verdict.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

START, END = "<!-- results:start -->", "<!-- results:end -->"
WORDS = ("agree", "contradicted", "inconclusive", "not tested")
ALPHA = 0.05  # every test's level (after Holm's correction where there are several)
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

# the levels the rules use, stated once (REPRODUCTION.md's prose repeats them)
RELIABLE, UNRELIABLE = 0.9, 0.5  # "learns reliably": Wilson CI above 90 %; below 50 %: not
OCCURS = 0.05  # "it happens" (seen in the article's one run): a rate clearly above 5 %
DEAD_LEVEL = 0.01  # "avoids dead units": its dead fraction's CI upper bound below 1 %
KILLED = (0.05, 0.01)  # "kills units": CI above 5 % agrees, CI below 1 % contradicts
HALF_ORDER = 10**0.5  # "order of magnitude": within ±0.5 in log10
ABOUT = 2.0  # "~6x": within a factor 2 of the claimed ratio (3x to 12x)
THROUGHOUT = 0.95  # "ahead throughout": the per-step CI above 0 at >= 95 % of the steps


# ----------------------------------------------------------------------------- verdicts


class Verdict(NamedTuple):
    """A verdict: ``word`` (one of ``WORDS``), ``rule``: which rule decided it, in a few
    words; ``note``: a qualifier shown with the word ("not reliable", "on Fashion-MNIST;
    MNIST not tested"); ``aside``: for "not tested", what the rule saw on our data."""

    word: str
    rule: str
    note: str = ""
    aside: str = ""

    def cell(self) -> str:
        """The markdown cell: ``**word** (note): rule[; measured here: aside]``."""
        note = f" ({self.note})" if self.note else ""
        aside = f"; measured here: {self.aside}" if self.aside else ""
        return f"**{self.word}**{note}: {self.rule}{aside}"


def testable(rule):
    """Gives a rule function the keyword ``untested``: a reason (a phrase) why our protocol
    cannot test the claim. The verdict is then "not tested" for that reason, and keeps what
    the rule saw on our data as its aside."""

    @functools.wraps(rule)
    def wrapper(*args, untested: str | None = None, **kwargs) -> Verdict:
        v = rule(*args, **kwargs)
        if untested is None:
            return v
        seen = f"{v.rule} ({v.word})" if v.word == "inconclusive" else v.rule
        return Verdict("not tested", untested, aside=seen)

    return wrapper


def _num(x) -> float:
    """JSON null (NaN, inf) and None -> NaN; numbers -> float."""
    return math.nan if x is None else float(x)


def _defined(*xs) -> bool:
    return all(math.isfinite(_num(x)) for x in xs)


@testable
def directional(
    estimate, ci_low, ci_high, p=None, *, claim: str = ">", null: float = 0.0, ci: str = "CI"
) -> Verdict:
    """A directional claim, "A > B" (``claim=">"``: the estimate of A - B, or of A / B with
    ``null=1``, is above ``null``) or "A < B" (``claim="<"``).

    Agree when the CI lies on the claimed side of ``null`` and, if a p-value is given (Holm
    adjusted), p < ALPHA; contradicted when the CI lies on the other side with p < ALPHA
    (significant the other way); inconclusive otherwise: a CI that holds ``null``, a p at or
    above ALPHA, or no CI (an interval the data cannot bound). The CI should be the one that
    inverts the test (Hodges–Lehmann for Wilcoxon), so the two cannot disagree.
    """
    lo, hi = _num(ci_low), _num(ci_high)
    sig = p is None or _num(p) < ALPHA
    p_txt = "" if p is None else f", Holm p {_num(p):.2g}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", f"no finite {ci}")
    above, below = lo > null, hi < null
    if not (above or below):
        return Verdict("inconclusive", f"{ci} holds {null:g}")
    if not sig:
        return Verdict("inconclusive", f"{ci} excludes {null:g} but Holm p {_num(p):.2g} ≥ {ALPHA}")
    side = "above" if above else "below"
    word = "agree" if above == (claim == ">") else "contradicted"
    return Verdict(word, f"{ci} {side} {null:g}{p_txt}")


@testable
def equivalent(eq: Mapping, *, scale: float = 100.0, unit: str = "points") -> Verdict:
    """An equivalence claim, "A ≈ B", from a TOST result (``stats.equivalence``: ``ci_low``,
    ``ci_high`` = the 1 - 2 alpha CI of A - B, ``p``, ``margin``, ``equivalent``).

    Agree only when TOST shows equivalence (p < alpha: the CI lies inside ±margin);
    contradicted when the CI lies wholly outside the margin (the difference is shown larger
    than it); inconclusive otherwise (the CI crosses a margin, or there is none). ``scale``
    and ``unit`` only format the margin (accuracy 0.005 -> "±0.5 points").
    """
    m, lo, hi = _num(eq.get("margin")), _num(eq.get("ci_low")), _num(eq.get("ci_high"))
    band = f"±{scale * m:g} {unit}"
    if eq.get("equivalent"):
        return Verdict("agree", f"TOST: 90 % CI inside {band}, p {_num(eq.get('p')):.2g}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", "TOST: no finite CI")
    if lo > m or hi < -m:
        return Verdict("contradicted", f"TOST: 90 % CI outside {band}")
    return Verdict("inconclusive", f"TOST: 90 % CI crosses {band}")


@testable
def proportion(
    ci_low,
    ci_high,
    *,
    agree_above: float,
    contradict_below: float,
    contradicted_note: str = "",
    what: str = "CI",
) -> Verdict:
    """A claim about a rate (or a fraction) from its 95 % CI (Wilson for a rate over
    seeds): agree when the CI lies above ``agree_above``; contradicted when it lies below
    ``contradict_below``; inconclusive otherwise (between the levels, or no CI).

    A single run in an article is consistent with any rate clearly above 0, so the levels
    say what the claim means: "learns XOR reliably" is agree_above 0.9, contradict_below 0.5
    ("not reliable": it fails in most seeds); "it happens" is 0.05 and 0.05. ``what`` names
    the interval in the verdict ("CI of not solving").
    """
    lo, hi = _num(ci_low), _num(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", f"no {what}")
    if lo > agree_above:
        return Verdict("agree", f"{what} above {100 * agree_above:g} %")
    if hi < contradict_below:
        return Verdict(
            "contradicted", f"{what} below {100 * contradict_below:g} %", contradicted_note
        )
    if agree_above == contradict_below:
        return Verdict("inconclusive", f"{what} holds {100 * agree_above:g} %")
    return Verdict(
        "inconclusive",
        f"{what} not above {100 * agree_above:g} % nor below {100 * contradict_below:g} %",
    )


def _orders(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@testable
def magnitude(low, high, claimed: float, *, factor: float = HALF_ORDER) -> Verdict:
    """A claim "about ``claimed``" for a positive quantity measured as the range
    ``[low, high]`` (a CI, or the spread over activations).

    Agree when the whole range lies within a factor ``factor`` of the claim (default: ±0.5
    in log10, the claim's order of magnitude); contradicted when none of it does (the note
    says how many orders of magnitude apart); inconclusive when the range crosses the band's
    edge, or is undefined.
    """
    lo, hi = _num(low), _num(high)
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", "no finite positive range")
    lo, hi = min(lo, hi), max(lo, hi)
    band_lo, band_hi = claimed / factor, claimed * factor
    band = (
        f"±0.5 orders of {claimed:g}"
        if math.isclose(factor, HALF_ORDER)
        else f"x{factor:g} of {claimed:g}"
    )
    if band_lo <= lo and hi <= band_hi:
        return Verdict("agree", f"within {band}")
    if hi < band_lo or lo > band_hi:
        a, b = sorted(abs(math.log10(v / claimed)) for v in (lo, hi))
        side = "above" if lo > band_hi else "below"
        span = _orders(a) if _orders(a) == _orders(b) else f"{_orders(a)}-{_orders(b)}"
        return Verdict("contradicted", f"outside {band}", f"{span} orders of magnitude {side}")
    return Verdict("inconclusive", f"range crosses the edge of {band}")


@testable
def throughout(share_above, share_below, *, level: float = THROUGHOUT) -> Verdict:
    """ "A is ahead of B throughout training", from a paired CI of A - B at every evaluation
    (pointwise, not simultaneous): agree when the CI lies above 0 at ``level`` or more of the
    evaluations; contradicted when it lies below 0 at more than 1 - ``level`` of them (B
    significantly ahead for a stretch); inconclusive otherwise."""
    up, down = _num(share_above), _num(share_below)
    if not (math.isfinite(up) and math.isfinite(down)):
        return Verdict("inconclusive", "no per-step CI")
    if down > 1 - level:
        return Verdict("contradicted", f"per-step CI below 0 at {100 * down:.0f} % of steps")
    if up >= level:
        return Verdict("agree", f"per-step CI above 0 at {100 * up:.0f} % ≥ {100 * level:g} %")
    return Verdict("inconclusive", f"per-step CI above 0 at only {100 * up:.0f} % of steps")


@testable
def avoids_dead(
    fixes: Mapping[str, tuple], reference: tuple, *, level: float = DEAD_LEVEL
) -> Verdict:
    """ "These activations avoid the dead units the reference (ReLU) gets", from each one's
    dead fraction at the end of training as a 95 % CI ``(low, high)``.

    Agree only when every fix's CI upper bound is below ``level`` and the reference's CI
    lower bound is above it (ReLU clearly has dead units there, so there was something to
    avoid); contradicted when some fix's CI lower bound is above ``level`` (it has dead
    units too); inconclusive otherwise, including a reference without clear dead units.
    """
    if not fixes:
        return Verdict("inconclusive", "no fix was run")
    pct = f"{100 * level:g} %"
    dead = [n for n, (lo, _) in fixes.items() if _num(lo) > level]
    if dead:
        return Verdict("contradicted", f"{', '.join(dead)}: CI above {pct}")
    if not all(_num(hi) < level for _, hi in fixes.values()):
        return Verdict("inconclusive", f"a fix's CI reaches {pct}")
    if not _num(reference[0]) > level:
        return Verdict("inconclusive", f"ReLU's CI not above {pct} either")
    return Verdict("agree", f"every fix's CI below {pct}, ReLU's above")


@testable
def is_zero(value) -> Verdict:
    """A property by construction, "X is exactly 0", measured once: agree when the value is
    0, contradicted when it is not, inconclusive when it was not measured (None, NaN)."""
    v = _num(value)
    if math.isnan(v):
        return Verdict("inconclusive", "not measured")
    if v == 0:
        return Verdict("agree", "exactly 0")
    return Verdict("contradicted", f"{v:.3g}, not 0")


def on_dataset(v: Verdict, ran_on: str, claimed_on: str) -> Verdict:
    """``v`` for a claim made on ``claimed_on`` and measured on ``ran_on``, where the
    dataset does not decide the claim: the verdict says on which data it was reached."""
    if ran_on == claimed_on or v.word == "not tested":
        return v
    note = f"on {_name(ran_on)}; {_name(claimed_on)} not tested"
    return v._replace(note=", ".join(x for x in (v.note, note) if x))


def _name(dataset: str) -> str:
    return DATASETS.get(dataset, dataset)


# ----------------------------------------------------------------------------- formatting


DATA = Path(__file__).resolve().parents[1] / "reproduction"
DOCUMENT = Path(__file__).resolve().parents[1] / "REPRODUCTION.md"
COMMITTED = ("analysis.json", "seeds.csv", "selection.json", "selection.csv")
FIXES = ("clipped", "bce", "glorot", "he")  # deep XOR's fix runs, xor_{fix}


def collect(runs: Path, data: Path = DATA) -> list[Path]:
    """Copy each study's ``COMMITTED`` files from ``runs/NAME/`` into ``data/NAME/``;
    returns what was copied. A study without an ``analysis.json`` in ``runs`` keeps what
    ``data`` has."""
    copied = []
    names = [n for n, _, _ in STUDIES] + [f"xor_{f}" for f in FIXES]
    for name in names:
        if not (runs / name / "analysis.json").exists():
            continue
        (data / name).mkdir(parents=True, exist_ok=True)
        for f in COMMITTED:
            src, dst = runs / name / f, data / name / f
            if src.exists():
                shutil.copyfile(src, dst)
                copied.append(dst)
            elif dst.exists():
                dst.unlink()  # a file of an earlier run that this one did not write
    return copied


def _load(runs: Path, name: str) -> dict | None:
    p = runs / name / "analysis.json"
    return json.loads(p.read_text()) if p.exists() else None


def pct(x, digits: int = 2) -> str:
    return (
        "n/a"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else f"{100 * x:.{digits}f} %"
    )


def ci(row: dict, lo="ci_low", hi="ci_high", digits: int = 2) -> str:
    if row.get(lo) is None or row.get(hi) is None:
        return "[n/a]"
    return f"[{100 * row[lo]:.{digits}f}, {100 * row[hi]:.{digits}f}]"


def _run_line(a: dict) -> str:
    t = a["timing"]
    return (
        f"*Run:* {a['dataset']} ({a['data_source']}), {a['seeds']} seeds x "
        f"{len(a['activations'])} activations, {a['steps']} steps; compile {t['compile_s']:.0f} s, "
        f"train {t['train_s']:.0f} s ({a['machine']}). *Command:* `{a['command']}`"
    )


def _diverged(a: dict) -> str:
    """ "n diverged: none" or per activation, with the rule, for a study's notes."""
    nd = a.get("n_diverged") or {}
    hit = {k: v for k, v in nd.items() if v}
    which = ", ".join(f"{k} {v}/{a['seeds']}" for k, v in hit.items()) if hit else "none"
    rule = "every seed counts; a diverged run scores chance" if a.get("diverged_as") else ""
    return f"Diverged runs: {which}" + (f" ({rule})." if rule else ".")


def _oriented(pairs: list[dict], hi: str, lo: str) -> dict:
    """The pairwise row of ``hi`` and ``lo`` oriented as hi - lo: the test's estimate
    (Hodges–Lehmann) and its CI where saved, else the mean difference and its CI."""
    row, sign = next(((r, 1.0) for r in pairs if r["a"] == hi and r["b"] == lo), (None, -1.0))
    if row is None:
        row = next(r for r in pairs if r["a"] == lo and r["b"] == hi)
    est, elo, ehi = ("estimate", "estimate_ci_low", "estimate_ci_high")
    if row.get(est) is None:
        est, elo, ehi = ("mean_diff", "diff_ci_low", "diff_ci_high")
    a, b = sign * _num(row.get(elo)), sign * _num(row.get(ehi))
    return {
        "estimate": sign * _num(row.get(est)),
        "ci_low": min(a, b),
        "ci_high": max(a, b),
        "p_holm": row.get("p_holm"),
        "estimator": "HL" if est == "estimate" else "mean",
    }


def _points(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:+.2f}"


def _shift(d: dict) -> str:
    lo, hi = d["ci_low"], d["ci_high"]
    band = "[—]" if not _defined(lo, hi) else f"[{100 * lo:.2f}, {100 * hi:.2f}]"
    return f"{d['estimator']} shift {_points(d['estimate'])} points {band}"


# ----------------------------------------------------------------------------- studies


def two_layer(a: dict) -> list[str]:
    s = {r["name"]: r for r in a["summary"]}
    pairs = a["pairwise"]
    d = _oriented(pairs, "relu", "sigmoid")
    ds = a["dataset"]
    better = on_dataset(
        directional(
            d["estimate"], d["ci_low"], d["ci_high"], d["p_holm"], ci=f"{d['estimator']} CI"
        ),
        ds,
        "mnist",
    )
    lead = a.get("relu_ahead")
    if lead is None:
        ahead_cell, ahead_v = "not measured", Verdict("inconclusive", "no per-step CI")
    else:
        ahead_cell = (
            f"paired 95 % CI of ReLU - sigmoid above 0 at {pct(lead['share_ci_above_0'], 0)} and "
            f"below 0 at {pct(lead['share_ci_below_0'], 0)} of the {lead['evals']} steps (mean "
            f"ahead at {pct(lead['share_mean_ahead'], 0)})"
        )
        ahead_v = on_dataset(
            throughout(lead["share_ci_above_0"], lead["share_ci_below_0"]), ds, "mnist"
        )
    g = a["gradient_check"]
    wt = a.get("wall_time") or {}
    r = wt.get("ratio_sigmoid_over_relu")
    if r is None:
        timing, time_v = "not timed", Verdict("inconclusive", "not timed")
    else:
        med = wt["median_s"]
        timing = (
            f"one model, {wt['steps']} steps, no evaluation, median of {wt['repetitions']} "
            f"interleaved timings: sigmoid {med['sigmoid']:.3f} s, ReLU {med['relu']:.3f} s; "
            f"sigmoid / ReLU x{r['ratio']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] "
            f"(HL on paired log-seconds)"
        )
        time_v = directional(r["ratio"], r["ci_low"], r["ci_high"], null=1.0, ci="time-ratio CI")
        time_v = time_v._replace(note=", ".join(x for x in (time_v.note, "XLA, shared CPU") if x))
    ratios = [g[k]["ratio"] for k in ("sigmoid", "relu")]
    lines = [
        "| claim (article 000, MNIST, 1 run) | measured | verdict |",
        "|---|---|---|",
        f"| ReLU ends one epoch with higher test accuracy than sigmoid | sigmoid "
        f"{pct(s['sigmoid']['mean'])} {ci(s['sigmoid'])}, ReLU {pct(s['relu']['mean'])} "
        f"{ci(s['relu'])} (mean, 95 % t CI, every seed); ReLU - sigmoid {_shift(d)}, paired "
        f"Wilcoxon | {better.cell()} |",
        f"| ReLU is ahead throughout the epoch (accuracy after every step, whole test split) | "
        f"{ahead_cell} | {ahead_v.cell()} |",
        f"| ReLU trains faster in wall time (backprop: ReLU 16.5 s per epoch) | {timing} | "
        f"{time_v.cell()} |",
        f"| numerical gradient ~1000x slower than backprop (~5 h vs ~16 s per epoch) | one "
        f"step: numerical {g['sigmoid']['numerical_s_extrapolated']:.1f} s (sigmoid) / "
        f"{g['relu']['numerical_s_extrapolated']:.1f} s (ReLU), extrapolated from "
        f"{g['relu']['coords']} of {g['relu']['params']} coordinates, vs backprop "
        f"{1e3 * g['sigmoid']['backprop_s']:.2f} / {1e3 * g['relu']['backprop_s']:.2f} ms: "
        f"x{ratios[0]:.3g} / x{ratios[1]:.3g}; the run's {a['steps']} steps would take "
        f"{a['steps'] * g['sigmoid']['numerical_s_extrapolated'] / 3600:.1f} h | "
        f"{magnitude(min(ratios), max(ratios), 1000).cell()} |",
        f"| (check) backprop equals the numerical gradient | max relative error over "
        f"{g['sigmoid']['checked_coords']} random coordinates, float64: sigmoid "
        f"{g['sigmoid']['max_rel_error']:.1e}; ReLU median {g['relu']['median_rel_error']:.1e}, "
        f"{pct(g['relu']['share_rel_error_above_1e-4'], 1)} above 1e-4 (kinks) | — |",
        "",
        _diverged(a),
    ]
    ahead = (
        ""
        if lead is None
        else f", and its paired CI is above 0 at {pct(lead['share_ci_above_0'], 0)} of the "
        f"{lead['evals']} steps ({ahead_v.word})"
    )
    mag = magnitude(min(ratios), max(ratios), 1000)
    same = (
        " (XLA compiles both to loops of about the same cost)"
        if time_v.word == "inconclusive"
        else ""
    )
    lines += [
        "",
        f"**Reading.** Over {a['seeds']} seeds on {_name(ds)}, ReLU ends the epoch "
        f"{100 * d['estimate']:.2f} points above sigmoid ({better.word}: {d['estimator']} CI "
        f"[{100 * d['ci_low']:.2f}, {100 * d['ci_high']:.2f}]){ahead}. Wall time per epoch: "
        f"**{time_v.word}**{same}. The numerical "
        f"gradient is x{min(ratios):.2g}-x{max(ratios):.2g} slower than backprop, not ~1000x: "
        f"**{mag.word}** (the ratio belongs to both implementations, the article's Julia code "
        "and ours).",
    ]
    return lines


def _gap_phrase(a: str, b: str, rel: str) -> str:
    from experiments import mlp_four_activations as M

    gap = 100 * (M.ARTICLE[b] - M.ARTICLE[a]) if a in M.ARTICLE and b in M.ARTICLE else math.nan
    what = "order" if rel == "<" else "equivalence"
    return f"the MNIST {what} of a {gap:.2f}-point gap, which the dataset decides"


def mlp_four(a: dict) -> list[str]:
    import pandas as pd

    from experiments import mlp_four_activations as M

    s = {r["name"]: r for r in a["summary"]}
    lines = [
        "| activation | article (MNIST, 1 seed) | measured: mean test accuracy [95 % CI] | sd | "
        "seeds (diverged) |",
        "|---|---|---|---|---|",
    ]
    for name, r in s.items():
        art = r.get("article_mnist_1seed")
        sd = "—" if r.get("std") is None else f"{100 * r['std']:.2f}"
        lines.append(
            f"| {name} | {pct(art) if art is not None else '—'} | {pct(r['mean'])} {ci(r)} | "
            f"{sd} | {r['n']} ({r.get('n_diverged', 0)}) |"
        )
    margin = a.get("equivalence_margin", M.EQUIVALENCE_MARGIN)
    lines += [
        "",
        "| claim | measured difference (right - left) [95 % CI] | Holm p | verdict |",
        "|---|---|---|---|",
    ]
    # recomputed from the saved pairwise table, so the claims follow ORDER in the script
    chain = M.ordering(pd.DataFrame(a["pairwise"]), a["activations"], a.get("equivalence"))
    ran_on, claimed_on = a["dataset"], a.get("article_dataset", M.ARTICLE_DATASET)
    for r in chain.to_dict("records"):
        untested = None
        if r["dataset_decides"] and ran_on != claimed_on:
            untested = _gap_phrase(r["a"], r["b"], r["relation"])
        d = {
            "estimate": r.get("estimate", r["diff"]),
            "ci_low": r.get("estimate_ci_low", r["ci_low"]),
            "ci_high": r.get("estimate_ci_high", r["ci_high"]),
            "estimator": "HL" if "estimate" in r else "mean",
        }
        measured = f"{_shift(d)}; mean {_points(r['diff'])}"
        if r["relation"] == "≈":
            eq = (a.get("equivalence") or {}).get(f"{r['a']}_{r['b']}")
            if eq is None:
                v = Verdict("inconclusive", "no equivalence test saved")
            else:
                v = equivalent(eq, untested=untested)
                measured += (
                    f"; 90 % CI [{100 * _num(eq['ci_low']):.2f}, {100 * _num(eq['ci_high']):.2f}] "
                    f"vs margin ±{100 * margin:g} points, TOST p {_num(eq['p']):.2g}"
                )
        else:
            v = directional(
                d["estimate"],
                d["ci_low"],
                d["ci_high"],
                r["p_holm"],
                ci=f"{d['estimator']} CI",
                untested=untested,
            )
        v = on_dataset(v, ran_on, claimed_on)
        lines.append(f"| {r['claim']} | {measured} | {_num(r['p_holm']):.3g} | {v.cell()} |")
    lines += [
        "",
        f"Equivalence margin ±{100 * margin:g} accuracy points: wider than the article's "
        "tanh-ReLU gap (0.04) and its whole sigmoid-tanh-ReLU spread (0.25), narrower than "
        "the gap to a linear model (6 points), about one seed's sd here.",
    ]
    n = a.get("seeds_for_article_relu_tanh_gap")
    if n is not None:
        lines += [
            "",
            f"The article's ReLU - tanh gap (0.04 points) against the measured sd of the paired "
            f"differences ({100 * a['relu_minus_tanh_sd']:.2f} points) would need **{n} seeds** "
            f"for 80 % power (paired t-test, alpha 0.05).",
        ]
    lines += ["", _diverged(a)]
    order = sorted(s.items(), key=lambda kv: -_num(kv[1]["mean"]))
    words = [w for _, w in verdicts(lines)]
    lines += [
        "",
        f"**Reading.** Over {a['seeds']} seeds on {_name(ran_on)}, mean final test accuracy, "
        "highest first: " + ", ".join(f"{k} {pct(r['mean'])}" for k, r in order) + ". Of the "
        f"{len(words)} claims, "
        + ", ".join(f"{words.count(w)} {w}" for w in WORDS if words.count(w))
        + (
            f"; a claim that {_name(claimed_on)} decides is not tested on {_name(ran_on)}."
            if ran_on != claimed_on
            else "."
        ),
    ]
    return lines


def _rate(table: list[dict], name: str, outcome: str) -> dict:
    return next(r for r in table if r["name"] == name and r["outcome"] == outcome)


def _rate_cell(r: dict) -> str:
    return f"{r['k']}/{r['n']} = {pct(r['rate'], 1)} {ci(r, digits=1)}"


def deep_xor(a: dict, fixes: dict[str, dict]) -> list[str]:
    t = a["outcomes"]
    acts = a["activations"]
    lines = [
        "| activation | solved | stuck | NaN (diverged) | first NaN step: median (quartiles) |",
        "|---|---|---|---|---|",
    ]
    steps = {r["name"]: r for r in a["nan_steps"]}
    for name in acts:
        st = steps[name]
        when = "—"
        if st["n_nan"]:
            when = (
                f"{st['first_nan_step_median']:.0f} ({st['first_nan_step_q25']:.0f}-"
                f"{st['first_nan_step_q75']:.0f})"
            )
        lines.append(
            f"| {name} | {_rate_cell(_rate(t, name, 'solved'))} | "
            f"{_rate_cell(_rate(t, name, 'stuck'))} | {_rate_cell(_rate(t, name, 'nan'))} | "
            f"{when} |"
        )
    lines += [
        "",
        "(Every seed in one category: solved = never diverged and all four points right at the "
        "end; NaN = diverged at some step, whatever it had learnt; stuck = the rest. Wilson 95 % "
        "CIs over all seeds.)",
    ]
    van = {r["name"]: r for r in a["vanishing"]}
    others = [n for n in acts if n != "sigmoid"]
    rows = ["", "| claim (article 002, 1 run each) | measured | verdict |", "|---|---|---|"]
    if "sigmoid" in acts:
        sig_solved = _rate(t, "sigmoid", "solved")
        sig_nan = _rate(t, "sigmoid", "nan")
        # "does not learn" is the rate of not solving: Wilson's interval of n - k is 1 - (hi, lo)
        fails = proportion(
            1 - sig_solved["ci_high"],
            1 - sig_solved["ci_low"],
            agree_above=RELIABLE,
            contradict_below=UNRELIABLE,
            contradicted_note="it learns in most seeds",
            what="Wilson CI of not solving",
        )
        nan_v = proportion(
            sig_nan["ci_low"],
            sig_nan["ci_high"],
            agree_above=OCCURS,
            contradict_below=OCCURS,
            contradicted_note="the runs end stuck, not NaN",
            what="Wilson CI",
        )
        rows += [
            f"| 10 sigmoid layers do not learn XOR in 20 001 steps | solved "
            f"{_rate_cell(sig_solved)} | {fails.cell()} |",
            f"| ... and the cost turns NaN (~step 17 500) | NaN {_rate_cell(sig_nan)} | "
            f"{nan_v.cell()} |",
        ]
    for name in others:
        r = _rate(t, name, "solved")
        v = proportion(
            r["ci_low"],
            r["ci_high"],
            agree_above=RELIABLE,
            contradict_below=UNRELIABLE,
            contradicted_note="not reliable",
            what="Wilson CI",
        )
        rows.append(f"| {name} learns XOR (reliably) | solved {_rate_cell(r)} | {v.cell()} |")
    if "sigmoid" in van:
        vs = van["sigmoid"]
        lo, hi = _num(vs["ci_low"]), _num(vs["ci_high"])
        measured = (
            f"log10(‖g₁‖/‖g₁₀‖) at init: sigmoid {_num(vs['log10_ratio_mean']):.2f} "
            f"[{lo:.2f}, {hi:.2f}] (ratio {_num(vs['ratio_median']):.1e}); "
            + ", ".join(f"{n} {_num(van[n]['log10_ratio_mean']):.2f}" for n in others if n in van)
        )
        smaller = directional(vs["log10_ratio_mean"], lo, hi, claim="<", ci="CI of log10 ratio")
        rows += [
            f"| vanishing gradient: sigmoid's layer-1 gradient is smaller than the top's | "
            f"{measured} | {smaller.cell()} |",
            f"| ... by ~0.1^10 (the article's bound, 0.25 per layer or less) | ratio "
            f"{10**lo:.1e} to {10**hi:.1e} (95 % CI) | {magnitude(10**lo, 10**hi, 1e-10).cell()} |",
        ]
    lines += rows
    if fixes:
        lines += [
            "",
            "Fixes (same network; "
            + ", ".join(f"{k}: {v['seeds']} seeds" for k, v in fixes.items())
            + "): solved rate / NaN rate, over all seeds",
            "",
            "| activation | N(0,1), unclipped | " + " | ".join(fixes) + " |",
            "|---|---|" + "---|" * len(fixes),
        ]
        for name in acts:
            cells = [
                f"{_short(_rate(ft, name, 'solved'))} / {pct(_rate(ft, name, 'nan')['rate'], 0)}"
                for ft in (t, *(f["outcomes"] for f in fixes.values()))
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "(solved: rate [Wilson 95 % CI] / NaN rate.)"]
    lines += ["", _xor_reading(a, fixes)]
    return lines


def _short(r: dict) -> str:
    return f"{pct(r['rate'], 0)} [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]"


def _xor_reading(a: dict, fixes: dict[str, dict]) -> str:
    """Deep XOR's reading: each number from the analyses, each verdict from its rule."""
    t, acts, n = a["outcomes"], a["activations"], a["seeds"]
    steps = {r["name"]: r for r in a["nan_steps"]}
    parts = [f"**Reading.** {n} seeds per activation."]
    if "sigmoid" in acts:
        sig = _rate(t, "sigmoid", "solved")
        parts.append(
            f"Sigmoid networks solve XOR in {_rate_cell(sig)} of the seeds and go NaN in "
            f"{pct(_rate(t, 'sigmoid', 'nan')['rate'], 1)}: they end stuck, not NaN."
        )
    blew = [x for x in acts if steps[x]["n_nan"]]
    if blew:
        parts.append(
            "With the article's N(0, 1) initialisation and unclipped loss, "
            + ", ".join(
                f"{x} diverges in {pct(_rate(t, x, 'nan')['rate'], 0)} (median first NaN "
                f"step {steps[x]['first_nan_step_median']:.0f})"
                for x in blew
            )
            + "; counted as the failures they are, "
            + ", ".join(f"{x} solves XOR in {_rate_cell(_rate(t, x, 'solved'))}" for x in blew)
            + "."
        )
    for name, f in fixes.items():
        ft = f["outcomes"]
        best = max(acts, key=lambda x: _rate(ft, x, "solved")["rate"])
        parts.append(
            f"*{name}* ({f['seeds']} seeds): NaN in "
            + ", ".join(f"{x} {pct(_rate(ft, x, 'nan')['rate'], 0)}" for x in acts if x in blew)
            + f"; best solved rate {best} {_short(_rate(ft, best, 'solved'))}"
            + (
                f", ReLU {_short(_rate(ft, 'relu', 'solved'))}"
                if "relu" in acts and best != "relu"
                else ""
            )
            + "."
        )
    return " ".join(parts)


def _census(row: dict, kind: str, when: str) -> tuple[float, float, float] | None:
    """``(mean, ci_low, ci_high)`` of the ``kind`` ("inactive" or "dead") fraction at
    ``when`` ("start" or "end") from a ``dead_units`` row, or None if the row has no such
    key. A missing CI is the mean at both ends (a fraction measured without one)."""
    if f"{kind}_at_{when}" not in row:
        return None
    mean = row[f"{kind}_at_{when}"]
    for lo, hi in (
        (f"{kind}_{when}_ci_low", f"{kind}_{when}_ci_high"),
        (f"{kind}_at_{when}_ci_low", f"{kind}_at_{when}_ci_high"),
    ):
        if lo in row and hi in row:
            return _num(mean), _num(row[lo]), _num(row[hi])
    return _num(mean), _num(mean), _num(mean)


def _frac(c: tuple | None, digits: int = 1) -> str:
    if c is None:
        return "—"
    m, lo, hi = c
    band = "" if (lo == m == hi) else f" [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return f"{pct(m, digits)}{band}"


def catalogue(a: dict) -> list[str]:
    d = {r["name"]: r for r in a["dead_units"]}
    p = {r["name"]: r for r in a["parameters"]}
    step = a.get("step") or {}
    relu = d.get("relu", {})
    fixes = [n for n in ("leaky_relu", "prelu", "elu", "maxout") if n in d]
    # the unit census: "inactive" (z <= 0 on every census example; for ReLU exactly a dead
    # unit) where the analysis has it, and "dead" (the output does not vary: no signal, for
    # any activation; before the census had "inactive", "dead" meant f' = 0 everywhere)
    has_inactive = any("inactive_at_end" in r for r in d.values())
    kinds = ("inactive", "dead") if has_inactive else ("dead",)
    head = " | ".join(f"{k} at start | {k} at end [95 % CI]" for k in kinds)
    lines = [
        f"| activation | {head} | test accuracy [95 % CI] | parameters |",
        "|---|" + "---|---|" * len(kinds) + "---|---|",
    ]
    for name, r in d.items():
        cells = " | ".join(
            f"{_frac(_census(r, k, 'start'))} | {_frac(_census(r, k, 'end'))}" for k in kinds
        )
        lines.append(
            f"| {name} | {cells} | {pct(r.get('test_accuracy'))} "
            f"{ci(r, 'acc_ci_low', 'acc_ci_high')} | {p[name]['params']} |"
        )
    if has_inactive:
        n = a.get("census_examples")
        sample = f"the {n} census examples" if n else "every census example"
        lines += [
            "",
            f"(inactive: z ≤ 0 on {sample}, which for ReLU is a dead unit and for leaky ReLU / "
            "PReLU / ELU the side where their gradient still flows; dead: the unit's output does "
            "not vary over them.)",
        ]
    killed_kind = "inactive" if has_inactive else "dead"
    killed = _census(relu, killed_kind, "start") if relu else None
    killed_end = _census(relu, killed_kind, "end") if relu else None
    ran_on = a.get("dataset", "fashion_mnist")
    if killed is None:
        kill_v = Verdict("inconclusive", "ReLU not run")
    else:
        kill_v = proportion(
            killed[1],
            killed[2],
            agree_above=KILLED[0],
            contradict_below=KILLED[1],
            what="share" if killed[1] == killed[2] else "CI of the share",
        )
        kill_v = on_dataset(kill_v, ran_on, "mnist")
    # whether a unit is dead, for every activation alike: "dead" (its output does not vary)
    ends = {n: _census(d[n], "dead", "end") for n in fixes}
    relu_end = _census(relu, "dead", "end") if relu else None
    if relu_end is None:
        avoid_v = Verdict("inconclusive", "ReLU not run")
    else:
        avoid_v = avoids_dead(
            {n: (c[1], c[2]) for n, c in ends.items()}, (relu_end[1], relu_end[2])
        )
        avoid_v = on_dataset(avoid_v, ran_on, "mnist")
    lines += [
        "",
        "| claim (article 003) | measured | verdict |",
        "|---|---|---|",
        f"| a bad initialisation kills ReLU units | biases started at {a['bias_mean']}: "
        f"{_frac(killed)} of ReLU units {killed_kind} at step 0, {_frac(killed_end)} at the end "
        f"| {kill_v.cell()} |",
        "| Leaky ReLU / PReLU / ELU (and maxout) avoid dead units | dead at the end: "
        + ", ".join(f"{n} {_frac(ends[n])}" for n in fixes)
        + f"; ReLU {_frac(relu_end)} | {avoid_v.cell()} |",
    ]
    if "maxout" in p and "relu" in p:
        x = p["maxout"]["vs_relu"]
        lines.append(
            f"| maxout doubles the parameters per unit | {p['maxout']['params']} vs ReLU "
            f"{p['relu']['params']} (x{x:.3f}: the output layer is not doubled) | "
            f"{magnitude(x, x, 2.0, factor=1.05).cell()} |"
        )
    if "step" in d:
        lines.append(
            f"| the step function gives no gradient | largest hidden-layer gradient norm traced: "
            f"{step.get('max_hidden_grad_norm')}; hidden weights moved by "
            f"{step.get('max_hidden_weight_change')}; only the output layer learns "
            f"(test accuracy {pct(d['step'].get('test_accuracy'))}) | "
            f"{is_zero(step.get('max_hidden_grad_norm')).cell()} |"
        )
    if killed is not None:
        revive = ""
        if killed_end is not None and killed_end[0] < killed[0] / 2:
            revive = ": most of them revive during training"
        lines += [
            "",
            f"**Reading.** Over {a['seeds']} seeds: with biases started at {a['bias_mean']}, "
            f"{_frac(killed)} of ReLU units are {killed_kind} at step 0 and {_frac(killed_end)} "
            f"at the end ({kill_v.word}){revive}. Dead at the "
            "end (the output does not vary, a test every activation could fail): "
            + ", ".join(f"{x} {_frac(ends[x])}" for x in fixes)
            + f", against ReLU {_frac(relu_end)} ({avoid_v.word}).",
        ]
    return lines


def _untested_alexnet(a: dict) -> str | None:
    """Why our run cannot test figure 1's ratio, or None. What decides it: the paper's data
    (CIFAR-10, where 25 % training error takes many epochs), a run in which both nets reach
    25 % in most seeds, and a learning rate tuned per net (the paper chose each one's to
    train it as fast as possible; one shared rate favours whichever it suits)."""
    why = []
    if a["dataset"] != "cifar10":
        why.append(f"ran on {_name(a['dataset'])}, not CIFAR-10")
    main = a["thresholds"][0] if a.get("thresholds") else {}
    for act in ("relu", "tanh"):
        k, n = (int(x) for x in str(main.get(f"{act}_reached", "0/1")).split("/"))
        if 2 * k <= n:
            why.append(f"{act} reached 25 % in only {k}/{n} seeds")
    if not a.get("lr_tuned_per_activation", False):
        why.append("one shared lr (the paper tuned each net's)")
    if why and a.get("epochs") is not None:
        why.append(f"{a['epochs']:.2g} epochs")
    return "; ".join(why) or None


def alexnet(a: dict) -> list[str]:
    lines = [
        "| training error threshold | ReLU median steps | tanh median steps | reached (ReLU, "
        "tanh) | ratio tanh / ReLU, steps [95 % CI] | ratio, wall seconds [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in a["thresholds"]:
        ws = _interval(r.get("ratio_seconds"), r.get("ratio_s_ci_low"), r.get("ratio_s_ci_high"))
        rs = _interval(r.get("ratio_steps"), r.get("ratio_ci_low"), r.get("ratio_ci_high"))
        lines.append(
            f"| {pct(r['threshold'], 0)} | {_fmt(r['relu_median_steps'])} | "
            f"{_fmt(r['tanh_median_steps'])} | {r['relu_reached']}, {r['tanh_reached']} | "
            f"{rs} | {ws} |"
        )
    lines += [
        "",
        "(— : not defined; a median or a bound is infinite when half the seeds or more did not "
        "reach the threshold within the run. A diverged run counts as never reaching it.)",
    ]
    lo, hi = a["ratio_ci"]
    sec = a.get("seconds_per_step") or {}
    v = magnitude(lo, hi, 6.0, factor=ABOUT, untested=_untested_alexnet(a))
    timing = a.get("wall_time") or {}
    per_step = ""
    if a.get("ratio_seconds") is not None:
        reps = f", median of {timing['repetitions']} interleaved timings" if timing else ""
        per_step = (
            f", x{_fmt(a['ratio_seconds'], '.2f')} in wall seconds ({sec.get('relu', 0):.2f} vs "
            f"{sec.get('tanh', 0):.2f} s per step per model{reps})"
        )
    lines += [
        "",
        "| claim (AlexNet fig. 1, CIFAR-10) | measured | verdict |",
        "|---|---|---|",
        f"| ReLU reaches 25 % training error ~6x sooner than tanh | {_name(a['dataset'])}: "
        f"x{_fmt(a['ratio_steps'], '.2f')} [{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}] in steps"
        f"{per_step} | {v.cell()} |",
        "",
        _diverged(a),
    ]
    if a.get("lrs"):
        lines += ["", f"Learning rates, each activation's own (selected): {_rates(a)}."]
    curve = a.get("threshold_curve")
    if curve:
        hard = a.get("comparable_threshold")
        lines += [
            "",
            "The speed-up over thresholds (steps, tanh / ReLU, paired bootstrap 95 % CI; "
            f"the last, {pct(hard, 0)}, is what tanh's median seed reaches at the end of the "
            "run, as 25 % is where tanh's curve ends in the paper's figure 1):",
            "",
            "| threshold | " + " | ".join(pct(r["threshold"], 0) for r in curve) + " |",
            "|---|" + "---|" * len(curve),
            "| ratio | "
            + " | ".join(
                _interval(r["ratio_steps"], r["ratio_ci_low"], r["ratio_ci_high"]) for r in curve
            )
            + " |",
            "| reached | "
            + " | ".join(f"{r['relu_reached']}, {r['tanh_reached']}" for r in curve)
            + " |",
        ]
    return lines + ["", _alexnet_reading(a, v)]


def _rates(a: dict) -> str:
    """004's selected learning rates, "relu 0.03, tanh 0.03"."""
    return ", ".join(f"{k} {x:g}" for k, x in a["lrs"].items())


def _alexnet_reading(a: dict, verdict) -> str:
    """004's generated interpretation: the 25 % crossing, the threshold curve's CIs sorted
    by side of 1 (ReLU sooner, tanh sooner, neither), and what the verdict rests on."""
    main = a["thresholds"][0]
    how = (
        f"each activation at its own selected learning rate ({_rates(a)})"
        if a.get("lrs")
        else "one shared learning rate"
    )
    lo, hi = a["ratio_ci"]
    text = (
        f"**Reading.** Over {a['seeds']} seeds per activation on {_name(a['dataset'])}, "
        f"{a['epochs']:.2g} epochs, {how}: ReLU reaches 25 % training error after a median "
        f"of {_fmt(main['relu_median_steps'])} steps and tanh after "
        f"{_fmt(main['tanh_median_steps'])}, tanh / ReLU x{_fmt(a['ratio_steps'], '.2f')} "
        f"[{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}], against the paper's ~6x."
    )
    curve = a.get("threshold_curve")
    if curve:
        side = {"relu": [], "tanh": []}
        for r in curve:
            low, high = r["ratio_ci_low"], r["ratio_ci_high"]
            if low is not None and low > 1:
                side["relu"].append(pct(r["threshold"], 0))
            elif high is not None and high < 1:
                side["tanh"].append(pct(r["threshold"], 0))
        said = lambda xs: f"{len(xs)}" + (f" ({', '.join(xs)})" if xs else "")  # noqa: E731
        text += (
            f" Over the {len(curve)} thresholds from {pct(curve[0]['threshold'], 0)} down to "
            f"{pct(curve[-1]['threshold'], 0)}, the ratio's CI is above 1 (ReLU sooner) at "
            f"{said(side['relu'])}, below 1 (tanh sooner) at {said(side['tanh'])}, and holds "
            f"1 at the other {len(curve) - len(side['relu']) - len(side['tanh'])} (each a "
            "95 % CI, not corrected for the number of thresholds)."
        )
    sec = a.get("seconds_per_step")
    if sec:
        text += (
            f" A step costs {sec['relu']:.2f} s (ReLU) and {sec['tanh']:.2f} s (tanh) per "
            f"model, so seconds give x{_fmt(a.get('ratio_seconds'), '.2f')} at 25 %."
        )
    return text + f" Verdict: **{verdict.word}**."


def _interval(x, lo, hi) -> str:
    return f"{_fmt(x, '.2f')} [{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}]"


def _fmt(x, fmt: str = ".0f") -> str:
    if x is None:  # JSON null: NaN or infinite (not reached)
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "not reached"
    return format(x, fmt)


STUDIES = (
    ("two_layer_mnist", "1. Article 000: sigmoid vs ReLU, 784-50-10, one epoch", two_layer),
    ("mlp_four_activations", "2. Article 001: none / sigmoid / tanh / ReLU", mlp_four),
    ("deep_xor", "3. Article 002: ten layers on XOR", None),
    ("activation_catalogue", "4. Article 003: catalogue and dead ReLUs", catalogue),
    ("alexnet_relu_vs_tanh", "5. Article 004: AlexNet fig. 1, ReLU vs tanh", alexnet),
)


def verdicts(lines: list[str]) -> list[tuple[str, str]]:
    """(claim, verdict word) of every claim row in a study's lines: a table row whose last
    cell starts with a bold verdict word."""
    found = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) >= 2:
            word = next((w for w in WORDS if cells[-1].startswith(f"**{w}**")), None)
            if word is not None:
                found.append((cells[0], word))
    return found


def glance(rows: list[tuple[str, int, str, str]]) -> list[str]:
    """The verdicts at a glance: (study, seeds, claim, word) rows and a count per word."""
    counts = ", ".join(f"{sum(r[3] == w for r in rows)} {w}" for w in WORDS)
    lines = ["### Verdicts at a glance", "", f"{len(rows)} claims: {counts}.", ""]
    lines += ["| study | seeds per activation | claim | verdict |", "|---|---|---|---|"]
    lines += [f"| {s} | {n} | {c} | **{w}** |" for s, n, c, w in rows]
    return lines + [""]


def section(runs: Path) -> str:
    out, rows = [], []
    for name, title, fn in STUDIES:
        a = _load(runs, name)
        out.append(f"### {title}\n")
        if a is None:
            out.append(f"*No run found in `{runs / name}`.*\n")
            continue
        if name == "deep_xor":
            fixes = {v: f for v in FIXES if (f := _load(runs, f"xor_{v}")) is not None}
            body = deep_xor(a, fixes)
        else:
            body = fn(a)
        article = title.split(":")[0].split(". ", 1)[-1]
        rows += [(article, a["seeds"], c, w) for c, w in verdicts(body)]
        out += body
        out += ["", _run_line(a), ""]
        if name == "deep_xor":
            for f in fixes.values():
                out += [_run_line(f), ""]
    head = glance(rows) if rows else []
    return "\n".join([START, "", *head, *out, END])


def problems(text: str) -> list[str]:
    """What is wrong with a generated section: a verdict word outside ``WORDS``, or the
    retired "disagree" (non-significance is "inconclusive", a shown opposite
    "contradicted")."""
    found = []
    if "disagree" in text.lower():
        found.append('the retired verdict "disagree" appears')
    for line in text.splitlines():
        cell = line.rsplit(" | ", 1)[-1] if line.startswith("| ") else ""
        if cell.startswith("**") and not cell.startswith(tuple(f"**{w}**" for w in WORDS)):
            found.append(f"unknown verdict in: {line[:80]}")
    return found


def _replace(doc: str, text: str) -> str:
    head, rest = doc.split(START, 1)
    return head + text + rest.split(END, 1)[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="the committed data (reproduction/)")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--collect", type=Path, metavar="RUNS", help="copy the runs' data into --data first"
    )
    what.add_argument(
        "--update",
        type=Path,
        nargs="?",
        const=DOCUMENT,
        help="replace the section in this markdown file (default REPRODUCTION.md)",
    )
    what.add_argument(
        "--check",
        type=Path,
        nargs="?",
        const=DOCUMENT,
        help="exit 1 if this file's section (default REPRODUCTION.md) differs from the data's",
    )
    args = p.parse_args(argv)
    if args.collect is not None:
        for path in collect(args.collect, args.data):
            print(f"copied {path}")
        return 0
    text = section(args.data)
    bad = problems(text)
    if bad:
        p.exit(1, "".join(f"{p.prog}: {b}\n" for b in bad))
    target = args.update or args.check
    if target is None:
        print(text)
        return 0
    doc = target.read_text()
    if START not in doc or END not in doc:
        p.exit(2, f"{target} has no {START} ... {END} section\n")
    new = _replace(doc, text)
    if args.check is not None:
        if new != doc:
            p.exit(1, f"{target}: the results section is stale; run --update {target}\n")
        return 0
    target.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
