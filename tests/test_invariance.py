"""Same seed, same model: seed i of activation a trains to the same bits whatever the run's size.

Hypothesis draws a run: how many seeds, which activations (in which order), one or two host
devices, model chunks of how many seeds, and the block width (the default from the model's
shapes, or a forced one). Every model of the run must equal, bit for bit, the same seed and
activation in the reference run of that block width: every traced array, the final
parameters and optimizer state, the divergence step. Runs on two host devices go to a worker
process started once (a process's device count is fixed when JAX starts).

The task has a dense layer of 20 inputs (a real matmul, whose rounding XLA:CPU makes depend
on the batch of models it is computed in) and layers of 6 and 8 (unrolled into multiply-adds),
a parameterised activation (PReLU), a shape-changing one (maxout) and two that share one
traced step (tanh, ReLU), minibatches (the data order) and a partial last interval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest
from helpers import DATA, fingerprints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actlab
from actlab import layout as layouts

ACTS = ("tanh", "relu", "prelu", "maxout")
MAX_SEEDS = 5
BLOCKS = (None, 2)  # None: the default, from the model's shapes


def study(seeds: int = MAX_SEEDS, acts=ACTS, block: int | None = None) -> actlab.Study:
    return actlab.Study(
        model=actlab.MLP(hidden=(20, 8)),
        activations=acts,
        data=DATA,
        optimizer=optax.adam(1e-2),
        seeds=seeds,
        batch_size=16,
        steps=20,
        eval_every=7,
        block=block,
    )


def run(seeds: int, acts, block, chunk) -> dict[str, str]:
    """Fingerprints of a run in model chunks of ``chunk`` seeds (None: as planned)."""
    s = study(seeds, tuple(acts), block)
    r = s.start(layouts.plan(s, chunk_seeds=chunk))
    while not r.done:  # an interval a call, where the reference runs all in one
        r.advance(1)
    return fingerprints(r.result())


WORKER = """
import json, sys
sys.path.insert(0, {tests!r})
import jax
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")  # as conftest.py
assert jax.device_count() == {devices}
from test_invariance import reference, run
for line in sys.stdin:
    c = json.loads(line)
    out = reference(c["block"]) if c.get("reference") else run(**c)
    print(json.dumps(out), flush=True)
"""


def reference(block: int | None) -> dict[str, str]:
    """Every seed and activation of the task at ``block``: one chunk, one call."""
    return fingerprints(study(block=block).run())


def _worker(devices: int):
    """A process with ``devices`` host devices at XLA's default optimisation level (the
    suite compiles at level 0 to save time; a run compiles at the default, and that is the
    arithmetic the promise is about): one JSON request in, fingerprints out."""
    flags = [
        f
        for f in os.environ.get("XLA_FLAGS", "").split()
        if not f.startswith(("--xla_backend_optimization_level", "--xla_force_host_platform"))
    ]
    flags.append(f"--xla_force_host_platform_device_count={devices}")
    p = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(tests=os.path.dirname(__file__), devices=devices)],
        env={**os.environ, "XLA_FLAGS": " ".join(flags)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(**request) -> dict[str, str]:
        p.stdin.write(json.dumps(request) + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        assert line, f"the {devices}-device worker died (exit code {p.poll()})"
        return json.loads(line)

    return p, ask


@pytest.fixture(scope="module")
def workers():
    started = {n: _worker(n) for n in (1, 2)}
    yield {n: ask for n, (_, ask) in started.items()}
    for p, _ in started.values():
        p.stdin.close()
        p.wait(timeout=60)


@pytest.fixture(scope="module")
def references(workers):
    """Per block width: every seed and activation, one device, one chunk, one call."""
    return {block: workers[1](reference=True, block=block) for block in BLOCKS}


@st.composite
def runs(draw):
    acts = draw(st.permutations(ACTS).map(lambda p: p[: draw(st.integers(1, len(ACTS)))]))
    return {
        "seeds": draw(st.integers(1, MAX_SEEDS)),
        "acts": list(acts),
        "devices": draw(st.sampled_from((1, 2))),
        "block": draw(st.sampled_from(BLOCKS)),
        "chunk": draw(st.sampled_from((None, 1, 2, 3))),
    }


@pytest.mark.slow
@pytest.mark.xdist_group("invariance")
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same draws on every machine: a failure is a failure everywhere
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=runs())
def test_a_seed_trains_to_the_same_bits_whatever_the_runs_size(config, references, workers):
    devices = config.pop("devices")
    got = workers[devices](**config)
    want = references[config["block"]]
    differ = sorted(k for k in got if got[k] != want[k])
    assert not differ, f"{devices} device(s), {config}: models differ from the reference: {differ}"


def test_the_fingerprint_sees_a_one_ulp_change():
    # in this process, at the suite's optimisation level: only the fingerprint is tested
    r = study(seeds=2, acts=("relu",)).run()
    before = fingerprints(r)
    bump = lambda k: k.at[1, 0, 0].set(np.nextafter(k[1, 0, 0], np.inf))  # seed 1 only
    params = jax.tree.map_with_path(
        lambda path, x: bump(x) if "layer_0" in str(path) and "kernel" in str(path) else x,
        r.states[0].params,
    )
    r.states[0] = r.states[0]._replace(params=params)
    after = fingerprints(r)
    assert after["relu/0"] == before["relu/0"] and after["relu/1"] != before["relu/1"]


def test_the_block_comes_from_the_shapes_and_never_from_the_seed_count():
    plans = [layouts.plan(study(seeds=n)) for n in (1, 2, 5, 64, 200)]
    assert len({p.block for p in plans}) == 1 and plans[0].block > 1
    for p in plans:
        per_device = p.slots // p.devices
        assert per_device % p.block == 0 and p.slots >= p.chunk_seeds and not p.forced


@pytest.mark.parametrize(
    "kw, forced",
    [
        ({"seed_loop": "vmap"}, "seed_loop='vmap'"),
        ({"block": 3}, "block=3"),
        ({"mode": "switch"}, "mode='switch'"),
        ({"model": actlab.MLP(hidden=(20, 8), contraction="dot")}, "contraction='dot'"),
    ],
)
def test_a_forced_layout_that_changes_the_rounding_is_named(kw, forced):
    got = layouts.plan(study().replace(**kw)).forced
    assert len(got) == 1 and got[0].startswith(forced)
