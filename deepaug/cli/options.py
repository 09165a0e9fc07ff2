"""Flag types shared by the subcommands: `--set key=value` overrides and positive integers.

>>> key_value("kubernetes.namespace=ml"), key_value("ops=[rotate, invert]"), key_value("seed=3")
(('kubernetes.namespace', 'ml'), ('ops', ['rotate', 'invert']), ('seed', 3))
"""
from __future__ import annotations

import argparse
import re
from typing import Any, Sequence

import yaml

from deepaug.errors import InputError
from deepaug.policy.limits import CONFIG, load_yaml

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def key_value(text: str) -> tuple[str, Any]:
    """`--set`'s argument: KEY=VALUE, the key dotted for nested sections, the value a YAML scalar or list."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. child_epochs=10, kubernetes.namespace=ml), "
                                         f"got {text!r}")
    try:
        parsed = load_yaml(value, f"the value of {key!r}", CONFIG) if value.strip() else None
    except InputError as exc:  # an alias, or over a config's caps
        raise argparse.ArgumentTypeError(str(exc)) from None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise argparse.ArgumentTypeError(f"the value of {key!r} in {text!r} is not valid YAML ({problem}); quote "
                                         "it for the shell, e.g. --set 'ops=[rotate, invert]'") from None
    if isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"{text!r} sets {key!r} to a mapping; set its keys one by one "
                                         f"(--set {key}.NAME=VALUE)")
    return key, parsed


def sets(pairs: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    """The `--set` pairs as one {dotted key: value}; a key set twice (or a key and one inside it) is refused."""
    out: dict[str, Any] = {}
    for key, value in pairs or ():
        clash = next((k for k in out if k == key or k.startswith(key + ".") or key.startswith(k + ".")), None)
        if clash is not None:
            raise InputError(f"--set {key} and --set {clash} set the same key; pass it once")
        out[key] = value
    return out


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="sets", metavar="KEY=VALUE", action="append", type=key_value, default=[],
                        help="override a config key (repeatable): a YAML scalar or list, dotted for a section's "
                             "key, e.g. --set child_epochs=10 --set 'ops=[rotate, invert]' "
                             "--set kubernetes.namespace=ml; unknown keys are refused")


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
