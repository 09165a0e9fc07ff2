"""deepaug: find image-augmentation policies tailored to a dataset, then apply them at scale.

Importing deepaug has no side effects: no folders, no TensorFlow, no network.
`DeepAugment`, `augment`, `PolicyLayer` and `policy_map_fn` load on first use.
"""
from __future__ import annotations

from typing import Any

from deepaug import _moved
from deepaug._version import __version__
from deepaug.errors import ImageError, InputError, PolicyError, SearchError
from deepaug.policy.core import Operation, Policy, SubPolicy

_moved.install()

_LAZY = {"DeepAugment": "deepaug.api", "augment": "deepaug.api", "PolicyLayer": "deepaug.policy.keras",
         "policy_map_fn": "deepaug.policy.keras"}

__all__ = ["DeepAugment", "ImageError", "InputError", "Operation", "Policy", "PolicyError", "PolicyLayer",
           "SearchError", "SubPolicy", "__version__", "augment", "policy_map_fn"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaug' has no attribute {name!r}")
