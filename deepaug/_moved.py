"""Old import paths: deepaug was one flat folder of modules until 0.1; they now live in packages.

`deepaug.k8s_augment` (any old module path, as an attribute: `from deepaug import k8s_augment`)
still works: it gives the module at its new place, with a DeprecationWarning naming that place.
Names that were read from a module which is now a package of the same name
(`deepaug.training.train_child`) resolve the same way, through `attribute()`. Only the packages'
module-level `__getattr__` call this module: nothing here runs when deepaug is imported, and no
import hook is installed.
"""
from __future__ import annotations

import importlib
import importlib.util
import warnings
from types import ModuleType
from typing import Any, Mapping

# old module -> its new place
MODULES = {
    "deepaug.augment_plan": "deepaug.augmentation.plan", "deepaug.augment_proc": "deepaug.augmentation.processes",
    "deepaug.augment_run": "deepaug.api", "deepaug.augment_workers": "deepaug.augmentation.workers",
    "deepaug.augmenter": "deepaug.policy.core", "deepaug.baselines": "deepaug.policy.baselines",
    "deepaug.builtin": "deepaug.policy.builtin", "deepaug.child_models": "deepaug.training.models",
    "deepaug.config": "deepaug.search.config", "deepaug.controller": "deepaug.search.controller",
    "deepaug.demo": "deepaug.reports.demo", "deepaug.distribution": "deepaug.policy.distribution",
    "deepaug.distribution_space": "deepaug.search.distribution_space",
    "deepaug.evaluate": "deepaug.evaluation.evaluate", "deepaug.evaluation_store": "deepaug.evaluation.store",
    "deepaug.executors": "deepaug.execution.executors", "deepaug.experiment": "deepaug.search.experiment",
    "deepaug.identity": "deepaug.storage.identity", "deepaug.inputs": "deepaug.augmentation.inputs",
    "deepaug.k8s_api": "deepaug.kubernetes.client", "deepaug.k8s_augment": "deepaug.kubernetes.augment",
    "deepaug.k8s_augment_cli": "deepaug.cli.augment", "deepaug.k8s_executor": "deepaug.kubernetes.executor",
    "deepaug.k8s_manifests": "deepaug.kubernetes.manifests", "deepaug.keras_augment": "deepaug.adapters.keras",
    "deepaug.local_pool": "deepaug.execution.local_pool", "deepaug.manifest": "deepaug.augmentation.manifest",
    "deepaug.notebook": "deepaug.search.notebook", "deepaug.outputs": "deepaug.augmentation.outputs",
    "deepaug.pipeline": "deepaug.run", "deepaug.report": "deepaug.reports.report",
    "deepaug.reward": "deepaug.training.reward", "deepaug.rungs": "deepaug.training.rungs",
    "deepaug.search_space": "deepaug.search.space", "deepaug.shards": "deepaug.augmentation.shards",
    "deepaug.storage_local": "deepaug.storage.atomic", "deepaug.study": "deepaug.search.study",
    "deepaug.tfrecord": "deepaug.augmentation.tfrecord", "deepaug.trials": "deepaug.execution.trials",
    "deepaug.tuned_randaugment": "deepaug.evaluation.tuned_randaugment",
    "deepaug.variants": "deepaug.augmentation.variants",
    "deepaug.work_queue": "deepaug.augmentation.work_queue", "deepaug.worker": "deepaug.kubernetes.trial_worker",
    "deepaug.worker_process": "deepaug.processes.spawning",
}


def _warn(old: str, new: str, stacklevel: int = 4) -> None:
    # 4: _warn, its caller here, the module's __getattr__, then the user's line that asked
    warnings.warn(f"{old} moved to {new}; import it from there", DeprecationWarning, stacklevel=stacklevel)


def module(name: str) -> ModuleType:
    """`deepaug.<name>` for an old module path (`deepaug.k8s_augment`): the module at its new place, with a
    warning; deepaug's module-level `__getattr__` calls this, so `from deepaug import k8s_augment` works.
    `import deepaug.k8s_augment` does not: that form would need an import hook, and importing deepaug
    must not change how Python imports."""
    new = MODULES.get(f"deepaug.{name}")
    if new is None:
        raise AttributeError(f"module 'deepaug' has no attribute {name!r}")
    _warn(f"deepaug.{name}", new)
    return importlib.import_module(new)


def attribute(package: str, name: str, old_module: str) -> Any:
    """`package.name` for a package that was a module: the name from `old_module`'s new place, with a warning."""
    # a submodule not imported yet is not an old name (`from deepaug.training import rungs` asks here first)
    if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is None:
        found = importlib.import_module(old_module)
        if hasattr(found, name):
            _warn(f"{package}.{name}", f"{old_module}.{name}")
            return getattr(found, name)
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def moved_name(old_module: str, new_module: str, name: str) -> Any:
    """`name` from `new_module`, loaded on first use, with a DeprecationWarning naming the new place:
    the module-level `__getattr__` of a module whose names all moved (`deepaug.torch`)."""
    if name.startswith("__"):  # module probes (__path__, __wrapped__, ...) load nothing
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(new_module), name)
    _warn(f"{old_module}.{name}", f"{new_module}.{name}", stacklevel=4)
    return value


def names(old_module: str, name: str, table: Mapping[str, str]) -> Any:
    """The module-level `__getattr__` of a module some of whose names moved: `table` maps each to its new module."""
    if name not in table:
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(table[name]), name)
    _warn(f"{old_module}.{name}", f"{table[name]}.{name}", stacklevel=4)
    return value
