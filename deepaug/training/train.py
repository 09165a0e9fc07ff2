"""Training child models to score a policy: one training, one trial (the input pipeline is
deepaug.training.pipeline).

The training images are held once, as uint8. Each epoch draws a seeded permutation;
each batch is gathered and augmented on the fly by `augment_with` inside a tf.data map
(parallel, deterministic order), then scaled to float32 in [0, 1]. The augmented dataset
is never materialised, and "no augmentation" runs through the same pipeline minus the
augment call, so timings compare like with like.

Seeds: epoch ``e`` uses the permutation of ``default_rng([seed, 0, e])`` and global step
``s`` augments with ``default_rng([seed, 1, s])`` (the 0/1 tag keeps the two streams
apart). The k-th training of a trial uses ``SeedSequence(trial_seed).spawn(k + 1)[k]``
(see `deepaug.training.config.sample_seeds`): independent streams, and sample k's seed does
not depend on how many samples the trial has. How the process is prepared for each training
(seeds, TF determinism, garbage collection) is `deepaug.training.session`.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from deepaug.datasets import Dataset, from_arrays, split_train_val
from deepaug.errors import InputError
from deepaug.policy.apply import check_seed
from deepaug.policy.core import Policy
from deepaug.training.config import WARM_START_SEED, TrainingConfig, sample_seeds
from deepaug.training.models import build_child_model, check_model_input, child_model, dataset_fingerprint
from deepaug.training.models import warm_start_weights
from deepaug.training.pipeline import (
    Augmentation,
    as_augmentation,
    eval_dataset,
    mixes_labels,
    steps_per_epoch,
    train_dataset,
)
from deepaug.training.reward import correct_bits, training_reward, trial_reward
from deepaug.training.session import seed_everything

if TYPE_CHECKING:  # pragma: no cover
    import keras

logger = logging.getLogger(__name__)

HISTORY_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss")


# ---------------------------------------------------------------- one training

def _check_pair(train: Dataset, val: Dataset | None, need_val: bool = True) -> None:
    for what, ds in (("train", train), ("val", val)):
        if (ds is not None or need_val) and not isinstance(ds, Dataset):
            raise InputError(f"{what} must be a deepaug.datasets.Dataset (use datasets.from_arrays), "
                             f"got {type(ds).__name__}")
    if val is not None and (val.image_shape != train.image_shape or val.num_classes != train.num_classes):
        raise InputError(f"validation images {val.image_shape} with {val.num_classes} classes do not match "
                         f"training images {train.image_shape} with {train.num_classes} classes; split "
                         "both from one dataset with deepaug.datasets.split_train_val")


def _fit(train: Dataset, val: Dataset | None, policy: Augmentation, config: TrainingConfig, seed: int,
         epochs: int, initial_weights: str | os.PathLike[str] | None, first_epoch: int = 0,
         restore: Callable[["keras.Model"], None] | None = None,
         val_epochs: Sequence[int] | None = None) -> tuple["keras.Model", Any, list[float]]:
    """`_trained` on a model of its own, which the caller keeps."""
    with _trained(train, val, policy, config, seed, epochs, initial_weights, first_epoch, restore, val_epochs,
                  keep=True) as out:
        return out


@contextmanager
def _trained(train: Dataset, val: Dataset | None, policy: Augmentation, config: TrainingConfig, seed: int,
             epochs: int, initial_weights: str | os.PathLike[str] | None, first_epoch: int = 0,
             restore: Callable[["keras.Model"], None] | None = None,
             val_epochs: Sequence[int] | None = None,
             keep: bool = False) -> Iterator[tuple["keras.Model", Any, list[float]]]:
    """Build (or `restore` into) a child model and fit epochs first_epoch+1..epochs; yields
    (model, keras History, seconds per epoch).

    The model is lent for the `with` block (`models.child_model`: a compiled copy reused
    across trainings) unless `keep`, when it is built for the caller alone. Validation runs
    after every epoch, or, with `val_epochs` (1-based), only after those (which also keep
    val_correct, the images the model got right); the other epochs get None as their
    val_accuracy / val_loss / val_correct.
    """
    seed_everything(seed, config.deterministic)
    soft = mixes_labels(policy)
    lend = nullcontext(build_child_model(config.model, train.image_shape, train.num_classes, seed,
                                         config.learning_rate, weights=initial_weights, soft_labels=soft,
                                         precision=config.precision)) if keep \
        else child_model(config.model, train.image_shape, train.num_classes, seed, config.learning_rate,
                         weights=initial_weights, soft_labels=soft, precision=config.precision)
    with lend as model:
        yield _fit_model(model, train, val, policy, config, seed, epochs, first_epoch, restore, val_epochs)


def _fit_model(model: "keras.Model", train: Dataset, val: Dataset | None, policy: Augmentation,
               config: TrainingConfig, seed: int, epochs: int, first_epoch: int,
               restore: Callable[["keras.Model"], None] | None,
               val_epochs: Sequence[int] | None) -> tuple["keras.Model", Any, list[float]]:
    import keras  # heavy: loaded with the first training

    if restore is not None:
        restore(model)
    classes = train.num_classes if mixes_labels(policy) else None
    ds = train_dataset(train.images, train.labels, policy, config.child_batch_size, seed, epochs, first_epoch,
                       classes)
    vds = eval_dataset(val.images, val.labels, config.child_batch_size, classes) if val is not None else None
    epoch_seconds: list[float] = []
    sparse: dict[str, list[Any]] = {"val_accuracy": [], "val_loss": [], "val_correct": []}

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            if val_epochs is not None and vds is not None:
                score: dict[str, Any] = {"val_accuracy": None, "val_loss": None, "val_correct": None}
                if epoch + 1 in val_epochs:
                    score = _validate(self.model, vds, val.labels)
                for key, values in sparse.items():
                    values.append(score[key])
            epoch_seconds.append(time.perf_counter() - self.start)

    fitted = model.fit(ds, epochs=epochs, initial_epoch=int(first_epoch),
                       steps_per_epoch=steps_per_epoch(len(train), config.child_batch_size),
                       validation_data=None if val_epochs is not None else vds, shuffle=False, verbose=0,
                       callbacks=[EpochTimer()])
    if val_epochs is not None and vds is not None:
        fitted.history.update(sparse)
    return model, fitted, epoch_seconds


def _validate(model: "keras.Model", vds: Any, labels: np.ndarray) -> dict[str, Any]:
    """One pass over the validation images: accuracy, loss, and which images the model got
    right (packed bits, see `reward.correct_bits`: the race's per-image paired comparison)."""
    import keras  # heavy: loaded with the first training

    probs = np.asarray(model.predict(vds, verbose=0))
    labels = np.asarray(labels, dtype=np.int64)
    correct = np.argmax(probs, axis=-1) == labels
    loss = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(labels, probs))
    return {"val_accuracy": float(correct.mean()), "val_loss": float(np.mean(loss)),
            "val_correct": correct_bits(correct)}


def train_child(train: Dataset, val: Dataset, policy: Augmentation, config: TrainingConfig, seed: int,
                initial_weights: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train a fresh child model for `config.child_epochs` epochs with `policy` on the fly.

    Returns per-epoch lists ``accuracy``, ``loss``, ``val_accuracy``, ``val_loss`` and
    ``epoch_seconds`` (validation included), plus ``seconds`` (wall time of the whole
    training: model build, fit and validation), ``images_per_second`` (training images
    seen / sum of epoch_seconds) and ``reward``.
    """
    seed = check_seed(seed)
    _check_pair(train, val)
    start = time.perf_counter()
    with _trained(train, val, policy, config, seed, config.child_epochs, initial_weights) as (_, fitted, epoch_seconds):
        pass
    seconds = time.perf_counter() - start
    history: dict[str, Any] = {k: [float(v) for v in fitted.history[k]] for k in HISTORY_KEYS}
    history["epoch_seconds"] = [float(s) for s in epoch_seconds]
    history["seconds"] = float(seconds)
    history["images_per_second"] = float(len(train) * config.child_epochs / sum(epoch_seconds))
    history["reward"] = training_reward(history, config.overfit_threshold, config.opt_last_n_epochs)
    logger.info("child training %s seed %d: reward %.4f, %d epochs in %.1f s (%.0f images/s)",
                config.model_name, seed, history["reward"], config.child_epochs, seconds,
                history["images_per_second"])
    return history


def train_model(train: Dataset, policy: Augmentation, config: TrainingConfig,
                seed: int) -> tuple["keras.Model", dict[str, Any]]:
    """Train a fresh child model on all of `train` for `config.child_epochs` epochs, without
    validation; returns the model and per-epoch ``accuracy``, ``loss``, ``epoch_seconds``
    plus ``seconds`` (wall time of build and fit). For final models (deepaug.evaluation.evaluate)."""
    seed = check_seed(seed)
    policy = as_augmentation(policy)
    _check_pair(train, None, need_val=False)
    start = time.perf_counter()
    model, fitted, epoch_seconds = _fit(train, None, policy, config, seed, config.child_epochs, None)
    return model, _final_history(fitted, epoch_seconds, start)


def train_and_score(train: Dataset, test: Dataset, policy: Augmentation, config: TrainingConfig,
                    seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`train_model`, then the model's ``loss`` and ``accuracy`` on `test` and ``correct``, which
    test images it got right (packed bits, `reward.correct_bits`); returns (those scores, the
    training's history). The model is a lent one (`models.child_model`), so trainings in a
    loop do not trace their steps again."""
    seed = check_seed(seed)
    policy = as_augmentation(policy)
    _check_pair(train, None, need_val=False)
    start = time.perf_counter()
    with _trained(train, None, policy, config, seed, config.child_epochs, None) as (model, fitted, epoch_seconds):
        history = _final_history(fitted, epoch_seconds, start)
        scores = _validate(model, eval_dataset(test.images, test.labels, config.child_batch_size), test.labels)
    score = {"loss": scores["val_loss"], "accuracy": scores["val_accuracy"], "correct": scores["val_correct"]}
    return score, history


def _final_history(fitted: Any, epoch_seconds: Sequence[float], start: float) -> dict[str, Any]:
    history: dict[str, Any] = {k: [float(v) for v in fitted.history[k]] for k in ("accuracy", "loss")}
    history["epoch_seconds"] = [float(s) for s in epoch_seconds]
    history["seconds"] = float(time.perf_counter() - start)
    return history


def prepare_warm_start(train: Dataset, config: TrainingConfig, seed: int = WARM_START_SEED) -> Path | None:
    """Weights pre-trained without augmentation for `child_first_train_epochs` (None if 0).

    Trained once per (data, model, epochs, seed, shapes, batch size, learning rate) and
    cached in `config.child_models_dir`.
    """
    epochs = config.child_first_train_epochs
    if epochs == 0:
        return None
    seed = check_seed(seed)
    _check_pair(train, None, need_val=False)

    def train_fn() -> "keras.Model":
        return _fit(train, None, None, config, seed, epochs, None)[0]

    return warm_start_weights(dataset_fingerprint(train.images, train.labels), config.model,
                              train.image_shape, train.num_classes, epochs, seed, train_fn,
                              config.child_models_dir,
                              extra={"batch_size": config.child_batch_size,
                                     "learning_rate": float(config.learning_rate),
                                     # float32's key is the one it had before precision existed
                                     **({"precision": config.precision} if config.precision != "float32" else {})})


# ---------------------------------------------------------------- one trial

@dataclass(frozen=True, eq=False)
class TrialResult:
    """What one trial (opt_samples trainings of one policy) measured."""

    reward: float
    reward_std: float
    sample_rewards: tuple[float, ...]
    sample_seeds: tuple[int, ...]
    histories: tuple[dict[str, Any], ...]
    seconds: tuple[float, ...]
    images_per_second: tuple[float, ...]
    seed: int
    policy: dict[str, Any] | None
    model: str
    warm_start: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: python floats, ints, strings, lists and dicts only."""
        return {
            "reward": float(self.reward), "reward_std": float(self.reward_std),
            "sample_rewards": [float(r) for r in self.sample_rewards],
            "sample_seeds": [int(s) for s in self.sample_seeds],
            "histories": [{k: (list(map(float, v)) if isinstance(v, list) else float(v)) for k, v in h.items()}
                          for h in self.histories],
            "seconds": [float(s) for s in self.seconds],
            "images_per_second": [float(s) for s in self.images_per_second],
            "seed": int(self.seed), "policy": self.policy, "model": self.model,
            "warm_start": self.warm_start, "extra": dict(self.extra),
        }


def _policy_record(policy: Augmentation) -> dict[str, Any] | None:
    """The policy as JSON-ready data; an augmenter by its to_dict() or its class name."""
    if policy is None or isinstance(policy, Policy):
        return None if policy is None else policy.to_dict()
    to_dict = getattr(policy, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {"augmenter": type(policy).__name__}


def run_trial(train: Dataset, val: Dataset, policy: Augmentation, config: TrainingConfig, seed: int,
              initial_weights: str | os.PathLike[str] | None = None,
              warm_start_seed: int = WARM_START_SEED,
              on_training: Callable[[int, int, dict[str, Any]], None] | None = None,
              done: Sequence[dict[str, Any]] = ()) -> TrialResult:
    """Train `config.opt_samples` fresh child models with `policy`; reward = mean of theirs.

    With `child_first_train_epochs > 0` and no `initial_weights`, every training starts
    from `prepare_warm_start(train, config, warm_start_seed)` (trained once, cached).
    `on_training(sample, seed, history)` is called as each training finishes. `done`
    holds the histories of the first trainings from an interrupted run of this same
    trial: they are reused, not trained again (sample k's seed depends only on `seed`).
    """
    seed = check_seed(seed)
    policy = as_augmentation(policy)
    _check_pair(train, val)
    check_model_input(config.model, train.image_shape, train.num_classes)
    seeds = sample_seeds(seed, config.opt_samples)
    done = list(done)[:len(seeds)]
    if initial_weights is None and config.child_first_train_epochs > 0 and len(done) < len(seeds):
        initial_weights = prepare_warm_start(train, config, warm_start_seed)
    histories = list(done)
    for k in range(len(done), len(seeds)):
        histories.append(train_child(train, val, policy, config, seeds[k], initial_weights))
        if on_training is not None:
            on_training(k, seeds[k], histories[-1])
    rewards = [h["reward"] for h in histories]
    mean, std = trial_reward(rewards)
    logger.info("trial seed %d (%s, %d samples): reward %.4f +- %.4f", seed, config.model_name,
                len(seeds), mean, std)
    return TrialResult(
        reward=mean, reward_std=std, sample_rewards=tuple(rewards), sample_seeds=tuple(seeds),
        histories=tuple(histories), seconds=tuple(h["seconds"] for h in histories),
        images_per_second=tuple(h["images_per_second"] for h in histories), seed=seed,
        policy=_policy_record(policy), model=config.model_name,
        warm_start=None if initial_weights is None else str(initial_weights),
        extra={"train_size": len(train), "val_size": len(val)},
    )


def evaluate_policy(images: Any, labels: Any, policy: Policy | Mapping[str, Any] | None,
                    config: TrainingConfig | None = None, train_size: int = 2000, seed: int = 0,
                    val_size: int | None = None) -> TrialResult:
    """Score `policy` on your data in one call: validate, split, (warm start), run a trial.

    Validation images come only from `images` (stratified, seeded, disjoint from the
    training subset; `val_size` as in `split_train_val`). Every input problem raises
    InputError before any training.
    """
    config = TrainingConfig() if config is None else config
    if not isinstance(config, TrainingConfig):
        raise InputError(f"config must be a TrainingConfig, got {type(config).__name__}")
    seed = check_seed(seed)
    policy = as_augmentation(policy)
    data = from_arrays(images, labels, "images")
    check_model_input(config.model, data.image_shape, data.num_classes)
    train, val = split_train_val(data, train_size, val_size=val_size, seed=seed)
    initial = prepare_warm_start(train, config, seed)
    return run_trial(train, val, policy, config, seed, initial_weights=initial)
