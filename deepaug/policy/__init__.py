"""Augmentation policies: the two kinds (AutoAugment-style sub-policies, and distributions),
their file format, reading whatever a user passes as a policy (`as_policy`), applying them to
batches, the built-in policies and baselines, and timm's RandAugment strings (`policy.timm`).
The framework adapters (Keras, PyTorch, albumentations) live in `deepaug.adapters`.
"""
from __future__ import annotations

from deepaug import _moved
from deepaug.policy.apply import Augmenter, check_seed
from deepaug.policy.core import Policy, PolicyLike, as_policy
from deepaug.policy.distribution import Distribution
from deepaug.policy.operations import Operation, SubPolicy

__all__ = ["Augmenter", "Distribution", "Operation", "Policy", "PolicyLike", "SubPolicy", "as_policy",
           "check_seed"]


def __getattr__(name: str) -> object:
    # deepaug.policy was one module before 0.1: its names now live in deepaug.policy.core
    return _moved.attribute(__name__, name, "deepaug.policy.core")
