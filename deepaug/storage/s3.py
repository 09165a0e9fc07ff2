"""S3 storage: blobs as objects under s3://bucket/prefix/ (boto3, imported on first use)."""
from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator, Sequence

from deepaug.errors import InputError
from deepaug.storage.base import BUCKET, Data, StorageError, check_data, check_key, check_prefix, missing, redact
from deepaug.storage.disk import download_to_temp
from deepaug.storage.folders import FolderSkip
from deepaug.storage.ranged import RangedFile

log = logging.getLogger(__name__)


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
        if not isinstance(bucket, str) or not BUCKET.match(bucket):
            raise InputError(f"bad S3 bucket name {bucket!r}; use a URI such as s3://my-bucket/experiments")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        if self.prefix:
            check_key(self.prefix, f"s3://{bucket}")
        self.page_size, self.multipart_threshold = page_size, multipart_threshold
        if client is None:
            import boto3  # boto3 is optional (the s3 extra): loaded when S3 is used
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
        # boto3 is optional (the s3 extra)
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
            raise StorageError(f"cannot {action} {uri}: S3 endpoint {redact(getattr(meta, 'endpoint_url', '?'))} "
                               f"unreachable after {attempts} attempts ({redact(str(exc))}); check the network "
                               "and AWS_ENDPOINT_URL") from exc
        except NoCredentialsError:
            raise InputError(f"cannot {action} {uri}: no AWS credentials found; set AWS_PROFILE or "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or give the pod an IAM role") from None

    def _client_error(self, exc: Any, action: str, uri: str, bucket: bool = False) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404") and not bucket:
            return missing(uri)
        if code in ("NoSuchBucket", "InvalidBucketName") or bucket:
            return InputError(f"cannot {action} {uri}: bucket {self.bucket!r} does not exist ({code}); "
                              "create it or fix the bucket name")
        if status == 403 or code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
                                     "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return InputError(f"cannot {action} {uri}: access denied ({code}); check the credentials "
                              "(AWS_PROFILE, AWS_ACCESS_KEY_ID or the pod's IAM role) and the bucket policy")
        return StorageError(f"cannot {action} {uri}: S3 answered {code or status} "
                            f"({redact(str(error.get('Message', '')))}); try again later")

    def read(self, key: str) -> bytes:
        with self._errors("read", key):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def write(self, key: str, data: Data) -> None:
        full = self._key(key)
        with self._errors("write", key):
            if check_data(data, self.uri(key)) < self.multipart_threshold:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
            else:
                from boto3.s3.transfer import TransferConfig  # boto3 is optional (the s3 extra)

                config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                        multipart_chunksize=max(self.multipart_threshold, 5 * 1024 * 1024))
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, full, Config=config)
        log.debug("wrote %d bytes to %s", len(data), self.uri(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # boto3 is optional (the s3 extra)

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
        for key, _ in self.list_info(prefix):
            yield key

    def list_info(self, prefix: str = "", skipped: list[FolderSkip] | None = None) -> Iterator[tuple[str, str]]:
        """(key, "size:ETag") of each key `list` gives: what changes when an object's content does
        (`skipped` stays as it is: S3 has no links)."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=base + check_prefix(prefix, self.uri()),
                                   PaginationConfig={"PageSize": self.page_size})
        with self._errors("list", ""):
            for page in pages:
                for item in page.get("Contents", ()):
                    if not item["Key"].endswith("/"):  # skip console "folder" markers
                        yield item["Key"][len(base):], f"{item.get('Size')}:{item.get('ETag', '').strip(chr(34))}"

    def content_stamps(self, listed: Sequence[tuple[str, str]]) -> list[str]:
        return [stamp for _, stamp in listed]  # size and ETag: an upload of other bytes gets another ETag

    def delete(self, key: str) -> None:
        """Remove `key`; no error if it is absent (as S3 itself)."""
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def create(self, key: str, data: Data) -> bool:
        from botocore.exceptions import ClientError  # boto3 is optional (the s3 extra)

        check_data(data, self.uri(key))
        with self._errors("create", key):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
                return True
            except ClientError as exc:  # 412: the key exists; 409: a create of it is in flight
                if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False
                raise

    def size(self, key: str) -> int:
        """The object's size in bytes (a HEAD request); FileNotFoundError if absent."""
        with self._errors("read", key):
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])

    def open_ranged(self, key: str) -> BinaryIO:
        """The object as a seekable file that GETs only the byte ranges read (`deepaug.storage.ranged`):
        nothing is downloaded up front and nothing goes to disk."""
        full, uri = self._key(key), self.uri(key)

        def fetch(start: int, length: int) -> bytes:
            with self._errors("read", key):
                return self.client.get_object(Bucket=self.bucket, Key=full,
                                              Range=f"bytes={start}-{start + length - 1}")["Body"].read()

        return RangedFile(fetch, self.size(key), uri)  # type: ignore[return-value]

    def open_read(self, key: str) -> BinaryIO:
        """The object downloaded (streamed) into a local temp file in TMPDIR: seekable, as zip and np.load
        need, while memory stays flat however large the object is (the file is gone once closed). A TMPDIR
        with less room than the object is refused before the download, naming both."""
        def fill(spool: BinaryIO) -> None:
            with self._errors("read", key):
                self.client.download_fileobj(self.bucket, self._key(key), spool)

        return download_to_temp(self.uri(key), self.size(key), fill, "deepaug-s3-")

    def write_stream(self, key: str, handle: BinaryIO) -> None:
        from boto3.s3.transfer import TransferConfig  # boto3 is optional (the s3 extra)

        config = TransferConfig(multipart_threshold=self.multipart_threshold, max_concurrency=2,
                                multipart_chunksize=max(self.multipart_threshold, 5 * 1024 * 1024))
        with self._errors("write", key):  # a multipart upload becomes visible only when complete
            self.client.upload_fileobj(handle, self.bucket, self._key(key), Config=config)

    def batch_writer(self) -> "S3Storage":
        return self  # each PUT is durable when it returns: `sync` has nothing left to do

    def sync(self, pool: Any) -> None:
        pass

    def folder_problem(self) -> str | None:
        return None  # a prefix is there once it holds objects; an empty one lists nothing

    def remove_temp_files(self, prefixes: tuple[str, ...], older_than: float = 0.0) -> int:
        return 0  # a PUT leaves no temp object
