"""Issue 12 pilot: CutMix labelled by the content it moves, not by the box's area.

CutMix weights the label by the box's area. On images of an object on a plain background
(Fashion-MNIST: a garment on black) a box often moves only background: the label then says
"30% trouser" for an image with no trouser pixel in it, and a box that covers the object's
middle is labelled by area where most of the object went. SnapMix (Huang et al., 2021,
"SnapMix: Semantically Proportional Mixing") weights each label by the share of the image's
*semantic* mass kept, from class activation maps. This pilot tries the cheap version with no
model in the loop: an image's mass at a pixel is its distance from the image's background (the
median of its border pixels, per channel), and each label is weighted by the mass it
contributes to the mixed image. Where neither part has mass (a blank image) the area rule is
kept. Trained exactly as bench/experiments/issue12_finish_pilot.py trains (4,000 images, the search's
20,000 validation images, 60 epochs, bfloat16, the search's 3 common seeds; never the test
split). Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``cc50`` / ``cc100``: TrivialAugment, then CutMix on half / all of the images, boxes drawn
  as CutMix draws them, labels weighted by content.

Run:  PYTHONPATH=. python bench/experiments/issue12_contentmix_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from bench.experiments import issue12_finish_pilot as finish
from deepaug.policy.distribution import Distribution


def content_mass(x: np.ndarray) -> np.ndarray:
    """(N, H, W): each pixel's mean absolute distance, over channels, from its image's
    background (the per-channel median of the image's border pixels)."""
    x = x.astype(np.float32)
    border = np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)  # (N, P, C)
    background = np.median(border, axis=1)[:, None, None, :]
    return np.abs(x - background).mean(axis=-1)


def content_cutmix_type() -> type:
    """A Distribution whose batch step is CutMix with content-weighted labels."""
    @dataclasses.dataclass(frozen=True)
    class ContentCutMix(Distribution):
        def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            out, weights = x.copy(), np.asarray(labels, dtype=np.float32).copy()
            hit, partner = self.mixing_pairs(x.shape[0], rng)
            if not hit.size:
                return out, weights
            h, w = x.shape[1:3]
            mass = content_mass(x)
            area = rng.random(hit.size)
            cy, cx = rng.integers(h, size=hit.size), rng.integers(w, size=hit.size)
            for i, j, a, r, c in zip(hit, partner, area, cy, cx):
                bh, bw = int(round(h * math.sqrt(a))), int(round(w * math.sqrt(a)))
                y0, y1 = max(0, r - bh // 2), min(h, r + bh - bh // 2)
                x0, x1 = max(0, c - bw // 2), min(w, c + bw - bw // 2)
                if y1 <= y0 or x1 <= x0:
                    continue
                out[i, y0:y1, x0:x1] = x[j, y0:y1, x0:x1]
                pasted = float(mass[j, y0:y1, x0:x1].sum())
                kept = float(mass[i].sum() - mass[i, y0:y1, x0:x1].sum())
                share = pasted / (pasted + kept) if pasted + kept > 1e-6 else (y1 - y0) * (x1 - x0) / (h * w)
                weights[i] = (1.0 - share) * weights[i] + share * np.asarray(labels[j], dtype=np.float32)
            return out, weights

    return ContentCutMix


def candidates() -> dict[str, list[tuple[object, int]]]:
    return finish.mixing_candidates(content_cutmix_type, "cc")


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
