"""A screen under augmentation-wise weight sharing against protocol 1's full trainings: issue 37's
protocol 3, as pre-registered in docs/benchmarks.md.

Per screen seed, one shared training of `child_epochs - tune` epochs under the shared policy
(protocol 1's `all_ops`, or TrivialAugment for secondary B), then each of the 16 policies
continued from the shared checkpoint for the last `tune` epochs (`deepaug.training.rungs.tune_from`)
and scored as the search scores a screen (last 3 epochs, screen's half). The full trainings are
protocol 1's JSON files in OUT/<dataset>/ (bench/screen_fidelity.py), not trained again.

Each result is written atomically to OUT/<dataset>/shared-<variant>/; a rerun skips finished ones.

    PYTHONPATH=. python bench/shared_screen.py OUT --dataset digits --variant primary --workers 1
    PYTHONPATH=. python bench/shared_screen.py OUT --dataset digits --report
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bench import screen_fidelity as fidelity  # protocol 1's setup, policies and analysis
from deepaug.processes import thread_env
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.rungs import crn_seeds, late_correct, train_shared, tune_from

log = logging.getLogger("shared_screen")


@dataclass(frozen=True)
class Variant:
    """Protocol 3's screens: `tune` epochs per candidate, on `seeds` (indices into crn_seeds(run_seed, 7)),
    after a shared stage under the policy keyed `shared` in protocol 1's table."""

    tune_fraction: float
    seeds: tuple[int, ...]
    shared: str


VARIANTS = {"primary": Variant(1 / 5, (0,), "all_ops"),
            "a": Variant(1 / 10, (0, 6), "all_ops"),
            "b": Variant(1 / 5, (0,), "ta")}


def _chain(out: str, dataset: str, variant: str, seed: int, smoke: bool) -> list[dict[str, Any]]:
    """One seed of one variant in a worker: the shared stage (or its saved result), then every
    unfinished candidate; returns the candidates' results."""
    import tensorflow as tf  # heavy: the worker processes only

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    folder = Path(out) / (dataset + ("-smoke" if smoke else "")) / f"shared-{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    setup = fidelity.load_setup(dataset, folder / "checkpoints", smoke=smoke)
    ctx, v = setup.context, VARIANTS[variant]
    full = setup.scores.schedule[-1]
    tune = max(1, round(full * v.tune_fraction))
    table = {k: (label, p) for k, label, p in fidelity.policies(setup.channels)}
    shared_ckpt = folder / f"shared__{seed}.npz"  # its history beside it: shared__<seed>.json
    log.info("%s %s seed %d: shared stage, %d epochs under %s", dataset, variant, seed, full - tune, v.shared)
    shared = train_shared(ctx.train, ctx.val, table[v.shared][1], ctx.config, seed, full - tune, shared_ckpt)
    n = setup.scores.val_size
    halves = setup.scores.holdout or (np.arange(n), np.arange(n))
    docs = []
    for key, (label, policy) in table.items():
        path = folder / f"{key}__{seed}.json"
        if path.exists():
            docs.append(json.loads(path.read_text()))
            continue
        history = tune_from(ctx.train, ctx.val, policy, ctx.config, seed, full, shared_ckpt)
        correct = late_correct(history, full, setup.scores.last_n, n)
        doc = {"key": key, "label": label, "seed": seed, "tune_epochs": tune, "shared_epochs": full - tune,
               "screen_half": float(correct[halves[0]].mean()), "all": float(correct.mean()),
               "seconds": history["seconds"] - shared["seconds"], "shared_seconds": shared["seconds"]}
        atomic_write_text(path, json.dumps(doc) + "\n")
        log.info("%s %s seed %d: %s tuned %d epochs: %.4f (%.0f s)", dataset, variant, seed, key, tune,
                 doc["screen_half"], doc["seconds"])
        docs.append(doc)
    return docs


def run(out: Path, dataset: str, variant: str, workers: int, smoke: bool) -> None:
    seeds = crn_seeds(0, 7)
    os.environ.update({**thread_env(1), "TF_NUM_INTRAOP_THREADS": "1"})  # inherited by the workers
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_chain, str(out), dataset, variant, seeds[i], smoke) for i in VARIANTS[variant].seeds]
        for future in futures:
            future.result()


def report(out: Path, dataset: str, variant: str) -> str:
    folder = out / dataset
    setup = fidelity.load_setup(dataset, folder / "checkpoints")
    docs = [json.loads(p.read_text()) for p in sorted(folder.glob("*__e*.json"))]
    rows = fidelity.collect(docs, setup.scores.schedule[-1])
    shared = [json.loads(p.read_text()) for p in sorted((folder / f"shared-{variant}").glob("*__*.json"))
              if not p.name.startswith("shared__")]
    by_key: dict[str, list[dict[str, Any]]] = {}
    for d in shared:
        by_key.setdefault(d["key"], []).append(d)
    count = len(VARIANTS[variant].seeds)
    rows = {k: r for k, r in rows.items() if len(by_key.get(k, ())) == count}
    if len(rows) < 3:
        return f"{dataset} {variant}: {len(rows)} policies screened so far: too few"
    for k, r in rows.items():
        r["screen"] = float(np.mean([d["screen_half"] for d in by_key[k]]))
        r["screen_seconds"] = float(sum(d["seconds"] + d["shared_seconds"] / len(rows) for d in by_key[k]))
    a = fidelity.analyse(rows)
    d0 = by_key[next(iter(rows))][0]
    cost = count * (d0["tune_epochs"] + d0["shared_epochs"] / len(rows)) / setup.scores.schedule[-1]
    lines = [f"{dataset}, protocol 3 {variant}: {len(rows)} policies; shared {d0['shared_epochs']} epochs, tuned "
             f"{d0['tune_epochs']}, {count} screen seed(s)", "",
             "| policy | screen reward % | full mean % | screen rank | full rank |", "| --- | ---: | ---: | ---: | ---: |"]
    for k in sorted(rows, key=lambda k: a["ranks"][k][1]):
        sr, fr, fm = a["ranks"][k]
        lines.append(f"| {rows[k]['label']} | {100 * rows[k]['screen']:.2f} | {100 * fm:.2f} | {sr} | {fr} |")
    lo, hi = a["interval"]
    lines += ["", f"- Spearman's rho against the full trainings' mean: **{a['rho']:+.2f}** ({lo:+.2f} .. {hi:+.2f})",
              "- against each full seed alone: " + ", ".join(f"{s}: {v:+.2f}" for s, v in a["per_seed"].items()),
              f"- with the full reward on all validation images: {a['all_images']:+.2f}",
              f"- ceiling, one full seed against another: {a.get('ceiling', float('nan')):+.2f}",
              "- the full trainings' best 3 on the screen: " + ", ".join(
                  f"{rows[k]['label']} #{r}" for k, r in a["best3_screen_ranks"].items()),
              f"- cost per candidate: {cost:.3f} by epochs, {a['seconds_ratio']:.3f} by measured seconds",
              f"- target (rho >= 0.8 at <= 1/4): {'met' if a['rho'] >= 0.8 and cost <= 0.25 + 1e-9 else 'not met'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="protocol 1's output folder (OUT/<dataset>/ holds its trainings)")
    parser.add_argument("--dataset", choices=sorted(fidelity.DATASETS), required=True)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="primary")
    parser.add_argument("--workers", type=int, default=1, help="seeds at once, one process each")
    parser.add_argument("--report", action="store_true", help="print the table and rho, train nothing")
    parser.add_argument("--smoke", action="store_true", help="tiny data (100 images, 3 epochs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    if not args.report:
        start = time.time()
        run(args.out, args.dataset, args.variant, args.workers, args.smoke)
        log.info("done in %.0f s", time.time() - start)
    if not args.smoke:
        print(report(args.out, args.dataset, args.variant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
