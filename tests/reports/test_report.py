"""The experiment report, on experiment folders built from hand-made trial records (no training)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib.image
import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.reports.demo import make_grid
from deepaug.errors import InputError
from deepaug.search.experiment import Experiment, experiment_folder
from deepaug.reports.report import (best_policy, load_samples, make_report, op_counts, resolve_experiment, samples_png,
                            summary_markdown)
from deepaug.execution.trials import BASELINE, SEARCH, TrialRecord, TrialState

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"experiment_name": "unused", "model": "basiccnn", "child_epochs": 2}
DATA = {"fingerprint": "abc123", "shape": [16, 16, 3], "classes": 2}
SPACE = {"ops": ["rotate", "invert", "cutout", "shear"]}

BEST = Policy.from_list([[("rotate", 0.8, 0.5), ("invert", 0.3, 0.0)], [("cutout", 0.7, 0.5)]])
SECOND = Policy.from_list([[("rotate", 0.5, 0.5), ("identity", 1.0, 0.0)], [("shear", 0.0, 0.5)]])
THIRD = Policy.from_list([[("cutout", 0.5, 0.3)]])
FOURTH = Policy.from_list([[("invert", 0.9, 0.1)]])
ERROR = "ValueError: child model exploded\nTraceback (most recent call last):\n  ..."


def history(reward: float) -> dict:
    return {"accuracy": [0.6, 0.8], "loss": [1.0, 0.6], "val_accuracy": [0.55, reward], "val_loss": [1.1, 0.7],
            "epoch_seconds": [1.5, 1.4], "reward": reward, "sample": 0, "seed": 1}


def complete(number: int, policy: Policy | None, reward: float, std: float = 0.01) -> TrialRecord:
    return TrialRecord(number, BASELINE if policy is None else SEARCH, TrialState.COMPLETE,
                       None if policy is None else policy.to_dict(), seed=number, model="basiccnn", reward=reward,
                       reward_std=std, sample_rewards=(reward,), histories=(history(reward),),
                       started_at="2024-01-01T00:00:00+00:00", finished_at="2024-01-01T00:01:00+00:00",
                       seconds=60.0)


def trial_records() -> list[TrialRecord]:
    return [
        complete(0, None, 0.75, 0.02),
        complete(1, FOURTH, 0.70),
        complete(2, SECOND, 0.80),
        complete(3, BEST, 0.82, 0.015),
        complete(4, THIRD, 0.78),
        TrialRecord(5, SEARCH, TrialState.FAILED, FOURTH.to_dict(), 5, "basiccnn", error=ERROR, seconds=12.0),
        TrialRecord(6, SEARCH, TrialState.RUNNING, THIRD.to_dict(), 6, "basiccnn", seconds=30.0),
    ]


def build(folder: Path, records: list[TrialRecord] | None = None, samples: np.ndarray | None = None) -> Experiment:
    experiment = Experiment(folder)
    experiment.start(CONFIG, DATA, SPACE, seed=7)
    records = trial_records() if records is None else records
    for record in records:
        experiment.save(record)
    experiment.write_results(records)
    if samples is not None:
        np.savez(folder / "samples.npz", images=samples, labels=np.arange(len(samples)) % 2)
    return experiment


@pytest.fixture
def samples() -> np.ndarray:
    return natural_batch(3, 16, 16, 3, seed=1)


@pytest.fixture
def full(tmp_path, samples) -> Experiment:
    return build(tmp_path / "reports" / "experiments" / "full_search", samples=samples)


def read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


# ---------------------------------------------------------------- the report

def test_report_writes_the_figures_and_summary(full, samples):
    summary = make_report(full.folder, top_k=3, seed=0)
    assert summary == full.report_dir / "summary.md"
    for name in ("rewards.png", "ops.png"):
        image = read_png(full.report_dir / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    grid = read_png(full.report_dir / "samples.png")
    expected = make_grid(samples, [samples] * 3)
    assert grid.shape[:2] == expected.shape[:2]
    assert sorted(p.name for p in full.report_dir.iterdir()) == ["ops.png", "report.html", "rewards.png",
                                                                 "samples.png", "summary.md"]


def test_summary_names_the_best_trial_the_baseline_and_failures(full):
    text = make_report(full.folder, top_k=3).read_text(encoding="utf-8")
    assert "# Experiment full_search" in text
    assert "5 complete, 1 failed, 1 running" in text
    assert "Baseline reward (no augmentation): 0.7500" in text
    assert "Best reward: 0.8200 ± 0.0150 (trial 3)" in text
    assert "+7.00 pp" in text
    assert str(BEST) in text
    assert "trial 5: ValueError: child model exploded" in text
    assert "Traceback" not in text
    for link in ("](rewards.png)", "](ops.png)", "](samples.png)"):
        assert link in text
    table = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(line.split("|")[1]) for line in table] == [3, 2, 4]  # top 3, best first
    assert "| 2 | 0.8000 ± 0.0100 | +5.00 pp |" in table[1]
    assert "Trial time: total 5m 42s, mean 52.0 s per finished trial" in text


def test_samples_are_reproducible_for_a_seed(full):
    make_report(full.folder, seed=3)
    first = (full.report_dir / "samples.png").read_bytes()
    make_report(full.folder, seed=3)
    assert (full.report_dir / "samples.png").read_bytes() == first
    make_report(full.folder, seed=4)
    assert (full.report_dir / "samples.png").read_bytes() != first


def test_without_samples_the_summary_says_so(tmp_path):
    experiment = build(tmp_path / "no_samples")
    text = make_report(experiment.folder).read_text(encoding="utf-8")
    assert not (experiment.report_dir / "samples.png").exists()
    assert "No sample images: no samples.npz in the experiment folder." in text
    assert "](samples.png)" not in text


def test_an_empty_experiment_still_gets_a_report(tmp_path, samples):
    experiment = build(tmp_path / "empty", records=[], samples=samples)
    text = make_report(experiment.folder).read_text(encoding="utf-8")
    assert "0 complete, 0 failed, 0 running" in text
    assert "No completed search trials yet" in text
    assert "Baseline reward (no augmentation): not measured" in text
    assert "No sample images: there is no best policy yet." in text
    read_png(experiment.report_dir / "rewards.png")
    read_png(experiment.report_dir / "ops.png")
    assert not (experiment.report_dir / "samples.png").exists()


def test_only_a_baseline_and_failures(tmp_path):
    records = [complete(0, None, 0.75), TrialRecord(1, SEARCH, TrialState.FAILED, BEST.to_dict(), 1, "basiccnn")]
    experiment = build(tmp_path / "failing", records=records)
    text = make_report(experiment.folder).read_text(encoding="utf-8")
    assert "trial 1: (no error recorded)" in text
    assert "No completed search trials yet" in text
    read_png(experiment.report_dir / "rewards.png")


def test_a_folder_that_is_not_an_experiment_is_refused(tmp_path):
    folder = tmp_path / "just_a_folder"
    folder.mkdir()
    with pytest.raises(InputError, match="just_a_folder.*no config.json"):
        make_report(folder)
    assert not (folder / "report").exists()


def test_top_k_must_be_positive(full):
    with pytest.raises(InputError, match="top_k"):
        make_report(full.folder, top_k=0)


def test_report_uses_neither_pyplot_nor_tensorflow(full):
    code = ("import sys; from deepaug.reports.report import make_report; make_report(sys.argv[1]); "
            "print([m for m in ('matplotlib.pyplot', 'tensorflow') if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(full.folder)], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the parts

def test_op_counts_count_the_top_policies():
    records = trial_records()
    # top 3 by reward: trial 3 (rotate, invert, cutout), 2 (rotate; identity and p=0 shear left out), 4 (cutout)
    assert op_counts(records, top_k=3) == {"cutout": 2, "rotate": 2, "invert": 1}
    assert op_counts(records, top_k=5) == {"invert": 2, "cutout": 2, "rotate": 2}  # + trial 1; baseline skipped
    assert op_counts(records, top_k=1) == {"cutout": 1, "invert": 1, "rotate": 1}
    assert op_counts([]) == {}


def test_best_policy_prefers_the_records_then_the_file(tmp_path):
    experiment = build(tmp_path / "best")
    assert best_policy(experiment, experiment.records()) == (BEST, "trial 3")
    assert best_policy(experiment, []) == (BEST, "best_policy.json")
    experiment.best_policy_path.write_text("{not json", encoding="utf-8")
    assert best_policy(experiment, []) == (None, "")


@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 12, 10, 1), (2, 12, 10, 3)])
def test_load_samples_gives_nhwc(tmp_path, shape):
    np.savez(tmp_path / "samples.npz", images=np.zeros(shape, np.uint8), labels=np.zeros(2, int))
    images, why = load_samples(tmp_path)
    assert images.shape == (2, 12, 10, shape[3] if len(shape) == 4 else 1) and why == ""
    grid = cv2.imdecode(np.frombuffer(samples_png(images, BEST, variants=2), np.uint8), cv2.IMREAD_COLOR)
    assert grid.shape == make_grid(images, [images, images]).shape


def test_load_samples_explains_bad_files(tmp_path):
    np.savez(tmp_path / "samples.npz", images=np.zeros((2, 4, 4, 3), np.float32), labels=np.zeros(2, int))
    images, why = load_samples(tmp_path)
    assert images is None and "float32" in why
    (tmp_path / "samples.npz").write_bytes(b"garbage")
    assert load_samples(tmp_path)[0] is None


def test_summary_markdown_without_a_baseline():
    records = [complete(1, BEST, 0.9)]
    experiment = Experiment("/nonexistent/no_baseline")
    text = summary_markdown(experiment, records, best=(BEST, "trial 1"))
    assert "n/a (no baseline)" in text and "Best reward: 0.9000" in text


# ---------------------------------------------------------------- finding experiments

def test_resolve_experiment_by_path_and_by_name(tmp_path):
    reports = tmp_path / "reports"
    folder = build(experiment_folder(reports, "alpha")).folder
    build(experiment_folder(reports, "beta"))
    assert resolve_experiment(folder) == folder
    assert resolve_experiment(str(folder), reports_dir="elsewhere") == folder
    assert resolve_experiment("alpha", reports_dir=reports) == folder


def test_resolve_experiment_lists_what_exists(tmp_path):
    reports = tmp_path / "reports"
    build(experiment_folder(reports, "alpha"))
    build(experiment_folder(reports, "beta"))
    (reports / "experiments" / "not_one").mkdir()
    with pytest.raises(InputError, match="'gamma'.*Experiments there: alpha, beta\\."):
        resolve_experiment("gamma", reports_dir=reports)
    with pytest.raises(InputError, match="none"):
        resolve_experiment("alpha", reports_dir=tmp_path / "missing")
    with pytest.raises(InputError, match="not_one"):
        resolve_experiment("not_one", reports_dir=reports)
