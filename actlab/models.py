"""Flax MLP and CNN whose hidden activation is chosen by an index that may be traced.

A model holds the static tuple ``acts`` of activation names it can use and takes ``act``, an
index into it, as a call argument. A Python int traces one activation (the fast, grouped path);
a traced int selects with ``lax.switch`` so ``jax.vmap`` can batch over activation choice.
Parameter shapes depend only on ``acts`` (PReLU slopes exist when any choice has them;
layers are ``pieces`` times wider when maxout is among them), so every choice shares one
pytree structure under ``vmap``.

Layers with weights are named ``layer_0 ... layer_{L-1}`` from input to output; learnable
activation parameters are ``slope_i`` (PReLU), kept apart so per-layer norms cover weights
and biases only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from actlab import activations

CONV_IMPLS = ("xla", "shifts")
CONTRACTIONS = ("auto", "dot", "unrolled")
UNROLL_MAX_FAN_IN = 16  # "auto": dense layers with at most this many inputs are unrolled
WEIGHT_SCHEMES = ("pytorch", "glorot", "he", "lecun", "normal")
BIAS_SCHEMES = ("pytorch", "zeros", "normal")


class Init(NamedTuple):
    """Initialisation of weights and biases.

    ``pytorch``: U(±1/sqrt(fan_in)) for weights and biases (``nn.Linear``/``nn.Conv2d``
    default); ``glorot``: Glorot-uniform; ``he``: He-normal (fan_in, gain 2); ``lecun``:
    LeCun-normal; ``normal``: N(0, ``weight_std``) / N(``bias_mean``, ``bias_std``) (TF1's
    ``tf.random_normal`` is N(0, 1)). A negative ``bias_mean`` makes dead ReLUs on purpose.
    """

    weights: str = "pytorch"
    bias: str = "pytorch"
    weight_std: float = 1.0
    bias_std: float = 1.0
    bias_mean: float = 0.0  # added to every bias ("zeros" becomes this constant)

    def check(self) -> Init:
        if self.weights not in WEIGHT_SCHEMES:
            raise ValueError(
                f"unknown weight init {self.weights!r}; accepted: {', '.join(WEIGHT_SCHEMES)}"
            )
        if self.bias not in BIAS_SCHEMES:
            raise ValueError(
                f"unknown bias init {self.bias!r}; accepted: {', '.join(BIAS_SCHEMES)}"
            )
        return self


def parse_init(spec: str | Init) -> Init:
    """``Init`` from a string such as "he", "glorot", "normal:1.0" or "normal:0.5:0"."""
    if isinstance(spec, Init):
        return spec.check()
    name, *stds = spec.split(":")
    if name == "normal":
        w = float(stds[0]) if stds else 1.0
        b = float(stds[1]) if len(stds) > 1 else w
        return Init("normal", "normal" if b > 0 else "zeros", w, b).check()
    return Init(name, "pytorch" if name == "pytorch" else "zeros").check()


def _kernel_init(init: Init):
    return {
        "pytorch": nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
        "glorot": nn.initializers.glorot_uniform(),
        "he": nn.initializers.he_normal(),
        "lecun": nn.initializers.lecun_normal(),
        "normal": nn.initializers.normal(init.weight_std),
    }[init.weights]


def _bias_init(init: Init, fan_in: int):
    if init.bias == "pytorch":
        bound = 1 / math.sqrt(fan_in)
        base = lambda key, shape, dtype=jnp.float32: jax.random.uniform(
            key, shape, dtype, -bound, bound
        )
    elif init.bias == "normal":
        base = nn.initializers.normal(init.bias_std)
    else:
        base = nn.initializers.zeros
    if init.bias_mean == 0.0:
        return base
    return lambda key, shape, dtype=jnp.float32: base(key, shape, dtype) + init.bias_mean


class Hidden(nn.Module):
    """Pre-activations ``z: [..., width * pieces]`` -> activation output ``[..., width]``.

    With ``capture`` it also sows, per example (and position) and unit, what the unit census
    (``train.Trace``'s ``inactive``, ``dead``, ``saturated``) reads:

    * ``"derivatives"/"d"``: ``f'(z)`` per unit, ``[..., width]``. For an elementwise unit,
      the derivative of ``f`` at its ``z`` (``jax.jvp``); for maxout, whose derivative w.r.t.
      its pieces is one-hot, the winning piece's derivative, 1. NaN where a per-unit
      derivative has no meaning (``activations.has_unit_derivative``: softmax).
    * ``"census"/"h"``: the output ``f(z)``, ``[..., width]``.
    * ``"census"/"z"``: the pre-activations, ``[..., width, pieces]`` (piece ``p`` of unit
      ``u`` is column ``u * pieces + p``; an elementwise unit in a layer widened for maxout
      reads piece 0 only).
    """

    acts: tuple[str, ...]
    width: int

    @nn.compact
    def __call__(self, z: jax.Array, act, capture: bool = False) -> jax.Array:
        slope = None
        if any(activations.get(a).has_params for a in self.acts):
            init = max(
                activations.get(a).param_init for a in self.acts if activations.get(a).has_params
            )
            slope = self.param("slope", nn.initializers.constant(init), (self.width,))
        out = activations.apply(self.acts, act, z, slope)
        if capture:
            pieces = z.reshape(*z.shape[:-1], self.width, -1)  # [..., width, pieces]
            # an elementwise unit reads piece 0. Maxout's derivative w.r.t. its pieces is
            # one-hot, 1 on the winning piece: its slot is differentiated as the identity, which
            # gives that 1 without the max's JVP (a chooser reduce costing as much as the rest
            # of the census on a CPU)
            linear = tuple("none" if activations.get(a).pieces > 1 else a for a in self.acts)
            z0 = pieces[..., 0]
            d = jax.jvp(
                lambda u: activations.apply(linear, act, u, slope), (z0,), (jnp.ones_like(z0),)
            )[1]
            meaningful = jnp.array([activations.has_unit_derivative(a) for a in self.acts])[act]
            self.sow("derivatives", "d", jnp.where(meaningful, d, jnp.nan))
            self.sow("census", "h", out)
            self.sow("census", "z", pieces)
        return out


class ShiftConv(nn.Module):
    """A stride-1 SAME convolution as ``k * k`` shifted slices and one matmul.

    Same parameters as ``nn.Conv`` (``kernel: [k, k, C_in, C_out]``, ``bias: [C_out]``, same
    initialisers, so the same key gives the same model). Why: XLA:CPU runs the weight
    gradient of ``lax.conv`` ~10x slower inside a loop or cond body (every step of the
    trainer is), and a ``vmap`` over models' kernels becomes a grouped convolution (slower
    still); slices and a (batched) matmul have neither problem.
    """

    features: int
    kernel_size: int
    kernel_init: Callable
    bias_init: Callable

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, c = self.kernel_size, x.shape[-1]
        w = self.param("kernel", self.kernel_init, (k, k, c, self.features))
        b = self.param("bias", self.bias_init, (self.features,))
        lo = (k - 1) // 2
        xp = jnp.pad(x, ((0, 0), (lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
        h, wd = x.shape[1], x.shape[2]
        cols = [xp[:, i : i + h, j : j + wd, :] for i in range(k) for j in range(k)]
        z = jnp.concatenate(cols, axis=-1) @ w.reshape(k * k * c, self.features)
        return z + b.reshape(1, 1, 1, -1)


def unrolled_dot(x, w, dimension_numbers=None, precision=None, preferred_element_type=None):
    """``x @ w`` for ``x: [..., i]``, ``w: [i, o]`` as ``i`` elementwise multiply-adds.

    Why: under ``vmap`` over thousands of tiny models, XLA:CPU runs a batched ``[4, 5] @
    [5, 5]`` as thousands of tiny GEMM calls (deep XOR ran at ~1 GFLOP/s of a 150 GFLOP/s
    machine). Multiply-adds are elementwise: XLA fuses them, with the activation and the
    backward pass, into loops over every model at once. Sums run in the order ``0 .. i-1``,
    so results differ from ``dot`` by float rounding only.
    """
    if dimension_numbers not in (None, (((x.ndim - 1,), (0,)), ((), ()))):
        raise ValueError(
            f"unrolled_dot contracts x's last axis with w's first: {dimension_numbers}"
        )
    row = lambda i: w[i].reshape((1,) * (x.ndim - 1) + w.shape[1:])  # explicit ranks
    out = x[..., 0:1] * row(0)
    for i in range(1, w.shape[0]):
        out = out + x[..., i : i + 1] * row(i)
    return out


def check_contraction(contraction: str) -> str:
    if contraction not in CONTRACTIONS:
        raise ValueError(
            f"unknown contraction {contraction!r}; accepted: {', '.join(CONTRACTIONS)}"
        )
    return contraction


def unrolls(contraction: str, fan_in: int) -> bool:
    """Whether a dense layer with ``fan_in`` inputs is unrolled (``unrolled_dot``)."""
    check_contraction(contraction)
    return contraction == "unrolled" or (contraction == "auto" and fan_in <= UNROLL_MAX_FAN_IN)


def _layer(init: Init, features: int, fan_in: int, name: str, contraction: str) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=_kernel_init(init),
        bias_init=_bias_init(init, fan_in),
        name=name,
        dot_general=unrolled_dot if unrolls(contraction, fan_in) else None,
    )


class MLP(nn.Module):
    """x: [batch, ...] (flattened) -> logits: [batch, classes].

    ``hidden`` widths, each followed by the chosen activation; ``classes`` outputs (1 for a
    binary sigmoid output). ``contraction``: how a dense layer multiplies, ``"dot"`` (one
    matmul), ``"unrolled"`` (``unrolled_dot``: elementwise multiply-adds, fast for many tiny
    models) or ``"auto"``: unrolled where the layer has at most ``UNROLL_MAX_FAN_IN`` inputs.
    Same parameters either way; results agree to float rounding.
    """

    hidden: Sequence[int] = (256, 128)
    classes: int = 10
    init_scheme: Init = Init()
    acts: tuple[str, ...] = ("relu",)
    contraction: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, act=0, capture: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        k = activations.pieces(self.acts)
        dense = lambda f, name: _layer(self.init_scheme, f, x.shape[-1], name, self.contraction)
        for i, width in enumerate(self.hidden):
            z = dense(width * k, f"layer_{i}")(x)
            x = Hidden(self.acts, width, name=f"slope_{i}")(z, act, capture)
        return dense(self.classes, f"layer_{len(self.hidden)}")(x)

    @property
    def num_layers(self) -> int:
        return len(self.hidden) + 1


class CNN(nn.Module):
    """x: [batch, H, W, C] -> logits: [batch, classes].

    ``features`` convolutions (``kernel`` x ``kernel``, SAME padding), each followed by the
    chosen activation and a ``pool_window``/``pool_stride`` max-pool; then ``dense`` hidden
    layers with the same activation and the output layer. The default is the four-layer
    net of AlexNet's Figure 1 (cuda-convnet's CIFAR-10 layout: conv 32-32-64, overlapping
    3/2 pooling, one output layer).
    """

    features: Sequence[int] = (32, 32, 64)
    kernel: int = 5
    pool_window: int = 3
    pool_stride: int = 2
    dense: Sequence[int] = ()
    classes: int = 10
    init_scheme: Init = Init()
    acts: tuple[str, ...] = ("relu",)
    conv_impl: str = "xla"  # "xla": lax.conv; "shifts": ShiftConv (faster on CPU, same params)
    contraction: str = "auto"  # of the dense layers, as MLP's

    @nn.compact
    def __call__(self, x: jax.Array, act=0, capture: bool = False) -> jax.Array:
        if self.conv_impl not in CONV_IMPLS:
            raise ValueError(
                f"unknown conv_impl {self.conv_impl!r}; accepted: {', '.join(CONV_IMPLS)}"
            )
        if x.ndim == 3:
            x = x[..., None]
        k = activations.pieces(self.acts)
        i = 0
        for c in self.features:
            fan_in = self.kernel * self.kernel * x.shape[-1]
            inits = {
                "kernel_init": _kernel_init(self.init_scheme),
                "bias_init": _bias_init(self.init_scheme, fan_in),
                "name": f"layer_{i}",
            }
            if self.conv_impl == "shifts":
                z = ShiftConv(c * k, self.kernel, **inits)(x)
            else:
                z = nn.Conv(c * k, (self.kernel, self.kernel), padding="SAME", **inits)(x)
            x = Hidden(self.acts, c, name=f"slope_{i}")(z, act, capture)
            window, stride = (self.pool_window,) * 2, (self.pool_stride,) * 2
            x = nn.max_pool(x, window, stride, padding="SAME")
            i += 1
        x = x.reshape(x.shape[0], -1)
        dense = lambda f, name: _layer(self.init_scheme, f, x.shape[-1], name, self.contraction)
        for width in self.dense:
            z = dense(width * k, f"layer_{i}")(x)
            x = Hidden(self.acts, width, name=f"slope_{i}")(z, act, capture)
            i += 1
        return dense(self.classes, f"layer_{i}")(x)

    @property
    def num_layers(self) -> int:
        return len(self.features) + len(self.dense) + 1


def param_count(params) -> int:
    """Number of scalars in a parameter pytree."""
    return sum(int(p.size) for p in jax.tree.leaves(params))
