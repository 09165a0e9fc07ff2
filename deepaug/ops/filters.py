"""Neighbourhood filters: blur, sharpen, emboss and PIL's sharpness."""
from __future__ import annotations

import cv2
import numpy as np

from deepaug.ops._kernels import filter_images, per_image
from deepaug.ops.registry import register

# imgaug's Sharpen(lightness=1) and Emboss(strength=1) kernels.
_SHARPEN = np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], dtype=np.float32)
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
# PIL's ImageFilter.SMOOTH, used by ImageEnhance.Sharpness.
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13.0
_DELTA = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)


def _mix(kernel: np.ndarray, weight: float) -> np.ndarray:
    """The kernel of (1 - weight) * image + weight * filtered: filtering is linear."""
    return ((1.0 - weight) * _DELTA + weight * kernel).astype(np.float32)


@register("gaussian-blur", parameter="sigma as a fraction of the shorter side", high=0.05)
def gaussian_blur(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur whose width scales with the image."""
    side = min(x.shape[1:3])

    def one(img: np.ndarray, i: int) -> np.ndarray:
        sigma = params[i] * side
        if sigma < 0.1:
            return img
        return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)

    return per_image(x, one)


@register("sharpen", parameter="blend weight of the sharpened image", high=1.0)
def sharpen(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend with a Laplacian-sharpened copy (imgaug's Sharpen)."""
    return filter_images(x, params, lambda a: _mix(_SHARPEN, a))


@register("emboss", parameter="blend weight of the embossed image", high=1.0)
def emboss(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend with an embossed copy (imgaug's Emboss)."""
    return filter_images(x, params, lambda a: _mix(_EMBOSS, a))


@register("sharpness", parameter="factor - 1 (blend with a smoothed copy)", high=0.9, signed=True)
def sharpness(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIL's Sharpness: >1 sharpens, <1 softens; the one-pixel border is kept."""
    # smooth + f * (x - smooth) is one linear filter: f * delta + (1 - f) * smooth.
    out = filter_images(x, params, lambda p: _mix(_SMOOTH, -p))
    # PIL leaves the one-pixel border untouched.
    out[:, 0], out[:, -1] = x[:, 0], x[:, -1]
    out[:, :, 0], out[:, :, -1] = x[:, :, 0], x[:, :, -1]
    return out
