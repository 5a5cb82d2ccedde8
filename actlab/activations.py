"""Activation functions as pure ``jnp`` functions, in a registry with their properties.

Conventions that other libraries leave implicit, pinned down here:

* **Derivative at 0 of ReLU-like kinks** is the *left* derivative: ``relu'(0) = 0``,
  ``leaky_relu'(0) = slope``, ``relu6'(0) = relu6'(6) = 0``, ``hard_tanh'(±1) = 0``
  (the PyTorch and ``jax.nn.relu`` convention).
* **step** is ``1[x > 0]`` with gradient exactly 0 everywhere, as in the articles: a network of
  steps cannot learn by backprop and actlab shows it instead of hiding it. ``step_ste`` is the
  straight-through variant: forward is the step, backward passes ``1[|x| <= 1]``
  (the hard-tanh estimator of Bengio et al. 2013).
* **gelu** is the exact ``x * Phi(x)`` (erf); ``gelu_tanh`` is the tanh approximation
  (Hendrycks & Gimpel; PyTorch ``approximate="tanh"``, ``jax.nn.gelu``'s default).
* **leaky_relu** has slope 0.01 (PyTorch); ``leaky_relu_0.2`` is TF1's ``tf.nn.leaky_relu``.
* **prelu** has a learnable slope per unit, initialised at 0.25 (He et al. 2015).
* **maxout** takes ``k * width`` pre-activations and returns ``width`` maxima over ``k`` linear
  pieces: a layer with maxout has ``k`` times the parameters (Goodfellow et al. 2013).
* **reglu**, **geglu**, **swiglu** are the gated linear units of Shazeer (2020),
  ``f(a) * b`` with ``f`` = ReLU, GELU (exact, as ``gelu``) and SiLU (Swish, beta = 1):
  ``2 * width`` pre-activations in, ``width`` out. The layout is maxout's: unit ``u`` reads
  the *interleaved* pair of columns ``2u`` (``a``, the gate's input: piece 0, the one a
  pointwise activation in the same layer reads) and ``2u + 1`` (``b``, the linear piece),
  not the halves ``[a, b]`` of the paper's ``xW`` and ``xV``. The two differ by a fixed
  permutation of the layer's columns, which the (per-column i.i.d.) initialisations do not
  see. Their derivative is unbounded (``d/db = f(a)``): ``max_grad`` is inf, so the census
  measures its scale from the sample; its per-unit ``f'`` is ``d h / d a = f'(a) b``.

Under ``vmap`` a traced activation index evaluates *every* branch and keeps one, so each
function must give finite values and gradients for every finite input, including the branches
that are not selected (``where`` differentiates both sides): exponentials are masked.

Properties are checked against the functions in ``tests/test_activations.py``:
``out_range`` (inf/-inf for unbounded), ``zero_centred`` (``|E f(z)| < 0.05`` for
``z ~ N(0, 1)``), ``monotone`` (non-decreasing), ``saturating`` (where the derivative tends to
0: "both", "left" or "none"), ``max_grad`` (sup of ``|f'|``: inf where ``f'`` is unbounded, as
ReLU²'s; None where it is not known, for an activation registered without it: the unit census
then measures its scale from the sample, ``actlab.census``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


def identity(x: Array) -> Array:
    """x. Shape-preserving."""
    return x


def step(x: Array) -> Array:
    """1 if x > 0 else 0; gradient 0 everywhere. Shape-preserving."""
    return (x > 0).astype(x.dtype)


@jax.custom_jvp
def step_ste(x: Array) -> Array:
    """Step forward, straight-through backward: d/dx = 1[|x| <= 1]. Shape-preserving."""
    return step(x)


@step_ste.defjvp
def _step_ste_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return step(x), jnp.where(jnp.abs(x) <= 1.0, t, jnp.zeros_like(t))


def relu(x: Array) -> Array:
    """max(x, 0); relu'(0) = 0. Shape-preserving."""
    return jax.nn.relu(x)


def leaky_relu(x: Array, slope: float = 0.01) -> Array:
    """x if x > 0 else slope * x; derivative at 0 is ``slope``. Shape-preserving."""
    return jnp.where(x > 0, x, slope * x)


def prelu(x: Array, slope: Array | float = 0.25) -> Array:
    """leaky_relu with a learnable ``slope`` (broadcast over the last axis: one per unit)."""
    return jnp.where(x > 0, x, jnp.broadcast_to(slope, x.shape) * x)


def relu2(x: Array) -> Array:
    """relu(x)^2, squared ReLU (So et al. 2021, Primer); derivative 2 relu(x). Shape-preserving."""
    r = jax.nn.relu(x)
    return r * r


def relu6(x: Array) -> Array:
    """min(max(x, 0), 6); derivative 0 at both kinks. Shape-preserving."""
    return jnp.where(x > 0, jnp.where(x < 6.0, x, 6.0), 0.0 * x)


def hard_tanh(x: Array) -> Array:
    """clip(x, -1, 1); derivative 0 at the kinks. Shape-preserving."""
    return jnp.where(jnp.abs(x) < 1.0, x, jnp.sign(x))


def hard_sigmoid(x: Array) -> Array:
    """relu6(x + 3) / 6 (PyTorch and ``jax.nn.hard_sigmoid``). Shape-preserving."""
    return relu6(x + 3.0) / 6.0


def elu(x: Array, alpha: float = 1.0) -> Array:
    """x if x > 0 else alpha * (exp(x) - 1). Shape-preserving."""
    safe = jnp.where(x > 0, 0.0, x)  # where() differentiates both sides
    return jnp.where(x > 0, x, alpha * jnp.expm1(safe))


SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def selu(x: Array) -> Array:
    """scale * elu(x, alpha) with Klambauer et al.'s constants. Shape-preserving."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def celu(x: Array, alpha: float = 1.0) -> Array:
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1). Shape-preserving."""
    return jax.nn.celu(x, alpha)


def gelu(x: Array) -> Array:
    """Exact GELU, x * Phi(x) with the normal CDF via erf. Shape-preserving."""
    return jax.nn.gelu(x, approximate=False)


def gelu_tanh(x: Array) -> Array:
    """GELU, tanh approximation. Shape-preserving."""
    return jax.nn.gelu(x, approximate=True)


def silu(x: Array) -> Array:
    """x * sigmoid(x) (a.k.a. swish with beta = 1). Shape-preserving."""
    return jax.nn.silu(x)


def softplus(x: Array) -> Array:
    """log(1 + exp(x)), computed as logaddexp(x, 0) so it is finite everywhere."""
    return jax.nn.softplus(x)


def mish(x: Array) -> Array:
    """x * tanh(softplus(x)). Shape-preserving."""
    return x * jnp.tanh(jax.nn.softplus(x))


def softsign(x: Array) -> Array:
    """x / (1 + |x|). Shape-preserving."""
    return jax.nn.soft_sign(x)


def softmax(x: Array) -> Array:
    """exp(x_i) / sum_j exp(x_j) over the last axis (max-subtracted). Shape-preserving."""
    return jax.nn.softmax(x, axis=-1)


def maxout(x: Array, pieces: int = 2) -> Array:
    """[..., width * pieces] -> [..., width]: max over ``pieces`` consecutive linear pieces."""
    if x.shape[-1] % pieces:
        raise ValueError(
            f"maxout needs a last axis divisible by pieces={pieces}, got shape {x.shape}"
        )
    # A chain of selects, not jnp.max: max's gradient goes to the pieces *equal* to the max,
    # and under jit XLA may recompute x inside the backward pass rounded differently (it does
    # for models.unrolled_dot's multiply-adds), so that no piece equals it and the gradient is
    # lost. A select sends it to exactly one piece (ties: the first), as the census counts.
    z = x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces)
    best = z[..., 0]
    for p in range(1, pieces):
        best = jnp.where(z[..., p] > best, z[..., p], best)
    return best


def _glu(gate: Callable[[Array], Array], x: Array) -> Array:
    """[..., 2 * width] -> [..., width]: ``gate(a) * b`` per unit, ``a, b`` = columns 2u, 2u + 1."""
    if x.shape[-1] % 2:
        raise ValueError(f"a gated linear unit needs an even last axis, got shape {x.shape}")
    z = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    return gate(z[..., 0]) * z[..., 1]


def reglu(x: Array) -> Array:
    """ReGLU, relu(a) * b (Shazeer 2020); [..., 2 * width] -> [..., width], pairs interleaved."""
    return _glu(relu, x)


def geglu(x: Array) -> Array:
    """GEGLU, gelu(a) * b with the exact GELU; [..., 2 * width] -> [..., width], interleaved."""
    return _glu(gelu, x)


def swiglu(x: Array) -> Array:
    """SwiGLU, silu(a) * b (Swish, beta = 1); [..., 2 * width] -> [..., width], interleaved."""
    return _glu(silu, x)


class Activation(NamedTuple):
    """A registry entry: the function and the properties a study reasons about."""

    name: str
    fn: Callable[[Array], Array]  # default parameters; what plots and tests evaluate
    out_range: tuple[float, float]
    zero_centred: bool
    monotone: bool
    saturating: str  # "both", "left" or "none": where f' -> 0
    max_grad: float | None  # sup |f'| over the reals (inf: unbounded; None: not known)
    param_fn: Callable[[Array, Array], Array] | None = None  # f(x, learnable) for PReLU
    param_init: float = 0.0
    # pre-activations per unit (maxout: linear pieces; a GLU: gate and linear input): the
    # layer before is `pieces` times wider and ``fn`` maps [..., width * pieces] -> [..., width]
    pieces: int = 1
    elementwise: bool = True  # False: acts across units (softmax) or pieces (maxout, GLUs)
    doc: str = ""
    # the unit outputs one of its pieces (maxout): the census reads which one wins, and the
    # derivative w.r.t. the winner is 1. False for a GLU, read on piece 0 (its gate) like an
    # elementwise unit
    selects: bool = False

    @property
    def has_params(self) -> bool:
        return self.param_fn is not None


INF = math.inf

_BUILTIN = (
    Activation("none", identity, (-INF, INF), True, True, "none", 1.0, doc="identity"),
    Activation("step", step, (0.0, 1.0), False, True, "both", 0.0, doc="Heaviside, zero grad"),
    Activation("step_ste", step_ste, (0.0, 1.0), False, True, "both", 1.0, doc="straight-through"),
    Activation("sigmoid", jax.nn.sigmoid, (0.0, 1.0), False, True, "both", 0.25),
    Activation("tanh", jnp.tanh, (-1.0, 1.0), True, True, "both", 1.0),
    Activation("relu", relu, (0.0, INF), False, True, "left", 1.0),
    Activation("relu2", relu2, (0.0, INF), False, True, "left", INF, doc="squared ReLU (Primer)"),
    Activation("leaky_relu", leaky_relu, (-INF, INF), False, True, "none", 1.0, doc="slope 0.01"),
    Activation(
        "leaky_relu_0.2",
        lambda x: leaky_relu(x, 0.2),
        (-INF, INF),
        False,
        True,
        "none",
        1.0,
        doc="TF1 tf.nn.leaky_relu default slope",
    ),
    Activation(
        "prelu",
        prelu,
        (-INF, INF),
        False,
        True,
        "none",
        1.0,
        param_fn=prelu,
        param_init=0.25,
        doc="learnable slope per unit, init 0.25",
    ),
    Activation("elu", elu, (-1.0, INF), False, True, "left", 1.0),
    Activation("selu", selu, (-SELU_SCALE * SELU_ALPHA, INF), True, True, "left", 1.7581),
    Activation("celu", celu, (-1.0, INF), False, True, "left", 1.0),
    Activation("gelu", gelu, (-0.1700, INF), False, False, "left", 1.1289, doc="exact (erf)"),
    Activation("gelu_tanh", gelu_tanh, (-0.1700, INF), False, False, "left", 1.1290),
    Activation("silu", silu, (-0.2785, INF), False, False, "left", 1.0998, doc="= swish"),
    Activation("mish", mish, (-0.3088, INF), False, False, "left", 1.0885),
    Activation("softplus", softplus, (0.0, INF), False, True, "left", 1.0),
    Activation("softsign", softsign, (-1.0, 1.0), True, True, "both", 1.0),
    Activation("hard_tanh", hard_tanh, (-1.0, 1.0), True, True, "both", 1.0),
    Activation("hard_sigmoid", hard_sigmoid, (0.0, 1.0), False, True, "both", 1.0 / 6.0),
    Activation("relu6", relu6, (0.0, 6.0), False, True, "both", 1.0),
    Activation(
        "maxout",
        maxout,
        (-INF, INF),
        False,
        False,
        "none",
        1.0,
        pieces=2,
        elementwise=False,
        doc="max of 2 linear pieces",
        selects=True,
    ),
    *(
        Activation(
            name,
            fn,
            (-INF, INF),
            True,  # E f(a) b = E f(a) E b = 0 for independent a, b ~ N(0, 1)
            False,
            "left",  # a -> -inf: f(a) and f'(a) b -> 0
            INF,  # d/db = f(a) grows without bound
            pieces=2,
            elementwise=False,
            doc=doc,
        )
        for name, fn, doc in (
            ("reglu", reglu, "relu(a) * b (Shazeer 2020)"),
            ("geglu", geglu, "gelu(a) * b, exact GELU (Shazeer 2020)"),
            ("swiglu", swiglu, "silu(a) * b (Shazeer 2020)"),
        )
    ),
    Activation(
        "softmax", softmax, (0.0, 1.0), False, False, "both", 0.25, elementwise=False, doc="output"
    ),
)
ALIASES = {"identity": "none", "linear": "none", "swish": "silu", "heaviside": "step"}

REGISTRY: dict[str, Activation] = {a.name: a for a in _BUILTIN}


def names() -> tuple[str, ...]:
    """Every registered activation name, in registration order."""
    return tuple(REGISTRY)


def get(name: str | Activation) -> Activation:
    """The registry entry for ``name`` (aliases such as "swish" accepted)."""
    if isinstance(name, Activation):
        return name
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise ValueError(
            f"unknown activation {name!r}; known: {', '.join(names())} "
            f"(aliases: {', '.join(f'{k}={v}' for k, v in ALIASES.items())}); "
            "add your own with actlab.register(...)"
        )
    return REGISTRY[key]


def resolve(acts: str | Sequence[str | Activation]) -> tuple[str, ...]:
    """Canonical names for a comma-separated string or a sequence; duplicates rejected."""
    if isinstance(acts, str):
        acts = [a.strip() for a in acts.split(",") if a.strip()]
    out = tuple(get(a).name for a in acts)
    if not out:
        raise ValueError("no activations given; choose from " + ", ".join(names()))
    if len(set(out)) != len(out):
        raise ValueError(f"activations listed twice: {out}")
    return out


def register(
    name: str,
    fn: Callable[[Array], Array],
    *,
    out_range: tuple[float, float] = (-INF, INF),
    zero_centred: bool = False,
    monotone: bool = False,
    saturating: str = "none",
    max_grad: float | None = None,
    param_fn: Callable[[Array, Array], Array] | None = None,
    param_init: float = 0.0,
    overwrite: bool = False,
    doc: str = "",
) -> Activation:
    """Add an elementwise activation to the registry and return its entry.

    ``fn`` must be a pure, shape-preserving ``jnp`` function with finite values and gradients
    for every finite input (it is evaluated for every model when the choice is traced).
    ``max_grad``: the sup of ``|f'|`` where you know it (inf: unbounded); None (not known)
    makes the unit census measure the scale from its sample. ``param_fn(x, p)`` with
    ``param_init``: an activation with a learnable parameter per unit (as PReLU's slope),
    ``fn`` its value at ``param_init``. Registering in a plugin module (``actlab run
    --plugins MODULE``, or the ``actlab.plugins`` entry-point group of an installed package)
    makes an activation reach the command line and every worker process.
    """
    if not callable(fn):
        raise ValueError(f"register({name!r}, fn): fn must be callable, got {type(fn).__name__}")
    if saturating not in ("both", "left", "none"):
        raise ValueError(f"saturating must be 'both', 'left' or 'none', got {saturating!r}")
    if (name in REGISTRY or name in ALIASES) and not overwrite:
        raise ValueError(f"activation {name!r} is already registered; pass overwrite=True")
    if param_fn is not None and not callable(param_fn):
        raise ValueError(f"register({name!r}): param_fn must be callable or None")
    entry = Activation(
        name, fn, out_range, zero_centred, monotone, saturating, max_grad, param_fn=param_fn,
        param_init=float(param_init), doc=doc,
    )  # fmt: skip
    REGISTRY[name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a user-registered activation (built-ins stay)."""
    if name in {a.name for a in _BUILTIN}:
        raise ValueError(f"{name!r} is built in and cannot be removed")
    REGISTRY.pop(name, None)


def pieces(acts: Sequence[str]) -> int:
    """How many linear pieces a layer needs to serve every activation in ``acts``."""
    return max(get(a).pieces for a in acts)


def _call(a: Activation, z: Array, slope: Array | None, k: int) -> Array:
    """a applied to pre-activations ``z: [..., width * k]`` -> ``[..., width]``.

    ``k >= a.pieces``: a layer shared under a traced choice is as wide as its widest
    activation needs; each activation reads the first ``a.pieces`` pieces of every unit
    (a pointwise one piece 0)."""
    if k > a.pieces:
        z = z.reshape(*z.shape[:-1], z.shape[-1] // k, k)[..., : a.pieces]
        z = z.reshape(*z.shape[:-2], -1) if a.pieces > 1 else z[..., 0]
    if a.pieces > 1:  # shape-changing: fn maps [..., width * a.pieces] -> [..., width]
        return a.fn(z)
    if a.has_params:
        return a.param_fn(z, slope if slope is not None else a.param_init)
    return a.fn(z)


def apply(
    acts: Sequence[str],
    index: int | Array,
    z: Array,
    slope: Array | None = None,
) -> Array:
    """``get(acts[index])`` applied to ``z: [..., width * pieces(acts)]`` -> ``[..., width]``.

    ``index`` may be a Python int (one branch is traced) or a traced integer (``lax.switch``
    over the branches: under ``vmap`` every branch runs and one is kept; unbatched, only the
    chosen one runs). ``slope`` holds the learnable PReLU slopes ``[width]`` when any
    activation in ``acts`` has parameters.

    A traced index gives a real conditional even for one activation (``lax.switch`` calls a
    lone branch inline, so it is listed twice): the branches are separate computations, so
    XLA cannot fuse the activation (and its derivative) into the layers around it. Fused, an
    elementwise activation feeding a narrow unrolled layer (``models.unrolled_dot``) is
    recomputed in its consumers: deep XOR (width 5, 1000 seeds) trained ReLU at 431 k
    model-steps/s fused and 2.14 M behind the conditional, sigmoid at 0.94 M and 1.65 M.
    """
    entries = tuple(get(a) for a in acts)
    k = max(a.pieces for a in entries)
    if isinstance(index, int):
        return _call(entries[index], z, slope, k)
    return jax.lax.switch(index, _branches(entries, k), z, slope)


@functools.lru_cache(maxsize=256)
def _branches(entries: tuple[Activation, ...], k: int) -> tuple[Callable, ...]:
    """The ``lax.switch`` branches ``(z, slope) -> h`` of ``entries``, the same function
    objects on every call: JAX caches a branch's traced jaxpr (and its derivatives) by the
    function and its input shapes, so a model's layers of one width, and each of its forward
    and backward passes, trace each activation once instead of once per call (deep XOR:
    9 slot calls in each of 7 passes). Keyed by the registry entries themselves, so a
    re-registered name gets new branches."""
    branches = [functools.partial(_call_branch, a, k) for a in entries]
    if len(branches) == 1:
        branches.append(functools.partial(_zeros_branch, k))
    return tuple(branches)


def _call_branch(a: Activation, k: int, z: Array, slope: Array | None) -> Array:
    return _call(a, z, slope, k)


def _zeros_branch(k: int, z: Array, slope: Array | None) -> Array:
    return jnp.zeros((*z.shape[:-1], z.shape[-1] // k), z.dtype)


def has_unit_derivative(name: str) -> bool:
    """Whether f' per unit is meaningful (False for softmax, which couples the units; maxout
    and the GLUs couple only a unit's own pieces)."""
    a = get(name)
    return a.elementwise or a.pieces > 1
