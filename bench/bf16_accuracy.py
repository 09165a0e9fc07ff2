"""Test accuracy and wall time of deepaug's own training in bfloat16 against float32.

The accuracy half of bench/bf16.py's lead (issue 12's wall-time target): the evaluation
protocol of issue 12's benchmark through deepaug's training (`TrainingConfig.precision`),
augmentation pipeline included. Reduced Fashion-MNIST, 4,000 stratified training images
(`deepaug evaluate --train-size 4000 --seed 0`'s), the 10,000-image test set, basiccnn,
``--epochs`` epochs with ``--baseline`` (TrivialAugment by default), seeds 0..``--seeds``-1.
Each training is a fresh process with one TensorFlow thread (as a search worker trains);
two run at a time on the 2 cores, float32 and bfloat16 of one seed side by side, so that
both see the same machine. Reports each seed's last-epoch test accuracy, the paired
difference (bfloat16 - float32) with its 95% t interval, and the median wall time of a
training in each precision (the ratio is float32 / bfloat16: above 1 is faster in bfloat16).

Run:  PYTHONPATH=. python bench/bf16_accuracy.py [--seeds 3] [--epochs 60] [--baseline trivialaugment]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = "child"
PRECISIONS = ("float32", "bfloat16")


def measure(precision: str, seed: int, epochs: int, baseline: str) -> dict[str, float]:
    """One training (run as `bf16_accuracy.py child PRECISION SEED EPOCHS BASELINE`)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from deepaug.evaluation import load_split, split_pool
    from deepaug.policy.baselines import make as make_baselines
    from deepaug.training.train import TrainingConfig, train_and_score

    pool, test, _ = load_split("fashion_mnist")
    train, _ = split_pool(pool, 4000, 0)
    (_, augmenter), = make_baselines([baseline])
    config = TrainingConfig(child_epochs=epochs, precision=precision)
    start = time.perf_counter()
    scores, history = train_and_score(train, test, augmenter, config, seed)
    return {"test_accuracy": scores["accuracy"], "seconds": time.perf_counter() - start,
            "epoch_s": statistics.median(history["epoch_seconds"])}


def main(argv: list[str] | None = None) -> int:
    from deepaug.stats import t_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--baseline", default="trivialaugment")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in PRECISIONS}
    for seed in range(args.seeds):
        jobs = {p: subprocess.Popen([sys.executable, __file__, CHILD, p, str(seed), str(args.epochs), args.baseline],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for p in PRECISIONS}
        for precision, job in jobs.items():
            out, _ = job.communicate()
            if job.returncode:
                raise SystemExit(f"{precision} seed {seed} failed with exit {job.returncode}")
            runs[precision].append(json.loads(out.strip().splitlines()[-1]))
            print(f"seed {seed} {precision}: {runs[precision][-1]}", file=sys.stderr, flush=True)
    print("| seed | float32 test accuracy (%) | bfloat16 test accuracy (%) |")
    print("| ---: | ---: | ---: |")
    for seed in range(args.seeds):
        print(f"| {seed} | {100 * runs['float32'][seed]['test_accuracy']:.2f} | "
              f"{100 * runs['bfloat16'][seed]['test_accuracy']:.2f} |")
    diffs = [100 * (b["test_accuracy"] - f["test_accuracy"]) for f, b in zip(runs["float32"], runs["bfloat16"])]
    low, high = t_interval(diffs) if len(diffs) > 1 else (float("nan"), float("nan"))
    seconds = {p: statistics.median(r["seconds"] for r in rs) for p, rs in runs.items()}
    epoch = {p: statistics.median(r["epoch_s"] for r in rs) for p, rs in runs.items()}
    print(f"\nbfloat16 - float32: {statistics.mean(diffs):+.2f} points (95% {low:+.2f} .. {high:+.2f}, "
          f"{args.seeds} paired seeds)")
    print(f"median training: float32 {seconds['float32']:.0f} s ({epoch['float32']:.2f} s/epoch), bfloat16 "
          f"{seconds['bfloat16']:.0f} s ({epoch['bfloat16']:.2f} s/epoch): float32 / bfloat16 "
          f"{seconds['float32'] / seconds['bfloat16']:.2f}x ({args.baseline}, {args.epochs} epochs, 2 at a time)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))
        sys.exit(0)
    sys.exit(main())
