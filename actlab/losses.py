"""Losses: what a model's outputs are scored by, and what its targets are.

A loss is a name or a function ``loss(outputs, targets) -> scalar`` (the mean over a batch).
Built in:

* ``"softmax_ce"``: softmax cross-entropy with integer labels; outputs ``[batch, classes]``;
  accuracy is the share of argmax hits. Labels with more axes than one per example (a
  sequence's next tokens ``[batch, T]``) take outputs ``[batch, T, classes]``: the loss and
  the accuracy are the means over every example and position.
* ``"bce"``, ``"bce_unclipped"``, ``"bce_clipped"``: binary cross-entropy of one logit per
  example, labels 0/1; outputs ``[batch, 1]``; accuracy is the share of ``(z > 0) == y``.
  ``bce_unclipped`` is the articles' ``-(y log p + (1-y) log(1-p))`` with ``p = sigmoid(z)``
  in float32: it goes NaN once ``p`` rounds to 0 or 1, as TF1's did; ``bce_clipped`` clips
  ``p`` to [1e-7, 1 - 1e-7] (Keras); ``bce`` is the stable form (``optax``).
* ``"mse"``: mean squared error over every target value; float targets ``[batch, ...]``,
  outputs of the same shape (a target ``[batch]`` takes outputs ``[batch, 1]``). No
  accuracy: a regression has none.

A user loss gets the model's outputs and the targets as stored in the ``Dataset`` (integer
labels for a classification, floats for a regression) and has no accuracy unless a metric
gives one (``Study(metrics=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


class Loss(NamedTuple):
    """A loss and what follows from it."""

    name: str
    fn: Callable[[Array, Array], Array]  # (outputs, targets) -> mean over the batch
    accuracy: Callable[[Array, Array], Array] | None  # (outputs, targets) -> share right
    binary: bool  # one logit per example, labels 0/1
    classification: bool  # integer labels (chance accuracy 1 / classes)


def _softmax_ce(logits: Array, y: Array) -> Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _argmax_hits(logits: Array, y: Array) -> Array:
    return (logits.argmax(-1) == y).mean()


def _sign_hits(logits: Array, y: Array) -> Array:
    return ((logits[:, 0] > 0) == (y == 1)).mean()


def _bce(logits: Array, y: Array) -> Array:
    return optax.sigmoid_binary_cross_entropy(logits[:, 0], y.astype(jnp.float32)).mean()


def _bce_probability(clip: bool) -> Callable[[Array, Array], Array]:
    def loss(logits: Array, y: Array) -> Array:
        p, yf = jax.nn.sigmoid(logits[:, 0]), y.astype(jnp.float32)
        if clip:
            p = jnp.clip(p, 1e-7, 1 - 1e-7)
        return -(yf * jnp.log(p) + (1 - yf) * jnp.log(1 - p)).mean()

    return loss


def _mse(outputs: Array, y: Array) -> Array:
    return jnp.mean((outputs - y.reshape(outputs.shape)) ** 2)


BUILTIN = {
    "softmax_ce": Loss("softmax_ce", _softmax_ce, _argmax_hits, False, True),
    "bce": Loss("bce", _bce, _sign_hits, True, True),
    "bce_unclipped": Loss("bce_unclipped", _bce_probability(False), _sign_hits, True, True),
    "bce_clipped": Loss("bce_clipped", _bce_probability(True), _sign_hits, True, True),
    "mse": Loss("mse", _mse, None, False, False),
}
NAMES = tuple(BUILTIN)


def get(loss: str | Callable | Loss) -> Loss:
    """The ``Loss`` for a name, a user function ``(outputs, targets) -> scalar``, or itself."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        if loss not in BUILTIN:
            raise ValueError(
                f"unknown loss {loss!r}; accepted: {', '.join(NAMES)}, or a function "
                "loss(outputs, targets) -> scalar"
            )
        return BUILTIN[loss]
    if callable(loss):
        name = getattr(loss, "__name__", type(loss).__name__)
        return Loss(name, loss, None, False, False)
    raise ValueError(
        f"loss must be one of {', '.join(NAMES)} or a function loss(outputs, targets) -> "
        f"scalar, got {type(loss).__name__}"
    )


def outputs_for(loss: Loss, data) -> tuple[int, ...] | None:
    """The per-example output shape a built-in loss needs on ``data`` (``[classes]``, or
    ``[T, classes]`` for labels ``[n, T]``; ``[1]`` for a binary loss; the targets' shape for
    ``mse``); None for a user loss (its own)."""
    if loss.binary:
        return (1,)
    if loss.name == "softmax_ce":
        return (*(int(s) for s in data.y_train.shape[1:]), int(data.num_classes))
    if loss.name == "mse":
        shape = tuple(int(s) for s in data.y_train.shape[1:])
        return shape or (1,)
    return None


def check(loss: Loss, data) -> None:
    """Raise ``ValueError`` when ``data``'s targets do not fit ``loss``."""
    floats = jnp.issubdtype(data.y_train.dtype, jnp.floating)
    if loss.classification and floats:
        raise ValueError(
            f"loss {loss.name!r} needs integer class labels, the data's targets are "
            f"{data.y_train.dtype}; accepted for float targets: 'mse' or your own loss"
        )
    if loss.binary and data.num_classes != 2:
        raise ValueError(f"loss {loss.name!r} needs 2 classes, the data has {data.num_classes}")
    if loss.name == "mse" and not floats:
        raise ValueError(
            f"loss 'mse' needs float targets, the data's are {data.y_train.dtype} (class "
            "labels: use 'softmax_ce'; or build the data with float y)"
        )
