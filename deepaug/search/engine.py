"""What both search engines are: one protocol (`SearchEngine`) and the scaffolding they share (`Engine`).

The API and the CLI call an engine only through the protocol: `run(iterations, callbacks)`,
`results_table(records)`, `write_results(records)`, `best_policy(records)`, and its
`experiment`, `config`, `training` and `verdict`. Two engines follow it:
`deepaug.search.loop.Search` (the DeepAugment 5x2 space) and
`deepaug.search.study.DistributionSearch` (the distribution space, the default).

`Engine` holds what both do the same way: the experiment folder and its identity check, one
process per experiment (the lock), the callbacks of a run, storing each record as it comes
(`_recorder`), the executor's set-up and Ctrl-C (`_executing`), too many failures in a row
(`_check_failures`), and the results files.
"""
from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from deepaug.datasets import Dataset, pick_examples
from deepaug.errors import InputError, SearchError
from deepaug.execution.executors import Executor, OnUpdate
from deepaug.execution.trials import TrialContext, TrialRecord
from deepaug.policy.core import Policy
from deepaug.search.callbacks import Callbacks
from deepaug.search.config import SearchConfig
from deepaug.search.executor import make_executor
from deepaug.search.experiment import SAMPLES, Experiment, experiment_folder
from deepaug.training.models import dataset_fingerprint

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from deepaug.search.race import Verdict
    from deepaug.training.train import TrainingConfig

log = logging.getLogger(__name__)

N_SAMPLES = 8


class SearchEngine(Protocol):
    """What the API and the CLI call on a search, whichever space it searches."""

    experiment: Experiment
    config: SearchConfig
    training: "TrainingConfig"
    verdict: "Verdict | None"  # the distribution search's race verdict; None before it (and for deepaugment)

    def run(self, iterations: int, callbacks: Iterable[Any] = ()) -> list[TrialRecord]:
        """Bring the experiment to `iterations` (see each engine); return every record."""

    def results_table(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        """The top policies table, best first."""

    def write_results(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        """top_policies.csv, best_policy.json (and what else the engine writes); returns the table."""

    def best_policy(self, records: Sequence[TrialRecord]) -> Policy | None:
        """The policy to use, None before there is one."""


class Engine:
    """The shared scaffolding of `SearchEngine`s (module docstring); subclasses write `_run`,
    `_trained`, `results_table` and `best_policy`."""

    verdict: "Verdict | None" = None
    interrupted = "the finished trainings are"  # what an interrupted run says it saved

    def __init__(self, data: Dataset, config: SearchConfig, experiment_name: str,
                 max_consecutive_failures: int = 3) -> None:
        self.data = data
        self.config = config
        self.max_consecutive_failures = max_consecutive_failures
        self.experiment = Experiment(experiment_folder(config.reports_dir, experiment_name),
                                     config.notebook_path, config.policies_dir)
        old = {k: tuple(v) if isinstance(v, list) else v  # as validated
               for k, v in self.experiment.as_it_ran(config.model_fields_set).items()}
        if old := {k: v for k, v in old.items() if getattr(config, k) != v}:  # stored before these keys or defaults
            log.info("experiment %r was stored before %s existed or had today's default: it resumes as it ran (%s)",
                     experiment_name, ", ".join(old), ", ".join(f"{k}: {v}" for k, v in old.items()))
            self.config = config.model_copy(update=old)
        self.callbacks = Callbacks()

    def run(self, iterations: int, callbacks: Iterable[Any] = (), **options: Any) -> list[TrialRecord]:
        """As `_run`, holding the experiment's lock: one process per experiment at a time.

        `callbacks` hear of each training, trial and stage of this run (deepaug.search.callbacks)."""
        check_iterations(iterations)  # before the lock: a bad call creates no folder
        self.callbacks = Callbacks(callbacks)
        with self.experiment.owned():
            try:
                records = self._run(iterations, **options)
            finally:
                self.callbacks.close()
        return records

    def _run(self, iterations: int, **options: Any) -> list[TrialRecord]:
        raise NotImplementedError

    # ------------------------------------------------------------ while it runs

    def _recorder(self, records: dict[int, TrialRecord]) -> OnUpdate:
        """The executor's on_update: each record goes into `records` and the experiment as it comes,
        then to `_trained` (the notebook and on_training_end)."""

        def on_update(record: TrialRecord) -> None:
            previous = records.get(record.number)
            records[record.number] = record
            self.experiment.save(record)
            self._trained(previous, record, records)

        return on_update

    def _trained(self, previous: TrialRecord | None, record: TrialRecord,
                 records: Mapping[int, TrialRecord]) -> None:
        raise NotImplementedError

    @contextmanager
    def _executing(self, context: TrialContext, records: dict[int, TrialRecord],
                   like: Policy | None = None) -> Iterator[Executor]:
        """The config's executor for this run, closed at the end; Ctrl-C cancels what runs (the
        finished trainings stay saved) and re-raises; the notebook is rebuilt whatever happens."""
        exp = self.experiment
        executor = make_executor(self.config.executor, context, self._recorder(records), self.config.workers,
                                 kubernetes=self.config.kubernetes, experiment=exp.name,
                                 trials_per_gpu=self.config.trials_per_gpu)
        exp.attach(executor)
        try:
            yield executor
        except KeyboardInterrupt:
            executor.cancel()
            log.warning("interrupted: %s saved in %s; run the same command (same experiment_name %r) to resume",
                        self.interrupted, exp.folder, exp.name)
            raise
        finally:
            executor.close()
            exp.rebuild_notebook(list(records.values()), like)

    def _check_failures(self, failures: int, record: TrialRecord, executor: Executor) -> None:
        """Stop the search (SearchError) after max_consecutive_failures failed trials in a row."""
        if failures >= self.max_consecutive_failures:
            executor.cancel()
            raise SearchError(f"{failures} trials in a row failed; the last one (trial {record.number}) with: "
                              f"{record.error}. Its record is {self.experiment.record_uri(record.number)}. Fix the "
                              "cause and run again to resume")

    # ------------------------------------------------------------ the answer

    def results_table(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        raise NotImplementedError

    def best_policy(self, records: Sequence[TrialRecord]) -> Policy | None:
        raise NotImplementedError

    def write_results(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        """top_policies.csv, best_policy.json (and its copy in policies_dir); returns the table."""
        return self.experiment.write_top(self.results_table(records), self.best_policy(records))


def data_identity(data: Dataset) -> dict[str, Any]:
    """What the experiment records about its data (the fingerprint decides resumes)."""
    return {"fingerprint": dataset_fingerprint(data.images, data.labels), "images": len(data),
            "image_shape": list(data.image_shape), "num_classes": data.num_classes}


def check_iterations(iterations: Any) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise InputError(f"iterations must be an integer >= 1, got {iterations!r}")


def write_samples(experiment: Experiment, train: Dataset) -> None:
    """A few training images, one per class where possible, for the report, and labels.json (written once)."""
    experiment.write_labels(train.class_names)
    if experiment.exists(SAMPLES):
        return
    idx = pick_examples(train.labels, min(N_SAMPLES, len(train)))
    buffer = io.BytesIO()
    np.savez(buffer, images=train.images[idx], labels=train.labels[idx])
    experiment.write_bytes(SAMPLES, buffer.getvalue())
