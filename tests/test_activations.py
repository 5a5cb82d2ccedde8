import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf, expit

from actlab import activations as A

ELEMENTWISE = [a for a in A.REGISTRY.values() if a.elementwise]
IDS = [a.name for a in ELEMENTWISE]

# numpy float64 references, written from the papers' formulas, independent of the jnp code
REFERENCE = {
    "none": lambda x: x,
    "relu2": lambda x: np.maximum(x, 0.0) ** 2,
    "step": lambda x: (x > 0).astype(float),
    "step_ste": lambda x: (x > 0).astype(float),
    "sigmoid": expit,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "leaky_relu_0.2": lambda x: np.where(x > 0, x, 0.2 * x),
    "prelu": lambda x: np.where(x > 0, x, 0.25 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))
    ),
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * expit(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(x, 0)),
    "softplus": lambda x: np.logaddexp(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "relu6": lambda x: np.clip(x, 0, 6),
}

GRID = jnp.concatenate([jnp.linspace(-10.0, 10.0, 20_001), jnp.array([-1e4, 1e4])])


def grad_of(a):
    return jax.vmap(jax.grad(a.fn))


def test_every_builtin_has_a_reference():
    assert set(IDS) == set(REFERENCE)


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
@settings(max_examples=60, deadline=None)
# XLA on CPU flushes subnormals to zero, so they are not generated
@given(x=hnp.arrays(np.float32, 16, elements=st.floats(-30, 30, width=32, allow_subnormal=False)))
def test_matches_formula(a, x):
    # float32 evaluation against float64 formulas
    np.testing.assert_allclose(
        a.fn(jnp.asarray(x)), REFERENCE[a.name](x.astype(float)), rtol=2e-5, atol=2e-6
    )


KINKS = {
    "relu": 0,
    "relu2": 0,  # f' is continuous there, f'' is not: a central difference is off by h / 2
    "leaky_relu": 0,
    "leaky_relu_0.2": 0,
    "prelu": 0,
    "relu6": (0, 6),
    "hard_tanh": (-1, 1),
    "hard_sigmoid": (-3, 3),
    "step": 0,
    "step_ste": (-1, 0, 1),
    "softsign": 0,
    "elu": 0,
    "selu": 0,
    "celu": 0,
}


@pytest.mark.parametrize(
    "a", [a for a in ELEMENTWISE if a.name != "step_ste"], ids=lambda a: a.name
)
@settings(max_examples=40, deadline=None)
@given(x=st.floats(-8, 8))
def test_grad_matches_finite_differences(a, x):
    kinks = np.atleast_1d(KINKS.get(a.name, ()))
    h = 1e-3
    if kinks.size and np.min(np.abs(kinks - x)) < 10 * h:
        return  # a central difference across a kink measures neither side
    with jax.enable_x64(True):
        fd = (a.fn(jnp.float64(x + h)) - a.fn(jnp.float64(x - h))) / (2 * h)
        g = jax.grad(a.fn)(jnp.float64(x))
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)  # O(h^2) truncation


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_finite_values_and_grads_for_extreme_inputs(a):
    x = jnp.array([-1e4, -88.0, -20.0, 0.0, 20.0, 88.0, 1e4])
    assert jnp.isfinite(a.fn(x)).all()
    assert jnp.isfinite(grad_of(a)(x)).all()


def test_switch_over_every_branch_has_finite_grads_at_extremes():
    # under vmap a traced index runs every branch: one overflowing branch would poison all
    acts = tuple(a.name for a in A.REGISTRY.values())
    x = jnp.array([-1e4, -100.0, 0.0, 100.0, 1e4] * 2)  # even width: maxout pairs
    f = lambda i: jax.grad(lambda z: A.apply(acts, i, z).sum())(x)
    g = jax.vmap(f)(jnp.arange(len(acts)))
    assert jnp.isfinite(g).all()


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_max_grad_matches_registry(a):
    g = jnp.abs(grad_of(a)(GRID))
    if math.isinf(a.max_grad):  # unbounded: |f'| keeps growing past any grid
        far = jnp.abs(grad_of(a)(jnp.array([1e2, 1e3])))
        assert far[1] > 5 * far[0]
        return
    np.testing.assert_allclose(g.max(), a.max_grad, atol=1e-3)  # grid step 1e-3


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_out_range_holds_and_is_tight(a):
    y = a.fn(GRID)
    lo, hi = a.out_range
    assert y.min() >= lo - 1e-4 and y.max() <= hi + 1e-4
    # tight: the range's finite ends are approached on the grid (within 1e-3)
    if math.isfinite(lo):
        assert y.min() <= lo + 1e-3
    if math.isfinite(hi):
        assert y.max() >= hi - 1e-3


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_zero_centred_means_zero_mean_output_on_standard_normal(a):
    z, w = np.polynomial.hermite_e.hermegauss(101)
    mean = float(np.sum(w * np.asarray(a.fn(jnp.asarray(z, jnp.float32)))) / np.sqrt(2 * np.pi))
    assert (abs(mean) < 0.05) == a.zero_centred, mean


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_monotone_flag(a):
    y = np.asarray(a.fn(GRID[:-2]))
    assert bool(np.all(np.diff(y) >= -1e-6)) == a.monotone


@pytest.mark.parametrize("a", ELEMENTWISE, ids=IDS)
def test_saturating_sides(a):
    left, right = np.abs(grad_of(a)(jnp.array([-1e4, 1e4])))
    sides = {"both": (True, True), "left": (True, False), "none": (False, False)}[a.saturating]
    assert (left < 1e-3, right < 1e-3) == sides


def test_relu_like_derivative_at_zero_is_the_left_derivative():
    at0 = lambda name: float(jax.grad(A.get(name).fn)(0.0))
    assert at0("relu") == 0.0
    assert at0("leaky_relu") == pytest.approx(0.01)
    assert at0("relu6") == 0.0


def test_step_gradient_is_zero_and_ste_passes_it_through():
    x = jnp.linspace(-3, 3, 61)
    assert (grad_of(A.get("step"))(x) == 0).all()
    g = grad_of(A.get("step_ste"))(x)
    np.testing.assert_array_equal(g, (jnp.abs(x) <= 1).astype(jnp.float32))
    np.testing.assert_array_equal(A.step_ste(x), A.step(x))


def test_gelu_exact_and_tanh_differ_but_stay_close():
    x = jnp.linspace(-5, 5, 1001)
    diff = jnp.abs(A.gelu(x) - A.gelu_tanh(x)).max()
    assert 1e-5 < diff < 1e-3


def test_maxout_takes_max_over_pieces():
    z = jnp.array([[1.0, -2.0, 0.5, 3.0]])
    np.testing.assert_array_equal(A.maxout(z, 2), jnp.array([[1.0, 3.0]]))
    with pytest.raises(ValueError, match="divisible"):
        A.maxout(jnp.ones((1, 3)), 2)


def test_prelu_uses_learnable_slope():
    z = jnp.array([-2.0, 3.0])
    np.testing.assert_allclose(A.apply(("prelu",), 0, z, jnp.array([0.5, 0.5])), [-1.0, 3.0])
    np.testing.assert_allclose(A.apply(("prelu",), 0, z), [-0.5, 3.0])


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown activation 'relu9'.*sigmoid.*tanh"):
        A.get("relu9")


def test_aliases_and_resolve():
    assert A.resolve("swish, relu") == ("silu", "relu")
    with pytest.raises(ValueError, match="twice"):
        A.resolve(["relu", "relu"])
    with pytest.raises(ValueError, match="no activations"):
        A.resolve("")


def test_register_a_custom_activation_in_one_call():
    try:
        a = A.register("square_relu", lambda x: jnp.square(jax.nn.relu(x)), out_range=(0, math.inf))
        assert A.get("square_relu") is a
        np.testing.assert_allclose(
            A.apply(("relu", "square_relu"), jnp.int32(1), jnp.array([2.0])), [4.0]
        )
        with pytest.raises(ValueError, match="already registered"):
            A.register("square_relu", jnp.abs)
        with pytest.raises(ValueError, match="built in"):
            A.unregister("relu")
    finally:
        A.unregister("square_relu")
    with pytest.raises(ValueError, match="unknown activation"):
        A.get("square_relu")


# -- gated linear units: two pre-activations per unit, (a, b) interleaved -------------------------

GATED = [a for a in A.REGISTRY.values() if a.pieces == 2 and not a.selects]
GATED_IDS = [a.name for a in GATED]
GATES = {  # numpy float64 f of f(a) * b (Shazeer 2020)
    "reglu": lambda a: np.maximum(a, 0.0),
    "geglu": lambda a: 0.5 * a * (1 + erf(a / math.sqrt(2))),
    "swiglu": lambda a: a * expit(a),
}


def pairs(a, b):
    """[..., 2 * units]: unit u's gate input a at column 2u, its linear input b at 2u + 1."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float32), np.asarray(b, np.float32))
    return jnp.asarray(np.stack([a, b], -1).reshape(*a.shape[:-1], -1))


def test_every_gated_unit_has_a_reference():
    assert set(GATED_IDS) == set(GATES)


@pytest.mark.parametrize("a", GATED, ids=GATED_IDS)
@settings(max_examples=40, deadline=None)
@given(
    ab=hnp.arrays(np.float32, (2, 8), elements=st.floats(-30, 30, width=32, allow_subnormal=False))
)
def test_gated_matches_formula(a, ab):
    want = GATES[a.name](ab[0].astype(float)) * ab[1].astype(float)
    np.testing.assert_allclose(a.fn(pairs(ab[:1], ab[1:]))[0], want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("a", GATED, ids=GATED_IDS)
def test_gated_finite_values_and_grads_for_extreme_inputs(a):
    x = np.array([-1e4, -88.0, -20.0, 0.0, 20.0, 88.0, 1e4], np.float32)
    z = pairs(*np.meshgrid(x, x))  # every (a, b) combination
    assert jnp.isfinite(a.fn(z)).all()
    assert jnp.isfinite(jax.grad(lambda z: a.fn(z).sum())(z)).all()


@pytest.mark.parametrize("a", GATED, ids=GATED_IDS)
def test_gated_properties(a):
    grad = jax.grad(lambda z: a.fn(z).sum())
    # saturating "left": both partials vanish as a -> -inf, d/db = f(a) grows as a -> inf
    for side, b in ((-1e4, 1.0), (-1e4, -1.0)):
        assert np.abs(grad(pairs([side], [b]))).max() < 1e-3
    far = [np.abs(grad(pairs([g], [1.0]))).max() for g in (1e2, 1e3)]
    assert a.saturating == "left" and a.max_grad == math.inf and far[1] > 5 * far[0]
    # zero-centred on independent standard normal a, b (Gauss-Hermite in both)
    z, w = np.polynomial.hermite_e.hermegauss(41)
    h = np.asarray(a.fn(pairs(*np.meshgrid(z, z))))
    mean = float(w @ h @ w) / (2 * np.pi)
    assert (abs(mean) < 0.05) == a.zero_centred, mean
    # not monotone: with b < 0, more gate gives less
    more, less = a.fn(pairs([2.0, 1.0], [-1.0, -1.0]))
    assert not a.monotone and more < less
    assert a.out_range == (-math.inf, math.inf)
