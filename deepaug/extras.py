"""Optional dependencies: which pip extra brings which module, and a clear error when one is missing.

`pip install deepaug` is the light install (the policy, the ops, the augmenter, the
augmentation run). The search, evaluation and reports need `deepaug[cpu]` (or `[gpu]`),
the adapters their framework. `require` imports a module of an extra or raises
`MissingExtraError` naming the extra to install:

>>> import numpy
>>> require("numpy", "core") is numpy
True
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from deepaug.errors import InputError

# top-level module -> (extra that brings it, what to install)
MODULES: dict[str, tuple[str, str]] = {
    "tensorflow": ("cpu", "pip install 'deepaug[cpu]' (or 'deepaug[gpu]' for CUDA TensorFlow)"),
    "keras": ("cpu", "pip install 'deepaug[cpu]' (or 'deepaug[gpu]'; 'deepaug[keras]' for the layer alone)"),
    "skopt": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "pandas": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "matplotlib": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "sklearn": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "scipy": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "tensorboard": ("search", "pip install 'deepaug[cpu]' (the search with CPU TensorFlow) or 'deepaug[search]'"),
    "boto3": ("s3", "pip install 'deepaug[s3]'"),
    "botocore": ("s3", "pip install 'deepaug[s3]'"),
    "gcsfs": ("gcs", "pip install 'deepaug[gcs]'"),  # gs:// storage (deepaug.storage.fsspec_backend)
    "adlfs": ("azure", "pip install 'deepaug[azure]'"),  # az:// and abfs:// storage
    "fsspec": ("gcs", "pip install 'deepaug[gcs]' or 'deepaug[azure]' (either brings fsspec)"),
    "kubernetes": ("k8s", "pip install 'deepaug[k8s]'"),
    "torch": ("torch", "pip install 'deepaug[torch]'"),
    "torchvision": ("torch", "pip install 'deepaug[torch]'"),
    "albumentations": ("albumentations", "pip install 'deepaug[albumentations]'"),
    "mlflow": ("mlflow", "pip install 'deepaug[mlflow]'"),
    "redis": ("queue", "pip install 'deepaug[queue]'"),  # --queue redis://... (deepaug.augmentation.work_queue)
    "datasets": ("hf", "pip install 'deepaug[hf]'"),  # HuggingFace datasets as an input (deepaug.datasets.external)
    "tensorflow_datasets": ("tfds", "pip install 'deepaug[tfds]'"),  # a TFDS data directory as an input
}
SEARCH_MODULES = ("tensorflow", "keras", "skopt", "pandas", "sklearn")


class MissingExtraError(InputError, ModuleNotFoundError):
    """A module of an optional extra is not installed; the message names the extra to install."""

    def __init__(self, message: str, name: str | None = None) -> None:
        ImportError.__init__(self, message, name=name)


def missing_message(module: str, what: str = "this") -> str:
    """'<what> needs <module>, which comes with deepaug[<extra>]: <install command>'."""
    top = module.split(".")[0]
    extra, install = MODULES.get(top, ("", f"pip install {top}"))
    source = f", which comes with deepaug[{extra}]" if extra else ""
    return f"{what} needs {top}{source}, and it is not installed: {install}"


def require(module: str, what: str = "this") -> ModuleType:
    """Import `module`, or raise MissingExtraError naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module is there, one of its own dependencies is broken: show that
        raise MissingExtraError(missing_message(module, what), name=exc.name) from None


def require_search(what: str = "the search") -> None:
    """MissingExtraError unless the search's dependencies are installed (checked without importing them)."""
    for module in SEARCH_MODULES:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(missing_message(module, what), name=module)


def explain(exc: ModuleNotFoundError, what: str = "this") -> str | None:
    """The message naming the extra for a ModuleNotFoundError of an optional module, else None."""
    if isinstance(exc, MissingExtraError):
        return str(exc)
    top = (exc.name or "").split(".")[0]
    return missing_message(top, what) if top in MODULES else None

