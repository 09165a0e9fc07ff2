"""The distribution search's screen under augmentation-wise weight sharing (`screen: shared`).

Real trainings on toy data (300 images of 16x16, 3 epochs: a shared stage of 2, each
candidate tuned for 1), in-process (executor: inline)."""
from __future__ import annotations

import json

import pytest

from _search import read_records as records, tiny_config, toy_data
from deepaug import DeepAugment
from deepaug.errors import InputError
from deepaug.search.config import SearchConfig
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.screen import shared_stage

pytest.importorskip("tensorflow")


def shared_config(tmp_path, **overrides) -> dict:
    settings = {"search_space": "distribution", "screen": "shared", "child_epochs": 3, "tune_epochs": 1,
                "opt_last_n_epochs": 1, "validation_size": 90, "finalists": 1, "race_seeds": 2,
                "controls": ["trivialaugment", "randaugment"]}
    return tiny_config(tmp_path, **{**settings, **overrides})


def by_seed(record: dict, seed: int) -> dict:
    return next(h for h in record["histories"] if h["seed"] == seed)


def seeds(search) -> tuple[list[int], list[int]]:
    """The run's search seeds and race seeds, as verdict.json records them."""
    verdict = json.loads((search.experiment_dir / "verdict.json").read_text())
    return verdict["search_seeds"], verdict["race_seeds"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("shared")
    x, y = toy_data(300)
    search = DeepAugment(x, y, shared_config(tmp_path))
    table = search.optimize(3, verbose=0)
    return search, table, tmp_path, records(search.experiment_dir)


def test_every_screened_trial_continues_the_one_shared_stage(finished):
    search, _, _, recs = finished
    shared = recs[0]
    assert len(seeds(search)[0]) == 1
    assert shared["kind"] == "shared" and shared["state"] == "complete" and shared["extra"]["epochs"] == 2
    assert [k for k, r in recs.items() if r["kind"] == "shared"] == [0]  # one shared stage
    seed = seeds(search)[0][0]
    start = by_seed(shared, seed)["accuracy"]
    screened = [r for r in recs.values() if r["kind"] in ("search", "control")]
    assert len([r for r in screened if r["kind"] == "search"]) == 3 and len(screened) == 5
    for record in screened:
        mine = by_seed(record, seed)["accuracy"]
        assert len(mine) == 3 and mine[:2] == start, record["number"]  # the shared epochs, then its own
    assert len({tuple(by_seed(r, seed)["accuracy"]) for r in screened}) > 1  # the tuned epochs differ


def test_the_race_trains_from_scratch_and_the_table_and_verdict_account_for_the_shared_stage(finished):
    search, table, tmp_path, recs = finished
    (seed,), race_seeds = seeds(search)
    start = by_seed(recs[0], seed)["accuracy"]
    raced = [r for r in recs.values() if any(h["seed"] in race_seeds for h in r["histories"])]
    assert raced
    for record in raced:
        for race_seed in race_seeds:
            if any(h["seed"] == race_seed for h in record["histories"]):
                assert by_seed(record, race_seed)["accuracy"][:2] != start  # its own training, not the shared one
    assert "shared" not in set(table["kind"]) and table["winner"].sum() == 1
    verdict = json.loads((search.experiment_dir / "verdict.json").read_text())
    assert verdict["rungs"] == [3] and verdict["shared_stage_training_seconds"] > 0
    assert not list((tmp_path / "child_models").rglob("*.npz"))  # the shared stage's files are gone too
    assert not list((tmp_path / "child_models").rglob("*.json"))


def test_more_iterations_later_train_the_shared_stage_again_as_it_was(finished, tmp_path):
    search, _, old_path, recs = finished
    x, y = toy_data(300)
    again = DeepAugment(x, y, shared_config(old_path))
    again.optimize(4, verbose=0)
    now = records(again.experiment_dir)
    seed = seeds(again)[0][0]
    assert by_seed(now[0], seed)["accuracy"] == by_seed(recs[0], seed)["accuracy"]  # the same training
    new = max(n for n, r in now.items() if r["kind"] == "search")
    assert new not in recs and by_seed(now[new], seed)["accuracy"][:2] == by_seed(recs[0], seed)["accuracy"]


@pytest.mark.parametrize("overrides, message", [
    ({"tune_epochs": 3}, "tune_epochs must be below child_epochs"),
    ({"child_epochs": 1, "tune_epochs": None}, "child_epochs at least 2"),
    ({"search_space": "deepaugment"}, "screens the distribution search"),
])
def test_a_shared_screen_that_cannot_run_is_refused_before_any_work(tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        SearchConfig.from_user({**shared_config(tmp_path), **overrides})


def test_the_tuned_epochs_default_to_a_fifth_of_the_training():
    assert SearchConfig.from_user({"screen": "shared", "child_epochs": 60}).shared_tune_epochs == 12
    assert SearchConfig.from_user({"screen": "shared", "child_epochs": 3}).shared_tune_epochs == 1


def test_the_default_screen_is_shared_under_trivialaugment_with_5_race_seeds_where_it_can_run():
    default = SearchConfig.from_user({})
    assert (default.screen, default.race_seeds, default.shared_policy) == ("shared", 5, "trivialaugment")
    assert not {"screen", "race_seeds"} & default.model_fields_set  # still told apart from the user's values
    assert (SearchConfig.from_user({"screen": "rungs"}).race_seeds,
            SearchConfig.from_user({"race_seeds": 4}).screen) == (3, "shared")
    for cannot_share in ({"search_space": "deepaugment"}, {"child_epochs": 1}):  # rungs there, as before
        config = SearchConfig.from_user(cannot_share)
        assert (config.screen, config.race_seeds) == ("rungs", 3), cannot_share
    # a config rebuilt from one with other keys resolves its defaults again
    again = SearchConfig.from_user(SearchConfig.from_user({"child_epochs": 5}), search_space="deepaugment")
    assert again.screen == "rungs"


def test_the_shared_stage_trains_under_the_spaces_trivialaugment_or_its_uniform_draw():
    space = DistributionSpace(None, 1)
    assert shared_stage(space, "trivialaugment", 8, [1], 0).policy == space.trivialaugment()
    assert shared_stage(space, "uniform", 8, [1], 0).policy == space.uniform() != space.trivialaugment()


def test_an_experiment_stored_under_the_old_defaults_resumes_with_them(tmp_path):
    x, y = toy_data(300)
    old = DeepAugment(x, y, shared_config(tmp_path, screen="rungs", race_seeds=3, rungs=2))
    engine = old._search
    stored = {k: v for k, v in old.config.to_record().items() if k not in ("screen", "race_seeds")}
    engine.experiment.start({**stored, "screen": "rungs", "race_seeds": 3}, engine.identity,
                            engine.space.to_dict(), 0)  # what the search wrote before the default changed
    resumed = DeepAugment(x, y, shared_config(tmp_path, screen=None, race_seeds=None, rungs=2))
    assert (resumed.config.screen, resumed.config.race_seeds) == ("rungs", 3)
    with pytest.raises(InputError, match="screen: stored 'rungs', now 'shared'"):
        DeepAugment(x, y, shared_config(tmp_path, race_seeds=None, rungs=2))  # shared, asked for by name
