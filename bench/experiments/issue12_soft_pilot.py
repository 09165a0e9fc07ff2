"""Issue 12 pilot: softer targets, or milder ops, beside TrivialAugment + CutMix 1/2.

The content-label pilot (bench/experiments/issue12_contentmix_pilot.py) found CutMix's area labels better
than labels that follow the pixels moved, so softer targets may be part of what CutMix adds.
This asks three things of the answer (TrivialAugment + CutMix 1/2), trained exactly as
bench/experiments/issue12_finish_pilot.py trains (4,000 images, the search's 20,000 validation images, 60
epochs, bfloat16, the search's 3 common seeds; never the test split). Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``cm50_ls10``: the answer, every target then smoothed by 0.1 (label smoothing, 0.1 spread
  evenly over the classes): softer targets alone;
- ``cm50_mu25``: the answer, then MixUp (lambda ~ Beta(0.8, 0.8), timm's default, partner
  uniform in the batch) on a quarter of the images, mixed or not: softer targets from images;
- ``cm50_m50``: TrivialAugment's magnitudes in [0, 0.5] instead of [0, 1], with CutMix 1/2:
  does CutMix want milder per-image ops beside it?

Run:  PYTHONPATH=. python bench/experiments/issue12_soft_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np

from bench.experiments import issue12_finish_pilot as finish
from deepaug.policy.core import Policy
from deepaug.policy.distribution import Distribution

SMOOTHING, MIXUP_P, MIXUP_ALPHA = 0.1, 0.25, 0.8


def soft_types() -> tuple[type, type]:
    """Distribution subclasses whose batch step is CutMix, then label smoothing / MixUp."""
    @dataclasses.dataclass(frozen=True)
    class Smoothed(Distribution):
        def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            out, weights = super().mix(x, labels, rng)
            return out, (1.0 - SMOOTHING) * weights + np.float32(SMOOTHING / weights.shape[1])

    @dataclasses.dataclass(frozen=True)
    class ThenMixUp(Distribution):
        def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            out, weights = super().mix(x, labels, rng)
            n = out.shape[0]
            hit = np.flatnonzero(rng.random(n) < MIXUP_P) if n > 1 else np.empty(0, np.intp)
            if not hit.size:
                return out, weights
            partner = (hit + rng.integers(1, n, size=hit.size)) % n
            lam = rng.beta(MIXUP_ALPHA, MIXUP_ALPHA, size=hit.size).astype(np.float32)
            shape = (-1,) + (1,) * (out.ndim - 1)
            mixed = lam.reshape(shape) * out[hit].astype(np.float32) \
                + (1.0 - lam.reshape(shape)) * out[partner].astype(np.float32)
            new_weights = lam[:, None] * weights[hit] + (1.0 - lam[:, None]) * weights[partner]
            out, weights = out.copy(), weights.copy()
            out[hit] = np.clip(np.rint(mixed), 0, 255).astype(out.dtype)
            weights[hit] = new_weights
            return out, weights

    return Smoothed, ThenMixUp


def candidates() -> dict[str, list[tuple[object, int]]]:
    table = finish.candidates()
    cm50 = table["cm50"][0][0].distribution
    fields = {f.name: getattr(cm50, f.name) for f in dataclasses.fields(cm50)}
    smoothed, then_mixup = soft_types()
    return {"ta": table["ta"], "cm50": table["cm50"],
            "cm50_ls10": [(Policy.from_distribution(smoothed(**fields)), finish.EPOCHS)],
            "cm50_mu25": [(Policy.from_distribution(then_mixup(**fields)), finish.EPOCHS)],
            "cm50_m50": [(Policy.from_distribution(dataclasses.replace(cm50, magnitude=0.5)), finish.EPOCHS)]}


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
