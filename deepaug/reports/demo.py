"""The demo: a real dataset, a policy, and a PNG grid of originals beside augmented copies.

>>> from deepaug.reports.demo import run_demo
>>> run_demo("fashion_mnist", "reference", out="reports/demo/grid.png")   # doctest: +SKIP
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from deepaug import datasets
from deepaug.datasets import pick_examples
from deepaug.errors import InputError
from deepaug.policy.core import Policy, as_policy
from deepaug.storage.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

_TILE = 96  # small images are scaled up (nearest) to at least this many pixels
_GAP = 4
_HEADER = 22


def make_grid(originals: np.ndarray, variants: list[np.ndarray]) -> np.ndarray:
    """An RGB uint8 grid: one row per image, the original then each augmented variant."""
    n, h, w, c = originals.shape
    scale = max(1, math.ceil(_TILE / max(h, w)))
    th, tw = h * scale, w * scale
    columns = [originals, *variants]
    grid = np.full((_HEADER + n * (th + _GAP) + _GAP, len(columns) * (tw + _GAP) + _GAP, 3), 255, np.uint8)
    for j, col in enumerate(columns):
        x0 = _GAP + j * (tw + _GAP)
        title = "original" if j == 0 else f"augmented {j}"
        cv2.putText(grid, title, (x0, _HEADER - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for i in range(n):
            tile = cv2.resize(col[i], (tw, th), interpolation=cv2.INTER_NEAREST)
            if tile.ndim == 2 or tile.shape[-1] == 1:
                tile = np.repeat(tile.reshape(th, tw, 1), 3, axis=2)
            y0 = _HEADER + _GAP + i * (th + _GAP)
            grid[y0:y0 + th, x0:x0 + tw] = tile
    return grid


def run_demo(dataset: str = "fashion_mnist", policy: str | os.PathLike | Policy = "reference",
             out: str | os.PathLike = "reports/demo/grid.png", n_images: int = 8, variants: int = 4,
             seed: int = 0, data_dir: str | None = None) -> Path:
    """Load `dataset`, augment `n_images` of it `variants` times with `policy`, write a PNG grid."""

    if variants < 1:
        raise InputError(f"variants must be at least 1, got {variants}")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError(f"the demo writes a PNG; give --out a path ending in .png, got {out}")
    pol = policy if isinstance(policy, Policy) else as_policy(policy)
    data = datasets.load(dataset, data_dir=data_dir)
    log.info("loaded %s: %d images of %s, %d classes", data.name, len(data.images),
             data.images.shape[1:], data.num_classes)
    originals = data.images[pick_examples(data.labels, n_images)]
    rng = np.random.default_rng(seed)
    augmented = [pol.apply(originals, seed=rng) for _ in range(variants)]
    grid = make_grid(originals, augmented)
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the demo grid as PNG")
    atomic_write_bytes(out, png.tobytes())
    log.info("wrote %s (%d images x %d augmented variants)", out, len(originals), variants)
    return out
