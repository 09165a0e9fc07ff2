"""Policies that ship with deepaug, by name; `policies/` in the repo links to these files.

- `noop`: leaves every image unchanged (the no-augmentation baseline).
- `reference`: a hand-written 5 x 2 policy of mild geometric, occlusion and tone ops,
  a sensible default for small classification datasets.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from deepaug.errors import InputError, PolicyError
from deepaug.policy import Policy


def text(name: str) -> str:
    """The text of a file that ships with deepaug (a config, a manifest template)."""
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def read_user_file(path: str | os.PathLike[str], what: str, hint: str) -> str:
    """The text of a user's file; InputError 'cannot read <what> <path> (<reason>); <hint>' if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r} ({exc.strerror}); {hint}") from None


def names() -> list[str]:
    """Names of the built-in policies."""
    folder = resources.files(__package__)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def get(name: str) -> Policy:
    """The built-in policy called `name`."""
    if name not in names():
        raise PolicyError(f"no built-in policy {name!r}; built-in policies are: {', '.join(names())}")
    with resources.as_file(resources.files(__package__) / f"{name}.json") as path:
        return Policy.from_json(path)


def resolve(spec: str | os.PathLike) -> Policy:
    """A policy from a file path (.json, .yaml, .yml) or the name of a built-in policy."""
    path = Path(spec)
    if path.exists():
        return Policy.load(path)
    if str(spec) in names():
        return get(str(spec))
    raise PolicyError(
        f"policy {str(spec)!r} is neither an existing file nor a built-in policy; pass a path "
        f"to a policy JSON/YAML file or one of: {', '.join(names())}"
    )
