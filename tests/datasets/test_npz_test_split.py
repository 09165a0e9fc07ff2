"""An .npz that holds its own test split (Keras's mnist.npz layout): the search uses all its
training arrays, `deepaug evaluate` scores on its test arrays, nothing is held out."""
from __future__ import annotations

import numpy as np
import pytest

from deepaug import datasets
from deepaug.errors import InputError
from deepaug.evaluation.split import load_split


def arrays(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.full((n, 12, 12), offset, np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None]
    return images, np.arange(n) % 3


@pytest.fixture
def keras_npz(tmp_path):
    (x_train, y_train), (x_test, y_test) = arrays(30, 0), arrays(9, 100)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.mark.parametrize("names", [("x_train", "y_train", "x_test", "y_test"),
                                   ("images", "labels", "test_images", "test_labels")])
def test_an_npz_with_test_arrays_has_two_splits(tmp_path, names):
    (x, y), (xt, yt) = arrays(30, 0), arrays(9, 100)
    path = tmp_path / "two.npz"
    np.savez(path, **dict(zip(names, (x, y, xt, yt))))
    assert datasets.has_test_split(path)
    train, test = datasets.load(path), datasets.load(path, split="test")
    assert np.array_equal(train.images[..., 0], x) and np.array_equal(test.images[..., 0], xt)
    assert list(test.labels) == list(yt)


def test_an_npz_with_one_split_still_refuses_a_test_split_and_says_how_to_add_one(tmp_path):
    x, y = arrays(30, 0)
    path = tmp_path / "one.npz"
    np.savez(path, images=x, labels=y)
    assert not datasets.has_test_split(path) and not datasets.has_test_split(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="x_test/y_test or test_images/test_labels"):
        datasets.load(path, split="test")


def test_evaluate_scores_on_the_test_arrays_and_trains_on_all_the_training_arrays(keras_npz):
    pool, test, where = load_split(str(keras_npz))
    assert len(pool) == 30 and len(test) == 9 and "test arrays" in where
    assert test.images.min() >= 100 and pool.images.max() < 100  # nothing of the training arrays held out


def test_the_search_uses_every_training_image_of_such_a_file(keras_npz, tmp_path):
    pytest.importorskip("tensorflow")
    from _search import tiny_config
    from deepaug import DeepAugment

    config = tiny_config(tmp_path, train_set_size=20, validation_size=10)
    search = DeepAugment(str(keras_npz), config=config, image_size=16)
    assert len(search.data) == 30  # not 24: no fifth held out
