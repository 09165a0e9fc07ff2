"""Who runs something: an owner document (host, pid, start, heartbeat) and whether its owner is gone.

An experiment is run by one process at a time; its lock holds this document. A lock whose
owner is a process of this host that no longer runs is stale at once; an owner on another host
cannot be checked from here, so its lock is stale only when its heartbeat is older than
`stale_seconds`.

A local scratch folder gets the same document (`owned_temp_folder`): a process killed before it
could remove its folder leaves one whose owner is gone, and the next `owned_temp_folder` of the
same prefix, in any process, removes it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from deepaug.errors import InputError
from deepaug.storage.base import Storage

log = logging.getLogger(__name__)

STALE_SECONDS = 600.0  # an owner on another host that showed no sign of life for this long is gone


def owner_document() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": datetime.now(timezone.utc).isoformat(),
            "heartbeat": time.time(), "token": secrets.token_hex(8)}


def owner_text(owner: Mapping[str, Any]) -> str:
    return f"process {owner.get('pid')} on {owner.get('host')} (since {owner.get('started')})"


def owner_gone(owner: Mapping[str, Any], stale_seconds: float = STALE_SECONDS) -> bool:
    """True when the owner cannot be running any more (see the module docstring)."""
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    beat = owner.get("heartbeat")
    return not isinstance(beat, (int, float)) or time.time() - beat > stale_seconds


def claim(storage: Storage, key: str, what: str, hint: str, stale_seconds: float = STALE_SECONDS,
          reopen: bool = False) -> dict[str, Any]:
    """Own `what` by creating `key` (atomic: of two claimants one wins); the owner document.

    A live owner is refused with an InputError naming it (then `hint`); an owner that is gone
    (`owner_gone`), or an unreadable claim, is replaced. `reopen`: this same process may claim
    again what it holds (a controller reopened in one process).

    Taking over is atomic too: only the process that creates the marker `<key>.takeover-<hash of
    the stale claim>` (create-if-absent) may replace that claim, and only while `key` still holds
    it; the marker goes once the claim is replaced. A marker left by a claimant that died is
    itself stale by the same rule and taken over the same way, so a crash never wedges the lock."""
    me = owner_document()
    payload = json.dumps(me).encode("utf-8")

    def refuse(owner: Mapping[str, Any]) -> None:
        seen = (f", alive {time.time() - float(owner.get('heartbeat', 0)):.0f} s ago"
                if math.isfinite(stale_seconds) else "")
        raise InputError(f"{what} is being run by {owner_text(owner)}{seen}; wait for it or stop it, or use "
                         f"another experiment_name. {hint}")

    for attempt in range(_ATTEMPTS):
        if _take(storage, key, payload, me, stale_seconds, reopen, refuse, what):
            return me
        time.sleep(min(0.2, 0.005 * (attempt + 1)))  # another claimant is mid-takeover: look again
    raise InputError(f"could not claim {what}: other processes keep claiming it; run one at a time")


_ATTEMPTS = 40  # rounds of a claim that finds another claimant mid-takeover (about 4 s of waiting in all)


def _take(storage: Storage, key: str, payload: bytes, me: Mapping[str, Any], stale_seconds: float,
          reopen: bool, refuse: Any, what: str) -> bool:
    """Put `payload` at `key` if it is absent or its owner is gone; False when another claimant
    holds the takeover (look again). `refuse(owner)` is called for a live owner."""
    if storage.create(key, payload):
        return True
    try:
        raw = storage.read(key)
    except FileNotFoundError:
        return False  # released meanwhile
    try:
        owner = json.loads(raw.decode("utf-8"))
    except ValueError:
        owner = None  # half a claim, or not one of ours: nobody's
    if isinstance(owner, dict):
        mine = reopen and owner.get("host") == me["host"] and owner.get("pid") == me["pid"]
        if not (mine or owner_gone(owner, stale_seconds)):
            refuse(owner)
            return False
    marker = f"{key}.takeover-{hashlib.sha256(raw).hexdigest()[:16]}"
    if not _take(storage, marker, payload, me, stale_seconds, False, _busy, what):
        return False
    try:
        try:
            still = storage.read(key) == raw
        except FileNotFoundError:
            still = False
        if still:  # nobody replaced it since we read it: ours to replace (write, so `key` never goes absent)
            if ".takeover-" not in key:  # the lock itself, not a marker of a claimant that died
                log.warning("taking over %s from %s, which is gone", what,
                            owner_text(owner) if isinstance(owner, dict) else "an unreadable claim")
            storage.write(key, payload)
        return still
    finally:
        storage.delete(marker)


def _busy(owner: Mapping[str, Any]) -> None:
    """A live claimant holds the takeover marker: not a refusal, look again (`claim` retries)."""


def release(storage: Storage, key: str, owner: Mapping[str, Any]) -> None:
    """Give up the claim at `key` if it is still `owner`'s."""
    try:
        held = json.loads(storage.read(key).decode("utf-8"))
    except (FileNotFoundError, ValueError):
        return
    if isinstance(held, dict) and held.get("token") == owner.get("token"):
        storage.delete(key)


OWNER_FILE = "owner.json"
UNOWNED_SECONDS = 3600.0  # a scratch folder with no owner document yet is mid-creation unless this old


def owned_temp_folder(prefix: str) -> Path:
    """A new folder `<TMPDIR>/<prefix>...` that holds this process's owner document, after removing the
    `prefix` folders whose owner is gone (`remove_orphaned_folders`). The caller removes it when done."""
    remove_orphaned_folders(prefix)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / OWNER_FILE).write_text(json.dumps(owner_document()), encoding="utf-8")
    return folder


def remove_orphaned_folders(prefix: str) -> int:
    """Remove the `<TMPDIR>/<prefix>*` folders of `owned_temp_folder` whose owner is a process of this host
    that no longer runs (killed); how many. Another host's (a TMPDIR shared over the network) are kept,
    as is one without an owner document unless it is `UNOWNED_SECONDS` old (it may be being created)."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{glob_escape(prefix)}*"):
        try:
            if folder.is_symlink() or not folder.is_dir():
                continue
            try:
                owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                owner = None
            if owner is None and time.time() - folder.stat().st_mtime < UNOWNED_SECONDS:
                continue
            if isinstance(owner, dict) and not owner_gone(owner, stale_seconds=math.inf):
                continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
        log.info("removed %s, left by %s, which is gone", folder,
                 owner_text(owner) if isinstance(owner, dict) else "a process that never finished creating it")
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
