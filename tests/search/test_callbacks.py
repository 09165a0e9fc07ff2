"""Watching a search: the progress bar, callbacks, TensorBoard (read back with TensorBoard's
own reader) and MLflow, with real trainings on tiny data (one child, one epoch, 120 images)."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _search import tiny_config, toy_data
from deepaug.errors import InputError
from deepaug.execution.trials import TrialRecord, TrialSpec
from deepaug.policy.core import Policy
from deepaug.search.callbacks import Callback, CallbackError, Callbacks, ProgressBar, TrialEvent

pytest.importorskip("tensorflow")

from deepaug.api import DeepAugment  # noqa: E402

X, Y = toy_data()
ROOT = Path(__file__).resolve().parents[2]


class Seen(Callback):
    def __init__(self, fail_at: int | None = None) -> None:
        self.events: list[str] = []
        self.trials: list[int] = []
        self.trainings: list[tuple[int, int]] = []
        self.fail_at = fail_at

    def on_search_begin(self, experiment):
        self.events.append(f"begin {experiment.name}")

    def on_training_end(self, record):
        self.trainings.append((record.number, len(record.histories)))

    def on_trial_end(self, event):
        self.trials.append(event.record.number)
        if event.record.number == self.fail_at:
            raise ValueError("tracker is down")

    def on_search_end(self, records):
        self.events.append(f"end {len(records)}")


def test_callbacks_see_each_trial_and_training_exactly_once_also_across_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    config = tiny_config(tmp_path, opt_samples=2)  # tensorboard: on by default
    first, second = Seen(), Seen()
    DeepAugment(X, Y, config).optimize(1, callbacks=[first], verbose=0)
    da = DeepAugment(X, Y, config)
    da.optimize(2, callbacks=[second], verbose=0)  # resumes: trials 0-1 are done
    assert sorted(first.trials) == [0, 1] and sorted(second.trials) == [2]
    assert sorted(first.trainings) == [(n, k) for n in range(2) for k in (1, 2)]
    assert sorted(second.trainings) == [(2, 1), (2, 2)]
    assert first.events == ["begin tiny", "end 2"] and second.events == ["begin tiny", "end 3"]

    # TensorBoard: one run per trial (across the resume), the policy as HParams, reward and curves
    logs = Path(da.experiment_dir) / "tensorboard"
    assert sorted(p.name for p in logs.iterdir()) == ["trial_0000", "trial_0001", "trial_0002"]
    records = {r.number: r for r in da._records}
    for number in range(3):
        acc = EventAccumulator(str(logs / f"trial_{number:04d}"))
        acc.Reload()
        datas = [plugin_data_pb2.HParamsPluginData.FromString(v) for v in acc.PluginTagToContent("hparams").values()]
        [start] = [d.session_start_info for d in datas if d.HasField("session_start_info")]
        hparams = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
        assert hparams["trial"] == number
        policy = records[number].policy_object()
        assert hparams["policy"] == ("none" if policy is None else str(policy)[:500])
        assert "reward" not in acc.Tags()["scalars"]  # a stage's rewards have a tag of their own
        [reward] = acc.Scalars("search/reward")
        assert reward.value == pytest.approx(records[number].reward)
        for k, history in enumerate(records[number].histories):
            curve = acc.Scalars(f"val_accuracy/seed_{history['seed']}" if "seed" in history
                                else f"val_accuracy/sample_{k}")
            assert [e.step for e in curve] == [1] and curve[0].value == pytest.approx(history["val_accuracy"][0])


def test_tensorboard_gives_each_stage_its_own_reward_and_gain_tags(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from deepaug.search.callbacks import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path / "tb")
    record = TrialRecord.running(TrialSpec(5, Policy.noop(), 1), "basiccnn")
    for stage, epochs, reward, gain in (("screen", 7, 0.61, 0.5), ("rung 1", 14, 0.7, 0.25),
                                        ("race, leaders", 20, 0.8, -0.1)):
        logger.on_trial_end(TrialEvent(record, stage, 1, 2, epochs, reward, gain=gain))
    acc = EventAccumulator(str(tmp_path / "tb" / "trial_0005"))
    acc.Reload()
    values = {tag: [(e.step, round(e.value, 4)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert values == {"screen/reward": [(7, 0.61)], "screen/gain_vs_trivialaugment": [(7, 0.5)],
                      "rung_1/reward": [(14, 0.7)], "rung_1/gain_vs_trivialaugment": [(14, 0.25)],
                      "race_leaders/reward": [(20, 0.8)], "race_leaders/gain_vs_trivialaugment": [(20, -0.1)]}


def test_a_callback_that_raises_stops_the_search_with_its_records_intact(tmp_path):
    config = tiny_config(tmp_path, tensorboard=False)
    with pytest.raises(CallbackError, match=r"Seen.on_trial_end raised ValueError: tracker is down"):
        DeepAugment(X, Y, config).optimize(3, callbacks=[Seen(fail_at=1)], verbose=0)
    folder = tmp_path / "reports" / "experiments" / "tiny"
    states = {p.parent.name: json.loads(p.read_text())["state"] for p in folder.glob("trials/*/record.json")}
    assert states == {"0000": "complete", "0001": "complete"}  # saved before the callback heard of it
    assert not (folder / ".lock").exists()  # released: the next run may start
    again = Seen()
    DeepAugment(X, Y, config).optimize(3, callbacks=[again], verbose=0)
    assert sorted(again.trials) == [2, 3]


def test_bad_callbacks_and_verbose_values_are_refused_before_any_work(tmp_path):
    da = DeepAugment(X, Y, tiny_config(tmp_path))
    with pytest.raises(InputError, match="has none of the methods"):
        da.optimize(1, callbacks=[object()])
    with pytest.raises(InputError, match="callbacks must be a list"):
        da.optimize(1, callbacks="tensorboard")
    with pytest.raises(InputError, match="verbose must be"):
        da.optimize(1, verbose=5)
    assert not (tmp_path / "reports" / "experiments" / "tiny" / "trials").exists()


def test_the_progress_bar_starts_a_bar_per_stage_and_updates_once_per_trial():
    out = io.StringIO()
    bar = ProgressBar(file=out)
    record = TrialRecord.running(TrialSpec(5, Policy.noop(), 1), "basiccnn")
    for stage, done, total in (("screen", 1, 2), ("screen", 2, 2), ("race", 1, 3)):
        bar.on_trial_end(TrialEvent(record, stage, done, total, 4, 0.8, gain=0.25, best=(0.25, 5),
                                    best_label="points vs TrivialAugment", controls={"TrivialAugment": 0.79}))
    bar.close()
    text = out.getvalue()
    assert "deepaug screen, 4 epochs" in text and "deepaug race, 4 epochs" in text
    assert "2/2" in text and "1/3" in text and "gain=+0.25" in text and "TrivialAugment=0.7900" in text
    assert Callbacks([bar]) and not Callbacks([])
    lines = [line for line in re.split("[\r\n]", text) if "deepaug" in line]
    # a bar opens at its first trial: no rate until the next one (a rate over ~0 s read 107546 trial/s)
    assert "1/2" in lines[0] and "?trial/s" in lines[0] and "1/3" in lines[-1] and "?trial/s" in lines[-1]


def test_a_stage_sent_out_a_training_at_a_time_moves_its_bar_with_each_training():
    out = io.StringIO()
    bar = ProgressBar(file=out)
    record = TrialRecord.running(TrialSpec(5, Policy.noop(), 1), "basiccnn")
    bar.on_stage_progress("race", 60, 1, 15)
    bar.on_stage_progress("race", 60, 2, 15)
    bar.on_trial_end(TrialEvent(record, "race", 1, 5, 60, 0.8, gain=0.5, best=(0.5, 5),
                                best_label="points vs TrivialAugment"))
    bar.on_stage_progress("race", 60, 3, 15)
    bar.close()
    text = out.getvalue()
    assert "deepaug race, 60 epochs" in text and text.count("\n") == 1  # one bar (closed once), not one per event
    assert "0/15" not in text and "?training/s" in text  # it opens at its first training, with no rate yet
    assert "3/15" in text and "gain=+0.50" in text and "1/5" not in text
    assert "training" in text


@pytest.mark.slow
def test_a_notebook_style_run_shows_a_progress_update_per_trial_and_nothing_else(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from pathlib import Path
        from _search import tiny_config, toy_data
        from deepaug import DeepAugment
        x, y = toy_data()
        config = tiny_config(Path({str(tmp_path)!r}), tensorboard=False)
        DeepAugment(x, y, config).optimize(1, verbose=0)
        print("-- quiet run done --", file=sys.stderr, flush=True)
        DeepAugment(x, y, config).optimize(4)
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    quiet, _, shown_run = run.stderr.partition("-- quiet run done --")
    assert "deepaug search" not in quiet  # verbose=0: no bar
    renders = [part for part in re.split(r"[\r\n]", shown_run) if "deepaug search" in part]
    shown = [int(m.group(1)) for part in renders if (m := re.search(r"trial=(\d+)", part))]
    assert [n for i, n in enumerate(shown) if i == 0 or shown[i - 1] != n] == [2, 3, 4]  # one update per new trial
    assert "4/4" in renders[-1] and "best=" in renders[-1] and "baseline=" in renders[-1]
    assert "INFO" not in run.stderr and run.stdout == ""  # no log lines beside the bar: nothing twice


def test_mlflow_logs_a_run_per_trial_to_a_local_file_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")  # mlflow-skinny: the mlflow extra, in dev (scripts/setup.sh)
    from deepaug.search.callbacks import MLflowLogger

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a folder store without it
    store = f"file://{tmp_path / 'mlruns'}"
    da = DeepAugment(X, Y, tiny_config(tmp_path, tensorboard=False))
    try:
        da.optimize(2, callbacks=[MLflowLogger(tracking_uri=store)], verbose=0)
        runs = mlflow.search_runs(experiment_names=["tiny"], output_format="list")
    finally:
        mlflow.set_tracking_uri(None)  # MLflow's tracking URI is process-wide: leave none behind
    assert mlflow.active_run() is None  # the search's parent run was ended
    parents = [r for r in runs if not r.data.tags.get("mlflow.parentRunId")]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(trials) == 3  # the no-augmentation baseline and two searched trials
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert sorted(int(r.data.params["trial"]) for r in trials) == [0, 1, 2]
    for run in trials:  # the reward and each training's curves (one seed per trial here)
        assert "search/reward" in run.data.metrics and any(m.startswith("val_accuracy.seed_") for m in run.data.metrics)
    assert all(r.data.tags["deepaug.state"] == "complete" for r in trials)
