"""Images one at a time (PIL images, arrays of different sizes) as one batch: the folder loader's rule.

A list of images as HuggingFace's `ds["image"]` gives it (PIL images of mixed sizes and modes)
is read as a folder is: every image centre-cropped to a square when `square_crop`, resized to
`image_size`, gray images given 3 channels when any image has colour; without `image_size`,
images of different sizes are refused with an error that says to pass it.

>>> from PIL import Image
>>> small, large = Image.new("RGB", (8, 6)), Image.new("L", (20, 12))
>>> from_image_list([small, large], [0, 1], image_size=16).image_shape
(16, 16, 3)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepaug.datasets.core import Dataset, from_arrays
from deepaug.errors import InputError
from deepaug.images import check_size, crop_resize_to, to_uint8

PIL_KEPT = ("L", "RGB")  # modes read as they are; "1" and "LA" become "L", the others (P, RGBA, CMYK...) "RGB"
PIL_WIDE = ("I", "I;16", "F")  # 16-bit and float modes: read as numbers, to_uint8 checks their range


def is_pil(value: object) -> bool:
    """Whether `value` is a PIL image (checked by its type's module: PIL need not be imported)."""
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert") and hasattr(value, "mode")


def as_image_array(image: Any) -> np.ndarray:
    """One image as an array: a PIL image in mode L (H, W) or RGB (H, W, 3); anything else as numpy reads it."""
    if not is_pil(image):
        return np.asarray(image)
    if image.mode in PIL_KEPT or image.mode in PIL_WIDE:
        return np.asarray(image)
    return np.asarray(image.convert("L" if image.mode in ("1", "LA") else "RGB"))


def mixed_sizes_error(where: str, shapes: set[tuple[int, ...]]) -> InputError:
    """The error for images of different sizes without an image_size (a folder, a list, a dataset)."""
    return InputError(
        f"{where} have {len(shapes)} different sizes (e.g. {sorted(shapes)[:3]}); pass "
        "image_size=(height, width) to resize them all, square_crop=True to keep the aspect ratio (in a "
        "run config: image_size: [height, width] and square_crop: true)"
    )


def stack_images(images: list[np.ndarray]) -> np.ndarray:
    """Images of one size as one (N, H, W, C) batch: gray ones get 3 channels when any image has
    channels, an all-gray batch gets a channel axis of 1."""
    if any(im.ndim == 3 for im in images):
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    batch = np.stack(images)
    if batch.ndim == 3:
        batch = batch[..., None]
    return batch


def from_image_list(images: Sequence[Any], labels: Any, name: str = "images",
                    image_size: int | tuple[int, int] | None = None, square_crop: bool = False,
                    class_names: Sequence[str] | None = None) -> Dataset:
    """A `Dataset` of images given one at a time (PIL images or arrays, of any sizes), resized as
    `deepaug.datasets.load` resizes a folder's images (see the module docstring)."""
    size = check_size(image_size)
    arrays = [as_image_array(im) for im in images]
    if not arrays:
        raise InputError(f"{name} is empty; pass at least one image per class")
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1 and size is None and not square_crop:  # one batch: pixel values read together
        return from_arrays(np.stack(arrays), labels, name, class_names)
    if size is None and len({s[:2] for s in shapes}) > 1:
        where = name if name.endswith("images") else f"the images of {name}"
        raise mixed_sizes_error(where, {s[:2] for s in shapes})
    resized = []
    for i, array in enumerate(arrays):
        image = to_uint8(array, f"{name}[{i}]")
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise InputError(f"{name}[{i}] has shape {image.shape}; each image must be (H, W), (H, W, 1) or "
                             "(H, W, 3) (convert RGBA images to RGB)")
        resized.append(crop_resize_to(image, size, square_crop))
    return from_arrays(stack_images(resized), labels, name, class_names)


def is_image_list(value: object) -> bool:
    """Whether `value` is a list or tuple of images that numpy cannot stack as it is: PIL images,
    or arrays of different shapes (a list of equal arrays is read as one array, as before)."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    if any(is_pil(v) for v in value):
        return True
    arrays = all(isinstance(v, np.ndarray) and v.ndim in (2, 3) for v in value)
    return arrays and len({v.shape for v in value}) > 1
