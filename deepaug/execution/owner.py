"""Who runs something: an owner document (host, pid, start, heartbeat) and whether its owner is gone.

An experiment is run by one process at a time; its lock holds this document. A lock whose
owner is a process of this host that no longer runs is stale at once; an owner on another host
cannot be checked from here, so its lock is stale only when its heartbeat is older than
`stale_seconds`.
"""
from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import time
from datetime import datetime, timezone
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
    again what it holds (a controller reopened in one process)."""
    me = owner_document()
    for _ in range(3):
        if storage.create(key, json.dumps(me).encode("utf-8")):
            return me
        try:
            owner = json.loads(storage.read(key).decode("utf-8"))
        except FileNotFoundError:
            continue  # released meanwhile
        except ValueError:
            owner = None  # half a claim, or not one of ours: nobody's
        if isinstance(owner, dict):
            mine = reopen and owner.get("host") == me["host"] and owner.get("pid") == me["pid"]
            if not (mine or owner_gone(owner, stale_seconds)):
                seen = (f", alive {time.time() - float(owner.get('heartbeat', 0)):.0f} s ago"
                        if math.isfinite(stale_seconds) else "")
                raise InputError(f"{what} is being run by {owner_text(owner)}{seen}; wait for it or stop it, or use "
                                 f"another experiment_name. {hint}")
        log.warning("taking over %s from %s, which is gone", what,
                    owner_text(owner) if isinstance(owner, dict) else "an unreadable claim")
        storage.delete(key)
    raise InputError(f"could not claim {what}: other processes keep claiming it; run one at a time")


def release(storage: Storage, key: str, owner: Mapping[str, Any]) -> None:
    """Give up the claim at `key` if it is still `owner`'s."""
    try:
        held = json.loads(storage.read(key).decode("utf-8"))
    except (FileNotFoundError, ValueError):
        return
    if isinstance(held, dict) and held.get("token") == owner.get("token"):
        storage.delete(key)
