"""How faithfully today's screen ranks policies: issue 37's protocol 1, as pre-registered in
docs/benchmarks.md ("Issue 37: protocols written before they ran").

For each of 16 fixed policies: the search's screen (the first rung of `rung_epochs(child_epochs,
rungs, halving_rate)` on the search seed, scored on the screen's half of the validation images)
and full trainings (`child_epochs` on the race's seeds, scored on the race's half, each going
the way rung 1 goes: 20 epochs, checkpoint, on to 60). The search's own code does the work:
its split (`study_split`), seeds (`crn_seeds`), scores (`Scores`) and trainings (`run_spec`, in spawned
worker processes of one CPU thread each, as the search's local workers), from issue 12's configs.

Each training's result is written atomically as its own JSON file in OUT/<dataset>/; a rerun
skips the finished ones (a killed 60-epoch training continues from its 20-epoch checkpoint).

    PYTHONPATH=. python bench/screen_fidelity.py OUT --dataset digits --workers 2
    PYTHONPATH=. python bench/screen_fidelity.py OUT --dataset digits --report
    PYTHONPATH=. python bench/screen_fidelity.py OUT --dataset digits --smoke   # tiny, to try it
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from deepaug import datasets
from deepaug.execution.trials import (CONTROL, SEARCH, TrialContext, TrialRecord, TrialSpec, TrialState, run_spec,
                                      trial_seed)
from deepaug.policy.baselines import DEFAULT_OPS, RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N
from deepaug.policy.core import Policy
from deepaug.policy.distribution import Distribution
from deepaug.policy.timm import from_timm
from deepaug.processes import thread_env, threads_per_worker
from deepaug.search.config import SearchConfig
from deepaug.search.distribution_space import COLOUR_ONLY, DistributionSpace
from deepaug.search.scores import Scores
from deepaug.search.validation import holdout_halves, study_split
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.models import fit_to_model
from deepaug.training.rungs import crn_seeds, late_correct, remove_checkpoints, rung_epochs

log = logging.getLogger("screen_fidelity")

ROOT = Path(__file__).resolve().parent
# dataset -> (deepaug's name, issue 12's benchmark config, full-training seeds: the race's first ones)
DATASETS = {"fashion": ("fashion_mnist", ROOT / "configs" / "fashion_4000_bf16.yaml", 2),
            "digits": ("digits", ROOT / "configs" / "digits_800.yaml", 5)}
SMOKE = {"train_set_size": 100, "validation_size": 200, "child_epochs": 3}  # schedule [1, 3]
BOOTSTRAP_DRAWS = 10_000


def _dist(ops: Sequence[str], n: int = 1, magnitude: float = 1.0, spread: float = 1.0, **base: float) -> Policy:
    return Policy.from_distribution(Distribution.uniform(tuple(ops), n=n, magnitude=magnitude, spread=spread,
                                                         levels=31, **base))


def policies(channels: int) -> list[tuple[str, str, Policy | None]]:
    """The 16 policies of the protocol: (key, label, policy); None is no augmentation."""
    ta_ops = tuple(o for o in DEFAULT_OPS if channels == 3 or o not in COLOUR_ONLY)  # as the search's controls
    space = DistributionSpace(channels=channels)
    every = tuple(m for _, members in space.groups for m in members)
    timm = from_timm("rand-m9-mstd101-inc1")
    crop = 1 / 16  # the space's crop: 2 px of padding on 28 px, FLIP_CROP_PAD
    return [
        ("none", "no augmentation", None),
        ("flip_crop", "flip 1/2 + crop 1/16", Policy.from_distribution(Distribution(n=0, flip=0.5, crop=crop))),
        ("ra_1_5", "RandAugment(1, 5/30)", _dist(ta_ops, 1, 5 / 30, 0.0)),
        ("ra_2_9", "RandAugment(2, 9/30)", _dist(ta_ops, RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0)),
        ("ra_3_21", "RandAugment(3, 21/30)", _dist(ta_ops, 3, 21 / 30, 0.0)),
        ("ta", "TrivialAugment", _dist(ta_ops)),
        ("ta_m30", "TrivialAugment at [0, 0.3]", _dist(ta_ops, 1, 0.3)),
        ("ta_flip_crop", "TrivialAugment + flip + crop", _dist(ta_ops, flip=0.5, crop=crop)),
        ("ta_n2", "TrivialAugment, 2 ops", _dist(ta_ops, 2)),
        ("ta_erase25", "TrivialAugment + erasing 1/4", _dist(ta_ops, erasing=0.25)),
        ("ta_cutmix50", "TrivialAugment + CutMix 1/2", _dist(ta_ops, cutmix=0.5)),
        ("ta_m30_cutmix50", "TrivialAugment at [0, 0.3] + CutMix 1/2", _dist(ta_ops, 1, 0.3, cutmix=0.5)),
        ("ta_erase50_cutmix50", "TrivialAugment + erasing 1/2 + CutMix 1/2", _dist(ta_ops, erasing=0.5, cutmix=0.5)),
        ("cutmix100", "CutMix on every image", Policy.from_distribution(Distribution(n=0, cutmix=1.0))),
        ("timm_m9_erase25", "timm rand-m9-mstd101-inc1 + erasing 1/4",
         Policy.from_distribution(replace(timm, erasing=0.25))),
        ("all_ops", "every op of the space, TrivialAugment's magnitudes", _dist(every)),
    ]


@dataclass(frozen=True)
class Setup:
    """One dataset's split, training config, seeds and scores, as the search makes them."""

    dataset: str
    context: TrialContext
    scores: Scores
    run_seed: int
    channels: int

    @property
    def screen_seed(self) -> int:
        return self.scores.search_seeds[0]


def load_setup(dataset: str, checkpoints: Path, smoke: bool = False) -> Setup:
    name, config_path, full_count = DATASETS[dataset]
    raw = yaml.safe_load(config_path.read_text())
    keys = {k: v for k, v in raw.items() if k not in ("dataset", "iterations")}
    config = SearchConfig.from_user({**keys, **(SMOKE if smoke else {})})
    data = fit_to_model(datasets.load(name, split="train"), config.model)  # as DeepAugment(name) loads it
    run_seed = int(config.seed)
    train, val = study_split(data, config, None, run_seed)
    training = config.training_config()
    schedule = rung_epochs(config.child_epochs, config.rungs, config.halving_rate)
    count = config.search_seeds
    scores = Scores(schedule, crn_seeds(run_seed, count + full_count), count, full_count,
                    training.opt_last_n_epochs, len(val),
                    holdout_halves(val.labels, run_seed) if config.race_holdout else None)
    log.info("%s: %d training / %d validation images, schedule %s, screen seed %d, full seeds %s, %s", dataset,
             len(train), len(val), schedule, scores.search_seeds[0], scores.race_seeds, training.precision)
    context = TrialContext(train, val, training, None, str(checkpoints))
    return Setup(dataset, context, scores, run_seed, data.image_shape[-1])


@dataclass(frozen=True)
class Unit:
    """One training of one policy on one seed to `epochs` (continuing `after` epochs when > 0)."""

    key: str
    number: int
    seed: int
    role: str  # "screen" or "full"
    epochs: int
    after: int = 0

    @property
    def file(self) -> str:
        return f"{self.key}__{self.seed}__e{self.epochs}.json"


def chains(setup: Setup, keys: Sequence[str]) -> list[list[Unit]]:
    """Screens first (one unit each), then each full seed's 20 -> 60 chain, seed by seed."""
    first, full = setup.scores.schedule[0], setup.scores.schedule[-1]
    out = [[Unit(k, 10 * (i + 1), setup.screen_seed, "screen", first)] for i, k in enumerate(keys)]
    for j, seed in enumerate(setup.scores.race_seeds, start=1):
        out += [[Unit(k, 10 * (i + 1) + j, seed, "full", first), Unit(k, 10 * (i + 1) + j, seed, "full", full, first)]
                for i, k in enumerate(keys)]
    return out


def write_result(out: Path, setup: Setup, unit: Unit, label: str, record: TrialRecord) -> dict[str, Any]:
    """The unit's JSON (atomically): the search's reward for it (`reward`: the screen's half for the screen
    seed, the race's for the full seeds), its late reward on each half and on all images, seconds, the record."""
    reward = setup.scores.rewards(record, unit.epochs, [unit.seed])
    history = next(h for h in record.histories if int(h.get("seed", -1)) == unit.seed)
    n = setup.scores.val_size
    correct = late_correct(history, unit.epochs, setup.scores.last_n, n)
    halves = setup.scores.holdout or (np.arange(n), np.arange(n))
    parts = {"screen_half": None if correct is None else float(correct[halves[0]].mean()),
             "race_half": None if correct is None else float(correct[halves[1]].mean()),
             "all": None if correct is None else float(correct.mean())}
    doc = {"key": unit.key, "label": label, "role": unit.role, "seed": unit.seed, "epochs": unit.epochs,
           "number": unit.number, "reward": None if not reward else reward[unit.seed],
           "seconds": record.seconds, **parts, "record": record.to_dict()}
    atomic_write_text(out / unit.file, json.dumps(doc) + "\n")
    return doc


def _earlier(out: Path, unit: Unit) -> dict[str, Any] | None:
    """The result of the stage `unit` continues (its first `after` epochs), None for a first stage."""
    return json.loads((out / f"{unit.key}__{unit.seed}__e{unit.after}.json").read_text()) if unit.after else None


_CONTEXT: TrialContext | None = None  # a worker process's split and training config


def _init_worker(threads: int, context: TrialContext) -> None:
    """A worker's thread counts (as deepaug.execution.local_pool sets them) and the shared context."""
    global _CONTEXT
    import tensorflow as tf  # heavy: the worker processes only

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    _CONTEXT = context


def _train(spec: dict[str, Any], resume: dict[str, Any] | None) -> dict[str, Any]:
    """One unit in a worker: the search's `run_spec`, continuing `resume` (its 20-epoch record) when given."""
    assert _CONTEXT is not None
    previous = None if resume is None else TrialRecord.from_dict(resume, "earlier stage")
    return run_spec(TrialSpec.from_dict(spec), _CONTEXT, None, previous).to_dict()


@dataclass
class Progress:
    """Trainings and epochs left; this session's worker seconds per epoch, for the ETA."""

    total: int
    left_epochs: int
    done: int = 0
    spent: float = 0.0  # worker seconds of this session's trainings
    spent_epochs: int = 0

    def eta(self, workers: int) -> str:
        if not self.spent_epochs:
            return "?"
        eta = self.left_epochs * self.spent / self.spent_epochs / workers
        return f"{eta / 60:.0f} min, about {time.strftime('%H:%M', time.localtime(time.time() + eta))}"


def _submit(pool: ProcessPoolExecutor, out: Path, setup: Setup, unit: Unit, policy: Policy | None) -> Future:
    kind = CONTROL if unit.key in ("ta", "ra_2_9") else SEARCH
    spec = TrialSpec(unit.number, policy, trial_seed(setup.run_seed, unit.number), kind, unit.epochs, (unit.seed,))
    earlier = _earlier(out, unit)
    return pool.submit(_train, spec.to_dict(), None if earlier is None else earlier["record"])


def _finished(out: Path, setup: Setup, unit: Unit, label: str, record: TrialRecord, progress: Progress,
              workers: int) -> bool:
    """Write a finished unit's result and log the progress line; False if the training failed."""
    if record.state is not TrialState.COMPLETE:
        log.warning("%s seed %d to %d epochs FAILED: %s (run again to retry)", unit.key, unit.seed, unit.epochs,
                    record.error)
        return False
    before = float((_earlier(out, unit) or {}).get("seconds", 0.0))  # a continued record's seconds run on
    doc = write_result(out, setup, unit, label, record)
    trained = unit.epochs - unit.after
    progress.done += 1
    progress.spent += record.seconds - before
    progress.spent_epochs += trained
    progress.left_epochs -= trained
    log.info("[%d/%d] %s, %s seed %d, %d epochs: reward %.4f | %.0f s | left: %d epochs, ETA %s", progress.done,
             progress.total, unit.key, unit.role, unit.seed, unit.epochs, doc["reward"] or float("nan"),
             record.seconds - before, progress.left_epochs, progress.eta(workers))
    return True


def run(out: Path, setup: Setup, workers: int, keys: Sequence[str] | None = None) -> None:
    """Train every unfinished unit, `workers` at a time in spawned processes (one CPU thread each on 2
    cores, as the search's local workers), writing each result as it finishes."""
    table = {k: (label, p) for k, label, p in policies(setup.channels)}
    todo = [rest for chain in chains(setup, keys or list(table))  # the finished units dropped
            if (rest := [u for u in chain if not (out / u.file).exists()])]
    progress = Progress(sum(len(c) for c in todo), sum(u.epochs - u.after for c in todo for u in c))
    log.info("%d training(s) left (%d epochs) in %s", progress.total, progress.left_epochs, out)
    if not todo:
        return
    threads = threads_per_worker(workers)
    os.environ.update({**thread_env(threads), "TF_NUM_INTRAOP_THREADS": str(threads)})  # inherited by the workers
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads, setup.context)) as pool:
        in_flight: dict[Future, list[Unit]] = {}
        while todo or in_flight:
            while todo and len(in_flight) < workers:
                chain = todo.pop(0)
                in_flight[_submit(pool, out, setup, chain[0], table[chain[0].key][1])] = chain
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                unit, *rest = in_flight.pop(future)
                record = TrialRecord.from_dict(future.result(), "worker result")
                if _finished(out, setup, unit, table[unit.key][0], record, progress, workers) and rest:
                    todo.insert(0, rest)  # continue it next, from its checkpoint
                elif not rest:  # nothing continues this training
                    remove_checkpoints(setup.context.checkpoint_dir, unit.number)


# ---------------------------------------------------------------- the analysis


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import rankdata  # scipy is heavy: the analysis only

    rx, ry = rankdata(np.asarray(x, float)), rankdata(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def bootstrap_interval(x: Sequence[float], y: Sequence[float], draws: int = BOOTSTRAP_DRAWS,
                       seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of Spearman's rho over resamples of the pairs (draws with a constant side dropped)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    values = [spearman(x[i], y[i]) for i in rng.integers(0, len(x), size=(draws, len(x)))]
    values = np.array([v for v in values if math.isfinite(v)])
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def collect(docs: Sequence[dict[str, Any]], full: int) -> dict[str, dict[str, Any]]:
    """Per policy: label, screen reward, full rewards by seed (race half and all images), the screen read
    on each full seed (screen half at the first rung), seconds; only policies with every part."""
    rows: dict[str, dict[str, Any]] = {}
    for d in docs:
        row = rows.setdefault(d["key"], {"label": d["label"], "full": {}, "full_all": {}, "screen_on": {},
                                         "full_seconds": []})
        if d["role"] == "screen":
            row["screen"], row["screen_seconds"] = d["reward"], d["seconds"]
        elif d["epochs"] == full:
            row["full"][d["seed"]], row["full_all"][d["seed"]] = d["reward"], d["all"]
            row["full_seconds"].append(d["seconds"])
        else:
            row["screen_on"][d["seed"]] = d["screen_half"]
    seeds = sorted({s for r in rows.values() for s in r["full"]})
    return {k: r for k, r in rows.items() if "screen" in r and set(r["full"]) == set(seeds) and seeds}


def analyse(rows: dict[str, dict[str, Any]], kept: int | None = None) -> dict[str, Any]:
    """Spearman's rho of the screen against the full trainings, its interval, the secondary numbers, the cost."""
    keys = list(rows)
    seeds = sorted(next(iter(rows.values()))["full"])
    screen = [rows[k]["screen"] for k in keys]
    full = [float(np.mean([rows[k]["full"][s] for s in seeds])) for k in keys]
    out: dict[str, Any] = {"policies": len(keys), "seeds": seeds, "rho": spearman(screen, full),
                           "interval": bootstrap_interval(screen, full),
                           "per_seed": {s: spearman(screen, [rows[k]["full"][s] for k in keys]) for s in seeds},
                           "all_images": spearman(screen, [np.mean(list(rows[k]["full_all"].values())) for k in keys])}
    if len(seeds) > 1:
        pairs = [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1:]]
        out["ceiling"] = float(np.mean([spearman([rows[k]["full"][a] for k in keys], [rows[k]["full"][b] for k in keys])
                                        for a, b in pairs]))
        cross = [spearman([rows[k]["screen_on"].get(a, np.nan) for k in keys],
                          [np.mean([rows[k]["full"][b] for b in seeds if b != a]) for k in keys]) for a in seeds]
        out["cross_seed"] = float(np.nanmean(cross)) if any(math.isfinite(c) for c in cross) else float("nan")
    by_screen = sorted(keys, key=lambda k: -rows[k]["screen"])
    by_full = sorted(keys, key=lambda k: -full[keys.index(k)])
    kept = kept or math.ceil(len(keys) / 3)
    out["best3_screen_ranks"] = {k: by_screen.index(k) + 1 for k in by_full[:3]}
    out["best3_kept"] = sum(1 for k in by_full[:3] if by_screen.index(k) < kept)
    out["ranks"] = {k: (by_screen.index(k) + 1, by_full.index(k) + 1, full[keys.index(k)]) for k in keys}
    screen_s = [rows[k]["screen_seconds"] for k in keys]
    full_s = [s for k in keys for s in rows[k]["full_seconds"]]
    out["seconds_ratio"] = float(np.mean(screen_s) / np.mean(full_s))
    return out


def report(out: Path, dataset: str, setup: Setup) -> str:
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("*__e*.json"))]
    schedule = setup.scores.schedule
    rows = collect(docs, schedule[-1])
    if len(rows) < 3:
        return f"{dataset}: {len(rows)} policies have every training so far ({len(docs)} trainings done): too few"
    a = analyse(rows)
    seeds = a["seeds"]
    lines = [f"{dataset}: {a['policies']} policies; screen {schedule[0]} epochs on seed {setup.screen_seed} "
             f"(screen's half); full {schedule[-1]} epochs on seeds {', '.join(map(str, seeds))} (race's half)", "",
             "| policy | screen reward % | full reward % per seed | full mean % | screen rank | full rank |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for k in sorted(rows, key=lambda k: a["ranks"][k][1]):
        r, (sr, fr, fm) = rows[k], a["ranks"][k]
        per = " / ".join(f"{100 * r['full'][s]:.2f}" for s in seeds)
        lines.append(f"| {r['label']} | {100 * r['screen']:.2f} | {per} | {100 * fm:.2f} | {sr} | {fr} |")
    lo, hi = a["interval"]
    lines += ["", f"- Spearman's rho, screen against the full trainings' mean: **{a['rho']:+.2f}** (95% bootstrap "
              f"interval over policies {lo:+.2f} .. {hi:+.2f})",
              "- against each full seed alone: " + ", ".join(f"{s}: {v:+.2f}" for s, v in a["per_seed"].items()),
              f"- with the full reward on all validation images: {a['all_images']:+.2f}"]
    if "ceiling" in a:
        lines += [f"- ceiling, one full seed against another: {a['ceiling']:+.2f}; the screen read on a full seed's "
                  f"own {schedule[0]}-epoch point against the other full seeds: {a['cross_seed']:+.2f}"]
    lines += ["- the full trainings' best 3 on the screen: " + ", ".join(
              f"{rows[k]['label']} #{r}" for k, r in a["best3_screen_ranks"].items()) +
              f" ({a['best3_kept']} of 3 in the screen's best third)",
              f"- cost per candidate: {schedule[0]} x 1 / ({schedule[-1]} x 1) = {schedule[0] / schedule[-1]:.2f} by "
              f"epochs, {a['seconds_ratio']:.2f} by measured seconds",
              f"- target (rho >= 0.8 at <= 1/4 of a full training): "
              f"{'met' if a['rho'] >= 0.8 and schedule[0] / schedule[-1] <= 0.25 else 'not met'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (results go to OUT/<dataset>/)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--workers", type=int, default=2, help="trainings at once, one process each (default 2)")
    parser.add_argument("--report", action="store_true", help="print the table and Spearman's rho, train nothing")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (100 images, 1 and 3 epochs, 3 policies)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    out = args.out / (args.dataset + ("-smoke" if args.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    setup = load_setup(args.dataset, out / "checkpoints", smoke=args.smoke)
    if args.report:
        print(report(out, args.dataset, setup))
        return 0
    run(out, setup, args.workers, ["none", "ta", "ta_cutmix50"] if args.smoke else None)
    print(report(out, args.dataset, setup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
