"""Screens under augmentation-wise weight sharing: a candidate continues a shared training.

Real trainings on toy data (120 images of 16x16, 3 epochs)."""
from __future__ import annotations

import pytest

from _search import toy_data
from deepaug.errors import RetryableError

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def setting():
    from deepaug.datasets import from_arrays, split_train_val
    from deepaug.training.train import TrainingConfig

    x, y = toy_data(200)
    train, val = split_train_val(from_arrays(x, y), 120, 60, seed=0)
    return train, val, TrainingConfig(child_epochs=3, child_batch_size=32, opt_last_n_epochs=1)


def test_a_candidate_tuned_from_the_shared_stage_continues_it_and_leaves_its_checkpoint_alone(setting, tmp_path):
    from deepaug.policy.baselines import RandAugment, TrivialAugment
    from deepaug.training.rungs import train_shared, train_to, tune_from

    train, val, config = setting
    shared_policy, other = TrivialAugment().policy, RandAugment().policy
    whole = train_to(train, val, shared_policy, config, 5, 3, None, None)
    ckpt = tmp_path / "shared.npz"
    shared = train_shared(train, val, shared_policy, config, 5, 2, ckpt)
    before = ckpt.read_bytes()
    assert train_shared(train, val, shared_policy, config, 5, 2, ckpt) == shared  # reused, not trained again

    same = tune_from(train, val, shared_policy, config, 5, 3, ckpt, tmp_path / "same.npz")
    tuned = tune_from(train, val, other, config, 5, 3, ckpt)
    # tuned under the shared policy, it is the uninterrupted shared training
    assert same["accuracy"] == whole["accuracy"] and same["val_accuracy"][-1] == whole["val_accuracy"][-1]
    # under its own policy it shares the first two epochs and goes its own way in the third
    assert tuned["accuracy"][:2] == shared["accuracy"] and tuned["loss"][2] != whole["loss"][2]
    assert tuned["seed"] == 5 and tuned["val_accuracy"][-1] is not None
    assert ckpt.read_bytes() == before  # the shared checkpoint is read, never written
    assert (tmp_path / "same.npz").exists()


def test_without_its_shared_checkpoint_a_candidate_is_refused_not_trained_from_scratch(setting, tmp_path):
    from deepaug.policy.baselines import TrivialAugment
    import json

    from deepaug.training.rungs import shared_history_path, train_shared, tune_from

    train, val, config = setting
    ckpt = tmp_path / "shared.npz"
    shared = train_shared(train, val, TrivialAugment().policy, config, 5, 1, ckpt)
    with pytest.raises(RetryableError, match="shared checkpoint .*missing or not at"):
        tune_from(train, val, None, config, 5, 3, tmp_path / "gone.npz")
    longer = {**shared, "accuracy": shared["accuracy"] * 2}  # a history that the checkpoint does not end
    shared_history_path(ckpt).write_text(json.dumps(longer))
    with pytest.raises(RetryableError, match="epoch 2"):
        tune_from(train, val, None, config, 5, 3, ckpt)
