"""The ``actlab`` command: run named experiments, render reports, compare runs, list what exists.

    actlab run EXPERIMENT [--acts a,b] [--seeds N] [--steps N | --epochs E] [--lr X]
                          [--dataset D] [--out DIR] [--quick] [--resume] [--chunks K]
                          [--threshold METRIC=VALUE]
    actlab report DIR [--threshold METRIC=VALUE]
    actlab compare DIR1 DIR2 [--out FILE]
    actlab list
    actlab demo [--out DIR]

``run`` trains in ``--chunks`` compiled calls (one compilation) and after each writes
``results.json`` and ``trace.npz`` and a checkpoint, atomically; at the end it writes
``report.md``, ``tidy.csv`` (``tidy.parquet``) and plots (``actlab.report``). Ctrl-C keeps what
is done and prints the command that resumes it (exit code 130). Bad arguments get a one-line
error naming the accepted values and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from actlab import activations as A
from actlab import checkpoint, report, results, runtime
from actlab import data as D
from actlab import protocols as P

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


class Interrupted(Exception):
    """Ctrl-C during ``execute``, after what was done has been saved."""

    def __init__(self, steps_done: int, steps: int, saved: bool):
        super().__init__(f"interrupted at step {steps_done} of {steps}")
        self.steps_done, self.steps, self.saved = steps_done, steps, saved


class _Parser(argparse.ArgumentParser):
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


def _acts(s: str) -> tuple[str, ...]:
    try:
        return A.resolve(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _threshold(s: str) -> report.Threshold:
    try:
        return report.parse_threshold(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def datasets() -> tuple[str, ...]:
    """Every dataset name ``actlab.data.load`` knows without a path."""
    return (*D.BUILTIN, *D.IMAGES)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="actlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a named experiment")
    run.add_argument("experiment", help=f"one of: {', '.join(P.PROTOCOLS)} (actlab list)")
    _run_options(run)
    rep = sub.add_parser("report", help="re-render report.md, tidy table and plots of a run")
    rep.add_argument("dir", type=Path, help="a folder written by actlab run")
    rep.add_argument("--threshold", type=_threshold, help="METRIC=VALUE, e.g. train_error=0.25")
    cmp = sub.add_parser("compare", help="final test accuracy of two runs, per activation")
    cmp.add_argument("dirs", type=Path, nargs=2, metavar="DIR", help="folders of two runs")
    cmp.add_argument("--out", type=Path, help="also write the markdown table to this file")
    demo = sub.add_parser("demo", help="the embedded default: MNIST-1D and deep XOR, no download")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    sub.add_parser("list", help="list experiments, activations and datasets")
    return p


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--acts", type=_acts, help="comma-separated activations")
    run.add_argument("--seeds", type=_positive_int)
    length = run.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int)
    length.add_argument("--epochs", type=_positive_float)
    run.add_argument("--lr", type=_positive_float)
    run.add_argument("--dataset", help="dataset name (actlab list shows them)")
    run.add_argument("--quick", action="store_true", help="CI-sized settings")
    run.add_argument("--out", type=Path, help="output folder (default runs/EXPERIMENT)")
    run.add_argument("--chunks", type=_positive_int, default=20, help="progress/save points")
    run.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    run.add_argument(
        "--threshold",
        type=_threshold,
        help=f"METRIC=VALUE for the time-to-threshold table; METRIC: "
        f"{', '.join(report.THRESHOLD_METRICS)}",
    )


def _build(args) -> tuple[P.Protocol, object]:
    proto = P.get(args.experiment)
    if args.dataset is not None and args.dataset not in proto.datasets:
        what = "does not fit" if args.dataset in datasets() else "does not know"
        raise ValueError(
            f"experiment {proto.name!r} {what} dataset {args.dataset!r}; "
            f"accepted: {', '.join(proto.datasets)}"
        )
    o = P.Overrides(
        args.acts, args.seeds, args.steps, args.epochs, args.lr, args.dataset, args.quick
    )
    return proto, proto.build(o)


# ----------------------------------------------------------------------------- training


def execute(
    name: str,
    study,
    out: Path,
    chunks: int = 20,
    *,
    progress: bool = True,
    resume: bool = False,
    threshold: report.Threshold | None = None,
    command: str | None = None,
):
    """Train ``study`` in about ``chunks`` compiled calls (one compilation) and return its
    ``Result``. After each call ``results.json``, ``trace.npz`` and a checkpoint are written
    atomically into ``out``; the checkpoint is removed when the run completes.

    ``resume=True`` continues from ``out``'s checkpoint (same chunk size, so the same
    compiled program). Raises ``UsageError`` if that checkpoint is another study's, and
    ``Interrupted`` on Ctrl-C, once what was done is saved.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    fp = checkpoint.fingerprint(study, experiment=name)
    meta = checkpoint.read(out)
    try:
        if resume and meta is not None:
            checkpoint.check(meta, fp, out / checkpoint.NPZ)  # before compiling: fail fast
        elif resume:
            print(f"actlab: {out} holds no checkpoint: starting from step 0", file=sys.stderr)
        elif meta is not None:
            print(
                f"actlab: {out} holds a checkpoint at step {meta['steps_done']} (add --resume "
                "to continue it); starting over",
                file=sys.stderr,
            )
        try:
            run = study.start()
        except KeyboardInterrupt:
            raise Interrupted(0, study.config().steps, saved=False) from None
        if resume and meta is not None:
            meta = checkpoint.restore(run, out, fp)
            per_chunk = int(meta["chunk"])
        else:
            per_chunk = max(1, -(-run.num_intervals // chunks))
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None

    saved_kw = {"threshold": threshold, "command": command}

    def save(snap: checkpoint.Snapshot) -> None:
        done = snap.intervals_done >= run.num_intervals
        res = checkpoint.result(run, snap)
        results.save(res, out, name, complete=done, **saved_kw)
        if done:
            checkpoint.remove(out)
        else:
            checkpoint.save(out, run, chunk=per_chunk, fp=fp, snap=snap)

    snap = checkpoint.snapshot(run)
    saved = run.intervals_done if resume and meta is not None else -1
    desc = f"{name} {_size(study)}"
    bar = tqdm(
        total=run.cfg.steps, initial=run.steps_done, unit="step", disable=not progress, desc=desc
    )
    try:
        while not run.done:
            run.advance(per_chunk)
            snap = checkpoint.snapshot(run)  # consistent: taken between two chunks
            bar.update(run.steps_done - bar.n)
            save(snap)
            saved = snap.intervals_done
    except KeyboardInterrupt:
        bar.close()
        if snap.intervals_done > 0 and saved != snap.intervals_done:
            save(snap)  # the interrupt came while saving: save that chunk again
            saved = snap.intervals_done
        steps_done = min(saved * run.cfg.eval_every, run.cfg.steps) if saved > 0 else 0
        raise Interrupted(steps_done, run.cfg.steps, saved=saved > 0) from None
    bar.close()
    checkpoint.remove(out)
    return run.result()


def _size(study) -> str:
    lrs = f" x {len(study.lrs)} lrs" if study.lrs is not None else ""
    return f"{len(study.activations)} acts x {study.seeds} seeds{lrs}"


def _run(args, command: list[str]) -> int:
    try:
        proto, study = _build(args)
        th = args.threshold or report.parse_threshold(getattr(proto, "threshold", None))
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    out = args.out or Path("runs") / proto.name
    cmd = shlex.join(command)
    try:
        result = execute(
            proto.name, study, out, args.chunks, resume=args.resume, threshold=th, command=cmd
        )
    except Interrupted as e:
        again = command if "--resume" in command else [*command, "--resume"]
        if e.saved:
            msg = f"{e}; results and checkpoint saved in {out}/. Resume with:"
        else:
            msg, again = f"{e}: nothing saved yet. Run again with:", command
        print(f"\nactlab: {msg}\n  {shlex.join(again)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        rec = report.Record.of(result, proto.name, threshold=th, command=cmd)
        path = report.write(rec, out, th)
        text = report.console(rec)
        (out / "summary.txt").write_text(text + "\n")
    except KeyboardInterrupt:
        print(
            f"\nactlab: interrupted while writing the report; the run is saved. Render it with:"
            f"\n  {shlex.join(['actlab', 'report', str(out)])}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(text)
    print(f"report: {path}")
    return 0


# ----------------------------------------------------------------------------- commands


def _list() -> int:
    print("experiments:")
    for proto in P.PROTOCOLS.values():
        print(f"  {proto.name:<24} {proto.summary} ({proto.source})")
        print(f"  {'':<24} datasets: {', '.join(proto.datasets)}")
    print("activations:\n  " + ", ".join(A.names()))
    print("datasets:\n  " + ", ".join(datasets()))
    print("threshold metrics (--threshold METRIC=VALUE):\n  " + ", ".join(report.THRESHOLD_METRICS))
    return 0


def _report(args) -> int:
    try:
        rec = report.Record.load(args.dir)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    path = report.write(rec, args.dir, args.threshold)
    print(report.console(rec))
    print(f"report: {path}")
    return 0


def _compare(args) -> int:
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
        ["run", "mnist1d", "--out", str(out / "mnist1d")],
        ["run", "xor", "--seeds", "100", "--out", str(out / "xor")],
    ):
        code = _run(p.parse_args(argv), ["actlab", *argv])
        if code:
            return code
        print()
    print(f"results, reports and plots in {out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    # before JAX's first computation: seeds then train on every core in parallel
    runtime.use_host_devices()
    p = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "demo":
            return _demo(p, args.out)
        if args.command == "report":
            return _report(args)
        if args.command == "compare":
            return _compare(args)
        return _run(args, ["actlab", *argv])
    except UsageError as e:
        p.exit(EXIT_USAGE, f"actlab: error: {e}\n")
    except KeyboardInterrupt:
        print("\nactlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
