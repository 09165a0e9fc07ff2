"""Many short child trainings in one process: a freshly built model each time versus the
process's compiled model lent again (deepaug.training.models.child_model).

Each mode runs in its own subprocess: ``--trainings`` trainings of ``--epochs`` epochs on
``--n`` training images (synthetic CIFAR-like data from bench/training.py, ``--size``
pixels a side), each scored on 200 test images, seeds 0, 1, 2, ... The *fresh* mode
trains with ``training.train_model`` (a model built and compiled for the caller, as before
the reuse, though with today's spaced garbage collections) and scores it with
``model.evaluate``; the *lent* mode uses
``training.train_and_score`` (the compiled model of the last training, given the fresh
model's variables and a new Adam state); the *lent-gc-every* mode is *lent* with a full
garbage collection before every training (``session.GC_SHARE`` infinite), as keras'
``clear_session()`` did before deepaug spaced them (`session.collect_garbage`). Reported
per mode: the median seconds per training after the first (the first traces in every mode),
the first training's seconds,
and the resident memory (VmRSS) after the second and after the last training, whose
difference is what each further training keeps. The ratio fresh / lent of the median
is the speed-up of the reuse, lent-gc-every / lent that of the spacing; every mode must give
the same test accuracies (checked: same seeds).

Run:  PYTHONPATH=. python bench/child_reuse.py [--trainings 20] [--epochs 1] [--n 256]
                                               [--size 32] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import emit

log = logging.getLogger("bench.child_reuse")
MODES = ("fresh", "lent-gc-every", "lent")
REPO = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    """One mode's trainings in this process; prints one JSON line."""
    from bench.training import make_data
    from deepaug.datasets import from_arrays, split_train_val
    from deepaug.training import session
    from deepaug.training import train as training

    images, labels = make_data(args.n + 200, args.size)
    train, test = split_train_val(from_arrays(images, labels), args.n, 200, seed=0)
    config = training.TrainingConfig(child_epochs=args.epochs, child_batch_size=64)
    if args.mode == "lent-gc-every":
        session.GC_SHARE = math.inf  # a collection is never too recent
    seconds, rss, accuracy = [], [], []
    for seed in range(args.trainings):
        start = time.perf_counter()
        if args.mode == "fresh":
            model, _ = training.train_model(train, None, config, seed)
            score = model.evaluate(training.eval_dataset(test.images, test.labels, 64), verbose=0, return_dict=True)
            del model
        else:
            score, _ = training.train_and_score(train, test, None, config, seed)
        seconds.append(time.perf_counter() - start)
        rss.append(rss_mib())
        accuracy.append(float(score["accuracy"]))
    print(json.dumps({"seconds": seconds, "rss": rss, "accuracy": accuracy}))


def run_mode(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--trainings", str(args.trainings), "--epochs",
               str(args.epochs), "--n", str(args.n), "--size", str(args.size)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trainings", type=int, default=20, help="trainings per mode (default 20)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per training (default 1)")
    parser.add_argument("--n", type=int, default=256, help="training images (default 256)")
    parser.add_argument("--size", type=int, default=32, help="image side (default 32)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trainings < 3:
        parser.error("--trainings must be at least 3")
    if args.child:
        args.mode = args.child
        child(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = {}
    for mode in MODES:
        log.info("%s: %d trainings of %d epoch(s) in one process ...", mode, args.trainings, args.epochs)
        results[mode] = run_mode(args, mode)
    same = all(math.isclose(a, b, abs_tol=1e-6)  # model.evaluate's accuracy is a float32
               for r in results.values() for a, b in zip(r["accuracy"], results["lent"]["accuracy"], strict=True))
    rows, median = [], {}
    for mode, r in results.items():
        median[mode] = statistics.median(r["seconds"][1:])
        kept = (r["rss"][-1] - r["rss"][1]) / (args.trainings - 2)
        rows.append(f"| {mode} | {r['seconds'][0]:.2f} | {median[mode]:.2f} | {r['rss'][1]:.0f} | "
                    f"{r['rss'][-1]:.0f} | {kept:+.1f} |")
    text = "\n".join([
        f"{args.trainings} trainings of {args.epochs} epoch(s) on {args.n} images of {args.size}x{args.size}x3 "
        f"(basiccnn, batch 64, scored on 200 images), one process per mode; {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        "| mode | first training (s) | median later training (s) | RSS after 2nd (MiB) | RSS after last (MiB) "
        "| MiB kept per training |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Speed-up fresh / lent (median later training): **{median['fresh'] / median['lent']:.2f}x**; "
        f"lent-gc-every / lent: **{median['lent-gc-every'] / median['lent']:.2f}x**; "
        f"same test accuracies in every mode: {'yes' if same else 'NO'}.",
    ])
    emit(text, args.markdown)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
