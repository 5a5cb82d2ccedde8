"""The model contract: a researcher's own model (Flax linen, Flax NNX, Equinox), loss and metric.

A model of any of the three frameworks, trained inside the vmapped call, equals the same model
trained alone (within float32 rounding: batching reorders sums), over several activations, in
grouped and switch mode; a bad contract gets a one-line error before anything trains.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from helpers import DATA, small

import actlab
from actlab import adapters
from actlab.train import make_train, seed_keys

ACTS = ("tanh", "relu", "prelu", "maxout")  # shared step, parameterised, shape-changing


def example(name: str):
    """A module of ``examples/`` (the contract's tests train the examples' own models)."""
    path = Path(__file__).parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ResidualMLP = functools.partial(example("linen_study").ResidualMLP, width=12)  # linen


class NNXMLP(nnx.Module):
    """A two-hidden-layer MLP in Flax NNX."""

    def __init__(self, rngs: nnx.Rngs, pieces: int = 1, outputs: int = 3):
        self.hidden = nnx.Linear(6, 10 * pieces, rngs=rngs)
        self.second = nnx.Linear(10, 8 * pieces, rngs=rngs)
        self.out = nnx.Linear(8, outputs, rngs=rngs)

    def __call__(self, x, act):
        return self.out(act(self.second(act(self.hidden(x)))))


class EqxMLP(eqx.Module):
    """A two-hidden-layer MLP in Equinox: one example in."""

    layers: list

    def __init__(self, key, pieces: int = 1):
        k = jax.random.split(key, 3)
        self.layers = [
            eqx.nn.Linear(6, 10 * pieces, key=k[0]),
            eqx.nn.Linear(10, 8 * pieces, key=k[1]),
            eqx.nn.Linear(8, 3, key=k[2]),
        ]

    def __call__(self, x, act):
        return self.layers[2](act(self.layers[1](act(self.layers[0](x)))))


MODELS = {
    "linen": ResidualMLP(),
    "nnx": actlab.NNX(NNXMLP),
    "equinox": actlab.Equinox(EqxMLP),
}


def study(model, acts=ACTS, **kw) -> actlab.Study:
    return small(acts, model=model, steps=12, eval_every=5, **kw)


def alone(s: actlab.Study, act: str, seed: int, acts: tuple[str, ...]):
    """One model trained unbatched by ``make_train``: seed ``seed``'s keys, ``acts`` the
    activations its traced step chooses from (its parameter shapes in the study)."""
    train = jax.jit(make_train(s.config()._replace(acts=acts), s.data).train)
    keys = jax.tree.map(lambda k: k[seed], seed_keys(s.seeds, s.seed, s.hold))
    return train(keys, jnp.int32(acts.index(act)), jnp.float32(0.0))


def close(a, b, what: str):
    # float32 on CPU: batching reorders sums (~1e-7 relative), so not bit-exact
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6, err_msg=f"{what} {path}")


@pytest.fixture(scope="module", params=list(MODELS))
def trained(request):
    name = request.param
    return name, {mode: study(MODELS[name], mode=mode).run() for mode in ("grouped", "switch")}


@pytest.mark.xdist_group("contract")
@pytest.mark.parametrize("mode", ["grouped", "switch"])
def test_a_user_model_trained_in_the_vmapped_call_equals_it_trained_alone(trained, mode):
    name, runs = trained
    r = runs[mode]
    for a, act in enumerate(ACTS):
        own = (act,) if mode == "grouped" else ACTS
        state, trace = alone(r.study, act, seed=1, acts=own)
        group, pos = (r.states[a], 1) if mode == "grouped" else (r.states[0], (a, 1))
        close(jax.tree.map(lambda x, p=pos: x[p], group.params), state.params, f"{name} {act}")
        close(jax.tree.map(lambda x, a=a: x[a, 1], r.trace), trace, f"{name} {act} trace")
    # the control: another seed is another model, so the comparison above can fail
    other, _ = alone(r.study, "tanh", seed=2, acts=(("tanh",) if mode == "grouped" else ACTS))
    pos = 1 if mode == "grouped" else (0, 1)
    mine = jax.tree.leaves(jax.tree.map(lambda x: x[pos], r.states[0].params["model"]))
    assert not np.allclose(mine[0], jax.tree.leaves(other.params["model"])[0], atol=1e-4)


@pytest.mark.xdist_group("contract")
def test_a_user_models_layers_and_census_come_from_its_own_structure(trained):
    name, runs = trained
    r = runs["grouped"]
    layers = make_train(r.study.config()._replace(acts=("tanh",)), DATA).layers
    want = {
        "linen": ("Dense_0", "LayerNorm_0", "Dense_1", "Dense_2", "LayerNorm_1", "Dense_3")
        + ("Dense_4", "LayerNorm_2", "Dense_5"),
        "nnx": ("hidden", "second", "out"),
        "equinox": ("layers/0", "layers/1", "layers/2"),
    }[name]
    assert layers == want  # input side first, as the forward pass reads them
    assert r.trace.grad_norm.shape[-1] == len(want)
    assert r.trace.dead.shape[-1] == 2  # two calls of the slot: two hidden layers
    prelu = ACTS.index("prelu")
    assert len(r.states[prelu].params["act"]) == 2  # a slope per unit of each call
    assert np.isfinite(r.final("test_accuracy")).all()


def test_layers_are_the_modules_holding_the_leaves_even_one_named_value():
    # NNX's leaves end in Param.value, which is not a module; a linen module may be "value"
    linen = {"params": {"value": {"kernel": 0, "bias": 0}, "out": {"kernel": 0, "bias": 0}}}
    groups = [(g.name, g.leaves) for g in adapters.layers(linen)]
    assert groups == [("out", (0, 1)), ("value", (2, 3))]  # the tree's (sorted) order
    adapter = adapters.adapt(MODELS["nnx"], outputs=(3,), pieces=1)
    params = adapter.init(jax.random.key(0), DATA.x_train[:2], actlab.Slot(("relu",)))
    assert sorted(g.name for g in adapters.layers(params)) == ["hidden", "out", "second"]


# -- losses and targets -------------------------------------------------------------------------


def sine(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 1)).astype(np.float32)
    return x, (np.sin(x[:, 0]) + 0.1 * rng.normal(size=n)).astype(np.float32)


REGRESSION = actlab.data.from_arrays(*sine(256, 0), *sine(128, 1), name="sine")


def test_a_regression_trains_under_mse_with_float_targets():
    s = actlab.Study(
        model=actlab.MLP(hidden=(16, 16)),
        activations=("tanh", "relu", "gelu"),
        data=REGRESSION,
        optimizer=optax.adam(1e-2),
        loss="mse",
        seeds=2,
        batch_size=32,
        steps=300,
        evals=3,
    )
    r = s.run()
    assert "test_accuracy" not in r.trace.names()  # a regression has no accuracy
    loss = r.final("test_loss")
    assert loss.shape == (3, 2) and (loss < 0.2).all()  # sin's variance is ~0.5
    assert (r.trace.test_loss[:, :, -1] < r.trace.test_loss[:, :, 0]).all()


def test_a_user_loss_and_metrics_are_traced_on_both_samples():
    def huber(outputs, y):
        return optax.huber_loss(outputs[:, 0], y).mean()

    def metrics(outputs, y):
        err = outputs[:, 0] - y
        return {"mae": jnp.abs(err).mean(), "bias": err.mean()}

    s = actlab.Study(
        model=actlab.MLP(hidden=(8,), classes=1),
        activations=("tanh", "relu"),
        data=REGRESSION,
        optimizer=optax.adam(1e-2),
        loss=huber,
        metrics=metrics,
        goals={"mae": "min"},
        seeds=2,
        batch_size=32,
        steps=20,
        eval_every=10,
    )
    r = s.run()
    assert {"train_mae", "test_mae", "train_bias", "test_bias"} <= set(r.trace.names())
    m = r.model("relu", 1)
    err = np.asarray(m(REGRESSION.x_test))[:, 0] - np.asarray(REGRESSION.y_test)
    np.testing.assert_allclose(r.trace.test_mae[1, 1, -1], np.abs(err).mean(), rtol=1e-5)
    np.testing.assert_allclose(r.trace.test_bias[1, 1, -1], err.mean(), rtol=1e-4, atol=1e-6)
    assert r.final("test_mae").shape == (2, 2)


@pytest.mark.parametrize(
    "metrics, match",
    [
        (lambda o, y: {"v": o[:, 0]}, r"metric 'v' must be a float scalar .* got float32\[2\]"),
        (lambda o, y: {"n": (o > 0).sum()}, r"metric 'n' must be a float scalar .* got int32"),
        (lambda o, y: o.mean(), r"metrics must return a dict"),
        (lambda o, y: {"accuracy": o.mean()}, r"metric name 'accuracy' is taken"),
    ],
)
def test_a_bad_user_metric_is_refused_before_training(metrics, match):
    s = study(actlab.MLP(hidden=(8,)), acts=("relu",), metrics=metrics)
    with pytest.raises(ValueError, match=match):
        make_train(s.config(), s.data)


# -- bad contracts: one line, before anything trains ---------------------------------------------


class NoSlot(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(x)


class NeverCalls(nn.Module):
    @nn.compact
    def __call__(self, x, act):
        return nn.Dense(3)(jnp.tanh(nn.Dense(8)(x)))


class WrongOutputs(nn.Module):
    @nn.compact
    def __call__(self, x, act):
        return nn.Dense(5)(act(nn.Dense(8)(x)))


class IgnoresPieces(nn.Module):
    @nn.compact
    def __call__(self, x, act):
        return nn.Dense(3)(act(nn.Dense(8)(x)))


@pytest.mark.parametrize(
    "model, acts, match",
    [
        (NoSlot(), ("relu",), r"must take the activation slot as the second argument"),
        (NeverCalls(), ("relu",), r"never calls its activation slot: call act\(z\)"),
        (WrongOutputs(), ("relu",), r"outputs are \[5\] per example; loss 'softmax_ce' .* \[3\]"),
        (IgnoresPieces(), ("relu", "maxout"), r"do not widen with act.pieces"),
        (NNXMLP(nnx.Rngs(0)), ("relu",), r"an NNX model is given as a function of its rngs"),
        (EqxMLP(jax.random.key(0)), ("relu",), r"an Equinox model is given as a function"),
        ("mlp", ("relu",), r"cannot train a str as a model"),
    ],
)
def test_a_bad_contract_gets_one_line_naming_what_is_accepted(model, acts, match):
    s = study(model, acts=acts)
    with pytest.raises(adapters.ContractError, match=match) as e:
        make_train(s.config(), s.data)
    assert "\n" not in str(e.value)


def test_a_factory_without_pieces_is_refused_with_maxout():
    make = lambda rngs: NNXMLP(rngs)  # takes no pieces=
    s = study(actlab.NNX(make), acts=("relu", "maxout"))
    with pytest.raises(adapters.ContractError, match="does not take pieces="):
        make_train(s.config(), s.data)
