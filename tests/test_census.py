"""The unit census (``Trace.inactive``, ``dead``, ``saturated``) on networks built by hand.

Each network is an MLP with one hidden layer of 4 units on a 1-D input ``x`` evenly spread
over [-1, 1]. Its first layer is set by hand so that every unit's pre-activation ``z = w x +
b`` is known on every example, hence which definition holds for it (``Trace``'s docstring
states them). The census is read from the trainer's own record (``advance`` under SGD with
learning rate 0, so the parameters stay as built), the path every study takes.

Unit kinds, ``(w, b)``, and ``z`` over the sample:

* ``CROSS`` ``(1, 0)``: ``z`` in [-1, 1], crosses 0;
* ``NEG`` ``(1, -3)``: ``z`` in [-4, -2], negative but varying;
* ``FAR`` ``(1, -30)``: ``z`` in [-31, -29], where smooth activations are flat in float32;
* ``CONST`` ``(0, 0.5)``: ``z = 0.5`` on every example (a unit with constant input).

A CNN whose 1x1 convolution sees pixels spread over [-1, 1] checks that a channel is counted
over examples and positions; 12 000 examples that are zero but for two (at 5 000 and 11 000)
check that the census reads its stated sample, the first 10 000, and no more.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import actlab
from actlab.train import Config, TrainState, census_size, make_train, seed_keys

N = 2_000  # examples: fewer than census_examples (10 000), so the sample is all of them
X = np.linspace(-1.0, 1.0, N, dtype=np.float32)[:, None]
Y = (np.arange(N) % 2).astype(np.int32)
CROSS, NEG, FAR, CONST = (1.0, 0.0), (1.0, -3.0), (1.0, -30.0), (0.0, 0.5)
MLP4 = actlab.MLP(hidden=(4,))
KINDS = (CROSS, NEG, FAR, CONST)

# per activation: (inactive, dead, saturated) of each of the units CROSS, NEG, FAR, CONST
EXPECTED = {
    # ReLU: z <= 0 everywhere gives h = 0 and f' = 0, so all three agree; CONST is only dead
    "relu": ((0, 0, 0), (1, 1, 1), (1, 1, 1), (0, 1, 0)),
    # leaky ReLU and PReLU (slope 0.25): inactive but never dead, as h still varies by
    # slope * std z (>= 10 dead_tol), and never saturated (|f'| >= 0.01)
    "leaky_relu": ((0, 0, 0), (1, 0, 0), (1, 0, 0), (0, 1, 0)),
    "prelu": ((0, 0, 0), (1, 0, 0), (1, 0, 0), (0, 1, 0)),
    # smooth: NEG still has slope (elu' >= e^-4, sigmoid' >= 0.018, tanh' >= 1.3e-3 with
    # 0.07 at -2); at FAR, h is constant or ~1e-13 off it in float32
    "elu": ((0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 1, 0)),
    "sigmoid": ((0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 1, 0)),
    "tanh": ((0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 1, 0)),
    "gelu": ((0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 1, 0)),
    "silu": ((0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 1, 0)),
    # step: f' = 0 everywhere, so every unit is saturated; dead when its output is constant
    "step": ((0, 0, 1), (1, 1, 1), (1, 1, 1), (0, 1, 1)),
}


def spiky(n: int = 12_000, inside: int = 5_000, outside: int = 11_000):
    """x: [n, 2], zero except x[inside, 0] = 1 and x[outside, 1] = 1."""
    x = np.zeros((n, 2), np.float32)
    x[inside, 0] = x[outside, 1] = 1.0
    return x


DATA = {
    "line": lambda: (X, Y),
    "spiky": lambda: (spiky(), (np.arange(12_000) % 2).astype(np.int32)),
    "image": lambda: (  # pixel values spread over [-1, 1]: [64, 4, 4, 1]
        np.linspace(-1.0, 1.0, 64 * 16, dtype=np.float32).reshape(64, 4, 4, 1),
        (np.arange(64) % 2).astype(np.int32),
    ),
}


@functools.cache
def trainer(acts: tuple[str, ...], data: str, model, **cfg):
    """(Train, Dataset, jitted advance) for ``acts`` on ``DATA[data]``: one compile each."""
    d = actlab.data.from_arrays(*DATA[data]())
    config = Config(
        model=model, optimizer=optax.sgd(0.0), acts=acts, steps=1, eval_every=1,
        batch_size=None, **cfg,
    )  # fmt: skip
    tr = make_train(config, d)
    return tr, d, jax.jit(tr.advance, static_argnums=4)


def census(acts, layer, act=0, data="line", model=MLP4, slope=None, **cfg):
    """(inactive, dead, saturated) of the hidden layer, each ``[1]``, with the first layer's
    ``kernel`` and ``bias`` set to ``layer`` (numpy); ``act`` may be traced."""
    tr, d, advance = trainer(tuple(acts), data, model, **cfg)
    keys = jax.tree.map(lambda k: k[0], seed_keys(1))
    params = jax.tree.map(lambda p: np.array(p), tr.params(keys.init, 0))
    first = params["model"]["params"]["layer_0"]
    first["kernel"][:], first["bias"][:] = layer
    if slope is not None:
        params["act"][0][:] = slope
    n = d.x_train.shape[0]
    state = TrainState(
        params, optax.sgd(0.0).init(params), keys.data, jnp.arange(n, dtype=jnp.int32),
        jnp.int32(-1),
    )  # fmt: skip
    after, trace = advance(state, act, None, jnp.int32(0), 1)
    jax.tree.map(np.testing.assert_array_equal, after.params, params)  # lr 0: as built
    return tuple(np.asarray(getattr(trace, f)[0]) for f in ("inactive", "dead", "saturated"))


def elementwise(kinds=KINDS):
    """First layer ``(kernel [1, units], bias [units])`` with one unit per ``(w, b)``."""
    w, b = np.array(kinds, np.float32).T
    return w[None, :], b


def fractions(flags) -> np.ndarray:
    """[3] fraction of units for which each of (inactive, dead, saturated) holds."""
    return np.asarray(flags, np.float64).mean(axis=0)


@pytest.mark.parametrize("act", EXPECTED)
def test_census_of_known_units_per_activation(act):
    got = census((act,), elementwise())
    np.testing.assert_array_equal(np.concatenate(got), fractions(EXPECTED[act]))


@pytest.mark.parametrize(
    "act, kind, want",
    [
        ("relu", CROSS, (0, 0, 0)),  # z crosses 0: none of the three
        ("leaky_relu", NEG, (1, 0, 0)),  # forced negative on every example: inactive only
        ("sigmoid", (1.0, 20.0), (0, 1, 1)),  # huge bias: h rounds to 1, sigmoid' to 0
        ("sigmoid", (1.0, 12.0), (0, 1, 1)),  # h varies by ~1e-5, far below dead_tol
        ("sigmoid", (0.0, 0.5), (0, 1, 0)),  # constant input: dead, not saturated
    ],
)
def test_one_unit_kind_fills_the_layer(act, kind, want):
    got = census((act,), elementwise((kind,) * 4))
    np.testing.assert_array_equal(np.concatenate(got), want)


def test_leaky_relu_unit_forced_negative_is_inactive_and_not_dead():
    got = census(("leaky_relu",), elementwise((CROSS, CROSS, CROSS, (1.0, -10.0))))
    np.testing.assert_array_equal(np.concatenate(got), [0.25, 0.0, 0.0])


def test_leaky_relu_is_dead_only_under_a_tolerance_above_its_slope():
    layer = elementwise((NEG,) * 4)
    assert census(("leaky_relu",), layer, dead_tol=0.005)[1] == 0  # slope 0.01 > tolerance
    assert census(("leaky_relu",), layer, dead_tol=0.02)[1] == 1


def test_prelu_whose_slope_reached_zero_is_dead_and_saturated():
    slopes = np.array([0.25, 0.0, 0.0, 0.25], np.float32)  # NEG units: slope 0 kills them
    got = census(("prelu",), elementwise((CROSS, NEG, NEG, NEG)), slope=slopes)
    np.testing.assert_array_equal(np.concatenate(got), [0.75, 0.5, 0.5])


# maxout: unit u's pieces are columns 2u and 2u + 1 of the first layer
MAXOUT_UNITS = (
    ((1.0, 0.0), (-1.0, 0.0)),  # |x|: the winner changes at 0: none of the three
    ((1.0, 0.0), (1.0, -3.0)),  # piece 0 wins everywhere: inactive, h = x still varies
    ((0.0, 1.0), (0.0, 0.0)),  # constant pieces: inactive and dead
    ((0.0, 1.0), (1.0, -5.0)),  # the constant piece always beats the varying one: both
)


def maxout_layer(units=MAXOUT_UNITS):
    w, b = np.array(units, np.float32).reshape(-1, 2).T  # [pieces * units], unit-major
    return w[None, :], b


def test_maxout_unit_whose_one_piece_always_wins_is_inactive():
    got = census(("maxout",), maxout_layer())
    # a maxout unit is never saturated: its derivative w.r.t. the winning piece is 1
    np.testing.assert_array_equal(np.concatenate(got), [0.75, 0.5, 0.0])


def test_maxout_pieces_tied_everywhere_count_as_one_winner():
    tie = ((1.0, 0.0), (1.0, 0.0))  # equal pieces: the first wins every tie
    got = census(("maxout",), maxout_layer((tie, *MAXOUT_UNITS[:1] * 3)))
    np.testing.assert_array_equal(np.concatenate(got), [0.25, 0.0, 0.0])


def test_softmax_has_no_per_unit_census():
    for field in census(("softmax",), elementwise()):
        assert np.isnan(field).all()


def test_traced_choice_in_a_layer_shared_with_maxout_reads_each_activations_pieces():
    # elementwise units read piece 0 (the KINDS); maxout reads both pieces of each unit
    pieces = (
        (CROSS, (-1.0, 0.0)),  # maxout |x|: none
        (NEG, (1.0, 10.0)),  # maxout: piece 1 (x + 10) always wins: inactive only
        (FAR, (0.0, 1.0)),  # maxout: the constant 1 always wins: inactive and dead
        (CONST, (0.0, 0.0)),  # maxout: constant 0.5 always wins: inactive and dead
    )
    acts = ("relu", "maxout", "sigmoid", "softmax")
    layer = maxout_layer(pieces)
    want = {
        "relu": fractions(EXPECTED["relu"]),
        "maxout": [0.75, 0.5, 0.0],
        "sigmoid": fractions(EXPECTED["sigmoid"]),
    }
    for i, name in enumerate(acts):
        got = np.concatenate(census(acts, layer, act=jnp.int32(i)))
        if name == "softmax":
            assert np.isnan(got).all()
        else:
            np.testing.assert_array_equal(got, want[name], err_msg=name)


# a GLU: unit u's gate input a is column 2u, its linear input b column 2u + 1; h = f(a) * b,
# read as an elementwise unit on a, with f' = d h / d a = f'(a) b
GLU_UNITS = (
    (CROSS, CONST),  # h = f(x) / 2: as the gate alone, none of the three
    (NEG, CONST),  # as the gate's NEG
    (CONST, CROSS),  # a = 0.5: h = f(0.5) x varies, f' = f'(0.5) x: none
    (FAR, CROSS),  # a in [-31, -29]: h and f' ~ 0 (swiglu: ~1e-12): all three
)
GLU_EXPECTED = {
    "reglu": ((0, 0, 0), (1, 1, 1), (0, 0, 0), (1, 1, 1)),
    "swiglu": ((0, 0, 0), (1, 0, 0), (0, 0, 0), (1, 1, 1)),  # NEG: silu' >= 0.05 there
}


@pytest.mark.parametrize("act", GLU_EXPECTED)
def test_a_glu_unit_is_read_on_its_gate_in_a_layer_shared_with_relu(act):
    acts = ("relu", act)  # a traced choice: ReLU reads piece 0, the gate's input
    got = np.concatenate(census(acts, maxout_layer(GLU_UNITS), act=jnp.int32(1)))
    np.testing.assert_array_equal(got, fractions(GLU_EXPECTED[act]))
    relu = np.concatenate(census(acts, maxout_layer(GLU_UNITS), act=jnp.int32(0)))
    np.testing.assert_array_equal(relu, fractions(EXPECTED["relu"]))


def test_a_convolution_channel_is_counted_over_examples_and_positions():
    # 1x1 kernels of weight 1 and no pooling: z = x + b at every pixel of every example
    cnn = actlab.CNN(features=(2,), kernel=1, pool_window=1, pool_stride=1)
    kernel = np.ones((1, 1, 1, 2), np.float32)
    # channel 1 at b = -0.9 is positive on the brightest 5 % of pixels only: not inactive
    fires = census(("relu",), (kernel, [0.0, -0.9]), data="image", model=cnn)
    np.testing.assert_array_equal(np.concatenate(fires), [0.0, 0.0, 0.0])
    off = census(("relu",), (kernel, [0.0, -1.5]), data="image", model=cnn)
    np.testing.assert_array_equal(np.concatenate(off), [0.5, 0.5, 0.5])


# -- the sample: its stated size ---------------------------------------------------------------

# "spiky": 12 000 examples, zero except one example at 5 000 (feature 0) and one at 11 000
# (feature 1); z = x_i - 0.5 is positive on that one example only
SPIKY = (
    np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]], np.float32),  # units 0, 2: x_0
    np.full(4, -0.5, np.float32),  # units 1, 3: x_1
)


def test_census_sample_is_the_first_census_examples_in_whole_chunks():
    cfg = Config(model=MLP4, optimizer=optax.sgd(0.0))  # the train-eval sample: 10 000
    assert census_size(cfg, 12_000) == 10_000
    assert census_size(cfg, 2_000) == 2_000  # every training example, if fewer
    assert census_size(cfg._replace(train_eval_examples=2_000), 12_000) == 2_000
    assert census_size(cfg._replace(census_examples=12_000), 12_000) == 12_000
    assert census_size(cfg._replace(eval_chunk=3_000), 12_000) == 9_000  # whole chunks


def test_census_reads_its_stated_sample_past_the_first_chunk_and_no_further():
    # train_eval_examples=1 000: the census (10 000) is not the train-eval pass here
    inactive, dead, saturated = census(
        ("relu",), SPIKY, data="spiky", train_eval_examples=1_000, census_examples=10_000
    )
    # units reading x_0 fire on example 5 000 (inside the sample): active, alive, with a
    # gradient; units reading x_1 fire on example 11 000 only, outside it: all three
    np.testing.assert_array_equal([inactive, dead, saturated], [[0.5], [0.5], [0.5]])


def test_census_of_every_training_example():
    inactive, dead, saturated = census(("relu",), SPIKY, data="spiky", census_examples=12_000)
    np.testing.assert_array_equal([inactive, dead, saturated], [[0.0], [0.0], [0.0]])


# -- activations without a known bound on the derivative: the scale from the sample ----------


@pytest.fixture
def registered():
    """Two activations registered without ``max_grad``, one with a parameter per unit."""
    quick_gelu = actlab.register("quick_gelu", lambda x: x * jax.nn.sigmoid(1.702 * x))
    scaled = actlab.register(
        "scaled_tanh",
        jnp.tanh,
        param_fn=lambda x, a: jnp.broadcast_to(a, x.shape) * jnp.tanh(x),
        param_init=1.0,
    )
    yield quick_gelu, scaled
    for a in (quick_gelu, scaled):
        actlab.activations.unregister(a.name)


@pytest.mark.parametrize(
    "act, like",
    [("relu2", "relu"), ("quick_gelu", "gelu"), ("scaled_tanh", "tanh")],
)
def test_census_of_an_activation_whose_derivative_has_no_known_bound(registered, act, like):
    # relu2's f' = 2 relu(z) is unbounded: with the registry's max_grad (inf) every unit read
    # as dead and saturated; the layer's largest |f'| on the sample is the scale instead,
    # and the units come out as they do for the bounded activation they resemble
    assert actlab.activations.get(act).max_grad in (None, np.inf)
    got = census((act,), elementwise())
    np.testing.assert_array_equal(np.concatenate(got), fractions(EXPECTED[like]), err_msg=act)


def test_an_activation_without_a_known_bound_is_warned_about_once(registered):
    from actlab import census as C

    C._WARNED.discard("quick_gelu")
    with pytest.warns(UserWarning, match="'quick_gelu' has no known bound on its derivative"):
        C.scales(("quick_gelu",), 1e-3, 0.01)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.scales(("quick_gelu", "relu"), 1e-3, 0.01)  # the second time: silent
