"""Sequence datasets: token ids ``x: [n, T]`` int32, cut from text or generated.

Both kinds are plain ``Dataset``\\ s (``actlab.dataset``): integer inputs are token ids, which
``normalise`` passes through for a model to embed, and ``num_classes`` is the vocabulary size.

**Character-level text**: ``text(path)`` (``actlab.data.load("text:PATH")``), the Debian
``fortunes`` corpus (``load("fortunes")``, ``actlab._datasets.locate``), or ``from_texts`` for
strings in hand.

* Examples: windows of ``context`` characters, ``x: [n, context]``, with their next-character
  targets ``y: [n, context]``: ``y[i, t] = x[i, t + 1]``, and ``y[i, -1]`` is the character
  after the window. Windows do not overlap (stride ``context``), start at the region's first
  character and stay inside it, targets included; the remainder at a region's end (fewer than
  ``context + 1`` characters) is dropped.
* Splits: disjoint regions of the text, never shuffled. ``text``: train = the first 90 %
  of the characters (``TEST_FRACTION``), test = the last 10 %, cut at that character (the
  fortunes, at the fortune boundary nearest it). No window crosses the cut, and the same
  file gives the same splits. The dataset is ``ordered``: a validation split
  (``selection.holdout``) is the last training windows, a contiguous block before the test
  region, never a random subset of neighbouring windows.
* Vocabulary: id 0 is ``<unk>`` (``UNK``); ids 1, 2, ... are the vocabulary's characters in
  order. By default the characters of the training region in code-point order, so a character
  seen only in the test region is ``<unk>``; pass ``vocabulary=`` to fix it (the fortunes use
  ``PRINTABLE``), and every character outside it is ``<unk>``. ``num_classes = len(vocabulary)
  + 1``. ``encode`` and ``decode`` translate.

**Modular addition** (``modular_addition``, ``load("modular_addition")``), the grokking task
of Power et al. (2022): every pair ``(a, b)`` of ``[0, p)``, ``x = [a, b, p]`` (``p`` is the
``=`` token) and ``y = (a + b) mod p``, one answer per example, ``y: [n]``. A model reads its
logits at the last position (at ``=``), as Nanda et al. (2023) do, so loss and accuracy are
exactly the answer's: next-token targets at every position would mix in the unpredictable
``b`` after ``a`` and the certain ``=`` after ``b``, and an accuracy averaged over them would
not say whether the model adds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from actlab._datasets.files import DataFormatError
from actlab.dataset import Dataset, from_arrays

UNK = 0  # the id of every character outside the vocabulary
TEST_FRACTION = 0.1  # the text's last tenth is the test region
PRINTABLE = "\t\n" + "".join(map(chr, range(32, 127)))  # tab, newline, printable ASCII: 97


def vocabulary(text: str) -> str:
    """The distinct characters of ``text`` in code-point order (ids 1, 2, ...)."""
    return "".join(sorted(set(text)))


def _codes(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le"), np.uint32)


def encode(text: str, vocab: str) -> np.ndarray:
    """``text`` as ids: ``vocab[i]`` is ``i + 1``, any other character ``UNK``. ``[len]`` int32."""
    keys = _codes(vocab)
    order = np.argsort(keys, kind="stable")
    ordered, codes = keys[order], _codes(text)
    at = np.minimum(np.searchsorted(ordered, codes), len(keys) - 1)
    return np.where(ordered[at] == codes, order[at] + 1, UNK).astype(np.int32)


def decode(ids, vocab: str, unk: str = "\ufffd") -> str:
    """Ids back to text, ``UNK`` as ``unk``."""
    table = [unk, *vocab]
    return "".join(table[i] for i in np.asarray(ids).reshape(-1).tolist())


def windows(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``ids`` and their next-token targets: ``[n, context]`` each,
    ``n = (len(ids) - 1) // context``."""
    n = (len(ids) - 1) // context
    return (
        ids[: n * context].reshape(n, context),
        ids[1 : n * context + 1].reshape(n, context),
    )


def from_texts(
    train: str,
    test: str,
    *,
    context: int = 64,
    vocab: str | None = None,
    name: str = "text",
    source: str = "in-memory text",
) -> Dataset:
    """An ``ordered`` character-level ``Dataset`` from a training and a test text, windowed
    separately (module docstring). ``vocab`` defaults to ``vocabulary(train)``."""
    if not isinstance(context, (int, np.integer)) or context < 1:
        raise ValueError(f"context must be a positive number of characters, got {context!r}")
    vocab = vocabulary(train) if vocab is None else vocab
    if not vocab or len(set(vocab)) != len(vocab):
        raise ValueError("the vocabulary must be a non-empty string of distinct characters")
    splits = []
    for split, text in (("train", train), ("test", test)):
        if len(text) < context + 1:
            raise ValueError(
                f"{name}: the {split} region has {len(text)} characters, fewer than one window "
                f"and its target ({context} + 1): use a longer text or a shorter context"
            )
        splits += windows(encode(text, vocab), context)
    return from_arrays(
        *splits,
        num_classes=len(vocab) + 1,
        name=name,
        source=f"{source}; {context}-character windows, not overlapping; vocabulary: "
        f"<unk> + {len(vocab)} characters",
        ordered=True,
    )


def text(
    path: str | os.PathLike,
    context: int = 64,
    *,
    test_fraction: float = TEST_FRACTION,
    vocab: str | None = None,
) -> Dataset:
    """The characters of the UTF-8 file ``path`` as next-character windows: train = its first
    ``1 - test_fraction`` of characters, test = the rest (module docstring). Named
    ``text:PATH``, as ``actlab.data.load`` takes it."""
    path = Path(path)
    name = f"text:{path}"
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    raw = path.read_bytes()
    try:
        chars = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{name}: not UTF-8 text ({e})") from e
    cut = round(len(chars) * (1 - test_fraction))
    return from_texts(
        chars[:cut],
        chars[cut:],
        context=context,
        vocab=vocab,
        name=name,
        source=f"{path.resolve()} ({len(chars)} characters, sha256 "
        f"{hashlib.sha256(raw).hexdigest()[:12]}); train = characters [0, {cut}), test = "
        f"[{cut}, {len(chars)}) (the last {test_fraction:.0%})",
    )


def modular_addition(p: int = 97, train_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Every pair of ``[0, p)``: ``x = [a, b, p]`` (``p``: the ``=`` token), ``y = (a + b) mod p``.

    ``x: [n, 3]`` int32, ``y: [n]`` int32 (module docstring: why the answer alone).
    ``num_classes = p + 1``, the vocabulary, so one size serves an embedding and an unembedding;
    the ``=`` class is never a target (chance accuracy is ``1 / p``). Train: the first
    ``round(train_fraction * p**2)`` pairs of a ``numpy`` permutation of ``seed``, test: the
    others; each split in ``(a, b)`` order. Deterministic.
    """
    if not isinstance(p, (int, np.integer)) or p < 2:
        raise ValueError(f"p must be an integer >= 2, got {p!r}")
    pairs = p * p
    k = round(train_fraction * pairs)
    if not 0 < k < pairs:
        raise ValueError(
            f"train_fraction={train_fraction!r} leaves an empty split of the {pairs} pairs"
        )
    a, b = np.divmod(np.arange(pairs), p)
    x = np.stack([a, b, np.full_like(a, p)], axis=1).astype(np.int32)
    y = ((a + b) % p).astype(np.int32)
    order = np.random.default_rng(seed).permutation(pairs)
    train, test = np.sort(order[:k]), np.sort(order[k:])
    return from_arrays(
        x[train],
        y[train],
        x[test],
        y[test],
        num_classes=p + 1,
        name="modular_addition",
        source=f"built in: (a + b) mod {p} for all {pairs} pairs, x = [a, b, {p} (=)], "
        f"y = the answer; train = {k} pairs ({train_fraction:.0%}) by a permutation of seed "
        f"{seed}, test = the other {pairs - k}",
    )
