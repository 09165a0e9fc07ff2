"""Atomic writes to local files, one implementation: a temp file in the same folder, then a rename.

Readers see the old file or the whole new one. A temp file is named `.<name>.<token>.tmp`
(`is_temp`): listings hide it, and a finalizer removes those a killed writer left. Files
get the permissions a plain open() gives (0666 less the umask). `sync=False` leaves the
fsync to the caller, for a batch made durable at once (`sync_files`).
"""
from __future__ import annotations

import ctypes
import logging
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterable

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\..+\.tmp$")
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def is_temp(name: str) -> bool:
    """True for the name of a temp file of a write in progress (or of a writer that died)."""
    return bool(_TEMP.match(name))


def new_token() -> str:
    """A token for temp names, unique to one writer (pid and random), so writers never share a temp file."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


def _open_temp(temp: Path) -> int:
    try:
        return os.open(temp, _FLAGS, 0o666)  # the umask applies, as for a plain open()
    except FileNotFoundError:
        temp.parent.mkdir(parents=True, exist_ok=True)
        return os.open(temp, _FLAGS, 0o666)


def atomic_write(path: Path, source: bytes | bytearray | memoryview | BinaryIO, *, sync: bool = True,
                 token: str | None = None) -> None:
    """Write bytes (or a binary file's content, streamed) to `path`: temp file, fsync unless `sync` is
    False, rename. On any failure the temp file is removed and the old file, if any, is untouched."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{token or new_token()}.tmp")
    fd = _open_temp(temp)
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            if isinstance(source, (bytes, bytearray, memoryview)):
                out.write(source)
            else:
                shutil.copyfileobj(source, out, 1 << 20)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_stale_temps(folder: Path, older_than: float = 0.0, recursive: bool = True, stem: str = "") -> int:
    """Remove the temp files (`is_temp`) that killed writers left in `folder` (and below), those
    last written more than `older_than` seconds ago, of files named `stem*` when given; how many.
    Call it where no one else writes, or with an age that no write in progress can have."""
    folder, removed, now = Path(folder), 0, time.time()
    if not folder.is_dir():
        return 0
    for dirpath, _, filenames in (os.walk(folder) if recursive else [(str(folder), None, os.listdir(folder))]):
        for name in (n for n in filenames if is_temp(n) and n.startswith(f".{stem}")):
            path = Path(dirpath, name)
            try:
                if now - path.stat().st_mtime >= older_than:
                    path.unlink()
                    removed += 1
            except OSError:  # gone meanwhile, or a folder
                continue
    if removed:
        log.info("removed %d temp file(s) that interrupted writes left in %s", removed, folder)
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def _syncfs() -> Any:
    """libc's syncfs (Linux: flush one file system), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(root: Path, paths: Iterable[Path], pool: Any) -> None:
    """Make files written with `sync=False` durable, and their renames: one syncfs (Linux) of `root`'s
    file system writes the lot at once, then an fsync of each file and folder, cheap after it (about
    40 us a file) and what reports these files' own write errors (syncfs reports none before Linux
    5.8, and only once per file system after). Raises OSError on a failed write."""
    paths = list(paths)
    if not paths:
        return
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                log.debug("syncfs(%s) failed (errno %d); fsyncing each file", root, ctypes.get_errno())
        finally:
            os.close(fd)
    folders = sorted({path.parent for path in paths})
    list(pool.map(fsync_path, [*paths, *folders]))
