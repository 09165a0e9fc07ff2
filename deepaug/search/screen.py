"""The distribution search's screen: `iterations` candidates to the first rung on the search seeds.

First the controls (the free recipes, deepaug.search.controls) and the starts (published
recipes, or the user's), then the random-forest Bayesian optimizer's proposals, told every
rung-0 result (the controls' too, where they are points of the space) as it arrives. A
resumed screen replays the rung-0 results into the optimizer (`screen_controller`) and runs
again what its records do not hold yet.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable, Mapping, Sequence

from deepaug.execution.executors import Executor
from deepaug.errors import InputError, SearchError
from deepaug.execution.trials import CONTROL, SEARCH, SHARED, TrialRecord, TrialSpec, TrialState, trial_seed
from deepaug.policy.core import Policy
from deepaug.search.controller import Controller
from deepaug.search.controls import Control
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.scores import Scores
from deepaug.search.stages import StudyRun, control_failed

log = logging.getLogger(__name__)


def screen_controller(space: DistributionSpace, method: str, initial_points: int, run_seed: int,
                      scores: Scores, records: Mapping[int, TrialRecord]) -> Controller:
    """The optimizer, told the rung-0 results the records hold; the candidates still on their way
    reserved, the failed ones forgotten."""
    controller = Controller(space, method, initial_points, seed=run_seed)
    told = [(r.policy_object(), reward) for r in records.values()
            if (reward := scores.screen_reward(r)) is not None and r.policy is not None
            and in_space(space, r.policy_object())]
    if told:
        controller.tell([p for p, _ in told], [reward for _, reward in told])
        log.info("replayed %d rung-0 result(s) into the %s controller", len(told), method)
    controller.reserve([r.policy_object() for r in records.values()
                        if r.policy is not None and r.state is not TrialState.FAILED
                        and scores.screen_reward(r) is None and in_space(space, r.policy_object())])
    controller.forget([r.policy_object() for r in records.values()
                       if r.policy is not None and r.state is TrialState.FAILED and in_space(space, r.policy_object())])
    return controller


def shared_stage(space: DistributionSpace, policy: str, epochs: int, seeds: Sequence[int], run_seed: int) -> TrialSpec:
    """The shared stage of a screen under augmentation-wise weight sharing: trial 0 (which the
    distribution search leaves free), `epochs` epochs on the search `seeds` under the space's
    TrivialAugment or uniform policy (config shared_policy)."""
    shared = space.trivialaugment() if policy == "trivialaugment" else space.uniform()
    return TrialSpec(0, shared, trial_seed(run_seed, 0), SHARED, epochs, tuple(seeds))


def in_space(space: DistributionSpace, policy: Policy) -> bool:
    """Whether the optimizer can be told of `policy` (a control may lie outside the space)."""
    try:
        return space.to_policy(space.to_point(policy)) == policy
    except InputError:
        return False


class Screen:
    """The screen of one run (module docstring); `run()` returns when every candidate has its
    rung-0 result or has failed. `controls` train first (trial numbers 1..), then `starts` (those
    that no record and no control holds yet), then the optimizer's proposals.
    `check_failures(failures, record, executor)` stops the search after too many failed
    candidates in a row. With `shared` (the shared stage's spec, `shared_stage`), that stage
    trains first and every screen training continues it (augmentation-wise weight sharing)."""

    def __init__(self, study: StudyRun, controls: Sequence[Control], starts: Sequence[Policy], controller: Controller,
                 run_seed: int, iterations: int, check_failures: Callable[[int, TrialRecord, Executor], None],
                 shared: TrialSpec | None = None) -> None:
        self.study, self.controller, self.run_seed, self.iterations = study, controller, run_seed, iterations
        self.check_failures, self.shared = check_failures, shared
        self.epochs, self.seeds = study.scores.schedule[0], study.scores.search_seeds
        records = study.records
        self.queue = self._unfinished(controls)
        known = {r.policy_object() for r in records.values() if r.policy is not None} | {c.policy for c in controls}
        self.starts = [p for p in dict.fromkeys(starts) if p not in known]
        controller.reserve(self.starts)
        self.next_number = max([len(controls), *records]) + 1

    def _unfinished(self, controls: Sequence[Control]) -> list[TrialSpec]:
        """The controls and the candidates of the records that have no rung-0 result yet."""
        study, scores = self.study, self.study.scores
        queue: list[TrialSpec] = []
        for control in controls:
            number = control.number
            if number not in study.records or scores.screen_reward(study.records[number]) is None:
                queue.append(self._spec(number, control.policy, CONTROL))
        for record in study.sorted_records():
            if record.kind == SEARCH and record.state is not TrialState.FAILED and scores.screen_reward(record) is None:
                queue.append(self._spec(record.number))
        return queue

    def _spec(self, number: int, policy: Policy | None = None, kind: str = SEARCH) -> TrialSpec:
        """Trial `number`'s screen training (continuing the shared stage, with one)."""
        spec = self.study.spec(number, self.epochs, self.seeds, self.run_seed, policy, kind)
        return spec if self.shared is None else replace(spec, shared=self.shared.number)

    def _candidates(self) -> int:
        return sum(1 for r in self.study.records.values() if r.kind == SEARCH) + \
            sum(1 for s in self.queue if s.kind == SEARCH and s.number not in self.study.records)

    def _propose(self) -> Policy:
        return self.starts.pop(0) if self.starts else self.controller.ask(1)[0]

    def _share(self) -> None:
        """The shared stage, first (its trainings are kept, or trained again where their files are gone)."""
        study, spec = self.study, self.shared
        assert spec is not None
        log.info("screen: the shared stage, %d epochs on %d seed(s) under %s; each candidate then tunes %d "
                 "epochs from it", spec.epochs, len(spec.seeds), spec.policy, self.epochs - int(spec.epochs))
        study.executor.submit(spec, resume_from=study.records.get(spec.number))
        record = next(r for r in study.executor.wait() if r.number == spec.number)
        study.records[record.number] = record
        if record.state is not TrialState.COMPLETE:
            raise SearchError(f"the screen's shared stage (trial {spec.number}) failed: {record.error}; fix the "
                              "cause and run again to resume")
        log.info("screen: shared stage done (%.0f s)", record.seconds)

    def run(self) -> None:
        study, executor, records = self.study, self.study.executor, self.study.records
        if self.shared is not None:
            self._share()
        in_flight: dict[int, TrialSpec] = {}
        failures = 0
        while True:
            room = executor.capacity - len(in_flight)
            while room > 0 and self.queue:
                spec = self.queue.pop(0)
                executor.submit(spec, resume_from=records.get(spec.number))
                in_flight[spec.number] = spec
                room -= 1
            while room > 0 and self._candidates() < self.iterations:
                spec = self._spec(self.next_number, self._propose())
                executor.submit(spec)
                in_flight[spec.number] = spec
                records.setdefault(spec.number, TrialRecord.running(spec, study.model_name))
                self.next_number += 1
                room -= 1
            if not in_flight:
                return
            for record in executor.wait():
                failures = self._finished(in_flight.pop(record.number), record, failures)

    def _finished(self, spec: TrialSpec, record: TrialRecord, failures: int) -> int:
        """Tell the optimizer, report, and return the failures in a row."""
        study = self.study
        study.records[record.number] = record
        reward = study.scores.screen_reward(record)
        told = spec.policy is not None and in_space(self.controller.space, spec.policy)  # not a control off the space
        if record.state is TrialState.COMPLETE and reward is not None:
            failures = 0
            if told:
                self.controller.tell([spec.policy], [reward])
        else:
            failures += 1
            if told:
                self.controller.forget([spec.policy])
            if record.kind == CONTROL:
                raise control_failed(record, study.scores.control_names)
        screened = sum(1 for r in study.records.values()
                       if r.kind == SEARCH and study.scores.screen_reward(r) is not None)
        study.progress("screen", record, self.epochs, self.seeds, screened, self.iterations)
        self.check_failures(failures, record, study.executor)
        return failures
