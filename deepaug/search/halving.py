"""The distribution search's successive halving: at each later rung the best 1 in `halving_rate`
candidates (by paired gain over TrivialAugment on the search seeds) continue from their
checkpoints, beside TrivialAugment and the controls that will race (Scores.rung_controls); the
last rung trains `child_epochs`."""
from __future__ import annotations

import math

from deepaug.search.stages import StudyRun


def halve(study: StudyRun, finalists: int, halving_rate: int) -> list[int]:
    """Successive halving over the later rungs; returns the survivors of the last rung, best first
    (never fewer than `finalists` while there are that many)."""
    scores = study.scores
    schedule, seeds = scores.schedule, scores.search_seeds
    pool = scores.ranked(study.records, schedule[0], seeds)
    for r, epochs in enumerate(schedule[1:], start=1):
        keep = max(min(finalists, len(pool)), math.ceil(len(pool) / halving_rate))
        pool, dropped = pool[:keep], pool[keep:]
        study.discard(dropped, f"they stop at {schedule[r - 1]} epochs")
        study.stage(f"rung {r}", pool + scores.rung_controls(study.records), epochs, seeds)
        pool = study.leaders(epochs, seeds)
    return pool
