"""Executors run trial specs: submit, wait for finished records, cancel.

An executor knows nothing of the controller or the experiment folder: it gets specs and
hands back finished `TrialRecord`s, calling `on_update(record)` whenever a trial starts
or one of its trainings finishes (the search stores those records as they come).

`InlineExecutor` runs one trial at a time in this process; `LocalExecutor`
(deepaug.local_pool) runs `workers` trials at once in worker processes;
`KubernetesExecutor` (deepaug.k8s_executor) runs one Kubernetes Job per trial.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Callable, Protocol

from deepaug.errors import InputError
from deepaug.trials import TrialContext, TrialRecord, TrialSpec, run_spec

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.config import KubernetesSettings

log = logging.getLogger(__name__)

OnUpdate = Callable[[TrialRecord], None]


class Executor(Protocol):
    capacity: int  # how many trials it runs at once; the search keeps that many submitted

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None: ...

    def wait(self) -> list[TrialRecord]:
        """Block until at least one submitted trial has finished; return the finished records."""

    def cancel(self) -> None:
        """Stop trials in flight; they stay RUNNING in the records and resume later."""

    def close(self) -> None: ...


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

    def close(self) -> None:
        self.cancel()


def default_workers() -> int:
    """Local workers when the config does not say: one per core, at most 8 (each holds a
    TensorFlow runtime and a copy of the training data)."""
    from deepaug.local_pool import threads_per_worker

    return max(1, min(8, threads_per_worker(1)))


def make_executor(kind: str, context: TrialContext, on_update: OnUpdate | None = None,
                  workers: int | None = None, kubernetes: "KubernetesSettings | None" = None,
                  experiment: str = "deepaug") -> Executor:
    """The executor a config names; `kubernetes` and `experiment` are for kind "kubernetes"."""
    if kind == "inline":
        if workers is not None and workers > 1:
            log.warning("executor 'inline' runs one trial at a time; workers=%d is ignored", workers)
        return InlineExecutor(context, on_update)
    if kind == "local":
        import pickle

        try:
            pickle.dumps(context.config)
        except Exception as exc:  # a keras model object that cannot travel to a worker process
            log.warning("the child model cannot be sent to worker processes (%s); running trials inline", exc)
            return InlineExecutor(context, on_update)
        from deepaug.local_pool import LocalExecutor

        return LocalExecutor(context, on_update, workers or default_workers())
    if kind == "kubernetes":
        from deepaug.k8s_executor import KubernetesExecutor

        return KubernetesExecutor(context, on_update, kubernetes, experiment, workers)
    raise InputError(f"unknown executor {kind!r}; use executor: local, inline or kubernetes")
