"""The ``Dataset`` type: train and test splits as device arrays, ``x: [n, ...]``, ``y: [n, ...]``.

Targets are class labels (``y: [n]`` int32, ``num_classes`` of them), a label per position of a
sequence (``y: [n, T]`` int32 for ``x: [n, T]``, e.g. next-token targets), or, for a
regression, float values (``y: [n, ...]`` float32, ``num_classes`` None; train under
``loss="mse"`` or a loss of your own).

Inputs come in three kinds, told apart by dtype:

* **uint8: images or other pixel data**, stored compactly as uint8;
* **any other integer dtype: token ids** (``x: [n, T]``), stored as int32 and never normalised
  (a model embeds them). For a sequence of tokens ``num_classes`` is the vocabulary size: the
  built-in token datasets (``actlab.sequences``) keep every id in ``[0, num_classes)``;
* **floats**, stored as float32.

uint8 and float inputs carry an affine normalisation ``(x - shift) * scale`` that the compiled
training step applies, so one copy on the device serves every model. Images keep their shape
``[n, H, W, C]``; MLPs flatten inside the model. ``ordered`` marks examples cut in order from
one stream (windows of a text): each continues the one before, so a validation split taken from
the training split must be a contiguous block, not a random subset (``selection.holdout``).
``from_arrays`` validates and builds one; ``actlab.data.load`` finds one by name.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Dataset(NamedTuple):
    """Train and test splits. ``x_*: [n, *input_shape]`` (uint8, int32 token ids or float32);
    ``y_*: [n]`` or ``[n, T]`` int32 in [0, classes), or float32 ``[n, ...]`` targets of a
    regression (``num_classes`` None). ``ordered``: the examples are consecutive pieces of one
    stream, in order (see the module docstring)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    num_classes: int | None
    name: str
    source: str
    shift: float = 0.0
    scale: float = 1.0
    ordered: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def tokens(self) -> bool:
        """Integer token ids as inputs (int32), which ``normalise`` passes through."""
        return _is_tokens(self.x_train.dtype)

    @property
    def regression(self) -> bool:
        """Float targets (no classes)."""
        return self.num_classes is None

    def normalise(self, x: jax.Array) -> jax.Array:
        """``(x - shift) * scale`` in float32; token ids (int32) unchanged. Called inside the
        compiled step."""
        if _is_tokens(x.dtype):
            return x
        return (x.astype(jnp.float32) - self.shift) * self.scale

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.x_train.shape)} {self.x_train.dtype}, "
            f"test={tuple(self.x_test.shape)}, "
            + (f"classes={self.num_classes}" if self.num_classes else "float targets")
            + (", ordered" if self.ordered else "")
            + f", source={self.source!r})"
        )


def _is_tokens(dtype) -> bool:
    """Integer inputs other than uint8 (pixels) are token ids."""
    return np.issubdtype(dtype, np.integer) and dtype != np.uint8


def _check_split(x: np.ndarray, y: np.ndarray, split: str, num_classes: int | None) -> None:
    floats = np.issubdtype(y.dtype, np.floating)
    if x.ndim < 2:
        raise ValueError(f"{split}: x must be [n, features...], got shape {x.shape}")
    if y.ndim not in (1, 2) and not floats:
        raise ValueError(
            f"{split}: y must be [n] integer labels, [n, T] labels per position or float "
            f"targets [n, ...], got shape {y.shape} {y.dtype}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{split}: x has {x.shape[0]} examples but y has {y.shape[0]}; they must match"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{split}: the split is empty (0 examples)")
    if y.ndim == 2 and not floats and y.shape != x.shape[:2]:
        raise ValueError(
            f"{split}: y {list(y.shape)} gives a label per position, so x must be [n, T, ...] "
            f"with the same n and T, got x {list(x.shape)}"
        )
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


def _check_tokens(x: np.ndarray, split: str) -> None:
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(
            f"{split}: the training inputs are token ids (integers), so these must be too, "
            f"got dtype {x.dtype}"
        )
    if x.min() < 0 or x.max() > np.iinfo(np.int32).max:
        raise ValueError(
            f"{split}: integer x are token ids and must lie in [0, 2**31), found "
            f"[{x.min()}, {x.max()}] (uint8 is pixel data; give floats for other values)"
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
    ordered: bool = False,
) -> Dataset:
    """A validated ``Dataset`` from in-memory arrays (the test split defaults to the train one).

    ``num_classes`` defaults to ``max(label) + 1``. Float inputs must be finite; labels must be
    integers in ``[0, num_classes)``, ``y: [n]`` or, one per position of ``x: [n, T, ...]``,
    ``y: [n, T]``. Float ``y`` (``[n]`` or ``[n, ...]``) makes a regression: no classes,
    targets kept as float32. Inputs are kept as uint8 (pixels), int32 (any other integer
    dtype: token ids, in ``[0, 2**31)``) or float32. ``ordered``: see ``Dataset``.
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
    if _is_tokens(x_train.dtype):  # the test split is converted to the train split's dtype
        _check_tokens(x_train, "train")
        _check_tokens(x_test, "test")
    if not regression and y_train.shape[1:] != y_test.shape[1:]:
        raise ValueError(
            f"train labels are {list(y_train.shape[1:])} per example but test labels are "
            f"{list(y_test.shape[1:])}: both [n], or both [n, T] alike"
        )
    if x_train.dtype == np.uint8:
        compact = np.uint8
    else:
        compact = np.int32 if _is_tokens(x_train.dtype) else np.float32
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
        bool(ordered),
    )
