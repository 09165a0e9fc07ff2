"""How a local folder tree is listed: one rule for `deepaug augment` (through `LocalStorage`) and
for the search's folder loader (`deepaug.datasets.load`).

- Names are sorted at every level, so a listing never depends on the order a file system
  returns them in.
- Symlinked folders are followed: a class folder, or a sub-folder inside one.
- Each folder (by device and inode) is listed once: at its own place when it lies in the tree
  without a link, else at the first link to it, depth-first in sorted order. Any other path to
  it (a second class folder linked to the same target, a link back up the tree) is not walked: it
  is returned as a `FolderSkip` naming both paths and the target, and logged, never dropped
  silently; so `cat -> store/cat` and `kitten -> store/cat` list store/cat's files once, as `cat`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LOGGED = 10  # skipped folders named in the warning


@dataclass(frozen=True)
class FolderSkip:
    """A path to a folder that is listed elsewhere (`listed_as`, "." for the walk's root)."""

    folder: str
    listed_as: str
    target: str

    @property
    def reason(self) -> str:
        if self.listed_as == ".":
            return (f"folder {self.folder!r} leads to {self.target}, the folder being listed (a link back up the "
                    "tree): not walked again")
        return (f"folder {self.folder!r} leads to {self.target}, already listed as {self.listed_as!r}: its files "
                f"are listed once, under {self.listed_as!r} (to have them under {self.folder!r} too, copy them)")


@dataclass(frozen=True)
class FolderWalk:
    """The files of a tree as sorted (key, path) pairs (keys relative to the root, '/'-separated),
    the folders walked (keys, sorted) and the paths not walked because they lead to a listed folder (sorted)."""

    files: tuple[tuple[str, Path], ...]
    folders: tuple[str, ...]
    skipped: tuple[FolderSkip, ...]


def walk_folder(root: str | os.PathLike[str], start: str = "") -> FolderWalk:
    """List the tree under `root / start` (`start`: a relative folder, "" for all) by the rule above.

    A folder that cannot be read is listed as empty (as `os.walk` does); a missing `start` lists nothing.
    """
    root = Path(root)
    claims = _real_folders(root, start)  # (device, inode) -> the key listing it; real folders first
    files: list[tuple[str, Path]] = []
    folders: list[str] = []
    skipped: list[FolderSkip] = []
    stack = [start.strip("/")] if claims else []  # claims is empty when there is no such folder
    while stack:
        rel = stack.pop()
        folders.append(rel)
        subfolders = []
        for name, path, identity in _entries(root / rel if rel else root):
            key = f"{rel}/{name}" if rel else name
            if identity is None:
                files.append((key, path))
                continue
            listed_as = claims.setdefault(identity, key)
            if listed_as == key:
                subfolders.append(key)
            else:
                skipped.append(FolderSkip(key, listed_as or ".", os.path.realpath(path)))
        stack.extend(reversed(subfolders))  # depth-first, in sorted order
    skipped.sort(key=lambda s: s.folder)
    if skipped:
        shown = "; ".join(s.reason for s in skipped[:MAX_LOGGED])
        more = f" and {len(skipped) - MAX_LOGGED} more" if len(skipped) > MAX_LOGGED else ""
        log.warning("listing %s: %d folder(s) not walked again: %s%s", root, len(skipped), shown, more)
    return FolderWalk(tuple(sorted(files)), tuple(sorted(f for f in folders if f)), tuple(skipped))


def _entries(folder: Path) -> list[tuple[str, Path, tuple[int, int] | None]]:
    """(name, path, identity) of a folder's entries, sorted by name; identity (device, inode) for
    folders (links followed), None for anything else (a file, a broken link)."""
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError:  # unreadable or gone: nothing to list (its files cannot be read either)
        return []
    out = []
    for entry in entries:
        identity = None
        try:
            if entry.is_dir():  # follows a link
                status = entry.stat()
                identity = (status.st_dev, status.st_ino)
        except OSError:  # gone since it was listed: listed as a file, whose read will say so
            pass
        out.append((entry.name, Path(entry.path), identity))
    return out


def _real_folders(root: Path, start: str) -> dict[tuple[int, int], str]:
    """(device, inode) -> key of each folder under `root / start` reached without a link (sorted
    order; the first path wins where a bind mount shows one folder twice)."""
    claims: dict[tuple[int, int], str] = {}
    top = root / start.strip("/") if start.strip("/") else root
    for dirpath, dirnames, _ in os.walk(top):  # links are not followed here
        dirnames.sort()
        try:
            status = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        rel = Path(dirpath).relative_to(root).as_posix()
        claims.setdefault((status.st_dev, status.st_ino), "" if rel == "." else rel)
    return claims
