"""notebook.csv under DeepAugment 1.x's column names: its users' analysis runs unchanged (fast, no training)."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from deepaug import Policy
from deepaug.execution.trials import BASELINE, TrialRecord, TrialSpec, TrialState, trial_seed
from deepaug.search.experiment import Experiment
from deepaug.search.notebook import DEEPAUGMENT, training_rows

# DeepAugment 1.x's policy columns: 5 sub-policies (A..E) of 2 ops, each a type and a magnitude
DEEPAUGMENT_POLICY = [f"{s}_aug{o}_{v}" for s in "ABCDE" for o in (1, 2) for v in ("type", "magnitude")]
FIVE = Policy.from_list([[("rotate", 0.5, 0.1 * s), ("invert", 0.2, 0.0)] for s in range(5)])
NOOP = Policy.from_list([[("identity", 0.0, 0.0)] * 2] * 5)


def trial(number: int, policy: Policy, val: list[list[float]], kind: str = "search") -> TrialRecord:
    """A complete trial with one training per list of validation accuracies (train accuracy 0.6)."""
    record = TrialRecord.running(TrialSpec(number, policy, trial_seed(0, number), kind), "basiccnn")
    rewards = []
    for sample, accuracies in enumerate(val):
        reward = sum(sorted(accuracies)[-2:]) / 2  # stands in for the training's reward
        rewards.append(reward)
        record = record.with_training({"accuracy": [0.6] * len(accuracies), "loss": [1.0] * len(accuracies),
                                       "val_accuracy": accuracies, "val_loss": [1.2] * len(accuracies),
                                       "epoch_seconds": [0.5] * len(accuracies), "reward": reward,
                                       "sample": sample, "seed": 100 + sample})
    mean = sum(rewards) / len(rewards)
    return replace(record, state=TrialState.COMPLETE, reward=mean, reward_std=0.0, sample_rewards=tuple(rewards))


@pytest.fixture
def notebook(tmp_path):
    exp = Experiment(tmp_path / "exp", policies_dir=tmp_path / "policies")
    exp.start({"child_epochs": 3, "workers": 1}, {"fingerprint": "abc"}, {"ops": []}, None)
    records = [trial(0, NOOP, [[0.4, 0.5, 0.5], [0.4, 0.6, 0.5]], BASELINE),
               trial(1, FIVE, [[0.5, 0.6, 0.7], [0.6, 0.7, 0.7]]),
               trial(2, FIVE, [[0.3, 0.4, 0.5], [0.4, 0.4, 0.4]])]
    exp.rebuild_notebook(records)
    return pd.read_csv(exp.notebook_path), records


def test_the_notebook_has_deepaugments_columns(notebook):
    df, _ = notebook
    assert list(df.columns[:len(DEEPAUGMENT)]) == ["acc", "loss", "val_acc", "val_loss", "trial_no", "sample_no",
                                                   "mean_late_val_acc", "epoch"]
    assert set(DEEPAUGMENT_POLICY) <= set(df.columns)
    assert {"trial", "sample", "accuracy", "val_accuracy", "training_reward"}.isdisjoint(df.columns)  # no twins
    first = df[(df.trial_no == 1) & (df.sample_no == 1)]
    assert list(first["epoch"]) == [1, 2, 3] and list(first["val_acc"]) == [0.5, 0.6, 0.7]
    assert first["A_aug1_type"].eq("rotate").all() and first["B_aug1_magnitude"].eq(0.1).all()
    assert first["A_aug1_probability"].eq(0.5).all()  # deepaug's, beside DeepAugment's pair
    assert set(df["sample_no"]) == {1, 2}  # from 1, as DeepAugment counted


def test_a_deepaugment_style_analysis_runs_unchanged(notebook):
    df, records = notebook
    # what DeepAugment users wrote: the trial's reward is the mean of its samples' mean_late_val_acc
    per_trial = df.drop_duplicates(["trial_no", "sample_no"]).groupby("trial_no")["mean_late_val_acc"].mean()
    assert per_trial.to_dict() == pytest.approx({r.number: r.reward for r in records})
    baseline = per_trial[0]
    increase = ((per_trial - baseline) * 100).drop(0).sort_values(ascending=False)
    assert list(increase.index) == [1, 2] and increase[1] == pytest.approx(100 * (0.675 - 0.525))
    best = df[df.trial_no == increase.index[0]].iloc[0]
    assert [best[c] for c in DEEPAUGMENT_POLICY[:4]] == ["rotate", 0.0, "invert", 0.0]
    curves = df.groupby(["trial_no", "epoch"])["val_acc"].mean()  # learning curves per trial
    assert curves[(1, 3)] == pytest.approx(0.7)


def test_mean_late_val_acc_is_the_trainings_reward_on_every_epoch_row():
    record = trial(4, FIVE, [[0.2, 0.8, 0.6]])
    rows = training_rows(record, 0)
    assert [r["mean_late_val_acc"] for r in rows] == [pytest.approx(0.7)] * 3
    assert [r["trial_reward"] for r in rows] == [pytest.approx(0.7)] * 3
    running = TrialRecord.running(TrialSpec(5, FIVE, 1), "basiccnn").with_training(
        {"accuracy": [0.5, 0.6], "val_accuracy": [None, 0.55], "reward": None, "sample": 0})
    rows = training_rows(running, 0)  # a rung validates only its last epochs; the reward may be unknown yet
    assert [r["val_acc"] for r in rows] == ["", 0.55] and rows[0]["mean_late_val_acc"] == ""
    assert rows[0]["trial_reward"] == ""
