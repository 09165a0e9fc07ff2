"""The search objective: the reward of one child training and of a trial.

A child training yields a per-epoch history (train and validation accuracy). Its reward,
as in DeepAugment, is the mean of the ``last_n`` highest validation accuracies among the
epochs that do not overfit (train accuracy - validation accuracy <= ``overfit_threshold``).
A trial averages the rewards of its ``opt_samples`` trainings.

Unlike DeepAugment, the reward is never NaN: when every epoch overfits, the fallback is
the best validation accuracy minus how far the least-overfit epoch exceeded the threshold
(floored at 0), so an all-overfit policy still ranks below comparable non-overfitting
ones and the optimizer always gets a finite number.

>>> training_reward({"accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.45, 0.65, 0.75]}, last_n=2)
0.7
"""
from __future__ import annotations

import base64
import logging
import math
from typing import Mapping, Sequence

import numpy as np

from deepaug.errors import InputError

logger = logging.getLogger(__name__)

TRAIN_KEYS = ("accuracy", "acc")
VAL_KEYS = ("val_accuracy", "val_acc")


def _series(history: Mapping[str, Sequence[float]], keys: tuple[str, ...]) -> tuple[str, np.ndarray]:
    for key in keys:
        if key in history:
            try:
                values = np.asarray(list(history[key]), dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(f"history[{key!r}] must be a list of numbers (one per epoch), "
                                 f"got {history[key]!r}") from None
            if values.ndim != 1:
                raise InputError(f"history[{key!r}] must be a flat list (one number per epoch), "
                                 f"got shape {values.shape}")
            return key, values
    raise InputError(f"history has no {keys[0]!r} (or {keys[1]!r}) key; it has {sorted(history)}. "
                     "Pass the per-epoch history of a child training (keras' History.history)")


def _clean(values: np.ndarray, key: str) -> np.ndarray:
    """NaN/inf accuracies count as 0 (with a warning); finite values must lie in [0, 1]."""
    bad = ~np.isfinite(values)
    if bad.any():
        logger.warning("history[%r] has %d NaN/infinite value(s) at epoch(s) %s; counting them as 0",
                       key, int(bad.sum()), np.flatnonzero(bad).tolist())
        values = np.where(bad, 0.0, values)
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise InputError(f"history[{key!r}] holds accuracies outside [0, 1] (min {values.min():g}, "
                         f"max {values.max():g}); pass accuracies as fractions, not percentages")
    return values


def training_reward(history: Mapping[str, Sequence[float]], overfit_threshold: float = 0.10,
                    last_n: int = 3) -> float:
    """Reward of one child training, a float in [0, 1] (never NaN).

    - Epochs qualify when ``accuracy - val_accuracy <= overfit_threshold``; the reward is
      the mean of the ``last_n`` highest validation accuracies among them (all of them
      when fewer than ``last_n`` qualify).
    - Fallback when no epoch qualifies: ``max(0, max(val_accuracy) - (min(gap) -
      overfit_threshold))`` where ``gap = accuracy - val_accuracy`` per epoch; the
      penalty is how far the least-overfit epoch went past the threshold.
    - NaN or infinite accuracies count as 0 and log a warning.
    """
    if not isinstance(history, Mapping):
        raise InputError(f"history must be a dict of per-epoch lists, got {type(history).__name__}")
    if isinstance(overfit_threshold, bool) or not isinstance(overfit_threshold, (int, float, np.number)) \
            or not math.isfinite(float(overfit_threshold)):
        raise InputError(f"overfit_threshold must be a finite number (e.g. 0.10), got {overfit_threshold!r}")
    if isinstance(last_n, bool) or not isinstance(last_n, (int, np.integer)) or last_n < 1:
        raise InputError(f"last_n must be a positive integer (e.g. 3), got {last_n!r}")
    train_key, train = _series(history, TRAIN_KEYS)
    val_key, val = _series(history, VAL_KEYS)
    if len(train) != len(val):
        raise InputError(f"history[{train_key!r}] has {len(train)} epochs but history[{val_key!r}] has "
                         f"{len(val)}; both need one value per epoch")
    if len(val) == 0:
        raise InputError("history has no epochs; train the child model for at least one epoch")
    train, val = _clean(train, train_key), _clean(val, val_key)
    gap = train - val
    qualifying = val[gap <= float(overfit_threshold)]
    if qualifying.size:
        best = np.sort(qualifying)[::-1][:int(last_n)]
        return float(best.mean())
    penalty = float(gap.min()) - float(overfit_threshold)
    reward = max(0.0, float(val.max()) - penalty)
    logger.info("every epoch overfits (train - val accuracy > %.3g, smallest gap %.3g): fallback "
                "reward %.4f = best val accuracy %.4f - penalty %.4f",
                overfit_threshold, float(gap.min()), reward, float(val.max()), penalty)
    return reward


def trial_reward(sample_rewards: Sequence[float]) -> tuple[float, float]:
    """Mean and (population, ddof=0) standard deviation of a trial's training rewards."""
    try:
        values = np.asarray(list(sample_rewards), dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"sample_rewards must be a list of numbers, got {sample_rewards!r}") from None
    if values.ndim != 1 or values.size == 0:
        raise InputError(f"sample_rewards must be a non-empty flat list of rewards, got {sample_rewards!r}")
    bad = ~np.isfinite(values)
    if bad.any():
        logger.warning("%d of %d sample rewards are NaN/infinite; counting them as 0",
                       int(bad.sum()), values.size)
        values = np.where(bad, 0.0, values)
    return float(values.mean()), float(values.std())


def correct_bits(correct: np.ndarray) -> str:
    """Which validation images a model got right, as a compact string (packed bits, base64) for
    a training's history; `read_correct` reverses it.

    >>> read_correct(correct_bits(np.array([True, False, True])), 3).tolist()
    [True, False, True]
    """
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def read_correct(bits: str, n: int) -> np.ndarray:
    """The n booleans `correct_bits` wrote."""
    packed = np.frombuffer(base64.b64decode(bits.encode("ascii")), dtype=np.uint8)
    if packed.size != -(-int(n) // 8):
        raise InputError(f"per-image validation results hold {packed.size * 8} bits, not {n} images")
    return np.unpackbits(packed, count=int(n)).astype(bool)
