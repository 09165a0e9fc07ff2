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

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from deepaug import _moved
from deepaug.datasets import Dataset, split_train_val
from deepaug.errors import InputError
from deepaug.execution.executors import Executor
from deepaug.execution.trials import (
    BASELINE,
    SEARCH,
    TrialContext,
    TrialRecord,
    TrialSpec,
    TrialState,
    trial_seed,
    warm_started,
)
from deepaug.policy.core import Policy
from deepaug.search import notebook
from deepaug.search.callbacks import TrialEvent
from deepaug.search.config import CONFIG_SIZE_NAMES, SearchConfig
from deepaug.search.controller import Controller
from deepaug.search.engine import Engine, data_identity, write_samples
from deepaug.training.models import check_model_input

if TYPE_CHECKING:  # pragma: no cover
    import pandas

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What the progress line reports."""

    target: int
    started: float
    trial_seconds: list[float]
    best: tuple[float, int] | None = None
    baseline: float | None = None

    def update(self, records: Iterable[TrialRecord]) -> None:
        """The best search trial and the baseline so far."""
        complete = [r for r in records if r.state is TrialState.COMPLETE]
        best = notebook.ranked(r for r in complete if r.kind == SEARCH)
        if best:
            self.best = (float(best[0].reward), best[0].number)
        base = [r for r in complete if r.kind == BASELINE]
        self.baseline = float(base[0].reward) if base else None

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
            parts.append(f"search ETA {eta / 60:.1f} min")
        return " | ".join(parts)

    def eta(self, done: int, capacity: int) -> float | None:
        """Seconds until `target` trials are done, from the mean trial time so far (None: unknown or done)."""
        remaining = self.target - done
        if remaining <= 0 or not self.trial_seconds:
            return None
        return float(np.mean(self.trial_seconds)) * remaining / max(1, capacity)


class Search(Engine):
    """One experiment's search over `data` with `config` (a SearchConfig): a `SearchEngine`."""

    interrupted = "the finished trial(s) are"

    def __init__(self, data: Dataset, config: SearchConfig, experiment_name: str,
                 max_consecutive_failures: int = 3) -> None:
        if config.validation_images is not None or config.validation_labels is not None:
            raise InputError("validation_images / validation_labels are used by the distribution search only; "
                             "search_space: deepaugment validates on images left out of your training data. "
                             "Drop them, or use search_space: distribution")
        super().__init__(data, config, experiment_name, max_consecutive_failures)
        config = self.config  # with the values an experiment stored before some keys existed ran with
        self.space = config.make_search_space(data.image_shape[-1])
        self.training = config.training_config()
        check_model_input(config.model, data.image_shape, data.num_classes)
        split_train_val(data, config.train_set_size, config.validation_size, names=CONFIG_SIZE_NAMES)  # sizes fit
        self.identity = data_identity(data)
        self.experiment.check(config.to_record(), self.identity)  # refuse a different search before any work
        self._like = self.space.to_policy(self.space.sample(1, 0)[0])

    # ------------------------------------------------------------ setup

    def _context(self, run_seed: int) -> TrialContext:
        train, val = split_train_val(self.data, self.config.train_set_size, self.config.validation_size,
                                     seed=run_seed, names=CONFIG_SIZE_NAMES, quiet=True)  # warned at __init__
        write_samples(self.experiment, train)
        return warm_started(train, val, self.training, run_seed, self.config.pre_aug_weights_path)

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
        """Run until `iterations` search trials have finished (see the module docstring); return every record.

        `callbacks` hear of each training and trial of this run (deepaug.search.callbacks)."""
        records = super().run(iterations, callbacks)
        warn_if_no_gain(records)
        return records

    def _run(self, iterations: int) -> list[TrialRecord]:
        exp = self.experiment
        run_seed = exp.start(self.config.to_record(), self.identity, self.space.to_dict(), self.config.seed)
        self.callbacks.send("on_search_begin", exp)
        records = {r.number: r for r in exp.records()}
        exp.rebuild_notebook(list(records.values()), self._like)
        finished = [r for r in records.values() if r.finished and r.kind == SEARCH]
        if len(finished) >= iterations and any(r.kind == BASELINE and r.finished for r in records.values()):
            log.info("experiment %r already has %d finished trial(s) (asked for %d): nothing to run; ask for "
                     "more iterations to continue", exp.name, len(finished), iterations)
            self.write_results(list(records.values()))
        else:
            context = self._context(run_seed)
            controller = self._controller(run_seed, list(records.values()))
            with self._executing(context, records, self._like) as executor:
                progress = Progress(iterations, time.perf_counter(), [])
                progress.update(records.values())
                self._loop(iterations, run_seed, records, controller, executor, progress)
        out = sorted(records.values(), key=lambda r: r.number)
        self.callbacks.send("on_search_end", out)
        return out

    def _trained(self, previous: TrialRecord | None, record: TrialRecord,
                 records: Mapping[int, TrialRecord]) -> None:
        """A new training's notebook rows are appended; on_training_end hears of it."""
        if previous is not None and len(record.histories) > len(previous.histories):
            self.experiment.append_notebook(record, self._like)
        if len(record.histories) > (0 if previous is None else len(previous.histories)):
            self.callbacks.send("on_training_end", record)

    def _loop(self, iterations: int, run_seed: int, records: dict[int, TrialRecord], controller: Controller,
              executor: Executor, progress: Progress) -> None:
        in_flight = self._resume(run_seed, records, controller, executor)
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
                failures = 0 if record.state is TrialState.COMPLETE else failures + 1
                if spec.policy is not None and record.state is TrialState.COMPLETE:
                    controller.tell([spec.policy], [record.reward])
                elif spec.policy is not None:
                    controller.forget([spec.policy])
                self._trial_end(record, records, iterations, progress, executor.capacity)
                self._check_failures(failures, record, executor)

    @staticmethod
    def _resume(run_seed: int, records: Mapping[int, TrialRecord], controller: Controller,
                executor: Executor) -> dict[int, TrialSpec]:
        """Submit the trials interrupted last time (from their finished trainings) and the baseline
        if it has no record yet; return them by number."""
        in_flight: dict[int, TrialSpec] = {}
        for record in sorted(records.values(), key=lambda r: r.number):
            if not record.finished:  # interrupted last time: run it again from its finished trainings
                log.info("trial %d was interrupted after %d training(s); resuming it", record.number,
                         len(record.histories))
                executor.submit(record.spec, resume_from=record)
                in_flight[record.number] = record.spec
        if 0 not in records:
            spec = TrialSpec(0, controller.baseline(), trial_seed(run_seed, 0), BASELINE)
            executor.submit(spec)
            in_flight[0] = spec
        return in_flight

    def _trial_end(self, record: TrialRecord, records: Mapping[int, TrialRecord], iterations: int,
                   progress: Progress, capacity: int) -> None:
        """The progress line, the results files and on_trial_end, for a trial that has just finished."""
        progress.update(records.values())
        if record.seconds:
            progress.trial_seconds.append(record.seconds)
        done = sum(1 for r in records.values() if r.finished and r.kind == SEARCH)
        log.info("%s", progress.line(record, done, capacity))
        self.write_results(list(records.values()))
        self.callbacks.send("on_trial_end", TrialEvent(
            record, "search", done, iterations, self.config.child_epochs,
            record.reward if record.state is TrialState.COMPLETE else None, best=progress.best,
            controls={} if progress.baseline is None else {"baseline": progress.baseline},
            eta_seconds=progress.eta(done, capacity)))

    # ------------------------------------------------------------ the answer

    def results_table(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        """DeepAugment's table of the top policies (deepaug.search.notebook.top_policies)."""
        return notebook.top_policies(records)

    def best_policy(self, records: Sequence[TrialRecord]) -> Policy | None:
        """The policy of the best completed search trial."""
        return notebook.best_policy(records)


def warn_if_no_gain(records: Sequence[TrialRecord]) -> None:
    """Say so when the best policy has not beaten the no-augmentation baseline (yet)."""
    best, base = notebook.ranked(records), notebook.baseline_reward(records)
    if best and base is not None and (gain := round(100 * (best[0].reward - base), 4)) <= 0:
        log.warning("no policy beat the no-augmentation baseline yet (best is %+.2f points); run more "
                    "iterations or widen the search space", gain)


_MOVED = {"best_policy": "deepaug.search.notebook", "check_iterations": "deepaug.search.engine"}


def __getattr__(name: str) -> object:
    # names that left this module when the two engines came to share one protocol (deepaug.search.engine)
    return _moved.names(__name__, name, _MOVED)
