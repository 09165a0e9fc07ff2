"""Watch and log a search: callbacks, the progress bar, TensorBoard and MLflow.

A callback is any object with some of these methods (subclass `Callback` to get the
rest as no-ops):

- ``on_search_begin(experiment)``: the experiment folder (`deepaug.search.experiment.Experiment`)
  is open and owned; nothing has trained yet in this run;
- ``on_training_end(record)``: one training of a trial finished; ``record.histories[-1]`` is it;
- ``on_trial_end(event)``: a trial finished a stage (a `TrialEvent`: the record, its score,
  the best so far, the controls, how far the stage is, the ETA). The deepaugment search
  has one stage ("search"); the distribution search has "screen", "rung k" and "race"
  (and "race, leaders" when `race_cut_after` cuts it short), and a trial that goes on to
  a later stage ends again there;
- ``on_stage_progress(stage, epochs, done, total)``: a training of a later rung or of the
  race finished, `done` of the stage's `total` (those stages send a trial's seeds out one
  training at a time, so a trial ends there only with its last seed's training);
- ``on_rung_end(stage, epochs, records)``: a stage of the distribution search finished;
- ``on_search_end(records)``: the run ended (normally; not after an error).

Events are sent for work done in this run only: trials that finished before a resume
are not replayed, so across a kill and a resume each (trial, stage) ends exactly once.
Every record is saved before its event is sent. A callback that raises stops the search
with a `CallbackError` naming it; what finished is saved and running the same search
again resumes.

>>> class Rewards(Callback):
...     def __init__(self): self.seen = []
...     def on_trial_end(self, event): self.seen.append((event.record.number, event.reward))
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from tqdm import tqdm as plain_tqdm
from tqdm.auto import tqdm as auto_tqdm

from deepaug.execution.owner import owned_temp_folder, remove_orphaned_folders
from deepaug.execution.trials import TrialRecord
from deepaug.extras import MissingExtraError, missing_message, require
from deepaug.search.events import EVENTS, Callback, CallbackError, Callbacks, TrialEvent  # noqa: F401  (re-exported)
from deepaug.search.notebook import policy_columns

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.search.experiment import Experiment

log = logging.getLogger(__name__)

METRICS = ("accuracy", "loss", "val_accuracy", "val_loss")
TEMP_PREFIX = "deepaug-tensorboard-"  # TensorBoardLogger's folder in TMPDIR for an experiment on S3


def logging_prints_progress(logger: logging.Logger | None = None) -> bool:
    """Whether the search's INFO lines already reach a handler (the CLI, or a user's logging setup)."""
    logger = logger or logging.getLogger("deepaug.search")
    if not logger.isEnabledFor(logging.INFO):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(h.level <= logging.INFO for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


# ---------------------------------------------------------------- the progress bar

def _describe(event: TrialEvent) -> dict[str, str]:
    record = event.record
    out = {"trial": str(record.number)}
    if event.failed:
        out["result"] = "FAILED"
    elif event.gain is not None:
        out["gain"] = f"{event.gain:+.2f}"
    elif event.reward is not None:
        out["reward"] = f"{event.reward:.4f}"
    if event.best is not None:
        value, number = event.best
        out["best"] = (f"{value:+.2f} pts (#{number})" if event.best_label != "reward" else f"{value:.4f} (#{number})")
    for name, value in event.controls.items():
        out[name] = f"{value:.4f}"
    return out


class ProgressBar(Callback):
    """A tqdm progress bar (a widget in Jupyter, a text bar in a terminal), one update per trial.

    Each stage of the search gets its own bar; the postfix shows the trial, its reward (or
    its gain over TrivialAugment), the best so far and the controls; tqdm shows the ETA.
    A stage that sends its trainings out one at a time (later rungs, the race) counts
    trainings instead, so that its bar moves with each of them.
    """

    def __init__(self, file: Any = None, notebook: bool | None = None) -> None:
        self.file = file
        self.notebook = notebook
        self._bar: Any = None
        self._stage: str | None = None
        self._trainings = False  # the bar counts the stage's trainings (on_stage_progress), not trials

    def _new_bar(self, stage: str, epochs: int | None, total: int, unit: str = "trial", done: int = 0) -> Any:
        """A bar for `stage` that opens at `done`: what was finished before its first event (the first
        training, or the trainings a resumed search found) is not counted in its rate."""
        if self.notebook is False or (self.notebook is None and self.file is not None):
            tqdm = plain_tqdm
        else:
            tqdm = auto_tqdm  # a widget in Jupyter
        self.close()
        self._stage, self._trainings = stage, unit == "training"
        length = f", {epochs} epoch{'' if epochs == 1 else 's'}" if epochs else ""
        self._bar = tqdm(total=total or None, initial=done, desc=f"deepaug {stage}{length}", unit=unit,
                         file=self.file if self.file is not None else sys.stderr, mininterval=0, miniters=1,
                         dynamic_ncols=True, leave=True)  # miniters=1: every update shows, also after a jump
        return self._bar

    def on_stage_progress(self, stage: str, epochs: int, done: int, total: int) -> None:
        if self._bar is None or stage != self._stage or not self._trainings:
            self._new_bar(stage, epochs, total, unit="training", done=done)
        if total and self._bar.total != total:
            self._bar.total = total
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)
        else:
            self._bar.refresh()

    def on_trial_end(self, event: TrialEvent) -> None:
        if self._bar is None or event.stage != self._stage:
            self._new_bar(event.stage, event.epochs, event.total, done=event.done)
        if self._trainings:  # the count is the stage's trainings: the trial's result goes in the postfix
            self._bar.set_postfix(_describe(event), refresh=True)
            return
        if event.total and self._bar.total != event.total:
            self._bar.total = event.total
        self._bar.set_postfix(_describe(event), refresh=False)
        if event.done > self._bar.n:
            self._bar.update(event.done - self._bar.n)
        else:  # a trial outside the count (the no-augmentation baseline): shown all the same
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# ---------------------------------------------------------------- TensorBoard

def _number(value: Any) -> bool:
    """A metric value worth plotting (histories may hold None for an epoch not measured)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def stage_tag(stage: str, metric: str) -> str:
    """`metric` under its stage: 'search/reward', 'screen/reward', 'rung_1/reward', 'race_leaders/gain...'.
    Each stage trains for its own number of epochs, so its scores get a chart of their own."""
    return f"{re.sub(r'[^0-9A-Za-z]+', '_', stage).strip('_') or 'search'}/{metric}"


def hparams_of(record: TrialRecord) -> dict[str, bool | int | float | str]:
    """The trial's policy as TensorBoard hyperparameters (numbers and strings only)."""
    values: dict[str, bool | int | float | str] = {"trial": record.number, "kind": record.kind}
    policy = record.policy_object()
    if policy is None:
        values["policy"] = "none"
        return values
    for key, value in policy_columns(policy).items():
        if isinstance(value, (bool, int, float, str)) and value != "":
            values[key] = value
    values["policy"] = str(policy)[:500]
    return values


class TensorBoardLogger(Callback):
    """One TensorBoard run per trial, with the HParams plugin: the policy's values as
    hyperparameters, the reward and gain of each stage under the stage's own tag (`stage_tag`:
    ``screen/reward``, ``race/reward``; ``search/reward`` in the deepaugment search) and each
    training's per-epoch curves.

    Runs are written under `log_dir` (default: ``tensorboard/`` in the experiment folder,
    ``tensorboard --logdir reports/experiments/<name>/tensorboard``). An experiment on S3
    writes its event files in a local temp folder (`TEMP_PREFIX` in TMPDIR, with its owner) and
    uploads each run's files when the trial ends; a search killed before removing it leaves it
    to the next search's start, which removes every such folder whose process is gone. Needs
    the `tensorboard` package (no TensorFlow).
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None) -> None:
        if importlib.util.find_spec("tensorboard") is None:  # found, not imported: it loads on the first trial
            raise MissingExtraError(missing_message("tensorboard", "TensorBoardLogger")
                                    + " (or turn it off with tensorboard: false in the config)", name="tensorboard")
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self._store: Any = None  # the experiment's storage when the logs are uploaded there
        self._temp: Path | None = None
        self._written: dict[int, set[tuple[Any, int]]] = {}  # trial -> (seed/sample, epochs) curves written

    def on_search_begin(self, experiment: "Experiment") -> None:
        remove_orphaned_folders(TEMP_PREFIX)  # those of killed searches
        if self.log_dir is not None:
            return
        if experiment.local is not None:
            self.log_dir = experiment.local / "tensorboard"
        else:
            self._temp = owned_temp_folder(TEMP_PREFIX)
            self.log_dir, self._store = self._temp, experiment.store

    def _write(self, run: str, events: Sequence[Any]) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # heavy: on first use

        assert self.log_dir is not None
        writer = EventFileWriter(str(self.log_dir / run))
        for event in events:
            writer.add_event(event)
        writer.close()
        if self._store is not None:  # upload the run's files (event files are small)
            for path in (self.log_dir / run).iterdir():
                self._store.write(f"tensorboard/{run}/{path.name}", path.read_bytes())

    def on_trial_end(self, event: TrialEvent) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2  # heavy: on first use
        from tensorboard.plugins.hparams import summary_v2 as hp

        if self.log_dir is None:  # used without a search (tests, direct calls)
            self.log_dir = Path("tensorboard")
        record, now = event.record, time.time()

        def scalar(tag: str, value: float, step: int) -> Any:
            return event_pb2.Event(wall_time=now, step=step, summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))]))

        first = record.number not in self._written
        written = self._written.setdefault(record.number, set())
        events = []
        if first:
            events.append(event_pb2.Event(wall_time=now, summary=hp.hparams_pb(
                hparams_of(record), trial_id=f"trial_{record.number:04d}", start_time_secs=now)))
        step = int(event.epochs or max((len(h.get("val_accuracy", ())) for h in record.histories), default=0))
        if event.reward is not None:
            events.append(scalar(stage_tag(event.stage, "reward"), event.reward, step))
        if event.gain is not None:
            events.append(scalar(stage_tag(event.stage, "gain_vs_trivialaugment"), event.gain, step))
        for k, history in enumerate(record.histories):
            epochs = len(history.get("val_accuracy", ()))
            key = (history.get("seed", k), epochs)
            if key in written:
                continue
            written.add(key)
            name = f"seed_{history['seed']}" if "seed" in history else f"sample_{k}"
            for metric in METRICS:
                for epoch, value in enumerate(history.get(metric, ()), start=1):
                    if _number(value):
                        events.append(scalar(f"{metric}/{name}", value, epoch))
        self._write(f"trial_{record.number:04d}", events)

    def close(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


# ---------------------------------------------------------------- MLflow

class MLflowLogger(Callback):
    """Log the search to MLflow: a parent run for the search, a nested run per trial (the
    policy's values as params; as metrics each stage's reward and gain under the stage's name, as
    TensorBoardLogger's tags, and the per-epoch curves).

    `tracking_uri` (default: MLflow's own: MLFLOW_TRACKING_URI, else MLflow 3's
    ``sqlite:///mlflow.db``, which needs the full `mlflow` package) and `experiment` (default:
    the deepaug experiment's name). Needs `pip install 'deepaug[mlflow]'` (mlflow-skinny). A
    local folder (``file:///.../mlruns``) works where MLFLOW_ALLOW_FILE_STORE=true is set:
    MLflow 3 refuses its file store otherwise.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        mlflow = require("mlflow", "MLflowLogger")
        self.mlflow, self.tracking_uri, self.experiment = mlflow, tracking_uri, experiment
        self._parent: Any = None
        self._runs: dict[int, str] = {}

    def on_search_begin(self, experiment: "Experiment") -> None:
        mlflow = self.mlflow
        if self.tracking_uri is not None:
            mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(self.experiment or experiment.name)
        self._parent = mlflow.start_run(run_name=experiment.name)
        mlflow.set_tag("deepaug.experiment_folder", str(experiment.folder))

    def on_trial_end(self, event: TrialEvent) -> None:
        mlflow, record = self.mlflow, event.record
        run_id = self._runs.get(record.number)
        with mlflow.start_run(run_id=run_id, run_name=None if run_id else f"trial_{record.number:04d}",
                              nested=True) as run:
            if run_id is None:
                self._runs[record.number] = run.info.run_id
                mlflow.log_params(hparams_of(record))
            step = int(event.epochs or 0)
            if event.reward is not None:
                mlflow.log_metric(stage_tag(event.stage, "reward"), event.reward, step=step)
            if event.gain is not None:
                mlflow.log_metric(stage_tag(event.stage, "gain_vs_trivialaugment"), event.gain, step=step)
            for k, history in enumerate(record.histories):
                name = f"seed_{history['seed']}" if "seed" in history else f"sample_{k}"
                for metric in METRICS:
                    for epoch, value in enumerate(history.get(metric, ()), start=1):
                        if _number(value):
                            mlflow.log_metric(f"{metric}.{name}", float(value), step=epoch)
            mlflow.set_tag("deepaug.state", record.state.value)

    def on_search_end(self, records: Sequence[TrialRecord]) -> None:
        self.close()

    def close(self) -> None:
        if self._parent is not None:
            self.mlflow.end_run()
            self._parent = None
