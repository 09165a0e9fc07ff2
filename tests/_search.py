"""Small real data and a tiny search config for the search, API and CLI tests."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence

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


def read_records(folder: Path) -> dict[int, dict]:
    """The trial records of an experiment folder by number (every file must parse: none is partial)."""
    return {int(p.parent.name): json.loads(p.read_text()) for p in (folder / "trials").glob("*/record.json")}


def kill_when(command: Sequence[str], cwd: Path, env: dict[str, str], folder: Path,
              ready: Callable[[dict[int, dict]], bool], timeout: float = 240) -> None:
    """Run `command` and SIGKILL it as soon as `ready(records)` holds for its experiment folder;
    fail (with its stderr) if it ends or times out first."""
    proc = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    reached = False
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = read_records(folder)
            except (ValueError, FileNotFoundError):  # never a partial file: the caller's reads fail loudly if so
                seen = {}
            if ready(seen):
                reached = True
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert reached, f"the search did not reach the state to kill it in within {timeout:g} s (a loaded machine?)"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
