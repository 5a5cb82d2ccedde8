"""Checkpoints: a ``Run``'s device states, traces, progress and timing, saved atomically after
each chunk, so that an interrupted run continues where it stopped (``actlab run ... --resume``).

``OUT/checkpoint.npz`` holds everything: every state leaf (typed PRNG keys as their raw
``key_data``), the traces so far, and a JSON ``meta`` entry with ``intervals_done``, the chunk
size, the timing and a *fingerprint* of the study. ``OUT/checkpoint.json`` repeats ``meta``
for people and tools; the ``.npz`` is the authority (a sidecar that is unreadable or differs
is only worth a warning: ``sidecar_problem``). Restoring into a study whose fingerprint
differs is refused with an error naming the settings that differ; a checkpoint that cannot
be read raises ``results.CorruptFile`` and is left in place.

A resumed run continues with the same compiled program (same chunk size) from the same state,
so it gives the same models as an uninterrupted run, after Ctrl-C, a full disk or ``kill -9``
alike (``tests/test_cli.py`` and ``tests/test_faults.py`` check the traces are equal).

    run = study.start()
    checkpoint.restore(run, out)      # ValueError if out's checkpoint is another study's
    while not run.done:
        run.advance(chunk)
        checkpoint.save(out, run, chunk=chunk)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from actlab import activations, adapters
from actlab.results import atomic_write, jsonable, read_or_raise
from actlab.study import Result, Run, Study
from actlab.train import CORE, Trace, stack_traces

NPZ = "checkpoint.npz"
SIDECAR = "checkpoint.json"
FORMAT = 2  # 2: params {"model", "act"}, traces by name (core and metrics)
# Study fields that label it or lay it out without changing what it trains: a checkpoint
# holds every seed's states, whatever chunks made them
LABELS = ("name", "max_memory")
META = (  # the keys of every FORMAT meta
    "intervals_done",
    "num_intervals",
    "steps_done",
    "steps",
    "chunk",
    "groups",
    "keys",
    "timing",
    "fingerprint",
)
ADVICE = "remove it (or choose another --out) to start over"


class Snapshot(NamedTuple):
    """A ``Run``'s progress between two chunks. Holds references, not copies (JAX arrays are
    immutable and the trace chunks are never modified), so taking one is free."""

    states: list  # Run.real_states(): one TrainState per activation group, no padding
    traces: list  # Run.traces: Trace chunks of numpy arrays
    intervals_done: int
    timing: dict


def snapshot(run: Run) -> Snapshot:
    return Snapshot(run.real_states(), list(run.traces), run.intervals_done, dict(run.timing))


def result(run: Run, snap: Snapshot) -> Result:
    """The ``Result`` of ``run`` as it was at ``snap``."""
    trace = stack_traces(snap.traces, run.axis)
    return Result(run.study, run.cfg, trace, list(snap.states), dict(snap.timing), run.layout)


# ----------------------------------------------------------------------------- fingerprint


def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _optimizer_probe(study: Study) -> str:
    """A hash of what the optimizer does to a fixed small problem over three steps.

    optax transformations are closures: their hyper-parameters (the learning rate of
    ``optax.sgd(0.01)``) cannot be read back, but they show in the updates they produce.
    """
    lrs = study.lrs if study.lrs is not None else study.act_lrs
    opts = [study.optimizer] if lrs is None else [study.optimizer(lr) for lr in lrs]
    out = []
    try:
        for tx in opts:
            params = {"a": jnp.linspace(-1.0, 1.0, 5), "b": jnp.array([[0.5, -2.0]])}
            state = tx.init(params)
            for i in range(3):
                grads = jax.tree.map(lambda p, i=i: 0.37 * (i + 1) * p - 0.1, params)
                updates, state = tx.update(grads, state, params)
                params = optax.apply_updates(params, updates)
            out.append(np.concatenate([np.ravel(p) for p in jax.tree.leaves(params)]))
    except Exception:  # an optimizer needing extra arguments: fall back to its type
        return f"unprobed {type(study.optimizer).__name__}"
    return _sha(np.round(np.concatenate(out), 6))


def fingerprint(study: Study, **extra: Any) -> dict:
    """JSON description of everything that decides what ``study`` trains and how.

    Every ``Study`` field but the ``LABELS`` (fields added later included), with the model by
    its repr, the data by a hash of its arrays and the optimizer by what it does
    (``_optimizer_probe``), plus the resolved length. Two studies with equal fingerprints run
    the same program on the same data. ``extra`` (e.g. ``experiment="xor"``) is added as is.
    """
    cfg = study.config()
    d = study.data
    fp = {}
    for f in dataclasses.fields(study):
        v = getattr(study, f.name)
        if f.name in LABELS:
            continue
        if f.name == "data":
            fp["dataset"] = d.name
            fp["data"] = _sha(d.x_train, d.y_train, d.x_test, d.y_test)
            fp["normalise"] = [float(d.shift), float(d.scale)]
        elif f.name == "optimizer":
            fp["optimizer"] = _optimizer_probe(study)
        elif f.name == "model":
            fp["model"] = adapters.fingerprint(v)
        elif f.name in ("loss", "metrics") and callable(v):
            fp[f.name] = (
                f"{getattr(v, '__qualname__', type(v).__name__)} {adapters.function_hash(v)}"
            )
        elif f.name == "activations":
            # the functions as well as their names: a name registered again for another
            # function is another study; in order, since a state is resumed by its position
            fp[f.name] = [[a, adapters.function_hash(activations.get(a).fn)] for a in v]
        else:
            fp[f.name] = jsonable(v)
    # epochs resolve to steps, evals to eval_every: compare what is run
    fp["steps"], fp["eval_every"] = int(cfg.steps), int(cfg.eval_every)
    return fp | extra


def _differences(saved: dict, now: dict) -> list[str]:
    # LABELS are skipped, not only left out of fingerprint(): older checkpoints hold them
    keys = [
        k for k in dict.fromkeys([*saved, *now]) if k not in LABELS and saved.get(k) != now.get(k)
    ]
    short = lambda v: s if len(s := json.dumps(v)) <= 40 else s[:37] + "..."
    return [f"{k}: {short(saved.get(k))} then, {short(now.get(k))} now" for k in keys]


def check(meta: dict, fp: dict, where: str | os.PathLike = "the checkpoint") -> None:
    """Raise ``ValueError`` naming the settings where ``meta``'s study differs from ``fp``."""
    if meta.get("format") != FORMAT:
        raise ValueError(f"{where} has format {meta.get('format')!r}; this actlab reads {FORMAT}")
    diff = _differences(meta["fingerprint"], fp)
    if diff:
        raise ValueError(
            f"{where} was made with other settings ({'; '.join(diff)}): resume with the "
            f"settings it was made with, or {ADVICE}"
        )


# ----------------------------------------------------------------------------- save / load


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def save(
    out: str | os.PathLike,
    run: Run,
    *,
    chunk: int,
    fp: dict | None = None,
    snap: Snapshot | None = None,
) -> Path:
    """Write ``out/checkpoint.npz`` (then ``checkpoint.json``) atomically; returns the .npz.

    ``snap`` (default: ``run`` now) is what is saved; ``chunk`` is the number of intervals
    per ``advance`` call, kept so a resumed run reuses the same compiled program.
    """
    out = Path(out)
    snap = snapshot(run) if snap is None else snap
    fp = fingerprint(run.study) if fp is None else fp
    arrays: dict[str, np.ndarray] = {}
    keys = []
    for g, state in enumerate(snap.states):
        for i, leaf in enumerate(jax.tree.leaves(state)):
            if _is_key(leaf):
                keys.append([g, i, str(jax.random.key_impl(leaf))])
                leaf = jax.random.key_data(leaf)
            arrays[f"state_{g}_{i}"] = np.asarray(leaf)
    for f, a in stack_traces(snap.traces, run.axis).flat().items():
        arrays[f"trace_{f}"] = a
    meta = {
        "format": FORMAT,
        "intervals_done": int(snap.intervals_done),
        "num_intervals": int(run.num_intervals),
        "steps_done": min(int(snap.intervals_done) * run.cfg.eval_every, run.cfg.steps),
        "steps": int(run.cfg.steps),
        "chunk": int(chunk),
        "groups": len(snap.states),
        "keys": keys,
        "timing": {k: float(v) for k, v in snap.timing.items()},
        "fingerprint": fp,
        "jax": jax.__version__,
        "saved": datetime.datetime.now().isoformat(timespec="seconds"),
    }

    def write(tmp: Path) -> None:
        # uncompressed: a checkpoint is rewritten after every chunk, speed matters more
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)

    path = atomic_write(out / NPZ, write)
    atomic_write(out / SIDECAR, lambda tmp: tmp.write_text(json.dumps(meta, indent=1) + "\n"))
    return path


def _meta(raw: np.ndarray) -> dict:
    meta = json.loads(str(raw))
    if not isinstance(meta, dict):
        raise ValueError("its meta is not a JSON object")
    missing = [k for k in META if k not in meta]
    if meta.get("format") == FORMAT and missing:  # another format is check()'s to report
        raise ValueError(f"its meta has no {', '.join(missing)}")
    return meta


def _read_meta(path: Path) -> dict:
    with np.load(path) as z:
        return _meta(z["meta"])


def _read_all(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, every other array) of a checkpoint file, all read: a damaged one fails here."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [k for k in ("meta", *(f"trace_{f}" for f in CORE)) if k not in arrays]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    return _meta(arrays.pop("meta")), arrays


def read(out: str | os.PathLike) -> dict | None:
    """The ``meta`` of ``out``'s checkpoint, or None if it has none (``CorruptFile`` if it
    cannot be read). Reads the meta only: a damage further in shows in ``restore``."""
    path = Path(out) / NPZ
    if not path.exists():
        return None
    return read_or_raise(path, _read_meta, ADVICE)


def sidecar_problem(out: str | os.PathLike, meta: dict) -> str | None:
    """What is wrong with ``out/checkpoint.json`` beside a ``.npz`` holding ``meta``, or None.

    A missing sidecar is fine (a run killed between the two writes leaves none); an
    unreadable one, or one that differs from the ``.npz`` (killed, or a full disk, between
    the two), is worth a warning, not a refusal: the ``.npz`` is the authority.
    """
    path = Path(out) / SIDECAR
    if not path.exists():
        return None
    try:
        side = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"{path} is unreadable ({type(e).__name__})"
    return None if side == meta else f"{path} differs from {NPZ}"


def restore(run: Run, out: str | os.PathLike, fp: dict | None = None) -> dict:
    """Load ``out``'s checkpoint into ``run`` (fresh from ``study.start()``); returns its meta.

    Raises ``FileNotFoundError`` without a checkpoint, ``CorruptFile`` if it cannot be read
    and ``ValueError`` if it belongs to another study (``fp``, default
    ``fingerprint(run.study)``) or does not fit ``run``.
    ``run.timing`` becomes the saved timing plus this session's compilation.
    """
    path = Path(out) / NPZ
    if not path.exists():
        raise FileNotFoundError(f"{Path(out)} holds no {NPZ} to resume from")
    fp = fingerprint(run.study) if fp is None else fp
    meta, arrays = read_or_raise(path, _read_all, ADVICE)
    check(meta, fp, path)
    if meta["groups"] != len(run.states):
        raise ValueError(f"{path}: {meta['groups']} state groups, the run has {len(run.states)}")
    keys = {(g, i) for g, i, _ in meta["keys"]}
    states = []
    for g, template in enumerate(run.real_states()):  # the padding is not saved
        leaves, treedef = jax.tree.flatten(template)
        names = {f"state_{g}_{i}" for i in range(len(leaves))}
        if {k for k in arrays if k.startswith(f"state_{g}_")} != names:
            raise ValueError(f"{path}: group {g} does not have {len(leaves)} state arrays")
        new = []
        for i, t in enumerate(leaves):
            a = arrays[f"state_{g}_{i}"]
            want = jax.random.key_data(t) if _is_key(t) else t
            if (a.shape, a.dtype) != (want.shape, want.dtype) or ((g, i) in keys) != _is_key(t):
                raise ValueError(
                    f"{path}: state {g}/{i} is {a.dtype}{list(a.shape)}, "
                    f"the run has {want.dtype}{list(want.shape)}"
                )
            v = jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)) if _is_key(t) else a
            new.append(jnp.asarray(v) if not _is_key(t) else v)
        states.append(jax.tree.unflatten(treedef, new))
    trace = Trace.of(
        {k.removeprefix("trace_"): v for k, v in arrays.items() if k.startswith("trace_")}
    )
    evals = trace.step.shape[run.axis]
    if evals != meta["intervals_done"] + 1:
        raise ValueError(
            f"{path}: {evals} evaluations saved for {meta['intervals_done']} intervals"
        )
    compile_now = run.timing["compile_s"]
    run.set_states(states)
    run.traces, run.intervals_done = [trace], int(meta["intervals_done"])
    # this session's init run is thrown away; its compilation was real time spent
    run.timing = {"compile_s": meta["timing"]["compile_s"] + compile_now}
    run.timing["train_s"] = meta["timing"]["train_s"]
    run.timing["model_chunks"] = len(run.ranges)
    return meta


def remove(out: str | os.PathLike) -> None:
    """Delete ``out``'s checkpoint (a finished run needs none)."""
    for name in (NPZ, SIDECAR):
        Path(out, name).unlink(missing_ok=True)
