"""Local storage: blobs as files under a root folder, written atomically."""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from deepaug.errors import InputError
from deepaug.storage.atomic import atomic_write, is_temp, new_token, remove_stale_temps, sync_files
from deepaug.storage.base import Data, check_data, check_key, check_prefix, missing
from deepaug.storage.disk import local_writes
from deepaug.storage.folders import FolderSkip, walk_folder

log = logging.getLogger(__name__)

STAMP_THREADS = 8  # files hashed at once: hashlib releases the GIL, and a network file system answers in parallel
STAMP_CHUNK = 64  # keys per task (a million keys are not a million futures)


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Every local write's errors, said once: permission denied is an InputError; a full or read-only file
    system a DiskError naming the path and its mount (deepaug.storage.disk); a partial file is never left."""
    try:
        with local_writes(path, "choose another folder"):
            yield
    except PermissionError:
        raise InputError(f"cannot write {path}: permission denied; choose a folder you can write to, then run the "
                         "same command again") from None


class LocalStorage:
    """Blobs as files under `root`; writes go to a temp file then a rename.

    >>> LocalStorage("/tmp/deepaug-doctest").uri("a/b.json")
    '/tmp/deepaug-doctest/a/b.json'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key, str(self.root))

    def uri(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise missing(str(path)) from None
        except PermissionError:
            raise InputError(f"cannot read {path}: permission denied; fix the file's permissions") from None

    def write(self, key: str, data: Data) -> None:
        path = self._path(key)
        check_data(data, str(path))
        with writing(path):
            atomic_write(path, data)
        log.debug("wrote %d bytes to %s", len(data), path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self._walk(prefix):
            yield key

    def list_info(self, prefix: str = "", skipped: list[FolderSkip] | None = None) -> Iterator[tuple[str, str]]:
        """(key, "size:mtime_ns") of each key `list` gives: a cheap stamp, not proof of content (see
        `content_stamps`). Paths not walked because they lead to a folder listed elsewhere are added to
        `skipped` (see `deepaug.storage.folders`)."""
        for key, path in self._walk(prefix, skipped):
            try:
                status = path.stat()
            except OSError:  # gone since it was listed (or a broken link): its read will say so
                yield key, "missing"
                continue
            yield key, f"{status.st_size}:{status.st_mtime_ns}"

    def content_stamps(self, listed: Sequence[tuple[str, str]]) -> list[str]:
        """"size:b2-<BLAKE2b of the bytes>" of each listed key: size and mtime survive a copy that keeps
        times (`cp -p`, `rsync -a`, `tar`), so the bytes are read (threads, in chunks of keys)."""
        keys = [key for key, _ in listed]
        chunks = [keys[i:i + STAMP_CHUNK] for i in range(0, len(keys), STAMP_CHUNK)]
        with ThreadPoolExecutor(STAMP_THREADS, thread_name_prefix="deepaug-hash") as pool:
            return [stamp for chunk in pool.map(lambda part: [self._content_stamp(k) for k in part], chunks)
                    for stamp in chunk]

    def _content_stamp(self, key: str) -> str:
        digest, size = hashlib.blake2b(digest_size=16), 0
        try:
            with open(self._path(key), "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError:  # gone, a broken link, no permission: its read says why
            return "missing"
        return f"{size}:b2-{digest.hexdigest()}"

    def _walk(self, prefix: str, skipped: list[FolderSkip] | None = None) -> Iterator[tuple[str, Path]]:
        """Keys starting with `prefix` (a plain string prefix, as on S3), sorted, by the listing rule of
        `deepaug.storage.folders` (symlinked folders followed, each folder listed once).

        Temp files of writes in progress ('.name.*.tmp') are not listed.
        """
        walk = walk_folder(self.root, check_prefix(prefix, str(self.root)).rpartition("/")[0])
        if skipped is not None:
            skipped.extend(s for s in walk.skipped if s.folder.startswith(prefix))
        for key, path in walk.files:
            if key.startswith(prefix) and not is_temp(path.name):
                yield key, path

    def delete(self, key: str) -> None:
        """Remove `key` (no error if it is absent) and any folders that become empty."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def create(self, key: str, data: Data) -> bool:
        path = self._path(key)
        check_data(data, str(path))
        temp = path.with_name(f".{path.name}.{new_token()}.tmp")
        with writing(path):
            atomic_write(temp, data)  # whole and durable before it can appear under its name
            try:
                os.link(temp, path)  # fails if the name exists: the first creator wins
                return True
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise missing(str(path)) from None

    def open_ranged(self, key: str) -> BinaryIO:
        return self.open_read(key)  # a file reads only what is asked of it

    def write_stream(self, key: str, handle: BinaryIO) -> None:
        path = self._path(key)
        with writing(path):
            atomic_write(path, handle)

    def batch_writer(self) -> "LocalBatch":
        return LocalBatch(self)

    def folder_problem(self) -> str | None:
        if self.root.is_dir():
            return None
        return "is a file, not a folder" if self.root.exists() else "does not exist"

    def remove_temp_files(self, prefixes: tuple[str, ...], older_than: float = 0.0) -> int:
        """Temp files under each prefix folder (recursively; "" is the root's own files only)."""
        return sum(remove_stale_temps(self.root / check_prefix(prefix, str(self.root)), older_than,
                                      recursive=bool(prefix)) for prefix in prefixes)


class LocalBatch:
    """Many files under a local root: temp file and rename each (atomic), then one `sync` for all.

    Temp names carry a token of this writer, so two workers that write the same shard (a lease
    that expired) never share a temp file; `remove_temp_files` removes any a killed worker left.
    """

    def __init__(self, storage: LocalStorage) -> None:
        self.root, self.where = storage.root, storage.uri()
        self.token = new_token()
        self.paths: list[Path] = []

    def write(self, key: str, data: Data) -> None:
        path = self.root / check_key(key, self.where)
        with writing(path):
            atomic_write(path, data, sync=False, token=self.token)
        self.paths.append(path)

    def sync(self, pool: Any) -> None:
        """Make every file written so far durable (see `deepaug.storage.atomic.sync_files`)."""
        with writing(self.root):
            sync_files(self.root, self.paths, pool)
        self.paths.clear()
