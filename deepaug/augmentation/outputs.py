"""The output of an augmentation run: its layout, and the writer of one shard.

Layout under the output root (local folder or S3 prefix):

- ``_run.json``: the dataset identity (input listing hash, recipe, options, deepaug
  version), written before any image, so a root holding images always says what they are;
- ``images/<class>/<name>.<ext>`` (png, jpeg): the original ``<name>`` and its variants
  ``<name>_v1`` .. (or ``<name>_a``, ``<name>_ab`` .. for a chain);
  or ``records/shard-000012-0.tfrecord`` (tfrecord): `tf.train.Example`s with the encoded
  PNG, label, class name, source key and variant;
- ``_shards/shard-000012.labels.csv`` then ``_shards/shard-000012.json``: the shard's
  label rows and its completion marker, written last. A row is: output (file, or TFRecord
  file plus record number), label, class, source key, variant, SHA-256 of the encoded image;
- ``labels.csv`` (every shard's rows, in order) and ``manifest.json``, written last of
  all, once every shard is complete (`deepaug.augmentation.manifest`): a dataset without a manifest is
  visibly incomplete.

Every object is written atomically (temp file and rename, or one S3 PUT), so a worker
killed mid-shard leaves whole files or none, and a re-run rewrites them byte for byte.
On a local disk a shard's images are not fsynced as they are written (on this project's
test VM that cost 0.6-1.2 ms each, more than encoding them): before the shard writes its
labels part and marker, its batch writer (`Storage.batch_writer`, deepaug.storage.local) writes
them all out with one syncfs and then
fsyncs each file and folder (cheap by then; it is what reports this shard's own write
errors), so a marker that survives a power cut still means the shard's files did too.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections import deque
from concurrent.futures import Executor, Future
from typing import Any, Sequence

import cv2
import numpy as np

from deepaug.augmentation.inputs import NAME_MAX, Skip
from deepaug.augmentation.shards import shard_name
from deepaug.augmentation.tfrecord import encode_example, frame
from deepaug.errors import InputError
from deepaug.storage.backends import Storage, write_json

log = logging.getLogger(__name__)

FORMATS = ("png", "jpeg", "tfrecord")
RUN_KEY, MANIFEST_KEY, LABELS_KEY = "_run.json", "manifest.json", "labels.csv"
SHARDS_PREFIX = "_shards/"
LABEL_COLUMNS = ("output", "record", "label", "class", "source", "variant", "sha256")
PNG_COMPRESSION = 3
RECORDS_FILE_BYTES = 64 * 1024 * 1024  # a shard's TFRecord file rolls over past this size
# what deepaug adds to an output file's name: ".jpg"/".png", and for its temp file (deepaug.storage.atomic)
# "." before and ".<pid: up to 7 digits>-<6 hex>.tmp" after
EXTENSION_BYTES, TEMP_NAME_BYTES = 4, 1 + 1 + 7 + 1 + 6 + 4


def marker_key(shard: int) -> str:
    return f"{SHARDS_PREFIX}{shard_name(shard)}.json"


def labels_part_key(shard: int) -> str:
    return f"{SHARDS_PREFIX}{shard_name(shard)}.labels.csv"


def output_stem(key: str, kind: str, class_name: str) -> str:
    """Where an input's outputs go, without suffix and extension: 'cat/x/001' for 'cat/x/001.png'."""
    if kind == "npz":
        return f"{class_name}/{key}"
    folder, _, name = key.rpartition("/")
    return f"{folder}/{name.rpartition('.')[0] or name}"


def image_key(stem: str, suffix: str, fmt: str) -> str:
    extension = "jpg" if fmt == "jpeg" else "png"
    return f"images/{stem}{'_' + suffix if suffix else ''}.{extension}"


def name_limit(uri: str | None = None) -> int:
    """The most bytes one name may have under the output `uri`: the file system's PC_NAME_MAX (of the
    nearest folder that exists) for a local path, at most NAME_MAX; NAME_MAX for S3 or where unknown."""
    if uri is None or "://" in uri:
        return NAME_MAX  # S3 has no such limit, but the outputs are read back as folders
    folder = os.path.abspath(uri)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or the file system cannot tell
        return NAME_MAX


def check_name_lengths(stems: Sequence[str], sources: Sequence[str], suffixes: Sequence[str],
                       limit: int = NAME_MAX) -> None:
    """InputError, before any work, when a folder or file name of an output (images/<stem>_<suffix>.<ext>,
    and its temp file) would be longer than `limit` bytes in UTF-8: the write would fail mid-shard."""
    added = max((len(s.encode("utf-8")) + 1 for s in suffixes if s), default=0) + EXTENSION_BYTES + TEMP_NAME_BYTES
    longest = max(suffixes, key=lambda s: len(s.encode("utf-8")), default="")
    folders: set[str] = set()
    for stem, source in zip(stems, sources):
        folder, _, name = stem.rpartition("/")
        if folder not in folders:
            folders.add(folder)
            for part in folder.split("/"):
                size = len(part.encode("utf-8"))
                if size > limit:
                    raise InputError(f"input {source[:80]!r}: its output folder name {part[:40]!r}... is {size} bytes in "
                                     f"UTF-8, longer than a name may be here ({limit} bytes); shorten that class or "
                                     "folder name (for an .npz: the class names in its labels array)")
        size = len(name.encode("utf-8")) + added
        if size > limit:
            raise InputError(f"input {source[:80]!r}: its output file name, with the longest variant suffix "
                             f"({longest!r}), extension and temp-file name deepaug adds ({added} bytes), is {size} "
                             f"bytes in UTF-8, longer than a name may be here ({limit} bytes); shorten the file's name")


def check_names(stems: Sequence[str], sources: Sequence[str], suffixes: Sequence[str], *,
                limit: int = NAME_MAX) -> None:
    """InputError when two inputs would write the same output name (a.png and a.jpg; a.png and a_v1.png),
    or when an output's folder or file name would be longer than `limit` bytes (`check_name_lengths`)."""
    check_name_lengths(stems, sources, suffixes, limit)
    owner: dict[str, str] = {}
    clashes = []
    for stem, source in zip(stems, sources):
        if stem in owner:
            clashes.append(f"{owner[stem]} and {source} (both named {stem})")
        owner[stem] = source
    pattern = re.compile(r"^(.*)_(" + "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True)) + r")$")
    if suffixes:
        for stem, source in zip(stems, sources):
            match = pattern.match(stem)
            if match and match.group(1) in owner:
                clashes.append(f"{source} and variant {match.group(2)} of {owner[match.group(1)]}")
    if clashes:
        shown = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise InputError(f"input files would overwrite each other's outputs: {shown}. Rename them (outputs are "
                         "named <input name>_<variant>.<ext> beside the original)")


def encode(image: np.ndarray, fmt: str, jpeg_quality: int, png_compression: int = PNG_COMPRESSION) -> bytes:
    """PNG or JPEG bytes of an RGB (H, W, 3) or grayscale (H, W) uint8 image, with fixed settings."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if fmt == "jpeg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    else:
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, png_compression])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode an image of shape {image.shape} as {fmt}")
    return data.tobytes()


class ShardWriter:
    """Writes one shard's outputs through a thread pool (bounded), then its labels part and marker."""

    def __init__(self, storage: Storage, shard: int, dataset_id: str, fmt: str, jpeg_quality: int,
                 pool: Executor, max_in_flight: int = 32, png_compression: int = PNG_COMPRESSION) -> None:
        self.storage, self.shard, self.dataset_id = storage, shard, dataset_id
        self.fmt, self.jpeg_quality, self.pool, self.max_in_flight = fmt, jpeg_quality, pool, max_in_flight
        self.png_compression = png_compression
        self.files_out = storage.batch_writer()
        self.in_flight: deque[Future] = deque()
        self.rows = io.StringIO()
        self.csv = csv.writer(self.rows, lineterminator="\n")
        self.images = self.outputs = 0
        self.skipped: list[Skip] = []
        self.files: dict[str, str] = {}
        self.records = bytearray()
        self.record_count = self.file_index = 0

    def _put(self, key: str, data: bytes) -> None:
        self.in_flight.append(self.pool.submit(self.files_out.write, key, data))
        while len(self.in_flight) > self.max_in_flight:
            self.in_flight.popleft().result()

    def add_image(self, source: str, label: int, class_name: str, stem: str,
                  outputs: Sequence[tuple[str, np.ndarray]]) -> None:
        """Encode and write one input's outputs (original first) and record their rows."""
        self.images += 1
        for suffix, image in outputs:
            data = encode(image, "png" if self.fmt == "tfrecord" else self.fmt, self.jpeg_quality,
                          self.png_compression)
            digest = hashlib.sha256(data).hexdigest()
            name = image_key(stem, suffix, self.fmt)
            if self.fmt == "tfrecord":
                record = encode_example({
                    "image/encoded": [data], "image/format": [b"png"], "image/class/label": [label],
                    "image/class/text": [class_name.encode()], "image/filename": [name[len("images/"):].encode()],
                    "image/source": [source.encode()], "image/variant": [suffix.encode()],
                    "image/height": [image.shape[0]], "image/width": [image.shape[1]],
                    "image/channels": [image.shape[2] if image.ndim == 3 else 1]})
                if len(self.records) + len(record) > RECORDS_FILE_BYTES and self.records:
                    self._flush_records()
                self.records += frame(record)
                self.csv.writerow((self._records_key(), self.record_count, label, class_name, source, suffix, digest))
                self.record_count += 1
            else:
                self._put(name, data)
                self.csv.writerow((name, "", label, class_name, source, suffix, digest))
            self.outputs += 1

    def _records_key(self) -> str:
        return f"records/{shard_name(self.shard)}-{self.file_index}.tfrecord"

    def _flush_records(self) -> None:
        data, key = bytes(self.records), self._records_key()
        self.files[key] = hashlib.sha256(data).hexdigest()
        self._put(key, data)
        self.records, self.record_count, self.file_index = bytearray(), 0, self.file_index + 1

    def skip(self, skip: Skip) -> None:
        self.skipped.append(skip)

    def close(self) -> dict[str, Any]:
        """Wait for every write, then write the labels part and, last, the completion marker."""
        if self.fmt == "tfrecord" and (self.records or not self.files):
            self._flush_records()
        while self.in_flight:
            self.in_flight.popleft().result()
        self.files_out.sync(self.pool)  # the outputs are durable before the marker that vouches for them
        part = self.rows.getvalue().encode("utf-8")
        self.storage.write(labels_part_key(self.shard), part)
        marker = {"dataset_id": self.dataset_id, "shard": self.shard, "images": self.images,
                  "outputs": self.outputs, "skipped": [s.to_dict() for s in self.skipped],
                  "labels": labels_part_key(self.shard), "checksum": hashlib.sha256(part).hexdigest(),
                  "files": self.files}
        write_json(self.storage, marker_key(self.shard), marker)
        return marker
