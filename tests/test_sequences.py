"""Sequence data (``actlab.sequences``): token inputs in ``from_arrays``, character windows of a
text file cut into disjoint regions, the fortunes corpus, modular addition, and ``holdout`` of
an ordered dataset. Data only: nothing here compiles a model.

Every test but the one marked for Debian's fortunes writes its text into ``tmp_path``;
``isolated`` keeps the real search locations (env, /usr/share) out.
"""

import numpy as np
import pytest

from actlab import data, selection, sequences
from actlab._datasets import files, locate


@pytest.fixture
def isolated(monkeypatch):
    """No $ACTLAB_DATA_DIR and no system files."""
    monkeypatch.delenv(data.ENV_DIR, raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {})


def prose(n: int, seed: int = 0) -> str:
    """``n`` characters of lower-case words: no two windows of it are alike."""
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("abcdefghij klmnop\n"), n))


def unwindow(x, y) -> np.ndarray:
    """The ids a split's windows cover, targets included: ``x`` flat, then the last target."""
    ids = np.concatenate([np.asarray(x).reshape(-1), np.asarray(y)[-1:, -1]])
    return ids


# ------------------------------------------------------------------------------ from_arrays


def test_from_arrays_keeps_tokens_int32_with_a_target_per_position():
    x = np.arange(24, dtype=np.int64).reshape(4, 6) % 5
    d = data.from_arrays(x, (x + 1) % 5)
    assert d.x_train.dtype == np.int32 and d.y_train.shape == (4, 6) and d.num_classes == 5
    assert d.tokens and not d.ordered
    np.testing.assert_array_equal(d.normalise(d.x_train), x)  # tokens: not normalised
    assert d.normalise(d.x_train).dtype == np.int32


def test_from_arrays_leaves_pixels_and_floats_as_they_were():
    pixels = data.from_arrays(np.full((2, 3), 255, np.uint8), [0, 1], shift=5.0, scale=0.5)
    assert pixels.x_train.dtype == np.uint8 and not pixels.tokens
    np.testing.assert_allclose(pixels.normalise(pixels.x_train), 125.0)
    floats = data.from_arrays(np.ones((2, 3), np.float64), [0, 1], shift=1.0, scale=2.0)
    assert floats.x_train.dtype == np.float32 and not floats.tokens
    np.testing.assert_allclose(floats.normalise(floats.x_train), 0.0)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((4, 3), int), np.zeros((3, 3), int)), "x has 4 examples but y has 3"),
        ((np.zeros((4, 3), int), np.full((4, 3), 7)), r"labels must lie in \[0, 5\)"),
        ((np.zeros((4, 3), int), np.zeros((4, 2), int)), "a label per position"),
        ((np.zeros((4, 3), int), np.zeros((4, 3, 1), int)), r"y must be \[n\] integer labels"),
        ((np.full((4, 3), -1), np.zeros((4, 3), int)), r"token ids and must lie in \[0, 2\*\*31\)"),
        ((np.zeros((4, 3), int), np.zeros((4, 3))), "give integer labels for classes"),
        (
            (np.zeros((4, 3), int), np.zeros((4, 3), int), np.zeros((2, 3)), np.zeros((2, 3), int)),
            "the training inputs are token ids",
        ),
        (
            (np.zeros((4, 3), int), np.zeros((4, 3), int), np.zeros((2, 3), int), np.zeros(2, int)),
            r"train labels are \[3\] per example but test labels are \[\]",
        ),
    ],
    ids=["count", "range", "positions", "rank", "negative", "float", "test dtype", "test shape"],
)
def test_from_arrays_refuses_bad_sequences_clearly(args, match):
    with pytest.raises(ValueError, match=match):
        data.from_arrays(*args, num_classes=5)


# ------------------------------------------------------------------------------ text files


def test_text_splits_are_the_first_90_and_last_10_percent_windowed_apart(tmp_path):
    s = prose(1000)
    (tmp_path / "t.txt").write_text(s)
    d = data.text(tmp_path / "t.txt", context=16)
    vocab = sequences.vocabulary(s[:900])
    assert d.ordered and d.num_classes == len(vocab) + 1
    # train: 899 // 16 = 56 windows from character 0; test: 99 // 16 = 6 from character 900
    assert d.x_train.shape == (56, 16) and d.x_test.shape == (6, 16)
    train = sequences.decode(unwindow(d.x_train, d.y_train), vocab)
    test = sequences.decode(unwindow(d.x_test, d.y_test), vocab)
    assert train == s[: 56 * 16 + 1] and test == s[900 : 900 + 6 * 16 + 1]
    assert "train = characters [0, 900), test = [900, 1000) (the last 10%)" in d.source


def test_the_same_file_gives_the_same_splits(tmp_path):
    (tmp_path / "t.txt").write_text(prose(3000))
    a, b = data.load(f"text:{tmp_path / 't.txt'}"), data.text(tmp_path / "t.txt")
    assert a.name == f"text:{tmp_path / 't.txt'}"
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_targets_are_the_inputs_shifted_by_one(tmp_path):
    (tmp_path / "t.txt").write_text(prose(2000))
    d = data.text(tmp_path / "t.txt", context=8)
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        x, y = np.asarray(x), np.asarray(y)
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
        np.testing.assert_array_equal(y[:-1, -1], x[1:, 0])  # windows follow one another


def test_a_character_unseen_in_training_is_unk(tmp_path):
    s = "ab" * 45 + "abZZ" + "ab" * 3  # Z only in the last 10 characters
    (tmp_path / "t.txt").write_text(s)
    d = data.text(tmp_path / "t.txt", context=4)
    assert d.num_classes == 3  # <unk>, a, b
    assert sequences.decode(d.x_test, "ab") == "ab\ufffd\ufffd" + "abab"
    # a vocabulary given: everything outside it is <unk>, in both splits
    fixed = data.text(tmp_path / "t.txt", context=4, vocab="b")
    assert fixed.num_classes == 2 and set(np.unique(fixed.x_train).tolist()) == {0, 1}


def test_encode_decode_round_trip_any_vocabulary_order():
    ids = sequences.encode("cab?", "cba")
    np.testing.assert_array_equal(ids, [1, 3, 2, sequences.UNK])
    assert sequences.decode(ids, "cba", unk="?") == "cab?"


def test_text_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^text:\S*nope.txt: no such file$"):
        data.load(f"text:{tmp_path / 'nope.txt'}")
    (tmp_path / "short.txt").write_text("abcdefghij")
    with pytest.raises(ValueError, match="test region has 1 characters, fewer than one window"):
        data.text(tmp_path / "short.txt", context=4)
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(data.DataFormatError, match="not UTF-8 text"):
        data.text(tmp_path / "bin")
    with pytest.raises(ValueError, match="split applies to image datasets"):
        data.load(f"text:{tmp_path / 'short.txt'}", split="train[:10]")


# ------------------------------------------------------------------------------ holdout


def test_holdout_of_an_ordered_dataset_is_the_contiguous_tail(tmp_path):
    (tmp_path / "t.txt").write_text(prose(5000))
    d = data.text(tmp_path / "t.txt", context=10)
    n = d.x_train.shape[0]  # 449 windows
    v = selection.holdout(d, 0.1, seed=3)
    k = round(0.1 * n)
    np.testing.assert_array_equal(v.x_train, np.asarray(d.x_train)[: n - k])
    np.testing.assert_array_equal(v.x_test, np.asarray(d.x_train)[n - k :])
    np.testing.assert_array_equal(v.y_test, np.asarray(d.y_train)[n - k :])
    # disjoint: no training window's characters are a validation window's
    assert not {r.tobytes() for r in np.asarray(v.x_train)} & {
        r.tobytes() for r in np.asarray(v.x_test)
    }
    assert v.ordered and "the last, a contiguous block: the dataset is ordered" in v.source
    np.testing.assert_array_equal(selection.holdout(d, 0.1, seed=4).x_test, v.x_test)


def test_holdout_of_an_unordered_token_dataset_stays_random():
    d = data.modular_addition(p=11)
    v = selection.holdout(d, 5, seed=0)
    picked = {r.tobytes() for r in np.asarray(v.x_test)}
    assert picked != {r.tobytes() for r in np.asarray(d.x_train)[-5:]}
    assert "permutation seed 0" in v.source


# ------------------------------------------------------------------------------ fortunes


def fake_fortunes(folder, extra: dict | None = None) -> None:
    """A fortune file per name in FORTUNE_FILES: two fortunes each, with ``extra`` added."""
    folder.mkdir(parents=True)
    for i, name in enumerate(files.FORTUNE_FILES):
        text = f"{name} one, number {i}.\n%\n{name}\ttwo\nsecond line.\n%\n"
        (folder / name).write_text(text + (extra or {}).get(name, ""))


def test_missing_fortunes_is_one_line_naming_apt_get(isolated, monkeypatch, tmp_path):
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fortunes": (tmp_path / "games/fortunes",)})
    with pytest.raises(data.DatasetNotFound) as e:
        data.load("fortunes", data_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install fortunes" in msg
    assert f"data_dir {tmp_path / 'fortunes'}: no such directory" in msg
    assert f"Debian's fortunes package {tmp_path / 'games/fortunes'}: no such directory" in msg


def test_incomplete_fortunes_folder_names_the_missing_files(isolated, tmp_path):
    fake_fortunes(tmp_path / "fortunes")
    (tmp_path / "fortunes" / "zippy").unlink()
    with pytest.raises(data.DatasetNotFound, match=r"fortunes: lacks zippy\)"):
        data.fortunes(data_dir=tmp_path)


def test_fortunes_are_cleaned_deduplicated_and_split_at_a_fortune(isolated, tmp_path):
    extra = {
        "art": "_\b_\b_\bbold\x07 text\n%\n",  # underlined, then a bell
        "zippy": "ART ONE,  number 0.\n%\n",  # art's first fortune again, up to case and space
    }
    fake_fortunes(tmp_path / "fortunes", extra)
    found, _ = files.read_fortunes(tmp_path / "fortunes")
    assert len(found) == 2 * len(files.FORTUNE_FILES) + 1
    assert "bold text\n" in found and all(f.endswith("\n") and "%" not in f for f in found)
    d = data.fortunes(context=8, data_dir=tmp_path)
    train = sequences.decode(unwindow(d.x_train, d.y_train), sequences.PRINTABLE)
    test = sequences.decode(unwindow(d.x_test, d.y_test), sequences.PRINTABLE)
    assert d.num_classes == 98 and d.ordered and "\t" in train
    # the test region starts with a whole fortune: its first line is one of the fortunes'
    assert any(test.startswith(f.split("\n")[0]) for f in found)
    again = data.load("fortunes", data_dir=tmp_path)
    np.testing.assert_array_equal(again.x_test, data.fortunes(data_dir=tmp_path).x_test)


@pytest.mark.needs_data("fortunes")
def test_fortunes_from_debian():
    d = data.load("fortunes")
    assert d.num_classes == 98 and d.ordered and d.x_train.dtype == np.int32
    n_train, n_test = d.x_train.shape[0], d.x_test.shape[0]
    assert d.x_train.shape[1] == 64 and 0.085 < n_test / (n_train + n_test) < 0.115
    assert 30_000 < n_train < 45_000  # about 2.5 MB of text in 64-character windows
    x = np.asarray(d.x_train)
    assert (x == sequences.UNK).mean() < 1e-4  # the corpus is nearly all ASCII
    assert np.isin(sequences.encode("%\n", sequences.PRINTABLE), x).all()  # the delimiter kept


# ------------------------------------------------------------------------------ modular addition


def test_modular_addition_answers_are_right():
    d = data.load("modular_addition")
    assert d.num_classes == 98 and d.x_train.shape[1] == 3 and d.y_train.ndim == 1
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        x, y = np.asarray(x), np.asarray(y)
        np.testing.assert_array_equal(x[:, 2], 97)  # the "=" token
        np.testing.assert_array_equal(y, (x[:, 0] + x[:, 1]) % 97)


def test_modular_addition_split_is_a_seeded_partition_of_every_pair():
    d = data.modular_addition(p=13, train_fraction=0.4, seed=1)
    train = {tuple(r) for r in np.asarray(d.x_train)[:, :2].tolist()}
    test = {tuple(r) for r in np.asarray(d.x_test)[:, :2].tolist()}
    assert len(train) == round(0.4 * 169) == d.x_train.shape[0] and not train & test
    assert train | test == {(a, b) for a in range(13) for b in range(13)}
    same, other = data.modular_addition(13, 0.4, seed=1), data.modular_addition(13, 0.4, seed=2)
    np.testing.assert_array_equal(same.x_train, d.x_train)
    assert {tuple(r) for r in np.asarray(other.x_train)[:, :2].tolist()} != train


@pytest.mark.parametrize("kw", [{"p": 1}, {"train_fraction": 0.0}, {"train_fraction": 1.0}])
def test_modular_addition_refuses_an_empty_split(kw):
    with pytest.raises(ValueError, match="p must be an integer >= 2|leaves an empty split"):
        data.modular_addition(**kw)
