"""How far `to_albumentations` is from deepaug, op by op, on photos and on flat-background images.

For every op whose result is fixed once its parameter is (ops that draw positions or noise are left
out: crop, cutout, dropout, noise, fog, ...), at magnitudes 0.1, 0.3, 0.5, 0.8 and 1.0 and both
signs of a signed op, each image goes through deepaug's op and through its albumentations
translation (`deepaug.adapters.albumentations.BUILDERS`, the parameter fixed to deepaug's), and the
absolute pixel differences (0..255) of all images and magnitudes are pooled per op: their
maximum, 99th percentile and mean. Where the two libraries' angle conventions differ, the closer
of albumentations' two sign branches counts, image by image (as tests/policy/test_albumentations.py).

Images:
- photos: scikit-learn's two sample photos (china.jpg, flower.jpg), cut into 96x96 tiles; without
  scikit-learn, tests/_images.py's natural_batch (gradients, an edge, a blob);
- flat background: the first 200 Fashion-MNIST training images (deepaug.datasets, 28x28 gray on
  black) when its files are on this machine, else synthetic shapes on a flat background.

Run:  PYTHONPATH=. python bench/albumentations_tolerance.py [--markdown FILE]
Needs albumentations (the ``bench`` extra) and, for photos, scikit-learn.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # importing albumentations would ask PyPI

from deepaug import ops  # noqa: E402
from deepaug.adapters import albumentations as albu  # noqa: E402

MAGNITUDES = (0.1, 0.3, 0.5, 0.8, 1.0)
TILE = 96
FLAT_IMAGES = 200
RANDOM_DRAWS = {"crop", "cutout", "dropout", "coarse-dropout", "coarse-salt-pepper", "additive-gaussian-noise",
                "fog", "clouds", "timm-gaussian-blur-rand", "solarize-add", "identity"}


def photos() -> tuple[str, np.ndarray]:
    """96x96 RGB tiles of scikit-learn's sample photos, or tests/_images.py's natural batch."""
    try:
        from sklearn.datasets import load_sample_images  # optional: the photos ship with scikit-learn
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from _images import natural_batch  # the tests' natural-image helper
        return "natural_batch (tests/_images.py), 16 x 64x64 RGB", natural_batch(16, 64, 64, 3, seed=0)
    step = 2 * TILE
    tiles = [image[y:y + TILE, x:x + TILE] for image in load_sample_images().images
             for y in range(0, image.shape[0] - TILE + 1, step) for x in range(0, image.shape[1] - TILE + 1, step)]
    return f"scikit-learn's 2 sample photos, {len(tiles)} tiles of {TILE}x{TILE} RGB", np.stack(tiles)


def flat_images() -> tuple[str, np.ndarray]:
    """Fashion-MNIST's first training images if its files are here, else shapes on a flat background."""
    try:
        from deepaug import datasets
        images = datasets.load("fashion_mnist").images[:FLAT_IMAGES]
        return f"Fashion-MNIST, first {len(images)} training images, 28x28 gray", images
    except Exception as exc:  # noqa: BLE001  (no files here: fall back, say so)
        logging.getLogger(__name__).warning("Fashion-MNIST not loaded (%s): synthetic shapes instead", exc)
    rng = np.random.default_rng(0)
    out = np.zeros((64, 28, 28, 1), np.uint8)
    for image in out:
        y, x, h, w = rng.integers(3, 12, 4)
        image[y:y + h + 6, x:x + w + 6] = rng.integers(60, 256)
    return "synthetic shapes on black, 64 x 28x28 gray", out


def differences(name: str, x: np.ndarray) -> np.ndarray:
    """Absolute differences, deepaug vs albumentations, of op `name` over `x` at every magnitude."""
    A = albu._albumentations()
    spec, found = ops.get(name), []
    for magnitude in MAGNITUDES:
        value = albu.parameter(name, magnitude)
        signs = (1.0, -1.0) if spec.signed else (1.0,)
        ours = spec.fn(x, np.full(len(x), value), np.random.default_rng(0)).astype(np.int16)
        pipelines = []
        for sign in signs:
            transform = albu.BUILDERS[name](A, sign * value, sign * value, x.shape[1])
            transform.p = 1.0
            pipelines.append(A.Compose([transform], seed=0))
        for image, mine in zip(x, ours):
            # a copy each: albumentations 2.0.8's Equalize writes into a (H, W, 1) input
            theirs = [np.asarray(p(image=image.copy())["image"]).reshape(image.shape).astype(np.int16)
                      for p in pipelines]
            found.append(min((np.abs(t - mine) for t in theirs), key=lambda d: d.mean()).ravel())
    return np.concatenate(found)


def measure() -> tuple[list[str], list[tuple[str, list[float]]]]:
    sets = [photos(), flat_images()]
    rows = []
    names = [name for name in ops.names() if name in albu.BUILDERS and name not in RANDOM_DRAWS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            stats = []
            for _, images in sets:
                d = differences(name, images)
                stats += [float(d.max()), float(np.percentile(d, 99)), float(d.mean())]
            rows.append((name, stats))
    return [label for label, _ in sets], rows


def table(labels: list[str], rows: list[tuple[str, list[float]]]) -> str:
    lines = [f"Photos: {labels[0]}. Flat background: {labels[1]}.", "",
             "| op | photos max | photos p99 | photos mean | flat max | flat p99 | flat mean |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in rows:
        lines.append(f"| `{name}` | {s[0]:.0f} | {s[1]:.0f} | {s[2]:.2f} | {s[3]:.0f} | {s[4]:.0f} | {s[5]:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    text = table(*measure())
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
