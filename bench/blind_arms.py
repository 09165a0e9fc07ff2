"""Issue 37's optimizer ablation (protocol 4 in docs/benchmarks.md): on each of protocol 2's
replicates, the same search with random proposals and with the published starts alone, then one
`deepaug evaluate` of their answers on the replicate's test images, against protocol 2's answer.

    PYTHONPATH=. python bench/blind_arms.py OUT                      # every replicate protocol 2 finished
    PYTHONPATH=. python bench/blind_arms.py OUT --only digits_800 --seed 37021
    PYTHONPATH=. python bench/blind_arms.py OUT --report             # the table and the analysis
    PYTHONPATH=. python bench/blind_arms.py SMOKE_OUT --smoke        # on `bench/blind.py --smoke`'s folder

OUT is bench/blind.py's folder; a replicate is taken up only once protocol 2's search and evaluation
of it are done (replicate.json status "done"). Each arm's search is OUT/<setting>/<seed>/reports/
experiments/search-<arm>/ (running it again resumes it), its log and steps in OUT/<setting>/<seed>/
arms/; the evaluation of the arms' answers, once both searches are done, is evaluation-arms/ (a
finished one is never run again). An answer equal to protocol 2's (or to the other arm's) is not
trained again: it has that answer's results.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import yaml

from bench.blind import (PROTOCOL, SETTINGS, SMOKE, SMOKE_SETTINGS, Run, Setting, _runs, _step, evaluate_args,
                         paired_gain)
from bench.blind_analysis import _gain, _mean, summary
from deepaug.evaluation.methods import baseline_methods
from deepaug.evaluation.summary import _fractions  # evaluate's own reader of runs.csv
from deepaug.policy.core import Policy
from deepaug.search.controls import FREE_RECIPES
from deepaug.search.distribution_space import DistributionSpace
from deepaug.storage.atomic import atomic_write_text

log = logging.getLogger("blind_arms")


def screened_starts(channels: int = 1) -> int:
    """How many published starts the screen trains: those that are not a control (screen.Screen drops
    them). Every blind dataset is grayscale; the count is the same for colour images."""
    space = DistributionSpace(None, channels)
    controls = {p for key, p in space.recipes().items() if key in FREE_RECIPES}
    return len([p for p in space.starts(None) if p not in controls])


ARMS = {"random": {"method": "random"}, "starts": {"iterations": screened_starts()}}


def arm_config(folder: Path, arm: str) -> dict[str, Any]:
    """Protocol 2's config of the replicate with the arm's change and its own experiment."""
    config = yaml.safe_load((folder / "config.yaml").read_text())
    return {**config, **ARMS[arm], "experiment_name": f"search-{arm}"}


def answer(folder: Path, experiment: str) -> Policy:
    return Policy.load(folder / "reports" / "experiments" / experiment / "best_policy.json")


def run_arms(folder: Path, setting: Setting, seed: int, run: Run, data: dict[str, Any]) -> None:
    arms = folder / "arms"
    arms.mkdir(exist_ok=True)
    path = arms / "replicate.json"
    record = json.loads(path.read_text()) if path.exists() else {"setting": setting.key, "seed": seed}
    for arm in ARMS:
        atomic_write_text(arms / f"{arm}.yaml", yaml.safe_dump(arm_config(folder, arm), sort_keys=False))
        if not (folder / "reports" / "experiments" / f"search-{arm}" / "verdict.json").exists():
            log.info("%s seed %d: the %s arm's search", setting.key, seed, arm)
            if not _step(record, f"optimize-{arm}", ["optimize", "--config", str(arms / f"{arm}.yaml")], arms):
                return
    if not (folder / "evaluation-arms" / "summary.csv").exists():
        bayesian = answer(folder, "search")
        distinct: list[str] = []
        for arm in ARMS:
            policy = answer(folder, f"search-{arm}")
            if policy != bayesian and all(policy != answer(folder, f"search-{a}") for a in distinct):
                distinct.append(arm)
        record["distinct_arms"] = distinct
        if distinct:
            log.info("%s seed %d: evaluation of the %s arm(s)' answers", setting.key, seed, ", ".join(distinct))
            args = evaluate_args(setting, seed, folder, run, data)
            at = args.index("--policy")
            args[at:at + 2] = [a for arm in distinct for a in ("--policy", str(_named_copy(folder, arm)))]
            args[args.index("--baselines") + 1] = "trivialaugment"
            args[args.index("--out") + 1] = str(folder / "evaluation-arms")
            args.remove("--tune-randaugment")
            if not _step(record, "evaluate-arms", args, arms):
                return
    record["status"] = "done"
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def _named_copy(folder: Path, arm: str) -> Path:
    """The arm's answer as arms/<arm>.json: evaluate names a policy by its file."""
    target = folder / "arms" / f"{arm}.json"
    shutil.copyfile(folder / "reports" / "experiments" / f"search-{arm}" / "best_policy.json", target)
    return target


def arms_row(folder: Path) -> dict[str, Any] | None:
    """Each arm's answer's test gain over TrivialAugment, and the paired differences; None if unfinished."""
    path = folder / "arms" / "replicate.json"
    if not path.exists() or json.loads(path.read_text()).get("status") != "done":
        return None
    record = json.loads(path.read_text())
    runs, kinds = _runs(folder / "evaluation")
    ta = baseline_methods(("trivialaugment",))[0].name
    bayes = next(m for m, k in kinds.items() if k == "policy")
    per_arm = {"bayesian": (runs, bayes)}
    arm_runs, arm_kinds = _runs(folder / "evaluation-arms") if record.get("distinct_arms") else ([], {})
    arm_ta = ta if arm_kinds else None
    same_ta = arm_ta is None or _fractions(arm_runs, arm_ta) == _fractions(runs, ta)
    for arm in ARMS:
        if arm in record.get("distinct_arms", []):
            method = next(m for m, k in arm_kinds.items() if k == "policy" and m.removeprefix("policy ") == arm)
            per_arm[arm] = (arm_runs, method)
        else:  # the same policy as protocol 2's answer or the other arm's
            same = answer(folder, f"search-{arm}")
            other = next((a for a in record.get("distinct_arms", []) if answer(folder, f"search-{a}") == same), None)
            per_arm[arm] = per_arm[other] if other else per_arm["bayesian"]
    gains = {arm: paired_gain(r, m, ta if r is runs else arm_ta) for arm, (r, m) in per_arm.items()}
    return {"setting": record["setting"], "seed": record["seed"], "gains": gains, "same_ta": same_ta,
            "verdicts": {arm: json.loads((folder / "reports" / "experiments" / exp / "verdict.json").read_text())
                         .get("message", "") for arm, exp in
                         (("bayesian", "search"), *((a, f"search-{a}") for a in ARMS))}}


def report(out: Path) -> None:
    rows = [r for p in sorted(out.glob("*/*/arms")) if (r := arms_row(p.parent)) is not None]
    print("| setting | seed | Bayesian over TA | random over TA | starts only over TA | same TA trainings |")
    print("| --- | ---: | --- | --- | --- | --- |")
    for r in rows:
        g = r["gains"]
        print(f"| {r['setting']} | {r['seed']} | {_gain(g['bayesian'])} | {_gain(g['random'])} | "
              f"{_gain(g['starts'])} | {'yes' if r['same_ta'] else 'NO'} |")
    for first, second in (("bayesian", "random"), ("random", "starts"), ("bayesian", "starts")):
        diffs = [None if r["gains"][first] is None or r["gains"][second] is None else
                 (r["gains"][first][0] - r["gains"][second][0],) * 3 for r in rows]
        print(f"\n{first} - {second}, mean over replicates: {_mean(summary(diffs))}")
    for r in rows:
        print(f"\n{r['setting']} {r['seed']}: " + "; ".join(f"{a}: {v}" for a, v in r["verdicts"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="bench/blind.py's output folder")
    parser.add_argument("--only", action="append", help="a setting key (repeatable)")
    parser.add_argument("--seed", type=int, action="append", help="only this replicate seed (repeatable)")
    parser.add_argument("--report", action="store_true", help="print the table and the analysis")
    parser.add_argument("--smoke", action="store_true", help="on the OUT of `bench/blind.py --smoke`: the plumbing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out).resolve()
    if args.report:
        report(out)
        return 0
    prepared = json.loads((out / "data" / "prepared.json").read_text())
    run, settings = (SMOKE, SMOKE_SETTINGS) if args.smoke else (PROTOCOL, SETTINGS)
    for setting in (s for s in settings if not args.only or s.key in args.only):
        for seed in (s for s in setting.seeds if not args.seed or s in args.seed):
            folder = out / setting.key / str(seed)
            done = folder / "replicate.json"
            if not done.exists() or json.loads(done.read_text()).get("status") != "done":
                log.info("%s seed %d: protocol 2 has not finished it; skipped", setting.key, seed)
                continue
            run_arms(folder, setting, seed, run, prepared[setting.source])
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
