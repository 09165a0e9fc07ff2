"""deepaug.adapters.albumentations.to_albumentations on real albumentations: per-op tolerances,
structure, A.save round trip."""
from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
A = pytest.importorskip("albumentations")

from deepaug import Policy, ops  # noqa: E402
from deepaug.errors import PolicyError  # noqa: E402
from deepaug.adapters import albumentations as albu  # noqa: E402
from deepaug.adapters.albumentations import to_albumentations  # noqa: E402
from deepaug.policy.baselines import TrivialAugment  # noqa: E402


def smooth_images(n: int = 6, size: int = 32) -> np.ndarray:
    """Smooth colour gradients with one hard-edged rectangle: what photos look like to these ops."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        a, b, c = rng.random((3, 3)) * 255
        img = a * yy[..., None] + b * xx[..., None] + c * (1 - xx[..., None]) * yy[..., None]
        y0, x0 = rng.integers(4, size // 2, 2)
        img[y0:y0 + size // 3, x0:x0 + size // 3] = rng.random(3) * 255
        out[i] = np.clip(img / 2 + 40, 0, 255).astype(np.uint8)
    return out


def fixed(name: str, value: float) -> object:
    """The albumentations transform of op `name` at exactly this parameter, always applied."""
    transform = albu.BUILDERS[name](A, value, value, 32)
    transform.p = 1.0
    return transform


@pytest.mark.parametrize("name", sorted(albu.TOLERANCE))
def test_each_op_matches_deepaug_within_its_documented_tolerance(name):
    spec, x = ops.get(name), smooth_images()
    for magnitude in (0.3, 0.8):
        value = albu.parameter(name, magnitude)
        signs = (1.0, -1.0) if spec.signed else (1.0,)
        for i in range(len(x)):
            ours = spec.fn(x[i:i + 1], np.array([value]), np.random.default_rng(0))[0].astype(float)
            # deepaug's positive sign is one of albumentations' two branches (their angle conventions differ)
            theirs = [A.Compose([fixed(name, s * value)], seed=0)(image=x[i])["image"] for s in signs]
            diff = min(np.abs(t.astype(float) - ours).mean() for t in theirs)
            assert diff <= albu.TOLERANCE[name] + 1e-9, (name, magnitude, i, diff)


def test_sub_policies_translate_to_one_of_sequences_and_save_and_load(tmp_path, caplog):
    policy = Policy.from_list([[("rotate", 0.7, 0.4), ("equalize", 0.6, 0.0)],
                               [("color", 0.5, 0.7), ("cutout", 0.8, 0.6)]])
    with pytest.warns(UserWarning) as record:
        pipeline = to_albumentations(policy, size=32, seed=0)
    warned = sorted(str(w.message) for w in record)
    assert len(warned) == 2 and "'cutout' is approximate" in warned[0] and "'equalize' is approximate" in warned[1]
    assert "up to 154/255 per pixel on photos and 255/255 on flat-background images" in warned[1]
    (choice,) = pipeline.transforms
    assert isinstance(choice, A.OneOf) and [type(t) for t in choice.transforms] == [A.Sequential] * 2
    rotate = choice.transforms[0].transforms[0]
    assert isinstance(rotate, A.OneOf) and rotate.p == 0.7  # the random sign: two branches
    assert [t.limit for t in rotate.transforms] == [(12.0, 12.0), (-12.0, -12.0)]
    A.save(pipeline, str(tmp_path / "policy.json"))
    loaded = A.load(str(tmp_path / "policy.json"))
    x = smooth_images(1)[0]
    np.testing.assert_array_equal(loaded(image=x)["image"].shape, x.shape)
    assert A.to_dict(loaded) == A.to_dict(pipeline)


def test_a_distribution_translates_layer_by_layer_with_its_weights():
    policy = Policy.from_distribution({"ops": [{"op": "rotate", "weight": 3}, {"op": "invert", "weight": 1}],
                                       "n": 2, "magnitude": 0.5, "spread": 0.0, "flip": 0.5, "crop": 0.1,
                                       "erasing": 0.25})
    pipeline = to_albumentations(policy, size=20)
    kinds = [type(t).__name__ for t in pipeline.transforms]
    assert kinds == ["HorizontalFlip", "Affine", "OneOf", "OneOf", "CoarseDropout"]
    assert pipeline.transforms[1].translate_px == {"x": (-2, 2), "y": (-2, 2)}
    assert [t.p for t in pipeline.transforms[2].transforms] == [0.75, 0.25]
    assert pipeline.transforms[4].p == 0.25
    out = pipeline(image=smooth_images(1, 20)[0])["image"]
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    with pytest.warns(UserWarning, match="'equalize' is approximate"):
        assert to_albumentations(TrivialAugment().policy, size=32) is not None
        assert to_albumentations("trivialaugment", size=32) is not None  # any policy argument


def test_exact_ops_translate_without_a_warning_and_side_ops_need_the_size(caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug.adapters.albumentations"), warnings.catch_warnings():
        warnings.simplefilter("error")
        to_albumentations(Policy.from_list([[("invert", 0.5, 0.0), ("rotate", 1.0, 0.5)]]))
        to_albumentations(Policy.from_list([[("timm-posterize-increasing", 1.0, 0.9), ("shear-y", 0.5, 0.3),
                                             ("timm-solarize", 1.0, 0.5), ("desaturate", 1.0, 0.5)]]), size=32)
    assert caplog.text == ""
    with pytest.raises(PolicyError, match="pass size="):
        to_albumentations(Policy.from_list([[("gaussian-blur", 1.0, 0.5)]]))
    with pytest.raises(PolicyError, match="size must be the image side"):
        to_albumentations(Policy.from_list([[("invert", 1.0, 0.5)]]), size=0)


def test_policy_to_albumentations_still_works_and_names_the_adapter():
    policy = Policy.from_list([[("invert", 0.5, 0.0)]])
    with pytest.warns(DeprecationWarning, match="deepaug.adapters.albumentations.to_albumentations"):
        pipeline = policy.to_albumentations(seed=0)
    assert A.to_dict(pipeline) == A.to_dict(to_albumentations(policy, seed=0))
    with pytest.warns(DeprecationWarning, match="deepaug.policy.albumentations.TOLERANCE moved to "
                                                "deepaug.adapters.albumentations.TOLERANCE"):
        from deepaug.policy.albumentations import TOLERANCE
    assert TOLERANCE is albu.TOLERANCE


def flat_shapes(n: int = 8) -> np.ndarray:
    """Bright shapes on a black background, as Fashion-MNIST's images are (28x28 gray)."""
    rng = np.random.default_rng(1)
    out = np.zeros((n, 28, 28, 1), np.uint8)
    for image in out:
        y, x, h, w = rng.integers(3, 12, 4)
        image[y:y + h + 6, x:x + w + 6] = rng.integers(60, 256)
        image[y + 2:y + 5, x + 2:x + w] = rng.integers(0, 60)
    return out


@pytest.mark.parametrize("name", ["equalize", "auto-contrast", "sharpness"])
def test_the_ops_the_issue_saw_differ_on_flat_backgrounds_within_their_worst_case_and_warn(name):
    spec, x = ops.get(name), flat_shapes()
    value = albu.parameter(name, 0.8)
    ours = spec.fn(x, np.full(len(x), value), np.random.default_rng(0)).astype(int)
    theirs = np.stack([A.Compose([fixed(name, value)], seed=0)(image=im.copy())["image"].reshape(im.shape)
                       for im in x])
    assert np.abs(ours - theirs).max() <= albu.WORST[name][1]
    assert name not in albu.EXACT and max(albu.WORST[name]) > 1
    with pytest.warns(UserWarning, match=f"'{name}' is approximate"):
        to_albumentations(Policy.from_list([[(name, 1.0, 0.8)]]), size=28)


def test_every_translated_op_is_measured_or_named_as_unmeasurable():
    unmeasured = set(albu.BUILDERS) - set(albu.WORST) - albu.NO_EQUIVALENT
    assert unmeasured == {"identity", "crop", "cutout", "dropout", "coarse-dropout", "coarse-salt-pepper",
                          "additive-gaussian-noise", "fog", "timm-gaussian-blur-rand"}
    assert set(ops.names()) <= set(albu.BUILDERS) | albu.NO_EQUIVALENT
    assert "solarize-add" in albu.approximate_ops(Policy.from_list([[("solarize-add", 1.0, 0.5)]]))
    assert "no albumentations transform" in albu.approximation("solarize-add")
