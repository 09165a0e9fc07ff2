"""Evidence that a policy helps: the final comparison against standard baselines.

`evaluate(policies, dataset)` (CLI: `deepaug evaluate`) trains the same child model on the
same training images with no augmentation, flip + crop, RandAugment, TrivialAugment,
TrivialAugment + flip + crop (optionally a tuned RandAugment) and each given policy, `seeds`
times each, through one training loop (`training.train_and_score`), scoring every model once
on the test images: last-epoch test accuracy. It writes summary.csv, runs.csv, summary.md and
accuracy.png (and tuning.csv when tuning) to `reports/evaluations/<name>/`.

- Test images: a named dataset's own test split. An .npz file or a folder has one split,
  so a stratified `TEST_FRACTION` of it is held out as test with seed `TEST_SEED`, whatever
  `seed` is, and training images come from the rest. `test=` (a name, a path, a Dataset or
  (images, labels)) gives the test images instead, labelled with the training data's classes;
  arrays (`dataset=(images, labels)` or a Dataset) need it, since a search on arrays saw them
  all. Only this module reads test images, and only to score final models (nothing is
  selected on them).
- Training images: a stratified subset of `train_size` drawn with `seed` (default: all).
- Seeds: training k of every method uses seed `seed + k`: the same initial weights and
  batch order for every method, so per-seed differences are paired.
- Interval: mean +- t(0.975, S - 1) * std / sqrt(S), std with ddof 1 (none for one seed).
  A policy's paired difference from a baseline (the verdict lines) also counts the luck of
  the test images: every run keeps which of its test_images test images it got right
  (runs.csv's test_correct, packed bits), and the interval counts both from the seeds x
  images table of paired differences (`deepaug.search.race.Gain`, as the race decides;
  `deepaug.stats.crossed_half_width`).
- Search cost: for a policy file that came out of an experiment (its best_policy.json, or a
  `policies/<name>.json` equal to experiment <name>'s), the sum of its trial records' seconds
  (training time summed over trials: with W parallel workers the wall time is about 1/W of it).
- Tuned RandAugment (`tune_randaugment=True`, see deepaug.evaluation.tuned_randaugment): a grid of N x M
  trained on the same training images and scored on validation images drawn from the pool's
  other images by `split_train_val(pool, train_size, tune_val_size, seed)` (default size: the
  rest, at most 10,000), as a distribution search with that seed and size draws them; the best point is then evaluated like every
  other method, and the grid's seconds are its search cost. Needs `train_size` (images left
  over for validation).

>>> evaluate(["policies/my_search.json"], "fashion_mnist", epochs=60, seeds=3, train_size=4000)  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from deepaug import datasets
from deepaug.datasets import TEST_FRACTION, TEST_SEED, Dataset, split_train_val
from deepaug.errors import InputError
from deepaug.evaluation.store import EvaluationFolder, definition
from deepaug.evaluation.tuned_randaugment import TUNE_MAGNITUDES, TUNE_N, Tuning, describe, grid, tune
from deepaug.images import check_size
from deepaug.policy import builtin
from deepaug.policy.baselines import BASELINES, RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N, RandAugment
from deepaug.policy.baselines import make as make_baselines
from deepaug.policy.core import Augmenter, Policy
from deepaug.search.experiment import Experiment
from deepaug.search.race import Gain
from deepaug.search.validation import MAX_VALIDATION
from deepaug.stats import t_interval
from deepaug.storage.atomic import atomic_write_bytes, atomic_write_text
from deepaug.training import train as training
from deepaug.training.models import check_model_input, dataset_fingerprint, fit_to_model
from deepaug.training.reward import read_correct
from deepaug.training.train import TrainingConfig

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.training.train import TrainingConfig

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Method:
    """One way of augmenting: a name, what augments (None: nothing), and its search cost if known."""

    name: str
    augmenter: Policy | Augmenter | None
    kind: str = "baseline"
    source: str | None = None
    search_seconds: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` measured: one row per method, one run per method and seed."""

    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    verdicts: list[str]
    markdown: str
    out_dir: Path


def baseline_methods(keys: Sequence[str] = BASELINES, randaugment_n: int = RANDAUGMENT_N,
                     randaugment_magnitude: float = RANDAUGMENT_MAGNITUDE,
                     ops: Sequence[str] | None = None) -> list[Method]:
    """The standard baselines by key (see `deepaug.policy.baselines.make`), as methods."""
    return [Method(name, augmenter) for name, augmenter in
            make_baselines(keys, randaugment_n, randaugment_magnitude, ops)]


def find_search(path: Path, policy: Policy, reports_dir: str | os.PathLike[str]) -> tuple[str | None, float | None]:
    """(experiment name, search seconds) of the experiment `path` came from, else (None, None)."""
    for folder in (path.resolve().parent, Path(reports_dir) / "experiments" / path.stem):
        experiment = Experiment(folder)
        try:
            records = experiment.records() if folder.is_dir() else []
            same = bool(records) and Policy.from_json(folder / "best_policy.json") == policy
        except InputError as exc:
            logger.debug("%s is not the search of %s (%s)", folder, path, exc)
            same = False
        if not same:
            continue
        seconds = float(sum(r.seconds for r in records))
        return folder.name, seconds
    return None, None


def policy_method(spec: str | os.PathLike[str] | Policy, reports_dir: str | os.PathLike[str] = "reports",
                  label: str | None = None) -> Method:
    """A policy file, built-in name or Policy as a method; PolicyError when it does not load."""
    if isinstance(spec, Policy):
        return Method(f"policy {label or 'given'}", spec, "policy")
    policy = builtin.resolve(spec)
    path = Path(spec)
    experiment, seconds = find_search(path, policy, reports_dir) if path.is_file() else (None, None)
    name = label or experiment or (path.stem if path.is_file() else str(spec))
    return Method(f"policy {name}", policy, "policy", str(spec), seconds)


def describe_data(data: Any) -> str:
    """How an evaluation names its data: the name or path as given, or arrays by fingerprint."""
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    if isinstance(data, Dataset):
        return f"{data.name} (sha256 {dataset_fingerprint(data.images, data.labels)[:16]})"
    return f"arrays (sha256 {dataset_fingerprint(np.asarray(data[0]), np.asarray(data[1]))[:16]})"


def _as_dataset(data: Any, what: str, data_dir: str | os.PathLike[str] | None,
                image_size: int | tuple[int, int] | None, split: str, like: Dataset | None = None) -> Dataset:
    """`data` (a name, a path, a Dataset or (images, labels)) loaded and resized, a named dataset's
    `split`; with `like`, labelled with its classes."""
    if isinstance(data, (str, os.PathLike)):
        named = datasets.named_key(data) is not None
        loaded = datasets.load(data, data_dir, **({"split": split} if named else {}), image_size=image_size)
        return loaded if like is None else datasets.align_classes(like, loaded, f"{what} labels")
    if isinstance(data, Dataset):
        aligned = data if like is None else datasets.align_classes(like, data, f"{what} labels")
        return datasets.resize(aligned, image_size)
    if isinstance(data, tuple) and len(data) == 2:
        arrays = datasets.from_arrays(*data, f"{what} images") if like is None \
            else datasets.from_arrays_like(like, *data, f"{what} images")
        return datasets.resize(arrays, image_size)
    raise InputError(f"{what} must be a dataset name, a path, a deepaug.datasets.Dataset or an (images, labels) "
                     f"pair, got {type(data).__name__}")


def load_split(dataset: Any, data_dir: str | os.PathLike[str] | None = None,
               image_size: int | tuple[int, int] | None = None, test: Any = None) -> tuple[Dataset, Dataset, str]:
    """(training pool, test images, where the test images come from), both resized to `image_size` when
    given; see the module docstring. `test` (a name, path, Dataset or (images, labels)) replaces the
    default test images, labelled with the pool's classes."""
    if test is not None:
        pool = _as_dataset(dataset, "dataset", data_dir, image_size, "train")
        given = _as_dataset(test, "test", data_dir, image_size, "test", like=pool)
        if given.image_shape != pool.image_shape:
            raise InputError(f"the test images are {given.image_shape} but the training images are "
                             f"{pool.image_shape}; give test images of the same channels, and of the same size "
                             "or an image_size for both")
        return pool, given, f"the test set given: {describe_data(test)}"
    if not isinstance(dataset, (str, os.PathLike)):
        raise InputError("evaluating on arrays needs test images the search never saw: pass test=(test_images, "
                         "test_labels) (DeepAugment(images, labels) searches on all the arrays it is given, so "
                         "none of them can be held out afterwards)")
    if datasets.named_key(dataset) is not None:
        return (datasets.load(dataset, data_dir, split="train", image_size=image_size),
                datasets.load(dataset, data_dir, split="test", image_size=image_size), "the dataset's own test split")
    data = datasets.load(dataset, data_dir, image_size=image_size)
    pool, held = datasets.hold_out_test(data)  # the images a search on this file never saw
    return pool, held, f"a stratified {TEST_FRACTION:.0%} of {data.name} held out with seed {TEST_SEED}"


def _count(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def compare(train: Dataset, test: Dataset, methods: Sequence[Method], config: "TrainingConfig", seeds: int,
            seed: int = 0, on_run: Callable[[list[dict[str, Any]]], None] | None = None,
            done: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Train every method with seeds seed..seed+seeds-1 (all methods per seed first) and score on `test`.

    `done` holds runs of an interrupted evaluation (same settings): those (method, seed) pairs
    are kept, not trained again."""

    runs: list[dict[str, Any]] = list(done)
    finished = {(r["method"], int(r["seed"])) for r in runs}
    total, start, trained = len(methods) * seeds, time.perf_counter(), 0
    for s in range(seed, seed + seeds):
        for method in methods:
            if (method.name, s) in finished:
                continue
            t0 = time.perf_counter()
            score, history = training.train_and_score(train, test, method.augmenter, config, s)
            runs.append({"method": method.name, "seed": s, "test_accuracy": score["accuracy"],
                         "test_loss": score["loss"], "train_accuracy": history["accuracy"][-1],
                         "train_loss": history["loss"][-1], "train_seconds": history["seconds"],
                         "test_seconds": time.perf_counter() - t0 - history["seconds"],
                         "epochs": len(history["accuracy"]), "test_images": len(test),
                         "test_correct": score["correct"]})
            trained += 1
            left = (time.perf_counter() - start) / trained * (total - len(runs))
            logger.info("[%d/%d] %s, seed %d: test accuracy %.4f, trained in %.0f s (about %.0f min left)",
                        len(runs), total, method.name, s, runs[-1]["test_accuracy"], history["seconds"], left / 60)
            if on_run is not None:
                on_run(runs)
    return runs


def _fractions(runs: Sequence[dict[str, Any]], name: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["test_accuracy"]) for r in runs if r["method"] == name}


def summarize(runs: Sequence[dict[str, Any]], methods: Sequence[Method]) -> list[dict[str, Any]]:
    """One row per method: test accuracy (%) mean, std, 95% interval (within 0 .. 100), training and
    search seconds."""
    rows = []
    for m in methods:
        acc = 100.0 * np.array(list(_fractions(runs, m.name).values()))
        secs = [r["train_seconds"] for r in runs if r["method"] == m.name]
        low, high = (float(v) for v in np.clip(t_interval(acc), 0.0, 100.0))  # an accuracy is a percentage
        rows.append({"method": m.name, "kind": m.kind, "seeds": len(acc),
                     "mean_accuracy": float(acc.mean()) if len(acc) else math.nan,
                     "std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan, "ci95_low": low, "ci95_high": high,
                     "train_seconds_mean": float(np.mean(secs)) if secs else math.nan,
                     "train_seconds_total": float(np.sum(secs)), "search_seconds": m.search_seconds,
                     "source": m.source})
    return rows


def _test_images(runs: Sequence[dict[str, Any]], name: str) -> dict[int, np.ndarray]:
    """{seed: per test image, 1.0 if the model got it right} for the runs that kept it (runs of
    an older deepaug did not; a run whose bits do not read is left out with a warning)."""
    out = {}
    for r in runs:
        if r["method"] != name or not r.get("test_correct") or not isinstance(r.get("test_images"), int):
            continue
        try:
            out[int(r["seed"])] = read_correct(str(r["test_correct"]), r["test_images"]).astype(np.float64)
        except (InputError, ValueError) as exc:
            logger.warning("%s, seed %s: cannot read which test images it got right (%s); its verdicts count the "
                           "seeds' luck only", name, r["seed"], exc)
    return out


def verdicts(runs: Sequence[dict[str, Any]], methods: Sequence[Method]) -> list[str]:
    """Plain sentences: did each policy beat each baseline, by how much (paired by seed).

    The 95% interval covers the luck of the seeds and, when every run kept which test images
    it got right, the luck of the test images too (the race's `Gain`, over the seeds x images
    table of paired differences as a crossed design), so that a
    gain called a win is unlikely to be the luck of the seeds or of the test images."""
    lines = []
    for p in (m for m in methods if m.kind == "policy"):
        for b in (m for m in methods if m.kind != "policy"):
            gain = Gain.of(_fractions(runs, p.name), _fractions(runs, b.name), _test_images(runs, p.name),
                           _test_images(runs, b.name))
            if gain is None:
                continue
            if math.isnan(gain.low):
                outcome, span = ("ahead of" if gain.mean > 0 else "behind"), "one seed, no interval"
            else:
                outcome = "beat" if gain.low > 0 else "lost to" if gain.high < 0 else "did not separate from"
                over = f"seeds and the {gain.images} test images" if gain.images else "seeds"
                span = f"95% interval of the paired difference over {over} {gain.low:+.2f} to {gain.high:+.2f}"
            lines.append(f"{p.name} {outcome} {b.name}: {gain.mean:+.2f} points ({span}; {gain.seeds} seeds)")
    return lines


def _fmt(value: Any, spec: str, missing: str = "-") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def to_markdown(rows: Sequence[dict[str, Any]], lines: Sequence[str], about: str) -> str:
    """`about`, the table of `summarize` rows, then the verdicts. Search cost: a searched policy's search
    seconds or a tuned baseline's tuning seconds; "unknown" for another policy, "-" for a fixed baseline."""
    out = [about, "", "| method | test accuracy % (mean +- std) | 95% interval | seeds | training s / run "
                      "| search cost |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["search_seconds"] is not None:  # a searched policy's search or a tuned baseline's tuning
            search = _fmt(r["search_seconds"], ".0f") + " s"
        else:
            search = "unknown" if r["kind"] == "policy" else "-"
        interval = f"{_fmt(r['ci95_low'], '.2f')} .. {_fmt(r['ci95_high'], '.2f')}"
        out.append(f"| {r['method']} | {_fmt(r['mean_accuracy'], '.2f')} +- {_fmt(r['std'], '.2f')} | {interval} | "
                   f"{r['seeds']} | {_fmt(r['train_seconds_mean'], '.0f')} | {search} |")
    return "\n".join(out + [""] + [f"- {line}" for line in lines]) + "\n"


def bar_chart(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    """Horizontal bars of mean test accuracy with 95% intervals; policies in blue, baselines gray."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2 + 0.5 * len(rows)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    means = np.array([r["mean_accuracy"] for r in rows])
    low = np.nan_to_num(means - np.array([r["ci95_low"] for r in rows]))
    high = np.nan_to_num(np.array([r["ci95_high"] for r in rows]) - means)
    y = np.arange(len(rows))[::-1]
    ax.barh(y, means, xerr=[low, high], capsize=4,
            color=["tab:blue" if r["kind"] == "policy" else "0.6" for r in rows])
    ax.set_yticks(y, [r["method"] for r in rows])
    finite = np.concatenate([means - low, means + high])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        span = max(float(finite.max() - finite.min()), 0.5)
        ax.set_xlim(max(0.0, finite.min() - 0.3 * span), min(100.0, finite.max() + 0.3 * span))
    for yi, m in zip(y, means):
        ax.annotate(f"{m:.2f}", (m, yi), xytext=(4, 6), textcoords="offset points", fontsize=8)
    ax.set_xlabel("test accuracy % (mean, 95% interval; the axis does not start at 0)")
    ax.set_title(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:  # every row's columns (runs resumed from an older evaluation lack test_correct)
        writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for row in rows for k in row)),
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


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


def split_pool(pool: Dataset, train_size: int | None, seed: int,
               tune_val_size: int | None = None, tuning: bool = False) -> tuple[Dataset, Dataset | None]:
    """(training images, validation images for tuning or None); the training images do not depend on tuning."""
    if train_size is not None and train_size > len(pool):
        raise InputError(f"train_size={train_size} is more than the {len(pool)} training images of {pool.name!r}; "
                         f"pass train_size <= {len(pool)}")
    if not tuning:
        return (pool if train_size in (None, len(pool)) else split_train_val(pool, train_size, seed=seed)[0]), None
    if train_size is None or train_size == len(pool):
        raise InputError(f"train_size={train_size} takes all the {len(pool)} training images of {pool.name!r}: a "
                         f"tuned RandAugment needs some left over for validation; pass train_size < {len(pool)}")
    left = len(pool) - train_size
    if tune_val_size is not None and tune_val_size > left:
        raise InputError(f"tune_val_size={tune_val_size} is more than the {left} images of {pool.name!r} left "
                         f"after train_size={train_size}; pass tune_val_size <= {left} or a smaller train_size")
    if tune_val_size is None:  # the distribution search's default: the rest of the pool, at most 10,000

        tune_val_size = min(left, MAX_VALIDATION)
    return split_train_val(pool, train_size, val_size=tune_val_size, seed=seed)


def tuned_method(train: Dataset, val: Dataset, points: Sequence[RandAugment], config: "TrainingConfig",
                 tune_seeds: int, seed: int, folder: Path,
                 done: Sequence[dict[str, Any]] = ()) -> tuple[Method, Tuning]:
    """Tune RandAugment on validation images (saving tuning.csv as it goes); the best as a baseline method."""
    tuning = tune(train, val, points, config, tune_seeds, seed,
                  on_point=lambda rows: atomic_write_text(folder / "tuning.csv", _csv(rows)), done=done)
    atomic_write_text(folder / "tuning.csv", _csv(tuning.rows))
    return Method(f"tuned {tuning.best.name}", tuning.best, "baseline", "tuning.csv", tuning.seconds), tuning


def evaluate(policies: Sequence[str | os.PathLike[str] | Policy] = (),
             dataset: Any = "fashion_mnist", *, test: Any = None, model: str = "basiccnn", epochs: int = 60,
             seeds: int = 3, train_size: int | None = None, batch_size: int = 64, learning_rate: float = 1e-3,
             seed: int = 0, baselines: Sequence[str] = BASELINES,
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
    if train_size is not None:
        train_size = _count(train_size, "train_size")
    points = tuning_grid(train_size, tune_seeds, tune_val_size, tune_n, tune_magnitudes, ops) \
        if tune_randaugment else []
    config = TrainingConfig(model=model, child_epochs=epochs, child_batch_size=batch_size, learning_rate=learning_rate,
                            precision=precision)
    if isinstance(policies, (str, os.PathLike, Policy)):
        policies = [policies]
    methods = baseline_methods(baselines, randaugment_n, randaugment_magnitude, ops)
    n_baselines = len(methods)
    methods += [policy_method(p, reports_dir, None if not isinstance(p, Policy) else str(i + 1))
                for i, p in enumerate(policies)]
    if not methods and not points:
        raise InputError("nothing to evaluate: give a policy, keep at least one baseline or tune RandAugment")
    if len({m.name for m in methods}) != len(methods):
        raise InputError(f"two methods have the same name: {[m.name for m in methods]}; give distinct policies")
    size = check_size(image_size)
    pool, test, test_source = load_split(dataset, data_dir, size, test)
    if size is None and isinstance(dataset, (str, os.PathLike)) and datasets.named_key(dataset) is not None:
        fitted = fit_to_model(pool, model)
        if fitted is not pool:
            pool, test, size = fitted, fit_to_model(test, model), fitted.image_shape[:2]
    train, val = split_pool(pool, train_size, seed, tune_val_size, bool(points))
    check_model_input(model, train.image_shape, train.num_classes)
    shown = describe_data(dataset)
    label = name or "-".join([Path(shown.split(" (sha256")[0]).stem] + [m.name.removeprefix("policy ")
                                                         for m in methods if m.kind == "policy"])
    folder = Path(out_dir) if out_dir is not None else \
        Path(reports_dir) / "evaluations" / re.sub(r"[^\w.+-]", "_", label)
    subset = "all" if train is pool else f"stratified, seed {seed}"
    about = (f"Dataset {shown}: {len(train)} training images ({subset} of {len(pool)}), {len(test)} test images "
             f"({test_source}){'' if size is None else f', images resized to {size[0]}x{size[1]}'}. "
             f"Model {config.model_name}{'' if precision == 'float32' else f' in {precision}'}, "
             f"{epochs} epoch{'' if epochs == 1 else 's'}, batch {batch_size}, Adam "
             f"{learning_rate:g}, seeds {seed}..{seed + seeds - 1}; score: last-epoch test accuracy; augmentation "
             "fresh every epoch.")
    store = EvaluationFolder(folder, {"dataset": shown, "data_dir": data_dir, "test": test_source,
                                      "train_images": len(train), "subset_seed": seed, "model": config.model_name,
                                      "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                                      **({} if size is None else {"image_size": list(size)}),
                                      **({} if precision == "float32" else {"precision": precision})})
    store.check()  # a folder holding another evaluation is refused before any work
    tuning_settings = None if val is None else {
        "grid": [[p.n, p.magnitude] for p in points], "ops": list(ops or ()), "tune_seeds": tune_seeds,
        "validation_images": len(val)}
    store.save({m.name: definition(m.augmenter) for m in methods}, tuning_settings)
    if val is not None:
        logger.info("tuning RandAugment over %d grid points x %d seeds on %d validation images into %s",
                    len(points), tune_seeds, len(val), folder)
        tuned, tuning = tuned_method(train, val, points, config, tune_seeds, seed, folder,
                                     store.tuning_rows(tuning_settings))
        methods.insert(n_baselines, tuned)
        store.save({tuned.name: definition(tuned.augmenter)}, tuning_settings)
        about += "\n\n" + describe(tuning, train, val, seed)
    logger.info("evaluating %d methods x %d seeds into %s: %s", len(methods), seeds, folder, about)
    runs = compare(train, test, methods, config, seeds, seed,
                   on_run=lambda done: atomic_write_text(folder / "runs.csv", _csv(done)),
                   done=store.runs({m.name: definition(m.augmenter) for m in methods}, range(seed, seed + seeds)))
    rows, lines = summarize(runs, methods), verdicts(runs, methods)
    markdown = f"# Evaluation {label}\n\n" + to_markdown(rows, lines, about)
    atomic_write_text(folder / "summary.csv", _csv(rows))
    atomic_write_text(folder / "summary.md", markdown + "\n![test accuracy](accuracy.png)\n")
    title = f"{label}: {len(train)} images, {epochs} epoch{'' if epochs == 1 else 's'}"
    atomic_write_bytes(folder / "accuracy.png", bar_chart(rows, title))
    return Evaluation(rows, runs, lines, markdown, folder)
