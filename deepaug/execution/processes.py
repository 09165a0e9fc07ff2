"""Moved: the worker-process layer is `deepaug.processes` (`deepaug.processes.spawning`); this path
still gives its names, with a DeprecationWarning naming the new place."""
from __future__ import annotations

from typing import Any

from deepaug._moved import moved_name


def __getattr__(name: str) -> Any:
    return moved_name(__name__, "deepaug.processes.spawning", name)
