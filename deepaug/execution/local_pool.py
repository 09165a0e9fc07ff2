"""The local executor: a pool of worker processes, each training one trial at a time.

Each worker is a fresh (spawned) Python process with its own TensorFlow, limited to a
fair share of the CPU threads, so `workers` trials train side by side. The driver hands
a spec to an idle worker and reads the worker's messages: the RUNNING record after each
training (so the experiment folder stays current) and the finished record. A worker that
dies mid-trial (killed, out of memory) is replaced and its trial is retried from its last
finished training, up to `max_retries` times; then the trial is recorded as failed.
Workers ignore Ctrl-C: the driver cancels them, so an interrupt never half-writes a record.

A worker is `python -m deepaug.execution.trial_process`, started through `deepaug.processes` (as the
augmentation run's are), not multiprocessing: multiprocessing's spawn re-imports the user's main
script in every worker, so a script without an ``if __name__ == "__main__":`` guard would crash
(or search again) there. Each worker talks to the driver over its own stdin/stdout pipes (pickled
messages): a worker killed while sending can only break its own channel. Unlike the augmentation
run's pool, which stops at a dead worker (the shards' markers let the same command resume), this
pool replaces it and retries its trial here: a search runs on, and a trial has no marker of its own.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace
from typing import Any, Iterable, Sequence

from deepaug.errors import InputError
from deepaug.execution.executors import discard_local_checkpoints
from deepaug.execution.gpus import worker_gpu_env
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, now
from deepaug.processes import (
    WorkerProcess,
    keep_line,
    pickled,
    receive_any,
    start_workers,
    stop_workers,
    thread_env,
    threads_per_worker,
    worker_log_level,
)

log = logging.getLogger(__name__)

MODULE = "deepaug.execution.trial_process"  # the worker's side (its own module: see there)


class _TrialWorker(WorkerProcess):
    """One `python -m deepaug.execution.local_pool` process with its share of the threads (and its GPU)."""

    def __init__(self, env: dict[str, str]) -> None:
        level = worker_log_level()  # TensorFlow's C++ lines below it stay off the terminal (native_logs)
        super().__init__(MODULE, {**env, "TF_CPP_MIN_LOG_LEVEL": str(level)}, keep_stderr=keep_line(level))
        self.number: int | None = None  # the trial it runs
        self.dead = False  # its pipe broke: replace it


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
        self._workers: list[_TrialWorker] = []
        self._pending: deque[tuple[TrialSpec, TrialRecord | None]] = deque()
        self._latest: dict[int, TrialRecord] = {}
        self._specs: dict[int, TrialSpec] = {}
        self._retries: dict[int, int] = {}
        self._started = False

    # ------------------------------------------------------------ processes

    def _new_worker(self, index: int) -> _TrialWorker:
        env = {**thread_env(self.threads), "TF_NUM_INTRAOP_THREADS": str(self.threads)}
        return _TrialWorker({**env, **worker_gpu_env(index, self.gpus)})

    def _spawn(self, count: int, first: int = 0) -> list[_TrialWorker]:
        """Workers first..first+count-1, each sent its thread count, then the context (pickled once)."""
        return start_workers(count, lambda i: self._new_worker(first + i),
                             [pickled(self.threads), pickled(self.context)])

    def _start(self) -> None:
        if not self._started:
            log.info("starting %d local worker process(es), %d CPU thread(s) each%s", self.capacity, self.threads,
                     f", on GPU(s) {', '.join(self.gpus)} (memory growth on)" if self.gpus else "")
            self._workers = self._spawn(self.capacity)
            self._started = True

    def worker_pids(self) -> list[int]:
        return [worker.pid for worker in self._workers]

    # ------------------------------------------------------------ executor interface

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None:
        self._specs[spec.number] = spec
        self._retries.pop(spec.number, None)  # max_retries counts per submission (a trial comes back per rung)
        if resume_from is not None:
            self._latest[spec.number] = resume_from
        self._pending.append((spec, resume_from))

    def _dispatch(self) -> None:
        self._start()
        for worker in self._workers:
            if worker.number is None and self._pending:
                spec, resume_from = self._pending.popleft()
                worker.number = spec.number
                if not worker.send((spec.to_dict(), None if resume_from is None else resume_from.to_dict())):
                    worker.dead = True  # it died before taking the task: _check_workers retries it

    def wait(self) -> list[TrialRecord]:
        if not self._pending and all(worker.number is None for worker in self._workers):
            raise InputError("wait() with no submitted trial")
        self._dispatch()
        while True:
            finished = []  # every message read is handled: two trials may end in the same poll
            for worker, message in receive_any(self._workers):
                if message is None:
                    worker.dead = True
                    continue
                kind, data = message
                record = TrialRecord.from_dict(data, "worker message")
                self._latest[record.number] = record
                if self.on_update is not None:
                    self.on_update(record)
                if kind == "done":
                    worker.number = None
                    finished.append(record)
            if finished:
                self._dispatch()
                return finished
            failed = self._check_workers()
            if failed:
                return failed
            self._dispatch()

    def _check_workers(self) -> list[TrialRecord]:
        """Replace dead workers; retry their trial, or fail it after max_retries."""
        failed = []
        for i, worker in enumerate(self._workers):
            if not worker.dead and worker.alive():
                continue
            code = worker.kill()
            worker.close()
            number = worker.number
            self._workers[i] = self._spawn(1, i)[0]
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
        self._stop(kill=True)

    def discard_checkpoints(self, numbers: Iterable[int]) -> tuple[int, int]:
        return discard_local_checkpoints(self.context, numbers)

    def close(self) -> None:
        """Let the idle workers exit (those still running after a few seconds are killed)."""
        self._stop(kill=False)

    def _stop(self, kill: bool) -> None:
        self._pending.clear()
        stop_workers(self._workers, kill=kill)
        self._workers = []
        self._started = False

