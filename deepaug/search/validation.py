"""The search's validation data: the user's own set (checked against the training data), and
the default size drawn from the rest of their training data (never a test split)."""
from __future__ import annotations

import numpy as np

from deepaug import datasets
from deepaug.datasets import Dataset
from deepaug.errors import InputError
from deepaug.search.config import SearchConfig

MAX_VALIDATION = 10_000  # default validation size cap per use (the rest of the data beyond the training subset):
# the screen's images, and with race_holdout as many again for the race
MIN_VALIDATION_PER_CLASS = 10
HOLDOUT_PER_CLASS = 2 * MIN_VALIDATION_PER_CLASS  # a class's validation images for two halves that measure it


def user_validation(config: SearchConfig, data: Dataset) -> Dataset | None:
    """The user's validation set, checked against the training data, its labels given the training
    data's class indices (see datasets.align_classes); None if not given."""
    images, labels = config.validation_images, config.validation_labels
    if images is None and labels is None:
        return None
    if isinstance(images, (str, Dataset)):
        if labels is not None:
            raise InputError("validation_labels goes with validation_images as an array; a dataset name or path "
                             "carries its own labels")
        val = datasets.load(images, split="train") if isinstance(images, str) else images
        val = datasets.align_classes(data, val, "validation_images")
    else:
        if images is None or labels is None:
            raise InputError("pass both validation_images and validation_labels (or neither)")
        val = datasets.from_arrays_like(data, images, labels, "validation_images")
    if val.image_shape != data.image_shape:
        raise InputError(f"validation_images are {val.image_shape} but the training images are {data.image_shape}; "
                         "give validation images of the same size and channels (resize them first)")
    return val


def fewest_per_class(labels: np.ndarray) -> int:
    """The image count of the rarest class present in `labels` (0 when there are none)."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    return int(counts.min()) if len(counts) else 0


def holdout_halves(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified halves of the validation images' indices, (screen's, race's), drawn with `seed`:
    each class's images split in two (the odd one to the screen); None when a class has fewer than
    HOLDOUT_PER_CLASS images, too few for both halves to measure it."""
    labels = np.asarray(labels)
    if fewest_per_class(labels) < HOLDOUT_PER_CLASS:
        return None
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    screen, race = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        half = (len(members) + 1) // 2
        screen.append(members[:half])
        race.append(members[half:])
    return np.sort(np.concatenate(screen)), np.sort(np.concatenate(race))
