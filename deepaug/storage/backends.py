"""Blob storage on URIs: a local folder or an S3 prefix, one small contract for both.

Trial specs, trial records and augmented shards go through a `Storage`: `read`, `write`
(atomic: readers see the old object or the whole new one), `exists`, `list` (recursive,
sorted), `delete` and `uri`. Keys are relative '/'-separated paths such as
'trials/0001/spec.json'; a key that could escape the root ('..', absolute) is refused.
A missing key on read raises FileNotFoundError on every backend.

>>> import tempfile
>>> store = open_storage(tempfile.mkdtemp())     # or "s3://bucket/experiments/x"
>>> write_json(store, "trials/0001/spec.json", {"seed": 1})
>>> read_json(store, "trials/0001/spec.json"), list(store.list("trials/"))
({'seed': 1}, ['trials/0001/spec.json'])

S3 uses boto3's standard credential chain (environment, profile, pod IAM role) and
honours AWS_ENDPOINT_URL (MinIO, moto); boto3 is needed only for s3:// URIs.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, Union, runtime_checkable
from urllib.parse import unquote, urlsplit

from deepaug.errors import InputError
from deepaug.storage.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

Data = Union[bytes, bytearray, memoryview]
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")  # what botocore accepts; S3 itself is stricter
_KEY_RULES = "a relative path such as 'trials/0001/spec.json' (no leading '/', no '.', '..' or empty parts)"


class StorageError(OSError):
    """The store could not be reached or failed after retries; worth retrying later."""


@runtime_checkable
class Storage(Protocol):
    """A flat namespace of byte blobs under one root; keys are relative '/' paths."""

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: Data) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str = "") -> str: ...


def check_key(key: str, where: str) -> str:
    """Return `key` if it is a safe relative key, else raise InputError naming `where`."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\x00" in key \
            or any(part in ("", ".", "..") for part in key.split("/")):
        raise InputError(f"bad key {key!r} for {where}: a key must be {_KEY_RULES}")
    return key


def _check_prefix(prefix: str, where: str) -> str:
    if not isinstance(prefix, str) or prefix.startswith("/"):
        raise InputError(f"bad list prefix {prefix!r} for {where}: a prefix must be {_KEY_RULES}")
    folder = prefix.rpartition("/")[0]
    if folder:
        check_key(folder, where)
    return prefix


def _check_data(data: Data, uri: str) -> int:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"can only store bytes at {uri}, got {type(data).__name__}; encode it first")
    return len(data)


def _missing(uri: str) -> FileNotFoundError:
    return FileNotFoundError(f"nothing stored at {uri}; check the path, or write it first")


class LocalStorage:
    """Blobs as files under `root`; writes go to a temp file then a rename.

    >>> LocalStorage("/tmp/deepaug-doctest").uri("a/b.json")
    '/tmp/deepaug-doctest/a/b.json'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key, str(self.root))

    def uri(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _missing(str(path)) from None
        except PermissionError:
            raise InputError(f"cannot read {path}: permission denied; fix the file's permissions") from None

    def write(self, key: str, data: Data) -> None:
        path = self._path(key)
        _check_data(data, str(path))
        try:
            atomic_write_bytes(path, data)
        except PermissionError:
            raise InputError(f"cannot write {path}: permission denied; choose a folder you can write to") from None
        log.debug("wrote %d bytes to %s", len(data), path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix` (a plain string prefix, as on S3), sorted.

        Temp files of writes in progress ('.name.*.tmp') are not listed.
        """
        folder = self.root / _check_prefix(prefix, str(self.root)).rpartition("/")[0]
        keys = []
        for dirpath, _, filenames in os.walk(folder):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix) and not (name.startswith(".") and name.endswith(".tmp")):
                    keys.append(key)
        yield from sorted(keys)

    def delete(self, key: str) -> None:
        """Remove `key` (no error if it is absent) and any folders that become empty."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break


class S3Storage:
    """Blobs as objects under `s3://bucket/prefix/`; the client is injectable.

    Retries (botocore "standard" mode, `attempts` in all) and timeouts are configurable;
    objects over `multipart_threshold` bytes go up in parts and appear only when complete.
    `max_pool_connections` should be at least the number of threads sharing the storage
    (botocore's default is 10): beyond it, connections are dropped and opened again.

    >>> S3Storage("my-bucket", "exp/one", client=object()).uri("trials/0001/spec.json")
    's3://my-bucket/exp/one/trials/0001/spec.json'
    """

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *, attempts: int = 5,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0, page_size: int = 1000,
                 multipart_threshold: int = 8 * 1024 * 1024, endpoint_url: str | None = None,
                 max_pool_connections: int = 10) -> None:
        if not isinstance(bucket, str) or not _BUCKET.match(bucket):
            raise InputError(f"bad S3 bucket name {bucket!r}; use a URI such as s3://my-bucket/experiments")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        if self.prefix:
            check_key(self.prefix, f"s3://{bucket}")
        self.page_size, self.multipart_threshold = page_size, multipart_threshold
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "total_max_attempts": attempts},
                            connect_timeout=connect_timeout, read_timeout=read_timeout,
                            max_pool_connections=max_pool_connections)
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client
        self._bucket_seen = False

    def __repr__(self) -> str:
        return f"S3Storage({self.uri()!r})"

    def _key(self, key: str) -> str:
        check_key(key, self.uri())
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str = "") -> str:
        path = "/".join(part for part in (self.prefix, key) if part)
        return f"s3://{self.bucket}/{path}"

    @contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        """Turn botocore's exceptions into InputError / FileNotFoundError / StorageError."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError

        uri = self.uri(key)
        try:
            yield
            self._bucket_seen = True
        except ClientError as exc:
            raise self._client_error(exc, action, uri) from None
        except (ConnectionError, HTTPClientError) as exc:
            meta = getattr(self.client, "meta", None)
            attempts = getattr(getattr(meta, "config", None), "retries", {}).get("total_max_attempts", "several")
            raise StorageError(f"cannot {action} {uri}: S3 endpoint {_redact(getattr(meta, 'endpoint_url', '?'))} "
                               f"unreachable after {attempts} attempts ({_redact(str(exc))}); check the network "
                               "and AWS_ENDPOINT_URL") from exc
        except NoCredentialsError:
            raise InputError(f"cannot {action} {uri}: no AWS credentials found; set AWS_PROFILE or "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or give the pod an IAM role") from None

    def _client_error(self, exc: Any, action: str, uri: str, bucket: bool = False) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404") and not bucket:
            return _missing(uri)
        if code in ("NoSuchBucket", "InvalidBucketName") or bucket:
            return InputError(f"cannot {action} {uri}: bucket {self.bucket!r} does not exist ({code}); "
                              "create it or fix the bucket name")
        if status == 403 or code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
                                     "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return InputError(f"cannot {action} {uri}: access denied ({code}); check the credentials "
                              "(AWS_PROFILE, AWS_ACCESS_KEY_ID or the pod's IAM role) and the bucket policy")
        return StorageError(f"cannot {action} {uri}: S3 answered {code or status} "
                            f"({_redact(str(error.get('Message', '')))}); try again later")

    def read(self, key: str) -> bytes:
        with self._errors("read", key):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def write(self, key: str, data: Data) -> None:
        full = self._key(key)
        with self._errors("write", key):
            if _check_data(data, self.uri(key)) < self.multipart_threshold:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
            else:
                from boto3.s3.transfer import TransferConfig

                config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                        multipart_chunksize=max(self.multipart_threshold, 5 * 1024 * 1024))
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, full, Config=config)
        log.debug("wrote %d bytes to %s", len(data), self.uri(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        with self._errors("check", key):
            try:
                self.client.head_object(Bucket=self.bucket, Key=full)
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise
            if not self._bucket_seen:  # HEAD answers a bare 404 for a missing key and a missing bucket alike
                try:
                    self.client.head_bucket(Bucket=self.bucket)
                except ClientError as exc:  # a 403 only means no s3:ListBucket; objects may still be readable
                    if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                        raise self._client_error(exc, "check", self.uri(key), bucket=True) from None
            return False

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, sorted (S3's order), across all result pages."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=base + _check_prefix(prefix, self.uri()),
                                   PaginationConfig={"PageSize": self.page_size})
        with self._errors("list", ""):
            for page in pages:
                for item in page.get("Contents", ()):
                    if not item["Key"].endswith("/"):  # skip console "folder" markers
                        yield item["Key"][len(base):]

    def delete(self, key: str) -> None:
        """Remove `key`; no error if it is absent (as S3 itself)."""
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def _redact(text: str) -> str:
    """Drop any user:password@ from URLs in `text`."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix/' -> ('bucket', 'some/prefix'); InputError if malformed."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InputError(f"bad S3 URI {uri!r}; write it as s3://bucket/optional/prefix")
    return parts.netloc, parts.path.strip("/")


def _local_path(uri: str) -> Path:
    if "://" not in uri:
        return Path(uri)
    parts = urlsplit(uri)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    raise InputError(f"unsupported storage URI {uri!r}; use a local path, file:///path or s3://bucket/prefix")


def open_storage(uri: str | os.PathLike[str], **s3_options: Any) -> Storage:
    """The Storage rooted at `uri` (local path, file:// or s3://). S3 options are ignored for local roots.

    >>> open_storage("s3://bucket/exp", client=object())
    S3Storage('s3://bucket/exp')
    """
    text = os.fspath(uri)
    if text.lower().startswith("s3:"):
        return S3Storage(*parse_s3_uri(text), **s3_options)
    return LocalStorage(_local_path(text))


def locate(uri: str | os.PathLike[str], **s3_options: Any) -> tuple[Storage, str]:
    """Split the URI of one object into (storage, key) so that `storage.uri(key)` names it."""
    text = os.fspath(uri)
    if text.lower().startswith("s3:"):
        bucket, key = parse_s3_uri(text)
        return S3Storage(bucket, **s3_options), check_key(key, text)
    path = _local_path(text).expanduser().absolute()
    return LocalStorage(path.parent), check_key(path.name, text)


def join(uri: str, *parts: str) -> str:
    """Join key parts onto a root URI: join('s3://b/exp', 'trials', '1.json') -> 's3://b/exp/trials/1.json'."""
    if "://" in uri:
        return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(uri, *parts)


def read_json(storage: Storage, key: str) -> Any:
    """The JSON value stored at `key`; InputError naming the URI if it does not parse."""
    try:
        return json.loads(storage.read(key).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{storage.uri(key)} is not valid JSON ({exc}); rewrite or remove it") from None


def read_json_or_none(storage: Storage, key: str) -> Any:
    """As `read_json`, but None when nothing is stored at `key`."""
    try:
        return read_json(storage, key)
    except FileNotFoundError:
        return None


def write_json(storage: Storage, key: str, value: Any) -> None:
    """Store `value` as indented UTF-8 JSON at `key`, atomically."""
    storage.write(key, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
