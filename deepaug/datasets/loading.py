"""`load`: a named dataset, an ``.npz`` file or a folder of class sub-folders, as a `Dataset`.

Nothing here writes to disk, except that the keras downloads ("cifar10", and the last-resort
fallback for the MNIST family) fill keras' own cache.
"""
from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from deepaug.datasets import external
from deepaug.datasets.core import IMAGE_EXTENSIONS, NAMED, SPLITS, Dataset, from_arrays, named_key
from deepaug.datasets.image_lists import mixed_sizes_error, stack_images
from deepaug.datasets.named import KERAS_SUBDIRS, load_named
from deepaug.errors import InputError
from deepaug.images import check_size, crop_resize_to, read_image_file
from deepaug.storage.folders import walk_folder

logger = logging.getLogger(__name__)

MAX_NAMED_SKIPS = 10  # skipped files named in the warning


def load(name_or_path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
         split: str = "train", image_size: int | tuple[int, int] | None = None,
         square_crop: bool = False) -> Dataset:
    """Load a named dataset, an .npz file, a folder of class sub-folders, a HuggingFace
    `save_to_disk` folder or a TFDS data directory (deepaug.datasets.external) as a `Dataset`.

    Named: "fashion_mnist", "mnist" (IDX files, `data_dir` searched first), "cifar10"
    (keras), "digits" (scikit-learn). `split` is "train" or "test" for named datasets and
    for files that hold a test split (`has_test_split`), and must be "train" otherwise. `square_crop` centre-crops each image to a square, then
    `image_size` (int or (h, w)) resizes every image to that size.
    """
    size = check_size(image_size)
    if split not in SPLITS:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    key = named_key(name_or_path)
    if key is not None:
        if data_dir is not None and key not in KERAS_SUBDIRS:
            raise InputError(f"data_dir is only used for 'mnist' and 'fashion_mnist', not {key!r}; drop it")
        ds = _crop_resize_all(load_named(key, data_dir, split), size, square_crop)
    else:
        if data_dir is not None:
            raise InputError("data_dir is only used for 'mnist' and 'fashion_mnist'; drop it for files and folders")
        path = Path(name_or_path).expanduser()
        if split != "train" and not has_test_split(path):
            raise InputError(f"split={split!r} does not apply to {str(path)!r}: it has one split (an .npz has two "
                             f"when it also holds {' or '.join('/'.join(p) for p in NPZ_TEST_PAIRS)}); use "
                             "split='train' and deepaug.datasets.split_train_val")
        kind = external.path_kind(path)
        if kind is not None:  # a HuggingFace save_to_disk folder, a TFDS data directory (name/version)
            name = f"{path.parent.name}/{path.name}" if kind == "tfds" else path.name
            ds = external.from_external(path, None, name, split, size, square_crop)
        elif path.suffix.lower() == ".npz":
            ds = _crop_resize_all(_load_npz(path, split), size, square_crop)
        elif path.is_dir():
            ds = _load_folder(path, size, square_crop)
        else:
            problem = ("is not an .npz file or a folder" if path.exists()
                       else "does not exist" if path.is_absolute() else f"({path.absolute()}) does not exist")
            raise InputError(
                f"cannot load {str(name_or_path)!r}: it is not a named dataset and the path {problem}; "
                f"choose one of {', '.join(NAMED)}, a path to an .npz file, or a folder with one "
                "sub-folder of images per class"
            )
    logger.info("loaded %r: %d images of shape %s, %d classes", ds.name, len(ds), ds.image_shape, ds.num_classes)
    return ds


def resize(ds: Dataset, image_size: int | tuple[int, int] | None = None, square_crop: bool = False) -> Dataset:
    """`ds` as `load` gives a file with these arguments: each image centre-cropped to a square
    when `square_crop`, then resized to `image_size` (int or (h, w)); `ds` itself when neither.

    >>> resize(from_arrays(np.zeros((2, 8, 12, 3), np.uint8), [0, 1]), 16, square_crop=True).image_shape
    (16, 16, 3)
    """
    return _crop_resize_all(ds, check_size(image_size), square_crop)


def at_least(ds: Dataset, side: int, why: str = "") -> Dataset:
    """`ds` with images smaller than `side` on either side enlarged (aspect ratio kept, bilinear) until
    both sides are at least `side`, with a log line saying so and `why`; `ds` itself when they already are.

    >>> small = from_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1])
    >>> at_least(small, 10).image_shape
    (10, 10, 1)
    """
    h, w = ds.image_shape[:2]
    if min(h, w) >= side:
        return ds
    scale = side / min(h, w)
    size = (max(side, int(np.ceil(h * scale - 1e-9))), max(side, int(np.ceil(w * scale - 1e-9))))
    logger.info("resizing the %d images of %r from %dx%d to %dx%d%s", len(ds), ds.name, h, w, *size,
                f": {why}" if why else "")
    return _crop_resize_all(ds, size, square_crop=False)


NPZ_PAIRS = (("images", "labels"), ("x", "y"), ("x_train", "y_train"))  # an .npz's (training) images and labels
NPZ_TEST_PAIRS = (("x_test", "y_test"), ("test_images", "test_labels"))  # its own test split (Keras's mnist.npz)


def has_test_split(path: str | os.PathLike[str] | object) -> bool:
    """Whether `path` is an .npz that holds a test split of its own beside its training arrays
    (`x_test`/`y_test`, as Keras's mnist.npz, or `test_images`/`test_labels`): then a search
    uses all its training arrays and `deepaug evaluate` scores on the test arrays, nothing held out. Also
    a HuggingFace DatasetDict (or its save_to_disk folder) or a TFDS data directory with a "test" split."""
    if not isinstance(path, (str, os.PathLike)):  # a DatasetDict in memory
        return external.has_test(path)
    path = Path(path).expanduser()
    if external.path_kind(path) is not None:
        return external.has_test(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:  # the member names only: no array is read
            names = {n.removesuffix(".npy") for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return any(x in names and y in names for x, y in NPZ_TEST_PAIRS)


def _load_npz(path: Path, split: str = "train") -> Dataset:
    """Read `images`/`labels` (or `x`/`y`, `x_train`/`y_train`) from an .npz file; with `split="test"`, its
    test arrays (`x_test`/`y_test` or `test_images`/`test_labels`)."""
    if not path.is_file():
        where = "" if path.is_absolute() else f" ({path.absolute()})"
        raise InputError(f"npz file {str(path)!r}{where} does not exist")
    pairs = NPZ_PAIRS if split == "train" else NPZ_TEST_PAIRS
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = sorted(arrays.files)
            pair = next(((x, y) for x, y in pairs if x in keys and y in keys), None)
            if pair is not None:
                images, labels = arrays[pair[0]], arrays[pair[1]]
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read npz file {str(path)!r} ({exc}); check that it was written by "
                         "np.savez with plain arrays: numbers, or class names as str (labels.astype(str))") from exc
    if pair is None:
        raise InputError(f"{str(path)!r} holds arrays {keys}; expected "
                         f"{' or '.join(repr(x) + '/' + repr(y) for x, y in pairs)}")
    return from_arrays(images, labels, path.name if split == "train" else f"{path.name} (test)")


def _crop_resize_all(ds: Dataset, size: tuple[int, int] | None, square_crop: bool) -> Dataset:
    """Apply `_crop_resize` to every image of an in-memory dataset (no-op when nothing asked)."""
    if size is None and not square_crop:
        return ds
    images = np.stack([crop_resize_to(im, size, square_crop) for im in ds.images])
    images = images.reshape(*images.shape[:3], -1)
    return Dataset(images, ds.labels, ds.class_names, ds.name, ds.skipped)


def _load_folder(root: Path, size: tuple[int, int] | None, square_crop: bool) -> Dataset:
    """Read a folder with one sub-folder of images per class, at any depth below it, listed by the rule
    `deepaug augment` lists folders by (`deepaug.storage.walk_folder`: sorted, symlinked folders
    followed, a folder reached by a second path listed once and the other path logged as skipped);
    hidden files and folders ignored."""
    found, others = _class_files(root)
    images: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    skipped: list[str] = []
    reasons: list[str] = []
    empty: list[str] = []
    for name, files in found.items():
        start = len(images)
        for file in files:
            image, problem = read_image_file(file, size)  # a large JPEG decoded reduced: resized next
            if image is None:
                skipped.append(str(file))
                reasons.append(f"{file} ({problem})")
                continue
            images.append(crop_resize_to(image, size, square_crop))
            labels.append(len(names))
        if len(images) > start:
            names.append(name)
        else:
            empty.append(name)
    _warn_left_out(root, reasons, others, empty)
    if len(names) < 2:
        raise InputError(
            f"folder {str(root)!r} has readable images in {len(names)} class sub-folder(s) ({names}); a "
            f"classifier needs at least 2 (image files end in {', '.join(IMAGE_EXTENSIONS)})"
        )
    shapes = {im.shape[:2] for im in images}
    if len(shapes) > 1:
        raise mixed_sizes_error(f"images in {str(root)!r}", shapes)
    return Dataset(stack_images(images), np.asarray(labels, dtype=np.int64), tuple(names), root.name or str(root),
                   tuple(skipped))


def _class_files(root: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The image files of each class folder (sorted), and the other files' keys (not images by their
    extension, or outside a class folder); hidden files and folders left out."""
    walk = walk_folder(root)
    classes = [f for f in walk.folders if "/" not in f and not f.startswith(".")]
    if not classes:
        raise InputError(f"folder {str(root)!r} has no class sub-folders; put the images of each class "
                         "in their own sub-folder (e.g. root/cat/1.png, root/dog/2.png)")
    found: dict[str, list[Path]] = {name: [] for name in classes}
    others: list[str] = []
    for key, path in walk.files:
        if any(part.startswith(".") for part in key.split("/")):
            continue
        if "/" in key and path.suffix.lower() in IMAGE_EXTENSIONS:
            found[key.split("/", 1)[0]].append(path)
        else:
            others.append(key)
    return found, others


def _warn_left_out(root: Path, reasons: list[str], others: list[str], empty: list[str]) -> None:
    """One warning each for the unreadable image files (with why), the files that are not images
    and the class folders left with no readable image."""
    if reasons:
        shown = ", ".join(reasons[:MAX_NAMED_SKIPS])
        more = f" and {len(reasons) - MAX_NAMED_SKIPS} more" if len(reasons) > MAX_NAMED_SKIPS else ""
        logger.warning("skipped %d unreadable image file(s) in %s: %s%s", len(reasons), root, shown, more)
    if others:
        more = f" and {len(others) - MAX_NAMED_SKIPS} more" if len(others) > MAX_NAMED_SKIPS else ""
        logger.warning("ignored %d file(s) in %s that are not images in a class folder (image files end in %s): "
                       "%s%s", len(others), root, ", ".join(IMAGE_EXTENSIONS), ", ".join(others[:MAX_NAMED_SKIPS]),
                       more)
    if empty:
        logger.warning("ignored class folder(s) with no readable images in %s: %s", root, ", ".join(empty))


# ---------------------------------------------------------------- train / validation split
