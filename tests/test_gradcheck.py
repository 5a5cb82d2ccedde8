"""actlab.gradcheck: central differences agree with jax.grad; compare and cost behave."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from actlab import MLP, Slot
from actlab import gradcheck as G

X = jax.random.normal(jax.random.key(1), (16, 5))
Y = jnp.arange(16) % 3


def _problem(act: str):
    model = MLP(hidden=(8, 6), classes=3)
    params = model.init(jax.random.key(0), X, Slot((act,)))

    def loss(p):
        x = X.astype(jax.tree.leaves(p)[0].dtype)  # float64 when the check runs in float64
        logits = model.apply(p, x, Slot((act,)))
        return optax.softmax_cross_entropy_with_integer_labels(logits, Y).mean()

    return loss, params


def _grad64(loss, params):
    with G._x64():
        p64 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
        return jax.grad(loss)(p64)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu"])
def test_matches_jax_grad_on_a_small_mlp(act):
    loss, params = _problem(act)
    num = G.grad_check(loss, params, eps=1e-4)
    # float64, eps 1e-4: truncation ~eps^2 |f'''| ~ 1e-8, rounding ~1e-16 / eps ~ 1e-12;
    # relative to max(|n|, |a|, 1e-6), the largest error stays below 1e-6
    assert G.compare(num, _grad64(loss, params), floor=1e-6) < 1e-6
    # against the float32 backprop the model trains with: float32 rounding, ~1e-3 relative
    assert G.compare(num, jax.grad(loss)(params), floor=1e-4) < 1e-3


def test_returns_params_structure_in_float64():
    loss, params = _problem("tanh")
    num = G.grad_check(loss, params)
    assert jax.tree.structure(num) == jax.tree.structure(params)
    for n, p in zip(jax.tree.leaves(num), jax.tree.leaves(params)):
        assert n.shape == p.shape and n.dtype == np.float64


def test_coords_evaluates_a_subset_and_compare_skips_the_rest():
    loss, params = _problem("tanh")
    num = G.grad_check(loss, params, coords=10, seed=3)
    finite = sum(int(np.isfinite(n).sum()) for n in jax.tree.leaves(num))
    assert finite == 10
    assert G.compare(num, _grad64(loss, params), floor=1e-6) < 1e-4
    with pytest.raises(ValueError, match="coords must be between"):
        G.grad_check(loss, params, coords=0)


def test_a_wrong_gradient_is_caught():
    loss, params = _problem("tanh")
    num = G.grad_check(loss, params, coords=50)
    wrong = jax.tree.map(lambda g: 1.1 * np.asarray(g), _grad64(loss, params))
    assert G.compare(num, wrong) > 0.05


def test_relu_disagrees_only_where_the_step_crosses_a_kink():
    from jax.flatten_util import ravel_pytree

    eps = 1e-4
    loss, params = _problem("relu")
    err = G.relative_error(G.grad_check(loss, params, eps=eps), _grad64(loss, params), 1e-6)
    err = ravel_pytree(err)[0]
    model = MLP(hidden=(8, 6), classes=3)

    def pattern(v, unravel):  # which ReLU units are on, per example: [examples, units]
        slot = Slot(("relu",), capture=True)
        model.apply(unravel(v), X.astype(v.dtype), slot)
        return jnp.concatenate([c.d for c in slot.captures], axis=-1) > 0

    with G._x64():  # the same float64 points grad_check evaluated
        flat, unravel = ravel_pytree(jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params))
        on = jax.jit(lambda v: pattern(v, unravel))
        crosses = np.array(
            [
                bool((on(flat.at[i].add(eps)) != on(flat.at[i].add(-eps))).any())
                for i in range(flat.size)
            ]
        )
    # the central difference is exact up to ~1e-8 wherever no unit flips inside the step
    assert (np.asarray(err)[~crosses] < 1e-5).all()
    assert crosses.sum() < 0.05 * flat.size  # and kinks inside a 1e-4 step are rare


def test_compare_raises_without_any_coordinate():
    nan = {"w": np.full(3, np.nan)}
    with pytest.raises(ValueError, match="no evaluated coordinate"):
        G.compare(nan, {"w": np.zeros(3)})


def test_cost_counts_every_parameter_and_clamps_coords():
    # what cost() measures is time, and speed belongs in benchmarks/: here only its bookkeeping
    loss, params = _problem("tanh")
    n = 5 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3  # the 5-8-6-3 MLP, counted by hand
    c = G.cost(loss, params, coords=5, repeats=1)
    assert c["params"] == n and c["coords"] == 5
    assert G.cost(loss, params, coords=10 * n, repeats=1)["coords"] == n
    for k in ("numerical_s_per_coord", "numerical_s_extrapolated", "backprop_s", "ratio"):
        assert np.isfinite(c[k]) and c[k] > 0, k
