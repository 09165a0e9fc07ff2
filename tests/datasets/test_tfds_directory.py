"""A local TFDS data directory (the version folder `tfds.builder_from_directory` reads) as an input of the
search, evaluate and augment. The test builds a tiny dataset with a GeneratorBasedBuilder into tmp_path
(nothing downloaded); its images have different sizes, as TFDS image datasets often do."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest

from deepaug import datasets
from deepaug.api import DeepAugment, augment
from deepaug.errors import InputError
from deepaug.evaluation.split import load_split

tfds = pytest.importorskip("tensorflow_datasets")


def tiny_image(i: int) -> np.ndarray:
    return np.full((12, 12 + i % 3, 3), 15 * i, np.uint8)


class TinyPets(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=["cat", "dog"])}), supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(range(10)), "test": self._generate_examples(range(10, 14))}

    def _generate_examples(self, numbers):
        for i in numbers:
            yield i, {"image": tiny_image(i), "label": i % 2}


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    builder = TinyPets(data_dir=str(tmp_path_factory.mktemp("tfds")))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder.data_dir  # .../tiny_pets/1.0.0


def test_a_tfds_directory_gives_its_splits_with_class_names_and_asks_for_image_size(directory):
    with pytest.raises(InputError, match="different sizes.*pass image_size"):
        datasets.load(directory)
    train = datasets.load(directory, image_size=12)
    assert len(train) == 10 and train.class_names == ("cat", "dog") and train.name == "tiny_pets/1.0.0"
    order = np.argsort(train.images.mean(axis=(1, 2, 3)))  # TFDS shuffles: find image i by its brightness
    assert train.labels[order].tolist() == [i % 2 for i in range(10)]
    assert datasets.has_test_split(directory)


def test_search_and_evaluate_read_a_tfds_directory(directory, tmp_path):
    config = {"search_space": "deepaugment", "executor": "inline", "reports_dir": str(tmp_path / "reports"),
              "train_set_size": 6, "validation_size": 4, "child_epochs": 1}
    search = DeepAugment(directory, config=config, image_size=12)
    assert len(search.data) == 10  # its own test split: nothing held out
    pool, test, where = load_split(directory, image_size=12)
    assert (len(pool), len(test)) == (10, 4) and test.class_names == ("cat", "dog")


def test_augment_reads_a_tfds_directory_through_a_staged_folder(directory, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the staged folder: under tmp_path
    result = augment("reference", directory, tmp_path / "out", variants=1, workers=1)
    assert result.complete and result.manifest["totals"]["images"] == 10
    assert sorted(p.name for p in tmp_path.glob("deepaug-inputs-*/*/*")) == ["cat", "dog"]
