"""Use a found policy in your own Keras / tf.data training, with the search's semantics.

`PolicyLayer` (a Keras layer) and `policy_map_fn` (a `tf.data.Dataset.map` function)
augment image batches exactly as the search augmented its child models' batches: each
image draws one sub-policy uniformly at random, and that sub-policy's ops are applied in
order, each with its probability at its magnitude (AutoAugment semantics). The pixel work
is `deepaug.policy.apply.augment_nhwc` on uint8 images, run through `tf.numpy_function`.

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

The augmentation itself is `deepaug.adapters.tf_augmenter`. Importing this module imports
TensorFlow and Keras (pip install 'deepaug[cpu]'); importing `deepaug` does not.

>>> from deepaug.adapters import PolicyLayer
>>> layer = PolicyLayer("reference", seed=0, value_range=(0, 1))
>>> layer.get_config()["seed"]
0
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from deepaug.extras import require

keras = require("keras", "deepaug.adapters.keras")  # pip install 'deepaug[cpu]'
tf = require("tensorflow", "deepaug.adapters.keras (tf.data and the TensorFlow backend)")

from deepaug.adapters.tf_augmenter import (
    TensorAugmenter,
    as_seed,
    as_value_range,
    check_shape,
    single_image,
)
from deepaug.errors import InputError
from deepaug.policy.apply import warn_per_image_only
from deepaug.policy.core import Policy, PolicyLike, as_policy

__all__ = ["PolicyLayer", "policy_map_fn"]


# ---------------------------------------------------------------- Keras layer

@keras.saving.register_keras_serializable(package="deepaug")
class PolicyLayer(keras.layers.Layer):
    """Augments training batches with a deepaug policy; returns inputs unchanged at inference.

    Args:
        policy: a `Policy`, or anything `deepaug.policy.as_policy` reads: a policy dict (the JSON
            format), a policy file path, a built-in policy name (`deepaug.policy.builtin.names()`), ...
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
    >>> from deepaug.adapters import PolicyLayer
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
        self._augmenter = TensorAugmenter(as_policy(policy, who), as_seed(seed, who),
                                          as_value_range(value_range, who), who)
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
        check_shape(input_shape, f"PolicyLayer {self.name!r}", allow_single=False)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if single_image(inputs):  # one image (H, W, C), as an unbatched tf.data map gives it: a batch of one
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
        check_shape(x.shape, f"PolicyLayer {self.name!r}", allow_single=False)
        return keras.ops.convert_to_tensor(self._augmenter.numpy(x), dtype=str(x.dtype))

    def _tf_call(self, inputs: Any, training: Any) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        check_shape(inputs.shape, f"PolicyLayer {self.name!r}", allow_single=False)
        if tf.is_tensor(training):
            return tf.cond(tf.cast(training, tf.bool), lambda: self._augmenter(inputs), lambda: inputs)
        if not training:
            return inputs
        return self._augmenter(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any, training: Any = None) -> keras.KerasTensor:
        check_shape(inputs.shape, f"PolicyLayer {self.name!r}", allow_single=False)
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
    entry is augmented, the rest pass through. A policy that mixes labels (CutMix, MixUp) mixes
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
    >>> from deepaug.adapters import policy_map_fn
    >>> x, y = np.zeros((8, 32, 32, 3), np.uint8), np.arange(8)
    >>> ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).map(policy_map_fn("reference", seed=0))
    >>> [tuple(b.shape) for b, _ in ds]
    [(4, 32, 32, 3), (4, 32, 32, 3)]
    """
    who = "policy_map_fn"
    augmenter = TensorAugmenter(as_policy(policy, who), as_seed(seed, who), as_value_range(value_range, who), who)

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
        check_shape(images.shape, who, allow_single=True)
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
