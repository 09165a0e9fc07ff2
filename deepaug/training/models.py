"""Child models: the networks trained to score a policy, and their warm-start weights.

`build_child_model` returns a freshly initialised, freshly compiled model (Adam, sparse
categorical cross-entropy, accuracy), so no weights or optimizer state carry over from
one child training to the next. `child_model` lends the same model for one training but,
for a named model, reuses the process's compiled copy of that architecture with the fresh
model's variables and a fresh Adam state: the same training, without TensorFlow tracing
its training step again (about a second per training) or keeping each traced graph in
memory. A model is a name (the architectures of `deepaug.training.architectures`: basiccnn,
wrn_<depth>_<width>, mobilenetv2, inceptionv3) or a user's functional/Sequential keras
model, cloned with fresh weights each time.

Every model expects float32 input in [0, 1] (the training pipeline divides by 255).
A named model can compute in bfloat16 (`precision="bfloat16"`: Keras' ``mixed_bfloat16``
policy, float32 weights, the output layer in float32): about 1.5x as fast on CPUs with
AVX512_BF16 or AMX and on recent GPUs, much slower where bfloat16 is emulated.
TensorFlow/keras are imported only inside functions.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from deepaug.datasets import at_least
from deepaug.errors import InputError
from deepaug.storage.atomic import atomic_write, atomic_write_text
from deepaug.training.architectures import MIN_SIDE, MODEL_NAMES, min_image_side, named_model, parse_model_name

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from deepaug.datasets import Dataset

logger = logging.getLogger(__name__)

WARM_START_FORMAT = 1
PRECISIONS = ("float32", "bfloat16")
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 matrix arithmetic, which oneDNN uses.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def fit_to_model(data: "Dataset", model: Any) -> "Dataset":
    """`data` with images smaller than the named `model` takes enlarged to its smallest size (logged, see
    `deepaug.datasets.at_least`); `data` itself for a keras model or images that are large enough."""
    if not isinstance(model, str):
        return data
    side = min_image_side(model)
    return at_least(data, side, f"model {model!r} needs at least {side}x{side} (pass image_size to choose the size)")


def check_model_input(model: "str | keras.Model", input_shape: Sequence[int], num_classes: int) -> None:
    """Raise InputError, before any training, if `model` cannot take this data.

    Named models: the image must be at least `min_image_side` on each side. Keras models:
    their input shape must match `input_shape` (None matches anything) and their output
    must have `num_classes` units.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input_shape must be (height, width, channels), got {tuple(input_shape)!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(model, str):
        _check_keras_model(model, shape, int(num_classes))
        return
    kind = parse_model_name(model)[0]
    side = MIN_SIDE[kind]
    if shape[0] < side or shape[1] < side:
        raise InputError(
            f"images of {shape[0]}x{shape[1]} are too small for model {model!r}, which needs at least "
            f"{side}x{side}; resize the images (image_size={side} in Python and in config files, "
            f"--image-size {side} on deepaug evaluate, --set image_size={side} on deepaug optimize) "
            "or choose a model for small images (basiccnn needs 10x10, wrn_<depth>_<width> 4x4)"
        )


def _check_keras_model(model: Any, shape: tuple[int, int, int], num_classes: int) -> None:
    import keras  # the caller built a keras model, so keras is already loaded

    if not isinstance(model, keras.Model):
        raise InputError(f"model must be a name ({', '.join(MODEL_NAMES)}) or a keras Model, "
                         f"got {type(model).__name__}")
    try:
        model_in = tuple(model.input_shape)
    except (AttributeError, ValueError):
        model_in = None  # an unbuilt Sequential: it is built for the data's shape
    if model_in is not None:
        if isinstance(model_in[0], tuple):
            raise InputError(f"the keras model has {len(model_in)} inputs; a child model needs one image input")
        if len(model_in) != 4 or any(m is not None and m != s for m, s in zip(model_in[1:], shape)):
            raise InputError(f"the keras model expects inputs of shape {model_in}, but the images are "
                             f"(None, {shape[0]}, {shape[1]}, {shape[2]}); give the model "
                             f"keras.Input(shape={shape}) or resize the images")
    try:
        out = tuple(model.output_shape)
    except (AttributeError, ValueError):
        return
    if out[-1] != num_classes:
        raise InputError(f"the keras model outputs {out[-1]} values per image but the data has "
                         f"{num_classes} classes; end the model with Dense({num_classes}, "
                         "activation='softmax')")


def check_precision(precision: Any, model: Any) -> str:
    """`precision` if it is one of PRECISIONS and applies to `model`, else InputError."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "float32" and not isinstance(model, str):
        raise InputError(f"precision {precision} applies to the named models ({', '.join(MODEL_NAMES)}); a keras "
                         "model keeps its own layers' dtypes: build it under "
                         "keras.config.set_dtype_policy('mixed_bfloat16') and leave precision at float32")
    return str(precision)


def bf16_is_native() -> bool | None:
    """Whether this machine computes bfloat16 natively: True with a GPU or with a CPU flag in
    BF16_CPU_FLAGS, False without, None when the CPU's flags cannot be read (not Linux)."""
    import tensorflow as tf  # TensorFlow is heavy: loaded on first use

    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    return any(re.search(rf"\b{flag}\b", flags) for flag in BF16_CPU_FLAGS)


_warned_emulated: list[bool] = []


@contextmanager
def _dtype_policy(precision: str) -> Iterator[None]:
    """Keras' global dtype policy for the layers built in the block (each layer keeps the one
    it was built under), then the previous policy again."""
    import keras  # keras is heavy: loaded on first use

    if precision == "float32":
        yield
        return
    if not _warned_emulated and bf16_is_native() is False:
        _warned_emulated.append(True)
        logger.warning("precision bfloat16: this CPU has none of %s, so bfloat16 is emulated and trains SLOWER "
                       "than float32; use precision float32 here", ", ".join(BF16_CPU_FLAGS))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(f"mixed_{precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_child_model(model: "str | keras.Model", input_shape: Sequence[int], num_classes: int,
                      seed: int, learning_rate: float = 1e-3,
                      weights: str | os.PathLike[str] | None = None, soft_labels: bool = False,
                      precision: str = "float32") -> "keras.Model":
    """A freshly initialised model, compiled with a new Adam(learning_rate) optimizer and
    sparse categorical cross-entropy (categorical, on label weights, with `soft_labels`).

    Weight initialisation is seeded (`keras.utils.set_random_seed(seed)`); `weights`, a
    `save_weights` file (e.g. from `warm_start_weights`), replaces the initial weights.
    With `precision` "bfloat16" a named model computes in bfloat16 (Keras' mixed_bfloat16:
    the weights, the optimizer and the last layer, softmax included, stay float32).
    """
    import keras  # keras is heavy: loaded on first use

    check_model_input(model, input_shape, num_classes)
    check_precision(precision, model)
    shape = tuple(int(s) for s in input_shape)
    keras.utils.set_random_seed(int(seed))
    if isinstance(model, str):
        with _dtype_policy(precision):
            net = named_model(model, shape, num_classes)
        if precision != "float32":
            net.layers[-1].dtype_policy = "float32"  # softmax and loss in float32 (Keras' advice)
    else:
        net = _clone(model, shape)
    if weights is not None:
        load_weights(net, weights)
    net.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)),
                loss="categorical_crossentropy" if soft_labels else "sparse_categorical_crossentropy",
                metrics=["accuracy"])
    return net


# Compiled models idle between trainings, one per (architecture, input shape, classes,
# learning rate, loss, precision) in this process; a model is out of this dict while a training holds it.
_IDLE: dict[tuple[Any, ...], tuple["keras.Model", list[np.ndarray]]] = {}
_IDLE_LOCK = threading.Lock()


@contextmanager
def child_model(model: "str | keras.Model", input_shape: Sequence[int], num_classes: int, seed: int,
                learning_rate: float = 1e-3, weights: str | os.PathLike[str] | None = None,
                soft_labels: bool = False, precision: str = "float32") -> Iterator["keras.Model"]:
    """`build_child_model`'s model, lent for the `with` block (do not keep it after).

    For a named model the process's idle compiled copy of the architecture is lent instead,
    with every variable (weights, dropout seed states) of a freshly built model and the
    initial Adam state: a training on it is the same, batch for batch, as on the fresh
    model, and Keras does not trace its training and evaluation steps again. A user's keras
    model, or a second training of the same architecture in another thread, gets the fresh
    model itself.
    """
    import keras  # keras is heavy: loaded on first use

    fresh = build_child_model(model, input_shape, num_classes, seed, learning_rate, weights, soft_labels, precision)
    if not isinstance(model, str):
        yield fresh
        return
    key = (parse_model_name(model), tuple(int(s) for s in input_shape), int(num_classes), float(learning_rate),
           bool(soft_labels), precision, keras.backend.backend())
    with _IDLE_LOCK:
        lent = _IDLE.pop(key, None)
    if lent is not None and len(lent[0].variables) == len(fresh.variables):
        net, initial = lent
        for mine, theirs in zip(net.variables, fresh.variables):
            mine.assign(theirs)
        for var, value in zip(net.optimizer.variables, initial):
            var.assign(value)
    else:
        fresh.optimizer.build(fresh.trainable_variables)
        net, initial = fresh, [keras.ops.convert_to_numpy(v) for v in fresh.optimizer.variables]
    try:
        yield net
    finally:
        with _IDLE_LOCK:
            _IDLE.setdefault(key, (net, initial))


def _clone(model: Any, shape: tuple[int, int, int]) -> Any:
    import keras  # keras is heavy: loaded on first use

    try:
        clone = keras.models.clone_model(model)
    except ValueError as exc:
        raise InputError(f"cannot clone the keras model ({exc}); a child model must be a functional or "
                         "Sequential keras model so that each training starts from fresh weights") from exc
    if not clone.built:
        clone.build((None, *shape))
    last = clone.layers[-1] if clone.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", "softmax")
    if activation != "softmax":
        logger.warning("the keras model's last layer has activation %r; child models are trained with "
                       "sparse categorical cross-entropy on probabilities, so end it with softmax",
                       activation)
    return clone


# ---------------------------------------------------------------- warm start

def dataset_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of the training images and labels (shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(images), np.ascontiguousarray(labels)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def model_key(model: "str | keras.Model") -> str:
    """What identifies a model's architecture: its normalised name, or a keras model's JSON config."""
    if isinstance(model, str):
        kind, depth, width = parse_model_name(model)
        return f"wrn_{depth}_{width}" if kind == "wrn" else kind
    return model.to_json(sort_keys=True)


def save_weights(model: "keras.Model", path: str | os.PathLike[str]) -> None:
    """Write the model's weights (layers only, never optimizer state) atomically as .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, *[np.asarray(w) for w in model.get_weights()])
    atomic_write(Path(path), buffer.getvalue())  # the permissions of a plain open(), not mkstemp's 0600


def load_weights(model: "keras.Model", path: str | os.PathLike[str]) -> None:
    """Set the model's weights from a `save_weights` file; InputError if they do not fit."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read child-model weights {str(path)!r} ({exc}); delete the file so "
                         "that they are trained again") from exc
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise InputError(f"child-model weights {str(path)!r} do not fit model {model.name!r} ({exc}); "
                         "delete the file so that they are trained again") from exc


def warm_start_weights(dataset_fingerprint: str, model_spec: "str | keras.Model", input_shape: Sequence[int],
                       num_classes: int, epochs: int, seed: int, train_fn: Callable[[], "keras.Model"],
                       folder: str | os.PathLike[str] = "child_models",
                       extra: Mapping[str, Any] | None = None) -> Path:
    """Path of weights pre-trained without augmentation, training them only once.

    The file name holds a hash of everything that determines the weights (data
    fingerprint, model, epochs, seed, input shape, class count, and `extra`, e.g. batch
    size and learning rate). If the file exists it is reused; otherwise `train_fn()` must
    return the trained model, whose weights are written atomically (temp file in the same
    folder, then os.replace) as .npz, beside a JSON file recording the key. The file
    holds layer weights only (`model.get_weights()`), never optimizer state. A keras model is keyed by its JSON config (layer
    names included, so an identical model built under other names trains once more).
    """
    key = {"format": WARM_START_FORMAT, "data": str(dataset_fingerprint), "model": model_key(model_spec),
           "epochs": int(epochs), "seed": int(seed), "input_shape": [int(s) for s in input_shape],
           "num_classes": int(num_classes), **{k: extra[k] for k in sorted(extra or {})}}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    tag = re.sub(r"[^a-z0-9_]", "", model_spec.lower()) if isinstance(model_spec, str) else "custom"
    path = Path(folder) / f"{tag}-{digest}.weights.npz"
    if path.is_file():
        logger.info("warm start: reusing pre-trained weights %s", path)
        return path
    start = time.perf_counter()
    save_weights(train_fn(), path)
    shown = {k: v for k, v in key.items() if k != "model" or isinstance(model_spec, str)}
    atomic_write_text(path.with_name(path.name[:-len(".weights.npz")] + ".json"),
                      json.dumps(shown, indent=2, sort_keys=True) + "\n")
    logger.info("warm start: trained %d epoch(s) without augmentation in %.1f s, saved %s",
                epochs, time.perf_counter() - start, path)
    return path
