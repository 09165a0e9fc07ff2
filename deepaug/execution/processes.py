"""Moved: the worker-process layer is `deepaug.processes` (`deepaug.processes.spawning`); this path
still gives its names, with a DeprecationWarning naming the new place."""
from __future__ import annotations

import warnings

from deepaug.processes import spawning as _spawning

NEW_PLACE = "deepaug.processes.spawning"


def __getattr__(name: str) -> object:
    value = getattr(_spawning, name)  # AttributeError for a name it never had
    warnings.warn(f"deepaug.execution.processes.{name} moved to {NEW_PLACE}.{name}; import it from there",
                  DeprecationWarning, stacklevel=2)
    return value
