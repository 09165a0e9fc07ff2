"""The input pipeline of a child training: seeded batches of uint8 images, augmented on the fly
inside a tf.data map (parallel, deterministic order), scaled to float32 in [0, 1].

TensorFlow is imported inside the functions, so importing this module stays light.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from deepaug.errors import InputError
from deepaug.policy.apply import Augmenter, augment_with, check_seed, label_weights
from deepaug.policy.core import Policy, as_policy

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

Augmentation = Augmenter | None
"""What augments a child training's batches: a Policy or any other Augmenter (e.g. deepaug.policy.baselines),
or None (no augmentation)."""


def positive_int(value: Any, key: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"training config: {key} must be an integer >= {minimum}, got {value!r}")


def as_augmentation(policy: Any) -> Augmentation:
    """What a training takes as its policy: None and augmenters as they are, else `as_policy`'s
    reading of it (a policy dict, file, name, ...), with its one error message."""
    if policy is None or (isinstance(policy, Augmenter) and not isinstance(policy, Policy)):
        return policy
    return as_policy(policy, also=("an augmenter (an object with augment_nhwc(x, rng))", "None (no augmentation)"))


def is_noop(policy: Augmentation) -> bool:
    """True when the policy cannot change an image (None, identity ops, probability 0).

    Other augmenters are taken to change images."""
    if not isinstance(policy, Policy):
        return policy is None
    return not policy.changes_images


def mixes_labels(policy: Augmentation) -> bool:
    """True when training batches carry label weights (N, classes) instead of class indices:
    the policy mixes images and labels (CutMix, MixUp). The model then trains on categorical
    cross-entropy, the same loss as the sparse one on one-hot rows."""
    return isinstance(policy, Policy) and policy.mixes_labels


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-int(n) // int(batch_size))


def train_dataset(images: np.ndarray, labels: np.ndarray, policy: Augmentation, batch_size: int,
                  seed: int, epochs: int, first_epoch: int = 0,
                  num_classes: int | None = None) -> "tf.data.Dataset":
    """`(epochs - first_epoch) * steps_per_epoch` batches of (float32 images in [0, 1], int64 labels),
    or float32 label weights (N, num_classes) when the policy `mixes_labels`.

    Starting at `first_epoch` gives exactly the batches an uninterrupted training would
    see from that epoch on (a training continued from its checkpoint).

    `images` (uint8, NHWC) is referenced, not copied. Batches follow a fresh seeded
    permutation each epoch (the last batch of an epoch may be short) and are augmented
    on the fly by `policy` unless it is None or a no-op.
    """
    import tensorflow as tf  # heavy: loaded when a dataset is built, not on import

    positive_int(batch_size, "child_batch_size")
    positive_int(epochs, "epochs")
    seed = check_seed(seed)
    if images.dtype != np.uint8 or images.ndim != 4 or len(labels) != len(images):
        raise InputError(f"train_dataset needs uint8 images (N, H, W, C) and N labels, got images "
                         f"{images.dtype} {images.shape} and {len(labels)} labels")
    n, (h, w, c) = len(images), images.shape[1:]
    steps = steps_per_epoch(n, batch_size)
    labels = np.asarray(labels, dtype=np.int64)
    augment = not is_noop(policy)
    soft = mixes_labels(policy)
    if soft and num_classes is None:
        raise InputError("train_dataset needs num_classes for a policy that mixes labels (cutmix or mixup)")

    @lru_cache(maxsize=2)
    def permutation(epoch: int) -> np.ndarray:
        return np.random.default_rng([seed, 0, epoch]).permutation(n)

    def load(step: np.int64) -> tuple[np.ndarray, np.ndarray]:
        step = int(step)
        epoch, b = divmod(step, steps)
        idx = permutation(epoch)[b * batch_size:(b + 1) * batch_size]
        x = images[idx]
        if soft:  # the per-image steps, then the batch step (CutMix, MixUp) from the same stream
            return policy.apply_with_labels(x, labels[idx], num_classes, seed=np.random.default_rng([seed, 1, step]))
        if augment:
            x = augment_with(policy, x, np.random.default_rng([seed, 1, step]))
        return x, labels[idx]

    def fetch(step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(load, [step], (tf.uint8, tf.float32 if soft else tf.int64), stateful=False)
        x = tf.cast(x, tf.float32) / 255.0
        x.set_shape((None, h, w, c))
        y.set_shape((None, num_classes) if soft else (None,))
        return x, y

    ds = tf.data.Dataset.range(int(first_epoch) * steps, epochs * steps)
    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


def eval_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int,
                 num_classes: int | None = None) -> "tf.data.Dataset":
    """Validation batches: float32 images in [0, 1], no augmentation, in order; labels as
    class indices, or one-hot rows with `num_classes` (for a model trained on label weights)."""
    import tensorflow as tf  # heavy: loaded when a dataset is built, not on import

    y = np.asarray(labels, dtype=np.int64)
    if num_classes is not None:
        y = label_weights(y, len(y), num_classes)
    ds = tf.data.Dataset.from_tensor_slices((images, y)).batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


def _options() -> "tf.data.Options":
    """Deterministic order, and no tf.data autotuning model thread.

    Measured on TF 2.21 / 2 cores: with the autotuner on, releasing a pipeline at the end
    of `fit` stalls for seconds (about 0.5 s per epoch trained: 26 s after a 50-epoch
    training), while epochs run no faster. AUTOTUNE parallelism and prefetch still apply.
    """
    import tensorflow as tf  # heavy: loaded when a dataset is built, not on import

    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return options
