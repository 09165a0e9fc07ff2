"""The parts of a sub-policy policy: an Operation (an op from the registry, the probability
of applying it, a magnitude in [0, 1]) and a SubPolicy (operations applied in order), with
their file format (`deepaug.policy.core` has the Policy that holds them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from deepaug import ops
from deepaug.errors import PolicyError
from deepaug.policy.limits import MAX_OPS_PER_SUB_POLICY, MAX_SUB_POLICIES, check_count

OP_KEYS = ("op", "probability", "magnitude")


def _unit(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PolicyError(f"{what} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise PolicyError(f"{what} must be a number in [0, 1], got {value!r}")
    return value


@dataclass(frozen=True)
class Operation:
    """One op applied with `probability` at `magnitude` (both in [0, 1])."""

    name: str
    probability: float = 1.0
    magnitude: float = 0.5

    def __post_init__(self) -> None:
        ops.get(self.name)  # raises PolicyError listing the valid names
        object.__setattr__(self, "probability", _unit(self.probability, f"probability of op {self.name!r}"))
        object.__setattr__(self, "magnitude", _unit(self.magnitude, f"magnitude of op {self.name!r}"))

    @property
    def spec(self) -> ops.OpSpec:
        return ops.get(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.name, "probability": self.probability, "magnitude": self.magnitude}

    @classmethod
    def from_dict(cls, data: Any, where: str = "operation") -> "Operation":
        if not isinstance(data, dict):
            raise PolicyError(f"{where} must be an object with keys {list(OP_KEYS)}, got {data!r}")
        missing = [k for k in OP_KEYS if k not in data]
        extra = sorted(set(data) - set(OP_KEYS))
        if missing or extra:
            raise PolicyError(
                f"{where} must have exactly the keys {list(OP_KEYS)}; "
                f"missing {missing}, unexpected {extra} in {data!r}"
            )
        try:
            return cls(data["op"], data["probability"], data["magnitude"])
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.name}(p={self.probability:.2f}, m={self.magnitude:.2f})"


@dataclass(frozen=True)
class SubPolicy:
    """Operations applied in order to the images that draw this sub-policy."""

    operations: tuple[Operation, ...]

    def __post_init__(self) -> None:
        operations = tuple(self.operations)
        if not operations:
            raise PolicyError("a sub-policy needs at least one operation")
        for op in operations:
            if not isinstance(op, Operation):
                raise PolicyError(f"a sub-policy holds Operation objects, got {op!r}")
        object.__setattr__(self, "operations", operations)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    def to_list(self) -> list[dict[str, Any]]:
        return [op.to_dict() for op in self.operations]

    def __str__(self) -> str:
        return " -> ".join(str(op) for op in self.operations)


def sub_policies_from(subs: Any, source: str) -> tuple[SubPolicy, ...]:
    """The sub-policies of a policy file's 'sub_policies' list; PolicyError naming `source`."""
    if not isinstance(subs, list) or not subs:
        raise PolicyError(f"{source}: 'sub_policies' must be a non-empty list of lists of operations")
    check_count(subs, MAX_SUB_POLICIES, "sub-policies", source)
    for i, sub in enumerate(subs):  # every count first: nothing is built from an oversized policy
        check_count(sub, MAX_OPS_PER_SUB_POLICY, "operations", f"{source}: sub_policies[{i}]")
    built = []
    for i, sub in enumerate(subs):
        if not isinstance(sub, list) or not sub:
            raise PolicyError(f"{source}: sub_policies[{i}] must be a non-empty list of operations")
        built.append(SubPolicy(tuple(
            Operation.from_dict(op, f"{source}: sub_policies[{i}][{j}]") for j, op in enumerate(sub))))
    return tuple(built)
