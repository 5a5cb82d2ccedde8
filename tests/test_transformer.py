"""The decoder-only ``Transformer``: trained in the vmapped call as alone, over the feed-forward
activations of issue 28 (pointwise and GLUs), parameter-matched GLUs, causal, one census layer
per block counted over positions, and the GLUs' values by hand.

Data: next-token prediction on arithmetic progressions mod ``V`` (``x: [n, T]`` tokens,
``y[:, t] = x[:, t + 1]``), built as a ``Dataset`` directly.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import erf, expit

import actlab
from actlab import activations as A
from actlab import models
from actlab.dataset import Dataset
from actlab.slot import Slot
from actlab.train import Config, TrainState, make_train, seed_keys

V, T = 11, 8
ACTS = ("relu", "gelu", "silu", "relu2", "reglu", "geglu", "swiglu")
GLUS = ("reglu", "geglu", "swiglu")
SMALL = dict(width=16, heads=2, layers=2, d_ff=24)  # GLU layers: ffn_width(24, 2) = 16 units


def progressions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y: [n, T] int32; each row (start + step * t) mod V, y the next token."""
    rng = np.random.default_rng(seed)
    start, step = rng.integers(0, V, (n, 1)), rng.integers(1, V, (n, 1))
    seq = (start + step * np.arange(T + 1)) % V
    return seq[:, :-1].astype(np.int32), seq[:, 1:].astype(np.int32)


def tokens(n_train: int = 64, n_test: int = 32) -> Dataset:
    (x, y), (xt, yt) = progressions(n_train, 0), progressions(n_test, 1)
    arrays = [jnp.asarray(a) for a in (x, y, xt, yt)]
    return Dataset(*arrays, num_classes=V, name="tokens", source="test")


DATA = tokens()


@functools.cache
def trainer(acts: tuple[str, ...]):
    """The jitted whole run of ``study``'s configuration with ``acts`` (one trace each)."""
    return jax.jit(make_train(study("grouped").config()._replace(acts=acts), DATA).train)


def alone(s: actlab.Study, act: str, seed: int, acts: tuple[str, ...]):
    """One model trained unbatched by ``make_train`` (``tests/test_contract.py``'s): seed
    ``seed``'s keys, ``acts`` the activations its traced step chooses from."""
    keys = jax.tree.map(lambda k: k[seed], seed_keys(s.seeds, s.seed, s.hold))
    return trainer(acts)(keys, jnp.int32(acts.index(act)), jnp.float32(0.0))


def close(a, b, what: str):
    # float32 on CPU: batching reorders sums (~1e-7 relative); Adam divides by sqrt(v), which
    # turns that into ~1e-5 on the weights whose gradients are near 0 (attention keys), so
    # the bounds are wider than test_contract's 2e-5 / 2e-6
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=2e-5, err_msg=f"{what} {path}")


def study(mode: str) -> actlab.Study:
    return actlab.Study(
        model=actlab.Transformer(**SMALL),
        activations=ACTS,
        data=DATA,
        optimizer=optax.adam(1e-2),
        seeds=2,
        batch_size=8,
        steps=6,
        eval_every=3,
        mode=mode,
    )


@pytest.fixture(scope="module")
def runs():
    return {mode: study(mode).run() for mode in ("grouped", "switch")}


@pytest.mark.slow
@pytest.mark.xdist_group("transformer")
@pytest.mark.parametrize("mode", ["grouped", "switch"])
def test_the_transformer_trained_in_the_vmapped_call_equals_it_trained_alone(runs, mode):
    r = runs[mode]
    for a, act in enumerate(ACTS):
        own = (act,) if mode == "grouped" else ACTS
        state, trace = alone(r.study, act, seed=1, acts=own)
        group, pos = (r.states[a], 1) if mode == "grouped" else (r.states[0], (a, 1))
        close(jax.tree.map(lambda x, p=pos: x[p], group.params), state.params, f"{mode} {act}")
        close(jax.tree.map(lambda x, a=a: x[a, 1], r.trace), trace, f"{mode} {act} trace")
    # the control: seed 0 is another model, so the comparison above can fail
    pos = 1 if mode == "grouped" else (0, 1)
    mine = jax.tree.leaves(jax.tree.map(lambda x: x[pos], r.states[0].params["model"]))
    pos0 = 0 if mode == "grouped" else (0, 0)
    other = jax.tree.leaves(jax.tree.map(lambda x: x[pos0], r.states[0].params["model"]))
    assert not np.allclose(mine[0], other[0], atol=1e-4)


@pytest.mark.xdist_group("transformer")
def test_the_run_has_one_census_layer_per_block_and_per_layer_norms_by_role(runs):
    r = runs["grouped"]
    assert r.trace.dead.shape[-1] == SMALL["layers"]  # one slot call per block
    layers = make_train(r.study.config()._replace(acts=("relu",)), DATA).layers
    block = ("ln_attn", "attn/q", "attn/k", "attn/v", "attn/out", "ln_ffn")
    block += ("ffn_in", "ffn_out")
    want = ("embed", "pos_embed", *(f"block_{i}/{n}" for i in range(2) for n in block))
    assert layers == (*want, "ln_final", "unembed")  # input side first
    assert r.trace.grad_norm.shape[-1] == len(layers)
    assert r.trace.test_accuracy.shape == (len(ACTS), 2, 3)  # [acts, seeds, evals]
    assert np.isfinite(r.trace.test_loss).all() and not r.trace.diverged.any()


# -- parameter matching ----------------------------------------------------------------------


def n_params(act: str, width: int, d_ff: int) -> tuple[int, int]:
    """(all parameters, one block's feed-forward kernels) of a 2-block Transformer."""
    model = actlab.Transformer(classes=V, width=width, heads=2, layers=2, d_ff=d_ff)
    x = jax.ShapeDtypeStruct((1, T), jnp.int32)
    p = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, Slot((act,))), x)["params"]
    ffn = sum(p["block_0"][n]["kernel"].size for n in ("ffn_in", "ffn_out"))
    return models.param_count(p), int(ffn)


@pytest.mark.parametrize("width, d_ff", [(16, 48), (32, 96), (32, 128)])
def test_a_glu_model_has_the_parameters_of_the_relu_model(width, d_ff):
    # the rule: a GLU's layer has ffn_width(d_ff, 2) = round(2 d_ff / 3) units (Shazeer 2020),
    # so its (2 + 1) * width * units feed-forward weights match ReLU's 2 * width * d_ff
    units = models.ffn_width(d_ff, 2)
    assert units == round(2 * d_ff / 3) and models.ffn_width(d_ff, 1) == d_ff
    relu, relu_ffn = n_params("relu", width, d_ff)
    assert relu_ffn == 2 * width * d_ff
    for act in GLUS:
        total, ffn = n_params(act, width, d_ff)
        assert ffn == 3 * width * units
        assert abs(total - relu) <= 0.01 * relu, (act, total, relu)
        if 2 * d_ff % 3 == 0:  # exact where 2 d_ff / 3 is whole: only the biases differ
            assert ffn == relu_ffn


# -- causality -------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["relu", "swiglu"])
def test_logits_at_a_position_do_not_read_later_tokens(act):
    model = actlab.Transformer(classes=V, **SMALL)
    x = jnp.asarray(progressions(4, 2)[0])
    params = model.init(jax.random.key(0), x, Slot((act,)))
    logits = jax.jit(lambda x: model.apply(params, x, Slot((act,))))
    base = logits(x)
    assert base.shape == (4, T, V)
    other = jnp.asarray(progressions(4, 3)[0])
    for t in range(T - 1):
        changed = x.at[:, t + 1 :].set(other[:, t + 1 :])
        got = logits(changed)
        # masked scores get weight exactly 0; 1e-6 allows for a reordered reduction
        np.testing.assert_allclose(got[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0)
        assert not np.allclose(got[:, t + 1 :], base[:, t + 1 :], atol=1e-3)  # the control
    # float tokens (as Dataset.normalise hands them) are the same tokens
    np.testing.assert_array_equal(logits(x.astype(jnp.float32)), base)


def test_readout_last_gives_the_last_positions_logits():
    x = jnp.asarray(progressions(4, 2)[0])
    every = actlab.Transformer(classes=V, **SMALL)
    params = every.init(jax.random.key(0), x, Slot(("gelu",)))
    last = every.clone(readout="last").apply(params, x, Slot(("gelu",)))
    assert last.shape == (4, V)  # one answer per sequence: labels [n]
    np.testing.assert_allclose(last, every.apply(params, x, Slot(("gelu",)))[:, -1], atol=1e-6)


# -- the census: one hidden layer per block, counted over examples and positions --------------


def test_the_census_counts_a_feed_forward_unit_over_examples_and_positions():
    # block 0 with attention off (out projection 0) and zero token embeddings reads only
    # pos_embed[t] = c_t * e, e = (1, -1, 1, ...): its LayerNorm gives sign(c_t) * e. With
    # ffn_in's kernel e / width, unit 0 gets z = sign(c_t) - 0.5 and unit 1 z = -sign(c_t) -
    # 0.5; the rest z = -1. c_t > 0 at position 3 only: unit 0 fires there and only there,
    # unit 1 everywhere else. Counted per position (or at one), either would be inactive
    cfg = Config(
        model=actlab.Transformer(**SMALL), optimizer=optax.sgd(0.0), acts=("relu",), steps=1,
        eval_every=1, batch_size=None, eval_chunk=16,  # 4 chunks of 16 sequences
    )  # fmt: skip
    tr = make_train(cfg, DATA)
    keys = jax.tree.map(lambda k: k[0], seed_keys(1))
    params = jax.tree.map(np.array, tr.params(keys.init, 0))
    p = params["model"]["params"]
    w, units = SMALL["width"], SMALL["d_ff"]
    e = np.where(np.arange(w) % 2 == 0, 1.0, -1.0).astype(np.float32)
    p["embed"]["embedding"][:] = 0.0
    p["pos_embed"][:] = np.where(np.arange(T) == 3, 1.0, -1.0)[:, None] * e
    p["block_0"]["attn"]["out"]["kernel"][:] = p["block_0"]["attn"]["out"]["bias"][:] = 0.0
    kernel, bias = p["block_0"]["ffn_in"]["kernel"], p["block_0"]["ffn_in"]["bias"]
    kernel[:], bias[:] = 0.0, -1.0
    kernel[:, 0], kernel[:, 1], bias[:2] = e / w, -e / w, -0.5
    n = DATA.x_train.shape[0]
    state = TrainState(
        params, optax.sgd(0.0).init(params), keys.data, jnp.arange(n, dtype=jnp.int32),
        jnp.int32(-1),
    )  # fmt: skip
    _, trace = jax.jit(tr.advance, static_argnums=4)(state, 0, None, jnp.int32(0), 1)
    assert trace.dead.shape == (1, SMALL["layers"])  # [intervals, one per block]
    off = (units - 2) / units  # all but units 0 and 1: z = -1 everywhere, relu(z) = 0
    got = [np.asarray(getattr(trace, f))[0, 0] for f in ("inactive", "dead", "saturated")]
    np.testing.assert_allclose(got, [off, off, off], rtol=1e-6)
    # the chunked evaluation's loss is the mean over every example and position
    slot = Slot(("relu",))
    logits = tr.model.apply(params["model"], DATA.normalise(DATA.x_train), slot)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, DATA.y_train)
    np.testing.assert_allclose(trace.train_loss[0], ce.mean(), rtol=1e-5)
    hits = (logits.argmax(-1) == DATA.y_train).mean()
    np.testing.assert_allclose(trace.metrics["train_accuracy"][0], hits, rtol=1e-6)


# -- the GLUs by hand --------------------------------------------------------------------------

GATES = {
    "reglu": lambda a: np.maximum(a, 0.0),
    "geglu": lambda a: 0.5 * a * (1 + erf(a / np.sqrt(2))),
    "swiglu": lambda a: a * expit(a),
}


@pytest.mark.parametrize("name", GLUS)
def test_a_glu_is_its_gate_of_the_even_columns_times_the_odd_ones(name):
    z = np.array([[1.5, 2.0, -0.5, 3.0, 0.25, -4.0]], np.float32)  # units: (a, b) pairs
    a, b = z[:, 0::2].astype(float), z[:, 1::2].astype(float)
    want = GATES[name](a) * b  # e.g. reglu: [1.5 * 2, 0 * 3, 0.25 * -4]
    np.testing.assert_allclose(A.apply((name,), 0, jnp.asarray(z)), want, rtol=1e-6)
    # in a layer shared with a pointwise activation under a traced choice, ReLU reads piece 0
    both = ("relu", name)
    np.testing.assert_allclose(A.apply(both, jnp.int32(1), jnp.asarray(z)), want, rtol=1e-6)
    np.testing.assert_allclose(A.apply(both, jnp.int32(0), jnp.asarray(z)), np.maximum(a, 0))
    # the census's per-unit derivative is d h / d a = gate'(a) * b (central differences)
    slot = Slot((name,), capture=True)
    slot(jnp.asarray(z))
    h = 1e-3
    fd = (GATES[name](a + h) - GATES[name](a - h)) / (2 * h) * b
    np.testing.assert_allclose(slot.captures[0].d, fd, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(slot.captures[0].z, z.reshape(1, 3, 2))
