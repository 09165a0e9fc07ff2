"""The distribution search's race and its verdict.

The best `finalists` race the strongest controls (`raced_controls`, the best by screen reward:
Scores.raced_controls) at full training on `race_seeds` common seeds other than the search
seeds. With `race_cut_after`, everyone races on that many of the seeds, then only the finalist
with the highest mean paired gain over the better control, and that control, go on to the
rest. The verdict (deepaug.search.race.race_verdict) names the winner only if its gain's 95%
interval is above zero; otherwise the best control: the best free baseline on validation.

Before the race, `reachable` estimates the half-width of the 95% interval the race can reach
and the race says so up front (a warning when it is wider than `SEPARABLE_POINTS`): the luck
of the race's validation images alone, 1.96 x 100 x sqrt(d / n) points for n race images,
where d is how often the finalists and the best raced control disagree on an image (measured
on the screen's images at the last rung; without per-image results, or when they never
disagreed there, the bound d <= the two error rates, 2 (1 - the control's reward)). The seeds' own spread adds to it and averaging over seeds
takes some of it away, so it is an estimate, not a bound: a gain much smaller cannot win.
"""
from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence

import numpy as np

from deepaug.execution.trials import TrialRecord
from deepaug.search.race import Verdict, race_verdict
from deepaug.search.scores import Scores
from deepaug.search.stages import StudyRun

log = logging.getLogger(__name__)

SEPARABLE_POINTS = 1.0  # a race that cannot separate a gain of 1 point says so before it starts


def race(study: StudyRun, finalists: list[int]) -> None:
    """The finalists and the raced controls at full training on the race seeds; with `race_cut_after`,
    all of them on its first seeds, then only the leader and the better control (Scores.race_cut)
    on the rest."""
    scores = study.scores
    epochs, seeds, cut = scores.schedule[-1], scores.race_seeds, scores.race_cut_after
    controls = scores.raced_controls(study.records)
    everyone = finalists + controls
    label = {n: scores.control_names.get(n, f"trial {n}") for n in everyone}
    log.info("race: finalist(s) %s against %s (the best %d of %d controls by the screen)", finalists,
             ", ".join(label[n] for n in controls), len(controls), len(scores.controls))
    announce(scores, study.records, finalists, controls)
    if cut is None:  # (the config keeps a cut below race_seeds)
        study.stage("race", everyone, epochs, seeds)
        return
    study.stage("race", everyone, epochs, seeds[:cut])
    leader, control = scores.race_cut(study.records, finalists)
    if leader is None:  # every finalist failed: the control alone would prove nothing
        log.warning("race: no finalist finished the first %d seeds; the race stops there", cut)
        return
    going = [leader, control]
    log.info("race: after %d of %d seeds, %s (%+.2f points vs %s) and %s go on to the other %d seed(s); %s stop",
             cut, len(seeds), label[leader], scores.gain_over(study.records, leader, control, seeds[:cut]),
             label[control], label[control], len(seeds) - cut,
             ", ".join(label[n] for n in everyone if n not in going))
    study.stage("race, leaders", going, epochs, seeds)


def warn_of_few_seeds(race_seeds: int) -> None:
    """A warning, before any work, for a race on 2 seeds: its interval is never narrower than the
    t interval over the seeds, which at 1 degree of freedom is too wide to decide."""
    if race_seeds > 2:
        return
    from scipy.stats import t  # scipy is heavy (the search extra)

    log.warning("race_seeds=%d: the race's interval is never narrower than Student's t interval over its %d seeds, "
                "%.1f times their standard error at 1 degree of freedom (%.1f at 3 seeds, %.1f at 5), so it is "
                "too wide to decide unless both seeds agree almost exactly, and the answer will then be the best "
                "control; set race_seeds to 3 or more (5 narrows it further)", race_seeds, race_seeds,
                t.ppf(0.975, 1), t.ppf(0.975, 2), t.ppf(0.975, 4))


def reachable(scores: Scores, records: Mapping[int, TrialRecord], finalists: Sequence[int],
              controls: Sequence[int]) -> tuple[float, float, int] | None:
    """(half-width in points, disagreement rate d, race images n) of the 95% interval the race can
    reach (module docstring); None when nothing is known yet."""
    n = len(scores.holdout[1]) if scores.holdout is not None else scores.val_size
    epochs, seeds = scores.schedule[-1], scores.search_seeds
    means = {c: m for c in controls if (m := scores.mean(records.get(c), epochs, seeds)) is not None}
    if not n or not means:
        return None
    best = max(means, key=lambda c: (means[c], -c))
    theirs = scores.images(records.get(best), epochs, seeds)
    rates = [float(np.mean(np.abs(mine[s] - theirs[s]))) for f in finalists
             if theirs and (mine := scores.images(records.get(f), epochs, seeds))
             for s in seeds if mine[s].shape == theirs[s].shape]
    d = float(np.mean(rates)) if rates and np.mean(rates) > 0 else min(1.0, 2.0 * (1.0 - means[best]))
    return 1.96 * 100.0 * math.sqrt(d / n), d, n


def announce(scores: Scores, records: Mapping[int, TrialRecord], finalists: Sequence[int],
             controls: Sequence[int]) -> None:
    """Log, before the race, the interval it can reach; a warning when it is wider than SEPARABLE_POINTS."""
    found = reachable(scores, records, finalists, controls)
    if found is None:
        return
    half, d, n = found
    wide = half > SEPARABLE_POINTS
    log.log(logging.WARNING if wide else logging.INFO,
            "race: with %d validation images and %d seeds it can separate a gain of about +-%.2f points at best (the "
            "images' luck alone: finalists and controls disagree on %.0f%% of them)%s", n, len(scores.race_seeds),
            half, 100 * d, "; a smaller gain cannot win, and the answer will then be the best control. More "
            "validation images narrow it (validation_size, validation_images)" if wide else "")


def verdict(scores: Scores, records: Mapping[int, TrialRecord], finalists: Sequence[int]) -> Verdict:
    """Only a finalist that ran every race seed may win; in a race cut short the best control is
    the one `Scores.race_cut` chose, and the others' gains are on the first seeds."""
    epochs = scores.schedule[-1]
    controls = scores.raced_controls(records)
    raced = {n: seeds for n in [*finalists, *controls] if (seeds := scores.raced(records.get(n)))}
    rewards = {n: scores.rewards(records.get(n), epochs, seeds) for n, seeds in raced.items()}
    images = {n: i for n, seeds in raced.items() if (i := scores.images(records.get(n), epochs, seeds))}
    return race_verdict({n: rewards[n] for n in finalists if n in rewards},
                        {n: rewards[n] for n in controls if n in rewards}, names=dict(scores.control_names),
                        images=images, best_control=None if scores.race_cut_after is None
                        else scores.race_cut(records, finalists)[1],
                        contenders=[n for n in finalists if raced.get(n) == scores.race_seeds])
