"""The pre-registered analysis of issue 37's blind protocol (docs/benchmarks.md, protocol 2), on
plain numbers: the seed check before a replicate, the analysis over replicates and its report.

A gain is (mean, low, high) in accuracy points, the 95% interval `deepaug evaluate` gives (over
its 10 seeds and the test images, crossed); None where it could not be computed.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.stats import t_interval

TARGET_OVER_TA, TARGET_OVER_BEST = 0.5, 0.3  # issue 37, section 6
SEARCH_BUDGET_SECONDS = 3600  # a 4,000-image replicate's search, controls included


def check_seeds(test_seeds: Iterable[int], run_seeds: Iterable[int], what: str) -> None:
    """InputError, before a replicate starts, when a test seed is one of its search or race seeds."""
    shared = sorted(set(test_seeds) & set(run_seeds))
    if shared:
        raise InputError(f"{what}: test seed(s) {shared} are also search/race seeds of the run "
                         f"({sorted(run_seeds)}); the protocol needs them disjoint: stop, do not run this replicate")


def summary(gains: Sequence[tuple[float, float, float] | None]) -> dict[str, Any]:
    """Mean of the per-replicate gains' means, with a 95% t interval over replicates (nan for fewer than 2)."""
    means = [g[0] for g in gains if g is not None]
    low, high = t_interval(means) if means else (math.nan, math.nan)
    return {"mean": float(np.mean(means)) if means else math.nan, "low": low, "high": high, "n": len(means)}


def separably_worse(gain: tuple[float, float, float] | None) -> bool:
    """The gain's 95% interval lies wholly below zero."""
    return gain is not None and not math.isnan(gain[2]) and gain[2] < 0


def analyse(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over replicates, and per setting: the mean gain over TrivialAugment and over the best free
    baseline with t intervals; the replicates separably worse than the best free baseline; the targets."""
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    worse = [(r["setting"], r["seed"]) for r in rows if separably_worse(r["gain_best"])]
    over_ta, over_best = summary([r["gain_ta"] for r in rows]), summary([r["gain_best"] for r in rows])
    walls = [r["search_wall"] for r in rows if r["setting"] == "fashion_4000" and r.get("search_wall") is not None]
    return {
        "over_ta": over_ta, "over_best": over_best,
        "per_setting": {s: {"over_ta": summary([r["gain_ta"] for r in rows if r["setting"] == s]),
                            "over_best": summary([r["gain_best"] for r in rows if r["setting"] == s])}
                        for s in settings},
        "separably_worse": worse,
        "targets": {"mean gain over TrivialAugment >= +0.5":  # None: not measured (no replicate)
                        over_ta["mean"] >= TARGET_OVER_TA if over_ta["n"] else None,
                    "mean gain over the best free baseline >= +0.3":
                        over_best["mean"] >= TARGET_OVER_BEST if over_best["n"] else None,
                    "no replicate separably worse than the best free baseline": not worse if rows else None,
                    "4,000-image search <= 60 minutes": max(walls) <= SEARCH_BUDGET_SECONDS if walls else None},
        "commits": sorted({c for r in rows for c in r["commits"]}),  # the replicate's start and each step's
    }


def _gain(g: tuple[float, float, float] | None) -> str:
    if g is None:
        return "-"
    return f"{g[0]:+.2f} ({g[1]:+.2f} .. {g[2]:+.2f})" if not math.isnan(g[1]) else f"{g[0]:+.2f} (no interval)"


def _mean(s: dict[str, Any]) -> str:
    interval = f"95% t interval {s['low']:+.2f} .. {s['high']:+.2f}" if not math.isnan(s["low"]) else "no interval"
    return f"{s['mean']:+.2f} ({interval}; {s['n']} replicates)" if s["n"] else "no replicate"


def report_lines(rows: Sequence[dict[str, Any]], result: dict[str, Any],
                 unfinished: Sequence[str] = ()) -> list[str]:
    """The per-replicate table and the analysis, as Markdown lines."""
    lines = ["| setting | seed | over TrivialAugment | best free baseline (verdict) | over it | worse? | "
             "search wall s | commit |", "| --- | ---: | --- | --- | --- | --- | ---: | --- |"]
    for r in rows:
        wall = "-" if r.get("search_wall") is None else f"{r['search_wall']:.0f}"
        lines.append(f"| {r['label']} | {r['seed']} | {_gain(r['gain_ta'])} | {r['best_free']} | "
                     f"{_gain(r['gain_best'])} | {'separably worse' if separably_worse(r['gain_best']) else 'no'} | "
                     f"{wall} | {'/'.join(c[:7] for c in r['commits'])}{' (dirty)' if r.get('dirty') else ''} |")
    for r in rows:
        lines.append(f"\n{r['label']}, seed {r['seed']}: the verdict: {r['verdict']}")
        if r.get("form_note"):
            lines.append(f"- note: {r['form_note']}")
        runs = r.get("optimize_runs") or []
        if len(runs) > 1:  # resumed: verdict.json's wall time is the last run's only
            walls = ", ".join("killed" if w is None else f"{w:.0f} s" for w in runs)
            lines.append(f"- the search ran {len(runs)} times (resumed): {walls}")
        lines += [f"- {st['step']}: load {st['load_start'][0]:.1f} at start"
                  + ("" if st.get("load_end") is None else f", {st['load_end'][0]:.1f} at end")
                  for st in r.get("steps", ())]
        lines += [f"- over {base}: {_gain(g)}" for base, g in r["gains"].items()]
    lines += ["", f"Over all replicates: over TrivialAugment {_mean(result['over_ta'])}; over the best free "
                  f"baseline {_mean(result['over_best'])}"]
    for s, v in result["per_setting"].items():
        lines.append(f"- {s}: over TrivialAugment {_mean(v['over_ta'])}; over the best free baseline "
                     f"{_mean(v['over_best'])}")
    worse = ", ".join(f"{s} {seed}" for s, seed in result["separably_worse"]) or "none"
    lines.append(f"Separably worse than the best free baseline: {worse}")
    lines += [f"- {name}: {'not measured' if met is None else 'met' if met else 'not met'}"
              for name, met in result["targets"].items()]
    if len(result["commits"]) > 1:
        lines.append(f"WARNING: the replicates ran at {len(result['commits'])} commits {result['commits']}; "
                     "the protocol runs all at one")
    if unfinished:
        lines.append(f"Unfinished or failed (reported as such): {', '.join(unfinished)}")
    return lines
