"""Old place of the PyTorch transform: it is in `deepaug.adapters.torch` now
(`from deepaug.adapters import PolicyTransform`). Its names still resolve here,
with a DeprecationWarning naming the new place."""
from __future__ import annotations

from typing import Any

from deepaug._moved import moved_name


def __getattr__(name: str) -> Any:
    # by name on first use: importing deepaug.torch alone loads no torch
    return moved_name(__name__, "deepaug.adapters.torch", name)
