"""The ``actlab`` command: run named experiments, render reports, compare runs, list what exists.

    actlab run EXPERIMENT [--acts a,b] [--seeds N] [--steps N | --epochs E]
                          [--lr X | --lrs X,Y,... [--select METRIC] [--validation N]
                          [--select-seeds K]] [--max-memory SIZE] [--dataset D] [--out DIR]
                          [--quick] [--chunks K]
                          [--resume | --resume-or-start] [--threshold METRIC=VALUE]
                          [--diverged-as failure|exclude|frozen]
                          [--tidy auto|final|curves|all] [--tensorboard]
    actlab suite SUITE [--quick] [--seeds N] [--out DIR] [--chunks K] [--diverged-as RULE]
    actlab report DIR [--threshold METRIC=VALUE] [--diverged-as RULE] [--tidy LEVEL]
    actlab compare DIR1 DIR2 [--out FILE]
    actlab list
    actlab demo [--out DIR]

``run`` trains in ``--chunks`` compiled calls (one compilation) and after each writes
``results.json`` and ``trace.npz`` and a checkpoint, atomically (with ``--tensorboard`` also
TensorBoard events, ``actlab.tensorboard``); at the end it writes ``report.md``, ``tidy.csv``
(``tidy.parquet``; ``--tidy`` chooses its rows) and plots (``actlab.report``), all through
``actlab.runner.execute``. Ctrl-C keeps what is done and prints the command that resumes it
(exit code 130). Bad arguments get a one-line error naming the accepted values and exit code
2. The parser, ``--help`` and ``list`` import neither JAX nor the rest of the library, so they
answer at once; the library is loaded once a command needs it.

``suite`` trains one activation question over several tasks (``actlab.suite``): each task
into ``OUT/TASK/`` through the same runner, then the statistics across tasks into
``OUT/suite.md`` (plots, ``tidy.parquet``). Run again, it skips finished tasks and continues
an unfinished one. SUITE: a built-in suite (``actlab list``) or a file ``path/to/suite.py``
whose ``suite()`` returns an ``actlab.Suite`` (``:NAME`` or ``module:NAME`` as for ``run``).

``--lrs`` sweeps learning rates (arrays ``[acts, lrs, seeds]``); with ``--select METRIC``
each activation instead gets its own rate, the best by ``METRIC`` (``val_accuracy``,
``val_loss`` on ``--validation`` training examples held out, default 10 %; ``train_*`` on
the training split) over ``--select-seeds`` seeds of its own, and the comparison runs at
those rates with the study's seeds (``actlab.selection``; the choice is in
``OUT/selection.json``, the selection run in ``OUT/selection/``).

Every seed counts: the statistics include every seed, a diverged run as a failed one (chance
accuracy, the worst loss; ``actlab.outcome``), and report.md adds a labelled survivors-only
table beside them. ``--diverged-as`` chooses another rule and the report says what follows.

``--resume`` continues the unfinished run in ``--out`` and fails (exit code 2) if there is
none; ``--resume-or-start`` continues it if there is one and starts one if not, for jobs that
a cluster may requeue. Without either, a folder holding an unfinished run (a checkpoint) is
refused, never silently started over; one holding a finished run is overwritten.

A file-system fault gets one line naming the file and what to do, and exit code 2; nothing
already computed is deleted: an ``--out`` that is a file or cannot be written (found before
anything is compiled), a truncated or corrupt checkpoint, ``trace.npz`` or ``results.json``
(left in place), a full disk during a save (the previous checkpoint stays valid).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from pathlib import Path

from actlab import plugins, runtime

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
RESUME_FLAGS = ("--resume", "--resume-or-start")
MAX_STEPS = 2**30  # steps are counted in int32 on the device; room for a chunk past the end

# What the parser and `actlab list` name, written out so that neither imports the library
# (JAX, flax, optax: seconds before a word is printed); tests/test_cli.py checks each against
# the one it copies, named in its comment.
_FLAT = ("fashion_mnist", "mnist", "kmnist", "cifar10", "mnist1d")
EXPERIMENTS = {  # protocols.PROTOCOLS: name -> (summary, source, datasets)
    "xor": ("deep XOR: 10 layers of width 5, N(0,1) init", "article 002", ("xor",)),
    "mnist1d": (
        "MLP 256-128 on MNIST-1D, Adam 1e-3",
        "article 001 protocol",
        ("mnist1d", *_FLAT[:4], "teacher_student"),
    ),
    "two_layer_mnist": (
        "784-50-10, sigmoid vs ReLU, SGD 0.1, 1 epoch, test accuracy every step",
        "article 000",
        _FLAT,
    ),
    "mlp_four_activations": (
        "784-256-128-10, none/sigmoid/tanh/relu (+leaky_relu, gelu), Adam 1e-3, 3 epochs",
        "article 001",
        _FLAT,
    ),
    "deep_xor": ("alias of xor", "article 002", ("xor",)),
    "xor_glorot": ("deep XOR with Glorot init, zero biases", "article 002 fix", ("xor",)),
    "xor_he": ("deep XOR with He init, zero biases", "article 002 fix", ("xor",)),
    "xor_clipped": ("deep XOR with the loss clipped (no NaN)", "article 002 fix", ("xor",)),
    "xor_bce": (
        "deep XOR with the stable-logit loss (no NaN from the loss)",
        "article 002 fix",
        ("xor",),
    ),
    "activation_catalogue": (
        "dead ReLUs from a negative bias init vs leaky/PReLU/ELU/maxout/step",
        "article 003",
        _FLAT,
    ),
    "activation_catalogue_lr": (
        "dead ReLUs from a high learning rate (0.05 / 0.5 / 1.0) vs leaky/PReLU/ELU/maxout",
        "article 003 / 004",
        _FLAT,
    ),
    "alexnet_relu_vs_tanh": (
        "4-layer conv net, ReLU vs tanh: steps to 25 % training error",
        "article 004 (AlexNet fig. 1)",
        _FLAT[:4],
    ),
    "transformer_ffn": (
        "decoder-only Transformer, FFN relu/gelu/silu/relu2/reglu/geglu/swiglu, fortunes",
        "Shazeer 2020, So et al. 2021",
        ("fortunes", "text:PATH"),
    ),
}
SUITES = {  # suite.SUITES: name -> summary
    "mnist_like": "none/sigmoid/tanh/relu, article 001's MLP on Fashion-MNIST, MNIST-1D, digits, "
    "teacher-student",
}
ACTIVATIONS = tuple(  # activations.names()
    "none step step_ste sigmoid tanh relu relu2 leaky_relu leaky_relu_0.2 prelu elu selu celu gelu "
    "gelu_tanh silu mish softplus softsign hard_tanh hard_sigmoid relu6 maxout reglu geglu swiglu "
    "softmax".split()
)
# data.BUILTIN, then data.IMAGES, then data.CORPORA
DATASETS = (
    "xor",
    "mnist1d",
    "teacher_student",
    "modular_addition",
    "digits",
    "mnist",
    "fashion_mnist",
    "kmnist",
    "cifar10",
    "fortunes",
)
THRESHOLD_METRICS = tuple(  # report.THRESHOLD_METRICS
    "train_error test_error batch_loss train_loss train_accuracy test_loss test_accuracy".split()
)
DIVERGED_RULES = ("failure", "exclude", "frozen")  # outcome.RULES
SELECT_METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")  # selection.METRICS
VALIDATION = 0.1  # selection.VALIDATION
TIDY_LEVELS = ("auto", "final", "curves", "all")  # "auto", then tables.TIDY_LEVELS
TIDY_MAX_ROWS = 1_000_000  # report.TIDY_MAX_ROWS


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """Errors in one line with exit code 2."""

    def error(self, message: str):
        # one line, no usage block: the message already names the accepted values
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {s}")
    return v


def _lrs(s: str) -> tuple[float, ...]:
    try:
        lrs = tuple(_positive_float(v) for v in s.split(","))
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"learning rates: {e}") from None
    if len(set(lrs)) != len(lrs):
        raise argparse.ArgumentTypeError(f"learning rates must differ, got {s!r}")
    return lrs


SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _size(s: str) -> int:
    """Bytes from ``SIZE``: a number with an optional K, M, G or T (binary; "GiB", "GB" and
    "G" alike)."""
    text = s.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in SIZE_UNITS else ""
    try:
        v = float(text[: len(text) - len(unit)]) * SIZE_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 512M or 8G, got {s!r}") from None
    if not (v >= 1 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive size, got {s!r}")
    return int(v)


def _share_or_count(s: str) -> int | float:
    v = _positive_float(s)
    if v < 1:
        return v
    if v != int(v):
        raise argparse.ArgumentTypeError(f"a count of examples or a share below 1, got {s}")
    return int(v)


def check_selection(args) -> None:
    """``--select`` needs ``--lrs`` with two rates or more; ``--select-seeds`` and a
    non-default ``--validation`` need ``--select``."""
    if args.select is None:
        if args.select_seeds is not None or args.validation != VALIDATION:
            raise UsageError("--select-seeds and --validation go with --select METRIC")
        return
    if args.lrs is None or len(args.lrs) < 2:
        raise UsageError("--select needs --lrs with two learning rates or more to choose from")


def _acts(s: str) -> tuple[str, ...]:
    from actlab import activations  # JAX: only when --acts is given

    try:
        return activations.resolve(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _threshold(s: str):
    from actlab.record import parse_threshold  # JAX: only when --threshold is given

    try:
        return parse_threshold(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _experiment(s: str) -> str:
    if s not in EXPERIMENTS and not plugins.is_study(s):
        raise argparse.ArgumentTypeError(
            f"unknown experiment {s!r}; accepted: {', '.join(EXPERIMENTS)}, or your own study: "
            "path/to/study.py[:NAME] or module:NAME"
        )
    return s


def _suite_name(s: str) -> str:
    if s not in SUITES and not plugins.is_study(s):
        raise argparse.ArgumentTypeError(
            f"unknown suite {s!r}; accepted: {', '.join(SUITES)}, or your own: "
            "path/to/suite.py[:NAME] or module:NAME"
        )
    return s


def datasets() -> tuple[str, ...]:
    """Every dataset name ``actlab.data.load`` knows without a path."""
    return DATASETS


def _size_and_output(p: argparse.ArgumentParser, out: str, chunks: str) -> None:
    """--quick, --out (default ``out``) and --chunks (``chunks``: what a chunk is), which
    ``run`` and ``suite`` share."""
    p.add_argument(
        "--quick", action="store_true", help="CI-sized settings (default: off, full size)"
    )
    p.add_argument("--out", type=Path, help=f"output folder (default: {out})")
    p.add_argument(
        "--chunks", type=_positive_int, default=20, help=f"{chunks} (default: %(default)s)"
    )


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="actlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a named experiment")
    run.add_argument(
        "experiment",
        type=_experiment,
        help=f"one of: {', '.join(EXPERIMENTS)} (actlab list); or your own study: a file "
        "path/to/study.py (its study() -> actlab.Study), path/to/study.py:NAME or module:NAME",
    )
    run_options(run)
    plugins_option(run)
    diverged_option(run)
    tidy_option(run)
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files into OUT/tensorboard/, one run per activation "
        "x seed (x lr), after each chunk: tensorboard --logdir OUT/tensorboard (default: off)",
    )
    cluster_options(run)
    suite = sub.add_parser("suite", help="one activation question over several tasks")
    suite.add_argument(
        "suite",
        type=_suite_name,
        help=f"one of: {', '.join(SUITES)} (actlab list); or your own: a file path/to/suite.py "
        "(its suite() -> actlab.Suite), path/to/suite.py:NAME or module:NAME",
    )
    suite.add_argument(
        "--seeds", type=_positive_int, help="seeds per activation and task (default: the suite's)"
    )
    _size_and_output(suite, "runs/SUITE", "progress and save points per task")
    diverged_option(suite)
    plugins_option(suite)
    rep = sub.add_parser("report", help="re-render report.md, tidy table and plots of a run")
    rep.add_argument("dir", type=Path, help="a folder written by actlab run")
    rep.add_argument(
        "--threshold",
        type=_threshold,
        help="METRIC=VALUE, e.g. train_error=0.25 (default: the one saved with the run)",
    )
    diverged_option(rep)
    tidy_option(rep)
    cmp = sub.add_parser("compare", help="final test accuracy of two runs, per activation")
    cmp.add_argument("dirs", type=Path, nargs=2, metavar="DIR", help="folders of two runs")
    cmp.add_argument(
        "--out", type=Path, help="also write the markdown table to this file (default: none)"
    )
    demo = sub.add_parser("demo", help="the embedded default: MNIST-1D and deep XOR, no download")
    demo.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="output folder (default: %(default)s)"
    )
    listing = sub.add_parser("list", help="list experiments, activations and datasets")
    plugins_option(listing)
    return p


def plugins_option(p: argparse.ArgumentParser) -> None:
    """``--plugins``: modules that register activations (``actlab.plugins``); read before
    the other options (``main``), so that ``--acts`` knows what they register."""
    p.add_argument(
        "--plugins",
        metavar="MODULES",
        help="comma-separated modules or .py files imported first, which register "
        "activations (actlab.register); the actlab.plugins entry points of installed packages "
        "are imported too (default: those entry points only)",
    )


def cluster_options(run: argparse.ArgumentParser) -> None:
    """How many processes train the seeds (``actlab.distributed``)."""
    how = run.add_mutually_exclusive_group()
    how.add_argument(
        "--processes",
        type=_positive_int,
        help="start N local worker processes (one node) (default: none: this process trains "
        "on every device it sees)",
    )
    how.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="join this job's coordinator (default: none)",
    )
    how.add_argument(
        "--distributed",
        action="store_true",
        help="join the job the environment describes (SLURM, Open MPI, TPU pod) (default: off)",
    )
    run.add_argument(
        "--num-processes", type=_positive_int, help="with --coordinator (default: none)"
    )
    run.add_argument("--process-id", type=int, help="with --coordinator: 0 .. N-1 (default: none)")


def check_cluster(args) -> None:
    """``--coordinator`` needs ``--num-processes`` and ``--process-id`` in range; those two
    need ``--coordinator``."""
    joined = args.num_processes is not None or args.process_id is not None
    if args.coordinator is None:
        if joined:
            raise UsageError("--num-processes and --process-id go with --coordinator HOST:PORT")
        return
    if args.num_processes is None or args.process_id is None:
        raise UsageError("--coordinator needs --num-processes N and --process-id I")
    if not 0 <= args.process_id < args.num_processes:
        raise UsageError(
            f"--process-id must be in 0 .. {args.num_processes - 1}, got {args.process_id}"
        )


def _without(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` (or ``flag=VALUE``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(f"{flag}="):
            out.append(a)
    return out


def diverged_option(p: argparse.ArgumentParser) -> None:
    """``--diverged-as RULE``: how the report's statistics count diverged runs."""
    p.add_argument(
        "--diverged-as",
        choices=DIVERGED_RULES,
        help="failure (default: every seed counts, a diverged run scores chance accuracy and "
        "the worst loss), exclude (survivors only, labelled), frozen (raw values)",
    )


def tidy_option(p: argparse.ArgumentParser) -> None:
    """``--tidy LEVEL``: which rows the tidy table (``tidy.parquet``, ``tidy.csv``) keeps."""
    p.add_argument(
        "--tidy",
        choices=TIDY_LEVELS,
        default="auto",
        help=f"rows of the tidy table: final (every metric, per layer too, at the last "
        f"evaluation), curves (the scalar metrics at every evaluation), all (every traced "
        f"value), auto (all up to {TIDY_MAX_ROWS:,} rows, else curves) (default: %(default)s)",
    )


def run_options(run: argparse.ArgumentParser, *, threshold: bool = True) -> None:
    """The options of a run (``actlab run`` and every ``experiments/`` script): what to
    override in the protocol, where to write, how to resume; ``--threshold`` if asked."""
    run.add_argument(
        "--acts",
        type=_acts,
        help="comma-separated activations, from actlab list (default: the experiment's)",
    )
    run.add_argument(
        "--seeds", type=_positive_int, help="seeds per activation (default: the experiment's)"
    )
    length = run.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=_positive_int, help="training steps per model (default: the experiment's)"
    )
    length.add_argument(
        "--epochs",
        type=_positive_float,
        help="passes over the training split, instead of --steps (default: the experiment's)",
    )
    rate = run.add_mutually_exclusive_group()
    rate.add_argument(
        "--lr", type=_positive_float, help="learning rate (default: the experiment's)"
    )
    rate.add_argument(
        "--lrs",
        type=_lrs,
        help="comma-separated learning rates: a sweep (default: none, the experiment's rate)",
    )
    run.add_argument(
        "--select",
        metavar="METRIC",
        help=f"with --lrs: each activation at its own rate, the best by this metric: "
        f"{', '.join(SELECT_METRICS)}, or val_NAME / train_NAME of a metric of the study's "
        "own with a goal (default: none, every rate of --lrs is reported)",
    )
    run.add_argument(
        "--validation",
        type=_share_or_count,
        default=VALIDATION,
        help="training examples held out for --select val_*: a count, or a share below 1 "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--select-seeds",
        type=_positive_int,
        help="seeds of the selection (default: --seeds)",
    )
    run.add_argument(
        "--max-memory",
        type=_size,
        metavar="SIZE",
        help="device memory for the models, e.g. 512M or 8G (default: 80%% of the device's "
        "free memory, less the data): more seeds run in chunks, one after another through the "
        "same program (same results)",
    )
    run.add_argument(
        "--dataset",
        help="dataset name, from actlab list, or text:PATH (a UTF-8 file's characters), "
        "where the experiment fits it; modular_addition, fortunes and text:PATH are token "
        "sequences (default: the experiment's)",
    )
    _size_and_output(
        run, "runs/EXPERIMENT", "progress and save points: compiled calls the run is split into"
    )
    resume = run.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        help="continue OUT's unfinished run, exit 2 if none (default: off: start a run, "
        "refused if OUT holds an unfinished one)",
    )
    resume.add_argument(
        "--resume-or-start",
        action="store_true",
        help="continue OUT's unfinished run, or start one if there is none (requeued jobs) "
        "(default: off)",
    )
    if not threshold:
        return
    run.add_argument(
        "--threshold",
        type=_threshold,
        help=f"METRIC=VALUE for the time-to-threshold table; METRIC: "
        f"{', '.join(THRESHOLD_METRICS)} (default: the experiment's, if it has one)",
    )


def _build(args) -> tuple[str, str | None, object]:
    """(the experiment's name, its threshold, its ``Study`` with ``args``' overrides): a
    built-in protocol or a study file of the user's (``actlab.plugins.load_study``)."""
    from actlab import protocols

    if args.experiment not in EXPERIMENTS:
        name, study = plugins.load_study(args.experiment, quick=args.quick)
        return name, None, _checked(plugins.overrides(study, args))
    proto = protocols.get(args.experiment)
    text = "text:PATH" in proto.datasets and str(args.dataset).startswith("text:")
    if args.dataset is not None and args.dataset not in proto.datasets and not text:
        what = "does not fit" if args.dataset in datasets() else "does not know"
        raise ValueError(
            f"experiment {proto.name!r} {what} dataset {args.dataset!r}; "
            f"accepted: {', '.join(proto.datasets)}"
        )
    o = protocols.Overrides(**{f: getattr(args, f) for f in protocols.Overrides._fields})
    return proto.name, proto.threshold, _checked(proto.build(o))


def _checked(study):
    """``study`` if its length is one a run can count, else ValueError."""
    try:
        steps = study.num_steps
    except OverflowError:  # epochs * steps per epoch is inf
        steps = math.inf
    if steps > MAX_STEPS:
        raise ValueError(f"the run would be {steps:.3g} steps; accepted: at most {MAX_STEPS}")
    return study


# ----------------------------------------------------------------------------- training


def _run(args, command: list[str]) -> int:
    from actlab import distributed
    from actlab.record import parse_threshold
    from actlab.runner import (
        SUMMARY,
        Interrupted,
        ReportFailed,
        ReportInterrupted,
        SaveFailed,
        saved_meta,
    )

    check_selection(args)
    try:
        name, threshold, study = _build(args)
        th = args.threshold or parse_threshold(threshold)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    out = args.out or Path("runs") / name
    cmd = os.environ.get(distributed.COMMAND_ENV) or shlex.join(command)
    resume = args.resume or args.resume_or_start
    render = shlex.join(["actlab", "report", str(out)])
    try:
        train(
            name,
            study,
            out,
            args,
            resume=resume,
            or_start=args.resume_or_start,
            threshold=th,
            command=cmd,
            diverged_as=args.diverged_as,
            report=True,
            tidy=args.tidy,
            tensorboard=args.tensorboard,
            programs=args.experiment in EXPERIMENTS,  # a built-in protocol: actlab's code
        )
    except (ValueError, FileNotFoundError) as e:  # the folder, a checkpoint or the study
        raise UsageError(str(e)) from None
    except Interrupted as e:
        if e.saved:
            msg = f"{e}; results and checkpoint saved in {out}/. Resume with:"
            again = _resume_command(command)
        else:
            msg, again = f"{e}: nothing saved yet. Run again with:", cmd
        print(f"\nactlab: {msg}\n  {again}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SaveFailed as e:
        meta = saved_meta(out)
        if meta is None:
            then = f"nothing is saved yet; once it can be written, run again: {cmd}"
        else:
            then = (
                f"the checkpoint at step {meta['steps_done']} is intact; once it can be "
                f"written, resume with: {_resume_command(command)}"
            )
        print(f"actlab: error: cannot write {e}; {then}", file=sys.stderr)
        return EXIT_USAGE
    except ReportInterrupted:
        print(
            f"\nactlab: interrupted while writing the report; the run is saved. Render it with:"
            f"\n  {render}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ReportFailed as e:
        print(
            f"actlab: error: cannot write {e}; the run is saved in {out}/: once it can be "
            f"written, render the report with: {render}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not distributed.is_main():  # process 0 wrote the report
        return 0
    print((out / SUMMARY).read_text(), end="")
    print(f"report: {out / 'report.md'}")
    return 0


def _suite(args, command: list[str]) -> int:
    """``actlab suite``: build the suite (built in or a file), run it into ``--out``."""
    import dataclasses

    from actlab import suite as suites
    from actlab.runner import Interrupted, ReportFailed, ReportInterrupted, SaveFailed

    try:
        if args.suite in SUITES:
            name, s = args.suite, suites.SUITES[args.suite][1](quick=args.quick)
        else:
            name, s = plugins.load_suite(args.suite, quick=args.quick)
        changes = {"seeds": args.seeds, "diverged_as": args.diverged_as}
        s = dataclasses.replace(s, **{k: v for k, v in changes.items() if v is not None})
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    out = args.out or Path("runs") / name
    cmd = shlex.join(command)
    try:
        # --quick: a smoke test; its tasks' own reports would double its plotting
        analysis = s.run(out, chunks=args.chunks, task_reports=not args.quick, command=cmd)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    except (Interrupted, SaveFailed, ReportInterrupted, ReportFailed) as e:
        print(
            f"\nactlab: {e}; finished tasks are kept in {out}/. Continue with:\n  {cmd}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED if not isinstance(e, SaveFailed | ReportFailed) else EXIT_USAGE
    iqm = analysis.aggregates[analysis.aggregates["statistic"] == "iqm"]
    for row in iqm.itertuples():
        print(f"  {row.act:<12} IQM {row.estimate:.3f} [{row.lo:.3f}, {row.hi:.3f}]")
    print(f"report: {out / 'suite.md'}")
    return 0


def train(name: str, study, out: Path, args, *, report: bool = False, **kw):
    """``execute`` the study into ``out``, or with ``--select`` ``execute_selected``: each
    activation at its own selected rate. Returns the ``Result`` of the comparison.
    ``--max-memory`` bounds the models' device memory (``Study.max_memory``). ``report`` and
    ``kw`` as ``execute``'s, but no report by default: ``experiments/`` write their own."""
    from actlab.runner import execute, execute_selected

    if getattr(args, "max_memory", None) is not None:
        study = study.replace(max_memory=args.max_memory)
    if args.select is None:
        return execute(name, study, out, args.chunks, report=report, **kw)
    chosen, result = execute_selected(
        name,
        study,
        out,
        args.chunks,
        metric=args.select,
        validation=args.validation,
        select_seeds=args.select_seeds,
        report=report,
        **kw,
    )
    rates = ", ".join(f"{a} {lr:g}" for a, lr in zip(chosen.activations, chosen.chosen))
    edge = chosen.at_edge()
    print(f"selected by {chosen.metric}: {rates}", file=sys.stderr)
    if edge:
        print(
            f"actlab: note: {', '.join(edge)} chose a rate at the edge of --lrs: the best may "
            "lie outside it",
            file=sys.stderr,
        )
    return result


def _resume_command(command: list[str]) -> str:
    """``command`` with --resume added, unless it has a resume flag already."""
    return shlex.join(command if set(RESUME_FLAGS) & set(command) else [*command, "--resume"])


# ----------------------------------------------------------------------------- commands


def _list(loaded: list[str]) -> int:
    print("experiments (or your own study: actlab run path/to/study.py):")
    for name, (summary, source, names) in EXPERIMENTS.items():
        print(f"  {name:<24} {summary} ({source})")
        print(f"  {'':<24} datasets: {', '.join(names)}")
    names = ACTIVATIONS
    if loaded:  # plugins may have registered more: the registry itself (this loads JAX)
        from actlab import activations

        names = activations.names()
        print(f"plugins: {', '.join(loaded)}")
    print("activations:\n  " + ", ".join(names))
    print("datasets:\n  " + ", ".join(datasets()))
    print("suites (actlab suite NAME, or your own: actlab suite path/to/suite.py):")
    for name, summary in SUITES.items():
        print(f"  {name:<24} {summary}")
    print("threshold metrics (--threshold METRIC=VALUE):\n  " + ", ".join(THRESHOLD_METRICS))
    return 0


def _report(args) -> int:
    from actlab import report

    try:
        rec = report.Record.load(args.dir)
        if args.diverged_as is not None:
            rec = rec.with_rule(args.diverged_as)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    path = report.write(rec, args.dir, args.threshold, tidy=args.tidy)
    print(report.console(rec))
    print(f"report: {path}")
    return 0


def _compare(args) -> int:
    from actlab import report, results

    try:
        a, b = (report.Record.load(d) for d in args.dirs)
        table = report.compare(a, b)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    text = report.compare_markdown(a, b, table, tuple(str(d) for d in args.dirs))
    print(text)
    if args.out is not None:
        results.atomic_write(args.out, lambda tmp: tmp.write_text(text))
        print(f"written to {args.out}")
    return 0


def _demo(p: argparse.ArgumentParser, out: Path) -> int:
    for argv in (
        # an interrupted demo continues where it stopped, a finished one is run again
        ["run", "mnist1d", "--out", str(out / "mnist1d"), "--resume-or-start"],
        ["run", "xor", "--seeds", "100", "--out", str(out / "xor"), "--resume-or-start"],
    ):
        code = _run(p.parse_args(argv), ["actlab", *argv])
        if code:
            return code
        print()
    print(f"results, reports and plots in {out}/")
    return 0


def _load_plugins(argv: list[str]) -> list[str]:
    """The plugins of ``run`` and ``list`` (``--plugins``, the entry points), imported before
    the arguments are parsed; none is looked for by other commands."""
    if not argv or argv[0] not in ("run", "list", "suite"):
        return []
    scan = argparse.ArgumentParser(add_help=False)
    scan.add_argument("--plugins")
    names = scan.parse_known_args(argv[1:])[0].plugins
    names = [n.strip() for n in (names or "").split(",") if n.strip()]
    if not names and not plugins.has_entry_points():
        return []
    return plugins.load(names)


def main(argv: list[str] | None = None) -> int:
    # before JAX's first computation: seeds then train on every core in parallel
    runtime.use_host_devices()
    p = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        loaded = _load_plugins(argv)
    except plugins.PluginError as e:
        p.exit(EXIT_USAGE, f"actlab: error: {e}\n")
    args = p.parse_args(argv)
    try:
        if args.command == "list":
            return _list(loaded)
        runtime.use_compilation_cache()  # a second run of a study loads its programs
        if args.command == "demo":
            return _demo(p, args.out)
        if args.command == "report":
            return _report(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "suite":
            return _suite(args, ["actlab", *argv])
        check_cluster(args)
        from actlab import distributed

        if args.processes is not None:
            return distributed.launch(_without(argv, "--processes"), args.processes)
        if args.coordinator is not None or args.distributed:
            distributed.initialize(args.coordinator, args.num_processes, args.process_id)
        return _run(args, ["actlab", *argv])
    except UsageError as e:
        p.exit(EXIT_USAGE, f"actlab: error: {e}\n")
    except OSError as e:  # a file-system fault not met above: still one line, not a traceback
        from actlab.runner import os_error

        p.exit(EXIT_USAGE, f"actlab: error: {os_error(e)}\n")
    except KeyboardInterrupt:
        print("\nactlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
