"""Noise and occlusion ops: pixel noise, dropouts, cutout, fog and clouds.

Sizes are fractions of the image, so one policy means the same thing at 32x32 and at
1024x1024. Dropped pixels and cutout patches are black.
"""
from __future__ import annotations

import numpy as np

from deepaug.ops._kernels import cell_mask, clip_u8, normal_quantiles, smooth_noise
from deepaug.ops.registry import register

_COARSE_CELLS = 8  # coarse ops work on an 8 x 8 grid of cells
_SALT_PEPPER_CELLS = 16


@register("additive-gaussian-noise", parameter="noise standard deviation (0..255 scale)", high=51)
def additive_gaussian_noise(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add independent Gaussian noise to every pixel and channel, clipped."""
    # Inverse-CDF sampling from a 65,536-quantile table: exact to 1/65,536 in
    # probability and several times faster than Generator.standard_normal.
    noise = normal_quantiles()[rng.integers(0, 65536, size=x.shape, dtype=np.uint16)]
    noise *= params.astype(np.float32).reshape(-1, 1, 1, 1)
    noise += x
    return clip_u8(noise)


@register("dropout", parameter="fraction of pixels set to black", high=0.3)
def dropout(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black out random single pixels (all channels)."""
    keep = rng.random(x.shape[:3], dtype=np.float32) >= params.astype(np.float32)[:, None, None]
    return x * keep[..., None].astype(np.uint8)


@register("coarse-dropout", parameter="fraction of 8x8-grid cells set to black", high=0.3)
def coarse_dropout(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black out random rectangular cells of an 8 x 8 grid."""
    n, h, w, _ = x.shape
    drop = cell_mask(rng, n, h, w, min(_COARSE_CELLS, h, w), params)
    return x * (~drop)[..., None].astype(np.uint8)


@register("coarse-salt-pepper", parameter="fraction of 16x16-grid cells set to black or white",
          high=0.3)
def coarse_salt_pepper(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Set random cells of a 16 x 16 grid to black or white."""
    n, h, w, _ = x.shape
    cells = min(_SALT_PEPPER_CELLS, h, w)
    hit = cell_mask(rng, n, h, w, cells, params)
    white = cell_mask(rng, n, h, w, cells, np.full(n, 0.5))
    out = x.copy()
    out[hit & white] = 255
    out[hit & ~white] = 0
    return out


@register("cutout", parameter="side of one black square, as a fraction of the shorter side", high=0.5)
def cutout(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black out one square at a random centre (it may hang over the edge)."""
    n, h, w, _ = x.shape
    half = np.rint(params * min(h, w)) / 2.0
    cy, cx = rng.random(n) * h, rng.random(n) * w
    rows = np.arange(h)[None, :] + 0.5
    cols = np.arange(w)[None, :] + 0.5
    in_rows = np.abs(rows - cy[:, None]) < half[:, None]
    in_cols = np.abs(cols - cx[:, None]) < half[:, None]
    patch = in_rows[:, :, None] & in_cols[:, None, :]
    return x * (~patch)[..., None].astype(np.uint8)


def _whiten(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return clip_u8(x.astype(np.float32) * (1 - a) + 255.0 * a)


@register("fog", parameter="peak opacity of a smooth white haze", high=0.7)
def fog(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend towards white through a smooth, low-frequency haze."""
    n, h, w, _ = x.shape
    haze = 0.5 + 0.5 * smooth_noise(rng, n, h, w, grid=4)
    return _whiten(x, haze * params.astype(np.float32)[:, None, None])


@register("clouds", parameter="peak opacity of white cloud patches", high=0.9)
def clouds(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend towards white in patchy, multi-scale clouds."""
    n, h, w, _ = x.shape
    field = (0.5 * smooth_noise(rng, n, h, w, grid=3) + 0.3 * smooth_noise(rng, n, h, w, grid=6)
             + 0.2 * smooth_noise(rng, n, h, w, grid=12))
    cover = np.clip((field - 0.45) * 4.0, 0.0, 1.0)
    return _whiten(x, cover * params.astype(np.float32)[:, None, None])
