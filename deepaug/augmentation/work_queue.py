"""A Redis work queue with leases: for uneven workloads, workers take shards as they free up.

Items (shard numbers) wait in a list. `lease()` moves one into a sorted set scored by its
lease expiry (Redis server time, so worker clocks do not matter); a worker keeps its
lease alive while it works (`keep_alive`) and `complete()`s the item when its outputs are
written. Every `lease()` first returns expired leases to the queue, so a dead worker's
items are done by someone else and never stall the run (kaleidoscope's queue had no such
reaper). The run is finished when nothing is queued or leased. Each step is one Lua
script, so it is atomic however many workers race. An item may be done twice when a
slow worker outlives its lease; outputs are written atomically and identically, so that
is harmless.

Items come from Redis, which anyone with access may write to: an item is taken only when it
is a shard number of this run (ASCII digits, no sign, space or leading zero, below `items`);
anything else (5,000 digits, bytes that are not UTF-8, '-1', ' 1', '1e3') is removed from
the queue and its lease, and logged with a short printable repr, and `lease()` goes on to
the next item, so that no stray item can stop a run or come back on every rerun.

>>> queue = WorkQueue.connect("redis://127.0.0.1:6379/0", "deepaug:augment:example")  # doctest: +SKIP
>>> queue.seed(range(12)); item = queue.lease(); queue.complete(item)                  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from deepaug.errors import InputError
from deepaug.extras import require
from deepaug.storage.backends import StorageError
from deepaug.storage.base import redact

log = logging.getLogger(__name__)

KEEP_KEYS_SECONDS = 7 * 24 * 3600  # a finished run's keys linger this long, then Redis drops them

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
_SEED = """
if redis.call('SET', KEYS[3], ARGV[1], 'NX') then
  for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ARGV[2]) end
  return 1
end
return 0
"""
_LEASE = _NOW + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, item in ipairs(expired) do
  redis.call('ZREM', KEYS[2], item)
  if redis.call('SISMEMBER', KEYS[4], item) == 0 then redis.call('LPUSH', KEYS[1], item) end
end
local item = redis.call('LPOP', KEYS[1])
if not item then return {'', #expired, 0} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), item)
return {item, #expired, 1}
"""
_EXTEND = _NOW + """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
"""
_DROP = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""
_REQUEUE = """
local n = 0
for i = 1, #ARGV do
  redis.call('SREM', KEYS[3], ARGV[i])
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) and not redis.call('LPOS', KEYS[1], ARGV[i]) then
    redis.call('RPUSH', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
_COMPLETE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


PASSWORD_VARIABLE = "DEEPAUG_REDIS_PASSWORD"
_ITEM = re.compile(rb"0|[1-9][0-9]{0,8}")  # a shard number, as seed() writes it; at most 9 digits
SHOWN_BYTES = 32  # of a dropped item, in the log


def shown(raw: bytes) -> str:
    """A short printable repr of a queue item, whatever its bytes: '999', b'\\xff\\xfe', '12345...'... (5000 bytes)."""
    head = raw[:SHOWN_BYTES]
    text = repr(head.decode("ascii")) if head.isascii() else repr(head)
    return text if len(raw) <= SHOWN_BYTES else f"{text}... ({len(raw)} bytes)"


class WorkQueue:
    """Leased work items under the Redis keys `<name>:pending|leased|seeded|done`."""

    def __init__(self, client: Any, name: str, lease_seconds: float = 60.0, url: str = "redis",
                 items: int | None = None) -> None:
        """`items`: the valid items are "0" .. str(items - 1) (any run of at most 9 digits when None)."""
        if not lease_seconds > 0:
            raise InputError(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.client, self.name, self.url, self.items = client, name, url, items
        self.dropped = 0  # items this queue object removed as invalid
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.keys = {part: f"{name}:{part}" for part in ("pending", "leased", "seeded", "done")}
        self._scripts = {k: client.register_script(s) for k, s in
                         (("seed", _SEED), ("lease", _LEASE), ("extend", _EXTEND), ("complete", _COMPLETE),
                          ("requeue", _REQUEUE), ("drop", _DROP))}

    @classmethod
    def connect(cls, url: str, name: str, lease_seconds: float = 60.0, items: int | None = None) -> "WorkQueue":
        """A queue on the Redis server at `url`: redis://host:port/db, or rediss:// for TLS. The password
        comes from $DEEPAUG_REDIS_PASSWORD (or from the URL, which then must not be written anywhere).
        Without redis-py, MissingExtraError naming the queue extra."""
        redis = require("redis", "a work queue (--queue, queue=)")

        if not re.match(r"^rediss?://", url):
            raise InputError(f"bad queue URL {redact(url)!r}; write redis://host:port/db")
        # A password in the URL wins; else DEEPAUG_REDIS_PASSWORD (so that none has to be written in a config)
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30, health_check_interval=30,
                                          password=os.environ.get(PASSWORD_VARIABLE) or None)
        except ValueError:  # not shown: redis-py's message quotes a part of the URL ("... integer value as 'pa'")
            raise InputError(f"bad queue URL {redact(url)!r}: redis-py cannot read it; write redis://host:port/db, "
                             f"the password in ${PASSWORD_VARIABLE} (or percent-encoded in the URL)") from None
        return cls(client, name, lease_seconds, url, items)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        import redis  # redis is optional (queue mode only)

        try:
            yield
        except redis.exceptions.AuthenticationError as exc:
            raise InputError(f"cannot {action} the work queue at {redact(self.url)}: {redact(str(exc))}; check "
                             "the password in the URL") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StorageError(f"cannot {action} the work queue: Redis at {redact(self.url)} is unreachable "
                               f"({redact(str(exc))}); check the URL and that redis-server runs") from None
        except redis.exceptions.ResponseError as exc:  # e.g. WRONGTYPE: another program wrote one of the keys
            raise StorageError(f"cannot {action} the work queue {self.name}: Redis answered {redact(str(exc))[:200]}; "
                               f"its keys {self.name}:pending|leased|seeded|done hold something else (delete them "
                               "and run again: shards with a completion marker are not done twice)") from None

    def seed(self, items: Iterable[int | str]) -> bool:
        """Queue `items` once per run: True for the worker that seeded, False when already seeded."""
        values = [str(i) for i in items]
        with self._errors("seed"):
            keys = [self.keys["pending"], self.keys["leased"], self.keys["seeded"], self.keys["done"]]
            seeded = bool(self._scripts["seed"](keys=keys, args=[len(values), KEEP_KEYS_SECONDS, *values]))
        if seeded:
            log.info("queued %d items in %s", len(values), self.name)
        return seeded

    def lease(self) -> str | None:
        """Take the next valid item (returning expired leases to the queue first); None when nothing is
        queued. Invalid items met on the way are dropped (`drop`) and logged, never returned."""
        while True:
            with self._errors("lease from"):
                keys = [self.keys["pending"], self.keys["leased"], self.keys["seeded"], self.keys["done"]]
                raw, expired, found = self._scripts["lease"](keys=keys, args=[self.lease_ms])
            if expired:
                log.warning("%d expired lease(s) in %s went back to the queue (a worker died or stalled)",
                            expired, self.name)
            raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw  # decode_responses=True
            if not found:  # (an empty item is an item: dropped below)
                return None
            problem = self.problem(raw)
            if problem is None:
                return raw.decode("ascii")
            self.drop(raw, problem)

    def problem(self, raw: bytes) -> str | None:
        """Why `raw` is not an item of this queue, or None when it is one."""
        if not _ITEM.fullmatch(raw):
            return "not a shard of this run (a shard number is ASCII digits: no sign, space or leading zero, at most 9)"
        if self.items is not None and int(raw) >= self.items:
            return f"not a shard of this run (0-{self.items - 1})"
        return None

    def drop(self, raw: bytes, problem: str) -> None:
        """Remove every copy of `raw` from the queue, its lease and the done set, and log why."""
        with self._errors("drop an item in"):
            self._scripts["drop"](keys=[self.keys["pending"], self.keys["leased"], self.keys["done"]], args=[raw])
        self.dropped += 1
        log.warning("dropped item %s from the queue %s: %s; whoever wrote it, it must not stop the workers",
                    shown(raw), self.name, problem)

    def extend(self, item: str) -> bool:
        """Push the item's lease expiry forward; False if the lease was lost (expired and reaped)."""
        with self._errors("extend a lease in"):
            return bool(self._scripts["extend"](keys=[self.keys["leased"]], args=[item, self.lease_ms]))

    def complete(self, item: str) -> None:
        with self._errors("complete an item in"):
            self._scripts["complete"](keys=[self.keys["leased"], self.keys["done"]],
                                      args=[item, KEEP_KEYS_SECONDS])

    def requeue(self, items: Iterable[int | str]) -> int:
        """Queue `items` again unless queued or leased (work found missing after the run); how many went in."""
        with self._errors("requeue in"):
            return int(self._scripts["requeue"](keys=[self.keys["pending"], self.keys["leased"], self.keys["done"]],
                                                args=[str(i) for i in items]))

    def counts(self) -> dict[str, int]:
        """Items pending, leased and done, and whether the queue was seeded (1) or not (0)."""
        with self._errors("read"):
            pipe = self.client.pipeline()
            pipe.llen(self.keys["pending"]).zcard(self.keys["leased"]).scard(self.keys["done"])
            pipe.exists(self.keys["seeded"])
            pending, leased, done, seeded = pipe.execute()
        return {"pending": pending, "leased": leased, "done": done, "seeded": seeded}

    def finished(self) -> bool:
        """True once the queue was seeded and nothing is pending or leased."""
        counts = self.counts()
        return bool(counts["seeded"]) and counts["pending"] == 0 and counts["leased"] == 0

    @contextmanager
    def keep_alive(self, item: str) -> Iterator[None]:
        """Extend the item's lease every third of its duration while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease_ms / 3000):
                try:
                    if not self.extend(item):
                        log.warning("lost the lease on %s in %s; finishing it anyway (same bytes)", item, self.name)
                        return
                except Exception as exc:  # a heartbeat failure must not kill the work; the lease may lapse
                    log.warning("could not extend the lease on %s: %s", item, exc)

        thread = threading.Thread(target=beat, name=f"lease-{item}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
