"""The storage contract (`Storage`) and what every backend shares: key rules, errors."""
from __future__ import annotations

import re
from typing import Any, BinaryIO, Iterator, Protocol, Union, runtime_checkable

from deepaug.errors import InputError, RetryableError

Data = Union[bytes, bytearray, memoryview]
BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")  # what botocore accepts; S3 itself is stricter
KEY_RULES = "a relative path such as 'trials/0001/spec.json' (no leading '/', no '.', '..' or empty parts)"




class StorageError(RetryableError, OSError):
    """The store could not be reached or failed after retries; worth retrying later."""


@runtime_checkable
class Storage(Protocol):
    """A flat namespace of byte blobs under one root; keys are relative '/' paths.

    Beyond the blob operations, a backend offers what callers would otherwise reach around
    it for: streamed reads and writes of large files, a batch writer that makes many writes
    durable at once, and the checks and clean-up that only some backends need.
    """

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: Data) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str = "") -> str: ...
    def create(self, key: str, data: Data) -> bool:
        """Store `data` at `key` only if nothing is there (atomic: of two creators one wins); True if
        this call created it. Local: a link of a whole temp file; S3: a conditional PUT."""
    def list_info(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """(key, content stamp) of each key `list` gives; the stamp changes when the content does
        (local: size and mtime; S3: size and ETag)."""
    def open_read(self, key: str) -> BinaryIO:
        """A seekable binary file of the object (the caller closes it); FileNotFoundError if absent."""
    def write_stream(self, key: str, handle: BinaryIO) -> None:
        """Store a file's content without holding it in memory; atomic as `write`."""
    def batch_writer(self) -> "BatchWriter":
        """A writer for many objects that `sync`s them at once (local: one syncfs, not one fsync each)."""
    def folder_problem(self) -> str | None:
        """Why the root cannot be read as a folder ('does not exist', ...), None when it can."""
    def remove_temp_files(self, prefixes: tuple[str, ...], older_than: float = 0.0) -> int:
        """Remove temp files that writers killed mid-write left under `prefixes` (last written over
        `older_than` seconds ago; "" is the root's own files); how many."""


class BatchWriter(Protocol):
    def write(self, key: str, data: Data) -> None: ...
    def sync(self, pool: Any) -> None: ...


def check_key(key: str, where: str) -> str:
    """Return `key` if it is a safe relative key, else raise InputError naming `where`."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\x00" in key \
            or any(part in ("", ".", "..") for part in key.split("/")):
        raise InputError(f"bad key {key!r} for {where}: a key must be {KEY_RULES}")
    return key


def check_prefix(prefix: str, where: str) -> str:
    if not isinstance(prefix, str) or prefix.startswith("/"):
        raise InputError(f"bad list prefix {prefix!r} for {where}: a prefix must be {KEY_RULES}")
    folder = prefix.rpartition("/")[0]
    if folder:
        check_key(folder, where)
    return prefix


def check_data(data: Data, uri: str) -> int:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"can only store bytes at {uri}, got {type(data).__name__}; encode it first")
    return len(data)


def missing(uri: str) -> FileNotFoundError:
    return FileNotFoundError(f"nothing stored at {uri}; check the path, or write it first")


def redact(text: str) -> str:
    """Drop any user:password@ from URLs in `text`."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)
