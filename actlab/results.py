"""Saving a result: ``results.json`` (the machine-readable summary other tools read) and
``trace.npz`` (every traced array, for re-rendering reports). Writes are atomic: a run that
is killed mid-write, or whose disk fills up, leaves the previous complete files.

A file that cannot be read back (truncated, overwritten, not actlab's) raises ``CorruptFile``,
a ``ValueError`` naming the file and what to do; the file is never deleted.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
import pandas as pd

from actlab import adapters, losses, outcome
from actlab.study import Result
from actlab.train import CORE, Trace, eval_sizes

SCHEMA = 1
SUMMARISED = ("test_accuracy", "test_loss", "train_loss", "train_accuracy")


def summarised(trace: Trace) -> list[str]:
    """The metrics ``results.json`` summarises over seeds: the losses, the accuracies where
    the loss has one, and the study's own metrics."""
    own = [n for n in trace.names() if n not in CORE and n not in SUMMARISED]
    return [m for m in SUMMARISED if m in trace.names()] + own


REQUIRED = {  # what a results.json must hold for reports and comparisons
    "experiment": str,
    "complete": bool,
    "steps_done": int,
    "config": dict,
    "activations": list,
    "seeds": int,
    "timing": dict,
}
_UMASK = os.umask(0o022)  # read the process umask (only settable), then put it back
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it to ``path``.

    The rename is atomic, so readers (and a run killed mid-write) see the old file or the new
    one, never half of one. The temporary name keeps ``path``'s suffix (matplotlib and pandas
    choose the format from it) and starts with a dot.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename != str(path):
            # name the file the user knows (a disk full shows on the temporary one)
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    return path


class CorruptFile(ValueError):
    """A file of a run folder that cannot be read back. It is left where it is."""

    def __init__(self, path: str | os.PathLike, reason: str, advice: str):
        super().__init__(f"{path} is unreadable ({reason}); it is left as it is: {advice}")
        self.path = Path(path)


# what numpy, zipfile, zlib and json raise on a truncated or overwritten file
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def read_or_raise(path: str | os.PathLike, read: Callable[[Path], Any], advice: str) -> Any:
    """``read(path)``; any way it fails to parse the file is raised as ``CorruptFile``."""
    try:
        return read(Path(path))
    except _UNREADABLE as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())  # one line
        raise CorruptFile(path, reason, advice) from e


def _atomic_bytes(path: Path, write: Callable[[Any], Any]) -> Path:
    """atomic_write with ``write(f)`` given the open binary file."""

    def to(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return atomic_write(path, to)


def jsonable(x):
    """``x`` as plain JSON values: tables as lists of row dicts, arrays as lists, numpy
    scalars as Python ones, non-finite floats as null (JSON has no NaN), anything else by its
    ``repr``."""
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, pd.DataFrame):
        return jsonable(x.to_dict(orient="records"))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return repr(x)


def _floats(a: np.ndarray) -> list:
    """JSON has no NaN: non-finite values become null."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float).ravel()]


def describe(result: Result) -> dict[str, Any]:
    """The study's settings as plain JSON values."""
    s, c = result.study, result.config
    return {
        "model": adapters.fingerprint(c.model),
        "optimizer": describe_optimizer(s.optimizer),
        "lrs": None if s.lrs is None else [float(x) for x in s.lrs],
        "act_lrs": None if s.act_lrs is None else dict(zip(s.activations, s.act_lrs)),
        "batch_size": c.batch_size,
        "steps": c.steps,
        "eval_every": c.eval_every,
        "loss": losses.get(c.loss).name,
        "metrics": [n for n in result.trace.names() if n not in CORE],
        "goals": s.goals,
        "dataset": s.data.name,
        "classes": None if s.data.num_classes is None else int(s.data.num_classes),
        "data_source": s.data.source,
        "n_train": int(s.data.x_train.shape[0]),
        "n_test": int(s.data.x_test.shape[0]),
        "seed": s.seed,
        "hold": list(s.hold),
        "mode": s.mode,
        "layout": None if result.layout is None else result.layout.describe(),
        "parameters": parameters(result),
        # examples read at the evaluation points before the last, and at the last
        "eval_examples": eval_sizes(c, int(s.data.x_train.shape[0]), int(s.data.x_test.shape[0])),
    }


def parameters(result: Result) -> dict[str, int]:
    """Each activation's trained parameters per model (the model's and the activation's
    own, e.g. PReLU's slopes): a GLU's or maxout's model differs from a pointwise one's."""
    lead = result.study.seeds * (1 if result.study.lrs is None else len(result.study.lrs))
    out = {}
    for a, act in enumerate(result.activations):
        grouped = result.study.mode == "grouped"
        tree = result.states[a if grouped else 0].params
        models = lead if grouped else lead * len(result.activations)
        out[act] = sum(int(x.size) for x in jax.tree.leaves(tree)) // models
    return out


def _module(m) -> str:
    """``MLP(hidden=(256, 128), init_scheme=Init(...))``: the fields a study sets, on one line
    (``acts`` and ``classes`` are the study's and the data's)."""
    skip = {"parent", "name", "acts", "classes"}
    fields = [f.name for f in dataclasses.fields(m) if f.name not in skip]
    return f"{type(m).__name__}({', '.join(f'{k}={getattr(m, k)!r}' for k in fields)})"


def describe_optimizer(opt) -> str:
    """What an optimizer does, for people: ``optax.adam(1e-3)`` reads
    ``scale_by_adam(b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0) + scale(step_size=-0.001)``.

    optax transformations are closures, so this reads their free variables: each piece of a
    chain by the name of the optax function that made it, with its scalar settings. A
    function of the learning rate (an lr sweep) is named as it is (``adam``); anything that
    cannot be read falls back to its type's name.
    """
    if isinstance(opt, functools.partial):  # protocols.py's family at settings: sgd(lr, ...)
        kw = "".join(f", {k}={v!r}" for k, v in opt.keywords.items())
        return f"{describe_optimizer(opt.func)}(lr{kw})"
    if not isinstance(opt, optax.GradientTransformation):
        return getattr(opt, "__name__", None) or type(opt).__name__
    try:
        return " + ".join(_pieces(opt.update)) or "identity"
    except (AttributeError, KeyError, TypeError, ValueError):  # not an optax closure
        return type(opt).__name__


def _pieces(update) -> list[str]:
    cells = dict(
        zip(update.__code__.co_freevars, (c.cell_contents for c in update.__closure__ or ()))
    )
    name = update.__qualname__.split(".<locals>")[0]
    if name == "chain":
        return [p for f in cells["update_fns"] for p in _pieces(f)]
    if name == "with_extra_args_support":
        return _pieces(cells["tx"].update)
    if name == "identity":
        return []
    scalars = {
        k: v for k, v in cells.items() if isinstance(v, (int, float, str)) and v is not False
    }
    return [f"{name}({', '.join(f'{k}={v!r}' for k, v in scalars.items())})"]


def summary(
    result: Result,
    experiment: str,
    *,
    complete: bool = True,
    steps_done=None,
    threshold: tuple[str, float] | None = None,
    command: str | None = None,
    diverged_as: str | None = None,
) -> dict:
    """The ``results.json`` document. Per-seed lists are indexed ``[act][seed]`` (with an lr
    sweep ``[act][lr][seed]``). ``threshold`` (metric, value), if the run defines one, is kept
    so that ``actlab report`` can re-render its time-to-threshold table; ``command`` is the
    command line that made the run, if any.

    ``metrics`` holds the raw per-seed values as traced (a diverged model's are those of its
    frozen parameters; ``metrics.diverged`` flags them). ``summary[METRIC][GROUP]`` (GROUP: the
    activation, or ``"act lr=..."`` with an lr sweep) is the analysis over seeds under the
    rule ``outcome.diverged_as`` (default: every seed counts, ``actlab.outcome``): ``n``,
    ``n_diverged``, ``mean``, ``ci_low``, ``ci_high`` (95 %, ``ci_method``), ``median`` with
    its CI, ``std`` and ``rule``; null where a number is not finite (the mean loss is
    infinite as soon as one run diverged under the default rule: ``ci_method`` "infinite").
    """
    acts = result.activations
    rule = outcome.check_rule(diverged_as)
    classes, goals = result.study.data.num_classes, result.study.goals
    labels = (
        list(acts)
        if result.study.lrs is None
        else [f"{a} lr={lr:g}" for a in acts for lr in result.study.lrs]
    )
    diverged = np.asarray(result.diverged).reshape(len(labels), -1)

    finals = {m: result.final(m, diverged_as="frozen") for m in summarised(result.trace)}
    flat = {m: v.reshape(len(labels), -1) for m, v in finals.items()}

    def per_act(a: np.ndarray, conv=_floats) -> dict:
        return {
            name: np.asarray(conv(a[i])).reshape(a[i].shape).tolist() for i, name in enumerate(acts)
        }

    models = int(np.prod(result.diverged_at.shape))
    return {
        "schema": SCHEMA,
        "experiment": experiment,
        "complete": complete,
        "command": command,
        "steps_done": int(result.steps[-1]) if steps_done is None else int(steps_done),
        "config": describe(result),
        "activations": list(acts),
        "seeds": int(result.study.seeds),
        "threshold": None
        if threshold is None
        else {"metric": str(threshold[0]), "value": float(threshold[1])},
        "outcome": {"diverged_as": rule, "description": outcome.describe(rule, classes)},
        "summary": outcome.document(flat, diverged, labels, classes, rule, goals=goals),
        "metrics": {
            **{f"final_{m}": per_act(v) for m, v in finals.items()},
            "diverged": per_act(result.diverged, conv=lambda x: np.asarray(x, bool)),
            "diverged_at": per_act(result.diverged_at, conv=lambda x: np.asarray(x, int)),
        },
        "timing": {
            "compile_s": round(result.timing["compile_s"], 3),
            "train_s": round(result.timing["train_s"], 3),
            "models": models,
            "model_chunks": int(result.timing.get("model_chunks", 1)),
            "memory": _memory(result),
            "steps": int(result.config.steps),
            "model_steps_per_s": models
            * int(result.steps[-1])
            / max(result.timing["train_s"], 1e-9),
        },
        "machine": {
            "platform": platform.platform(),
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "jax": jax.__version__,
        },
    }


def _memory(result: Result) -> dict | None:
    """``timing.memory``: how the models shared a device's memory (``layout.Memory``)."""
    layout = result.layout
    return None if layout is None else dict(layout.memory._asdict())


def save(result: Result, out: str | os.PathLike, experiment: str, **kw) -> Path:
    """Write ``out/results.json`` and ``out/trace.npz`` atomically; returns ``out``."""
    out = Path(out)
    doc = summary(result, experiment, **kw)
    arrays = {k: np.asarray(v) for k, v in result.trace.flat().items()}
    arrays["diverged_at"] = result.diverged_at
    # trace first: a results.json on disk always has its trace beside it
    _atomic_bytes(out / "trace.npz", lambda f: np.savez_compressed(f, **arrays))
    _atomic_bytes(out / "results.json", lambda f: f.write(json.dumps(doc, indent=1).encode()))
    return out


def _document(path: Path) -> dict:
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"a JSON {type(doc).__name__}, not an object")
    wrong = [k for k, kind in REQUIRED.items() if not isinstance(doc.get(k), kind)]
    if wrong:
        raise ValueError(f"missing or mistyped: {', '.join(wrong)}")
    return doc


CENSUS = ("inactive", "dead", "saturated")


def _arrays(path: Path) -> tuple[Trace, np.ndarray]:
    with np.load(path) as z:
        # a run saved before the census had `inactive` reads back with it NaN (not measured)
        fields = {k: z[k] for k in z.files if k != "diverged_at"}
        for k in CENSUS:
            fields.setdefault(k, np.full(z["dead"].shape, np.nan, np.float32))
        return Trace.of(fields), z["diverged_at"]


def load(out: str | os.PathLike) -> tuple[dict, Trace, np.ndarray]:
    """``(results.json as dict, Trace of numpy arrays, diverged_at)`` from a run folder.

    Raises ``FileNotFoundError`` if either file is missing and ``CorruptFile`` if either
    cannot be read.
    """
    out = Path(out)
    if not (out / "results.json").exists():
        raise FileNotFoundError(f"{out} holds no results.json: is it an `actlab run --out` folder?")
    if not (out / "trace.npz").exists():
        raise FileNotFoundError(f"{out} holds results.json but no trace.npz beside it")
    advice = f"run the experiment again with --out {out} (--resume if it is unfinished)"
    doc = read_or_raise(out / "results.json", _document, advice)
    trace, diverged_at = read_or_raise(out / "trace.npz", _arrays, advice)
    lrs = doc["config"].get("lrs")
    models = (len(doc["activations"]), *(() if lrs is None else (len(lrs),)), doc["seeds"])
    if trace.step.shape[: len(models)] != models:
        reason = f"its activations x seeds {models} do not fit trace.npz, {trace.step.shape}"
        raise CorruptFile(out / "results.json", reason, advice)
    return doc, trace, diverged_at
