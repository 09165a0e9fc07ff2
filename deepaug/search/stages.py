"""One run of the distribution search in flight (`StudyRun`): its records, executor and scores,
and the stage runner that the rungs and the race share (`StudyRun.stage`).

Later rungs and the race send their trainings out a seed at a time, so that the workers stay
busy to a stage's end; every finished training lands in the records, so an interrupted stage
continues from them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from deepaug.errors import DeepAugError, SearchError
from deepaug.execution.executors import Executor
from deepaug.execution.trials import CONTROL, SEARCH, TrialRecord, TrialSpec, TrialState, trial_seed
from deepaug.policy.core import Policy
from deepaug.search.callbacks import Callbacks, TrialEvent
from deepaug.search.eta import eta_text
from deepaug.search.race import CONTROL_NAMES, TRIVIAL
from deepaug.search.scores import Scores

log = logging.getLogger(__name__)


def control_failed(record: TrialRecord, names: Mapping[int, str] = CONTROL_NAMES) -> SearchError:
    """The error that stops a search whose control trial failed (nothing could be compared)."""
    return SearchError(f"control trial {record.number} ({names.get(record.number, 'a control')}) failed: "
                       f"{record.error}; fix the cause and run again to resume")


@dataclass
class StudyRun:
    """What the stages of one run share."""

    scores: Scores
    records: dict[int, TrialRecord]
    executor: Executor
    callbacks: Callbacks
    model_name: str
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)
    plan: list[tuple[str, int]] = field(default_factory=list)  # the stages' planned epochs (eta.stage_plan)
    epoch_seconds: list[float] = field(default_factory=list)  # seconds per epoch of the trials finished so far

    @property
    def capacity(self) -> int:
        return max(1, self.executor.capacity)

    def spec(self, number: int, epochs: int, seeds: Sequence[int], run_seed: int | None = None,
             policy: Policy | None = None, kind: str = SEARCH) -> TrialSpec:
        """Trial `number` to `epochs` on `seeds`: its record's policy, kind and seed when it has one."""
        record = self.records.get(number)
        if record is not None:
            policy, kind, seed = record.policy_object(), record.kind, record.seed
        else:
            seed = trial_seed(int(run_seed), number)
        return TrialSpec(number, policy, seed, kind, epochs, tuple(seeds))

    def sorted_records(self) -> list[TrialRecord]:
        return sorted(self.records.values(), key=lambda r: r.number)

    # ------------------------------------------------------------ a stage

    def stage(self, name: str, numbers: Sequence[int], epochs: int, seeds: Sequence[int]) -> None:
        """Bring each trial in `numbers` to `epochs` on `seeds` (skipping what the records hold).

        The work goes out one seed at a time (a unit), seed by seed across the trials, so that
        the workers stay busy to the end when the trials do not divide among them (5 race
        trials on 2 workers: 8 rounds of one training instead of 3 rounds of three). A
        trial's units run one after another (each continues the trial's record); its last
        unit names every seed, so its record ends with the stage's reward over all of them."""
        records = self.records
        todo = [n for n in dict.fromkeys(numbers) if self.scores.rewards(records.get(n), epochs, seeds) is None]
        if not todo:
            return
        log.info("%s: %d trial(s) to %d epochs on %d seed(s): %s", name, len(todo), epochs, len(seeds), todo)
        units: dict[int, list[TrialSpec]] = {}
        for n in todo:
            spec = self.spec(n, epochs, seeds)
            missing = [s for s in seeds if not self.scores.rewards(records.get(n), epochs, [s])]
            units[n] = [replace(spec, seeds=(s,)) for s in missing[:-1]] + [spec]
        queue = [units[n][k] for k in range(max(map(len, units.values()))) for n in todo if k < len(units[n])]
        self._send(name, queue, epochs, seeds, len(todo))
        self.callbacks.send("on_rung_end", name, epochs, self.sorted_records())

    def _send(self, name: str, queue: list[TrialSpec], epochs: int, seeds: Sequence[int], trials: int) -> None:
        """Run the units of `queue`, a trial's one after another, as many at a time as the executor takes."""
        total_units, unit_seconds = len(queue), []
        in_flight: dict[int, tuple[TrialSpec, float]] = {}
        done = 0
        while queue or in_flight:
            while len(in_flight) < self.executor.capacity and (
                    ready := next((u for u in queue if u.number not in in_flight), None)) is not None:
                queue.remove(ready)
                self.executor.submit(ready, resume_from=self.records.get(ready.number))
                in_flight[ready.number] = (ready, time.perf_counter())
            for record in self.executor.wait():
                unit, began = in_flight.pop(record.number)
                self.records[record.number] = record
                unit_seconds.append(time.perf_counter() - began)
                left = sum(1 for u in queue if u.number == record.number)
                failed = record.state is not TrialState.COMPLETE
                if failed and record.kind == CONTROL:
                    self.executor.cancel()
                    raise control_failed(record, self.scores.control_names)
                if ends := failed or not left:  # the trial ends this stage (a failed one stops here)
                    total_units -= left
                    queue = [u for u in queue if u.number != record.number]
                finished = total_units - len(queue) - len(in_flight)
                self.callbacks.send("on_stage_progress", name, epochs, finished, total_units)
                if ends:
                    done += 1
                    eta = float(np.mean(unit_seconds)) * (len(queue) + len(in_flight)) / self.capacity \
                        if queue or in_flight else None
                    self.progress(name, record, epochs, seeds, done, trials, eta=eta)
                else:
                    reward = self.scores.rewards(record, epochs, unit.seeds)
                    log.info("%s: trial %d, %d epochs, seed %d: reward %.4f (%d of %d trainings in this stage) | "
                             "%.0f s", name, record.number, epochs, unit.seeds[0],
                             float("nan") if not reward else reward[unit.seeds[0]], finished, total_units,
                             unit_seconds[-1])

    def discard(self, numbers: Sequence[int], why: str) -> None:
        """Delete the checkpoints of trials that no training of this search will continue (a
        later run with more `iterations` may promote one of them: it then trains again from
        scratch to the rung, the same training at the cost of the epochs before)."""
        if not numbers:
            return
        try:
            files, size = self.executor.discard_checkpoints(numbers)
        except (DeepAugError, OSError) as exc:  # disk space is not worth failing a search for
            log.warning("could not remove the checkpoints of trial(s) %s (%s); they can be deleted by hand",
                        list(numbers), exc)
            return
        if files:
            log.info("removed %d checkpoint file(s) (%.1f MB) of trial(s) %s: %s", files, size / 1e6,
                     list(numbers), why)

    # ------------------------------------------------------------ progress

    def progress(self, stage: str, record: TrialRecord, epochs: int, seeds: Sequence[int], done: int, total: int,
                 eta: float | None = None) -> None:
        """The progress line and on_trial_end for a trial that has finished `stage`."""
        records, scores = self.records, self.scores
        label = scores.control_names.get(record.number, f"trial {record.number}") if record.kind == CONTROL \
            else f"trial {record.number}"
        gain = scores.gain(records, record.number, epochs, seeds) if record.number != TRIVIAL else None
        reward = scores.mean(record, epochs, seeds) if record.state is TrialState.COMPLETE else None
        if record.state is TrialState.COMPLETE:
            body = f"reward {float('nan') if reward is None else reward:.4f}"
            if gain is not None:
                body += f", {gain:+.2f} points vs TrivialAugment"
        else:
            body = f"FAILED ({(record.error or '').splitlines()[0][:120]})"
        ranked = scores.ranked(records, epochs, seeds)
        best = (scores.gain(records, ranked[0], epochs, seeds), ranked[0]) if ranked else None
        seconds = self.stage_seconds.setdefault(stage, [])
        if record.seconds:
            seconds.append(record.seconds)
            if trained := sum(len(h.get("val_accuracy", ())) for h in record.histories):
                self.epoch_seconds.append(record.seconds / trained)
        if eta is None and seconds and total > done:
            eta = float(np.mean(seconds)) * (total - done) / self.capacity
        per_epoch = float(np.mean(self.epoch_seconds)) if self.epoch_seconds else None
        log.info("%s %d/%d: %s, %d epochs: %s%s | %.0f s%s", stage, done, total, label, epochs, body,
                 f" | best {best[0]:+.2f} (trial {best[1]})" if best else "", record.seconds,
                 eta_text(eta, stage, self.plan, per_epoch, self.capacity))
        controls = {scores.control_names[n]: m for n in scores.rung_controls(records)  # TrivialAugment, the best
                    if (m := scores.mean(records.get(n), epochs, seeds)) is not None}  # ones (a bar has little room)
        self.callbacks.send("on_trial_end", TrialEvent(
            record, stage, done, total, epochs, reward, gain=gain, best=best,
            best_label="points vs TrivialAugment", controls=controls, eta_seconds=eta))

    def leaders(self, epochs: int, seeds: Sequence[int]) -> list[int]:
        """The ranked search trials that have every seed at `epochs` (the pool a rung keeps)."""
        return [n for n in self.scores.ranked(self.records, epochs, seeds)
                if self.scores.rewards(self.records.get(n), epochs, seeds) is not None]
