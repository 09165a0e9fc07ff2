"""Old place of the albumentations translation: it is in `deepaug.adapters.albumentations` now
(`from deepaug.adapters import to_albumentations`). Its names still resolve here,
with a DeprecationWarning naming the new place."""
from __future__ import annotations

from typing import Any

from deepaug._moved import moved_name


def __getattr__(name: str) -> Any:
    # by name on first use: deepaug.policy does not import deepaug.adapters (the layers in pyproject.toml)
    return moved_name(__name__, "deepaug.adapters.albumentations", name)
