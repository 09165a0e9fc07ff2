"""A worker process of an augmentation run: `python -m deepaug.augmentation.process_main`, started by
`deepaug.augmentation.processes` (the parent side, on `deepaug.processes`). It reads the job (a pickled plan) on stdin,
does shards from a pool's tasks or a Redis queue, and answers on stdout.
"""
from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import cv2

from deepaug.augmentation.processes import LOG_FORMAT
from deepaug.augmentation.workers import Worker, queue_loop
from deepaug.processes import tasks, worker_pipes


def _portable(exc: BaseException) -> BaseException | None:
    """`exc` if it survives pickling (to be raised again in the parent), else None."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        return None


def _pool(plan: Any, rx: Connection, tx: Connection, current: list[int | None]) -> None:
    with Worker(plan) as worker:
        for shard in tasks(rx):
            current[0] = shard
            did = worker.do_shard(shard) is not None
            current[0] = None
            tx.send(("done", shard, did))


def _exit_when_orphaned(rx: Connection) -> None:
    """Stop this queue worker when the parent's end of stdin closes (the parent died); its lease lapses."""
    try:
        rx.recv()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _queue(plan: Any, rx: Connection, tx: Connection, url: str, lease_seconds: float) -> None:
    threading.Thread(target=_exit_when_orphaned, args=(rx,), name="orphan-watch", daemon=True).start()
    queue_loop(plan, url, lease_seconds, on_done=lambda shard: tx.send(("done", shard, True)))


def serve() -> int:
    """The worker process: read the job from stdin, do it, answer on stdout; the exit status."""
    rx, tx = worker_pipes()  # Ctrl-C ignored (the parent handles it), dies with the parent
    try:
        job = rx.recv_bytes()
    except EOFError:  # the parent went away before sending the job
        return 1
    current: list[int | None] = [None]
    try:
        kind, plan, level, *rest = pickle.loads(job)  # the plan's classes import here
        logging.basicConfig(level=max(level, logging.INFO), format=LOG_FORMAT)
        logging.getLogger("deepaug").setLevel(level)  # the parent's deepaug level; libraries stay at INFO
        cv2.setNumThreads(1)  # one core per worker process: scale with workers
        if kind == "pool":
            _pool(plan, rx, tx, current)
        else:
            _queue(plan, rx, tx, *rest)
    except Exception as exc:
        try:
            tx.send(("error", current[0], _portable(exc), traceback.format_exc()))
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve())
