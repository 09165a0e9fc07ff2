"""The caps on a policy read from untrusted input, checked before anything is built.

A policy file is a few KB (AutoAugment's has 25 sub-policies of 2 ops, a distribution lists at
most the registry's ops), so each cap sits far above any real policy and far below what would
cost seconds or memory: the size of the text, the nesting depth of its JSON or YAML, the number
of sub-policies, of ops in one sub-policy and of ops in a distribution. YAML anchors and aliases
are refused outright (a few KB of nested aliases expand to millions of nodes). Each refusal is
a PolicyError naming the input, the limit and what to do.
"""
from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

import yaml

from deepaug.errors import PolicyError

MAX_POLICY_BYTES = 1 << 20  # 1 MiB of policy text; a real policy file is a few KB
MAX_NESTING = 32  # a policy nests 5 deep (object > sub_policies > sub-policy > op > value)
MAX_SUB_POLICIES = 1_000  # AutoAugment's ImageNet policy has 25, its search space 5 x 5
MAX_OPS_PER_SUB_POLICY = 100  # AutoAugment's sub-policies have 2 ops
DISTRIBUTION_OPS_FACTOR = 4  # a distribution lists each registry op at most once; 4x leaves room
MAX_NAME_CHARS = 255  # NAME_MAX of Linux, macOS and Windows file systems: a longer name is no file
MAX_PATH_CHARS = 4096  # PATH_MAX of Linux
MAX_TIMM_CHARS = 100  # "rand-m9-n2-p0.5-mstd0.5-mmax10-inc1" is 35

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)  # to its end or the text's: one pass, linear
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when it is there


def check_size(size: int, where: str) -> None:
    """PolicyError when `size` bytes (or characters) of policy text are over MAX_POLICY_BYTES."""
    if size > MAX_POLICY_BYTES:
        raise PolicyError(f"{where} is over the limit of {MAX_POLICY_BYTES} bytes for policy text ({size} or more "
                          f"bytes); a policy file is a few KB: check that this is the policy file you meant")


def check_json_depth(text: str, where: str) -> None:
    """PolicyError when JSON text nests deeper than MAX_NESTING (brackets counted outside strings,
    without parsing: json.loads would recurse once per level)."""
    brackets = _BRACKET.findall(_STRING.sub("", text))
    depth = max(accumulate(_STEP[b] for b in brackets), default=0)
    if depth > MAX_NESTING:
        raise _too_deep(where, depth)


def load_yaml(text: str, where: str) -> Any:
    """The data of YAML policy text, after its events are checked: no anchor or alias, no nesting
    deeper than MAX_NESTING (the events stream without building anything)."""
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise PolicyError(f"{where} uses a YAML anchor or alias ({mark}{event.anchor}); policy YAML "
                              "refuses them (nested aliases expand without bound): write each value out")
        depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
        if depth > MAX_NESTING:
            raise _too_deep(where, depth)
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, anchors refused above


def _too_deep(where: str, depth: int) -> PolicyError:
    return PolicyError(f"{where} nests {depth} or more levels deep, over the limit of {MAX_NESTING}; a policy nests "
                       f"5 deep (object, sub_policies, sub-policy, op, value): check the file's structure")


def check_count(items: Any, limit: int, what: str, where: str) -> None:
    """PolicyError when a list of `what` has more than `limit` items (checked before any is built)."""
    if isinstance(items, list) and len(items) > limit:
        raise PolicyError(f"{where} has {len(items)} {what}, over the limit of {limit}; real policies have far fewer "
                          f"(AutoAugment's: 25 sub-policies of 2 ops): check that this is the policy you meant")


def absurd_path(text: str) -> bool:
    """Whether `text` cannot name a file (a component over MAX_NAME_CHARS or the whole over
    MAX_PATH_CHARS, or a NUL): checked before any os call, which would raise on it."""
    return "\0" in text or len(text) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in re.split(r"[/\\]", text))


def shown(text: str, limit: int = 80) -> str:
    """`text` as it is quoted in an error: its repr, cut to `limit` characters with its length said."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"
