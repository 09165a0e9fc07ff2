"""Exact conversion of image batches to uint8, and refusal of lossy ones."""
import re

import numpy as np
import pytest

from deepaug.errors import ImageError
from deepaug.images import check_batch, to_uint8


def test_exact_conversions():
    v = np.arange(256)
    np.testing.assert_array_equal(to_uint8(v.astype(np.int64)), v)
    np.testing.assert_array_equal(to_uint8(v.astype(np.float32)), v)
    np.testing.assert_array_equal(to_uint8(v / 255.0), v)
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])


@pytest.mark.parametrize("values, message", [
    (np.array([0.0, 0.5004, 1.0]), "not whole 8-bit levels"),
    (np.array([0.0, 10.5, 200.0]), "not whole 8-bit levels"),
    (np.array([-1, 3]), "outside \\[0, 255\\]"),
    (np.array([0.0, 300.0]), "outside \\[0, 255\\]"),
    (np.array([0.0, np.nan]), "NaN"),
    (np.array(["a"]), "not an image type"),
])
def test_lossy_conversions_are_refused(values, message):
    with pytest.raises(ImageError, match=message):
        to_uint8(values)


@pytest.mark.parametrize("x", [np.array([0.0, 0.5004, 1.0]), np.array([0.0, 10.5, 200.0, 254.6])])
def test_the_quantization_a_refusal_suggests_fits_the_range_of_the_values(x):
    # [0, 1] floats need x * 255, [0, 255] floats do not: the suggested line must give the
    # nearest 8-bit levels, not values that wrap around
    with pytest.raises(ImageError) as refused:
        to_uint8(x)
    fix = re.search(r"e\.g\. (np\.rint\(.*?\)\.astype\(np\.uint8\))", str(refused.value)).group(1)
    quantized = eval(fix, {"np": np, "x": x})
    np.testing.assert_array_equal(to_uint8(quantized), np.rint(x * (255 if x.max() <= 1 else 1)))


@pytest.mark.parametrize("channels, advice", [(2, r"images\[\.\.\., :1\]"), (4, r"images\[\.\.\., :3\]"),
                                              (5, "grayscale \\(1 channel\\) or RGB")])
def test_a_batch_with_other_channels_is_refused_with_its_fix(channels, advice):
    with pytest.raises(ImageError, match=f"got {channels} .*{advice}"):
        check_batch(np.zeros((2, 8, 8, channels), np.uint8))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_channels_first_batch_is_refused_with_the_transpose_that_fixes_it(channels):
    x = np.zeros((2, channels, 8, 12), np.uint8)
    with pytest.raises(ImageError, match=r"channels-first.*images\.transpose\(0, 2, 3, 1\), shaped "
                                         rf"\(2, 8, 12, {channels}\)"):
        check_batch(x)
    assert check_batch(x.transpose(0, 2, 3, 1)).shape == (2, 8, 12, channels)
