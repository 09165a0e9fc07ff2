"""What one input image becomes: its original and its augmented variants, reproducibly.

Every random draw for an image comes from a Generator seeded by a hash of (run seed, image
key, policy or chain, variant), so an image's outputs never depend on which worker or
shard made them, on the order of work, or on how many variants are asked for (variant 3
is the same with K=3 or K=10).

Two recipes:

- policy variants: the original, then `v1` .. `vK`, each the policy applied once;
- chained ops (kaleidoscope's mode): with ops a, b, c the original, then `a`, `b`, `c`,
  `ab`, `ac`, `bc`, `abc`; each is computed from its parent (`ab` is `a` then b). Letters
  are fixed by position in the chain (a = first op) and recorded in the manifest.

>>> Chain.parse("rotate:0.3,invert").subsets()
['a', 'b', 'ab']
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from deepaug.errors import InputError, PolicyError
from deepaug.images import crop_resize
from deepaug.policy.core import Operation, Policy, augment_nhwc

MAX_CHAIN = 10  # 2^10 = 1024 outputs per image
CROPS = ("center", "random", "none")
DEFAULT_CHAIN_MAGNITUDE = 0.5


def image_rng(*parts: str) -> np.random.Generator:
    """A Generator seeded by the SHA-256 of `parts` (joined unambiguously)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "little")))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Chain:
    """Ops applied in chained subsets; op i has letter chr(ord('a') + i)."""

    operations: tuple[Operation, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.operations) <= MAX_CHAIN:
            raise InputError(f"a chain needs 1 to {MAX_CHAIN} ops (2^N outputs per image), got "
                             f"{len(self.operations)}")

    @classmethod
    def parse(cls, spec: str | Sequence[str]) -> "Chain":
        """'rotate:0.3,invert,horizontal-flip' (op[:magnitude], magnitude 0.5 by default) -> Chain."""
        parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
        operations = []
        for part in parts:
            name, _, magnitude = part.partition(":")
            try:
                value = float(magnitude) if magnitude else DEFAULT_CHAIN_MAGNITUDE
                operations.append(Operation(name.strip(), 1.0, value))
            except ValueError:
                raise InputError(f"bad chain op {part!r}: write op or op:magnitude, e.g. rotate:0.3") from None
            except PolicyError as exc:
                raise InputError(f"bad chain op {part!r}: {exc}") from None
        return cls(tuple(operations))

    @property
    def letters(self) -> str:
        return "".join(chr(ord("a") + i) for i in range(len(self.operations)))

    def subsets(self) -> list[str]:
        """Non-empty subsets as letter strings: by size, then alphabetically (a, b, ab, ...)."""
        return ["".join(c) for k in range(1, len(self.letters) + 1)
                for c in itertools.combinations(self.letters, k)]

    def to_list(self) -> list[dict[str, Any]]:
        """The recorded letter-to-op mapping."""
        return [{"letter": letter, "op": op.name, "magnitude": op.magnitude}
                for letter, op in zip(self.letters, self.operations)]


@dataclass(frozen=True)
class Recipe:
    """How each image is prepared (crop, resize) and which variants it yields."""

    policy: Policy | None = None
    chain: Chain | None = None
    variants: int = 0
    seed: int = 0
    size: int | None = None
    crop: str = "center"

    def __post_init__(self) -> None:
        if (self.policy is None) == (self.chain is None):
            raise InputError("give either a policy (its variants) or a chain of ops, not both and not neither")
        if self.chain is None and (isinstance(self.variants, bool) or not isinstance(self.variants, int)
                                   or self.variants < 0):
            raise InputError(f"variants must be a whole number >= 0, got {self.variants!r}")
        if self.chain is not None and self.variants:
            raise InputError("variants do not apply to a chain: it yields every subset of its ops")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                      or self.size < 1):
            raise InputError(f"size must be a positive number of pixels, got {self.size!r}")
        if self.crop not in CROPS:
            raise InputError(f"crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed must be an integer, got {self.seed!r}")

    @functools.cached_property
    def recipe_json(self) -> str:
        """The policy (or chain) as canonical JSON: part of every image's seed."""
        recipe = self.policy.to_dict() if self.policy else self.chain.to_list()  # type: ignore[union-attr]
        return canonical_json(recipe)

    def suffixes(self) -> list[str]:
        """Name suffixes of the augmented outputs, in output order ('' is the original)."""
        if self.chain is not None:
            return self.chain.subsets()
        return [f"v{v}" for v in range(1, self.variants + 1)]

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.to_dict() if self.policy else None,
                "chain": self.chain.to_list() if self.chain else None,
                "variants": self.variants, "seed": self.seed, "size": self.size,
                "crop": self.crop if self.size else None}

    def prepare(self, key: str, image: np.ndarray) -> np.ndarray:
        """The original as written: square-cropped (centre or seeded random) and resized when `size` is set."""
        if self.size is None:
            return image
        if self.crop != "none":
            h, w = image.shape[:2]
            side = min(h, w)
            if self.crop == "random":
                rng = image_rng(str(self.seed), key, "crop")
                top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
            else:
                top, left = (h - side) // 2, (w - side) // 2
            image = image[top:top + side, left:left + side]
        return crop_resize(image, self.size)

    def render(self, key: str, original: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """('', original), then (suffix, augmented image) for each variant; shapes as `original`."""
        yield "", original
        x = original[None, ..., None] if original.ndim == 2 else original[None]
        recipe = self.recipe_json
        if self.policy is not None:
            for suffix in self.suffixes():
                out = augment_nhwc(self.policy, x, image_rng(str(self.seed), key, recipe, suffix))
                yield suffix, out[0, ..., 0] if original.ndim == 2 else out[0]
            return
        assert self.chain is not None
        made = {"": x}
        for subset in self.chain.subsets():
            op = self.chain.operations[ord(subset[-1]) - ord("a")]
            out = op.spec.run(made[subset[:-1]], op.magnitude, image_rng(str(self.seed), key, recipe, subset))
            made[subset] = out
            yield subset, out[0, ..., 0] if original.ndim == 2 else out[0]
