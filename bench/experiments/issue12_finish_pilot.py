"""Issue 12 pilot: does finishing without CutMix add to TrivialAugment + CutMix 1/2?

The search's answer on reduced Fashion-MNIST, TrivialAugment + CutMix 1/2, gains about +0.57
over TrivialAugment on the training split's spare images and +0.31 on the test split
(docs/benchmarks.md), short of issue 12's +0.5 on test. Mixed images and mixed labels are
a training distribution far from the clean one the model is scored on; the literature
("refining" on clean or lightly augmented data for the last epochs: He et al. 2019, "Data
augmentation revisited"; Yu et al. 2021, "Mixup without hesitation") reports gains from
turning mixing off at the end. This asks whether that is worth a schedule knob in the
space, trained as the race trains: 4,000 training images and the search's 20,000
validation images from the rest (seed 0), basiccnn, Adam 1e-3, batch 64, 60 epochs, the late
reward over epochs 58-60, bfloat16, the search's 3 common seeds; validation only, never the
test split. Candidates (``--only`` picks some):

- ``ta``: TrivialAugment, the control;
- ``cm50``: TrivialAugment + CutMix 1/2 (the answer);
- ``cm50_ta10`` / ``cm50_ta20``: the answer for 50 / 40 epochs, then TrivialAugment alone
  (continued from the checkpoint: the same weights, optimizer state and data order);
- ``cm50_none6``: the answer for 54 epochs, then 6 without augmentation.

Each training is one JSON file in OUT with its reward and the per-image results of the
validated epochs (written whole); a rerun skips the finished ones. ``--report`` prints each
candidate's paired gain over ``ta`` and ``cm50`` with the race's interval (seeds and images).

Run:  PYTHONPATH=. python bench/experiments/issue12_finish_pilot.py OUT [--worker 0 --workers 1] [--only NAME ...]
      [--report]
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from bench.experiments.issue12_pilot import cli
from deepaug import datasets
from deepaug.policy.core import Policy
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.race import Gain
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.rungs import crn_seeds, late_correct, train_to
from deepaug.training.train import TrainingConfig

log = logging.getLogger("bench.experiments.issue12_finish_pilot")
EPOCHS, LAST_N, TRAIN, VAL = 60, 3, 4000, 20000


def candidates() -> dict[str, list[tuple[object, int]]]:
    """name -> phases, each (policy or None, the epoch it trains to)."""
    ta = DistributionSpace(channels=1).trivialaugment()
    cm50 = Policy.from_distribution(dataclasses.replace(ta.distribution, cutmix=0.5))
    return {"ta": [(ta, EPOCHS)], "cm50": [(cm50, EPOCHS)], "cm50_ta10": [(cm50, EPOCHS - 10), (ta, EPOCHS)],
            "cm50_ta20": [(cm50, EPOCHS - 20), (ta, EPOCHS)], "cm50_none6": [(cm50, EPOCHS - 6), (None, EPOCHS)]}


def train(out: Path, worker: int, workers: int, only: list[str] | None = None,
          table: Callable[[], dict[str, list[tuple[object, int]]]] = candidates) -> None:
    """Train `table()`'s candidates on the 3 seeds (this worker's share, skipping finished ones)."""
    config = TrainingConfig(child_epochs=EPOCHS, child_batch_size=64, opt_last_n_epochs=LAST_N,
                            precision="bfloat16")
    train_set, val = datasets.split_train_val(datasets.load("fashion_mnist"), TRAIN, VAL, seed=0)
    phases = table()
    jobs = [(name, seed) for seed in crn_seeds(0, 3) for name in phases if not only or name in only]
    for i, (name, seed) in enumerate(jobs):
        path = out / f"{name}_{seed}.json"
        if i % workers != worker or path.exists():
            continue
        checkpoint = out / "checkpoints" / f"{name}_{seed}.npz"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        history = None
        for policy, epochs in phases[name]:
            history = train_to(train_set, val, policy, config, seed, epochs, history, checkpoint)
        checkpoint.unlink(missing_ok=True)
        atomic_write_text(path, json.dumps({"name": name, "seed": seed, "reward": history["reward"],
                                            "seconds": history["seconds"],
                                            "val_correct": history["val_correct"][EPOCHS - LAST_N:]}))
        log.info("%s seed %d: reward %.4f", name, seed, history["reward"])


def report(out: Path, controls: tuple[str, ...] = ("ta", "cm50")) -> str:
    """Per candidate: the mean, and the paired gain over each control with the race's interval."""
    rewards: dict[str, dict[int, float]] = {}
    images: dict[str, dict[int, np.ndarray]] = {}
    for path in sorted(out.glob("*.json")):
        run = json.loads(path.read_text())
        seed = int(run["seed"])
        rewards.setdefault(run["name"], {})[seed] = float(run["reward"])
        history = {"val_correct": [None] * (EPOCHS - LAST_N) + run["val_correct"]}
        images.setdefault(run["name"], {})[seed] = late_correct(history, EPOCHS, LAST_N, VAL)
    controls = tuple(c for c in controls if c in rewards)
    lines = ["| candidate | validation % per seed | mean |" + "".join(f" vs {c} |" for c in controls),
             "| --- | --- | ---: |" + " ---: |" * len(controls)]
    for name, by_seed in rewards.items():
        seeds = sorted(by_seed)
        gains = [Gain.of(by_seed, rewards[c], images[name], images[c]) for c in controls]
        lines.append(f"| {name} | {' / '.join(f'{100 * by_seed[s]:.2f}' for s in seeds)} | "
                     f"{100 * np.mean([by_seed[s] for s in seeds]):.2f} |"
                     + "".join(" - |" if c == name or g is None else f" {g.mean:+.2f} [{g.low:+.2f}, {g.high:+.2f}] |"
                               for c, g in zip(controls, gains)))
    return "\n".join(lines)


def mixing_candidates(mix_type: Callable[[], type], prefix: str,
                      fractions: tuple[float, ...] = (0.5, 1.0)) -> dict[str, list[tuple[object, int]]]:
    """``ta`` and ``cm50``, and TrivialAugment followed by `mix_type()`'s batch step (a
    Distribution subclass whose `mix` replaces CutMix) on each fraction of the images, named
    `prefix` + the percentage."""
    table = candidates()
    ta = table["ta"][0][0].distribution
    fields = {f.name: getattr(ta, f.name) for f in dataclasses.fields(ta)}
    mix = mix_type()
    return {"ta": table["ta"], "cm50": table["cm50"],
            **{f"{prefix}{round(100 * p)}": [(Policy.from_distribution(mix(**{**fields, "cutmix": p})), EPOCHS)]
               for p in fractions}}


def pilot_main(doc: str, table: Callable[[], dict[str, list[tuple[object, int]]]], argv: list[str] | None) -> int:
    """The command line of a pilot trained as this one trains, reported against ``ta`` and ``cm50``."""
    return cli(doc, partial(train, table=table), argv, ("ta", "cm50"), report)


def main(argv: list[str] | None = None) -> int:
    return pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
