"""Datasets: named datasets (Fashion-MNIST, MNIST, CIFAR-10, digits), .npz files, folders,
arrays, and the forms users hold (tf.data, HuggingFace, TFDS directories, lists of PIL images:
deepaug.datasets.external), checked, as one in-memory `Dataset`; stratified subsets and train/validation splits.

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
from deepaug.datasets.external import MAX_BYTES, from_external, is_external
from deepaug.datasets.image_lists import from_image_list
from deepaug.datasets.loading import NPZ_PAIRS, NPZ_TEST_PAIRS, at_least, has_test_split, load, resize
from deepaug.datasets.named import read_idx
from deepaug.datasets.staging import needs_staging, stage_folder

__all__ = ["IMAGE_EXTENSIONS", "MAX_BYTES", "NAMED", "NPZ_PAIRS", "NPZ_TEST_PAIRS", "TEST_FRACTION", "TEST_SEED", "Dataset", "align_classes", "at_least",
           "class_name_labels", "from_arrays", "from_arrays_like", "from_external", "from_image_list", "is_external",
           "has_test_split", "hold_out_test", "label_values", "load", "named_key", "needs_staging", "pick_examples", "read_idx", "resize",
           "stage_folder",
           "split_train_val"]
