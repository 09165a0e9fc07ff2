"""Pixel-value ops: LUT-based tone changes and colour adjustments.

Ops that need colour (hue, saturation) leave grayscale images unchanged: a gray
image has no hue and zero saturation, so the identity is what the op means there.
"""
from __future__ import annotations

import cv2
import numpy as np

from deepaug.ops._kernels import apply_channel_luts, apply_luts, blend, clip_u8, gray_levels, planes
from deepaug.ops.registry import register

_LEVELS = np.arange(256, dtype=np.float64)


@register("identity", uses_magnitude=False)
def identity(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Leave the image as it is."""
    return x.copy()


@register("invert", uses_magnitude=False)
def invert(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Negate every pixel value (255 - v)."""
    return np.subtract(np.uint8(255), x)


@register("brighten", parameter="value added to every pixel (0..255 scale)", high=64, signed=True)
def brighten(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a constant to every pixel, clipped to [0, 255]."""
    return apply_luts(x, params, lambda p: clip_u8(_LEVELS + p))


@register("brightness", parameter="factor - 1 (image multiplied by 1 + p)", high=0.9, signed=True)
def brightness(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply every pixel by a factor (PIL's Brightness), clipped."""
    return apply_luts(x, params, lambda p: clip_u8(_LEVELS * (1.0 + p)))


@register("gamma-contrast", parameter="log2 of gamma (gamma from 1/2 to 2)", high=1.0, signed=True)
def gamma_contrast(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma curve 255 * (v / 255) ** gamma."""
    return apply_luts(x, params, lambda p: clip_u8(255.0 * (_LEVELS / 255.0) ** (2.0 ** p)))


@register("solarize", parameter="threshold above which pixels are inverted", low=256, high=0)
def solarize(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert every pixel at or above a threshold."""
    return apply_luts(x, params, lambda t: np.where(_LEVELS >= t, 255 - _LEVELS, _LEVELS).astype(np.uint8))


@register("posterize", parameter="low bits dropped (rounded)", high=4)
def posterize(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep only the high bits of each pixel value."""
    def lut(p: float) -> np.ndarray:
        mask = 0xFF & ~((1 << int(round(p))) - 1)
        return (np.arange(256) & mask).astype(np.uint8)

    return apply_luts(x, params, lut)


@register("contrast", parameter="factor - 1 (blend with the mean gray level)", high=0.9, signed=True)
def contrast(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale the distance of each pixel from the image's mean gray level (PIL's Contrast)."""
    mean = gray_levels(x).mean(axis=(1, 2, 3), keepdims=True)
    return blend(x, mean, 1.0 + params)


@register("color", parameter="saturation factor - 1 (blend with grayscale)", high=0.9, signed=True)
def color(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale saturation by blending with the grayscale image (PIL's Color)."""
    if x.shape[-1] == 1:
        return x.copy()
    return blend(x, gray_levels(x), 1.0 + params)


@register("auto-contrast", uses_magnitude=False)
def auto_contrast(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stretch each channel of each image to the full 0..255 range (PIL's autocontrast)."""
    n, c = x.shape[0], x.shape[-1]
    flat = planes(x)
    lo = flat.min(axis=1).astype(np.float32).reshape(n, 1, c)
    hi = flat.max(axis=1).astype(np.float32).reshape(n, 1, c)
    span = hi - lo
    scale = np.where(span > 0, 255.0 / np.maximum(span, 1), 1.0)
    offset = np.where(span > 0, lo, 0.0)
    luts = clip_u8((np.arange(256, dtype=np.float32)[None, :, None] - offset) * scale)
    return apply_channel_luts(x, luts)


@register("equalize", uses_magnitude=False)
def equalize(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Histogram-equalize each channel of each image (PIL's equalize)."""
    n, h, w, c = x.shape
    flat = planes(x)
    offsets = (np.arange(n * c) * 256)[:, None]
    hist = np.bincount((flat + offsets).ravel(), minlength=n * c * 256).reshape(n * c, 256)
    # PIL: step = (count - count of the last used level) // 255; identity when step is 0.
    last = 255 - np.argmax(hist[:, ::-1] > 0, axis=1)
    step = (h * w - hist[np.arange(n * c), last]) // 255
    cum = np.concatenate([np.zeros((n * c, 1), np.int64), np.cumsum(hist, axis=1)[:, :-1]], axis=1)
    safe = np.maximum(step, 1)[:, None]
    luts = np.clip((cum + safe // 2) // safe, 0, 255)
    luts = np.where(step[:, None] > 0, luts, np.arange(256)[None, :]).astype(np.uint8)
    return apply_channel_luts(x, np.ascontiguousarray(luts.reshape(n, c, 256).transpose(0, 2, 1)))


@register("add-to-hue-and-saturation", parameter="degrees added to hue and levels added to saturation",
          high=45, signed=True)
def add_to_hue_and_saturation(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate hue and shift saturation by the same signed amount (imgaug's op)."""
    if x.shape[-1] == 1:
        return x.copy()
    n, h, w, _ = x.shape
    hsv = cv2.cvtColor(np.ascontiguousarray(x).reshape(n * h, w, 3), cv2.COLOR_RGB2HSV_FULL)
    hsv = hsv.reshape(n, h, w, 3).astype(np.int16)
    shift = params.reshape(n, 1, 1)
    hsv[..., 0] = (hsv[..., 0] + np.rint(shift * 256 / 360).astype(np.int16)) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] + np.rint(shift).astype(np.int16), 0, 255)
    rgb = cv2.cvtColor(hsv.astype(np.uint8).reshape(n * h, w, 3), cv2.COLOR_HSV2RGB_FULL)
    rgb = rgb.reshape(n, h, w, 3)
    # The HSV round trip is lossy; images whose shift is 0 stay exactly as they were.
    unchanged = params == 0
    rgb[unchanged] = x[unchanged]
    return rgb
