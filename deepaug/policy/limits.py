"""The caps on a policy read from untrusted input, checked before anything is built; the same
reader, with a config's limits (CONFIG), reads config files and `--set` values.

A policy file is a few KB (AutoAugment's has 25 sub-policies of 2 ops, a distribution lists at
most the registry's ops), so each cap sits far above any real policy and far below what would
cost seconds or memory: the size of the text, the nesting depth of its JSON or YAML, the number
of sub-policies, of ops in one sub-policy and of ops in a distribution. YAML anchors and aliases
are refused outright (a few KB of nested aliases expand to millions of nodes). Each refusal is
a PolicyError naming the input, the limit and what to do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import yaml

from deepaug.errors import InputError, PolicyError

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


@dataclass(frozen=True)
class TextLimits:
    """What a kind of untrusted JSON/YAML text may be: its size, its depth, the error it raises."""

    what: str  # "policy", "config"
    max_bytes: int
    max_depth: int
    shape: str  # how deep a real one nests, for the error
    error: type[InputError]


POLICY = TextLimits("policy", MAX_POLICY_BYTES, MAX_NESTING, "a policy nests 5 deep (object, sub_policies, "
                    "sub-policy, op, value)", PolicyError)
# A run.yaml is 1-2 KB; `starts:` policies written out inside one nest 7 deep (file, starts, policy,
# sub_policies, sub-policy, op, value): the policy caps fit a config too.
CONFIG = TextLimits("config", MAX_POLICY_BYTES, MAX_NESTING, "a config nests at most 7 deep (file, starts, "
                    "policy, sub_policies, sub-policy, op, value)", InputError)


def check_size(size: int, where: str, limits: TextLimits = POLICY) -> None:
    """An error when `size` bytes (or characters) of text are over the limit of its kind."""
    if size > limits.max_bytes:
        raise limits.error(f"{where} is over the limit of {limits.max_bytes} bytes for {limits.what} text ({size} or "
                           f"more bytes); a {limits.what} file is a few KB: check that this is the {limits.what} file "
                           "you meant")


def check_json_depth(text: str, where: str, limits: TextLimits = POLICY) -> None:
    """An error when JSON text nests deeper than its kind's limit (brackets counted outside strings,
    without parsing: json.loads would recurse once per level)."""
    brackets = _BRACKET.findall(_STRING.sub("", text))
    depth = max(accumulate(_STEP[b] for b in brackets), default=0)
    if depth > limits.max_depth:
        raise _too_deep(where, depth, limits)


def load_yaml(text: str, where: str, limits: TextLimits = POLICY) -> Any:
    """The data of YAML text, after its size and events are checked: no anchor or alias, no nesting
    deeper than its kind's limit (the events stream without building anything)."""
    check_size(len(text), where, limits)
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise limits.error(f"{where} uses a YAML anchor or alias ({mark}{event.anchor}); {limits.what} YAML "
                               "refuses them (nested aliases expand without bound): write each value out")
        depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
        if depth > limits.max_depth:
            raise _too_deep(where, depth, limits)
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, anchors refused above


def _too_deep(where: str, depth: int, limits: TextLimits) -> InputError:
    return limits.error(f"{where} nests {depth} or more levels deep, over the limit of {limits.max_depth}; "
                        f"{limits.shape}: check the file's structure")


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
