"""Geometric ops: crop (zoom), rotate, shear, translations and flips.

Pixels that come in from outside the image are filled with FILL (black), bilinear
interpolation throughout. Every transform is about the image centre.
"""
from __future__ import annotations

import cv2
import numpy as np

from deepaug.ops._kernels import per_image
from deepaug.ops.registry import register

FILL = 0


def _warp(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Warp each image by its own 2x3 affine matrix (output pixel -> input pixel is inverse)."""
    h, w = x.shape[1:3]
    identity = np.all(matrices == np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), axis=(1, 2))
    border = (FILL,) * 4

    def one(img: np.ndarray, i: int) -> np.ndarray:
        if identity[i]:
            return img
        return cv2.warpAffine(img, matrices[i], (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    return per_image(x, one)


def _about_centre(x: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Affine matrices (n, 2, 3) applying `linear` (n, 2, 2) about the image centre."""
    h, w = x.shape[1:3]
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    shift = centre - np.einsum("nij,j->ni", linear, centre)
    return np.concatenate([linear, shift[:, :, None]], axis=2)


@register("crop", parameter="fraction of each side cut away, at a random position, then resized back",
          high=0.4)
def crop(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zoom in: a random window (1 - p) of each side, resized back to full size."""
    h, w = x.shape[1:3]
    keep = 1.0 - params
    scale = 1.0 / keep
    # Window origin, as a fraction of the side, uniform over where it fits.
    oy, ox = rng.random(x.shape[0]) * params, rng.random(x.shape[0]) * params
    n = x.shape[0]
    m = np.zeros((n, 2, 3))
    m[:, 0, 0] = scale
    m[:, 1, 1] = scale
    m[:, 0, 2] = -ox * w * scale + (scale - 1) * 0.5
    m[:, 1, 2] = -oy * h * scale + (scale - 1) * 0.5
    return _warp(x, m)


@register("rotate", parameter="angle in degrees", high=30, signed=True)
def rotate(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate about the centre."""
    theta = np.deg2rad(params)
    cos, sin = np.cos(theta), np.sin(theta)
    linear = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)
    return _warp(x, _about_centre(x, linear))


@register("shear", parameter="horizontal shear factor", high=0.3, signed=True)
def shear(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shear along x about the centre (AutoAugment's ShearX)."""
    linear = np.zeros((x.shape[0], 2, 2))
    linear[:, 0, 0] = 1
    linear[:, 1, 1] = 1
    linear[:, 0, 1] = params
    return _warp(x, _about_centre(x, linear))


def _translate(x: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    m = np.zeros((x.shape[0], 2, 3))
    m[:, 0, 0] = 1
    m[:, 1, 1] = 1
    m[:, 0, 2] = dx
    m[:, 1, 2] = dy
    return _warp(x, m)


@register("translate-x", parameter="shift as a fraction of the width", high=0.45, signed=True)
def translate_x(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift left or right."""
    return _translate(x, params * x.shape[2], np.zeros_like(params))


@register("translate-y", parameter="shift as a fraction of the height", high=0.45, signed=True)
def translate_y(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift up or down."""
    return _translate(x, np.zeros_like(params), params * x.shape[1])


@register("horizontal-flip", uses_magnitude=False)
def horizontal_flip(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror left-right (the op's probability says how often)."""
    return np.ascontiguousarray(x[:, :, ::-1])


@register("vertical-flip", uses_magnitude=False)
def vertical_flip(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror top-bottom (the op's probability says how often)."""
    return np.ascontiguousarray(x[:, ::-1])
