"""The Redis work-queue mode against a real redis-server on loopback (tests/_redis.py)."""
from __future__ import annotations

import json
import logging
import signal
import time

import pytest

from _augment_data import markers, run_killed, tree, write_images
from _redis import PASSWORD, guarded_redis, redis_server, redis_url  # noqa: F401  (fixtures)
from deepaug.augmentation.plan import make_plan
from deepaug.api import augment
from deepaug.errors import InputError
from deepaug.augmentation.request import AugmentRequest
from deepaug.augmentation.work_queue import WorkQueue
from deepaug.run import record_options

OPTIONS = {"variants": 2, "shard_size": 2, "io_threads": 2}


def test_leases_expire_back_into_the_queue(redis_url):
    queue = WorkQueue.connect(redis_url, "test:q", lease_seconds=0.3)
    other = WorkQueue.connect(redis_url, "test:q", lease_seconds=0.3)
    assert queue.seed(range(3)) and not other.seed(range(3))  # seeded once per run
    assert queue.counts() == {"pending": 3, "leased": 0, "done": 0, "seeded": 1}
    first, second = queue.lease(), other.lease()
    assert (first, second) == ("0", "1")
    queue.complete(first)
    time.sleep(0.45)  # `other` died holding "1": its lease expires
    assert queue.lease() == "1"  # reaped first, so the expired item comes before the rest
    with queue.keep_alive("1"):
        time.sleep(0.45)  # kept alive past its first expiry
        assert other.lease() == "2" and other.lease() is None
    assert queue.counts()["leased"] == 2 and not queue.finished()
    queue.complete("1"), other.complete("2")
    assert queue.finished() and queue.counts()["done"] == 3
    assert queue.requeue(["1", "1"]) == 1 and queue.lease() == "1"  # found missing later: queued once


def test_queue_url_errors_are_clear():
    with pytest.raises(InputError, match="redis://host:port"):
        WorkQueue.connect("http://127.0.0.1:1", "x")
    queue = WorkQueue.connect("redis://127.0.0.1:1/0", "x")  # nothing listens on port 1
    with pytest.raises(OSError, match="unreachable"):
        queue.lease()


def test_dead_queue_worker_does_not_stall_the_run(tmp_path, redis_url):
    src = tmp_path / "src"
    write_images(src)
    augment("reference", src, tmp_path / "ref", **OPTIONS)
    out = tmp_path / "out"
    killed = run_killed(["--policy", "reference", "--input", str(src), "--output", str(out), "--variants", "2",
                         "--shard-size", "2", "--queue", redis_url, "--lease-seconds", "1"], kill_shard=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert markers(tree(out)) == {0, 1}
    plan = make_plan("reference", src, out, **OPTIONS)
    queue = WorkQueue.connect(redis_url, f"deepaug:augment:{plan.dataset_id[:16]}")
    assert queue.counts()["leased"] == 1  # the dead worker's lease on shard 2

    started = time.monotonic()
    result = augment("reference", src, out, queue=redis_url, lease_seconds=1, workers=2, **OPTIONS)
    assert result.complete and result.shards_done_here == 4 and time.monotonic() - started < 30
    assert tree(out) == tree(tmp_path / "ref")
    assert queue.finished() and queue.counts()["done"] == 6

    again = augment("reference", src, out, queue=redis_url, **OPTIONS)
    assert again.cached and again.shards_done_here == 0


def _leaks(folder, records) -> list[str]:
    """Where a part of PASSWORD shows: files under `folder` (any bytes) and log records (message and traceback)."""
    parts = ("Hunter", "Secret2")
    places = [str(p) for p in folder.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in parts)]
    texts = [(r.getMessage(), logging.Formatter().formatException(r.exc_info) if r.exc_info else "") for r in records]
    return places + [text for pair in texts for text in pair if any(s in text for s in parts)]


@pytest.mark.parametrize("form", ["redis://default:{password}@{host}/0", "redis://:{password}@{host}/0",
                                  "redis://{host}/0?password={password}", "redis://{host}/0?db=0&password={encoded}"])
def test_the_queue_password_reaches_no_file_and_no_log(tmp_path, guarded_redis, caplog, form):
    url = form.format(password=PASSWORD, encoded=PASSWORD.replace("@", "%40"), host=guarded_redis)
    src, out = tmp_path / "src", tmp_path / "out"
    write_images(src)
    caplog.set_level(logging.DEBUG)
    result = augment("reference", src, out, queue=url, **OPTIONS)  # the password opens the queue ...
    assert result.complete and result.shards_done_here == 6
    record = json.dumps(record_options(AugmentRequest(queue=url, variants=2)))  # augment.json's options
    assert guarded_redis + "/0" in record and "Hunter" not in record and "Secret2" not in record
    with pytest.raises(InputError) as wrong:  # ... a wrong one is refused, without showing it
        augment("reference", src, tmp_path / "other", queue=url.replace("Hunter", "Hunted"), **OPTIONS)
    assert "Hunted" not in str(wrong.value) and "Secret2" not in str(wrong.value) and guarded_redis in str(wrong.value)
    assert _leaks(tmp_path, caplog.records) == []  # ... and no file or log record holds a part of it


# ---------------------------------------------------------------- issue 38: hostile queue items

HOSTILE = [b"9" * 5000, b"\xff\xfe\x00bad", b"-1", b"7", b" 1", b"1\n", b"1e3", b"01", b"\xd9\xa1", b""]


def test_lease_drops_hostile_items_and_takes_the_next_shard(redis_url):
    import redis

    queue = WorkQueue.connect(redis_url, "test:hostile", items=3)
    queue.seed([])
    with redis.Redis.from_url(redis_url) as client:  # a stray writer: bad items between the real ones
        client.rpush(queue.keys["pending"], HOSTILE[0], b"0", *HOSTILE[1:5], b"1", *HOSTILE[5:], b"2")
        client.zadd(queue.keys["leased"], {b"\x80" * 3: 0, b"8" * 4400: 0})  # leases of a crashed run, expired
    assert [queue.lease(), queue.lease(), queue.lease(), queue.lease()] == ["0", "1", "2", None]
    assert queue.dropped == 12  # the ten HOSTILE items and the two expired leases
    for item in ("0", "1", "2"):
        queue.complete(item)
    assert queue.counts() == {"pending": 0, "leased": 0, "done": 3, "seeded": 1} and queue.finished()
    with redis.Redis.from_url(redis_url) as client:
        client.set(queue.keys["pending"], b"not a list")  # a key of another type: a clear error, not a traceback
    with pytest.raises(OSError, match="cannot lease from the work queue test:hostile: Redis answered WRONGTYPE"):
        queue.lease()


@pytest.mark.parametrize("workers", [1, 2])  # this process, or two worker processes (their logs are not caught)
def test_a_run_completes_every_shard_past_hostile_items(tmp_path, redis_url, caplog, workers):
    import redis

    src, out = tmp_path / "src", tmp_path / "out"
    write_images(src, per_class=3)  # 6 images: 3 shards of 2
    augment("reference", src, tmp_path / "ref", **OPTIONS)
    plan = make_plan("reference", src, out, **OPTIONS)
    queue = WorkQueue.connect(redis_url, f"deepaug:augment:{plan.dataset_id[:16]}")
    queue.seed([0])  # seeded with shard 0 only: the rest would come from the requeue of missing shards
    hostile = HOSTILE + [str(plan.n_shards).encode(), b"1" * 10]
    with redis.Redis.from_url(redis_url) as client:
        client.rpush(queue.keys["pending"], *hostile[:4], b"1", *hostile[4:], b"2")
        client.zadd(queue.keys["leased"], {b"9" * 5000 + b"\xff": 0})  # the item a crashed worker held
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        result = augment("reference", src, out, queue=redis_url, workers=workers, **OPTIONS)
    assert result.complete and result.shards_done_here == plan.n_shards
    assert tree(out) == tree(tmp_path / "ref")
    assert queue.finished() and queue.counts() == {"pending": 0, "leased": 0, "done": 3, "seeded": 1}
    if workers > 1:
        return
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dropped item ")]
    assert len(dropped) == len(hostile) + 1
    assert all(len(message) < 300 and message.isprintable() for message in dropped)  # short, printable
    assert any("'99999" in m and "(5000 bytes)" in m for m in dropped)
    assert any("b'\\xff\\xfe\\x00bad'" in m for m in dropped) and any("'-1'" in m for m in dropped)
    assert any("'1e3'" in m for m in dropped) and any("' 1'" in m for m in dropped)
    assert any(f"'{plan.n_shards}'" in m and f"(0-{plan.n_shards - 1})" in m for m in dropped)
