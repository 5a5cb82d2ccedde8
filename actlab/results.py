"""Saving a result: ``results.json`` (the machine-readable summary other tools read) and
``trace.npz`` (every traced array, for re-rendering reports). Writes are atomic: a run that
is killed mid-write leaves the previous complete files.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from actlab.study import Result
from actlab.train import Trace

SCHEMA = 1


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _floats(a: np.ndarray) -> list:
    """JSON has no NaN: non-finite values become null."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float).ravel()]


def describe(result: Result) -> dict[str, Any]:
    """The study's settings as plain JSON values."""
    s, c = result.study, result.config
    return {
        "model": repr(c.model.clone(acts=("…",))).replace("\n", " "),
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


def _optimizer_name(opt) -> str:
    return getattr(opt, "__name__", None) or type(opt).__name__


def summary(result: Result, experiment: str, *, complete: bool = True, steps_done=None) -> dict:
    """The ``results.json`` document. Per-seed lists are indexed ``[act][seed]`` (with an lr
    sweep ``[act][lr][seed]``)."""
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
        "steps_done": int(result.steps[-1]) if steps_done is None else int(steps_done),
        "config": describe(result),
        "activations": list(acts),
        "seeds": int(result.study.seeds),
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
    _atomic_write(out / "results.json", lambda f: f.write(json.dumps(doc, indent=1).encode()))
    arrays = {k: np.asarray(v) for k, v in result.trace._asdict().items()}
    arrays["diverged_at"] = result.diverged_at
    _atomic_write(out / "trace.npz", lambda f: np.savez_compressed(f, **arrays))
    return out


def load(out: str | os.PathLike) -> tuple[dict, Trace, np.ndarray]:
    """``(results.json as dict, Trace of numpy arrays, diverged_at)`` from a run folder."""
    out = Path(out)
    if not (out / "results.json").exists():
        raise FileNotFoundError(f"{out} holds no results.json: is it an `actlab run --out` folder?")
    doc = json.loads((out / "results.json").read_text())
    with np.load(out / "trace.npz") as z:
        trace = Trace(*(z[k] for k in Trace._fields))
        diverged_at = z["diverged_at"]
    return doc, trace, diverged_at
