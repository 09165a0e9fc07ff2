"""Standard augmentation baselines, as samplers over the one op registry.

- `FlipCrop`: horizontal flip with probability 1/2, then a random crop of the image
  zero-padded by `pad` pixels (done as whole-pixel translate-x / translate-y with a shift
  uniform in -pad..pad, which is the same thing).
- `RandAugment(n, magnitude, ops)`: n ops drawn uniformly per image, one after the other,
  every one applied at the same global magnitude.
- `TrivialAugment(ops)`: one op drawn uniformly per image, at a magnitude drawn uniformly
  from `levels` evenly spaced values in [0, 1] (31, as in the paper: 0, 1/30, ..., 1).
- `TrivialAugmentFlipCrop(pad)`: flip + crop, then TrivialAugment (the usual CIFAR recipe).

Each is a point of the distribution policy kind (`.policy`, see deepaug.policy.distribution) and
augments through that one code path, so a searched distribution that equals one of them
gives the same bytes.

`make(["none", "flip-crop", ...])` builds them by key (see BASELINES) with their display names.
Each is an `Augmenter` (`augment_nhwc(x, rng)`), so training runs it through the same
pipeline as a searched `Policy`. All randomness comes from the Generator passed in: the
same seed gives the same bytes. Images that drew the same op go through it together, with
one magnitude per image, so each op runs at most once per batch (per RandAugment layer).

>>> import numpy as np
>>> images = np.zeros((4, 28, 28, 1), np.uint8)
>>> TrivialAugment().apply(images, seed=0).shape
(4, 28, 28, 1)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.images import as_nhwc
from deepaug.ops import check_magnitude
from deepaug.ops import get as get_op
from deepaug.policy.apply import rng_from
from deepaug.policy.core import Policy
from deepaug.policy.distribution import Distribution, flip_crop

logger = logging.getLogger(__name__)

# RandAugment's and TrivialAugment's 14 ops, in this registry's names (it has one shear, along x).
DEFAULT_OPS = ("identity", "auto-contrast", "equalize", "rotate", "solarize", "color", "posterize",
               "contrast", "brightness", "sharpness", "shear", "translate-x", "translate-y")
TRIVIAL_LEVELS = 31
RANDAUGMENT_N = 2
RANDAUGMENT_MAGNITUDE = 9 / 30  # RandAugment's usual M = 9 on its 0..30 scale
FLIP_CROP_PAD = 2  # pixels, the usual pad for 28-32 px images
# keys for `make`, in display order
BASELINES = ("none", "flip-crop", "randaugment", "trivialaugment", "trivialaugment-flip-crop")


def check_ops(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validated op names (DEFAULT_OPS when None); PolicyError for an unknown op."""
    if names is None:
        return DEFAULT_OPS
    if isinstance(names, str) or not names:
        raise InputError(f"ops must be a non-empty list of op names, got {names!r}")
    for name in names:
        get_op(name)  # PolicyError naming the valid ops
    if len(set(names)) != len(names):
        raise InputError(f"ops lists an op twice: {list(names)}")
    return tuple(names)


class _Sampler:
    """Shared by the baselines: `apply` on any image batch, like `Policy.apply`."""

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def apply(self, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Augment a uint8 batch (N, H, W) or (N, H, W, C); same seed, same bytes."""
        x, restore = as_nhwc(images)
        return restore(self.augment_nhwc(x, rng_from(seed)))


@dataclass(frozen=True)
class FlipCrop(_Sampler):
    """Horizontal flip (probability `flip_probability`), then a crop of the `pad`-pixel zero-padded image."""

    pad: int = 2
    flip_probability: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.pad, bool) or not isinstance(self.pad, (int, np.integer)) or self.pad < 0:
            raise InputError(f"flip+crop: pad must be an integer >= 0 pixels, got {self.pad!r}")
        if not 0.0 <= float(self.flip_probability) <= 1.0:
            raise InputError(f"flip+crop: flip_probability must be in [0, 1], got {self.flip_probability!r}")

    @property
    def name(self) -> str:
        return f"flip+crop (pad {self.pad})"

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return flip_crop(x, float(self.flip_probability), int(self.pad), int(self.pad), rng)

    def to_dict(self) -> dict[str, Any]:
        return {"augmenter": "flip+crop", "pad": int(self.pad), "flip_probability": float(self.flip_probability)}


@dataclass(frozen=True)
class RandAugment(_Sampler):
    """`n` ops per image, each drawn uniformly from `ops`, all at `magnitude` (in [0, 1])."""

    n: int = RANDAUGMENT_N
    magnitude: float = RANDAUGMENT_MAGNITUDE
    ops: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise InputError(f"RandAugment: n (ops per image) must be an integer >= 1, got {self.n!r}")
        if isinstance(self.magnitude, bool) or not isinstance(self.magnitude, (int, float, np.number)):
            raise InputError(f"RandAugment: magnitude must be a number in [0, 1], got {self.magnitude!r}")
        check_magnitude(self.magnitude, "RandAugment")
        object.__setattr__(self, "ops", check_ops(self.ops))
        object.__setattr__(self, "magnitude", float(self.magnitude))

    @property
    def name(self) -> str:
        return f"RandAugment (N={self.n}, M={self.magnitude:.2f})"

    @property
    def policy(self) -> Policy:
        """This RandAugment as a distribution policy: uniform weights, n ops, spread 0."""
        return Policy.from_distribution(Distribution.uniform(self.ops or DEFAULT_OPS, n=int(self.n),
                                                             magnitude=self.magnitude, spread=0.0))

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.policy.distribution.augment_nhwc(x, rng)

    def to_dict(self) -> dict[str, Any]:
        return {"augmenter": "randaugment", "n": int(self.n), "magnitude": self.magnitude, "ops": list(self.ops or ())}


@dataclass(frozen=True)
class TrivialAugment(_Sampler):
    """One op per image drawn uniformly from `ops`, at one of `levels` magnitudes in [0, 1], uniformly."""

    ops: tuple[str, ...] | None = None
    levels: int = TRIVIAL_LEVELS

    def __post_init__(self) -> None:
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) or self.levels < 2:
            raise InputError(f"TrivialAugment: levels must be an integer >= 2, got {self.levels!r}")
        object.__setattr__(self, "ops", check_ops(self.ops))

    @property
    def name(self) -> str:
        return "TrivialAugment"

    @property
    def policy(self) -> Policy:
        """This TrivialAugment as a distribution policy: uniform weights, 1 op, magnitude 0..1."""
        return Policy.from_distribution(Distribution.uniform(self.ops or DEFAULT_OPS, n=1, magnitude=1.0,
                                                             spread=1.0, levels=int(self.levels)))

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.policy.distribution.augment_nhwc(x, rng)

    def to_dict(self) -> dict[str, Any]:
        return {"augmenter": "trivialaugment", "levels": int(self.levels), "ops": list(self.ops or ())}


@dataclass(frozen=True)
class TrivialAugmentFlipCrop(_Sampler):
    """Flip (1/2) and a crop of the `pad`-pixel padded image, then TrivialAugment over `ops`."""

    pad: int = FLIP_CROP_PAD
    ops: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        FlipCrop(self.pad)  # the same checks
        object.__setattr__(self, "ops", check_ops(self.ops))

    @property
    def name(self) -> str:
        return f"TrivialAugment + flip+crop (pad {self.pad})"

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = flip_crop(x, 0.5, int(self.pad), int(self.pad), rng)
        return TrivialAugment(self.ops).augment_nhwc(out, rng)

    def to_dict(self) -> dict[str, Any]:
        return {"augmenter": "trivialaugment+flip+crop", "pad": int(self.pad), "ops": list(self.ops or ())}


def make(keys: Sequence[str] = BASELINES, randaugment_n: int = RANDAUGMENT_N,
         randaugment_magnitude: float = RANDAUGMENT_MAGNITUDE,
         ops: Sequence[str] | None = None) -> list[tuple[str, _Sampler | None]]:
    """(name, augmenter) of each baseline key, in BASELINES order; "none" gives ("no augmentation", None)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    unknown = sorted(set(keys) - set(BASELINES))
    if unknown:
        raise InputError(f"unknown baselines {unknown}; choose from {', '.join(BASELINES)}")
    made: list[tuple[str, _Sampler | None]] = []
    for key in (k for k in BASELINES if k in keys):
        augmenter = {"none": lambda: None, "flip-crop": FlipCrop,
                     "randaugment": lambda: RandAugment(randaugment_n, randaugment_magnitude, ops),
                     "trivialaugment": lambda: TrivialAugment(ops),
                     "trivialaugment-flip-crop": lambda: TrivialAugmentFlipCrop(FLIP_CROP_PAD, ops)}[key]()
        made.append(("no augmentation" if augmenter is None else augmenter.name, augmenter))
    return made
