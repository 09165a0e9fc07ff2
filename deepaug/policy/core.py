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
    (and, only where used, "cutmix", "mixup" and "magnitude_std": files without them read as 0)
    {"format_version": 2, "kind": "sub_policies", "sub_policies": [[...], ...]}

Sub-policy policies are still written as format_version 1, which every reader knows;
both versions load with `Policy.load` / `Policy.from_dict`, and both kinds apply with
`policy.apply(images, seed=...)`.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

import numpy as np
import yaml

from deepaug.errors import PolicyError
from deepaug.images import as_nhwc
from deepaug.policy.apply import Augmenter  # noqa: F401  (imported from here by the evaluation)
from deepaug.policy.apply import apply_policy, augment_nhwc, label_weights, rng_from
from deepaug.policy.distribution import Distribution
from deepaug.policy.files import YAML_SUFFIXES, is_s3, is_text, parse_json, parse_yaml, read_s3, shipped_names
from deepaug.policy.files import shipped_text, text_or_file
from deepaug.policy.limits import absurd_path, shown
from deepaug.policy.operations import Operation, SubPolicy, sub_policies_from
from deepaug.policy.timm import is_timm, read_timm
from deepaug.policy.timm import to_timm as timm_string
from deepaug.storage.atomic import atomic_write_text

FORMAT_VERSION = 1  # what sub-policy policies are written as
FORMAT_VERSION_2 = 2  # distributions (and, when read, either kind)
SUB_POLICIES, DISTRIBUTION = "sub_policies", "distribution"  # the two kinds


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
        distribution's `cutmix` or `mixup`): `apply` does the per-image steps, `apply_with_labels` all."""
        return self.distribution is not None and self.distribution.mixes_labels

    def without_mixing(self) -> "Policy":
        """This policy without its batch step (CutMix, MixUp): what `apply` does to each image."""
        if not self.mixes_labels:
            return self
        return Policy(distribution=dataclasses.replace(self.distribution, cutmix=0.0, mixup=0.0))

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
        return cls(sub_policies_from(data.get("sub_policies"), source))

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
            return cls(sub_policies_from(data.get(SUB_POLICIES), source))
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
        text, where = text_or_file(source, "{")
        return cls.from_dict(parse_json(text, where), source=where)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike) -> "Policy":
        """Load a policy file written in YAML with the same structure as the JSON format, or read
        the YAML text itself (what `to_yaml()` returns)."""
        text, where = text_or_file(source, "")
        return cls.from_dict(parse_yaml(text, where), source=where)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Policy":
        """Load a JSON or YAML policy file, by its extension (.json, .yaml, .yml; local or s3://), or
        its text, or, when no file has that name, a built-in policy or baseline by name ("reference",
        "trivialaugment") or a timm string such as "rand-m9-mstd0.5-inc1": `as_policy`, whose
        docstring has the order (an existing file wins over a name)."""
        return as_policy(path)

    # -- other libraries' forms ----------------------------------------------------
    @classmethod
    def from_timm(cls, text: str) -> "Policy":
        """The policy of a timm string: a distribution from RandAugment's ("rand-m9-mstd0.5-inc1"),
        sub-policies from AutoAugment's ("original", "v0r"); see `deepaug.policy.timm` for the
        grammar and what is refused."""
        read = read_timm(text)
        return cls(distribution=read) if isinstance(read, Distribution) else cls.from_list(read)

    def to_timm(self) -> str:
        """This policy as a timm RandAugment string; PolicyError where timm cannot express it."""
        if self.distribution is None:
            raise PolicyError("a sub-policy policy has no timm RandAugment string (timm's AutoAugment strings "
                              "only name its built-in policies); a distribution policy of RandAugment's form has")
        return timm_string(self.distribution)

    def to_albumentations(self, size: int | None = None, seed: int | None = None) -> Any:
        """Deprecated: `deepaug.adapters.albumentations.to_albumentations(policy, size=, seed=)`, which
        this calls (an ``albumentations.Compose``; pip install 'deepaug[albumentations]')."""
        warnings.warn("Policy.to_albumentations is deprecated; call "
                      "deepaug.adapters.albumentations.to_albumentations(policy, size=..., seed=...)",
                      DeprecationWarning, stacklevel=2)
        # The policy model does not import its adapters (the import-linter layers keep deepaug.policy
        # below deepaug.adapters): the adapter is reached by name at call time, across that plugin
        # boundary, as pandas reaches its plotting backends.
        adapter = importlib.import_module("deepaug.adapters.albumentations")
        return adapter.to_albumentations(self, size=size, seed=seed)

    # -- use ----------------------------------------------------------------------
    def apply(self, images: np.ndarray, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Augment a uint8 batch (N, H, W) or (N, H, W, C), or one image (H, W, C); same seed,
        same bytes (one image gives what it gives as the batch `images[None]`).

        Each image alone: a policy that `mixes_labels` needs the labels for its last step
        (CutMix, MixUp), which `apply_with_labels` does."""
        return apply_policy(self, images, seed)

    def augment_nhwc(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a validated (N, H, W, C) uint8 batch (the `Augmenter` protocol: training's hot path)."""
        return augment_nhwc(self, x, rng)

    def apply_with_labels(self, images: np.ndarray, labels: Any, num_classes: int | None = None,
                          seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Augment a labelled uint8 batch, the batch step (CutMix, MixUp) included; returns (images,
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


# ---------------------------------------------------------------- what a user may pass as a policy

PolicyLike = Union[Policy, Mapping[str, Any], str, os.PathLike]
"""What `as_policy` takes: a Policy, a policy dict, a path, a name, a timm string, the text."""

ACCEPTED = ("a Policy", "a policy dict", "a policy file path (.json, .yaml or .yml; local, or s3:// JSON)",
            "the policy's JSON or YAML text", "a built-in policy name ({names})",
            "a timm string such as rand-m9-mstd0.5-inc1 or original")


def policy_source(policy: Any) -> str | None:
    """Which kind of policy argument `policy` is, in `as_policy`'s order: "policy", "dict", "text",
    "s3", "file", "builtin" or "timm"; None for anything else."""
    if isinstance(policy, Policy):
        return "policy"
    if isinstance(policy, Mapping):
        return "dict"
    if not isinstance(policy, (str, os.PathLike)):
        return None
    if is_text(policy):
        return "text"
    if is_s3(policy):
        return "s3"
    if not absurd_path(os.fspath(policy)):  # no os call on a name no file can have
        try:
            if Path(policy).exists():
                return "file"
        except OSError:  # a path the OS refuses to look up: reading it says why, as a PolicyError
            return "file"
    if os.fspath(policy) in shipped_names():
        return "builtin"
    return "timm" if is_timm(os.fspath(policy)) else None


def as_policy(policy: PolicyLike, who: str | None = None, *, storage_options: dict[str, Any] | None = None,
              also: Sequence[str] = ()) -> Policy:
    """Whatever a user passes as a policy, as a Policy: the one place that reads a policy argument.

    Tried in this order, the first that fits wins:

    1. a Policy is itself; a mapping is the policy dict (`Policy.from_dict`);
    2. a string that spans lines or starts with "{" is the policy's text (JSON when it starts with
       "{", else YAML; no file name does either);
    3. an s3:// URI is a JSON policy file in S3 (read with `storage_options`);
    4. an existing local file is read by its extension (.yaml / .yml as YAML, anything else as JSON);
    5. a built-in policy name (`deepaug.policy.builtin.names()`: "reference", "trivialaugment", ...);
    6. a timm string ("rand-m9-mstd0.5-inc1", "original", `Policy.from_timm`).

    An existing file wins over a name: a file called `reference` in the working folder is read,
    not the built-in `reference` (as `Policy.load` and the command line both did before they
    shared this function). Anything else raises one PolicyError that lists what is accepted,
    prefixed with `who` (the caller, e.g. "PolicyTransform"); `also` names what that caller takes
    besides (training: an augmenter, or None).

    >>> as_policy("reference") == as_policy(as_policy("reference").to_json())
    True
    """
    kind = policy_source(policy)
    if kind == "policy":
        return policy
    where = f"{who} policy" if who else "policy"
    if kind == "dict":
        return Policy.from_dict(dict(policy), source=where)
    if kind == "text":
        read = Policy.from_json if policy.lstrip().startswith("{") else Policy.from_yaml
        return read(policy)
    if kind == "s3":
        data, where = read_s3(policy, storage_options)
        return Policy.from_dict(data, source=where)
    if kind == "file":
        read = Policy.from_yaml if Path(policy).suffix.lower() in YAML_SUFFIXES else Policy.from_json
        return read(policy)
    if kind == "builtin":
        return shipped(os.fspath(policy))
    if kind == "timm":
        return Policy.from_timm(os.fspath(policy))
    raise _refusal(policy, who, also)


def _refusal(policy: Any, who: str | None, also: Sequence[str]) -> PolicyError:
    """The one error for a policy argument `as_policy` cannot read: what it got, what it takes."""
    kinds = [kind.format(names=", ".join(shipped_names())) for kind in (*ACCEPTED, *also)]
    accepted = f"{', '.join(kinds[:-1])} or {kinds[-1]}"
    prefix = f"{who}: " if who else ""
    if isinstance(policy, (str, os.PathLike)):
        problem = (f"policy {shown(os.fspath(policy))} is neither an existing file nor a built-in policy nor a "
                   "timm string")
        return PolicyError(f"{prefix}{problem}; a policy must be {accepted}")
    hint = " (a search's best_policy is None until optimize() has run)" if policy is None else ""
    return PolicyError(f"{prefix}a policy must be {accepted}, got {type(policy).__name__}{hint}")


def shipped(name: str) -> Policy | None:
    """The policy file called `name` shipped in deepaug/resources (deepaug.policy.builtin lists
    them), or None when there is none."""
    text = shipped_text(name)
    if text is None:
        return None
    return Policy.from_dict(parse_json(text, f"built-in policy {name}"), source=f"built-in policy {name}")
