"""A worker process of the trial pool (`deepaug.execution.local_pool`): `python -m
deepaug.execution.trial_process`. Its own module, which the package does not import: run as
__main__, local_pool (which `deepaug.execution` imports) would load twice and runpy would warn
so in every worker, in the middle of the progress bar.
"""
from __future__ import annotations

from deepaug.execution.trials import TrialRecord, TrialSpec, run_spec
from deepaug.processes import tasks, worker_pipes


def serve() -> None:
    """A worker process: read its thread count, set it, then read the context and run specs until
    told to stop (None). The threads are set before the context arrives: unpickling a user's Keras
    model starts TensorFlow, after which its thread counts can no longer change."""
    rx, tx = worker_pipes()
    try:
        threads = rx.recv()
        import cv2  # deferred with TensorFlow (heavy): only a worker process trains
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


if __name__ == "__main__":
    serve()
