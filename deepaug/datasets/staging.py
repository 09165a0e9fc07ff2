"""A dataset held in memory (tf.data, HuggingFace, a list of PIL images) or in a HuggingFace or TFDS
folder, written once as a folder of class sub-folders of PNG files that `deepaug augment` reads.

The folder is named after a hash of the images and their classes, under the system's temporary
folder (`root`): the same data give the same folder, the same files and so the same dataset id,
so an interrupted run resumes. Images keep their sizes (augment's `size` and `crop` resize them).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepaug.datasets.core import class_name_labels, label_values
from deepaug.datasets.external import is_external, path_kind, read_items
from deepaug.datasets.image_lists import as_image_array
from deepaug.errors import InputError
from deepaug.images import to_uint8

log = logging.getLogger(__name__)


def staging_root() -> Path:
    """Where staged inputs go: <temporary folder>/deepaug-inputs-<uid>."""
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"deepaug-inputs-{user}"


def needs_staging(src: Any) -> bool:
    """Whether `src` is a form `deepaug augment` reads only through `stage_folder`."""
    if isinstance(src, (str, os.PathLike)):
        return not str(src).startswith("s3://") and path_kind(src) is not None
    return is_external(src) or (isinstance(src, tuple) and len(src) == 2)  # (images, labels)


def _folder_names(labels: Any, names: tuple[str, ...] | None) -> list[str]:
    """Each image's class folder: its class name, or its label value."""
    named = class_name_labels(labels, "src labels")
    if named is not None:
        index, names = named
    else:
        index, _ = label_values(labels, "src labels")
    folders = [str(names[i]) if names else str(i) for i in index.tolist()]
    for name in sorted(set(folders)):
        if not name.strip() or name.startswith(".") or "/" in name or "\\" in name:
            raise InputError(f"class {name!r} cannot name a folder of the staged input; rename the class "
                             "(no '/', '\\', leading '.' or empty name)")
    return folders


def stage_folder(src: Any, split: str = "train", root: str | os.PathLike[str] | None = None) -> Path:
    """`src` (see `needs_staging`; its `split` when it has several; (images, labels) for a list of
    images or an image array) as a folder of class sub-folders."""
    value, given = src if isinstance(src, tuple) and len(src) == 2 else (src, None)
    images, labels, names = read_items(value, given, "src", split)
    if labels is None or len(labels) != len(images):
        raise InputError(f"src has {len(images)} images but {0 if labels is None else len(labels)} labels; "
                         "pass one label per image")
    folders = _folder_names(labels, names)
    arrays = [to_uint8(as_image_array(im), f"src image {i}") for i, im in enumerate(images)]
    digest = hashlib.sha256()
    for array, folder in zip(arrays, folders):
        digest.update(f"{folder}\0{array.shape}\0".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    base = Path(root) if root is not None else staging_root()
    target = base / digest.hexdigest()[:16]
    if target.is_dir():
        log.info("the input is staged already in %s (%d images)", target, len(arrays))
        return target
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=base))
    try:
        for i, (array, folder) in enumerate(zip(arrays, folders)):
            (work / folder).mkdir(exist_ok=True)
            pixels = array[..., ::-1] if array.ndim == 3 and array.shape[2] == 3 else array  # OpenCV writes BGR
            ok, data = cv2.imencode(".png", np.ascontiguousarray(pixels))
            if not ok:
                raise InputError(f"src image {i} (shape {array.shape}) could not be written as PNG")
            (work / folder / f"{i:06d}.png").write_bytes(data.tobytes())
        os.replace(work, target)  # the whole folder appears at once
    except OSError:
        if not target.is_dir():
            raise
        log.debug("another process staged %s first", target)  # same data, same files: use theirs
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("staged %d images of %d classes in %s for deepaug augment", len(arrays), len(set(folders)), target)
    return target
