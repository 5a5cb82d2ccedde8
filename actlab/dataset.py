"""The ``Dataset`` type: train and test splits as device arrays, ``x: [n, ...]``, ``y: [n, ...]``.

Targets are class labels (``y: [n]`` int32, ``num_classes`` of them) or, for a regression,
float values (``y: [n, ...]`` float32, ``num_classes`` None; train under ``loss="mse"`` or a
loss of your own).

A ``Dataset`` stores inputs compactly (uint8 stays uint8) with an affine normalisation
``(x - shift) * scale`` that the compiled training step applies, so one copy on the device
serves every model. Images keep their shape ``[n, H, W, C]``; MLPs flatten inside the model.
``from_arrays`` validates and builds one; ``actlab.data.load`` finds one by name.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Dataset(NamedTuple):
    """Train and test splits. ``x_*: [n, *input_shape]``; ``y_*: [n]`` int32 in [0, classes),
    or float32 ``[n, ...]`` targets of a regression (``num_classes`` None)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    num_classes: int | None
    name: str
    source: str
    shift: float = 0.0
    scale: float = 1.0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def regression(self) -> bool:
        """Float targets (no classes)."""
        return self.num_classes is None

    def normalise(self, x: jax.Array) -> jax.Array:
        """``(x - shift) * scale`` in float32; called inside the compiled step."""
        return (x.astype(jnp.float32) - self.shift) * self.scale

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.x_train.shape)} {self.x_train.dtype}, "
            f"test={tuple(self.x_test.shape)}, "
            + (f"classes={self.num_classes}" if self.num_classes else "float targets")
            + f", source={self.source!r})"
        )


def _check_split(x: np.ndarray, y: np.ndarray, split: str, num_classes: int | None) -> None:
    floats = np.issubdtype(y.dtype, np.floating)
    if x.ndim < 2:
        raise ValueError(f"{split}: x must be [n, features...], got shape {x.shape}")
    if y.ndim != 1 and not floats:
        raise ValueError(
            f"{split}: y must be [n] integer labels or float targets [n, ...], got shape "
            f"{y.shape} {y.dtype}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{split}: x has {x.shape[0]} examples but y has {y.shape[0]}; they must match"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{split}: the split is empty (0 examples)")
    for what, a in (("x", x), ("y", y)):
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            raise ValueError(f"{split}: {what} contains {bad} non-finite values (NaN or inf)")
    if floats:
        return  # a regression's targets
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{split}: labels must be integers (or float targets for a regression), got "
            f"dtype {y.dtype}"
        )
    if num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{split}: labels must lie in [0, {num_classes}), found [{y.min()}, {y.max()}]"
        )


def from_arrays(
    x_train,
    y_train,
    x_test=None,
    y_test=None,
    *,
    num_classes: int | None = None,
    name: str = "arrays",
    source: str = "in-memory arrays",
    shift: float = 0.0,
    scale: float = 1.0,
) -> Dataset:
    """A validated ``Dataset`` from in-memory arrays (the test split defaults to the train one).

    ``num_classes`` defaults to ``max(label) + 1``. Float inputs must be finite; labels must be
    integers in ``[0, num_classes)``. Float ``y`` (``[n]`` or ``[n, ...]``) makes a regression:
    no classes, targets kept as float32.
    """
    x_train, y_train = np.asarray(x_train), np.asarray(y_train)
    if x_test is None and y_test is None:
        x_test, y_test = x_train, y_train
    elif x_test is None or y_test is None:
        raise ValueError("give both x_test and y_test, or neither")
    x_test, y_test = np.asarray(x_test), np.asarray(y_test)
    _check_split(x_train, y_train, "train", num_classes)
    _check_split(x_test, y_test, "test", num_classes)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"train inputs are {x_train.shape[1:]} but test inputs are {x_test.shape[1:]}"
        )
    regression = np.issubdtype(y_train.dtype, np.floating)
    if regression != np.issubdtype(y_test.dtype, np.floating) or (
        regression and y_train.shape[1:] != y_test.shape[1:]
    ):
        raise ValueError(
            f"train targets are {y_train.dtype}{list(y_train.shape[1:])} but test targets are "
            f"{y_test.dtype}{list(y_test.shape[1:])}: both labels, or both float targets alike"
        )
    if regression and num_classes is not None:
        raise ValueError("float targets make a regression: give integer labels for classes")
    if not regression:
        if num_classes is None:
            num_classes = int(max(y_train.max(), y_test.max())) + 1
        if num_classes < 2:
            raise ValueError(f"need at least 2 classes, got num_classes={num_classes}")
    compact = x_train.dtype if x_train.dtype == np.uint8 else np.float32
    targets = jnp.float32 if regression else jnp.int32
    return Dataset(
        jnp.asarray(x_train, compact),
        jnp.asarray(y_train, targets),
        jnp.asarray(x_test, compact),
        jnp.asarray(y_test, targets),
        None if regression else int(num_classes),
        name,
        source,
        float(shift),
        float(scale),
    )
