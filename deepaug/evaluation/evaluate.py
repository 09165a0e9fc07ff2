"""Evidence that a policy helps: the final comparison against standard baselines.

`evaluate(policies, dataset)` (CLI: `deepaug evaluate`) trains the same child model on the
same training images with every free recipe (no augmentation, flip + crop, RandAugment,
TrivialAugment, TrivialAugment + flip + crop, TrivialAugment + CutMix 1/2: `FREE_BASELINES`),
optionally a tuned RandAugment, and each given policy, `seeds`
times each, through one training loop (`training.train_and_score`), scoring every model once
on the test images: last-epoch test accuracy. It writes summary.csv, runs.csv, summary.md and
accuracy.png (and tuning.csv when tuning) to `reports/evaluations/<name>/`.

- Test images: a named dataset's own test split. An .npz file or a folder has one split,
  so a stratified `TEST_FRACTION` of it is held out as test with seed `TEST_SEED`, whatever
  `seed` is, and training images come from the rest. `test=` (a name, a path, a Dataset or
  (images, labels)) gives the test images instead, labelled with the training data's classes;
  arrays (`dataset=(images, labels)` or a Dataset) need it, since a search on arrays saw them
  all. Only deepaug.evaluation reads test images, and only to score final models (nothing is
  selected on them).
- Training images: a stratified subset of `train_size` drawn with `seed` (default: all).
- Seeds: training k of every method uses seed `seed + k`: the same initial weights and
  batch order for every method, so per-seed differences are paired.
- Baselines: the free recipes as the search's controls are (deepaug.search.controls), on
  grayscale images without the colour-only ops. A policy that is the same augmentation as a
  baseline (the search's answer when no candidate beat its best control; methods.same_as) gets
  that baseline's trainings, marked `same_as` in runs.csv, and the verdict "is X itself". A
  search's best policy is judged first against the free baseline its search named best on
  validation (verdict.json), never one chosen on the test scores.
- Interval: mean +- t(0.975, S - 1) * std / sqrt(S); a policy's paired difference from a
  baseline also counts the luck of the test images (deepaug.evaluation.summary).
- Search cost: for a policy file that came out of an experiment (its best_policy.json, or a
  `policies/<name>.json` equal to experiment <name>'s), the sum of its trial records' seconds
  (training time summed over trials: with W parallel workers the wall time is about 1/W of it).
- Tuned RandAugment (`tune_randaugment=True`, see deepaug.evaluation.tuned_randaugment): a grid of N x M
  trained on the same training images and scored on validation images drawn from the pool's
  other images by `split_train_val(pool, train_size, tune_val_size, seed)` (default size: the
  rest, at most 10,000), as a distribution search with that seed and size draws them; the best
  point is then evaluated like every other method, and the grid's seconds are its search cost.
  Needs `train_size` (images left over for validation).

>>> evaluate(["policies/my_search.json"], "fashion_mnist", epochs=60, seeds=3, train_size=4000)  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from deepaug import _moved
from deepaug.datasets import Dataset
from deepaug.errors import InputError
from deepaug.evaluation import methods as _methods
from deepaug.evaluation import split as _split
from deepaug.evaluation.methods import FREE_BASELINES, Method, methods_to_compare, same_as
from deepaug.evaluation.split import describe_data, load_for_model, split_pool
from deepaug.evaluation.store import EvaluationFolder, csv_text, definition
from deepaug.evaluation.summary import bar_chart, summarize, to_markdown, verdicts
from deepaug.evaluation.tuned_randaugment import TUNE_MAGNITUDES, TUNE_N, Tuning, describe, grid, tune
from deepaug.policy.baselines import RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N, RandAugment, for_channels
from deepaug.policy.core import Policy
from deepaug.storage.atomic import atomic_write_bytes, atomic_write_text
from deepaug.training import train as training
from deepaug.training.models import check_model_input
from deepaug.training.train import TrainingConfig

logger = logging.getLogger(__name__)

# names that lived in this module until it was split: old name -> the module that holds it now
_MOVED = {"baseline_methods": _methods.__name__, "find_search": _methods.__name__, "policy_method": _methods.__name__,
          "load_split": _split.__name__}


def __getattr__(name: str) -> Any:
    return _moved.names(__name__, name, _MOVED)


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` measured: one row per method, one run per method and seed."""

    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    verdicts: list[str]
    markdown: str
    out_dir: Path


def _count(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def compare(train: Dataset, test: Dataset, methods: Sequence[Method], config: "TrainingConfig", seeds: int,
            seed: int = 0, on_run: Callable[[list[dict[str, Any]]], None] | None = None,
            done: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Train every method with seeds seed..seed+seeds-1 (all methods per seed first) and score on `test`.

    `done` holds runs of an interrupted evaluation (same settings): those (method, seed) pairs
    are kept, not trained again. A method that is the same augmentation as an earlier one
    (`same_as`: a searched policy that is a free recipe) gets that one's run on each seed, marked
    `same_as`, not a training of its own: the same augmentation and seed train the same model."""
    runs: list[dict[str, Any]] = list(done)
    twins = same_as(methods)
    finished = {(r["method"], int(r["seed"])) for r in runs}
    to_train = sum(1 for s in range(seed, seed + seeds) for m in methods
                   if (m.name, s) not in finished and m.name not in twins)
    total, start, trained = len(methods) * seeds, time.perf_counter(), 0
    for s in range(seed, seed + seeds):
        for method in methods:
            if (method.name, s) in finished:
                continue
            twin = next((r for r in runs if r["method"] == twins.get(method.name) and int(r["seed"]) == s), None)
            if twin is not None:
                runs.append({**twin, "method": method.name, "same_as": twin["method"]})
                logger.info("[%d/%d] %s, seed %d: the same augmentation as %s, so the same model: its training, "
                            "not run again", len(runs), total, method.name, s, twin["method"])
            else:
                runs.append(_train_one(train, test, method, config, s))
                trained += 1
                left = (time.perf_counter() - start) / trained * max(0, to_train - trained)
                logger.info("[%d/%d] %s, seed %d: test accuracy %.4f, trained in %.0f s (about %.0f min left)",
                            len(runs), total, method.name, s, runs[-1]["test_accuracy"], runs[-1]["train_seconds"],
                            left / 60)
            if on_run is not None:
                on_run(runs)
    return runs


def _train_one(train: Dataset, test: Dataset, method: Method, config: "TrainingConfig", seed: int) -> dict[str, Any]:
    """One training of `method` on `seed`, scored once on `test`: its runs.csv row."""
    t0 = time.perf_counter()
    score, history = training.train_and_score(train, test, method.augmenter, config, seed)
    return {"method": method.name, "seed": seed, "test_accuracy": score["accuracy"], "test_loss": score["loss"],
            "train_accuracy": history["accuracy"][-1], "train_loss": history["loss"][-1],
            "train_seconds": history["seconds"], "test_seconds": time.perf_counter() - t0 - history["seconds"],
            "epochs": len(history["accuracy"]), "test_images": len(test), "test_correct": score["correct"]}


def tuning_grid(train_size: int | None, tune_seeds: int, tune_val_size: int | None, tune_n: Sequence[int],
                tune_magnitudes: Sequence[float], ops: Sequence[str] | None) -> list[RandAugment]:
    """The checked RandAugment grid of a tuned baseline; InputError before any work when it cannot run."""
    _count(tune_seeds, "tune_seeds")
    if tune_val_size is not None:
        _count(tune_val_size, "tune_val_size")
    if train_size is None:
        raise InputError("a tuned RandAugment needs validation images outside the training images: pass "
                         "train_size (a search's train_set_size, to compare with it) so the rest of the pool "
                         "can validate")
    return grid(tune_n, tune_magnitudes, ops)


def tuned_method(train: Dataset, val: Dataset, points: Sequence[RandAugment], config: "TrainingConfig",
                 tune_seeds: int, seed: int, folder: Path,
                 done: Sequence[dict[str, Any]] = ()) -> tuple[Method, Tuning]:
    """Tune RandAugment on validation images (saving tuning.csv as it goes); the best as a baseline method."""
    tuning = tune(train, val, points, config, tune_seeds, seed,
                  on_point=lambda rows: atomic_write_text(folder / "tuning.csv", csv_text(rows)), done=done)
    atomic_write_text(folder / "tuning.csv", csv_text(tuning.rows))
    return Method(f"tuned {tuning.best.name}", tuning.best, "baseline", "tuning.csv", tuning.seconds), tuning


def evaluate(policies: Sequence[str | os.PathLike[str] | Policy] = (),
             dataset: Any = "fashion_mnist", *, test: Any = None, model: str = "basiccnn", epochs: int = 60,
             seeds: int = 3, train_size: int | None = None, batch_size: int = 64, learning_rate: float = 1e-3,
             seed: int = 0, baselines: Sequence[str] = FREE_BASELINES,
             randaugment_n: int = RANDAUGMENT_N, randaugment_magnitude: float = RANDAUGMENT_MAGNITUDE,
             ops: Sequence[str] | None = None, data_dir: str | os.PathLike[str] | None = None,
             reports_dir: str | os.PathLike[str] = "reports", out_dir: str | os.PathLike[str] | None = None,
             name: str | None = None, tune_randaugment: bool = False, tune_seeds: int = 1,
             tune_val_size: int | None = None, tune_n: Sequence[int] = TUNE_N,
             tune_magnitudes: Sequence[float] = TUNE_MAGNITUDES,
             image_size: int | tuple[int, int] | None = None, precision: str = "float32") -> Evaluation:
    """Train `model` with each baseline and policy, `seeds` times; score on the test images (module docstring).

    `tune_randaugment`: also tune RandAugment over `tune_n` x `tune_magnitudes` (`tune_seeds`
    trainings per point, scored on `tune_val_size` validation images, default as in
    `split_train_val`; pass a search's validation size, seed and train_set_size to validate
    on its images) and evaluate the best point as the baseline "tuned RandAugment (N=.., M=..)".
    `dataset`: a named dataset, an .npz file, a folder, a deepaug.datasets.Dataset or an (images,
    labels) pair; `test`: the test images (the same kinds), required for arrays (module docstring).
    `image_size` (int or (h, w)) resizes training and test images; without it, a named dataset
    whose images are smaller than the named model takes (digits' 8x8 for basiccnn) is enlarged
    to the model's smallest size, with a log line. `precision` "bfloat16" trains a named model in
    mixed bfloat16 (`TrainingConfig.precision`). Every input problem raises InputError before
    any training.
    """
    seeds, epochs, seed = _count(seeds, "seeds"), _count(epochs, "epochs"), _count(seed, "seed", 0)
    train_size = None if train_size is None else _count(train_size, "train_size")

    def build(channels: int) -> tuple[list[RandAugment], list[Method]]:  # the grid and the methods, checked
        points = tuning_grid(train_size, tune_seeds, tune_val_size, tune_n, tune_magnitudes,
                             for_channels(ops, channels)) if tune_randaugment else []
        return points, methods_to_compare(policies, baselines, randaugment_n, randaugment_magnitude, ops,
                                          reports_dir, tuning=bool(points), channels=channels)

    points, methods = build(3)  # every input checked before the images load
    config = TrainingConfig(model=model, child_epochs=epochs, child_batch_size=batch_size, learning_rate=learning_rate,
                            precision=precision)
    pool, test, test_source, size = load_for_model(dataset, data_dir, image_size, test, model)
    if (channels := pool.image_shape[-1]) == 1:  # grayscale: the recipes without the colour-only ops, as the controls
        points, methods = build(1)
    train, val = split_pool(pool, train_size, seed, tune_val_size, bool(points))
    check_model_input(model, train.image_shape, train.num_classes)
    shown, label, folder = _where(dataset, methods, name, out_dir, reports_dir)
    settings = {"dataset": shown, "data_dir": data_dir, "test": test_source, "train_images": len(train),
                "subset_seed": seed, "model": config.model_name, "epochs": epochs, "batch_size": batch_size,
                "learning_rate": learning_rate, **({} if size is None else {"image_size": list(size)}),
                **({} if precision == "float32" else {"precision": precision})}
    about = _about(settings, train is pool, len(pool), len(test), seeds)
    store = EvaluationFolder(folder, settings)
    store.check()  # a folder holding another evaluation is refused before any work
    if val is not None:
        about += "\n\n" + _tune_into(store, methods, train, val, points, config, tune_seeds, seed,
                                     for_channels(ops, channels))
    else:
        store.save({m.name: definition(m.augmenter) for m in methods}, None)
    logger.info("evaluating %d methods x %d seeds into %s: %s", len(methods), seeds, folder, about)
    runs = compare(train, test, methods, config, seeds, seed,
                   on_run=lambda done: atomic_write_text(folder / "runs.csv", csv_text(done)),
                   done=store.runs({m.name: definition(m.augmenter) for m in methods}, range(seed, seed + seeds)))
    return _report(folder, label, runs, methods, about, len(train), epochs)


def _where(dataset: Any, methods: Sequence[Method], name: str | None, out_dir: str | os.PathLike[str] | None,
           reports_dir: str | os.PathLike[str]) -> tuple[str, str, Path]:
    """(the dataset as shown, the evaluation's label, its folder)."""
    shown = describe_data(dataset)
    label = name or "-".join([Path(shown.split(" (sha256")[0]).stem] + [m.name.removeprefix("policy ")
                                                         for m in methods if m.kind == "policy"])
    folder = Path(out_dir) if out_dir is not None else \
        Path(reports_dir) / "evaluations" / re.sub(r"[^\w.+-]", "_", label)
    return shown, label, folder


def _about(settings: dict[str, Any], whole: bool, pool_images: int, test_images: int, seeds: int) -> str:
    """The evaluation's settings in a sentence or two, the first lines of summary.md; `whole`: the
    training images are the whole pool."""
    s, size, precision = settings, settings.get("image_size"), settings.get("precision", "float32")
    subset = "all" if whole else f"stratified, seed {s['subset_seed']}"
    resized = "" if size is None else f", images resized to {size[0]}x{size[1]}"
    epochs, seed = s["epochs"], s["subset_seed"]
    return (f"Dataset {s['dataset']}: {s['train_images']} training images ({subset} of {pool_images}), "
            f"{test_images} test images ({s['test']}){resized}. "
            f"Model {s['model']}{'' if precision == 'float32' else f' in {precision}'}, "
            f"{epochs} epoch{'' if epochs == 1 else 's'}, batch {s['batch_size']}, Adam "
            f"{s['learning_rate']:g}, seeds {seed}..{seed + seeds - 1}; score: last-epoch test accuracy; augmentation "
            "fresh every epoch.")


def _tune_into(store: EvaluationFolder, methods: list[Method], train: Dataset, val: Dataset,
               points: Sequence[RandAugment], config: TrainingConfig, tune_seeds: int, seed: int,
               ops: Sequence[str] | None) -> str:
    """Tune RandAugment (resuming the folder's tuning.csv) and put the best point among `methods`, after
    the baselines; the paragraph that says how it was tuned. `ops`: the grid's ops as given (None: the default)."""
    settings = {"grid": [[p.n, p.magnitude] for p in points], "ops": list(ops or ()), "tune_seeds": tune_seeds,
                "validation_images": len(val)}
    store.save({m.name: definition(m.augmenter) for m in methods}, settings)
    logger.info("tuning RandAugment over %d grid points x %d seeds on %d validation images into %s",
                len(points), tune_seeds, len(val), store.folder)
    tuned, tuning = tuned_method(train, val, points, config, tune_seeds, seed, store.folder,
                                 store.tuning_rows(settings))
    methods.insert(sum(m.kind != "policy" for m in methods), tuned)  # after the baselines
    store.save({tuned.name: definition(tuned.augmenter)}, settings)
    return describe(tuning, train, val, seed)


def _report(folder: Path, label: str, runs: list[dict[str, Any]], methods: Sequence[Method], about: str,
            train_images: int, epochs: int) -> Evaluation:
    """Write summary.csv, summary.md and accuracy.png for the finished runs."""
    rows, lines = summarize(runs, methods), verdicts(runs, methods)
    markdown = f"# Evaluation {label}\n\n" + to_markdown(rows, lines, about)
    atomic_write_text(folder / "summary.csv", csv_text(rows))
    atomic_write_text(folder / "summary.md", markdown + "\n![test accuracy](accuracy.png)\n")
    title = f"{label}: {train_images} images, {epochs} epoch{'' if epochs == 1 else 's'}"
    atomic_write_bytes(folder / "accuracy.png", bar_chart(rows, title))
    return Evaluation(rows, runs, lines, markdown, folder)
