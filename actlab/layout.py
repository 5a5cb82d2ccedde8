"""How a study's models are laid out on the machine: one value, ``Layout``, made by ``plan``.

``plan(study, devices)`` decides, before anything is compiled: how each device runs its
models (``block`` models vectorised at a time, blocks one after another), how many devices
the seeds are sharded over, how many seeds run per model chunk when memory is short, and
which activations share one traced step. ``execution.build`` takes the ``Layout`` and
nothing else decides a layout.

**Same seed, same model.** Seed *i*'s model is a function of the seed and the study, never
of the run's size: a model's float rounding depends on the width of the ``vmap`` it is
computed in (XLA:CPU picks another algorithm for a batched matmul of another batch size),
so the width is taken from the model's shapes only (``block``), the seeds are padded to
whole blocks on every device, devices and model chunks hold whole blocks, and learning
rates run one after another rather than side by side. The seed count, the device and
process count, the memory chunks and the other activations of the study then change
nothing in any model, bit for bit (``tests/test_invariance.py``). A layout the user forces
where the default would differ (``seed_loop``, ``block``, ``mode="switch"``, an explicit
contraction) is named in ``forced`` and in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from actlab import activations, distributed, execution, runtime, train
from actlab.train import Config

MAP_ABOVE_PARAMS = 20_000  # "auto": models of this many parameters run one at a time
CACHE_BYTES = 1 << 20  # a block's working set: ~ a core's L2 (deep XOR: 50 models measured best)
MAX_BLOCK = 64  # more models per block stop paying on a CPU, and pad small runs for nothing
LIVE_PER_UNIT = 8  # floats a step keeps per example and hidden unit (z, h, f', their grads, ...)
ESTIMATES = {"shapes": "shapes' upper bound", "compiled": "compiled program's peak"}


class Memory(NamedTuple):
    """How the models share a device's memory (``plan``)."""

    budget: int | None  # bytes per device for the models; None: the device does not say
    source: str  # "max_memory" or "device"
    bytes_per_seed: int  # one seed's models, every activation and lr
    estimate: str  # "shapes" (an upper bound) or "compiled" (the probe's peak)


class Layout(NamedTuple):
    """Every layout decision of a study, made by ``plan`` before anything is compiled.

    A device runs its ``slots // devices`` seed slots in blocks of ``block`` models
    (``lax.map`` over blocks, ``vmap`` inside; 1: one model at a time; None: all at once).
    ``chunk_seeds`` real seeds run per model chunk (all of them unless memory is short),
    padded to ``slots`` (whole blocks on every device) with copies of the last seed that
    never reach a result or a checkpoint.
    """

    seeds: int
    seed_loop: str  # "blocks", "map" (block 1) or "vmap" (block None)
    block: int | None
    devices: int  # devices (of every process) the seeds are sharded over
    chunk_seeds: int
    slots: int  # a chunk's seed slots: chunk_seeds padded to whole blocks on every device
    members: tuple[tuple[int, ...], ...]  # activations sharing one traced step, in order
    switch: bool  # mode "switch": one step over a vmapped activation index
    lr_axis: bool  # an lr sweep: the models of each lr run one lr after another
    lr_per_act: bool  # each activation at its own lr (act_lrs)
    contraction: str | None  # the model's, for the report
    forced: tuple[str, ...]  # user choices that change each model's arithmetic
    memory: Memory

    @property
    def padding(self) -> int:
        """Slots of the first chunk that hold no real seed."""
        return self.slots - self.chunk_seeds

    @property
    def model_chunks(self) -> int:
        return -(-self.seeds // self.chunk_seeds)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The seeds ``[a, b)`` of each model chunk, run one after another."""
        c = self.chunk_seeds
        return [(a, min(a + c, self.seeds)) for a in range(0, self.seeds, c)]

    def describe(self) -> dict:
        """The layout as plain values, for ``results.json`` and the report."""
        return {
            "seed_loop": self.seed_loop,
            "block": self.block,
            "devices": self.devices,
            "padding": self.padding,
            "model_chunks": self.model_chunks,
            "contraction": self.contraction,
            "forced": list(self.forced),
        }


def plan(study, devices: Sequence | None = None, *, chunk_seeds: int | None = None) -> Layout:
    """The ``Layout`` of ``study`` on ``devices`` (default: every process's ``jax.devices()``).

    ``chunk_seeds`` fixes the model chunks (rounded down to whole blocks on every device)
    instead of planning them from the memory budget. Raises ``ValueError`` with the numbers
    when not one block of models fits a device's budget.
    """
    devices = list(jax.devices() if devices is None else devices)
    params, units = shapes(study, ("relu",))  # the width: from the model, not its activations
    block = _block(study, params, units)
    seeds = int(study.seeds)
    if chunk_seeds is None:
        memory = _memory(study, len(devices), block)
        chunk = _chunk(study, memory, len(devices), block)
    else:
        memory = Memory(None, "chunk_seeds", bytes_per_seed(study), "shapes")
        chunk = max(1, min(int(chunk_seeds), seeds))
    unit = block or 1
    n_dev = _devices_for(chunk, len(devices), block)
    if chunk < seeds:  # every chunk but the last is whole blocks on every device
        chunk = max(unit * n_dev, chunk // (unit * n_dev) * unit * n_dev)
    return Layout(
        seeds=seeds,
        seed_loop={None: "vmap", 1: "map"}.get(block, "blocks"),
        block=block,
        devices=n_dev,
        chunk_seeds=chunk,
        slots=-(-chunk // (unit * n_dev)) * unit * n_dev,
        members=shared(study),
        switch=study.mode == "switch",
        lr_axis=study.lrs is not None,
        lr_per_act=study.act_lrs is not None,
        contraction=getattr(study.model, "contraction", None),
        forced=_forced(study, default_block(params, units, study)),
        memory=memory,
    )


def _devices_for(seeds: int, available: int, block: int | None) -> int:
    """Devices that ``seeds`` are sharded over: no more than there are blocks to give."""
    return max(1, min(available, -(-seeds // (block or 1))))


def default_block(params: int, units: int, study) -> int:
    """Models per block under ``seed_loop="auto"``: 1 from ``MAP_ABOVE_PARAMS`` parameters
    (a large model's state fills the cache alone), else ``cache_block``. From the model's
    shapes only, never from the number of models."""
    return 1 if params >= MAP_ABOVE_PARAMS else cache_block(params, units, study)


def cache_block(params: int, units: int, study) -> int:
    """As many models as fit ``CACHE_BYTES`` of parameters, gradients, optimizer state and
    hidden values per example of a batch (at least 1, at most ``MAX_BLOCK``)."""
    batch = study.batch_size or study.data.x_train.shape[0]
    per_model = 4 * (3 * params + LIVE_PER_UNIT * batch * units)
    return int(max(1, min(MAX_BLOCK, CACHE_BYTES // max(1, per_model))))


def _block(study, params: int, units: int) -> int | None:
    """Models per block (None: all of a device's at once, 1: one at a time)."""
    if study.seed_loop == "vmap":
        return None
    if study.seed_loop == "map":
        return 1
    if study.block is not None:
        return int(study.block)
    if study.seed_loop == "blocks":  # blocks of the cache's size, even for a large model
        return cache_block(params, units, study)
    return default_block(params, units, study)


def _forced(study, default: int) -> tuple[str, ...]:
    """What the user chose that gives each model other float rounding than the default
    layout would (so a default run's models are not these, bit for bit)."""
    out = []
    if study.seed_loop == "vmap":
        out.append(
            "seed_loop='vmap': each device's seeds in one vmap, whose width (the seed count) "
            "changes each model's rounding"
        )
    elif study.seed_loop != "auto" or study.block is not None:
        block = 1 if study.seed_loop == "map" else study.block
        if block is not None and block != default:
            out.append(f"block={block} models at a time (the default here is {default})")
    if study.mode == "switch":
        out.append(
            "mode='switch': the activations share parameter shapes and one vmapped step, so "
            "a model depends on the study's activation set"
        )
    contraction = getattr(study.model, "contraction", "auto")
    if contraction != "auto":
        out.append(f"contraction={contraction!r} (the default is 'auto')")
    return tuple(out)


def shared(study) -> tuple[tuple[int, ...], ...]:
    """Which activations share one traced step (``execution.build``): in grouped mode, those
    whose parameters have the same shapes and initial values (the same maxout pieces and no
    activation parameters; each parameterised activation alone), so each keeps exactly the
    states it has alone; in switch mode, all in one."""
    if study.mode == "switch":
        return (tuple(range(len(study.activations))),)
    classes: dict[tuple, list[int]] = {}
    for g, name in enumerate(study.activations):
        a = activations.get(name)
        classes.setdefault((a.pieces, name if a.has_params else None), []).append(g)
    return tuple(tuple(m) for m in classes.values())


def shapes(study, acts: Sequence[str]) -> tuple[int, int]:
    """(parameters, hidden values captured per example) of one model with the activations
    ``acts`` (as one traced step holds them); shapes only, nothing computed."""
    shape = train.parts_of(study.config()._replace(acts=tuple(acts)), study.data).shape
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shape.params)), shape.units


def bytes_per_seed(study) -> int:
    """An upper-bound estimate of the device memory one seed's models take (every
    activation, every lr): per model, 4 float32 copies of the parameters (parameters,
    gradients, two optimizer moments) and ``LIVE_PER_UNIT`` floats per hidden value of the
    larger of a batch and an evaluation chunk. From shapes; nothing is compiled."""
    batch = max(
        study.batch_size or study.data.x_train.shape[0], Config._field_defaults["eval_chunk"]
    )
    total = 0
    for m in shared(study):
        acts = [study.activations[g] for g in m]
        params, units = shapes(study, acts)
        per_model = 4 * (4 * params + LIVE_PER_UNIT * batch * units)
        total += per_model * (1 if study.mode == "switch" else len(m))
    return total * len(study.lrs or (0,))


def data_bytes(study) -> int:
    """Bytes of the data arrays, which every device holds once for all its models."""
    d = study.data
    return sum(int(np.asarray(x).nbytes) for x in (d.x_train, d.y_train, d.x_test, d.y_test))


def _memory(study, n_devices: int, block: int | None) -> Memory:
    """The budget per device, and each seed's bytes: the shapes' bound while every seed fits
    under it, else the compiled probe's peak (where the backend reports one)."""
    if study.max_memory is not None:
        budget, source = int(study.max_memory), "max_memory"
    else:
        free = runtime.memory_budget()
        # every process must cut the same chunks: the tightest device decides
        budget = None if free is None else distributed.smallest(free) - data_bytes(study)
        source = "device"
    memory = Memory(budget, source, bytes_per_seed(study), "shapes")
    used = _devices_for(study.seeds, n_devices, block)
    per_device = -(-study.seeds // used)
    if budget is None or memory.bytes_per_seed * per_device <= budget:
        return memory
    compiled = compiled_bytes_per_seed(study, block)
    if compiled is not None:
        memory = memory._replace(bytes_per_seed=compiled, estimate="compiled")
    return memory


def _chunk(study, memory: Memory, n_devices: int, block: int | None) -> int:
    """Seeds per model chunk: all of them, or as many whole blocks as each device's budget
    holds, times the devices. Raises ``ValueError`` when not one block fits."""
    seeds = int(study.seeds)
    budget, need = memory.budget, memory.bytes_per_seed
    used = _devices_for(seeds, n_devices, block)
    if budget is None or need * -(-seeds // used) <= budget:
        return seeds
    unit = block or 1
    per_device = budget // need // unit * unit
    if per_device < 1:
        models = len(study.activations) * len(study.lrs or (0,))
        where = (
            f"max_memory={budget} bytes per device"
            if memory.source == "max_memory"
            else f"the device's free memory ({budget} bytes for the models: "
            f"{runtime.MEMORY_SHARE:.0%} of what is free, less the data)"
        )
        what = "no seed" if unit == 1 else f"no block of {unit} seeds"
        raise ValueError(
            f"{where} holds {what}: one seed's {models} models need ~{need} bytes "
            f"(the {ESTIMATES[memory.estimate]}); accepted: at least {need * unit}"
            + ("" if unit == 1 else " (or a smaller block=, which changes the models' rounding)")
        )
    return int(min(seeds, per_device * used))


def compiled_bytes_per_seed(study, block: int | None) -> int | None:
    """The peak bytes a device takes for one seed's models in one evaluation interval: the
    compiled program of a probe of one block per device (``Compiled.memory_analysis``), per
    seed slot, less the data; None where the backend does not say. Only shapes are traced."""
    unit = block or 1
    probe = study.replace(seeds=min(len(jax.devices()), -(-study.seeds // unit)) * unit)
    layout = plan(probe, chunk_seeds=probe.seeds)
    # the groups run one after another: the largest program's peak is the device's
    peaks = [
        execution.peak_bytes(lo.compile(execution.COMPILER_OPTIONS))
        for lo in execution.probe(probe, layout)
    ]
    if any(p is None for p in peaks):
        return None
    peak = max(peaks)
    per_device = layout.slots // layout.devices
    return max(1, -(-(peak - data_bytes(study)) // per_device))
