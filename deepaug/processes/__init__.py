"""Worker processes: `python -m <module>` with a pipe each way (`spawning`), what the local pools
share (`pool`: starting, watching and stopping workers, how many to run) and which of a trial
worker's TensorFlow C++ log lines reach the terminal (`native_logs`). The augmentation
run's pool (`deepaug.augmentation.workers`) and the trial pool (`deepaug.execution.local_pool`)
stand on it; it needs only the standard library.
"""
from deepaug.processes.native_logs import keep_line, worker_log_level
from deepaug.processes.pool import (
    POLL_SECONDS,
    WorkerProcess,
    available_cores,
    default_workers,
    exit_reason,
    pickled,
    receive_any,
    start_workers,
    stop_workers,
    stopping,
    thread_env,
    threads_per_worker,
)
from deepaug.processes.spawning import PARENT_VARIABLE, die_with_parent, spawn, tasks, worker_command, worker_pipes

__all__ = [
    "PARENT_VARIABLE", "POLL_SECONDS", "WorkerProcess", "available_cores", "default_workers", "die_with_parent",
    "exit_reason", "keep_line", "pickled", "receive_any", "spawn", "start_workers", "stop_workers", "stopping",
    "tasks", "thread_env", "threads_per_worker", "worker_command", "worker_log_level", "worker_pipes",
]
