"""The suite ``mnist_like``: article 001's four activations over four MNIST-like tasks.

    python experiments/mnist_like.py --quick --out /tmp/mnist_like   # CI size
    python experiments/mnist_like.py --out runs/mnist_like           # 20 seeds (2-core CPU)

Runs ``actlab.suite.mnist_like`` (the same as ``actlab suite mnist_like``: finished tasks in
``--out`` are skipped, an unfinished one continues), then writes the files small enough to
commit beside the report: ``seeds.csv``, every run's final test accuracy and diverged flag,
one row per task x design x activation x seed (the suite's ``tidy.parquet`` less what is
derived from it), and ``analysis.json``, the settings and timings of every task.
``experiments/reproduction_table.py`` recomputes REPRODUCTION.md's section from them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actlab import results, runtime  # noqa: E402

SEEDS_COLUMNS = (
    "task",
    "dataset",
    "classes",
    "design",
    "activation",
    "seed",
    "metric",
    "value",
    "diverged_at",  # the step of the first non-finite loss, -1 for a run that never diverged
)


def compact(out: Path, suite, command: str) -> dict:
    """``seeds.csv`` and ``analysis.json`` into ``out`` from the suite's run folders."""
    from actlab import suite as suites

    table = pd.read_parquet(out / "tidy.parquet").rename(columns={"act": "activation"})
    tasks, steps = [], {}
    for task in suite.tasks:
        for design in (
            "full",
            *(("init_held", "data_held") if task.name in suite.variance else ()),
        ):
            doc = json.loads((suites.folder(out, task.name, design) / "results.json").read_text())
            for act, at in doc["metrics"]["diverged_at"].items():
                steps |= {(task.name, design, act, i): int(v) for i, v in enumerate(at)}
            c = doc["config"]
            tasks.append(
                {
                    "task": task.name,
                    "design": design,
                    "dataset": c["dataset"],
                    "data_source": c["data_source"],
                    "classes": c["classes"],
                    "n_train": c["n_train"],
                    "n_test": c["n_test"],
                    "model": c["model"],
                    "optimizer": c["optimizer"],
                    "batch_size": c["batch_size"],
                    "steps": c["steps"],
                    "parameters": c["parameters"],
                    "hold": c["hold"],
                    "eval_examples": c["eval_examples"],
                    "compile_s": doc["timing"]["compile_s"],
                    "train_s": doc["timing"]["train_s"],
                }
            )
    keys = zip(table["task"], table["design"], table["activation"], table["seed"])
    table["diverged_at"] = [steps[k] for k in keys]
    table = table[list(SEEDS_COLUMNS)]
    results.atomic_write(
        out / "seeds.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.9g")
    )
    acts = list(suite.activations)
    analysis = {
        "command": command,
        "suite": suite.name,
        "question": suite.question,
        "activations": acts,
        "seeds": int(table["seed"].max()) + 1,
        "n_diverged": {a: int((table[table.activation == a].diverged_at >= 0).sum()) for a in acts},
        "metric": suite.metric,
        "diverged_as": suite.diverged_as,
        "normalisation": suite.normalisation,
        "variance": list(suite.variance),
        "tasks": tasks,
        "machine": f"{os.cpu_count()} CPU cores, jax {__import__('jax').__version__} "
        f"({__import__('jax').default_backend()})",
    }
    results.atomic_write(
        out / "analysis.json", lambda tmp: tmp.write_text(json.dumps(analysis, indent=1) + "\n")
    )
    return analysis


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size (default: full size)")
    p.add_argument("--seeds", type=int, help="seeds per activation and task (default: 20)")
    p.add_argument("--out", type=Path, default=Path("runs/mnist_like"), help="output folder")
    args = p.parse_args(argv)
    runtime.use_host_devices()
    runtime.use_compilation_cache()
    import dataclasses

    from actlab import suite as suites

    suite = suites.mnist_like(quick=args.quick)
    if args.seeds is not None:
        suite = dataclasses.replace(suite, seeds=args.seeds)
    command = shlex.join(["python", "experiments/mnist_like.py", *(argv or sys.argv[1:])])
    suite.run(args.out, task_reports=not args.quick, command=command)
    compact(args.out, suite, command)
    print(f"report: {args.out / 'suite.md'}; committed data: seeds.csv, analysis.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
