"""Datasets as users hold them, read once into deepaug's in-memory `Dataset`.

- a `tf.data.Dataset` of (image, label) pairs, of {"image": ..., "label": ...} dicts or of
  images alone (then `labels` beside it), batched or not; read once, refused when infinite
  (`repeat()`) or larger than `MAX_BYTES` of pixels;
- a HuggingFace `datasets.Dataset` with an image column and a label column (an `Image` and a
  `ClassLabel` feature, or columns named "image"/"img" and "label"/"labels"; `labels="fine_label"`
  names the label column), or a `DatasetDict` (its "train" split; "test" for `deepaug evaluate`),
  or the folder `save_to_disk` wrote;
- a TFDS data directory (the version folder `tfds.builder_from_directory` reads:
  `~/tensorflow_datasets/cifar10/3.0.2`), its "train" split (and "test");
- a list of PIL images or of arrays of different sizes (deepaug.datasets.image_lists).

Images of different sizes are resized as a folder's are (`image_size`, `square_crop`); class names
come from a `ClassLabel` feature when there is one. `datasets` and `tensorflow_datasets` are
optional: imported only when such an input is given (extras `deepaug[hf]`, `deepaug[tfds]`).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deepaug.datasets.core import Dataset
from deepaug.datasets.image_lists import as_image_array, from_image_list, is_image_list
from deepaug.errors import InputError
from deepaug.extras import require

log = logging.getLogger(__name__)

MAX_BYTES = 8 << 30  # pixels read into memory (uint8): CIFAR-10's training split is 150 MB, ImageNet at 64x64 15 GB
INFINITE, UNKNOWN = -1, -2  # tf.data.INFINITE_CARDINALITY, tf.data.UNKNOWN_CARDINALITY
IMAGE_COLUMNS, LABEL_COLUMNS = ("image", "img"), ("label", "labels")
SUBSET_HINT = ("take a subset first (ds.take(n) for tf.data, ds.select(range(n)) for HuggingFace), or write the "
               "images to a folder of class sub-folders and pass the folder with image_size")


def _module(value: object) -> str:
    return type(value).__module__ or ""


def is_tf_data(value: object) -> bool:
    """A tf.data.Dataset (by its type's module, so TensorFlow is not imported to ask)."""
    return _module(value).startswith("tensorflow") and hasattr(value, "element_spec")


def is_hf(value: object) -> bool:
    """A HuggingFace datasets.Dataset, or an object with its interface (`features`, `column_names`, columns)."""
    return hasattr(value, "features") and hasattr(value, "column_names") and hasattr(value, "__getitem__")


def is_hf_dict(value: object) -> bool:
    """A HuggingFace DatasetDict (a mapping of split names to datasets.Dataset)."""
    return isinstance(value, Mapping) and bool(value) and all(is_hf(v) for v in value.values())


def path_kind(path: str | os.PathLike[str]) -> str | None:
    """"hf" for a folder `save_to_disk` wrote, "tfds" for a TFDS version folder, else None."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return None
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        return "hf"
    if (folder / "dataset_info.json").is_file() and (folder / "features.json").is_file():
        return "tfds"
    return None


def is_external(value: object) -> bool:
    """Whether `value` is one of the in-memory forms this module reads (paths: `path_kind`)."""
    return is_tf_data(value) or is_hf(value) or is_hf_dict(value) or is_image_list(value)


def has_test(value: object) -> bool:
    """Whether `value` (an in-memory dataset or a path) holds a "test" split of its own."""
    if isinstance(value, (str, os.PathLike)):
        kind = path_kind(value)
        if kind == "hf":  # a DatasetDict's folder lists its splits in dataset_dict.json
            listing = Path(value).expanduser() / "dataset_dict.json"
            return listing.is_file() and "test" in json.loads(listing.read_text()).get("splits", ())
        return kind == "tfds" and "test" in _tfds_builder(value).info.splits
    return is_hf_dict(value) and "test" in value  # type: ignore[operator]


def from_external(value: Any, labels: Any = None, name: str = "images", split: str = "train",
                  image_size: int | tuple[int, int] | None = None, square_crop: bool = False,
                  max_bytes: int = MAX_BYTES) -> Dataset:
    """`value` (see the module docstring; a path of `path_kind`) as a `Dataset`, resized as a folder is.

    `labels`: the labels of a list of images or of a tf.data.Dataset of images alone, or the name
    of the label column (a HuggingFace dataset, a dict-valued tf.data.Dataset)."""
    images, values, names = read_items(value, labels, name, split, max_bytes)
    data = from_image_list(images, values, name, image_size, square_crop, names)
    log.debug("read %s: %d images, %d classes", name, len(data), data.num_classes)
    return data


def read_items(value: Any, labels: Any, name: str, split: str = "train", max_bytes: int = MAX_BYTES
               ) -> tuple[list[Any], Any, tuple[str, ...] | None]:
    """(images one at a time, their labels, the class names or None) of any form `from_external` reads."""
    if isinstance(value, (str, os.PathLike)):
        kind = path_kind(value)
        if kind == "hf":
            # datasets is optional and heavy (pyarrow): imported only for a save_to_disk folder
            hf = require("datasets", f"reading the HuggingFace dataset {str(value)!r}")
            return read_items(hf.load_from_disk(str(Path(value).expanduser())), labels, name, split, max_bytes)
        if kind == "tfds":
            return _tfds_items(_tfds_builder(value), labels, f"{name} ({value})", split, max_bytes)
        raise InputError(f"{str(value)!r} is not a HuggingFace save_to_disk folder or a TFDS data directory")
    if is_hf_dict(value):
        return read_items(_pick_split(value, split, name), labels, f"{name} ({split})", split, max_bytes)
    if is_hf(value):
        return _hf_items(value, labels, name, max_bytes)
    if is_tf_data(value):
        images, values = _tf_data_items(value, labels, name, max_bytes)
        return images, values, None
    if is_image_list(value) or (isinstance(value, np.ndarray) and value.ndim in (3, 4)):
        if labels is None:
            raise InputError(f"labels are missing for the list of {len(value)} {name}; pass one label per image")
        return list(value), labels, None  # images one at a time (an array: along its first axis)
    raise InputError(f"{name} is a {type(value).__name__}, which deepaug does not read; pass an image array, a "
                     "tf.data.Dataset, a HuggingFace dataset, a list of PIL images, a dataset name or a path")


def _pick_split(splits: Mapping[str, Any], split: str, name: str) -> Any:
    if split not in splits:
        raise InputError(f"{name} has splits {sorted(splits)} but no {split!r}; pass the split to use "
                         f"(e.g. ds[{sorted(splits)[0]!r}])")
    return splits[split]


def _too_large(name: str, total: int, max_bytes: int) -> InputError:
    return InputError(f"{name} holds about {_size(total)} of pixels, more than the {_size(max_bytes)} deepaug reads "
                      f"into memory; {SUBSET_HINT}")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.2f} MiB"


def _feature_column(features: Mapping[str, Any], kind: str, names: tuple[str, ...], given: Any,
                    what: str) -> str:
    """The column holding images (kind "Image") or labels (kind "ClassLabel"): `given`, else the one
    feature of that kind, else the first of `names` present."""
    columns = list(features)
    if isinstance(given, str):
        if given not in features:
            raise InputError(f"{what} has no column {given!r}; its columns: {columns}")
        return given
    typed = [c for c in columns if type(features[c]).__name__ == kind]
    found = typed if len(typed) == 1 else [c for c in names if c in features]
    if not found:
        raise InputError(f"{what} has no {'image' if kind == 'Image' else 'label'} column among {columns}; "
                         f"name it {names[0]!r}" + ("" if kind == "Image" else " or pass labels='<column>'"))
    return found[0]


def _class_names(feature: Any) -> tuple[str, ...] | None:
    names = getattr(feature, "names", None)
    return tuple(str(n) for n in names) if type(feature).__name__ == "ClassLabel" and names else None


def _hf_items(ds: Any, labels: Any, name: str, max_bytes: int) -> tuple[list[Any], Any, tuple[str, ...] | None]:
    if labels is not None and not isinstance(labels, str):
        raise InputError(f"{name} is a HuggingFace dataset: its labels are a column; pass labels='<column name>' "
                         "or leave labels out, not an array")
    image_column = _feature_column(ds.features, "Image", IMAGE_COLUMNS, None, name)
    label_column = _feature_column(ds.features, "ClassLabel", LABEL_COLUMNS, labels, name)
    images: list[np.ndarray] = []
    for image in ds[image_column]:
        images.append(as_image_array(image))
        if len(images) == 1 and images[0].nbytes * len(ds) > max_bytes:
            raise _too_large(name, images[0].nbytes * len(ds), max_bytes)
    return images, np.asarray(list(ds[label_column])), _class_names(ds.features[label_column])


def _tfds_builder(path: str | os.PathLike[str]) -> Any:
    # tensorflow_datasets is optional and heavy: imported only for a TFDS data directory
    tfds = require("tensorflow_datasets", f"reading the TFDS data directory {str(path)!r}")
    return tfds.builder_from_directory(str(Path(path).expanduser()))


def _tfds_items(builder: Any, labels: Any, name: str, split: str, max_bytes: int
                ) -> tuple[list[Any], Any, tuple[str, ...] | None]:
    features = builder.info.features
    _pick_split(builder.info.splits, split, name)
    image_key = _feature_column(features, "Image", IMAGE_COLUMNS, None, name)
    label_key = _feature_column(features, "ClassLabel", LABEL_COLUMNS, labels, name)
    images, values = _tf_data_items(builder.as_dataset(split=split), label_key, name, max_bytes, image_key)
    return images, values, _class_names(features[label_key])


def _tf_data_items(ds: Any, labels: Any, name: str, max_bytes: int, image_key: str | None = None
                   ) -> tuple[list[np.ndarray], Any]:
    """Every image of a tf.data.Dataset (batches split into images) and its labels, read once."""
    count = int(ds.cardinality())
    if count == INFINITE:
        raise InputError(f"{name} is an infinite tf.data.Dataset (repeat() without a count); pass it before "
                         "repeat(), or ds.take(n)")
    images: list[np.ndarray] = []
    values: list[Any] = []
    total = 0
    for element in ds.as_numpy_iterator():
        image, label = _split_element(element, labels, name, image_key)
        batched = image.ndim == 4 or (image.ndim == 3 and image.shape[2] not in (1, 3))
        new = list(image) if batched else [image]
        if not images and count > 0 and new[0].nbytes * len(new) * count > max_bytes:
            raise _too_large(name, new[0].nbytes * len(new) * count, max_bytes)
        total += sum(im.nbytes for im in new)
        if total > max_bytes:
            raise _too_large(name, total, max_bytes)
        images.extend(new)
        if label is not None:
            values.extend(list(label) if batched else [label])
    if labels is None or isinstance(labels, str):
        return images, np.asarray(values)
    return images, labels


def _split_element(element: Any, labels: Any, name: str, image_key: str | None) -> tuple[np.ndarray, Any]:
    """(image or batch, label or labels or None) of one tf.data element."""
    if isinstance(element, Mapping):
        key = image_key or next((k for k in IMAGE_COLUMNS if k in element), None)
        label_key = labels if isinstance(labels, str) else next((k for k in LABEL_COLUMNS if k in element), None)
        if key is None or label_key not in element:
            raise InputError(f"{name} yields dicts with keys {sorted(element)}; deepaug needs an 'image' and a "
                             "'label' key (or pass labels='<key>'), or (image, label) pairs")
        return np.asarray(element[key]), element[label_key]
    if isinstance(element, tuple):
        if len(element) != 2:
            raise InputError(f"{name} yields tuples of {len(element)} parts; deepaug needs (image, label) pairs")
        if labels is not None and not isinstance(labels, str):
            raise InputError(f"{name} yields (image, label) pairs and labels were given beside it; pass them once")
        return np.asarray(element[0]), element[1]
    if labels is None:
        raise InputError(f"labels are missing: {name} yields images alone; map it to (image, label) pairs or "
                         "pass labels=[...] with one label per image")
    return np.asarray(element), None

