"""deepaug: find image-augmentation policies tailored to a dataset, then apply them at scale.

Importing deepaug makes no folders, loads no TensorFlow and opens no connection. It sets one
environment variable: OpenCV's decode cap, OPENCV_IO_MAX_IMAGE_PIXELS, lowered to deepaug's pixel
limit (DEEPAUG_MAX_IMAGE_PIXELS, 100 million) unless yours is lower, so that no decoder in this
process or its workers allocates for a decompression bomb (README, 'Limits and secrets').
`DeepAugment`, `augment`, `optimize`, `apply_policy` (DeepAugment 2.x's), `PolicyLayer`, `policy_map_fn` and
`PolicyTransform` (torch) load on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

import deepaug.images  # noqa: F401  (first: it lowers OpenCV's decode cap before cv2 is loaded)
from deepaug import _moved
from deepaug._version import __version__
from deepaug.extras import require_search
from deepaug.errors import ImageError, InputError, PolicyError, SearchError
from deepaug.policy.core import Operation, Policy, SubPolicy

_LAZY = {"DeepAugment": "deepaug.api", "augment": "deepaug.api",
         "optimize": "deepaug.api", "apply_policy": "deepaug.compat", "PolicyLayer": "deepaug.adapters.keras",
         "policy_map_fn": "deepaug.adapters.keras", "PolicyTransform": "deepaug.adapters.torch"}

__all__ = ["DeepAugment", "ImageError", "InputError", "Operation", "Policy", "PolicyError", "PolicyLayer",
           "PolicyTransform", "SearchError", "SubPolicy", "__version__", "apply_policy", "augment", "optimize",
           "policy_map_fn"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if name == "DeepAugment":  # the search: a clear message naming the extra when it is not installed
            require_search("deepaug.DeepAugment (the search)")
        return getattr(importlib.import_module(_LAZY[name]), name)
    return _moved.module(name)  # an old module path (deepaug.k8s_augment), with a DeprecationWarning
