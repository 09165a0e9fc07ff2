"""The analysis of bench/screen_fidelity.py on made-up numbers (no training)."""
import math

import numpy as np
import pytest

from bench.screen_fidelity import analyse, bootstrap_interval, collect, policies, spearman


def test_spearman_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    assert spearman([1, 2, 3, 4], [10, 20, 35, 90]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_averages_tied_ranks_and_is_nan_for_a_constant_side():
    # ranks of y: 1, 2.5, 2.5, 4 against 1..4: corr = 0.9487
    assert spearman([1, 2, 3, 4], [1, 5, 5, 9]) == pytest.approx(0.9486833)
    assert math.isnan(spearman([1, 2, 3], [7, 7, 7]))


def test_bootstrap_interval_covers_a_strong_correlation_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = np.arange(16.0)
    y = x + rng.normal(0, 2, 16)
    lo, hi = bootstrap_interval(x, y, draws=2000, seed=0)
    assert lo <= spearman(x, y) <= hi and lo > 0.5
    assert (lo, hi) == bootstrap_interval(x, y, draws=2000, seed=0)


def _doc(key, role, seed, epochs, reward, half=None):
    return {"key": key, "label": key.upper(), "role": role, "seed": seed, "epochs": epochs, "reward": reward,
            "all": reward, "screen_half": half if half is not None else reward, "seconds": 10.0 * epochs}


def _docs(screen, full_a, full_b):
    docs = []
    for i, (s, a, b) in enumerate(zip(screen, full_a, full_b)):
        key = f"p{i}"
        docs += [_doc(key, "screen", 1, 20, s), _doc(key, "full", 2, 20, s), _doc(key, "full", 2, 60, a),
                 _doc(key, "full", 3, 20, s), _doc(key, "full", 3, 60, b)]
    return docs


def test_analyse_a_screen_that_ranks_backwards():
    screen = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    rows = collect(_docs(screen, screen[::-1], screen[::-1]), full=60)
    result = analyse(rows)
    assert result["rho"] == pytest.approx(-1.0)
    assert result["ceiling"] == pytest.approx(1.0)
    assert result["cross_seed"] == pytest.approx(-1.0)
    assert result["best3_screen_ranks"] == {"p5": 6, "p4": 5, "p3": 4}
    assert result["best3_kept"] == 0  # the screen's best third (2 of 6) holds none of them
    assert result["seconds_ratio"] == pytest.approx(200 / 600)


def test_collect_leaves_out_policies_without_every_training():
    docs = _docs([0.9, 0.8, 0.7], [0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    docs = [d for d in docs if not (d["key"] == "p1" and d["seed"] == 3 and d["epochs"] == 60)]
    assert sorted(collect(docs, full=60)) == ["p0", "p2"]


def test_the_protocol_has_16_distinct_policies_on_grayscale_and_colour():
    for channels in (1, 3):
        made = policies(channels)
        assert len(made) == 16 and len({k for k, _, _ in made}) == 16
        assert len({p for _, _, p in made}) == 16  # no two the same policy
