"""Augmenting a dataset with a policy: input listing, the run plan, shards, worker processes,
outputs (images, labels, TFRecords), the manifest and the Redis work queue.
"""
from __future__ import annotations

from deepaug.augmentation.request import OPTIONS, AugmentRequest, AugmentSection
from deepaug.augmentation.run import AugmentResult, augment_locally

__all__ = ["OPTIONS", "AugmentRequest", "AugmentResult", "AugmentSection", "augment_locally"]
