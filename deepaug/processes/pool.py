"""What the local pools share: a worker process with its two pipes, starting a pool of them, reading
whichever has a message, stopping them, and how many workers (and threads each) to run.

Two pools stand on it, and what a worker's death means stays theirs: the augmentation run's
(`deepaug.augmentation.workers`: a dead worker stops the run, and the same command resumes it from
the shards' markers) and the trial pool (`deepaug.execution.local_pool`: a dead worker is replaced
and its trial retried from its last training, since a trial holds no marker of its own).
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import time
from contextlib import contextmanager
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from deepaug.processes.native_logs import relay
from deepaug.processes.spawning import spawn

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how long a pool waits for a message before it looks at its workers again
STOP_SECONDS = 10.0  # how long stopping waits for idle workers to exit before it kills them
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_DEFAULT_WORKERS = 8


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
    """One `python -m <module>` worker (`deepaug.processes.spawning`) and its two pipes, seen from the parent.
    A pool subclasses it to note what the worker is doing. With `keep_stderr`, the worker's stderr
    reaches this process's through a thread (`relay`) that passes the lines it accepts
    (`deepaug.processes.native_logs`)."""

    def __init__(self, module: str, env: Mapping[str, str], keep_stderr: Callable[[str], bool] | None = None) -> None:
        self.process, self.tasks, self.messages = spawn(module, env, pipe_stderr=keep_stderr is not None)
        self.relay = None if keep_stderr is None else relay(self.process.stderr, keep_stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: Any) -> bool:
        """Send a message; False when the worker is gone (its exit shows up as the end of its messages)."""
        try:
            self.tasks.send(message)
            return True
        except OSError:
            return False

    def receive(self) -> Any | None:
        """The next message; None once the worker has exited (or closed its end)."""
        try:
            return self.messages.recv()
        except (EOFError, OSError):
            return None

    def wait(self, timeout: float = STOP_SECONDS) -> int:
        """The exit status, killing the worker if it does not exit within `timeout` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """Kill the worker if it still runs; its exit status."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()

    def close(self) -> None:
        self.tasks.close()
        self.messages.close()


Worker = TypeVar("Worker", bound=WorkerProcess)


def start_workers(count: int, make: Callable[[int], Worker], first: Sequence[bytes] = ()) -> list[Worker]:
    """`count` workers (worker i is `make(i)`), each then sent the already pickled messages `first`.

    Every worker is started before any is sent anything, so their start-ups overlap even when a
    message is larger than a pipe holds. Starting interrupted (Ctrl-C) or failed leaves no worker.
    """
    workers: list[Worker] = []
    try:
        for index in range(count):
            workers.append(make(index))
        for worker in workers:
            try:
                for data in first:
                    worker.tasks.send_bytes(data)
            except OSError:  # it died at once: its exit shows up as the end of its messages
                log.debug("worker process %d exited before taking its first messages", worker.pid)
    except BaseException:
        stop_workers(workers, kill=True)
        raise
    return workers


def pickled(message: Any) -> bytes:
    """`message` as a worker's Connection.recv reads it back."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def receive_any(workers: Sequence[Worker], timeout: float = POLL_SECONDS) -> list[tuple[Worker, Any | None]]:
    """(worker, message) for each worker with a message ready within `timeout` (None: it exited)."""
    by_conn = {id(w.messages): w for w in workers}
    ready = wait_any([w.messages for w in workers], timeout=timeout)
    return [(by_conn[id(conn)], by_conn[id(conn)].receive()) for conn in ready]


def stop_workers(workers: Sequence[WorkerProcess], kill: bool = False, seconds: float = STOP_SECONDS) -> None:
    """Ask the workers to stop (None: the end of their tasks), or kill them; wait for every one (those
    still running after `seconds` in all are killed) and close the pipes."""
    for worker in workers:
        if kill:
            worker.kill()
        else:
            worker.send(None)
    deadline = time.monotonic() + seconds
    for worker in workers:
        worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        worker.close()


@contextmanager
def stopping(workers: Sequence[Worker]) -> Iterator[Sequence[Worker]]:
    """Stop the workers when the block ends: ask them to (they are idle) when it ends well, kill them
    when it raises or is interrupted (Ctrl-C), so that no worker outlives the pool."""
    try:
        yield workers
    except BaseException:
        stop_workers(workers, kill=True)
        raise
    stop_workers(workers)


# ---------------------------------------------------------------- how many

def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """A fair share of the machine's cores for each of `workers` workers (at least one)."""
    if cpus is None:
        cpus = available_cores()
    return max(1, int(cpus) // max(1, int(workers)))


def default_workers() -> int:
    """Worker processes when the caller does not say: one per core, at most 8 (each worker holds its
    own copy of the libraries and data it works with, so more would cost memory for little speed)."""
    return max(1, min(MAX_DEFAULT_WORKERS, available_cores()))


def thread_env(threads: int) -> dict[str, str]:
    """The environment that caps a worker's native thread pools (OpenMP, OpenBLAS, MKL) at `threads`."""
    return {name: str(threads) for name in THREAD_VARIABLES}
