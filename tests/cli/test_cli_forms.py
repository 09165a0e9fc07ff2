"""The command forms of issue 16: `python -m deepaug`, `deepaug optimize --dataset` without a config,
`--set key=value` on the commands that take a config, `deepaug evaluate --image-size`, and named
datasets too small for the default model (digits, 8x8) resized instead of refused.

Trainings are one epoch on small data (marked slow); every bad flag is refused before any work.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _search import tiny_config, toy_data

from deepaug.cli import app as cli
from deepaug.cli.options import key_value
from deepaug.errors import InputError
from deepaug.run import load_config_file

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]


def tiny_sets(tmp_path: Path) -> list[str]:
    """tiny_config as --set flags (what a user types instead of writing a config file)."""
    config = tiny_config(tmp_path, train_set_size=100, validation_size=60)
    config.pop("experiment_name")
    return [arg for key, value in config.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def test_python_dash_m_deepaug_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "deepaug", "optimize", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--dataset" in done.stdout and "--set KEY=VALUE" in done.stdout
    done = subprocess.run([sys.executable, "-m", "deepaug", "optimize"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "needs --dataset NAME_OR_PATH" in done.stderr and "--config FILE" in done.stderr


@pytest.mark.parametrize("flags, message", [
    (["--set", "child_epoch=3"], r"--set child_epoch: unknown config keys \['child_epoch'\] \(did you mean "
                                 r"'child_epochs'\?\); valid keys are.*, iterations, augment$"),
    (["--set", "child_epochs="], r"child_epochs: Input should be a valid integer \(got an empty value\)$"),
    (["--set", "image_size=big"], r"image_size: text where a whole number or a list is wanted.* \(got 'big'\)$"),
    (["--set", "kubernetes.namespce=ml"], "kubernetes.namespce: Extra inputs are not permitted"),
    (["--set", "child_epochs=many"], r"child_epochs: text where a whole number.*\(got 'many'\)$"),  # no key list
    # issue 38: a value of another kind is refused, not converted; a seed past what the trainers take is refused
    (["--set", "child_epochs=yes"], r"child_epochs: true/false where a whole number such as 50 is wanted \(YAML "
                                    r"reads yes, no, on, off.*; write a whole number such as 50 \(got True\)$"),
    (["--set", "seed=1180591620717411303424"], r"seed: a seed must be a whole number in 0\.\.4294967295 .*write one "
                                               r"such as 0 \(got 1180591620717411303424\)$"),
    (["--set", "seed=2**70"], r"seed: text where a whole number is wanted; write a whole number, without quotes"),
    (["--set", "kubernetes.gpus=on"], r"kubernetes.gpus: true/false where a whole number such as 0 is wanted"),
    (["--set", "tensorboard=1"], r"tensorboard: true or false is wanted, not another value; write true or false "
                                 r"\(got 1\)$"),
    (["--set", "learning_rate=.inf"], r"learning_rate: Input should be a finite number \(got inf\)$"),
    (["--set", "ops=[rotate, no]"], r"ops: item 1: true/false where text.* is wanted"),
    (["--set", "image_size=[true, 8]"], r"image_size: item 0: true/false where a whole number is wanted"),
    (["--set", "seed=1", "--set", "seed=2"], "--set seed and --set seed set the same key"),
    (["--set", "iterations=0"], "iterations"),
    (["--dataset", "no_such_dataset"], "no_such_dataset"),
])
def test_bad_overrides_are_refused_naming_the_key_before_any_work(tmp_path, capsys, flags, message):
    argv = ["optimize", "--dataset", "digits", "--reports-dir", str(tmp_path / "reports"), *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepaug: error:") and re.search(message, err), err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("argv, message", [
    (["optimize", "--dataset", "digits", "--set", "child_epochs"], "expected KEY=VALUE"),
    (["optimize", "--dataset", "digits", "--set", "ops=[rotate,"], "not valid YAML"),
    (["optimize", "--dataset", "digits", "--set", "kubernetes={a: 1}"], "set its keys one by one"),
    (["evaluate", "--image-size", "0"], "argument --image-size: expected a whole number >= 1, got '0'"),
    (["evaluate", "--image-size", "big"], "got 'big'"),
])
def test_malformed_flags_stop_argument_parsing_with_the_input_and_the_fix(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_set_overrides_keys_and_nested_sections_of_a_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"dataset": "digits", "child_epochs": 5, "augment": {"variants": 4},
                                    "kubernetes": {"image": "deepaug:1"}}))
    run, config = load_config_file(path, {"child_epochs": 2, "augment.variants": 1, "kubernetes.namespace": "ml",
                                          "ops": ["rotate", "invert"]})
    assert config.child_epochs == 2 and config.ops == ("rotate", "invert")
    assert run.augment.variants == 1 and config.kubernetes.namespace == "ml" and config.kubernetes.image == "deepaug:1"
    assert yaml.safe_load(path.read_text())["child_epochs"] == 5  # the file is not touched
    run, config = load_config_file(None, {"seed": 3}, dataset=str(tmp_path / "my_images.npz"))
    assert config.experiment_name == "my_images" and config.seed == 3  # named after the dataset: reruns resume


def test_k8s_render_takes_set_overrides(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"dataset": "fashion_mnist", "executor": "kubernetes",
                                      "kubernetes": {"image": "deepaug:0.1.0", "storage": "s3://b/p"}}))
    assert cli.main(["k8s", "render", "--config", str(config), "--job-only",
                     "--set", "kubernetes.namespace=team-a", "--set", "kubernetes.image=deepaug:2"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["metadata"]["namespace"] == "team-a"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "deepaug:2"


def test_augment_and_its_job_take_set_overrides_of_the_kubernetes_section(tmp_path, capsys):
    from _augment_data import write_images

    write_images(tmp_path / "shared" / "src", per_class=2)
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump({"dataset": "cifar10", "kubernetes": {"image": "deepaug:1",
                                                                          "storage": str(tmp_path / "shared")}}))
    where = ["--policy", "reference", "--input", str(tmp_path / "shared" / "src"),
             "--output", str(tmp_path / "shared" / "out")]
    assert cli.main(["k8s", "render", "augment", *where, "--config", str(config), "--job-only",
                     "--set", "kubernetes.namespace=team-b", "--set", "kubernetes.volume_claim=data"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["metadata"]["namespace"] == "team-b"
    assert "'claimName': 'data'" in str(job["spec"]["template"]["spec"]["volumes"])
    assert cli.main(["k8s", "render", "augment", *where, "--config", str(config), "--set", "child_epochs=3"]) == 2
    assert "--set child_epochs: this command reads only the kubernetes: section" in capsys.readouterr().err
    assert cli.main(["augment", *where, "--set", "kubernetes.namespace=ml"]) == 2  # a local run has no Job
    assert "--set apply to --executor kubernetes only" in capsys.readouterr().err
    assert not (tmp_path / "shared" / "out").exists()


def test_run_takes_set_overrides_and_refuses_unknown_keys_before_any_work(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"dataset": "digits", "reports_dir": str(tmp_path / "reports"),
                                      "augment": {"output": str(tmp_path / "out")}}))
    assert cli.main(["run", "--config", str(config), "--set", "augment.variantz=2"]) == 2
    assert "variantz" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_optimize_on_digits_without_a_config_file_resizes_and_runs(tmp_path, capsys, caplog):
    argv = ["optimize", "--dataset", "digits", "--iterations", "1", *tiny_sets(tmp_path)]
    caplog.set_level(logging.INFO)  # the root's level: main() leaves deepaug's to it
    assert cli.main(argv) == 0
    assert "from 8x8 to 10x10: model 'basiccnn' needs at least 10x10" in caplog.text
    folder = tmp_path / "reports" / "experiments" / "digits"  # named after the dataset
    assert "top policies of experiment 'digits'" in capsys.readouterr().out
    notebook = pd.read_csv(folder / "notebook.csv")
    assert set(notebook["trial_no"]) == {0, 1} and notebook["mean_late_val_acc"].notna().all()
    assert cli.main(argv) == 0  # the same command again resumes: nothing left to run
    assert sorted(p.parent.name for p in (folder / "trials").glob("*/record.json")) == ["0000", "0001"]


@pytest.mark.slow
def test_evaluate_on_digits_resizes_by_default_and_image_size_chooses(tmp_path, capsys):
    base = ["evaluate", "--dataset", "digits", "--epochs", "1", "--seeds", "1", "--baselines", "none",
            "--train-size", "200", "--batch-size", "64", "--reports-dir", str(tmp_path)]
    assert cli.main(base) == 0
    out = capsys.readouterr().out
    assert "images resized to 10x10" in out
    folder = tmp_path / "evaluations" / "digits"
    assert json.loads((folder / "evaluation.json").read_text())["settings"]["image_size"] == [10, 10]
    assert cli.main([*base, "--image-size", "12", "--name", "digits12"]) == 0
    assert "images resized to 12x12" in capsys.readouterr().out
    with open(tmp_path / "evaluations" / "digits12" / "runs.csv", newline="") as fh:
        assert float(next(csv.DictReader(fh))["test_accuracy"]) > 0.1  # 10 classes: above chance


def test_your_own_small_images_are_refused_saying_how_to_resize_them(tmp_path, capsys):
    x, y = toy_data(60, side=8)
    np.savez(tmp_path / "small.npz", images=x, labels=y)
    assert cli.main(["evaluate", "--dataset", str(tmp_path / "small.npz"), "--reports-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "images of 8x8 are too small for model 'basiccnn'" in err and "--image-size 10 on deepaug evaluate" in err
    assert cli.main(["optimize", "--dataset", str(tmp_path / "small.npz"), "--reports-dir", str(tmp_path)]) == 2
    assert "--set image_size=10 on deepaug optimize" in capsys.readouterr().err
    assert not (tmp_path / "evaluations").exists() and not (tmp_path / "experiments").exists()


@pytest.mark.slow
def test_evaluate_image_size_resizes_a_file_dataset(tmp_path, capsys):
    x, y = toy_data(120)
    np.savez(tmp_path / "toy.npz", images=x, labels=y)
    assert cli.main(["evaluate", "--dataset", str(tmp_path / "toy.npz"), "--epochs", "1", "--seeds", "1",
                     "--baselines", "none", "--image-size", "12", "--reports-dir", str(tmp_path)]) == 0
    assert "images resized to 12x12" in capsys.readouterr().out


def test_a_misspelt_dataset_key_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("datset: digits\nchild_epochs: 2\n")
    with pytest.raises(InputError, match=r"has no `dataset` \('datset' is not a key\): name one"):
        load_config_file(path)


def test_a_relative_dataset_path_is_read_from_the_current_folder_and_a_miss_says_where(tmp_path, monkeypatch):
    x, y = toy_data(60)
    (tmp_path / "configs").mkdir()
    np.savez(tmp_path / "configs" / "data.npz", images=x, labels=y)
    path = tmp_path / "configs" / "run.yaml"
    path.write_text("dataset: data.npz\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=rf"dataset 'data.npz' does not exist in the current folder \({tmp_path}\).*"
                                         rf"write dataset: {tmp_path / 'configs' / 'data.npz'}"):
        load_config_file(path)
    monkeypatch.chdir(tmp_path / "configs")
    assert load_config_file(path)[0].dataset == "data.npz"  # found from the current folder
    from deepaug.datasets import load

    missing = tmp_path / "configs" / "missing.npz"
    with pytest.raises(InputError, match=rf"npz file 'missing.npz' \({missing}\) does not exist"):
        load("missing.npz")
    with pytest.raises(InputError, match=rf"the path \({tmp_path / 'configs' / 'photos'}\) does not exist"):
        load("photos")


def _alias_bomb(levels=9):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines)


@pytest.mark.parametrize("name, text, message", [
    ("run.yaml", "dataset: digits\n" + _alias_bomb(), r"config file '.*run.yaml' uses a YAML anchor or alias \(&a0\); "
                                                      "config YAML refuses them"),
    ("run.yaml", "dataset: digits\nchild_epochs: &n 5\nrungs: *n\n", r"uses a YAML anchor or alias \(&n\)"),
    ("run.yaml", "dataset: digits\nx: " + "[" * 5000 + "]" * 5000, r"nests \d+ or more levels deep, over the limit of 32"),
    ("run.json", '{"dataset": "digits", "x": ' + "[" * 5000 + "]" * 5000 + "}", r"nests \d+ or more levels deep"),
    ("run.yaml", "dataset: digits\n#" + "x" * (1 << 20), r"over the limit of 1048576 bytes for config text"),
])
def test_a_config_file_is_read_with_the_policy_readers_caps(tmp_path, name, text, message):
    """issue 38: a run.yaml of nested aliases expanded without bound (plain yaml.safe_load); config files are read
    by the policy reader (deepaug.policy.limits) with a config's limits: no alias, bounded size and depth."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config_file(path)


def test_a_set_value_is_read_with_the_same_caps():
    with pytest.raises(argparse.ArgumentTypeError, match=r"the value of 'ops' uses a YAML anchor or alias \(&a\)"):
        key_value("ops=&a [rotate, *a]")
