"""Speed of a child training in bfloat16 mixed precision against float32 on this CPU.

A lead for issue 12's wall-time target: this machine's AMD EPYC has AVX512_BF16, which
oneDNN uses for convolutions and matmuls under Keras' ``mixed_bfloat16`` policy. Measured:
basiccnn on ``--n`` Fashion-MNIST-sized images (28x28x1, random pixels: speed does not
depend on them), batch 64, Adam, one thread (as a search worker trains), one warm-up
epoch then ``--epochs`` timed epochs, and one predict pass over ``--val`` images (a
validated epoch's extra cost). Each measurement is a fresh process; the two precisions
alternate ``--repeats`` times, and the ratio is of the medians (float32 / bfloat16: above
1 is faster in bfloat16). Speed only: what bfloat16 does to accuracy is not measured here.

Run:  PYTHONPATH=. python bench/bf16.py [--n 4000] [--val 10000] [--epochs 3] [--repeats 3]
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


def measure(precision: str, n: int, val: int, epochs: int) -> dict[str, float]:
    """One process's timings (run as `bf16.py child PRECISION N VAL EPOCHS`)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    from deepaug.training.models import build_child_model

    model = build_child_model("basiccnn", (28, 28, 1), 10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # warm-up: tracing, caches
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    epoch = (time.perf_counter() - start) / epochs
    xv = rng.random((val, 28, 28, 1), dtype=np.float32)
    start = time.perf_counter()
    model.predict(xv, batch_size=256, verbose=0)
    return {"epoch_s": epoch, "predict_s": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--val", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {"float32": [], "bfloat16": []}
    for _ in range(args.repeats):
        for precision in runs:
            done = subprocess.run([sys.executable, __file__, CHILD, precision, str(args.n), str(args.val),
                                   str(args.epochs)], capture_output=True, text=True, check=True)
            runs[precision].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(precision, runs[precision][-1], file=sys.stderr)
    median = {p: {k: statistics.median(r[k] for r in rs) for k in ("epoch_s", "predict_s")} for p, rs in runs.items()}
    print("| precision | training epoch (s) | predict of the validation images (s) |")
    print("| --- | ---: | ---: |")
    for precision, m in median.items():
        print(f"| {precision} | {m['epoch_s']:.2f} | {m['predict_s']:.2f} |")
    print(f"\nfloat32 / bfloat16: training {median['float32']['epoch_s'] / median['bfloat16']['epoch_s']:.2f}x, "
          f"predict {median['float32']['predict_s'] / median['bfloat16']['predict_s']:.2f}x "
          f"({args.repeats} runs each, medians; n={args.n}, val={args.val}, {args.epochs} timed epochs)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
