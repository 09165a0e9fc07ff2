"""Issue 12 pilot: ideas outside the distribution space, trained as the search's race trains.

Reduced Fashion-MNIST as in bench/configs/fashion_4000.yaml (4,000 stratified training
images, 10,000 validation images from the rest, seed 0; basiccnn, 60 epochs, the late
reward over epochs 58-60) on the search's 3 common seeds (`crn_seeds(0, 3)`), validation
only, never the test split. Candidates:

- ``ta`` / ``ra``: TrivialAugment and RandAugment(2, 9/30), the controls;
- ``ta_clean6`` / ``ra_clean6``: the same for 54 epochs, then 6 epochs without augmentation
  (continued from the checkpoint);
- ``ta_geo05``: TrivialAugment with the geometric ops (rotate, shear, translate) at half
  their magnitude (per-op scale 0.5);
- ``ta_cutmix50`` / ``ta_cutmix100``: TrivialAugment + CutMix on half / all of the images
  (distribution policies with `cutmix`, points of the search's space);
- ``ra_cutmix50``: RandAugment(2, 9/30) + CutMix on half the images;
- ``ta_erase50_cutmix50``: TrivialAugment + erasing 1/2 + CutMix 1/2.

Each training is one JSON file in OUT (written whole); a rerun skips the finished ones, and
``--worker K --workers W`` splits the list across processes. ``--report`` prints the table.

Run:  PYTHONPATH=. python bench/experiments/issue12_pilot.py OUT [--worker 0 --workers 2] [--only NAME ...] [--report]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from deepaug import datasets
from deepaug.policy.core import Policy
from deepaug.search.distribution_space import DistributionSpace
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.rungs import crn_seeds, train_to
from deepaug.training.train import TrainingConfig

log = logging.getLogger("bench.experiments.issue12_pilot")
GEOMETRIC = ("rotate", "shear", "translate-x", "translate-y")
EPOCHS, CLEAN = 60, 6


def candidates() -> dict[str, tuple[object, int]]:
    """name -> (policy, epochs trained without augmentation at the end)."""
    space = DistributionSpace(channels=1)
    ta, ra = space.trivialaugment(), space.randaugment()
    d = ta.distribution
    geo = Policy.from_distribution(dataclasses.replace(d, ops=tuple(
        dataclasses.replace(op, scale=0.5) if op.name in GEOMETRIC else op for op in d.ops)))
    def plus(policy: Policy, erasing: float = 0.0, cutmix: float = 0.0) -> Policy:
        return Policy.from_distribution(dataclasses.replace(policy.distribution, erasing=erasing, cutmix=cutmix))

    return {"ta": (ta, 0), "ra": (ra, 0), "ta_clean6": (ta, CLEAN), "ra_clean6": (ra, CLEAN), "ta_geo05": (geo, 0),
            "ta_cutmix50": (plus(ta, cutmix=0.5), 0), "ta_cutmix100": (plus(ta, cutmix=1.0), 0),
            "ra_cutmix50": (plus(ra, cutmix=0.5), 0), "ta_erase50_cutmix50": (plus(ta, 0.5, 0.5), 0)}


def train(out: Path, worker: int, workers: int, only: list[str] | None = None) -> None:
    config = TrainingConfig(child_epochs=EPOCHS, child_batch_size=64, opt_last_n_epochs=3)
    train_set, val = datasets.split_train_val(datasets.load("fashion_mnist"), 4000, 10000, seed=0)
    jobs = [(name, seed) for seed in crn_seeds(0, 3) for name in candidates() if not only or name in only]
    for i, (name, seed) in enumerate(jobs):
        path = out / f"{name}_{seed}.json"
        if i % workers != worker or path.exists():
            continue
        policy, clean = candidates()[name]
        if clean:
            checkpoint = out / "checkpoints" / f"{name}_{seed}.npz"
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            history = train_to(train_set, val, policy, config, seed, EPOCHS - clean, None, checkpoint)
            history = train_to(train_set, val, None, config, seed, EPOCHS, history, checkpoint)
        else:
            history = train_to(train_set, val, policy, config, seed, EPOCHS, None, None)
        atomic_write_text(path, json.dumps({"name": name, "seed": seed, "reward": history["reward"],
                                            "seconds": history["seconds"]}))
        log.info("%s seed %d: reward %.4f", name, seed, history["reward"])


def report(out: Path, controls: tuple[str, ...] = ("ta", "ra")) -> str:
    """The finished runs' table: per seed, mean, and the paired gain over each control present."""
    names = {"ta": "TrivialAugment", "ra": "RandAugment"}
    rows: dict[str, dict[int, float]] = {}
    for path in sorted(out.glob("*.json")):
        run = json.loads(path.read_text())
        rows.setdefault(run["name"], {})[int(run["seed"])] = float(run["reward"])
    controls = tuple(c for c in controls if c in rows)
    seeds = sorted(rows[controls[0]]) if controls else []
    lines = ["| candidate | validation accuracy % per seed | mean |" + "".join(f" vs {names[c]} |" for c in controls),
             "| --- | --- | ---: |" + " ---: |" * len(controls)]
    for name, by_seed in rows.items():
        if sorted(by_seed) != seeds or any(sorted(rows[c]) != seeds for c in controls):
            continue
        values = [100 * by_seed[s] for s in seeds]
        gains = [np.mean([100 * (by_seed[s] - rows[c][s]) for s in seeds]) for c in controls]
        lines.append(f"| {name} | {' / '.join(f'{v:.2f}' for v in values)} | {np.mean(values):.2f} |"
                     + "".join(f" {g:+.2f} |" for g in gains))
    return "\n".join(lines)


def cli(doc: str, train_runs: Callable[..., None], argv: list[str] | None, controls: tuple[str, ...],
        table: Callable[[Path, tuple[str, ...]], str] | None = None) -> int:
    """The pilots' command line: OUT [--worker K --workers W] [--only NAME ...] [--report];
    `table` prints the finished runs (default: `report`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder of the runs' JSON files")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=[], help="candidate names (default: all)")
    parser.add_argument("--report", action="store_true", help="only print the table of the finished runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        train_runs(args.out, args.worker, args.workers, args.only)
    print((table or report)(args.out, controls))
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(__doc__, train, argv, ("ta", "ra"))


if __name__ == "__main__":
    sys.exit(main())
