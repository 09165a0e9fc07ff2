"""`deepaug evaluate`'s baselines are the search's controls, and a policy that is one of them is not
trained twice.

A search that finds nothing better answers with a free recipe (its best control); evaluating that
answer beside the baselines trained the same augmentation twice on every seed and reported a gain
of exactly +0.00. Trainings here are one epoch on 120 16x16 grayscale images (about a second).
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from _search import toy_data
from deepaug.errors import InputError
from deepaug.evaluation.methods import Method, augmentation_of, baseline_methods, same_as
from deepaug.evaluation.summary import verdicts
from deepaug.policy.baselines import COLOUR_ONLY, RandAugment, for_channels
from deepaug.policy.core import Policy
from deepaug.search.controls import FREE_RECIPES, make_controls
from deepaug.search.distribution_space import DistributionSpace

X, Y = toy_data()
GRAY = X.mean(axis=3, keepdims=True).astype(np.uint8)
IN_THE_SPACE = ("trivialaugment", "randaugment", "none", "trivialaugment-cutmix")  # points of the space


@pytest.mark.parametrize("channels", [1, 3])
def test_the_baselines_are_the_search_s_controls(channels):
    controls = {c.key: c.policy for c in make_controls(FREE_RECIPES, DistributionSpace(channels=channels))}
    for key in IN_THE_SPACE:
        baseline, = baseline_methods([key], channels=channels)
        assert augmentation_of(baseline.augmenter) == augmentation_of(controls[key]), key


def test_on_grayscale_no_baseline_draws_a_colour_only_op():
    for method in baseline_methods(FREE_RECIPES, channels=1):
        form = augmentation_of(method.augmenter)
        if isinstance(form, Policy):
            assert not set(COLOUR_ONLY) & set(form.distribution.op_names), method.name
    colour = {m.name for m in baseline_methods(FREE_RECIPES, channels=3)
              if isinstance(augmentation_of(m.augmenter), Policy)
              and "color" in augmentation_of(m.augmenter).distribution.op_names}
    assert "TrivialAugment" in colour  # on colour images the recipes keep their colour ops


def test_grayscale_ops_that_are_all_colour_only_are_refused():
    with pytest.raises(InputError, match="colour-only.*grayscale"):
        for_channels(["color"], 1)
    assert for_channels(["color", "rotate"], 1) == ("rotate",)
    assert for_channels(None, 3) is None


def test_same_as_pairs_a_policy_with_the_recipe_it_is_and_nothing_else():
    space = DistributionSpace(channels=1)
    methods = baseline_methods(("none", "flip-crop", "trivialaugment", "randaugment"), channels=1) + [
        Method("policy ta", space.trivialaugment(), "policy"),
        Method("policy nothing", space.to_policy(space.baseline_point()), "policy"),
        Method("policy other", space.randaugment(3, 0.5), "policy")]
    assert same_as(methods) == {"policy ta": "TrivialAugment", "policy nothing": "no augmentation"}


def test_a_baseline_trains_the_same_model_as_its_policy_form():
    """What lets `same_as` share trainings: a baseline augments through its policy form."""
    pytest.importorskip("tensorflow")
    from deepaug.datasets import from_arrays  # (TensorFlow-side imports after the skip)
    from deepaug.training import train as training
    from deepaug.training.train import TrainingConfig

    data, held = from_arrays(GRAY[:120], Y[:120]), from_arrays(GRAY[120:], Y[120:])
    config = TrainingConfig(model="basiccnn", child_epochs=1, child_batch_size=32)
    baseline = RandAugment(ops=for_channels(None, 1))
    first, _ = training.train_and_score(data, held, baseline, config, 3)
    second, _ = training.train_and_score(data, held, baseline.policy, config, 3)
    assert first["correct"] == second["correct"] and math.isclose(first["loss"], second["loss"], rel_tol=1e-6)


def test_a_policy_that_is_a_free_recipe_is_trained_once(tmp_path, trainings):
    import deepaug.evaluation as ev  # (after the fixture's TensorFlow skip)

    data = tmp_path / "gray.npz"
    np.savez(data, images=GRAY, labels=Y)
    space = DistributionSpace(channels=1)
    kwargs = dict(dataset=str(data), epochs=1, seeds=2, train_size=120, batch_size=32,
                  baselines=["none", "trivialaugment"], out_dir=tmp_path / "out")
    result = ev.evaluate([space.trivialaugment(), space.randaugment(3, 0.5)], **kwargs)
    assert len(trainings) == 2 * 3  # none, TrivialAugment, the other policy: not the policy that is TrivialAugment
    by = {(r["method"], r["seed"]): r for r in result.runs}
    for seed in (0, 1):
        assert by[("policy 1", seed)]["test_correct"] == by[("TrivialAugment", seed)]["test_correct"]
        assert by[("policy 1", seed)]["same_as"] == "TrivialAugment"
    assert "policy 1 is TrivialAugment itself: the same augmentation" in "\n".join(result.verdicts)
    assert any(line.startswith("policy 2 ") and "TrivialAugment:" in line for line in result.verdicts)
    with open(tmp_path / "out" / "runs.csv", newline="") as fh:
        assert [r["same_as"] for r in csv.DictReader(fh) if r["method"] == "policy 1"] == ["TrivialAugment"] * 2
    again = ev.evaluate([space.trivialaugment(), space.randaugment(3, 0.5)], **kwargs)  # resumes: nothing to train
    assert len(trainings) == 6 and len(again.runs) == 8


def test_a_searched_policy_is_judged_first_against_the_best_free_baseline_its_search_named():
    ta, ra = (Method(n, None, key=k) for n, k in (("TrivialAugment", "trivialaugment"), ("RandAugment", "randaugment")))
    acc = {"TrivialAugment": [0.80, 0.81, 0.79], "RandAugment": [0.90, 0.91, 0.89], "policy p": [0.85, 0.86, 0.84]}
    runs = [{"method": m, "seed": s, "test_accuracy": v} for m, vs in acc.items() for s, v in enumerate(vs)]
    named = Method("policy p", None, "policy", best_free="randaugment")
    lines = verdicts(runs, [ta, ra, named])
    assert lines[0].startswith("against the best free baseline its search named on validation: policy p lost to "
                               "RandAugment: -5.00 points")
    assert len(lines) == 2 and lines[1].startswith("policy p beat TrivialAugment")
    absent = verdicts(runs, [ta, Method("policy p", None, "policy", best_free="timm-recipe")])
    assert "named timm recipe" in absent[0] and "not among these baselines (add timm-recipe" in absent[0]
    assert verdicts(runs, [ta, ra, Method("policy p", None, "policy")])[0].startswith("policy p beat TrivialAugment")
