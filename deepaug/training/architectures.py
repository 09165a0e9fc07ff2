"""The named child-model architectures, by name (case-insensitive):

- ``basiccnn``: DeepAugment's small CNN (1,250,858 parameters at 32x32x3).
- ``wrn_<depth>_<width>``: a pre-activation wide ResNet, depth = 6n + 4.
- ``mobilenetv2`` / ``inceptionv3``: keras.applications, random weights, own top.

`named_model` builds one with fresh weights (uncompiled); `deepaug.training.models` seeds,
compiles and lends them. Every model expects float32 input in [0, 1]. keras is imported
only inside the builders.

>>> min_image_side("basiccnn"), min_image_side("InceptionV3")
(10, 75)
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from deepaug.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import keras


MODEL_NAMES = ("basiccnn", "wrn_<depth>_<width>", "mobilenetv2", "inceptionv3")
# Smallest image side each model accepts. basiccnn: two 2x2 poolings after two valid 3x3
# convolutions (H -> H-2 -> (H-2)//2 -> (H-2)//2-2 -> ...//2 >= 1) needs H >= 10. WRN uses
# 'same' padding and two stride-2 groups: 4 keeps at least one real pixel per stride step.
# keras.applications refuse MobileNetV2 below 32 and InceptionV3 below 75.
MIN_SIDE = {"basiccnn": 10, "wrn": 4, "mobilenetv2": 32, "inceptionv3": 75}
_WRN = re.compile(r"^wrn_(\d+)_(\d+)$")


def parse_model_name(model: str) -> tuple[str, int, int]:
    """Normalise a model name: (kind, depth, width); depth/width are 0 except for WRN."""
    if not isinstance(model, str):
        raise InputError(f"model must be a name ({', '.join(MODEL_NAMES)}) or a keras Model, "
                         f"got {type(model).__name__}")
    name = model.strip().lower().replace("-", "_")
    if name in ("basiccnn", "mobilenetv2", "inceptionv3"):
        return name, 0, 0
    match = _WRN.match(name)
    if match:
        depth, width = int(match.group(1)), int(match.group(2))
        if depth < 10 or (depth - 4) % 6:
            raise InputError(f"model {model!r}: a wide ResNet's depth must be 6n + 4 with n >= 1 "
                             f"(10, 16, 22, 28, 40, ...), got depth {depth}; e.g. wrn_28_10 or wrn_40_2")
        if width < 1:
            raise InputError(f"model {model!r}: the width factor must be >= 1, got {width}; e.g. wrn_28_10")
        return "wrn", depth, width
    raise InputError(f"unknown model {model!r}; valid models are {', '.join(MODEL_NAMES)} "
                     "(case-insensitive, e.g. wrn_28_10), or pass a keras Model")


def min_image_side(model: str) -> int:
    """The smallest image height/width the named model accepts."""
    return MIN_SIDE[parse_model_name(model)[0]]


def named_model(model: str, shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
    """The named architecture for `shape` images and `num_classes` classes, freshly initialised."""
    import keras  # heavy: only building a model needs it

    kind, depth, width = parse_model_name(model)
    if kind == "basiccnn":
        return _basiccnn(shape, num_classes)
    if kind == "wrn":
        return _wide_resnet(shape, num_classes, depth, width)
    if kind == "mobilenetv2":
        return keras.applications.MobileNetV2(input_shape=shape, weights=None, include_top=True, classes=num_classes)
    return keras.applications.InceptionV3(input_shape=shape, weights=None, include_top=True, classes=num_classes)


def _basiccnn(shape: tuple[int, int, int], num_classes: int) -> Any:
    from keras import Input, Sequential, layers  # keras is heavy: only building a model needs it

    return Sequential([
        Input(shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ], name="basiccnn")


def _wide_resnet(shape: tuple[int, int, int], num_classes: int, depth: int, width: int,
                 dropout: float = 0.0) -> Any:
    """Pre-activation WRN-depth-width (Zagoruyko & Komodakis): BN-ReLU-conv blocks."""
    import keras  # keras is heavy: only building a model needs it
    from keras import layers

    def conv(filters: int, kernel: int, stride: int = 1) -> Any:
        return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                             kernel_initializer="he_normal")

    blocks = (depth - 4) // 6
    inputs = keras.Input(shape)
    x = conv(16, 3)(inputs)
    channels = 16
    for group, (filters, stride) in enumerate(((16 * width, 1), (32 * width, 2), (64 * width, 2))):
        for b in range(blocks):
            s = stride if b == 0 else 1
            pre = layers.Activation("relu")(layers.BatchNormalization()(x))
            if channels != filters or s != 1:
                shortcut = conv(filters, 1, s)(pre)  # the projection shares the pre-activation
            else:
                shortcut = x
            y = conv(filters, 3, s)(pre)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            if dropout:
                y = layers.Dropout(dropout)(y)
            y = conv(filters, 3)(y)
            x = layers.Add()([shortcut, y])
            channels = filters
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"wrn_{depth}_{width}")
