"""The race's arithmetic: paired gains over the controls, with 95% intervals, and the verdict.

A finalist wins only if the lower bound of its paired gain over the best control is above
zero; otherwise the answer is that control (deepaug never hands over a policy that did not
beat the free baselines on the race's seeds).

The interval accounts for two kinds of luck. Over seeds: the per-seed paired differences
vary. Over validation images: every seed is scored on the same images, so a gain that comes
from a few lucky images repeats on every seed and the seeds' spread cannot see it. When the
trainings kept which images they got right (per seed, the fraction of late epochs each image
was right), the seeds x images table of paired differences gives an interval that counts
both, as a two-way crossed design (deepaug.stats.crossed_half_width); otherwise the interval
is the seeds' t interval alone. With 637 validation images a gain of half a point is about
three images, well inside the interval; with 10,000 it needs to be about 0.5 points to clear
it, as it would have to on a test set of that size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping

import numpy as np

from deepaug.errors import SearchError
from deepaug.execution.trials import TrialRecord
from deepaug.stats import crossed_half_width, t_interval
from deepaug.training.rungs import late_correct, late_reward

TRIVIAL, RANDAUGMENT = 1, 2  # trial numbers of the controls
CONTROL_NAMES = {TRIVIAL: "TrivialAugment", RANDAUGMENT: "RandAugment"}


Images = Mapping[int, np.ndarray]  # seed -> per validation image, the fraction of late epochs it was right


@dataclass(frozen=True)
class Gain:
    """A paired gain in accuracy points: the mean over the common seeds and a 95% interval over
    seeds and, when `images` > 0, over that many validation images (module docstring)."""

    mean: float
    low: float
    high: float
    seeds: int
    images: int = 0

    @classmethod
    def of(cls, mine: Mapping[int, float], theirs: Mapping[int, float], mine_images: Images | None = None,
           their_images: Images | None = None) -> "Gain | None":
        common = sorted(set(mine) & set(theirs))
        if not common:
            return None
        diffs = [100.0 * (mine[s] - theirs[s]) for s in common]
        low, high = t_interval(diffs)
        table = _image_differences(common, mine_images, their_images)
        if table is None or math.isnan(low):
            return cls(float(np.mean(diffs)), low, high, len(common))
        centre, half = float(np.mean(diffs)), crossed_half_width(table)
        return cls(centre, centre - half, centre + half, len(common), int(table.shape[1]))

    def __str__(self) -> str:
        over = f"{self.seeds} seeds" + (f", {self.images} validation images" if self.images else "")
        span = "no interval" if math.isnan(self.low) else f"95% interval {self.low:+.2f} .. {self.high:+.2f}"
        return f"{self.mean:+.2f} points ({span}, {over})"


def _image_differences(seeds: list[int], mine: Images | None, theirs: Images | None) -> np.ndarray | None:
    """Seeds x validation images, 100 x (mine - theirs); None unless both sides have per-image
    results of the same images on every seed."""
    if not mine or not theirs or any(s not in mine or s not in theirs for s in seeds):
        return None
    if len({mine[s].shape for s in seeds} | {theirs[s].shape for s in seeds}) != 1 or mine[seeds[0]].size < 2:
        return None
    return 100.0 * np.stack([mine[s] - theirs[s] for s in seeds])


@dataclass
class Verdict:
    """The race's answer: the winner (a finalist or the best control) and why."""

    winner: int
    beat_controls: bool
    best_control: int
    gains: dict[int, dict[int, Gain | None]] = field(default_factory=dict)  # finalist -> control -> gain
    message: str = ""
    names: dict[int, str] = field(default_factory=lambda: dict(CONTROL_NAMES))  # control -> its name

    @property
    def best_free_baseline(self) -> str:
        """The best control's name: the best free recipe by the race on validation."""
        return self.names.get(self.best_control, f"trial {self.best_control}")

    def to_dict(self) -> dict[str, Any]:
        return {"winner": self.winner, "beat_controls": self.beat_controls, "best_control": self.best_control,
                "best_free_baseline": self.best_free_baseline, "message": self.message,
                "gains": {str(f): {self.names.get(c, str(c)): None if g is None else
                                   {"mean": g.mean, "ci95_low": None if math.isnan(g.low) else g.low,
                                    "ci95_high": None if math.isnan(g.high) else g.high, "seeds": g.seeds,
                                    "images": g.images}
                                   for c, g in per.items()} for f, per in self.gains.items()}}


def race_verdict(finalists: Mapping[int, Mapping[int, float]], controls: Mapping[int, Mapping[int, float]],
                 names: Mapping[int, str] | None = None, images: Mapping[int, Images] | None = None,
                 best_control: int | None = None, contenders: Collection[int] | None = None) -> Verdict:
    """Decide the race from per-seed rewards: trial -> {seed: reward}, and, where the trainings
    kept them, per-image results: trial -> {seed: per-image fraction right}.

    The best control is the one with the highest mean reward (or `best_control`, chosen by
    the caller: a race cut short chose it on the seeds every control ran); the winner is
    the finalist with the highest mean paired gain over it among those whose interval's
    lower bound is above zero, else the best control. Only `contenders` (by default every
    finalist) may win; the others' gains are reported on the seeds they ran.
    """
    if not controls:
        raise SearchError("the race has no control to compare with")
    names = {**CONTROL_NAMES, **(names or {})}
    images = images or {}
    if best_control is None or best_control not in controls:
        best_control = max(controls, key=lambda c: (float(np.mean(list(controls[c].values()))), -c))
    gains = {f: {c: Gain.of(rewards, controls[c], images.get(f), images.get(c)) for c in controls}
             for f, rewards in finalists.items()}
    contenders = set(gains if contenders is None else contenders) & set(gains)
    winners = [(g[best_control].mean, -f) for f, g in gains.items() if f in contenders
               and g[best_control] is not None and not math.isnan(g[best_control].low) and g[best_control].low > 0]
    control_name = names.get(best_control, f"trial {best_control}")
    if winners:
        winner = -max(winners)[1]
        g = gains[winner][best_control]
        message = (f"trial {winner} beat the best free baseline on validation, {control_name}, by {g}; it is the "
                   "policy to use")
        return Verdict(winner, True, best_control, gains, message, names)
    if gains:
        best = max(contenders or gains,
                   key=lambda f: (gains[f][best_control].mean if gains[f][best_control] else -math.inf, -f))
        g = gains[best][best_control]
        detail = f" (the best finalist, trial {best}: {g})" if g is not None else ""
    else:
        detail = " (no finalist finished the race)"
    message = (f"no searched policy beat {control_name}, the best free baseline on validation, with a 95% "
               f"interval above zero{detail}; the answer is {control_name} itself")
    return Verdict(best_control, False, best_control, gains, message, names)


def gain_text(row: Mapping[str, Any], tag: str) -> str:
    """A results-table row's gain over control `tag` ("trivialaugment" or "randaugment") as
    "+0.18 [-0.19, +0.54]" (points, 95% interval), "-" when there is none."""
    mean, low, high = (row.get(f"gain_vs_{tag}{suffix}") for suffix in ("", "_ci95_low", "_ci95_high"))
    if mean is None or not math.isfinite(mean):
        return "-"
    return f"{mean:+.2f}" + ("" if low is None or not math.isfinite(low) else f" [{low:+.2f}, {high:+.2f}]")


def _per_seed(record: TrialRecord, seeds: Iterable[int], measure: Callable[[Mapping[str, Any]], Any]) -> dict | None:
    """{seed: measure(that seed's history)} when every seed of `seeds` has a value, else None."""
    by_seed = {int(h["seed"]): h for h in record.histories if "seed" in h}
    out = {}
    for seed in seeds:
        history = by_seed.get(int(seed))
        value = None if history is None else measure(history)
        if value is None:
            return None
        out[int(seed)] = value
    return out


Part = Callable[[int], np.ndarray]  # seed -> the indices of the validation images that seed is scored on


def _late_images(history: Mapping[str, Any], epochs: int, last_n: int, n: int, part: Part | None) -> np.ndarray | None:
    correct = late_correct(history, epochs, last_n, n)
    return correct if correct is None or part is None else correct[part(int(history["seed"]))]


def images_by_seed(record: TrialRecord, epochs: int, seeds: Iterable[int], last_n: int, n: int,
                   part: Part | None = None) -> dict[int, np.ndarray] | None:
    """{seed: per-image fraction right over the late epochs at `epochs`} when every seed kept
    per-image results of `n` validation images, else None; with `part`, of the images part(seed)."""
    return _per_seed(record, seeds, lambda history: _late_images(history, epochs, last_n, n, part))


def rewards_by_seed(record: TrialRecord, epochs: int, seeds: Iterable[int], last_n: int,
                    part: Part | None = None, n: int = 0) -> dict[int, float] | None:
    """{seed: late reward at `epochs`} when every seed of `seeds` has one, else None; with `part`,
    the accuracy on the images part(seed) of the `n` validation images (from the per-image results)."""
    if part is None:
        return _per_seed(record, seeds, lambda history: late_reward(history, epochs, last_n))
    return _per_seed(record, seeds, lambda history: None if (
        correct := _late_images(history, epochs, last_n, n, part)) is None else float(correct.mean()))
