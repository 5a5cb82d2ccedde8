"""The trainer and the study: batched training equals training alone, and failures stay local."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import actlab
from actlab import activations as A
from actlab.train import make_train, seed_keys

DATA = actlab.data.teacher_student(n_train=256, n_test=128, dim=6, classes=3, hidden=8)
ALL = tuple(A.REGISTRY)


def small(acts, **kw):
    args = dict(
        model=actlab.MLP(hidden=(8, 6)),
        activations=acts,
        data=DATA,
        optimizer=optax.adam(1e-2),
        seeds=3,
        batch_size=16,
        steps=20,
        eval_every=7,  # 20 = 7 + 7 + 6: the last interval is partial
    )
    args.update(kw)
    return actlab.Study(**args)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    # float32 on CPU: batching reorders sums (~1e-7 relative), so not bit-exact
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.fixture(scope="module")
def grouped_all():
    return small(ALL).run()


def alone(study, act, seed, lr=0.0, acts=None, index=0):
    cfg = study.config()._replace(acts=acts or (act,))
    keys = jax.tree.map(lambda k: k[seed], seed_keys(study.seeds, study.seed, study.hold))
    return jax.jit(make_train(cfg, study.data).train)(keys, index, lr)


@pytest.mark.parametrize("act", ALL)
def test_vmapped_run_equals_run_alone(grouped_all, act):
    a = ALL.index(act)
    state, trace = alone(grouped_all.study, act, seed=2)
    batched = jax.tree.map(lambda x: x[2], grouped_all.states[a].params)
    assert_trees_close(batched, state.params)
    for field in ("train_loss", "test_accuracy", "grad_norm", "update_ratio", "dead"):
        got = getattr(grouped_all.trace, field)[a, 2]
        np.testing.assert_allclose(got, getattr(trace, field), rtol=1e-5, atol=1e-6)


def test_run_alone_with_another_seed_differs(grouped_all):
    # the control that makes the test above able to fail
    state, _ = alone(grouped_all.study, "relu", seed=1)
    batched = grouped_all.states[ALL.index("relu")].params["params"]["layer_0"]["kernel"][2]
    assert not np.allclose(batched, state.params["params"]["layer_0"]["kernel"], atol=1e-3)


SWITCH = ("sigmoid", "prelu", "maxout")


def test_switch_mode_equals_run_alone_with_traced_index():
    r = small(SWITCH, mode="switch").run()
    for i, act in enumerate(SWITCH):
        state, trace = alone(r.study, act, seed=1, acts=SWITCH, index=jnp.int32(i))
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i, 1], r.states[0].params), state.params)
        np.testing.assert_allclose(r.trace.test_loss[i, 1], trace.test_loss, rtol=1e-5)


def test_switch_and_grouped_agree_where_shapes_agree():
    acts = ("tanh", "relu", "prelu")  # no maxout: every choice has the same layer widths
    g, s = small(acts).run(), small(acts, mode="switch").run()
    np.testing.assert_allclose(g.trace.test_loss, s.trace.test_loss, rtol=1e-5, atol=1e-6)


def test_same_seed_gives_the_same_result_bit_for_bit():
    a, b = small(("tanh", "relu")).run(), small(("tanh", "relu")).run()
    jax.tree.map(np.testing.assert_array_equal, a.trace, b.trace)


def test_chunked_run_equals_one_call():
    s = small(("sigmoid", "relu"))
    one, chunked = s.run(), s.run(chunk=2)  # 3 intervals: chunks of 2 and (2 with 1 past the end)
    np.testing.assert_array_equal(one.steps, [0, 7, 14, 20])
    np.testing.assert_array_equal(chunked.steps, one.steps)
    assert_trees_close(one.trace, chunked.trace)


def test_paired_design_same_init_and_data_order_for_every_activation():
    r = small(("tanh", "relu", "maxout")).run()
    t, rl, mx = r.states
    np.testing.assert_array_equal(t.perm, rl.perm)
    np.testing.assert_array_equal(t.perm, mx.perm)
    # initial weights (step 0 record) agree where shapes agree: weight norms at step 0
    np.testing.assert_array_equal(r.trace.weight_norm[0, :, 0], r.trace.weight_norm[1, :, 0])
    assert not np.array_equal(r.trace.weight_norm[0, :, 0], r.trace.weight_norm[2, :, 0])
    # different seeds differ
    assert not np.array_equal(t.perm[0], t.perm[1])


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
    r = small(("relu",), optimizer=optax.adam, lrs=(1e-3, 1e-2, 1e-1)).run()
    assert r.final("test_accuracy").shape == (1, 3, 3)
    assert r.grad_norms.shape == (1, 3, 3, 4, 3)
    m = r.model("relu", seed=1, lr=2)
    acc = (m(DATA.x_test).argmax(-1) == DATA.y_test).mean()
    np.testing.assert_allclose(acc, r.final("test_accuracy")[0, 2, 1], atol=1e-6)


def test_pulled_out_model_reproduces_its_traced_accuracy(grouped_all):
    for act in ("relu", "maxout", "prelu"):
        m = grouped_all.model(act, seed=0)
        acc = (m(DATA.x_test).argmax(-1) == DATA.y_test).mean()
        np.testing.assert_allclose(acc, grouped_all.final("test_accuracy")[ALL.index(act), 0])


def test_maxout_doubles_the_hidden_parameters(grouped_all):
    count = lambda act: actlab.models.param_count(grouped_all.model(act, 0).params)  # noqa: E731
    relu, maxout = count("relu"), count("maxout")
    # 6->8->6->3 MLP: maxout doubles both hidden layers' weights and biases, not the output
    hidden = (6 * 8 + 8) + (8 * 6 + 6)
    assert maxout - relu == hidden


def test_step_network_cannot_learn_and_shows_it(grouped_all):
    i = ALL.index("step")
    assert (grouped_all.trace.grad_norm[i, :, :, :-1] == 0).all()  # no gradient below the output
    assert (grouped_all.trace.dead[i] == 1).all()


def test_dead_units_of_relu_with_negative_biases():
    # biases of -10 and small weights: every ReLU pre-activation is negative, so all are dead
    init = actlab.Init("normal", "zeros", weight_std=0.01, bias_mean=-10.0)
    r = small(("relu", "sigmoid", "leaky_relu"), model=actlab.MLP((8,), init_scheme=init)).run()
    assert r.trace.dead.shape == (3, 3, 4, 1)
    np.testing.assert_array_equal(r.trace.dead[0, :, 0], 1.0)
    np.testing.assert_array_equal(r.trace.dead[1:], 0.0)  # sigmoid and leaky: f' never 0
    np.testing.assert_array_equal(r.trace.saturated[1, :, 0], 1.0)  # sigmoid'(-10) < 0.0025
    np.testing.assert_array_equal(r.trace.saturated[2], 0.0)
    assert (r.trace.grad_norm[0, :, :, 0] == 0).all()  # nothing flows into a dead layer


def test_full_batch_loss_at_step_zero_is_the_hand_computed_loss():
    xor = actlab.data.xor()
    s = actlab.Study(
        model=actlab.MLP(hidden=(5,) * 3, init_scheme=actlab.Init("normal", "normal")),
        activations=("sigmoid",), data=xor, optimizer=optax.sgd(0.01), seeds=2,
        batch_size=None, steps=5, eval_every=5, loss="bce_unclipped",
    )  # fmt: skip
    r = s.run()
    m = actlab.Study.start(s).states  # initial params
    params = jax.tree.map(lambda p: p[1], m[0].params)
    z = r.model("sigmoid", 1).module.apply(params, xor.x_train, 0)[:, 0]
    p = 1 / (1 + np.exp(-np.asarray(z, np.float64)))
    y = np.asarray(xor.y_train)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(r.trace.train_loss[0, 1, 0], bce, rtol=1e-5)
    np.testing.assert_allclose(r.trace.batch_loss[0, 1, 0], bce, rtol=1e-5)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(activations=("relu", "nope")), "unknown activation 'nope'"),
        (dict(seeds=0), "seeds must be a positive integer"),
        (dict(batch_size=10_000), "batch_size=10000 must be between 1 and the 256"),
        (dict(steps=None), "exactly one of steps= or epochs="),
        (dict(mode="fast"), "unknown mode 'fast'; accepted: grouped, switch"),
        (dict(loss="bce"), "needs 2 classes"),
        (dict(loss="mse"), "unknown loss 'mse'"),
        (dict(lrs=(1e-3,)), "lrs= needs optimizer to be a function"),
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
        ((np.ones((4, 2)), np.ones(4)), "labels must be integers"),
    ],
)
def test_bad_data_gives_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        actlab.data.from_arrays(*args, num_classes=3)


def nan_at(step: int) -> optax.GradientTransformation:
    """SGD whose update at ``step`` is NaN although the loss is finite."""

    def update(g, count, params=None):
        poison = jnp.where(count == step, jnp.nan, 1.0)
        return jax.tree.map(lambda x: -0.05 * x * poison, g), count + 1

    return optax.GradientTransformation(lambda p: jnp.int32(0), update)


def test_parameters_poisoned_under_a_finite_loss_fall_back_to_a_finite_point():
    r = small(("relu", "tanh"), optimizer=nan_at(9)).run()
    # step 9's update poisons the weights; step 10's loss is the first non-finite one
    np.testing.assert_array_equal(r.diverged_at, 10)
    assert all(np.isfinite(x).all() for s in r.states for x in jax.tree.leaves(s.params))
    assert np.isfinite(r.trace.test_loss).all()
    # frozen at the interval's start (step 7): the record at 14 and 20 equals the one at 7
    np.testing.assert_array_equal(r.trace.weight_norm[:, :, 2], r.trace.weight_norm[:, :, 1])
    np.testing.assert_array_equal(r.trace.weight_norm[:, :, 3], r.trace.weight_norm[:, :, 1])


SHARDED = """
import jax, numpy as np, optax, actlab
assert jax.device_count() == 2
d = actlab.data.teacher_student(n_train=256, n_test=128, dim=6, classes=3, hidden=8)
s = actlab.Study(model=actlab.MLP(hidden=(8, 6)), activations=("tanh", "relu"), data=d,
    optimizer=optax.adam(1e-2), seeds=4, batch_size=16, steps=20, eval_every=7)
r, m = s.run(chunk=2), s.replace(seed_loop="map").run()
np.save("{out}", np.stack([r.trace.test_loss, m.trace.test_loss]))
"""


def test_seeds_sharded_over_two_host_devices_train_the_same_models(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "sharded.npy"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    code = SHARDED.format(out=out)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    single = small(("tanh", "relu"), seeds=4).run()
    for sharded in np.load(out):  # vmap, then lax.map, over each device's seeds
        np.testing.assert_allclose(sharded, single.trace.test_loss, rtol=1e-5, atol=1e-6)


def test_seed_loop_map_trains_the_same_models_as_vmap():
    v, m = small(("relu", "prelu")).run(), small(("relu", "prelu"), seed_loop="map").run()
    assert_trees_close(v.trace, m.trace)
    assert_trees_close([s.params for s in v.states], [s.params for s in m.states])


def test_gradient_clipping_is_per_model_not_across_the_ensemble():
    # a global-norm clip inside the vmapped call sees one model's gradient, as alone
    clip = optax.chain(optax.clip_by_global_norm(0.05), optax.sgd(0.5))
    r = small(("relu", "sigmoid"), optimizer=clip).run()
    for a, act in enumerate(("relu", "sigmoid")):
        state, _ = alone(r.study, act, seed=2)
        assert_trees_close(jax.tree.map(lambda x, a=a: x[2], r.states[a].params), state.params)
