"""Applying a policy to a batch (the augmenter), seeds and label weights.

A distribution policy runs `Distribution.augment_nhwc` (deepaug.policy.distribution). For a
sub-policy policy (AutoAugment's semantics), each image gets one sub-policy drawn uniformly;
each of its operations is applied in order, independently per image with the operation's
probability. Images that drew the same sub-policy are processed together, so each op runs
once per batch, vectorized.

Training also takes any `Augmenter`: an object with `augment_nhwc(x, rng)` (a Policy is one,
and so are the baselines in `deepaug.policy.baselines`), so every method shares one pipeline.
The functions here read a policy's `distribution` and `sub_policies` only (their `policy` is a
`deepaug.policy.core.Policy`), so this module sits below `deepaug.policy.core`, which defines
the Policy and imports them.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import numpy as np

from deepaug.errors import InputError, PolicyError
from deepaug.images import as_nhwc

logger = logging.getLogger(__name__)


@runtime_checkable
class Augmenter(Protocol):
    """Augments a validated (N, H, W, C) uint8 batch with an explicit Generator; returns a new batch."""

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ...


def check_seed(seed: Any, who: str | None = None) -> int:
    """`seed` as an int if it is a non-negative integer, else InputError naming `who` (a None
    seed is the caller's to replace first: each adapter has its own default)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"{who + ': ' if who else ''}seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed, an existing Generator, or fresh entropy (None)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def warn_per_image_only(policy: Any, where: str) -> None:
    """Log that `where`, which sees images without their labels, applies `policy` without
    its batch step (CutMix, MixUp), when it has one."""
    if policy.mixes_labels:
        logger.warning("%s applies the policy's per-image steps only: its %s mixes the images and labels of a "
                       "training batch, and %s sees no labels. To train with it, map batched (images, labels) "
                       "with deepaug.adapters.policy_map_fn(policy, num_classes=...) or call "
                       "Policy.apply_with_labels.", where, policy.distribution.mixing, where)


def label_weights(labels: Any, n: int, num_classes: int | None = None) -> np.ndarray:
    """(N, classes) float32 label weights from N class indices (one-hot) or from weights."""
    y = np.asarray(labels)
    if y.ndim == 2 and len(y) == n and np.issubdtype(y.dtype, np.number):
        if num_classes is not None and y.shape[1] != int(num_classes):
            raise PolicyError(f"labels have {y.shape[1]} columns but num_classes is {num_classes}")
        return y.astype(np.float32)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
        raise PolicyError(f"labels must be {n} non-negative class indices (one per image) or an ({n}, classes) "
                          f"array of label weights, got an array of shape {y.shape} and dtype {y.dtype}")
    classes = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if n else 1)
    if n and y.max() >= classes:
        raise PolicyError(f"label {int(y.max())} is out of range for num_classes={classes}")
    return np.eye(classes, dtype=np.float32)[y]


def apply_policy(policy: Any, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Return a new uint8 batch of the same shape: `images` augmented by `policy`."""
    x, restore = as_nhwc(images)
    return restore(augment_nhwc(policy, x, rng_from(seed)))


def augment_nhwc(policy: Any, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hot path on a validated (N, H, W, C) uint8 batch (either kind of policy)."""
    if policy.distribution is not None:
        return policy.distribution.augment_nhwc(x, rng)
    n = x.shape[0]
    out = x.copy()
    choice = rng.integers(len(policy.sub_policies), size=n)
    for s, sub in enumerate(policy.sub_policies):
        idx = np.flatnonzero(choice == s)
        if idx.size == 0:
            continue
        batch = out[idx]
        changed = False
        for op in sub.operations:
            hit = np.flatnonzero(rng.random(idx.size) < op.probability)
            if hit.size == 0:
                continue
            batch[hit] = op.spec.run(batch[hit], op.magnitude, rng)
            changed = True
        if changed:
            out[idx] = batch
    return out


def augment_with(augmenter: Augmenter, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augment a validated (N, H, W, C) uint8 batch with a Policy or any Augmenter."""
    return augmenter.augment_nhwc(x, rng)
