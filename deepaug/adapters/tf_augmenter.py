"""The augmentation behind `PolicyLayer` and `policy_map_fn` (deepaug.adapters.keras, whose
docstring has the semantics): argument checks, the step counter, and `TensorAugmenter`, which
runs `augment_nhwc` on (N, H, W, C) tensors through `tf.numpy_function` (or on NumPy arrays),
keeping their dtype, value range and shape.

Importing this module imports TensorFlow and Keras (pip install 'deepaug[cpu]').
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Any, Sequence

import numpy as np

from deepaug.extras import require

keras = require("keras", "deepaug.adapters.keras")  # pip install 'deepaug[cpu]'
tf = require("tensorflow", "deepaug.adapters.keras (tf.data and the TensorFlow backend)")

from deepaug.errors import ImageError, InputError
from deepaug.images import CHANNELS
from deepaug.policy.apply import augment_nhwc, check_seed
from deepaug.policy.core import Policy

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- arguments

def as_seed(seed: Any, who: str) -> int:
    """A non-negative int seed; None draws one from fresh entropy (logged, so it can be reused)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
        logger.info("%s drew seed %d; pass seed=%d to reproduce its augmentations", who, seed, seed)
        return seed
    return check_seed(seed, who)


def as_value_range(value_range: Sequence[float], who: str) -> tuple[float, float]:
    """(low, high): the pixel values that mean black and white in the inputs."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise InputError(f"{who}: value_range must be two numbers (low, high) such as (0, 1) or "
                         f"(0, 255), got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"{who}: value_range must be two finite numbers with low < high, "
                         f"got {value_range!r}")
    return low, high


def single_image(inputs: Any) -> bool:
    """Whether `inputs` are one image (H, W, C), C in {1, 3}, given as values (a NumPy array or a
    backend or tf.data tensor); a model's symbolic input of rank 3 is a batch (N, H, W)."""
    shape = getattr(inputs, "shape", None)
    if isinstance(inputs, keras.KerasTensor) or shape is None:
        return False
    dims = tuple(shape)
    return len(dims) == 3 and dims[-1] in CHANNELS


def check_shape(shape: Any, who: str, allow_single: bool) -> None:
    """InputError unless `shape` is (N, H, W, C), or (H, W, C) when allowed, with C in {1, 3}."""
    dims = tf.TensorShape(shape)
    if dims.rank is None:
        return  # checked when the images arrive
    rank = dims.rank
    channels = dims[-1] if rank else None
    rank_ok = rank == 4 or (allow_single and rank == 3)
    if rank_ok and (channels is None or channels in CHANNELS):
        return
    gray_batch = "; for a batch of grayscale images add a channel axis (images[..., None])"
    if rank_ok and channels == 4:
        hint = "; drop an alpha channel with images[..., :3]"
    elif rank_ok and rank == 3:
        hint = gray_batch
    elif rank_ok:
        hint = "; convert the images to grayscale (1 channel) or RGB (3 channels)"
    elif rank == 3:
        hint = gray_batch + ", for a single image add a batch axis (images[None])"
    elif rank == 2:
        hint = "; add a channel axis to a grayscale image (images[..., None])"
    else:
        hint = ""
    expected = "(N, H, W, C) or a single image (H, W, C)" if allow_single else "(N, H, W, C)"
    raise InputError(f"{who} expects images shaped {expected} with C in {{1, 3}}, got shape "
                     f"{tuple(dims.as_list())}{hint}")


# ---------------------------------------------------------------- the augmentation

class StepCounter:
    """Hands out 0, 1, 2, ... to concurrent callers, each number once."""

    def __init__(self, start: int = 0) -> None:
        self._next = start
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            step = self._next
            self._next += 1
        return step

    @property
    def next_step(self) -> int:
        with self._lock:
            return self._next


class TensorAugmenter:
    """Policy + seed + value range + step counter; augments (N, H, W, C) tensors."""

    def __init__(self, policy: Policy, seed: int, value_range: tuple[float, float], who: str = "the policy") -> None:
        self.policy = policy
        self.seed = seed
        self.value_range = value_range
        self.counter = StepCounter()
        self.active = policy.changes_images
        self.who = who
        self._range_warned = False

    def _checks_range(self, dtype: Any) -> bool:
        """Whether images of `dtype` are float under the default range (0, 255), where [0, 1]
        images (what most float pipelines feed) would be read as near-black 0..255 levels."""
        floating = dtype.is_floating if isinstance(dtype, tf.DType) else np.issubdtype(dtype, np.floating)
        return bool(floating) and tuple(self.value_range) == (0.0, 255.0)

    def _warn_range(self, peak: Any) -> None:
        if not self._range_warned and 0.0 < float(peak) <= 1.0:
            self._range_warned = True
            logger.warning("%s got float images whose values all lie in [0, 1], but its value_range is (0, 255): "
                           "they are read as 0..255 levels (near black) and come back on that scale; pass "
                           "value_range=(0, 1)", self.who)

    def _next_rng(self, x: np.ndarray) -> np.random.Generator:
        """The generator of the next call, once `x` is known to be an (N, H, W, C) batch."""
        if x.ndim != 4 or x.shape[-1] not in CHANNELS:
            raise ImageError(f"images must be shaped (N, H, W, C) with C in {{1, 3}}, got shape {x.shape}")
        return np.random.default_rng([self.seed, 1, self.counter.take()])

    def _augment_uint8(self, x: np.ndarray) -> np.ndarray:
        return augment_nhwc(self.policy, x, self._next_rng(x))

    def _augment_labelled(self, x: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """`_augment_uint8` with the batch step (CutMix, MixUp) too, as in training (`apply_with_labels`)."""
        return self.policy.apply_with_labels(x, labels, num_classes or None, seed=self._next_rng(x))

    def numpy(self, images: np.ndarray) -> np.ndarray:
        """The same augmentation, in NumPy, of a NumPy batch (eager JAX / torch / NumPy inputs):
        the arithmetic of `__call__` step by step, so both give the same values."""
        if not self.active:
            return images
        dtype = images.dtype
        if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise InputError(f"images must be uint8, integer or float pixel values, got dtype {dtype}")
        low, high = self.value_range
        if dtype == np.uint8 and (low, high) == (0.0, 255.0):
            return self._augment_uint8(np.ascontiguousarray(images))
        if self._checks_range(dtype) and images.size:
            self._warn_range(images.max())
        work = np.float64 if dtype == np.float64 else np.float32
        scaled = (images.astype(work) - work(low)) * work(255.0 / (high - low))
        quantized = np.clip(np.rint(scaled), 0.0, 255.0).astype(np.uint8)
        out = self._augment_uint8(quantized)
        restored = out.astype(work) / work(255.0) * work(high - low) + work(low)
        if np.issubdtype(dtype, np.integer):
            restored = np.rint(restored)
        return np.where(out == quantized, images, restored.astype(dtype))  # untouched pixels keep their values

    def __call__(self, images: tf.Tensor, labels: tf.Tensor | None = None, num_classes: int | None = None) -> Any:
        """`images` (N, H, W, C) augmented; same dtype, range and static shape. With `labels`
        (class indices, or label weights) the batch step (CutMix, MixUp) runs too, and the result is
        (images, float32 label weights (N, classes))."""
        if labels is not None:
            return self._labelled(images, labels, num_classes)
        if not self.active:
            return images
        quantized = self._quantized(images)

        def augment(x: np.ndarray, top: Any) -> np.ndarray:
            self._warn_range(top)
            return self._augment_uint8(x)

        out = tf.numpy_function(augment, [quantized, self._peak(images)], tf.uint8, stateful=True,
                                name="deepaug_policy")
        return self._restore(images, quantized, out)

    def _peak(self, images: tf.Tensor) -> tf.Tensor:
        """The batch's largest value when `_warn_range` may need it (else 0, which it ignores)."""
        return tf.reduce_max(images) if self._checks_range(images.dtype) else tf.constant(0.0)

    def _quantized(self, images: tf.Tensor) -> tf.Tensor:
        dtype = images.dtype
        if not (dtype.is_integer or dtype.is_floating):
            raise InputError(f"images must be uint8, integer or float pixel values, got dtype {dtype.name}")
        low, high = self.value_range
        if dtype == tf.uint8 and (low, high) == (0.0, 255.0):
            return images
        work = tf.float64 if dtype == tf.float64 else tf.float32
        scaled = (tf.cast(images, work) - low) * (255.0 / (high - low))
        return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)

    def _restore(self, images: tf.Tensor, quantized: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        """Augmented uint8 `out` back to the input's dtype and range (untouched pixels exact)."""
        out.set_shape(images.shape)
        dtype = images.dtype
        low, high = self.value_range
        if dtype == tf.uint8 and (low, high) == (0.0, 255.0):
            return out
        work = tf.float64 if dtype == tf.float64 else tf.float32
        restored = tf.cast(out, work) / 255.0 * (high - low) + low
        if dtype.is_integer:
            restored = tf.round(restored)
        restored = tf.cast(restored, dtype)
        return tf.where(out == quantized, images, restored)  # untouched pixels keep their exact values

    def _labelled(self, images: tf.Tensor, labels: Any, num_classes: int | None) -> tuple[tf.Tensor, tf.Tensor]:
        labels = tf.convert_to_tensor(labels)
        if labels.shape.rank == 2:
            classes = labels.shape[-1] if num_classes is None else num_classes
        elif labels.shape.rank == 1 and labels.dtype.is_integer and num_classes is not None:
            classes = num_classes
        else:
            raise InputError(f"to mix labels (the policy's CutMix or MixUp) policy_map_fn needs each batch's labels "
                             f"as class indices (N,) with num_classes=..., or label weights (N, classes); got "
                             f"labels of shape {labels.shape} and dtype {labels.dtype.name}"
                             + ("" if num_classes is not None else " and no num_classes"))
        quantized = self._quantized(images)

        def augment(x: np.ndarray, y: np.ndarray, top: Any) -> tuple[np.ndarray, np.ndarray]:
            self._warn_range(top)
            return self._augment_labelled(x, y, int(classes or 0))

        out, weights = tf.numpy_function(augment, [quantized, labels, self._peak(images)], (tf.uint8, tf.float32),
                                         stateful=True, name="deepaug_policy_labelled")
        weights.set_shape((images.shape[0], classes))
        return self._restore(images, quantized, out), weights
