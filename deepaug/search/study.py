"""The distribution search: screen, halve, race against the free baselines, answer safely.

`DistributionSearch(data, config, name).run(iterations)` (what `search_space:
distribution`, the default, runs):

1. **Controls.** TrivialAugment (trial 1) and RandAugment(2, 9/30) (trial 2), both exact
   points of the space, are trained beside every candidate on the same seeds.
2. **Screen.** `iterations` candidates, first the space's known-good points, then the
   random-forest Bayesian optimizer's proposals (told every rung-0 result as it arrives),
   each trained to the first rung on `search_seeds` common seeds (deepaug.training.rungs).
3. **Successive halving.** At each later rung the best 1 in `halving_rate` candidates (by
   paired gain over TrivialAugment on the same seeds) continue from their checkpoints;
   the last rung trains `child_epochs`, the final training's length.
4. **Race.** The best `finalists` race the controls at full training on `race_seeds`
   common seeds other than the search seeds, scored on validation images of their own
   (`race_holdout`: a stratified half that the screen and rungs never ranked on), since
   the seeds and images that chose the finalists could flatter them. With
   `race_cut_after`, everyone races on that many of the seeds, then only the finalist
   with the highest mean paired gain over the better control, and that control, go on to
   the rest (a race, in the sense of racing algorithms: the trainings of the ones behind
   are saved). The winner is the finalist with the highest mean paired gain over the best
   control, *only if* the lower bound of its 95% interval is above zero (and, in a race
   cut short, only the leader that ran every seed can win); otherwise the answer is the
   best control, and the search says plainly that nothing beat it.

Later rungs and the race send their trainings out a seed at a time (`_stage`), so that the
workers stay busy to a stage's end. Every training lands in the trial records as it
finishes, so a killed search resumes where it stopped: the optimizer is replayed from the
rung-0 results, each stage skips what its records already hold, and an interrupted rung
continues from its checkpoints. The checkpoints of trials that go no further are deleted
as each rung is decided, and the rest when the race is over.
Validation data come from the user's training data (never a test split), or from the
`validation_images` / `validation_labels` they pass (the search then optimizes for that
distribution).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from deepaug.datasets import Dataset, split_train_val
from deepaug.errors import DeepAugError, InputError, SearchError
from deepaug.execution.executors import Executor
from deepaug.execution.trials import CONTROL, SEARCH, TrialContext, TrialRecord, TrialSpec, TrialState, trial_seed
from deepaug.policy.core import Policy
from deepaug.search.callbacks import Callbacks, TrialEvent
from deepaug.search.config import CONFIG_SIZE_NAMES, SearchConfig
from deepaug.search.controller import Controller
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.executor import make_executor
from deepaug.search.experiment import TOP_POLICIES, VERDICT, Experiment, experiment_folder
from deepaug.search.loop import check_iterations, data_identity, write_samples
from deepaug.search.race import (
    CONTROL_NAMES,
    RANDAUGMENT,
    TRIVIAL,
    Gain,
    Verdict,
    images_by_seed,
    race_verdict,
    rewards_by_seed,
)
from deepaug.search.validation import (
    HOLDOUT_PER_CLASS,
    MAX_VALIDATION,
    MIN_VALIDATION_PER_CLASS,
    fewest_per_class,
    holdout_halves,
    user_validation,
)
from deepaug.storage.atomic import remove_stale_temps
from deepaug.training.models import check_model_input
from deepaug.training.rungs import crn_seeds, rung_epochs

log = logging.getLogger(__name__)



class DistributionSearch:
    """One experiment's distribution search over `data` (see the module docstring)."""

    def __init__(self, data: Dataset, config: SearchConfig, experiment_name: str,
                 max_consecutive_failures: int = 3) -> None:
        self.data = data
        self.experiment = Experiment(experiment_folder(config.reports_dir, experiment_name),
                                     config.notebook_path, config.policies_dir)
        if old := self.experiment.unset_added_keys(config.model_fields_set):  # stored before these keys
            log.info("experiment %r was stored before %s existed: it resumes as it ran (%s)", experiment_name,
                     ", ".join(old), ", ".join(f"{k}: {v}" for k, v in old.items()))
            config = config.model_copy(update=old)
        self.config = config
        self.max_consecutive_failures = max_consecutive_failures
        self.space: DistributionSpace = config.make_search_space(data.image_shape[-1])
        self.training = config.training_config()
        check_model_input(config.model, data.image_shape, data.num_classes)
        self.validation = user_validation(config, data)
        self.schedule = rung_epochs(config.child_epochs, config.rungs, config.halving_rate)
        self.identity = data_identity(data)
        if self.validation is not None:
            self.identity["validation"] = data_identity(self.validation)
        self.experiment.check(config.to_record(), self.identity)  # refuse a different search before any work
        self._split(0, warn=True)  # sizes checked before any work
        self.verdict: Verdict | None = None
        self._val_size = 0  # validation images of this run, known once _run splits the data
        self._holdout: tuple[np.ndarray, np.ndarray] | None = None  # their (screen, race) halves, race_holdout
        self.wall_seconds: float | None = None  # of the last run, once it has finished

    # ------------------------------------------------------------ setup

    def _split(self, seed: int, warn: bool = False) -> tuple[Dataset, Dataset]:
        """The training subset and the validation set (yours, or the rest of the data); the class
        counts do not depend on `seed`, so `warn` (of thin classes) is for the first call."""
        config, data = self.config, self.data
        if self.validation is not None:
            train = data if config.train_set_size >= len(data) else \
                split_train_val(data, config.train_set_size, val_size=1, seed=seed, names=CONFIG_SIZE_NAMES)[0]
            self._check_holdout(self.validation, warn)
            return train, self.validation
        needed = MIN_VALIDATION_PER_CLASS * data.num_classes
        if config.validation_size is None and config.train_set_size > len(data) - needed:
            left = max(0, len(data) - config.train_set_size)
            raise InputError(f"train_set_size={config.train_set_size} leaves {left} of the {len(data)} images for "
                             f"validation, and the race needs at least "
                             f"{MIN_VALIDATION_PER_CLASS} per class ({needed}): set train_set_size to at most "
                             f"{max(0, len(data) - needed)}, or pass validation_images / validation_labels")
        rest = len(data) - min(config.train_set_size, len(data) - 1)
        size = config.validation_size or min(rest, MAX_VALIDATION * (2 if config.race_holdout else 1))
        train, val = split_train_val(data, config.train_set_size, size, seed=seed, names=CONFIG_SIZE_NAMES,
                                     quiet=not warn)
        if len(val) < needed:
            raise InputError(f"only {len(val)} validation images are left after train_set_size="
                             f"{config.train_set_size} of {len(data)}; the race needs at least "
                             f"{MIN_VALIDATION_PER_CLASS} per class ({needed}): "
                             "lower train_set_size, or pass validation_images / validation_labels")
        counts = np.bincount(val.labels, minlength=data.num_classes)
        held = np.bincount(data.labels, minlength=data.num_classes)
        missing = [c for c in range(data.num_classes) if held[c] and not counts[c]]
        if missing:
            names = ", ".join(f"{data.class_names[c]!r} ({held[c]} image(s))" for c in missing[:10])
            raise InputError(f"class(es) {names}{' ...' if len(missing) > 10 else ''} get no validation images "
                             f"after train_set_size={config.train_set_size} of {len(data)}: the search could not "
                             "tell whether a policy helps or hurts them; lower train_set_size, raise "
                             "validation_size, add images of those classes, or pass validation_images / "
                             "validation_labels")
        few = [c for c in range(data.num_classes) if 0 < counts[c] < MIN_VALIDATION_PER_CLASS]
        if few and warn:
            log.warning("class(es) %s have fewer than %d validation images each (%s): the search measures them "
                        "roughly", [data.class_names[c] for c in few[:10]], MIN_VALIDATION_PER_CLASS,
                        ", ".join(str(counts[c]) for c in few[:10]))
        self._check_holdout(val, warn)
        return train, val

    def _check_holdout(self, val: Dataset, warn: bool) -> None:
        if warn and self.config.race_holdout and (fewest := fewest_per_class(val.labels)) < HOLDOUT_PER_CLASS:
            log.warning("the race scores on the same validation images as the screen (the images that chose the "
                        "finalists also judge them): race_holdout needs at least %d validation images of each "
                        "class, and the fewest is %d; give more validation images (validation_size, or "
                        "validation_images) or set race_holdout: false to silence this", HOLDOUT_PER_CLASS, fewest)

    def _controller(self, run_seed: int, records: Mapping[int, TrialRecord]) -> Controller:
        controller = Controller(self.space, self.config.method, self.config.opt_initial_points, seed=run_seed)
        told = [(r.policy_object(), reward) for r in records.values()
                if (reward := self._screen_reward(r)) is not None and r.policy is not None]
        if told:
            controller.tell([p for p, _ in told], [reward for _, reward in told])
            log.info("replayed %d rung-0 result(s) into the %s controller", len(told), self.config.method)
        controller.reserve([r.policy_object() for r in records.values()
                            if r.policy is not None and r.state is not TrialState.FAILED
                            and self._screen_reward(r) is None])
        controller.forget([r.policy_object() for r in records.values()
                           if r.policy is not None and r.state is TrialState.FAILED])
        return controller

    # ------------------------------------------------------------ scores

    @property
    def search_seeds(self) -> list[int]:
        return self._seeds[:self.config.search_seeds]

    @property
    def race_seeds(self) -> list[int]:
        """Seeds of their own: the search seeds chose the finalists, so a finalist's result on
        them is its luckiest (the winner's curse); the race scores it on fresh ones."""
        return self._seeds[self.config.search_seeds:self.config.search_seeds + self.config.race_seeds]

    def _part(self, seed: int) -> np.ndarray:
        """With race_holdout, the validation images a training of `seed` is scored on: the race's half
        for the race seeds, the screen's half for the search seeds (that choose the finalists)."""
        assert self._holdout is not None
        return self._holdout[1] if seed in self.race_seeds else self._holdout[0]

    def _rewards(self, record: TrialRecord | None, epochs: int, seeds: Sequence[int]) -> dict[int, float] | None:
        if record is None:
            return None
        return rewards_by_seed(record, epochs, seeds, self.training.opt_last_n_epochs,
                               None if self._holdout is None else self._part, self._val_size)

    def _images(self, record: TrialRecord | None, epochs: int, seeds: Sequence[int]) -> dict[int, np.ndarray] | None:
        if record is None or not self._val_size:
            return None
        return images_by_seed(record, epochs, seeds, self.training.opt_last_n_epochs, self._val_size,
                              None if self._holdout is None else self._part)

    def _screen_reward(self, record: TrialRecord) -> float | None:
        rewards = self._rewards(record, self.schedule[0], self.search_seeds)
        return None if rewards is None else float(np.mean(list(rewards.values())))

    def screen_gains(self, records: Sequence[TrialRecord]) -> dict[int, float]:
        """Each screened candidate's paired gain over TrivialAugment at the first rung (points)."""
        by_number = {r.number: r for r in records}
        return {n: g for n, r in by_number.items() if r.kind == SEARCH
                and (g := self._gain(by_number, n, self.schedule[0], self.search_seeds)) is not None}

    def _gain(self, records: Mapping[int, TrialRecord], number: int, epochs: int,
              seeds: Sequence[int]) -> float | None:
        return self._gain_over(records, number, TRIVIAL, seeds, epochs)

    def _gain_over(self, records: Mapping[int, TrialRecord], number: int, control: int, seeds: Sequence[int],
                   epochs: int | None = None) -> float | None:
        """Trial `number`'s mean paired gain over trial `control` on `seeds` (points; by default at
        full training), None unless both have all of them."""
        epochs = self.schedule[-1] if epochs is None else epochs
        mine, theirs = self._rewards(records.get(number), epochs, seeds), \
            self._rewards(records.get(control), epochs, seeds)
        if mine is None or theirs is None:
            return None
        return 100.0 * float(np.mean([mine[s] - theirs[s] for s in seeds]))

    # ------------------------------------------------------------ the run

    def run(self, iterations: int, screen_only: bool = False, callbacks: Iterable[Any] = ()) -> list[TrialRecord]:
        """As `_run`, holding the experiment's lock: one process per experiment at a time.

        `callbacks` hear of each training, trial and stage of this run (deepaug.search.callbacks)."""
        check_iterations(iterations)  # before the lock: a bad call creates no folder
        self.callbacks = Callbacks(callbacks)
        with self.experiment.owned():
            try:
                records = self._run(iterations, screen_only)
            finally:
                self.callbacks.close()
        return records

    def _run(self, iterations: int, screen_only: bool = False) -> list[TrialRecord]:
        """Screen `iterations` candidates, halve, race; return every record (verdict in `self.verdict`).

        `screen_only` stops after the screen (no halving, no race, no verdict): what a
        benchmark of the proposals measures (bench/search.py)."""
        exp = self.experiment
        run_seed = exp.start(self.config.to_record(), self.identity, self.space.to_dict(), self.config.seed)
        self._seeds = crn_seeds(run_seed, self.config.search_seeds + self.config.race_seeds)
        self.callbacks.send("on_search_begin", exp)
        self._stage_seconds: dict[str, list[float]] = {}
        records = {r.number: r for r in exp.records()}
        exp.rebuild_notebook(list(records.values()))
        train, val = self._split(run_seed)
        self._val_size = len(val)
        self._holdout = holdout_halves(val.labels, run_seed) if self.config.race_holdout else None
        write_samples(exp, train)
        checkpoints = Path(self.config.child_models_dir) / "checkpoints" / exp.name
        remove_stale_temps(checkpoints)  # the lock is ours: temp files there are from a killed run
        context = TrialContext(train, val, self.training, None, str(checkpoints))
        log.info("distribution search %r: %d training / %d validation images, rungs %s epochs, %d search seed(s), "
                 "race on %d seeds%s", exp.name, len(train), len(val), self.schedule, len(self.search_seeds),
                 len(self.race_seeds), "" if self._holdout is None else
                 f"; the screen and rungs score on {len(self._holdout[0])} of the validation images, the race on "
                 f"the other {len(self._holdout[1])}")
        controller = self._controller(run_seed, records)

        def on_update(record: TrialRecord) -> None:
            previous = records.get(record.number)
            records[record.number] = record
            exp.save(record)
            if previous is None or previous.histories != record.histories:
                exp.rebuild_notebook(list(records.values()))
                if record.histories and (previous is None or len(record.histories) >= len(previous.histories)):
                    self.callbacks.send("on_training_end", record)

        executor = make_executor(self.config.executor, context, on_update, self.config.workers,
                                 kubernetes=self.config.kubernetes, experiment=exp.name,
                                 trials_per_gpu=self.config.trials_per_gpu)
        exp.attach(executor)
        self._capacity = max(1, executor.capacity)
        started = time.perf_counter()
        try:
            self._screen(iterations, run_seed, records, controller, executor)
            self.callbacks.send("on_rung_end", "screen", self.schedule[0], sorted(records.values(),
                                                                                  key=lambda r: r.number))
            if screen_only:
                return sorted(records.values(), key=lambda r: r.number)
            survivors = self._halve(records, executor)
            finalists = survivors[:self.config.finalists]
            self._race(finalists, records, executor)
            self._discard(executor, sorted(records), "the search is finished")
            for folder in (checkpoints, checkpoints.parent):  # left empty: gone too (a rerun makes them again)
                try:
                    folder.rmdir()
                except OSError:  # not empty (another experiment's, a file of the user's) or not there
                    break
        except KeyboardInterrupt:
            executor.cancel()
            log.warning("interrupted: the finished trainings are saved in %s; run the same command (same "
                        "experiment_name %r) to resume", exp.folder, exp.name)
            raise
        finally:
            executor.close()
            exp.rebuild_notebook(list(records.values()))
        self.verdict = self._verdict(records, finalists)
        self.wall_seconds = time.perf_counter() - started
        self.write_results(list(records.values()))
        log.info("%s", self.verdict.message)
        out = sorted(records.values(), key=lambda r: r.number)
        self.callbacks.send("on_search_end", out)
        return out

    def _spec(self, records: Mapping[int, TrialRecord], number: int, epochs: int, seeds: Sequence[int],
              run_seed: int | None = None, policy: Policy | None = None, kind: str = SEARCH) -> TrialSpec:
        record = records.get(number)
        if record is not None:
            policy, kind, seed = record.policy_object(), record.kind, record.seed
        else:
            seed = trial_seed(int(run_seed), number)
        return TrialSpec(number, policy, seed, kind, epochs, tuple(seeds))

    def _screen(self, iterations: int, run_seed: int, records: dict[int, TrialRecord], controller: Controller,
                executor: Executor) -> None:
        epochs, seeds = self.schedule[0], self.search_seeds
        queue: list[TrialSpec] = []
        for number, policy in ((TRIVIAL, self.space.trivialaugment()), (RANDAUGMENT, self.space.randaugment())):
            if number not in records or self._screen_reward(records[number]) is None:
                queue.append(self._spec(records, number, epochs, seeds, run_seed, policy, CONTROL))
        for record in sorted(records.values(), key=lambda r: r.number):
            if record.kind == SEARCH and record.state is not TrialState.FAILED and self._screen_reward(record) is None:
                queue.append(self._spec(records, record.number, epochs, seeds))
        known = {r.policy_object() for r in records.values() if r.policy is not None}
        starts = [p for p in self.space.starting_policies() if p not in known]
        controller.reserve(starts)
        next_number = max([RANDAUGMENT, *records]) + 1

        def candidates() -> int:
            return sum(1 for r in records.values() if r.kind == SEARCH) + \
                sum(1 for s in queue if s.kind == SEARCH and s.number not in records)

        in_flight: dict[int, TrialSpec] = {}
        failures = 0
        total_time: list[float] = []
        while True:
            room = executor.capacity - len(in_flight)
            while room > 0 and queue:
                spec = queue.pop(0)
                executor.submit(spec, resume_from=records.get(spec.number))
                in_flight[spec.number] = spec
                room -= 1
            while room > 0 and candidates() < iterations:
                if starts:
                    policy = starts.pop(0)
                else:
                    policy = controller.ask(1)[0]
                spec = self._spec(records, next_number, epochs, seeds, run_seed, policy, SEARCH)
                executor.submit(spec)
                in_flight[next_number] = spec
                records.setdefault(next_number, TrialRecord.running(spec, self.training.model_name))
                next_number += 1
                room -= 1
            if not in_flight:
                return
            for record in executor.wait():
                spec = in_flight.pop(record.number)
                records[record.number] = record
                reward = self._screen_reward(record)
                if record.state is TrialState.COMPLETE and reward is not None:
                    failures = 0
                    controller.tell([spec.policy], [reward])
                    total_time.append(record.seconds)
                else:
                    failures += 1
                    controller.forget([spec.policy])
                    if record.kind == CONTROL:
                        raise SearchError(f"control trial {record.number} ({CONTROL_NAMES[record.number]}) failed: "
                                          f"{record.error}; fix the cause and run again to resume")
                self._progress("screen", record, epochs, seeds, records,
                               sum(1 for r in records.values() if r.kind == SEARCH and self._screen_reward(r) is not None),
                               iterations)
                if failures >= self.max_consecutive_failures:
                    executor.cancel()
                    raise SearchError(f"{failures} trials in a row failed; the last one (trial {record.number}) "
                                      f"with: {record.error}. Fix the cause and run again to resume")

    def _halve(self, records: dict[int, TrialRecord], executor: Executor) -> list[int]:
        """Successive halving over the later rungs; returns the survivors of the last rung, best first."""
        seeds = self.search_seeds
        pool = self._ranked(records, self.schedule[0], seeds)
        for r, epochs in enumerate(self.schedule[1:], start=1):
            keep = max(min(self.config.finalists, len(pool)), math.ceil(len(pool) / self.config.halving_rate))
            pool, dropped = pool[:keep], pool[keep:]
            self._discard(executor, dropped, f"they stop at {self.schedule[r - 1]} epochs")
            self._stage(f"rung {r}", pool + [TRIVIAL, RANDAUGMENT], epochs, seeds, records, executor)
            pool = self._ranked(records, epochs, seeds)
            pool = [n for n in pool if self._rewards(records.get(n), epochs, seeds) is not None]
        return pool

    def _discard(self, executor: Executor, numbers: Sequence[int], why: str) -> None:
        """Delete the checkpoints of trials that no training of this search will continue (a
        later run with more `iterations` may promote one of them: it then trains again from
        scratch to the rung, the same training at the cost of the epochs before)."""
        if not numbers:
            return
        try:
            files, size = executor.discard_checkpoints(numbers)
        except (DeepAugError, OSError) as exc:  # disk space is not worth failing a search for
            log.warning("could not remove the checkpoints of trial(s) %s (%s); they can be deleted by hand",
                        list(numbers), exc)
            return
        if files:
            log.info("removed %d checkpoint file(s) (%.1f MB) of trial(s) %s: %s", files, size / 1e6,
                     list(numbers), why)

    def _ranked(self, records: Mapping[int, TrialRecord], epochs: int, seeds: Sequence[int]) -> list[int]:
        """Search trials with a score at `epochs` on `seeds`, by paired gain over TrivialAugment, best first."""
        scored = [(gain, n) for n, r in records.items() if r.kind == SEARCH
                  and (gain := self._gain(records, n, epochs, seeds)) is not None]
        return [n for _, n in sorted(scored, key=lambda t: (-t[0], t[1]))]

    def _stage(self, name: str, numbers: Sequence[int], epochs: int, seeds: Sequence[int],
               records: dict[int, TrialRecord], executor: Executor) -> None:
        """Bring each trial in `numbers` to `epochs` on `seeds` (skipping what the records hold).

        The work goes out one seed at a time (a unit), seed by seed across the trials, so that
        the workers stay busy to the end when the trials do not divide among them (5 race
        trials on 2 workers: 8 rounds of one training instead of 3 rounds of three). A
        trial's units run one after another (each continues the trial's record); its last
        unit names every seed, so its record ends with the stage's reward over all of them."""
        todo = [n for n in dict.fromkeys(numbers) if self._rewards(records.get(n), epochs, seeds) is None]
        if not todo:
            return
        log.info("%s: %d trial(s) to %d epochs on %d seed(s): %s", name, len(todo), epochs, len(seeds), todo)
        units: dict[int, list[TrialSpec]] = {}
        for n in todo:
            spec = self._spec(records, n, epochs, seeds)
            missing = [s for s in seeds if not self._rewards(records.get(n), epochs, [s])]
            units[n] = [replace(spec, seeds=(s,)) for s in missing[:-1]] + [spec]
        queue = [units[n][k] for k in range(max(map(len, units.values()))) for n in todo if k < len(units[n])]
        total_units, unit_seconds = len(queue), []
        in_flight: dict[int, tuple[TrialSpec, float]] = {}
        done = 0
        while queue or in_flight:
            while len(in_flight) < executor.capacity and (
                    ready := next((u for u in queue if u.number not in in_flight), None)) is not None:
                queue.remove(ready)
                executor.submit(ready, resume_from=records.get(ready.number))
                in_flight[ready.number] = (ready, time.perf_counter())
            for record in executor.wait():
                unit, began = in_flight.pop(record.number)
                records[record.number] = record
                unit_seconds.append(time.perf_counter() - began)
                left = sum(1 for u in queue if u.number == record.number)
                failed = record.state is not TrialState.COMPLETE
                if failed and record.kind == CONTROL:
                    executor.cancel()
                    raise SearchError(f"control trial {record.number} ({CONTROL_NAMES[record.number]}) failed: "
                                      f"{record.error}; fix the cause and run again to resume")
                ends = failed or not left  # the trial ends this stage (a failed one stops here)
                if ends:
                    total_units -= left
                    queue = [u for u in queue if u.number != record.number]
                finished = total_units - len(queue) - len(in_flight)
                self.callbacks.send("on_stage_progress", name, epochs, finished, total_units)
                if ends:
                    done += 1
                    eta = float(np.mean(unit_seconds)) * (len(queue) + len(in_flight)) / self._capacity \
                        if queue or in_flight else None
                    self._progress(name, record, epochs, seeds, records, done, len(todo), eta=eta)
                else:
                    reward = self._rewards(record, epochs, unit.seeds)
                    log.info("%s: trial %d, %d epochs, seed %d: reward %.4f (%d of %d trainings in this stage) | "
                             "%.0f s", name, record.number, epochs, unit.seeds[0],
                             float("nan") if not reward else reward[unit.seeds[0]], finished, total_units,
                             unit_seconds[-1])
        self.callbacks.send("on_rung_end", name, epochs, sorted(records.values(), key=lambda r: r.number))

    def _race(self, finalists: list[int], records: dict[int, TrialRecord], executor: Executor) -> None:
        """The finalists and both controls at full training on the race seeds; with `race_cut_after`,
        all of them on its first seeds, then only the leader and the better control (`_race_cut`)
        on the rest."""
        epochs, seeds, cut = self.schedule[-1], self.race_seeds, self.config.race_cut_after
        everyone = finalists + [TRIVIAL, RANDAUGMENT]
        if cut is None:  # (the config keeps a cut below race_seeds)
            self._stage("race", everyone, epochs, seeds, records, executor)
            return
        self._stage("race", everyone, epochs, seeds[:cut], records, executor)
        leader, control = self._race_cut(records, finalists)
        if leader is None:  # every finalist failed: the control alone would prove nothing
            log.warning("race: no finalist finished the first %d seeds; the race stops there", cut)
            return
        label = {n: CONTROL_NAMES.get(n, f"trial {n}") for n in everyone}
        going = [leader, control]
        log.info("race: after %d of %d seeds, %s (%+.2f points vs %s) and %s go on to the other %d seed(s); %s stop",
                 cut, len(seeds), label[leader], self._gain_over(records, leader, control, seeds[:cut]),
                 label[control], label[control], len(seeds) - cut,
                 ", ".join(label[n] for n in everyone if n not in going))
        self._stage("race, leaders", going, epochs, seeds, records, executor)

    def _race_cut(self, records: Mapping[int, TrialRecord], finalists: Sequence[int]) -> tuple[int | None, int]:
        """(the leading finalist, the better control) on the race's first `race_cut_after` seeds: the
        control with the higher mean reward there, and the finalist with the highest mean paired gain
        over it (None if no finalist has all those seeds). A function of the records alone, so a
        resumed search makes the same cut."""
        epochs, seeds = self.schedule[-1], self.race_seeds[:self.config.race_cut_after]
        controls = {n: float(np.mean(list(r.values()))) for n in (TRIVIAL, RANDAUGMENT)
                    if (r := self._rewards(records.get(n), epochs, seeds))}
        control = max(controls, key=lambda n: (controls[n], -n)) if controls else TRIVIAL
        gains = {n: g for n in finalists if (g := self._gain_over(records, n, control, seeds)) is not None}
        return (max(gains, key=lambda n: (gains[n], -n)) if gains else None), control

    def _raced(self, record: TrialRecord | None) -> Sequence[int] | None:
        """The race seeds `record` has results on at full training: all of them, or, in a race cut
        short (`race_cut_after`), the first ones; None if neither."""
        epochs, seeds, cut = self.schedule[-1], self.race_seeds, self.config.race_cut_after
        for part in (seeds, seeds[:cut] if cut else None):
            if part and self._rewards(record, epochs, part) is not None:
                return part
        return None

    def _progress(self, stage: str, record: TrialRecord, epochs: int, seeds: Sequence[int],
                  records: Mapping[int, TrialRecord], done: int, total: int, eta: float | None = None) -> None:
        label = CONTROL_NAMES.get(record.number, f"trial {record.number}") if record.kind == CONTROL \
            else f"trial {record.number}"
        if record.state is TrialState.COMPLETE:
            rewards = self._rewards(record, epochs, seeds) or {}
            body = f"reward {np.mean(list(rewards.values())) if rewards else float('nan'):.4f}"
            gain = self._gain(records, record.number, epochs, seeds)
            if gain is not None and record.number != TRIVIAL:
                body += f", {gain:+.2f} points vs TrivialAugment"
        else:
            body = f"FAILED ({(record.error or '').splitlines()[0][:120]})"
        ranked = self._ranked(records, epochs, seeds)
        best = f" | best {self._gain(records, ranked[0], epochs, seeds):+.2f} (trial {ranked[0]})" if ranked else ""
        log.info("%s %d/%d: %s, %d epochs: %s%s | %.0f s", stage, done, total, label, epochs, body, best,
                 record.seconds)
        seconds = self._stage_seconds.setdefault(stage, [])
        if record.seconds:
            seconds.append(record.seconds)
        controls = {CONTROL_NAMES[n]: float(np.mean(list(r.values()))) for n in (TRIVIAL, RANDAUGMENT)
                    if (r := self._rewards(records.get(n), epochs, seeds))}
        rewards = self._rewards(record, epochs, seeds) if record.state is TrialState.COMPLETE else None
        self.callbacks.send("on_trial_end", TrialEvent(
            record, stage, done, total, epochs, float(np.mean(list(rewards.values()))) if rewards else None,
            gain=self._gain(records, record.number, epochs, seeds) if record.number != TRIVIAL else None,
            best=(self._gain(records, ranked[0], epochs, seeds), ranked[0]) if ranked else None,
            best_label="points vs TrivialAugment", controls=controls,
            eta_seconds=eta if eta is not None else
            float(np.mean(seconds)) * (total - done) / self._capacity if seconds and total > done else None))

    # ------------------------------------------------------------ the answer

    def _verdict(self, records: Mapping[int, TrialRecord], finalists: Sequence[int]) -> Verdict:
        """Only a finalist that ran every race seed may win; in a race cut short the best control is
        the one `_race_cut` chose, and the others' gains are on the first seeds."""
        epochs = self.schedule[-1]
        raced = {n: seeds for n in [*finalists, TRIVIAL, RANDAUGMENT] if (seeds := self._raced(records.get(n)))}
        rewards = {n: self._rewards(records.get(n), epochs, seeds) for n, seeds in raced.items()}
        images = {n: i for n, seeds in raced.items() if (i := self._images(records.get(n), epochs, seeds))}
        controls = {n: rewards[n] for n in (TRIVIAL, RANDAUGMENT) if n in rewards}
        return race_verdict({n: rewards[n] for n in finalists if n in rewards}, controls, images=images,
                            best_control=None if self.config.race_cut_after is None
                            else self._race_cut(records, finalists)[1],
                            contenders=[n for n in finalists if raced.get(n) == self.race_seeds])

    def best_policy(self) -> Policy | None:
        if self.verdict is None:
            return None
        record = next((r for r in self.experiment.records() if r.number == self.verdict.winner), None)
        return None if record is None else record.policy_object()

    def results_table(self, records: Sequence[TrialRecord]) -> "Any":
        """Finalists and controls (race gains with intervals), then the other candidates."""
        import pandas as pd

        by_number = {r.number: r for r in records}
        epochs = self.schedule[-1]
        raced = {n: seeds for n, r in by_number.items() if (seeds := self._raced(r))}
        controls = {n: self._rewards(by_number.get(n), epochs, raced[n]) if n in raced else None
                    for n in (TRIVIAL, RANDAUGMENT)}
        control_images = {n: self._images(by_number.get(n), epochs, raced[n]) if n in raced else None
                          for n in (TRIVIAL, RANDAUGMENT)}
        rows = []
        for record in records:
            if record.state is TrialState.FAILED or record.policy is None:
                continue
            seeds = raced.get(record.number)
            mine = self._rewards(record, epochs, seeds) if seeds else None
            row: dict[str, Any] = {"trial": record.number, "kind": record.kind,
                                   "name": CONTROL_NAMES.get(record.number, "") if record.kind == CONTROL else "",
                                   "winner": self.verdict is not None and self.verdict.winner == record.number,
                                   "stage": "race" if mine is not None else _stage_of(record),
                                   "epochs": int(record.extra.get("epochs") or 0),
                                   "seeds": len(mine) if mine else len(record.extra.get("seeds") or ()),
                                   "reward": None if not mine else float(np.mean(list(mine.values()))),
                                   "reward_std": None if not mine else float(np.std(list(mine.values())))}
            for number, tag in ((TRIVIAL, "trivialaugment"), (RANDAUGMENT, "randaugment")):
                gain = None if mine is None or controls[number] is None or number == record.number \
                    else Gain.of(mine, controls[number], self._images(record, epochs, seeds), control_images[number])
                row[f"gain_vs_{tag}"] = None if gain is None else gain.mean
                row[f"gain_vs_{tag}_ci95_low"] = None if gain is None or math.isnan(gain.low) else gain.low
                row[f"gain_vs_{tag}_ci95_high"] = None if gain is None or math.isnan(gain.high) else gain.high
            row["screen_gain_vs_trivialaugment"] = self._gain(by_number, record.number, self.schedule[0],
                                                              self.search_seeds)
            reached = [e for e in self.schedule if self._rewards(record, e, self.search_seeds)]
            row["rung_epochs"] = reached[-1] if reached else None  # the furthest rung, on the search seeds:
            row["rung_gain_vs_trivialaugment"] = None if not reached or record.number == TRIVIAL else \
                self._gain(by_number, record.number, reached[-1], self.search_seeds)  # what chose the finalists
            row["seconds"] = record.seconds
            row["policy_text"] = str(record.policy_object())
            row["policy"] = json.dumps(record.policy, sort_keys=True, separators=(",", ":"))
            rows.append(row)
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.sort_values(["winner", "reward", "screen_gain_vs_trivialaugment"],
                                      ascending=False, na_position="last").reset_index(drop=True)
        return frame

    def write_results(self, records: Sequence[TrialRecord], wall_seconds: float | None = None) -> "Any":
        """top_policies.csv, best_policy.json (+ policies_dir copy) and verdict.json (with
        `wall_seconds`, by default the last run's)."""
        wall_seconds = self.wall_seconds if wall_seconds is None else wall_seconds
        exp = self.experiment
        table = self.results_table(records)
        exp.write_text(TOP_POLICIES, table.to_csv(index=False))
        if self.verdict is not None:
            policy = self.best_policy()
            exp.write_policy(policy)
            cost = float(sum(r.seconds for r in records))
            exp.write_text(VERDICT, json.dumps(
                {**self.verdict.to_dict(), "policy": policy.to_dict(), "training_seconds": cost,
                 "wall_seconds_last_run": wall_seconds, "rungs": self.schedule, "race_seeds": self.race_seeds,
                 "race_cut_after": self.config.race_cut_after,
                 "search_seeds": self.search_seeds, "trials": len(records),
                 "validation_images": self._val_size, "race_validation_images":
                     len(self._holdout[1]) if self._holdout is not None else self._val_size}, indent=2))
        return table


def _stage_of(record: TrialRecord) -> str:
    epochs = record.extra.get("epochs")
    return f"{epochs} epochs" if epochs else "screen"
