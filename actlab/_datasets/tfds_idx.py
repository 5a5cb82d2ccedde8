"""tfds builders for MNIST, Fashion-MNIST and KMNIST that prepare without TensorFlow.

Each subclasses tfds's own builder (same ``name``, version, features and class names, so the
result is what plain ``tfds.data_source(name, data_dir=...)`` expects) with
``skip_registration=True``, and overrides only where the bytes come from: the IDX files found
locally (or, with a network, the published ``.gz`` files via the download manager), parsed with
numpy and stored as PNG made by pillow. The stock path needs TensorFlow for both steps
(``tf.io.gfile``, ``tf.image.encode_png``). Prepare with ``file_format="array_record"``: tfrecord
cannot be read back without TensorFlow.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from actlab._datasets import files


class _FromIdx:
    """Mixin. Set ``idx_files`` ({split: (images, labels)}, None: download) before preparing,
    and ``verify`` to check the recorded hashes."""

    idx_files: dict[str, tuple[Path, Path]] | None = None
    verify: bool = True

    def _split_generators(self, dl_manager):
        paths = self.idx_files
        if paths is None:  # only reached with a network: fetch the published files
            urls = {s: self.URL + s + ".gz" for stems in files.IDX_STEMS.values() for s in stems}
            got = dl_manager.download(urls)
            paths = {
                split: (Path(got[i]), Path(got[lab])) for split, (i, lab) in files.IDX_STEMS.items()
            }
        return [
            tfds.core.SplitGenerator(name=split, gen_kwargs={"split": split, "pair": pair})
            for split, pair in paths.items()
        ]

    def _generate_examples(self, split, pair):
        known = files.known_idx(self.name, split) if self.verify else (None, None)
        x, y, _ = files.read_idx_pair(*pair, known)
        for i in range(len(y)):  # the key fixes the (hashed) record order, as in tfds's MNIST
            yield i, {"image": png(x[i]), "label": int(y[i])}


def png(image: np.ndarray) -> bytes:
    """``[H, W, 1]`` or ``[H, W, 3]`` uint8 -> PNG bytes (what tfds's ``Image`` stores)."""
    out = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(out, format="PNG")
    return out.getvalue()


class MNIST(_FromIdx, tfds_mnist.MNIST, skip_registration=True):
    name = "mnist"


class FashionMNIST(_FromIdx, tfds_mnist.FashionMNIST, skip_registration=True):
    name = "fashion_mnist"


class KMNIST(_FromIdx, tfds_mnist.KMNIST, skip_registration=True):
    name = "kmnist"


BUILDERS = {b.name: b for b in (MNIST, FashionMNIST, KMNIST)}


def prepare(
    name: str, idx_files: dict[str, tuple[Path, Path]] | None, data_dir: Path, verify: bool
) -> Path:
    """Write ``data_dir/name/<version>/`` as array_record; returns that directory."""
    builder = BUILDERS[name](data_dir=str(data_dir))
    builder.idx_files, builder.verify = idx_files, verify
    builder.download_and_prepare(
        file_format="array_record",
        download_config=tfds.download.DownloadConfig(try_download_gcs=False),
    )
    return Path(builder.data_dir)
