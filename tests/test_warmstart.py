"""Programs kept between processes (``actlab.warmstart``): a stored program trains the models
the traced one trains, bit for bit; a second run loads it instead of tracing; the key sees
what decides a program and nothing else; studies with code of the user's are never stored;
a damaged store costs a new trace, never a wrong result."""

from __future__ import annotations

import json
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
import pytest
from helpers import fingerprints, small

import actlab
from actlab import checkpoint, execution, warmstart

ACTS = ("tanh", "relu", "prelu")  # two share a traced step; PReLU has parameters


def _store(study, folder) -> warmstart.Store:
    store = warmstart.for_study(study, checkpoint.fingerprint(study), where=folder)
    assert store is not None
    return store


def _run(study, store=None) -> actlab.Result:
    execution._COMPILED.clear()  # as a new process: nothing compiled in memory
    run = study.start(store=store, chunk=1)
    while not run.done:
        run.advance(1)  # the step-0 record's program too: one per group besides init
    return run.result()


@pytest.fixture(scope="module")
def traced():
    study = small(ACTS)
    return study, fingerprints(_run(study))


def _no_export(*args, **kwargs):
    raise AssertionError("traced: the stored program was not used")


def test_a_stored_program_trains_the_traced_models_and_a_second_run_loads_it(
    traced, tmp_path, monkeypatch
):
    study, want = traced
    store = _store(study, tmp_path)
    assert fingerprints(_run(study, store)) == want  # stored, then compiled from the store
    stored = sorted(tmp_path.rglob("*.exported"))
    assert len(stored) == 4  # two groups (tanh and ReLU share one), each an init and an advance
    monkeypatch.setattr(jax.export, "export", _no_export)
    assert fingerprints(_run(study, store)) == want  # loaded: no tracing
    assert sorted(tmp_path.rglob("*.exported")) == stored


def test_a_damaged_program_is_traced_and_stored_again(traced, tmp_path):
    study, want = traced
    store = _store(study, tmp_path)
    _run(study, store)
    for path in tmp_path.rglob("*.exported"):
        path.write_bytes(b"half a file")
    assert fingerprints(_run(study, store)) == want
    for path in tmp_path.rglob("*.exported"):
        assert path.read_bytes() != b"half a file"


def test_the_key_changes_with_the_study_and_the_layout_and_not_with_the_memory_reading(tmp_path):
    study = small(ACTS)
    key = lambda s: _store(s, tmp_path).key
    assert key(study) == key(small(ACTS))
    for other in (
        small(ACTS, steps=21),
        small(ACTS, seeds=4),
        small(("relu", "tanh", "prelu")),
        small(ACTS, optimizer=optax.adam(2e-2)),
    ):
        assert key(other) != key(study)
    layout = actlab.plan(study)
    narrowed = lambda lay: warmstart.narrowed(_store(study, tmp_path), repr(lay)).key
    memory = layout.memory._replace(budget=(layout.memory.budget or 0) + 12345)
    assert study.start(store=_store(study, tmp_path)).store == warmstart.narrowed(
        _store(study, tmp_path), repr(layout._replace(memory=None))
    )
    assert narrowed(layout._replace(memory=None)) == narrowed(
        layout._replace(memory=memory)._replace(memory=None)
    )
    assert narrowed(layout._replace(block=2)) != narrowed(layout)


KEY_SCRIPT = """
import json, sys
sys.path.insert(0, "tests")
from helpers import small
from actlab import checkpoint, warmstart
s = small(("tanh", "relu", "prelu"))
run = s.start(store=warmstart.for_study(s, checkpoint.fingerprint(s), where=sys.argv[1]))
print(json.dumps(run.store.key))
"""


def test_the_key_is_the_same_in_every_process(tmp_path):
    keys = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", KEY_SCRIPT, str(tmp_path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert keys[0] == keys[1]


class Own(nn.Module):
    @nn.compact
    def __call__(self, x, act):
        return nn.Dense(3)(act(nn.Dense(8)(x)))


@pytest.mark.parametrize(
    "change",
    [
        {"model": Own()},
        {"loss": lambda outputs, y: jnp.mean((outputs - jax.nn.one_hot(y, 3)) ** 2)},
        {"metrics": lambda outputs, y: {"mean": outputs.mean()}},
    ],
    ids=["own model", "own loss", "own metric"],
)
def test_a_study_with_code_of_the_users_is_never_stored(change, tmp_path):
    study = small(ACTS).replace(**change)
    assert not warmstart.eligible(study)
    assert warmstart.for_study(study, {}, where=tmp_path) is None


def test_a_registered_activation_is_never_stored(tmp_path):
    try:
        actlab.register("warm_relu", lambda z: jnp.maximum(z, 0.0))
        assert warmstart.for_study(small(("warm_relu",)), {}, where=tmp_path) is None
    finally:
        actlab.activations.unregister("warm_relu")
    assert warmstart.for_study(small(("relu",)), {}, where=tmp_path) is not None
