"""The input of an augmentation run: a sorted listing of images with labels, and their pixels.

Two kinds of input:

- a folder of class sub-folders, local or under an S3 prefix (`root/cat/1.png`): every
  key is listed (all pages); image files become items labelled by their first folder,
  anything else (other extensions, hidden files, files outside a class folder) is a
  listed skip, never silently dropped;
- an `.npz` file holding `images` and `labels` (or `x`/`y`, `x_train`/`y_train`): item
  keys are zero-padded indices, labels are kept as stored (one-hot rows as their column),
  pixels may be uint8, integers in 0..255 or floats in [0, 1] or [0, 255] as the search reads
  them (checked whole when listed), and a shard's rows are read straight from the zip member
  without loading the whole array (on S3 by ranged GETs; `_open_npz` says when it is downloaded).

The listing's `sha256` (over the sorted keys and each image's content stamp: a hash of its
bytes for local files, size and ETag on S3; or the .npz file's bytes) goes into the dataset
identity. A folder reached by a second path (two class folders linked to one target, a link back
up the tree) is listed once and the other path is a listed skip (`deepaug.storage.folders`).
Reading and decoding happen per shard (`read_shard`), with concurrent reads for folders; an
unreadable, corrupt or truncated image becomes a `Skip`.
"""
from __future__ import annotations

import hashlib
import logging
import zipfile
from collections import deque
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator, TypeVar

import numpy as np

from deepaug.augmentation.npz_members import NpyMember
from deepaug.datasets import IMAGE_EXTENSIONS, NPZ_PAIRS, class_name_labels, label_values
from deepaug.errors import InputError
from deepaug.images import decode_checked, not_whole_levels
from deepaug.storage.backends import Storage, locate, open_storage
from deepaug.storage.base import StorageError
from deepaug.storage.folders import FolderSkip

log = logging.getLogger(__name__)

MAX_NAME_BYTES = 200  # an input file name's bytes: its outputs (+ "_<variant>.jpeg") and their temp files
# (".<name>.<pid>-<token>.tmp") must fit the 255 bytes of a file name
NAME_MAX = 255  # bytes (UTF-8) of one path component: NAME_MAX of Linux file systems (ext4, xfs, btrfs, tmpfs)

T, R = TypeVar("T"), TypeVar("R")


@dataclass(frozen=True)
class Skip:
    """An input file that yields no output, and why."""

    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


@dataclass(frozen=True, eq=False)
class Listing:
    """The sorted images of an input (keys with labels), the files skipped, and the listing's hash."""

    uri: str
    kind: str  # "folder" or "npz"
    keys: tuple[str, ...]
    labels: np.ndarray  # int64, one per key
    classes: tuple[str, ...]  # class name of label i is classes[i] (folder, named npz); str(label) for npz
    skipped: tuple[Skip, ...]
    sha256: str
    files_listed: int
    image_shape: tuple[int, ...] = field(default=())  # npz: (H, W) or (H, W, C)
    pixel_scale: float = 1.0  # npz of float images: 255 for [0, 1] values, 1 for [0, 255]
    named: bool = False  # npz whose labels are class names: labels index `classes`

    def __len__(self) -> int:
        return len(self.keys)

    def class_of(self, index: int) -> str:
        label = int(self.labels[index])
        return self.classes[label] if self.kind == "folder" or self.named else str(label)

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "kind": self.kind, "listing_sha256": self.sha256,
                "files_listed": self.files_listed, "images": len(self.keys), "classes": list(self.classes)}


def _hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))


def list_input(uri: str, storage_options: dict[str, Any] | None = None) -> Listing:
    """List an input folder (local or s3://) or an .npz file; InputError when it holds no image."""
    options = storage_options or {}
    if uri.rstrip("/").lower().endswith(".npz"):
        return _list_npz(uri, options)
    storage = open_storage(uri, **options)
    problem = storage.folder_problem()
    if problem is not None:
        raise InputError(f"input {uri!r} {problem}; give a folder of class sub-folders, an s3://bucket/prefix/ "
                         "with the same layout, or an .npz file")
    folders: list[FolderSkip] = []  # second paths to a folder listed elsewhere (deepaug.storage.folders)
    entries = list(storage.list_info(skipped=folders))  # every page: the lister yields until the last one is done
    skipped = [Skip(f"{folder.folder}/", folder.reason) for folder in folders]
    keys, labels, class_index = [], [], {}
    for key, _ in entries:
        problem = _key_problem(key)
        if problem is not None:
            skipped.append(Skip(key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), problem))
        else:
            keys.append(key)
            labels.append(class_index.setdefault(key.split("/", 1)[0], len(class_index)))
    listed = len(entries)
    if not keys:
        what = "is empty" if not listed else f"holds {listed} file(s) but no image in a class folder"
        raise InputError(f"input {storage.uri()} {what}; put images in one sub-folder per class "
                         f"(e.g. {storage.uri('cat/1.png')}), ending in {', '.join(IMAGE_EXTENSIONS)}")
    order = np.argsort(np.array(keys, dtype=object), kind="stable")  # storage lists sorted; be sure
    classes = tuple(sorted(class_index))
    remap = np.array([classes.index(name) for name in class_index], dtype=np.int64)
    label_array = remap[np.asarray(labels, dtype=np.int64)][order]
    log.info("listed %s: %d images in %d classes, %d other files skipped", storage.uri(), len(keys),
             len(classes), len(skipped))
    return Listing(storage.uri(), "folder", tuple(keys[i] for i in order), label_array, classes,
                   tuple(skipped), _listing_sha256(storage, entries, set(keys)), listed)


def _key_problem(key: str) -> str | None:
    """Why a listed key yields no item (its name, hidden, outside a class folder, not an image), or None."""
    problem = name_problem(key)
    if problem is not None:
        return problem
    if _hidden(key):
        return "hidden file"
    if "/" not in key:
        return "not inside a class folder (root/<class>/<image>)"
    suffix = key.rpartition(".")[2].lower() if "." in key.rpartition("/")[2] else ""
    if f".{suffix}" not in IMAGE_EXTENSIONS:
        return (f"not an image file (extension {('.' + suffix) if suffix else 'none'}; "
                f"images end in {', '.join(IMAGE_EXTENSIONS)})")
    return None


def _listing_sha256(storage: Storage, entries: list[tuple[str, str]], images: set[str]) -> str:
    """SHA-256 over every listed key and its stamp; an image's stamp is its content stamp (local: a hash
    of its bytes, as size and mtime survive `cp -p`, `rsync -a` and `tar`), so the dataset id changes
    whenever an image's bytes do."""
    content = iter(storage.content_stamps([entry for entry in entries if entry[0] in images]))
    digest = hashlib.sha256()
    for key, stamp in entries:
        stamp = next(content) if key in images else stamp
        digest.update(key.encode("utf-8", "surrogateescape") + b"\t" + stamp.encode() + b"\n")
    return digest.hexdigest()


def name_problem(key: str) -> str | None:
    """Why an input key cannot become outputs, checked before any work: a name that is not UTF-8,
    an empty folder name (`cat//x.png`, `/x.png` on S3: it would shift every label), or a file name
    too long for its outputs and their temp files (`MAX_NAME_BYTES`)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8; rename the file"
    if any(part == "" for part in key.split("/")):
        return "its key has an empty folder name (// or a leading /); move it into its class folder"
    size = len(key.rpartition("/")[2].encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return (f"its name is {size} bytes, too long for its outputs (at most {MAX_NAME_BYTES}: outputs add a variant "
                "suffix and their temp files more, within the file system's 255); shorten it")
    return None


# ---------------------------------------------------------------- .npz inputs

def _unsafe_folder_name(name: str) -> bool:
    """Whether a class name cannot be one folder of the output: '.', '..', hidden (skipped when the
    output is read back as a folder), or holding a separator or a control character."""
    return name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\") \
        or any(ord(c) < 32 or ord(c) == 127 for c in name)


def _open_npz(uri: str, options: dict[str, Any]) -> tuple[BinaryIO, zipfile.ZipFile, str]:
    """The .npz's file and zip archive, read by ranges (S3: the listing streams it once for its hash, a
    worker fetches the zip's directory and its rows); a compressed one (np.savez_compressed) cannot be
    read at an offset, so it is downloaded whole first (`open_read`, into TMPDIR, checked for room)."""
    storage, key = locate(uri, **options)
    where = storage.uri(key)
    try:
        handle = storage.open_ranged(key)
    except FileNotFoundError:
        raise InputError(f"npz file {where!r} does not exist") from None
    try:
        archive = zipfile.ZipFile(handle)
        if all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist()):
            return handle, archive, where
        archive.close()
        handle.close()
        log.info("%s is compressed (np.savez_compressed): reading it from a local copy", where)
        handle = storage.open_read(key)
        return handle, zipfile.ZipFile(handle), where
    except BaseException:
        handle.close()
        raise


def _npz_arrays(archive: zipfile.ZipFile, where: str) -> tuple[NpyMember, np.ndarray, tuple[str, ...] | None]:
    members = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
    pair = next(((x, y) for x, y in NPZ_PAIRS if x in members and y in members), None)
    if pair is None:
        raise InputError(f"{where} holds arrays {sorted(members)}; expected 'images' and 'labels' "
                         "(or 'x'/'y', or 'x_train'/'y_train')")
    images = NpyMember(archive, pair[0], where)
    with archive.open(f"{pair[1]}.npy") as fh:
        raw = np.load(fh, allow_pickle=False)
    # what the search reads: numbers, one-hot rows or class names
    named = class_name_labels(raw, f"{where}: labels")
    labels, names = named if named is not None else (label_values(raw, f"{where}: labels")[0], None)
    for name in names or ():
        if _unsafe_folder_name(name):
            raise InputError(f"{where}: class name {name!r} cannot name an output folder (it is '.' or '..', "
                             "starts with '.', or holds a '/', a '\\' or a control character); rename that class")
        size = len(name.encode("utf-8"))
        if size > NAME_MAX:  # checked here, before any output: a folder name too long fails mid-shard (ENAMETOOLONG)
            raise InputError(f"{where}: class name {name[:40]!r}... is {size} bytes in UTF-8, longer than a folder "
                             f"name may be ({NAME_MAX} bytes); shorten the class names in the .npz's labels array")
    if len(images.shape) not in (3, 4) or (len(images.shape) == 4 and images.shape[3] not in (1, 3)):
        raise InputError(f"{where}: images must be shaped (N, H, W) or (N, H, W, C) with C in (1, 3), "
                         f"got {images.shape}")
    kind = images.dtype
    if not (kind == np.bool_ or np.issubdtype(kind, np.integer) or np.issubdtype(kind, np.floating)):
        raise InputError(f"{where}: images are {kind}, not pixel values; save them as uint8")
    if labels.shape[0] != images.shape[0]:
        raise InputError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels, names


def _pixel_scale(images: NpyMember, where: str, chunk_bytes: int = 64 << 20) -> float:
    """The factor that takes `images` to 0..255: 255 for [0, 1] floats, else 1. Images that are not
    uint8 or bool are checked whole (read by chunks) before any work, by the rule of the search's
    `to_uint8`: InputError for values that are not finite, outside 0..255, or not whole 8-bit levels."""
    if images.dtype == np.uint8 or images.dtype == np.bool_:
        return 1.0
    n, floats = images.shape[0], np.issubdtype(images.dtype, np.floating)
    step = max(1, chunk_bytes // max(1, int(np.prod(images.shape[1:], dtype=np.int64)) * images.dtype.itemsize))
    lo, hi, levels_255, levels_1 = np.inf, -np.inf, True, True
    for start in range(0, n, step):
        rows = images.rows(start, min(n, start + step))
        if floats:
            rows = rows.astype(np.float64)
            if not np.isfinite(rows).all():
                raise InputError(f"{where}: images contain NaN or infinite values; clean them first")
            levels_255 = levels_255 and bool(np.abs(rows - np.rint(rows)).max(initial=0) <= 1e-3)
            levels_1 = levels_1 and bool(np.abs(rows * 255.0 - np.rint(rows * 255.0)).max(initial=0) <= 1e-3)
        if rows.size:
            lo, hi = min(lo, float(rows.min())), max(hi, float(rows.max()))
    if lo < 0 or hi > 255:
        raise InputError(f"{where}: images have values outside 0..255 (min {lo:g}, max {hi:g}); augmentation "
                         "writes 8-bit images: rescale them to 0..255 (or [0, 1] floats) first")
    scale = 255.0 if floats and hi <= 1.0 else 1.0
    if floats and not (levels_1 if scale == 255.0 else levels_255):
        raise InputError(f"{where}: images have {not_whole_levels(scale == 255.0, 'writing them as 8-bit images')}")
    return scale


def _list_npz(uri: str, options: dict[str, Any]) -> Listing:
    try:
        handle, archive, where = _open_npz(uri, options)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InputError(f"cannot read npz file {uri} ({exc}); write it with np.savez") from None
    with handle, archive:
        digest = hashlib.sha256()
        handle.seek(0)
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
        try:
            images, labels, names = _npz_arrays(archive, where)
            scale = _pixel_scale(images, where)
        except (InputError, StorageError):  # StorageError: S3 did not answer (worth a retry, not a bad file)
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise InputError(f"cannot read npz file {where} ({exc}); write it with np.savez") from None
    n = int(images.shape[0])
    if n == 0:
        raise InputError(f"npz file {where} holds no images")
    width = max(6, len(str(n - 1)))
    keys = tuple(f"{i:0{width}d}" for i in range(n))
    classes = names if names is not None else tuple(str(v) for v in np.unique(labels))
    log.info("listed %s: %d images of shape %s, %d classes", where, n, images.shape[1:], len(classes))
    return Listing(where, "npz", keys, labels, classes, (), digest.hexdigest(), n, tuple(images.shape[1:]), scale,
                   named=names is not None)


# ---------------------------------------------------------------- reading a shard

def windowed_map(pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """`fn` over `items` on `pool`, results in order, at most `window` calls ahead of the consumer."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def truncation(key: str, data: bytes) -> str | None:
    """Why `data` looks cut short (decoders accept some truncated files with grey fill), or None."""
    suffix = key.rpartition(".")[2].lower()
    if suffix in ("jpg", "jpeg") and b"\xff\xd9" not in data[-64:]:
        return "truncated or damaged JPEG (no end-of-image marker)"
    if suffix == "png" and b"IEND" not in data[-16:]:
        return "truncated or damaged PNG (no IEND chunk at the end)"
    return None


class InputReader:
    """Reads the images of one shard, in listing order; opened once per worker process."""

    def __init__(self, listing: Listing, storage_options: dict[str, Any] | None = None) -> None:
        self.listing, self.options = listing, storage_options or {}
        self.storage: Storage | None = None
        self.npz: tuple[BinaryIO, zipfile.ZipFile, NpyMember] | None = None

    def read_shard(self, start: int, stop: int, pool: Executor, window: int = 16
                   ) -> Iterator[tuple[int, np.ndarray | Skip]]:
        """(listing index, (H, W[, C]) uint8 image or Skip) for listing[start:stop].

        Reads run ahead on `pool`; decoding stays in the calling thread, so a worker uses one core.
        """
        if self.listing.kind == "npz":
            yield from self._npz_rows(start, stop)
            return
        if self.storage is None:
            self.storage = open_storage(self.listing.uri, **self.options)
        keys = self.listing.keys
        for index, data in zip(range(start, stop), windowed_map(pool, self._read, keys[start:stop], window)):
            yield index, data if isinstance(data, Skip) else self._decode(keys[index], data)

    def _read(self, key: str) -> bytes | Skip:
        assert self.storage is not None
        try:
            return self.storage.read(key)
        except (FileNotFoundError, InputError) as exc:  # gone since listing, or not readable
            return Skip(key, f"cannot read: {exc}")

    @staticmethod
    def _decode(key: str, data: bytes) -> np.ndarray | Skip:
        reason = truncation(key, data) if data else "empty file"
        image, reason = (None, reason) if reason else decode_checked(data)
        return image if image is not None else Skip(key, reason or "corrupt or not an image (cannot be decoded)")

    def _npz_rows(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray | Skip]]:
        if self.npz is None:
            handle, archive, where = _open_npz(self.listing.uri, self.options)
            self.npz = (handle, archive, _npz_arrays(archive, where)[0])
        rows = self.npz[2].rows(start, stop)
        if rows.dtype == np.bool_:
            rows = rows.astype(np.uint8) * np.uint8(255)
        elif np.issubdtype(rows.dtype, np.floating):  # checked whole when listed (_pixel_scale)
            rows = np.clip(np.rint(rows.astype(np.float64) * self.listing.pixel_scale), 0, 255).astype(np.uint8)
        elif rows.dtype != np.uint8:  # integers in 0..255 (checked whole when listed)
            rows = rows.astype(np.uint8)
        for offset, image in enumerate(rows):
            yield start + offset, image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image

    def close(self) -> None:
        if self.npz is not None:
            self.npz[1].close()
            self.npz[0].close()
            self.npz = None

