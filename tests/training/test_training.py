"""Child models, the tf.data pipeline, child trainings and trials, on small real data.

Trainings are tiny (a few hundred 16x16 images, 1-2 epochs) so the file runs in well
under a minute and a half on 2 CPU cores; they are marked slow but always run.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.datasets import from_arrays, split_train_val
from deepaug.errors import InputError
from deepaug.policy.distribution import Distribution

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from deepaug.training import models as child_models  # noqa: E402

from deepaug.training import session  # noqa: E402
from deepaug.training import train as training
from deepaug.training.train import TrainingConfig, evaluate_policy, run_trial, train_dataset  # noqa: E402
from deepaug.training.reward import read_correct  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FASHION = Path("/usr/share/datasets/fashion-mnist")
ROTATE = Policy.from_list([[("rotate", 0.8, 0.5), ("invert", 0.3, 0.0)], [("cutout", 0.7, 0.5)]])


def toy_data(n: int = 256, side: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two learnable classes: images whose blob is bright vs dim (label by mean brightness)."""
    x = natural_batch(n, side, side, 3, seed=seed)
    brightness = x.mean(axis=(1, 2, 3))
    return x, (brightness > np.median(brightness)).astype(np.int64)


def small_config(tmp_path: Path, **overrides) -> TrainingConfig:
    values = dict(child_epochs=2, child_batch_size=32, opt_samples=1, opt_last_n_epochs=2,
                  child_models_dir=str(tmp_path / "child_models"))
    return TrainingConfig(**{**values, **overrides})


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything starts a training."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input was bad")
    monkeypatch.setattr(training, "_trained", refuse)


# ---------------------------------------------------------------- package hygiene

def test_importing_the_training_modules_does_not_import_tensorflow(tmp_path):
    code = ("import sys, deepaug.training.train, deepaug.training.models, deepaug.training.reward; "
            "print([m for m in ('tensorflow', 'keras') if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- child models

def test_basiccnn_has_deepaugments_layout_and_parameter_count():
    model = child_models.build_child_model("BasicCNN", (32, 32, 3), 10, seed=0)
    assert model.count_params() == 1_250_858
    assert [type(l).__name__ for l in model.layers] == [
        "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Conv2D", "MaxPooling2D", "Dropout",
        "Flatten", "Dense", "Dropout", "Dense"]
    assert type(model.optimizer).__name__ == "Adam"
    # the smallest image it takes: 10x10 -> 8 -> 4 -> 2 -> 1
    assert child_models.build_child_model("basiccnn", (10, 10, 1), 2, seed=0).output_shape == (None, 2)


def test_wide_resnet_builds_with_the_right_widths():
    model = child_models.build_child_model("wrn_10_2", (16, 16, 3), 5, seed=0)
    convs = [l.filters for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert sorted(set(convs)) == [16, 32, 64, 128]
    assert model.output_shape == (None, 5)
    assert any(isinstance(l, keras.layers.GlobalAveragePooling2D) for l in model.layers)


@pytest.mark.slow
def test_mobilenetv2_builds_at_its_minimum_size_with_grayscale():
    model = child_models.build_child_model("MobileNetV2", (32, 32, 1), 3, seed=0)
    assert model.output_shape == (None, 3)


def test_each_build_is_fresh_and_seeded():
    a = child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=1)
    b = child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=1)
    c = child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=2)
    assert a.optimizer is not b.optimizer
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


@pytest.mark.parametrize("model, shape, match", [
    ("mobilenetv2", (16, 16, 3), "at least 32x32"),
    ("InceptionV3", (32, 32, 3), "at least 75x75"),
    ("basiccnn", (9, 9, 1), "at least 10x10"),
    ("wrn_10_1", (3, 3, 3), "at least 4x4"),
    ("resnet50", (32, 32, 3), "valid models are"),
    ("wrn_12_2", (32, 32, 3), "6n \\+ 4"),
    ("wrn_28_0", (32, 32, 3), "width"),
])
def test_models_refuse_what_they_cannot_take(model, shape, match):
    with pytest.raises(InputError, match=match):
        child_models.check_model_input(model, shape, 10)


def test_custom_model_shape_and_class_checks():
    inp = keras.Input((16, 16, 3))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp)))
    with pytest.raises(InputError, match="expects inputs of shape"):
        child_models.check_model_input(model, (28, 28, 1), 3)
    with pytest.raises(InputError, match="outputs 3 values"):
        child_models.check_model_input(model, (16, 16, 3), 10)
    with pytest.raises(InputError, match="keras Model"):
        child_models.check_model_input(object(), (16, 16, 3), 3)


# ---------------------------------------------------------------- the input pipeline

def batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_pipeline_shapes_dtypes_range_and_one_permutation_per_epoch():
    n, batch = 100, 32
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 8, axis=1).repeat(6, axis=2)
    labels = np.arange(n, dtype=np.int64)  # label = image index, to see which image came
    ds = train_dataset(images, labels, None, batch, seed=3, epochs=3)
    # deterministic order; no autotuning thread (it stalls pipeline teardown for seconds)
    assert ds.options().deterministic is True and ds.options().autotune.enabled is False
    out = batches(ds)
    assert len(out) == 3 * 4 and [len(y) for _, y in out[:4]] == [32, 32, 32, 4]
    for x, y in out:
        assert x.dtype == np.float32 and x.shape[1:] == (8, 6, 1) and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_allclose(x[:, 0, 0, 0] * 255.0, y, atol=1e-3)  # image matches its label
    epochs = [np.concatenate([y for _, y in out[e * 4:(e + 1) * 4]]) for e in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(n))  # every image exactly once
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], np.arange(n))


def test_pipeline_augments_on_the_fly_only_for_a_real_policy():
    images, labels = toy_data(96, 16)
    plain = batches(train_dataset(images, labels, None, 32, seed=0, epochs=2))
    noop = batches(train_dataset(images, labels, Policy.noop(), 32, seed=0, epochs=2))
    zero = Policy.from_list([[("rotate", 0.0, 0.9)]])
    never = batches(train_dataset(images, labels, zero, 32, seed=0, epochs=2))
    aug = batches(train_dataset(images, labels, ROTATE, 32, seed=0, epochs=2))
    for (xp, yp), (xn, yn), (xz, _), (xa, ya) in zip(plain, noop, never, aug):
        assert np.array_equal(xp, xn) and np.array_equal(yp, yn) and np.array_equal(xp, xz)
        assert np.array_equal(yp, ya)  # same permutation with or without augmentation
        assert not np.array_equal(xp, xa)
    assert not np.array_equal(aug[0][0], aug[3][0])  # fresh draws in the second epoch


def test_pipeline_same_seed_same_batches_other_seed_other_batches():
    images, labels = toy_data(64, 16)
    a = batches(train_dataset(images, labels, ROTATE, 16, seed=7, epochs=2))
    b = batches(train_dataset(images, labels, ROTATE, 16, seed=7, epochs=2))
    c = batches(train_dataset(images, labels, ROTATE, 16, seed=8, epochs=2))
    assert all(np.array_equal(x1, x2) and np.array_equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    assert not all(np.array_equal(x1, x2) for (x1, _), (x2, _) in zip(a, c))


@pytest.mark.parametrize("mix", [{"cutmix": 0.5}, {"mixup": 0.5}, {"cutmix": 0.25, "mixup": 0.25}],
                         ids=["cutmix", "mixup", "switching"])
def test_pipeline_of_a_mixing_policy_carries_label_weights_over_the_same_images(mix):
    images, labels = toy_data(96, 16)
    ta = Policy.from_distribution(Distribution.uniform(("rotate", "equalize")))
    mixing = Policy.from_distribution(dataclasses.replace(ta.distribution, **mix))
    plain = batches(train_dataset(images, labels, ta, 32, seed=0, epochs=2))
    mixed = batches(train_dataset(images, labels, mixing, 32, seed=0, epochs=2, num_classes=2))
    changed = 0
    for (xp, yp), (xm, ym) in zip(plain, mixed):
        assert ym.dtype == np.float32 and ym.shape == (len(yp), 2)
        np.testing.assert_allclose(ym.sum(axis=1), 1.0, rtol=1e-6)
        same = np.all(xp == xm, axis=(1, 2, 3))  # images left unmixed are TrivialAugment's
        np.testing.assert_array_equal(ym[same].argmax(axis=1), yp[same])
        changed += int((~same).sum())
    assert 0 < changed < sum(len(y) for _, y in plain)
    with pytest.raises(InputError, match="num_classes"):
        train_dataset(images, labels, mixing, 32, seed=0, epochs=1)


@pytest.mark.slow
def test_a_cutmix_policy_trains_on_label_weights_and_scores_on_plain_labels(tmp_path):
    images, labels = toy_data(160)
    train, test = split_train_val(from_arrays(images, labels), 128, seed=0)
    config = small_config(tmp_path)
    mixing = Policy.from_distribution(Distribution.uniform(("rotate", "equalize"), cutmix=1.0))
    score, history = training.train_and_score(train, test, mixing, config, seed=3)
    _, plain_history = training.train_and_score(train, test, mixing.without_mixing(), config, seed=3)
    assert 0.0 <= score["accuracy"] <= 1.0 and len(history["loss"]) == 2
    assert history["loss"] != plain_history["loss"]  # the mixed labels changed the training
    run = run_trial(train, test, mixing, config, seed=3)
    assert 0.0 <= run.reward <= 1.0


# ---------------------------------------------------------------- trainings and trials

@pytest.mark.slow
def test_same_seed_gives_identical_rewards_and_histories(tmp_path):
    images, labels = toy_data()
    config = small_config(tmp_path)
    first = evaluate_policy(images, labels, ROTATE, config, train_size=192, seed=5)
    again = evaluate_policy(images, labels, ROTATE, config, train_size=192, seed=5)
    assert 0.0 <= first.reward <= 1.0 and first.reward_std == 0.0
    assert first.reward == again.reward
    for key in ("accuracy", "loss", "val_accuracy", "val_loss"):
        assert first.histories[0][key] == again.histories[0][key]
        assert len(first.histories[0][key]) == 2
    data = json.loads(json.dumps(first.to_dict()))
    assert data["policy"] == ROTATE.to_dict() and data["seed"] == 5 and data["model"] == "basiccnn"
    assert data["sample_seeds"] == training.sample_seeds(5, 1)
    assert data["images_per_second"][0] > 0 and data["extra"] == {"train_size": 192, "val_size": 48}
    assert not (tmp_path / "child_models").exists()  # no warm start asked, nothing written


@pytest.mark.slow
def test_a_reused_compiled_model_trains_exactly_as_a_freshly_built_one(tmp_path):
    # trainings lend the process's compiled model of an architecture (no retracing); a training on
    # it, after another training has changed its weights, Adam state and dropout seeds, must give
    # the bytes a model built for it alone gives
    images, labels = toy_data(160)
    train, test = split_train_val(from_arrays(images, labels), 128, seed=0)
    config = small_config(tmp_path)
    fresh, fresh_history = training.train_model(train, ROTATE, config, seed=3)  # built for the caller
    fresh_score = training._validate(fresh, training.eval_dataset(test.images, test.labels, 32), test.labels)
    lent = []
    for seed in (4, 3):
        with training._trained(train, None, ROTATE, config, seed, 2, None) as (model, fitted, _):
            lent.append(model)
            weights, history = model.get_weights(), fitted.history
    assert lent[0] is lent[1] and lent[0] is not fresh  # the second training reused the first one's model
    assert history["loss"] == fresh_history["loss"] and history["accuracy"] == fresh_history["accuracy"]
    assert all(np.array_equal(a, b) for a, b in zip(weights, fresh.get_weights()))
    score, again = training.train_and_score(train, test, ROTATE, config, seed=3)
    assert score == {"loss": fresh_score["val_loss"], "accuracy": fresh_score["val_accuracy"],
                     "correct": fresh_score["val_correct"]}
    keras_score = fresh.evaluate(training.eval_dataset(test.images, test.labels, 32), verbose=0, return_dict=True)
    assert math.isclose(score["accuracy"], keras_score["accuracy"], abs_tol=1e-6)  # keras' own float32 metrics
    assert math.isclose(score["loss"], keras_score["loss"], rel_tol=1e-5)
    right = np.argmax(fresh.predict(test.images, verbose=0), axis=-1) == test.labels
    np.testing.assert_array_equal(read_correct(score["correct"], len(test)), right)  # image by image
    assert again["loss"] == fresh_history["loss"]


def test_bfloat16_builds_named_models_in_mixed_precision_and_leaves_keras_policy_alone():
    import keras

    float32 = child_models.build_child_model("basiccnn", (16, 16, 3), 2, seed=1)
    bf16 = child_models.build_child_model("basiccnn", (16, 16, 3), 2, seed=1, precision="bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is back as it was
    assert {layer.compute_dtype for layer in float32.layers} == {"float32"}
    assert {layer.compute_dtype for layer in bf16.layers[:-1]} == {"bfloat16"}
    assert bf16.layers[-1].compute_dtype == "float32"  # softmax and loss in float32
    assert all(v.dtype == "float32" for v in bf16.weights)  # float32 weights: files load in either precision
    assert all(np.array_equal(a, b) for a, b in zip(float32.get_weights(), bf16.get_weights()))  # same seed
    x = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    out = bf16.predict(x, verbose=0)
    assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    assert np.abs(out - float32.predict(x, verbose=0)).max() < 0.05  # bfloat16's 8-bit mantissa, not garbage
    wrn = child_models.build_child_model("wrn_10_1", (8, 8, 3), 3, seed=1, precision="bfloat16")
    assert wrn.layers[1].compute_dtype == "bfloat16" and wrn.layers[-1].compute_dtype == "float32"


def test_bfloat16_is_refused_for_a_keras_model_before_any_training():
    import keras

    net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    with pytest.raises(InputError, match="applies to the named models.*set_dtype_policy"):
        TrainingConfig(model=net, precision="bfloat16")


def test_bfloat16_warns_once_where_the_cpu_emulates_it(monkeypatch, caplog):
    monkeypatch.setattr(child_models, "bf16_is_native", lambda: False)
    monkeypatch.setattr(child_models, "_warned_emulated", [])
    with caplog.at_level(logging.WARNING, logger="deepaug.training.models"):
        for _ in range(2):
            child_models.build_child_model("basiccnn", (16, 16, 3), 2, seed=1, precision="bfloat16")
    assert [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()] != []
    assert len([r for r in caplog.records if "emulated" in r.getMessage()]) == 1


@pytest.mark.slow
def test_bfloat16_training_is_seeded_and_differs_from_float32(tmp_path):
    import keras

    images, labels = toy_data(160)
    train, val = split_train_val(from_arrays(images, labels), 128, seed=0)
    bf16 = small_config(tmp_path, precision="bfloat16")
    first, again = (training.train_child(train, val, ROTATE, bf16, seed=3) for _ in range(2))
    float32 = training.train_child(train, val, ROTATE, small_config(tmp_path), seed=3)
    assert first["loss"] == again["loss"] and first["val_accuracy"] == again["val_accuracy"]
    assert first["loss"] != float32["loss"]  # it did train in bfloat16
    assert np.allclose(first["loss"], float32["loss"], rtol=0.05)
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow
def test_trial_runs_opt_samples_trainings_with_distinct_seeds(tmp_path):
    images, labels = toy_data(160)
    train, val = split_train_val(from_arrays(images, labels), 128, seed=0)
    result = run_trial(train, val, None, small_config(tmp_path, child_epochs=1, opt_samples=2), seed=3)
    assert len(result.sample_rewards) == 2 and len(set(result.sample_seeds)) == 2
    assert result.reward == pytest.approx(np.mean(result.sample_rewards))
    assert result.policy is None and all(0.0 <= r <= 1.0 for r in result.sample_rewards)
    assert result.histories[0]["loss"] != result.histories[1]["loss"]


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST is not installed (dataset-fashion-mnist)")
def test_grayscale_fashion_mnist_subset_trains(tmp_path):
    from deepaug.datasets import load

    subset, _ = split_train_val(load("fashion_mnist"), 320, val_size=10, seed=0)  # stratified
    assert subset.image_shape == (28, 28, 1)
    flip = Policy.from_list([[("horizontal-flip", 0.5, 0.0), ("rotate", 0.5, 0.2)]])
    result = evaluate_policy(subset.images[..., 0], subset.labels, flip,
                             small_config(tmp_path, child_epochs=1, opt_last_n_epochs=1), train_size=256)
    assert 0.0 <= result.reward <= 1.0 and result.extra["train_size"] == 256


@pytest.mark.slow
def test_custom_keras_model_is_cloned_fresh_and_left_untouched(tmp_path):
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    user_model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x), name="mine")
    before = [w.copy() for w in user_model.get_weights()]
    clone = child_models.build_child_model(user_model, (16, 16, 3), 2, seed=0)
    assert clone is not user_model and not np.array_equal(clone.get_weights()[0], before[0])
    images, labels = toy_data(128)
    result = evaluate_policy(images, labels, ROTATE, small_config(tmp_path, model=user_model, child_epochs=1),
                             train_size=96)
    assert 0.0 <= result.reward <= 1.0 and result.model == "keras:mine"
    assert all(np.array_equal(a, b) for a, b in zip(before, user_model.get_weights()))
    assert getattr(user_model, "optimizer", None) is None  # never compiled by us


def test_warm_start_weights_are_saved_once_atomically_and_reused(tmp_path, caplog):
    calls = []

    def train_fn():
        calls.append(1)
        return child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=9)

    args = ("f" * 64, "basiccnn", (12, 12, 1), 2, 1, 0, train_fn, tmp_path / "cm")
    with caplog.at_level(logging.INFO, logger="deepaug.training.models"):
        path = child_models.warm_start_weights(*args)
        again = child_models.warm_start_weights(*args)
        other = child_models.warm_start_weights("e" * 64, *args[1:])  # other data, other file
    assert path == again != other and len(calls) == 2 and "reusing" in caplog.text
    assert sorted(p.name for p in (tmp_path / "cm").iterdir()) == sorted(
        [path.name, path.name.replace(".weights.npz", ".json"), other.name,
         other.name.replace(".weights.npz", ".json")])  # no temp files left
    fresh = child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=1, weights=path)
    reference = child_models.build_child_model("basiccnn", (12, 12, 1), 2, seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), reference.get_weights()))
    with pytest.raises(InputError, match="do not fit"):
        child_models.build_child_model("wrn_10_1", (12, 12, 1), 2, seed=0, weights=path)


@pytest.mark.slow
def test_warm_start_trains_once_then_trials_reuse_the_file(tmp_path, monkeypatch, caplog):
    images, labels = toy_data(160)
    config = small_config(tmp_path, child_epochs=1, child_first_train_epochs=1)
    fits = []
    real = training._trained
    monkeypatch.setattr(training, "_trained", lambda *a, **k: fits.append(a[1] is None) or real(*a, **k))
    first = evaluate_policy(images, labels, None, config, train_size=128)
    files = list((tmp_path / "child_models").glob("*.weights.npz"))
    assert len(files) == 1 and first.warm_start == str(files[0])
    mtime = files[0].stat().st_mtime_ns
    assert fits == [True, False]  # one warm-start fit (no validation), then the trial's fit
    with caplog.at_level(logging.INFO, logger="deepaug.training.models"):
        second = evaluate_policy(images, labels, ROTATE, config, train_size=128)
    assert fits == [True, False, False] and "reusing" in caplog.text
    assert second.warm_start == first.warm_start and files[0].stat().st_mtime_ns == mtime


# ---------------------------------------------------------------- bad input, before training

@pytest.mark.parametrize("case, match", [
    ("length", "256 images but 255 labels"),
    ("one_class", "only one class"),
    ("mobilenetv2", "at least 32x32"),
    ("inceptionv3", "at least 75x75"),
    ("basiccnn", "at least 10x10"),
    ("policy", "policy must be"),
])
def test_bad_inputs_raise_before_any_training(case, match, tmp_path, no_training):
    images, labels = toy_data(256, 16)
    policy = ROTATE
    config = small_config(tmp_path)
    if case == "length":
        labels = labels[:-1]
    elif case == "one_class":
        labels = np.zeros_like(labels)
    elif case in ("mobilenetv2", "inceptionv3"):
        config = small_config(tmp_path, model=case)
        if case == "inceptionv3":
            images, labels = toy_data(64, 40)
    elif case == "basiccnn":
        images = images[:, :8, :8]
    else:
        policy = "rotate"
    with pytest.raises(InputError, match=match):
        evaluate_policy(images, labels, policy, config, train_size=128)


def test_run_trial_needs_datasets_that_match(tmp_path, no_training):
    images, labels = toy_data(64, 16)
    train, val = split_train_val(from_arrays(images, labels), 48, seed=0)
    with pytest.raises(InputError, match="val must be a deepaug.datasets.Dataset"):
        run_trial(train, None, None, small_config(tmp_path), seed=0)
    gray = from_arrays(images[..., :1], labels)
    with pytest.raises(InputError, match="do not match"):
        run_trial(train, gray, None, small_config(tmp_path), seed=0)
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        run_trial(train, val, None, small_config(tmp_path), seed=-1)


@pytest.mark.parametrize("overrides, match", [
    ({"model": "resnet"}, "valid models are"), ({"model": "wrn_11_2"}, "6n \\+ 4"),
    ({"child_epochs": 0}, "child_epochs"), ({"child_batch_size": 2.5}, "child_batch_size"),
    ({"opt_samples": True}, "opt_samples"), ({"child_first_train_epochs": -1}, "child_first_train_epochs"),
    ({"overfit_threshold": float("nan")}, "overfit_threshold"), ({"learning_rate": 0}, "learning_rate"),
    ({"model": 3}, "model must be"),
    ({"deterministic": "yes"}, "deterministic"), ({"child_models_dir": ""}, "child_models_dir"),
    ({"precision": "float16"}, "precision must be one of float32, bfloat16"),
])
def test_training_config_validates_each_key(overrides, match):
    with pytest.raises(InputError, match=match):
        TrainingConfig(**overrides)


def test_full_garbage_collections_between_trainings_are_spaced_by_their_cost(monkeypatch):
    import gc
    import types

    clock, full = [100.0], []

    def heard(phase: str, info: dict) -> None:  # a full collection "takes" 0.5 s on the test's clock
        if info["generation"] == 2:
            if phase == "start":
                full.append(clock[0])
            else:
                clock[0] += 0.5

    monkeypatch.setattr(session, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(session, "_collected", {"at": float("-inf"), "took": 0.0, "skipped": 0})
    gc.disable()  # no automatic collection in between: every full one heard is collect_garbage's
    gc.callbacks.append(heard)
    try:
        session.collect_garbage()  # none before: collect
        assert full == [100.0] and session._collected == {"at": 100.5, "took": 0.5, "skipped": 0}
        clock[0] = 103.0  # 2.5 s later: a collection now would take more than a tenth of the time
        session.collect_garbage()
        assert full == [100.0]
        clock[0] = 100.5 + 0.5 / session.GC_SHARE  # 5 s later: due
        session.collect_garbage()
        assert full == [100.0, 105.5]
        for _ in range(session.GC_MAX_SKIPPED):  # quick trainings in a row: skipped, but only so many
            session.collect_garbage()
        assert full == [100.0, 105.5]
        session.collect_garbage()
        assert full == [100.0, 105.5, 106.0]
    finally:
        gc.callbacks.remove(heard)
        gc.enable()


def test_each_training_clears_keras_session_and_leaves_the_collection_to_collect_garbage(monkeypatch):
    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda **kwargs: calls.append(("clear", kwargs)))
    monkeypatch.setattr(session, "collect_garbage", lambda: calls.append(("collect", {})))
    session.seed_everything(5)
    assert calls == [("clear", {"free_memory": False}), ("collect", {})]
