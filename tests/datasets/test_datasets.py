"""Tests for deepaug.datasets: IDX, npz, folders, named datasets, from_arrays and splits."""
from __future__ import annotations

import gzip
import logging
import struct
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepaug import datasets
from deepaug.datasets import named
from deepaug.datasets import Dataset, from_arrays, load, read_idx, split_train_val
from deepaug.errors import InputError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` (uint8) as an IDX file, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist_files(folder: Path, n: int = 12, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Write train and t10k IDX image/label files into `folder`; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    arrays = {}
    for prefix, count in (("train", n), ("t10k", n // 2)):
        images = rng.integers(0, 256, (count, 5, 4), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"] = images, labels
    return arrays


@pytest.fixture
def no_keras_home(tmp_path, monkeypatch):
    """Point HOME and KERAS_HOME at empty tmp folders and stub keras' downloader."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    calls = []

    def offline(key):
        calls.append(key)
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(named, "_keras_load", offline)
    return calls


def labelled(n_per_class: dict[int, int], seed: int = 0) -> Dataset:
    labels = np.concatenate([np.full(k, c) for c, k in n_per_class.items()])
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 4, 4, 1), dtype=np.uint8)
    names = tuple(str(c) for c in range(max(n_per_class) + 1))
    return Dataset(images, labels.astype(np.int64), names, "toy")


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_via_data_dir(tmp_path, no_keras_home, gz):
    arrays = write_mnist_files(tmp_path / "data", gz=gz)
    train = load("fashion_mnist", data_dir=tmp_path / "data")
    test = load("fashion_mnist", data_dir=str(tmp_path / "data"), split="test")
    assert train.images.shape == (12, 5, 4, 1) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(train.images[..., 0], arrays["train_images"])
    np.testing.assert_array_equal(train.labels, arrays["train_labels"])
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(test.images[..., 0], arrays["t10k_images"])
    assert train.class_names[0] == "T-shirt/top" and train.num_classes == 10
    assert train.image_shape == (5, 4, 1)
    assert no_keras_home == []


def test_read_idx_other_dtype(tmp_path):
    values = np.array([[1, -2], [300, 4]], dtype=">i4")
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), [[1, -2], [300, 4]])


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx_names_the_file(tmp_path, no_keras_home, gz):
    write_mnist_files(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) - 7])
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte.*(truncated|fetch it again)"):
        load("mnist", data_dir=tmp_path)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "junk-idx3-ubyte"
    path.write_bytes(b"hello world, not idx")
    with pytest.raises(InputError, match="not an IDX file"):
        read_idx(path)


def test_missing_idx_lists_places_and_how_to_get_them(tmp_path, no_keras_home, monkeypatch):
    monkeypatch.setattr(named, "SYSTEM_DIRS", {"fashion_mnist": (tmp_path / "nosys",), "mnist": ()})
    with pytest.raises(InputError) as info:
        load("fashion_mnist", data_dir=tmp_path / "empty")
    msg = str(info.value)
    for place in (tmp_path / "empty", tmp_path / "home/.keras/datasets/fashion-mnist",
                  tmp_path / "home/.keras/datasets", tmp_path / "nosys"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "internet" in msg
    assert no_keras_home == ["fashion_mnist"]
    assert not (tmp_path / "home").exists()  # nothing created


def test_idx_found_in_keras_cache(tmp_path, no_keras_home):
    arrays = write_mnist_files(tmp_path / "home/.keras/datasets/mnist", gz=False)
    ds = load("mnist", split="test")
    np.testing.assert_array_equal(ds.labels, arrays["t10k_labels"])
    assert ds.class_names == tuple("0123456789")


def test_keras_fallback_used_when_files_missing(tmp_path, no_keras_home, monkeypatch):
    x = np.zeros((4, 3, 3), np.uint8)
    y = np.array([0, 1, 2, 1], np.uint8)
    monkeypatch.setattr(named, "_keras_load", lambda key: ((x, y), (x[:2], y[:2])))
    ds = load("mnist", split="test")
    assert ds.images.shape == (2, 3, 3, 1) and list(ds.labels) == [0, 1]


def test_real_fashion_mnist(no_keras_home):
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)")
    train = load("fashion_mnist")  # found in the Debian folder: HOME is an empty tmp folder
    test = load("fashion_mnist", data_dir=FASHION_DIR, split="test")
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert train.class_names[9] == "Ankle boot"


# ---------------------------------------------------------------- other named datasets

def test_digits():
    train, test = load("digits"), load("digits", split="test")
    assert train.images.shape == (1437, 8, 8, 1) and test.images.shape == (360, 8, 8, 1)
    assert train.images.max() == 255 and train.images.min() == 0
    levels = set(np.unique(np.concatenate([train.images.ravel(), test.images.ravel()])).tolist())
    assert levels <= {int(np.rint(v * 255 / 16)) for v in range(17)}
    assert set(np.bincount(test.labels).tolist()) <= {35, 36, 37}  # stratified 20 %
    np.testing.assert_array_equal(load("digits").images, train.images)  # deterministic
    resized = load("digits", split="test", image_size=(16, 12))
    assert resized.images.shape == (360, 16, 12, 1)


def test_cifar10_through_keras(monkeypatch):
    x = np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3)
    y = np.array([[9], [0], [1], [9]], np.uint8)
    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(cifar10=types.SimpleNamespace(load_data=lambda: ((x, y), (x[:2], y[:2]))))
    monkeypatch.setitem(sys.modules, "keras", fake)
    ds = load("cifar10")
    assert ds.images.shape == (4, 2, 2, 3) and ds.labels.tolist() == [9, 0, 1, 9]
    assert ds.class_names[9] == "truck" and ds.num_classes == 10

    def offline():
        raise Exception("URL fetch failure")

    fake.datasets.cifar10.load_data = offline
    with pytest.raises(InputError, match="internet or a cached copy"):
        load("cifar10", split="test")


def test_a_named_dataset_is_recognised_however_it_is_written_and_only_as_a_string():
    assert [datasets.named_key(x) for x in (" Fashion-MNIST ", "DIGITS", "cifar10")] == \
        ["fashion_mnist", "digits", "cifar10"]
    assert datasets.named_key("fashion.npz") is None and datasets.named_key("imagenet") is None
    assert datasets.named_key(Path("digits")) is None  # a path is a file or folder, even one called digits
    assert datasets.named_key(np.zeros((2, 8, 8))) is None
    assert len(load("Digits")) == len(load("digits"))


def test_unknown_name_lists_choices():
    with pytest.raises(InputError, match="fashion_mnist.*cifar10.*digits"):
        load("imagenet")


def test_bad_split_and_data_dir(tmp_path):
    with pytest.raises(InputError, match="split"):
        load("digits", split="val")
    with pytest.raises(InputError, match="data_dir"):
        load("digits", data_dir=tmp_path)


# ---------------------------------------------------------------- npz

@pytest.mark.parametrize("keys", [("images", "labels"), ("x", "y"), ("x_train", "y_train")])
def test_npz_key_names(tmp_path, keys):
    images = np.full((6, 4, 4, 3), 0.2)  # exact: 0.2 * 255 = 51
    labels = np.array([3, 7, 3, 7, 7, 3])
    path = tmp_path / "data.npz"
    np.savez(path, **{keys[0]: images, keys[1]: labels})
    ds = load(path)
    assert ds.images.shape == (6, 4, 4, 3) and (ds.images == 51).all()
    assert ds.class_names == ("3", "7") and ds.labels.tolist() == [0, 1, 0, 1, 1, 0]


def test_npz_missing_keys_lists_found(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, pictures=np.zeros((2, 2, 2)), targets=np.array([0, 1]))
    with pytest.raises(InputError, match=r"\['pictures', 'targets'\]"):
        load(str(path))
    with pytest.raises(InputError, match="split"):
        load(path, split="test")


# ---------------------------------------------------------------- folders

def make_folder(root: Path, classes: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    for cls, files in classes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for fname, image in files:
            assert cv2.imwrite(str(root / cls / fname), image)
    return root


def test_folder_png_and_jpeg_rgb(tmp_path):
    red = np.zeros((6, 8, 3), np.uint8)
    red[..., 2] = 255  # BGR on disk
    blue = np.zeros((6, 8, 3), np.uint8)
    blue[..., 0] = 255
    root = make_folder(tmp_path / "ds", {"b_red": [("1.png", red), ("2.JPG", red)],
                                         "a_blue": [("x.jpeg", blue), ("y.bmp", blue)]})
    (root / "a_blue" / "notes.txt").write_text("not an image")
    (root / "a_blue" / ".DS_Store").write_bytes(b"\0\1")
    ds = load(root)
    assert ds.class_names == ("a_blue", "b_red")
    assert ds.images.shape == (4, 6, 8, 3) and ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.images[1, ..., 2].min() == 255 and ds.images[1, ..., :2].max() == 0  # blue BMP, RGB order
    assert ds.images[2, ..., 0].min() == 255 and ds.images[2, ..., 1:].max() == 0  # red PNG
    assert ds.images[3, ..., 0].min() >= 250 and ds.images[3, ..., 2].max() <= 5  # red JPEG (lossy)
    assert ds.skipped == ()


def test_folder_webp_and_tiff_are_images_and_other_files_are_named(tmp_path, caplog):
    from deepaug.augmentation.inputs import list_input

    shade = np.full((6, 6, 3), 90, np.uint8)
    root = make_folder(tmp_path / "w", {"a": [("1.webp", shade), ("2.tif", shade)], "b": [("3.TIFF", shade + 60)]})
    (root / "b" / "labels.csv").write_text("not an image")
    (root / "b" / ".hidden.txt").write_text("hidden: not named")
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        ds = load(root)
    assert ds.labels.tolist() == [0, 0, 1] and ds.images[0].min() == 90 and ds.images[2].min() == 150  # webp lossless
    warned = [r.getMessage() for r in caplog.records if "not images" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("ignored 1 file(s) in") and warned[0].endswith(": b/labels.csv")
    listing = list_input(str(root))  # deepaug augment reads the same images and skips the same file
    assert len(listing) == 3 and [s.source for s in listing.skipped] == ["b/.hidden.txt", "b/labels.csv"]


def test_folder_images_in_nested_folders_belong_to_their_class_folder(tmp_path):
    from deepaug.augmentation.inputs import list_input

    shade = {name: np.full((5, 5), value, np.uint8) for name, value in (("a", 10), ("b", 20), ("c", 30))}
    root = make_folder(tmp_path / "n", {"cat": [("1.png", shade["a"])], "cat/indoor": [("2.png", shade["b"])],
                                        "dog/x/y": [("3.png", shade["c"])], "dog/.cache": [("4.png", shade["a"])]})
    ds = load(root)
    assert ds.class_names == ("cat", "dog") and ds.labels.tolist() == [0, 0, 1]
    assert [int(im.max()) for im in ds.images] == [10, 20, 30]  # cat/1, cat/indoor/2, dog/x/y/3; .cache skipped
    listing = list_input(str(root))  # deepaug augment reads the same images with the same classes
    assert [listing.class_of(i) for i in range(len(listing))] == [ds.class_names[c] for c in ds.labels]


def test_folder_grayscale_stays_one_channel_and_mixed_becomes_rgb(tmp_path):
    gray = np.full((5, 5), 100, np.uint8)
    root = make_folder(tmp_path / "g", {"a": [("1.png", gray)], "b": [("2.png", gray + 50)]})
    ds = load(root)
    assert ds.images.shape == (2, 5, 5, 1) and ds.images[1].max() == 150
    make_folder(root, {"c": [("3.png", np.zeros((5, 5, 3), np.uint8))]})
    mixed = load(root)
    assert mixed.images.shape == (3, 5, 5, 3) and (mixed.images[0] == 100).all()


def test_folder_mixed_sizes(tmp_path):
    root = make_folder(tmp_path / "m", {"a": [("1.png", np.zeros((10, 20), np.uint8))],
                                        "b": [("2.png", np.zeros((30, 30), np.uint8))]})
    with pytest.raises(InputError, match="image_size"):
        load(root)
    ds = load(root, image_size=8)
    assert ds.images.shape == (2, 8, 8, 1)
    assert load(root, image_size=(4, 6)).images.shape == (2, 4, 6, 1)


def test_folder_square_crop(tmp_path):
    wide = np.zeros((4, 12), np.uint8)
    wide[:, 4:8] = 200  # centre 4x4 square is all 200
    root = make_folder(tmp_path / "s", {"a": [("1.png", wide)], "b": [("2.png", np.full((8, 4), 9, np.uint8))]})
    ds = load(root, square_crop=True, image_size=4)
    assert (ds.images[0] == 200).all() and (ds.images[1] == 9).all()


def test_folder_corrupt_file_skipped_and_named(tmp_path, caplog):
    img = np.full((4, 4, 3), 50, np.uint8)
    root = make_folder(tmp_path / "c", {"a": [("1.png", img), ("2.png", img)], "b": [("3.jpg", img)]})
    data = (root / "a" / "2.png").read_bytes()
    (root / "a" / "2.png").write_bytes(data[: len(data) // 2])
    (root / "b" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        ds = load(root)
    assert len(ds) == 2
    assert ds.skipped == (str(root / "a" / "2.png"), str(root / "b" / "empty.jpg"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2.png" in warnings[0].getMessage() and "empty.jpg" in warnings[0].getMessage()


def test_folder_errors(tmp_path):
    (tmp_path / "flat").mkdir()
    cv2.imwrite(str(tmp_path / "flat" / "1.png"), np.zeros((3, 3), np.uint8))
    with pytest.raises(InputError, match="no class sub-folders"):
        load(tmp_path / "flat")
    one = make_folder(tmp_path / "one", {"only": [("1.png", np.zeros((3, 3), np.uint8))]})
    (one / "other").mkdir()
    (one / "other" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="at least 2"):
        load(one)
    with pytest.raises(InputError, match="does not exist"):
        load(tmp_path / "nowhere")


# ---------------------------------------------------------------- from_arrays

def test_from_arrays_conversions():
    ds = from_arrays(np.array([[[0.0, 1.0]], [[0.2, 0.4]]]), np.array([0.0, 1.0]))
    assert ds.images.shape == (2, 1, 2, 1) and ds.images[:, 0, :, 0].tolist() == [[0, 255], [51, 102]]
    with pytest.raises(InputError, match="not whole 8-bit levels"):
        from_arrays(np.full((2, 2, 2), 0.5), [0, 1])
    onehot = from_arrays(np.zeros((3, 2, 2, 3), np.uint8), np.eye(4)[[0, 3, 1]])
    assert onehot.labels.tolist() == [0, 3, 1] and onehot.num_classes == 4
    remap = from_arrays(np.zeros((3, 2, 2), np.int16), np.array([7, 3, 7], np.uint8))
    assert remap.labels.tolist() == [1, 0, 1] and remap.class_names == ("3", "7")
    column = from_arrays(np.zeros((2, 2, 2), np.uint8), np.array([[1], [0]]))
    assert column.labels.tolist() == [1, 0]


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((3, 2, 2), np.uint8), [0, 1], "3 images but 2 labels"),
    (np.zeros((3, 2, 2), np.uint8), [4, 4, 4], "only one class"),
    (np.zeros((0, 2, 2), np.uint8), [], "empty"),
    (np.zeros((2, 2, 2), np.uint8), [0.0, np.nan], "NaN"),
    (np.zeros((2, 2, 2), np.uint8), [0.5, 1.0], "whole numbers"),
    (np.zeros((2, 2, 2), np.uint8), [[1, 1], [0, 1]], "not one-hot"),
    (np.zeros((2, 2, 2, 4), np.uint8), [0, 1], "channels"),
])
def test_from_arrays_errors(images, labels, message):
    with pytest.raises(InputError, match=message):
        from_arrays(images, labels)


def test_dataset_validation():
    images = np.zeros((2, 2, 2, 1), np.uint8)
    with pytest.raises(InputError, match="int64"):
        Dataset(images, np.array([0, 1], np.int32), ("a", "b"), "d")
    with pytest.raises(InputError, match="2 images but 3 labels"):
        Dataset(images, np.array([0, 1, 1]), ("a", "b"), "d")
    with pytest.raises(InputError, match="uint8"):
        Dataset(images.astype(np.float32), np.array([0, 1]), ("a", "b"), "d")
    with pytest.raises(InputError, match="0..1"):
        Dataset(images, np.array([0, 2]), ("a", "b"), "d")


# ---------------------------------------------------------------- split_train_val

def test_split_stratified_and_disjoint():
    ds = labelled({0: 300, 1: 150, 2: 50, 3: 7})
    ds.images[:, 0, 0, 0] = np.arange(len(ds)) % 256  # make rows traceable
    ds.images[:, 0, 1, 0] = np.arange(len(ds)) // 256
    train, val = split_train_val(ds, 100, seed=3)
    assert len(train) == 100 and len(val) == max(100 // 4, 10 * 4)
    n = len(ds)
    for part, size in ((train, 100), (val, len(val))):
        expected = np.bincount(ds.labels) * size / n
        assert np.all(np.abs(np.bincount(part.labels, minlength=4) - expected) <= 1)
    ids = lambda d: set((d.images[:, 0, 0, 0].astype(int) + 256 * d.images[:, 0, 1, 0].astype(int)).tolist())
    assert ids(train).isdisjoint(ids(val)) and len(ids(train)) == 100
    assert train.class_names == ds.class_names


def test_split_keeps_each_class_in_train():
    train, val = split_train_val(labelled({0: 200, 1: 2}), 10, val_size=5)
    assert set(train.labels.tolist()) == {0, 1} and len(train) == 10 and len(val) == 5


def test_split_deterministic_per_seed():
    ds = labelled({0: 100, 1: 100}, seed=5)
    a1, b1 = split_train_val(ds, 50, seed=1)
    a2, b2 = split_train_val(ds, 50, seed=1)
    a3, _ = split_train_val(ds, 50, seed=2)
    np.testing.assert_array_equal(a1.images, a2.images)
    np.testing.assert_array_equal(b1.images, b2.images)
    assert not np.array_equal(a1.images, a3.images)


def test_split_train_size_too_large_warns(caplog):
    ds = labelled({0: 30, 1: 20})
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        train, val = split_train_val(ds, 1000)
    assert len(val) == 10 and len(train) == 40
    assert any("train_size=1000" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    train, val = split_train_val(ds, 50, val_size=5)
    assert len(train) == 45 and len(val) == 5
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        split_train_val(ds, 1000, names=("train_set_size", "validation_size"), quiet=True)
        split_train_val(ds, 1000, names=("train_set_size", "validation_size"))
    assert [r.getMessage()[:19] for r in caplog.records] == ["train_set_size=1000"]  # the quiet call logs nothing


def test_split_errors():
    ds = labelled({0: 10, 1: 10})
    with pytest.raises(InputError, match="val_size=15"):
        split_train_val(ds, 10, val_size=15)
    with pytest.raises(InputError, match="positive integer"):
        split_train_val(ds, 0)
    tiny = Dataset(np.zeros((1, 2, 2, 1), np.uint8), np.array([0]), ("a", "b"), "tiny")
    with pytest.raises(InputError, match="too small"):
        split_train_val(tiny, 1)


def test_class_names_as_labels_become_the_classes_in_sorted_order():
    x = np.arange(5 * 8 * 8, dtype=np.uint8).reshape(5, 8, 8)
    names = ["dog", "cat", "fox", "cat", "dog"]
    forms = {"str": np.array(names), "object (a pandas column)": np.array(names, dtype=object),
             "bytes": np.array([n.encode() for n in names]), "column": np.array(names)[:, None], "list": names}
    for form, labels in forms.items():
        ds = from_arrays(x, labels)
        assert ds.class_names == ("cat", "dog", "fox") and ds.labels.tolist() == [1, 0, 2, 0, 1], form
    given = from_arrays(x, names, class_names=["fox", "dog", "cat", "wolf"])  # names index the given classes
    assert given.class_names == ("fox", "dog", "cat", "wolf") and given.labels.tolist() == [1, 2, 0, 2, 1]
    with pytest.raises(InputError, match=r"^arrays labels hold classes \['fox'\] that class_names lacks \(cat, dog\)"):
        from_arrays(x, names, class_names=("cat", "dog"))
    with pytest.raises(InputError, match=r"^arrays labels have an empty class name at index 1 \(2 in all\)"):
        from_arrays(x, ["cat", "", "dog", " ", "cat"])
    with pytest.raises(InputError, match=r"every label is cat, so there is only one class"):
        from_arrays(x, ["cat"] * 5)
    with pytest.raises(InputError, match=r"^arrays labels must be integers, one-hot numbers or class names "
                                         r"\(str\), got dtype object"):
        from_arrays(x, np.array(["cat", 1, "dog", 2, None], dtype=object))
    with pytest.raises(InputError, match=r"5 images but 4 labels"):
        from_arrays(x, names[:4])


def test_an_npz_of_class_names_loads_as_the_same_arrays_do(tmp_path):
    x = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    np.savez(tmp_path / "pets.npz", images=x, labels=np.array(["dog", "cat", "dog", "cat"]))
    ds = datasets.load(str(tmp_path / "pets.npz"))
    assert ds.class_names == ("cat", "dog") and ds.labels.tolist() == [1, 0, 1, 0]


def test_array_errors_name_the_arrays_once():
    x = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(InputError, match=r"^images has float values outside"):
        from_arrays(x - 1.0, [0, 1, 0, 1], "images")
    with pytest.raises(InputError, match=r"^validation_labels have shape \(4, 2\) but are not one-hot"):
        from_arrays(x, np.ones((4, 2)), "validation_images")
    with pytest.raises(InputError, match=r"^data\.npz labels must be integers"):
        from_arrays(x, np.array([True, False, True, False]), "data.npz")


def test_a_second_set_of_arrays_gets_the_first_sets_class_indices():
    # a validation set is labelled as the training set is; it must not renumber its classes
    # among themselves (one that lacks a class would shift every later class by one)
    x = np.arange(6 * 8 * 8, dtype=np.uint8).reshape(6, 8, 8)
    train = from_arrays(x, [10, 20, 30, 10, 20, 30])
    val = datasets.from_arrays_like(train, x[:4], [20, 30, 30, 20])  # no class 10
    assert val.class_names == train.class_names and val.labels.tolist() == [1, 2, 2, 1]
    assert datasets.from_arrays_like(train, x[:3], np.eye(3)[[2, 0, 1]]).labels.tolist() == [2, 0, 1]  # one-hot
    with pytest.raises(InputError, match=r"^validation_labels hold classes \['40'\] that the training labels lack "
                                         r"\(their classes: 10, 20, 30\)"):
        datasets.from_arrays_like(train, x[:2], [20, 40])
    with pytest.raises(InputError, match="one-hot with 2 columns but the training data has 3 classes"):
        datasets.from_arrays_like(train, x[:2], np.eye(2))
    pets = Dataset(x[..., None], np.array([0, 1, 2, 0, 1, 2]), ("cat", "dog", "fox"), "pets")  # a folder's classes
    assert datasets.from_arrays_like(pets, x[:2], [2, 1]).labels.tolist() == [2, 1]  # indices into its classes
    by_name = datasets.from_arrays_like(pets, x[:3], ["fox", "dog", "fox"])  # names: matched by name, no cat
    assert by_name.class_names == pets.class_names and by_name.labels.tolist() == [2, 1, 2]
    with pytest.raises(InputError, match=r"^validation_labels hold classes \['wolf'\]"):
        datasets.from_arrays_like(pets, x[:2], ["wolf", "dog"])
    other = Dataset(x[:2, ..., None], np.array([0, 1]), ("dog", "fox"), "val_folder")  # a folder without cats
    aligned = datasets.align_classes(pets, other)
    assert aligned.labels.tolist() == [1, 2] and aligned.class_names == pets.class_names
    with pytest.raises(InputError, match=r"hold classes \['wolf'\]"):
        datasets.align_classes(pets, Dataset(x[:2, ..., None], np.array([0, 1]), ("dog", "wolf"), "v"))
    with pytest.raises(InputError, match=r"hold classes \['5'\]"):  # not an index of 3 classes either
        datasets.from_arrays_like(pets, x[:2], [1, 5])
    indices = from_arrays(x, [0, 1, 2, 0, 1, 2])  # arrays labelled by index beside a dataset with named classes
    assert datasets.align_classes(indices, pets).labels.tolist() == pets.labels.tolist()  # all 3: in their order
    with pytest.raises(InputError, match=r"hold classes \['dog', 'fox'\]"):  # 2 of 3: which 2 is unknown
        datasets.align_classes(indices, other)


def test_integer_labels_other_than_0_to_k_minus_1_are_numbered_in_sorted_order_and_the_mapping_is_logged(caplog):
    """issue 38: negative labels were remapped without a word. The mapping is logged (label -> class index),
    and class_names[index] is the label it stands for; labels already 0..K-1 log nothing."""
    images = np.zeros((4, 2, 2), np.uint8)
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        ds = from_arrays(images, np.array([5, -1, 0, 5]))
    assert ds.labels.tolist() == [2, 0, 1, 2] and ds.class_names == ("-1", "0", "5")
    assert "labels are not 0..2" in caplog.text and "(label -> class index: -1 -> 0, 0 -> 1, 5 -> 2)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepaug.datasets"):
        from_arrays(images, np.array([1, 0, 2, 1]))
    assert "class index" not in caplog.text
