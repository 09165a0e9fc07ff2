"""Which executor runs a search's trials: the config's `executor` (inline, local or kubernetes)."""
from __future__ import annotations

import logging
import pickle
from typing import TYPE_CHECKING

from deepaug.errors import InputError
from deepaug.execution.executors import Executor, InlineExecutor, OnUpdate
from deepaug.execution.gpus import gpu_workers, visible_gpus
from deepaug.execution.local_pool import LocalExecutor
from deepaug.execution.trials import TrialContext
from deepaug.kubernetes.executor import KubernetesExecutor
from deepaug.processes import default_workers

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)


def make_executor(kind: str, context: TrialContext, on_update: OnUpdate | None = None,
                  workers: int | None = None, kubernetes: "KubernetesSettings | None" = None,
                  experiment: str = "deepaug", trials_per_gpu: int = 1) -> Executor:
    """The executor a config names; `kubernetes` and `experiment` are for kind "kubernetes".

    On a GPU host the local executor places each worker on one GPU (round robin, memory
    growth on) and, when `workers` is not set, runs `trials_per_gpu` workers per GPU."""
    if kind == "inline":
        if workers is not None and workers > 1:
            log.warning("executor 'inline' runs one trial at a time; workers=%d is ignored", workers)
        return InlineExecutor(context, on_update)
    if kind == "local":
        try:
            pickle.dumps(context.config)
        except Exception as exc:  # a keras model object that cannot travel to a worker process
            log.warning("the child model cannot be sent to worker processes (%s); running trials inline", exc)
            return InlineExecutor(context, on_update)
        gpus = visible_gpus()
        if not gpus:
            return LocalExecutor(context, on_update, workers or default_workers())
        count = workers or gpu_workers(gpus, trials_per_gpu)
        return LocalExecutor(context, on_update, count, gpus=gpus)
    if kind == "kubernetes":

        return KubernetesExecutor(context, on_update, kubernetes, experiment, workers)
    raise InputError(f"unknown executor {kind!r}; use executor: local, inline or kubernetes")
