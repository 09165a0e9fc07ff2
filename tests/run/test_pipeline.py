"""`deepaug run --config`: a real search, then a real augmentation run with its best policy.

Small real data (1-epoch trials on 120 16x16 images); the augmentation runs in-process or
with local worker processes, writing real PNG files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from _search import tiny_config, toy_data
from deepaug.cli import app as cli
from deepaug.policy.core import Policy

pytest.importorskip("tensorflow")


@pytest.fixture
def npz(tmp_path) -> Path:
    x, y = toy_data(n=240)  # 192 after the held-out test fifth: 120 training, 60 validation
    path = tmp_path / "toy.npz"
    np.savez(path, images=x, labels=y)
    return path


def write_config(tmp_path: Path, dataset: str, augment: dict | None, **overrides) -> Path:
    config = tiny_config(tmp_path)
    config.pop("experiment_name")  # named after the file
    config.update({"dataset": dataset, "iterations": 2, **overrides})
    if augment is not None:
        config["augment"] = augment
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def trial_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.glob("trials/*/record.json"))


def test_run_searches_then_augments_with_the_best_policy_and_a_rerun_reuses_both(tmp_path, npz, capsys):
    config = write_config(tmp_path, str(npz), {"variants": 1, "workers": 1, "shard_size": 64})
    assert cli.main(["run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "experiments" / "run"
    assert trial_files(folder) == ["trials/0000/record.json", "trials/0001/record.json", "trials/0002/record.json"]
    record = json.loads((folder / "augment.json").read_text())
    assert record["complete"] is True and record["cached"] is False
    assert record["input"] == str(npz)  # defaults to the search's dataset
    out_dir = folder / "augmented" / record["dataset_id"][:16]  # default: augmented/{id}
    assert record["output"] == str(out_dir)
    assert record["totals"]["images"] == 240 and record["totals"]["outputs"] == 480  # the whole file, test fifth included
    manifest = json.loads((out_dir / "manifest.json").read_text())
    best = Policy.from_dict(json.loads((folder / "best_policy.json").read_text()))
    assert Policy.from_dict(manifest["recipe"]["policy"]) == best == Policy.from_dict(record["policy"])
    assert manifest["dataset_id"] == record["dataset_id"]
    assert len(list(out_dir.rglob("*.png"))) == 480
    assert f"augment record: {folder / 'augment.json'}" in out and "complete: 240 images -> 480 outputs" in out

    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    assert cli.main(["run", "--config", str(config)]) == 0
    assert "already built" in capsys.readouterr().out
    assert trial_files(folder) == ["trials/0000/record.json", "trials/0001/record.json", "trials/0002/record.json"]  # nothing re-run
    assert json.loads((folder / "augment.json").read_text())["cached"] is True
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == before


def test_a_named_dataset_is_augmented_whole_with_local_workers(tmp_path, capsys):
    out_dir = tmp_path / "digits-augmented"
    config = write_config(tmp_path, "digits", {"output": str(out_dir), "variants": 1, "format": "tfrecord",
                                               "workers": 2, "shard_size": 400},
                          iterations=1, train_set_size=200, validation_size=100, image_size=16)
    assert cli.main(["run", "--config", str(config)]) == 0
    from deepaug.datasets import load

    n = len(load("digits", split="train"))
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["totals"]["images"] == n and manifest["totals"]["outputs"] == 2 * n
    exported = tmp_path / "reports" / "experiments" / "run" / "augment" / "digits-train.npz"
    with np.load(exported) as arrays:
        assert len(arrays["labels"]) == n and arrays["images"].shape[:3] == (n, 16, 16)  # as the search saw them


@pytest.mark.parametrize("augment, words", [
    ({"format": "gif"}, ["augment.format", "png"]),
    ({"variants": -1}, ["augment.variants"]),
    ({"colour": "red"}, ["augment.colour", "xtra"]),
    ({"input": "/nonexistent/images"}, ["/nonexistent/images"]),
    ({"executor": "kubernetes"}, ["kubernetes:"]),
    ({"parallelism": 4}, ["parallelism", "executor kubernetes"]),
])
def test_a_bad_augment_section_is_refused_before_any_trial(tmp_path, npz, capsys, augment, words):
    config = write_config(tmp_path, str(npz), augment)
    assert cli.main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err
    assert trial_files(tmp_path / "reports" / "experiments" / "run") == []


def test_output_inside_the_input_folder_is_refused_before_any_trial(tmp_path, capsys):
    import cv2

    x, y = toy_data(n=240)  # enough for the config's 120 training and 60 validation images, after the test fifth
    root = tmp_path / "images"
    for i, (image, label) in enumerate(zip(x, y)):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"c{label}" / f"{i}.png"), image)
    config = write_config(tmp_path, str(root), {"output": str(root / "augmented")})
    assert cli.main(["run", "--config", str(config)]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert trial_files(tmp_path / "reports" / "experiments" / "run") == []


def test_an_output_that_cannot_take_the_dataset_is_refused_before_any_trial(tmp_path, npz, capsys):
    from deepaug.api import augment

    stranger = tmp_path / "holiday-photos"
    stranger.mkdir()
    (stranger / "beach.jpg").write_bytes(b"not ours")
    config = write_config(tmp_path, str(npz), {"output": str(stranger)})
    assert cli.main(["run", "--config", str(config)]) == 2
    assert "is not empty and is not a deepaug dataset" in capsys.readouterr().err

    other = tmp_path / "other"  # a dataset of the same input with 2 variants; the run asks for 1
    augment("reference", npz, other, variants=2, shard_size=100)
    config = write_config(tmp_path, str(npz), {"output": str(other), "variants": 1, "shard_size": 100})
    assert cli.main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "already holds another dataset" in err and "recipe.variants: there 2, here 1" in err
    assert trial_files(tmp_path / "reports" / "experiments" / "run") == []


def test_without_an_augment_section_run_says_to_add_one_or_use_optimize(tmp_path, npz, capsys):
    config = write_config(tmp_path, str(npz), None)
    assert cli.main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no `augment:` section" in err and "deepaug optimize" in err
    from deepaug.run import load_config_file

    config.write_text(config.read_text() + "augment:\n")  # a bare key: the defaults, as `augment: {}`
    run, _ = load_config_file(config)
    assert run.augment is not None and run.augment.request.given() == {} and run.augment.output is None


def test_the_augment_half_runs_as_an_indexed_job_on_the_emulated_cluster(tmp_path, capsys):
    pytest.importorskip("kmock")
    from _k8s import Cluster

    cluster = Cluster(tmp_path / "cluster")
    try:
        x, y = toy_data(n=240)
        cluster.storage.mkdir(parents=True)
        data = cluster.storage / "toy.npz"  # on the shared volume, where the pods read it
        np.savez(data, images=x, labels=y)
        settings = cluster.settings().model_dump(exclude_defaults=True)
        augment = {"output": str(cluster.storage / "out"), "variants": 1, "shard_size": 50,
                   "executor": "kubernetes", "parallelism": 2}
        config = write_config(tmp_path, str(data), augment, kubernetes=settings)
        assert cli.main(["run", "--config", str(config)]) == 0
        manifest = json.loads((cluster.storage / "out" / "manifest.json").read_text())
        assert manifest["totals"] == {**manifest["totals"], "images": 240, "outputs": 480}
        folder = tmp_path / "reports" / "experiments" / "run"
        best = Policy.from_dict(json.loads((folder / "best_policy.json").read_text()))
        assert Policy.from_dict(manifest["recipe"]["policy"]) == best
        assert json.loads((folder / "augment.json").read_text())["complete"] is True
        assert sorted(index for _, index, _ in cluster.controller.indexed) == [0, 1, 2, 3, 4]  # 5 shards, 5 pods
        assert cluster.jobs() == []

        # a named dataset is on this machine only, where the pods cannot read it: refused up front
        config = write_config(tmp_path, "digits", {**augment, "output": str(cluster.storage / "digits")},
                              kubernetes=settings, image_size=16, experiment_name="digits")
        assert cli.main(["run", "--config", str(config)]) == 2
        assert "augment.input is needed with executor kubernetes" in capsys.readouterr().err
        assert trial_files(tmp_path / "reports" / "experiments" / "digits") == []
    finally:
        cluster.stop()


def test_run_with_the_distribution_search_augments_with_its_answer(tmp_path, npz, capsys):
    config = write_config(tmp_path, str(npz), {"variants": 1, "workers": 1, "shard_size": 100},
                          search_space="distribution", iterations=1, rungs=1, race_seeds=2, finalists=1,
                          validation_size=60)
    assert cli.main(["run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "experiments" / "run"
    verdict = json.loads((folder / "verdict.json").read_text())
    record = json.loads((folder / "augment.json").read_text())
    assert record["complete"] is True and record["policy_trial"] == verdict["winner"]
    assert Policy.from_dict(record["policy"]) == Policy.from_dict(verdict["policy"])
    assert Policy.from_dict(record["policy"]).kind == "distribution"
    assert "verdict:" in out and record["totals"]["outputs"] == 480
    assert record["changes_images"] is Policy.from_dict(record["policy"]).changes_images


def test_an_answer_of_no_augmentation_is_said_plainly_before_the_copies_are_written():
    from deepaug.policy.baselines import TrivialAugment
    from deepaug.run import unchanged_note
    from deepaug.search.controls import make_controls
    from deepaug.search.distribution_space import DistributionSpace

    none = next(c.policy for c in make_controls(("trivialaugment", "none"), DistributionSpace(channels=1))
                if c.name == "no augmentation")
    for policy in (none, Policy.noop()):
        note = unchanged_note(policy)
        assert note is not None and "no augmentation" in note and "unchanged copies" in note
    assert unchanged_note(TrivialAugment().policy) is None
