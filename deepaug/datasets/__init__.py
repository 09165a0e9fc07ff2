"""Datasets: named datasets (Fashion-MNIST, MNIST, CIFAR-10, digits), .npz files, folders and
arrays, checked, as one in-memory `Dataset`; stratified subsets and train/validation splits.

>>> from deepaug import datasets
>>> train = datasets.load("fashion_mnist")                        # doctest: +SKIP
>>> sub, val = datasets.split_train_val(train, 4000, 10000, seed=0)  # doctest: +SKIP
"""
from __future__ import annotations

from deepaug.datasets.core import (
    IMAGE_EXTENSIONS,
    NAMED,
    TEST_FRACTION,
    TEST_SEED,
    Dataset,
    align_classes,
    class_name_labels,
    from_arrays,
    from_arrays_like,
    hold_out_test,
    label_values,
    named_key,
    pick_examples,
    split_train_val,
)
from deepaug.datasets.loading import NPZ_PAIRS, NPZ_TEST_PAIRS, at_least, has_test_split, load, resize
from deepaug.datasets.named import read_idx

__all__ = ["IMAGE_EXTENSIONS", "NAMED", "NPZ_PAIRS", "NPZ_TEST_PAIRS", "TEST_FRACTION", "TEST_SEED", "Dataset", "align_classes", "at_least",
           "class_name_labels", "from_arrays", "from_arrays_like",
           "has_test_split", "hold_out_test", "label_values", "load", "named_key", "pick_examples", "read_idx", "resize",
           "split_train_val"]
