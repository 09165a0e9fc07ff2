"""The local executor: a pool of worker processes, each training one trial at a time.

Each worker is a fresh (spawned) Python process with its own TensorFlow, limited to a
fair share of the CPU threads, so `workers` trials train side by side. The driver hands
a spec to an idle worker and reads the worker's messages: the RUNNING record after each
training (so the experiment folder stays current) and the finished record. A worker that
dies mid-trial (killed, out of memory) is replaced and its trial is retried from its last
finished training, up to `max_retries` times; then the trial is recorded as failed.
Workers ignore Ctrl-C: the driver cancels them, so an interrupt never half-writes a record.

A worker is `python -m deepaug.execution.local_pool`, started with subprocess, not multiprocessing:
multiprocessing's spawn re-imports the user's main script in every worker, so a script
without an ``if __name__ == "__main__":`` guard would crash (or search again) there. Each
worker talks to the driver over its own stdin/stdout pipes (pickled messages): a worker
killed while sending can only break its own channel.
"""
from __future__ import annotations

import logging
import os
import subprocess
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_any
from typing import Any, Iterable, Sequence

from deepaug.errors import InputError
from deepaug.execution.executors import discard_local_checkpoints
from deepaug.execution.gpus import worker_gpu_env
from deepaug.execution.processes import spawn, tasks, worker_pipes
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, now, run_spec

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """A fair share of the machine's cores for each worker (at least one)."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(cpus) // max(1, int(workers)))


THREAD_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _serve() -> None:
    """A worker process: read its thread count, set it, then read the context and run specs until
    told to stop (None). The threads are set before the context arrives: unpickling a user's Keras
    model starts TensorFlow, after which its thread counts can no longer change."""
    rx, tx = worker_pipes()
    try:
        threads = rx.recv()
        import cv2
        import tensorflow as tf

        cv2.setNumThreads(1)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        context = rx.recv()
    except EOFError:
        return
    for task in tasks(rx):
        spec, resume_from = TrialSpec.from_dict(task[0]), task[1] and TrialRecord.from_dict(task[1])

        def update(record: TrialRecord) -> None:
            if not record.finished:  # the finished record travels once, as "done"
                tx.send(("update", record.to_dict()))

        record = run_spec(spec, context, update, resume_from)
        tx.send(("done", record.to_dict()))


@dataclass
class _Slot:
    process: subprocess.Popen
    conn: Connection  # messages from the worker
    tasks: Connection  # specs to the worker
    number: int | None = None  # the trial it runs
    dead: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None


class LocalExecutor:
    """`workers` processes, one trial each at a time (see the module docstring)."""

    def __init__(self, context: TrialContext, on_update: Any = None, workers: int = 2, max_retries: int = 2,
                 threads: int | None = None, gpus: Sequence[str] = ()) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers must be a positive integer, got {workers!r}")
        self.context = context
        self.on_update = on_update
        self.capacity = workers
        self.max_retries = max_retries
        self.threads = threads or threads_per_worker(workers)
        self.gpus = list(gpus)  # worker i trains on gpus[i % len(gpus)] (deepaug.execution.gpus); none: CPU
        self._slots: list[_Slot] = []
        self._pending: deque[tuple[TrialSpec, TrialRecord | None]] = deque()
        self._latest: dict[int, TrialRecord] = {}
        self._specs: dict[int, TrialSpec] = {}
        self._retries: dict[int, int] = {}
        self._started = False

    # ------------------------------------------------------------ processes

    def _spawn(self, index: int) -> _Slot:
        env = {var: str(self.threads) for var in THREAD_VARS}
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
        env.update(worker_gpu_env(index, self.gpus))
        process, to_worker, conn = spawn("deepaug.execution.local_pool", env)
        slot = _Slot(process, conn, to_worker)
        try:
            to_worker.send(self.threads)
            to_worker.send(self.context)
        except OSError:
            slot.dead = True
        return slot

    def _start(self) -> None:
        if not self._started:
            log.info("starting %d local worker process(es), %d CPU thread(s) each%s", self.capacity, self.threads,
                     f", on GPU(s) {', '.join(self.gpus)} (memory growth on)" if self.gpus else "")
            self._slots = [self._spawn(i) for i in range(self.capacity)]
            self._started = True

    def worker_pids(self) -> list[int]:
        return [slot.process.pid for slot in self._slots]

    # ------------------------------------------------------------ executor interface

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None:
        self._specs[spec.number] = spec
        self._retries.pop(spec.number, None)  # max_retries counts per submission (a trial comes back per rung)
        if resume_from is not None:
            self._latest[spec.number] = resume_from
        self._pending.append((spec, resume_from))

    def _dispatch(self) -> None:
        self._start()
        for slot in self._slots:
            if slot.number is None and self._pending:
                spec, resume_from = self._pending.popleft()
                slot.number = spec.number
                try:
                    slot.tasks.send((spec.to_dict(), None if resume_from is None else resume_from.to_dict()))
                except OSError:  # it died before taking the task: _check_workers retries it
                    slot.dead = True

    def wait(self) -> list[TrialRecord]:
        if not self._pending and all(slot.number is None for slot in self._slots):
            raise InputError("wait() with no submitted trial")
        self._dispatch()
        while True:
            by_conn = {id(slot.conn): (i, slot) for i, slot in enumerate(self._slots)}
            ready = wait_any([slot.conn for slot in self._slots], timeout=POLL_SECONDS)
            for conn in ready:
                i, slot = by_conn[id(conn)]
                try:
                    kind, data = conn.recv()
                except (EOFError, OSError):
                    slot.dead = True
                    continue
                record = TrialRecord.from_dict(data, "worker message")
                self._latest[record.number] = record
                if self.on_update is not None:
                    self.on_update(record)
                if kind == "done":
                    slot.number = None
                    self._dispatch()
                    return [record]
            failed = self._check_workers()
            if failed:
                return failed
            self._dispatch()

    def _check_workers(self) -> list[TrialRecord]:
        """Replace dead workers; retry their trial, or fail it after max_retries."""
        failed = []
        for i, slot in enumerate(self._slots):
            if not slot.dead and slot.alive():
                continue
            if slot.alive():
                slot.process.kill()
            code = slot.process.wait()
            slot.conn.close()
            slot.tasks.close()
            number = slot.number
            self._slots[i] = self._spawn(i)
            if number is None:
                log.warning("local worker %d exited (code %s) while idle; replaced it", i, code)
                continue
            retries = self._retries.get(number, 0) + 1
            self._retries[number] = retries
            latest = self._latest.get(number)
            if retries <= self.max_retries:
                log.warning("local worker %d died (exit code %s) during trial %d; retrying it (%d/%d)", i, code,
                            number, retries, self.max_retries)
                self._pending.appendleft((self._specs[number], latest))
            else:
                base = latest or TrialRecord.running(self._specs[number], self.context.config.model_name)
                record = replace(base, state=TrialState.FAILED, finished_at=now(),
                                 error=f"worker process died (exit code {code}) {retries} times running this trial")
                if self.on_update is not None:
                    self.on_update(record)
                failed.append(record)
        return failed

    def cancel(self) -> None:
        """Stop every worker now; trials in flight stay RUNNING in the records."""
        self._pending.clear()
        for slot in self._slots:
            if slot.alive():
                slot.process.kill()
        for slot in self._slots:
            slot.process.wait()
            slot.conn.close()
            slot.tasks.close()
        self._slots = []
        self._started = False

    def discard_checkpoints(self, numbers: Iterable[int]) -> tuple[int, int]:
        return discard_local_checkpoints(self.context, numbers)

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.tasks.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for slot in self._slots:
            try:
                slot.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self.cancel()


if __name__ == "__main__":
    _serve()


def default_workers() -> int:
    """Local workers when the config does not say: one per core, at most 8 (each holds a
    TensorFlow runtime and a copy of the training data)."""
    return max(1, min(8, threads_per_worker(1)))
