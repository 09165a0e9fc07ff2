"""Tuned RandAugment: the baseline a careful user would pick instead of running a policy search.

`tune(train, val, grid(), config)` trains the child model with RandAugment at every point
of a grid (N ops per image in `TUNE_N` x magnitude in `TUNE_MAGNITUDES`: 15 configs by
default) on the training images, and scores each trained model on validation images:
last-epoch validation accuracy, averaged over `seeds` trainings (seeds seed, seed + 1, ...).
The best point is the one with the highest score; ties go to the first in grid order
(smaller N, then smaller M). Test images never come in: select on validation data only.

Cost: each point's `seconds` is the sum over its trainings of training (model build and
fit) plus validation scoring, as a search trial's seconds include its validation; the
tuning cost is the sum over the grid.

>>> [(ra.n, round(ra.magnitude, 2)) for ra in grid((1, 2), (0.3,))]
[(1, 0.3), (2, 0.3)]
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from deepaug.datasets import Dataset
from deepaug.errors import InputError
from deepaug.policy.baselines import RandAugment
from deepaug.training import train as training

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.training.train import TrainingConfig

logger = logging.getLogger(__name__)

TUNE_N = (1, 2, 3)
TUNE_MAGNITUDES = tuple(m / 30 for m in (5, 9, 13, 17, 21))  # RandAugment's 0..30 scale, as fractions


@dataclass(frozen=True)
class Tuning:
    """What `tune` measured: one row per grid point (grid order) and the best point's RandAugment."""

    rows: list[dict[str, Any]]
    best: RandAugment

    @property
    def seconds(self) -> float:
        """The tuning cost: training and validation seconds summed over every grid training."""
        return float(sum(r["seconds"] for r in self.rows))

    @property
    def score(self) -> float:
        """The best point's validation score (accuracy in [0, 1])."""
        return next(float(r["val_accuracy"]) for r in self.rows if r["chosen"])


def _values(values: Any, what: str, example: str) -> list[Any]:
    if isinstance(values, (int, float, np.number)):
        values = [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise InputError(f"{what} must be a non-empty list, got {values!r}; pass e.g. {what}={example}")
    for value in values:
        if list(values).count(value) > 1:
            raise InputError(f"{what} lists {value!r} twice: {list(values)}; give each value once")
    return list(values)


def grid(tune_n: Sequence[int] | int = TUNE_N, tune_magnitudes: Sequence[float] | float = TUNE_MAGNITUDES,
         ops: Sequence[str] | None = None) -> list[RandAugment]:
    """The RandAugment of every (N, M) pair, N-major; InputError naming a bad value."""
    ns = _values(tune_n, "tune_n", "(1, 2, 3)")
    magnitudes = _values(tune_magnitudes, "tune_magnitudes", "(9 / 30, 13 / 30)")
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"tune_n must hold integers >= 1 (ops per image), got {n!r} in {ns}")
    for m in magnitudes:
        if isinstance(m, bool) or not isinstance(m, (int, float, np.number)) or not 0.0 <= float(m) <= 1.0:
            raise InputError(f"tune_magnitudes must hold numbers in [0, 1] (fractions of RandAugment's 0..30 "
                             f"scale: M=9 is 0.3), got {m!r} in {magnitudes}")
    return [RandAugment(int(n), float(m), None if ops is None else tuple(ops)) for n in ns for m in magnitudes]


def best_index(scores: Sequence[float]) -> int:
    """Index of the highest score, the first one on ties; NaN scores never win unless all are NaN."""
    values = np.asarray(scores, dtype=np.float64)
    return 0 if np.all(np.isnan(values)) else int(np.nanargmax(values))


def _score(train: Dataset, val: Dataset, augmenter: RandAugment, config: "TrainingConfig",
           seed: int) -> tuple[float, float]:
    """(last-epoch validation accuracy, seconds of training and scoring) of one training."""

    start = time.perf_counter()
    score, _ = training.train_and_score(train, val, augmenter, config, seed)
    return score["accuracy"], time.perf_counter() - start


def tune(train: Dataset, val: Dataset, points: Sequence[RandAugment], config: "TrainingConfig", seeds: int = 1,
         seed: int = 0, on_point: Callable[[list[dict[str, Any]]], None] | None = None,
         done: Sequence[dict[str, Any]] = ()) -> Tuning:
    """Train every grid point `seeds` times on `train`, score on `val`; the best (module docstring).

    `on_point(rows)` is called after each grid point with the rows so far (e.g. to save them).
    `done` holds the rows of an interrupted tuning (same settings): their points are not trained again.
    """
    if not points:
        raise InputError("the RandAugment grid is empty: give at least one N and one magnitude")
    rows: list[dict[str, Any]] = []
    total, done_count, start = len(points) * seeds, 0, time.perf_counter()
    for augmenter in points:
        kept = next((dict(r) for r in done if int(r["n"]) == augmenter.n
                     and math.isclose(float(r["magnitude"]), augmenter.magnitude) and int(r["seeds"]) == seeds), None)
        if kept is not None:
            kept.pop("chosen", None)
            rows.append(kept)
            total -= seeds
            continue
        scores, seconds = [], 0.0
        for s in range(seed, seed + seeds):
            accuracy, spent = _score(train, val, augmenter, config, s)
            scores.append(accuracy)
            seconds += spent
            done_count += 1
            left = (time.perf_counter() - start) / done_count * (total - done_count)
            logger.info("[tuning %d/%d] %s, seed %d: validation accuracy %.4f, %.0f s (about %.0f min left)",
                        done_count, total, augmenter.name, s, accuracy, spent, left / 60)
        rows.append({"n": augmenter.n, "magnitude": augmenter.magnitude, "m_of_30": augmenter.magnitude * 30,
                     "val_accuracy": float(np.mean(scores)),
                     "val_accuracy_per_seed": " ".join(repr(v) for v in scores), "seeds": seeds,
                     "seconds": seconds})
        if on_point is not None:
            on_point(rows)
    best = best_index([r["val_accuracy"] for r in rows])
    for i, row in enumerate(rows):
        row["chosen"] = i == best
    logger.info("tuned RandAugment: %s, validation accuracy %.4f; %d trainings, %.0f s", points[best].name,
                rows[best]["val_accuracy"], total, sum(r["seconds"] for r in rows))
    return Tuning(rows, points[best])


def grid_text(ns: Sequence[int], magnitudes: Sequence[float]) -> str:
    """The grid in words, M on RandAugment's 0..30 scale: "N in {1, 2} x M in {9, 13}/30"."""
    ms = [30 * m for m in sorted(set(magnitudes))]
    m_text = ", ".join(f"{round(m)}" if math.isclose(m, round(m)) else f"{m:.2f}" for m in ms)
    return f"N in {{{', '.join(map(str, sorted(set(ns))))}}} x M in {{{m_text}}}/30"


def describe(tuning: Tuning, train: Dataset, val: Dataset, seed: int) -> str:
    """A markdown paragraph: what was tuned on which images, what won, what it cost."""
    seeds = tuning.rows[0]["seeds"]
    points = grid_text([r["n"] for r in tuning.rows], [r["magnitude"] for r in tuning.rows])
    return (f"Tuned RandAugment: {points}, each trained {seeds} time(s) on the same {len(train)} training images and scored on {len(val)} validation images "
            f"(stratified, seed {seed}, from the pool's images outside the training subset; never the test "
            f"images); score: last-epoch validation accuracy, mean over seeds. Best: {tuning.best.name}, "
            f"validation accuracy {100 * tuning.score:.2f}%. Its search cost is the tuning's "
            f"{len(tuning.rows) * seeds} trainings, {tuning.seconds:.0f} s; every grid point is in tuning.csv.")
