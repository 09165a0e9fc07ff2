"""Worker processes of an augmentation run (parent side): `python -m deepaug.augmentation.process_main`,
started through `deepaug.processes`.

multiprocessing's spawn re-imports the parent's main script in every worker, so a user's
script without an ``if __name__ == "__main__":`` guard that calls ``augment(workers=2)``
would run again in each worker. These workers are fresh interpreters instead (as the trial
pool's, `deepaug.execution.local_pool`): each reads pickled messages on its stdin and answers on
its stdout, logs to its stderr (the parent's) at the parent's level, ignores Ctrl-C (the parent
stops it) and runs OpenCV on one thread, so `workers` processes use `workers` cores.

The first message is the job:

- ``("pool", plan, log_level)``: then shard numbers one at a time (None: stop); the worker
  answers ``("done", shard, did)`` after each (did: False when the shard was already complete);
- ``("queue", plan, log_level, url, lease_seconds)``: the worker leases shards from the
  Redis queue until it is finished, answering ``("done", shard, True)`` after each, and
  exits 0.

An exception is answered ``("error", shard, exception, traceback text)`` (exception None
when it cannot be pickled) before the worker exits with status 1. A worker whose stdin
closes (the parent died) stops: after its shard in a pool, at once in queue mode.
"""
from __future__ import annotations

import logging
import pickle
from typing import Any

from deepaug.errors import InputError
from deepaug.processes import WorkerProcess, pickled, start_workers, thread_env

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MODULE = "deepaug.augmentation.process_main"


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process; the cause of the one raised in the parent."""

    def __str__(self) -> str:
        return f"\n(in the worker process)\n{self.args[0]}"


class ShardWorker(WorkerProcess):
    """One `python -m deepaug.augmentation.process_main` process, native libraries on one thread."""

    def __init__(self) -> None:
        super().__init__(MODULE, thread_env(1))
        self.shard: int | None = None  # the shard it works on (pool)
        self.failed = False  # it answered "error"


def start_shard_workers(count: int, job: tuple[Any, ...]) -> list[ShardWorker]:
    """Start `count` workers and send each the job, pickled once.

    InputError when the job cannot be pickled (storage options holding a client object).
    """
    try:
        data = pickled(job)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot hand the run to worker processes ({exc}); with workers > 1 the storage options "
                         "must be plain values (no client object): pass endpoint/credential settings instead, or "
                         "use workers=1") from None
    return start_workers(count, lambda _: ShardWorker(), [data])
