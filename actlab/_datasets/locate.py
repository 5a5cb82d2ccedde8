"""Finding a dataset by name: the search order of ``actlab.data.load`` (files, prepared tfds
datasets, Debian's package, a tfds download), split selection, and the messages that say
where it looked and how to get the data; text files (``text:PATH``) and the ``fortunes``
corpus. The search order is documented in ``actlab.data``.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from pathlib import Path
from typing import NamedTuple

import numpy as np

from actlab import sequences
from actlab._datasets.files import (
    CIFAR10_DIR,
    FORTUNE_FILES,
    IDX_STEMS,
    ChecksumError,
    DataFormatError,
    find_idx,
    known_idx,
    missing_cifar10,
    missing_fortunes,
    read_cifar10,
    read_fortunes,
    read_idx_pair,
    read_npz,
)
from actlab.dataset import Dataset, from_arrays
from actlab.synthetic import BUILTIN

# ------------------------------------------------------------------------------ load

ENV_DIR = "ACTLAB_DATA_DIR"
# Debian's dataset-fashion-mnist puts the four .gz files here (dpkg -L dataset-fashion-mnist),
# its fortunes (and fortunes-min) the fortune files
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),),
    "fortunes": (Path("/usr/share/games/fortunes"),),
}
TEXT = "text:"  # load("text:PATH"): the characters of a file (actlab.sequences.text)
TFDS_DEFAULT_DIR: str | None = None  # None: $TFDS_DATA_DIR or ~/tensorflow_datasets, as tfds


class ImageSpec(NamedTuple):
    """What a known image dataset looks like on disk and in memory."""

    format: str  # "idx" or "cifar"
    shape: tuple[int, int, int]  # [H, W, C] of one image
    classes: int
    folders: tuple[str, ...]  # searched under a data dir, besides the dataset's own name


IMAGES = {
    "mnist": ImageSpec("idx", (28, 28, 1), 10, ("MNIST/raw", "")),
    "fashion_mnist": ImageSpec("idx", (28, 28, 1), 10, ("fashion-mnist", "FashionMNIST/raw", "")),
    "kmnist": ImageSpec("idx", (28, 28, 1), 10, ("KMNIST/raw", "")),
    "cifar10": ImageSpec("cifar", (32, 32, 3), 10, (CIFAR10_DIR, f"cifar10/{CIFAR10_DIR}")),
}


class DatasetNotFound(FileNotFoundError):
    """No source had the dataset; ``looked`` lists every place tried, with what was there."""

    def __init__(
        self, name: str, looked: list[str], in_tfds: bool = True, *, message: str | None = None
    ):
        self.name, self.looked = name, list(looked)
        if message is None:
            places = "\n".join(f"  - {line}" for line in looked)
            message = (
                f"dataset {name!r} not found.{'' if in_tfds else _did_you_mean(name)} Looked "
                f"in:\n{places}\n{_how_to_get(name, in_tfds)}"
            )
        super().__init__(message)


class _Splits(NamedTuple):
    """What a source found: the requested train and test splits, ``x: [n, ...]``, ``y: [n]``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    num_classes: int | None = None


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    split: str | tuple[str, str] | None = None,
    verify: bool = True,
) -> Dataset:
    """Dataset ``name`` with its train and test splits, from the first source that has it.

    See the module docstring for the search order. ``split`` slices as tfds does: a train spec
    (``"train[:10%]"``) or a ``(train, test)`` pair (``("train[:50000]", "train[50000:]")``);
    ``name[a:b]`` with integers or percents, parts joined by ``+``. ``verify=False`` skips the
    checksum check. Images: ``x: [n, H, W, C]`` uint8; labels ``[n]`` int32. ``text:PATH``
    and ``fortunes``: token windows, ``x, y: [n, 64]`` int32 (``actlab.sequences``).
    """
    if name in BUILTIN or name in CORPORA or name.startswith(TEXT):
        if split is not None:
            call = "text(path, test_fraction=...)" if name.startswith(TEXT) else f"{name}(...)"
            raise ValueError(f"split applies to image datasets; call data.{call} instead")
        if name.startswith(TEXT):
            return sequences.text(name[len(TEXT) :])
        return CORPORA[name](data_dir=data_dir) if name in CORPORA else BUILTIN[name]()
    specs, looked = _split_specs(split), []
    dirs = _data_dirs(data_dir, looked)
    found = _first(_from_files(name, d, label, specs, verify, looked) for d, label in dirs)
    in_tfds = True
    if not found:
        found, in_tfds = _from_tfds_dirs(name, dirs, specs, looked)
    found = found or _from_system(name, specs, verify, looked)
    if not found and in_tfds:
        found = _download(name, dirs, specs, verify, looked)
    if not found:
        raise DatasetNotFound(name, looked, in_tfds)
    return _finish(name, found)


def _first(candidates):
    """The first candidate that is not None (evaluated lazily), or None."""
    return next((c for c in candidates if c is not None), None)


def prepare_tfds(
    name: str,
    source_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
) -> Path:
    """Prepare tfds's ``name`` (``mnist``, ``fashion_mnist``, ``kmnist``) from local IDX files.

    Offline and without TensorFlow; writes array_record into ``data_dir`` (default:
    ``$ACTLAB_DATA_DIR``, else tfds's default dir), after which plain
    ``tfds.data_source(name, data_dir=data_dir)`` and ``load(name, data_dir=data_dir)`` read it.
    ``source_dir`` is searched like a data dir. Returns ``data_dir/name/<version>``.
    """
    from actlab._datasets import tfds_idx

    if name not in tfds_idx.BUILDERS:
        raise ValueError(f"prepare_tfds knows {sorted(tfds_idx.BUILDERS)}, not {name!r}")
    looked: list[str] = []
    pairs = _find_idx(name, Path(source_dir), f"source_dir {source_dir}", looked)
    if pairs is None:
        raise DatasetNotFound(name, looked)
    target = data_dir or os.environ.get(ENV_DIR) or _tfds_default()
    return tfds_idx.prepare(name, pairs, Path(target), verify)


def _split_specs(split: str | tuple[str, str] | None) -> tuple[str, str]:
    if split is None:
        return "train", "test"
    if isinstance(split, str):
        return split, "test"
    train, test = split
    return train, test


def _data_dirs(data_dir, looked: list[str]) -> list[tuple[Path, str]]:
    """``[(dir, label)]``: ``data_dir`` then ``$ACTLAB_DATA_DIR``, those that are set."""
    dirs = [] if data_dir is None else [(Path(data_dir).expanduser(), "data_dir")]
    if os.environ.get(ENV_DIR):
        dirs.append((Path(os.environ[ENV_DIR]).expanduser(), f"${ENV_DIR}"))
    else:
        looked.append(f"${ENV_DIR}: not set")
    return dirs


def _tfds_default() -> str:
    default = os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    return str(Path(TFDS_DEFAULT_DIR or default).expanduser())


# ------------------------------------------------------------------------------ (a) files


def _from_files(name, d: Path, label: str, specs, verify: bool, looked) -> _Splits | None:
    """``{name}.npz``, IDX or CIFAR files under ``d``, or None (and a line in ``looked``)."""
    if not d.is_dir():
        looked.append(f"{label} {d}: no such directory")
        return None
    for npz in (d / f"{name}.npz", d / name / f"{name}.npz"):
        if npz.is_file():
            return _select(read_npz(npz), specs, f"{npz} (npz, not verified)")
    if name in IMAGES and IMAGES[name].format == "cifar":
        return _find_cifar(d, label, specs, verify, looked)
    pairs = _find_idx(name, d, label, looked)
    return None if pairs is None else _read_idx(name, pairs, specs, verify)


def _read_idx(name: str, pairs: dict, specs, verify: bool) -> _Splits:
    """``{split: (images, labels)}`` IDX paths -> the requested splits, checksums checked."""
    splits, notes = {}, set()
    for split, (images, labels) in pairs.items():
        known = known_idx(name, split) if verify else (None, None)
        x, y, note = read_idx_pair(images, labels, known)
        splits[split], notes = (x, y), notes | {note}
    folder = pairs["train"][0].parent
    return _select(splits, specs, f"IDX files in {folder} ({', '.join(sorted(notes))})")


def _idx_folders(name: str, d: Path) -> list[Path]:
    """Where IDX files of ``name`` may lie under ``d``; ``d`` itself only for known names."""
    extra = IMAGES[name].folders if name in IMAGES else ()
    return [d / name, *(d / f for f in extra)]


def _find_idx(name, d: Path, label: str, looked) -> dict[str, tuple[Path, Path]] | None:
    """``{split: (images, labels)}`` from the first folder with all four IDX files."""
    folders, partial = _idx_folders(name, d), []
    for folder in folders:
        pairs, missing = find_idx(folder)
        if pairs:
            return pairs
        if len(missing) < 4:
            partial.append(f"{folder} lacks {', '.join(missing)}")
    where = ", ".join(str(f) for f in folders)
    looked.append(
        f"{label} {d}: no {name}.npz; no IDX files in {where}"
        + (f" ({'; '.join(partial)})" if partial else "")
    )
    return None


def _find_cifar(d: Path, label: str, specs, verify: bool, looked) -> _Splits | None:
    folders = [d / f for f in IMAGES["cifar10"].folders]
    for folder in folders:
        missing = missing_cifar10(folder)
        if not missing:
            splits, note = read_cifar10(folder, verify)
            return _select(splits, specs, f"CIFAR-10 python batches in {folder} ({note})")
        if folder.is_dir():
            looked.append(f"{label}: {folder} lacks {', '.join(missing)}")
    where = ", ".join(str(f) for f in folders)
    looked.append(f"{label} {d}: no cifar10.npz; no python batches in {where}")
    return None


_PART = re.compile(r"^(\w+)(?:\[(-?\d+%?)?:(-?\d+%?)?\])?$")


def _select(splits: dict, specs: tuple[str, str], source: str) -> _Splits:
    """Apply tfds-style specs (``"train[:10%]+test"``) to ``{split: (x, y)}`` arrays."""
    picked = []
    for spec in specs:
        xs, ys = [], []
        for part in spec.replace(" ", "").split("+"):
            m = _PART.match(part)
            if not m:
                raise ValueError(
                    f"split {spec!r}: expected 'name' or 'name[a:b]' (integers or percents, "
                    "as in tfds), parts joined by '+'"
                )
            key, lo, hi = m.groups()
            if key not in splits:
                raise ValueError(f"split {spec!r}: {source} has splits {sorted(splits)}")
            x, y = splits[key]
            s = slice(_bound(lo, len(y)), _bound(hi, len(y)))
            xs.append(x[s])
            ys.append(y[s])
        picked += [np.concatenate(xs), np.concatenate(ys)]
    return _Splits(*picked, source)


def _bound(b: str | None, n: int) -> int | None:
    """A slice bound: integer, or percent rounded to the closest example (tfds's default)."""
    if b is None:
        return None
    return round(int(b[:-1]) * n / 100) if b.endswith("%") else int(b)


# ------------------------------------------------------------------------------ (b) tfds


def _from_tfds_dirs(name: str, dirs, specs, looked) -> tuple[_Splits | None, bool]:
    """(b) over the data dirs, then tfds's default. Returns (splits or None, tfds knows name)."""
    default = Path(_tfds_default())
    for d, label in [*dirs, (default, "tfds's default dir")]:
        if not d.is_dir():  # data dirs that do not exist were reported by (a)
            if d == default:
                looked.append(f"tfds in {label} {d}: no such directory")
            continue
        found, in_tfds = _from_tfds(name, d, label, specs, looked)
        if found or not in_tfds:
            return found, in_tfds
    return None, True


def _from_tfds(name: str, d, label: str, specs, looked) -> tuple[_Splits | None, bool]:
    """The specs read from a prepared array_record tfds dataset in ``d``, TF-free.

    Returns ``(splits or None, whether tfds knows the name)``.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=str(d))
    except tfds.core.registered.DatasetNotFoundError:
        looked.append(f"tfds: no dataset named {name!r}")
        return None, False
    try:
        sources = [builder.as_data_source(split=s) for s in specs]
    except Exception as e:  # tfds raises several types for an unprepared or tfrecord dir
        if not builder.is_prepared():
            looked.append(f"tfds in {label} {d}: not prepared")
            return None, True
        fmt = builder.info.file_format
        if fmt is not None and fmt.value != "array_record":
            looked.append(
                f"tfds in {label} {builder.data_dir}: prepared as {fmt.value}, which needs "
                "TensorFlow to read; re-prepare with file_format='array_record'"
            )
            return None, True
        raise DataFormatError(f"tfds {name} in {builder.data_dir}: {e}") from e
    image_key, label_key = _tfds_keys(builder.info)
    arrays = []
    for spec, source in zip(specs, sources):
        arrays += _read_source(source, image_key, label_key, f"tfds {name} split {spec!r}")
    where = f"tfds {name} {builder.info.version} (array_record) in {builder.data_dir}"
    return _Splits(*arrays, where, builder.info.features[label_key].num_classes), True


def _tfds_keys(info) -> tuple[str, str]:
    """(image, label) feature names: the supervised keys, else the first Image and ClassLabel."""
    import tensorflow_datasets as tfds

    if info.supervised_keys and len(info.supervised_keys) == 2:
        return tuple(info.supervised_keys)
    features = info.features
    image = next((k for k, f in features.items() if isinstance(f, tfds.features.Image)), None)
    label = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    if image is None or label is None:
        raise DataFormatError(f"tfds {info.name}: no image and class-label features to train on")
    return image, label


_CHUNK = 10_000  # records per batched read: ~1 s for 28x28 PNGs


def _read_source(source, image_key: str, label_key: str, what: str) -> list[np.ndarray]:
    """Every record of a tfds data source -> ``[x: [n, ...], y: [n]]``, in index order."""
    n = len(source)
    if n == 0:
        raise DataFormatError(f"{what} is empty (0 examples)")
    x = y = None
    for start in range(0, n, _CHUNK):
        records = _get_many(source, list(range(start, min(n, start + _CHUNK))))
        images = [np.asarray(r[image_key]) for r in records]
        if x is None:
            x, y = np.empty((n, *images[0].shape), images[0].dtype), np.empty(n, np.int64)
        try:
            x[start : start + len(records)] = np.stack(images)
        except ValueError as e:
            raise DataFormatError(f"{what}: images differ in shape; need one shape ({e})") from e
        y[start : start + len(records)] = [int(r[label_key]) for r in records]
    return [x, y]


def _get_many(source, indices: list[int]) -> list:
    try:
        return source.__getitems__(indices)  # batched read, ~100x faster than one by one
    except (AttributeError, TypeError, NotImplementedError):  # e.g. tfds.testing.mock_data
        return [source[i] for i in indices]


# ------------------------------------------------------------------------------ (c), (d)


def _from_system(name: str, specs, verify: bool, looked) -> _Splits | None:
    """From a distribution package's files (Debian's ``dataset-fashion-mnist``)."""
    if name not in SYSTEM_DIRS:
        looked.append(f"system packages: none known for {name!r}")
        return None
    for d in SYSTEM_DIRS[name]:
        pairs, _ = find_idx(d)
        if pairs:
            return _read_idx(name, pairs, specs, verify)
        looked.append(f"Debian package dataset-fashion-mnist: no files in {d} (not installed)")
    return None


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Whether tfds's download host answers (fails in ms on a machine without DNS).

    ``ACTLAB_OFFLINE=1`` skips the attempt altogether (the test suite sets it).
    """
    if os.environ.get("ACTLAB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection((host, 443), timeout).close()
        return True
    except OSError:
        return False


def _download(name: str, dirs, specs, verify: bool, looked) -> _Splits | None:
    """(d) Download and prepare through tfds as array_record, then read as in (b)."""
    if not _online():
        looked.append("download through tfds: skipped, no network")
        return None
    target = Path(dirs[0][0] if dirs else _tfds_default())
    try:
        from actlab._datasets import tfds_idx

        if name in tfds_idx.BUILDERS:  # no TensorFlow needed
            tfds_idx.prepare(name, None, target, verify)
        else:
            import tensorflow_datasets as tfds

            builder = tfds.builder(name, data_dir=str(target))
            builder.download_and_prepare(file_format="array_record")
    except (ChecksumError, DataFormatError):
        raise
    except Exception as e:  # noqa: BLE001  network, no TensorFlow...: report with the rest
        looked.append(f"download through tfds into {target}: failed ({type(e).__name__}: {e})")
        return None
    return _from_tfds(name, target, "download dir", specs, looked)[0]


# ------------------------------------------------------------------------------ corpora

FORTUNES_SEED = 0  # the fixed shuffle of the fortunes before the corpus is cut into regions


def fortunes(context: int = 64, *, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Debian's ``fortunes`` (2.5 MB of English: quotes, jokes, poems, definitions, ...) as
    ``context``-character windows, ``x, y: [n, context]`` int32 (``actlab.sequences``).

    Searched in ``data_dir/fortunes/``, ``$ACTLAB_DATA_DIR/fortunes/`` (a folder holding the
    ``FORTUNE_FILES``), then Debian's ``/usr/share/games/fortunes``. The fortunes of the 42
    text files (all but ``ascii-art``, drawings), cleaned and deduplicated
    (``files.read_fortunes``: 15 086 in 1.99.1), are shuffled as wholes by a fixed permutation
    (``FORTUNES_SEED``), so both splits sample every file, and each is followed by its ``%``
    line, kept as an end-of-fortune mark: 2 551 108 characters. Train = the fortunes before
    the boundary nearest 90 % of the characters, test = those after, so no fortune is on
    both sides. Vocabulary: ``sequences.PRINTABLE`` (tab, newline, printable ASCII), every
    other character (47 in 1.99.1: é, ß, mojibake) ``<unk>``: ``num_classes`` 98.
    """
    looked: list[str] = []
    folders = [(d / "fortunes", label) for d, label in _data_dirs(data_dir, looked)]
    folders += [(d, "Debian's fortunes package") for d in SYSTEM_DIRS.get("fortunes", ())]
    for folder, label in folders:
        missing = missing_fortunes(folder)
        if not missing:
            break
        looked.append(
            f"{label} {folder}: "
            + ("no such directory" if not folder.is_dir() else f"lacks {', '.join(missing)}")
        )
    else:
        raise DatasetNotFound(
            "fortunes",
            looked,
            message=f"dataset 'fortunes' not found ({'; '.join(looked)}); on Debian/Ubuntu: "
            f"apt-get install fortunes (or copy its files into ${ENV_DIR}/fortunes/)",
        )
    found, sha = read_fortunes(folder)
    docs = [found[i] + "%\n" for i in np.random.default_rng(FORTUNES_SEED).permutation(len(found))]
    ends = np.cumsum([len(d) for d in docs])
    k = int(np.argmin(np.abs(ends - (1 - sequences.TEST_FRACTION) * ends[-1]))) + 1
    return sequences.from_texts(
        "".join(docs[:k]),
        "".join(docs[k:]),
        context=context,
        vocab=sequences.PRINTABLE,
        name="fortunes",
        source=f"Debian fortunes in {folder} ({len(FORTUNE_FILES)} files, sha256 {sha[:12]}): "
        f"{len(docs)} distinct fortunes, shuffled (seed {FORTUNES_SEED}), each ending in a '%' "
        f"line, {ends[-1]} characters; train = the first {k} fortunes, test = the last "
        f"{len(docs) - k} ({(ends[-1] - ends[k - 1]) / ends[-1]:.1%} of the characters)",
    )


CORPORA = {"fortunes": fortunes}  # text corpora found on disk: name -> loader(data_dir=)


# ------------------------------------------------------------------------------ finishing


def _finish(name: str, f: _Splits) -> Dataset:
    """Validated ``Dataset``: images as ``[n, H, W, C]``, standardised by the train split."""
    spec = IMAGES.get(name)
    x_train, x_test, classes = f.x_train, f.x_test, f.num_classes
    if spec is not None:
        classes = spec.classes
        if x_train.ndim == 3 and spec.shape[-1] == 1:  # [n, H, W] greyscale from an .npz
            x_train, x_test = x_train[..., None], x_test[..., None]
        for split, x in (("train", x_train), ("test", x_test)):
            if x.ndim >= 2 and x.shape[1:] != spec.shape:
                raise DataFormatError(
                    f"{name} from {f.source}: {split} images are {x.shape[1:]}, "
                    f"expected {spec.shape} [H, W, C]"
                )
    mean, std = _moments(x_train)
    try:
        return from_arrays(
            x_train, f.y_train, x_test, f.y_test, num_classes=classes, name=name,
            source=f.source, shift=mean, scale=1.0 / std if std > 0 else 1.0,
        )  # fmt: skip
    except ValueError as e:  # from_arrays names the split and the problem; add the file
        raise DataFormatError(f"{name} from {f.source}: {e}") from e


def _moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and std over all values of ``x``; exact, and via a histogram for uint8."""
    if x.size == 0:
        return 0.0, 1.0
    if x.dtype != np.uint8:
        return float(np.mean(x, dtype=np.float64)), float(np.std(x, dtype=np.float64))
    flat, step = x.reshape(-1), 1 << 22  # chunks keep bincount's int64 copy small
    counts = sum(np.bincount(flat[i : i + step], minlength=256) for i in range(0, flat.size, step))
    values = np.arange(256.0)
    mean = counts @ values / flat.size
    return float(mean), float(np.sqrt(counts @ (values - mean) ** 2 / flat.size))


# ------------------------------------------------------------------------------ messages


def _how_to_get(name: str, in_tfds: bool) -> str:
    spec = IMAGES.get(name)
    if spec is not None and spec.format == "cifar":
        files = f"the extracted {CIFAR10_DIR}/ folder (from cifar-10-python.tar.gz)"
    else:
        stems = [f"{s}.gz" for pair in IDX_STEMS.values() for s in pair]
        files = f"the four IDX files ({', '.join(stems)}) in a folder {name}/"
    tf_note = (
        "TF-free" if name in ("mnist", "fashion_mnist", "kmnist") else "preparing needs TensorFlow"
    )
    download = (
        f"load({name!r}) downloads and prepares it through tensorflow-datasets ({tf_note}) "
        "into data_dir, $ACTLAB_DATA_DIR or tfds's default"
        if in_tfds
        else f"not for {name!r}: tensorflow-datasets has no dataset of that name"
    )
    return (
        "Three ways to get it:\n"
        f"  1. with a network: {download}.\n"
        f"  2. drop the files into ${ENV_DIR} (or pass data_dir=): {files}, or {name}.npz "
        "with x_train, y_train, x_test, y_test, or a tfds dataset prepared as array_record.\n"
        "  3. Fashion-MNIST only, on Debian/Ubuntu: apt-get install dataset-fashion-mnist."
    )


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, [*BUILTIN, *IMAGES, *CORPORA], n=3)
    return (
        f" Unknown name; did you mean {' or '.join(map(repr, close))}?"
        if close
        else " Unknown name."
    )
