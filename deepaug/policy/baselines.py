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

Two published recipes (`RECIPES`) are distribution policies themselves, built by
`trivialaugment_cutmix()` and `timm_recipe()`:

- `trivialaugment-cutmix`: TrivialAugment + CutMix on half the images (CutMix's own
  probability, Yun et al. 2019);
- `timm-recipe`: timm's / DeiT's ImageNet recipe: RandAugment "rand-m9-mstd0.5-inc1" (2 ops
  per image, each applied with probability 1/2, m9 on timm's 0..10 scale with Gaussian
  magnitude noise 0.5), MixUp 0.8 / CutMix 1.0 switched with probability 1/2 on every image,
  random erasing 0.25.

`make(["none", "flip-crop", ..., "timm-recipe"])` builds them by key (see BASELINES and
RECIPES) with their display names.
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

import dataclasses
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
from deepaug.policy.timm import LEVEL_DENOM, TIMM_OPS, applied_with_probability

logger = logging.getLogger(__name__)

# RandAugment's and TrivialAugment's 14 ops, in this registry's names (it has one shear, along x).
DEFAULT_OPS = ("identity", "auto-contrast", "equalize", "rotate", "solarize", "color", "posterize",
               "contrast", "brightness", "sharpness", "shear", "translate-x", "translate-y")
TRIVIAL_LEVELS = 31
COLOUR_ONLY = ("color", "add-to-hue-and-saturation")  # they change nothing on one channel
RANDAUGMENT_N = 2
RANDAUGMENT_MAGNITUDE = 9 / 30  # RandAugment's usual M = 9 on its 0..30 scale
FLIP_CROP_PAD = 2  # pixels, the usual pad for 28-32 px images
# keys for `make`, in display order
BASELINES = ("none", "flip-crop", "randaugment", "trivialaugment", "trivialaugment-flip-crop")
# Published recipes, each a distribution Policy (a point the distribution search can hold).
RECIPES = ("trivialaugment-cutmix", "timm-recipe")
KEYS = BASELINES + RECIPES  # every key `make` builds, in display order

# CutMix's own recipe (Yun et al. 2019; clovaai/CutMix-PyTorch README: CIFAR-100 PyramidNet-200 trained with
# --beta 1.0 --cutmix_prob 0.5, ImageNet with 1.0): CutMix on half the images, box area Beta(1, 1).
CUTMIX_PROBABILITY = 0.5
# timm / DeiT (facebookresearch/deit main.py defaults, the recipe timm's training docs use):
# --aa rand-m9-mstd0.5-inc1: RandAugment, timm's defaults n2 and p0.5 (each drawn op applied with
#   probability 1/2), m9 on timm's 0..10 scale, Gaussian magnitude noise mstd 0.5 on that scale.
#   deepaug reads timm's ops and level tables exactly (deepaug.policy.timm, ops.timm_forms), so m9 is
#   magnitude 9/10 = 0.9 here and mstd 0.5 is magnitude_std 0.05. This is timm's convention, kept
#   because the recipe is timm's: RANDAUGMENT_MAGNITUDE = 9/30 above is the RandAugment paper's
#   and torchvision's M = 9 on a 0..30 scale, a third of timm's m9 in strength.
TIMM_M, TIMM_N, TIMM_P, TIMM_MSTD = 9, 2, 0.5, 0.5
# --mixup 0.8 --cutmix 1.0 --mixup-prob 1.0 --mixup-switch-prob 0.5 (the last two are timm train.py's
#   defaults too): every image mixed, by CutMix with probability 1/2 ("switching to cutmix"), else by
#   MixUp (alphas 1.0 and 0.8: deepaug.policy.mixing's fixed values).
TIMM_MIX_PROB, TIMM_SWITCH_PROB = 1.0, 0.5
TIMM_CUTMIX = TIMM_MIX_PROB * TIMM_SWITCH_PROB
TIMM_MIXUP = TIMM_MIX_PROB * (1 - TIMM_SWITCH_PROB)
# --reprob 0.25: random erasing on a quarter of the images. timm erases a rectangle of 2-33% of the
#   area filled with per-pixel noise (--remode pixel); deepaug's `erasing` is one black square of
#   side up to half the image (the cutout op at a uniform magnitude).
TIMM_ERASING = 0.25


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


def for_channels(ops: Sequence[str] | None, channels: int,
                 default: Sequence[str] = DEFAULT_OPS) -> tuple[str, ...] | None:
    """The ops a recipe draws from on images of `channels` channels: `ops` (None: the recipe's
    `default`) less the colour-only ops on grayscale images, where they change nothing and would
    only waste draws (the distribution search leaves them out of its space and its controls too).
    On colour images `ops` as given (None keeps each recipe's own set)."""
    if channels != 1:
        return None if ops is None else tuple(ops)
    kept = tuple(o for o in (default if ops is None else ops) if o not in COLOUR_ONLY)
    if not kept:
        raise InputError(f"ops {list(ops or ())} are colour-only ops ({', '.join(COLOUR_ONLY)}), which change "
                         "nothing on grayscale images; give others")
    return kept


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


def trivialaugment_cutmix(ops: Sequence[str] | None = None) -> Policy:
    """TrivialAugment over `ops` (DEFAULT_OPS when None), then CutMix on half a training batch's
    images (CUTMIX_PROBABILITY, CutMix's own recipe)."""
    base = TrivialAugment(check_ops(ops)).policy.distribution
    return Policy.from_distribution(dataclasses.replace(base, cutmix=CUTMIX_PROBABILITY))


def timm_recipe(ops: Sequence[str] | None = None) -> Policy:
    """timm's / DeiT's recipe (see TIMM_* above): RandAugment rand-m9-mstd0.5-inc1, MixUp/CutMix
    switching on every image, random erasing 0.25. `ops` (None: timm's 15 inc1 RandAugment ops,
    `deepaug.policy.timm.TIMM_OPS`) replaces timm's op set, each drawn op still
    applied with probability 1/2 (`identity` takes the other half of the weight)."""
    return Policy.from_distribution(Distribution(
        applied_with_probability(TIMM_OPS if ops is None else check_ops(ops), TIMM_P), n=TIMM_N,
        magnitude=TIMM_M / LEVEL_DENOM, spread=0.0, magnitude_std=TIMM_MSTD / LEVEL_DENOM, erasing=TIMM_ERASING,
        cutmix=TIMM_CUTMIX, mixup=TIMM_MIXUP))


RECIPE_NAMES = {"trivialaugment-cutmix": "TrivialAugment + CutMix 1/2",
                "timm-recipe": "timm recipe (RandAugment m9 mstd0.5, MixUp/CutMix, erasing 1/4)"}


def make(keys: Sequence[str] = BASELINES, randaugment_n: int = RANDAUGMENT_N,
         randaugment_magnitude: float = RANDAUGMENT_MAGNITUDE,
         ops: Sequence[str] | None = None, channels: int = 3) -> list[tuple[str, _Sampler | Policy | None]]:
    """(name, augmenter) of each key, in KEYS order; "none" gives ("no augmentation", None), the
    RECIPES give distribution Policies (their names in RECIPE_NAMES). `channels` 1: over the
    grayscale ops (`for_channels`)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    unknown = sorted(set(keys) - set(KEYS))
    if unknown:
        raise InputError(f"unknown baselines {unknown}; choose from {', '.join(KEYS)}")
    made: list[tuple[str, _Sampler | Policy | None]] = []
    for key in (k for k in KEYS if k in keys):
        if key in RECIPES:
            build, own = {"trivialaugment-cutmix": (trivialaugment_cutmix, DEFAULT_OPS),
                          "timm-recipe": (timm_recipe, TIMM_OPS)}[key]
            made.append((RECIPE_NAMES[key], build(for_channels(ops, channels, own))))
            continue
        kept = for_channels(ops, channels)
        augmenter = {"none": lambda: None, "flip-crop": FlipCrop,
                     "randaugment": lambda: RandAugment(randaugment_n, randaugment_magnitude, kept),
                     "trivialaugment": lambda: TrivialAugment(kept),
                     "trivialaugment-flip-crop": lambda: TrivialAugmentFlipCrop(FLIP_CROP_PAD, kept)}[key]()
        made.append(("no augmentation" if augmenter is None else augmenter.name, augmenter))
    return made
