"""DeepAugment users' code: each 1.x and 2.x call form runs, or says what to write instead
(deepaug.compat), what optimize(n) counts (deepaug.search.plan), and plain-function callbacks."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from _search import tiny_config, toy_data

import deepaug
from deepaug import InputError, Policy, PolicyError
from deepaug.errors import ReplacedError
from deepaug.execution.trials import TrialRecord, TrialSpec
from deepaug.run import RunFile
from deepaug.search import SMOKE, SearchConfig, plan
from deepaug.search.callbacks import CallbackError, Callbacks, TrialEvent
from deepaug.search.loop import Search
from deepaug.search.plan import DEFAULT_ITERATIONS, describe
from deepaug.search.study import DistributionSearch

pytest.importorskip("tensorflow")

from deepaug.api import DeepAugment, call_config  # noqa: E402

X, Y = toy_data(200)
VX, VY = toy_data(45, seed=9)
V1_CONFIG = {"model": "basiccnn", "method": "bayesian_optimization", "train_set_size": 120, "opt_samples": 1,
             "opt_last_n_epochs": 1, "opt_initial_points": 1, "child_epochs": 1, "child_first_train_epochs": 0,
             "child_batch_size": 32}  # 1.x's keys only, as its README's advanced usage writes them


def smoke_config(tmp_path, **overrides) -> dict:
    """deepaug.search.SMOKE on the tiny data: 6 trainings of 1 epoch on 120 images."""
    return tiny_config(tmp_path, **{**SMOKE, "child_epochs": 1, "validation_size": None, **overrides})


# ---------------------------------------------------------------- DeepAugment 1.x

def test_a_1x_config_alone_searches_1x_space_with_a_warning_and_nothing_else_does(caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        assert call_config(V1_CONFIG, None, None, {})["search_space"] == "deepaugment"
    assert "only DeepAugment 1.x keys" in caplog.text and "search_space='distribution'" in caplog.text
    assert V1_CONFIG.get("search_space") is None  # the caller's dict is not modified
    assert "search_space" not in call_config({**V1_CONFIG, "seed": 0}, None, None, {})  # deepaug's keys: its default
    assert call_config({**V1_CONFIG, "search_space": "distribution"}, None, None, {})["search_space"] == "distribution"
    assert "search_space" not in call_config({}, None, None, {})
    assert "search_space" not in call_config(V1_CONFIG, None, None, {"random_state": 1})  # a 2.x call
    assert "search_space" not in call_config(SearchConfig.from_user(V1_CONFIG), None, None, {})  # a config file


@pytest.mark.slow
def test_1x_code_runs_unchanged_and_gets_1x_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # 1.x's config has no reports_dir: reports/ lands in the working folder
    deepaug_1x = DeepAugment(images=X, labels=Y, config=V1_CONFIG)
    assert isinstance(deepaug_1x._search, Search) and deepaug_1x.config["opt_samples"] == 1  # honoured, read as 1.x
    best_policies = deepaug_1x.optimize(1)
    assert list(best_policies.columns[:4]) == ["trial", "reward", "reward_std", "expected_accuracy_increase(%)"]
    assert {"A_aug1_type", "A_aug1_magnitude", "E_aug2_type", "mean_late_val_acc"} <= set(best_policies.columns)
    records = deepaug_1x.experiment.records()
    assert sorted(r.number for r in records) == [0, 1] and next(r for r in records if r.number == 0).kind == "baseline"
    assert all(len(r.histories) == 1 for r in records)  # opt_samples: 1 training per trial


def test_opt_samples_is_never_silently_unused(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        DeepAugment(X, Y, smoke_config(tmp_path, opt_samples=3))
    assert "opt_samples (3) is not used by the distribution search" in caplog.text and "search_seeds=3" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        DeepAugment(X, Y, tiny_config(tmp_path, opt_samples=3, experiment_name="v1"))  # deepaugment: it is used
    assert "opt_samples" not in caplog.text


def test_every_gone_1x_and_2x_name_says_what_to_write(tmp_path):
    da = DeepAugment(X, Y, smoke_config(tmp_path))
    with pytest.raises(ReplacedError, match=r"keras_layer\(\).*tf_map_fn\(\).*PolicyTransform") as caught:
        da.image_generator_with_top_policies(X, Y, 32)
    assert isinstance(caught.value, AttributeError) and isinstance(caught.value, InputError)
    for name, replacement in [("input_shape", ".data.image_shape"), ("num_classes", ".data.num_classes"),
                              ("iterated", ".top_policies"), ("child_model", ".config.model"),
                              ("controller", ".experiment.records()"), ("objective_func", "mean_late_val_acc"),
                              ("best_score", ".top_policies"), ("history", ".notebook")]:
        with pytest.raises(ReplacedError, match=f"DeepAugment.{name} is gone in deepaug: .*{replacement}"):
            getattr(da, name)
        assert not hasattr(da, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'") as plain:
        da.no_such_name  # noqa: B018
    assert not isinstance(plain.value, ReplacedError)
    assert da.config["child_epochs"] == 1  # 1.x read its config as a dict
    with pytest.raises(KeyError, match="'nope' is not a config key"):
        da.config["nope"]  # noqa: B018


# ---------------------------------------------------------------- DeepAugment 2.x

def test_2x_constructor_with_n_operations_train_size_and_val_size(tmp_path, caplog):
    options = {k: v for k, v in smoke_config(tmp_path).items() if k not in ("train_set_size", "validation_size")}
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        aug = DeepAugment(X, Y, VX, VY, n_operations=4, train_size=150, val_size=40, **options)
    assert (aug.config.train_set_size, aug.config.validation_size) == (150, 40)
    assert aug.config.validation_images is VX and "n_operations=4" in caplog.text
    options.update(search_space="deepaugment", experiment_name="ops")
    assert DeepAugment(X, Y, n_operations=4, **options).config.ops_per_sub_policy == 4  # 2.x's meaning there


def test_2x_optimize_keywords_and_defaults_are_read_before_any_work(tmp_path, caplog, monkeypatch):
    aug = DeepAugment(X, Y, VX, VY, **{**smoke_config(tmp_path), "validation_size": None})
    seen = {}

    def stop(engine, iterations, callbacks):
        seen.update(iterations=iterations, callbacks=callbacks)
        raise KeyboardInterrupt  # stands for the search: nothing trains here

    monkeypatch.setattr(DistributionSearch, "run", stop)
    with caplog.at_level(logging.INFO, logger="deepaug"), pytest.raises(KeyboardInterrupt):
        aug.optimize(epochs=3, batch_size=16, samples=2, verbose=False)
    assert seen["iterations"] == DEFAULT_ITERATIONS["distribution"] == RunFile.model_fields["iterations"].default
    assert (aug.config.child_epochs, aug.config.child_batch_size, aug.config.search_seeds) == (3, 16, 2)
    assert "optimize(20) screens 20 candidate(s) beside 1 control(s)" in caplog.text
    with pytest.raises(InputError, match=r"optimize\(patience=...\) is DeepAugment 2.x's"):
        aug.optimize(1, patience=3)
    with pytest.raises(InputError, match="unknown config keys"):
        aug.optimize(1, epoch=3)


@pytest.mark.slow
def test_2x_optimize_show_best_and_apply_policy_on_a_smoke_run(tmp_path):
    aug = DeepAugment(X, Y, VX, VY, **{**smoke_config(tmp_path), "validation_size": None, "tensorboard": False})
    with pytest.raises(InputError, match=r"run optimize\(\) first"):
        aug.show_best()
    ends = []
    aug.optimize(iterations=1, epochs=1, verbose=False, callbacks=[ends.append])
    trainings = sum(len(r.histories) for r in aug.experiment.records())
    assert trainings == plan(aug.config, 1).trainings == 6  # the smoke run is what the plan says
    assert {type(e) for e in ends} == {TrialEvent} and {e.stage for e in ends} == {"screen", "race"}
    text = aug.show_best(n=2)
    assert text.startswith("best policy:") and repr(text) == text and "top 2 of" in text
    best = aug.best_policy
    augmented = deepaug.apply_policy(X[:4], best, seed=1)
    assert augmented.shape == X[:4].shape and np.array_equal(augmented, best.apply(X[:4], seed=1))
    with pytest.raises(InputError, match="was run with a different config"):
        aug.optimize(iterations=1, epochs=2)  # its trials trained 1 epoch: a new experiment_name for 2


def test_apply_policy_takes_2x_argument_order_and_names_what_to_pass():
    images = X[:3]
    out = deepaug.apply_policy(images, "trivialaugment", seed=0)
    assert np.array_equal(out, Policy.load("trivialaugment").apply(images, seed=0))
    with pytest.raises(PolicyError, match=r"DeepAugment 2.x policy \(a list of \(transform, magnitude\) pairs\)"):
        deepaug.apply_policy(images, [("rotate", 0.8), ("brightness", 0.5)])
    pandas = pytest.importorskip("pandas")
    with pytest.raises(PolicyError, match=r"the table DeepAugment.optimize\(\) returns; pass its .best_policy"):
        deepaug.apply_policy(images, pandas.DataFrame({"trial": [1]}))
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(images[0].transpose(2, 0, 1).copy())
    assert tuple(deepaug.apply_policy(tensor, "trivialaugment", seed=0).shape) == tuple(tensor.shape)


# ---------------------------------------------------------------- what n counts

def test_the_plan_counts_each_stage_and_says_what_n_counts():
    default = SearchConfig.from_user({})  # the shared screen: 40 shared epochs, each of 7 controls + 3 candidates 10
    counted = plan(default, 3)  # more; (3 finalists + 2 raced controls) x 5 race seeds from scratch
    assert counted.stages == (("shared stage", 1, 40), ("screen", 10, 10), ("race", 25, 50))
    assert counted.trainings == 36 and "then a race: up to 36 child trainings" in describe(default, 3)
    rungs = SearchConfig.from_user({"screen": "rungs"})  # 3 + TrivialAugment + 2 raced at rung 1; (3 + 2) x 3 seeds
    counted = plan(rungs, 3)
    assert counted.stages == (("screen", 10, 17), ("rung 1", 6, 50), ("race", 15, 50)) and counted.trainings == 31
    assert plan(SearchConfig.from_user(SMOKE), 1).trainings == 7  # shared stage, 2 screened, 2 x 2 raced
    v1 = SearchConfig.from_user({"search_space": "deepaugment", "opt_samples": 3})
    assert plan(v1, 300).trainings == 903  # 300 trials and trial 0, 3 trainings each
    assert "runs until 300 search trials have finished, plus trial 0" in describe(v1, 300)
    cut = SearchConfig.from_user({"race_seeds": 5, "race_cut_after": 3, "screen": "rungs", "rungs": 1})
    assert plan(cut, 2).stages[-1] == ("race", (2 + 2) * 3 + 2 * 2, 50)


def test_a_plain_function_is_called_at_each_trial_end_and_named_when_it_fails():
    seen = []
    event = TrialEvent(TrialRecord.running(TrialSpec(5, Policy.noop(), 1), "basiccnn"), "screen", 1, 2)
    callbacks = Callbacks([seen.append])
    callbacks.send("on_search_begin", None)
    callbacks.send("on_trial_end", event)
    assert seen == [event]

    def report_to_tracker(event):
        raise ValueError("tracker is down")

    with pytest.raises(CallbackError, match="callback test_a_plain_function.*report_to_tracker raised ValueError"):
        Callbacks([report_to_tracker]).send("on_trial_end", event)
    with pytest.raises(InputError, match="or functions, called at each trial.s end"):
        Callbacks([object()])
