"""Dataset files as published, parsed with numpy only: IDX (``.gz`` or raw), CIFAR-10 python
pickles, ``.npz`` and Debian's fortune files (text). Every reader validates what it parses and
names the file when it fails.

Checksums (``KNOWN``) are only recorded where the bytes are canonical or were measured here:

* ``sha256_file`` of the original ``.gz`` files: copied from tensorflow-datasets 4.9.10
  (``tensorflow_datasets/url_checksums/{mnist,fashion_mnist,kmnist}.txt``), i.e. the files as
  published by LeCun et al. (CVDF mirror), Zalando and CODH.
* Fashion-MNIST as shipped by Debian's ``dataset-fashion-mnist`` (0.0~git20200523.55506a9-1):
  re-gzipped without the stored file name (each ``.gz`` is exactly 24 bytes shorter than the
  original: the name plus its NUL), so its ``.gz`` hashes differ from the published ones. Both the
  Debian ``.gz`` hashes and the SHA-256 of the *decompressed* IDX bytes were measured on those
  files; the decompressed hashes also accept the original or an uncompressed copy.
* No decompressed hashes are recorded for MNIST or KMNIST (none were measured): a re-gzipped or
  uncompressed copy of those fails verification unless ``verify=False``.
* CIFAR-10 python batches: only MD5 is published (Krizhevsky's page, as used by torchvision), and
  the pickles are canonical bytes (extracted unchanged from ``cifar-10-python.tar.gz``).
* Fortune files: none (their text changes between package versions); ``read_fortunes``
  returns a SHA-256 of the bytes it read, which the dataset's ``source`` names.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np


class DataFormatError(ValueError):
    """A dataset file exists but its content is not what its format promises."""


class ChecksumError(ValueError):
    """A dataset file's hash differs from the published (or measured) one."""


class Known(NamedTuple):
    """Accepted hashes of one file; any match verifies it."""

    sha256_file: tuple[str, ...] = ()  # of the file as stored (``.gz`` bytes for IDX)
    sha256_content: str = ""  # of the decompressed IDX bytes
    md5_file: str = ""  # where only MD5 is published (CIFAR-10)


IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

KNOWN: dict[tuple[str, str], Known] = {
    ("mnist", "train-images-idx3-ubyte"): Known(
        ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",)
    ),
    ("mnist", "train-labels-idx1-ubyte"): Known(
        ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",)
    ),
    ("mnist", "t10k-images-idx3-ubyte"): Known(
        ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",)
    ),
    ("mnist", "t10k-labels-idx1-ubyte"): Known(
        ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",)
    ),
    ("fashion_mnist", "train-images-idx3-ubyte"): Known(
        (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",  # published
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",  # Debian
        ),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    ("fashion_mnist", "train-labels-idx1-ubyte"): Known(
        (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    ("fashion_mnist", "t10k-images-idx3-ubyte"): Known(
        (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    ("fashion_mnist", "t10k-labels-idx1-ubyte"): Known(
        (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    ("kmnist", "train-images-idx3-ubyte"): Known(
        ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",)
    ),
    ("kmnist", "train-labels-idx1-ubyte"): Known(
        ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",)
    ),
    ("kmnist", "t10k-images-idx3-ubyte"): Known(
        ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",)
    ),
    ("kmnist", "t10k-labels-idx1-ubyte"): Known(
        ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",)
    ),
    ("cifar10", "data_batch_1"): Known(md5_file="c99cafc152244af753f735de768cd75f"),
    ("cifar10", "data_batch_2"): Known(md5_file="d4bba439e000b95fd0a9bffe97cbabec"),
    ("cifar10", "data_batch_3"): Known(md5_file="54ebc095f3ab1f0389bbae665268c751"),
    ("cifar10", "data_batch_4"): Known(md5_file="634d18415352ddfa80567beed471001a"),
    ("cifar10", "data_batch_5"): Known(md5_file="482c414d41f54cd18b22e5b47cb7c3cb"),
    ("cifar10", "test_batch"): Known(md5_file="40351d587109b95175f43aff81a1287e"),
}


# ------------------------------------------------------------------------------ checksums


def check_hash(path: Path, stored: bytes, content: bytes, known: Known) -> str:
    """Check ``stored`` (file bytes) / ``content`` (decompressed) against ``known``.

    Returns how it was verified; raises ``ChecksumError`` naming file, expected and actual.
    """
    actual = hashlib.sha256(stored).hexdigest()
    if actual in known.sha256_file:
        return "SHA-256 verified"
    if known.md5_file and hashlib.md5(stored).hexdigest() == known.md5_file:
        return "MD5 verified"
    actual_content = hashlib.sha256(content).hexdigest() if known.sha256_content else ""
    if actual_content and actual_content == known.sha256_content:
        return "SHA-256 of decompressed content verified"
    expected, got = [], []
    if known.sha256_file:
        expected.append(f"SHA-256 {' or '.join(known.sha256_file)} (file)")
        got.append(f"SHA-256 {actual} (file)")
    if known.sha256_content:
        expected.append(f"SHA-256 {known.sha256_content} (decompressed)")
        got.append(f"SHA-256 {actual_content} (decompressed)")
    if known.md5_file:
        expected.append(f"MD5 {known.md5_file}")
        got.append(f"MD5 {hashlib.md5(stored).hexdigest()}")
    raise ChecksumError(
        f"checksum mismatch for {path}: expected {'; '.join(expected)}, got {'; '.join(got)}. "
        "The file is corrupt, not the dataset it is named after, or a re-compressed copy whose "
        "decompressed hash is not recorded: replace it with the published file, or pass "
        "verify=False to skip this check."
    )


def read_verified(path: Path, known: Known | None) -> tuple[bytes, str]:
    """File bytes, gunzipped if gzip, and how they were verified (``known=None``: not)."""
    stored = path.read_bytes()
    content = gunzip(stored, path) if stored[:2] == b"\x1f\x8b" else stored
    if known is None:
        return content, "not verified"
    return content, check_hash(path, stored, content, known)


def gunzip(data: bytes, path: Path) -> bytes:
    """Decompress gzip bytes, naming ``path`` if they are truncated or corrupt."""
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as e:  # gzip raises all three, by failure kind
        raise DataFormatError(f"{path}: corrupt or truncated gzip file ({e})") from e


# ------------------------------------------------------------------------------ IDX

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, path: Path | str) -> np.ndarray:
    """IDX bytes (LeCun's format: magic ``00 00 TT DD``, DD big-endian uint32 dims, data)
    -> ``np.ndarray`` of those dims, native byte order."""
    if len(data) < 4:
        raise DataFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise DataFormatError(
            f"{path}: not an IDX file: magic number 0x{data[:4].hex()} (expected 0x0000TTDD "
            f"with type TT in {{{', '.join(f'{c:02x}' for c in _IDX_DTYPES)}}} and DD >= 1 dims)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataFormatError(
            f"{path}: {what}: its header promises shape {dims} of {dtype.name}, "
            f"{expected} bytes in all, but the (decompressed) file holds {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def find_idx(folder: Path) -> tuple[dict[str, tuple[Path, Path]], list[str]]:
    """The four IDX files in ``folder`` (``stem.gz`` preferred over ``stem``).

    Returns ``({split: (images, labels)}, missing)``; the dict is empty unless all four exist.
    """
    found, missing = {}, []
    for split, stems in IDX_STEMS.items():
        paths = []
        for stem in stems:
            path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
            paths.append(path)
            if path is None:
                missing.append(f"{stem}.gz")
        found[split] = tuple(paths)
    return (found if not missing else {}), missing


def read_idx_pair(
    images: Path, labels: Path, known: tuple[Known | None, Known | None] = (None, None)
) -> tuple[np.ndarray, np.ndarray, str]:
    """One split from IDX files (gzipped or not), each checked against its ``known`` hashes
    (None: unchecked) -> ``x: [n, H, W, 1]`` (idx3) or ``[n, ...]``, ``y: [n]``, a note."""
    notes, arrays = [], []
    for path, k in zip((images, labels), known):
        content, note = read_verified(path, k)
        notes.append(note)
        arrays.append(parse_idx(content, path))
    x, y = arrays
    if y.ndim != 1:
        raise DataFormatError(f"{labels}: labels must be 1-D (idx1), got shape {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataFormatError(
            f"{images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels"
        )
    if x.ndim == 3:  # idx3 greyscale images: keep [n, H, W, C]
        x = x[..., None]
    return x, y, _summarise(notes)


def known_idx(name: str, split: str) -> tuple[Known | None, Known | None]:
    """Recorded hashes of ``name``'s (images, labels) IDX files for ``split``."""
    return tuple(KNOWN.get((name, stem)) for stem in IDX_STEMS[split])


def _summarise(notes: list[str]) -> str:
    return notes[0] if len(set(notes)) == 1 else ", ".join(sorted(set(notes)))


# ------------------------------------------------------------------------------ CIFAR-10


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and scalars, nothing that runs code."""

    _ALLOWED: ClassVar[frozenset] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # protocol-2 pickles store bytes this way
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def parse_cifar_batch(data: bytes, path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch (dict with ``data: [n, 3072]`` uint8 in CHW order, ``labels``)
    -> ``x: [n, 32, 32, 3]`` uint8, ``y: [n]``."""
    try:
        d = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except Exception as e:  # pickle raises many types on garbage
        raise DataFormatError(f"{path}: not a CIFAR python batch ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict):
        raise DataFormatError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataFormatError(f"{path}: needs keys 'data' and 'labels', has {sorted(d)}")
    x, y = np.asarray(d["data"]), np.asarray(d["labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataFormatError(f"{path}: 'data' must be [n, 3072] uint8, got {x.shape} {x.dtype}")
    if y.shape != (x.shape[0],):
        raise DataFormatError(f"{path}: {x.shape[0]} images but labels of shape {y.shape}")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def read_cifar10(folder: Path, verify: bool) -> tuple[dict[str, tuple], str]:
    """``{split: (x [n, 32, 32, 3] uint8, y [n])}`` from ``folder/data_batch_*``, ``test_batch``."""
    splits, notes = {}, []
    for split, names in CIFAR10_BATCHES.items():
        xs, ys = [], []
        for batch in names:
            path = folder / batch
            known = KNOWN.get(("cifar10", batch)) if verify else None
            content, note = read_verified(path, known)  # verified before unpickling
            x, y = parse_cifar_batch(content, path)
            xs.append(x)
            ys.append(y)
            notes.append(note)
        splits[split] = (np.concatenate(xs), np.concatenate(ys))
    return splits, _summarise(notes)


def missing_cifar10(folder: Path) -> list[str]:
    """Batch files absent from ``folder``."""
    return [b for names in CIFAR10_BATCHES.values() for b in names if not (folder / b).is_file()]


# ------------------------------------------------------------------------------ npz

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (x, y)}`` from an ``.npz`` with ``x_train, y_train, x_test, y_test``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise DataFormatError(
                    f"{path}: missing arrays {missing}; it has {sorted(z.files)}, "
                    f"needs {list(NPZ_KEYS)}"
                )
            d = {k: z[k] for k in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataFormatError(f"{path}: not a readable .npz file ({e})") from e
    except ValueError as e:
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(f"{path}: cannot read arrays ({e})") from e
    return {"train": (d["x_train"], d["y_train"]), "test": (d["x_test"], d["y_test"])}


# ------------------------------------------------------------------------------ fortunes

# Debian's `fortunes` package (1:1.99.1), which depends on `fortunes-min` (fortunes, literature,
# riddles): every text file but ascii-art (drawings, not prose). Listed, not globbed, so the
# corpus is the same wherever it is found; fortunes-off (offensive) is a separate package.
FORTUNE_FILES = tuple(
    "art computers cookie debian definitions disclaimer drugs education ethnic food fortunes "
    "goedel humorists kids knghtbrd law linux linuxcookie literature love magic medicine "
    "men-women miscellaneous news paradoxum people perl pets platitudes politics pratchett "
    "riddles science songs-poems sports startrek tao translate-me wisdom work zippy".split()
)
_OVERSTRIKE = re.compile(r"[^\x08\n]\x08")  # "_\bx" (underlined x), "x\bx" (bold x), "e\b'"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and newline: BEL, stray \b
_SEPARATOR = re.compile(r"^%\n", re.MULTILINE)


def missing_fortunes(folder: Path) -> list[str]:
    """The ``FORTUNE_FILES`` that ``folder`` lacks."""
    return [f for f in FORTUNE_FILES if not (folder / f).is_file()]


def read_fortunes(folder: Path) -> tuple[list[str], str]:
    """Every fortune of ``FORTUNE_FILES`` in ``folder``, in file then file order, and the
    SHA-256 (hex) of the bytes read.

    Each fortune ends with one newline and holds no ``%`` separator line. Cleaned for a
    character model: overstrikes (a character, backspace, another: old terminals' underline,
    bold and accents) keep the last character; other control characters but tab and newline
    (the bell) are dropped. Duplicates (same text up to case and whitespace; 121 in 1.99.1,
    across files) are kept once, the first, so none can sit on both sides of a split.
    """
    h, fortunes, seen = hashlib.sha256(), [], set()
    for name in FORTUNE_FILES:
        path = folder / name
        raw = path.read_bytes()
        h.update(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(f"{path}: not UTF-8 text ({e})") from e
        while _OVERSTRIKE.search(text):  # "___\b\b\bfoo": one pair per pass
            text = _OVERSTRIKE.sub("", text)
        for fortune in _SEPARATOR.split(_CONTROL.sub("", text)):
            key = " ".join(fortune.lower().split())
            if key and key not in seen:
                seen.add(key)
                fortunes.append(fortune.rstrip("\n") + "\n")
    return fortunes, h.hexdigest()
