"""The data of issue 37's blind protocol (protocol 2 in docs/benchmarks.md): the Fashion-MNIST
blind pool B, Animal-Shape's 8,000 + 2,000 split, and the folders `deepaug optimize` and
`deepaug evaluate` read them from. Used by bench/blind.py; nothing here trains or scores.

Animal-Shape comes from the PyPI package `animal-shape-mnist` 0.39 (MIT), pinned bench-only in
requirements/bench.txt (`.venv/bin/pip install -r requirements/bench.txt`; it is not a
dependency of deepaug). Its images are a gzip *pickle* of numpy arrays inside the wheel
(`animal_shape_mnist/data/Animal Shape/animal_data_version_3.gz`, labels beside it). Unpickling
runs whatever the file says, so this loader reads them only from that pinned package (the
installed files, version checked, or the wheel file itself through zipfile), never from a path
of another origin; nothing is downloaded and the package is not imported (its loader imports
TensorFlow and samples at random).
"""
from __future__ import annotations

import gzip
import importlib.metadata
import io
import pickle  # the package's own format; trusted only from the pinned wheel (module docstring)
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from deepaug import datasets
from deepaug.datasets import Dataset, split_train_val
from deepaug.errors import InputError
from deepaug.storage.atomic import atomic_write_bytes

# Which Fashion-MNIST training images the issue-12 pilots used (protocol 2): per seed s, the
# first k of order_s,c = rng.permutation(indices of class c), rng = default_rng(s) across the classes.
PILOT_PREFIXES = ((0, 3400), (1, 700), (2, 700))
BLIND_POOL_SIZE = 20_292  # the protocol's count of B
ANIMAL_PACKAGE, ANIMAL_VERSION = "animal-shape-mnist", "0.39"
ANIMAL_FOLDER = "animal_shape_mnist/data/Animal Shape/"
ANIMAL_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")
ANIMAL_SPLIT = (8000, 2000, 37)  # split_train_val(all, 8000, 2000, seed=37): (pool, test)
ANIMAL_CLASSES = tuple(f"animal {c}" for c in range(10))  # the package names no classes


def pilot_indices(labels: np.ndarray, prefixes: Sequence[tuple[int, int]] = PILOT_PREFIXES,
                  num_classes: int | None = None) -> np.ndarray:
    """Sorted indices of the images the pilots used: for each (seed, k), the first k of each class's
    permutation, drawn as `split_train_val` draws them (one rng per seed, classes in order)."""
    labels = np.asarray(labels)
    classes = int(labels.max()) + 1 if num_classes is None else num_classes
    used = []
    for seed, k in prefixes:
        rng = np.random.default_rng(seed)
        for c in range(classes):
            used.append(rng.permutation(np.flatnonzero(labels == c))[:k])
    return np.unique(np.concatenate(used)) if used else np.array([], dtype=np.int64)


def blind_indices(labels: np.ndarray, prefixes: Sequence[tuple[int, int]] = PILOT_PREFIXES,
                  num_classes: int | None = None) -> np.ndarray:
    """Sorted indices of the blind pool B: every image the pilots did not use."""
    return np.setdiff1d(np.arange(len(labels)), pilot_indices(labels, prefixes, num_classes))


def _idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file (what deepaug.datasets.read_idx reads) of `array`, gzipped."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def write_named_folder(folder: Path, train: Dataset, test: Dataset) -> None:
    """`train` and `test` as the four IDX files of an MNIST-format data folder (deepaug's
    `data_dir`): the way to hand `deepaug optimize` a training pool it does not hold 20% out of."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, part in (("train", train), ("t10k", test)):
        atomic_write_bytes(folder / f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(part.images[..., 0]))
        atomic_write_bytes(folder / f"{prefix}-labels-idx1-ubyte.gz", _idx_bytes(part.labels))


def save_npz(path: Path, data: Dataset, **extra: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=data.images, labels=data.labels, **extra)
    atomic_write_bytes(path, buffer.getvalue())


def check_named_folder(key: str, folder: Path, train: Dataset, test: Dataset) -> None:
    """InputError unless deepaug's loader reads `folder` back as exactly `train` and `test`."""
    for split, want in (("train", train), ("test", test)):
        got = datasets.load(key, data_dir=str(folder), split=split)
        if not (np.array_equal(got.images, want.images) and np.array_equal(got.labels, want.labels)):
            raise InputError(f"{folder}: deepaug reads its {split} split as {got}, not the {want} written; "
                             "delete the folder and prepare again")


def fashion_blind(train: Dataset) -> tuple[Dataset, np.ndarray]:
    """(B, B's indices into the training split); InputError unless B has the protocol's 20,292 images."""
    keep = blind_indices(train.labels, num_classes=train.num_classes)
    if len(keep) != BLIND_POOL_SIZE:
        raise InputError(f"the blind pool has {len(keep)} images, the protocol says {BLIND_POOL_SIZE}: is "
                         f"{train.name} the official 60,000-image training split?")
    pool = Dataset(train.images[keep], train.labels[keep], train.class_names, "fashion_mnist/blind")
    return pool, keep


def _animal_bytes(wheel: str | None) -> tuple[bytes, bytes, str]:
    """The two gzip files and where they came from: out of `wheel`, else the installed package."""
    if wheel is not None:
        name = Path(wheel).name
        if not name.startswith(f"{ANIMAL_PACKAGE.replace('-', '_')}-{ANIMAL_VERSION}-"):
            raise InputError(f"--animal-wheel {wheel}: expected the pinned {ANIMAL_PACKAGE} {ANIMAL_VERSION} wheel "
                             f"({ANIMAL_PACKAGE.replace('-', '_')}-{ANIMAL_VERSION}-py3-none-any.whl)")
        with zipfile.ZipFile(wheel) as archive:
            return (*(archive.read(ANIMAL_FOLDER + f) for f in ANIMAL_FILES), f"wheel {wheel}")
    try:
        version = importlib.metadata.version(ANIMAL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"{ANIMAL_PACKAGE} is not installed: .venv/bin/pip install -r requirements/bench.txt, "
                         "or pass --animal-wheel <the 0.39 wheel>") from None
    if version != ANIMAL_VERSION:
        raise InputError(f"{ANIMAL_PACKAGE} {version} is installed; the protocol pins {ANIMAL_VERSION} "
                         "(.venv/bin/pip install -r requirements/bench.txt)")
    files = {str(f).replace("\\", "/"): f for f in importlib.metadata.files(ANIMAL_PACKAGE) or ()}
    paths = [files[ANIMAL_FOLDER + f].locate() for f in ANIMAL_FILES]
    return (*(Path(p).read_bytes() for p in paths), f"installed {ANIMAL_PACKAGE} {version}")


def animal_shape(wheel: str | None = None) -> tuple[Dataset, str]:
    """All 10,000 Animal-Shape images as a Dataset, and where they came from; InputError unless they
    are 10,000 28x28 grayscale images in 10 classes of 1,000."""
    data, labels, source = _animal_bytes(wheel)
    images, labels = (np.asarray(pickle.loads(gzip.decompress(b))) for b in (data, labels))  # noqa: S301 (docstring)
    counts = np.bincount(labels.astype(np.int64), minlength=10) if labels.ndim == 1 and labels.min() >= 0 else None
    if images.shape != (10_000, 28, 28) or images.dtype != np.uint8 or counts is None or list(counts) != [1000] * 10:
        raise InputError(f"Animal-Shape from {source}: {images.shape} {images.dtype} images, class counts "
                         f"{None if counts is None else counts.tolist()}; the protocol expects 10,000 28x28 uint8 "
                         "images, 10 classes of 1,000")
    return Dataset(images[..., None], labels.astype(np.int64), ANIMAL_CLASSES, "animal_shape"), source


def animal_split(everything: Dataset) -> tuple[Dataset, Dataset]:
    """(the 8,000-image pool, the 2,000 test images, 200 per class): split_train_val(all, 8000, 2000, seed=37)."""
    pool, test = split_train_val(everything, ANIMAL_SPLIT[0], ANIMAL_SPLIT[1], seed=ANIMAL_SPLIT[2])
    if np.bincount(test.labels, minlength=10).tolist() != [200] * 10:
        raise InputError(f"Animal-Shape's test part has class counts {np.bincount(test.labels).tolist()}, not 200 each")
    return pool, test
