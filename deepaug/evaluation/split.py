"""The images an evaluation trains and tests on (see `deepaug.evaluation.evaluate`'s docstring).

Test images: a named dataset's own test split, an .npz's own test arrays (`x_test`/`y_test` or
`test_images`/`test_labels`), else a stratified `TEST_FRACTION` of an .npz file or folder held
out with seed `TEST_SEED`, or the `test=` images given (arrays need them). Training images: a stratified subset of `train_size` drawn with `seed`, and for a
tuned RandAugment validation images from the rest of the pool.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from deepaug import datasets
from deepaug.datasets import TEST_FRACTION, TEST_SEED, Dataset, split_train_val
from deepaug.errors import InputError
from deepaug.images import check_size
from deepaug.search.validation import MAX_VALIDATION
from deepaug.training.models import dataset_fingerprint, fit_to_model


def describe_data(data: Any) -> str:
    """How an evaluation names its data: the name or path as given, or arrays by fingerprint."""
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    if isinstance(data, Dataset):
        return f"{data.name} (sha256 {dataset_fingerprint(data.images, data.labels)[:16]})"
    held = data[0] if isinstance(data, tuple) and datasets.is_external(data[0]) else data
    if datasets.is_external(held):
        return f"a {type(held).__module__}.{type(held).__name__}"
    return f"arrays (sha256 {dataset_fingerprint(np.asarray(data[0]), np.asarray(data[1]))[:16]})"


def _as_dataset(data: Any, what: str, data_dir: str | os.PathLike[str] | None,
                image_size: int | tuple[int, int] | None, split: str, like: Dataset | None = None) -> Dataset:
    """`data` (a name, a path, a Dataset, (images, labels) or a form of deepaug.datasets.external) loaded and resized, a named dataset's
    `split`; with `like`, labelled with its classes."""
    if isinstance(data, (str, os.PathLike)):
        named = datasets.named_key(data) is not None
        loaded = datasets.load(data, data_dir, **({"split": split} if named else {}), image_size=image_size)
        return loaded if like is None else datasets.align_classes(like, loaded, f"{what} labels")
    if isinstance(data, tuple) and len(data) == 2 and not datasets.is_external(data):
        data, labels = data  # (images, labels): arrays, or a list of PIL images and their labels
    else:
        labels = None
    if datasets.is_external(data):  # tf.data, HuggingFace, a list of PIL images: read once
        loaded = datasets.from_external(data, labels, f"{what} images", split, image_size)
        return loaded if like is None else datasets.align_classes(like, loaded, f"{what} labels")
    if isinstance(data, Dataset):
        aligned = data if like is None else datasets.align_classes(like, data, f"{what} labels")
        return datasets.resize(aligned, image_size)
    if labels is not None:
        arrays = datasets.from_arrays(data, labels, f"{what} images") if like is None \
            else datasets.from_arrays_like(like, data, labels, f"{what} images")
        return datasets.resize(arrays, image_size)
    raise InputError(f"{what} must be a dataset name, a path, a deepaug.datasets.Dataset, an (images, labels) "
                     "pair, a tf.data.Dataset of (image, label) pairs or a HuggingFace dataset, got "
                     f"{type(data).__name__}")


def load_split(dataset: Any, data_dir: str | os.PathLike[str] | None = None,
               image_size: int | tuple[int, int] | None = None, test: Any = None) -> tuple[Dataset, Dataset, str]:
    """(training pool, test images, where the test images come from), both resized to `image_size` when
    given; see the module docstring. `test` (a name, path, Dataset or (images, labels)) replaces the
    default test images, labelled with the pool's classes."""
    if test is not None:
        pool = _as_dataset(dataset, "dataset", data_dir, image_size, "train")
        given = _as_dataset(test, "test", data_dir, image_size, "test", like=pool)
        if given.image_shape != pool.image_shape:
            raise InputError(f"the test images are {given.image_shape} but the training images are "
                             f"{pool.image_shape}; give test images of the same channels, and of the same size "
                             "or an image_size for both")
        return pool, given, f"the test set given: {describe_data(test)}"
    if datasets.is_external(dataset) and datasets.has_test_split(dataset):  # a DatasetDict with "test"
        return (_as_dataset(dataset, "dataset", None, image_size, "train"),
                _as_dataset(dataset, "dataset", None, image_size, "test"), "the dataset's own test split")
    if not isinstance(dataset, (str, os.PathLike)):
        raise InputError("evaluating on arrays needs test images the search never saw: pass test=(test_images, "
                         "test_labels) (DeepAugment(images, labels) searches on all the arrays it is given, so "
                         "none of them can be held out afterwards)")
    if datasets.named_key(dataset) is not None:
        return (datasets.load(dataset, data_dir, split="train", image_size=image_size),
                datasets.load(dataset, data_dir, split="test", image_size=image_size), "the dataset's own test split")
    if datasets.has_test_split(dataset):  # an .npz with x_test/y_test (or test_images/test_labels)
        pool = datasets.load(dataset, image_size=image_size)
        test = datasets.align_classes(pool, datasets.load(dataset, split="test", image_size=image_size),
                                      f"{dataset} test labels")
        return pool, test, f"the test arrays of {dataset}"
    data = datasets.load(dataset, data_dir, image_size=image_size)
    pool, held = datasets.hold_out_test(data)  # the images a search on this file never saw
    return pool, held, f"a stratified {TEST_FRACTION:.0%} of {data.name} held out with seed {TEST_SEED}"


def split_pool(pool: Dataset, train_size: int | None, seed: int,
               tune_val_size: int | None = None, tuning: bool = False) -> tuple[Dataset, Dataset | None]:
    """(training images, validation images for tuning or None); the training images do not depend on tuning."""
    if train_size is not None and train_size > len(pool):
        raise InputError(f"train_size={train_size} is more than the {len(pool)} training images of {pool.name!r}; "
                         f"pass train_size <= {len(pool)}")
    if not tuning:
        return (pool if train_size in (None, len(pool)) else split_train_val(pool, train_size, seed=seed)[0]), None
    if train_size is None or train_size == len(pool):
        raise InputError(f"train_size={train_size} takes all the {len(pool)} training images of {pool.name!r}: a "
                         f"tuned RandAugment needs some left over for validation; pass train_size < {len(pool)}")
    left = len(pool) - train_size
    if tune_val_size is not None and tune_val_size > left:
        raise InputError(f"tune_val_size={tune_val_size} is more than the {left} images of {pool.name!r} left "
                         f"after train_size={train_size}; pass tune_val_size <= {left} or a smaller train_size")
    if tune_val_size is None:  # the distribution search's default: the rest of the pool, at most 10,000
        tune_val_size = min(left, MAX_VALIDATION)
    return split_train_val(pool, train_size, val_size=tune_val_size, seed=seed)


def load_for_model(dataset: Any, data_dir: str | os.PathLike[str] | None, image_size: int | tuple[int, int] | None,
                   test: Any, model: Any) -> tuple[Dataset, Dataset, str, tuple[int, int] | None]:
    """`load_split`'s (pool, test images, where they come from) and the image size: without
    `image_size`, a named dataset's images smaller than the named `model` takes are enlarged
    to its smallest size (`fit_to_model`)."""
    size = check_size(image_size)
    pool, held, source = load_split(dataset, data_dir, size, test)
    if size is None and isinstance(dataset, (str, os.PathLike)) and datasets.named_key(dataset) is not None:
        fitted = fit_to_model(pool, model)
        if fitted is not pool:
            pool, held, size = fitted, fit_to_model(held, model), fitted.image_shape[:2]
    return pool, held, source, size
