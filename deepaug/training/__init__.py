"""Training child models: the Keras models, one training on augmented data, its reward, and
training in rungs that resume from checkpoints.
"""
from __future__ import annotations

from deepaug import _moved
from deepaug.training.architectures import MODEL_NAMES, min_image_side, parse_model_name
from deepaug.training.models import (
    PRECISIONS,
    bf16_is_native,
    build_child_model,
    check_model_input,
    check_precision,
    child_model,
    dataset_fingerprint,
    fit_to_model,
    load_weights,
    model_key,
    save_weights,
    warm_start_weights,
)

__all__ = ["MODEL_NAMES", "PRECISIONS", "bf16_is_native", "build_child_model", "check_model_input",
           "check_precision", "child_model", "dataset_fingerprint", "fit_to_model", "load_weights",
           "min_image_side", "model_key", "parse_model_name", "save_weights", "warm_start_weights"]


def __getattr__(name: str) -> object:
    # deepaug.training was one module before 0.1: its names now live in deepaug.training.train
    return _moved.attribute(__name__, name, "deepaug.training.train")
