"""The search's validation data: the user's own set (checked against the training data), and
the default size drawn from the rest of their training data (never a test split)."""
from __future__ import annotations

import logging

import numpy as np

from deepaug import datasets
from deepaug.datasets import Dataset, split_train_val
from deepaug.errors import InputError
from deepaug.search.config import CONFIG_SIZE_NAMES, SearchConfig

log = logging.getLogger(__name__)

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


def study_split(data: Dataset, config: SearchConfig, validation: Dataset | None, seed: int,
                warn: bool = False) -> tuple[Dataset, Dataset]:
    """The distribution search's training subset and validation set (`validation`, the user's, or the
    rest of the data); the class counts do not depend on `seed`, so `warn` (of thin classes) is
    for the first call."""
    if validation is not None:
        train = data if config.train_set_size >= len(data) else \
            split_train_val(data, config.train_set_size, val_size=1, seed=seed, names=CONFIG_SIZE_NAMES)[0]
        check_holdout(config, validation, warn)
        return train, validation
    needed = MIN_VALIDATION_PER_CLASS * data.num_classes
    if config.validation_size is None and config.train_set_size > len(data) - needed:
        left = max(0, len(data) - config.train_set_size)
        if len(data) - needed < data.num_classes:  # no train_set_size helps: say what does
            raise InputError(f"{len(data)} images are too few to hold out the {needed} validation images the race "
                             f"needs ({MIN_VALIDATION_PER_CLASS} per class, {data.num_classes} classes) and still "
                             f"train on some: pass validation_images / validation_labels (then all {len(data)} "
                             f"train), or give at least {needed + data.num_classes} images")
        raise InputError(f"train_set_size={config.train_set_size} leaves {left} of the {len(data)} images for "
                         f"validation, and the race needs at least "
                         f"{MIN_VALIDATION_PER_CLASS} per class ({needed}): set train_set_size to at most "
                         f"{max(0, len(data) - needed)}, or pass validation_images / validation_labels")
    rest = len(data) - min(config.train_set_size, len(data) - 1)
    size = config.validation_size or min(rest, MAX_VALIDATION * (2 if config.race_holdout else 1))
    train, val = split_train_val(data, config.train_set_size, size, seed=seed, names=CONFIG_SIZE_NAMES,
                                 quiet=not warn)
    if len(val) < needed:
        raise InputError(f"only {len(val)} validation images are left after train_set_size="
                         f"{config.train_set_size} of {len(data)}; the race needs at least "
                         f"{MIN_VALIDATION_PER_CLASS} per class ({needed}): "
                         "lower train_set_size, or pass validation_images / validation_labels")
    _check_classes(data, config, val, warn)
    check_holdout(config, val, warn)
    return train, val


def _check_classes(data: Dataset, config: SearchConfig, val: Dataset, warn: bool) -> None:
    """Refuse a split that leaves a class no validation images; warn of classes with few."""
    counts = np.bincount(val.labels, minlength=data.num_classes)
    held = np.bincount(data.labels, minlength=data.num_classes)
    missing = [c for c in range(data.num_classes) if held[c] and not counts[c]]
    if missing:
        names = ", ".join(f"{data.class_names[c]!r} ({held[c]} image(s))" for c in missing[:10])
        raise InputError(f"class(es) {names}{' ...' if len(missing) > 10 else ''} get no validation images "
                         f"after train_set_size={config.train_set_size} of {len(data)}: the search could not "
                         "tell whether a policy helps or hurts them; lower train_set_size, raise "
                         "validation_size, add images of those classes, or pass validation_images / "
                         "validation_labels")
    few = [c for c in range(data.num_classes) if 0 < counts[c] < MIN_VALIDATION_PER_CLASS]
    if few and warn:
        log.warning("class(es) %s have fewer than %d validation images each (%s): the search measures them "
                    "roughly", [data.class_names[c] for c in few[:10]], MIN_VALIDATION_PER_CLASS,
                    ", ".join(str(counts[c]) for c in few[:10]))


def check_holdout(config: SearchConfig, val: Dataset, warn: bool) -> None:
    """Warn (with `warn`) when race_holdout is on but `val` is too small for two halves."""
    if warn and config.race_holdout and (fewest := fewest_per_class(val.labels)) < HOLDOUT_PER_CLASS:
        log.warning("the race scores on the same validation images as the screen (the images that chose the "
                    "finalists also judge them): race_holdout needs at least %d validation images of each "
                    "class, and the fewest is %d; give more validation images (validation_size, or "
                    "validation_images) or set race_holdout: false to silence this", HOLDOUT_PER_CLASS, fewest)
