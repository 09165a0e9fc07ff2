"""What the search controller costs, and what Bayesian optimization buys over random search.

(a) overhead (``--part overhead``): wall time of one ``Controller.ask(1)`` + ``tell`` cycle
    with the default 5x2 search space, after N trials have been told (N in ``--told``,
    default 50, 150, 300), for the "bayesian_optimization" (skopt RF + EI, 10 initial
    points) and "random" methods. The N trials are policies sampled uniformly and told in
    one batch, as a resumed search replays its records; rewards are synthetic (a smooth
    function of each op's kind, probability and magnitude, plus noise), so the surrogate
    has something to fit. Then ``--cycles`` ask(1)+tell cycles are timed (median and max
    over cycles and ``--overhead-seeds``), and ``--batch-repeats`` ask(4)+tell(4) batches,
    as a parallel executor with 4 workers asks. Overhead is reported as a share of one
    default trial (50 epochs x 3 trainings), taken from docs/benchmarks.md or
    ``--trial-seconds``: the target is under 2 %. One more Bayesian controller grows the
    way a search does (ask(1)+tell from 0 to max N told), to report its total time and its
    pickled size (skopt keeps every fitted surrogate).
(b) search (``--part search``): the real ``deepaug.search.loop.Search`` on a Fashion-MNIST
    subset (basiccnn, small trainings), Bayesian versus random, one search per method
    and seed. Both methods share a seed's data split, baseline and trial seeds, so the
    comparison is paired. Reported: best reward among the first k search trials (mean
    and sample std over seeds), the paired difference, the baseline (trial 0), the mean
    reward of the trials after the initial random points, and as a noise floor the spread
    of the no-augmentation reward over ``--noise-repeats`` training seeds. Every file the
    searches write goes into a temporary folder.

(c) distribution (``--part distribution``): the distribution search's screen (the default
    search space, deepaug.search.study) with Bayesian versus random proposals: per method and
    seed, ``--iterations`` candidates trained ``--child-epochs`` epochs on common seeds
    beside TrivialAugment; reported is the best paired gain over TrivialAugment among the
    first k candidates (the first few are the space's known-good points, the same for both
    methods) and the mean gain of the proposals after them.

Run:  PYTHONPATH=. python bench/search.py [--part {overhead,search,distribution,all}] [--trial-seconds S]
                                          [--seeds 0,1,2] [--iterations 20] [--quick]
                                          [--markdown FILE]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench import emit

log = logging.getLogger("bench.search")

# One default trial (child_epochs=50, opt_samples=3, 2000 32x32x3 images, basiccnn) took
# 2.6 min on the 2-core benchmark machine: docs/benchmarks.md, "Child training
# (bench/training.py)", row "default trial (50 epochs x 3 samples), measured" (2026-11-21).
DEFAULT_TRIAL_SECONDS = 2.6 * 60
OVERHEAD_TARGET = 0.02
SKOPT_REPEAT = "has been evaluated at point"  # skopt's warning when it proposes a told point again


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def mean_std(values: Sequence[float], digits: int = 4) -> str:
    """'mean ± sample std' (just the value when there is one)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """Markdown table; `align` has one character per column: '-' left, ':' right (default: first left)."""
    align = align or "-" + ":" * (len(header) - 1)
    marks = ["---" if a == "-" else "---:" for a in align]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(marks)} |", *[f"| {' | '.join(r)} |" for r in rows]]


# ---------------------------------------------------------------- (a) controller overhead

class SyntheticReward:
    """A smooth reward over policies: each op kind has a taste, best at magnitude 0.3."""

    def __init__(self, space: Any, seed: int = 1234, noise: float = 0.003) -> None:
        rng = np.random.default_rng(seed)
        self.taste = dict(zip(space.ops, rng.normal(0.0, 1.0, len(space.ops))))
        self.noise = noise
        self.rng = np.random.default_rng(seed + 1)

    def __call__(self, policy: Any) -> float:
        terms = [self.taste[op.name] * op.probability * (1.0 - 4.0 * (op.magnitude - 0.3) ** 2)
                 for sub in policy for op in sub]
        value = 0.80 + 0.05 * float(np.mean(terms)) + float(self.rng.normal(0.0, self.noise))
        return float(np.clip(value, 0.0, 1.0))


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure_at(method: str, told: int, seed: int, cycles: int, batch_repeats: int,
               batch: int) -> dict[str, Any]:
    """Controller with `told` replayed trials; times of ask(1)+tell cycles and ask(batch)+tell batches."""
    from deepaug.search.controller import Controller
    from deepaug.search.space import SearchSpace

    space = SearchSpace()
    reward = SyntheticReward(space, seed=1234 + seed)
    controller = Controller(space, method=method, initial_points=10, seed=seed)
    replay = [space.to_policy(p) for p in space.sample(told, np.random.default_rng([seed, told]))]
    _, replay_s = timed(lambda: controller.tell(replay, [reward(p) for p in replay]))
    cycle_s, batch_ask_s, batch_tell_s, repeats = [], [], [], 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(cycles):
            policies, ask_s = timed(lambda: controller.ask(1))
            rewards = [reward(p) for p in policies]
            _, tell_s = timed(lambda: controller.tell(policies, rewards))
            cycle_s.append(ask_s + tell_s)
        for _ in range(batch_repeats):
            policies, ask_s = timed(lambda: controller.ask(batch))
            rewards = [reward(p) for p in policies]
            _, tell_s = timed(lambda: controller.tell(policies, rewards))
            batch_ask_s.append(ask_s)
            batch_tell_s.append(tell_s)
        repeats = sum(SKOPT_REPEAT in str(w.message) for w in caught)
    return {"replay_s": replay_s, "cycle_s": cycle_s, "batch_ask_s": batch_ask_s, "batch_tell_s": batch_tell_s,
            "repeats": repeats, "pickled_mib": len(pickle.dumps(controller)) / 2**20}


def grow_like_search(told: int, seed: int = 0) -> dict[str, Any]:
    """A Bayesian controller driven ask(1)+tell from 0 to `told` trials, as a search drives it."""
    from deepaug.search.controller import Controller
    from deepaug.search.space import SearchSpace

    space = SearchSpace()
    reward = SyntheticReward(space, seed=1234 + seed)
    controller = Controller(space, method="bayesian_optimization", initial_points=10, seed=seed)
    cycle_s = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(told):
            start = time.perf_counter()
            policies = controller.ask(1)
            controller.tell(policies, [reward(policies[0])])
            cycle_s.append(time.perf_counter() - start)
        repeats = sum(SKOPT_REPEAT in str(w.message) for w in caught)
    best = controller.best()
    return {"cycle_s": cycle_s, "repeats": repeats, "pickled_mib": len(pickle.dumps(controller)) / 2**20,
            "best": None if best is None else best[1]}


def overhead_part(args: argparse.Namespace) -> list[str]:
    trial_s = args.trial_seconds
    rows = []
    for told in args.told:
        for method in ("bayesian_optimization", "random"):
            runs = [measure_at(method, told, s, args.cycles, args.batch_repeats, args.batch)
                    for s in args.overhead_seeds]
            cycles = [t for r in runs for t in r["cycle_s"]]
            asks = [t for r in runs for t in r["batch_ask_s"]]
            tells = [t for r in runs for t in r["batch_tell_s"]]
            med, worst = statistics.median(cycles), max(cycles)
            log.info("%s at %d told: ask(1)+tell median %.1f ms, max %.1f ms; ask(%d) median %.1f ms",
                     method, told, 1e3 * med, 1e3 * worst, args.batch, 1e3 * statistics.median(asks))
            batch = statistics.median(a + t for a, t in zip(asks, tells))
            mark = "**" if method == "bayesian_optimization" else ""
            rows.append([
                "bayesian" if method == "bayesian_optimization" else "random", str(told),
                f"{1e3 * med:.1f} / {1e3 * worst:.1f}",
                f"{mark}{med / trial_s:.3%}{mark} / {worst / trial_s:.3%}",
                f"{1e3 * statistics.median(asks):.0f} / {1e3 * max(asks):.0f}",
                f"{1e3 * statistics.median(tells):.0f}",
                f"{batch / trial_s:.2%} ({batch / args.batch / trial_s:.2%} per trial)",
                f"{statistics.median(r['replay_s'] for r in runs):.2f}",
                f"{statistics.median(r['pickled_mib'] for r in runs):.1f}",
                str(sum(r["repeats"] for r in runs)),
            ])
    header = ["method", "told N", "ask(1)+tell median / max (ms)",
              f"of one default trial ({trial_s:.0f} s) median / max",
              f"ask({args.batch}) median / max (ms)", f"tell({args.batch}) median (ms)",
              f"ask({args.batch})+tell({args.batch}) of one trial", "replay tell(N) (s)",
              "pickled controller (MiB)", "skopt repeats"]
    seeds = ",".join(map(str, args.overhead_seeds))
    from deepaug.search.space import SearchSpace

    space = SearchSpace()
    lines = [
        f"Default 5x2 search space ({len(space.ops)} ops, {len(space.dimension_names())} dimensions), "
        f"initial_points=10, skopt {_version('skopt')}, scikit-learn {_version('sklearn')}; synthetic rewards; "
        f"controller seeds {seeds}, each: replay N told trials, then {args.cycles} ask(1)+tell cycles and "
        f"{args.batch_repeats} ask({args.batch})+tell({args.batch}) batches. Default trial = {trial_s:.0f} s "
        f"({'--trial-seconds' if trial_s != DEFAULT_TRIAL_SECONDS else 'measured, Child training section'}); "
        f"target: ask(1)+tell under {OVERHEAD_TARGET:.0%} of it.",
        "",
        *table(header, rows, "--" + ":" * (len(header) - 2)),
    ]
    if args.grow:
        grown = grow_like_search(max(args.told))
        cycles = grown["cycle_s"]
        tail = cycles[-10:]
        lines += ["", f"Grown like a search (bayesian, seed 0, ask(1)+tell from 0 to {len(cycles)} told trials): "
                  f"controller time {sum(cycles):.1f} s in all ({sum(cycles) / len(cycles) / trial_s:.3%} of a "
                  f"default trial per trial on average), last 10 cycles median {1e3 * statistics.median(tail):.0f} "
                  f"ms, slowest {1e3 * max(cycles):.0f} ms; pickled controller {grown['pickled_mib']:.1f} MiB; "
                  f"skopt repeated a told point {grown['repeats']} time(s)."]
        log.info("grown to %d: %.1f s total, %.1f MiB", len(cycles), sum(cycles), grown["pickled_mib"])
    return lines


# ---------------------------------------------------------------- (b) Bayesian versus random search

def search_config(args: argparse.Namespace, method: str, seed: int, tmp: Path) -> dict[str, Any]:
    return {"method": method, "seed": seed, "train_set_size": args.train_size, "validation_size": args.val_size,
            "child_epochs": args.child_epochs, "opt_samples": 1, "opt_last_n_epochs": args.last_n,
            "opt_initial_points": args.initial_points, "reports_dir": str(tmp / "reports"),
            "policies_dir": str(tmp / "policies"), "child_models_dir": str(tmp / "child_models")}


def best_so_far(records: Sequence[Any]) -> list[float]:
    """Best reward among the first k search trials, for k = 1..len (failed trials add nothing)."""
    from deepaug.execution.trials import SEARCH, TrialState

    out, best = [], float("nan")
    for r in sorted((r for r in records if r.kind == SEARCH), key=lambda r: r.number):
        if r.state is TrialState.COMPLETE and not (r.reward <= best):
            best = float(r.reward)
        out.append(best)
    return out


def one_search(data: Any, args: argparse.Namespace, method: str, seed: int) -> dict[str, Any]:
    from deepaug.search.config import SearchConfig
    from deepaug.search.loop import Search
    from deepaug.execution.trials import BASELINE, SEARCH, TrialState

    with tempfile.TemporaryDirectory(prefix="deepaug-bench-search-") as tmp:
        config = SearchConfig.from_user(search_config(args, method, seed, Path(tmp)))
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records = Search(data, config, f"{method}-seed{seed}").run(args.iterations)
        wall = time.perf_counter() - start
    search = [r for r in records if r.kind == SEARCH]
    complete = [r for r in search if r.state is TrialState.COMPLETE]
    baseline = [r.reward for r in records if r.kind == BASELINE and r.state is TrialState.COMPLETE]
    later = [r.reward for r in complete if r.number > args.initial_points]
    return {
        "best": best_so_far(records), "baseline": baseline[0] if baseline else float("nan"),
        "later_mean": float(np.mean(later)) if later else float("nan"),
        "rewards": [r.reward for r in complete], "failed": len(search) - len(complete),
        "distinct": len({json.dumps(r.policy, sort_keys=True) for r in search}),
        "trials": len(search), "wall": wall, "trial_seconds": sum(r.seconds for r in records),
        "repeats": sum(SKOPT_REPEAT in str(w.message) for w in caught),
    }


def noise_floor(data: Any, args: argparse.Namespace, seed: int) -> list[float]:
    """Rewards of the no-augmentation trial under `--noise-repeats` trial seeds (seed's split)."""
    from deepaug.search.config import SearchConfig
    from deepaug.datasets import split_train_val
    from deepaug.training.train import run_trial

    with tempfile.TemporaryDirectory(prefix="deepaug-bench-noise-") as tmp:
        config = SearchConfig.from_user(search_config(args, "random", seed, Path(tmp))).training_config()
        train, val = split_train_val(data, args.train_size, args.val_size, seed=seed)
        return [run_trial(train, val, None, config, seed=1000 + k).reward for k in range(args.noise_repeats)]


METHODS = ("bayesian_optimization", "random")


def paired_runs(args: argparse.Namespace, run_one: Any, what: str) -> dict[str, list[dict[str, Any]]]:
    """run_one(method, seed) for both methods on every seed, alternating their order against drift."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    for i, seed in enumerate(args.seeds):
        for method in (METHODS if i % 2 == 0 else METHODS[::-1]):
            log.info("%s: %s, seed %d, %d iterations", what, method, seed, args.iterations)
            run = run_one(method, seed)
            log.info("  %s seed %d: best %.4f, %.0f s", method, seed, run["best"][-1], run["wall"])
            runs[method].append(run)
    return runs


def search_part(args: argparse.Namespace) -> list[str]:
    from deepaug import datasets

    data = datasets.load("fashion_mnist")
    runs = paired_runs(args, lambda method, seed: one_search(data, args, method, seed), "search")
    ks = [k for k in args.k if k <= args.iterations]
    if args.iterations not in ks:
        ks.append(args.iterations)
    bayes, rand = runs["bayesian_optimization"], runs["random"]
    rows = []
    for k in ks:
        b = [r["best"][k - 1] for r in bayes]
        q = [r["best"][k - 1] for r in rand]
        rows.append([str(k), mean_std(b), mean_std(q), mean_std([x - y for x, y in zip(b, q)], 4),
                     f"{sum(x > y for x, y in zip(b, q))} / {sum(x < y for x, y in zip(b, q))}"])
    base_b = [r["baseline"] for r in bayes]
    base_r = [r["baseline"] for r in rand]
    rows.append(["baseline (trial 0, no augmentation)", mean_std(base_b), mean_std(base_r),
                 mean_std([x - y for x, y in zip(base_b, base_r)], 4), "-"])
    if args.iterations > args.initial_points:
        rows.append([f"mean reward of trials {args.initial_points + 1}..{args.iterations}",
                     mean_std([r["later_mean"] for r in bayes]), mean_std([r["later_mean"] for r in rand]),
                     mean_std([x["later_mean"] - y["later_mean"] for x, y in zip(bayes, rand)], 4),
                     f"{sum(x['later_mean'] > y['later_mean'] for x, y in zip(bayes, rand))} / "
                     f"{sum(x['later_mean'] < y['later_mean'] for x, y in zip(bayes, rand))}"])
    header = ["best reward after k search trials", "bayesian (mean ± std)", "random (mean ± std)",
              "bayesian - random, paired", "seeds bayesian ahead / behind"]
    lines = [
        f"Fashion-MNIST train split (28x28x1, 10 classes): per seed a stratified {args.train_size}-image "
        f"training set and {args.val_size}-image validation set; basiccnn, {args.child_epochs} epochs, 1 "
        f"training per trial, reward = mean of the {args.last_n} best non-overfitting validation accuracies; "
        f"default 5x2 search space; bayesian with opt_initial_points={args.initial_points}; {args.iterations} "
        f"search trials + baseline per search; seeds {','.join(map(str, args.seeds))} (same seed = same split, "
        f"baseline and trial seeds for both methods); std = sample std over seeds.",
        "",
        *table(header, rows, "-" + ":" * (len(header) - 1)),
        "",
    ]
    for method, label in (("bayesian_optimization", "bayesian"), ("random", "random")):
        rs = runs[method]
        walls = [r["wall"] for r in rs]
        per_trial = [r["trial_seconds"] / (r["trials"] + 1) for r in rs]
        loop = [r["wall"] - r["trial_seconds"] for r in rs]
        lines.append(
            f"- {label}: per seed best {', '.join(format(r['best'][-1], '.4f') for r in rs)}; search wall "
            f"{statistics.mean(walls):.0f} s (trial {statistics.mean(per_trial):.1f} s on average, everything "
            f"else {statistics.mean(loop):.1f} s per search); distinct policies "
            f"{', '.join(str(r['distinct']) + '/' + str(r['trials']) for r in rs)}; "
            f"failed trials {sum(r['failed'] for r in rs)}; "
            f"skopt repeats {sum(r['repeats'] for r in rs)}; reward range over all trials "
            f"{min(min(r['rewards']) for r in rs):.4f}..{max(max(r['rewards']) for r in rs):.4f}.")
    if args.noise_repeats > 0:
        noise = noise_floor(data, args, args.seeds[0])
        spread = f"std {np.std(noise, ddof=1):.4f}" if len(noise) > 1 else "one repeat, no std"
        lines.append(f"- noise floor: the no-augmentation trial under {len(noise)} training seeds (split of seed "
                     f"{args.seeds[0]}): rewards {', '.join(f'{v:.4f}' for v in noise)}, {spread}")
    return lines


def one_screen(data: Any, args: argparse.Namespace, method: str, seed: int) -> dict[str, Any]:
    """One distribution search's screen; the gains over TrivialAugment in proposal order."""
    from deepaug.search.config import SearchConfig
    from deepaug.search.study import DistributionSearch

    with tempfile.TemporaryDirectory(prefix="deepaug-bench-screen-") as tmp:
        config = SearchConfig.from_user({**search_config(args, method, seed, Path(tmp)), "search_space": "distribution",
                                         "rungs": 1, "workers": args.workers})
        start = time.perf_counter()
        search = DistributionSearch(data, config, f"{method}-seed{seed}")
        records = search.run(args.iterations, screen_only=True)
        wall = time.perf_counter() - start
        gains = search.screen_gains(records)
        control_policies = {c.policy for c in search.controls}  # a start equal to a control is not screened again
        starts = len([p for p in dict.fromkeys(search.starts) if p not in control_policies])
    ordered = [gains.get(n, float("nan")) for n in sorted(gains)]
    best = list(np.fmax.accumulate(np.array(ordered))) if ordered else []
    return {"gains": ordered, "best": best, "wall": wall, "trial_seconds": sum(r.seconds for r in records),
            "starts": starts}


def distribution_part(args: argparse.Namespace) -> list[str]:
    from deepaug import datasets

    data = datasets.load("fashion_mnist")
    methods = METHODS
    runs = paired_runs(args, lambda method, seed: one_screen(data, args, method, seed), "screen")
    starts = min(r["starts"] for m in methods for r in runs[m])  # the candidates before the first proposal
    rows = []
    for k in sorted({k for k in [*args.k, args.iterations] if k <= args.iterations}):
        b = [r["best"][k - 1] for r in runs["bayesian_optimization"]]
        q = [r["best"][k - 1] for r in runs["random"]]
        rows.append([str(k), mean_std(b, 2), mean_std(q, 2), mean_std([x - y for x, y in zip(b, q)], 2),
                     f"{sum(x > y for x, y in zip(b, q))} / {sum(x < y for x, y in zip(b, q))}"])
    later = {m: [float(np.nanmean(r["gains"][starts:])) for r in runs[m]] for m in methods}
    rows.append([f"mean gain of candidates {starts + 1}..{args.iterations}", mean_std(later[methods[0]], 2),
                 mean_std(later[methods[1]], 2),
                 mean_std([x - y for x, y in zip(later[methods[0]], later[methods[1]])], 2), "-"])
    header = ["best gain over TrivialAugment after k candidates (points)", "bayesian (mean ± std)",
              "random (mean ± std)", "bayesian - random, paired", "seeds bayesian ahead / behind"]
    walls = {m: statistics.mean(r["wall"] for r in runs[m]) for m in methods}
    return [
        f"Fashion-MNIST train split: per seed a stratified {args.train_size}-image training set and "
        f"{args.val_size}-image validation set; basiccnn, {args.child_epochs} epochs, reward = mean validation "
        f"accuracy of the last {args.last_n} epochs, paired with TrivialAugment on the same seed; distribution "
        f"search space, screen only, {args.iterations} candidates (the first {starts} the space's known-good "
        f"points), {args.workers} local worker(s); seeds {','.join(map(str, args.seeds))}.",
        "",
        *table(header, rows, "-" + ":" * (len(header) - 1)),
        "",
        f"- wall per screen: bayesian {walls[methods[0]]:.0f} s, random {walls[methods[1]]:.0f} s.",
    ]


# ---------------------------------------------------------------- main

def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("overhead", "search", "distribution", "all"), default="all")
    parser.add_argument("--trial-seconds", type=float, default=DEFAULT_TRIAL_SECONDS,
                        help=f"one default trial's seconds on your machine (default {DEFAULT_TRIAL_SECONDS:.0f}, "
                             "measured by bench/training.py --full-trial on 2 cores)")
    parser.add_argument("--told", type=parse_ints, default=[50, 150, 300], help="told trials N (default 50,150,300)")
    parser.add_argument("--cycles", type=int, default=5, help="timed ask(1)+tell cycles per N and seed")
    parser.add_argument("--batch", type=int, default=4, help="batch size of the batch ask (default 4)")
    parser.add_argument("--batch-repeats", type=int, default=2, help="timed batch asks per N and seed")
    parser.add_argument("--overhead-seeds", type=parse_ints, default=[0, 1, 2])
    parser.add_argument("--no-grow", dest="grow", action="store_false",
                        help="skip the controller grown ask(1)+tell to max N (about 2 min)")
    parser.add_argument("--seeds", type=parse_ints, default=[0, 1, 2], help="search seeds (default 0,1,2)")
    parser.add_argument("--iterations", type=int, default=20, help="search trials per search (default 20)")
    parser.add_argument("--k", type=parse_ints, default=[1, 5, 10, 15, 20], help="k of best-after-k")
    parser.add_argument("--train-size", type=int, default=500)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--child-epochs", type=int, default=5)
    parser.add_argument("--last-n", type=int, default=2, help="opt_last_n_epochs (default 2)")
    parser.add_argument("--initial-points", type=int, default=5, help="opt_initial_points (default 5)")
    parser.add_argument("--noise-repeats", type=int, default=5, help="no-augmentation trials for the noise floor")
    parser.add_argument("--workers", type=int, default=1, help="local workers of a distribution screen (default 1)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (about a minute)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.told, args.cycles, args.batch_repeats, args.overhead_seeds, args.grow = [20], 2, 1, [0], False
        args.seeds, args.iterations, args.k, args.train_size, args.val_size = [0], 3, [1, 3], 200, 200
        args.child_epochs, args.initial_points, args.noise_repeats = 2, 2, 2
    if args.trial_seconds <= 0 or args.cycles < 1 or args.batch < 2 or args.iterations < 1:
        parser.error("--trial-seconds must be > 0, --cycles and --iterations >= 1, --batch >= 2")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("deepaug.training.train", "deepaug.datasets", "deepaug.search.experiment", "deepaug.search.controller",
                 "deepaug.training.rungs", "deepaug.search.study", "deepaug.execution.local_pool"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    start = time.perf_counter()
    out = [f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
           f"numpy {np.__version__}; no GPU used.", ""]
    if args.part in ("overhead", "all"):
        out += ["### Controller overhead", "", *overhead_part(args), ""]
    if args.part in ("search", "all"):
        import tensorflow as tf

        out += [f"### Bayesian versus random search (TF {tf.__version__})", "", *search_part(args), ""]
    if args.part in ("distribution", "all"):
        out += ["### Bayesian versus random proposals, distribution space (screen)", "",
                *distribution_part(args), ""]
    total = time.perf_counter() - start
    out.append(f"Total run time: {total / 60:.1f} min ({total:.0f} s).")
    text = "\n".join(out) + "\n"
    emit(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
