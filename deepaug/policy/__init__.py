"""Augmentation policies: the two kinds (AutoAugment-style sub-policies, and distributions),
their file format, applying them to batches, the built-in policies and baselines, the
Keras layer / tf.data map that apply them in a user's own training (any Keras backend), timm's
RandAugment strings (`policy.timm`) and the albumentations translation (`policy.albumentations`).
"""
from __future__ import annotations

from deepaug.policy.core import Operation, Policy, SubPolicy

__all__ = ["Operation", "Policy", "SubPolicy"]


def __getattr__(name: str) -> object:
    # deepaug.policy was one module before 0.1: its names now live in deepaug.policy.core
    from deepaug import _moved

    return _moved.attribute(__name__, name, "deepaug.policy.core")
