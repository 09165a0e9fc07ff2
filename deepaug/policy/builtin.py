"""Policies that ship with deepaug, by name (files in deepaug/resources; `policies/` in the repo links to them).

- `noop`: leaves every image unchanged (the no-augmentation baseline).
- `reference`: a hand-written 5 x 2 policy of mild geometric, occlusion and tone ops,
  a sensible default for small classification datasets.
- `trivialaugment`, `randaugment`: the free baselines under their `deepaug evaluate` names, as
  distribution policies over the default 13 ops (RandAugment N=2, M=9/30): the policies of
  `deepaug.policy.baselines`, written out (a test keeps them equal).
"""
from __future__ import annotations

from deepaug.errors import PolicyError
from deepaug.policy.core import Policy, shipped
from deepaug.policy.files import shipped_names


def names() -> list[str]:
    """Names of the built-in policies."""
    return shipped_names()


def get(name: str) -> Policy:
    """The built-in policy called `name`."""
    policy = shipped(name) if name in names() else None
    if policy is None:
        raise PolicyError(f"no built-in policy {name!r}; built-in policies are: {', '.join(names())}")
    return policy
