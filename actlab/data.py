"""Datasets as device arrays: ``x: [n, ...]``, ``y: [n]`` int32, built in, from arrays or files.

This module is the public face of four: the type (``actlab.dataset``), the built-in datasets
(``actlab.synthetic``), sequence data (``actlab.sequences``) and the search engine
(``actlab._datasets.locate``).

A ``Dataset`` stores inputs compactly (uint8 stays uint8) with an affine normalisation
``(x - shift) * scale`` that the compiled training step applies, so one copy on the device
serves every model. Images keep their shape ``[n, H, W, C]``; MLPs flatten inside the model.
Integer inputs other than uint8 are token ids (``x: [n, T]`` int32), never normalised.

``load(name)`` returns train and test splits. Built-ins (``xor``, ``mnist1d``,
``teacher_student``, ``modular_addition``, ``digits``: scikit-learn's bundled 8x8 digits)
come from ``BUILTIN``. Sequence data (token windows with next-token targets,
``actlab.sequences`` states the splits and the vocabulary): ``text:PATH``, the characters
of any UTF-8 file (``text(path, context)``), and ``fortunes`` (``CORPORA``: Debian's
``fortunes`` package, ``fortunes(context)``, searched in ``data_dir/fortunes/``,
``$ACTLAB_DATA_DIR/fortunes/``, then ``/usr/share/games/fortunes``; without it, a one-line
error: ``apt-get install fortunes``). Every other name is searched for, in this order, and
the first place that has it wins:

a. Files in ``data_dir=``, then in ``$ACTLAB_DATA_DIR``:
   ``{name}.npz`` or ``{name}/{name}.npz`` (arrays ``x_train, y_train, x_test, y_test``);
   the four IDX files of MNIST / Fashion-MNIST / KMNIST (``train-images-idx3-ubyte.gz``,
   ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``;
   ``.gz`` or not) in ``{name}/``, in the usual folders (``fashion-mnist/``, torchvision's
   ``FashionMNIST/raw/``...) or, for those three names, directly in the directory;
   CIFAR-10's python batches in ``cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``).
b. A tfds dataset prepared as array_record in ``data_dir``, ``$ACTLAB_DATA_DIR``, then tfds's
   default (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``), read with tfds's data source: no
   TensorFlow. ``prepare_tfds`` writes one from local IDX files, offline and TF-free.
c. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).
d. With a network only: download and prepare through tfds into the first of ``data_dir``,
   ``$ACTLAB_DATA_DIR``, tfds's default (TF-free for the three IDX datasets; others need
   TensorFlow installed to prepare).

Found files are checked against the hashes recorded in ``actlab/_datasets/files.py`` (which
ones, and where they come from, is stated there); a mismatch raises ``ChecksumError``
(``verify=False`` skips it). Nothing found raises ``DatasetNotFound``, listing every place
looked in and how to get the data.

Normalisation of loaded datasets: ``normalise`` standardises, ``(x - mean) / std`` with one
scalar mean and std over every value of the loaded training split (computed exactly at load
time; for Fashion-MNIST 72.94 and 90.02 in pixel units, i.e. 0.2860 and 0.3530 of 255, the
published values). The two routes (files, tfds) hold the same examples in different orders:
files keep the published order, tfds its own (hashed, but fixed) record order.
"""

from actlab._datasets.files import ChecksumError, DataFormatError
from actlab._datasets.locate import (
    CORPORA,
    ENV_DIR,
    IMAGES,
    DatasetNotFound,
    ImageSpec,
    fortunes,
    load,
    prepare_tfds,
)
from actlab.dataset import Dataset, from_arrays
from actlab.sequences import from_texts, modular_addition, text
from actlab.synthetic import BUILTIN, cache_dir, digits, mnist1d, teacher_student, xor

__all__ = [
    "BUILTIN",
    "CORPORA",
    "ENV_DIR",
    "IMAGES",
    "ChecksumError",
    "DataFormatError",
    "Dataset",
    "DatasetNotFound",
    "ImageSpec",
    "cache_dir",
    "digits",
    "fortunes",
    "from_arrays",
    "from_texts",
    "load",
    "mnist1d",
    "modular_addition",
    "prepare_tfds",
    "teacher_student",
    "text",
    "xor",
]
