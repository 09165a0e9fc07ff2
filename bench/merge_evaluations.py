"""Merge `deepaug evaluate` folders that ran different methods on the same images and seeds.

A long evaluation can be split over processes (one per core: `--baselines` and `--policy`
choosing each one's methods, the same `--dataset`, `--train-size`, `--epochs`, `--seeds`
and `--seed`); this joins their runs.csv files and prints one table with the paired
verdicts of every policy against every baseline, as `deepaug evaluate` would have.

Run:  PYTHONPATH=. python bench/merge_evaluations.py FOLDER [FOLDER ...] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from bench import emit
from deepaug.evaluation import Method, summarize, to_markdown, verdicts


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def merge(folders: list[Path]) -> str:
    runs, methods, settings = [], {}, set()
    for folder in folders:
        for row in _rows(folder / "runs.csv"):
            runs.append({**row, "seed": int(row["seed"]), "test_accuracy": float(row["test_accuracy"]),
                         "train_seconds": float(row["train_seconds"])})
            settings.add(row["epochs"])
        for row in _rows(folder / "summary.csv"):
            cost = row.get("search_seconds") or None
            methods[row["method"]] = Method(row["method"], None, row["kind"], row.get("source") or None,
                                            None if cost in (None, "", "nan") else float(cost))
    if len(settings) != 1:
        raise SystemExit(f"the folders trained for different numbers of epochs: {sorted(settings)}")
    order = sorted(methods.values(), key=lambda m: (m.kind == "policy", list(methods).index(m.name)))
    about = f"Merged from {', '.join(str(f) for f in folders)} ({len(runs)} trainings)."
    return to_markdown(summarize(runs, order), verdicts(runs, order), about)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    emit(merge(args.folders), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
