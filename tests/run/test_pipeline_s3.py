"""`deepaug run` with the experiment folder on S3 (a real moto server on loopback): the search,
its records and the augment record live there, and the augmented dataset goes there by default."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401

from _search import tiny_config, toy_data
from deepaug.cli import app as cli
from deepaug.storage.backends import open_storage

pytest.importorskip("tensorflow")


@pytest.mark.slow
def test_run_keeps_the_whole_experiment_and_its_augmented_dataset_on_s3(tmp_path, s3_bucket, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x, y = toy_data(n=240)  # 192 after the held-out test fifth
    np.savez(tmp_path / "toy.npz", images=x, labels=y)
    config = tiny_config(tmp_path, reports_dir=f"s3://{s3_bucket}/deepaug", tensorboard=False)
    config.pop("experiment_name")
    config.update({"dataset": str(tmp_path / "toy.npz"), "iterations": 1, "augment": {"variants": 1, "shard_size": 64}})
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert cli.main(["run", "--config", str(tmp_path / "run.yaml")]) == 0
    store = open_storage(f"s3://{s3_bucket}/deepaug/experiments/run")
    record = json.loads(store.read("augment.json"))
    assert record["complete"] is True and record["output"].startswith(f"s3://{s3_bucket}/deepaug/experiments/run/"
                                                                      "augmented/")
    keys = set(store.list())
    assert {"trials/0000/record.json", "trials/0001/record.json", "best_policy.json", "report/summary.md"} <= keys
    outputs = [k for k in keys if k.startswith("augmented/") and k.endswith(".png")]
    assert len(outputs) == record["totals"]["outputs"] == 480
    assert f"augment record: s3://{s3_bucket}/deepaug/experiments/run/augment.json" in capsys.readouterr().out
    assert not (tmp_path / "reports").exists()
