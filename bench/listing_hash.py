"""What keying a local input by content costs: `deepaug augment`'s input listing of a folder of
small PNGs (issue 38: the dataset id used size and mtime, which `cp -p`, `rsync -a` and `tar`
keep; it now hashes each image's bytes).

Writes FILES PNGs of SIDE x SIDE pixels (smooth gradients with noise, as photos compress) in 10
class folders under a temp folder, then times `deepaug.augmentation.inputs.list_input` on it
REPEATS times in this process (the files in the page cache after the first: the reuse case,
where the listing is all the work) and prints the best and median seconds and the MB listed.
Only a public call that older commits also have, so the same script measures before and after:
point PYTHONPATH at the checkout to measure.

Run:  PYTHONPATH=. python bench/listing_hash.py [FILES] [SIDE] [REPEATS]
"""
from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from deepaug.augmentation.inputs import list_input


def write_folder(root: Path, files: int, side: int) -> int:
    """`files` PNGs in 10 class folders; their total bytes."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 160, side, dtype=np.float32)
    total = 0
    for i in range(files):
        folder = root / f"class{i % 10}"
        folder.mkdir(exist_ok=True)
        base = ramp[None, :, None] + ramp[:, None, None] * rng.uniform(0, 0.5) + rng.uniform(0, 60, 3)
        image = np.clip(base + rng.normal(0, 6, (side, side, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:05d}.png"
        cv2.imwrite(str(path), image)
        total += path.stat().st_size
    return total


def main(files: int = 5000, side: int = 32, repeats: int = 5) -> None:
    logging.disable(logging.INFO)
    root = Path(tempfile.mkdtemp(prefix="deepaug-listing-"))
    try:
        size = write_folder(root, files, side)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            listing = list_input(str(root))
            seconds.append(time.perf_counter() - started)
        print(f"{len(listing)} PNGs of {side}x{side} ({size / 1e6:.1f} MB): list_input best {min(seconds):.3f} s, "
              f"median {statistics.median(seconds):.3f} s over {repeats}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
