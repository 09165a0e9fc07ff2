"""Trials per hour with the local worker pool: 1 worker versus 2 on this machine.

Each measurement starts a fresh `LocalExecutor` (spawned workers, each with its own
TensorFlow and cores // workers CPU threads), warms every worker with one trial
(process start, TF import, graph tracing), then times ``--trials`` trials kept
``workers`` in flight, as the search does. Trials are real: basiccnn on ``--n``
Fashion-MNIST images (validation ``--val`` images), ``--epochs`` epochs, one training
each, the built-in reference policy. The inline executor (no worker process) is the
reference for the pool's own overhead. Reports trials/hour, with and without the
warm-up, and the ratio 2 workers / 1 worker (target >= 1.6 on 2 cores). Two more rows
separate the pool's scaling from TensorFlow's own: one worker held to one CPU thread
(what 2 workers of one thread each are twice of, if the pool scales), and 2 workers of
two threads each (oversubscribed: does it beat the fair share?).

Run:  PYTHONPATH=. python bench/parallel.py [--trials 8] [--n 1000] [--epochs 4] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import emit

log = logging.getLogger("bench.parallel")


def context(args: argparse.Namespace, tmp: str):
    from deepaug import datasets
    from deepaug.datasets import split_train_val
    from deepaug.training.train import TrainingConfig
    from deepaug.execution.trials import TrialContext

    data = datasets.load(args.dataset)
    train, val = split_train_val(data, args.n, args.val, seed=0)
    config = TrainingConfig(child_epochs=args.epochs, opt_samples=1, opt_last_n_epochs=1,
                            child_models_dir=os.path.join(tmp, "child_models"))
    return TrialContext(train, val, config)


def run(executor, first: int, count: int) -> float:
    """Seconds to run trials first..first+count-1 with `capacity` in flight."""
    from deepaug.policy import builtin
    from deepaug.execution.trials import TrialSpec

    policy = builtin.get("reference")
    start = time.perf_counter()
    submitted, done = first, 0
    while done < count:
        while submitted < first + count and submitted - first - done < executor.capacity:
            executor.submit(TrialSpec(submitted, policy, submitted))
            submitted += 1
        for record in executor.wait():
            if record.error:
                raise RuntimeError(f"trial {record.number} failed: {record.error}")
            done += 1
    return time.perf_counter() - start


def measure(kind: str, workers: int, threads: int | None, args: argparse.Namespace, tmp: str) -> dict[str, float]:
    from deepaug.execution.executors import InlineExecutor
    from deepaug.execution.local_pool import LocalExecutor

    ctx = context(args, tmp)
    executor = InlineExecutor(ctx) if kind == "inline" else LocalExecutor(ctx, workers=workers, threads=threads)
    try:
        warm = run(executor, 0, executor.capacity)
        timed = run(executor, 100, args.trials)
    finally:
        executor.close()
    log.info("%s x%d (%s threads): warm-up %.1f s, %d trials in %.1f s", kind, workers, threads or "fair share",
             warm, args.trials, timed)
    return {"threads": getattr(executor, "threads", os.cpu_count()), "warm": warm, "timed": timed, "per_hour": 3600 * args.trials / timed,
            "per_hour_cold": 3600 * (args.trials + executor.capacity) / (timed + warm)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--trials", type=int, default=8, help="timed trials per measurement (default 8)")
    parser.add_argument("--n", type=int, default=1000, help="training images per trial (default 1000)")
    parser.add_argument("--val", type=int, default=500, help="validation images (default 500)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per training (default 4)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        results = {(kind, w, t): measure(kind, w, t, args, tmp)
                   for kind, w, t in (("inline", 1, None), ("local", 1, None), ("local", 2, None),
                                      ("local", 1, 1), ("local", 2, 2))}
    one = results[("local", 1, None)]["per_hour"]
    single = results[("local", 1, 1)]["per_hour"]
    lines = [f"{os.cpu_count()} CPU cores; load average before the run: {os.getloadavg()[0]:.2f}; "
             f"{args.trials} timed trials of basiccnn, {args.n} {args.dataset} images, {args.epochs} epochs, "
             "reference policy.", "",
             "| executor | workers | threads each | warm-up (s) | timed trials (s) | trials/hour |"
             " trials/hour incl. warm-up | vs 1 local worker | vs 1 single-thread worker |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (kind, w, _), r in results.items():
        lines.append(f"| {kind} | {w} | {r['threads']} | {r['warm']:.1f} | {r['timed']:.1f} | {r['per_hour']:.0f} | "
                     f"{r['per_hour_cold']:.0f} | {r['per_hour'] / one:.2f}x | {r['per_hour'] / single:.2f}x |")
    text = "\n".join(lines) + "\n"
    emit(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
