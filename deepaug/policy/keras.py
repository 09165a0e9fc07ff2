"""Use a found policy in your own Keras / tf.data training, with the search's semantics.

`PolicyLayer` (a Keras layer) and `policy_map_fn` (a `tf.data.Dataset.map` function)
augment image batches exactly as the search augmented its child models' batches: each
image draws one sub-policy uniformly at random, and that sub-policy's ops are applied in
order, each with its probability at its magnitude (AutoAugment semantics). The pixel work
is `deepaug.policy.core.augment_nhwc` on uint8 images, run through `tf.numpy_function`.

Randomness: the k-th augmented call of a layer (or map function) with seed `seed` uses
``numpy.random.default_rng([seed, 1, k])``, the generator the search uses for training
step k, so a seeded layer fed the search's batches reproduces the search's augmented
batches byte for byte. The step counter lives in the Python object (it is not saved) and
is taken under a lock, so concurrent calls never share a step.

Pixel values: inputs may be uint8, or integer / float tensors in `value_range` (for
example (0, 1) or (0, 255)). They are scaled to 0..255, rounded (half to even, like
`np.rint`) and clipped to uint8, augmented, and scaled back to the input's dtype and
range. Pixels the policy left unchanged keep their exact input values.

The layer augments only when called with ``training=True`` (as in `model.fit`); at
inference (`model.predict`, `model(x)`) it returns its input unchanged.

Keras backends (KERAS_BACKEND), like Keras's own preprocessing layers (`keras.layers.RandAugment`):

- in a `tf.data` pipeline, whatever the backend: ``ds.map(lambda x, y: (layer(x, training=True), y))``
  (or `policy_map_fn`); under JAX or torch the layer then runs TF ops there, as Keras's DataLayer does;
- eagerly, on the backend's tensors (JAX arrays, torch tensors, NumPy): it goes through NumPy and
  returns the backend's tensors, the same values as in tf.data;
- inside a model: on TensorFlow (a `tf.numpy_function` in the graph) and torch it can sit anywhere;
  on JAX only un-compiled (the layer's `supports_jit` is False, so `fit` with the default
  ``jit_compile="auto"`` runs eagerly; a jit-compiled call raises an InputError saying so). The work
  is NumPy on the CPU either way: for GPU training prefer the tf.data pipeline.

Importing this module imports TensorFlow and Keras (pip install 'deepaug[cpu]'); importing
`deepaug` does not.

>>> from deepaug.policy.keras import PolicyLayer
>>> layer = PolicyLayer("reference", seed=0, value_range=(0, 1))
>>> layer.get_config()["seed"]
0
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from deepaug.extras import require

keras = require("keras", "deepaug.policy.keras")  # pip install 'deepaug[cpu]'
tf = require("tensorflow", "deepaug.policy.keras (tf.data and the TensorFlow backend)")

from deepaug.errors import ImageError, InputError
from deepaug.images import CHANNELS
from deepaug.policy import builtin
from deepaug.policy.core import Policy, augment_nhwc, warn_per_image_only

logger = logging.getLogger(__name__)

__all__ = ["PolicyLayer", "policy_map_fn"]

PolicyLike = builtin.PolicyLike


# ---------------------------------------------------------------- arguments

def _as_seed(seed: Any, who: str) -> int:
    """A non-negative int seed; None draws one from fresh entropy (logged, so it can be reused)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
        logger.info("%s drew seed %d; pass seed=%d to reproduce its augmentations", who, seed, seed)
        return seed
    return builtin.check_seed(seed, who)


def _as_value_range(value_range: Sequence[float], who: str) -> tuple[float, float]:
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


def _changes_images(policy: Policy) -> bool:
    """False when no op of the policy can change a pixel (identity ops, probability 0)."""
    return policy.changes_images


def _single_image(inputs: Any) -> bool:
    """Whether `inputs` are one image (H, W, C), C in {1, 3}, given as values (a NumPy array or a
    backend or tf.data tensor); a model's symbolic input of rank 3 is a batch (N, H, W)."""
    shape = getattr(inputs, "shape", None)
    if isinstance(inputs, keras.KerasTensor) or shape is None:
        return False
    dims = tuple(shape)
    return len(dims) == 3 and dims[-1] in CHANNELS


def _check_shape(shape: Any, who: str, allow_single: bool) -> None:
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

class _StepCounter:
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


class _Augmenter:
    """Policy + seed + value range + step counter; augments (N, H, W, C) tensors."""

    def __init__(self, policy: Policy, seed: int, value_range: tuple[float, float], who: str = "the policy") -> None:
        self.policy = policy
        self.seed = seed
        self.value_range = value_range
        self.counter = _StepCounter()
        self.active = _changes_images(policy)
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
        """`_augment_uint8` with the batch step (CutMix) too, as in training (`apply_with_labels`)."""
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
        (class indices, or label weights) the batch step (CutMix) runs too, and the result is
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
            raise InputError(f"to mix labels (the policy's CutMix) policy_map_fn needs each batch's labels as class "
                             f"indices (N,) with num_classes=..., or label weights (N, classes); got labels of "
                             f"shape {labels.shape} and dtype {labels.dtype.name}"
                             + ("" if num_classes is not None else " and no num_classes"))
        quantized = self._quantized(images)

        def augment(x: np.ndarray, y: np.ndarray, top: Any) -> tuple[np.ndarray, np.ndarray]:
            self._warn_range(top)
            return self._augment_labelled(x, y, int(classes or 0))

        out, weights = tf.numpy_function(augment, [quantized, labels, self._peak(images)], (tf.uint8, tf.float32),
                                         stateful=True, name="deepaug_policy_labelled")
        weights.set_shape((images.shape[0], classes))
        return self._restore(images, quantized, out), weights


# ---------------------------------------------------------------- Keras layer

@keras.saving.register_keras_serializable(package="deepaug")
class PolicyLayer(keras.layers.Layer):
    """Augments training batches with a deepaug policy; returns inputs unchanged at inference.

    Args:
        policy: a `Policy`, a policy dict (the JSON format), a policy file path or a
            built-in policy name (`deepaug.policy.builtin.names()`).
        seed: seeds call k with ``default_rng([seed, 1, k])``; None draws a seed once
            (kept in `seed` and in the config, so a saved model reloads with it).
        value_range: the input values that mean black and white, e.g. (0, 1) or (0, 255).

    Inputs are batches (N, H, W, C) with C in {1, 3}, uint8 or integer / float in
    `value_range`, or single images (H, W, C) when called on values (an unbatched tf.data
    map; a model's input is a batch); outputs have the same dtype, range and shape. The layer runs NumPy
    code, so models that contain it are not XLA-compiled. It works on every Keras backend: in a
    tf.data pipeline (``layer(x, training=True)`` in `map`) and eagerly always; inside a model on
    TensorFlow and torch, and on JAX when the model is not jit-compiled (see the module docstring).

    >>> import keras
    >>> from deepaug.policy.keras import PolicyLayer
    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...                           PolicyLayer("reference", seed=0, value_range=(0, 1)),
    ...                           keras.layers.Conv2D(8, 3), keras.layers.GlobalAveragePooling2D(),
    ...                           keras.layers.Dense(10)])
    >>> model.layers[0].seed
    0
    """

    def __init__(self, policy: PolicyLike, seed: int | None = None,
                 value_range: Sequence[float] = (0, 255), **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)  # keep the input dtype (uint8 stays uint8)
        super().__init__(**kwargs)
        who = f"PolicyLayer {self.name!r}"
        self._augmenter = _Augmenter(builtin.as_policy(policy, who), _as_seed(seed, who),
                                     _as_value_range(value_range, who), who)
        warn_per_image_only(self._augmenter.policy, who)
        self.supports_jit = False  # tf.numpy_function cannot be XLA-compiled

    @property
    def policy(self) -> Policy:
        return self._augmenter.policy

    @property
    def seed(self) -> int:
        return self._augmenter.seed

    @property
    def value_range(self) -> tuple[float, float]:
        return self._augmenter.value_range

    @property
    def step(self) -> int:
        """The step whose generator the next augmented call uses (starts at 0; not saved)."""
        return self._augmenter.counter.next_step

    def build(self, input_shape: Any) -> None:
        _check_shape(input_shape, f"PolicyLayer {self.name!r}", allow_single=False)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if _single_image(inputs):  # one image (H, W, C), as an unbatched tf.data map gives it: a batch of one
            if tf.is_tensor(inputs):
                return self.__call__(tf.expand_dims(inputs, 0), *args, **kwargs)[0]
            return self.__call__(keras.ops.expand_dims(inputs, 0), *args, **kwargs)[0]
        if (keras.backend.backend() != "tensorflow" and not isinstance(inputs, keras.KerasTensor)
                and tf.is_tensor(inputs) and not tf.executing_eagerly()):
            # A tf.data pipeline (a TF graph) under the JAX or torch backend: TF ops, as Keras's own
            # preprocessing layers do there (keras' DataLayer), not the backend's conversion.
            training = kwargs.pop("training", args[0] if args else None)
            return self._tf_call(inputs, training)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs: Any, training: Any = None) -> Any:
        if keras.backend.backend() == "tensorflow":
            return self._tf_call(inputs, training)
        return self._backend_call(inputs, training)

    def _backend_call(self, inputs: Any, training: Any) -> Any:
        """JAX / torch / NumPy backends, eagerly: through NumPy and back to the backend's tensors."""
        if training is not None and not isinstance(training, bool):
            training = bool(keras.ops.convert_to_numpy(training))
        if not training:
            return inputs
        try:
            x = keras.ops.convert_to_numpy(inputs)
        except Exception as exc:  # a JAX tracer: the layer sits in a jit-compiled function
            raise InputError(
                f"PolicyLayer {self.name!r} runs NumPy code, so on the {keras.backend.backend()} backend it cannot "
                "be traced into a compiled function; use it in the tf.data pipeline (ds.map(lambda x, y: "
                "(layer(x, training=True), y))) or compile the model with jit_compile=False") from exc
        _check_shape(x.shape, f"PolicyLayer {self.name!r}", allow_single=False)
        return keras.ops.convert_to_tensor(self._augmenter.numpy(x), dtype=str(x.dtype))

    def _tf_call(self, inputs: Any, training: Any) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        _check_shape(inputs.shape, f"PolicyLayer {self.name!r}", allow_single=False)
        if tf.is_tensor(training):
            return tf.cond(tf.cast(training, tf.bool), lambda: self._augmenter(inputs), lambda: inputs)
        if not training:
            return inputs
        return self._augmenter(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any, training: Any = None) -> keras.KerasTensor:
        _check_shape(inputs.shape, f"PolicyLayer {self.name!r}", allow_single=False)
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(policy=self.policy.to_dict(), seed=self.seed, value_range=list(self.value_range))
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "PolicyLayer":
        config = dict(config)
        config["policy"] = Policy.from_dict(config.get("policy"), source="PolicyLayer config policy")
        return super().from_config(config)


# ---------------------------------------------------------------- tf.data

def policy_map_fn(policy: PolicyLike, seed: int | None = None,
                  value_range: Sequence[float] = (0, 255), num_classes: int | None = None) -> Callable[..., Any]:
    """A function for `tf.data.Dataset.map` that augments images with `policy`.

    The dataset's elements are `images` or a tuple `(images, labels, ...)`: only the first
    entry is augmented, the rest pass through. A policy that mixes labels (CutMix) mixes
    batched `(images, labels, ...)` elements and returns float32 label weights (N, classes)
    in place of the labels (train with categorical cross-entropy); labels may be class
    indices, with `num_classes`, or label weights. Elements without labels, or single
    images, get the per-image steps only (a warning says so). Images are batches (N, H, W, C) or single
    images (H, W, C), C in {1, 3}, uint8 or in `value_range`; dtype, range and shape are
    kept. Call k of the function uses ``default_rng([seed, 1, k])`` (seed=None draws one;
    it is kept in the function's `seed` attribute).

    Which element gets which k follows the order in which tf.data runs the calls. Map
    sequentially (no `num_parallel_calls`) for reproducible results: with parallel calls
    the calls race for the counter, so the seeds of elements can differ between runs
    (whether or not `deterministic` is set; it orders the outputs, not the calls).

    >>> import numpy as np, tensorflow as tf
    >>> from deepaug.policy.keras import policy_map_fn
    >>> x, y = np.zeros((8, 32, 32, 3), np.uint8), np.arange(8)
    >>> ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).map(policy_map_fn("reference", seed=0))
    >>> [tuple(b.shape) for b, _ in ds]
    [(4, 32, 32, 3), (4, 32, 32, 3)]
    """
    who = "policy_map_fn"
    augmenter = _Augmenter(builtin.as_policy(policy, who), _as_seed(seed, who), _as_value_range(value_range, who), who)

    @tf.autograph.experimental.do_not_convert
    def augment(*element: Any) -> Any:
        if not element or isinstance(element[0], Mapping):
            raise InputError("policy_map_fn maps datasets of images or of tuples (images, labels, ...); "
                             "for dict elements call it on the images yourself, e.g. "
                             "ds.map(lambda d: {**d, 'image': fn(d['image'])})")
        images = tf.convert_to_tensor(element[0])
        if images.shape.rank is None:
            raise InputError("policy_map_fn needs images of known rank; set it with "
                             "tf.ensure_shape(images, (None, None, None, 3)) or similar")
        _check_shape(images.shape, who, allow_single=True)
        if augmenter.policy.mixes_labels and len(element) > 1 and images.shape.rank == 4:
            out, weights = augmenter(images, element[1], num_classes)
            return (out, weights, *element[2:])
        if augmenter.policy.mixes_labels:
            warn_per_image_only(augmenter.policy, "policy_map_fn on single images or images without labels")
        if images.shape.rank == 3:
            out = augmenter(images[None])[0]
        else:
            out = augmenter(images)
        return out if len(element) == 1 else (out, *element[1:])

    augment.seed = augmenter.seed  # type: ignore[attr-defined]
    augment.policy = augmenter.policy  # type: ignore[attr-defined]
    return augment
