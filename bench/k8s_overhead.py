"""What the Kubernetes executor's controller costs per trial, against the API emulator.

The cluster is the test harness of tests/_k8s.py: kmock's Kubernetes API emulator over
real HTTP (official kubernetes client, kubeconfig), and a Job controller that runs pods.
Two parts:

(a) controller (``--trials``, ``--poll``): trials whose pods take ``--pod-seconds`` and
    write a COMPLETE record without training, ``--workers`` Jobs at a time, so that what
    is measured is the controller alone: per trial, the CPU time of the controller's
    thread (rendering the Job, writing spec and record, API calls, reading records), its
    API calls, the wall time of `submit` (context upload excluded: once per search, timed
    apart) and the detection latency from the pod writing its finished record to `wait`
    returning it (up to one poll interval; half of one on average for trials much longer than
    the interval), as a share of one default trial.
(b) real pod (``--real-pods``): trials run by real pods (`deepaug trial run` processes,
    1 epoch on 120 16x16 images, 1 training), each against the same trial run in this
    process with TensorFlow already loaded: the difference is what a pod adds (process
    start, imports, TensorFlow's first tracing, reading the context, writing records).

Run:  PYTHONPATH=. python bench/k8s_overhead.py [--trials 40] [--workers 4] [--poll 0.1,2,5]
                                                [--pod-seconds 0.5] [--real-pods 2] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _k8s import Cluster, complete_without_training  # noqa: E402  (the emulated cluster)
from _search import toy_data  # noqa: E402

from deepaug.datasets import from_arrays, split_train_val  # noqa: E402
from deepaug.kubernetes.executor import KubernetesExecutor  # noqa: E402
from deepaug.execution.trials import TrialContext, TrialSpec, TrialState  # noqa: E402

from bench import emit

log = logging.getLogger("bench.k8s_overhead")
DEFAULT_TRIAL_SECONDS = 156.0  # one default trial (50 epochs x 3 trainings), docs/benchmarks.md


def _context(tmp: Path, epochs: int = 1, samples: int = 1) -> TrialContext:
    from deepaug.training.train import TrainingConfig

    x, y = toy_data()
    train, val = split_train_val(from_arrays(x, y), 120, 60, seed=0)
    return TrialContext(train, val, TrainingConfig(child_epochs=epochs, child_batch_size=32, opt_samples=samples,
                                                   opt_last_n_epochs=1, child_models_dir=str(tmp / "child_models")))


def controller_part(args: argparse.Namespace, poll: float) -> dict[str, Any]:
    written: dict[int, float] = {}

    def pod(job: dict, index: int) -> int:
        time.sleep(args.pod_seconds)
        code = complete_without_training(job, index)
        written[int(job["metadata"]["labels"]["deepaug/trial"])] = time.monotonic()
        return code

    with tempfile.TemporaryDirectory(prefix="deepaug-bench-k8s-") as tmp:
        cluster = Cluster(Path(tmp), pod=pod)
        try:
            executor = KubernetesExecutor(_context(Path(tmp)), None, cluster.settings(poll_seconds=poll),
                                          f"bench-{int(poll * 1000)}", workers=args.workers)
            start = time.perf_counter()
            executor.submit(TrialSpec(0, None, 0, "baseline"))  # uploads the context
            upload = time.perf_counter() - start
            submits, latencies, cpu0 = [], [], time.thread_time()
            submitted, done = 1, 0
            while done < args.trials:
                while submitted < args.trials and submitted - done < args.workers:
                    t = time.perf_counter()
                    executor.submit(TrialSpec(submitted, None, submitted, "baseline"))
                    submits.append(time.perf_counter() - t)
                    submitted += 1
                for record in executor.wait():
                    latencies.append(time.monotonic() - written[record.number])
                    assert record.state is TrialState.COMPLETE, record.error
                    done += 1
            cpu, wall, calls = time.thread_time() - cpu0, time.perf_counter() - start, executor.jobs.calls
            executor.close()
            left = cluster.jobs()
        finally:
            cluster.stop()
    return {"poll": poll, "upload": upload, "submit": statistics.median(submits), "cpu": cpu / args.trials,
            "calls": calls / args.trials, "latency": statistics.mean(latencies), "wall": wall, "left": left}


def real_pod_part(args: argparse.Namespace) -> list[dict[str, float]]:
    """Each trial run by a real pod, and the same trial in this process with TensorFlow already loaded."""
    from deepaug.execution.executors import InlineExecutor

    rows = []
    with tempfile.TemporaryDirectory(prefix="deepaug-bench-k8s-") as tmp:
        context = _context(Path(tmp))
        inline = InlineExecutor(context)
        inline.submit(TrialSpec(99, None, 99, "baseline"))
        inline.wait()  # loads TensorFlow and traces once, as a warm worker process would have
        cluster = Cluster(Path(tmp))
        try:
            executor = KubernetesExecutor(context, None, cluster.settings(poll_seconds=0.05), "bench-real", workers=1)
            for number in range(args.real_pods):
                start = time.perf_counter()
                inline.submit(TrialSpec(number, None, number, "baseline"))
                inline.wait()
                in_process = time.perf_counter() - start
                start = time.perf_counter()
                executor.submit(TrialSpec(number, None, number, "baseline"))
                record = executor.wait()[0]
                assert record.state is TrialState.COMPLETE, record.error
                rows.append({"pod": time.perf_counter() - start, "inline": in_process, "inside": record.seconds})
            executor.close()
        finally:
            cluster.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4, help="Jobs at a time (default 4)")
    parser.add_argument("--poll", default="0.1,2,5", help="poll intervals in seconds (default 0.1,2,5)")
    parser.add_argument("--pod-seconds", type=float, default=0.5, help="how long a fake pod runs (default 0.5)")
    parser.add_argument("--real-pods", type=int, default=2, help="trials run by real pods (0: skip)")
    parser.add_argument("--trial-seconds", type=float, default=DEFAULT_TRIAL_SECONDS)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import kubernetes

    out = [f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, kubernetes client "
           f"{kubernetes.__version__}, API: kmock emulator on loopback, storage: local folder; {args.trials} trials, "
           f"{args.workers} Jobs at a time, fake pods of {args.pod_seconds} s.", "",
           "| poll interval (s) | controller CPU per trial (ms) | API calls per trial | submit median (ms) | "
           "record-to-result latency mean (s) | latency as a share of one default trial | context upload (ms) | "
           "Jobs left after close |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for poll in (float(p) for p in args.poll.split(",")):
        r = controller_part(args, poll)
        out.append(f"| {poll:g} | {r['cpu'] * 1000:.1f} | {r['calls']:.1f} | {r['submit'] * 1000:.1f} | "
                   f"{r['latency']:.2f} | {100 * r['latency'] / args.trial_seconds:.2f}% | {r['upload'] * 1000:.0f} | "
                   f"{len(r['left'])} |")
    if args.real_pods:
        rows = real_pod_part(args)
        out += ["", "| trial | submit to result, real pod (s) | run_spec inside the pod (s) | same trial in a warm "
                "process (s) | what the pod adds (s) |", "| --- | ---: | ---: | ---: | ---: |"]
        out += [f"| {i} | {r['pod']:.1f} | {r['inside']:.1f} | {r['inline']:.1f} | {r['pod'] - r['inline']:.1f} |"
                for i, r in enumerate(rows)]
    text = "\n".join(out) + "\n"
    emit(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
