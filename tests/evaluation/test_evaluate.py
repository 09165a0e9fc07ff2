"""`deepaug evaluate` end to end on tiny real data: a real search's policy against the baselines.

Every training is one to three epochs on 120 16x16 images (about a second); the whole file
trains about 20 child models.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from _search import tiny_config, toy_data
from deepaug import Policy
from deepaug.errors import InputError, PolicyError

pytest.importorskip("tensorflow")

from deepaug.cli import evaluate as cli_evaluate  # noqa: E402
import deepaug.evaluation as ev  # noqa: E402
from deepaug.datasets import split_train_val  # noqa: E402
from deepaug.evaluation.store import csv_text  # noqa: E402
from deepaug.stats import t_interval  # noqa: E402
from deepaug.training import train as training  # noqa: E402
from deepaug.api import DeepAugment  # noqa: E402
from deepaug.evaluation.methods import FREE_BASELINES  # noqa: E402
from deepaug.policy.baselines import BASELINES, RandAugment, TrivialAugment  # noqa: E402
from deepaug.evaluation import tuned_randaugment as tr  # noqa: E402
from deepaug.training.reward import correct_bits, read_correct  # noqa: E402

X, Y = toy_data()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A real tiny search, then `deepaug evaluate` of its best policy on the same data (.npz)."""
    tmp = tmp_path_factory.mktemp("evaluate")
    search = DeepAugment(X, Y, tiny_config(tmp))
    search.optimize(1)
    data = tmp / "toy.npz"
    np.savez(data, images=X, labels=Y)
    parser = argparse.ArgumentParser()
    cli_evaluate.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--policy", str(search.experiment_dir / "best_policy.json"),
                              "--dataset", str(data), "--epochs", "2", "--seeds", "2", "--train-size", "120",
                              "--batch-size", "32", "--reports-dir", str(tmp / "reports")])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = args.func(args)
    return args, code, search, tmp, printed.getvalue()


def test_evaluate_writes_the_table_of_every_method_and_seed(evaluated):
    args, code, search, tmp, printed = evaluated
    out = tmp / "reports" / "evaluations" / "toy-tiny"
    assert code == 0
    rows, runs = read_csv(out / "summary.csv"), read_csv(out / "runs.csv")
    names = ["no augmentation", "flip+crop (pad 2)", "RandAugment (N=2, M=0.30)", "TrivialAugment",
             "TrivialAugment + flip+crop (pad 2)", "TrivialAugment + CutMix 1/2",
             "timm recipe (RandAugment m9 mstd0.5, MixUp/CutMix, erasing 1/4)", "policy tiny"]
    assert [r["method"] for r in rows] == names
    assert len(runs) == 16 and sorted({int(r["seed"]) for r in runs}) == [0, 1]
    for row in rows:
        acc = [100 * float(r["test_accuracy"]) for r in runs if r["method"] == row["method"]]
        assert row["seeds"] == "2" and math.isclose(float(row["mean_accuracy"]), np.mean(acc))
        assert float(row["ci95_low"]) <= float(row["mean_accuracy"]) <= float(row["ci95_high"])
        assert float(row["train_seconds_mean"]) > 0
    for name in names:  # two seeds train two different models
        losses = [r["train_loss"] for r in runs if r["method"] == name]
        assert losses[0] != losses[1]
    n_test = len(ev.load_split(args.dataset)[1])
    for run in runs:  # which test images each model got right, for the verdicts' intervals
        assert run["test_images"] == str(n_test)
        correct = read_correct(run["test_correct"], n_test)
        assert math.isclose(correct.mean(), float(run["test_accuracy"]))
    assert f"seeds and the {n_test} test images" in (out / "summary.md").read_text()
    markdown = (out / "summary.md").read_text()
    assert all(f"| {name} |" in markdown for name in names) and "policy tiny" in markdown
    assert markdown.count(" | - |") == len(FREE_BASELINES) and "tuning.csv" not in markdown  # no search cost for fixed baselines
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| method | test accuracy" in printed and str(out) in printed


def test_the_search_cost_of_the_policy_is_shown_beside_it(evaluated):
    args, _, search, tmp, _ = evaluated
    rows = read_csv(tmp / "reports" / "evaluations" / "toy-tiny" / "summary.csv")
    trials = sorted((search.experiment_dir / "trials").glob("*/record.json"))
    cost = sum(json.loads(p.read_text())["seconds"] for p in trials)
    assert trials and cost > 0  # every trial record the search wrote, in-study controls included
    assert math.isclose(float(rows[-1]["search_seconds"]), cost)
    assert all(r["search_seconds"] == "" for r in rows[:-1])
    # the copy in policies/ is traced back to its experiment through reports_dir
    copy = Path(tiny_config(tmp)["policies_dir"]) / "tiny.json"
    assert ev.find_search(copy, Policy.from_json(copy), tmp / "reports") == ("tiny", pytest.approx(cost))
    assert ev.find_search(copy, Policy.noop(), tmp / "reports") == (None, None)


def test_a_method_and_seed_trains_the_same_model_again(evaluated):
    args, _, _, tmp, _ = evaluated
    pool, test, _ = ev.load_split(args.dataset)
    train = split_train_val(pool, 120, seed=0)[0]
    config = training.TrainingConfig(child_epochs=2, child_batch_size=32)  # as the fixture's --epochs
    again = ev.compare(train, test, [ev.Method("TrivialAugment", TrivialAugment())], config, seeds=1)
    first = next(r for r in read_csv(tmp / "reports" / "evaluations" / "toy-tiny" / "runs.csv")
                 if r["method"] == "TrivialAugment" and r["seed"] == "0")
    assert again[0]["train_loss"] == float(first["train_loss"])
    assert again[0]["test_accuracy"] == float(first["test_accuracy"])


def test_a_file_dataset_holds_out_a_fixed_stratified_test_set(evaluated):
    args = evaluated[0]
    pool, test, source = ev.load_split(args.dataset)
    pool2, test2, _ = ev.load_split(args.dataset)
    assert len(test) == round(0.2 * len(X)) and len(pool) + len(test) == len(X)
    np.testing.assert_array_equal(test.images, test2.images)
    assert np.bincount(test.labels).min() >= 15 and "held out" in source
    rows = {im.tobytes() for im in pool.images}
    assert not any(im.tobytes() in rows for im in test.images)


def test_arrays_are_evaluated_on_the_test_arrays_given_labelled_as_the_training_ones(tmp_path, monkeypatch):
    labels = np.array([10, 20, 30])[Y]  # raw label values, as a user's arrays may hold
    test_x, test_y = X[:40][Y[:40] > 0], labels[:40][Y[:40] > 0]  # a test set without class 10
    scored = []
    real = training.train_and_score

    def spy(train, test, policy, config, seed):
        scored.append((train.class_names, test.labels.copy(), test.images.copy()))
        return real(train, test, policy, config, seed)

    monkeypatch.setattr(training, "train_and_score", spy)
    result = ev.evaluate([], (X[40:], labels[40:]), test=(test_x, test_y), epochs=1, seeds=1, batch_size=32,
                         baselines=["none"], reports_dir=tmp_path)
    names, got_labels, got_images = scored[0]
    assert names == ("10", "20", "30") and got_labels.tolist() == Y[:40][Y[:40] > 0].tolist()  # 20 -> 1, 30 -> 2
    np.testing.assert_array_equal(got_images, test_x)
    assert result.out_dir.name.startswith("arrays") and "the test set given: arrays (sha256" in result.markdown
    with pytest.raises(InputError, match="other settings"):  # other arrays are another evaluation
        ev.evaluate([], (X[40:], labels[40:]), test=(test_x[:-1], test_y[:-1]), epochs=1, seeds=1, batch_size=32,
                    baselines=["none"], out_dir=result.out_dir)


@pytest.mark.parametrize("case, match", [
    ({"dataset": (X, Y)}, "evaluating on arrays needs test images the search never saw: pass test="),
    ({"dataset": (X, Y), "test": (X[:10], np.array([1, 7] * 5))}, r"test labels hold classes \['7'\]"),
    ({"dataset": (X, Y), "test": (X[:10, :8, :8], Y[:10])}, r"test images are \(8, 8, 3\) but the training"),
    ({"dataset": [X, Y], "test": (X, Y)},
     "dataset must be a dataset name, a path, a deepaug.datasets.Dataset, an \\(images, labels\\) pair"),
])
def test_bad_arrays_fail_before_any_training(tmp_path, no_training, case, match):
    with pytest.raises(InputError, match=match):
        ev.evaluate([], epochs=1, seeds=1, reports_dir=tmp_path, **case)
    assert not (tmp_path / "evaluations").exists()


def test_a_method_s_interval_stays_within_0_and_100_percent():
    methods = [ev.Method("near 100", None), ev.Method("one seed", None)]
    runs = [{"method": "near 100", "seed": s, "test_accuracy": a, "train_seconds": 1.0}
            for s, a in enumerate([1.0, 0.98])] + [{"method": "one seed", "seed": 0, "test_accuracy": 0.5,
                                                    "train_seconds": 1.0}]
    near, single = ev.summarize(runs, methods)
    assert near["ci95_high"] == 100.0 and 0.0 <= near["ci95_low"] < near["mean_accuracy"] == 99.0
    assert math.isnan(single["ci95_low"]) and math.isnan(single["ci95_high"])


def test_interval_and_verdicts():
    low, high = t_interval([1.0, 2.0, 3.0])
    assert math.isclose(low, 2 - 4.302652729911275 / math.sqrt(3)) and math.isclose(high, 4 - low)
    assert all(math.isnan(v) for v in t_interval([1.0]))
    methods = [ev.Method("a", None), ev.Method("b", None), ev.Method("c", None), ev.Method("policy p", None, "policy")]
    acc = {"a": [0.80, 0.81, 0.79], "b": [0.90, 0.91, 0.89], "c": [0.85, 0.84, 0.87], "policy p": [0.85, 0.86, 0.84]}
    runs = [{"method": m, "seed": s, "test_accuracy": v} for m, vs in acc.items() for s, v in enumerate(vs)]
    lines = ev.verdicts(runs, methods)
    assert lines[0].startswith("policy p beat a: +5.00 points")
    assert lines[1].startswith("policy p lost to b: -5.00 points")
    assert lines[2].startswith("policy p did not separate from c: -0.33 points")


def test_a_verdict_counts_the_luck_of_the_test_images():
    # one point ahead on every seed, but always from the same single image of 100: the seeds
    # agree perfectly, the test images do not make it a win (a t interval over the 100 images)
    methods = [ev.Method("b", None), ev.Method("policy p", None, "policy")]
    right = {"b": np.arange(100) < 90, "policy p": np.arange(100) < 91}
    runs = [{"method": m, "seed": s, "test_accuracy": float(r.mean()), "test_images": 100,
             "test_correct": correct_bits(r)} for m, r in right.items() for s in range(3)]
    line = ev.verdicts(runs, methods)[0]
    assert line.startswith("policy p did not separate from b: +1.00 points (95% interval of the paired difference "
                           "over seeds and the 100 test images -0.98 to +2.98; 3 seeds)"), line
    seeds_only = "policy p beat b: +1.00 points (95% interval of the paired difference over seeds +1.00 to +1.00"
    older = [{k: v for k, v in r.items() if k not in ("test_correct", "test_images")} for r in runs]
    assert ev.verdicts(older, methods)[0].startswith(seeds_only)  # an older evaluation's runs: seeds only
    older = [dict(r) for r in runs]
    older[0]["test_images"] = 99  # bits that do not read: that run's verdicts fall back to the seeds
    assert ev.verdicts(older, methods)[0].startswith(seeds_only)


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input was bad")
    monkeypatch.setattr(training, "_trained", refuse)


@pytest.mark.parametrize("change, error, match", [
    ({"policies": ["missing.json"]}, PolicyError, "neither an existing file"),
    ({"dataset": "imagenet"}, InputError, "not a named dataset"),
    ({"seeds": 0}, InputError, "seeds must be an integer >= 1"),
    ({"epochs": 0}, InputError, "epochs must be an integer >= 1"),
    ({"train_size": 10_000}, InputError, "train_size=10000 is more than the 192 training images"),
    ({"baselines": ["cutmix"]}, InputError, "unknown baselines"),
    ({"model": "resnet"}, InputError, "unknown model"),
    ({"precision": "half"}, InputError, "precision must be one of float32, bfloat16"),
])
def test_bad_input_fails_before_any_training(tmp_path, no_training, change, error, match):
    data = tmp_path / "toy.npz"
    np.savez(data, images=X, labels=Y)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    kwargs = {"policies": [], "dataset": str(data), "epochs": 1, "seeds": 1, "reports_dir": tmp_path, **change}
    with pytest.raises(error, match=match):
        ev.evaluate(kwargs.pop("policies"), kwargs.pop("dataset"), **kwargs)
    with pytest.raises(PolicyError, match="not valid JSON"):
        ev.evaluate([bad], str(data), epochs=1, reports_dir=tmp_path)


def test_the_cli_offers_every_baseline_and_the_tuning_flags():
    parser = argparse.ArgumentParser()
    cli_evaluate.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate"])
    assert "trivialaugment-cutmix" in FREE_BASELINES and args.baselines.split(",") == list(FREE_BASELINES)
    assert set(BASELINES) <= set(FREE_BASELINES)
    assert (args.tune_randaugment, args.tune_seeds, args.tune_val_size) == (False, 1, None)
    args = parser.parse_args(["evaluate", "--tune-randaugment", "--tune-seeds", "2", "--tune-val-size", "50"])
    assert (args.tune_randaugment, args.tune_seeds, args.tune_val_size) == (True, 2, 50)
    assert args.precision == "float32" and parser.parse_args(["evaluate", "--precision", "bfloat16"]).precision \
        == "bfloat16"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """`evaluate` of a tuned RandAugment alone (two grid points, two tuning seeds), one epoch, one seed;
    every image batch `eval_dataset` scored, in call order."""
    tmp = tmp_path_factory.mktemp("tuned")
    data = tmp / "toy.npz"
    np.savez(data, images=X, labels=Y)
    scored: list[np.ndarray] = []
    real = training.eval_dataset

    def spy(images, *args, **kwargs):
        scored.append(images.copy())
        return real(images, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "eval_dataset", spy)
        result = ev.evaluate([], str(data), epochs=1, seeds=1, train_size=120, batch_size=32,
                             baselines=[], reports_dir=tmp / "reports", tune_randaugment=True,
                             tune_seeds=2, tune_val_size=30, tune_n=(1, 3), tune_magnitudes=(0.9,))
    return result, scored, data


def test_the_tuned_randaugment_is_the_grid_point_with_the_best_validation_score(tuned):
    result, _, _ = tuned
    grid = read_csv(result.out_dir / "tuning.csv")
    assert [(int(r["n"]), float(r["magnitude"]), r["seeds"]) for r in grid] == [(1, 0.9, "2"), (3, 0.9, "2")]
    for row in grid:
        per_seed = [float(v) for v in row["val_accuracy_per_seed"].split()]
        assert len(per_seed) == 2 and math.isclose(float(row["val_accuracy"]), np.mean(per_seed))
    best = tr.best_index([float(r["val_accuracy"]) for r in grid])
    assert [r["chosen"] for r in grid] == ["True" if i == best else "False" for i in range(2)]
    name = f"tuned RandAugment (N={grid[best]['n']}, M=0.90)"
    rows = read_csv(result.out_dir / "summary.csv")
    assert [(r["method"], r["kind"], r["seeds"], r["source"]) for r in rows] == [(name, "baseline", "1", "tuning.csv")]
    assert [r["method"] for r in result.runs] == [name] and 0 <= result.runs[0]["test_accuracy"] <= 1
    markdown = (result.out_dir / "summary.md").read_text()
    assert f"| {name} |" in markdown and "tuning.csv" in markdown and "never the test images" in markdown


def test_the_tuning_cost_is_the_tuned_baseline_search_cost(tuned):
    result, _, _ = tuned
    cost = sum(float(r["seconds"]) for r in read_csv(result.out_dir / "tuning.csv"))
    rows = read_csv(result.out_dir / "summary.csv")
    assert cost > 0 and math.isclose(float(rows[0]["search_seconds"]), cost)
    assert f"| {cost:.0f} s |" in result.markdown and f"{cost:.0f} s; every grid point" in result.markdown


def test_tuning_scores_validation_images_of_the_pool_never_test_images(tuned):
    result, scored, data = tuned
    pool, test, _ = ev.load_split(str(data))
    train, val = split_train_val(pool, 120, val_size=30, seed=0)
    # the training images are those of an evaluation without tuning
    np.testing.assert_array_equal(train.images, ev.split_pool(pool, 120, 0)[0].images)
    assert len(scored) == 2 * 2 + 1  # 2 grid points x 2 seeds on validation, then the chosen one on test
    for images in scored[:4]:
        np.testing.assert_array_equal(images, val.images)
    np.testing.assert_array_equal(scored[4], test.images)
    pixels = lambda ds: {im.tobytes() for im in ds.images}  # noqa: E731
    assert not pixels(val) & pixels(test) and not pixels(val) & pixels(train)


def test_ties_go_to_the_first_grid_point():
    assert tr.best_index([0.5, 0.7, 0.7, 0.6]) == 1
    assert tr.best_index([math.nan, 0.2, math.nan]) == 1 and tr.best_index([math.nan, math.nan]) == 0


def test_the_default_grid_is_three_n_by_five_magnitudes():
    points = tr.grid()
    assert len(points) == 15 and all(isinstance(p, RandAugment) for p in points)
    assert [(p.n, round(30 * p.magnitude)) for p in points[:6]] == [(1, 5), (1, 9), (1, 13), (1, 17), (1, 21), (2, 5)]


@pytest.mark.parametrize("change, match", [
    ({"train_size": None}, "pass train_size"),
    ({"train_size": 192}, "train_size=192 takes all the 192 training images"),
    ({"tune_val_size": 100}, "tune_val_size=100 is more than the 72 images"),
    ({"tune_val_size": 0}, "tune_val_size must be an integer >= 1, got 0"),
    ({"tune_seeds": 0}, "tune_seeds must be an integer >= 1, got 0"),
    ({"tune_n": ()}, "tune_n must be a non-empty list"),
    ({"tune_n": (1, 0)}, r"tune_n must hold integers >= 1 \(ops per image\), got 0"),
    ({"tune_n": (2, 2)}, "tune_n lists 2 twice"),
    ({"tune_magnitudes": []}, "tune_magnitudes must be a non-empty list"),
    ({"tune_magnitudes": (0.3, 9)}, r"tune_magnitudes must hold numbers in \[0, 1\].*got 9"),
])
def test_bad_tuning_input_fails_before_any_training(tmp_path, no_training, change, match):
    data = tmp_path / "toy.npz"
    np.savez(data, images=X, labels=Y)
    kwargs = {"epochs": 1, "seeds": 1, "train_size": 120, "reports_dir": tmp_path, "tune_randaugment": True, **change}
    with pytest.raises(InputError, match=match):
        ev.evaluate([], str(data), **kwargs)
    assert not (tmp_path / "evaluations").exists()


def test_a_rerun_resumes_the_evaluation_and_trains_only_what_is_missing(tmp_path, trainings):
    data = tmp_path / "toy.npz"
    np.savez(data, images=X, labels=Y)
    kwargs = dict(dataset=str(data), epochs=1, train_size=120, batch_size=32, baselines=["none", "trivialaugment"],
                  out_dir=tmp_path / "out")
    first = ev.evaluate(seeds=1, **kwargs)
    trainings.clear()  # only what the runs below train
    runs_csv = tmp_path / "out" / "runs.csv"  # as an older deepaug wrote it: no test_correct column
    old = [{k: v for k, v in row.items() if k not in ("test_correct", "test_images")} for row in read_csv(runs_csv)]
    runs_csv.write_text(csv_text(old))
    second = ev.evaluate(seeds=2, **kwargs)  # one more seed: only its two trainings run
    assert trainings == [1, 1]
    assert [bool(r["test_correct"]) for r in read_csv(runs_csv)] == [False, False, True, True]
    kept = {(r["method"], r["seed"]): r["test_accuracy"] for r in first.runs}
    assert all(math.isclose(r["test_accuracy"], kept[(r["method"], r["seed"])])
               for r in second.runs if r["seed"] == 0)
    assert len(second.runs) == 4
    with pytest.raises(InputError, match="other settings.*epochs"):
        ev.evaluate(seeds=2, **{**kwargs, "epochs": 2})  # another evaluation in the same folder: refused
    with pytest.raises(InputError, match="other settings.*precision"):
        ev.evaluate(seeds=2, precision="bfloat16", **kwargs)  # float32 runs are not bfloat16 ones
    assert trainings == [1, 1]
