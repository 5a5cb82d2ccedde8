"""Programs kept between processes, so that a second run of a built-in protocol skips tracing.

JAX's persistent compilation cache (``runtime.use_compilation_cache``) skips XLA's compile on
a second run, but not the tracing and lowering before it: seconds for a study (deep XOR's
ten unrolled layers under five activations: ~3 s), paid in every new process. A ``Store``
keeps each program of a study as exported StableHLO (``jax.export``) with its output
structure; a later process that asks for the same program deserialises it (~0.1 s) and
compiles it, which the persistent cache answers.

A stored program must be the program the study would trace now, so the key holds everything
that decides it: the study's fingerprint (``checkpoint.fingerprint``: every field, the data,
the optimizer, the experiment), the layout, the arguments' structure, shapes, dtypes and
placement, the static arguments, a hash of actlab's own source, the versions of jax, jaxlib,
flax and optax, the JAX settings that change tracing, the devices and ``XLA_FLAGS``. Only a
study whose every part is actlab's code is keyed (``eligible``): a built-in model, built-in
activations, a loss by name, no metrics of the user's. A user's own module, loss or metric
can change without anything the key sees changing (a helper it calls, a module-level
constant), so such studies are traced each time. The command line stores the programs of
built-in protocols; ``Run(..., store=)`` takes a ``Store`` from Python.

Cold and warm runs compile the same exported program (a cold run exports first, then
compiles what it exported), so both train bit-identical models, and the same models as the
traced program (``tests/test_warmstart.py``). A stored program that cannot be read is traced
and stored again; one that cannot be exported is compiled as traced, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax

from actlab import activations, models

FORMAT = 1  # of the files; a new format is a new key
SETTINGS = (  # JAX settings that change what a function traces to
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
    "jax_numpy_rank_promotion",
)
BUILT_IN_MODELS = (models.MLP, models.CNN, models.Transformer)


class Store(NamedTuple):
    """Where a study's programs are kept (``folder``) and the part of their key that is the
    study's (``key``: a hex digest)."""

    folder: Path
    key: str


def eligible(study) -> bool:
    """Whether every part of ``study`` that decides its programs is actlab's own code."""
    own = {a.name: a for a in activations._BUILTIN}
    return (
        type(study.model) in BUILT_IN_MODELS
        and all(activations.REGISTRY.get(a) is own.get(a) is not None for a in study.activations)
        and isinstance(study.loss, str)
        and study.metrics is None
    )


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


_SOURCE: list[str] = []


def source_hash() -> str:
    """A hash of every ``.py`` file of the actlab package (read once per process)."""
    if not _SOURCE:
        root = Path(__file__).parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _SOURCE.append(h.hexdigest())
    return _SOURCE[0]


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out = {}
    for dist in ("jax", "jaxlib", "flax", "optax"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def folder() -> Path | None:
    """Where programs are kept: ``actlab-programs`` inside JAX's persistent compilation cache,
    or None when that cache is off (``runtime.use_compilation_cache`` was not called, or
    ``ACTLAB_NO_COMPILATION_CACHE`` is set): a program loaded without its compiled code
    would save the tracing only."""
    from actlab import runtime

    cache = jax.config.jax_compilation_cache_dir
    if not cache or os.environ.get(runtime.CACHE_OPT_OUT, "") not in ("", "0"):
        return None
    return Path(cache) / "actlab-programs"


def for_study(study, fingerprint: dict, where: Path | None = None) -> Store | None:
    """A ``Store`` for ``study`` (``fingerprint``: ``checkpoint.fingerprint(study, ...)``) in
    ``where`` (default: ``folder()``), or None where it is not ``eligible`` or there is no
    folder."""
    where = folder() if where is None else Path(where)
    if where is None or not eligible(study):
        return None
    key = _digest(
        FORMAT,
        fingerprint,
        source_hash(),
        _versions(),
        {name: str(getattr(jax.config, name, None)) for name in SETTINGS},
        [d.device_kind for d in jax.devices()],
        jax.process_count(),
        os.environ.get("XLA_FLAGS", ""),
    )
    return Store(where, key)


def narrowed(store: Store | None, *parts: Any) -> Store | None:
    """``store`` with ``parts`` (the layout, a program's role) added to its key."""
    return None if store is None else store._replace(key=_digest(store.key, *parts))


def _avals(leaves: list) -> list:
    def one(x):
        sharding = getattr(x, "sharding", None)
        spec = getattr(sharding, "spec", None)
        mesh = getattr(sharding, "mesh", None)
        where = None if mesh is None else (dict(mesh.shape), str(spec))
        return (tuple(x.shape), str(x.dtype), where)

    return [one(x) for x in leaves]


def program_key(store: Store, args: tuple, static: tuple) -> str:
    """The key of ``store``'s program called with ``args`` (their structure, shapes, dtypes
    and placement) and the ``static`` arguments."""
    leaves, tree = jax.tree.flatten(args)
    return _digest(store.key, str(tree), _avals(leaves), [repr(s) for s in static])


def _flat(fn: Callable, tree, static: tuple, out_tree: list) -> Callable:
    """``fn(*args, *static)`` of flat leaves returning flat leaves (``out_tree`` receives the
    output's structure): the form ``jax.export`` stores without knowing actlab's types."""

    def flat(*leaves):
        out = fn(*jax.tree.unflatten(tree, leaves), *static)
        out_leaves, structure = jax.tree.flatten(out)
        out_tree.append(structure)
        return out_leaves

    return flat


def _read(path: Path):
    """(the Exported, the output structure) stored at ``path``, or None (absent or unreadable:
    it is traced and stored again)."""
    try:
        blob = path.with_suffix(".exported").read_bytes()
        structure = pickle.loads(path.with_suffix(".tree").read_bytes())
        return jax.export.deserialize(bytearray(blob)), structure
    except FileNotFoundError:
        return None
    except Exception:  # a file from a killed write or another version: trace it again
        return None


def _write(path: Path, exported, structure) -> None:
    from actlab.results import atomic_write

    try:  # the tree first: a program is only read with its tree beside it
        atomic_write(path.with_suffix(".tree"), lambda p: p.write_bytes(pickle.dumps(structure)))
        atomic_write(path.with_suffix(".exported"), lambda p: p.write_bytes(exported.serialize()))
    except (OSError, ValueError, ImportError):  # full, read-only; no flatbuffers
        pass  # costs the next run its tracing, nothing else


def compile_stored(store: Store, fn: Callable, args: tuple, static: tuple, options: dict):
    """``fn(*args, *static)`` compiled (with XLA ``options``) from ``store``'s copy of it,
    exported and stored first when there is none: ``compiled(*args)`` gives ``fn``'s
    output."""
    leaves, tree = jax.tree.flatten(args)
    key = program_key(store, args, static)
    path = store.folder / key[:2] / key
    found = _read(path)
    if found is None:
        out_tree: list = []
        exported = jax.export.export(jax.jit(_flat(fn, tree, static, out_tree)))(*leaves)
        structure = out_tree[0]
        _write(path, exported, structure)
    else:
        exported, structure = found
    compiled = jax.jit(exported.call).lower(*leaves).compile(options)

    def call(*call_args):
        return jax.tree.unflatten(structure, compiled(*jax.tree.leaves(call_args)))

    return call
