"""The ``actlab`` command: run named experiments, list what exists.

Bad arguments get a one-line error naming the accepted values and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from actlab import activations as A
from actlab import data as D
from actlab import plots, results, stats
from actlab import protocols as P


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="actlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a named experiment")
    run.add_argument("experiment", help=f"one of: {', '.join(P.PROTOCOLS)}")
    _run_options(run)
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


def _build(args) -> tuple[P.Protocol, object]:
    proto = P.get(args.experiment)
    if args.dataset is not None and args.dataset not in proto.datasets:
        raise ValueError(
            f"experiment {proto.name!r} does not fit dataset {args.dataset!r}; "
            f"accepted: {', '.join(proto.datasets)}"
        )
    o = P.Overrides(
        args.acts, args.seeds, args.steps, args.epochs, args.lr, args.dataset, args.quick
    )
    return proto, proto.build(o)


def execute(name: str, study, out: Path, chunks: int = 20, progress: bool = True):
    """Train ``study`` in ``chunks`` compiled calls (one compilation), saving after each."""
    from tqdm.auto import tqdm

    run = study.start()
    per_chunk = max(1, -(-run.num_intervals // chunks))
    bar = tqdm(
        total=run.cfg.steps, unit="step", disable=not progress, desc=f"{name} {_size(study)}"
    )
    while not run.done:
        run.advance(per_chunk)
        bar.update(run.steps_done - bar.n)
        results.save(run.result(), out, name, complete=run.done)
    bar.close()
    return run.result()


def _size(study) -> str:
    lrs = f" x {len(study.lrs)} lrs" if study.lrs is not None else ""
    return f"{len(study.activations)} acts x {study.seeds} seeds{lrs}"


def report(result, name: str, out: Path) -> str:
    """Print and save the per-activation table and the main plots; returns the table."""
    acts = result.activations
    acc = result.final("test_accuracy").reshape(len(acts), -1)
    div = result.diverged.reshape(len(acts), -1)
    table = stats.summarize(np.where(div, np.nan, acc), acts)[
        ["name", "n", "mean", "ci_low", "ci_high", "median", "std"]
    ]
    rate = stats.rates(div, acts)
    table["diverged"] = [f"{k}/{n}" for k, n in zip(rate.k, rate.n)]
    text = (
        f"{name}: final test accuracy over seeds (95 % bootstrap CI of the mean; "
        f"diverged models excluded)\n{table.to_string(index=False, float_format='%.4f')}\n"
        f"timing: compile {result.timing['compile_s']:.1f} s, "
        f"train {result.timing['train_s']:.1f} s"
    )
    (out / "summary.txt").write_text(text + "\n")
    if result.study.lrs is None:
        steps = result.steps
        plots.save(
            plots.learning_curves(
                steps, result.curve("test_accuracy"), acts, ylabel="test accuracy"
            ),
            out / "test_accuracy.png",
        )
        plots.save(
            plots.layer_heatmap(steps, result.grad_norms, acts), out / "grad_norm_heatmap.png"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        if args.command == "list":
            print("experiments:")
            for proto in P.PROTOCOLS.values():
                print(f"  {proto.name:<24} {proto.summary} ({proto.source})")
            print("activations:\n  " + ", ".join(A.names()))
            print(
                "datasets:\n  " + ", ".join(D.BUILTIN) + ", mnist, fashion_mnist, kmnist, cifar10"
            )
            return 0
        if args.command == "demo":
            for name, o in (("mnist1d", P.Overrides()), ("xor", P.Overrides(seeds=100))):
                study = P.get(name).build(o)
                out = args.out / name
                print(report(execute(name, study, out), name, out), "\n")
            print(f"results, summaries and plots in {args.out}/")
            return 0
        proto, study = _build(args)
        out = args.out or Path("runs") / proto.name
        result = execute(proto.name, study, out, args.chunks)
        print(report(result, proto.name, out))
        print(f"results in {out}/")
        return 0
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f"actlab: error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
