"""Storage through fsspec: gs:// (gcsfs), az:// and abfs:// (adlfs), and memory:// (in-process, for tests).

The guarantees are those of `LocalStorage` and `S3Storage`, said per operation:

- `write` is one `pipe_file`: on an object store (GCS, Azure Blob) a single PUT, which readers see
  whole or not at all; in memory:// one assignment of a new file object.
- `write_stream` streams into a temp key beside the target (`.name.<token>.tmp`, hidden from listings)
  and then moves it: the move is a server-side copy on an object store, so the target appears whole;
  a failed write removes its temp key, `remove_temp_files` those of a killed writer.
- `create` (the experiment and output claims) is the store's own conditional write: GCS's
  `ifGenerationMatch=0` (gcsfs >= 2024.12, which calls it experimental) and Azure's `If-None-Match: *`
  (adlfs >= 2024.12); memory:// takes a lock of this process, the only one that can see it.
- `storage_options` (tokens, account keys, connection strings) go to the filesystem and nowhere
  else: not in the repr, a log line or an error message.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator, Sequence
from urllib.parse import urlsplit

from deepaug.errors import InputError
from deepaug.extras import require
from deepaug.storage.atomic import is_temp, new_token
from deepaug.storage.base import (Data, StorageError, check_data, check_key, check_prefix, missing, redact)
from deepaug.storage.disk import download_to_temp
from deepaug.storage.folders import FolderSkip
from deepaug.storage.ranged import MAX_AHEAD, RangedFile

log = logging.getLogger(__name__)

# scheme -> the package that implements it for fsspec (None: fsspec itself)
SCHEMES: dict[str, str | None] = {"gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                                  "abfss": "adlfs", "memory": None}
# S3Storage's own options: a caller may pass them for any URI (the augmentation workers do); not fsspec's
S3_ONLY = frozenset({"client", "attempts", "connect_timeout", "read_timeout", "page_size", "multipart_threshold",
                     "endpoint_url", "max_pool_connections"})
# listing fields that change whenever an object's bytes do (GCS: md5Hash, then etag; Azure: etag)
CONTENT_FIELDS = ("md5Hash", "md5", "etag", "ETag")
TIME_FIELDS = ("mtime", "updated", "last_modified", "LastModified", "created")
_MEMORY_CREATE = threading.Lock()  # memory:// lives in this process: one lock makes its create atomic


def is_fsspec_uri(uri: str) -> bool:
    """Whether `uri` names a store this backend serves (gs://, gcs://, az://, abfs://, abfss://, memory://)."""
    return "://" in uri and urlsplit(uri).scheme.lower() in SCHEMES


def filesystem(scheme: str, options: dict[str, Any]) -> Any:
    """fsspec's filesystem for `scheme`; MissingExtraError naming the extra when its package is absent."""
    package = SCHEMES[scheme]
    if package is not None:
        require(package, f"{scheme}:// storage")
    fsspec = require("fsspec", f"{scheme}:// storage")
    if package is not None:  # gcsfs and adlfs keep listings forever by default: another writer's keys would be missed
        options = {"use_listings_cache": False, **options}
    return fsspec.filesystem(scheme, **options)


class FsspecStorage:
    """Blobs as objects under `scheme://bucket/prefix/` through an fsspec filesystem (injectable as `fs`).

    >>> FsspecStorage("memory://bucket/exp", token="secret").uri("trials/0001/spec.json")
    'memory://bucket/exp/trials/0001/spec.json'
    """

    def __init__(self, uri: str, fs: Any = None, **storage_options: Any) -> None:
        parts = urlsplit(uri)
        self.scheme = parts.scheme.lower()
        self.root = f"{parts.netloc}{parts.path}".strip("/")
        if self.scheme not in SCHEMES or not self.root or parts.query or parts.fragment:
            raise InputError(f"bad storage URI {redact(uri)!r}; write it as {self.scheme or 'gs'}://bucket/optional/"
                             f"prefix (schemes served through fsspec: {', '.join(SCHEMES)})")
        check_key(self.root, f"{self.scheme}://")
        options = {name: value for name, value in storage_options.items() if name not in S3_ONLY}
        self.fs = fs if fs is not None else filesystem(self.scheme, options)
        self.base = self.fs._strip_protocol(f"{self.scheme}://{self.root}").rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecStorage({redact(self.uri())!r})"  # never the storage options: they hold credentials

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key, self.uri())}"

    def uri(self, key: str = "") -> str:
        return "/".join([f"{self.scheme}://{self.root}", *([key] if key else [])])

    @contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        """The filesystem's errors as the contract's: FileNotFoundError, InputError, StorageError."""
        uri = self.uri(key)
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise missing(uri) from None
        except PermissionError as exc:
            raise InputError(f"cannot {action} {uri}: permission denied ({redact(str(exc))}); check the "
                             "credentials given to the filesystem and the bucket's permissions") from None
        except (InputError, TypeError, FileExistsError):
            raise
        except OSError as exc:
            raise StorageError(f"cannot {action} {uri}: {type(exc).__name__} ({redact(str(exc))}); try again "
                               "later") from None

    def read(self, key: str) -> bytes:
        path = self._path(key)
        with self._errors("read", key):
            return bytes(self.fs.cat_file(path))

    def write(self, key: str, data: Data) -> None:
        path = self._path(key)
        check_data(data, self.uri(key))
        with self._errors("write", key):
            self.fs.pipe_file(path, bytes(data))  # one PUT (object stores) or one assignment (memory)
        log.debug("wrote %d bytes to %s", len(data), self.uri(key))

    def exists(self, key: str) -> bool:
        path = self._path(key)
        with self._errors("check", key):
            return bool(self.fs.isfile(path))

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self.list_info(prefix):
            yield key

    def _find(self, prefix: str, temps: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """(key, info) of the objects whose key starts with `prefix`, sorted; temp keys only if `temps`."""
        folder = check_prefix(prefix, self.uri()).rpartition("/")[0]
        where = f"{self.base}/{folder}" if folder else self.base
        with self._errors("list", folder):
            try:
                found = self.fs.find(where, detail=True)
            except FileNotFoundError:
                found = {}
        head = f"{self.base}/"
        entries = [(path[len(head):], info) for path, info in found.items()
                   if path.startswith(head) and info.get("type", "file") == "file"]
        return sorted((key, info) for key, info in entries
                      if key.startswith(prefix) and is_temp(key.rpartition("/")[2]) == temps)

    def list_info(self, prefix: str = "", skipped: list[FolderSkip] | None = None) -> Iterator[tuple[str, str]]:
        """(key, stamp) of each key `list` gives: "size:<field>-<value>" from a content hash or ETag where the
        store lists one (it changes with the bytes), else "size:t-<time>" (cheap; `content_stamps` hashes)."""
        for key, info in self._find(prefix):
            size = info.get("size")
            for field in CONTENT_FIELDS:
                if info.get(field):
                    yield key, f"{size}:{field}-{str(info[field]).strip(chr(34))}"
                    break
            else:
                when = next((info[field] for field in TIME_FIELDS if info.get(field)), "")
                yield key, f"{size}:t-{when}"

    def content_stamps(self, listed: Sequence[tuple[str, str]]) -> list[str]:
        """The listed stamp where it comes from the content (hash, ETag), else size and BLAKE2b of the bytes."""
        return [stamp if ":t-" not in stamp else self._hashed(key) for key, stamp in listed]

    def _hashed(self, key: str) -> str:
        try:
            data = self.read(key)
        except FileNotFoundError:
            return "missing"
        return f"{len(data)}:b2-{hashlib.blake2b(data, digest_size=16).hexdigest()}"

    def delete(self, key: str) -> None:
        """Remove `key`; no error if it is absent."""
        path = self._path(key)
        with self._errors("delete", key):
            try:
                self.fs.rm_file(path)
            except FileNotFoundError:
                pass

    def create(self, key: str, data: Data) -> bool:
        path = self._path(key)
        check_data(data, self.uri(key))
        with self._errors("create", key):
            if self.scheme == "memory":
                with _MEMORY_CREATE:
                    if self.fs.isfile(path):
                        return False
                    self.fs.pipe_file(path, bytes(data))
                    return True
            try:  # GCS: ifGenerationMatch=0; Azure: If-None-Match: *; both refuse an existing object
                self.fs.pipe_file(path, bytes(data), mode="create")
                return True
            except FileExistsError:
                return False

    def size(self, key: str) -> int:
        path = self._path(key)
        with self._errors("read", key):
            return int(self.fs.size(path))

    def open_ranged(self, key: str) -> BinaryIO:
        """The object as a seekable file that reads only the byte ranges asked for (`deepaug.storage.ranged`)."""
        path = self._path(key)

        def fetch(start: int, length: int) -> bytes:
            with self._errors("read", key):
                return bytes(self.fs.cat_file(path, start=start, end=start + length))

        return RangedFile(fetch, self.size(key), self.uri(key))  # type: ignore[return-value]

    def open_read(self, key: str) -> BinaryIO:
        """The object streamed into a temp file in TMPDIR (gone once closed): seekable, memory stays flat; a
        TMPDIR with less room than the object is refused before the download, naming both."""
        def fill(spool: BinaryIO) -> None:
            with self.open_ranged(key) as source:
                shutil.copyfileobj(source, spool, MAX_AHEAD)

        return download_to_temp(self.uri(key), self.size(key), fill, "deepaug-fsspec-")

    def write_stream(self, key: str, handle: BinaryIO) -> None:
        """Stream into a hidden temp key, then move it onto `key` (a server-side copy on object stores)."""
        path = self._path(key)
        folder, _, name = path.rpartition("/")
        temp = f"{folder}/.{name}.{new_token()}.tmp"
        with self._errors("write", key):
            try:
                with self.fs.open(temp, "wb") as out:
                    shutil.copyfileobj(handle, out, 1 << 20)
                self.fs.mv(temp, path)
            finally:
                if self.fs.isfile(temp):
                    self.fs.rm_file(temp)

    def batch_writer(self) -> "FsspecStorage":
        return self  # each PUT is durable when it returns: `sync` has nothing left to do

    def sync(self, pool: Any) -> None:
        pass

    def folder_problem(self) -> str | None:
        with self._errors("check", ""):
            return "is an object, not a folder" if self.fs.isfile(self.base) else None

    def remove_temp_files(self, prefixes: tuple[str, ...], older_than: float = 0.0) -> int:
        """Temp keys (`.name.<token>.tmp`) under each prefix folder ("" is the root's own keys only) last
        written over `older_than` seconds ago (one whose age the store does not list is kept unless 0)."""
        removed, now = 0, time.time()
        for prefix in prefixes:
            start = f"{prefix.rstrip('/')}/" if prefix else ""
            for key, info in self._find(start, temps=True):
                if not prefix and "/" in key:
                    continue
                if older_than <= 0 or now - _seconds(info) >= older_than:
                    self.delete(key)
                    removed += 1
        if removed:
            log.info("removed %d temp object(s) that interrupted writes left in %s", removed, self.uri())
        return removed


def _seconds(info: dict[str, Any]) -> float:
    """When an object was last written (POSIX seconds), from its listing; now when the listing says nothing."""
    for field in TIME_FIELDS:
        value = info.get(field)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
    return time.time()
