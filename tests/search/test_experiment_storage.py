"""The experiment folder through the storage contract: one trial-record layout, older
experiments still resumable, and a whole experiment on S3 (a real moto server on loopback)."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401
from _search import tiny_config

from deepaug.api import DeepAugment
from deepaug.errors import InputError
from deepaug.execution.records import record_key, record_number
from deepaug.execution.trials import BASELINE, TrialRecord, TrialSpec, TrialState
from deepaug.policy.core import Policy
from deepaug.reports.report import make_report, resolve_experiment
from deepaug.search.experiment import Experiment
from deepaug.storage.backends import open_storage

ROT = Policy.from_list([[("rotate", 0.5, 0.3)]])


def finished(number: int, reward: float, policy: Policy | None = ROT, kind: str = "search") -> TrialRecord:
    record = TrialRecord.running(TrialSpec(number, policy, 10 + number, kind), "basiccnn").with_training(
        {"accuracy": [0.5], "loss": [1.0], "val_accuracy": [reward], "val_loss": [1.0], "reward": reward})
    return TrialRecord.from_dict({**record.to_dict(), "state": "complete", "reward": reward, "reward_std": 0.0,
                                  "sample_rewards": [reward]})


def test_record_keys_have_one_layout_and_legacy_names_are_recognized():
    assert record_key(12) == "trials/0012/record.json" and record_number("trials/0012/record.json") == 12
    assert record_number("trials/trial_0007.json") == 7  # the layout before 0.1.0's experiment-on-storage
    assert record_number("trials/0012/spec.json") is None and record_number("trials/.record.json.1-2.tmp") is None


def test_an_experiment_of_the_older_layout_is_read_and_moved_when_it_runs_again(tmp_path):
    exp = Experiment(tmp_path / "exp")
    exp.start({"a": 1}, {"d": 1}, {}, seed=3)
    old = {0: finished(0, 0.5, None, BASELINE), 1: finished(1, 0.7)}
    (tmp_path / "exp" / "trials").mkdir()
    for number, record in old.items():  # as the earlier deepaug wrote them
        (tmp_path / "exp" / "trials" / f"trial_{number:04d}.json").write_text(json.dumps(record.to_dict()))
    assert exp.records() == [old[0], old[1]]
    exp.save(finished(1, 0.8))  # a newer copy in the new layout wins over the legacy one
    assert [r.reward for r in exp.records()] == [0.5, 0.8]

    assert exp.start({"a": 1}, {"d": 1}, {}, seed=None) == 3  # the resume moves the legacy records
    files = sorted(str(p.relative_to(tmp_path / "exp")) for p in (tmp_path / "exp" / "trials").rglob("*.json"))
    assert files == ["trials/0000/record.json", "trials/0001/record.json"]
    assert [r.reward for r in exp.records()] == [0.5, 0.8]


@pytest.mark.slow
def test_a_search_runs_resumes_and_reports_with_its_experiment_folder_on_s3(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 32, 32, 1), dtype=np.uint8)
    y = np.arange(200) % 4
    config = tiny_config(tmp_path, reports_dir=f"s3://{s3_bucket}/runs", experiment_name="on-s3",
                         policies_dir=str(tmp_path / "policies"))
    da = DeepAugment(x, y, config)
    assert da.experiment_dir == f"s3://{s3_bucket}/runs/experiments/on-s3"
    da.optimize(1)
    store = open_storage(f"s3://{s3_bucket}/runs/experiments/on-s3")
    keys = set(store.list())
    assert {"config.json", "notebook.csv", "top_policies.csv", "best_policy.json", "samples.npz",
            "report/summary.md", "report/rewards.png"} <= keys
    assert {k for k in keys if k.startswith("trials/")} == {record_key(n) for n in range(2)}
    assert ".lock" not in keys  # released
    assert not (tmp_path / "reports").exists() and not (tmp_path / "runs").exists()  # nothing local but the copy
    assert Policy.load(tmp_path / "policies" / "on-s3.json") == da.best_policy
    assert set(da.notebook["trial_no"]) == {0, 1}
    assert {"tensorboard/trial_0000", "tensorboard/trial_0001"} <= {k.rpartition("/")[0] for k in keys}

    again = DeepAugment(x, y, config)  # resumes from the records on S3: trials 0-1 are not run again
    before = {n: store.read(record_key(n)) for n in range(2)}
    records = again._search.run(2)
    assert [r.number for r in records] == [0, 1, 2] and all(r.state is TrialState.COMPLETE for r in records)
    assert all(store.read(record_key(n)) == before[n] for n in range(2))
    assert set(again.notebook["trial_no"]) == {0, 1, 2}  # the remote notebook is rewritten whole

    where = resolve_experiment("on-s3", f"s3://{s3_bucket}/runs")
    assert where == f"s3://{s3_bucket}/runs/experiments/on-s3"
    assert make_report(where) == f"{where}/report/summary.md"
    assert "# Experiment on-s3" in store.read("report/summary.md").decode()
    with pytest.raises(InputError, match="Experiments there: on-s3"):
        resolve_experiment("missing", f"s3://{s3_bucket}/runs")


@pytest.mark.parametrize("scheme", ["s3", "memory"])  # memory://: fsspec's in-process store, as gs:// and az://
def test_a_second_owner_of_an_experiment_on_an_object_store_is_refused(request, scheme):
    root = f"s3://{request.getfixturevalue('s3_bucket')}" if scheme == "s3" else f"memory://{uuid.uuid4().hex}"
    first = Experiment(f"{root}/r/experiments/x")
    with first.owned():
        with pytest.raises(InputError, match="experiment 'x'"):
            with Experiment(f"{root}/r/experiments/x").owned():
                pass
    with Experiment(f"{root}/r/experiments/x").owned():  # released: the next run may start
        pass
