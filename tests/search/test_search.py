"""The search end to end through the DeepAugment API: real trainings on small data.

Each trial trains one child for one epoch on 120 16x16 images (about a second), so a
whole search of a few trials takes seconds. Interruptions and failing trials are
injected by wrapping the real `train_child` (it still trains); nothing is mocked.
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _search import tiny_config, toy_data
from deepaug import Policy
from deepaug.errors import InputError, SearchError

pytest.importorskip("tensorflow")

from deepaug.training import train as training  # noqa: E402
from deepaug.api import DeepAugment  # noqa: E402
from deepaug.execution.trials import TrialState  # noqa: E402

X, Y = toy_data()


def read_records(folder: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in sorted((folder / "trials").glob("*/record.json"))}


def count_trainings(monkeypatch, fail_when=None, interrupt_at=None) -> list:
    """Wrap the real train_child: count calls; raise on chosen calls (fault injection)."""
    calls: list = []
    real = training.train_child

    def wrapped(train, val, policy, config, seed, initial_weights=None):
        calls.append(policy)
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt
        if fail_when is not None and fail_when(len(calls), policy):
            raise RuntimeError(f"injected failure in training {len(calls)}")
        return real(train, val, policy, config, seed, initial_weights)

    monkeypatch.setattr(training, "train_child", wrapped)
    return calls


# ---------------------------------------------------------------- the happy path

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    config = tiny_config(tmp, opt_samples=2, child_epochs=2)
    before = copy.deepcopy(config)
    da = DeepAugment(X, Y, config)
    table = da.optimize(3)
    return da, table, config, before, tmp


def test_optimize_returns_the_top_policies_best_first(finished):
    da, table, *_ = finished
    assert list(table.columns[:4]) == ["trial", "reward", "reward_std", "expected_accuracy_increase(%)"]
    assert sorted(table["trial"]) == [1, 2, 3]
    assert list(table["reward"]) == sorted(table["reward"], reverse=True)
    records = read_records(da.experiment_dir)
    baseline = records[0]["reward"]
    for _, row in table.iterrows():
        record = records[row["trial"]]
        assert row["reward"] == pytest.approx(record["reward"])
        assert row["reward_std"] == pytest.approx(np.std(record["sample_rewards"]), abs=1e-9) or row["reward_std"] >= 0
        assert row["expected_accuracy_increase(%)"] == round(100 * (record["reward"] - baseline), 4)
        assert Policy.from_dict(json.loads(row["policy"])).to_dict() == record["policy"]
        assert row["A_aug1_type"] == record["policy"]["sub_policies"][0][0]["op"]
    assert da.best_policy == Policy.from_dict(json.loads(table["policy"].iloc[0]))


def test_the_first_trial_is_the_no_augmentation_baseline(finished):
    da, *_ = finished
    baseline = read_records(da.experiment_dir)[0]
    assert baseline["kind"] == "baseline" and baseline["state"] == "complete"
    policy = Policy.from_dict(baseline["policy"])
    image = X[:4]
    assert np.array_equal(policy.apply(image, seed=0), image)


def test_the_experiment_folder_holds_every_record(finished):
    da, table, config, _, tmp = finished
    folder = da.experiment_dir
    assert folder == tmp / "reports" / "experiments" / "tiny"
    stored = json.loads((folder / "config.json").read_text())
    assert stored["config"]["child_epochs"] == 2 and stored["run_seed"] == 0
    records = read_records(folder)
    assert sorted(records) == [0, 1, 2, 3]
    assert all(r["state"] == "complete" and len(r["histories"]) == 2 for r in records.values())
    notebook = pd.read_csv(folder / "notebook.csv")
    assert len(notebook) == 4 * 2 * 2  # trials x samples x epochs
    assert not notebook.duplicated(["trial_no", "sample_no", "epoch"]).any()
    for trial, rows in notebook.groupby("trial_no"):
        assert rows["trial_reward"].iloc[0] == pytest.approx(records[trial]["reward"])
    pd.testing.assert_frame_equal(pd.read_csv(folder / "top_policies.csv"), table, check_dtype=False)
    best = Policy.load(folder / "best_policy.json")
    assert best == da.best_policy == Policy.load(tmp / "policies" / "tiny.json")
    assert (folder / "report" / "summary.md").is_file() and (folder / "report" / "rewards.png").is_file()
    assert not list(folder.rglob("*.tmp"))


def test_the_callers_config_is_not_modified(finished):
    _, _, config, before, _ = finished
    assert config == before


def test_the_notebook_property_reads_the_csv(finished):
    da, *_ = finished
    assert set(da.notebook["trial_no"]) == {0, 1, 2, 3}


def test_the_best_policy_as_a_keras_layer_matches_the_policy(finished):
    da, *_ = finished
    layer = da.keras_layer(seed=5)
    out = np.asarray(layer(X[:8], training=True))
    assert out.shape == X[:8].shape
    assert np.array_equal(np.asarray(layer(X[:8], training=False)), X[:8])


# ---------------------------------------------------------------- resume

def test_optimize_again_resumes_and_runs_only_what_is_missing(tmp_path, monkeypatch):
    DeepAugment(X, Y, tiny_config(tmp_path)).optimize(2)
    folder = tmp_path / "reports" / "experiments" / "tiny"
    first = {n: (folder / "trials" / f"{n:04d}" / "record.json").read_bytes() for n in range(3)}
    calls = count_trainings(monkeypatch)
    da = DeepAugment(X, Y, tiny_config(tmp_path))
    da.optimize(4)
    assert len(calls) == 2  # trials 3 and 4 only
    records = read_records(folder)
    assert sorted(records) == [0, 1, 2, 3, 4]
    assert all((folder / "trials" / f"{n:04d}" / "record.json").read_bytes() == first[n] for n in range(3))
    policies = [json.dumps(r["policy"], sort_keys=True) for r in records.values()]
    assert len(set(policies)) == 5
    calls.clear()
    assert len(DeepAugment(X, Y, tiny_config(tmp_path)).optimize(4)) == 4
    assert calls == []  # nothing left to run


def test_an_interrupted_trial_resumes_from_its_finished_trainings(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, opt_samples=3)
    calls = count_trainings(monkeypatch, interrupt_at=5)  # baseline: 1-3, trial 1: 4, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        DeepAugment(X, Y, config).optimize(2)
    folder = tmp_path / "reports" / "experiments" / "tiny"
    records = read_records(folder)
    assert records[0]["state"] == "complete"
    assert records[1]["state"] == "running" and len(records[1]["histories"]) == 1
    kept = records[1]["histories"][0]
    calls = count_trainings(monkeypatch)
    DeepAugment(X, Y, config).optimize(2)
    assert len(calls) == 2 + 3  # trial 1's two missing trainings, then trial 2
    records = read_records(folder)
    assert [records[n]["state"] for n in (0, 1, 2)] == ["complete"] * 3
    assert records[1]["histories"][0] == kept
    assert records[1]["reward"] == pytest.approx(np.mean([h["reward"] for h in records[1]["histories"]]))
    notebook = pd.read_csv(folder / "notebook.csv")
    assert notebook.groupby("trial_no").size().to_dict() == {0: 3, 1: 3, 2: 3}


def test_a_different_config_under_the_same_name_is_refused_before_any_work(tmp_path, monkeypatch):
    DeepAugment(X, Y, tiny_config(tmp_path)).optimize(1)
    calls = count_trainings(monkeypatch)
    with pytest.raises(InputError, match=r"different config.*child_epochs: stored 1, now 2"):
        DeepAugment(X, Y, tiny_config(tmp_path, child_epochs=2))
    with pytest.raises(InputError, match="data.fingerprint"):
        DeepAugment(X[::-1].copy(), Y[::-1].copy(), tiny_config(tmp_path))
    assert calls == []
    # where outputs go and how trials run may change between a run and its resume
    DeepAugment(X, Y, tiny_config(tmp_path, policies_dir=str(tmp_path / "elsewhere"))).optimize(1)


# ---------------------------------------------------------------- methods and seeds

def test_random_search_works_and_a_seed_makes_a_run_reproducible(tmp_path):
    runs = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        da = DeepAugment(X, Y, tiny_config(tmp_path, method="random", seed=seed, experiment_name=name))
        da.optimize(1)  # the random controller's proposals do not depend on rewards: one trial shows it
        runs[name] = [r["policy"] for _, r in sorted(read_records(da.experiment_dir).items())]
    assert runs["a"] == runs["b"]
    assert runs["a"][1:] != runs["c"][1:]


def test_bayesian_search_proposes_distinct_policies_after_its_initial_points(tmp_path):
    da = DeepAugment(X, Y, tiny_config(tmp_path, opt_initial_points=1))
    da.optimize(3)
    policies = [json.dumps(r["policy"], sort_keys=True) for r in read_records(da.experiment_dir).values()]
    assert len(set(policies)) == 4


# ---------------------------------------------------------------- failures and bad input

def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    count_trainings(monkeypatch, fail_when=lambda k, policy: k == 2)
    da = DeepAugment(X, Y, tiny_config(tmp_path))
    table = da.optimize(3)
    records = read_records(da.experiment_dir)
    assert records[1]["state"] == "failed" and "injected failure in training 2" in records[1]["error"]
    assert sorted(records) == [0, 1, 2, 3]
    assert sorted(table["trial"]) == [2, 3]


def test_repeated_failures_stop_the_search_with_a_clear_error(tmp_path, monkeypatch):
    count_trainings(monkeypatch, fail_when=lambda k, policy: True)
    da = DeepAugment(X, Y, tiny_config(tmp_path))
    with pytest.raises(SearchError, match="3 trials in a row failed.*injected failure"):
        da.optimize(10)
    states = [r["state"] for r in read_records(da.experiment_dir).values()]
    assert states == ["failed"] * 3


@pytest.mark.parametrize("config, message", [
    ({"child_epoch": 3}, "unknown config keys.*child_epochs"),
    ({"child_epochs": 0}, "child_epochs"),
    ({"method": "grid"}, "method"),
    ({"model": "resnet9000"}, "resnet9000"),
    ({"pre_aug_weights_path": "/nonexistent.npz"}, "no such weights file"),
])
def test_bad_config_fails_at_construction(tmp_path, config, message):
    with pytest.raises(InputError, match=message):
        DeepAugment(X, Y, {**tiny_config(tmp_path), **config})
    assert not (tmp_path / "reports").exists()


def test_bad_data_and_iterations_fail_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no_such_dataset"):
        DeepAugment("no_such_dataset", config=tiny_config(tmp_path))
    with pytest.raises(InputError, match="labels are missing"):
        DeepAugment(X, config=tiny_config(tmp_path))
    with pytest.raises(InputError):
        DeepAugment(X.astype(np.float64) * 1000, Y, tiny_config(tmp_path))
    with pytest.raises(InputError, match=f"^validation_size={len(X)} is more than the {len(X) - 120} images left "
                                         "after train_set_size=120"):  # the config's names, at construction
        DeepAugment(X, Y, tiny_config(tmp_path, validation_size=len(X)))
    calls = count_trainings(monkeypatch)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="iterations"):
            DeepAugment(X, Y, tiny_config(tmp_path)).optimize(bad)
    assert calls == [] and not (tmp_path / "reports").exists()


def test_a_train_set_size_above_the_data_is_warned_of_once(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        DeepAugment(X, Y, tiny_config(tmp_path, train_set_size=10_000)).optimize(1)
    warned = [r.getMessage() for r in caplog.records if "train_set_size=10000 >=" in r.getMessage()]
    assert len(warned) == 1, warned  # at construction, not again when the search splits its data


def test_trial_records_are_never_partial(tmp_path):
    da = DeepAugment(X, Y, tiny_config(tmp_path))
    da.optimize(1)
    paths = list((da.experiment_dir / "trials").rglob("*"))
    assert sorted(str(p.relative_to(da.experiment_dir)) for p in paths if p.is_file()) == [
        "trials/0000/record.json", "trials/0001/record.json"]
    for path in (p for p in paths if p.is_file()):
        assert json.loads(path.read_text())["state"] in [s.value for s in TrialState]


def test_a_search_on_the_local_worker_pool_keeps_two_trials_in_flight(tmp_path):
    da = DeepAugment(X, Y, tiny_config(tmp_path, executor="local", workers=2, opt_samples=2))
    table = da.optimize(3)
    records = read_records(da.experiment_dir)
    assert sorted(records) == [0, 1, 2, 3] and all(r["state"] == "complete" for r in records.values())
    assert len(table) == 3
    notebook = pd.read_csv(da.experiment_dir / "notebook.csv")
    assert notebook.groupby("trial_no").size().to_dict() == {n: 2 for n in range(4)}
    # the baseline and trial 1 ran side by side: trial 1 started before the baseline finished
    assert records[1]["started_at"] <= records[0]["finished_at"]


@pytest.mark.slow
def test_a_user_keras_model_trains_in_the_default_local_worker_pool(tmp_path):
    """Issue 14: the worker unpickled the model (starting TensorFlow) before setting its thread count,
    which then raised, so every trial of a user model failed with executor local."""
    import keras

    inp = keras.Input(X.shape[1:])
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(int(Y.max()) + 1, activation="softmax")(x), name="mine")
    da = DeepAugment(X, Y, tiny_config(tmp_path, model=model, executor="local", workers=1))
    table = da.optimize(2)
    records = da._search.experiment.records()
    assert [r.state for r in records] == [TrialState.COMPLETE] * len(records) and len(table) >= 2
    assert {r.model for r in records} == {"keras:mine"}


def test_a_validation_set_with_the_deepaugment_space_is_refused_not_ignored(tmp_path):
    with pytest.raises(InputError, match="distribution search only"):
        DeepAugment(X, Y, tiny_config(tmp_path, validation_images=X[:30], validation_labels=Y[:30]))
    assert not (tmp_path / "reports").exists()


def test_a_search_records_the_class_of_each_index_and_the_integer_label_it_stands_for(tmp_path):
    """issue 38: labels -3, 4, 9 are trained as classes 0, 1, 2; labels.json in the experiment maps them back."""
    values = np.array([-3, 4, 9])
    DeepAugment(X, values[Y], tiny_config(tmp_path)).optimize(1)
    folder = next((tmp_path / "reports" / "experiments").iterdir())
    labels = json.loads((folder / "labels.json").read_text())
    assert labels["class_names"] == ["-3", "4", "9"] and labels["label_values"] == [-3, 4, 9]
    assert "class_names[i]" in labels["about"]
