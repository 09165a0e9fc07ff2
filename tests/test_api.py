"""DeepAugment's call forms of both generations: 1.x's (images, labels, config) and 2.x's
(X_train, y_train, X_val, y_val, **options) and module-level optimize(X, y, iterations=...)."""
from __future__ import annotations

import json
import logging

import pytest
from _search import tiny_config, toy_data

import deepaug
from deepaug import InputError, Policy
from deepaug.api import DeepAugment, call_config
from deepaug.datasets import from_arrays
from deepaug.search.engine import data_identity

pytest.importorskip("tensorflow")

X, Y = toy_data(200)
VX, VY = toy_data(45, seed=9)


def study_config(tmp_path, **overrides) -> dict:
    """The distribution search in one rung of one epoch, racing one finalist on two seeds."""
    settings = {"search_space": "distribution", "child_epochs": 1, "rungs": 1, "opt_last_n_epochs": 1,
                "finalists": 1, "race_seeds": 2, "validation_size": None}
    return tiny_config(tmp_path, **{**settings, **overrides})


def test_the_third_argument_is_a_config_or_2x_validation_images():
    assert call_config({"seed": 1}, None, None, {}) == {"seed": 1}
    data = call_config(VX, None, VY, {"random_state": 3, "train_size": 100, "val_size": 40, "method": "bayesian"})
    assert data["validation_images"] is VX and data["validation_labels"] is VY
    assert (data["seed"], data["train_set_size"], data["validation_size"], data["method"]) == \
        (3, 100, 40, "bayesian_optimization")
    assert call_config(None, VX, VY, {"child_epochs": 2})["child_epochs"] == 2
    config = {"seed": 1}
    call_config(config, VX, VY, {"child_epochs": 2})
    assert config == {"seed": 1}  # the caller's dict is not modified


@pytest.mark.parametrize("args, message", [
    (({"seed": 1}, None, None, {"random_state": 2}), "'seed' was given twice"),
    ((VX, None, None, {}), "pass both validation arrays"),
    ((VX, VX, VY, {}), "validation images were given twice"),
    (({"validation_images": VX, "validation_labels": VY}, VX, VY, {}), "validation data were given twice"),
    (({"search_space": "deepaugment"}, VX, VY, {}), "search_space 'deepaugment' validates on images drawn"),
])
def test_ambiguous_or_half_calls_are_refused_saying_what_to_do(args, message):
    with pytest.raises(InputError, match=message):
        call_config(*args)


def test_2x_constructor_takes_the_validation_arrays_and_options(tmp_path):
    options = study_config(tmp_path)
    del options["seed"]
    da = DeepAugment(X, Y, VX, VY, **options, random_state=5)
    assert da.config.validation_images is VX and da.config.seed == 5
    with pytest.raises(InputError, match="unknown config keys \\['device'\\]"):
        DeepAugment(X, Y, VX, VY, device="cuda", **study_config(tmp_path))


def test_optimize_is_exported_lazily():
    assert "optimize" in deepaug.__all__
    assert deepaug.optimize is deepaug.api.optimize


def test_a_named_dataset_too_small_for_the_model_is_enlarged_with_a_log_line(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="deepaug"):
        da = DeepAugment("digits", config=study_config(tmp_path, train_set_size=300))
    assert da.data.image_shape == (10, 10, 1)
    assert "from 8x8 to 10x10: model 'basiccnn' needs at least 10x10" in caplog.text
    chosen = DeepAugment("digits", config=study_config(tmp_path, train_set_size=300, experiment_name="b"),
                         image_size=16)
    assert chosen.data.image_shape == (16, 16, 1)


def test_image_size_resizes_arrays_and_your_validation_images_with_them(tmp_path):
    # X, VX are 16x16; the too-small error tells users to pass image_size, so it works on arrays too
    da = DeepAugment(X, Y, VX, VY, image_size=(20, 24), **study_config(tmp_path))
    assert da.data.image_shape == (20, 24, 3) and da.config.validation_images.shape == (45, 20, 24, 3)
    assert da.config.validation_labels.tolist() == VY.tolist()
    tall = X[:, :, :12]  # 16x12: cropped to 12x12, then resized
    crop = DeepAugment(tall, Y, study_config(tmp_path, experiment_name="crop"), image_size=18, square_crop=True)
    assert crop.data.image_shape == (18, 18, 3)
    with pytest.raises(InputError, match=r"image_size say\(s\) how to load the images.*"
                                         r"DeepAugment\(images, labels, config, image_size=\.\.\.\)"):
        DeepAugment(X, Y, study_config(tmp_path, image_size=20))
    with pytest.raises(InputError, match="image_size must be a positive int"):
        DeepAugment(X, Y, study_config(tmp_path, experiment_name="bad"), image_size=0)
    with pytest.raises(InputError, match="are too small for model 'basiccnn'.*image_size=10"):
        DeepAugment(X[:, :8, :8], Y, study_config(tmp_path, experiment_name="small"))
    assert DeepAugment(X[:, :8, :8], Y, study_config(tmp_path, experiment_name="small"),
                       image_size=10).data.image_shape == (10, 10, 3)


def test_the_default_train_set_size_leaves_validation_images_on_a_small_dataset(tmp_path, caplog):
    config = study_config(tmp_path)
    del config["train_set_size"]
    with caplog.at_level(logging.INFO, logger="deepaug"):
        da = DeepAugment("digits", config=config)  # 1437 training images, DeepAugment's default 2000
    assert da.config.train_set_size == 1437 - 287 and "training on 1150 and validating on 287" in caplog.text
    assert DeepAugment("digits", config={**config, "train_set_size": 1300, "validation_size": None,
                                         "experiment_name": "b"}).config.train_set_size == 1300  # yours is kept
    assert DeepAugment(X, Y, VX, VY, **{**config, "experiment_name": "c"}).config.train_set_size == 2000  # on VX


@pytest.mark.slow
def test_module_level_optimize_searches_on_your_validation_set_and_returns_the_policy(tmp_path):
    options = {**study_config(tmp_path), "rungs": 1, "tensorboard": False}  # one rung: the screen, then the race
    del options["child_epochs"]  # 2.x's epochs= says it
    policy = deepaug.optimize(X, Y, VX, VY, iterations=1, epochs=1, **options)
    assert isinstance(policy, Policy)
    folder = tmp_path / "reports" / "experiments" / "tiny"
    stored = json.loads((folder / "config.json").read_text())
    assert stored["config"]["child_epochs"] == 1
    assert stored["data"]["validation"] == data_identity(from_arrays(VX, VY, "validation_images"))
    assert (folder / "notebook.csv").is_file() and policy == Policy.load(folder / "best_policy.json")


def test_a_file_dataset_keeps_its_test_split_out_of_the_search(tmp_path, caplog):
    import numpy as np

    from deepaug.evaluation import load_split

    images = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(200)])  # each image tells its index
    labels = np.arange(200) % 4
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    with caplog.at_level(logging.INFO, logger="deepaug"):
        da = DeepAugment(str(tmp_path / "data.npz"), config=study_config(tmp_path, train_set_size=100))
    pool, test, _ = load_split(str(tmp_path / "data.npz"))
    searched = {int(im[0, 0, 0]) for im in da.data.images}
    tested = {int(im[0, 0, 0]) for im in test.images}
    assert len(searched) == 160 and len(tested) == 40 and not searched & tested  # what evaluate scores on
    assert searched == {int(im[0, 0, 0]) for im in pool.images}
    assert "held out 40 of the 200 images" in caplog.text
    named = DeepAugment("digits", config=study_config(tmp_path, train_set_size=300, experiment_name="d"))
    assert len(named.data) == 1437  # a named dataset's train split is the search's: its test split is apart
