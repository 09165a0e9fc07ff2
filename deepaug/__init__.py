"""deepaug: find image-augmentation policies tailored to a dataset, then apply them at scale.

Importing deepaug has no side effects: no folders, no TensorFlow, no network.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from deepaug.errors import ImageError, InputError, PolicyError
from deepaug.policy import Operation, Policy, SubPolicy

__all__ = ["ImageError", "InputError", "Operation", "Policy", "PolicyError", "SubPolicy", "__version__"]
