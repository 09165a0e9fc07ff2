"""The reward of a child training and of a trial, on hand-made histories (no TensorFlow)."""
from __future__ import annotations

import logging
import math

import pytest

from deepaug.errors import InputError
from deepaug.training.reward import training_reward, trial_reward


def hist(train, val):
    return {"accuracy": list(train), "val_accuracy": list(val), "loss": [1.0] * len(train)}


def test_mean_of_the_last_n_highest_val_accuracies_among_non_overfitting_epochs():
    # epoch 4 has the best val accuracy but overfits (gap 0.375 > 0.125): it is excluded
    h = hist([0.5, 0.625, 0.75, 0.875, 1.0], [0.5, 0.5, 0.625, 0.75, 0.625])
    assert training_reward(h, overfit_threshold=0.125, last_n=3) == pytest.approx((0.5 + 0.625 + 0.75) / 3)
    assert training_reward(h, overfit_threshold=0.125, last_n=1) == 0.75


def test_gap_equal_to_the_threshold_qualifies():
    h = hist([0.75, 1.0], [0.625, 0.25])
    assert training_reward(h, overfit_threshold=0.125, last_n=3) == 0.625


def test_fewer_qualifying_epochs_than_last_n_averages_those_that_qualify():
    h = hist([0.5, 0.9, 0.95], [0.5, 0.6, 0.7])  # only epoch 0 qualifies (gaps 0, 0.3, 0.25)
    assert training_reward(h, overfit_threshold=0.1, last_n=3) == 0.5
    h = hist([0.5, 0.6, 0.95], [0.5, 0.55, 0.7])
    assert training_reward(h, overfit_threshold=0.1, last_n=3) == pytest.approx(0.525)


def test_all_overfit_falls_back_to_best_val_minus_the_smallest_excess_gap(caplog):
    h = hist([0.9, 1.0, 1.0], [0.6, 0.7, 0.65])  # gaps 0.3, 0.3, 0.35 -> excess 0.2
    with caplog.at_level(logging.INFO, logger="deepaug.training.reward"):
        reward = training_reward(h, overfit_threshold=0.1, last_n=3)
    assert reward == pytest.approx(0.7 - 0.2)
    assert "every epoch overfits" in caplog.text
    # the fallback is below what the same val accuracies would earn without overfitting
    assert reward < training_reward(hist([0.7, 0.7, 0.7], [0.6, 0.7, 0.65]), 0.1, 3)


def test_fallback_is_floored_at_zero():
    h = hist([1.0, 1.0], [0.1, 0.05])  # best val 0.1, excess gap 0.8
    assert training_reward(h, overfit_threshold=0.1) == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_accuracies_count_as_zero_and_warn(bad, caplog):
    h = hist([0.5, 0.6, 0.7], [0.5, bad, 0.65])
    with caplog.at_level(logging.WARNING, logger="deepaug.training.reward"):
        reward = training_reward(h, overfit_threshold=0.1, last_n=2)
    assert reward == pytest.approx((0.5 + 0.65) / 2)
    assert "NaN/infinite" in caplog.text


def test_all_nan_history_gives_a_finite_reward():
    h = hist([math.nan] * 3, [math.nan] * 3)
    assert training_reward(h) == 0.0


def test_reward_is_in_unit_interval_for_many_random_histories():
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        r = training_reward(hist(rng.random(n), rng.random(n)), float(rng.uniform(0.01, 0.5)),
                            int(rng.integers(1, 5)))
        assert 0.0 <= r <= 1.0 and math.isfinite(r)


def test_legacy_keras_keys_acc_and_val_acc():
    assert training_reward({"acc": [0.5], "val_acc": [0.5]}) == 0.5


@pytest.mark.parametrize("history, match", [
    ({"accuracy": [0.5]}, "val_accuracy"),
    ({"val_accuracy": [0.5]}, "'accuracy'"),
    ({"accuracy": [0.5, 0.6], "val_accuracy": [0.5]}, "2 epochs"),
    ({"accuracy": [], "val_accuracy": []}, "no epochs"),
    ({"accuracy": [50.0], "val_accuracy": [40.0]}, "outside \\[0, 1\\]"),
    ({"accuracy": ["a"], "val_accuracy": [0.4]}, "list of numbers"),
    ([0.5, 0.6], "dict"),
])
def test_bad_histories_raise_input_error(history, match):
    with pytest.raises(InputError, match=match):
        training_reward(history)


@pytest.mark.parametrize("kwargs, match", [
    ({"last_n": 0}, "last_n"), ({"last_n": 1.5}, "last_n"),
    ({"overfit_threshold": math.nan}, "overfit_threshold"), ({"overfit_threshold": "0.1"}, "overfit_threshold"),
])
def test_bad_parameters_raise_input_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        training_reward(hist([0.5], [0.5]), **kwargs)


def test_trial_reward_is_mean_and_population_std():
    mean, std = trial_reward([0.5, 0.7, 0.6])
    assert mean == pytest.approx(0.6) and std == pytest.approx(math.sqrt(0.02 / 3))
    assert trial_reward([0.4]) == (0.4, 0.0)


def test_trial_reward_treats_nan_as_zero_and_refuses_empty(caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug.training.reward"):
        assert trial_reward([0.5, math.nan]) == (0.25, 0.25)
    assert "NaN" in caplog.text
    with pytest.raises(InputError, match="non-empty"):
        trial_reward([])
