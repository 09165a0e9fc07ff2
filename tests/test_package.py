"""Package hygiene: import without side effects, docs in step with the registry, layout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deepaug import ops

REPO = Path(__file__).resolve().parents[1]


def test_import_has_no_side_effects(tmp_path):
    code = ("import sys, deepaug, deepaug.ops, deepaug.policy.core, deepaug.policy.core, deepaug.cli.app; "
            "heavy = [m for m in ('tensorflow', 'keras', 'boto3', 'kubernetes', 'sklearn', 'skopt', 'torch', "
            "'albumentations', 'jax', 'pandas') "
            "if m in sys.modules]; print(heavy)")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert list(tmp_path.iterdir()) == []  # no folders, no files, not even in HOME


def test_docs_ops_table_matches_the_registry():
    assert ops.table_markdown() in (REPO / "docs" / "ops.md").read_text()


def test_layout_folders_exist_with_their_readmes():
    for folder in ("policies", "child_models", "reports"):
        assert (REPO / folder / "README.md").is_file()
    for path in ("k8s", "bench", "pyproject.toml", "setup.py", "README.md", ".ci/run"):
        assert (REPO / path).exists(), path
