"""The trainer: ``make_train(config, data) -> Train``, pure functions of one model, vmappable.

One model's training is a pure function of its random streams (``Keys``), its activation
index and its learning rate. ``jax.vmap`` over seeds (and activations, and learning rates)
then ``jax.jit`` trains them all in one compiled call (``actlab.execution``).

The pieces, each a pure function over a ``Parts`` value (what ``make_train`` closes over):

* ``forward``: the model (any framework, ``actlab.adapters``) with its activation slot
  (``actlab.slot``) filled by the choice, and what the census captures;
* ``step``: one optimizer update on a minibatch, with divergence frozen;
* ``evaluate``: loss, metrics and the unit census (``actlab.census``) over a sample,
  chunk by chunk;
* ``record``: one evaluation point's ``Trace``;
* ``init``, ``interval``, ``advance``: the schedule.

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

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from actlab import activations, adapters, census, losses
from actlab.data import Dataset
from actlab.slot import Slot

Optimizer = optax.GradientTransformation | Callable[[jax.Array], optax.GradientTransformation]
Metrics = Callable[[jax.Array, jax.Array], dict]


class Config(NamedTuple):
    """Static description of one model's training (closed over, never traced).

    ``model``: a Flax linen module, ``actlab.NNX(factory)`` or ``actlab.Equinox(factory)``
    whose forward pass calls the activation slot ``act`` (``actlab.adapters``);
    ``optimizer``: an optax transformation, or a function of the learning rate returning
    one (to sweep ``lr``); ``batch_size=None`` is full-batch. The last partial minibatch of
    an epoch is dropped: each epoch is ``n // batch_size`` steps over a fresh per-seed
    permutation. ``loss``: a name of ``losses.BUILTIN`` or ``loss(outputs, targets) ->
    scalar``; ``metrics``: ``metrics(outputs, targets) -> {name: scalar}``, the mean over a
    chunk of examples, traced at every evaluation point on both samples
    (``train_NAME``, ``test_NAME``).
    """

    model: Any
    optimizer: Optimizer
    acts: tuple[str, ...] = ("relu",)
    steps: int = 1000
    batch_size: int | None = 32
    eval_every: int = 100
    loss: str | Callable = "softmax_ce"
    metrics: Metrics | None = None
    eval_examples: int | None = None  # test examples evaluated (None: the whole test split)
    train_eval_examples: int = 10_000  # first n training examples, for train loss/accuracy
    eval_chunk: int = 1_000  # examples per evaluation batch (bounds memory)
    # at the evaluation points before the last: at most this many examples of each split
    # (test, train-eval, and the census when it follows the train-eval sample), or a pair
    # (test, train) for each its own; the final point reads the samples above in full
    curve_examples: int | tuple[int, int] | None = None
    # the unit census (actlab.census): its sample, the first n training examples (None:
    # the train-eval sample, read in the same pass)
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
    """One model's state (leading axes ``[acts, lrs?, seeds]`` once vmapped).

    ``params``: ``{"model": the model's parameters, "act": [one array per slot call]}`` (the
    parameterised activation's, e.g. PReLU's slopes; empty otherwise)."""

    params: Any
    opt_state: Any
    data_key: jax.Array
    perm: jax.Array  # [n_train] int32, the current epoch's order
    diverged_at: jax.Array  # int32 step of the first non-finite loss/params, -1 while finite


CORE = (
    "step",
    "batch_loss",
    "train_loss",
    "test_loss",
    "grad_norm",
    "weight_norm",
    "update_ratio",
    "inactive",
    "dead",
    "saturated",
    "diverged",
)


class Trace(NamedTuple):
    """What is recorded at each evaluation point (``[..., evals]`` then layer axes).

    A fixed core, and ``metrics``: ``train_accuracy`` / ``test_accuracy`` where the loss
    defines an accuracy (a classification), and ``train_NAME`` / ``test_NAME`` for each of
    the study's own metrics. Every name reads as an attribute (``trace.test_accuracy``);
    ``names()`` / ``flat()`` list core and metrics alike. The unit census (``inactive``,
    ``dead``, ``saturated``, per hidden layer: per call of the activation slot) is defined
    in ``actlab.census``; per-layer norms cover each layer's parameters (``layers``).
    """

    step: jax.Array  # steps done
    batch_loss: jax.Array  # mean minibatch loss over the interval
    train_loss: jax.Array  # on the train-eval sample (the first training examples)
    test_loss: jax.Array
    grad_norm: jax.Array  # [layers] L2 norm of the traced step's gradient
    weight_norm: jax.Array  # [layers]
    update_ratio: jax.Array  # [layers] ||update|| / ||weights|| of the traced step
    inactive: jax.Array  # [hidden layers] fraction on their inactive side on every example
    dead: jax.Array  # [hidden layers] fraction whose output barely varies (dead_tol)
    saturated: jax.Array  # [hidden layers] fraction with |f'| < saturation * max|f'|
    diverged: jax.Array  # bool
    metrics: dict = {}  # {"train_accuracy": ..., "test_NAME": ...}

    def __getattr__(self, name: str):
        metrics = tuple.__getitem__(self, len(CORE))
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"the trace has no {name!r}; it has: {', '.join(self.names())}")

    def names(self) -> tuple[str, ...]:
        """Every traced quantity: the core, then the metrics (train before test)."""
        split = lambda n: (n.partition("_")[2], n.startswith("test_"))
        return (*CORE, *sorted(self.metrics, key=split))

    def flat(self) -> dict[str, Any]:
        """Every traced quantity by name, the core then the metrics."""
        return {n: getattr(self, n) for n in self.names()}

    @classmethod
    def of(cls, items: dict) -> Trace:
        """A ``Trace`` from ``flat()``'s mapping."""
        return cls(
            **{k: items[k] for k in CORE}, metrics={k: v for k, v in items.items() if k not in CORE}
        )


def stack_traces(traces, axis: int):
    """Traces with the same names concatenated leaf by leaf along ``axis``."""
    return jax.tree.map(lambda *a: np.concatenate(a, axis), *traces)


class Train(NamedTuple):
    """The pure functions of one configuration (each is one model; vmap them)."""

    init: Callable  # (keys, act, lr) -> (TrainState, Trace at step 0)
    create: Callable  # (keys, act, lr) -> TrainState: init without the step-0 record
    params: Callable  # (key, act) -> a model's initial parameters {"model", "act"}
    # (state, act, lr, t0, intervals, look=False, until=None) -> (TrainState, Trace [intervals])
    advance: Callable
    train: Callable  # (keys, act, lr) -> (TrainState, Trace [evals]): the whole run
    model: adapters.Adapter
    num_intervals: int
    layers: tuple[str, ...]  # the model's layers, input side first (per-layer norms)


# ----------------------------------------------------------------------------- checks


def check_config(cfg: Config, data: Dataset) -> None:
    """Raise ``ValueError`` naming what is wrong with a config for this data."""
    n = data.x_train.shape[0]
    losses.check(losses.get(cfg.loss), data)
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
    if cfg.metrics is not None and not callable(cfg.metrics):
        raise ValueError(
            f"metrics must be a function metrics(outputs, targets) -> dict of scalars, got "
            f"{type(cfg.metrics).__name__}"
        )
    check_curve(cfg.curve_examples)
    for a in cfg.acts:
        activations.get(a)


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


# ----------------------------------------------------------------------------- samples


def _sample(n: int, limit: int | None, chunk: int) -> tuple[int, int]:
    """(examples, chunk size) of the first ``limit`` of ``n`` examples in whole chunks."""
    n = n if limit is None else min(limit, n)
    c = min(chunk, n)
    return n // c * c, c  # whole chunks only: at most chunk - 1 examples are left out


def _eval_slices(x: jax.Array, y: jax.Array, limit: int | None, chunk: int):
    n, c = _sample(x.shape[0], limit, chunk)
    return x[:n].reshape(n // c, c, *x.shape[1:]), y[:n].reshape(n // c, c, *y.shape[1:])


def _limits(cfg: Config, final: bool) -> tuple[int | None, int, int]:
    """Examples evaluated at a point: (test, train-eval, census) limits."""
    census_n = cfg.census_examples
    test, train = cfg.eval_examples, cfg.train_eval_examples
    if not final and cfg.curve_examples is not None:
        c_test, c_train = _pair(cfg.curve_examples)
        test = c_test if test is None else min(test, c_test)
        train = min(train, c_train)
    return test, train, train if census_n is None else census_n


def census_size(cfg: Config, n_train: int, final: bool = True) -> int:
    """How many training examples the unit census reads (the first ones): the stated sample
    (``final=False``: at the evaluation points before the last)."""
    return _sample(n_train, _limits(cfg, final)[2], cfg.eval_chunk)[0]


def eval_sizes(cfg: Config, n_train: int, n_test: int) -> dict[str, list[int]]:
    """Examples read at the evaluation points before the last and at the last one:
    ``{"test": [curve, final], "train": [...], "census": [...]}`` (whole eval chunks)."""
    out: dict[str, list[int]] = {"test": [], "train": [], "census": []}
    for final in (False, True):
        test, train, census_n = _limits(cfg, final)
        for name, n, limit in (("test", n_test, test), ("train", n_train, train),
                               ("census", n_train, census_n)):  # fmt: skip
            out[name].append(_sample(n, limit, cfg.eval_chunk)[0])
    return out


# ----------------------------------------------------------------------------- the pieces


class Shape(NamedTuple):
    """What a configuration's model is, found by tracing it once (shapes only)."""

    layers: tuple[adapters.Layer, ...]  # parameter groups, input side first
    hidden: int  # slot calls: the census's hidden layers
    metrics: tuple[str, ...]  # the metric names traced on each sample
    params: Any  # the parameters' shapes ({"model": ..., "act": [...]})
    units: int  # hidden values per example (z and f(z) of every unit): a step's working set


class Parts(NamedTuple):
    """What one configuration's pure functions close over (static; ``data``'s arrays may be
    the program's arguments)."""

    cfg: Config
    data: Dataset
    model: adapters.Adapter
    loss: losses.Loss
    scales: census.Scales
    points: dict  # final (bool) -> ((test x, y), (train x, y), (census x, y)) chunks
    thinned: bool  # the points before the last read fewer examples than the last
    shape: Shape | None  # what the model is (None while it is being found)


def optimizer(parts: Parts, lr) -> optax.GradientTransformation:
    opt = parts.cfg.optimizer
    return opt if isinstance(opt, optax.GradientTransformation) else opt(lr)


def forward(parts: Parts, params, x: jax.Array, act, capture: bool = False):
    """(outputs, captures) of a batch ``x`` (raw, as stored); ``captures``: one
    ``census.Capture`` per slot call when ``capture``."""
    slot = Slot(parts.cfg.acts, act, params["act"], capture)
    outputs = parts.model.apply(params["model"], parts.data.normalise(x), slot)
    return outputs, slot.captures


def loss_of(parts: Parts, params, xb, yb, act) -> jax.Array:
    return parts.loss.fn(forward(parts, params, xb, act)[0], yb)


def batch_at(parts: Parts, state: TrainState, t):
    """The minibatch of step ``t``: (x, y, the epoch's order)."""
    d, n = parts.data, parts.data.x_train.shape[0]
    batch = n if parts.cfg.batch_size is None else parts.cfg.batch_size
    if batch == n:  # full batch: order is irrelevant
        return d.x_train, d.y_train, state.perm
    epoch, j = jnp.divmod(t, n // batch)
    # t is shared by all models, so this predicate is unbatched and stays a real cond
    perm = jax.lax.cond(
        j == 0,
        lambda: jax.random.permutation(jax.random.fold_in(state.data_key, epoch), n),
        lambda: state.perm,
    )
    idx = jax.lax.dynamic_slice_in_dim(perm, j * batch, batch)
    return d.x_train[idx], d.y_train[idx], perm


def step(parts: Parts, state: TrainState, t, act, lr, apply=True):
    """One update; returns the new state, the loss, the gradient and the update.

    ``apply`` (a traced bool; True: the plain step): False computes the loss and the
    gradient of the minibatch of step ``t`` and keeps the parameters, the optimizer state
    and the divergence step as they are (the update returned is the one withheld): the
    step-0 record's look."""
    xb, yb, perm = batch_at(parts, state, t)
    loss, grads = jax.value_and_grad(lambda p: loss_of(parts, p, xb, yb, act))(state.params)
    updates, opt_state = optimizer(parts, lr).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if apply is not True:  # the plain step selects nothing: its loop body stays lean
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, old)
        opt_state = keep(opt_state, state.opt_state)
    # Only the loss is checked per step: a scalar known before the update, so the select
    # fuses into the optimizer's elementwise pass. A full finiteness scan of the
    # parameters reads every weight again (~+50 % step time for the seed-001 MLP); it is
    # done once per interval instead (``interval``). A frozen model's optimizer state is
    # not kept: it is never used again.
    ok = jnp.isfinite(loss) & (state.diverged_at < 0)
    params = jax.tree.map(lambda a, b: jnp.where(ok & apply, a, b), params, state.params)
    diverged_at = jnp.where((state.diverged_at < 0) & ~ok & apply, t, state.diverged_at)
    new = TrainState(params, opt_state, state.data_key, perm, diverged_at.astype(jnp.int32))
    return new, loss, grads, updates


def metric_fns(parts: Parts) -> dict[str, Callable]:
    """The metrics traced on each sample: the loss's accuracy (a classification) and the
    study's own, each ``(outputs, targets) -> scalar``."""
    fns = {} if parts.loss.accuracy is None else {"accuracy": parts.loss.accuracy}
    own = parts.cfg.metrics
    for name in parts.shape.metrics:
        if name not in fns:
            fns[name] = lambda o, y, name=name: jnp.asarray(own(o, y)[name], jnp.float32)
    return fns


def evaluate(parts: Parts, params, xs, ys, act, with_census: bool):
    """Mean loss and metrics over the chunks ``xs, ys`` (``[chunks, chunk, ...]``); with
    ``with_census`` also the unit census over the same examples, ``(inactive, dead,
    saturated)``, ``[hidden layers]`` each. One forward pass per chunk serves all."""
    fns = metric_fns(parts)
    shapes = jax.eval_shape(lambda x: forward(parts, params, x, act, with_census)[1], xs[0])
    start = [census.empty(c) for c in shapes]

    def one(tallies, xyi):
        x, y, i = xyi
        outputs, captures = forward(parts, params, x, act, with_census)
        values = {name: f(outputs, y) for name, f in fns.items()}
        tallies = [census.tally(t, i, c, act, parts.scales) for t, c in zip(tallies, captures)]
        return tallies, (parts.loss.fn(outputs, y), values)

    tallies, (loss, values) = jax.lax.scan(one, start, (xs, ys, jnp.arange(xs.shape[0])))
    means = {name: v.mean() for name, v in values.items()}
    if not with_census:
        return loss.mean(), means, None
    if not tallies:  # no hidden layer
        return loss.mean(), means, (jnp.zeros(0),) * 3
    per_layer = jnp.stack([census.verdict(t, act, parts.scales) for t in tallies], axis=1)
    return loss.mean(), means, tuple(per_layer)  # [3, layers]


def layer_norms(parts: Parts, tree) -> jax.Array:
    """L2 norm of each layer's parameters (of ``tree["model"]``), input side first:
    ``[layers]``."""
    leaves = jax.tree.leaves(tree["model"])
    layers = parts.shape.layers
    return jnp.stack([optax.tree.norm([leaves[i] for i in layer.leaves]) for layer in layers])


def record(
    parts: Parts, state, t, batch_loss, grads, updates, act, final: bool = True, look=False
) -> Trace:
    """The ``Trace`` of one evaluation point (``final``: the last one, read in full; ``look``
    (a traced bool): ``updates`` were withheld, so the update ratio is 0)."""
    params = state.params
    (test_x, test_y), (train_x, train_y), (census_x, census_y) = parts.points[final]
    fused = census_x.shape == train_x.shape  # the same examples: one pass serves both
    train_loss, train_m, unit = evaluate(parts, params, train_x, train_y, act, fused)
    if not fused:
        unit = evaluate(parts, params, census_x, census_y, act, True)[2]
    test_loss, test_m, _ = evaluate(parts, params, test_x, test_y, act, False)
    inactive, dead, saturated = unit
    w = layer_norms(parts, params)
    values = {"train": train_m, "test": test_m}
    return Trace(
        step=jnp.asarray(t, jnp.int32),
        batch_loss=batch_loss,
        train_loss=train_loss,
        test_loss=test_loss,
        grad_norm=layer_norms(parts, grads),
        weight_norm=w,
        update_ratio=jnp.where(look, 0.0, layer_norms(parts, updates) / w),
        inactive=inactive,
        dead=dead,
        saturated=saturated,
        diverged=state.diverged_at >= 0,
        metrics={n: values[n.split("_", 1)[0]][n.split("_", 1)[1]] for n in metric_names(parts)},
    )


def init_params(parts: Parts, key, act) -> dict:
    """A model's initial parameters: the model's, and the slot's (one array per call)."""
    slot = Slot(parts.cfg.acts, act)
    x = parts.data.normalise(parts.data.x_train[:1])
    model = parts.model.init(key, x, slot)
    if not slot.widths:  # NNX and Equinox build without a forward pass
        jax.eval_shape(lambda: parts.model.apply(model, x, slot))
    return {"model": model, "act": slot.init_params()}


def create(parts: Parts, keys: Keys, act, lr=None) -> TrainState:
    """A model's initial state (nothing recorded: ``init`` adds the step-0 record)."""
    params = init_params(parts, keys.init, act)
    n = parts.data.x_train.shape[0]
    return TrainState(
        params, optimizer(parts, lr).init(params), keys.data, jnp.arange(n, dtype=jnp.int32),
        jnp.int32(-1),
    )  # fmt: skip


def init(parts: Parts, keys: Keys, act, lr=None):
    """A model's state and its step-0 record (the gradient of the first minibatch, before
    any update is applied): ``create``, then ``interval``'s look."""
    return interval(parts, create(parts, keys, act, lr), jnp.int32(0), act, lr, look=True)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]))


def interval(parts: Parts, state: TrainState, t0, act, lr, look=False):
    """Up to eval_every steps from t0, the last one traced, then an evaluation.

    ``look`` (a traced bool): no step is taken; the evaluation of the state as it is, with
    the gradient of the minibatch of step ``t0`` and a zero update (the step-0 record). The
    look is the interval's last step with its update withheld, so that the step-0 record
    needs no program of its own (one beside the training program doubled the compile)."""
    cfg = parts.cfg
    look = jnp.asarray(look)
    length = jnp.where(look, 0, jnp.clip(cfg.steps - t0, 0, cfg.eval_every))

    def plain(i, carry):
        s, total = carry
        s, loss, _, _ = step(parts, s, t0 + i, act, lr)
        return s, total + loss

    start = state
    state, total = jax.lax.fori_loop(0, length - 1, plain, (state, jnp.float32(0)))
    # the last step outside the loop, its gradient and update for the record: carried
    # through the loop instead, the update was written out at every step (the seed-001 MLP
    # trained 1.35x slower). The look is this step with its update withheld.
    last = t0 + jnp.maximum(length - 1, 0)
    state, loss, grads, updates = step(parts, state, last, act, lr, ~look)
    # parameters that went non-finite under a finite loss (rare: the next loss would be
    # non-finite too) fall back to the interval's start, the last checked finite point
    bad = ~_all_finite(state.params)
    state = state._replace(
        params=jax.tree.map(lambda a, b: jnp.where(bad, b, a), state.params, start.params),
        diverged_at=jnp.where(bad & (state.diverged_at < 0), t0, state.diverged_at),
    )
    batch_loss = (total + loss) / jnp.maximum(length, 1)
    args = (state, t0 + length, batch_loss, grads, updates)
    if not parts.thinned:
        return state, record(parts, *args, act, look=look)
    # t0 is shared by all models: an unbatched predicate, so one branch runs, not both
    return state, jax.lax.cond(
        t0 + length >= cfg.steps,
        lambda a: record(parts, *a, act, final=True, look=look),
        lambda a: record(parts, *a, act, final=False, look=look),
        args,
    )


def blank(parts: Parts) -> Trace:
    """The record of an interval past the end: nothing measured (NaN; step = steps)."""
    nan = lambda *shape: jnp.full(shape, jnp.nan, jnp.float32)
    layers, hidden = len(parts.shape.layers), parts.shape.hidden
    return Trace(
        step=jnp.int32(parts.cfg.steps),
        batch_loss=nan(),
        train_loss=nan(),
        test_loss=nan(),
        grad_norm=nan(layers),
        weight_norm=nan(layers),
        update_ratio=nan(layers),
        inactive=nan(hidden),
        dead=nan(hidden),
        saturated=nan(hidden),
        diverged=jnp.bool_(False),
        metrics={name: nan() for name in metric_names(parts)},
    )


def metric_names(parts: Parts) -> list[str]:
    """The trace's metric names, in ``record``'s order: ``train_X`` then ``test_X`` of each
    metric, accuracy first."""
    return [f"{split}_{m}" for m in metric_fns(parts) for split in ("train", "test")]


def advance(parts: Parts, state: TrainState, act, lr, t0, intervals: int, look=False, until=None):
    """``intervals`` evaluation records from step ``t0`` (traced: chunks share a compile).

    ``look`` (a traced bool): the first record is the state as it is (``interval``'s look:
    the step-0 record when ``t0`` is 0) and the intervals after it start at ``t0``.
    Intervals that would start at or past ``until`` (traced; default ``cfg.steps``) leave the
    state unchanged and record NaN (step = steps): ``until=0`` with ``look`` records step 0
    alone, in the program that trains the later chunks of ``intervals``.
    """
    cfg = parts.cfg
    empty = blank(parts)
    look = jnp.asarray(look)
    end = cfg.steps if until is None else jnp.minimum(until, cfg.steps)

    def body(s, k):
        first = look & (k == 0)
        start = t0 + jnp.maximum(k - look.astype(k.dtype), 0) * cfg.eval_every
        # the predicate is unbatched (t0, look and until are shared by all models): a real
        # cond, no work is done for intervals past the end
        return jax.lax.cond(
            first | (start < end),
            lambda s: interval(parts, s, start, act, lr, first),
            lambda s: (s, empty),
            s,
        )

    return jax.lax.scan(body, state, jnp.arange(intervals))


def train(parts: Parts, num_intervals: int, keys: Keys, act, lr=None):
    """The whole run of one model: its state and its records ``[evals]`` (step 0 first)."""
    state = create(parts, keys, act, lr)
    return advance(parts, state, act, lr, 0, num_intervals + 1, look=True)


# ----------------------------------------------------------------------------- assembly


def outputs_of(cfg: Config, data: Dataset) -> tuple[int, ...] | None:
    """The per-example output shape the loss needs on ``data`` (None: the model's own)."""
    return losses.outputs_for(losses.get(cfg.loss), data)


def parts_of(cfg: Config, data: Dataset) -> Parts:
    """``Parts`` of a configuration on ``data``: the model adapted, the loss, the census
    scales, the evaluation samples and the model's ``Shape``."""
    check_config(cfg, data)
    loss = losses.get(cfg.loss)
    pieces = activations.pieces(cfg.acts)
    model = adapters.adapt(cfg.model, outputs=outputs_of(cfg, data), pieces=pieces)

    def samples(final: bool):
        test, train_n, census_n = _limits(cfg, final)
        return (
            _eval_slices(data.x_test, data.y_test, test, cfg.eval_chunk),
            _eval_slices(data.x_train, data.y_train, train_n, cfg.eval_chunk),
            _eval_slices(data.x_train, data.y_train, census_n, cfg.eval_chunk),
        )

    points = {final: samples(final) for final in (False, True)}
    thinned = any(a[0].shape != b[0].shape for a, b in zip(points[False], points[True]))
    scales = census.scales(cfg.acts, cfg.dead_tol, cfg.saturation)
    parts = Parts(cfg, data, model, loss, scales, points, thinned, None)
    return parts._replace(shape=shape_of(parts))


def shape_of(parts: Parts) -> Shape:
    """The model's ``Shape`` (traced with abstract values: nothing computed): its layers in
    forward order (by the first operation that reads a group's parameters; the tree's
    order breaks ties), its slot calls, and its metrics, checked to be float scalars."""
    d = parts.data
    x = jax.ShapeDtypeStruct((2, *d.x_train.shape[1:]), d.x_train.dtype)
    slot = Slot(parts.cfg.acts, 0)
    params = jax.eval_shape(lambda x: _init_recorded(parts, x, slot), x)
    if not slot.widths:
        raise adapters.ContractError(
            f"the model never calls its activation slot: call act(z) where the activation "
            f"goes (__call__(self, x, act)); {adapters.ACCEPTED}"
        )
    _check_pieces(parts, x, slot.widths)
    groups = adapters.layers(params["model"])
    order = adapters.forward_order(
        lambda p, x, s: parts.model.apply(p, d.normalise(x), s),
        params["model"],
        x,
        lambda: Slot(parts.cfg.acts, 0),  # its parameters at their initial value
    )
    first = [min(order[i] for i in g.leaves) for g in groups]
    layers = tuple(g for _, _, g in sorted(zip(first, range(len(groups)), groups)))
    metrics = _check_outputs_and_metrics(parts, params, x)
    captured = jax.eval_shape(lambda p, x: forward(parts, p, x, 0, True)[1], params, x)
    units = sum(int(np.prod(c.h.shape)) + int(np.prod(c.z.shape)) for c in captured)
    units //= x.shape[0]
    return Shape(layers, len(slot.widths), metrics, params, units)


def _init_recorded(parts: Parts, x, slot: Slot) -> dict:
    """``init_params`` on an example batch ``x``, its slot calls recorded in ``slot``."""
    xn = parts.data.normalise(x)
    model = parts.model.init(jax.random.key(0), xn, slot)
    if not slot.widths:  # NNX and Equinox build without a forward pass
        parts.model.apply(model, xn, slot)
    return {"model": model, "act": slot.init_params()}


def _check_pieces(parts: Parts, x, widths: list[int]) -> None:
    """A model that ignores ``act.pieces`` gives the slot the same pre-activations with and
    without it (maxout units half as wide): refused. A model may change its unit count with
    ``pieces`` (the Transformer keeps its parameters, ``models.ffn_width``)."""
    k = activations.pieces(parts.cfg.acts)
    if k == 1:
        return
    plain = parts._replace(
        cfg=parts.cfg._replace(acts=("none",)),
        model=adapters.adapt(parts.cfg.model, outputs=outputs_of(parts.cfg, parts.data), pieces=1),
    )
    slot = Slot(("none",), 0)
    jax.eval_shape(lambda x: _init_recorded(plain, x, slot), x)
    same = [w * k == w1 for w, w1 in zip(widths, slot.widths)]
    if len(slot.widths) != len(widths) or any(same):
        raise adapters.ContractError(
            f"the model's layers before the activation do not widen with act.pieces "
            f"({', '.join(parts.cfg.acts)} need {k} pre-activations per unit: units "
            f"{slot.widths} became {widths}); make each layer before act(z) act.pieces times "
            "as wide, or leave maxout and the GLUs out"
        )


def _check_outputs_and_metrics(parts: Parts, params, x) -> tuple[str, ...]:
    """The model's outputs fit the loss; the study's metrics are float scalars. Returns
    the metric names traced on each sample."""
    d = parts.data
    y = jax.ShapeDtypeStruct((2, *d.y_train.shape[1:]), d.y_train.dtype)
    outputs = jax.eval_shape(lambda p, x: forward(parts, p, x, 0)[0], params, x)
    want = outputs_of(parts.cfg, d)
    if want is not None and tuple(outputs.shape) != (2, *want):
        raise adapters.ContractError(
            f"the model's outputs are {list(outputs.shape[1:])} per example; loss "
            f"{parts.loss.name!r} on this data needs {list(want)}"
        )
    loss = jax.eval_shape(parts.loss.fn, outputs, y)
    if getattr(loss, "shape", None) != ():
        raise ValueError(f"the loss must return a scalar, got shape {list(loss.shape)}")
    names = () if parts.loss.accuracy is None else ("accuracy",)
    own = parts.cfg.metrics
    if own is None:
        return names
    got = jax.eval_shape(own, outputs, y)
    if not isinstance(got, dict) or not got:
        raise ValueError(
            f"metrics must return a dict of float scalars {{name: value}}, got {type(got).__name__}"
        )
    for name, v in got.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"metric names must be identifiers, got {name!r}")
        if name in names:
            raise ValueError(f"metric name {name!r} is taken by the loss's own; rename it")
        if getattr(v, "shape", None) != () or not jnp.issubdtype(v.dtype, jnp.floating):
            what = f"{getattr(v, 'dtype', type(v).__name__)}{list(getattr(v, 'shape', []))}"
            raise ValueError(
                f"metric {name!r} must be a float scalar (the mean over the examples it is "
                f"given), got {what}"
            )
    return names + tuple(got)


def make_train(cfg: Config, data: Dataset) -> Train:
    """The pure per-model functions of ``cfg`` on ``data``.

    ``act`` indexes ``cfg.acts``: a Python int traces one activation; a traced int switches
    between all of them (parameter shapes then cover every choice). ``lr`` is used when
    ``cfg.optimizer`` is a function of the learning rate and ignored otherwise.
    """
    parts = parts_of(cfg, data)
    num_intervals = -(-cfg.steps // cfg.eval_every)
    return Train(
        init=functools.partial(init, parts),
        create=functools.partial(create, parts),
        params=functools.partial(init_params, parts),
        advance=functools.partial(advance, parts),
        train=functools.partial(train, parts, num_intervals),
        model=parts.model,
        num_intervals=num_intervals,
        layers=tuple(layer.name for layer in parts.shape.layers),
    )
