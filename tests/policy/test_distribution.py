"""Distribution policies (format_version 2) and the distribution search space."""
from __future__ import annotations

import json

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.policy.core import augment_nhwc
from deepaug.policy.baselines import DEFAULT_OPS, FlipCrop, RandAugment, TrivialAugment, TrivialAugmentFlipCrop
from deepaug.policy.distribution import Distribution, WeightedOp
from deepaug.search.distribution_space import COLOUR_ONLY, DistributionSpace
from deepaug.errors import InputError, PolicyError

SUB_POLICIES = Policy.from_list([[("rotate", 0.8, 0.5), ("invert", 0.3, 0.0)], [("cutout", 0.7, 0.5)]])
DISTRIBUTION = Policy.from_distribution(Distribution(
    (WeightedOp("rotate", 2.0), WeightedOp("equalize", 1.0, 0.5), WeightedOp("cutout", 1.0)),
    n=2, magnitude=0.8, spread=0.5, flip=0.5, crop=0.125, erasing=0.25))
KINDS = pytest.mark.parametrize("policy", [SUB_POLICIES, DISTRIBUTION], ids=["sub_policies", "distribution"])


@pytest.fixture(scope="module", params=["gray28", "rgb32"])
def images(request) -> np.ndarray:
    if request.param == "gray28":
        return natural_batch(16, 28, 28, 1, seed=1)
    return natural_batch(16, 32, 32, 3, seed=2)


# ---------------------------------------------------------------- the file format

@KINDS
def test_both_kinds_round_trip_through_json_files(policy, tmp_path):
    path = tmp_path / "policy.json"
    policy.to_json(path)
    assert Policy.load(path) == policy
    assert Policy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
    version = json.loads(path.read_text())["format_version"]
    assert version == (1 if policy.kind == "sub_policies" else 2)


def test_format_version_2_also_holds_sub_policies_and_version_1_loads_unchanged():
    v1 = SUB_POLICIES.to_dict()
    v2 = {"format_version": 2, "kind": "sub_policies", "sub_policies": v1["sub_policies"]}
    assert Policy.from_dict(v2) == Policy.from_dict(v1) == SUB_POLICIES


@pytest.mark.parametrize("data, message", [
    ({"format_version": 2, "kind": "grid", "distribution": {}}, "kind 'grid'"),
    ({"format_version": 2, "kind": "distribution"}, "no 'distribution'"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"ops": [{"op": "rotat"}]}}, "did you mean rotate"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"ops": [{"op": "rotate", "weight": -1}]}},
     "weight of op 'rotate'"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"ops": [{"op": "rotate"}], "n": 11}}, "n \\(ops"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"ops": [], "n": 1}}, "at least one op"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"magnitude": 1.5}}, "magnitude"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"crop": 0.9}}, "crop"),
    ({"format_version": 2, "kind": "distribution", "distribution": {"strength": 1}}, "unexpected keys \\['strength'\\]"),
    ({"format_version": 2, "kind": "distribution", "distribution": {}, "extra": 1}, "unexpected keys"),
    ({"format_version": 3, "sub_policies": []}, "reads format_version 1 and 2"),
])
def test_bad_policy_files_of_either_version_get_clear_errors(data, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PolicyError, match=message) as info:
        Policy.load(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- semantics

@KINDS
def test_same_seed_same_bytes_and_images_change(policy, images):
    a, b = policy.apply(images, seed=3), policy.apply(images, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, images) and not np.array_equal(a, policy.apply(images, seed=4))


def test_weights_decide_how_often_each_op_is_drawn():
    x = np.zeros((4000, 8, 8, 1), np.uint8)
    policy = Policy.from_distribution(Distribution((WeightedOp("identity", 3.0), WeightedOp("invert", 1.0)), n=1))
    share = (policy.apply(x, seed=0) == 255).all(axis=(1, 2, 3)).mean()
    assert 0.22 < share < 0.28  # invert drawn 1 time in 4


def test_an_empty_distribution_changes_nothing_and_the_base_alone_applies(images):
    assert not Policy.from_distribution(Distribution(n=0)).changes_images
    np.testing.assert_array_equal(Policy.from_distribution(Distribution(n=0)).apply(images, seed=0), images)
    flip_crop = Policy.from_distribution(Distribution(n=0, flip=0.5, crop=2 / images.shape[1]))
    np.testing.assert_array_equal(flip_crop.apply(images, seed=5), FlipCrop(2).apply(images, seed=5))


@KINDS
def test_both_kinds_apply_identically_in_numpy_keras_layer_and_tf_data(policy, images):
    tf = pytest.importorskip("tensorflow")
    from deepaug.policy.keras import PolicyLayer, policy_map_fn

    expected = augment_nhwc(policy, images, np.random.default_rng([7, 1, 0]))
    layer = PolicyLayer(policy, seed=7)
    np.testing.assert_array_equal(layer(images, training=True).numpy(), expected)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(len(images)).map(policy_map_fn(policy, seed=7))
    np.testing.assert_array_equal(next(iter(ds)).numpy(), expected)


# ---------------------------------------------------------------- the baselines are points of the space

def test_trivialaugment_and_randaugment_are_exact_points_of_the_space(images):
    channels = images.shape[-1]
    space = DistributionSpace(channels=channels)
    ops = tuple(o for o in DEFAULT_OPS if channels == 3 or o not in COLOUR_ONLY)
    for control, baseline in ((space.trivialaugment(), TrivialAugment(ops)),
                              (space.randaugment(), RandAugment(2, 9 / 30, ops))):
        assert control == baseline.policy
        assert space.to_policy(space.to_point(control)) == control
        np.testing.assert_array_equal(control.apply(images, seed=11), baseline.apply(images, seed=11))
    assert TrivialAugment().policy == DistributionSpace(channels=3).trivialaugment()


def test_trivialaugment_with_flip_and_crop_is_a_starting_point():
    space = DistributionSpace(channels=3)
    ta_fc = space.starting_policies()[0].distribution
    assert ta_fc.flip == 0.5 and ta_fc.crop == 1 / 16 and ta_fc.op_names == DEFAULT_OPS
    x = natural_batch(8, 32, 32, 3, seed=4)
    np.testing.assert_array_equal(space.starting_policies()[0].apply(x, seed=2),
                                  TrivialAugmentFlipCrop(2).apply(x, seed=2))


def test_the_space_has_few_dimensions_and_leaves_colour_ops_out_on_grayscale():
    rgb, gray = DistributionSpace(channels=3), DistributionSpace(channels=1)
    assert 10 <= len(rgb.skopt_dimensions()) <= 15
    assert not set(COLOUR_ONLY) & set(gray.ops)
    for point in gray.sample(50, seed=0):
        policy = gray.to_policy(point)
        assert not set(COLOUR_ONLY) & set(policy.distribution.op_names)
        assert gray.to_policy(gray.to_point(policy)) == policy


def test_points_outside_the_space_are_refused():
    space = DistributionSpace(channels=3)
    with pytest.raises(InputError, match="sub-policy"):
        space.to_point(SUB_POLICIES)
    with pytest.raises(InputError, match="one weight"):
        space.to_point(DISTRIBUTION)
    with pytest.raises(InputError, match="at least one op"):
        DistributionSpace(ops=("horizontal-flip",))


def test_a_distribution_policy_is_truthy_although_it_has_no_sub_policies():
    assert len(DISTRIBUTION) == 0 and bool(DISTRIBUTION) and bool(SUB_POLICIES)
