"""The search loop: controller proposes, executor runs, the experiment folder records.

`Search(dataset, config).run(iterations)` brings the experiment to `iterations` finished
search trials (plus trial 0, the no-augmentation baseline), resuming from whatever the
folder holds: finished trials are replayed into the controller, interrupted ones run
again from their last finished training, trial numbers continue.

Failures: a trial that raises is recorded as failed (with its error) and the search goes
on; `max_consecutive_failures` failures in a row stop it with a SearchError. Ctrl-C
cancels the trial in flight (its finished trainings are kept) and re-raises.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from deepaug.datasets import Dataset, pick_examples, split_train_val
from deepaug.errors import InputError, SearchError
from deepaug.execution.executors import Executor
from deepaug.execution.trials import BASELINE, SEARCH, TrialContext, TrialRecord, TrialSpec, TrialState, trial_seed
from deepaug.policy.core import Policy
from deepaug.search.callbacks import Callbacks, TrialEvent
from deepaug.search.config import CONFIG_SIZE_NAMES, SearchConfig
from deepaug.search.controller import Controller
from deepaug.search.executor import make_executor
from deepaug.search.experiment import SAMPLES, Experiment, experiment_folder
from deepaug.search.notebook import ranked
from deepaug.training.models import check_model_input, dataset_fingerprint
from deepaug.training.train import prepare_warm_start

log = logging.getLogger(__name__)

N_SAMPLES = 8


def data_identity(data: Dataset) -> dict[str, Any]:
    """What the experiment records about its data (the fingerprint decides resumes)."""
    return {"fingerprint": dataset_fingerprint(data.images, data.labels), "images": len(data),
            "image_shape": list(data.image_shape), "num_classes": data.num_classes}


@dataclass
class Progress:
    """What the progress line reports."""

    target: int
    started: float
    trial_seconds: list[float]
    best: tuple[float, int] | None = None
    baseline: float | None = None

    def line(self, record: TrialRecord, done: int, capacity: int) -> str:
        head = "baseline" if record.kind == BASELINE else f"trial {record.number} ({done}/{self.target})"
        if record.state is TrialState.COMPLETE:
            body = f"reward {record.reward:.4f} +- {record.reward_std:.4f}"
        else:
            body = f"FAILED ({(record.error or '').splitlines()[0][:120]})"
        parts = [head, body]
        if self.best is not None:
            parts.append(f"best {self.best[0]:.4f} (trial {self.best[1]})")
        if self.baseline is not None:
            parts.append(f"baseline {self.baseline:.4f}")
        parts.append(f"{record.seconds:.1f} s")
        eta = self.eta(done, capacity)
        if eta is not None:
            parts.append(f"ETA {eta / 60:.1f} min")
        return " | ".join(parts)

    def eta(self, done: int, capacity: int) -> float | None:
        """Seconds until `target` trials are done, from the mean trial time so far (None: unknown or done)."""
        remaining = self.target - done
        if remaining <= 0 or not self.trial_seconds:
            return None
        return float(np.mean(self.trial_seconds)) * remaining / max(1, capacity)


class Search:
    """One experiment's search over `data` with `config` (a SearchConfig)."""

    def __init__(self, data: Dataset, config: SearchConfig, experiment_name: str,
                 max_consecutive_failures: int = 3) -> None:
        if config.validation_images is not None or config.validation_labels is not None:
            raise InputError("validation_images / validation_labels are used by the distribution search only; "
                             "search_space: deepaugment validates on images left out of your training data. "
                             "Drop them, or use search_space: distribution")
        self.data = data
        self.config = config
        self.max_consecutive_failures = max_consecutive_failures
        self.space = config.make_search_space(data.image_shape[-1])
        self.training = config.training_config()
        check_model_input(config.model, data.image_shape, data.num_classes)
        split_train_val(data, config.train_set_size, config.validation_size, names=CONFIG_SIZE_NAMES)  # sizes fit
        self.experiment = Experiment(experiment_folder(config.reports_dir, experiment_name),
                                     config.notebook_path, config.policies_dir)
        self.identity = data_identity(data)
        self.experiment.check(config.to_record(), self.identity)  # refuse a different search before any work
        self._like = self.space.to_policy(self.space.sample(1, 0)[0])

    # ------------------------------------------------------------ setup

    def _context(self, run_seed: int) -> TrialContext:

        train, val = split_train_val(self.data, self.config.train_set_size, self.config.validation_size,
                                     seed=run_seed, names=CONFIG_SIZE_NAMES, quiet=True)  # warned at __init__
        if self.config.pre_aug_weights_path:
            initial: Path | None = Path(self.config.pre_aug_weights_path)
        else:
            initial = prepare_warm_start(train, self.training, run_seed)
        write_samples(self.experiment, train)
        return TrialContext(train, val, self.training, None if initial is None else str(initial))

    def _controller(self, run_seed: int, records: list[TrialRecord]) -> Controller:
        controller = Controller(self.space, self.config.method, self.config.opt_initial_points, seed=run_seed)
        told = [(r.policy_object(), r.reward) for r in records
                if r.state is TrialState.COMPLETE and r.policy is not None]
        if told:
            controller.tell([p for p, _ in told], [float(r) for _, r in told])
            log.info("replayed %d finished trial(s) into the %s controller", len(told), self.config.method)
        controller.reserve([r.policy_object() for r in records if r.policy is not None
                            and r.state is TrialState.RUNNING])
        controller.forget([r.policy_object() for r in records if r.policy is not None
                           and r.state is TrialState.FAILED])
        return controller

    # ------------------------------------------------------------ the loop

    def run(self, iterations: int, callbacks: Iterable[Any] = ()) -> list[TrialRecord]:
        """As `_run`, holding the experiment's lock: one process per experiment at a time.

        `callbacks` hear of each training and trial of this run (deepaug.search.callbacks)."""
        check_iterations(iterations)  # before the lock: a bad call creates no folder
        self.callbacks = Callbacks(callbacks)
        with self.experiment.owned():
            try:
                records = self._run(iterations)
            finally:
                self.callbacks.close()
        return records

    def _run(self, iterations: int) -> list[TrialRecord]:
        """Run until `iterations` search trials have finished; return every record."""
        exp = self.experiment
        run_seed = exp.start(self.config.to_record(), self.identity, self.space.to_dict(), self.config.seed)
        self.callbacks.send("on_search_begin", exp)
        records = {r.number: r for r in exp.records()}
        exp.rebuild_notebook(list(records.values()), self._like)
        finished = [r for r in records.values() if r.finished and r.kind == SEARCH]
        if len(finished) >= iterations and any(r.kind == BASELINE and r.finished for r in records.values()):
            log.info("experiment %r already has %d finished trial(s) (asked for %d): nothing to run; ask for "
                     "more iterations to continue", exp.name, len(finished), iterations)
            exp.write_results(list(records.values()))
            out = sorted(records.values(), key=lambda r: r.number)
            self.callbacks.send("on_search_end", out)
            return out
        context = self._context(run_seed)
        controller = self._controller(run_seed, list(records.values()))

        def on_update(record: TrialRecord) -> None:
            previous = records.get(record.number)
            records[record.number] = record
            exp.save(record)
            if previous is not None and len(record.histories) > len(previous.histories):
                exp.append_notebook(record, self._like)
            if len(record.histories) > (0 if previous is None else len(previous.histories)):
                self.callbacks.send("on_training_end", record)

        executor = make_executor(self.config.executor, context, on_update, self.config.workers,
                                 kubernetes=self.config.kubernetes, experiment=exp.name,
                                 trials_per_gpu=self.config.trials_per_gpu)
        exp.attach(executor)
        progress = Progress(iterations, time.perf_counter(), [])
        self._update_progress(progress, records.values())
        try:
            self._loop(iterations, run_seed, records, controller, executor, progress)
        except KeyboardInterrupt:
            executor.cancel()
            log.warning("interrupted: %d finished trial(s) are saved in %s; run the same command (same "
                        "experiment_name %r) to resume", sum(r.finished for r in records.values()), exp.folder,
                        exp.name)
            raise
        finally:
            executor.close()
            exp.rebuild_notebook(list(records.values()), self._like)
        out = sorted(records.values(), key=lambda r: r.number)
        self.callbacks.send("on_search_end", out)
        return out

    def _loop(self, iterations: int, run_seed: int, records: dict[int, TrialRecord], controller: Controller,
              executor: Executor, progress: Progress) -> None:
        exp = self.experiment
        in_flight: dict[int, TrialSpec] = {}
        for record in sorted(records.values(), key=lambda r: r.number):
            if not record.finished:  # interrupted last time: run it again from its finished trainings
                log.info("trial %d was interrupted after %d training(s); resuming it", record.number,
                         len(record.histories))
                executor.submit(record.spec, resume_from=record)
                in_flight[record.number] = record.spec
        if 0 not in records:
            baseline = controller.baseline()
            spec = TrialSpec(0, baseline, trial_seed(run_seed, 0), BASELINE)
            executor.submit(spec)
            in_flight[0] = spec
        next_number = max([0, *records]) + 1
        failures = 0
        while True:
            done = sum(1 for r in records.values() if r.finished and r.kind == SEARCH)
            running = sum(1 for s in in_flight.values() if s.kind == SEARCH)
            room = min(executor.capacity - len(in_flight), iterations - done - running)
            if room > 0:
                for policy in controller.ask(room):
                    spec = TrialSpec(next_number, policy, trial_seed(run_seed, next_number), SEARCH)
                    executor.submit(spec)
                    in_flight[next_number] = spec
                    next_number += 1
            if not in_flight:
                break
            for record in executor.wait():
                spec = in_flight.pop(record.number)
                records[record.number] = record
                if record.state is TrialState.COMPLETE:
                    failures = 0
                    if spec.policy is not None:
                        controller.tell([spec.policy], [record.reward])
                else:
                    failures += 1
                    if spec.policy is not None:
                        controller.forget([spec.policy])
                self._update_progress(progress, records.values())
                if record.seconds:
                    progress.trial_seconds.append(record.seconds)
                done = sum(1 for r in records.values() if r.finished and r.kind == SEARCH)
                log.info("%s", progress.line(record, done, executor.capacity))
                exp.write_results(list(records.values()))
                self.callbacks.send("on_trial_end", TrialEvent(
                    record, "search", done, iterations, self.config.child_epochs,
                    record.reward if record.state is TrialState.COMPLETE else None, best=progress.best,
                    controls={} if progress.baseline is None else {"baseline": progress.baseline},
                    eta_seconds=progress.eta(done, executor.capacity)))
                if failures >= self.max_consecutive_failures:
                    executor.cancel()
                    raise SearchError(
                        f"{failures} trials in a row failed; the last one (trial {record.number}) with: "
                        f"{record.error}. Its record is {exp.record_uri(record.number)}. Fix the cause and run "
                        "again to resume")

    @staticmethod
    def _update_progress(progress: Progress, records: Any) -> None:
        complete = [r for r in records if r.state is TrialState.COMPLETE]
        best = ranked(r for r in complete if r.kind == SEARCH)
        if best:
            progress.best = (float(best[0].reward), best[0].number)
        base = [r for r in complete if r.kind == BASELINE]
        progress.baseline = float(base[0].reward) if base else None


def check_iterations(iterations: Any) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise InputError(f"iterations must be an integer >= 1, got {iterations!r}")


def write_samples(experiment: Experiment, train: Dataset) -> None:
    """A few training images, one per class where possible, for the report (written once)."""
    if experiment.exists(SAMPLES):
        return
    idx = pick_examples(train.labels, min(N_SAMPLES, len(train)))
    buffer = io.BytesIO()
    np.savez(buffer, images=train.images[idx], labels=train.labels[idx])
    experiment.write_bytes(SAMPLES, buffer.getvalue())


def best_policy(records: list[TrialRecord]) -> Policy | None:
    """The policy of the best completed search trial."""
    best = ranked(records)
    return best[0].policy_object() if best else None
