"""MixUp beside CutMix in a distribution's batch step, Gaussian magnitude noise (timm's mstd), and
files written before either existed."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.errors import PolicyError
from deepaug.policy.distribution import Distribution
from deepaug.policy.mixing import mixing_groups

N = 200


def flat_batch(n: int = N, side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """n flat images, image k all grey level k (so each pixel says where it came from), label k."""
    levels = np.arange(n, dtype=np.uint8)
    return np.repeat(levels[:, None], side * side, axis=1).reshape(n, side, side, 1), np.arange(n)


MIXUP = Policy.from_distribution(Distribution(n=0, mixup=1.0))  # the batch step alone, MixUp on every image


def test_mixup_blends_each_image_with_another_and_weights_labels_by_the_same_lam():
    x, labels = flat_batch()
    out, weights = MIXUP.apply_with_labels(x, labels, num_classes=N, seed=3)
    np.testing.assert_array_equal(MIXUP.apply(x, seed=3), x)  # apply() is per-image: nothing to do here
    assert weights.dtype == np.float32 and weights.shape == (N, N)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    lams = []
    for i in range(N):
        lam = weights[i, i]
        others = np.flatnonzero(weights[i] > 0)
        partner = [j for j in others if j != i]
        assert 0.0 <= lam <= 1.0 and len(partner) <= 1  # one partner, never itself
        j = partner[0] if partner else i
        assert np.all(out[i] == out[i, 0, 0, 0])  # a blend of two flat images is flat
        assert abs(int(out[i, 0, 0, 0]) - (lam * i + (1 - lam) * j)) <= 0.5 + 1e-3  # rounded blend, same lam
        lams.append(lam)
    lams = np.array(lams)
    # Beta(0.8, 0.8): U-shaped on [0, 1], mean 1/2, std 0.31; both ends well used
    assert abs(lams.mean() - 0.5) < 0.07 and 0.26 < lams.std() < 0.36
    assert (lams < 0.1).sum() > 10 and (lams > 0.9).sum() > 10


def test_cutmix_and_mixup_split_the_images_and_never_share_one():
    rng = np.random.default_rng(0)
    (cut, cut_partner), (blend, blend_partner) = mixing_groups(10_000, 0.25, 0.5, rng)
    assert not set(cut) & set(blend)
    assert abs(cut.size / 10_000 - 0.25) < 0.02 and abs(blend.size / 10_000 - 0.5) < 0.02
    assert np.all(cut_partner != cut) and np.all(blend_partner != blend)
    (cut, _), (blend, _) = mixing_groups(1000, 0.5, 0.5, rng)  # timm's switching: every image mixed
    assert sorted(np.concatenate([cut, blend])) == list(range(1000)) and 400 < cut.size < 600
    # in the images: CutMix leaves two grey levels (a box), MixUp one (a flat blend)
    x, labels = flat_batch()
    both = Policy.from_distribution(Distribution(n=0, cutmix=0.5, mixup=0.5))
    out, weights = both.apply_with_labels(x, labels, num_classes=N, seed=5)
    boxes = sum(len(np.unique(image)) == 2 for image in out)
    blends = sum(len(np.unique(image)) == 1 and weights[i, i] < 1 for i, image in enumerate(out))
    assert boxes + blends >= N - 5 and 60 < boxes < 140  # a box of area ~0 may leave an image unchanged
    with pytest.raises(PolicyError, match="cutmix 0.6 \\+ mixup 0.5"):
        Distribution(n=0, cutmix=0.6, mixup=0.5)
    with pytest.raises(PolicyError, match="mixup \\(probability per image\\)"):
        Distribution(n=0, mixup=-0.1)


@pytest.mark.parametrize("fields", [{"mixup": 0.5}, {"cutmix": 0.3, "mixup": 0.7}], ids=["mixup", "switching"])
def test_the_same_seed_gives_the_same_mixed_bytes_and_labels(fields):
    policy = Policy.from_distribution(Distribution.uniform(("rotate", "equalize"), n=1, **fields))
    x = natural_batch(32, 16, 16, 3, seed=4)
    labels = np.arange(32) % 5
    a, b, c = (policy.apply_with_labels(x, labels, num_classes=5, seed=s) for s in (8, 8, 9))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    one, w = policy.apply_with_labels(x[:1], labels[:1], num_classes=5, seed=8)  # no partner: unmixed
    np.testing.assert_array_equal(w, np.eye(5, dtype=np.float32)[labels[:1]])


def test_mixup_round_trips_and_mixes_labels_like_cutmix():
    policy = Policy.from_distribution(Distribution.uniform(("rotate",), cutmix=0.5, mixup=0.5))
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["distribution"]["mixup"] == 0.5 and Policy.from_dict(data) == policy
    assert policy.mixes_labels and Policy.from_distribution(Distribution(n=0, mixup=0.2)).mixes_labels
    plain = policy.without_mixing()
    assert not plain.mixes_labels and plain.distribution.mixup == plain.distribution.cutmix == 0.0
    assert "cutmix p=0.5; mixup p=0.5" in str(policy) and policy.distribution.mixing == "CutMix p=0.5, MixUp p=0.5"
    assert Distribution(n=0, mixup=0.1).changes_images


# ---------------------------------------------------------------- files written before mixup and magnitude_std

# A policy file as format_version 2 wrote it before `mixup` and `magnitude_std` existed, and the sha256 of what it
# gave then (commit 36ce81a: natural_batch(32, 28, 28, 3, seed=5), labels k % 10, seed 11). Pure-numpy ops only,
# so the digests do not depend on OpenCV's interpolation.
OLD_FILE = {"format_version": 2, "kind": "distribution",
            "distribution": {"ops": [{"op": "posterize", "weight": 1.0, "scale": 1.0},
                                     {"op": "solarize", "weight": 2.0, "scale": 1.0},
                                     {"op": "brightness", "weight": 1.0, "scale": 1.0},
                                     {"op": "equalize", "weight": 1.0, "scale": 0.5}],
                             "n": 2, "magnitude": 0.8, "spread": 1.0, "levels": 31, "flip": 0.5, "crop": 0.125,
                             "erasing": 0.5, "cutmix": 0.5}}
OLD_MIXED = "2c89fd533880cb09de9437896ece862ccd102622d4ee16bde1078347c13b5b21"
OLD_PER_IMAGE = "35a6e6a1215e9a81bb25840efd4fe47db1e40d7b86d81edf885354009e74a040"


@pytest.mark.parametrize("extra", [{}, {"mixup": 0.0, "magnitude_std": 0.0}], ids=["as_written", "zeros_spelt_out"])
def test_old_files_load_unchanged_and_give_the_bytes_they_gave(extra):
    data = json.loads(json.dumps(OLD_FILE))
    data["distribution"].update(extra)
    policy = Policy.from_dict(data)
    assert policy.to_dict() == OLD_FILE  # written back key for key, no new keys
    x = natural_batch(32, 28, 28, 3, seed=5)
    out, weights = policy.apply_with_labels(x, np.arange(32) % 10, num_classes=10, seed=11)
    assert hashlib.sha256(out.tobytes() + weights.tobytes()).hexdigest() == OLD_MIXED
    assert hashlib.sha256(policy.apply(x, seed=11).tobytes()).hexdigest() == OLD_PER_IMAGE


# ---------------------------------------------------------------- magnitude noise (timm's mstd)

def brighten_magnitudes(magnitude: float, std: float, n: int = 4000, seed: int = 0) -> np.ndarray:
    """The magnitude each image drew, read back from `brighten` (+-64 levels at magnitude 1) on grey 128."""
    policy = Policy.from_distribution(Distribution.uniform(("brighten",), n=1, magnitude=magnitude, spread=0.0,
                                                           magnitude_std=std))
    out = policy.apply(np.full((n, 2, 2, 1), 128, np.uint8), seed=seed)
    return np.abs(out[:, 0, 0, 0].astype(float) - 128) / 64


def test_magnitude_noise_is_gaussian_around_the_magnitude_and_clipped_to_0_1():
    drawn = brighten_magnitudes(0.5, 0.1)
    assert abs(drawn.mean() - 0.5) < 0.01 and abs(drawn.std() - 0.1) < 0.01
    assert np.all(brighten_magnitudes(0.5, 0.0) == 0.5)  # std 0: exactly the magnitude, as before
    top = brighten_magnitudes(0.95, 0.2)
    assert top.max() <= 1.0 and 0.3 < (top == 1.0).mean() < 0.55  # clipped at 1: P(noise > 0.05) ~ 0.4
    bottom = brighten_magnitudes(0.0, 0.2)
    assert bottom.min() == 0.0 and 0.4 < (bottom == 0.0).mean() < 0.6  # clipped at 0: half the draws
    assert Distribution.uniform(("brighten",), magnitude=0.0, spread=0.0, magnitude_std=0.2).changes_images
    assert not Distribution.uniform(("brighten",), magnitude=0.0, spread=0.0).changes_images


def test_magnitude_std_zero_draws_nothing_and_the_key_round_trips():
    base = Distribution.uniform(("rotate", "equalize", "posterize"), n=2, magnitude=0.6, spread=0.5)
    x = natural_batch(16, 16, 16, 3, seed=1)
    zero = Policy.from_distribution(dataclasses.replace(base, magnitude_std=0.0))
    np.testing.assert_array_equal(zero.apply(x, seed=2), Policy.from_distribution(base).apply(x, seed=2))
    noisy = Policy.from_distribution(dataclasses.replace(base, magnitude_std=0.05))
    assert not np.array_equal(noisy.apply(x, seed=2), zero.apply(x, seed=2))
    np.testing.assert_array_equal(noisy.apply(x, seed=2), noisy.apply(x, seed=2))
    assert "magnitude_std" not in zero.to_dict()["distribution"]
    assert Policy.from_dict(json.loads(json.dumps(noisy.to_dict()))) == noisy
    assert "+- N(0, 0.05)" in str(noisy)
    with pytest.raises(PolicyError, match="magnitude_std"):
        Distribution(n=0, magnitude_std=-0.1)


def test_timm_mstd_reads_as_magnitude_std_on_deepaug_s_scale_and_writes_back():
    d = Policy.from_timm("rand-m9-mstd0.5-inc1").distribution
    assert (d.magnitude, d.spread, d.magnitude_std) == (0.9, 0.0, 0.05)
    assert Policy.from_timm("rand-m9-mstd0.5-inc1").to_timm() == "rand-m9-n2-mstd0.5-inc1"
    assert Policy.from_timm("rand-m7-n1-mstd2-p1-inc1").to_timm() == "rand-m7-n1-mstd2-p1-inc1"
    with pytest.raises(PolicyError, match="not both"):
        Policy.from_distribution(dataclasses.replace(Policy.from_timm("rand-m9-mstd101-inc1").distribution,
                                                     magnitude_std=0.05)).to_timm()
    with pytest.raises(PolicyError, match="MixUp"):
        Policy.from_distribution(dataclasses.replace(d, mixup=0.5)).to_timm()


# ---------------------------------------------------------------- what sees no labels

def test_albumentations_leaves_mixup_out_and_draws_the_noise_uniformly(caplog):
    pytest.importorskip("albumentations")
    from deepaug.adapters.albumentations import to_albumentations

    policy = Policy.from_distribution(Distribution.uniform(("brighten",), n=1, magnitude=0.5, spread=0.0,
                                                           magnitude_std=0.1, mixup=0.5))
    with caplog.at_level(logging.WARNING):
        pipeline = to_albumentations(policy, size=8, seed=0)
    assert "MixUp p=0.5" in caplog.text and "per-image steps only" in caplog.text
    assert "magnitude_std 0.1" in caplog.text
    x = np.full((8, 8, 1), 128, np.uint8)
    drawn = np.array([abs(int(pipeline(image=x)["image"][0, 0, 0]) - 128) / 64 for _ in range(2000)])
    assert abs(drawn.mean() - 0.5) < 0.015 and abs(drawn.std() - 0.1) < 0.015  # the same mean and std


def test_tf_data_mixes_a_mixup_policy_s_labelled_batches_as_training_does():
    tf = pytest.importorskip("tensorflow")
    from deepaug.adapters.keras import policy_map_fn

    policy = Policy.from_distribution(Distribution.uniform(("equalize",), cutmix=0.5, mixup=0.5))
    x, labels = natural_batch(16, 16, 16, 3, seed=3), np.arange(16) % 4
    batches = tf.data.Dataset.from_tensor_slices((x, labels)).batch(8).map(policy_map_fn(policy, seed=3,
                                                                                       num_classes=4))
    for k, (images, weights) in enumerate(batches):
        want = policy.apply_with_labels(x[8 * k:8 * k + 8], labels[8 * k:8 * k + 8], num_classes=4,
                                        seed=np.random.default_rng([3, 1, k]))
        np.testing.assert_array_equal(images.numpy(), want[0])
        np.testing.assert_array_equal(weights.numpy(), want[1])
