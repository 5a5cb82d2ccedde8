"""What every experiment script shares: arguments, chunked training with saving, writing.

Each ``experiments/NAME.py`` exposes ``build(quick=..., **overrides) -> Study``,
``analyse(result, quick=False) -> dict`` (tables as DataFrames, numbers as floats; ``quick``
makes any extra measurement small),
``figures(result, analysis) -> {name: Figure}`` and ``main(argv)``, which trains, analyses and
writes ``OUT/results.json``, ``trace.npz`` (actlab.results), ``analysis.json``, one
``.csv`` and ``.md`` per table and one ``.png`` per figure. The notebooks import these
functions; ``experiments/reproduction_table.py`` reads ``analysis.json``.

Every analysis is intention-to-treat (``actlab.outcome``): each statistic over seeds counts
every seed, a diverged run as a failed one (chance accuracy, +inf loss, never reaching a
threshold). ``outcome_rule`` states the rule in the analysis; a survivors-only figure, where
one is kept, is labelled so and carries its n. Wall-clock claims are timed by
``interleaved_timings`` (repeated, alternating, after a warm-up) and compared by
``timing_ratio`` (a CI, never one timing each).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

import actlab
from actlab import cli, outcome, plots, protocols, report, results, runner, runtime, stats

QUICK_ENV = "ACTLAB_QUICK"


# the columns of stats.pairwise an analysis keeps: the mean difference with its t CI, the
# Hodges-Lehmann shift with the CI of its rank test, raw and Holm p, the effect size
PAIRWISE_KEPT = (
    "a",
    "b",
    "n",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    "estimate",
    "estimate_ci_low",
    "estimate_ci_high",
    "estimator",
    "p",
    "p_holm",
    "cohens_d",
)


def quick_from_env(default: bool = True) -> bool:
    """``ACTLAB_QUICK``: "0" (or "false", "no") runs the full protocol; unset -> ``default``."""
    v = os.environ.get(QUICK_ENV)
    if v is None or v.strip() == "":
        return default
    return v.strip().lower() not in ("0", "false", "no", "off")


def overrides(quick: bool = False, **kw) -> protocols.Overrides:
    """``Overrides`` from keyword arguments; unknown names raise ``TypeError``."""
    return protocols.Overrides(quick=quick, **{k: v for k, v in kw.items() if v is not None})


def parser(doc: str) -> argparse.ArgumentParser:
    """The experiment scripts' options: those of ``actlab run``, without ``--threshold``."""
    p = cli.Parser(description=doc.splitlines()[0])
    cli.run_options(p, threshold=False)
    return p


SELECT_OPTIONS = ("select", "validation", "select_seeds", "max_memory")  # cli.train's


# ----------------------------------------------------------------------------- outcomes


def outcome_rule(result: actlab.Result) -> dict:
    """The analysis' rule for diverged runs, for ``analysis.json``: ``diverged_as``
    ("failure": every seed counts), ``diverged_rule`` (the rule in one sentence) and
    ``n_diverged`` (per activation, over all seeds)."""
    classes = result.study.data.num_classes
    return {
        "diverged_as": outcome.DEFAULT,
        "diverged_rule": outcome.describe(outcome.DEFAULT, classes),
        "n_diverged": dict(
            zip(result.activations, (np.asarray(n).tolist() for n in result.diverged.sum(axis=-1)))
        ),
    }


def final_summary(result: actlab.Result, metric: str, rule: str | None = None) -> pd.DataFrame:
    """``outcome.summary`` of the final ``metric``: one row per activation with ``n``
    (every seed under the default rule; the survivors under ``"exclude"``), ``n_diverged``,
    ``seeds``, ``rule``, mean (t CI), sd, median (sign-test CI)."""
    raw = result.final(metric, diverged_as="frozen")
    classes = result.study.data.num_classes
    return outcome.summary(raw, result.diverged, result.activations, metric, classes, rule)


SURVIVOR_COLUMNS = ["name", "n", "n_diverged", "mean", "ci_low", "ci_high", "rule"]


def survivors_only(result: actlab.Result, metric: str) -> pd.DataFrame:
    """The survivors-only view of the final ``metric`` (diverged runs left out), labelled:
    ``n`` is the number of survivors, ``rule`` is "exclude", ``survivors_only`` is True. Kept
    beside the intention-to-treat summary, never instead of it: it is biased towards
    activations that diverge."""
    table = final_summary(result, metric, "exclude")[SURVIVOR_COLUMNS]
    return table.assign(survivors_only=True)


def itt_curve(result: actlab.Result, metric: str) -> np.ndarray:
    """``[acts, seeds, evals]`` curve of ``metric`` with every evaluation after a model's
    divergence set to the failure outcome (``outcome.failure_value``): from then on a
    diverged model is a failed one, not its frozen last parameters."""
    c = np.asarray(result.curve(metric), dtype=float)
    at = result.diverged_at[..., None]  # [acts, seeds, 1]; -1 never
    after = (at >= 0) & (result.steps > at)  # an evaluation after the failing step
    after = after.reshape(after.shape + (1,) * (c.ndim - after.ndim))
    fill = outcome.failure_value(metric, result.study.data.num_classes)
    return np.where(after, fill, c)


PER_SEED_METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
SEEDS_CSV = "seeds.csv"


def per_seed(result: actlab.Result, columns: Mapping[str, np.ndarray] | None = None):
    """Every model's outcome, one row each (every seed, in the order trained): ``activation``,
    ``lr`` (with an lr sweep), ``seed`` (the index: seed ``i`` of every activation shares
    data order and initial weights), ``diverged_at`` (-1: never), the last evaluation's
    ``PER_SEED_METRICS`` as the model ended (a diverged one's frozen values: the analysis
    applies its declared rule, ``outcome_rule``), then ``columns``, each ``[acts, (lrs),
    seeds]``. Small enough to commit (``reproduction/``) and enough to recompute the
    headline figures from."""
    lead = result.diverged.shape
    idx = np.indices(lead).reshape(len(lead), -1)
    table = {"activation": np.asarray(result.activations)[idx[0]]}
    if result.study.lrs is not None:
        table["lr"] = np.asarray(result.study.lrs, dtype=float)[idx[1]]
    table["seed"] = idx[-1]
    table["diverged_at"] = result.diverged_at.reshape(-1)
    for m in PER_SEED_METRICS:
        table[m] = result.final(m, diverged_as="frozen").reshape(-1)
    for name, v in (columns or {}).items():
        v = np.asarray(v)
        if v.shape != lead:
            raise ValueError(f"per-seed column {name!r} has shape {v.shape}, not {lead}")
        table[name] = v.reshape(-1)
    return pd.DataFrame(table)


# ----------------------------------------------------------------------------- timing


LEAN_EXAMPLES = 100  # examples per evaluation (and unit census) in a timed run


@dataclasses.dataclass(frozen=True)
class _Lean(actlab.Study):
    """A study for timing training: its one evaluation and unit census read
    ``LEAN_EXAMPLES`` examples, so the timed call is training."""

    def config(self):
        return super().config()._replace(census_examples=LEAN_EXAMPLES)


def _lean(study: actlab.Study, steps: int | None, seeds: int) -> actlab.Study:
    """``study`` for timing training: ``seeds`` models, ``steps`` steps (default the
    study's), one evaluation at the end on ``LEAN_EXAMPLES`` examples."""
    n = study.num_steps if steps is None else steps
    fields = {f.name: getattr(study, f.name) for f in dataclasses.fields(study)}
    fields.update(
        seeds=seeds,
        steps=n,
        epochs=None,
        eval_every=n,
        eval_examples=LEAN_EXAMPLES,
        train_eval_examples=LEAN_EXAMPLES,
    )
    return _Lean(**fields)


def _repeatable(study: actlab.Study):
    """``once() -> seconds``: trains ``study`` to the end from the same initial state each
    call, compiled once (the first call compiles: warm up with it). Times the device call
    alone (``Run.timing["train_s"]``), not compilation or the host copy of the traces."""
    run = study.start()
    start, first = run.states, list(run.traces)

    def once() -> float:
        # rewind the run to its initial state; states are not donated, so they can be reused
        run.states, run.traces, run.intervals_done = start, list(first), 0
        before = run.timing["train_s"]
        run.advance()
        return run.timing["train_s"] - before

    return once


def _alone(study: actlab.Study, act: str) -> actlab.Study:
    """``study`` with ``act`` alone (at its own learning rate, where each has one)."""
    own = None if study.act_lrs is None else (study.act_lrs[study.activations.index(act)],)
    return study.replace(activations=(act,), act_lrs=own)


def interleaved_timings(
    study: actlab.Study,
    repetitions: int,
    *,
    steps: int | None = None,
    seeds: int = 1,
    warmup: int = 1,
) -> dict:
    """Wall seconds of training ``seeds`` model(s) of each activation of ``study`` alone for
    ``steps`` steps (default: the study's length), one evaluation at the end on 100
    examples, repeated ``repetitions`` times.

    Each activation is compiled once; ``warmup`` untimed runs each come first; then the
    repetitions alternate the order (A B, B A, A B, ...), so a change in the shared
    machine's load falls on every activation alike, and repetition ``r`` of each forms a
    pair. Returns ``{"seconds": {act: [repetitions]}, "median_s": {act: float},
    "repetitions", "warmup", "steps", "seeds", "order"}``. No test asserts a time.
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions!r}")
    acts = list(study.activations)
    lean = _lean(study, steps, seeds)
    runs = {a: _repeatable(_alone(lean, a)) for a in acts}
    for _ in range(warmup):
        for a in acts:
            runs[a]()
    seconds: dict[str, list[float]] = {a: [] for a in acts}
    for r in range(repetitions):
        for a in acts if r % 2 == 0 else acts[::-1]:
            seconds[a].append(runs[a]())
    return {
        "seconds": seconds,
        "median_s": {a: float(np.median(s)) for a, s in seconds.items()},
        "repetitions": int(repetitions),
        "warmup": int(warmup),
        "steps": int(lean.num_steps),
        "seeds": int(seeds),
        "order": "interleaved, alternating (A B, B A, ...) after the warm-up",
        "eval_examples": LEAN_EXAMPLES,
    }


def timing_ratio(seconds: Mapping[str, list], a: str, b: str, confidence: float = 0.95) -> dict:
    """How many times longer ``a`` takes than ``b``, from paired repeated timings.

    seconds: ``{act: [repetitions]}`` (``interleaved_timings``), repetition r of a and b a
    pair. ``ratio`` = exp(Hodges–Lehmann estimate of the paired log-second differences
    log t_a - log t_b), ``ci_low``/``ci_high`` = exp of the CI that inverts the Wilcoxon
    signed-rank test (distribution-free; (0, inf) when it can reject nothing, n <= 5 at
    95 %), ``p`` that test's two-sided p, ``median_of_ratios`` the median of t_a / t_b.
    """
    ta, tb = np.asarray(seconds[a], dtype=float), np.asarray(seconds[b], dtype=float)
    logs = np.log(np.stack([ta, tb]))
    row = stats.pairwise(logs, [a, b], test="wilcoxon", confidence=confidence).iloc[0]
    return {
        "numerator": a,
        "denominator": b,
        "ratio": math.exp(row["estimate"]),
        "ci_low": math.exp(row["estimate_ci_low"]),
        "ci_high": math.exp(row["estimate_ci_high"]),
        "p": float(row["p"]),
        "n": int(row["n"]),
        "median_of_ratios": float(np.median(ta / tb)),
        "confidence": confidence,
        "estimator": "exp(Hodges-Lehmann of paired log-second differences), CI inverting "
        "the signed-rank test",
    }


# ----------------------------------------------------------------------------- writing


def markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub markdown table of ``df``, floats in ``floatfmt`` (``report.md_table``)."""
    cell = lambda v: format(float(v), floatfmt) if isinstance(v, (float, np.floating)) else v
    return report.md_table(df.map(cell))


def write(
    out: Path,
    analysis: dict,
    figs: dict,
    result: actlab.Result,
    command: str | None = None,
    seeds: pd.DataFrame | None = None,
) -> None:
    """``analysis.json`` (every entry; tables as lists of rows), ``NAME.csv``/``NAME.md`` per
    table, ``NAME.png`` per figure, ``seeds.csv`` (``per_seed``; default: without extra
    columns)."""
    out.mkdir(parents=True, exist_ok=True)
    seeds = per_seed(result) if seeds is None else seeds
    seeds.to_csv(out / SEEDS_CSV, index=False, float_format="%.7g")
    doc = {
        "command": command or "python " + " ".join(sys.argv),
        "dataset": result.study.data.name,
        "data_source": result.study.data.source,
        "classes": int(result.study.data.num_classes),
        "seeds": int(result.study.seeds),
        "activations": list(result.activations),
        "steps": int(result.config.steps),
        "timing": {k: round(v, 2) for k, v in result.timing.items()},
        "machine": f"{os.cpu_count()} CPU cores, jax {_jax()}",
        **analysis,
    }
    (out / "analysis.json").write_text(json.dumps(results.jsonable(doc), indent=1))
    for key, value in analysis.items():
        if isinstance(value, pd.DataFrame):
            value.to_csv(out / f"{key}.csv", index=False)
            (out / f"{key}.md").write_text(markdown(value) + "\n")
    for key, fig in figs.items():
        plots.save(fig, out / f"{key}.png")


def _jax() -> str:
    import jax

    return f"{jax.__version__} ({jax.default_backend()})"


def main(module, argv=None) -> int:
    """The shared ``main``: parse, build, train, analyse, write."""
    # as actlab run: seeds train on every core (before JAX's first computation), and a rerun
    # loads its compiled programs
    runtime.use_host_devices()
    runtime.use_compilation_cache()
    p = parser(module.__doc__)
    extra = getattr(module, "add_arguments", None)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    own = ("quick", "out", "chunks", "resume", "resume_or_start", *SELECT_OPTIONS)
    kw = {k: v for k, v in vars(args).items() if k not in own}
    try:
        cli.check_selection(args)
        if args.lrs is not None and args.select is None:
            raise ValueError("the analyses compare one rate per activation: add --select METRIC")
        study = module.build(quick=args.quick, **kw)
    except (ValueError, FileNotFoundError, cli.UsageError) as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    name = study.name
    out = args.out or Path("runs") / name
    resume = args.resume or args.resume_or_start
    prepare = getattr(module, "prepare", None)  # a study's own step before training
    if prepare is not None:
        study = prepare(study, args, out)
    try:
        result = cli.train(name, study, out, args, resume=resume, or_start=args.resume_or_start)
    except (ValueError, FileNotFoundError) as e:  # the run folder or a checkpoint
        p.exit(2, f"{p.prog}: error: {e}\n")
    except runner.SaveFailed as e:
        p.exit(2, f"{p.prog}: error: cannot write {e}; the last checkpoint is intact: --resume\n")
    except runner.Interrupted as e:
        again = "" if not e.saved else " (saved: add --resume to continue)"
        p.exit(130, f"{p.prog}: {e}{again}\n")
    analysis = module.analyse(result, quick=args.quick)
    script = f"experiments/{Path(module.__file__).name}"
    command = "python " + " ".join([script, *(sys.argv[1:] if argv is None else argv)])
    columns = getattr(module, "seed_columns", None)
    seeds = per_seed(result, None if columns is None else columns(result))
    write(out, analysis, module.figures(result, analysis), result, command, seeds)
    compact = getattr(module, "save_compact", None)  # per-step data the document reads
    if compact is not None:
        compact(result, out)
    for key, value in analysis.items():
        if isinstance(value, pd.DataFrame):
            print(f"\n{key}\n{value.to_string(index=False)}")
    print(f"\nresults in {out}/")
    return 0
