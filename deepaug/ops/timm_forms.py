"""timm's level tables that deepaug's other ops do not share, as ops of their own.

timm (huggingface/pytorch-image-models, timm/data/auto_augment.py: `LEVEL_TO_ARG`) turns a level
0..10 (`_LEVEL_DENOM` 10) into each op's argument. Where that table is linear from the identity
(Rotate 30 degrees, ShearX/ShearY 0.3, TranslateXRel 0.45, the `...Increasing` enhance factors
1 +- 0.9, SolarizeIncreasing's threshold 256 - int(256 m)) deepaug's own op is it at magnitude
level / 10 (`rotate`, `shear`, `shear-y`, `translate-x`, `color`, ..., `solarize`). The tables
below are not, so each is an op here, at magnitude level / 10, computing timm's argument the way
timm does (int() truncation included), so the pixels of the tone ops equal timm's (PIL's) exactly:

- `solarize-add`: add int(110 m) to pixels below 128 (timm's SolarizeAdd, threshold 128);
- `timm-posterize`: keep int(4 m) bits (timm's Posterize: 0 bits, a black image, at level 0);
- `timm-posterize-increasing`: keep 4 - int(4 m) bits (PosterizeIncreasing: 4 at level 0, 1 at 9);
- `timm-posterize-original`: keep 4 + int(4 m) bits (PosterizeOriginal, the AutoAugment paper's);
- `timm-solarize`: invert pixels at or above int(256 m) (timm's Solarize: all of them at level 0);
- `timm-color`, `timm-contrast`, `timm-brightness`, `timm-sharpness`: PIL's enhance factor
  0.1 + 1.8 m, no random sign (timm's non-increasing Color, ...: 0.1 at level 0, 1.72 at 9);
- `desaturate`: Color factor 1 - (0.5 + 0.5 m) (timm's 3-Augment Desaturate: grayscale at 10);
- `timm-gaussian-blur`: sigma 0.1 + 1.9 m pixels (timm's GaussianBlur, PIL radius; OpenCV's
  Gaussian here, PIL's is a box approximation); `timm-gaussian-blur-rand`: sigma uniform in
  [0.1, 2 m] pixels per image (GaussianBlurRand).

None of them is drawn by a search by default (`searched=False`); most are not the identity at
magnitude 0, as in timm.
"""
from __future__ import annotations

import cv2
import numpy as np

from deepaug.ops._kernels import apply_luts, per_image
from deepaug.ops.color import brightness, color, contrast
from deepaug.ops.filters import sharpness
from deepaug.ops.registry import OpFn, register

_LEVELS = np.arange(256, dtype=np.int64)
_TIMM = {"searched": False, "zero_is_identity": False}
_ENHANCE = "factor - 1 (factor 0.1 + 1.8 * magnitude, no random sign)"


def _keep_bits(bits: int) -> np.ndarray:
    """PIL's posterize LUT: keep the `bits` high bits (0: black; 8 or more: unchanged)."""
    if bits >= 8:
        return _LEVELS.astype(np.uint8)
    return (_LEVELS & (0xFF & ~((1 << (8 - bits)) - 1))).astype(np.uint8)


@register("solarize-add", parameter="value added to pixels below 128 (int() of it)", high=110, searched=False)
def solarize_add(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a value to every pixel below 128, clipped at 255 (timm's SolarizeAdd)."""
    return apply_luts(x, params, lambda a: np.where(_LEVELS < 128, np.minimum(255, _LEVELS + int(a)),
                                                    _LEVELS).astype(np.uint8))


@register("timm-posterize", parameter="bits kept (int() of it)", high=4, **_TIMM)
def timm_posterize(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep int(4 m) high bits (timm's Posterize; none, a black image, at magnitude 0)."""
    return apply_luts(x, params, lambda p: _keep_bits(int(p)))


@register("timm-posterize-increasing", parameter="4 - bits kept (int() of it)", high=4, **_TIMM)
def timm_posterize_increasing(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep 4 - int(4 m) high bits (timm's PosterizeIncreasing; 4 at magnitude 0)."""
    return apply_luts(x, params, lambda p: _keep_bits(4 - int(p)))


@register("timm-posterize-original", parameter="bits kept - 4 (int() of it)", high=4, **_TIMM)
def timm_posterize_original(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep 4 + int(4 m) high bits (timm's PosterizeOriginal; unchanged at magnitude 1)."""
    return apply_luts(x, params, lambda p: _keep_bits(4 + int(p)))


@register("timm-solarize", parameter="threshold (int() of it) at or above which pixels are inverted",
          high=256, **_TIMM)
def timm_solarize(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert every pixel at or above int(256 m) (timm's Solarize; every pixel at magnitude 0)."""
    return apply_luts(x, params, lambda t: np.where(_LEVELS >= min(256, int(t)), 255 - _LEVELS,
                                                    _LEVELS).astype(np.uint8))


def _enhance(name: str, fn: OpFn) -> OpFn:
    """timm's non-increasing `name` (PIL's enhance at factor 0.1 + 1.8 m) as op timm-<name>."""
    def op(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return fn(x, params, rng)

    op.__doc__ = f"PIL's {name} at factor 0.1 + 1.8 m (timm's {name})."
    return register(f"timm-{name.lower()}", parameter=_ENHANCE, low=-0.9, high=0.9, **_TIMM)(op)


timm_color = _enhance("Color", color)
timm_contrast = _enhance("Contrast", contrast)
timm_brightness = _enhance("Brightness", brightness)
timm_sharpness = _enhance("Sharpness", sharpness)


@register("desaturate", parameter="1 - Color factor (0.5 + 0.5 * magnitude)", low=0.5, high=1.0, **_TIMM)
def desaturate(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend towards grayscale by 0.5 + 0.5 m (timm's 3-Augment Desaturate; gray at magnitude 1)."""
    return color(x, -params, rng)


def _blur(x: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    def one(img: np.ndarray, i: int) -> np.ndarray:
        if sigmas[i] <= 0:
            return img
        return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigmas[i]), borderType=cv2.BORDER_REFLECT_101)

    return per_image(x, one)


@register("timm-gaussian-blur", parameter="sigma in pixels (PIL's radius)", low=0.1, high=2.0, **_TIMM)
def timm_gaussian_blur(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of sigma 0.1 + 1.9 m pixels (timm's GaussianBlur)."""
    return _blur(x, params)


@register("timm-gaussian-blur-rand", parameter="half the largest sigma in pixels (sigma uniform in [0.1, 2 p])",
          high=1.0, **_TIMM)
def timm_gaussian_blur_rand(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of a sigma uniform in [0.1, 2 m] pixels per image (timm's GaussianBlurRand)."""
    return _blur(x, 0.1 + rng.random(x.shape[0]) * (2.0 * params - 0.1))
