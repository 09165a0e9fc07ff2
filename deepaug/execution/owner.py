"""Who runs something: an owner document (host, pid, start, heartbeat) and whether its owner is gone.

An experiment is run by one process at a time; its lock holds this document. A lock whose
owner is a process of this host that no longer runs is stale at once; an owner on another host
cannot be checked from here, so its lock is stale only when its heartbeat is older than
`stale_seconds`.
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import datetime, timezone
from typing import Any, Mapping

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
