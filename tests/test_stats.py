"""deepaug.stats: the intervals the race and `deepaug evaluate` decide with."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, t

from deepaug.stats import crossed_half_width, t_interval


def _alone(table: np.ndarray) -> tuple[float, float]:
    """Half-widths over seeds alone (t over the row means) and over items alone (normal over the column means)."""
    seeds, items = table.shape
    by_seeds = t.ppf(0.975, seeds - 1) * table.mean(axis=1).std(ddof=1) / math.sqrt(seeds)
    by_items = norm.ppf(0.975) * table.mean(axis=0).std(ddof=1) / math.sqrt(items)
    return float(by_seeds), float(by_items)


def _table(rng: np.random.Generator, seeds: int, items: int, seed_sd: float, item_sd: float, rest_sd: float):
    return (rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, item_sd, (1, items))
            + rng.normal(0, rest_sd, (seeds, items)))


def test_crossed_interval_covers_a_gain_when_seeds_and_images_are_both_lucky():
    # seeds and items carry equal luck (seed_sd^2 / 10 = item_sd^2 / 500): each interval alone
    # sees about half the variance and covers the true mean (0) less often than 95%, about 88%
    rng = np.random.default_rng(0)
    covered = {"crossed": 0, "wider": 0}
    for _ in range(400):
        table = _table(rng, 10, 500, 1.0, 7.07, 2.0)
        centre = abs(float(table.mean()))
        covered["crossed"] += centre <= crossed_half_width(table)
        covered["wider"] += centre <= max(_alone(table))
    assert 0.93 <= covered["crossed"] / 400 <= 0.98
    assert covered["wider"] / 400 <= 0.91


@pytest.mark.parametrize("seed_sd, item_sd", [(1.0, 0.0), (0.0, 20.0)])
def test_with_one_kind_of_luck_the_crossed_interval_is_that_kinds_interval(seed_sd, item_sd):
    rng = np.random.default_rng(1)
    table = _table(rng, 6, 2000, seed_sd, item_sd, 1.0)
    half = crossed_half_width(table)
    assert half >= max(_alone(table)) * (1 - 1e-12)  # never narrower than either alone
    assert half == pytest.approx(max(_alone(table)), rel=0.1)


def test_crossed_interval_needs_two_seeds_and_two_items():
    assert math.isnan(crossed_half_width(np.ones((1, 10))))
    assert math.isnan(crossed_half_width(np.ones((3, 1))))
    assert crossed_half_width(np.zeros((3, 10))) == 0.0  # no luck at all: no width
    assert all(math.isnan(v) for v in t_interval([1.0]))
