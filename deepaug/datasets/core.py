"""Load image-classification datasets into one validated, in-memory form.

`load` reads a named dataset ("fashion_mnist", "mnist", "cifar10", "digits"), an ``.npz``
file or a folder of class sub-folders and returns a `Dataset`: uint8 images shaped
(N, H, W, C) with C in {1, 3} and int64 labels in 0..K-1. `from_arrays` wraps arrays the
caller already has, and `split_train_val` draws a stratified, seeded training subset plus
a disjoint validation set. Nothing here writes to disk, except that the keras downloads
("cifar10", and the last-resort fallback for the MNIST family) fill keras' own cache.
TensorFlow/keras and scikit-learn are imported only inside the functions that need them.
"""
from __future__ import annotations

import gzip
import importlib.util
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.images import check_batch, to_uint8

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
NAMED = ("fashion_mnist", "mnist", "cifar10", "digits")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "test")
# Debian ships Fashion-MNIST (`apt-get install dataset-fashion-mnist`); it has no MNIST package.
SYSTEM_DIRS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),), "mnist": ()}
KERAS_SUBDIRS = {"fashion_mnist": ("fashion-mnist", "fashion_mnist"), "mnist": ("mnist",)}
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_NAMED_SKIPS = 10


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (uint8, (N, H, W, C), C in {1, 3}) with int64 labels in 0..K-1.

    `skipped` lists the files a folder load could not decode (empty otherwise).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        what = f"dataset {self.name!r}"
        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise InputError(
                f"{what}: images must be a uint8 array shaped (N, H, W, C), got "
                f"{_describe(self.images)}; build datasets with deepaug.datasets.core.from_arrays"
            )
        check_batch(self.images, f"{what} images")
        if not isinstance(self.labels, np.ndarray) or self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise InputError(
                f"{what}: labels must be an int64 array shaped (N,), got {_describe(self.labels)}; "
                "build datasets with deepaug.datasets.core.from_arrays"
            )
        if len(self.labels) != len(self.images):
            raise InputError(
                f"{what}: {len(self.images)} images but {len(self.labels)} labels; "
                "pass exactly one label per image"
            )
        if not isinstance(self.class_names, tuple) or not all(isinstance(c, str) for c in self.class_names):
            raise InputError(f"{what}: class_names must be a tuple of strings, got {self.class_names!r}")
        if len(self.class_names) < 2:
            raise InputError(
                f"{what}: needs at least 2 classes to train a classifier, got {list(self.class_names)}"
            )
        if len(set(self.class_names)) != len(self.class_names):
            raise InputError(f"{what}: class_names has duplicates: {list(self.class_names)}")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise InputError(
                f"{what}: labels must lie in 0..{len(self.class_names) - 1} (one per class name), "
                f"got min {self.labels.min()}, max {self.labels.max()}"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes K (the length of `class_names`)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape (H, W, C) of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, images={self.images.shape}, "
                f"num_classes={self.num_classes}, skipped={len(self.skipped)})")


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def from_arrays(images: Any, labels: Any, name: str = "arrays",
                class_names: Sequence[str] | None = None) -> Dataset:
    """Validate and convert arrays into a `Dataset` (exact uint8 images, labels 0..K-1).

    Labels may be integers, whole-number floats, an (N, 1) column, or one-hot (N, K).
    Without `class_names`, distinct label values are mapped in sorted order to 0..K-1 and
    their original values become the class names; with it, labels must already be indices.
    """
    imgs = check_batch(to_uint8(images, f"{name} images"), f"{name} images")  # ImageError is an InputError
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    lab = np.asarray(labels)
    if lab.dtype == np.bool_ or not (np.issubdtype(lab.dtype, np.integer) or np.issubdtype(lab.dtype, np.floating)):
        raise InputError(f"{name} labels must be integers or one-hot numbers, got dtype {lab.dtype}")
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    n_columns = None
    if lab.ndim == 2:
        ok = lab.size and np.isin(lab, (0, 1)).all() and (lab.sum(axis=1) == 1).all()
        if not ok:
            raise InputError(
                f"{name} labels have shape {lab.shape} but are not one-hot (each row must hold a "
                "single 1 and zeros elsewhere); pass class indices shaped (N,) instead"
            )
        n_columns = lab.shape[1]
        lab = lab.argmax(axis=1)
    elif lab.ndim != 1:
        raise InputError(f"{name} labels must be shaped (N,) or one-hot (N, K), got shape {lab.shape}")
    if len(lab) != len(imgs):
        raise InputError(
            f"{name}: {len(imgs)} images but {len(lab)} labels; pass exactly one label per image"
        )
    if np.issubdtype(lab.dtype, np.floating):
        if not np.isfinite(lab).all():
            raise InputError(f"{name} labels contain NaN or infinite values; every image needs a class")
        if (lab != np.rint(lab)).any():
            raise InputError(f"{name} labels are floats that are not whole numbers; pass class indices")
    lab = lab.astype(np.int64)
    present = np.unique(lab)
    if len(present) < 2:
        raise InputError(
            f"{name}: every label is {present[0]}, so there is only one class and no classifier can "
            "be trained; pass images of at least 2 classes"
        )
    if class_names is not None or n_columns is not None:
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(n_columns or 0))
        if lab.min() < 0 or lab.max() >= len(names):
            raise InputError(
                f"{name} labels must lie in 0..{len(names) - 1} to match {len(names)} class names, "
                f"got min {lab.min()}, max {lab.max()}"
            )
        return Dataset(imgs, lab, names, name)
    return Dataset(imgs, np.searchsorted(present, lab).astype(np.int64), tuple(str(v) for v in present), name)


def load(name_or_path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
         split: str = "train", image_size: int | tuple[int, int] | None = None,
         square_crop: bool = False) -> Dataset:
    """Load a named dataset, an .npz file or a folder of class sub-folders as a `Dataset`.

    Named: "fashion_mnist", "mnist" (IDX files, `data_dir` searched first), "cifar10"
    (keras), "digits" (scikit-learn). `split` is "train" or "test" for named datasets and
    must be "train" otherwise. `square_crop` centre-crops each image to a square, then
    `image_size` (int or (h, w)) resizes every image to that size.
    """
    size = _check_size(image_size)
    if split not in SPLITS:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    key = str(name_or_path).strip().lower().replace("-", "_")
    if isinstance(name_or_path, str) and key in NAMED:
        if data_dir is not None and key not in KERAS_SUBDIRS:
            raise InputError(f"data_dir is only used for 'mnist' and 'fashion_mnist', not {key!r}; drop it")
        if key in KERAS_SUBDIRS:
            ds = _load_idx_dataset(key, data_dir, split)
        elif key == "cifar10":
            ds = _load_cifar10(split)
        else:
            ds = _load_digits(split)
        ds = _crop_resize_all(ds, size, square_crop)
    else:
        if data_dir is not None:
            raise InputError("data_dir is only used for 'mnist' and 'fashion_mnist'; drop it for files and folders")
        path = Path(name_or_path).expanduser()
        if split != "train":
            raise InputError(f"split={split!r} does not apply to {str(path)!r}: files and folders have one split; "
                             "use split='train' and deepaug.datasets.core.split_train_val")
        if path.suffix.lower() == ".npz":
            ds = _crop_resize_all(_load_npz(path), size, square_crop)
        elif path.is_dir():
            ds = _load_folder(path, size, square_crop)
        else:
            problem = "is not an .npz file or a folder" if path.exists() else "does not exist"
            raise InputError(
                f"cannot load {str(name_or_path)!r}: it is not a named dataset and the path {problem}; "
                f"choose one of {', '.join(NAMED)}, a path to an .npz file, or a folder with one "
                "sub-folder of images per class"
            )
    logger.info("loaded %r: %d images of shape %s, %d classes", ds.name, len(ds), ds.image_shape, ds.num_classes)
    return ds


# ---------------------------------------------------------------- IDX (MNIST family)

def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in .gz) into a native-endian array."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read IDX file {str(path)!r} ({exc}); it may be truncated, delete and "
                         "fetch it again") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise InputError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); "
                         "expected a file such as train-images-idx3-ubyte[.gz]")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise InputError(f"IDX file {str(path)!r} is truncated inside its header; fetch it again")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    have = len(raw) - 4 - 4 * ndim
    if have != expected:
        state = "truncated" if have < expected else "longer than its header says"
        raise InputError(f"IDX file {str(path)!r} is {state}: header {dims} needs {expected} data bytes, "
                         f"found {have}; delete it and fetch it again")
    data = np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, prefix: str, kind: str) -> Path | None:
    stem = f"{prefix}-{kind}"
    rank = 3 if kind == "images" else 1
    for base in (f"{stem}-idx{rank}-ubyte", f"{stem}.idx{rank}-ubyte"):
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def _keras_load(key: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Call keras' own loader (downloads into keras' cache; needs internet)."""
    import keras  # lazy: heavy

    return getattr(keras.datasets, key).load_data()


def _load_idx_dataset(key: str, data_dir: str | os.PathLike[str] | None, split: str) -> Dataset:
    prefix = "train" if split == "train" else "t10k"
    names = FASHION_MNIST_CLASSES if key == "fashion_mnist" else MNIST_CLASSES
    datasets_dir = _keras_home() / "datasets"
    places = ([Path(data_dir).expanduser()] if data_dir is not None else [])
    places += [datasets_dir / sub for sub in KERAS_SUBDIRS[key]] + [datasets_dir, *SYSTEM_DIRS[key]]
    for folder in places:
        images_file, labels_file = _idx_file(folder, prefix, "images"), _idx_file(folder, prefix, "labels")
        if images_file and labels_file:
            logger.debug("reading %s IDX files from %s", key, folder)
            return from_arrays(read_idx(images_file), read_idx(labels_file), f"{key}/{split}", names)
    npz = datasets_dir / "mnist.npz"  # keras' own cache format for MNIST
    if key == "mnist" and npz.is_file():
        with np.load(npz, allow_pickle=False) as arrays:
            return from_arrays(arrays[f"x_{split}"], arrays[f"y_{split}"], f"{key}/{split}", names)
    searched = [str(p) for p in places] + ([str(npz)] if key == "mnist" else [])
    keras_note = "keras is not installed, so its downloader was not tried"
    if importlib.util.find_spec("keras") is not None:
        try:
            (x_train, y_train), (x_test, y_test) = _keras_load(key)
            x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
            return from_arrays(np.asarray(x), np.asarray(y), f"{key}/{split}", names)
        except Exception as exc:  # keras raises bare Exception on network failure
            keras_note = f"keras.datasets.{key}.load_data() also failed (it needs internet): {exc}"
    hint = ("install the Debian package (apt-get install dataset-fashion-mnist), or " if key == "fashion_mnist" else "")
    sub = KERAS_SUBDIRS[key][0]
    raise InputError(
        f"cannot find the {key} {split} IDX files ({prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]); searched: {', '.join(searched)}. To get them, {hint}"
        f"download the 4 files (train/t10k images and labels) into {datasets_dir / sub} or pass "
        f"data_dir=<folder holding them>, or run keras.datasets.{key}.load_data() once with internet. "
        f"({keras_note})"
    )


# ---------------------------------------------------------------- other named datasets

def _load_cifar10(split: str) -> Dataset:
    try:
        import keras  # lazy: heavy

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as exc:
        raise InputError(
            "cannot load cifar10 through keras.datasets.cifar10.load_data(): it needs keras "
            "(pip install tensorflow-cpu) and either internet or a cached copy in "
            f"{_keras_home() / 'datasets'} (cifar-10-batches-py); error: {exc}"
        ) from exc
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return from_arrays(np.asarray(x), np.asarray(y).reshape(-1), f"cifar10/{split}", CIFAR10_CLASSES)


def _load_digits(split: str) -> Dataset:
    """scikit-learn's bundled 8x8 digits, with an 80/20 stratified split (random_state=0).

    Pixel values 0..16 become np.rint(v * 255 / 16) (round half to even; only v = 8 is a
    tie, 127.5 -> 128), so 0 -> 0 and 16 -> 255.
    """
    from sklearn.datasets import load_digits  # lazy
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * 255.0 / 16.0).astype(np.uint8)
    idx_train, idx_test = train_test_split(np.arange(len(images)), test_size=0.2,
                                           stratify=bunch.target, random_state=0)
    idx = np.sort(idx_train if split == "train" else idx_test)
    return from_arrays(images[idx], bunch.target[idx], f"digits/{split}", MNIST_CLASSES)


def _load_npz(path: Path) -> Dataset:
    """Read `images`/`labels` (or `x`/`y`, `x_train`/`y_train`) from an .npz file."""
    if not path.is_file():
        raise InputError(f"npz file {str(path)!r} does not exist")
    pairs = (("images", "labels"), ("x", "y"), ("x_train", "y_train"))
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = sorted(arrays.files)
            pair = next(((x, y) for x, y in pairs if x in keys and y in keys), None)
            if pair is not None:
                images, labels = arrays[pair[0]], arrays[pair[1]]
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read npz file {str(path)!r} ({exc}); check that it was written by "
                         "np.savez with plain numeric arrays") from exc
    if pair is None:
        raise InputError(f"{str(path)!r} holds arrays {keys}; expected 'images' and 'labels' "
                         "(or 'x'/'y', or 'x_train'/'y_train')")
    return from_arrays(images, labels, path.name)


# ---------------------------------------------------------------- image folders

def _check_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    pair = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise InputError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return int(pair[0]), int(pair[1])


def _crop_resize(image: np.ndarray, size: tuple[int, int] | None, square_crop: bool) -> np.ndarray:
    """Centre-crop to a square when asked, then resize to `size` (INTER_AREA when shrinking)."""
    import cv2  # lazy

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if square_crop:
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top:top + side, left:left + side]
    if size is not None and image.shape[:2] != size:
        shrinking = size[0] <= image.shape[0] and size[1] <= image.shape[1]
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (size[1], size[0]), interpolation=interp)
    return np.ascontiguousarray(image)


def _crop_resize_all(ds: Dataset, size: tuple[int, int] | None, square_crop: bool) -> Dataset:
    """Apply `_crop_resize` to every image of an in-memory dataset (no-op when nothing asked)."""
    if size is None and not square_crop:
        return ds
    images = np.stack([_crop_resize(im, size, square_crop) for im in ds.images])
    images = images.reshape(*images.shape[:3], -1)
    return Dataset(images, ds.labels, ds.class_names, ds.name, ds.skipped)


def crop_resize(image: np.ndarray, size: int | tuple[int, int] | None, square_crop: bool = False) -> np.ndarray:
    """One image as the folder loader prepares it: optional centre square crop, then resize to `size`.

    Returns (H, W) for grayscale and (H, W, 3) for colour, like `decode_image`.
    """
    return _crop_resize(image, _check_size(size), square_crop)


def decode_image(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray | None:
    """Decode encoded image bytes (PNG, JPEG, BMP, ...) as RGB (H, W, 3) or grayscale (H, W) uint8.

    Returns None when the bytes are not an image OpenCV can decode.
    """
    import cv2  # lazy

    buffer = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_ANYCOLOR) if buffer.size else None
    except cv2.error:
        return None
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        return None
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def _read_image(path: Path) -> np.ndarray | None:
    """Decode one file as RGB (H, W, 3) or grayscale (H, W) uint8; None when unreadable."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return decode_image(data)


def _load_folder(root: Path, size: tuple[int, int] | None, square_crop: bool) -> Dataset:
    """Read a folder with one sub-folder of images per class (hidden folders ignored)."""
    class_dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.name)
    if not class_dirs:
        raise InputError(f"folder {str(root)!r} has no class sub-folders; put the images of each class "
                         "in their own sub-folder (e.g. root/cat/1.png, root/dog/2.png)")
    images: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    skipped: list[str] = []
    empty: list[str] = []
    for folder in class_dirs:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        start = len(images)
        for file in files:
            image = _read_image(file)
            if image is None:
                skipped.append(str(file))
                continue
            images.append(_crop_resize(image, size, square_crop))
            labels.append(len(names))
        if len(images) > start:
            names.append(folder.name)
        else:
            empty.append(folder.name)
    if skipped:
        shown = ", ".join(skipped[:MAX_NAMED_SKIPS])
        more = f" and {len(skipped) - MAX_NAMED_SKIPS} more" if len(skipped) > MAX_NAMED_SKIPS else ""
        logger.warning("skipped %d unreadable image file(s) in %s: %s%s", len(skipped), root, shown, more)
    if empty:
        logger.warning("ignored class folder(s) with no readable images in %s: %s", root, ", ".join(empty))
    if len(names) < 2:
        raise InputError(
            f"folder {str(root)!r} has readable images in {len(names)} class sub-folder(s) ({names}); a "
            f"classifier needs at least 2 (image files end in {', '.join(IMAGE_EXTENSIONS)})"
        )
    shapes = {im.shape[:2] for im in images}
    if len(shapes) > 1:
        raise InputError(
            f"images in {str(root)!r} have {len(shapes)} different sizes (e.g. {sorted(shapes)[:3]}); pass "
            "image_size=(height, width) to resize them all (square_crop=True keeps the aspect ratio)"
        )
    if any(im.ndim == 3 for im in images):
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    batch = np.stack(images)
    if batch.ndim == 3:
        batch = batch[..., None]
    return Dataset(batch, np.asarray(labels, dtype=np.int64), tuple(names), root.name or str(root),
                   tuple(skipped))


# ---------------------------------------------------------------- train / validation split

def _allocate(weights: np.ndarray, total: int, capacity: np.ndarray) -> np.ndarray:
    """Split `total` across classes proportionally to `weights` (largest remainder), within `capacity`.

    Every class with capacity gets at least one item when `total` allows it.
    """
    quota = weights * total / weights.sum()
    alloc = np.minimum(np.floor(quota).astype(np.int64), capacity)
    available = capacity > 0
    if total >= available.sum():
        alloc = np.where(available & (alloc == 0), 1, alloc)
    while alloc.sum() > total:  # only after forcing ones: take back from the most over-served class
        alloc[np.argmax(np.where(alloc > 1, alloc - quota, -np.inf))] -= 1
    while alloc.sum() < total:
        alloc[np.argmax(np.where(alloc < capacity, quota - alloc, -np.inf))] += 1
    return alloc


def split_train_val(dataset: Dataset, train_size: int, val_size: int | None = None,
                    seed: int = 0) -> tuple[Dataset, Dataset]:
    """Draw a stratified, seeded training subset and a disjoint validation set from `dataset`.

    Both sets keep the class proportions of `dataset` (largest-remainder rounding, each
    class in train when possible); indices keep their original order. Default `val_size`:
    min(N - train_size, max(train_size // 4, 10 * num_classes)). If `train_size` >= N,
    a WARNING is logged and train gets every image not in validation, whose default size
    is then max(1, N // 5).
    """
    n = len(dataset)
    for label, value in (("train_size", train_size), ("val_size", val_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise InputError(f"{label} must be a positive integer, got {value!r}")
    if n < 2:
        raise InputError(f"dataset {dataset.name!r} has {n} image(s): too small to hold out any "
                         "validation images; pass a larger dataset")
    if train_size >= n:
        val = max(1, n // 5) if val_size is None else int(val_size)
        if val >= n:
            raise InputError(f"val_size={val} leaves no training images in dataset {dataset.name!r} "
                             f"({n} images); pass val_size < {n}")
        train = n - val
        logger.warning("train_size=%d >= the %d images of %r: using the %d images not held out for "
                       "validation (%d) as the training set", train_size, n, dataset.name, train, val)
    else:
        train = int(train_size)
        default = min(n - train, max(train // 4, 10 * dataset.num_classes))
        val = default if val_size is None else int(val_size)
        if val > n - train:
            raise InputError(f"val_size={val} is more than the {n - train} images left after train_size="
                             f"{train} in dataset {dataset.name!r}; pass val_size <= {n - train} or a "
                             "smaller train_size")
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    weights = counts.astype(np.float64)
    train_alloc = _allocate(weights, train, counts)
    val_alloc = _allocate(weights, val, counts - train_alloc)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(dataset.num_classes):
        order = rng.permutation(np.flatnonzero(dataset.labels == c))
        train_idx.append(order[:train_alloc[c]])
        val_idx.append(order[train_alloc[c]:train_alloc[c] + val_alloc[c]])
    parts = []
    for suffix, idx in (("train", train_idx), ("val", val_idx)):
        sel = np.sort(np.concatenate(idx))
        parts.append(Dataset(dataset.images[sel], dataset.labels[sel], dataset.class_names,
                             f"{dataset.name}/{suffix}", dataset.skipped))
    return parts[0], parts[1]


def pick_examples(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of n images, covering as many classes as possible (first of each class first)."""
    if n < 1:
        raise InputError(f"the number of example images must be at least 1, got {n}")
    firsts = np.array([np.flatnonzero(labels == c)[0] for c in np.unique(labels)])
    rest = np.setdiff1d(np.arange(len(labels)), firsts)
    return np.concatenate([firsts, rest])[:n]
