"""How a study's models are laid out on the machine: the vmap / lax.map / shard_map / jit nest.

``build(trains, layout, acts)`` takes the per-model functions of each activation group
(``make_train`` of the data arrays, so the data enter the program as arguments, not as
constants) and a ``layout.Layout`` (every layout decision, made by ``layout.plan``), and
returns a ``Program``: the jitted ``init`` and ``advance`` over every model at once.
``assemble(study, layout)`` does both for a study. The nest, inside out:

* each device's seed slots in blocks of ``layout.block`` models (``vmap`` inside a block,
  ``lax.map`` over blocks; 1: one model at a time; None: all at once);
* learning rates (``layout.lr_axis``) one after another (``lax.map``), so a model's rounding
  does not depend on how many rates are swept;
* switch mode: a ``vmap`` over the activation index; grouped mode: one traced step per
  activation group (``layout.members``), its activations one after another;
* the seed slots split over ``layout.devices`` devices (``shard_map``), each training its
  own with no communication.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from actlab import distributed, warmstart
from actlab.train import Train, make_train, seed_keys

P = jax.sharding.PartitionSpec


_COMPILED: collections.OrderedDict = collections.OrderedDict()
COMPILED_KEPT = 16  # programs kept in memory for reuse (the persistent cache keeps the rest)
# XLA removes a loop that runs once and fuses its body into what surrounds it: a reduction
# there (a gradient norm) then rounds otherwise than in the same body run in a loop, so an
# activation alone in its traced step, or a device with one block of models, would train a
# model other than the same one beside others. Kept as loops, every model's program is the
# same whatever the run's size (tests/test_invariance.py); throughput measured unchanged
# (deep XOR 2.31 against 2.32 M model-steps/s, the seed-001 MLP within noise).
COMPILER_OPTIONS = {"xla_disable_hlo_passes": "simplify-while-loops"}


def compile_once(fn, *args, static: tuple = (), store: warmstart.Store | None = None):
    """``fn.lower(*args, *static).compile()`` (``static``: ``fn``'s static arguments, last),
    reused while this process holds the same program; the compiled function takes ``args``.

    A re-run of a study in the same process (a notebook cell run again, a sweep over studies
    that share a shape) builds new ``jit`` objects, which JAX's own cache does not recognise;
    the lowered program's text does. Lowering is cheap next to XLA's compile (seconds to
    minutes for a study on a CPU). The persistent cache (``runtime.use_compilation_cache``)
    serves new processes; with a ``store`` (``actlab.warmstart``) they skip tracing too.
    """
    if store is not None:
        key = warmstart.program_key(store, args, static)
        if key not in _COMPILED:
            _COMPILED[key] = warmstart.compile_stored(store, fn, args, static, COMPILER_OPTIONS)
        return _kept(key)
    lowered = fn.lower(*args, *static)
    # jit drops unused arguments from the program's text, so the text alone would serve a
    # program compiled for other argument shapes (an unused lr of another shape)
    avals = [(np.shape(a), str(getattr(a, "dtype", type(a)))) for a in jax.tree.leaves(args)]
    key = hashlib.sha256(f"{lowered.as_text()}{jax.tree.structure(args)}{avals}".encode())
    key = key.hexdigest()
    if key not in _COMPILED:
        _COMPILED[key] = lowered.compile(COMPILER_OPTIONS)
    return _kept(key)


def _kept(key):
    """``_COMPILED[key]``, now the most recently used; the least recently used beyond
    ``COMPILED_KEPT`` are let go."""
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > COMPILED_KEPT:
        _COMPILED.popitem(last=False)
    return _COMPILED[key]


def peak_bytes(compiled) -> int | None:
    """The peak bytes one device takes to run ``compiled`` (``memory_analysis()``: its peak
    where the backend reports one, else arguments + outputs + temporaries less the outputs
    that reuse arguments), or None where the backend does not say."""
    try:
        m = compiled.memory_analysis()
    except (NotImplementedError, RuntimeError):
        return None
    if m is None:
        return None
    peak = getattr(m, "peak_memory_in_bytes", 0)
    if peak:
        return int(peak)
    sizes = ("argument", "output", "temp")
    return int(sum(getattr(m, f"{k}_size_in_bytes") for k in sizes) - m.alias_size_in_bytes)


class Swept(NamedTuple):
    """What a group's models sweep besides the seeds, an argument of its program (never a
    constant: XLA folds a constant activation index and removes the conditional, fusing the
    activation into its neighbours, which rounds a model otherwise than beside others).

    ``index``: each member activation's index into the group's activations, ``[members]``;
    ``lrs``: the group's learning rates: the sweep ``[lrs]``, each member's own
    ``[members]`` (``act_lrs``), or a placeholder 0 (the optimizer is a transformation).
    """

    index: jax.Array
    lrs: jax.Array


class Program(NamedTuple):
    """The compiled-once functions of one activation group (``layout.members``), over every
    seed slot of a chunk; one per group, so a group's arithmetic cannot depend on the other
    groups of the study (it did when all were one program: ``tests/test_invariance.py``).

    ``init(keys, swept, arrays) -> states``: one ``TrainState`` per member activation
    (grouped mode; switch mode: one for all), nothing recorded.
    ``advance(states, swept, arrays, t0, look, until, intervals) -> (states, traces)``:
    ``intervals`` (static) evaluation records from step ``t0``, traces ``[members, lrs?,
    seeds, intervals]``, intervals from ``until`` on left blank (``train.advance``); ``look``
    (a bool array) makes the first the record of the states as they are: the step-0 record
    is ``advance(init(...), ..., 0, True, 0, k)``, the program of every later chunk of ``k``
    intervals (one program per study, not two).
    ``place(keys, arrays)``: the inputs put where the program expects them.
    ``members``: the study's activations it trains, in order.
    """

    init: Callable
    advance: Callable
    place: Callable
    members: tuple[int, ...]


def mesh_for(devices: int) -> jax.sharding.Mesh | None:
    """A 1-D mesh over the first ``devices`` devices of every process, or None for one.

    Models are independent, so the partitioned program needs no communication. On a CPU,
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes N host devices, one thread
    each, which runs many small models in parallel better than intra-op threading does.
    """
    if devices < 2:
        return None
    return jax.sharding.Mesh(np.array(jax.devices()[:devices]), ("seeds",))


def pad(tree, axis: int, to: int):
    """Every leaf extended along ``axis`` to length ``to`` by repeating its last entry."""

    def one(x):
        n = x.shape[axis]
        if n >= to:
            return x
        index = np.minimum(np.arange(to), n - 1)  # indexing works on key arrays too
        return x[(slice(None),) * axis + (index,)]

    return jax.tree.map(one, tree)


def unpad(tree, axis: int, n: int):
    """Every leaf cut to its first ``n`` entries along ``axis`` (the real seeds)."""
    cut = lambda x: x if x.shape[axis] == n else x[(slice(None),) * axis + (slice(0, n),)]
    return jax.tree.map(cut, tree)


def over_models(
    fn, n_rest: int, *, lr_axis: bool, act_axis: bool, state_in: bool, block, lr_per_act=False
):
    """Map ``fn(x, act, lr, *rest)`` over seeds (``vmap`` when ``block`` is None, else
    ``lax.map`` in blocks of ``block`` models), then over lrs one after another, then
    (switch mode) vmap over activations, the lr with them when ``lr_per_act`` (each
    activation its own).

    ``x`` is a model's ``Keys`` (mapped over seeds only) or its ``TrainState`` (mapped over
    every axis); ``rest`` is shared by all models.
    """
    rest = (None,) * n_rest
    outer = 0 if state_in else None
    if block is not None:
        size = None if block == 1 else block  # lax.map's plain loop needs no inner vmap
        f = lambda x, *args: jax.lax.map(lambda xi: fn(xi, *args), x, batch_size=size)
    else:
        f = jax.vmap(fn, in_axes=(0, None, None, *rest))
    if lr_axis:  # a loop, not a vmap: its width would change each model's rounding
        per_lr = f
        if state_in:
            f = lambda x, a, lrs, *r: jax.lax.map(lambda xl: per_lr(xl[0], a, xl[1], *r), (x, lrs))
        else:
            f = lambda x, a, lrs, *r: jax.lax.map(lambda lr: per_lr(x, a, lr, *r), lrs)
    if act_axis:
        f = jax.vmap(f, in_axes=(outer, 0, 0 if lr_per_act else None, *rest))
    return f


def build(train_of: Callable[[tuple, int], Train], layout) -> list[Program]:
    """One ``Program`` per activation group of ``layout`` (``layout.Layout``; switch mode:
    one); ``train_of(arrays, g)`` is group ``g``'s ``Train`` on the data ``arrays``.

    A group serving several activations (their parameters have the same shapes) is traced
    once, its activation a traced scalar (``lax.switch`` on an unbatched index is a real
    conditional: only the chosen branch runs), and ``lax.map`` runs its activations one
    after another through that one body: XLA compiles the step once for them all rather
    than once per activation. A group of one runs the same way (a map of one), since the
    conditional is also what keeps the activation from being fused into, and recomputed in,
    narrow layers. The states stay one per activation."""
    return [_group(lambda a, g=g: train_of(a, g), m, layout) for g, m in enumerate(layout.members)]


def _group(train_of: Callable[[tuple], Train], members, layout) -> Program:
    switch = layout.switch
    models = dict(
        lr_axis=layout.lr_axis, act_axis=switch, block=layout.block, lr_per_act=layout.lr_per_act
    )
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)

    def each(fn, swept: Swept, states=None):
        """``fn(state, act, lr)`` for every member (``state`` None in init), one after
        another through one body; states back as a list, traces ``[members, ...]``."""
        if switch:
            states, trace = fn(None if states is None else states[0], swept.index, swept.lrs)
            return [states], trace
        lrs = swept.lrs
        if not layout.lr_per_act:  # the sweep (or the placeholder) for every member
            lrs = jnp.broadcast_to(lrs, (len(members), *lrs.shape))
        s = None if states is None else stack(states)
        states, trace = jax.lax.map(lambda x: fn(*x), (s, swept.index, lrs))
        return [jax.tree.map(lambda a, j=j: a[j], states) for j in range(len(members))], trace

    def init(keys, swept, arrays):
        f = over_models(train_of(arrays).create, 0, state_in=False, **models)
        return each(lambda _, a, lr: (f(keys, a, lr), None), swept)[0]

    def advance(states, swept, arrays, t0, look, until, intervals):
        t = train_of(arrays)
        step = lambda s, a, lr, *when: t.advance(s, a, lr, when[0], intervals, *when[1:])
        f = over_models(step, 3, state_in=True, **models)
        return each(lambda s, a, lr: f(s, a, lr, t0, look, until), swept, states)

    mesh = mesh_for(layout.devices)
    if mesh is None:
        place = lambda *a: a
        return Program(jax.jit(init), jax.jit(advance, static_argnums=6), place, tuple(members))

    # each device trains its own seeds: an explicit per-device program, no communication
    state_spec = P(*[None] * (int(switch) + int(layout.lr_axis)), "seeds")
    trace_spec = P(*[None] * (1 + int(layout.lr_axis)), "seeds")

    def smap(f, ins, outs=(state_spec, trace_spec)):
        return jax.shard_map(f, mesh=mesh, in_specs=ins, out_specs=outs, check_vma=False)

    def advance_sharded(states, swept, arrays, t0, look, until, intervals):
        body = lambda s, sw, a, *when: advance(s, sw, a, *when, intervals)
        ins = (state_spec, P(), P(), P(), P(), P())
        return smap(body, ins)(states, swept, arrays, t0, look, until)

    def place(keys, arrays) -> tuple[Any, Any]:
        seeds, shared = (jax.sharding.NamedSharding(mesh, p) for p in (P("seeds"), P()))
        on = lambda tree, sharding: jax.tree.map(lambda _: sharding, tree)
        return distributed.put(keys, on(keys, seeds)), distributed.put(arrays, on(arrays, shared))

    init_sharded = jax.jit(smap(init, (P("seeds"), P(), P()), state_spec))
    advance_jit = jax.jit(advance_sharded, static_argnums=6)
    return Program(init_sharded, advance_jit, place, tuple(members))


def data_arrays(d) -> tuple:
    """The arrays a program takes (``Dataset`` fields), in its order."""
    return (d.x_train, d.y_train, d.x_test, d.y_test)


def swept(study, program: Program) -> Swept:
    """``program``'s ``Swept`` argument: its members' indices into its activations, and the
    learning rates: the sweep ``[lrs]``, its members' own ``[members]`` (``act_lrs``), or a
    placeholder 0."""
    m = list(program.members)
    if study.lrs is not None:
        lrs = jnp.asarray(study.lrs, jnp.float32)
    elif study.act_lrs is not None:
        lrs = jnp.asarray(np.asarray(study.act_lrs)[m], jnp.float32)
    else:
        lrs = jnp.float32(0.0)
    return Swept(jnp.arange(len(m), dtype=jnp.int32), lrs)


def assemble(study, layout) -> list[Program]:
    """The ``Program`` of each activation group of ``study`` laid out by ``layout``: one
    ``make_train`` per group, the data arrays arguments of the program."""
    cfg, data = study.config(), study.data

    def train_of(arrays, g: int) -> Train:
        d = data._replace(x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
        return make_train(
            cfg._replace(acts=tuple(study.activations[i] for i in layout.members[g])), d
        )

    return build(train_of, layout)


def probe(study, layout) -> list[jax.stages.Lowered]:
    """The lowered program of one evaluation interval of every model of ``layout``'s first
    chunk, per activation group (shapes only: nothing compiled or run), for their memory."""
    keys = seed_keys(layout.chunk_seeds, study.seed, study.hold)
    out = []
    for program in assemble(study, layout):
        k, arrays = program.place(pad(keys, 0, layout.slots), data_arrays(study.data))
        sweep = swept(study, program)
        states = program.init.eval_shape(k, sweep, arrays)
        when = (jnp.int32(0), jnp.bool_(False), jnp.int32(study.config().steps))
        out.append(program.advance.lower(states, sweep, arrays, *when, 1))
    return out
