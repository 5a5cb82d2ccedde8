"""Model adapters: one interface over Flax linen, Flax NNX and Equinox models.

A model is one of:

* a **Flax linen** ``nn.Module`` whose ``__call__(self, x, act)`` takes a batch ``x`` and the
  activation slot ``act`` (``actlab.slot``); a dataclass field ``classes`` left ``None`` is
  set to the data's output width (the built-in ``MLP`` and ``CNN`` use this);
* ``actlab.NNX(factory)``: ``factory(rngs)`` builds a **Flax NNX** module whose
  ``__call__(self, x, act)`` takes a batch;
* ``actlab.Equinox(factory)``: ``factory(key)`` builds an **Equinox** module whose
  ``__call__(self, x, act)`` takes one example (actlab vmaps it over the batch;
  ``batched=True`` if it takes a batch).

A factory may also take ``pieces=`` (``act.pieces``: how much wider the layer before each
activation must be; needed for maxout) and ``outputs=`` (the data's output width). Each
seed's model is built from its own key, so seeds differ only by their random streams.

The adapter gives the engine three pure functions: ``init(key, x, slot) -> params`` (the
arrays the optimizer trains), ``apply(params, x, slot) -> outputs``, and the model's layers
(``layers``: its parameters grouped by the module that holds them, input side first).
What a user model supports: any architecture (residual connections, normalisation,
attention, ...) whose parameters are plain arrays; not supported: state that is not
trained by the optimizer and changes during training (linen mutable collections such as
``batch_stats``, NNX ``BatchStat``, Equinox ``State``) and dropout randomness (the
models are deterministic functions of their parameters).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from actlab.slot import Slot

Array = jax.Array


class NNX(NamedTuple):
    """A Flax NNX model: ``factory(rngs)`` builds it (``factory(rngs, pieces=..., outputs=...)``
    where it takes them)."""

    factory: Callable


class Equinox(NamedTuple):
    """An Equinox model: ``factory(key)`` builds it; ``batched``: its ``__call__`` takes a
    batch (default: one example, vmapped by actlab, the Equinox convention)."""

    factory: Callable
    batched: bool = False


class Adapter(NamedTuple):
    """One model's pure functions (see the module docstring)."""

    kind: str  # "linen", "nnx" or "equinox"
    init: Callable[[Array, Array, Slot], Any]  # (key, x, slot) -> params
    apply: Callable[[Any, Array, Slot], Array]  # (params, x, slot) -> outputs
    name: str  # what the report calls the model


class ContractError(ValueError):
    """A model that does not keep the contract (the message says what is accepted)."""


ACCEPTED = (
    "accepted: a Flax linen module with __call__(self, x, act), actlab.NNX(factory) or "
    "actlab.Equinox(factory), whose model calls act(z) where the activation goes"
)


def adapt(model, *, outputs: tuple[int, ...] | None, pieces: int) -> Adapter:
    """The ``Adapter`` of ``model`` for a study whose outputs per example have the shape
    ``outputs`` (None: the model's own; a linen ``classes=None`` and a factory's ``outputs=``
    get its last axis: ``[classes]``, or ``[T, classes]`` for a sequence) and whose
    activations need ``pieces`` pre-activations per unit."""
    import flax.linen as nn

    # a model's last width: a flat output's count, a sequence's classes per position
    outputs = None if outputs is None else int(outputs[-1])
    if isinstance(model, nn.Module):
        return _linen(model, outputs)
    if isinstance(model, NNX):
        return _nnx(model, outputs, pieces)
    if isinstance(model, Equinox):
        return _equinox(model, outputs, pieces)
    kind = _framework(model)
    if kind == "nnx":
        raise ContractError(
            "an NNX model is given as a function of its rngs, so that each seed builds its "
            f"own: actlab.NNX(lambda rngs: {type(model).__name__}(..., rngs=rngs))"
        )
    if kind == "equinox":
        raise ContractError(
            "an Equinox model is given as a function of its key, so that each seed builds "
            f"its own: actlab.Equinox(lambda key: {type(model).__name__}(..., key=key))"
        )
    raise ContractError(f"cannot train a {type(model).__name__} as a model; {ACCEPTED}")


def _framework(model) -> str | None:
    module = type(model).__module__ or ""
    for base in type(model).__mro__:
        module = f"{module} {base.__module__}"
    if "flax.nnx" in module:
        return "nnx"
    if "equinox" in module:
        return "equinox"
    return None


def _linen(module, outputs: int | None) -> Adapter:
    fields = {f.name for f in dataclasses.fields(module)}
    if outputs is not None and "classes" in fields and module.classes is None:
        module = module.clone(classes=outputs)

    def init(key, x, slot):
        variables = _called(lambda: module.init(key, x, slot), module)
        extra = sorted(set(variables) - {"params"})
        if extra:
            raise ContractError(
                f"{type(module).__name__} keeps mutable collections {extra}: state that "
                "changes outside the optimizer (e.g. batch statistics) is not supported"
            )
        return variables

    return Adapter("linen", init, lambda p, x, slot: module.apply(p, x, slot), _repr(module))


def _nnx(model: NNX, outputs, pieces: int) -> Adapter:
    from flax import nnx

    build = lambda key: _build(model.factory, rngs=nnx.Rngs(key), pieces=pieces, outputs=outputs)
    graphdef, _, rest = nnx.split(nnx.eval_shape(lambda: build(jax.random.key(0))), nnx.Param, ...)
    if jax.tree.leaves(rest):
        raise ContractError(
            "the NNX model holds state other than nnx.Param (batch statistics, rngs, "
            "counters): only parameters trained by the optimizer are supported"
        )

    def init(key, x, slot):
        return nnx.split(build(key), nnx.Param, ...)[1]

    def apply(params, x, slot):
        return _called(lambda: nnx.merge(graphdef, params, rest)(x, slot), model.factory)

    return Adapter("nnx", init, apply, _name(model.factory))


def _equinox(model: Equinox, outputs, pieces: int) -> Adapter:
    import equinox as eqx

    build = lambda key: _build(model.factory, key=key, pieces=pieces, outputs=outputs)
    arrays = lambda x: (
        isinstance(x, (jax.Array, jax.ShapeDtypeStruct, np.ndarray))
        and (jnp.issubdtype(x.dtype, jnp.inexact))
    )
    _, static = eqx.partition(eqx.filter_eval_shape(build, jax.random.key(0)), arrays)

    def init(key, x, slot):
        return eqx.partition(build(key), arrays)[0]

    def apply(params, x, slot):
        m = eqx.combine(params, static)
        if model.batched:
            return _called(lambda: m(x, slot), model.factory)
        child = slot.child()

        def one(xi):
            y = m(xi, child)
            return y, child.captures

        y, captures = _called(lambda: jax.vmap(one)(x), model.factory)
        slot.adopt(child, captures)
        return y

    return Adapter("equinox", init, apply, _name(model.factory))


def _build(factory: Callable, **available):
    """``factory`` called with the keywords of ``available`` it takes (all of them for
    ``**kwargs``); the first one (rngs or key) is always passed."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or a C callable: pass the first only
        params = {}
    first, *rest = available
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kw = {k: v for k, v in available.items() if v is not None}
    else:
        kw = {first: available[first]} | {k: available[k] for k in rest if k in params}
    if available.get("pieces", 1) > 1 and "pieces" not in kw:
        raise ContractError(
            f"{_name(factory)} does not take pieces=: the study's activations need the layer "
            f"before each activation {available['pieces']} times as wide (maxout, the GLUs); "
            "give the factory a pieces argument and use it, or leave maxout and the GLUs out"
        )
    return factory(**kw)


def _called(call: Callable, model):
    """``call()``, a model's forward pass: a model that does not take the slot says so."""
    try:
        return call()
    except TypeError as e:
        if "positional argument" in str(e) or "unexpected keyword" in str(e):
            raise ContractError(
                f"{_name(model)} must take the activation slot as the second argument of its "
                f"forward pass, __call__(self, x, act) ({e}); {ACCEPTED}"
            ) from e
        raise


def _name(obj) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def _repr(module) -> str:
    """``MLP(hidden=(256, 128), ...)``: the fields a study sets, on one line."""
    skip = {"parent", "name"}
    fields = [f.name for f in dataclasses.fields(module) if f.name not in skip]
    return f"{type(module).__name__}({', '.join(f'{k}={getattr(module, k)!r}' for k in fields)})"


def fingerprint(model) -> str:
    """A stable text for what ``model`` is, for checkpoints: a linen module by its fields, a
    factory by its name and its code (so a changed factory is not resumed)."""
    import flax.linen as nn

    if isinstance(model, nn.Module):
        return _repr(model)
    factory = getattr(model, "factory", model)
    return f"{type(model).__name__}({_name(factory)}, {function_hash(factory)})"


def function_hash(fn, _depth: int = 0) -> str:
    """A hash of what ``fn`` computes as far as Python shows it, the same in every process:
    its bytecode and constants, recursively through nested code, and the values it closes
    over; a function without Python code (a builtin, a ufunc) by its module and name."""
    h = hashlib.sha256()

    def code(c) -> None:
        h.update(c.co_code)
        for const in c.co_consts:
            code(const) if inspect.iscode(const) else h.update(_stable(const).encode())
        h.update(repr(c.co_names).encode())

    target = inspect.unwrap(getattr(fn, "func", fn))  # functools.partial, jax.jit's wrapper
    if hasattr(target, "__code__") and _depth < 8:
        code(target.__code__)
        for cell in target.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            h.update(
                (function_hash(value, _depth + 1) if callable(value) else _stable(value)).encode()
            )
    else:
        h.update(f"{getattr(target, '__module__', '')}.{_name(target)}".encode())
    for v in (*getattr(fn, "args", ()), *getattr(fn, "keywords", {}).values()):
        h.update(_stable(v).encode())
    return h.hexdigest()[:16]


def _stable(v) -> str:
    """A text for ``v`` that does not hold a memory address (numbers, strings, arrays)."""
    if isinstance(v, (int, float, str, bool, bytes, type(None))):
        return repr(v)
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(_stable(x) for x in v) + ")"
    if isinstance(v, (np.ndarray, jax.Array)):
        a = np.asarray(v)
        return f"{a.dtype}{a.shape}{hashlib.sha256(a.tobytes()).hexdigest()[:16]}"
    return type(v).__qualname__


class Layer(NamedTuple):
    """A group of parameter leaves held by one module (a dense layer's kernel and bias)."""

    name: str
    leaves: tuple[int, ...]  # indices into jax.tree.leaves(params)


def layers(params) -> list[Layer]:
    """``params``' leaves grouped by the module that holds them, in the tree's order; the
    name is the path to that module (``layer_0``, ``blocks/0/ffn/in``)."""
    groups: dict[str, list[int]] = {}
    for i, (path, _) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        keys = [_key(k) for k in path]
        if len(keys) > 1 and keys[-1] == "value":  # NNX: the leaf is Param.value
            keys = keys[:-1]
        if keys and keys[0] == "params":  # linen's collection
            keys = keys[1:]
        groups.setdefault("/".join(keys[:-1]) or keys[-1], []).append(i)
    return [Layer(name, tuple(ix)) for name, ix in groups.items()]


def _key(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def forward_order(apply: Callable, params, x: Array, slot_of: Callable[[], Slot]) -> list[int]:
    """Each leaf of ``params``'s position in the forward pass: the index of the first
    operation of ``apply``'s jaxpr that reads it (unread leaves last), for ordering layers
    from the input side."""
    leaves, treedef = jax.tree.flatten(params)
    run = lambda ls, x: apply(jax.tree.unflatten(treedef, ls), x, slot_of())
    jaxpr = jax.make_jaxpr(run)(leaves, x).jaxpr
    first = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            first.setdefault(id(v), i)
    return [first.get(id(v), len(jaxpr.eqns)) for v in jaxpr.invars[: len(leaves)]]
