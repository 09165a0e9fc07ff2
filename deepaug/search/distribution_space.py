"""The distribution search space: a few dimensions that contain the strong free baselines.

A point has 13 values (fewer when ops are excluded):

- one weight level per op group, an integer 0..3 (0 switches the group off), shared by
  the group's ops: `identity`; `geometric` (rotate, shear, translate-x/y); `tone`
  (brightness, contrast, solarize, posterize, sharpness, color); `histogram`
  (auto-contrast, equalize); `photometric` (gamma, brighten, blur, sharpen, noise, hue);
  `rare` (invert, emboss, vertical flip, dropouts, salt-and-pepper, fog, clouds);
- `n`, ops per image, 1..3; `magnitude` (the top of the range) and `spread` in [0, 1];
- the base: `flip` 0/1 (probability 0 or 1/2), `crop` 0/1/2 (pad 0, 1/16 or 1/8 of the
  side), `erasing` 0/1/2 (probability 0, 1/4 or 1/2);
- the batch step: `cutmix` 0/1/2/3 (CutMix on a fraction 0, 1/4, 1/2 or all of a training
  batch's images, with their labels).

TrivialAugment is the point with identity, geometric, tone and histogram at 1, the rest
0, n 1, magnitude 1, spread 1; RandAugment(N, M) the same weights with n N, magnitude
M, spread 0. Colour-only ops (`color`, `add-to-hue-and-saturation`) are left out on
grayscale data, and then from the controls too. Like `SearchSpace`, this is the only
code that knows the point layout.

>>> space = DistributionSpace(channels=1)
>>> space.to_policy(space.to_point(space.trivialaugment())) == space.trivialaugment()
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from deepaug import ops
from deepaug.errors import InputError
from deepaug.policy.baselines import COLOUR_ONLY, DEFAULT_OPS, RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N, TRIVIAL_LEVELS
from deepaug.policy.core import Policy
from deepaug.policy.distribution import Distribution, WeightedOp
from deepaug.search.space import Point

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("identity", ("identity",)),
    ("geometric", ("rotate", "shear", "translate-x", "translate-y")),
    ("tone", ("brightness", "contrast", "solarize", "posterize", "sharpness", "color")),
    ("histogram", ("auto-contrast", "equalize")),
    ("photometric", ("gamma-contrast", "brighten", "gaussian-blur", "sharpen", "additive-gaussian-noise",
                     "add-to-hue-and-saturation")),
    ("rare", ("invert", "emboss", "vertical-flip", "dropout", "coarse-dropout", "coarse-salt-pepper", "fog",
              "clouds")),
)
BASE_OPS = ("horizontal-flip", "crop", "cutout")  # the base steps (flip, crop, erasing) use these
TRIVIAL_GROUPS = ("identity", "geometric", "tone", "histogram")  # their union is DEFAULT_OPS
WEIGHT_LEVELS = 3
MAX_N = 3
FLIPS = (0.0, 0.5)
CROPS = (0.0, 1 / 16, 1 / 8)
ERASINGS = (0.0, 0.25, 0.5)
CUTMIXES = (0.0, 0.25, 0.5, 1.0)
BASE = (("flip", FLIPS), ("crop", CROPS), ("erasing", ERASINGS), ("cutmix", CUTMIXES))


def _order() -> list[str]:
    """Op order inside a distribution: the baselines' order first (so TrivialAugment is byte
    identical), then the registry's."""
    return list(DEFAULT_OPS) + [name for name in ops.names() if name not in DEFAULT_OPS]


@dataclass(frozen=True)
class DistributionSpace:
    """Distributions over `ops` (default: every op but the timm forms, `ops.searched_names()`) for images
    with `channels` channels."""

    ops: tuple[str, ...] | None = None
    channels: int = 3

    def __post_init__(self) -> None:
        allowed = tuple(ops.searched_names()) if self.ops is None else tuple(self.ops)
        for name in allowed:
            ops.get(name)  # PolicyError naming the valid ops
        if self.channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.channels == 1:
            allowed = tuple(n for n in allowed if n not in COLOUR_ONLY)
        object.__setattr__(self, "ops", allowed)
        if not self.groups:
            raise InputError(f"the distribution search space needs at least one op outside {list(BASE_OPS)}; "
                             f"ops allows only {list(allowed)}")

    @property
    def groups(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The op groups with at least one allowed op (in GROUPS order)."""
        found = []
        for name, members in GROUPS:
            kept = tuple(m for m in members if m in self.ops)
            if kept:
                found.append((name, kept))
        return tuple(found)

    def dimension_names(self) -> list[str]:
        return [f"weight_{g}" for g, _ in self.groups] + ["n", "magnitude", "spread"] + [k for k, _ in BASE]

    def skopt_dimensions(self) -> list:
        """The space as scikit-optimize dimensions (imported only here)."""
        from skopt.space import Integer, Real  # heavy (scikit-learn); the search extra

        names = iter(self.dimension_names())
        dims = [Integer(0, WEIGHT_LEVELS, name=next(names)) for _ in self.groups]
        dims += [Integer(1, MAX_N, name=next(names)), Real(0.0, 1.0, name=next(names)),
                 Real(0.0, 1.0, name=next(names))]
        dims += [Integer(0, len(values) - 1, name=next(names)) for _, values in BASE]
        return dims

    # ------------------------------------------------------------ point <-> policy

    def to_policy(self, point: Sequence[Any]) -> Policy:
        """Decode an optimizer point (numpy scalars allowed) into a distribution Policy."""
        width = len(self.dimension_names())
        if len(point) != width:
            raise InputError(f"a point of this space has {width} values, got {len(point)}")
        k = len(self.groups)
        levels = [int(v) for v in point[:k]]
        weight = {m: float(level) for (_, members), level in zip(self.groups, levels) if level > 0 for m in members}
        entries = tuple(WeightedOp(name, weight[name]) for name in _order() if name in weight)
        n = int(point[k]) if entries else 0
        base = {key: values[int(v)] for (key, values), v in zip(BASE, point[k + 3:])}
        return Policy.from_distribution(Distribution(
            entries, n=n, magnitude=_unit(point[k + 1]), spread=_unit(point[k + 2]), levels=TRIVIAL_LEVELS, **base))

    def to_point(self, policy: Policy) -> Point:
        """Encode a distribution Policy of this space (e.g. a finished trial, for replay)."""
        d = policy.distribution
        if d is None:
            raise InputError("a sub-policy policy is not a point of the distribution search space; use "
                             "search_space: deepaugment for those")
        weights = {op.name: op for op in d.ops}
        point: Point = []
        for group, members in self.groups:
            found = {weights[m].weight for m in members if m in weights}
            if len(found) > 1 or (found and len([m for m in members if m in weights]) != len(members)):
                raise InputError(f"{policy} does not share one weight over the ops of group {group!r} "
                                 f"({list(members)})")
            level = found.pop() if found else 0.0
            if level not in range(WEIGHT_LEVELS + 1):
                raise InputError(f"group {group!r} has weight {level:g}; this space has levels 0..{WEIGHT_LEVELS}")
            point.append(int(level))
        grouped = {m for _, members in self.groups for m in members}
        strays = sorted(set(weights) - grouped)
        if strays or any(op.scale != 1.0 for op in d.ops) or d.levels != TRIVIAL_LEVELS:
            raise InputError(f"{policy} is not a point of this space (ops outside it: {strays}, per-op scales, "
                             f"or levels other than {TRIVIAL_LEVELS})")
        point += [max(1, min(MAX_N, d.n)), float(d.magnitude), float(d.spread)]
        for key, values in BASE:
            value = getattr(d, key)
            matches = [i for i, v in enumerate(values) if abs(v - value) < 1e-12]
            if not matches:
                raise InputError(f"{policy}: {key} {value:g} is not one of this space's values {list(values)}")
            point.append(matches[0])
        return point

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> list[Point]:
        """n points drawn uniformly at random (what random search proposes)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        points = []
        for _ in range(n):
            point: Point = [int(rng.integers(WEIGHT_LEVELS + 1)) for _ in self.groups]
            if not any(point):
                point[int(rng.integers(len(point)))] = 1
            point += [int(rng.integers(1, MAX_N + 1)), float(rng.random()), float(rng.random())]
            point += [int(rng.integers(len(values))) for _, values in BASE]
            points.append(point)
        return points

    def neighbours(self, point: Sequence[Any], n: int, rng: np.random.Generator) -> list[Point]:
        """n points that differ from `point` in one or two dimensions by a small step (a weight
        level, n or a base choice by one; magnitude or spread by about 0.15): the local moves
        the controller's acquisition search makes around the best points (as SMAC does)."""
        bounds = [WEIGHT_LEVELS] * len(self.groups) + [MAX_N, None, None] + [len(v) - 1 for _, v in BASE]
        lows = [0] * len(self.groups) + [1, None, None] + [0] * len(BASE)
        out: list[Point] = []
        for _ in range(n):
            moved = list(point)
            for dim in rng.choice(len(bounds), size=int(rng.integers(1, 3)), replace=False):
                if bounds[dim] is None:
                    moved[dim] = float(np.clip(float(moved[dim]) + rng.normal(0.0, 0.15), 0.0, 1.0))
                else:
                    moved[dim] = int(np.clip(int(moved[dim]) + rng.choice((-1, 1)), lows[dim], bounds[dim]))
            if any(moved[:len(self.groups)]):
                out.append(moved)
        return out

    def baseline_point(self) -> Point:
        """No augmentation: every group off, no base step."""
        return [0] * len(self.groups) + [1, 0.0, 0.0] + [0] * len(BASE)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "distribution", "ops": list(self.ops), "channels": self.channels,
                "groups": {g: list(m) for g, m in self.groups}}

    # ------------------------------------------------------------ known points

    def _trivial_point(self, n: int, magnitude: float, spread: float, flip: int = 0, crop: int = 0,
                       erasing: int = 0, cutmix: int = 0) -> Point:
        levels = [1 if g in TRIVIAL_GROUPS else 0 for g, _ in self.groups]
        return levels + [n, magnitude, spread, flip, crop, erasing, cutmix]

    def trivialaugment(self) -> Policy:
        """TrivialAugment over this space's ops (the in-study control)."""
        return self.to_policy(self._trivial_point(1, 1.0, 1.0))

    def uniform(self) -> Policy:
        """One op per image drawn uniformly from every op of the space, at TrivialAugment's magnitudes,
        no base steps: the shared stage's policy under augmentation-wise weight sharing (its shared
        weights are trained under a uniform draw over the search space; Tian et al. 2020)."""
        return self.to_policy([1] * len(self.groups) + [1, 1.0, 1.0] + [0] * len(BASE))

    def randaugment(self, n: int = RANDAUGMENT_N, magnitude: float = RANDAUGMENT_MAGNITUDE) -> Policy:
        """RandAugment(n, magnitude) over this space's ops (the second control)."""
        return self.to_policy(self._trivial_point(n, magnitude, 0.0))

    def recipes(self) -> dict[str, Policy]:
        """The free recipes that are points of this space, by their key in deepaug.search.controls."""
        points = {"trivialaugment": self._trivial_point(1, 1.0, 1.0),
                  "randaugment": self._trivial_point(RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0),
                  "none": self.baseline_point(),
                  "flip-crop": self.baseline_point()[:-len(BASE)] + [1, 1, 0, 0],
                  "trivialaugment-flip-crop": self._trivial_point(1, 1.0, 1.0, flip=1, crop=1),
                  "trivialaugment-cutmix": self._trivial_point(1, 1.0, 1.0, cutmix=2)}
        return {key: self.to_policy(point) for key, point in points.items()}

    def starting_policies(self, pilot: bool = False) -> list[Policy]:
        """Published, dataset-independent recipes tried before the model-based proposals
        (TrivialAugment and RandAugment themselves left out: they are controls).

        `pilot`: the starts of deepaug before they were published recipes (points pilots found
        on Fashion-MNIST's training split), kept only so that an experiment stored with them
        resumes as it ran (config `starts: pilot`)."""
        ta, ra = (1, 1.0, 1.0), (RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0)
        points = _PILOT_STARTS if pilot else [
            (ta, dict(flip=1, crop=1)),             # TrivialAugment on flip + pad-and-crop (Mueller & Hutter 2021)
            (ta, dict(cutmix=2)),                   # + CutMix on half the batch (Yun et al. 2019, cutmix_prob 0.5)
            (ta, dict(erasing=1)),                  # + random erasing 1/4 (timm's re_prob 0.25)
            (ta, dict(erasing=2)),                  # + random erasing 1/2 (Zhong et al. 2020, p 0.5)
            (ta, dict(flip=1, crop=1, erasing=2)),  # flip, crop, TrivialAugment, Cutout: TA's CIFAR pipeline
            (ra, dict(flip=1, crop=1)),             # RandAugment on the standard base (Cubuk et al. 2020)
            (ra, dict(flip=1, crop=1, erasing=2)),  # + Cutout, RandAugment's CIFAR pipeline
            (ra, dict(erasing=1)),                  # + random erasing 1/4 (timm's rand-m9 recipe, re_prob 0.25)
            (ra, dict(cutmix=2)),                   # + CutMix on half the batch (Yun et al. 2019)
        ]
        out: list[Policy] = []
        for args, base in points:
            policy = self.to_policy(self._trivial_point(*args, **base))
            if policy not in out and policy not in (self.trivialaugment(), self.randaugment()):
                out.append(policy)
        return out

    def starts(self, given: Sequence[Policy] | str | None = None) -> list[Policy]:
        """A search's starts (config `starts`): the published recipes (None), deepaug's starts before
        them (PILOT_STARTS), or `given`, each a point of this space, else InputError naming it."""
        if given is None or given == PILOT_STARTS:
            return self.starting_policies(pilot=given == PILOT_STARTS)
        for i, policy in enumerate(given):
            try:
                same = self.to_policy(self.to_point(policy)) == policy
                why = "it encodes to another point (a magnitude or base value off this space's grid)"
            except InputError as exc:
                same, why = False, str(exc)
            if not same:
                raise InputError(f"starts[{i}] is not a point of the distribution search space: {why}. "
                                 "Give distribution policies of this space (e.g. a finished trial's policy, or "
                                 "DistributionSpace(...).to_policy(point)), or leave starts out for the published "
                                 "recipes")
        return list(given)


PILOT_STARTS = "pilot"  # config `starts` of experiments stored before the starts were published recipes
# deepaug's starts before they were published recipes, for experiments stored with them (`pilot`)
_PILOT_STARTS = [((1, 1.0, 1.0), dict(flip=1, crop=1)), ((1, 1.0, 1.0), dict(cutmix=2)),
                 ((1, 0.5, 1.0), dict(cutmix=2)), ((1, 0.3, 1.0), dict(cutmix=2)), ((1, 1.0, 1.0), dict(erasing=1)),
                 ((RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0), dict(cutmix=2)),
                 ((RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0), dict(erasing=1)), ((1, 1.0, 1.0), dict(erasing=2)),
                 ((RANDAUGMENT_N, RANDAUGMENT_MAGNITUDE, 0.0), dict(flip=1, crop=1)),
                 ((1, 0.5, 1.0), dict(flip=1, crop=1, erasing=1)), ((2, 1.0, 1.0), {}),
                 ((1, 0.6, 0.5), dict(crop=1, erasing=2))]


def _unit(value: Any) -> float:
    """Clip tiny float excursions an optimizer may produce back into [0, 1]."""
    return float(min(1.0, max(0.0, float(value))))
