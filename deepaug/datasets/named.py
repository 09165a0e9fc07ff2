"""The named datasets: Fashion-MNIST and MNIST (IDX files: a data folder, the system's copy or
keras' download), CIFAR-10 (keras) and digits (scikit-learn, upscaled).

TensorFlow/keras and scikit-learn are imported only inside the functions that need them.
"""
from __future__ import annotations

import gzip
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from deepaug.datasets.core import Dataset, from_arrays
from deepaug.errors import InputError
from deepaug.extras import MissingExtraError, missing_message

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
SYSTEM_DIRS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),), "mnist": ()}
KERAS_SUBDIRS = {"fashion_mnist": ("fashion-mnist", "fashion_mnist"), "mnist": ("mnist",)}
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in .gz) into a native-endian array."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read IDX file {str(path)!r} ({exc}); it may be truncated, delete and "
                         "fetch it again") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise InputError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); "
                         "expected a file such as train-images-idx3-ubyte[.gz]")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise InputError(f"IDX file {str(path)!r} is truncated inside its header; fetch it again")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    have = len(raw) - 4 - 4 * ndim
    if have != expected:
        state = "truncated" if have < expected else "longer than its header says"
        raise InputError(f"IDX file {str(path)!r} is {state}: header {dims} needs {expected} data bytes, "
                         f"found {have}; delete it and fetch it again")
    data = np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, prefix: str, kind: str) -> Path | None:
    stem = f"{prefix}-{kind}"
    rank = 3 if kind == "images" else 1
    for base in (f"{stem}-idx{rank}-ubyte", f"{stem}.idx{rank}-ubyte"):
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def _keras_load(key: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Call keras' own loader (downloads into keras' cache; needs internet)."""
    import keras  # lazy: heavy

    return getattr(keras.datasets, key).load_data()


def _load_idx_dataset(key: str, data_dir: str | os.PathLike[str] | None, split: str) -> Dataset:
    prefix = "train" if split == "train" else "t10k"
    names = FASHION_MNIST_CLASSES if key == "fashion_mnist" else MNIST_CLASSES
    datasets_dir = _keras_home() / "datasets"
    places = ([Path(data_dir).expanduser()] if data_dir is not None else [])
    places += [datasets_dir / sub for sub in KERAS_SUBDIRS[key]] + [datasets_dir, *SYSTEM_DIRS[key]]
    for folder in places:
        images_file, labels_file = _idx_file(folder, prefix, "images"), _idx_file(folder, prefix, "labels")
        if images_file and labels_file:
            logger.debug("reading %s IDX files from %s", key, folder)
            return from_arrays(read_idx(images_file), read_idx(labels_file), f"{key}/{split}", names)
    npz = datasets_dir / "mnist.npz"  # keras' own cache format for MNIST
    if key == "mnist" and npz.is_file():
        with np.load(npz, allow_pickle=False) as arrays:
            return from_arrays(arrays[f"x_{split}"], arrays[f"y_{split}"], f"{key}/{split}", names)
    searched = [str(p) for p in places] + ([str(npz)] if key == "mnist" else [])
    keras_note = "keras is not installed, so its downloader was not tried"
    if importlib.util.find_spec("keras") is not None:
        try:
            (x_train, y_train), (x_test, y_test) = _keras_load(key)
            x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
            return from_arrays(np.asarray(x), np.asarray(y), f"{key}/{split}", names)
        except Exception as exc:  # keras raises bare Exception on network failure
            keras_note = f"keras.datasets.{key}.load_data() also failed (it needs internet): {exc}"
    hint = ("install the Debian package (apt-get install dataset-fashion-mnist), or " if key == "fashion_mnist" else "")
    sub = KERAS_SUBDIRS[key][0]
    raise InputError(
        f"cannot find the {key} {split} IDX files ({prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]); searched: {', '.join(searched)}. To get them, {hint}"
        f"download the 4 files (train/t10k images and labels) into {datasets_dir / sub} or pass "
        f"data_dir=<folder holding them>, or run keras.datasets.{key}.load_data() once with internet. "
        f"({keras_note})"
    )


# ---------------------------------------------------------------- other named datasets

def _load_cifar10(split: str) -> Dataset:
    try:
        import keras  # keras is heavy: only its loader needs it

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except ModuleNotFoundError as exc:
        raise MissingExtraError(missing_message(exc.name or "keras", "the cifar10 dataset"), name=exc.name) from exc
    except Exception as exc:
        raise InputError(
            "cannot load cifar10 through keras.datasets.cifar10.load_data(): it needs "
            "either internet or a cached copy in "
            f"{_keras_home() / 'datasets'} (cifar-10-batches-py); error: {exc}"
        ) from exc
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return from_arrays(np.asarray(x), np.asarray(y).reshape(-1), f"cifar10/{split}", CIFAR10_CLASSES)


def _load_digits(split: str) -> Dataset:
    """scikit-learn's bundled 8x8 digits, with an 80/20 stratified split (random_state=0).

    Pixel values 0..16 become np.rint(v * 255 / 16) (round half to even; only v = 8 is a
    tie, 127.5 -> 128), so 0 -> 0 and 16 -> 255.
    """
    from sklearn.datasets import load_digits  # scikit-learn is heavy (the search extra): digits only
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * 255.0 / 16.0).astype(np.uint8)
    idx_train, idx_test = train_test_split(np.arange(len(images)), test_size=0.2,
                                           stratify=bunch.target, random_state=0)
    idx = np.sort(idx_train if split == "train" else idx_test)
    return from_arrays(images[idx], bunch.target[idx], f"digits/{split}", MNIST_CLASSES)


def load_named(key: str, data_dir: str | os.PathLike[str] | None, split: str) -> Dataset:
    """The named dataset `key` (one of deepaug.datasets.NAMED), split "train" or "test"."""
    if key in KERAS_SUBDIRS:
        return _load_idx_dataset(key, data_dir, split)
    if key == "cifar10":
        return _load_cifar10(split)
    return _load_digits(split)
