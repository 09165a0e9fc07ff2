"""deepaug.extras: a missing optional module is named with the extra that brings it."""
from __future__ import annotations

import sys

import pytest

from deepaug.errors import InputError
from deepaug.extras import MissingExtraError, explain, require


def test_require_imports_what_is_there():
    import numpy

    assert require("numpy", "test") is numpy


def test_a_missing_module_names_its_extra_and_is_both_an_input_and_an_import_error():
    with pytest.raises(MissingExtraError) as info:
        require("albumentations.not_a_module_here", "Policy.to_albumentations")
    assert isinstance(info.value, InputError) and isinstance(info.value, ImportError)
    missing = explain(ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow"), "deepaug run")
    assert missing == ("deepaug run needs tensorflow, which comes with deepaug[cpu], and it is not installed: "
                       "pip install 'deepaug[cpu]' (or 'deepaug[gpu]' for CUDA TensorFlow)")
    assert "deepaug[search]" in explain(ModuleNotFoundError(name="skopt.space"), "deepaug optimize")
    assert explain(ModuleNotFoundError(name="somethingelse")) is None


def test_mlflow_is_named_with_its_extra():
    assert explain(ModuleNotFoundError(name="mlflow"), "MLflowLogger") == (
        "MLflowLogger needs mlflow, which comes with deepaug[mlflow], and it is not installed: "
        "pip install 'deepaug[mlflow]'")


def test_redis_is_named_with_the_queue_extra():  # `deepaug augment --queue`, which the worker images carry
    assert explain(ModuleNotFoundError(name="redis"), "--queue") == (
        "--queue needs redis, which comes with deepaug[queue], and it is not installed: pip install 'deepaug[queue]'")


def test_no_error_of_the_library_words_its_own_install_command():
    """Every missing-extra error comes from deepaug.extras, so they all name the extra one way."""
    import ast
    from pathlib import Path

    import deepaug

    root = Path(deepaug.__file__).parent
    own = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "extras.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and any(isinstance(c, ast.Constant) and isinstance(c.value, str) and
                                                   "pip install" in c.value for c in ast.walk(node)):
                own.append(f"{path.relative_to(root)}:{node.lineno}")
    assert own == []


def test_a_work_queue_without_redis_names_the_queue_extra_from_python_too(monkeypatch):
    from deepaug.augmentation.work_queue import WorkQueue

    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'deepaug\[queue\]'"):
        WorkQueue.connect("redis://127.0.0.1:6379/0", "run")
