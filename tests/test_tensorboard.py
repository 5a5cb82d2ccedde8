"""TensorBoard events (``actlab.tensorboard``), read back record by record: every traced metric
of every model at every evaluation, each step once, whether the run went through in one go,
was interrupted and resumed, or was saved twice.

tensorboardX writes but has no reader, and the ``tensorboard`` package is not a dependency,
so ``events`` below reads the files: TFRecord framing (length, its masked CRC32C, the
serialized ``Event``, its CRC) with tensorboardX's own protos and checksum.
"""

import struct
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import synthetic_trace
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.record_writer import masked_crc32c

from actlab import checkpoint, results, runner
from actlab import protocols as P
from actlab import tensorboard as tb
from actlab.train import Trace

# its runs are module fixtures: one worker builds them (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("tensorboard")

ACTS = ("relu", "tanh")


def events(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of every event file in ``run_dir``, in TensorBoard's order
    (by file name), each record's checksums checked."""
    out = defaultdict(list)
    for f in sorted(p for p in run_dir.iterdir() if "tfevents" in p.name):
        data, at = f.read_bytes(), 0
        while at < len(data):
            header = data[at : at + 8]
            (n,) = struct.unpack("<Q", header)
            body = data[at + 12 : at + 12 + n]
            assert struct.unpack("<I", data[at + 8 : at + 12])[0] == masked_crc32c(header)
            assert struct.unpack("<I", data[at + 12 + n : at + 16 + n])[0] == masked_crc32c(body)
            at += 16 + n
            e = Event.FromString(body)
            for v in e.summary.value:
                out[v.tag].append((e.step, v.simple_value))
    return dict(out)


def expected(trace: Trace, model: tuple[int, ...]) -> dict[str, list[tuple[int, float]]]:
    """What ``events`` must read for one model (its index on the leading axes) of ``trace``:
    each value as the float32 an event holds."""
    steps = trace.step[model].tolist()
    want = {}
    for f in trace.names():
        if f == "step":  # the axis, not a tag
            continue
        a = np.asarray(getattr(trace, f)[model], np.float32)
        cols = {f: a} if a.ndim == 1 else {f"{f}/layer_{k}": a[:, k] for k in range(a.shape[1])}
        for tag, v in cols.items():
            want[tag] = list(zip(steps, v.astype(float).tolist()))
    return want


def assert_same(got: dict, want: dict) -> None:
    """The same tags in the same order, each with the same (step, value) list; NaN == NaN."""
    assert list(got) == list(want)
    for tag in want:
        np.testing.assert_array_equal(np.array(got[tag]), np.array(want[tag]), err_msg=tag)


def synthetic(lrs: int | None = None, seeds: int = 3, evals: int = 4, layers: int = 3) -> Trace:
    """A Trace of random values ``[acts, (lrs), seeds, evals, (layers)]``, evaluated every 100
    steps; the census fields have ``layers - 1`` hidden layers."""
    lead = (len(ACTS), *(() if lrs is None else (lrs,)), seeds)
    return synthetic_trace(lead, evals, layers, every=100, low=0.0, high=1.0, diverged=0.3)


def first(trace: Trace, evals: int) -> Trace:
    """``trace`` as it was after its first ``evals`` evaluations."""
    axis = trace.step.ndim - 1
    return jax.tree.map(lambda a: np.take(a, range(evals), axis=axis), trace)


# ----------------------------------------------------------------------------- write


def test_each_write_adds_only_the_evaluations_not_yet_written(tmp_path):
    trace = synthetic()
    models = len(ACTS) * 3
    assert tb.write(tmp_path, first(trace, 2), ACTS) == models * 2
    assert tb.write(tmp_path, trace, ACTS) == models * 2  # the last two
    assert tb.write(tmp_path, trace, ACTS) == 0  # a second save of the same chunk
    for a, act in enumerate(ACTS):
        for s in range(3):
            run_dir = tmp_path / act / f"seed_{s}"
            assert_same(events(run_dir), expected(trace, (a, s)))
            assert tb.last_step(run_dir) == 300


def test_tags_follow_the_trace_one_per_layer_of_the_per_layer_quantities():
    trace = synthetic(layers=3)
    tags = tb.tags(trace)
    assert tags[:3] == ["batch_loss", "train_loss", "test_loss"]
    assert tags[-3:] == ["diverged", "train_accuracy", "test_accuracy"]  # then the metrics
    assert "grad_norm/layer_2" in tb.tags(trace) and "grad_norm/layer_3" not in tb.tags(trace)
    assert "dead/layer_1" in tb.tags(trace) and "dead/layer_2" not in tb.tags(trace)


def test_an_lr_sweep_gets_a_run_per_activation_lr_and_seed(tmp_path):
    trace = synthetic(lrs=2, seeds=2)
    assert tb.write(tmp_path, trace, ACTS, lrs=(0.001, 0.01)) == len(ACTS) * 2 * 2 * 4
    assert_same(events(tmp_path / "tanh" / "lr=0.01" / "seed_0"), expected(trace, (1, 1, 0)))
    assert sorted(p.name for p in (tmp_path / "relu").iterdir()) == ["lr=0.001", "lr=0.01"]


def test_a_file_left_half_written_is_not_read_and_is_replaced(tmp_path):
    trace = synthetic(seeds=1)
    run_dir = tmp_path / "relu" / "seed_0"
    run_dir.mkdir(parents=True)
    (run_dir / tb.PARTIAL).write_bytes(b"half an event")  # a kill mid-write leaves this
    assert tb.last_step(run_dir) == -1
    tb.write(tmp_path, trace, ACTS)
    assert_same(events(run_dir), expected(trace, (0, 0)))
    assert not (run_dir / tb.PARTIAL).exists()


# ----------------------------------------------------------------------------- runs


def study():
    """Deep XOR, 2 activations x 2 seeds, 300 steps: 4 evaluations, one chunk each after the
    step-0 record."""
    return P.get("xor").build(P.Overrides(acts=ACTS, seeds=2, steps=300))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tb")
    full, crashed = tmp / "full", tmp / "crashed"
    runner.execute("xor", study(), full, 3, progress=False, tensorboard=True)

    real, saves = checkpoint.save, []

    def save(*args, **kw):  # Ctrl-C in the second chunk's save, after its events were written
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt
        real(*args, **kw)

    with pytest.MonkeyPatch.context() as mp, pytest.raises(runner.Interrupted) as stop:
        mp.setattr(checkpoint, "save", save)
        runner.execute("xor", study(), crashed, 3, progress=False, tensorboard=True)
    after_crash = {act: tb.last_step(crashed / "tensorboard" / act / "seed_1") for act in ACTS}
    runner.execute(
        "xor", study(), crashed, 3, progress=False, resume=True, tensorboard=True, report=False
    )
    return full, crashed, stop.value, after_crash


def test_an_interrupted_run_keeps_the_events_it_saved(runs):
    _, _, stop, after_crash = runs
    assert stop.steps_done == 200  # saved again after the interrupt
    assert after_crash == {"relu": 200, "tanh": 200}


def test_resumed_run_has_the_events_of_an_uninterrupted_one_each_step_once(runs):
    full, crashed, _, _ = runs
    for act in ACTS:
        for s in range(2):
            got = events(crashed / "tensorboard" / act / f"seed_{s}")
            want = events(full / "tensorboard" / act / f"seed_{s}")
            assert_same(got, want)  # bit-identical training: the same values, each step once
            assert [step for step, _ in got["train_loss"]] == [0, 100, 200, 300]
            assert list(got) == tb.tags(results.load(full)[1])  # every metric, every layer


def test_execute_writes_the_report_unless_asked_not_to(runs):
    full, crashed, _, _ = runs
    assert (full / "report.md").exists() and (full / "summary.txt").exists()
    assert not (crashed / "report.md").exists()  # report=False


def test_a_new_run_into_the_folder_starts_its_events_over(runs, tmp_path):
    full = runs[0]
    stale = tmp_path / "stale"
    (stale / "tensorboard" / "sigmoid" / "seed_0").mkdir(parents=True)
    runner.execute("xor", study(), stale, 3, progress=False, tensorboard=True, report=False)
    assert sorted(p.name for p in (stale / "tensorboard").iterdir()) == sorted(ACTS)
    run = Path("tensorboard", "relu", "seed_0")
    assert_same(events(stale / run), events(full / run))
