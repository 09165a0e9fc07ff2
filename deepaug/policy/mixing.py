"""The batch step of a distribution policy: CutMix and MixUp within a labelled batch.

Each image of a batch gets CutMix with probability `cutmix`, else MixUp with probability
`mixup`, never both (`cutmix + mixup <= 1`): one uniform draw u per image, CutMix where
u < cutmix, MixUp where cutmix <= u < cutmix + mixup. Its partner is another image of the
batch (uniform), taken as the per-image steps left it, before any mixing.

- CutMix (Yun et al., 2019): a box of the partner is pasted in, its area a fraction
  Beta(1, 1) (uniform, CutMix's alpha 1.0, also timm's and DeiT's `--cutmix 1.0`) of the
  image, centred at a uniform pixel and clipped to the image; the label weights mix by the
  pixels each image keeps.
- MixUp (Zhang et al., 2018): the image becomes lam * itself + (1 - lam) * its partner
  (rounded to uint8), lam ~ Beta(0.8, 0.8), and the label weights mix by lam. Alpha 0.8 is
  the DeiT recipe's `--mixup 0.8` (facebookresearch/deit main.py), which timm's recipes use.

Both alphas are fixed to these published values (no policy key): a search over them would
add dimensions without a published reason. timm's `Mixup` draws one lam and one choice per
batch by default (`--mixup-mode batch`); deepaug draws them per image (timm's "elem" mode),
so one batch mixes both ways. timm's `--mixup-prob 1.0 --mixup-switch-prob 0.5` (every image
mixed, half of them by CutMix) is `cutmix` 0.5 and `mixup` 0.5 here.

Draws, when `cutmix + mixup` > 0 and the batch has two images or more: u for every image,
then CutMix's partners, then MixUp's partners (only where an image got MixUp), then CutMix's
box areas and centre rows and columns, then MixUp's lams. A policy without MixUp draws
exactly what it drew before MixUp existed, so it gives the same bytes.
"""
from __future__ import annotations

import math

import numpy as np

CUTMIX_ALPHA = 1.0  # Yun et al. 2019; timm / DeiT --cutmix 1.0: the area fraction is Beta(1, 1), uniform
MIXUP_ALPHA = 0.8  # DeiT's --mixup 0.8 (facebookresearch/deit main.py), timm's recipe value

Pairs = tuple[np.ndarray, np.ndarray]


def mixing_groups(n: int, cutmix: float, mixup: float, rng: np.random.Generator) -> tuple[Pairs, Pairs]:
    """((CutMix images, their partners), (MixUp images, their partners)) of a batch of n; all
    empty, and nothing drawn, when no image can mix (both probabilities 0, or n < 2)."""
    none = np.empty(0, dtype=np.intp)
    if cutmix + mixup <= 0 or n < 2:
        return (none, none), (none, none)
    u = rng.random(n)
    cut = np.flatnonzero(u < cutmix)
    blend = np.flatnonzero((u >= cutmix) & (u < cutmix + mixup)) if mixup > 0 else none
    return (cut, _partners(cut, n, rng)), (blend, _partners(blend, n, rng))


def _partners(hit: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if not hit.size:
        return hit
    return (hit + rng.integers(1, n, size=hit.size)) % n  # any image but itself


def paste_boxes(out: np.ndarray, weights: np.ndarray, x: np.ndarray, labels: np.ndarray, pairs: Pairs,
                rng: np.random.Generator) -> None:
    """CutMix in place on `out` and `weights` for `pairs` (from `x` and `labels`, before mixing)."""
    hit, partner = pairs
    if not hit.size:
        return
    h, w = x.shape[1:3]
    area = rng.random(hit.size)  # Beta(1, 1)
    cy, cx = rng.integers(h, size=hit.size), rng.integers(w, size=hit.size)
    for i, j, a, r, c in zip(hit, partner, area, cy, cx):
        bh, bw = int(round(h * math.sqrt(a))), int(round(w * math.sqrt(a)))
        y0, y1 = max(0, r - bh // 2), min(h, r + bh - bh // 2)
        x0, x1 = max(0, c - bw // 2), min(w, c + bw - bw // 2)
        if y1 <= y0 or x1 <= x0:
            continue
        out[i, y0:y1, x0:x1] = x[j, y0:y1, x0:x1]
        pasted = (y1 - y0) * (x1 - x0) / (h * w)
        weights[i] = (1.0 - pasted) * weights[i] + pasted * np.asarray(labels[j], dtype=np.float32)


def blend(out: np.ndarray, weights: np.ndarray, x: np.ndarray, labels: np.ndarray, pairs: Pairs,
          rng: np.random.Generator) -> None:
    """MixUp in place on `out` and `weights` for `pairs` (from `x` and `labels`, before mixing)."""
    hit, partner = pairs
    if not hit.size:
        return
    lam = rng.beta(MIXUP_ALPHA, MIXUP_ALPHA, size=hit.size)
    shape = (-1,) + (1,) * (x.ndim - 1)
    mixed = lam.reshape(shape) * x[hit] + (1.0 - lam).reshape(shape) * x[partner]
    out[hit] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    own = lam.astype(np.float32)[:, None]
    weights[hit] = own * weights[hit] + (1.0 - own) * np.asarray(labels, dtype=np.float32)[partner]
