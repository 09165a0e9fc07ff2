"""Every free recipe is a control: screened like a candidate, the strongest raced, the best of them
the verdict's best free baseline and its fallback; the controls' share of the time; the interval
the race can reach, said before it runs; the user's starts; old experiments resume as they ran.

Real trainings on toy data (16x16 images, 1 epoch, one rung)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from _search import read_records, tiny_config, toy_data
from deepaug import DeepAugment
from deepaug.errors import InputError
from deepaug.search.config import SearchConfig
from deepaug.search.controls import BEFORE_CONTROL_SET, FREE_RECIPES, NAMES, make_controls
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.race import race_verdict

pytest.importorskip("tensorflow")


def controls_config(tmp_path: Path, **overrides) -> dict:
    """1 epoch, one rung (the screen trains to the end), 1 search seed, race on 2 seeds, 90 validation images."""
    settings = {"search_space": "distribution", "child_epochs": 1, "rungs": 1, "opt_last_n_epochs": 1,
                "validation_size": 90, "finalists": 1, "race_seeds": 2}
    return tiny_config(tmp_path, **{**settings, **overrides})


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("controls")
    x, y = toy_data(300)
    user_start = DistributionSpace(channels=3).to_policy([1, 2, 0, 0, 0, 0, 1, 0.4, 0.5, 0, 0, 1, 0])
    search = DeepAugment(x, y, controls_config(tmp_path, starts=[user_start.to_dict()]))
    lines = Lines()
    logger = logging.getLogger("deepaug.search")
    logger.addHandler(lines)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        table = search.optimize(2, verbose=0)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(old_level)
    verdict = json.loads((search.experiment_dir / "verdict.json").read_text())
    return search, table, verdict, read_records(search.experiment_dir), lines.records, user_start


def test_every_free_recipe_is_screened_like_a_candidate_on_the_same_seed(searched):
    search, _, verdict, found, _, user_start = searched
    controls = list(range(1, len(FREE_RECIPES) + 1))
    assert [found[n]["kind"] for n in controls] == ["control"] * len(FREE_RECIPES)
    assert verdict["controls"] == [NAMES[k] for k in FREE_RECIPES]
    space = search._search.space
    assert [found[n]["policy"] for n in controls] == [c.policy.to_dict() for c in make_controls(FREE_RECIPES, space)]
    seed = verdict["search_seeds"][0]
    for n in found:  # controls and candidates: the same seed and epochs in the screen
        screen = [h for h in found[n]["histories"] if h["seed"] == seed]
        assert len(screen) == 1 and len(screen[0]["val_accuracy"]) == 1
    first = len(FREE_RECIPES) + 1  # candidates are numbered after the controls
    assert sorted(n for n in found if found[n]["kind"] == "search") == [first, first + 1]
    assert found[first]["policy"] == user_start.to_dict()  # the user's start comes first


def test_the_controls_best_on_the_screen_race_and_the_best_by_the_race_is_the_answer_when_nothing_beats_it(searched):
    search, table, verdict, found, _, _ = searched
    scores = search._search.scores
    records = {r.number: r for r in search._search.experiment.records()}
    controls = range(1, len(FREE_RECIPES) + 1)
    screen = {n: scores.screen_reward(records[n]) for n in controls}
    raced = sorted(sorted(screen, key=lambda n: (-screen[n], n))[:2])
    race_seeds = set(verdict["race_seeds"])
    assert [n for n in controls if race_seeds <= {h["seed"] for h in found[n]["histories"]}] == raced
    assert verdict["raced_controls"] == [scores.control_names[n] for n in raced]
    means = {n: np.mean([found[n]["extra"]["rewards_by_seed"][str(s)] for s in verdict["race_seeds"]]) for n in raced}
    best = max(raced, key=lambda n: (means[n], -n))
    assert verdict["best_control"] == best and verdict["best_free_baseline"] == scores.control_names[best]
    assert scores.control_names[best] in verdict["message"]
    if not verdict["beat_controls"]:
        assert verdict["winner"] == best and verdict["policy"] == found[best]["policy"]
        assert search.best_policy.to_dict() == found[best]["policy"]
    race_rows = table[table["stage"] == "race"]  # the finalist and the raced controls
    assert sorted(race_rows["trial"]) == sorted([int(n) for n in verdict["gains"]] + raced)
    assert "gain_vs_trivialaugment" in table and "gain_vs_best_control" in table


def test_verdict_json_says_how_much_of_the_training_time_the_controls_took(searched):
    _, _, verdict, found, _, _ = searched
    mine = sum(r["seconds"] for r in found.values() if r["kind"] == "control")
    total = sum(r["seconds"] for r in found.values())
    assert verdict["control_training_seconds"] == pytest.approx(mine)
    assert verdict["control_share"] == pytest.approx(mine / total) and 0 < verdict["control_share"] < 1


def test_evaluate_judges_the_answer_against_the_best_free_baseline_the_verdict_named(searched):
    from deepaug.evaluation.methods import policy_method  # (evaluate's side, used by this test alone)

    search, _, verdict, found, _, _ = searched
    method = policy_method(search.experiment_dir / "best_policy.json")
    assert method.best_free in FREE_RECIPES and NAMES[method.best_free] == verdict["best_free_baseline"]
    assert method.search_seconds == pytest.approx(sum(r["seconds"] for r in found.values()))


def test_a_race_on_few_validation_images_says_up_front_that_it_cannot_separate_a_point(searched):
    _, _, verdict, _, logged, _ = searched
    messages = [r for r in logged if "can separate a gain of about" in r.getMessage()]
    race = next(i for i, r in enumerate(logged) if r.getMessage().startswith("race: 3 trial(s)"))
    assert messages and logged.index(messages[0]) < race  # before the race's trainings
    assert messages[0].levelno == logging.WARNING and "45 validation images and 2 seeds" in messages[0].getMessage()
    assert verdict["race_reachable_half_width"] > 1.0  # 45 images: a point is 0.45 of an image


def test_the_answer_falls_back_to_the_best_raced_control_and_names_it():
    names = {1: "TrivialAugment", 5: "TrivialAugment + flip + crop"}
    controls = {1: {1: 0.80, 2: 0.82, 3: 0.81}, 5: {1: 0.84, 2: 0.85, 3: 0.86}}
    behind_flip_crop = race_verdict({7: {1: 0.83, 2: 0.84, 3: 0.85}}, controls, names=names)
    assert not behind_flip_crop.beat_controls and behind_flip_crop.winner == 5
    assert behind_flip_crop.best_free_baseline == "TrivialAugment + flip + crop"
    assert "the answer is TrivialAugment + flip + crop itself" in behind_flip_crop.message
    assert behind_flip_crop.to_dict()["best_free_baseline"] == "TrivialAugment + flip + crop"
    ahead = race_verdict({7: {1: 0.86, 2: 0.87, 3: 0.88}}, controls, names=names)
    assert ahead.winner == 7 and "best free baseline on validation, TrivialAugment + flip + crop" in ahead.message


def test_the_default_starts_are_published_recipes_and_yours_must_be_points_of_the_space(tmp_path):
    space = DistributionSpace(channels=3)
    starts = space.starting_policies()
    assert all(p.distribution.magnitude in (1.0, 0.3) for p in starts)  # TrivialAugment's or RandAugment's M=9
    assert space.starts(None) == starts and space.starts("pilot") == space.starting_policies(pilot=True) != starts
    x, y = toy_data(200)
    with pytest.raises(InputError, match=r"starts\[0\] is not a point of the distribution search space"):
        DeepAugment(x, y, controls_config(tmp_path, starts=["reference"]))  # a sub-policy policy
    with pytest.raises(InputError, match="starts: .*must be a non-empty list of policies"):
        SearchConfig.from_user({"starts": "trivialaugment"})
    with pytest.raises(InputError, match="controls: .*must start with 'trivialaugment'"):
        SearchConfig.from_user({"controls": ["randaugment", "trivialaugment"]})
    with pytest.raises(InputError, match=r"raced_controls \(3\) must be at most the number of controls \(2"):
        SearchConfig.from_user({"controls": ["trivialaugment", "none"], "raced_controls": 3})


def test_an_experiment_stored_before_the_control_set_resumes_with_its_two_controls_and_starts(tmp_path):
    x, y = toy_data(300)
    before = DeepAugment(x, y, controls_config(tmp_path))._search
    record = {k: v for k, v in before.config.to_record().items() if k not in ("controls", "raced_controls", "starts")}
    before.experiment.start(record, before.identity, {}, 0)  # what an older deepaug stored: no such keys
    resumed = DeepAugment(x, y, controls_config(tmp_path))._search
    assert tuple(resumed.config.controls) == BEFORE_CONTROL_SET and resumed.config.raced_controls == 2
    assert [c.name for c in resumed.controls] == ["TrivialAugment", "RandAugment"]
    assert resumed.starts == resumed.space.starting_policies(pilot=True)  # the pilot starts it ran with
    with pytest.raises(InputError, match="controls: stored"):  # set by you: refused
        DeepAugment(x, y, controls_config(tmp_path, controls=list(FREE_RECIPES)))
