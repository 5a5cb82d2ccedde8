"""The trainer: ``make_train(config, data) -> train(keys, act, lr)``, pure and vmappable.

One model's training is a pure function of its random streams (``Keys``), its activation
index and its learning rate. ``jax.vmap`` over seeds (and activations, and learning rates)
then ``jax.jit`` trains them all in one compiled call.

Structure of a run, shared by every study: the steps are cut into *intervals* of
``eval_every`` steps; each interval runs ``eval_every - 1`` plain steps (no tracing cost),
one traced step whose gradient and update are measured per layer, then an evaluation.
``advance`` scans over a fixed number of intervals, so a run can be split into chunks that
reuse one compilation (the step counter is an argument, not a constant).

Paired design: seed ``i`` gives every activation the same data order and the same
initialisation wherever parameter shapes agree (``Keys`` holds separate ``init`` and ``data``
streams, so either can be varied while the other is held).

Divergence: a model whose loss becomes non-finite is frozen at its last parameters with a
finite loss and flagged with that step (``diverged_at``, -1 while finite). Parameters that
go non-finite while the loss is still finite (rare) are caught at the end of the interval:
the model falls back to the interval's first parameters and is flagged with its first step.
Each model's arithmetic is its own under ``vmap``, so it cannot disturb the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from actlab import activations
from actlab.data import Dataset

LOSSES = ("softmax_ce", "bce", "bce_unclipped", "bce_clipped")

Optimizer = optax.GradientTransformation | Callable[[jax.Array], optax.GradientTransformation]


class Config(NamedTuple):
    """Static description of one model's training (closed over, never traced).

    ``model`` is an actlab ``MLP``/``CNN`` (its ``acts`` and ``classes`` are set by
    ``make_train``); ``optimizer`` is an optax transformation, or a function of the learning
    rate returning one (to sweep ``lr``); ``batch_size=None`` is full-batch. The last partial
    minibatch of an epoch is dropped (``drop_remainder``): each epoch is ``n // batch_size``
    steps over a fresh per-seed permutation.
    """

    model: nn.Module
    optimizer: Optimizer
    acts: tuple[str, ...] = ("relu",)
    steps: int = 1000
    batch_size: int | None = 32
    eval_every: int = 100
    loss: str = "softmax_ce"
    eval_examples: int | None = None  # test examples evaluated (None: the whole test split)
    train_eval_examples: int = 10_000  # first n training examples, for train loss/accuracy
    eval_chunk: int = 1_000  # examples per evaluation batch (bounds memory)
    # at the evaluation points before the last: at most this many examples of each split
    # (test, train-eval, and the census when it follows the train-eval sample), or a pair
    # (test, train) for each its own; the final point reads the samples above in full
    # (None: every point does)
    curve_examples: int | tuple[int, int] | None = None
    # the unit census (Trace.inactive / dead / saturated; definitions in Trace's docstring):
    # its sample: the first n training examples (None: the train_eval_examples, one pass)
    census_examples: int | None = None
    dead_tol: float = 1e-3  # dead: std f(z) <= dead_tol * max|f'| * std z over the sample
    saturation: float = 0.01  # saturated: |f'| < saturation * max|f'| (or 0) on every example


class Keys(NamedTuple):
    """A model's independent random streams."""

    init: jax.Array
    data: jax.Array


def seed_keys(seeds: int, seed: int = 0, hold: tuple[str, ...] = (), first: int = 0) -> Keys:
    """``Keys`` for seeds ``first .. first + seeds - 1``, each stream ``[seeds]``.

    Streams named in ``hold`` ("init", "data") use seed 0's key for every seed.
    """
    unknown = set(hold) - set(Keys._fields)
    if unknown:
        raise ValueError(f"hold: unknown streams {sorted(unknown)}; accepted: {Keys._fields}")
    base = jax.random.key(seed)
    idx = jnp.arange(first, first + seeds)
    streams = []
    for s, name in enumerate(Keys._fields):
        per_seed = jnp.zeros_like(idx) if name in hold else idx
        streams.append(
            jax.vmap(lambda i, s=s: jax.random.fold_in(jax.random.fold_in(base, i), s))(per_seed)
        )
    return Keys(*streams)


class TrainState(NamedTuple):
    """One model's state (leading axes ``[acts, lrs?, seeds]`` once vmapped)."""

    params: Any
    opt_state: Any
    data_key: jax.Array
    perm: jax.Array  # [n_train] int32, the current epoch's order
    diverged_at: jax.Array  # int32 step of the first non-finite loss/params, -1 while finite


class Trace(NamedTuple):
    """What is recorded at each evaluation point (``[..., evals]`` then layer axes).

    **The unit census** (``inactive``, ``dead``, ``saturated``): per hidden layer, the fraction
    of its units for which the statement holds over the *census sample*, the first
    ``census_size(config, n_train)`` training examples (``Config.census_examples``; by
    default the train-eval sample, ``train_eval_examples``, 10 000 unless a study says
    otherwise, read in the same pass; every training example if fewer; whole ``eval_chunk``
    chunks), read chunk by
    chunk inside the compiled program. A unit of a convolution is a channel: its statistics
    run over examples and positions. With ``z`` the unit's pre-activation and ``h = f(z)``:

    * **inactive**: the unit sits on one side on every example. Elementwise activations: ``z
      <= 0`` on every example, the side where ReLU and step output 0, leaky ReLU and PReLU
      use their negative slope, ELU / SELU / CELU / GELU / SiLU approach their negative limit,
      and sigmoid / tanh / softsign are below their midpoint (for those it says which side,
      not that the gradient is small: see ``dead`` and ``saturated``). Maxout: one and the
      same piece wins on every example (ties go to the first piece), so the unit is a fixed
      linear map and its other pieces get no gradient.
    * **dead**: the output barely varies: ``std h <= dead_tol * max|f'| * std z`` over the
      sample (population std; ``Config.dead_tol``, default 1e-3; ``max|f'|`` from the
      registry; for maxout ``std z`` is the largest std of its pieces). The scale is the
      unit's own input, so the test does not depend on how large the signals reaching the
      layer are, and a layer that is dead as a whole is still counted (a scale taken from the
      layer's other units vanishes then). Dead: ReLU with ``z <= 0`` everywhere (``h = 0``);
      with ``z`` in a narrow band around ``z0``, sigmoid at ``|z0| > ~8.3``, tanh at ``|z0| >
      ~4.2``, ELU at ``z0 < ~-6.9``; and any unit whose ``z`` is the same on every example
      (``0 <= 0``). Not dead: leaky ReLU with ``z < 0`` everywhere (its output still varies
      by ``0.01 * std z``, ten times the tolerance, and its gradient flows); a step unit
      unless its output is constant (its ``max|f'|`` is 0). Deviations are summed from each
      chunk's first example and chunks merged by Chan et al.'s formula, so a constant output
      gives exactly 0.
    * **saturated**: ``|f'(z)| < saturation * max|f'|`` or ``f'(z) = 0`` on every example
      (``Config.saturation``, default 0.01). A step unit is always saturated (its gradient is
      0); leaky ReLU never (``|f'| >= 0.01``); maxout never (its derivative w.r.t. its
      winning piece is 1).

    The three are NaN for activations where a per-unit census has no meaning
    (``activations.has_unit_derivative`` False: softmax) and for a layer where any captured
    value is NaN.
    """

    step: jax.Array  # steps done
    batch_loss: jax.Array  # mean minibatch loss over the interval
    train_loss: jax.Array  # on the first train_eval_examples training examples
    train_accuracy: jax.Array
    test_loss: jax.Array
    test_accuracy: jax.Array
    grad_norm: jax.Array  # [layers] L2 norm of the traced step's gradient, weights + biases
    weight_norm: jax.Array  # [layers]
    update_ratio: jax.Array  # [layers] ||update|| / ||weights|| of the traced step
    inactive: jax.Array  # [hidden layers] fraction on their inactive side on every example
    dead: jax.Array  # [hidden layers] fraction whose output barely varies (dead_tol)
    saturated: jax.Array  # [hidden layers] fraction with |f'| < saturation * max|f'| everywhere
    diverged: jax.Array  # bool


def binary(loss: str) -> bool:
    return loss != "softmax_ce"


def loss_and_accuracy(loss: str, logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean loss and accuracy. ``logits: [batch, classes]`` (``[batch, 1]`` for BCE losses).

    ``bce_unclipped`` is the articles' ``-(y log p + (1-y) log(1-p))`` with ``p =
    sigmoid(z)`` in float32: it goes NaN once ``p`` rounds to 0 or 1, as TF1's did.
    ``bce_clipped`` clips ``p`` to [1e-7, 1 - 1e-7] (Keras); ``bce`` is the stable form.
    """
    if loss == "softmax_ce":
        per = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return per.mean(), (logits.argmax(-1) == y).mean()
    z, yf = logits[:, 0], y.astype(jnp.float32)
    acc = ((z > 0) == (y == 1)).mean()
    if loss == "bce":
        return optax.sigmoid_binary_cross_entropy(z, yf).mean(), acc
    p = jax.nn.sigmoid(z)
    if loss == "bce_clipped":
        p = jnp.clip(p, 1e-7, 1 - 1e-7)
    return -(yf * jnp.log(p) + (1 - yf) * jnp.log(1 - p)).mean(), acc


def model_for(cfg: Config, data: Dataset) -> nn.Module:
    """``cfg.model`` with its activation choices and output width set for ``data``."""
    outputs = 1 if binary(cfg.loss) else data.num_classes
    return cfg.model.clone(acts=tuple(cfg.acts), classes=outputs)


def layer_norms(tree, num_layers: int) -> jax.Array:
    """L2 norm of each layer's weights and biases, input to output: ``[layers]``."""
    p = tree["params"]  # pytree keys sort as strings (layer_10 < layer_2): index by name
    return jnp.stack([optax.tree.norm(p[f"layer_{i}"]) for i in range(num_layers)])


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]))


def check_config(cfg: Config, data: Dataset) -> None:
    """Raise ``ValueError`` naming what is wrong with a config for this data."""
    n = data.x_train.shape[0]
    if cfg.loss not in LOSSES:
        raise ValueError(f"unknown loss {cfg.loss!r}; accepted: {', '.join(LOSSES)}")
    if binary(cfg.loss) and data.num_classes != 2:
        raise ValueError(f"loss {cfg.loss!r} needs 2 classes, the data has {data.num_classes}")
    if cfg.batch_size is not None and not 1 <= cfg.batch_size <= n:
        raise ValueError(
            f"batch_size={cfg.batch_size} must be between 1 and the {n} training examples "
            "(or None for full batch)"
        )
    if cfg.steps < 1 or cfg.eval_every < 1:
        raise ValueError(f"steps ({cfg.steps}) and eval_every ({cfg.eval_every}) must be >= 1")
    if not 0 < cfg.saturation < 1:
        raise ValueError(f"saturation must be in (0, 1), got {cfg.saturation}")
    if not 0 < cfg.dead_tol < 1:
        raise ValueError(f"dead_tol must be in (0, 1), got {cfg.dead_tol}")
    if cfg.census_examples is not None and cfg.census_examples < 1:
        raise ValueError(f"census_examples must be >= 1 or None, got {cfg.census_examples}")
    check_curve(cfg.curve_examples)
    for a in cfg.acts:
        activations.get(a)


def _sample(n: int, limit: int | None, chunk: int) -> tuple[int, int]:
    """(examples, chunk size) of the first ``limit`` of ``n`` examples in whole chunks."""
    n = n if limit is None else min(limit, n)
    c = min(chunk, n)
    return n // c * c, c  # whole chunks only: at most chunk - 1 examples are left out


def _eval_slices(x: jax.Array, y: jax.Array, limit: int | None, chunk: int):
    n, c = _sample(x.shape[0], limit, chunk)
    return x[:n].reshape(n // c, c, *x.shape[1:]), y[:n].reshape(n // c, c)


def census_size(cfg: Config, n_train: int, final: bool = True) -> int:
    """How many training examples the unit census reads (the first ones): the stated sample
    (``final=False``: at the evaluation points before the last)."""
    return _sample(n_train, _limits(cfg, final)[2], cfg.eval_chunk)[0]


def check_curve(curve) -> None:
    """Raise ``ValueError`` unless ``curve`` is None, a count >= 1 or a (test, train) pair."""
    pair = None if curve is None else _pair(curve)
    if curve is not None and (pair is None or min(pair) < 1):
        raise ValueError(
            f"curve_examples must be a count >= 1, a pair (test, train) of them, or None, "
            f"got {curve!r}"
        )


def _pair(curve) -> tuple[int, int] | None:
    """``curve_examples`` as (test, train): one count serves both; None if not counts."""
    whole = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    if whole(curve):
        return curve, curve
    return (
        curve if isinstance(curve, tuple) and len(curve) == 2 and all(map(whole, curve)) else None
    )


def _limits(cfg: Config, final: bool) -> tuple[int | None, int, int]:
    """Examples evaluated at a point: (test, train-eval, census) limits."""
    census = cfg.census_examples
    test, train = cfg.eval_examples, cfg.train_eval_examples
    if not final and cfg.curve_examples is not None:
        c_test, c_train = _pair(cfg.curve_examples)
        test = c_test if test is None else min(test, c_test)
        train = min(train, c_train)
    return test, train, train if census is None else census


def eval_sizes(cfg: Config, n_train: int, n_test: int) -> dict[str, list[int]]:
    """Examples read at the evaluation points before the last and at the last one:
    ``{"test": [curve, final], "train": [...], "census": [...]}`` (whole eval chunks)."""
    out: dict[str, list[int]] = {"test": [], "train": [], "census": []}
    for final in (False, True):
        test, train, census = _limits(cfg, final)
        for name, n, limit in (("test", n_test, test), ("train", n_train, train),
                               ("census", n_train, census)):  # fmt: skip
            out[name].append(_sample(n, limit, cfg.eval_chunk)[0])
    return out


class _Tally(NamedTuple):
    """One hidden layer's census so far, per unit (``[units]`` unless said)."""

    mean_h: jax.Array  # mean of h = f(z)
    m2_h: jax.Array  # sum of squared deviations of h from its mean
    mean_z: jax.Array  # [units, pieces]
    m2_z: jax.Array  # [units, pieces]
    on: jax.Array  # [units, pieces] examples with z_p > 0 (maxout: on which piece p won)
    unflat: jax.Array  # examples where the unit was not saturated


def _merge(mean_a, m2_a, n_a, mean_b, m2_b, n_b):
    """Chan et al.'s pairwise update of (mean, m2) for sets of n_a and n_b values (n_a may be
    0: then b is returned exactly)."""
    n = n_a + n_b
    delta = mean_b - mean_a
    cross = jnp.where(n_a > 0, delta * delta * (n_a * n_b / n), 0.0)  # no inf * 0 at the start
    return mean_a + delta * (n_b / n), m2_a + m2_b + cross


class Train(NamedTuple):
    """The pure functions of one configuration (each is one model; vmap them)."""

    init: Callable  # (keys, act, lr) -> (TrainState, Trace at step 0)
    advance: Callable  # (state, act, lr, t0, intervals) -> (TrainState, Trace [intervals])
    train: Callable  # (keys, act, lr) -> (TrainState, Trace [evals]): the whole run
    model: nn.Module
    num_intervals: int


def make_train(cfg: Config, data: Dataset) -> Train:
    """Build the pure per-model functions for ``cfg`` on ``data``.

    ``act`` indexes ``cfg.acts``: a Python int traces one activation; a traced int switches
    between all of them (parameter shapes then cover every choice). ``lr`` is used when
    ``cfg.optimizer`` is a function of the learning rate and ignored otherwise.
    """
    check_config(cfg, data)
    model = model_for(cfg, data)
    n_layers = model.num_layers
    n = data.x_train.shape[0]
    batch = n if cfg.batch_size is None else cfg.batch_size
    per_epoch = n // batch
    entries = [activations.get(a) for a in cfg.acts]
    sat = jnp.array([a.max_grad * cfg.saturation for a in entries])
    gain = jnp.array([a.max_grad * cfg.dead_tol for a in entries])  # dead: std h <= gain std z
    multi = jnp.array([a.pieces > 1 for a in entries])  # maxout: a unit reads several pieces
    meaningful = jnp.array([activations.has_unit_derivative(a) for a in cfg.acts])
    k = activations.pieces(cfg.acts)

    def samples(final: bool):
        """(test, train-eval, census) chunks read at the last point or at the others."""
        test, train, census = _limits(cfg, final)
        return (
            _eval_slices(data.x_test, data.y_test, test, cfg.eval_chunk),
            _eval_slices(data.x_train, data.y_train, train, cfg.eval_chunk),
            _eval_slices(data.x_train, data.y_train, census, cfg.eval_chunk),
        )

    points = {final: samples(final) for final in (False, True)}
    thinned = any(  # curve_examples reads fewer examples somewhere before the last point
        a[0].shape != b[0].shape for a, b in zip(points[False], points[True])
    )

    def optimizer(lr) -> optax.GradientTransformation:
        if isinstance(cfg.optimizer, optax.GradientTransformation):
            return cfg.optimizer
        return cfg.optimizer(lr)

    def loss_fn(params, xb, yb, act):
        logits = model.apply(params, data.normalise(xb), act)
        loss, acc = loss_and_accuracy(cfg.loss, logits, yb)
        return loss, acc

    def batch_at(state: TrainState, t):
        if batch == n:  # full batch: order is irrelevant
            return data.x_train, data.y_train, state.perm
        epoch, j = jnp.divmod(t, per_epoch)
        # t is shared by all models, so this predicate is unbatched and stays a real cond
        perm = jax.lax.cond(
            j == 0,
            lambda: jax.random.permutation(jax.random.fold_in(state.data_key, epoch), n),
            lambda: state.perm,
        )
        idx = jax.lax.dynamic_slice_in_dim(perm, j * batch, batch)
        return data.x_train[idx], data.y_train[idx], perm

    def step(state: TrainState, t, act, lr):
        """One update; returns the new state, the loss, the gradient and the update."""
        xb, yb, perm = batch_at(state, t)
        (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, xb, yb, act)
        updates, opt_state = optimizer(lr).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # Only the loss is checked per step: a scalar known before the update, so the select
        # fuses into the optimizer's elementwise pass. A full finiteness scan of the
        # parameters reads every weight again (~+50 % step time for the seed-001 MLP); it is
        # done once per interval instead (``interval``). A frozen model's optimizer state is
        # not kept: it is never used again.
        ok = jnp.isfinite(loss) & (state.diverged_at < 0)
        params = jax.tree.map(lambda a, b: jnp.where(ok, a, b), params, state.params)
        diverged_at = jnp.where((state.diverged_at < 0) & ~ok, t, state.diverged_at)
        new = TrainState(params, opt_state, state.data_key, perm, diverged_at.astype(jnp.int32))
        return new, loss, grads, updates

    def forward(params, x, act, census: bool):
        """Logits of a chunk; with ``census``, each hidden layer's ``(f', h, z)`` capture."""
        if not census:
            return model.apply(params, data.normalise(x), act), []
        logits, cap = model.apply(
            params, data.normalise(x), act, capture=True, mutable=["derivatives", "census"]
        )
        names = sorted(cap.get("census", {}), key=_layer_order)
        layers = [
            (cap["derivatives"][n]["d"][0], cap["census"][n]["h"][0], cap["census"][n]["z"][0])
            for n in names
        ]
        return logits, layers

    def tally(t: _Tally, i, d, h, z, act) -> _Tally:
        """``t`` updated with chunk ``i`` (``d, h: [..., units]``, ``z: [..., units, k]``)."""
        axes = tuple(range(h.ndim - 1))  # examples (and positions)
        m = h.size // h.shape[-1]
        on = z > 0
        if k > 1:  # maxout: which piece wins, ties to the first (argmax: a slow CPU reduce)
            best, win = z[..., 0], jnp.zeros(h.shape, jnp.int32)
            for p in range(1, k):
                win = jnp.where(z[..., p] > best, p, win)
                best = jnp.maximum(best, z[..., p])
            on = jnp.where(multi[act], jax.nn.one_hot(win, k, dtype=bool), on)
        unflat = (d != 0) & (jnp.abs(d) >= sat[act])
        # deviations from the chunk's first example: a constant gives exactly (constant, 0)
        first = (slice(0, 1),) * len(axes)
        dh, dz = h - h[first], z - z[first]
        ref_h, ref_z = h[first].reshape(h.shape[-1:]), z[first].reshape(z.shape[-2:])
        s_h, s_z = dh.sum(axes), dz.sum(axes)
        chunk_h = ref_h + s_h / m, jnp.maximum((dh * dh).sum(axes) - s_h * s_h / m, 0.0)
        chunk_z = ref_z + s_z / m, jnp.maximum((dz * dz).sum(axes) - s_z * s_z / m, 0.0)
        n_a = i.astype(jnp.float32) * m  # values merged so far (the chunks before this one)
        mean_h, m2_h = _merge(t.mean_h, t.m2_h, n_a, *chunk_h, m)
        mean_z, m2_z = _merge(t.mean_z, t.m2_z, n_a, *chunk_z, m)
        # counts are only compared with 0, which float sums of 0/1 get exactly right
        count = lambda b: b.astype(jnp.float32).sum(axes)
        return _Tally(mean_h, m2_h, mean_z, m2_z, t.on + count(on), t.unflat + count(unflat))

    def empty(d, h, z) -> _Tally:
        zero = jnp.zeros(z.shape[-2:], jnp.float32)
        return _Tally(zero[:, 0], zero[:, 0], zero, zero, zero, zero[:, 0])

    def verdict(t: _Tally, act) -> jax.Array:
        """[3]: fractions of the layer's units inactive, dead and saturated (NaN: no meaning)."""
        used = (jnp.arange(k) == 0) | multi[act]  # the pieces a unit reads
        spread = jnp.where(used[None, :], t.m2_z, 0.0).max(-1)
        won = (t.on > 0).sum(-1)  # maxout: pieces that won on some example
        inactive = jnp.where(multi[act], won == 1, t.on[:, 0] == 0)
        dead = t.m2_h <= gain[act] ** 2 * spread  # std h <= dead_tol * max|f'| * std z
        fractions = jnp.stack([inactive.mean(), dead.mean(), (t.unflat == 0).mean()])
        # a NaN anywhere in a layer's h or z reaches its sums (f is finite for finite z)
        nan = ~meaningful[act] | jnp.isnan(t.m2_h).any() | jnp.isnan(t.m2_z).any()
        return jnp.where(nan, jnp.nan, fractions)

    def sweep(params, xs, ys, act, census: bool):
        """Mean loss and accuracy over the chunks ``xs, ys``; with ``census``, also the unit
        census over the same examples: ``(inactive, dead, saturated)``, ``[hidden layers]``
        each. One forward pass per chunk serves both; memory stays at one chunk."""
        shapes = jax.eval_shape(lambda x: forward(params, x, act, census)[1], xs[0])
        start = [empty(*layer) for layer in shapes]

        def one(tallies, xyi):
            x, y, i = xyi
            logits, layers = forward(params, x, act, census)
            loss, acc = loss_and_accuracy(cfg.loss, logits, y)
            return [tally(t, i, *layer, act) for t, layer in zip(tallies, layers)], (loss, acc)

        tallies, (loss, acc) = jax.lax.scan(one, start, (xs, ys, jnp.arange(xs.shape[0])))
        if not census:
            return loss.mean(), acc.mean(), None
        if not tallies:  # no hidden layer
            return loss.mean(), acc.mean(), (jnp.zeros(0),) * 3
        per_layer = jnp.stack([verdict(t, act) for t in tallies], axis=1)  # [3, layers]
        return loss.mean(), acc.mean(), tuple(per_layer)

    def record(state, t, batch_loss, grads, updates, act, final: bool = True) -> Trace:
        params = state.params
        (test_x, test_y), (train_x, train_y), (census_x, census_y) = points[final]
        fused = census_x.shape == train_x.shape  # the same examples: one pass serves both
        train_loss, train_acc, census = sweep(params, train_x, train_y, act, fused)
        if not fused:
            census = sweep(params, census_x, census_y, act, True)[2]
        test_loss, test_acc, _ = sweep(params, test_x, test_y, act, False)
        inactive, dead, saturated = census
        w = layer_norms(params, n_layers)
        return Trace(
            step=jnp.asarray(t, jnp.int32),
            batch_loss=batch_loss,
            train_loss=train_loss,
            train_accuracy=train_acc,
            test_loss=test_loss,
            test_accuracy=test_acc,
            grad_norm=layer_norms(grads, n_layers),
            weight_norm=w,
            update_ratio=layer_norms(updates, n_layers) / w,
            inactive=inactive,
            dead=dead,
            saturated=saturated,
            diverged=state.diverged_at >= 0,
        )

    def init(keys: Keys, act, lr=None):
        params = model.init(keys.init, data.normalise(data.x_train[:1]), act)
        state = TrainState(
            params, optimizer(lr).init(params), keys.data, jnp.arange(n, dtype=jnp.int32),
            jnp.int32(-1),
        )  # fmt: skip
        # step 0: the gradient of the first minibatch, before any update is applied
        _, loss, grads, _ = step(state, jnp.int32(0), act, lr)
        zero = jax.tree.map(jnp.zeros_like, grads)
        return state, record(state, 0, loss, grads, zero, act, final=not thinned)

    def interval(state: TrainState, t0, act, lr):
        """Up to eval_every steps from t0, the last one traced, then an evaluation."""
        length = jnp.clip(cfg.steps - t0, 0, cfg.eval_every)

        def plain(i, carry):
            s, total = carry
            s, loss, _, _ = step(s, t0 + i, act, lr)
            return s, total + loss

        start = state
        state, total = jax.lax.fori_loop(0, length - 1, plain, (state, jnp.float32(0)))
        state, loss, grads, updates = step(state, t0 + length - 1, act, lr)
        # parameters that went non-finite under a finite loss (rare: the next loss would be
        # non-finite too) fall back to the interval's start, the last checked finite point
        bad = ~_all_finite(state.params)
        state = state._replace(
            params=jax.tree.map(lambda a, b: jnp.where(bad, b, a), state.params, start.params),
            diverged_at=jnp.where(bad & (state.diverged_at < 0), t0, state.diverged_at),
        )
        batch_loss = (total + loss) / jnp.maximum(length, 1)
        args = (state, t0 + length, batch_loss, grads, updates)
        if not thinned:
            return state, record(*args, act)
        # t0 is shared by all models: an unbatched predicate, so one branch runs, not both
        return state, jax.lax.cond(
            t0 + length >= cfg.steps,
            lambda a: record(*a, act, final=True),
            lambda a: record(*a, act, final=False),
            args,
        )

    def advance(state: TrainState, act, lr, t0, intervals: int):
        """``intervals`` evaluation intervals from step ``t0`` (traced: chunks share a compile).

        Intervals past ``cfg.steps`` leave the state unchanged and record NaN (step = steps).
        """

        def body(s, k):
            start = t0 + k * cfg.eval_every
            # the predicate is unbatched (t0 is shared by all models): a real cond, no work
            # is done for intervals past the end
            return jax.lax.cond(
                start < cfg.steps, lambda s: interval(s, start, act, lr), lambda s: (s, blank), s
            )

        return jax.lax.scan(body, state, jnp.arange(intervals))

    hidden_layers = n_layers - 1
    f0, vec = jnp.float32(jnp.nan), lambda k: jnp.full(k, jnp.nan, jnp.float32)
    per_layer, per_hidden = vec(n_layers), vec(hidden_layers)
    blank = Trace(  # an interval past the end: nothing measured
        step=jnp.int32(cfg.steps),
        batch_loss=f0,
        train_loss=f0,
        train_accuracy=f0,
        test_loss=f0,
        test_accuracy=f0,
        grad_norm=per_layer,
        weight_norm=per_layer,
        update_ratio=per_layer,
        inactive=per_hidden,
        dead=per_hidden,
        saturated=per_hidden,
        diverged=jnp.bool_(False),
    )
    num_intervals = -(-cfg.steps // cfg.eval_every)

    def train(keys: Keys, act, lr=None):
        state, first = init(keys, act, lr)
        state, rest = advance(state, act, lr, 0, num_intervals)
        return state, jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)

    return Train(init, advance, train, model, num_intervals)


def _layer_order(name: str) -> int:
    # "slope_<i>": order hidden layers numerically, not as strings (slope_10 < slope_2)
    return int(name.rsplit("_", 1)[1])
