"""The light install: `pip install deepaug` into a fresh venv applies a policy and augments a folder
with no TensorFlow, scikit-optimize, pandas, matplotlib or scikit-learn, and names the extra the
search needs."""
from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "skopt", "pandas", "matplotlib", "sklearn", "scipy", "torch")
CHECK = """
import importlib.util, json, sys
import numpy as np
from deepaug.errors import InputError
from deepaug.policy import builtin
installed = [m for m in %r if importlib.util.find_spec(m) is not None]
x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
same = bool((builtin.get("reference").apply(x, seed=3) == np.load("expected.npy")).all())
try:
    from deepaug import DeepAugment
    search = "imported"
except InputError as exc:
    search = str(exc)
print(json.dumps({"installed": installed, "same_bytes": same, "search": search}))
""" % (HEAVY,)


@pytest.mark.slow
def test_the_light_install_augments_without_the_search_dependencies(tmp_path):
    from deepaug.policy import builtin

    source = tmp_path / "src"  # a copy, so that pip's build writes nothing into the repository
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "deepaug", source / "deepaug", ignore=shutil.ignore_patterns("__pycache__"))
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                              "-c", str(REPO / "requirements" / "constraints.txt"), str(source)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    np.save(work / "expected.npy", builtin.get("reference").apply(x, seed=3))
    done = subprocess.run([str(python), "-c", CHECK], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["installed"] == [] and report["same_bytes"]  # the dev venv's bytes, without TensorFlow
    assert "pip install 'deepaug[cpu]'" in report["search"]

    images = work / "images" / "cat"
    images.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), x[i])
    deepaug = tmp_path / "venv" / "bin" / "deepaug"
    augmented = subprocess.run([str(deepaug), "augment", "--policy", "rand-m9-n2", "--input", "images",
                                "--output", "out", "--workers", "1"], cwd=work, capture_output=True, text=True,
                               timeout=120)
    assert augmented.returncode == 0, augmented.stderr[-3000:]
    assert json.loads((work / "out" / "manifest.json").read_text())["totals"]
    run = subprocess.run([str(deepaug), "optimize", "--config", "quickstart", "--reports-dir", "reports"],
                         cwd=work, capture_output=True, text=True, timeout=120, env={"HOME": str(tmp_path),
                                                                                     "PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and "pip install 'deepaug[cpu]'" in run.stderr, run.stderr[-2000:]
