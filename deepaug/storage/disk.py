"""A local write the file system refused (full, over quota, read-only), said plainly: what and where.

`local_writes(path, hint)` turns such an OSError into a `DiskError` that names the path, the
file system it is on (its mount point and free space) and what to do, then to run the same
command again. Nothing is lost by it: every write is atomic (`deepaug.storage.atomic`), so what
was written is whole and what was not is absent, and the same command resumes. `check_free`
refuses a download before it starts when the folder it goes to has too little room.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from deepaug.storage.base import StorageError

FULL = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS}
RERUN = "then run the same command again: what was written is whole and kept, and it resumes"


class DiskError(StorageError):
    """A local write refused by its file system: full, over quota or read-only (`errno` says which).
    Retryable: make room (or choose another place), then the same command resumes."""

    def __str__(self) -> str:
        return str(self.strerror)


def mount_of(path: str | os.PathLike[str]) -> str:
    """The mount point of the file system that holds `path` (or would: its nearest existing folder)."""
    folder = os.path.abspath(path)
    while not os.path.ismount(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def size_text(size: float) -> str:
    """`size` bytes for a reader: '512 bytes', '3.4 MiB'."""
    units, i = ("bytes", "KiB", "MiB", "GiB", "TiB"), 0
    while size >= 1024 and i < len(units) - 1:
        size, i = size / 1024, i + 1
    return f"{size:.0f} bytes" if i == 0 else f"{size:.1f} {units[i]}"


def _free_text(mount: str) -> str:
    try:
        usage = shutil.disk_usage(mount)
    except OSError:
        return ""
    return f", {size_text(usage.free)} free of {size_text(usage.total)}"


def disk_error(exc: OSError, path: str | os.PathLike[str], hint: str, label: str = "") -> DiskError | None:
    """The `DiskError` that `exc` (raised writing `path`, or what `label` names) means, or None when it is
    not a full or read-only file system. `hint`: what else to do, e.g. "choose another output folder"."""
    if isinstance(exc, DiskError) or exc.errno not in FULL | READ_ONLY:
        return None
    mount, path = mount_of(path), label or path
    if exc.errno in READ_ONLY:
        message = (f"cannot write {path}: the file system mounted at {mount} is read-only; {hint} (or remount it "
                   f"read-write), {RERUN}")
    else:
        what = "no space left" if exc.errno == errno.ENOSPC else "the disk quota is used up"
        message = (f"cannot write {path}: {what} on the file system mounted at {mount}{_free_text(mount)}; free "
                   f"space there or {hint}, {RERUN}")
    return DiskError(exc.errno, message)


@contextmanager
def local_writes(path: str | os.PathLike[str], hint: str = "choose another location", label: str = ""
                 ) -> Iterator[None]:
    """Raise a full or read-only file system met while writing `path` (or what `label` names) as a
    `DiskError` (see `disk_error`)."""
    try:
        yield
    except OSError as exc:
        error = disk_error(exc, path, hint, label)
        if error is None:
            raise
        raise error from exc


def check_free(folder: str | os.PathLike[str], needed: int, what: str, hint: str) -> None:
    """DiskError (ENOSPC) before `what` is written to `folder` when it has less than `needed` bytes free."""
    folder = Path(folder)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # cannot tell: the write itself will say
        return
    if free < needed:
        raise DiskError(errno.ENOSPC, f"{what} needs {size_text(needed)} in {folder} (on the file system mounted at "
                                      f"{mount_of(folder)}), which has {size_text(free)} free; free space there or "
                                      f"{hint}, {RERUN}")


def download_to_temp(uri: str, size: int, fill: Callable[[BinaryIO], None], prefix: str) -> BinaryIO:
    """A temp file in TMPDIR (gone once closed) that `fill` streams an object of `size` bytes into, at its
    start: seekable, as zip and np.load need, while memory stays flat. A TMPDIR with less room than the
    object is refused before the download, naming both."""
    folder, hint = tempfile.gettempdir(), "set TMPDIR to a folder with room"
    check_free(folder, size, f"downloading {uri}", hint)
    with local_writes(folder, hint, f"a temp file in {folder} (TMPDIR) for {uri}"):
        spool = tempfile.TemporaryFile(prefix=prefix)
        try:
            fill(spool)  # type: ignore[arg-type]
        except BaseException:
            spool.close()
            raise
    spool.seek(0)
    return spool  # type: ignore[return-value]
