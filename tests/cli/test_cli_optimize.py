"""`deepaug optimize` and `deepaug report` from config files, and resuming after SIGKILL.

Real searches on small data (1-epoch trials on 120 16x16 images); the SIGKILL test runs
the CLI in a subprocess and kills it while a trial is between two trainings.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from _search import kill_when, read_records as records, tiny_config, toy_data
from deepaug.cli import app as cli

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def npz(tmp_path) -> Path:
    x, y = toy_data()
    path = tmp_path / "toy.npz"
    np.savez(path, images=x, labels=y)
    return path


def write_config(tmp_path: Path, npz: Path, name: str = "run.yaml", **overrides) -> Path:
    config = {**tiny_config(tmp_path), "dataset": str(npz), "iterations": 2, **overrides}
    config.pop("experiment_name")
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(config))
    else:
        path.write_text(yaml.safe_dump(config))
    return path


def test_optimize_from_a_yaml_config_prints_the_top_policies_and_the_report(tmp_path, npz, capsys):
    config = write_config(tmp_path, npz)
    assert cli.main(["optimize", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "experiments" / "run"  # named after the config file
    assert f"report: {folder / 'report' / 'summary.md'}" in out
    assert "top policies of experiment 'run'" in out and "reward" in out
    assert sorted(records(folder)) == [0, 1, 2]
    # --iterations raises the target; the same command resumes the experiment
    assert cli.main(["optimize", "--config", str(config), "--iterations", "3"]) == 0
    assert sorted(records(folder)) == [0, 1, 2, 3]
    capsys.readouterr()
    assert cli.main(["report", "run", "--reports-dir", str(tmp_path / "reports")]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "report" / "summary.md")


def test_optimize_from_a_json_config_with_a_folder_dataset(tmp_path, capsys):
    import cv2

    x, y = toy_data(n=100)  # 80 after the held-out test fifth: 50 training, 30 validation
    for i, (image, label) in enumerate(zip(x, y)):
        (tmp_path / "data" / f"class{label}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "data" / f"class{label}" / f"{i}.png"), image)
    config = write_config(tmp_path, tmp_path / "data", name="folder.json", iterations=1, train_set_size=50,
                          validation_size=30, method="random")
    assert cli.main(["optimize", "--config", str(config)]) == 0
    assert sorted(records(tmp_path / "reports" / "experiments" / "folder")) == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("dataset: [unclosed", "does not parse"),
    ("- a\n- b\n", "must hold a mapping"),
    ("child_epochs: 1\n", "has no `dataset`"),
    ("dataset: fashion_mnist\nchild_epoch: 3\n", "unknown config keys.*child_epochs.*iterations"),
    ("dataset: fashion_mnist\nchild_epochs: many\n", "child_epochs"),
    ("dataset: fashion_mnist\niterations: 0\n", "iterations"),
    ("dataset: no_such_dataset\n", "no_such_dataset"),
])
def test_bad_config_files_exit_2_with_a_clear_message(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text if text.startswith("-") else text + f"reports_dir: {tmp_path / 'reports'}\n")
    assert cli.main(["optimize", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "deepaug: error:" in err
    assert re.search(message, err, re.S), err
    assert not (tmp_path / "reports").exists()


def test_missing_config_and_bad_iterations(tmp_path, npz, capsys):
    assert cli.main(["optimize", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    config = write_config(tmp_path, npz)
    assert cli.main(["optimize", "--config", str(config), "--iterations", "0"]) == 2
    assert "iterations" in capsys.readouterr().err


def test_report_of_an_unknown_experiment_lists_the_known_ones(tmp_path, capsys):
    assert cli.main(["report", "nope", "--reports-dir", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["optimize", "--help"])
    out = capsys.readouterr().out
    for option in ("--config", "--iterations", "--experiment-name", "--reports-dir", "quickstart"):
        assert option in out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "optimize" in out and "report" in out


def test_the_builtin_quickstart_config_is_valid():
    from deepaug.run import load_config_file

    run, config = load_config_file("quickstart")
    assert run.dataset == "fashion_mnist" and run.iterations >= 5
    assert config.experiment_name == "quickstart" and config.seed is not None
    # the distribution search, racing its finalists against TrivialAugment and RandAugment
    assert config.search_space == "distribution" and config.race_seeds >= 3 and config.finalists >= 1
    # scripts/main.sh runs `deepaug run`: the whole training split, locally, into the experiment folder
    assert run.augment is not None and run.augment.input is None and run.augment.output is None
    assert run.augment.executor == "local" and run.augment.format == "tfrecord"


def test_a_search_killed_with_sigkill_resumes_with_every_finished_trial_once(tmp_path, npz):
    config = write_config(tmp_path, npz, iterations=2, opt_samples=3)  # killed in its last trial
    folder = tmp_path / "reports" / "experiments" / "run"
    command = [sys.executable, "-m", "deepaug.cli", "optimize", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def ready(seen: dict[int, dict]) -> bool:
        complete = [n for n, r in seen.items() if r["state"] == "complete"]
        midway = [n for n, r in seen.items() if r["state"] == "running" and 1 <= len(r["histories"]) < 3]
        return len(complete) >= 2 and bool(midway)

    kill_when(command, tmp_path, env, folder, ready)
    before = {n: r for n, r in records(folder).items()}  # every file parses: none is partial
    finished_before = {n: r for n, r in before.items() if r["state"] != "running"}
    assert len(finished_before) >= 2

    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = records(folder)
    assert sorted(after) == list(range(3))  # baseline + 2 trials, each number once
    assert all(r["state"] == "complete" for r in after.values())
    for n, record in finished_before.items():
        assert after[n] == record  # finished trials were not run again
    interrupted = [n for n, r in before.items() if r["state"] == "running"]
    for n in interrupted:
        assert after[n]["histories"][:len(before[n]["histories"])] == before[n]["histories"]
    notebook = pd.read_csv(folder / "notebook.csv")
    assert notebook.groupby("trial_no").size().to_dict() == {n: 3 for n in range(3)}
    assert not notebook.duplicated(["trial_no", "sample_no", "epoch"]).any()
    assert not list(folder.rglob(".*.tmp"))


def test_ctrl_c_keeps_finished_trials_and_prints_how_to_resume(tmp_path, npz, capsys, monkeypatch):
    from deepaug.training import train as training

    real, calls = training.train_child, []

    def interrupted_on_the_third(*args, **kwargs):  # fault injection around the real training
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_child", interrupted_on_the_third)
    config = write_config(tmp_path, npz, iterations=3)
    assert cli.main(["optimize", "--config", str(config)]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Run the same command again to resume" in err
    folder = tmp_path / "reports" / "experiments" / "run"
    assert {n: r["state"] for n, r in records(folder).items()} == {0: "complete", 1: "complete", 2: "running"}
    monkeypatch.setattr(training, "train_child", real)
    assert cli.main(["optimize", "--config", str(config)]) == 0
    assert {n: r["state"] for n, r in records(folder).items()} == {n: "complete" for n in range(4)}
