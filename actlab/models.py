"""The built-in Flax models, ``MLP``, ``CNN`` and ``Transformer``: users of the model contract
like any other.

Each takes the activation slot ``act`` (``actlab.slot``) as the second argument of its
forward pass and calls it where the activation goes; the layer before a call is
``act.pieces`` times as wide (maxout, the GLUs). ``classes=None`` takes the data's output
width. The MLP's and CNN's layers with weights are named ``layer_0 ... layer_{L-1}`` from
input to output, which is how the report names them (the Transformer's by their role,
``block_0/ffn_in``). Initialisations (``Init``): PyTorch's default, Glorot, He, LeCun,
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
READOUTS = ("all", "last")  # Transformer: logits at every position, or at the last one
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


def ffn_width(d_ff: int, pieces: int) -> int:
    """Units of a feed-forward layer ``W2 act(W1 x)`` whose activation reads ``pieces``
    pre-activations per unit, at the parameters of a pointwise one with ``d_ff`` units:
    ``round(2 * d_ff / (pieces + 1))`` (halves up).

    ``W1`` is ``[width, units * pieces]`` and ``W2`` ``[units, width]``: ``(pieces + 1) *
    width * units`` weights, ~ the ``2 * width * d_ff`` of the pointwise layer. For a GLU
    (``pieces = 2``) it is ``d_ff * 2 / 3``, Shazeer (2020), "GLU Variants Improve
    Transformer", which reduces d_ff by 2/3 "to keep the number of parameters and the amount
    of computation constant"; maxout (2 pieces) gets the same. Pointwise: ``d_ff``.
    """
    if d_ff < 1 or pieces < 1:
        raise ValueError(f"ffn_width needs d_ff >= 1 and pieces >= 1, got {d_ff}, {pieces}")
    return max(1, math.floor(2 * d_ff / (pieces + 1) + 0.5))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: ``x: [batch, T, width] -> [batch, T, width]``.

    ``q``, ``k`` and ``v`` projections (``[width, width]`` each, split into
    ``heads`` heads of ``width // heads``), softmax(q k^T / sqrt(head width)) over the
    positions at or before each query, and the ``out`` projection. The key projection has no
    bias (as Whisper's): a softmax over keys is invariant to it, so its gradient is 0 up to
    rounding, which Adam would scale up into steps of size lr. The scores take
    ``[batch, heads, T, T]`` floats per model.
    """

    heads: int
    init_scheme: Init = Init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, w = x.shape
        hd = w // self.heads
        dense = lambda name: _layer(self.init_scheme, w, w, name, "dot")
        heads = lambda z: z.reshape(b, t, self.heads, hd)
        key = nn.Dense(w, use_bias=False, kernel_init=_kernel_init(self.init_scheme), name="k")
        q, k, v = heads(dense("q")(x)), heads(key(x)), heads(dense("v")(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
        causal = jnp.tril(jnp.ones((t, t), bool))[None, None]  # key <= query
        # a finite fill: no inf - inf; every query sees itself, so no row is all filled
        scores = jnp.where(causal, scores, jnp.finfo(scores.dtype).min)
        mixed = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)
        return dense("out")(mixed.reshape(b, t, w))


class Block(nn.Module):
    """A pre-LayerNorm Transformer block: ``x + attn(LN(x))``, then ``x + ffn(LN(x))``.

    The feed-forward layer is ``ffn_in`` (``[width, units * act.pieces]``), the activation
    slot (called once: one hidden layer of the census), ``ffn_out`` (``[units, width]``),
    with ``units = ffn_width(d_ff, act.pieces)``.
    """

    heads: int
    d_ff: int
    init_scheme: Init = Init()

    @nn.compact
    def __call__(self, x: jax.Array, act) -> jax.Array:
        w = x.shape[-1]
        norm = lambda name: nn.LayerNorm(epsilon=1e-5, name=name)  # PyTorch's epsilon
        x = x + CausalSelfAttention(self.heads, self.init_scheme, name="attn")(norm("ln_attn")(x))
        units = ffn_width(self.d_ff, act.pieces)
        z = _layer(self.init_scheme, units * act.pieces, w, "ffn_in", "dot")(norm("ln_ffn")(x))
        return x + _layer(self.init_scheme, w, units, "ffn_out", "dot")(act(z))


class Transformer(nn.Module):
    """A decoder-only Transformer: tokens ``x: [batch, T] -> logits: [batch, T, classes]``.

    Logits at position ``t`` read tokens ``0 .. t`` only (causal), the next-token setting:
    train it under ``"softmax_ce"`` on labels ``y: [n, T]`` (``y[:, t]`` the token after
    ``x[:, t]``). ``x`` holds integer token ids in ``[0, vocab)``; float values (tokens
    normalised to float32 with shift 0 and scale 1) are rounded to them.

    A learned token embedding (``embed``, ``[vocab, width]``) plus a learned positional one
    (``pos_embed``, ``[context, width]``), ``layers`` pre-LayerNorm ``Block``s
    (``block_i``: causal multi-head attention and the feed-forward layer with the
    activation slot), a final LayerNorm (``ln_final``) and an *untied* output projection
    (``unembed``: its own ``[width, classes]`` weights and bias, not the embedding's
    transpose). The feed-forward layer has ``ffn_width(d_ff, act.pieces)`` units, so a GLU's
    layer has the parameters of a pointwise one (Shazeer 2020). Dense layers follow
    ``init_scheme``; embeddings are N(0, ``embed_std``) (1: PyTorch's ``nn.Embedding``;
    GPT-2 uses 0.02); LayerNorms start at scale 1, bias 0. No dropout.

    ``classes``: the output vocabulary (None: the data's number of classes); ``vocab``: the
    input vocabulary (None: ``classes``); ``context``: the longest ``T`` (None: the ``T``
    the model is initialised on). ``readout="last"``: logits ``[batch, classes]`` at the last
    position only, for one answer per sequence (labels ``y: [n]``).
    """

    classes: int | None = None  # None: the data's output width (its number of classes)
    vocab: int | None = None  # None: classes
    context: int | None = None  # None: the T of the initialising batch
    width: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 256
    init_scheme: Init = Init()
    embed_std: float = 1.0
    readout: str = "all"  # "all": logits at every position; "last": at the last one only

    @nn.compact
    def __call__(self, x: jax.Array, act) -> jax.Array:
        if x.ndim != 2:
            raise ValueError(f"Transformer takes tokens [batch, T], got shape {tuple(x.shape)}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; accepted: {', '.join(READOUTS)}")
        if self.width % self.heads:
            raise ValueError(f"width={self.width} must be a multiple of heads={self.heads}")
        classes = _width(self.classes)
        t = x.shape[1]
        context = t if self.context is None else self.context
        if t > context:
            raise ValueError(f"sequences of {t} tokens are longer than context={context}")
        tokens = (jnp.round(x) if jnp.issubdtype(x.dtype, jnp.floating) else x).astype(jnp.int32)
        init = nn.initializers.normal(self.embed_std)
        embed = nn.Embed(self.vocab or classes, self.width, embedding_init=init, name="embed")
        pos = self.param("pos_embed", init, (context, self.width))
        h = embed(tokens) + pos[None, :t]
        for i in range(self.layers):
            h = Block(self.heads, self.d_ff, self.init_scheme, name=f"block_{i}")(h, act)
        if self.readout == "last":
            h = h[:, -1]
        h = nn.LayerNorm(epsilon=1e-5, name="ln_final")(h)
        return _layer(self.init_scheme, classes, self.width, "unembed", "dot")(h)


def _width(classes: int | None) -> int:
    if classes is None:
        raise ValueError("classes=None is the data's output width: train the model in a Study")
    return int(classes)


def param_count(params) -> int:
    """Number of scalars in a parameter pytree."""
    return sum(int(p.size) for p in jax.tree.leaves(params))
