"""actlab.data: built-ins, file parsers, the tfds route and the search order.

Every test but the two marked for Debian's Fashion-MNIST writes tiny files into ``tmp_path``;
``isolated`` keeps the real search locations (env, tfds's default dir, /usr/share, network) out.
"""

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from actlab import data
from actlab._datasets import files, locate

DEBIAN = locate.SYSTEM_DIRS["fashion_mnist"][0]
HAVE_DEBIAN = all((DEBIAN / f"{s}.gz").is_file() for p in files.IDX_STEMS.values() for s in p)
# Fashion-MNIST loadable (tests/conftest.py), and from Debian's files in particular
needs_fashion = pytest.mark.needs_data("fashion_mnist")


def needs_debian(test):
    """``test`` reads Debian's own files: skipped (or failed under ACTLAB_REQUIRE_DATA)
    without Fashion-MNIST, skipped where Fashion-MNIST comes from elsewhere."""
    reason = f"Fashion-MNIST is here, but not Debian's files in {DEBIAN}"
    return needs_fashion(pytest.mark.skipif(not HAVE_DEBIAN, reason=reason)(test))


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No $ACTLAB_DATA_DIR, an empty tfds default dir, no system files, no network."""
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    (tmp_path / "tfds_default").mkdir()
    monkeypatch.setattr(locate, "TFDS_DEFAULT_DIR", str(tmp_path / "tfds_default"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {})
    monkeypatch.setattr(locate, "_online", lambda: False)
    monkeypatch.setenv("ACTLAB_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """``array`` as an IDX file: magic ``00 00 code ndim``, big-endian dims, data."""
    dtype = {0x08: ">u1", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def tiny_images(n: int, seed: int, hw: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, hw, hw), dtype=np.uint8)


def write_idx(folder: Path, n_train=6, n_test=4, *, gz=True, labels=None, hw=28) -> dict:
    """The four IDX files of a tiny MNIST-like dataset; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    y_train = np.arange(n_train) % 10 if labels is None else np.asarray(labels)
    arrays = {
        "train-images-idx3-ubyte": tiny_images(n_train, 0, hw),
        "train-labels-idx1-ubyte": y_train.astype(np.uint8),
        "t10k-images-idx3-ubyte": tiny_images(n_test, 1, hw),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for stem, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


def cifar_batch(path: Path, n: int, label: int = 3) -> None:
    """A CIFAR python batch: channel c of every pixel holds c + 1."""
    rows = np.repeat(np.arange(1, 4, dtype=np.uint8), 1024)[None].repeat(n, 0)
    d = {"data": rows, "labels": [label] * n, "batch_label": "tiny"}
    path.write_bytes(pickle.dumps(d, protocol=2))


def write_cifar(folder: Path, n: int = 2) -> None:
    folder.mkdir(parents=True)
    for name in [*files.CIFAR10_BATCHES["train"], *files.CIFAR10_BATCHES["test"]]:
        cifar_batch(folder / name, n)


# ------------------------------------------------------------------------------ built-ins


def test_xor_has_four_points_and_xor_labels():
    ds = data.load("xor")
    assert ds.x_train.shape == (4, 2) and ds.num_classes == 2
    x, y = np.asarray(ds.x_train), np.asarray(ds.y_train)
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0], x[:, 1]))


def test_mnist1d_same_seed_same_arrays_and_cache_reused(monkeypatch, tmp_path):
    a = data.mnist1d(num_samples=200, seed=3)
    assert len(list((tmp_path / "cache").glob("mnist1d-*.npz"))) == 1
    import mnist1d.data

    def regenerate(_):
        raise AssertionError("the cached file should have been read")

    monkeypatch.setattr(mnist1d.data, "make_dataset", regenerate)
    b = data.mnist1d(num_samples=200, seed=3)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.x_train.shape == (160, 40) and a.num_classes == 10


def test_teacher_student_noise_changes_labels_not_inputs():
    clean, noisy = data.teacher_student(noise=0.0), data.teacher_student(noise=1.0)
    np.testing.assert_array_equal(clean.x_train, noisy.x_train)
    assert (np.asarray(clean.y_train) != np.asarray(noisy.y_train)).mean() > 0.05


def test_builtin_rejects_split():
    with pytest.raises(ValueError, match="split applies to image datasets"):
        data.load("xor", split="train[:2]")


# ------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("sub", ["mnist", "MNIST/raw", "."])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_files_load_as_images(tmp_path, sub, gz):
    arrays = write_idx(tmp_path / "d" / sub, gz=gz)
    ds = data.load("mnist", data_dir=tmp_path / "d", verify=False)
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (4, 28, 28, 1) and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert "not verified" in ds.source and ds.num_classes == 10


def test_load_standardises_by_the_train_split(tmp_path):
    write_idx(tmp_path / "mnist")
    ds = data.load("mnist", data_dir=tmp_path, verify=False)
    z = np.asarray(ds.normalise(ds.x_train), np.float64)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-5)  # float32 rounding


def test_env_dir_is_searched(tmp_path, monkeypatch):
    write_idx(tmp_path / "env" / "kmnist")
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path / "env"))
    assert data.load("kmnist", verify=False).x_train.shape == (6, 28, 28, 1)


def test_idx_bad_magic_names_file():
    with pytest.raises(files.DataFormatError, match=r"f\.idx: not an IDX file: magic .*0x12345678"):
        files.parse_idx(bytes.fromhex("12345678") + bytes(8), "f.idx")


def test_truncated_idx_names_file_and_sizes(tmp_path):
    write_idx(tmp_path / "mnist", n_train=5)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:3000]))
    with pytest.raises(
        files.DataFormatError,
        match=r"train-images-idx3-ubyte\.gz: truncated: .*\(5, 28, 28\).* 3936 bytes .* 3000 bytes",
    ):
        data.load("mnist", data_dir=tmp_path, verify=False)


def test_truncated_gzip_names_file(tmp_path):
    write_idx(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(
        files.DataFormatError, match=r"t10k-labels-idx1-ubyte\.gz: corrupt or trunc"
    ):
        data.load("mnist", data_dir=tmp_path, verify=False)


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path):
    write_idx(tmp_path / "fashion_mnist")
    path = tmp_path / "fashion_mnist" / "train-images-idx3-ubyte.gz"
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    published = files.KNOWN[("fashion_mnist", "train-images-idx3-ubyte")].sha256_file[0]
    with pytest.raises(
        data.ChecksumError, match=rf"{path}: expected SHA-256 {published}.*{actual}"
    ):
        data.load("fashion_mnist", data_dir=tmp_path)


def test_decompressed_hash_accepts_a_regzipped_file(tmp_path):
    raw = idx_bytes(np.arange(3, dtype=np.uint8))
    known = files.Known(("0" * 64,), hashlib.sha256(raw).hexdigest())
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(raw, mtime=0))
    assert files.read_verified(path, known) == (raw, "SHA-256 of decompressed content verified")


def test_labels_out_of_range_are_reported_with_the_file(tmp_path):
    write_idx(tmp_path / "mnist", labels=[0, 1, 12, 3, 4, 5])
    with pytest.raises(
        data.DataFormatError, match=r"IDX files in .*mnist.*train: labels must lie in \[0, 10\)"
    ):
        data.load("mnist", data_dir=tmp_path, verify=False)


def test_nan_in_float_idx_is_reported(tmp_path):
    (tmp_path / "vec").mkdir()
    x = np.ones((3, 4, 5), np.float32)
    x[1, 2, 3] = np.nan
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / "vec" / stem).write_bytes(idx_bytes(x, code=0x0D))
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "vec" / stem).write_bytes(idx_bytes(np.array([0, 1, 1], np.uint8)))
    with pytest.raises(data.DataFormatError, match="x contains 1 non-finite values"):
        data.load("vec", data_dir=tmp_path)


def test_empty_split_is_reported(tmp_path):
    write_idx(tmp_path / "mnist", n_test=0)
    with pytest.raises(data.DataFormatError, match=r"test: the split is empty"):
        data.load("mnist", data_dir=tmp_path, verify=False)


def test_wrong_image_shape_for_a_known_dataset(tmp_path):
    write_idx(tmp_path / "mnist", hw=8)
    with pytest.raises(data.DataFormatError, match=r"are \(8, 8, 1\), expected \(28, 28, 1\)"):
        data.load("mnist", data_dir=tmp_path, verify=False)


def test_split_slices_like_tfds(tmp_path):
    arrays = write_idx(tmp_path / "mnist", n_train=10)
    images = arrays["train-images-idx3-ubyte"]
    ds = data.load("mnist", data_dir=tmp_path, verify=False, split=("train[:70%]", "train[-3:]"))
    np.testing.assert_array_equal(ds.x_train[..., 0], images[:7])
    np.testing.assert_array_equal(ds.x_test[..., 0], images[7:])
    both = data.load("mnist", data_dir=tmp_path, verify=False, split="train[:2]+test[1:2]")
    assert both.x_train.shape[0] == 3
    with pytest.raises(ValueError, match="expected 'name' or 'name\\[a:b\\]'"):
        data.load("mnist", data_dir=tmp_path, verify=False, split="train[::2]")
    with pytest.raises(data.DataFormatError, match="train: the split is empty"):
        data.load("mnist", data_dir=tmp_path, verify=False, split="train[4:4]")


# ------------------------------------------------------------------------------ CIFAR, npz


def test_cifar_batches_load_channels_last(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    ds = data.load("cifar10", data_dir=tmp_path, verify=False)
    assert ds.x_train.shape == (10, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train[0, 5, 7], [1, 2, 3])  # R, G, B planes -> HWC
    assert set(np.asarray(ds.y_train).tolist()) == {3}


def test_cifar_checksum_is_md5(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    with pytest.raises(data.ChecksumError, match="data_batch_1: expected MD5 c99cafc152244af7"):
        data.load("cifar10", data_dir=tmp_path)


def test_cifar_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil()}))
    with pytest.raises(files.DataFormatError, match="refusing to load builtins.print"):
        files.parse_cifar_batch(path.read_bytes(), path)


def test_npz_loads_and_adds_the_channel(tmp_path):
    x = tiny_images(5, 0)
    np.savez(
        tmp_path / "fashion_mnist.npz", x_train=x, y_train=np.arange(5), x_test=x, y_test=[1] * 5
    )
    ds = data.load("fashion_mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (5, 28, 28, 1) and "npz, not verified" in ds.source


def test_npz_nan_and_missing_keys_are_reported(tmp_path):
    x = np.zeros((3, 4), np.float32)
    np.savez(tmp_path / "vec.npz", x_train=x, y_train=[0, 1, 0], x_test=x + np.nan, y_test=[0] * 3)
    with pytest.raises(data.DataFormatError, match="vec.npz.*test: x contains 12 non-finite"):
        data.load("vec", data_dir=tmp_path)
    np.savez(tmp_path / "vec.npz", x_train=x, y_train=[0, 1, 0])
    with pytest.raises(data.DataFormatError, match=r"missing arrays \['x_test', 'y_test'\]"):
        data.load("vec", data_dir=tmp_path)


# ------------------------------------------------------------------------------ not found


def test_unknown_name_suggests_and_lists_places(tmp_path):
    with pytest.raises(data.DatasetNotFound, match="Unknown name; did you mean 'mnist'") as e:
        data.load("mnsit", data_dir=tmp_path)
    msg = str(e.value)
    assert "tfds: no dataset named 'mnsit'" in msg and "$ACTLAB_DATA_DIR: not set" in msg


def test_not_found_lists_every_place_and_three_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fashion_mnist": (tmp_path / "usr-share",)})
    write_idx(tmp_path / "d" / "fashion-mnist", n_test=0)
    (tmp_path / "d" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotFound) as e:
        data.load("fashion_mnist", data_dir=tmp_path / "d")
    msg = str(e.value)
    for expected in [
        f"data_dir {tmp_path / 'd'}: no fashion_mnist.npz; no IDX files in",
        "fashion-mnist lacks t10k-images-idx3-ubyte.gz",
        "tfds in data_dir",
        f"tfds in tfds's default dir {tmp_path / 'tfds_default'}: not prepared",
        f"dataset-fashion-mnist: no files in {tmp_path / 'usr-share'}",
        "download through tfds: skipped, no network",
        "1. with a network",
        "2. drop the files into $ACTLAB_DATA_DIR",
        "3. Fashion-MNIST only, on Debian/Ubuntu: apt-get install dataset-fashion-mnist",
    ]:
        assert expected in msg, (expected, msg)
    assert isinstance(e.value, FileNotFoundError)


# ------------------------------------------------------------------------------ tfds


def test_tfds_mock_goes_through_the_data_source(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=7):
        ds = data.load("mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (7, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (7, 28, 28, 1) and ds.num_classes == 10
    assert 0 <= int(ds.y_train.min()) and int(ds.y_train.max()) < 10
    assert ds.source.startswith("tfds mnist 3.0.1")


def test_tfds_records_are_read_in_index_order(tmp_path):
    import tensorflow_datasets as tfds

    def records(self, split, **kwargs):
        n = 25_003 if split == "train" else 3  # crosses two batched-read boundaries
        return [
            {"image": np.full((28, 28, 1), i % 256, np.uint8), "label": i % 10} for i in range(n)
        ]

    with tfds.testing.mock_data(as_data_source_fn=records):
        ds = data.load("kmnist", data_dir=tmp_path)
    i = np.arange(25_003)
    np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0], i % 256)
    np.testing.assert_array_equal(ds.y_train, i % 10)


def test_prepare_tfds_offline_then_plain_data_source(tmp_path):
    import tensorflow_datasets as tfds

    arrays = write_idx(tmp_path / "src" / "fashion-mnist")
    out = data.prepare_tfds("fashion_mnist", tmp_path / "src", tmp_path / "tfds", verify=False)
    assert out == tmp_path / "tfds" / "fashion_mnist" / "3.0.1"
    source = tfds.data_source("fashion_mnist", split="train", data_dir=str(tmp_path / "tfds"))
    assert len(source) == 6 and source[0]["image"].shape == (28, 28, 1)
    ds = data.load("fashion_mnist", data_dir=tmp_path / "tfds")
    assert ds.source.startswith("tfds fashion_mnist 3.0.1 (array_record)")
    # tfds stores records in hashed-key order: compare as sets of (label, image)
    got = sorted((int(y), np.asarray(x).tobytes()) for x, y in zip(ds.x_train, ds.y_train))
    want = zip(arrays["train-labels-idx1-ubyte"], arrays["train-images-idx3-ubyte"])
    assert got == sorted((int(y), x[..., None].tobytes()) for y, x in want)


def test_download_route_prepares_through_the_idx_builder(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    write_idx(tmp_path / "server")
    urls = []

    def download(self, url_or_urls):  # stands in for the network
        urls.extend(url_or_urls.values())
        return {k: tmp_path / "server" / f"{k}.gz" for k in url_or_urls}

    monkeypatch.setattr(locate, "_online", lambda: True)
    monkeypatch.setattr(tfds.download.DownloadManager, "download", download)
    ds = data.load("mnist", data_dir=tmp_path / "d", verify=False)
    assert ds.source.startswith("tfds mnist 3.0.1 (array_record)") and ds.x_train.shape[0] == 6
    assert "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz" in urls


def test_prepare_tfds_checks_name_and_files(tmp_path):
    with pytest.raises(ValueError, match="prepare_tfds knows .*not 'cifar10'"):
        data.prepare_tfds("cifar10", tmp_path, tmp_path)
    with pytest.raises(data.DatasetNotFound, match="no IDX files in"):
        data.prepare_tfds("mnist", tmp_path, tmp_path)


# ------------------------------------------------------------------------------ real data


@needs_debian
def test_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fashion_mnist": (DEBIAN,)})
    ds = data.load("fashion_mnist")
    assert ds.x_train.shape == (60_000, 28, 28, 1) and ds.x_test.shape == (10_000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.num_classes == 10
    np.testing.assert_array_equal(np.bincount(np.asarray(ds.y_train)), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(np.asarray(ds.y_test)), [1000] * 10)
    assert "SHA-256 verified" in ds.source
    # published pixel statistics of the training split, as fractions of 255
    np.testing.assert_allclose([ds.shift / 255, 1 / (ds.scale * 255)], [0.2860, 0.3530], atol=1e-4)


@needs_debian
def test_fashion_mnist_tfds_prepared_offline_matches_the_files(tmp_path):
    import tensorflow_datasets as tfds

    data.prepare_tfds("fashion_mnist", DEBIAN.parent, tmp_path / "tfds")
    source = tfds.data_source("fashion_mnist", split="test", data_dir=str(tmp_path / "tfds"))
    assert len(source) == 10_000
    a = data.load("fashion_mnist", data_dir=DEBIAN.parent, split="test")
    b = data.load("fashion_mnist", data_dir=tmp_path / "tfds", split="test")
    assert b.source.startswith("tfds") and a.source.startswith("IDX")

    def keys(ds):
        x = np.asarray(ds.x_test).reshape(10_000, -1)
        return sorted(
            hashlib.sha1(row.tobytes() + bytes([y])).digest()
            for row, y in zip(x, np.asarray(ds.y_test))
        )

    assert keys(a) == keys(b)


def test_digits_are_sklearns_bundled_images_split_once():
    d = data.load("digits")
    assert d.input_shape == (64,) and d.num_classes == 10 and d.name == "digits"
    assert (d.x_train.shape[0], d.x_test.shape[0]) == (1797 - 360, 360)
    x = np.concatenate([np.asarray(d.x_train), np.asarray(d.x_test)])
    assert x.min() == 0.0 and x.max() == 1.0  # 0..16 divided by 16
    from sklearn.datasets import load_digits

    raw = load_digits().data / 16.0  # the same images, each once
    assert sorted(map(bytes, x.astype(np.float32))) == sorted(map(bytes, raw.astype(np.float32)))
    again = data.digits()
    np.testing.assert_array_equal(np.asarray(again.y_test), np.asarray(d.y_test))
    other = data.digits(seed=1)
    assert not np.array_equal(np.asarray(other.y_test), np.asarray(d.y_test))
    with pytest.raises(ValueError, match="test must be between 1 and 1796"):
        data.digits(test=0)
