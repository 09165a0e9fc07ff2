"""Issue 12 pilot: FMix in place of CutMix after TrivialAugment.

CutMix pastes a rectangle. FMix (Harris et al., 2020, "FMix: Enhancing Mixed Sample Data
Augmentation") pastes an irregular region: the pixels where a low-frequency random field
(Fourier noise with a 1/f^3 spectrum) is highest, as many as the mixing fraction asks. It
reports FMix above CutMix and MixUp on Fashion-MNIST among others. This asks whether it beats
the answer (TrivialAugment + CutMix 1/2) on validation, trained exactly as
bench/experiments/issue12_finish_pilot.py trains (4,000 images, the search's 20,000 validation images,
60 epochs, bfloat16, the search's 3 common seeds; never the test split). Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``fm50`` / ``fm100``: TrivialAugment, then FMix on half / all of the images: a partner (another
  image of the batch, uniform), a fraction ~ U(0, 1) (Beta(1, 1), FMix's default) of the
  pixels taken from it where the image's own field is highest, decay power 3; the label
  weighted by the pixels kept, as CutMix's is.

Run:  PYTHONPATH=. python bench/experiments/issue12_fmix_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np

from bench.experiments import issue12_finish_pilot as finish
from deepaug.policy.distribution import Distribution

DECAY = 3.0


def fourier_masks(rng: np.random.Generator, n: int, h: int, w: int, fractions: np.ndarray) -> np.ndarray:
    """Boolean (n, h, w): in mask i, the round(fractions[i] * h * w) pixels where a 1/f^DECAY
    random field is highest (FMix's masks)."""
    freq = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** DECAY
    spectrum = (rng.standard_normal((n, *freq.shape)) + 1j * rng.standard_normal((n, *freq.shape))) * scale
    field = np.fft.irfft2(spectrum, s=(h, w)).reshape(n, -1)
    rank = np.argsort(np.argsort(-field, axis=1, kind="stable"), axis=1, kind="stable")
    keep = np.rint(fractions * h * w).astype(int)
    return (rank < keep[:, None]).reshape(n, h, w)


def fmix_type() -> type:
    """A Distribution whose batch step is FMix (its `cutmix` the probability per image)."""
    @dataclasses.dataclass(frozen=True)
    class FMix(Distribution):
        def mix(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            out, weights = x.copy(), np.asarray(labels, dtype=np.float32).copy()
            hit, partner = self.mixing_pairs(x.shape[0], rng)
            if not hit.size:
                return out, weights
            h, w = x.shape[1:3]
            masks = fourier_masks(rng, hit.size, h, w, rng.random(hit.size))
            out[hit] = np.where(masks[..., None], x[partner], x[hit])
            pasted = masks.mean(axis=(1, 2)).astype(np.float32)[:, None]
            weights[hit] = (1.0 - pasted) * weights[hit] + pasted * weights[partner]
            return out, weights

    return FMix


def candidates() -> dict[str, list[tuple[object, int]]]:
    return finish.mixing_candidates(fmix_type, "fm")


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
