"""Trial records, the experiment folder and the notebook, without training (fast)."""
from __future__ import annotations

import os
import json
from dataclasses import replace

import pandas as pd
import pytest

from deepaug import Policy
from deepaug.errors import InputError
from deepaug.policy.distribution import Distribution
from deepaug.search.experiment import Experiment
from deepaug.search.notebook import policy_columns, rebuild, top_policies
from deepaug.execution.trials import BASELINE, TrialRecord, TrialSpec, TrialState, trial_seed

ROT = Policy.from_list([[("rotate", 0.5, 0.3), ("cutout", 0.2, 0.4)], [("invert", 1.0, 0.0), ("solarize", 0.1, 0.9)]])
FLIP = Policy.from_list([[("horizontal-flip", 0.5, 0.0), ("identity", 0.0, 0.0)],
                         [("equalize", 0.3, 0.0), ("posterize", 0.6, 0.5)]])
NOOP = Policy.from_list([[("identity", 0.0, 0.0)] * 2] * 2)


def history(reward: float, epochs: int = 2, sample: int = 0) -> dict:
    return {"accuracy": [0.5] * epochs, "loss": [1.0] * epochs, "val_accuracy": [reward] * epochs,
            "val_loss": [1.1] * epochs, "epoch_seconds": [0.1] * epochs, "reward": reward, "sample": sample,
            "seed": 11 + sample}


def complete(number: int, policy: Policy | None, reward: float, kind: str = "search") -> TrialRecord:
    spec = TrialSpec(number, policy, trial_seed(0, number), kind)
    record = TrialRecord.running(spec, "basiccnn")
    for k in range(2):
        record = record.with_training(history(reward, sample=k))
    return replace(record, state=TrialState.COMPLETE, reward=reward, reward_std=0.0, sample_rewards=(reward, reward))


def test_trial_seeds_are_distinct_per_trial_and_run():
    seeds = {trial_seed(run, n) for run in range(3) for n in range(50)}
    assert len(seeds) == 150 and trial_seed(1, 2) == trial_seed(1, 2)


def test_a_record_round_trips_through_json():
    record = complete(3, ROT, 0.7)
    again = TrialRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record and again.policy_object() == ROT and again.spec.policy == ROT


@pytest.mark.parametrize("data, message", [
    ({"format_version": 2}, "not a deepaug trial record"),
    ({"format_version": 1, "number": 1}, "malformed"),
    ({**complete(1, ROT, 0.5).to_dict(), "reward": float("nan")}, "without a reward"),
    ({**complete(1, ROT, 0.5).to_dict(), "state": "exploded"}, "malformed"),
    ({**complete(1, ROT, 0.5).to_dict(), "policy": {"format_version": 1, "sub_policies": [[{"op": "zap"}]]}},
     "zap"),
])
def test_bad_records_are_refused_with_the_reason(data, message):
    with pytest.raises(InputError, match=message):
        TrialRecord.from_dict(data, "trials/x.json")


def start(tmp_path, **config):
    exp = Experiment(tmp_path / "exp", policies_dir=tmp_path / "policies")
    seed = exp.start({"child_epochs": 2, "workers": 1, **config}, {"fingerprint": "abc"}, {"ops": []}, None)
    return exp, seed


def test_start_draws_and_keeps_a_run_seed_and_refuses_another_search(tmp_path):
    exp, seed = start(tmp_path)
    assert start(tmp_path, workers=4)[1] == seed  # where and how trials run may change
    with pytest.raises(InputError, match="child_epochs: stored 2, now 3"):
        start(tmp_path, child_epochs=3)
    with pytest.raises(InputError, match="data.fingerprint"):
        exp.start({"child_epochs": 2, "workers": 1}, {"fingerprint": "other"}, {}, None)


def test_an_experiment_stored_before_a_config_key_existed_resumes_with_its_old_value(tmp_path):
    exp, seed = start(tmp_path)  # its config has no "precision": stored before the key existed
    assert exp.start({"child_epochs": 2, "workers": 1, "precision": "float32"}, {"fingerprint": "abc"}, {},
                     None) == seed
    with pytest.raises(InputError, match="precision: stored 'float32', now 'bfloat16'"):
        exp.start({"child_epochs": 2, "workers": 1, "precision": "bfloat16"}, {"fingerprint": "abc"}, {}, None)
    # its race scored on the screen's validation images: it resumes so, and refuses a held-out race
    assert exp.start({"child_epochs": 2, "workers": 1, "race_holdout": False}, {"fingerprint": "abc"}, {},
                     None) == seed
    with pytest.raises(InputError, match="race_holdout: stored False, now True"):
        exp.start({"child_epochs": 2, "workers": 1, "race_holdout": True}, {"fingerprint": "abc"}, {}, None)


def test_a_folder_that_is_not_an_experiment_is_refused(tmp_path):
    (tmp_path / "exp" / "trials").mkdir(parents=True)
    (tmp_path / "exp" / "trials" / "x").write_text("")
    with pytest.raises(InputError, match="no config.json"):
        start(tmp_path)
    (tmp_path / "exp" / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        start(tmp_path)


def test_records_are_saved_atomically_and_read_back_in_order(tmp_path):
    exp, _ = start(tmp_path)
    for record in (complete(2, FLIP, 0.6), complete(0, NOOP, 0.5, BASELINE), complete(1, ROT, 0.7)):
        exp.save(record)
    (exp.trials_dir / ".trial_0003.json.abc.tmp").write_text("{partial")  # a write cut by a kill
    assert [r.number for r in exp.records()] == [0, 1, 2]
    (exp.trials_dir / "trial_0004.json").write_text("{oops")
    with pytest.raises(InputError, match="trial_0004.json"):
        exp.records()


def test_top_policies_rank_completed_search_trials_against_the_baseline():
    records = [complete(0, NOOP, 0.5, BASELINE), complete(1, ROT, 0.7), complete(2, FLIP, 0.6),
               complete(3, FLIP.__class__.noop(), 0.7),
               replace(TrialRecord.running(TrialSpec(4, ROT, 1), "basiccnn"), state=TrialState.FAILED, error="x")]
    table = top_policies(records)
    assert list(table["trial"]) == [1, 3, 2]  # ties keep the earlier trial first
    assert list(table["trial_no"]) == [1, 3, 2] and list(table["mean_late_val_acc"]) == [0.7, 0.7, 0.6]  # 1.x's names
    assert list(table["expected_accuracy_increase(%)"]) == [20.0, 20.0, 10.0]  # 100 * (0.7 - 0.5) is 19.999999999999996
    assert table.loc[0, "A_aug1_type"] == "rotate" and table.loc[0, "B_aug2_magnitude"] == 0.9
    assert top_policies(records[1:])["expected_accuracy_increase(%)"].isna().all()  # no baseline yet
    assert len(top_policies([])) == 0 and "mean_late_val_acc" in top_policies([]).columns


def test_policy_columns_name_each_value():
    columns = policy_columns(ROT)
    assert list(columns)[:3] == ["A_aug1_type", "A_aug1_probability", "A_aug1_magnitude"]  # DeepAugment's names
    assert columns["B_aug2_type"] == "solarize" and len(columns) == 12
    assert policy_columns(None, like=ROT)["A_aug1_type"] == ""
    mixing = Policy.from_distribution(Distribution.uniform(("rotate",), erasing=0.25, cutmix=0.5))
    assert {k: v for k, v in policy_columns(mixing).items() if k in ("dist_erasing", "dist_cutmix")} == \
        {"dist_erasing": 0.25, "dist_cutmix": 0.5}


def test_the_notebook_is_rebuilt_from_records_and_appended_per_training(tmp_path):
    exp, _ = start(tmp_path)
    records = [complete(0, NOOP, 0.5, BASELINE), complete(1, ROT, 0.7)]
    exp.rebuild_notebook(records)
    running = TrialRecord.running(TrialSpec(2, FLIP, 5), "basiccnn").with_training(history(0.4))
    exp.append_notebook(running)
    notebook = pd.read_csv(exp.notebook_path)
    assert len(notebook) == 2 * 2 * 2 + 2
    assert list(notebook.columns[:8]) == ["acc", "loss", "val_acc", "val_loss", "trial_no", "sample_no",
                                          "mean_late_val_acc", "epoch"]  # DeepAugment 1.x's, in its order
    assert notebook[notebook.trial_no == 1]["trial_reward"].eq(0.7).all()
    assert notebook[notebook.trial_no == 2]["trial_reward"].isna().all()  # not finished yet
    assert json.loads(notebook[notebook.trial_no == 1]["policy"].iloc[0]) == ROT.to_dict()
    rebuild(exp.notebook_path, records)  # a start drops rows of trials that are not in the records
    assert set(pd.read_csv(exp.notebook_path)["trial_no"]) == {0, 1}


def test_write_results_writes_the_table_and_the_best_policy_twice(tmp_path):
    exp, _ = start(tmp_path)
    table = exp.write_results([complete(0, NOOP, 0.5, BASELINE), complete(1, ROT, 0.7), complete(2, FLIP, 0.6)])
    assert Policy.load(exp.best_policy_path) == ROT == Policy.load(tmp_path / "policies" / "exp.json")
    assert list(pd.read_csv(exp.top_policies_path)["trial"]) == list(table["trial"]) == [1, 2]


def test_a_second_run_of_the_same_experiment_is_refused_naming_the_owner(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    exp = Experiment(tmp_path / "exp")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "exp").mkdir()
        (tmp_path / "exp" / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": other.pid,
                                                            "started": "2026-12-02T00:00:00+00:00"}))
        with pytest.raises(InputError, match=f"being run by process {other.pid} on .*another experiment_name"):
            with exp.owned():
                pass
        assert (tmp_path / "exp" / ".lock").exists()  # the owner's lock is left alone
    finally:
        other.kill()
        other.wait()
    with exp.owned():  # its owner is gone now: the lock is taken over
        owner = json.loads((tmp_path / "exp" / ".lock").read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(InputError, match="being run by process"):
            with Experiment(tmp_path / "exp").owned():  # the same experiment opened twice in one process
                pass
    assert not (tmp_path / "exp" / ".lock").exists()  # released


def test_two_searches_of_one_experiment_do_not_both_run(tmp_path):
    from _search import tiny_config, toy_data

    from deepaug.api import DeepAugment

    x, y = toy_data()
    first = DeepAugment(x, y, tiny_config(tmp_path))
    with first._search.experiment.owned():  # a search of this experiment is running
        second = DeepAugment(x, y, tiny_config(tmp_path))
        with pytest.raises(InputError, match="is being run by process"):
            second.optimize(1)
    assert first._search.experiment.records() == []  # the refused run trained nothing
