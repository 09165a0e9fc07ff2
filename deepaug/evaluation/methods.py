"""What an evaluation compares: the methods, each a name, what augments and its search cost.

The baselines are the free recipes (`deepaug.search.controls`: `deepaug.policy.baselines`'
keys and TrivialAugment + CutMix 1/2); a policy file that came out of
an experiment carries that experiment's search seconds (see `find_search`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from deepaug.errors import InputError
from deepaug.policy.baselines import RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N
from deepaug.policy.core import Augmenter, Policy, as_policy
from deepaug.search.controls import key_named, known, recipe
from deepaug.search.experiment import Experiment

FREE_BASELINES = tuple(known())  # every free recipe: make's keys (the baselines, then the published recipes)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    """One way of augmenting: a name, what augments (None: nothing), and its search cost if known;
    a baseline's recipe `key`; for a searched policy, `best_free` the key of the recipe its search
    named the best free baseline on validation (verdict.json), the one to judge it against."""

    name: str
    augmenter: Policy | Augmenter | None
    kind: str = "baseline"
    source: str | None = None
    search_seconds: float | None = None
    key: str | None = None
    best_free: str | None = None


def baseline_methods(keys: Sequence[str] = FREE_BASELINES, randaugment_n: int = RANDAUGMENT_N,
                     randaugment_magnitude: float = RANDAUGMENT_MAGNITUDE,
                     ops: Sequence[str] | None = None, channels: int = 3) -> list[Method]:
    """The free recipes by key (deepaug.search.controls.recipe: `deepaug.policy.baselines.make`'s and
    TrivialAugment + CutMix 1/2), in FREE_BASELINES order, as methods; for images of `channels`
    channels (on grayscale without the colour-only ops, as the search's controls)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    unknown = sorted(set(keys) - set(FREE_BASELINES))
    if unknown:
        raise InputError(f"unknown baselines {unknown}; choose from {', '.join(FREE_BASELINES)}")
    return [Method(*recipe(key, ops, (randaugment_n, randaugment_magnitude), channels), key=key)
            for key in FREE_BASELINES if key in keys]


def find_search(path: Path, policy: Policy, reports_dir: str | os.PathLike[str]) -> tuple[str | None, float | None]:
    """(experiment name, search seconds) of the experiment `path` came from, else (None, None)."""
    found = _search_of(path, policy, reports_dir)
    return (None, None) if found is None else (found.name, _cost(found))


def _cost(experiment: Experiment) -> float:
    """A search's cost: its trials' training seconds, summed."""
    return float(sum(r.seconds for r in experiment.records()))


def _search_of(path: Path, policy: Policy, reports_dir: str | os.PathLike[str]) -> Experiment | None:
    """The experiment `path` came from (its best policy is `policy`); None if none."""
    for folder in (path.resolve().parent, Path(reports_dir) / "experiments" / path.stem):
        experiment = Experiment(folder)
        try:
            same = folder.is_dir() and bool(experiment.records()) and \
                Policy.from_json(folder / "best_policy.json") == policy
        except InputError as exc:
            logger.debug("%s is not the search of %s (%s)", folder, path, exc)
            same = False
        if same:
            return experiment
    return None


def policy_method(spec: str | os.PathLike[str] | Policy, reports_dir: str | os.PathLike[str] = "reports",
                  label: str | None = None) -> Method:
    """A policy file, built-in name or Policy as a method; PolicyError when it does not load. A file
    that is a search's best policy carries the search's cost and the best free baseline it named."""
    if isinstance(spec, Policy):
        return Method(f"policy {label or 'given'}", spec, "policy")
    policy = as_policy(spec)
    path = Path(spec)
    experiment = _search_of(path, policy, reports_dir) if path.is_file() else None
    if experiment is None:
        return Method(f"policy {label or (path.stem if path.is_file() else str(spec))}", policy, "policy", str(spec))
    best_free = key_named((experiment.verdict() or {}).get("best_free_baseline"))
    return Method(f"policy {label or experiment.name}", policy, "policy", str(spec), _cost(experiment),
                  best_free=best_free)


def methods_to_compare(policies: Sequence[str | os.PathLike[str] | Policy] | str | os.PathLike[str] | Policy,
                       baselines: Sequence[str], randaugment_n: int, randaugment_magnitude: float,
                       ops: Sequence[str] | None, reports_dir: str | os.PathLike[str],
                       tuning: bool = False, channels: int = 3) -> list[Method]:
    """The baselines (for images of `channels` channels), then each policy (one policy alone is a list
    of one); InputError when there is nothing to compare (and no RandAugment to tune) or two methods
    share a name."""
    if isinstance(policies, (str, os.PathLike, Policy)):
        policies = [policies]
    methods = baseline_methods(baselines, randaugment_n, randaugment_magnitude, ops, channels)
    methods += [policy_method(p, reports_dir, None if not isinstance(p, Policy) else str(i + 1))
                for i, p in enumerate(policies)]
    if not methods and not tuning:
        raise InputError("nothing to evaluate: give a policy, keep at least one baseline or tune RandAugment")
    if len({m.name for m in methods}) != len(methods):
        raise InputError(f"two methods have the same name: {[m.name for m in methods]}; give distinct policies")
    return methods


def augmentation_of(augmenter: Policy | Augmenter | None) -> Policy | str | None:
    """What `augmenter` does to a training batch, as a value to compare methods by: "none" when it
    changes nothing, a Policy for a policy or a baseline with a policy form (a baseline augments
    through its `.policy`, deepaug.policy.baselines, so equal forms train the same model), None
    for any other augmenter (never taken for another)."""
    form = augmenter if augmenter is None or isinstance(augmenter, Policy) else getattr(augmenter, "policy", None)
    if augmenter is not None and not isinstance(form, Policy):
        return None
    if form is None or (not form.changes_images and not form.mixes_labels):
        return "none"
    return form


def same_as(methods: Sequence[Method]) -> dict[str, str]:
    """{method name: the earlier method whose augmentation it is}: a searched policy that is a free
    recipe (the search's answer when no candidate beat the controls), a tuned RandAugment at the
    baseline's point. Such a method is not trained again: it has its twin's trainings."""
    seen: list[tuple[Policy | str, str]] = []
    twins: dict[str, str] = {}
    for method in methods:
        form = augmentation_of(method.augmenter)
        if form is None:
            continue
        twin = next((name for known, name in seen if known == form), None)
        if twin is None:
            seen.append((form, method.name))
        else:
            twins[method.name] = twin
    return twins

