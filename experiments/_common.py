"""What every experiment script shares: arguments, chunked training with saving, writing.

Each ``experiments/NAME.py`` exposes ``build(quick=..., **overrides) -> Study``,
``analyse(result, quick=False) -> dict`` (tables as DataFrames, numbers as floats; ``quick``
makes any extra measurement small),
``figures(result, analysis) -> {name: Figure}`` and ``main(argv)``, which trains, analyses and
writes ``OUT/results.json``, ``trace.npz`` (actlab.results), ``analysis.json``, one
``.csv`` and ``.md`` per table and one ``.png`` per figure. The notebooks import these
functions; ``experiments/reproduction_table.py`` reads ``analysis.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import actlab
from actlab import cli, plots, protocols, report, results, runner

QUICK_ENV = "ACTLAB_QUICK"


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


def train(
    study: actlab.Study,
    out: Path | None,
    name: str,
    chunks: int = 10,
    log=True,
    *,
    resume: bool = False,
    or_start: bool = False,
):
    """Train ``study``; with ``out``, through the library's chunked runner, so the run folder
    gets ``results.json``, ``trace.npz`` and a checkpoint after each of about ``chunks``
    compiled calls (one compilation), and ``resume=True`` continues an interrupted run."""
    if out is None:
        return study.run()
    return runner.execute(
        name, study, out, chunks, progress=log, resume=resume or or_start, or_start=or_start
    )


def markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub markdown table of ``df``, floats in ``floatfmt`` (``report.md_table``)."""
    cell = lambda v: format(float(v), floatfmt) if isinstance(v, (float, np.floating)) else v
    return report.md_table(df.map(cell))


def write(
    out: Path, analysis: dict, figs: dict, result: actlab.Result, command: str | None = None
) -> None:
    """``analysis.json`` (every entry; tables as lists of rows), ``NAME.csv``/``NAME.md`` per
    table, ``NAME.png`` per figure."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "command": command or "python " + " ".join(sys.argv),
        "dataset": result.study.data.name,
        "data_source": result.study.data.source,
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
    p = parser(module.__doc__)
    extra = getattr(module, "add_arguments", None)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    own = ("quick", "out", "chunks", "resume", "resume_or_start")
    kw = {k: v for k, v in vars(args).items() if k not in own}
    try:
        study = module.build(quick=args.quick, **kw)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    name = study.name
    out = args.out or Path("runs") / name
    try:
        result = train(
            study, out, name, args.chunks, resume=args.resume, or_start=args.resume_or_start
        )
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
    write(out, analysis, module.figures(result, analysis), result, command)
    for key, value in analysis.items():
        if isinstance(value, pd.DataFrame):
            print(f"\n{key}\n{value.to_string(index=False)}")
    print(f"\nresults in {out}/")
    return 0
