"""Shared building blocks of the ops: LUTs, per-image loops, blends, smooth noise."""
from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist
from typing import Callable

import cv2
import numpy as np

# Above this many distinct parameters a LUT op switches from grouped cv2.LUT calls to
# one gather with a LUT per image.
_MAX_LUT_GROUPS = 8


def apply_luts(x: np.ndarray, params: np.ndarray, make_lut: Callable[[float], np.ndarray]) -> np.ndarray:
    """Map each image through the 256-entry uint8 LUT `make_lut(param)`.

    Images that share a parameter (the common case: one magnitude, two signs) go
    through cv2.LUT together; otherwise each image gets its own LUT row.
    """
    uniq, inverse = np.unique(params, return_inverse=True)
    n = x.shape[0]
    if len(uniq) == 1:
        return _lut(x, make_lut(float(uniq[0])))
    if len(uniq) <= _MAX_LUT_GROUPS:
        out = np.empty_like(x)
        for k, value in enumerate(uniq):
            idx = np.flatnonzero(inverse == k)
            out[idx] = _lut(x[idx], make_lut(float(value)))
        return out
    luts = np.stack([make_lut(float(v)) for v in uniq])[inverse]  # (n, 256)
    flat = x.reshape(n, -1)
    return np.take_along_axis(luts, flat.astype(np.intp), axis=1).reshape(x.shape)


def _lut(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(x).reshape(-1, x.shape[-1] * x.shape[-2])
    return cv2.LUT(flat, lut).reshape(x.shape)


def planes(x: np.ndarray) -> np.ndarray:
    """(n * C, H * W) copy of a batch: one contiguous row per channel of each image."""
    n, h, w, c = x.shape
    return np.moveaxis(x, 3, 1).reshape(n * c, h * w)


def apply_channel_luts(x: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Map channel k of image i through luts[i, :, k]; luts is uint8 (n, 256, C)."""
    n, c = x.shape[0], x.shape[-1]
    out = np.empty_like(x)
    if c == 1:
        for i in range(n):
            out[i, ..., 0] = cv2.LUT(x[i, ..., 0], luts[i, :, 0])
    else:
        for i in range(n):
            out[i] = cv2.LUT(x[i], luts[i].reshape(1, 256, c))
    return out


def clip_u8(values: np.ndarray) -> np.ndarray:
    """Round half up and clip float values to uint8 (no wrap-around); may reuse `values`."""
    if values.dtype != np.float32:
        values = values.astype(np.float32)
    values += 0.5
    np.clip(values, 0.0, 255.0, out=values)
    return values.astype(np.uint8)


def per_image(x: np.ndarray, fn: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Run `fn(image_hwc, index)` image by image; restores a channel axis cv2 dropped."""
    out = np.empty_like(x)
    if x.shape[-1] == 1:
        flat = out[..., 0]
        for i in range(x.shape[0]):
            flat[i] = fn(x[i, ..., 0], i)
    else:
        for i in range(x.shape[0]):
            out[i] = fn(x[i], i)
    return out


def filter_images(x: np.ndarray, params: np.ndarray, make_kernel: Callable[[float], np.ndarray]) -> np.ndarray:
    """cv2.filter2D of each image with `make_kernel(param)` (edge replication, saturating)."""
    kernels = {float(p): make_kernel(float(p)) for p in np.unique(params)}
    return per_image(x, lambda img, i: cv2.filter2D(img, -1, kernels[float(params[i])],
                                                    borderType=cv2.BORDER_REPLICATE))


def blend(x: np.ndarray, other: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """PIL ImageEnhance semantics: other + factor * (x - other), per image, clipped."""
    f = factors.astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
    out = x.astype(np.float32)
    out -= other
    out *= f
    out += other
    return clip_u8(out)


def gray_levels(x: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) of each pixel as float32 (n, H, W, 1); grayscale passes through."""
    if x.shape[-1] == 1:
        return x.astype(np.float32)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (x.astype(np.float32) @ weights)[..., None]


@lru_cache(maxsize=1)
def normal_quantiles() -> np.ndarray:
    """65,536 equiprobable standard-normal quantiles: uint16 draws -> Gaussian noise."""
    dist = NormalDist()
    return np.array([dist.inv_cdf((k + 0.5) / 65536) for k in range(65536)], dtype=np.float32)


def _interp_matrix(size: int, grid: int) -> np.ndarray:
    """Bilinear weights (size, grid) that stretch `grid` control points over `size` pixels."""
    pos = (np.arange(size) + 0.5) * grid / size - 0.5
    pos = np.clip(pos, 0, grid - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, grid - 1)
    frac = pos - lo
    m = np.zeros((size, grid), dtype=np.float32)
    m[np.arange(size), lo] += 1 - frac
    m[np.arange(size), hi] += frac
    return m


def smooth_noise(rng: np.random.Generator, n: int, h: int, w: int, grid: int) -> np.ndarray:
    """Smooth random fields in [0, 1], (n, h, w) float32: a grid x grid lattice upsampled."""
    lattice = rng.random((n, grid, grid), dtype=np.float32)
    rows, cols = _interp_matrix(h, grid), _interp_matrix(w, grid)
    return np.matmul(np.matmul(rows, lattice), cols.T)


def cell_mask(rng: np.random.Generator, n: int, h: int, w: int, cells: int, fractions: np.ndarray) -> np.ndarray:
    """Boolean (n, h, w): each of cells x cells blocks is on with its image's fraction."""
    on = rng.random((n, cells, cells)) < fractions[:, None, None]
    ri = np.minimum(np.arange(h) * cells // h, cells - 1)
    ci = np.minimum(np.arange(w) * cells // w, cells - 1)
    return on[:, ri][:, :, ci]
