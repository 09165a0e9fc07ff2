"""The distribution search: common random numbers, successive halving with resume, the race.

Real trainings on toy data (a few 16x16 images, 1-3 epochs); the SIGKILL test runs the
CLI in a subprocess and kills it once a candidate has started its second rung.
"""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from _search import kill_when, read_records as records, tiny_config, toy_data
from deepaug import DeepAugment, datasets
from deepaug.errors import InputError
from deepaug.training.rungs import crn_seeds
from deepaug.search.callbacks import Callback
from deepaug.search.config import SearchConfig
from deepaug.search.race import CONTROL_NAMES, RANDAUGMENT, TRIVIAL, race_verdict
from deepaug.stats import t_interval
from deepaug.training.rungs import rung_epochs

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]


def study_config(tmp_path: Path, **overrides) -> dict:
    """3 epochs in 2 rungs (1, then 3), 1 search seed, race on 2 seeds, 90 validation images; two
    controls, TrivialAugment and RandAugment, both raced (the whole control set: test_controls.py)."""
    settings = {"search_space": "distribution", "screen": "rungs", "child_epochs": 3, "rungs": 2, "halving_rate": 3,
                "opt_last_n_epochs": 1, "validation_size": 90, "finalists": 1, "race_seeds": 2,
                "controls": ["trivialaugment", "randaugment"]}
    return tiny_config(tmp_path, **{**settings, **overrides})


def test_rung_schedule_ends_at_the_final_training():
    assert rung_epochs(60, 2, 3) == [20, 60]
    assert rung_epochs(60, 3, 3) == [7, 20, 60]
    assert rung_epochs(2, 4, 3) == [1, 2]
    assert rung_epochs(10, 1, 3) == [10]


# ---------------------------------------------------------------- common random numbers

def test_two_candidates_with_the_same_seed_start_from_identical_weights_and_see_identical_batches(monkeypatch):
    from deepaug.training import pipeline
    from deepaug.policy.baselines import RandAugment, TrivialAugment
    from deepaug.training.models import build_child_model

    x, y = toy_data(64)
    first = build_child_model("basiccnn", x.shape[1:], 3, seed=5).get_weights()
    second = build_child_model("basiccnn", x.shape[1:], 3, seed=5).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))

    streams: dict[str, list] = {"ta": [], "ra": []}
    real = pipeline.augment_with
    for key, policy in (("ta", TrivialAugment().policy), ("ra", RandAugment().policy)):
        def spy(augmenter, batch, rng, key=key):
            streams[key].append((rng.bit_generator.state["state"]["state"], batch.copy()))
            return real(augmenter, batch, rng)

        monkeypatch.setattr(pipeline, "augment_with", spy)
        labels = [yb.numpy() for _, yb in pipeline.train_dataset(x, y, policy, 16, seed=5, epochs=2)]
        streams[key + "_labels"] = labels
    assert len(streams["ta"]) == len(streams["ra"]) == 8
    # batches are augmented in parallel threads, so compare them as sets of (stream state, images)
    seen_ta = sorted((state, batch.tobytes()) for state, batch in streams["ta"])
    seen_ra = sorted((state, batch.tobytes()) for state, batch in streams["ra"])
    assert seen_ta == seen_ra  # the same images in each batch, augmented from the same stream
    assert all(np.array_equal(a, b) for a, b in zip(streams["ta_labels"], streams["ra_labels"]))


def test_a_training_continued_from_its_checkpoint_is_the_uninterrupted_training(tmp_path):
    # the rung after the first continues from a checkpoint: weights, Adam state and the dropout
    # layers' seed states, or the continued epochs would draw other dropout masks
    from deepaug.datasets import from_arrays, split_train_val
    from deepaug.policy.baselines import RandAugment, TrivialAugment
    from deepaug.training.rungs import train_to
    from deepaug.training.train import TrainingConfig

    x, y = toy_data(200)
    train, val = split_train_val(from_arrays(x, y), 120, 60, seed=0)
    config = TrainingConfig(child_epochs=3, child_batch_size=32, opt_last_n_epochs=1)
    policy = TrivialAugment().policy
    whole = train_to(train, val, policy, config, 5, 3, None, None)
    first = train_to(train, val, policy, config, 5, 1, None, tmp_path / "seed_5.npz")
    train_to(train, val, RandAugment().policy, config, 6, 2, None, None)  # another training between
    rest = train_to(train, val, policy, config, 5, 3, first, tmp_path / "seed_5.npz")
    assert rest["accuracy"] == whole["accuracy"] and rest["loss"] == whole["loss"]
    for key in ("val_accuracy", "val_loss", "val_correct"):  # validated at each training's last epoch
        assert rest[key][-1] == whole[key][-1], key
    # without its checkpoint the rung trains again from scratch (the same training) and keeps
    # the first rung's result: the screen's reward is not lost
    again = train_to(train, val, policy, config, 5, 3, first, tmp_path / "missing.npz")
    assert again["accuracy"] == whole["accuracy"] and again["val_accuracy"][-1] == whole["val_accuracy"][-1]
    assert first["val_accuracy"][0] is not None and whole["val_accuracy"][0] is None
    assert again["val_accuracy"][0] == first["val_accuracy"][0] and again["val_correct"][0] == first["val_correct"][0]


# ---------------------------------------------------------------- the race

def test_the_race_returns_the_control_when_no_candidate_beats_it():
    controls = {TRIVIAL: {1: 0.80, 2: 0.82, 3: 0.81}, RANDAUGMENT: {1: 0.81, 2: 0.83, 3: 0.82}}
    noisy = {5: {1: 0.83, 2: 0.82, 3: 0.81}}  # ahead on one seed, behind on another
    worse = {6: {1: 0.78, 2: 0.80, 3: 0.79}}
    verdict = race_verdict({**noisy, **worse}, controls)
    assert not verdict.beat_controls and verdict.winner == RANDAUGMENT == verdict.best_control
    assert "no searched policy beat RandAugment" in verdict.message
    assert verdict.gains[6][RANDAUGMENT].high < 0


def test_the_race_picks_the_finalist_with_the_highest_gain_whose_interval_is_above_zero():
    controls = {TRIVIAL: {1: 0.80, 2: 0.82, 3: 0.81}, RANDAUGMENT: {1: 0.79, 2: 0.80, 3: 0.80}}
    steady = {5: {1: 0.815, 2: 0.835, 3: 0.825}}  # +1.5 points on every seed
    lucky = {6: {1: 0.90, 2: 0.80, 3: 0.81}}  # a higher mean, but its interval spans zero
    verdict = race_verdict({**steady, **lucky}, controls)
    assert verdict.best_control == TRIVIAL
    assert verdict.beat_controls and verdict.winner == 5
    assert verdict.gains[5][TRIVIAL].low > 0 and verdict.gains[6][TRIVIAL].mean > verdict.gains[5][TRIVIAL].mean


def test_in_a_race_cut_short_only_a_finalist_that_ran_every_seed_wins_against_the_chosen_control():
    controls = {TRIVIAL: {1: 0.80, 2: 0.82, 3: 0.81, 4: 0.80}, RANDAUGMENT: {1: 0.81, 2: 0.80}}
    leader = {5: {1: 0.815, 2: 0.835, 3: 0.825, 4: 0.815}}  # +1.5 points on all 4 seeds
    dropped = {6: {1: 0.84, 2: 0.86}}  # a higher gain (+4 points), on the first 2 seeds only
    verdict = race_verdict({**leader, **dropped}, controls, best_control=TRIVIAL, contenders=[5])
    assert verdict.best_control == TRIVIAL  # chosen by the caller, not by means over unequal seeds
    assert verdict.winner == 5 and verdict.beat_controls
    assert verdict.gains[6][TRIVIAL].seeds == 2 and verdict.gains[5][TRIVIAL].seeds == 4
    assert verdict.gains[5][RANDAUGMENT].seeds == 2  # over the control that stopped: on the seeds both ran
    assert race_verdict({**leader, **dropped}, controls, best_control=TRIVIAL).winner == 6  # all contenders
    behind = race_verdict({5: {1: 0.80, 2: 0.81, 3: 0.80, 4: 0.80}, **dropped}, controls,
                          best_control=TRIVIAL, contenders=[5])
    assert behind.winner == TRIVIAL and "the best finalist, trial 5" in behind.message


def test_a_gain_of_a_few_validation_images_does_not_win_the_race():
    # on every seed the finalist gets 23 images right that the control gets wrong and 20 the
    # other way round: +0.5 points on 600 images, the same on all 3 seeds, so the seed interval
    # is tight, but 3 images net of 43 that differ is luck the images' interval shows; the same
    # gain over 60,000 images (2,300 against 2,000) is not
    def race(n_images: int, gained: int, lost: int):
        rng = np.random.default_rng(0)
        control, finalist = {}, {}
        for seed in (1, 2, 3):
            right = (rng.random(n_images) < 0.9).astype(float)
            mine = right.copy()
            mine[rng.choice(np.flatnonzero(right == 0), gained, replace=False)] = 1.0
            mine[rng.choice(np.flatnonzero(right == 1), lost, replace=False)] = 0.0
            control[seed], finalist[seed] = right, mine
        mean = {seed: float(v.mean()) for seed, v in control.items()}
        return race_verdict({5: {s: float(v.mean()) for s, v in finalist.items()}},
                            {TRIVIAL: mean, RANDAUGMENT: {s: v - 0.01 for s, v in mean.items()}},
                            images={5: finalist, TRIVIAL: control})

    few = race(600, 23, 20)
    gain = few.gains[5][TRIVIAL]
    assert gain.mean == pytest.approx(0.5) and gain.images == 600 and gain.low < 0 < gain.high
    assert not few.beat_controls and "600 validation images" in few.message
    many = race(60_000, 2_300, 2_000)
    assert many.gains[5][TRIVIAL].mean == pytest.approx(0.5) and many.gains[5][TRIVIAL].low > 0
    assert many.beat_controls and many.winner == 5
    seeds_only = race_verdict({5: {1: 0.905, 2: 0.905, 3: 0.905}}, {TRIVIAL: {1: 0.9, 2: 0.9, 3: 0.9}})
    assert seeds_only.gains[5][TRIVIAL].images == 0  # records without per-image results: over seeds only


def test_a_gain_that_needs_both_the_seeds_and_the_images_luck_does_not_win_the_race():
    # 2,000 images, 5 seeds. On every seed the finalist gets the same 24 images right that the
    # control gets wrong and 14 the other way round (the images' luck), and each seed adds its
    # own 9, -9, 18, 0, 4 images (the seeds' luck): +0.72 points. Each kind of luck alone gives an
    # interval above zero (seeds +0.10 .., images +0.09 ..); both together reach below zero
    images, extra = 2000, (9, -9, 18, 0, 4)
    control = (np.arange(images) % 10 != 0).astype(float)
    wrong, right = np.flatnonzero(control == 0), np.flatnonzero(control == 1)
    shared = control.copy()
    shared[wrong[:24]], shared[right[:14]] = 1.0, 0.0
    finalist = {}
    for seed, k in enumerate(extra, start=1):
        mine = shared.copy()
        if k > 0:
            mine[wrong[24:24 + k]] = 1.0
        else:
            mine[right[14:14 - k]] = 0.0
        finalist[seed] = mine
    controls = {seed: control for seed in finalist}
    verdict = race_verdict({5: {s: float(v.mean()) for s, v in finalist.items()}},
                           {TRIVIAL: {s: float(control.mean()) for s in finalist}},
                           images={5: finalist, TRIVIAL: controls})
    gain = verdict.gains[5][TRIVIAL]
    table = 100.0 * np.stack([finalist[s] - control for s in finalist])
    by_seeds = t_interval(table.mean(axis=1))[0]
    by_images = table.mean() - 1.96 * table.mean(axis=0).std(ddof=1) / np.sqrt(images)
    assert gain.mean == pytest.approx(0.72) and by_seeds > 0.05 and by_images > 0.05
    assert gain.low < -0.03 and not verdict.beat_controls and verdict.winner == TRIVIAL


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("study")
    x, y = toy_data(300)
    search = DeepAugment(x, y, study_config(tmp_path))
    search.seen = Stages(tmp_path / "child_models" / "checkpoints")  # what a callback hears
    lines = Lines()  # what the CLI prints
    logger = logging.getLogger("deepaug.search")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        table = search.optimize(4, callbacks=[search.seen], verbose=0)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    search.lines = lines.messages
    return search, table, tmp_path


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class Stages(Callback):
    def __init__(self, checkpoints: Path | None = None):
        self.trials, self.rungs, self.trainings, self.progress = [], [], 0, []
        self.checkpoints, self.kept = checkpoints, {}  # stage -> the trials with checkpoints at its end

    def on_stage_progress(self, stage, epochs, done, total):
        self.progress.append((stage, epochs, done, total))

    def on_trial_end(self, event):
        self.trials.append((event.stage, event.record.number, event.done, event.total, event.epochs))

    def on_rung_end(self, stage, epochs, records):
        self.rungs.append((stage, epochs))
        if self.checkpoints is not None:
            self.kept[stage] = {int(p.parent.name.split("_")[1]) for p in self.checkpoints.glob("*/trial_*/*.npz")}

    def on_training_end(self, record):
        self.trainings += 1


def test_callbacks_hear_each_stage_of_the_study_and_tensorboard_has_a_run_per_trial(finished):
    search, _, _ = finished
    seen = search.seen
    assert seen.rungs == [("screen", 1), ("rung 1", 3), ("race", 3)]
    assert len(set((stage, n) for stage, n, *_ in seen.trials)) == len(seen.trials)  # each (trial, stage) once
    for stage, epochs in seen.rungs:
        mine = [t for t in seen.trials if t[0] == stage]
        assert all(t[4] == epochs for t in mine)  # each counts the stage's trials up to its total (the
        assert sorted(t[2] for t in mine if t[2]) == list(range(1, mine[0][3] + 1))  # screen: candidates only
    assert sorted(n for stage, n, *_ in seen.trials if stage == "screen") == [1, 2, 3, 4, 5, 6]
    assert seen.trainings >= len(seen.trials)
    # the race's 3 trials x 2 seeds go out one training at a time: its progress counts them
    assert [p for p in seen.progress if p[0] == "race"] == [("race", 3, k, 6) for k in range(1, 7)]
    runs = sorted(p.name for p in (search.experiment_dir / "tensorboard").iterdir())
    assert runs == [f"trial_{n:04d}" for n in range(1, 7)]


def test_the_progress_lines_give_the_stages_eta_and_the_searchs_until_the_stage_ends(finished):
    search, _, _ = finished
    progress = [m for m in search.lines if re.match(r"(screen|rung \d+|race) \d+/\d+: ", m)]
    assert {m.split(" ")[0] for m in progress} == {"screen", "rung", "race"}
    for line in progress:
        stage, done, total = re.match(r"(.+?) (\d+)/(\d+): ", line).groups()
        etas = re.findall(r"(?:\| |, )([\w ]+?) ETA ([\d.]+) min", line)
        if int(done) < int(total):  # what is left: this stage, and after it the stages still to come
            assert [name for name, _ in etas] == [stage, "search"], line
            assert float(etas[1][1]) >= float(etas[0][1])
        else:
            assert etas == [], line  # the stage is done (the race's last trial: the search too)


def test_every_candidate_trains_on_the_same_seeds_and_controls_run_beside_them(finished):
    search, _, _ = finished
    found = records(search.experiment_dir)
    assert {found[TRIVIAL]["kind"], found[RANDAUGMENT]["kind"]} == {"control"}
    seeds = [{h["seed"] for h in r["histories"]} for r in found.values() if r["state"] == "complete"]
    run_seed = json.loads((search.experiment_dir / "config.json").read_text())["run_seed"]
    assert set.intersection(*seeds) == {crn_seeds(run_seed, 1)[0]}  # the search seed, in every trial
    for number in (TRIVIAL, RANDAUGMENT):  # the race's trainings keep which validation images they got right
        late = [h["val_correct"][-1] for h in found[number]["histories"]]
        assert all(isinstance(bits, str) and bits for bits in late)
    gains = json.loads((search.experiment_dir / "verdict.json").read_text())["gains"]
    assert all(g["images"] == 45 for per in gains.values() for g in per.values() if g)  # the race's half of 90
    assert sorted(found) == [1, 2, 3, 4, 5, 6]  # 2 controls + 4 candidates


def test_the_race_scores_finalists_on_seeds_other_than_the_ones_that_chose_them(finished):
    search, _, _ = finished
    verdict = json.loads((search.experiment_dir / "verdict.json").read_text())
    run_seed = json.loads((search.experiment_dir / "config.json").read_text())["run_seed"]
    search_seeds, race_seeds = verdict["search_seeds"], verdict["race_seeds"]
    assert search_seeds + race_seeds == crn_seeds(run_seed, 3) and len(race_seeds) == 2
    found = records(search.experiment_dir)
    raced = [n for n, r in found.items() if {h["seed"] for h in r["histories"]} >= set(race_seeds)]
    assert TRIVIAL in raced and RANDAUGMENT in raced and len(raced) == 3  # 1 finalist + 2 controls
    for number in raced:  # each raced trial holds the screen's seed and both race seeds
        assert sorted(h["seed"] for h in found[number]["histories"]) == sorted(search_seeds + race_seeds)
    assert all(g["seeds"] == 2 for per in verdict["gains"].values() for g in per.values() if g)


def test_the_race_scores_on_validation_images_the_screen_and_rungs_never_ranked_on(finished):
    from deepaug.training.reward import read_correct

    search, table, _ = finished
    verdict = json.loads((search.experiment_dir / "verdict.json").read_text())
    assert (verdict["validation_images"], verdict["race_validation_images"]) == (90, 45)
    screen, race = search._search.scores.holdout  # the halves, drawn once per experiment from its run seed
    assert len(screen) == len(race) == 45 and not set(screen.tolist()) & set(race.tolist())
    found = records(search.experiment_dir)

    def accuracy(number: int, seed: int, epochs: int, images: np.ndarray) -> float:
        history = next(h for h in found[number]["histories"] if h["seed"] == seed)
        return float(read_correct(history["val_correct"][epochs - 1], 90)[images].mean())

    control = table[table["trial"] == TRIVIAL].iloc[0]  # its race reward: on the race's images only
    assert control["reward"] == pytest.approx(np.mean([accuracy(TRIVIAL, s, 3, race) for s in verdict["race_seeds"]]))
    seed = verdict["search_seeds"][0]
    for _, row in table[table["kind"] == "search"].iterrows():  # the screen ranked on the other half
        assert row["screen_gain_vs_trivialaugment"] == pytest.approx(
            100 * (accuracy(row["trial"], seed, 1, screen) - accuracy(TRIVIAL, seed, 1, screen)))


def test_holdout_halves_split_each_class_in_two_and_need_enough_images_of_each():
    from deepaug.search.validation import holdout_halves

    labels = np.repeat([0, 1, 2], [20, 31, 50])
    screen, race = holdout_halves(labels, 3)
    assert sorted(np.concatenate([screen, race]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[screen]).tolist() == [10, 16, 25] and np.bincount(labels[race]).tolist() == [10, 15, 25]
    assert all(np.array_equal(a, b) for a, b in zip(holdout_halves(labels, 3), (screen, race)))  # same seed
    assert not np.array_equal(holdout_halves(labels, 4)[0], screen)
    assert holdout_halves(np.repeat([0, 1], [19, 40]), 0) is None  # 19 images cannot give both halves 10


def test_a_validation_set_too_small_to_split_is_shared_by_the_race_with_a_warning(tmp_path, caplog):
    x, y = toy_data(200)
    for holdout, warned in ((True, True), (False, False)):  # 45 validation images: about 15 per class
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="deepaug.search.study"):
            DeepAugment(x, y, study_config(tmp_path, validation_size=45, race_holdout=holdout))
        messages = [r.getMessage() for r in caplog.records if "race_holdout" in r.getMessage()]
        assert bool(messages) is warned
        if warned:
            assert re.search(r"the race scores on the same validation images as the screen.*needs at least 20 "
                             r"validation images of each class, and the fewest is 1\d; give more", messages[0])


def test_an_experiment_stored_before_race_holdout_resumes_as_it_ran_unless_you_set_the_key(tmp_path):
    x, y = toy_data(300)
    before = DeepAugment(x, y, study_config(tmp_path, race_holdout=False))._search  # what an older deepaug stored:
    record = {k: v for k, v in before.config.to_record().items() if k != "race_holdout"}  # no such key
    before.experiment.start(record, before.identity, {}, 0)
    assert DeepAugment(x, y, study_config(tmp_path))._search.config.race_holdout is False  # the default: as it ran
    with pytest.raises(InputError, match="race_holdout: stored False, now True"):  # set by you: refused
        DeepAugment(x, y, study_config(tmp_path, race_holdout=True))


def failing_trainings(monkeypatch, fails) -> list[tuple[int, tuple[int, ...]]]:
    """Make the real trainings (trials.run_rung) of trial `number` on `seeds` raise where
    fails(number, seeds, calls) holds; returns the calls, (number, seeds), as they come (the
    screen's call comes first: its seed is the search seed)."""
    from deepaug.execution import trials

    real_rung, calls = trials.run_rung, []

    def run_rung(train, val, policy, config, seeds, epochs, number, *args, **kwargs):
        calls.append((number, tuple(seeds)))
        if fails(number, tuple(seeds), calls):
            raise RuntimeError("a training that fails")
        return real_rung(train, val, policy, config, seeds, epochs, number, *args, **kwargs)

    monkeypatch.setattr(trials, "run_rung", run_rung)
    return calls


def test_the_race_goes_out_seed_by_seed_so_that_no_worker_waits_for_one_long_trial(tmp_path, monkeypatch):
    """5 race trials on 2 workers: one unit per seed, seed by seed across the trials, never two
    units of a trial at once (each continues the trial's record), the last naming every seed;
    a finalist whose training fails stops there and the race goes on without it."""
    from deepaug.execution.executors import InlineExecutor
    from deepaug.search import engine

    class TwoAtATime(InlineExecutor):  # the real in-process executor, saying it has 2 workers
        capacity = 2

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.sent, self.flying, self.overlaps = [], set(), []

        def submit(self, spec, resume_from=None):
            if spec.number in self.flying:
                self.overlaps.append(spec.number)
            self.sent.append((spec.number, spec.seeds))
            self.flying.add(spec.number)
            super().submit(spec, resume_from)

        def wait(self):
            out = super().wait()
            self.flying -= {r.number for r in out}
            return out

    made, broken = [], []
    monkeypatch.setattr(engine, "make_executor", lambda kind, context, on_update, *a, **k:
                        made.append(TwoAtATime(context, on_update)) or made[-1])

    def second_race_seed(number, seeds, calls):  # the first candidate at its second race seed
        if number > RANDAUGMENT and not broken and len(seeds) == 1 and seeds != calls[0][1] and \
                sum(1 for n, s in calls if n == number and s != calls[0][1]) == 2:
            broken.append(number)
            return True
        return False

    failing_trainings(monkeypatch, second_race_seed)
    x, y = toy_data(300)
    search = DeepAugment(x, y, study_config(tmp_path, child_epochs=1, rungs=1, finalists=3, race_seeds=3))
    search.optimize(4, verbose=0)
    executor, seeds = made[0], search._search.scores.race_seeds
    race = [(n, s) for n, s in executor.sent if set(s) <= set(seeds)]
    raced = list(dict.fromkeys(n for n, _ in race))
    assert len(raced) == 5 and {TRIVIAL, RANDAUGMENT} <= set(raced) and len(broken) == 1
    assert race == [(n, (seeds[0],)) for n in raced] + [(n, (seeds[1],)) for n in raced] + \
        [(n, tuple(seeds)) for n in raced if n not in broken]  # the failed trial's last unit never went out
    assert executor.overlaps == []
    found = records(search.experiment_dir)
    assert found[broken[0]]["state"] == "failed" and "a training that fails" in found[broken[0]]["error"]
    assert broken[0] not in search.verdict.gains
    for n in set(raced) - set(broken):  # the record ends as a whole-trial run's would: every seed, their reward
        assert found[n]["extra"]["seeds"] == seeds and found[n]["state"] == "complete"
        by_seed = found[n]["extra"]["rewards_by_seed"]
        assert sorted(map(int, by_seed)) == sorted(seeds)
        assert found[n]["reward"] == pytest.approx(np.mean(list(by_seed.values())))


def test_a_race_cut_short_sends_only_the_leader_and_the_better_control_on_to_the_last_seeds(tmp_path, monkeypatch):
    """race_cut_after=2 of 3 race seeds: 2 finalists and 2 controls on the first 2 seeds, then the
    finalist ahead of the better control there, and that control, on the third; the verdict and
    the table give each one's gains on the seeds it ran, and a second run trains nothing."""
    from deepaug.execution.executors import InlineExecutor
    from deepaug.search import engine
    from deepaug.training import rungs

    sent = []

    class Recording(InlineExecutor):  # the real in-process executor, recording what goes out
        def submit(self, spec, resume_from=None):
            sent.append((spec.number, spec.seeds))
            super().submit(spec, resume_from)

    monkeypatch.setattr(engine, "make_executor", lambda kind, context, on_update, *a, **k:
                        Recording(context, on_update))
    x, y = toy_data(300)
    config = study_config(tmp_path, child_epochs=1, rungs=1, finalists=2, race_seeds=3, race_cut_after=2)
    search = DeepAugment(x, y, config)
    table = search.optimize(4, verbose=0)
    seeds, cut = search._search.scores.race_seeds, search._search.scores
    first = seeds[:2]
    race = [(n, s) for n, s in sent if set(s) <= set(seeds)]
    everyone = list(dict.fromkeys(n for n, _ in race))
    assert len(everyone) == 4 and {TRIVIAL, RANDAUGMENT} <= set(everyone)
    finalists = [n for n in everyone if n > RANDAUGMENT]
    by_number = {r.number: r for r in search.experiment.records()}
    mean = {n: np.mean(list(cut.rewards(by_number[n], 1, first).values())) for n in everyone}
    control = max((TRIVIAL, RANDAUGMENT), key=lambda n: (mean[n], -n))
    gain = {n: cut.gain_over(by_number, n, control, first) for n in finalists}
    leader = max(finalists, key=lambda n: (gain[n], -n))
    assert race[:8] == [(n, (first[0],)) for n in everyone] + [(n, tuple(first)) for n in everyone]
    assert sorted(race[8:]) == sorted([(leader, tuple(seeds)), (control, tuple(seeds))])  # the third seed
    verdict = search.verdict
    assert verdict.best_control == control and verdict.winner in (leader, control)
    assert verdict.gains[leader][control].seeds == 3
    other_control, other_finalist = ({TRIVIAL, RANDAUGMENT} - {control}).pop(), (set(finalists) - {leader}).pop()
    assert verdict.gains[leader][other_control].seeds == 2 and verdict.gains[other_finalist][control].seeds == 2
    rows = table.set_index("trial")
    assert {n: rows.loc[n, "seeds"] for n in everyone} == {n: 3 if n in (leader, control) else 2 for n in everyone}
    assert set(table[table["stage"] == "race"]["trial"]) == set(everyone)
    saved = json.loads((search.experiment_dir / "verdict.json").read_text())
    assert saved["race_cut_after"] == 2
    assert "(after 2, only the leading finalist and the better control went on)" in \
        (search.experiment_dir / "report" / "summary.md").read_text()
    before = records(search.experiment_dir)
    monkeypatch.setattr(rungs, "train_to", lambda *a, **k: pytest.fail("trained again"))
    again = DeepAugment(x, y, config)
    again.optimize(4, verbose=0)
    assert records(again.experiment_dir) == before and again.verdict.winner == verdict.winner


def test_a_race_cut_short_whose_finalist_failed_stops_at_the_cut_and_answers_the_control(tmp_path, monkeypatch):
    calls = failing_trainings(monkeypatch, lambda number, seeds, calls:  # every race training of a finalist
                              number > RANDAUGMENT and seeds != calls[0][1])
    x, y = toy_data(300)
    search = DeepAugment(x, y, study_config(tmp_path, child_epochs=1, rungs=1, race_seeds=3, race_cut_after=2))
    search.optimize(3, verbose=0)
    seeds = search._search.scores.race_seeds
    assert not [c for c in calls if seeds[2] in c[1]]  # nothing trained on the third race seed
    verdict = search.verdict
    assert not verdict.beat_controls and verdict.winner == verdict.best_control
    assert "no finalist finished the race" in verdict.message


def test_successive_halving_stops_the_candidates_behind_after_the_first_rung(finished):
    search, table, _ = finished
    found = records(search.experiment_dir)
    candidates = [n for n, r in found.items() if r["kind"] == "search"]
    longest = {n: max(len(h["accuracy"]) for h in found[n]["histories"]) for n in candidates}
    assert sorted(longest.values()) == [1, 1, 3, 3]  # ceil(4 / 3) = 2 go on (at least `finalists`)
    screen = {n: table.set_index("trial").loc[n, "screen_gain_vs_trivialaugment"] for n in candidates}
    promoted = {n for n, e in longest.items() if e == 3}
    assert min(screen[n] for n in promoted) >= max(screen[n] for n in set(candidates) - promoted)
    rows = table.set_index("trial")  # each candidate's furthest rung and its gain there, raced or not
    assert {n: rows.loc[n, "rung_epochs"] for n in candidates} == longest
    for n in set(candidates) - promoted:
        assert rows.loc[n, "rung_gain_vs_trivialaugment"] == screen[n]
    study = search._search
    by_number = {r.number: r for r in study.experiment.records()}
    for n in promoted:  # the gain at 3 epochs on the search seeds, not the race's
        assert rows.loc[n, "rung_gain_vs_trivialaugment"] == study.scores.gain(by_number, n, 3, study.scores.search_seeds)
    # the checkpoints of the candidates that stopped are deleted when the rung is decided, the
    # others' when the search is over
    kept = search.seen.kept
    assert kept["screen"] == set(found) and kept["rung 1"] == promoted | {TRIVIAL, RANDAUGMENT}
    assert not search.seen.checkpoints.exists()  # no checkpoint left, nor the folders that held them


def test_optimize_returns_finalists_and_controls_with_paired_gains_and_a_safe_answer(finished):
    search, table, _ = finished
    race = table[table["stage"] == "race"]
    assert set(race["name"]) >= set(CONTROL_NAMES.values())
    assert race["winner"].sum() == 1 and table["winner"].iloc[0]
    assert {"gain_vs_trivialaugment", "gain_vs_trivialaugment_ci95_low", "gain_vs_randaugment_ci95_high",
            "reward", "policy"} <= set(table.columns)
    verdict = search.verdict
    winner = table[table["winner"]].iloc[0]
    if not verdict.beat_controls:
        assert winner["kind"] == "control"
    else:
        assert winner[f"gain_vs_{'trivialaugment' if verdict.best_control == TRIVIAL else 'randaugment'}_ci95_low"] > 0
    assert search.best_policy.to_dict() == json.loads(winner["policy"])
    saved = json.loads((search.experiment_dir / "verdict.json").read_text())
    assert saved["winner"] == verdict.winner and saved["training_seconds"] > 0
    assert 0 < saved["wall_seconds_last_run"] < 600  # the run's, kept when optimize() writes the results again
    summary = (search.experiment_dir / "report" / "summary.md").read_text()
    assert "## Race against the free baselines" in summary and verdict.message in summary
    assert "![Gains per stage, each on its own scale" in summary and "](ops.png)" in summary
    assert verdict.message in (search.experiment_dir / "report" / "report.html").read_text()
    from deepaug.cli.app import _top_text

    text = _top_text(table, search)  # what deepaug optimize prints
    assert f"verdict: {verdict.message}" in text
    assert re.search(rf"search cost: {len(table)} trials, [0-9.]+ s of training|search cost: {len(table)} trials, "
                     r"\d+m \d\ds of training", text), text  # seconds or minutes, not "0.00 hours"


def test_optimize_again_trains_nothing(finished, monkeypatch):
    from deepaug.training import rungs

    search, _, tmp_path = finished
    before = records(search.experiment_dir)
    monkeypatch.setattr(rungs, "train_to", lambda *a, **k: pytest.fail("trained again"))
    x, y = toy_data(300)
    again = DeepAugment(x, y, study_config(tmp_path))
    again.optimize(4)
    assert records(again.experiment_dir) == before
    assert again.best_policy == search.best_policy


def test_a_search_killed_with_sigkill_resumes_without_redoing_a_finished_rung(tmp_path):
    x, y = toy_data(270)  # 216 after the held-out test fifth
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=x, labels=y)
    config = {**study_config(tmp_path), "dataset": str(npz), "iterations": 3}
    config.pop("experiment_name")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    folder = tmp_path / "reports" / "experiments" / "run"
    command = [sys.executable, "-m", "deepaug.cli", "optimize", "--config", str(path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    # killed once a trial is on its second rung
    kill_when(command, tmp_path, env, folder,
              lambda seen: any(r["state"] == "running" and r["extra"].get("epochs") == 3 for r in seen.values()))
    before = records(folder)  # every file parses: none is partial
    rung0 = {n: {h["seed"]: h for h in r["histories"]} for n, r in before.items()}

    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "verdict:" in done.stdout
    after = records(folder)
    assert sorted(after) == sorted(before) == [1, 2, 3, 4, 5]
    for n, by_seed in rung0.items():
        for seed, history in by_seed.items():
            again = next(h for h in after[n]["histories"] if h["seed"] == seed)
            k = len(history["accuracy"])
            # the epochs trained before the kill are kept as they were: not trained again
            assert again["accuracy"][:k] == history["accuracy"][:k]
            assert again["epoch_seconds"][:k] == history["epoch_seconds"][:k]
    assert not list(folder.rglob(".*.tmp"))


# ---------------------------------------------------------------- bad input

def test_a_validation_set_with_other_classes_or_shapes_is_refused_before_any_work(tmp_path):
    x, y = toy_data(120)
    with pytest.raises(InputError, match=r"validation_labels hold classes \['3'\] that the training labels lack"):
        DeepAugment(x, y, study_config(tmp_path, validation_images=x[:20], validation_labels=np.arange(20) % 4))
    with pytest.raises(InputError, match="same size"):
        DeepAugment(x, y, study_config(tmp_path, validation_images=x[:20, :8, :8], validation_labels=y[:20]))
    with pytest.raises(InputError, match="both validation_images and validation_labels"):
        DeepAugment(x, y, study_config(tmp_path, validation_images=x[:20]))
    assert not (tmp_path / "reports").exists()


def test_a_race_that_cannot_run_says_why_before_any_work(tmp_path):
    x, y = toy_data(120)
    with pytest.raises(InputError, match="race_seeds"):
        DeepAugment(x, y, study_config(tmp_path, race_seeds=1))
    for size, left in ((110, 10), (500, 0)):  # one error with the size that works (500 was a warning, then this)
        with pytest.raises(InputError, match=f"^train_set_size={size} leaves {left} of the 120 images for validation.*"
                                             "at least 10 per class \\(30\\): set train_set_size to at most 90"):
            DeepAugment(x, y, study_config(tmp_path, train_set_size=size, validation_size=None))
    small_x, small_y = toy_data(30)  # 10 per class is all there is: no train_set_size can work, so none is offered
    with pytest.raises(InputError, match=r"^30 images are too few to hold out the 30 validation images the race needs "
                                         r"\(10 per class, 3 classes\) and still train on some: pass validation_images "
                                         r"/ validation_labels \(then all 30 train\), or give at least 33 images$"):
        DeepAugment(small_x, small_y, study_config(tmp_path, train_set_size=20, validation_size=None))
    with pytest.raises(InputError, match="only 20 validation images are left.*at least 10 per class"):
        DeepAugment(x, y, study_config(tmp_path, train_set_size=80, validation_size=20))
    with pytest.raises(InputError, match="^validation_size=50 is more than the 40 images left after train_set_size=80"):
        DeepAugment(x, y, study_config(tmp_path, train_set_size=80, validation_size=50))
    assert not (tmp_path / "reports").exists()


def test_a_race_on_two_seeds_warns_before_any_work_that_it_cannot_decide(tmp_path, caplog):
    x, y = toy_data(120)
    warned = {}
    for seeds in (2, 3):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="deepaug.search.racing"):
            DeepAugment(x, y, study_config(tmp_path, race_seeds=seeds))
        warned[seeds] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("race_seeds=")]
    assert warned[3] == [] and len(warned[2]) == 1
    assert "12.7 times their standard error" in warned[2][0] and "set race_seeds to 3 or more" in warned[2][0]
    assert not (tmp_path / "reports").exists()


def test_a_class_the_validation_split_leaves_out_is_refused_and_a_thin_one_warned_of(tmp_path, caplog):
    x, y = toy_data(120)
    for rare, refused in ((2, True), (6, False)):  # class 3 gets 0, then 2 of the 40 validation images
        images, labels = np.concatenate([x, x[:rare]]), np.concatenate([y, np.full(rare, 3)])
        config = study_config(tmp_path, train_set_size=80, validation_size=40)
        if refused:
            with pytest.raises(InputError, match=r"class\(es\) '3' \(2 image\(s\)\) get no validation images.*"
                                                 "lower train_set_size"):
                DeepAugment(images, labels, config)
            assert not (tmp_path / "reports").exists()
        else:
            with caplog.at_level(logging.WARNING, logger="deepaug.search.study"):
                DeepAugment(images, labels, config)
            assert [r.getMessage() for r in caplog.records if "fewer than 10 validation images" in r.getMessage()] \
                == ["class(es) ['3'] have fewer than 10 validation images each (2): the search measures them roughly"]


def test_your_own_validation_set_is_what_the_search_validates_on(tmp_path, monkeypatch):
    from deepaug.training import rungs

    x, y = toy_data(200)
    vx, vy = toy_data(45, seed=9)
    seen = []
    real = rungs.train_to

    def spy(train, val, *args, **kwargs):
        seen.append(val.images.copy())
        return real(train, val, *args, **kwargs)

    monkeypatch.setattr(rungs, "train_to", spy)
    search = DeepAugment(x, y, study_config(tmp_path, child_epochs=1, rungs=1, validation_images=vx,
                                            validation_labels=vy, validation_size=None))
    search.optimize(1)
    assert seen and all(np.array_equal(v, vx) for v in seen)


def test_a_validation_set_that_lacks_a_class_keeps_the_training_class_indices(tmp_path):
    from deepaug.search.validation import user_validation

    x, y = toy_data(120)  # classes 0, 1, 2
    keep = y[:40] > 0  # validation images of classes 1 and 2 only
    config = SearchConfig.from_user({"validation_images": x[:40][keep], "validation_labels": y[:40][keep]})
    val = user_validation(config, datasets.from_arrays(x, y))
    assert val.labels.tolist() == y[:40][keep].tolist()  # not renumbered to 0, 1
