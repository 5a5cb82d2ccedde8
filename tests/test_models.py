"""Models: the CNN's two convolution implementations are the same function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import actlab


@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_shift_convolution_equals_xla_convolution(kernel):
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
    xla = actlab.CNN(features=(4, 6), kernel=kernel, classes=10)
    shifts = xla.clone(conv_impl="shifts")
    act = actlab.Slot(("tanh",))
    p = xla.init(jax.random.key(1), x, act)
    q = shifts.init(jax.random.key(1), x, act)
    jax.tree.map(np.testing.assert_array_equal, p, q)  # same parameters for the same key
    np.testing.assert_allclose(shifts.apply(p, x, act), xla.apply(p, x, act), rtol=1e-5, atol=1e-5)
    loss = lambda m: lambda p: jnp.sum(m.apply(p, x, act) ** 2)
    gx, gs = jax.grad(loss(xla))(p), jax.grad(loss(shifts))(p)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), gx, gs)


def test_unknown_conv_impl_is_refused():
    with pytest.raises(ValueError, match="unknown conv_impl 'fft'; accepted: xla, shifts"):
        actlab.CNN(conv_impl="fft", classes=2).init(
            jax.random.key(0), jnp.ones((1, 8, 8, 1)), actlab.Slot(("relu",))
        )


@pytest.mark.parametrize("scheme", ["pytorch", "glorot", "he", "lecun", "normal:0.5"])
def test_init_schemes_have_their_stated_spread(scheme):
    init = actlab.models.parse_init(scheme)
    m = actlab.MLP(hidden=(400,), classes=300, init_scheme=init)
    act = actlab.Slot(("relu",))
    w = m.init(jax.random.key(0), jnp.ones((1, 500)), act)["params"]["layer_1"]["kernel"]
    fan_in, fan_out = 400, 300
    expected = {
        "pytorch": 1 / np.sqrt(3 * fan_in),
        "glorot": np.sqrt(2 / (fan_in + fan_out)),
        "he": np.sqrt(2 / fan_in),
        "lecun": np.sqrt(1 / fan_in),
        "normal:0.5": 0.5,
    }[scheme]
    np.testing.assert_allclose(np.std(np.asarray(w)), expected, rtol=0.03)  # 120k draws


def test_unknown_init_scheme_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="unknown weight init 'xavier'; accepted: pytorch"):
        actlab.models.parse_init("xavier")
