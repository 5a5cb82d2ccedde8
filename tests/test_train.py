"""The trainer: what a trace records, checked against computations done by hand."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import DATA, small

import actlab
from actlab.train import Config, Trace, TrainState, make_train, seed_keys

# -- a 12-layer MLP trained by the trainer and by hand ---------------------------------------

# 11 hidden layers and the output: names sort as strings layer_0, layer_1, layer_10, layer_11,
# layer_2, ... Distinct widths (none equal to the 6 inputs) give every layer its own norm and
# let the layers be chained input to output by their kernels' shapes alone.
WIDTHS = (7, 12, 8, 9, 14, 16, 11, 10, 13, 17, 15)
LR, BATCH = 0.1, 16
DEEP = Config(
    model=actlab.MLP(hidden=WIDTHS),
    optimizer=optax.sgd(LR),
    acts=("elu",),
    steps=3,
    batch_size=BATCH,
    eval_every=2,  # intervals: steps 0-1 (step 1 traced), then step 2 alone (partial)
)
SATURATION = 0.01  # DEEP.saturation * max|elu'| (= 1)
DEAD_TOL = 1e-3  # DEEP.dead_tol * max|elu'|


def chain(params, inputs: int) -> tuple[str, ...]:
    """Layer names from input to output, found by following kernel shapes, not names."""
    layers, order = dict(params["model"]["params"]), []
    while layers:
        (name,) = [n for n, p in layers.items() if p["kernel"].shape[0] == inputs]
        inputs = layers.pop(name)["kernel"].shape[1]
        order.append(name)
    return tuple(order)


def hand_logits(params, x, names, act):
    """The MLP written out: Dense, act, ..., Dense, over ``names`` in that order."""
    h = x
    for i, n in enumerate(names):
        p = params["model"]["params"][n]
        z = h @ p["kernel"] + p["bias"][None, :]
        h = act(z) if i < len(names) - 1 else z
    return h


def hand_softmax_ce(params, x, y, names):
    logp = jax.nn.log_softmax(hand_logits(params, x, names, jax.nn.elu))
    return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()


def norms(params, names) -> np.ndarray:
    """[layers] L2 norm of each layer's kernel and bias together, in float64."""
    p = params["model"]["params"]
    sq = lambda a: np.sum(np.asarray(a, np.float64) ** 2)
    return np.sqrt([sq(p[n]["kernel"]) + sq(p[n]["bias"]) for n in names])


def units(params, names, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[hidden layers] fractions of inactive (z <= 0 on every example), dead (std elu(z) <=
    1e-3 std z) and saturated (elu' < 0.01 or 0 on every example) units on x, in float64."""
    h, inactive, dead, sat = np.asarray(x, np.float64), [], [], []
    for n in names[:-1]:
        p = params["model"]["params"][n]
        z = h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)
        d = np.where(z > 0, 1.0, np.exp(z))  # elu'
        h = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
        inactive.append(np.all(z <= 0, axis=0).mean())
        spread = lambda v: (v - v[:1]).std(axis=0)  # exactly 0 for a constant
        dead.append((spread(h) <= DEAD_TOL * spread(z)).mean())
        sat.append(np.all(d < SATURATION, axis=0).mean())
    return np.array(inactive), np.array(dead), np.array(sat)


def crafted(shapes, inputs: int):
    """He-normal kernels and zero biases, except in hidden layer i, whose first units are set
    so that the census fractions differ from layer to layer:

    * ``1 + i % 3`` dead units: no incoming weights and bias -1e3 (z constant, elu' = 0),
      hence inactive, dead and saturated;
    * the next ``1 + i % 2`` saturated but alive: incoming weights 0.01 N(0, 1) and bias -5.5
      (z ~ -5.5 +- 0.2, so 1e-3 < elu' ~ 4e-3 < 0.01), hence inactive and saturated.

    The thresholds are far from every z (not -30: JAX's elu' there is expm1(z) + 1, which
    rounds to 0 in float32). Inactive units that are not saturated (z ~ -1) are left to
    ``test_census.py``: each one replaces a random unit here, and with fewer random weights
    the float32 rounding of the hand SGD (``test_update_ratio_...``) no longer averages out.
    """
    rng = np.random.default_rng(0)
    p = jax.tree.map(lambda s: np.zeros(s.shape, np.float32), shapes)
    names = chain(p, inputs)
    for i, n in enumerate(names):
        layer = p["model"]["params"][n]
        fan_in = layer["kernel"].shape[0]
        layer["kernel"][:] = rng.normal(0, np.sqrt(2 / fan_in), layer["kernel"].shape)
        if i < len(names) - 1:
            dead, sat = 1 + i % 3, 1 + i % 2
            layer["kernel"][:, :dead] = 0.0
            layer["kernel"][:, dead : dead + sat] *= 0.01 / np.sqrt(2 / fan_in)
            layer["bias"][:dead], layer["bias"][dead : dead + sat] = -1e3, -5.5
    return p, names


def normalised(data, x):
    return (np.asarray(x, np.float32) - data.shift) * data.scale


class Deep(NamedTuple):
    names: tuple  # layer names, input to output
    trace: Trace  # [intervals] advance's records
    state: Any  # the trainer's state after the 3 steps
    params: list  # by hand: SGD's params before step 0, 1, 2 and after step 2
    grads: list  # by hand: the gradient of step 0, 1, 2


@pytest.fixture(scope="module")
def deep() -> Deep:
    tr = make_train(DEEP, DATA)
    keys = jax.tree.map(lambda k: k[0], seed_keys(1))
    n, x0 = DATA.x_train.shape[0], DATA.x_train[:1]
    start, names = crafted(jax.eval_shape(tr.params, keys.init, 0), x0.shape[1])
    # the state init would make (init's program, model.init + a step + a record, costs ~1.5x
    # advance's to compile here), checked against init's for shapes and dtypes
    state0 = TrainState(
        jax.tree.map(jnp.asarray, start), DEEP.optimizer.init(start), keys.data,
        jnp.arange(n, dtype=jnp.int32), jnp.int32(-1),
    )  # fmt: skip
    spec = lambda t: jax.tree.map(lambda a: (a.shape, a.dtype), t)
    assert spec(state0) == spec(jax.eval_shape(tr.init, keys, 0)[0])
    advance = jax.jit(tr.advance, static_argnums=4)
    state, trace = advance(state0, 0, None, jnp.int32(0), tr.num_intervals)
    # the same SGD by hand (numpy float32 updates); minibatch t is slice t of the epoch's
    # permutation (all 3 steps are in epoch 0 of 16 steps), which the state holds
    x, y = normalised(DATA, DATA.x_train), np.asarray(DATA.y_train)
    perm = np.asarray(state.perm)
    hand_grad = jax.jit(jax.grad(hand_softmax_ce), static_argnums=3)
    params, grads = [start], []
    for t in range(DEEP.steps):
        b = perm[t * BATCH : (t + 1) * BATCH]
        grads.append(jax.tree.map(np.asarray, hand_grad(params[-1], x[b], y[b], names)))
        params.append(jax.tree.map(lambda p, g: p - np.float32(LR) * g, params[-1], grads[-1]))
    return Deep(names, trace, state, params, grads)


DEEP_GROUP = pytest.mark.xdist_group("deep")
AS_STRINGS = sorted(range(len(WIDTHS) + 1), key=str)  # layer order if keys were sorted as text


@DEEP_GROUP
def test_traced_run_is_sgd_on_the_epochs_minibatches(deep):
    np.testing.assert_array_equal(deep.trace.step, [2, 3])
    assert_close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    jax.tree.map(assert_close, deep.state.params, deep.params[-1])
    assert int(deep.state.diverged_at) == -1


@DEEP_GROUP
def test_grad_norm_is_the_norm_of_the_interval_last_steps_gradient(deep):
    # the traced step is the last of its interval: step 1 of steps 0-1, then step 2
    want = np.stack([norms(deep.grads[1], deep.names), norms(deep.grads[2], deep.names)])
    np.testing.assert_allclose(deep.trace.grad_norm, want, rtol=1e-5)  # float32 sums
    # the first step's gradient differs, so tracing the wrong step would fail
    assert not np.allclose(norms(deep.grads[0], deep.names), want[0], rtol=1e-3)


@DEEP_GROUP
def test_update_ratio_is_the_step_taken_over_the_new_weights(deep):
    p, names = deep.params, deep.names
    moved = lambda a, b: jax.tree.map(np.subtract, a, b)
    want = np.stack([norms(moved(p[k + 1], p[k]), names) / norms(p[k + 1], names) for k in (1, 2)])
    # float32: the hand update params_after - params_before is rounded to ~1e-7 of the weights,
    # which is up to ~1e-3 of the smallest updates, but it averages out over a layer (~1e-6)
    np.testing.assert_allclose(deep.trace.update_ratio, want, rtol=1e-5)
    np.testing.assert_allclose(
        deep.trace.weight_norm, np.stack([norms(p[2], names), norms(p[3], names)]), rtol=1e-5
    )


@DEEP_GROUP
def test_per_layer_traces_come_out_in_layer_order_past_ten_layers(deep):
    p, g, names = deep.params, deep.grads, deep.names
    x = normalised(DATA, DATA.x_train)  # every training example is in the census sample
    inactive, dead, sat = zip(*(units(p[k], names, x) for k in (2, 3)))
    want = {
        "grad_norm": np.stack([norms(g[1], names), norms(g[2], names)]),
        "weight_norm": np.stack([norms(p[2], names), norms(p[3], names)]),
        "update_ratio": np.stack(
            [LR * norms(g[k], names) / norms(p[k + 1], names) for k in (1, 2)]
        ),
        "inactive": np.stack(inactive),
        "dead": np.stack(dead),
        "saturated": np.stack(sat),
    }
    for field, w in want.items():
        got = getattr(deep.trace, field)
        np.testing.assert_allclose(got, w, rtol=1e-4, err_msg=field)
        as_strings = w[:, [i for i in AS_STRINGS if i < w.shape[1]]]
        assert not np.allclose(got, as_strings, rtol=1e-3), f"{field}: order cannot be told"
    assert (want["dead"] > 0).all() and (want["saturated"] > want["dead"]).all()
    assert (want["inactive"] >= want["saturated"]).all()  # saturated elu: z < -4.6


# -- XOR, full batch: the first record, by hand ------------------------------------------------

XOR = actlab.data.xor()
XOR_NAMES = tuple(f"layer_{i}" for i in range(4))  # 2-5-5-5-1: fewer than 10 layers


@pytest.fixture(scope="module")
def xor():
    """(result, initial params of seed 1) of a full-batch sigmoid MLP on XOR."""
    s = actlab.Study(
        model=actlab.MLP(hidden=(5,) * 3, init_scheme=actlab.Init("normal", "normal")),
        activations=("sigmoid",), data=XOR, optimizer=optax.sgd(0.01), seeds=2,
        batch_size=None, steps=5, eval_every=5, loss="bce_unclipped",
    )  # fmt: skip
    run = s.start()
    initial = jax.tree.map(lambda p: np.asarray(p[1]), run.states[0].params)
    run.advance()
    return run.result(), initial


XOR_GROUP = pytest.mark.xdist_group("xor")


@XOR_GROUP
def test_full_batch_loss_at_step_zero_is_the_hand_computed_loss(xor):
    r, params = xor
    m = r.model("sigmoid", 1)
    z = type(m)(m.parts, params, m.act)(XOR.x_train)[:, 0]
    p = 1 / (1 + np.exp(-np.asarray(z, np.float64)))
    y = np.asarray(XOR.y_train)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(r.trace.train_loss[0, 1, 0], bce, rtol=1e-5)
    np.testing.assert_allclose(r.trace.batch_loss[0, 1, 0], bce, rtol=1e-5)


@XOR_GROUP
def test_first_record_is_the_gradient_at_the_initial_params_before_any_update(xor):
    r, params = xor
    x, y = normalised(XOR, XOR.x_train), np.asarray(XOR.y_train, np.float32)

    def bce(params):  # the unclipped articles' BCE of the MLP written out
        q = jax.nn.sigmoid(hand_logits(params, x, XOR_NAMES, jax.nn.sigmoid)[:, 0])
        return -jnp.mean(y * jnp.log(q) + (1 - y) * jnp.log(1 - q))

    grad = jax.grad(bce)(params)
    assert r.trace.step[0, 1, 0] == 0
    np.testing.assert_allclose(r.trace.grad_norm[0, 1, 0], norms(grad, XOR_NAMES), rtol=1e-5)
    np.testing.assert_allclose(r.trace.weight_norm[0, 1, 0], norms(params, XOR_NAMES), rtol=1e-5)
    np.testing.assert_array_equal(r.trace.update_ratio[0, 1, 0], 0.0)
    # after the 5 steps the weights have moved (the step-0 record is not a later one)
    assert not np.allclose(r.trace.weight_norm[0, 1, 1], r.trace.weight_norm[0, 1, 0], rtol=1e-7)


# -- studies: the unit census, quarantine ---------------------------------


def test_unit_census_of_a_study_with_negative_biases():
    # biases of -10 and small weights: every pre-activation is about -10 on every example
    init = actlab.Init("normal", "zeros", weight_std=0.01, bias_mean=-10.0)
    acts = ("relu", "sigmoid", "leaky_relu")
    r = small(acts, model=actlab.MLP((8,), init_scheme=init)).run()
    assert r.trace.inactive.shape == r.trace.dead.shape == (3, 3, 4, 1)
    np.testing.assert_array_equal(r.trace.inactive[:, :, 0], 1.0)  # z < 0: all three
    # ReLU: h = 0; sigmoid: h varies by sigmoid'(-10) ~ 4.5e-5 of z's spread, below
    # dead_tol * 0.25; leaky ReLU: by 0.01 of it, ten times dead_tol: not dead
    np.testing.assert_array_equal(r.trace.dead[:2, :, 0], 1.0)
    np.testing.assert_array_equal(r.trace.dead[2], 0.0)
    np.testing.assert_array_equal(r.trace.saturated[:2, :, 0], 1.0)  # sigmoid'(-10) < 0.0025
    np.testing.assert_array_equal(r.trace.saturated[2], 0.0)  # leaky: |f'| >= 0.01
    assert (r.trace.grad_norm[0, :, :, 0] == 0).all()  # nothing flows into a dead layer


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
