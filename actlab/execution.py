"""How a study's models are laid out on the machine: the vmap / lax.map / shard_map / jit nest.

``build(trains, ...)`` takes the per-model functions of each activation group (``make_train``
of the data arrays, so the data enter the program as arguments, not as constants) and returns
a ``Program``: the jitted ``init`` and ``advance`` over every model at once. The layout is all
static choices, made here and nowhere else:

* ``switch``: one group whose activation index is an axis (``vmap``), or one group per
  activation with the activation static inside (grouped mode; their results are stacked);
* ``lr_axis``: a ``vmap`` over learning rates;
* ``block``: each device's seeds vectorised (``vmap``, ``None``), or in blocks of ``block``
  models run one block after another (``lax.map`` with a batch size; 1: one by one), so
  that a block's working set stays in cache (``block_for``);
* ``mesh``: seeds split over devices (``shard_map``), each device training its own with no
  communication, or None for one device.

A new layout (a mesh over many processes, models in memory-bounded chunks) is a new choice
here; ``Run`` only holds state and time.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from actlab import distributed
from actlab.train import Train

P = jax.sharding.PartitionSpec


_COMPILED: collections.OrderedDict = collections.OrderedDict()
COMPILED_KEPT = 16  # programs kept in memory for reuse (the persistent cache keeps the rest)


def compile_once(fn, *args):
    """``fn.lower(*args).compile()``, reused while this process holds the same program.

    A re-run of a study in the same process (a notebook cell run again, a sweep over studies
    that share a shape) builds new ``jit`` objects, which JAX's own cache does not recognise;
    the lowered program's text does. Lowering is cheap next to XLA's compile (seconds to
    minutes for a study on a CPU). The persistent cache (``runtime.use_compilation_cache``)
    serves new processes.
    """
    lowered = fn.lower(*args)
    key = hashlib.sha256(lowered.as_text().encode()).hexdigest()
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key]
    compiled = _COMPILED[key] = lowered.compile()
    while len(_COMPILED) > COMPILED_KEPT:
        _COMPILED.popitem(last=False)
    return compiled


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


class Program(NamedTuple):
    """The compiled-once functions of a study (arrays stacked over every model).

    ``init(keys, lrs, arrays) -> (states, trace)``: ``states`` one ``TrainState`` per group,
    ``trace`` the step-0 record ``[acts, lrs?, seeds]``.
    ``advance(states, lrs, arrays, t0, intervals) -> (states, traces)``: ``intervals``
    (static) evaluation intervals from step ``t0``, traces ``[acts, lrs?, seeds, intervals]``.
    ``place(keys, arrays)``: the inputs put where the program expects them.
    """

    init: Callable
    advance: Callable
    place: Callable


def mesh_for(seeds: int, devices: Sequence | None = None) -> jax.sharding.Mesh | None:
    """A 1-D mesh over the devices of every process (no more of them than there are
    seeds), or None for one. Seeds that do not divide evenly are padded to a multiple
    (``slots``, ``pad``).

    Models are independent, so the partitioned program needs no communication. On a CPU,
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes N host devices, one thread
    each, which runs many small models in parallel better than intra-op threading does.
    """
    devices = jax.devices() if devices is None else list(devices)  # every process's
    n = min(len(devices), int(seeds))
    if n < 2:
        return None
    return jax.sharding.Mesh(np.array(devices[:n]), ("seeds",))


def slots(seeds: int, mesh: jax.sharding.Mesh | None) -> int:
    """Models per activation (and lr) as laid out: ``seeds`` padded to a multiple of the
    mesh. The padding trains copies of the last seed and never leaves ``Run``."""
    n = 1 if mesh is None else mesh.size
    return -(-int(seeds) // n) * n


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


CACHE_BYTES = 1 << 20  # a block's working set: ~ a core's L2 (deep XOR: 50 models measured best)


def block_for(seeds: int, bytes_per_model: int, budget: int = CACHE_BYTES) -> int | None:
    """Models per block for ``seeds`` models on a device, each touching ``bytes_per_model``
    per step: about ``budget // bytes_per_model``, a divisor of ``seeds`` where one lies
    within a factor 2 (a remainder block is a second traced copy of the program). ``None``
    when every model fits at once (plain ``vmap``)."""
    target = max(1, budget // max(1, bytes_per_model))
    if target >= seeds:
        return None
    divisors = [b for b in range(target, max(1, target // 2) - 1, -1) if seeds % b == 0]
    return divisors[0] if divisors else target


def over_models(
    fn, n_rest: int, *, lr_axis: bool, act_axis: bool, state_in: bool, block, lr_per_act=False
):
    """Map ``fn(x, act, lr, *rest)`` over seeds (``vmap`` when ``block`` is None, else
    ``lax.map`` in blocks of ``block`` models), then vmap over lrs, then (switch mode) over
    activations, the lr with them when ``lr_per_act`` (each activation its own).

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
    if lr_axis:
        f = jax.vmap(f, in_axes=(outer, None, 0, *rest))
    if act_axis:
        f = jax.vmap(f, in_axes=(outer, 0, 0 if lr_per_act else None, *rest))
    return f


def build(
    trains: Callable[[tuple], list[Train]],
    *,
    acts: int,
    switch: bool,
    lr_axis: bool,
    block: int | None,
    mesh: jax.sharding.Mesh | None,
    lr_per_act: bool = False,
    members: Sequence[Sequence[int]] | None = None,
) -> Program:
    """The ``Program`` of a study with ``acts`` activations; ``trains(arrays)`` gives one
    ``Train`` per group (one group in switch mode, one per activation otherwise); ``block``
    models per block on each device (``over_models``). ``lr_per_act``: ``lrs`` is ``[acts]``,
    each activation's own learning rate (grouped mode hands group ``g`` its ``lrs[g]``).

    ``members`` (grouped mode): for each ``Train`` the activations (indices) it serves, in
    order; default one each. A ``Train`` serving several (their parameters have the same
    shapes) is traced once, its activation a traced scalar (``lax.switch`` on an unbatched
    index is a real conditional: only the chosen branch runs), and ``lax.map`` runs its
    activations one after another through that one body. XLA then compiles the step once
    for them all rather than once per activation. A ``Train`` serving one runs the same way
    (a map of one), since the conditional is also what keeps the activation from being
    fused into, and recomputed in, narrow layers. The states stay one per activation."""
    layout = dict(lr_axis=lr_axis, act_axis=switch, block=block, lr_per_act=lr_per_act)
    if switch:
        members = [range(acts)]
    members = [list(m) for m in (members or [[g] for g in range(acts)])]

    def stack(traces):
        return jax.tree.map(lambda *a: jnp.stack(a), *traces)

    def lr_of(lrs, m):
        return lrs[jnp.asarray(m)] if lr_per_act else jnp.broadcast_to(lrs, (len(m), *lrs.shape))

    def each(fn, m, lrs, states=None):
        """``fn(state, act, lr)`` for the activations ``m`` of one Train (``state`` None in
        init): one body mapped over them, the activation a traced index (also for one: see
        ``activations.apply``); stacked ``[m]`` (switch mode: its one group as it is)."""
        if switch:
            return fn(None if states is None else states[0], jnp.arange(acts), lrs)
        s = None if states is None else stack([states[g] for g in m])
        return jax.lax.map(lambda x: fn(*x), (s, jnp.arange(len(m)), lr_of(lrs, m)))

    def regroup(outs):
        """Per-Train outputs -> states in activation order, traces stacked ``[acts, ...]``."""
        if switch:
            return [outs[0][0]], outs[0][1]
        flat = {}
        for m, out in zip(members, outs):
            for j, g in enumerate(m):
                flat[g] = jax.tree.map(lambda a, j=j: a[j], out)
        return [flat[g][0] for g in range(acts)], stack([flat[g][1] for g in range(acts)])

    def init_all(keys, lrs, arrays):
        outs = []
        for t, m in zip(trains(arrays), members):
            f = over_models(t.init, 0, state_in=False, **layout)
            outs.append(each(lambda _, a, lr, f=f: f(keys, a, lr), m, lrs))
        return regroup(outs)

    def advance_all(states, lrs, arrays, t0, intervals):
        outs = []
        for t, m in zip(trains(arrays), members):
            step = lambda s, a, lr, t0, t=t: t.advance(s, a, lr, t0, intervals)
            f = over_models(step, 1, state_in=True, **layout)
            outs.append(each(lambda s, a, lr, f=f: f(s, a, lr, t0), m, lrs, states))
        return regroup(outs)

    if mesh is None:
        return Program(jax.jit(init_all), jax.jit(advance_all, static_argnums=4), lambda *a: a)

    # each device trains its own seeds: an explicit per-device program, no communication
    state_spec = P(*[None] * (int(switch) + int(lr_axis)), "seeds")
    trace_spec = P(*[None] * (1 + int(lr_axis)), "seeds")

    def smap(f, ins):
        return jax.shard_map(
            f, mesh=mesh, in_specs=ins, out_specs=(state_spec, trace_spec), check_vma=False
        )

    def advance_sharded(states, lrs, arrays, t0, intervals):
        body = lambda s, lr, a, t: advance_all(s, lr, a, t, intervals)
        return smap(body, (state_spec, P(), P(), P()))(states, lrs, arrays, t0)

    def place(keys, arrays) -> tuple[Any, Any]:
        seeds, shared = (jax.sharding.NamedSharding(mesh, p) for p in (P("seeds"), P()))
        on = lambda tree, sharding: jax.tree.map(lambda _: sharding, tree)
        return distributed.put(keys, on(keys, seeds)), distributed.put(arrays, on(arrays, shared))

    init = jax.jit(smap(init_all, (P("seeds"), P(), P())))
    return Program(init, jax.jit(advance_sharded, static_argnums=4), place)
