"""Trainings that grow rung by rung: common seeds, checkpoints, and the late reward.

The distribution search scores a policy on *common random numbers*: every candidate is
trained with the same seeds (`crn_seeds(run_seed, k)`), so for a given seed it starts
from the same initial weights, sees the same batches in the same order and draws its
augmentation from the same stream (deepaug.training.train seeds all three from the training
seed). A policy's score is then its paired difference from a control trained on the
same seeds, and seed noise cancels.

Successive halving trains a candidate to a rung's epochs, then, if it survives, on to the
next rung *from its checkpoint*: the child's weights, its layers' random seed states
(dropout) and its Adam state (a constant learning rate, so a continued training is the
same training as an uninterrupted one, batch for batch; tested). Checkpoints are written
atomically beside the experiment (one .npz per trial and seed, weights, seed states and
optimizer variables as plain arrays, no pickles); a
missing or unusable checkpoint means training that seed again from scratch to the rung,
which costs time but gives the same training (the epochs it validated before keep their
results). On Kubernetes the pods keep them beside the trial's record in the shared storage
(deepaug.kubernetes.trial_worker).

Validation is the expensive part of an epoch on a large validation set, so only the
last `opt_last_n_epochs` epochs before each rung are validated, and a training's reward
at a rung is the mean validation accuracy over those epochs (`late_reward`).

>>> late_reward({"val_accuracy": [None, 0.5, 0.7, 0.9]}, epochs=3, last_n=2)
0.6
"""
from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from deepaug.errors import InputError, RetryableError
from deepaug.storage.atomic import atomic_write_bytes, atomic_write_text
from deepaug.training import train as trainer  # module access: tests patch its functions
from deepaug.training.pipeline import as_augmentation
from deepaug.training.reward import read_correct
from deepaug.training.train import TrialResult

if TYPE_CHECKING:  # pragma: no cover
    import keras  # keras is heavy: loaded on first use

    from deepaug.datasets import Dataset
    from deepaug.training.pipeline import Augmentation
    from deepaug.training.train import TrainingConfig, TrialResult

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2  # 2: with the layers' random seed states


def crn_seeds(run_seed: int, k: int) -> list[int]:
    """The k training seeds every candidate of a search shares (common random numbers)."""

    return trainer.sample_seeds(int(np.random.SeedSequence([int(run_seed), 7]).generate_state(1)[0]), k)


def late_reward(history: Mapping[str, Any], epochs: int, last_n: int) -> float | None:
    """Mean validation accuracy over the validated epochs among the `last_n` epochs up to
    `epochs` (1-based); None when none of them was validated or the history is shorter."""
    values = list(history.get("val_accuracy", ()))
    if len(values) < epochs:
        return None
    window = [v for v in values[max(0, epochs - last_n):epochs] if v is not None and math.isfinite(float(v))]
    return float(np.mean(window)) if window else None


def late_correct(history: Mapping[str, Any], epochs: int, last_n: int, n: int) -> np.ndarray | None:
    """Per validation image, the fraction of the validated epochs among the `last_n` up to
    `epochs` in which the model got it right (the image-level counterpart of `late_reward`);
    None when those epochs kept no per-image results."""
    values = list(history.get("val_correct", ()))
    if len(values) < epochs:
        return None
    window = [read_correct(v, n) for v in values[max(0, epochs - last_n):epochs] if v]
    return np.mean(window, axis=0) if window else None


def validated_epochs(epochs: int, last_n: int) -> list[int]:
    """The 1-based epochs validated in a training that ends at `epochs`."""
    return list(range(max(1, epochs - last_n + 1), epochs + 1))


# ---------------------------------------------------------------- checkpoints

def checkpoint_path(folder: str | os.PathLike[str], number: int, seed: int) -> Path:
    return Path(folder) / f"trial_{int(number):04d}" / f"seed_{int(seed)}.npz"


def remove_checkpoints(folder: str | os.PathLike[str], number: int) -> tuple[int, int]:
    """Delete trial `number`'s checkpoints in `folder` (temp files of killed writes too): (files,
    bytes) removed. For trials that will not be continued and have no training in flight."""
    trial = checkpoint_path(folder, number, 0).parent
    files = size = 0
    if not trial.is_dir():
        return 0, 0
    for path in trial.iterdir():
        try:
            if path.is_file():
                length = path.stat().st_size
                path.unlink()
                files, size = files + 1, size + length
        except FileNotFoundError:
            continue
    try:
        trial.rmdir()
    except OSError:  # not empty: something other than checkpoints was put there
        pass
    return files, size


def _states(model: "keras.Model") -> list[Any]:
    """The model's variables that are not weights: its layers' random seed states (dropout)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save_checkpoint(model: "keras.Model", path: Path, epoch: int) -> None:
    """Weights, random seed states and optimizer variables after `epoch` epochs, atomically."""
    import keras  # keras is heavy: loaded on first use

    buffer = io.BytesIO()
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    arrays.update({f"s{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(_states(model))})
    arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
    np.savez(buffer, format=np.array(CHECKPOINT_FORMAT), epoch=np.array(int(epoch)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


Checkpoint = tuple[int, list[np.ndarray], list[np.ndarray], list[np.ndarray]]  # epoch, weights, states, optimizer


def read_checkpoint(path: Path) -> Checkpoint | None:
    """(epoch, weights, random seed states, optimizer variables), or None if there is no usable
    file (a format-1 file, without the seed states, is not: continuing from it would not be
    the uninterrupted training)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != CHECKPOINT_FORMAT:
                log.info("checkpoint %s is of an older format; that training starts again", path)
                return None

            def group(tag: str) -> list[np.ndarray]:
                return [data[f"{tag}{i}"] for i in range(sum(k.startswith(tag) for k in data.files))]

            return int(data["epoch"]), group("w"), group("s"), group("o")
    except (OSError, KeyError, ValueError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("checkpoint %s is unusable (%s); that training starts again", path, exc)
        return None


def restorer(weights: list[np.ndarray], states: list[np.ndarray],
             variables: list[np.ndarray]) -> Callable[["keras.Model"], None]:
    """A function that puts checkpointed weights, random seed states and Adam state into a
    freshly built model, so that it goes on exactly as the uninterrupted training would."""

    def restore(model: "keras.Model") -> None:
        model.set_weights(weights)
        mine = _states(model)
        if len(mine) != len(states):
            raise InputError(f"checkpoint has {len(states)} random seed states, the model {len(mine)}")
        for var, value in zip(mine, states):
            var.assign(value)
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        if len(optimizer.variables) != len(variables):
            raise InputError(f"checkpoint has {len(variables)} optimizer variables, the model's optimizer "
                             f"{len(optimizer.variables)}")
        for var, value in zip(optimizer.variables, variables):
            var.assign(value)

    return restore


# ---------------------------------------------------------------- one rung of one trial

def train_to(train: "Dataset", val: "Dataset", policy: "Augmentation", config: "TrainingConfig", seed: int,
             epochs: int, previous: Mapping[str, Any] | None, checkpoint: Path | None,
             start: Path | None = None) -> dict[str, Any]:
    """One seed's training brought to `epochs` epochs, continuing `previous` (its history so
    far) from `checkpoint` (or from `start`, another training's checkpoint, when given) when
    both agree; returns the whole history. The final checkpoint is written to `checkpoint`."""

    first, restore, before = 0, None, None
    source = start if start is not None else checkpoint
    if previous is not None and source is not None:
        done = len(previous.get("accuracy", ()))
        saved = read_checkpoint(source)
        if saved is not None and saved[0] == done and 0 < done < epochs:
            first, restore, before = done, restorer(*saved[1:]), previous
        elif done:
            log.info("no usable checkpoint at epoch %d for seed %d; training it again from scratch", done, seed)
    start = time.perf_counter()
    with trainer._trained(train, val, policy, config, seed, epochs, None, first_epoch=first, restore=restore,
                          val_epochs=validated_epochs(epochs, config.opt_last_n_epochs)) as trained:
        model, fitted, epoch_seconds = trained
        if checkpoint is not None:
            save_checkpoint(model, checkpoint, epochs)
    history: dict[str, Any] = {k: list(before.get(k, ())) if before else [] for k in
                               ("accuracy", "loss", "val_accuracy", "val_loss", "val_correct", "epoch_seconds")}
    if len(history["val_correct"]) < first:  # a history from before per-image results were kept
        history["val_correct"] = [None] * first
    for key in ("accuracy", "loss", "val_accuracy", "val_loss"):
        history[key] += [None if v is None else float(v) for v in fitted.history[key]]
    history["val_correct"] += list(fitted.history["val_correct"])
    if previous is not None and before is None:  # trained again from scratch: the same training, so the
        for key in ("val_accuracy", "val_loss", "val_correct"):  # epochs validated before keep their results
            for i, value in enumerate(list(previous.get(key, ()))[:len(history[key])]):
                if history[key][i] is None and value is not None:
                    history[key][i] = value
    history["epoch_seconds"] += [float(s) for s in epoch_seconds]
    history["seconds"] = float((before or {}).get("seconds", 0.0)) + time.perf_counter() - start
    history["images_per_second"] = float(len(train) * (epochs - first) / max(1e-9, sum(epoch_seconds)))
    history["reward"] = late_reward(history, epochs, config.opt_last_n_epochs)
    log.info("child training seed %d: epochs %d-%d, late reward %.4f, %.1f s", seed, first + 1, epochs,
             history["reward"] or 0.0, time.perf_counter() - start)
    return history


def shared_history_path(checkpoint: Path) -> Path:
    """Where a shared stage keeps its history: beside its checkpoint, for the candidates that tune from it."""
    return Path(checkpoint).with_suffix(".json")


def read_shared(checkpoint: Path, epochs: int) -> dict[str, Any] | None:
    """A finished shared stage of `epochs` epochs: its history, if it and its checkpoint are both there."""
    try:
        history = json.loads(shared_history_path(checkpoint).read_text())
    except (OSError, ValueError):
        return None
    saved = read_checkpoint(checkpoint)
    if saved is None or saved[0] != epochs or len(history.get("accuracy", ())) != epochs:
        return None
    return history


def train_shared(train: "Dataset", val: "Dataset", policy: "Augmentation", config: "TrainingConfig", seed: int,
                 epochs: int, checkpoint: Path) -> dict[str, Any]:
    """The shared stage of augmentation-wise weight sharing on `seed`: `epochs` epochs under the shared
    `policy`, its checkpoint and (beside it, atomically, after it) its history kept for `tune_from`;
    one already there is reused."""
    history = read_shared(checkpoint, epochs)
    if history is None:
        history = train_to(train, val, as_augmentation(policy), config, int(seed), epochs, None, checkpoint)
        atomic_write_text(shared_history_path(checkpoint), json.dumps(history))
    return {**history, "seed": int(seed)}


def tune_from(train: "Dataset", val: "Dataset", policy: "Augmentation", config: "TrainingConfig", seed: int,
              epochs: int, shared_checkpoint: Path, checkpoint: Path | None = None) -> dict[str, Any]:
    """A candidate's screen under augmentation-wise weight sharing (Tian et al. 2020): the shared
    stage on `seed` (`train_shared`'s checkpoint and history) continued to `epochs` under `policy`;
    returns the whole history (its "seconds" include the shared stage's). The shared stage's
    files are read, never written. A missing or mismatched one is a RetryableError: training from
    scratch instead would be another screen."""
    shared = None
    try:
        shared = json.loads(shared_history_path(shared_checkpoint).read_text())
    except (OSError, ValueError):
        pass
    done = len(shared.get("accuracy", ())) if isinstance(shared, dict) else 0
    saved = read_checkpoint(shared_checkpoint)
    if shared is None or saved is None or saved[0] != done or not 0 < done < epochs:
        raise RetryableError(f"shared checkpoint {shared_checkpoint} is missing or not at the shared training's "
                             f"epoch {done} (of {epochs}); train the shared stage again")
    history = train_to(train, val, as_augmentation(policy), config, int(seed), epochs, shared, checkpoint,
                       start=shared_checkpoint)
    return {**history, "seed": int(seed)}


def run_rung(train: "Dataset", val: "Dataset", policy: "Augmentation", config: "TrainingConfig", seeds: Sequence[int],
             epochs: int, number: int, checkpoint_dir: str | None,
             on_training: Callable[[int, int, dict[str, Any]], None] | None = None,
             done: Sequence[Mapping[str, Any]] = (), shared_stage: bool = False,
             shared_from: int | None = None) -> "TrialResult":
    """Bring one trial's trainings on `seeds` to `epochs` epochs; reward = mean late reward.

    `done` holds this trial's histories so far (each with its "seed"): one already at
    `epochs` is kept, a shorter one is continued from its checkpoint. `on_training(k,
    seed, history)` is called as each seed's training reaches `epochs`. Under
    augmentation-wise weight sharing, `shared_stage` makes this trial the shared stage (kept
    only with its checkpoint, `train_shared`), and `shared_from` names the shared stage's trial
    that each seed's training continues (`tune_from`).
    """
    if (shared_stage or shared_from is not None) and checkpoint_dir is None:
        raise InputError(f"trial {number}: augmentation-wise weight sharing needs a checkpoint folder")

    policy = as_augmentation(policy)
    trainer._check_pair(train, val)
    by_seed = {int(h["seed"]): h for h in done if "seed" in h}
    histories = []
    for k, seed in enumerate(seeds):
        previous = by_seed.get(int(seed))
        if previous is not None and late_reward(previous, epochs, config.opt_last_n_epochs) is not None \
                and len(previous["accuracy"]) >= epochs and not shared_stage:
            histories.append(dict(previous))
            continue
        path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, number, seed)
        if shared_stage:
            history = train_shared(train, val, policy, config, int(seed), epochs, path)
        elif shared_from is not None:
            history = tune_from(train, val, policy, config, int(seed), epochs,
                                checkpoint_path(checkpoint_dir, shared_from, seed))
        else:
            history = {**train_to(train, val, policy, config, int(seed), epochs, previous, path), "seed": int(seed)}
        histories.append(history)
        if on_training is not None:
            on_training(k, int(seed), history)
    rewards = [late_reward(h, epochs, config.opt_last_n_epochs) for h in histories]
    values = np.array([r for r in rewards if r is not None], dtype=np.float64)
    if values.size != len(rewards):
        raise InputError(f"trial {number}: no validated epoch among the last {config.opt_last_n_epochs} of "
                         f"{epochs}; the validation set is empty?")
    return TrialResult(
        reward=float(values.mean()), reward_std=float(values.std()), sample_rewards=tuple(values.tolist()),
        sample_seeds=tuple(int(s) for s in seeds), histories=tuple(histories),
        seconds=tuple(float(h.get("seconds", 0.0)) for h in histories),
        images_per_second=tuple(float(h.get("images_per_second", 0.0)) for h in histories), seed=int(seeds[0]),
        policy=trainer._policy_record(policy), model=config.model_name, warm_start=None,
        extra={"train_size": len(train), "val_size": len(val), "epochs": int(epochs),
               "seeds": [int(s) for s in seeds],
               "rewards_by_seed": {str(int(s)): float(r) for s, r in zip(seeds, values)}})


def rung_epochs(final: int, rungs: int, rate: int) -> list[int]:
    """Epochs of each rung, the last being `final`: final / rate^(rungs-1), ..., final / rate, final
    (rounded, at least 1, strictly increasing; rungs that would repeat are dropped)."""
    out: list[int] = []
    for r in range(rungs - 1, -1, -1):
        epochs = max(1, int(round(final / rate ** r)))
        if not out or epochs > out[-1]:
            out.append(epochs)
    return out
