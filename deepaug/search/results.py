"""The distribution search's results: the top policies table (finalists and controls with their
race gains and 95% intervals, then the other candidates) and verdict.json's content.

The table's race gains are over TrivialAugment (`gain_vs_trivialaugment`, when it raced), over
RandAugment (`gain_vs_randaugment`, when it raced) and over the best control, the best free
baseline on validation (`gain_vs_best_control`), each with `_ci95_low` and `_ci95_high`."""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from deepaug.execution.trials import CONTROL, SHARED, TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.search.race import RANDAUGMENT, TRIVIAL, Gain, Verdict
from deepaug.search.racing import reachable
from deepaug.search.scores import Scores

if TYPE_CHECKING:  # pragma: no cover
    import pandas

CONTROL_TAGS = ((TRIVIAL, "trivialaugment"), (RANDAUGMENT, "randaugment"))  # with the best control's, "best_control"


def _tags(scores: Scores, verdict: Verdict | None) -> tuple[tuple[int | None, str], ...]:
    """(control, column tag) of the table's gains; RandAugment's only where trial 2 is RandAugment."""
    fixed = tuple((n, tag) for n, tag in CONTROL_TAGS
                  if n == TRIVIAL or scores.control_names.get(n) == "RandAugment")
    return fixed + ((None if verdict is None else verdict.best_control, "best_control"),)


def results_table(scores: Scores, verdict: Verdict | None, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
    """Finalists and controls (race gains with intervals), then the other candidates."""
    import pandas as pd  # pandas loads here, on first use

    by_number = {r.number: r for r in records}
    epochs = scores.schedule[-1]
    raced = {n: seeds for n, r in by_number.items() if (seeds := scores.raced(r))}
    controls = {n: (scores.rewards(by_number.get(n), epochs, raced[n]), scores.images(by_number.get(n), epochs,
                                                                                      raced[n]))
                for n in scores.controls if n in raced}
    tags = _tags(scores, verdict)
    rows = [_row(scores, verdict, record, by_number, raced.get(record.number), controls, tags) for record in records
            if record.state is not TrialState.FAILED and record.policy is not None and record.kind != SHARED]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(["winner", "reward", "screen_gain_vs_trivialaugment"],
                                  ascending=False, na_position="last").reset_index(drop=True)
    return frame


def _row(scores: Scores, verdict: Verdict | None, record: TrialRecord, by_number: dict[int, TrialRecord],
         seeds: Sequence[int] | None, controls: dict[int, tuple[Any, Any]],
         tags: Sequence[tuple[int | None, str]]) -> dict[str, Any]:
    """One trial's row of the table: its race (if it ran one), its gains, the rung that chose it."""
    epochs = scores.schedule[-1]
    mine = scores.rewards(record, epochs, seeds) if seeds else None
    row: dict[str, Any] = {"trial": record.number, "kind": record.kind,
                           "name": scores.control_names.get(record.number, "") if record.kind == CONTROL else "",
                           "winner": verdict is not None and verdict.winner == record.number,
                           "stage": "race" if mine is not None else _stage_of(record),
                           "epochs": int(record.extra.get("epochs") or 0),
                           "seeds": len(mine) if mine else len(record.extra.get("seeds") or ()),
                           "reward": None if not mine else float(np.mean(list(mine.values()))),
                           "reward_std": None if not mine else float(np.std(list(mine.values())))}
    for number, tag in tags:
        theirs, their_images = controls.get(number, (None, None)) if number is not None else (None, None)
        gain = None if mine is None or theirs is None or number == record.number \
            else Gain.of(mine, theirs, scores.images(record, epochs, seeds), their_images)
        row[f"gain_vs_{tag}"] = None if gain is None else gain.mean
        row[f"gain_vs_{tag}_ci95_low"] = None if gain is None or math.isnan(gain.low) else gain.low
        row[f"gain_vs_{tag}_ci95_high"] = None if gain is None or math.isnan(gain.high) else gain.high
    row["screen_gain_vs_trivialaugment"] = scores.gain(by_number, record.number, scores.schedule[0],
                                                       scores.search_seeds)
    reached = [e for e in scores.schedule if scores.rewards(record, e, scores.search_seeds)]
    row["rung_epochs"] = reached[-1] if reached else None  # the furthest rung, on the search seeds:
    row["rung_gain_vs_trivialaugment"] = None if not reached or record.number == TRIVIAL else \
        scores.gain(by_number, record.number, reached[-1], scores.search_seeds)  # what chose the finalists
    row["seconds"] = record.seconds
    row["policy_text"] = str(record.policy_object())
    row["policy"] = json.dumps(record.policy, sort_keys=True, separators=(",", ":"))
    return row


def verdict_document(scores: Scores, verdict: Verdict, policy: Policy, records: Sequence[TrialRecord],
                     wall_seconds: float | None) -> dict[str, Any]:
    """verdict.json: the verdict, the policy to use, what the search cost (and the controls' share of
    it) and scored on, and the race's reachable interval (deepaug.search.racing.reachable)."""
    total = float(sum(r.seconds for r in records))
    by_number = {r.number: r for r in records}
    control_seconds = float(sum(r.seconds for r in records if r.kind == CONTROL))
    raced = scores.raced_controls(by_number)
    finalists = [f for f in verdict.gains if f not in scores.control_names]
    reach = reachable(scores, by_number, finalists, raced)
    return {**verdict.to_dict(), "policy": policy.to_dict(), "training_seconds": total,
            "control_training_seconds": control_seconds, "control_share": control_seconds / total if total else None,
            "shared_stage_training_seconds": float(sum(r.seconds for r in records if r.kind == SHARED)),
            "controls": [scores.control_names[n] for n in scores.controls],
            "raced_controls": [scores.control_names[n] for n in raced],
            "race_reachable_half_width": None if reach is None else reach[0],
            "wall_seconds_last_run": wall_seconds, "rungs": list(scores.schedule), "race_seeds": scores.race_seeds,
            "race_cut_after": scores.race_cut_after, "search_seeds": scores.search_seeds, "trials": len(records),
            "validation_images": scores.val_size, "race_validation_images":
                len(scores.holdout[1]) if scores.holdout is not None else scores.val_size}


def control_share_text(records: Sequence[TrialRecord]) -> str:
    """"725 s of 2410 s of training (30%)": the controls' training seconds and their share of all."""
    total = float(sum(r.seconds for r in records))
    mine = float(sum(r.seconds for r in records if r.kind == CONTROL))
    return f"{mine:.0f} s of {total:.0f} s of training ({100 * mine / total:.0f}%)" if total else "no training time"


def _stage_of(record: TrialRecord) -> str:
    epochs = record.extra.get("epochs")
    return f"{epochs} epochs" if epochs else "screen"
