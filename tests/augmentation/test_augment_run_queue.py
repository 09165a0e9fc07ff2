"""The Redis work-queue mode against a real redis-server on loopback (tests/_redis.py)."""
from __future__ import annotations

import signal
import time

import pytest

from _augment_data import markers, run_killed, tree, write_images
from _redis import redis_server, redis_url  # noqa: F401  (fixtures)
from deepaug.augmentation.plan import make_plan
from deepaug.api import augment
from deepaug.errors import InputError
from deepaug.augmentation.work_queue import WorkQueue

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
