"""How often the race's (and `deepaug evaluate`'s) 95% interval for a paired gain covers the
true gain, on simulated trainings where the truth is known.

    PYTHONPATH=. python bench/interval_coverage.py [--replicates 2000] [--seed 0]
    PYTHONPATH=. python bench/interval_coverage.py --runs reports/evaluations/<name>/runs.csv

A gain is scored as every seed's pair of models (a policy and a control, trained on the same
seed) scored on the same images. Its luck has two sources: the seeds (a pair of models that
happens to favour one side on every image) and the images (images that happen to favour one
side on every seed), plus each seed's own image-by-image disagreement. Each simulated model
gets image i right when z_i + g_i [the policy only] + d_s + e_si > 0: z_i the image's ease,
g_i what the policy changes on it, d_s the model's seed luck, e_si the rest (all normal), so
that models agree on which images are hard, as trained networks do. The images are drawn
from a population of 200,000; the true gain is its mean gain over seeds, exactly (a normal
cdf over d + e). Each scenario draws `--replicates` studies of S seeds and I images and
counts how often each rule's interval covers the truth:

- seeds: a t interval of the per-seed differences (what the race used before 65b6b4b);
- images: a normal interval of the per-image differences averaged over seeds;
- wider: the wider of the two (65b6b4b to c3992b3);
- crossed: deepaug.stats.crossed_half_width, both kinds of luck from the seeds x images table
  (from dc69a41).

The scenarios are sized like this project's: a test split of 10,000 images and 10 seeds, a
race on 10,000 validation images and 5 seeds, and a small validation set (637 images, 3 seeds).
Nothing here trains a network; it measures the interval arithmetic alone. With `--runs`, it
prints instead the variance components and each rule's half-width for the policies of a real
`deepaug evaluate` run (its runs.csv keeps which test images each run got right).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, t

from deepaug.stats import crossed_half_width, crossed_variances

POPULATION = 200_000
EASE_MEAN, EASE_SD = 1.3, 1.0  # about 89% right, as basiccnn on Fashion-MNIST


@dataclass(frozen=True)
class Scenario:
    name: str
    seeds: int
    images: int
    gain_sd: float  # sd of g_i: how much the policy's effect differs from image to image
    seed_sd: float  # sd of d_s, per model
    rest_sd: float  # sd of e_si
    gain_mean: float = 0.05


SCENARIOS = (  # (0.18, 0.015, 0.27): the components of Fashion-MNIST's test evaluation (docs/benchmarks.md)
    Scenario("like Fashion-MNIST's test split: 10 seeds, 10,000 images", 10, 10_000, 0.18, 0.015, 0.27),
    Scenario("like its race: 5 seeds, 10,000 images", 5, 10_000, 0.18, 0.015, 0.27),
    Scenario("images luckier: 5 seeds, 10,000 images", 5, 10_000, 0.3, 0.01, 0.27),
    Scenario("seeds luckier: 5 seeds, 10,000 images", 5, 10_000, 0.18, 0.03, 0.27),
    Scenario("a small validation set: 3 seeds, 637 images", 3, 637, 0.18, 0.015, 0.27),
)


def true_gain(ease: np.ndarray, gain: np.ndarray, sd: float) -> float:
    """100 x the population's mean of P(policy right) - P(control right) over d + e ~ N(0, sd^2)."""
    return 100.0 * float(np.mean(norm.cdf((ease + gain) / sd) - norm.cdf(ease / sd)))


def components(table: np.ndarray) -> tuple[float, float, float]:
    """The grand mean's variance from the seeds, the images and the rest (points^2): the
    two-way random-effects estimates of s_seed^2 / S, s_image^2 / I and s_rest^2 / (S I)."""
    v_rows, v_cols, v_rest = crossed_variances(table)
    return v_rows - v_rest, v_cols - v_rest, v_rest


def real_tables(runs_csv: str) -> dict[str, np.ndarray]:
    """From an evaluation's runs.csv: each policy's seeds x test images table against each baseline."""
    import pandas as pd

    from deepaug.training.reward import read_correct

    runs = pd.read_csv(runs_csv)
    bits = {(r.method, int(r.seed)): read_correct(r.test_correct, int(r.test_images)).astype(np.float64)
            for r in runs.itertuples() if isinstance(r.test_correct, str)}
    methods = list(dict.fromkeys(runs["method"]))
    policies = [m for m in methods if m.startswith("policy ")]  # deepaug evaluate's names for policies
    out = {}
    for p in policies:
        for b in (m for m in methods if m not in policies):
            seeds = sorted(s for (m, s) in bits if m == p and (b, s) in bits)
            if len(seeds) >= 2:
                out[f"{p} vs {b} ({len(seeds)} seeds)"] = 100.0 * np.stack([bits[p, s] - bits[b, s] for s in seeds])
    return out


def half_widths(table: np.ndarray) -> dict[str, float]:
    seeds, items = table.shape
    per_seed, per_image = table.mean(axis=1), table.mean(axis=0)
    by_seeds = float(t.ppf(0.975, seeds - 1) * per_seed.std(ddof=1) / math.sqrt(seeds))
    by_images = float(norm.ppf(0.975) * per_image.std(ddof=1) / math.sqrt(items))
    return {"seeds": by_seeds, "images": by_images, "wider": max(by_seeds, by_images),
            "crossed": crossed_half_width(table)}


def run(scenario: Scenario, replicates: int, rng: np.random.Generator) -> tuple[float, dict[str, tuple[float, float]]]:
    """The true gain, and per rule: the share of studies whose interval covers it, the mean half-width."""
    ease = rng.normal(EASE_MEAN, EASE_SD, POPULATION)
    gain = rng.normal(scenario.gain_mean, scenario.gain_sd, POPULATION)
    truth = true_gain(ease, gain, math.hypot(scenario.seed_sd, scenario.rest_sd))
    covered = {rule: 0 for rule in ("seeds", "images", "wider", "crossed")}
    widths = {rule: 0.0 for rule in covered}
    for _ in range(replicates):
        pick = rng.choice(POPULATION, scenario.images, replace=False)
        z, g = ease[pick], gain[pick]
        shape = (scenario.seeds, scenario.images)

        def right(extra: np.ndarray) -> np.ndarray:
            seed_luck = rng.normal(0, scenario.seed_sd, (scenario.seeds, 1))
            return (z + extra + seed_luck + rng.normal(0, scenario.rest_sd, shape) > 0).astype(np.float64)

        table = 100.0 * (right(g) - right(np.zeros_like(g)))
        centre = float(table.mean())
        for rule, half in half_widths(table).items():
            covered[rule] += abs(centre - truth) <= half
            widths[rule] += half
    return truth, {rule: (covered[rule] / replicates, widths[rule] / replicates) for rule in covered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", help="an evaluation's runs.csv: print its variance components and intervals")
    args = parser.parse_args()
    if args.runs:
        print("| gain | mean | seed / image / rest variance (points^2) | seeds only | images only | wider | crossed |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for name, table in real_tables(args.runs).items():
            parts = " / ".join(f"{v:.4f}" for v in components(table))
            cells = " | ".join(f"+-{w:.2f}" for w in half_widths(table).values())
            print(f"| {name} | {table.mean():+.2f} | {parts} | {cells} |")
        return
    rng = np.random.default_rng(args.seed)
    print(f"coverage of a nominal 95% interval for a paired gain, {args.replicates} simulated studies each "
          f"(mean half-width in points)")
    print("| scenario | true gain | seeds only | images only | wider of the two | crossed (seeds x images) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scenario in SCENARIOS:
        truth, result = run(scenario, args.replicates, rng)
        cells = " | ".join(f"{100 * c:.1f}% (+-{w:.2f})" for c, w in result.values())
        print(f"| {scenario.name} | {truth:+.2f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
