"""Issue 12 pilot: batch-level mixing (CutMix, MixUp) on top of TrivialAugment.

Per-image policies tie TrivialAugment on reduced Fashion-MNIST (docs/benchmarks.md). This
asks whether mixing images *and labels* within a batch, after the per-image policy, is worth
adding to the search space: trained as the search's race trains (4,000 training images,
10,000 validation images from the rest, seed 0; basiccnn, Adam 1e-3, batch 64, 60 epochs;
the late reward over epochs 58-60; the search's 3 common seeds), validation only.

The model is basiccnn trained on one-hot labels with categorical cross-entropy (the same
loss as the search's sparse one on hard labels), so every candidate, the control included,
runs this script's loop. Candidates (``--only`` picks some):

- ``ta``: TrivialAugment, the control;
- ``ta_cutmix50``: TrivialAugment, then CutMix (box area ~ U(0, 1), Beta(1, 1)) on half the
  batches (CutMix's CIFAR setting);
- ``ta_mixup02``: TrivialAugment, then MixUp with lambda ~ Beta(0.2, 0.2) on every batch;
- ``ta_cutmix25``: TrivialAugment, then CutMix on a quarter of the batches.

Batch mixing draws from ``default_rng([seed, 2, step])``: paired across candidates like the
per-image stream. Each training is one JSON file in OUT (written whole); a rerun skips the
finished ones; ``--worker K --workers W`` splits the list across processes.

Run:  PYTHONPATH=. python bench/experiments/issue12_mixing_pilot.py OUT [--worker 0 --workers 2] [--report]
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from bench.experiments.issue12_pilot import cli
from deepaug import datasets
from deepaug.search.distribution_space import DistributionSpace
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.models import build_child_model
from deepaug.training.pipeline import eval_dataset, steps_per_epoch, train_dataset
from deepaug.training.rungs import crn_seeds
from deepaug.training.train import _validate, seed_everything

log = logging.getLogger("bench.experiments.issue12_mixing_pilot")
EPOCHS, LAST = 60, 3
# name -> (kind, probability per batch, Beta parameter)
CANDIDATES = {"ta": (None, 0.0, 0.0), "ta_cutmix50": ("cutmix", 0.5, 1.0),
              "ta_mixup02": ("mixup", 1.0, 0.2), "ta_cutmix25": ("cutmix", 0.25, 1.0)}


def mix(x: np.ndarray, y: np.ndarray, kind: str | None, p: float, alpha: float,
        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mix a batch (float images NHWC, one-hot labels) with a permutation of itself."""
    if kind is None or rng.random() >= p or len(x) < 2:
        return x, y
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(len(x))
    if kind == "mixup":
        return (lam * x + (1 - lam) * x[perm]).astype(np.float32), (lam * y + (1 - lam) * y[perm]).astype(np.float32)
    h, w = x.shape[1:3]
    ch, cw = int(round(h * np.sqrt(1 - lam))), int(round(w * np.sqrt(1 - lam)))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(0, cy - ch // 2), min(h, cy + ch - ch // 2)
    x0, x1 = max(0, cx - cw // 2), min(w, cx + cw - cw // 2)
    out = x.copy()
    out[:, y0:y1, x0:x1] = x[perm, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, (lam * y + (1 - lam) * y[perm]).astype(np.float32)


def train_one(train_set, val, policy, kind, p, alpha, seed: int) -> dict:
    import keras  # heavy: TensorFlow loads only when a training runs (not for --help or --report)
    import tensorflow as tf


    seed_everything(seed)
    classes = train_set.num_classes
    model = build_child_model("basiccnn", train_set.image_shape, classes, seed, 1e-3)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    steps = steps_per_epoch(len(train_set), 64)

    def mixed(step: np.int64, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        onehot = np.eye(classes, dtype=np.float32)[y]
        return mix(x, onehot, kind, p, alpha, np.random.default_rng([seed, 2, int(step)]))

    def fetch(step, xy):
        x, y = tf.numpy_function(mixed, [step, xy[0], xy[1]], (tf.float32, tf.float32), stateful=False)
        x.set_shape((None, *train_set.image_shape))
        y.set_shape((None, classes))
        return x, y

    ds = train_dataset(train_set.images, train_set.labels, policy, 64, seed, EPOCHS)
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(EPOCHS * steps), ds).map(fetch).prefetch(2)
    vds = eval_dataset(val.images, val.labels, 64)
    scores: list[float] = []

    class Late(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 > EPOCHS - LAST:
                scores.append(_validate(self.model, vds, val.labels)["val_accuracy"])

    start = time.perf_counter()
    model.fit(ds, epochs=EPOCHS, steps_per_epoch=steps, verbose=0, callbacks=[Late()])
    return {"reward": float(np.mean(scores)), "late": scores, "seconds": time.perf_counter() - start}


def train(out: Path, worker: int, workers: int, only: list[str]) -> None:
    train_set, val = datasets.split_train_val(datasets.load("fashion_mnist"), 4000, 10000, seed=0)
    ta = DistributionSpace(channels=1).trivialaugment()
    jobs = [(name, seed) for seed in crn_seeds(0, 3) for name in CANDIDATES if not only or name in only]
    for i, (name, seed) in enumerate(jobs):
        path = out / f"{name}_{seed}.json"
        if i % workers != worker or path.exists():
            continue
        run = train_one(train_set, val, ta, *CANDIDATES[name], seed)
        atomic_write_text(path, json.dumps({"name": name, "seed": seed, **run}))
        log.info("%s seed %d: reward %.4f in %.0f s", name, seed, run["reward"], run["seconds"])


def main(argv: list[str] | None = None) -> int:
    return cli(__doc__, train, argv, ("ta",))


if __name__ == "__main__":
    sys.exit(main())
