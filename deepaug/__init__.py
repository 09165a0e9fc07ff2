"""deepaug: find image-augmentation policies tailored to a dataset, then apply them at scale.

Importing deepaug has no side effects: no folders, no TensorFlow, no network.
`DeepAugment`, `PolicyLayer` and `policy_map_fn` load on first use.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from deepaug.errors import ImageError, InputError, PolicyError, SearchError
from deepaug.policy import Operation, Policy, SubPolicy

_LAZY = {"DeepAugment": "deepaug.api", "PolicyLayer": "deepaug.keras_augment",
         "policy_map_fn": "deepaug.keras_augment"}

__all__ = ["DeepAugment", "ImageError", "InputError", "Operation", "Policy", "PolicyError", "PolicyLayer",
           "SearchError", "SubPolicy", "__version__", "policy_map_fn"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaug' has no attribute {name!r}")
