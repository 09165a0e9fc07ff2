"""The search space: the only code that knows how an optimizer point encodes a Policy.

A point is a flat list with, for each sub-policy and each operation slot in order, the
op name, the magnitude, and (when probabilities are searched) the probability. Everything
outside this module speaks `Policy`.

>>> space = SearchSpace(n_sub_policies=2, ops_per_sub_policy=2, ops=("rotate", "invert"))
>>> policy = space.to_policy(space.sample(1, seed=0)[0])
>>> len(policy), len(policy.sub_policies[0])
(2, 2)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from deepaug import ops
from deepaug.errors import InputError
from deepaug.policy.core import Operation, Policy, SubPolicy

Point = list[Any]


@dataclass(frozen=True)
class SearchSpace:
    """Policies of `n_sub_policies` x `ops_per_sub_policy` operations drawn from `ops`.

    With `search_probabilities=False` every operation gets `fixed_probability`, as in
    DeepAugment (whose policies had no per-operation probability).
    """

    n_sub_policies: int = 5
    ops_per_sub_policy: int = 2
    ops: tuple[str, ...] | None = None
    search_probabilities: bool = True
    fixed_probability: float = 0.5

    def __post_init__(self) -> None:
        for key in ("n_sub_policies", "ops_per_sub_policy"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{key} must be a positive integer, got {value!r}")
        allowed = tuple(ops.searched_names()) if self.ops is None else tuple(self.ops)
        if not allowed:
            raise InputError("the search space needs at least one op; leave 'ops' unset to allow all")
        for name in allowed:
            ops.get(name)  # PolicyError naming the valid ops
        if len(set(allowed)) != len(allowed):
            raise InputError(f"ops lists an op twice: {list(allowed)}")
        if not 0.0 <= float(self.fixed_probability) <= 1.0:
            raise InputError(f"fixed_probability must be in [0, 1], got {self.fixed_probability!r}")
        object.__setattr__(self, "ops", allowed)

    @property
    def slots(self) -> int:
        return self.n_sub_policies * self.ops_per_sub_policy

    @property
    def values_per_slot(self) -> int:
        return 3 if self.search_probabilities else 2

    def dimension_names(self) -> list[str]:
        names = []
        for s in range(self.n_sub_policies):
            for o in range(self.ops_per_sub_policy):
                prefix = f"{chr(65 + s) if s < 26 else s}{o + 1}"
                names += [f"{prefix}_op", f"{prefix}_magnitude"]
                if self.search_probabilities:
                    names.append(f"{prefix}_probability")
        return names

    def skopt_dimensions(self) -> list:
        """The space as scikit-optimize dimensions (imported only here)."""
        from skopt.space import Categorical, Real  # heavy (scikit-learn); the search extra

        dims = []
        names = iter(self.dimension_names())
        for _ in range(self.slots):
            dims.append(Categorical(list(self.ops), name=next(names)))
            dims.append(Real(0.0, 1.0, name=next(names)))
            if self.search_probabilities:
                dims.append(Real(0.0, 1.0, name=next(names)))
        return dims

    def to_policy(self, point: Sequence[Any]) -> Policy:
        """Decode an optimizer point (numpy scalars allowed) into a Policy."""
        if len(point) != self.slots * self.values_per_slot:
            raise InputError(f"a point of this space has {self.slots * self.values_per_slot} values, "
                             f"got {len(point)}")
        k, subs = self.values_per_slot, []
        for s in range(self.n_sub_policies):
            operations = []
            for o in range(self.ops_per_sub_policy):
                v = point[(s * self.ops_per_sub_policy + o) * k:][:k]
                probability = _unit(v[2]) if self.search_probabilities else float(self.fixed_probability)
                operations.append(Operation(str(v[0]), probability, _unit(v[1])))
            subs.append(SubPolicy(tuple(operations)))
        return Policy(tuple(subs))

    def to_point(self, policy: Policy) -> Point:
        """Encode a Policy of this space's shape (e.g. a finished trial, for replay)."""
        if len(policy) != self.n_sub_policies or any(len(s) != self.ops_per_sub_policy for s in policy):
            raise InputError(f"policy has shape {[len(s) for s in policy]}, this space holds "
                             f"{self.n_sub_policies} sub-policies of {self.ops_per_sub_policy} operations")
        point: Point = []
        for sub in policy:
            for op in sub:
                if op.name not in self.ops:
                    raise InputError(f"op {op.name!r} is not in this search space ({list(self.ops)})")
                point += [op.name, float(op.magnitude)]
                if self.search_probabilities:
                    point.append(float(op.probability))
                elif op.probability != self.fixed_probability and op.magnitude > 0:
                    raise InputError(f"{op} does not fit a space with fixed probability {self.fixed_probability}")
        return point

    def baseline_point(self) -> Point | None:
        """A point whose policy changes no image (the no-augmentation baseline), if one exists.

        With probabilities searched: every probability 0. Otherwise every slot holds
        `identity`, or an op at magnitude 0 (the identity for ops that use a magnitude).
        """
        neutral = "identity" if "identity" in self.ops else next(
            (n for n in self.ops if ops.get(n).uses_magnitude), None)
        if neutral is None and not self.search_probabilities:
            return None
        name = neutral if neutral is not None else self.ops[0]
        slot = [name, 0.0, 0.0] if self.search_probabilities else [name, 0.0]
        return slot * self.slots

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> list[Point]:
        """n points drawn uniformly at random (what random search proposes)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        points = []
        for _ in range(n):
            point: Point = []
            for _ in range(self.slots):
                point += [self.ops[int(rng.integers(len(self.ops)))], float(rng.random())]
                if self.search_probabilities:
                    point.append(float(rng.random()))
            points.append(point)
        return points

    def to_dict(self) -> dict[str, Any]:
        return {"n_sub_policies": self.n_sub_policies, "ops_per_sub_policy": self.ops_per_sub_policy,
                "ops": list(self.ops), "search_probabilities": self.search_probabilities,
                "fixed_probability": float(self.fixed_probability)}


def _unit(value: Any) -> float:
    """Clip tiny float excursions an optimizer may produce back into [0, 1]."""
    return float(min(1.0, max(0.0, float(value))))
