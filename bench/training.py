"""Cost of the search objective on this machine: child training with on-the-fly augmentation.

What it measures, on synthetic CIFAR-like data (10 classes: a faint rectangle at one of
10 jittered positions over a random colour gradient, plus pixel noise; uint8, 32x32x3
by default):

(a) training throughput (images/s) of basiccnn on ``--n`` images with the built-in 5x2
    ``reference`` policy applied on the fly versus no augmentation (the same pipeline
    without the augment call): same model, data and process; each run trains one
    warm-up epoch (tracing, caches) and then ``--epochs`` timed epochs, without
    validation; modes alternate run by run. Images/s is reported as the best of the
    ``--repeats`` runs (each run: its timed images / its timed seconds) and for the
    median epoch of all runs; the ratio augmented / plain is the cost of augmenting on
    the fly (target >= 0.95). On a small shared VM epochs vary by +-5-10 %, more than
    the effect measured: the median is the steadier estimate, the augment-only time
    (single-threaded, outside TF) the physical bound.
(b) wall time and peak RSS (of a fresh subprocess per measurement: VmHWM from
    /proc/self/status, because Linux carries ``ru_maxrss`` over from the parent through
    fork + exec; ``ru_maxrss`` where /proc is missing) of one
    child training as a trial runs it (``--trial-epochs`` epochs, validation included),
    extrapolated to DeepAugment's default trial (child_epochs=50, opt_samples=3) as
    3 x (first epoch + 49 x median later epoch). ``--full-trial`` also runs that default
    trial for real (about 5 minutes on 2 cores).
(c) memory of the training data: the uint8 images are held once; DeepAugment
    materialised every image under each of its 5 sub-policies plus the original, as
    float32 (6x the data).

Run:  PYTHONPATH=. python bench/training.py [--n 2000] [--size 32] [--epochs 3]
                                            [--repeats 5] [--trial-epochs 5]
                                            [--full-trial] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import emit

log = logging.getLogger("bench.training")

REPO = Path(__file__).resolve().parents[1]
IMAGES = ("synthetic CIFAR-like: 10 classes = 10 jittered rectangle positions over random colour "
          "gradients + pixel noise (uint8)")


def make_data(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 images (n, size, size, 3) of 10 classes, learnable but not trivially.

    A class is a rectangle position (one of 10 cells) over a random colour field; colours,
    gradients, the rectangle's exact place and contrast vary per image, plus pixel noise.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, size, size, 3), np.uint8)
    for i, c in enumerate(labels):
        base = rng.uniform(40, 215, 3)
        field = base + 60 * (xx[..., None] - 0.5) * rng.uniform(-1, 1, 3) + 40 * (yy[..., None] - 0.5)
        top = (c // 5) * size // 2 + rng.integers(0, size // 4)
        left = (c % 5) * size // 5 + rng.integers(-size // 10, size // 10 + 1)
        top, left = max(top, 0), max(left, 0)
        field[top:top + size // 4, left:left + size // 5] += rng.choice([-1, 1]) * rng.uniform(60, 110)
        images[i] = np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def epoch_times(images: np.ndarray, labels: np.ndarray, policy: Any, epochs: int, seed: int) -> list[float]:
    """Seconds of each of `epochs` training epochs after one warm-up epoch (no validation)."""
    import keras

    from deepaug.training import train as training
    from deepaug.training.models import build_child_model

    training.seed_everything(seed)
    model = build_child_model("basiccnn", images.shape[1:], 10, seed)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.start)

    ds = training.train_dataset(images, labels, policy, 64, seed, epochs + 1)
    model.fit(ds, epochs=epochs + 1, steps_per_epoch=training.steps_per_epoch(len(images), 64),
              shuffle=False, verbose=0, callbacks=[Timer()])
    return times[1:]


def augment_only(images: np.ndarray, policy: Any, seed: int = 0) -> float:
    """Seconds to augment one epoch in batches of 64, single-threaded, outside TensorFlow."""
    from deepaug.policy.core import augment_nhwc

    start = time.perf_counter()
    for step, b in enumerate(range(0, len(images), 64)):
        augment_nhwc(policy, images[b:b + 64], np.random.default_rng([seed, 1, step]))
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (VmHWM; ru_maxrss without /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_measure(args: argparse.Namespace) -> None:
    """In a fresh process: one trial's worth of training; prints one JSON line."""
    start = time.perf_counter()
    import keras  # noqa: F401  (imports counted in startup, not in the trial)
    import tensorflow  # noqa: F401

    from deepaug.policy import builtin
    from deepaug.datasets import from_arrays, split_train_val
    from deepaug.training.train import TrainingConfig, run_trial

    images, labels = make_data(args.n + args.n // 4, args.size)
    train, val = split_train_val(from_arrays(images, labels), args.n, seed=0)
    config = TrainingConfig(child_epochs=args.child_epochs, opt_samples=args.child_samples)
    ready = time.perf_counter()
    result = run_trial(train, val, builtin.get("reference"), config, seed=0)
    done = time.perf_counter()
    print(json.dumps({
        "startup_s": ready - start, "trial_s": done - ready,
        "maxrss_mib": peak_rss_mib(),
        "epoch_seconds": [h["epoch_seconds"] for h in result.histories],
        "reward": result.reward, "train": len(train), "val": len(val),
    }))


def in_subprocess(args: argparse.Namespace, epochs: int, samples: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--n", str(args.n), "--size", str(args.size),
           "--child-epochs", str(epochs), "--child-samples", str(samples)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def idle_rss() -> float:
    """Peak RSS (MiB) of a fresh process that only imports tensorflow and keras."""
    code = "import tensorflow, keras; from bench.training import peak_rss_mib; print(peak_rss_mib())"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="training images (default 2000)")
    parser.add_argument("--size", type=int, default=32, help="image side (default 32)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per throughput run")
    parser.add_argument("--repeats", type=int, default=5, help="throughput runs per mode")
    parser.add_argument("--trial-epochs", type=int, default=5, help="epochs of the measured training")
    parser.add_argument("--no-trial", action="store_true", help="only measure throughput (a)")
    parser.add_argument("--full-trial", action="store_true", help="also run the default trial (3 x 50 epochs)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-epochs", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--child-samples", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_measure(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from deepaug.policy import builtin

    policy = builtin.get("reference")
    images, labels = make_data(args.n, args.size)
    rows: list[tuple[str, str]] = []

    times: dict[str, list[float]] = {"plain": [], "augmented": []}
    runs: dict[str, list[float]] = {"plain": [], "augmented": []}
    for r in range(args.repeats):
        for mode in (("plain", "augmented") if r % 2 == 0 else ("augmented", "plain")):
            run = epoch_times(images, labels, policy if mode == "augmented" else None, args.epochs, seed=r)
            log.info("repeat %d %s: epochs %s s", r, mode, " ".join(f"{t:.3f}" for t in run))
            times[mode] += run
            runs[mode].append(args.n * len(run) / sum(run))
    best = {mode: max(r) for mode, r in runs.items()}
    median = {mode: args.n / float(np.median(t)) for mode, t in times.items()}
    aug_s = min(augment_only(images, policy) for _ in range(3))
    rows += [
        ("training, no augmentation (images/s, best run / median epoch)",
         f"{best['plain']:.0f} / {median['plain']:.0f}"),
        ("training, reference 5x2 policy on the fly (images/s, best run / median epoch)",
         f"{best['augmented']:.0f} / {median['augmented']:.0f}"),
        ("ratio augmented / plain, best run / median epoch (target >= 0.95)",
         f"**{best['augmented'] / best['plain']:.3f}** / {median['augmented'] / median['plain']:.3f}"),
        ("augmenting one epoch alone, 1 thread (s)", f"{aug_s:.3f} ({aug_s * median['plain'] / args.n:.1%} "
                                                      "of a plain epoch)"),
    ]

    if args.no_trial:
        print("\n".join(f"| {name} | {value} |" for name, value in rows))
        return 0
    one = in_subprocess(args, args.trial_epochs, 1)
    epochs = one["epoch_seconds"][0]
    later = float(np.median(epochs[1:])) if len(epochs) > 1 else epochs[0]
    per_training = epochs[0] + 49 * later
    rows += [
        (f"one training as in a trial, {args.trial_epochs} epochs + validation ({one['train']} / "
         f"{one['val']} images), wall (s)", f"{one['trial_s']:.1f} (+ {one['startup_s']:.1f} s imports, data)"),
        ("  first epoch (tracing) / median later epoch (s)", f"{epochs[0]:.2f} / {later:.2f}"),
        ("  peak RSS of that process (MiB)", f"{one['maxrss_mib']:.0f} (python + TF alone: {idle_rss():.0f})"),
        ("default trial (50 epochs x 3 samples), extrapolated (min)", f"{3 * per_training / 60:.1f}"),
    ]
    if args.full_trial:
        full = in_subprocess(args, 50, 3)
        all_epochs = [t for run in full["epoch_seconds"] for t in run[1:]]
        rows += [("default trial (50 epochs x 3 samples), measured (min)",
                  f"{full['trial_s'] / 60:.1f} (median epoch {np.median(all_epochs):.2f} s, reward "
                  f"{full['reward']:.3f}, peak RSS {full['maxrss_mib']:.0f} MiB)")]
    held = images.nbytes
    materialised = args.n * 6 * int(np.prod(images.shape[1:])) * 4
    rows += [
        ("training images held once, uint8 (MiB)", f"{held / 2**20:.1f}"),
        ("DeepAugment-style float32 x 6 materialisation (MiB)", f"{materialised / 2**20:.1f} "
                                                                 f"({materialised / held:.0f}x)"),
    ]
    import tensorflow as tf

    text = "\n".join([
        f"{args.n} images of {args.size}x{args.size}x3, {IMAGES}; basiccnn, batch 64, Adam 1e-3; "
        f"{os.cpu_count()} CPU cores, {platform.machine()}, TF {tf.__version__}, no GPU used.",
        "",
        "| measurement | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ])
    emit(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
