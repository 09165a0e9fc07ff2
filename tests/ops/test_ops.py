"""Every registered op: shapes, dtypes, determinism, identity at magnitude 0, semantics."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from _images import natural_batch
from deepaug import ops
from deepaug.errors import ImageError, PolicyError
from deepaug.ops.registry import CHUNK_BYTES

ALL = ops.names()
SHAPES = [(3, 8, 8, None), (3, 8, 8, 1), (4, 32, 32, 3), (2, 9, 13, 3), (1, 1024, 1024, 3)]
COLOR_ONLY = {"color", "add-to-hue-and-saturation", "timm-color", "desaturate"}  # identity on grayscale by design
# timm's tables that are the identity at their top level (PosterizeOriginal keeps 8 bits, Solarize's threshold is 256)
IDENTITY_AT_ONE = {"timm-posterize-original", "timm-solarize"}


def batch(shape):
    n, h, w, c = shape
    return natural_batch(n, h, w, c, seed=h * 31 + w)


def _draws_nothing(name: str, fixed_params: bool) -> bool:
    """True when the op gives the same output under two seeds (it draws no random values)."""
    spec, x = ops.get(name), batch((4, 12, 12, 3))
    if fixed_params:
        params = np.full(4, spec.low + 0.6 * (spec.high - spec.low))
        return np.array_equal(spec.fn(x, params, np.random.default_rng(1)),
                              spec.fn(x, params, np.random.default_rng(2)))
    return np.array_equal(spec(x, 0.6, rng=1), spec(x, 0.6, rng=2))


# Ops that draw nothing at all, and ops that draw nothing once their parameters are fixed
# (the signed ops draw only a sign).
UNSEEDED = [n for n in ALL if _draws_nothing(n, fixed_params=False)]
PARAM_ONLY = [n for n in ALL if _draws_nothing(n, fixed_params=True)]


def test_random_ops_are_classified():
    assert {"invert", "equalize", "solarize"} <= set(UNSEEDED)
    assert {"rotate", "brighten", "contrast"} <= set(PARAM_ONLY) - set(UNSEEDED)
    assert not {"cutout", "additive-gaussian-noise", "crop"} & set(PARAM_ONLY)


def test_registry_has_deepaugment_and_autoaugment_ops():
    deepaugment = ["crop", "gaussian-blur", "rotate", "shear", "translate-x", "translate-y", "sharpen",
                   "emboss", "additive-gaussian-noise", "dropout", "coarse-dropout", "gamma-contrast",
                   "brighten", "invert", "fog", "clouds", "add-to-hue-and-saturation",
                   "coarse-salt-pepper", "horizontal-flip", "vertical-flip"]
    autoaugment = ["auto-contrast", "equalize", "solarize", "posterize", "contrast", "color",
                   "brightness", "sharpness", "cutout"]
    assert set(deepaugment + autoaugment) <= set(ALL)
    assert len(ALL) == len(set(ALL))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(str(v) for v in s if v))
@pytest.mark.parametrize("name", ALL)
def test_op_keeps_shape_dtype_and_input(name, shape):
    x = batch(shape)
    before = x.copy()
    for m in (0.0, 0.5, 1.0):
        y = ops.get(name)(x, m, rng=3)
        assert y.shape == x.shape and y.dtype == np.uint8
        assert y is not x
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", ALL)
def test_op_is_deterministic_by_seed(name):
    x = batch((6, 32, 32, 3))
    a = ops.get(name)(x, 0.7, rng=11)
    b = ops.get(name)(x, 0.7, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: "x".join(str(v) for v in s if v))
@pytest.mark.parametrize("name", [n for n in ALL if ops.get(n).uses_magnitude and ops.get(n).zero_is_identity])
def test_magnitude_zero_is_identity(name, shape):
    x = batch(shape)
    np.testing.assert_array_equal(ops.get(name)(x, 0.0, rng=0), x)


@pytest.mark.parametrize("c", [None, 3])
@pytest.mark.parametrize("name", [n for n in ALL if n != "identity"])
def test_op_changes_images_at_full_magnitude(name, c):
    x = batch((8, 32, 32, c))
    y = ops.get(name)(x, 0.0 if name in IDENTITY_AT_ONE else 1.0, rng=0)
    if c is None and name in COLOR_ONLY:
        np.testing.assert_array_equal(y, x)  # no hue or saturation on a gray image
    else:
        assert not np.array_equal(y, x), f"{name} at magnitude 1 left every image unchanged"


@pytest.mark.parametrize("name", UNSEEDED)
def test_batching_does_not_change_deterministic_ops(name):
    """Ops that draw nothing give the same bytes per image alone or in a chunked batch."""
    x = batch((CHUNK_BYTES // (16 * 16 * 3) * 2 + 5, 16, 16, 3))
    spec = ops.get(name)
    whole = spec(x, 0.6, rng=1)
    for i in (0, len(x) // 2, len(x) - 1):
        np.testing.assert_array_equal(whole[i], spec(x[i:i + 1], 0.6, rng=1)[0])


def test_per_image_magnitudes_match_single_image_runs():
    """Many distinct magnitudes (TrivialAugment) take the per-image LUT path; same result."""
    x = batch((20, 16, 16, 3))
    mags = np.linspace(0.0, 1.0, 20)
    spec = ops.get("gamma-contrast")
    params = spec.params(mags, 20, np.random.default_rng(5))
    out = spec.fn(x, params, np.random.default_rng(0))
    for i in range(20):
        np.testing.assert_array_equal(out[i], spec.fn(x[i:i + 1], params[i:i + 1], np.random.default_rng(0))[0])


def test_no_wraparound_at_the_ends_of_the_range():
    bright = np.full((2, 8, 8, 3), 250, np.uint8)
    dark = np.full((2, 8, 8, 3), 5, np.uint8)
    assert ops.get("brighten").fn(bright, np.array([64.0, 64.0]), None).min() == 255
    assert ops.get("brighten").fn(dark, np.array([-64.0, -64.0]), None).max() == 0
    assert ops.get("brightness").fn(bright, np.array([0.9, 0.9]), None).min() == 255
    noisy = ops.get("additive-gaussian-noise")(np.full((4, 32, 32, 3), 255, np.uint8), 1.0, rng=0)
    assert noisy.min() > 255 - 6 * 51  # a wrap-around would give values near 0
    assert (noisy == 255).mean() > 0.4  # half the noise is positive and clips at 255


def test_flips_invert_and_translate_are_exact():
    x = batch((3, 8, 8, 3))
    np.testing.assert_array_equal(ops.get("horizontal-flip")(x, 0.5, 0), x[:, :, ::-1])
    np.testing.assert_array_equal(ops.get("vertical-flip")(x, 0.5, 0), x[:, ::-1])
    np.testing.assert_array_equal(ops.get("invert")(ops.get("invert")(x, 0, 0), 0, 0), x)
    shifted = ops.get("translate-x").fn(x, np.array([0.25, 0.25, 0.25]), None)  # 2 px right
    np.testing.assert_array_equal(shifted[:, :, 2:], x[:, :, :-2])
    assert (shifted[:, :, :2] == 0).all()
    down = ops.get("translate-y").fn(x, np.array([-0.25] * 3), None)  # 2 px up
    np.testing.assert_array_equal(down[:, :-2], x[:, 2:])


def test_rotate_by_180_degrees_mirrors_both_axes():
    x = batch((2, 9, 9, 3))
    out = ops.get("rotate").fn(x, np.array([180.0, -180.0]), None)
    np.testing.assert_array_equal(out, x[:, ::-1, ::-1])


def test_solarize_and_posterize_tables():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    sol = ops.get("solarize").fn(levels, np.array([128.0]), None).ravel().astype(int)
    v = np.arange(256)
    np.testing.assert_array_equal(sol, np.where(v >= 128, 255 - v, v))
    post = ops.get("posterize")(levels, 1.0, 0).ravel()
    np.testing.assert_array_equal(post, v & 0xF0)


@pytest.mark.parametrize("c", [1, 3])
def test_equalize_and_auto_contrast_match_pil(c):
    x = batch((4, 24, 20, c))
    x[1] //= 3  # a low-contrast image
    eq = ops.get("equalize")(x, 0.0, 0)
    ac = ops.get("auto-contrast")(x, 0.0, 0)
    for i in range(len(x)):
        img = Image.fromarray(x[i, ..., 0] if c == 1 else x[i])
        ref_eq = np.asarray(ImageOps.equalize(img)).reshape(x.shape[1:])
        np.testing.assert_array_equal(eq[i], ref_eq)
        ref_ac = np.asarray(ImageOps.autocontrast(img)).reshape(x.shape[1:]).astype(int)
        assert np.abs(ac[i].astype(int) - ref_ac).max() <= 1


def test_cutout_blacks_out_one_square_of_the_right_size():
    x = np.full((50, 40, 40, 3), 200, np.uint8)
    out = ops.get("cutout").fn(x, np.full(50, 0.25), np.random.default_rng(0))
    black = (out == 0).all(axis=-1)
    sides = black.any(axis=2).sum(axis=1), black.any(axis=1).sum(axis=1)
    assert black.any(axis=(1, 2)).all()
    assert max(sides[0].max(), sides[1].max()) == 10  # 0.25 * 40, less where it hangs over the edge


def test_dropout_fraction_follows_magnitude():
    x = np.full((20, 64, 64, 3), 100, np.uint8)
    dropped = (ops.get("dropout")(x, 1.0, rng=0) == 0).all(axis=-1).mean()
    assert abs(dropped - 0.3) < 0.02


def test_signed_ops_use_both_signs():
    x = np.full((200, 8, 8, 1), 128, np.uint8)
    out = ops.get("brighten")(x, 0.5, rng=0)[:, 0, 0, 0].astype(int)
    assert set(np.unique(out)) == {128 - 32, 128 + 32}
    assert 60 < (out > 128).sum() < 140


def test_blur_scales_with_the_image():
    """The same magnitude blurs a large image as much, relative to its size, as a small one."""
    small = np.zeros((1, 32, 32, 1), np.uint8)
    small[:, :, 16:] = 255
    large = np.repeat(np.repeat(small, 8, axis=1), 8, axis=2)
    ramp_small = (ops.get("gaussian-blur")(small, 1.0, 0)[0, 16, :, 0] % 255 != 0).sum() / 32
    ramp_large = (ops.get("gaussian-blur")(large, 1.0, 0)[0, 128, :, 0] % 255 != 0).sum() / 256
    assert ramp_small > 0 and abs(ramp_small - ramp_large) < 0.1


def test_unknown_op_names_close_matches():
    with pytest.raises(PolicyError, match=r"unknown op 'rotat'.*did you mean rotate"):
        ops.get("rotat")


@pytest.mark.parametrize("m", [-0.1, 1.5, float("nan")])
def test_bad_magnitude_is_refused(m):
    with pytest.raises(PolicyError, match="magnitude"):
        ops.get("rotate")(batch((1, 8, 8, 3)), m, 0)


def test_op_refuses_float_images():
    with pytest.raises(ImageError, match="uint8"):
        ops.get("rotate")(np.zeros((1, 8, 8, 3), np.float32), 0.5, 0)


def test_magnitude_table_lists_every_op():
    table = ops.table_markdown()
    for name in ALL:
        assert f"| `{name}` |" in table


@pytest.mark.parametrize("name", PARAM_ONLY)
def test_batch_equals_single_images_at_fixed_parameters(name):
    """With the parameters fixed, ops that draw nothing else treat each image on its own."""
    spec = ops.get(name)
    x = batch((7, 16, 16, 3))
    params = np.full(7, spec.low + 0.6 * (spec.high - spec.low))
    params[::2] *= -1 if spec.signed else 1
    whole = spec.fn(x, params, np.random.default_rng(1))
    for i in range(7):
        np.testing.assert_array_equal(whole[i], spec.fn(x[i:i + 1], params[i:i + 1], np.random.default_rng(1))[0])
