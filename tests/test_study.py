"""The study: batched training equals training alone, and failures stay local.

Compiling is most of this file's cost (seconds even for a tiny program on a CPU), so studies are
shared through module fixtures and each fixture's tests carry one ``xdist_group``: run with
``pytest -n auto --dist loadgroup`` so each fixture is built on one worker only.
"""

import copy
import os
import subprocess
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import DATA, small

import actlab
from actlab import activations, checkpoint, execution, models, protocols, results
from actlab.train import Trace, _limits, eval_sizes, make_train, seed_keys

ALL = tuple(activations.REGISTRY)
# activations with neither learnable parameters nor pieces: alone, all have the same shapes
PLAIN = tuple(
    a for a in ALL if not activations.get(a).has_params and activations.get(a).pieces == 1
)
FAMILY = ("tanh", "relu", "prelu")  # no maxout: every choice has the same layer widths
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # jax/_src/dispatch.py


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    # float32 on CPU: batching reorders sums (~1e-7 relative), so not bit-exact
    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=False), a, b
    )


def assert_trace_matches(got: Trace, want: Trace, act: str):
    """Every field of one model's trace agrees; NaN only where it is the recorded answer."""
    assert got.names() == want.names()
    for field in want.names():
        g, w = np.asarray(getattr(got, field)), np.asarray(getattr(want, field))
        if field in ("inactive", "dead", "saturated") and not activations.has_unit_derivative(act):
            # softmax couples its units, so f' per unit means nothing: recorded as NaN
            assert np.isnan(g).all() and np.isnan(w).all(), f"{act}: {field} should be NaN"
        elif field in ("step", "diverged"):
            np.testing.assert_array_equal(g, w, err_msg=f"{act}: {field}")
        else:
            np.testing.assert_allclose(
                g, w, rtol=1e-5, atol=1e-6, equal_nan=False, err_msg=f"{act}: {field}"
            )


_ALONE: dict = {}


def alone(study, act, seed, lr=0.0, acts=None):
    """``make_train(...).train`` for one model, unbatched, on seed ``seed``'s keys.

    ``acts`` (default ``(act,)``) is closed over and the index into it is traced, as in the
    style guide's example, so one compilation serves every activation in ``acts``, every seed
    and every lr. ``acts`` must give the parameter shapes the model has in its study: its own
    activations in switch mode; in grouped mode, any set of ``PLAIN`` ones.
    """
    acts = acts or (act,)
    key = (id(study), acts)
    if key not in _ALONE:
        train = make_train(study.config()._replace(acts=acts), study.data).train
        _ALONE[key] = (study, jax.jit(train))  # holding the study keeps its id from being reused
    keys = jax.tree.map(lambda k: k[seed], seed_keys(study.seeds, study.seed, study.hold))
    return _ALONE[key][1](keys, jnp.int32(acts.index(act)), jnp.float32(lr))


class Twins(NamedTuple):
    """A study's run and a copy of it in which one model was poisoned before its first step."""

    clean: actlab.Result
    poisoned: actlab.Result
    start: list  # the clean run's states before any step
    state_at: tuple  # (group, index) of the poisoned model in the states
    trace_at: tuple  # (act, seed): its index into a trace's leading axes


def poisoned_twins(study, act, seed, chunk=None) -> Twins:
    """Run ``study``, and again with NaN in the Adam moments of model (``act``, ``seed``).

    The twin is a shallow copy of the run before any step: it shares the run's compiled
    programs, so the two runs differ only in that one model's optimizer state.
    """
    run = study.start()
    a = study.activations.index(act)
    group, idx = (0, (a, seed)) if study.mode == "switch" else (a, (seed,))

    def nan(x):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            return x  # Adam's step count
        return jax.device_put(x.at[idx].set(jnp.nan), x.sharding)

    twin = copy.copy(run)
    twin.traces = list(run.traces)
    twin.states = list(run.states)
    s = run.states[group]
    twin.states[group] = s._replace(opt_state=jax.tree.map(nan, s.opt_state))
    start = run.states
    for r in (run, twin):
        while not r.done:
            r.advance(chunk)
    return Twins(run.result(), twin.result(), start, (group, idx), (a, seed))


def assert_poison_stays_local(t: Twins):
    """Every other model bit-identical to the clean run; the poisoned one flagged, frozen finite."""
    others = np.ones(t.clean.trace.step.shape[:2], bool)
    others[t.trace_at] = False
    for field, c in t.clean.trace.flat().items():
        p = getattr(t.poisoned.trace, field)
        np.testing.assert_array_equal(c[others], p[others], err_msg=field)
    group, idx = t.state_at
    for g, (c, p) in enumerate(zip(t.clean.states, t.poisoned.states)):
        parts = lambda s: (s.params, s.opt_state, s.perm, s.diverged_at)
        for x, y in zip(jax.tree.leaves(parts(c)), jax.tree.leaves(parts(p))):
            x, y = np.array(x), np.array(y)
            if g == group:
                x[idx] = y[idx] = 0  # the poisoned model: checked below
            np.testing.assert_array_equal(x, y)
    # step 0's update is NaN under a finite loss, so step 1's loss is the first non-finite one;
    # at the interval's end the NaN parameters fall back to its start: the initial ones
    assert t.clean.diverged_at[t.trace_at] == -1
    assert t.poisoned.diverged_at[t.trace_at] == 1
    assert t.poisoned.trace.diverged[t.trace_at][1:].all()
    assert np.isfinite(t.poisoned.trace.test_loss[t.trace_at]).all()
    frozen = [np.asarray(x)[idx] for x in jax.tree.leaves(t.poisoned.states[group].params)]
    initial = [np.asarray(x)[idx] for x in jax.tree.leaves(t.start[group].params)]
    assert all(np.isfinite(x).all() for x in frozen)
    jax.tree.map(np.testing.assert_array_equal, frozen, initial)


# -- every activation, grouped: one vmap over seeds per activation ----------------------------


@pytest.fixture(scope="module")
def grouped_twins():
    return poisoned_twins(small(ALL), "relu", seed=1)


@pytest.fixture(scope="module")
def grouped_all(grouped_twins):
    return grouped_twins.clean


GROUPED = pytest.mark.xdist_group("grouped_all")


@GROUPED
@pytest.mark.parametrize("act", ALL)
def test_vmapped_run_equals_run_alone(grouped_all, act):
    a = ALL.index(act)
    state, trace = alone(grouped_all.study, act, seed=2, acts=PLAIN if act in PLAIN else None)
    batched = jax.tree.map(lambda x: x[2], grouped_all.states[a].params)
    assert_trees_close(batched, state.params)
    assert_trace_matches(jax.tree.map(lambda x: x[a, 2], grouped_all.trace), trace, act)


def test_activations_with_the_same_parameter_shapes_share_one_step():
    study = small(("tanh", "relu", "prelu", "maxout", "elu", "leaky_relu"))
    assert actlab.layout.shared(study) == ((0, 1, 4, 5), (2,), (3,))
    assert actlab.layout.shared(study.replace(mode="switch")) == ((0, 1, 2, 3, 4, 5),)
    # one traced step serves the elementwise four: the program has one activation's loops
    # and conditionals (one body per activation gave 19 loops against one activation's 7)
    text = lambda acts: execution.probe(small(acts), actlab.layout.plan(small(acts)))[0].as_text()
    one, four = text(("tanh",)), text(("tanh", "relu", "elu", "leaky_relu"))
    for op in ("stablehlo.while", "stablehlo.case"):
        assert one.count(op) == four.count(op), (op, one.count(op), four.count(op))
    # an activation alone runs behind the same conditionals, so that XLA cannot fuse it into
    # (and recompute it in) the narrow layers around it: none would mean it was inlined
    assert one.count("stablehlo.case") > 0


@GROUPED
def test_run_alone_with_another_seed_differs(grouped_all):
    # the control that makes the test above able to fail
    state, _ = alone(grouped_all.study, "relu", seed=1, acts=PLAIN)
    first = lambda params: params["model"]["params"]["layer_0"]["kernel"]
    batched = first(grouped_all.states[ALL.index("relu")].params)[2]
    assert not np.allclose(batched, first(state.params), atol=1e-3)


@GROUPED
def test_nan_in_one_seed_leaves_the_other_seeds_bit_identical(grouped_twins):
    assert_poison_stays_local(grouped_twins)


@GROUPED
def test_paired_design_same_init_and_data_order_for_every_activation(grouped_all):
    tanh, relu, maxout = (ALL.index(a) for a in ("tanh", "relu", "maxout"))
    t, rl, mx = (grouped_all.states[i] for i in (tanh, relu, maxout))
    np.testing.assert_array_equal(t.perm, rl.perm)
    np.testing.assert_array_equal(t.perm, mx.perm)
    # initial weights (step 0 record) agree where shapes agree: weight norms at step 0
    w0 = grouped_all.trace.weight_norm[:, :, 0]
    np.testing.assert_array_equal(w0[tanh], w0[relu])
    assert not np.array_equal(w0[tanh], w0[maxout])
    # different seeds differ
    assert not np.array_equal(t.perm[0], t.perm[1])


@GROUPED
def test_pulled_out_model_reproduces_its_traced_accuracy(grouped_all):
    for act in ("relu", "maxout", "prelu"):
        m = grouped_all.model(act, seed=0)
        acc = (m(DATA.x_test).argmax(-1) == DATA.y_test).mean()
        np.testing.assert_allclose(acc, grouped_all.final("test_accuracy")[ALL.index(act), 0])


@GROUPED
def test_maxout_doubles_the_hidden_parameters(grouped_all):
    count = lambda act: actlab.models.param_count(grouped_all.model(act, 0).params)
    relu, maxout = count("relu"), count("maxout")
    # 6->8->6->3 MLP: maxout doubles both hidden layers' weights and biases, not the output
    hidden = (6 * 8 + 8) + (8 * 6 + 6)
    assert maxout - relu == hidden
    # results.json's per-activation count (the report's configuration) is the same count
    assert results.parameters(grouped_all) == {a: count(a) for a in ALL}


@GROUPED
def test_step_network_cannot_learn_and_shows_it(grouped_all):
    i = ALL.index("step")
    assert (grouped_all.trace.grad_norm[i, :, :, :-1] == 0).all()  # no gradient below the output
    assert (grouped_all.trace.saturated[i] == 1).all()  # f' = 0 on every example


# -- the small-model layout: unrolled contractions, models in blocks --------------------------
# The old layout (one matmul per layer, every model at once) against the new one (elementwise
# multiply-adds, 2 models per block): the same models, to float rounding (sums in another
# order), for every activation, grouped and switched. Grouped runs 3 seeds, so a remainder
# block of 1 follows the full one; switch runs 4 (two full blocks), since the remainder is a
# second traced copy of the program and doubled the compile of all 23 branches (65 s to 31).

NEW_LAYOUT = dict(
    seeds=3, seed_loop="blocks", block=2, model=actlab.MLP((8, 6), contraction="unrolled")
)
OLD_LAYOUT = dict(seeds=3, seed_loop="vmap", model=actlab.MLP((8, 6), contraction="dot"))
# grouped: one activation per code path (compiling all 23 twice in both layouts costs ~5 min)
GROUPED_PATHS = ("tanh", "relu", "prelu", "maxout", "step", "softmax", "gelu")


@pytest.fixture(scope="module")
def layouts():
    runs = {}
    for mode, acts, seeds in (("grouped", GROUPED_PATHS, 3), ("switch", ALL, 4)):
        layouts = ({**kw, "seeds": seeds} for kw in (NEW_LAYOUT, OLD_LAYOUT))
        new, old = (small(acts, mode=mode, **kw).start() for kw in layouts)
        for r in (new, old):
            r.advance()
        runs[mode] = (new, old)
    return runs


LAYOUTS = pytest.mark.xdist_group("layouts")


@LAYOUTS
@pytest.mark.parametrize("mode", ["grouped", "switch"])
def test_small_model_layout_trains_the_same_models_as_the_vmap_path(layouts, mode):
    new, old = layouts[mode]
    got = new.layout.describe()
    want = {"seed_loop": "blocks", "block": 2, "devices": 1, "model_chunks": 1}
    want |= {"contraction": "unrolled", "padding": new.layout.slots - new.layout.seeds}
    assert {k: got[k] for k in want} == want
    assert old.layout.seed_loop == "vmap" and old.layout.contraction == "dot"
    n, o = new.result(), old.result()
    for a, act in enumerate(n.activations):
        got, want = (jax.tree.map(lambda x, a=a: x[a], r.trace) for r in (n, o))
        assert_trace_matches(got, want, act)
    # the final parameters after 20 Adam steps: Adam divides a gradient by its own running
    # scale, so where one is ~0 a rounding-level difference between the layouts' sums becomes
    # a step of order lr (seen: 2e-5 on 3 of 1 728 weights of switch mode); the traces above
    # hold the models to the tight tolerance at every evaluation
    params = lambda r: [s.params for s in r.states]  # noqa: E731
    assert_trees_close(params(n), params(o), rtol=1e-4, atol=5e-5)


@LAYOUTS
def test_the_layouts_compare_at_a_tolerance_that_can_fail(layouts):
    new, old = layouts["grouped"]
    other = small(GROUPED_PATHS[:1], seed=1, **OLD_LAYOUT).run()  # another seed: must differ
    with pytest.raises(AssertionError):
        assert_trees_close(new.result().states[0].params, other.states[0].params)


@pytest.mark.parametrize(
    "shape", [(4, 2, 5), (3, 1, 1), (2, 7, 16)], ids=lambda s: "x".join(map(str, s))
)
def test_unrolled_dot_equals_a_matmul_to_rounding(shape):
    batch, fan_in, out = shape
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (batch, fan_in))
    w = jax.random.normal(kw, (fan_in, out))
    got = models.unrolled_dot(x, w)
    np.testing.assert_allclose(got, x @ w, rtol=1e-6, atol=1e-6 * fan_in)
    assert not np.allclose(got, x @ (w + 1e-3), rtol=1e-6, atol=1e-6 * fan_in)


@pytest.mark.parametrize(
    "contraction, fan_in, unrolled",
    [("auto", 5, True), ("auto", 16, True), ("auto", 17, False), ("auto", 784, False),
     ("dot", 5, False), ("unrolled", 784, True)],
)  # fmt: skip
def test_auto_contraction_unrolls_narrow_layers_only(contraction, fan_in, unrolled):
    assert models.unrolls(contraction, fan_in) is unrolled


def test_an_unknown_contraction_is_refused():
    with pytest.raises(ValueError, match="unknown contraction 'fast'; accepted: auto, dot"):
        small(("relu",), model=actlab.MLP(hidden=(8,), contraction="fast")).run()


@pytest.mark.parametrize(
    "params, units, batch, want",
    [(100, 10, 4, actlab.layout.MAX_BLOCK), (2_000, 50, 16, 21), (10_000, 400, 32, 1),
     (actlab.layout.MAP_ABOVE_PARAMS, 1, 1, 1)],
)  # fmt: skip
def test_the_block_fills_the_cache_from_the_models_shapes(params, units, batch, want):
    study = small(("relu",), batch_size=batch)
    per_model = 4 * (3 * params + actlab.layout.LIVE_PER_UNIT * batch * units)
    assert actlab.layout.default_block(params, units, study) == want
    if 1 < want < actlab.layout.MAX_BLOCK:  # as many models as fit the cache's bytes
        assert want * per_model <= actlab.layout.CACHE_BYTES < (want + 1) * per_model


def test_auto_layout_blocks_tiny_models_and_maps_large_ones():
    few, many = (protocols.get("xor").build(protocols.Overrides(seeds=n)) for n in (2, 2000))
    a, b = actlab.layout.plan(few), actlab.layout.plan(many)
    assert a.contraction == b.contraction == "auto" and a.block == b.block > 20
    assert b.seed_loop == "blocks" and b.slots % (b.block * b.devices) == 0
    wide = small(("relu",), model=actlab.MLP(hidden=(4096, 8)), seeds=2, steps=1)
    assert actlab.layout.plan(wide).seed_loop == "map"
    assert actlab.layout.plan(small(("relu",), seed_loop="vmap")).seed_loop == "vmap"


def test_block_is_refused_with_a_loop_that_does_not_block():
    with pytest.raises(ValueError, match="block=2 is for seed_loop 'blocks' or 'auto', not 'map'"):
        small(("relu",), seed_loop="map", block=2)


@pytest.fixture(scope="module")
def block_twins():
    return poisoned_twins(small(FAMILY, **NEW_LAYOUT), "prelu", seed=1)


@pytest.mark.xdist_group("block_twins")
def test_nan_in_one_model_of_a_block_leaves_the_others_bit_identical(block_twins):
    assert_poison_stays_local(block_twins)


# -- evaluation that costs what it tells: a subsample before the last point -----------------


def test_curve_examples_thin_the_points_before_the_last_and_not_the_last():
    curve, test, train = (16, 32), 16, 32  # a (test, train) pair, each split its own
    kw = dict(seeds=2, train_eval_examples=64)
    thin = small(("tanh",), curve_examples=curve, **kw).run()  # DATA: 256 train, 128 test
    sub = small(("tanh",), eval_examples=test, **{**kw, "train_eval_examples": train}).run()
    full = small(("tanh",), **kw).run()
    jax.tree.map(np.testing.assert_array_equal, thin.states[0].params, full.states[0].params)
    for field in ("test_loss", "train_loss", "test_accuracy", "dead"):
        t, s, f = (getattr(r.trace, field) for r in (thin, sub, full))
        np.testing.assert_array_equal(t[:, :, :-1], s[:, :, :-1], err_msg=field)
        np.testing.assert_array_equal(t[:, :, -1], f[:, :, -1], err_msg=field)
        if field.endswith("loss"):  # the control: the last point did read more examples
            assert not np.array_equal(t[:, :, -1], s[:, :, -1]), field
    sizes = eval_sizes(thin.config, 256, 128)
    assert sizes == {"test": [test, 128], "train": [train, 64], "census": [train, 64]}


@pytest.mark.parametrize("count", [32, 8, 100])
def test_one_curve_count_is_the_pair_of_it(count):
    # one count serves both splits: the sizes the trained pair above checks, without training
    one, pair = (
        small(("tanh",), curve_examples=c, train_eval_examples=64) for c in (count, (count, count))
    )
    for final in (False, True):
        assert _limits(one.config(), final) == _limits(pair.config(), final)
    assert eval_sizes(one.config(), 256, 128) == eval_sizes(pair.config(), 256, 128)
    thin = min(count, 64)  # the train-eval sample bounds its curve sample
    assert eval_sizes(one.config(), 256, 128)["train"] == [thin, 64]
    assert eval_sizes(one.config(), 256, 128)["test"] == [min(count, 128), 128]


@pytest.mark.parametrize("curve", [0, (16, 0), (16,), [16, 32], 2.5, True])
def test_a_curve_sample_that_is_not_counts_is_refused(curve):
    with pytest.raises(ValueError, match="curve_examples must be a count >= 1, a pair"):
        small(("tanh",), curve_examples=curve).run()


# -- every activation, switch: one vmap over a traced activation index ------------------------


@pytest.fixture(scope="module")
def switch_twins():
    return poisoned_twins(small(ALL, mode="switch"), "tanh", seed=0)


SWITCH = pytest.mark.xdist_group("switch_all")


@SWITCH
@pytest.mark.parametrize("act", ALL)
def test_switch_mode_equals_run_alone_with_traced_index(switch_twins, act):
    r, i = switch_twins.clean, ALL.index(act)
    state, trace = alone(r.study, act, seed=1, acts=ALL)
    assert_trees_close(jax.tree.map(lambda x: x[i, 1], r.states[0].params), state.params)
    assert_trace_matches(jax.tree.map(lambda x: x[i, 1], r.trace), trace, act)


@SWITCH
def test_switch_run_alone_with_another_index_differs(switch_twins):
    # the control for the test above: the traced index selects what it names
    r = switch_twins.clean
    _, trace = alone(r.study, "tanh", seed=1, acts=ALL)
    assert not np.allclose(r.trace.test_loss[ALL.index("relu"), 1], trace.test_loss, rtol=1e-3)


@SWITCH
def test_nan_in_one_model_in_switch_mode_leaves_the_others_bit_identical(switch_twins):
    assert_poison_stays_local(switch_twins)


# -- three activations, four seeds: run again, in chunks, switched, mapped, sharded -----------


@pytest.fixture(scope="module")
def family():
    return small(FAMILY, seeds=4).run()  # 4 seeds: two per device when sharded


@pytest.fixture(scope="module")
def chunked(family):
    """The family's study in chunks of 2 intervals, and the compilations done by each chunk."""
    compiles, after_chunk = [], []

    def listen(event, duration, **kw):
        if event == BACKEND_COMPILE:
            compiles.append(kw.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        r = family.study.run(chunk=2, callback=lambda run: after_chunk.append(len(compiles)))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return r, after_chunk


@pytest.fixture(scope="module")
def map_twins(family):
    return poisoned_twins(family.study.replace(seed_loop="map"), "prelu", seed=2)


FAMILY_GROUP = pytest.mark.xdist_group("family")


@FAMILY_GROUP
def test_same_seed_gives_the_same_result_bit_for_bit(family):
    again = small(FAMILY, seeds=4).run()
    jax.tree.map(np.testing.assert_array_equal, family.trace, again.trace)


@FAMILY_GROUP
def test_chunked_run_equals_one_call(family, chunked):
    one, (chunks, _) = family, chunked  # 3 intervals: chunks of 2 and (2 with 1 past the end)
    np.testing.assert_array_equal(one.steps, [0, 7, 14, 20])
    np.testing.assert_array_equal(chunks.steps, one.steps)
    assert_trees_close(one.trace, chunks.trace)


@FAMILY_GROUP
def test_a_second_chunk_of_the_same_size_does_not_compile_again(chunked):
    _, after_chunk = chunked
    assert len(after_chunk) == 2
    assert after_chunk[0] > 0  # the listener hears compilations: init and the first chunk
    assert after_chunk[1] == after_chunk[0]


@FAMILY_GROUP
def test_a_rerun_in_the_same_process_does_not_compile_again(family):
    compiles = []
    listen = lambda event, duration, **kw: compiles.append(event == BACKEND_COMPILE)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        again = small(FAMILY, seeds=4).run()  # new Study, new Run, new jit objects
        rerun = sum(compiles)
        other = small(FAMILY, seeds=4, steps=21).run()  # another program: the control
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert rerun == 0
    assert sum(compiles) > 0 and other.steps[-1] == 21
    jax.tree.map(np.testing.assert_array_equal, family.trace, again.trace)


@FAMILY_GROUP
@pytest.mark.parametrize("mode", ["grouped", "switch"])
def test_models_in_memory_bounded_chunks_equal_one_call(family, mode, tmp_path):
    # 4 seeds in chunks of 3: (0-2), then (3) padded to 3 slots, one program for both
    one = family if mode == "grouped" else family.study.replace(mode="switch").run()
    study = one.study.replace(max_memory=3 * compiled_bytes_per_seed(one.study), block=1)
    plan = actlab.layout.plan(study)
    assert plan.memory.estimate == "compiled" and plan.model_chunks == 2
    run = study.start()
    assert run.ranges == [(0, 3), (3, 4)] and run.slots == 3
    run.advance(2)
    checkpoint.save(tmp_path, run, chunk=2)
    run.advance()
    r = run.result()
    assert r.timing["model_chunks"] == 2
    assert results.summary(r, "chunked")["timing"]["model_chunks"] == 2  # results.json
    assert_trees_close(one.trace, r.trace)
    assert_trees_close([s.params for s in one.states], [s.params for s in r.states])
    # the checkpoint holds every seed: it resumes unchunked, to the same models
    whole = study.replace(max_memory=None).start()
    checkpoint.restore(whole, tmp_path)
    whole.advance()
    assert_trees_close(one.trace, whole.result().trace)


def compiled_bytes_per_seed(study) -> int:
    """One seed's bytes as the compiled probe measures them: asked under a budget that the
    shapes' bound (larger) does not meet, but the compiled figure does."""
    study = study.replace(block=1)
    plan = actlab.layout.plan(study.replace(max_memory=actlab.layout.bytes_per_seed(study)))
    assert plan.memory.estimate == "compiled" and plan.chunk_seeds == study.seeds, plan
    return plan.memory.bytes_per_seed


def test_the_compiled_estimate_lies_between_the_parameters_and_the_shapes_bound():
    study = small(FAMILY, seeds=4)
    params = sum(x.size for x in jax.tree.leaves(study.run().states[0].params)) // 4
    per_seed = compiled_bytes_per_seed(study)
    # parameters, gradients and Adam's two moments, float32, for each activation's model
    assert 4 * 4 * params * len(FAMILY) <= per_seed < actlab.layout.bytes_per_seed(study)


def test_without_max_memory_the_budget_is_the_devices_free_memory_less_the_data(monkeypatch):
    study = small(FAMILY, seeds=4, block=1)
    plan = actlab.layout.plan(study)
    data = sum(x.nbytes for x in (DATA.x_train, DATA.y_train, DATA.x_test, DATA.y_test))
    assert plan.memory.source == "device" and plan.chunk_seeds == 4
    assert plan.memory.budget == pytest.approx(actlab.runtime.memory_budget() - data, rel=0.05)
    # a device with room for 3 seeds' models next to the data: chunks of 3
    per_seed = compiled_bytes_per_seed(study)
    monkeypatch.setattr(actlab.runtime, "memory_budget", lambda: data + 3 * per_seed)
    tight = actlab.layout.plan(study)
    assert tight.chunk_seeds == 3 and tight.model_chunks == 2
    monkeypatch.setattr(actlab.runtime, "memory_budget", lambda: data + per_seed // 2)
    with pytest.raises(ValueError, match=r"the device's free memory \(\d+ bytes for the models"):
        actlab.layout.plan(study)


def test_the_cpu_budget_is_a_share_of_the_available_ram_per_host_device():
    import psutil

    budget = actlab.runtime.memory_budget()
    share = psutil.virtual_memory().available * actlab.runtime.MEMORY_SHARE
    assert budget == pytest.approx(share / len(jax.local_devices()), rel=0.05)


def test_peak_bytes_counts_at_least_the_arguments_and_outputs():
    x = jnp.ones((1000, 64))
    compiled = jax.jit(lambda x: jnp.tanh(x @ x.T).sum(0)).lower(x).compile()
    assert execution.peak_bytes(compiled) >= x.nbytes + 1000 * 4


def test_a_memory_budget_that_holds_no_model_fails_before_training_with_the_numbers():
    study = small(FAMILY, max_memory=1000)
    with pytest.raises(
        ValueError,
        match=r"max_memory=1000 bytes per device holds no (seed|block of \d+ seeds): one ",
    ):
        study.start()


@FAMILY_GROUP
def test_switch_and_grouped_agree_where_shapes_agree(family):
    switched = family.study.replace(mode="switch").run()
    np.testing.assert_allclose(family.trace.test_loss, switched.trace.test_loss, 1e-5, 1e-6)


@FAMILY_GROUP
def test_seed_loop_map_trains_the_same_models_as_vmap(family, map_twins):
    m = map_twins.clean
    assert m.study.seed_loop == "map"
    assert_trees_close(family.trace, m.trace)
    assert_trees_close([s.params for s in family.states], [s.params for s in m.states])


@FAMILY_GROUP
def test_nan_in_one_model_under_seed_loop_map_leaves_the_others_bit_identical(map_twins):
    assert_poison_stays_local(map_twins)


SHARDED = """
import sys, traceback
import jax, numpy as np
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_default_matmul_precision", "highest")  # as conftest.py
sys.path.insert(0, {tests!r})
from test_study import FAMILY, assert_poison_stays_local, poisoned_twins, small
import actlab
assert jax.device_count() == 2
s = small(FAMILY, seeds=4, block=2)  # a block of 2 per device: the seeds are sharded
v = poisoned_twins(s, "relu", seed=1, chunk=2)  # seed 1 shares device 0 with seed 0
m = poisoned_twins(s.replace(seed_loop="map", block=None), "relu", seed=1)
for t in (v, m):
    assert len(jax.tree.leaves(t.clean.states[0].params)[0].sharding.device_set) == 2
np.save({out!r}, np.stack([v.clean.trace.test_loss, m.clean.trace.test_loss]))
# 3 seeds on 2 devices: padded to 4 slots, sharded; the padding reaches no result or file
from actlab import checkpoint
odd = small(FAMILY, seeds=3, block=1)
plan = actlab.layout.plan(odd)
assert plan.devices == 2 and plan.padding == 1
run = odd.start()
run.advance(2)
assert len(jax.tree.leaves(run.states[0].params)[0].sharding.device_set) == 2
checkpoint.save({ckpt!r}, run, chunk=2)  # resumed on one device by the test
run.advance()
r = run.result()
assert r.final("test_loss").shape == (3, 3) and r.diverged_at.shape == (3, 3)
assert jax.tree.leaves(r.states[0].params)[0].shape[0] == 3
np.save({odd!r}, r.trace.test_loss)
try:
    for t in (v, m):
        assert_poison_stays_local(t)
    log = "ok"
except AssertionError:
    log = traceback.format_exc()
open({log!r}, "w").write(log)
"""


class Sharded(NamedTuple):
    test_loss: Any  # [loops (vmap, map), acts, seeds, evals]
    isolation: str  # "ok", or the failed assertion
    padded: Any  # 3 seeds on 2 devices (4 slots): test_loss [acts, seeds, evals]
    checkpoint: Any  # the padded run's folder, saved after its first 2 intervals


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """The family's study on 2 host devices, vmap (in chunks) and map, each with a twin."""
    d = tmp_path_factory.mktemp("sharded")
    out, log, odd, ckpt = d / "test_loss.npy", d / "isolation.txt", d / "odd.npy", d / "ckpt"
    code = SHARDED.format(
        tests=os.path.dirname(__file__), out=str(out), log=str(log), odd=str(odd), ckpt=str(ckpt)
    )
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env = {**os.environ, "XLA_FLAGS": flags.strip()}
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-5000:]
    return Sharded(np.load(out), log.read_text(), np.load(odd), ckpt)


@FAMILY_GROUP
def test_seeds_sharded_over_two_host_devices_train_the_same_models(sharded, family):
    for test_loss in sharded.test_loss:  # vmap, then lax.map, over each device's seeds
        np.testing.assert_allclose(test_loss, family.trace.test_loss, rtol=1e-5, atol=1e-6)


@FAMILY_GROUP
def test_seeds_that_do_not_divide_the_devices_are_padded_and_train_the_same_models(sharded, family):
    # seed i's keys do not depend on the seed count: the family's first 3 are the same models
    want = family.trace.test_loss[:, :3]
    np.testing.assert_allclose(sharded.padded, want, rtol=1e-5, atol=1e-6)


@FAMILY_GROUP
def test_a_padded_run_resumes_on_another_device_count(sharded, family):
    assert jax.local_device_count() == 1
    run = small(FAMILY, seeds=3, block=1).start()
    meta = checkpoint.restore(run, sharded.checkpoint)
    assert meta["intervals_done"] == 2 and run.slots == 3
    run.advance()
    got = run.result().trace.test_loss
    np.testing.assert_allclose(got, family.trace.test_loss[:, :3], rtol=1e-5, atol=1e-6)


@FAMILY_GROUP
def test_nan_in_one_sharded_model_leaves_the_others_bit_identical(sharded):
    assert sharded.isolation == "ok", sharded.isolation


# -- the CNN -----------------------------------------------------------------------------------


_rng = np.random.default_rng(0)
IMAGES = actlab.data.from_arrays(
    _rng.normal(size=(64, 8, 8, 1)).astype(np.float32), _rng.integers(0, 3, 64), num_classes=3
)
CNN_ACTS = ("tanh", "relu")


@pytest.fixture(scope="module")
def cnn():
    model = actlab.CNN(features=(4,), kernel=3, pool_window=2, pool_stride=2, dense=(5,))
    return small(CNN_ACTS, model=model, data=IMAGES, steps=6, eval_every=3).run()


@pytest.mark.xdist_group("cnn")
@pytest.mark.parametrize("act", CNN_ACTS)
def test_cnn_vmapped_run_equals_run_alone(cnn, act):
    assert cnn.config.model.conv_impl == "xla"  # the default: lax.conv
    a = CNN_ACTS.index(act)
    state, trace = alone(cnn.study, act, seed=2, acts=CNN_ACTS)
    assert_trees_close(jax.tree.map(lambda x: x[2], cnn.states[a].params), state.params)
    assert_trace_matches(jax.tree.map(lambda x: x[a, 2], cnn.trace), trace, act)


# -- one study each ----------------------------------------------------------------------------


def test_hold_shares_one_stream_across_seeds():
    r = small(("relu",), hold=("data",)).run()
    perm = r.states[0].perm
    np.testing.assert_array_equal(perm[0], perm[1])
    assert not np.array_equal(r.trace.weight_norm[0, 0, 0], r.trace.weight_norm[0, 1, 0])


def test_divergence_of_one_model_leaves_the_others_bit_identical():
    base = small(("relu", "elu"), optimizer=optax.sgd, lrs=(0.05, 0.1))
    calm, wild = base.run(), base.replace(lrs=(0.05, 1e12)).run()
    assert wild.diverged[:, 1].all() and not wild.diverged[:, 0].any()
    assert not calm.diverged.any()
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(a[:, 0], b[:, 0]), calm.trace, wild.trace
    )
    # the diverged models are frozen at their last finite parameters and flagged
    assert (wild.diverged_at[:, 1] >= 0).all()
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(wild.states[0].params))
    assert wild.trace.diverged[:, 1, :, -1].all()


def test_lr_sweep_has_an_lr_axis():
    lrs = (1e-3, 1e-2, 1e-1)
    r = small(("relu",), optimizer=optax.adam, lrs=lrs).run()
    assert r.final("test_accuracy").shape == (1, 3, 3)
    assert r.grad_norms.shape == (1, 3, 3, 4, 3)
    m = r.model("relu", seed=1, lr=2)
    acc = (m(DATA.x_test).argmax(-1) == DATA.y_test).mean()
    np.testing.assert_allclose(acc, r.final("test_accuracy")[0, 2, 1], atol=1e-6)
    # the axis is in the order given: the models at index 2 are those trained alone at lrs[2]
    state, trace = alone(r.study, "relu", seed=1, lr=lrs[2])
    assert_trees_close(jax.tree.map(lambda x: x[2, 1], r.states[0].params), state.params)
    assert_trace_matches(jax.tree.map(lambda x: x[0, 2, 1], r.trace), trace, "relu")
    # and another lr trains another model, so a permuted axis would fail the lines above
    assert not np.allclose(r.trace.test_loss[0, 1, 1], trace.test_loss, rtol=1e-3)


ACT_LRS = {"tanh": 3e-3, "relu": 3e-2}  # a factor 10 apart: a swapped pair fails below


@pytest.mark.parametrize("mode", ["grouped", "switch"])
def test_each_activation_at_its_own_lr_equals_it_trained_alone_at_that_lr(mode):
    acts = tuple(ACT_LRS)
    r = small(acts, optimizer=optax.adam, act_lrs=tuple(ACT_LRS.values()), mode=mode).run()
    assert r.final("test_accuracy").shape == (2, 3)  # [acts, seeds]: no lr axis
    for a, act in enumerate(acts):
        state, trace = alone(r.study, act, seed=1, lr=ACT_LRS[act], acts=acts)
        group, pos = (r.states[a], (1,)) if mode == "grouped" else (r.states[0], (a, 1))
        assert_trees_close(jax.tree.map(lambda x, p=pos: x[p], group.params), state.params)
        assert_trace_matches(jax.tree.map(lambda x, a=a: x[a, 1], r.trace), trace, act)
        # the other activation's rate trains another model
        other = alone(r.study, act, seed=1, lr=ACT_LRS[acts[1 - a]], acts=acts)[1]
        assert not np.allclose(r.trace.test_loss[a, 1], other.test_loss, rtol=1e-3)


def test_a_program_compiled_for_one_lr_is_not_reused_for_a_rate_per_activation():
    # init does not use the rate, so jit drops it and the two init programs have one text:
    # the compiled one must still not be called with the other argument shapes
    acts = tuple(ACT_LRS)
    small(acts, optimizer=optax.adam(1e-3)).start()
    run = small(acts, optimizer=optax.adam, act_lrs=tuple(ACT_LRS.values())).start()
    assert run.states is not None and len(run.traces) == 1  # the step-0 record


def test_gradient_clipping_is_per_model_not_across_the_ensemble():
    # a global-norm clip inside the vmapped call sees one model's gradient, as alone
    clip = optax.chain(optax.clip_by_global_norm(0.05), optax.sgd(0.5))
    acts = ("relu", "sigmoid")
    r = small(acts, optimizer=clip).run()
    for a, act in enumerate(acts):
        state, _ = alone(r.study, act, seed=2, acts=acts)
        assert_trees_close(jax.tree.map(lambda x, a=a: x[2], r.states[a].params), state.params)


# -- argument checks (nothing is compiled) ------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(activations=("relu", "nope")), "unknown activation 'nope'"),
        (dict(seeds=0), "seeds must be a positive integer"),
        (dict(batch_size=10_000), "batch_size=10000 must be between 1 and the 256"),
        (dict(steps=None), "exactly one of steps= or epochs="),
        (dict(mode="fast"), "unknown mode 'fast'; accepted: grouped, switch"),
        (dict(loss="bce"), "needs 2 classes"),
        (dict(loss="hinge"), "unknown loss 'hinge'"),
        (dict(lrs=(1e-3,)), "lrs= needs optimizer to be a function"),
        (dict(act_lrs=(1e-3,)), "act_lrs= needs optimizer to be a function"),
        (dict(optimizer=optax.sgd, act_lrs=(0.1, 0.2)), "act_lrs has 2 learning rates for 1"),
        (dict(optimizer=optax.sgd, act_lrs=(0.0,)), "act_lrs must be positive finite"),
        (dict(optimizer=optax.sgd, lrs=(0.1,), act_lrs=(0.1,)), "not both"),
    ],
)
def test_bad_study_arguments_give_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        small(("relu",), **kw).run()


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.ones((4, 2)), np.zeros(3, int)), "x has 4 examples but y has 3"),
        ((np.ones((4, 2)), np.array([0, 1, 2, 5])), r"labels must lie in \[0, 3\)"),
        ((np.array([[0.0, np.nan]] * 4), np.zeros(4, int)), "non-finite"),
        ((np.ones((0, 2)), np.zeros(0, int)), "empty"),
        ((np.ones((4, 2)), np.ones(4)), "give integer labels for classes"),
    ],
)
def test_bad_data_gives_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        actlab.data.from_arrays(*args, num_classes=3)
