"""Distribution policies (format_version 2) and the distribution search space."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.policy.apply import augment_nhwc
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
    from deepaug.adapters.keras import PolicyLayer, policy_map_fn

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


# ---------------------------------------------------------------- CutMix (the batch step)

CUTMIX = Policy.from_distribution(Distribution.uniform(("rotate", "equalize"), n=1, cutmix=0.5))


def test_cutmix_round_trips_and_files_without_it_stay_as_they_were():
    assert Policy.from_dict(json.loads(json.dumps(CUTMIX.to_dict()))) == CUTMIX
    assert CUTMIX.to_dict()["distribution"]["cutmix"] == 0.5 and "cutmix" not in DISTRIBUTION.to_dict()["distribution"]
    assert CUTMIX.mixes_labels and not DISTRIBUTION.mixes_labels and not SUB_POLICIES.mixes_labels
    assert not CUTMIX.without_mixing().mixes_labels and CUTMIX.without_mixing().distribution.n == 1
    assert "cutmix p=0.5" in str(CUTMIX)
    with pytest.raises(PolicyError, match="cutmix"):
        Distribution(n=0, cutmix=1.5)


def test_cutmix_pastes_boxes_from_other_images_and_weights_labels_by_the_pixels_kept():
    # Each image is one flat grey level, so every pixel tells which image it came from.
    n = 64
    x = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None] * 3, 28 * 28, axis=1).reshape(n, 28, 28, 1)
    labels = np.arange(n) % 10
    policy = Policy.from_distribution(Distribution(n=0, cutmix=0.5))  # the batch step alone
    out, weights = policy.apply_with_labels(x, labels, num_classes=10, seed=7)
    np.testing.assert_array_equal(policy.apply(x, seed=7), x)  # apply() is per-image: nothing to do here
    assert weights.shape == (n, 10) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    mixed = 0
    for i in range(n):
        sources, counts = np.unique(out[i] // 3, return_counts=True)
        expected = np.zeros(10, np.float32)
        for source, count in zip(sources, counts):
            assert source == i or count < 28 * 28  # a pasted box never covers a whole image from another
            expected[labels[source]] += count / (28 * 28)
        np.testing.assert_allclose(weights[i], expected, atol=1e-6)
        mixed += len(sources) > 1
    assert 16 <= mixed <= 48  # about half the images (p=0.5)
    again = policy.apply_with_labels(x, labels, num_classes=10, seed=7)
    np.testing.assert_array_equal(again[0], out)
    np.testing.assert_array_equal(again[1], weights)


def test_mixing_pairs_picks_about_cutmix_of_the_batch_each_with_another_image():
    rng = np.random.default_rng(3)
    hit, partner = Distribution(n=0, cutmix=0.5).mixing_pairs(1000, rng)
    assert 400 <= hit.size <= 600 and partner.shape == hit.shape
    assert np.all(partner != hit) and partner.min() >= 0 and partner.max() < 1000
    assert len(np.unique(partner)) > 300  # partners spread over the batch, not one image
    state = rng.bit_generator.state
    for distribution, n in ((Distribution(n=0), 64), (Distribution(n=0, cutmix=1.0), 1)):
        hit, partner = distribution.mixing_pairs(n, rng)
        assert hit.size == partner.size == 0 and rng.bit_generator.state == state  # nothing drawn


def test_apply_with_labels_gives_apply_s_images_before_mixing_and_checks_labels(images):
    no_mix = CUTMIX.without_mixing()
    out, weights = no_mix.apply_with_labels(images, np.zeros(len(images), int), num_classes=3, seed=5)
    np.testing.assert_array_equal(out, CUTMIX.apply(images, seed=5))
    np.testing.assert_array_equal(weights, np.eye(3, dtype=np.float32)[np.zeros(len(images), int)])
    one, w1 = CUTMIX.apply_with_labels(images[:1], [2], num_classes=3, seed=5)  # no partner: unmixed
    np.testing.assert_array_equal(w1, [[0, 0, 1]])
    with pytest.raises(PolicyError, match="class indices"):
        CUTMIX.apply_with_labels(images, np.zeros(3, int), seed=5)
    with pytest.raises(PolicyError, match="out of range"):
        CUTMIX.apply_with_labels(images, np.full(len(images), 4), num_classes=3, seed=5)


def test_the_space_has_cutmix_and_starts_from_trivialaugment_with_it():
    space = DistributionSpace(channels=1)
    starts = space.starting_policies()
    with_cutmix = [p for p in starts if p.mixes_labels]
    assert with_cutmix and with_cutmix[0].without_mixing() == space.trivialaugment()
    assert not space.trivialaugment().mixes_labels and not space.randaugment().mixes_labels
    assert space.to_policy(space.to_point(with_cutmix[0])) == with_cutmix[0]
    # the starts are published recipes: TrivialAugment's magnitudes that pilots on Fashion-MNIST
    # found with CutMix ([0, 0.5], [0, 0.3]) are only in the starts experiments stored with them resume with
    def milder(starts):
        return sorted(p.distribution.magnitude for p in starts if p.mixes_labels and p.distribution.n == 1
                      and p.distribution.magnitude < 1)

    assert milder(starts) == [] and milder(space.starting_policies(pilot=True)) == [0.3, 0.5]
    assert all(space.to_policy(space.to_point(p)) == p for p in starts)
    assert {space.to_policy(p).distribution.cutmix for p in space.sample(40, seed=1)} == {0.0, 0.25, 0.5, 1.0}


def test_tf_data_mixes_labelled_batches_as_training_does_and_says_what_it_needs(images):
    tf = pytest.importorskip("tensorflow")
    from deepaug.adapters.keras import policy_map_fn

    labels = np.arange(len(images)) % 4
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    out = [(x.numpy(), y.numpy()) for x, y in batches.map(policy_map_fn(CUTMIX, seed=3, num_classes=4))]
    for k, (x, y) in enumerate(out):  # call k draws from default_rng([seed, 1, k]), as training step k
        want = CUTMIX.apply_with_labels(images[8 * k:8 * k + 8], labels[8 * k:8 * k + 8], num_classes=4,
                                        seed=np.random.default_rng([3, 1, k]))
        np.testing.assert_array_equal(x, want[0])
        np.testing.assert_array_equal(y, want[1])
    assert any((y.max(axis=1) < 1).any() for _, y in out)  # some labels were mixed
    onehot = batches.map(lambda x, y: (x, tf.one_hot(y, 4)))  # label weights need no num_classes
    x0, y0 = next(iter(onehot.map(policy_map_fn(CUTMIX, seed=3))))
    np.testing.assert_array_equal(y0.numpy(), out[0][1])
    with pytest.raises(InputError, match="num_classes"):
        batches.map(policy_map_fn(CUTMIX, seed=3))


def test_what_sees_no_labels_applies_the_per_image_steps_and_says_so(images, caplog, tmp_path):
    pytest.importorskip("tensorflow")
    from deepaug.augmentation.plan import make_plan
    from deepaug.adapters.keras import PolicyLayer

    with caplog.at_level("WARNING", logger="deepaug.policy.apply"):
        layer = PolicyLayer(CUTMIX, seed=7)
    assert "per-image steps only" in caplog.text and "policy_map_fn" in caplog.text
    np.testing.assert_array_equal(layer(images, training=True).numpy(),
                                  CUTMIX.apply(images, seed=np.random.default_rng([7, 1, 0])))
    caplog.clear()
    policy_file = tmp_path / "policy.json"
    CUTMIX.to_json(policy_file)
    (tmp_path / "src" / "a").mkdir(parents=True)
    import cv2
    cv2.imwrite(str(tmp_path / "src" / "a" / "0.png"), images[0])
    with caplog.at_level("WARNING", logger="deepaug.policy.apply"):
        plan = make_plan(str(policy_file), tmp_path / "src", tmp_path / "out", variants=1)
    assert "deepaug augment applies the policy's per-image steps only" in caplog.text
    assert plan.recipe.policy == CUTMIX.without_mixing()  # the run records what its outputs hold
    timm = Policy.from_timm("rand-m9-n2-mstd0")
    with pytest.raises(PolicyError, match="CutMix"):
        Policy.from_distribution(dataclasses.replace(timm.distribution, cutmix=0.5)).to_timm()
