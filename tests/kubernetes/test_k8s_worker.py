"""`deepaug trial run --spec <uri>`, the pod's entry point, run in this process on local storage.

Nothing is mocked: specs and contexts are written the way the Kubernetes executor writes
them, to a folder standing in for the shared volume (and to a moto S3 server for s3://).
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from _search import toy_data
from deepaug.cli.app import main
from deepaug.datasets import from_arrays, split_train_val
from deepaug.storage.backends import open_storage, read_json, write_json
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, now
from deepaug.kubernetes.trial_worker import (EXIT_COMPLETE, EXIT_TRIAL_FAILED, EXIT_USER_ERROR, read_context, spec_document,
                            upload_context)
from deepaug.training.train import TrainingConfig


def context(tmp_path, weights=None) -> TrialContext:
    x, y = toy_data(n=120)
    train, val = split_train_val(from_arrays(x, y), 60, 30, seed=0)
    config = TrainingConfig(child_epochs=1, child_batch_size=32, opt_samples=2, opt_last_n_epochs=1,
                            child_models_dir=str(tmp_path / "child_models"))
    return TrialContext(train, val, config, weights)


def stage(tmp_path, ctx=None, spec=TrialSpec(1, None, 5)):
    """Upload a context and a spec as the executor does; return (storage, spec URI)."""
    storage = open_storage(tmp_path / "shared")
    context_uri = upload_context(storage, ctx or context(tmp_path))
    write_json(storage, "t/spec.json", spec_document(spec, context_uri, storage.uri("t/record.json")))
    return storage, storage.uri("t/spec.json")


def test_the_context_round_trips_and_is_uploaded_once_per_content(tmp_path):
    weights = tmp_path / "w.weights.npz"
    weights.write_bytes(b"not really weights")
    ctx = context(tmp_path, str(weights))
    storage = open_storage(tmp_path / "shared")
    uri = upload_context(storage, ctx)
    assert upload_context(storage, ctx) == uri  # content-addressed: a resumed search reuses it
    back = read_context(uri, tmp_path / "scratch")
    assert (back.train.images == ctx.train.images).all() and (back.val.labels == ctx.val.labels).all()
    assert back.train.class_names == ctx.train.class_names
    assert back.config == replace(ctx.config, child_models_dir=str(tmp_path / "scratch" / "child_models"))
    assert open(back.initial_weights, "rb").read() == b"not really weights"
    other = upload_context(storage, replace(ctx, config=replace(ctx.config, child_epochs=2)))
    assert other != uri


def test_a_spec_from_an_older_format_version_is_a_user_error_with_a_clear_message(tmp_path, capsys):
    storage, uri = stage(tmp_path)
    doc = read_json(storage, "t/spec.json")
    write_json(storage, "t/spec.json", {**doc, "format_version": 0, "deepaug_version": "0.0.9"})
    assert main(["trial", "run", "--spec", uri]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "format_version 0" in err and "0.0.9" in err and "same deepaug version" in err
    write_json(storage, "t/spec.json", doc["spec"])  # a bare TrialSpec, as no deepaug ever wrote
    assert main(["trial", "run", "--spec", uri]) == EXIT_USER_ERROR
    assert main(["trial", "run", "--spec", str(tmp_path / "missing.json")]) == EXIT_USER_ERROR
    assert "does not exist" in capsys.readouterr().err
    assert not storage.exists("t/record.json")


def test_a_missing_context_fails_the_trial_record_and_exits_as_a_user_error(tmp_path, capsys):
    storage, uri = stage(tmp_path)
    for key in list(storage.list("contexts/")):
        storage.delete(key)
    assert main(["trial", "run", "--spec", uri]) == EXIT_USER_ERROR
    record = TrialRecord.from_dict(read_json(storage, "t/record.json"))
    assert record.state is TrialState.FAILED and "trial context" in record.error


def test_a_finished_record_is_left_alone(tmp_path):
    storage, uri = stage(tmp_path)
    done = replace(TrialRecord.running(TrialSpec(1, None, 5), "basiccnn"), state=TrialState.COMPLETE, reward=0.5,
                   reward_std=0.0, finished_at=now())
    write_json(storage, "t/record.json", done.to_dict())
    assert main(["trial", "run", "--spec", uri]) == EXIT_COMPLETE
    assert read_json(storage, "t/record.json") == json.loads(json.dumps(done.to_dict()))


@pytest.mark.slow
def test_a_trial_whose_training_fails_is_recorded_and_exits_3(tmp_path):
    pytest.importorskip("tensorflow")
    weights = tmp_path / "bad.weights.npz"
    weights.write_bytes(b"not an npz file")
    storage, uri = stage(tmp_path, context(tmp_path, str(weights)))
    assert main(["trial", "run", "--spec", uri]) == EXIT_TRIAL_FAILED
    record = TrialRecord.from_dict(read_json(storage, "t/record.json"))
    assert record.state is TrialState.FAILED and record.error


def test_the_worker_reads_s3(tmp_path, s3_bucket):
    """Spec and context on a moto S3 server (real HTTP, boto3's credential chain)."""
    storage = open_storage(f"s3://{s3_bucket}/shared")
    ctx = context(tmp_path)
    uri = upload_context(storage, ctx)
    assert read_context(uri, tmp_path).train.images.shape == ctx.train.images.shape
    write_json(storage, "t/spec.json", {"format_version": 99, "spec": {}})
    assert main(["trial", "run", "--spec", storage.uri("t/spec.json")]) == EXIT_USER_ERROR
