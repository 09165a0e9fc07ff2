"""The second kind of policy: a distribution over ops, as in RandAugment and TrivialAugment.

For each image, in order:

1. `flip`: a horizontal flip with this probability;
2. `crop`: a random crop of the image zero-padded by `round(crop * side)` pixels on each
   axis (a whole-pixel shift uniform in -pad..pad, per axis);
3. `n` ops, each drawn (with replacement) from `ops` with probability proportional to
   its weight, applied one after the other, each at a magnitude drawn from
   `[magnitude * (1 - spread), magnitude]` on `levels` evenly spaced values (one draw
   per image and op; spread 0 means exactly `magnitude`), plus, when `magnitude_std` > 0,
   Gaussian noise of that standard deviation clipped to [0, 1] (timm's `mstd`: timm's
   mstd 0.5 on its 0..10 scale is `magnitude_std` 0.05), times the op's `scale` (capped at 1);
4. `erasing`: with this probability, one black square (the `cutout` op) at a magnitude
   uniform in [0, 1].

and then, where the images come with their labels (a training batch):

5. `cutmix` and `mixup`: the probabilities per image of CutMix (Yun et al., 2019: a box of
   another image of the batch pasted in, its area a fraction uniform in [0, 1], labels mixed
   by the pixels each image keeps) and of MixUp (Zhang et al., 2018: the image blended with
   another one by lam ~ Beta(0.8, 0.8), labels mixed by lam). An image gets one or the other,
   never both, so `cutmix + mixup` <= 1; `deepaug.policy.mixing` has the rule, the alphas and
   their sources. Steps 1-4 act on each image alone; this one needs the batch and its labels,
   so `augment_nhwc` (and everything that augments images without labels) stops after step 4
   and `mix` does step 5.

TrivialAugment is uniform weights over its 13 ops, n 1, magnitude 1, spread 1 (levels
31, as in the paper); RandAugment(N, M) is uniform weights, n N, magnitude M, spread 0;
flip+crop is n 0 with flip 0.5 and a crop; "TrivialAugment + flip + crop" is both.
`deepaug.policy.baselines` builds them as distributions, so they run through this same code.

Randomness per layer, in order: the op choice (`integers` when the weights are uniform,
else inverse-CDF on `random`), then the magnitude level (only when spread > 0), then the
magnitude noise (`normal`, only when magnitude_std > 0), then each op's own draws. The same
Generator state gives the same bytes, and a key left at 0 draws nothing, so files written
before `mixup` and `magnitude_std` existed give the bytes they gave.

>>> d = Distribution.uniform(("rotate", "equalize"), n=1, magnitude=1.0, spread=1.0)
>>> d.n, d.op_names
(1, ('rotate', 'equalize'))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from deepaug import ops
from deepaug.errors import PolicyError
from deepaug.policy.limits import DISTRIBUTION_OPS_FACTOR, check_count
from deepaug.policy.mixing import blend, mixing_groups, paste_boxes

LEVELS = 31  # TrivialAugment's magnitude levels (0, 1/30, ..., 1)
_KEYS = ("ops", "n", "magnitude", "spread", "levels", "flip", "crop", "erasing", "cutmix", "mixup",
         "magnitude_std")
_OPTIONAL = ("cutmix", "mixup", "magnitude_std")  # written only when used: older files stay as they were
_OP_KEYS = ("op", "weight", "scale")
MAX_N = 10
MAX_CROP = 0.45  # translate-x/y reach: 0.45 of the side
MAX_MAGNITUDE_STD = 10.0  # timm's mstd up to 100 (above: uniform) on its 0..10 scale


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PolicyError(f"{what} must be a number in [{low:g}, {high:g}], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise PolicyError(f"{what} must be a number in [{low:g}, {high:g}], got {value!r}")
    return value


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise PolicyError(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class WeightedOp:
    """One op of a distribution: drawn with probability proportional to `weight`; its
    magnitude is multiplied by `scale` (capped at 1)."""

    name: str
    weight: float = 1.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        ops.get(self.name)  # PolicyError naming the valid ops
        object.__setattr__(self, "weight", _number(self.weight, f"weight of op {self.name!r}", 0.0, 1e6))
        object.__setattr__(self, "scale", _number(self.scale, f"scale of op {self.name!r}", 0.0, 1e6))
        if self.weight == 0.0:
            raise PolicyError(f"op {self.name!r} has weight 0; leave it out of the distribution instead")

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.name, "weight": self.weight, "scale": self.scale}


@dataclass(frozen=True)
class Distribution:
    """Weights over ops, ops per image, a magnitude range (and noise), the flip/crop/erasing
    base, and CutMix or MixUp within a labelled batch."""

    ops: tuple[WeightedOp, ...] = ()
    n: int = 1
    magnitude: float = 1.0
    spread: float = 1.0
    levels: int = LEVELS
    flip: float = 0.0
    crop: float = 0.0
    erasing: float = 0.0
    cutmix: float = 0.0
    mixup: float = 0.0
    magnitude_std: float = 0.0

    def __post_init__(self) -> None:
        entries = tuple(op if isinstance(op, WeightedOp) else WeightedOp(*op) for op in self.ops)
        names = [op.name for op in entries]
        if len(set(names)) != len(names):
            raise PolicyError(f"a distribution lists an op twice: {names}")
        object.__setattr__(self, "ops", entries)
        object.__setattr__(self, "n", _integer(self.n, "n (ops per image)", 0, MAX_N))
        object.__setattr__(self, "magnitude", _number(self.magnitude, "magnitude", 0.0, 1.0))
        object.__setattr__(self, "spread", _number(self.spread, "spread", 0.0, 1.0))
        object.__setattr__(self, "levels", _integer(self.levels, "levels", 2, 1_000_000))
        object.__setattr__(self, "flip", _number(self.flip, "flip (probability)", 0.0, 1.0))
        object.__setattr__(self, "crop", _number(self.crop, "crop (padding as a fraction of the side)", 0.0,
                                                 MAX_CROP))
        object.__setattr__(self, "erasing", _number(self.erasing, "erasing (probability)", 0.0, 1.0))
        object.__setattr__(self, "cutmix", _number(self.cutmix, "cutmix (probability per image)", 0.0, 1.0))
        object.__setattr__(self, "mixup", _number(self.mixup, "mixup (probability per image)", 0.0, 1.0))
        if self.cutmix + self.mixup > 1.0 + 1e-9:
            raise PolicyError(f"cutmix + mixup must be at most 1 (an image gets CutMix or MixUp, never both), got "
                              f"cutmix {self.cutmix:g} + mixup {self.mixup:g}; lower one of them")
        object.__setattr__(self, "magnitude_std", _number(self.magnitude_std, "magnitude_std (Gaussian noise on "
                                                          "the magnitude)", 0.0, MAX_MAGNITUDE_STD))
        if self.n > 0 and not entries:
            raise PolicyError(f"a distribution with n={self.n} ops per image needs at least one op with a weight "
                              "(or n: 0 for the flip/crop/erasing base alone)")

    @classmethod
    def uniform(cls, names: Sequence[str], **fields: Any) -> "Distribution":
        """Equal weights over `names` (RandAugment's and TrivialAugment's form)."""
        return cls(tuple(WeightedOp(name) for name in names), **fields)

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.ops)

    @property
    def changes_images(self) -> bool:
        """False when no image can change (no base step, and every drawn op is the identity)."""
        reach = self.magnitude + self.magnitude_std  # noise can lift a magnitude of 0
        drawn = self.n > 0 and any(op.name != "identity" and (not ops.get(op.name).uses_magnitude
                                                               or op.scale * reach > 0)
                                   for op in self.ops)
        return drawn or self.flip > 0 or self.crop > 0 or self.erasing > 0 or self.mixes_labels

    @property
    def mixes_labels(self) -> bool:
        """True when a training batch's images and labels are mixed (`cutmix` or `mixup` > 0)."""
        return self.cutmix > 0 or self.mixup > 0

    @property
    def mixing(self) -> str:
        """The batch step in words ("CutMix p=0.5, MixUp p=0.5"), "" when there is none."""
        parts = [f"{name} p={p:g}" for name, p in (("CutMix", self.cutmix), ("MixUp", self.mixup)) if p]
        return ", ".join(parts)

    # ------------------------------------------------------------ file format

    def to_dict(self) -> dict[str, Any]:
        data = {"ops": [op.to_dict() for op in self.ops], "n": self.n, "magnitude": self.magnitude,
                "spread": self.spread, "levels": self.levels, "flip": self.flip, "crop": self.crop,
                "erasing": self.erasing}
        for key in _OPTIONAL:  # written only when used, so files without them stay as they were
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "distribution") -> "Distribution":
        if not isinstance(data, Mapping):
            raise PolicyError(f"{where} must be an object with keys {list(_KEYS)}, got {data!r}")
        extra = sorted(set(data) - set(_KEYS))
        if extra:
            raise PolicyError(f"{where} has unexpected keys {extra}; allowed keys are {list(_KEYS)}")
        entries = data.get("ops", [])
        if not isinstance(entries, list):
            raise PolicyError(f"{where}: 'ops' must be a list of {{\"op\": ..., \"weight\": ..., \"scale\": ...}}")
        check_count(entries, DISTRIBUTION_OPS_FACTOR * len(ops.names()), "ops", where)
        built = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "op" not in entry or set(entry) - set(_OP_KEYS):
                raise PolicyError(f"{where}: ops[{i}] must be an object with 'op' and optional 'weight' and "
                                  f"'scale', got {entry!r}")
            try:
                built.append(WeightedOp(entry["op"], entry.get("weight", 1.0), entry.get("scale", 1.0)))
            except PolicyError as exc:
                raise PolicyError(f"{where}: ops[{i}]: {exc}") from None
        fields = {k: data[k] for k in _KEYS[1:] if k in data}
        try:
            return cls(tuple(built), **fields)
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc}") from None

    def __str__(self) -> str:
        total = sum(op.weight for op in self.ops) or 1.0
        if len({op.weight for op in self.ops}) == 1 and all(op.scale == 1 for op in self.ops):
            drawn = f"uniform over {len(self.ops)}: " + ", ".join(self.op_names)
        else:
            drawn = ", ".join(f"{op.name} {op.weight / total:.2f}" + (f" x{op.scale:g}" if op.scale != 1 else "")
                              for op in self.ops)
        low = self.magnitude * (1 - self.spread)
        parts = []
        if self.flip:
            parts.append(f"flip p={self.flip:g}")
        if self.crop:
            parts.append(f"crop pad {self.crop:.3g} of the side")
        if self.n and self.ops:
            noise = f" +- N(0, {self.magnitude_std:g})" if self.magnitude_std else ""
            parts.append(f"{self.n} op(s) per image, magnitude {low:.2f}..{self.magnitude:.2f}{noise} from [{drawn}]")
        if self.erasing:
            parts.append(f"erasing p={self.erasing:g}")
        if self.cutmix:
            parts.append(f"cutmix p={self.cutmix:g}")
        if self.mixup:
            parts.append(f"mixup p={self.mixup:g}")
        return "; ".join(parts) or "no augmentation"

    # ------------------------------------------------------------ applying

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a validated (N, H, W, C) uint8 batch; returns a new batch."""
        n, h, w = x.shape[:3]
        out = flip_crop(x, self.flip, round(self.crop * h), round(self.crop * w), rng)
        if self.n and self.ops:
            names = self.op_names
            weights = np.array([op.weight for op in self.ops])
            scales = np.array([op.scale for op in self.ops])
            uniform = bool(np.all(weights == weights[0]))
            cdf = np.cumsum(weights / weights.sum())
            low = self.magnitude * (1.0 - self.spread)
            for _ in range(self.n):
                if uniform:
                    choice = rng.integers(len(names), size=n)
                else:
                    choice = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(names) - 1)
                if self.spread > 0:
                    steps = rng.integers(self.levels, size=n) / (self.levels - 1)
                    magnitudes = low + (self.magnitude - low) * steps
                else:
                    magnitudes = np.full(n, self.magnitude)
                if self.magnitude_std > 0:  # timm's mstd: Gaussian noise per image and op, clipped
                    magnitudes = np.clip(magnitudes + rng.normal(0.0, self.magnitude_std, size=n), 0.0, 1.0)
                if np.any(scales != 1.0):
                    magnitudes = np.minimum(1.0, magnitudes * scales[choice])
                out = apply_per_image(out, choice, magnitudes, names, rng)
        if self.erasing > 0:
            hit = np.flatnonzero(rng.random(n) < self.erasing)
            if hit.size:
                out[hit] = ops.get("cutout").run(out[hit], rng.random(hit.size), rng)
        return out

    def mixing_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Which of a batch's n images get CutMix (each with probability `cutmix`) and each one's
        partner, another image of the batch (uniform); both empty when none does. Draws nothing
        when `cutmix` and `mixup` are 0 or n < 2 (`deepaug.policy.mixing.mixing_groups`, whose
        MixUp pairs this leaves out)."""
        return mixing_groups(n, self.cutmix, self.mixup, rng)[0]

    def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Step 5 (CutMix or MixUp per image) on an augmented (N, H, W, C) batch and its
        (N, classes) label weights (one-hot rows for plain labels); returns new arrays, labels as
        float32. The draws are listed in `deepaug.policy.mixing`; a batch of one image is returned
        as it is."""
        out, weights = x.copy(), np.asarray(labels, dtype=np.float32).copy()
        cut, blended = mixing_groups(x.shape[0], self.cutmix, self.mixup, rng)
        paste_boxes(out, weights, x, labels, cut, rng)
        blend(out, weights, x, labels, blended, rng)
        return out, weights


def apply_per_image(x: np.ndarray, choice: np.ndarray, magnitudes: np.ndarray, names: Sequence[str],
                    rng: np.random.Generator) -> np.ndarray:
    """Image i gets op `names[choice[i]]` at `magnitudes[i]`; one vectorized call per op drawn."""
    out = x.copy()
    for k, name in enumerate(names):
        if name == "identity":
            continue
        idx = np.flatnonzero(choice == k)
        if idx.size:
            out[idx] = ops.get(name).run(x[idx], magnitudes[idx], rng)
    return out


def flip_crop(x: np.ndarray, flip: float, pad_y: int, pad_x: int, rng: np.random.Generator) -> np.ndarray:
    """Horizontal flip with probability `flip`, then a crop of the image zero-padded by
    pad_y / pad_x pixels (a whole-pixel shift uniform in -pad..pad per axis)."""
    n, h, w = x.shape[:3]
    out = x.copy()
    if flip > 0:
        hit = np.flatnonzero(rng.random(n) < flip)
        if hit.size:
            out[hit] = ops.get("horizontal-flip").run(out[hit], 0.0, rng)
    for name, side, pad in (("translate-x", w, pad_x), ("translate-y", h, pad_y)):
        spec = ops.get(name)
        reach = spec.high * side  # shift in pixels at magnitude 1
        pad = min(int(pad), int(reach))
        if pad <= 0:
            continue
        # A signed shift uniform in -pad..pad; the op draws the sign itself, so pass |shift|.
        shift = np.abs(rng.integers(-pad, pad + 1, size=n))
        moved = np.flatnonzero(shift)
        if moved.size:
            out[moved] = spec.run(out[moved], shift[moved] / reach, rng)
    return out
