"""Small real data and a tiny search config for the search, API and CLI tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from _images import natural_batch


def toy_data(n: int = 240, side: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three learnable classes of natural-looking RGB images (label by brightness tercile)."""
    x = natural_batch(n, side, side, 3, seed=seed)
    brightness = x.mean(axis=(1, 2, 3))
    return x, np.digitize(brightness, np.quantile(brightness, [1 / 3, 2 / 3])).astype(np.int64)


def tiny_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A search config whose trials train one child for 1 epoch on 120 images (about 1 s).

    It is DeepAugment's 5x2 search (search_space: deepaugment), whose behaviour these tests
    pin; the distribution search's tests (test_study.py) pass search_space="distribution"."""
    config = {"search_space": "deepaugment", "train_set_size": 120, "validation_size": 60, "child_epochs": 1, "child_batch_size": 32,
              "opt_samples": 1, "opt_last_n_epochs": 1, "opt_initial_points": 2, "seed": 0, "executor": "inline",
              "experiment_name": "tiny", "reports_dir": str(tmp_path / "reports"),
              "policies_dir": str(tmp_path / "policies"), "child_models_dir": str(tmp_path / "child_models")}
    config.update(overrides)
    return config
