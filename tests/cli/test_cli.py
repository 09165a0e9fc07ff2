"""The `deepaug` command line, run as a user runs it: demo, ops, policy."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from _images import natural_batch
from deepaug.reports.demo import _GAP, _HEADER, _TILE

REPO = Path(__file__).resolve().parents[2]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def deepaug(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "deepaug.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def tile(grid: np.ndarray, row: int, col: int, side: int) -> np.ndarray:
    """The square tile at (row, col) of a demo grid of `side`-pixel tiles."""
    y0, x0 = _HEADER + _GAP + row * (side + _GAP), _GAP + col * (side + _GAP)
    return grid[y0:y0 + side, x0:x0 + side]


def test_demo_on_an_npz_dataset_writes_the_grid(tmp_path):
    images = natural_batch(30, 20, 24, 3)
    np.savez(tmp_path / "data.npz", images=images, labels=np.arange(30) % 3)
    res = deepaug("demo", "--dataset", str(tmp_path / "data.npz"), "--images", "3", "--variants", "2",
                  "--out", "out/grid.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    grid = cv2.imread(str(tmp_path / "out" / "grid.png"))
    # 3 rows, 3 columns (original + 2 variants) of 20x24 images scaled 4x to 80x96
    assert grid.shape == (_HEADER + 3 * (80 + _GAP) + _GAP, 3 * (96 + _GAP) + _GAP, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grid.png"]


def test_demo_default_runs_on_real_fashion_mnist(tmp_path):
    if not (FASHION / "train-images-idx3-ubyte.gz").exists() and not any(FASHION.glob("train-images*")):
        pytest.skip("Debian package dataset-fashion-mnist is not installed (scripts/setup.sh installs it as root)")
    res = deepaug("demo", "--out", str(tmp_path / "grid.png"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    grid = cv2.imread(str(tmp_path / "grid.png"), cv2.IMREAD_GRAYSCALE)
    side = 28 * -(-_TILE // 28)  # 28x28 images scaled up to at least _TILE
    assert grid.shape == (_HEADER + 8 * (side + _GAP) + _GAP, 5 * (side + _GAP) + _GAP)
    originals = [tile(grid, r, 0, side) for r in range(8)]
    assert all(t.std() > 10 for t in originals)  # real images, not blank tiles
    changed = [not np.array_equal(tile(grid, r, c, side), originals[r]) for r in range(8) for c in range(1, 5)]
    assert 0.3 < np.mean(changed) < 1.0  # the reference policy changes most, not all, images


def test_demo_bad_input_fails_clearly_and_writes_nothing(tmp_path):
    res = deepaug("demo", "--dataset", "no_such_dataset", "--out", "g.png", cwd=tmp_path)
    assert res.returncode == 2 and "no_such_dataset" in res.stderr
    res = deepaug("demo", "--policy", "nope.json", "--out", "g.png", cwd=tmp_path)
    assert res.returncode == 2 and "nope.json" in res.stderr
    res = deepaug("demo", "--out", "grid.jpg", cwd=tmp_path)
    assert res.returncode == 2 and ".png" in res.stderr
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_ops_and_policy_commands(tmp_path):
    res = deepaug("ops", cwd=tmp_path)
    assert res.returncode == 0 and "rotate" in res.stdout.split()
    res = deepaug("policy", str(REPO / "policies" / "reference.json"), cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("A: rotate(p=0.60, m=0.30)")
    (tmp_path / "bad.json").write_text('{"format_version": 1, "sub_policies": [[{"op": "spin", '
                                       '"probability": 0.5, "magnitude": 0.5}]]}')
    res = deepaug("policy", "bad.json", cwd=tmp_path)
    assert res.returncode == 2 and "unknown op 'spin'" in res.stderr and "Traceback" not in res.stderr


def test_a_reader_that_goes_away_is_not_a_traceback():
    # `deepaug policy reference --json | head -2`: the pipe is closed before the output is flushed
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with subprocess.Popen([sys.executable, "-m", "deepaug.cli", "policy", "reference", "--json"], stdout=write,
                          stderr=subprocess.PIPE, env=env) as process:
        os.close(write)
        err = process.stderr.read().decode()
    assert process.returncode == 141 and "Traceback" not in err and "BrokenPipeError" not in err, err
