"""The results section of REPRODUCTION.md, generated from the committed per-study data.

    python experiments/reproduction_table.py --collect runs   # copy the runs' compact data
    python experiments/reproduction_table.py                  # print the markdown
    python experiments/reproduction_table.py --update         # replace REPRODUCTION.md's section
    python experiments/reproduction_table.py --check          # exit 1 if it is stale

``reproduction/NAME/`` holds what each study's run wrote that is small enough to commit:
``seeds.csv`` (every model's outcome, one row per activation x seed), per-step or per-unit
data where a verdict needs them (``curves.npz``: 000's test accuracy after every step,
004's training error every 4 steps; ``census.csv``: 003's unit census per model and layer
at the start and the end; ``selection_time.csv``: 004's learning-rate selection, every
score), and ``analysis.json`` (the run's settings and the measurements that are no
per-seed outcome: wall-clock timings, the gradient check, parameter counts).
Every figure, verdict and sentence that states a number in the section is recomputed here
from those files with ``actlab.stats`` (none typed by hand, none copied from the run's own
tables); the section also records the SHA-256 of every committed file, so ``--check`` fails
when any committed number changes. ``--collect RUNS`` copies the files from the run folders
``RUNS/NAME/`` written by ``experiments/NAME.py``; ``--data`` reads another folder.

Verdicts. Each claim quotes or closely paraphrases its source; words in *italics* are ours
(a level, a reading), and a claim the article did not make is marked *(ours)*. Each gets
one of ``WORDS`` from a rule below (small pure functions over plain numbers; each docstring
states its rule, and each verdict cell says in a few words which rule decided it):
**agree**, **partly** (a settled rate between "reliably" and "mostly not"), **contradicted**,
**not reproduced** (a one-run observation that did not recur), **inconclusive**,
**by construction** (the definition or the set-up decides; nothing was tested), **not
tested** (our protocol differs from the source's in a way that decides the claim).
Non-significance never contradicts a claim.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actlab import outcome, stats  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"
WORDS = (
    "agree",
    "partly",
    "contradicted",
    "not reproduced",
    "inconclusive",
    "by construction",
    "not tested",
)
ALPHA = 0.05  # every test's level (after Holm's correction where there are several)
CONFIDENCE = 0.95
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

# the levels the rules use, stated once (REPRODUCTION.md's prose repeats them)
RELIABLE, UNRELIABLE = 0.9, 0.5  # "learns reliably": CI above 90 %; below 50 %: mostly not
SETTLED = 0.2  # a rate is settled when its CI is at most 20 points wide ("partly": about X %)
OCCURS = 0.05  # "it happens" (seen in the article's one run): a rate clearly above 5 %
DEAD_LEVEL = 0.01  # "avoids dead units": its dead share's CI upper bound below 1 %
KILLED = (0.05, 0.01)  # "kills units": CI above 5 % agrees, CI below 1 % contradicts
HALF_ORDER = 10**0.5  # "order of magnitude": within ±0.5 in log10
ABOUT = 2.0  # "~6x": within a factor 2 of the claimed ratio (3x to 12x)
THROUGHOUT = 0.95  # "ahead throughout": the simultaneous band above 0 at >= 95 % of steps
HIGH_LR = 0.5  # the high learning rate named before the run (10x the catalogue's 0.05)


# ----------------------------------------------------------------------------- verdicts


class Verdict(NamedTuple):
    """A verdict: ``word`` (one of ``WORDS``), ``rule``: which rule decided it, in a few
    words; ``note``: a qualifier shown with the word ("about 53 %", "on Fashion-MNIST;
    MNIST not tested"); ``aside``: for "not tested", what the rule saw on our data; ``p``:
    the p-value of the test that decided it, where one did (for the multiplicity note)."""

    word: str
    rule: str
    note: str = ""
    aside: str = ""
    p: float | None = None

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
        seen = f"{v.rule} ({v.word})" if v.word != "agree" else v.rule
        return Verdict("not tested", untested, aside=seen)

    return wrapper


def _num(x) -> float:
    """JSON null (NaN, inf) and None -> NaN; numbers -> float."""
    return math.nan if x is None else float(x)


@testable
def directional(
    estimate, ci_low, ci_high, p=None, *, claim: str = ">", null: float = 0.0, ci: str = "CI"
) -> Verdict:
    """A directional claim, "A > B" (``claim=">"``: the estimate of A - B, or of A / B with
    ``null=1``, is above ``null``) or "A < B" (``claim="<"``).

    Agree when the CI lies on the claimed side of ``null`` and, if a p-value is given (Holm
    adjusted), p < ALPHA; contradicted when the CI lies on the other side with p < ALPHA
    (significant the other way); inconclusive otherwise: a CI that holds ``null``, a p at or
    above ALPHA, or no CI (an interval the data cannot bound). The CI must be the one that
    inverts the test (Hodges–Lehmann for Wilcoxon), so the two cannot disagree.
    """
    lo, hi = _num(ci_low), _num(ci_high)
    pv = None if p is None else _num(p)
    sig = pv is None or pv < ALPHA
    p_txt = "" if pv is None else f", p {pv:.2g}"
    if not (math.isfinite(lo) or math.isfinite(hi)) or math.isnan(lo) or math.isnan(hi):
        return Verdict("inconclusive", f"no finite {ci}", p=pv)
    above, below = lo > null, hi < null
    if not (above or below):
        return Verdict("inconclusive", f"{ci} holds {null:g}", p=pv)
    if not sig:
        return Verdict("inconclusive", f"{ci} excludes {null:g} but p {pv:.2g} ≥ {ALPHA}", p=pv)
    side = "above" if above else "below"
    word = "agree" if above == (claim == ">") else "contradicted"
    return Verdict(word, f"{ci} {side} {null:g}{p_txt}", p=pv)


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
    """A claim about a share from its 95 % CI: agree when the CI lies above
    ``agree_above``; contradicted when it lies below ``contradict_below``; inconclusive
    otherwise (between the levels, or no CI)."""
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


@testable
def reliable(rate, ci_low, ci_high, *, what: str = "Wilson CI") -> Verdict:
    """ "Learns reliably" (the article's one run succeeded; *reliably* is our reading) from
    a success rate and its Wilson 95 % CI: agree when the CI lies above RELIABLE (90 %);
    contradicted when it lies below UNRELIABLE (50 %: it fails in most seeds); **partly**
    when it lies below 90 %, reaches 50 % and is at most SETTLED (20 points) wide: the rate
    is known and in between ("about 53 %"); inconclusive otherwise (a CI too wide to say)."""
    r, lo, hi = _num(rate), _num(ci_low), _num(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", f"no {what}")
    if lo > RELIABLE:
        return Verdict("agree", f"{what} above {100 * RELIABLE:g} %")
    if hi < UNRELIABLE:
        return Verdict(
            "contradicted", f"{what} below {100 * UNRELIABLE:g} %", "fails in most seeds"
        )
    if hi < RELIABLE and hi - lo <= SETTLED:
        return Verdict(
            "partly",
            f"{what} below {100 * RELIABLE:g} %, not below {100 * UNRELIABLE:g} %, "
            f"{100 * (hi - lo):.0f} points wide",
            f"about {100 * r:.0f} %",
        )
    return Verdict("inconclusive", f"{what} too wide to place ({100 * (hi - lo):.0f} points)")


@testable
def observed(ci_low, ci_high, *, level: float = OCCURS, what: str = "Wilson CI") -> Verdict:
    """ "It happened" (something the article saw in its one run): agree when the rate's CI
    lies above ``level`` (it recurs); **not reproduced** when the CI lies below it (it is
    rare here: a single run cannot show a rate, so this is no contradiction); inconclusive
    otherwise."""
    lo, hi = _num(ci_low), _num(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Verdict("inconclusive", f"no {what}")
    if lo > level:
        return Verdict("agree", f"{what} above {100 * level:g} %")
    if hi < level:
        return Verdict("not reproduced", f"{what} below {100 * level:g} %", "rare here")
    return Verdict("inconclusive", f"{what} holds {100 * level:g} %")


@testable
def cause(with_ci: tuple, without_ci: tuple, *, what: str = "rate") -> Verdict:
    """ "X happens because of C" from the rate of X where C is present and where it is
    absent (95 % CIs): agree when the rate with C lies above the rate without it (the CIs
    apart); contradicted when it lies below (X is rarer where its supposed cause is
    present); inconclusive when the CIs overlap."""
    (wl, wh), (ol, oh) = (tuple(map(_num, with_ci)), tuple(map(_num, without_ci)))
    if not all(math.isfinite(v) for v in (wl, wh, ol, oh)):
        return Verdict("inconclusive", f"no CI of the {what}")
    if wl > oh:
        return Verdict("agree", f"{what} with the cause above the {what} without it")
    if wh < ol:
        return Verdict("contradicted", f"{what} with the cause below the {what} without it")
    return Verdict("inconclusive", f"the {what}s' CIs overlap")


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


def _orders(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@testable
def throughout(share_above, share_below, *, level: float = THROUGHOUT) -> Verdict:
    """ "A is ahead of B throughout training", from a simultaneous 95 % band of A - B over
    every evaluation (``stats.max_t_band``): agree when the band lies above 0 at ``level`` or
    more of the evaluations; contradicted when it lies below 0 at more than 1 - ``level``
    of them (B ahead for a stretch); inconclusive otherwise."""
    up, down = _num(share_above), _num(share_below)
    if not (math.isfinite(up) and math.isfinite(down)):
        return Verdict("inconclusive", "no band")
    if down > 1 - level:
        return Verdict("contradicted", f"band below 0 at {100 * down:.0f} % of steps")
    if up >= level:
        return Verdict(
            "agree", f"simultaneous band above 0 at {100 * up:.0f} % ≥ {100 * level:g} %"
        )
    return Verdict("inconclusive", f"simultaneous band above 0 at only {100 * up:.0f} % of steps")


@testable
def avoids_dead(fix: tuple, reference: tuple, *, level: float = DEAD_LEVEL) -> Verdict:
    """ "This activation avoids the dead units the reference (ReLU) gets", from the dead
    shares at the end of training as 95 % CIs ``(low, high)``: agree when the fix's CI lies
    below ``level`` and the reference's above it (there was something to avoid);
    contradicted when the fix's CI lies above ``level``; inconclusive otherwise."""
    pct_ = f"{100 * level:g} %"
    if _num(fix[0]) > level:
        return Verdict("contradicted", f"its CI above {pct_}")
    if not _num(fix[1]) < level:
        return Verdict("inconclusive", f"its CI reaches {pct_}")
    if not _num(reference[0]) > level:
        return Verdict("inconclusive", f"ReLU's CI not above {pct_} either")
    return Verdict("agree", f"its CI below {pct_}, ReLU's above")


def by_construction(reason: str) -> Verdict:
    """A claim the definition or the set-up decides: nothing was tested. ``reason`` says
    what decides it."""
    return Verdict("by construction", reason)


def on_dataset(v: Verdict, ran_on: str, claimed_on: str) -> Verdict:
    """``v`` for a claim made on ``claimed_on`` and measured on ``ran_on``, where the
    dataset does not decide the claim: the verdict says on which data it was reached."""
    if ran_on == claimed_on or v.word in ("not tested", "by construction"):
        return v
    note = f"on {_name(ran_on)}; {_name(claimed_on)} not tested"
    return v._replace(note=", ".join(x for x in (v.note, note) if x))


def _name(dataset: str) -> str:
    return DATASETS.get(dataset, dataset)


class Claim(NamedTuple):
    """One row of a study's claims table and of the verdicts at a glance."""

    claim: str
    measured: str
    verdict: Verdict
    found: str  # the finding in a few words, for the glance table
    seeds: int | None = None  # seeds per activation behind it, where not the study's

    def row(self) -> str:
        return f"| {self.claim} | {self.measured} | {self.verdict.cell()} |"


# ----------------------------------------------------------------------------- data


DATA = Path(__file__).resolve().parents[1] / "reproduction"
DOCUMENT = Path(__file__).resolve().parents[1] / "REPRODUCTION.md"
COMMITTED = (
    "analysis.json",
    "seeds.csv",
    "curves.npz",
    "census.csv",
    "selection_time.csv",
)
FIXES = ("clipped", "bce", "glorot", "he")  # deep XOR's fix runs, xor_{fix}
EXTRA = ("activation_catalogue_lr",)  # runs read beside a study


def collect(runs: Path, data: Path = DATA) -> list[Path]:
    """Copy each study's ``COMMITTED`` files from ``runs/NAME/`` into ``data/NAME/``;
    returns what was copied. A study without an ``analysis.json`` in ``runs`` keeps what
    ``data`` has."""
    copied = []
    names = [n for n, _, _ in STUDIES] + [f"xor_{f}" for f in FIXES] + list(EXTRA)
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


class Study(NamedTuple):
    """A study's committed files: ``a`` (analysis.json), ``seeds`` (seeds.csv) and the
    folder, for the others."""

    a: dict
    seeds: pd.DataFrame
    folder: Path

    def has(self, name: str) -> bool:
        return (self.folder / name).exists()

    def npz(self, name: str = "curves.npz"):
        return np.load(self.folder / name)

    def csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.folder / name)

    def acts(self) -> list[str]:
        return list(dict.fromkeys(self.seeds["activation"]))

    def matrix(self, column: str, acts=None) -> np.ndarray:
        """``[acts, seeds]`` of a seeds.csv column, rows in ``acts`` order, seeds in order."""
        acts = self.acts() if acts is None else acts
        s = self.seeds
        return np.stack(
            [s[s.activation == a].sort_values("seed")[column].to_numpy(float) for a in acts]
        )

    def diverged(self, acts=None) -> np.ndarray:
        return self.matrix("diverged_at", acts) >= 0

    def itt(self, metric: str, acts=None) -> np.ndarray:
        """The final ``metric`` with every diverged run at its failure value."""
        return outcome.apply(
            self.matrix(metric, acts), self.diverged(acts), metric, int(self.a.get("classes", 10))
        )


def _load(runs: Path, name: str) -> Study | None:
    folder = runs / name
    if not (folder / "analysis.json").exists() or not (folder / "seeds.csv").exists():
        return None
    # "nan" is an outcome label in deep XOR's seeds.csv, not a missing value
    seeds = pd.read_csv(folder / "seeds.csv", keep_default_na=False, na_values=[""])
    return Study(json.loads((folder / "analysis.json").read_text()), seeds, folder)


def digests(runs: Path) -> list[str]:
    """``NAME/FILE=sha256[:12]`` of every committed file, sorted: the section records them,
    so a changed number anywhere in the data makes ``--check`` fail."""
    out = []
    for path in sorted(runs.glob("*/*")):
        if path.name in COMMITTED:
            h = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            out.append(f"{path.parent.name}/{path.name}={h}")
    return out


# ----------------------------------------------------------------------------- formatting


def pct(x, digits: int = 2) -> str:
    return (
        "n/a"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else f"{100 * x:.{digits}f} %"
    )


def band(lo, hi, digits: int = 2, scale: float = 100.0) -> str:
    if lo is None or hi is None or math.isnan(_num(lo)) or math.isnan(_num(hi)):
        return "[n/a]"
    f = lambda v: ("∞" if v > 0 else "-∞") if math.isinf(v) else f"{scale * v:.{digits}f}"  # noqa: E731
    return f"[{f(_num(lo))}, {f(_num(hi))}]"


def _fmt(x, fmt: str = ".0f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "not reached" if x > 0 else "-∞"
    return format(x, fmt)


def _run_line(a: dict) -> str:
    t = a["timing"]
    return (
        f"*Run:* {a['dataset']} ({a['data_source']}), {a['seeds']} seeds x "
        f"{len(a['activations'])} activations, {a['steps']} steps; compile {t['compile_s']:.0f} s, "
        f"train {t['train_s']:.0f} s ({a['machine']}). *Command:* `{a['command']}`"
    )


def _diverged(s: Study, scores: str = "chance") -> str:
    """ "Diverged runs: none" or per activation, with the rule (what a diverged run
    ``scores``)."""
    d = s.diverged().sum(axis=1)
    n = s.diverged().shape[1]
    hit = [f"{a} {k}/{n}" for a, k in zip(s.acts(), d) if k]
    return (
        f"Diverged runs: {', '.join(hit) if hit else 'none'} (every seed counts; a diverged "
        f"run scores {scores})."
    )


def _summary(s: Study, metric: str) -> dict:
    """``outcome.summary`` of the final ``metric`` over every seed, by activation."""
    acts = s.acts()
    t = outcome.summary(s.matrix(metric), s.diverged(), acts, metric, int(s.a.get("classes", 10)))
    return {r["name"]: r for r in t.to_dict("records")}


def _mean_ci(r: dict, digits: int = 2) -> str:
    return f"{pct(r['mean'], digits)} {band(r['ci_low'], r['ci_high'], digits)}"


def _loss(r: dict) -> str:
    return f"{r['mean']:.3f} {band(r['ci_low'], r['ci_high'], 3, 1)}"


def _mc(band: dict, digit: str) -> str:
    """Whether a max-T band's Monte-Carlo error is below its printed digit."""
    if band.get("mc_stable"):
        return f"; Monte-Carlo error below {digit}"
    return f"; Monte-Carlo error not below {digit} at the most draws allowed"


def _pair(values: np.ndarray, acts: list, hi: str, lo: str, p_holm=None) -> dict:
    """hi - lo from ``stats.pairwise`` (paired Wilcoxon, its HL shift and the CI that
    inverts it; p exact or from the permutation distribution under ties), oriented."""
    i, j = acts.index(hi), acts.index(lo)
    r = stats.pairwise(values[[i, j]], [hi, lo]).iloc[0]
    return {
        "estimate": float(r["estimate"]),
        "ci_low": float(r["estimate_ci_low"]),
        "ci_high": float(r["estimate_ci_high"]),
        "mean": float(r["mean_diff"]),
        "p": float(r["p"]) if p_holm is None else float(p_holm),
    }


def _shift(d: dict, scale: float = 100.0, unit: str = " points", digits: int = 2) -> str:
    e = d["estimate"]
    est = "—" if not math.isfinite(e) else f"{scale * e:+.{digits}f}"
    return f"HL shift {est}{unit} {band(d['ci_low'], d['ci_high'], digits, scale)}"


# ----------------------------------------------------------------------------- 000


def two_layer(s: Study) -> tuple[list[str], list[Claim]]:
    a, acts, ds = s.a, s.acts(), s.a["dataset"]
    summ = _summary(s, "test_accuracy")
    acc = s.itt("test_accuracy")
    d = _pair(acc, acts, "relu", "sigmoid")
    better = on_dataset(
        directional(d["estimate"], d["ci_low"], d["ci_high"], d["p"], ci="HL CI"), ds, "mnist"
    )
    loss = s.itt("train_loss")
    dl = _pair(loss, acts, "relu", "sigmoid")
    lsum = _summary(s, "train_loss")
    lower = on_dataset(
        directional(dl["estimate"], dl["ci_low"], dl["ci_high"], dl["p"], claim="<", ci="HL CI"),
        ds,
        "mnist",
    )
    claims = [
        Claim(
            '"comparing the accuracy, ReLU\'s is higher" (*at the end of the epoch*)',
            f"sigmoid {_mean_ci(summ['sigmoid'])}, ReLU {_mean_ci(summ['relu'])} (mean, "
            f"95 % t CI kept in [0, 1], every seed); ReLU - sigmoid {_shift(d)}, paired "
            f"Wilcoxon p {d['p']:.2g}",
            better,
            f"ReLU +{100 * d['estimate']:.2f} points",
        ),
    ]
    if s.has("curves.npz"):
        c = s.npz()
        ca, steps = c["test_accuracy"].astype(float), c["steps"]
        names = [str(x) for x in c["activations"]]
        gap = (ca[names.index("relu")] - ca[names.index("sigmoid")])[:, 1:].T  # [steps, seeds]
        b = stats.max_t_band(gap, transform=lambda v: 100 * v, digits=1, seed=0)
        up, down = float(np.mean(b["low"] > 0)), float(np.mean(b["high"] < 0))
        first = int(steps[1:][np.argmax(b["low"] > 0)]) if (b["low"] > 0).any() else None
        ahead_v = on_dataset(throughout(up, down), ds, "mnist")
        claims.append(
            Claim(
                '"ReLU\'s is higher" read off the accuracy curves (*at every step*)',
                f"simultaneous 95 % band of ReLU - sigmoid (max-T over the {gap.shape[0]} "
                f"steps, {b['n_resamples']} draws{_mc(b, '0.1 point')}) above 0 at {pct(up, 0)} "
                "and below 0 at "
                f"{pct(down, 0)} of the steps; above 0 from step {first} on "
                f"({int(c['eval_examples']) if 'eval_examples' in c else 2000} test examples "
                "per step)",
                ahead_v,
                f"band above 0 at {pct(up, 0)} of steps",
            )
        )
    else:
        claims.append(
            Claim(
                '"ReLU\'s is higher" read off the accuracy curves (*at every step*)',
                "per-step accuracies not committed",
                Verdict("inconclusive", "no per-step data"),
                "not measured",
            )
        )
    claims.append(
        Claim(
            '"the loss is also lower for ReLU" (*the training loss at the end*)',
            f"sigmoid {_loss(lsum['sigmoid'])}, ReLU {_loss(lsum['relu'])} "
            f"(mean, t CI kept at ≥ 0, 1 000 training examples); ReLU - sigmoid "
            f"{_shift(dl, 1.0, '', 3)}, paired Wilcoxon p {dl['p']:.2g}",
            lower,
            f"ReLU {dl['estimate']:+.3f}",
        )
    )
    wt = a.get("wall_time") or {}
    r = wt.get("ratio_sigmoid_over_relu")
    if r is None:
        claims.append(
            Claim(
                '"backprop: ReLU is faster than sigmoid" (16.5 s per epoch)',
                "not timed",
                Verdict("inconclusive", "not timed"),
                "not timed",
            )
        )
    else:
        med = wt["median_s"]
        tv = directional(
            r["ratio"], r["ci_low"], r["ci_high"], r.get("p"), null=1.0, ci="time-ratio CI"
        )
        tv = tv._replace(note=", ".join(x for x in (tv.note, "XLA, shared CPU") if x))
        claims.append(
            Claim(
                '"backprop too: ReLU is faster than sigmoid" (ReLU 16.5 s per epoch)',
                f"one model, {wt['steps']} steps, no evaluation, {wt['repetitions']} "
                f"interleaved timings: median sigmoid {med['sigmoid']:.3f} s, ReLU "
                f"{med['relu']:.3f} s; sigmoid / ReLU x{r['ratio']:.2f} "
                f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] (HL of the paired log-seconds, "
                "signed-rank CI)",
                tv,
                f"x{r['ratio']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]",
            )
        )
    g = a["gradient_check"]
    ratios = [g[k]["ratio"] for k in ("sigmoid", "relu")]
    seen = magnitude(min(ratios), max(ratios), 1000)
    claims.append(
        Claim(
            'the article\'s times: numerical gradient ("forward propagation") ~5 h, '
            "backprop ~16 s per epoch (*~1000x: the ratio is ours*)",
            f"one step: numerical {g['sigmoid']['numerical_s_extrapolated']:.1f} s (sigmoid) / "
            f"{g['relu']['numerical_s_extrapolated']:.1f} s (ReLU), extrapolated from "
            f"{g['relu']['coords']} of {g['relu']['params']} coordinates, vs backprop "
            f"{1e3 * g['sigmoid']['backprop_s']:.2f} / {1e3 * g['relu']['backprop_s']:.2f} ms: "
            f"x{ratios[0]:.3g} / x{ratios[1]:.3g}",
            Verdict(
                "not tested",
                "a ratio of two implementations (the article's Julia code, ours JAX), not "
                "of the methods",
                aside=f"{seen.rule} ({seen.note})" if seen.note else seen.rule,
            ),
            f"x{min(ratios):.2g}-x{max(ratios):.2g} here",
        )
    )
    lines = [
        "| claim (article 000, MNIST, 1 run; *italics: ours*) | measured | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
        f"| (check) backprop equals the numerical gradient | max relative error over "
        f"{g['sigmoid']['checked_coords']} random coordinates, float64: sigmoid "
        f"{g['sigmoid']['max_rel_error']:.1e}; ReLU median {g['relu']['median_rel_error']:.1e}, "
        f"{pct(g['relu']['share_rel_error_above_1e-4'], 1)} above 1e-4 (kinks) | — |",
        "",
        _diverged(s),
        "",
        f"**Reading.** Over {a['seeds']} seeds on {_name(ds)}, ReLU ends the epoch "
        f"{100 * d['estimate']:.2f} points above sigmoid ({better.word}) with a training loss "
        f"{abs(dl['estimate']):.3f} lower ({lower.word})"
        + (
            f", and the simultaneous band puts it ahead at {claims[1].found.split(' at ')[-1]} "
            f"({claims[1].verdict.word})"
            if s.has("curves.npz")
            else ""
        )
        + f". Wall time per epoch: **{claims[3].verdict.word}**. The numerical gradient's "
        "cost against backprop belongs to two implementations, so its ratio is not tested.",
    ]
    return lines, claims


# ----------------------------------------------------------------------------- 001

ARTICLE_001 = {"none": 0.9094, "sigmoid": 0.9714, "tanh": 0.9735, "relu": 0.9739}


def mlp_four(s: Study) -> tuple[list[str], list[Claim]]:
    a, acts, ran_on = s.a, s.acts(), s.a["dataset"]
    summ = _summary(s, "test_accuracy")
    acc = s.itt("test_accuracy")
    pairs = stats.pairwise(acc, acts)  # every pair: Holm's family is all of them
    fam = len(pairs)

    def oriented(hi, lo) -> dict:
        r = pairs[((pairs.a == hi) & (pairs.b == lo)) | ((pairs.a == lo) & (pairs.b == hi))].iloc[0]
        sign = 1.0 if r["a"] == hi else -1.0
        lo_, hi_ = sorted((sign * r["estimate_ci_low"], sign * r["estimate_ci_high"]))
        return {
            "estimate": sign * r["estimate"],
            "ci_low": lo_,
            "ci_high": hi_,
            "mean": sign * r["mean_diff"],
            "p": float(r["p_holm"]),
            "p_raw": float(r["p"]),
        }

    lines = [
        "| activation | article (MNIST, 1 seed) | measured: mean test accuracy [95 % CI] | sd | "
        "seeds (diverged) |",
        "|---|---|---|---|---|",
    ]
    for name in acts:
        r = summ[name]
        art = ARTICLE_001.get(name)
        lines.append(
            f"| {name} | {pct(art) if art else '—'} | {_mean_ci(r)} | {100 * r['std']:.2f} | "
            f"{r['n']} ({r['n_diverged']}) |"
        )
    claims = []
    d = oriented("sigmoid", "none")
    v = on_dataset(
        directional(d["estimate"], d["ci_low"], d["ci_high"], d["p"], ci="HL CI"), ran_on, "mnist"
    )
    claims.append(
        Claim(
            '"adding an activation alone makes a ~7 % difference" (*its direction, none < '
            "sigmoid; the size is MNIST's*)",
            f"sigmoid - none {_shift(d)}; Holm p {d['p']:.2g}",
            v,
            f"+{100 * d['estimate']:.2f} points",
        )
    )
    for lo, hi in (("sigmoid", "tanh"), ("tanh", "relu")):
        d = oriented(hi, lo)
        gap = 100 * (ARTICLE_001[hi] - ARTICLE_001[lo])
        v = directional(
            d["estimate"],
            d["ci_low"],
            d["ci_high"],
            d["p"],
            ci="HL CI",
            untested=f"the MNIST order of a {gap:.2f}-point gap, which the dataset decides"
            + _across_note(s.folder.parent, lo, hi),
        )
        sig = d["p"] < ALPHA and (d["ci_low"] > 0 or d["ci_high"] < 0)
        rev = sig and d["ci_high"] < 0
        found = f"{hi} - {lo} {100 * d['estimate']:+.2f} points, Holm p {d['p']:.2g}"
        if rev:
            found = (
                f"**reversed**: {lo} ahead of {hi} by {-100 * d['estimate']:.2f} points, "
                f"Holm p {d['p']:.2g}"
            )
        claims.append(
            Claim(
                f'"in the order sigmoid < tanh < ReLU the performance was better": {lo} < {hi}',
                f"{hi} - {lo} {_shift(d)}; exact signed-rank p {d['p_raw']:.2g}, "
                f"Holm p {d['p']:.2g}",
                v,
                found,
            )
        )
    lines += [
        "",
        "| claim (article 001, MNIST, 1 seed each) | measured difference [95 % CI] | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
        "",
        f"Tests: paired Wilcoxon signed-rank (exact, or its exact permutation distribution "
        f"where seeds tie), the CI the Hodges–Lehmann shift's inversion of that same test; "
        f"Holm's correction over the family of all {fam} pairs of the {len(acts)} "
        "activations. The article's other reading, that tanh and ReLU are about equal, is "
        "not a claim it made (its text orders them), so it is not tested here.",
    ]
    if "tanh" in acts and "relu" in acts:
        diff = acc[acts.index("relu")] - acc[acts.index("tanh")]
        sd = float(np.std(diff, ddof=1))
        n = stats.seeds_needed(sd, ARTICLE_001["relu"] - ARTICLE_001["tanh"])
        lines += [
            "",
            f"The article's ReLU - tanh gap (0.04 points) against the measured sd of the paired "
            f"differences ({100 * sd:.2f} points) would need **{n} seeds** for 80 % power "
            "(paired t-test, alpha 0.05).",
        ]
    order = sorted(acts, key=lambda k: -summ[k]["mean"])
    lines += [
        "",
        _diverged(s),
        "",
        f"**Reading.** Over {a['seeds']} seeds on {_name(ran_on)}, mean final test accuracy, "
        "highest first: " + ", ".join(f"{k} {pct(summ[k]['mean'])}" for k in order) + ". "
        f"A linear model is far below every nonlinearity ({claims[0].verdict.word}). The "
        "order inside sigmoid / tanh / ReLU is MNIST's and is not tested, but what Fashion-MNIST "
        f"shows is stated: {claims[1].found}; {claims[2].found}.",
    ]
    return lines, claims


# ----------------------------------------------------------------------------- 002


def _rates(s: Study) -> dict:
    """{act: {outcome: (k, n, rate, lo, hi)}} over every seed of a deep XOR run."""
    out = {}
    for act in s.acts():
        o = s.seeds[s.seeds.activation == act]["outcome"].to_numpy()
        n = o.size
        out[act] = {}
        for what in ("solved", "stuck", "nan"):
            k = int((o == what).sum())
            lo, hi = stats.wilson(k, n)
            out[act][what] = (k, n, k / n, lo, hi)
    return out


def _rate_cell(r: tuple, digits: int = 1) -> str:
    k, n, rate, lo, hi = r
    return f"{k}/{n} = {pct(rate, digits)} {band(lo, hi, 1)}"


def _short(r: tuple) -> str:
    return f"{pct(r[2], 0)} {band(r[3], r[4], 1)}"


def vanishing(s: Study) -> dict:
    """Per activation, the log10 ratio of layer-1 to layer-10 gradient norm at
    initialisation over every seed: a seed whose ratio is missing although its loss was
    finite at step 0 (it never diverged, or diverged later) had a zero layer-1 gradient (a
    dead network, the strongest vanishing: -inf); a seed that diverged at step 0 has none
    (its loss was already infinite) and is counted apart. Median with the sign test's CI
    (``stats.summarize``), the share with no layer-1 gradient."""
    out = {}
    for act in s.acts():
        g = s.seeds[s.seeds.activation == act]
        r = g["log10_grad_ratio"].to_numpy(float)
        at0 = g["diverged_at"].to_numpy() == 0
        zero = np.isnan(r) & ~at0
        undefined = np.isnan(r) & at0
        v = np.where(zero, -np.inf, r)[~undefined]
        t = stats.summarize(v[None], [act]).iloc[0]
        out[act] = {
            "n": int(v.size),
            "n_zero": int(zero.sum()),
            "n_undefined": int(undefined.sum()),
            "median": float(t["median"]),
            "low": float(t["median_ci_low"]),
            "high": float(t["median_ci_high"]),
        }
    return out


def deep_xor(s: Study, fixes: dict[str, Study]) -> tuple[list[str], list[Claim]]:
    a, acts = s.a, s.acts()
    rates = _rates(s)
    lines = [
        "| activation | solved | stuck | NaN (diverged) | first NaN step: median (quartiles) |",
        "|---|---|---|---|---|",
    ]
    for name in acts:
        at = s.matrix("diverged_at", [name])[0]
        at = at[at >= 0]
        when = (
            "—"
            if not at.size
            else (f"{np.median(at):.0f} ({np.quantile(at, 0.25):.0f}-{np.quantile(at, 0.75):.0f})")
        )
        r = rates[name]
        lines.append(
            f"| {name} | {_rate_cell(r['solved'])} | {_rate_cell(r['stuck'])} | "
            f"{_rate_cell(r['nan'])} | {when} |"
        )
    lines += [
        "",
        "(Every seed in one category: solved = never diverged and all four points right at the "
        "end; NaN = diverged at some step, whatever it had learnt; stuck = the rest. Wilson 95 % "
        "CIs over all seeds.)",
    ]
    claims = []
    van = vanishing(s)
    if "sigmoid" in acts:
        sol, nan = rates["sigmoid"]["solved"], rates["sigmoid"]["nan"]
        fails = proportion(
            1 - sol[4],
            1 - sol[3],
            agree_above=RELIABLE,
            contradict_below=UNRELIABLE,
            contradicted_note="it learns in most seeds",
            what="Wilson CI of not solving",
        )
        claims.append(
            Claim(
                '10 sigmoid layers: "the accuracy also fell to 0.5" (*does not learn XOR in '
                "20 001 steps*)",
                f"solved {_rate_cell(sol)}",
                fails,
                f"solved {pct(sol[2], 1)}",
            )
        )
        claims.append(
            Claim(
                '"after 17 500 steps the cost vanishes into NaN" (sigmoid)',
                f"NaN {_rate_cell(nan)}",
                observed(nan[3], nan[4]),
                f"NaN in {nan[0]}/{nan[1]}",
            )
        )
        relu_like = [x for x in acts if x.startswith("relu") or x.startswith("leaky")]
        if relu_like:
            k = sum(rates[x]["nan"][0] for x in relu_like)
            n = sum(rates[x]["nan"][1] for x in relu_like)
            lo, hi = stats.wilson(k, n)
            after = {}
            for name, f in fixes.items():
                if name in ("glorot", "he"):
                    g = f.seeds[f.seeds.activation.isin(relu_like)]
                    after[name] = (
                        int(((g.outcome == "nan") & (g.train_accuracy == 1)).sum()),
                        int((g.outcome == "nan").sum()),
                    )
            solved_first = ""
            if after:
                k2, n2 = sum(x[0] for x in after.values()), sum(x[1] for x in after.values())
                solved_first = (
                    f"; under Glorot / He init, {k2} of the {n2} NaN runs had solved XOR first "
                    "(learn, then NaN)"
                )
            sv = van["sigmoid"]
            claims.append(
                Claim(
                    '"the cost became NaN because the gradient vanished"',
                    f"sigmoid, whose layer-1 gradient is 10^{sv['median']:.1f} of the top's, "
                    f"goes NaN in {_rate_cell(nan)}; the ReLU family, whose gradient does not "
                    f"vanish so, in {k}/{n} = {pct(k / n, 1)} {band(lo, hi, 1)}{solved_first}",
                    cause((nan[3], nan[4]), (lo, hi), what="NaN rate"),
                    "NaN where the gradient does not vanish",
                )
            )
    for name in [x for x in acts if x != "sigmoid"]:
        r = rates[name]["solved"]
        ours = " (*slope 0.01: ours; TF's leaky_relu is 0.2*)" if name == "leaky_relu" else ""
        claims.append(
            Claim(
                f'"every activation learned and classified successfully": {name}{ours} '
                "(*reliably: in ≥ 90 % of seeds*)",
                f"solved {_rate_cell(r)}",
                reliable(r[2], r[3], r[4]),
                f"solved {pct(r[2], 0)}",
            )
        )
    if "sigmoid" in van:
        sv = van["sigmoid"]
        per_layer = 10 ** (sv["median"] / 9)
        others = ", ".join(
            f"{x} {van[x]['median']:.2f} (n {van[x]['n']}, {van[x]['n_zero']} at -∞"
            + (
                f", {van[x]['n_undefined']} diverged at step 0 left out"
                if van[x]["n_undefined"]
                else ""
            )
            + ")"
            for x in acts
            if x != "sigmoid"
        )
        claims.append(
            Claim(
                '"the gradient reaching the first layers approaches 0" (vanishing gradient, '
                "sigmoid)",
                f"median log10(‖g₁‖/‖g₁₀‖) at init over all {sv['n']} seeds: sigmoid "
                f"{sv['median']:.2f} [{sv['low']:.2f}, {sv['high']:.2f}] (sign-test CI), a "
                f"factor {per_layer:.2f} per layer (the article's 0.1 was an illustration, "
                f"article 003's 0.25 the derivative's bound); {others} (a zero layer-1 "
                "gradient, a dead network, counts as -∞)",
                directional(sv["median"], sv["low"], sv["high"], claim="<", ci="CI of the median"),
                f"10^{sv['median']:.1f} at layer 1",
            )
        )
    lines += [
        "",
        "| claim (article 002, 1 run each; *italics: ours*) | measured | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
    ]
    if fixes:
        lines += [
            "",
            "Fixes (same network; "
            + ", ".join(f"{k}: {v.a['seeds']} seeds" for k, v in fixes.items())
            + "): solved rate / NaN rate, over all seeds",
            "",
            "| activation | N(0,1), unclipped | " + " | ".join(fixes) + " |",
            "|---|---|" + "---|" * len(fixes),
        ]
        frates = {k: _rates(f) for k, f in fixes.items()}
        for name in acts:
            cells = [
                f"{_short(r[name]['solved'])} / {pct(r[name]['nan'][2], 0)}"
                for r in (rates, *frates.values())
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "(solved: rate [Wilson 95 % CI] / NaN rate.)"]
    blew = [x for x in acts if rates[x]["nan"][0]]
    lines += [
        "",
        f"**Reading.** {a['seeds']} seeds per activation. Sigmoid networks never solve XOR "
        f"and never go NaN: they end stuck, with the vanishing gradient measured at "
        f"initialisation. The NaN runs are in "
        + ", ".join(f"{x} ({pct(rates[x]['nan'][2], 0)})" for x in blew)
        + ", nets whose gradient does not vanish: the article's explanation of its NaN is "
        "contradicted. Counted as the failures they are, "
        + ", ".join(f"{x} solves XOR in {_short(rates[x]['solved'])}" for x in blew)
        + ". The fixes separate the two failures: clipping turns NaN runs into stuck ones, "
        "the stable loss from the logit and a scaled initialisation rescue most of them.",
    ]
    return lines, claims


# ----------------------------------------------------------------------------- 003


CENSUS = ("inactive", "dead", "saturated")


def census_share(census: pd.DataFrame, act: str, kind: str, when: str, lr=None) -> dict:
    """A census share pooled over seeds and layers (``stats.clustered_wilson``: one cluster
    per seed, Kish's design effect), for one activation (and rate), over the models that did
    not diverge."""
    c = census[(census.activation == act) & (census.when == when)]
    if lr is not None:
        c = c[np.isclose(c.lr, lr)]
    c = c[c[kind].notna()]
    per = c.groupby("seed")[[kind, "units"]].sum()
    if per.empty:
        return {"rate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    r = stats.clustered_wilson(per[kind].to_numpy(), per["units"].to_numpy())
    return r | {"seeds": int(len(per))}


def _share(r: dict, digits: int = 1) -> str:
    if not r.get("n"):
        return "—"
    return f"{pct(r['rate'], digits)} {band(r['ci_low'], r['ci_high'], digits)}"


def catalogue(s: Study, lr_run: Study | None) -> tuple[list[str], list[Claim]]:
    a, acts, ran_on = s.a, s.acts(), s.a["dataset"]
    p = {r["name"]: r for r in a["parameters"]}
    summ = _summary(s, "test_accuracy")
    census = s.csv("census.csv") if s.has("census.csv") else None
    lines = []
    if census is not None:
        lines += [
            "| activation | inactive at start | inactive at end | dead at start | dead at end | "
            "saturated at end | test accuracy | parameters |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in acts:
            cells = [
                _share(census_share(census, name, k, w))
                for k, w in (("inactive", "start"), ("inactive", "end"), ("dead", "start"),
                             ("dead", "end"), ("saturated", "end"))
            ]  # fmt: skip
            lines.append(
                f"| {name} | {' | '.join(cells)} | {_mean_ci(summ[name])} | {p[name]['params']} |"
            )
        lines += [
            "",
            f"(Shares of the {2 * 128} hidden units pooled over the {a['seeds']} seeds, Wilson "
            "95 % CIs at Kish's effective sample size (units of one network are not "
            f"independent). On the first {a['census_examples']} training examples: *inactive*, "
            "z ≤ 0 on all of them (maxout: one piece always wins); *dead*, the output barely "
            f"varies, std f(z) ≤ {a['dead_tol']:g} · max|f'| · std z, a test any unit can fail, "
            "but not leaky ReLU at slope 0.01 unless its input is constant (its output varies "
            f"by ≥ 0.01 std z); *saturated*, |f'| < {a['saturation']:g} · max|f'| on all of "
            "them. Test accuracy: mean, t CI kept in [0, 1].)",
        ]
    claims = []
    relu_dead = census_share(census, "relu", "dead", "end") if census is not None else None
    if census is not None and "relu" in acts:
        start = census_share(census, "relu", "inactive", "start")
        claims.append(
            Claim(
                '"with a bad initialisation ... no input data activates it" (article 004; ReLU)',
                f"our biases start at {a['bias_mean']}: {_share(start)} of ReLU units inactive "
                "at step 0",
                by_construction("the initialisation was built to do this"),
                f"{pct(start['rate'], 0)} at step 0",
            )
        )
        v = on_dataset(
            proportion(relu_dead["ci_low"], relu_dead["ci_high"], agree_above=KILLED[0],
                       contradict_below=KILLED[1], what="CI of the dead share"),
            ran_on, "mnist",
        )  # fmt: skip
        claims.append(
            Claim(
                "*(ours)* ... and those units stay dead through training",
                f"dead at the end: {_share(relu_dead)}",
                v,
                f"{pct(relu_dead['rate'], 1)} dead at the end",
            )
        )
    if lr_run is not None and lr_run.has("census.csv"):
        lc = lr_run.csv("census.csv")
        lrs = sorted(set(lc.lr))
        cells = {lr: census_share(lc, "relu", "dead", "end", lr) for lr in lrs}
        div = lr_run.seeds
        ndiv = {
            lr: int(
                ((div.activation == "relu") & np.isclose(div.lr, lr) & (div.diverged_at >= 0)).sum()
            )
            for lr in lrs
        }
        hi = cells.get(HIGH_LR, {"ci_low": math.nan, "ci_high": math.nan})
        v = on_dataset(
            proportion(hi["ci_low"], hi["ci_high"], agree_above=KILLED[0],
                       contradict_below=KILLED[1], what=f"CI of the dead share at lr {HIGH_LR:g}"),
            ran_on, "mnist",
        )  # fmt: skip
        claims.append(
            Claim(
                '"if the learning rate is high [units] leave the data cloud ... and die" '
                "(article 004; ReLU)",
                "dead at the end of one epoch, unshifted init, SGD at lr "
                + ", ".join(
                    f"{lr:g}: {_share(cells[lr])}"
                    + (
                        f" ({ndiv[lr]} of {lr_run.a['seeds']} diverged, left out)"
                        if ndiv[lr]
                        else ""
                    )
                    for lr in lrs
                )
                + f" (lr {HIGH_LR:g} named in advance)",
                v,
                f"{pct(hi.get('rate'), 1)} dead at lr {HIGH_LR:g}",
                int(lr_run.a["seeds"]),
            )
        )
    if census is not None:
        if "leaky_relu" in acts:
            r = census_share(census, "leaky_relu", "dead", "end")
            claims.append(
                Claim(
                    '"Leaky ReLU ... is not 0 for negative inputs" (*so no dead units*)',
                    f"dead at the end: {_share(r)}",
                    by_construction(
                        "at slope 0.01 the census cannot call it dead (std f(z) ≥ 0.01 std z "
                        f"> {a['dead_tol']:g} std z) unless its input is constant"
                    ),
                    f"{pct(r['rate'], 1)} dead",
                )
            )
        if "prelu" in acts and relu_dead is not None:
            r = census_share(census, "prelu", "dead", "end")
            claims.append(
                Claim(
                    '"PReLU ... learns the parameter a" like Leaky ReLU (*so no dead units*)',
                    f"dead at the end: {_share(r)}; ReLU {_share(relu_dead)}",
                    on_dataset(
                        avoids_dead(
                            (r["ci_low"], r["ci_high"]), (relu_dead["ci_low"], relu_dead["ci_high"])
                        ),
                        ran_on,
                        "mnist",
                    ),
                    f"{pct(r['rate'], 1)} dead",
                )
            )
        if "elu" in acts:
            r = census_share(census, "elu", "saturated", "end")
            dd = census_share(census, "elu", "dead", "end")
            claims.append(
                Claim(
                    '"ELU ... for negative inputs the gradient disappears again"',
                    "f'(z) = e^z for z < 0",
                    by_construction("ELU's derivative tends to 0 as z → -∞ by its formula"),
                    "f' = e^z below 0",
                )
            )
            claims.append(
                Claim(
                    "*(ours)* ... so that ELU units stop passing a gradient (\\|f'\\| < 1 % of "
                    "its maximum on every example)",
                    f"saturated at the end: {_share(r)}; dead {_share(dd)}",
                    on_dataset(
                        proportion(
                            r["ci_low"],
                            r["ci_high"],
                            agree_above=KILLED[0],
                            contradict_below=KILLED[1],
                            what="CI of the saturated share",
                        ),
                        ran_on,
                        "mnist",
                    ),
                    f"{pct(r['rate'], 1)} saturated",
                )
            )
    if "maxout" in p and "relu" in p:
        x = p["maxout"]["vs_relu"]
        claims.append(
            Claim(
                '"maxout ... the number of parameters per neuron doubles"',
                f"{p['maxout']['params']} vs ReLU {p['relu']['params']} (x{x:.3f}: the output "
                "layer is not doubled)",
                by_construction("two weight vectors per unit is maxout's definition"),
                f"x{x:.3f} parameters",
            )
        )
    if "step" in acts and "relu" in acts:
        acc = s.itt("test_accuracy")
        d = _pair(acc, acts, "relu", "step")
        claims.append(
            Claim(
                'the step function: "very low performance on complex data that needs deep '
                'learning"',
                f"test accuracy step {_mean_ci(summ['step'])}, ReLU {_mean_ci(summ['relu'])}; "
                f"ReLU - step {_shift(d)}, paired Wilcoxon p {d['p']:.2g}",
                on_dataset(
                    directional(d["estimate"], d["ci_low"], d["ci_high"], d["p"], ci="HL CI"),
                    ran_on,
                    "mnist",
                ),
                f"step {pct(summ['step']['mean'], 1)}",
            )
        )
        st = a.get("step") or {}
        claims.append(
            Claim(
                "*(ours)* the step function passes no gradient to the hidden layers",
                f"largest hidden-layer gradient norm traced: {st.get('max_hidden_grad_norm')}; "
                f"hidden weights moved by {st.get('max_hidden_weight_change')}",
                by_construction("f' = 0 wherever it is defined"),
                "0 gradient",
            )
        )
    lines += [
        "",
        "| claim (articles 003, 004; *italics: ours*) | measured | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
        "",
        _diverged(s),
        "",
        _catalogue_reading(claims),
    ]
    return lines, claims


def _catalogue_reading(claims: list[Claim]) -> str:
    """003's reading: each claim's finding and word, in the order of the table."""
    said = "; ".join(
        f"{c.claim.split(' (')[0].replace('*(ours)* ... ', '').strip()} — {c.found} "
        f"({c.verdict.word})"
        for c in claims
    )
    return f"**Reading.** {said}."


# ----------------------------------------------------------------------------- 004


def _times_004(s: Study, A) -> tuple[dict, list[float], int, bool]:
    """004's steps to each threshold, ``{threshold: [acts=(relu, tanh), seeds]}``: from
    ``curves.npz`` at every threshold of ``A.CURVE`` (the protocol of issue 29), else from
    the three columns of an earlier run's seeds.csv (25 / 20 / 15 %). Also the thresholds,
    n, and whether the whole curve was committed."""
    if s.has("curves.npz"):
        c = s.npz()
        err, steps, div = c["train_error"].astype(float), c["steps"], c["diverged"]
        acts = [str(x) for x in c["activations"]]
        idx = [acts.index("relu"), acts.index("tanh")]
        out = {th: A.times_at(err, steps, div, th)[idx] for th in A.CURVE}
        return out, list(A.CURVE), err.shape[1], True
    ths = [0.25, 0.20, 0.15]
    out = {th: s.matrix(f"steps_to_{round(100 * th)}pc", ["relu", "tanh"]) for th in ths}
    return out, ths, out[0.25].shape[1], False


def alexnet(s: Study) -> tuple[list[str], list[Claim]]:
    from experiments import alexnet_relu_vs_tanh as A

    a = s.a
    ds = a["dataset"]
    why = [f"ran on {_name(ds)}, not CIFAR-10"] if ds != "cifar10" else []
    times, ths, n, whole = _times_004(s, A)
    main = A.speedup(times[0.25][0], times[0.25][1])
    rows = [{"threshold": th, **A.speedup(t[0], t[1])} for th, t in times.items()]
    full = [i for i, th in enumerate(ths) if np.isfinite(times[th]).all()]
    bandinfo = {}
    if full:
        d = np.stack([np.log(times[ths[i]][1]) - np.log(times[ths[i]][0]) for i in full])
        bb = stats.max_t_band(d, seed=0)
        bandinfo = bb
        for k, i in enumerate(full):
            rows[i]["band_low"], rows[i]["band_high"] = (
                math.exp(bb["low"][k]),
                math.exp(bb["high"][k]),
            )
    v = magnitude(
        main["ci_low"], main["ci_high"], 6.0, factor=ABOUT, untested="; ".join(why) or None
    )
    v = v._replace(p=None)
    wt = a.get("wall_time") or {}
    tr = wt.get("ratio_tanh_over_relu")
    sec = a.get("seconds_per_step") or {}
    timing = ""
    if tr:
        unbounded = tr.get("ci_high") is None or not tr.get("ci_low")
        ci_t = (
            f"no CI: {wt['repetitions']} paired timings cannot bound it"
            if unbounded
            else f"[{tr['ci_low']:.2f}, {tr['ci_high']:.2f}], {wt['repetitions']} paired timings"
        )
        timing = (
            f"; a step costs {sec['relu']:.3f} s (ReLU) and {sec['tanh']:.3f} s (tanh) per model, "
            f"tanh / ReLU x{tr['ratio']:.2f} ({ci_t}; no interval is given for seconds to a "
            "threshold: a step CI times a constant is not one)"
        )
    claims = [
        Claim(
            '"as the AlexNet paper also shows, [ReLU converges] 6 times faster than tanh" '
            "(fig. 1: 25 % training error on CIFAR-10)",
            f"{_name(ds)}, {n} seeds: steps to 25 % (named before the run) ReLU median "
            f"{_fmt(main['relu_median_steps'])}, tanh {_fmt(main['tanh_median_steps'])}; "
            f"tanh / ReLU x{main['ratio']:.2f} [{main['ci_low']:.2f}, {main['ci_high']:.2f}] "
            f"(HL of the paired per-seed log-ratios, signed-rank CI, p {main['p']:.2g}){timing}",
            v,
            f"x{main['ratio']:.2f} [{main['ci_low']:.2f}, {main['ci_high']:.2f}]",
        )
    ]
    lines = [
        "| claim (article 004, AlexNet fig. 1) | measured | verdict |",
        "|---|---|---|",
        *[cl.row() for cl in claims],
        "",
        _diverged(s),
    ]
    if s.has("selection_time.csv"):
        sel = s.csv("selection_time.csv")
        chosen = A.choose_by_time(sel)
        seeds_per = int(sel.groupby(["activation", "lr"]).size().min())
        parts = []
        for act, g in sel.groupby("activation", sort=False):
            cells = []
            for lr, h in g.groupby("lr", sort=False):
                tt = h["steps_to_25pc_val"].to_numpy(float)
                mark = " **(chosen)**" if lr == chosen[act] else ""
                cells.append(f"{lr:g}: {_fmt(float(np.median(tt)))}{mark}")
            parts.append(f"{act}: " + ", ".join(cells))
        lines += [
            "",
            f"Learning rates, each activation's own, chosen by the median steps to 25 % "
            f"validation error over {seeds_per} selection seeds per rate (a validation split "
            "held out of the training data): " + "; ".join(parts) + ".",
        ]
    elif a.get("lrs"):
        lines += [
            "",
            "Learning rates (earlier protocol): "
            + ", ".join(f"{k} {x:g}" for k, x in a["lrs"].items())
            + ", each chosen by its final validation accuracy on 1 selection seed per rate, "
            "not by time to the threshold as the paper chose them.",
        ]
    cells = []
    for r in rows:
        b = "—" if "band_low" not in r else f"[{r['band_low']:.2f}, {r['band_high']:.2f}]"
        ratio = f"{r['ratio']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        reached = f"{r['relu_reached']}, {r['tanh_reached']}"
        cells.append((pct(r["threshold"], 0), ratio, b, reached))
    what = (
        "thresholds fixed before the run"
        if whole
        else "the three thresholds the earlier run committed per seed"
    )
    lines += [
        "",
        f"The speed-up over {what} (steps, tanh / ReLU: HL of the paired log-ratios with its "
        "signed-rank CI, pointwise; and the simultaneous 95 % band over the thresholds every "
        f"run reached, max-T, {bandinfo.get('n_resamples', '—')} draws"
        f"{_mc(bandinfo, '0.01') if bandinfo else ''}):",
        "",
        "| threshold | " + " | ".join(x[0] for x in cells) + " |",
        "|---|" + "---|" * len(cells),
        "| ratio [pointwise CI] | " + " | ".join(x[1] for x in cells) + " |",
        "| simultaneous band | " + " | ".join(x[2] for x in cells) + " |",
        "| reached (ReLU, tanh) | " + " | ".join(x[3] for x in cells) + " |",
    ]
    above = [x[0] for x, r in zip(cells, rows) if r.get("band_low", 0) > 1]
    below = [x[0] for x, r in zip(cells, rows) if r.get("band_high", 2) < 1]
    pointwise = [x[0] for x, r in zip(cells, rows) if r["ci_low"] > 1 or r["ci_high"] < 1]
    how = (
        "each at its own rate chosen by time to 25 % validation error"
        if s.has("selection_time.csv")
        else "each at the rate of the earlier selection"
    )
    lines += [
        "",
        f"**Reading.** Over {n} seeds per activation on {_name(ds)}, {how}, tanh / ReLU "
        f"steps to 25 % training error is x{main['ratio']:.2f} [{main['ci_low']:.2f}, "
        f"{main['ci_high']:.2f}], against the paper's ~6x. The simultaneous band lies above "
        f"1 (ReLU sooner) at {len(above)} of the {len(cells)} thresholds"
        f"{' (' + ', '.join(above) + ')' if above else ''} and below 1 (tanh sooner) at "
        f"{len(below)}{' (' + ', '.join(below) + ')' if below else ''}"
        + (
            f"; the pointwise CIs exclude 1 at {', '.join(pointwise)}, which the band, "
            f"corrected for the {len(cells)} thresholds, does not confirm"
            if pointwise and not (above or below)
            else ""
        )
        + f". Verdict: **{v.word}** (the data set decides the claim).",
    ]
    if not whole:
        lines += [
            "",
            "*Not yet run:* the protocol of issue 29 (rates chosen by steps to 25 % validation "
            "error over 3 selection seeds per rate, training error every 4 steps, the whole "
            "threshold curve committed as `curves.npz`): `python "
            "experiments/alexnet_relu_vs_tanh.py --select-by-time 0.01,0.03,0.1 --out "
            "runs/alexnet_relu_vs_tanh` (~40 CPU-minutes). The figures above are the earlier "
            "run's, recomputed from its seeds.csv with the paired log-ratio.",
        ]
    return lines, claims


# ----------------------------------------------------------------------------- transformer FFN


SHAZEER = (("geglu", "relu"), ("geglu", "gelu"), ("swiglu", "relu"), ("swiglu", "gelu"))
PRIMER = (("relu2", "gelu"), ("relu2", "relu"))
NANOGPT_BAND = (-0.02, -0.01)  # "~1-2 % better": the relative loss difference claimed


@testable
def within(ci_low, ci_high, low: float, high: float, *, factor: float = ABOUT) -> Verdict:
    """A claimed size "between ``low`` and ``high``" (both negative: a relative decrease):
    agree when the CI lies inside the band widened by ``factor`` (``low * factor`` to
    ``high / factor``), contradicted when it lies wholly outside that widened band,
    inconclusive otherwise."""
    lo, hi = _num(ci_low), _num(ci_high)
    wide = (low * factor, high / factor)
    what = f"CI {band(lo, hi, 2)} % against {100 * wide[0]:.1f} to {100 * wide[1]:.1f} %"
    if math.isnan(lo) or math.isnan(hi):
        return Verdict("inconclusive", "no finite CI")
    if wide[0] <= lo and hi <= wide[1]:
        return Verdict("agree", f"{what}: inside")
    if hi < wide[0] or lo > wide[1]:
        return Verdict("contradicted", f"{what}: outside")
    return Verdict("inconclusive", f"{what}: overlaps its edge")


def transformer(s: Study) -> tuple[list[str], list[Claim]]:
    a, acts = s.a, s.acts()
    summ = _summary(s, "test_loss")
    loss = s.itt("test_loss")  # [acts, seeds]; a diverged run at +inf
    pairs = stats.pairwise(loss, acts)  # every pair: Holm's family is all of them
    fam = len(pairs)
    times = s.matrix("steps_to_threshold")  # inf: never reached
    bits = 1 / math.log(2)
    lrs, fixed = a.get("act_lrs") or {}, "the protocol's"

    def worse_minus_better(better: str, worse: str) -> dict:
        r = pairs[
            ((pairs.a == worse) & (pairs.b == better)) | ((pairs.a == better) & (pairs.b == worse))
        ]
        r = r.iloc[0]
        sign = 1.0 if r["a"] == worse else -1.0
        lo, hi = sorted((sign * r["estimate_ci_low"], sign * r["estimate_ci_high"]))
        return {"estimate": sign * r["estimate"], "ci_low": lo, "ci_high": hi,
                "p": float(r["p_holm"]), "p_raw": float(r["p"])}  # fmt: skip

    lines = [
        "| activation | parameters | FFN units | lr | final test loss, nats/char "
        "[95 % CI] | bits/char | seeds (diverged) | steps to "
        f"{a['threshold']:g} nats: median (reached) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, name in enumerate(acts):
        r = summ[name]
        t = times[i]
        reached = int(np.isfinite(t).sum())
        lines.append(
            f"| {name} | {a['parameters'][name]:,} | {a['ffn_units'][name]} | "
            f"{lrs.get(name, fixed)} | {_loss(r)} | {bits * r['mean']:.3f} | "
            f"{r['n']} ({r['n_diverged']}) | {_fmt(float(np.median(t)))} ({reached}/{t.size}) |"
        )
    scale = (
        f"a {a['model']['layers']}-layer, width-{a['model']['width']} character model "
        f"({a['parameters'][acts[0]]:,} parameters)"
    )
    claims = []
    for source, pairs_ in (("Shazeer 2020", SHAZEER), ("So et al. 2021", PRIMER)):
        for better, worse in pairs_:
            if better not in acts or worse not in acts:
                continue
            d = worse_minus_better(better, worse)
            v = directional(d["estimate"], d["ci_low"], d["ci_high"], d["p"], ci="HL CI")
            claims.append(
                Claim(
                    f'"{better} reaches a lower loss than {worse}" ({source}, one run at scale)',
                    f"{worse} - {better} "
                    f"{_shift(d, scale=1.0, unit=' nats', digits=4)}; Holm p {d['p']:.2g}",
                    v,
                    f"{worse} - {better} {d['estimate']:+.4f} nats, Holm p {d['p']:.2g}",
                )
            )
    if "relu2" in acts and "gelu" in acts:
        rel = loss[acts.index("relu2")] / loss[acts.index("gelu")] - 1.0
        r = stats.summarize(rel[None], ["relu2/gelu"]).iloc[0]
        v = within(
            r["ci_low"],
            r["ci_high"],
            *NANOGPT_BAND,
            untested="the size of a gap in a 124M GPT on web text, which the scale decides",
        )
        claims.append(
            Claim(
                '"ReLU² is ~1-2 % better than GELU" (modded-nanogpt code comment)',
                f"relu2 / gelu - 1: mean {100 * r['mean']:+.2f} % "
                f"{band(r['ci_low'], r['ci_high'])} (t CI)",
                v,
                f"{100 * r['mean']:+.2f} % loss",
            )
        )
    if "relu2" in acts and "swiglu" in acts:
        i, j = acts.index("relu2"), acts.index("swiglu")
        q = stats.threshold_ratio(times[i], times[j])
        ratio = f"{q['ratio']:.2f} {band(q['ci_low'], q['ci_high'], 2, 1)}"
        v = directional(
            q["ratio"],
            q["ci_low"],
            q["ci_high"],
            null=1.0,
            ci="bootstrap CI",
            untested="wall-clock time to loss 4.5 on a 151M model, which the scale decides",
        )
        claims.append(
            Claim(
                '"ReLU² reached loss 4.5 in 1:52, SwiGLU in 1:59" (one run, 151M parameters, '
                '"needs to be verified")',
                f"median steps to {a['threshold']:g} nats, swiglu / relu2: {ratio} (paired "
                f"bootstrap; censored: relu2 {q['censored_a']}, swiglu {q['censored_b']})",
                v,
                f"swiglu / relu2 steps {q['ratio']:.2f}",
            )
        )
    lines += [
        "",
        "| claim | measured [95 % CI] | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
        "",
        "Every activation's model has the ReLU model's parameters within 1 %: a GLU's (and "
        "maxout's) feed-forward layer has round(2 d_ff / (pieces + 1)) units (Shazeer's "
        "d_ff x 2/3 for two pieces), `models.ffn_width`. The test loss is read on 1 000 windows "
        "of the text's last 10 %, never seen in training or in the choice of the rates (made "
        "on the training region's tail). Tests: paired Wilcoxon signed-rank "
        "on the final test loss (a diverged run at +inf loss: every seed counts), the "
        f"CI the Hodges–Lehmann shift's inversion of that test; Holm over all {fam} pairs of "
        f"the {len(acts)} activations. Scale: {scale}, {a['steps']} steps of 32 windows; the "
        "sources ran models 10^3 to 10^4 times larger, so a directional verdict here says what "
        f"holds at this size, and the sizes of their gaps are not tested. Optimizer: "
        f"{a.get('optimizer')}"
        + (", each activation at its own rate chosen on a validation split." if lrs else "."),
    ]
    order = sorted(acts, key=lambda k: summ[k]["mean"])
    same = ""
    if "relu2" in acts and "swiglu" in acts:  # the 151M report's pair, read as "about the same"
        b = loss[acts.index("swiglu")]
        eq = stats.equivalence(loss[acts.index("relu2")], b, 0.01 * float(np.median(b)))
        same = (
            f'ReLU² and SwiGLU *(ours: the 151M report read as "about the same")*: '
            f"{'equivalent' if eq['equivalent'] else 'not shown equivalent'} within ±1 % of "
            f"the loss (TOST, paired t, p {eq['p']:.2g}; difference {eq['estimate']:+.4f} "
            f"nats, 90 % CI {band(eq['ci_low'], eq['ci_high'], 4, 1)})."
        )
    lines += [
        "",
        _diverged(s, "an infinite loss"),
        "",
        f"**Reading.** Over {a['seeds']} seeds, mean final test loss, lowest first: "
        + ", ".join(f"{k} {summ[k]['mean']:.3f}" for k in order)
        + " nats per character."
        + (f" {same}" if same else ""),
    ]
    return lines, claims


# ----------------------------------------------------------------------------- suite


SUITE = "mnist_like"
# the claims the suite revisits: (worse, better, the claim as its source put it)
SUITE_CLAIMS = (
    (
        "none",
        "sigmoid",
        '001: "adding an activation alone makes a ~7 % difference" (*its direction, '
        "none < sigmoid*)",
    ),
    ("sigmoid", "tanh", '001: "in the order sigmoid < tanh < ReLU ...": sigmoid < tanh'),
    ("tanh", "relu", '001: "in the order sigmoid < tanh < ReLU ...": tanh < relu'),
    ("sigmoid", "relu", '000: "comparing the accuracy, ReLU\'s is higher" (than sigmoid)'),
)


@functools.cache
def suite_analysis(folder: Path):
    """The ``suite_report.Analysis`` of the committed ``seeds.csv`` of a suite, with the
    settings of ``actlab.suite.mnist_like`` (rule, normalisation, bootstrap seed)."""
    from actlab import suite as suites
    from actlab import suite_report

    table = pd.read_csv(folder / "seeds.csv")
    table = table.rename(columns={"activation": "act"}).assign(diverged=table.diverged_at >= 0)
    held = {
        d: suite_report.scores_from_tidy(table, d)
        for d in ("init_held", "data_held")
        if (table["design"] == d).any()
    }
    spec = dataclasses.replace(
        suites.mnist_like(), variance=held["init_held"].tasks if held else ()
    )
    return suite_report.analyse(spec, suite_report.scores_from_tidy(table), held)


def across(folder: Path, lo: str, hi: str) -> Verdict | None:
    """The suite's verdict on "lo < hi" across its tasks (``suite_verdict``), or None
    without the suite's data in ``folder``."""
    if not (folder / "seeds.csv").exists():
        return None
    return suite_verdict(suite_analysis(folder), lo, hi)


def suite_verdict(an, lo: str, hi: str) -> Verdict:
    """ "lo < hi" across the suite's tasks from the 95 % stratified-bootstrap CI of
    P(hi > lo): agree above 1/2, contradicted below, inconclusive when it holds 1/2."""
    from actlab import suite_report

    p, ci_lo, ci_hi = suite_report.p_of(an.improvement, hi, lo)
    return directional(p, ci_lo, ci_hi, null=0.5, ci=f"CI of P({hi} > {lo})")


def _per_task(an, lo: str, hi: str) -> str:
    """hi - lo on each task: HL shift (points), * Holm p < 0.05 over the pairs with lo."""
    from actlab import suite_report

    e = suite_report.effects(an.outcome, an.scores.tasks, an.scores.acts, lo)
    e = e[e["act"] == hi]
    return ", ".join(
        f"{r.task} {100 * r.estimate:+.2f}{'*' if r.p_holm < ALPHA else ''}" for r in e.itertuples()
    )


def _across_note(folder: Path, lo: str, hi: str) -> str:
    """ "; across datasets (section 7): WORD" where the suite's data are committed."""
    v = across(folder / SUITE, lo, hi)
    return "" if v is None else f"; across four MNIST-like tasks (section 7): {v.word}"


def mnist_like(s: Study) -> tuple[list[str], list[Claim]]:
    from actlab import suite_report

    a = s.a
    an = suite_analysis(s.folder)
    sc = an.scores
    claims = []
    for lo, hi, text in SUITE_CLAIMS:
        v = suite_verdict(an, lo, hi)
        p, ci_lo, ci_hi = suite_report.p_of(an.improvement, hi, lo)
        claims.append(
            Claim(
                text,
                f"P({hi} > {lo}) = {p:.3f} {band(ci_lo, ci_hi, 3, 1)}; {hi} − {lo} per task "
                f"(HL shift, points; * Holm p < {ALPHA}): {_per_task(an, lo, hi)}",
                v._replace(note=f"across {len(sc.tasks)} MNIST-like tasks"),
                f"P({hi} > {lo}) = {p:.2f} {band(ci_lo, ci_hi, 2, 1)}",
            )
        )
    best = [suite_verdict(an, x, "relu") for x in sc.acts if x != "relu"]
    words = [v.word for v in best]
    word = (
        "contradicted"
        if "contradicted" in words
        else "agree"
        if all(w == "agree" for w in words)
        else "inconclusive"
    )
    rule = {
        "agree": "every CI of P(relu > x) above 0.5",
        "contradicted": "a CI of P(relu > x) below 0.5",
        "inconclusive": "some CI of P(relu > x) holds 0.5",
    }[word]
    iqm = an.aggregates[an.aggregates["statistic"] == "iqm"].set_index("act")
    top = iqm["estimate"].idxmax()
    ps = {x: suite_report.p_of(an.improvement, "relu", x)[0] for x in sc.acts if x != "relu"}
    rival = min(ps, key=ps.get)
    claims.append(
        Claim(
            '*(ours)* 000/001 together: "ReLU wins", ahead of each of the other three',
            "; ".join(
                f"P(relu > {x}) = {suite_report.p_of(an.improvement, 'relu', x)[0]:.3f}"
                for x in sc.acts
                if x != "relu"
            )
            + f"; highest IQM: {top}",
            Verdict(word, rule, note=f"across {len(sc.tasks)} MNIST-like tasks"),
            f"P(relu > {rival}) = {ps[rival]:.2f}; highest IQM: {top}",
        )
    )
    tasks = {t["task"]: t for t in a["tasks"] if t["design"] == "full"}
    rows = [
        "| task | data (source) | inputs | classes | train / test | steps (epochs) | best run |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, name in enumerate(sc.tasks):
        k = tasks[name]
        epochs = k["steps"] * k["batch_size"] / k["n_train"]
        rows.append(
            f"| {name} | {k['data_source']} | {_inputs(name)} | {k['classes']} | "
            f"{k['n_train']} / {k['n_test']} | {k['steps']} ({epochs:.0f}) | "
            f"{pct(float(np.nanmax(an.outcome[t])))} |"
        )
    lines = [
        f"{a['question']} The suite `{a['suite']}` trains article 001's MLP (hidden 256-128, "
        "PyTorch nn.Linear init, the input layer sized by the data, inputs flattened) with "
        "Adam 1e-3 and batch 16 on four tasks, none / sigmoid / tanh / relu, "
        f"{a['seeds']} seeds each; every seed counts (a diverged run scores chance). "
        "Fashion-MNIST runs article 001's 3 epochs; the smaller sets run more passes, for "
        "2 500-5 000 steps.",
        "",
        *rows,
        "",
        "| claim (articles 000 / 001, MNIST, 1 seed) | measured across the tasks | verdict |",
        "|---|---|---|",
        *[c.row() for c in claims],
        "",
        "Verdicts: P(A > B) is the chance that a run of A beats a run of B on one of these "
        "tasks (ties 1/2), averaged over the tasks, with a 95 % stratified-bootstrap CI "
        f"({an.suite.reps} replicates, seeds resampled within each task; `actlab.aggregate`); "
        "agree when the CI lies above 1/2, contradicted below, inconclusive when it holds "
        "1/2. They speak of these four tasks, not of MNIST: the MNIST rows of section 2 stay "
        "not tested.",
        "",
        "Aggregates of the normalised score (0 = chance, 1 = the task's best run), 95 % "
        "stratified-bootstrap CIs:",
        "",
        suite_report.aggregates_md(an),
        "",
        *suite_report.ranks_md(an)[:3],
        "",
        f"Per-task effects against relu (HL shift over paired seeds, points; * Holm p < "
        f"{ALPHA} over the table):",
        "",
        suite_report.effects_md(an),
        "",
        *suite_report.variance_md(an)[2:],
    ]
    order = iqm["estimate"].sort_values(ascending=False)
    lines += [_variance_reading(an), ""] if an.designs is not None else []
    lines += [
        "**Reading.** Across the four tasks, IQM of the normalised score, highest first: "
        + ", ".join(f"{k} {v:.3f}" for k, v in order.items())
        + ". "
        + " ".join(f"{c.claim.split(': ', 1)[-1]}: **{c.verdict.word}**." for c in claims),
    ]
    return lines, claims


def _variance_reading(an) -> str:
    """Where the spread comes from, in a sentence computed from the design table."""
    d = an.designs.set_index(["task", "design"])["share"]
    tasks = list(an.suite.variance)
    data = [d[t, "data_held"] for t in tasks]
    init = [d[t, "init_held"] for t in tasks]
    smallest = sum(a < b for a, b in zip(data, init))
    cut = sum(x < 1 for x in init)
    return (
        "**Where the spread comes from.** With the data order held (only the init varies) "
        "the variance is "
        + ", ".join(f"{x:.2f}" for x in data)
        + f" of the full design's on {', '.join(tasks)}; with the init held (only the data "
        "order varies) "
        + ", ".join(f"{x:.2f}" for x in init)
        + f". In the point estimates, holding the data order leaves less spread than holding "
        f"the init on {smallest} of {len(tasks)} tasks: the data order (alone or through its "
        "interaction with the init) moves the final accuracy at least as much as the init. "
        f"Holding the init cuts the variance on {cut} of {len(tasks)} tasks (by at most "
        f"{1 - min(init):.0%}), and then answers a narrower question (one init). The "
        "components' intervals are wide at 20 seeds per design."
    )


def _inputs(task: str) -> str:
    return {
        "fashion_mnist": "28x28 pixels / 255, flattened (784)",
        "mnist1d": "40 floats",
        "digits": "8x8 / 16, flattened (64)",
        "teacher_student": "20 Gaussian floats",
    }.get(task, "—")


def _suite_run_line(a: dict) -> str:
    t = a["tasks"]
    cost = sum(k["train_s"] for k in t)
    comp = sum(k["compile_s"] for k in t)
    return (
        f"*Run:* {len(t)} trainings ({len({k['task'] for k in t})} tasks, the held designs "
        f"included), {a['seeds']} seeds x {len(a['activations'])} activations each; compile "
        f"{comp:.0f} s, train {cost:.0f} s ({a['machine']}). *Command:* `{a['command']}`"
    )


STUDIES = (
    ("two_layer_mnist", "1. Article 000: sigmoid vs ReLU, 784-50-10, one epoch", two_layer),
    ("mlp_four_activations", "2. Article 001: none / sigmoid / tanh / ReLU", mlp_four),
    ("deep_xor", "3. Article 002: ten layers on XOR", None),
    ("activation_catalogue", "4. Article 003: catalogue and dead ReLUs", None),
    ("alexnet_relu_vs_tanh", "5. Article 004: AlexNet fig. 1, ReLU vs tanh", alexnet),
    (
        "transformer_ffn",
        "6. Today's question: the transformer's feed-forward activation",
        transformer,
    ),
    (
        SUITE,
        "7. Across datasets: article 001's order and article 000's ReLU on four MNIST-like tasks",
        mnist_like,
    ),
)


def glance(rows: list[tuple[str, int, Claim]]) -> list[str]:
    """The verdicts at a glance: what was found and the word, with a count per word."""
    counts = ", ".join(
        f"{sum(c.verdict.word == w for _, _, c in rows)} {w}"
        for w in WORDS
        if any(c.verdict.word == w for _, _, c in rows)
    )
    lines = ["### Verdicts at a glance", "", f"{len(rows)} claims: {counts}.", ""]
    lines += [
        "| study | seeds per activation | claim | found | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {s} | {n} | {c.claim} | {c.found} | **{c.verdict.word}** |" for s, n, c in rows]
    return lines + [""]


def multiplicity(rows: list[tuple[str, int, Claim]]) -> list[str]:
    """What the verdicts' tests say together: how many rest on a p-value, and which of
    those would not survive a Bonferroni correction over all of them."""
    tested = [
        (s, c)
        for s, _, c in rows
        if c.verdict.p is not None and c.verdict.word in ("agree", "contradicted")
    ]
    if not tested:
        return []
    m = len(tested)
    weak = [
        f"{s}: {c.claim.split(' (')[0]} (p {c.verdict.p:.2g})"
        for s, c in tested
        if c.verdict.p >= ALPHA / m
    ]
    return [
        "**Error across the verdicts.** Each verdict is decided at the 5 % level (001's "
        "within Holm's family of its 15 pairs); across the verdicts no further correction is "
        f"made. {m} decisive verdicts (agree, contradicted) rest on a p-value; with a "
        f"Bonferroni correction over all {m} "
        f"(p < {ALPHA / m:.2g}) "
        + ("every one stands." if not weak else f"these would not stand: {'; '.join(weak)}.")
        + " The rate verdicts (Wilson CIs over 1 000 seeds) and the intervals' 95 % coverage "
        "each allow a 5 % error of their own.",
        "",
    ]


def section(runs: Path) -> str:
    out, rows = [], []
    for name, title, fn in STUDIES:
        s = _load(runs, name)
        out.append(f"### {title}\n")
        if s is None:
            out.append(f"*No run found in `{runs / name}`.*\n")
            continue
        if name == "deep_xor":
            fixes = {v: f for v in FIXES if (f := _load(runs, f"xor_{v}")) is not None}
            body, claims = deep_xor(s, fixes)
        elif name == "activation_catalogue":
            body, claims = catalogue(s, _load(runs, "activation_catalogue_lr"))
        else:
            body, claims = fn(s)
        article = title.split(":")[0].split(". ", 1)[-1]
        rows += [(article, c.seeds or s.a["seeds"], c) for c in claims]
        out += body
        out += ["", _suite_run_line(s.a) if name == SUITE else _run_line(s.a), ""]
        if name == "deep_xor":
            for f in fixes.values():
                out += [_run_line(f.a), ""]
        if name == "activation_catalogue" and (lr := _load(runs, "activation_catalogue_lr")):
            out += [_run_line(lr.a), ""]
    head = glance(rows) + multiplicity(rows) if rows else []
    files = digests(runs)
    manifest = ["<!-- committed data (sha256): " + " ".join(files) + " -->", ""] if files else []
    return "\n".join([START, "", *manifest, *head, *out, END])


def problems(text: str) -> list[str]:
    """What is wrong with a generated section: a verdict word outside ``WORDS``, or the
    retired "disagree"."""
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
