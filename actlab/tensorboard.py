"""TensorBoard event files of a run, written with ``tensorboardX`` (no TensorFlow): one
TensorBoard run per activation x seed (x learning rate in a sweep),

    OUT/tensorboard/relu/seed_0/                OUT/tensorboard/relu/lr=0.001/seed_0/

each holding every traced metric at each evaluation: the scalar ones under their ``Trace``
names (``train_loss``, ``test_accuracy``, ``diverged`` as 0/1, ...), the per-layer ones as
``grad_norm/layer_0`` (layer 0 = the input side, as in the tidy table), ``dead/layer_1``, ...

    tensorboard --logdir runs/xor/tensorboard

``write`` adds the evaluations a TensorBoard run does not hold yet as one new event file,
written under a name without "tfevents" (which TensorBoard skips) and then renamed: a run
killed at any point leaves whole files only, and the next ``write`` (a resumed run's) starts
after the last step they hold, which each file's name carries. ``runner.execute(...,
tensorboard=True)`` calls it after each saved chunk.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIR = "tensorboard"  # inside the run folder
# TensorBoard reads the files whose names hold "tfevents", in name order: the zero-padded
# last step keeps that order
FILE = "events.out.tfevents.{:012d}.actlab"
_FILE = re.compile(r"events\.out\.tfevents\.(\d{12})\.actlab")
PARTIAL = ".events.partial"  # a file being written: no "tfevents" in its name


def run_name(act: str, seed: int, lr: float | None = None) -> str:
    """The TensorBoard run of one model, relative to the log folder: ``relu/seed_3``, or
    ``relu/lr=0.001/seed_3`` in a learning-rate sweep."""
    return f"{act}/seed_{seed}" if lr is None else f"{act}/lr={lr:g}/seed_{seed}"


def tags(trace) -> list[str]:
    """The tag of each value ``write`` logs per evaluation, in the trace's order
    (``Trace.names``: the core, then the metrics): a scalar under its name,
    ``FIELD/layer_K`` for each layer of a per-layer one (``step`` is the axis, not a tag)."""
    lead = trace.step.ndim - 1
    out = []
    for f in _metrics(trace):
        a = getattr(trace, f)
        out += [f] if a.ndim == lead + 1 else [f"{f}/layer_{k}" for k in range(a.shape[-1])]
    return out


def rows(trace, model: tuple[int, ...], evals: np.ndarray) -> np.ndarray:
    """``[len(evals), tags]`` float64: the values of ``tags(trace)`` of one model (its index
    on the leading axes) at the evaluations ``evals``."""
    cols = []
    for f in _metrics(trace):
        a = np.asarray(getattr(trace, f)[model], np.float64)[evals]
        cols.append(a if a.ndim == 2 else a[:, None])
    return np.concatenate(cols, axis=1)


def _metrics(trace) -> list[str]:
    return [f for f in trace.names() if f != "step"]


def last_step(run_dir: str | os.PathLike) -> int:
    """The last step the event files of ``run_dir`` hold; -1 where there are none."""
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return -1
    return max((int(m[1]) for n in names if (m := _FILE.fullmatch(n))), default=-1)


def write(
    logdir: str | os.PathLike,
    trace,
    activations: Sequence[str],
    lrs: Sequence[float] | None = None,
) -> int:
    """Add to ``logdir`` what its TensorBoard runs do not hold yet of ``trace`` (a ``Trace``
    of numpy arrays ``[acts, (lrs), seeds, evals, (layers)]``): for each model, the
    evaluations after the last step of its run's files. Returns the number of events
    (evaluations) written."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary

    logdir, steps = Path(logdir), np.asarray(trace.step)
    # one message refilled for every evaluation: a third of the time of a new one each
    summary = Summary(value=[Summary.Value(tag=t) for t in tags(trace)])
    written = 0
    for i in np.ndindex(steps.shape[:-1]):
        lr = None if lrs is None else lrs[i[1]]
        run_dir = logdir / run_name(activations[i[0]], i[-1], lr)
        new = np.flatnonzero(steps[i] > last_step(run_dir))
        if new.size == 0:
            continue
        now = time.time()
        records = [Event(wall_time=now, file_version="brain.Event:2").SerializeToString()]
        for step, row in zip(steps[i][new].tolist(), rows(trace, i, new).tolist()):
            for value, v in zip(summary.value, row):
                value.simple_value = v
            records.append(Event(wall_time=now, step=step, summary=summary).SerializeToString())
        _write_file(run_dir / FILE.format(int(steps[i][new[-1]])), records)
        written += new.size
    return written


def _write_file(path: Path, records: list[bytes]) -> None:
    """Serialized events into the event file ``path``, whole or not at all: written beside it
    under a name TensorBoard skips, then renamed."""
    from tensorboardX import RecordWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / PARTIAL
    try:
        w = RecordWriter(str(tmp))
        try:
            for record in records:
                w.write(record)
        finally:
            w.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def clear(logdir: str | os.PathLike) -> None:
    """Remove ``logdir`` if it exists: an earlier run's events, before a run starts over."""
    if os.path.isdir(logdir):
        shutil.rmtree(logdir)
