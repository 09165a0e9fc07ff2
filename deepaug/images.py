"""Validation and exact conversion of image batches.

deepaug works on uint8 batches shaped (N, H, W) or (N, H, W, C) with C in {1, 3}.
Internally every batch is (N, H, W, C); `as_nhwc` gives that view and a function that
puts the caller's shape back.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from deepaug.errors import ImageError

MIN_SIDE = 1
CHANNELS = (1, 3)


def check_batch(images: object, name: str = "images") -> np.ndarray:
    """Return `images` as a uint8 ndarray of rank 3 or 4, or raise ImageError.

    Refuses other dtypes rather than guessing a scale: see `to_uint8` for the
    conversions that are exact.
    """
    if not isinstance(images, np.ndarray):
        raise ImageError(
            f"{name} must be a numpy array, got {type(images).__name__}; "
            "pass np.asarray(your_images, dtype=np.uint8)"
        )
    if images.dtype != np.uint8:
        raise ImageError(
            f"{name} must have dtype uint8, got {images.dtype}; convert with "
            "deepaug.images.to_uint8(images), which accepts exact integer values in "
            "[0, 255] and floats in [0, 1] or [0, 255]"
        )
    if images.ndim not in (3, 4):
        raise ImageError(
            f"{name} must have shape (N, H, W) or (N, H, W, C), got shape {images.shape}; "
            "for a single image use images[None]"
        )
    if images.shape[0] == 0:
        raise ImageError(f"{name} is an empty batch (shape {images.shape}); pass at least one image")
    if images.shape[1] < MIN_SIDE or images.shape[2] < MIN_SIDE:
        raise ImageError(f"{name} has an empty image side (shape {images.shape})")
    if images.ndim == 4 and images.shape[3] not in CHANNELS:
        raise ImageError(
            f"{name} must have 1 or 3 channels in the last axis, got {images.shape[3]} "
            f"(shape {images.shape}); drop alpha with images[..., :3]"
        )
    return images


def as_nhwc(images: np.ndarray, name: str = "images") -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Validate a batch and return its (N, H, W, C) view plus a function restoring its rank."""
    images = check_batch(images, name)
    if images.ndim == 3:
        return images[..., None], lambda out: out[..., 0]
    return images, lambda out: out


def to_uint8(images: object, name: str = "images") -> np.ndarray:
    """Convert an image batch to uint8 when the conversion is exact, else raise ImageError.

    - uint8: returned as is.
    - bool: False -> 0, True -> 255.
    - other integer dtypes: accepted when every value is in [0, 255].
    - floats: accepted when finite and either every value is in [0, 1] and value*255 is
      an integer (to within 1e-3), or every value is an integer in [0, 255]. A float
      batch whose maximum is <= 1 is read as [0, 1]-scaled.
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ImageError(
                f"{name} has integer values outside [0, 255] (min {arr.min()}, max {arr.max()}); "
                "rescale them to 0..255 first"
            )
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size == 0:
            return arr.astype(np.uint8)
        if not np.isfinite(arr).all():
            raise ImageError(f"{name} contains NaN or infinite values; clean them before augmenting")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 255:
            raise ImageError(
                f"{name} has float values outside [0, 255] (min {lo:g}, max {hi:g}); "
                "deepaug expects pixel values in [0, 1] or [0, 255]"
            )
        scaled = arr * 255.0 if hi <= 1.0 else arr
        rounded = np.rint(scaled)
        if np.abs(scaled - rounded).max() > 1e-3:
            scale = "[0, 1]" if hi <= 1.0 else "[0, 255]"
            raise ImageError(
                f"{name} has float values in {scale} that are not whole 8-bit levels, so "
                "converting them to uint8 would lose information; quantize them yourself "
                "(e.g. np.rint(x * 255).astype(np.uint8)) if that loss is acceptable"
            )
        return rounded.astype(np.uint8)
    raise ImageError(f"{name} has dtype {arr.dtype}, which is not an image type; use uint8")
