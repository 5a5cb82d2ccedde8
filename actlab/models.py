"""The built-in Flax models, ``MLP`` and ``CNN``: users of the model contract like any other.

Each takes the activation slot ``act`` (``actlab.slot``) as the second argument of its
forward pass and calls it where the activation goes; the layer before a call is
``act.pieces`` times as wide (maxout). ``classes=None`` takes the data's output width. The
layers with weights are named ``layer_0 ... layer_{L-1}`` from input to output, which is how
the report names them. Initialisations (``Init``): PyTorch's default, Glorot, He, LeCun,
N(mu, sigma) for weights and biases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

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
    classes: int | None = None  # None: the data's output width
    init_scheme: Init = Init()
    contraction: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, act) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        dense = lambda f, name: _layer(self.init_scheme, f, x.shape[-1], name, self.contraction)
        for i, width in enumerate(self.hidden):
            x = act(dense(width * act.pieces, f"layer_{i}")(x))
        return dense(_width(self.classes), f"layer_{len(self.hidden)}")(x)


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
    classes: int | None = None  # None: the data's output width
    init_scheme: Init = Init()
    conv_impl: str = "xla"  # "xla": lax.conv; "shifts": ShiftConv (faster on CPU, same params)
    contraction: str = "auto"  # of the dense layers, as MLP's

    @nn.compact
    def __call__(self, x: jax.Array, act) -> jax.Array:
        if self.conv_impl not in CONV_IMPLS:
            raise ValueError(
                f"unknown conv_impl {self.conv_impl!r}; accepted: {', '.join(CONV_IMPLS)}"
            )
        if x.ndim == 3:
            x = x[..., None]
        k = act.pieces
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
            x = act(z)
            window, stride = (self.pool_window,) * 2, (self.pool_stride,) * 2
            x = nn.max_pool(x, window, stride, padding="SAME")
            i += 1
        x = x.reshape(x.shape[0], -1)
        dense = lambda f, name: _layer(self.init_scheme, f, x.shape[-1], name, self.contraction)
        for width in self.dense:
            x = act(dense(width * k, f"layer_{i}")(x))
            i += 1
        return dense(_width(self.classes), f"layer_{i}")(x)


def _width(classes: int | None) -> int:
    if classes is None:
        raise ValueError("classes=None is the data's output width: train the model in a Study")
    return int(classes)


def param_count(params) -> int:
    """Number of scalars in a parameter pytree."""
    return sum(int(p.size) for p in jax.tree.leaves(params))
