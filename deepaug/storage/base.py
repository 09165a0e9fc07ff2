"""The storage contract (`Storage`) and what every backend shares: key rules, errors."""
from __future__ import annotations

import re
from typing import Any, BinaryIO, Iterator, Protocol, Sequence, Union, runtime_checkable
from urllib.parse import unquote_plus

from deepaug.errors import InputError, RetryableError
from deepaug.storage.folders import FolderSkip

Data = Union[bytes, bytearray, memoryview]
BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")  # what botocore accepts; S3 itself is stricter
KEY_RULES = "a relative path such as 'trials/0001/spec.json' (no leading '/', no '.', '..' or empty parts)"




class StorageError(RetryableError, OSError):
    """The store could not be reached or failed after retries; worth retrying later."""


@runtime_checkable
class Storage(Protocol):
    """A flat namespace of byte blobs under one root; keys are relative '/' paths.

    Beyond the blob operations, a backend offers what callers would otherwise reach around
    it for: streamed reads and writes of large files, a batch writer that makes many writes
    durable at once, and the checks and clean-up that only some backends need.
    """

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: Data) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str = "") -> str: ...
    def create(self, key: str, data: Data) -> bool:
        """Store `data` at `key` only if nothing is there (atomic: of two creators one wins); True if
        this call created it. Local: a link of a whole temp file; S3: a conditional PUT."""
    def list_info(self, prefix: str = "", skipped: list[FolderSkip] | None = None) -> Iterator[tuple[str, str]]:
        """(key, stamp) of each key `list` gives, cheaply (local: size and mtime; S3: size and ETag);
        `content_stamps` prove content. Local folders that a listing leaves out (a
        second path to a folder listed elsewhere, `deepaug.storage.folders`) are added to `skipped`."""
    def content_stamps(self, listed: Sequence[tuple[str, str]]) -> list[str]:
        """For each (key, stamp) of `list_info`, a stamp that changes whenever the key's bytes do: the
        listed one where it is such a stamp (S3: size and ETag), else from the bytes (local: BLAKE2b)."""
    def open_read(self, key: str) -> BinaryIO:
        """A seekable binary file of the object (the caller closes it); FileNotFoundError if absent.
        S3: downloaded into TMPDIR first (refused before it starts when TMPDIR has too little room)."""
    def open_ranged(self, key: str) -> BinaryIO:
        """As `open_read`, but reading only the bytes asked for (S3: ranged GETs, nothing on disk), for a
        reader that needs a few parts of a large object."""
    def write_stream(self, key: str, handle: BinaryIO) -> None:
        """Store a file's content without holding it in memory; atomic as `write`."""
    def batch_writer(self) -> "BatchWriter":
        """A writer for many objects that `sync`s them at once (local: one syncfs, not one fsync each)."""
    def folder_problem(self) -> str | None:
        """Why the root cannot be read as a folder ('does not exist', ...), None when it can."""
    def remove_temp_files(self, prefixes: tuple[str, ...], older_than: float = 0.0) -> int:
        """Remove temp files that writers killed mid-write left under `prefixes` (last written over
        `older_than` seconds ago; "" is the root's own files); how many."""


class BatchWriter(Protocol):
    def write(self, key: str, data: Data) -> None: ...
    def sync(self, pool: Any) -> None: ...


def check_key(key: str, where: str) -> str:
    """Return `key` if it is a safe relative key, else raise InputError naming `where`."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\x00" in key \
            or any(part in ("", ".", "..") for part in key.split("/")):
        raise InputError(f"bad key {key!r} for {where}: a key must be {KEY_RULES}")
    return key


def check_prefix(prefix: str, where: str) -> str:
    if not isinstance(prefix, str) or prefix.startswith("/"):
        raise InputError(f"bad list prefix {prefix!r} for {where}: a prefix must be {KEY_RULES}")
    folder = prefix.rpartition("/")[0]
    if folder:
        check_key(folder, where)
    return prefix


def check_data(data: Data, uri: str) -> int:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"can only store bytes at {uri}, got {type(data).__name__}; encode it first")
    return len(data)


def missing(uri: str) -> FileNotFoundError:
    return FileNotFoundError(f"nothing stored at {uri}; check the path, or write it first")


# A query or fragment parameter whose name (decoded, lower case, only letters and digits) holds one of these
# carries a credential: password/pass/passwd/pwd, token, secret, key (access_key, AccountKey, api_key),
# sig/signature, X-Amz-Credential/-Security-Token, auth, session, user (a user name goes with its password)
SECRET_PARAMETER_PARTS = ("pass", "pwd", "token", "secret", "key", "sig", "cred", "auth", "session", "user",
                          "private", "cookie")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")  # a URL in text runs to the next whitespace
_AUTHORITY_END = re.compile(r"[/?#]|$")  # as urllib: the netloc ends at the first of these
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(:[0-9]*)?")  # host or [IPv6], then an optional numeric port
HIDDEN = "***"


def redact(text: str) -> str:
    """`text` (a URL, or any text holding URLs) with every URL's userinfo (user and password) replaced by
    ``***@`` and the value of every credential-bearing query or fragment parameter (`SECRET_PARAMETER_PARTS`)
    by ``***``; scheme, host, port, path and other parameters stay, so the record stays useful.

    The last '@' of the authority ends the userinfo (as urllib and redis-py read it), so a password may hold
    '@'. Where the reading is in doubt, more goes: an '@' past the authority (a password holding '/', '?' or
    '#', or an '@' in a path) hides everything up to the last such '@'; a port that is not a number hides
    all after the scheme; a parameter without '=' is hidden.

    >>> redact("redis://default:Hunter@Secret2@host:6379/0?password=x&socket_timeout=5")
    'redis://***@host:6379/0?password=***&socket_timeout=5'
    """
    return _URL.sub(lambda match: _redact_url(match.group(0)), str(text))


def _redact_url(url: str) -> str:
    scheme, _, body = url.partition("://")
    authority, rest = _split(body)
    hidden = "@" in authority
    if "@" in rest:  # an '@' past the authority (not in a hidden value): in doubt, all up to the last one goes
        authority, rest, hidden = *_split(rest.rpartition("@")[2]), True
    authority = authority.rpartition("@")[2]  # the last '@' of the authority ends the userinfo
    if not _HOST_PORT.fullmatch(authority):  # ':password' without '@', or a host that is not one: all goes
        return f"{scheme}://{HIDDEN}"
    return f"{scheme}://{HIDDEN + '@' if hidden else ''}{authority}{rest}"


def _split(body: str) -> tuple[str, str]:
    """(authority, the rest with its credential parameters hidden) of a URL after its '//'."""
    cut = _AUTHORITY_END.search(body).start()
    return body[:cut], _hide_parameters(body[cut:])


def _hide_parameters(rest: str) -> str:
    path, mark, query = rest.partition("?")
    query, hash_mark, fragment = query.partition("#")
    if not mark:
        path, hash_mark, fragment = rest.partition("#")
    if "=" in fragment:
        fragment = _hide_values(fragment)
    return path + mark + (_hide_values(query) if mark else "") + hash_mark + fragment


def _hide_values(query: str) -> str:
    parts = re.split(r"([&;])", query)
    for i in range(0, len(parts), 2):
        name, equals, _ = parts[i].partition("=")
        plain = re.sub(r"[^a-z0-9]", "", unquote_plus(name).lower())
        if parts[i] and (not equals or any(part in plain for part in SECRET_PARAMETER_PARTS)):
            parts[i] = f"{name}={HIDDEN}" if equals else HIDDEN
    return "".join(parts)
