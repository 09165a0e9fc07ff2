"""The in-memory dataset: validated uint8 images (N, H, W, C), C in {1, 3}, int64 labels in 0..K-1.

`from_arrays` wraps arrays the caller already has; `split_train_val` draws a stratified,
seeded training subset plus a disjoint validation set; `pick_examples` a few images covering
the classes. `deepaug.datasets.load` (deepaug.datasets.loading) reads named datasets, .npz
files and folders into this form.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.images import check_batch, to_uint8

logger = logging.getLogger(__name__)

NAMED = ("fashion_mnist", "mnist", "cifar10", "digits")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")  # what OpenCV decodes
SPLITS = ("train", "test")
TEST_FRACTION, TEST_SEED = 0.2, 0  # the test split held out of a dataset that has one split (hold_out_test)
# Debian ships Fashion-MNIST (`apt-get install dataset-fashion-mnist`); it has no MNIST package.


def named_key(name_or_path: object) -> str | None:
    """The named dataset a string names (case, surrounding spaces and "-" for "_" ignored), else
    None: a path, an array or an unknown name.

    >>> named_key(" Fashion-MNIST"), named_key("data/fashion_mnist.npz")
    ('fashion_mnist', None)
    """
    if not isinstance(name_or_path, str):
        return None
    key = name_or_path.strip().lower().replace("-", "_")
    return key if key in NAMED else None


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (uint8, (N, H, W, C), C in {1, 3}) with int64 labels in 0..K-1.

    `skipped` lists the files a folder load could not decode (empty otherwise).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        what = f"dataset {self.name!r}"
        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise InputError(
                f"{what}: images must be a uint8 array shaped (N, H, W, C), got "
                f"{_describe(self.images)}; build datasets with deepaug.datasets.from_arrays"
            )
        check_batch(self.images, f"{what} images")
        if not isinstance(self.labels, np.ndarray) or self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise InputError(
                f"{what}: labels must be an int64 array shaped (N,), got {_describe(self.labels)}; "
                "build datasets with deepaug.datasets.from_arrays"
            )
        if len(self.labels) != len(self.images):
            raise InputError(
                f"{what}: {len(self.images)} images but {len(self.labels)} labels; "
                "pass exactly one label per image"
            )
        if not isinstance(self.class_names, tuple) or not all(isinstance(c, str) for c in self.class_names):
            raise InputError(f"{what}: class_names must be a tuple of strings, got {self.class_names!r}")
        if len(self.class_names) < 2:
            raise InputError(
                f"{what}: needs at least 2 classes to train a classifier, got {list(self.class_names)}"
            )
        if len(set(self.class_names)) != len(self.class_names):
            raise InputError(f"{what}: class_names has duplicates: {list(self.class_names)}")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise InputError(
                f"{what}: labels must lie in 0..{len(self.class_names) - 1} (one per class name), "
                f"got min {self.labels.min()}, max {self.labels.max()}"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes K (the length of `class_names`)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape (H, W, C) of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, images={self.images.shape}, "
                f"num_classes={self.num_classes}, skipped={len(self.skipped)})")


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def class_name_labels(labels: Any, what: str = "labels") -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(int64 indices into the names, the sorted names) when `labels` are class names: strings, as
    a str or bytes array or an object array of str (a pandas column), shaped (N,) or (N, 1).
    None when they are not strings (see `label_values`)."""
    lab = np.asarray(labels)
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.dtype.kind == "O":
        if not lab.size or not all(isinstance(v, str) for v in lab.ravel()):
            return None
        lab = lab.astype(str)
    elif lab.dtype.kind == "S":
        try:
            lab = np.char.decode(lab, "utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{what} are bytes that are not UTF-8 text; pass class names as str") from None
    elif lab.dtype.kind != "U":
        return None
    if lab.ndim != 1:
        raise InputError(f"{what} are class names shaped {lab.shape}; pass one name per image, shaped (N,)")
    blank = np.flatnonzero(np.char.strip(lab) == "")
    if blank.size:
        raise InputError(f"{what} have an empty class name at index {int(blank[0])} ({blank.size} in all); "
                         "every image needs a class")
    names, index = np.unique(lab, return_inverse=True)
    return index.astype(np.int64).reshape(-1), tuple(str(n) for n in names)


def label_values(labels: Any, what: str = "labels") -> tuple[np.ndarray, int | None]:
    """Class values (int64, shaped (N,)) of numeric `labels` as `from_arrays` reads them: integers,
    whole-number floats, an (N, 1) column, or one-hot (N, K), whose K is returned too (else None).
    Class names (strings) are read by `class_name_labels`."""
    lab = np.asarray(labels)
    if lab.dtype == np.bool_ or not (np.issubdtype(lab.dtype, np.integer) or np.issubdtype(lab.dtype, np.floating)):
        raise InputError(f"{what} must be integers, one-hot numbers or class names (str), got dtype {lab.dtype}")
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    n_columns = None
    if lab.ndim == 2:
        ok = lab.size and np.isin(lab, (0, 1)).all() and (lab.sum(axis=1) == 1).all()
        if not ok:
            raise InputError(
                f"{what} have shape {lab.shape} but are not one-hot (each row must hold a "
                "single 1 and zeros elsewhere); pass class indices shaped (N,) instead"
            )
        n_columns = lab.shape[1]
        lab = lab.argmax(axis=1)
    elif lab.ndim != 1:
        raise InputError(f"{what} must be shaped (N,) or one-hot (N, K), got shape {lab.shape}")
    if np.issubdtype(lab.dtype, np.floating):
        if not np.isfinite(lab).all():
            raise InputError(f"{what} contain NaN or infinite values; every image needs a class")
        if (lab != np.rint(lab)).any():
            raise InputError(f"{what} are floats that are not whole numbers; pass class indices")
    return lab.astype(np.int64), n_columns


def from_arrays(images: Any, labels: Any, name: str = "arrays",
                class_names: Sequence[str] | None = None) -> Dataset:
    """Validate and convert arrays into a `Dataset` (exact uint8 images, labels 0..K-1).

    Labels may be integers, whole-number floats, an (N, 1) column, one-hot (N, K), or class
    names (strings). Without `class_names`, distinct label values are mapped in sorted order
    to 0..K-1 and become the class names; with it, numeric labels must already be indices
    and names must be among `class_names`.
    """
    what = name if name.endswith("images") else f"{name} images"  # "images", "validation_images", "x.npz images"
    imgs = check_batch(to_uint8(images, what), what)  # ImageError is an InputError
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    labels_what = f"{what[:-len('images')]}labels" if what == name else f"{name} labels"  # "labels", ...
    named = class_name_labels(labels, labels_what)
    if named is None:
        lab, n_columns = label_values(labels, labels_what)
    else:
        (lab, names), n_columns = named, None
        if class_names is None:
            class_names = names
        else:
            index = {str(c): i for i, c in enumerate(class_names)}
            unknown = [n for n in names if n not in index]
            if unknown:
                raise InputError(f"{labels_what} hold classes {unknown} that class_names lacks "
                                 f"({', '.join(map(str, class_names))}); label images only with those classes")
            lab = np.array([index[n] for n in names], dtype=np.int64)[lab]
    if len(lab) != len(imgs):
        raise InputError(
            f"{name}: {len(imgs)} images but {len(lab)} labels; pass exactly one label per image"
        )
    present = np.unique(lab)
    if len(present) < 2:
        only = class_names[present[0]] if named is not None else present[0]
        raise InputError(
            f"{name}: every label is {only}, so there is only one class and no classifier can "
            "be trained; pass images of at least 2 classes"
        )
    if class_names is not None or n_columns is not None:
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(n_columns or 0))
        if lab.min() < 0 or lab.max() >= len(names):
            raise InputError(
                f"{labels_what} must lie in 0..{len(names) - 1} to match {len(names)} class names, "
                f"got min {lab.min()}, max {lab.max()}"
            )
        return Dataset(imgs, lab, names, name)
    if not np.array_equal(present, np.arange(len(present))):
        _log_remapping(labels_what, present)
    return Dataset(imgs, np.searchsorted(present, lab).astype(np.int64), tuple(str(v) for v in present), name)


def _log_remapping(what: str, present: np.ndarray, shown: int = 20) -> None:
    """Say that integer labels other than 0..K-1 were numbered 0..K-1, and how (a model predicts the indices)."""
    pairs = ", ".join(f"{v} -> {i}" for i, v in enumerate(present[:shown].tolist()))
    more = f", ... ({len(present)} classes)" if len(present) > shown else ""
    logger.warning("%s are not 0..%d, so deepaug numbers the classes in sorted order (label -> class index: %s%s); "
                   "a model trained on them predicts the index, and class_names[index] (a search's labels.json) is "
                   "the label it stands for", what, len(present) - 1, pairs, more)


def _integer_name(name: str) -> bool:
    return name.lstrip("-").isdigit()


def align_classes(reference: Dataset, data: Dataset, what: str = "validation_labels") -> Dataset:
    """`data` with `reference`'s class indices and names, so that a class is the same index in both.

    Classes are matched by name (an array's classes are named after its label values, a
    folder's after its sub-folders). Where one side's classes are named by integers and the
    other's are not, the integers are indices into the named side's classes (an array labelled
    0..K-1 beside a folder, or a named dataset's K classes beside arrays labelled 0..K-1). A class
    `reference` lacks is refused: an InputError naming it.
    """
    index = {name: i for i, name in enumerate(reference.class_names)}
    numbered, named = all(map(_integer_name, data.class_names)), not any(map(_integer_name, reference.class_names))
    if all(name in index for name in data.class_names):
        mapping = np.array([index[name] for name in data.class_names], dtype=np.int64)
    elif numbered and named and all(0 <= int(name) < reference.num_classes for name in data.class_names):
        mapping = np.array([int(name) for name in data.class_names], dtype=np.int64)
    elif reference.class_names == tuple(map(str, range(reference.num_classes))) \
            and not any(map(_integer_name, data.class_names)) and data.num_classes == reference.num_classes:
        mapping = np.arange(data.num_classes, dtype=np.int64)  # all its classes: their order is the label order
    else:
        extra = [name for name in data.class_names if not 0 <= int(name) < reference.num_classes] \
            if numbered and named else [name for name in data.class_names if name not in index]
        raise InputError(f"{what} hold classes {extra} that the training labels lack (their classes: "
                         f"{', '.join(reference.class_names)}); use only the classes you train on, labelled as the "
                         "training labels are")
    return Dataset(data.images, mapping[data.labels], reference.class_names, data.name, data.skipped)


def from_arrays_like(reference: Dataset, images: Any, labels: Any, name: str = "validation_images") -> Dataset:
    """`from_arrays` for a second set of arrays beside `reference` (e.g. validation beside training):
    its labels get `reference`'s class indices (see `align_classes`), not indices of their own,
    so a validation set that lacks a class keeps the others' indices. One-hot labels' columns
    are `reference`'s classes."""
    labels_what = f"{name[:-len('images')]}labels" if name.endswith("images") else f"{name} labels"
    if class_name_labels(labels, labels_what) is not None:  # matched to the training classes by name
        return align_classes(reference, from_arrays(images, labels, name), labels_what)
    values, n_columns = label_values(labels, labels_what)
    if n_columns is not None:
        if n_columns != reference.num_classes:
            raise InputError(f"{labels_what} are one-hot with {n_columns} columns but the training data has "
                             f"{reference.num_classes} classes; give one column per training class")
        return from_arrays(images, values, name, class_names=reference.class_names)
    return align_classes(reference, from_arrays(images, values, name), labels_what)


def _allocate(weights: np.ndarray, total: int, capacity: np.ndarray) -> np.ndarray:
    """Split `total` across classes proportionally to `weights` (largest remainder), within `capacity`.

    Every class with capacity gets at least one item when `total` allows it.
    """
    quota = weights * total / weights.sum()
    alloc = np.minimum(np.floor(quota).astype(np.int64), capacity)
    available = capacity > 0
    if total >= available.sum():
        alloc = np.where(available & (alloc == 0), 1, alloc)
    while alloc.sum() > total:  # only after forcing ones: take back from the most over-served class
        alloc[np.argmax(np.where(alloc > 1, alloc - quota, -np.inf))] -= 1
    while alloc.sum() < total:
        alloc[np.argmax(np.where(alloc < capacity, quota - alloc, -np.inf))] += 1
    return alloc


def split_train_val(dataset: Dataset, train_size: int, val_size: int | None = None,
                    seed: int = 0, names: tuple[str, str] = ("train_size", "val_size"),
                    quiet: bool = False) -> tuple[Dataset, Dataset]:
    """Draw a stratified, seeded training subset and a disjoint validation set from `dataset`.

    Both sets keep the class proportions of `dataset` (largest-remainder rounding, each
    class in train when possible); indices keep their original order. Default `val_size`:
    min(N - train_size, max(train_size // 4, 10 * num_classes)). If `train_size` >= N,
    a WARNING is logged and train gets every image not in validation, whose default size
    is then max(1, N // 5) (`quiet`: no warning, for a caller that split the same sizes before).
    `names`: what errors and the warning call the two sizes (the caller's names for them).
    """
    train_name, val_name = names
    n = len(dataset)
    for label, value in ((train_name, train_size), (val_name, val_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise InputError(f"{label} must be a positive integer, got {value!r}")
    if n < 2:
        raise InputError(f"dataset {dataset.name!r} has {n} image(s): too small to hold out any "
                         "validation images; pass a larger dataset")
    if train_size >= n:
        val = max(1, n // 5) if val_size is None else int(val_size)
        if val >= n:
            raise InputError(f"{val_name}={val} leaves no training images in dataset {dataset.name!r} "
                             f"({n} images); pass {val_name} < {n}")
        train = n - val
        logger.log(logging.DEBUG if quiet else logging.WARNING, "%s=%d >= the %d images of %r: using the %d images "
                   "not held out for validation (%d) as the training set", train_name, train_size, n, dataset.name,
                   train, val)
    else:
        train = int(train_size)
        default = min(n - train, max(train // 4, 10 * dataset.num_classes))
        val = default if val_size is None else int(val_size)
        if val > n - train:
            raise InputError(f"{val_name}={val} is more than the {n - train} images left after {train_name}="
                             f"{train} in dataset {dataset.name!r}; pass {val_name} <= {n - train} or a "
                             f"smaller {train_name}")
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    weights = counts.astype(np.float64)
    train_alloc = _allocate(weights, train, counts)
    val_alloc = _allocate(weights, val, counts - train_alloc)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(dataset.num_classes):
        order = rng.permutation(np.flatnonzero(dataset.labels == c))
        train_idx.append(order[:train_alloc[c]])
        val_idx.append(order[train_alloc[c]:train_alloc[c] + val_alloc[c]])
    parts = []
    for suffix, idx in (("train", train_idx), ("val", val_idx)):
        sel = np.sort(np.concatenate(idx))
        parts.append(Dataset(dataset.images[sel], dataset.labels[sel], dataset.class_names,
                             f"{dataset.name}/{suffix}", dataset.skipped))
    return parts[0], parts[1]


def pick_examples(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of n images, covering as many classes as possible (first of each class first)."""
    if n < 1:
        raise InputError(f"the number of example images must be at least 1, got {n}")
    firsts = np.array([np.flatnonzero(labels == c)[0] for c in np.unique(labels)])
    rest = np.setdiff1d(np.arange(len(labels)), firsts)
    return np.concatenate([firsts, rest])[:n]


def hold_out_test(data: Dataset) -> tuple[Dataset, Dataset]:
    """(pool, test) of a dataset that has one split (an .npz file, a folder): a stratified
    `TEST_FRACTION` held out as its test split with seed `TEST_SEED`, the same images every time,
    so that the search (which gets the pool) never sees what `deepaug evaluate` scores on."""
    n_test = max(data.num_classes, int(round(TEST_FRACTION * len(data))))
    if len(data) - n_test < data.num_classes:
        raise InputError(f"{data.name!r} has {len(data)} images: too few to hold out {n_test} test images "
                         "and still train on every class; pass a larger dataset")
    pool, test = split_train_val(data, len(data) - n_test, val_size=n_test, seed=TEST_SEED, quiet=True)
    return pool, Dataset(test.images, test.labels, test.class_names, f"{data.name}/test")
