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
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return math.nan, math.nan
    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return float(x.mean() - half), float(x.mean() + half)
