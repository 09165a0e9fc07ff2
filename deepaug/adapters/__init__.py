"""Framework adapters: a deepaug policy in someone else's pipeline.

- `PolicyLayer`, `policy_map_fn` (`deepaug.adapters.keras`): a Keras layer and a tf.data map
  function (pip install 'deepaug[cpu]');
- `PolicyTransform` (`deepaug.adapters.torch`): a PyTorch / torchvision transform
  (pip install 'deepaug[torch]');
- `to_albumentations` (`deepaug.adapters.albumentations`): the policy as an albumentations
  pipeline (pip install 'deepaug[albumentations]').

Each adapter takes whatever `deepaug.policy.as_policy` reads. The adapters sit above the policy
model (import-linter's layers in pyproject.toml): `deepaug.policy` never imports them. The names
load on first use, so importing this package imports no framework.

>>> import deepaug.adapters, sys
>>> [m for m in ("keras", "torch", "albumentations") if m in sys.modules]
[]
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"PolicyLayer": "deepaug.adapters.keras", "policy_map_fn": "deepaug.adapters.keras",
         "PolicyTransform": "deepaug.adapters.torch", "call_seed": "deepaug.adapters.torch",
         "to_albumentations": "deepaug.adapters.albumentations"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    # each adapter imports its framework (keras, torch, albumentations), so it loads on first use
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaug.adapters' has no attribute {name!r}")
