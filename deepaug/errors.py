"""Exceptions deepaug raises for problems in what the user gave it.

`InputError` marks a user error (bad image batch, bad policy file, bad config): it is
never worth retrying, and its message names the input, what was wrong and what to do.
`RetryableError` marks a failure outside deepaug (a service down, a worker killed): the same
command again resumes. `SearchError` and `RunError` say which half of deepaug stopped, so an
outage during an augmentation run is never reported as a stopped search.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import ValidationError


class DeepAugError(Exception):
    """The base of every error deepaug raises on purpose; catch it to catch them all."""


class InputError(DeepAugError, ValueError):
    """Bad input from the user: a clear message (the input, what is wrong, what to do), no retry."""


class PolicyError(InputError):
    """A policy, sub-policy or operation that is malformed or cannot load."""


class ImageError(InputError):
    """An image batch of the wrong dtype, rank, shape or channel count."""


class ReplacedError(InputError, AttributeError):
    """A DeepAugment 1.x or 2.x name deepaug does not have; the message says what to write instead.
    An AttributeError too, so that hasattr() and getattr(obj, name, default) still answer."""


class RetryableError(DeepAugError):
    """Something outside deepaug failed (a service did not answer, a worker was killed): finished
    work is kept, and the same command run again resumes."""


class ServiceUnavailable(RetryableError, ConnectionError):
    """A service (the Kubernetes API server, S3, Redis) did not answer after retries."""


class SearchError(DeepAugError, RuntimeError):
    """A search that cannot go on (e.g. trials keep failing); its records stay resumable."""


class RunError(DeepAugError, RuntimeError):
    """An augmentation run stopped before its shards were done (a worker died, a Job failed);
    complete shards are kept."""


def problems(exc: "ValidationError", prefix: tuple[str, ...] = ()) -> str:
    """A pydantic error as one line: `where: what (got value)` per problem; values under
    kubernetes.env may be secrets, so they are never shown."""
    lines: list[str] = []
    unions: dict[str, tuple[list[str], Any]] = {}  # field -> (the types it may be, its value): one line each
    for error in exc.errors():
        parts = [str(p) for p in error["loc"]]
        branch = next((i for i, p in enumerate(parts) if _TYPE_NAME.match(p)), None)
        if branch is not None:  # one member of a union (`int | tuple[int, int]`): said once, as "one of"
            field = ".".join((*prefix, *parts[:branch]))
            unions.setdefault(field, ([], error.get("input")))[0].append(parts[branch])
            continue
        loc = (*prefix, *parts)
        if not loc:  # a check across fields: its message names them (the input is the whole config: not shown)
            lines.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        value = error.get("input")
        shown = ("value not shown" if loc[:2] == ("kubernetes", "env")
                 else "got an empty value" if value is None else f"got {value!r}")
        lines.append(f"{'.'.join(loc)}: {str(error['msg']).removeprefix('Value error, ')} ({shown})")
    for field, (types, value) in unions.items():
        shown = "value not shown" if field.startswith("kubernetes.env") else f"got {value!r}"
        lines.append(f"{field}: should be one of {', '.join(dict.fromkeys(types))} ({shown})")
    return "; ".join(lines)


_TYPE_NAME = re.compile(r"^(int|float|str|bool|bytes|none|(list|tuple|dict|set|frozenset|literal)\[.*\])$", re.I)
