"""Exact conversion of image batches to uint8, and refusal of lossy ones."""
import numpy as np
import pytest

from deepaug.errors import ImageError
from deepaug.images import to_uint8


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
