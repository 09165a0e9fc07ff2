"""The free recipes: what a user can type in one line instead of running a search.

They are the distribution search's controls (screened like candidates, the strongest raced
against the finalists; the answer is never separably worse than the best of them) and
`deepaug evaluate`'s baselines. `FREE_RECIPES` is the one list of them: adding a recipe is
one line there (a key of `deepaug.policy.baselines.make`).

In the search, a recipe that is a point of the distribution space is that point (so the
optimizer learns from it); any other is the baseline's policy (`augmenter.policy`).
Trial numbers follow the list: trial 1 is TrivialAugment (the reference of every paired
gain in the screen and rungs), trial 2 RandAugment, as in experiments stored before the
control set grew, then the others.

>>> [number for number, _ in enumerate(FREE_RECIPES, start=1)][:2]
[1, 2]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from deepaug.errors import InputError
from deepaug.policy.baselines import DEFAULT_OPS, KEYS, RECIPE_NAMES
from deepaug.policy.baselines import make as make_baselines
from deepaug.policy.core import Policy

# The free recipes, in trial order (module docstring); each with its source:
FREE_RECIPES = (
    "trivialaugment",            # TrivialAugment (Mueller & Hutter 2021): one op, magnitude uniform 0..30
    "randaugment",               # RandAugment (Cubuk et al. 2020) N=2, M=9
    "none",                      # no augmentation
    "flip-crop",                 # horizontal flip 1/2 + pad-and-crop, the standard CIFAR base (He et al. 2016)
    "trivialaugment-flip-crop",  # TrivialAugment on the standard base, as its paper trains CIFAR
    "trivialaugment-cutmix",     # TrivialAugment + CutMix on half the batch (CutMix's probability 1/2)
    "timm-recipe",               # DeiT/timm: rand-m9-mstd0.5-inc1, MixUp 0.8 / CutMix 1.0 switched, erasing 1/4
)
BEFORE_CONTROL_SET = ("trivialaugment", "randaugment")  # the controls of experiments stored before FREE_RECIPES
REFERENCE = "trivialaugment"  # trial 1: every paired gain of the screen and the rungs is over it
RACED_CONTROLS = 2  # the controls with the best screen rewards that race the finalists (config raced_controls)
NAMES = {"trivialaugment": "TrivialAugment", "randaugment": "RandAugment", "none": "no augmentation",
         "flip-crop": "flip + crop", "trivialaugment-flip-crop": "TrivialAugment + flip + crop",
         **RECIPE_NAMES}


def key_named(name: str | None) -> str | None:
    """The key of the recipe a search calls `name` (NAMES: how its verdict names the best free baseline)."""
    return next((key for key, shown in NAMES.items() if shown == name), None)


def known() -> list[str]:
    """Every key a recipe may be named by: deepaug.policy.baselines.make's."""
    return list(KEYS)


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


def recipe(key: str, ops: Sequence[str] | None = None, randaugment: tuple[int, float] | None = None,
           channels: int = 3) -> tuple[str, Any]:
    """(display name, augmenter) of recipe `key` over `ops` (None for "none"); `randaugment`: (N, M)
    other than the standard ones; `channels` 1: less the colour-only ops, as the search's controls."""
    check_keys([key], "recipe")
    extra = {} if randaugment is None else {"randaugment_n": randaugment[0], "randaugment_magnitude": randaugment[1]}
    return make_baselines([key], ops=ops, channels=channels, **extra)[0]


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

