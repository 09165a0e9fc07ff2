"""Executors run trial specs: submit, wait for finished records, cancel.

An executor knows nothing of the controller or the experiment folder: it gets specs and
hands back finished `TrialRecord`s, calling `on_update(record)` whenever a trial starts
or one of its trainings finishes (the search stores those records as they come).

`InlineExecutor` runs one trial at a time in this process; `LocalExecutor`
(deepaug.execution.local_pool) runs `workers` trials at once in worker processes;
`KubernetesExecutor` (deepaug.kubernetes.executor) runs one Kubernetes Job per trial.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Callable, Iterable, Protocol

from deepaug.errors import InputError
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, run_spec
from deepaug.training.rungs import remove_checkpoints

log = logging.getLogger(__name__)

OnUpdate = Callable[[TrialRecord], None]


class Executor(Protocol):
    capacity: int  # how many trials it runs at once; the search keeps that many submitted

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None: ...

    def wait(self) -> list[TrialRecord]:
        """Block until at least one submitted trial has finished; return the finished records."""

    def cancel(self) -> None:
        """Stop trials in flight; they stay RUNNING in the records and resume later."""

    def discard_checkpoints(self, numbers: Iterable[int]) -> tuple[int, int]:
        """Delete the rung checkpoints of trials `numbers`, none of them in flight (they will
        not be continued); (files, bytes) removed."""

    def close(self) -> None: ...


def discard_local_checkpoints(context: TrialContext, numbers: Iterable[int]) -> tuple[int, int]:
    """`Executor.discard_checkpoints` for executors whose trainings keep their checkpoints in
    `context.checkpoint_dir` (this machine's)."""
    if context.checkpoint_dir is None:
        return 0, 0
    removed = [remove_checkpoints(context.checkpoint_dir, n) for n in numbers]
    return sum(f for f, _ in removed), sum(b for _, b in removed)


class InlineExecutor:
    """Runs each trial in this process when `wait` is called, in submission order."""

    capacity = 1

    def __init__(self, context: TrialContext, on_update: OnUpdate | None = None) -> None:
        self.context = context
        self.on_update = on_update
        self._queue: deque[tuple[TrialSpec, TrialRecord | None]] = deque()

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None:
        self._queue.append((spec, resume_from))

    def wait(self) -> list[TrialRecord]:
        if not self._queue:
            raise InputError("wait() with no submitted trial")
        spec, resume_from = self._queue.popleft()
        return [run_spec(spec, self.context, self.on_update, resume_from)]

    def cancel(self) -> None:
        self._queue.clear()

    def discard_checkpoints(self, numbers: Iterable[int]) -> tuple[int, int]:
        return discard_local_checkpoints(self.context, numbers)

    def close(self) -> None:
        self.cancel()
