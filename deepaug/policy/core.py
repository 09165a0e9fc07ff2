"""The policy model: Operation, SubPolicy and Policy, and their file format.

A policy holds sub-policies; a sub-policy holds operations; an operation is an op name
from the registry, the probability of applying it, and a magnitude in [0, 1]. As in
AutoAugment, each image gets one sub-policy drawn at random, and each of its operations
is applied in order with its probability at its magnitude.

The file format is an interchange format read by other tools and by our own Jobs:

    {"format_version": 1,
     "sub_policies": [[{"op": "rotate", "probability": 0.7, "magnitude": 0.4},
                       {"op": "invert", "probability": 0.2, "magnitude": 0.0}], ...]}

>>> from deepaug import Policy
>>> policy = Policy.from_dict({"format_version": 1, "sub_policies": [[
...     {"op": "rotate", "probability": 0.7, "magnitude": 0.4}]]})
>>> policy.sub_policies[0].operations[0].name
'rotate'

The second kind, a *distribution* over ops (RandAugment's and TrivialAugment's form,
see `deepaug.policy.distribution`), is written as format_version 2, which can hold either kind:

    {"format_version": 2, "kind": "distribution",
     "distribution": {"ops": [{"op": "rotate", "weight": 1.0, "scale": 1.0}, ...], "n": 1,
                      "magnitude": 1.0, "spread": 1.0, "levels": 31,
                      "flip": 0.0, "crop": 0.0, "erasing": 0.0}}
    {"format_version": 2, "kind": "sub_policies", "sub_policies": [[...], ...]}

Sub-policy policies are still written as format_version 1, which every reader knows;
both versions load with `Policy.load` / `Policy.from_dict`, and both kinds apply with
`policy.apply(images, seed=...)`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from deepaug import ops
from deepaug.errors import PolicyError
from deepaug.images import as_nhwc
from deepaug.policy.distribution import Distribution
from deepaug.storage.atomic import atomic_write_text

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # what sub-policy policies are written as
FORMAT_VERSION_2 = 2  # distributions (and, when read, either kind)
SUB_POLICIES, DISTRIBUTION = "sub_policies", "distribution"  # the two kinds
_OP_KEYS = ("op", "probability", "magnitude")


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
            raise PolicyError(f"{where} must be an object with keys {list(_OP_KEYS)}, got {data!r}")
        missing = [k for k in _OP_KEYS if k not in data]
        extra = sorted(set(data) - set(_OP_KEYS))
        if missing or extra:
            raise PolicyError(
                f"{where} must have exactly the keys {list(_OP_KEYS)}; "
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


@dataclass(frozen=True)
class Policy:
    """An augmentation policy of one of two kinds.

    - sub-policies (AutoAugment's kind): each image gets one sub-policy, drawn uniformly;
    - a distribution (`Policy.from_distribution`): each image gets n ops drawn by weight at
      magnitudes from a range, on a flip/crop/erasing base (RandAugment's and
      TrivialAugment's kind; see `deepaug.policy.distribution`).
    """

    sub_policies: tuple[SubPolicy, ...] = ()
    distribution: Distribution | None = None

    def __post_init__(self) -> None:
        if self.distribution is not None:
            if not isinstance(self.distribution, Distribution):
                raise PolicyError(f"distribution must be a deepaug.policy.distribution.Distribution, "
                                  f"got {type(self.distribution).__name__}")
            if self.sub_policies:
                raise PolicyError("a policy holds sub-policies or a distribution, not both")
            object.__setattr__(self, "sub_policies", ())
            return
        subs = tuple(s if isinstance(s, SubPolicy) else SubPolicy(tuple(s)) for s in self.sub_policies)
        if not subs:
            raise PolicyError("a policy needs at least one sub-policy; for no augmentation "
                              "use Policy.noop() (policies/noop.json)")
        object.__setattr__(self, "sub_policies", subs)

    @property
    def kind(self) -> str:
        """"sub_policies" or "distribution"."""
        return SUB_POLICIES if self.distribution is None else DISTRIBUTION

    @property
    def changes_images(self) -> bool:
        """False when no image can change (identity ops, probability 0, an empty distribution)."""
        if self.distribution is not None:
            return self.distribution.changes_images
        return any(op.name != "identity" and op.probability > 0.0 for sub in self.sub_policies for op in sub)

    @property
    def mixes_labels(self) -> bool:
        """True when the policy mixes images and labels within a training batch (a
        distribution's `cutmix`): `apply` does the per-image steps, `apply_with_labels` all."""
        return self.distribution is not None and self.distribution.mixes_labels

    def without_mixing(self) -> "Policy":
        """This policy without its batch step (CutMix): what `apply` does to each image."""
        if not self.mixes_labels:
            return self
        return Policy(distribution=dataclasses.replace(self.distribution, cutmix=0.0))

    # -- construction -------------------------------------------------------------
    @classmethod
    def noop(cls) -> "Policy":
        """The policy that leaves every image unchanged."""
        return cls((SubPolicy((Operation("identity", 1.0, 0.0),)),))

    @classmethod
    def from_distribution(cls, distribution: Distribution | dict[str, Any]) -> "Policy":
        """A distribution policy from a Distribution or its dict form."""
        if not isinstance(distribution, Distribution):
            distribution = Distribution.from_dict(distribution)
        return cls(distribution=distribution)

    @classmethod
    def from_list(cls, subs: Sequence[Sequence[tuple[str, float, float]]]) -> "Policy":
        """Build from nested (op, probability, magnitude) tuples."""
        return cls(tuple(SubPolicy(tuple(Operation(*t) for t in sub)) for sub in subs))

    # -- interchange format -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.distribution is not None:
            return {"format_version": FORMAT_VERSION_2, "kind": DISTRIBUTION,
                    "distribution": self.distribution.to_dict()}
        return {"format_version": FORMAT_VERSION, "sub_policies": [s.to_list() for s in self.sub_policies]}

    @classmethod
    def from_dict(cls, data: Any, source: str = "policy") -> "Policy":
        if not isinstance(data, dict):
            raise PolicyError(f"{source} must be an object with 'format_version' and 'sub_policies' (or, in "
                              f"format_version 2, 'kind' and 'distribution'), got {type(data).__name__}")
        version = data.get("format_version")
        if version == FORMAT_VERSION_2:
            return cls._from_dict_v2(data, source)
        if version != FORMAT_VERSION:
            raise PolicyError(
                f"{source} has format_version {version!r}; this deepaug reads format_version "
                f"{FORMAT_VERSION} and {FORMAT_VERSION_2}. Write it as {{\"format_version\": 1, \"sub_policies\": "
                f"[[{{\"op\": ..., \"probability\": ..., \"magnitude\": ...}}, ...], ...]}} or "
                f"{{\"format_version\": 2, \"kind\": \"distribution\", \"distribution\": {{...}}}}"
            )
        extra = sorted(set(data) - {"format_version", "sub_policies"})
        if extra:
            raise PolicyError(f"{source} has unexpected keys {extra}; only 'format_version' and "
                              "'sub_policies' are allowed")
        return cls(_sub_policies(data.get("sub_policies"), source))

    @classmethod
    def _from_dict_v2(cls, data: dict[str, Any], source: str) -> "Policy":
        kind = data.get("kind")
        if kind is None and len({SUB_POLICIES, DISTRIBUTION} & set(data)) == 1:  # the kind its key says
            kind = SUB_POLICIES if SUB_POLICIES in data else DISTRIBUTION
        if kind not in (SUB_POLICIES, DISTRIBUTION):
            raise PolicyError(f"{source} (format_version 2) has kind {kind!r}; it must be {DISTRIBUTION!r} or "
                              f"{SUB_POLICIES!r}")
        extra = sorted(set(data) - {"format_version", "kind", kind})
        if extra:
            raise PolicyError(f"{source} has unexpected keys {extra}; a format_version 2 policy of kind {kind!r} "
                              f"has only 'format_version', 'kind' and {kind!r}")
        if kind == SUB_POLICIES:
            return cls(_sub_policies(data.get(SUB_POLICIES), source))
        if DISTRIBUTION not in data:
            raise PolicyError(f"{source} has kind 'distribution' but no 'distribution' object")
        return cls(distribution=Distribution.from_dict(data[DISTRIBUTION], f"{source}: distribution"))

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The policy as JSON text; written atomically to `path` when one is given."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> "Policy":
        """Load a policy file (JSON), or read the JSON text itself (what `to_json()` returns)."""
        text, where = _text_or_file(source, "{")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (json.JSONDecodeError, PolicyError) as exc:
            raise PolicyError(f"{where} is not valid JSON: {exc}") from None
        return cls.from_dict(data, source=where)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike) -> "Policy":
        """Load a policy file written in YAML with the same structure as the JSON format, or read
        the YAML text itself (what `to_yaml()` returns)."""
        import yaml

        text, where = _text_or_file(source, "")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{where} is not valid YAML: {exc}") from None
        return cls.from_dict(data, source=where)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Policy":
        """Load a JSON or YAML policy file, by its extension (.json, .yaml, .yml), or, when no file has
        that name, a built-in policy or baseline by name ("reference", "trivialaugment") or a timm
        RandAugment string such as "rand-m9-n2" (`Policy.from_timm`)."""
        from deepaug.policy.timm import is_timm  # no import cycle: timm.py imports distribution only

        name = str(path)
        if (built_in := shipped(name)) is not None and not Path(path).exists():  # a file of that name comes first
            return built_in
        if is_timm(name) and not Path(path).exists():
            return cls.from_timm(name)
        suffix = Path(path).suffix.lower()
        if suffix in (".yaml", ".yml"):
            return cls.from_yaml(path)
        return cls.from_json(path)

    # -- other libraries' forms ----------------------------------------------------
    @classmethod
    def from_timm(cls, text: str) -> "Policy":
        """A distribution policy from a timm RandAugment string ("rand-m9-n2-mstd101"); see
        `deepaug.policy.timm` for the grammar and what is refused."""
        from deepaug.policy.timm import from_timm

        return cls(distribution=from_timm(text))

    def to_timm(self) -> str:
        """This policy as a timm RandAugment string; PolicyError where timm cannot express it."""
        from deepaug.policy.timm import to_timm

        if self.distribution is None:
            raise PolicyError("a sub-policy policy has no timm RandAugment string (timm's AutoAugment strings "
                              "only name its built-in policies); a distribution policy of RandAugment's form has")
        return to_timm(self.distribution)

    def to_albumentations(self, size: int | None = None, seed: int | None = None) -> Any:
        """This policy as an ``albumentations.Compose`` of albumentations' own transforms.

        Approximate where albumentations computes an op differently (logged as a warning naming
        the ops; per-op tolerances in `deepaug.policy.albumentations`). `size` (image side in
        pixels) is needed by ops that scale with the image. The result saves with ``A.save``.
        Needs albumentations: pip install 'deepaug[albumentations]'.
        """
        from deepaug.policy.albumentations import to_albumentations  # optional dependency

        warn_per_image_only(self, "to_albumentations (an albumentations pipeline)")
        return to_albumentations(self, size=size, seed=seed)

    # -- use ----------------------------------------------------------------------
    def apply(self, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Augment a uint8 batch (N, H, W) or (N, H, W, C), or one image (H, W, C); same seed,
        same bytes (one image gives what it gives as the batch `images[None]`).

        Each image alone: a policy that `mixes_labels` needs the labels for its last step
        (CutMix), which `apply_with_labels` does."""
        return apply_policy(self, images, seed)

    def apply_with_labels(self, images: np.ndarray, labels: Any, num_classes: int | None = None,
                          seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Augment a labelled uint8 batch, the batch steps (CutMix) included; returns (images,
        float32 label weights of shape (N, num_classes)).

        `labels` are N class indices (`num_classes` defaults to the largest plus one) or
        (N, num_classes) label weights (one-hot or already mixed). The images are those `apply`
        gives with the same seed; the mixing draws from the same generator afterwards.
        """
        x, restore = as_nhwc(images)
        weights = label_weights(labels, len(x), num_classes)
        rng = rng_from(seed)
        x = augment_nhwc(self, x, rng)
        if self.mixes_labels:
            x, weights = self.distribution.mix(x, weights, rng)
        return restore(x), weights

    def __iter__(self) -> Iterator[SubPolicy]:
        return iter(self.sub_policies)

    def __len__(self) -> int:
        """The number of sub-policies (0 for a distribution)."""
        return len(self.sub_policies)

    def __bool__(self) -> bool:
        """A policy is always a policy, also a distribution (whose len() is 0)."""
        return True

    def __str__(self) -> str:
        if self.distribution is not None:
            return f"distribution: {self.distribution}"
        return "\n".join(f"{chr(65 + i) if i < 26 else i}: {s}" for i, s in enumerate(self.sub_policies))


def _sub_policies(subs: Any, source: str) -> tuple[SubPolicy, ...]:
    if not isinstance(subs, list) or not subs:
        raise PolicyError(f"{source}: 'sub_policies' must be a non-empty list of lists of operations")
    built = []
    for i, sub in enumerate(subs):
        if not isinstance(sub, list) or not sub:
            raise PolicyError(f"{source}: sub_policies[{i}] must be a non-empty list of operations")
        built.append(SubPolicy(tuple(
            Operation.from_dict(op, f"{source}: sub_policies[{i}][{j}]") for j, op in enumerate(sub))))
    return tuple(built)


def _reject_constant(name: str) -> None:
    raise PolicyError(f"{name} is not allowed in a policy file (probabilities and magnitudes are in [0, 1])")


def shipped(name: str) -> Policy | None:
    """The policy file called `name` shipped in deepaug/resources (deepaug.policy.builtin lists
    them), or None when there is none."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        return None
    resource = resources.files("deepaug.resources") / f"{name}.json"
    if not resource.is_file():
        return None
    with resources.as_file(resource) as path:
        return Policy.from_json(path)


def _text_or_file(source: str | os.PathLike, opening: str) -> tuple[str, str]:
    """(text, what to call it in errors) of a policy given as a file's path or as its text: a
    string that spans lines or starts with `opening` is text (no file name does either)."""
    if isinstance(source, str) and ("\n" in source or (opening and source.lstrip().startswith(opening))):
        return source, "the policy text"
    return _read(source), f"policy file {source}"


def _read(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} cannot be read: {exc}") from None


# ---------------------------------------------------------------- applying a policy (the augmenter)
# The augmenter: a Policy over a batch of images.
#
# A distribution policy runs `Distribution.augment_nhwc` (deepaug.policy.distribution). For a
# sub-policy policy (AutoAugment's semantics), each image gets one sub-policy drawn uniformly; each of its operations is applied in
# order, independently per image with the operation's probability. Images that drew the
# same sub-policy are processed together, so each op runs once per batch, vectorized.
#
# Training also takes any `Augmenter`: an object with `augment_nhwc(x, rng)` (the
# baselines in `deepaug.policy.baselines` are), so every method shares one pipeline.

def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed, an existing Generator, or fresh entropy (None)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def warn_per_image_only(policy: Policy, where: str) -> None:
    """Log that `where`, which sees images without their labels, applies `policy` without
    its batch step (CutMix), when it has one."""
    if policy.mixes_labels:
        logger.warning("%s applies the policy's per-image steps only: its CutMix (p=%g) mixes the images and labels "
                       "of a training batch, and %s sees no labels. To train with it, map batched (images, labels) "
                       "with deepaug.policy.keras.policy_map_fn(policy, num_classes=...) or call "
                       "Policy.apply_with_labels.", where, policy.distribution.cutmix, where)


def label_weights(labels: Any, n: int, num_classes: int | None = None) -> np.ndarray:
    """(N, classes) float32 label weights from N class indices (one-hot) or from weights."""
    y = np.asarray(labels)
    if y.ndim == 2 and len(y) == n and np.issubdtype(y.dtype, np.number):
        if num_classes is not None and y.shape[1] != int(num_classes):
            raise PolicyError(f"labels have {y.shape[1]} columns but num_classes is {num_classes}")
        return y.astype(np.float32)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
        raise PolicyError(f"labels must be {n} non-negative class indices (one per image) or an ({n}, classes) "
                          f"array of label weights, got an array of shape {y.shape} and dtype {y.dtype}")
    classes = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if n else 1)
    if n and y.max() >= classes:
        raise PolicyError(f"label {int(y.max())} is out of range for num_classes={classes}")
    return np.eye(classes, dtype=np.float32)[y]


def apply_policy(policy: Policy, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Return a new uint8 batch of the same shape: `images` augmented by `policy`."""
    x, restore = as_nhwc(images)
    return restore(augment_nhwc(policy, x, rng_from(seed)))


def augment_nhwc(policy: Policy, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hot path on a validated (N, H, W, C) uint8 batch (either kind of policy)."""
    if policy.distribution is not None:
        return policy.distribution.augment_nhwc(x, rng)
    n = x.shape[0]
    out = x.copy()
    choice = rng.integers(len(policy.sub_policies), size=n)
    for s, sub in enumerate(policy.sub_policies):
        idx = np.flatnonzero(choice == s)
        if idx.size == 0:
            continue
        batch = out[idx]
        changed = False
        for op in sub.operations:
            hit = np.flatnonzero(rng.random(idx.size) < op.probability)
            if hit.size == 0:
                continue
            batch[hit] = op.spec.run(batch[hit], op.magnitude, rng)
            changed = True
        if changed:
            out[idx] = batch
    return out


@runtime_checkable
class Augmenter(Protocol):
    """Augments a validated (N, H, W, C) uint8 batch with an explicit Generator; returns a new batch."""

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ...


def augment_with(augmenter: Policy | Augmenter, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augment a validated (N, H, W, C) uint8 batch with a Policy or any Augmenter."""
    if isinstance(augmenter, Policy):
        return augment_nhwc(augmenter, x, rng)
    return augmenter.augment_nhwc(x, rng)
