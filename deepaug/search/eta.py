"""How long the distribution search has left: its stages' planned trainings (`stage_plan`, in
epochs) and the time an epoch takes so far, for the ETA of the search beside the stage's.

The plan follows the search's own rules: the screen trains every candidate and control to
the first rung, each later rung keeps 1 in `halving_rate` (never fewer than the finalists)
beside TrivialAugment and the raced controls and trains them on from their checkpoints, and
the race trains the finalists and the raced controls from scratch on the race seeds (only
the leader and the better control after `race_cut_after`). An estimate: failed trials and a
resumed run's finished work make the real remainder smaller.

>>> plan = stage_plan(iterations=10, controls=4, raced=2, schedule=[2, 6], search_seeds=1, race_seeds=3,
...                   finalists=2, halving_rate=3)
>>> plan
[('screen', 28), ('rung', 28), ('race', 72)]
>>> eta_text(90, "screen", after=plan, epoch_seconds=0.5)
' | screen ETA 1.5 min, search ETA 2.3 min'
"""
from __future__ import annotations

import math
from typing import Sequence

STAGES = ("screen", "rung", "race")  # the plan's stages, in order; "rung 2" is a rung, "race, leaders" the race


def stage_plan(iterations: int, controls: int, raced: int, schedule: Sequence[int], search_seeds: int,
               race_seeds: int, finalists: int, halving_rate: int, race_cut_after: int | None = None,
               ) -> list[tuple[str, int]]:
    """(stage, epochs of training it runs) for the screen, the later rungs together and the race."""
    screen = (iterations + controls) * search_seeds * schedule[0]
    rungs, pool = 0, iterations
    for before, epochs in zip(schedule, schedule[1:]):
        pool = max(min(finalists, pool), math.ceil(pool / halving_rate))
        rungs += (pool + 1 + raced) * search_seeds * (epochs - before)  # + TrivialAugment and the raced controls
    racers = min(finalists, pool) + raced
    cut = race_seeds if race_cut_after is None else race_cut_after
    race = schedule[-1] * (racers * cut + 2 * (race_seeds - cut))
    return [("screen", screen), ("rung", rungs), ("race", race)]


def epochs_after(plan: Sequence[tuple[str, int]], stage: str) -> int:
    """The planned epochs of the stages after `stage` ('rung 2' counts as a rung)."""
    kind = next((s for s in STAGES if stage.startswith(s)), None)
    names = [name for name, _ in plan]
    if kind not in names:
        return 0
    return sum(epochs for _, epochs in plan[names.index(kind) + 1:])


def eta_text(eta: float | None, stage: str, after: Sequence[tuple[str, int]] = (),
             epoch_seconds: float | None = None, capacity: int = 1) -> str:
    """' | <stage> ETA x min, search ETA y min' for a progress line ('' when the stage's is unknown)."""
    if eta is None:
        return ""
    text = f" | {stage} ETA {eta / 60:.1f} min"
    if epoch_seconds and after:
        search = eta + epochs_after(after, stage) * epoch_seconds / max(1, capacity)
        text += f", search ETA {search / 60:.1f} min"
    return text
