"""Worker processes of an augmentation run (parent side): `python -m deepaug.augmentation.process_main`, started with subprocess.

multiprocessing's spawn re-imports the parent's main script in every worker, so a user's
script without an ``if __name__ == "__main__":`` guard that calls ``augment(workers=2)``
would run again in each worker. These workers are fresh interpreters instead (as in
`deepaug.execution.local_pool`): each reads pickled messages on its stdin and answers on its stdout,
logs to its stderr (the parent's) at the parent's level, ignores Ctrl-C (the parent stops
it) and runs OpenCV on one thread, so `workers` processes use `workers` cores.

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
import signal
import subprocess
from multiprocessing.connection import wait as wait_any
from typing import Any, Sequence

from deepaug.errors import InputError
from deepaug.execution.processes import spawn

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process; the cause of the one raised in the parent."""

    def __str__(self) -> str:
        return f"\n(in the worker process)\n{self.args[0]}"


def exit_reason(code: int | None) -> str:
    """Words for a worker's exit status: 'killed by SIGKILL (killed, or out of memory)', 'exit code 1'."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (killed, or out of memory)" if -code == signal.SIGKILL else "")
    return f"exit code {code}"


class WorkerProcess:
    """One `python -m deepaug.augmentation.process_main` process and its two pipes (parent side)."""

    def __init__(self) -> None:

        self.process, self.tasks, self.messages = spawn("deepaug.augmentation.process_main", {name: "1" for name in ONE_THREAD})
        self.shard: int | None = None  # the shard it works on (pool)
        self.failed = False  # it answered "error"

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: Any) -> bool:
        """Send a message; False when the worker is gone (its exit shows up as the end of its messages)."""
        try:
            self.tasks.send(message)
            return True
        except OSError:
            return False

    def receive(self) -> tuple[Any, ...] | None:
        """The next message; None once the worker has exited (or closed its end)."""
        try:
            return self.messages.recv()
        except (EOFError, OSError):
            return None

    def wait(self, timeout: float = 10.0) -> int:
        """The exit status, killing the worker if it does not exit within `timeout` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        self.tasks.close()
        self.messages.close()


def start_workers(count: int, job: tuple[Any, ...]) -> list[WorkerProcess]:
    """Start `count` workers, then send each its job, pickled once (so their start-ups overlap).

    InputError when the job cannot be pickled (storage options holding a client object).
    """
    try:
        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot hand the run to worker processes ({exc}); with workers > 1 the storage options "
                         "must be plain values (no client object): pass endpoint/credential settings instead, or "
                         "use workers=1") from None
    workers: list[WorkerProcess] = []
    try:
        for _ in range(count):
            workers.append(WorkerProcess())
        for worker in workers:
            try:
                worker.tasks.send_bytes(data)
            except OSError:  # it died at once: its exit shows up as the end of its messages
                log.debug("worker process %d exited before taking its job", worker.pid)
    except BaseException:  # Ctrl-C or an error while starting: no worker is left behind
        for worker in workers:
            worker.kill()
            worker.close()
        raise
    return workers


def receive_any(workers: Sequence[WorkerProcess], timeout: float) -> list[tuple[WorkerProcess, tuple | None]]:
    """(worker, message) for each worker with a message ready within `timeout` (None: it exited)."""
    by_conn = {id(w.messages): w for w in workers}
    ready = wait_any([w.messages for w in workers], timeout=timeout)
    return [(by_conn[id(conn)], by_conn[id(conn)].receive()) for conn in ready]


def stop_workers(workers: Sequence[WorkerProcess], kill: bool = False) -> None:
    """Ask idle workers to stop (or kill them all), wait for every one, and close the pipes."""
    for worker in workers:
        if kill:
            worker.kill()
        else:
            worker.send(None)
    for worker in workers:
        worker.wait()
        worker.close()
