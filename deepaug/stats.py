"""Small statistics shared by the search's race and the evaluation."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The t-distribution interval of the mean (std with ddof 1); (nan, nan) for fewer than 2 values.

    >>> low, high = t_interval([1.0, 2.0, 3.0])
    >>> round(low, 3), round(high, 3)
    (-0.484, 4.484)
    """
    from scipy.stats import t  # scipy is heavy (the search extra): loaded on first interval

    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return math.nan, math.nan
    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return float(x.mean() - half), float(x.mean() + half)


def crossed_half_width(table: np.ndarray, confidence: float = 0.95) -> float:
    """Half the width of an interval for the grand mean of a seeds x items table (paired
    differences: one row per seed, one column per test or validation image), counting the luck
    of both: the seeds and the items are each a sample, crossed (every seed scores every item).

    The grand mean's variance is s_seed^2 / S + s_item^2 / I + s_rest^2 / (S I), from the two-way
    random-effects model. Its unbiased estimate is V_rows + V_cols - V_rest, where V_rows is the
    variance of the row means over S (what a t interval over seeds uses), V_cols that of the column
    means over I (what an interval over items uses), and V_rest the residual mean square over S I,
    which each of the other two counts once. Degrees of freedom by Welch-Satterthwaite (at least
    S - 1); the interval is never narrower than either one alone (a t interval over the seeds, a
    normal interval over the items). nan with fewer than 2 seeds or items.

    >>> seeds_only = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4])  # every item alike: the t interval over seeds
    >>> round(crossed_half_width(seeds_only), 3)
    2.484
    """
    from scipy.stats import norm, t  # scipy is heavy (the search extra)

    x = np.asarray(table, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 2:
        return math.nan
    seeds, items = x.shape
    v_rows, v_cols, v_rest = crossed_variances(x)
    variance = max(v_rows + v_cols - v_rest, 0.0)
    spread = v_rows ** 2 / (seeds - 1) + v_cols ** 2 / (items - 1)
    q = 0.5 + confidence / 2
    df = max(variance ** 2 / spread if spread > 0 else math.inf, seeds - 1)  # no fewer than the seeds'
    alone = max(float(t.ppf(q, seeds - 1)) * math.sqrt(v_rows), float(norm.ppf(q)) * math.sqrt(v_cols))
    return max(float(t.ppf(q, df)) * math.sqrt(variance) if variance > 0 else 0.0, alone)


def crossed_variances(table: np.ndarray) -> tuple[float, float, float]:
    """(V_rows, V_cols, V_rest) of a seeds x items table with at least 2 of each (see
    `crossed_half_width`): the variance of the row means over S, of the column means over I,
    and the residual mean square over S I."""
    x = np.asarray(table, dtype=np.float64)
    seeds, items = x.shape
    rows, cols = x.mean(axis=1), x.mean(axis=0)
    rest = x - rows[:, None] - cols[None, :] + x.mean()
    return (float(rows.var(ddof=1)) / seeds, float(cols.var(ddof=1)) / items,
            float(np.square(rest).sum()) / ((seeds - 1) * (items - 1)) / (seeds * items))
