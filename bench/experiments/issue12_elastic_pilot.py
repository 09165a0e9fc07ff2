"""Issue 12 pilot: an elastic (smooth, local) deformation among TrivialAugment's ops.

Every geometric op in the space is global: rotate, shear, translate, crop. Smooth local
deformation is the classic strong augmentation for small grayscale images (Simard et al.,
2003, on MNIST) and the one kind of geometry the space cannot express. This asks whether it
adds to the answer (TrivialAugment + CutMix 1/2) on validation, trained exactly as
bench/experiments/issue12_finish_pilot.py trains (4,000 images, the search's 20,000 validation images,
60 epochs, bfloat16, the search's 3 common seeds; never the test split). The op is
registered here, for the pilot only: each image gets a displacement field bilinearly
stretched from a 4 x 4 lattice of uniform offsets up to `magnitude * 0.1` of the shorter side
(at most 2.8 pixels on 28; adjacent lattice points never cross), pixels resampled
bilinearly, black from outside. Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``cm50_el1`` / ``cm50_el3``: the answer with ``elastic`` among its ops at weight 1 (1 image
  in 14 when one op is drawn) / weight 3 (3 in 16), magnitude uniform in [0, 1] like the rest.

Run:  PYTHONPATH=. python bench/experiments/issue12_elastic_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import sys

import cv2
import numpy as np

from bench.experiments import issue12_finish_pilot as finish
from deepaug import ops
from deepaug.ops._kernels import per_image, smooth_noise
from deepaug.policy.core import Policy
from deepaug.policy.distribution import WeightedOp

ELASTIC_HIGH, LATTICE = 0.1, 4


def register_elastic() -> None:
    """Register the pilot's `elastic` op (once per process)."""
    if "elastic" in ops.names():
        return

    @ops.register("elastic", parameter="largest displacement as a fraction of the shorter side",
                  high=ELASTIC_HIGH)
    def elastic(x: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Displace each pixel by a smooth random field (bilinear from a coarse lattice)."""
        n, h, w, _ = x.shape
        reach = (params * min(h, w)).astype(np.float32)[:, None, None]
        dx = (2.0 * smooth_noise(rng, n, h, w, grid=LATTICE) - 1.0) * reach
        dy = (2.0 * smooth_noise(rng, n, h, w, grid=LATTICE) - 1.0) * reach
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)

        def one(img: np.ndarray, i: int) -> np.ndarray:
            if params[i] == 0:
                return img
            return cv2.remap(img, cols + dx[i], rows + dy[i], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))

        return per_image(x, one)


def candidates() -> dict[str, list[tuple[object, int]]]:
    register_elastic()
    table = finish.candidates()
    cm50 = table["cm50"][0][0].distribution

    def with_elastic(weight: float) -> list[tuple[object, int]]:
        elastic_ops = cm50.ops + (WeightedOp("elastic", weight=weight),)
        return [(Policy.from_distribution(dataclasses.replace(cm50, ops=elastic_ops)), finish.EPOCHS)]

    return {"ta": table["ta"], "cm50": table["cm50"], "cm50_el1": with_elastic(1.0), "cm50_el3": with_elastic(3.0)}


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
