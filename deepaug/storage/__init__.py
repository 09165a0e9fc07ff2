"""Where bytes live: local folders, S3 and (through fsspec) GCS, Azure and memory://, behind one
`Storage` protocol, atomic local writes,
and the identity documents that tell two stored runs apart.

>>> from deepaug.storage import open_storage
>>> store = open_storage("s3://my-bucket/experiments")       # doctest: +SKIP
>>> store.write("run/config.json", b"{}")                     # doctest: +SKIP
"""
from __future__ import annotations

from deepaug import _moved
from deepaug.storage.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from deepaug.storage.backends import join, locate, open_storage, parse_s3_uri, read_json, read_json_or_none, write_json
from deepaug.storage.base import Storage, StorageError, redact
from deepaug.storage.fsspec_backend import FsspecStorage
from deepaug.storage.folders import FolderSkip, FolderWalk, walk_folder
from deepaug.storage.identity import differences
from deepaug.storage.local import LocalStorage
from deepaug.storage.s3 import S3Storage

__all__ = ["FolderSkip", "FolderWalk", "FsspecStorage", "LocalStorage", "S3Storage", "Storage", "StorageError",
           "atomic_write", "atomic_write_bytes", "atomic_write_text", "differences", "join", "locate", "open_storage",
           "parse_s3_uri", "read_json", "read_json_or_none", "redact", "walk_folder", "write_json"]


def __getattr__(name: str) -> object:
    # deepaug.storage was one module before 0.1: its names now live in deepaug.storage.backends
    return _moved.attribute(__name__, name, "deepaug.storage.backends")
