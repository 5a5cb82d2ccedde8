"""A study: every activation x every seed (x every learning rate) trained in one compiled call.

``Study(...).run()`` returns a ``Result`` whose arrays have named leading axes
``[acts, seeds, ...]`` (``[acts, lrs, seeds, ...]`` when ``lrs`` is given).

Two execution modes give the same models (``tests/test_study.py`` checks it):

* ``"grouped"`` (default): one ``vmap`` over seeds per activation, all in one ``jit``.
  Nothing is evaluated for an activation it does not use, and each activation keeps its
  natural parameter shapes (maxout's doubled layers). Activations whose parameters have the
  same shapes share one traced step (``_shared``): its activation is a traced scalar, a
  real conditional, and ``lax.map`` runs them one after another, so XLA compiles the step
  once, not once per activation. An activation alone in its class runs the same way (a map
  of one): the conditional also keeps it from being fused into narrow layers
  (``activations.apply``).
* ``"switch"``: one ``vmap`` over a traced activation index (``lax.switch``): every branch
  runs for every model; parameter shapes cover all choices.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from actlab import activations, distributed, execution, losses, outcome, warmstart
from actlab import layout as layouts
from actlab.data import Dataset
from actlab.slot import Slot
from actlab.train import (
    Config,
    Keys,
    Metrics,
    Optimizer,
    Parts,
    Trace,
    TrainState,
    check_curve,
    forward,
    parts_of,
    seed_keys,
    stack_traces,
)

MODES = ("grouped", "switch")
SEED_LOOPS = ("auto", "vmap", "map", "blocks")


@dataclasses.dataclass(frozen=True)
class Study:
    """What to train. Length is ``steps`` or ``epochs`` (of ``n_train // batch_size`` steps).

    ``evals`` evaluation points are spread evenly (``eval_every`` overrides). Each reads
    ``eval_examples`` test examples (None: all), ``train_eval_examples`` training examples
    and the census sample; with ``curve_examples``, the points before the last read at most
    that many of each (a pair: ``(test, train)``, each its own), the curves' cost; the last
    one reads the stated samples in full (``train.eval_sizes`` says how many; the report's
    captions too). ``seed`` is the base of every model's random streams; ``hold`` names
    streams ("init", "data") shared by all seeds. ``lrs`` sweeps the learning rate when
    ``optimizer`` is a function of it (e.g. ``optax.adam``); ``act_lrs`` instead gives each
    activation its own (in the order of ``activations``; ``actlab.selection`` picks them on
    a validation split).

    ``seed_loop`` is how a device runs its seeds: ``"map"`` one after another
    (``lax.map``): faster for models whose state is large next to the CPU cache (the
    784-256-128-10 MLP: ~3 MB each), far slower for tiny ones (deep XOR); ``"blocks"``:
    vectorised in blocks of ``block`` models (default: as many as fit a working set of
    ``layout.CACHE_BYTES``), one block after another, so that the cost stays linear in the
    number of models; ``"vmap"``: all at once. ``"auto"`` maps from
    ``layout.MAP_ABOVE_PARAMS`` parameters per model and runs blocks below. The block width
    comes from the model's shapes, never from the seed count, and the seeds are padded to
    whole blocks on every device (the padding never reaches a result or a checkpoint), so
    seed *i* trains to the same bits whatever the run's size (``actlab.layout``).
    ``actlab.plan(study)`` says what will be chosen; ``Run.layout`` holds it. The layouts
    train the same models to float rounding (``tests/test_study.py``); a forced one that
    differs from the default is named in the report.
    """

    model: nn.Module
    activations: Sequence[str]
    data: Dataset
    optimizer: Optimizer
    seeds: int = 10
    batch_size: int | None = 32
    epochs: float | None = None
    steps: int | None = None
    evals: int = 20
    eval_every: int | None = None
    loss: str | Callable = "softmax_ce"
    metrics: Metrics | None = None  # metrics(outputs, targets) -> {name: scalar}, traced
    goals: dict[str, str] | None = None  # {metric name: "max" | "min"}: which way is better
    lrs: Sequence[float] | None = None
    act_lrs: Sequence[float] | None = None  # each activation's own learning rate
    seed: int = 0
    hold: tuple[str, ...] = ()
    mode: str = "grouped"
    seed_loop: str = "auto"
    block: int | None = None  # models per block ("blocks", "auto"); None: from the working set
    eval_examples: int | None = None
    train_eval_examples: int = 10_000
    census_examples: int | None = None  # the unit census's sample (None: the train-eval one)
    # examples per split before the last point, or (test, train) (None: all)
    curve_examples: int | tuple[int, int] | None = None
    max_memory: int | None = None  # bytes per device for the models; more: chunks (``Run``)
    name: str = "study"

    def __post_init__(self):
        object.__setattr__(self, "activations", activations.resolve(self.activations))
        if not isinstance(self.seeds, (int, np.integer)) or self.seeds < 1:
            raise ValueError(f"seeds must be a positive integer, got {self.seeds!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; accepted: {', '.join(MODES)}")
        if self.seed_loop not in SEED_LOOPS:
            raise ValueError(
                f"unknown seed_loop {self.seed_loop!r}; accepted: {', '.join(SEED_LOOPS)}"
            )
        if self.block is not None and self.seed_loop in ("vmap", "map"):
            raise ValueError(
                f"block={self.block} is for seed_loop 'blocks' or 'auto', not {self.seed_loop!r}"
            )
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps= or epochs=")
        if self.lrs is not None and self.act_lrs is not None:
            raise ValueError("give lrs= (a sweep) or act_lrs= (one per activation), not both")
        swept = self.lrs if self.lrs is not None else self.act_lrs
        if swept is not None:
            what = "lrs" if self.lrs is not None else "act_lrs"
            if isinstance(self.optimizer, optax.GradientTransformation):
                raise ValueError(
                    f"{what}= needs optimizer to be a function of the learning rate, "
                    "e.g. optimizer=optax.adam, not optax.adam(1e-3)"
                )
            if len(swept) == 0 or not all(0 < float(lr) < math.inf for lr in swept):
                raise ValueError(f"{what} must be positive finite learning rates, got {swept!r}")
            if what == "act_lrs" and len(swept) != len(self.activations):
                raise ValueError(
                    f"act_lrs has {len(swept)} learning rates for {len(self.activations)} "
                    f"activations {self.activations}: give one per activation, in their order"
                )
            object.__setattr__(self, what, tuple(float(lr) for lr in swept))
        elif not isinstance(self.optimizer, optax.GradientTransformation):
            raise ValueError(
                "optimizer is a function of the learning rate: give lrs=(...) or "
                "act_lrs=(...), or pass a transformation such as optax.adam(1e-3)"
            )
        if self.evals < 1:
            raise ValueError(f"evals must be >= 1, got {self.evals}")
        _at_least_one(
            steps=self.steps,
            batch_size=self.batch_size,
            eval_every=self.eval_every,
            eval_examples=self.eval_examples,
            train_eval_examples=self.train_eval_examples,
            census_examples=self.census_examples,
            block=self.block,
            max_memory=self.max_memory,
        )
        check_curve(self.curve_examples)
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise ValueError(f"epochs must be a positive finite number, got {self.epochs!r}")
        losses.get(self.loss)  # a name it knows, or a function
        if self.metrics is not None and not callable(self.metrics):
            raise ValueError(
                "metrics must be a function metrics(outputs, targets) -> {name: scalar}, got "
                f"{type(self.metrics).__name__}"
            )
        outcome.check_goals(self.goals)
        if not set(self.hold) <= set(Keys._fields):
            raise ValueError(f"hold: unknown streams in {self.hold!r}; accepted: {Keys._fields}")

    @property
    def num_steps(self) -> int:
        if self.steps is not None:
            return int(self.steps)
        n = self.data.x_train.shape[0]
        per_epoch = n // (self.batch_size or n)
        return max(1, round(self.epochs * per_epoch))

    def config(self) -> Config:
        steps = self.num_steps
        every = self.eval_every or max(1, math.ceil(steps / self.evals))
        return Config(
            model=self.model,
            optimizer=self.optimizer,
            acts=self.activations,
            steps=steps,
            batch_size=self.batch_size,
            eval_every=every,
            loss=self.loss,
            metrics=self.metrics,
            eval_examples=self.eval_examples,
            train_eval_examples=self.train_eval_examples,
            census_examples=self.census_examples,
            curve_examples=self.curve_examples,
        )

    def replace(self, **changes) -> Study:
        return dataclasses.replace(self, **changes)

    def start(
        self,
        layout: layouts.Layout | None = None,
        store: warmstart.Store | None = None,
        chunk: int | None = None,
    ) -> Run:
        """Initialise every model and return a ``Run`` to advance in chunks; ``layout``
        default: ``actlab.plan(self)``; ``store``: where its programs are kept between
        processes (``actlab.warmstart``; default: traced in each); ``chunk``: the intervals
        each ``advance`` will run (default: all), whose program also records step 0, so
        that advancing by ``chunk`` compiles nothing more (another size compiles its own)."""
        return Run(self, layout, store, chunk)

    def run(self, chunk: int | None = None, callback: Callable[[Run], Any] | None = None):
        """Train every model to the end and return the ``Result``.

        ``chunk=None`` trains in one compiled call; ``chunk=k`` advances ``k`` evaluation
        intervals per call (one compilation serves all chunks) and calls ``callback(run)``
        after each, for progress bars and saving partial results.
        """
        r = self.start(chunk=chunk)
        while not r.done:
            r.advance(chunk)
            if callback is not None:
                callback(r)
        return r.result()


def _join(trees: list, axis: int):
    """Trees with the same structure concatenated leaf by leaf along ``axis`` (one: itself)."""
    if len(trees) == 1:
        return trees[0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis), *trees)


def _at_least_one(**fields) -> None:
    """Raise ``ValueError`` naming the first field that is given but not an integer >= 1."""
    for name, v in fields.items():
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {v!r}")


class Run:
    """A study in progress: device states, the traces so far, timings; advance in chunks.

    ``states`` is one stacked ``TrainState`` per activation group (grouped mode: one per
    activation, leading axes ``[lrs?, seeds]``; switch mode: one, ``[acts, lrs?, seeds]``),
    on the devices, padded to ``layout.slots`` seeds. With several model chunks
    (``max_memory``) they hold every seed, unpadded, in host memory, and each ``advance``
    runs the chunks (``layout.ranges`` of seeds) one after another through the same
    compiled program.
    """

    def __init__(
        self,
        study: Study,
        layout: layouts.Layout | None = None,
        store: warmstart.Store | None = None,
        chunk: int | None = None,
    ):
        self.study = study
        self.cfg = study.config()
        self.num_intervals = -(-self.cfg.steps // self.cfg.eval_every)
        # the step-0 record runs in the program of the chunks to come (one program, not two)
        self._first = self.num_intervals if chunk is None else int(chunk)
        if self._first < 1:
            raise ValueError(f"chunk must be >= 1 intervals, got {chunk!r}")
        self.axis = 2 + (study.lrs is not None)  # where the evals axis goes in a trace
        self.layout = layouts.plan(study) if layout is None else layout
        self.ranges, self.slots = self.layout.ranges, self.layout.slots
        # the layout decides the programs as much as the study does (its memory reading
        # does only through the chunks it chose, which are fields of their own)
        self.store = warmstart.narrowed(store, repr(self.layout._replace(memory=None)))
        self.programs = execution.assemble(study, self.layout)
        self._swept = [execution.swept(study, p) for p in self.programs]
        # the seeds axis of a group's states: after the activation (switch) and lr axes
        self._state_seeds = int(self.layout.switch) + int(study.lrs is not None)
        self._compiled: dict[tuple[int, int], Any] = {}
        self.timing = {"compile_s": 0.0, "train_s": 0.0, "model_chunks": len(self.ranges)}
        arrays = execution.data_arrays(study.data)
        parts = []
        for a, b in self.ranges:
            keys = execution.pad(seed_keys(b - a, study.seed, study.hold, first=a), 0, self.slots)
            outs = []
            for g, (program, swept) in enumerate(zip(self.programs, self._swept)):
                k, self._arrays = program.place(keys, arrays)
                role = ("init", g)
                init = self._timed_compile(program.init, k, swept, self._arrays, role=role)
                states = self._timed_run(init, k, swept, self._arrays)
                # the step-0 record: advance's look, in the program of the run's chunks
                outs.append(self._advance_group(g, states, 0, True, self._first))
            states, first = self._gather(outs)
            self._placement = jax.tree.map(lambda x: x.sharding, states)
            parts.append((self._park(states, a, b), self._real_trace(first, b - a)))
        self.states = _join([p[0] for p in parts], self._state_seeds)
        first = _join([p[1] for p in parts], self.axis - 1)
        self.traces = [jax.tree.map(lambda a: np.asarray(a).take([0], self.axis), first)]
        self.intervals_done = 0

    def _gather(self, outs: list) -> tuple[list[TrainState], Any]:
        """The groups' (states, trace) in the study's activation order: one state per
        activation (switch mode: the one), the trace ``[acts, ...]`` on this host."""
        if self.layout.switch:
            return outs[0]
        states: dict[int, TrainState] = {}
        traces: dict[int, Any] = {}
        for program, (group_states, trace) in zip(self.programs, outs):
            trace = distributed.to_host(trace)
            for j, g in enumerate(program.members):
                states[g] = group_states[j]
                traces[g] = jax.tree.map(lambda a, j=j: np.asarray(a)[j], trace)
        order = range(len(self.study.activations))
        trace = jax.tree.map(lambda *a: np.stack(a), *(traces[g] for g in order))
        return [states[g] for g in order], trace

    def _split(self, states: list[TrainState]) -> list[list[TrainState]]:
        """The states each group's program takes (``_gather``'s inverse)."""
        if self.layout.switch:
            return [states]
        return [[states[g] for g in p.members] for p in self.programs]

    def _real_trace(self, trace, seeds: int):
        """A trace on this host without the padding slots: ``[acts, lrs?, seeds, ...]``."""
        return execution.unpad(distributed.to_host(trace), self.axis - 1, seeds)

    def _park(self, states: list[TrainState], a: int, b: int) -> list[TrainState]:
        """A chunk's device states (seeds ``a:b``): as they are when there is one chunk,
        else unpadded into host memory, so that one chunk at a time holds the device."""
        if len(self.ranges) == 1:
            return states
        real = execution.unpad(distributed.to_host(states), self._state_seeds, b - a)
        return jax.device_put(real, jax.local_devices(backend="cpu")[0])

    def _chunk(self, a: int, b: int) -> list[TrainState]:
        """Seeds ``a:b`` of the parked states, padded and placed as the program expects."""
        ax = self._state_seeds
        part = jax.tree.map(lambda x: x[(slice(None),) * ax + (slice(a, b),)], self.states)
        return distributed.put(execution.pad(part, ax, self.slots), self._placement)

    def real_states(self) -> list[TrainState]:
        """The states of the study's own seeds (the padding slots cut off), on this host
        when they span processes (a gathering point: every process calls it alike)."""
        if len(self.ranges) > 1:
            return self.states
        states = distributed.to_host(self.states)
        return execution.unpad(states, self._state_seeds, self.study.seeds)

    def set_states(self, states: list[TrainState]) -> None:
        """Take the study's own seeds' states (as ``real_states`` gives them), padded again
        and placed as the current ones (a checkpoint of any device count or chunking)."""
        if len(self.ranges) > 1:
            self.states = jax.device_put(states, jax.local_devices(backend="cpu")[0])
            return
        padded = execution.pad(states, self._state_seeds, self.slots)
        self.states = distributed.put(padded, self._placement)

    def _timed_compile(self, fn, *args, static: tuple = (), role: tuple = ()):
        t = time.perf_counter()
        store = warmstart.narrowed(self.store, *role)
        compiled = execution.compile_once(fn, *args, static=static, store=store)
        self.timing["compile_s"] += time.perf_counter() - t
        return compiled

    def _timed_run(self, compiled, *args):
        t = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        self.timing["train_s"] += time.perf_counter() - t
        return out

    def _advance_group(self, g: int, states, t0, look: bool, k: int):
        """Group ``g``'s program of ``k`` intervals (compiled once per ``k``) on its
        ``states``: (states, traces); with ``look`` only the step-0 record."""
        program = self.programs[g]
        until = 0 if look else self.cfg.steps
        when = (jnp.int32(t0), jnp.bool_(look), jnp.int32(until))
        args = (states, self._swept[g], self._arrays, *when)
        if (g, k) not in self._compiled:
            self._compiled[g, k] = self._timed_compile(
                program.advance, *args, static=(k,), role=("advance", g)
            )
        return self._timed_run(self._compiled[g, k], *args)

    @property
    def done(self) -> bool:
        return self.intervals_done >= self.num_intervals

    @property
    def steps_done(self) -> int:
        return min(self.intervals_done * self.cfg.eval_every, self.cfg.steps)

    def advance(self, intervals: int | None = None) -> None:
        """Run the next ``intervals`` evaluation intervals (default: all that remain).

        Every call with the same ``intervals`` reuses one compilation.
        """
        left = self.num_intervals - self.intervals_done
        k = left if intervals is None else int(intervals)
        if k < 1:
            raise ValueError(f"intervals must be >= 1, got {intervals!r}")
        t0 = jnp.int32(self.intervals_done * self.cfg.eval_every)
        done, traces = [], []
        for a, b in self.ranges:  # one chunk on the device at a time
            states = self.states if len(self.ranges) == 1 else self._chunk(a, b)
            outs = [
                self._advance_group(g, group, t0, False, k)
                for g, group in enumerate(self._split(states))
            ]
            states, tr = self._gather(outs)
            done.append(self._park(states, a, b))
            traces.append(self._real_trace(tr, b - a))
        self.states = _join(done, self._state_seeds)
        tr = _join(traces, self.axis - 1)
        keep = min(k, left)
        self.traces.append(jax.tree.map(lambda a: np.asarray(a).take(range(keep), self.axis), tr))
        self.intervals_done += keep

    def result(self) -> Result:
        trace = stack_traces(self.traces, self.axis)
        states = self.real_states()
        return Result(self.study, self.cfg, trace, states, dict(self.timing), self.layout)


class TrainedModel:
    """One model pulled out of the stack, usable alone: ``model(x) -> outputs``.

    ``params``: ``{"model": ..., "act": [...]}`` (``TrainState.params``); ``act``: its index
    into the activations its program chooses from."""

    def __init__(self, parts: Parts, params, act: int):
        self.parts, self.params, self.act = parts, params, act

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: [batch, *input_shape] raw (as stored in the Dataset) -> [batch, outputs]."""
        return forward(self.parts, self.params, jnp.asarray(x), self.act)[0]

    def apply(self, params, x: jax.Array) -> jax.Array:
        """The model with ``params`` (this one's structure) on inputs ``x`` already
        normalised, in their own dtype (float64 for a gradient check)."""
        slot = Slot(self.parts.cfg.acts, self.act, params["act"] or None)
        return self.parts.model.apply(params["model"], x, slot)


@dataclasses.dataclass
class Result:
    """Everything a study produced. Arrays are numpy with leading axes ``[acts, seeds]``
    (``[acts, lrs, seeds]`` with an lr sweep), then ``evals``, then ``layers`` where present.
    """

    study: Study
    config: Config
    trace: Trace
    states: list[TrainState]
    timing: dict
    layout: layouts.Layout | None = None  # how the models were laid out (actlab.plan)

    @property
    def activations(self) -> tuple[str, ...]:
        return self.study.activations

    @property
    def steps(self) -> np.ndarray:
        """[evals] steps done at each evaluation point."""
        return self.trace.step.reshape(-1, self.trace.step.shape[-1])[0]

    @property
    def grad_norms(self) -> np.ndarray:
        """[acts, seeds, evals, layers] L2 norm of each layer's gradient."""
        return self.trace.grad_norm

    @property
    def diverged_at(self) -> np.ndarray:
        """[acts, seeds] step at which a model first went non-finite, -1 if never."""
        return np.asarray(
            np.concatenate([np.asarray(s.diverged_at)[None] for s in self.states])
            if self.study.mode == "grouped"
            else self.states[0].diverged_at
        )

    @property
    def diverged(self) -> np.ndarray:
        """[acts, seeds] bool."""
        return self.diverged_at >= 0

    def curve(self, metric: str) -> np.ndarray:
        """[acts, seeds, evals, ...] of a traced metric (a ``Trace`` field name)."""
        if metric not in self.trace.names():
            names = ", ".join(self.trace.names())
            raise ValueError(f"unknown metric {metric!r}; accepted: {names}")
        return getattr(self.trace, metric)

    def final(self, metric: str, *, diverged_as: str | None = None) -> np.ndarray:
        """[acts, (lrs), seeds, ...] the metric at the last evaluation point, each diverged
        run's value set by ``diverged_as`` (``actlab.outcome``): by default a failed run's
        declared outcome (chance accuracy, +inf loss); ``"exclude"`` NaN; ``"frozen"`` the
        raw value of the frozen model."""
        c = self.curve(metric).take(-1, axis=2 + (self.study.lrs is not None))
        classes, goals = self.study.data.num_classes, self.study.goals
        return outcome.apply(c, self.diverged, metric, classes, diverged_as, goals=goals)

    def _index(self, activation: str | int, seed: int, lr: int | None) -> tuple:
        """(index into ``activations``, position of the model in its group's stack)."""
        acts = self.activations
        if isinstance(activation, str):
            name = activations.get(activation).name
            if name not in acts:
                raise ValueError(f"activation {activation!r} is not in this study: {acts}")
            a = acts.index(name)
        else:
            a = int(activation)
        if not 0 <= a < len(acts):
            raise ValueError(f"activation index {activation} out of range for {acts}")
        if not 0 <= seed < self.study.seeds:
            raise ValueError(f"seed {seed} out of range: the study has {self.study.seeds}")
        if (lr is None) != (self.study.lrs is None):
            raise ValueError("give lr= (an index into lrs) exactly when the study sweeps lrs")
        return a, (() if lr is None else (lr,)) + (seed,)

    def model(self, activation: str | int, seed: int, lr: int | None = None) -> TrainedModel:
        """The trained model for ``activation`` (a name, or an index into ``activations``)
        and ``seed`` (and lr index), alone. Its ``act`` is the index its module takes."""
        a, idx = self._index(activation, seed, lr)
        if self.study.mode == "grouped":
            group, pos, acts = self.states[a], idx, (self.activations[a],)
            act_index = 0
        else:
            group, pos, acts = self.states[0], (a, *idx), self.activations
            act_index = a
        params = jax.tree.map(lambda p: p[pos], group.params)
        parts = parts_of(self.config._replace(acts=acts), self.study.data)
        return TrainedModel(parts, params, act_index)
