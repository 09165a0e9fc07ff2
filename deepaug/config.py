"""The search configuration: DeepAugment's keys plus deepaug's, validated before any work.

`SearchConfig.from_user(dict_or_None)` accepts exactly the keys below; unknown keys and
bad values fail with the list of valid keys. The caller's dict is never modified and
the defaults are never mutated (each config is a new frozen object).

>>> cfg = SearchConfig.from_user({"child_epochs": 10, "seed": 3})
>>> cfg.child_epochs, cfg.train_set_size
(10, 2000)
"""
from __future__ import annotations

import logging
import re
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deepaug.errors import InputError

log = logging.getLogger(__name__)

# DeepAugment accepted a `logging` key holding the logging module; deepaug logs through
# the standard `logging` tree, so the key is accepted and ignored.
_IGNORED_KEYS = ("logging",)


_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?m?$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")
# Environment variable names that hold credentials: those go in a Secret (secret_name), never in a manifest.
_CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|API_KEY", re.I)


class KubernetesSettings(BaseModel):
    """Where and how trial Jobs run (`executor: kubernetes`); see k8s/README.md.

    `storage` is the URI the controller and the pods share (s3://bucket/prefix, or a path
    on a shared volume mounted at the same path in both: `volume_claim` names its PVC).
    Credentials reach pods only through the cluster (service account / IAM role) or the
    Secret named by `secret_name`; `env` refuses names that look like credentials.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = None  # the worker image (k8s/Dockerfile); required to run
    storage: str | None = None  # shared storage URI for specs, data and records; required to run
    namespace: str = "default"
    service_account: str | None = "deepaug-worker"
    secret_name: str | None = None  # a Secret whose keys become the pod's environment (envFrom)
    env: dict[str, str] = Field(default_factory=dict)  # plain settings such as AWS_ENDPOINT_URL
    cpu: str | int | float = "1"
    memory: str = "4Gi"
    gpus: int = Field(0, ge=0)
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    volume_claim: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    backoff_limit: int = Field(2, ge=0)  # pod retries inside one Job (crashes, evictions)
    active_deadline_seconds: int | None = Field(86400, ge=1)
    ttl_seconds_after_finished: int | None = Field(3600, ge=0)
    max_retries: int = Field(1, ge=0)  # Jobs recreated after a Job failed, each resuming the trial
    poll_seconds: float = Field(2.0, gt=0)  # one Job list call per poll; a result waits poll/2 on average
    api_retries: int = Field(5, ge=0)  # retries of an API call (connection errors, 429, 5xx)
    kubeconfig: str | None = None  # default: $KUBECONFIG, ~/.kube/config, else in-cluster
    context: str | None = None
    job_template: str | None = None  # default: the packaged k8s/trial-job.yaml

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        if isinstance(value, bool) or not _CPU.match(str(value)) or float(str(value).rstrip("m")) <= 0:
            raise ValueError("must be a CPU quantity such as 2, 1.5 or 500m")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("must be a memory quantity such as 4Gi, 512Mi or 8G")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        secret = sorted(name for name in value if _CREDENTIAL_NAME.search(name))
        if secret:
            raise ValueError(f"{secret} look like credentials; put them in a Secret and name it in "
                             "kubernetes.secret_name (or use the pod's service account / IAM role)")
        return value


class SearchConfig(BaseModel):
    """Everything a search needs to know; DeepAugment's defaults where it had them."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              protected_namespaces=())

    # DeepAugment's keys
    model: Any = "basiccnn"
    method: Literal["bayesian_optimization", "random"] = "bayesian_optimization"
    train_set_size: int = Field(2000, ge=2)
    opt_samples: int = Field(3, ge=1)
    opt_last_n_epochs: int = Field(3, ge=1)
    opt_initial_points: int = Field(10, ge=1)
    child_epochs: int = Field(50, ge=1)
    child_first_train_epochs: int = Field(0, ge=0)
    child_batch_size: int = Field(64, ge=1)
    pre_aug_weights_path: str | None = None
    notebook_path: str | None = None
    # deepaug's keys
    seed: int | None = Field(None, ge=0)
    overfit_threshold: float = Field(0.10, gt=0, le=1)
    learning_rate: float = Field(1e-3, gt=0)
    n_sub_policies: int = Field(5, ge=1)
    ops_per_sub_policy: int = Field(2, ge=1)
    ops: tuple[str, ...] | None = None
    search_probabilities: bool = True
    fixed_probability: float = Field(0.5, ge=0, le=1)
    experiment_name: str | None = None
    reports_dir: str = "reports"
    policies_dir: str = "policies"
    child_models_dir: str = "child_models"
    executor: Literal["inline", "local", "kubernetes"] = "local"
    workers: int | None = Field(None, ge=1)  # None: one local worker per core (at most 8); kubernetes: 4 Jobs
    kubernetes: KubernetesSettings | None = None  # for executor: kubernetes (k8s/README.md)
    validation_size: int | None = Field(None, ge=1)
    # the distribution search (search_space: distribution); see deepaug/study.py
    search_space: Literal["distribution", "deepaugment"] = "distribution"
    search_seeds: int = Field(1, ge=1)  # common seeds every candidate is screened on
    rungs: int = Field(2, ge=1)  # successive-halving rungs; the last one trains child_epochs
    halving_rate: int = Field(3, ge=2)  # 1 in halving_rate candidates goes on to the next rung
    finalists: int = Field(3, ge=1)  # candidates that race the controls at full training
    race_seeds: int = Field(3, ge=2)  # paired seeds of the final race (>= 2 for an interval)
    validation_images: Any = None  # your own validation set (an array, or a dataset name/path)
    validation_labels: Any = None

    @field_validator("model")
    @classmethod
    def _model(cls, value: Any) -> Any:
        if isinstance(value, str):
            from deepaug.child_models import parse_model_name

            parse_model_name(value)
            return value
        if type(value).__module__.startswith(("keras", "tf_keras", "tensorflow")) or hasattr(value, "fit"):
            return value
        raise ValueError(f"must be a model name or a keras Model, got {type(value).__name__}")

    @field_validator("ops")
    @classmethod
    def _ops(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            from deepaug import ops

            for name in value:
                ops.get(name)
        return value

    @field_validator("pre_aug_weights_path")
    @classmethod
    def _weights(cls, value: str | None) -> str | None:
        import os

        if value is not None and not os.path.isfile(value):
            raise ValueError("no such weights file; give the path of a .weights.npz file that "
                             "deepaug saved (child_models/), or leave it out")
        return value

    @field_validator("experiment_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value in (".", "..") or value.startswith(".")):
            raise ValueError("must be a plain folder name (no '/', not starting with '.')")
        return value

    @classmethod
    def keys(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def from_user(cls, config: Mapping[str, Any] | "SearchConfig" | None = None, **overrides: Any) -> "SearchConfig":
        """Validate a user's dict (never modified) into a new config, or raise InputError."""
        if isinstance(config, SearchConfig):
            data = config.model_dump()
        elif config is None:
            data = {}
        elif isinstance(config, Mapping):
            data = dict(config)
        else:
            raise InputError(f"config must be a dict, got {type(config).__name__}")
        data.update(overrides)
        for key in _IGNORED_KEYS:
            if key in data:
                data.pop(key)
                log.info("config key %r is ignored: deepaug logs through Python's logging module", key)
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise InputError(f"unknown config keys {unknown}; valid keys are: {', '.join(cls.keys())}")
        try:
            return cls(**data)
        except ValidationError as exc:
            raise InputError(f"bad config: {problems(exc)}. Valid keys are: {', '.join(cls.keys())}") from None

    def make_search_space(self, channels: int = 3) -> "SearchSpace | DistributionSpace":
        """The search space this config asks for (colour-only ops left out of a distribution
        space when `channels` is 1)."""
        if self.search_space == "distribution":
            from deepaug.distribution_space import DistributionSpace

            return DistributionSpace(self.ops, channels)
        from deepaug.search_space import SearchSpace

        return SearchSpace(self.n_sub_policies, self.ops_per_sub_policy, self.ops,
                           self.search_probabilities, self.fixed_probability)

    def training_config(self) -> "TrainingConfig":
        from deepaug.training import TrainingConfig

        return TrainingConfig(model=self.model, child_epochs=self.child_epochs,
                              child_batch_size=self.child_batch_size,
                              child_first_train_epochs=self.child_first_train_epochs,
                              opt_samples=self.opt_samples, opt_last_n_epochs=self.opt_last_n_epochs,
                              overfit_threshold=self.overfit_threshold, learning_rate=self.learning_rate,
                              child_models_dir=self.child_models_dir)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for the experiment folder (a keras model is named, not stored)."""
        data = self.model_dump()
        if not isinstance(self.model, str):
            data["model"] = f"keras:{getattr(self.model, 'name', type(self.model).__name__)}"
        data["ops"] = list(self.ops) if self.ops is not None else None
        for key in ("validation_images", "validation_labels"):  # arrays are recorded by fingerprint
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                data[key] = "array" if key == "validation_labels" else "array (see data.validation)"
        return data


def problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """A pydantic error as one line: `where: what (got value)` per problem; values under
    kubernetes.env may be secrets, so they are never shown."""
    lines = []
    for error in exc.errors():
        loc = (*prefix, *(str(p) for p in error["loc"]))
        shown = "value not shown" if loc[:2] == ("kubernetes", "env") else f"got {error.get('input')!r}"
        lines.append(f"{'.'.join(loc)}: {error['msg']} ({shown})")
    return "; ".join(lines)


# ---------------------------------------------------------------- config files (the CLI)

RUN_KEYS = {"dataset": "named dataset, .npz file (images, labels) or folder of class sub-folders",
            "data_dir": "folder holding a named dataset's files (mnist, fashion_mnist)",
            "image_size": "resize every image to this size (int or [h, w]); for files and folders",
            "square_crop": "centre-crop each image to a square before resizing",
            "iterations": "search trials to run (default 20); --iterations overrides",
            "augment": "for `deepaug run`: the augmentation run after the search (input, output, variants, ...)"}
BUILTIN_CONFIGS = ("quickstart",)


class AugmentSection(BaseModel):
    """A config file's `augment:` section: what `deepaug run` does with the winning policy.

    The keys are `deepaug augment`'s options. `input` defaults to the search's dataset (a
    named dataset's whole training split, a folder or an .npz); `output` to the folder
    `augmented` in the experiment folder; `workers` to one per core (at most 8).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str | None = None
    output: str | None = None
    variants: int = Field(4, ge=0)
    format: Literal["png", "jpeg", "tfrecord"] = "png"
    size: int | None = Field(None, ge=1)
    crop: Literal["center", "random", "none"] = "center"
    seed: int = Field(0, ge=0)
    executor: Literal["local", "kubernetes"] = "local"
    workers: int | None = Field(None, ge=1)
    queue: str | None = None
    shard_size: int = Field(100, ge=1)
    jpeg_quality: int = Field(95, ge=1, le=100)
    png_compression: int = Field(3, ge=0, le=9)
    io_threads: int = Field(8, ge=1)
    parallelism: int | None = Field(None, ge=1)  # kubernetes: pods at once
    completions: int | None = Field(None, ge=1)  # kubernetes: pods in all


class RunFile(BaseModel):
    """What a config file says beyond the search config: the data, the length of the run, the augment run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    data_dir: str | None = None
    image_size: int | tuple[int, int] | None = None
    square_crop: bool = False
    iterations: int = Field(20, ge=1)
    augment: AugmentSection | None = None


def read_config_file(path: str) -> tuple[dict[str, Any], str]:
    import json
    import os

    import yaml

    from deepaug import builtin

    if not os.path.exists(path) and path in BUILTIN_CONFIGS:
        text = builtin.text(f"{path}.yaml")
        source = f"built-in config {path!r}"
    else:
        text = builtin.read_user_file(path, "config file", "pass a YAML or JSON file, or one of the built-in "
                                      f"configs: {', '.join(BUILTIN_CONFIGS)}")
        source = f"config file {path!r}"
    try:
        data = json.loads(text) if path.lower().endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{source} does not parse ({exc}); fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a mapping of config keys, got {type(data).__name__}")
    return data, source


def load_config_file(path: str | "os.PathLike[str]", **overrides: Any) -> tuple[RunFile, SearchConfig]:
    """A YAML/JSON config file (or a built-in config name) -> (RunFile, SearchConfig).

    Keys not in either are refused with the list of valid keys; `overrides` that are not
    None replace the file's values. A config without `experiment_name` is named after
    the file, so running the same command again resumes the same experiment.
    """
    from pathlib import Path

    data, source = read_config_file(str(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    run = {k: data.pop(k) for k in list(data) if k in RUN_KEYS}
    if "dataset" not in run:
        raise InputError(f"{source} has no `dataset`: name one ({', '.join(_named())}), an .npz file with "
                         "`images` and `labels`, or a folder with one sub-folder of images per class")
    try:
        run_file = RunFile(**run)
    except ValidationError as exc:
        raise InputError(f"{source}: {problems(exc)}") from None
    data.setdefault("experiment_name", Path(str(path)).stem)
    if "model" in data and not isinstance(data["model"], str):
        raise InputError(f"{source}: model must be a model name in a config file, got {data['model']!r}")
    try:
        config = SearchConfig.from_user(data)
    except InputError as exc:
        raise InputError(f"{source}: {exc} (and in config files also: {', '.join(RUN_KEYS)})") from None
    return run_file, config


def _named() -> list[str]:
    from deepaug.datasets import NAMED

    return list(NAMED)
