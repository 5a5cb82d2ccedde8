"""Named experiments: the protocol of each study as a function of the command-line overrides.

``actlab run NAME`` builds ``PROTOCOLS[NAME].build(Overrides(...))`` into a ``Study``.
Every protocol shares the same trainer; they differ only in data, model and schedule.

The five reproduced studies (``REPRODUCTION.md``; ``experiments/NAME.py`` adds each one's
analysis, ``notebooks/NAME.ipynb`` tells its story):

* ``two_layer_mnist`` (article 000): 784-50-10, sigmoid vs ReLU, SGD 0.1, one epoch.
* ``mlp_four_activations`` (article 001): 784-256-128-10, none/sigmoid/tanh/relu, Adam.
* ``xor`` (= ``deep_xor``, article 002): 10 sigmoid/tanh/ReLU layers on XOR; the fixes
  ``xor_glorot``, ``xor_he`` and ``xor_clipped``.
* ``activation_catalogue`` (article 003): dead ReLUs from a negative bias init, and what
  Leaky ReLU / PReLU / ELU / maxout / step do instead.
* ``alexnet_relu_vs_tanh`` (article 004, AlexNet section 3.1): steps to 25 % training error.

And today's question, with no single article behind it: ``transformer_ffn``, the
feed-forward activation of a small decoder-only Transformer (ReLU, GELU, SiLU, ReLU², ReGLU,
GEGLU, SwiGLU; Shazeer 2020, So et al. 2021), character-level on Debian's fortunes.

Articles 000, 001, 003 and 004 used MNIST or CIFAR-10; offline we run the same protocol on
Fashion-MNIST (Debian's ``dataset-fashion-mnist``) by default, and ``--dataset mnist`` or
``--dataset cifar10`` is one flag away where the data can be found.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import optax

from actlab import data
from actlab.models import CNN, MLP, Init, Transformer
from actlab.study import Study


class Overrides(NamedTuple):
    """What the command line may change; ``None`` keeps the protocol's value."""

    acts: tuple[str, ...] | None = None
    seeds: int | None = None
    steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    dataset: str | None = None
    quick: bool = False
    lrs: tuple[float, ...] | None = None  # a sweep (for actlab.selection) instead of one lr


class Protocol(NamedTuple):
    name: str
    summary: str
    source: str
    build: Callable[[Overrides], Study]
    datasets: tuple[str, ...]  # the datasets whose shapes this protocol's model fits
    # the outcome that defines success, for the report's categories and time to threshold
    threshold: str | None = None


IMAGES = ("fashion_mnist", "mnist", "kmnist", "cifar10")  # [n, H, W, C] uint8, 10 classes
FLAT = (*IMAGES, "mnist1d")  # what an MLP with 10 outputs can take
MLP_DATA = ("mnist1d", *IMAGES, "teacher_student")  # an MLP sized by the data: any flat input


def _length(o: Overrides, steps=None, epochs=None) -> dict:
    """steps/epochs: an override of either replaces the protocol's length."""
    if o.steps is not None:
        return {"steps": o.steps, "epochs": None}
    if o.epochs is not None:
        return {"steps": None, "epochs": o.epochs}
    return {"steps": steps, "epochs": epochs}


def _dataset(o: Overrides, default: str, fits: tuple[str, ...] | None = None) -> data.Dataset:
    """The dataset to run on; ``fits`` (the protocol's ``datasets``) rejects the others."""
    name = o.dataset or default
    if fits is not None and name not in fits:
        raise ValueError(
            f"this experiment does not fit dataset {name!r}; accepted: {', '.join(fits)}"
        )
    return data.load(name)


def _unit_scale(d: data.Dataset) -> data.Dataset:
    """Pixels divided by 255 into [0, 1] (articles 000 and 001 did this); other data as is."""
    if d.x_train.dtype == np.uint8:
        return d._replace(shift=0.0, scale=1.0 / 255.0)
    return d


def _optimizer(o: Overrides, family, lr: float, **settings) -> dict:
    """The Study's optimizer fields: ``family(lr, **settings)`` at the protocol's rate (or
    ``--lr``); with ``--lrs`` the family itself and the sweep, for ``actlab.selection``."""
    if o.lrs is not None:
        return {"optimizer": functools.partial(family, **settings), "lrs": tuple(o.lrs)}
    return {"optimizer": family(o.lr or lr, **settings)}


def _quick(o: Overrides, quick, full):
    return quick if o.quick else full


# ----------------------------------------------------------------------------- article 002


XOR_ACTS = ("sigmoid", "tanh", "relu", "leaky_relu_0.2", "leaky_relu")
XOR_INIT = Init("normal", "normal", 1.0, 1.0)  # TF1 tf.random_normal: N(0, 1) weights and biases


def _xor(o: Overrides, *, init: Init = XOR_INIT, loss: str = "bce_unclipped", name="xor") -> Study:
    return Study(
        name=name,
        model=MLP(hidden=(5,) * 9, init_scheme=init),
        activations=o.acts or XOR_ACTS,
        data=_dataset(o, "xor", ("xor",)),
        **_optimizer(o, optax.sgd, 0.01),
        seeds=o.seeds or _quick(o, 20, 1000),
        batch_size=None,
        loss=loss,
        eval_every=100,  # as the article printed its cost
        **_length(o, steps=_quick(o, 2001, 20_001)),
    )


def deep_xor(o: Overrides) -> Study:
    """Article 002: 10 dense layers (2-5x9-1), N(0,1) weights and biases, sigmoid output,
    unclipped BCE, full-batch gradient descent at lr 0.01 for 20 001 steps."""
    return _xor(o)


def xor_glorot(o: Overrides) -> Study:
    """Article 002's network with Glorot-uniform weights and zero biases (Keras' default)."""
    return _xor(o, init=Init("glorot", "zeros"), name="xor_glorot")


def xor_he(o: Overrides) -> Study:
    """Article 002's network with He-normal weights and zero biases."""
    return _xor(o, init=Init("he", "zeros"), name="xor_he")


def xor_clipped(o: Overrides) -> Study:
    """Article 002's network and init with the loss's p clipped to [1e-7, 1 - 1e-7] (Keras)."""
    return _xor(o, loss="bce_clipped", name="xor_clipped")


def xor_bce(o: Overrides) -> Study:
    """Article 002's network and init with the loss computed from the logit (``optax``'s
    stable sigmoid cross-entropy, ``log(1 + exp(-|z|))`` form): finite for any logit, and
    its gradient does not vanish where ``p`` rounds to 0 or 1, unlike the clipped one."""
    return _xor(o, loss="bce", name="xor_bce")


# ----------------------------------------------------------------------------- MNIST-1D


def mnist1d(o: Overrides) -> Study:
    """The article-001 MLP (784-256-128-10 becomes 40-256-128-10) on MNIST-1D, Adam 1e-3."""
    return Study(
        name="mnist1d",
        model=MLP(hidden=(256, 128)),
        activations=o.acts or ("sigmoid", "tanh", "relu", "leaky_relu"),
        data=_dataset(o, "mnist1d", MLP_DATA),
        **_optimizer(o, optax.adam, 1e-3),
        seeds=o.seeds or (4 if o.quick else 10),
        batch_size=32,
        evals=20,
        **_length(o, epochs=2 if o.quick else 20),
    )


# ----------------------------------------------------------------------------- article 000


def two_layer_mnist(o: Overrides) -> Study:
    """Article 000: 784-50-10 (the book's TwoLayerNet: N(0, 0.01^2) weights, zero biases),
    sigmoid vs ReLU, plain SGD lr 0.1, batch 100, one epoch (600 steps), pixels / 255;
    test accuracy after every step on 2 000 test examples, the whole split at the end."""
    return Study(
        name="two_layer_mnist",
        model=MLP(hidden=(50,), init_scheme=Init("normal", "zeros", weight_std=0.01)),
        activations=o.acts or ("sigmoid", "relu"),
        data=_unit_scale(_dataset(o, "fashion_mnist", FLAT)),
        **_optimizer(o, optax.sgd, 0.1),
        seeds=o.seeds or _quick(o, 2, 8),  # a paired Wilcoxon needs >= 6 for p < 0.05
        batch_size=100,
        eval_every=1,
        eval_examples=_quick(o, 1000, None),  # full run: the whole test split at the end
        train_eval_examples=1000,  # the train curve is the minibatch loss; keep this cheap
        # after every step before the last: 2 000 test examples (the whole split, as the
        # article read, cost 25x the training; 2 000 resolve 0.5-point gaps per step)
        curve_examples=_quick(o, None, (2000, 1000)),
        **_length(o, epochs=_quick(o, 0.1, 1)),
    )


# ----------------------------------------------------------------------------- article 001


MLP4_ACTS = ("none", "sigmoid", "tanh", "relu", "leaky_relu", "gelu")


def mlp_four_activations(o: Overrides) -> Study:
    """Article 001: 784-256-128-10 (PyTorch nn.Linear init), none / sigmoid / tanh / relu
    (+ leaky_relu, gelu), Adam 1e-3, batch 16, 3 epochs, pixels / 255."""
    return Study(
        name="mlp_four_activations",
        model=MLP(hidden=(256, 128)),
        activations=o.acts or MLP4_ACTS,
        data=_unit_scale(_dataset(o, "fashion_mnist", FLAT)),
        **_optimizer(o, optax.adam, 1e-3),
        seeds=o.seeds or _quick(o, 2, 20),
        batch_size=16,
        evals=_quick(o, 2, 6),  # every half epoch in the full run
        train_eval_examples=2000,
        eval_examples=_quick(o, 2000, None),
        curve_examples=2000,  # the whole test split (10 000) at the last point only
        **_length(o, epochs=_quick(o, 0.05, 3)),
    )


# ----------------------------------------------------------------------------- article 003


CATALOGUE_ACTS = ("relu", "leaky_relu", "prelu", "elu", "maxout", "step", "sigmoid")
DEAD_BIAS = -0.5  # added to every bias: pushes pre-activations below ReLU's kink


def activation_catalogue(o: Overrides) -> Study:
    """Article 003's dead ReLUs, made on purpose: MLP 784-128-128-10 whose biases start at
    ``DEAD_BIAS`` (PyTorch-uniform weights, biases U(+-1/sqrt(fan_in)) - 1), SGD lr 0.05,
    batch 64; ReLU against the fixes the article lists (Leaky ReLU, PReLU, ELU, maxout), the
    step function (zero gradient) and sigmoid."""
    return Study(
        name="activation_catalogue",
        model=MLP(hidden=(128, 128), init_scheme=Init("pytorch", "pytorch", bias_mean=DEAD_BIAS)),
        activations=o.acts or CATALOGUE_ACTS,
        data=_dataset(o, "fashion_mnist", FLAT),
        **_optimizer(o, optax.sgd, 0.05),
        seeds=o.seeds or _quick(o, 2, 10),
        batch_size=64,
        evals=_quick(o, 4, 30),
        train_eval_examples=1000,  # train loss/accuracy
        census_examples=10_000,  # the study is about units: a larger, stated sample
        eval_examples=_quick(o, 1000, 2000),
        **_length(o, epochs=_quick(o, 0.05, 2)),
    )


HIGH_LRS = (0.05, 0.5, 1.0)  # the protocol's rate, and 10x / 20x it
LR_ROUTE_ACTS = ("relu", "leaky_relu", "prelu", "elu", "maxout")


def activation_catalogue_lr(o: Overrides) -> Study:
    """Article 003/004's other route to dead ReLUs, a high learning rate ("the more common
    case": a large update knocks a unit out of the data cloud): the same MLP with its
    unshifted PyTorch init (no bias offset), SGD at ``HIGH_LRS`` (0.05, the catalogue's, and
    10x and 20x it; ``--lrs`` another sweep), batch 64, one epoch, 10 seeds; the unit census
    at the start and at the end on 10 000 training examples."""
    return Study(
        name="activation_catalogue_lr",
        model=MLP(hidden=(128, 128), init_scheme=Init("pytorch", "pytorch")),
        activations=o.acts or LR_ROUTE_ACTS,
        data=_dataset(o, "fashion_mnist", FLAT),
        optimizer=optax.sgd,
        lrs=tuple(o.lrs or ((0.05, 1.0) if o.quick else HIGH_LRS)),
        seeds=o.seeds or _quick(o, 2, 10),
        batch_size=64,
        evals=_quick(o, 2, 10),
        train_eval_examples=1000,
        census_examples=10_000,
        eval_examples=_quick(o, 1000, 2000),
        **_length(o, epochs=_quick(o, 0.05, 1)),
    )


# ----------------------------------------------------------------------------- article 004


def _cnn() -> CNN:
    """AlexNet's figure-1 net (actlab.CNN's default). ``conv_impl="shifts"`` (same parameters,
    same function) where this actlab has it: XLA:CPU's convolution gradient is ~10x slower
    inside the trainer's loop body."""
    if "conv_impl" in CNN.__dataclass_fields__:
        import jax

        if jax.default_backend() == "cpu":
            return CNN(conv_impl="shifts")
    return CNN()


ALEXNET_STEPS = 128  # the 25 % crossing is at ~50 steps; 20 %, the curve's end, at ~75
ALEXNET_EVAL_EVERY = 4  # dense before the threshold: ~12 points before 25 %
ALEXNET_MOMENTUM = 0.9


def alexnet_relu_vs_tanh(o: Overrides) -> Study:
    """Article 004 / AlexNet section 3.1, figure 1: the four-layer conv net (conv 32-32-64 5x5,
    3/2 max-pool, output layer), ReLU vs tanh, SGD lr 0.01 momentum 0.9, batch 128,
    ``ALEXNET_STEPS`` steps, 10 seeds (a shared 2-core CPU: ~0.4 s per model-step); training
    error on 500 training examples every ``ALEXNET_EVAL_EVERY`` steps, for the steps to each
    training error (the threshold step is known to +-4 steps, with ~12 points before 25 %).
    The points before the last read 100 test examples, the last 2 000 (the test accuracy is
    not the claim).
    ``experiments/alexnet_relu_vs_tanh.py`` first selects each activation's rate by its
    time to 25 % validation error (as the paper chose each net's to train fastest)."""
    return Study(
        name="alexnet_relu_vs_tanh",
        model=_cnn(),
        activations=o.acts or ("relu", "tanh"),
        data=_dataset(o, "fashion_mnist", IMAGES),
        **_optimizer(o, optax.sgd, 0.01, momentum=ALEXNET_MOMENTUM),
        seeds=o.seeds or _quick(o, 2, 10),
        batch_size=_quick(o, 32, 128),  # quick: a smoke test, not the protocol
        eval_every=_quick(o, 5, ALEXNET_EVAL_EVERY),
        train_eval_examples=_quick(o, 200, 500),
        eval_examples=_quick(o, 200, 2000),
        curve_examples=_quick(o, None, (100, 500)),
        **_length(o, steps=_quick(o, 10, ALEXNET_STEPS)),
    )


# ----------------------------------------------------------------------------- transformer FFN


FFN_ACTS = ("relu", "gelu", "silu", "relu2", "reglu", "geglu", "swiglu")
FFN_TEXT = ("fortunes", "text:PATH")  # text:PATH: any UTF-8 file's characters
FFN = {"width": 32, "heads": 4, "layers": 2, "d_ff": 128, "context": 32}  # the CPU size
FFN_LR = 3e-3  # Adam; the study selects each activation's own rate on validation
FFN_THRESHOLD = "test_loss=2.25"  # nats per character: time to it, with censoring


def _text(o: Overrides, context: int) -> data.Dataset:
    """fortunes (default) or ``text:PATH`` in windows of ``context`` characters."""
    name = o.dataset or "fortunes"
    if name.startswith("text:"):
        return data.text(name[len("text:") :], context=context)
    if name != "fortunes":
        raise ValueError(
            f"this experiment does not fit dataset {name!r}; accepted: {', '.join(FFN_TEXT)}"
        )
    return data.fortunes(context=context)


def transformer_ffn(o: Overrides) -> Study:
    """Which feed-forward activation in a small decoder-only Transformer: pre-LayerNorm,
    causal attention, learned positions, untied output (``models.Transformer``), next-token
    cross-entropy per character on fortunes. Each GLU's layer has ``ffn_width(d_ff, 2)`` =
    2/3 d_ff units, so every activation's model has the ReLU model's parameters (Shazeer
    2020). Adam 3e-3 (``--lrs`` with ``--select val_loss`` gives each activation its own;
    the threshold, 2.25 nats, was set from a selection run's validation losses, between where
    every activation starts and ends),
    batch 32 windows of 32 characters, 1 000 steps (1 M characters, 0.45 of an epoch), 20
    seeds: 2 layers of width 32 (about 32 000 parameters), sized for a 2-core CPU. On a GPU,
    ``--seeds 1000`` is the flag; a wider model is ``FFN`` here."""
    return Study(
        name="transformer_ffn",
        model=Transformer(**FFN),
        activations=o.acts or FFN_ACTS,
        data=_text(o, FFN["context"]),
        **_optimizer(o, optax.adam, FFN_LR),
        seeds=o.seeds or _quick(o, 2, 20),
        batch_size=32,
        evals=_quick(o, 2, 20),  # every 50 steps: the time to the threshold to 50 steps
        train_eval_examples=_quick(o, 64, 500),
        eval_examples=_quick(o, 128, 1000),
        **_length(o, steps=_quick(o, 20, 1000)),
    )


SOLVED = "train_accuracy=1"  # XOR: all four points right

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "xor",
            "deep XOR: 10 layers of width 5, N(0,1) init",
            "article 002",
            deep_xor,
            ("xor",),
            SOLVED,
        ),
        Protocol(
            "mnist1d",
            "MLP 256-128 on MNIST-1D, Adam 1e-3",
            "article 001 protocol",
            mnist1d,
            MLP_DATA,
        ),
        Protocol(
            "two_layer_mnist",
            "784-50-10, sigmoid vs ReLU, SGD 0.1, 1 epoch, test accuracy every step",
            "article 000",
            two_layer_mnist,
            FLAT,
        ),
        Protocol(
            "mlp_four_activations",
            "784-256-128-10, none/sigmoid/tanh/relu (+leaky_relu, gelu), Adam 1e-3, 3 epochs",
            "article 001",
            mlp_four_activations,
            FLAT,
        ),
        Protocol("deep_xor", "alias of xor", "article 002", deep_xor, ("xor",), SOLVED),
        Protocol(
            "xor_glorot",
            "deep XOR with Glorot init, zero biases",
            "article 002 fix",
            xor_glorot,
            ("xor",),
            SOLVED,
        ),  # fmt: skip
        Protocol(
            "xor_he",
            "deep XOR with He init, zero biases",
            "article 002 fix",
            xor_he,
            ("xor",),
            SOLVED,
        ),
        Protocol(
            "xor_clipped",
            "deep XOR with the loss clipped (no NaN)",
            "article 002 fix",
            xor_clipped,
            ("xor",),
            SOLVED,
        ),  # fmt: skip
        Protocol(
            "xor_bce",
            "deep XOR with the stable-logit loss (no NaN from the loss)",
            "article 002 fix",
            xor_bce,
            ("xor",),
            SOLVED,
        ),
        Protocol(
            "activation_catalogue",
            "dead ReLUs from a negative bias init vs leaky/PReLU/ELU/maxout/step",
            "article 003",
            activation_catalogue,
            FLAT,
        ),
        Protocol(
            "activation_catalogue_lr",
            "dead ReLUs from a high learning rate (0.05 / 0.5 / 1.0) vs leaky/PReLU/ELU/maxout",
            "article 003 / 004",
            activation_catalogue_lr,
            FLAT,
        ),
        Protocol(
            "alexnet_relu_vs_tanh",
            "4-layer conv net, ReLU vs tanh: steps to 25 % training error",
            "article 004 (AlexNet fig. 1)",
            alexnet_relu_vs_tanh,
            IMAGES,
            "train_error=0.25",
        ),
        Protocol(
            "transformer_ffn",
            "decoder-only Transformer, FFN relu/gelu/silu/relu2/reglu/geglu/swiglu, fortunes",
            "Shazeer 2020, So et al. 2021",
            transformer_ffn,
            FFN_TEXT,
            FFN_THRESHOLD,
        ),
    )
}


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown experiment {name!r}; accepted: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
