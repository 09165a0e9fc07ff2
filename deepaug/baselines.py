"""Standard augmentation baselines, as samplers over the one op registry.

- `FlipCrop`: horizontal flip with probability 1/2, then a random crop of the image
  zero-padded by `pad` pixels (done as whole-pixel translate-x / translate-y with a shift
  uniform in -pad..pad, which is the same thing).
- `RandAugment(n, magnitude, ops)`: n ops drawn uniformly per image, one after the other,
  every one applied at the same global magnitude.
- `TrivialAugment(ops)`: one op drawn uniformly per image, at a magnitude drawn uniformly
  from `levels` evenly spaced values in [0, 1] (31, as in the paper: 0, 1/30, ..., 1).

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

from deepaug.augmenter import rng_from
from deepaug.errors import InputError
from deepaug.images import as_nhwc
from deepaug.ops import check_magnitude, get as get_op

logger = logging.getLogger(__name__)

# RandAugment's and TrivialAugment's 14 ops, in this registry's names (it has one shear, along x).
DEFAULT_OPS = ("identity", "auto-contrast", "equalize", "rotate", "solarize", "color", "posterize",
               "contrast", "brightness", "sharpness", "shear", "translate-x", "translate-y")
TRIVIAL_LEVELS = 31
RANDAUGMENT_N = 2
RANDAUGMENT_MAGNITUDE = 9 / 30  # RandAugment's usual M = 9 on its 0..30 scale
BASELINES = ("none", "flip-crop", "randaugment", "trivialaugment")  # keys for `make`


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


def apply_per_image(x: np.ndarray, choice: np.ndarray, magnitudes: np.ndarray, names: Sequence[str],
                    rng: np.random.Generator) -> np.ndarray:
    """Image i gets op `names[choice[i]]` at `magnitudes[i]`; one vectorized call per op drawn."""
    out = x.copy()
    for k, name in enumerate(names):
        if name == "identity":
            continue
        idx = np.flatnonzero(choice == k)
        if idx.size:
            out[idx] = get_op(name).run(x[idx], magnitudes[idx], rng)
    return out


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
        n, h, w = x.shape[:3]
        out = x.copy()
        flip = np.flatnonzero(rng.random(n) < self.flip_probability)
        if flip.size:
            out[flip] = get_op("horizontal-flip").run(out[flip], 0.0, rng)
        for name, side in (("translate-x", w), ("translate-y", h)):
            spec = get_op(name)
            reach = spec.high * side  # shift in pixels at magnitude 1
            pad = min(int(self.pad), int(reach))
            if pad == 0:
                continue
            # A signed shift uniform in -pad..pad; the op draws the sign itself, so pass |shift|.
            shift = np.abs(rng.integers(-pad, pad + 1, size=n))
            moved = np.flatnonzero(shift)
            if moved.size:
                out[moved] = spec.run(out[moved], shift[moved] / reach, rng)
        return out

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

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        names = self.ops or DEFAULT_OPS
        magnitudes = np.full(x.shape[0], self.magnitude)
        for _ in range(self.n):
            x = apply_per_image(x, rng.integers(len(names), size=x.shape[0]), magnitudes, names, rng)
        return x

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

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        names = self.ops or DEFAULT_OPS
        n = x.shape[0]
        choice = rng.integers(len(names), size=n)
        magnitudes = rng.integers(self.levels, size=n) / (self.levels - 1)
        return apply_per_image(x, choice, magnitudes, names, rng)

    def to_dict(self) -> dict[str, Any]:
        return {"augmenter": "trivialaugment", "levels": int(self.levels), "ops": list(self.ops or ())}


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
                     "trivialaugment": lambda: TrivialAugment(ops)}[key]()
        made.append(("no augmentation" if augmenter is None else augmenter.name, augmenter))
    return made
