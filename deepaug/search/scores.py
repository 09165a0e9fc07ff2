"""The distribution search's scores, read from the trial records: rewards per seed, paired gains
over a control, the ranking at a rung, which race seeds a trial ran.

Every score is a function of the records (and the run's seeds and validation split), so a
resumed search scores, ranks and cuts exactly as the uninterrupted one would have.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from deepaug.execution.trials import SEARCH, TrialRecord
from deepaug.search.race import CONTROL_NAMES, TRIVIAL, images_by_seed, rewards_by_seed


@dataclass(frozen=True)
class Scores:
    """How one run of a distribution search scores its records.

    `schedule`: the rungs' epochs (the last is full training); `seeds`: the search seeds then
    the race seeds (deepaug.training.rungs.crn_seeds); `holdout`: with race_holdout, the
    validation images' (screen's, race's) halves; `val_size`: the validation images;
    `control_names`: the controls' trial numbers and names (TrivialAugment is trial 1);
    `raced_count`: how many of them, the best by screen reward, race the finalists."""

    schedule: Sequence[int]
    seeds: Sequence[int]
    search_count: int
    race_count: int
    last_n: int  # the late epochs a reward averages (opt_last_n_epochs)
    val_size: int = 0
    holdout: tuple[np.ndarray, np.ndarray] | None = None
    race_cut_after: int | None = None
    control_names: Mapping[int, str] = field(default_factory=lambda: dict(CONTROL_NAMES))
    raced_count: int = 2

    @property
    def controls(self) -> list[int]:
        """The controls' trial numbers."""
        return sorted(self.control_names)

    def raced_controls(self, records: Mapping[int, TrialRecord]) -> list[int]:
        """The `raced_count` controls with the highest screen rewards (ties: the lower trial number),
        by trial number: the ones that race the finalists (and train at each rung beside
        TrivialAugment). A function of the records, so a resumed search races the same ones."""
        rewards = {n: r for n in self.controls if n in records and (r := self.screen_reward(records[n])) is not None}
        return sorted(sorted(rewards, key=lambda n: (-rewards[n], n))[:self.raced_count])

    def rung_controls(self, records: Mapping[int, TrialRecord]) -> list[int]:
        """The controls that train at each later rung: TrivialAugment (the reference) and the raced ones."""
        return list(dict.fromkeys([TRIVIAL, *self.raced_controls(records)]))

    @property
    def search_seeds(self) -> list[int]:
        return list(self.seeds[:self.search_count])

    @property
    def race_seeds(self) -> list[int]:
        """Seeds of their own: the search seeds chose the finalists, so a finalist's result on
        them is its luckiest (the winner's curse); the race scores it on fresh ones."""
        return list(self.seeds[self.search_count:self.search_count + self.race_count])

    def part(self, seed: int) -> np.ndarray:
        """With race_holdout, the validation images a training of `seed` is scored on: the race's half
        for the race seeds, the screen's half for the search seeds (that choose the finalists)."""
        assert self.holdout is not None
        return self.holdout[1] if seed in self.race_seeds else self.holdout[0]

    def rewards(self, record: TrialRecord | None, epochs: int, seeds: Sequence[int]) -> dict[int, float] | None:
        if record is None:
            return None
        return rewards_by_seed(record, epochs, seeds, self.last_n, None if self.holdout is None else self.part,
                               self.val_size)

    def images(self, record: TrialRecord | None, epochs: int, seeds: Sequence[int]) -> dict[int, np.ndarray] | None:
        if record is None or not self.val_size:
            return None
        return images_by_seed(record, epochs, seeds, self.last_n, self.val_size,
                              None if self.holdout is None else self.part)

    def mean(self, record: TrialRecord | None, epochs: int, seeds: Sequence[int]) -> float | None:
        """The mean reward of `record` at `epochs` over `seeds`, None unless it has all of them."""
        rewards = self.rewards(record, epochs, seeds)
        return float(np.mean(list(rewards.values()))) if rewards else None

    def screen_reward(self, record: TrialRecord) -> float | None:
        rewards = self.rewards(record, self.schedule[0], self.search_seeds)
        return None if rewards is None else float(np.mean(list(rewards.values())))

    def gain(self, records: Mapping[int, TrialRecord], number: int, epochs: int,
             seeds: Sequence[int]) -> float | None:
        """Trial `number`'s paired gain over TrivialAugment at `epochs` on `seeds` (points)."""
        return self.gain_over(records, number, TRIVIAL, seeds, epochs)

    def gain_over(self, records: Mapping[int, TrialRecord], number: int, control: int, seeds: Sequence[int],
                  epochs: int | None = None) -> float | None:
        """Trial `number`'s mean paired gain over trial `control` on `seeds` (points; by default at
        full training), None unless both have all of them."""
        epochs = self.schedule[-1] if epochs is None else epochs
        mine, theirs = self.rewards(records.get(number), epochs, seeds), \
            self.rewards(records.get(control), epochs, seeds)
        if mine is None or theirs is None:
            return None
        return 100.0 * float(np.mean([mine[s] - theirs[s] for s in seeds]))

    def ranked(self, records: Mapping[int, TrialRecord], epochs: int, seeds: Sequence[int]) -> list[int]:
        """Search trials with a score at `epochs` on `seeds`, by paired gain over TrivialAugment, best first."""
        scored = [(gain, n) for n, r in records.items() if r.kind == SEARCH
                  and (gain := self.gain(records, n, epochs, seeds)) is not None]
        return [n for _, n in sorted(scored, key=lambda t: (-t[0], t[1]))]

    def screen_gains(self, records: Sequence[TrialRecord]) -> dict[int, float]:
        """Each screened candidate's paired gain over TrivialAugment at the first rung (points)."""
        by_number = {r.number: r for r in records}
        return {n: g for n, r in by_number.items() if r.kind == SEARCH
                and (g := self.gain(by_number, n, self.schedule[0], self.search_seeds)) is not None}

    def race_cut(self, records: Mapping[int, TrialRecord], finalists: Sequence[int]) -> tuple[int | None, int]:
        """(the leading finalist, the better control) on the race's first `race_cut_after` seeds: the
        raced control with the highest mean reward there, and the finalist with the highest mean paired gain
        over it (None if no finalist has all those seeds). A function of the records alone, so a
        resumed search makes the same cut."""
        epochs, seeds = self.schedule[-1], self.race_seeds[:self.race_cut_after]
        controls = {n: m for n in self.raced_controls(records)
                    if (m := self.mean(records.get(n), epochs, seeds)) is not None}
        control = max(controls, key=lambda n: (controls[n], -n)) if controls else TRIVIAL
        gains = {n: g for n in finalists if (g := self.gain_over(records, n, control, seeds)) is not None}
        return (max(gains, key=lambda n: (gains[n], -n)) if gains else None), control

    def raced(self, record: TrialRecord | None) -> Sequence[int] | None:
        """The race seeds `record` has results on at full training: all of them, or, in a race cut
        short (`race_cut_after`), the first ones; None if neither."""
        epochs, seeds, cut = self.schedule[-1], self.race_seeds, self.race_cut_after
        for part in (seeds, seeds[:cut] if cut else None):
            if part and self.rewards(record, epochs, part) is not None:
                return part
        return None
