"""Issue 12 pilot: ResizeMix in place of CutMix after TrivialAugment.

CutMix pastes a box cut from another image, which on small images often holds none of that
image's object while the label still gives it the box's share. ResizeMix (Qin et al., 2020)
pastes the *whole* other image, shrunk to a random scale, so the pasted part always shows its
object; it is reported at or above CutMix on CIFAR and ImageNet. This asks whether it beats
the answer (TrivialAugment + CutMix 1/2) by enough to be worth a place in the space, trained
exactly as bench/experiments/issue12_finish_pilot.py trains (4,000 images, the search's 20,000 validation
images, 60 epochs, bfloat16, the search's 3 common seeds; validation only). Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``rm50`` / ``rm100``: TrivialAugment, then ResizeMix on half / all of the images: a partner
  image (another of the batch, uniform) resized to a side fraction ~ U(0.1, 0.8) of the
  image's (ResizeMix's range), pasted at a uniform position; the label weighted by the pixels
  kept, as CutMix's is.

Run:  PYTHONPATH=. python bench/experiments/issue12_resizemix_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import sys

import cv2
import numpy as np

from bench.experiments import issue12_finish_pilot as finish
from deepaug.policy.distribution import Distribution


def resize_mix_type() -> type:
    """A Distribution whose batch step is ResizeMix (its `cutmix` the probability per image)."""
    @dataclasses.dataclass(frozen=True)
    class ResizeMix(Distribution):
        def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            out, weights = x.copy(), np.asarray(labels, dtype=np.float32).copy()
            hit, partner = self.mixing_pairs(x.shape[0], rng)
            h, w = x.shape[1:3]
            scale = rng.uniform(0.1, 0.8, size=hit.size)
            for i, j, s in zip(hit, partner, scale):
                bh, bw = max(1, int(round(h * s))), max(1, int(round(w * s)))
                y0, x0 = int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1))
                small = cv2.resize(x[j], (bw, bh), interpolation=cv2.INTER_AREA).reshape(bh, bw, -1)
                out[i, y0:y0 + bh, x0:x0 + bw] = small
                pasted = bh * bw / (h * w)
                weights[i] = (1.0 - pasted) * weights[i] + pasted * np.asarray(labels[j], dtype=np.float32)
            return out, weights

    return ResizeMix


def candidates() -> dict[str, list[tuple[object, int]]]:
    return finish.mixing_candidates(resize_mix_type, "rm")


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
