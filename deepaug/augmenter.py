"""The augmenter: a Policy over a batch of images.

A distribution policy runs `Distribution.augment_nhwc` (deepaug.distribution). For a
sub-policy policy (AutoAugment's semantics), each image gets one sub-policy drawn uniformly; each of its operations is applied in
order, independently per image with the operation's probability. Images that drew the
same sub-policy are processed together, so each op runs once per batch, vectorized.

Training also takes any `Augmenter`: an object with `augment_nhwc(x, rng)` (the
baselines in `deepaug.baselines` are), so every method shares one pipeline.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from deepaug.images import as_nhwc
from deepaug.policy import Policy


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed, an existing Generator, or fresh entropy (None)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def apply_policy(policy: Policy, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Return a new uint8 batch of the same shape: `images` augmented by `policy`."""
    x, restore = as_nhwc(images)
    return restore(augment_nhwc(policy, x, rng_from(seed)))


def augment_nhwc(policy: Policy, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


@runtime_checkable
class Augmenter(Protocol):
    """Augments a validated (N, H, W, C) uint8 batch with an explicit Generator; returns a new batch."""

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ...


def augment_with(augmenter: Policy | Augmenter, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augment a validated (N, H, W, C) uint8 batch with a Policy or any Augmenter."""
    if isinstance(augmenter, Policy):
        return augment_nhwc(augmenter, x, rng)
    return augmenter.augment_nhwc(x, rng)
