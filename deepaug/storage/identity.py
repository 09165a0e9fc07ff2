"""Comparing identity documents: what makes a stored run differ from the one asked for now.

An experiment (config + data fingerprint) and an augmented dataset (input listing,
policy, options) are identified by JSON-like documents; refusing to mix two runs means
telling the user which keys differ.

>>> differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}})
['b.c: stored 2, now 3']
"""
from __future__ import annotations

from typing import Any, Collection, Mapping

MAX_SHOWN = 80


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) < MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any], labels: tuple[str, str] = ("stored", "now"),
                skip: Collection[str] = (), prefix: str = "") -> list[str]:
    """One line per differing leaf key (nested mappings are walked), long values shortened."""
    out = []
    for key in sorted(set(stored) | set(wanted)):
        a, b = stored.get(key, "<absent>"), wanted.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, labels, skip, f"{prefix}{key}.")
        elif a != b and key not in skip:
            out.append(f"{prefix}{key}: {labels[0]} {_shown(a)}, {labels[1]} {_shown(b)}")
    return out
