"""Throughput of deepaug's ops and of a whole policy, against albumentations.

What it measures, all in one process on the same synthetic images:

* per op: images/s of ``deepaug.ops.get(name).run(batch, 0.5, rng)`` on the whole
  batch, and of the closest albumentations 2.x transform (p=1, parameters set to the
  same magnitude) called one image at a time through ``A.Compose``, which is how
  albumentations is used. Ops without a reasonable equivalent show "-".
* a whole 5x2 policy: ``Policy.apply`` on the batch versus ``policy.to_albumentations()``
  (``A.OneOf([A.Sequential([op1(p=p1), op2(p=p2)]), ...])``) applied per image.

Every timing is the best of ``--repeats`` runs; the ratio (deepaug / albumentations)
is what to compare across machines, not the absolute numbers.

Run:  PYTHONPATH=. python bench/augment.py [--n 10000] [--size 32] [--repeats 3]
                                           [--markdown FILE]
Needs albumentations (the ``bench`` extra: pip install "deepaug[bench]").
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import emit
from deepaug import Policy, ops
from deepaug.policy.albumentations import BUILDERS, op_transform

log = logging.getLogger("bench.augment")

IMAGES = "synthetic: smooth colour fields + one random rectangle (edges) + mild pixel noise"
MAGNITUDE = 0.5
# The benchmarked policy: only ops with an albumentations equivalent, p in 0.5..0.9.
POLICY = [
    [("rotate", 0.7, 0.4), ("solarize", 0.6, 0.5)],
    [("shear", 0.8, 0.5), ("equalize", 0.6, 0.0)],
    [("color", 0.6, 0.7), ("translate-y", 0.5, 0.4)],
    [("auto-contrast", 0.9, 0.0), ("posterize", 0.7, 0.5)],
    [("horizontal-flip", 0.5, 0.0), ("cutout", 0.8, 0.6)],
]

Factory = Callable[[float, int], Any]  # (magnitude, image side) -> albumentations transform
Row = tuple[str, float, "float | None"]


def _import_albumentations() -> Any:
    # Importing albumentations otherwise checks PyPI for a newer version (network).
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    try:
        import albumentations as A
    except ImportError:
        sys.exit("bench/augment.py needs albumentations: pip install 'deepaug[bench]' "
                 "(or pip install albumentations==2.0.8)")
    return A


def equivalents(A: Any) -> dict[str, Factory]:
    """deepaug op name -> albumentations transform at the same magnitude (p=1).

    The pairing is the package's one table (deepaug.policy.albumentations, which
    Policy.to_albumentations uses): a signed op is a OneOf of its two signs, as deepaug draws it.
    """
    return {name: (lambda m, s, name=name: op_transform(name, m, side=s)) for name in BUILDERS}


def make_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: smooth colour fields, a rectangle with hard edges, noise."""
    rng = np.random.default_rng(seed)
    grid = 4
    pos = np.clip((np.arange(size) + 0.5) * grid / size - 0.5, 0, grid - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, grid - 1)
    interp = np.zeros((size, grid), np.float32)
    interp[np.arange(size), lo] += 1 - (pos - lo)
    interp[np.arange(size), hi] += pos - lo
    lattice = rng.random((n, 3, grid, grid), dtype=np.float32) * 255
    img = np.moveaxis(interp @ lattice @ interp.T, 1, 3)  # (n, size, size, 3)
    corners = np.sort(rng.integers(0, size + 1, size=(n, 2, 2)), axis=2)
    idx = np.arange(size)
    rows = (idx >= corners[:, 0, :1]) & (idx < corners[:, 0, 1:])
    cols = (idx >= corners[:, 1, :1]) & (idx < corners[:, 1, 1:])
    rect = (rows[:, :, None] & cols[:, None, :])[..., None]
    img = np.where(rect, rng.random((n, 1, 1, 3), dtype=np.float32) * 255, img)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))  # C order, as loaded data is


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of `repeats` calls to `fn`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_image(pipeline: Any, images: np.ndarray) -> Callable[[], np.ndarray]:
    """A run of an albumentations pipeline over `images`, one image per call."""
    def loop() -> np.ndarray:
        out = np.empty_like(images)
        for i in range(images.shape[0]):
            out[i] = pipeline(image=images[i])["image"]
        return out

    return loop


def albu_policy(A: Any, table: dict[str, Factory], size: int) -> Any:
    """POLICY as albumentations (Policy.to_albumentations): one sub-policy per image, each op with its probability."""
    return Policy.from_list(POLICY).to_albumentations(size=size, seed=0)


def run(n: int, size: int, repeats: int) -> tuple[list[Row], tuple[float, float]]:
    """Time every op and the whole policy; rows are (op, deepaug img/s, albumentations img/s)."""
    A = _import_albumentations()
    table = equivalents(A)
    images = make_images(n, size)
    log.info("%d images %dx%d (%s); best of %d", n, size, size, IMAGES, repeats)
    rows: list[Row] = []
    for name in ops.names():
        spec = ops.get(name)
        spec.run(images[:64], MAGNITUDE, np.random.default_rng(0))  # warm-up (LUTs, caches)
        rng = np.random.default_rng(0)
        ours = n / best_of(repeats, lambda: spec.run(images, MAGNITUDE, rng))
        theirs = None
        if name in table:
            pipeline = A.Compose([table[name](MAGNITUDE, size)], seed=0)
            per_image(pipeline, images[:64])()
            theirs = n / best_of(repeats, per_image(pipeline, images))
        rows.append((name, ours, theirs))
        log.info("%-26s deepaug %9.0f img/s  albumentations %s", name, ours,
                 "-" if theirs is None else f"{theirs:9.0f} img/s")
    policy = Policy.from_list(POLICY)
    policy.apply(images[:64], seed=0)
    seeds = iter(range(repeats))
    ours = n / best_of(repeats, lambda: policy.apply(images, seed=next(seeds)))
    theirs = n / best_of(repeats, per_image(albu_policy(A, table, size), images))
    log.info("whole policy: deepaug %.0f img/s, albumentations %.0f img/s", ours, theirs)
    return rows, (ours, theirs)


def markdown(rows: list[Row], whole: tuple[float, float], n: int, size: int, repeats: int) -> str:
    """The results as a markdown table plus the policy and any op where deepaug is slower."""
    import albumentations

    lines = [
        f"{n} images, {size}x{size} RGB uint8 ({IMAGES}); magnitude {MAGNITUDE}, every op applied to "
        f"every image; best of {repeats}. deepaug: `ops.get(name).run(batch)`; albumentations "
        f"{albumentations.__version__}: `A.Compose([T(p=1)])` called per image. "
        "Ratio = deepaug / albumentations.",
        "",
        "| op | deepaug img/s | albumentations img/s | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ours, theirs in rows:
        if theirs is None:
            lines.append(f"| `{name}` | {ours:,.0f} | - | - |")
        else:
            lines.append(f"| `{name}` | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |")
    ours, theirs = whole
    lines.append(f"| **whole 5x2 policy** | **{ours:,.0f}** | **{theirs:,.0f}** | **{ours / theirs:.2f}x** |")
    lines += ["", "Policy (op probability magnitude): "
              + "; ".join(" -> ".join(f"{o} {p} {m}" for o, p, m in sub) for sub in POLICY) + "."]
    slower = [f"`{name}` ({o / t:.2f}x)" for name, o, t in rows if t is not None and o < t]
    lines += ["", f"deepaug is slower than albumentations on: {', '.join(slower)}." if slower
              else "deepaug is faster than albumentations on every op that has an equivalent."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of images (default 10000)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement; best is kept")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 8 or args.repeats < 1:
        parser.error("--n and --repeats must be >= 1 and --size >= 8")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    rows, whole = run(args.n, args.size, args.repeats)
    text = markdown(rows, whole, args.n, args.size, args.repeats)
    emit(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
