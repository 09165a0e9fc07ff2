"""Policies that ship with deepaug, by name (files in deepaug/resources; `policies/` in the repo links to them).

- `noop`: leaves every image unchanged (the no-augmentation baseline).
- `reference`: a hand-written 5 x 2 policy of mild geometric, occlusion and tone ops,
  a sensible default for small classification datasets.
- `trivialaugment`, `randaugment`: the free baselines under their `deepaug evaluate` names, as
  distribution policies over the default 13 ops (RandAugment N=2, M=9/30): the policies of
  `deepaug.policy.baselines`, written out (a test keeps them equal).
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from deepaug.errors import InputError, PolicyError
from deepaug.policy.core import Policy, shipped
from deepaug.policy.timm import is_timm

PolicyLike = Policy | Mapping[str, Any] | str | os.PathLike


def names() -> list[str]:
    """Names of the built-in policies."""
    folder = resources.files("deepaug.resources")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def get(name: str) -> Policy:
    """The built-in policy called `name`."""
    policy = shipped(name) if name in names() else None
    if policy is None:
        raise PolicyError(f"no built-in policy {name!r}; built-in policies are: {', '.join(names())}")
    return policy


def resolve(spec: str | os.PathLike) -> Policy:
    """A policy from a file path (.json, .yaml, .yml), the name of a built-in policy
    (`reference`, `trivialaugment`, ...) or a timm RandAugment string ("rand-m9-n2")."""
    if not isinstance(spec, (str, os.PathLike)):
        hint = " (a search's best_policy is None until optimize() has run)" if spec is None else ""
        raise PolicyError(f"a policy must be a Policy, a policy file path, a built-in name or a timm RandAugment "
                          f"string, got {type(spec).__name__}{hint}")
    path = Path(spec)
    if path.exists():
        return Policy.load(path)
    if str(spec) in names():
        return get(str(spec))
    if is_timm(str(spec)):
        return Policy.from_timm(str(spec))
    raise PolicyError(
        f"policy {str(spec)!r} is neither an existing file nor a built-in policy; pass a path "
        f"to a policy JSON/YAML file, a timm RandAugment string (rand-m9-n2) or one of: {', '.join(names())}"
    )


def as_policy(policy: PolicyLike, who: str) -> Policy:
    """A Policy from a Policy, a policy dict, a policy file path, a built-in name or a timm string."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return Policy.from_dict(dict(policy), source=f"{who} policy")
    if isinstance(policy, (str, os.PathLike)):
        return resolve(policy)
    raise InputError(f"{who}: policy must be a deepaug Policy, a policy dict, a policy file path or "
                     f"a built-in policy name, got {type(policy).__name__}")


def check_seed(seed: Any, who: str) -> int:
    """`seed` as an int if it is a non-negative integer, else InputError naming `who` (None is the
    caller's to replace first: each adapter has its own default)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"{who}: seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)
