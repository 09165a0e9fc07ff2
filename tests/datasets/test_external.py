"""Users' data as they hold it (deepaug.datasets.external): a tf.data.Dataset, a list of PIL images of
mixed sizes, a HuggingFace dataset (in memory and saved with save_to_disk), accepted by the search,
evaluate and augment. Every dataset here is built by the test from a few tiny images; nothing is
downloaded. The TFDS data directory has its own module (test_tfds_directory.py)."""
from __future__ import annotations

import sys
import tempfile

import numpy as np
import pytest
from _images import natural_batch

from deepaug import datasets
from deepaug.api import DeepAugment, augment
from deepaug.errors import InputError
from deepaug.evaluation.split import load_split
from deepaug.images import crop_resize_to

tf = pytest.importorskip("tensorflow")
Image = pytest.importorskip("PIL.Image")

IMAGES = natural_batch(12, 12, 12, 3, seed=0)
LABELS = np.arange(12) % 3


def search_config(tmp_path) -> dict:
    return {"search_space": "deepaugment", "executor": "inline", "reports_dir": str(tmp_path / "reports"), "experiment_name": "ext",
            "train_set_size": 8, "validation_size": 3, "child_epochs": 1}


def pils(sizes, mode="RGB"):
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode) for h, w in sizes]


@pytest.mark.parametrize("form", ["pairs", "batched", "dicts"])
def test_a_tf_data_dataset_is_read_once_into_the_same_images_and_labels(form):
    ds = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS))
    ds = {"pairs": ds, "batched": ds.batch(5), "dicts": ds.map(lambda x, y: {"image": x, "label": y})}[form]
    data = datasets.from_external(ds)
    assert np.array_equal(data.images, IMAGES) and np.array_equal(data.labels, LABELS)


def test_a_tf_data_dataset_of_images_alone_takes_labels_beside_it_and_says_when_they_are_missing():
    ds = tf.data.Dataset.from_tensor_slices(IMAGES)
    assert np.array_equal(datasets.from_external(ds, LABELS).labels, LABELS)
    with pytest.raises(InputError, match="labels are missing.*yields images alone"):
        datasets.from_external(ds)


def test_an_infinite_or_too_large_tf_data_dataset_is_refused_saying_take_a_subset():
    ds = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS))
    with pytest.raises(InputError, match=r"infinite tf.data.Dataset.*ds.take\(n\)"):
        datasets.from_external(ds.repeat())
    with pytest.raises(InputError, match=r"more than the 0.00 MiB deepaug reads.*ds.take\(n\)"):
        datasets.from_external(ds, max_bytes=1000)  # the 12 images are 5184 bytes
    unknown = ds.filter(lambda x, y: True)  # unknown cardinality: stopped while reading
    assert int(unknown.cardinality()) == -2
    with pytest.raises(InputError, match="more than"):
        datasets.from_external(unknown, max_bytes=1000)


def test_deepaugment_takes_a_tf_data_dataset_where_it_said_labels_are_missing(tmp_path):
    ds = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(4)
    search = DeepAugment(ds, config=search_config(tmp_path))
    assert np.array_equal(search.data.images, IMAGES) and search.data.num_classes == 3


def test_pil_images_of_mixed_sizes_are_resized_as_a_folder_or_refused_naming_image_size(tmp_path):
    images = pils([(8, 10), (12, 9), (8, 8), (20, 16)]) + pils([(9, 9), (10, 7)], mode="L")
    labels = [0, 1, 0, 1, 0, 1]
    with pytest.raises(InputError, match=r"images have 6 different sizes.*pass image_size=\(height, width\)"):
        datasets.from_external(images, labels)
    data = datasets.from_external(images, labels, image_size=12, square_crop=True)
    assert data.images.shape == (6, 12, 12, 3)  # gray images get 3 channels beside colour ones
    assert np.array_equal(data.images[3], crop_resize_to(np.asarray(images[3]), (12, 12), True))  # as a folder
    with pytest.raises(InputError, match="pass image_size"):
        DeepAugment(images, labels, search_config(tmp_path))
    search = DeepAugment(images * 2, labels * 2, search_config(tmp_path), image_size=(12, 12))
    assert search.data.image_shape == (12, 12, 3)


@pytest.fixture(scope="module")
def hf():
    return pytest.importorskip("datasets")


def hf_dataset(hf, n=12, start=0):
    features = hf.Features({"image": hf.Image(), "label": hf.ClassLabel(names=["cat", "dog", "fox"]),
                            "coarse": hf.Value("int64")})
    images = [Image.fromarray(im) for im in natural_batch(n, 12, 12, 3, seed=start)]
    return hf.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(n)],
                                 "coarse": [i % 2 for i in range(n)]}, features=features)


def test_a_huggingface_dataset_gives_its_images_and_its_class_label_names(hf):
    data = datasets.from_external(hf_dataset(hf))
    assert data.class_names == ("cat", "dog", "fox") and np.array_equal(data.labels, LABELS)
    assert np.array_equal(data.images, natural_batch(12, 12, 12, 3, seed=0))
    assert datasets.from_external(hf_dataset(hf), "coarse").class_names == ("0", "1")  # labels= names the column
    with pytest.raises(InputError, match="no column 'fine'"):
        datasets.from_external(hf_dataset(hf), "fine")


def test_a_saved_huggingface_dataset_dict_is_searched_on_train_and_evaluated_on_test(hf, tmp_path):
    splits = hf.DatasetDict({"train": hf_dataset(hf), "test": hf_dataset(hf, 6, start=5)})
    splits.save_to_disk(str(tmp_path / "saved"))
    search = DeepAugment(str(tmp_path / "saved"), config=search_config(tmp_path))
    assert len(search.data) == 12  # its own test split: nothing held out of train
    for source in (splits, tmp_path / "saved"):
        pool, test, where = load_split(source)
        assert (len(pool), len(test)) == (12, 6) and "test" in where and test.class_names == pool.class_names


def test_a_saved_single_huggingface_dataset_holds_out_its_test_images_as_a_folder_does(hf, tmp_path):
    hf_dataset(hf, 15).save_to_disk(str(tmp_path / "one"))
    search = DeepAugment(str(tmp_path / "one"), config=search_config(tmp_path))
    pool, test, _ = load_split(tmp_path / "one")
    assert len(search.data) == len(pool) == 12 and len(test) == 3


def test_evaluate_takes_a_tf_data_dataset_with_test_images_and_says_when_they_are_missing():
    ds = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS))
    pool, test, _ = load_split(ds, test=tf.data.Dataset.from_tensor_slices((IMAGES[:6], LABELS[:6])))
    assert (len(pool), len(test)) == (12, 6)
    with pytest.raises(InputError, match="needs test images the search never saw"):
        load_split(ds)


def test_a_missing_datasets_package_names_the_extra(monkeypatch, hf, tmp_path):
    hf_dataset(hf).save_to_disk(str(tmp_path / "saved"))
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(InputError, match=r"needs datasets, which comes with deepaug\[hf\]"):
        datasets.load(tmp_path / "saved")


def test_augment_stages_a_dataset_in_memory_once_and_resumes_the_same_dataset(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the staged folders: under tmp_path
    (tmp_path / "tmp").mkdir()
    src = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS.astype(str)))
    options = {"variants": 1, "shard_size": 6, "workers": 1}
    first = augment("reference", src, tmp_path / "out" / "{id}", **options)
    again = augment("reference", tf.data.Dataset.from_tensor_slices((IMAGES, LABELS.astype(str))),
                    tmp_path / "out" / "{id}", **options)
    assert first.complete and again.cached and first.dataset_id == again.dataset_id
    assert first.manifest["totals"]["images"] == 12
    result = augment("reference", (pils([(8, 10), (12, 9)]), ["a", "b"]), tmp_path / "pil", **options)
    assert result.complete and result.manifest["totals"]["images"] == 2
    with pytest.raises(InputError, match="Kubernetes pods cannot read"):
        augment("reference", src, "s3://bucket/out", executor="kubernetes")
    staged = list((tmp_path / "tmp").glob("deepaug-inputs-*/*/*/*.png"))
    assert sorted({p.parent.name for p in staged}) == ["0", "1", "2", "a", "b"]  # classes as folders
