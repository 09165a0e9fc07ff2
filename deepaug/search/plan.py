"""What `optimize(n)` trains, said before it runs: what n counts, and the child trainings it costs.

`n` counts different things in the two spaces:

- `search_space: distribution` (the default): n *candidates* are screened, beside the
  `controls` (the free recipes, screened like candidates, 7 by default) after the shared
  stage; the race then trains the finalists and the raced controls again from scratch, so
  `optimize(3)` trains up to 36 children with the default config, not 3 (with `screen: rungs`
  the rungs train the survivors again before the race);
- `search_space: deepaugment` (DeepAugment 1.x's): the experiment runs until n search trials
  have finished, plus trial 0 (no augmentation), each of `opt_samples` trainings.

`plan(config, n)` counts the trainings of a whole run: an upper bound (a rung keeps fewer when
candidates fail; a resumed run skips what its records hold). `SMOKE` is a config for a smoke
run: `optimize(1)` with it trains 7 children (the shared stage of 1 epoch; the screen:
TrivialAugment and one candidate, 1 epoch each from it; the race: both on 2 seeds from scratch, 2
epochs), enough to see the data, the model and the machine
work end to end, too few to decide anything (the verdict says its interval is too wide).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from deepaug.search.config import SearchConfig
from deepaug.training.rungs import rung_epochs

# optimize()'s iterations when none are given: 20 candidates in the distribution search, as the command
# line's run files (deepaug.run.RunFile.iterations); 300 trials in the deepaugment space, DeepAugment 1.x's
# optimize(iterations=300)
DEFAULT_ITERATIONS = {"distribution": 20, "deepaugment": 300}

# A smoke run's config (module docstring): TrivialAugment alone as the control (it must come first),
# no halving (one rung), one finalist raced on 2 seeds (the fewest that give an interval), 2 epochs.
SMOKE: dict[str, Any] = {"search_space": "distribution", "child_epochs": 2, "opt_last_n_epochs": 1, "rungs": 1,
                         "controls": ["trivialaugment"], "raced_controls": 1, "finalists": 1, "race_seeds": 2}


@dataclass(frozen=True)
class Plan:
    """The child trainings of one run, by stage: (stage, trainings, epochs of each)."""

    stages: tuple[tuple[str, int, int], ...]

    @property
    def trainings(self) -> int:
        return sum(count for _, count, _ in self.stages)


def plan(config: SearchConfig, iterations: int) -> Plan:
    """The trainings `optimize(iterations)` runs with `config`, stage by stage (an upper bound)."""
    if config.search_space == "deepaugment":
        return Plan((("search", (iterations + 1) * config.opt_samples, config.child_epochs),))
    seeds, controls = config.search_seeds, len(config.controls)
    raced = min(config.raced_controls, controls)
    if config.screen == "shared":
        tune = config.shared_tune_epochs
        stages = [("shared stage", seeds, config.child_epochs - tune),
                  ("screen", (controls + iterations) * seeds, tune)]
        pool = iterations
    else:
        schedule = rung_epochs(config.child_epochs, config.rungs, config.halving_rate)
        stages = [("screen", (controls + iterations) * seeds, schedule[0])]
        pool = iterations
        for r, epochs in enumerate(schedule[1:], start=1):  # as search.halving.halve keeps them
            pool = max(min(config.finalists, pool), math.ceil(pool / config.halving_rate))
            stages.append((f"rung {r}", (pool + min(controls, raced + 1)) * seeds, epochs))  # + TrivialAugment
    racing = min(config.finalists, pool) + raced
    cut = config.race_cut_after
    race = racing * config.race_seeds if cut is None else racing * cut + 2 * (config.race_seeds - cut)
    stages.append(("race", race, config.child_epochs))
    return Plan(tuple(stages))


def describe(config: SearchConfig, iterations: int) -> str:
    """One line: what `optimize(iterations)` counts and the trainings it costs."""
    counted = plan(config, iterations)
    if config.search_space == "deepaugment":
        return (f"optimize({iterations}) runs until {iterations} search trials have finished, plus trial 0 (no "
                f"augmentation), each {config.opt_samples} training(s) (opt_samples): up to {counted.trainings} "
                f"child trainings of {config.child_epochs} epochs (a resumed experiment runs only what is missing)")
    stages = ", ".join(f"{name} {count} to {epochs} epoch{'' if epochs == 1 else 's'}"
                       for name, count, epochs in counted.stages)
    then = "a race" if config.screen == "shared" else "rungs and a race"
    return (f"optimize({iterations}) screens {iterations} candidate(s) beside {len(config.controls)} control(s) (free "
            f"recipes), then {then}: up to {counted.trainings} child trainings ({stages}; a resumed "
            "experiment runs only what is missing). A smoke run: config=deepaug.search.SMOKE and optimize(1), 7 "
            "trainings of 1 or 2 epochs")
