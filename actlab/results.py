"""Saving a result: ``results.json`` (the machine-readable summary other tools read) and
``trace.npz`` (every traced array, for re-rendering reports). Writes are atomic: a run that
is killed mid-write leaves the previous complete files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from actlab.study import Result
from actlab.train import Trace

SCHEMA = 1
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
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _atomic_bytes(path: Path, write: Callable[[Any], Any]) -> Path:
    """atomic_write with ``write(f)`` given the open binary file."""

    def to(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return atomic_write(path, to)


def _floats(a: np.ndarray) -> list:
    """JSON has no NaN: non-finite values become null."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float).ravel()]


def describe(result: Result) -> dict[str, Any]:
    """The study's settings as plain JSON values."""
    s, c = result.study, result.config
    return {
        "model": _module(c.model),
        "optimizer": _optimizer_name(s.optimizer),
        "lrs": None if s.lrs is None else [float(x) for x in s.lrs],
        "batch_size": c.batch_size,
        "steps": c.steps,
        "eval_every": c.eval_every,
        "loss": c.loss,
        "dataset": s.data.name,
        "data_source": s.data.source,
        "n_train": int(s.data.x_train.shape[0]),
        "n_test": int(s.data.x_test.shape[0]),
        "seed": s.seed,
        "hold": list(s.hold),
        "mode": s.mode,
    }


def _module(m) -> str:
    """``MLP(hidden=(256, 128), init_scheme=Init(...))``: the fields a study sets, on one line
    (``acts`` and ``classes`` are the study's and the data's)."""
    skip = {"parent", "name", "acts", "classes"}
    fields = [f.name for f in dataclasses.fields(m) if f.name not in skip]
    return f"{type(m).__name__}({', '.join(f'{k}={getattr(m, k)!r}' for k in fields)})"


def _optimizer_name(opt) -> str:
    return getattr(opt, "__name__", None) or type(opt).__name__


def summary(
    result: Result,
    experiment: str,
    *,
    complete: bool = True,
    steps_done=None,
    threshold: tuple[str, float] | None = None,
    command: str | None = None,
) -> dict:
    """The ``results.json`` document. Per-seed lists are indexed ``[act][seed]`` (with an lr
    sweep ``[act][lr][seed]``). ``threshold`` (metric, value), if the run defines one, is kept
    so that ``actlab report`` can re-render its time-to-threshold table; ``command`` is the
    command line that made the run, if any."""
    acts = result.activations

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
        "metrics": {
            "final_test_accuracy": per_act(result.final("test_accuracy")),
            "final_test_loss": per_act(result.final("test_loss")),
            "final_train_loss": per_act(result.final("train_loss")),
            "final_train_accuracy": per_act(result.final("train_accuracy")),
            "diverged": per_act(result.diverged, conv=lambda x: np.asarray(x, bool)),
            "diverged_at": per_act(result.diverged_at, conv=lambda x: np.asarray(x, int)),
        },
        "timing": {
            "compile_s": round(result.timing["compile_s"], 3),
            "train_s": round(result.timing["train_s"], 3),
            "models": models,
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


def save(result: Result, out: str | os.PathLike, experiment: str, **kw) -> Path:
    """Write ``out/results.json`` and ``out/trace.npz`` atomically; returns ``out``."""
    out = Path(out)
    doc = summary(result, experiment, **kw)
    arrays = {k: np.asarray(v) for k, v in result.trace._asdict().items()}
    arrays["diverged_at"] = result.diverged_at
    # trace first: a results.json on disk always has its trace beside it
    _atomic_bytes(out / "trace.npz", lambda f: np.savez_compressed(f, **arrays))
    _atomic_bytes(out / "results.json", lambda f: f.write(json.dumps(doc, indent=1).encode()))
    return out


def load(out: str | os.PathLike) -> tuple[dict, Trace, np.ndarray]:
    """``(results.json as dict, Trace of numpy arrays, diverged_at)`` from a run folder."""
    out = Path(out)
    if not (out / "results.json").exists():
        raise FileNotFoundError(f"{out} holds no results.json: is it an `actlab run --out` folder?")
    if not (out / "trace.npz").exists():
        raise FileNotFoundError(f"{out} holds results.json but no trace.npz beside it")
    doc = json.loads((out / "results.json").read_text())
    with np.load(out / "trace.npz") as z:
        trace = Trace(*(z[k] for k in Trace._fields))
        diverged_at = z["diverged_at"]
    return doc, trace, diverged_at
