"""Small, image-like uint8 batches for tests: smooth gradients, edges and a blob."""
from __future__ import annotations

import numpy as np


def natural_batch(n: int, h: int, w: int, c: int | None, seed: int = 0) -> np.ndarray:
    """n images (n, h, w[, c]) with gradients, an edge and a bright blob: not flat, not noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        blob = 180 * np.exp(-(((yy - cy) / (0.2 * h + 1)) ** 2 + ((xx - cx) / (0.2 * w + 1)) ** 2))
        base = 40 + 60 * xx / max(w - 1, 1) + 30 * (yy > h / 2)
        planes = [base + blob * rng.uniform(0.5, 1.0) + rng.normal(0, 4, (h, w)) for _ in range(c or 1)]
        images.append(np.stack(planes, axis=-1))
    out = np.clip(np.stack(images), 0, 255).astype(np.uint8)
    return out[..., 0] if c is None else out
