"""Where a policy's data comes from: a file (local or s3://), the text itself, or a file shipped
with deepaug (deepaug/resources). This module reads and parses; `deepaug.policy.core` turns the
data into a Policy.
"""
from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from deepaug.errors import InputError, PolicyError
from deepaug.policy.limits import MAX_POLICY_BYTES, check_json_depth, check_size, load_yaml
from deepaug.storage.backends import is_remote, locate

YAML_SUFFIXES = (".yaml", ".yml")


def is_s3(source: Any) -> bool:
    """Whether `source` is an object store URI (given as a string or a path): s3://, or gs://, az://,
    abfs:// or memory:// (read through fsspec); its policy file is read as `read_s3` says."""
    return isinstance(source, (str, os.PathLike)) and is_remote(os.fspath(source))


def is_text(source: Any, opening: str = "{") -> bool:
    """Whether a string is a policy's text rather than a file name: it spans lines or starts with
    `opening` (no file name does either)."""
    return isinstance(source, str) and ("\n" in source or bool(opening) and source.lstrip().startswith(opening))


def text_or_file(source: str | os.PathLike, opening: str) -> tuple[str, str]:
    """(text, what to call it in errors) of a policy given as a file's path or as its text."""
    if is_text(source, opening):
        check_size(len(source.encode("utf-8")), "the policy text")  # type: ignore[union-attr]
        return str(source), "the policy text"
    return read_text(source), f"policy file {source}"


def read_text(path: str | os.PathLike) -> str:
    """A policy file's text: its size is checked first, then at most MAX_POLICY_BYTES + 1 bytes read."""
    try:
        check_size(os.stat(path).st_size, f"policy file {path}")
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
        check_size(len(data), f"policy file {path}")  # grew since, or a device or pipe
        return data.decode("utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} cannot be read: {exc}") from None


def parse_json(text: str, where: str) -> Any:
    check_size(len(text), where)
    check_json_depth(text, where)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, PolicyError) as exc:
        raise PolicyError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:  # not reached past check_json_depth; kept so that none escapes raw
        raise PolicyError(f"{where} nests too deep to read; a policy nests 5 deep") from None


def parse_yaml(text: str, where: str) -> Any:
    check_size(len(text), where)
    try:
        return load_yaml(text, where)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where} is not valid YAML: {exc}") from None
    except RecursionError:  # not reached past load_yaml's depth check; kept so that none escapes raw
        raise PolicyError(f"{where} nests too deep to read; a policy nests 5 deep") from None


def _reject_constant(name: str) -> None:
    raise PolicyError(f"{name} is not allowed in a policy file (probabilities and magnitudes are in [0, 1])")


def read_s3(uri: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(the JSON data, what to call it in errors) of a policy file in S3 (or GCS, Azure, memory://)."""
    text = os.fspath(uri)
    storage, key = locate(text, **(storage_options or {}))
    where = f"policy file {text}"
    try:
        for found, stamp in storage.list_info(key):  # "size:ETag": the size before the download
            if found == key and stamp.split(":")[0].isdigit():
                check_size(int(stamp.split(":")[0]), where)
        data = storage.read(key)
    except FileNotFoundError:
        raise PolicyError(f"policy file {text} does not exist") from None
    except InputError as exc:
        raise PolicyError(str(exc)) from None
    check_size(len(data), where)
    try:
        return parse_json(data.decode("utf-8"), where), where
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{where} is not UTF-8 text ({exc}); a policy file is JSON") from None


def shipped_names() -> list[str]:
    """Names of the policy files shipped in deepaug/resources (the built-in policies)."""
    folder = resources.files("deepaug.resources")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def shipped_text(name: str) -> str | None:
    """The text of the shipped policy file called `name`, or None when there is none."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        return None
    resource = resources.files("deepaug.resources") / f"{name}.json"
    return resource.read_text(encoding="utf-8") if resource.is_file() else None
