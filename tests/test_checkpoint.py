"""Checkpoint files: save, read, restore, the fingerprint that guards a resume, and what a
truncated or damaged file gives (a ``CorruptFile`` naming it; the file is left in place).

One tiny study (1 activation x 2 seeds, 4 steps, an evaluation after each) is started once
for the module, advanced one interval and saved; tests copy its folder before damaging it.
"""

import dataclasses
import json
import shutil
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import actlab
from actlab import checkpoint
from actlab import protocols as P
from actlab.results import CorruptFile

STUDY = actlab.Study(
    model=actlab.MLP(hidden=(2,)),
    activations=("relu",),
    data=actlab.data.xor(),
    optimizer=optax.sgd(0.1),
    seeds=2,
    batch_size=None,
    steps=4,
    eval_every=1,
    loss="bce",
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder holding the checkpoint of STUDY after one interval, the Run, its Snapshot)."""
    out = tmp_path_factory.mktemp("checkpoint")
    run = STUDY.start()
    run.advance(1)
    snap = checkpoint.snapshot(run)
    checkpoint.save(out, run, chunk=1, snap=snap)
    return out, run, snap


@pytest.fixture
def copy(saved, tmp_path):
    """A copy of the saved folder, to damage."""
    return shutil.copytree(saved[0], tmp_path / "run")


# ----------------------------------------------------------------------------- save / read


def test_read_returns_the_saved_progress_and_fingerprint(saved):
    out, run, _ = saved
    meta = checkpoint.read(out)
    assert (meta["intervals_done"], meta["num_intervals"], meta["chunk"]) == (1, 4, 1)
    assert (meta["steps_done"], meta["steps"], meta["groups"]) == (1, 4, 1)
    assert meta["fingerprint"] == checkpoint.fingerprint(STUDY)


def test_sidecar_repeats_the_meta(saved):
    out = saved[0]
    assert json.loads((out / checkpoint.SIDECAR).read_text()) == checkpoint.read(out)
    assert checkpoint.sidecar_problem(out, checkpoint.read(out)) is None


def test_read_without_a_checkpoint_is_none(tmp_path):
    assert checkpoint.read(tmp_path) is None


def test_remove_deletes_both_files(copy):
    checkpoint.remove(copy)
    assert not (copy / checkpoint.NPZ).exists() and not (copy / checkpoint.SIDECAR).exists()


# ----------------------------------------------------------------------------- restore


def test_restore_puts_the_run_back_where_it_was_saved(saved):
    out, run, snap = saved
    run.advance(1)  # move on, then come back
    meta = checkpoint.restore(run, out)
    assert meta["intervals_done"] == run.intervals_done == 1
    for now, then in zip(run.real_states(), snap.states):
        jax.tree.map(
            lambda a, b: np.testing.assert_array_equal(*map(_raw, (a, b))), now, then
        )  # bit-identical: nothing is recomputed
    then = checkpoint.result(run, snap).trace
    assert run.traces[0].names() == then.names()
    for name, now in run.traces[0].flat().items():
        np.testing.assert_array_equal(now, getattr(then, name))


def _raw(a) -> np.ndarray:
    return np.asarray(jax.random.key_data(a) if checkpoint._is_key(a) else a)


def test_restore_refuses_another_study(saved):
    out, run, _ = saved
    with pytest.raises(ValueError, match=r"other settings \(seeds: 2 then, 3 now\)"):
        checkpoint.restore(run, out, checkpoint.fingerprint(STUDY.replace(seeds=3)))


def test_restore_without_a_checkpoint_raises_file_not_found(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"holds no {checkpoint.NPZ} to resume from"):
        checkpoint.restore(saved[1], tmp_path)


# ----------------------------------------------------------------------------- fingerprint

# one change per Study field; every field must be here (a new field must be decided on)
CHANGES = {
    "model": {"model": actlab.MLP(hidden=(3,))},
    "activations": {"activations": ("tanh",)},
    "data": {"data": STUDY.data._replace(x_train=-STUDY.data.x_train)},
    "optimizer": {"optimizer": optax.sgd(0.2)},
    "seeds": {"seeds": 3},
    "batch_size": {"batch_size": 2},
    "epochs": {"steps": None, "epochs": 4.0},  # 4 full-batch steps as well: kept apart anyway
    "steps": {"steps": 5},
    "evals": {"eval_every": None, "evals": 2},
    "eval_every": {"eval_every": 2},
    "loss": {"loss": "bce_clipped"},
    "metrics": {"metrics": lambda o, y: {"mean_output": o.mean()}},
    "goals": {"goals": {"mean_output": "max"}},
    "lrs": {"optimizer": optax.sgd, "lrs": (0.1,)},  # sgd(0.1) too, but with an lr axis
    "act_lrs": {"optimizer": optax.sgd, "act_lrs": (0.2,) * len(STUDY.activations)},
    "seed": {"seed": 1},
    "hold": {"hold": ("init",)},
    "mode": {"mode": "switch"},
    # map and vmap compile different programs, whose results may differ in the last bits;
    # a resumed run promises the bits of an uninterrupted one, so the loop is in the print
    "seed_loop": {"seed_loop": "map"},
    "block": {"seed_loop": "blocks", "block": 1},
    "eval_examples": {"eval_examples": 2},
    "train_eval_examples": {"train_eval_examples": 3},
    "census_examples": {"census_examples": 2},  # the census is traced: another sample, others
    "curve_examples": {"curve_examples": 2},
}
SAME = {  # checkpoint.LABELS: a label trains nothing, nor does how seeds are chunked
    "name": {"name": "another label"},
    "max_memory": {"max_memory": 10**9},
}


def test_every_study_field_is_decided_on():
    assert set(CHANGES) | set(SAME) == {f.name for f in dataclasses.fields(actlab.Study)}
    assert tuple(SAME) == checkpoint.LABELS


@pytest.mark.parametrize("field", CHANGES)
def test_fingerprint_changes_with_every_training_setting(field):
    assert checkpoint.fingerprint(STUDY.replace(**CHANGES[field])) != checkpoint.fingerprint(STUDY)


def test_fingerprint_sees_the_activations_order():
    # states are restored by position: tanh's must not resume as relu's
    two = STUDY.replace(activations=("tanh", "relu"))
    assert checkpoint.fingerprint(two.replace(activations=("relu", "tanh"))) != (
        checkpoint.fingerprint(two)
    )


@pytest.mark.parametrize("field", SAME)
def test_fingerprint_ignores_labels(field):
    assert checkpoint.fingerprint(STUDY.replace(**SAME[field])) == checkpoint.fingerprint(STUDY)


def test_fingerprint_sees_the_learning_rate():
    xor = P.get("xor")
    a, b = (xor.build(P.Overrides(lr=lr, steps=10)) for lr in (0.01, 0.02))
    fa, fb = checkpoint.fingerprint(a), checkpoint.fingerprint(b)
    assert fa == checkpoint.fingerprint(a) and fa["optimizer"] != fb["optimizer"]
    with pytest.raises(ValueError, match="other settings \\(optimizer: "):
        checkpoint.check({"format": checkpoint.FORMAT, "fingerprint": fa}, fb)


def test_check_refuses_another_format():
    fp = checkpoint.fingerprint(STUDY)
    with pytest.raises(ValueError, match=f"has format 0; this actlab reads {checkpoint.FORMAT}"):
        checkpoint.check({"format": 0, "fingerprint": fp}, fp)


def test_check_accepts_an_older_checkpoint_that_fingerprinted_the_name():
    fp = checkpoint.fingerprint(STUDY)
    checkpoint.check({"format": checkpoint.FORMAT, "fingerprint": {**fp, "name": "x"}}, fp)


# ----------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[: len(b) // 2], "BadZipFile"),
        (lambda b: b"", "EOFError"),
        (lambda b: b"not a checkpoint", "ValueError"),
    ],
    ids=["truncated", "empty", "overwritten"],
)
def test_unreadable_checkpoint_is_named_and_left_in_place(copy, damage, reason):
    path = copy / checkpoint.NPZ
    path.write_bytes(damage(path.read_bytes()))
    before = path.read_bytes()
    with pytest.raises(CorruptFile, match=f"{path} is unreadable \\({reason}") as e:
        checkpoint.read(copy)
    assert "remove it (or choose another --out) to start over" in str(e.value)
    assert "\n" not in str(e.value) and path.read_bytes() == before


@pytest.mark.parametrize(
    "meta, reason",
    [
        ("[1, 2]", "not a JSON object"),
        (f'{{"format": {checkpoint.FORMAT}}}', "its meta has no intervals_done"),
    ],
)
def test_checkpoint_with_a_malformed_meta_is_corrupt(copy, meta, reason):
    with np.load(copy / checkpoint.NPZ) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(copy / checkpoint.NPZ, **{**arrays, "meta": np.array(meta)})
    with pytest.raises(CorruptFile, match=reason):
        checkpoint.read(copy)


def test_damaged_array_shows_in_restore_not_read(copy, saved):
    path = copy / checkpoint.NPZ
    with zipfile.ZipFile(path) as z:  # the last byte of the first state array's data
        info = z.getinfo("state_0_0.npy")
        end = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size
    data = bytearray(path.read_bytes())
    data[end - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert checkpoint.read(copy)["intervals_done"] == 1  # read looks at the meta only
    with pytest.raises(CorruptFile, match=f"{path} is unreadable \\(BadZipFile: Bad CRC-32"):
        checkpoint.restore(saved[1], copy)
    assert path.read_bytes() == bytes(data)


@pytest.mark.parametrize(
    "sidecar, problem",
    [
        (None, None),
        ("{", "is unreadable (JSONDecodeError)"),
        (json.dumps({"intervals_done": 0}), f"differs from {checkpoint.NPZ}"),
    ],
    ids=["missing", "truncated", "stale"],
)
def test_sidecar_problem_names_an_unreadable_or_stale_sidecar(copy, sidecar, problem):
    path = copy / checkpoint.SIDECAR
    path.unlink()
    if sidecar is not None:
        path.write_text(sidecar)
    got = checkpoint.sidecar_problem(copy, checkpoint.read(copy))
    assert got == (None if problem is None else f"{path} {problem}")


def test_fingerprint_sees_an_activation_registered_again_for_another_function():
    actlab.register("mine", jnp.tanh)
    try:
        study = STUDY.replace(activations=("mine",))
        before = checkpoint.fingerprint(study)
        assert checkpoint.fingerprint(study) == before  # the same function: the same print
        actlab.register("mine", lambda x: jnp.tanh(2 * x), overwrite=True)
        after = checkpoint.fingerprint(study)
    finally:
        actlab.activations.unregister("mine")
    assert after != before
    with pytest.raises(ValueError, match=r"other settings \(activations: "):
        checkpoint.check({"format": checkpoint.FORMAT, "fingerprint": before}, after)
