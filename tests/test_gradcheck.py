"""actlab.gradcheck: central differences agree with jax.grad; compare and cost behave."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from actlab import MLP
from actlab import gradcheck as G

X = jax.random.normal(jax.random.key(1), (16, 5))
Y = jnp.arange(16) % 3


def _problem(act: str):
    model = MLP(hidden=(8, 6), acts=(act,), classes=3)
    params = model.init(jax.random.key(0), X)

    def loss(p):
        x = X.astype(jax.tree.leaves(p)[0].dtype)  # float64 when the check runs in float64
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), Y).mean()

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


def test_relu_kinks_are_rare_disagreements():
    loss, params = _problem("relu")
    err = G.relative_error(G.grad_check(loss, params, eps=1e-4), _grad64(loss, params), 1e-6)
    err = np.concatenate([e.ravel() for e in jax.tree.leaves(err)])
    assert np.mean(err < 1e-5) > 0.95  # only coordinates whose step crosses a kink disagree


def test_compare_raises_without_any_coordinate():
    nan = {"w": np.full(3, np.nan)}
    with pytest.raises(ValueError, match="no evaluated coordinate"):
        G.compare(nan, {"w": np.zeros(3)})


def test_cost_reports_a_numerical_to_backprop_ratio():
    loss, params = _problem("tanh")
    c = G.cost(loss, params, coords=5, repeats=1)
    n = sum(p.size for p in jax.tree.leaves(params))
    assert c["params"] == n and c["coords"] == 5
    assert c["numerical_s_extrapolated"] == pytest.approx(c["numerical_s_per_coord"] * n)
    assert c["ratio"] > 1  # 2 forward passes per parameter cost more than one backprop
