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


def _fields_of(kind):
    """The SearchConfig and KubernetesSettings fields whose only kind (besides None) is `kind`."""
    from deepaug.config_values import _kinds
    from deepaug.kubernetes.settings import KubernetesSettings

    out = []
    for prefix, model in (("", SearchConfig), ("kubernetes.", KubernetesSettings)):
        for name, field in model.model_fields.items():
            kinds = _kinds(field.annotation)
            if kinds is not None and kinds - {type(None)} == {kind}:
                out.append(prefix + name)
    return out


def _config(dotted, value):
    section, _, key = dotted.rpartition(".")
    return {section: {key: value}} if section else {dotted: value}


@pytest.mark.parametrize("key", _fields_of(int))
@pytest.mark.parametrize("value", [True, False, "yes", "10"])
def test_every_whole_number_key_refuses_true_false_and_text_naming_key_and_value(key, value):
    """issue 38: `--set child_epochs=yes` became 1. Every integer field (today's and any added later) refuses a
    YAML boolean and text, naming the key, the value and what to write."""
    with pytest.raises(InputError, match=rf"{key}: (true/false|text) where a whole number.* is wanted.*write a whole "
                                         rf"number.*\(got {value!r}\)"):
        SearchConfig.from_user(_config(key, value))


@pytest.mark.parametrize("key", _fields_of(bool))
@pytest.mark.parametrize("value", [1, 0, "yes", "false"])
def test_every_true_false_key_takes_only_true_or_false(key, value):
    with pytest.raises(InputError, match=rf"{key}: true or false is wanted, not another value; write true or false"):
        SearchConfig.from_user(_config(key, value))


@pytest.mark.parametrize("key", ["learning_rate", "overfit_threshold", "fixed_probability", "kubernetes.poll_seconds"])
@pytest.mark.parametrize("value", [True, float("inf"), float("nan")])
def test_number_keys_refuse_true_false_and_non_finite_values(key, value):
    with pytest.raises(InputError, match=rf"{key}: (true/false where a number|Input should be a finite number)"):
        SearchConfig.from_user(_config(key, value))


@pytest.mark.parametrize("seed", [2**32, 2**70, 10**30, -1])
def test_a_seed_outside_what_the_trainers_accept_is_refused_with_the_range(seed):
    """issue 38: seed=2**70 passed, config.json was written, then scikit-learn's random_state failed."""
    with pytest.raises(InputError, match=rf"seed: a seed must be a whole number in 0\.\.4294967295 .*\(got {seed}\)"):
        SearchConfig.from_user({"seed": seed})


def test_numbers_of_the_right_kind_still_pass_numpy_scalars_and_yaml_fractions_included():
    import numpy as np
    from skopt import Optimizer

    cfg = SearchConfig.from_user({"child_epochs": np.int64(5), "seed": 2**32 - 1, "learning_rate": "1e-3",
                                  "fixed_probability": np.float32(0.25), "search_probabilities": False,
                                  "ops": ["rotate", "invert"], "workers": 2})
    assert (cfg.child_epochs, cfg.seed, cfg.learning_rate, cfg.ops) == (5, 2**32 - 1, 1e-3, ("rotate", "invert"))
    Optimizer([(0.0, 1.0)], random_state=cfg.seed)  # the largest seed accepted is one the optimizer takes
