"""Geometric ops: crop (zoom), rotate, shears, translations and flips.

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
    return _shear(x, params, (0, 1))


def _shear(x: np.ndarray, params: np.ndarray, entry: tuple[int, int]) -> np.ndarray:
    """Shear about the centre: the identity with `params` at `entry` of the linear part."""
    linear = np.zeros((x.shape[0], 2, 2))
    linear[:, 0, 0] = 1
    linear[:, 1, 1] = 1
    linear[:, entry[0], entry[1]] = params
    return _warp(x, _about_centre(x, linear))


@register("shear-y", parameter="vertical shear factor", high=0.3, signed=True, searched=False)
def shear_y(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shear along y about the centre (AutoAugment's and timm's ShearY)."""
    return _shear(x, params, (1, 0))


def _shift(x: np.ndarray, shifts: np.ndarray, axis: int) -> np.ndarray:
    """Shift each image by a whole number of pixels along `axis` (1: rows, 2: columns)."""
    out = np.full_like(x, FILL)
    size = x.shape[axis]
    for d in np.unique(shifts):
        idx = np.flatnonzero(shifts == d)
        d = int(d)
        if abs(d) >= size:
            continue
        src = [slice(None)] * 4
        dst = [slice(None)] * 4
        src[0] = dst[0] = idx
        src[axis] = slice(0, size - d) if d >= 0 else slice(-d, size)
        dst[axis] = slice(d, size) if d >= 0 else slice(0, size + d)
        out[tuple(dst)] = x[tuple(src)]
    return out


@register("translate-x", parameter="shift as a fraction of the width (whole pixels)", high=0.45,
          signed=True)
def translate_x(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift left or right by whole pixels."""
    return _shift(x, np.rint(params * x.shape[2]), axis=2)


@register("translate-y", parameter="shift as a fraction of the height (whole pixels)", high=0.45,
          signed=True)
def translate_y(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift up or down by whole pixels."""
    return _shift(x, np.rint(params * x.shape[1]), axis=1)


@register("horizontal-flip", uses_magnitude=False)
def horizontal_flip(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror left-right (the op's probability says how often)."""
    n, h, w, c = x.shape
    # Stacked as one tall image, every row of every image mirrors in one OpenCV call.
    rows = np.ascontiguousarray(x).reshape(n * h, w, c)
    return cv2.flip(rows, 1).reshape(x.shape)


@register("vertical-flip", uses_magnitude=False)
def vertical_flip(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror top-bottom (the op's probability says how often)."""
    return np.ascontiguousarray(x[:, ::-1])
