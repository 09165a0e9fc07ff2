"""SearchConfig: DeepAugment's keys and defaults, strict validation, no mutation."""
import copy

import pytest

from deepaug.search.config import SearchConfig
from deepaug.errors import InputError


def test_deepaugment_defaults():
    cfg = SearchConfig.from_user(None)
    assert (cfg.model, cfg.method, cfg.train_set_size, cfg.opt_samples, cfg.opt_last_n_epochs,
            cfg.opt_initial_points, cfg.child_epochs, cfg.child_first_train_epochs, cfg.child_batch_size) == \
        ("basiccnn", "bayesian_optimization", 2000, 3, 3, 10, 50, 0, 64)
    assert cfg.reports_dir == "reports" and cfg.seed is None and cfg.overfit_threshold == 0.10


def test_user_dict_is_never_modified_and_defaults_never_leak():
    user = {"child_epochs": 5, "ops": ["rotate", "invert"], "logging": object()}
    before = copy.copy(user)
    cfg = SearchConfig.from_user(user)
    assert user == before and cfg.ops == ("rotate", "invert")
    assert SearchConfig.from_user(None).child_epochs == 50
    with pytest.raises(Exception):
        cfg.child_epochs = 7  # frozen


@pytest.mark.parametrize("bad, message", [
    ({"child_epoch": 5}, r"unknown config keys \['child_epoch'\] \(did you mean 'child_epochs'\?\); valid keys are: "
                         "model"),
    ({"child_epoch": 5, "sed": 1, "zzz": 2}, r"did you mean 'child_epochs' for 'child_epoch', 'seed' for 'sed'\?\)"),
    ({"method": "grid"}, "method"),
    ({"opt_samples": 0}, "opt_samples"),
    ({"train_set_size": "many"}, "train_set_size"),
    ({"overfit_threshold": -1}, "overfit_threshold"),
    ({"model": "resnet9000"}, "resnet9000"),
    ({"model": 3}, "model"),
    ({"ops": ["rotate", "spin"]}, "spin"),
    ({"experiment_name": "../escape"}, "experiment_name"),
    ({"seed": -1}, "seed"),
    ({"precision": "bf16"}, "precision: Input should be 'float32' or 'bfloat16'"),
    ({"race_seeds": 5, "race_cut_after": 5}, r"^bad config: race_cut_after \(5\) must be below race_seeds \(5\)"),
    ({"race_seeds": 4, "race_cut_after": 1}, r"race_cut_after: Input should be greater than or equal to 2"),
    ({"iterations": 8, "seed": 0}, r"config key 'iterations' belongs in a run file .* pass it to optimize\(iterations\)"),
    ({"dataset": "mnist", "augment": {}}, r"'augment' belongs .*deepaug.augment.*; config key 'dataset' .*first argument"),
])
def test_bad_configs_name_the_key_and_list_valid_keys(bad, message):
    with pytest.raises(InputError, match=message):
        SearchConfig.from_user(bad)


def test_parts_for_the_controller_and_the_trainer():
    cfg = SearchConfig.from_user({"n_sub_policies": 3, "search_probabilities": False, "child_epochs": 4,
                                  "opt_samples": 2, "search_space": "deepaugment"})
    space = cfg.make_search_space()
    assert space.n_sub_policies == 3 and not space.search_probabilities
    training = cfg.training_config()
    assert training.child_epochs == 4 and training.opt_samples == 2
    assert cfg.to_record()["n_sub_policies"] == 3
    assert training.precision == "float32"
    assert SearchConfig.from_user({"precision": "bfloat16"}).training_config().precision == "bfloat16"


def test_bfloat16_with_a_keras_model_is_refused_naming_the_key():
    import keras

    net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    with pytest.raises(InputError, match="precision: .*bfloat16 applies to the named models"):
        SearchConfig.from_user({"model": net, "precision": "bfloat16"})
    assert SearchConfig.from_user({"model": net}).precision == "float32"


def test_a_check_across_keys_names_them_and_never_prints_the_config():
    with pytest.raises(InputError) as caught:
        SearchConfig.from_user({"race_seeds": 3, "race_cut_after": 3, "experiment_name": "secret-name"})
    assert "race_cut_after (3) must be below race_seeds (3)" in str(caught.value)
    assert "secret-name" not in str(caught.value)  # the whole input (kubernetes.env too) is never shown
