"""The baselines (flip + crop, RandAugment, TrivialAugment) as augmenters over the op registry, and the
published recipes (TrivialAugment + CutMix 1/2, timm's recipe) as distribution policies."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.policy.apply import Augmenter, augment_with
from deepaug.policy.baselines import BASELINES as BASELINE_KEYS
from deepaug.policy.baselines import DEFAULT_OPS, KEYS, RECIPE_NAMES, RECIPES, FlipCrop, RandAugment, TrivialAugment
from deepaug.policy.baselines import make, timm_recipe, trivialaugment_cutmix
from deepaug.errors import InputError, PolicyError

GRAY = natural_batch(64, 28, 28, 1, seed=1)
RGB = natural_batch(64, 16, 16, 3, seed=2)
BASELINES = [FlipCrop(), RandAugment(), TrivialAugment()]


@pytest.mark.parametrize("augmenter", BASELINES, ids=lambda a: a.name)
@pytest.mark.parametrize("images", [GRAY, RGB], ids=["gray28", "rgb16"])
def test_each_baseline_is_an_augmenter_that_is_deterministic_per_seed(augmenter, images):
    assert isinstance(augmenter, Augmenter)
    before = images.copy()
    a, b, c = (augmenter.apply(images, seed=s) for s in (3, 3, 4))
    assert a.dtype == np.uint8 and a.shape == images.shape
    np.testing.assert_array_equal(images, before)  # input untouched
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, images)
    x = images if images.ndim == 4 else images[..., None]
    np.testing.assert_array_equal(augment_with(augmenter, x, np.random.default_rng(3)), a.reshape(x.shape))


def test_flip_crop_is_a_flip_then_a_crop_of_the_zero_padded_image():
    pad = 2
    out = FlipCrop(pad=pad).apply(GRAY[..., 0], seed=0)
    seen = set()
    for image, result in zip(GRAY[..., 0], out):
        matches = []
        for flipped in (False, True):
            src = np.pad(image[:, ::-1] if flipped else image, pad)
            for dy in range(2 * pad + 1):
                for dx in range(2 * pad + 1):
                    if np.array_equal(src[dy:dy + 28, dx:dx + 28], result):
                        matches.append((flipped, dy - pad, dx - pad))
        assert matches, "output is not a flip + padded crop of its input"
        seen.update(matches)
    assert {m[0] for m in seen} == {False, True}
    assert {m[1] for m in seen} == set(range(-pad, pad + 1)) and {m[2] for m in seen} == set(range(-pad, pad + 1))


def test_randaugment_applies_n_ops_at_the_global_magnitude():
    once = RandAugment(n=1, magnitude=0.3, ops=("invert",)).apply(RGB, seed=0)
    np.testing.assert_array_equal(once, 255 - RGB)
    twice = RandAugment(n=2, magnitude=0.3, ops=("invert",)).apply(RGB, seed=0)
    np.testing.assert_array_equal(twice, RGB)
    flat = np.full((200, 8, 8, 1), 100, np.uint8)
    out = RandAugment(n=1, magnitude=0.5, ops=("brighten",)).apply(flat, seed=0)  # +- 64 * 0.5
    assert set(np.unique(out[:, 0, 0, 0]).tolist()) == {68, 132}
    assert RandAugment().ops == DEFAULT_OPS


def test_trivialaugment_draws_one_op_per_image_at_one_of_31_magnitudes():
    flat = np.full((3000, 8, 8, 1), 100, np.uint8)
    out = TrivialAugment(ops=("brighten",)).apply(flat, seed=0)
    delta = np.abs(out[:, 0, 0, 0].astype(int) - 100)
    levels = {int(np.rint(64 * k / 30)) for k in range(31)}
    assert set(delta.tolist()) == levels  # every level drawn, nothing else
    mixed = TrivialAugment(ops=("identity", "invert")).apply(RGB, seed=0)
    inverted = np.all(mixed == 255 - RGB, axis=(1, 2, 3))
    assert np.all(inverted | np.all(mixed == RGB, axis=(1, 2, 3)))
    assert 10 < inverted.sum() < 54


@pytest.mark.parametrize("make", [lambda: RandAugment(n=0), lambda: RandAugment(magnitude=1.5),
                                  lambda: RandAugment(magnitude="high"), lambda: TrivialAugment(levels=1),
                                  lambda: FlipCrop(pad=-1), lambda: TrivialAugment(ops=("rotate", "rotate")),
                                  lambda: TrivialAugment(ops=())])
def test_bad_settings_are_input_errors(make):
    with pytest.raises(InputError):
        make()


def test_an_unknown_op_names_the_valid_ones():
    with pytest.raises(PolicyError, match="valid ops are"):
        RandAugment(ops=("rotat",))


def test_the_training_pipeline_takes_an_augmenter():
    pytest.importorskip("tensorflow")
    from deepaug.training import pipeline
    from deepaug.training import train as training

    labels = np.arange(len(RGB)) % 2
    invert = RandAugment(n=1, ops=("invert",))
    ds = training.train_dataset(RGB, labels, invert, batch_size=16, seed=0, epochs=1)
    x, y = next(iter(ds))
    idx = np.random.default_rng([0, 0, 0]).permutation(len(RGB))[:16]
    np.testing.assert_allclose(x.numpy(), (255 - RGB[idx]) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels[idx])
    assert pipeline.as_augmentation(invert) is invert and pipeline.as_augmentation(None) is None
    assert training._policy_record(invert)["augmenter"] == "randaugment"
    assert pipeline.is_noop(None) and pipeline.is_noop(Policy.noop()) and not pipeline.is_noop(invert)
    with pytest.raises(InputError, match="augment_nhwc"):
        pipeline.as_augmentation(object())


# ---------------------------------------------------------------- the published recipes

def test_each_recipe_is_a_distribution_policy_that_make_builds_and_json_round_trips(tmp_path):
    made = make(RECIPES)
    assert [name for name, _ in made] == [RECIPE_NAMES[key] for key in RECIPES]
    for (name, policy), key in zip(made, RECIPES):
        assert isinstance(policy, Policy) and policy.kind == "distribution" and policy.mixes_labels
        policy.to_json(tmp_path / f"{key}.json")
        assert Policy.load(tmp_path / f"{key}.json") == policy
    assert [name for name, _ in make(KEYS)][:len(BASELINE_KEYS)] == [name for name, _ in make(BASELINE_KEYS)]
    assert BASELINE_KEYS == ("none", "flip-crop", "randaugment", "trivialaugment", "trivialaugment-flip-crop")
    with pytest.raises(InputError, match="timm-recipe"):
        make(["timm"])


def test_trivialaugment_cutmix_is_trivialaugment_then_cutmix_on_half_the_images():
    policy = trivialaugment_cutmix()
    assert policy.distribution.cutmix == 0.5 and policy.distribution.mixup == 0.0
    np.testing.assert_array_equal(policy.apply(RGB, seed=3), TrivialAugment().apply(RGB, seed=3))
    labels = np.arange(len(RGB))  # one class per image: a mixed image's label shows it
    out, weights = policy.apply_with_labels(RGB, labels, num_classes=len(RGB), seed=3)
    np.testing.assert_array_equal(policy.without_mixing().apply(RGB, seed=3), TrivialAugment().apply(RGB, seed=3))
    assert 16 < int((weights.max(axis=1) < 1).sum()) < 48  # about half the labels mixed


def test_timm_recipe_is_deit_s_randaugment_mixup_cutmix_and_erasing():
    d = timm_recipe().distribution
    assert dataclasses.replace(d, erasing=0.0, cutmix=0.0, mixup=0.0) == \
        Policy.from_timm("rand-m9-mstd0.5-inc1").distribution  # timm's own string, read by deepaug
    assert (d.n, d.magnitude, d.magnitude_std) == (2, 0.9, 0.05)  # m9 and mstd0.5 on timm's 0..10 scale
    assert (d.erasing, d.cutmix, d.mixup) == (0.25, 0.5, 0.5)  # reprob 0.25; every image mixed, switch 1/2
    labels = np.arange(len(RGB))  # one class per image: a mixed image's label shows it
    out, weights = timm_recipe().apply_with_labels(RGB, labels, num_classes=len(RGB), seed=0)
    assert (weights.max(axis=1) < 1).mean() > 0.8  # nearly every image mixed (a box may come out empty)
    gray = timm_recipe(("rotate", "invert")).distribution  # a user's op set keeps p 1/2 per drawn op
    assert {op.name: op.weight for op in gray.ops} == {"identity": 0.5, "rotate": 0.25, "invert": 0.25}
