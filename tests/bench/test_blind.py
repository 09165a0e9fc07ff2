"""The pure parts of bench/blind.py (issue 37's blind protocol): the blind pool rule, the seed
check and the analysis, on made-up labels and numbers (no training, no real data)."""
import json
import math

import numpy as np
import pytest

from bench.blind_analysis import analyse, check_seeds, report_lines, separably_worse
from bench.blind_data import blind_indices, pilot_indices
from deepaug.datasets import Dataset, split_train_val
from deepaug.errors import InputError


def _indexed(labels):
    """A Dataset whose images carry their own index (3 bytes of one pixel), to read back which
    images split_train_val took."""
    i = np.arange(len(labels))
    images = np.stack([i // 65536, (i // 256) % 256, i % 256], axis=-1).astype(np.uint8)[:, None, None, :]
    return Dataset(images, np.asarray(labels, dtype=np.int64), ("a", "b", "c"), "made-up")


def _index_of(part):
    px = part.images[:, 0, 0, :].astype(np.int64)
    return set((px[:, 0] * 65536 + px[:, 1] * 256 + px[:, 2]).tolist())


def test_the_pilot_rule_takes_the_prefixes_split_train_val_took():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1, 2], 40)[rng.permutation(120)]  # 40 per class, shuffled
    data = _indexed(labels)
    # seed 0: 3 + 6 (train + validation) + 4 ("fresh") per class = the first 13; seeds 1 and 2: 5 per class
    used = set()
    for seed, train, val in ((0, 3, 10), (1, 2, 3), (2, 5, 0)):
        parts = split_train_val(data, 3 * train, val_size=3 * val if val else None, seed=seed)
        used |= _index_of(parts[0]) | (_index_of(parts[1]) if val else set())
    excluded = set(pilot_indices(labels, ((0, 13), (1, 5), (2, 5))).tolist())
    assert used == excluded
    kept = blind_indices(labels, ((0, 13), (1, 5), (2, 5)))
    assert not set(kept.tolist()) & excluded and len(kept) + len(excluded) == 120
    # overlapping prefixes are excluded once: each class keeps between 40 - 23 and 40 - 13 images
    assert all(17 <= n <= 27 for n in np.bincount(labels[kept]))


def test_the_pilot_rule_on_a_tiny_label_array_excludes_exactly_these():
    labels = np.array([0, 1, 0, 1, 0, 1])
    # one default_rng(0) across the classes: it permutes [0, 2, 4] to [4, 0, 2], then [1, 3, 5] to [5, 3, 1]
    assert pilot_indices(labels, ((0, 1),)).tolist() == [4, 5]
    assert blind_indices(labels, ((0, 1),)).tolist() == [0, 1, 2, 3]
    assert pilot_indices(labels, ((0, 2),)).tolist() == [0, 3, 4, 5]


def test_check_seeds_refuses_a_test_seed_that_is_a_search_or_race_seed():
    check_seeds(range(37001, 37011), [3772481013, 3123804496], "fashion_4000 seed 37001")  # disjoint: passes
    with pytest.raises(InputError, match=r"fashion_4000 seed 37001: test seed\(s\) \[37005\]"):
        check_seeds(range(37001, 37011), [99, 37005], "fashion_4000 seed 37001")


def _row(setting, seed, ta, best, commit="abc1234"):
    return {"setting": setting, "label": setting, "seed": seed, "commits": [commit], "dirty": False,
            "gains": {"TrivialAugment": ta, "B": best}, "best_free": "B", "gain_ta": ta, "gain_best": best,
            "verdict": "v", "search_wall": 3000.0 if setting == "fashion_4000" else 100.0}


def test_analyse_means_intervals_and_targets_on_made_up_gains():
    rows = [_row("fashion_4000", 37001, (1.0, 0.5, 1.5), (0.4, -0.1, 0.9)),
            _row("fashion_4000", 37002, (0.6, 0.1, 1.1), (0.2, -0.3, 0.7)),
            _row("digits_800", 37021, (0.2, -0.4, 0.8), (-0.6, -1.0, -0.2))]
    result = analyse(rows)
    assert result["over_ta"]["mean"] == pytest.approx(0.6)
    # t interval over 3 replicates: 0.6 +- t(0.975, 2) * 0.4 / sqrt(3)
    assert result["over_ta"]["high"] - 0.6 == pytest.approx(4.302653 * 0.4 / math.sqrt(3), rel=1e-5)
    assert result["over_best"]["mean"] == pytest.approx(0.0)
    assert result["per_setting"]["fashion_4000"]["over_best"]["mean"] == pytest.approx(0.3)
    assert math.isnan(result["per_setting"]["digits_800"]["over_ta"]["low"])  # one replicate: no interval
    assert result["separably_worse"] == [("digits_800", 37021)]
    assert result["targets"] == {"mean gain over TrivialAugment >= +0.5": True,
                                 "mean gain over the best free baseline >= +0.3": False,
                                 "no replicate separably worse than the best free baseline": False,
                                 "4,000-image search <= 60 minutes": True}
    text = "\n".join(report_lines(rows, result, ["animal_1000/37031"]))
    assert "Separably worse than the best free baseline: digits_800 37021" in text
    assert "Unfinished or failed (reported as such): animal_1000/37031" in text


def test_separably_worse_needs_the_whole_interval_below_zero_and_targets_unmeasured_without_rows():
    assert separably_worse((-0.5, -0.9, -0.1)) and not separably_worse((-0.5, -0.9, 0.0))
    assert not separably_worse(None) and not separably_worse((-0.5, math.nan, math.nan))
    assert set(analyse([])["targets"].values()) == {None}
    mixed = analyse([_row("digits_800", 1, (0.1, 0, 0.2), (0.1, 0, 0.2), "a"),
                     _row("digits_800", 2, (0.1, 0, 0.2), (0.1, 0, 0.2), "b")])
    assert "WARNING: the replicates ran at 2 commits" in "\n".join(report_lines([], mixed))


def test_form_note_says_when_the_answer_and_evaluate_s_recipe_of_its_name_draw_from_other_ops(tmp_path):
    from bench.blind import form_note  # (bench.blind loads deepaug's evaluation side; only this test needs it)

    answer = {"kind": "distribution", "distribution": {"ops": [{"op": "identity"}, {"op": "rotate"}]}}
    methods = {"policy search": answer, "TrivialAugment": {"augmenter": "trivialaugment",
                                                           "ops": ["identity", "rotate", "color"]},
               "no augmentation": None}
    (tmp_path / "evaluation.json").write_text(json.dumps({"methods": methods}))
    note = form_note(tmp_path, "policy search", "TrivialAugment")
    assert "over 2 ops" in note and "from 3 (color differing)" in note
    methods["TrivialAugment"]["ops"] = ["identity", "rotate"]
    (tmp_path / "evaluation.json").write_text(json.dumps({"methods": methods}))
    assert form_note(tmp_path, "policy search", "TrivialAugment") is None
    assert form_note(tmp_path, "policy search", "no augmentation") is None
