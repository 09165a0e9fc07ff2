"""Blob storage on URIs: a local folder, an S3 prefix or a gs://, az:// or memory:// one through fsspec.

Trial specs, trial records and augmented shards go through a `Storage`: `read`, `write`
(atomic: readers see the old object or the whole new one), `exists`, `list` (recursive,
sorted), `delete` and `uri`. Keys are relative '/'-separated paths such as
'trials/0001/spec.json'; a key that could escape the root ('..', absolute) is refused.
A missing key on read raises FileNotFoundError on every backend.

>>> import tempfile
>>> store = open_storage(tempfile.mkdtemp())     # or "s3://bucket/experiments/x"
>>> write_json(store, "trials/0001/spec.json", {"seed": 1})
>>> read_json(store, "trials/0001/spec.json"), list(store.list("trials/"))
({'seed': 1}, ['trials/0001/spec.json'])

S3 uses boto3's standard credential chain (environment, profile, pod IAM role) and
honours AWS_ENDPOINT_URL (MinIO, moto); boto3 is needed only for s3:// URIs. gs://, az://,
abfs:// and memory:// go through fsspec (`deepaug.storage.fsspec_backend`): the options are
handed to the filesystem (gcsfs, adlfs) as its storage_options, and never logged.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from deepaug.errors import InputError
from deepaug.storage.base import Data, Storage, StorageError, check_key
from deepaug.storage.fsspec_backend import SCHEMES, FsspecStorage, is_fsspec_uri
from deepaug.storage.local import LocalStorage
from deepaug.storage.s3 import S3Storage

__all__ = ["Data", "FsspecStorage", "LocalStorage", "S3Storage", "Storage", "StorageError", "check_key", "is_remote",
           "join", "locate", "open_storage", "parse_s3_uri", "read_json", "read_json_or_none", "write_json"]

log = logging.getLogger(__name__)

def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix/' -> ('bucket', 'some/prefix'); InputError if malformed."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InputError(f"bad S3 URI {uri!r}; write it as s3://bucket/optional/prefix")
    return parts.netloc, parts.path.strip("/")


def _local_path(uri: str) -> Path:
    if "://" not in uri:
        return Path(uri)
    parts = urlsplit(uri)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    raise InputError(f"unsupported storage URI {uri!r}; use a local path, file:///path, s3://bucket/prefix or "
                     f"one of {', '.join(f'{scheme}://' for scheme in SCHEMES)}")


def is_remote(uri: str) -> bool:
    """Whether `uri` names an object store (s3:// or a scheme served through fsspec), not a local path."""
    return uri.lower().startswith("s3://") or is_fsspec_uri(uri)


def open_storage(uri: str | os.PathLike[str], **s3_options: Any) -> Storage:
    """The Storage rooted at `uri` (local path, file://, s3://, or gs://, az://, abfs://, memory:// through
    fsspec, which gets the options as its storage_options). Options are ignored for local roots.

    >>> open_storage("s3://bucket/exp", client=object())
    S3Storage('s3://bucket/exp')
    """
    text = os.fspath(uri)
    if text.lower().startswith("s3:"):
        return S3Storage(*parse_s3_uri(text), **s3_options)
    if is_fsspec_uri(text):
        return FsspecStorage(text, **s3_options)
    return LocalStorage(_local_path(text))


def locate(uri: str | os.PathLike[str], **s3_options: Any) -> tuple[Storage, str]:
    """Split the URI of one object into (storage, key) so that `storage.uri(key)` names it."""
    text = os.fspath(uri)
    if text.lower().startswith("s3:"):
        bucket, key = parse_s3_uri(text)
        return S3Storage(bucket, **s3_options), check_key(key, text)
    if is_fsspec_uri(text):
        root, _, key = text.rstrip("/").rpartition("/")
        return FsspecStorage(root, **s3_options), check_key(key, text)
    path = _local_path(text).expanduser().absolute()
    return LocalStorage(path.parent), check_key(path.name, text)


def join(uri: str, *parts: str) -> str:
    """Join key parts onto a root URI: join('s3://b/exp', 'trials', '1.json') -> 's3://b/exp/trials/1.json'."""
    if "://" in uri:
        return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(uri, *parts)


def read_json(storage: Storage, key: str) -> Any:
    """The JSON value stored at `key`; InputError naming the URI if it does not parse."""
    try:
        return json.loads(storage.read(key).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{storage.uri(key)} is not valid JSON ({exc}); rewrite or remove it") from None


def read_json_or_none(storage: Storage, key: str) -> Any:
    """As `read_json`, but None when nothing is stored at `key`."""
    try:
        return read_json(storage, key)
    except FileNotFoundError:
        return None


def write_json(storage: Storage, key: str, value: Any) -> None:
    """Store `value` as indented UTF-8 JSON at `key`, atomically."""
    storage.write(key, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
