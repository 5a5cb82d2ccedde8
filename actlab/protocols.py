"""Named experiments: the protocol of each study as a function of the command-line overrides.

``actlab run NAME`` builds ``PROTOCOLS[NAME].build(Overrides(...))`` into a ``Study``.
Every protocol shares the same trainer; they differ only in data, model and schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import optax

from actlab import data as D
from actlab.models import MLP, Init
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


class Protocol(NamedTuple):
    name: str
    summary: str
    source: str
    build: Callable[[Overrides], Study]
    datasets: tuple[str, ...]  # the datasets whose shapes this protocol's model fits


def _length(o: Overrides, steps=None, epochs=None) -> dict:
    """steps/epochs: an override of either replaces the protocol's length."""
    if o.steps is not None:
        return {"steps": o.steps, "epochs": None}
    if o.epochs is not None:
        return {"steps": None, "epochs": o.epochs}
    return {"steps": steps, "epochs": epochs}


def _dataset(o: Overrides, default: str) -> D.Dataset:
    return D.load(o.dataset or default)


def deep_xor(o: Overrides) -> Study:
    """Article 002: 10 dense layers (2-5x9-1), N(0,1) weights and biases, sigmoid output,
    unclipped BCE, full-batch gradient descent at lr 0.01 for 20 001 steps."""
    return Study(
        name="xor",
        model=MLP(hidden=(5,) * 9, init_scheme=Init("normal", "normal", 1.0, 1.0)),
        activations=o.acts or ("sigmoid", "tanh", "relu", "leaky_relu_0.2"),
        data=_dataset(o, "xor"),
        optimizer=optax.sgd(o.lr or 0.01),
        seeds=o.seeds or (20 if o.quick else 200),
        batch_size=None,
        loss="bce_unclipped",
        eval_every=100,  # as the article printed its cost
        **_length(o, steps=2001 if o.quick else 20_001),
    )


def mnist1d(o: Overrides) -> Study:
    """The article-001 MLP (784-256-128-10 becomes 40-256-128-10) on MNIST-1D, Adam 1e-3."""
    return Study(
        name="mnist1d",
        model=MLP(hidden=(256, 128)),
        activations=o.acts or ("sigmoid", "tanh", "relu", "leaky_relu"),
        data=_dataset(o, "mnist1d"),
        optimizer=optax.adam(o.lr or 1e-3),
        seeds=o.seeds or (4 if o.quick else 10),
        batch_size=32,
        evals=20,
        **_length(o, epochs=2 if o.quick else 20),
    )


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "xor", "deep XOR: 10 layers of width 5, N(0,1) init", "article 002", deep_xor, ("xor",)
        ),
        Protocol(
            "mnist1d",
            "MLP 256-128 on MNIST-1D, Adam 1e-3",
            "article 001 protocol",
            mnist1d,
            ("mnist1d", "mnist", "fashion_mnist", "kmnist", "cifar10", "teacher_student"),
        ),
    )
}


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown experiment {name!r}; accepted: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
