"""The free recipes: what a user can type in one line instead of running a search.

They are the distribution search's controls (screened like candidates, the strongest raced
against the finalists; the answer is never separably worse than the best of them) and
`deepaug evaluate`'s baselines. `FREE_RECIPES` is the one list of them: adding a recipe is
one line there (a key of `deepaug.policy.baselines.make`, or of `_EXTRA` below).

In the search, a recipe that is a point of the distribution space is that point (so the
optimizer learns from it); any other is the baseline's policy (`augmenter.policy`).
Trial numbers follow the list: trial 1 is TrivialAugment (the reference of every paired
gain in the screen and rungs), trial 2 RandAugment, as in experiments stored before the
control set grew, then the others.

>>> [number for number, _ in enumerate(FREE_RECIPES, start=1)][:2]
[1, 2]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from deepaug.errors import InputError
from deepaug.policy.baselines import BASELINES, DEFAULT_OPS, TrivialAugment
from deepaug.policy.baselines import make as make_baselines
from deepaug.policy.core import Policy

CUTMIX_HALF = 0.5  # CutMix's own probability (Yun et al. 2019, cutmix_prob 0.5 in the authors' code)
# The free recipes, in trial order (module docstring); each with its source:
FREE_RECIPES = (
    "trivialaugment",            # TrivialAugment (Mueller & Hutter 2021): one op, magnitude uniform 0..30
    "randaugment",               # RandAugment (Cubuk et al. 2020) N=2, M=9
    "none",                      # no augmentation
    "flip-crop",                 # horizontal flip 1/2 + pad-and-crop, the standard CIFAR base (He et al. 2016)
    "trivialaugment-flip-crop",  # TrivialAugment on the standard base, as its paper trains CIFAR
    "trivialaugment-cutmix",     # TrivialAugment + CutMix on half the batch (CutMix's probability 1/2)
)
BEFORE_CONTROL_SET = ("trivialaugment", "randaugment")  # the controls of experiments stored before FREE_RECIPES
REFERENCE = "trivialaugment"  # trial 1: every paired gain of the screen and the rungs is over it
RACED_CONTROLS = 2  # the controls with the best screen rewards that race the finalists (config raced_controls)
NAMES = {"trivialaugment": "TrivialAugment", "randaugment": "RandAugment", "none": "no augmentation",
         "flip-crop": "flip + crop", "trivialaugment-flip-crop": "TrivialAugment + flip + crop",
         "trivialaugment-cutmix": "TrivialAugment + CutMix 1/2"}


def _trivialaugment_cutmix(ops: Sequence[str] | None) -> Policy:
    distribution = TrivialAugment(ops).policy.distribution
    return Policy.from_distribution(dataclasses.replace(distribution, cutmix=CUTMIX_HALF))


# recipes that deepaug.policy.baselines.make does not build (yet): key -> policy over `ops`
_EXTRA: dict[str, Callable[[Sequence[str] | None], Policy]] = {"trivialaugment-cutmix": _trivialaugment_cutmix}


def known() -> list[str]:
    """Every key a recipe may be named by: make's, then the extra ones."""
    return list(BASELINES) + [k for k in _EXTRA if k not in BASELINES]


def check_keys(keys: Sequence[str], what: str = "controls") -> tuple[str, ...]:
    """`keys` as a tuple, or InputError naming an unknown or repeated key."""
    if isinstance(keys, str) or not keys:
        raise InputError(f"{what} must be a non-empty list of recipe names, got {keys!r}; choose from "
                         f"{', '.join(known())}")
    unknown = [k for k in keys if k not in known()]
    if unknown:
        raise InputError(f"{what}: unknown recipe(s) {unknown}; choose from {', '.join(known())}")
    if len(set(keys)) != len(keys):
        raise InputError(f"{what} lists a recipe twice: {list(keys)}")
    return tuple(keys)


def recipe(key: str, ops: Sequence[str] | None = None, randaugment: tuple[int, float] | None = None) -> tuple[str, Any]:
    """(display name, augmenter) of recipe `key` over `ops` (None for "none"); `randaugment`: (N, M)
    other than the standard ones."""
    if key in BASELINES:
        extra = {} if randaugment is None else {"randaugment_n": randaugment[0],
                                                "randaugment_magnitude": randaugment[1]}
        return make_baselines([key], ops=ops, **extra)[0]
    if key in _EXTRA:
        return NAMES.get(key, key), _EXTRA[key](ops)
    check_keys([key], "recipe")
    raise AssertionError(key)  # pragma: no cover (check_keys raised)


def recipe_policy(key: str, ops: Sequence[str] | None = None) -> Policy:
    """Recipe `key` as a Policy (what a trial trains with); InputError when it has no policy form."""
    name, augmenter = recipe(key, ops)
    if augmenter is None:
        return Policy.noop()
    policy = augmenter if isinstance(augmenter, Policy) else getattr(augmenter, "policy", None)
    if not isinstance(policy, Policy):
        raise InputError(f"the free recipe {key!r} ({name}) has no policy form a search trial can train with; "
                         "leave it out of controls (deepaug evaluate still compares with it)")
    return policy


@dataclass(frozen=True)
class Control:
    """One control of a distribution search: its trial number, recipe key, display name and policy."""

    number: int
    key: str
    name: str
    policy: Policy


def check_controls(keys: Sequence[str]) -> tuple[str, ...]:
    """The config's `controls`: known recipes, TrivialAugment first (the reference), else InputError."""
    keys = check_keys(keys)
    if keys[0] != REFERENCE:
        raise InputError(f"controls must start with {REFERENCE!r} (trial 1, the reference of every paired gain in "
                         f"the screen and the rungs), got {list(keys)}")
    return keys


def make_controls(keys: Sequence[str], space: Any) -> list[Control]:
    """The controls `keys` of a search over `space` (a DistributionSpace), numbered from 1: the
    space's point where it has the recipe, else the recipe's own policy over the space's ops."""
    points = space.recipes()
    out = []
    for number, key in enumerate(check_controls(keys), start=1):
        policy = points[key] if key in points else recipe_policy(key, [o for o in DEFAULT_OPS if o in space.ops])
        out.append(Control(number, key, NAMES.get(key) or recipe(key)[0], policy))
    return out

