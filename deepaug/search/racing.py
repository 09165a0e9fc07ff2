"""The distribution search's race and its verdict.

The best `finalists` race the controls at full training on `race_seeds` common seeds other
than the search seeds. With `race_cut_after`, everyone races on that many of the seeds, then
only the finalist with the highest mean paired gain over the better control, and that
control, go on to the rest. The verdict (deepaug.search.race.race_verdict) names the winner
only if its gain's 95% interval is above zero; otherwise the best control.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

from deepaug.execution.trials import TrialRecord
from deepaug.search.race import CONTROL_NAMES, RANDAUGMENT, TRIVIAL, Verdict, race_verdict
from deepaug.search.scores import Scores
from deepaug.search.stages import StudyRun

log = logging.getLogger(__name__)


def race(study: StudyRun, finalists: list[int]) -> None:
    """The finalists and both controls at full training on the race seeds; with `race_cut_after`,
    all of them on its first seeds, then only the leader and the better control (Scores.race_cut)
    on the rest."""
    scores = study.scores
    epochs, seeds, cut = scores.schedule[-1], scores.race_seeds, scores.race_cut_after
    everyone = finalists + [TRIVIAL, RANDAUGMENT]
    if cut is None:  # (the config keeps a cut below race_seeds)
        study.stage("race", everyone, epochs, seeds)
        return
    study.stage("race", everyone, epochs, seeds[:cut])
    leader, control = scores.race_cut(study.records, finalists)
    if leader is None:  # every finalist failed: the control alone would prove nothing
        log.warning("race: no finalist finished the first %d seeds; the race stops there", cut)
        return
    label = {n: CONTROL_NAMES.get(n, f"trial {n}") for n in everyone}
    going = [leader, control]
    log.info("race: after %d of %d seeds, %s (%+.2f points vs %s) and %s go on to the other %d seed(s); %s stop",
             cut, len(seeds), label[leader], scores.gain_over(study.records, leader, control, seeds[:cut]),
             label[control], label[control], len(seeds) - cut,
             ", ".join(label[n] for n in everyone if n not in going))
    study.stage("race, leaders", going, epochs, seeds)


def verdict(scores: Scores, records: Mapping[int, TrialRecord], finalists: Sequence[int]) -> Verdict:
    """Only a finalist that ran every race seed may win; in a race cut short the best control is
    the one `Scores.race_cut` chose, and the others' gains are on the first seeds."""
    epochs = scores.schedule[-1]
    raced = {n: seeds for n in [*finalists, TRIVIAL, RANDAUGMENT] if (seeds := scores.raced(records.get(n)))}
    rewards = {n: scores.rewards(records.get(n), epochs, seeds) for n, seeds in raced.items()}
    images = {n: i for n, seeds in raced.items() if (i := scores.images(records.get(n), epochs, seeds))}
    controls = {n: rewards[n] for n in (TRIVIAL, RANDAUGMENT) if n in rewards}
    return race_verdict({n: rewards[n] for n in finalists if n in rewards}, controls, images=images,
                        best_control=None if scores.race_cut_after is None
                        else scores.race_cut(records, finalists)[1],
                        contenders=[n for n in finalists if raced.get(n) == scores.race_seeds])
