"""The blind protocol of issue 37 (protocol 2 in docs/benchmarks.md, "Issue 37: protocols written
before they ran"): per replicate, `deepaug optimize` with the default search, then once
`deepaug evaluate` of its answer against every free baseline on the replicate's test images.

    PYTHONPATH=. python bench/blind.py OUT --prepare        # the data only: counts, files, no training
    PYTHONPATH=. python bench/blind.py OUT                  # every replicate (hours; resumable)
    PYTHONPATH=. python bench/blind.py OUT --only fashion_4000 --seed 37001
    PYTHONPATH=. python bench/blind.py OUT --report         # the table and the pre-registered analysis
    PYTHONPATH=. python bench/blind.py --smoke              # digits, tiny sizes, a temp folder: the plumbing

Animal-Shape needs the bench-only package: `.venv/bin/pip install -r requirements/bench.txt`
(or `--animal-wheel <its wheel>`); bench/blind_data.py says how its pickle is read and trusted.

Each replicate lives in OUT/<setting>/<seed>/: config.yaml (what `deepaug optimize --config`
reads), reports/experiments/search/ (the search; running it again resumes it), evaluation/
(`deepaug evaluate --out`; a finished one, summary.csv written, is reused and never run again: a
test split is scored once; a killed one is resumed by the same command) and replicate.json
(commit, wall times, machine load; written atomically after each step).

Fashion-MNIST's pool B and Animal-Shape's 8,000 go to the CLI as a named dataset's data folder
(MNIST-format IDX files, data_dir) and are also saved as .npz files: `deepaug optimize` holds 20% of
an .npz out as its test split, so an .npz input would give the search 80% of the pool and other
training images than `deepaug evaluate --test` trains on; the named route gives both the pool the
protocol names (validation = the rest of it) and the same `split_train_val(pool, n, seed=s)`.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from bench import blind_data
from bench.blind_analysis import analyse, check_seeds, report_lines
from deepaug import datasets
from deepaug.errors import InputError
from deepaug.evaluation.methods import baseline_methods
from deepaug.evaluation.summary import _fractions, _test_images  # evaluate's own readers of runs.csv
from deepaug.search.config import SearchConfig
from deepaug.search.controls import FREE_RECIPES, key_named
from deepaug.search.race import Gain
from deepaug.storage.atomic import atomic_write_text
from deepaug.training.rungs import crn_seeds

log = logging.getLogger("blind")
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    source: str  # "fashion", "digits" or "animal"
    n: int
    seeds: tuple[int, ...]
    precision: str


# The protocol's table: bfloat16 for Fashion-MNIST and Animal-Shape as in issue 12's benchmark, float32 for digits.
SETTINGS = (Setting("fashion_4000", "Fashion-MNIST 4,000", "fashion", 4000, (37001, 37002), "bfloat16"),
            Setting("fashion_1000", "Fashion-MNIST 1,000", "fashion", 1000, (37011, 37012), "bfloat16"),
            Setting("digits_800", "digits 800", "digits", 800, (37021, 37022), "float32"),
            Setting("animal_1000", "Animal-Shape 1,000", "animal", 1000, (37031, 37032), "bfloat16"))


@dataclass(frozen=True)
class Run:
    """The search and evaluation sizes: the protocol's, or --smoke's tiny ones."""

    iterations: int = 24
    child_epochs: int = 60
    workers: int = 2
    test_seeds: int = 10
    epochs: int = 60


PROTOCOL = Run()
SMOKE = Run(iterations=2, child_epochs=3, workers=1, test_seeds=2, epochs=3)
SMOKE_SETTINGS = (Setting("digits_smoke", "digits 100 (smoke)", "digits", 100, (37021, 37022), "float32"),)
EVAL_PRECISION = None  # the protocol's evaluate command names no --precision: evaluate's default, float32


def prepare(out: Path, sources: set[str], wheel: str | None) -> dict[str, dict[str, Any]]:
    """Each source's data (written once under OUT/data/, read back and checked): {source: dataset,
    data_dir and what was checked}."""
    data, done = out / "data", out / "data" / "prepared.json"
    known = json.loads(done.read_text()) if done.exists() else {}
    for source in sorted(sources - set(known)):
        if source == "digits":
            train = datasets.load("digits", split="train")
            known[source] = {"dataset": "digits", "data_dir": None, "pool_images": len(train)}
        elif source == "fashion":
            train = datasets.load("fashion_mnist", split="train")
            test = datasets.load("fashion_mnist", split="test")
            pool, keep = blind_data.fashion_blind(train)
            blind_data.save_npz(data / "fashion_blind.npz", pool, indices=keep)
            blind_data.write_named_folder(data / "fashion_blind", pool, test)
            blind_data.check_named_folder("fashion_mnist", data / "fashion_blind", pool, test)
            per_class = np.bincount(pool.labels).tolist()
            known[source] = {"dataset": "fashion_mnist", "data_dir": str(data / "fashion_blind"),
                             "pool_images": len(pool), "per_class": per_class, "test_images": len(test)}
        else:
            everything, origin = blind_data.animal_shape(wheel)
            pool, test = blind_data.animal_split(everything)
            blind_data.save_npz(data / "animal_pool.npz", pool)
            blind_data.save_npz(data / "animal_test.npz", test)
            blind_data.write_named_folder(data / "animal_shape", pool, test)
            blind_data.check_named_folder("mnist", data / "animal_shape", pool, test)
            known[source] = {"dataset": "mnist", "data_dir": str(data / "animal_shape"), "origin": origin,
                             "all_images": len(everything), "pool_images": len(pool), "test_images": len(test)}
        print(f"prepared {source}: {json.dumps(known[source])}")
        atomic_write_text(done, json.dumps(known, indent=1) + "\n")
    return known


def search_config(setting: Setting, seed: int, folder: Path, run: Run, data: dict[str, Any]) -> dict[str, Any]:
    """The replicate's config file: the commit's defaults, with only what the protocol names."""
    config = {"dataset": data["dataset"], "seed": seed, "train_set_size": setting.n, "iterations": run.iterations,
              "child_epochs": run.child_epochs, "workers": run.workers, "precision": setting.precision,
              "experiment_name": "search", "reports_dir": str(folder / "reports"),
              "policies_dir": str(folder / "policies"), "child_models_dir": str(folder / "child_models")}
    if data["data_dir"]:
        config["data_dir"] = data["data_dir"]
    return config


def run_seeds(config: dict[str, Any]) -> list[int]:
    """The search's and race's training seeds: crn_seeds(seed, search_seeds + race_seeds), at this commit's defaults."""
    defaults = SearchConfig()
    return crn_seeds(config["seed"], defaults.search_seeds + defaults.race_seeds)


def evaluate_args(setting: Setting, seed: int, folder: Path, run: Run, data: dict[str, Any]) -> list[str]:
    policy = folder / "reports" / "experiments" / "search" / "best_policy.json"
    args = ["evaluate", "--dataset", data["dataset"], "--policy", str(policy), "--baselines", ",".join(FREE_RECIPES),
            "--tune-randaugment", "--train-size", str(setting.n), "--seed", str(seed), "--seeds", str(run.test_seeds),
            "--epochs", str(run.epochs), "--out", str(folder / "evaluation"), "--name", f"{setting.key}-{seed}"]
    if data["data_dir"]:
        args += ["--data-dir", data["data_dir"]]
    return args + (["--precision", EVAL_PRECISION] if EVAL_PRECISION else [])


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()


def _cli(args: Sequence[str], logfile: Path) -> tuple[int, float]:
    """Run `deepaug <args>` as a user would (this Python's `-m deepaug`), output appended to logfile."""
    start = time.time()
    with logfile.open("a") as fh:
        fh.write(f"\n$ deepaug {' '.join(args)}\n")
        fh.flush()
        rc = subprocess.run([sys.executable, "-m", "deepaug", *args], stdout=fh, stderr=subprocess.STDOUT,
                            check=False).returncode
    return rc, time.time() - start


def _step(record: dict[str, Any], name: str, args: Sequence[str], folder: Path) -> bool:
    """One CLI step, its wall time and load in the record (saved); False when it failed."""
    step = {"step": name, "command": "deepaug " + " ".join(args), "rc": None, "started": time.time(),
            "load_start": os.getloadavg(), "commit": _git("rev-parse", "HEAD"),
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))}
    record.setdefault("steps", []).append(step)  # saved before it runs: a killed step keeps rc null
    record["status"] = f"running {name} (rc null after a kill: run again to resume it)"
    atomic_write_text(folder / "replicate.json", json.dumps(record, indent=1) + "\n")
    rc, seconds = _cli(args, folder / f"{name}.log")
    step.update(rc=rc, wall_seconds=seconds, load_end=os.getloadavg())
    record["status"] = "running" if rc == 0 else f"failed: {name} exited {rc} (run again to resume it)"
    atomic_write_text(folder / "replicate.json", json.dumps(record, indent=1) + "\n")
    return rc == 0


def run_replicate(out: Path, setting: Setting, seed: int, run: Run, data: dict[str, Any]) -> None:
    folder = out / setting.key / str(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = search_config(setting, seed, folder, run, data)
    check_seeds(range(seed, seed + run.test_seeds), run_seeds(config), f"{setting.key} seed {seed}")
    path = folder / "replicate.json"
    record = json.loads(path.read_text()) if path.exists() else {
        "setting": setting.key, "label": setting.label, "seed": seed, "train_images": setting.n, "data": data,
        "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "test_seeds": [seed, seed + run.test_seeds - 1], "run_seeds": run_seeds(config)}
    atomic_write_text(folder / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    experiment = folder / "reports" / "experiments" / "search"
    if not (experiment / "verdict.json").exists():
        log.info("%s seed %d: search", setting.key, seed)
        if not _step(record, "optimize", ["optimize", "--config", str(folder / "config.yaml")], folder):
            return
    if not (folder / "evaluation" / "summary.csv").exists():  # a finished evaluation is never run again
        log.info("%s seed %d: evaluation on the test images", setting.key, seed)
        if not _step(record, "evaluate", evaluate_args(setting, seed, folder, run, data), folder):
            return
    record["status"] = "done"
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def _runs(folder: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """runs.csv's rows (numbers read as evaluate's readers expect) and summary.csv's method kinds."""
    with (folder / "runs.csv").open(newline="") as fh:
        runs = [{**r, "seed": int(r["seed"]), "test_accuracy": float(r["test_accuracy"]),
                 "test_images": int(r["test_images"]) if r.get("test_images") else None} for r in csv.DictReader(fh)]
    with (folder / "summary.csv").open(newline="") as fh:
        kinds = {r["method"]: r["kind"] for r in csv.DictReader(fh)}
    return runs, kinds


def paired_gain(runs: list[dict[str, Any]], method: str, base: str) -> tuple[float, float, float] | None:
    """(mean, low, high) in points of `method` over `base` on evaluate's runs (seeds and test images crossed)."""
    g = Gain.of(_fractions(runs, method), _fractions(runs, base), _test_images(runs, method), _test_images(runs, base))
    return None if g is None else (g.mean, g.low, g.high)


def _op_names(definition: Any) -> set[str] | None:
    """The ops a method's stored definition (evaluation.json) draws from; None for none or unknown."""
    if not isinstance(definition, dict):
        return None
    ops = definition.get("distribution", {}).get("ops") if "distribution" in definition else definition.get("ops")
    return None if not ops else {o["op"] if isinstance(o, dict) else o for o in ops}


def form_note(evaluation: Path, answer: str, best: str) -> str | None:
    """When the answer is a free recipe (the search's control) but evaluate's baseline of that name draws
    from other ops (deepaug before a9b8313 kept `color` on grayscale images), a sentence that says so."""
    methods = json.loads((evaluation / "evaluation.json").read_text()).get("methods", {})
    mine, theirs = _op_names(methods.get(answer)), _op_names(methods.get(best))
    if mine is None or theirs is None or mine == theirs:
        return None
    extra = ", ".join(sorted(theirs ^ mine))
    return (f"the answer is the search's {best} over {len(mine)} ops; evaluate's {best} draws from {len(theirs)} "
            f"({extra} differing): two forms of one recipe, so the gain over it is not zero by construction")


def replicate_row(folder: Path) -> dict[str, Any] | None:
    """A finished replicate's gains (the answer over each baseline) and what the search said; None if unfinished."""
    record = json.loads((folder / "replicate.json").read_text())
    if record.get("status") != "done":
        return None
    verdict = json.loads((folder / "reports" / "experiments" / "search" / "verdict.json").read_text())
    runs, kinds = _runs(folder / "evaluation")
    answer = next(m for m, k in kinds.items() if k == "policy")
    gains = {base: paired_gain(runs, answer, base) for base in (m for m, k in kinds.items() if k != "policy")}
    key = key_named(verdict["best_free_baseline"])
    best = baseline_methods((key,))[0].name if key else verdict["best_free_baseline"]
    ta = baseline_methods(("trivialaugment",))[0].name
    forms = form_note(folder / "evaluation", answer, best) if not verdict.get("beat_controls") else None
    return {"form_note": forms, "setting": record["setting"], "label": record["label"], "seed": record["seed"],
            "commits": sorted({record["commit"]} | {s["commit"] for s in record.get("steps", ())}),
            "dirty": record["dirty"] or any(s.get("dirty") for s in record.get("steps", ())),
            "gains": gains, "best_free": best,
            "gain_ta": gains.get(ta), "gain_best": gains.get(best), "verdict": verdict.get("message", ""),
            "beat_controls": verdict.get("beat_controls"), "search_wall": verdict.get("wall_seconds_last_run"),
            "steps": record.get("steps", []),
            "optimize_runs": [st.get("wall_seconds") for st in record.get("steps", ())
                              if st["step"] == "optimize"]}


def report(out: Path) -> None:
    rows = [r for p in sorted(out.glob("*/*/replicate.json")) if (r := replicate_row(p.parent)) is not None]
    unfinished = [str(p.parent.relative_to(out)) for p in sorted(out.glob("*/*/replicate.json"))
                  if json.loads(p.read_text()).get("status") != "done"]
    print("\n".join(report_lines(rows, analyse(rows), unfinished)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="output folder (default with --smoke: a new temp folder)")
    parser.add_argument("--only", action="append", help="a setting key (repeatable): " +
                        ", ".join(s.key for s in SETTINGS))
    parser.add_argument("--seed", type=int, action="append", help="only this replicate seed (repeatable)")
    parser.add_argument("--prepare", action="store_true", help="build and check the data, train nothing")
    parser.add_argument("--report", action="store_true", help="print the table and the analysis")
    parser.add_argument("--smoke", action="store_true", help="digits at tiny sizes, to try the plumbing")
    parser.add_argument("--animal-wheel", help="read Animal-Shape out of this animal-shape-mnist 0.39 wheel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.out is None and not args.smoke:
        parser.error("OUT is required (except with --smoke)")
    out = Path(args.out or tempfile.mkdtemp(prefix="blind-smoke-")).resolve()
    if args.report:
        report(out)
        return 0
    run, settings = (SMOKE, SMOKE_SETTINGS) if args.smoke else (PROTOCOL, SETTINGS)
    settings = [s for s in settings if not args.only or s.key in args.only]
    data = prepare(out, {s.source for s in settings}, args.animal_wheel)
    if args.prepare:
        return 0
    for setting in settings:
        for seed in (s for s in setting.seeds if not args.seed or s in args.seed):
            try:
                run_replicate(out, setting, seed, run, data[setting.source])
            except InputError as exc:  # the seed check: stop before any training of this replicate
                print(f"blind: {exc}", file=sys.stderr)
                return 2
    report(out)
    print(f"output: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
