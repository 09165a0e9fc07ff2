"""A deepaug policy as an albumentations pipeline (`to_albumentations(policy, size=...)`), and the one
table pairing each deepaug op with albumentations 2.x transforms (bench/augment.py uses it too).

The translation keeps deepaug's structure with albumentations' own transforms:

- sub-policies: ``A.OneOf([A.Sequential([op1, op2, ...]), ...])``, each op with its probability;
- a distribution: flip (``A.HorizontalFlip``), crop (``A.Affine`` whole-pixel shifts), then n
  times ``A.OneOf`` over the ops weighted by their weights, then erasing (``A.CoarseDropout``);
- an op whose parameter takes a random sign (rotate, shear, brightness, ...) becomes
  ``A.OneOf([T(+v), T(-v)])``, so the sign is drawn as deepaug draws it.

Where albumentations computes an op differently, the result is approximate. `WORST` gives, per
op, the largest absolute pixel difference (0..255) between deepaug's op and its translation at the
same parameter, on photos and on flat-background images (Fashion-MNIST), measured by
bench/albumentations_tolerance.py with albumentations 2.0.8 (docs/benchmarks.md has the table with
99th percentiles and means): the ops that differ by at most 1 level on both are exact (`EXACT`).
The worst: equalize (154 on photos, 255 on Fashion-MNIST: albumentations' "pil" mode does not
equalize a mostly flat histogram as PIL does; deepaug's equals PIL's), sharpen, emboss, sharpness,
timm-sharpness (borders: up to 255), auto-contrast (42 / 49), add-to-hue-and-saturation (41).
`TOLERANCE` keeps the older, milder measure (mean difference on smooth 32x32 images, worst image),
which tests/policy/test_albumentations.py checks. Ops that draw positions or noise (crop, cutout,
dropout, noise, fog) cannot be compared pixel by pixel; they match in parameters only; clouds and
solarize-add have no albumentations transform (a NoOp stands in). `approximate_ops(policy)` lists a
policy's inexact ops, and `to_albumentations` warns (`warnings.warn`, one warning per op, shown
once per op by Python's default filter) for each, with its worst case. albumentations 2.0.8's
Equalize also writes into a one-channel (H, W, 1) input array: pass it a copy.
Magnitudes drawn from a range (a
distribution's spread) are drawn continuously by albumentations, not on deepaug's levels.
albumentations draws a parameter uniformly in a range, so a distribution's Gaussian magnitude
noise (`magnitude_std`, timm's mstd) becomes a uniform draw of the same standard deviation
(half-width sqrt(3) * magnitude_std) around the magnitude range, clipped to [0, 1] (logged).
The pipeline sees images without labels: a policy's CutMix and MixUp are left out (logged).
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any, Callable

import cv2  # albumentations' border and interpolation flags are OpenCV's

from deepaug import ops
from deepaug.errors import PolicyError
from deepaug.extras import require
from deepaug.policy.apply import warn_per_image_only
from deepaug.policy.core import PolicyLike, as_policy
from deepaug.policy.distribution import MAX_CROP, Distribution

logger = logging.getLogger(__name__)

# (albumentations module, low, high: deepaug's real parameter range, same sign; image side or None)
Builder = Callable[[Any, float, float, "int | None"], Any]

# Largest mean absolute difference (0..255 scale) between deepaug and albumentations at the same
# parameter; 0.5 means equal up to rounding. Ops not listed draw positions/noise (see module doc).
TOLERANCE: dict[str, float] = {
    "identity": 0.0, "invert": 0.0, "horizontal-flip": 0.0, "vertical-flip": 0.0, "translate-x": 0.0,
    "translate-y": 0.0, "brighten": 0.5, "solarize": 0.5, "posterize": 0.5, "rotate": 0.5, "shear": 0.5,
    "color": 0.5, "gaussian-blur": 0.5, "brightness": 1.0, "gamma-contrast": 1.0, "contrast": 1.0,
    "auto-contrast": 1.0, "sharpness": 2.0, "sharpen": 2.0, "equalize": 8.0, "add-to-hue-and-saturation": 3.0,
    "emboss": 3.0,
}
# Largest absolute pixel difference (0..255), deepaug vs albumentations at the same parameter:
# (photos, flat-background images). Measured: PYTHONPATH=. python bench/albumentations_tolerance.py
# (albumentations 2.0.8; scikit-learn's sample photos, Fashion-MNIST; magnitudes 0.1-1.0, both signs).
WORST: dict[str, tuple[int, int]] = {
    "invert": (0, 0), "brighten": (0, 0), "brightness": (1, 1), "gamma-contrast": (1, 1), "solarize": (0, 0),
    "posterize": (0, 0), "contrast": (1, 1), "color": (1, 0), "auto-contrast": (42, 49), "equalize": (154, 255),
    "add-to-hue-and-saturation": (41, 0), "gaussian-blur": (1, 2), "sharpen": (164, 255), "emboss": (255, 255),
    "sharpness": (74, 84), "rotate": (0, 0), "shear": (0, 0), "shear-y": (0, 0), "translate-x": (0, 0),
    "translate-y": (0, 0), "horizontal-flip": (0, 0), "vertical-flip": (0, 0), "timm-posterize": (0, 0),
    "timm-posterize-increasing": (0, 0), "timm-posterize-original": (0, 0), "timm-solarize": (0, 0),
    "timm-color": (1, 0), "timm-contrast": (1, 1), "timm-brightness": (1, 1), "timm-sharpness": (135, 184),
    "desaturate": (1, 0), "timm-gaussian-blur": (1, 2),
}
# Ops whose translation is deepaug's op up to rounding (at most 1 level anywhere), with the
# parameter drawn as deepaug draws it. translate-x/y are whole pixels when size= is given.
EXACT = frozenset({"identity"} | {name for name, worst in WORST.items() if max(worst) <= 1})
NO_EQUIVALENT = frozenset({"clouds", "solarize-add"})


def _albumentations() -> Any:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # otherwise importing it asks PyPI (network)
    return require("albumentations", "deepaug.adapters.albumentations")


def _const(A: Any) -> dict[str, Any]:
    return {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, "interpolation": cv2.INTER_LINEAR}


def _needs_side(name: str, side: int | None) -> int:
    if side is None:
        raise PolicyError(f"op {name!r} scales with the image side: pass size= (the image side in pixels) "
                          "to to_albumentations")
    return side


def _holes(A: Any, low: float, high: float, count: int) -> Any:
    return A.CoarseDropout(num_holes_range=(count, count), hole_height_range=(low, high),
                           hole_width_range=(low, high), fill=0)


def _posterize(A: Any, low: float, high: float, side: int | None) -> Any:
    bits = (8 - round(high), 8 - round(low))
    if bits[0] >= 8:
        return A.NoOp()
    return A.Posterize(num_bits=(max(1, bits[0]), min(7, bits[1])) if bits[0] != bits[1] else bits[0])


def _sharpness(A: Any, low: float, high: float, side: int | None) -> Any:
    if high <= 0:  # a negative factor - 1 smooths: the 3x3 smoothing PIL's Sharpness blends with
        return A.Blur(blur_limit=(3, 3))
    return A.UnsharpMask(blur_limit=(3, 3), sigma_limit=(0.0, 0.0), alpha=(low, high), threshold=0)


def _degrees(v: float) -> float:
    return math.degrees(math.atan(v))


def _translate(axis: str) -> Builder:
    other = "y" if axis == "x" else "x"

    def build(A: Any, low: float, high: float, side: int | None) -> Any:
        if side is not None:  # whole pixels, as deepaug shifts
            return A.Affine(translate_px={axis: (round(low * side), round(high * side)), other: (0, 0)},
                            **_const(A))
        return A.Affine(translate_percent={axis: (low, high), other: (0.0, 0.0)}, **_const(A))

    return build


def _bits(keep: Callable[[float], int]) -> Builder:
    """A.Posterize for timm's posterize tables: bits kept = keep(parameter)."""
    def build(A: Any, low: float, high: float, side: int | None) -> Any:
        bits = sorted((min(8, keep(low)), min(8, keep(high))))
        if bits[0] >= 8:
            return A.NoOp()
        if bits[1] == 0:  # no bit kept: black (albumentations' Posterize keeps 1 to 7 bits)
            return A.RandomBrightnessContrast(brightness_limit=(0, 0), contrast_limit=(-1, -1))
        bits = [max(1, bits[0]), min(7, bits[1])]
        return A.Posterize(num_bits=bits[0] if bits[0] == bits[1] else tuple(bits))

    return build


def _threshold(A: Any, low: float, high: float) -> Any:
    """A.Solarize inverting pixels at or above low..high; a threshold above 255 inverts nothing."""
    if low > 255:
        return A.NoOp()
    return A.Solarize(threshold_range=(low / 255, min(255.0, high) / 255))


def _timm_threshold(A: Any, low: float, high: float, side: int | None) -> Any:
    return _threshold(A, min(256, int(low)), min(256, int(high)))


# deepaug op -> albumentations transform for a parameter range (low <= high, one sign).
BUILDERS: dict[str, Builder] = {
    "identity": lambda A, lo, hi, s: A.NoOp(),
    "invert": lambda A, lo, hi, s: A.InvertImg(),
    "brighten": lambda A, lo, hi, s: A.RandomBrightnessContrast(brightness_limit=(lo / 255, hi / 255),
                                                                contrast_limit=(0, 0)),
    # RandomBrightnessContrast's "contrast" is a plain multiply: exactly deepaug's brightness.
    "brightness": lambda A, lo, hi, s: A.RandomBrightnessContrast(brightness_limit=(0, 0), contrast_limit=(lo, hi)),
    "gamma-contrast": lambda A, lo, hi, s: A.RandomGamma(gamma_limit=(100 * 2 ** lo, 100 * 2 ** hi)),
    "solarize": lambda A, lo, hi, s: _threshold(A, lo, hi),
    "posterize": _posterize,
    "contrast": lambda A, lo, hi, s: A.ColorJitter(brightness=(1, 1), contrast=(1 + lo, 1 + hi), saturation=(1, 1),
                                                   hue=(0, 0)),
    "color": lambda A, lo, hi, s: A.ColorJitter(brightness=(1, 1), contrast=(1, 1), saturation=(1 + lo, 1 + hi),
                                                hue=(0, 0)),
    "auto-contrast": lambda A, lo, hi, s: A.AutoContrast(cutoff=0, method="pil"),
    "equalize": lambda A, lo, hi, s: A.Equalize(mode="pil", by_channels=True),
    "add-to-hue-and-saturation": lambda A, lo, hi, s: A.HueSaturationValue(
        hue_shift_limit=(lo / 2, hi / 2), sat_shift_limit=(lo, hi), val_shift_limit=(0, 0)),
    "gaussian-blur": lambda A, lo, hi, s: A.GaussianBlur(
        blur_limit=0, sigma_limit=(lo * _needs_side("gaussian-blur", s), hi * _needs_side("gaussian-blur", s))),
    "sharpen": lambda A, lo, hi, s: A.Sharpen(alpha=(lo, hi), lightness=(1, 1), method="kernel"),
    "emboss": lambda A, lo, hi, s: A.Emboss(alpha=(lo, hi), strength=(1, 1)),
    "sharpness": _sharpness,
    "crop": lambda A, lo, hi, s: A.RandomResizedCrop(size=(_needs_side("crop", s),) * 2,
                                                     scale=((1 - hi) ** 2, (1 - lo) ** 2), ratio=(1, 1)),
    "rotate": lambda A, lo, hi, s: A.Rotate(limit=(lo, hi), **_const(A)),
    "shear": lambda A, lo, hi, s: A.Affine(shear={"x": (_degrees(lo), _degrees(hi)), "y": (0, 0)}, **_const(A)),
    "translate-x": _translate("x"),
    "translate-y": _translate("y"),
    "horizontal-flip": lambda A, lo, hi, s: A.HorizontalFlip(),
    "vertical-flip": lambda A, lo, hi, s: A.VerticalFlip(),
    "additive-gaussian-noise": lambda A, lo, hi, s: A.GaussNoise(std_range=(lo / 255, hi / 255), mean_range=(0, 0),
                                                                 per_channel=True),
    "dropout": lambda A, lo, hi, s: A.PixelDropout(dropout_prob=(lo + hi) / 2, per_channel=False, drop_value=0),
    # deepaug blacks out a fraction of the 8x8 grid's cells; here that many holes of one cell each.
    "coarse-dropout": lambda A, lo, hi, s: _holes(A, 1 / 8, 1 / 8, max(1, round(64 * (lo + hi) / 2))),
    "coarse-salt-pepper": lambda A, lo, hi, s: A.SaltAndPepper(amount=(lo, hi), salt_vs_pepper=(0.5, 0.5)),
    "cutout": lambda A, lo, hi, s: _holes(A, lo, hi, 1),
    "fog": lambda A, lo, hi, s: A.RandomFog(fog_coef_range=(lo, hi), alpha_coef=0.08),
    # timm's forms (deepaug.ops.timm_forms); solarize-add has no albumentations transform (NO_EQUIVALENT).
    "shear-y": lambda A, lo, hi, s: A.Affine(shear={"x": (0, 0), "y": (_degrees(lo), _degrees(hi))}, **_const(A)),
    "timm-posterize": _bits(int),
    "timm-posterize-increasing": _bits(lambda p: 4 - int(p)),
    "timm-posterize-original": _bits(lambda p: 4 + int(p)),
    "timm-solarize": _timm_threshold,
    "desaturate": lambda A, lo, hi, s: A.ColorJitter(brightness=(1, 1), contrast=(1, 1), saturation=(1 - hi, 1 - lo),
                                                     hue=(0, 0)),
    "timm-gaussian-blur": lambda A, lo, hi, s: A.GaussianBlur(blur_limit=0, sigma_limit=(lo, hi)),
    "timm-gaussian-blur-rand": lambda A, lo, hi, s: A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, max(0.1, 2 * hi))),
}
for _name in ("color", "contrast", "brightness", "sharpness"):  # timm's factor 0.1 + 1.8 m: the same transforms
    BUILDERS[f"timm-{_name}"] = BUILDERS[_name]


def parameter(name: str, magnitude: float) -> float:
    """deepaug's real parameter of op `name` at `magnitude` (before its random sign)."""
    spec = ops.get(name)
    return spec.low + magnitude * (spec.high - spec.low)


def op_transform(name: str, low: float, high: float | None = None, side: int | None = None, p: float = 1.0) -> Any:
    """Op `name` at magnitudes low..high (high None: exactly low) as an albumentations transform
    with probability `p`; a signed op draws its sign as deepaug does (OneOf of the two signs)."""
    A = _albumentations()
    high = low if high is None else high
    spec = ops.get(name)
    if name in NO_EQUIVALENT:
        return A.NoOp(p=p)
    a, b = sorted((parameter(name, low), parameter(name, high)))
    build = BUILDERS[name]
    if not spec.signed or (a == 0 and b == 0):
        transform = build(A, a, b, side)
        transform.p = p
        return transform
    return A.OneOf([build(A, a, b, side), build(A, -b, -a, side)], p=p)


def approximate_ops(policy: Any) -> list[str]:
    """The ops of `policy` (a deepaug Policy) whose albumentations translation is not exact."""
    if policy.distribution is not None:
        names = list(policy.distribution.op_names) if policy.distribution.n else []
        if policy.distribution.erasing:
            names.append("cutout")
    else:
        names = [op.name for sub in policy.sub_policies for op in sub]
    return sorted({name for name in names if name not in EXACT})


def to_albumentations(policy: PolicyLike, size: int | None = None, seed: int | None = None) -> Any:
    """`policy` (a Policy, or anything `deepaug.policy.as_policy` reads) as an ``albumentations.Compose``
    (see the module docstring); it saves with ``A.save``.

    `size` is the image side in pixels, needed by ops that scale with it (gaussian-blur, crop,
    the distribution's crop) and making translations whole pixels. `seed` goes to ``A.Compose``.
    The pipeline sees images without labels, so a policy's CutMix and MixUp are left out (logged).
    """
    A = _albumentations()
    policy = as_policy(policy, "to_albumentations")
    warn_per_image_only(policy, "to_albumentations (an albumentations pipeline)")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise PolicyError(f"to_albumentations: size must be the image side in pixels (an integer >= 1), got {size!r}")
    if policy.distribution is not None:
        steps = _distribution(A, policy.distribution, size)
        if policy.distribution.magnitude_std and policy.distribution.n:
            logger.warning("to_albumentations: albumentations draws parameters uniformly, so the policy's Gaussian "
                           "magnitude noise (magnitude_std %g) is drawn uniformly with the same standard deviation",
                           policy.distribution.magnitude_std)
    else:
        steps = [A.OneOf([A.Sequential([op_transform(op.name, op.magnitude, side=size, p=op.probability)
                                        for op in sub], p=1) for sub in policy.sub_policies], p=1)]
    for name in approximate_ops(policy):
        warnings.warn(approximation(name), UserWarning, stacklevel=2)
    return A.Compose(steps, seed=seed)


def approximation(name: str) -> str:
    """The warning for an op whose albumentations translation is not exact: how far off, and where."""
    head = f"to_albumentations: op {name!r} is approximate in albumentations"
    if name in NO_EQUIVALENT:
        return f"{head}: it has no albumentations transform and is left out (a NoOp stands in)"
    if name not in WORST:
        return f"{head}: it draws positions or noise its own way and matches deepaug in parameters only"
    photos, flat = WORST[name]
    return (f"{head}: up to {photos}/255 per pixel on photos and {flat}/255 on flat-background images "
            "(deepaug.adapters.albumentations.WORST, docs/benchmarks.md)")


def _distribution(A: Any, d: Distribution, size: int | None) -> list[Any]:
    steps = []
    if d.flip:
        steps.append(A.HorizontalFlip(p=d.flip))
    if d.crop:
        if size is None:
            raise PolicyError("a distribution's crop shifts by whole pixels of the side: pass size= (the image "
                              "side in pixels) to to_albumentations")
        pad = min(round(d.crop * size), int(MAX_CROP * size))
        steps.append(A.Affine(translate_px={"x": (-pad, pad), "y": (-pad, pad)}, p=1, **_const(A)))
    if d.n and d.ops:
        total = sum(op.weight for op in d.ops)
        noise = math.sqrt(3.0) * d.magnitude_std  # a uniform draw of half-width sqrt(3) std has that std
        low, high = max(0.0, d.magnitude * (1 - d.spread) - noise), min(1.0, d.magnitude + noise)
        for _ in range(d.n):  # one OneOf per op drawn, by weight, each at a magnitude in the range
            steps.append(A.OneOf([op_transform(op.name, min(1.0, low * op.scale), min(1.0, high * op.scale),
                                               size, p=op.weight / total) for op in d.ops], p=1))
    if d.erasing:
        steps.append(op_transform("cutout", 0.0, 1.0, size, p=d.erasing))
    return steps
