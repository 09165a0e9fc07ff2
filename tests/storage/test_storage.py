"""Storage: one contract suite run against every backend, then what only one backend has.

The S3 backend talks over HTTP to a real moto server on loopback (tests/_moto.py); no
boto3 call is mocked. The fsspec backend runs on fsspec's own memory:// filesystem (in-process).
"""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from typing import Iterator

import pytest

from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from deepaug.errors import InputError
from deepaug.extras import MissingExtraError
from deepaug.storage.backends import (FsspecStorage, LocalStorage, S3Storage, Storage, StorageError, join, locate,
                                      open_storage, parse_s3_uri, read_json, write_json)

BIG = 12 * 1024 * 1024  # over the 8 MiB multipart threshold: two parts on S3


@pytest.fixture(params=["local", "s3", "memory"])
def store(request, tmp_path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
    elif request.param == "memory":
        store = FsspecStorage(f"memory://deepaug-tests/{uuid.uuid4().hex}")  # fsspec's in-process filesystem
        yield store
        for key in store.fs.find(store.base):
            store.fs.rm_file(key)
    else:  # No endpoint or client given: boto3 must find the moto server through AWS_ENDPOINT_URL.
        yield S3Storage(request.getfixturevalue("s3_bucket"), "exp/one", page_size=10)


# ---------------------------------------------------------------- the contract

def test_is_a_storage(store):
    assert isinstance(store, Storage)


def test_write_read_round_trip_and_overwrite(store):
    store.write("trials/0001/spec.json", b'{"a": 1}')
    assert store.read("trials/0001/spec.json") == b'{"a": 1}'
    store.write("trials/0001/spec.json", bytearray(b"shorter"))
    assert store.read("trials/0001/spec.json") == b"shorter"


def test_exists(store):
    assert not store.exists("a/b.bin")
    store.write("a/b.bin", b"x")
    assert store.exists("a/b.bin")
    assert not store.exists("a")  # a "folder" is not an object


def test_list_is_recursive_sorted_and_filtered_by_prefix(store):
    keys = ["trials/0002/record.json", "trials/0001/spec.json", "trials/0001/record.json", "trip.json",
            "shards/a/b/c/0.npz", "z.txt", "trials2/x"]
    for key in keys:
        store.write(key, b"1")
    assert list(store.list()) == sorted(keys)
    assert list(store.list("trials/")) == ["trials/0001/record.json", "trials/0001/spec.json",
                                           "trials/0002/record.json"]
    assert list(store.list("tri")) == sorted(k for k in keys if k.startswith("tri"))
    assert list(store.list("trials/0001/s")) == ["trials/0001/spec.json"]
    assert list(store.list("nothing/here/")) == []


def test_list_includes_every_page(store):
    keys = [f"many/{i:03d}" for i in range(25)]  # S3 store: pages of 10, the last one partial
    for key in keys:
        store.write(key, b"")
    pages = _count_calls(store, "ListObjectsV2")
    assert list(store.list("many/")) == keys
    assert pages == ([3] if isinstance(store, S3Storage) else [])


def _count_calls(store, operation: str) -> list[int]:
    """Count the S3 requests `store` sends for `operation` (botocore's own event hooks; nothing mocked)."""
    if not isinstance(store, S3Storage):
        return []
    calls = [0]

    def count(**_) -> None:
        calls[0] += 1

    store.client.meta.events.register(f"before-send.s3.{operation}", count)
    return calls


def test_delete(store):
    store.write("d/one", b"1")
    store.write("d/two", b"2")
    store.delete("d/one")
    assert not store.exists("d/one")
    assert list(store.list()) == ["d/two"]
    store.delete("d/one")  # absent: no error
    with pytest.raises(FileNotFoundError):
        store.read("d/one")


def test_missing_key_raises_file_not_found_naming_the_uri(store):
    with pytest.raises(FileNotFoundError, match="nothing stored at") as info:
        store.read("no/such/key.json")
    assert store.uri("no/such/key.json") in str(info.value)


@pytest.mark.parametrize("key", ["with space/naïve ünïcode ✓.json", "日本/データ 1.bin", "a+b=c&d%20e#f"])
def test_unicode_and_odd_characters_in_keys(store, key):
    store.write(key, b"odd")
    assert store.read(key) == b"odd"
    assert store.exists(key)
    assert list(store.list()) == [key]


def test_only_bytes_are_stored(store):
    with pytest.raises(TypeError, match="can only store bytes"):
        store.write("text", "not bytes")
    assert not store.exists("text")


def test_empty_object(store):
    store.write("empty", b"")
    assert store.read("empty") == b""
    assert store.exists("empty")


def test_large_object_round_trip(store):
    data = os.urandom(1024) * (BIG // 1024) + b"tail"
    store.write("big/blob.bin", data)
    assert store.read("big/blob.bin") == data


@pytest.mark.parametrize("key", ["", "/abs", "../up", "a/../../up", "a//b", "a/./b", "trailing/", "nul\x00"])
def test_keys_that_could_escape_the_root_are_refused(store, key):
    with pytest.raises(InputError, match="bad key"):
        store.write(key, b"x")
    with pytest.raises(InputError, match="bad key"):
        store.read(key)


def test_readers_see_old_or_whole_new_content(store):
    old, new = b"o" * 300_000, b"n" * 200_000
    store.write("live", old)
    seen, stop = set(), threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.read("live"))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(10):
            store.write("live", new if i % 2 == 0 else old)
    finally:
        stop.set()
        thread.join()
    assert seen <= {old, new} and seen


def test_json_helpers_and_reopening_by_uri(store):
    write_json(store, "trials/0001/spec.json", {"policy": [["rotate", 0.5, 0.3]], "name": "ü"})
    again = open_storage(store.uri())
    assert read_json(again, "trials/0001/spec.json") == {"policy": [["rotate", 0.5, 0.3]], "name": "ü"}
    one, key = locate(store.uri("trials/0001/spec.json"))
    assert one.read(key) == store.read("trials/0001/spec.json")
    store.write("bad.json", b"{not json")
    with pytest.raises(InputError, match="not valid JSON") as info:
        read_json(store, "bad.json")
    assert store.uri("bad.json") in str(info.value)


# ---------------------------------------------------------------- local only

def test_local_refuses_prefixes_escaping_the_root(tmp_path):
    (tmp_path / "outside").write_bytes(b"secret")
    store = LocalStorage(tmp_path / "root")
    with pytest.raises(InputError):
        list(store.list("../"))
    with pytest.raises(InputError):
        store.read("../outside")


def test_local_write_leaves_no_temp_files_and_a_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    store = LocalStorage(tmp_path)
    store.write("a/f.json", b"old")
    store.write("a/f.json", b"newer")
    assert os.listdir(tmp_path / "a") == ["f.json"]

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("deepaug.storage.atomic.os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write("a/f.json", b"never seen")
    assert store.read("a/f.json") == b"newer"
    assert os.listdir(tmp_path / "a") == ["f.json"]


def test_local_list_hides_temp_files_of_writes_in_progress_and_delete_prunes_folders(tmp_path):
    store = LocalStorage(tmp_path)
    store.write("x/y/z.bin", b"1")
    (tmp_path / "x" / "y" / ".z.bin.abc123.tmp").write_bytes(b"partial")
    assert list(store.list()) == ["x/y/z.bin"]
    (tmp_path / "x" / "y" / ".z.bin.abc123.tmp").unlink()
    store.delete("x/y/z.bin")
    assert list(tmp_path.iterdir()) == []


def test_local_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert open_storage("rel/dir").uri("k") == str(tmp_path / "rel" / "dir" / "k")
    assert open_storage(f"file://{tmp_path}/x%20y").uri() == str(tmp_path / "x y")
    assert join(str(tmp_path), "a", "b.json") == str(tmp_path / "a" / "b.json")
    with pytest.raises(InputError, match="unsupported storage URI"):
        open_storage("ftp://host/x")
    with pytest.raises(InputError, match="unsupported storage URI"):
        open_storage("file://otherhost/x")


# ---------------------------------------------------------------- S3 only

@pytest.mark.parametrize("uri, expected", [("s3://b/", ("b", "")), ("s3://b", ("b", "")),
                                            ("s3://b/exp/one/", ("b", "exp/one")), ("S3://b/k", ("b", "k"))])
def test_parse_s3_uri(uri, expected):
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "s3:/b/k", "s3://b/k?x=1", "s3://bad bucket/k"])
def test_bad_s3_uris_are_input_errors(uri):
    with pytest.raises(InputError, match="S3"):
        open_storage(uri)


def test_s3_join():
    assert join("s3://b/exp/", "trials", "/0001/", "spec.json") == "s3://b/exp/trials/0001/spec.json"


def test_missing_bucket_is_an_input_error_naming_it(s3_env):
    store = open_storage("s3://no-such-bucket-here/exp")
    for action in (lambda: store.read("k"), lambda: store.write("k", b"v"), lambda: list(store.list()),
                   lambda: store.exists("k"), lambda: store.delete("k"), lambda: store.write("k", b"v" * BIG)):
        with pytest.raises(InputError, match="bucket 'no-such-bucket-here' does not exist") as info:
            action()
        assert "s3://no-such-bucket-here/exp" in str(info.value)


def test_unreachable_endpoint_is_a_storage_error_after_retries(s3_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-print-me")
    store = S3Storage("bucket", endpoint_url="http://127.0.0.1:1", attempts=2, connect_timeout=1, read_timeout=1)
    attempts = _count_calls(store, "GetObject")
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"unreachable after 2 attempts") as info:
        store.read("trials/x.json")
    assert time.monotonic() - start < 5 and attempts == [2]
    message = str(info.value)
    assert "s3://bucket/trials/x.json" in message and "http://127.0.0.1:1" in message
    assert "do-not-print-me" not in message
    assert isinstance(info.value, OSError)


def test_s3_client_config_and_injected_client(s3_bucket, s3_env):
    import boto3

    store = S3Storage(s3_bucket, attempts=3, connect_timeout=2, read_timeout=7)
    config = store.client.meta.config
    assert (config.retries["mode"], config.retries["total_max_attempts"]) == ("standard", 3)
    assert (config.connect_timeout, config.read_timeout) == (2, 7)
    assert store.client.meta.endpoint_url == s3_env  # from AWS_ENDPOINT_URL
    injected = S3Storage(s3_bucket, "p", client=boto3.client("s3", endpoint_url=s3_env))
    injected.write("k", b"v")
    assert store.read("p/k") == b"v"


def test_s3_prefix_isolates_sibling_prefixes(s3_bucket):
    S3Storage(s3_bucket, "exp2").write("a", b"2")
    store = S3Storage(s3_bucket, "exp")
    store.write("a", b"1")
    assert list(store.list()) == ["a"] and store.read("a") == b"1"


def test_s3_large_object_goes_up_in_parts(s3_bucket):
    store = S3Storage(s3_bucket)
    store.write("big.bin", b"\x01" * BIG)
    etag = store.client.head_object(Bucket=s3_bucket, Key="big.bin")["ETag"]
    assert etag.strip('"').endswith("-2")  # a multipart upload's ETag names its part count


def test_s3_lists_past_a_thousand_keys_with_the_default_page_size(s3_bucket):
    from concurrent.futures import ThreadPoolExecutor

    store = S3Storage(s3_bucket, "many")
    keys = [f"k/{i:04d}" for i in range(1003)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.write(key, b""), keys))
    pages = _count_calls(store, "ListObjectsV2")
    assert list(store.list()) == keys and pages == [2]


# ---------------------------------------------------------------- fsspec only (gs://, az://, memory://)

@pytest.mark.parametrize("uri, extra", [("gs://bucket/x", "gcs"), ("gcs://bucket/x", "gcs"),
                                        ("az://container/x", "azure"), ("abfs://container/x", "azure")])
def test_a_cloud_scheme_without_its_package_names_the_extra(monkeypatch, uri, extra):
    package = "gcsfs" if extra == "gcs" else "adlfs"
    monkeypatch.setitem(sys.modules, package, None)  # as where the extra is not installed
    with pytest.raises(MissingExtraError, match=rf"needs {package}, which comes with deepaug\[{extra}\]"):
        open_storage(uri)
    with pytest.raises(MissingExtraError, match=rf"pip install 'deepaug\[{extra}\]'"):
        locate(f"{uri}/key.json")


@pytest.mark.parametrize("uri", ["memory://", "memory:///", "memory://b/x?sig=1", "memory://b/../x"])
def test_bad_fsspec_uris_are_input_errors(uri):
    with pytest.raises(InputError, match="bad"):
        open_storage(uri)


def test_fsspec_options_reach_the_filesystem_and_no_repr_or_error(monkeypatch):
    seen = {}

    def filesystem(scheme, options):
        import fsspec

        seen.update(options)
        return fsspec.filesystem("memory")

    monkeypatch.setattr("deepaug.storage.fsspec_backend.filesystem", filesystem)
    store = open_storage(f"memory://{uuid.uuid4().hex}/x", account_key="k3y-do-not-print", max_pool_connections=4)
    assert seen == {"account_key": "k3y-do-not-print"}  # S3Storage's own options stay out of fsspec's
    assert "k3y" not in repr(store) and "k3y" not in str(store)
    with pytest.raises(FileNotFoundError) as info:
        store.read("absent")
    assert "k3y" not in str(info.value)


def test_fsspec_failed_stream_keeps_the_old_object_and_leaves_no_temp_key():
    store = FsspecStorage(f"memory://deepaug-tests/{uuid.uuid4().hex}")

    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise OSError("the source disk went away")

    store.write("labels.csv", b"old")
    with pytest.raises(StorageError, match="cannot write memory://.*labels.csv"):
        store.write_stream("labels.csv", Broken())
    assert store.read("labels.csv") == b"old"
    assert store.fs.find(store.base) == [f"{store.base}/labels.csv"]


# ---------------------------------------------------------------- what callers used to reach around the contract for

def test_open_read_gives_a_seekable_file_and_file_not_found_when_absent(store):
    store.write("data/a.bin", b"0123456789")
    with store.open_read("data/a.bin") as handle:
        handle.seek(4)
        assert handle.read(3) == b"456"
    with pytest.raises(FileNotFoundError, match="nothing stored at"):
        store.open_read("data/missing.bin")


def test_open_ranged_reads_any_part_in_any_order_and_file_not_found_when_absent(store):
    payload = bytes(range(256)) * 2048  # 512 KiB: more than one read window
    store.write("data/big.bin", payload)
    with store.open_ranged("data/big.bin") as handle:
        assert handle.seekable() and handle.read(0) == b""
        handle.seek(-10, 2)
        assert handle.read() == payload[-10:] and handle.read(5) == b""
        for start, size in ((300_000, 7), (5, 200_000), (0, 3), (524_000, 1000)):
            handle.seek(start)
            assert handle.read(size) == payload[start:start + size] and handle.tell() == min(start + size, len(payload))
        handle.seek(0)
        assert b"".join(iter(lambda: handle.read(1 << 16), b"")) == payload  # streamed whole
    with pytest.raises(FileNotFoundError, match="nothing stored at"):
        store.open_ranged("data/missing.bin")


def test_write_stream_stores_a_large_file_whole(store):
    import tempfile

    payload = bytes(range(256)) * (40 * 1024)  # 10 MiB: over the S3 multipart threshold
    with tempfile.TemporaryFile() as spool:
        spool.write(payload)
        spool.seek(0)
        store.write_stream("big/labels.csv", spool)
    assert store.read("big/labels.csv") == payload
    assert list(store.list("big/")) == ["big/labels.csv"]  # no temp file or part left behind


def test_a_batch_writer_s_files_are_there_after_sync(store):
    from concurrent.futures import ThreadPoolExecutor

    batch = store.batch_writer()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: batch.write(f"images/{i}.png", bytes([i]) * 10), range(6)))
        batch.sync(pool)
    assert [store.read(f"images/{i}.png") for i in range(6)] == [bytes([i]) * 10 for i in range(6)]


def test_temp_files_of_killed_writers_are_removed_and_nothing_else(store):
    store.write("images/a.png", b"a")
    if isinstance(store, LocalStorage):
        (store.root / "images" / ".b.png.123-abcdef.tmp").write_bytes(b"half")
        (store.root / "other").mkdir()
        (store.root / "other" / ".c.png.1-2.tmp").write_bytes(b"half")
    if isinstance(store, FsspecStorage):  # write_stream's temp keys, as a killed writer leaves them
        store.fs.pipe_file(f"{store.base}/images/.b.png.123-abcdef.tmp", b"half")
        store.fs.pipe_file(f"{store.base}/other/.c.png.1-2.tmp", b"half")
    removed = store.remove_temp_files(("images",))
    assert removed == (0 if isinstance(store, S3Storage) else 1)
    assert list(store.list("images/")) == ["images/a.png"]
    if isinstance(store, LocalStorage):
        assert sorted(p.name for p in (store.root / "images").iterdir()) == ["a.png"]
        assert (store.root / "other" / ".c.png.1-2.tmp").exists()  # outside the prefixes asked for
    if isinstance(store, FsspecStorage):
        assert sorted(store.fs.find(store.base)) == [f"{store.base}/images/a.png", f"{store.base}/other/.c.png.1-2.tmp"]


def test_folder_problem_names_a_missing_or_file_root(tmp_path, store):
    store.write("a/b.png", b"x")
    assert store.folder_problem() is None
    assert LocalStorage(tmp_path / "nope").folder_problem() == "does not exist"
    (tmp_path / "file").write_bytes(b"x")
    assert LocalStorage(tmp_path / "file").folder_problem() == "is a file, not a folder"


def test_list_info_stamps_change_with_the_content(store):
    store.write("c/a.png", b"one")
    store.write("c/b.png", b"two")
    before = dict(store.list_info("c/"))
    assert list(before) == list(store.list("c/")) == ["c/a.png", "c/b.png"]
    time.sleep(0.01)
    store.write("c/a.png", b"ONE")  # same size, other content
    after = dict(store.list_info("c/"))
    assert after["c/a.png"] != before["c/a.png"] and after["c/b.png"] == before["c/b.png"]


def test_content_stamps_change_with_the_bytes_even_when_size_and_time_are_kept(store):
    store.write("c/a.png", b"one")
    store.write("c/b.png", b"two")
    listed = list(store.list_info("c/"))
    before = store.content_stamps(listed)
    if isinstance(store, LocalStorage):  # as `cp -p`, `rsync -a` and `tar` leave a replaced file
        path = store.root / "c" / "a.png"
        status = path.stat()
        path.write_bytes(b"ONE")
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert list(store.list_info("c/")) == listed  # the cheap stamp cannot tell
    else:
        store.write("c/a.png", b"ONE")
    after = store.content_stamps(list(store.list_info("c/")))
    assert after[0] != before[0] and after[1] == before[1]
    assert store.content_stamps(list(store.list_info("c/"))) == after


def test_create_stores_only_if_absent_and_one_of_two_racing_creators_wins(store):
    from concurrent.futures import ThreadPoolExecutor

    assert store.create("claims/run.json", b"first") is True
    assert store.create("claims/run.json", b"second") is False
    assert store.read("claims/run.json") == b"first"
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: store.create("claims/race.json", str(i).encode()), range(8)))
    assert won.count(True) == 1
    assert store.read("claims/race.json") == str(won.index(True)).encode()
    assert list(store.list("claims/")) == ["claims/race.json", "claims/run.json"]  # no temp file left
